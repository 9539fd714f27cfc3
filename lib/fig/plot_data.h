/* plot_data.h: the figures of a dataset (`dinamo report --dataset`), the
 * reference's exploratory plots, drawn with PLplot/cairo as PNG and SVG
 * (BASE.png, BASE.svg) in the project's style (plot.h), good runs in the
 * reference's blue (#1C6AB0), bad in its red (#C3161B):
 *
 *   - class ratio: a bar per class (unlabelled runs, when any, a grey one);
 *   - run statistics: the entries per run, a filled step histogram per class;
 *   - uncertainty visualisation: the median of the z-score transformed good
 *     runs, the full spread (+-sigma, dashed, blue band) and the Poisson term
 *     (+-sigma_stat, grey band) about it (eda.h);
 *   - a quantity per run (dead bins, the true mu, the true sigma) against the
 *     run index, good and bad, the historical regime shaded, a nominal value
 *     as a line and the starts of rapid changes as vertical lines;
 *   - the six as one 2 x 3 page; a panel without its input says so.
 *
 * Every input is checked before PLplot sees any of it (PLplot ends the
 * process on some errors): NaN or infinite values, empty inputs, sizes that
 * disagree are refused with DN_EINVAL and no file is written. PLplot keeps
 * global state: call from one thread at a time. */
#ifndef DN_PLOT_DATA_H
#define DN_PLOT_DATA_H

#include <stdint.h>

#include "eda.h"
#include "error.h"

/* The uncertainty visualisation's curves (dn_eda_unc_vis), on n points. */
typedef struct dn_plot_unc_t {
    int n;
    const double *x;          /* [n] increasing: the bin centres */
    const double *median;     /* [n] */
    const double *full_sigma; /* [n] >= 0 */
    const double *stat_sigma; /* [n] >= 0 */
    int n_good;               /* runs it was made of (for the legend) */
} dn_plot_unc_t;

/* A quantity per run, drawn against the run index 0 .. n-1. */
typedef struct dn_plot_runs_t {
    const char *title;
    const char *ylabel;
    int n;
    const double *value;    /* [n] finite */
    const int8_t *label;    /* [n] 0 good, 1 bad, else unlabelled (grey) */
    int n_hist;             /* runs [0, n_hist) shaded as the historical regime; 0: none */
    double nominal;         /* a horizontal line there; NAN: none */
    const uint8_t *change;  /* [n] 1 where a rapid change starts (a vertical line), or NULL */
    const char *change_name;/* its legend text ("rapid change of #gm"), with change */
    double ylo, yhi;        /* the range at least (widened to the values); NAN: the values' */
} dn_plot_runs_t;

/* Returns 0; DN_EINVAL (no runs in any class, a count negative or not
 * finite); DN_ENOTFOUND (no cairo driver); DN_EIO. */
int dn_plot_class_ratio(const char *base, const char *title, const dn_eda_classes_t *c,
                        dn_err_t *err);

/* Returns as above; DN_EINVAL also for n_bins out of [1, DN_EDA_STAT_EDGES_MAX),
 * edges not finite and increasing, or no run in any bin. */
int dn_plot_run_stats(const char *base, const char *title, const dn_eda_stats_t *s,
                      dn_err_t *err);

/* Returns as above; DN_EINVAL for n < 2, NULL arrays, a value not finite,
 * x not increasing, a sigma < 0. */
int dn_plot_unc_vis(const char *base, const char *title, const dn_plot_unc_t *u,
                    dn_err_t *err);

/* Returns as above; DN_EINVAL for n < 1, NULL value or label, a value not
 * finite, n_hist outside [0, n], change without change_name, ylo >= yhi. */
int dn_plot_runs(const char *base, const dn_plot_runs_t *r, dn_err_t *err);

/* The combined page; a NULL member is a panel that says its input is
 * missing (with `missing` as the reason when given). */
typedef struct dn_plot_eda_t {
    const char *title;
    const char *missing; /* why absent panels are absent, or NULL */
    const dn_eda_classes_t *classes;
    const dn_eda_stats_t *stats;
    const dn_plot_unc_t *unc;
    const dn_plot_runs_t *dead, *mu, *sigma;
} dn_plot_eda_t;

/* Returns as above: each present member checked as its own figure's; DN_EINVAL
 * also when nothing is present or the per-run members disagree in n. */
int dn_plot_eda(const char *base, const dn_plot_eda_t *e, dn_err_t *err);

#endif
