/* bench_bus.c: cost of moving one Run (one 100-bin histogram with edges) between
 * services: protobuf encode/decode with validation per message, then PUSH/PULL
 * throughput and one-way latency over tcp://127.0.0.1 and ipc://, each as a
 * ratio against inproc:// (same process, no kernel) measured in the same run.
 *
 * Throughput: a sender thread pushes N_THROUGHPUT envelopes as fast as the HWM
 * lets it (dn_sock_send: stamping, validation, encoding included); the main
 * thread receives and decodes (validation and sequence tracking included).
 * Latency: one message in flight at a time, sent and received by the main
 * thread, so the time covers encode + ZeroMQ I/O thread + transport + decode;
 * median and p99 over N_LATENCY samples after WARMUP. Loopback only. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "bus.h"
#include "msg.h"
#include "rng.h"

#define N_BINS 100
#define N_CODEC 200000
#define N_THROUGHPUT 100000
#define N_LATENCY 20000
#define WARMUP 1000

typedef struct run_msg_t {
    double counts[N_BINS];
    double edges[N_BINS + 1];
    Dinamo__Histogram h;
    Dinamo__Histogram *hp;
    Dinamo__Run run;
    Dinamo__Envelope env;
} run_msg_t;

static void make_run(run_msg_t *m)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 7);
    for (int j = 0; j < N_BINS; j++)
        m->counts[j] = (double)dn_rng_below(&rng, 5000);
    for (int j = 0; j <= N_BINS; j++)
        m->edges[j] = 0.1 * j;
    dinamo__histogram__init(&m->h);
    m->h.key = (char *)"calo/energy";
    m->h.subsystem = (char *)"calo";
    m->h.n_counts = N_BINS;
    m->h.counts = m->counts;
    m->h.n_edges = N_BINS + 1;
    m->h.edges = m->edges;
    m->hp = &m->h;
    dinamo__run__init(&m->run);
    m->run.stream = (char *)"bench";
    m->run.has_run_number = m->run.has_run_seq = m->run.has_time = 1;
    m->run.run_number = 300000;
    m->run.time = 1.7e9;
    m->run.n_histograms = 1;
    m->run.histograms = &m->hp;
    dinamo__envelope__init(&m->env);
    m->env.producer = (char *)"bench|run";
    m->env.has_seq = 1;
    m->env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    m->env.run = &m->run;
}

static void die(const char *what, const dn_err_t *err)
{
    fprintf(stderr, "bench_bus: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

typedef struct sender_t {
    void *ctx;
    char endpoint[256];
    int n;
} sender_t;

static void *sender(void *arg)
{
    sender_t *s = arg;
    dn_err_t err = {0};
    dn_sock_opts_t o = {.producer = "bench"};
    dn_sock_t *push = dn_sock_new(s->ctx, ZMQ_PUSH, s->endpoint, &o, &err);
    if (!push)
        die("sender socket", &err);
    run_msg_t m;
    make_run(&m);
    for (int i = 0; i < s->n; i++) {
        m.run.run_seq = (uint64_t)i;
        if (dn_sock_send(push, &m.env, -1, &err))
            die("send", &err);
    }
    dn_sock_destroy(&push); /* lingers until delivered */
    return NULL;
}

typedef struct result_t {
    double msgs_per_s;
    double median_us, p99_us;
} result_t;

/* transport: "inproc://bench-N", "ipc://DIR/x" or "tcp://127.0.0.1:*". */
static result_t measure(void *ctx, const char *endpoint)
{
    result_t r = {0};
    dn_err_t err = {0};
    char bind[256];
    snprintf(bind, sizeof bind, "bind:%s", endpoint);
    dn_sock_t *pull = dn_sock_new(ctx, ZMQ_PULL, bind, NULL, &err);
    if (!pull)
        die("pull socket", &err);
    sender_t s = {.ctx = ctx, .n = N_THROUGHPUT};
    snprintf(s.endpoint, sizeof s.endpoint, "connect:%s", dn_sock_endpoint(pull));
    pthread_t th;
    double t0 = bench_now();
    if (pthread_create(&th, NULL, sender, &s))
        die("pthread_create", NULL);
    for (int i = 0; i < N_THROUGHPUT; i++) {
        Dinamo__Envelope *e = NULL;
        dn_recv_info_t info;
        if (dn_sock_recv(pull, 10000, &e, &info, &err))
            die("receive", &err);
        if (info.seq != DN_SEQ_NEW || e->run->run_seq != (uint64_t)i)
            die("out of order or lost", NULL);
        dn_msg_free(&e);
    }
    r.msgs_per_s = N_THROUGHPUT / (bench_now() - t0);
    pthread_join(th, NULL);

    /* latency: one in flight, same thread both ends */
    dn_sock_opts_t o = {.producer = "lat"};
    dn_sock_t *push = dn_sock_new(ctx, ZMQ_PUSH, s.endpoint, &o, &err);
    if (!push)
        die("latency socket", &err);
    run_msg_t m;
    make_run(&m);
    double *lat = malloc(N_LATENCY * sizeof *lat);
    for (int i = 0; i < WARMUP + N_LATENCY; i++) {
        m.run.run_seq = (uint64_t)i;
        double a = bench_now();
        if (dn_sock_send(push, &m.env, -1, &err))
            die("send", &err);
        Dinamo__Envelope *e = NULL;
        if (dn_sock_recv(pull, 10000, &e, NULL, &err))
            die("receive", &err);
        double b = bench_now();
        dn_msg_free(&e);
        if (i >= WARMUP)
            lat[i - WARMUP] = (b - a) * 1e6;
    }
    qsort(lat, N_LATENCY, sizeof *lat, bench_cmp_double);
    r.median_us = lat[N_LATENCY / 2];
    r.p99_us = lat[(int)(0.99 * N_LATENCY)];
    free(lat);
    dn_sock_destroy(&push);
    dn_sock_destroy(&pull);
    return r;
}

int main(void)
{
    run_msg_t m;
    make_run(&m);
    dn_err_t err = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (dn_msg_encode(&m.env, &buf, &len, &err))
        die("encode", &err);
    printf("envelope: Run with one %d-bin histogram + edges, %zu bytes\n", N_BINS, len);

    /* codec: validated encode and decode, then the raw protobuf-c pack as baseline */
    double t0 = bench_now();
    size_t sink = 0;
    for (int i = 0; i < N_CODEC; i++) {
        uint8_t *b;
        size_t l;
        m.env.seq = (uint64_t)i;
        if (dn_msg_encode(&m.env, &b, &l, &err))
            die("encode", &err);
        sink += l;
        free(b);
    }
    double enc_ns = (bench_now() - t0) / N_CODEC * 1e9;
    t0 = bench_now();
    for (int i = 0; i < N_CODEC; i++) {
        Dinamo__Envelope *e;
        if (dn_msg_decode(buf, len, &e, NULL, &err))
            die("decode", &err);
        sink += e->run->n_histograms;
        dn_msg_free(&e);
    }
    double dec_ns = (bench_now() - t0) / N_CODEC * 1e9;
    t0 = bench_now();
    for (int i = 0; i < N_CODEC; i++) {
        Dinamo__Envelope *e = dinamo__envelope__unpack(NULL, len, buf);
        sink += e->run->n_histograms;
        dinamo__envelope__free_unpacked(e, NULL);
    }
    double raw_dec_ns = (bench_now() - t0) / N_CODEC * 1e9;
    t0 = bench_now();
    for (int i = 0; i < N_CODEC; i++) {
        uint8_t *b;
        size_t l;
        if (dn_msg_encode_unchecked(&m.env, &b, &l))
            die("encode", NULL);
        sink += l;
        free(b);
    }
    double raw_enc_ns = (bench_now() - t0) / N_CODEC * 1e9;
    free(buf);
    printf("encode (validate + pack + malloc): %7.0f ns/msg   unchecked %5.0f ns (validation "
           "x%.2f)\n", enc_ns, raw_enc_ns, enc_ns / raw_enc_ns);
    printf("decode (unpack + validate):        %7.0f ns/msg   unchecked %5.0f ns (validation "
           "x%.2f)\n", dec_ns, raw_dec_ns, dec_ns / raw_dec_ns);

    void *ctx = zmq_ctx_new();
    char dir[] = "/tmp/dn_bench_bus_XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", NULL);
    char ipc[128];
    snprintf(ipc, sizeof ipc, "ipc://%s/runs", dir);
    const char *names[3] = {"inproc", "ipc", "tcp 127.0.0.1"};
    const char *eps[3] = {"inproc://bench", ipc, "tcp://127.0.0.1:*"};
    result_t r[3];
    for (int t = 0; t < 3; t++)
        r[t] = measure(ctx, eps[t]);
    printf("\n%-14s %12s %8s %12s %8s %10s %8s\n", "PUSH/PULL", "msgs/s", "ratio", "median us",
           "ratio", "p99 us", "ratio");
    for (int t = 0; t < 3; t++)
        printf("%-14s %12.0f %8.2f %12.1f %8.2f %10.1f %8.2f\n", names[t], r[t].msgs_per_s,
               r[t].msgs_per_s / r[0].msgs_per_s, r[t].median_us, r[t].median_us / r[0].median_us,
               r[t].p99_us, r[t].p99_us / r[0].p99_us);
    printf("(ratios against inproc in this run; %d messages for throughput, %d latency samples)\n",
           N_THROUGHPUT, N_LATENCY);
    zmq_ctx_term(ctx);
    char path[160];
    snprintf(path, sizeof path, "%s/runs", dir);
    unlink(path);
    rmdir(dir);
    return sink == 0;
}
