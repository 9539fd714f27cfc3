/* lease_store.c: the shared-records storage of lease_store.h: the dispatch
 * through a table of operations, the batch as plain data, and the one
 * implementation there is today, over an LMDB dn_store_t.
 *
 * A batch operation is one allocation holding its table name, key, expected
 * value and value, so a batch is a flat array a remote storage can walk and
 * send. The LMDB implementation turns a batch into one dn_store batch (one
 * write transaction: all or nothing) and a scan into a dn_store_foreach
 * from the prefix that stops at the first key without it. */
#include "lease_store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct dn_lease_store_t {
    const dn_lease_store_ops_t *ops;
    void *impl;
};

typedef struct op_t {
    dn_lease_op_t op;         /* its pointers point into mem */
    unsigned char *mem;
} op_t;

struct dn_lease_batch_t {
    op_t *ops;
    size_t n, cap;
};

/* ---- dispatch --------------------------------------------------------------------- */

dn_lease_store_t *dn_lease_store_new(const dn_lease_store_ops_t *ops, void *impl)
{
    dn_lease_store_t *self = NULL;
    if (ops && ops->get && ops->cas && ops->scan && ops->apply && ops->sync)
        self = calloc(1, sizeof *self);
    if (!self) {
        if (ops && ops->destroy && impl)
            ops->destroy(impl);
        return NULL;
    }
    self->ops = ops;
    self->impl = impl;
    return self;
}

void dn_lease_store_destroy(dn_lease_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_lease_store_t *self = *self_p;
    if (self->ops->destroy && self->impl)
        self->ops->destroy(self->impl);
    free(self);
    *self_p = NULL;
}

int dn_lease_store_get(dn_lease_store_t *self, const char *table, const void *key, size_t klen,
                       void **val, size_t *vlen, dn_err_t *err)
{
    *val = NULL;
    *vlen = 0;
    return self->ops->get(self->impl, table, key, klen, val, vlen, err);
}

int dn_lease_store_cas(dn_lease_store_t *self, const char *table, const void *key, size_t klen,
                       const void *expect, size_t expect_len, const void *val, size_t vlen,
                       dn_err_t *err)
{
    return self->ops->cas(self->impl, table, key, klen, expect, expect_len, val, vlen, err);
}

int dn_lease_store_scan(dn_lease_store_t *self, const char *table, const void *prefix,
                        size_t plen, dn_lease_visit_fn fn, void *arg, dn_err_t *err)
{
    return self->ops->scan(self->impl, table, prefix, plen, fn, arg, err);
}

int dn_lease_store_apply(dn_lease_store_t *self, const dn_lease_batch_t *batch, dn_err_t *err)
{
    return self->ops->apply(self->impl, batch, err);
}

int dn_lease_store_sync(dn_lease_store_t *self, dn_err_t *err)
{
    return self->ops->sync(self->impl, err);
}

/* ---- batches ----------------------------------------------------------------------- */

dn_lease_batch_t *dn_lease_batch_new(void)
{
    return calloc(1, sizeof(dn_lease_batch_t));
}

void dn_lease_batch_clear(dn_lease_batch_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        free(self->ops[i].mem);
    self->n = 0;
}

void dn_lease_batch_destroy(dn_lease_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_lease_batch_clear(*self_p);
    free((*self_p)->ops);
    free(*self_p);
    *self_p = NULL;
}

/* Copies n bytes of src to *at and returns where they went (NULL for none). */
static const void *place(unsigned char **at, const void *src, size_t n)
{
    if (!src)
        return NULL;
    unsigned char *p = *at;
    if (n)
        memcpy(p, src, n);
    *at += n;
    return p;
}

static int add(dn_lease_batch_t *self, int kind, const char *table, const void *key,
               size_t klen, const void *expect, size_t expect_len, const void *val, size_t vlen)
{
    size_t tlen = table ? strnlen(table, DN_LEASE_TABLE_MAX + 1) : 0;
    if (tlen == 0 || tlen > DN_LEASE_TABLE_MAX || !strncmp(table, "dn.", 3) || !key ||
        klen == 0 || klen > DN_STORE_KEY_MAX || (!val && vlen) || (!expect && expect_len))
        return DN_EINVAL;
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 8;
        op_t *p = realloc(self->ops, cap * sizeof *p);
        if (!p)
            return DN_ENOMEM;
        self->ops = p;
        self->cap = cap;
    }
    /* One block: the table name (terminated), key, expected value, value; a
     * zero-length value still gets a valid pointer (one spare byte). */
    unsigned char *mem = malloc(tlen + 1 + klen + expect_len + vlen + 1);
    if (!mem)
        return DN_ENOMEM;
    unsigned char *at = mem;
    op_t *o = &self->ops[self->n];
    o->mem = mem;
    o->op.kind = kind;
    o->op.table = place(&at, table, tlen + 1);
    o->op.key = place(&at, key, klen);
    o->op.klen = klen;
    o->op.expect = place(&at, expect, expect_len);
    o->op.expect_len = expect_len;
    o->op.val = val ? place(&at, val, vlen) : at;
    o->op.vlen = vlen;
    self->n++;
    return 0;
}

int dn_lease_batch_put(dn_lease_batch_t *self, const char *table, const void *key, size_t klen,
                       const void *val, size_t vlen)
{
    return add(self, DN_LEASE_OP_PUT, table, key, klen, NULL, 0, val, vlen);
}

int dn_lease_batch_cas(dn_lease_batch_t *self, const char *table, const void *key, size_t klen,
                       const void *expect, size_t expect_len, const void *val, size_t vlen)
{
    return add(self, DN_LEASE_OP_CAS, table, key, klen, expect, expect_len, val, vlen);
}

size_t dn_lease_batch_count(const dn_lease_batch_t *self)
{
    return self->n;
}

const dn_lease_op_t *dn_lease_batch_op(const dn_lease_batch_t *self, size_t i)
{
    return i < self->n ? &self->ops[i].op : NULL;
}

/* ---- over LMDB ------------------------------------------------------------------------ */

typedef struct lmdb_t {
    dn_store_t *store;        /* borrowed */
    dn_store_batch_t *batch;  /* reused by every apply */
} lmdb_t;

static int lmdb_get(void *impl, const char *table, const void *key, size_t klen, void **val,
                    size_t *vlen, dn_err_t *err)
{
    lmdb_t *l = impl;
    return dn_store_get(l->store, table, key, klen, val, vlen, err);
}

static int lmdb_cas(void *impl, const char *table, const void *key, size_t klen,
                    const void *expect, size_t expect_len, const void *val, size_t vlen,
                    dn_err_t *err)
{
    lmdb_t *l = impl;
    return dn_store_cas(l->store, table, key, klen, expect, expect_len, val, vlen, err);
}

typedef struct prefix_walk_t {
    const void *prefix;
    size_t plen;
    dn_lease_visit_fn fn;
    void *arg;
} prefix_walk_t;

static int prefix_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    prefix_walk_t *w = arg;
    if (klen < w->plen || (w->plen && memcmp(key, w->prefix, w->plen)))
        return 1; /* keys sort bytewise: the first one without the prefix ends it */
    return w->fn(key, klen, val, vlen, w->arg);
}

static int lmdb_scan(void *impl, const char *table, const void *prefix, size_t plen,
                     dn_lease_visit_fn fn, void *arg, dn_err_t *err)
{
    lmdb_t *l = impl;
    prefix_walk_t w = {prefix, prefix ? plen : 0, fn, arg};
    return dn_store_foreach(l->store, table, w.plen ? prefix : NULL, w.plen, prefix_visit, &w,
                            err);
}

static int lmdb_apply(void *impl, const dn_lease_batch_t *batch, dn_err_t *err)
{
    lmdb_t *l = impl;
    dn_store_batch_clear(l->batch);
    int rc = 0;
    for (size_t i = 0; i < batch->n && !rc; i++) {
        const dn_lease_op_t *o = &batch->ops[i].op;
        rc = o->kind == DN_LEASE_OP_PUT
                 ? dn_store_batch_put(l->batch, o->table, o->key, o->klen, o->val, o->vlen)
                 : dn_store_batch_cas(l->batch, o->table, o->key, o->klen, o->expect,
                                      o->expect_len, o->val, o->vlen);
        if (rc)
            dn_err_set(err, rc, "table %s: %s", o->table,
                       rc == DN_ENOMEM ? "out of memory" : "invalid table, key or value");
    }
    if (!rc)
        rc = dn_store_apply(l->store, l->batch, err);
    dn_store_batch_clear(l->batch);
    return rc;
}

static int lmdb_sync(void *impl, dn_err_t *err)
{
    lmdb_t *l = impl;
    return dn_store_sync(l->store, err);
}

static void lmdb_destroy(void *impl)
{
    lmdb_t *l = impl;
    dn_store_batch_destroy(&l->batch);
    free(l);
}

static const dn_lease_store_ops_t lmdb_ops = {
    .get = lmdb_get, .cas = lmdb_cas, .scan = lmdb_scan, .apply = lmdb_apply,
    .sync = lmdb_sync, .destroy = lmdb_destroy,
};

dn_lease_store_t *dn_lease_store_lmdb(dn_store_t *store)
{
    lmdb_t *l = store ? calloc(1, sizeof *l) : NULL;
    if (!l)
        return NULL;
    l->store = store;
    if (!(l->batch = dn_store_batch_new())) {
        free(l);
        return NULL;
    }
    return dn_lease_store_new(&lmdb_ops, l);
}
