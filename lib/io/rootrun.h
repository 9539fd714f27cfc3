/* rootrun.h: one ROOT file as one run (runin.h): what the feed publishes,
 * `dinamo score --in DIR` scores and `dinamo inspect` prints from a ROOT
 * file, by one set of rules.
 *
 *   - every TH1C/S/I/F/D and TH2C/S/I/F/D key becomes a dn_histin_t: key and
 *     subsystem by rootname.h (the CMS DQM layout, else the path), the
 *     monitored bins without flow bins, fSumw2 as the variances only when
 *     the histogram stores them (else NULL: Poisson), the x edges and, for
 *     2-D, n_bins_y and the y edges, the bins flattened x outer / y inner
 *     (bin (ix, iy) at ix * ny + iy; roothist.h, dn_root_hist_inner);
 *   - every other object (profiles, trees, graphs, 3-D histograms...), every
 *     key that cannot be read, every directory that cannot be listed, and
 *     every histogram breaking runin.h's rules (a NaN, infinite or negative
 *     count or variance) is left out with one problem naming the file, the
 *     key and the reason; the rest goes on;
 *   - the run of a file is the N of its DQMData/Run N folder (the first in
 *     file order), else the last group of digits of the file's name
 *     (run_000123.root -> 123). A histogram in another DQMData/Run M folder
 *     of the same file is left out (one file is one run); histograms
 *     outside the layout belong to the file's run. Two paths that name the
 *     same key (DQMData/Run 1/A/Run summary/h and DQMData/Run 1/A/h) keep the
 *     first; the second is a problem.
 *
 * Thread rules: no shared state; a dn_root_file_t is used by one thread at a
 * time (rootfile.h). */
#ifndef DN_ROOTRUN_H
#define DN_ROOTRUN_H

#include <stdint.h>

#include "error.h"
#include "rootfile.h"
#include "runin.h"

typedef struct dn_root_run_opts_t {
    const char *subsystem; /* every histogram's subsystem, or NULL: from the path */
    const char *key;       /* only the histogram of this key (as named), or NULL: all */
} dn_root_run_opts_t;

/* What one key (or one unreadable directory) of a file gave. */
typedef struct dn_root_item_t {
    const dn_root_key_t *key; /* the key (owned by the file); NULL for a directory problem */
    dn_histin_t *hist;        /* the histogram as monitored, or NULL when left out */
    int64_t run;              /* hist: its run by rootname.h (the layout, else the */
    int has_run;              /*   file name); has_run 0 when neither gives one */
    int from_layout;          /* hist: run came from DQMData/Run N */
    double entries;           /* hist: fEntries */
    const char *problem;      /* left out: "x.root: key \"a/p;1\" (TProfile): a profile: ..." */
    int not_histogram;        /* left out as an object that is not a TH1/TH2 (no error) */
} dn_root_item_t;

/* Visits what file f holds, in file order: first one item per directory
 * that could not be listed, then one per key (only the key opts->key when
 * given; opts may be NULL). The item and its strings live until visit
 * returns; visit may take hist's arrays and strings (setting the pointers
 * to NULL), what is left is freed after it. A non-zero return from visit
 * stops the walk and is returned. Returns 0, visit's value, or DN_ENOMEM
 * (*err). */
int dn_root_run_each(dn_root_file_t *f, const dn_root_run_opts_t *opts,
                     int (*visit)(void *ctx, const dn_root_item_t *item), void *ctx,
                     dn_err_t *err);

/* The run of the open file f: a new dn_runin_t *out the caller owns
 * (dn_runin_destroy), source the file's name, label unknown, time NAN, its
 * histograms in file order and a problem for everything left out (it may
 * hold no histogram). Returns 0; DN_EFORMAT (no run number: no DQMData/Run
 * N folder and no digits in the file name); DN_ERANGE (the file name's run
 * beyond int64); DN_ENOMEM. *err names the file. */
int dn_root_run_from_file(dn_root_file_t *f, const dn_root_run_opts_t *opts, dn_runin_t **out,
                          dn_err_t *err);

/* Same for the ROOT file at path, opened and closed here. Returns as above,
 * and as dn_root_file_open (DN_EIO, DN_EFORMAT: a file that does not open,
 * truncated or still being written). */
int dn_root_run_read(const char *path, const dn_root_run_opts_t *opts, dn_runin_t **out,
                     dn_err_t *err);

#endif
