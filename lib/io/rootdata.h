/* rootdata.h: dinamo's data written as ROOT files (rootwrite.h), for people
 * who live in ROOT and for tests that need multi-run ROOT inputs:
 *
 *   - a dataset as a ROOT dataset directory (`dinamo generate --format
 *     root`): one file per run, DIR/run_000123.root (the run number
 *     zero-padded to six digits, as UHI runs are named), holding the run's
 *     histogram at its key: `synthetic/h0` is the TH1D `h0` in the directory
 *     `synthetic` (the first directory is the subsystem, as the reader's
 *     default rule says; its title is the key), with the dataset's edges and counts, and its
 *     variances as fSumw2 when the dataset has them (else none: ROOT's
 *     variance of an unweighted bin is its count, as ours is). A 2-D
 *     dataset gives TH2D. Beside the files, labels.csv, truth.csv and
 *     meta.json (dataset.h, dn_dataset_write_beside);
 *   - the references that scored runs (`dinamo score --ref-root`, the
 *     evaluator's references.root): per run a directory holding
 *       ref  the reference: bin contents its mean, fSumw2 its sigma^2 (so
 *            ROOT's bin errors are sigma: Draw("E2") is the +-1 sigma band);
 *       obs  the run normalised as it was scored (x / sum x), fSumw2 its
 *            variance (SPEC 2's Poisson rule, or var / sum^2 for weighted
 *            runs), so ROOT's bin errors are its uncertainty;
 *     both TH1D, or TH2D for a 2-D histogram; obs's fEntries is the run's
 *     entries (sum x), ref's the effective entries ROOT's ResetStats gives
 *     (sum mu)^2 / sum sigma^2 (0 when every sigma is 0).
 *
 * The flattened monitored order (x outer, y inner: bin (ix, iy) at ix * ny +
 * iy, runin.h) is mapped to ROOT's cells, so ROOT shows the map the input
 * had. Files are stamped with a fixed time (DN_ROOTDATA_TIME) unless said
 * otherwise, so the same data give the same bytes.
 *
 * Thread rules: no shared state; each call works on its own arguments. */
#ifndef DN_ROOTDATA_H
#define DN_ROOTDATA_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "error.h"
#include "roothist.h"
#include "rootwrite.h"

/* 2000-01-01T00:00:00Z: the time stamped on keys and directories of the
 * files written here unless a caller asks for another. */
#define DN_ROOTDATA_TIME 946684800

/* The key of `dinamo generate --format root`'s histogram: the generator
 * service's histogram 0 (services/generator), subsystem "synthetic". */
#define DN_ROOTDATA_KEY "synthetic/h0"

/* How a monitored row is binned (borrowed pointers). */
typedef struct dn_root_binning_t {
    int n_bins;            /* monitored bins: nx, or nx * ny */
    int n_bins_y;          /* 0: 1-D; > 0: ny, dividing n_bins */
    const double *edges;   /* [nx + 1] strictly increasing */
    const double *edges_y; /* [ny + 1] strictly increasing; NULL for 1-D */
} dn_root_binning_t;

/* The binning of a dataset (pointers into ds). */
void dn_root_binning_of(const dn_dataset_t *ds, dn_root_binning_t *b);

/* "run_000123": the name of run `run`'s file (without ".root") and of its
 * directory in a references file. */
void dn_root_run_name(char *buf, size_t cap, int64_t run);

/* A new TH1D (1-D) or TH2D (2-D) named `name` (title NULL: "") of binning b
 * whose monitored bins are values[n_bins] (flattened, x outer) and, when
 * variances is not NULL, fSumw2 variances[n_bins]; flow bins zero; fEntries
 * `entries`; ROOT's running sums (fTsumw, fTsumw2, fTsumwx, ...) computed
 * from the bins and their centres. *out is the caller's
 * (dn_root_hist_destroy). Returns 0; DN_EINVAL (bad binning: *err says
 * which); DN_ENOMEM. */
int dn_root_hist_from_flat(const dn_root_binning_t *b, const char *name, const char *title,
                           const double *values, const double *variances, double entries,
                           dn_root_hist_t **out, dn_err_t *err);

/* Writes ds as a ROOT dataset directory into dir (made if missing): one
 * file per run (run_%06lld.root) with the histogram at `key` (NULL:
 * DN_ROOTDATA_KEY; "a/b/c" is the histogram c in directory a/b), zlib
 * level 1, stamped DN_ROOTDATA_TIME; then labels.csv, truth.csv, meta.json.
 * Files run_*.root of dir that are not runs of ds (an earlier, longer
 * dataset) are removed, since a reader would take them as runs. Each file
 * is written atomically (a temporary name renamed). Returns 0; DN_EINVAL
 * (an invalid dataset, a key ROOT cannot hold: *err says which); DN_EIO
 * (*err names the file); DN_ENOMEM. */
int dn_dataset_write_root_dir(const dn_dataset_t *ds, const char *dir, const char *key,
                              dn_err_t *err);

/* Adds to w, in directory `dir`, the histograms `ref` and `obs` of one
 * scored run (see above): counts[n_bins] (and variances[n_bins] or NULL)
 * the run as scored, ref_mu and ref_sigma [n_bins] the reference that
 * scored it; run names the run in the titles. Returns 0; DN_EINVAL (a
 * reference value not finite, or a negative sigma: the run was not scored;
 * a directory name the writer refuses); DN_EEMPTY (the run's counts sum to
 * at most DN_EPS: nothing to normalise); DN_ERANGE, DN_ENOMEM (the
 * writer's). Nothing is added on failure. */
int dn_root_add_reference(dn_root_writer_t *w, const char *dir, const dn_root_binning_t *b,
                          int64_t run, const double *counts, const double *variances,
                          const double *ref_mu, const double *ref_sigma, dn_err_t *err);

/* `dinamo score --ref-root`: writes to path (atomically) a directory
 * run_%06lld holding ref and obs for every run of ds with a reference
 * (ref_mu, ref_sigma [n_runs * n_bins] as dn_run_scores_t gives them, a
 * NaN row: not scored, left out), stamped `time` (0: DN_ROOTDATA_TIME).
 * *n_written (nullable) gets the number of runs written. Returns 0 or the
 * writer's error (*err names the file or run). */
int dn_root_write_references(const char *path, const dn_dataset_t *ds, const double *ref_mu,
                             const double *ref_sigma, int64_t time, int *n_written,
                             dn_err_t *err);

#endif
