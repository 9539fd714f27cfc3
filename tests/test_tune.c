/* test_tune.c: alpha tuned for the weighted balanced accuracy (tune.h), the
 * reference's metric_mode "wba". The objective is recomputed here by brute
 * force, from the scores of dn_score_dataset_s and the curve of
 * dn_threshold_scan on numpy.linspace(min, max, 200), for every alpha of the
 * grid: the tuned alpha must reach the largest, and a changed ba_weight must
 * change the choice to its own maximiser. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "evaluate.h"
#include "generator.h"
#include "metrics.h"
#include "tune.h"

#define N_BOOT 25
#define SEED 22

static dn_dataset_t *make(int n_runs, uint64_t seed)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = n_runs;
    p.n_anomalous = n_runs / 5;
    p.p_rapid = 0.02;
    p.n_bins = 30;
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, seed, &ds, &err), 0, "%s", err.msg);
    return ds;
}

/* The wba objective at alpha, computed without tune.c: the runs scored by
 * dn_score_dataset_s, the 200 thresholds spanning their scores, the largest
 * median of dn_threshold_scan. */
static double brute(const dn_dataset_t *ds, double alpha, double beta)
{
    int n = ds->n_runs;
    double *score = malloc(n * sizeof *score);
    dn_run_scores_t rs = {.score = score};
    dn_err_t err = {0};
    cr_assert_eq(dn_score_dataset_s(ds, alpha, 0.0, &rs, &err), 0, "%s", err.msg);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (!isnan(score[i])) {
            lo = fmin(lo, score[i]);
            hi = fmax(hi, score[i]);
        }
    dn_threshold_opts_t o;
    dn_threshold_opts_default(&o);
    o.n_grid = 200;
    o.lo = lo;
    o.hi = hi;
    o.n_boot = N_BOOT;
    o.seed = SEED;
    o.ba_weight = beta;
    double wba[3 * 200], best = -INFINITY;
    cr_assert_eq(dn_threshold_scan(score, ds->label, n, &o, 2.5, 97.5, NULL, NULL, NULL, wba,
                                   NULL, &err), 0, "%s", err.msg);
    for (int k = 0; k < 200; k++)
        if (wba[3 * k + 1] > best)
            best = wba[3 * k + 1];
    free(score);
    return best;
}

/* Tunes with beta and checks the choice against the brute force: no coarse
 * alpha (k/100) and no fine alpha within 0.01 of the choice beats it. */
static double tune_and_check(const dn_dataset_t *ds, double beta)
{
    double alpha, wba;
    dn_err_t err = {0};
    cr_assert_eq(dn_tune_alpha_wba(ds->counts, NULL, ds->label, ds->n_runs, ds->n_bins, 0.0, 0,
                                   0, N_BOOT, SEED, beta, &alpha, &wba, &err), 0, "%s",
                 err.msg);
    double at = brute(ds, alpha, beta);
    cr_assert_float_eq(at, wba, 1e-12, "beta %g: objective at alpha %g: tuned %.17g, brute "
                       "force %.17g", beta, alpha, wba, at);
    double worst = -INFINITY, worst_alpha = NAN;
    for (int k = 0; k < 100; k++) {
        double v = brute(ds, k / 100.0, beta) - at;
        if (v > worst) {
            worst = v;
            worst_alpha = k / 100.0;
        }
    }
    int m0 = (int)lround(alpha * 1000);
    for (int m = m0 - 10; m <= m0 + 10; m++) {
        if (m < 0 || m > 999)
            continue;
        double v = brute(ds, m / 1000.0, beta) - at;
        if (v > worst) {
            worst = v;
            worst_alpha = m / 1000.0;
        }
    }
    cr_assert(worst <= 1e-12, "beta %g: alpha %g beats the chosen %g by %g", beta,
              worst_alpha, alpha, worst);
    return alpha;
}

Test(tune, wba_alpha_maximises_the_objective_and_follows_ba_weight)
{
    dn_dataset_t *ds = make(400, 70);
    double a1 = tune_and_check(ds, 1.0);
    double a_sens = tune_and_check(ds, 0.05); /* sensitivity weighs 20 times specificity */
    double a_spec = tune_and_check(ds, 20.0);
    cr_log_info("wba alpha: beta 0.05 %g, 1 %g, 20 %g", a_sens, a1, a_spec);
    cr_assert(a1 != a_sens || a1 != a_spec, "ba_weight 0.05, 1 and 20 all chose %g", a1);
    /* Each beta's choice is its own: at the other's alpha its objective is
     * no better (revealed preference; one of the two strictly worse). */
    double s_own = brute(ds, a_sens, 0.05), s_other = brute(ds, a_spec, 0.05);
    double p_own = brute(ds, a_spec, 20.0), p_other = brute(ds, a_sens, 20.0);
    cr_assert(s_own >= s_other && p_own >= p_other && (s_own > s_other || p_own > p_other),
              "beta 0.05: %g at its alpha %g, %g at %g; beta 20: %g at %g, %g at %g", s_own,
              a_sens, s_other, a_spec, p_own, a_spec, p_other, a_sens);
    dn_dataset_destroy(&ds);
}

/* A constructed case: good runs score 0, bad runs 1. The threshold 0 (the
 * grid's first) separates them in every resample, so the objective is 1
 * whatever beta; with the scores interleaved, beta 0 leaves sensitivity
 * alone, and the lowest threshold flags every bad run (1 exactly). */
Test(tune, wba_objective_on_constructed_scores)
{
    double score[40];
    int8_t label[40];
    for (int i = 0; i < 40; i++) {
        label[i] = i % 4 == 0;
        score[i] = label[i];
    }
    dn_err_t err = {0};
    double v, t;
    for (double beta = 0.0; beta <= 8.0; beta += 2.0) {
        cr_assert_eq(dn_tune_wba_objective(score, label, 40, 50, 1, beta, &v, &t, &err), 0,
                     "%s", err.msg);
        cr_assert_eq(v, 1.0, "beta %g: separated classes give %.17g", beta, v);
        cr_assert_eq(t, 0.0, "beta %g: first best threshold %g, want 0", beta, t);
    }
    for (int i = 0; i < 40; i++)
        score[i] = 0.1 * i; /* the lowest is run 0, bad: interleaved */
    score[1] = -1.0;        /* a good run lowest: T = min flags every bad run */
    cr_assert_eq(dn_tune_wba_objective(score, label, 40, 50, 1, 0.0, &v, &t, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(v, 1.0, "beta 0: sensitivity alone should reach 1, got %.17g", v);
    cr_assert_eq(t, -1.0, "beta 0: threshold %g, want the lowest score", t);
    /* NaN scores and unknown labels take no part, the grid's ends included */
    score[2] = NAN;
    label[3] = -1;
    score[3] = -100.0;
    cr_assert_eq(dn_tune_wba_objective(score, label, 40, 50, 1, 0.0, &v, &t, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(t, -1.0, "an unlabelled run set the grid's end: %g", t);
}

Test(tune, bad_arguments_are_refused)
{
    dn_dataset_t *ds = make(120, 3);
    dn_err_t err = {0};
    double a;
    cr_assert_eq(dn_tune_alpha_wba(ds->counts, NULL, ds->label, 120, ds->n_bins, 0.0, 0, 0, 0, 1,
                                   1.0, &a, NULL, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "resamples"), "%s", err.msg);
    cr_assert_eq(dn_tune_alpha_wba(ds->counts, NULL, ds->label, 120, ds->n_bins, 0.0, 0, 0, 10, 1,
                                   -1.0, &a, NULL, &err), DN_EINVAL);
    cr_assert_eq(dn_tune_alpha_wba(ds->counts, NULL, ds->label, 0, ds->n_bins, 0.0, 0, 0, 10, 1,
                                   1.0, &a, NULL, &err), DN_EINVAL);
    int8_t *good = calloc(120, 1); /* no bad run */
    cr_assert_eq(dn_tune_alpha_wba(ds->counts, NULL, good, 120, ds->n_bins, 0.0, 0, 0, 10, 1,
                                   1.0, &a, NULL, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "good and 0 bad"), "%s", err.msg);
    ds->counts[7] = -1.0;
    cr_assert_eq(dn_tune_alpha_wba(ds->counts, NULL, ds->label, 120, ds->n_bins, 0.0, 0, 0, 10, 1,
                                   1.0, &a, NULL, &err), DN_ERANGE);
    cr_assert(strstr(err.msg, "run 0"), "%s", err.msg);
    free(good);
    dn_dataset_destroy(&ds);
}

/* With statistical debiasing each alpha is scored from the debiasing seed
 * afresh: the objective at the chosen alpha is that of
 * dn_score_dataset_s_debiased's scores, and no coarse alpha beats it. */
Test(tune, wba_with_debiasing_scores_as_the_debiased_tracker)
{
    dn_dataset_t *ds = make(200, 71);
    dn_eval_opts_t o;
    dn_eval_opts_default(&o);
    o.alpha_metric = DN_ALPHA_WBA;
    o.n_boot = N_BOOT;
    o.boot_seed = SEED;
    dn_debias_t db = {.n_resamples = 5, .seed = 22};
    double alpha, wba, again;
    dn_err_t err = {0};
    cr_assert_eq(dn_tune_alpha(ds, ds->n_runs, &o, &db, &alpha, &wba, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_tune_alpha(ds, ds->n_runs, &o, &db, &again, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(alpha, again, "not reproducible: %g then %g", alpha, again);
    double *score = malloc(ds->n_runs * sizeof *score), worst = -INFINITY;
    for (int k = -1; k < 100; k++) {
        dn_run_scores_t rs = {.score = score};
        double a = k < 0 ? alpha : k / 100.0, v;
        cr_assert_eq(dn_score_dataset_s_debiased(ds, a, 0.0, &db, &rs, &err), 0, "%s", err.msg);
        cr_assert_eq(dn_tune_wba_objective(score, ds->label, ds->n_runs, N_BOOT, SEED, 1.0, &v,
                                           NULL, &err), 0, "%s", err.msg);
        if (k < 0)
            cr_assert_float_eq(v, wba, 1e-12, "at alpha %g: tuned %.17g, rescored %.17g",
                               alpha, wba, v);
        else if (v - wba > worst)
            worst = v - wba;
    }
    cr_assert(worst <= 1e-12, "a coarse alpha beats the chosen %g by %g", alpha, worst);
    free(score);
    dn_dataset_destroy(&ds);
}
