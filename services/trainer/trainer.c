/* trainer: the DINAMO-ML training service (docs/pipeline.md).
 *
 * Follows the events log (runs, labels, END_OF_STREAM) and trains, per owned
 * histogram key, a dn_ml_t built exactly as dn_score_dataset_ml builds it;
 * each version of a key's weights is put to the registry (lib/pipe/registry.h),
 * which stores it and then publishes it to scorer_ml (training.c). The
 * leases and key states are the registry's too: the trainer opens no store
 * another process opens, so trainers can run on any host. Which keys are its
 * own: a static shard (shard = i/n), or a fair share of the live trainers'
 * keys through the lease protocol (shard = auto; ownership.c). Its state is
 * per key (keystate.c) and it commits it itself, key by key, with its
 * progress (checkpoint.c): there is no node checkpoint, since keys move
 * between trainers.
 *
 * The loop, on the node (lib/pipe/node.h):
 *   - every events entry: applied to each owned key that has not seen it,
 *     then every owned key's next moves past it; a label trains what became
 *     ready;
 *   - every round: a balance step when a key became known (in lockstep
 *     nobody trains an unowned key, so waiting for the tick would stall the
 *     stream), training, and a checkpoint every checkpoint_s;
 *   - every tick: the member lease renewed, a balance step;
 *   - at SIGTERM: a last checkpoint (elastic: every key given back with it),
 *     the member slot released, the stop line.
 * After a kill -9 the keys' next offsets are replayed and, training being
 * deterministic, the same versions put again bit for bit (the registry does
 * not publish a version it already holds with the same bytes). A registry
 * that does not answer for registry_timeout_s stops the trainer (exit 1) for
 * its supervisor to restart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "mlfile.h"
#include "trainer.h"

/* ---- the loop ------------------------------------------------------------------------ */

static int on_event(dn_node_t *node, void *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    (void)node;
    trainer_t *tr = self;
    uint64_t off = env->offset;
    int rc = 0;
    tr->dirty = 1;
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        rc = trainer_on_run(tr, env->run, off, err);
        break;
    case DN_MSG_LABEL:
        trainer_on_label(tr, env->label, off);
        break;
    case DN_MSG_CONTROL:
        if (env->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM && off >= tr->frontier)
            dn_log(DN_LOG_INFO, "end of stream on events after %llu runs: %llu versions",
                   (unsigned long long)tr->runs, (unsigned long long)tr->versions);
        break;
    default:
        break;
    }
    /* Every owned key has now seen this event. */
    for (int k = 0; k < trainer_n_keys(tr); k++)
        if (tr->keys[k].next <= off) {
            tr->keys[k].next = off + 1;
            tr->keys[k].dirty = 1;
        }
    if (off + 1 > tr->frontier)
        tr->frontier = off + 1;
    if (!rc && dn_msg_type(env) == DN_MSG_LABEL)
        rc = trainer_train_ready(tr, err);
    return rc;
}

static int round_work(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    (void)node;
    (void)wait_ms;
    trainer_t *tr = self;
    int rc = 0;
    if (tr->rebalance) {
        tr->rebalance = 0;
        rc = trainer_balance(tr, err);
    }
    if (!rc)
        rc = trainer_train_ready(tr, err);
    if (!rc && tr->dirty && dn_clock_mono() - tr->last_ckpt >= tr->checkpoint_s)
        rc = trainer_checkpoint(tr, err);
    return rc;
}

/* The runs every owned key has trained through: the first run still waiting
 * for its label (or, with none waiting, the next run to come) of the key
 * furthest behind; 0 with no key owned. */
static uint64_t trained_through(const trainer_t *tr)
{
    uint64_t upto = UINT64_MAX;
    for (int k = 0; k < trainer_n_keys(tr); k++) {
        const tkey_t *ks = &tr->keys[k];
        uint64_t next = ks->n_items ? ks->items[0].seq : ks->next_run_seq;
        if (next < upto)
            upto = next;
    }
    return upto == UINT64_MAX ? 0 : upto;
}

static int tick(dn_node_t *node, void *self, dn_err_t *err)
{
    trainer_t *tr = self;
    int rc = trainer_renew(tr, err);
    if (!rc)
        rc = trainer_balance(tr, err);
    if (rc)
        return rc;
    int held = 0;
    for (int k = 0; k < trainer_n_keys(tr); k++)
        held += tr->keys[k].n_items;
    dn_node_progress(node, trained_through(tr), 0);
    dn_log(DN_LOG_DEBUG, "runs %llu labels %llu versions %llu keys %d held %d",
           (unsigned long long)tr->runs, (unsigned long long)tr->labels,
           (unsigned long long)tr->versions, trainer_n_keys(tr), held);
    return 0;
}

/* The last checkpoint; elastic: every key handed to nobody with it, so the
 * other trainers take them over at their next tick. */
static int finish(dn_node_t *node, void *self, dn_err_t *err)
{
    (void)node;
    trainer_t *tr = self;
    return tr->lease ? trainer_leave(tr, err) : trainer_checkpoint(tr, err);
}

static void stop(dn_node_t *node, void *self)
{
    (void)node;
    const trainer_t *tr = self;
    dn_lease_stats_t ls = {0};
    if (tr->lease)
        ls = dn_lease_stats(tr->lease);
    dn_log(DN_LOG_INFO, "stopped: %llu runs, %llu labels, %llu versions, %llu wrong bin counts, "
           "%llu not learned, %llu labels for unknown runs, keys taken %llu, given back %llu, "
           "lost %llu; %.3f s learning, %.3f s putting versions",
           (unsigned long long)tr->runs, (unsigned long long)tr->labels,
           (unsigned long long)tr->versions, (unsigned long long)tr->bad_bins,
           (unsigned long long)tr->learn_failed, (unsigned long long)tr->labels_unknown,
           (unsigned long long)ls.taken, (unsigned long long)ls.given,
           (unsigned long long)ls.lost, tr->learn_s, tr->put_s);
}

/* ---- configuration and start ------------------------------------------------------------- */

static const dn_config_key_t own_keys[] = {
    {"events", DN_CFG_STRING, "connect:tcp://127.0.0.1:5550", "events log (SUB)"},
    {"events_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5551",
     "events log requests (PUSH: acks, rewinds)"},
    {"registry", DN_CFG_STRING, "connect:tcp://127.0.0.1:5557",
     "the registry (DEALER): weights versions, leases and key states are kept there"},
    {"registry_timeout_s", DN_CFG_DOUBLE, "60",
     "give up (exit 1, to be restarted) when the registry has not answered this long"},
    {"weights_file", DN_CFG_STRING, "", "initial weights (DNML or raw), optional"},
    {"shard", DN_CFG_STRING, "0/1",
     "i/n: train the keys k with dn_shard_of(k, n) == i; auto: every live trainer with shard = "
     "auto takes its fair share of the keys (docker compose --scale)"},
    {"lease_s", DN_CFG_DOUBLE, "15", "shard = auto: the keys of a trainer silent this long are "
                                     "taken over by the others"},
    {"keep_last", DN_CFG_INT, "20", "versions kept per key in the weights store"},
    {"seed", DN_CFG_INT, "0", "DINAMO-ML initialisation and dropout seed"},
    {"threads", DN_CFG_INT, "1", "threads per training step (1 or 2; the same weights bit for "
                                 "bit): 2 when this trainer has a second core to itself"},
    {"checkpoint_s", DN_CFG_DOUBLE, "10", "seconds between checkpoints"},
};

/* shard: "auto" (lease_s read then) or "i/n". */
static int read_shard(trainer_t *tr, dn_node_t *node, int *elastic, dn_err_t *err)
{
    const char *shard = dn_node_str(node, "shard");
    int used = 0;
    tr->shard = 0;
    tr->shards = 1;
    *elastic = !strcmp(shard, "auto");
    if (*elastic)
        return dn_node_double(node, "lease_s", 1, 1e9, &tr->lease_s, err);
    if (sscanf(shard, "%d/%d%n", &tr->shard, &tr->shards, &used) != 2 || shard[used] ||
        tr->shards < 1 || tr->shard < 0 || tr->shard >= tr->shards)
        return dn_err_set(err, DN_EINVAL, "shard '%s': want i/n with 0 <= i < n, or auto",
                          shard);
    return 0;
}

static int read_config(trainer_t *tr, dn_node_t *node, int *elastic, dn_err_t *err)
{
    int64_t keep_last, seed, threads;
    int rc;
    if ((rc = dn_node_int(node, "keep_last", 1, INT32_MAX, &keep_last, err)) ||
        (rc = dn_node_int(node, "seed", INT64_MIN, INT64_MAX, &seed, err)) ||
        (rc = dn_node_int(node, "threads", 1, DN_ML_MAX_THREADS, &threads, err)) ||
        (rc = dn_node_double(node, "checkpoint_s", 0, 1e9, &tr->checkpoint_s, err)) ||
        (rc = read_shard(tr, node, elastic, err)))
        return rc;
    tr->keep_last = (int)keep_last;
    tr->seed = (uint64_t)seed;
    tr->threads = (int)threads;
    tr->policy = dn_node_policy(node);
    const char *wf = dn_node_str(node, "weights_file");
    if (wf[0] && (rc = dn_mlfile_read(wf, &tr->weights, &tr->weights_len, err)))
        return rc;
    return 0;
}

/* The registry, and (elastic) this trainer's member slot. */
static int open_shared(trainer_t *tr, dn_node_t *node, int elastic, dn_err_t *err)
{
    double timeout_s;
    int rc = dn_node_double(node, "registry_timeout_s", 1, 86400, &timeout_s, err);
    if (rc)
        return rc;
    dn_registry_opts_t ro = {.timeout_ms = (int)(timeout_s * 1000)};
    dn_sock_t *dealer = dn_node_socket(node, ZMQ_DEALER, "registry", NULL, err);
    if (!dealer || !(tr->registry = dn_registry_new(dealer, "trainer", &ro, err)))
        return err->code;
    if (!(tr->shared = dn_registry_lease_store(tr->registry)))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    rc = elastic ? trainer_join(tr, err) : 0;
    if (rc)
        return rc;
    if (elastic)
        snprintf(tr->name, sizeof tr->name, "trainer/member-%d", dn_lease_slot(tr->lease));
    else
        snprintf(tr->name, sizeof tr->name, "trainer/shard-%dof%d", tr->shard, tr->shards);
    tr->progress_name = tr->name + strlen("trainer/");
    return 0;
}

/* The events followed, named after the member slot or shard. */
static int open_sockets(trainer_t *tr, dn_node_t *node, dn_err_t *err)
{
    char consumer[64];
    if (tr->lease)
        snprintf(consumer, sizeof consumer, "trainer.m%d", dn_lease_slot(tr->lease));
    else
        snprintf(consumer, sizeof consumer, "trainer.%dof%d", tr->shard, tr->shards);
    dn_follower_opts_t fo = {.log = "events", .consumer = consumer};
    if (!(tr->follower = dn_node_follow(node, "events", "events_requests", &fo, on_event, err)))
        return err->code;
    return 0;
}

static void destroy(void *self)
{
    trainer_t *tr = self;
    trainer_keys_free(tr);
    dn_lease_destroy(&tr->lease);
    dn_lease_store_destroy(&tr->shared);
    dn_registry_destroy(&tr->registry);
    dn_team_destroy(&tr->team); /* after the models that borrowed it */
    free(tr->weights);
    free(tr);
}

static int create(dn_node_t *node, void **self, dn_err_t *err)
{
    trainer_t *tr = calloc(1, sizeof *tr);
    if (!(*self = tr) || !(tr->index = dn_keytab_new()))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int elastic = 0, rc;
    if ((rc = read_config(tr, node, &elastic, err)))
        return rc;
    if (tr->threads > 1 && !(tr->team = dn_team_new(tr->threads)))
        return dn_err_set(err, DN_ENOMEM, "cannot start %d training threads", tr->threads);
    if ((rc = open_shared(tr, node, elastic, err)) || (rc = open_sockets(tr, node, err)) ||
        (rc = trainer_restore(tr, err)) || (rc = trainer_balance(tr, err)))
        return rc;
    if (tr->lease)
        dn_log(DN_LOG_INFO, "started: shard auto (member %d), seed %llu, keep_last %d, %d "
               "thread(s) per step, registry %s", dn_lease_slot(tr->lease),
               (unsigned long long)tr->seed, tr->keep_last, tr->threads,
               dn_node_str(node, "registry"));
    else
        dn_log(DN_LOG_INFO, "started: shard %d/%d, seed %llu, keep_last %d, %d thread(s) per "
               "step, registry %s", tr->shard, tr->shards, (unsigned long long)tr->seed,
               tr->keep_last, tr->threads, dn_node_str(node, "registry"));
    return 0;
}

int main(int argc, char **argv)
{
    dn_node_def_t def = {
        .name = "trainer",
        .usage = "Trains DINAMO-ML per histogram key on the events log and publishes the\n"
                 "weights; shard = auto shares the keys among the live trainers.\n",
        .keys = own_keys, .n_keys = (int)(sizeof own_keys / sizeof *own_keys),
        .flags = DN_NODE_BLAS,
        .create = create, .destroy = destroy, .round = round_work, .tick = tick,
        .finish = finish, .stop = stop,
    };
    return dn_node_main(&def, argc, argv);
}
