/* figset.h: the figure set of a flagged run, what a shifter opens first:
 *   - its histogram against the reference that scored it: the run's counts
 *     normalised to unit sum with their uncertainties (Poisson, or the
 *     variances of weighted fills), the reference with its +-1 sigma band,
 *     and the pull of every bin underneath (paper Figure 6);
 *   - its place in the score history of its histogram, circled, with the
 *     warning and bad thresholds (Figure 4);
 * each as PNG and SVG. The evaluator service draws one set per worst
 * histogram of a run it flags bad (through a job file and the figure worker,
 * figworker.h); `dinamo report` one per flagged run of an offline
 * evaluation. Both describe the run as it was scored, and this module makes
 * the figures from that description, so the two show the same thing.
 *
 * Thread rules: as plot.h (PLplot keeps global state) when drawing here;
 * saving a job touches no PLplot state. */
#ifndef DN_FIGSET_H
#define DN_FIGSET_H

#include <stdint.h>

#include "error.h"

typedef struct dn_figset_t {
    const char *hist_base;      /* the histogram figure: hist_base.png, .svg */
    const char *history_base;   /* the history figure: history_base.png, .svg */
    const char *title, *history_title;
    int n_bins;
    const double *edges;        /* [n_bins + 1] (2-D: [nx + 1]), or NULL: bins numbered */
    const double *counts;       /* [n_bins] the run's counts as received */
    const double *variances;    /* [n_bins] their variances, or NULL (Poisson) */
    const double *ref_mu;       /* [n_bins] the reference that scored the run */
    const double *ref_sigma;    /* [n_bins] its uncertainty */
    const double *pulls;        /* [n_bins] the pulls the scorer gave the run, or NULL:
                                   computed from the reference (dn_hist_chi2). Given when
                                   they differ from that, as DINAMO-S's debiased pulls
                                   (averages over resamplings) do */
    /* The score history: n_runs runs (run numbers, scores, labels -1 / 0 /
     * 1), mark the index of this run (or -1). n_runs 0: no history figure. */
    int n_runs;
    const int64_t *run;
    const double *score;
    const int8_t *label;
    int mark;
    double warning, threshold;  /* lines of the history (NAN: left out) */
    int n_bins_y;               /* 2-D: bins of y (flattened x outer; maps); 0: 1-D */
    const double *edges_y;      /* 2-D: [n_bins_y + 1] with edges [nx + 1], or NULL */
} dn_figset_t;

/* Makes the figure set: drawn now in this process when jobfile is NULL, else
 * saved to jobfile (dn_plot_job_save) for the figure worker's helper to draw.
 * Returns 0; DN_EINVAL (no bins, a NULL array, a run without entries: nothing
 * to normalise); DN_ENOMEM; the saving's (DN_EIO) or the drawing's errors
 * (plot.h). */
int dn_figset_make(const dn_figset_t *set, const char *jobfile, dn_err_t *err);

#endif
