/* feed: publishes real histograms as the events log, in place of the generator.
 *
 * Input (`input`): a runs CSV or an .npz dataset of the Python reference (one
 * histogram per run, published under `key`), or a directory of UHI JSON files,
 * one run each, any number of histograms (input.h, uhi.h). Labels that come
 * with the input (CSV label column, npz y, UHI metadata "label", a `labels`
 * file) are published as RECORDED labels `label_delay_runs` runs after their
 * run; runs without one get none (a person or an automatic rule gives it).
 *
 * A directory is read once, in run-number order, and the stream ends
 * (END_OF_STREAM), unless `watch` is on: then the feed follows the directory
 * with inotify and publishes each new file when it is complete: closed after
 * writing or renamed in, and parsing as a whole document; a file that does not
 * parse yet is retried until it is `settle_s` seconds old, then rejected. Write
 * files under a name that does not end in .json and rename them, or write them
 * in one go.
 *
 * Every run is published exactly once across restarts (kill -9 included): the
 * table feed.files (file name -> size, mtime, run, status) and feed.runs (run
 * number -> file) commit in the same LMDB transaction as the log entries and
 * the checkpoint. A file seen again unchanged is skipped; changed, it is
 * reported and ignored (its run was published); a second file with a run number
 * already published is rejected.
 *
 * Bad input never stops the feed: a file that is not JSON, a histogram with an
 * unknown axis or storage type, wrong lengths, NaN or negative counts, or a
 * binning different from the first one published under its key (feed.keys) is
 * left out with a WARN naming file and histogram, and counted; the rest of the
 * run and the stream go on. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "bytes.h"
#include "config.h"
#include "input.h"
#include "log.h"
#include "msg.h"
#include "runin.h"
#include "service.h"
#include "store.h"
#include "stream.h"
#include "uhi.h"

#define CKPT_NAME "feed"
#define CKPT_MAGIC "DNFD"
#define CKPT_VERSION 1u
#define T_FILES "feed.files"
#define T_RUNS "feed.runs"
#define T_KEYS "feed.keys"
#define RUNS_PER_ROUND 16

typedef struct label_t {
    uint64_t seq;
    int64_t run;
    int verdict; /* 0 good, 1 bad */
} label_t;

typedef struct cand_t { /* a directory file not yet published or rejected */
    char *name;
    off_t size;
    int64_t mtime_ns;
    int closed; /* written and closed, renamed in, or found at start */
} cand_t;

typedef struct binning_t { /* a key's published binning (feed.keys value) */
    char *key;
    void *blob;
    size_t len;
} binning_t;

typedef struct feed_t {
    /* configuration */
    char input[4096];
    dn_input_kind_t kind;
    int watch, exit_at_end, delay_runs;
    double settle_s;
    char key[256], subsystem[128], stream[128], labels_path[4096];
    char fingerprint[16384];
    /* single-file inputs */
    dn_dataset_t *ds;
    /* directory inputs */
    cand_t *cand;
    int n_cand, cap_cand;
    int ino_fd;
    binning_t *binning;
    int n_binning;
    int64_t *lab_run; /* labels file, sorted by run */
    int8_t *lab_val;
    int n_lab;
    /* plumbing */
    dn_service_t *svc;
    dn_store_t *store;
    dn_sock_t *pub, *pull;
    dn_source_t *source;
    dn_store_batch_t *batch;
    /* state (checkpointed) */
    uint64_t next_seq;  /* runs published */
    uint64_t next_row;  /* single-file inputs: next row */
    uint64_t labels_sent;
    int eos_done;
    label_t *pending;   /* labels waiting for label_delay_runs more runs */
    int n_pending, cap_pending;
    int dirty;
    /* counters (logged) */
    uint64_t files_rejected, hists_rejected, duplicates, labels_received, labels_rejected;
} feed_t;

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- appending ----------------------------------------------------------- */

static int queue_label(feed_t *f, uint64_t seq, int64_t run, int verdict)
{
    if (f->n_pending == f->cap_pending) {
        int cap = f->cap_pending ? 2 * f->cap_pending : 16;
        label_t *p = realloc(f->pending, (size_t)cap * sizeof *p);
        if (!p)
            return DN_ENOMEM;
        f->pending = p;
        f->cap_pending = cap;
    }
    f->pending[f->n_pending++] = (label_t){seq, run, verdict};
    return DN_OK;
}

/* Appends the labels whose run is label_delay_runs runs old (all at the end). */
static int flush_labels(feed_t *f, int all, dn_err_t *err)
{
    int k = 0;
    for (; k < f->n_pending; k++) {
        label_t *l = &f->pending[k];
        if (!all && l->seq + (uint64_t)f->delay_runs >= f->next_seq)
            break;
        if (dn_source_room(f->source) <= 0)
            break;
        Dinamo__Label m = DINAMO__LABEL__INIT;
        m.stream = f->stream;
        m.has_run_number = m.has_run_seq = m.has_verdict = m.has_source = m.has_time = 1;
        m.run_number = l->run;
        m.run_seq = l->seq;
        m.verdict = l->verdict ? DINAMO__VERDICT__BAD : DINAMO__VERDICT__GOOD;
        m.source = DINAMO__LABEL_SOURCE__RECORDED;
        m.who = (char *)"feed";
        m.reason = (char *)"label recorded with the input";
        m.time = wall_now();
        Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
        env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
        env.label = &m;
        int rc = dn_source_append(f->source, &env, err);
        if (rc)
            return dn_err_prefix(err, "label of run %lld", (long long)l->run);
        f->labels_sent++;
        f->dirty = 1;
    }
    if (k) {
        memmove(f->pending, f->pending + k, (size_t)(f->n_pending - k) * sizeof *f->pending);
        f->n_pending -= k;
    }
    return DN_OK;
}

static int append_run(feed_t *f, const dn_runin_t *r, dn_err_t *err)
{
    Dinamo__Histogram *hs = calloc((size_t)r->n_hist + 1, sizeof *hs);
    Dinamo__Histogram **hp = calloc((size_t)r->n_hist + 1, sizeof *hp);
    if (!hs || !hp) {
        free(hs);
        free(hp);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    for (int k = 0; k < r->n_hist; k++) {
        const dn_histin_t *h = &r->hist[k];
        dinamo__histogram__init(&hs[k]);
        hs[k].key = h->key;
        hs[k].subsystem = h->subsystem;
        hs[k].n_counts = (size_t)h->n_bins;
        hs[k].counts = h->counts;
        hs[k].n_variances = h->variances ? (size_t)h->n_bins : 0;
        hs[k].variances = h->variances;
        hs[k].n_edges = h->edges ? (size_t)h->n_bins + 1 : 0;
        hs[k].edges = h->edges;
        hp[k] = &hs[k];
    }
    Dinamo__Run m = DINAMO__RUN__INIT;
    m.stream = f->stream;
    m.has_run_number = m.has_run_seq = m.has_time = 1;
    m.run_number = r->run_number;
    m.run_seq = f->next_seq;
    m.time = isfinite(r->time) ? r->time : wall_now();
    m.n_histograms = (size_t)r->n_hist;
    m.histograms = hp;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    env.run = &m;
    int rc = dn_source_append(f->source, &env, err);
    free(hs);
    free(hp);
    if (rc)
        return dn_err_prefix(err, "run %lld", (long long)r->run_number);
    if (r->label >= 0 && (rc = queue_label(f, f->next_seq, r->run_number, r->label)))
        return dn_err_set(err, rc, "out of memory");
    f->next_seq++;
    f->dirty = 1;
    return DN_OK;
}

static int append_eos(feed_t *f, int64_t final_run, dn_err_t *err)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = c.has_final_run_number = c.has_final_run_seq = c.has_n_runs = 1;
    c.has_n_labels = 1;
    c.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    c.stream = f->stream;
    c.final_run_number = final_run;
    c.final_run_seq = f->next_seq ? f->next_seq - 1 : 0;
    c.n_runs = f->next_seq;
    c.n_labels = f->labels_sent;
    c.service = (char *)"feed";
    c.log = (char *)"events";
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    int rc = dn_source_append(f->source, &env, err);
    if (rc)
        return dn_err_prefix(err, "end of stream");
    f->eos_done = 1;
    f->dirty = 1;
    dn_log(DN_LOG_INFO, "end of stream appended: %llu runs, %llu labels",
           (unsigned long long)f->next_seq, (unsigned long long)f->labels_sent);
    return DN_OK;
}

/* ---- single-file inputs (CSV, npz) ------------------------------------------ */

static int advance_rows(feed_t *f, dn_err_t *err)
{
    const dn_dataset_t *ds = f->ds;
    int appended = 0;
    while (f->next_row < (uint64_t)ds->n_runs && appended < RUNS_PER_ROUND &&
           dn_source_room(f->source) > 0) {
        size_t i = (size_t)f->next_row;
        dn_histin_t h = {.key = f->key,
                         .subsystem = f->subsystem,
                         .n_bins = ds->n_bins,
                         .counts = ds->counts + i * (size_t)ds->n_bins,
                         .variances = ds->variances ? ds->variances + i * (size_t)ds->n_bins
                                                    : NULL,
                         .edges = ds->edges};
        dn_runin_t r = {.run_number = ds->run[i], .time = NAN, .label = ds->label[i],
                        .n_hist = 1, .hist = &h};
        int rc = append_run(f, &r, err);
        if (rc)
            return rc;
        f->next_row++;
        appended++;
        if ((rc = flush_labels(f, 0, err)))
            return rc;
    }
    if (f->next_row == (uint64_t)ds->n_runs) {
        int rc = flush_labels(f, 1, err);
        if (rc)
            return rc;
        if (!f->eos_done && !f->n_pending && dn_source_room(f->source) > 0)
            return append_eos(f, ds->n_runs ? ds->run[ds->n_runs - 1] : -1, err);
    }
    return appended == RUNS_PER_ROUND ? 1 : 0;
}

/* ---- directory inputs -------------------------------------------------------- */

/* feed.files value: "<size> <mtime_ns> <run> <status>" */
static int file_record(feed_t *f, const char *name, off_t *size, int64_t *mtime, int64_t *run,
                       char *status)
{
    void *v = NULL;
    size_t n = 0;
    int rc = dn_store_get(f->store, T_FILES, name, strlen(name), &v, &n, NULL);
    if (rc)
        return rc;
    long long s, m, r;
    char st[16];
    int ok = sscanf(v, "%lld %lld %lld %15s", &s, &m, &r, st) == 4;
    free(v);
    if (!ok)
        return DN_EFORMAT;
    *size = (off_t)s;
    *mtime = m;
    *run = r;
    snprintf(status, 16, "%s", st);
    return DN_OK;
}

static int stage_file(feed_t *f, const cand_t *c, int64_t run, const char *status)
{
    char v[128];
    int n = snprintf(v, sizeof v, "%lld %lld %lld %s", (long long)c->size,
                     (long long)c->mtime_ns, (long long)run, status);
    f->dirty = 1;
    return dn_store_batch_put(f->batch, T_FILES, c->name, strlen(c->name), v, (size_t)n + 1);
}

static void run_key(int64_t run, unsigned char k[8])
{
    dn_put_be64(k, (uint64_t)run ^ (UINT64_C(1) << 63)); /* order-preserving */
}

/* feed.runs value: "<run_seq> <recorded> <file>": recorded = 1 when the input
 * gave the run a label (then no automatic label is taken for it) */
static int stage_run(feed_t *f, int64_t run, uint64_t seq, int recorded, const char *file)
{
    unsigned char k[8];
    run_key(run, k);
    char v[512];
    int n = snprintf(v, sizeof v, "%llu %d %s", (unsigned long long)seq, recorded != 0, file);
    return dn_store_batch_put(f->batch, T_RUNS, k, 8, v, (size_t)n + 1);
}

/* 1 when run was published: *seq (nullable) its run_seq, *recorded (nullable)
 * whether the input labelled it, *by (nullable, caller frees) its file. */
static int run_published(feed_t *f, int64_t run, uint64_t *seq, int *recorded, char **by)
{
    if (f->ds) { /* single-file input: row order is run_seq */
        int lo = 0, hi = (int)f->next_row - 1;
        while (lo <= hi) {
            int mid = lo + (hi - lo) / 2;
            if (f->ds->run[mid] == run) {
                if (seq)
                    *seq = (uint64_t)mid;
                if (recorded)
                    *recorded = f->ds->label[mid] >= 0;
                return 1;
            }
            if (f->ds->run[mid] < run)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        return 0;
    }
    unsigned char k[8];
    run_key(run, k);
    void *v = NULL;
    size_t n;
    int rc = dn_store_get(f->store, T_RUNS, k, 8, &v, &n, NULL);
    if (rc != DN_OK)
        return 0;
    unsigned long long sq = 0;
    int rec = 0, used = 0;
    if (sscanf(v, "%llu %d %n", &sq, &rec, &used) < 2) {
        free(v);
        return 0;
    }
    if (seq)
        *seq = sq;
    if (recorded)
        *recorded = rec;
    if (by)
        *by = strdup((char *)v + used);
    free(v);
    return 1;
}

/* Binning of key: the first one published fixes it. feed.keys (key -> n_bins,
 * edges) is the durable record; f->binning caches it, so runs of one round that
 * introduce a key see each other before the commit. */
static int binning_ok(feed_t *f, const dn_histin_t *h, char *why, size_t cap)
{
    dn_wbuf_t w = {0};
    dn_wb_u32(&w, (uint32_t)h->n_bins);
    dn_wb_u32(&w, h->edges ? 1u : 0u);
    for (int j = 0; h->edges && j <= h->n_bins; j++)
        dn_wb_f64(&w, h->edges[j]);
    if (w.oom) {
        free(w.p);
        return -1;
    }
    binning_t *b = NULL;
    for (int i = 0; i < f->n_binning && !b; i++)
        if (!strcmp(f->binning[i].key, h->key))
            b = &f->binning[i];
    if (!b) {
        void *v = NULL;
        size_t n = 0;
        int rc = dn_store_get(f->store, T_KEYS, h->key, strlen(h->key), &v, &n, NULL);
        if (rc != DN_OK && rc != DN_ENOTFOUND) {
            free(w.p);
            return -1;
        }
        binning_t *grown = realloc(f->binning, (size_t)(f->n_binning + 1) * sizeof *grown);
        if (grown)
            f->binning = grown;
        char *k = grown ? strdup(h->key) : NULL;
        if (!k) {
            free(v);
            free(w.p);
            return -1;
        }
        b = &f->binning[f->n_binning++];
        if (rc == DN_OK) {
            *b = (binning_t){k, v, n};
        } else { /* first sight: recorded with this run */
            *b = (binning_t){k, w.p, w.len};
            w.p = NULL;
            if (dn_store_batch_put(f->batch, T_KEYS, h->key, strlen(h->key), b->blob, b->len))
                return -1;
        }
    }
    int ok = 1;
    if (w.p) {
        dn_rbuf_t r = {b->blob, b->len, 0, 0};
        uint32_t nb = dn_rb_u32(&r), has = dn_rb_u32(&r);
        if (nb != (uint32_t)h->n_bins) {
            snprintf(why, cap, "binning changed: %d bins, the key was published with %u",
                     h->n_bins, nb);
            ok = 0;
        }
        for (int j = 0; ok && has && h->edges && j <= h->n_bins; j++)
            if (dn_rb_f64(&r) != h->edges[j]) {
                snprintf(why, cap, "binning changed: edge %d is %.17g, the key was published "
                         "with other edges", j, h->edges[j]);
                ok = 0;
            }
    }
    free(w.p);
    return ok;
}

static void cand_drop(feed_t *f, int i) /* keeps the order */
{
    free(f->cand[i].name);
    memmove(f->cand + i, f->cand + i + 1, (size_t)(f->n_cand - i - 1) * sizeof *f->cand);
    f->n_cand--;
}

static int cand_find(const feed_t *f, const char *name)
{
    for (int i = 0; i < f->n_cand; i++)
        if (!strcmp(f->cand[i].name, name))
            return i;
    return -1;
}

static int is_run_file(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && !strcmp(name + n - 5, ".json");
}

/* Notes a file of the directory (from the scan or an inotify event). */
static int cand_note(feed_t *f, const char *name, int closed)
{
    if (!is_run_file(name))
        return DN_OK;
    int i = cand_find(f, name);
    if (i < 0) {
        if (f->n_cand == f->cap_cand) {
            int cap = f->cap_cand ? 2 * f->cap_cand : 64;
            cand_t *p = realloc(f->cand, (size_t)cap * sizeof *p);
            if (!p)
                return DN_ENOMEM;
            f->cand = p;
            f->cap_cand = cap;
        }
        i = f->n_cand;
        f->cand[i] = (cand_t){.name = strdup(name)};
        if (!f->cand[i].name)
            return DN_ENOMEM;
        f->n_cand++;
    }
    f->cand[i].closed |= closed;
    return DN_OK;
}

static int scan_dir(feed_t *f, dn_err_t *err)
{
    DIR *d = opendir(f->input);
    if (!d)
        return dn_err_set(err, DN_EIO, "%s: %s", f->input, strerror(errno));
    int rc = DN_OK;
    for (struct dirent *e; !rc && (e = readdir(d));)
        rc = cand_note(f, e->d_name, 1);
    closedir(d);
    return rc ? dn_err_set(err, rc, "out of memory") : DN_OK;
}

static int read_inotify(feed_t *f, dn_err_t *err)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(f->ino_fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return DN_OK;
        if (n <= 0)
            return dn_err_set(err, DN_EIO, "inotify: %s", n < 0 ? strerror(errno) : "closed");
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW) {
                dn_log(DN_LOG_WARN, "inotify queue overflow: rescanning %s", f->input);
                int rc = scan_dir(f, err);
                if (rc)
                    return rc;
            } else if (ev->len) {
                int rc = cand_note(f, ev->name, (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) != 0);
                if (rc)
                    return dn_err_set(err, rc, "out of memory");
            }
            p += sizeof *ev + ev->len;
        }
    }
}

/* Candidates in the order runs are expected: the run number of the file name
 * (files without one last), then the name. */
static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    int64_t rx = 0, ry = 0;
    int hx = dn_run_number_from_name(x->name, &rx) == DN_OK,
        hy = dn_run_number_from_name(y->name, &ry) == DN_OK;
    if (hx != hy)
        return hy - hx;
    if (hx && rx != ry)
        return (rx > ry) - (rx < ry);
    return strcmp(x->name, y->name);
}

typedef struct {
    dn_runin_t *run;
    int cand;
} ready_t;

static int cmp_ready(const void *a, const void *b)
{
    const ready_t *x = a, *y = b;
    if (x->run->run_number != y->run->run_number)
        return (x->run->run_number > y->run->run_number) -
               (x->run->run_number < y->run->run_number);
    return strcmp(x->run->source, y->run->source);
}

static int8_t label_from_file(const feed_t *f, int64_t run)
{
    int lo = 0, hi = f->n_lab - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (f->lab_run[mid] == run)
            return f->lab_val[mid];
        if (f->lab_run[mid] < run)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Drops the histograms the run must not carry (binning changed), with reasons. */
static int check_binnings(feed_t *f, dn_runin_t *r)
{
    for (int k = 0; k < r->n_hist;) {
        char why[256];
        int ok = binning_ok(f, &r->hist[k], why, sizeof why);
        if (ok < 0)
            return DN_ENOMEM;
        if (ok) {
            k++;
            continue;
        }
        dn_log(DN_LOG_WARN, "%s: histogram \"%s\": %s; left out", r->source, r->hist[k].key,
               why);
        f->hists_rejected++;
        dn_histin_t *h = &r->hist[k];
        free(h->key);
        free(h->subsystem);
        free(h->counts);
        free(h->variances);
        free(h->edges);
        r->hist[k] = r->hist[--r->n_hist];
    }
    return DN_OK;
}

/* Publishes the directory's complete files, oldest run first. Returns 1 when
 * more may be ready right away. */
static int advance_dir(feed_t *f, dn_err_t *err)
{
    if (f->ino_fd >= 0) {
        int rc = read_inotify(f, err);
        if (rc)
            return rc;
    }
    double now = wall_now();
    if (f->n_cand > 1)
        qsort(f->cand, (size_t)f->n_cand, sizeof *f->cand, cmp_cand);
    ready_t *ready = calloc((size_t)f->n_cand + 1, sizeof *ready);
    if (!ready)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int n_ready = 0, rc = DN_OK, more = 0;
    for (int i = 0; i < f->n_cand && n_ready < RUNS_PER_ROUND;) {
        cand_t *c = &f->cand[i];
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", f->input, c->name);
        struct stat st;
        if (stat(path, &st) != 0) { /* gone (renamed away, deleted) */
            cand_drop(f, i);
            continue;
        }
        int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        off_t psize;
        int64_t pmtime, prun;
        char pstatus[16];
        if (file_record(f, c->name, &psize, &pmtime, &prun, pstatus) == DN_OK) {
            if (psize != st.st_size || pmtime != mt)
                dn_log(DN_LOG_WARN, "%s: changed after it was %s (run %lld); the change is "
                       "ignored", path, pstatus, (long long)prun);
            cand_drop(f, i);
            continue;
        }
        int changed = c->size != st.st_size || c->mtime_ns != mt;
        c->size = st.st_size;
        c->mtime_ns = mt;
        double age = now - (double)st.st_mtim.tv_sec - 1e-9 * (double)st.st_mtim.tv_nsec;
        /* complete: closed after writing (or found at start), or quiet for settle_s */
        if (!(c->closed && !changed) && !(age >= f->settle_s && !changed)) {
            i++;
            continue;
        }
        dn_err_t ferr = {0};
        dn_runin_t *r = NULL;
        int prc = dn_uhi_read_file(path, &r, &ferr);
        if (prc == DN_ENOMEM) {
            rc = dn_err_set(err, prc, "%s", ferr.msg);
            goto done;
        }
        if (prc) {
            if (age < f->settle_s) { /* maybe still being written: retry */
                c->closed = 0;
                i++;
                continue;
            }
            dn_log(DN_LOG_WARN, "%s; file rejected", ferr.msg);
            f->files_rejected++;
            if ((rc = stage_file(f, c, -1, "rejected"))) {
                rc = dn_err_set(err, rc, "out of memory");
                goto done;
            }
            cand_drop(f, i);
            continue;
        }
        ready[n_ready++] = (ready_t){r, i};
        i++;
    }
    qsort(ready, (size_t)n_ready, sizeof *ready, cmp_ready);
    for (int k = 0; k < n_ready; k++) {
        dn_runin_t *r = ready[k].run;
        cand_t *c = &f->cand[ready[k].cand];
        if (dn_source_room(f->source) <= 0) {
            more = 0;
            break; /* not staged: it is read again next round */
        }
        char *by = NULL;
        int dup = run_published(f, r->run_number, NULL, NULL, &by);
        for (int j = 0; !dup && j < k; j++)
            dup = ready[j].run && ready[j].run->run_number == r->run_number;
        if (dup) {
            dn_log(DN_LOG_WARN, "%s: run %lld was already published%s%s; file rejected",
                   r->source, (long long)r->run_number, by ? " from " : "", by ? by : "");
            free(by);
            f->duplicates++;
            if ((rc = stage_file(f, c, r->run_number, "duplicate")))
                goto oom;
            continue;
        }
        for (int p = 0; p < r->n_problems; p++) {
            dn_log(DN_LOG_WARN, "%s; left out", r->problems[p]);
            f->hists_rejected++;
        }
        if ((rc = check_binnings(f, r)))
            goto oom;
        if (r->label < 0)
            r->label = label_from_file(f, r->run_number);
        if (r->n_hist == 0) {
            dn_log(DN_LOG_WARN, "%s: run %lld has no usable histogram; file rejected",
                   r->source, (long long)r->run_number);
            f->files_rejected++;
            if ((rc = stage_file(f, c, r->run_number, "rejected")))
                goto oom;
            continue;
        }
        if ((rc = append_run(f, r, err)))
            goto done;
        unsigned char rk[8];
        run_key(r->run_number, rk);
        if ((rc = stage_file(f, c, r->run_number, "published")) ||
            (rc = stage_run(f, r->run_number, f->next_seq - 1, r->label >= 0, c->name)))
            goto oom;
        if ((rc = flush_labels(f, 0, err)))
            goto done;
        more = 1;
    }
    /* the staged files are dropped from the candidates after the commit */
    goto done;
oom:
    rc = dn_err_set(err, DN_ENOMEM, "out of memory");
done:
    for (int k = 0; k < n_ready; k++)
        dn_runin_destroy(&ready[k].run);
    free(ready);
    if (rc)
        return rc;
    if (!f->watch && f->n_cand == 0 && !f->eos_done) {
        /* a one-off directory: everything published or rejected */
        if ((rc = flush_labels(f, 1, err)))
            return rc;
        if (!f->n_pending && dn_source_room(f->source) > 0)
            return append_eos(f, -1, err);
    }
    return more;
}

/* ---- checkpoint ------------------------------------------------------------ */

static int commit(feed_t *f, dn_err_t *err)
{
    if (!f->dirty)
        return 0;
    dn_wbuf_t w = {0};
    dn_wb_bytes(&w, CKPT_MAGIC, 4);
    dn_wb_u32(&w, CKPT_VERSION);
    dn_wb_str(&w, f->fingerprint, strlen(f->fingerprint));
    dn_wb_u64(&w, f->next_seq);
    dn_wb_u64(&w, f->next_row);
    dn_wb_u64(&w, f->labels_sent);
    dn_wb_u32(&w, (uint32_t)f->eos_done);
    dn_wb_u32(&w, (uint32_t)f->n_pending);
    for (int k = 0; k < f->n_pending; k++) {
        dn_wb_u64(&w, f->pending[k].seq);
        dn_wb_u64(&w, (uint64_t)f->pending[k].run);
        dn_wb_u32(&w, (uint32_t)f->pending[k].verdict);
    }
    int rc = 0;
    if (w.oom || dn_source_stage(f->source, f->batch) ||
        dn_store_batch_checkpoint(f->batch, CKPT_NAME, w.p, w.len, NULL))
        rc = dn_err_set(err, DN_ENOMEM, "out of memory building the checkpoint");
    if (!rc)
        rc = dn_store_apply(f->store, f->batch, err);
    free(w.p);
    dn_store_batch_clear(f->batch);
    if (rc)
        return rc;
    dn_source_committed(f->source);
    f->dirty = 0;
    return 0;
}

static int restore(feed_t *f, dn_err_t *err)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_store_checkpoint_read(f->store, CKPT_NAME, &blob, &len, NULL, err);
    if (rc == DN_ENOTFOUND) {
        if (dn_source_head(f->source) != 0)
            return dn_err_set(err, DN_EFORMAT, "the events log holds %llu entries but no feed "
                              "checkpoint: not ours, refusing to append to it",
                              (unsigned long long)dn_source_head(f->source));
        return 0;
    }
    if (rc)
        return rc;
    dn_rbuf_t r = {blob, len, 0, 0};
    const unsigned char *m = dn_rb_take(&r, 4);
    if (!m || memcmp(m, CKPT_MAGIC, 4) || dn_rb_u32(&r) != CKPT_VERSION) {
        free(blob);
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: bad magic or version", CKPT_NAME);
    }
    uint32_t fl;
    const unsigned char *fp = dn_rb_str(&r, &fl);
    if (fp && (fl != strlen(f->fingerprint) || memcmp(fp, f->fingerprint, fl))) {
        rc = dn_err_set(err, DN_EMISMATCH, "the events log in the data directory was written "
                        "from another input (%.*s); now: %s. Use the same input or another "
                        "data_dir", (int)fl, (const char *)fp, f->fingerprint);
        free(blob);
        return rc;
    }
    f->next_seq = dn_rb_u64(&r);
    f->next_row = dn_rb_u64(&r);
    f->labels_sent = dn_rb_u64(&r);
    f->eos_done = (int)dn_rb_u32(&r);
    uint32_t np = dn_rb_u32(&r);
    for (uint32_t k = 0; !r.bad && k < np; k++) {
        uint64_t seq = dn_rb_u64(&r), run = dn_rb_u64(&r);
        uint32_t v = dn_rb_u32(&r);
        if (!r.bad && queue_label(f, seq, (int64_t)run, (int)v)) {
            free(blob);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
    }
    if (f->ds && f->next_row > (uint64_t)f->ds->n_runs)
        r.bad = 1;
    free(blob);
    if (r.bad)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: truncated or inconsistent",
                          CKPT_NAME);
    dn_log(DN_LOG_INFO, "restored: %llu runs and %llu labels published%s",
           (unsigned long long)f->next_seq, (unsigned long long)f->labels_sent,
           f->eos_done ? ", end of stream sent" : "");
    return 0;
}

/* ---- service callbacks ------------------------------------------------------- */

/* A label sent to the feed (`dinamo label`, an automatic rule): appended to the
 * events log with the run's run_seq, who and when. Every label is kept in the
 * log in arrival order, so a relabelling is recorded next to the first verdict. */
static int on_label_request(feed_t *f, const Dinamo__Label *l, dn_err_t *err)
{
    uint64_t seq = 0;
    int recorded = 0;
    if (!run_published(f, l->run_number, &seq, &recorded, NULL)) {
        f->labels_rejected++;
        dn_log(DN_LOG_WARN, "label for run %lld from %s: this feed published no such run; "
               "dropped", (long long)l->run_number, l->who && l->who[0] ? l->who : "?");
        return DN_OK;
    }
    if (l->source == DINAMO__LABEL_SOURCE__AUTO && recorded) {
        f->labels_rejected++;
        dn_log(DN_LOG_INFO, "automatic label for run %lld dropped: the input labelled it",
               (long long)l->run_number);
        return DN_OK;
    }
    Dinamo__Label m = *l;
    Dinamo__Truth *no_truth = NULL;
    m.truth = no_truth; /* truth only comes with synthetic streams */
    m.stream = f->stream;
    m.has_run_seq = 1;
    m.run_seq = seq;
    if (!m.has_time) {
        m.has_time = 1;
        m.time = wall_now();
    }
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &m;
    int rc = dn_source_append(f->source, &env, err);
    if (rc)
        return dn_err_prefix(err, "label of run %lld", (long long)l->run_number);
    f->labels_sent++;
    f->labels_received++;
    f->dirty = 1;
    dn_log(DN_LOG_INFO, "label for run %lld%s%s: %s by %s (%s)%s%s", (long long)l->run_number,
           l->histogram_key && l->histogram_key[0] ? ", histogram " : "",
           l->histogram_key && l->histogram_key[0] ? l->histogram_key : "",
           l->verdict == DINAMO__VERDICT__GOOD ? "good" : "bad",
           l->who && l->who[0] ? l->who : "?",
           l->source == DINAMO__LABEL_SOURCE__AUTO ? "automatic" : "person",
           l->reason && l->reason[0] ? ": " : "", l->reason ? l->reason : "");
    return DN_OK;
}

static int on_request(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                      const dn_recv_info_t *info, void *arg)
{
    (void)sock;
    (void)info;
    feed_t *f = arg;
    dn_err_t err = {0};
    int rc = env->body_case == DINAMO__ENVELOPE__BODY_LABEL
                 ? on_label_request(f, env->label, &err)
                 : dn_source_on_request(f->source, env, &err);
    return rc ? dn_service_fail(svc, rc, "requests: %s", err.msg) : 0;
}

static int on_round(dn_service_t *svc, void *arg)
{
    feed_t *f = arg;
    dn_err_t err = {0};
    int more = 0;
    if (!f->eos_done) {
        more = f->ds ? advance_rows(f, &err) : advance_dir(f, &err);
        if (more < 0)
            return dn_service_fail(svc, more, "%s", err.msg);
    }
    int rc = commit(f, &err);
    if (!rc && !f->ds) /* published or rejected files leave the candidates */
        for (int i = 0; i < f->n_cand;) {
            off_t s;
            int64_t m, run;
            char st[16];
            if (file_record(f, f->cand[i].name, &s, &m, &run, st) == DN_OK)
                cand_drop(f, i);
            else
                i++;
        }
    if (!rc)
        rc = dn_source_pump(f->source, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    if (f->exit_at_end && f->eos_done) {
        dn_source_stats_t st = dn_source_stats(f->source);
        if (st.followers > 0 && st.slowest == st.head && st.cursor == st.head) {
            dn_log(DN_LOG_INFO, "every follower has the whole stream: exiting (exit_at_end)");
            dn_service_stop(svc);
            return 0;
        }
    }
    if (more || (dn_source_backlog(f->source) && dn_source_room(f->source) > 0))
        return 0;
    return f->watch ? 100 : DN_SERVICE_POLL_MAX_MS;
}

static int on_tick(dn_service_t *svc, void *arg)
{
    feed_t *f = arg;
    dn_err_t err = {0};
    int rc = dn_store_sync(f->store, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    dn_source_stats_t st = dn_source_stats(f->source);
    dn_log(DN_LOG_DEBUG, "runs %llu entries %llu published %llu slowest %llu followers %d "
           "pending files %d", (unsigned long long)f->next_seq, (unsigned long long)st.head,
           (unsigned long long)st.cursor, (unsigned long long)st.slowest, st.followers,
           f->n_cand);
    return 0;
}

static int on_shutdown(dn_service_t *svc, void *arg)
{
    feed_t *f = arg;
    dn_err_t err = {0};
    int rc = commit(f, &err);
    if (!rc)
        rc = dn_store_sync(f->store, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    dn_log(DN_LOG_INFO, "stopped: %llu runs, %llu labels published (%llu sent to the feed, "
           "%llu of them for unknown runs dropped); %llu files rejected, %llu duplicate runs, "
           "%llu histograms left out", (unsigned long long)f->next_seq,
           (unsigned long long)f->labels_sent, (unsigned long long)f->labels_received,
           (unsigned long long)f->labels_rejected, (unsigned long long)f->files_rejected,
           (unsigned long long)f->duplicates, (unsigned long long)f->hists_rejected);
    return 0;
}

/* ---- configuration ------------------------------------------------------------ */

static const dn_config_key_t keys[] = {
    {"input", DN_CFG_STRING, "", "runs CSV, .npz dataset, or directory of UHI JSON runs"},
    {"watch", DN_CFG_BOOL, "false", "directory: follow it for new run files (no end)"},
    {"settle_s", DN_CFG_DOUBLE, "5", "watch: a file that does not parse is retried until "
                                     "this old, then rejected"},
    {"key", DN_CFG_STRING, "hist", "CSV/npz: the histogram key to publish under"},
    {"subsystem", DN_CFG_STRING, "", "CSV/npz: its subsystem"},
    {"labels", DN_CFG_STRING, "", "labels CSV (run,label) published as recorded labels"},
    {"label_delay_runs", DN_CFG_INT, "0", "labels of run i follow run i + this"},
    {"stream", DN_CFG_STRING, "feed", "stream name"},
    {"events", DN_CFG_STRING, "bind:tcp://127.0.0.1:5550", "events log (PUB)"},
    {"requests", DN_CFG_STRING, "bind:tcp://127.0.0.1:5551",
     "requests of the followers (PULL: acks, rewinds)"},
    {"window", DN_CFG_INT, "32", "entries published beyond the slowest follower"},
    {"min_followers", DN_CFG_INT, "1", "publish nothing before this many followers acked"},
    {"follower_timeout_ms", DN_CFG_INT, "30000",
     "a follower silent this long no longer holds the stream back"},
    {"exit_at_end", DN_CFG_BOOL, "false",
     "exit once every follower has the whole stream (not with watch)"},
};

static void input_warn(void *ctx, const char *msg)
{
    feed_t *f = ctx;
    f->hists_rejected++;
    dn_log(DN_LOG_WARN, "%s", msg);
}

static int read_config(feed_t *f, const dn_config_t *cfg, dn_err_t *err)
{
    snprintf(f->input, sizeof f->input, "%s", dn_config_str(cfg, "input"));
    snprintf(f->key, sizeof f->key, "%s", dn_config_str(cfg, "key"));
    snprintf(f->subsystem, sizeof f->subsystem, "%s", dn_config_str(cfg, "subsystem"));
    snprintf(f->stream, sizeof f->stream, "%s", dn_config_str(cfg, "stream"));
    snprintf(f->labels_path, sizeof f->labels_path, "%s", dn_config_str(cfg, "labels"));
    int64_t delay;
    dn_config_bool(cfg, "watch", &f->watch);
    dn_config_bool(cfg, "exit_at_end", &f->exit_at_end);
    dn_config_double(cfg, "settle_s", &f->settle_s);
    dn_config_int(cfg, "label_delay_runs", &delay);
    if (!f->input[0])
        return dn_err_set(err, DN_EINVAL, "no input: give input = a runs CSV, an .npz or a "
                          "directory of UHI JSON runs");
    if (delay < 0 || delay > INT32_MAX || f->settle_s < 0 || !f->key[0] || !f->stream[0])
        return dn_err_set(err, DN_EINVAL, "need label_delay_runs >= 0, settle_s >= 0, a key "
                          "and a stream name");
    f->delay_runs = (int)delay;
    int rc = dn_input_kind(f->input, &f->kind, err);
    if (rc == DN_EFORMAT && f->watch) { /* an empty directory to watch is fine */
        struct stat st;
        if (stat(f->input, &st) == 0 && S_ISDIR(st.st_mode)) {
            f->kind = DN_INPUT_UHI_DIR;
            rc = DN_OK;
        }
    }
    if (rc)
        return rc;
    if (f->watch && f->kind != DN_INPUT_UHI_DIR)
        return dn_err_set(err, DN_EINVAL, "watch needs a directory of UHI JSON runs, not %s",
                          f->input);
    if (f->kind == DN_INPUT_DATASET_DIR)
        return dn_err_set(err, DN_EINVAL, "%s is a dataset directory: give its runs.csv",
                          f->input);
    /* what fixes the log's content: the input and how it is published */
    snprintf(f->fingerprint, sizeof f->fingerprint,
             "input=%s key=%s subsystem=%s stream=%s labels=%s delay_runs=%d watch=%d",
             f->input, f->key, f->subsystem, f->stream, f->labels_path, f->delay_runs, f->watch);
    if (f->kind == DN_INPUT_UHI_DIR) {
        if (f->labels_path[0] &&
            (rc = dn_labels_read_csv(f->labels_path, &f->lab_run, &f->lab_val, &f->n_lab, err)))
            return rc;
        /* sort by run for the lookups */
        for (int i = 1; i < f->n_lab; i++)
            for (int j = i; j > 0 && f->lab_run[j - 1] > f->lab_run[j]; j--) {
                int64_t t = f->lab_run[j];
                f->lab_run[j] = f->lab_run[j - 1];
                f->lab_run[j - 1] = t;
                int8_t v = f->lab_val[j];
                f->lab_val[j] = f->lab_val[j - 1];
                f->lab_val[j - 1] = v;
            }
        return DN_OK;
    }
    dn_input_opts_t o = {.labels_path = f->labels_path[0] ? f->labels_path : NULL,
                         .warn = input_warn,
                         .warn_ctx = f};
    return dn_input_read_dataset(f->input, &o, &f->ds, NULL, err);
}

int main(int argc, char **argv)
{
    dn_err_t err = {0};
    int rc = 0, exit_code = 1;
    feed_t f;
    memset(&f, 0, sizeof f);
    f.ino_fd = -1;
    void *zctx = NULL;
    dn_config_t *cfg = NULL;
    if (!(cfg = dn_config_new("feed", keys, (int)(sizeof keys / sizeof *keys), &err)))
        goto fail;
    rc = dn_config_load(cfg, argc, argv, &err);
    if (rc == DN_CONFIG_HELP) {
        printf("usage: feed [--config FILE] [--key value ...]\n"
               "Publishes runs from a runs CSV, an .npz dataset or a directory of UHI JSON\n"
               "run files (followed with watch = true) as the events log, in place of the\n"
               "generator.\n");
        dn_config_usage(cfg, stdout);
        dn_config_destroy(&cfg);
        return 0;
    }
    if (rc)
        goto fail;
    if ((rc = dn_log_init("feed", dn_config_str(cfg, "log_level"), &err)))
        goto fail;
    if ((rc = read_config(&f, cfg, &err)))
        goto fail;
    int64_t window, min_followers, follower_timeout, tick_ms;
    dn_config_int(cfg, "window", &window);
    dn_config_int(cfg, "min_followers", &min_followers);
    dn_config_int(cfg, "follower_timeout_ms", &follower_timeout);
    dn_config_int(cfg, "tick_ms", &tick_ms);
    if (window < 1 || window > INT32_MAX || min_followers < 1 || min_followers > 1000 ||
        follower_timeout < 1 || follower_timeout > INT32_MAX || tick_ms < 1) {
        rc = dn_err_set(&err, DN_EINVAL, "need window >= 1, 1 <= min_followers <= 1000, "
                        "follower_timeout_ms >= 1, tick_ms >= 1");
        goto fail;
    }
    if ((rc = dn_service_install_signals(&err)))
        goto fail;
    char path[4096];
    snprintf(path, sizeof path, "%s/feed", dn_config_str(cfg, "data_dir"));
    if (!(f.store = dn_store_open(path, DN_STORE_NOSYNC, 0, &err)))
        goto fail;
    if (!(zctx = zmq_ctx_new())) {
        rc = dn_err_set(&err, DN_EIO, "zmq_ctx_new: %s", strerror(errno));
        goto fail;
    }
    if (!(f.pub = dn_sock_new(zctx, ZMQ_PUB, dn_config_str(cfg, "events"), NULL, &err)) ||
        !(f.pull = dn_sock_new(zctx, ZMQ_PULL, dn_config_str(cfg, "requests"), NULL, &err)))
        goto fail;
    dn_source_opts_t so = {.log = "events", .service = "feed", .window = (int)window,
                           .min_followers = (int)min_followers,
                           .follower_timeout_ms = (int)follower_timeout};
    if (!(f.source = dn_source_new(f.store, f.pub, &so, &err)))
        goto fail;
    if (!(f.batch = dn_store_batch_new())) {
        rc = dn_err_set(&err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = restore(&f, &err)))
        goto fail;
    if (!f.ds) {
        if (f.watch) {
            /* watch before the scan, so nothing written in between is missed */
            f.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
            if (f.ino_fd < 0 ||
                inotify_add_watch(f.ino_fd, f.input, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
                                                         IN_MODIFY) < 0) {
                rc = dn_err_set(&err, DN_EIO, "inotify on %s: %s", f.input, strerror(errno));
                goto fail;
            }
        }
        if ((rc = scan_dir(&f, &err)))
            goto fail;
    }
    if (!(f.svc = dn_service_new("feed", &err)))
        goto fail;
    if ((rc = dn_service_add_socket(f.svc, f.pull, on_request, &f)) ||
        (rc = dn_service_set_tick(f.svc, (int)tick_ms, on_tick, &f)))
        goto fail;
    dn_service_set_round(f.svc, on_round, &f);
    dn_service_set_shutdown(f.svc, on_shutdown, &f);
    dn_log(DN_LOG_INFO, "started: %s %s%s, stream %s, window %d, store %s",
           f.ds ? "file" : "directory", f.input, f.watch ? " (watching)" : "", f.stream,
           (int)window, path);
    rc = dn_service_run(f.svc, &err);
    if (!rc)
        exit_code = 0;
fail:
    if (exit_code)
        dn_log(DN_LOG_ERROR, "feed: %s", err.msg[0] ? err.msg : dn_strerror(rc));
    dn_service_destroy(&f.svc);
    dn_source_destroy(&f.source);
    dn_sock_destroy(&f.pub);
    dn_sock_destroy(&f.pull);
    if (zctx)
        zmq_ctx_term(zctx);
    dn_store_batch_destroy(&f.batch);
    dn_store_destroy(&f.store);
    if (f.ino_fd >= 0)
        close(f.ino_fd);
    dn_dataset_destroy(&f.ds);
    for (int i = 0; i < f.n_cand; i++)
        free(f.cand[i].name);
    free(f.cand);
    free(f.pending);
    for (int i = 0; i < f.n_binning; i++) {
        free(f.binning[i].key);
        free(f.binning[i].blob);
    }
    free(f.binning);
    free(f.lab_run);
    free(f.lab_val);
    dn_config_destroy(&cfg);
    return exit_code;
}
