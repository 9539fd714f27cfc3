/* bench_stream.c: what a log source's append costs since it reads back what
 * it appends exactly as a follower will (stream.h: stamp + entry through
 * dn_msg_decode, so that no entry a follower refuses is ever stored), and what
 * a follower's refused-entry path costs.
 *
 * For a run of 1 and of 100 histograms of 100 bins (with edges): the time per
 * dn_source_append (validation, encoding, the read-back), and in the same run
 * the time of the read-back alone (dn_msg_decode of the same publication).
 * The append before the read-back was the rest, so "read-back share" is what
 * it adds: new / old = append / (append - decode). Commits (LMDB, no sync)
 * happen every BATCH appends and are not timed. Median of REPEATS rounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "stream.h"

#define N_BINS 100
#define BATCH 200
#define REPEATS 7

typedef struct run_t {
    double *counts, *edges;
    Dinamo__Histogram *h, **hp;
    char (*keys)[32];
    Dinamo__Run run;
    Dinamo__Envelope env;
} run_t;

static void make_run(run_t *m, int n_hist)
{
    m->counts = malloc(sizeof(double) * N_BINS * (size_t)n_hist);
    m->edges = malloc(sizeof(double) * (N_BINS + 1));
    m->h = calloc((size_t)n_hist, sizeof *m->h);
    m->hp = calloc((size_t)n_hist, sizeof *m->hp);
    m->keys = calloc((size_t)n_hist, sizeof *m->keys);
    for (int j = 0; j <= N_BINS; j++)
        m->edges[j] = 0.1 * j;
    for (int k = 0; k < n_hist; k++) {
        for (int j = 0; j < N_BINS; j++)
            m->counts[k * N_BINS + j] = (double)((j * 37 + k * 11) % 5000);
        dinamo__histogram__init(&m->h[k]);
        snprintf(m->keys[k], sizeof m->keys[k], "sub%d/h%d", k % 7, k);
        m->h[k].key = m->keys[k];
        m->h[k].n_counts = N_BINS;
        m->h[k].counts = m->counts + k * N_BINS;
        m->h[k].n_edges = N_BINS + 1;
        m->h[k].edges = m->edges;
        m->hp[k] = &m->h[k];
    }
    dinamo__run__init(&m->run);
    m->run.stream = (char *)"bench";
    m->run.has_run_number = m->run.has_run_seq = m->run.has_time = 1;
    m->run.run_number = 300000;
    m->run.time = 1.7e9;
    m->run.n_histograms = (size_t)n_hist;
    m->run.histograms = m->hp;
    dinamo__envelope__init(&m->env);
    m->env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    m->env.run = &m->run;
}

static void free_run(run_t *m)
{
    free(m->counts);
    free(m->edges);
    free(m->h);
    free(m->hp);
    free(m->keys);
}

static void fail(const char *what, const dn_err_t *err)
{
    fprintf(stderr, "bench_stream: %s: %s\n", what, err->msg);
    exit(1);
}

static void measure(void *ctx, const char *dir, int n_hist)
{
    run_t m;
    make_run(&m, n_hist);
    dn_err_t err = {0};
    char sdir[512], ep[600];
    snprintf(sdir, sizeof sdir, "%s/store-%d", dir, n_hist);
    dn_store_t *store = dn_store_open(sdir, DN_STORE_NOSYNC, 0, &err);
    if (!store)
        fail("store", &err);
    snprintf(ep, sizeof ep, "bind:ipc://%s/pub-%d", dir, n_hist);
    dn_sock_t *pub = dn_sock_new(ctx, ZMQ_PUB, ep, NULL, &err);
    if (!pub)
        fail("socket", &err);
    dn_source_opts_t o = {.log = "bench", .service = "bench", .window = BATCH};
    dn_source_t *src = dn_source_new(store, pub, &o, &err);
    if (!src)
        fail("source", &err);
    /* The publication a follower gets, to time the read-back alone. */
    Dinamo__Envelope copy = m.env;
    copy.producer = (char *)"bench/bench";
    copy.has_seq = copy.has_offset = copy.has_incarnation = copy.has_time_sent = 1;
    uint8_t *pubbuf = NULL;
    size_t publen = 0;
    if (dn_msg_encode(&copy, &pubbuf, &publen, &err))
        fail("encode", &err);
    double t_append[REPEATS], t_decode[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        double t0 = bench_now();
        for (int i = 0; i < BATCH; i++) {
            Dinamo__Envelope e = m.env;
            if (dn_source_append(src, &e, &err))
                fail("append", &err);
        }
        t_append[r] = (bench_now() - t0) / BATCH;
        if (dn_source_commit(src, &err))
            fail("commit", &err);
        t0 = bench_now();
        for (int i = 0; i < BATCH; i++) {
            Dinamo__Envelope *back = NULL;
            if (dn_msg_decode(pubbuf, publen, &back, NULL, &err))
                fail("decode", &err);
            dn_msg_free(&back);
        }
        t_decode[r] = (bench_now() - t0) / BATCH;
    }
    double a = bench_median_inplace(t_append, REPEATS);
    double d = bench_median_inplace(t_decode, REPEATS);
    printf("run of %3d histogram(s), %zu bytes: append %8.1f us, read-back %8.1f us; "
           "append / append without read-back = %.2f\n",
           n_hist, publen, a * 1e6, d * 1e6, a / (a - d > 0 ? a - d : a));
    free(pubbuf);
    dn_source_destroy(&src);
    dn_sock_destroy(&pub);
    dn_store_destroy(&store);
    free_run(&m);
}

int main(void)
{
    char dir[] = "/tmp/dn-bench-stream-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    void *ctx = zmq_ctx_new();
    measure(ctx, dir, 1);
    measure(ctx, dir, 100);
    zmq_ctx_term(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
