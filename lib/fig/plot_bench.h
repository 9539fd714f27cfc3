/* plot_bench.h: results over many datasets (issue 22), as the reference's
 * aggregation scripts give them: the per-dataset metric rows `dinamo bench`
 * writes (both regimes, the names `dinamo evaluate` uses), their pandas
 * describe() table, the metrics-versus-alpha scan of DINAMO-S, the CSV
 * reader `dinamo report --bench` reads them back with, and its figures.
 *
 *   - the metric columns are results.h's (dn_metric_column_*), the names
 *     `dinamo evaluate` and the reference use;
 *   - dn_describe: pandas DataFrame.describe with the reference's percentiles
 *     (1, 2 and 3 sigma of a normal, and 2.5/5/25/75/95/97.5%), NaN skipped;
 *   - the CSV files are read back with lib/io/btable.h;
 *   - dn_plot_bench_pair / _alpha: the figures (PNG and SVG, plot.h).
 *
 * Thread rules: dn_describe keeps no global state;
 * dn_bench_alpha_scan may run on several threads on different datasets;
 * figures one at a time (PLplot, plot.h). */
#ifndef DN_PLOT_BENCH_H
#define DN_PLOT_BENCH_H

#include <stddef.h>

#include "dataset.h"
#include "error.h"
#include "btable.h"
#include "evaluate.h"
#include "results.h"

/* ---- describe ----------------------------------------------------------------------- */

enum { DN_DESCRIBE_N = 18 };

/* Row k's label (count, mean, std, min, 0.1%, 2.3%, 2.5%, 5%, 15.9%, 25%,
 * 50%, 75%, 84.1%, 95%, 97.5%, 97.7%, 99.9%, max: pandas' order), NULL out
 * of range. */
const char *dn_describe_label(int k);

/* pandas' describe of v[n] with the percentiles above: NaN left out; count
 * of the rest, mean, std (ddof 1; NAN below 2 values), min, numpy linear
 * percentiles (the sigma ones at the exact normal probabilities, e.g.
 * Phi(-1) = 0.15865..., labelled 15.9% as pandas does), max; all but count
 * NAN when nothing is left. Returns 0, DN_ENOMEM. */
int dn_describe(const double *v, int n, double out[DN_DESCRIBE_N], dn_err_t *err);

/* ---- the alpha scan ----------------------------------------------------------------- */

/* The reference's metrics-vs-alpha scan on one dataset: DINAMO-S evaluated
 * (dn_evaluate) with opts->alpha = alpha[k] for each k < n_alpha, the
 * threshold tuned on the historical regime for each (unless opts->threshold
 * is a number), into out[k]. Returns 0 or dn_evaluate's error (err names the
 * alpha); DN_EINVAL for ML or an alpha outside [0, 1). */
int dn_bench_alpha_scan(const dn_dataset_t *ds, const dn_eval_opts_t *opts, int n_alpha,
                        const double *alpha, dn_eval_result_t *out, dn_err_t *err);

/* ---- figures ------------------------------------------------------------------------ */

/* Two distributions of one metric over datasets (the reference's integrated
 * results and approach comparison): a[na] and b[nb] (NaN left out) as
 * step histograms of 39 equal bins between the 0.1% and 99.9% percentiles
 * of both (clamped to [0, 1] when unit), each normalised to its total, with
 * its median as a dashed line; the text gives each one's dataset count,
 * median and 95% interval (2.5%, 97.5%). Returns 0, DN_EINVAL (neither has a
 * value), the drawing's errors (plot.h). */
int dn_plot_bench_pair(const char *base, const char *title, const char *xlabel,
                       const char *label_a, const double *a, int na, const char *label_b,
                       const double *b, int nb, int unit, dn_err_t *err);

/* Metrics against alpha (the reference's metrics-vs-alpha figure): three
 * panels sharing the alpha axis, panel p the mean[p][n] line with its
 * mean +- std[p][n] band, named name[p] (points with a non-finite mean or
 * std left out). Returns 0, DN_EINVAL (n < 2 or no finite mean), the drawing's. */
int dn_plot_bench_alpha(const char *base, const char *title, int n, const double *alpha,
                        const char *const name[3], const double *const mean[3],
                        const double *const std[3], dn_err_t *err);

#endif
