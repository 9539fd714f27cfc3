/* health.h: a service's heartbeat file, and the verdict on it.
 *
 * Every service (lib/pipe/node.c) replaces a small text file, by default
 * <data_dir>/<name>/health, at every tick of its loop: one line saying when
 * (wall time), which process, in what state, and how far it got:
 *
 *     dinamo-health 1 service=trainer state=running time=1718000000.125
 *       started=1717999990.000 pid=1 tick_ms=1000 rounds=812 in=4410 out=0
 *       rejected=0 warnings=2 errors=0 runs=0 total=0 detail=
 *
 * (one line in the file). A fresh file says the loop turns: the tick runs
 * between messages and between rounds, so a loop stuck in one message, a
 * deadlock or a dead process stops refreshing it. The counters say what the
 * loop did (envelopes handled, entries in its own logs, messages
 * rejected, WARN and ERROR records), for people and tests; they are not
 * judged, since a service waiting for input is healthy. runs and total are
 * the stream's progress as the service sees it (node.h, dn_node_progress),
 * for `dinamo progress`. A service that stops
 * writes state=stopped, one that fails state=failed with the error as detail,
 * so the verdict on a container that exited says why.
 *
 * The file is written under a temporary name and renamed (no fsync: a
 * heartbeat lost in a crash is what a crash should look like), so a reader
 * never sees half a line. `dinamo health` reads it and exits 0 or 1 with a
 * one-line reason (dn_health_judge): what Docker's HEALTHCHECK runs.
 *
 * Thread rules: no global state; any thread. */
#ifndef DN_HEALTH_H
#define DN_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum dn_health_state_t {
    DN_HEALTH_STARTING = 0, /* configuration read, the loop not yet running */
    DN_HEALTH_RUNNING,      /* the loop turns */
    DN_HEALTH_STOPPED,      /* an orderly stop (SIGTERM, end of work) */
    DN_HEALTH_FAILED,       /* stopped by an error: detail says which */
} dn_health_state_t;

/* The default age (seconds) past which a heartbeat is stale: 30 s, or five
 * ticks when the tick is longer than 6 s. */
#define DN_HEALTH_MIN_MAX_AGE 30.0
#define DN_HEALTH_TICKS 5

typedef struct dn_health_t {
    char service[64];
    dn_health_state_t state;
    double time;       /* wall clock (Unix seconds) when written */
    double started;    /* wall clock when the process started */
    int64_t pid;
    int64_t tick_ms;   /* the tick period: how often the file is refreshed */
    uint64_t rounds;   /* loop rounds */
    uint64_t in;       /* envelopes handed to the service (followed logs, sockets) */
    uint64_t out;      /* entries in the service's own logs (their heads) */
    uint64_t rejected; /* invalid messages received */
    uint64_t warnings; /* WARN records logged */
    uint64_t errors;   /* ERROR records logged */
    /* Progress in runs (dn_node_progress): the runs the service got through
     * (appended by the generator or feed, scored by a scorer, trained
     * through by a trainer), 0 from a service that does not count them; and
     * the runs the stream will hold when the service knows (the generator),
     * else 0. Optional when read (a heartbeat without them: 0). */
    uint64_t runs;
    uint64_t total;
    char detail[256];  /* why it failed (state failed), else empty; no newline */
} dn_health_t;

/* The state's name: "starting", "running", "stopped", "failed". */
const char *dn_health_state_name(dn_health_state_t state);

/* Replaces the file at path with h (temporary file in the same directory,
 * then rename; the directory must exist). Newlines in detail are written as
 * spaces. Returns 0 or DN_EIO naming the path and the system's reason. */
int dn_health_write(const char *path, const dn_health_t *h, dn_err_t *err);

/* Reads the heartbeat at path into *h. Returns 0, DN_ENOTFOUND (no file),
 * DN_EIO (unreadable), or DN_EFORMAT naming the path and what is wrong (not a
 * heartbeat, another version, a field missing or not a number). */
int dn_health_read(const char *path, dn_health_t *h, dn_err_t *err);

/* The verdict on h at wall time now: healthy when it is running and at most
 * max_age seconds old (max_age <= 0: the default above, from h->tick_ms).
 * Writes one line without newline into line (cut to cap), e.g.
 *   "trainer: ok: heartbeat 0.4 s old (pid 1, 812 rounds, 4410 in, 0 out, 0 rejected, 2 warnings, 0 errors)"
 *   "trainer: stale: heartbeat 45.2 s old, want at most 30 s: the loop is stuck or the process is gone"
 *   "trainer: failed at 2025-06-10T06:13:20Z: store: ...".
 * Returns 0 (healthy) or 1. */
int dn_health_judge(const dn_health_t *h, double now, double max_age, char *line, size_t cap);

#endif
