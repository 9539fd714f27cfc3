/* test_ev_book.c: the evaluator's book and judge (services/evaluator/
 * ingest.c, judge.c) on 2-D histograms: a key's binning is fixed by its first
 * run, x and y alike (a histogram of 4x3 bins is not one of 6x2 nor a 1-D one
 * of 12: skipped and counted, the key's rows untouched), and the worst bins of
 * a 2-D key are named by (ix, iy) and their centres when the run gave edges. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "evaluator.h"

static void changed(void *arg, int k, uint64_t seq)
{
    (void)k;
    (void)seq;
    (*(int *)arg)++;
}

/* A Run envelope of one histogram "pix/occ" of n counts (ny bins of y, 0:
 * 1-D), with edges ex/ey when given. */
static int put_run(ev_book_t *b, uint64_t seq, double *counts, int n, int ny, double *ex, int nex,
                   double *ey, int ney)
{
    Dinamo__Histogram h = DINAMO__HISTOGRAM__INIT, *hp = &h;
    h.key = (char *)"pix/occ";
    h.subsystem = (char *)"pix";
    h.n_counts = (size_t)n;
    h.counts = counts;
    h.has_n_bins_y = ny > 0;
    h.n_bins_y = (uint32_t)ny;
    h.n_edges = ex ? (size_t)nex : 0;
    h.edges = ex;
    h.n_edges_y = ey ? (size_t)ney : 0;
    h.edges_y = ey;
    Dinamo__Run r = DINAMO__RUN__INIT;
    r.has_run_number = r.has_run_seq = 1;
    r.run_number = 100 + (int64_t)seq;
    r.run_seq = seq;
    r.n_histograms = 1;
    r.histograms = &hp;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    env.run = &r;
    return ev_book_run(b, &env);
}

static int put_score(ev_book_t *b, uint64_t seq, int m, double *mu, double *sigma, int n)
{
    Dinamo__Score s = DINAMO__SCORE__INIT;
    s.has_run_number = s.has_run_seq = s.has_status = s.has_chi2 = 1;
    s.run_number = 100 + (int64_t)seq;
    s.run_seq = seq;
    s.histogram_key = (char *)"pix/occ";
    s.status = DINAMO__SCORE_STATUS__OK;
    s.chi2 = 50;
    s.n_reference = s.n_reference_uncertainty = (size_t)n;
    s.reference = mu;
    s.reference_uncertainty = sigma;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_SCORE;
    env.score = &s;
    return ev_book_score(b, m, &env);
}

enum { NX = 4, NY = 3, NB = NX * NY };

Test(ev_book, a_2d_key_rejects_another_shape)
{
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    double c[NB];
    for (int i = 0; i < NB; i++)
        c[i] = 10 + i;
    double ex[NX + 1] = {0, 1, 2, 3, 4}, ey[NY + 1] = {0, 10, 20, 30};
    cr_assert_eq(put_run(&b, 0, c, NB, NY, ex, NX + 1, ey, NY + 1), 0);
    cr_assert_eq(b.n_keys, 1);
    cr_assert(b.keys[0].n_bins == NB && b.keys[0].n_bins_y == NY, "key %d bins, %d of y",
              b.keys[0].n_bins, b.keys[0].n_bins_y);
    /* same number of bins, other shapes: 6x2, and 1-D */
    double e6[7] = {0, 1, 2, 3, 4, 5, 6}, e2[3] = {0, 1, 2}, e12[13];
    for (int i = 0; i <= 12; i++)
        e12[i] = i;
    cr_assert_eq(put_run(&b, 1, c, NB, 2, e6, 7, e2, 3), 0);
    cr_assert_eq(put_run(&b, 2, c, NB, 0, e12, 13, NULL, 0), 0);
    cr_assert_eq(b.n_hist_skipped, 2, "skipped %llu histograms, want 2",
                 (unsigned long long)b.n_hist_skipped);
    cr_assert_null(ev_book_row(&b, 0, 1) ? ev_book_row(&b, 0, 1)->counts : NULL,
                   "a 6x2 histogram was taken into a 4x3 key");
    cr_assert_null(ev_book_row(&b, 0, 2) ? ev_book_row(&b, 0, 2)->counts : NULL,
                   "a 1-D histogram was taken into a 4x3 key");
    /* the same shape again is taken, with both axes' edges */
    cr_assert_eq(put_run(&b, 3, c, NB, NY, ex, NX + 1, ey, NY + 1), 0);
    const ev_row_t *r = ev_book_row(&b, 0, 3);
    cr_assert(r && r->counts && r->edges && r->edges_y, "4x3 run 3 not taken whole");
    cr_assert(r->edges[NX] == 4 && r->edges_y[NY] == 30, "edges %g, edges_y %g", r->edges[NX],
              r->edges_y[NY]);
    cr_assert_eq(b.n_hist_skipped, 2);
    ev_book_free(&b);
}

Test(ev_book, worst_bins_of_a_2d_key_name_ix_iy)
{
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    double c[NB], mu[NB], sg[NB];
    for (int i = 0; i < NB; i++) {
        c[i] = 1000;
        mu[i] = 1.0 / NB;
        sg[i] = 1e-4;
    }
    c[2 * NY + 1] = 2000; /* (2,1): far above the reference */
    c[0 * NY + 2] = 800;  /* (0,2): below, less far */
    double ex[NX + 1] = {0, 1, 2, 4, 8}, ey[NY + 1] = {-1.5, -0.5, 0.5, 1.5};
    cr_assert_eq(put_run(&b, 0, c, NB, NY, ex, NX + 1, ey, NY + 1), 0);
    cr_assert_eq(put_score(&b, 0, 0, mu, sg, NB), 1);
    char buf[256];
    ev_worst_bins(&b, 0, 0, 0, 0, buf, sizeof buf);
    cr_assert(!strncmp(buf, "bin (2,1) at (3, 0):+", 21), "worst bins: \"%s\"", buf);
    cr_assert(strstr(buf, "; bin (0,2) at (0.5, 1):-"), "worst bins: \"%s\"", buf);
    /* without edges: the (ix, iy) only, no made-up centres */
    cr_assert_eq(put_run(&b, 1, c, NB, NY, NULL, 0, NULL, 0), 0);
    cr_assert_eq(put_score(&b, 1, 0, mu, sg, NB), 1);
    ev_worst_bins(&b, 0, 1, 0, 0, buf, sizeof buf);
    cr_assert(!strncmp(buf, "bin (2,1):+", 11) && strstr(buf, "; bin (0,2):-") &&
              !strstr(buf, " at "), "worst bins without edges: \"%s\"", buf);
    ev_book_free(&b);
}

/* A Score's own pulls (DINAMO-S's debiased ones are averages over
 * resamplings, not the reference's) are what the worst bins name. */
Test(ev_book, worst_bins_follow_the_pulls_the_scorer_sent)
{
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    double c[NB], mu[NB], sg[NB], pulls[NB];
    for (int i = 0; i < NB; i++) {
        c[i] = 1000;
        mu[i] = 1.0 / NB;
        sg[i] = 1e-4;
        pulls[i] = 0.0;
    }
    c[2 * NY + 1] = 2000; /* the reference's pulls would name (2,1) first */
    pulls[1 * NY + 0] = -9.0; /* the sent ones name (1,0) */
    double ex[NX + 1] = {0, 1, 2, 4, 8}, ey[NY + 1] = {-1.5, -0.5, 0.5, 1.5};
    cr_assert_eq(put_run(&b, 0, c, NB, NY, ex, NX + 1, ey, NY + 1), 0);
    Dinamo__Score s = DINAMO__SCORE__INIT;
    s.has_run_number = s.has_run_seq = s.has_status = s.has_chi2 = 1;
    s.run_number = 100;
    s.run_seq = 0;
    s.histogram_key = (char *)"pix/occ";
    s.status = DINAMO__SCORE_STATUS__OK;
    s.chi2 = 50;
    s.n_reference = s.n_reference_uncertainty = s.n_pulls = NB;
    s.reference = mu;
    s.reference_uncertainty = sg;
    s.pulls = pulls;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_SCORE;
    env.score = &s;
    cr_assert_eq(ev_book_score(&b, 0, &env), 1);
    char buf[256];
    ev_worst_bins(&b, 0, 0, 0, 0, buf, sizeof buf);
    cr_assert(!strncmp(buf, "bin (1,0) at (1.5, -1):-", 24), "worst bins: \"%s\"", buf);
    ev_book_free(&b);
}

/* ---- horizons: DINAMO-S scored against references frozen some runs ago ---- */

#include "evaluate.h"
#include "histo.h"
#include "results.h"
#include "store.h"
#include "tmpdir.h"

enum { HB = 4, HIST = 60 };

/* One lagged horizon of a hand-built Score: name, and chi2 when available
 * (NAN: no reference that old yet), its reference when ref is given. */
typedef struct hz_in_t {
    const char *name;
    double chi2;
    const double *ref, *ref_sigma;
} hz_in_t;

/* A Run of histogram key, and of "calo/one" too when both (one Run holds
 * every histogram of the run: the store keeps one per run_seq). */
static int put_run_keys(ev_book_t *b, const char *key, int both, uint64_t seq,
                        const double *counts)
{
    Dinamo__Histogram h[2], *hp[2] = {&h[0], &h[1]};
    for (int i = 0; i < 2; i++) {
        dinamo__histogram__init(&h[i]);
        h[i].key = (char *)(i ? "calo/one" : key);
        h[i].subsystem = (char *)"calo";
        h[i].n_counts = HB;
        h[i].counts = (double *)counts;
    }
    Dinamo__Run r = DINAMO__RUN__INIT;
    r.has_run_number = r.has_run_seq = 1;
    r.run_number = 1000 + (int64_t)seq;
    r.run_seq = seq;
    r.n_histograms = both ? 2 : 1;
    r.histograms = hp;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    env.run = &r;
    return ev_book_run(b, &env);
}

static int put_label(ev_book_t *b, uint64_t seq, int bad)
{
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = 1;
    l.run_number = 1000 + (int64_t)seq;
    l.run_seq = seq;
    l.verdict = bad ? DINAMO__VERDICT__BAD : DINAMO__VERDICT__GOOD;
    l.source = DINAMO__LABEL_SOURCE__GENERATOR;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &l;
    env.has_offset = 1;
    env.offset = seq;
    return ev_book_label(b, &env);
}

/* A Score of key, method S, chi2 of now, flat reference, and n_hz lagged horizons. */
static int put_hz_score(ev_book_t *b, const char *key, uint64_t seq, double chi2,
                        const hz_in_t *hz, int n_hz)
{
    static double flat[HB] = {0.25, 0.25, 0.25, 0.25}, sg[HB] = {0.01, 0.01, 0.01, 0.01};
    Dinamo__HorizonScore hs[DN_HZ_MAX], *hp[DN_HZ_MAX];
    for (int h = 0; h < n_hz; h++) {
        dinamo__horizon_score__init(&hs[h]);
        hp[h] = &hs[h];
        hs[h].name = (char *)hz[h].name;
        if (!isnan(hz[h].chi2)) {
            hs[h].has_age = hs[h].has_chi2 = hs[h].has_score = 1;
            hs[h].age = 5;
            hs[h].chi2 = hz[h].chi2;
            hs[h].score = log(hz[h].chi2 / HB);
            if (hz[h].ref) {
                hs[h].n_reference = hs[h].n_reference_uncertainty = HB;
                hs[h].reference = (double *)hz[h].ref;
                hs[h].reference_uncertainty = (double *)hz[h].ref_sigma;
            }
        }
    }
    Dinamo__Score s = DINAMO__SCORE__INIT;
    s.has_run_number = s.has_run_seq = s.has_status = s.has_chi2 = s.has_method = 1;
    s.has_score = s.has_alpha = 1;
    s.run_number = 1000 + (int64_t)seq;
    s.run_seq = seq;
    s.method = DINAMO__METHOD__METHOD_S;
    s.histogram_key = (char *)key;
    s.status = DINAMO__SCORE_STATUS__OK;
    s.chi2 = chi2;
    s.score = log(chi2 / HB);
    s.alpha = 0.8;
    s.n_reference = s.n_reference_uncertainty = HB;
    s.reference = flat;
    s.reference_uncertainty = sg;
    s.n_horizons = (size_t)n_hz;
    s.horizons = n_hz ? hp : NULL;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_SCORE;
    env.score = &s;
    return ev_book_score(b, 0, &env);
}

/* The historical chi2 of run i: good runs near score 0, bad ones (i % 4 ==
 * 3) near score 2; the lagged horizon "5r" the same from run 5 on. */
static double hist_chi2(int i)
{
    return HB * exp((i % 4 == 3 ? 2.0 : 0.0) + 0.1 * (i % 3));
}

/* Keys "hz" (horizons 5r and 50r; 50r has no reference in the historical
 * regime) and "one" (no horizons, the same chi2 of now): the historical
 * regime, then runs 20 .. 23 as in the test below. */
static void fill_book(ev_book_t *b)
{
    const double counts[HB] = {100, 100, 100, 100};
    const double bump[HB] = {0.25, 0.25, 0.10, 0.25}, bsg[HB] = {0.01, 0.01, 0.01, 0.01};
    for (int i = 0; i < HIST + 4; i++) {
        cr_assert_eq(put_run_keys(b, "calo/hz", 1, (uint64_t)i, counts), 0);
        double now = hist_chi2(i);
        hz_in_t hz[2] = {{"5r", i >= 5 ? hist_chi2(i) : NAN, NULL, NULL}, {"50r", NAN, NULL, NULL}};
        switch (i) {
        case HIST: /* now good, 5r far above: a slow defect now's reference absorbed */
            now = HB;
            hz[0] = (hz_in_t){"5r", HB * exp(3.0), bump, bsg};
            break;
        case HIST + 1: /* now good, 5r unavailable, 50r huge but not voting */
            now = HB;
            hz[0].chi2 = NAN;
            hz[1].chi2 = HB * exp(9.0);
            break;
        case HIST + 2: /* now bad, 5r good */
            now = HB * exp(3.0);
            hz[0].chi2 = HB;
            break;
        case HIST + 3:
            now = hz[0].chi2 = HB;
            break;
        }
        cr_assert_eq(put_hz_score(b, "calo/hz", (uint64_t)i, now, hz, 2), 1, "run %d", i);
        cr_assert_eq(put_hz_score(b, "calo/one", (uint64_t)i, now, NULL, 0), 1);
        cr_assert_eq(put_label(b, (uint64_t)i, i < HIST ? i % 4 == 3 : 0), 0);
    }
}

static void tune_all(ev_judge_t *j, ev_book_t *b)
{
    for (int k = 0; k < b->n_keys; k++)
        cr_assert_geq(ev_judge_tune(j, b, k, 0), 0);
}

Test(ev_book, horizons_fixed_by_the_first_score_and_kept_per_row)
{
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    fill_book(&b);
    int k = dn_keytab_find(b.index, "calo/hz"), k1 = dn_keytab_find(b.index, "calo/one");
    char name[DN_HZ_NAME_MAX];
    cr_assert_eq(b.keys[k].hz[0].n, 3, "calo/hz has %d horizons, want now,5r,50r",
                 b.keys[k].hz[0].n);
    cr_assert_str_eq(ev_hz_name(&b.keys[k], 0, 1, name, sizeof name), "5r");
    cr_assert_str_eq(ev_hz_name(&b.keys[k], 0, 2, name, sizeof name), "50r");
    cr_assert_eq(b.keys[k1].hz[0].n, 1);
    cr_assert_eq(b.n_hz_rejected, 0);
    const ev_row_t *r = ev_book_row(&b, k, 7);
    cr_assert(r->hz_chi2[0] && r->hz_chi2[0][0] == hist_chi2(7) && isnan(r->hz_chi2[0][1]),
              "run 7: lagged chi2 %g %g", r->hz_chi2[0] ? r->hz_chi2[0][0] : -1.0,
              r->hz_chi2[0] ? r->hz_chi2[0][1] : -1.0);
    cr_assert(isnan(ev_row_score_hz(&b.keys[k], ev_book_row(&b, k, 2), 0, 1)),
              "run 2 has no 5r reference yet");
    r = ev_book_row(&b, k, HIST);
    cr_assert(r->hz_ref_mu[0] && r->hz_ref_mu[0][2] == 0.10 && r->hz_nb[0] == HB,
              "run %d: the 5r reference was not kept", HIST);
    ev_book_free(&b);
}

Test(ev_book, a_run_only_a_lagged_horizon_flags_is_bad_fired_by_it)
{
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    fill_book(&b);
    ev_judge_t j;
    ev_judge_init(&j, NULL, HIST, 7, DN_WARNING_MARGIN);
    tune_all(&j, &b);
    int k = dn_keytab_find(b.index, "calo/hz"), k1 = dn_keytab_find(b.index, "calo/one");

    /* thresholds: now's exactly the single reference's; 5r tuned; 50r never votes */
    double thr1 = ev_thresholds(&j, k1, 0).bad, thr_now = ev_hz_threshold(&j, k, 0, 0);
    double thr5 = ev_hz_threshold(&j, k, 0, 1), thr50 = ev_hz_threshold(&j, k, 0, 2);
    cr_assert(isfinite(thr1) && thr_now == thr1, "now's threshold %.17g, one horizon's %.17g",
              thr_now, thr1);
    cr_assert(thr5 > 0.2 && thr5 < 2.0, "5r threshold %g not between the good and bad scores",
              thr5);
    cr_assert(isnan(thr50), "50r had no historical score but got threshold %g", thr50);

    /* run 20: only 5r flags it */
    int fired = -2;
    double margin = ev_margin(&j, &b, k, HIST, 0, &fired);
    cr_assert(fired == 1 && fabs(margin - (3.0 - thr5)) < 1e-12,
              "run %d: fired %d margin %.17g, want 1 and %.17g", HIST, fired, margin,
              3.0 - thr5);
    cr_assert_eq(ev_severity(&j, &b, k, HIST, 0), DN_SEV_BAD);
    cr_assert_lt(ev_severity(&j, &b, k1, HIST, 0), DN_SEV_BAD, "now alone flags it (thr %g)",
                 thr1);
    ev_assess_t a;
    cr_assert_eq(ev_judge_run(&j, &b, HIST, 0, &a), 1);
    cr_assert(a.severity == DN_SEV_BAD && a.worst[0] == k && a.fired == 1 && a.margin_key == k,
              "run %d: severity %s worst %d fired %d", HIST, dn_severity_name(a.severity),
              a.worst[0], a.fired);
    char bins[256];
    ev_worst_bins(&b, k, HIST, 0, 1, bins, sizeof bins);
    cr_assert(!strncmp(bins, "b2:+", 4), "worst bins against 5r: \"%s\", want b2 first", bins);
    ev_worst_bins(&b, k, HIST, 0, 0, bins, sizeof bins);
    cr_assert(strncmp(bins, "b2:+", 4), "against now the bump should not show: \"%s\"", bins);

    /* run 21: 5r unavailable, 50r has no threshold: neither votes */
    margin = ev_margin(&j, &b, k, HIST + 1, 0, &fired);
    cr_assert(fired == 0 && margin == 0.0 - thr_now, "run %d: fired %d margin %g", HIST + 1,
              fired, margin);
    cr_assert_eq(ev_severity(&j, &b, k, HIST + 1, 0), ev_severity(&j, &b, k1, HIST + 1, 0),
                 "run %d: not judged as now alone judges it", HIST + 1);

    /* run 22: now fires, as with one horizon */
    margin = ev_margin(&j, &b, k, HIST + 2, 0, &fired);
    cr_assert(fired == 0 && margin > 0, "run %d: fired %d margin %g", HIST + 2, fired, margin);
    cr_assert_eq(ev_severity(&j, &b, k, HIST + 2, 0), DN_SEV_BAD);
    cr_assert_eq(ev_severity(&j, &b, k1, HIST + 2, 0), DN_SEV_BAD);

    /* one horizon: severity.h's rule on the score, exactly as before */
    for (int i = HIST; i < HIST + 4; i++) {
        const ev_row_t *r = ev_book_row(&b, k1, (uint64_t)i);
        dn_severity_t want = dn_severity(ev_row_score(&b.keys[k1], r, 0), 0,
                                         dn_thresholds(thr1, NAN, DN_WARNING_MARGIN));
        cr_assert_eq(ev_severity(&j, &b, k1, (uint64_t)i, 0), want, "run %d", i);
        double ex = ev_margin(&j, &b, k1, (uint64_t)i, 0, &fired);
        cr_assert(fired == 0 && ex == ev_row_score(&b.keys[k1], r, 0) - thr1, "run %d", i);
    }
    ev_judge_free(&j);
    ev_book_free(&b);
}

Test(ev_book, a_policy_threshold_is_horizon_nows)
{
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    fill_book(&b);
    char dir[DN_TEST_TMPDIR_MAX], path[DN_TEST_TMPDIR_MAX + 16];
    dn_test_tmpdir(dir, "evpol");
    snprintf(path, sizeof path, "%s/policy.csv", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("match,min_entries,warning,bad\ncalo/hz,,,1.5\n", f);
    fclose(f);
    dn_err_t err = {0};
    dn_policy_t *pol = dn_policy_load(path, &err);
    dn_test_rmdir(dir);
    cr_assert_not_null(pol, "%s", err.msg);
    ev_judge_t j;
    ev_judge_init(&j, pol, HIST, 7, DN_WARNING_MARGIN);
    tune_all(&j, &b);
    int k = dn_keytab_find(b.index, "calo/hz");
    cr_assert_eq(ev_hz_threshold(&j, k, 0, 0), 1.5);
    cr_assert(isfinite(ev_hz_threshold(&j, k, 0, 1)), "5r not tuned beside a policy's now");
    int fired;
    cr_assert(ev_margin(&j, &b, k, HIST, 0, &fired) > 0 && fired == 1);
    ev_judge_free(&j);
    dn_policy_destroy(&pol);
    ev_book_free(&b);
}

/* Every horizon field of key k's rows equal in two books; the first
 * difference named. */
static void same_rows(const ev_book_t *a, const ev_book_t *b, const char *key)
{
    int ka = dn_keytab_find(a->index, key), kb = dn_keytab_find(b->index, key);
    cr_assert(ka >= 0 && kb >= 0, "key %s lost", key);
    const ev_key_t *ha = &a->keys[ka], *hb = &b->keys[kb];
    cr_assert(dn_hz_spec_equal(&ha->hz[0], &hb->hz[0]) && ha->hz_fixed[0] == hb->hz_fixed[0],
              "%s: horizons differ after the restart", key);
    cr_assert_eq(ha->n_rows, hb->n_rows);
    for (int i = 0; i < ha->n_rows; i++) {
        const ev_row_t *ra = &ha->rows[i], *rb = &hb->rows[i];
        cr_assert(ra->chi2[0] == rb->chi2[0] || (isnan(ra->chi2[0]) && isnan(rb->chi2[0])),
                  "%s run %d: chi2 %g, after the restart %g", key, i, ra->chi2[0], rb->chi2[0]);
        cr_assert_eq(!ra->hz_chi2[0], !rb->hz_chi2[0], "%s run %d: horizons kept once", key, i);
        cr_assert_eq(!ra->hz_ref_mu[0], !rb->hz_ref_mu[0], "%s run %d: references", key, i);
        for (int h = 0; ra->hz_chi2[0] && h < ha->hz[0].n - 1; h++)
            cr_assert(ra->hz_chi2[0][h] == rb->hz_chi2[0][h] ||
                      (isnan(ra->hz_chi2[0][h]) && isnan(rb->hz_chi2[0][h])),
                      "%s run %d horizon %d: %g, after the restart %g", key, i, h + 1,
                      ra->hz_chi2[0][h], rb->hz_chi2[0][h]);
        for (int c = 0; ra->hz_ref_mu[0] && c < (ha->hz[0].n - 1) * HB; c++)
            cr_assert(ra->hz_ref_mu[0][c] == rb->hz_ref_mu[0][c] ||
                      (isnan(ra->hz_ref_mu[0][c]) && isnan(rb->hz_ref_mu[0][c])),
                      "%s run %d: reference cell %d", key, i, c);
    }
}

/* Commits b's pending rows into store. */
static void commit(ev_book_t *b, dn_store_t *store)
{
    dn_err_t err = {0};
    dn_store_batch_t *batch = dn_store_batch_new();
    cr_assert_not_null(batch);
    cr_assert_eq(ev_book_stage(b, batch), 0);
    cr_assert_eq(dn_store_apply(store, batch, &err), 0, "%s", err.msg);
    ev_book_committed(b);
    dn_store_batch_destroy(&batch);
}

Test(ev_book, horizons_survive_a_restart_and_judge_alike)
{
    char dir[DN_TEST_TMPDIR_MAX];
    dn_test_tmpdir(dir, "evhz");
    dn_err_t err = {0};
    dn_store_t *store = dn_store_open(dir, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(store, "%s", err.msg);
    ev_book_t b, r;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    fill_book(&b);
    /* a mismatched Score too: its now is kept, its horizons dropped, after the restart too */
    const double counts[HB] = {100, 100, 100, 100};
    hz_in_t other[1] = {{"7r", HB * 9.0, NULL, NULL}};
    cr_assert_eq(put_run_keys(&b, "calo/hz", 1, HIST + 4, counts), 0);
    cr_assert_eq(put_hz_score(&b, "calo/hz", HIST + 4, 2.0 * HB, other, 1), 1);
    commit(&b, store);

    cr_assert_eq(ev_book_init(&r, changed, &n_changed), 0);
    cr_assert_eq(ev_book_rebuild(&r, store, &err), 0, "%s", err.msg);
    cr_assert_eq(r.n_scores, b.n_scores, "scores %llu after the restart, %llu before",
                 (unsigned long long)r.n_scores, (unsigned long long)b.n_scores);
    cr_assert_eq(r.n_hz_rejected, 1, "rejected %llu after the restart, want 1",
                 (unsigned long long)r.n_hz_rejected);
    same_rows(&b, &r, "calo/hz");
    same_rows(&b, &r, "calo/one"); /* records without horizons read as before */

    ev_judge_t jb, jr;
    ev_judge_init(&jb, NULL, HIST, 7, DN_WARNING_MARGIN);
    ev_judge_init(&jr, NULL, HIST, 7, DN_WARNING_MARGIN);
    tune_all(&jb, &b);
    tune_all(&jr, &r);
    int k = dn_keytab_find(b.index, "calo/hz"), kr = dn_keytab_find(r.index, "calo/hz");
    for (int h = 0; h < 3; h++)
        cr_assert(ev_hz_threshold(&jb, k, 0, h) == ev_hz_threshold(&jr, kr, 0, h) ||
                      (isnan(ev_hz_threshold(&jb, k, 0, h)) &&
                       isnan(ev_hz_threshold(&jr, kr, 0, h))),
                  "horizon %d: threshold %g, after the restart %g", h,
                  ev_hz_threshold(&jb, k, 0, h), ev_hz_threshold(&jr, kr, 0, h));
    for (int i = HIST; i < HIST + 5; i++) {
        int fb, fr;
        double mb = ev_margin(&jb, &b, k, (uint64_t)i, 0, &fb);
        double mr = ev_margin(&jr, &r, kr, (uint64_t)i, 0, &fr);
        cr_assert(mb == mr && fb == fr, "run %d: margin %g fired %d, after the restart %g %d",
                  i, mb, fb, mr, fr);
    }
    ev_judge_free(&jb);
    ev_judge_free(&jr);
    ev_book_free(&b);
    ev_book_free(&r);
    dn_store_destroy(&store);
    dn_test_rmdir(dir);
}

Test(ev_book, a_score_naming_other_horizons_loses_them_alone)
{
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    const double counts[HB] = {100, 100, 100, 100};
    /* names that are no horizons do not fix the key */
    hz_in_t junk[1] = {{"abc", HB, NULL, NULL}}, first[2] = {{"5r", HB, NULL, NULL},
                                                             {"7d", HB, NULL, NULL}};
    hz_in_t other[2] = {{"5r", HB, NULL, NULL}, {"6d", HB * 2, NULL, NULL}};
    hz_in_t fewer[1] = {{"5r", HB, NULL, NULL}};
    cr_assert_eq(put_run_keys(&b, "calo/hz", 0, 0, counts), 0);
    cr_assert_eq(put_hz_score(&b, "calo/hz", 0, HB, junk, 1), 1);
    int k = dn_keytab_find(b.index, "calo/hz");
    cr_assert(b.n_hz_rejected == 1 && !b.keys[k].hz_fixed[0] && b.keys[k].hz[0].n == 1,
              "'abc': rejected %llu, fixed %d", (unsigned long long)b.n_hz_rejected,
              b.keys[k].hz_fixed[0]);
    cr_assert(ev_book_row(&b, k, 0)->has_score[0] && ev_book_row(&b, k, 0)->chi2[0] == HB,
              "the rejected Score's own chi2 was lost");
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(put_run_keys(&b, "calo/hz", 0, (uint64_t)i, counts), 0);
        cr_assert_eq(put_hz_score(&b, "calo/hz", (uint64_t)i, HB * (1 + i),
                                  i == 1 ? first : i == 2 ? other : fewer, i == 3 ? 1 : 2), 1);
    }
    cr_assert_eq(b.keys[k].hz[0].n, 3, "the first valid names fix the key");
    cr_assert_eq(b.n_hz_rejected, 3, "rejected %llu, want 3 (abc; 5r,6d; 5r)",
                 (unsigned long long)b.n_hz_rejected);
    cr_assert_not_null(ev_book_row(&b, k, 1)->hz_chi2[0]);
    for (int i = 2; i <= 3; i++) {
        const ev_row_t *r = ev_book_row(&b, k, (uint64_t)i);
        cr_assert(r->has_score[0] && r->chi2[0] == HB * (1 + i) && !r->hz_chi2[0],
                  "run %d: chi2 %g, horizons %p: now must stay, the horizons go", i, r->chi2[0],
                  (void *)r->hz_chi2[0]);
    }
    cr_assert_eq(b.n_scores, 4);
    ev_book_free(&b);
}

/* The file dir/name, NUL-terminated (the caller frees). */
static char *slurp_in(const char *dir, const char *name)
{
    char path[DN_TEST_TMPDIR_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "no %s", path);
    char *text = NULL;
    size_t cap = 0, len = 0;
    for (int c; (c = fgetc(f)) != EOF;) {
        if (len + 1 >= cap) {
            cap = cap ? 2 * cap : 4096;
            text = realloc(text, cap);
            cr_assert_not_null(text);
        }
        text[len++] = (char)c;
    }
    fclose(f);
    if (!text)
        text = calloc(1, 1);
    text[len] = '\0';
    return text;
}

/* text without its "seconds" member (wall time) and what follows it. */
static void cut_seconds(char *text)
{
    char *s = strstr(text, "\"seconds\"");
    cr_assert_not_null(s, "no seconds in %s", text);
    *s = '\0';
}

Test(ev_book, the_report_equals_the_offline_evaluation_with_horizons)
{
    char dir[DN_TEST_TMPDIR_MAX];
    dn_test_tmpdir(dir, "evrep");
    dn_err_t err = {0};
    dn_store_t *store = dn_store_open(dir, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(store, "%s", err.msg);
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    fill_book(&b);
    commit(&b, store);
    ev_judge_t j;
    ev_judge_init(&j, NULL, HIST, 7, DN_WARNING_MARGIN);
    tune_all(&j, &b);
    const int methods[EV_METHODS] = {1, 0};
    char rdir[DN_TEST_TMPDIR_MAX + 16];
    snprintf(rdir, sizeof rdir, "%s/report", dir);
    cr_assert_eq(ev_report_write(&b, &j, methods, store, rdir, 1, 0, &err), 0, "%s", err.msg);

    /* offline: the same runs, labels and chi2 planes through dn_evaluate_scores_hz
     * and the offline writers */
    int k = dn_keytab_find(b.index, "calo/hz");
    const ev_key_t *hk = &b.keys[k];
    const int n = HIST + 4, H = hk->hz[0].n;
    dn_dataset_t *ds = dn_dataset_new(n, HB, 0);
    double chi2[3 * (HIST + 4)], score[3 * (HIST + 4)];
    for (int i = 0; i < n; i++) {
        const ev_row_t *r = ev_book_row(&b, k, (uint64_t)i);
        ds->run[i] = r->run_number;
        ds->label[i] = r->label;
        memcpy(ds->counts + (size_t)i * HB, r->counts, HB * sizeof(double));
        for (int h = 0; h < H; h++) {
            chi2[h * n + i] = h ? r->hz_chi2[0][h - 1] : r->chi2[0];
            score[h * n + i] = dn_score_from_chi2(chi2[h * n + i], HB);
        }
    }
    dn_eval_opts_t o;
    dn_eval_opts_default(&o);
    o.n_hist = HIST;
    o.boot_seed = 7;
    o.alpha = -1.0;
    dn_eval_result_t res;
    cr_assert_eq(dn_evaluate_scores_hz(ds, &hk->hz[0], chi2, NULL, NULL, 0.8, &o, NULL, NULL,
                                       &res, &err), 0, "%s", err.msg);
    for (int h = 0; h < H; h++)
        cr_assert(res.hz_threshold[h] == ev_hz_threshold(&j, k, 0, h) ||
                      (isnan(res.hz_threshold[h]) && isnan(ev_hz_threshold(&j, k, 0, h))),
                  "horizon %d: offline threshold %.17g, the evaluator's %.17g", h,
                  res.hz_threshold[h], ev_hz_threshold(&j, k, 0, h));
    char *want_json = NULL, *want_csv = NULL;
    size_t wl = 0, cl = 0;
    FILE *f = open_memstream(&want_json, &wl);
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_eval_result_json(&w, &res);
    cr_assert_eq(dn_jw_finish(&w), 0);
    fclose(f);
    f = open_memstream(&want_csv, &cl);
    dn_csv_t cw;
    dn_csv_init(&cw, f);
    dn_scores_csv_header_hz(&cw, &hk->hz[0]);
    for (int i = 0; i < n; i++) {
        double lc[2] = {chi2[n + i], chi2[2 * n + i]}, ls[2] = {score[n + i], score[2 * n + i]};
        dn_score_row_t row = {ds->run[i], ds->label[i], chi2[i], score[i], DN_ROW_SCORED,
                              H - 1, lc, ls};
        dn_scores_csv_row(&cw, &row);
    }
    fclose(f);

    char *got_csv = slurp_in(rdir, "scores_s_calo_hz.csv");
    cr_assert_str_eq(got_csv, want_csv, "scores_s_calo_hz.csv differs from the offline writer's");
    cr_assert(strstr(got_csv, ",chi2_5r,score_5r,chi2_50r,score_50r\n"), "header: %.120s",
              got_csv);
    char *metrics = slurp_in(rdir, "metrics.json");
    char *at = strstr(metrics, "\"calo/hz\"");
    cr_assert_not_null(at);
    at = strstr(at, "\"s\":");
    cr_assert_not_null(at);
    at += 4;
    while (*at == ' ')
        at++;
    cut_seconds(at);
    cut_seconds(want_json);
    cr_assert_str_eq(at, want_json, "metrics.json's calo/hz s differs from the offline result");
    cr_assert(strstr(want_json, "\"horizon_thresholds\""), "no horizons in %s", want_json);

    /* runs.csv: run 1000 + HIST bad, fired by 5r with its margin */
    char *runs = slurp_in(rdir, "runs.csv");
    char line[64];
    snprintf(line, sizeof line, "\n%d,%d,s,bad,", 1000 + HIST, HIST);
    char *row = strstr(runs, line);
    cr_assert_not_null(row, "no bad row of run %d in %s", 1000 + HIST, runs);
    char *eol = strchr(row + 1, '\n');
    if (eol)
        *eol = '\0';
    char want_tail[64];
    snprintf(want_tail, sizeof want_tail, ",5r,%.17g", 3.0 - ev_hz_threshold(&j, k, 0, 1));
    cr_assert(strstr(row, want_tail), "run %d's row \"%s\" lacks \"%s\"", HIST, row + 1,
              want_tail);
    free(runs);
    free(metrics);
    free(got_csv);
    free(want_json);
    free(want_csv);
    dn_dataset_destroy(&ds);
    ev_judge_free(&j);
    ev_book_free(&b);
    dn_store_destroy(&store);
    dn_test_rmdir(dir);
}
