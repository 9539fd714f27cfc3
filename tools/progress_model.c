/* progress_model.c: the pure parts of `dinamo progress` (see progress.h).
 * A stage's count is what its services' heartbeats say (health.h's runs,
 * set by each service through dn_node_progress): the generator's or feed's
 * appended runs, each scorer's scored runs, the trainers' runs trained
 * through. Each stage has its own rate; the stream ends when the last of
 * them does, so the time left is the longest of theirs. */
#include "progress.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "health.h"

/* ---- reading ------------------------------------------------------------------ */

static void stage_max(int64_t *stage, uint64_t runs)
{
    if (*stage < (int64_t)runs)
        *stage = (int64_t)runs;
}

/* Adds one heartbeat to the sums. Trainers: the slowest of those that say
 * something (a trainer owning no key yet says 0, and would hold the stage at
 * 0 for ever when there are more trainers than keys). */
static void add_heartbeat(progress_snap_t *s, const dn_health_t *h, int64_t *trained_min)
{
    s->services++;
    if (h->state == DN_HEALTH_RUNNING || h->state == DN_HEALTH_STARTING)
        s->running++;
    if (h->state == DN_HEALTH_FAILED && !s->failed[0])
        snprintf(s->failed, sizeof s->failed, "%s", h->service);
    if (h->started > 0 && (s->started == 0 || h->started < s->started))
        s->started = h->started;
    if (h->total > s->total)
        s->total = h->total;
    if (!strcmp(h->service, "generator") || !strcmp(h->service, "feed")) {
        stage_max(&s->count[PROGRESS_PUBLISHED], h->runs);
    } else if (!strcmp(h->service, "scorer_s")) {
        stage_max(&s->count[PROGRESS_S], h->runs);
    } else if (!strcmp(h->service, "scorer_ml")) {
        stage_max(&s->count[PROGRESS_ML], h->runs);
    } else if (!strcmp(h->service, "trainer")) {
        stage_max(&s->count[PROGRESS_TRAINED], 0);
        if (h->runs > 0 && (*trained_min < 0 || (int64_t)h->runs < *trained_min))
            *trained_min = (int64_t)h->runs;
    }
}

/* Reads PATH/health, or else PATH/SERVICE/health for every SERVICE (a
 * service's heartbeat is <data_dir>/<its name>/health, and scripts/cluster.sh
 * gives each service the data_dir RUNDIR/data/NAME). */
static void read_service(const char *path, progress_snap_t *snap, int64_t *trained_min)
{
    char file[4096 + 600];
    dn_health_t h;
    snprintf(file, sizeof file, "%s/health", path);
    if (dn_health_read(file, &h, NULL) == 0) {
        add_heartbeat(snap, &h, trained_min);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' ||
            (size_t)snprintf(file, sizeof file, "%s/%s/health", path, e->d_name) >= sizeof file)
            continue;
        if (dn_health_read(file, &h, NULL) == 0)
            add_heartbeat(snap, &h, trained_min);
    }
    closedir(d);
}

int progress_read_dir(const char *dir, progress_snap_t *snap, dn_err_t *err)
{
    *snap = progress_snap_empty();
    char root[4096], path[4096 + 300];
    struct stat st;
    if ((size_t)snprintf(root, sizeof root, "%s/data", dir) >= sizeof root)
        return dn_err_set(err, DN_EINVAL, "%s: path too long", dir);
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(root, sizeof root, "%s", dir);
    DIR *d = opendir(root);
    if (!d)
        return dn_err_set(err, errno == ENOENT ? DN_ENOTFOUND : DN_EIO, "%s: %s", root,
                          strerror(errno));
    int64_t trained_min = -1;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", root, e->d_name) < sizeof path)
            read_service(path, snap, &trained_min);
    }
    closedir(d);
    if (trained_min > 0)
        snap->count[PROGRESS_TRAINED] = trained_min;
    return 0;
}

progress_snap_t progress_snap_empty(void)
{
    progress_snap_t s = {0};
    for (int i = 0; i < PROGRESS_STAGES; i++)
        s.count[i] = PROGRESS_ABSENT;
    return s;
}

/* ---- rate and time left ---------------------------------------------------------- */

void progress_rate_init(progress_rate_t *r, double window_s)
{
    memset(r, 0, sizeof *r);
    r->window_s = window_s;
}

/* The i-th look, oldest first. */
static int look_at(const progress_rate_t *r, int i)
{
    return (r->head - r->n + i + 2 * PROGRESS_MAX_LOOKS) % PROGRESS_MAX_LOOKS;
}

void progress_rate_add(progress_rate_t *r, double now, int64_t done)
{
    if (done == PROGRESS_ABSENT || !isfinite(now))
        return;
    if (r->n > 0 && !(now > r->time[look_at(r, r->n - 1)]))
        return;
    r->time[r->head] = now;
    r->done[r->head] = done;
    r->head = (r->head + 1) % PROGRESS_MAX_LOOKS;
    if (r->n < PROGRESS_MAX_LOOKS)
        r->n++;
    /* Drop what fell out of the window (the latest look always stays). */
    while (r->n > 1 && r->time[look_at(r, 0)] < now - r->window_s)
        r->n--;
}

double progress_rate(const progress_rate_t *r)
{
    if (r->n < 2)
        return NAN;
    int first = look_at(r, 0), last = look_at(r, r->n - 1);
    double dt = r->time[last] - r->time[first];
    if (dt < 1.0)
        return NAN;
    int64_t dn = r->done[last] - r->done[first];
    return dn > 0 ? (double)dn / dt : 0.0;
}

void progress_estimate(const progress_snap_t *snap, const progress_rate_t *rates, double *rate,
                       double *left)
{
    double slowest = NAN, worst = -1, worst_rate = NAN;
    int present = 0, waiting = 0;
    for (int i = 0; i < PROGRESS_STAGES; i++) {
        if (snap->count[i] == PROGRESS_ABSENT)
            continue;
        present++;
        double r = progress_rate(&rates[i]);
        if (isfinite(r) && !(r >= slowest))
            slowest = r;
        if (!snap->total)
            continue;
        if ((uint64_t)snap->count[i] >= snap->total) {
            if (worst < 0)
                worst = 0;
        } else if (r > 0) {
            double l = (double)(snap->total - (uint64_t)snap->count[i]) / r;
            if (l > worst) {
                worst = l;
                worst_rate = r;
            }
        } else {
            waiting++;
        }
    }
    *rate = worst > 0 ? worst_rate : slowest;
    *left = !snap->total || !present || (worst <= 0 && waiting) ? NAN : worst;
}

/* ---- the line ----------------------------------------------------------------------- */

void progress_duration(double seconds, char *buf, size_t cap)
{
    if (!(seconds >= 0) || seconds > 1e9) {
        snprintf(buf, cap, "?");
        return;
    }
    long s = lround(seconds);
    if (s < 60)
        snprintf(buf, cap, "%lds", s);
    else if (s < 3600)
        snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, cap, "%ldh%02ldm", s / 3600, s % 3600 / 60);
}

static void stage_text(int64_t n, char *buf, size_t cap)
{
    if (n == PROGRESS_ABSENT)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%lld", (long long)n);
}

void progress_format(const progress_snap_t *snap, double rate, double left, double elapsed,
                     char *buf, size_t cap)
{
    if (!cap)
        return;
    if (snap->services == 0) {
        snprintf(buf, cap, "waiting for the services");
        return;
    }
    char pub[24], s[24], ml[24], tr[24], total[32] = "", rate_s[32], left_s[16], el[16];
    stage_text(snap->count[PROGRESS_PUBLISHED], pub, sizeof pub);
    stage_text(snap->count[PROGRESS_S], s, sizeof s);
    stage_text(snap->count[PROGRESS_ML], ml, sizeof ml);
    stage_text(snap->count[PROGRESS_TRAINED], tr, sizeof tr);
    if (snap->total)
        snprintf(total, sizeof total, "/%llu", (unsigned long long)snap->total);
    if (isfinite(rate))
        snprintf(rate_s, sizeof rate_s, "%.1f runs/s", rate);
    else
        snprintf(rate_s, sizeof rate_s, "? runs/s");
    progress_duration(left, left_s, sizeof left_s);
    progress_duration(elapsed, el, sizeof el);
    int n = snprintf(buf, cap,
                     "published %s%s, S %s, ML %s, trained %s | %s | %s left | %s elapsed", pub,
                     total, s, ml, tr, rate_s, left_s, el);
    if (snap->failed[0] && n >= 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " | FAILED: %s", snap->failed);
}
