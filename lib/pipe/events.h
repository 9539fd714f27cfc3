/* events.h: the producer side of the events log (docs/pipeline.md), what the
 * generator and the feed both are: a service that puts runs into a stream,
 * labels them, ends the stream, and takes people's labels for its runs.
 *
 * An events producer appends, through the source it is given (stream.h):
 *   - runs: one Run envelope each, run_seq = the number of runs appended
 *     before it (0, 1, 2, ...: its position in the stream, across restarts);
 *   - its own labels (the generator's ground truth, the labels a feed's input
 *     came with), who = the service's name, time = when appended;
 *   - END_OF_STREAM, once, after the last run and label, with the counts of
 *     runs and labels appended;
 *   - labels arriving on its requests socket (`dinamo label`, the evaluator's
 *     auto-accept), under one rule (dn_events_take_label): a label for a run
 *     the stream does not hold is dropped with a warning; an automatic label
 *     for a run the producer labels itself is dropped (the producer's verdict
 *     stands); any other label is appended with the run's run_seq, the
 *     stream's name, no truth (truth comes from the producer only) and its
 *     time (now when it had none). Every label taken stays in the log in
 *     arrival order, so a relabelling stands next to the first verdict. A
 *     label the log's validation refuses is dropped with a warning too: bad
 *     input never stops the producer.
 * Counts: `labels` is every label in the log, the producer's own and those
 * taken; END_OF_STREAM's n_labels is that count.
 *
 * What fixes the log's content (the fingerprint: input or parameters,
 * stream name, label delays) is saved with the counts (dn_events_save, in
 * the service's checkpoint body, in the same transaction as the entries),
 * and a restart with another fingerprint over the same log is refused: the
 * log would hold two streams.
 *
 * Configuration (dn_events_open; declare DN_EVENTS_KEYS among the service's
 * keys): events (PUB), requests (PULL: followers' acks and rewinds, labels),
 * window, min_followers, follower_timeout_ms, required_followers (a comma
 * separated list: when given, only those followers hold the stream back),
 * max_followers, exit_at_end.
 *
 * Thread rules: the thread of the source (the node's). Ownership: the source
 * is borrowed and outlives the producer (the node's does); strings of opts
 * are copied. */
#ifndef DN_EVENTS_H
#define DN_EVENTS_H

#include <stdint.h>

#include "bytes.h"
#include "config.h"
#include "error.h"
#include "msg.h"
#include "node.h"
#include "runin.h"
#include "stream.h"

typedef struct dn_events_t dn_events_t;

/* Runs a producer appends in one service round at most, so that followers'
 * requests are served between. */
#define DN_EVENTS_RUNS_PER_ROUND 16

/* The configuration keys dn_events_open reads, for a service's key table. */
#define DN_EVENTS_KEYS                                                                     \
    {"events", DN_CFG_STRING, "bind:tcp://127.0.0.1:5550", "events log (PUB)"},            \
    {"requests", DN_CFG_STRING, "bind:tcp://127.0.0.1:5551",                               \
     "requests of the followers (PULL: acks, rewinds) and people's labels"},               \
    {"window", DN_CFG_INT, "32", "entries published beyond the slowest follower"},         \
    {"min_followers", DN_CFG_INT, "1", "publish nothing before this many followers acked"}, \
    {"follower_timeout_ms", DN_CFG_INT, "30000",                                           \
     "a follower silent this long, or behind and not progressing this long, no longer "    \
     "holds the stream back"},                                                             \
    {"required_followers", DN_CFG_STRING, "",                                              \
     "comma-separated consumer names; when given, only these followers hold the stream "   \
     "back (others are served but never waited for)"},                                     \
    {"max_followers", DN_CFG_INT, "64", "followers the events log keeps track of at most"}, \
    {"exit_at_end", DN_CFG_BOOL, "false",                                                  \
     "exit once every follower has the whole stream, its end included (else keep "         \
     "serving rewinds)"}

typedef struct dn_events_opts_t {
    const char *service;     /* "generator", "feed": who of its labels, Control.service */
    const char *stream;      /* the stream's name (Run, Label, Control .stream) */
    const char *fingerprint; /* what fixes the log's content; NULL: "" */
    /* Why automatic labels are dropped for the runs the producer labels
     * itself ("the input labelled it"); NULL: "its producer labelled it". */
    const char *own_label_rule;
} dn_events_opts_t;

/* What the producer knows of the run a label names (dn_events_take_label). */
typedef struct dn_events_run_t {
    int found;        /* the stream holds the run */
    uint64_t run_seq; /* its run_seq, when found */
    int labelled;     /* the producer labels it itself: no automatic label is taken */
} dn_events_run_t;

/* One of the producer's own labels. */
typedef struct dn_events_label_t {
    int64_t run_number;
    uint64_t run_seq;
    int bad;                    /* 0 good, 1 bad */
    Dinamo__LabelSource source; /* GENERATOR, RECORDED */
    const char *histogram_key;  /* NULL: every histogram of the run */
    const char *reason;         /* NULL: none */
    const Dinamo__Truth *truth; /* NULL: none (synthetic streams only) */
} dn_events_label_t;

typedef struct dn_events_stats_t {
    uint64_t runs;    /* runs appended: the next run's run_seq */
    uint64_t labels;  /* labels appended: the producer's own and those taken */
    uint64_t taken;   /* labels taken from requests (since start) */
    uint64_t dropped; /* labels from requests dropped (since start) */
    int ended;        /* END_OF_STREAM appended */
} dn_events_stats_t;

/* A producer appending to source (borrowed). Returns it (the caller owns
 * it), or NULL with *err set: DN_EINVAL (no service or stream name),
 * DN_ENOMEM. */
dn_events_t *dn_events_new(dn_source_t *source, const dn_events_opts_t *opts, dn_err_t *err);

/* The producer of a node service: reads DN_EVENTS_KEYS (range-checked, errors
 * name the key), makes the source "events" through dn_node_source with
 * on_label for the label requests (the service's function, which looks the
 * run up and calls dn_events_take_label), and the producer over it. Call it
 * from def->create. Returns the producer (the caller owns it; the source is
 * the node's), or NULL with *err set. */
dn_events_t *dn_events_open(dn_node_t *node, const dn_events_opts_t *opts,
                            dn_node_entry_fn on_label, dn_err_t *err);

/* Frees *self_p; accepts NULL and *self_p NULL; nulls it. */
void dn_events_destroy(dn_events_t **self_p);

/* Appends run run_number taken at `time` (Unix seconds) with its n_hists
 * histograms (read-only; their invariants are runin.h's), as run_seq
 * dn_events_stats().runs. Returns 0, or the source's error (validation
 * codes, DN_ENOMEM) with *err naming the run; nothing appended then. */
int dn_events_append_run(dn_events_t *self, int64_t run_number, double time,
                         const dn_histin_t *hists, int n_hists, dn_err_t *err);

/* Appends one of the producer's own labels. Returns 0, or the source's error
 * with *err naming the run. */
int dn_events_append_label(dn_events_t *self, const dn_events_label_t *label, dn_err_t *err);

/* Appends END_OF_STREAM: final_run_number (-1 when there is none to name),
 * the last run_seq, the counts of runs and labels. Logs it. Returns 0,
 * DN_ESTATE (already ended), or the source's error. */
int dn_events_append_eos(dn_events_t *self, int64_t final_run_number, dn_err_t *err);

/* A label from a request, under the rule at the top of this file; run is what
 * the producer knows of label->run_number. Returns 0 (taken or dropped: both
 * logged and counted), or DN_ENOMEM / DN_EIO (the service cannot go on). */
int dn_events_take_label(dn_events_t *self, const Dinamo__Label *label,
                         const dn_events_run_t *run, dn_err_t *err);

/* For producers whose run_seq i is row i of a table of run numbers in
 * increasing order (a dataset's rows): 1 with *row set when run_number is
 * among the first n_rows rows, else 0. */
int dn_events_find_row(const int64_t *run_numbers, uint64_t n_rows, int64_t run_number,
                       uint64_t *row);

/* Entries that may still be appended now (dn_source_room of the source):
 * a producer appends nothing while it is 0 (flow control). */
int64_t dn_events_room(const dn_events_t *self);

/* The counts (dn_events_stats_t), by value. */
dn_events_stats_t dn_events_stats(const dn_events_t *self);

/* The source appended to (borrowed: the caller's, or the node's), for its
 * statistics. */
dn_source_t *dn_events_source(const dn_events_t *self);

/* 1 when END_OF_STREAM is appended and every live follower (one at least)
 * has acknowledged the whole log, published to the end. */
int dn_events_delivered(const dn_events_t *self);

/* With exit_at_end (dn_events_open), once dn_events_delivered: logs it and
 * stops the node (an orderly stop). Call it at the end of each round. */
void dn_events_stop_when_delivered(const dn_events_t *self, dn_node_t *node);

/* The producer's part of the service's checkpoint body: fingerprint, runs,
 * labels, ended. Save appends it to w (w->oom says when memory ran out);
 * load reads it back: DN_EMISMATCH naming both fingerprints when the log was
 * written with another, DN_EFORMAT when the record is truncated. */
void dn_events_save(const dn_events_t *self, dn_wbuf_t *w);
int dn_events_load(dn_events_t *self, dn_rbuf_t *r, dn_err_t *err);

#endif
