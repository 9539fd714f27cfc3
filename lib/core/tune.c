/* tune.c: alpha tuned for the weighted balanced accuracy (tune.h).
 *
 * Each alpha of the grid scores the historical runs with a fresh DINAMO-S
 * tracker (dn_s_run, exactly as dn_score_dataset_s scores them) and asks
 * dn_threshold_scan for the median weighted balanced accuracy on the 200
 * thresholds spanning the scores; the objective is the largest median. The
 * bootstrap seed is the same for every alpha, so alphas are compared on the
 * same resamples and the tuning is reproducible. */
#include "tune.h"

#include <math.h>
#include <stdlib.h>

#include "dataset.h"
#include "dinamo_s.h"
#include "evaluate.h"
#include "histo.h"
#include "metrics.h"

int dn_tune_wba_objective(const double *score, const int8_t *label, int n, int n_boot,
                          uint64_t seed, double ba_weight, double *wba_out, double *t_out,
                          dn_err_t *err)
{
    double *t = NULL, *wba = NULL;
    int rc = DN_OK;
    if (n_boot < 1 || !(ba_weight >= 0.0 && isfinite(ba_weight))) {
        rc = dn_err_set(err, DN_EINVAL, "wba objective: %d resamples, ba_weight %g: want "
                        ">= 1 and a finite weight >= 0", n_boot, ba_weight);
        goto fail;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (label[i] < 0 || isnan(score[i]))
            continue;
        lo = score[i] < lo ? score[i] : lo;
        hi = score[i] > hi ? score[i] : hi;
    }
    if (!(lo <= hi)) {
        rc = dn_err_set(err, DN_EINVAL, "wba objective: none of %d runs has a label and a "
                        "score", n);
        goto fail;
    }
    /* numpy.linspace(lo, hi, 200) holds 200 copies of lo when all scores are
     * equal: one threshold says the same. */
    dn_threshold_opts_t o;
    dn_threshold_opts_default(&o);
    o.n_grid = hi > lo ? DN_TUNE_WBA_GRID : 1;
    o.lo = lo;
    o.hi = hi;
    o.n_boot = n_boot;
    o.seed = seed;
    o.ba_weight = ba_weight;
    t = malloc((size_t)o.n_grid * sizeof *t);
    wba = malloc(3 * (size_t)o.n_grid * sizeof *wba);
    if (!t || !wba) {
        rc = dn_err_set(err, DN_ENOMEM, "wba objective: out of memory");
        goto fail;
    }
    if ((rc = dn_threshold_scan(score, label, n, &o, 2.5, 97.5, t, NULL, NULL, wba, NULL,
                                err)))
        goto fail;
    double best = NAN, best_t = NAN;
    for (int k = 0; k < o.n_grid; k++) {
        double m = wba[3 * k + 1];
        if (!isnan(m) && !(m <= best)) {
            best = m;
            best_t = t[k];
        }
    }
    *wba_out = best;
    if (t_out)
        *t_out = best_t;
fail:
    free(t);
    free(wba);
    return rc;
}

/* What every alpha's pass shares: the runs, the debiasing and the bootstrap. */
typedef struct pass_t {
    const double *counts, *variances;
    const int8_t *labels;
    int n_hist, n_bins, n_resamples, n_boot;
    double min_entries, ba_weight;
    uint64_t debias_seed, seed;
} pass_t;

/* The objective at one alpha: the n_hist runs scored from a fresh tracker
 * (its debiasing generator started afresh from the seed). */
static int objective_at(const pass_t *p, double alpha, double *score, double *wba,
                        dn_err_t *err)
{
    dn_s_t *s = dn_s_new(p->n_bins, alpha);
    if (!s)
        return dn_err_set(err, DN_ENOMEM, "alpha tuning: out of memory for %d bins",
                          p->n_bins);
    dn_s_set_min_entries(s, p->min_entries);
    int rc = dn_s_set_debiasing(s, p->n_resamples, p->debias_seed, err);
    if (!rc)
        rc = dn_s_run(s, p->counts, p->variances, p->labels, p->n_hist, score, NULL, NULL,
                      NULL, err);
    dn_s_destroy(&s);
    if (rc)
        return rc;
    for (int i = 0; i < p->n_hist; i++)
        score[i] = isnan(score[i]) ? NAN : dn_score_from_chi2(score[i], p->n_bins);
    return dn_tune_wba_objective(score, p->labels, p->n_hist, p->n_boot, p->seed,
                                 p->ba_weight, wba, NULL, err);
}

int dn_tune_alpha_wba(const double *counts, const double *variances, const int8_t *labels,
                      int n_hist, int n_bins, double min_entries, int n_resamples,
                      uint64_t debias_seed, int n_boot, uint64_t seed, double ba_weight,
                      double *alpha_out, double *wba_out, dn_err_t *err)
{
    const pass_t p = {counts, variances, labels, n_hist, n_bins, n_resamples, n_boot,
                      min_entries, ba_weight, debias_seed, seed};
    double *score = NULL;
    int rc = DN_OK;
    if (n_hist < 1 || n_bins < 1 || !counts || !labels) {
        rc = dn_err_set(err, DN_EINVAL, "alpha tuning: %d runs of %d bins", n_hist, n_bins);
        goto fail;
    }
    score = malloc((size_t)n_hist * sizeof *score);
    if (!score) {
        rc = dn_err_set(err, DN_ENOMEM, "alpha tuning: out of memory for %d runs", n_hist);
        goto fail;
    }
    /* Any alpha's scores tell which runs are scored: the classes are checked
     * once, on the first pass. */
    double wba;
    rc = objective_at(&p, 0.0, score, &wba, err);
    if (rc)
        goto fail;
    int n_good = 0, n_bad = 0;
    for (int i = 0; i < n_hist; i++) {
        n_good += !isnan(score[i]) && labels[i] == 0;
        n_bad += !isnan(score[i]) && labels[i] == 1;
    }
    if (n_good == 0 || n_bad == 0) {
        rc = dn_err_set(err, DN_EINVAL, "alpha tuning: the historical regime has %d good and "
                        "%d bad non-empty runs; need at least one of each", n_good, n_bad);
        goto fail;
    }
    /* The grid of dn_s_tune_alpha: k/100, then m/1000 within +-0.01 of the
     * best, each alpha the double nearest its decimal value. */
    int best_k = 0;
    double best = isnan(wba) ? -INFINITY : wba;
    for (int k = 1; k < 100; k++) {
        rc = objective_at(&p, k / 100.0, score, &wba, err);
        if (rc)
            goto fail;
        if (wba > best) {
            best = wba;
            best_k = k;
        }
    }
    int lo = best_k * 10 - 10 < 0 ? 0 : best_k * 10 - 10;
    int hi = best_k * 10 + 10 > 999 ? 999 : best_k * 10 + 10;
    int best_m = best_k * 10;
    double best_fine = -INFINITY;
    for (int m = lo; m <= hi; m++) {
        rc = objective_at(&p, m / 1000.0, score, &wba, err);
        if (rc)
            goto fail;
        if (wba > best_fine) {
            best_fine = wba;
            best_m = m;
        }
    }
    if (alpha_out)
        *alpha_out = best_m / 1000.0;
    if (wba_out)
        *wba_out = best_fine > -INFINITY ? best_fine : NAN;
fail:
    free(score);
    return rc;
}

int dn_tune_alpha(const dn_dataset_t *ds, int n_hist, const dn_eval_opts_t *opts,
                  const dn_debias_t *db, double *alpha_out, double *objective_out,
                  dn_err_t *err)
{
    int n_res = db ? db->n_resamples : 0;
    uint64_t db_seed = db ? db->seed : 0;
    if (opts->alpha_metric == DN_ALPHA_WBA)
        return dn_tune_alpha_wba(ds->counts, ds->variances, ds->label, n_hist, ds->n_bins,
                                 opts->min_entries, n_res, db_seed, opts->n_boot,
                                 opts->boot_seed, opts->ba_weight, alpha_out, objective_out,
                                 err);
    return dn_s_tune_alpha_debiased(ds->counts, ds->variances, ds->label, n_hist, ds->n_bins,
                                    opts->min_entries, n_res, db_seed, alpha_out,
                                    objective_out, err);
}
