/* test_metrics.c: SPEC 4 metrics on hand-computed cases, and threshold tuning
 * and AUC against brute-force implementations written here. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "rng.h"

/* ---- AUC ---- */

Test(metrics, auc_with_ties_by_hand)
{
    /* pos {2, 3} vs neg {1, 2}: 1 + 0.5 + 1 + 1 over 4 pairs */
    double s[4] = {1, 2, 2, 3};
    int8_t l[4] = {0, 0, 1, 1};
    cr_assert_eq(dn_roc_auc(s, l, 4), 0.875, "%.17g", dn_roc_auc(s, l, 4));
    /* all tied: 0.5 */
    double t[5] = {7, 7, 7, 7, 7};
    int8_t lt[5] = {0, 1, 0, 1, 1};
    cr_assert_eq(dn_roc_auc(t, lt, 5), 0.5);
    /* perfectly inverted: 0; skipped runs do not count */
    double u[6] = {5, 4, NAN, 1, 0, 100};
    int8_t lu[6] = {0, 0, 1, 1, 1, -1};
    cr_assert_eq(dn_roc_auc(u, lu, 6), 0.0);
    /* a class absent: NAN */
    int8_t only_good[4] = {0, 0, 0, -1};
    cr_assert(isnan(dn_roc_auc(s, only_good, 4)));
    cr_assert(isnan(dn_roc_auc(s, l, 0)));
    /* pos {1, 3, 3}, neg {0, 3}: (1>0)=1, (1<3)=0, (3>0)=1, (3=3)=.5, twice: 1+0+2*(1.5)=4 of 6 */
    double v[5] = {1, 3, 3, 0, 3};
    int8_t lv[5] = {1, 1, 1, 0, 0};
    cr_assert_eq(dn_roc_auc(v, lv, 5), 4.0 / 6.0, "%.17g", dn_roc_auc(v, lv, 5));
}

Test(metrics, auc_matches_pair_counting)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 77);
    int n = 700;
    double *s = malloc(n * sizeof *s);
    int8_t *l = malloc(n);
    for (int trial = 0; trial < 5; trial++) {
        for (int i = 0; i < n; i++) {
            double u = dn_rng_uniform(&rng);
            l[i] = u < 0.2 ? 1 : (u < 0.25 ? -1 : 0);
            /* coarse scores: many ties */
            s[i] = floor((dn_rng_normal(&rng) + (l[i] == 1 ? 1.0 : 0.0)) * 4.0) / 4.0;
            if (dn_rng_uniform(&rng) < 0.02)
                s[i] = NAN;
        }
        int64_t twice = 0, np_ = 0, nn = 0;
        for (int i = 0; i < n; i++) {
            if (l[i] != 1 || isnan(s[i]))
                continue;
            np_++;
            for (int k = 0; k < n; k++) {
                if (l[k] != 0 || isnan(s[k]))
                    continue;
                twice += s[i] > s[k] ? 2 : (s[i] == s[k] ? 1 : 0);
            }
        }
        for (int k = 0; k < n; k++)
            nn += l[k] == 0 && !isnan(s[k]);
        double want = (double)twice / (2.0 * (double)np_ * (double)nn);
        double got = dn_roc_auc(s, l, n);
        cr_assert_eq(got, want, "trial %d: auc %.17g, pair count %.17g", trial, got, want);
    }
    free(s);
    free(l);
}

/* ---- classification ---- */

Test(metrics, classify_by_hand)
{
    double s[8] = {0.1, 0.9, 0.5, 0.7, NAN, 0.2, 0.8, 0.5};
    int8_t l[8] = {0, 1, 0, 1, 1, -1, 0, 1};
    dn_classification_t c;
    dn_classify(s, l, 8, 0.5, &c);
    /* bad: 0.9 tp, 0.7 tp, 0.5 fn (not > 0.5); good: 0.1 tn, 0.5 tn, 0.8 fp */
    cr_assert_eq(c.tp, 2);
    cr_assert_eq(c.fn, 1);
    cr_assert_eq(c.tn, 2);
    cr_assert_eq(c.fp, 1);
    cr_assert_eq(c.n_skipped, 2);
    cr_assert_eq(c.sensitivity, 2.0 / 3.0);
    cr_assert_eq(c.specificity, 2.0 / 3.0);
    cr_assert_eq(c.balanced_accuracy, (2.0 / 3.0 + 2.0 / 3.0) / 2.0);
}

Test(metrics, balanced_accuracy_with_a_class_absent)
{
    double s[4] = {0.1, 0.9, 0.2, 0.3};
    int8_t good[4] = {0, 0, 0, 0};
    dn_classification_t c;
    dn_classify(s, good, 4, 0.25, &c);
    cr_assert(isnan(c.sensitivity), "no bad run: sensitivity undefined");
    cr_assert_eq(c.specificity, 0.5);
    cr_assert_eq(c.balanced_accuracy, 0.5, "sklearn leaves the absent class out");
    int8_t bad[4] = {1, 1, 1, -1};
    dn_classify(s, bad, 4, 0.25, &c);
    cr_assert(isnan(c.specificity));
    cr_assert_eq(c.sensitivity, 1.0 / 3.0);
    cr_assert_eq(c.balanced_accuracy, 1.0 / 3.0);
    int8_t none[4] = {-1, -1, -1, -1};
    dn_classify(s, none, 4, 0.25, &c);
    cr_assert(isnan(c.balanced_accuracy) && c.n_skipped == 4);
}

/* ---- threshold tuning ---- */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The O(n_boot * n_grid * n) definition: same resamples, dn_classify on each. */
static double brute_threshold(const double *s, const int8_t *l, int n,
                              const dn_threshold_opts_t *o)
{
    double *grid = malloc(o->n_grid * sizeof *grid);
    double step = (o->hi - o->lo) / (o->n_grid - 1);
    for (int k = 0; k < o->n_grid; k++)
        grid[k] = k * step + o->lo;
    grid[o->n_grid - 1] = o->hi;
    double *ba = malloc((size_t)o->n_grid * o->n_boot * sizeof *ba);
    double *rs = malloc(n * sizeof *rs);
    int8_t *rl = malloc(n);
    dn_rng_t rng;
    dn_rng_seed(&rng, o->seed);
    for (int b = 0; b < o->n_boot; b++) {
        for (int r = 0; r < n; r++) {
            int idx = (int)dn_rng_below(&rng, (uint64_t)n);
            rs[r] = s[idx];
            rl[r] = l[idx];
        }
        for (int k = 0; k < o->n_grid; k++) {
            dn_classification_t c;
            dn_classify(rs, rl, n, grid[k], &c);
            ba[(size_t)b * o->n_grid + k] = c.balanced_accuracy;
        }
    }
    double best = -INFINITY, best_t = NAN;
    double *col = malloc(o->n_boot * sizeof *col);
    for (int k = 0; k < o->n_grid; k++) {
        for (int b = 0; b < o->n_boot; b++)
            col[b] = ba[(size_t)b * o->n_grid + k];
        qsort(col, o->n_boot, sizeof *col, cmp_d);
        int m = o->n_boot;
        double med = m % 2 ? col[m / 2] : (col[m / 2 - 1] + col[m / 2]) / 2.0;
        if (med > best) {
            best = med;
            best_t = grid[k];
        }
    }
    free(grid);
    free(ba);
    free(rs);
    free(rl);
    free(col);
    return best_t;
}

Test(metrics, threshold_separable_lies_between_the_classes)
{
    int n = 60;
    double s[60];
    int8_t l[60];
    for (int i = 0; i < n; i++) {
        l[i] = i % 4 == 0;
        s[i] = l[i] ? 2.0 + (i % 7) * 0.1 : -1.0 + (i % 5) * 0.2; /* good <= -0.2, bad >= 2 */
    }
    dn_threshold_opts_t o;
    dn_threshold_opts_default(&o);
    cr_assert_eq(o.n_grid, 1000);
    cr_assert_eq(o.lo, -3.25);
    cr_assert_eq(o.hi, 7.5);
    cr_assert_eq(o.n_boot, 100);
    cr_assert_eq(o.seed, 0);
    double t = NAN;
    dn_err_t err = {0};
    cr_assert_eq(dn_threshold_tune(s, l, n, &o, &t, &err), 0, "%s", err.msg);
    cr_assert(t >= -0.2 && t < 2.0, "T %.17g not between the classes", t);
    /* first maximum: the lowest grid point at or above the good scores' maximum */
    double step = (o.hi - o.lo) / (o.n_grid - 1);
    int k = (int)ceil((-0.2 - o.lo) / step);
    double first = k * step + o.lo;
    if (first < -0.2)
        first = (k + 1) * step + o.lo;
    cr_assert_eq(t, first, "T %.17g, first separating grid point %.17g", t, first);
    /* NULL opts = defaults */
    double t2;
    cr_assert_eq(dn_threshold_tune(s, l, n, NULL, &t2, &err), 0);
    cr_assert_eq(t2, t);
}

Test(metrics, threshold_grid_ends_exactly_at_hi)
{
    /* good runs scored exactly hi, bad runs far above: only T = hi separates */
    double s[10];
    int8_t l[10];
    for (int i = 0; i < 10; i++) {
        l[i] = i % 2;
        s[i] = l[i] ? 1e300 : 7.5;
    }
    double t;
    cr_assert_eq(dn_threshold_tune(s, l, 10, NULL, &t, NULL), 0);
    cr_assert_eq(t, 7.5, "T %.17g", t);
}

Test(metrics, threshold_matches_brute_force)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 5);
    int n = 250;
    double *s = malloc(n * sizeof *s);
    int8_t *l = malloc(n);
    for (int trial = 0; trial < 4; trial++) {
        for (int i = 0; i < n; i++) {
            double u = dn_rng_uniform(&rng);
            l[i] = u < 0.15 ? 1 : (u < 0.18 ? -1 : 0);
            s[i] = dn_rng_normal(&rng) * 0.8 + (l[i] == 1 ? 1.5 : 0.0);
            if (trial == 3)
                s[i] = round(s[i] * 2) / 2; /* ties on and off the grid */
            if (dn_rng_uniform(&rng) < 0.02)
                s[i] = NAN;
        }
        dn_threshold_opts_t o = {.n_grid = 301, .lo = -3.0, .hi = 4.5, .n_boot = 25 + trial,
                                 .seed = 100 + trial, .ba_weight = 1.0};
        double t;
        dn_err_t err = {0};
        cr_assert_eq(dn_threshold_tune(s, l, n, &o, &t, &err), 0, "%s", err.msg);
        double want = brute_threshold(s, l, n, &o);
        cr_assert_eq(t, want, "trial %d: T %.17g, brute force %.17g", trial, t, want);
    }
    free(s);
    free(l);
}

Test(metrics, threshold_rejects_bad_input)
{
    double s[3] = {NAN, 1, 2};
    int8_t l[3] = {0, -1, -1};
    double t = 42;
    dn_err_t err = {0};
    cr_assert_eq(dn_threshold_tune(s, l, 3, NULL, &t, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "none of the 3 runs"), "%s", err.msg);
    cr_assert_eq(t, 42, "output untouched on error");
    cr_assert_eq(dn_threshold_tune(s, l, 0, NULL, &t, &err), DN_EINVAL);
    dn_threshold_opts_t o;
    dn_threshold_opts_default(&o);
    o.n_grid = 0;
    cr_assert_eq(dn_threshold_tune(s, l, 3, &o, &t, &err), DN_EINVAL);
    dn_threshold_opts_default(&o);
    o.lo = 10;
    cr_assert_eq(dn_threshold_tune(s, l, 3, &o, &t, &err), DN_EINVAL);
}

/* ---- adaptation time ---- */

Test(metrics, adaptation_time_by_hand)
{
    enum { N = 22 };
    double T = 1.0;
    double s[N];
    int8_t l[N];
    uint8_t ch[N] = {0};
    for (int i = 0; i < N; i++) {
        s[i] = 0.0;
        l[i] = 0;
    }
    ch[2] = 1;  /* before n_hist = 5: ignored */
    s[2] = s[3] = 9.0;
    /* change at 8: bad skipped, good above, unknown skipped, good above, NaN skipped,
     * good below -> 2 */
    ch[8] = 1;
    l[8] = 1, s[8] = 9.0;
    s[9] = 2.0;
    l[10] = -1, s[10] = 0.0;
    s[11] = 1.5;
    s[12] = NAN;
    s[13] = 1.0; /* at T: recovered */
    s[14] = 5.0; /* after recovery: not counted */
    /* change at 16: never recovers; goods above: 16, 17, 19, 21 -> 4 */
    ch[16] = 1;
    s[16] = s[17] = s[19] = s[21] = 3.0;
    l[18] = 1, s[18] = 0.0;
    l[20] = 1, s[20] = -1.0;
    int nc = -1;
    double at = dn_adaptation_time(s, l, ch, N, 5, T, &nc);
    cr_assert_eq(nc, 2);
    cr_assert_eq(at, 3.0, "adaptation time %.17g", at);
    /* a change point whose first good run is already below: 0 */
    ch[13] = 1;
    at = dn_adaptation_time(s, l, ch, N, 5, T, &nc);
    cr_assert_eq(nc, 3);
    cr_assert_eq(at, 6.0 / 3.0, "segment [8,13) counts 2, [13,16) 0, [16,22) 4: %.17g", at);
    /* none at or after n_hist */
    at = dn_adaptation_time(s, l, ch, N, 17, T, &nc);
    cr_assert(isnan(at) && nc == 0, "at %g nc %d", at, nc);
    memset(ch, 0, sizeof ch);
    cr_assert(isnan(dn_adaptation_time(s, l, ch, N, 0, T, NULL)));
}

/* ---- Jaccard distance ---- */

Test(metrics, jaccard_identical_bands_is_zero)
{
    /* two good runs; identity transform (mu 0, sigma 1, centres = z) */
    enum { NB = 3, N = 4 };
    double c[NB] = {-1, 0, 1};
    double xt[N * NB] = {9, 9, 9, /* run 0 < n_hist: ignored */
                         0.2, 0.5, 0.3, 0.4, 0.1, 0.3, /* runs 1, 2 */
                         7, 7, 7 /* run 3 bad: ignored */};
    double mid[NB] = {0.3, 0.3, 0.3}, half[NB] = {0.1, 0.2, 0.0};
    double rm[N * NB], rs[N * NB];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < NB; j++) {
            rm[i * NB + j] = mid[j];
            rs[i * NB + j] = half[j];
        }
    double tm[N] = {0, 0, 0, 0}, ts[N] = {1, 1, 1, 1};
    int8_t l[N] = {0, 0, 0, 1};
    double jd = -1;
    dn_err_t err = {0};
    cr_assert_eq(dn_jaccard_distance(xt, rm, rs, tm, ts, l, N, 1, c, NB, &jd, &err), 0, "%s",
                 err.msg);
    cr_assert_leq(fabs(jd), 1e-15, "identical bands: JD %.17g", jd);
    /* disjoint: predicted band moved far away */
    for (int k = 0; k < N * NB; k++)
        rm[k] += 10.0;
    cr_assert_eq(dn_jaccard_distance(xt, rm, rs, tm, ts, l, N, 1, c, NB, &jd, &err), 0);
    cr_assert_eq(jd, 1.0, "disjoint bands: JD %.17g", jd);
}

Test(metrics, jaccard_hand_case_with_transform)
{
    /* centres {-1, 0, 1}, true mu 0.5, sigma 2: z = {-0.75, -0.25, 0.25}, p = 2 v,
     * interpolated at c: {p0 (clamped), (p1 + p2)/2, p2 (clamped)}.
     * run A xt {1, 2, 4} -> {2, 6, 8}; run B {3, 2, 0} -> {6, 2, 0}
     * true: median {4, 4, 4}, std {2, 2, 4}: [2,6] [2,6] [0,8]
     * predicted: ref_mu {1, 2, 4} -> {2, 6, 8}; ref_sigma 0.5 -> 1: [1,3] [5,7] [7,9]
     * overlap {1, 1, 1}, union {5, 5, 9}: JD = 1 - 3/19. An empty (NaN) good run
     * is skipped. */
    enum { NB = 3, N = 3 };
    double c[NB] = {-1, 0, 1};
    double xt[N * NB] = {1, 2, 4, NAN, NAN, NAN, 3, 2, 0};
    double rm[N * NB] = {1, 2, 4, 1, 2, 4, 1, 2, 4};
    double rs[N * NB] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    double tm[N] = {0.5, 0.5, 0.5}, ts[N] = {2, 2, 2};
    int8_t l[N] = {0, 0, 0};
    double jd;
    dn_err_t err = {0};
    cr_assert_eq(dn_jaccard_distance(xt, rm, rs, tm, ts, l, N, 0, c, NB, &jd, &err), 0, "%s",
                 err.msg);
    cr_assert_leq(fabs(jd - 16.0 / 19.0), 1e-15, "JD %.17g, by hand %.17g", jd, 16.0 / 19.0);
    /* no good continual run */
    cr_assert_eq(dn_jaccard_distance(xt, rm, rs, tm, ts, l, N, 3, c, NB, &jd, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "no good"), "%s", err.msg);
    ts[2] = 0.0;
    cr_assert_eq(dn_jaccard_distance(xt, rm, rs, tm, ts, l, N, 0, c, NB, &jd, &err), DN_EINVAL);
}

/* ---- percentiles ---- */

Test(metrics, percentile_and_median_as_numpy)
{
    /* expected values printed by numpy 1.24 np.percentile / np.median */
    double v[5] = {4, NAN, 1, 3, 2};
    struct { double q, want; } a[] = {
        {0, 0x1.0000000000000p+0}, {2.5, 0x1.1333333333333p+0}, {25, 0x1.c000000000000p+0},
        {50, 0x1.4000000000000p+1}, {97.5, 0x1.f666666666666p+1}, {100, 0x1.0000000000000p+2},
    };
    for (size_t k = 0; k < sizeof a / sizeof a[0]; k++) {
        double got = dn_percentile(v, 5, a[k].q);
        cr_assert(got == a[k].want, "q %g: %a vs numpy %a", a[k].q, got, a[k].want);
    }
    double w[7] = {0.3, 0.1, 0.7, 0.2, 0.9, 0.5, 0.11};
    struct { double q, want; } b[] = {
        {2.5, 0x1.9fbe76c8b4396p-4}, {33.3, 0x1.993b3a68b19a4p-3}, {50, 0x1.3333333333333p-2},
        {97.5, 0x1.bd70a3d70a3d6p-1},
    };
    for (size_t k = 0; k < sizeof b / sizeof b[0]; k++) {
        double got = dn_percentile(w, 7, b[k].q);
        cr_assert(got == b[k].want, "q %g: %a vs numpy %a", b[k].q, got, b[k].want);
    }
    /* numpy's _lerp takes b - (b-a)(1-t) for t >= 0.5, which rounds differently */
    double x[7] = {0.1, 0.7, 0.3, 0.9, 0.2, 1.3, 0.45};
    cr_assert(dn_percentile(x, 7, 10.8) == 0x1.5182a9930be0fp-3, "q 10.8: %a",
              dn_percentile(x, 7, 10.8));
    cr_assert(dn_median(w, 6) == 0x1.999999999999ap-2, "median %a", dn_median(w, 6));
    cr_assert_eq(dn_median(w, 7), 0.3);
    double nan_only[2] = {NAN, NAN};
    cr_assert(isnan(dn_percentile(nan_only, 2, 50)));
    cr_assert(isnan(dn_median(nan_only, 2)));
    cr_assert(isnan(dn_percentile(w, 7, 101)));
    cr_assert_eq(dn_percentile(w, 1, 70), 0.3);
}

/* ---- against the reference's own numbers (tools/make_ref_metrics_fixtures.py) ----
 *
 * Deterministic quantities (rates, adaptivity, Jaccard distance and bands) must
 * agree to 1e-12 relative (bands: relative to the largest |value| of that band,
 * since the z-space transform rounds differently, x sigma here, x / dz * dc
 * there). The bootstraps draw with numpy's generator there and dn_rng here, so
 * they are compared within Monte Carlo error (tolerances at each test). */

#include "ref_metrics_fixture.h"

/* |got - want| <= rel * scale (NaN equals NaN); prints both on failure. */
static void expect_close(const char *what, double got, double want, double scale, double rel)
{
    if (isnan(want)) {
        cr_expect(isnan(got), "%s: %.17g, reference nan", what, got);
        return;
    }
    double diff = fabs(got - want);
    cr_expect(diff <= rel * scale, "%s: %.17g vs reference %.17g (diff %.3g > %.3g)", what, got,
              want, diff, rel * scale);
}

static void expect_rates(const ref_fx_t *fx, const char *prefix, const dn_classification_t *c)
{
    char key[96];
    struct { const char *name; double got; } r[] = {
        {"tp", c->tp}, {"fn", c->fn}, {"tn", c->tn}, {"fp", c->fp},
        {"balanced_accuracy", c->balanced_accuracy}, {"accuracy", c->accuracy},
        {"sensitivity", c->sensitivity}, {"specificity", c->specificity},
        {"precision", c->precision},
    };
    for (size_t k = 0; k < sizeof r / sizeof r[0]; k++) {
        snprintf(key, sizeof key, "%s.%s", prefix, r[k].name);
        double want = ref_value(fx, key);
        expect_close(key, r[k].got, want, fabs(want), 1e-12);
    }
}

Test(metrics_ref, rates_as_sklearn)
{
    ref_fx_t *fx = load_ref_fixture();
    const ref_case_t *d = &fx->ds;
    int nh = (int)ref_value(fx, "ds.n_hist");
    double thr = ref_value(fx, "ds.threshold");
    dn_classification_t c;
    dn_classify(d->score, d->label, nh, thr, &c);
    expect_rates(fx, "ds.historical", &c);
    dn_classify(d->score + nh, d->label + nh, d->n - nh, thr, &c);
    expect_rates(fx, "ds.continual", &c);
    /* a threshold equal to a run's score: that run is called good */
    dn_classify(d->score, d->label, d->n, ref_value(fx, "ds.tie_threshold"), &c);
    expect_rates(fx, "ds.tie", &c);
    /* scores on a 0.5 lattice at threshold 0 */
    dn_classify(fx->hand.score, fx->hand.label, fx->hand.n, 0.0, &c);
    expect_rates(fx, "hand.all", &c);
    /* nothing called bad: precision 0 (sklearn's zero_division default) */
    dn_classify(d->score, d->label, d->n, 1e300, &c);
    cr_expect_eq(c.precision, 0.0);
    cr_expect_eq(c.tp + c.fp, 0);
    free(fx);
}

static void expect_adaptivity(const ref_fx_t *fx, const char *cas, const ref_case_t *d,
                              int n_hist, double thr)
{
    char key[96];
    const char *regime[3] = {"historical", "continual", "none"};
    int from[3] = {0, n_hist, 0}, to[3] = {n_hist, d->n, 0};
    for (int patience = 1; patience <= 3; patience += 2) {
        for (int r = 0; r < 3; r++) {
            if (r == 2 && strcmp(cas, "hand"))
                continue;
            double steps, index;
            int n_changes;
            dn_err_t err = {0};
            cr_assert_eq(dn_adaptivity(d->score, d->label, d->change, d->n, from[r], to[r], thr,
                                       patience, &steps, &index, &n_changes, &err),
                         0, "%s", err.msg);
            snprintf(key, sizeof key, "%s.%s.nsteps_p%d", cas, regime[r], patience);
            double want = ref_value(fx, key);
            expect_close(key, steps, want, fabs(want), 1e-12);
            snprintf(key, sizeof key, "%s.%s.index_p%d", cas, regime[r], patience);
            want = ref_value(fx, key);
            expect_close(key, index, want, fabs(want), 1e-12);
            if (r < 2 && !strcmp(cas, "ds")) {
                snprintf(key, sizeof key, "%s.%s.n_changes", cas, regime[r]);
                cr_expect_eq(n_changes, (int)ref_value(fx, key), "%s", key);
            }
            if (r == 2)
                cr_expect_eq(n_changes, 0);
        }
    }
}

Test(metrics_ref, adaptivity_as_the_reference)
{
    ref_fx_t *fx = load_ref_fixture();
    expect_adaptivity(fx, "ds", &fx->ds, (int)ref_value(fx, "ds.n_hist"),
                      ref_value(fx, "ds.threshold"));
    /* ties at 0, a never-converging segment, a bad change point, one at the last
     * run, the last historical segment running into the continual regime */
    expect_adaptivity(fx, "hand", &fx->hand, 20, 0.0);
    double s, i;
    dn_err_t err = {0};
    cr_expect_eq(dn_adaptivity(fx->hand.score, fx->hand.label, fx->hand.change, 40, 0, 40, 0.0,
                               0, &s, &i, NULL, &err),
                 DN_EINVAL);
    cr_expect_eq(dn_adaptivity(fx->hand.score, fx->hand.label, fx->hand.change, 40, 10, 41, 0.0,
                               1, &s, &i, NULL, &err),
                 DN_EINVAL);
    free(fx);
}

Test(metrics_ref, jaccard_bands_both_regimes)
{
    ref_fx_t *fx = load_ref_fixture();
    const ref_case_t *d = &fx->ds;
    int nb = fx->n_bins, nh = (int)ref_value(fx, "ds.n_hist");
    const char *regime[2] = {"historical", "continual"};
    const char *band[4] = {"true_mid", "true_half", "pred_mid", "pred_half"};
    int from[2] = {0, nh}, to[2] = {nh, d->n};
    double worst = 0.0;
    for (int r = 0; r < 2; r++) {
        double bands[4 * FX_MAX_BINS], jd;
        dn_err_t err = {0};
        cr_assert_eq(dn_jaccard_bands(d->x, d->ref, d->unc, d->mu, d->sigma, d->label, d->n,
                                      from[r], to[r], fx->centres, nb, bands, &jd, &err),
                     0, "%s", err.msg);
        char key[96];
        snprintf(key, sizeof key, "ds.%s.jd", regime[r]);
        double want = ref_value(fx, key);
        expect_close(key, jd, want, fabs(want), 1e-12);
        for (int b = 0; b < 4; b++) {
            snprintf(key, sizeof key, "ds.%s.%s", regime[r], band[b]);
            double scale = 0.0;
            for (int j = 0; j < nb; j++)
                scale = fmax(scale, fabs(ref_value_at(fx, key, j)));
            for (int j = 0; j < nb; j++) {
                double w = ref_value_at(fx, key, j), g = bands[b * nb + j];
                worst = fmax(worst, fabs(g - w) / scale);
                char what[128];
                snprintf(what, sizeof what, "%s[%d]", key, j);
                expect_close(what, g, w, scale, 1e-12);
            }
        }
        if (r == 1) {
            /* the old entry point is the continual regime, bit for bit */
            double jd_old;
            cr_assert_eq(dn_jaccard_distance(d->x, d->ref, d->unc, d->mu, d->sigma, d->label,
                                             d->n, nh, fx->centres, nb, &jd_old, &err),
                         0, "%s", err.msg);
            cr_expect(jd_old == jd, "%a vs %a", jd_old, jd);
        }
    }
    cr_log_info("Jaccard bands: worst difference %.3g of the band's scale", worst);
    free(fx);
}

/* The reference's scan (numpy default_rng) against ours (dn_rng): both estimate
 * the same bootstrap quantiles with B = 1000 resamples of the 150 historical
 * runs, so per grid point they differ by Monte Carlo error: for a quantile p of
 * a rate with bootstrap spread sd, one estimate's standard error is
 * sqrt(p (1 - p) / B) / density ~= c_p sd / sqrt(B), c = 1.25 for the median and
 * 2.67 for 2.5 / 97.5 % (normal density), and the difference of two has sqrt 2
 * times that. The rates are ratios of counts, so single grid points can jump a
 * lattice step; the test therefore bounds the mean over the grid of |difference|
 * by 3 times the mean predicted sigma of the difference (its expectation is
 * 0.8 sigma), and every point by 6 sigma plus one lattice step 1/17 (17 bad
 * historical runs). It also checks that our best threshold sits on the
 * reference's maximum of the median curve within the same error. */
static void expect_scan(const ref_fx_t *fx, const char *tag, uint64_t seed)
{
    const ref_case_t *d = &fx->ds;
    int nh = (int)ref_value(fx, "ds.n_hist");
    char key[64];
    snprintf(key, sizeof key, "scan.%s.n_grid", tag);
    int ng = (int)ref_value(fx, key);
    snprintf(key, sizeof key, "scan.%s.n_boot", tag);
    int nboot = (int)ref_value(fx, key);
    snprintf(key, sizeof key, "scan.%s.beta", tag);
    dn_threshold_opts_t o = {.n_grid = ng, .lo = -3.25, .hi = 7.5, .n_boot = nboot,
                             .seed = seed, .ba_weight = ref_value(fx, key)};
    double *t = malloc(ng * sizeof *t), *curve[3];
    for (int a = 0; a < 3; a++)
        curve[a] = malloc(3 * ng * sizeof *curve[a]);
    double best, tuned;
    dn_err_t err = {0};
    cr_assert_eq(dn_threshold_scan(d->score, d->label, nh, &o, 2.5, 97.5, t, curve[0], curve[1],
                                   curve[2], &best, &err),
                 0, "%s", err.msg);
    cr_assert_eq(dn_threshold_tune(d->score, d->label, nh, &o, &tuned, &err), 0, "%s", err.msg);
    cr_expect(best == tuned, "scan's best %a, tune's %a", best, tuned);
    const char *name[3] = {"sens", "spec", "wba"};
    const double c_q[3] = {2.67, 1.25, 2.67};
    int k_best = -1, k_ref_best = 0;
    for (int a = 0; a < 3; a++) {
        for (int q = 0; q < 3; q++) {
            double sum_diff = 0.0, sum_sigma = 0.0, worst = 0.0;
            int m = 0;
            for (int r = 0; r < fx->n_scan; r++) {
                if (strcmp(fx->scan[r].tag, tag))
                    continue;
                int k = fx->scan[r].k;
                cr_assert_lt(k, ng);
                cr_expect(fabs(t[k] - fx->scan[r].t) <= 1e-15 * fabs(fx->scan[r].t),
                          "grid %d: %.17g vs %.17g", k, t[k], fx->scan[r].t);
                double want = fx->scan[r].q[3 * a + q], got = curve[a][3 * k + q];
                if (isnan(want) || isnan(got)) {
                    /* both undefined (no bad run would be needed for that) */
                    cr_expect(isnan(want) == isnan(got), "%s %s q%d k %d: %g vs %g", tag,
                              name[a], q, k, got, want);
                    continue;
                }
                double sigma = sqrt(2.0) * c_q[q] * fx->scan[r].sd[a] / sqrt(nboot);
                double diff = fabs(got - want);
                cr_expect(diff <= 6.0 * sigma + 1.0 / 17 + 1e-12,
                          "%s %s q%d at T %g: %.6f vs reference %.6f (6 sigma %.4f)", tag,
                          name[a], q, t[k], got, want, 6 * sigma);
                sum_diff += diff;
                sum_sigma += sigma;
                worst = fmax(worst, diff);
                m++;
                if (a == 2 && q == 1) {
                    if (t[k] == best)
                        k_best = r;
                    if (want > fx->scan[k_ref_best].q[7] || r == 0)
                        k_ref_best = r;
                }
            }
            cr_expect_gt(m, 0);
            cr_expect(sum_diff <= 3.0 * sum_sigma + 1e-12,
                      "%s %s q%d: mean |diff| %.5f > 3 x mean sigma %.5f", tag, name[a], q,
                      sum_diff / m, sum_sigma / m);
            cr_log_info("scan %s %s q%d: mean |diff| %.5f (mean sigma %.5f), worst %.4f", tag,
                        name[a], q, sum_diff / m, sum_sigma / m, worst);
        }
    }
    /* The fixture's grid is coarser than the default, so best is on it. */
    cr_assert_geq(k_best, 0, "best threshold %g not on the fixture grid", best);
    double sig = sqrt(2.0) * 1.25 * fx->scan[k_best].sd[2] / sqrt(nboot);
    cr_expect(fx->scan[k_best].q[7] >= fx->scan[k_ref_best].q[7] - 6 * sig,
              "%s: reference median wba at our best %g is %.5f, its maximum %.5f at %g", tag,
              best, fx->scan[k_best].q[7], fx->scan[k_ref_best].q[7], fx->scan[k_ref_best].t);
    free(t);
    for (int a = 0; a < 3; a++)
        free(curve[a]);
}

Test(metrics_ref, threshold_scan_within_mc_error)
{
    ref_fx_t *fx = load_ref_fixture();
    expect_scan(fx, "b1", 22);
    expect_scan(fx, "b05", 23);
    free(fx);
}

/* Bootstrap 2.5 / 97.5 % of the five rates at one threshold, B = 4000 on both
 * sides: per percentile the two estimates differ with sigma = sqrt 2 x 2.67 sd /
 * sqrt(B) (see above); tolerance 5 sigma plus one lattice step 1 / (runs in the
 * rate's denominator), since a percentile of a ratio of counts can sit on
 * either side of a jump. */
Test(metrics_ref, rates_bootstrap_within_mc_error)
{
    ref_fx_t *fx = load_ref_fixture();
    const ref_case_t *d = &fx->ds;
    int nboot = (int)ref_value(fx, "ds.boot.n_boot");
    double thr = ref_value(fx, "ds.threshold");
    double lo[DN_N_RATES], hi[DN_N_RATES];
    dn_err_t err = {0};
    cr_assert_eq(dn_rates_bootstrap(d->score, d->label, d->n, thr, nboot, 5, 2.5, 97.5, lo, hi,
                                    &err),
                 0, "%s", err.msg);
    dn_classification_t c;
    dn_classify(d->score, d->label, d->n, thr, &c);
    const char *name[DN_N_RATES] = {"balanced_accuracy", "accuracy", "sensitivity",
                                    "specificity", "precision"};
    int denom[DN_N_RATES] = {c.tp + c.fn, d->n, c.tp + c.fn, c.tn + c.fp, c.tp + c.fp};
    for (int r = 0; r < DN_N_RATES; r++) {
        char key[96];
        snprintf(key, sizeof key, "ds.boot.%s.sd", name[r]);
        double sigma = sqrt(2.0) * 2.67 * ref_value(fx, key) / sqrt(nboot);
        double tol = 5 * sigma + 1.0 / denom[r];
        double got[2] = {lo[r], hi[r]};
        const char *q[2] = {"p2.5", "p97.5"};
        for (int k = 0; k < 2; k++) {
            snprintf(key, sizeof key, "ds.boot.%s.%s", name[r], q[k]);
            double want = ref_value(fx, key);
            cr_expect(fabs(got[k] - want) <= tol, "%s: %.6f vs reference %.6f (tolerance %.4f)",
                      key, got[k], want, tol);
            cr_log_info("%s: %.6f vs reference %.6f (diff %.4f, tolerance %.4f)", key, got[k],
                        want, fabs(got[k] - want), tol);
        }
    }
    cr_expect_eq(dn_rates_bootstrap(d->score, d->label, d->n, thr, 0, 5, 2.5, 97.5, lo, hi,
                                    &err),
                 DN_EINVAL);
    free(fx);
}
