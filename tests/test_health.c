/* test_health.c: the heartbeat file (lib/io/health.h) and `dinamo health`.
 *
 *   - a heartbeat written is read back field for field, a detail with
 *     spaces, newlines and a fake "state=" included, and nothing is left
 *     beside it (no temporary file);
 *   - files that are not heartbeats (another magic, a field missing, a
 *     count that is not a number, an unknown state, a pid or tick beyond
 *     int64, a time that is not finite) are refused by name, a missing file
 *     is DN_ENOTFOUND;
 *   - the verdict: running and fresh is healthy; stale (default 30 s, five
 *     ticks for long ticks, or the age given), starting, stopped and failed
 *     (with its error) are not, each with its reason;
 *   - `dinamo health` prints that line and exits 0 or 1, says what is wrong
 *     with a missing or foreign file, and exits 2 on bad usage.
 * The service side (a node writing it every tick) is tested in test_node.c. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "health.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void) { dn_test_tmpdir(dir, "health"); }
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(health, .init = setup, .fini = teardown, .timeout = 30);

static dn_health_t sample(double time)
{
    dn_health_t h = {.service = "trainer", .state = DN_HEALTH_RUNNING, .time = time,
                     .started = time - 100.25, .pid = 4242, .tick_ms = 1000, .rounds = 812,
                     .in = 4410, .out = 7, .rejected = 1, .warnings = 2, .errors = 0,
                     .runs = 311, .total = 5000};
    return h;
}

static void write_text(const char *name, const char *text)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(health, a_heartbeat_reads_back_field_for_field)
{
    char path[160];
    snprintf(path, sizeof path, "%s/health", dir);
    dn_health_t h = sample(1718000000.125), back;
    h.state = DN_HEALTH_FAILED;
    snprintf(h.detail, sizeof h.detail, "store /x: begin read: no\nway state=running errors=0");
    dn_err_t err = {0};
    cr_assert_eq(dn_health_write(path, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_health_read(path, &back, &err), 0, "%s", err.msg);
    cr_assert_str_eq(back.service, "trainer");
    cr_assert_eq(back.state, DN_HEALTH_FAILED, "the detail's fake state= is not read");
    cr_assert_float_eq(back.time, 1718000000.125, 1e-6);
    cr_assert_float_eq(back.started, 1717999899.875, 1e-6);
    cr_assert_eq(back.pid, 4242);
    cr_assert_eq(back.tick_ms, 1000);
    cr_assert_eq(back.rounds, 812);
    cr_assert_eq(back.in, 4410);
    cr_assert_eq(back.out, 7);
    cr_assert_eq(back.rejected, 1);
    cr_assert_eq(back.warnings, 2);
    cr_assert_eq(back.errors, 0);
    cr_assert_eq(back.runs, 311);
    cr_assert_eq(back.total, 5000);
    cr_assert_str_eq(back.detail, "store /x: begin read: no way state=running errors=0");
    /* Rewritten in place: still one file, no temporary left. */
    h.rounds = 813;
    cr_assert_eq(dn_health_write(path, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_health_read(path, &back, &err), 0, "%s", err.msg);
    cr_assert_eq(back.rounds, 813);
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        files += e->d_name[0] != '.';
    closedir(d);
    cr_assert_eq(files, 1, "%d files beside the heartbeat's directory entry", files);
}

Test(health, what_is_not_a_heartbeat_is_refused_by_name)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"hello\n", "not a version 1 dinamo heartbeat"},
        {"dinamo-health 2 service=a state=running detail=\n", "not a version 1"},
        {"dinamo-health 1 service=a state=running time=1 started=1 pid=1 tick_ms=1000 "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 errors=1\n", "field detail missing"},
        {"dinamo-health 1 service=a state=running time=1 started=1 pid=1 tick_ms=1000 "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 detail=\n", "field errors missing"},
        {"dinamo-health 1 service=a state=running time=1 started=1 pid=1 tick_ms=1000 "
         "rounds=-1 in=1 out=1 rejected=1 warnings=1 errors=0 detail=\n", "field rounds"},
        {"dinamo-health 1 service=a state=running time=soon started=1 pid=1 tick_ms=1000 "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 errors=0 detail=\n", "field time"},
        {"dinamo-health 1 service=a state=dozing time=1 started=1 pid=1 tick_ms=1000 "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 errors=0 detail=\n",
         "field state is not starting"},
        /* found by fuzz/fuzz_health.c: a pid beyond int64 was cast from a double
         * (undefined behaviour), a time of 1e300 read but could not be written */
        {"dinamo-health 1 service=a state=running time=1 started=1 pid=1e300 tick_ms=1000 "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 errors=0 detail=\n", "field pid"},
        {"dinamo-health 1 service=a state=running time=1 started=1 pid=1 tick_ms=nan "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 errors=0 detail=\n", "field tick_ms"},
        {"dinamo-health 1 service=a state=running time=1e300 started=1 pid=1 tick_ms=1000 "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 errors=0 detail=\n", "field time"},
        {"dinamo-health 1 service=a state=running time=1 started=nan pid=1 tick_ms=1000 "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 errors=0 detail=\n", "field started"},
        /* the progress fields may be absent, but not malformed */
        {"dinamo-health 1 service=a state=running time=1 started=1 pid=1 tick_ms=1000 "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 errors=0 runs=-3 detail=\n", "field runs"},
        {"dinamo-health 1 service=a state=running time=1 started=1 pid=1 tick_ms=1000 "
         "rounds=1 in=1 out=1 rejected=1 warnings=1 errors=0 runs=3 total=x detail=\n",
         "field total"},
    };
    char path[160];
    snprintf(path, sizeof path, "%s/h", dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_text("h", cases[i].text);
        dn_health_t h;
        dn_err_t err = {0};
        cr_assert_eq(dn_health_read(path, &h, &err), DN_EFORMAT, "case %zu", i);
        cr_assert(strstr(err.msg, cases[i].want) && strstr(err.msg, path),
                  "case %zu: '%s' does not say '%s' and the path", i, err.msg, cases[i].want);
    }
    /* A heartbeat of a build before the progress fields reads with 0 runs. */
    write_text("h", "dinamo-health 1 service=a state=running time=1 started=1 pid=1 "
                    "tick_ms=1000 rounds=1 in=1 out=1 rejected=1 warnings=1 errors=0 "
                    "detail=runs=9 total=9\n");
    dn_health_t h;
    dn_err_t err = {0};
    cr_assert_eq(dn_health_read(path, &h, &err), 0, "%s", err.msg);
    cr_assert(h.runs == 0 && h.total == 0, "runs %llu total %llu read from the detail",
              (unsigned long long)h.runs, (unsigned long long)h.total);
    snprintf(path, sizeof path, "%s/none", dir);
    cr_assert_eq(dn_health_read(path, &h, &err), DN_ENOTFOUND);
}

Test(health, the_verdict_says_why)
{
    char line[1024];
    dn_health_t h = sample(1000.0);
    cr_assert_eq(dn_health_judge(&h, 1000.4, 0, line, sizeof line), 0, "%s", line);
    cr_assert(strstr(line, "trainer: ok: heartbeat 0.4 s old (pid 4242, 812 rounds, 4410 in"),
              "%s", line);
    cr_assert_eq(dn_health_judge(&h, 1030.0, 0, line, sizeof line), 0, "30 s is the default");
    cr_assert_eq(dn_health_judge(&h, 1030.5, 0, line, sizeof line), 1);
    cr_assert(strstr(line, "trainer: stale: heartbeat 30.5 s old, want at most 30 s"), "%s",
              line);
    cr_assert_eq(dn_health_judge(&h, 1005.0, 4, line, sizeof line), 1, "a max age given");
    h.tick_ms = 10000; /* long ticks: five of them */
    cr_assert_eq(dn_health_judge(&h, 1049.0, 0, line, sizeof line), 0, "%s", line);
    cr_assert_eq(dn_health_judge(&h, 1051.0, 0, line, sizeof line), 1, "%s", line);
    h.state = DN_HEALTH_STARTING;
    cr_assert_eq(dn_health_judge(&h, 1000.0, 0, line, sizeof line), 1);
    cr_assert(strstr(line, "trainer: starting since 100.2 s"), "%s", line);
    h.state = DN_HEALTH_STOPPED;
    cr_assert_eq(dn_health_judge(&h, 1000.0, 0, line, sizeof line), 1);
    cr_assert(strstr(line, "trainer: stopped at 1970-01-01T00:16:40Z"), "%s", line);
    h.state = DN_HEALTH_FAILED;
    snprintf(h.detail, sizeof h.detail, "registry: no answer");
    cr_assert_eq(dn_health_judge(&h, 1000.0, 0, line, sizeof line), 1);
    cr_assert(strstr(line, "trainer: failed at 1970-01-01T00:16:40Z (pid 4242): registry: no "
                           "answer"), "%s", line);
}

/* ---- dinamo health ------------------------------------------------------------ */

/* Runs `dinamo health ARGS` (the binary beside the suites), its stdout into
 * out. Returns the exit status. */
static int run_health(const char *args, char *out, size_t cap)
{
    const char *b = getenv("DINAMO_BUILD");
    char cmd[1024], of[160];
    snprintf(of, sizeof of, "%s/stdout.txt", dir);
    snprintf(cmd, sizeof cmd, "'%s/dinamo' health %s >'%s' 2>&1", b ? b : "build", args, of);
    int st = system(cmd);
    FILE *f = fopen(of, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(health, the_command_exits_0_or_1_with_one_line)
{
    char path[160], args[400], out[2048];
    snprintf(path, sizeof path, "%s/trainer", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/trainer/health", dir);
    dn_health_t h = sample(dn_clock_wall());
    dn_err_t err = {0};
    cr_assert_eq(dn_health_write(path, &h, &err), 0, "%s", err.msg);
    snprintf(args, sizeof args, "--data-dir '%s' --service trainer", dir);
    cr_assert_eq(run_health(args, out, sizeof out), 0, "%s", out);
    cr_assert(!strncmp(out, "trainer: ok: heartbeat ", 23) && strchr(out, '\n') ==
              out + strlen(out) - 1, "one line: %s", out);
    snprintf(args, sizeof args, "--file '%s'", path);
    cr_assert_eq(run_health(args, out, sizeof out), 0, "%s", out);

    h.time -= 60;
    cr_assert_eq(dn_health_write(path, &h, &err), 0, "%s", err.msg);
    snprintf(args, sizeof args, "--data-dir '%s' --service trainer", dir);
    cr_assert_eq(run_health(args, out, sizeof out), 1, "%s", out);
    double age = 0;
    cr_assert(sscanf(out, "trainer: stale: heartbeat %lf s old", &age) == 1 && age >= 60, "%s",
              out);
    snprintf(args, sizeof args, "--data-dir '%s' --service trainer --max-age 90", dir);
    cr_assert_eq(run_health(args, out, sizeof out), 0, "%s", out);

    snprintf(args, sizeof args, "--data-dir '%s' --service scorer_ml", dir);
    cr_assert_eq(run_health(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "scorer_ml: no heartbeat at ") && strstr(out, "/scorer_ml/health"),
              "%s", out);
    write_text("trainer/health", "garbage\n");
    snprintf(args, sizeof args, "--data-dir '%s' --service trainer", dir);
    cr_assert_eq(run_health(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "not a version 1 dinamo heartbeat"), "%s", out);

    cr_assert_eq(run_health("", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run_health("--service a --file b", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run_health("--service a --max-age 0", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run_health("--help", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "usage: dinamo health"), "%s", out);
}
