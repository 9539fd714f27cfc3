/* health.c: the heartbeat file (see health.h): one line of key=value fields
 * after the magic "dinamo-health 1", detail last (it may hold spaces), written
 * to a temporary name and renamed; the reader checks the magic and every
 * field, so a file of another kind or version is named, not misread. */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

#define HEALTH_MAGIC "dinamo-health 1 "

static const char *const state_names[] = {"starting", "running", "stopped", "failed"};

const char *dn_health_state_name(dn_health_state_t state)
{
    return state >= DN_HEALTH_STARTING && state <= DN_HEALTH_FAILED ? state_names[state] : "?";
}

int dn_health_write(const char *path, const dn_health_t *h, dn_err_t *err)
{
    char detail[sizeof h->detail], line[1024], tmp[4096];
    snprintf(detail, sizeof detail, "%s", h->detail);
    for (char *c = detail; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    int n = snprintf(line, sizeof line,
                     HEALTH_MAGIC "service=%s state=%s time=%.3f started=%.3f pid=%lld "
                     "tick_ms=%lld rounds=%llu in=%llu out=%llu rejected=%llu warnings=%llu "
                     "errors=%llu runs=%llu total=%llu detail=%s\n",
                     h->service, dn_health_state_name(h->state), h->time, h->started,
                     (long long)h->pid, (long long)h->tick_ms, (unsigned long long)h->rounds,
                     (unsigned long long)h->in, (unsigned long long)h->out,
                     (unsigned long long)h->rejected, (unsigned long long)h->warnings,
                     (unsigned long long)h->errors, (unsigned long long)h->runs,
                     (unsigned long long)h->total, detail);
    if (n < 0 || (size_t)n >= sizeof line)
        return dn_err_set(err, DN_EINVAL, "heartbeat %s: line too long", path);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= sizeof tmp)
        return dn_err_set(err, DN_EINVAL, "heartbeat %s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return dn_err_set(err, DN_EIO, "heartbeat %s: %s", tmp, strerror(errno));
    ssize_t w = write(fd, line, (size_t)n);
    int saved = errno;
    if (close(fd) != 0 && w == n) {
        w = -1;
        saved = errno;
    }
    if (w != n || rename(tmp, path) != 0) {
        if (w == n)
            saved = errno;
        unlink(tmp);
        return dn_err_set(err, DN_EIO, "heartbeat %s: %s", path,
                          w >= 0 && w != n ? "short write" : strerror(saved));
    }
    return 0;
}

/* The value of " NAME=" in line (NUL-terminated at the next space into buf),
 * or NULL. */
static const char *field(const char *line, const char *name, char *buf, size_t cap)
{
    char pat[32];
    snprintf(pat, sizeof pat, " %s=", name);
    const char *p = strstr(line, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    size_t n = strcspn(p, " \n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* A wall-clock time: finite and within HEALTH_TIME_MAX of the epoch, so that
 * it can be judged and written again (the writer prints it with %.3f). */
#define HEALTH_TIME_MAX 1e12

static int time_field(const char *line, const char *name, double *out)
{
    char buf[64], *end;
    if (!field(line, name, buf, sizeof buf) || !buf[0])
        return -1;
    errno = 0;
    *out = strtod(buf, &end);
    return *end || errno || !(fabs(*out) < HEALTH_TIME_MAX) ? -1 : 0;
}

/* A decimal integer that fits int64 (the writer prints %lld). */
static int int_field(const char *line, const char *name, int64_t *out)
{
    char buf[64], *end;
    if (!field(line, name, buf, sizeof buf) || !buf[0])
        return -1;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

static int count_field(const char *line, const char *name, uint64_t *out)
{
    char buf[64], *end;
    if (!field(line, name, buf, sizeof buf) || buf[0] < '0' || buf[0] > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

/* A count that heartbeats of older builds lack (the progress fields): absent
 * leaves *out 0, present it must be a count. */
static int opt_count_field(const char *line, const char *name, uint64_t *out)
{
    char buf[64];
    return field(line, name, buf, sizeof buf) ? count_field(line, name, out) : 0;
}

int dn_health_read(const char *path, dn_health_t *h, dn_err_t *err)
{
    char *buf = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return dn_err_set(err, DN_ENOTFOUND, "heartbeat %s: no such file", path);
    int rc = dn_read_file(path, &buf, NULL, err);
    if (rc)
        return rc;
    memset(h, 0, sizeof *h);
    const char *what = NULL;
    char *line = buf, state[32];
    /* detail is last and may hold spaces: cut it off before the other fields
     * are looked up, so a detail cannot fake one. */
    char *detail = strstr(line, " detail=");
    if (strncmp(line, HEALTH_MAGIC, strlen(HEALTH_MAGIC)) != 0)
        what = "not a version 1 dinamo heartbeat";
    else if (!detail)
        what = "field detail missing";
    if (!what) {
        const char *text = detail + strlen(" detail=");
        snprintf(h->detail, sizeof h->detail, "%.*s", (int)strcspn(text, "\n"), text);
        *detail = '\0';
    }
    if (!what && !field(line, "service", h->service, sizeof h->service))
        what = "field service missing";
    if (!what && !field(line, "state", state, sizeof state))
        what = "field state missing";
    if (!what) {
        h->state = DN_HEALTH_FAILED + 1;
        for (int s = DN_HEALTH_STARTING; s <= DN_HEALTH_FAILED; s++)
            if (!strcmp(state, state_names[s]))
                h->state = (dn_health_state_t)s;
        if (h->state > DN_HEALTH_FAILED)
            what = "field state is not starting, running, stopped or failed";
    }
    static const char *const counts[] = {"rounds", "in", "out", "rejected", "warnings",
                                         "errors"};
    uint64_t *count_out[] = {&h->rounds, &h->in, &h->out, &h->rejected, &h->warnings,
                             &h->errors};
    if (!what && time_field(line, "time", &h->time))
        what = "field time missing or not a time (finite seconds since 1970)";
    if (!what && time_field(line, "started", &h->started))
        what = "field started missing or not a time (finite seconds since 1970)";
    if (!what && int_field(line, "pid", &h->pid))
        what = "field pid missing or not a 64-bit integer";
    if (!what && int_field(line, "tick_ms", &h->tick_ms))
        what = "field tick_ms missing or not a 64-bit integer";
    for (size_t i = 0; !what && i < sizeof counts / sizeof *counts; i++)
        if (count_field(line, counts[i], count_out[i]))
            what = counts[i];
    if (!what && opt_count_field(line, "runs", &h->runs))
        what = "runs";
    if (!what && opt_count_field(line, "total", &h->total))
        what = "total";
    free(buf);
    if (!what)
        return 0;
    if (strchr(what, ' '))
        return dn_err_set(err, DN_EFORMAT, "heartbeat %s: %s", path, what);
    return dn_err_set(err, DN_EFORMAT, "heartbeat %s: field %s missing or not a count", path,
                      what);
}

int dn_health_judge(const dn_health_t *h, double now, double max_age, char *line, size_t cap)
{
    if (max_age <= 0) {
        max_age = DN_HEALTH_TICKS * (double)h->tick_ms / 1000.0;
        if (max_age < DN_HEALTH_MIN_MAX_AGE)
            max_age = DN_HEALTH_MIN_MAX_AGE;
    }
    double age = now - h->time;
    char when[32] = "?";
    time_t t = (time_t)h->time;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    switch (h->state) {
    case DN_HEALTH_STOPPED:
        snprintf(line, cap, "%s: stopped at %s (pid %lld, after %llu rounds)", h->service, when,
                 (long long)h->pid, (unsigned long long)h->rounds);
        return 1;
    case DN_HEALTH_FAILED:
        snprintf(line, cap, "%s: failed at %s (pid %lld): %s", h->service, when,
                 (long long)h->pid, h->detail[0] ? h->detail : "no reason recorded");
        return 1;
    case DN_HEALTH_STARTING:
        snprintf(line, cap, "%s: starting since %.1f s (pid %lld): the loop is not running yet",
                 h->service, now - h->started, (long long)h->pid);
        return 1;
    default:
        break;
    }
    if (age > max_age) {
        snprintf(line, cap, "%s: stale: heartbeat %.1f s old, want at most %g s: the loop is "
                 "stuck or the process is gone (pid %lld, last at %s)", h->service, age,
                 max_age, (long long)h->pid, when);
        return 1;
    }
    snprintf(line, cap, "%s: ok: heartbeat %.1f s old (pid %lld, %llu rounds, %llu in, %llu "
             "out, %llu rejected, %llu warnings, %llu errors)", h->service, age < 0 ? 0 : age,
             (long long)h->pid, (unsigned long long)h->rounds, (unsigned long long)h->in,
             (unsigned long long)h->out, (unsigned long long)h->rejected,
             (unsigned long long)h->warnings, (unsigned long long)h->errors);
    return 0;
}
