/* good.h: scorer_ml's good-run table "scorer_ml.good", from which a
 * restarted scorer rebuilds the contexts of its frozen trackers.
 *
 * Per key the last M + K good runs the tracker learned are kept (all a
 * context or a training batch of DINAMO-ML looks at): row key = histogram key,
 * a NUL byte, run_seq as 8 big-endian bytes (so a table walk is per key in
 * run order); value = u32 n_bins, u32 has_variances, the counts, then the
 * variances (f64 little-endian). A key's ring lists the run_seqs kept, oldest
 * first; recording a run beyond the ring's capacity deletes the oldest row.
 *
 * Rows are recorded as labels are applied, which is between commits: they
 * wait in the pending list until the framework's commit batch is built
 * (ml_good_stage) and are forgotten once it was applied (ml_good_committed),
 * so the table always matches the checkpoint.
 *
 * Thread rules: one thread. Ownership: the caller owns the pending list and
 * the rings; keys and histograms are copied. */
#ifndef ML_GOOD_H
#define ML_GOOD_H

#include <stdint.h>

#include "error.h"
#include "store.h"

#define ML_GOOD_TABLE "scorer_ml.good"

typedef struct ml_good_t ml_good_t;

/* The run_seqs of one key's rows, oldest first. */
typedef struct ml_ring_t {
    uint64_t *seq;
    int n, cap;
} ml_ring_t;

/* A new empty pending list, or NULL when out of memory. */
ml_good_t *ml_good_new(void);
/* Frees *self_p; accepts NULL; nulls it. */
void ml_good_destroy(ml_good_t **self_p);

/* An empty ring of cap (>= 1) run_seqs. Returns 0 or DN_ENOMEM. */
int ml_ring_init(ml_ring_t *ring, int cap);
void ml_ring_free(ml_ring_t *ring);

/* Records good run seq of key (n_bins counts, variances or NULL) into the
 * pending list and the key's ring, and the deletion of the row that falls
 * out of the ring. Returns 0 or DN_ENOMEM (nothing recorded). */
int ml_good_record(ml_good_t *self, ml_ring_t *ring, const char *key, uint64_t seq,
                   int n_bins, const double *counts, const double *variances);

/* Adds the pending rows to batch. Returns 0, DN_ENOMEM, DN_EINVAL (the batch's). */
int ml_good_stage(const ml_good_t *self, dn_store_batch_t *batch);
/* The batch holding them was applied: forgets them. */
void ml_good_committed(ml_good_t *self);

/* Called per row at a restart, per key in run order. Return 0 to go on, or
 * an error (with *err set) to stop the walk. */
typedef int (*ml_good_fn)(void *arg, const char *key, uint64_t seq, int n_bins,
                          const double *counts, const double *variances, dn_err_t *err);

/* Walks the table in store, handing every row to fn. Returns 0, DN_EFORMAT
 * ("damaged good run of key 'K' in the store"), DN_ENOMEM, DN_EIO, or fn's
 * error. */
int ml_good_restore(dn_store_t *store, ml_good_fn fn, void *arg, dn_err_t *err);

/* Decodes one row of the table (what ml_good_restore does for each) and hands
 * it to fn. Pure: no store. Returns 0, DN_EFORMAT ("damaged good run of key
 * 'K' in the store"), DN_ENOMEM, or fn's error. */
int ml_good_row(const void *key, size_t klen, const void *val, size_t vlen, ml_good_fn fn,
                void *arg, dn_err_t *err);

/* Puts seq at the end of a ring being restored (rows beyond cap are ignored:
 * the table never holds more). */
void ml_ring_restore(ml_ring_t *ring, uint64_t seq);

#endif
