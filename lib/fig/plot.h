/* plot.h: the figures a shifter looks at, drawn with PLplot (Debian's
 * libplplot with its cairo driver) as PNG and SVG: BASE.png and BASE.svg.
 *
 *   - a histogram against its reference (paper Figure 6): the run's normalised
 *     counts with their uncertainties, the reference with its +-1 sigma band,
 *     and a pull panel underneath with the +-3 lines;
 *   - a score history (Figure 4): the score of every run of a histogram against
 *     its run number, good runs blue, bad red, unlabelled grey, the warning and
 *     bad thresholds as lines and one run marked;
 *   - score distributions per class (Figure 5): histograms of the scores of the
 *     good and of the bad runs, with the threshold.
 *
 * Values are checked before PLplot sees them (PLplot ends the process on some
 * errors): non-finite points are left out, empty inputs refused. PLplot keeps
 * global state: call from one thread at a time. Services draw through a job
 * file and a separate process (dn_plot_job_save, figworker.h). */
#ifndef DN_PLOT_H
#define DN_PLOT_H

#include <stdint.h>

#include "error.h"

typedef struct dn_plot_hist_t {
    const char *title;
    int n_bins;
    const double *edges;    /* [n_bins + 1], or NULL: bins numbered 0 .. n_bins */
    const double *data;     /* [n_bins] normalised counts of the run */
    const double *data_unc; /* [n_bins] their uncertainty, or NULL */
    const double *ref;      /* [n_bins] reference mu */
    const double *ref_unc;  /* [n_bins] reference sigma_mu */
    const double *pulls;    /* [n_bins] */
    /* 2-D (n_bins_y > 0): n_bins = nx * n_bins_y flattened, bin (ix, iy) at
     * ix * n_bins_y + iy; edges then [nx + 1] and edges_y [n_bins_y + 1], both
     * or neither (NULL: bins numbered). Drawn as three maps: the run, the
     * reference (one colour scale), the pulls (diverging, centred on 0). */
    int n_bins_y;
    const double *edges_y;
} dn_plot_hist_t;

/* Figure 6 (a 2-D histogram: maps, see above). Returns 0; DN_EINVAL (no bins,
 * NULL arrays, n_bins_y not dividing n_bins, edges not increasing); DN_ENOTFOUND (PLplot's
 * cairo driver is not installed); DN_EIO (the files cannot be written). */
int dn_plot_histogram(const char *base, const dn_plot_hist_t *h, dn_err_t *err);

/* Figure 4: n runs; label[i] -1 unknown, 0 good, 1 bad; mark: index of the run
 * to circle, or -1; warning/threshold NAN to leave out. Returns as above. */
int dn_plot_history(const char *base, const char *title, int n, const int64_t *run,
                    const double *score, const int8_t *label, double warning,
                    double threshold, int mark, dn_err_t *err);

/* Figure 5: the scores of the runs labelled good and bad (others ignored).
 * Returns as above; DN_EINVAL when no run has a finite score and a label. */
int dn_plot_distributions(const char *base, const char *title, int n, const double *score,
                          const int8_t *label, double threshold, dn_err_t *err);

/* A flagged run's figures as one job: the histogram figure (Figure 6) into
 * hist_base and the score history (Figure 4) into history_base. A service
 * saves the job to a file and has another process draw it (figworker.h):
 * PLplot, cairo and fontconfig then never run inside a service that has
 * ZeroMQ threads (a fork without exec could deadlock on their locks), and a
 * drawing that fails, hangs or ends its process costs one figure, not the
 * service. */
typedef struct dn_plot_job_t {
    const char *hist_base, *history_base;
    dn_plot_hist_t hist;
    const char *history_title;
    int n, mark;
    const int64_t *run;
    const double *score;
    const int8_t *label;
    double warning, threshold;
} dn_plot_job_t;

/* Writes job to path (atomically). Returns 0, DN_EIO, DN_ENOMEM. */
int dn_plot_job_save(const char *path, const dn_plot_job_t *job, dn_err_t *err);

/* Draws both figures of job in this process (the histogram, then the history
 * when job->n > 0). Returns as dn_plot_histogram and dn_plot_history. */
int dn_plot_job_run(const dn_plot_job_t *job, dn_err_t *err);

/* Reads the job at path and draws both figures. Returns 0; DN_EIO; DN_EFORMAT
 * (damaged job file); the drawing's errors. */
int dn_plot_job_run_file(const char *path, dn_err_t *err);

#endif
