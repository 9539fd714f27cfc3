/* test_scorer.c: the scorer framework's state machine (lib/pipe/scorer.h)
 * with a fake method and a fake sink, no process and no ZeroMQ.
 *
 * The fake method's chi2 is 1000 x (good runs its key learned before) + the
 * histogram's total count, so every Score says how many labels were applied
 * before it: lockstep order is read off the scores. A total of 0 is
 * insufficient statistics, a first bin of 13 a refusal (REJECTED); ready is
 * "not yet" for runs at or beyond a run_seq the test moves; an optional
 * prepare step holds every run until the first `hold` runs are labelled. The
 * fake sink validates every entry (decoding it as a follower would) and has a
 * room the test sets.
 *
 * Covered: lockstep order, live mode, labels for every histogram and for one
 * key, unknown runs and duplicate labels counted, a wrong bin count REJECTED
 * with a detail, insufficient statistics and a method's refusal, ready saying
 * "not yet", the prepare step, END_OF_STREAM only after the last run's scores,
 * a full window, and a checkpoint saved into a real store and loaded into a
 * fresh scorer that then continues entry for entry like the original. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scorer.h"
#include "store.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void) { dn_test_tmpdir(dir, "scorer"); }
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(scorer, .init = setup, .fini = teardown, .timeout = 60);

/* ---- the fake method ------------------------------------------------------------ */

#define MAX_LEARNED 256
#define NOT_READY_WAIT_MS 7
#define ROWS_TABLE "fake.rows"

typedef struct fake_t {
    uint64_t ready_below;      /* runs with run_seq >= this are not ready */
    int hold;                  /* prepare: the first `hold` runs labelled (0: no wait) */
    int prepared, prepared_at; /* prepare said go, with that many runs held */
    int n_learned;             /* in all keys */
    uint64_t learned_seq[MAX_LEARNED];
    char learned_key[MAX_LEARNED][16];
    uint32_t rows;             /* what the method's table says (read back at load) */
} fake_t;

typedef struct fkey_t {
    const char *key;   /* the scorer's copy: must outlive every event */
    int n_bins;
    uint32_t n_learned;
    double learned_total;
} fkey_t;

static double total(const dn_scorer_hist_t *h)
{
    double s = 0;
    for (int b = 0; b < h->n_bins; b++)
        s += h->counts[b];
    return s;
}

static void fake_destroy(void *m) { free(m); }

static int fake_key_new(void *m, const char *key, int n_bins, int64_t run_number, void **state,
                        dn_err_t *err)
{
    (void)m;
    (void)run_number;
    fkey_t *k = calloc(1, sizeof *k);
    if (!k)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    k->key = key;
    k->n_bins = n_bins;
    *state = k;
    return 0;
}

static void fake_key_free(void *m, void *state)
{
    (void)m;
    free(state);
}

static int fake_prepare(void *self, dn_scorer_t *sc, dn_err_t *err)
{
    (void)err;
    fake_t *m = self;
    if (m->prepared)
        return 1;
    int ok = dn_scorer_end_seen(sc) || dn_scorer_held_count(sc) >= m->hold;
    for (int i = 0; ok && !dn_scorer_end_seen(sc) && i < m->hold; i++)
        ok = dn_held_labelled(dn_scorer_held_at(sc, i));
    if (!ok)
        return 0;
    m->prepared = 1;
    m->prepared_at = dn_scorer_held_count(sc);
    dn_scorer_touch(sc);
    return 1;
}

static int fake_ready(void *self, void *state, const dn_scorer_hist_t *h, int *wait_ms)
{
    (void)state;
    const fake_t *m = self;
    if (h->seq < m->ready_below)
        return 1;
    if (*wait_ms > NOT_READY_WAIT_MS)
        *wait_ms = NOT_READY_WAIT_MS;
    return 0;
}

static int fake_score(void *m, void *state, const dn_scorer_hist_t *h, dn_scorer_out_t *out,
                      dn_err_t *err)
{
    (void)m;
    const fkey_t *k = state;
    cr_assert_str_eq(k->key, h->key, "the key's name in its state is not the key's");
    cr_assert_eq(k->n_bins, h->n_bins);
    if (h->counts[0] == 13)
        return dn_err_set(err, DN_ERANGE, "thirteen in the first bin");
    double s = total(h);
    if (s == 0)
        return dn_err_set(err, DN_EEMPTY, "empty");
    out->chi2 = 1000.0 * k->n_learned + s;
    out->score->has_alpha = 1;
    out->score->alpha = 0.25;
    for (int b = 0; out->pulls && b < h->n_bins; b++) {
        out->pulls[b] = h->counts[b] - s / h->n_bins;
        out->mu[b] = 1.0 / h->n_bins;
        out->sigma[b] = 0.5;
    }
    return 0;
}

static int fake_learn(void *self, void *state, const dn_scorer_hist_t *h, dn_err_t *err)
{
    fake_t *m = self;
    fkey_t *k = state;
    if (m->n_learned == MAX_LEARNED)
        return dn_err_set(err, DN_ENOMEM, "fake: too many labels");
    cr_assert_str_eq(k->key, h->key, "the key's name in its state is not the key's");
    m->learned_seq[m->n_learned] = h->seq;
    snprintf(m->learned_key[m->n_learned], sizeof m->learned_key[0], "%s", k->key);
    m->n_learned++;
    k->n_learned++;
    k->learned_total += total(h);
    return 0;
}

static void fake_key_save(void *m, const void *state, dn_wbuf_t *w)
{
    (void)m;
    const fkey_t *k = state;
    dn_wb_u32(w, k->n_learned);
    dn_wb_f64(w, k->learned_total);
}

static int fake_key_load(void *m, const char *key, int n_bins, dn_rbuf_t *r, void **state,
                         dn_err_t *err)
{
    int rc = fake_key_new(m, key, n_bins, 0, state, err);
    if (rc)
        return rc;
    fkey_t *k = *state;
    k->n_learned = dn_rb_u32(r);
    k->learned_total = dn_rb_f64(r);
    return 0;
}

static void fake_save(void *self, dn_wbuf_t *w)
{
    const fake_t *m = self;
    dn_wb_u32(w, (uint32_t)m->prepared);
    dn_wb_u32(w, (uint32_t)m->n_learned);
}

static int fake_load(void *self, dn_scorer_t *sc, dn_store_t *store, dn_rbuf_t *r,
                     dn_err_t *err)
{
    (void)sc;
    fake_t *m = self;
    m->prepared = (int)dn_rb_u32(r);
    m->n_learned = (int)dn_rb_u32(r);
    void *val = NULL;
    size_t len = 0;
    int rc = dn_store_get(store, ROWS_TABLE, "learned", 7, &val, &len, err);
    if (rc == 0 && len == 4)
        memcpy(&m->rows, val, 4);
    free(val);
    return rc;
}

/* The method's own row: how many labels it learned, in the commit batch. */
static int fake_stage(void *self, dn_store_batch_t *batch)
{
    uint32_t n = (uint32_t)((fake_t *)self)->n_learned;
    return dn_store_batch_put(batch, ROWS_TABLE, "learned", 7, &n, 4);
}

static const dn_scorer_method_t fake_method = {
    .method = DINAMO__METHOD__METHOD_S, .waits_for = "the test",
    .destroy = fake_destroy, .key_new = fake_key_new, .key_free = fake_key_free,
    .ready = fake_ready, .score = fake_score, .learn = fake_learn, .key_save = fake_key_save,
    .key_load = fake_key_load, .save = fake_save, .load = fake_load, .stage = fake_stage,
};

static const dn_scorer_method_t fake_method_prepared = {
    .method = DINAMO__METHOD__METHOD_S,
    .destroy = fake_destroy, .key_new = fake_key_new, .key_free = fake_key_free,
    .prepare = fake_prepare, .ready = fake_ready, .score = fake_score, .learn = fake_learn,
    .key_save = fake_key_save, .key_load = fake_key_load, .save = fake_save, .load = fake_load,
};

/* ---- the fake sink -------------------------------------------------------------- */

#define MAX_ENTRIES 256

typedef struct sink_t {
    int64_t room;
    int n;
    Dinamo__Envelope *got[MAX_ENTRIES]; /* decoded: validated as a follower would */
    uint8_t *bytes[MAX_ENTRIES];        /* as encoded, for byte comparisons */
    size_t len[MAX_ENTRIES];
} sink_t;

static int64_t sink_room(void *arg) { return ((sink_t *)arg)->room; }

static int sink_append(void *arg, Dinamo__Envelope *env, dn_err_t *err)
{
    sink_t *s = arg;
    cr_assert_lt(s->n, MAX_ENTRIES, "too many entries");
    Dinamo__Envelope e = *env;
    e.producer = (char *)"test";
    e.has_seq = 1; /* seq 0 and no offset: entries of two scorers compare byte for byte */
    cr_assert_eq(dn_msg_encode_unchecked(&e, &s->bytes[s->n], &s->len[s->n]), 0);
    int rc = dn_msg_decode(s->bytes[s->n], s->len[s->n], &s->got[s->n], NULL, err);
    cr_assert_eq(rc, 0, "the scorer appended an invalid entry: %s", err->msg);
    s->n++;
    s->room--;
    return 0;
}

static void sink_free(sink_t *s)
{
    for (int i = 0; i < s->n; i++) {
        dn_msg_free(&s->got[i]);
        free(s->bytes[i]);
    }
    free(s);
}

/* ---- helpers ------------------------------------------------------------------------ */

typedef struct rig_t {
    dn_scorer_t *sc;
    sink_t *sink;
    fake_t *m;   /* the scorer's */
} rig_t;

static rig_t rig_new_with(const dn_scorer_method_t *method, int live, int pulls, int hold)
{
    rig_t r = {0};
    r.sink = calloc(1, sizeof *r.sink);
    cr_assert_not_null(r.sink);
    r.sink->room = 1000;
    fake_t *m = calloc(1, sizeof *m);
    cr_assert_not_null(m);
    m->ready_below = UINT64_MAX;
    m->hold = hold;
    void *mp = m;
    dn_scorer_opts_t o = {.name = "scorer_fake", .log = "scores_fake", .live = live,
                          .pulls = pulls};
    dn_scorer_sink_t sk = {sink_room, sink_append, r.sink};
    dn_err_t err = {0};
    r.sc = dn_scorer_new(method, &mp, &o, &sk, &err);
    cr_assert_not_null(r.sc, "%s", err.msg);
    cr_assert_null(mp, "the scorer did not take the method instance");
    r.m = dn_scorer_method_self(r.sc);
    cr_assert_eq(r.m, m);
    return r;
}

static rig_t rig_new(int live) { return rig_new_with(&fake_method, live, 1, 0); }

static void rig_free(rig_t *r)
{
    dn_scorer_destroy(&r->sc);
    cr_assert_null(r->sc);
    sink_free(r->sink);
}

typedef struct hspec_t {
    const char *key;
    int nb;
    double fill;           /* every bin, unless counts */
    const double *counts;
} hspec_t;

#define MAX_BINS 16

/* Hands env to the scorer as the events follower would. */
static void deliver(rig_t *r, const Dinamo__Envelope *env)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_scorer_event(r->sc, env, &err), 0, "%s", err.msg);
}

/* The run's keys are in a buffer overwritten once the event is handled, as
 * the loop frees an envelope: a scorer or method keeping them would show. */
static void run_in(rig_t *r, uint64_t seq, const hspec_t *hs, int n)
{
    Dinamo__Histogram h[4], *hp[4];
    double counts[4][MAX_BINS];
    char keys[4][16];
    cr_assert_leq(n, 4);
    for (int i = 0; i < n; i++) {
        dinamo__histogram__init(&h[i]);
        snprintf(keys[i], sizeof keys[i], "%s", hs[i].key);
        h[i].key = keys[i];
        h[i].n_counts = (size_t)hs[i].nb;
        for (int b = 0; b < hs[i].nb; b++)
            counts[i][b] = hs[i].counts ? hs[i].counts[b] : hs[i].fill;
        h[i].counts = counts[i];
        hp[i] = &h[i];
    }
    Dinamo__Run run = DINAMO__RUN__INIT;
    run.stream = (char *)"test";
    run.has_run_number = run.has_run_seq = 1;
    run.run_number = 100 + (int64_t)seq;
    run.run_seq = seq;
    run.n_histograms = (size_t)n;
    run.histograms = hp;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    env.run = &run;
    deliver(r, &env);
    memset(keys, '#', sizeof keys);
}

/* One histogram "a" of 4 bins, each `fill`. */
static void run_a(rig_t *r, uint64_t seq, double fill)
{
    hspec_t h = {"a", 4, fill, NULL};
    run_in(r, seq, &h, 1);
}

/* Label of run seq: key NULL for every histogram of the run. */
static void label_in(rig_t *r, uint64_t seq, const char *key, int good)
{
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.stream = (char *)"test";
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = 1;
    l.run_number = 100 + (int64_t)seq;
    l.run_seq = seq;
    l.verdict = good ? DINAMO__VERDICT__GOOD : DINAMO__VERDICT__BAD;
    l.source = DINAMO__LABEL_SOURCE__GENERATOR;
    l.histogram_key = (char *)key;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &l;
    deliver(r, &env);
}

static void eos_in(rig_t *r, uint64_t final_seq, uint64_t n_runs)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = c.has_final_run_number = c.has_final_run_seq = c.has_n_runs = 1;
    c.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    c.stream = (char *)"test";
    c.final_run_number = 100 + (int64_t)final_seq;
    c.final_run_seq = final_seq;
    c.n_runs = n_runs;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    deliver(r, &env);
}

/* One scoring pass; returns the wait it asks for (200 when it asks nothing). */
static int advance(rig_t *r)
{
    int wait = 200;
    dn_err_t err = {0};
    cr_assert_eq(dn_scorer_advance(r->sc, &wait, &err), 0, "%s", err.msg);
    return wait;
}

static const Dinamo__Score *score_at(const rig_t *r, int i)
{
    cr_assert_lt(i, r->sink->n, "entry %d of %d", i, r->sink->n);
    cr_assert_eq(dn_msg_type(r->sink->got[i]), DN_MSG_SCORE, "entry %d is no Score", i);
    return r->sink->got[i]->score;
}

/* Entry i is the OK Score of run seq, key, with chi2 want. */
static void expect_ok(const rig_t *r, int i, uint64_t seq, const char *key, double want)
{
    const Dinamo__Score *s = score_at(r, i);
    cr_assert_eq(s->run_seq, seq, "entry %d: run_seq %llu, want %llu", i,
                 (unsigned long long)s->run_seq, (unsigned long long)seq);
    cr_assert_str_eq(s->histogram_key, key, "entry %d", i);
    cr_assert_eq(s->status, DINAMO__SCORE_STATUS__OK, "entry %d: status %d", i, s->status);
    cr_assert_eq(s->chi2, want, "entry %d (run_seq %llu): chi2 %g, want %g", i,
                 (unsigned long long)seq, s->chi2, want);
}

static dn_scorer_stats_t stats(const rig_t *r) { return dn_scorer_stats(r->sc); }

/* ---- scheduling ---------------------------------------------------------------------- */

Test(scorer, lockstep_run_waits_for_the_labels_of_earlier_runs)
{
    rig_t r = rig_new(0);
    for (uint64_t i = 0; i < 3; i++)
        run_a(&r, i, 1);
    cr_assert_eq(advance(&r), 200, "nothing more can be scored at once");
    cr_assert_eq(r.sink->n, 1, "only run 0 before its label: %d scores", r.sink->n);
    expect_ok(&r, 0, 0, "a", 4);
    label_in(&r, 1, "a", 1); /* run 1's label before run 0's changes nothing */
    advance(&r);
    cr_assert_eq(r.sink->n, 1);
    label_in(&r, 0, "a", 1);
    advance(&r);
    cr_assert_eq(r.sink->n, 3, "%d scores", r.sink->n);
    expect_ok(&r, 1, 1, "a", 1004);  /* after run 0 was learned */
    expect_ok(&r, 2, 2, "a", 2004);  /* after runs 0 and 1 */
    cr_assert_eq(r.m->n_learned, 2);
    cr_assert_eq(r.m->learned_seq[0], 0);
    cr_assert_eq(r.m->learned_seq[1], 1);
    dn_scorer_stats_t st = stats(&r);
    cr_assert_eq(st.held, 1, "runs 0 and 1 are done with, run 2 awaits its label");
    cr_assert_eq(st.runs, 3);
    cr_assert_eq(st.scores_ok, 3);
    rig_free(&r);
}

Test(scorer, live_scores_at_once_and_applies_labels_as_they_come)
{
    rig_t r = rig_new(1);
    for (uint64_t i = 0; i < 3; i++)
        run_a(&r, i, 2);
    advance(&r);
    cr_assert_eq(r.sink->n, 3);
    for (int i = 0; i < 3; i++)
        expect_ok(&r, i, (uint64_t)i, "a", 8);
    label_in(&r, 2, "a", 1);
    label_in(&r, 0, "a", 1);
    cr_assert_eq(r.m->n_learned, 2, "a scored run learns its label on arrival");
    cr_assert_eq(r.m->learned_seq[0], 2);
    cr_assert_eq(r.m->learned_seq[1], 0);
    run_a(&r, 3, 2);
    advance(&r);
    expect_ok(&r, 3, 3, "a", 2008);
    cr_assert_eq(stats(&r).held, 3, "run 0 done with; runs 1..3 await labels");
    rig_free(&r);
}

Test(scorer, a_label_without_key_is_for_every_histogram_with_a_key_for_one)
{
    rig_t r = rig_new(0);
    hspec_t ab[2] = {{"a", 4, 1, NULL}, {"b", 2, 3, NULL}};
    run_in(&r, 0, ab, 2);
    run_in(&r, 1, ab, 2);
    advance(&r);
    cr_assert_eq(r.sink->n, 2, "run 0's two histograms");
    label_in(&r, 0, "a", 1);
    advance(&r);
    cr_assert_eq(r.sink->n, 2, "run 0 still lacks the label of b");
    label_in(&r, 0, NULL, 1); /* every histogram: a already has one (ignored), b gets it */
    advance(&r);
    cr_assert_eq(r.sink->n, 4);
    expect_ok(&r, 2, 1, "a", 1004);
    expect_ok(&r, 3, 1, "b", 1006);
    dn_scorer_stats_t st = stats(&r);
    cr_assert_eq(st.labels_ignored, 1, "a second label for a: %llu ignored",
                 (unsigned long long)st.labels_ignored);
    cr_assert_eq(r.m->n_learned, 2);
    cr_assert_str_eq(r.m->learned_key[0], "a");
    cr_assert_str_eq(r.m->learned_key[1], "b");
    rig_free(&r);
}

Test(scorer, unknown_runs_and_labels_and_duplicates_are_counted)
{
    rig_t r = rig_new(0);
    label_in(&r, 5, "a", 1);          /* a run not seen yet */
    run_a(&r, 0, 1);
    run_a(&r, 2, 1);                  /* not the next run_seq */
    run_a(&r, 1, 1);
    label_in(&r, 0, "zz", 1);         /* no such histogram in the run */
    label_in(&r, 0, "a", 1);
    label_in(&r, 0, "a", 0);          /* a second label */
    advance(&r);
    label_in(&r, 0, "a", 1);          /* run 0 is done with */
    dn_scorer_stats_t st = stats(&r);
    cr_assert_eq(st.labels_unknown, 2, "%llu", (unsigned long long)st.labels_unknown);
    cr_assert_eq(st.labels_ignored, 2, "%llu", (unsigned long long)st.labels_ignored);
    cr_assert_eq(st.runs_unexpected, 1);
    cr_assert_eq(st.runs, 2);
    cr_assert_eq(st.labels, 5);
    cr_assert_eq(st.next_seq, 2);
    cr_assert_eq(r.m->n_learned, 1, "the first label of run 0 only");
    cr_assert_eq(r.sink->n, 2, "runs 0 and 1 scored");
    rig_free(&r);
}

Test(scorer, a_wrong_bin_count_is_rejected_with_a_detail_and_not_learned)
{
    rig_t r = rig_new(0);
    run_a(&r, 0, 1);
    hspec_t shorter = {"a", 3, 1, NULL};
    run_in(&r, 1, &shorter, 1);
    run_a(&r, 2, 1);
    for (uint64_t i = 0; i < 3; i++)
        label_in(&r, i, "a", 1);
    advance(&r);
    cr_assert_eq(r.sink->n, 3);
    const Dinamo__Score *s = score_at(&r, 1);
    cr_assert_eq(s->status, DINAMO__SCORE_STATUS__REJECTED);
    cr_assert_str_eq(s->detail, "run 101: histogram 'a': binning changed: 3 bins, the key has "
                     "4 bins");
    cr_assert_eq(r.m->n_learned, 2, "the wrong-sized run is not learned");
    expect_ok(&r, 2, 2, "a", 1004);
    cr_assert_eq(stats(&r).scores_rejected, 1);
    rig_free(&r);
}

Test(scorer, insufficient_statistics_and_a_methods_refusal)
{
    rig_t r = rig_new(1);
    run_a(&r, 0, 0);
    double c13[4] = {13, 1, 1, 1};
    hspec_t h13 = {"a", 4, 0, c13};
    run_in(&r, 1, &h13, 1);
    run_a(&r, 2, 3);
    advance(&r);
    cr_assert_eq(r.sink->n, 3);
    const Dinamo__Score *s = score_at(&r, 0);
    cr_assert_eq(s->status, DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS);
    cr_assert(!s->has_chi2 && !s->has_score && s->n_pulls == 0);
    s = score_at(&r, 1);
    cr_assert_eq(s->status, DINAMO__SCORE_STATUS__REJECTED);
    cr_assert_str_eq(s->detail, "run 101: histogram 'a': thirteen in the first bin");
    s = score_at(&r, 2);
    expect_ok(&r, 2, 2, "a", 12);
    cr_assert_eq(s->score, log(12.0 / 4), "score %.17g", s->score);
    cr_assert(s->has_alpha && s->alpha == 0.25, "the method's own field");
    cr_assert_eq(s->n_pulls, 4);
    cr_assert_eq(s->n_reference, 4);
    cr_assert_eq(s->n_reference_uncertainty, 4);
    cr_assert_eq(s->reference[0], 0.25);
    cr_assert_eq(s->method, DINAMO__METHOD__METHOD_S);
    dn_scorer_stats_t st = stats(&r);
    cr_assert(st.scores_ok == 1 && st.scores_empty == 1 && st.scores_rejected == 1);
    rig_free(&r);

    r = rig_new_with(&fake_method, 1, 0, 0);  /* pulls off */
    run_a(&r, 0, 3);
    advance(&r);
    s = score_at(&r, 0);
    cr_assert(s->status == DINAMO__SCORE_STATUS__OK && s->n_pulls == 0 && s->n_reference == 0);
    rig_free(&r);
}

Test(scorer, a_run_not_ready_waits_and_later_runs_with_it_in_lockstep)
{
    rig_t r = rig_new(0);
    r.m->ready_below = 1;
    for (uint64_t i = 0; i < 3; i++) {
        run_a(&r, i, 1);
        label_in(&r, i, "a", 1);
    }
    cr_assert_eq(advance(&r), NOT_READY_WAIT_MS, "the method's retry hint");
    cr_assert_eq(r.sink->n, 1, "run 1 is not ready: %d scores", r.sink->n);
    cr_assert(stats(&r).waiting);
    cr_assert_eq(advance(&r), NOT_READY_WAIT_MS);
    cr_assert_eq(r.sink->n, 1, "asked again, still not ready");
    r.m->ready_below = 2;
    advance(&r);
    cr_assert_eq(r.sink->n, 2);
    cr_assert_eq(stats(&r).held, 1, "run 2 waits");
    r.m->ready_below = UINT64_MAX;
    cr_assert_eq(advance(&r), 200);
    cr_assert_eq(r.sink->n, 3);
    cr_assert(!stats(&r).waiting);
    expect_ok(&r, 1, 1, "a", 1004);
    expect_ok(&r, 2, 2, "a", 2004);
    rig_free(&r);
}

Test(scorer, the_prepare_step_holds_every_run_until_the_history_is_labelled)
{
    rig_t r = rig_new_with(&fake_method_prepared, 0, 1, 2);
    for (uint64_t i = 0; i < 3; i++)
        run_a(&r, i, 1);
    label_in(&r, 0, "a", 1);
    advance(&r);
    cr_assert_eq(r.sink->n, 0, "nothing before the first two runs are labelled");
    cr_assert(!r.m->prepared);
    label_in(&r, 1, "a", 0);
    advance(&r);
    cr_assert(r.m->prepared);
    cr_assert_eq(r.m->prepared_at, 3);
    cr_assert_eq(r.sink->n, 3, "runs 0 and 1 complete, so run 2 too: %d", r.sink->n);
    expect_ok(&r, 1, 1, "a", 1004);
    expect_ok(&r, 2, 2, "a", 1004); /* run 1 was bad */
    cr_assert(dn_scorer_dirty(r.sc));
    rig_free(&r);

    /* END_OF_STREAM before the history is complete: prepared on what there is. */
    r = rig_new_with(&fake_method_prepared, 0, 1, 5);
    run_a(&r, 0, 1);
    run_a(&r, 1, 1);
    advance(&r);
    cr_assert_eq(r.sink->n, 0);
    eos_in(&r, 1, 2);
    advance(&r);
    cr_assert(r.m->prepared && r.m->prepared_at == 2);
    cr_assert_eq(r.sink->n, 3, "two scores and END_OF_STREAM");
    rig_free(&r);
}

Test(scorer, end_of_stream_comes_after_the_last_runs_scores_once)
{
    rig_t r = rig_new(0);
    r.m->ready_below = 1;
    run_a(&r, 0, 1);
    run_a(&r, 1, 1);
    eos_in(&r, 1, 2);
    advance(&r);
    cr_assert_eq(r.sink->n, 1, "run 0 (no label needed after END_OF_STREAM), not run 1");
    cr_assert(!stats(&r).end_done);
    r.m->ready_below = UINT64_MAX;
    advance(&r);
    cr_assert_eq(r.sink->n, 3);
    expect_ok(&r, 1, 1, "a", 4);
    const Dinamo__Envelope *e = r.sink->got[2];
    cr_assert_eq(dn_msg_type(e), DN_MSG_CONTROL);
    cr_assert_eq(e->control->kind, DINAMO__CONTROL_KIND__END_OF_STREAM);
    cr_assert_str_eq(e->control->service, "scorer_fake");
    cr_assert_str_eq(e->control->log, "scores_fake");
    cr_assert_str_eq(e->control->stream, "test");
    cr_assert(e->control->final_run_seq == 1 && e->control->final_run_number == 101 &&
              e->control->n_runs == 2);
    advance(&r);
    eos_in(&r, 1, 2);
    advance(&r);
    cr_assert_eq(r.sink->n, 3, "END_OF_STREAM once");
    run_a(&r, 2, 1);
    cr_assert_eq(stats(&r).runs_unexpected, 1, "a run after END_OF_STREAM");
    dn_scorer_stats_t st = stats(&r);
    cr_assert(st.end_seen && st.end_done && st.held == 0);
    rig_free(&r);
}

Test(scorer, a_full_window_stops_scoring_until_there_is_room)
{
    rig_t r = rig_new(1);
    hspec_t ab[2] = {{"a", 4, 1, NULL}, {"b", 2, 1, NULL}};
    for (uint64_t i = 0; i < 3; i++)
        run_in(&r, i, ab, 2);
    r.sink->room = 0;
    cr_assert_eq(advance(&r), 200, "no room: nothing to do at once");
    cr_assert_eq(r.sink->n, 0);
    r.sink->room = 1;
    cr_assert_eq(advance(&r), 200);
    cr_assert_eq(r.sink->n, 2, "one run (both its histograms) per room left");
    r.sink->room = 3;
    cr_assert_eq(advance(&r), 200);
    cr_assert_eq(r.sink->n, 6);
    eos_in(&r, 2, 3);
    r.sink->room = 0;
    advance(&r);
    cr_assert_eq(r.sink->n, 6, "END_OF_STREAM waits for room too");
    r.sink->room = 1;
    advance(&r);
    cr_assert_eq(r.sink->n, 7);
    rig_free(&r);
}

/* ---- checkpoint ------------------------------------------------------------------------ */

/* Commits r's state as a service does: the body as checkpoint NAME, the held
 * runs and the method's rows, in one batch. */
static void commit(rig_t *r, dn_store_t *store)
{
    dn_store_batch_t *b = dn_store_batch_new();
    cr_assert_not_null(b);
    dn_wbuf_t w = {0};
    dn_scorer_save(r->sc, &w);
    cr_assert(!w.oom);
    cr_assert_eq(dn_store_batch_checkpoint(b, "scorer_fake", w.p, w.len, NULL), 0);
    cr_assert_eq(dn_scorer_stage(r->sc, b), 0);
    dn_err_t err = {0};
    cr_assert_eq(dn_store_apply(store, b, &err), 0, "%s", err.msg);
    dn_scorer_committed(r->sc);
    cr_assert(!dn_scorer_dirty(r->sc));
    dn_store_batch_destroy(&b);
    free(w.p);
}

/* A fresh rig loaded from the checkpoint in store: 0 or the load's code. */
static int restore(rig_t *r, dn_store_t *store, size_t cut, dn_err_t *err)
{
    void *blob = NULL;
    size_t len = 0;
    cr_assert_eq(dn_store_checkpoint_read(store, "scorer_fake", &blob, &len, NULL, err), 0);
    dn_rbuf_t rb = {blob, cut && cut < len ? cut : len, 0, 0};
    int rc = dn_scorer_load(r->sc, store, &rb, err);
    cr_assert(rc || !rb.bad, "a load that read past the end said 0");
    free(blob);
    return rc;
}

static void feed(rig_t *r, uint64_t from, uint64_t to)
{
    hspec_t ab[2] = {{"a", 4, 1, NULL}, {"b", 3, 2, NULL}};
    for (uint64_t i = from; i < to; i++) {
        ab[0].fill = 1 + (double)(i % 3);
        run_in(r, i, ab, 2);
        if (i >= 2)
            label_in(r, i - 2, i % 4 ? NULL : "a", i % 5 != 0);
        if (i >= 2 && i % 4 == 0)
            label_in(r, i - 2, "b", 1);
        advance(r);
    }
}

/* A new store in the test's directory holding the checkpoint of *a, a
 * lockstep scorer fed runs 0 .. runs - 1. */
static dn_store_t *fed_and_committed(rig_t *a, uint64_t runs)
{
    dn_err_t err = {0};
    char path[DN_TEST_TMPDIR_MAX + 16];
    snprintf(path, sizeof path, "%s/store", dir);
    dn_store_t *store = dn_store_open(path, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(store, "%s", err.msg);
    *a = rig_new(0);
    feed(a, 0, runs);
    commit(a, store);
    return store;
}

Test(scorer, a_checkpoint_loaded_into_a_fresh_scorer_continues_identically)
{
    dn_err_t err = {0};
    rig_t a;
    dn_store_t *store = fed_and_committed(&a, 9);
    dn_scorer_stats_t sa = stats(&a);
    cr_assert_gt(sa.held, 1, "the checkpoint holds runs awaiting labels");
    int n_before = a.sink->n, unscored = 0;
    for (int i = 0; i < sa.held; i++)
        unscored += !dn_scorer_held_at(a.sc, i)->scored;
    cr_assert_gt(unscored, 0, "the checkpoint holds runs not scored yet");

    rig_t b = rig_new(0);
    cr_assert_eq(restore(&b, store, 0, &err), 0, "%s", err.msg);
    dn_scorer_stats_t sb = stats(&b);
    cr_assert(sb.runs == sa.runs && sb.labels == sa.labels && sb.next_seq == sa.next_seq &&
              sb.held == sa.held && sb.keys == sa.keys);
    cr_assert_eq(b.m->n_learned, a.m->n_learned);
    cr_assert_eq(b.m->rows, (uint32_t)a.m->n_learned, "the method's row rode in the batch");

    feed(&a, 9, 20);
    feed(&b, 9, 20);
    for (uint64_t i = 18; i < 20; i++) {
        label_in(&a, i, NULL, 1);
        label_in(&b, i, NULL, 1);
    }
    eos_in(&a, 19, 20);
    eos_in(&b, 19, 20);
    advance(&a);
    advance(&b);
    cr_assert_eq(a.sink->n - n_before, b.sink->n, "%d entries after the checkpoint, the "
                 "restored scorer made %d", a.sink->n - n_before, b.sink->n);
    for (int i = 0; i < b.sink->n; i++)
        cr_assert(a.sink->len[n_before + i] == b.sink->len[i] &&
                      !memcmp(a.sink->bytes[n_before + i], b.sink->bytes[i], b.sink->len[i]),
                  "entry %d after the checkpoint differs", i);
    cr_assert_eq(dn_msg_type(b.sink->got[b.sink->n - 1]), DN_MSG_CONTROL);
    cr_assert_eq(b.sink->n, 2 * (11 + unscored) + 1,
                 "every run not scored at the checkpoint scored once, then END_OF_STREAM");
    rig_free(&a);
    rig_free(&b);
    dn_store_destroy(&store);
}

Test(scorer, a_damaged_checkpoint_is_refused_by_name)
{
    dn_err_t err = {0};
    rig_t a;
    dn_store_t *store = fed_and_committed(&a, 6);
    void *blob = NULL;
    size_t len = 0;
    cr_assert_eq(dn_store_checkpoint_read(store, "scorer_fake", &blob, &len, NULL, &err), 0);
    free(blob);
    for (size_t cut = 1; cut < len; cut++) {
        rig_t b = rig_new(0);
        dn_err_t e = {0};
        int rc = restore(&b, store, cut, &e);
        cr_assert_eq(rc, DN_EFORMAT, "body cut at %zu bytes: %d (%s)", cut, rc, e.msg);
        cr_assert(strstr(e.msg, "checkpoint scorer_fake") != NULL, "cut at %zu: '%s'", cut,
                  e.msg);
        rig_free(&b);
    }
    rig_t c = rig_new(0);
    run_a(&c, 0, 1);
    cr_assert_eq(restore(&c, store, 0, &err), DN_ESTATE, "a scorer that is not fresh");
    rig_free(&c);
    /* found by fuzz/fuzz_checkpoint.c: a stream name present while its flag
     * says there is none was read and dropped, one holding a NUL was cut
     * there (a checkpoint that does not save back as it was read); the
     * header is damaged */
    cr_assert_eq(dn_store_checkpoint_read(store, "scorer_fake", &blob, &len, NULL, &err), 0);
    const size_t at = 8 + 4 + 8 + 8; /* next_seq, flags, runs, labels: has_stream */
    cr_assert(len > at + 8 && dn_get_u32((unsigned char *)blob + at) == 0 &&
              dn_get_u32((unsigned char *)blob + at + 4) == 0, "no stream in this checkpoint");
    unsigned char *junk = malloc(len + 3);
    memcpy(junk, blob, at + 4);
    dn_put_u32(junk + at + 4, 3);
    memcpy(junk + at + 8, "abc", 3);
    memcpy(junk + at + 11, (unsigned char *)blob + at + 8, len - at - 8);
    rig_t d = rig_new(0);
    dn_rbuf_t rb = {junk, len + 3, 0, 0};
    cr_assert_eq(dn_scorer_load(d.sc, store, &rb, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "checkpoint scorer_fake: damaged header"), "%s", err.msg);
    rig_free(&d);
    /* and a stream name holding a NUL (it was cut there) */
    dn_put_u32(junk + at, 1);
    junk[at + 9] = 0;
    d = rig_new(0);
    rb = (dn_rbuf_t){junk, len + 3, 0, 0};
    cr_assert_eq(dn_scorer_load(d.sc, store, &rb, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "checkpoint scorer_fake: damaged header"), "%s", err.msg);
    rig_free(&d);
    free(junk);
    free(blob);
    rig_free(&a);
    dn_store_destroy(&store);
}

/* ---- 2-D histograms ------------------------------------------------------------------- */

/* Run seq holding one histogram "m" of nb bins, each 1, in rows of ny bins of
 * y (0: 1-D). */
static void run_shaped(rig_t *r, uint64_t seq, int nb, int ny)
{
    double counts[MAX_BINS];
    for (int b = 0; b < nb; b++)
        counts[b] = 1;
    Dinamo__Histogram h = DINAMO__HISTOGRAM__INIT, *hp = &h;
    h.key = (char *)"m";
    h.n_counts = (size_t)nb;
    h.counts = counts;
    h.has_n_bins_y = ny > 0;
    h.n_bins_y = (uint32_t)ny;
    Dinamo__Run run = DINAMO__RUN__INIT;
    run.stream = (char *)"test";
    run.has_run_number = run.has_run_seq = 1;
    run.run_number = 100 + (int64_t)seq;
    run.run_seq = seq;
    run.n_histograms = 1;
    run.histograms = &hp;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    env.run = &run;
    deliver(r, &env);
}

/* A key first seen as 4x3 keeps that shape: a 6x2 and a 1-D histogram of the
 * same 12 bins are rejected with both binnings named and never learned, also
 * by a scorer restored from the checkpoint (the shape rides in it). */
Test(scorer, a_2d_key_rejects_the_same_bins_in_another_shape)
{
    dn_err_t err = {0};
    char path[DN_TEST_TMPDIR_MAX + 16];
    snprintf(path, sizeof path, "%s/store", dir);
    dn_store_t *store = dn_store_open(path, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(store, "%s", err.msg);
    rig_t a = rig_new(1);
    run_shaped(&a, 0, 12, 3);
    run_shaped(&a, 1, 12, 2);
    run_shaped(&a, 2, 12, 0);
    run_shaped(&a, 3, 12, 3);
    for (uint64_t i = 0; i < 4; i++)
        label_in(&a, i, "m", 1);
    advance(&a);
    cr_assert_eq(a.sink->n, 4);
    cr_assert_eq(dn_scorer_key_bins_y(a.sc, dn_scorer_key_find(a.sc, "m")), 3);
    cr_assert_eq(score_at(&a, 0)->status, DINAMO__SCORE_STATUS__OK);
    cr_assert_eq(score_at(&a, 3)->status, DINAMO__SCORE_STATUS__OK);
    cr_assert_eq(score_at(&a, 1)->status, DINAMO__SCORE_STATUS__REJECTED);
    cr_assert_str_eq(score_at(&a, 1)->detail, "run 101: histogram 'm': binning changed: 6x2 "
                     "bins (2-D), the key has 4x3 bins (2-D)");
    cr_assert_eq(score_at(&a, 2)->status, DINAMO__SCORE_STATUS__REJECTED);
    cr_assert_str_eq(score_at(&a, 2)->detail, "run 102: histogram 'm': binning changed: 12 "
                     "bins, the key has 4x3 bins (2-D)");
    cr_assert_eq(a.m->n_learned, 2, "only the 4x3 runs are learned");
    cr_assert_eq(stats(&a).scores_rejected, 2);
    commit(&a, store);

    rig_t b = rig_new(1);
    cr_assert_eq(restore(&b, store, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_scorer_key_bins_y(b.sc, dn_scorer_key_find(b.sc, "m")), 3,
                 "the key's bins of y did not survive the checkpoint");
    run_shaped(&b, 4, 12, 2);
    run_shaped(&b, 5, 12, 3);
    advance(&b);
    cr_assert_eq(b.sink->n, 2);
    cr_assert_eq(score_at(&b, 0)->status, DINAMO__SCORE_STATUS__REJECTED);
    cr_assert_eq(score_at(&b, 1)->status, DINAMO__SCORE_STATUS__OK);
    /* a damaged shape (bins of y not dividing the bins) is refused by name */
    dn_wbuf_t w = {0};
    dn_scorer_save(b.sc, &w);
    cr_assert(!w.oom);
    rig_free(&b);
    /* the key's bins word follows the head: find 12 | KEY_2D, then 3 */
    int found = 0;
    for (size_t i = 0; i + 8 <= w.len && !found; i++) {
        uint32_t nb = (uint32_t)w.p[i] | (uint32_t)w.p[i + 1] << 8 | (uint32_t)w.p[i + 2] << 16 |
                      (uint32_t)w.p[i + 3] << 24;
        if (nb == (12u | 0x80000000u) && w.p[i + 4] == 3 && !w.p[i + 5]) {
            w.p[i + 4] = 5;
            found = 1;
        }
    }
    cr_assert(found, "no 2-D key in the checkpoint");
    rig_t c = rig_new(1);
    dn_rbuf_t rb = {w.p, w.len, 0, 0};
    cr_assert_eq(dn_scorer_load(c.sc, store, &rb, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "damaged key"), "%s", err.msg);
    free(w.p);
    rig_free(&c);
    rig_free(&a);
    dn_store_destroy(&store);
}
