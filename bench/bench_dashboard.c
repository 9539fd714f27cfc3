/* bench_dashboard.c: the dashboard (services/dashboard) with a large stream
 * stored, measured from the outside like a browser would, and its cost to
 * the stream.
 *
 *   1. 20,000 runs x 100 histograms (100 keys over 10 subsystems, 100 bins,
 *      both methods' scores with pulls, references and sigmas as the scorers
 *      make them, thresholds from run 2,000 on, a generator label per run and
 *      a person's verdict on every 200th) go through the dashboard's own
 *      functions (model.h, detail.h: staged and committed once per run as
 *      dashboard.c's round does, retention windows at their defaults). Then
 *      the web server (http.h) runs in this process on 127.0.0.1:0 and a
 *      client on plain sockets (HTTP/1.1, one keep-alive connection) times
 *      each API answer from the request written to the last body byte read:
 *      median and p99 over 200 requests, bytes per answer. Baseline in the
 *      same run: the same view rendered in this process into memory (no HTTP),
 *      and /api/summary (the smallest answer: HTTP's own cost). Then the
 *      node thread's wait for the model lock while two pages load a key's
 *      history back to back.
 *   2. Memory: VmRSS / RssAnon / VmHWM before and after the model is built;
 *      a restart (dash_detail_load into a fresh model): its time and the RSS
 *      it adds; the detail store's size on disk.
 *   3. Live events: 50 pages read /api/events while this thread publishes
 *      run events (dash_http_publish + dash_http_wake per event, the most a
 *      round of dashboard.c costs; the data is a real run summary): events/s
 *      delivered to every page (5,000 at once), and the publisher's rate in
 *      bursts with 50 pages against none, interleaved 0, 50, 0, 50, 0, 50.
 *   4. A real cluster (scripts/cluster.sh --ipc --methods s --dashboard),
 *      3,000 runs x 10 histograms: runs/s of the S path end to end (first run
 *      seen to last score seen by a follower in this process) with 50 pages
 *      connected to the dashboard against none, interleaved.
 *
 * Fixed seeds. Run from the repository root after `make web` (make bench
 * does; the page's files are served from web/). --no-cluster skips part 4,
 * --cluster-only runs part 4 alone. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "bench.h"
#include "bus.h"
#include "detail.h"
#include "http.h"
#include "model.h"
#include "stream.h"
#include "view.h"
#include "../tests/shell.h"

#ifndef N_RUNS
#define N_RUNS 20000
#endif
#define N_KEYS 100
#define N_SUB 10
#define N_BINS 100
#define HISTORICAL 2000
#define N_REQ 200
#define N_PAGES 50

/* ---- small things ------------------------------------------------------------------- */

static uint64_t rng_state = 0x5eed2026u;
static double urand(void) /* splitmix64, [0, 1) */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}
static double nrand(void)
{
    double u = urand(), v = urand();
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

/* kB of field `name` ("VmRSS:") in /proc/self/status, -1 when absent. */
static long status_kb(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(name);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, name, n))
            v = strtol(line + n, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void print_mem(const char *when)
{
    printf("  %-44s VmRSS %7.1f MB  RssAnon %7.1f MB  RssFile %7.1f MB  VmHWM %7.1f MB\n",
           when, status_kb("VmRSS:") / 1024.0, status_kb("RssAnon:") / 1024.0,
           status_kb("RssFile:") / 1024.0, status_kb("VmHWM:") / 1024.0);
}

static double pct(double *t, int n, double p) /* t sorted */
{
    return t[(int)(p * (n - 1) + 0.5)];
}

/* ---- 1. the stored stream ---------------------------------------------------------- */

static const char *const subsystems[N_SUB] = {"calo",   "tracker", "muon",  "trigger", "pixel",
                                              "strips", "ecal",    "hcal",  "lumi",    "daq"};

typedef struct store_t {
    dash_model_t m;
    pthread_rwlock_t lock;
    dash_detail_t *detail;
    int keys[N_KEYS];
    char dir[64];
    int stage_rc;
} store_t;

static void stage_run_row(void *arg, int seq)
{
    store_t *s = arg;
    if (!s->stage_rc)
        s->stage_rc = dash_detail_stage_run(s->detail, &s->m, seq);
}

/* One Score as the scorers make it: chi2 from a score drawn around `mean`,
 * pulls, reference and sigma over the bins. */
static void make_score(Dinamo__Score *sc, double *arrays, const char *key, uint64_t seq,
                       int me, double score)
{
    dinamo__score__init(sc);
    sc->stream = (char *)"bench-dashboard";
    sc->has_run_number = sc->has_run_seq = sc->has_method = sc->has_status = 1;
    sc->run_number = 300000 + (int64_t)seq;
    sc->run_seq = seq;
    sc->method = me ? DINAMO__METHOD__METHOD_ML : DINAMO__METHOD__METHOD_S;
    sc->histogram_key = (char *)key;
    sc->status = DINAMO__SCORE_STATUS__OK;
    sc->has_chi2 = sc->has_score = 1;
    sc->chi2 = N_BINS * exp(score);
    sc->score = score;
    double *pulls = arrays, *mu = arrays + N_BINS, *sig = arrays + 2 * N_BINS;
    for (int b = 0; b < N_BINS; b++) {
        pulls[b] = nrand() * exp(score / 2);
        mu[b] = exp(-0.5 * ((b - 50.0) / 15.0) * ((b - 50.0) / 15.0)) / 37.6;
        sig[b] = 0.05 * mu[b] + 1e-5;
    }
    sc->n_pulls = sc->n_reference = sc->n_reference_uncertainty = N_BINS;
    sc->pulls = pulls;
    sc->reference = mu;
    sc->reference_uncertainty = sig;
    if (me) {
        sc->has_model_version = 1;
        sc->model_version = seq / 4;
    } else {
        sc->has_alpha = 1;
        sc->alpha = 0.2;
    }
}

/* Builds the model and the detail store as dashboard.c would from the logs;
 * returns the seconds it took, NAN on failure. */
static double build_store(store_t *s)
{
    dn_err_t err = {0};
    char names[N_KEYS][32];
    for (int k = 0; k < N_KEYS; k++) {
        snprintf(names[k], sizeof names[k], "%s/h%02d", subsystems[k % N_SUB], k);
        if ((s->keys[k] = dash_model_key(&s->m, names[k], subsystems[k % N_SUB], N_BINS)) < 0)
            return NAN;
    }
    double edges[N_BINS + 1], counts[N_BINS], arrays[6 * N_BINS];
    for (int b = 0; b <= N_BINS; b++)
        edges[b] = b * 0.01;
    Dinamo__Histogram hg;
    Dinamo__Score sc;
    uint64_t offset = 0;
    double t0 = bench_now();
    for (int seq = 0; seq < N_RUNS; seq++) {
        int anomalous = urand() < 0.1;
        /* the run (events log): its histograms staged, the model told */
        for (int k = 0; k < N_KEYS; k++) {
            dinamo__histogram__init(&hg);
            hg.key = names[k];
            hg.subsystem = (char *)subsystems[k % N_SUB];
            for (int b = 0; b < N_BINS; b++)
                counts[b] = floor(1000 * exp(-0.5 * ((b - 50.0) / 15.0) * ((b - 50.0) / 15.0)) *
                                  (1 + 0.03 * nrand()));
            hg.n_counts = N_BINS;
            hg.counts = counts;
            hg.n_edges = N_BINS + 1;
            hg.edges = edges;
            if (dash_detail_stage_hist(s->detail, (uint64_t)seq, s->keys[k], &hg))
                return NAN;
        }
        if (dash_model_run(&s->m, (uint64_t)seq, 300000 + seq, 1.7e9 + 60.0 * seq, s->keys,
                           N_KEYS))
            return NAN;
        offset += 1;
        /* its generator label, and a person's verdict on every 200th run */
        Dinamo__Label l = DINAMO__LABEL__INIT;
        l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = l.has_time = 1;
        l.run_number = 300000 + seq;
        l.run_seq = (uint64_t)seq;
        l.verdict = anomalous ? DINAMO__VERDICT__BAD : DINAMO__VERDICT__GOOD;
        l.source = DINAMO__LABEL_SOURCE__GENERATOR;
        l.time = 1.7e9 + 60.0 * seq;
        if (dash_model_label(&s->m, (uint64_t)seq, -1, anomalous, DASH_LABEL_RECORDED, NULL,
                             NULL, l.time) ||
            dash_detail_stage_label(s->detail, (uint64_t)seq, offset++, &l))
            return NAN;
        if (seq % 200 == 199) {
            l.source = DINAMO__LABEL_SOURCE__SHIFTER;
            l.who = (char *)"alice";
            l.reason = (char *)"checked the calorimeter timing by hand";
            l.time += 30;
            if (dash_model_label(&s->m, (uint64_t)seq, -1, anomalous, DASH_LABEL_PERSON, l.who,
                                 l.reason, l.time) ||
                dash_detail_stage_label(s->detail, (uint64_t)seq, offset++, &l))
                return NAN;
        }
        /* the evaluator's thresholds once the historical runs are in */
        if (seq == HISTORICAL)
            for (int k = 0; k < N_KEYS; k++)
                for (int me = 0; me < DASH_METHODS; me++) {
                    if (dash_model_threshold(&s->m, s->keys[k], me, 1.2, 0.8, HISTORICAL,
                                             "tuned"))
                        return NAN;
                    if (dash_detail_stage_threshold(s->detail, &s->m, s->keys[k], me))
                        return NAN;
                }
        /* both scorers' logs */
        for (int me = 0; me < DASH_METHODS; me++)
            for (int k = 0; k < N_KEYS; k++) {
                double score = -0.4 + 0.2 * nrand();
                if (anomalous && k % 20 == seq % 20)
                    score = 1.0 + 0.5 * urand();
                make_score(&sc, arrays + 3 * N_BINS * me, names[k], (uint64_t)seq, me, score);
                if (dash_model_score(&s->m, me, (uint64_t)seq, s->keys[k], DASH_ST_OK, sc.chi2,
                                     me ? NAN : 0.2) ||
                    dash_detail_stage_score(s->detail, (uint64_t)seq, s->keys[k], me, &sc))
                    return NAN;
            }
        /* the round: judge, retain, commit */
        dash_model_settle(&s->m, stage_run_row, s);
        if (dash_detail_retain(s->detail, &s->m, seq, &err))
            return NAN;
        dash_model_settle(&s->m, stage_run_row, s);
        if (s->stage_rc || dash_detail_stage_keys(s->detail, &s->m) ||
            (seq == 0 && (snprintf(s->m.stream, sizeof s->m.stream, "bench-dashboard"),
                          dash_detail_stage_meta(s->detail, &s->m))) ||
            dash_detail_commit(s->detail, &err)) {
            fprintf(stderr, "bench: run %d: %s\n", seq, err.msg);
            return NAN;
        }
    }
    return bench_now() - t0;
}

/* ---- an HTTP/1.1 client on plain sockets -------------------------------------------------- */

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

typedef struct client_t {
    int fd, port;
    char *buf;
    size_t cap;
} client_t;

/* GET path on the keep-alive connection; the body's length, -1 on failure
 * (status not 200, no Content-Length, connection lost). */
static long http_get(client_t *c, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path,
                     c->port);
    if (write_all(c->fd, req, (size_t)n))
        return -1;
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have + 4096 > c->cap) {
            c->cap = c->cap ? 2 * c->cap : 1 << 20;
            if (!(c->buf = realloc(c->buf, c->cap + 1)))
                return -1;
        }
        ssize_t r = read(c->fd, c->buf + have, c->cap - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        c->buf[have] = '\0';
        end = strstr(c->buf, "\r\n\r\n");
    }
    if (strncmp(c->buf, "HTTP/1.1 200", 12))
        return -1;
    long clen = -1;
    for (char *p = strchr(c->buf, '\n'); p && p < end; p = strchr(p + 1, '\n'))
        if (!strncasecmp(p + 1, "Content-Length:", 15))
            clen = strtol(p + 16, NULL, 10);
    if (clen < 0)
        return -1;
    size_t head = (size_t)(end + 4 - c->buf), total = head + (size_t)clen;
    if (total > c->cap) {
        c->cap = total;
        if (!(c->buf = realloc(c->buf, c->cap + 1)))
            return -1;
    }
    while (have < total) {
        ssize_t r = read(c->fd, c->buf + have, total - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    return have == total ? clen : -1; /* one request in flight: nothing beyond */
}

/* Times N_REQ requests of path; prints median, p99, bytes and the ratio to
 * the in-process render (base_s, NAN: none). Returns the median, NAN. */
static double time_get(client_t *c, const char *label, const char *path, double base_s)
{
    double t[N_REQ];
    long bytes = 0;
    for (int i = 0; i < 5; i++)
        if (http_get(c, path) < 0)
            goto fail;
    for (int i = 0; i < N_REQ; i++) {
        double t0 = bench_now();
        bytes = http_get(c, path);
        t[i] = bench_now() - t0;
        if (bytes < 0)
            goto fail;
    }
    qsort(t, N_REQ, sizeof *t, bench_cmp_double);
    double med = pct(t, N_REQ, 0.5);
    printf("  %-34s %9.3f %9.3f %10ld", label, 1e3 * med, 1e3 * pct(t, N_REQ, 0.99), bytes);
    if (isnan(base_s))
        printf("        -\n");
    else
        printf(" %8.2fx\n", med / base_s);
    return med;
fail:
    printf("  %-34s FAILED (GET %s)\n", label, path);
    return NAN;
}

/* Median seconds of rendering one view into memory in this process. */
typedef int (*render_fn)(FILE *f, const store_t *s, const void *arg);
static double time_render(const store_t *s, render_fn fn, const void *arg)
{
    double t[51];
    for (int i = 0; i < 51; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        double t0 = bench_now();
        fn(f, s, arg);
        fclose(f);
        t[i] = bench_now() - t0;
        free(buf);
    }
    return bench_median_inplace(t, 51);
}
static int r_runs(FILE *f, const store_t *s, const void *arg)
{
    return dash_view_runs(f, &s->m, arg);
}
static int r_key(FILE *f, const store_t *s, const void *arg)
{
    return dash_view_key(f, &s->m, *(const int *)arg);
}
static int r_metrics(FILE *f, const store_t *s, const void *arg)
{
    (void)arg;
    return dash_view_metrics(f, &s->m);
}
static int r_summary(FILE *f, const store_t *s, const void *arg)
{
    (void)arg;
    return dash_view_summary(f, &s->m, NULL, NULL, 0);
}

static int port_of(const dash_http_t *h)
{
    const char *a = dash_http_address(h);
    return atoi(strrchr(a, ':') + 1);
}

typedef struct hammer_t {
    int port;
    const char *path;
    _Atomic int stop;
    _Atomic long done;
} hammer_t;

/* A page loading a heavy view again and again, on its own connection. */
static void *hammer(void *arg)
{
    hammer_t *hm = arg;
    client_t c = {.port = hm->port};
    if ((c.fd = tcp_connect(c.port)) < 0)
        return NULL;
    while (!atomic_load(&hm->stop) && http_get(&c, hm->path) >= 0)
        atomic_fetch_add(&hm->done, 1);
    close(c.fd);
    free(c.buf);
    return NULL;
}

/* The node thread's wait for the write lock while two pages load `path`
 * back to back (the server has two threads). */
static void report_writer_wait(store_t *s, dash_http_t *h, const char *path)
{
    hammer_t hm = {.port = port_of(h), .path = path};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, hammer, &hm);
    usleep(200000);
    enum { ROUNDS = 40 };
    double w[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        double t0 = bench_now();
        pthread_rwlock_wrlock(&s->lock);
        w[i] = bench_now() - t0;
        pthread_rwlock_unlock(&s->lock);
        usleep(20000);
    }
    atomic_store(&hm.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    qsort(w, ROUNDS, sizeof *w, bench_cmp_double);
    printf("  node thread's wait for the model lock while 2 pages load %s back to back "
           "(%ld answers): median %.1f ms, max %.1f ms over %d rounds\n", path,
           (long)hm.done, 1e3 * w[ROUNDS / 2], 1e3 * w[ROUNDS - 1], ROUNDS);
}

static void report_api(store_t *s, dash_http_t *h)
{
    client_t c = {.port = port_of(h)};
    if ((c.fd = tcp_connect(c.port)) < 0) {
        printf("  cannot connect to %s\n", dash_http_address(h));
        return;
    }
    /* a run with detail (the newest), one of the flagged ones (its detail
     * kept), and an old unflagged one whose detail was pruned */
    int fresh = N_RUNS - 1, flagged = -1, pruned = -1;
    for (int q = N_RUNS - 1; q >= HISTORICAL && flagged < 0; q--)
        if (s->m.runs[q].detail && s->m.runs[q].m[0].severity == DN_SEV_BAD)
            flagged = q;
    for (int q = HISTORICAL; q < N_RUNS && pruned < 0; q++)
        if (!s->m.runs[q].detail)
            pruned = q;
    char path[256];
    const char *key = s->m.keys[s->m.runs[fresh].m[0].worst[0] >= 0
                                    ? s->m.runs[fresh].m[0].worst[0]
                                    : s->keys[0]].name;
    int k7 = s->keys[7];
    dash_filter_t all = {.before = -1, .limit = 100, .severity = -1, .method = -1,
                         .subsystem = -1};
    dash_filter_t bad = all;
    bad.severity = DN_SEV_BAD;
    bad.method = 1;
    printf("  %-34s %9s %9s %10s %9s\n", "GET (200 requests, keep-alive)", "median ms",
           "p99 ms", "bytes", "/ render");
    time_get(&c, "/api/summary", "/api/summary", time_render(s, r_summary, NULL));
    time_get(&c, "/api/runs (newest 100)", "/api/runs?limit=100", time_render(s, r_runs, &all));
    time_get(&c, "/api/runs severity=bad method=ml", "/api/runs?severity=bad&method=ml",
             time_render(s, r_runs, &bad));
    dash_filter_t deep = all; /* a page far back: before = 1000 */
    deep.before = 1000;
    time_get(&c, "/api/runs before=1000 (oldest pages)", "/api/runs?before=1000",
             time_render(s, r_runs, &deep));
    snprintf(path, sizeof path, "/api/run/%d", fresh);
    time_get(&c, "/api/run/SEQ (newest run)", path, NAN);
    snprintf(path, sizeof path, "/api/run/%d/hist?key=%s", fresh, key);
    time_get(&c, "/api/run/SEQ/hist (detail on disk)", path, NAN);
    if (flagged >= 0) {
        snprintf(path, sizeof path, "/api/run/%d/hist?key=%s", flagged, key);
        time_get(&c, "/api/run/SEQ/hist (old flagged run)", path, NAN);
    }
    if (pruned >= 0) {
        snprintf(path, sizeof path, "/api/run/%d/hist?key=%s", pruned, key);
        time_get(&c, "/api/run/SEQ/hist (detail pruned)", path, NAN);
    }
    snprintf(path, sizeof path, "/api/key?key=%s", s->m.keys[k7].name);
    time_get(&c, "/api/key (20,000-point history)", path, time_render(s, r_key, &k7));
    time_get(&c, "/api/metrics", "/api/metrics", time_render(s, r_metrics, NULL));
    printf("  (server time as a client sees it: request written -> last byte read, one\n"
           "   HTTP/1.1 keep-alive connection; '/ render' = over the same view rendered in\n"
           "   this process into memory, no HTTP; hist of runs_seq %d, %d, %d)\n", fresh,
           flagged, pruned);
    close(c.fd);
    free(c.buf);
    snprintf(path, sizeof path, "/api/key?key=%s", s->m.keys[k7].name);
    report_writer_wait(s, h, path);
}

/* ---- pages reading /api/events ------------------------------------------------------------ */

typedef struct page_t {
    int fd;
    int in_body;            /* past the response's header */
    char head[4];           /* the last bytes of the header seen */
    /* chunked transfer decoding */
    int chunk_state;        /* 0 size line, 1 data, 2 CRLF after data */
    size_t chunk_left;
    unsigned long long chunk_size;
    /* SSE lines */
    char line[32];
    int line_len, prev_nl;
    long frames, resets;
    unsigned long long last_id;
} page_t;

typedef struct pages_t {
    page_t p[N_PAGES];
    int n, ep;
    int drain;              /* only read and count bytes (a browser's cost is
                               not this machine's in a deployment) */
    _Atomic long bytes;
    _Atomic int stop;
    _Atomic long total_frames;
    pthread_t th;
    int running;
} pages_t;

static void page_line(page_t *pg)
{
    pg->line[pg->line_len < (int)sizeof pg->line ? pg->line_len : (int)sizeof pg->line - 1] = 0;
    if (!strncmp(pg->line, "id: ", 4))
        pg->last_id = strtoull(pg->line + 4, NULL, 10);
    else if (!strcmp(pg->line, "event: reset"))
        pg->resets++;
}

static void page_sse_byte(pages_t *ps, page_t *pg, char ch)
{
    if (ch == '\n') {
        if (pg->line_len == 0 && pg->prev_nl) {
            pg->frames++;
            atomic_fetch_add(&ps->total_frames, 1);
        } else if (pg->line_len) {
            page_line(pg);
        }
        pg->prev_nl = 1;
        pg->line_len = 0;
        return;
    }
    if (pg->line_len < (int)sizeof pg->line - 1)
        pg->line[pg->line_len] = ch;
    pg->line_len++;
}

static void page_bytes(pages_t *ps, page_t *pg, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        if (!pg->in_body) {
            memmove(pg->head, pg->head + 1, 3);
            pg->head[3] = ch;
            pg->in_body = !memcmp(pg->head, "\r\n\r\n", 4);
            continue;
        }
        switch (pg->chunk_state) {
        case 0: /* hex size, then CRLF */
            if (ch == '\n') {
                pg->chunk_left = pg->chunk_size;
                pg->chunk_state = pg->chunk_size ? 1 : 2;
                pg->chunk_size = 0;
            } else if (ch != '\r') {
                int d = ch >= 'a' ? ch - 'a' + 10 : ch >= 'A' ? ch - 'A' + 10 : ch - '0';
                pg->chunk_size = pg->chunk_size * 16 + (unsigned)d;
            }
            break;
        case 1:
            page_sse_byte(ps, pg, ch);
            if (--pg->chunk_left == 0)
                pg->chunk_state = 2;
            break;
        default: /* the CRLF closing a chunk */
            if (ch == '\n')
                pg->chunk_state = 0;
            break;
        }
    }
}

static void *pages_reader(void *arg)
{
    pages_t *ps = arg;
    struct epoll_event ev[N_PAGES];
    char buf[65536];
    while (!atomic_load(&ps->stop)) {
        int n = epoll_wait(ps->ep, ev, N_PAGES, 50);
        for (int i = 0; i < n; i++) {
            page_t *pg = ev[i].data.ptr;
            ssize_t r = read(pg->fd, buf, sizeof buf);
            if (r > 0 && ps->drain)
                atomic_fetch_add(&ps->bytes, r);
            else if (r > 0)
                page_bytes(ps, pg, buf, (size_t)r);
            else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                epoll_ctl(ps->ep, EPOLL_CTL_DEL, pg->fd, NULL);
        }
    }
    return NULL;
}

/* Opens n pages on /api/events at port, read by one thread (drain: bytes
 * only counted). 0 or -1. */
static int pages_open(pages_t *ps, int port, int n, int drain)
{
    memset(ps, 0, sizeof *ps);
    ps->drain = drain;
    if ((ps->ep = epoll_create1(0)) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        page_t *pg = &ps->p[i];
        char req[256];
        int len = snprintf(req, sizeof req,
                           "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Accept: text/event-stream\r\n\r\n", port);
        if ((pg->fd = tcp_connect(port)) < 0 || write_all(pg->fd, req, (size_t)len))
            return -1;
        ps->n++;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = pg};
        if (epoll_ctl(ps->ep, EPOLL_CTL_ADD, pg->fd, &ev))
            return -1;
    }
    if (pthread_create(&ps->th, NULL, pages_reader, ps))
        return -1;
    ps->running = 1;
    return 0;
}

static void pages_close(pages_t *ps)
{
    atomic_store(&ps->stop, 1);
    if (ps->running)
        pthread_join(ps->th, NULL);
    for (int i = 0; i < ps->n; i++)
        close(ps->p[i].fd);
    if (ps->ep > 0)
        close(ps->ep);
    ps->n = 0;
    ps->running = 0;
}

/* Waits until every page saw event id `last` (or timeout). Returns the
 * seconds waited from t0 to the moment the last page got it, NAN. */
static double pages_wait(pages_t *ps, unsigned long long last, double t0, double timeout)
{
    for (;;) {
        int done = 0;
        for (int i = 0; i < ps->n; i++)
            done += ps->p[i].last_id >= last && ps->p[i].in_body;
        double now = bench_now();
        if (done == ps->n)
            return now - t0;
        if (now - t0 > timeout)
            return NAN;
        usleep(200);
    }
}

/* Publishes n events of `data`, each with its wake (the most a round can
 * cost: dashboard.c sends a round's runs then wakes once). Returns the
 * seconds it took. */
static double publish_n(dash_http_t *h, const char *data, size_t len, int n)
{
    double t0 = bench_now();
    for (int i = 0; i < n; i++) {
        dash_http_publish(h, "run", data, len);
        dash_http_wake(h, 0);
    }
    return bench_now() - t0;
}

static void report_events(store_t *s, dash_http_t *h)
{
    /* the data: a real run summary (a flagged run a person labelled) */
    int seq = N_RUNS - 1;
    for (int q = N_RUNS - 1; q >= HISTORICAL; q--)
        if (s->m.runs[q].lstate == DASH_LABEL_PERSON && s->m.runs[q].m[0].severity >= DN_SEV_WARNING) {
            seq = q;
            break;
        }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    dn_jw_t w;
    dn_jw_init(&w, f);
    pthread_rwlock_rdlock(&s->lock);
    dash_view_run(&w, &s->m, seq);
    pthread_rwlock_unlock(&s->lock);
    dn_jw_finish(&w);
    fclose(f);
    const int n = 5000, bursts = 40, burst = 250, passes = 6;
    int port = port_of(h);
    /* how many events were published so far: the ids the pages must reach */
    unsigned long long published = 0;
    double t_pub[2] = {0, 0}, t_del = 0;
    long frames = 0, resets = 0;
    int ok = 1;
    printf("  event data: a run summary of %zu bytes; ring of 8192 events (the default), "
           "filled once before the passes\n", len);
    publish_n(h, buf, len, 8192);
    published = 8192;
    for (int b = 0; b < bursts; b++) /* as a pass without pages, not counted */
        publish_n(h, buf, len, burst);
    published += (unsigned long long)(bursts * burst);
    double pair[2] = {0, 0}, lo = INFINITY, hi = -INFINITY;
    for (int rep = 0; rep < passes && ok; rep++) {
        int with = rep % 2;
        pages_t ps;
        if (with) {
            if (pages_open(&ps, port, N_PAGES, 0)) {
                printf("  could not open %d pages\n", N_PAGES);
                pages_close(&ps);
                ok = 0;
                break;
            }
            /* every page past its header (they see the next event only) */
            double tw = bench_now();
            int ready = 0;
            while (ready < N_PAGES && bench_now() - tw < 10) {
                dash_http_stats_t st;
                dash_http_stats(h, &st);
                ready = (int)st.sse_open;
                usleep(1000);
            }
            usleep(100000);
        }
        /* the publisher: bursts, the pages (if any) let catch up in between */
        double tp = 0;
        for (int b = 0; b < bursts && ok; b++) {
            tp += publish_n(h, buf, len, burst);
            published += (unsigned long long)burst;
            if (with && isnan(pages_wait(&ps, published - 1, bench_now(), 10)))
                ok = 0;
        }
        t_pub[with] += tp;
        pair[with] = tp;
        if (with) { /* rate with pages / rate without, this pair */
            double q = pair[0] / pair[1];
            lo = q < lo ? q : lo;
            hi = q > hi ? q : hi;
        }
        /* delivery: n events at once */
        double t0 = bench_now(), td = NAN;
        publish_n(h, buf, len, n);
        published += (unsigned long long)n;
        if (with && ok) {
            td = pages_wait(&ps, published - 1, t0, 20);
            if (isnan(td))
                ok = 0;
            t_del += td;
        }
        if (with && !ok) {
            int behind = 0;
            for (int i = 0; i < ps.n; i++)
                behind += ps.p[i].last_id < published - 1;
            dash_http_wake(h, 0); /* once more: a lost wake-up, or lost data? */
            double again = pages_wait(&ps, published - 1, bench_now(), 5);
            printf("  %d of %d pages did not get the last event (id %llu); after one more "
                   "wake: %s\n", behind, N_PAGES, published - 1,
                   isnan(again) ? "still not" : "they did (a lost wake-up)");
        }
        if (with) {
            for (int i = 0; i < ps.n; i++) {
                frames += ps.p[i].frames;
                resets += ps.p[i].resets;
            }
            pages_close(&ps);
            usleep(200000); /* the server closes them */
        }
        printf("  pass %d, %2d pages: publisher %8.0f events/s (publish + wake, %d bursts of "
               "%d)%s", rep + 1, with ? N_PAGES : 0, bursts * burst / tp, bursts, burst,
               with ? "" : "\n");
        if (with)
            printf("; %d at once reached every page in %.3f s\n", n, td);
    }
    if (ok)
        printf("  => delivered: %.0f events/s to each of %d pages (%.0f page-events/s; %ld "
               "frames read, %ld resets);\n     publisher with %d pages = %.3f of its rate with "
               "none (sums of %d passes each, interleaved; per pair %.3f .. %.3f)\n",
               passes / 2.0 * n / t_del, N_PAGES, passes / 2.0 * n * N_PAGES / t_del, frames,
               resets, N_PAGES, t_pub[0] / t_pub[1], passes / 2, lo, hi);
    free(buf);
}

/* ---- 4. a real cluster -------------------------------------------------------------------- */

typedef struct follow_t {
    dn_sock_t *sub, *req;
    dn_follower_t *f;
} follow_t;

static int follow_open(follow_t *fo, void *ctx, const char *pub, const char *req,
                       const dn_keyring_t *keys, const char *log)
{
    dn_err_t err = {0};
    dn_sock_opts_t so = {.rcvhwm = 100000, .keys = keys}, po = {.keys = keys};
    fo->sub = dn_sock_new(ctx, ZMQ_SUB, pub, &so, &err);
    fo->req = fo->sub ? dn_sock_new(ctx, ZMQ_PUSH, req, &po, &err) : NULL;
    dn_follower_opts_t o = {.log = log, .consumer = "bench"};
    fo->f = fo->req ? dn_follower_new(fo->sub, fo->req, &o, &err) : NULL;
    if (!fo->f) {
        fprintf(stderr, "bench: follower %s: %s\n", log, err.msg);
        return -1;
    }
    return 0;
}

static void follow_close(follow_t *fo)
{
    dn_follower_destroy(&fo->f);
    dn_sock_destroy(&fo->sub);
    dn_sock_destroy(&fo->req);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t sl = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int port = -1;
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) &&
        !getsockname(fd, (struct sockaddr *)&a, &sl))
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* One cluster run with `pages` pages on the dashboard: runs/s of the S path
 * (first run seen to last score seen), NAN on failure; *per_page the bytes
 * of live events a page read (on average). */
static double cluster_run(int pages, int runs, int hists, long *per_page)
{
    char rundir[] = "/tmp/dn-bench-dash-XXXXXX";
    if (!mkdtemp(rundir))
        return NAN;
    int port = free_port();
    double rate = NAN;
    dn_keyring_t *keys = NULL;
    void *ctx = zmq_ctx_new();
    follow_t ev = {0}, sc = {0};
    pages_t ps = {0};
    int *n_scores = calloc((size_t)runs, sizeof *n_scores);
    *per_page = 0;
    if (!ctx || !n_scores || port < 0)
        goto done;
    if (sh("scripts/cluster.sh start %s --ipc --methods s --dashboard 127.0.0.1:%d "
           ">%s/start.out 2>&1", rundir, port, rundir)) {
        fprintf(stderr, "bench: cluster.sh start failed:\n");
        sh("cat %s/start.out >&2", rundir);
        goto done;
    }
    /* the dashboard's server up, then the pages, then this follower (the
     * generator waits for it: min_followers) */
    double t0 = bench_now();
    int fd = -1;
    while ((fd = tcp_connect(port)) < 0 && bench_now() - t0 < 20)
        usleep(20000);
    if (fd < 0) {
        fprintf(stderr, "bench: the dashboard did not listen on %d\n", port);
        goto done;
    }
    close(fd);
    if (pages && pages_open(&ps, port, pages, 1)) {
        fprintf(stderr, "bench: could not open %d pages\n", pages);
        goto done;
    }
    char dir[128], pub[256], req[256], pub2[256], req2[256];
    dn_err_t err = {0};
    snprintf(dir, sizeof dir, "%s/keys", rundir);
    if (!(keys = dn_keyring_load(dir, "shifter", &err))) {
        fprintf(stderr, "bench: %s\n", err.msg);
        goto done;
    }
    snprintf(pub, sizeof pub, "connect:generator@ipc://%s/sock/events", rundir);
    snprintf(req, sizeof req, "connect:generator@ipc://%s/sock/events.req", rundir);
    snprintf(pub2, sizeof pub2, "connect:scorer_s@ipc://%s/sock/scores_s", rundir);
    snprintf(req2, sizeof req2, "connect:scorer_s@ipc://%s/sock/scores_s.req", rundir);
    if (follow_open(&ev, ctx, pub, req, keys, "events") ||
        follow_open(&sc, ctx, pub2, req2, keys, "scores_s"))
        goto done;
    zmq_pollitem_t items[2] = {{dn_sock_handle(ev.sub), 0, ZMQ_POLLIN, 0},
                               {dn_sock_handle(sc.sub), 0, ZMQ_POLLIN, 0}};
    follow_t *fs[2] = {&ev, &sc};
    int done_runs = 0;
    double start = bench_now(), t_first = 0, t_last = 0;
    while (done_runs < runs && bench_now() - start < 300) {
        zmq_poll(items, 2, 5);
        for (int k = 0; k < 2; k++) {
            Dinamo__Envelope *env = NULL;
            while (dn_sock_recv(fs[k]->sub, 0, &env, NULL, &err) == 0) {
                double t = bench_now();
                if (dn_follower_accept(fs[k]->f, env, &err) == DN_FOLLOW_DELIVER) {
                    if (k == 0 && dn_msg_type(env) == DN_MSG_RUN && t_first == 0)
                        t_first = t;
                    else if (k == 1 && dn_msg_type(env) == DN_MSG_SCORE) {
                        uint64_t q = env->score->run_seq;
                        if (q < (uint64_t)runs && ++n_scores[q] == hists) {
                            t_last = t;
                            done_runs++;
                        }
                    }
                }
                dn_msg_free(&env);
            }
            dn_follower_flush(fs[k]->f, &err);
        }
    }
    if (done_runs < runs) {
        fprintf(stderr, "bench: timeout with %d of %d runs scored\n", done_runs, runs);
        sh("tail -n 5 %s/logs/*.log >&2", rundir);
    } else {
        rate = runs / (t_last - t_first);
    }
    if (pages) {
        usleep(500000); /* the dashboard's last rounds reach the pages */
        *per_page = atomic_load(&ps.bytes) / pages;
    }
done:
    pages_close(&ps);
    follow_close(&ev);
    follow_close(&sc);
    if (ctx)
        zmq_ctx_term(ctx);
    if (sh("scripts/cluster.sh stop %s >/dev/null 2>&1", rundir))
        fprintf(stderr, "bench: a service did not stop cleanly (logs in %s)\n", rundir);
    else
        sh("rm -rf %s", rundir);
    dn_keyring_destroy(&keys);
    free(n_scores);
    return rate;
}

static void report_cluster(void)
{
    const int runs = 3000, hists = 10, reps = 3;
    setenv("DINAMO_GENERATOR_WINDOW", "1024", 1);
    setenv("DINAMO_SCORER_S_WINDOW", "1024", 1);
    setenv_int("DINAMO_GENERATOR_RUNS", runs);
    setenv_int("DINAMO_GENERATOR_ANOMALOUS", runs / 10);
    setenv_int("DINAMO_GENERATOR_HISTOGRAMS", hists);
    setenv("DINAMO_SCORER_S_ALPHA", "0.2", 1);
    setenv_int("DINAMO_EVALUATOR_N_HIST", runs / 5);
    setenv("DINAMO_EVALUATOR_FIGURES", "false", 1);
    setenv_int("DINAMO_GENERATOR_MIN_FOLLOWERS", 3); /* scorer_s, evaluator, this bench */
    double r[2][8];
    int ok = 1;
    for (int rep = 0; rep < reps && ok; rep++)
        for (int with = 0; with < 2 && ok; with++) {
            long per_page = 0;
            r[with][rep] = cluster_run(with ? N_PAGES : 0, runs, hists, &per_page);
            ok = !isnan(r[with][rep]);
            printf("  pass %d, %2d pages on the dashboard: %7.0f runs/s", 2 * rep + with + 1,
                   with ? N_PAGES : 0, r[with][rep]);
            if (with)
                printf(" (a page read %.1f MB of live events)", per_page / 1048576.0);
            printf("\n");
        }
    if (ok) {
        double s0 = 0, s1 = 0, lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < reps; i++) {
            s0 += r[0][i];
            s1 += r[1][i];
            double q = r[1][i] / r[0][i]; /* each pair: none, then 50 */
            lo = q < lo ? q : lo;
            hi = q > hi ? q : hi;
        }
        double sd0 = 0, m0 = s0 / reps;
        for (int i = 0; i < reps; i++)
            sd0 += (r[0][i] - m0) * (r[0][i] - m0);
        sd0 = sqrt(sd0 / (reps - 1));
        printf("  => S path with %d pages open = %.3f of none (means of %d passes each, "
               "interleaved; per pair %.3f .. %.3f; passes without pages vary by %.1f%% (sd))\n",
               N_PAGES, s1 / s0, reps, lo, hi, 100 * sd0 / m0);
    }
    unsetenv("DINAMO_GENERATOR_MIN_FOLLOWERS");
}

/* ---- main ------------------------------------------------------------------------------------ */

static long du_bytes(const char *dir, long *apparent)
{
    char path[256];
    long blocks = 0;
    *apparent = 0;
    const char *files[] = {"data.mdb", "lock.mdb"};
    for (int i = 0; i < 2; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (!stat(path, &st)) {
            blocks += (long)st.st_blocks * 512;
            *apparent += (long)st.st_size;
        }
    }
    return blocks;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int no_cluster = argc >= 2 && !strcmp(argv[1], "--no-cluster");
    int cluster_only = argc >= 2 && !strcmp(argv[1], "--cluster-only");
    if (access("web/node_modules/uplot/dist/uPlot.iife.min.js", R_OK)) {
        printf("dashboard: SKIPPED (no web/node_modules/uplot: run `make web` first, from the "
               "repository root)\n");
        return 1;
    }
    if (cluster_only) {
        printf("4. the S path with pages open, a real cluster (--ipc, security on), 3000 runs "
               "x 10 histograms\n");
        report_cluster();
        return 0;
    }
    store_t *s = calloc(1, sizeof *s);
    dn_err_t err = {0};
    int rc = 1;
    dash_http_t *h = NULL;
    snprintf(s->dir, sizeof s->dir, "/tmp/dn-bench-dash-XXXXXX");
    if (!mkdtemp(s->dir) || dash_model_init(&s->m))
        return 1;
    dash_model_lock_init(&s->lock); /* as dashboard.c makes it */
    printf("2. memory (this process; the model and the detail store as dashboard.c holds "
           "them)\n");
    print_mem("before the model:");
    long anon0 = status_kb("RssAnon:");
    if (!(s->detail = dash_detail_open(s->dir, 2000, 20000, &err))) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    double t_build = build_store(s);
    if (isnan(t_build)) {
        fprintf(stderr, "bench: building the store failed\n");
        goto done;
    }
    print_mem("after 20,000 runs x 100 histograms:");
    long anon1 = status_kb("RssAnon:");
    int with_detail = 0, bad_s = 0;
    for (int q = 0; q < s->m.n_runs; q++) {
        with_detail += s->m.runs[q].detail;
        bad_s += s->m.runs[q].m[0].severity == DN_SEV_BAD;
    }
    long apparent, on_disk = du_bytes(s->dir, &apparent);
    printf("  model: RssAnon +%.1f MB for %d runs x %d keys (%d runs judged bad by S, %d with "
           "detail on disk); built in %.1f s (%.0f runs/s through model + detail store, "
           "%d histograms and %d scores a run)\n",
           (anon1 - anon0) / 1024.0, s->m.n_runs, s->m.n_keys, bad_s, with_detail, t_build,
           N_RUNS / t_build, N_KEYS, 2 * N_KEYS);
    printf("  detail store on disk: %.1f MB (data.mdb + lock.mdb, allocated; file size %.1f MB)\n",
           on_disk / 1048576.0, apparent / 1048576.0);
    /* a restart: the store read back into a fresh model */
    {
        dash_detail_t *d2 = NULL;
        dash_model_t m2;
        dash_detail_sync(s->detail, &err);
        long a0 = status_kb("RssAnon:");
        double t0 = bench_now();
        if (dash_model_init(&m2) || !(d2 = dash_detail_open(s->dir, 2000, 20000, &err)) ||
            dash_detail_load(d2, &m2, &err)) {
            fprintf(stderr, "bench: restart: %s\n", err.msg);
        } else {
            double t = bench_now() - t0;
            int same = m2.n_runs == s->m.n_runs && m2.n_keys == s->m.n_keys &&
                       !memcmp(m2.counts, s->m.counts, sizeof m2.counts);
            printf("  restart: dash_detail_load into a fresh model %.2f s, RssAnon +%.1f MB, "
                   "counts %s the live model's\n", t, (status_kb("RssAnon:") - a0) / 1024.0,
                   same ? "equal to" : "DIFFER from");
        }
        dash_model_free(&m2);
        dash_detail_destroy(&d2);
    }
    print_mem("after the restart's model is freed:");

    dash_http_opts_t ho = {
        .address = "127.0.0.1:0", .web_dir = "web", .users_file = "",
        .max_connections = 2048, .ring = 8192, .session_max = 1024,
        .session_idle_s = 28800, .session_max_s = 86400,
        .model = &s->m, .model_lock = &s->lock, .detail = s->detail,
    };
    if (!(h = dash_http_new(&ho, &err))) {
        fprintf(stderr, "bench: %s\n", err.msg);
        goto done;
    }
    printf("1. API answers, %d runs x %d histograms stored, server at %s\n", s->m.n_runs,
           s->m.n_keys, dash_http_address(h));
    report_api(s, h);
    printf("3. live events to %d pages (GET /api/events, HTTP/1.1 chunked, one reader thread "
           "here)\n", N_PAGES);
    report_events(s, h);
    print_mem("after the server ran:");
    rc = 0;
done:
    dash_http_destroy(&h);
    dash_detail_destroy(&s->detail);
    dash_model_free(&s->m);
    pthread_rwlock_destroy(&s->lock);
    sh("rm -rf %s", s->dir);
    free(s);
    if (!rc && !no_cluster) {
        printf("4. the S path with pages open, a real cluster (--ipc, security on), 3000 runs "
               "x 10 histograms\n");
        report_cluster();
    }
    return rc;
}
