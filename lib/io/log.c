/* log.c: single-write log records with UTC time, service, pid and level
 * (see log.h). The state is three globals set at start-up, the counts of
 * WARN and ERROR records (atomic: dn_log is called from any thread), and the
 * list of rate limits in use (under limits_mutex, which also guards every
 * limit's counters: a limit's decision and its summary are one step). */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static dn_log_level_t threshold = DN_LOG_INFO;
static char service_name[64] = "dinamo";
static int log_fd = 2;
/* Records asked for at WARN and ERROR, written or not (the heartbeat shows them). */
static unsigned long long level_counts[DN_LOG_OFF];

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

static pthread_mutex_t limits_mutex = PTHREAD_MUTEX_INITIALIZER;
static dn_log_limit_t *limits; /* every limit used so far */

int dn_log_level_parse(const char *name, dn_log_level_t *level, dn_err_t *err)
{
    static const struct { const char *name; dn_log_level_t level; } table[] = {
        {"debug", DN_LOG_DEBUG}, {"info", DN_LOG_INFO},   {"warn", DN_LOG_WARN},
        {"warning", DN_LOG_WARN}, {"error", DN_LOG_ERROR}, {"off", DN_LOG_OFF},
    };
    for (size_t i = 0; name && i < sizeof table / sizeof table[0]; i++)
        if (strcasecmp(name, table[i].name) == 0) {
            *level = table[i].level;
            return 0;
        }
    return dn_err_set(err, DN_EINVAL, "log level '%s': want debug, info, warn, error or off",
                      name ? name : "");
}

int dn_log_init(const char *service, const char *level_name, dn_err_t *err)
{
    if (service)
        snprintf(service_name, sizeof service_name, "%s", service);
    const char *env = getenv("DINAMO_LOG_LEVEL");
    if (env && env[0])
        level_name = env;
    if (!level_name)
        return 0;
    dn_log_level_t level;
    int rc = dn_log_level_parse(level_name, &level, err);
    if (rc)
        return rc;
    threshold = level;
    return 0;
}

void dn_log_set_level(dn_log_level_t level)
{
    threshold = level;
}

dn_log_level_t dn_log_get_level(void)
{
    return threshold;
}

void dn_log_set_fd(int fd)
{
    log_fd = fd;
}

unsigned long long dn_log_count(dn_log_level_t level)
{
    if (level < DN_LOG_DEBUG || level >= DN_LOG_OFF)
        return 0;
    return __atomic_load_n(&level_counts[level], __ATOMIC_RELAXED);
}

/* Formats and writes one record (level already checked against the threshold). */
static void write_record(dn_log_level_t level, const char *fmt, va_list ap)
{
    int saved_errno = errno; /* callers may log and then look at errno */
    char line[DN_LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, service_name, (long)getpid(),
                     level_names[level]);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof line - 1) {
        int m = vsnprintf(line + n, sizeof line - 1 - (size_t)n, fmt, ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = write(log_fd, line + off, (size_t)n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere to report a failing log */
        off += (size_t)w;
    }
    errno = saved_errno;
}

static void write_recordf(dn_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void write_recordf(dn_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_record(level, fmt, ap);
    va_end(ap);
}

static int passes(dn_log_level_t level)
{
    if (level >= DN_LOG_WARN && level < DN_LOG_OFF)
        __atomic_add_fetch(&level_counts[level], 1, __ATOMIC_RELAXED);
    return level >= threshold && level < DN_LOG_OFF && level >= DN_LOG_DEBUG;
}

void dn_log(dn_log_level_t level, const char *fmt, ...)
{
    if (!passes(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    write_record(level, fmt, ap);
    va_end(ap);
}

/* Writes lim's summary and starts its count again. Under limits_mutex. */
static void summarise(dn_log_limit_t *lim, int64_t now)
{
    if (!lim->suppressed)
        return;
    double span = (double)(now - lim->suppressed_from_ms) / 1000.0;
    if (span < 0.1)
        span = 0.1; /* "in the last 0.0 s" would read as none */
    write_recordf(lim->level, "%llu similar message%s suppressed in the last %.1f s (first: %s)",
                  (unsigned long long)lim->suppressed, lim->suppressed == 1 ? "" : "s", span,
                  lim->first);
    lim->suppressed = 0;
}

void dn_log_limited(dn_log_limit_t *lim, dn_log_level_t level, const char *fmt, ...)
{
    if (!passes(level))
        return;
    int64_t now = dn_clock_mono_ms();
    int per_s = lim->per_s > 0 ? lim->per_s : DN_LOG_LIMIT_PER_S;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&limits_mutex);
    if (!lim->registered) {
        lim->registered = 1;
        lim->window_ms = now;
        lim->next = limits;
        limits = lim;
    }
    if (now - lim->window_ms >= 1000) {
        summarise(lim, now);
        lim->window_ms = now;
        lim->written = 0;
    }
    int write_it = lim->written < per_s;
    if (write_it) {
        lim->written++;
    } else {
        if (!lim->suppressed++) {
            lim->suppressed_from_ms = now;
            lim->level = level;
            vsnprintf(lim->first, sizeof lim->first, fmt, ap);
        }
        lim->suppressed_total++;
    }
    pthread_mutex_unlock(&limits_mutex);
    if (write_it)
        write_record(level, fmt, ap);
    va_end(ap);
}

int dn_log_limits_flush(int force)
{
    int n = 0;
    int64_t now = dn_clock_mono_ms();
    pthread_mutex_lock(&limits_mutex);
    for (dn_log_limit_t *lim = limits; lim; lim = lim->next)
        if (lim->suppressed && (force || now - lim->window_ms >= 1000)) {
            summarise(lim, now);
            lim->window_ms = now;
            lim->written = 0;
            n++;
        }
    pthread_mutex_unlock(&limits_mutex);
    return n;
}
