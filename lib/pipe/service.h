/* service.h: the skeleton every dinamo service runs: one poll loop over its
 * ZeroMQ sockets with a timeout, a periodic tick, and orderly shutdown.
 *
 *     dn_service_install_signals(&err);
 *     dn_service_t *svc = dn_service_new("scorer_s", &err);
 *     dn_service_add_socket(svc, runs_in, on_run, &state);
 *     dn_service_set_tick(svc, 1000, on_tick, &state);      // heartbeat, stats
 *     dn_service_set_shutdown(svc, on_shutdown, &state);    // checkpoint
 *     rc = dn_service_run(svc, &err);                       // until SIGTERM
 *
 * SIGTERM and SIGINT only set a flag (SIGUSR1 another: dn_service_report_requested) (sigaction, no SA_RESTART, nothing else
 * in the handler). The loop checks it before every message, so the message in
 * hand is always finished, and zmq_poll's EINTR or its timeout (at most
 * DN_SERVICE_POLL_MAX_MS) brings the loop back to the check promptly. Then the
 * shutdown callback runs (checkpoint, flush) and dn_service_run returns 0, so
 * main() exits 0.
 *
 * Per readable socket the loop takes at most DN_SERVICE_BATCH messages before
 * looking at the others and at the tick, so one busy input cannot starve the
 * rest. Invalid messages are counted and logged (WARN) and never reach the
 * handler; duplicates (DN_SEQ_DUPLICATE) are counted and dropped; gaps are
 * logged with the number of messages lost and the message is delivered.
 *
 * Thread rules: one service per thread; the signal flag is process-wide, so
 * one process runs one service loop at a time. */
#ifndef DN_SERVICE_H
#define DN_SERVICE_H

#include <stdint.h>

#include "bus.h"
#include "error.h"

#define DN_SERVICE_BATCH 64
#define DN_SERVICE_POLL_MAX_MS 200

typedef struct dn_service_t dn_service_t;

/* Handles one valid, non-duplicate envelope from sock. env and info are
 * borrowed (freed after the call). Return 0 to go on, a negative code to stop
 * the service with that error (message in the service's err via
 * dn_service_fail, or dn_strerror). */
typedef int (*dn_service_msg_fn)(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                                 const dn_recv_info_t *info, void *arg);

/* Tick and shutdown callbacks: 0 to go on, negative to stop with that error. */
typedef int (*dn_service_fn)(dn_service_t *svc, void *arg);

typedef struct dn_service_stats_t {
    uint64_t handled;    /* envelopes given to handlers */
    uint64_t rejected;   /* invalid messages (see the sockets' stats for reasons) */
    uint64_t duplicates; /* dropped replays */
    uint64_t gaps;       /* gap events */
    uint64_t missing;    /* messages lost in those gaps */
    uint64_t ticks;
} dn_service_stats_t;

/* Installs the SIGTERM/SIGINT handlers (and ignores SIGPIPE), clearing the
 * stop flag. Returns 0 or DN_EIO. */
int dn_service_install_signals(dn_err_t *err);

/* 1 once SIGTERM or SIGINT arrived (async-signal-safe read of the flag). */
int dn_service_signalled(void);

/* New service named `name` (used in logs). Returns NULL with *err set
 * (DN_EINVAL, DN_ENOMEM). Caller owns it. */
dn_service_t *dn_service_new(const char *name, dn_err_t *err);

/* Frees *self_p (not the sockets, which stay the caller's); accepts NULL. */
void dn_service_destroy(dn_service_t **self_p);

/* Registers a PULL or SUB socket (borrowed: must outlive the service run) with
 * its handler. Returns 0, DN_EINVAL (wrong socket type, NULL fn), DN_ENOMEM. */
int dn_service_add_socket(dn_service_t *self, dn_sock_t *sock, dn_service_msg_fn fn, void *arg);

/* Told of a message from sock that the bus refused (consumed and counted in
 * the service's rejected): code is dn_sock_recv's, info its topic and, when
 * the bytes carry one, the log offset (info->has_offset), why the sentence
 * naming the problem. Returns 1 when it reported the refusal itself, 0 to
 * have the loop log it (rate-limited, log.h), or a negative code to stop the
 * service. */
typedef int (*dn_service_reject_fn)(dn_service_t *svc, dn_sock_t *sock, int code,
                                    const dn_recv_info_t *info, const char *why, void *arg);

/* Sets the reject handler of a socket added with dn_service_add_socket (it
 * gets that socket's arg). Returns 0 or DN_EINVAL (sock not added). */
int dn_service_on_reject(dn_service_t *self, dn_sock_t *sock, dn_service_reject_fn fn);

/* Readiness handler of a socket whose messages are not envelopes (a ROUTER
 * serving requests): called when sock has something to read; it reads what it
 * wants (bus.h's frames functions), at most a batch, and returns 0 to go on or
 * a negative code to stop the service. */
typedef int (*dn_service_ready_fn)(dn_service_t *svc, dn_sock_t *sock, void *arg);

/* Registers a ROUTER or DEALER socket (borrowed) with its readiness handler.
 * Returns 0, DN_EINVAL (other socket type, NULL fn), DN_ENOMEM. */
int dn_service_add_ready(dn_service_t *self, dn_sock_t *sock, dn_service_ready_fn fn, void *arg);

/* Calls fn every interval_ms (>= 1) milliseconds of monotonic time, also while
 * messages flood in. Returns 0 or DN_EINVAL. */
int dn_service_set_tick(dn_service_t *self, int interval_ms, dn_service_fn fn, void *arg);

/* Calls fn once when the loop ends (signal, dn_service_stop, or an error). */
void dn_service_set_shutdown(dn_service_t *self, dn_service_fn fn, void *arg);

/* Calls fn after every round of the loop (the sockets drained, the tick run),
 * including rounds in which nothing arrived: the place to commit what the
 * round's messages changed, publish, and produce work of one's own. fn returns
 * the longest time in ms the loop may then wait for input before the next round
 * (0: at once, there is more to do; DN_SERVICE_POLL_MAX_MS or more: no hurry),
 * or a negative error code to stop the service. NULL removes it. */
void dn_service_set_round(dn_service_t *self, dn_service_fn fn, void *arg);

/* paused != 0: the loop stops reading sock (its messages stay queued in ZeroMQ,
 * so a PUSH upstream blocks at its high-water mark: back-pressure); 0 resumes.
 * Returns 0, or DN_EINVAL when sock was not added. */
int dn_service_pause(dn_service_t *self, dn_sock_t *sock, int paused);

/* 1 once per SIGUSR1 (then the flag is cleared): "report now", used by the
 * evaluator to write its metrics before the end of a stream. */
int dn_service_report_requested(void);

/* Asks the loop to stop after the current message (from a callback). */
void dn_service_stop(dn_service_t *self);

/* Records a failure message for dn_service_run to return in its err; returns
 * code, so a handler can `return dn_service_fail(svc, DN_EIO, "store: %s", e.msg)`. */
int dn_service_fail(dn_service_t *self, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs the loop until a signal, dn_service_stop or a callback error; then the
 * shutdown callback. Returns 0 on an orderly stop (and a successful shutdown
 * callback), else the first error with *err set. */
int dn_service_run(dn_service_t *self, dn_err_t *err);

/* Counters since creation. */
dn_service_stats_t dn_service_stats(const dn_service_t *self);

/* Counts messages a readiness handler (dn_service_add_ready) handled and
 * rejected, so that the service's stop line and stats account for them as
 * for envelopes. */
void dn_service_count(dn_service_t *self, uint64_t handled, uint64_t rejected);

/* The name given to dn_service_new (owned by self). */
const char *dn_service_name(const dn_service_t *self);

#endif
