/* test_progress.c: the progress display of `make run` (tools/progress.h,
 * `dinamo progress`).
 *
 *   - a fake run directory's heartbeats are summed up per stage: the
 *     generator's total and published runs, each scorer's, the slowest
 *     trainer that owns keys (one at 0 does not hold the stage), a stage
 *     without heartbeat absent, a half-written heartbeat skipped, a failed
 *     service named; cluster.sh's RUNDIR (data/NAME/SERVICE/health) and a
 *     plain data_dir (SERVICE/health) both work;
 *   - the rate over the last 10 s from looks at injected times, the old
 *     looks dropped, too little time is "unknown", a stage counting again
 *     after a restart gives 0, never negative; the time left: the stage
 *     with the most time left at its own rate, a stage standing still (S
 *     before alpha is tuned) saying nothing, done stages 0, no total none;
 *   - durations and the line, as `make run` shows them;
 *   - `dinamo progress --once` prints that line from a run directory and
 *     exits 0 (2 on bad usage). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "health.h"
#include "progress.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void) { dn_test_tmpdir(dir, "progress"); }
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(progress, .init = setup, .fini = teardown, .timeout = 30);

/* Writes the heartbeat of service `service` at ROOT/NAME/health (NAME may
 * be "trainer.0/trainer": cluster.sh's layout). */
static void beat(const char *root, const char *name, const char *service, dn_health_state_t state,
                 uint64_t runs, uint64_t total, double started)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, name);
    for (char *p = path + strlen(root) + 1;; p++)
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            mkdir(path, 0755);
            if (!(*p = c))
                break;
        }
    snprintf(path, sizeof path, "%s/%s/health", root, name);
    dn_health_t h = {.state = state, .time = 1718000000, .started = started, .pid = 1,
                     .tick_ms = 500, .runs = runs, .total = total};
    snprintf(h.service, sizeof h.service, "%s", service);
    dn_err_t err = {0};
    cr_assert_eq(dn_health_write(path, &h, &err), 0, "%s", err.msg);
}

Test(progress, a_run_directory_is_summed_up_per_stage)
{
    char root[256], path[512];
    snprintf(root, sizeof root, "%s/data", dir);
    cr_assert_eq(mkdir(root, 0755), 0);
    progress_snap_t s;
    dn_err_t err = {0};
    cr_assert_eq(progress_read_dir(dir, &s, &err), 0, "%s", err.msg);
    cr_assert(s.services == 0 && s.count[PROGRESS_PUBLISHED] == PROGRESS_ABSENT &&
              s.count[PROGRESS_TRAINED] == PROGRESS_ABSENT, "an empty cluster: %d services",
              s.services);

    /* cluster.sh's layout (data/NAME/SERVICE/health) and a data_dir's
     * (data/SERVICE/health) side by side */
    beat(root, "generator/generator", "generator", DN_HEALTH_RUNNING, 1300, 5000, 1718000010);
    beat(root, "scorer_s", "scorer_s", DN_HEALTH_RUNNING, 1234, 0, 1718000005);
    beat(root, "trainer.0/trainer", "trainer", DN_HEALTH_RUNNING, 1228, 0, 1718000012);
    beat(root, "trainer.1/trainer", "trainer", DN_HEALTH_RUNNING, 1240, 0, 1718000012);
    beat(root, "trainer.2/trainer", "trainer", DN_HEALTH_RUNNING, 0, 0, 1718000012); /* no key */
    beat(root, "registry/registry", "registry", DN_HEALTH_STOPPED, 0, 0, 1718000011);
    /* a directory without heartbeat (not started) and a torn one: skipped */
    snprintf(path, sizeof path, "%s/evaluator", root);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/scorer_ml", root);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/scorer_ml/health", root);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("dinamo-health 1 service=scorer_ml state=run", f);
    fclose(f);

    cr_assert_eq(progress_read_dir(dir, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.count[PROGRESS_PUBLISHED], 1300);
    cr_assert_eq(s.count[PROGRESS_S], 1234);
    cr_assert_eq(s.count[PROGRESS_ML], PROGRESS_ABSENT, "a torn heartbeat read as %lld",
                 (long long)s.count[PROGRESS_ML]);
    cr_assert_eq(s.count[PROGRESS_TRAINED], 1228, "trained %lld: want the slowest trainer with keys",
                 (long long)s.count[PROGRESS_TRAINED]);
    cr_assert_eq(s.total, 5000);
    cr_assert_eq(s.services, 6);
    cr_assert_eq(s.running, 5);
    cr_assert_float_eq(s.started, 1718000005, 1e-6);
    cr_assert_str_eq(s.failed, "");

    beat(root, "scorer_ml", "scorer_ml", DN_HEALTH_FAILED, 1100, 0, 1718000012);
    cr_assert_eq(progress_read_dir(dir, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.count[PROGRESS_ML], 1100);
    cr_assert_str_eq(s.failed, "scorer_ml");

    /* Trainers that own nothing yet: the stage is there, at 0. */
    beat(root, "trainer.0/trainer", "trainer", DN_HEALTH_RUNNING, 0, 0, 1718000012);
    beat(root, "trainer.1/trainer", "trainer", DN_HEALTH_RUNNING, 0, 0, 1718000012);
    cr_assert_eq(progress_read_dir(dir, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.count[PROGRESS_TRAINED], 0);

    /* A plain data_dir (no data/ inside) reads the same way. */
    cr_assert_eq(progress_read_dir(root, &s, &err), 0, "%s", err.msg);
    cr_assert(s.services == 7 && s.count[PROGRESS_PUBLISHED] == 1300, "%d services, published %lld",
              s.services, (long long)s.count[PROGRESS_PUBLISHED]);

    snprintf(path, sizeof path, "%s/none", dir);
    cr_assert_eq(progress_read_dir(path, &s, &err), DN_ENOTFOUND);
    cr_assert(strstr(err.msg, path), "'%s' does not name %s", err.msg, path);
}

Test(progress, the_rate_is_over_the_last_ten_seconds)
{
    progress_rate_t r;
    progress_rate_init(&r, 10.0);
    cr_assert(isnan(progress_rate(&r)));
    progress_rate_add(&r, 100.0, 0);
    progress_rate_add(&r, 100.5, 5);
    cr_assert(isnan(progress_rate(&r)), "half a second apart: %g", progress_rate(&r));
    /* 20 runs/s for 10 s, then 5 runs/s: after 10 s more only the slow
     * part is in the window. */
    for (int t = 1; t <= 10; t++)
        progress_rate_add(&r, 100.0 + t, 20 * t);
    cr_assert(fabs(progress_rate(&r) - 20.0) < 1e-9, "rate %.12g, want 20", progress_rate(&r));
    for (int t = 1; t <= 10; t++)
        progress_rate_add(&r, 110.0 + t, 200 + 5 * t);
    cr_assert(fabs(progress_rate(&r) - 5.0) < 1e-9, "rate %.12g, want 5", progress_rate(&r));
    /* Looks out of order or absent change nothing. */
    progress_rate_add(&r, 115.0, 99999);
    progress_rate_add(&r, 121.0, PROGRESS_ABSENT);
    cr_assert(fabs(progress_rate(&r) - 5.0) < 1e-9, "rate %.12g, want 5", progress_rate(&r));
    /* A stage restarted from its checkpoint counts from lower down: 0, not
     * negative. */
    progress_rate_add(&r, 125.0, 100);
    cr_assert(progress_rate(&r) == 0.0, "rate %.12g after a restart", progress_rate(&r));
    /* Many looks at a high frequency: the ring keeps the newest. */
    progress_rate_init(&r, 10.0);
    for (int i = 0; i <= 1000; i++)
        progress_rate_add(&r, 0.01 * i, 3 * i);
    cr_assert(fabs(progress_rate(&r) - 300.0) < 1e-6, "rate %.12g, want 300",
              progress_rate(&r));
}

/* Stage i ran at speed[i] runs/s from 0 s to 10 s, reaching count[i]. */
static void ran(progress_rate_t *rates, const progress_snap_t *s, const double *speed)
{
    for (int i = 0; i < PROGRESS_STAGES; i++) {
        progress_rate_init(&rates[i], 10.0);
        if (s->count[i] == PROGRESS_ABSENT)
            continue;
        for (int t = 0; t <= 10; t++)
            progress_rate_add(&rates[i], 1000.0 + t,
                              s->count[i] - (int64_t)llround(speed[i] * (10 - t)));
    }
}

Test(progress, the_time_left_is_the_slowest_moving_stage)
{
    progress_rate_t rates[PROGRESS_STAGES];
    double rate, left;
    /* Published far ahead and fast; ML slower than the trainer but ahead:
     * ML's 4000 runs at 10 runs/s is the longest. */
    progress_snap_t s = progress_snap_empty();
    s.total = 5000;
    s.services = 5;
    const int64_t c1[] = {2000, 1100, 1000, 990};
    const double v1[] = {50, 12, 10, 11};
    memcpy(s.count, c1, sizeof c1);
    ran(rates, &s, v1);
    progress_estimate(&s, rates, &rate, &left);
    cr_assert(fabs(rate - 10.0) < 1e-9 && fabs(left - 400.0) < 1e-6,
              "rate %.9g left %.9g: want ML's 10 runs/s and 400 s", rate, left);
    /* DINAMO-S holding its first runs until alpha is tuned (0 runs/s): it
     * says nothing yet; the others decide. */
    const int64_t c2[] = {800, 0, 600, 590};
    const double v2[] = {20, 0, 8, 8};
    memcpy(s.count, c2, sizeof c2);
    ran(rates, &s, v2);
    progress_estimate(&s, rates, &rate, &left);
    cr_assert(fabs(rate - 8.0) < 1e-9 && fabs(left - (5000 - 590) / 8.0) < 1e-6,
              "rate %.9g left %.9g: want the trainer's", rate, left);
    /* Only the generator done and nothing else moving: unknown. */
    const int64_t c3[] = {5000, 0, 0, 0};
    const double v3[] = {0, 0, 0, 0};
    memcpy(s.count, c3, sizeof c3);
    ran(rates, &s, v3);
    progress_estimate(&s, rates, &rate, &left);
    cr_assert(isnan(left) && rate == 0.0, "rate %.9g left %.9g: want 0 and unknown", rate, left);
    /* Every present stage done (a --methods s cluster: no ML, no trainer). */
    const int64_t c4[] = {5000, 5000, PROGRESS_ABSENT, PROGRESS_ABSENT};
    memcpy(s.count, c4, sizeof c4);
    ran(rates, &s, v1);
    progress_estimate(&s, rates, &rate, &left);
    cr_assert(left == 0.0, "left %.9g: want 0", left);
    /* No total (a feed): the bottleneck's rate, no time left. */
    s.total = 0;
    memcpy(s.count, c1, sizeof c1);
    ran(rates, &s, v1);
    progress_estimate(&s, rates, &rate, &left);
    cr_assert(isnan(left) && fabs(rate - 10.0) < 1e-9, "rate %.9g left %.9g", rate, left);
    /* Nothing read yet. */
    s = progress_snap_empty();
    ran(rates, &s, v1);
    progress_estimate(&s, rates, &rate, &left);
    cr_assert(isnan(left) && isnan(rate), "rate %.9g left %.9g", rate, left);
}

Test(progress, durations_and_the_line)
{
    static const struct {
        double s;
        const char *want;
    } cases[] = {{0, "0s"},       {12.4, "12s"},     {59.6, "1m00s"}, {185, "3m05s"},
                 {3720, "1h02m"}, {NAN, "?"},        {-1, "?"},       {INFINITY, "?"}};
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        progress_duration(cases[i].s, buf, sizeof buf);
        cr_assert_str_eq(buf, cases[i].want, "%g s", cases[i].s);
    }

    progress_snap_t s = {.count = {1300, 1234, 1230, 1228}, .total = 5000, .services = 7,
                         .running = 7};
    char line[512];
    progress_format(&s, 41.23, 92, 125, line, sizeof line);
    cr_assert_str_eq(line, "published 1300/5000, S 1234, ML 1230, trained 1228 | 41.2 runs/s | "
                           "1m32s left | 2m05s elapsed");
    s.count[PROGRESS_ML] = s.count[PROGRESS_TRAINED] = PROGRESS_ABSENT;
    s.total = 0;
    snprintf(s.failed, sizeof s.failed, "scorer_s");
    progress_format(&s, NAN, NAN, 3, line, sizeof line);
    cr_assert_str_eq(line, "published 1300, S 1234, ML -, trained - | ? runs/s | ? left | 3s "
                           "elapsed | FAILED: scorer_s");
    progress_format(&s, NAN, NAN, 3, line, 15);
    cr_assert_str_eq(line, "published 1300");
    s = progress_snap_empty();
    progress_format(&s, NAN, NAN, NAN, line, sizeof line);
    cr_assert_str_eq(line, "waiting for the services");
}

/* Runs `dinamo progress ARGS` (the binary beside the suites, stdout not a
 * terminal), its output into out. Returns the exit status. */
static int run_progress(const char *args, char *out, size_t cap)
{
    const char *b = getenv("DINAMO_BUILD");
    char cmd[1024], of[160];
    snprintf(of, sizeof of, "%s/stdout.txt", dir);
    snprintf(cmd, sizeof cmd, "'%s/dinamo' progress %s >'%s' 2>&1", b ? b : "build", args, of);
    int st = system(cmd);
    FILE *f = fopen(of, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(progress, the_command_prints_one_plain_line_off_a_terminal)
{
    char root[256], args[400], out[2048];
    snprintf(root, sizeof root, "%s/data", dir);
    cr_assert_eq(mkdir(root, 0755), 0);
    beat(root, "generator/generator", "generator", DN_HEALTH_RUNNING, 300, 300, 1718000000);
    beat(root, "scorer_s/scorer_s", "scorer_s", DN_HEALTH_STOPPED, 300, 0, 1718000000);
    snprintf(args, sizeof args, "--dir '%s' --once --total 400", dir);
    cr_assert_eq(run_progress(args, out, sizeof out), 0, "%s", out);
    const char *want = "progress: published 300/400, S 300, ML -, trained - | ";
    cr_assert(!strncmp(out, want, strlen(want)) &&
              strchr(out, '\n') == out + strlen(out) - 1 && !strchr(out, '\r'),
              "one plain line: %s", out);
    cr_assert_eq(run_progress("--once", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run_progress("--dir x --interval 0", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run_progress("--help", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "usage: dinamo progress"), "%s", out);
}
