/* eda.h: the numbers behind the plots of a dataset (`dinamo report --dataset`),
 * the reference's exploratory data analysis (its eda_processing):
 *
 *   - the class counts (good, bad, unlabelled runs);
 *   - the run-statistics histograms: the entries of each run (the sum of its
 *     counts, after the systematic distortion and the dead bins, as the
 *     reference's I) in the reference's bins, one histogram per class;
 *   - the uncertainty visualisation: every good run z-score transformed with
 *     its true mu and sigma (bin centres c -> (c - mu) / sigma, the counts made
 *     a density on the new axis), interpolated back onto the bin centres, and
 *     per bin the median over the runs, their standard deviation (the full
 *     uncertainty) and the Poisson term sqrt(median / mean entries) (the
 *     statistical one); what the full exceeds the statistical by is the
 *     systematic part the figure shows.
 *
 * The reference's uncertainty figure loads the generator's systematic addition
 * (x_add) but never uses it: its statistical term is the Poisson term above,
 * computed from the median and the mean entries, and so is ours; our datasets
 * do not keep x_add.
 *
 * Thread rules: every function is reentrant; the inputs are only read. */
#ifndef DN_EDA_H
#define DN_EDA_H

#include <stdint.h>

#include "dataset.h"
#include "error.h"

typedef struct dn_eda_classes_t {
    int good, bad, unlabelled;
} dn_eda_classes_t;

/* Counts the labels (0 good, 1 bad, anything else unlabelled) of n runs into
 * *out. Returns 0, or DN_EINVAL (n < 0, NULL pointers with n > 0). */
int dn_eda_classes(const int8_t *label, int n, dn_eda_classes_t *out, dn_err_t *err);

/* The reference's bins of run statistics: edges min, min + step, ... below
 * max + 1 with step = (max - min) / 50 rounded down, so about 50 bins; the
 * reference's step is 0 (and numpy fails) when max - min < 50: ours is then 1. */
#define DN_EDA_STAT_EDGES_MAX 128

typedef struct dn_eda_stats_t {
    int n_bins;                             /* edges: n_bins + 1 */
    double edges[DN_EDA_STAT_EDGES_MAX];
    double count[3][DN_EDA_STAT_EDGES_MAX]; /* [good, bad, unlabelled][bin] */
    double min_entries, max_entries;
} dn_eda_stats_t;

/* The entries of run i (entries[i], the sum of its counts) histogrammed per
 * class as numpy.histogram does with the bins above: bins half-open but the
 * last closed, values beyond the last edge left out. Returns 0, or DN_EINVAL
 * (n < 1, NULL pointers, an entry not finite or negative). */
int dn_eda_run_stats(const double *entries, const int8_t *label, int n, dn_eda_stats_t *out,
                     dn_err_t *err);

/* The entries of every run of ds (the sum of its counts) into entries[n_runs]. */
void dn_eda_entries(const dn_dataset_t *ds, double *entries);

/* The uncertainty visualisation of ds's good runs (label 0) on its bin
 * centres: centers, median, full_sigma, stat_sigma each [ds->n_bins];
 * *n_good the runs used. The transform, interpolation (numpy.interp: the end
 * values held beyond the ends), median (the mean of the two middle values for
 * an even count) and standard deviation (population, ddof 0) follow the
 * reference's z_score_transform_for_hists, unify_binning and eda_processing.
 * Good runs without entries are left out (the reference would divide by 0).
 * Allocates a scratch matrix of n_good x n_bins doubles.
 * Returns 0; DN_EINVAL (no truth, 2-D, placeholder edges, a good run's sigma
 * not > 0 or mu not finite, no good run with entries); DN_ENOMEM. */
int dn_eda_unc_vis(const dn_dataset_t *ds, double *centers, double *median,
                   double *full_sigma, double *stat_sigma, int *n_good, dn_err_t *err);

#endif
