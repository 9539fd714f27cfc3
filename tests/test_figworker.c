/* test_figworker.c: the figure worker (lib/figworker.c) with the evaluator's
 * real helper (evaluator --figure-worker) and with shell stand-ins that fail,
 * hang or die: every job is reported once, in order, its file unlinked; a
 * hanging helper is killed at the timeout and the next job gets a fresh one;
 * polling never blocks. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "figworker.h"
#include "plot.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void)
{
    dn_test_tmpdir(dir, "figw");
}

static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(figworker, .init = setup, .fini = teardown, .timeout = 120);

typedef struct log_t {
    char job[16][256];
    int ok[16];
    char msg[16][256];
    int n;
} log_t;

static void on_done(const char *jobfile, int ok, const char *msg, void *arg)
{
    log_t *l = arg;
    cr_assert_lt(l->n, 16);
    snprintf(l->job[l->n], sizeof l->job[0], "%s", jobfile);
    snprintf(l->msg[l->n], sizeof l->msg[0], "%s", msg);
    l->ok[l->n++] = ok;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Polls until nothing is pending; fails after limit_ms. Returns the longest
 * single poll in ms (polls must not block). */
static int64_t drain(dn_figworker_t *w, int limit_ms)
{
    int64_t start = now_ms(), longest = 0;
    while (dn_figworker_pending(w) > 0) {
        dn_err_t err = {0};
        int64_t t0 = now_ms();
        dn_figworker_poll(w, &err);
        int64_t dt = now_ms() - t0;
        if (dt > longest)
            longest = dt;
        cr_assert_lt(now_ms() - start, limit_ms, "%d jobs still pending after %d ms",
                     dn_figworker_pending(w), limit_ms);
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return longest;
}

/* Writes a small job i; returns its path in job. */
static void make_job(int i, char *job, size_t cap)
{
    double edges[4] = {0, 1, 2, 3}, v[3] = {0.2, 0.5, 0.3}, u[3] = {0.01, 0.02, 0.01},
           p[3] = {1, -2, 0.5};
    int64_t run[4] = {10, 11, 12, 13};
    double score[4] = {-1, 0.2, 1.5, NAN};
    int8_t label[4] = {0, -1, 1, 0};
    char hb[128], yb[128];
    snprintf(hb, sizeof hb, "%s/h%d", dir, i);
    snprintf(yb, sizeof yb, "%s/y%d", dir, i);
    snprintf(job, cap, "%s/j%d.job", dir, i);
    dn_plot_job_t j = {hb, yb, {"job", 3, edges, v, u, v, u, p, 0, NULL}, "history", 4, 2, run,
                       score, label, 0.5, 1.0};
    dn_err_t err = {0};
    cr_assert_eq(dn_plot_job_save(job, &j, &err), 0, "%s", err.msg);
}

static int exists(const char *fmt, int i)
{
    char path[256];
    snprintf(path, sizeof path, fmt, dir, i);
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

Test(figworker, the_evaluator_helper_draws_every_job_in_order)
{
    const char *b = getenv("DINAMO_BUILD");
    char build[PATH_MAX], helper[PATH_MAX + 64];
    cr_assert_not_null(realpath(b ? b : "build", build));
    snprintf(helper, sizeof helper, "%s/services/evaluator", build);
    cr_assert_eq(access(helper, X_OK), 0, "no %s", helper);
    char *argv[] = {helper, "--figure-worker", NULL};
    log_t l = {0};
    dn_err_t err = {0};
    dn_figworker_t *w = dn_figworker_new(argv, 30000, on_done, &l, &err);
    cr_assert_not_null(w, "%s", err.msg);
    char jobs[4][256];
    for (int i = 0; i < 4; i++) {
        make_job(i, jobs[i], sizeof jobs[i]);
        cr_assert_eq(dn_figworker_submit(w, jobs[i], &err), 0, "%s", err.msg);
    }
    cr_assert_eq(dn_figworker_submit(w, "bad\nname", &err), DN_EINVAL);
    cr_assert_eq(dn_figworker_pending(w), 4);
    int64_t longest = drain(w, 60000);
    cr_assert_lt(longest, 50, "a poll blocked for %lld ms", (long long)longest);
    cr_assert_eq(l.n, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(l.job[i], jobs[i]);
        cr_assert(l.ok[i], "job %d: %s", i, l.msg[i]);
        cr_assert(exists("%s/h%d.png", i) && exists("%s/h%d.svg", i) &&
                  exists("%s/y%d.png", i) && exists("%s/y%d.svg", i), "job %d not drawn", i);
        cr_assert_neq(access(jobs[i], F_OK), 0, "job file %s left behind", jobs[i]);
    }
    dn_figworker_stats_t st = dn_figworker_stats(w);
    cr_assert_eq(st.drawn, 4);
    cr_assert_eq(st.helpers_started, 1, "%llu helpers for 4 jobs", st.helpers_started);
    /* A damaged job is reported with the helper's reason; the helper lives on. */
    char bad[256];
    snprintf(bad, sizeof bad, "%s/damaged.job", dir);
    FILE *f = fopen(bad, "w");
    fputs("not a job", f);
    fclose(f);
    cr_assert_eq(dn_figworker_submit(w, bad, &err), 0);
    drain(w, 30000);
    cr_assert_eq(l.n, 5);
    cr_assert_eq(l.ok[4], 0);
    cr_assert(strstr(l.msg[4], "not a figure job"), "%s", l.msg[4]);
    cr_assert_eq(dn_figworker_stats(w).helpers_started, 1);
    dn_figworker_destroy(&w);
    cr_assert_null(w);
    dn_figworker_destroy(&w);
}

Test(figworker, a_hanging_or_dying_helper_costs_one_job)
{
    /* Answers job 0 with a failure, hangs on the job named "hang", dies on "die",
     * draws nothing but says 0 for the rest. */
    char *argv[] = {"/bin/sh", "-c",
                    "while read l; do case $l in *hang*) sleep 30;; *die*) exit 3;; "
                    "*first*) echo '1 cannot draw this';; *) echo 0;; esac; done",
                    NULL};
    log_t l = {0};
    dn_err_t err = {0};
    dn_figworker_t *w = dn_figworker_new(argv, 300, on_done, &l, &err);
    cr_assert_not_null(w, "%s", err.msg);
    const char *names[] = {"first", "hang", "second", "die", "third"};
    char jobs[5][256];
    for (int i = 0; i < 5; i++) {
        snprintf(jobs[i], sizeof jobs[i], "%s/%s.job", dir, names[i]);
        FILE *f = fopen(jobs[i], "w");
        fclose(f);
        cr_assert_eq(dn_figworker_submit(w, jobs[i], &err), 0, "%s", err.msg);
    }
    int64_t longest = drain(w, 20000);
    cr_assert_lt(longest, 50, "a poll blocked for %lld ms", (long long)longest);
    cr_assert_eq(l.n, 5);
    int want_ok[5] = {0, 0, 1, 0, 1};
    for (int i = 0; i < 5; i++) {
        cr_assert_str_eq(l.job[i], jobs[i]);
        cr_assert_eq(l.ok[i], want_ok[i], "job %s: ok %d (%s)", names[i], l.ok[i], l.msg[i]);
        cr_assert_neq(access(jobs[i], F_OK), 0, "job file %s left behind", jobs[i]);
    }
    cr_assert_str_eq(l.msg[0], "cannot draw this");
    cr_assert(strstr(l.msg[1], "not drawn within 300 ms"), "%s", l.msg[1]);
    cr_assert(strstr(l.msg[3], "helper died"), "%s", l.msg[3]);
    dn_figworker_stats_t st = dn_figworker_stats(w);
    cr_assert_eq(st.timed_out, 1);
    cr_assert_eq(st.failed, 3);
    cr_assert_eq(st.drawn, 2);
    cr_assert_eq(st.helpers_started, 3, "%llu helpers", st.helpers_started);
    dn_figworker_destroy(&w);
}

Test(figworker, destroy_reports_the_jobs_not_drawn_and_a_missing_helper_is_an_error)
{
    char *argv[] = {"/bin/sh", "-c", "while read l; do sleep 30; done", NULL};
    log_t l = {0};
    dn_err_t err = {0};
    dn_figworker_t *w = dn_figworker_new(argv, 60000, on_done, &l, &err);
    cr_assert_not_null(w);
    char jobs[3][256];
    for (int i = 0; i < 3; i++) {
        snprintf(jobs[i], sizeof jobs[i], "%s/q%d.job", dir, i);
        FILE *f = fopen(jobs[i], "w");
        fclose(f);
        cr_assert_eq(dn_figworker_submit(w, jobs[i], &err), 0);
    }
    cr_assert_eq(dn_figworker_poll(w, &err), 0, "%s", err.msg);
    int64_t t0 = now_ms();
    dn_figworker_destroy(&w);
    cr_assert_lt(now_ms() - t0, 5000, "destroy waited for the hanging helper");
    cr_assert_eq(l.n, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(l.ok[i], 0);
        cr_assert(strstr(l.msg[i], "worker stopped"), "%s", l.msg[i]);
        cr_assert_neq(access(jobs[i], F_OK), 0);
    }
    char *missing[] = {"/nonexistent/helper", NULL};
    log_t m = {0};
    w = dn_figworker_new(missing, 1000, on_done, &m, &err);
    cr_assert_not_null(w);
    cr_assert_eq(dn_figworker_submit(w, jobs[0], &err), 0);
    cr_assert_eq(dn_figworker_poll(w, &err), DN_EIO);
    cr_assert(strstr(err.msg, "/nonexistent/helper"), "%s", err.msg);
    cr_assert_eq(m.n, 1);
    cr_assert_eq(m.ok[0], 0);
    dn_figworker_destroy(&w);
    char *relative[] = {"helper", NULL};
    cr_assert_null(dn_figworker_new(relative, 1000, NULL, NULL, &err));
    cr_assert_eq(err.code, DN_EINVAL);
}
