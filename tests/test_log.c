/* test_log.c: the rate limit of log records about rejected input (log.h):
 * a flood of 100k records writes a bounded number of lines, and the written
 * lines plus the counts of the summaries account for every record exactly;
 * a flood that stopped is summarised at the flush; the window reopens. The
 * plain records are tested in test_config.c. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

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
