/* evaluate.c: one dataset from counts to the metrics of SPEC 4.
 *
 * Order of work (and the only order that reproduces the reference): tune alpha on
 * runs [0, n_hist) from a fresh reference; score all runs in one pass from a fresh
 * reference with that alpha; tune the threshold on the historical scores; compute
 * classification, adaptation time and Jaccard distance on [n_hist, n_runs), and
 * the reference's metrics of both regimes (counts, five rates with bootstrap
 * bands, adaptivity, Jaccard distance).
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
#include "tune.h"

void dn_eval_opts_default(dn_eval_opts_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->method = DN_METHOD_S;
    opts->alpha = -1.0;
    opts->threshold = NAN;
    opts->n_hist = 1000;
    opts->horizon_budget = DN_HZ_BUDGET;
    opts->horizon_accept_q = DN_HZ_ACCEPT_Q;
    opts->n_resamples = 100;
    opts->debiasing_seed = 22;
    opts->alpha_metric = DN_ALPHA_AUC;
    opts->ba_weight = 1.0;
    opts->n_boot = 100;
    opts->adaptivity_patience = 1;
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
    return dn_score_dataset_s_debiased(ds, alpha, min_entries, NULL, out, err);
}

dn_debias_t dn_eval_debias(const dn_eval_opts_t *opts, const char *key)
{
    dn_debias_t db = {0, 0};
    if (opts->stat_debiasing) {
        db.n_resamples = opts->n_resamples;
        db.seed = dn_s_debias_seed(opts->debiasing_seed, key);
    }
    return db;
}

int dn_score_dataset_s_debiased(const dn_dataset_t *ds, double alpha, double min_entries,
                                const dn_debias_t *db, dn_run_scores_t *out, dn_err_t *err)
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
    if (db && (rc = dn_s_set_debiasing(s, db->n_resamples, db->seed, err)))
        goto fail;
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

int dn_score_dataset_hz(const dn_dataset_t *ds, const dn_hz_spec_t *spec, double alpha,
                        double min_entries, int n_hist, double accept_q, dn_run_scores_t *out,
                        dn_err_t *err)
{
    return dn_score_dataset_hz_debiased(ds, spec, alpha, min_entries, n_hist, accept_q, NULL,
                                        out, err);
}

int dn_score_dataset_hz_debiased(const dn_dataset_t *ds, const dn_hz_spec_t *spec,
                                 double alpha, double min_entries, int n_hist,
                                 double accept_q, const dn_debias_t *db,
                                 dn_run_scores_t *out, dn_err_t *err)
{
    if (!spec || spec->n == 1)
        return dn_score_dataset_s_debiased(ds, alpha, min_entries, db, out, err);
    if (db && db->n_resamples > 0)
        return dn_err_set(err, DN_EINVAL, "statistical debiasing applies to the single "
                          "reference: not with several horizons");
    if (dn_hz_spec_has_time(spec))
        return dn_err_set(err, DN_EINVAL, "horizons in time (7d, 12h) need run times, which a "
                          "dataset does not carry: give lags in runs");
    int rc = dn_hz_spec_check(spec, err);
    if (rc)
        return rc;
    int n = ds->n_runs, H = spec->n;
    double *chi2 = out->chi2, *own_chi2 = NULL;
    dn_hz_t *hz = dn_hz_new(spec, ds->n_bins, alpha);
    if (!hz) {
        rc = dn_err_set(err, alpha >= 0.0 && alpha < 1.0 ? DN_ENOMEM : DN_EINVAL,
                        "cannot create DINAMO-S horizons (alpha %g, %d bins)", alpha,
                        ds->n_bins);
        goto fail;
    }
    dn_hz_set_min_entries(hz, min_entries);
    double level;
    if ((rc = dn_hz_level_from_runs(ds->counts, ds->variances, ds->label,
                                    n_hist < n ? n_hist : n, ds->n_bins, alpha, min_entries,
                                    accept_q, &level, err)))
        goto fail;
    dn_hz_set_accept_level(hz, level);
    if (!chi2 && !(chi2 = own_chi2 = malloc(((size_t)n * H + 1) * sizeof *chi2))) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory for %d runs", n);
        goto fail;
    }
    rc = dn_hz_run(hz, ds->counts, ds->variances, NULL, ds->label, n, chi2, out->pulls,
                   out->ref_mu, out->ref_sigma, err);
    if (rc)
        goto fail;
    if (out->score)
        for (size_t i = 0; i < (size_t)n * H; i++)
            out->score[i] = dn_score_from_chi2(chi2[i], ds->n_bins);
fail:
    free(own_chi2);
    dn_hz_destroy(&hz);
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
                           const dn_eval_opts_t *opts, double *threshold, dn_err_t *err)
{
    if (n_hist < 1)
        return dn_err_set(err, DN_EINVAL, "no historical run to tune the threshold on");
    int rc = check_classes(label, n_hist, err);
    if (rc)
        return rc;
    dn_threshold_opts_t topts;
    dn_threshold_opts_default(&topts);
    if (opts) {
        topts.seed = opts->boot_seed;
        topts.n_boot = opts->n_boot;
        topts.ba_weight = opts->ba_weight;
    }
    return dn_threshold_tune(score, label, n_hist, &topts, threshold, err);
}

/* The reference's metrics of the regime [from, to) (results_validation.py) at
 * verdict > cut: confusion counts and rates, their bootstrap 2.5 / 97.5 %
 * (opts->n_boot resamples seeded with seed), the adaptivity of the change
 * points in the regime (change NULL: no truth) and, when xt is given, the
 * Jaccard distance of the regime's bands. Returns 0, DN_EINVAL (Jaccard
 * input), DN_ENOMEM. */
static int regime_metrics(const dn_dataset_t *ds, const double *verdict, double cut, int from,
                          int to, const uint8_t *change, const double *xt, const double *ref_mu,
                          const double *ref_sigma, const double *centres,
                          const dn_eval_opts_t *opts, uint64_t seed, dn_regime_metrics_t *m,
                          dn_err_t *err)
{
    int rc = DN_OK;
    dn_classification_t c;
    dn_classify(verdict + from, ds->label + from, to - from, cut, &c);
    m->tp = c.tp;
    m->fn = c.fn;
    m->tn = c.tn;
    m->fp = c.fp;
    m->n_runs = c.tp + c.fn + c.tn + c.fp;
    m->rate[DN_RATE_BALANCED_ACCURACY] = c.balanced_accuracy;
    m->rate[DN_RATE_ACCURACY] = c.accuracy;
    m->rate[DN_RATE_SENSITIVITY] = c.sensitivity;
    m->rate[DN_RATE_SPECIFICITY] = c.specificity;
    m->rate[DN_RATE_PRECISION] = c.precision;
    for (int r = 0; r < DN_N_RATES; r++)
        m->rate_lo[r] = m->rate_hi[r] = NAN;
    m->jaccard_distance = m->nsteps_to_adapt = m->adaptivity_index = NAN;
    m->n_change_points = 0;
    if (to > from && (rc = dn_rates_bootstrap(verdict + from, ds->label + from, to - from, cut,
                                              opts->n_boot, seed, 2.5, 97.5, m->rate_lo,
                                              m->rate_hi, err)))
        return rc;
    if (change && (rc = dn_adaptivity(verdict, ds->label, change, ds->n_runs, from, to, cut,
                                      opts->adaptivity_patience, &m->nsteps_to_adapt,
                                      &m->adaptivity_index, &m->n_change_points, err)))
        return rc;
    if (xt)
        rc = dn_jaccard_bands(xt, ref_mu, ref_sigma, ds->true_mu, ds->true_sigma, ds->label,
                              ds->n_runs, from, to, centres, ds->n_bins, NULL,
                              &m->jaccard_distance, err);
    return rc;
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
    out->slow_sensitivity = out->slow_warned = out->nominal_specificity = NAN;
    out->n_horizons = 1;
    dn_hz_spec_single(&out->horizons);
}

/* Sensitivity on the continual runs bad because of a slow defect alone:
 * flagged[i] says whether run i was called bad (NAN score: not counted). */
static void slow_metrics(const dn_dataset_t *ds, const double *verdict, double cut, int n_hist,
                         dn_eval_result_t *out)
{
    out->slow_sensitivity = out->slow_warned = out->nominal_specificity = NAN;
    out->n_slow_bad = 0;
    if (!ds->slow_bad || !ds->slow_kind)
        return;
    int caught = 0, n_warn = 0, warned = 0, n_nominal = 0, passed = 0;
    for (int i = n_hist; i < ds->n_runs; i++) {
        if (isnan(verdict[i]))
            continue;
        int bad = verdict[i] > cut;
        if (ds->slow_bad[i] && ds->label[i] == 1) {
            out->n_slow_bad++;
            caught += bad;
        } else if (ds->label[i] == 0 && ds->slow_kind[i]) {
            n_warn++;
            warned += bad;
        } else if (ds->label[i] == 0) {
            n_nominal++;
            passed += !bad;
        }
    }
    if (out->n_slow_bad)
        out->slow_sensitivity = (double)caught / out->n_slow_bad;
    if (n_warn)
        out->slow_warned = (double)warned / n_warn;
    if (n_nominal)
        out->nominal_specificity = (double)passed / n_nominal;
}

int dn_evaluate_scores_hz(const dn_dataset_t *ds, const dn_hz_spec_t *spec, const double *chi2,
                          const double *ref_mu, const double *ref_sigma, double alpha,
                          const dn_eval_opts_t *opts, double *margin_out, int *fired_out,
                          dn_eval_result_t *out, dn_err_t *err)
{
    int rc = DN_OK;
    int n = ds->n_runs, nb = ds->n_bins, n_hist = opts->n_hist;
    int n_hz = spec ? spec->n : 1;
    dn_method_t method = n_hz > 1 ? DN_METHOD_S : opts->method;
    size_t cells = (size_t)n * (size_t)nb;
    double *score = NULL, *margin = NULL, *xt = NULL, *sx2 = NULL, *centres = NULL;
    uint8_t *change = NULL;

    result_init(out, method, n, n_hist);
    out->n_horizons = n_hz;
    if (spec)
        out->horizons = *spec;
    else
        dn_hz_spec_single(&out->horizons);
    if (method != DN_METHOD_S && method != DN_METHOD_ML)
        return dn_err_set(err, DN_EINVAL, "unknown method %d", (int)method);
    if (n_hz < 1 || n_hz > DN_HZ_MAX)
        return dn_err_set(err, DN_EINVAL, "%d horizons", n_hz);
    int is_s = method == DN_METHOD_S;
    int tune_threshold = isnan(opts->threshold);
    if (tune_threshold || n_hz > 1) {
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
    score = malloc((size_t)n * n_hz * sizeof *score);
    margin = malloc((size_t)n * sizeof *margin);
    change = malloc((size_t)n);
    if (want_jd) {
        xt = malloc(cells * sizeof *xt);
        sx2 = malloc((size_t)nb * sizeof *sx2);
        centres = malloc((size_t)nb * sizeof *centres);
    }
    if (!score || !margin || !change || (want_jd && (!xt || !sx2 || !centres))) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory evaluating %d runs x %d bins", n, nb);
        goto fail;
    }
    out->alpha = is_s ? alpha : NAN;
    for (size_t i = 0; i < (size_t)n * n_hz; i++)
        score[i] = dn_score_from_chi2(chi2[i], nb);
    for (int i = 0; i < n; i++)
        out->n_empty += isnan(score[i]);
    if (is_s && opts->alpha < 0.0 && n_hist >= 1 && n_hist <= n)
        out->auc_historical = dn_roc_auc(score, ds->label, n_hist);

    double threshold = opts->threshold;
    if (n_hz > 1) {
        out->hz_threshold[0] = threshold; /* NAN: tune */
        if ((rc = dn_hz_tune_thresholds(score, ds->label, n, n_hz, n_hist, opts->boot_seed,
                                        opts->horizon_budget, out->hz_threshold, err)))
            goto fail;
        threshold = out->hz_threshold[0];
    } else if (tune_threshold &&
               (rc = dn_eval_tune_threshold(score, ds->label, n_hist, opts, &threshold,
                                            err))) {
        goto fail;
    }
    out->threshold = out->hz_threshold[0] = threshold;
    for (int h = n_hz; h < DN_HZ_MAX; h++)
        out->hz_threshold[h] = NAN;

    /* The verdict: score against threshold, or with several horizons the
     * combined margin against 0 (the same decision for one horizon). */
    const double *verdict = score;
    double cut = threshold;
    for (int i = 0; i < n; i++) {
        double s[DN_HZ_MAX];
        for (int h = 0; h < n_hz; h++)
            s[h] = score[(size_t)h * n + i];
        int fired;
        margin[i] = dn_hz_margin(s, out->hz_threshold, n_hz, &fired);
        if (i >= n_hist && margin[i] > 0)
            out->hz_fired[fired]++;
        if (fired_out)
            fired_out[i] = fired;
    }
    if (margin_out)
        memcpy(margin_out, margin, (size_t)n * sizeof *margin);
    if (n_hz > 1) {
        verdict = margin;
        cut = 0.0;
    }

    slow_metrics(ds, verdict, cut, n_hist, out);

    if (ds->true_mu) {
        for (int i = 0; i < n; i++)
            change[i] = ds->rapid_mu[i] || ds->rapid_sigma[i];
        out->adaptation_time = dn_adaptation_time(verdict, ds->label, change, n, n_hist,
                                                  cut, &out->n_change_points);
    }
    if (opts->n_boot < 1 || opts->adaptivity_patience < 1) {
        rc = dn_err_set(err, DN_EINVAL, "%d bootstrap resamples, adaptivity patience %d "
                        "(>= 1 wanted)", opts->n_boot, opts->adaptivity_patience);
        goto fail;
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
    }
    /* Both regimes as the reference reports them; the bootstrap of each regime
     * draws from its own seed, derived from boot_seed (which the threshold
     * tuning uses): boot_seed + 1 historical, boot_seed + 2 continual. The
     * continual Jaccard distance is the one dn_jaccard_distance gives (it is
     * that regime); the historical one is NAN when that regime has no good
     * non-empty run (e.g. n_hist 0 with a given threshold). */
    const uint8_t *chg = ds->true_mu ? change : NULL;
    rc = regime_metrics(ds, verdict, cut, n_hist, n, chg, want_jd ? xt : NULL, ref_mu,
                        ref_sigma, centres, opts, opts->boot_seed + 2, &out->continual, err);
    if (rc)
        goto fail;
    out->jaccard_distance = out->continual.jaccard_distance;
    out->balanced_accuracy = out->continual.rate[DN_RATE_BALANCED_ACCURACY];
    out->sensitivity = out->continual.rate[DN_RATE_SENSITIVITY];
    out->specificity = out->continual.rate[DN_RATE_SPECIFICITY];
    rc = regime_metrics(ds, verdict, cut, 0, n_hist, chg, NULL, NULL, NULL, NULL, opts,
                        opts->boot_seed + 1, &out->historical, err);
    if (rc)
        goto fail;
    if (want_jd) {
        dn_err_t jd_err = {0};
        rc = dn_jaccard_bands(xt, ref_mu, ref_sigma, ds->true_mu, ds->true_sigma, ds->label, n,
                              0, n_hist, centres, nb, NULL, &out->historical.jaccard_distance,
                              &jd_err);
        if (rc == DN_ENOMEM) {
            rc = dn_err_set(err, rc, "%s", jd_err.msg);
            goto fail;
        }
        if (rc)
            out->historical.jaccard_distance = NAN;
        rc = DN_OK;
    }
fail:
    free(score);
    free(margin);
    free(xt);
    free(sx2);
    free(centres);
    free(change);
    return rc;
}

int dn_evaluate_scores_ref(const dn_dataset_t *ds, dn_method_t method, const double *chi2,
                           const double *ref_mu, const double *ref_sigma, double alpha,
                           const dn_eval_opts_t *opts, dn_eval_result_t *out, dn_err_t *err)
{
    if (method != DN_METHOD_S && method != DN_METHOD_ML) {
        result_init(out, method, ds->n_runs, opts->n_hist);
        return dn_err_set(err, DN_EINVAL, "unknown method %d", (int)method);
    }
    dn_eval_opts_t o = *opts;
    o.method = method;
    return dn_evaluate_scores_hz(ds, NULL, chi2, ref_mu, ref_sigma, alpha, &o, NULL, NULL, out,
                                 err);
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

    const dn_hz_spec_t *spec = is_s && opts->horizons && opts->horizons->n > 1 ? opts->horizons
                                                                            : NULL;
    int n_hz = spec ? spec->n : 1;
    chi2 = malloc((size_t)n * n_hz * sizeof *chi2);
    ref_mu = malloc(cells * n_hz * sizeof *ref_mu);
    ref_sigma = malloc(cells * n_hz * sizeof *ref_sigma);
    if (!chi2 || !ref_mu || !ref_sigma) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory evaluating %d runs x %d bins", n, nb);
        goto fail;
    }

    double alpha = is_s ? opts->alpha : NAN;
    /* The dataset's only histogram: its key, if it had one, was applied by the
     * caller to debiasing_seed (dn_eval_debias with NULL is the seed itself). */
    dn_debias_t db = dn_eval_debias(opts, NULL);
    if (is_s && db.n_resamples > 0 && spec) {
        rc = dn_err_set(err, DN_EINVAL, "statistical debiasing applies to the single "
                        "reference: not with several horizons");
        goto fail;
    }
    if (is_s && alpha < 0.0) {
        rc = dn_tune_alpha(ds, n_hist, opts, &db, &alpha, NULL, err); /* auc or wba */
        if (rc)
            goto fail;
    }

    dn_run_scores_t rs = {.chi2 = chi2, .score = runs ? runs->score : NULL, .ref_mu = ref_mu,
                          .ref_sigma = ref_sigma};
    rc = is_s ? dn_score_dataset_hz_debiased(ds, spec, alpha, opts->min_entries, n_hist,
                                             opts->horizon_accept_q, &db, &rs, err)
              : dn_score_dataset_ml(ds, opts, &rs, err);
    if (rc)
        goto fail;
    if (runs && runs->chi2)
        memcpy(runs->chi2, chi2, (size_t)n * n_hz * sizeof *chi2);
    if (spec)
        rc = dn_evaluate_scores_hz(ds, spec, chi2, ref_mu, ref_sigma, alpha, opts, NULL, NULL,
                                   out, err);
    else
        rc = dn_evaluate_scores_ref(ds, opts->method, chi2, ref_mu, ref_sigma, alpha, opts,
                                    out, err);
fail:
    free(chi2);
    free(ref_mu);
    free(ref_sigma);
    out->seconds = now_seconds() - t0;
    return rc;
}
