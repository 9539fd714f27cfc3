/* bench_pipeline.c: the running cluster (scripts/cluster.sh, loopback tcp),
 * measured from the outside by a process that follows the events log and a
 * scores log like any other follower.
 *
 *   1. S path end to end: generator -> scorer_s -> (evaluator), one 100-bin
 *      histogram per run and 100 per run, generator unpaced (as fast as flow
 *      control lets it): runs/s and histograms/s from the first run received
 *      to the last score received, and per run the latency from the run
 *      arriving here to its last histogram's score arriving here (median,
 *      p99). Baseline in the same run: dn_s_step on the same histograms in
 *      this process (no messages, no storage), as histograms/s. With the
 *      evaluator's figures off (their cost is bench_plot's), and once more
 *      with them on: the same cores then also draw the flagged runs.
 *      Security on (CURVE on every socket, cluster.sh's default) and off,
 *      interleaved, so the ratio on/off is the cost of CURVE on this path.
 *   2. Trainer scaling: 8 histograms per run, DINAMO-ML in lockstep, 1 and 2
 *      trainers with static shards (--shard i/n) and 2 with elastic shares
 *      (shard = auto, as docker compose --scale runs them): wall time until
 *      every ML score arrived, and runs/s; the ratios are what the second
 *      trainer gains on this machine, and what the elastic leases cost.
 *
 * --security-only runs part 1's security comparison alone, --ml-only part 2.
 * Run from the repository root (make bench does). DINAMO_BENCH_PORT moves
 * the port block (default 5750..5756). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "bench.h"
#include "bus.h"
#include "dinamo_s.h"
#include "generator.h"
#include "stream.h"
#include "../tests/shell.h"

typedef struct follow_t {
    dn_sock_t *sub, *req;
    dn_follower_t *f;
} follow_t;

/* A follower of the log at port (server: the key name of its producer);
 * keys NULL: plain sockets (security off). */
static int follow_open(follow_t *fo, void *ctx, int port, const char *server,
                       const dn_keyring_t *keys, const char *log, const char *name)
{
    dn_err_t err = {0};
    char ep[128];
    snprintf(ep, sizeof ep, "connect:%s@tcp://127.0.0.1:%d", server, port);
    dn_sock_opts_t so = {.rcvhwm = 100000, .keys = keys}, po = {.keys = keys};
    fo->sub = dn_sock_new(ctx, ZMQ_SUB, ep, &so, &err);
    snprintf(ep, sizeof ep, "connect:%s@tcp://127.0.0.1:%d", server, port + 1);
    fo->req = fo->sub ? dn_sock_new(ctx, ZMQ_PUSH, ep, &po, &err) : NULL;
    dn_follower_opts_t o = {.log = log, .consumer = name};
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

/* Streams `runs` runs of `hists` histograms through the cluster started with
 * `start_args`, following events and the scores log at scores_port. Fills
 * t_first (first run seen), t_last (last score seen), lat[runs] latencies.
 * Returns 0, or -1 on timeout or failure. */
static int stream_through(const char *start_args, int secure, int runs, int hists,
                          int scores_port, const char *scores_log, double timeout_s,
                          double *t_first, double *t_last, double *lat)
{
    dn_keyring_t *keys = NULL;
    int port = getenv("DINAMO_BENCH_PORT") ? atoi(getenv("DINAMO_BENCH_PORT")) : 5750;
    char rundir[] = "/tmp/dn-bench-XXXXXX";
    if (!mkdtemp(rundir))
        return -1;
    setenv_int("DINAMO_GENERATOR_RUNS", runs);
    setenv_int("DINAMO_GENERATOR_ANOMALOUS", runs / 10);
    setenv_int("DINAMO_GENERATOR_HISTOGRAMS", hists);
    int rc = -1;
    double *t_run = calloc((size_t)runs, sizeof *t_run);
    int *n_scores = calloc((size_t)runs, sizeof *n_scores);
    void *ctx = zmq_ctx_new();
    follow_t ev = {0}, sc = {0};
    if (!t_run || !n_scores || !ctx)
        goto done;
    if (sh("scripts/cluster.sh start %s --port-base %d --security %s %s >%s/start.out 2>&1",
           rundir, port, secure ? "on" : "off", start_args, rundir)) {
        fprintf(stderr, "bench: cluster.sh start failed:\n");
        sh("cat %s/start.out >&2", rundir);
        goto done;
    }
    if (secure) { /* a follower like any other, with the shifter's key */
        char dir[64];
        dn_err_t err = {0};
        snprintf(dir, sizeof dir, "%s/keys", rundir);
        if (!(keys = dn_keyring_load(dir, "shifter", &err))) {
            fprintf(stderr, "bench: %s\n", err.msg);
            goto done;
        }
    }
    if (follow_open(&ev, ctx, port, "generator", keys, "events", "bench") ||
        follow_open(&sc, ctx, scores_port,
                    strcmp(scores_log, "scores_s") ? "scorer_ml" : "scorer_s", keys, scores_log,
                    "bench"))
        goto done;
    zmq_pollitem_t items[2] = {{dn_sock_handle(ev.sub), 0, ZMQ_POLLIN, 0},
                               {dn_sock_handle(sc.sub), 0, ZMQ_POLLIN, 0}};
    follow_t *fs[2] = {&ev, &sc};
    int done_runs = 0;
    double start = bench_now();
    *t_first = 0;
    while (done_runs < runs && bench_now() - start < timeout_s) {
        zmq_poll(items, 2, 5);
        for (int k = 0; k < 2; k++) {
            Dinamo__Envelope *env = NULL;
            dn_err_t err = {0};
            while (dn_sock_recv(fs[k]->sub, 0, &env, NULL, &err) == 0) {
                double t = bench_now();
                if (dn_follower_accept(fs[k]->f, env, &err) == DN_FOLLOW_DELIVER) {
                    if (k == 0 && dn_msg_type(env) == DN_MSG_RUN) {
                        uint64_t s = env->run->run_seq;
                        if (s < (uint64_t)runs)
                            t_run[s] = t;
                        if (*t_first == 0)
                            *t_first = t;
                    } else if (k == 1 && dn_msg_type(env) == DN_MSG_SCORE) {
                        uint64_t s = env->score->run_seq;
                        if (s < (uint64_t)runs && ++n_scores[s] == hists) {
                            /* -1: the score came before this follower had the
                             * run (it re-requested it): no latency to tell */
                            lat[s] = t_run[s] > 0 ? t - t_run[s] : -1;
                            *t_last = t;
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
        fprintf(stderr, "bench: timeout after %.0f s with %d of %d runs scored\n", timeout_s,
                done_runs, runs);
        sh("tail -n 5 %s/logs/*.log >&2", rundir);
    } else {
        rc = 0;
    }
done:
    follow_close(&ev);
    follow_close(&sc);
    if (ctx)
        zmq_ctx_term(ctx);
    if (sh("scripts/cluster.sh stop %s >/dev/null 2>&1", rundir))
        fprintf(stderr, "bench: a service did not stop cleanly (logs in %s)\n", rundir);
    else
        sh("rm -rf %s", rundir);
    free(t_run);
    free(n_scores);
    dn_keyring_destroy(&keys);
    return rc;
}

/* In-process baseline: dn_s_step over `hists` synthetic streams of `runs`
 * runs, histograms per second. */
static double baseline_s(int runs, int hists)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = runs;
    p.n_anomalous = runs / 10;
    dn_err_t err = {0};
    dn_dataset_t *ds = NULL;
    if (dn_generate(&p, 70, &ds, &err))
        return NAN;
    dn_s_t *s = dn_s_new(ds->n_bins, 0.2);
    double chi2, t0 = bench_now();
    int reps = 0;
    do {
        for (int h = 0; h < hists; h++)
            for (int i = 0; i < runs; i++)
                dn_s_step(s, dn_dataset_row(ds, i), NULL, ds->label[i] == 0, &chi2, NULL, NULL,
                          NULL, NULL);
        reps++;
    } while (bench_now() - t0 < 0.3);
    double hz = (double)reps * runs * hists / (bench_now() - t0);
    dn_s_destroy(&s);
    dn_dataset_destroy(&ds);
    return hz;
}

/* Streams the S path once; returns histograms/s, NAN on failure. */
static double report_s(int runs, int hists, int figures, int secure)
{
    double t_first = 0, t_last = 0, hz = NAN;
    double *lat = calloc((size_t)runs, sizeof *lat);
    if (!lat)
        return NAN;
    /* Fixed alpha: no calibration hold, so latency is the steady state. The
     * bench is a third follower of the events log. */
    setenv("DINAMO_SCORER_S_ALPHA", "0.2", 1);
    setenv_int("DINAMO_EVALUATOR_N_HIST", runs / 5);
    setenv_int("DINAMO_GENERATOR_MIN_FOLLOWERS", 3);
    setenv("DINAMO_EVALUATOR_FIGURES", figures ? "true" : "false", 1);
    int port = getenv("DINAMO_BENCH_PORT") ? atoi(getenv("DINAMO_BENCH_PORT")) : 5750;
    if (stream_through("--methods s", secure, runs, hists, port + 2, "scores_s", 300, &t_first,
                       &t_last, lat) == 0) {
        double secs = t_last - t_first;
        qsort(lat, (size_t)runs, sizeof *lat, bench_cmp_double);
        int late = 0; /* sorted first: the -1 of runs seen after their score */
        while (late < runs && lat[late] < 0)
            late++;
        const double *ok = lat + late;
        int n_ok = runs - late;
        double base = baseline_s(runs, hists);
        hz = runs * (double)hists / secs;
        printf("S path, %3d histogram(s)/run, %d runs, security %s, evaluator figures %s: %8.0f "
               "runs/s %9.0f histograms/s (in-process dn_s_step: %.0f histograms/s, pipeline = "
               "%.3f of it); latency run -> score median %.2f ms, p99 %.2f ms",
               hists, runs, secure ? "on" : "off", figures ? "on" : "off", runs / secs, hz, base,
               hz / base,
               n_ok ? 1e3 * ok[n_ok / 2] : NAN, n_ok ? 1e3 * ok[(int)(0.99 * (n_ok - 1))] : NAN);
        if (late)
            printf(" (%d runs reached this follower after their score: left out)", late);
        printf("\n");
    } else {
        printf("S path, %d histogram(s)/run: FAILED\n", hists);
    }
    unsetenv("DINAMO_SCORER_S_ALPHA");
    unsetenv("DINAMO_GENERATOR_MIN_FOLLOWERS");
    fflush(stdout);
    free(lat);
    return hz;
}

/* The S path with security off and on, interleaved off, on, off, on: the
 * ratio of the sums is what CURVE costs on this machine. */
static void report_security(int runs, int hists)
{
    double off = 0, on = 0;
    for (int rep = 0; rep < 2; rep++) {
        off += report_s(runs, hists, 0, 0);
        on += report_s(runs, hists, 0, 1);
    }
    printf("CURVE on the S path, %d histogram(s)/run: security on = %.3f of off "
           "(histograms/s, two runs each, interleaved)\n", hists, on / off);
    fflush(stdout);
}

static double trainer_run(int trainers, int elastic, int runs, int hists)
{
    double t_first = 0, t_last = 0;
    double *lat = calloc((size_t)runs, sizeof *lat);
    char args[64];
    snprintf(args, sizeof args, "--trainers %d%s", trainers, elastic ? " --auto-shards" : "");
    setenv_int("DINAMO_SCORER_S_N_HIST", runs / 4);
    setenv_int("DINAMO_EVALUATOR_N_HIST", runs / 4);
    setenv_int("DINAMO_GENERATOR_MIN_FOLLOWERS", 4 + trainers);
    int port = getenv("DINAMO_BENCH_PORT") ? atoi(getenv("DINAMO_BENCH_PORT")) : 5750;
    double secs = NAN;
    if (lat && stream_through(args, 1, runs, hists, port + 4, "scores_ml", 900, &t_first,
                              &t_last, lat) == 0)
        secs = t_last - t_first;
    unsetenv("DINAMO_GENERATOR_MIN_FOLLOWERS");
    free(lat);
    return secs;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Flow-control windows sized for throughput (a run of 100 histograms is
     * 101 events entries with its labels); the defaults (32) favour memory. */
    setenv("DINAMO_GENERATOR_WINDOW", "1024", 1);
    setenv("DINAMO_SCORER_S_WINDOW", "1024", 1);
    setenv("DINAMO_SCORER_ML_WINDOW", "1024", 1);
    if (argc >= 2 && !strcmp(argv[1], "--security-only")) {
        report_security(20000, 1);
        report_security(1000, 100);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "--ml-only")) {
        /* the S path itself; then with the evaluator drawing every flagged run
         * (2000 in 20000 runs) on the same 2 cores */
        report_security(20000, 1);
        report_security(1000, 100);
        report_s(20000, 1, 1, 1);
    }
    int runs = 60, hists = 8;
    double one = trainer_run(1, 0, runs, hists);
    double two = trainer_run(2, 0, runs, hists);
    double elastic = trainer_run(2, 1, runs, hists);
    printf("trainer scaling, %d histograms/run, %d runs, DINAMO-ML lockstep: 1 trainer %.1f s "
           "(%.2f runs/s), 2 trainers %.1f s (%.2f runs/s): 2 trainers = %.2fx of 1 on %ld "
           "cores\n",
           hists, runs, one, runs / one, two, runs / two, one / two, sysconf(_SC_NPROCESSORS_ONLN));
    printf("elastic shares (shard = auto), 2 trainers: %.1f s (%.2f runs/s) = %.2fx of 1 "
           "trainer, %.2fx of 2 static shards\n",
           elastic, runs / elastic, one / elastic, two / elastic);
    return isnan(one) || isnan(two) || isnan(elastic) ? 1 : 0;
}
