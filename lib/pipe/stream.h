/* stream.h: durable, ordered logs of envelopes between services, delivered
 * to each follower exactly once and in order, across kill -9 of either end.
 *
 * A *source* (the generator's runs, labels and end-of-stream; a scorer's
 * scores) appends envelopes to a log kept in its LMDB store: entry `offset`
 * (0, 1, 2, ...) is written once and never changes, also across restarts of the
 * source. It publishes committed entries, in offset order, on a PUB socket,
 * each envelope carrying its offset (Envelope.offset), and every heartbeat
 * interval a HEARTBEAT control (Control.log = log name, Control.offset = the
 * next offset it will publish, Control.service = its name) that is not part of
 * the log.
 *
 * A *follower* (one per source a service reads; its SUB socket subscribes to
 * everything the source publishes) hands the service each entry exactly once
 * in offset order:
 *   - offset == next: deliver, next + 1;
 *   - offset < next: a duplicate (a replay for another follower): drop;
 *   - offset > next: entries were lost (PUB drops at its high-water mark, a
 *     restart): drop it and ask the source to REWIND to next;
 *   - a heartbeat announcing offset > next with nothing newer delivered: the
 *     tail was lost (ZeroMQ keeps order per connection, so the entries before a
 *     heartbeat arrive before it): REWIND to next;
 *   - an entry the bus refused (it does not decode or validate: stored by an
 *     older version, or damaged), told with dn_follower_refused() by the
 *     offset its stamp carries: at next it is skipped for good (next + 1,
 *     counted in skipped; the caller logs it, once), never asked for again.
 * Rewind requests for the same `next` are sent at most every 250 ms.
 * The follower ACKs its next to the source (a PUSH to the source's request
 * PULL socket) once per service round in which it changed, and at least every
 * ack interval (its liveness); its first request, a REWIND, waits until
 * something of the log (a heartbeat) arrived, so a source never counts a
 * follower whose subscription is not yet in place. The source publishes an entry only when it is
 * less than `window` entries beyond the slowest acked next among the
 * followers that hold the stream: flow control, so a slow follower (a
 * trainer) holds the stream back instead of losing messages, and every queue
 * stays bounded. A follower silent for follower_timeout_ms no longer holds
 * the stream back, nor does one that stopped making progress for that long
 * while behind, nor a new one behind that has made none, unless it is a
 * required follower (opts.required: then only those hold it); see stream.c
 * for the rule. Any follower can come back and rewind: the log keeps
 * everything. The table of followers is bounded (max_followers).
 *
 * Passive followers (dn_follower_opts_t.passive; their ACK and REWIND say
 * Control.passive) read along and never hold the stream back: they never
 * count in the slowest acked next, nor for min_followers (a source whose only
 * followers are passive publishes nothing until min_followers holding ones
 * acked: lockstep waits for real consumers), and a full table gives their
 * slots away first. They are still served: entries as the holders' pace lets
 * them out, and rewinds to anything (the log is never pruned), beside the
 * stream: a passive REWIND does not move the cursor back, the source
 * republishes from there at most a window per pump, so a passive follower
 * far behind costs the source little per round and never delays the
 * holders. A
 * source's dn_events_delivered-style "every follower heard has it" checks
 * (stats.heard, heard_slowest) leave them out. A log that only passive
 * followers read is made with opts.unheld: then every committed entry is
 * published at once and dn_source_room never waits for followers.
 *
 * Exactly once across kill -9: a service saves its follower's next in the
 * same LMDB transaction as the state that processing those entries produced
 * (and, when it is a source itself, as the log entries they appended), and on
 * start restores it with dn_follower_set_next(); the follower's first ACK is a
 * REWIND, so the source resends from there. A source publishes only committed
 * entries, so whatever a follower saw exists, unchanged, after the source
 * restarts. Receivers of a source's output that a restarted service produces
 * again (same offsets, same content in lockstep mode) drop them as duplicates.
 *
 * The log is an LMDB table named after the log, key = offset as 8 big-endian
 * bytes, value = the encoded envelope (offset set, producer and seq not: those
 * are stamped in front of it at each (re)publication, with the offset). It is
 * never pruned. dn_source_append refuses an envelope a follower would refuse
 * (it decodes the publication with the bus's decoder before appending).
 *
 * Thread rules: a source or follower belongs to the thread of its sockets and
 * store. Ownership: sockets and store are borrowed and must outlive it. */
#ifndef DN_STREAM_H
#define DN_STREAM_H

#include <stdint.h>

#include "bus.h"
#include "error.h"
#include "msg.h"
#include "store.h"

#define DN_STREAM_LOG_MAX 63 /* bytes in a log name: [a-z0-9_]+ */
#define DN_SOURCE_FOLLOWERS_MAX 64 /* followers a source keeps by default */

/* ---- source -------------------------------------------------------------- */

typedef struct dn_source_t dn_source_t;

typedef struct dn_source_opts_t {
    const char *log;         /* log name, [a-z0-9_]+ ("events", "scores_s"): table and Control.log */
    const char *service;     /* Control.service of heartbeats ("generator") */
    int window;              /* entries published beyond the slowest follower; 0: 32 */
    int min_followers;       /* publish nothing until this many followers acked (once:
                              * later, any live follower will do); 0: 1 */
    int follower_timeout_ms; /* forget a follower silent this long; 0: 30000; < 0: never */
    int heartbeat_ms;        /* heartbeat period; 0: 200 */
    int max_followers;       /* followers tracked at most; 0: DN_SOURCE_FOLLOWERS_MAX */
    /* NULL-terminated consumer names (copied), or NULL: when given, only these
     * followers hold the stream back (each while heard), and they always find
     * a slot in the table. */
    const char *const *required;
    /* 1: no follower ever holds this log back (for a log that only passive
     * followers read: the evaluator's thresholds): committed entries are
     * published at once, followers or not (rewinds are served as ever), and
     * dn_source_room is the window minus the uncommitted entries, so the
     * producer never pauses for want of a reader. */
    int unheld;
} dn_source_opts_t;

typedef struct dn_source_stats_t {
    uint64_t head;          /* entries appended (committed or not) */
    uint64_t committed;     /* entries in the store */
    uint64_t cursor;        /* next offset to publish */
    uint64_t published;     /* publications, replays included */
    uint64_t republished;   /* publications of an offset published before */
    uint64_t rewinds;       /* REWIND requests that moved the cursor back */
    uint64_t requests_bad;  /* request messages that were not ACK/REWIND/LEAVE of this log */
    uint64_t left;          /* followers forgotten on a LEAVE */
    uint64_t followers_evicted; /* slots taken from a follower not holding the stream */
    uint64_t followers_refused; /* requests of a new name refused: table full of holders */
    uint64_t damaged;       /* publications of a stored entry with damaged framing, as a hole */
    int followers;          /* followers holding the stream back */
    int tracked;            /* followers in the table (at most max_followers) */
    int heard;              /* followers heard within the timeout, holding the stream or
                             * not; passive ones not included */
    uint64_t heard_slowest; /* smallest acked next among them (0 if none) */
    int passive;            /* passive followers heard within the timeout */
    int has_required;       /* a list of required followers was given */
    uint64_t slowest;       /* smallest acked next among those holding it (0 if none) */
} dn_source_stats_t;

/* New source over store (its log table is read to find the head) publishing on
 * pub (a PUB socket). Returns NULL with *err set: DN_EINVAL (bad options or
 * socket type), DN_EIO (store), DN_ENOMEM. Caller owns it. */
dn_source_t *dn_source_new(dn_store_t *store, dn_sock_t *pub, const dn_source_opts_t *opts,
                           dn_err_t *err);

/* Frees *self_p (uncommitted entries are lost); accepts NULL; nulls it. */
void dn_source_destroy(dn_source_t **self_p);

/* Appends env as entry dn_source_head(): sets env->offset and encodes it
 * (validated: an invalid envelope is refused and nothing is appended); env may
 * be freed right after. The entry is published only after it is committed.
 * Returns 0, a validation code (DN_EFORMAT, DN_ERANGE, DN_EMISMATCH), DN_ENOMEM. */
int dn_source_append(dn_source_t *self, Dinamo__Envelope *env, dn_err_t *err);

/* Adds the appended, uncommitted entries to batch, so that they commit in the
 * same transaction as the caller's checkpoint. After dn_store_apply(batch)
 * succeeded, call dn_source_committed(self); after it failed, nothing (they
 * stay pending and the next stage adds them again). Returns 0 or DN_ENOMEM. */
int dn_source_stage(dn_source_t *self, dn_store_batch_t *batch);
void dn_source_committed(dn_source_t *self);

/* Stages and applies the pending entries alone. Returns 0, DN_EIO, DN_ENOMEM. */
int dn_source_commit(dn_source_t *self, dn_err_t *err);

/* Entries that may still be appended before the unpublished backlog reaches
 * the window beyond the slowest follower (>= 0): a producer that stops at 0
 * never holds more than a window of entries in memory. Without followers
 * holding the stream (none yet, or only passive ones) nothing is published,
 * so it is the window beyond the cursor: it reaches 0 once a window of
 * entries waits (the node then pauses the logs it follows). For an unheld
 * source it is the window minus the uncommitted entries (0 only while more
 * than a window waits for its commit). */
int64_t dn_source_room(const dn_source_t *self);

/* Handles one message from the source's request PULL socket: ACK and REWIND
 * of this log update the follower's position (REWIND also moves the cursor
 * back to its offset); LEAVE forgets the follower at once (it no longer holds
 * the stream back; an ACK from it later brings it back); anything else is
 * counted in requests_bad and ignored.
 * Returns 0, or DN_ENOMEM. */
int dn_source_on_request(dn_source_t *self, const Dinamo__Envelope *env, dn_err_t *err);

/* Publishes committed entries from the cursor as flow control allows (never
 * waiting: a send that would block ends the pump), forgets timed-out
 * followers, and sends the heartbeat when due. Call it after every round.
 * Returns 0, or DN_EIO / DN_ENOMEM (store or socket failure). */
int dn_source_pump(dn_source_t *self, dn_err_t *err);

/* 1 when the cursor is behind the committed head, or a passive follower's
 * rewind is being served (more to publish), else 0. */
int dn_source_backlog(const dn_source_t *self);

uint64_t dn_source_head(const dn_source_t *self);
dn_source_stats_t dn_source_stats(const dn_source_t *self);

/* Reads entry `offset` of log `log` from store into a new envelope (caller
 * frees with dn_msg_free), e.g. for a service that rebuilds its state from its
 * own log. Returns 0, DN_ENOTFOUND, DN_EFORMAT (damaged entry), DN_EIO, DN_ENOMEM. */
int dn_stream_log_read(dn_store_t *store, const char *log, uint64_t offset,
                       Dinamo__Envelope **env, dn_err_t *err);

/* ---- follower ------------------------------------------------------------ */

typedef struct dn_follower_t dn_follower_t;

typedef struct dn_follower_opts_t {
    const char *log;        /* the source's log name */
    const char *consumer;   /* unique among the source's followers: "scorer_s", "trainer.1of2" */
    int ack_interval_ms;    /* liveness ACK period; 0: 200 */
    int passive;            /* 1: never hold the source back (see the top of this file) */
} dn_follower_opts_t;

typedef struct dn_follower_stats_t {
    uint64_t next;          /* next offset wanted */
    uint64_t delivered;     /* entries handed to the service */
    uint64_t duplicates;    /* entries below next, dropped */
    uint64_t out_of_order;  /* entries beyond next, dropped (each means a loss) */
    uint64_t rewinds;       /* REWIND requests sent */
    uint64_t acks;          /* ACKs sent */
    uint64_t source_head;   /* latest offset announced by a source heartbeat */
    uint64_t skipped;       /* entries refused by the bus and skipped for good */
} dn_follower_stats_t;

/* New follower reading entries from sub (a SUB socket subscribed to the
 * source's PUB) and sending requests on req (a PUSH to the source's request
 * PULL), starting at next = 0. Returns NULL with *err set (DN_EINVAL,
 * DN_ENOMEM). Caller owns it. */
dn_follower_t *dn_follower_new(dn_sock_t *sub, dn_sock_t *req, const dn_follower_opts_t *opts,
                               dn_err_t *err);
void dn_follower_destroy(dn_follower_t **self_p);

/* Restores the position from a checkpoint (before the first dn_follower_flush). */
void dn_follower_set_next(dn_follower_t *self, uint64_t next);

/* Moves the position back to next (no-op unless next < dn_follower_next()),
 * to be handed entries again from there, e.g. when a service takes over work
 * whose checkpoint is older than its own position; the next flush sends a
 * REWIND. Entries in flight beyond next are dropped as out of order and
 * arrive again. */
void dn_follower_rewind(dn_follower_t *self, uint64_t next);
uint64_t dn_follower_next(const dn_follower_t *self);

/* The log's name (owned by self). */
const char *dn_follower_log(const dn_follower_t *self);

#define DN_FOLLOW_SKIP 0    /* not for the service: dropped or a heartbeat */
#define DN_FOLLOW_DELIVER 1 /* process env now; next has advanced past it */
#define DN_FOLLOW_SKIPPED 2 /* a refused entry at next, skipped for good: log it */

/* Classifies one envelope received on sub (see the top of this file).
 * Returns DN_FOLLOW_DELIVER, DN_FOLLOW_SKIP, or a negative error from sending a
 * REWIND (DN_EIO). Envelopes without an offset that are not heartbeats of
 * this log are DN_FOLLOW_SKIP. */
int dn_follower_accept(dn_follower_t *self, const Dinamo__Envelope *env, dn_err_t *err);

/* Tells the follower that the bus refused a message received on sub whose
 * bytes carry log offset `offset` (dn_recv_info_t.has_offset: the stamp in
 * front of every entry carries it). At next: skipped for good, the next ACK
 * goes past it, DN_FOLLOW_SKIPPED (the caller logs it, naming the log, the
 * offset and the refusal; it is reported once: replays of it are then
 * duplicates). Below next: a duplicate, DN_FOLLOW_SKIP. Beyond next: entries
 * before it were lost, a REWIND as for any entry out of order, DN_FOLLOW_SKIP.
 * Returns those, or a negative error from sending the REWIND (DN_EIO). */
int dn_follower_refused(dn_follower_t *self, uint64_t offset, dn_err_t *err);

/* Sends the ACK (the first one as a REWIND) when next changed since the last
 * one, or the ack interval passed. Never blocks: a full
 * request queue skips this ACK. Call it after every round. Returns 0 or DN_EIO. */
int dn_follower_flush(dn_follower_t *self, dn_err_t *err);

dn_follower_stats_t dn_follower_stats(const dn_follower_t *self);

/* Tells the source that consumer (NULL: this follower) left the log, so that
 * flow control stops waiting for it at once instead of after the source's
 * follower timeout: for a follower that stops for good, or for a dead one
 * whose work another service took over. Never blocks (a full queue drops it:
 * the timeout still applies). Returns 0, DN_EIO, DN_ENOMEM. */
int dn_follower_leave(dn_follower_t *self, const char *consumer, dn_err_t *err);

#endif
