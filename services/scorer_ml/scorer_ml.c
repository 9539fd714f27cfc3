/* scorer_ml: the DINAMO-ML scorer service (docs/pipeline.md).
 *
 * Follows the events log as consumer "scorer_ml" and appends one Score per
 * (run, histogram) to its durable log "scores_ml", then END_OF_STREAM after
 * the last run's scores. Per histogram key a *frozen* dn_ml_t: it keeps the
 * good-run contexts (a good label learns the run without training) and its
 * parameters are replaced by the weights the trainers publish (ModelWeights on
 * the weights SUB socket, which the trainers connect to), or, for versions it
 * missed (restart, slow joiner), by those in the shared weights store.
 *
 * Version n of a key is the model trained on the key's first n good runs (0:
 * the initial weights). Lockstep (default): run i is scored only when the
 * labels of every earlier run have been applied and, for each key, the version
 * equal to the number of good runs learned is loaded, which is the model
 * `dinamo score --method ml` scores run i with: the scores are equal. Live:
 * runs are scored at once with the newest version received.
 *
 * State (<data_dir>/scorer_ml, LMDB with DN_STORE_NOSYNC, synced every tick),
 * committed once per round in one batch with the appended scores: checkpoint
 * "scorer_ml" (follower next, per key the good-run count and the last good
 * run), table "scorer_ml.held" (runs not yet scored or awaiting labels) and
 * table "scorer_ml.good" (the last M + K good runs of every key, the context
 * a restarted scorer rebuilds its trackers from). The trackers' parameters are
 * not checkpointed: they are always a stored weight version. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "blas_setup.h"
#include "bus.h"
#include "bytes.h"
#include "config.h"
#include "dinamo_ml.h"
#include "held.h"
#include "histo.h"
#include "log.h"
#include "mlmodel.h"
#include "msg.h"
#include "policy.h"
#include "service.h"
#include "store.h"
#include "stream.h"

#define HELD_TABLE "scorer_ml.held"
#define GOOD_TABLE "scorer_ml.good"
#define CKPT_NAME "scorer_ml"
#define CKPT_MAGIC "DNSM"
#define CKPT_VERSION 1u
#define CACHE_AHEAD 4        /* versions kept in memory beyond the one wanted */
#define STORE_RETRY_S 0.05   /* between reads of the store for a missing version */


/* One weight version received (or read from the store). */
typedef struct wver_t {
    uint64_t version;
    int has_last;
    uint64_t last_seq;
    Dinamo__Envelope *env;    /* owned; env->weights->blob is the raw model */
} wver_t;

typedef struct mkey_t {
    char *key;
    int n_bins;
    dn_ml_t *ml;              /* frozen tracker: contexts, and the loaded parameters */
    uint64_t n_good;          /* good runs learned in all: the version wanted (lockstep) */
    int64_t last_good;        /* run_seq of the last one, -1 */
    uint64_t *ring;           /* run_seqs of the good runs kept in GOOD_TABLE, oldest first */
    int ring_n, ring_cap;
    int64_t loaded;           /* version whose parameters are in ml, -1: none */
    wver_t *cache;            /* versions at hand, increasing */
    int n_cache;
    double store_tried;       /* last time the store was asked for a missing version */
    uint64_t waiting_for;     /* version waited for (for the log) */
} mkey_t;

typedef struct scorer_t {
    dn_policy_t *policy; /* min_entries per key */
    int live, pulls;
    uint64_t seed;
    dn_service_t *svc;
    dn_store_t *store, *wstore;
    dn_sock_t *sub, *push, *pub, *pull, *wsub;
    dn_source_t *source;
    dn_follower_t *follower;
    dn_store_batch_t *batch;
    mkey_t *keys;
    int n_keys, cap_keys;
    dn_heldq_t *held;         /* runs not yet scored or awaiting labels */
    uint64_t next_seq;
    int eos_seen, eos_done;
    uint8_t *eos_buf;
    size_t eos_len;
    int dirty, paused, waiting;
    uint64_t runs, labels, scores_ok, scores_empty, scores_rejected, labels_unknown,
        labels_ignored, runs_unexpected, weights_received, weights_from_store,
        weights_rejected, weights_unused, version_mismatch;
} scorer_t;

static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}


/* ---- keys -------------------------------------------------------------------- */

static mkey_t *key_find(scorer_t *sc, const char *k)
{
    for (int i = 0; i < sc->n_keys; i++)
        if (!strcmp(sc->keys[i].key, k))
            return &sc->keys[i];
    return NULL;
}

static mkey_t *key_add(scorer_t *sc, const char *k, int n_bins)
{
    if (sc->n_keys == sc->cap_keys) {
        int cap = sc->cap_keys ? 2 * sc->cap_keys : 8;
        mkey_t *p = realloc(sc->keys, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        sc->keys = p;
        sc->cap_keys = cap;
    }
    mkey_t *ks = &sc->keys[sc->n_keys];
    memset(ks, 0, sizeof *ks);
    ks->last_good = -1;
    ks->loaded = -1;
    ks->n_bins = n_bins;
    dn_ml_setup_t setup = {.n_bins = n_bins, .seed = sc->seed, .frozen = 1,
                           .min_entries = dn_policy_lookup(sc->policy, k, NULL).min_entries};
    dn_err_t err = {0};
    ks->key = strdup(k);
    if (dn_ml_new_for(&setup, &ks->ml, &err))
        dn_log(DN_LOG_ERROR, "key %s: %s", k, err.msg);
    ks->ring_cap = ks->ml ? dn_ml_opts(ks->ml)->model.context + dn_ml_opts(ks->ml)->batch_runs
                          : 0;
    ks->ring = calloc((size_t)ks->ring_cap, sizeof *ks->ring);
    if (!ks->key || !ks->ml || !ks->ring) {
        free(ks->key);
        dn_ml_destroy(&ks->ml);
        free(ks->ring);
        return NULL;
    }
    sc->n_keys++;
    return ks;
}

static void cache_drop(mkey_t *ks, int i)
{
    dn_msg_free(&ks->cache[i].env);
    memmove(ks->cache + i, ks->cache + i + 1, (size_t)(ks->n_cache - i - 1) * sizeof *ks->cache);
    ks->n_cache--;
}

static void key_free(mkey_t *ks)
{
    free(ks->key);
    dn_ml_destroy(&ks->ml);
    free(ks->ring);
    while (ks->n_cache)
        cache_drop(ks, ks->n_cache - 1);
    free(ks->cache);
}

/* ---- weights ------------------------------------------------------------------- */

/* Checks that weights fit the key's tracker. 0 or DN_EMISMATCH with err. */
static int weights_fit(const mkey_t *ks, const Dinamo__ModelWeights *w, dn_err_t *err)
{
    const dn_ml_opts_t *o = dn_ml_opts(ks->ml);
    const dn_mlconfig_t *c = &o->model;
    if ((int)w->n_bins != c->n_bins || (int)w->d_model != c->d_model ||
        (int)w->n_heads != c->n_heads || (int)w->n_layers != c->n_layers ||
        (int)w->d_ff != c->d_ff || (int)w->context != c->context ||
        (w->activation == DINAMO__ACTIVATION__GELU) != (c->activation == DN_ML_ACT_GELU))
        return dn_err_set(err, DN_EMISMATCH,
                          "architecture %u bins d %u heads %u layers %u ff %u M %u, this "
                          "scorer runs %d bins d %d heads %d layers %d ff %d M %d",
                          w->n_bins, w->d_model, w->n_heads, w->n_layers, w->d_ff, w->context,
                          c->n_bins, c->d_model, c->n_heads, c->n_layers, c->d_ff, c->context);
    if (!w->has_blob || w->blob.len != dn_mlmodel_raw_size(dn_ml_model(ks->ml)))
        return dn_err_set(err, DN_EMISMATCH, "blob of %zu bytes, want %zu",
                          w->has_blob ? w->blob.len : 0,
                          dn_mlmodel_raw_size(dn_ml_model(ks->ml)));
    return 0;
}

/* Takes ownership of *env_p (a validated ModelWeights envelope) into the
 * key's cache when it may still be needed. */
static void cache_put(scorer_t *sc, mkey_t *ks, Dinamo__Envelope **env_p)
{
    Dinamo__ModelWeights *w = (*env_p)->weights;
    uint64_t v = w->version;
    int keep = sc->live ? (ks->loaded < 0 || (int64_t)v > ks->loaded)
                        : (v >= ks->n_good && v <= ks->n_good + CACHE_AHEAD);
    for (int i = 0; keep && i < ks->n_cache; i++)
        if (ks->cache[i].version == v)
            keep = 0; /* a republication (trainer restart): same weights */
    if (!keep) {
        sc->weights_unused++;
        dn_msg_free(env_p);
        return;
    }
    wver_t *p = realloc(ks->cache, (size_t)(ks->n_cache + 1) * sizeof *p);
    if (!p) {
        dn_msg_free(env_p);
        return;
    }
    ks->cache = p;
    int at = ks->n_cache;
    while (at > 0 && ks->cache[at - 1].version > v)
        at--;
    memmove(ks->cache + at + 1, ks->cache + at, (size_t)(ks->n_cache - at) * sizeof *p);
    ks->cache[at] = (wver_t){v, w->has_last_run_seq, w->last_run_seq, *env_p};
    ks->n_cache++;
    *env_p = NULL;
    /* Live keeps only the newest; lockstep nothing below the wanted version. */
    while (ks->n_cache > 1 && (sc->live || ks->cache[0].version < ks->n_good))
        cache_drop(ks, 0);
}

/* Reads version v (or, v == UINT64_MAX, the newest) of the key from the store
 * into the cache. Returns 1 when it is there now, 0 if not found. */
static int store_fetch(scorer_t *sc, mkey_t *ks, uint64_t v)
{
    void *blob = NULL;
    size_t len = 0;
    dn_err_t err = {0};
    uint64_t got = v;
    int rc = v == UINT64_MAX ? dn_store_weights_latest(sc->wstore, ks->key, &got, &blob, &len, &err)
                             : dn_store_weights_get(sc->wstore, ks->key, v, &blob, &len, &err);
    if (rc) {
        if (rc != DN_ENOTFOUND)
            dn_log(DN_LOG_WARN, "key %s: reading the weights store: %s", ks->key, err.msg);
        return 0;
    }
    Dinamo__Envelope *env = NULL;
    rc = dn_msg_decode(blob, len, &env, NULL, &err);
    free(blob);
    if (!rc && (dn_msg_type(env) != DN_MSG_WEIGHTS || strcmp(env->weights->histogram_key, ks->key)))
        rc = dn_err_set(&err, DN_EFORMAT, "not weights of this key");
    if (!rc)
        rc = weights_fit(ks, env->weights, &err);
    if (rc) {
        sc->weights_rejected++;
        dn_log(DN_LOG_WARN, "key %s: stored version %llu rejected: %s", ks->key,
               (unsigned long long)got, err.msg);
        dn_msg_free(&env);
        return 0;
    }
    sc->weights_from_store++;
    cache_put(sc, ks, &env);
    dn_msg_free(&env);
    for (int i = 0; i < ks->n_cache; i++)
        if (ks->cache[i].version == got)
            return 1;
    return 0;
}

/* Loads into the tracker the version this key needs to score run `seq` now.
 * Returns 1 when loaded, 0 when it has to wait for it. */
static int key_ready(scorer_t *sc, mkey_t *ks, uint64_t seq)
{
    uint64_t want;
    wver_t *w = NULL;
    if (sc->live) {
        if (ks->n_cache == 0 && ks->loaded < 0) {
            double now = mono_now();
            if (now - ks->store_tried < STORE_RETRY_S)
                return 0;
            ks->store_tried = now;
            if (!store_fetch(sc, ks, UINT64_MAX))
                return 0;
        }
        if (ks->n_cache == 0)
            return 1; /* the loaded one is the newest */
        w = &ks->cache[ks->n_cache - 1];
        want = w->version;
    } else {
        want = ks->n_good;
        if (ks->loaded >= 0 && (uint64_t)ks->loaded == want)
            return 1;
        for (int i = 0; i < ks->n_cache && !w; i++)
            if (ks->cache[i].version == want)
                w = &ks->cache[i];
        if (!w) {
            double now = mono_now();
            ks->waiting_for = want;
            if (now - ks->store_tried < STORE_RETRY_S)
                return 0;
            ks->store_tried = now;
            if (!store_fetch(sc, ks, want))
                return 0;
            for (int i = 0; i < ks->n_cache && !w; i++)
                if (ks->cache[i].version == want)
                    w = &ks->cache[i];
            if (!w)
                return 0;
        }
        int64_t expect = want ? ks->last_good : -1;
        int64_t got = w->has_last ? (int64_t)w->last_seq : -1;
        if (expect != got) {
            sc->version_mismatch++;
            dn_log(DN_LOG_WARN, "key %s: version %llu was trained up to run_seq %lld, this "
                   "scorer's good runs end at %lld (scoring run_seq %llu): trainer and scorer "
                   "saw different labels", ks->key, (unsigned long long)want, (long long)got,
                   (long long)expect, (unsigned long long)seq);
        }
    }
    const Dinamo__ModelWeights *mw = w->env->weights;
    dn_err_t err = {0};
    int rc = dn_mlmodel_import_raw(dn_ml_model(ks->ml), mw->blob.data, mw->blob.len, &err);
    if (rc) {
        sc->weights_rejected++;
        dn_log(DN_LOG_WARN, "key %s: version %llu rejected: %s", ks->key,
               (unsigned long long)want, err.msg);
        cache_drop(ks, (int)(w - ks->cache));
        return 0;
    }
    ks->loaded = (int64_t)want;
    /* Versions below the loaded one are of no more use in either mode. */
    while (ks->n_cache && ks->cache[0].version <= want)
        cache_drop(ks, 0);
    return 1;
}

static int on_weights(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                      const dn_recv_info_t *info, void *arg)
{
    (void)svc;
    (void)sock;
    (void)info;
    scorer_t *sc = arg;
    if (dn_msg_type(env) != DN_MSG_WEIGHTS)
        return 0;
    sc->weights_received++;
    const Dinamo__ModelWeights *w = env->weights;
    mkey_t *ks = key_find(sc, w->histogram_key);
    if (!ks) {
        /* Not seen in a run yet: the store has it when a run needs it. */
        sc->weights_unused++;
        return 0;
    }
    dn_err_t err = {0};
    if (weights_fit(ks, w, &err)) {
        sc->weights_rejected++;
        dn_log(DN_LOG_WARN, "key %s: version %llu rejected: %s", ks->key,
               (unsigned long long)w->version, err.msg);
        return 0;
    }
    /* The service frees env after this call: keep a copy of our own. */
    uint8_t *buf = NULL;
    size_t len = 0;
    Dinamo__Envelope *copy = NULL;
    if (dn_msg_encode_unchecked(env, &buf, &len) || dn_msg_decode(buf, len, &copy, NULL, &err)) {
        free(buf);
        return 0;
    }
    free(buf);
    cache_put(sc, ks, &copy);
    dn_msg_free(&copy);
    return 0;
}

static const double *hist_var(const Dinamo__Histogram *hg)
{
    return hg->n_variances ? hg->variances : NULL;
}

static mkey_t *hist_key(scorer_t *sc, const dn_held_t *h, int j)
{
    const Dinamo__Histogram *hg = h->env->run->histograms[j];
    mkey_t *ks = key_find(sc, hg->key);
    if (!ks || ks->n_bins != (int)hg->n_counts)
        return NULL;
    return ks;
}

/* Records good run seq of key ks in GOOD_TABLE (and drops the one that falls
 * out of the M + K kept), in the round's batch. */
static int good_record(scorer_t *sc, mkey_t *ks, uint64_t seq, const Dinamo__Histogram *hg)
{
    size_t kl = strlen(ks->key);
    unsigned char key[DN_MSG_KEY_MAX + 9];
    memcpy(key, ks->key, kl);
    key[kl] = 0;
    dn_wbuf_t w = {0};
    dn_wb_u32(&w, (uint32_t)hg->n_counts);
    dn_wb_u32(&w, hg->n_variances ? 1u : 0u);
    for (size_t b = 0; b < hg->n_counts; b++)
        dn_wb_f64(&w, hg->counts[b]);
    for (size_t b = 0; b < hg->n_variances; b++)
        dn_wb_f64(&w, hg->variances[b]);
    dn_put_be64(key + kl + 1, seq);
    int rc = w.oom ? DN_ENOMEM : dn_store_batch_put(sc->batch, GOOD_TABLE, key, kl + 9, w.p, w.len);
    free(w.p);
    if (rc)
        return rc;
    if (ks->ring_n == ks->ring_cap) {
        dn_put_be64(key + kl + 1, ks->ring[0]);
        if ((rc = dn_store_batch_del(sc->batch, GOOD_TABLE, key, kl + 9)))
            return rc;
        memmove(ks->ring, ks->ring + 1, (size_t)(ks->ring_n - 1) * sizeof *ks->ring);
        ks->ring_n--;
    }
    ks->ring[ks->ring_n++] = seq;
    return 0;
}

/* Applies the label of histogram j of scored run h if it has arrived: a good
 * run joins the key's contexts. */
static int apply_label(scorer_t *sc, dn_held_t *h, int j)
{
    if (h->applied[j] || h->label[j] == DN_LBL_NONE || !h->scored)
        return 0;
    h->applied[j] = 1;
    h->dirty = 1;
    if (h->label[j] != DN_LBL_GOOD)
        return 0;
    mkey_t *ks = hist_key(sc, h, j);
    if (!ks)
        return 0;
    const Dinamo__Histogram *hg = h->env->run->histograms[j];
    dn_err_t err = {0};
    int rc = dn_ml_learn(ks->ml, (int64_t)h->seq, hg->counts, hist_var(hg), NULL, NULL, &err);
    if (rc == DN_ENOMEM)
        return rc;
    if (rc == DN_EEMPTY || rc == DN_ERANGE || rc == DN_EINVAL) {
        /* Not in the trainer's good-run set either (same checks): no version. */
        if (rc != DN_EEMPTY)
            dn_log(DN_LOG_WARN, "run %lld: histogram '%s': good run not learned: %s",
                   (long long)h->env->run->run_number, hg->key, err.msg);
        return 0;
    }
    /* Learned (a model error would still have added it, as for the trainer). */
    ks->n_good++;
    ks->last_good = (int64_t)h->seq;
    sc->dirty = 1;
    return good_record(sc, ks, h->seq, hg);
}

/* ---- output ------------------------------------------------------------------------ */

static int append_score(scorer_t *sc, const dn_held_t *h, int j, dn_err_t *err)
{
    const Dinamo__Run *run = h->env->run;
    const Dinamo__Histogram *hg = run->histograms[j];
    Dinamo__Score s = DINAMO__SCORE__INIT;
    s.stream = run->stream;
    s.has_run_number = s.has_run_seq = s.has_method = s.has_status = 1;
    s.run_number = run->run_number;
    s.run_seq = run->run_seq;
    s.method = DINAMO__METHOD__METHOD_ML;
    s.histogram_key = hg->key;
    char detail[2 * DN_ERRMSG_MAX + DN_MSG_KEY_MAX + 64];
    double *pulls = NULL, *mu = NULL, *sigma = NULL;
    int nb = (int)hg->n_counts;
    mkey_t *ks = key_find(sc, hg->key);
    if (!ks || ks->n_bins != nb) {
        s.status = DINAMO__SCORE_STATUS__REJECTED;
        snprintf(detail, sizeof detail, "run %lld: histogram '%s': %d bins, the key has %d",
                 (long long)run->run_number, hg->key, nb, ks ? ks->n_bins : -1);
        s.detail = detail;
        dn_log(DN_LOG_WARN, "%s: rejected", detail);
        sc->scores_rejected++;
    } else {
        if (sc->pulls) {
            pulls = malloc((size_t)nb * sizeof *pulls);
            mu = malloc((size_t)nb * sizeof *mu);
            sigma = malloc((size_t)nb * sizeof *sigma);
            if (!pulls || !mu || !sigma) {
                free(pulls);
                free(mu);
                free(sigma);
                return dn_err_set(err, DN_ENOMEM, "out of memory scoring %d bins", nb);
            }
        }
        double chi2;
        dn_err_t e = {0};
        int rc = dn_ml_score(ks->ml, (int64_t)run->run_seq, hg->counts, hist_var(hg), &chi2,
                             pulls, mu, sigma, &e);
        s.has_model_version = 1;
        s.model_version = (uint64_t)ks->loaded;
        if (rc == 0) {
            s.status = DINAMO__SCORE_STATUS__OK;
            s.has_chi2 = s.has_score = 1;
            s.chi2 = chi2;
            s.score = dn_score_from_chi2(chi2, nb);
            if (sc->pulls) {
                s.n_pulls = s.n_reference = s.n_reference_uncertainty = (size_t)nb;
                s.pulls = pulls;
                s.reference = mu;
                s.reference_uncertainty = sigma;
            }
            sc->scores_ok++;
        } else if (rc == DN_EEMPTY) {
            s.status = DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS;
            sc->scores_empty++;
        } else {
            s.status = DINAMO__SCORE_STATUS__REJECTED;
            snprintf(detail, sizeof detail, "run %lld: histogram '%s': %s",
                     (long long)run->run_number, hg->key, e.msg);
            s.detail = detail;
            sc->scores_rejected++;
        }
    }
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_SCORE;
    env.score = &s;
    int rc = dn_source_append(sc->source, &env, err);
    free(pulls);
    free(mu);
    free(sigma);
    return rc;
}

static int append_eos(scorer_t *sc, dn_err_t *err)
{
    Dinamo__Envelope *in = NULL;
    int rc = dn_msg_decode(sc->eos_buf, sc->eos_len, &in, NULL, err);
    if (rc)
        return rc;
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    const Dinamo__Control *ic = in->control;
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    c.stream = ic->stream;
    c.has_final_run_number = c.has_final_run_seq = c.has_n_runs = 1;
    c.final_run_number = ic->final_run_number;
    c.final_run_seq = ic->final_run_seq;
    c.n_runs = ic->has_n_runs ? ic->n_runs : sc->runs;
    c.service = (char *)"scorer_ml";
    c.log = (char *)"scores_ml";
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    rc = dn_source_append(sc->source, &env, err);
    dn_msg_free(&in);
    return rc;
}

/* ---- the work of a round --------------------------------------------------------- */

/* Every key of run h has the weights it needs loaded (0: wait). */
static int run_ready(scorer_t *sc, const dn_held_t *h)
{
    for (int j = 0; j < h->n_h; j++) {
        mkey_t *ks = hist_key(sc, h, j);
        if (ks && !key_ready(sc, ks, h->seq))
            return 0;
    }
    return 1;
}

static int advance(scorer_t *sc, int *more, dn_err_t *err)
{
    *more = 0;
    sc->waiting = 0;
    for (int i = 0; i < dn_heldq_count(sc->held); i++) {
        dn_held_t *h = dn_heldq_at(sc->held, i);
        if (!h->scored) {
            if (dn_source_room(sc->source) <= 0)
                break;
            if (!run_ready(sc, h)) {
                sc->waiting = 1;
                break;
            }
            for (int j = 0; j < h->n_h; j++) {
                int rc = append_score(sc, h, j, err);
                if (rc)
                    return rc;
            }
            h->scored = 1;
            h->dirty = 1;
            sc->dirty = 1;
            for (int j = 0; j < h->n_h; j++) {
                int rc = apply_label(sc, h, j);
                if (rc)
                    return dn_err_set(err, rc, "out of memory applying labels");
            }
        }
        if (!sc->live && !sc->eos_seen && !dn_held_complete(h))
            break;
    }
    int dropped = dn_heldq_drop_done(sc->held, sc->eos_seen);
    if (dropped < 0)
        return dn_err_set(err, dropped, "out of memory");
    if (dropped)
        sc->dirty = 1;
    if (sc->eos_seen && !sc->eos_done && dn_heldq_count(sc->held) == 0 &&
        dn_source_room(sc->source) > 0) {
        int rc = append_eos(sc, err);
        if (rc)
            return rc;
        sc->eos_done = 1;
        sc->dirty = 1;
        dn_log(DN_LOG_INFO, "end of stream: %llu runs, %llu scores ok, %llu insufficient, "
               "%llu rejected", (unsigned long long)sc->runs, (unsigned long long)sc->scores_ok,
               (unsigned long long)sc->scores_empty, (unsigned long long)sc->scores_rejected);
    }
    for (int k = 0; k < dn_heldq_count(sc->held) && !sc->waiting; k++)
        if (!dn_heldq_at(sc->held, k)->scored) {
            *more = dn_source_room(sc->source) > 0 &&
                    (sc->live || k == 0 || dn_held_complete(dn_heldq_at(sc->held, k - 1)));
            break;
        }
    return 0;
}

/* ---- checkpoint ------------------------------------------------------------------ */

static int build_checkpoint(scorer_t *sc, dn_wbuf_t *w)
{
    dn_wb_bytes(w, CKPT_MAGIC, 4);
    dn_wb_u32(w, CKPT_VERSION);
    dn_wb_u64(w, dn_follower_next(sc->follower));
    dn_wb_u64(w, sc->next_seq);
    dn_wb_u32(w, (uint32_t)(sc->eos_seen | sc->eos_done << 1));
    dn_wb_u64(w, sc->runs);
    dn_wb_u64(w, sc->labels);
    dn_wb_str(w, sc->eos_buf, sc->eos_len);
    dn_wb_u32(w, (uint32_t)sc->n_keys);
    for (int k = 0; k < sc->n_keys; k++) {
        const mkey_t *ks = &sc->keys[k];
        dn_wb_str(w, ks->key, strlen(ks->key));
        dn_wb_u32(w, (uint32_t)ks->n_bins);
        dn_wb_u64(w, ks->n_good);
        dn_wb_u64(w, (uint64_t)ks->last_good);
    }
    return w->oom ? DN_ENOMEM : 0;
}

/* Commits the round: scores appended, good runs recorded (already in the
 * batch), checkpoint, held-run changes; then clears the batch. */
static int commit(scorer_t *sc, dn_err_t *err)
{
    if (!sc->dirty)
        return 0;
    dn_wbuf_t w = {0};
    int rc = dn_source_stage(sc->source, sc->batch);
    if (!rc)
        rc = build_checkpoint(sc, &w);
    if (!rc)
        rc = dn_store_batch_checkpoint(sc->batch, CKPT_NAME, w.p, w.len, NULL);
    if (!rc)
        rc = dn_heldq_stage(sc->held, sc->batch);
    free(w.p);
    if (rc)
        return dn_err_set(err, rc, "cannot build the checkpoint batch: %s", dn_strerror(rc));
    if ((rc = dn_store_apply(sc->store, sc->batch, err)))
        return rc;
    dn_store_batch_clear(sc->batch);
    dn_source_committed(sc->source);
    dn_heldq_committed(sc->held);
    sc->dirty = 0;
    return 0;
}

typedef struct restore_ctx_t {
    scorer_t *sc;
    int rc;
    dn_err_t *err;
} restore_ctx_t;

/* Replays the kept good runs (key order = per key, run order) into the frozen
 * trackers, which rebuilds their contexts exactly. */
static int restore_good(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    restore_ctx_t *c = arg;
    const unsigned char *kb = key;
    size_t kl = 0;
    while (kl < klen && kb[kl])
        kl++;
    dn_rbuf_t r = {val, vlen, 0, 0};
    uint32_t nb = dn_rb_u32(&r), has_var = dn_rb_u32(&r);
    char name[DN_MSG_KEY_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)kl, (const char *)kb);
    mkey_t *ks = key_find(c->sc, name);
    if (r.bad || klen != kl + 9 || !ks || (int)nb != ks->n_bins ||
        vlen != 8 + (size_t)nb * 8 * (has_var ? 2 : 1)) {
        c->rc = dn_err_set(c->err, DN_EFORMAT, "damaged good run of key '%s' in the store", name);
        return -1;
    }
    double *x = malloc((size_t)nb * 2 * sizeof *x);
    if (!x) {
        c->rc = dn_err_set(c->err, DN_ENOMEM, "out of memory");
        return -1;
    }
    for (uint32_t b = 0; b < nb * (has_var ? 2 : 1); b++)
        x[b] = dn_rb_f64(&r);
    uint64_t seq = dn_get_be64(kb + kl + 1);
    dn_err_t e = {0};
    int rc = dn_ml_learn(ks->ml, (int64_t)seq, x, has_var ? x + nb : NULL, NULL, NULL, &e);
    free(x);
    if (rc && rc != DN_EEMPTY) {
        c->rc = dn_err_set(c->err, DN_EFORMAT, "good run %llu of key '%s': %s",
                           (unsigned long long)seq, name, e.msg);
        return -1;
    }
    if (ks->ring_n < ks->ring_cap)
        ks->ring[ks->ring_n++] = seq;
    return 0;
}

static int restore(scorer_t *sc, dn_err_t *err)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_store_checkpoint_read(sc->store, CKPT_NAME, &blob, &len, NULL, err);
    if (rc == DN_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    dn_rbuf_t r = {blob, len, 0, 0};
    const unsigned char *m = dn_rb_take(&r, 4);
    if (!m || memcmp(m, CKPT_MAGIC, 4) || dn_rb_u32(&r) != CKPT_VERSION) {
        free(blob);
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: bad magic or version", CKPT_NAME);
    }
    uint64_t next = dn_rb_u64(&r);
    sc->next_seq = dn_rb_u64(&r);
    uint32_t flags = dn_rb_u32(&r);
    sc->runs = dn_rb_u64(&r);
    sc->labels = dn_rb_u64(&r);
    uint32_t el;
    const unsigned char *eb = dn_rb_str(&r, &el);
    if (eb && el) {
        if (!(sc->eos_buf = malloc(el))) {
            free(blob);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        memcpy(sc->eos_buf, eb, el);
        sc->eos_len = el;
    }
    sc->eos_seen = flags & 1;
    sc->eos_done = (flags >> 1) & 1;
    uint32_t nk = dn_rb_u32(&r);
    for (uint32_t k = 0; k < nk && !r.bad; k++) {
        uint32_t kl;
        const unsigned char *kb = dn_rb_str(&r, &kl);
        int nb = (int)dn_rb_u32(&r);
        uint64_t n_good = dn_rb_u64(&r);
        int64_t last_good = (int64_t)dn_rb_u64(&r);
        if (r.bad)
            break;
        char name[DN_MSG_KEY_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)kl, (const char *)kb);
        mkey_t *ks = key_add(sc, name, nb);
        if (!ks) {
            free(blob);
            return dn_err_set(err, DN_ENOMEM, "out of memory restoring key '%s'", name);
        }
        ks->n_good = n_good;
        ks->last_good = last_good;
    }
    free(blob);
    if (r.bad)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: truncated", CKPT_NAME);
    restore_ctx_t c = {sc, 0, err};
    rc = dn_store_foreach(sc->store, GOOD_TABLE, NULL, 0, restore_good, &c, err);
    if (c.rc)
        return c.rc;
    if (rc || (rc = dn_heldq_restore(sc->held, sc->store, err)))
        return rc;
    dn_follower_set_next(sc->follower, next);
    dn_log(DN_LOG_INFO, "restored: events next %llu, %d keys, %d held runs, next run_seq %llu%s",
           (unsigned long long)next, sc->n_keys, dn_heldq_count(sc->held),
           (unsigned long long)sc->next_seq,
           sc->eos_done ? ", end of stream sent" : "");
    return 0;
}

/* ---- input --------------------------------------------------------------------------- */

static int on_run(scorer_t *sc, const Dinamo__Envelope *env, dn_err_t *err)
{
    const Dinamo__Run *run = env->run;
    if (sc->eos_seen || run->run_seq != sc->next_seq) {
        sc->runs_unexpected++;
        dn_log(DN_LOG_WARN, "run %lld: run_seq %llu, expected %llu%s: skipped",
               (long long)run->run_number, (unsigned long long)run->run_seq,
               (unsigned long long)sc->next_seq, sc->eos_seen ? " (after end of stream)" : "");
        return 0;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    Dinamo__Envelope copy = DINAMO__ENVELOPE__INIT;
    copy.producer = (char *)"events";
    copy.has_seq = 1;
    copy.body_case = DINAMO__ENVELOPE__BODY_RUN;
    copy.run = env->run;
    for (size_t j = 0; j < run->n_histograms; j++) {
        const Dinamo__Histogram *hg = run->histograms[j];
        if (!key_find(sc, hg->key) && !key_add(sc, hg->key, (int)hg->n_counts))
            return dn_err_set(err, DN_ENOMEM, "out of memory: new key '%s' (%zu bins)", hg->key,
                              hg->n_counts);
    }
    if (dn_msg_encode_unchecked(&copy, &buf, &len))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int rc = dn_heldq_add(sc->held, buf, len, NULL, err);
    free(buf);
    if (rc)
        return dn_err_prefix(err, "cannot hold run %lld", (long long)run->run_number);
    sc->next_seq++;
    sc->runs++;
    sc->dirty = 1;
    return 0;
}

static int on_label(scorer_t *sc, const Dinamo__Label *l)
{
    sc->labels++;
    sc->dirty = 1;
    dn_held_t *h = dn_heldq_find(sc->held, l->run_seq);
    if (!h) {
        if (l->run_seq < sc->next_seq) {
            sc->labels_ignored++;
        } else {
            sc->labels_unknown++;
            dn_log(DN_LOG_WARN, "label for run %lld (run_seq %llu): unknown run: skipped",
                   (long long)l->run_number, (unsigned long long)l->run_seq);
        }
        return 0;
    }
    int8_t v = l->verdict == DINAMO__VERDICT__GOOD ? DN_LBL_GOOD : DN_LBL_BAD;
    int all = !l->histogram_key || !l->histogram_key[0], hit = 0;
    for (int j = 0; j < h->n_h; j++) {
        if (!all && strcmp(h->env->run->histograms[j]->key, l->histogram_key))
            continue;
        hit = 1;
        if (h->label[j] != DN_LBL_NONE) {
            sc->labels_ignored++;
            continue;
        }
        h->label[j] = v;
        h->dirty = 1;
        int rc = apply_label(sc, h, j);
        if (rc)
            return rc;
    }
    if (!hit) {
        sc->labels_unknown++;
        dn_log(DN_LOG_WARN, "label for run %lld: no histogram '%s' in the run: skipped",
               (long long)l->run_number, l->histogram_key);
    }
    return 0;
}

static int on_event(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                    const dn_recv_info_t *info, void *arg)
{
    (void)sock;
    (void)info;
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int rc = dn_follower_accept(sc->follower, env, &err);
    if (rc < 0)
        return dn_service_fail(svc, rc, "events: %s", err.msg);
    if (rc != DN_FOLLOW_DELIVER)
        return 0;
    sc->dirty = 1;
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        if ((rc = on_run(sc, env, &err)))
            return dn_service_fail(svc, rc, "%s", err.msg);
        break;
    case DN_MSG_LABEL:
        if ((rc = on_label(sc, env->label)))
            return dn_service_fail(svc, rc, "out of memory applying a label");
        break;
    case DN_MSG_CONTROL:
        if (env->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM && !sc->eos_seen) {
            Dinamo__Envelope copy = DINAMO__ENVELOPE__INIT;
            copy.producer = (char *)"events";
            copy.has_seq = 1;
            copy.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
            copy.control = env->control;
            free(sc->eos_buf);
            sc->eos_buf = NULL;
            if (dn_msg_encode_unchecked(&copy, &sc->eos_buf, &sc->eos_len))
                return dn_service_fail(svc, DN_ENOMEM, "out of memory");
            sc->eos_seen = 1;
            dn_log(DN_LOG_INFO, "end of stream on events after %llu runs",
                   (unsigned long long)sc->runs);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_request(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                      const dn_recv_info_t *info, void *arg)
{
    (void)sock;
    (void)info;
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int rc = dn_source_on_request(sc->source, env, &err);
    return rc ? dn_service_fail(svc, rc, "scores requests: %s", err.msg) : 0;
}

static int on_round(dn_service_t *svc, void *arg)
{
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int more = 0;
    int rc = advance(sc, &more, &err);
    if (!rc)
        rc = commit(sc, &err);
    if (!rc)
        rc = dn_source_pump(sc->source, &err);
    if (!rc)
        rc = dn_follower_flush(sc->follower, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    int pause = dn_source_room(sc->source) == 0;
    if (pause != sc->paused) {
        dn_service_pause(svc, sc->sub, pause);
        sc->paused = pause;
    }
    if (more || dn_source_backlog(sc->source))
        return 0;
    return sc->waiting ? (int)(STORE_RETRY_S * 1000) : DN_SERVICE_POLL_MAX_MS;
}

static int on_tick(dn_service_t *svc, void *arg)
{
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int rc = dn_store_sync(sc->store, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    dn_source_stats_t st = dn_source_stats(sc->source);
    dn_log(DN_LOG_DEBUG, "runs %llu held %d scores %llu (published %llu) followers %d%s",
           (unsigned long long)sc->runs, dn_heldq_count(sc->held), (unsigned long long)st.head,
           (unsigned long long)st.cursor, st.followers, sc->waiting ? ", waiting for weights" : "");
    return 0;
}

static int on_shutdown(dn_service_t *svc, void *arg)
{
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int rc = commit(sc, &err);
    if (!rc)
        rc = dn_store_sync(sc->store, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    dn_log(DN_LOG_INFO, "stopped: %llu runs, %llu labels, %llu scores ok, %llu insufficient, "
           "%llu rejected; weights %llu received, %llu read from the store, %llu rejected, "
           "%llu unused; %llu version mismatches, %llu labels for unknown runs",
           (unsigned long long)sc->runs, (unsigned long long)sc->labels,
           (unsigned long long)sc->scores_ok, (unsigned long long)sc->scores_empty,
           (unsigned long long)sc->scores_rejected, (unsigned long long)sc->weights_received,
           (unsigned long long)sc->weights_from_store, (unsigned long long)sc->weights_rejected,
           (unsigned long long)sc->weights_unused, (unsigned long long)sc->version_mismatch,
           (unsigned long long)sc->labels_unknown);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

static const dn_config_key_t keys[] = {
    {"events", DN_CFG_STRING, "connect:tcp://127.0.0.1:5550", "events log (SUB)"},
    {"events_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5551",
     "events log requests (PUSH: acks, rewinds)"},
    {"scores", DN_CFG_STRING, "bind:tcp://127.0.0.1:5554", "scores_ml log (PUB)"},
    {"scores_requests", DN_CFG_STRING, "bind:tcp://127.0.0.1:5555",
     "scores_ml requests from followers (PULL)"},
    {"weights", DN_CFG_STRING, "bind:tcp://127.0.0.1:5556",
     "weights published by the trainers (SUB; the trainers connect)"},
    {"weights_dir", DN_CFG_STRING, "", "shared LMDB weights store (default <data_dir>/weights)"},
    {"mode", DN_CFG_STRING, "lockstep", "lockstep (equals `dinamo score --method ml`) or live"},
    {"seed", DN_CFG_INT, "0", "DINAMO-ML seed (as the trainers')"},
    {"window", DN_CFG_INT, "32", "scores published beyond the slowest follower"},
    {"pulls", DN_CFG_BOOL, "true", "scores carry pulls, reference and uncertainty"},
};

int main(int argc, char **argv)
{
    dn_blas_init(argc, argv, 0);
    dn_err_t err = {0};
    int rc = 0, exit_code = 1;
    scorer_t sc;
    memset(&sc, 0, sizeof sc);
    void *zctx = NULL;
    dn_config_t *cfg = dn_config_new("scorer_ml", keys, (int)(sizeof keys / sizeof *keys), &err);
    if (!cfg)
        goto fail;
    rc = dn_config_load(cfg, argc, argv, &err);
    if (rc == DN_CONFIG_HELP) {
        printf("usage: scorer_ml [--config FILE] [--key value ...]\n");
        dn_config_usage(cfg, stdout);
        dn_config_destroy(&cfg);
        return 0;
    }
    if (rc)
        goto fail;
    if ((rc = dn_log_init("scorer_ml", dn_config_str(cfg, "log_level"), &err)))
        goto fail;
    if (!(sc.policy = dn_policy_from_config(cfg, &err))) {
        rc = err.code;
        goto fail;
    }
    int64_t window, tick_ms, seed;
    dn_config_int(cfg, "window", &window);
    dn_config_int(cfg, "tick_ms", &tick_ms);
    dn_config_int(cfg, "seed", &seed);
    dn_config_bool(cfg, "pulls", &sc.pulls);
    const char *mode = dn_config_str(cfg, "mode");
    if (!strcmp(mode, "live"))
        sc.live = 1;
    else if (strcmp(mode, "lockstep")) {
        rc = dn_err_set(&err, DN_EINVAL, "mode '%s': want lockstep or live", mode);
        goto fail;
    }
    if (window < 1 || window > INT32_MAX || tick_ms < 1 || seed < 0) {
        rc = dn_err_set(&err, DN_EINVAL, "need window >= 1, tick_ms >= 1, seed >= 0");
        goto fail;
    }
    sc.seed = (uint64_t)seed;
    if ((rc = dn_service_install_signals(&err)))
        goto fail;

    char path[4096], wpath[4096];
    snprintf(path, sizeof path, "%s/scorer_ml", dn_config_str(cfg, "data_dir"));
    if (dn_config_str(cfg, "weights_dir")[0])
        snprintf(wpath, sizeof wpath, "%s", dn_config_str(cfg, "weights_dir"));
    else
        snprintf(wpath, sizeof wpath, "%s/weights", dn_config_str(cfg, "data_dir"));
    if (!(sc.store = dn_store_open(path, DN_STORE_NOSYNC, 0, &err)) ||
        !(sc.wstore = dn_store_open(wpath, DN_STORE_NOSYNC, 0, &err)))
        goto fail;
    if (!(sc.held = dn_heldq_new(HELD_TABLE))) {
        rc = dn_err_set(&err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    if (!(zctx = zmq_ctx_new())) {
        rc = dn_err_set(&err, DN_EIO, "zmq_ctx_new: %s", strerror(errno));
        goto fail;
    }
    if (!(sc.sub = dn_sock_new(zctx, ZMQ_SUB, dn_config_str(cfg, "events"), NULL, &err)) ||
        !(sc.push = dn_sock_new(zctx, ZMQ_PUSH, dn_config_str(cfg, "events_requests"), NULL,
                                &err)) ||
        !(sc.pub = dn_sock_new(zctx, ZMQ_PUB, dn_config_str(cfg, "scores"), NULL, &err)) ||
        !(sc.pull = dn_sock_new(zctx, ZMQ_PULL, dn_config_str(cfg, "scores_requests"), NULL,
                                &err)) ||
        !(sc.wsub = dn_sock_new(zctx, ZMQ_SUB, dn_config_str(cfg, "weights"), NULL, &err)))
        goto fail;
    dn_source_opts_t so = {.log = "scores_ml", .service = "scorer_ml", .window = (int)window};
    if (!(sc.source = dn_source_new(sc.store, sc.pub, &so, &err)))
        goto fail;
    dn_follower_opts_t fo = {.log = "events", .consumer = "scorer_ml"};
    if (!(sc.follower = dn_follower_new(sc.sub, sc.push, &fo, &err)))
        goto fail;
    if (!(sc.batch = dn_store_batch_new())) {
        rc = dn_err_set(&err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = restore(&sc, &err)))
        goto fail;
    if (!(sc.svc = dn_service_new("scorer_ml", &err)))
        goto fail;
    if ((rc = dn_service_add_socket(sc.svc, sc.sub, on_event, &sc)) ||
        (rc = dn_service_add_socket(sc.svc, sc.pull, on_request, &sc)) ||
        (rc = dn_service_add_socket(sc.svc, sc.wsub, on_weights, &sc)) ||
        (rc = dn_service_set_tick(sc.svc, (int)tick_ms, on_tick, &sc)))
        goto fail;
    dn_service_set_round(sc.svc, on_round, &sc);
    dn_service_set_shutdown(sc.svc, on_shutdown, &sc);
    dn_log(DN_LOG_INFO, "started: mode %s, seed %llu, window %d, store %s, weights %s",
           sc.live ? "live" : "lockstep", (unsigned long long)sc.seed, (int)window, path, wpath);
    rc = dn_service_run(sc.svc, &err);
    if (!rc)
        exit_code = 0;
fail:
    if (exit_code)
        dn_log(DN_LOG_ERROR, "scorer_ml: %s", err.msg[0] ? err.msg : dn_strerror(rc));
    dn_service_destroy(&sc.svc);
    dn_follower_destroy(&sc.follower);
    dn_source_destroy(&sc.source);
    dn_sock_destroy(&sc.sub);
    dn_sock_destroy(&sc.push);
    dn_sock_destroy(&sc.pub);
    dn_sock_destroy(&sc.pull);
    dn_sock_destroy(&sc.wsub);
    if (zctx)
        zmq_ctx_term(zctx);
    dn_store_batch_destroy(&sc.batch);
    dn_store_destroy(&sc.store);
    dn_store_destroy(&sc.wstore);
    dn_heldq_destroy(&sc.held);
    for (int k = 0; k < sc.n_keys; k++)
        key_free(&sc.keys[k]);
    free(sc.keys);
    free(sc.eos_buf);
    dn_policy_destroy(&sc.policy);
    dn_config_destroy(&cfg);
    return exit_code;
}
