/* progress.h: the pure parts of `dinamo progress` (progress_model.c): one
 * look at a cluster's heartbeats (lib/io/health.h) summed up per stage, the
 * rate over a sliding window of such looks, the time left, and the line that
 * says it all. No terminal, no clock, no sleeping here: the command
 * (progress.c) passes the times in, so the suite injects them.
 *
 * Thread rules: no global state; any thread, one object per thread. */
#ifndef DN_PROGRESS_H
#define DN_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A stage's count when no service of it has a heartbeat (not started yet, or
 * not in this cluster: the ML stages of a `--methods s` cluster). */
#define PROGRESS_ABSENT (-1)

/* The stages of the stream, in order, and what they count (runs):
 * appended by the generator or the feed, scored by scorer_s, scored by
 * scorer_ml, trained through by the slowest trainer that owns keys. */
enum { PROGRESS_PUBLISHED, PROGRESS_S, PROGRESS_ML, PROGRESS_TRAINED, PROGRESS_STAGES };

/* What the heartbeats of one cluster say at one time. */
typedef struct progress_snap_t {
    int64_t count[PROGRESS_STAGES]; /* runs per stage, PROGRESS_ABSENT: no heartbeat */
    uint64_t total;      /* runs the stream will hold (the generator's), 0: unknown */
    double started;      /* the earliest service start (wall seconds), 0: none */
    int services;        /* heartbeats read */
    int running;         /* of them in state running or starting */
    char failed[64];     /* the first service whose heartbeat says failed, else "" */
} progress_snap_t;

/* Reads every heartbeat of a run directory: under DIR/data when it is a
 * directory (scripts/cluster.sh's RUNDIR), else under DIR (a data_dir, as
 * deploy/dinamo.conf's data/cluster), NAME/health or NAME/SERVICE/health for
 * every NAME (cluster.sh gives each service the data_dir RUNDIR/data/NAME,
 * where it writes SERVICE/health), each through
 * dn_health_read, and sums them up into *snap. A directory without a heartbeat
 * is skipped (a service not started yet); an unreadable or malformed
 * heartbeat too (it is being replaced: the next look reads it). Returns 0, or
 * DN_ENOTFOUND / DN_EIO naming DIR when it cannot be listed. */
int progress_read_dir(const char *dir, progress_snap_t *snap, dn_err_t *err);

/* A snapshot with every stage absent and nothing read. */
progress_snap_t progress_snap_empty(void);

/* The rate over a sliding window: the looks of the last window_s seconds. */
#define PROGRESS_MAX_LOOKS 128
typedef struct progress_rate_t {
    double window_s;
    int n, head;                     /* a ring of the n latest looks */
    double time[PROGRESS_MAX_LOOKS]; /* wall seconds, increasing */
    int64_t done[PROGRESS_MAX_LOOKS];
} progress_rate_t;

/* An empty window of window_s seconds (> 0). */
void progress_rate_init(progress_rate_t *r, double window_s);

/* Adds the look (now, done); a look at a time not after the latest, or with
 * done absent, is ignored. */
void progress_rate_add(progress_rate_t *r, double now, int64_t done);

/* Runs per second between the oldest look at most window_s before the latest
 * one and the latest: NAN with fewer than two such looks or under a second
 * apart (too little to say). Never negative (a restarted stage counts again
 * from its checkpoint: 0 then). */
double progress_rate(const progress_rate_t *r);

/* The time left, and the rate that says it. Every stage must reach the
 * total, each at its own pace (DINAMO-S holds its first runs back until it
 * has tuned alpha on them, then catches up at once), so the time left is
 * that of the stage with the most seconds left at its own rate, over the
 * stages that are moving (rate > 0) or done; a stage standing still says
 * nothing yet. *rate is that stage's rate (without a total, or with no
 * stage moving: the slowest known rate of a present stage, NAN when none);
 * *left is NAN without a total or when no stage that is not done moves, 0
 * when every present stage is done. rates[i] is stage i's window. */
void progress_estimate(const progress_snap_t *snap, const progress_rate_t *rates, double *rate,
                       double *left);

/* A duration as "12s", "3m05s", "1h02m"; "?" for NAN or negative. */
void progress_duration(double seconds, char *buf, size_t cap);

/* The line (no newline): stages, rate, time left, elapsed, e.g.
 *   "published 1300/5000, S 1234, ML 1230, trained 1228 | 41.2 runs/s | 1m32s left | 2m05s elapsed"
 * a stage without heartbeat shown as "-", " | FAILED: NAME" when one failed,
 * "waiting for the services" before any heartbeat. Cut to cap. */
void progress_format(const progress_snap_t *snap, double rate, double left, double elapsed,
                     char *buf, size_t cap);

#endif
