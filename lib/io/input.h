/* input.h: every input format the offline tool and the feed service read, and
 * labels that come separately.
 *
 * `--in PATH` names one of:
 *   - a dataset directory (holds runs.csv; dataset.h);
 *   - a directory of UHI JSON run files (*.json; uhi.h), ordered by run number;
 *   - an .npz dataset of the Python reference implementation (npz.h);
 *   - a runs CSV file (`run,label,b0,...` or `run,b0,...`);
 *   - a ROOT file (*.root: one run) or a directory of ROOT files (holding
 *     *.root and no *.json), one run per file (rootrun.h), ordered by run
 *     number.
 * The kind is decided by what the path is, not by guessing from content: a
 * directory with runs.csv is a dataset, else with *.json files UHI runs,
 * else with *.root files ROOT runs.
 *
 * A UHI or ROOT directory becomes the dataset of one histogram key: the one
 * given, or the only key the runs have. Files or histograms that cannot be
 * used (bad JSON, a ROOT file that does not open, unknown axis or storage
 * type, objects that are not histograms, wrong lengths, NaN or negative
 * counts, binning or storage kind different from the first run's, the key
 * missing, a run number seen before) are reported through opts->warn, one
 * message naming the file and histogram each, and left out; the rest goes on.
 * A 2-D histogram becomes a 2-D dataset (dataset.h: flattened x outer, y
 * inner; dn_dataset_set_2d) with its x and y edges.
 *
 * A labels file is CSV with header `run,label`; label good, bad, 0, 1 or empty.
 * Its labels replace the input's for the runs it names. A UHI or ROOT
 * directory written by `dinamo generate` keeps labels.csv and truth.csv
 * beside its run files: labels.csv is applied when no labels file is given,
 * truth.csv's rows are matched to the runs by run number (dataset.h,
 * dn_truth_read_by_run) and used when every run has one.
 *
 * Thread rules: no shared state; call from any thread (warn is called from the
 * calling thread). */
#ifndef DN_INPUT_H
#define DN_INPUT_H

#include <stdint.h>

#include "dataset.h"
#include "error.h"

typedef enum {
    DN_INPUT_DATASET_DIR = 0,
    DN_INPUT_UHI_DIR,
    DN_INPUT_NPZ,
    DN_INPUT_RUNS_CSV,
    DN_INPUT_ROOT,          /* a .root file or a directory of them */
} dn_input_kind_t;

typedef struct dn_input_opts_t {
    const char *key;         /* UHI, ROOT: the histogram to take; NULL: the only one */
    const char *labels_path; /* labels CSV applied on top, or NULL */
    void (*warn)(void *ctx, const char *msg); /* nullable: skipped files/histograms */
    void *warn_ctx;
} dn_input_opts_t;

/* What `path` is. Returns 0; DN_EIO (no such path, err says why); DN_EFORMAT
 * (a directory with neither runs.csv nor *.json nor *.root files). */
int dn_input_kind(const char *path, dn_input_kind_t *kind, dn_err_t *err);

/* Reads `path` (any kind) into a new dataset the caller owns, then applies
 * opts->labels_path. opts may be NULL. *n_skipped (nullable) receives the number
 * of warnings. Returns 0 or the reader's error (dataset.h, npz.h; DN_EFORMAT
 * for a UHI or ROOT input with no usable run, several keys and no opts->key, or a
 * key no run has; DN_ENOMEM). */
int dn_input_read_dataset(const char *path, const dn_input_opts_t *opts,
                          dn_dataset_t **out, int *n_skipped, dn_err_t *err);

/* The *.json files of dir (full paths, sorted by name) into a new array of
 * *n strings (caller frees each and the array). Returns 0, DN_EIO, DN_ENOMEM. */
int dn_uhi_dir_list(const char *dir, char ***paths, int *n, dn_err_t *err);

/* Applies labels to ds by run number. *n_unknown (nullable) gets the number of
 * labelled runs that ds does not have. */
void dn_labels_apply(dn_dataset_t *ds, const int64_t *runs, const int8_t *labels, int n,
                     int *n_unknown);

#endif
