/* held.c: the runs a scorer holds (held.h).
 *
 * An array of pointers in run_seq order (runs are added at the end and
 * dropped from the front, so lookups are a binary search and drops one
 * memmove), plus the run_seqs dropped since the last commit, whose rows the
 * next stage deletes. A row is u32 scored, u32 n_h, n_h x (label + 1,
 * applied) bytes, then the encoded envelope. */
#include "held.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"

struct dn_heldq_t {
    char *table;
    dn_held_t **runs; /* in run_seq order */
    int n, cap;
    uint64_t *dropped; /* run_seqs dropped since the last commit */
    int n_dropped, cap_dropped;
};

static void held_free(dn_held_t *h)
{
    if (!h)
        return;
    dn_msg_free(&h->env);
    free(h->buf);
    free(h->label);
    free(h->applied);
    free(h);
}

/* A held run decoded from a copy of buf: unlabelled, unscored. */
static int held_new(const uint8_t *buf, size_t len, dn_held_t **out, dn_err_t *err)
{
    int rc = DN_ENOMEM;
    dn_held_t *h = calloc(1, sizeof *h);
    if (!h || !(h->buf = malloc(len ? len : 1)))
        goto fail;
    memcpy(h->buf, buf, len);
    h->len = len;
    if (dn_msg_decode(buf, len, &h->env, NULL, err)) {
        dn_err_prefix(err, "held run");
        if (err)
            err->code = DN_EFORMAT; /* whatever the envelope's fault, it is no run */
        rc = DN_EFORMAT;
        goto fail;
    }
    if (dn_msg_type(h->env) != DN_MSG_RUN) {
        rc = dn_err_set(err, DN_EFORMAT, "held run: the envelope carries no run");
        goto fail;
    }
    h->seq = h->env->run->run_seq;
    h->n_h = (int)h->env->run->n_histograms;
    size_t n = (size_t)(h->n_h ? h->n_h : 1);
    rc = DN_ENOMEM;
    if (!(h->label = malloc(n)) || !(h->applied = calloc(n, 1)))
        goto fail;
    memset(h->label, DN_LBL_NONE, n);
    *out = h;
    return DN_OK;
fail:
    if (rc == DN_ENOMEM)
        dn_err_set(err, DN_ENOMEM, "held run: out of memory");
    held_free(h);
    return rc;
}

static int push(dn_heldq_t *self, dn_held_t *h)
{
    if (self->n == self->cap) {
        int cap = self->cap ? 2 * self->cap : 64;
        dn_held_t **p = realloc(self->runs, (size_t)cap * sizeof *p);
        if (!p)
            return DN_ENOMEM;
        self->runs = p;
        self->cap = cap;
    }
    self->runs[self->n++] = h;
    return DN_OK;
}

dn_heldq_t *dn_heldq_new(const char *table)
{
    dn_heldq_t *self = calloc(1, sizeof *self);
    if (!self || !table || !(self->table = strdup(table))) {
        free(self);
        return NULL;
    }
    return self;
}

static void clear(dn_heldq_t *self)
{
    for (int i = 0; i < self->n; i++)
        held_free(self->runs[i]);
    self->n = 0;
}

void dn_heldq_destroy(dn_heldq_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_heldq_t *self = *self_p;
    clear(self);
    free(self->runs);
    free(self->dropped);
    free(self->table);
    free(self);
    *self_p = NULL;
}

int dn_heldq_count(const dn_heldq_t *self) { return self->n; }

dn_held_t *dn_heldq_at(const dn_heldq_t *self, int i)
{
    return i >= 0 && i < self->n ? self->runs[i] : NULL;
}

dn_held_t *dn_heldq_find(const dn_heldq_t *self, uint64_t seq)
{
    int lo = 0, hi = self->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        uint64_t s = self->runs[mid]->seq;
        if (s == seq)
            return self->runs[mid];
        if (s < seq)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

int dn_heldq_add(dn_heldq_t *self, const uint8_t *buf, size_t len, dn_held_t **held,
                 dn_err_t *err)
{
    dn_held_t *h = NULL;
    int rc = held_new(buf, len, &h, err);
    if (rc)
        return rc;
    if (self->n && h->seq <= self->runs[self->n - 1]->seq) {
        rc = dn_err_set(err, DN_EINVAL, "held run: run_seq %llu is not above the last held "
                        "(%llu)", (unsigned long long)h->seq,
                        (unsigned long long)self->runs[self->n - 1]->seq);
        held_free(h);
        return rc;
    }
    if (push(self, h)) {
        held_free(h);
        return dn_err_set(err, DN_ENOMEM, "held run: out of memory");
    }
    h->dirty = 1;
    if (held)
        *held = h;
    return DN_OK;
}

int dn_heldq_drop_front(dn_heldq_t *self, int n)
{
    if (n < 0 || n > self->n)
        return DN_EINVAL;
    if (self->n_dropped + n > self->cap_dropped) {
        int cap = self->cap_dropped ? self->cap_dropped : 64;
        while (cap < self->n_dropped + n)
            cap *= 2;
        uint64_t *p = realloc(self->dropped, (size_t)cap * sizeof *p);
        if (!p)
            return DN_ENOMEM;
        self->dropped = p;
        self->cap_dropped = cap;
    }
    for (int i = 0; i < n; i++) {
        self->dropped[self->n_dropped++] = self->runs[i]->seq;
        held_free(self->runs[i]);
    }
    memmove(self->runs, self->runs + n, (size_t)(self->n - n) * sizeof *self->runs);
    self->n -= n;
    return DN_OK;
}

int dn_heldq_drop_done(dn_heldq_t *self, int end_seen)
{
    int n = 0;
    while (n < self->n && self->runs[n]->scored && (end_seen || dn_held_complete(self->runs[n])))
        n++;
    int rc = n ? dn_heldq_drop_front(self, n) : DN_OK;
    return rc ? rc : n;
}

static int record(const dn_held_t *h, dn_wbuf_t *w)
{
    dn_wb_u32(w, (uint32_t)h->scored);
    dn_wb_u32(w, (uint32_t)h->n_h);
    for (int j = 0; j < h->n_h; j++) {
        unsigned char b[2] = {(unsigned char)(h->label[j] + 1), h->applied[j]};
        dn_wb_bytes(w, b, 2);
    }
    dn_wb_bytes(w, h->buf, h->len);
    return w->oom ? DN_ENOMEM : DN_OK;
}

int dn_heldq_stage(dn_heldq_t *self, dn_store_batch_t *batch)
{
    unsigned char key[8];
    int rc = DN_OK;
    for (int i = 0; !rc && i < self->n_dropped; i++) {
        dn_put_be64(key, self->dropped[i]);
        rc = dn_store_batch_del(batch, self->table, key, 8);
    }
    dn_wbuf_t w = {0};
    for (int i = 0; !rc && i < self->n; i++) {
        const dn_held_t *h = self->runs[i];
        if (!h->dirty)
            continue;
        dn_put_be64(key, h->seq);
        w.len = 0;
        if (!(rc = record(h, &w)))
            rc = dn_store_batch_put(batch, self->table, key, 8, w.p, w.len);
    }
    free(w.p);
    return rc;
}

void dn_heldq_committed(dn_heldq_t *self)
{
    for (int i = 0; i < self->n; i++)
        self->runs[i]->dirty = 0;
    self->n_dropped = 0;
}

typedef struct restore_ctx_t {
    dn_heldq_t *self;
    dn_err_t *err;
    int rc;
} restore_ctx_t;

int dn_heldq_load_row(dn_heldq_t *self, const void *key, size_t klen, const void *val,
                      size_t vlen, dn_err_t *err)
{
    dn_rbuf_t r = {val, vlen, 0, 0};
    uint32_t scored = dn_rb_u32(&r), n_h = dn_rb_u32(&r);
    const unsigned char *lab = r.bad || n_h > vlen ? NULL : dn_rb_take(&r, (size_t)n_h * 2);
    uint64_t seq = klen == 8 ? dn_get_be64(key) : 0;
    dn_held_t *h = NULL;
    dn_err_t why = {0};
    const char *fault = NULL;
    if (!lab || klen != 8)
        fault = "truncated";
    else if (scored > 1)
        fault = "scored flag not 0 or 1";
    else if (held_new(r.p + r.pos, vlen - r.pos, &h, &why))
        fault = why.msg;
    else if (h->n_h != (int)n_h)
        fault = "histogram count differs from the run's";
    else if (h->seq != seq)
        fault = "run_seq differs from its key";
    else if (self->n && seq <= self->runs[self->n - 1]->seq)
        fault = "out of order";
    if (fault) {
        held_free(h);
        return dn_err_set(err, DN_EFORMAT, "damaged held run %llu in %s: %s",
                          (unsigned long long)seq, self->table, fault);
    }
    h->scored = (int)scored;
    for (uint32_t j = 0; j < n_h; j++) {
        h->label[j] = (int8_t)(lab[2 * j] - 1);
        h->applied[j] = lab[2 * j + 1];
        if (h->label[j] < DN_LBL_NONE || h->label[j] > DN_LBL_BAD || h->applied[j] > 1) {
            held_free(h);
            return dn_err_set(err, DN_EFORMAT, "damaged held run %llu in %s: label state",
                              (unsigned long long)seq, self->table);
        }
    }
    if (push(self, h)) {
        held_free(h);
        return dn_err_set(err, DN_ENOMEM, "held runs: out of memory");
    }
    return 0;
}

static int restore_row(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    restore_ctx_t *c = arg;
    c->rc = dn_heldq_load_row(c->self, key, klen, val, vlen, c->err);
    return c->rc ? -1 : 0;
}

int dn_heldq_restore(dn_heldq_t *self, dn_store_t *store, dn_err_t *err)
{
    clear(self);
    self->n_dropped = 0;
    restore_ctx_t c = {self, err, DN_OK};
    int rc = dn_store_foreach(store, self->table, NULL, 0, restore_row, &c, err);
    if (rc < 0 && c.rc)
        rc = c.rc;
    if (rc)
        clear(self);
    return rc;
}

int dn_held_complete(const dn_held_t *h)
{
    for (int j = 0; j < h->n_h; j++)
        if (!h->applied[j])
            return 0;
    return 1;
}

int dn_held_labelled(const dn_held_t *h)
{
    for (int j = 0; j < h->n_h; j++)
        if (h->label[j] == DN_LBL_NONE)
            return 0;
    return 1;
}
