/* store.h: the services' persistent state in LMDB.
 *
 * One LMDB environment per service data directory, holding named tables
 * (LMDB sub-databases):
 *   - any number of plain key/value tables (put/get/delete/iterate in key order);
 *   - "dn.weights": model weights keyed by (histogram key, version); the key is
 *     the histogram key, a NUL byte, then the version as 8 big-endian bytes, so
 *     LMDB's byte order is version order within a histogram key and the latest
 *     version is one cursor step away;
 *   - "dn.checkpoint": per name, an opaque blob plus the saved state of a
 *     dn_seq_tracker_t (the last processed sequence numbers), always written
 *     together in one transaction;
 *   - log tables (any name): append-only records keyed by (run number, index),
 *     8 + 4 big-endian bytes with the run's sign bit flipped so negative runs
 *     sort first; records of one run keep their append order.
 * Table names starting with "dn." are reserved for the above.
 *
 * Writes go through a batch (dn_store_batch_t): every operation of a batch is
 * applied in one write transaction, so a service commits e.g. new weights,
 * their pruning and its checkpoint atomically. When the map is full
 * (MDB_MAP_FULL) the transaction is aborted, the map doubled
 * (mdb_env_set_mapsize) and the whole batch replayed; when another process
 * grew the map (MDB_MAP_RESIZED) the new size is adopted and the transaction
 * retried. LMDB errors become DN_EIO with mdb_strerror's text in *err.
 *
 * Out of space. A batch that finds no room is aborted whole (nothing of it
 * written: LMDB's last commit stays the state on disk) and fails with
 * DN_ENOSPACE and "store DIR: REASON while committing", REASON being "disk
 * full (No space left on device)" (ENOSPC, EDQUOT, or a short write on a
 * nearly full filesystem, which LMDB reports as EIO), "file size limit
 * reached (...)" (EFBIG, RLIMIT_FSIZE) or "map full (N bytes, ...)" (the map
 * may not grow past dn_store_set_map_max, or there is no address space for
 * it). The same batch applied again once there is room succeeds. A map growth
 * that LMDB starts and fails leaves the environment unmapped: the store then
 * refuses everything with DN_EIO ("unusable ... restart the service") rather
 * than crash.
 *
 * Damaged files. Before LMDB maps them, dn_store_open checks what LMDB
 * trusts: data.mdb's two meta pages (page flags, magic, format version, page
 * size), that the file holds every page of its last commit (a truncated file
 * is where LMDB dies of SIGBUS), and that the two tables' roots are tree
 * pages; lock.mdb's magic. A failed check is DN_EFORMAT naming the file and
 * what is wrong. Damage deeper in the trees is not looked for.
 *
 * Several processes may open the same directory: one or more writers (LMDB
 * serialises write transactions) and any number of DN_STORE_READONLY readers.
 * Never open one directory twice in the same process (an LMDB rule).
 *
 * Thread rules: a dn_store_t belongs to one thread at a time (table handles
 * are opened lazily, which LMDB does not allow concurrently). A batch belongs
 * to one thread. Every returned buffer is a malloc'd copy the caller frees. */
#ifndef DN_STORE_H
#define DN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "msg.h"

typedef struct dn_store_t dn_store_t;
typedef struct dn_store_batch_t dn_store_batch_t;

#define DN_STORE_READONLY 1          /* open flag: no writes; directory must exist */
/* Open flag: commits do not wait for the disk (LMDB's MDB_NOSYNC). A killed
 * process loses nothing (the pages are in the OS cache); an OS crash or power
 * loss may lose or damage what was written since the last dn_store_sync(), so
 * services using it sync on every tick. */
#define DN_STORE_NOSYNC 2
#define DN_STORE_MAP_DEFAULT (64u << 20)  /* initial map size when 0 is given */

/* Opens (creating the directory and environment unless DN_STORE_READONLY) the
 * LMDB environment in `dir` with an initial map size of map_size bytes (0:
 * DN_STORE_MAP_DEFAULT; an existing larger environment keeps its size). Clears
 * reader slots left by dead processes. Returns a new store the caller frees
 * with dn_store_destroy(), or NULL with *err set (DN_EIO "store DIR: ...",
 * DN_EFORMAT "store DIR: data.mdb: truncated: ..." and the other checks above,
 * DN_EINVAL, DN_ENOMEM). */
dn_store_t *dn_store_open(const char *dir, int flags, size_t map_size, dn_err_t *err);

/* Flushes committed data to disk (needed only with DN_STORE_NOSYNC; a no-op
 * for read-only stores). Returns 0 or DN_EIO. */
int dn_store_sync(dn_store_t *self, dn_err_t *err);
/* Closes the environment and frees *self_p; accepts NULL; sets *self_p NULL. */
void dn_store_destroy(dn_store_t **self_p);

/* Current map size in bytes (grows as data is written). */
size_t dn_store_map_size(const dn_store_t *self);

/* Number of times this store grew its map. */
uint64_t dn_store_growths(const dn_store_t *self);

/* The most this process lets the map grow to (0: no limit but the address
 * space). A map already larger, or made larger by another process, is kept.
 * A batch needing more fails with DN_ENOSPACE ("map full"); raising the limit
 * lets the same batch through. */
void dn_store_set_map_max(dn_store_t *self, size_t max_bytes);

/* ---- plain tables ------------------------------------------------------ */

/* Stores val under key in table (created on first write). Keys are 1 ..
 * DN_STORE_KEY_MAX bytes; values any size the map can hold. Returns 0,
 * DN_EINVAL (bad key, read-only store), DN_ENOSPACE, DN_EIO, DN_ENOMEM. */
#define DN_STORE_KEY_MAX 511
int dn_store_put(dn_store_t *self, const char *table, const void *key, size_t klen,
                 const void *val, size_t vlen, dn_err_t *err);

/* Copies the value of key into a new buffer *val (caller frees; NUL-terminated
 * one byte past *vlen for convenience) of *vlen bytes. Returns 0, DN_ENOTFOUND
 * (no such key or table; *val NULL), DN_EIO, DN_ENOMEM. */
int dn_store_get(dn_store_t *self, const char *table, const void *key, size_t klen,
                 void **val, size_t *vlen, dn_err_t *err);

/* Compare-and-swap: writes val as the value of key only if the current value
 * is exactly expect[expect_len] (expect NULL: only if the key is absent), in
 * one write transaction, so processes sharing the store can claim a record
 * (a lease) without racing. Returns 0, DN_ESTATE (the value was not the
 * expected one: nothing written), DN_EINVAL, DN_ENOSPACE, DN_EIO, DN_ENOMEM. */
int dn_store_cas(dn_store_t *self, const char *table, const void *key, size_t klen,
                 const void *expect, size_t expect_len, const void *val, size_t vlen,
                 dn_err_t *err);

/* Deletes key. Returns 0, DN_ENOTFOUND (it was absent), DN_EINVAL, DN_EIO. */
int dn_store_del(dn_store_t *self, const char *table, const void *key, size_t klen,
                 dn_err_t *err);

/* Visitor: return 0 to continue, > 0 to stop (the walk returns 0), < 0 to stop
 * and make the walk return that value. Pointers are valid during the call only. */
typedef int (*dn_store_visit_fn)(const void *key, size_t klen, const void *val, size_t vlen,
                                 void *arg);

/* Calls fn for each entry of table with key >= from (from NULL or from_len 0:
 * from the first), in key order, inside one read transaction (a consistent
 * snapshot). A missing table has no entries. Returns 0, fn's negative value,
 * DN_EIO. fn must not use this store. */
int dn_store_foreach(dn_store_t *self, const char *table, const void *from, size_t from_len,
                     dn_store_visit_fn fn, void *arg, dn_err_t *err);

/* Number of entries of table (0 for a missing table) into *n. Returns 0, DN_EIO. */
int dn_store_count(dn_store_t *self, const char *table, uint64_t *n, dn_err_t *err);

/* ---- weights ----------------------------------------------------------- */

/* Stores blob (usually an encoded ModelWeights envelope) as version `version`
 * of histogram key hkey (1 .. DN_MSG_KEY_MAX bytes, no NUL), and when
 * keep_last > 0 deletes all but the keep_last highest versions of hkey, in the
 * same transaction. Returns as dn_store_put(). */
int dn_store_weights_put(dn_store_t *self, const char *hkey, uint64_t version, const void *blob,
                         size_t len, int keep_last, dn_err_t *err);

/* Copies version `version` of hkey. Returns 0, DN_ENOTFOUND, DN_EIO, DN_ENOMEM. */
int dn_store_weights_get(dn_store_t *self, const char *hkey, uint64_t version, void **blob,
                         size_t *len, dn_err_t *err);

/* The highest stored version of hkey into *version and (blob may be NULL to
 * skip the copy) its copy into *blob / *len. Returns 0, DN_ENOTFOUND (no
 * version of hkey), DN_EIO, DN_ENOMEM. */
int dn_store_weights_latest(dn_store_t *self, const char *hkey, uint64_t *version, void **blob,
                            size_t *len, dn_err_t *err);

/* The stored versions of hkey in increasing order: at most cap into
 * versions[], the total number into *n. Returns 0, DN_EIO. */
int dn_store_weights_versions(dn_store_t *self, const char *hkey, uint64_t *versions,
                              size_t cap, size_t *n, dn_err_t *err);

/* ---- checkpoints ------------------------------------------------------- */

/* Writes checkpoint `name`: blob plus the state of seq (may be NULL: none), in
 * one transaction. Returns as dn_store_put(). */
int dn_store_checkpoint_write(dn_store_t *self, const char *name, const void *blob, size_t len,
                              const dn_seq_tracker_t *seq, dn_err_t *err);

/* Reads checkpoint `name` (one snapshot): the blob into *blob / *len (blob may
 * be NULL to skip it) and, when seq is not NULL and a state was saved, loads it
 * into seq. Returns 0, DN_ENOTFOUND (no such checkpoint), DN_EFORMAT (damaged
 * sequence state), DN_EIO, DN_ENOMEM. */
int dn_store_checkpoint_read(dn_store_t *self, const char *name, void **blob, size_t *len,
                             dn_seq_tracker_t *seq, dn_err_t *err);

/* ---- run-keyed logs ---------------------------------------------------- */

/* Appends a record for run `run` to log table `table`; records of one run are
 * numbered 0, 1, ... in append order (into *index, may be NULL). Returns as
 * dn_store_put(). */
int dn_store_log_append(dn_store_t *self, const char *table, int64_t run, const void *val,
                        size_t vlen, uint32_t *index, dn_err_t *err);

/* Log visitor; return values as for dn_store_visit_fn. */
typedef int (*dn_store_log_fn)(int64_t run, uint32_t index, const void *val, size_t vlen,
                               void *arg);

/* Calls fn for the records with run_from <= run <= run_to in (run, index)
 * order. Returns 0, fn's negative value, DN_EIO. */
int dn_store_log_foreach(dn_store_t *self, const char *table, int64_t run_from, int64_t run_to,
                         dn_store_log_fn fn, void *arg, dn_err_t *err);

/* ---- batches: several writes in one transaction ------------------------ */

/* New empty batch; NULL when out of memory. Caller owns it. */
dn_store_batch_t *dn_store_batch_new(void);

/* Frees *self_p; accepts NULL; sets *self_p NULL. */
void dn_store_batch_destroy(dn_store_batch_t **self_p);

/* Empties the batch for reuse. */
void dn_store_batch_clear(dn_store_batch_t *self);

/* Each adds one operation (copying every byte given; the sources may be freed
 * right after). They check their arguments as the single-operation functions
 * do and return 0, DN_EINVAL or DN_ENOMEM; a failed add leaves the batch as
 * it was. */
int dn_store_batch_put(dn_store_batch_t *self, const char *table, const void *key, size_t klen,
                       const void *val, size_t vlen);
int dn_store_batch_del(dn_store_batch_t *self, const char *table, const void *key, size_t klen);
int dn_store_batch_cas(dn_store_batch_t *self, const char *table, const void *key, size_t klen,
                       const void *expect, size_t expect_len, const void *val, size_t vlen);
int dn_store_batch_weights(dn_store_batch_t *self, const char *hkey, uint64_t version,
                           const void *blob, size_t len, int keep_last);
int dn_store_batch_checkpoint(dn_store_batch_t *self, const char *name, const void *blob,
                              size_t len, const dn_seq_tracker_t *seq);
int dn_store_batch_log_append(dn_store_batch_t *self, const char *table, int64_t run,
                              const void *val, size_t vlen);

/* Applies every operation of batch in order in one write transaction (all or
 * nothing), growing the map as needed. A delete of an absent key is not an
 * error inside a batch. The batch is unchanged (apply it again or clear it).
 * Returns 0, DN_EINVAL (read-only store), DN_ENOSPACE (no room on the disk or
 * in the map: nothing written; apply it again once there is), DN_EIO (nothing
 * written), DN_ENOMEM. */
int dn_store_apply(dn_store_t *self, const dn_store_batch_t *batch, dn_err_t *err);

#endif
