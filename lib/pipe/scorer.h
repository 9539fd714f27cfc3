/* scorer.h: the scorer framework. Everything a scorer service does that does
 * not depend on how it scores lives here; a scoring method (DINAMO-S,
 * DINAMO-ML, a future one) plugs in as a small table of functions.
 *
 * What the framework owns:
 *   - the held runs (held.h): a run is held from its arrival until it is
 *     scored and every label of its histograms is applied;
 *   - the per-key table (keytab.h): a key's index, its bin count (fixed by
 *     the first run that names it) and the method's state of the key;
 *   - scheduling. Lockstep: run i is scored only when every label of every
 *     earlier run has been applied (nothing later is scored before), so a
 *     scorer gives exactly the offline tool's scores. Live: runs are scored as
 *     they come and labels applied as they arrive. In both a run is scored
 *     only while the output has room (the window beyond the slowest reader)
 *     and when the method says every key of the run is ready (ML: the right
 *     weight version is loaded); a run that is not ready waits, and in
 *     lockstep every later run with it. At END_OF_STREAM no label will come
 *     any more: what is held is scored and dropped, and END_OF_STREAM is
 *     appended after the last run's scores;
 *   - the entries: one Score per (run, histogram): OK with chi2 and score
 *     (and pulls, reference and uncertainty when `pulls`),
 *     INSUFFICIENT_STATISTICS, or REJECTED with a detail naming run, key and
 *     reason (a bin count other than the key's, or the method's refusal);
 *     then END_OF_STREAM naming the service and its log;
 *   - the checkpoint body (the node frames it) and its restore, the counters
 *     and the lines a scorer logs.
 *
 * Two layers. The state machine (dn_scorer_new .. dn_scorer_committed) takes
 * events in (dn_scorer_event) and gives entries out through a sink (room and
 * append); it knows nothing of processes or ZeroMQ, so it is tested with a
 * fake method and a fake sink (tests/test_scorer.c). dn_scorer_main wires it
 * into a service (node.h): the events log followed as consumer NAME, the
 * scores log produced through a source, the configuration keys every scorer
 * has (events, events_requests, scores, scores_requests, mode, window,
 * pulls) plus the method's, the framed checkpoint, the tick and stop lines.
 *
 * A method's callbacks receive its own instance `m` first. Return codes follow
 * error.h: 0 or a negative DN_E* code with *err set; a negative code from a
 * callback that is not documented as a per-histogram outcome stops the
 * service with err's message (DN_ENOMEM and the like).
 *
 * Thread rules: a scorer belongs to one thread; every callback is called from
 * it. Ownership: the scorer owns the method instance (method->destroy) and
 * every key state (method->key_free); pointers handed to callbacks are
 * borrowed for the call unless said otherwise. */
#ifndef DN_SCORER_H
#define DN_SCORER_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "config.h"
#include "error.h"
#include "held.h"
#include "msg.h"
#include "node.h"
#include "store.h"

typedef struct dn_scorer_t dn_scorer_t;

/* One histogram of a held run, as a method sees it. */
typedef struct dn_scorer_hist_t {
    const char *key;
    int64_t run_number;
    uint64_t seq;              /* the run's run_seq */
    int n_bins;                /* equals the key's bin count */
    const double *counts;      /* [n_bins] */
    const double *variances;   /* [n_bins], or NULL: the Poisson rule */
    double time;               /* the run's Run.time (Unix seconds), NAN when absent */
} dn_scorer_hist_t;

/* What a method's score callback fills. */
typedef struct dn_scorer_out_t {
    double chi2;
    double *pulls, *mu, *sigma; /* [n_bins] each to fill, or all NULL (pulls off) */
    Dinamo__Score *score;       /* the Score being built: the method sets its own
                                 * fields (alpha, model_version); memory it points
                                 * them to must live until the callback's next call */
} dn_scorer_out_t;

/* The table a scoring method plugs in. Required: score, key_new, key_free,
 * key_save, key_load. Everything else may be NULL. */
typedef struct dn_scorer_method_t {
    Dinamo__Method method;     /* Score.method of the entries */
    const char *waits_for;     /* what ready waits for, for the logs ("weights") */

    /* Frees the method instance (after every key state). */
    void (*destroy)(void *m);

    /* A key first named by run run_number with n_bins bins: its state into
     * *state (NULL is a valid state). key is the scorer's copy of the name
     * and stays valid until key_free: a state may keep it. Returns 0 or an
     * error that stops the service (DN_ENOMEM). key_free takes any state
     * key_new or key_load made, NULL included. */
    int (*key_new)(void *m, const char *key, int n_bins, int64_t run_number, void **state,
                   dn_err_t *err);
    void (*key_free)(void *m, void *state);

    /* The method-level step before the first score (S tunes alpha once the
     * first n_hist runs are labelled). Asked before every scoring pass until
     * it returns 1 (go on); 0 holds every run for now; negative: error. It
     * reads the held runs and keys through the accessors below and calls
     * dn_scorer_touch when it changed its state. Not called again after it
     * said 1 (until a restart: then it answers from its restored state). */
    int (*prepare)(void *m, dn_scorer_t *sc, dn_err_t *err);

    /* May histogram h (of key state `state`) be scored now? 1: yes, 0: not
     * yet (the run waits; lower *wait_ms to be asked again that soon).
     * Called for every histogram of a run before any of it is scored. */
    int (*ready)(void *m, void *state, const dn_scorer_hist_t *h, int *wait_ms);

    /* Scores h into out. Returns 0 (OK), DN_EEMPTY (insufficient statistics)
     * or another negative code: the Score is REJECTED with err's message as
     * its reason. Never stops the service. */
    int (*score)(void *m, void *state, const dn_scorer_hist_t *h, dn_scorer_out_t *out,
                 dn_err_t *err);

    /* A good label of scored histogram h was applied: learn it. Bad input is
     * the method's to log and count (return 0); an error stops the service. */
    int (*learn)(void *m, void *state, const dn_scorer_hist_t *h, dn_err_t *err);

    /* The key's state in the checkpoint body, and back (a state like
     * key_new's, then what key_save wrote; r->bad is checked after). On an
     * error key_load leaves *state NULL (it frees what it made). */
    void (*key_save)(void *m, const void *state, dn_wbuf_t *w);
    int (*key_load)(void *m, const char *key, int n_bins, dn_rbuf_t *r, void **state,
                    dn_err_t *err);

    /* The method's own part of the checkpoint body, after the keys; load may
     * also read the method's own tables from store (keys are in place). */
    void (*save)(void *m, dn_wbuf_t *w);
    int (*load)(void *m, dn_scorer_t *sc, dn_store_t *store, dn_rbuf_t *r, dn_err_t *err);

    /* Rows of the method's own tables for the commit batch, and news that
     * the batch was applied. */
    int (*stage)(void *m, dn_store_batch_t *batch);
    void (*committed)(void *m);
} dn_scorer_method_t;

/* Where entries go: room() is how many may still be appended (<= 0: the
 * window is full: nothing more is scored); append() takes a Score or Control
 * envelope (encoded before it returns). */
typedef struct dn_scorer_sink_t {
    int64_t (*room)(void *arg);
    int (*append)(void *arg, Dinamo__Envelope *env, dn_err_t *err);
    void *arg;
} dn_scorer_sink_t;

typedef struct dn_scorer_opts_t {
    const char *name;  /* the service, "scorer_s": Control.service, table NAME.held */
    const char *log;   /* its log, "scores_s": Control.log of END_OF_STREAM */
    int live;          /* 0: lockstep */
    int pulls;         /* Scores carry pulls, reference and uncertainty */
} dn_scorer_opts_t;

typedef struct dn_scorer_stats_t {
    uint64_t runs;             /* runs held (in order) */
    uint64_t labels;           /* labels received */
    uint64_t scores_ok, scores_empty, scores_rejected;
    uint64_t labels_unknown;   /* for a run not yet seen, or a key not in the run */
    uint64_t labels_ignored;   /* a second label, or one for a run done with */
    uint64_t runs_unexpected;  /* not the next run_seq, or after END_OF_STREAM */
    uint64_t next_seq;         /* run_seq expected next */
    int keys, held;
    int waiting;               /* the last pass stopped at a run not ready */
    int end_seen, end_done;    /* END_OF_STREAM received; appended */
} dn_scorer_stats_t;

/* ---- the state machine ------------------------------------------------------- */

/* A new scorer scoring with method, whose instance *m_p it takes (always:
 * on failure method->destroy has been called; *m_p is NULLed). opts' strings
 * are copied; sink is copied (its arg borrowed). Returns NULL with *err set
 * (DN_EINVAL: a required callback missing; DN_ENOMEM). */
dn_scorer_t *dn_scorer_new(const dn_scorer_method_t *method, void **m_p,
                           const dn_scorer_opts_t *opts, const dn_scorer_sink_t *sink,
                           dn_err_t *err);

/* Frees the key states, the method instance and the scorer; accepts NULL and
 * *self_p NULL; nulls *self_p. */
void dn_scorer_destroy(dn_scorer_t **self_p);

/* One entry of the events log, delivered once and in order: a Run (held when
 * it is the next run_seq, else counted and skipped), a Label (recorded, and
 * applied when its run is scored), END_OF_STREAM; anything else is ignored.
 * Returns 0, or an error that stops the service (DN_ENOMEM, a method's). */
int dn_scorer_event(dn_scorer_t *self, const Dinamo__Envelope *env, dn_err_t *err);

/* Scores everything that may be scored now (see the top), applies the
 * labels waiting for those scores, drops runs done with, appends
 * END_OF_STREAM when due. What is left waits for an event, for room, or for
 * the method: *wait_ms is lowered to the method's hint while a run is not
 * ready, otherwise left alone. Returns 0 or an error of the sink or the
 * method. */
int dn_scorer_advance(dn_scorer_t *self, int *wait_ms, dn_err_t *err);

/* The checkpoint body: positions, flags, counters that persist, END_OF_STREAM
 * received, every key (name, bins, method key_save), then method->save. */
void dn_scorer_save(const dn_scorer_t *self, dn_wbuf_t *w);

/* Reads a body written by dn_scorer_save into a fresh scorer (no key yet),
 * then method->load and the held runs from store. Returns 0, DN_EFORMAT (a
 * damaged body or held run, named), DN_ESTATE (not a fresh scorer), DN_ENOMEM,
 * DN_EIO, or a method's code. */
int dn_scorer_load(dn_scorer_t *self, dn_store_t *store, dn_rbuf_t *r, dn_err_t *err);

/* Adds the changed and dropped held runs and the method's rows to batch (the
 * caller adds the entries and the checkpoint), and after the batch was
 * applied, clears the changes. Returns 0 or the batch's error. */
int dn_scorer_stage(dn_scorer_t *self, dn_store_batch_t *batch);
void dn_scorer_committed(dn_scorer_t *self);

/* 1 when the state changed since the last dn_scorer_committed. */
int dn_scorer_dirty(const dn_scorer_t *self);

dn_scorer_stats_t dn_scorer_stats(const dn_scorer_t *self);

/* ---- for methods -------------------------------------------------------------- */

void *dn_scorer_method_self(const dn_scorer_t *self);  /* the method instance */
void *dn_scorer_sink_arg(const dn_scorer_t *self);     /* the sink's arg */

/* Marks the state changed (a method's prepare that changed its state). */
void dn_scorer_touch(dn_scorer_t *self);

/* END_OF_STREAM received (no label will come any more). */
int dn_scorer_end_seen(const dn_scorer_t *self);

/* Keys: index of key (-1: unknown), count, and per index (0 <= i < count)
 * name, bins and the method's state. Names live as long as the scorer. */
int dn_scorer_key_find(const dn_scorer_t *self, const char *key);
int dn_scorer_key_count(const dn_scorer_t *self);
const char *dn_scorer_key_name(const dn_scorer_t *self, int i);
int dn_scorer_key_bins(const dn_scorer_t *self, int i);
int dn_scorer_key_bins_y(const dn_scorer_t *self, int i); /* 2-D: bins of y; 1-D: 0 */
void *dn_scorer_key_state(const dn_scorer_t *self, int i);

/* Held runs, lowest run_seq first (borrowed: valid until the next event or
 * advance), and the key index of histogram j of one, -1 when the key is
 * unknown or the histogram's binning (bins, bins of y) is not the key's. */
int dn_scorer_held_count(const dn_scorer_t *self);
const dn_held_t *dn_scorer_held_at(const dn_scorer_t *self, int i);
int dn_scorer_hist_key(const dn_scorer_t *self, const dn_held_t *h, int j);

/* ---- a scorer service ------------------------------------------------------------ */

/* What makes a scorer service: a method and what only it has. */
typedef struct dn_scorer_def_t {
    const char *name;            /* "scorer_s": config section, log name, store,
                                  * checkpoint, events consumer */
    const char *log;             /* "scores_s": the log it produces */
    const char *usage;           /* --help text under "usage:", or NULL */
    const char *scores;          /* default endpoint of key scores (PUB) */
    const char *scores_requests; /* default endpoint of key scores_requests (PULL) */
    const dn_config_key_t *keys; /* the method's own keys */
    int n_keys;
    int flags;                   /* DN_NODE_BLAS when the method wants it */
    const char *ckpt_magic;      /* 4 bytes */
    uint32_t ckpt_version;
    uint32_t ckpt_version_min;   /* oldest version still read (node.h); 0: only this one */
    const dn_scorer_method_t *method;
    /* Reads the method's keys and makes its extra inputs through node (a
     * handler made with dn_node_on receives the dn_scorer_t as self; the
     * scores source exists already). Returns 0 with *m set, or an error with
     * *m NULL (create frees what it made). */
    int (*create)(dn_node_t *node, const dn_scorer_opts_t *opts, void **m, dn_err_t *err);
    /* Every tick, after the framework's DEBUG line. May be NULL. */
    int (*tick)(dn_node_t *node, dn_scorer_t *sc, dn_err_t *err);
    /* The method's counters for the stop line ("weights 3 received, ..."),
     * into buf[cap]. May be NULL. */
    void (*stop_extra)(void *m, char *buf, size_t cap);
} dn_scorer_def_t;

/* Runs the scorer service def describes with the process's arguments
 * (node.h: configuration, store <data_dir>/NAME, signals, loop, teardown).
 * Returns the exit status: 0 after an orderly stop or --help, 1 after an
 * error. */
int dn_scorer_main(const dn_scorer_def_t *def, int argc, char **argv);

#endif
