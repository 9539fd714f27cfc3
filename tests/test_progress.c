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
 *     after a restart gives 0, never negative; the time left from it;
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
    cr_assert(s.services == 0 && progress_done(&s) == PROGRESS_ABSENT,
              "an empty cluster: %d services, done %lld", s.services,
              (long long)progress_done(&s));

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
    cr_assert_eq(s.published, 1300);
    cr_assert_eq(s.scored_s, 1234);
    cr_assert_eq(s.scored_ml, PROGRESS_ABSENT, "a torn heartbeat read as %lld",
                 (long long)s.scored_ml);
    cr_assert_eq(s.trained, 1228, "trained %lld: want the slowest trainer with keys",
                 (long long)s.trained);
    cr_assert_eq(s.total, 5000);
    cr_assert_eq(s.services, 6);
    cr_assert_eq(s.running, 5);
    cr_assert_float_eq(s.started, 1718000005, 1e-6);
    cr_assert_str_eq(s.failed, "");
    cr_assert_eq(progress_done(&s), 1228);

    beat(root, "scorer_ml", "scorer_ml", DN_HEALTH_FAILED, 1100, 0, 1718000012);
    cr_assert_eq(progress_read_dir(dir, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.scored_ml, 1100);
    cr_assert_str_eq(s.failed, "scorer_ml");
    cr_assert_eq(progress_done(&s), 1100);

    /* Trainers that own nothing yet: the stage is there, at 0. */
    beat(root, "trainer.0/trainer", "trainer", DN_HEALTH_RUNNING, 0, 0, 1718000012);
    beat(root, "trainer.1/trainer", "trainer", DN_HEALTH_RUNNING, 0, 0, 1718000012);
    cr_assert_eq(progress_read_dir(dir, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.trained, 0);

    /* A plain data_dir (no data/ inside) reads the same way. */
    cr_assert_eq(progress_read_dir(root, &s, &err), 0, "%s", err.msg);
    cr_assert(s.services == 7 && s.published == 1300, "%d services, published %lld",
              s.services, (long long)s.published);

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

Test(progress, the_time_left_follows_the_rate)
{
    cr_assert(fabs(progress_left(5000, 1000, 40.0) - 100.0) < 1e-9);
    cr_assert_eq(progress_left(5000, 5000, NAN), 0.0);
    cr_assert_eq(progress_left(5000, 6000, 3.0), 0.0);
    cr_assert(isnan(progress_left(0, 1000, 40.0)), "no total");
    cr_assert(isnan(progress_left(5000, 1000, 0.0)), "stalled");
    cr_assert(isnan(progress_left(5000, 1000, NAN)), "no rate yet");
    cr_assert(isnan(progress_left(5000, PROGRESS_ABSENT, 3.0)), "no stage");
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

    progress_snap_t s = {.published = 1300, .scored_s = 1234, .scored_ml = 1230,
                         .trained = 1228, .total = 5000, .services = 7, .running = 7};
    char line[512];
    progress_format(&s, 41.23, 92, 125, line, sizeof line);
    cr_assert_str_eq(line, "runs 1228/5000: published 1300, S 1234, ML 1230, trained 1228 | "
                           "41.2 runs/s | 1m32s left | 2m05s elapsed");
    s.scored_ml = s.trained = PROGRESS_ABSENT;
    s.total = 0;
    snprintf(s.failed, sizeof s.failed, "scorer_s");
    progress_format(&s, NAN, NAN, 3, line, sizeof line);
    cr_assert_str_eq(line, "runs 1234: published 1300, S 1234, ML -, trained - | ? runs/s | "
                           "? left | 3s elapsed | FAILED: scorer_s");
    progress_format(&s, NAN, NAN, 3, line, 10);
    cr_assert_str_eq(line, "runs 1234");
    s = (progress_snap_t){.published = PROGRESS_ABSENT};
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
    cr_assert(!strncmp(out, "progress: runs 300/400: published 300, S 300, ML -, trained - | ",
                       64) &&
              strchr(out, '\n') == out + strlen(out) - 1 && !strchr(out, '\r'),
              "one plain line: %s", out);
    cr_assert_eq(run_progress("--once", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run_progress("--dir x --interval 0", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run_progress("--help", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "usage: dinamo progress"), "%s", out);
}
