/* test_stream.c: durable logs (lib/stream.h): a source over an LMDB store in a
 * mkdtemp directory publishing on ipc://, followers delivering each entry once
 * in order through losses, lost tails, restarts of either end and a follower
 * that stops acknowledging (flow control). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "stream.h"

static void *ctx;
static char dir[64];
static char ep_pub[128], ep_req[128];

static void setup(void)
{
    ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
    snprintf(dir, sizeof dir, "/tmp/dn-stream-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ep_pub, sizeof ep_pub, "ipc://%s/pub", dir);
    snprintf(ep_req, sizeof ep_req, "ipc://%s/req", dir);
}

static void teardown(void)
{
    zmq_ctx_term(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(stream, .init = setup, .fini = teardown, .timeout = 60);

/* One source (store, PUB, request PULL) and its sockets. */
typedef struct src_t {
    dn_store_t *store;
    dn_sock_t *pub, *pull;
    dn_source_t *source;
} src_t;

/* One follower (SUB, PUSH) and what it received. */
typedef struct fol_t {
    dn_sock_t *sub, *push;
    dn_follower_t *f;
    int64_t got[4096]; /* run_number per delivered offset */
    int n_got;
    int drop_from, drop_to; /* entries with offsets in [from, to) are "lost" once */
    int dropped;
    int64_t got_offset[4096]; /* offset of each delivered entry */
    int skipped;              /* refused entries skipped (DN_FOLLOW_SKIPPED) */
    uint64_t skipped_offset[16];
} fol_t;

static void src_open_opts(src_t *s, const dn_source_opts_t *opts);

static void src_open(src_t *s, int window, int min_followers)
{
    dn_source_opts_t o = {.log = "events", .service = "gen", .window = window,
                          .min_followers = min_followers, .heartbeat_ms = 20};
    src_open_opts(s, &o);
}

static void src_open_opts(src_t *s, const dn_source_opts_t *opts)
{
    dn_err_t err = {0};
    char sdir[128];
    snprintf(sdir, sizeof sdir, "%s/store", dir);
    s->store = dn_store_open(sdir, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(s->store, "%s", err.msg);
    char ep[160];
    snprintf(ep, sizeof ep, "bind:%s", ep_pub);
    s->pub = dn_sock_new(ctx, ZMQ_PUB, ep, NULL, &err);
    cr_assert_not_null(s->pub, "%s", err.msg);
    snprintf(ep, sizeof ep, "bind:%s", ep_req);
    s->pull = dn_sock_new(ctx, ZMQ_PULL, ep, NULL, &err);
    cr_assert_not_null(s->pull, "%s", err.msg);
    s->source = dn_source_new(s->store, s->pub, opts, &err);
    cr_assert_not_null(s->source, "%s", err.msg);
}

static void src_close(src_t *s)
{
    dn_source_destroy(&s->source);
    dn_sock_destroy(&s->pub);
    dn_sock_destroy(&s->pull);
    dn_store_destroy(&s->store);
}

static void fol_open_opts(fol_t *f, const char *name, int passive);

static void fol_open(fol_t *f, const char *name)
{
    fol_open_opts(f, name, 0);
}

static void fol_open_opts(fol_t *f, const char *name, int passive)
{
    dn_err_t err = {0};
    char ep[160];
    snprintf(ep, sizeof ep, "connect:%s", ep_pub);
    f->sub = dn_sock_new(ctx, ZMQ_SUB, ep, NULL, &err);
    cr_assert_not_null(f->sub, "%s", err.msg);
    snprintf(ep, sizeof ep, "connect:%s", ep_req);
    f->push = dn_sock_new(ctx, ZMQ_PUSH, ep, NULL, &err);
    cr_assert_not_null(f->push, "%s", err.msg);
    dn_follower_opts_t o = {.log = "events", .consumer = name, .ack_interval_ms = 20,
                            .passive = passive};
    f->f = dn_follower_new(f->sub, f->push, &o, &err);
    cr_assert_not_null(f->f, "%s", err.msg);
    f->drop_from = f->drop_to = -1;
}

static void fol_close(fol_t *f)
{
    dn_follower_destroy(&f->f);
    dn_sock_destroy(&f->sub);
    dn_sock_destroy(&f->push);
}

static void append_runs(src_t *s, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        double counts[4] = {i, 1, 2, 3};
        Dinamo__Histogram h = DINAMO__HISTOGRAM__INIT, *hp = &h;
        h.key = (char *)"h0";
        h.n_counts = 4;
        h.counts = counts;
        Dinamo__Run r = DINAMO__RUN__INIT;
        r.has_run_number = r.has_run_seq = 1;
        r.run_number = 1000 + i;
        r.run_seq = (uint64_t)i;
        r.n_histograms = 1;
        r.histograms = &hp;
        Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
        env.body_case = DINAMO__ENVELOPE__BODY_RUN;
        env.run = &r;
        dn_err_t err = {0};
        int rc = dn_source_append(s->source, &env, &err);
        cr_assert_eq(rc, 0, "append %d: %s", i, err.msg);
        cr_assert_eq(env.offset, (uint64_t)i);
    }
}

static void src_round(src_t *s)
{
    dn_err_t err = {0};
    Dinamo__Envelope *env = NULL;
    while (dn_sock_recv(s->pull, 0, &env, NULL, &err) == 0) {
        cr_assert_eq(dn_source_on_request(s->source, env, &err), 0, "%s", err.msg);
        dn_msg_free(&env);
    }
    cr_assert_eq(dn_source_pump(s->source, &err), 0, "%s", err.msg);
}

/* One round of a follower: take what arrived, deliver, flush. ack = 0 models
 * a follower that stopped acknowledging (but is alive). */
static void fol_round(fol_t *f, int ack)
{
    dn_err_t err = {0};
    Dinamo__Envelope *env = NULL;
    dn_recv_info_t info;
    int rrc;
    while ((rrc = dn_sock_recv(f->sub, 0, &env, &info, &err)) != DN_BUS_TIMEOUT) {
        if (rrc) {
            /* Refused by the bus: what the service loop does (node.c). */
            cr_assert(rrc != DN_EIO && rrc != DN_ENOMEM, "%s", err.msg);
            if (!info.has_offset)
                continue;
            int rc = dn_follower_refused(f->f, info.offset, &err);
            cr_assert_geq(rc, 0, "%s", err.msg);
            if (rc == DN_FOLLOW_SKIPPED) {
                cr_assert_lt(f->skipped, 16);
                f->skipped_offset[f->skipped++] = info.offset;
            }
            continue;
        }
        if (env->has_offset && (int)env->offset >= f->drop_from && (int)env->offset < f->drop_to &&
            !f->dropped) {
            /* Lose this one (once). */
            if ((int)env->offset == f->drop_to - 1)
                f->dropped = 1;
            dn_msg_free(&env);
            continue;
        }
        int rc = dn_follower_accept(f->f, env, &err);
        cr_assert_geq(rc, 0, "%s", err.msg);
        if (rc == DN_FOLLOW_DELIVER) {
            cr_assert_eq(dn_msg_type(env), DN_MSG_RUN);
            cr_assert_eq(env->offset, (uint64_t)(f->n_got + f->skipped),
                         "delivered offset %llu as entry %d (%d skipped)",
                         (unsigned long long)env->offset, f->n_got, f->skipped);
            cr_assert_lt(f->n_got, 4096);
            f->got_offset[f->n_got] = (int64_t)env->offset;
            f->got[f->n_got++] = env->run->run_number;
        }
        dn_msg_free(&env);
    }
    if (ack)
        cr_assert_eq(dn_follower_flush(f->f, &err), 0, "%s", err.msg);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs rounds until every follower got `want` entries or ~timeout. */
static void run_until(src_t *s, fol_t **fs, int nf, int want, int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 2) {
        int done = 1;
        src_round(s);
        for (int i = 0; i < nf; i++) {
            fol_round(fs[i], 1);
            done &= fs[i]->n_got >= want;
        }
        if (done)
            return;
        sleep_ms(2);
    }
}

static void check_got(const fol_t *f, int want)
{
    cr_assert_eq(f->n_got, want, "follower got %d entries, want %d", f->n_got, want);
    for (int i = 0; i < want; i++)
        cr_assert_eq(f->got[i], 1000 + i, "entry %d is run %lld", i, (long long)f->got[i]);
}

Test(stream, every_entry_once_in_order_to_two_followers)
{
    src_t s;
    fol_t a = {0}, b = {0};
    src_open(&s, 16, 2);
    fol_open(&a, "a");
    fol_open(&b, "b");
    append_runs(&s, 0, 300);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fs[] = {&a, &b};
    run_until(&s, fs, 2, 300, 10000);
    check_got(&a, 300);
    check_got(&b, 300);
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_eq(st.committed, 300);
    cr_assert_eq(st.cursor, 300);
    cr_assert_eq(st.followers, 2);
    fol_close(&a);
    fol_close(&b);
    src_close(&s);
}

Test(stream, uncommitted_entries_are_not_published)
{
    src_t s;
    fol_t a = {0};
    src_open(&s, 64, 1);
    fol_open(&a, "a");
    append_runs(&s, 0, 10);
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 1, 300);
    cr_assert_eq(a.n_got, 0, "got %d uncommitted entries", a.n_got);
    cr_assert_eq(dn_source_head(s.source), 10);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    run_until(&s, fs, 1, 10, 5000);
    check_got(&a, 10);
    fol_close(&a);
    src_close(&s);
}

Test(stream, a_silent_follower_holds_the_stream_within_the_window)
{
    src_t s;
    fol_t a = {0}, slow = {0};
    src_open(&s, 8, 2);
    fol_open(&a, "a");
    fol_open(&slow, "slow");
    append_runs(&s, 0, 100);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    /* Both register; then the slow one stops acknowledging. */
    for (int t = 0; t < 200 && (a.n_got < 1 || slow.n_got < 1); t++) {
        src_round(&s);
        fol_round(&a, 1);
        fol_round(&slow, 1);
        sleep_ms(2);
    }
    cr_assert_geq(slow.n_got, 1);
    uint64_t slow_next = dn_follower_next(slow.f);
    for (int t = 0; t < 150; t++) {
        src_round(&s);
        fol_round(&a, 1);
        fol_round(&slow, 0);
        sleep_ms(2);
    }
    dn_source_stats_t st = dn_source_stats(s.source);
    /* The source saw at most slow_next acknowledged: it cannot be further
     * than the window beyond that. */
    cr_assert_leq(st.cursor, slow_next + 8 + 8,
                  "cursor %llu ran ahead of the silent follower (acked <= %llu, window 8)",
                  (unsigned long long)st.cursor, (unsigned long long)slow_next + 8);
    cr_assert_lt(a.n_got, 100, "the fast follower got everything (%d) past the slow one",
                 a.n_got);
    cr_assert_eq(dn_source_room(s.source) <= 8, 1);
    /* The slow one resumes: everything flows. */
    fol_t *fs[] = {&a, &slow};
    run_until(&s, fs, 2, 100, 10000);
    check_got(&a, 100);
    check_got(&slow, 100);
    fol_close(&a);
    fol_close(&slow);
    src_close(&s);
}

Test(stream, lost_entries_and_a_lost_tail_are_resent)
{
    src_t s;
    fol_t a = {0}, b = {0};
    src_open(&s, 32, 2);
    fol_open(&a, "a");
    fol_open(&b, "b");
    a.drop_from = 10;
    a.drop_to = 13;  /* three lost in the middle */
    b.drop_from = 47;
    b.drop_to = 50;  /* the last three lost: only a heartbeat reveals it */
    append_runs(&s, 0, 50);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fs[] = {&a, &b};
    run_until(&s, fs, 2, 50, 10000);
    check_got(&a, 50);
    check_got(&b, 50);
    cr_assert(a.dropped && b.dropped, "the losses were not simulated");
    dn_follower_stats_t fa = dn_follower_stats(a.f), fb = dn_follower_stats(b.f);
    cr_assert_geq(fa.rewinds, 2, "a: %llu rewinds", (unsigned long long)fa.rewinds);
    cr_assert_geq(fb.rewinds, 2, "b: %llu rewinds", (unsigned long long)fb.rewinds);
    cr_assert_geq(dn_source_stats(s.source).republished, 3);
    fol_close(&a);
    fol_close(&b);
    src_close(&s);
}

Test(stream, source_restart_keeps_offsets_and_drops_uncommitted)
{
    src_t s;
    fol_t a = {0};
    src_open(&s, 16, 1);
    fol_open(&a, "a");
    append_runs(&s, 0, 40);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    append_runs(&s, 40, 5); /* never committed: lost with the source */
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 20, 5000);
    cr_assert_geq(a.n_got, 20);
    src_close(&s);
    src_open(&s, 16, 1);
    cr_assert_eq(dn_source_head(s.source), 40, "head %llu after restart",
                 (unsigned long long)dn_source_head(s.source));
    append_runs(&s, 40, 20);
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    run_until(&s, fs, 1, 60, 10000);
    check_got(&a, 60);
    Dinamo__Envelope *e = NULL;
    cr_assert_eq(dn_stream_log_read(s.store, "events", 59, &e, &err), 0, "%s", err.msg);
    cr_assert_eq(e->run->run_number, 1059);
    cr_assert_eq(e->offset, 59);
    dinamo__envelope__free_unpacked(e, NULL);
    cr_assert_eq(dn_stream_log_read(s.store, "events", 60, &e, &err), DN_ENOTFOUND);
    fol_close(&a);
    src_close(&s);
}

Test(stream, follower_restart_resumes_from_its_checkpoint)
{
    src_t s;
    fol_t a = {0};
    src_open(&s, 16, 1);
    fol_open(&a, "a");
    append_runs(&s, 0, 80);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 80, 10000);
    check_got(&a, 80);
    fol_close(&a);
    /* Restart as if the last checkpoint was at 30: entries 30.. again, once. */
    fol_t again = {0};
    fol_open(&again, "a");
    dn_follower_set_next(again.f, 30);
    again.n_got = 30;
    for (int i = 0; i < 30; i++)
        again.got[i] = 1000 + i;
    fol_t *fs2[] = {&again};
    run_until(&s, fs2, 1, 80, 10000);
    check_got(&again, 80);
    cr_assert_eq(dn_follower_stats(again.f).delivered, 50);
    fol_close(&again);
    src_close(&s);
}

Test(stream, bad_requests_are_counted_and_ignored)
{
    src_t s;
    src_open(&s, 16, 1);
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__ACK;
    c.consumer = (char *)"x";
    c.log = (char *)"other_log";
    c.has_offset = 1;
    c.offset = 5;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.producer = (char *)"x";
    env.has_seq = 1;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    dn_err_t err = {0};
    cr_assert_eq(dn_source_on_request(s.source, &env, &err), 0);
    c.kind = DINAMO__CONTROL_KIND__HEARTBEAT;
    c.log = (char *)"events";
    cr_assert_eq(dn_source_on_request(s.source, &env, &err), 0);
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_eq(st.requests_bad, 2);
    cr_assert_eq(st.followers, 0);
    /* Without followers nothing is published and room stops the producer. */
    append_runs(&s, 0, 16);
    cr_assert_eq(dn_source_room(s.source), 0);
    cr_assert_eq(dn_source_commit(s.source, &err), 0);
    cr_assert_eq(dn_source_pump(s.source, &err), 0);
    cr_assert_eq(dn_source_stats(s.source).cursor, 0);
    /* An invalid envelope is refused and takes no offset. */
    Dinamo__Run r = DINAMO__RUN__INIT; /* no run number, no histograms */
    Dinamo__Envelope bad = DINAMO__ENVELOPE__INIT;
    bad.body_case = DINAMO__ENVELOPE__BODY_RUN;
    bad.run = &r;
    cr_assert_neq(dn_source_append(s.source, &bad, &err), 0);
    cr_assert_eq(dn_source_head(s.source), 16);
    src_close(&s);
}

/* A follower started before its source says nothing until the source's PUB
 * reached it (a heartbeat): then the entries the source publishes for it are
 * not dropped for want of its subscription, so it gets them all with its one
 * initial REWIND and nothing out of order. */
Test(stream, a_follower_speaks_only_once_it_hears_its_source)
{
    fol_t a = {0};
    fol_open(&a, "a");
    for (int i = 0; i < 10; i++) {
        fol_round(&a, 1);
        sleep_ms(5);
    }
    dn_follower_stats_t fs = dn_follower_stats(a.f);
    cr_assert_eq(fs.rewinds + fs.acks, 0, "the follower sent %llu requests to no source",
                 (unsigned long long)(fs.rewinds + fs.acks));
    src_t s;
    src_open(&s, 16, 1);
    append_runs(&s, 0, 50);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fol[] = {&a};
    run_until(&s, fol, 1, 50, 10000);
    check_got(&a, 50);
    fs = dn_follower_stats(a.f);
    cr_assert_eq(fs.out_of_order, 0, "%llu entries lost at the start",
                 (unsigned long long)fs.out_of_order);
    cr_assert_eq(fs.rewinds, 1, "%llu rewinds, want the initial one",
                 (unsigned long long)fs.rewinds);
    fol_close(&a);
    src_close(&s);
}

/* dn_follower_rewind: a follower that moves back gets the entries from there
 * again, in order, and the source keeps publishing past them. */
Test(stream, a_follower_rewound_mid_stream_gets_the_entries_again)
{
    src_t s;
    fol_t a = {0};
    src_open(&s, 16, 1);
    fol_open(&a, "a");
    append_runs(&s, 0, 40);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fol[] = {&a};
    run_until(&s, fol, 1, 30, 10000);
    cr_assert_geq(a.n_got, 30);
    dn_follower_rewind(a.f, 100); /* forward: ignored */
    cr_assert_eq(dn_follower_next(a.f), (uint64_t)a.n_got);
    dn_follower_rewind(a.f, 5);
    cr_assert_eq(dn_follower_next(a.f), 5);
    a.n_got = 5; /* fol_round checks each delivery's offset against n_got */
    append_runs(&s, 40, 20);
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    run_until(&s, fol, 1, 60, 10000);
    check_got(&a, 60);
    fol_close(&a);
    src_close(&s);
}

/* A follower that died holds the stream within the window until the source's
 * follower timeout; a LEAVE for it (sent by whoever took its work over) lets
 * the others have everything at once, and the source counts it. */
Test(stream, a_leave_for_a_dead_follower_releases_the_stream)
{
    src_t s;
    fol_t a = {0}, dead = {0};
    src_open(&s, 8, 2);
    fol_open(&a, "a");
    fol_open(&dead, "dead");
    append_runs(&s, 0, 100);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    for (int t = 0; t < 200 && (a.n_got < 1 || dead.n_got < 1); t++) {
        src_round(&s);
        fol_round(&a, 1);
        fol_round(&dead, 1);
        sleep_ms(2);
    }
    cr_assert_geq(dead.n_got, 1);
    fol_close(&dead); /* gone without a word */
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 100, 300);
    cr_assert_lt(a.n_got, 100, "the dead follower did not hold the stream (got %d)", a.n_got);
    cr_assert_eq(dn_follower_leave(a.f, "dead", &err), 0, "%s", err.msg);
    run_until(&s, fs, 1, 100, 10000);
    check_got(&a, 100);
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_eq(st.left, 1);
    cr_assert_eq(st.followers, 1);
    fol_close(&a);
    src_close(&s);
}

/* ---- poison entries ------------------------------------------------------ */

/* Stores value at offset `off` of log "events" behind the source's back. */
static void plant(dn_store_t *store, uint64_t off, const void *value, size_t len)
{
    uint8_t key[8];
    for (int i = 7; i >= 0; i--, off >>= 8)
        key[i] = (uint8_t)off;
    dn_store_batch_t *b = dn_store_batch_new();
    cr_assert_not_null(b);
    dn_err_t err = {0};
    cr_assert_eq(dn_store_batch_put(b, "events", key, 8, value, len), 0);
    cr_assert_eq(dn_store_apply(store, b, &err), 0, "%s", err.msg);
    dn_store_batch_destroy(&b);
}

/* Issue 17: the 27-byte label (field number 0 in a long form at the end of
 * the body), stored in the events log by a feed before decoding refused it,
 * wedged every follower: each refused it, saw a gap, rewound, forever. Here
 * it is stored between good entries with two more kinds of poison (bytes
 * that are not protobuf at all, and an entry whose framing in the store is
 * damaged): the follower delivers the good entries, skips each poison entry
 * once by offset, and never asks for one again. */
Test(stream, a_poison_entry_in_the_log_is_skipped_once_not_rewound_to_forever)
{
    static const char hex[] = "0a017818005a14102518252001280232076d616c6c6f7279800000";
    uint8_t label[27];
    for (int i = 0; i < 27; i++)
        sscanf(hex + 2 * i, "%2hhx", &label[i]);
    src_t s;
    src_open(&s, 8, 1);
    append_runs(&s, 0, 1);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    /* offset 1: the label as a feed stored it (topic, then its bytes) */
    uint8_t e1[64];
    const char *topic = "label/good/h0";
    e1[0] = (uint8_t)strlen(topic);
    memcpy(e1 + 1, topic, strlen(topic));
    memcpy(e1 + 1 + strlen(topic), label, sizeof label);
    plant(s.store, 1, e1, 1 + strlen(topic) + sizeof label);
    /* offset 2: a topic, then bytes that are no protobuf */
    uint8_t e2[] = {3, 'r', 'u', 'n', 0xff, 0xff, 0xff, 0xff, 0x0f, 0x07, 0x13};
    plant(s.store, 2, e2, sizeof e2);
    /* offset 3: framing damaged (a topic length beyond the value) */
    uint8_t e3[] = {200, 'x'};
    plant(s.store, 3, e3, sizeof e3);
    /* The source restarts over the planted log and appends a good entry. */
    dn_source_destroy(&s.source);
    dn_source_opts_t o = {.log = "events", .service = "gen", .window = 8, .heartbeat_ms = 20};
    s.source = dn_source_new(s.store, s.pub, &o, &err);
    cr_assert_not_null(s.source, "%s", err.msg);
    cr_assert_eq(dn_source_head(s.source), 4);
    Dinamo__Envelope *tmp = NULL;
    cr_assert_neq(dn_stream_log_read(s.store, "events", 1, &tmp, &err), 0,
                  "the planted label must not validate");
    append_runs(&s, 4, 1);
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);

    fol_t a = {0};
    fol_open(&a, "a");
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 2, 10000);
    cr_assert_eq(a.n_got, 2, "delivered %d good entries, want 2 (skipped %d)", a.n_got,
                 a.skipped);
    cr_assert_eq(a.got_offset[0], 0);
    cr_assert_eq(a.got_offset[1], 4, "the good entry after the poison is offset %lld",
                 (long long)a.got_offset[1]);
    cr_assert_eq(a.got[1], 1004);
    cr_assert_eq(a.skipped, 3, "skipped %d entries, want 3", a.skipped);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(a.skipped_offset[i], (uint64_t)(i + 1));
    dn_follower_stats_t fst = dn_follower_stats(a.f);
    cr_assert_eq(fst.skipped, 3);
    cr_assert_eq(fst.next, 5);
    /* Nothing is asked for again: no rewind beyond the first request, the
     * source's cursor stays at the head, and the damaged framing went out
     * as a hole once. */
    uint64_t rewinds = fst.rewinds;
    for (int t = 0; t < 150; t++) {
        src_round(&s);
        fol_round(&a, 1);
        sleep_ms(2);
    }
    fst = dn_follower_stats(a.f);
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_eq(fst.rewinds, rewinds, "%llu rewinds after the skip, want %llu",
                 (unsigned long long)fst.rewinds, (unsigned long long)rewinds);
    cr_assert_leq(st.rewinds, 1, "the source rewound %llu times", (unsigned long long)st.rewinds);
    cr_assert_eq(st.cursor, 5);
    cr_assert_eq(st.slowest, 5, "the follower acknowledged past the poison");
    cr_assert_geq(st.damaged, 1);
    cr_assert_eq(a.n_got, 2);
    fol_close(&a);
    src_close(&s);
}

/* ---- forged requests ----------------------------------------------------- */

/* An ACK or REWIND from `name` at `offset`, as anyone reaching the request
 * port can send it. */
static void forge_opts(src_t *s, int kind, const char *name, uint64_t offset, int passive);

static void forge(src_t *s, int kind, const char *name, uint64_t offset)
{
    forge_opts(s, kind, name, offset, 0);
}

static void forge_opts(src_t *s, int kind, const char *name, uint64_t offset, int passive)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = 1;
    c.kind = kind;
    c.consumer = (char *)name;
    c.log = (char *)"events";
    c.has_offset = 1;
    c.offset = offset;
    c.has_passive = passive;
    c.passive = passive;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.producer = (char *)name;
    env.has_seq = 1;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    dn_err_t err = {0};
    cr_assert_eq(dn_source_on_request(s->source, &env, &err), 0, "%s", err.msg);
}

/* Issue 17: 20k forged ACKs each added a follower to the feed's table. The
 * table stays at its cap, the real follower keeps its slot and gets
 * everything. */
Test(stream, twenty_thousand_forged_follower_names_keep_the_table_at_its_cap)
{
    src_t s;
    src_open(&s, 8, 1);
    fol_t a = {0};
    fol_open(&a, "a");
    append_runs(&s, 0, 50);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 10, 10000);
    for (int i = 0; i < 20000; i++) {
        char name[32];
        snprintf(name, sizeof name, "forged%d", i);
        forge(&s, DINAMO__CONTROL_KIND__ACK, name, 0);
        if (i % 500 == 0)
            src_round(&s), fol_round(&a, 1);
    }
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_leq(st.tracked, DN_SOURCE_FOLLOWERS_MAX, "%d followers tracked", st.tracked);
    cr_assert_geq(st.followers_evicted, 20000 - DN_SOURCE_FOLLOWERS_MAX);
    cr_assert_eq(st.followers, 1, "%d followers hold the stream, want the real one",
                 st.followers);
    run_until(&s, fs, 1, 50, 10000);
    check_got(&a, 50);
    fol_close(&a);
    src_close(&s);
}

/* Issue 17: a forged ACK at offset 0, resent within the follower timeout,
 * held the producer's window back for good. A name that never progressed
 * holds nothing; one that progressed once and then repeats its ACK holds the
 * stream for at most the follower timeout. */
Test(stream, a_forged_ack_resent_cannot_hold_the_window_beyond_the_timeout)
{
    src_t s;
    dn_source_opts_t o = {.log = "events", .service = "gen", .window = 8, .heartbeat_ms = 20,
                          .follower_timeout_ms = 400};
    src_open_opts(&s, &o);
    fol_t a = {0};
    fol_open(&a, "a");
    append_runs(&s, 0, 200);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 20, 10000);
    /* "x" never progressed: it holds nothing, the stream flows at once. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int t = 0; t < 5000 && a.n_got < 100; t++) {
        forge(&s, DINAMO__CONTROL_KIND__ACK, "x", 0);
        src_round(&s);
        fol_round(&a, 1);
        sleep_ms(2);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_assert_geq(a.n_got, 100, "got %d entries in %.2f s", a.n_got, dt);
    cr_assert_lt(dt, 0.4, "the forged ACK held the stream %.2f s (timeout 0.4 s)", dt);
    /* "y" progressed once (0 -> 1) and then repeats ACK 1: it holds the
     * window for at most the timeout, then the stream flows again. */
    forge(&s, DINAMO__CONTROL_KIND__ACK, "y", 0);
    forge(&s, DINAMO__CONTROL_KIND__ACK, "y", 1);
    int held_rounds = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int t = 0; t < 5000 && a.n_got < 200; t++) {
        forge(&s, DINAMO__CONTROL_KIND__ACK, "y", 1);
        src_round(&s);
        fol_round(&a, 1);
        held_rounds += dn_source_stats(s.source).slowest == 1;
        sleep_ms(2);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_assert_eq(a.n_got, 200, "got %d entries in %.2f s", a.n_got, dt);
    cr_assert_gt(held_rounds, 0, "a follower that progressed holds the stream for a while");
    cr_assert_lt(dt, 0.4 + 1.5, "the forged ACK held the stream %.2f s (timeout 0.4 s)", dt);
    check_got(&a, 200);
    fol_close(&a);
    src_close(&s);
}

/* With a list of required followers only they hold the stream: an unlisted
 * name that stops acknowledging holds nothing, a listed one that does holds
 * it within the window. */
Test(stream, only_required_followers_hold_the_stream_when_a_list_is_given)
{
    src_t s;
    const char *required[] = {"a", NULL};
    dn_source_opts_t o = {.log = "events", .service = "gen", .window = 8, .heartbeat_ms = 20,
                          .required = required};
    src_open_opts(&s, &o);
    fol_t a = {0};
    fol_open(&a, "a");
    append_runs(&s, 0, 100);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 10, 10000);
    for (int i = 0; i < 200; i++) { /* "b" stuck at 0, "a" goes on */
        forge(&s, DINAMO__CONTROL_KIND__ACK, "b", 0);
        src_round(&s);
        fol_round(&a, 1);
        sleep_ms(1);
    }
    run_until(&s, fs, 1, 100, 10000);
    check_got(&a, 100);
    cr_assert_eq(dn_source_stats(s.source).followers, 1);
    /* Now "a" stops acknowledging: the stream waits for it. */
    append_runs(&s, 100, 100);
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    for (int i = 0; i < 200; i++) {
        src_round(&s);
        fol_round(&a, 0);
        sleep_ms(1);
    }
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_leq(st.cursor, 100 + 8, "cursor %llu beyond the required follower's window",
                  (unsigned long long)st.cursor);
    fol_close(&a);
    src_close(&s);
}

/* A forged ACK at offset 0 from before anything was published: the name is
 * caught up then, so it holds the stream; once entries are published beyond
 * it and it never progresses, it holds it for one follower timeout, no
 * longer, however often it repeats its ACK. */
Test(stream, a_forged_ack_from_the_start_holds_the_window_one_timeout_at_most)
{
    src_t s;
    dn_source_opts_t o = {.log = "events", .service = "gen", .window = 8, .heartbeat_ms = 20,
                          .follower_timeout_ms = 400};
    src_open_opts(&s, &o);
    fol_t a = {0};
    fol_open(&a, "a");
    fol_t *fs[] = {&a};
    forge(&s, DINAMO__CONTROL_KIND__ACK, "x", 0);
    run_until(&s, fs, 1, 0, 200); /* a hears the source and registers */
    append_runs(&s, 0, 100);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    double t0 = dn_clock_mono(), held_until = t0;
    for (int t = 0; t < 5000 && a.n_got < 100; t++) {
        forge(&s, DINAMO__CONTROL_KIND__ACK, "x", 0);
        src_round(&s);
        fol_round(&a, 1);
        if (dn_source_stats(s.source).slowest == 0 && dn_source_stats(s.source).cursor >= 8)
            held_until = dn_clock_mono();
        sleep_ms(2);
    }
    double held = held_until - t0, total = dn_clock_mono() - t0;
    cr_assert_eq(a.n_got, 100, "got %d entries in %.2f s", a.n_got, total);
    cr_assert_gt(held, 0.0, "the name caught up at the start held the stream for a while");
    cr_assert_lt(held, 0.4 + 0.3, "the forged ACK held the stream %.2f s (timeout 0.4 s)", held);
    check_got(&a, 100);
    fol_close(&a);
    src_close(&s);
}

/* ---- passive followers ------------------------------------------------------ */

/* Issue 18: a dashboard follows passively. When it stops acknowledging (and
 * reading) the source goes on at the pace of its real follower, where a
 * normal follower that stops keeps it within the window; back, the passive
 * one still gets everything (by rewinds). */
Test(stream, a_passive_follower_that_stops_acking_never_slows_the_source)
{
    src_t s;
    fol_t a = {0}, dash = {0};
    src_open(&s, 8, 1);
    fol_open(&a, "a");
    fol_open_opts(&dash, "dash", 1);
    append_runs(&s, 0, 200);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    for (int t = 0; t < 2000 && (a.n_got < 1 || dash.n_got < 1); t++) {
        src_round(&s);
        fol_round(&a, 1);
        fol_round(&dash, 1);
        sleep_ms(2);
    }
    cr_assert_geq(dash.n_got, 1, "the passive follower got nothing while the stream flowed");
    int dash_had = dash.n_got;
    /* dash stops: neither reads nor acknowledges. */
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 200, 10000);
    check_got(&a, 200);
    cr_assert_eq(dash.n_got, dash_had);
    for (int t = 0; t < 20; t++) { /* a's last ACK reaches the source */
        src_round(&s);
        fol_round(&a, 1);
        sleep_ms(2);
    }
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_eq(st.followers, 1, "%d followers hold the stream, want only a", st.followers);
    cr_assert_eq(st.passive, 1, "%d passive followers heard, want dash", st.passive);
    cr_assert_eq(st.heard, 1, "heard counts %d, want a alone (passive ones left out)",
                 st.heard);
    cr_assert_eq(st.heard_slowest, 200, "heard_slowest %llu: the passive follower counted",
                 (unsigned long long)st.heard_slowest);
    /* The same with a normal follower in dash's place: it keeps the window. */
    fol_t slow = {0};
    fol_open(&slow, "slow");
    append_runs(&s, 200, 100);
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    for (int t = 0; t < 5000 && slow.n_got < 210; t++) {
        src_round(&s);
        fol_round(&a, 1);
        fol_round(&slow, 1);
        sleep_ms(2);
    }
    cr_assert_geq(slow.n_got, 210, "the new normal follower read %d entries", slow.n_got);
    uint64_t slow_next = dn_follower_next(slow.f);
    for (int t = 0; t < 150; t++) {
        src_round(&s);
        fol_round(&a, 1);
        fol_round(&slow, 0);
        sleep_ms(2);
    }
    st = dn_source_stats(s.source);
    cr_assert_leq(st.cursor, slow_next + 8 + 8,
                  "cursor %llu ran ahead of the silent normal follower (acked <= %llu, window 8)",
                  (unsigned long long)st.cursor, (unsigned long long)slow_next);
    cr_assert_lt(a.n_got, 300, "a got everything past a silent normal follower");
    /* Everyone back: the passive one catches up on all 300 too. */
    fol_t *all[] = {&a, &slow, &dash};
    run_until(&s, all, 3, 300, 20000);
    check_got(&a, 300);
    check_got(&slow, 300);
    check_got(&dash, 300);
    fol_close(&a);
    fol_close(&slow);
    fol_close(&dash);
    src_close(&s);
}

/* Passive followers do not count for min_followers: a source whose only
 * follower is passive publishes nothing (lockstep waits for real consumers);
 * the first real one opens it for both. */
Test(stream, a_passive_only_source_waits_for_a_holding_follower)
{
    src_t s;
    fol_t dash = {0}, a = {0};
    src_open(&s, 8, 1);
    fol_open_opts(&dash, "dash", 1);
    append_runs(&s, 0, 50);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fs[] = {&dash};
    run_until(&s, fs, 1, 1, 400);
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_eq(dash.n_got, 0, "a passive follower alone got %d entries", dash.n_got);
    cr_assert_eq(st.cursor, 0, "published up to %llu for a passive follower alone",
                 (unsigned long long)st.cursor);
    cr_assert_eq(st.followers, 0);
    cr_assert_eq(st.passive, 1, "the passive follower was not heard");
    cr_assert_eq(dn_source_room(s.source), 0, "room %lld with 50 entries waiting, window 8",
                 (long long)dn_source_room(s.source));
    fol_open(&a, "a");
    fol_t *both[] = {&dash, &a};
    run_until(&s, both, 2, 50, 10000);
    check_got(&a, 50);
    check_got(&dash, 50);
    fol_close(&a);
    fol_close(&dash);
    src_close(&s);
}

/* A full table takes a passive follower's slot first, even when a
 * non-holding normal follower was heard longer ago. */
Test(stream, a_full_table_gives_a_passive_slot_away_first)
{
    src_t s;
    dn_source_opts_t o = {.log = "events", .service = "gen", .window = 8, .heartbeat_ms = 20,
                          .max_followers = 3};
    src_open_opts(&s, &o);
    fol_t a = {0};
    fol_open(&a, "a");
    append_runs(&s, 0, 40);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 20, 10000);
    forge(&s, DINAMO__CONTROL_KIND__ACK, "behind", 0); /* not holding: new and behind */
    sleep_ms(5);
    forge_opts(&s, DINAMO__CONTROL_KIND__ACK, "dash", 0, 1);
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert(st.tracked == 3 && st.passive == 1 && st.heard == 2,
              "tracked %d passive %d heard %d", st.tracked, st.passive, st.heard);
    forge(&s, DINAMO__CONTROL_KIND__ACK, "newcomer", 0);
    st = dn_source_stats(s.source);
    cr_assert(st.tracked == 3 && st.passive == 0 && st.heard == 3 && st.followers_evicted == 1,
              "after a new name: tracked %d passive %d heard %d evicted %llu (want the "
              "passive slot given away, the older non-holding one kept)",
              st.tracked, st.passive, st.heard, (unsigned long long)st.followers_evicted);
    /* The real follower kept its slot and gets everything. */
    run_until(&s, fs, 1, 40, 10000);
    check_got(&a, 40);
    fol_close(&a);
    src_close(&s);
}

/* A passive follower rewinding from far back (a dashboard restarted against
 * a long log) is served beside the stream, a window per pump: the cursor the
 * real followers wait on does not move back. */
Test(stream, a_passive_rewind_from_far_back_is_served_a_window_per_pump)
{
    src_t s;
    fol_t a = {0};
    src_open(&s, 8, 1);
    fol_open(&a, "a");
    append_runs(&s, 0, 300);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    fol_t *fs[] = {&a};
    run_until(&s, fs, 1, 300, 10000);
    check_got(&a, 300);
    uint64_t before = dn_source_stats(s.source).published;
    forge_opts(&s, DINAMO__CONTROL_KIND__REWIND, "dash", 0, 1);
    cr_assert_eq(dn_source_pump(s.source, &err), 0, "%s", err.msg);
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_eq(st.published - before, 8, "one pump republished %llu entries for a passive "
                 "rewind to 0 (window 8)", (unsigned long long)(st.published - before));
    cr_assert_eq(st.cursor, 300, "a passive rewind moved the cursor back to %llu",
                 (unsigned long long)st.cursor);
    cr_assert(dn_source_backlog(s.source), "the rest waits for the next pumps");
    /* The real follower is not held back meanwhile: new entries go out at
     * the next pump, beside the replay. */
    append_runs(&s, 300, 20);
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_source_pump(s.source, &err), 0, "%s", err.msg);
    st = dn_source_stats(s.source);
    uint64_t want = st.slowest + 8 < 320 ? st.slowest + 8 : 320;
    cr_assert(st.cursor > 300 && st.cursor == want, "new entries waited for the replay "
              "(cursor %llu, a acked %llu, window 8)", (unsigned long long)st.cursor,
              (unsigned long long)st.slowest);
    run_until(&s, fs, 1, 320, 10000);
    check_got(&a, 320);
    for (int t = 0; t < 100 && dn_source_backlog(s.source); t++)
        src_round(&s);
    st = dn_source_stats(s.source);
    cr_assert(!dn_source_backlog(s.source), "the replay never ended");
    /* Up to the cursor as it moved: the passive follower behind dropped the
     * new entries too, so those are replayed for it as well, each once. */
    cr_assert_eq(st.republished, 320, "republished %llu entries, want 0 .. 319 once each",
                 (unsigned long long)st.republished);
    fol_close(&a);
    src_close(&s);
}

/* An unheld source (a log only passive followers read) publishes what it
 * commits at once, with no follower at all, and its room never runs out
 * once committed; a passive follower arriving later reads it all. */
Test(stream, an_unheld_source_publishes_at_once_and_never_runs_out_of_room)
{
    src_t s;
    dn_source_opts_t o = {.log = "events", .service = "ev", .window = 8, .heartbeat_ms = 20,
                          .unheld = 1};
    src_open_opts(&s, &o);
    dn_err_t err = {0};
    cr_assert_eq(dn_source_room(s.source), 8);
    for (int i = 0; i < 100; i += 5) {
        append_runs(&s, i, 5);
        cr_assert_eq(dn_source_room(s.source), 3, "room %lld with 5 uncommitted, window 8",
                     (long long)dn_source_room(s.source));
        cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
        cr_assert_eq(dn_source_room(s.source), 8, "room %lld after commit at %d entries",
                     (long long)dn_source_room(s.source), i + 5);
        cr_assert_eq(dn_source_pump(s.source, &err), 0, "%s", err.msg);
    }
    append_runs(&s, 100, 12);
    cr_assert_eq(dn_source_room(s.source), 0, "more than a window uncommitted");
    cr_assert_eq(dn_source_commit(s.source, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_source_pump(s.source, &err), 0, "%s", err.msg);
    dn_source_stats_t st = dn_source_stats(s.source);
    cr_assert_eq(st.cursor, 112, "published %llu of 112 with no follower",
                 (unsigned long long)st.cursor);
    fol_t dash = {0};
    fol_open_opts(&dash, "dash", 1);
    fol_t *fs[] = {&dash};
    run_until(&s, fs, 1, 112, 10000);
    check_got(&dash, 112);
    cr_assert_eq(dn_source_room(s.source), 8);
    fol_close(&dash);
    src_close(&s);
}
