/* test_events.c: the events log producer (events.h) over a real source (an
 * LMDB store in a scratch directory, a PUB socket on ipc://), its entries
 * read back from the log:
 *
 *   - runs take run_seq 0, 1, 2, ... and carry their histograms whole;
 *   - the producer's own labels carry who, source, reason, histogram key and
 *     truth; END_OF_STREAM counts every run and label, and comes once;
 *   - labels from requests: a run the stream does not hold, and an automatic
 *     label for a run the producer labelled, are dropped; others are taken
 *     with the run's run_seq, the stream's name, no truth, their own time (or
 *     now); a label the log's validation refuses is dropped, not fatal;
 *   - the checkpoint record round-trips, and refuses another fingerprint by
 *     naming both, and a truncated record;
 *   - a dataset's row of a run number, and delivered once a follower acked
 *     the whole stream. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "events.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];
static void *zctx;
static dn_store_t *store;
static dn_sock_t *pub;
static dn_source_t *source;
static dn_events_t *ev;

static void open_all(const char *fingerprint)
{
    char path[128], ep[160];
    snprintf(path, sizeof path, "%s/store", dir);
    snprintf(ep, sizeof ep, "bind:ipc://%s/events", dir);
    dn_err_t err = {0};
    cr_assert_not_null(store = dn_store_open(path, 0, 0, &err), "%s", err.msg);
    cr_assert_not_null(zctx = zmq_ctx_new());
    cr_assert_not_null(pub = dn_sock_new(zctx, ZMQ_PUB, ep, NULL, &err), "%s", err.msg);
    dn_source_opts_t so = {.log = "events", .service = "testfeed", .window = 1000};
    cr_assert_not_null(source = dn_source_new(store, pub, &so, &err), "%s", err.msg);
    dn_events_opts_t eo = {.service = "testfeed", .stream = "s1", .fingerprint = fingerprint,
                           .own_label_rule = "the test labelled it"};
    cr_assert_not_null(ev = dn_events_new(source, &eo, &err), "%s", err.msg);
}

static void close_all(void)
{
    dn_events_destroy(&ev);
    dn_source_destroy(&source);
    dn_sock_destroy(&pub);
    if (zctx)
        zmq_ctx_term(zctx);
    zctx = NULL;
    dn_store_destroy(&store);
}

static void setup(void)
{
    dn_test_tmpdir(dir, "events");
    open_all("input=a");
}

static void teardown(void)
{
    close_all();
    dn_test_rmdir(dir);
}

TestSuite(events, .init = setup, .fini = teardown, .timeout = 60);

/* Entry off of the log, committed first. Caller frees. */
static Dinamo__Envelope *entry(uint64_t off)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(source, &err), 0, "%s", err.msg);
    Dinamo__Envelope *e = NULL;
    cr_assert_eq(dn_stream_log_read(store, "events", off, &e, &err), 0, "entry %llu: %s",
                 (unsigned long long)off, err.msg);
    return e;
}

static uint64_t head(void)
{
    return dn_source_head(source);
}

static void append_run(int64_t run, int n_hist)
{
    double counts[2][3] = {{1, 2, 3}, {4, 5, 6}}, var[3] = {1, 1, 2}, edges[4] = {0, 1, 2, 4};
    dn_histin_t h[2] = {
        {.key = "a/x", .subsystem = "a", .n_bins = 3, .counts = counts[0], .edges = edges},
        {.key = "b/y", .subsystem = "", .n_bins = 3, .counts = counts[1], .variances = var},
    };
    dn_err_t err = {0};
    cr_assert_eq(dn_events_append_run(ev, run, 1000.5 + (double)run, h, n_hist, &err), 0, "%s",
                 err.msg);
}

Test(events, runs_take_run_seq_in_order_with_their_histograms)
{
    append_run(70, 2);
    append_run(72, 1);
    append_run(75, 2);
    cr_assert_eq(dn_events_stats(ev).runs, 3);
    for (uint64_t i = 0; i < 3; i++) {
        Dinamo__Envelope *e = entry(i);
        cr_assert_eq(e->body_case, DINAMO__ENVELOPE__BODY_RUN);
        cr_assert_eq(e->run->run_seq, i, "run_seq %llu at %llu",
                     (unsigned long long)e->run->run_seq, (unsigned long long)i);
        cr_assert_str_eq(e->run->stream, "s1");
        cr_assert_eq(e->run->time, 1000.5 + (double)e->run->run_number);
        dn_msg_free(&e);
    }
    Dinamo__Envelope *e = entry(0);
    cr_assert_eq(e->run->run_number, 70);
    cr_assert_eq(e->run->n_histograms, 2);
    const Dinamo__Histogram *a = e->run->histograms[0], *b = e->run->histograms[1];
    cr_assert_str_eq(a->key, "a/x");
    cr_assert_str_eq(a->subsystem, "a");
    cr_assert_eq(a->n_counts, 3);
    cr_assert_eq(a->counts[2], 3.0);
    cr_assert_eq(a->n_edges, 4);
    cr_assert_eq(a->edges[3], 4.0);
    cr_assert_eq(a->n_variances, 0, "no variances: Poisson");
    cr_assert_str_eq(b->key, "b/y");
    cr_assert_eq(b->n_variances, 3);
    cr_assert_eq(b->variances[2], 2.0);
    cr_assert_eq(b->n_edges, 0);
    dn_msg_free(&e);
}

Test(events, own_labels_and_the_end_of_stream)
{
    append_run(70, 1);
    append_run(71, 1);
    Dinamo__Truth t = DINAMO__TRUTH__INIT;
    t.has_mu = 1;
    t.mu = 0.25;
    dn_events_label_t l = {.run_number = 70, .run_seq = 0, .bad = 1,
                           .source = DINAMO__LABEL_SOURCE__GENERATOR, .histogram_key = "a/x",
                           .truth = &t};
    dn_err_t err = {0};
    cr_assert_eq(dn_events_append_label(ev, &l, &err), 0, "%s", err.msg);
    dn_events_label_t r = {.run_number = 71, .run_seq = 1,
                           .source = DINAMO__LABEL_SOURCE__RECORDED, .reason = "recorded"};
    cr_assert_eq(dn_events_append_label(ev, &r, &err), 0, "%s", err.msg);
    Dinamo__Envelope *e = entry(2);
    cr_assert_eq(e->body_case, DINAMO__ENVELOPE__BODY_LABEL);
    cr_assert_eq(e->label->verdict, DINAMO__VERDICT__BAD);
    cr_assert_eq(e->label->source, DINAMO__LABEL_SOURCE__GENERATOR);
    cr_assert_str_eq(e->label->who, "testfeed");
    cr_assert_str_eq(e->label->stream, "s1");
    cr_assert_str_eq(e->label->histogram_key, "a/x");
    cr_assert(e->label->truth && e->label->truth->mu == 0.25, "the truth is carried");
    cr_assert(e->label->has_time && e->label->time > 1e9, "appended with the time");
    dn_msg_free(&e);
    e = entry(3);
    cr_assert_eq(e->label->verdict, DINAMO__VERDICT__GOOD);
    cr_assert_eq(e->label->run_seq, 1);
    cr_assert_str_eq(e->label->reason, "recorded");
    cr_assert_null(e->label->truth);
    dn_msg_free(&e);
    cr_assert_eq(dn_events_append_eos(ev, 71, &err), 0, "%s", err.msg);
    e = entry(4);
    const Dinamo__Control *c = e->control;
    cr_assert_eq(c->kind, DINAMO__CONTROL_KIND__END_OF_STREAM);
    cr_assert_eq(c->n_runs, 2);
    cr_assert_eq(c->n_labels, 2);
    cr_assert_eq(c->final_run_number, 71);
    cr_assert_eq(c->final_run_seq, 1);
    cr_assert_str_eq(c->service, "testfeed");
    cr_assert_str_eq(c->log, "events");
    cr_assert_str_eq(c->stream, "s1");
    dn_msg_free(&e);
    cr_assert(dn_events_stats(ev).ended);
    cr_assert_eq(dn_events_append_eos(ev, 71, &err), DN_ESTATE, "a second end is refused");
    cr_assert_eq(head(), 5, "and nothing appended");
}

/* A person's label as `dinamo label` sends it (no run_seq of its own). */
static Dinamo__Label request(int64_t run, Dinamo__LabelSource from)
{
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = 1;
    l.run_number = run;
    l.verdict = DINAMO__VERDICT__BAD;
    l.source = from;
    l.who = "alice";
    l.stream = "whatever";
    return l;
}

Test(events, labels_from_requests_follow_one_rule)
{
    append_run(70, 1);
    append_run(71, 1);
    dn_err_t err = {0};
    /* a run the stream does not hold: dropped */
    Dinamo__Label l = request(99, DINAMO__LABEL_SOURCE__SHIFTER);
    dn_events_run_t none = {0};
    cr_assert_eq(dn_events_take_label(ev, &l, &none, &err), 0, "%s", err.msg);
    cr_assert_eq(head(), 2);
    /* an automatic label for a run the producer labelled: dropped */
    l = request(70, DINAMO__LABEL_SOURCE__AUTO);
    dn_events_run_t labelled = {.found = 1, .run_seq = 0, .labelled = 1};
    cr_assert_eq(dn_events_take_label(ev, &l, &labelled, &err), 0, "%s", err.msg);
    cr_assert_eq(head(), 2);
    /* a person's label for that run: taken, with its time, the stream's name,
     * the run's run_seq, and no truth */
    l = request(70, DINAMO__LABEL_SOURCE__SHIFTER);
    l.has_time = 1;
    l.time = 1234.5;
    Dinamo__Truth t = DINAMO__TRUTH__INIT;
    l.truth = &t;
    cr_assert_eq(dn_events_take_label(ev, &l, &labelled, &err), 0, "%s", err.msg);
    /* an automatic label for a run nobody labelled: taken, and given a time */
    l = request(71, DINAMO__LABEL_SOURCE__AUTO);
    dn_events_run_t open = {.found = 1, .run_seq = 1};
    cr_assert_eq(dn_events_take_label(ev, &l, &open, &err), 0, "%s", err.msg);
    cr_assert_eq(head(), 4);
    Dinamo__Envelope *e = entry(2);
    cr_assert_eq(e->label->run_seq, 0);
    cr_assert_eq(e->label->run_number, 70);
    cr_assert_str_eq(e->label->stream, "s1");
    cr_assert_str_eq(e->label->who, "alice");
    cr_assert_eq(e->label->time, 1234.5);
    cr_assert_null(e->label->truth);
    dn_msg_free(&e);
    e = entry(3);
    cr_assert_eq(e->label->run_seq, 1);
    cr_assert_eq(e->label->source, DINAMO__LABEL_SOURCE__AUTO);
    cr_assert(e->label->has_time && e->label->time > 1e9);
    dn_msg_free(&e);
    /* a label the log refuses (no verdict): dropped, the producer goes on */
    l = request(71, DINAMO__LABEL_SOURCE__SHIFTER);
    l.has_verdict = 0;
    cr_assert_eq(dn_events_take_label(ev, &l, &open, &err), 0, "%s", err.msg);
    cr_assert_eq(head(), 4);
    dn_events_stats_t st = dn_events_stats(ev);
    cr_assert_eq(st.taken, 2);
    cr_assert_eq(st.dropped, 3);
    cr_assert_eq(st.labels, 2, "taken labels count in the stream's labels");
}

Test(events, the_checkpoint_record_round_trips_and_guards_the_log)
{
    append_run(70, 1);
    dn_events_label_t l = {.run_number = 70, .source = DINAMO__LABEL_SOURCE__RECORDED};
    dn_err_t err = {0};
    cr_assert_eq(dn_events_append_label(ev, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_events_append_eos(ev, 70, &err), 0, "%s", err.msg);
    dn_wbuf_t w = {0};
    dn_events_save(ev, &w);
    cr_assert(!w.oom);
    close_all();

    open_all("input=a");
    dn_rbuf_t r = {w.p, w.len, 0, 0};
    cr_assert_eq(dn_events_load(ev, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.pos, w.len, "the whole record read");
    dn_events_stats_t st = dn_events_stats(ev);
    cr_assert(st.runs == 1 && st.labels == 1 && st.ended, "runs %llu labels %llu ended %d",
              (unsigned long long)st.runs, (unsigned long long)st.labels, st.ended);
    close_all();

    open_all("input=b");
    r = (dn_rbuf_t){w.p, w.len, 0, 0};
    cr_assert_eq(dn_events_load(ev, &r, &err), DN_EMISMATCH);
    cr_assert(strstr(err.msg, "(input: a in the log, b now)"), "%s", err.msg);
    close_all();

    /* several settings: each that differs named, one only in the log, one new */
    open_all("input=b seed=70 runs=9");
    r = (dn_rbuf_t){w.p, w.len, 0, 0};
    cr_assert_eq(dn_events_load(ev, &r, &err), DN_EMISMATCH);
    cr_assert(strstr(err.msg, "(input: a in the log, b now; seed: none in the log, 70 now; "
                              "runs: none in the log, 9 now)"), "%s", err.msg);
    close_all();
    r = (dn_rbuf_t){w.p, w.len - 3, 0, 0};

    open_all("input=a");
    cr_assert_eq(dn_events_load(ev, &r, &err), DN_EFORMAT, "a truncated record");
    cr_assert_eq(dn_events_stats(ev).runs, 0, "nothing taken from it");
    free(w.p);
}

Test(events, find_row_of_a_run_number)
{
    const int64_t runs[5] = {-3, 4, 7, 8, 100};
    uint64_t row = 99;
    for (uint64_t i = 0; i < 5; i++) {
        cr_assert(dn_events_find_row(runs, 5, runs[i], &row));
        cr_assert_eq(row, i);
    }
    cr_assert_not(dn_events_find_row(runs, 5, 5, &row));
    cr_assert_not(dn_events_find_row(runs, 5, 101, &row));
    cr_assert_not(dn_events_find_row(runs, 3, 8, &row), "a row not out yet");
    cr_assert_not(dn_events_find_row(runs, 0, -3, &row));
}

/* An ACK of follower `name` at offset next, as a follower sends it. */
static void ack(const char *name, uint64_t next)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = c.has_offset = 1;
    c.kind = DINAMO__CONTROL_KIND__ACK;
    c.offset = next;
    c.consumer = (char *)name;
    c.log = "events";
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    dn_err_t err = {0};
    cr_assert_eq(dn_source_on_request(source, &env, &err), 0, "%s", err.msg);
}

Test(events, delivered_once_every_follower_has_the_end)
{
    append_run(70, 1);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(source, &err), 0, "%s", err.msg);
    ack("f1", 0);
    cr_assert_eq(dn_source_pump(source, &err), 0, "%s", err.msg);
    ack("f1", 1);
    cr_assert_not(dn_events_delivered(ev), "no end of stream yet");
    cr_assert_eq(dn_events_append_eos(ev, 70, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_source_commit(source, &err), 0, "%s", err.msg);
    cr_assert_not(dn_events_delivered(ev), "the end is not published yet");
    cr_assert_eq(dn_source_pump(source, &err), 0, "%s", err.msg);
    cr_assert_not(dn_events_delivered(ev), "published, not acknowledged");
    ack("f1", 2);
    cr_assert(dn_events_delivered(ev));
    ack("f2", 1);
    cr_assert_not(dn_events_delivered(ev), "a second follower is behind");
}
