/* dataset.h: a sequence of runs of one histogram, with labels and (for synthetic
 * data) the generator's ground truth, and its on-disk directory format.
 *
 * A dataset directory holds:
 *   runs.csv   header `run,label,b0,...,b{N_b-1}`; one row per run in time order;
 *              label 0 good, 1 bad, empty when unknown; counts non-negative numbers.
 *              Without labels the label column may also be left out (`run,b0,...`).
 *   truth.csv  optional; columns found by their header names, in any order:
 *              run, mu, sigma, rapid_change required; rapid_mu and rapid_sigma
 *              (both or neither; rapid_change = rapid_mu || rapid_sigma), events
 *              and dead_bins optional; slow_kind, slow_size and slow_bad
 *              optional (all three or none: the slow-anomaly truth); a column
 *              of any other name is ignored. dn_dataset_write_dir writes
 *              `run,mu,sigma,rapid_change` and, of the optional ones, those
 *              the dataset knows.
 *   meta.json  optional; {"bin_edges": [...], ...}: the bin edges and whatever the
 *              producer adds (the generator writes its parameters and seed).
 *
 * A dataset of a 2-D histogram (n_bins_y > 0) holds each run flattened as
 * runin.h says: nx = n_bins / n_bins_y, bin (ix, iy) at ix * n_bins_y + iy;
 * edges then holds the nx + 1 edges of x (the rest of its n_bins + 1 values
 * unused) and edges_y the n_bins_y + 1 edges of y.
 *
 * edges_known says whether the edges came from the input (meta.json, UHI or
 * ROOT axes, the generator) or are the placeholder numbering 0, 1, ..., which
 * must never be used as x values (Jaccard distance, figure axes in units).
 *
 * The struct is plain data (like llm.c's): fields are public, arrays are owned by
 * the dataset and freed by dn_dataset_destroy(). Invariants: n_runs >= 0,
 * n_bins >= 1, counts holds n_runs*n_bins finite non-negative values (readers
 * reject anything else), variances (when set) the same, edges holds n_bins+1
 * strictly increasing values, labels
 * are -1 (unknown), 0 (good) or 1 (bad). Truth arrays are all NULL or all set;
 * the slow-anomaly truth (slow_kind, slow_size, slow_bad) is a group of its
 * own, all NULL or all set, and set only with the other truth. In it, a run
 * with slow_kind 0 has slow_size 0 and slow_bad 0, slow_size is finite >= 0,
 * and a run with slow_bad 1 is not labelled good.
 *
 * Truth a truth.csv did not give is marked, never made up (and never written
 * back): without rapid_mu and rapid_sigma, rapid_split_known is 0 and each run
 * holds rapid_mu = rapid_change, rapid_sigma = 0, so rapid_mu || rapid_sigma
 * (all the evaluation uses) is the given rapid_change; events and dead_bins
 * are -1 in each run where they are unknown (the column is missing or the
 * field empty), so a consumer must check for >= 0 before using them.
 *
 * Thread rules: a dataset is not synchronised; concurrent readers are fine. */
#ifndef DN_DATASET_H
#define DN_DATASET_H

#include <stdint.h>

#include "error.h"

typedef struct dn_dataset_t {
    int n_runs;
    int n_bins;
    double *edges;       /* [n_bins + 1] bin edges (2-D: [nx + 1] of x used) */
    int edges_known;     /* 1: edges from the input; 0: placeholder 0..n_bins */
    int n_bins_y;        /* 0: 1-D; > 0: 2-D, ny bins of y (see above) */
    double *edges_y;     /* 2-D: [n_bins_y + 1] edges of y; 1-D: NULL */
    int64_t *run;        /* [n_runs] run numbers as in runs.csv */
    int8_t *label;       /* [n_runs] -1 unknown, 0 good, 1 bad */
    double *counts;      /* [n_runs * n_bins] row-major bin counts */
    double *variances;   /* [n_runs * n_bins] per-bin count variances (weighted
                            fills), or NULL: Poisson (variance = count) */
    /* ground truth: NULL when the dataset has none */
    double *true_mu;     /* [n_runs] mean of the generating Gaussian */
    double *true_sigma;  /* [n_runs] its width */
    uint8_t *rapid_mu;   /* [n_runs] 1 where a rapid change of mu starts */
    uint8_t *rapid_sigma;/* [n_runs] 1 where a rapid change of sigma starts */
    int rapid_split_known; /* 1: rapid_mu/rapid_sigma as given; 0: only their OR
                              known, held in rapid_mu (rapid_sigma all 0) */
    int32_t *events;     /* [n_runs] I0: events drawn before binning; -1 unknown */
    int32_t *dead_bins;  /* [n_runs] dead bins set to zero (0 for good runs);
                            -1 unknown */
    /* slow-anomaly truth (generator.h dn_generate_slow): NULL unless given */
    uint8_t *slow_kind;  /* [n_runs] 0 none, 1 efficiency, 2 width, 3 mean */
    double *slow_size;   /* [n_runs] the defect's size at the run, in its kind's
                            unit (fraction lost, sigma added, |mu shift|); 0: none */
    uint8_t *slow_bad;   /* [n_runs] 1: bad because the slow defect passed its
                            tolerance (0 also for runs bad only otherwise) */
    char *meta_extra;    /* JSON members (no braces) added to meta.json, or NULL */
} dn_dataset_t;

/* Allocates a dataset of n_runs x n_bins, zero-filled, labels -1, edges equal
 * bins on [0, n_bins] (edges_known 0). with_truth != 0 also allocates the
 * truth arrays, zero-filled, rapid_split_known 1.
 * Returns NULL on failure (bad dimensions or memory). Caller owns the result. */
dn_dataset_t *dn_dataset_new(int n_runs, int n_bins, int with_truth);

/* Allocates ds's truth arrays, zero-filled with rapid_split_known 1, when it
 * has none (all or none: on failure they stay NULL). Returns 0 or DN_ENOMEM. */
int dn_dataset_alloc_truth(dn_dataset_t *ds);

/* Allocates ds's slow-anomaly truth arrays, zero-filled, unless it has all
 * three (a partial group is freed first; on failure all are NULL).
 * Returns 0 or DN_ENOMEM. */
int dn_dataset_alloc_slow(dn_dataset_t *ds);

/* Frees ds's slow-anomaly truth arrays and sets them to NULL. */
void dn_dataset_free_slow(dn_dataset_t *ds);

/* Makes ds 2-D with ny bins of y (ny must divide n_bins): edges_y becomes
 * 0, 1, ..., ny and edges 0, 1, ..., nx (edges_known 0); the caller overwrites
 * both when the input gives edges. Returns 0, DN_EINVAL (ny does not divide
 * n_bins, or ny < 1), DN_ENOMEM. */
int dn_dataset_set_2d(dn_dataset_t *ds, int ny);

/* Number of bins of x: n_bins for 1-D, n_bins / n_bins_y for 2-D. */
static inline int dn_dataset_nx(const dn_dataset_t *ds)
{
    return ds->n_bins_y > 0 ? ds->n_bins / ds->n_bins_y : ds->n_bins;
}

/* Frees *self_p and everything it owns; accepts NULL and *self_p == NULL;
 * sets *self_p to NULL. */
void dn_dataset_destroy(dn_dataset_t **self_p);

/* Row of run i (0-based position, not run number). */
static inline const double *dn_dataset_row(const dn_dataset_t *ds, int i)
{
    return ds->counts + (int64_t)i * ds->n_bins;
}

/* Writes runs.csv, truth.csv (when the dataset has truth) and meta.json into
 * `dir` (created if missing). Each file is written to a temporary name and renamed,
 * so a failure never leaves a half-written file. Returns 0, DN_EIO or DN_EINVAL;
 * details in *err. */
int dn_dataset_write_dir(const dn_dataset_t *ds, const char *dir, dn_err_t *err);

/* What a dataset directory holds beside runs written in another format (a
 * ROOT file per run, rootdata.h): labels.csv (`run,label`, label good, bad or
 * empty: what dn_labels_read_csv and `--labels` read), truth.csv (when the
 * dataset has truth, else a stale one removed) and meta.json, as
 * dn_dataset_write_dir writes them; no runs.csv. Per-bin variances are
 * allowed (the run files hold them). Returns as dn_dataset_write_dir. */
int dn_dataset_write_beside(const dn_dataset_t *ds, const char *dir, dn_err_t *err);

/* Reads a dataset directory (runs.csv required; truth.csv and meta.json used when
 * present and consistent). On success *out is a new dataset the caller owns;
 * without meta.json bin_edges its edges are the placeholder numbering
 * (edges_known 0). Returns 0, DN_EIO, DN_EFORMAT (syntax, wrong column count,
 * a required truth column missing or a column twice, inconsistent files),
 * DN_ERANGE (NaN, infinite or negative count, label not 0/1/empty) or DN_ENOMEM;
 * *err names file, line and problem. */
int dn_dataset_read_dir(const char *dir, dn_dataset_t **out, dn_err_t *err);

/* Reads a runs CSV file alone (same format as runs.csv). Returns as above. */
int dn_dataset_read_runs_csv(const char *path, dn_dataset_t **out, dn_err_t *err);

/* Reads a truth.csv (columns by header name, as in a dataset directory)
 * whose runs are matched to ds's by run number, both in increasing order
 * (a directory of run files may have lost some runs; truth.csv may hold
 * more). When every run of ds has a row, the truth arrays of ds are set
 * (allocated when NULL) and *n_missing is 0; otherwise ds is unchanged and
 * *n_missing says how many runs have no row. Returns 0; DN_EIO; DN_EFORMAT or
 * DN_ERANGE naming line and column; DN_ENOMEM. */
int dn_truth_read_by_run(const char *path, dn_dataset_t *ds, int *n_missing, dn_err_t *err);

/* Reads a labels CSV (header `run,label`; label good, bad, 0, 1 or empty): *runs
 * and *labels (-1, 0, 1) become new arrays of *n entries the caller frees.
 * Returns 0; DN_EIO; DN_EFORMAT or DN_ERANGE naming line and column; DN_ENOMEM. */
int dn_labels_read_csv(const char *path, int64_t **runs, int8_t **labels, int *n,
                       dn_err_t *err);

#endif
