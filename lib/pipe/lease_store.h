/* lease_store.h: where the records that several processes coordinate through
 * live (the lease protocol's member and key records, and the state handed
 * over with a key), as an abstract storage with one implementation over
 * dn_store (LMDB) and one over the registry service (registry.h).
 *
 * Every operation is one whole request with one answer: nothing stays open
 * between calls and no callback runs inside the storage while it holds a
 * transaction. So a storage reached over the network implements the same
 * table of operations: the registry service, which owns these tables in its
 * own LMDB and answers over ZeroMQ, is one more dn_lease_store_ops_t
 * (dn_registry_lease_store), and no member changes. The operations:
 *   get    one record's value (a copy);
 *   cas    compare-and-swap one record: write it only if its value is exactly
 *          the expected bytes (or, expecting nothing, only if it is absent);
 *   scan   the records of a table whose key starts with a prefix, in key
 *          (byte) order, as one consistent snapshot; the visitor is called on
 *          the snapshot (a remote storage sends the records, then visits);
 *   apply  a batch of puts and compare-and-swaps, all or nothing: a member
 *          checkpoints a key's state and checks (or gives up) its claim on
 *          the key in one transaction; a failed compare fails the whole batch
 *          with DN_ESTATE and writes nothing;
 *   sync   make what was applied durable (a no-op where applying already is).
 * Values are opaque bytes here: members check the records they read.
 *
 * A batch is plain data (dn_lease_batch_op lists its operations) so that a
 * remote storage can send it as one message.
 *
 * Errors: 0, DN_ENOTFOUND (get: no such record or table), DN_ESTATE (a
 * compare failed: nothing written), DN_EINVAL (bad table, key or value),
 * DN_EIO (the storage or its transport failed, with its words in *err),
 * DN_ENOMEM.
 *
 * Thread rules: a storage belongs to one thread at a time (the LMDB one
 * borrows a dn_store_t, which does); a batch to one thread. Ownership: every
 * value returned is a malloc'd copy the caller frees; pointers handed to a
 * visitor are valid during the call only. */
#ifndef DN_LEASE_STORE_H
#define DN_LEASE_STORE_H

#include <stddef.h>

#include "error.h"
#include "store.h"

typedef struct dn_lease_store_t dn_lease_store_t;
typedef struct dn_lease_batch_t dn_lease_batch_t;

/* Visitor of scan: 0 to go on, > 0 to stop (scan returns 0), < 0 to stop and
 * make scan return that value. It must not use the storage. */
typedef int (*dn_lease_visit_fn)(const void *key, size_t klen, const void *val, size_t vlen,
                                 void *arg);

/* One storage implementation: impl is its state. Each operation returns as
 * described at the top of this file; the arguments are those of the
 * dn_lease_store_* function of the same name. destroy frees impl (may be
 * NULL: nothing to free). */
typedef struct dn_lease_store_ops_t {
    int (*get)(void *impl, const char *table, const void *key, size_t klen, void **val,
               size_t *vlen, dn_err_t *err);
    int (*cas)(void *impl, const char *table, const void *key, size_t klen, const void *expect,
               size_t expect_len, const void *val, size_t vlen, dn_err_t *err);
    int (*scan)(void *impl, const char *table, const void *prefix, size_t plen,
                dn_lease_visit_fn fn, void *arg, dn_err_t *err);
    int (*apply)(void *impl, const dn_lease_batch_t *batch, dn_err_t *err);
    int (*sync)(void *impl, dn_err_t *err);
    void (*destroy)(void *impl);
} dn_lease_store_ops_t;

/* A storage running ops on impl (ops is borrowed and must outlive it; impl
 * is owned: ops->destroy frees it with the storage, also when this returns
 * NULL). Returns NULL when out of memory or an operation is missing (destroy
 * may be NULL). Caller owns it. */
dn_lease_store_t *dn_lease_store_new(const dn_lease_store_ops_t *ops, void *impl);

/* The storage over an LMDB store (borrowed: it must outlive the storage; the
 * caller may go on using it for other tables, e.g. weights). Returns NULL
 * when out of memory. Caller owns it. */
dn_lease_store_t *dn_lease_store_lmdb(dn_store_t *store);

/* Frees *self_p and its impl; accepts NULL and *self_p NULL; nulls it. */
void dn_lease_store_destroy(dn_lease_store_t **self_p);

/* The value of key in table into a new buffer *val (caller frees) of *vlen
 * bytes. Returns 0, DN_ENOTFOUND (*val NULL), DN_EIO, DN_ENOMEM. */
int dn_lease_store_get(dn_lease_store_t *self, const char *table, const void *key, size_t klen,
                       void **val, size_t *vlen, dn_err_t *err);

/* Writes val as the value of key only if the current value is exactly
 * expect[expect_len] (expect NULL: only if key is absent). Returns 0,
 * DN_ESTATE (not the expected value: nothing written), DN_EINVAL, DN_EIO,
 * DN_ENOMEM. */
int dn_lease_store_cas(dn_lease_store_t *self, const char *table, const void *key, size_t klen,
                       const void *expect, size_t expect_len, const void *val, size_t vlen,
                       dn_err_t *err);

/* Calls fn for each record of table whose key starts with prefix[plen] (plen
 * 0: every record), in key order, on one snapshot. A missing table has no
 * records. Returns 0, fn's negative value, DN_EIO, DN_ENOMEM. */
int dn_lease_store_scan(dn_lease_store_t *self, const char *table, const void *prefix,
                        size_t plen, dn_lease_visit_fn fn, void *arg, dn_err_t *err);

/* Applies every operation of batch in order, all or nothing. The batch is
 * unchanged. Returns 0, DN_ESTATE (a compare-and-swap of the batch found
 * another value: nothing written), DN_EINVAL, DN_EIO, DN_ENOMEM. */
int dn_lease_store_apply(dn_lease_store_t *self, const dn_lease_batch_t *batch, dn_err_t *err);

/* Makes what was applied durable. Returns 0 or DN_EIO. */
int dn_lease_store_sync(dn_lease_store_t *self, dn_err_t *err);

/* ---- batches ------------------------------------------------------------------ */

#define DN_LEASE_OP_PUT 0 /* write val */
#define DN_LEASE_OP_CAS 1 /* write val if the value is expect (absent when expect is NULL) */

/* One operation of a batch, as the batch holds it (borrowed from the batch:
 * valid until it is cleared or destroyed). */
typedef struct dn_lease_op_t {
    int kind;                 /* DN_LEASE_OP_PUT or DN_LEASE_OP_CAS */
    const char *table;
    const void *key;
    size_t klen;
    const void *expect;       /* CAS: the expected value, NULL: must be absent */
    size_t expect_len;
    const void *val;
    size_t vlen;
} dn_lease_op_t;

/* A new empty batch, or NULL when out of memory. Caller owns it. */
dn_lease_batch_t *dn_lease_batch_new(void);

/* Frees *self_p; accepts NULL and *self_p NULL; nulls it. */
void dn_lease_batch_destroy(dn_lease_batch_t **self_p);

/* Empties the batch for reuse. */
void dn_lease_batch_clear(dn_lease_batch_t *self);

/* Each adds one operation, copying every byte given. table: 1 ..
 * DN_LEASE_TABLE_MAX bytes; key: 1 .. DN_STORE_KEY_MAX bytes. Returns 0,
 * DN_EINVAL (bad table or key: nothing added), DN_ENOMEM (nothing added). */
#define DN_LEASE_TABLE_MAX 63
int dn_lease_batch_put(dn_lease_batch_t *self, const char *table, const void *key, size_t klen,
                       const void *val, size_t vlen);
int dn_lease_batch_cas(dn_lease_batch_t *self, const char *table, const void *key, size_t klen,
                       const void *expect, size_t expect_len, const void *val, size_t vlen);

/* The number of operations, and operation i (0 <= i < count; NULL beyond). */
size_t dn_lease_batch_count(const dn_lease_batch_t *self);
const dn_lease_op_t *dn_lease_batch_op(const dn_lease_batch_t *self, size_t i);

#endif
