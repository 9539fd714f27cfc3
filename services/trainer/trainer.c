/* trainer: the DINAMO-ML training service (docs/pipeline.md).
 *
 * Follows the events log (runs, labels, END_OF_STREAM) as consumer
 * "trainer.<i>of<n>" and trains, per owned histogram key (dn_shard_of(key, n)
 * == i), a dn_ml_t built exactly as dn_score_dataset_ml builds it (SPEC 3
 * defaults sized for the key's bins, `seed`). A key first seen gets version 0
 * (its initial weights); every good run added to the key's good-run set
 * (dn_ml_learn) gives version + 1 with last_run_seq / last_run_number of that
 * run. Each version is stored in the shared weights store (an encoded
 * ModelWeights envelope, keep_last versions per key) and only then published
 * on the weights PUB socket.
 *
 * Runs are held (owned histograms only) until their labels arrived and are
 * learned in run order. State (checkpoint "trainer/shard-<i>of<n>" in the
 * shared store, every checkpoint_s and at SIGTERM): the follower's next, per
 * key the dn_ml_save state and version, the held runs. After a kill -9 the
 * trainer resumes from it and, training being deterministic, stores and
 * publishes the same versions again bit for bit. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "blas_setup.h"
#include "bus.h"
#include "bytes.h"
#include "config.h"
#include "dinamo_ml.h"
#include "log.h"
#include "mlmodel.h"
#include "msg.h"
#include "policy.h"
#include "service.h"
#include "store.h"
#include "stream.h"
#include "team.h"

#define CKPT_MAGIC "DNTR"
#define CKPT_VERSION 1u

enum { LBL_NONE = -1, LBL_GOOD = 0, LBL_BAD = 1 };

typedef struct tkey_t {
    char *key;
    int n_bins;
    dn_ml_t *ml;
    uint64_t version;         /* latest version stored and published */
} tkey_t;

/* One owned histogram of a run, waiting for its label. */
typedef struct item_t {
    uint64_t seq;
    int64_t run_number;
    int key;                  /* index into keys */
    int8_t label;
    double *x, *var;          /* [n_bins]; var NULL: Poisson */
} item_t;

typedef struct trainer_t {
    dn_policy_t *policy; /* min_entries per key */
    int shard, shards, keep_last;
    int threads;              /* per training step */
    dn_team_t *team;          /* shared by every key's model; NULL: one thread */
    int auto_shard;           /* the slot is a lease in the shared store */
    double lease_s, lease_renewed;
    char owner[128];          /* this process in the lease records */
    uint8_t *lease_val;       /* our current lease record */
    size_t lease_len;
    uint64_t seed;
    const char *weights_file;
    double checkpoint_s;
    char ckpt_name[64];
    dn_service_t *svc;
    dn_store_t *store;
    dn_sock_t *sub, *push, *pub;
    dn_follower_t *follower;
    tkey_t *keys;
    int n_keys, cap_keys;
    item_t *items;            /* in arrival (run) order */
    int n_items, cap_items;
    uint64_t next_seq;        /* run_seq expected next */
    int dirty;
    struct timespec last_ckpt;
    uint64_t runs, labels, versions, bad_bins, learn_failed, labels_unknown, runs_unexpected;
} trainer_t;

static int lease_renew(trainer_t *tr, int force, dn_err_t *err);

/* ---- keys and versions ------------------------------------------------------- */

static int key_find(const trainer_t *tr, const char *k)
{
    for (int i = 0; i < tr->n_keys; i++)
        if (!strcmp(tr->keys[i].key, k))
            return i;
    return -1;
}

static tkey_t *key_push(trainer_t *tr, const char *k, int n_bins)
{
    if (tr->n_keys == tr->cap_keys) {
        int cap = tr->cap_keys ? 2 * tr->cap_keys : 8;
        tkey_t *p = realloc(tr->keys, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        tr->keys = p;
        tr->cap_keys = cap;
    }
    tkey_t *ks = &tr->keys[tr->n_keys];
    memset(ks, 0, sizeof *ks);
    if (!(ks->key = strdup(k)))
        return NULL;
    ks->n_bins = n_bins;
    tr->n_keys++;
    return ks;
}

/* Stores version ks->version of ks (trained on run seq/number, or none for
 * version 0) and then publishes it. */
static int put_version(trainer_t *tr, tkey_t *ks, int64_t run_number, uint64_t run_seq,
                       int steps, float loss, dn_err_t *err)
{
    const dn_ml_opts_t *o = dn_ml_opts(ks->ml);
    dn_mlmodel_t *m = dn_ml_model(ks->ml);
    size_t n = dn_mlmodel_raw_size(m);
    uint8_t *raw = malloc(n);
    if (!raw)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    dn_mlmodel_export_raw(m, raw, n);
    Dinamo__ModelWeights w = DINAMO__MODEL_WEIGHTS__INIT;
    w.histogram_key = ks->key;
    w.has_version = 1;
    w.version = ks->version;
    if (ks->version > 0) {
        w.has_last_run_number = w.has_last_run_seq = 1;
        w.last_run_number = run_number;
        w.last_run_seq = run_seq;
        w.has_train_steps = 1;
        w.train_steps = (uint32_t)steps;
        if (!isnan(loss)) {
            w.has_train_loss = 1;
            w.train_loss = loss;
        }
    }
    w.has_n_bins = w.has_d_model = w.has_n_heads = w.has_n_layers = w.has_d_ff = 1;
    w.has_context = w.has_dropout = w.has_activation = w.has_blob = 1;
    w.n_bins = (uint32_t)o->model.n_bins;
    w.d_model = (uint32_t)o->model.d_model;
    w.n_heads = (uint32_t)o->model.n_heads;
    w.n_layers = (uint32_t)o->model.n_layers;
    w.d_ff = (uint32_t)o->model.d_ff;
    w.context = (uint32_t)o->model.context;
    w.dropout = o->model.dropout;
    w.activation = o->model.activation == DN_ML_ACT_GELU ? DINAMO__ACTIVATION__GELU
                                                          : DINAMO__ACTIVATION__RELU;
    w.blob.data = raw;
    w.blob.len = n;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_WEIGHTS;
    env.weights = &w;
    /* The stored copy names its producer; publication stamps its own seq. */
    env.producer = tr->ckpt_name;
    env.has_seq = 1;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = dn_msg_encode(&env, &buf, &len, err);
    if (!rc)
        rc = dn_store_weights_put(tr->store, ks->key, ks->version, buf, len, tr->keep_last, err);
    free(buf);
    env.producer = NULL;
    env.has_seq = 0;
    if (!rc) {
        dn_err_t e = {0};
        int src = dn_sock_send(tr->pub, &env, 0, &e);
        if (src && src != DN_BUS_TIMEOUT)
            dn_log(DN_LOG_WARN, "key %s v%llu: publish failed: %s", ks->key,
                   (unsigned long long)ks->version, e.msg);
        tr->versions++;
    }
    free(raw);
    return rc;
}

/* Creates the tracker of a new owned key, as dn_score_dataset_ml does. */
static int key_new(trainer_t *tr, const char *k, int n_bins, int *idx, dn_err_t *err)
{
    tkey_t *ks = key_push(tr, k, n_bins);
    if (!ks)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    dn_ml_opts_t mo;
    dn_ml_opts_default(&mo);
    mo.model.n_bins = n_bins;
    mo.seed = tr->seed;
    if (!(ks->ml = dn_ml_new(&mo)))
        return dn_err_set(err, DN_ENOMEM, "key %s: cannot create a tracker for %d bins", k,
                          n_bins);
    dn_ml_set_min_entries(ks->ml, dn_policy_lookup(tr->policy, k, NULL).min_entries);
    dn_mlmodel_share_team(dn_ml_model(ks->ml), tr->team);
    if (tr->weights_file) {
        dn_mlmodel_t *m = dn_ml_model(ks->ml);
        int rc = dn_mlmodel_load(m, tr->weights_file, err);
        if (rc == DN_EFORMAT) {
            dn_err_t raw_err = {0};
            int raw_rc = dn_mlmodel_load_raw(m, tr->weights_file, &raw_err);
            if (raw_rc == DN_OK)
                rc = DN_OK;
            else if (raw_rc != DN_EMISMATCH)
                rc = dn_err_set(err, raw_rc, "%s", raw_err.msg);
        }
        if (rc)
            return dn_err_prefix(err, "key %s: weights_file", k);
    }
    ks->version = 0;
    *idx = tr->n_keys - 1;
    int rc = put_version(tr, ks, 0, 0, 0, NAN, err);
    if (rc)
        return rc;
    dn_log(DN_LOG_INFO, "key %s v0: initial weights (%d bins, seed %llu)", k, n_bins,
           (unsigned long long)tr->seed);
    return 0;
}

/* ---- held runs and training ---------------------------------------------------- */

static void item_free(item_t *it)
{
    free(it->x);
    free(it->var);
}

static int item_push(trainer_t *tr, const item_t *it)
{
    if (tr->n_items == tr->cap_items) {
        int cap = tr->cap_items ? 2 * tr->cap_items : 64;
        item_t *p = realloc(tr->items, (size_t)cap * sizeof *p);
        if (!p)
            return DN_ENOMEM;
        tr->items = p;
        tr->cap_items = cap;
    }
    tr->items[tr->n_items++] = *it;
    return 0;
}

/* Learns the leading held items whose labels arrived, in run order. */
static int train_ready(trainer_t *tr, dn_err_t *err)
{
    int done = 0;
    while (done < tr->n_items && tr->items[done].label != LBL_NONE) {
        if (dn_service_signalled())
            break;
        item_t *it = &tr->items[done];
        int lrc = lease_renew(tr, 0, err);
        if (lrc)
            return lrc;
        if (it->label == LBL_GOOD) {
            tkey_t *ks = &tr->keys[it->key];
            int64_t before = dn_ml_n_good(ks->ml);
            int steps = 0;
            float loss = NAN;
            dn_err_t e = {0};
            int rc = dn_ml_learn(ks->ml, (int64_t)it->seq, it->x, it->var, &steps, &loss, &e);
            if (rc) {
                tr->learn_failed++;
                dn_log(DN_LOG_WARN, "run %lld: key %s: not learned: %s", (long long)it->run_number,
                       ks->key, e.msg);
            }
            if (dn_ml_n_good(ks->ml) > before) {
                ks->version++;
                if ((rc = put_version(tr, ks, it->run_number, it->seq, steps, loss, err)))
                    return rc;
                dn_log(DN_LOG_INFO, "key %s v%llu trained on run_seq %llu: %d steps, loss %.6g",
                       ks->key, (unsigned long long)ks->version, (unsigned long long)it->seq,
                       steps, (double)loss);
            }
        }
        item_free(it);
        done++;
    }
    if (done) {
        memmove(tr->items, tr->items + done, (size_t)(tr->n_items - done) * sizeof *tr->items);
        tr->n_items -= done;
        tr->dirty = 1;
    }
    return 0;
}

static int on_run(trainer_t *tr, const Dinamo__Run *run, dn_err_t *err)
{
    if (run->run_seq < tr->next_seq) {
        tr->runs_unexpected++;
        dn_log(DN_LOG_WARN, "run %lld: run_seq %llu already seen: skipped",
               (long long)run->run_number, (unsigned long long)run->run_seq);
        return 0;
    }
    tr->next_seq = run->run_seq + 1;
    tr->runs++;
    for (size_t j = 0; j < run->n_histograms; j++) {
        const Dinamo__Histogram *hg = run->histograms[j];
        if (dn_shard_of(hg->key, tr->shards) != tr->shard)
            continue;
        int nb = (int)hg->n_counts;
        int k = key_find(tr, hg->key);
        if (k < 0) {
            int rc = key_new(tr, hg->key, nb, &k, err);
            if (rc)
                return rc;
        } else if (tr->keys[k].n_bins != nb) {
            tr->bad_bins++;
            dn_log(DN_LOG_WARN, "run %lld: key %s: %d bins, the key has %d: skipped",
                   (long long)run->run_number, hg->key, nb, tr->keys[k].n_bins);
            continue;
        }
        item_t it = {.seq = run->run_seq, .run_number = run->run_number, .key = k,
                     .label = LBL_NONE};
        it.x = malloc((size_t)nb * sizeof *it.x);
        if (hg->n_variances == (size_t)nb)
            it.var = malloc((size_t)nb * sizeof *it.var);
        if (!it.x || (hg->n_variances == (size_t)nb && !it.var) || item_push(tr, &it)) {
            item_free(&it);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        memcpy(it.x, hg->counts, (size_t)nb * sizeof *it.x);
        if (it.var)
            memcpy(it.var, hg->variances, (size_t)nb * sizeof *it.var);
    }
    tr->dirty = 1;
    return 0;
}

static void on_label(trainer_t *tr, const Dinamo__Label *l)
{
    tr->labels++;
    int all = !l->histogram_key || !l->histogram_key[0], hit = 0;
    if (!all && dn_shard_of(l->histogram_key, tr->shards) != tr->shard)
        return;
    for (int i = 0; i < tr->n_items; i++) {
        item_t *it = &tr->items[i];
        if (it->seq != l->run_seq)
            continue;
        if (!all && strcmp(tr->keys[it->key].key, l->histogram_key))
            continue;
        hit = 1;
        if (it->label == LBL_NONE) {
            it->label = l->verdict == DINAMO__VERDICT__GOOD ? LBL_GOOD : LBL_BAD;
            tr->dirty = 1;
        }
    }
    if (!hit && l->run_seq >= tr->next_seq) {
        tr->labels_unknown++;
        dn_log(DN_LOG_WARN, "label for run %lld (run_seq %llu, key %s): unknown run: skipped",
               (long long)l->run_number, (unsigned long long)l->run_seq,
               all ? "(all)" : l->histogram_key);
    }
}

/* ---- checkpoint ------------------------------------------------------------------ */

static int checkpoint(trainer_t *tr, dn_err_t *err)
{
    dn_wbuf_t w = {0};
    dn_wb_bytes(&w, CKPT_MAGIC, 4);
    dn_wb_u32(&w, CKPT_VERSION);
    dn_wb_u64(&w, dn_follower_next(tr->follower));
    dn_wb_u64(&w, tr->next_seq);
    dn_wb_u64(&w, tr->runs);
    dn_wb_u64(&w, tr->labels);
    dn_wb_u32(&w, (uint32_t)tr->n_keys);
    for (int k = 0; k < tr->n_keys; k++) {
        tkey_t *ks = &tr->keys[k];
        size_t kl = strlen(ks->key), sl = dn_ml_state_size(ks->ml);
        dn_wb_u32(&w, (uint32_t)kl);
        dn_wb_bytes(&w, ks->key, kl);
        dn_wb_u32(&w, (uint32_t)ks->n_bins);
        dn_wb_u64(&w, ks->version);
        dn_wb_u64(&w, (uint64_t)sl);
        dn_wb_need(&w, sl);
        if (!w.oom) {
            dn_ml_save(ks->ml, w.p + w.len, sl);
            w.len += sl;
        }
    }
    dn_wb_u32(&w, (uint32_t)tr->n_items);
    for (int i = 0; i < tr->n_items; i++) {
        item_t *it = &tr->items[i];
        int nb = tr->keys[it->key].n_bins;
        dn_wb_u64(&w, it->seq);
        dn_wb_u64(&w, (uint64_t)it->run_number);
        dn_wb_u32(&w, (uint32_t)it->key);
        dn_wb_u32(&w, (uint32_t)(it->label + 1));
        dn_wb_u32(&w, it->var ? 1u : 0u);
        for (int b = 0; b < nb; b++)
            dn_wb_f64(&w, it->x[b]);
        for (int b = 0; it->var && b < nb; b++)
            dn_wb_f64(&w, it->var[b]);
    }
    int rc = w.oom ? dn_err_set(err, DN_ENOMEM, "out of memory building the checkpoint")
                   : dn_store_checkpoint_write(tr->store, tr->ckpt_name, w.p, w.len, NULL, err);
    if (!rc)
        rc = dn_store_sync(tr->store, err);
    free(w.p);
    if (!rc) {
        clock_gettime(CLOCK_MONOTONIC, &tr->last_ckpt);
        tr->dirty = 0;
    }
    return rc;
}

static int restore(trainer_t *tr, dn_err_t *err)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_store_checkpoint_read(tr->store, tr->ckpt_name, &blob, &len, NULL, err);
    if (rc == DN_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    dn_rbuf_t r = {blob, len, 0, 0};
    const unsigned char *m = dn_rb_take(&r, 4);
    if (!m || memcmp(m, CKPT_MAGIC, 4) || dn_rb_u32(&r) != CKPT_VERSION) {
        free(blob);
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: bad magic or version", tr->ckpt_name);
    }
    uint64_t next = dn_rb_u64(&r);
    tr->next_seq = dn_rb_u64(&r);
    tr->runs = dn_rb_u64(&r);
    tr->labels = dn_rb_u64(&r);
    uint32_t nk = dn_rb_u32(&r);
    for (uint32_t k = 0; k < nk && !r.bad; k++) {
        uint32_t kl = dn_rb_u32(&r);
        const unsigned char *kb = dn_rb_take(&r, kl);
        int nb = (int)dn_rb_u32(&r);
        uint64_t version = dn_rb_u64(&r);
        uint64_t sl = dn_rb_u64(&r);
        const unsigned char *sb = dn_rb_take(&r, (size_t)sl);
        if (r.bad)
            break;
        char name[DN_MSG_KEY_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)kl, (const char *)kb);
        tkey_t *ks = key_push(tr, name, nb);
        if (!ks) {
            free(blob);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        ks->version = version;
        if ((rc = dn_ml_load(sb, (size_t)sl, &ks->ml, err))) {
            free(blob);
            return dn_err_prefix(err, "checkpoint %s: key '%s'", tr->ckpt_name, name);
        }
        dn_ml_set_min_entries(ks->ml, dn_policy_lookup(tr->policy, name, NULL).min_entries);
        dn_mlmodel_share_team(dn_ml_model(ks->ml), tr->team);
    }
    uint32_t ni = dn_rb_u32(&r);
    for (uint32_t i = 0; i < ni && !r.bad; i++) {
        item_t it = {0};
        it.seq = dn_rb_u64(&r);
        it.run_number = (int64_t)dn_rb_u64(&r);
        it.key = (int)dn_rb_u32(&r);
        it.label = (int8_t)((int)dn_rb_u32(&r) - 1);
        int has_var = (int)dn_rb_u32(&r);
        if (r.bad || it.key < 0 || it.key >= tr->n_keys) {
            r.bad = 1;
            break;
        }
        int nb = tr->keys[it.key].n_bins;
        it.x = malloc((size_t)nb * sizeof *it.x);
        if (has_var)
            it.var = malloc((size_t)nb * sizeof *it.var);
        if (!it.x || (has_var && !it.var) || item_push(tr, &it)) {
            item_free(&it);
            free(blob);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        for (int b = 0; b < nb; b++)
            it.x[b] = dn_rb_f64(&r);
        for (int b = 0; has_var && b < nb; b++)
            it.var[b] = dn_rb_f64(&r);
    }
    free(blob);
    if (r.bad)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: truncated", tr->ckpt_name);
    dn_follower_set_next(tr->follower, next);
    dn_log(DN_LOG_INFO, "restored %s: events next %llu, %d keys, %d held histograms",
           tr->ckpt_name, (unsigned long long)next, tr->n_keys, tr->n_items);
    return 0;
}

/* ---- shard leases (shard = auto) ---------------------------------------------------
 * Slot i of n is the record "slot-<i>of<n>" of table "trainer.leases" in the
 * shared weights store: "<owner> <expiry, Unix seconds>". A trainer claims a
 * slot that is free or expired with compare-and-swap (two trainers never
 * both win), renews it every tick and while training, releases it at SIGTERM,
 * and stops when it finds the lease taken over (it was stalled past expiry).
 * Extra replicas stand by and take over a slot whose lease expires, resuming
 * from that slot's checkpoint. */

#define LEASE_TABLE "trainer.leases"

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void lease_key(char *buf, size_t cap, int slot, int n)
{
    snprintf(buf, cap, "slot-%dof%d", slot, n);
}

/* Remembers val as our lease record (the expected value of the next swap). */
static int lease_keep(trainer_t *tr, const char *val, size_t len, double now, dn_err_t *err)
{
    uint8_t *mine = malloc(len);
    if (!mine)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    memcpy(mine, val, len);
    free(tr->lease_val);
    tr->lease_val = mine;
    tr->lease_len = len;
    tr->lease_renewed = now;
    return 0;
}

/* Claims (or renews) slot i. Returns 1 if ours now, 0 if another trainer
 * holds it, or a negative error. */
static int lease_claim(trainer_t *tr, int slot, dn_err_t *err)
{
    char key[64], val[256];
    lease_key(key, sizeof key, slot, tr->shards);
    void *cur = NULL;
    size_t cur_len = 0;
    int rc = dn_store_get(tr->store, LEASE_TABLE, key, strlen(key), &cur, &cur_len, err);
    if (rc && rc != DN_ENOTFOUND)
        return rc;
    double now = wall_now();
    if (!rc) {
        char owner[128] = "";
        double expiry = 0;
        if (sscanf(cur, "%127s %lf", owner, &expiry) != 2)
            expiry = 0; /* damaged: treat as expired */
        if (strcmp(owner, tr->owner) && expiry > now) {
            free(cur);
            return 0;
        }
    }
    int len = snprintf(val, sizeof val, "%s %.3f", tr->owner, now + tr->lease_s);
    rc = dn_store_cas(tr->store, LEASE_TABLE, key, strlen(key), rc ? NULL : cur, cur_len, val,
                      (size_t)len, err);
    free(cur);
    if (rc == DN_ESTATE)
        return 0; /* another trainer got there first */
    if (rc)
        return rc;
    return lease_keep(tr, val, (size_t)len, now, err) ? DN_ENOMEM : 1;
}

/* Renews our lease when a third of it has passed. Returns 0, or DN_ESTATE
 * when another trainer holds the slot now. */
static int lease_renew(trainer_t *tr, int force, dn_err_t *err)
{
    if (!tr->auto_shard || (!force && wall_now() - tr->lease_renewed < tr->lease_s / 3))
        return 0;
    char key[64], val[256];
    lease_key(key, sizeof key, tr->shard, tr->shards);
    double now = wall_now();
    int len = snprintf(val, sizeof val, "%s %.3f", tr->owner, now + tr->lease_s);
    int rc = dn_store_cas(tr->store, LEASE_TABLE, key, strlen(key), tr->lease_val, tr->lease_len,
                          val, (size_t)len, err);
    if (rc == DN_ESTATE)
        return dn_err_set(err, DN_ESTATE, "lease of slot %d/%d taken over by another trainer "
                          "(this one stalled past its expiry): stopping", tr->shard, tr->shards);
    if (rc)
        return rc;
    if (lease_keep(tr, val, (size_t)len, now, err))
        return DN_ENOMEM;
    return dn_store_sync(tr->store, err);
}

/* Gives the slot up at once (expiry 0), so a standby takes over without
 * waiting for the lease to run out. */
static void lease_release(trainer_t *tr)
{
    if (!tr->auto_shard || !tr->lease_val)
        return;
    char key[64], val[256];
    dn_err_t err = {0};
    lease_key(key, sizeof key, tr->shard, tr->shards);
    int len = snprintf(val, sizeof val, "%s 0", tr->owner);
    if (dn_store_cas(tr->store, LEASE_TABLE, key, strlen(key), tr->lease_val, tr->lease_len, val,
                     (size_t)len, &err) == 0)
        dn_store_sync(tr->store, &err);
}

/* Claims a free slot of n, standing by until one is free or SIGTERM.
 * Returns 0 with tr->shard set, 1 when stopped while standing by, or an error. */
static int lease_acquire(trainer_t *tr, dn_err_t *err)
{
    int said = 0;
    while (!dn_service_signalled()) {
        for (int i = 0; i < tr->shards; i++) {
            int rc = lease_claim(tr, i, err);
            if (rc < 0)
                return rc;
            if (rc == 1) {
                tr->shard = i;
                if ((rc = dn_store_sync(tr->store, err)))
                    return rc;
                dn_log(DN_LOG_INFO, "claimed slot %d/%d (lease %.0f s, owner %s)", i,
                       tr->shards, tr->lease_s, tr->owner);
                return 0;
            }
        }
        if (!said++)
            dn_log(DN_LOG_INFO, "all %d slots are held by live trainers: standing by",
                   tr->shards);
        struct timespec ts = {0, 250000000L};
        nanosleep(&ts, NULL);
    }
    return 1;
}

/* ---- service callbacks ------------------------------------------------------------ */

static int on_event(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                    const dn_recv_info_t *info, void *arg)
{
    (void)sock;
    (void)info;
    trainer_t *tr = arg;
    dn_err_t err = {0};
    int rc = dn_follower_accept(tr->follower, env, &err);
    if (rc < 0)
        return dn_service_fail(svc, rc, "events: %s", err.msg);
    if (rc != DN_FOLLOW_DELIVER)
        return 0;
    tr->dirty = 1;
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        rc = on_run(tr, env->run, &err);
        break;
    case DN_MSG_LABEL:
        on_label(tr, env->label);
        rc = train_ready(tr, &err);
        break;
    case DN_MSG_CONTROL:
        if (env->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM)
            dn_log(DN_LOG_INFO, "end of stream on events after %llu runs: %llu versions",
                   (unsigned long long)tr->runs, (unsigned long long)tr->versions);
        break;
    default:
        break;
    }
    return rc ? dn_service_fail(svc, rc, "%s", err.msg) : 0;
}

static double since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + 1e-9 * (double)(now.tv_nsec - t->tv_nsec);
}

static int on_round(dn_service_t *svc, void *arg)
{
    trainer_t *tr = arg;
    dn_err_t err = {0};
    int rc = train_ready(tr, &err);
    if (!rc && tr->dirty && since(&tr->last_ckpt) >= tr->checkpoint_s)
        rc = checkpoint(tr, &err);
    if (!rc)
        rc = dn_follower_flush(tr->follower, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    return DN_SERVICE_POLL_MAX_MS;
}

static int on_tick(dn_service_t *svc, void *arg)
{
    trainer_t *tr = arg;
    dn_err_t err = {0};
    int rc = dn_store_sync(tr->store, &err);
    if (!rc)
        rc = lease_renew(tr, 0, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    dn_log(DN_LOG_DEBUG, "runs %llu labels %llu versions %llu held %d", (unsigned long long)tr->runs,
           (unsigned long long)tr->labels, (unsigned long long)tr->versions, tr->n_items);
    return 0;
}

static int on_shutdown(dn_service_t *svc, void *arg)
{
    trainer_t *tr = arg;
    dn_err_t err = {0};
    /* Checkpoint first: a standby that takes the released slot resumes from it. */
    int rc = checkpoint(tr, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    lease_release(tr);
    dn_log(DN_LOG_INFO, "stopped: %llu runs, %llu labels, %llu versions, %llu wrong bin counts, "
           "%llu not learned, %llu labels for unknown runs",
           (unsigned long long)tr->runs, (unsigned long long)tr->labels,
           (unsigned long long)tr->versions, (unsigned long long)tr->bad_bins,
           (unsigned long long)tr->learn_failed, (unsigned long long)tr->labels_unknown);
    return 0;
}

/* ---- main ------------------------------------------------------------------------- */

static const dn_config_key_t keys[] = {
    {"events", DN_CFG_STRING, "connect:tcp://127.0.0.1:5550", "events log (SUB)"},
    {"events_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5551",
     "events log requests (PUSH: acks, rewinds)"},
    {"weights", DN_CFG_STRING, "connect:tcp://127.0.0.1:5556",
     "weights publication (PUB, connects to scorer_ml's SUB)"},
    {"weights_dir", DN_CFG_STRING, "", "shared LMDB weights store (default <data_dir>/weights)"},
    {"weights_file", DN_CFG_STRING, "", "initial weights (DNML or raw), optional"},
    {"shard", DN_CFG_STRING, "0/1",
     "i/n: train the keys k with dn_shard_of(k, n) == i; auto: claim a free slot of `shards`"},
    {"shards", DN_CFG_INT, "1", "n for shard = auto (the number of trainer replicas)"},
    {"lease_s", DN_CFG_DOUBLE, "15", "shard = auto: a slot whose holder is silent this long is "
                                     "taken over by a standby"},
    {"keep_last", DN_CFG_INT, "20", "versions kept per key in the weights store"},
    {"seed", DN_CFG_INT, "0", "DINAMO-ML initialisation and dropout seed"},
    {"threads", DN_CFG_INT, "1", "threads per training step (1 or 2; the same weights bit for "
                                 "bit): 2 when this trainer has a second core to itself"},
    {"checkpoint_s", DN_CFG_DOUBLE, "10", "seconds between checkpoints"},
};

int main(int argc, char **argv)
{
    dn_blas_init(argc, argv, 0);
    dn_err_t err = {0};
    int rc = 0, exit_code = 1;
    trainer_t tr;
    memset(&tr, 0, sizeof tr);
    void *zctx = NULL;
    dn_config_t *cfg = dn_config_new("trainer", keys, (int)(sizeof keys / sizeof *keys), &err);
    if (!cfg)
        goto fail;
    rc = dn_config_load(cfg, argc, argv, &err);
    if (rc == DN_CONFIG_HELP) {
        printf("usage: trainer [--config FILE] [--key value ...]\n");
        dn_config_usage(cfg, stdout);
        dn_config_destroy(&cfg);
        return 0;
    }
    if (rc)
        goto fail;
    if ((rc = dn_log_init("trainer", dn_config_str(cfg, "log_level"), &err)))
        goto fail;
    if (!(tr.policy = dn_policy_from_config(cfg, &err))) {
        rc = err.code;
        goto fail;
    }
    int64_t keep_last, seed, tick_ms, threads;
    dn_config_int(cfg, "threads", &threads);
    dn_config_int(cfg, "keep_last", &keep_last);
    dn_config_int(cfg, "seed", &seed);
    dn_config_int(cfg, "tick_ms", &tick_ms);
    dn_config_double(cfg, "checkpoint_s", &tr.checkpoint_s);
    const char *shard = dn_config_str(cfg, "shard");
    int si = -1, sn = 0, used = 0;
    int64_t shards;
    dn_config_int(cfg, "shards", &shards);
    dn_config_double(cfg, "lease_s", &tr.lease_s);
    if (!strcmp(shard, "auto")) {
        if (shards < 1 || shards > 4096 || !(tr.lease_s >= 1.0)) {
            rc = dn_err_set(&err, DN_EINVAL, "shard auto: need 1 <= shards <= 4096 and "
                            "lease_s >= 1");
            goto fail;
        }
        tr.auto_shard = 1;
        sn = (int)shards;
        si = 0;
    } else if (sscanf(shard, "%d/%d%n", &si, &sn, &used) != 2 || shard[used] || sn < 1 ||
               si < 0 || si >= sn) {
        rc = dn_err_set(&err, DN_EINVAL, "shard '%s': want i/n with 0 <= i < n, or auto", shard);
        goto fail;
    }
    if (keep_last < 1 || keep_last > INT32_MAX || tick_ms < 1 || tr.checkpoint_s < 0) {
        rc = dn_err_set(&err, DN_EINVAL, "need keep_last >= 1, tick_ms >= 1, checkpoint_s >= 0");
        goto fail;
    }
    if (threads < 1 || threads > DN_ML_MAX_THREADS) {
        rc = dn_err_set(&err, DN_EINVAL, "threads %lld: want 1..%d", (long long)threads,
                        DN_ML_MAX_THREADS);
        goto fail;
    }
    tr.threads = (int)threads;
    if (tr.threads > 1 && !(tr.team = dn_team_new(tr.threads))) {
        rc = dn_err_set(&err, DN_ENOMEM, "cannot start %d training threads", tr.threads);
        goto fail;
    }
    tr.shard = si;
    tr.shards = sn;
    tr.keep_last = (int)keep_last;
    tr.seed = (uint64_t)seed;
    if (dn_config_str(cfg, "weights_file")[0])
        tr.weights_file = dn_config_str(cfg, "weights_file");
    if ((rc = dn_service_install_signals(&err)))
        goto fail;

    char path[4096];
    if (dn_config_str(cfg, "weights_dir")[0])
        snprintf(path, sizeof path, "%s", dn_config_str(cfg, "weights_dir"));
    else
        snprintf(path, sizeof path, "%s/weights", dn_config_str(cfg, "data_dir"));
    if (!(tr.store = dn_store_open(path, DN_STORE_NOSYNC, 0, &err)))
        goto fail;
    if (tr.auto_shard) {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(tr.owner, sizeof tr.owner, "%s:%ld:%.0f", host, (long)getpid(),
                 wall_now() * 1e3);
        rc = lease_acquire(&tr, &err);
        if (rc == 1) {
            dn_log(DN_LOG_INFO, "stopped while standing by");
            exit_code = 0;
            goto fail;
        }
        if (rc)
            goto fail;
        si = tr.shard;
    }
    snprintf(tr.ckpt_name, sizeof tr.ckpt_name, "trainer/shard-%dof%d", si, sn);
    zctx = zmq_ctx_new();
    if (!zctx) {
        rc = dn_err_set(&err, DN_EIO, "zmq_ctx_new: %s", strerror(errno));
        goto fail;
    }
    if (!(tr.sub = dn_sock_new(zctx, ZMQ_SUB, dn_config_str(cfg, "events"), NULL, &err)) ||
        !(tr.push = dn_sock_new(zctx, ZMQ_PUSH, dn_config_str(cfg, "events_requests"), NULL,
                                &err)))
        goto fail;
    char consumer[64];
    snprintf(consumer, sizeof consumer, "trainer.%dof%d", si, sn);
    /* Publications are stamped with our name and fresh seqs (the stored copies
     * are not publications). */
    dn_sock_opts_t po = {.producer = consumer};
    if (!(tr.pub = dn_sock_new(zctx, ZMQ_PUB, dn_config_str(cfg, "weights"), &po, &err)))
        goto fail;
    dn_follower_opts_t fo = {.log = "events", .consumer = consumer};
    if (!(tr.follower = dn_follower_new(tr.sub, tr.push, &fo, &err)))
        goto fail;
    if ((rc = restore(&tr, &err)))
        goto fail;
    clock_gettime(CLOCK_MONOTONIC, &tr.last_ckpt);
    if (!(tr.svc = dn_service_new("trainer", &err)))
        goto fail;
    if ((rc = dn_service_add_socket(tr.svc, tr.sub, on_event, &tr)) ||
        (rc = dn_service_set_tick(tr.svc, (int)tick_ms, on_tick, &tr)))
        goto fail;
    dn_service_set_round(tr.svc, on_round, &tr);
    dn_service_set_shutdown(tr.svc, on_shutdown, &tr);
    dn_log(DN_LOG_INFO, "started: shard %d/%d, seed %llu, keep_last %d, %d thread(s) per step, store %s", si, sn,
           (unsigned long long)tr.seed, tr.keep_last, tr.threads, path);
    rc = dn_service_run(tr.svc, &err);
    if (!rc)
        exit_code = 0;
fail:
    if (exit_code)
        dn_log(DN_LOG_ERROR, "trainer: %s", err.msg[0] ? err.msg : dn_strerror(rc));
    dn_service_destroy(&tr.svc);
    dn_follower_destroy(&tr.follower);
    dn_sock_destroy(&tr.sub);
    dn_sock_destroy(&tr.push);
    dn_sock_destroy(&tr.pub);
    if (zctx)
        zmq_ctx_term(zctx);
    dn_store_destroy(&tr.store);
    for (int i = 0; i < tr.n_items; i++)
        item_free(&tr.items[i]);
    free(tr.items);
    for (int k = 0; k < tr.n_keys; k++) {
        free(tr.keys[k].key);
        dn_ml_destroy(&tr.keys[k].ml);
    }
    free(tr.keys);
    dn_team_destroy(&tr.team); /* after the models that borrowed it */
    free(tr.lease_val);
    dn_policy_destroy(&tr.policy);
    dn_config_destroy(&cfg);
    return exit_code;
}
