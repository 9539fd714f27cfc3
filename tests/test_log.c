/* test_log.c: the rate limit of log records about rejected input (log.h):
 * a flood of 100k records writes a bounded number of lines, and the written
 * lines plus the counts of the summaries account for every record exactly;
 * a flood that stopped is summarised at the flush; the window reopens. The
 * plain records are tested in test_config.c. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "service.h"

static int out_fd = -1;

/* Records go to a temporary file until collect(). */
static void capture(void)
{
    char tmpl[] = "/tmp/dn_log_XXXXXX";
    out_fd = mkstemp(tmpl);
    cr_assert_geq(out_fd, 0);
    unlink(tmpl);
    dn_log_set_fd(out_fd);
}

static char *collect(void)
{
    dn_log_set_fd(2);
    off_t n = lseek(out_fd, 0, SEEK_END);
    char *out = calloc((size_t)n + 1, 1);
    cr_assert_not_null(out);
    cr_assert_eq(pread(out_fd, out, (size_t)n, 0), n);
    close(out_fd);
    return out;
}

/* Lines of out: *plain those containing `plain`, *summaries the summary
 * lines, *suppressed the sum of their counts. */
static void count_lines(const char *out, const char *plain, int *lines, int *plain_n,
                        int *summaries, uint64_t *suppressed)
{
    *lines = *plain_n = *summaries = 0;
    *suppressed = 0;
    for (const char *p = out; *p;) {
        const char *end = strchr(p, '\n');
        cr_assert_not_null(end, "unterminated record: %s", p);
        char line[DN_LOG_LINE_MAX + 1];
        snprintf(line, sizeof line, "%.*s", (int)(end - p), p);
        (*lines)++;
        const char *s = strstr(line, " similar message");
        if (s) {
            const char *num = s;
            while (num > line && num[-1] >= '0' && num[-1] <= '9')
                num--;
            cr_assert(num < s, "summary without a count: %s", line);
            *suppressed += strtoull(num, NULL, 10);
            (*summaries)++;
            cr_assert(strstr(line, "suppressed in the last") && strstr(line, "(first: "),
                      "summary: %s", line);
        } else if (strstr(line, plain)) {
            (*plain_n)++;
        }
        p = end + 1;
    }
}

static dn_log_limit_t flood_limit = {.per_s = 10};

Test(log, a_flood_of_100k_rejects_writes_a_bounded_number_of_lines_and_counts_the_rest)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_log_init("feed", "info", &err), 0);
    capture();
    double t0 = dn_clock_mono();
    for (int i = 0; i < 100000; i++)
        dn_log_limited(&flood_limit, DN_LOG_WARN, "rejected message: topic 'x': cannot parse "
                       "envelope of %d bytes", 27 + i % 5);
    double elapsed = dn_clock_mono() - t0;
    int flushed = dn_log_limits_flush(1);
    char *out = collect();
    int lines, plain, summaries;
    uint64_t suppressed;
    count_lines(out, "rejected message: topic 'x'", &lines, &plain, &summaries, &suppressed);
    /* Every record is a line or counted in a summary, exactly. */
    cr_assert_eq(plain + suppressed, 100000u, "%d written + %" PRIu64 " suppressed != 100000",
                 plain, suppressed);
    cr_assert_eq(flood_limit.suppressed_total, suppressed);
    cr_assert_eq(flushed, 1, "the last window's summary comes from the flush");
    /* At most 10 lines per window, one summary per window. */
    int windows = (int)elapsed + 2;
    cr_assert_leq(plain, 10 * windows, "%d lines in %.2f s", plain, elapsed);
    cr_assert_geq(plain, 10);
    cr_assert_leq(summaries, windows, "%d summaries in %.2f s", summaries, elapsed);
    cr_assert_eq(lines, plain + summaries, "%s", out);
    size_t bytes = strlen(out);
    cr_assert_lt(bytes, (size_t)(200 * (plain + summaries) + 1), "%zu bytes", bytes);
    /* The WARN count of the heartbeat still counts every record asked for. */
    cr_assert_geq(dn_log_count(DN_LOG_WARN), 100000u);
    free(out);
}

static dn_log_limit_t window_limit = {.per_s = 3};

Test(log, the_summary_comes_when_the_window_reopens_or_at_the_flush)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_log_init("registry", "info", &err), 0);
    capture();
    for (int i = 0; i < 8; i++)
        dn_log_limited(&window_limit, DN_LOG_WARN, "refused %d", i);
    /* The window is not over: nothing to flush yet. */
    cr_assert_eq(dn_log_limits_flush(0), 0);
    usleep(1100 * 1000);
    dn_log_limited(&window_limit, DN_LOG_WARN, "refused %d", 8);
    dn_log_limited(&window_limit, DN_LOG_WARN, "refused %d", 9);
    char *out = collect();
    const char *want[] = {"refused 0", "refused 1", "refused 2",
                          "5 similar messages suppressed in the last 1.",
                          "(first: refused 3)", "refused 8", "refused 9"};
    const char *at = out;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *hit = strstr(at, want[i]);
        cr_assert_not_null(hit, "'%s' missing or out of order in:\n%s", want[i], out);
        at = hit;
    }
    cr_assert_null(strstr(out, "refused 4"), "%s", out);
    cr_assert_eq(dn_log_limits_flush(1), 0, "nothing suppressed in the new window");
    free(out);
}

static dn_log_limit_t quiet_limit = {.per_s = 1};

Test(log, records_below_the_threshold_are_neither_written_nor_counted_as_suppressed)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_log_init("scorer_ml", "warn", &err), 0);
    capture();
    for (int i = 0; i < 1000; i++)
        dn_log_limited(&quiet_limit, DN_LOG_INFO, "hidden %d", i);
    cr_assert_eq(dn_log_limits_flush(1), 0);
    char *out = collect();
    cr_assert_str_empty(out);
    cr_assert_eq(quiet_limit.suppressed_total, 0u);
    free(out);
}

static void site(int i)
{
    DN_LOG_LIMITED(DN_LOG_ERROR, "site record %d", i);
}

Test(log, each_call_site_has_a_limit_of_its_own)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_log_init("node", "info", &err), 0);
    capture();
    for (int i = 0; i < 50; i++) {
        site(i);
        dn_log(DN_LOG_WARN, "plain %d", i); /* not limited */
    }
    dn_log_limits_flush(1);
    char *out = collect();
    int lines, plain, summaries;
    uint64_t suppressed;
    count_lines(out, "site record", &lines, &plain, &summaries, &suppressed);
    cr_assert_eq(plain, DN_LOG_LIMIT_PER_S, "%s", out);
    cr_assert_eq(summaries, 1, "%s", out);
    cr_assert_eq(suppressed, 50u - DN_LOG_LIMIT_PER_S);
    cr_assert_eq(lines - plain - summaries, 50, "every unlimited record written: %s", out);
    cr_assert_not_null(strstr(out, "ERROR 40 similar messages suppressed"), "%s", out);
    free(out);
}

/* ---- through the service loop ------------------------------------------- */

#define FLOOD 100000

static const uint8_t wedge[27] = {0x0a, 0x01, 0x78, 0x18, 0x00, 0x5a, 0x14, 0x10, 0x25,
                                  0x18, 0x25, 0x20, 0x01, 0x28, 0x02, 0x32, 0x07, 0x6d,
                                  0x61, 0x6c, 0x6c, 0x6f, 0x72, 0x79, 0x80, 0x00, 0x00};

typedef struct flood_t {
    void *ctx;
    int sent;
} flood_t;

/* Issue 17's flood: FLOOD garbage messages to the service's PULL, issue 17's
 * 27-byte label in the middle, then one valid run that ends the test. */
static void *flood_thread(void *arg)
{
    flood_t *f = arg;
    dn_err_t err = {0};
    dn_sock_opts_t po = {.producer = "feeder"};
    dn_sock_t *push = dn_sock_new(f->ctx, ZMQ_PUSH, "connect:inproc://flood", &po, &err);
    if (!push)
        return NULL;
    uint8_t junk[16];
    for (int i = 0; i < FLOOD; i++) {
        for (size_t j = 0; j < sizeof junk; j++)
            junk[j] = (uint8_t)(0xff - (i + (int)j) % 7);
        if (i == FLOOD / 2 && dn_sock_send_raw(push, NULL, wedge, sizeof wedge, -1, &err) == 0)
            f->sent++;
        if (dn_sock_send_raw(push, "run/x", junk, 1 + (size_t)(i % 15), -1, &err) == 0)
            f->sent++;
    }
    Dinamo__Histogram h = DINAMO__HISTOGRAM__INIT, *hp = &h;
    double counts[3] = {1, 2, 3};
    h.key = (char *)"h0";
    h.n_counts = 3;
    h.counts = counts;
    Dinamo__Run r = DINAMO__RUN__INIT;
    r.has_run_number = r.has_run_seq = 1;
    r.n_histograms = 1;
    r.histograms = &hp;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    env.run = &r;
    dn_sock_send(push, &env, -1, &err);
    dn_sock_destroy(&push);
    return NULL;
}

static int stop_on_run(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                       const dn_recv_info_t *info, void *arg)
{
    (void)sock, (void)env, (void)info, (void)arg;
    dn_service_stop(svc);
    return 0;
}

/* 100k garbage messages through a service's loop: the rejected-message
 * records are bounded, the written ones plus the summaries' counts are
 * exactly the messages refused, and the one refusal of another kind in the
 * middle (an unknown field) is written, not lost in the flood's summary. */
Test(log, a_service_flooded_with_100k_garbage_messages_logs_a_bounded_account_of_them)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_log_init("generator", "info", &err), 0);
    void *ctx = zmq_ctx_new();
    dn_sock_t *pull = dn_sock_new(ctx, ZMQ_PULL, "bind:inproc://flood", NULL, &err);
    cr_assert_not_null(pull, "%s", err.msg);
    dn_service_t *svc = dn_service_new("generator", &err);
    cr_assert_not_null(svc, "%s", err.msg);
    cr_assert_eq(dn_service_add_socket(svc, pull, stop_on_run, NULL), 0);
    capture();
    flood_t f = {ctx, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, flood_thread, &f), 0);
    double t0 = dn_clock_mono();
    int rc = dn_service_run(svc, &err);
    double elapsed = dn_clock_mono() - t0;
    pthread_join(th, NULL);
    char *out = collect();
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(f.sent, FLOOD + 1);
    dn_service_stats_t st = dn_service_stats(svc);
    cr_assert_eq(st.rejected, (uint64_t)FLOOD + 1);
    int lines, plain, summaries;
    uint64_t suppressed;
    count_lines(out, "rejected message", &lines, &plain, &summaries, &suppressed);
    cr_assert_eq(plain + suppressed, (uint64_t)FLOOD + 1,
                 "%d written + %" PRIu64 " suppressed, want %d refusals accounted for", plain,
                 suppressed, FLOOD + 1);
    int windows = (int)elapsed + 2;
    cr_assert_leq(plain, 2 * DN_LOG_LIMIT_PER_S * windows, "%d lines in %.2f s", plain,
                  elapsed);
    cr_assert_not_null(strstr(out, "unknown field"), "the wedge's refusal is not in:\n%s", out);
    size_t bytes = strlen(out);
    cr_assert_lt(bytes, (size_t)64 * 1024, "%zu bytes of log for %d refusals (%.1f s)", bytes,
                 FLOOD + 1, elapsed);
    fprintf(stderr, "%d refusals in %.2f s: %d lines, %zu bytes of log (%d written, %d "
            "summaries)\n", FLOOD + 1, elapsed, lines, bytes, plain, summaries);
    free(out);
    dn_service_destroy(&svc);
    dn_sock_destroy(&pull);
    zmq_ctx_term(ctx);
}
