/* detail.h: what the dashboard keeps on disk: the model's summary, so a
 * restart serves everything judged so far, and each run's detail (its
 * histograms, both methods' scores with pulls, references and their
 * uncertainties, its labels), so a run page draws what scored it.
 *
 * An LMDB environment of its own (<data_dir>/dashboard/detail, not the node's
 * store: HTTP threads read it while the node thread writes, under this
 * object's mutex, which store.h's one-thread-at-a-time rule asks for).
 * Tables:
 *   key     k (4 BE)               -> name, subsystem, n_bins, [n_bins_y: once a
 *                                     run fixed the key's shape; 0: 1-D]
 *   thr     k (4 BE) | method (1)  -> bad, warning, historical runs, origin
 *   runs    seq (8 BE)             -> run number, time, label shown, detail
 *                                     flag, and per histogram its key and cell
 *   meta    "stream" / "ended"
 *   hist    seq | k                -> Histogram (protobuf, as the run gave it)
 *   score   seq | k | method       -> Score (protobuf, as the scorer gave it)
 *   label   seq | events offset    -> Label (protobuf, as the log holds it)
 * Every row is keyed by what it describes, so writing an entry's rows twice
 * (a redelivery after a restart) leaves the same rows.
 *
 * Writes are staged in a batch by the node thread and applied by
 * dash_detail_commit() before the node commits its followers' positions: a
 * crash between the two redelivers entries whose rows are already there.
 *
 * Retention: the detail rows of a run (hist, score, label) are deleted
 * `detail_runs` runs after it, or `detail_flagged_runs` after it when a
 * method judged it warning or bad or a person labelled it; the summary rows
 * stay, so the lists and histories cover every run ever seen. Disk then grows
 * by ~30 bytes per (run, histogram) beyond the windows.
 *
 * Thread rules: staging, commit, load and prune from the node thread; the
 * read functions from any thread. Ownership: returned protobuf messages are
 * the caller's (free with the protobuf-c free_unpacked functions). */
#ifndef DASH_DETAIL_H
#define DASH_DETAIL_H

#include <stdint.h>

#include "error.h"
#include "model.h"
#include "msg.h"

typedef struct dash_detail_t dash_detail_t;

/* Opens (creating) the environment in dir. NULL with *err set (the store's
 * errors). */
dash_detail_t *dash_detail_open(const char *dir, int detail_runs, int detail_flagged_runs,
                                dn_err_t *err);
void dash_detail_destroy(dash_detail_t **self_p);

/* Reads every summary row into m (an empty model) and settles it. Returns 0,
 * DN_EFORMAT naming the damaged row, DN_EIO, DN_ENOMEM. */
int dash_detail_load(dash_detail_t *self, dash_model_t *m, dn_err_t *err);

/* The summary tables, in the order a load reads them. */
typedef enum dash_row_t { DASH_ROW_KEY, DASH_ROW_THR, DASH_ROW_RUN, DASH_ROW_META,
                          DASH_ROW_TABLES } dash_row_t;

/* Applies one stored summary row of table to m as a load does (keys must
 * come in index order, before the rows naming them). Pure: no store, so a
 * damaged row can be tried alone (fuzz/fuzz_detail.c). Returns 0, DN_EFORMAT
 * naming the table and what is wrong, DN_ENOMEM, DN_EINVAL (no such table). */
int dash_detail_row(dash_model_t *m, dash_row_t table, const void *key, size_t klen,
                    const void *val, size_t vlen, dn_err_t *err);

/* Staging (node thread). Each returns 0, DN_ENOMEM, DN_EINVAL. */
int dash_detail_stage_hist(dash_detail_t *self, uint64_t seq, int k, const Dinamo__Histogram *h);
int dash_detail_stage_score(dash_detail_t *self, uint64_t seq, int k, int me,
                            const Dinamo__Score *s);
int dash_detail_stage_label(dash_detail_t *self, uint64_t seq, uint64_t offset,
                            const Dinamo__Label *l);
/* The summary rows the model changed: new keys, thresholds of key k (me),
 * run seq, the stream's meta. */
int dash_detail_stage_keys(dash_detail_t *self, const dash_model_t *m);
/* Key k's row again, once a run fixed its shape (nothing when its row is
 * still to come with the new keys). */
int dash_detail_stage_key(dash_detail_t *self, const dash_model_t *m, int k);
int dash_detail_stage_threshold(dash_detail_t *self, const dash_model_t *m, int k, int me);
int dash_detail_stage_run(dash_detail_t *self, const dash_model_t *m, int seq);
int dash_detail_stage_meta(dash_detail_t *self, const dash_model_t *m);

/* Run seq arrived: stages the deletion of the detail rows that fall out of
 * the retention windows and clears their runs' detail flags in m (staging
 * their summary rows). Returns 0 or an error. */
int dash_detail_retain(dash_detail_t *self, dash_model_t *m, int seq, dn_err_t *err);

/* Applies what was staged (one transaction). Returns 0 or the store's error
 * (DN_ENOSPACE: nothing written, the batch kept for the next try). */
int dash_detail_commit(dash_detail_t *self, dn_err_t *err);

/* Reads (any thread). The histogram of (seq, k) and the Score of each method
 * (NULL where absent) into *h, *s. Returns 0 (some may be NULL: pruned or
 * not scored), DN_EFORMAT (a stored row does not decode), DN_EIO. */
int dash_detail_get(dash_detail_t *self, uint64_t seq, int k, Dinamo__Histogram **h,
                    Dinamo__Score *s[DASH_METHODS], dn_err_t *err);

/* Calls fn with every stored label of run seq, in log order. Returns 0,
 * fn's negative value, DN_EIO. */
int dash_detail_labels(dash_detail_t *self, uint64_t seq,
                       int (*fn)(void *arg, const Dinamo__Label *l), void *arg, dn_err_t *err);

/* Syncs the environment to disk. */
int dash_detail_sync(dash_detail_t *self, dn_err_t *err);

#endif
