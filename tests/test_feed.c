/* test_feed.c: the feed service in the cluster (scripts/cluster.sh --feed), on
 * ipc:// endpoints in a mkdtemp directory.
 *
 *   - a directory of UHI JSON runs (one of them broken) with a labels file, and
 *     the same runs as a runs CSV: in lockstep, every DINAMO-S score equals
 *     `dinamo score --in ...` byte for byte;
 *   - watch mode: runs written while the feed runs (renamed in, written in two
 *     chunks, written in two open/close sessions), while it is killed with -9,
 *     and after its restart are each published exactly once, in run order; a
 *     file that never parses is rejected after settle_s, a second file with a
 *     published run number is rejected, a published file rewritten is ignored;
 *   - a watched directory of ROOT files (files renamed in, one written in
 *     place in two chunks, one in two open/close sessions, a restart in
 *     between, and a truncated file among them): every other run published
 *     once in run order with its 1-D and 2-D histograms as written, the
 *     truncated file named in the log and counted as rejected;
 *   - `dinamo label`: a person's verdict and a relabelling both reach the
 *     evaluator's labels.csv with who, when and why; a label for a run the feed
 *     never published is refused;
 *   - policy severities and combined run scores; auto-accept;
 *   - hostile names (quotes, backslashes, commas, UTF-8 in keys and
 *     subsystems, a line break in a label's reason): every file of the
 *     evaluator's report parses back to them.
 * The feed's events log is read from its LMDB store. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csvread.h"
#include "fileio.h"
#include "generator.h"
#include "json.h"
#include "msg.h"
#include "rootdata.h"
#include "rootwrite.h"
#include "store.h"
#include "stream.h"
#include "shell.h"

static char rundir[64];
static char build[4096];

static void setup(void)
{
    const char *b = getenv("DINAMO_BUILD");
    cr_assert_not_null(realpath(b ? b : "build", build), "no build directory");
    snprintf(rundir, sizeof rundir, "/tmp/dn-feed-XXXXXX");
    cr_assert_not_null(mkdtemp(rundir));
    setenv("DINAMO_BUILD", build, 1);
    setenv("DINAMO_SCORER_S_N_HIST", "40", 1);
    setenv("DINAMO_EVALUATOR_N_HIST", "40", 1);
    setenv("DINAMO_COMMON_TICK_MS", "200", 1);
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "scripts/cluster.sh stop %s >/dev/null 2>&1; "
             "[ -s %s/alone.rc ] || kill $(cat %s/alone.pid 2>/dev/null) 2>/dev/null; "
             "[ -n \"$DINAMO_KEEP_TEST_DIRS\" ] || rm -rf %s", rundir, rundir, rundir, rundir);
    if (system(cmd) != 0)
        fprintf(stderr, "teardown: %s failed\n", cmd);
}

TestSuite(feed, .init = setup, .fini = teardown, .timeout = 600);

static dn_dataset_t *dataset(int runs)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = runs;
    p.n_anomalous = runs / 10;
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, 11, &ds, &err), 0, "%s", err.msg);
    return ds;
}

/* The UHI document of run i (weighted storage would change the scores; plain
 * double storage is what `dinamo score` sees in the CSV too). */
static char *uhi_text(const dn_dataset_t *ds, int i, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    fprintf(f, "{\"det/x\": {\"uhi_schema\": 1, \"axes\": [{\"type\": \"regular\", \"lower\": "
               "-5.0, \"upper\": 5.0, \"bins\": %d, \"underflow\": false, \"overflow\": false}], "
               "\"storage\": {\"type\": \"double\", \"values\": [",
            ds->n_bins);
    for (int j = 0; j < ds->n_bins; j++) {
        if (j)
            fputs(", ", f);
        dn_json_write_number(f, dn_dataset_row(ds, i)[j]);
    }
    fprintf(f, "]}, \"metadata\": {\"run\": %lld}}}\n", (long long)ds->run[i]);
    fclose(f);
    return buf;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* Writes run i as dir/run_<i>.json via a temporary name and a rename. */
static void put_run(const dn_dataset_t *ds, const char *dir, int i)
{
    size_t len;
    char *t = uhi_text(ds, i, &len);
    char tmp[512], final[512];
    snprintf(tmp, sizeof tmp, "%s/.run_%06d.json.tmp", dir, i);
    snprintf(final, sizeof final, "%s/run_%06d.json", dir, i);
    write_file(tmp, t, len);
    cr_assert_eq(rename(tmp, final), 0);
    free(t);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The same 120 runs as a UHI directory, a runs CSV and a directory of ROOT
 * files holding them as 10x10 maps: through the cluster (feed, scorer_s,
 * evaluator), each scores as `dinamo score` scores the same input, and the
 * 2-D maps score byte for byte as their flattened 1-D histograms. */
Test(feed, uhi_directory_and_csv_equal_the_offline_tool)
{
    dn_dataset_t *ds = dataset(120);
    char dir[256], labels[256], csv[256];
    snprintf(dir, sizeof dir, "%s/uhi", rundir);
    snprintf(labels, sizeof labels, "%s/labels.csv", rundir);
    snprintf(csv, sizeof csv, "%s/runs.csv", rundir);
    mkdir(dir, 0755);
    FILE *lf = fopen(labels, "w"), *cf = fopen(csv, "w");
    fputs("run,label\n", lf);
    fputs("run,label", cf);
    for (int j = 0; j < ds->n_bins; j++)
        fprintf(cf, ",b%d", j);
    fputc('\n', cf);
    for (int i = 0; i < ds->n_runs; i++) {
        put_run(ds, dir, i);
        fprintf(lf, "%lld,%s\n", (long long)ds->run[i], ds->label[i] ? "bad" : "good");
        fprintf(cf, "%lld,%d", (long long)ds->run[i], ds->label[i]);
        for (int j = 0; j < ds->n_bins; j++) {
            fputc(',', cf);
            dn_json_write_number(cf, dn_dataset_row(ds, i)[j]);
        }
        fputc('\n', cf);
    }
    fclose(lf);
    fclose(cf);
    /* a file that is not a run: rejected, named, and the stream goes on */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/run_999999.json", dir);
    write_file(bad, "{\"det/x\": {\"axes\": [", 20);

    /* the same runs as 10x10 maps in ROOT files (TH2D det/x, flattened x outer
     * they are the 100 bins above), labels.csv and truth.csv beside */
    char rootdir[256];
    snprintf(rootdir, sizeof rootdir, "%s/root2d", rundir);
    dn_dataset_t *maps = dataset(120);
    cr_assert_eq(dn_dataset_set_2d(maps, 10), 0);
    for (int j = 0; j <= 10; j++)
        maps->edges[j] = maps->edges_y[j] = -5.0 + j;
    maps->edges_known = 1;
    dn_err_t werr = {0};
    cr_assert_eq(dn_dataset_write_root_dir(maps, rootdir, "det/x", &werr), 0, "%s", werr.msg);
    dn_dataset_destroy(&maps);

    const char *inputs[3] = {dir, csv, rootdir};
    for (int k = 0; k < 3; k++) {
        char rd[128];
        snprintf(rd, sizeof rd, "%s/c%d", rundir, k);
        setenv("DINAMO_FEED_LABELS", k != 1 ? labels : "", 1);
        setenv("DINAMO_FEED_KEY", "det/x", 1);
        int rc = sh("scripts/cluster.sh start %s --ipc --methods s --feed %s >%s.out 2>&1", rd,
                    inputs[k], rd);
        cr_assert_eq(rc, 0, "cluster start failed");
        rc = sh("scripts/cluster.sh wait %s 300 >&2 && scripts/cluster.sh stop %s >&2", rd, rd);
        cr_assert_eq(rc, 0, "no final report or unclean stop (%s)", inputs[k]);
        rc = sh("%s/dinamo score --method s --in %s %s %s --n-historical 40 --out %s/off.csv "
                "2>/dev/null && cmp %s/report/scores_s.csv %s/off.csv >&2",
                build, inputs[k], k == 0 ? "--labels" : "", k == 0 ? labels : "", rd, rd, rd);
        cr_assert_eq(rc, 0, "%s: pipeline scores differ from dinamo score", inputs[k]);
        if (k == 2) { /* 2-D maps score as their flattened 1-D histograms */
            rc = sh("cmp %s/report/scores_s.csv %s/c1/report/scores_s.csv >&2", rd, rundir);
            cr_assert_eq(rc, 0, "the ROOT 2-D maps score otherwise than the same bins as 1-D");
        }
        if (k == 0) {
            rc = sh("grep -q 'run_999999.json: line 1, column 21.*file rejected' %s/logs/feed.log",
                    rd);
            cr_assert_eq(rc, 0, "the broken file is not named in the feed's log");
        }
    }
    unsetenv("DINAMO_FEED_LABELS");
    unsetenv("DINAMO_FEED_KEY");
    dn_dataset_destroy(&ds);
}

/* Run numbers of the Runs in the feed's events log, in log order. */
static int published_runs(int64_t *runs, int cap, uint64_t *seqs)
{
    char path[256];
    snprintf(path, sizeof path, "%s/data/feed/feed", rundir);
    dn_err_t err = {0};
    dn_store_t *st = dn_store_open(path, DN_STORE_READONLY, 0, &err);
    if (!st)
        return 0;
    int n = 0;
    for (uint64_t off = 0;; off++) {
        Dinamo__Envelope *env = NULL;
        if (dn_stream_log_read(st, "events", off, &env, &err))
            break;
        if (env->body_case == DINAMO__ENVELOPE__BODY_RUN && n < cap) {
            seqs[n] = env->run->run_seq;
            runs[n++] = env->run->run_number;
        }
        dn_msg_free(&env);
    }
    dn_store_destroy(&st);
    return n;
}

static int wait_published(int want, int64_t *runs, uint64_t *seqs, int cap)
{
    int n = 0;
    for (int t = 0; t < 300 && (n = published_runs(runs, cap, seqs)) < want; t++)
        sleep_ms(100);
    return n;
}

Test(feed, watch_publishes_each_run_exactly_once_across_kill_9)
{
    dn_dataset_t *ds = dataset(30);
    char dir[256], p[512];
    snprintf(dir, sizeof dir, "%s/watch", rundir);
    mkdir(dir, 0755);
    setenv("DINAMO_FEED_SETTLE_S", "1", 1);
    setenv("DINAMO_FEED_WINDOW", "1000", 1);
    /* Two people with keys of their own (security is on): cluster.sh keeps
     * the pairs it finds and adds the services'. */
    cr_assert_eq(sh("for p in alice bob; do %s/dinamo keygen $p --role labels --dir %s/keys "
                    ">/dev/null || exit 1; done", build, rundir), 0, "dinamo keygen failed");
    int rc = sh("scripts/cluster.sh start %s --ipc --methods s --mode live --feed %s --watch "
                ">%s/start.out 2>&1", rundir, dir, rundir);
    cr_assert_eq(rc, 0, "cluster start failed");
    sleep_ms(300);
    for (int i = 0; i < 10; i++)
        put_run(ds, dir, i);
    /* run 10: one open, written in two chunks with a pause */
    size_t len;
    char *t = uhi_text(ds, 10, &len);
    snprintf(p, sizeof p, "%s/run_%06d.json", dir, 10);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(write(fd, t, len / 2) == (ssize_t)(len / 2));
    fsync(fd);
    sleep_ms(400);
    cr_assert(write(fd, t + len / 2, len - len / 2) == (ssize_t)(len - len / 2));
    close(fd);
    free(t);
    /* run 11: two open/close sessions (the first close leaves half a file) */
    t = uhi_text(ds, 11, &len);
    snprintf(p, sizeof p, "%s/run_%06d.json", dir, 11);
    write_file(p, t, len / 2);
    sleep_ms(400);
    FILE *f = fopen(p, "a");
    fwrite(t + len / 2, 1, len - len / 2, f);
    fclose(f);
    free(t);
    /* never a run */
    snprintf(p, sizeof p, "%s/garbage_5000.json", dir);
    write_file(p, "{not json", 9);

    int64_t runs[64];
    uint64_t seqs[64];
    int n = wait_published(12, runs, seqs, 64);
    cr_assert_eq(n, 12, "%d runs published before the kill", n);
    rc = sh("scripts/cluster.sh kill %s feed KILL", rundir);
    cr_assert_eq(rc, 0);
    sleep_ms(300);
    for (int i = 12; i < 20; i++)
        put_run(ds, dir, i);
    /* a published file rewritten, and a second file claiming run 7 */
    snprintf(p, sizeof p, "%s/run_%06d.json", dir, 5);
    t = uhi_text(ds, 6, &len);
    write_file(p, t, len);
    free(t);
    t = uhi_text(ds, 7, &len);
    snprintf(p, sizeof p, "%s/again_7.json", dir);
    write_file(p, t, len);
    free(t);
    rc = sh("scripts/cluster.sh restart %s feed", rundir);
    cr_assert_eq(rc, 0);
    sleep_ms(500);
    for (int i = 20; i < 25; i++)
        put_run(ds, dir, i);
    n = wait_published(25, runs, seqs, 64);
    sleep_ms(2500); /* settle_s for the garbage file, and time for anything extra */
    /* people's labels: a verdict, a relabelling (both recorded, in order), and a
     * run the feed never published (refused: the command says so, exit 1) */
    char eps[400];
    snprintf(eps, sizeof eps, "--requests ipc://%s/sock/events.req --events ipc://%s/sock/events",
             rundir, rundir);
    rc = sh("%s/dinamo label %lld bad --keys %s/keys --as alice "
            "--reason 'hot spot, \"sector 3\"' --histogram det/x %s >&2", build,
            (long long)ds->run[3], rundir, eps);
    cr_assert_eq(rc, 0, "dinamo label failed");
    rc = sh("%s/dinamo label %lld good --keys %s/keys --as bob %s >&2", build,
            (long long)ds->run[3], rundir, eps);
    cr_assert_eq(rc, 0, "dinamo label (relabel) failed");
    /* bob cannot label as alice */
    rc = sh("%s/dinamo label %lld good --keys %s/keys --as bob --who alice %s 2>/dev/null", build,
            (long long)ds->run[3], rundir, eps);
    cr_assert_eq(rc, 2, "a label claiming another person's name must be refused (got %d)", rc);
    rc = sh("%s/dinamo label 424242 good --keys %s/keys --as bob --timeout 2 %s 2>/dev/null",
            build, rundir, eps);
    cr_assert_eq(rc, 1, "a label for a run never published must fail (got %d)", rc);
    rc = sh("scripts/cluster.sh kill %s evaluator USR1", rundir);
    for (int w = 0; w < 50 && sh("grep -q bob %s/report/labels.csv 2>/dev/null", rundir); w++)
        sleep_ms(200);
    rc = sh("grep -q '^%lld,3,det/x,bad,shifter,\"alice\",.*,\"hot spot, \"\"sector 3\"\"\",' "
            "%s/report/labels.csv && grep -q '^%lld,3,,good,shifter,\"bob\",' "
            "%s/report/labels.csv",
            (long long)ds->run[3], rundir, (long long)ds->run[3], rundir);
    if (rc)
        sh("cat %s/report/labels.csv >&2", rundir);
    cr_assert_eq(rc, 0, "labels.csv does not record both verdicts with who and why");
    rc = sh("scripts/cluster.sh stop %s >&2", rundir);
    n = published_runs(runs, 64, seqs);
    cr_assert_eq(n, 25, "%d runs published, want 25 (each once)", n);
    for (int k = 0; k < n; k++) {
        cr_assert_eq(runs[k], ds->run[k], "log position %d holds run %lld, want %lld", k,
                     (long long)runs[k], (long long)ds->run[k]);
        cr_assert_eq(seqs[k], (uint64_t)k, "run_seq %llu at %d", (unsigned long long)seqs[k],
                     k);
    }
    cr_assert_eq(sh("grep -q 'garbage_5000.json: line 1, column 2.*file rejected' "
                    "%s/logs/feed.log", rundir),
                 0, "the garbage file is not reported as rejected");
    cr_assert_eq(sh("grep -q 'again_7.json: run 7 was already published from run_000007.json' "
                    "%s/logs/feed.log", rundir),
                 0, "the second file of run 7 is not reported");
    cr_assert_eq(sh("grep -q 'run_000005.json: changed after it was published' "
                    "%s/logs/feed.log", rundir),
                 0, "the rewritten run 5 is not reported");
    unsetenv("DINAMO_FEED_SETTLE_S");
    unsetenv("DINAMO_FEED_WINDOW");
    dn_dataset_destroy(&ds);
}

/* ---- restarts of the feed alone -----------------------------------------------
 * A runs CSV with delayed labels, the feed alone (no follower: flow control
 * stops it a window in), stopped and restarted: every run and label is in the
 * log once, in order, labels the delay after their run, then the end; a
 * restart with another input over that log is refused. */

/* Runs the feed alone in the background on a runs CSV (its log in DIR/alone.log,
 * its exit status in DIR/alone.rc once it exits). */
static void start_alone(const char *input, int window)
{
    int rc = sh("rm -f %s/alone.rc %s/alone.pid; (%s/services/feed --data_dir %s/data/feed "
                "--input %s --key det/x --labels '' --label_delay_runs 3 --window %d "
                "--security off --events bind:ipc://%s/ev --requests bind:ipc://%s/req >>%s/alone.log 2>&1 & "
                "echo $! >%s/alone.pid; wait $!; echo $? >%s/alone.rc) &",
                rundir, rundir, build, rundir, input, window, rundir, rundir, rundir, rundir,
                rundir);
    for (int t = 0; t < 50 && sh("test -s %s/alone.pid", rundir); t++)
        sleep_ms(20);
    cr_assert_eq(rc, 0);
}

/* Stops it (SIGTERM) and returns its exit status. */
static int stop_alone(void)
{
    sh("kill -TERM $(cat %s/alone.pid)", rundir);
    for (int t = 0; t < 100; t++) {
        if (sh("test -s %s/alone.rc", rundir) == 0)
            return sh("exit $(cat %s/alone.rc)", rundir);
        sleep_ms(100);
    }
    cr_assert_fail("the feed did not stop");
    return -1;
}

/* Entries in the feed's log (its store read-only). */
static uint64_t log_count(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/data/feed/feed", rundir);
    dn_err_t err = {0};
    dn_store_t *st = dn_store_open(path, DN_STORE_READONLY, 0, &err);
    uint64_t n = 0;
    if (st && dn_store_count(st, "events", &n, &err))
        n = 0;
    dn_store_destroy(&st);
    return n;
}

Test(feed, a_fixed_input_restarted_publishes_each_run_and_label_once)
{
    dn_dataset_t *ds = dataset(30);
    char set[256], csv[300], other[256];
    snprintf(set, sizeof set, "%s/set", rundir);
    snprintf(csv, sizeof csv, "%s/runs.csv", set);
    snprintf(other, sizeof other, "%s/other.csv", rundir);
    dn_err_t werr = {0};
    cr_assert_eq(dn_dataset_write_dir(ds, set, &werr), 0, "%s", werr.msg);
    write_file(other, "run,label,b0,b1\n1,0,5,5\n", 24);
    /* no follower: the feed stops a window (12 entries) in, labels pending */
    start_alone(csv, 12);
    for (int t = 0; t < 100 && log_count() < 12; t++)
        sleep_ms(100);
    sleep_ms(300);
    cr_assert_eq(stop_alone(), 0, "the feed did not stop cleanly");
    cr_assert_eq(log_count(), 12, "a window of entries, no more");
    start_alone(csv, 1000);
    for (int t = 0; t < 100 && log_count() < 61; t++)
        sleep_ms(100);
    cr_assert_eq(stop_alone(), 0, "the restarted feed did not stop cleanly");
    cr_assert_eq(sh("grep -q 'restored: [0-9]* runs and [0-9]* labels published' %s/alone.log",
                    rundir), 0, "the restart did not restore the checkpoint");
    /* the log: runs in order once each, each label 3 runs after its run, the end */
    char path[256];
    snprintf(path, sizeof path, "%s/data/feed/feed", rundir);
    dn_err_t err = {0};
    dn_store_t *st = dn_store_open(path, DN_STORE_READONLY, 0, &err);
    cr_assert_not_null(st, "%s", err.msg);
    uint64_t runs = 0, labels = 0, n = log_count();
    cr_assert_eq(n, 61, "%llu entries, want 30 runs, 30 labels and the end",
                 (unsigned long long)n);
    for (uint64_t off = 0; off < n; off++) {
        Dinamo__Envelope *env = NULL;
        cr_assert_eq(dn_stream_log_read(st, "events", off, &env, &err), 0, "%s", err.msg);
        if (env->body_case == DINAMO__ENVELOPE__BODY_RUN) {
            cr_assert_eq(env->run->run_seq, runs, "entry %llu: run_seq %llu, want %llu",
                         (unsigned long long)off, (unsigned long long)env->run->run_seq,
                         (unsigned long long)runs);
            cr_assert_eq(env->run->run_number, ds->run[runs]);
            /* runs.csv alone has no bin edges: none published, not 0, 1, ... */
            cr_assert_eq(env->run->n_histograms, 1);
            cr_assert_eq(env->run->histograms[0]->n_edges, 0, "placeholder edges published");
            runs++;
        } else if (env->body_case == DINAMO__ENVELOPE__BODY_LABEL) {
            const Dinamo__Label *l = env->label;
            cr_assert_eq(l->run_seq, labels, "labels in run order");
            cr_assert_eq(l->source, DINAMO__LABEL_SOURCE__RECORDED);
            cr_assert_eq(l->verdict, ds->label[labels] ? DINAMO__VERDICT__BAD
                                                       : DINAMO__VERDICT__GOOD);
            cr_assert(runs == 30 || runs >= labels + 4, "label of run_seq %llu after %llu runs",
                      (unsigned long long)labels, (unsigned long long)runs);
            labels++;
        } else {
            cr_assert_eq(off, n - 1, "the end comes last");
            cr_assert_eq(env->control->n_runs, 30);
            cr_assert_eq(env->control->n_labels, 30);
            cr_assert_eq(env->control->final_run_number, ds->run[29]);
        }
        dn_msg_free(&env);
    }
    dn_store_destroy(&st);
    cr_assert(runs == 30 && labels == 30);
    /* another input over this log: refused, both named */
    start_alone(other, 1000);
    for (int t = 0; t < 50 && sh("test -s %s/alone.rc", rundir); t++)
        sleep_ms(100);
    cr_assert_eq(sh("exit $(cat %s/alone.rc)", rundir), 1, "a foreign log was appended to");
    cr_assert_eq(sh("grep -q 'written by a feed configured otherwise (input: %s in the "
                    "log, %s now' %s/alone.log", csv, other, rundir), 0,
                 "the refusal does not name both inputs");
    cr_assert_eq(log_count(), 61, "nothing appended after the refusal");
    dn_dataset_destroy(&ds);
}

/* ---- a directory of ROOT files, watched ------------------------------------------
 * Each run file holds det/x (the dataset's row, TH1D) and det/map (a 4 x 5
 * TH2D whose bin (ix, iy) holds 100 * run + 10 * ix + iy), as a DQM-less
 * file named by its run; run 15's det/map has another last y edge (left
 * out: the key's binning is fixed by its first run). */

static void *root_run_bytes(const dn_dataset_t *ds, int i, size_t *len)
{
    const double shift = i == 15 ? 0.5 : 0; /* run 15: det/map with other y edges */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/.bytes_%d.root", rundir, i);
    dn_root_hist_t *x = dn_root_hist_new(1, "x", "", ds->n_bins, ds->edges, 0, NULL, 0);
    double xe[] = {0, 1, 2, 3, 4}, ye[] = {-1, 0, 1, 2, 3, 4 + shift};
    dn_root_hist_t *map = dn_root_hist_new(2, "map", "", 4, xe, 5, ye, 0);
    cr_assert(x && map);
    for (int j = 0; j < ds->n_bins; j++)
        x->values[j + 1] = dn_dataset_row(ds, i)[j];
    for (int ix = 1; ix <= 4; ix++)
        for (int iy = 1; iy <= 5; iy++)
            map->values[dn_root_hist_cell(map, ix, iy)] = 100 * i + 10 * (ix - 1) + (iy - 1);
    dn_root_writer_t *w = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_writer_open(tmp, NULL, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_writer_add(w, "det", x, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_writer_add(w, "det", map, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_writer_close(&w, &err), 0, "%s", err.msg);
    dn_root_hist_destroy(&x);
    dn_root_hist_destroy(&map);
    char *bytes = NULL;
    cr_assert_eq(dn_read_file(tmp, &bytes, len, &err), 0, "%s", err.msg);
    unlink(tmp);
    return bytes;
}

/* Run i as dir/run_<i>.root: written under a hidden name and renamed in, or
 * (cut_to > 0) only its first cut_to bytes. */
static void put_root_run(const dn_dataset_t *ds, const char *dir, int i, size_t cut_to)
{
    size_t len;
    char *b = root_run_bytes(ds, i, &len);
    char tmp[512], final[512];
    snprintf(tmp, sizeof tmp, "%s/.run_%06d.root.tmp", dir, i);
    snprintf(final, sizeof final, "%s/run_%06d.root", dir, i);
    write_file(tmp, b, cut_to ? cut_to : len);
    cr_assert_eq(rename(tmp, final), 0);
    free(b);
}

Test(feed, a_root_directory_watched_with_a_truncated_file)
{
    dn_dataset_t *ds = dataset(17);
    char dir[256], p[512];
    snprintf(dir, sizeof dir, "%s/root", rundir);
    mkdir(dir, 0755);
    setenv("DINAMO_FEED_WATCH", "true", 1);
    setenv("DINAMO_FEED_SETTLE_S", "1", 1);
    size_t len;
    char *b = root_run_bytes(ds, 3, &len);
    for (int i = 0; i < 6; i++) /* run 3 cut in the middle: never opens */
        put_root_run(ds, dir, i, i == 3 ? len / 2 : 0);
    free(b);
    start_alone(dir, 1000);
    int64_t runs[64];
    uint64_t seqs[64];
    int n = wait_published(5, runs, seqs, 64);
    cr_assert_eq(n, 5, "%d runs published from the first scan", n);
    for (int i = 6; i < 9; i++)
        put_root_run(ds, dir, i, 0);
    /* run 9: one open, written in two chunks with a pause */
    b = root_run_bytes(ds, 9, &len);
    snprintf(p, sizeof p, "%s/run_%06d.root", dir, 9);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(write(fd, b, len / 2) == (ssize_t)(len / 2));
    fsync(fd);
    sleep_ms(400);
    cr_assert(write(fd, b + len / 2, len - len / 2) == (ssize_t)(len - len / 2));
    close(fd);
    free(b);
    /* run 10: two open/close sessions (the first close leaves half a file) */
    b = root_run_bytes(ds, 10, &len);
    snprintf(p, sizeof p, "%s/run_%06d.root", dir, 10);
    write_file(p, b, len / 2);
    sleep_ms(400);
    FILE *f = fopen(p, "a");
    fwrite(b + len / 2, 1, len - len / 2, f);
    fclose(f);
    free(b);
    n = wait_published(10, runs, seqs, 64);
    cr_assert_eq(n, 10, "%d runs published before the restart", n);
    for (int t = 0; t < 50 && sh("grep -q 'run_000003.root: .*file rejected' %s/alone.log",
                                 rundir); t++)
        sleep_ms(100); /* settle_s after it was written */
    cr_assert_eq(stop_alone(), 0, "the feed did not stop cleanly");
    for (int i = 11; i < 14; i++)
        put_root_run(ds, dir, i, 0);
    start_alone(dir, 1000);
    for (int i = 14; i < 17; i++)
        put_root_run(ds, dir, i, 0);
    n = wait_published(16, runs, seqs, 64);
    sleep_ms(1500); /* settle_s for the cut file, and time for anything extra */
    cr_assert_eq(stop_alone(), 0, "the restarted feed did not stop cleanly");
    n = published_runs(runs, 64, seqs);
    cr_assert_eq(n, 16, "%d runs published, want 16 (each once, run 3 rejected)", n);
    for (int k = 0; k < n; k++) {
        int64_t want = k < 3 ? k : k + 1;
        cr_assert_eq(runs[k], want, "log position %d holds run %lld, want %lld", k,
                     (long long)runs[k], (long long)want);
        cr_assert_eq(seqs[k], (uint64_t)k);
    }
    cr_assert_eq(sh("grep -q 'run_000003.root: .*file rejected' %s/alone.log", rundir), 0,
                 "the cut file is not named in the feed's log");
    cr_assert_eq(sh("grep -q 'stopped: 10 runs.* 1 files rejected' %s/alone.log", rundir), 0,
                 "the cut file is not counted");
    cr_assert_eq(sh("grep -q 'stopped: 16 runs.* 0 files rejected, 0 duplicate runs, 1 "
                    "histograms left out' %s/alone.log", rundir), 0,
                 "the cut file was looked at again after the restart (the ledger has it), or "
                 "run 15's det/map was not left out");
    cr_assert_eq(sh("grep -q 'run_000015.root: histogram \"det/map\": binning changed: edge 5 of y "
                    "is 4.5.*left out' %s/alone.log", rundir), 0,
                 "a 2-D binning change is not named");
    /* the histograms of run 9 (written in two chunks) as written */
    snprintf(p, sizeof p, "%s/data/feed/feed", rundir);
    dn_err_t err = {0};
    dn_store_t *st = dn_store_open(p, DN_STORE_READONLY, 0, &err);
    cr_assert_not_null(st, "%s", err.msg);
    Dinamo__Envelope *env = NULL;
    uint64_t off = 0;
    for (;; off++) {
        cr_assert_eq(dn_stream_log_read(st, "events", off, &env, &err), 0, "%s", err.msg);
        if (env->body_case == DINAMO__ENVELOPE__BODY_RUN && env->run->run_number == 9)
            break;
        dn_msg_free(&env);
    }
    const Dinamo__Run *r = env->run;
    cr_assert_eq(r->n_histograms, 2);
    for (size_t h = 0; h < r->n_histograms; h++) {
        const Dinamo__Histogram *hg = r->histograms[h];
        cr_assert_str_eq(hg->subsystem, "det");
        if (!strcmp(hg->key, "det/x")) {
            cr_assert_eq(hg->n_counts, (size_t)ds->n_bins);
            for (int j = 0; j < ds->n_bins; j++)
                cr_assert_eq(hg->counts[j], dn_dataset_row(ds, 9)[j], "det/x bin %d", j);
            cr_assert_eq(hg->n_edges, (size_t)ds->n_bins + 1);
            continue;
        }
        cr_assert_str_eq(hg->key, "det/map");
        cr_assert_eq(hg->n_bins_y, 5);
        cr_assert_eq(hg->n_counts, 20);
        for (int ix = 0; ix < 4; ix++)
            for (int iy = 0; iy < 5; iy++)
                cr_assert_eq(hg->counts[ix * 5 + iy], 900 + 10 * ix + iy,
                             "det/map bin (%d, %d) at ix * ny + iy", ix, iy);
        cr_assert_eq(hg->n_edges, 5);
        cr_assert_eq(hg->n_edges_y, 6);
        cr_assert_eq(hg->edges_y[5], 4);
    }
    dn_msg_free(&env);
    dn_store_destroy(&st);
    unsetenv("DINAMO_FEED_WATCH");
    unsetenv("DINAMO_FEED_SETTLE_S");
    dn_dataset_destroy(&ds);
}

/* Two subsystems per run and a policy: a minimum of entries for one key (its
 * low-statistics runs are insufficient in the pipeline exactly as in `dinamo
 * score --policy`), fixed warning/bad thresholds for the other subsystem; every
 * run's severity is its worst histogram's and its combined score is
 * log(sum chi2 / sum n_bins). */
Test(feed, policy_severities_and_combined_run_scores)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = 120;
    p.n_anomalous = 12;
    dn_dataset_t *a = NULL, *b = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, 21, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_generate(&p, 22, &b, &err), 0, "%s", err.msg);
    char dir[256], labels[256], policy[256];
    snprintf(dir, sizeof dir, "%s/uhi", rundir);
    snprintf(labels, sizeof labels, "%s/labels.csv", rundir);
    snprintf(policy, sizeof policy, "%s/policy.csv", rundir);
    mkdir(dir, 0755);
    FILE *lf = fopen(labels, "w");
    fputs("run,label\n", lf);
    for (int i = 0; i < a->n_runs; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/run_%06d.json", dir, i);
        FILE *f = fopen(path, "w");
        const dn_dataset_t *ds[2] = {a, b};
        const char *key[2] = {"calo/e", "muon/x"};
        fputc('{', f);
        for (int h = 0; h < 2; h++) {
            fprintf(f, "%s\"%s\": {\"axes\": [{\"type\": \"regular\", \"lower\": -5, \"upper\": "
                       "5, \"bins\": %d}], \"storage\": {\"type\": \"double\", \"values\": [",
                    h ? ", " : "", key[h], ds[h]->n_bins);
            for (int j = 0; j < ds[h]->n_bins; j++) {
                if (j)
                    fputs(", ", f);
                dn_json_write_number(f, dn_dataset_row(ds[h], i)[j]);
            }
            fputs("]}}", f);
        }
        fputs("}\n", f);
        fclose(f);
        fprintf(lf, "%d,%s\n", i, a->label[i] || b->label[i] ? "bad" : "good");
    }
    fclose(lf);
    FILE *pf = fopen(policy, "w");
    fputs("match,min_entries,warning,bad\n# muon runs below 9000 entries are not judged\n"
          "muon/*,9000,,\nsubsystem:calo,,0.5,1.0\n", pf);
    fclose(pf);
    setenv("DINAMO_COMMON_POLICY", policy, 1);
    setenv("DINAMO_FEED_LABELS", labels, 1);
    int rc = sh("scripts/cluster.sh start %s --ipc --methods s --feed %s >%s/start.out 2>&1",
                rundir, dir, rundir);
    cr_assert_eq(rc, 0, "cluster start failed");
    rc = sh("scripts/cluster.sh wait %s 300 >&2 && scripts/cluster.sh stop %s >&2", rundir,
            rundir);
    unsetenv("DINAMO_COMMON_POLICY");
    unsetenv("DINAMO_FEED_LABELS");
    cr_assert_eq(rc, 0, "no final report or unclean stop");
    /* the key with a minimum: same scores as the offline tool with the policy */
    rc = sh("%s/dinamo score --method s --in %s --key muon/x --labels %s --policy %s "
            "--n-historical 40 --out %s/off.csv 2>/dev/null && "
            "cmp %s/report/scores_s_muon_x.csv %s/off.csv >&2 && "
            "grep -q insufficient_statistics %s/off.csv",
            build, dir, labels, policy, rundir, rundir, rundir, rundir);
    cr_assert_eq(rc, 0, "muon/x: pipeline scores with the policy differ from dinamo score");
    /* calo thresholds come from the policy */
    rc = sh("awk -F, 'NR > 1 && $4 == \"calo/e\" && ($7 != 0.5 || $8 != 1) { bad = 1 } "
            "END { exit bad }' %s/report/flags.csv", rundir);
    cr_assert_eq(rc, 0, "calo/e thresholds are not the policy's 0.5 / 1.0");
    /* run severity = worst histogram severity; combined score from the chi2s */
    rc = sh("cd %s/report && awk -F, '"
            "function rank(s) { return s == \"bad\" ? 4 : s == \"warning\" ? 3 : "
            "s == \"good\" ? 2 : s == \"insufficient_statistics\" ? 1 : 0 } "
            "FILENAME == \"flags.csv\" && FNR > 1 { if (rank($9) > w[$1]) w[$1] = rank($9); "
            "n[$1]++ } "
            "FILENAME ~ /^scores_s_/ && FNR > 1 && $5 == \"ok\" { c[$1] += $3; b[$1] += 100 } "
            "FILENAME == \"runs.csv\" && FNR > 1 { seen++; "
            "if (rank($4) != w[$1]) { print \"run \" $1 \": severity \" $4; bad = 1 } "
            "if (b[$1] > 0) { e = log(c[$1] / b[$1]); d = e - $5; if (d < 0) d = -d; "
            "if (d > 1e-9) { print \"run \" $1 \": score \" $5 \" want \" e; bad = 1 } } } "
            "END { if (seen < 70) { print seen \" runs judged\"; bad = 1 } exit bad }' "
            "flags.csv scores_s_calo_e.csv scores_s_muon_x.csv runs.csv >&2",
            rundir);
    cr_assert_eq(rc, 0, "runs.csv disagrees with the histograms' severities and chi2s");
    rc = sh("grep -q '^[0-9]*,[0-9]*,s,muon,' %s/report/subsystems.csv && "
            "grep -q '^[0-9]*,[0-9]*,s,calo,' %s/report/subsystems.csv", rundir, rundir);
    cr_assert_eq(rc, 0, "subsystems.csv lacks a subsystem");
    dn_dataset_destroy(&a);
    dn_dataset_destroy(&b);
}

/* Auto-accept (on with a feed): in live mode, every run the evaluator judges
 * good by all its histograms is labelled good by the system (source auto), and
 * no warning or bad run is: those wait for a person. */
Test(feed, auto_accept_labels_exactly_the_good_runs)
{
    dn_dataset_t *ds = dataset(80);
    char dir[256], policy[256];
    snprintf(dir, sizeof dir, "%s/uhi", rundir);
    snprintf(policy, sizeof policy, "%s/policy.csv", rundir);
    mkdir(dir, 0755);
    for (int i = 0; i < ds->n_runs; i++)
        put_run(ds, dir, i);
    FILE *pf = fopen(policy, "w");
    fputs("match,min_entries,warning,bad\n*,,0.2,0.9\n", pf);
    fclose(pf);
    /* people label the first 20 runs (the reference must learn from some good
     * runs before anything can look good); the system takes over after that */
    char labels[256];
    snprintf(labels, sizeof labels, "%s/first.csv", rundir);
    FILE *lf = fopen(labels, "w");
    fputs("run,label\n", lf);
    for (int i = 0; i < 20; i++)
        fprintf(lf, "%lld,%s\n", (long long)ds->run[i], ds->label[i] ? "bad" : "good");
    fclose(lf);
    setenv("DINAMO_FEED_LABELS", labels, 1);
    setenv("DINAMO_COMMON_POLICY", policy, 1);
    setenv("DINAMO_SCORER_S_ALPHA", "0.9", 1);
    setenv("DINAMO_EVALUATOR_N_HIST", "1", 1);
    int rc = sh("scripts/cluster.sh start %s --ipc --methods s --mode live --feed %s "
                ">%s/start.out 2>&1", rundir, dir, rundir);
    cr_assert_eq(rc, 0, "cluster start failed");
    rc = sh("scripts/cluster.sh wait %s 300 >&2", rundir);
    sleep_ms(1500); /* automatic labels of the last runs */
    rc |= sh("scripts/cluster.sh kill %s evaluator USR1", rundir);
    sleep_ms(1500);
    rc |= sh("scripts/cluster.sh stop %s >&2", rundir);
    unsetenv("DINAMO_COMMON_POLICY");
    unsetenv("DINAMO_SCORER_S_ALPHA");
    unsetenv("DINAMO_FEED_LABELS");
    setenv("DINAMO_EVALUATOR_N_HIST", "40", 1);
    cr_assert_eq(rc, 0, "cluster run failed");
    /* runs.csv severity good <=> an auto label in labels.csv */
    rc = sh("cd %s/report && awk -F, '"
            "FILENAME == \"labels.csv\" && FNR > 1 && $5 == \"auto\" { a[$1] = $4; n++ } "
            "FILENAME == \"runs.csv\" && FNR > 1 && $1 >= 20 { j++; "
            "if ($4 == \"good\" && a[$1] != \"good\") { print \"good run \" $1 \" not accepted\"; "
            "bad = 1 } "
            "if ($4 != \"good\" && ($1 in a)) { print $4 \" run \" $1 \" accepted\"; bad = 1 } "
            "if ($4 != \"good\") w++ } "
            "END { print n \" auto labels, \" w \" runs left to people, \" j \" judged\"; "
            "if (n < 30 || w < 3 || j < 55) bad = 1; exit bad }' labels.csv runs.csv >&2",
            rundir);
    cr_assert_eq(rc, 0, "auto-accept did not label exactly the good runs");
    rc = sh("grep -q 'labelled good automatically' %s/logs/evaluator.log && "
            "grep -q 'good by evaluator (automatic)' %s/logs/feed.log", rundir, rundir);
    cr_assert_eq(rc, 0, "automatic labels are not logged by the evaluator and the feed");
    dn_dataset_destroy(&ds);
}

/* ---- hostile names ------------------------------------------------------------
 * Histogram keys hold what UHI and ROOT names may hold: a quote and a real
 * backslash (calo/"e\nergy), a comma, both, and non-ASCII UTF-8, one of them
 * in a subsystem named with a comma; a person's label has a comma and quotes
 * in who and a line break in why. Every file of the evaluator's report parses
 * back to those names: metrics.json with json.h's strict parser (it was
 * invalid JSON when keys were written by hand), the CSVs with a strict RFC
 * 4180 reader, every row as wide as its header (a comma in a key shifted the
 * columns); the runs flagged bad have their figure sets drawn under the
 * keys' file names. */

#define HOSTILE_KEYS 4
#define HOSTILE_RUNS 100

/* The keys as the evaluator receives them (C strings), their subsystems
 * (the part before '/', or the metadata's), and their report file names. */
static const char *hostile_keys[HOSTILE_KEYS] = {"calo/\"e\\nergy", "muon/a,b",
                                                 "trk/\"x\", y", "énergie/日本"};
static const char *hostile_subsystems[HOSTILE_KEYS] = {"calo", "muon", "trk, inner",
                                                       "énergie"};
static const char *hostile_files[HOSTILE_KEYS] = {"calo_\"e\\nergy", "muon_a,b",
                                                  "trk_\"x\", y", "énergie_日本"};

/* Run i as a UHI document: the keys escaped by the JSON writer, the third
 * key's subsystem given by its metadata. */
static void write_hostile_run(const char *dir, dn_dataset_t **ds, int i)
{
    char path[512];
    snprintf(path, sizeof path, "%s/run_%06d.json", dir, i);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputc('{', f);
    for (int h = 0; h < HOSTILE_KEYS; h++) {
        fputs(h ? ", " : "", f);
        dn_json_write_string(f, hostile_keys[h]);
        fprintf(f, ": {\"axes\": [{\"type\": \"regular\", \"lower\": -5, \"upper\": 5, "
                   "\"bins\": %d}], \"storage\": {\"type\": \"double\", \"values\": [",
                ds[h]->n_bins);
        for (int j = 0; j < ds[h]->n_bins; j++) {
            fputs(j ? ", " : "", f);
            dn_json_write_number(f, dn_dataset_row(ds[h], i)[j]);
        }
        fputs("]}", f);
        if (h == 2) {
            fputs(", \"metadata\": {\"subsystem\": ", f);
            dn_json_write_string(f, hostile_subsystems[h]);
            fputc('}', f);
        }
        fputc('}', f);
    }
    fputs("}\n", f);
    fclose(f);
}

/* A UHI directory of HOSTILE_RUNS runs (each histogram from its own seed)
 * and its labels file; the runs' numbers are 0 .. HOSTILE_RUNS - 1. */
static void make_hostile_input(const char *dir, const char *labels)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = HOSTILE_RUNS;
    p.n_anomalous = HOSTILE_RUNS / 10;
    dn_dataset_t *ds[HOSTILE_KEYS];
    dn_err_t err = {0};
    for (int h = 0; h < HOSTILE_KEYS; h++)
        cr_assert_eq(dn_generate(&p, 31 + (uint64_t)h, &ds[h], &err), 0, "%s", err.msg);
    mkdir(dir, 0755);
    FILE *lf = fopen(labels, "w");
    cr_assert_not_null(lf);
    fputs("run,label\n", lf);
    for (int i = 0; i < HOSTILE_RUNS; i++) {
        write_hostile_run(dir, ds, i);
        int bad = 0;
        for (int h = 0; h < HOSTILE_KEYS; h++)
            bad |= ds[h]->label[i];
        fprintf(lf, "%d,%s\n", i, bad ? "bad" : "good");
    }
    fclose(lf);
    for (int h = 0; h < HOSTILE_KEYS; h++)
        dn_dataset_destroy(&ds[h]);
}

/* report/name parsed as CSV; every row has the header's number of fields. */
static void read_csv(const char *name, csv_doc_t *doc)
{
    char path[256], *text = NULL;
    size_t len = 0;
    dn_err_t err = {0};
    snprintf(path, sizeof path, "%s/report/%s", rundir, name);
    cr_assert_eq(dn_read_file(path, &text, &len, &err), 0, "%s", err.msg);
    cr_assert_eq(csv_parse(text, len, doc), 0, "%s: %s", name, doc->error);
    cr_assert_geq(doc->n_rows, 2, "%s: no rows", name);
    for (int r = 1; r < doc->n_rows; r++)
        cr_assert_eq(doc->rows[r].n, doc->rows[0].n, "%s row %d: %d fields, the header has %d",
                     name, r, doc->rows[r].n, doc->rows[0].n);
    free(text);
}

/* The column of the header named `name`. */
static int column(const csv_doc_t *doc, const char *name)
{
    for (int c = 0; c < doc->rows[0].n; c++)
        if (!strcmp(doc->rows[0].fields[c], name))
            return c;
    cr_assert_fail("no column %s", name);
    return -1;
}

static int key_index(const char *key)
{
    for (int h = 0; h < HOSTILE_KEYS; h++)
        if (!strcmp(hostile_keys[h], key))
            return h;
    return -1;
}

static void check_metrics(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/report/metrics.json", rundir);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse_file(path, &doc, &err), 0, "metrics.json: %s", err.msg);
    const dn_json_value_t *k = dn_json_get(dn_json_root(doc), "keys");
    cr_assert_eq(dn_json_object_len(k), HOSTILE_KEYS);
    for (int h = 0; h < HOSTILE_KEYS; h++) {
        const dn_json_value_t *s = dn_json_get(dn_json_get(k, hostile_keys[h]), "s");
        cr_assert_not_null(s, "metrics.json has no key '%s'", hostile_keys[h]);
        cr_assert_eq(dn_json_type(dn_json_get(s, "threshold")), DN_JSON_NUMBER,
                     "'%s' was not evaluated", hostile_keys[h]);
    }
    dn_json_destroy(&doc);
}

/* flags.csv names every key with its subsystem; runs.csv's worst column
 * names the keys (as "KEY(+excess)"). */
static void check_flags_and_runs(void)
{
    csv_doc_t doc;
    read_csv("flags.csv", &doc);
    int hist = column(&doc, "histogram"), sub = column(&doc, "subsystem"), seen[HOSTILE_KEYS] = {0};
    for (int r = 1; r < doc.n_rows; r++) {
        int h = key_index(doc.rows[r].fields[hist]);
        cr_assert_geq(h, 0, "flags.csv row %d: unknown key '%s'", r, doc.rows[r].fields[hist]);
        cr_assert_str_eq(doc.rows[r].fields[sub], hostile_subsystems[h]);
        seen[h] = 1;
    }
    for (int h = 0; h < HOSTILE_KEYS; h++)
        cr_assert(seen[h], "flags.csv never names '%s'", hostile_keys[h]);
    csv_free(&doc);
    read_csv("runs.csv", &doc);
    int worst = column(&doc, "worst"), named = 0;
    for (int r = 1; r < doc.n_rows; r++)
        for (int h = 0; h < HOSTILE_KEYS; h++) {
            char want[300];
            snprintf(want, sizeof want, "%s(+", hostile_keys[h]);
            named += strstr(doc.rows[r].fields[worst], want) != NULL;
        }
    cr_assert_gt(named, 0, "runs.csv names no worst histogram");
    csv_free(&doc);
    read_csv("subsystems.csv", &doc);
    sub = column(&doc, "subsystem");
    int inner = 0;
    for (int r = 1; r < doc.n_rows; r++)
        inner += !strcmp(doc.rows[r].fields[sub], "trk, inner");
    cr_assert_gt(inner, 0, "subsystems.csv lacks the subsystem 'trk, inner'");
    csv_free(&doc);
}

/* One scores file per key, under the key's file name. */
static void check_scores(void)
{
    for (int h = 0; h < HOSTILE_KEYS; h++) {
        char name[300];
        snprintf(name, sizeof name, "scores_s_%s.csv", hostile_files[h]);
        csv_doc_t doc;
        read_csv(name, &doc);
        cr_assert_eq(doc.n_rows, HOSTILE_RUNS + 1, "%s: %d rows", name, doc.n_rows);
        cr_assert_eq(doc.rows[0].n, 5);
        csv_free(&doc);
    }
}

/* The person's label, both verdicts kept with who and why as given. */
static void check_labels(const char *who, const char *reason)
{
    csv_doc_t doc;
    read_csv("labels.csv", &doc);
    int c_who = column(&doc, "who"), c_why = column(&doc, "reason"),
        c_hist = column(&doc, "histogram"), found = 0;
    for (int r = 1; r < doc.n_rows; r++)
        if (!strcmp(doc.rows[r].fields[c_who], who)) {
            cr_assert_str_eq(doc.rows[r].fields[c_why], reason);
            cr_assert_str_eq(doc.rows[r].fields[c_hist], hostile_keys[1]);
            found++;
        }
    cr_assert_eq(found, 1, "labels.csv holds the person's label %d times", found);
    csv_free(&doc);
}

Test(feed, hostile_names_parse_back_from_every_evaluator_report_file)
{
    char dir[256], labels[256];
    snprintf(dir, sizeof dir, "%s/uhi", rundir);
    snprintf(labels, sizeof labels, "%s/labels.csv", rundir);
    make_hostile_input(dir, labels);
    setenv("DINAMO_FEED_LABELS", labels, 1);
    setenv("DINAMO_EVALUATOR_FIGURES_QUEUE", "2", 1); /* a few sets drawn, the rest dropped */
    /* Security off, said here: the person's name is hostile text, which a key
     * name cannot be (a secured label records its key's name). */
    int rc = sh("scripts/cluster.sh start %s --ipc --methods s --no-auto-accept --feed %s "
                "--security off >%s/start.out 2>&1", rundir, dir, rundir);
    unsetenv("DINAMO_FEED_LABELS");
    unsetenv("DINAMO_EVALUATOR_FIGURES_QUEUE");
    cr_assert_eq(rc, 0, "cluster start failed");
    rc = sh("scripts/cluster.sh wait %s 300 >&2", rundir);
    cr_assert_eq(rc, 0, "no final report");
    /* a person labels one histogram of run 7, with a comma and quotes in who
     * and a line break in why (handed to the shell through files) */
    const char *who = "o'brien, \"bob\"", *reason = "hot spot,\nsector \"3\"";
    char wf[256], rf[256];
    snprintf(wf, sizeof wf, "%s/who.txt", rundir);
    snprintf(rf, sizeof rf, "%s/reason.txt", rundir);
    write_file(wf, who, strlen(who));
    write_file(rf, reason, strlen(reason));
    rc = sh("%s/dinamo label 7 bad --who \"$(cat %s)\" --reason \"$(cat %s)\" "
            "--histogram 'muon/a,b' --requests ipc://%s/sock/events.req "
            "--events ipc://%s/sock/events >&2", build, wf, rf, rundir, rundir);
    cr_assert_eq(rc, 0, "dinamo label failed");
    rc = sh("scripts/cluster.sh kill %s evaluator USR1", rundir);
    for (int w = 0; w < 50 && sh("grep -q brien %s/report/labels.csv", rundir); w++)
        sleep_ms(200);
    rc = sh("scripts/cluster.sh stop %s >&2", rundir);
    cr_assert_eq(rc, 0, "unclean stop");
    check_metrics();
    check_flags_and_runs();
    check_scores();
    check_labels(who, reason);
    /* the flagged runs' figure sets, under the keys' file names */
    rc = sh("cd %s/report && n=$(ls runs/run_*/*_s.png 2>/dev/null | wc -l) && "
            "grep -q 'figures: [0-9]* sets wanted, [0-9]* drawn, 0 failed' ../logs/evaluator.log "
            "&& echo \"$n figure sets\" >&2 && [ $n -gt 0 ]", rundir);
    cr_assert_eq(rc, 0, "no figure set of a hostile key was drawn, or one failed");
}
