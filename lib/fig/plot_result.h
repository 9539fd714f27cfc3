/* plot_result.h: the figures of an evaluation's results, as the reference
 * implementation draws them after scoring a dataset (its plot_utils.py), in
 * the project's style (plot.h: PLplot on cairo, BASE.png and BASE.svg):
 *
 *   - the threshold scan: sensitivity, specificity and the (weighted)
 *     balanced accuracy against the threshold over the historical regime,
 *     each the median over bootstrap resamples with a band, the chosen
 *     threshold marked;
 *   - the score distributions of good and bad runs, historical (dashed) and
 *     continual (filled), the threshold, and the continual confusion matrix;
 *   - the score of every run against its run number, good and bad colours,
 *     the historical regime shaded, the threshold;
 *   - the uncertainty coverage: the true band of the good runs against the
 *     band the references predict, both in z-space, with their Jaccard
 *     distance, for the historical and continual regimes (or the continual
 *     one alone);
 *   - example runs of four categories (good, misclassified good, bad,
 *     misclassified bad): each run's histogram against the reference that
 *     scored it with both bands, and its pulls.
 *
 * Every function checks its input before PLplot sees any of it (PLplot ends
 * the process on some errors) and refuses with DN_EINVAL what it cannot draw:
 * no finite value, empty arrays, sizes that disagree. Drawing errors are
 * plot.h's (DN_ENOTFOUND without the cairo driver, DN_EIO).
 *
 * Thread rules: PLplot keeps global state: draw from one thread at a time.
 * dn_result_pick_examples touches no global state. */
#ifndef DN_PLOT_RESULT_H
#define DN_PLOT_RESULT_H

#include <stdint.h>

#include "error.h"

/* The reference's axis limits for scores (configs.py xllim, xrlim) and the
 * seed of its example choice (results_validation.py). */
#define DN_RESULT_XLO (-3.25)
#define DN_RESULT_XHI 7.5
#define DN_RESULT_EXAMPLE_SEED 22
#define DN_RESULT_EXAMPLES 5

/* The threshold scan (dn_threshold_scan's outputs): n thresholds t[n],
 * increasing; sens, spec, wba [3n]: for threshold k the band's low end, the
 * median and the high end at 3k, 3k+1, 3k+2 (NAN where no resample had the
 * class: left out). best: the chosen threshold (within [t0, t_last]);
 * ba_weight names the curve (1: balanced accuracy); band_q the band's
 * half-width in percentile points (34: 16% .. 84%, the reference's). */
typedef struct dn_plot_scan_t {
    const char *title;
    int n;
    const double *t, *sens, *spec, *wba;
    double best, ba_weight, band_q;
    int n_boot;
} dn_plot_scan_t;

/* Returns 0; DN_EINVAL (n < 2, a NULL array, t not increasing or not finite,
 * a curve without any finite median, best not finite or outside the grid). */
int dn_plot_threshold_scan(const char *base, const dn_plot_scan_t *s, dn_err_t *err);

/* The scores of n runs (labels -1 unknown, 0 good, 1 bad), the first n_hist
 * the historical regime, the rest the continual one; predicted bad when
 * score > threshold. */
typedef struct dn_plot_scores_t {
    const char *title;
    int n, n_hist;
    const int64_t *run;    /* [n] run numbers (scatter's x); NULL: 0 .. n-1 */
    const double *score;   /* [n], NAN: no score (left out) */
    const int8_t *label;   /* [n] */
    double threshold;
    double lo, hi;         /* the score axis (the reference's: DN_RESULT_XLO .. XHI) */
} dn_plot_scores_t;

/* Score distributions: 50 bins on [lo, hi], each class and regime
 * normalised to the runs it has in that range (numpy.histogram, as the
 * reference); runs beyond the range are counted in the legend. The
 * confusion matrix (true good/bad against predicted) counts the continual
 * runs with a label and a score. Returns 0; DN_EINVAL (n < 2, n_hist not in
 * [1, n), NULL arrays, lo >= hi, threshold not finite, no continual run
 * with a label and a finite score). */
int dn_plot_results_hist(const char *base, const dn_plot_scores_t *s, dn_err_t *err);

/* Score against run: the score axis is [lo, hi] widened to the scores seen.
 * Returns as dn_plot_results_hist (no labelled continual run needed; at least
 * one finite score). */
int dn_plot_results_scatter(const char *base, const dn_plot_scores_t *s, dn_err_t *err);

/* The uncertainty coverage (dn_jaccard_bands' outputs): the z points
 * centres[n_bins] (increasing), and per regime (0 historical, 1 continual)
 * bands[r] [4 n_bins] = true median, true sigma, predicted median,
 * predicted sigma, with jd[r] its Jaccard distance. bands[0] NULL (or
 * continual_only): the continual panel alone. */
typedef struct dn_plot_coverage_t {
    const char *title;
    int n_bins;
    const double *centres;
    const double *bands[2];
    double jd[2];
    int continual_only;
} dn_plot_coverage_t;

/* Returns 0; DN_EINVAL (n_bins < 2, centres not increasing, a needed bands
 * array NULL or without a finite value, a sigma negative). */
int dn_plot_uncertainty(const char *base, const dn_plot_coverage_t *u, dn_err_t *err);

/* The example categories, in the reference's order. */
enum { DN_EX_GOOD, DN_EX_MISS_GOOD, DN_EX_BAD, DN_EX_MISS_BAD, DN_EX_N };

/* The reference's example choice: over the n runs with a label (0/1) and a
 * finite score, the categories good (label 0, score <= threshold),
 * misclassified good (0, >), bad (1, >), misclassified bad (1, <=). The
 * number per category is n_max, fewer when a non-empty category is shorter
 * (the smallest non-empty category's count: the reference lowers one N for
 * all; unlike it, an empty category is left empty rather than failing).
 * From a dn_rng seeded with seed, category by category, dn_rng_choose picks
 * that many of the category's runs (in run order). pick [DN_EX_N * n_max]:
 * category c's run indices at c * n_max, -1 past the chosen ones;
 * count[DN_EX_N] (nullable): each category's size. *n_per_out: the number
 * per non-empty category. Returns 0; DN_EINVAL (n < 1, n_max < 1, NULL
 * arrays, threshold not finite, no run in any category); DN_ENOMEM. */
int dn_result_pick_examples(const double *score, const int8_t *label, int n, double threshold,
                            int n_max, uint64_t seed, int *pick, int *count, int *n_per_out,
                            dn_err_t *err);

/* The example grid: rows x DN_EX_N cells; cell (r, c) at k = r DN_EX_N + c
 * holds run[k] (-1: empty cell), its score[k], and [n_bins] rows at k n_bins
 * of data, data_unc (the run normalised and its uncertainty), ref, ref_unc
 * (the reference that scored it) and pulls. edges [n_bins + 1] or NULL (bins
 * numbered). */
typedef struct dn_plot_examples_t {
    const char *title;
    int rows, n_bins;
    const double *edges;
    const int64_t *run;
    const double *score;
    const double *data, *data_unc, *ref, *ref_unc, *pulls;
    double threshold;
} dn_plot_examples_t;

/* Returns 0; DN_EINVAL (rows not in 1 .. 10, n_bins < 1, NULL arrays, edges
 * not increasing, no cell filled, a filled cell without a finite value). */
int dn_plot_examples(const char *base, const dn_plot_examples_t *e, dn_err_t *err);

#endif
