/* ledger.c: the feed's record of what it published from a directory, in
 * three tables of its store:
 *
 *   feed.files  file name -> "<size> <mtime_ns> <run> <status>", status
 *               published, rejected or duplicate: a file seen again is not
 *               read again;
 *   feed.runs   run number (8 bytes big-endian, sign bit flipped so the order
 *               is numeric) -> "<run_seq> <labelled> <file>": labelled = 1
 *               when the input gave the run a label (then no automatic label
 *               is taken); a second file with the run is a duplicate;
 *   feed.keys   histogram key -> its binning (u32 bins, u32 flags, then for
 *               a 2-D key u32 bins of y, then the edges as f64: of x, and of
 *               y for a 2-D key, when flags has HAS_EDGES): the first binning
 *               published under a key fixes it, its shape too (4x3 bins are
 *               not 6x2 nor 1-D 12). Flags are HAS_EDGES | IS_2D; records
 *               written before 2-D histograms (flags 0 or 1) read as 1-D.
 *
 * Invariant: rows are staged here and reach the store only in the node's
 * commit, in the same transaction as the log entries they account for, so
 * after a kill -9 the tables and the log agree. Lookups read committed rows;
 * the binnings are also cached (by key, in a keytab), so runs of one round
 * that introduce a key see each other before the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "histo.h"
#include "keytab.h"

#define T_FILES "feed.files"
#define T_RUNS "feed.runs"
#define T_KEYS "feed.keys"

enum { HAS_EDGES = 1u, IS_2D = 2u }; /* flags of a feed.keys record */

typedef struct binning_t { /* a key's binning, as in feed.keys */
    void *blob;
    size_t len;
} binning_t;

enum { TAB_FILES, TAB_RUNS, TAB_KEYS, N_TABLES };
static const char *const tables[N_TABLES] = {T_FILES, T_RUNS, T_KEYS};

struct feed_ledger_t {
    dn_store_t *store;
    dn_wbuf_t rows;     /* staged rows: (u32 table, str key, str value) each */
    int n_rows;
    dn_keytab_t *keys;  /* key -> index into binning */
    binning_t *binning;
    int cap_binning;
};

feed_ledger_t *feed_ledger_new(dn_store_t *store)
{
    feed_ledger_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    if (!(self->keys = dn_keytab_new()))
        feed_ledger_destroy(&self);
    return self;
}

void feed_ledger_destroy(feed_ledger_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    feed_ledger_t *self = *self_p;
    free(self->rows.p);
    for (int i = 0; self->keys && i < dn_keytab_count(self->keys); i++)
        free(self->binning[i].blob);
    free(self->binning);
    dn_keytab_destroy(&self->keys);
    free(self);
    *self_p = NULL;
}

/* ---- staging ------------------------------------------------------------------- */

/* Stages a row of tables[table]. Returns 0 or DN_ENOMEM (nothing staged). */
static int put(feed_ledger_t *self, uint32_t table, const void *key, size_t klen,
               const void *val, size_t vlen)
{
    size_t len = self->rows.len;
    dn_wb_u32(&self->rows, table);
    dn_wb_str(&self->rows, key, klen);
    dn_wb_str(&self->rows, val, vlen);
    if (self->rows.oom) {
        self->rows.oom = 0;
        self->rows.len = len;
        return DN_ENOMEM;
    }
    self->n_rows++;
    return DN_OK;
}

int feed_ledger_staged(const feed_ledger_t *self)
{
    return self->n_rows;
}

int feed_ledger_stage(const feed_ledger_t *self, dn_store_batch_t *batch)
{
    dn_rbuf_t r = {self->rows.p, self->rows.len, 0, 0};
    for (int i = 0; i < self->n_rows; i++) {
        uint32_t table = dn_rb_u32(&r), klen, vlen;
        const unsigned char *key = dn_rb_str(&r, &klen), *val = dn_rb_str(&r, &vlen);
        if (r.bad || table >= N_TABLES)
            return DN_EINVAL; /* cannot happen: put wrote them */
        int rc = dn_store_batch_put(batch, tables[table], key, klen, val, vlen);
        if (rc)
            return rc;
    }
    return DN_OK;
}

void feed_ledger_committed(feed_ledger_t *self)
{
    self->rows.len = 0;
    self->n_rows = 0;
}

/* ---- files and runs -------------------------------------------------------------- */

int feed_ledger_put_file(feed_ledger_t *self, const char *name, const feed_file_rec_t *rec)
{
    char v[128];
    int n = snprintf(v, sizeof v, "%lld %lld %lld %s", (long long)rec->size,
                     (long long)rec->mtime_ns, (long long)rec->run, rec->status);
    return put(self, TAB_FILES, name, strlen(name), v, (size_t)n + 1);
}

int feed_ledger_file(feed_ledger_t *self, const char *name, feed_file_rec_t *rec,
                     dn_err_t *err)
{
    void *v = NULL;
    size_t n = 0;
    int rc = dn_store_get(self->store, T_FILES, name, strlen(name), &v, &n, err);
    if (rc)
        return rc;
    long long s, m, r;
    char st[16];
    int ok = n > 0 && ((char *)v)[n - 1] == '\0' &&
             sscanf(v, "%lld %lld %lld %15s", &s, &m, &r, st) == 4;
    free(v);
    if (!ok)
        return dn_err_set(err, DN_EFORMAT, "%s: the record of %s is damaged", T_FILES, name);
    *rec = (feed_file_rec_t){.size = (off_t)s, .mtime_ns = m, .run = r};
    snprintf(rec->status, sizeof rec->status, "%s", st);
    return DN_OK;
}

static void run_key(int64_t run, unsigned char k[8])
{
    dn_put_be64(k, (uint64_t)run ^ (UINT64_C(1) << 63)); /* order-preserving */
}

int feed_ledger_put_run(feed_ledger_t *self, int64_t run, uint64_t run_seq, int labelled,
                        const char *file)
{
    unsigned char k[8];
    run_key(run, k);
    char v[512];
    int n = snprintf(v, sizeof v, "%llu %d %s", (unsigned long long)run_seq, labelled != 0,
                     file);
    if (n < 0 || (size_t)n >= sizeof v)
        n = (int)sizeof v - 1; /* the file name is for the reader; the fields come first */
    return put(self, TAB_RUNS, k, 8, v, (size_t)n + 1);
}

int feed_ledger_run(feed_ledger_t *self, int64_t run, dn_events_run_t *out, char **by,
                    dn_err_t *err)
{
    *out = (dn_events_run_t){0};
    unsigned char k[8];
    run_key(run, k);
    void *v = NULL;
    size_t n = 0;
    int rc = dn_store_get(self->store, T_RUNS, k, 8, &v, &n, err);
    if (rc == DN_ENOTFOUND)
        return DN_OK;
    if (rc)
        return rc;
    unsigned long long seq = 0;
    int labelled = 0, used = 0;
    if (n == 0 || ((char *)v)[n - 1] != '\0' || sscanf(v, "%llu %d %n", &seq, &labelled,
                                                        &used) < 2) {
        free(v);
        return dn_err_set(err, DN_EFORMAT, "%s: the record of run %lld is damaged", T_RUNS,
                          (long long)run);
    }
    *out = (dn_events_run_t){.found = 1, .run_seq = seq, .labelled = labelled};
    if (by && !(*by = strdup((char *)v + used)))
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
    free(v);
    return rc;
}

/* ---- binnings -------------------------------------------------------------------- */

/* *b = the cached binning of key (read from feed.keys the first time), or
 * NULL when the key was never published. Returns 0 or the store's error. */
static int binning_of(feed_ledger_t *self, const char *key, const binning_t **b, dn_err_t *err)
{
    int i = dn_keytab_find(self->keys, key);
    if (i >= 0) {
        *b = &self->binning[i];
        return DN_OK;
    }
    *b = NULL;
    void *v = NULL;
    size_t n = 0;
    int rc = dn_store_get(self->store, T_KEYS, key, strlen(key), &v, &n, err);
    if (rc == DN_ENOTFOUND)
        return DN_OK;
    if (rc)
        return rc;
    if ((rc = dn_keytab_add(self->keys, key)) < 0) {
        free(v);
        return dn_err_set(err, rc, "out of memory");
    }
    self->binning[rc] = (binning_t){v, n};
    *b = &self->binning[rc];
    return DN_OK;
}

/* Caches and stages the binning w (taken over) as key's first. */
static int binning_first(feed_ledger_t *self, const char *key, dn_wbuf_t *w, dn_err_t *err)
{
    int rc = put(self, TAB_KEYS, key, strlen(key), w->p, w->len);
    if (!rc && (rc = dn_keytab_add(self->keys, key)) >= 0) {
        self->binning[rc] = (binning_t){w->p, w->len};
        *w = (dn_wbuf_t){0};
        return DN_OK;
    }
    return dn_err_set(err, DN_ENOMEM, "out of memory");
}

/* Compares the edges of one axis (n of them) with the record's next n. */
static int edges_same(dn_rbuf_t *r, const double *e, int n, const char *axis, char *why,
                      size_t cap)
{
    for (int j = 0; j < n; j++) {
        double was = dn_rb_f64(r);
        if (was != e[j]) {
            snprintf(why, cap, "binning changed: edge %d%s is %.17g, the key was published "
                     "with %.17g", j, axis, e[j], was);
            return 0;
        }
    }
    return 1;
}

/* Compares h with the published binning b: bins, shape (bins of y), and the
 * edges when both have them. */
static int binning_same(const binning_t *b, const dn_histin_t *h, char *why, size_t cap)
{
    dn_rbuf_t r = {b->blob, b->len, 0, 0};
    uint32_t nb = dn_rb_u32(&r), flags = dn_rb_u32(&r);
    int ny = flags & IS_2D ? (int)dn_rb_u32(&r) : 0, hy = h->n_bins_y > 0 ? h->n_bins_y : 0;
    if (nb != (uint32_t)h->n_bins || ny != hy) {
        char got[64], want[64];
        dn_hist_binning_name(got, sizeof got, h->n_bins, hy);
        dn_hist_binning_name(want, sizeof want, (int)nb, ny);
        snprintf(why, cap, "binning changed: %s, the key was published with %s", got, want);
        return 0;
    }
    if (!(flags & HAS_EDGES) || !h->edges || (ny && !h->edges_y))
        return 1;
    const int nx = ny ? h->n_bins / ny : h->n_bins;
    return edges_same(&r, h->edges, nx + 1, ny ? " of x" : "", why, cap) &&
           (!ny || edges_same(&r, h->edges_y, ny + 1, " of y", why, cap));
}

int feed_ledger_binning(feed_ledger_t *self, const dn_histin_t *h, char *why, size_t cap,
                        dn_err_t *err)
{
    /* room for one more key, so that adding one cannot fail half-way */
    int need = dn_keytab_count(self->keys) + 1;
    if (need > self->cap_binning) {
        int c = self->cap_binning ? 2 * self->cap_binning : 64;
        binning_t *p = realloc(self->binning, (size_t)c * sizeof *p);
        if (!p)
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        self->binning = p;
        self->cap_binning = c;
    }
    const binning_t *b = NULL;
    int rc = binning_of(self, h->key, &b, err);
    if (rc)
        return rc;
    if (b)
        return binning_same(b, h, why, cap);
    const int ny = h->n_bins_y > 0 ? h->n_bins_y : 0, nx = ny ? h->n_bins / ny : h->n_bins;
    const int edges = h->edges && (!ny || h->edges_y);
    dn_wbuf_t w = {0};
    dn_wb_u32(&w, (uint32_t)h->n_bins);
    dn_wb_u32(&w, (edges ? HAS_EDGES : 0u) | (ny ? IS_2D : 0u));
    if (ny)
        dn_wb_u32(&w, (uint32_t)ny);
    for (int j = 0; edges && j <= nx; j++)
        dn_wb_f64(&w, h->edges[j]);
    for (int j = 0; edges && ny && j <= ny; j++)
        dn_wb_f64(&w, h->edges_y[j]);
    rc = w.oom ? dn_err_set(err, DN_ENOMEM, "out of memory") : binning_first(self, h->key, &w, err);
    free(w.p);
    return rc ? rc : 1;
}
