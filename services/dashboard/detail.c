/* detail.c: the dashboard's own LMDB environment (detail.h).
 *
 * Summary rows are small fixed records (bytes.h's little-endian fields);
 * detail rows are the protobuf messages as they came. The mutex serialises
 * every use of the store (store.h: one thread at a time); a commit holds it
 * for one write transaction, a page's read for one or three gets.
 *
 * Horizons (DINAMO-S at several horizons) extend three summary rows at their
 * end, behind the marker HZ_MARK, so rows written before them read as
 * before: a key row then holds its lagged horizons' names (once its first
 * OK S Score fixed them, none included), a threshold row of S their
 * thresholds (once the evaluator published them), a run row each
 * histogram's lagged chi2. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "detail.h"
#include "log.h"
#include "store.h"

struct dash_detail_t {
    dn_store_t *store;
    dn_store_batch_t *batch;
    pthread_mutex_t lock;
    int n_keys_staged;           /* keys 0 .. n-1 have their row */
    int detail_runs, detail_flagged_runs;
};

#define HZ_MARK 0x487a0001u /* "Hz", version 1: a horizons tail follows */

static void seq_key(unsigned char *p, uint64_t seq) { dn_put_be64(p, seq); }
static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}
static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

dash_detail_t *dash_detail_open(const char *dir, int detail_runs, int detail_flagged_runs,
                                dn_err_t *err)
{
    dash_detail_t *self = calloc(1, sizeof *self);
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "detail store: out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->detail_runs = detail_runs;
    self->detail_flagged_runs = detail_flagged_runs;
    if (!(self->batch = dn_store_batch_new())) {
        dn_err_set(err, DN_ENOMEM, "detail store: out of memory");
        goto fail;
    }
    if (!(self->store = dn_store_open(dir, DN_STORE_NOSYNC, 0, err)))
        goto fail;
    return self;
fail:
    dash_detail_destroy(&self);
    return NULL;
}

void dash_detail_destroy(dash_detail_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dash_detail_t *self = *self_p;
    dn_store_destroy(&self->store);
    dn_store_batch_destroy(&self->batch);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/* ---- staging ------------------------------------------------------------------ */

/* Packs a protobuf message into the batch under key. */
static int stage_packed(dash_detail_t *self, const char *table, const unsigned char *key,
                        size_t klen, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return DN_ENOMEM;
    protobuf_c_message_pack(msg, buf);
    int rc = dn_store_batch_put(self->batch, table, key, klen, buf, len);
    free(buf);
    return rc;
}

int dash_detail_stage_hist(dash_detail_t *self, uint64_t seq, int k, const Dinamo__Histogram *h)
{
    unsigned char key[12];
    seq_key(key, seq);
    be32(key + 8, (uint32_t)k);
    return stage_packed(self, "hist", key, sizeof key, &h->base);
}

int dash_detail_stage_score(dash_detail_t *self, uint64_t seq, int k, int me,
                            const Dinamo__Score *s)
{
    unsigned char key[13];
    seq_key(key, seq);
    be32(key + 8, (uint32_t)k);
    key[12] = (unsigned char)me;
    return stage_packed(self, "score", key, sizeof key, &s->base);
}

int dash_detail_stage_label(dash_detail_t *self, uint64_t seq, uint64_t offset,
                            const Dinamo__Label *l)
{
    unsigned char key[16];
    seq_key(key, seq);
    dn_put_be64(key + 8, offset);
    return stage_packed(self, "label", key, sizeof key, &l->base);
}

/* The row of key k: name, subsystem, n_bins, and n_bins_y once a run fixed
 * the key's shape (rows without it read as "shape not known yet"). */
static int stage_key(dash_detail_t *self, const dash_model_t *m, int k)
{
    const dash_key_t *hk = &m->keys[k];
    dn_wbuf_t w = {0};
    const char *sub = hk->subsystem >= 0 ? m->subsystems[hk->subsystem] : "";
    dn_wb_str(&w, hk->name, strlen(hk->name));
    dn_wb_str(&w, sub, strlen(sub));
    dn_wb_u32(&w, (uint32_t)hk->n_bins);
    if (hk->shape_known)
        dn_wb_u32(&w, (uint32_t)hk->n_bins_y);
    if (hk->hz_fixed) {
        dn_wb_u32(&w, HZ_MARK);
        dn_wb_u32(&w, (uint32_t)hk->n_lagged);
        for (int h = 0; h < hk->n_lagged; h++)
            dn_wb_str(&w, hk->hz_name[h], strlen(hk->hz_name[h]));
    }
    unsigned char key[4];
    be32(key, (uint32_t)k);
    int rc = w.oom ? DN_ENOMEM : dn_store_batch_put(self->batch, "key", key, 4, w.p, w.len);
    free(w.p);
    return rc;
}

int dash_detail_stage_keys(dash_detail_t *self, const dash_model_t *m)
{
    for (; self->n_keys_staged < m->n_keys; self->n_keys_staged++) {
        int rc = stage_key(self, m, self->n_keys_staged);
        if (rc)
            return rc;
    }
    return 0;
}

int dash_detail_stage_key(dash_detail_t *self, const dash_model_t *m, int k)
{
    /* a key not staged yet gets its row, shape and all, with the new keys */
    return k < self->n_keys_staged ? stage_key(self, m, k) : 0;
}

int dash_detail_stage_threshold(dash_detail_t *self, const dash_model_t *m, int k, int me)
{
    const dash_key_t *hk = &m->keys[k];
    dn_wbuf_t w = {0};
    dn_wb_f64(&w, hk->bad[me]);
    dn_wb_f64(&w, hk->warning[me]);
    dn_wb_u32(&w, (uint32_t)m->historical_runs);
    dn_wb_str(&w, hk->origin[me], strlen(hk->origin[me]));
    if (me == 0 && hk->hz_tuned) {
        dn_wb_u32(&w, HZ_MARK);
        dn_wb_u32(&w, (uint32_t)hk->n_lagged);
        for (int h = 0; h < hk->n_lagged; h++) {
            dn_wb_str(&w, hk->hz_name[h], strlen(hk->hz_name[h]));
            dn_wb_f64(&w, hk->hz_bad[h]);
        }
    }
    unsigned char key[5];
    be32(key, (uint32_t)k);
    key[4] = (unsigned char)me;
    int rc = w.oom ? DN_ENOMEM : dn_store_batch_put(self->batch, "thr", key, 5, w.p, w.len);
    free(w.p);
    return rc;
}

int dash_detail_stage_run(dash_detail_t *self, const dash_model_t *m, int seq)
{
    const dash_run_t *r = &m->runs[seq];
    dn_wbuf_t w = {0};
    dn_wb_u64(&w, (uint64_t)r->run_number);
    dn_wb_f64(&w, r->time);
    dn_wb_u32(&w, (uint32_t)(r->present | r->detail << 1));
    dn_wb_u32(&w, (uint32_t)(r->lstate | r->lverdict << 8));
    dn_wb_f64(&w, r->ltime);
    dn_wb_str(&w, r->who, r->who ? strlen(r->who) : 0);
    dn_wb_str(&w, r->reason, r->reason ? strlen(r->reason) : 0);
    dn_wb_u32(&w, (uint32_t)r->n_hist);
    for (int i = 0; i < r->n_hist; i++) {
        const dash_cell_t *c = dash_model_cell(m, r->keys[i], (uint64_t)seq);
        dash_cell_t none = {{NAN, NAN}, {0, 0}, -1, 0, 1};
        if (!c)
            c = &none;
        dn_wb_u32(&w, (uint32_t)r->keys[i]);
        dn_wb_f64(&w, c->chi2[0]);
        dn_wb_f64(&w, c->chi2[1]);
        dn_wb_u32(&w, (uint32_t)(c->status[0] | c->status[1] << 8 |
                                 (uint32_t)(uint8_t)c->label << 16 |
                                 (uint32_t)c->label_auto << 24));
    }
    int any = 0;
    for (int i = 0; i < r->n_hist && !any; i++)
        any = m->keys[r->keys[i]].hz_chi2 != NULL;
    if (any) { /* each histogram's lagged chi2: n, then n values (0: none) */
        dn_wb_u32(&w, HZ_MARK);
        for (int i = 0; i < r->n_hist; i++) {
            const dash_key_t *hk = &m->keys[r->keys[i]];
            uint64_t at = (uint64_t)seq - hk->first_seq;
            int has = hk->hz_chi2 && (uint64_t)seq >= hk->first_seq && at < (uint64_t)hk->cap_hz;
            dn_wb_u32(&w, has ? (uint32_t)hk->n_lagged : 0);
            for (int h = 0; has && h < hk->n_lagged; h++)
                dn_wb_f64(&w, hk->hz_chi2[at * (uint64_t)hk->n_lagged + (uint64_t)h]);
        }
    }
    unsigned char key[8];
    seq_key(key, (uint64_t)seq);
    int rc = w.oom ? DN_ENOMEM : dn_store_batch_put(self->batch, "runs", key, 8, w.p, w.len);
    free(w.p);
    return rc;
}

int dash_detail_stage_meta(dash_detail_t *self, const dash_model_t *m)
{
    int rc = dn_store_batch_put(self->batch, "meta", "stream", 6, m->stream, strlen(m->stream));
    unsigned char ended = (unsigned char)m->ended;
    return rc ? rc : dn_store_batch_put(self->batch, "meta", "ended", 5, &ended, 1);
}

/* ---- retention ------------------------------------------------------------------ */

typedef struct prefix_walk_t {
    unsigned char prefix[8];
    dn_store_batch_t *batch;
    const char *table;
    int rc;
} prefix_walk_t;

static int del_prefixed(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    prefix_walk_t *pw = arg;
    if (klen < 8 || memcmp(key, pw->prefix, 8))
        return 1; /* past the run */
    if ((pw->rc = dn_store_batch_del(pw->batch, pw->table, key, klen)))
        return pw->rc;
    return 0;
}

/* Stages the deletion of every detail row of run seq. */
static int drop_detail(dash_detail_t *self, dash_model_t *m, int seq, dn_err_t *err)
{
    static const char *const tables[] = {"hist", "score", "label"};
    for (int t = 0; t < 3; t++) {
        prefix_walk_t pw = {.batch = self->batch, .table = tables[t]};
        seq_key(pw.prefix, (uint64_t)seq);
        pthread_mutex_lock(&self->lock);
        int rc = dn_store_foreach(self->store, tables[t], pw.prefix, 8, del_prefixed, &pw, err);
        pthread_mutex_unlock(&self->lock);
        if (rc)
            return rc;
    }
    m->runs[seq].detail = 0;
    return dash_detail_stage_run(self, m, seq);
}

static int flagged(const dash_run_t *r)
{
    for (int me = 0; me < DASH_METHODS; me++)
        if (r->m[me].severity >= DN_SEV_WARNING)
            return 1;
    return r->lstate == DASH_LABEL_PERSON;
}

int dash_detail_retain(dash_detail_t *self, dash_model_t *m, int seq, dn_err_t *err)
{
    int a = seq - self->detail_runs, b = seq - self->detail_flagged_runs;
    if (self->detail_runs > 0 && a >= 0 && a < m->n_runs && m->runs[a].present &&
        m->runs[a].detail && !flagged(&m->runs[a])) {
        int rc = drop_detail(self, m, a, err);
        if (rc)
            return rc;
    }
    if (self->detail_flagged_runs > 0 && b >= 0 && b < m->n_runs && m->runs[b].present &&
        m->runs[b].detail)
        return drop_detail(self, m, b, err);
    return 0;
}

int dash_detail_commit(dash_detail_t *self, dn_err_t *err)
{
    pthread_mutex_lock(&self->lock);
    int rc = dn_store_apply(self->store, self->batch, err);
    pthread_mutex_unlock(&self->lock);
    if (!rc)
        dn_store_batch_clear(self->batch);
    return rc;
}

int dash_detail_sync(dash_detail_t *self, dn_err_t *err)
{
    pthread_mutex_lock(&self->lock);
    int rc = dn_store_sync(self->store, err);
    pthread_mutex_unlock(&self->lock);
    return rc;
}

/* ---- load ---------------------------------------------------------------------- */

typedef struct load_t {
    dash_model_t *m;
    int rc;
    char what[160];
} load_t;

static const char *const row_tables[DASH_ROW_TABLES] = {"key", "thr", "runs", "meta"};

static int bad_row(load_t *ld, const char *table, const char *what)
{
    snprintf(ld->what, sizeof ld->what, "table %s: %s", table, what);
    return ld->rc = DN_EFORMAT;
}

/* 1 when the next u32 of r is HZ_MARK (r not moved). */
static int hz_mark_next(const dn_rbuf_t *r)
{
    dn_rbuf_t peek = *r;
    return r->len - r->pos >= 4 && dn_rb_u32(&peek) == HZ_MARK;
}

static int load_key(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    load_t *ld = arg;
    dn_rbuf_t r = {val, vlen, 0, 0};
    uint32_t nn, ns;
    const unsigned char *name = dn_rb_str(&r, &nn), *sub = dn_rb_str(&r, &ns);
    uint32_t n_bins = dn_rb_u32(&r), n_bins_y = 0;
    int shape_known = !r.bad && r.len - r.pos >= 4 && !hz_mark_next(&r);
    if (shape_known)
        n_bins_y = dn_rb_u32(&r);
    const char *names[DN_HZ_MAX];
    char name_buf[DN_HZ_MAX][DN_HZ_NAME_MAX];
    int n_hz = -1; /* -1: no horizons fixed */
    if (!r.bad && hz_mark_next(&r)) {
        dn_rb_u32(&r);
        uint32_t n = dn_rb_u32(&r);
        if (n >= DN_HZ_MAX)
            return bad_row(ld, "key", "more horizons than a key holds");
        for (uint32_t h = 0; h < n; h++) {
            uint32_t len;
            const unsigned char *p = dn_rb_str(&r, &len);
            snprintf(name_buf[h], DN_HZ_NAME_MAX, "%.*s",
                     (int)(len < DN_HZ_NAME_MAX ? len : DN_HZ_NAME_MAX - 1),
                     p ? (const char *)p : "");
            names[h] = name_buf[h];
        }
        n_hz = (int)n;
    }
    if (klen != 4 || r.bad || get_be32(key) != (uint32_t)ld->m->n_keys)
        return bad_row(ld, "key", "a row out of order or truncated");
    if (shape_known && n_bins_y && (!n_bins || n_bins % n_bins_y))
        return bad_row(ld, "key", "bins of y that do not divide the bins");
    char *n = strndup((const char *)name, nn), *s = strndup((const char *)sub, ns);
    int k = n && s ? dash_model_key(ld->m, n, s[0] ? s : NULL, (int)n_bins) : -1;
    free(n);
    free(s);
    if (k < 0)
        return ld->rc = DN_ENOMEM;
    if (shape_known)
        dash_model_key_shape(ld->m, k, (int)n_bins, (int)n_bins_y);
    if (n_hz >= 0 && dash_model_score_hz(ld->m, DASH_MAX_SEQ, k, n_hz, names, NULL))
        return bad_row(ld, "key", "horizon names that are no horizons");
    return 0;
}

static int load_thr(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    load_t *ld = arg;
    const unsigned char *kp = key;
    dn_rbuf_t r = {val, vlen, 0, 0};
    double bad = dn_rb_f64(&r), warning = dn_rb_f64(&r);
    int hist = (int)dn_rb_u32(&r);
    uint32_t no;
    const unsigned char *origin = dn_rb_str(&r, &no);
    if (klen != 5 || r.bad || get_be32(kp) >= (uint32_t)ld->m->n_keys || kp[4] >= DASH_METHODS)
        return bad_row(ld, "thr", "a row naming no key, or truncated");
    char o[16];
    snprintf(o, sizeof o, "%.*s", (int)(no < 15 ? no : 15), (const char *)origin);
    int rc = dash_model_threshold(ld->m, (int)get_be32(kp), kp[4], bad, warning, hist, o);
    if (rc || kp[4] != 0 || !hz_mark_next(&r))
        return rc;
    dn_rb_u32(&r);
    uint32_t n = dn_rb_u32(&r);
    const char *names[DN_HZ_MAX];
    char name_buf[DN_HZ_MAX][DN_HZ_NAME_MAX];
    double hz_bad[DN_HZ_MAX];
    if (r.bad || n >= DN_HZ_MAX)
        return bad_row(ld, "thr", "a truncated horizons tail");
    for (uint32_t h = 0; h < n; h++) {
        uint32_t len;
        const unsigned char *p = dn_rb_str(&r, &len);
        snprintf(name_buf[h], DN_HZ_NAME_MAX, "%.*s",
                 (int)(len < DN_HZ_NAME_MAX ? len : DN_HZ_NAME_MAX - 1), p ? (const char *)p : "");
        names[h] = name_buf[h];
        hz_bad[h] = dn_rb_f64(&r);
    }
    if (r.bad)
        return bad_row(ld, "thr", "a truncated horizons tail");
    return dash_model_threshold_hz(ld->m, (int)get_be32(kp), (int)n, names, hz_bad);
}

static int load_run(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    load_t *ld = arg;
    dash_model_t *m = ld->m;
    dn_rbuf_t r = {val, vlen, 0, 0};
    if (klen != 8)
        return bad_row(ld, "runs", "a key that is not a run_seq");
    uint64_t seq = dn_get_be64(key);
    int64_t run_number = (int64_t)dn_rb_u64(&r);
    double time = dn_rb_f64(&r);
    uint32_t flags = dn_rb_u32(&r), lab = dn_rb_u32(&r);
    double ltime = dn_rb_f64(&r);
    uint32_t nw, nr;
    const unsigned char *who = dn_rb_str(&r, &nw), *reason = dn_rb_str(&r, &nr);
    uint32_t n_hist = dn_rb_u32(&r);
    if (r.bad || n_hist > (r.len - r.pos) / 24 || seq >= DASH_MAX_SEQ)
        return bad_row(ld, "runs", "a truncated row");
    int *keys = malloc((size_t)(n_hist + 1) * sizeof *keys);
    char *w = strndup((const char *)who, nw), *why = strndup((const char *)reason, nr);
    int rc = keys && w && why ? 0 : DN_ENOMEM;
    size_t cells_at = r.pos;
    for (uint32_t i = 0; i < n_hist && !rc; i++) {
        keys[i] = (int)dn_rb_u32(&r);
        r.pos += 20;
        if (keys[i] < 0 || keys[i] >= m->n_keys)
            rc = bad_row(ld, "runs", "a histogram of an unknown key");
    }
    if (!rc && (flags & 1))
        rc = dash_model_run(m, seq, run_number, time, keys, (int)n_hist);
    r.pos = cells_at;
    for (uint32_t i = 0; i < n_hist && !rc; i++) {
        int k = (int)dn_rb_u32(&r);
        double c0 = dn_rb_f64(&r), c1 = dn_rb_f64(&r);
        uint32_t st = dn_rb_u32(&r);
        if (st & 0xff)
            rc = dash_model_score(m, 0, seq, k, (int)(st & 0xff), c0, NAN);
        if (!rc && (st >> 8 & 0xff))
            rc = dash_model_score(m, 1, seq, k, (int)(st >> 8 & 0xff), c1, NAN);
        int8_t label = (int8_t)(st >> 16 & 0xff);
        if (!rc && label >= 0) {
            const dash_cell_t *c = dash_model_cell(m, k, seq);
            dash_cell_t *cw = (dash_cell_t *)c;
            if (cw) {
                cw->label = label;
                cw->label_auto = (uint8_t)(st >> 24);
            }
        }
    }
    if (!rc && hz_mark_next(&r)) { /* each histogram's lagged chi2 */
        dn_rb_u32(&r);
        for (uint32_t i = 0; i < n_hist && !rc; i++) {
            uint32_t n = dn_rb_u32(&r);
            const dash_key_t *hk = &m->keys[keys[i]];
            double chi2[DN_HZ_MAX];
            const char *names[DN_HZ_MAX];
            if (r.bad || n >= DN_HZ_MAX || (n && (int)n != hk->n_lagged)) {
                rc = bad_row(ld, "runs", "lagged horizons that are not the key's");
                break;
            }
            for (uint32_t h = 0; h < n; h++) {
                chi2[h] = dn_rb_f64(&r);
                names[h] = hk->hz_name[h];
            }
            if (r.bad)
                rc = bad_row(ld, "runs", "a truncated horizons tail");
            else if (n && dash_model_score_hz(m, seq, keys[i], (int)n, names, chi2) < 0)
                rc = DN_ENOMEM;
        }
    }
    if (!rc && (lab & 0xff) != DASH_LABEL_AWAITING)
        rc = dash_model_shown(m, seq, (dash_label_state_t)(lab & 0xff), (int)(lab >> 8 & 0xff),
                              w, why, ltime);
    if (!rc && seq < (uint64_t)m->n_runs)
        m->runs[seq].detail = (uint8_t)(flags >> 1 & 1);
    free(keys);
    free(w);
    free(why);
    if (rc && !ld->rc)
        ld->rc = rc;
    return rc;
}

static int load_meta(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    load_t *ld = arg;
    if (klen == 6 && !memcmp(key, "stream", 6))
        snprintf(ld->m->stream, sizeof ld->m->stream, "%.*s", (int)vlen, (const char *)val);
    else if (klen == 5 && !memcmp(key, "ended", 5) && vlen == 1)
        ld->m->ended = *(const unsigned char *)val;
    return 0;
}

int dash_detail_row(dash_model_t *m, dash_row_t table, const void *key, size_t klen,
                    const void *val, size_t vlen, dn_err_t *err)
{
    static const dn_store_visit_fn fns[DASH_ROW_TABLES] = {load_key, load_thr, load_run,
                                                           load_meta};
    if ((unsigned)table >= DASH_ROW_TABLES)
        return dn_err_set(err, DN_EINVAL, "detail store: no table %d", (int)table);
    load_t ld = {.m = m};
    int rc = fns[table](key, klen, val, vlen, &ld);
    if (!rc)
        return 0;
    if (ld.rc == DN_EFORMAT)
        return dn_err_set(err, DN_EFORMAT, "detail store: %s", ld.what);
    return dn_err_set(err, ld.rc ? ld.rc : rc, "detail store: loading %s: %s", row_tables[table],
                      dn_strerror(ld.rc ? ld.rc : rc));
}

typedef struct load_walk_t {
    dash_model_t *m;
    dash_row_t table;
    dn_err_t *err;
} load_walk_t;

static int load_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    load_walk_t *lw = arg;
    return dash_detail_row(lw->m, lw->table, key, klen, val, vlen, lw->err);
}

int dash_detail_load(dash_detail_t *self, dash_model_t *m, dn_err_t *err)
{
    int rc = 0;
    pthread_mutex_lock(&self->lock);
    for (int t = 0; t < DASH_ROW_TABLES && !rc; t++) {
        load_walk_t lw = {m, (dash_row_t)t, err};
        rc = dn_store_foreach(self->store, row_tables[t], NULL, 0, load_visit, &lw, err);
    }
    pthread_mutex_unlock(&self->lock);
    self->n_keys_staged = m->n_keys;
    if (!rc)
        dash_model_settle(m, NULL, NULL);
    return rc;
}

/* ---- reads ---------------------------------------------------------------------- */

int dash_detail_get(dash_detail_t *self, uint64_t seq, int k, Dinamo__Histogram **h,
                    Dinamo__Score *s[DASH_METHODS], dn_err_t *err)
{
    *h = NULL;
    for (int me = 0; me < DASH_METHODS; me++)
        s[me] = NULL;
    unsigned char key[13];
    seq_key(key, seq);
    be32(key + 8, (uint32_t)k);
    void *val = NULL;
    size_t vlen = 0;
    int rc;
    pthread_mutex_lock(&self->lock);
    rc = dn_store_get(self->store, "hist", key, 12, &val, &vlen, err);
    if (!rc && !(*h = dinamo__histogram__unpack(NULL, vlen, val)))
        rc = dn_err_set(err, DN_EFORMAT, "detail store: histogram of run_seq %llu does not "
                        "decode", (unsigned long long)seq);
    free(val);
    for (int me = 0; me < DASH_METHODS && (!rc || rc == DN_ENOTFOUND); me++) {
        key[12] = (unsigned char)me;
        val = NULL;
        rc = dn_store_get(self->store, "score", key, 13, &val, &vlen, err);
        if (!rc && !(s[me] = dinamo__score__unpack(NULL, vlen, val)))
            rc = dn_err_set(err, DN_EFORMAT, "detail store: score of run_seq %llu does not "
                            "decode", (unsigned long long)seq);
        free(val);
    }
    pthread_mutex_unlock(&self->lock);
    if (rc == DN_ENOTFOUND)
        rc = 0;
    if (rc) {
        if (*h)
            dinamo__histogram__free_unpacked(*h, NULL);
        *h = NULL;
        for (int me = 0; me < DASH_METHODS; me++) {
            if (s[me])
                dinamo__score__free_unpacked(s[me], NULL);
            s[me] = NULL;
        }
    }
    return rc;
}

typedef struct labels_walk_t {
    unsigned char prefix[8];
    int (*fn)(void *arg, const Dinamo__Label *l);
    void *arg;
} labels_walk_t;

static int visit_label(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    labels_walk_t *lw = arg;
    if (klen < 8 || memcmp(key, lw->prefix, 8))
        return 1;
    Dinamo__Label *l = dinamo__label__unpack(NULL, vlen, val);
    if (!l)
        return 0; /* a damaged row hides one label, not the page */
    int rc = lw->fn(lw->arg, l);
    dinamo__label__free_unpacked(l, NULL);
    return rc;
}

int dash_detail_labels(dash_detail_t *self, uint64_t seq,
                       int (*fn)(void *arg, const Dinamo__Label *l), void *arg, dn_err_t *err)
{
    labels_walk_t lw = {.fn = fn, .arg = arg};
    seq_key(lw.prefix, seq);
    pthread_mutex_lock(&self->lock);
    int rc = dn_store_foreach(self->store, "label", lw.prefix, 8, visit_label, &lw, err);
    pthread_mutex_unlock(&self->lock);
    return rc;
}
