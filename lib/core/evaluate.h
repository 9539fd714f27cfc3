/* evaluate.h: the whole offline evaluation of one dataset (SPEC 2 and 4).
 *
 * Scores every run with a method (tuning its parameter on the historical regime
 * unless given), tunes the threshold on the historical regime unless given, and
 * computes the continual-regime metrics. The `dinamo evaluate` and `dinamo bench`
 * commands are thin wrappers around dn_evaluate(); the services reproduce the same
 * numbers run by run.
 *
 * Thread rules: dn_evaluate() touches no global state; several threads may
 * evaluate different datasets at once. */
#ifndef DN_EVALUATE_H
#define DN_EVALUATE_H

#include <stdio.h>

#include "dataset.h"
#include "dinamo_ml.h"
#include "error.h"
#include "horizon.h"
#include "metrics.h"

typedef enum { DN_METHOD_S = 0, DN_METHOD_ML = 1 } dn_method_t;

/* What DINAMO-S's alpha is tuned for on the historical regime (the
 * reference's metric_mode): ROC AUC, or the best weighted balanced accuracy
 * (ba_weight) over thresholds, median over bootstrap resamples. */
typedef enum { DN_ALPHA_AUC = 0, DN_ALPHA_WBA = 1 } dn_alpha_metric_t;

typedef struct dn_eval_opts_t {
    dn_method_t method;
    double alpha;          /* DINAMO-S smoothing; < 0: tune on the historical regime */
    double threshold;      /* anomaly threshold; NAN: tune on the historical regime */
    int n_hist;            /* historical runs (tuning); the rest is the continual regime */
    uint64_t boot_seed;    /* seed of the threshold bootstrap */
    uint64_t ml_seed;      /* seed of DINAMO-ML initialisation and dropout */
    const void *ml_weights;/* DINAMO-ML starting weights, the bytes of a DNML or raw SPEC 3
                            * file (lib/io/mlfile.h reads one), or NULL: from ml_seed */
    size_t ml_weights_len;
    int ml_frozen;         /* DINAMO-ML: no training, pure inference with contexts */
    int ml_threads;        /* DINAMO-ML: threads of the model (0 or 1: one); same results */
    double min_entries;    /* runs with fewer entries: insufficient statistics (0: empty only) */
    const dn_hz_spec_t *horizons; /* DINAMO-S references at several horizons (horizon.h):
                            * NULL or one horizon: the single current reference. Only
                            * run lags offline (datasets carry no run times). With a
                            * given threshold, it is horizon now's; the lagged ones
                            * are tuned all the same */
    double horizon_budget; /* the lagged horizons' false-alarm budget (horizon.h
                            * dn_hz_tune_thresholds), DN_HZ_BUDGET by default */
    double horizon_accept_q; /* snapshots follow accepted changes above this quantile of
                            * the historical good runs' scores (horizon.h), by default
                            * DN_HZ_ACCEPT_Q; <= 0: never */
    /* The reference's options (issue 22); defaults are the reference's. */
    int stat_debiasing;    /* DINAMO-S: chi2 and pulls averaged over n_resamples draws
                            * resampling the side with the larger integral (dinamo_s.h),
                            * in scoring and in alpha tuning; not with horizons */
    int n_resamples;       /* 100 */
    uint64_t debiasing_seed; /* 22 */
    dn_alpha_metric_t alpha_metric; /* DN_ALPHA_AUC */
    double ba_weight;      /* beta of the weighted balanced accuracy, threshold and
                            * wba alpha tuning: 1 */
    int n_boot;            /* bootstrap resamples: threshold tuning and the metrics'
                            * uncertainties (n_metrics_bootstrap_trials): 100 */
    int adaptivity_patience; /* good runs in a row at or below threshold that end an
                            * adaptation (dn_adaptivity): 1 */
    void (*progress)(void *ctx, int done, int total); /* nullable, ML scoring only */
    void *progress_ctx;
} dn_eval_opts_t;

/* alpha -1 (tune), threshold NAN (tune), n_hist 1000, boot_seed 0, ml_seed 0,
 * and the reference's defaults above. */
void dn_eval_opts_default(dn_eval_opts_t *opts);

/* The reference's metrics of one regime (results_validation.py), at the
 * threshold used. */
typedef struct dn_regime_metrics_t {
    int n_runs;                   /* runs of the regime with a label and a score */
    int tp, fn, tn, fp;
    double rate[DN_N_RATES];      /* balanced accuracy, accuracy, sensitivity,
                                     specificity, precision (metrics.h DN_RATE_*) */
    double rate_lo[DN_N_RATES];   /* their bootstrap 2.5% and 97.5% percentiles */
    double rate_hi[DN_N_RATES];   /* (opts->n_boot resamples of the regime's runs) */
    double jaccard_distance;      /* NAN as dn_eval_result_t.jaccard_distance */
    double nsteps_to_adapt;       /* dn_adaptivity; NAN without change points */
    double adaptivity_index;
    int n_change_points;
} dn_regime_metrics_t;

typedef struct dn_eval_result_t {
    dn_method_t method;
    double alpha;              /* used (tuned or given); NAN for ML */
    double auc_historical;     /* ROC AUC of the historical scores (NAN if not tuned) */
    double threshold;          /* used (tuned or given) */
    double balanced_accuracy;  /* continual regime */
    double sensitivity;
    double specificity;
    double adaptation_time;    /* NAN without change points or without truth */
    double jaccard_distance;   /* NAN without truth or without known edges */
    int edges_unknown;         /* 1: jaccard_distance NAN because the dataset's bin
                                  edges are the placeholder numbering (edges_known
                                  0): the caller warns the user */
    int n_runs, n_hist, n_change_points, n_empty;
    double seconds;            /* wall time of the evaluation */
    /* Several horizons (n_horizons > 1): the verdict is the combined margin of
     * horizon.h (bad when any voting horizon is over its own threshold), and
     * the metrics above are of that verdict; threshold is horizon now's. */
    int n_horizons;            /* 1: the single reference */
    dn_hz_spec_t horizons;     /* which (n == n_horizons) */
    double hz_threshold[DN_HZ_MAX]; /* per horizon; NAN: could not tune, never votes */
    int hz_fired[DN_HZ_MAX];   /* continual runs flagged bad whose largest margin was h's */
    /* Slow defects (the dataset's slow truth, generator.h): sensitivity on the
     * continual runs labelled bad because of a slow defect alone. */
    double slow_sensitivity;   /* NAN without slow truth or without such runs */
    int n_slow_bad;            /* those runs */
    double slow_warned;        /* of the continual good runs that carry a slow defect
                                  still below its tolerance, the fraction called bad (an
                                  early warning, though the label says good); NAN
                                  without slow truth or such runs */
    double nominal_specificity;/* specificity on the continual good runs without any
                                  slow defect; NAN without slow truth */
    /* Both regimes as the reference reports them (the continual one's rates
     * equal the fields above). */
    dn_regime_metrics_t historical, continual;
} dn_eval_result_t;

/* Per-run outputs of scoring a dataset, each nullable when not wanted:
 * chi2/score [n_runs] (NAN for empty runs), ref_mu/ref_sigma/pulls [n_runs*n_bins]
 * (the reference that scored each run). With H horizons (dn_score_dataset_hz,
 * dn_evaluate_runs with opts->horizons) each array holds H planes, horizon h's
 * at h * n_runs (* n_bins); a lagged horizon's entries are NAN where it has no
 * reference yet. */
typedef struct dn_run_scores_t {
    double *chi2, *score, *ref_mu, *ref_sigma, *pulls;
} dn_run_scores_t;

/* Scores every run of ds with DINAMO-S at the given alpha (updating on good
 * labels; runs with fewer than min_entries entries are insufficient statistics),
 * filling the non-NULL arrays of *out. Returns 0, DN_ERANGE (bad counts,
 * err names the run) or DN_ENOMEM. */
int dn_score_dataset_s(const dn_dataset_t *ds, double alpha, double min_entries,
                       dn_run_scores_t *out, dn_err_t *err);

/* Statistical debiasing of DINAMO-S scoring (dinamo_s.h dn_s_set_debiasing):
 * n_resamples draws per bin and run, 0 off; seed the tracker's (see
 * dn_eval_debias). */
typedef struct dn_debias_t {
    int n_resamples;
    uint64_t seed;
} dn_debias_t;

/* The debiasing opts asks for (off unless opts->stat_debiasing) for the
 * histogram `key` (NULL: the dataset's only one): the tracker's seed is
 * dn_s_debias_seed(opts->debiasing_seed, key), as the scorer_s service derives
 * it per key. */
dn_debias_t dn_eval_debias(const dn_eval_opts_t *opts, const char *key);

/* dn_score_dataset_s with debiasing db (NULL or n_resamples 0: exactly
 * dn_score_dataset_s). Also DN_EINVAL for a bad n_resamples. */
int dn_score_dataset_s_debiased(const dn_dataset_t *ds, double alpha, double min_entries,
                                const dn_debias_t *db, dn_run_scores_t *out, dn_err_t *err);

/* dn_score_dataset_s against every horizon of spec (horizon.h; only run
 * lags: DN_EINVAL for a time horizon, datasets carry no run times): the
 * arrays of *out hold spec->n planes (see dn_run_scores_t). The snapshots
 * follow accepted changes above the accept_q-quantile of the good runs'
 * scores among the first n_hist (dn_hz_level_from_history; accept_q <= 0:
 * never). With one horizon exactly dn_score_dataset_s. Returns as
 * dn_score_dataset_s. */
int dn_score_dataset_hz(const dn_dataset_t *ds, const dn_hz_spec_t *spec, double alpha,
                        double min_entries, int n_hist, double accept_q, dn_run_scores_t *out,
                        dn_err_t *err);

/* dn_score_dataset_hz with debiasing db (NULL or off: exactly it). Debiasing
 * is of the single reference only: with several horizons and db on, DN_EINVAL
 * (the lagged snapshots would need a stream each, and the reference has no
 * horizons to match). */
int dn_score_dataset_hz_debiased(const dn_dataset_t *ds, const dn_hz_spec_t *spec,
                                 double alpha, double min_entries, int n_hist,
                                 double accept_q, const dn_debias_t *db,
                                 dn_run_scores_t *out, dn_err_t *err);

/* Scores every run of ds with DINAMO-ML (SPEC 3): the tracker dn_ml_new_for
 * makes for ds's bins from opts->ml_seed or opts->ml_weights, trained online
 * on the good labels unless opts->ml_frozen. Fills the non-NULL arrays of *out
 * as dn_score_dataset_s. Returns 0, DN_EFORMAT/DN_EMISMATCH/DN_ERANGE
 * (weights), DN_ERANGE (bad counts), DN_EINVAL, DN_ENOMEM. */
int dn_score_dataset_ml(const dn_dataset_t *ds, const dn_eval_opts_t *opts,
                        dn_run_scores_t *out, dn_err_t *err);

/* Evaluates ds as described above. Returns 0, DN_EINVAL (too few runs for
 * n_hist, no good or no bad historical run, method not available), DN_ERANGE,
 * DN_ENOMEM; *err says what. */
int dn_evaluate(const dn_dataset_t *ds, const dn_eval_opts_t *opts,
                dn_eval_result_t *out, dn_err_t *err);

/* dn_evaluate that also hands back the scores it computed: runs->chi2 and
 * runs->score [n_runs] (each nullable; NAN for runs without a score) are
 * exactly what dn_score_dataset_s/_ml give for the alpha used, so one
 * evaluation yields both the metrics and the score file (`dinamo evaluate
 * --scores`) without scoring twice. runs may be NULL. Returns as dn_evaluate. */
int dn_evaluate_runs(const dn_dataset_t *ds, const dn_eval_opts_t *opts, dn_run_scores_t *runs,
                     dn_eval_result_t *out, dn_err_t *err);

/* SPEC 4 metrics of scores computed elsewhere (a scorer service): chi2[n_runs]
 * (NAN for runs without a score) of method, which used alpha (S; ignored for
 * ML: result alpha NAN). ds gives labels, run count, bin count and the truth;
 * its counts are read only for the Jaccard distance, and only when ref_mu and
 * ref_sigma [n_runs*n_bins] (the reference that scored each run) are given,
 * else jaccard_distance is NAN. The Jaccard distance compares bands in x, so
 * it needs the bin centres in x: with ds->edges_known 0 it is NAN and
 * out->edges_unknown 1 (never computed on bin numbers); for a 2-D dataset
 * (n_bins_y > 0) it is NAN (the truth is a 1-D Gaussian). The threshold is tuned on the first
 * opts->n_hist runs (seed opts->boot_seed) unless opts->threshold is a number;
 * for S with opts->alpha < 0 (alpha was tuned) auc_historical is the ROC AUC
 * of the historical scores. dn_evaluate() scores and then calls this, so
 * scoring elsewhere with the same alpha gives the same numbers bit for bit.
 * Returns 0, DN_EINVAL (n_hist, classes, method), DN_ENOMEM. */
int dn_evaluate_scores_ref(const dn_dataset_t *ds, dn_method_t method, const double *chi2,
                           const double *ref_mu, const double *ref_sigma, double alpha,
                           const dn_eval_opts_t *opts, dn_eval_result_t *out, dn_err_t *err);

/* dn_evaluate_scores_ref for DINAMO-S at n_hz horizons: chi2 [n_hz*n_runs]
 * (plane h is horizon h's, NAN where unavailable), ref_mu/ref_sigma horizon
 * now's [n_runs*n_bins] or NULL. Thresholds are tuned per horizon on the
 * historical regime (dn_hz_tune_thresholds; a given opts->threshold replaces
 * horizon now's); every metric is of the combined verdict: the margin of
 * dn_hz_margin against 0. margin_out and fired_out [n_runs] (nullable) get
 * each run's margin and the horizon giving it (-1: none). With n_hz == 1 the
 * numbers are exactly dn_evaluate_scores_ref's (margin = score - threshold).
 * spec names the horizons (spec->n == n_hz). Returns as dn_evaluate_scores_ref. */
int dn_evaluate_scores_hz(const dn_dataset_t *ds, const dn_hz_spec_t *spec, const double *chi2,
                          const double *ref_mu, const double *ref_sigma, double alpha,
                          const dn_eval_opts_t *opts, double *margin_out, int *fired_out,
                          dn_eval_result_t *out, dn_err_t *err);

/* dn_evaluate_scores_ref without references (jaccard_distance NAN). */
int dn_evaluate_scores(const dn_dataset_t *ds, dn_method_t method, const double *chi2,
                       double alpha, const dn_eval_opts_t *opts, dn_eval_result_t *out,
                       dn_err_t *err);

/* The SPEC 4 threshold of dn_evaluate: score[n_hist] and label[n_hist] of the
 * historical runs must hold a good and a bad labelled run; default grid,
 * opts->n_boot resamples seeded with opts->boot_seed, maximising the weighted
 * balanced accuracy of opts->ba_weight (opts NULL: dn_eval_opts_default's).
 * Returns 0 with *threshold, DN_EINVAL (err says why), DN_ENOMEM. */
int dn_eval_tune_threshold(const double *score, const int8_t *label, int n_hist,
                           const dn_eval_opts_t *opts, double *threshold, dn_err_t *err);

#endif
