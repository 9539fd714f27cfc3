/* metrics.h: the evaluation metrics of SPEC 4, computed like the Python
 * reference (scikit-learn and numpy) so the numbers compare directly.
 *
 * Scores are anomaly scores (higher = more anomalous); labels are 0 good, 1 bad,
 * -1 unknown. Runs with label < 0 or a NaN score are skipped by every metric.
 *
 * Thread rules: no global state; functions that need memory allocate their own
 * and free it before returning, so any number of threads may call them. */
#ifndef DN_METRICS_H
#define DN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* ROC AUC of score[n] against label[n], bad (1) positive, ties by average rank
 * (equals sklearn's roc_auc_score). NAN if a class is absent or memory runs out. */
double dn_roc_auc(const double *score, const int8_t *label, int n);

/* The same with caller-provided scratch of dn_roc_auc_work_size(n) bytes (no
 * allocation; for loops such as alpha tuning). NAN if a class is absent. */
size_t dn_roc_auc_work_size(int n);
double dn_roc_auc_work(const double *score, const int8_t *label, int n, void *work);

typedef struct dn_classification_t {
    int tp, fn, tn, fp, n_skipped;
    double sensitivity, specificity, balanced_accuracy;
    double accuracy;  /* (tp + tn) / scored runs (sklearn accuracy_score); NAN when none */
    double precision; /* tp / (tp + fp); 0 when nothing is called bad (sklearn's
                         precision_score with its default zero_division) */
} dn_classification_t;

/* Confusion counts of score[n] against label[n], predicting bad when
 * score > threshold. sensitivity = tp/(tp+fn), specificity = tn/(tn+fp), NAN for
 * a class absent from the truth; balanced_accuracy = the mean of the recalls of
 * the classes present (sklearn's balanced_accuracy_score), NAN when neither is.
 * n_skipped counts runs with label < 0 or NaN score. */
void dn_classify(const double *score, const int8_t *label, int n, double threshold,
                 dn_classification_t *out);

typedef struct dn_threshold_opts_t {
    int n_grid;      /* thresholds on the grid, >= 1 */
    double lo, hi;   /* grid ends (numpy.linspace(lo, hi, n_grid)) */
    int n_boot;      /* bootstrap resamples, >= 1 (the reference's n_metrics_bootstrap_trials) */
    uint64_t seed;   /* seed of the dn_rng stream drawing the resamples */
    double ba_weight;/* beta of the weighted balanced accuracy (sens + beta spec) / (1 + beta)
                        that is maximised (the reference's ba_weight), finite, >= 0 */
} dn_threshold_opts_t;

/* Fills *o with the SPEC 4 defaults: 1000 thresholds on [-3.25, 7.5], 100
 * resamples, seed 0, ba_weight 1 (plain balanced accuracy). */
void dn_threshold_opts_default(dn_threshold_opts_t *o);

/* SPEC 4 threshold tuning over the n given (historical) runs. Grid
 * T_k = lo + k*step, step = (hi-lo)/(n_grid-1), last = hi exactly (numpy.linspace).
 * n_boot resamples with replacement of size n: indices dn_rng_below(n) from a
 * dn_rng seeded with opts->seed, drawn resample by resample, index by index. Each
 * resample's balanced accuracy (as dn_classify) at each T; *threshold_out gets the
 * T maximising the median over resamples (numpy median), first maximum. A resample
 * that drew no scored run has no balanced accuracy and is left out of the medians.
 * Cost O(n log n) once plus O(n + n_grid) per resample, and n_grid medians of
 * n_boot values. opts NULL means defaults.
 * Returns 0; DN_EINVAL (n < 1, bad options, no run with a label >= 0 and a score;
 * err says which); DN_ENOMEM. */
int dn_threshold_tune(const double *score, const int8_t *label, int n,
                      const dn_threshold_opts_t *opts, double *threshold_out,
                      dn_err_t *err);

/* The threshold scan behind dn_threshold_tune, for its figure (the
 * reference's plot_threshold_opt_results): the same grid, resamples and
 * weighted balanced accuracy. For every grid threshold k, over the resamples:
 * t[k]; sens[3k + 0/1/2], spec[...], wba[...] = the q_lo-th percentile, the
 * median (as numpy.quantile 0.5, what the reference's figure draws; it can
 * differ from numpy.median, which *best uses, in the last bit) and the q_hi-th
 * percentile (numpy.percentile, linear; q in 0..100;
 * resamples without a class skipped for the rates they lack). Any of the
 * outputs [n_grid] / [3 * n_grid] may be NULL; *best gets exactly what
 * dn_threshold_tune gives for the same arguments. Returns as dn_threshold_tune. */
int dn_threshold_scan(const double *score, const int8_t *label, int n,
                      const dn_threshold_opts_t *opts, double q_lo, double q_hi, double *t,
                      double *sens, double *spec, double *wba, double *best, dn_err_t *err);

/* Bootstrap uncertainty of the confusion rates at one threshold: n_boot
 * resamples with replacement of the n runs (dn_rng seeded with seed, index
 * by index), each classified as dn_classify; lo[r] and hi[r] are the q_lo-th
 * and q_hi-th percentiles over resamples of rate r (DN_RATE_*; resamples
 * where a rate is NAN are left out of it). Returns 0; DN_EINVAL (n < 1,
 * n_boot < 1); DN_ENOMEM. */
enum { DN_RATE_BALANCED_ACCURACY, DN_RATE_ACCURACY, DN_RATE_SENSITIVITY, DN_RATE_SPECIFICITY,
       DN_RATE_PRECISION, DN_N_RATES };
int dn_rates_bootstrap(const double *score, const int8_t *label, int n, double threshold,
                       int n_boot, uint64_t seed, double q_lo, double q_hi,
                       double lo[DN_N_RATES], double hi[DN_N_RATES], dn_err_t *err);

/* The reference's adaptivity metrics (metrics.adaptivity_index) over the
 * change points c with from <= c < to (change[c] != 0), in order. Change
 * point k's segment runs to the next change point of that list, or to n for
 * the last (as the reference: the last historical change point's segment
 * runs on into the continual regime). Walking the segment's good runs
 * (label 0, finite score): a run at or below threshold adds to a streak, one
 * above resets it; once the streak reaches patience the segment has
 * converged with recovered height |score[c] - that run's score|; every good
 * run walked before that counts a step. A segment that never converges
 * recovers |score[c] - the segment's last score| (of any label; the last
 * non-NaN one, so that an empty run ending a segment does not make the mean
 * NAN). Index = recovered height /
 * steps, 0 for 0 steps. *nsteps_out and *index_out get the means over change
 * points, NAN when there is none; *n_changes_out (nullable) their number.
 * Returns 0, DN_EINVAL (patience < 1, from/to out of [0, n]). */
int dn_adaptivity(const double *score, const int8_t *label, const uint8_t *change, int n,
                  int from, int to, double threshold, int patience, double *nsteps_out,
                  double *index_out, int *n_changes_out, dn_err_t *err);

/* SPEC 4 adaptation time. change[i] != 0 where a rapid change of mu or sigma
 * starts; only change points at index >= n_hist count. For each, up to the next
 * change point or the end, walk the runs skipping bad (1), unknown (-1) and
 * NaN-score runs: count good runs scored above threshold until the first good run
 * at or below it (a segment that never recovers counts all its good runs above
 * threshold). Returns the mean over change points, NAN when there are none;
 * *n_changes_out (may be NULL) gets their number. */
double dn_adaptation_time(const double *score, const int8_t *label, const uint8_t *change,
                          int n, int n_hist, double threshold, int *n_changes_out);

/* SPEC 4 Jaccard distance over the good runs with index >= n_hist (rows with a
 * NaN in xt, ref_mu or ref_sigma, i.e. empty runs, are skipped).
 * xt: normalised histograms [n*n_bins]; ref_mu, ref_sigma: the reference that
 * scored each run [n*n_bins]; true_mu, true_sigma [n]; label [n]; centres[n_bins]
 * increasing bin centres. Each row v is moved to z-space: z_j = (c_j - mu_i) /
 * sigma_i, p_j = v_j * sigma_i, and interpolated linearly at the points c
 * (numpy.interp: clamped to the end values outside [z_0, z_last]). True band:
 * per-bin median over runs of transformed xt +- per-bin population std; predicted
 * band: per-bin median of transformed ref_mu +- per-bin mean of transformed
 * ref_sigma. JD = 1 - sum_j overlap_j / sum_j union_j with overlap_j =
 * max(0, min(upper) - max(lower)), union_j = max(upper) - min(lower).
 * Returns 0 with *jd_out; DN_EINVAL (no good continual run, n_bins < 1,
 * a non-positive or NaN sigma_i; err says which); DN_ENOMEM. */
int dn_jaccard_distance(const double *xt, const double *ref_mu, const double *ref_sigma,
                        const double *true_mu, const double *true_sigma,
                        const int8_t *label, int n, int n_hist, const double *centres,
                        int n_bins, double *jd_out, dn_err_t *err);

/* dn_jaccard_distance over the good runs with from <= index < to (the
 * historical regime is [0, n_hist), the continual [n_hist, n)), also handing
 * back the bands it compares (the reference's uncertainty-coverage figure):
 * bands[0 .. n_bins) true median, [n_bins .. 2 n_bins) true sigma, then
 * predicted median, predicted sigma (bands nullable). Returns as
 * dn_jaccard_distance (DN_EINVAL also for from/to out of [0, n]). */
int dn_jaccard_bands(const double *xt, const double *ref_mu, const double *ref_sigma,
                     const double *true_mu, const double *true_sigma, const int8_t *label,
                     int n, int from, int to, const double *centres, int n_bins, double *bands,
                     double *jd_out, dn_err_t *err);

/* The q-th percentile (q in 0..100) of v[n] as numpy.percentile with linear
 * interpolation, skipping NaN; NAN when no value is left or q is out of range.
 * Sorts a private copy (NAN if memory runs out). */
double dn_percentile(const double *v, int n, double q);

/* The median of v[n] as numpy.median (mean of the two middle values for even
 * counts), skipping NaN; NAN when empty or out of memory. */
double dn_median(const double *v, int n);

#endif
