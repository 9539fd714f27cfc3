/* held.h: the runs a scorer holds, in run_seq order, and their table in the
 * scorer's store.
 *
 * A scorer holds a run from its arrival until it is scored and every one of
 * its histograms' labels is applied (in lockstep nothing later is scored
 * before that; in live mode a run's labels may still come after its score).
 * Each held run keeps the encoded Run envelope it came in (so that a restart
 * rebuilds it byte for byte), the decoded envelope, and per histogram its
 * label and whether the label was applied. Held runs are persisted in one
 * store table, key run_seq (8 bytes big-endian): changed runs are staged into
 * the scorer's commit batch and dropped runs deleted in the same batch, so the
 * table always matches the scorer's checkpoint.
 *
 * Invariants: runs are in strictly increasing run_seq order; a run's arrays
 * have n_h entries; a run added or changed is staged by the next
 * dn_heldq_stage (dirty), a dropped run's row deleted by it.
 *
 * Thread rules: a queue belongs to one thread. Ownership: the queue owns its
 * runs; pointers returned by dn_heldq_at / dn_heldq_find / dn_heldq_add stay
 * valid until the run is dropped or the queue destroyed. */
#ifndef DN_HELD_H
#define DN_HELD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "msg.h"
#include "store.h"

/* Label state of one histogram of a held run. */
enum { DN_LBL_NONE = -1, DN_LBL_GOOD = 0, DN_LBL_BAD = 1 };

typedef struct dn_held_t {
    uint64_t seq;          /* run_seq */
    uint8_t *buf;          /* the encoded Run envelope */
    size_t len;
    Dinamo__Envelope *env; /* decoded from buf; env->run is the run */
    int n_h;               /* histograms of the run */
    int8_t *label;         /* [n_h] DN_LBL_* */
    uint8_t *applied;      /* [n_h] label applied (or nothing to apply) */
    int scored;
    int dirty;             /* set it after changing a run: staged next commit */
} dn_held_t;

typedef struct dn_heldq_t dn_heldq_t;

/* A new empty queue persisted in store table `table` (copied). Returns NULL
 * when out of memory. */
dn_heldq_t *dn_heldq_new(const char *table);

/* Frees the queue and its runs; accepts NULL and *self_p == NULL; sets
 * *self_p to NULL. */
void dn_heldq_destroy(dn_heldq_t **self_p);

/* Number of runs held. */
int dn_heldq_count(const dn_heldq_t *self);

/* The i-th run (0 = lowest run_seq), or NULL when i is out of range. */
dn_held_t *dn_heldq_at(const dn_heldq_t *self, int i);

/* The run with run_seq seq, or NULL (binary search). */
dn_held_t *dn_heldq_find(const dn_heldq_t *self, uint64_t seq);

/* Holds the run encoded in buf (an Envelope with a Run; the bytes are copied),
 * unlabelled, unscored and dirty. Its run_seq must be above every held run's.
 * On success *held (when not NULL) points to it. Returns 0; DN_EFORMAT (not a
 * valid envelope (dn_msg_decode) with a run: err says why); DN_EINVAL (run_seq
 * not above the last held); DN_ENOMEM. */
int dn_heldq_add(dn_heldq_t *self, const uint8_t *buf, size_t len, dn_held_t **held,
                 dn_err_t *err);

/* Drops the first n runs (freed; their rows deleted by the next stage).
 * Returns 0; DN_EINVAL (n out of range; nothing dropped); DN_ENOMEM (nothing
 * dropped). */
int dn_heldq_drop_front(dn_heldq_t *self, int n);

/* Drops the leading runs that are done with: scored and complete (every label
 * applied) or, once end_seen (END_OF_STREAM: no label will come any more),
 * scored. Returns how many were dropped (>= 0), or DN_ENOMEM (none). */
int dn_heldq_drop_done(dn_heldq_t *self, int end_seen);

/* Adds to batch a delete for each run dropped and a put for each dirty run
 * since the last dn_heldq_committed. Returns 0 or the batch's error (DN_ENOMEM,
 * DN_EINVAL); the queue is unchanged either way. */
int dn_heldq_stage(dn_heldq_t *self, dn_store_batch_t *batch);

/* The staged batch was applied: clears the dirty flags and dropped list. */
void dn_heldq_committed(dn_heldq_t *self);

/* Replaces the queue's runs by the rows of its table in store (after a
 * restart). Returns 0; DN_EFORMAT ("damaged held run N in TABLE: what"); DN_EIO;
 * DN_ENOMEM. On error the queue is empty. */
int dn_heldq_restore(dn_heldq_t *self, dn_store_t *store, dn_err_t *err);

/* Appends the run of one stored row (key: its run_seq, 8 bytes big-endian;
 * val: what dn_heldq_stage wrote), as dn_heldq_restore does for each row of
 * the table: the decoder of a held run, pure (no store). Returns 0;
 * DN_EFORMAT ("damaged held run N in TABLE: what": truncated, flags, label
 * states, the envelope, its run_seq against the key, not above the last
 * run); DN_ENOMEM. On error the queue is unchanged. */
int dn_heldq_load_row(dn_heldq_t *self, const void *key, size_t klen, const void *val,
                      size_t vlen, dn_err_t *err);

/* Every histogram of h labelled and its label applied. */
int dn_held_complete(const dn_held_t *h);

/* Every histogram of h has a label (applied or not). */
int dn_held_labelled(const dn_held_t *h);

#endif
