/* evaluate.c: one dataset from counts to the metrics of SPEC 4.
 *
 * Order of work (and the only order that reproduces the reference): tune alpha on
 * runs [0, n_hist) from a fresh reference; score all runs in one pass from a fresh
 * reference with that alpha; tune the threshold on the historical scores; compute
 * classification, adaptation time and Jaccard distance on [n_hist, n_runs).
 * Invariant: nothing here depends on how the dataset was produced; truth arrays are
 * used when present and their metrics are NAN otherwise. */
#include "evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dinamo_s.h"
#include "histo.h"
#include "metrics.h"

void dn_eval_opts_default(dn_eval_opts_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->method = DN_METHOD_S;
    opts->alpha = -1.0;
    opts->threshold = NAN;
    opts->n_hist = 1000;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Scratch chi2 for callers that want only scores or references. */
static int alloc_chi2(const dn_dataset_t *ds, double **chi2, dn_err_t *err)
{
    *chi2 = malloc((ds->n_runs ? (size_t)ds->n_runs : 1) * sizeof **chi2);
    if (!*chi2)
        return dn_err_set(err, DN_ENOMEM, "out of memory scoring %d runs", ds->n_runs);
    return DN_OK;
}

static void fill_scores(const dn_dataset_t *ds, const double *chi2, dn_run_scores_t *out)
{
    if (out->score)
        for (int i = 0; i < ds->n_runs; i++)
            out->score[i] = dn_score_from_chi2(chi2[i], ds->n_bins);
}

int dn_score_dataset_s(const dn_dataset_t *ds, double alpha, double min_entries,
                       dn_run_scores_t *out, dn_err_t *err)
{
    int rc = DN_OK;
    double *chi2 = out->chi2;
    double *own_chi2 = NULL;
    dn_s_t *s = dn_s_new(ds->n_bins, alpha);
    if (!s) {
        rc = dn_err_set(err, alpha >= 0.0 && alpha < 1.0 ? DN_ENOMEM : DN_EINVAL,
                        "cannot create DINAMO-S tracker (alpha %g, %d bins)", alpha,
                        ds->n_bins);
        goto fail;
    }
    dn_s_set_min_entries(s, min_entries);
    if (!chi2 && (rc = alloc_chi2(ds, &own_chi2, err)))
        goto fail;
    if (!chi2)
        chi2 = own_chi2;
    rc = dn_s_run(s, ds->counts, ds->variances, ds->label, ds->n_runs, chi2, out->ref_mu,
                  out->ref_sigma, out->pulls, err);
    if (rc)
        goto fail;
    fill_scores(ds, chi2, out);
fail:
    free(own_chi2);
    dn_s_destroy(&s);
    return rc;
}

int dn_score_dataset_ml(const dn_dataset_t *ds, const dn_eval_opts_t *opts,
                        dn_run_scores_t *out, dn_err_t *err)
{
    int rc = DN_OK;
    double *chi2 = out->chi2, *own_chi2 = NULL;
    dn_ml_setup_t setup = {.n_bins = ds->n_bins, .seed = opts->ml_seed,
                           .min_entries = opts->min_entries, .weights = opts->ml_weights,
                           .weights_len = opts->ml_weights_len, .frozen = opts->ml_frozen,
                           .threads = opts->ml_threads};
    dn_ml_t *ml = NULL;
    if ((rc = dn_ml_new_for(&setup, &ml, err)))
        goto fail;
    if (!chi2 && (rc = alloc_chi2(ds, &own_chi2, err)))
        goto fail;
    if (!chi2)
        chi2 = own_chi2;
    rc = dn_ml_run(ml, ds->counts, ds->variances, ds->label, ds->n_runs, chi2, out->ref_mu, out->ref_sigma,
                   out->pulls, NULL, opts->progress, opts->progress_ctx, err);
    if (rc)
        goto fail;
    fill_scores(ds, chi2, out);
fail:
    free(own_chi2);
    dn_ml_destroy(&ml);
    return rc;
}

static int check_classes(const int8_t *label, int n_hist, dn_err_t *err)
{
    int good = 0, bad = 0;
    for (int i = 0; i < n_hist; i++) {
        good += label[i] == 0;
        bad += label[i] == 1;
    }
    if (!good || !bad)
        return dn_err_set(err, DN_EINVAL,
                          "the %d historical runs hold %d good and %d bad labels: tuning "
                          "needs both classes",
                          n_hist, good, bad);
    return DN_OK;
}

static int check_historical(const dn_dataset_t *ds, int n_hist, dn_err_t *err)
{
    if (n_hist < 1 || n_hist >= ds->n_runs)
        return dn_err_set(err, DN_EINVAL,
                          "%d runs: need more than the %d historical runs used for tuning "
                          "(see --n-historical)",
                          ds->n_runs, n_hist);
    return check_classes(ds->label, n_hist, err);
}

int dn_eval_tune_threshold(const double *score, const int8_t *label, int n_hist,
                           uint64_t boot_seed, double *threshold, dn_err_t *err)
{
    if (n_hist < 1)
        return dn_err_set(err, DN_EINVAL, "no historical run to tune the threshold on");
    int rc = check_classes(label, n_hist, err);
    if (rc)
        return rc;
    dn_threshold_opts_t topts;
    dn_threshold_opts_default(&topts);
    topts.seed = boot_seed;
    return dn_threshold_tune(score, label, n_hist, &topts, threshold, err);
}

static void result_init(dn_eval_result_t *out, dn_method_t method, int n, int n_hist)
{
    memset(out, 0, sizeof *out);
    out->method = method;
    out->n_runs = n;
    out->n_hist = n_hist;
    out->alpha = out->auc_historical = NAN;
    out->threshold = out->balanced_accuracy = out->sensitivity = out->specificity = NAN;
    out->adaptation_time = out->jaccard_distance = NAN;
}

int dn_evaluate_scores_ref(const dn_dataset_t *ds, dn_method_t method, const double *chi2,
                           const double *ref_mu, const double *ref_sigma, double alpha,
                           const dn_eval_opts_t *opts, dn_eval_result_t *out, dn_err_t *err)
{
    int rc = DN_OK;
    int n = ds->n_runs, nb = ds->n_bins, n_hist = opts->n_hist;
    size_t cells = (size_t)n * (size_t)nb;
    double *score = NULL, *xt = NULL, *sx2 = NULL, *centres = NULL;
    uint8_t *change = NULL;

    result_init(out, method, n, n_hist);
    if (method != DN_METHOD_S && method != DN_METHOD_ML)
        return dn_err_set(err, DN_EINVAL, "unknown method %d", (int)method);
    int is_s = method == DN_METHOD_S;
    int tune_threshold = isnan(opts->threshold);
    if (tune_threshold) {
        if ((rc = check_historical(ds, n_hist, err)))
            return rc;
    } else if (n_hist < 0 || n_hist >= n) {
        return dn_err_set(err, DN_EINVAL, "%d runs: the historical regime of %d runs leaves "
                          "no continual regime", n, n_hist);
    }
    /* Bin numbers are not x values: without the edges the distance would be a
     * wrong number (issue 19: 0.83 for 0.11), so it is not computed. */
    int want_jd = ds->true_mu && ref_mu && ref_sigma && ds->n_bins_y == 0;
    if (want_jd && !ds->edges_known) {
        want_jd = 0;
        out->edges_unknown = 1;
    }
    score = malloc((size_t)n * sizeof *score);
    change = malloc((size_t)n);
    if (want_jd) {
        xt = malloc(cells * sizeof *xt);
        sx2 = malloc((size_t)nb * sizeof *sx2);
        centres = malloc((size_t)nb * sizeof *centres);
    }
    if (!score || !change || (want_jd && (!xt || !sx2 || !centres))) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory evaluating %d runs x %d bins", n, nb);
        goto fail;
    }
    out->alpha = is_s ? alpha : NAN;
    for (int i = 0; i < n; i++) {
        score[i] = dn_score_from_chi2(chi2[i], nb);
        out->n_empty += isnan(score[i]);
    }
    if (is_s && opts->alpha < 0.0 && n_hist >= 1 && n_hist <= n)
        out->auc_historical = dn_roc_auc(score, ds->label, n_hist);

    double threshold = opts->threshold;
    if (tune_threshold &&
        (rc = dn_eval_tune_threshold(score, ds->label, n_hist, opts->boot_seed, &threshold, err)))
        goto fail;
    out->threshold = threshold;

    dn_classification_t cls;
    dn_classify(score + n_hist, ds->label + n_hist, n - n_hist, threshold, &cls);
    out->balanced_accuracy = cls.balanced_accuracy;
    out->sensitivity = cls.sensitivity;
    out->specificity = cls.specificity;

    if (ds->true_mu) {
        for (int i = 0; i < n; i++)
            change[i] = ds->rapid_mu[i] || ds->rapid_sigma[i];
        out->adaptation_time = dn_adaptation_time(score, ds->label, change, n, n_hist,
                                                  threshold, &out->n_change_points);
    }
    if (want_jd) {
        for (int j = 0; j < nb; j++)
            centres[j] = 0.5 * (ds->edges[j] + ds->edges[j + 1]);
        for (int i = 0; i < n; i++) {
            double *row = xt + (size_t)i * nb;
            double total = dn_hist_normalise(
                row, sx2, dn_dataset_row(ds, i),
                ds->variances ? ds->variances + (size_t)i * nb : NULL, nb);
            if (!(total > DN_EPS))
                for (int j = 0; j < nb; j++)
                    row[j] = NAN;
        }
        rc = dn_jaccard_distance(xt, ref_mu, ref_sigma, ds->true_mu, ds->true_sigma,
                                 ds->label, n, n_hist, centres, nb,
                                 &out->jaccard_distance, err);
        if (rc)
            goto fail;
    }
fail:
    free(score);
    free(xt);
    free(sx2);
    free(centres);
    free(change);
    return rc;
}

int dn_evaluate_scores(const dn_dataset_t *ds, dn_method_t method, const double *chi2,
                       double alpha, const dn_eval_opts_t *opts, dn_eval_result_t *out,
                       dn_err_t *err)
{
    return dn_evaluate_scores_ref(ds, method, chi2, NULL, NULL, alpha, opts, out, err);
}

int dn_evaluate(const dn_dataset_t *ds, const dn_eval_opts_t *opts,
                dn_eval_result_t *out, dn_err_t *err)
{
    return dn_evaluate_runs(ds, opts, NULL, out, err);
}

int dn_evaluate_runs(const dn_dataset_t *ds, const dn_eval_opts_t *opts, dn_run_scores_t *runs,
                     dn_eval_result_t *out, dn_err_t *err)
{
    double t0 = now_seconds();
    int rc = DN_OK;
    int n = ds->n_runs, nb = ds->n_bins, n_hist = opts->n_hist;
    size_t cells = (size_t)n * (size_t)nb;
    double *chi2 = NULL, *ref_mu = NULL, *ref_sigma = NULL;

    result_init(out, opts->method, n, n_hist);
    if (opts->method != DN_METHOD_S && opts->method != DN_METHOD_ML) {
        rc = dn_err_set(err, DN_EINVAL, "unknown method %d", (int)opts->method);
        goto fail;
    }
    int is_s = opts->method == DN_METHOD_S;
    if ((is_s && opts->alpha < 0.0) || isnan(opts->threshold)) {
        rc = check_historical(ds, n_hist, err);
        if (rc)
            goto fail;
    } else if (n_hist < 0 || n_hist >= n) {
        rc = dn_err_set(err, DN_EINVAL, "%d runs: the historical regime of %d runs leaves "
                        "no continual regime", n, n_hist);
        goto fail;
    }

    chi2 = malloc((size_t)n * sizeof *chi2);
    ref_mu = malloc(cells * sizeof *ref_mu);
    ref_sigma = malloc(cells * sizeof *ref_sigma);
    if (!chi2 || !ref_mu || !ref_sigma) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory evaluating %d runs x %d bins", n, nb);
        goto fail;
    }

    double alpha = is_s ? opts->alpha : NAN;
    if (is_s && alpha < 0.0) {
        rc = dn_s_tune_alpha(ds->counts, ds->variances, ds->label, n_hist, nb,
                             opts->min_entries, &alpha, NULL, err);
        if (rc)
            goto fail;
    }

    dn_run_scores_t rs = {.chi2 = chi2, .score = runs ? runs->score : NULL, .ref_mu = ref_mu,
                          .ref_sigma = ref_sigma};
    rc = is_s ? dn_score_dataset_s(ds, alpha, opts->min_entries, &rs, err) : dn_score_dataset_ml(ds, opts, &rs, err);
    if (rc)
        goto fail;
    if (runs && runs->chi2)
        memcpy(runs->chi2, chi2, (size_t)n * sizeof *chi2);
    rc = dn_evaluate_scores_ref(ds, opts->method, chi2, ref_mu, ref_sigma, alpha, opts, out,
                                err);
fail:
    free(chi2);
    free(ref_mu);
    free(ref_sigma);
    out->seconds = now_seconds() - t0;
    return rc;
}
