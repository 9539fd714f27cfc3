/* figworker.h: figures drawn off a service's loop by one long-lived helper
 * process.
 *
 * A service that flags runs (the evaluator) must not wait for PLplot: drawing
 * a histogram and a score history as PNG and SVG takes 20-60 ms, longer than
 * a run takes to score, and a service that falls behind holds the whole
 * stream back (flow control). Nor may it draw in its own process: PLplot ends
 * the process on some errors and is not thread-safe, and a service has ZeroMQ
 * threads (no fork without exec).
 *
 * So the service saves each figure as a job file (dn_plot_job_save) and
 * submits it here. The worker keeps a FIFO of job files and one helper process
 * (started on demand with posix_spawn: argv, typically this binary in a mode
 * that calls dn_figworker_main) connected by a socketpair on its stdin and
 * stdout. One job is in flight at a time: its path goes down as one line, the
 * helper draws it and answers one line ("0" or "1 <message>"). dn_figworker_poll,
 * called from the service's loop, never blocks: it reads answers, sends the
 * next job, and kills a helper that took longer than the timeout on a job (or
 * restarts one that died), reporting that job as failed. Every job file is
 * unlinked once its job is done, failed or dropped.
 *
 * Invariants: at most one job in flight; every submitted job is reported to
 * the done callback exactly once (by poll, or by destroy with "not drawn: the
 * worker stopped"), in submission order.
 *
 * Thread rules: a worker belongs to one thread. Ownership: the caller owns the
 * worker; submitted path strings are copied. */
#ifndef DN_FIGWORKER_H
#define DN_FIGWORKER_H

#include <stdio.h>

#include "error.h"

typedef struct dn_figworker_t dn_figworker_t;

/* Called once per job: ok 1 (drawn) or 0 (msg says why). */
typedef void (*dn_figworker_done_fn)(const char *jobfile, int ok, const char *msg, void *arg);

/* New worker that starts argv[0] (an absolute path; argv NULL-terminated,
 * copied) as its helper when there is work, and gives a job timeout_ms
 * (>= 1). done may be NULL. Returns NULL with *err set (DN_EINVAL, DN_ENOMEM).
 * No process is started yet. */
dn_figworker_t *dn_figworker_new(char *const argv[], int timeout_ms, dn_figworker_done_fn done,
                                 void *arg, dn_err_t *err);

/* Stops the helper (SIGTERM, then SIGKILL after 1 s), reports every job not
 * drawn to the done callback, unlinks their files, frees *self_p; accepts
 * NULL; nulls the pointer. */
void dn_figworker_destroy(dn_figworker_t **self_p);

/* Queues jobfile (a file written by dn_plot_job_save; the worker unlinks it
 * when done). Returns 0, DN_EINVAL (path empty, with a newline, or longer than
 * 4000 bytes), DN_ENOMEM. Never blocks: call dn_figworker_poll to make progress. */
int dn_figworker_submit(dn_figworker_t *self, const char *jobfile, dn_err_t *err);

/* Makes progress without blocking: collects the helper's answer, starts the
 * helper if needed, sends the next job, enforces the timeout. Returns 0, or
 * DN_EIO when the helper cannot be started (the job in hand is reported failed
 * and the next poll tries again). */
int dn_figworker_poll(dn_figworker_t *self, dn_err_t *err);

/* Jobs submitted and not yet reported (queued + in flight). */
int dn_figworker_pending(const dn_figworker_t *self);

typedef struct dn_figworker_stats_t {
    unsigned long long drawn, failed, timed_out, helpers_started;
} dn_figworker_stats_t;
dn_figworker_stats_t dn_figworker_stats(const dn_figworker_t *self);

/* The helper's side: reads job paths line by line from in, draws each
 * (dn_plot_job_run_file), answers on out, until end of input. Returns 0. */
int dn_figworker_main(FILE *in, FILE *out);

#endif
