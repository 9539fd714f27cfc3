/* test_generator_service.c: the generator service alone (no follower, its
 * window wide enough for the whole stream), its events log read from its
 * LMDB store, on ipc:// endpoints in a mkdtemp directory.
 *
 *   - slow anomalies (issue 20): every Label's Truth carries slow_kind,
 *     slow_size and slow_bad equal to dn_generate_slow's truth of its
 *     histogram's seed, and its verdict is the dataset's label (bad where the
 *     defect passed its tolerance); the runs' counts are the dataset's;
 *   - localised with slow anomalies: each histogram keeps its own slow
 *     defects, and the ordinary bad runs (the seed's own) break 1..broken_max
 *     histograms, the others left without an ordinary anomaly;
 *   - the mode off: no slow field in any Truth (SPEC 1 labels unchanged). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generator.h"
#include "msg.h"
#include "shell.h"
#include "store.h"
#include "stream.h"

static char rundir[64];
static char build[4096];

static void setup(void)
{
    const char *b = getenv("DINAMO_BUILD");
    cr_assert_not_null(realpath(b ? b : "build", build), "no build directory");
    snprintf(rundir, sizeof rundir, "/tmp/dn-gensvc-XXXXXX");
    cr_assert_not_null(mkdtemp(rundir));
}

static void teardown(void)
{
    sh("[ -s %s/gen.rc ] || kill $(cat %s/gen.pid 2>/dev/null) 2>/dev/null; "
       "[ -n \"$DINAMO_KEEP_TEST_DIRS\" ] || rm -rf %s", rundir, rundir, rundir);
}

TestSuite(generator_service, .init = setup, .fini = teardown, .timeout = 120);

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs the generator with `args` until its whole stream (runs, labels, end)
 * is in its log, then stops it (SIGTERM) and checks that it stopped cleanly. */
static void run_generator(const char *args)
{
    int rc = sh("rm -f %s/gen.rc %s/gen.pid; (%s/services/generator --data_dir %s/data "
                "--security off --events bind:ipc://%s/ev --requests bind:ipc://%s/req "
                "--window 1000000 %s >>%s/gen.log 2>&1 & echo $! >%s/gen.pid; wait $!; "
                "echo $? >%s/gen.rc) &",
                rundir, rundir, build, rundir, rundir, rundir, args, rundir, rundir, rundir);
    cr_assert_eq(rc, 0);
    int done = 1;
    for (int t = 0; t < 300 && (done = sh("grep -q 'end of stream appended' %s/gen.log",
                                          rundir)) != 0; t++) {
        if (sh("test -s %s/gen.rc", rundir) == 0)
            break;
        sleep_ms(100);
    }
    if (done)
        sh("cat %s/gen.log >&2", rundir);
    cr_assert_eq(done, 0, "the generator did not append its whole stream");
    sh("kill -TERM $(cat %s/gen.pid)", rundir);
    for (int t = 0; t < 100 && sh("test -s %s/gen.rc", rundir); t++)
        sleep_ms(100);
    cr_assert_eq(sh("exit $(cat %s/gen.rc)", rundir), 0, "the generator did not stop cleanly");
}

typedef struct {
    int n_runs, n_hist;
    double *counts;     /* [run][hist][bin] */
    int nb;
    int *verdict;       /* [run][hist]: 1 bad, 0 good, -1 no label */
    int *has_slow;      /* [run][hist] */
    int *slow_kind, *slow_bad, *dead;
    double *slow_size, *mu, *sigma;
} log_t;

static void log_free(log_t *g)
{
    free(g->counts);
    free(g->verdict);
    free(g->has_slow);
    free(g->slow_kind);
    free(g->slow_bad);
    free(g->dead);
    free(g->slow_size);
    free(g->mu);
    free(g->sigma);
}

static void read_log(log_t *g, int n_runs, int n_hist, int nb)
{
    size_t cells = (size_t)n_runs * n_hist;
    *g = (log_t){.n_runs = n_runs, .n_hist = n_hist, .nb = nb,
                 .counts = calloc(cells * nb, sizeof(double)),
                 .verdict = malloc(cells * sizeof(int)), .has_slow = calloc(cells, sizeof(int)),
                 .slow_kind = calloc(cells, sizeof(int)), .slow_bad = calloc(cells, sizeof(int)),
                 .dead = calloc(cells, sizeof(int)), .slow_size = calloc(cells, sizeof(double)),
                 .mu = calloc(cells, sizeof(double)), .sigma = calloc(cells, sizeof(double))};
    for (size_t c = 0; c < cells; c++)
        g->verdict[c] = -1;
    char path[256];
    snprintf(path, sizeof path, "%s/data/generator", rundir);
    dn_err_t err = {0};
    dn_store_t *st = dn_store_open(path, DN_STORE_READONLY, 0, &err);
    cr_assert_not_null(st, "%s", err.msg);
    int runs = 0, labels = 0, ended = 0;
    for (uint64_t off = 0;; off++) {
        Dinamo__Envelope *env = NULL;
        if (dn_stream_log_read(st, "events", off, &env, &err))
            break;
        if (env->body_case == DINAMO__ENVELOPE__BODY_RUN) {
            const Dinamo__Run *r = env->run;
            cr_assert_lt(r->run_seq, (uint64_t)n_runs);
            cr_assert_eq(r->n_histograms, (size_t)n_hist);
            for (int h = 0; h < n_hist; h++) {
                const Dinamo__Histogram *x = r->histograms[h];
                char key[32];
                snprintf(key, sizeof key, "synthetic/h%d", h);
                cr_assert_str_eq(x->key, key);
                cr_assert_eq(x->n_counts, (size_t)nb);
                memcpy(g->counts + ((size_t)r->run_seq * n_hist + h) * nb, x->counts,
                       sizeof(double) * nb);
            }
            runs++;
        } else if (env->body_case == DINAMO__ENVELOPE__BODY_LABEL) {
            const Dinamo__Label *l = env->label;
            int h = -1;
            cr_assert_eq(sscanf(l->histogram_key, "synthetic/h%d", &h), 1, "%s",
                         l->histogram_key);
            cr_assert(h >= 0 && h < n_hist && l->run_seq < (uint64_t)n_runs);
            size_t c = (size_t)l->run_seq * n_hist + h;
            cr_assert_eq(g->verdict[c], -1, "run_seq %llu %s labelled twice",
                         (unsigned long long)l->run_seq, l->histogram_key);
            g->verdict[c] = l->verdict == DINAMO__VERDICT__BAD;
            const Dinamo__Truth *t = l->truth;
            cr_assert_not_null(t);
            g->has_slow[c] = t->has_slow_kind + t->has_slow_size + t->has_slow_bad;
            g->slow_kind[c] = (int)t->slow_kind;
            g->slow_size[c] = t->slow_size;
            g->slow_bad[c] = t->slow_bad;
            g->dead[c] = t->dead_bins;
            g->mu[c] = t->mu;
            g->sigma[c] = t->sigma;
            labels++;
        } else {
            ended = 1;
        }
        dn_msg_free(&env);
    }
    dn_store_destroy(&st);
    cr_assert(runs == n_runs && labels == n_runs * n_hist && ended,
              "%d runs, %d labels, end %d", runs, labels, ended);
}

#define SLOW_ARGS "--runs 300 --anomalous 30 --slow_defects 2 --slow_first 60 " \
                  "--slow_ramp_min 40 --slow_ramp_max 80 --slow_hold 20"

static void slow_params(dn_gen_params_t *p, dn_slow_params_t *s)
{
    dn_gen_params_default(p);
    p->n_runs = 300;
    p->n_anomalous = 30;
    dn_slow_params_default(s);
    s->n_defects = 2;
    s->first = 60;
    s->ramp_min = 40;
    s->ramp_max = 80;
    s->hold = 20;
}

Test(generator_service, slow_truth_in_every_label)
{
    run_generator(SLOW_ARGS " --seed 11 --histograms 2");
    dn_gen_params_t p;
    dn_slow_params_t s;
    slow_params(&p, &s);
    log_t g;
    read_log(&g, p.n_runs, 2, p.n_bins);
    int slow_bad = 0, below = 0;
    for (int h = 0; h < 2; h++) {
        dn_dataset_t *ds = NULL;
        dn_err_t err = {0};
        cr_assert_eq(dn_generate_slow(&p, &s, 11 + (uint64_t)h, &ds, &err), 0, "%s", err.msg);
        for (int i = 0; i < p.n_runs; i++) {
            size_t c = (size_t)i * 2 + h;
            cr_assert_eq(g.has_slow[c], 3, "run %d h%d: slow fields missing", i, h);
            cr_assert_eq(g.slow_kind[c], ds->slow_kind[i], "run %d h%d kind", i, h);
            cr_assert_eq(g.slow_size[c], ds->slow_size[i], "run %d h%d size", i, h);
            cr_assert_eq(g.slow_bad[c], ds->slow_bad[i], "run %d h%d slow_bad", i, h);
            cr_assert_eq(g.verdict[c], ds->label[i], "run %d h%d verdict", i, h);
            cr_assert_eq(g.mu[c], ds->true_mu[i]);
            cr_assert_eq(g.sigma[c], ds->true_sigma[i]);
            cr_assert(!memcmp(g.counts + c * p.n_bins, dn_dataset_row(ds, i),
                              sizeof(double) * p.n_bins), "run %d h%d counts", i, h);
            slow_bad += ds->slow_bad[i];
            below += ds->slow_kind[i] && !ds->slow_bad[i];
        }
        dn_dataset_destroy(&ds);
    }
    cr_assert(slow_bad > 0 && below > 0, "%d slow-bad, %d below tolerance", slow_bad, below);
    cr_assert_eq(sh("grep -q 'generated 2 dataset' %s/gen.log", rundir), 0);
    log_free(&g);
}

Test(generator_service, localised_with_slow_defects)
{
    const int H = 4;
    run_generator(SLOW_ARGS " --seed 21 --histograms 4 --subsystems 2 --localised true "
                  "--broken_max 2");
    dn_gen_params_t p;
    dn_slow_params_t s;
    slow_params(&p, &s);
    log_t g;
    read_log(&g, p.n_runs, H, p.n_bins);
    int bad[30];
    dn_err_t err = {0};
    cr_assert_eq(dn_generate_bad_runs(&p, 21, bad, &err), 0, "%s", err.msg);
    uint8_t ordinary[300] = {0};
    for (int b = 0; b < 30; b++)
        ordinary[bad[b]] = 1;
    dn_dataset_t *ds[4] = {0};
    for (int h = 0; h < H; h++)
        cr_assert_eq(dn_generate_slow_with_bad(&p, &s, 21 + (uint64_t)h, NULL, 0, &ds[h], &err),
                     0, "%s", err.msg);
    for (int i = 0; i < p.n_runs; i++) {
        int broken = 0;
        for (int h = 0; h < H; h++) {
            size_t c = (size_t)i * H + h;
            cr_assert_eq(g.has_slow[c], 3);
            cr_assert_eq(g.slow_kind[c], ds[h]->slow_kind[i], "run %d h%d kind", i, h);
            cr_assert_eq(g.slow_size[c], ds[h]->slow_size[i]);
            cr_assert_eq(g.slow_bad[c], ds[h]->slow_bad[i]);
            int is_broken = g.dead[c] > 0;
            broken += is_broken;
            cr_assert_eq(g.verdict[c], is_broken || ds[h]->slow_bad[i],
                         "run %d h%d: verdict %d, broken %d, slow_bad %d", i, h, g.verdict[c],
                         is_broken, ds[h]->slow_bad[i]);
            if (!is_broken)
                cr_assert(!memcmp(g.counts + c * p.n_bins, dn_dataset_row(ds[h], i),
                                  sizeof(double) * p.n_bins),
                          "run %d h%d unbroken: not the seed's run without an anomaly", i, h);
        }
        if (ordinary[i])
            cr_assert(broken >= 1 && broken <= 2, "ordinary bad run %d: %d broken", i, broken);
        else
            cr_assert_eq(broken, 0, "run %d is not an ordinary bad run: %d broken", i, broken);
    }
    for (int h = 0; h < H; h++)
        dn_dataset_destroy(&ds[h]);
    log_free(&g);
}

Test(generator_service, mode_off_labels_have_no_slow_fields)
{
    run_generator("--runs 50 --anomalous 5 --seed 3");
    log_t g;
    read_log(&g, 50, 1, 100);
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = 50;
    p.n_anomalous = 5;
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, 3, &ds, &err), 0, "%s", err.msg);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(g.has_slow[i], 0, "run %d: a slow field with the mode off", i);
        cr_assert_eq(g.verdict[i], ds->label[i]);
        cr_assert(!memcmp(g.counts + (size_t)i * 100, dn_dataset_row(ds, i),
                          sizeof(double) * 100));
    }
    dn_dataset_destroy(&ds);
    log_free(&g);
}

Test(generator_service, bad_slow_parameters_are_named)
{
    int rc = sh("%s/services/generator --data_dir %s/data --security off --events "
                "bind:ipc://%s/ev --requests bind:ipc://%s/req --runs 300 --anomalous 30 "
                "--slow_defects 3 "
                ">%s/bad.log 2>&1", build, rundir, rundir, rundir, rundir);
    cr_assert_neq(rc, 0, "started with 3 episodes of 600 runs in 300 runs");
    cr_assert_eq(sh("grep -q 'slow-defects, slow-first' %s/bad.log", rundir), 0,
                 "the refusal does not name the parameters");
    rc = sh("%s/services/generator --data_dir %s/data --security off --events "
            "bind:ipc://%s/ev --requests bind:ipc://%s/req --slow_efficiency_loss 2 "
            ">%s/bad2.log 2>&1", build, rundir, rundir, rundir, rundir);
    cr_assert_neq(rc, 0);
    cr_assert_eq(sh("grep -q 'slow-efficiency-loss' %s/bad2.log", rundir), 0);
}
