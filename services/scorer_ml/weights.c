/* weights.c: scorer_ml's weight versions (weights.h): the per-key cache, the
 * reads from the registry, and loading the wanted version into a key's
 * frozen tracker.
 *
 * Invariants: a cache holds distinct versions in increasing order, each one
 * read from the registry and fitting its key's architecture; nothing at or
 * below the loaded version is kept once a version was loaded. What arrives on
 * the weights socket is only news ("the registry has version v"): anyone who
 * reaches that socket can publish there (issue 17: all-zero weights as
 * version 10^9 replaced a model and, being the newest, locked the trainer's
 * versions out), so its blob is never loaded; a version is loaded only as
 * the registry returns it. Except on a secured socket (trust_socket): CURVE
 * admits there only the registry's key (docs/pipeline.md, Security), so what
 * arrives is the registry's own publication of a version it stored, and a
 * wanted one is taken from it after the checks a read from the registry
 * passes, instead of being read again (a megabyte through CURVE, the
 * registry's LMDB and its loop: issue 21). */
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "mlmodel.h"
#include "registry.h"

#define LATEST UINT64_MAX /* weights_read: the newest version */

/* A read from the registry waits at most this long: a version not there yet
 * is asked again later, and the scorer's loop must not stall on a registry
 * that restarts. */
static const dn_registry_opts_t READ_OPTS = {.retry_ms = 500, .timeout_ms = 2000};

struct ml_weights_t {
    dn_registry_t *registry;
    int live, trust_socket;
    uint64_t received, from_socket, from_store, rejected, unused, mismatches;
    uint64_t unconfirmed; /* versions announced on the socket the registry did not have */
    double fetch_s;       /* seconds reading versions from the registry */
    int64_t highest_loaded; /* over every key, -1: none */
};

ml_weights_t *ml_weights_new(dn_sock_t *registry, int live, int trust_socket, dn_err_t *err)
{
    ml_weights_t *self = calloc(1, sizeof *self);
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "out of memory");
        return NULL;
    }
    self->live = live;
    self->trust_socket = trust_socket;
    self->highest_loaded = -1;
    if (!(self->registry = dn_registry_new(registry, "scorer_ml", &READ_OPTS, err))) {
        free(self);
        return NULL;
    }
    return self;
}

void ml_weights_destroy(ml_weights_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_registry_destroy(&(*self_p)->registry);
    free(*self_p);
    *self_p = NULL;
}

void ml_wcache_init(ml_wcache_t *c)
{
    memset(c, 0, sizeof *c);
    c->loaded = -1;
}

static void cache_drop(ml_wcache_t *c, int i)
{
    dn_msg_free(&c->v[i].env);
    memmove(c->v + i, c->v + i + 1, (size_t)(c->n - i - 1) * sizeof *c->v);
    c->n--;
}

void ml_wcache_free(ml_wcache_t *c)
{
    while (c->n)
        cache_drop(c, c->n - 1);
    free(c->v);
    c->v = NULL;
}

static const ml_wver_t *cache_find(const ml_wcache_t *c, uint64_t version)
{
    for (int i = 0; i < c->n; i++)
        if (c->v[i].version == version)
            return &c->v[i];
    return NULL;
}

/* Weights fit the key's tracker. 0 or DN_EMISMATCH with err. */
static int weights_fit(dn_ml_t *ml, const Dinamo__ModelWeights *w, dn_err_t *err)
{
    const dn_mlconfig_t *c = &dn_ml_opts(ml)->model;
    if ((int)w->n_bins != c->n_bins || (int)w->d_model != c->d_model ||
        (int)w->n_heads != c->n_heads || (int)w->n_layers != c->n_layers ||
        (int)w->d_ff != c->d_ff || (int)w->context != c->context ||
        (w->activation == DINAMO__ACTIVATION__GELU) != (c->activation == DN_ML_ACT_GELU))
        return dn_err_set(err, DN_EMISMATCH,
                          "architecture %u bins d %u heads %u layers %u ff %u M %u, this "
                          "scorer runs %d bins d %d heads %d layers %d ff %d M %d",
                          w->n_bins, w->d_model, w->n_heads, w->n_layers, w->d_ff, w->context,
                          c->n_bins, c->d_model, c->n_heads, c->n_layers, c->d_ff, c->context);
    size_t want = dn_mlmodel_raw_size(dn_ml_model(ml));
    if (!w->has_blob || w->blob.len != want)
        return dn_err_set(err, DN_EMISMATCH, "blob of %zu bytes, want %zu",
                          w->has_blob ? w->blob.len : 0, want);
    return 0;
}

/* Version v of k may still be wanted and is not at hand. */
static int cache_wants(const ml_weights_t *self, const ml_wkey_t *k, uint64_t v)
{
    const ml_wcache_t *c = k->cache;
    int keep = self->live ? (c->loaded < 0 || (int64_t)v > c->loaded)
                          : (v >= k->n_good && v <= k->n_good + ML_CACHE_AHEAD);
    return keep && !cache_find(c, v); /* at hand: a republication, the same weights */
}

/* Takes *env_p (a fitting ModelWeights envelope) into k's cache when it may
 * still be wanted; frees it otherwise. */
static void cache_put(ml_weights_t *self, const ml_wkey_t *k, Dinamo__Envelope **env_p)
{
    ml_wcache_t *c = k->cache;
    const Dinamo__ModelWeights *w = (*env_p)->weights;
    uint64_t v = w->version;
    int keep = cache_wants(self, k, v);
    ml_wver_t *p = keep ? realloc(c->v, (size_t)(c->n + 1) * sizeof *p) : NULL;
    if (!p) {
        self->unused += !keep;
        dn_msg_free(env_p);
        return;
    }
    c->v = p;
    int at = c->n;
    while (at > 0 && c->v[at - 1].version > v)
        at--;
    memmove(c->v + at + 1, c->v + at, (size_t)(c->n - at) * sizeof *p);
    c->v[at] = (ml_wver_t){v, w->has_last_run_seq, w->last_run_seq, *env_p};
    c->n++;
    *env_p = NULL;
    /* Live keeps only the newest; lockstep nothing below the wanted version. */
    while (c->n > 1 && (self->live || c->v[0].version < k->n_good))
        cache_drop(c, 0);
}

/* Takes the registry's publication env of a wanted version of k into k's cache.
 * The caller checked it as a read from the registry is checked (a ModelWeights
 * envelope of this key, validated on receipt, fitting the architecture); the
 * node owns env, so the cache gets a copy: packed without validating again
 * (it was validated on receipt) and unpacked. 1 when taken; 0 when the copy
 * fails (out of memory: the version is then read from the registry, as news). */
static int take_published(ml_weights_t *self, const ml_wkey_t *k, const Dinamo__Envelope *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    Dinamo__Envelope *own = NULL;
    dn_err_t err = {0};
    int rc = dn_msg_encode_unchecked(env, &buf, &len);
    if (!rc)
        rc = dn_msg_decode(buf, len, &own, NULL, &err);
    free(buf);
    if (rc)
        return 0;
    self->from_socket++;
    uint64_t v = own->weights->version;
    cache_put(self, k, &own);
    ml_wcache_t *c = k->cache;
    if (self->live && v >= c->heard) /* nothing newer announced: no read needed */
        c->news = 0, c->heard = 0;
    return 1;
}

void ml_weights_received(ml_weights_t *self, const ml_wkey_t *k, const Dinamo__Envelope *env)
{
    self->received++;
    if (!k) {
        self->unused++;
        return;
    }
    dn_err_t err = {0};
    uint64_t v = env->weights->version;
    if (weights_fit(k->ml, env->weights, &err)) {
        self->rejected++;
        DN_LOG_LIMITED(DN_LOG_WARN, "key %s: version %llu rejected: %s", k->key,
                       (unsigned long long)v, err.msg);
        return;
    }
    if (self->trust_socket && cache_wants(self, k, v) && take_published(self, k, env))
        return;
    /* News, not weights: the registry is asked for that version at the next
     * run that needs weights (live: the highest announced newer than the
     * loaded one; lockstep: the wanted one), at once unless a version
     * announced lately turned out not to be in the registry (then after the
     * back-off: a flood of forged announcements costs a read a second). */
    ml_wcache_t *c = k->cache;
    int wanted = self->live ? c->loaded < 0 || (int64_t)v > c->loaded : v == k->n_good;
    if (!wanted)
        return;
    if (self->live) {
        c->news = 1;
        if (v > c->heard)
            c->heard = v;
    }
    if (dn_clock_mono() >= c->backoff_until)
        c->store_tried = -1e300;
}

/* ---- the registry ---------------------------------------------------------------- */

/* Version v (LATEST: the newest) of key as the registry stores it: the
 * encoded ModelWeights envelope into *blob (caller frees) and its version
 * into *got. Returns 0, DN_ENOTFOUND, DN_EIO, DN_ENOMEM. The one place that
 * knows where versions are kept. */
static int weights_read(ml_weights_t *self, const char *key, uint64_t v, uint64_t *got,
                        void **blob, size_t *len, dn_err_t *err)
{
    *got = v;
    return v == LATEST ? dn_registry_weights_latest(self->registry, key, got, blob, len, err)
                       : dn_registry_weights_get(self->registry, key, v, blob, len, err);
}

/* Reads version v (or LATEST) of k from the registry into its cache (when
 * it may still be wanted), at most every ML_STORE_RETRY_S. Returns 1 when the
 * registry had it, 0 when it has no such version, -1 when the registry was
 * not asked (too soon), did not answer, or answered with weights that do not
 * fit (counted, logged). */
static int store_fetch(ml_weights_t *self, const ml_wkey_t *k, uint64_t v)
{
    double now = dn_clock_mono();
    if (now - k->cache->store_tried < ML_STORE_RETRY_S)
        return -1;
    k->cache->store_tried = now;
    void *blob = NULL;
    size_t len = 0;
    uint64_t got = v;
    dn_err_t err = {0};
    int rc = weights_read(self, k->key, v, &got, &blob, &len, &err);
    self->fetch_s += dn_clock_mono() - now;
    if (rc) {
        if (rc != DN_ENOTFOUND)
            DN_LOG_LIMITED(DN_LOG_WARN, "key %s: asking the registry: %s", k->key, err.msg);
        return rc == DN_ENOTFOUND ? 0 : -1;
    }
    Dinamo__Envelope *env = NULL;
    rc = dn_msg_decode(blob, len, &env, NULL, &err);
    free(blob);
    if (!rc && (dn_msg_type(env) != DN_MSG_WEIGHTS || strcmp(env->weights->histogram_key, k->key)))
        rc = dn_err_set(&err, DN_EFORMAT, "not weights of this key");
    if (!rc && env->weights->version != got)
        rc = dn_err_set(&err, DN_EFORMAT, "stored as version %llu, says version %llu",
                        (unsigned long long)got, (unsigned long long)env->weights->version);
    if (!rc)
        rc = weights_fit(k->ml, env->weights, &err);
    if (rc) {
        self->rejected++;
        DN_LOG_LIMITED(DN_LOG_WARN, "key %s: stored version %llu rejected: %s", k->key,
                       (unsigned long long)got, err.msg);
        dn_msg_free(&env);
        return -1;
    }
    self->from_store++;
    cache_put(self, k, &env);
    return 1;
}

/* ---- loading the wanted version ------------------------------------------------ */

/* Live: the highest version the weights socket announced beyond the loaded
 * one, as the registry returns it; when the registry does not have it
 * (forged: counted, logged, and news from the socket is then read at most
 * once per ML_FORGED_BACKOFF_S), the registry's newest instead, as when
 * nothing is loaded yet. NULL when the loaded one is the newest or nothing
 * is there yet. */
static const ml_wver_t *wanted_live(ml_weights_t *self, const ml_wkey_t *k, int *ready)
{
    ml_wcache_t *c = k->cache;
    *ready = 1;
    if (c->news) {
        uint64_t v = c->heard;
        int rc = store_fetch(self, k, v);
        if (rc >= 0)
            c->news = 0, c->heard = 0;
        if (rc == 0) {
            self->unconfirmed++;
            DN_LOG_LIMITED(DN_LOG_WARN, "key %s: version %llu announced on the weights socket "
                           "is not in the registry: ignored", k->key, (unsigned long long)v);
            /* A real version announced with it is read as the newest. */
            c->ask_latest = 1;
            c->backoff_until = dn_clock_mono() + ML_FORGED_BACKOFF_S;
            c->store_tried = c->backoff_until - ML_STORE_RETRY_S;
        }
    }
    if (!c->news && (c->ask_latest || (c->n == 0 && c->loaded < 0))) {
        int rc = store_fetch(self, k, LATEST);
        if (rc >= 0)
            c->ask_latest = 0;
        if (rc <= 0 && c->n == 0 && c->loaded < 0)
            *ready = 0;
    }
    return c->n ? &c->v[c->n - 1] : NULL;
}

/* Lockstep: the version equal to the good runs learned, from the cache or
 * the store; NULL when it is loaded already or not there yet (*ready says). */
static const ml_wver_t *wanted_lockstep(ml_weights_t *self, const ml_wkey_t *k, uint64_t seq,
                                        int *ready)
{
    uint64_t want = k->n_good;
    *ready = 1;
    if (k->cache->loaded >= 0 && (uint64_t)k->cache->loaded == want)
        return NULL;
    const ml_wver_t *w = cache_find(k->cache, want);
    if (!w && store_fetch(self, k, want) > 0)
        w = cache_find(k->cache, want);
    if (!w) {
        *ready = 0;
        return NULL;
    }
    int64_t expect = want ? k->last_good : -1;
    int64_t got = w->has_last ? (int64_t)w->last_seq : -1;
    if (expect != got) {
        self->mismatches++;
        dn_log(DN_LOG_WARN, "key %s: version %llu was trained up to run_seq %lld, this "
               "scorer's good runs end at %lld (scoring run_seq %llu): trainer and scorer "
               "saw different labels", k->key, (unsigned long long)want, (long long)got,
               (long long)expect, (unsigned long long)seq);
    }
    return w;
}

int ml_weights_ready(ml_weights_t *self, const ml_wkey_t *k, uint64_t seq)
{
    int ready = 0;
    const ml_wver_t *w = self->live ? wanted_live(self, k, &ready)
                                    : wanted_lockstep(self, k, seq, &ready);
    if (!w)
        return ready;
    ml_wcache_t *c = k->cache;
    uint64_t version = w->version;
    const Dinamo__ModelWeights *mw = w->env->weights;
    dn_err_t err = {0};
    if (dn_mlmodel_import_raw(dn_ml_model(k->ml), mw->blob.data, mw->blob.len, &err)) {
        self->rejected++;
        DN_LOG_LIMITED(DN_LOG_WARN, "key %s: version %llu rejected: %s", k->key,
                       (unsigned long long)version, err.msg);
        cache_drop(c, (int)(w - c->v));
        return 0;
    }
    c->loaded = (int64_t)version;
    if (c->loaded > self->highest_loaded)
        self->highest_loaded = c->loaded;
    /* Versions at or below the loaded one are of no more use in either mode. */
    while (c->n && c->v[0].version <= version)
        cache_drop(c, 0);
    return 1;
}

void ml_weights_describe(const ml_weights_t *self, char *buf, size_t cap)
{
    snprintf(buf, cap, "weights %llu announced, %llu taken as published, %llu read from the "
             "registry, %llu rejected, "
             "%llu unused, %llu not in the registry (%.3f s reading); %llu version mismatches; "
             "highest version loaded %lld", (unsigned long long)self->received,
             (unsigned long long)self->from_socket, (unsigned long long)self->from_store, (unsigned long long)self->rejected,
             (unsigned long long)self->unused, (unsigned long long)self->unconfirmed,
             self->fetch_s, (unsigned long long)self->mismatches, (long long)self->highest_loaded);
}
