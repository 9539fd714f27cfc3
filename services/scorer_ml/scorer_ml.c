/* scorer_ml: the DINAMO-ML scorer service (docs/pipeline.md), a method of the
 * scorer framework (lib/pipe/scorer.h), which follows the events log as
 * consumer "scorer_ml" and appends the Scores and END_OF_STREAM to the log
 * "scores_ml" in lockstep or live order.
 *
 * Per histogram key a *frozen* dn_ml_t (dn_ml_new_for, as the trainer and the
 * offline tool make theirs): it keeps the good-run contexts (a good label
 * learns the run without training) and its parameters are replaced by the
 * weight version the run needs (weights.h): received from the trainers on the
 * weights SUB socket, which they connect to, or read from the shared weights
 * store. A run is ready to be scored when every key of it has that version
 * loaded; in lockstep the scores then equal `dinamo score --method ml`.
 *
 * State (in <data_dir>/scorer_ml with the framework's, committed in the same
 * batch): per key the good runs learned and the last one (checkpoint
 * "scorer_ml", DNSM version 2), the held runs (table "scorer_ml.held") and the
 * last M + K good runs of every key (table "scorer_ml.good", good.h), from
 * which a restarted scorer rebuilds its trackers' contexts. The trackers'
 * parameters are not checkpointed: they are always a stored weight version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dinamo_ml.h"
#include "good.h"
#include "log.h"
#include "node.h"
#include "policy.h"
#include "scorer.h"
#include "weights.h"

typedef struct ml_method_t {
    const dn_policy_t *policy;   /* min_entries per key (the node's) */
    uint64_t seed;               /* as the trainers' */
    ml_weights_t *weights;
    ml_good_t *good;             /* good-run rows waiting for the commit */
} ml_method_t;

typedef struct ml_key_t {
    ml_wkey_t w;                 /* key, tracker, cache, good runs learned */
    ml_wcache_t cache;
    ml_ring_t ring;              /* run_seqs of its rows in the good-run table */
} ml_key_t;

/* ---- keys ------------------------------------------------------------------------ */

static void key_free(void *self, void *state)
{
    (void)self;
    ml_key_t *ks = state;
    if (!ks)
        return;
    dn_ml_destroy(&ks->w.ml);
    ml_wcache_free(&ks->cache);
    ml_ring_free(&ks->ring);
    free(ks);
}

/* A key's frozen tracker, no version loaded, no good run learned. */
static int key_make(const ml_method_t *m, const char *key, int n_bins, ml_key_t **out,
                    dn_err_t *err)
{
    ml_key_t *ks = calloc(1, sizeof *ks);
    if (!ks)
        return dn_err_set(err, DN_ENOMEM, "out of memory: key '%s'", key);
    ml_wcache_init(&ks->cache);
    ks->w = (ml_wkey_t){.key = key, .cache = &ks->cache, .last_good = -1};
    dn_ml_setup_t setup = {.n_bins = n_bins, .seed = m->seed, .frozen = 1,
                           .min_entries = dn_policy_lookup(m->policy, key, NULL).min_entries};
    int rc = dn_ml_new_for(&setup, &ks->w.ml, err);
    if (rc) {
        dn_err_prefix(err, "key '%s' (%d bins)", key, n_bins);
    } else {
        const dn_ml_opts_t *o = dn_ml_opts(ks->w.ml);
        if (ml_ring_init(&ks->ring, o->model.context + o->batch_runs))
            rc = dn_err_set(err, DN_ENOMEM, "out of memory: key '%s'", key);
    }
    if (rc)
        key_free(NULL, ks);
    else
        *out = ks;
    return rc;
}

static int key_new(void *self, const char *key, int n_bins, int64_t run_number, void **state,
                   dn_err_t *err)
{
    (void)run_number;
    return key_make(self, key, n_bins, (ml_key_t **)state, err);
}

static void key_save(void *self, const void *state, dn_wbuf_t *w)
{
    (void)self;
    const ml_key_t *ks = state;
    dn_wb_u64(w, ks->w.n_good);
    dn_wb_u64(w, (uint64_t)ks->w.last_good);
}

static int key_load(void *self, const char *key, int n_bins, dn_rbuf_t *r, void **state,
                    dn_err_t *err)
{
    ml_key_t *ks = NULL;
    int rc = key_make(self, key, n_bins, &ks, err);
    if (rc)
        return rc;
    ks->w.n_good = dn_rb_u64(r);
    ks->w.last_good = (int64_t)dn_rb_u64(r);
    *state = ks;
    return 0;
}

/* ---- scoring and learning -------------------------------------------------------------- */

static int ready(void *self, void *state, const dn_scorer_hist_t *h, int *wait_ms)
{
    ml_key_t *ks = state;
    if (ml_weights_ready(((ml_method_t *)self)->weights, &ks->w, h->seq))
        return 1;
    if (*wait_ms > (int)(ML_STORE_RETRY_S * 1000))
        *wait_ms = (int)(ML_STORE_RETRY_S * 1000);
    return 0;
}

static int score(void *self, void *state, const dn_scorer_hist_t *h, dn_scorer_out_t *out,
                 dn_err_t *err)
{
    (void)self;
    ml_key_t *ks = state;
    out->score->has_model_version = 1;
    out->score->model_version = (uint64_t)ks->cache.loaded;
    return dn_ml_score(ks->w.ml, (int64_t)h->seq, h->counts, h->variances, &out->chi2,
                       out->pulls, out->mu, out->sigma, err);
}

/* A good run joins the key's contexts and the good-run table. */
static int learn(void *self, void *state, const dn_scorer_hist_t *h, dn_err_t *err)
{
    ml_method_t *m = self;
    ml_key_t *ks = state;
    dn_err_t why = {0};
    int rc = dn_ml_learn(ks->w.ml, (int64_t)h->seq, h->counts, h->variances, NULL, NULL, &why);
    if (rc == DN_ENOMEM)
        return dn_err_set(err, rc, "out of memory applying a label: %s", why.msg);
    if (rc == DN_EEMPTY || rc == DN_ERANGE || rc == DN_EINVAL) {
        /* Not in the trainer's good-run set either (same checks): no version. */
        if (rc != DN_EEMPTY)
            dn_log(DN_LOG_WARN, "run %lld: histogram '%s': good run not learned: %s",
                   (long long)h->run_number, h->key, why.msg);
        return 0;
    }
    /* Learned (a model error would still have added it, as for the trainer). */
    ks->w.n_good++;
    ks->w.last_good = (int64_t)h->seq;
    if (ml_good_record(m->good, &ks->ring, h->key, h->seq, h->n_bins, h->counts, h->variances))
        return dn_err_set(err, DN_ENOMEM, "out of memory recording good run %llu of '%s'",
                          (unsigned long long)h->seq, h->key);
    return 0;
}

/* ---- the good-run table ------------------------------------------------------------------ */

/* A kept good run at a restart: learned again by its key's tracker. */
static int relearn(void *arg, const char *key, uint64_t seq, int n_bins, const double *counts,
                   const double *variances, dn_err_t *err)
{
    const dn_scorer_t *sc = arg;
    int k = dn_scorer_key_find(sc, key);
    ml_key_t *ks = dn_scorer_key_state(sc, k);
    if (!ks || dn_scorer_key_bins(sc, k) != n_bins)
        return dn_err_set(err, DN_EFORMAT, "damaged good run of key '%s' in the store", key);
    dn_err_t why = {0};
    int rc = dn_ml_learn(ks->w.ml, (int64_t)seq, counts, variances, NULL, NULL, &why);
    if (rc && rc != DN_EEMPTY)
        return dn_err_set(err, DN_EFORMAT, "good run %llu of key '%s': %s",
                          (unsigned long long)seq, key, why.msg);
    ml_ring_restore(&ks->ring, seq);
    return 0;
}

static int load(void *self, dn_scorer_t *sc, dn_store_t *store, dn_rbuf_t *r, dn_err_t *err)
{
    (void)self;
    (void)r;
    return ml_good_restore(store, relearn, sc, err);
}

static int stage(void *self, dn_store_batch_t *batch)
{
    return ml_good_stage(((ml_method_t *)self)->good, batch);
}

static void committed(void *self) { ml_good_committed(((ml_method_t *)self)->good); }

/* ---- the service ------------------------------------------------------------------------- */

/* A ModelWeights from a trainer (anything else on the socket is ignored). */
static int on_weights(dn_node_t *node, void *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    (void)node;
    (void)err;
    if (dn_msg_type(env) != DN_MSG_WEIGHTS)
        return 0;
    const dn_scorer_t *sc = self;
    int k = dn_scorer_key_find(sc, env->weights->histogram_key);
    const ml_key_t *ks = dn_scorer_key_state(sc, k);
    ml_method_t *m = dn_scorer_method_self(sc);
    ml_weights_received(m->weights, ks ? &ks->w : NULL, env);
    return 0;
}

static void destroy(void *self)
{
    ml_method_t *m = self;
    ml_weights_destroy(&m->weights);
    ml_good_destroy(&m->good);
    free(m);
}

/* Whether CURVE lets only the registry publish on the weights socket, so
 * that what arrives there is the registry's own publication: security on,
 * and the socket binds (it admits only keys with the registry role) or every
 * server it connects to is named by such a key. Security off: anyone who
 * reaches the socket may publish (issue 17). */
static int only_registry_publishes(dn_node_t *node)
{
    if (dn_node_peer_roles(node, NULL) == DN_NODE_ALL_ROLES)
        return 0;
    const char *p = dn_node_str(node, "weights");
    if (!strncmp(p, "bind:", 5))
        return 1; /* dn_sock_new refuses bind and connect on one secured socket */
    while (*p) {
        char name[128];
        size_t len = strcspn(p, ","), at = strcspn(p, "@");
        if (strncmp(p, "connect:", 8) || at >= len || at - 8 >= sizeof name)
            return 0;
        memcpy(name, p + 8, at - 8);
        name[at - 8] = '\0';
        int roles = dn_node_peer_roles(node, name);
        if (roles < 0 || !(roles & DN_ROLE_REGISTRY))
            return 0;
        p += len + (p[len] == ',');
    }
    return 1;
}

static int create(dn_node_t *node, const dn_scorer_opts_t *opts, void **out, dn_err_t *err)
{
    int64_t seed = 0;
    dn_sock_t *wsub = NULL, *dealer = NULL;
    /* Secured, only the registry's key may publish weights here. */
    dn_sock_opts_t weights_opts = {.admit = DN_ROLE_REGISTRY};
    int rc;
    ml_method_t *m = calloc(1, sizeof *m);
    if (!m || !(m->good = ml_good_new())) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = dn_node_int(node, "seed", 0, INT64_MAX, &seed, err)))
        goto fail;
    if (!(dealer = dn_node_socket(node, ZMQ_DEALER, "registry", NULL, err)) ||
        !(m->weights = ml_weights_new(dealer, opts->live, only_registry_publishes(node), err)) ||
        !(wsub = dn_node_socket(node, ZMQ_SUB, "weights", &weights_opts, err))) {
        rc = err->code;
        goto fail;
    }
    if ((rc = dn_node_on(node, wsub, on_weights, err)))
        goto fail;
    m->policy = dn_node_policy(node);
    m->seed = (uint64_t)seed;
    dn_log(DN_LOG_INFO, "seed %llu, registry %s, weights published by %s", (unsigned long long)m->seed,
           dn_node_str(node, "registry"), only_registry_publishes(node) ?
           "the registry only (wanted versions taken from it)" : "anyone (news only)");
    *out = m;
    return 0;
fail:
    if (m)
        destroy(m);
    return rc;
}

static void stop_extra(void *self, char *buf, size_t cap)
{
    ml_weights_describe(((const ml_method_t *)self)->weights, buf, cap);
}

static const dn_scorer_method_t method_ml = {
    .method = DINAMO__METHOD__METHOD_ML, .waits_for = "weights",
    .destroy = destroy, .key_new = key_new, .key_free = key_free, .ready = ready,
    .score = score, .learn = learn, .key_save = key_save, .key_load = key_load,
    .load = load, .stage = stage, .committed = committed,
};

static const dn_config_key_t keys[] = {
    {"weights", DN_CFG_STRING, "bind:tcp://127.0.0.1:5556",
     "weights versions as the registry stores them (SUB; the registry connects)"},
    {"registry", DN_CFG_STRING, "connect:tcp://127.0.0.1:5557",
     "the registry (DEALER): a version missed on `weights` is asked for there"},
    {"seed", DN_CFG_INT, "0", "DINAMO-ML seed (as the trainers')"},
};

int main(int argc, char **argv)
{
    const dn_scorer_def_t def = {
        .name = "scorer_ml", .log = "scores_ml",
        .usage = "Scores every histogram of every run with DINAMO-ML, the weights trained\n"
                 "by the trainers (scores_ml log).\n",
        .scores = "bind:tcp://127.0.0.1:5554", .scores_requests = "bind:tcp://127.0.0.1:5555",
        .keys = keys, .n_keys = (int)(sizeof keys / sizeof *keys), .flags = DN_NODE_BLAS,
        .ckpt_magic = "DNSM", .ckpt_version = 2, .method = &method_ml, .create = create,
        .stop_extra = stop_extra,
    };
    return dn_scorer_main(&def, argc, argv);
}
