/* good.c: scorer_ml's good-run table (good.h).
 *
 * The pending list is one growable buffer of operations, each a byte (1: put,
 * 0: delete), the row key and (puts) the row value as length-prefixed
 * strings, replayed in order into the commit batch. */
#include "good.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "msg.h"

struct ml_good_t {
    dn_wbuf_t ops;
};

ml_good_t *ml_good_new(void) { return calloc(1, sizeof(ml_good_t)); }

void ml_good_destroy(ml_good_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->ops.p);
    free(*self_p);
    *self_p = NULL;
}

int ml_ring_init(ml_ring_t *ring, int cap)
{
    ring->n = 0;
    ring->cap = cap;
    ring->seq = calloc((size_t)cap, sizeof *ring->seq);
    return ring->seq ? 0 : DN_ENOMEM;
}

void ml_ring_free(ml_ring_t *ring)
{
    free(ring->seq);
    ring->seq = NULL;
    ring->n = ring->cap = 0;
}

void ml_ring_restore(ml_ring_t *ring, uint64_t seq)
{
    if (ring->n < ring->cap)
        ring->seq[ring->n++] = seq;
}

/* Row key of (key, seq) into buf[DN_MSG_KEY_MAX + 9]; its length. */
static size_t row_key(unsigned char *buf, const char *key, uint64_t seq)
{
    size_t kl = strlen(key);
    memcpy(buf, key, kl);
    buf[kl] = 0;
    dn_put_be64(buf + kl + 1, seq);
    return kl + 9;
}

int ml_good_record(ml_good_t *self, ml_ring_t *ring, const char *key, uint64_t seq,
                   int n_bins, const double *counts, const double *variances)
{
    size_t at = self->ops.len;
    unsigned char rk[DN_MSG_KEY_MAX + 9];
    size_t rl = row_key(rk, key, seq);
    dn_wbuf_t *w = &self->ops;
    unsigned char put = 1, del = 0;
    dn_wb_bytes(w, &put, 1);
    dn_wb_str(w, rk, rl);
    dn_wb_u32(w, 8 + 8 * (uint32_t)n_bins * (variances ? 2u : 1u));
    dn_wb_u32(w, (uint32_t)n_bins);
    dn_wb_u32(w, variances ? 1u : 0u);
    for (int b = 0; b < n_bins; b++)
        dn_wb_f64(w, counts[b]);
    for (int b = 0; variances && b < n_bins; b++)
        dn_wb_f64(w, variances[b]);
    if (ring->n == ring->cap) {
        dn_wb_bytes(w, &del, 1);
        dn_wb_str(w, rk, row_key(rk, key, ring->seq[0]));
    }
    if (w->oom) {
        w->oom = 0;
        w->len = at;
        return DN_ENOMEM;
    }
    if (ring->n == ring->cap) {
        memmove(ring->seq, ring->seq + 1, (size_t)(ring->n - 1) * sizeof *ring->seq);
        ring->n--;
    }
    ring->seq[ring->n++] = seq;
    return 0;
}

int ml_good_stage(const ml_good_t *self, dn_store_batch_t *batch)
{
    dn_rbuf_t r = {self->ops.p, self->ops.len, 0, 0};
    int rc = 0;
    while (!rc && r.pos < r.len) {
        const unsigned char *op = dn_rb_take(&r, 1);
        uint32_t kl = 0, vl = 0;
        const unsigned char *k = dn_rb_str(&r, &kl);
        const unsigned char *v = *op ? dn_rb_str(&r, &vl) : NULL;
        if (r.bad)
            return DN_EINVAL; /* cannot happen: the list is ours */
        rc = *op ? dn_store_batch_put(batch, ML_GOOD_TABLE, k, kl, v, vl)
                 : dn_store_batch_del(batch, ML_GOOD_TABLE, k, kl);
    }
    return rc;
}

void ml_good_committed(ml_good_t *self) { self->ops.len = 0; }

int ml_good_row(const void *key, size_t klen, const void *val, size_t vlen, ml_good_fn fn,
                void *arg, dn_err_t *err)
{
    const unsigned char *kb = key;
    size_t kl = 0;
    while (kl < klen && kb[kl])
        kl++;
    char name[DN_MSG_KEY_MAX + 1];
    memcpy(name, kb, kl < DN_MSG_KEY_MAX ? kl : DN_MSG_KEY_MAX);
    name[kl < DN_MSG_KEY_MAX ? kl : DN_MSG_KEY_MAX] = 0;
    dn_rbuf_t r = {val, vlen, 0, 0};
    uint32_t nb = dn_rb_u32(&r), has_var = dn_rb_u32(&r);
    if (r.bad || klen != kl + 9 || kl == 0 || kl > DN_MSG_KEY_MAX || nb < 1 ||
        nb > DN_MSG_BINS_MAX || has_var > 1 || vlen != 8 + (size_t)nb * 8 * (has_var ? 2 : 1))
        return dn_err_set(err, DN_EFORMAT, "damaged good run of key '%s' in the store", name);
    double *x = malloc((size_t)nb * 2 * sizeof *x);
    if (!x)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    for (uint32_t b = 0; b < nb * (has_var ? 2 : 1); b++)
        x[b] = dn_rb_f64(&r);
    int rc = fn(arg, name, dn_get_be64(kb + kl + 1), (int)nb, x, has_var ? x + nb : NULL, err);
    free(x);
    return rc;
}

typedef struct restore_ctx_t {
    ml_good_fn fn;
    void *arg;
    int rc;
    dn_err_t *err;
} restore_ctx_t;

static int restore_row(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    restore_ctx_t *c = arg;
    c->rc = ml_good_row(key, klen, val, vlen, c->fn, c->arg, c->err);
    return c->rc ? -1 : 0;
}

int ml_good_restore(dn_store_t *store, ml_good_fn fn, void *arg, dn_err_t *err)
{
    restore_ctx_t c = {fn, arg, 0, err};
    int rc = dn_store_foreach(store, ML_GOOD_TABLE, NULL, 0, restore_row, &c, err);
    return c.rc ? c.rc : rc;
}
