/* scorer_node.c: a scorer as a service (dn_scorer_main, scorer.h): the state
 * machine of scorer.c wired into the node (node.h).
 *
 * The node's self is the dn_scorer_t, so that handlers a method adds with
 * dn_node_on reach it directly. The sink's arg is this file's io: the events
 * follower and the scores source, which the node owns. Each event delivered
 * goes to dn_scorer_event; each round is one dn_scorer_advance (the node then
 * commits, publishes and applies back-pressure); the checkpoint body is
 * dn_scorer_save inside the node's framing, restored by dn_scorer_load; the
 * held runs and the method's rows ride in the node's commit batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scorer.h"
#include "stream.h"

typedef struct scorer_io_t {
    dn_follower_t *events;
    dn_source_t *scores;
} scorer_io_t;

static int64_t io_room(void *arg)
{
    return dn_source_room(((scorer_io_t *)arg)->scores);
}

static int io_append(void *arg, Dinamo__Envelope *env, dn_err_t *err)
{
    return dn_source_append(((scorer_io_t *)arg)->scores, env, err);
}

/* ---- node callbacks ---------------------------------------------------------------- */

static int on_event(dn_node_t *node, void *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    (void)node;
    return dn_scorer_event(self, env, err);
}

static int round_work(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    int rc = dn_scorer_advance(self, wait_ms, err);
    if (!rc && dn_scorer_dirty(self))
        dn_node_touch(node);
    return rc;
}

static int tick(dn_node_t *node, void *self, dn_err_t *err)
{
    const dn_scorer_def_t *def = dn_node_arg(node);
    const scorer_io_t *io = dn_scorer_sink_arg(self);
    dn_scorer_stats_t st = dn_scorer_stats(self);
    dn_source_stats_t so = dn_source_stats(io->scores);
    /* Scored: the runs received but those held not scored yet. */
    uint64_t waiting = 0;
    for (int i = 0; i < dn_scorer_held_count(self); i++)
        waiting += !dn_scorer_held_at(self, i)->scored;
    dn_node_progress(node, st.runs - waiting, 0);
    dn_log(DN_LOG_DEBUG, "runs %llu held %d scores %llu (published %llu) followers %d%s%s",
           (unsigned long long)st.runs, st.held, (unsigned long long)so.head,
           (unsigned long long)so.cursor, so.followers,
           st.waiting ? ", waiting for " : "",
           st.waiting ? (def->method->waits_for ? def->method->waits_for : "the method") : "");
    return def->tick ? def->tick(node, self, err) : 0;
}

static void stop(dn_node_t *node, void *self)
{
    const dn_scorer_def_t *def = dn_node_arg(node);
    dn_scorer_stats_t st = dn_scorer_stats(self);
    char extra[512] = "";
    if (def->stop_extra)
        def->stop_extra(dn_scorer_method_self(self), extra, sizeof extra);
    dn_log(DN_LOG_INFO, "stopped: %llu runs, %llu labels, %llu scores ok, %llu insufficient, "
           "%llu rejected, %llu labels for unknown runs%s%s",
           (unsigned long long)st.runs, (unsigned long long)st.labels,
           (unsigned long long)st.scores_ok, (unsigned long long)st.scores_empty,
           (unsigned long long)st.scores_rejected, (unsigned long long)st.labels_unknown,
           extra[0] ? "; " : "", extra);
}

static void save(void *self, dn_wbuf_t *w) { dn_scorer_save(self, w); }

static int load(dn_node_t *node, void *self, dn_rbuf_t *r, dn_err_t *err)
{
    int rc = dn_scorer_load(self, dn_node_store(node), r, err);
    if (rc)
        return rc;
    const scorer_io_t *io = dn_scorer_sink_arg(self);
    dn_scorer_stats_t st = dn_scorer_stats(self);
    dn_log(DN_LOG_INFO, "restored: events next %llu, %d keys, %d held runs, next run_seq %llu%s",
           (unsigned long long)dn_follower_next(io->events), st.keys, st.held,
           (unsigned long long)st.next_seq, st.end_done ? ", end of stream sent" : "");
    return 0;
}

static int stage(void *self, dn_store_batch_t *batch) { return dn_scorer_stage(self, batch); }
static void committed(void *self) { dn_scorer_committed(self); }

static void destroy(void *self)
{
    dn_scorer_t *sc = self;
    scorer_io_t *io = dn_scorer_sink_arg(sc);
    dn_scorer_destroy(&sc);
    free(io);
}

/* The common keys, the logs, the method's create, the scorer. */
static int create(dn_node_t *node, void **self, dn_err_t *err)
{
    static const char *const modes[] = {"lockstep", "live"};
    const dn_scorer_def_t *def = dn_node_arg(node);
    dn_scorer_opts_t opts = {.name = def->name, .log = def->log};
    void *m = NULL;
    int64_t window = 0;
    int mode = 0, rc;
    scorer_io_t *io = calloc(1, sizeof *io);
    if (!io) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = dn_node_choice(node, "mode", modes, 2, &mode, err)) ||
        (rc = dn_node_int(node, "window", 1, INT32_MAX, &window, err)))
        goto fail;
    opts.live = mode == 1;
    opts.pulls = dn_node_bool(node, "pulls");
    dn_follower_opts_t fo = {.log = "events", .consumer = def->name};
    dn_source_opts_t so = {.log = def->log, .service = def->name, .window = (int)window};
    if (!(io->events = dn_node_follow(node, "events", "events_requests", &fo, on_event, err)) ||
        !(io->scores = dn_node_source(node, "scores", "scores_requests", &so, NULL, err))) {
        rc = err->code;
        goto fail;
    }
    if ((rc = def->create(node, &opts, &m, err)))
        goto fail;
    dn_scorer_sink_t sink = {io_room, io_append, io};
    if (!(*self = dn_scorer_new(def->method, &m, &opts, &sink, err))) {
        rc = err->code;
        goto fail;
    }
    dn_log(DN_LOG_INFO, "started: mode %s, window %d, pulls %s", modes[mode], (int)window,
           opts.pulls ? "on" : "off");
    return 0;
fail:
    free(io);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------ */

#define COMMON_KEYS 7

/* The scorer's keys: the common ones, then the method's. */
typedef struct scorer_keys_t {
    dn_config_key_t *keys;
    int n;
    char help[2][96];
} scorer_keys_t;

static int keys_build(const dn_scorer_def_t *def, scorer_keys_t *k)
{
    snprintf(k->help[0], sizeof k->help[0], "%s log (PUB)", def->log);
    snprintf(k->help[1], sizeof k->help[1], "%s requests from followers (PULL)", def->log);
    const dn_config_key_t common[COMMON_KEYS] = {
        {"events", DN_CFG_STRING, "connect:tcp://127.0.0.1:5550", "events log (SUB)"},
        {"events_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5551",
         "events log requests (PUSH: acks, rewinds)"},
        {"scores", DN_CFG_STRING, def->scores, k->help[0]},
        {"scores_requests", DN_CFG_STRING, def->scores_requests, k->help[1]},
        {"mode", DN_CFG_STRING, "lockstep", "lockstep (scores equal `dinamo score`) or live"},
        {"window", DN_CFG_INT, "32", "scores published beyond the slowest follower"},
        {"pulls", DN_CFG_BOOL, "true", "scores carry pulls, reference and uncertainty"},
    };
    k->n = COMMON_KEYS + def->n_keys;
    if (!(k->keys = calloc((size_t)k->n, sizeof *k->keys)))
        return DN_ENOMEM;
    memcpy(k->keys, common, sizeof common);
    if (def->n_keys)
        memcpy(k->keys + COMMON_KEYS, def->keys, (size_t)def->n_keys * sizeof *def->keys);
    return 0;
}

int dn_scorer_main(const dn_scorer_def_t *def, int argc, char **argv)
{
    scorer_keys_t k = {0};
    if (keys_build(def, &k)) {
        fprintf(stderr, "%s: out of memory\n", def->name);
        return 1;
    }
    dn_node_def_t nd = {
        .name = def->name, .usage = def->usage, .keys = k.keys, .n_keys = k.n,
        .flags = def->flags | DN_NODE_STORE, .create = create, .destroy = destroy,
        .round = round_work, .tick = tick, .stop = stop, .ckpt_magic = def->ckpt_magic,
        .ckpt_version = def->ckpt_version, .ckpt_version_min = def->ckpt_version_min,
        .save = save, .load = load, .stage = stage,
        .committed = committed, .arg = def,
    };
    int status = dn_node_main(&nd, argc, argv);
    free(k.keys);
    return status;
}
