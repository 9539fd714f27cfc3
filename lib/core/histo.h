/* histo.h: histogram statistics shared by DINAMO-S and DINAMO-ML (SPEC 2).
 *
 * A histogram is n_bins counts x_j (finite, >= 0). It is normalised to unit sum,
 * xt = x / I with I = sum x, and each normalised bin gets a variance sx2_j: the
 * reference's Poisson rule sx2 = xt/I - xt^2/I (1/I^2 in empty bins), or, when the
 * caller has per-bin count variances (weighted histograms), var/I^2. A histogram
 * is scored against a reference (mu, sigma_mu) by chi2 = sum (xt-mu)^2 /
 * (sx2 + sigma_mu^2) and the anomaly score log(chi2 / n_bins).
 *
 * These are plain kernels: outputs first, no allocation, no global state, so any
 * number of threads may call them on disjoint outputs. Arrays must not overlap
 * unless stated. */
#ifndef DN_HISTO_H
#define DN_HISTO_H

#include <stddef.h>

#include "error.h"

/* The spec's epsilon: a histogram with I <= DN_EPS is empty ("insufficient
 * statistics"), and the EWMA weight of a bin is 1/(sx2 + DN_EPS). */
#define DN_EPS 1e-9

/* Validates counts x[n_bins] and, when var != NULL, per-bin count variances
 * var[n_bins]: every value must be finite and >= 0.
 * Returns 0, or DN_ERANGE with err naming the first bad bin ("bin 17: negative
 * count -3", "bin 4: NaN count", "bin 2: infinite variance"); counts are checked
 * before variances. err may be NULL. */
int dn_hist_check(const double *x, const double *var, int n_bins, dn_err_t *err);

/* Normalises x[n_bins] (valid counts, see dn_hist_check) and returns I = sum x.
 * If I > DN_EPS: xt[n_bins] = x/I and sx2[n_bins] = the per-bin variance of xt:
 *   var == NULL: sx2 = xt/I - xt^2/I, and 1/I^2 where xt == 0 (SPEC 2);
 *   var != NULL: sx2 = var/I^2, and 1/I^2 where var == 0 and x == 0.
 * When I <= DN_EPS the contents of xt and sx2 are unspecified (the caller reports
 * insufficient statistics). xt and sx2 must not overlap x or var.
 * Divisions by I are multiplications by 1/I (within an ulp of numpy's). */
double dn_hist_normalise(double *xt, double *sx2, const double *x, const double *var,
                         int n_bins);

/* chi2 = sum_j (xt_j - mu_j)^2 / (sx2_j + sigma_mu_j^2), returned.
 * pulls[n_bins] (may be NULL) = (xt - mu) / sqrt(sx2 + sigma_mu^2).
 * All arrays [n_bins]; pulls must not overlap the inputs. The summation order is
 * not sequential (several accumulators), so the result may differ from a
 * left-to-right sum in the last bits. */
double dn_hist_chi2(double *pulls, const double *xt, const double *sx2, const double *mu,
                    const double *sigma_mu, int n_bins);

/* The anomaly score log(chi2 / n_bins) (natural log); NAN for NaN chi2. */
double dn_score_from_chi2(double chi2, int n_bins);

/* --- Naming a bin, for people (worst bins in logs, reports, the dashboard). --- */

/* Writes the name of bin `bin` of a histogram of n_bins bins into buf[cap]
 * (always terminated when cap > 0): 1-D (ny == 0) "b17"; 2-D (ny > 0, n_bins
 * flattened x outer, y inner: bin = ix * ny + iy) "bin (ix,iy)", followed by
 * " at (xc, yc)", the bin's x and y centres, when edges ([nx + 1]) and edges_y
 * ([ny + 1]) are both given (NULL: the edges are not known, no centres are
 * made up). Returns the length snprintf would have written. */
int dn_hist_bin_name(char *buf, size_t cap, int bin, int n_bins, int ny, const double *edges,
                     const double *edges_y);

/* Writes the n_worst bins of largest finite |pull| (pulls[n_bins]), largest
 * first, into buf[cap] (always terminated when cap > 0; "" when no pull is
 * finite), each named as dn_hist_bin_name with its pull: 1-D "b17:+8.2
 * b18:-6.1"; 2-D "bin (3,4) at (1.75, -0.5):+8.2; bin (3,5) ...". Entries that
 * do not fit whole are left out. */
void dn_hist_worst_bins(char *buf, size_t cap, const double *pulls, int n_bins, int n_worst,
                        int ny, const double *edges, const double *edges_y);

/* Writes a binning for messages into buf[cap]: "24 bins" (1-D, ny == 0) or
 * "4x6 bins (2-D)" (nx x ny, n_bins = nx * ny). Returns as snprintf. */
int dn_hist_binning_name(char *buf, size_t cap, int n_bins, int ny);

/* --- Building blocks of the above, for the library's fast paths (DINAMO-S, the
 * ML scorer) that fuse normalisation and scoring. Same thread rules. --- */

/* Bins per chunk in the chunked kernels (stack buffers of this many doubles). */
#define DN_HIST_CHUNK 128

/* numpy's pairwise summation of a[0..n) (n >= 0): bit-identical to numpy's
 * `a.sum()` of a contiguous float64 array. */
double dn_pairwise_sum(const double *a, int n);

/* Sum of x[n_bins] as dn_pairwise_sum, with a cheap validity test in the same
 * pass: *bad = 1 when some value is NaN, infinite or negative, or the sum
 * overflows; else 0. */
double dn_hist_sum_checked(const double *x, int n_bins, int *bad);

/* After *bad from dn_hist_sum_checked: DN_ERANGE with err naming the first bad
 * bin (as dn_hist_check), or "counts sum to infinity" when only the sum is. */
int dn_hist_explain_bad(const double *x, const double *var, int n_bins, dn_err_t *err);

/* DN_EEMPTY ("insufficient statistics", err says why) when a histogram of
 * `sum` entries is empty (sum <= DN_EPS) or has fewer than min_entries (a
 * policy's minimum, 0 for none); else 0. */
int dn_hist_insufficient(double sum, double min_entries, dn_err_t *err);

/* The second half of dn_hist_normalise for a known sum = sum x > DN_EPS. */
void dn_hist_normalise_with_sum(double *xt, double *sx2, const double *x,
                                const double *var, double sum, int n_bins);

#endif
