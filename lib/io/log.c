/* log.c: single-write log records with UTC time, service, pid and level
 * (see log.h). The state is three globals set at start-up, and the counts of
 * WARN and ERROR records (atomic: dn_log is called from any thread). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static dn_log_level_t threshold = DN_LOG_INFO;
static char service_name[64] = "dinamo";
static int log_fd = 2;
/* Records asked for at WARN and ERROR, written or not (the heartbeat shows them). */
static unsigned long long level_counts[DN_LOG_OFF];

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

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

void dn_log(dn_log_level_t level, const char *fmt, ...)
{
    if (level >= DN_LOG_WARN && level < DN_LOG_OFF)
        __atomic_add_fetch(&level_counts[level], 1, __ATOMIC_RELAXED);
    if (level < threshold || level >= DN_LOG_OFF || level < DN_LOG_DEBUG)
        return;
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
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - 1 - (size_t)n, fmt, ap);
        va_end(ap);
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
