/* trainer: the DINAMO-ML training service (docs/pipeline.md).
 *
 * Follows the events log (runs, labels, END_OF_STREAM) and trains, per owned
 * histogram key, a dn_ml_t built exactly as dn_score_dataset_ml builds it
 * (SPEC 3 defaults sized for the key's bins, `seed`). A key first seen gets
 * version 0 (its initial weights); every good run added to the key's good-run
 * set (dn_ml_learn) gives version + 1 with last_run_seq / last_run_number of
 * that run. Each version is stored in the shared weights store (an encoded
 * ModelWeights envelope, keep_last versions per key) and only then published
 * on the weights PUB socket.
 *
 * Which keys a trainer owns:
 *   - shard = i/n (static): the keys k with dn_shard_of(k, n) == i;
 *   - shard = auto (elastic; docker compose --scale): every live trainer takes
 *     a fair share of the K keys seen so far among m live trainers: K / m,
 *     one more for the first K mod m trainers in the order of their names. A trainer holds a member lease ("member-<i>" in table
 *     trainer.members: "<owner> <expiry>", renewed every lease_s / 3; i also
 *     names its events consumer) and owns a key when the key's record in
 *     trainer.keys ("<owner> <first offset>", "-" for nobody) names it while
 *     its member lease is live. Every tick a trainer reads both tables, gives
 *     back keys beyond its share (checkpointing them first) and claims free
 *     keys, or keys of dead trainers, up to its share, each with one
 *     compare-and-swap, so two trainers never own one key. A key is
 *     registered (owner "-") by the first trainer that sees it in a run.
 *
 * State is per key (table trainer.keystate, key -> blob): the dn_ml_save state,
 * the latest version, `next` (the first events offset not yet applied to the
 * key) and the runs held until their labels arrive. A trainer that takes a key
 * over loads it and moves its follower back to the key's next (the events log
 * keeps everything); events below a key's next are skipped for that key, so
 * each event is applied to each key exactly once, whoever owns it. Per trainer,
 * table trainer.progress ("shard-<i>of<n>" or "member-<i>" -> the frontier,
 * the events offset up to which every key was seen and registered) says where
 * to follow from on start. Checkpoints (every checkpoint_s, when a key is
 * given back, at SIGTERM) write the dirty keys and the frontier in one
 * transaction, which in elastic mode also checks that every key written is
 * still ours. After a kill -9 the keys' next offsets are replayed and,
 * training being deterministic, the same versions stored and published again
 * bit for bit. */
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
#include "mlfile.h"
#include "mlmodel.h"
#include "msg.h"
#include "policy.h"
#include "service.h"
#include "store.h"
#include "stream.h"
#include "team.h"

#define KEYSTATE_MAGIC "DNTK"
#define KEYSTATE_VERSION 1u
#define PROGRESS_MAGIC "DNTP"
#define PROGRESS_VERSION 1u
#define T_MEMBERS "trainer.members"
#define T_KEYS "trainer.keys"
#define T_KEYSTATE "trainer.keystate"
#define T_PROGRESS "trainer.progress"
#define MAX_MEMBERS 4096

enum { LBL_NONE = -1, LBL_GOOD = 0, LBL_BAD = 1 };

/* One run of a key, waiting for its label. */
typedef struct item_t {
    uint64_t seq;
    int64_t run_number;
    int8_t label;
    double *x, *var;          /* [n_bins]; var NULL: Poisson */
} item_t;

typedef struct tkey_t {
    char *key;
    int n_bins;               /* 0 until the key's first run was applied */
    dn_ml_t *ml;              /* NULL until then */
    uint64_t version;         /* latest version stored and published */
    uint64_t next;            /* first events offset not applied to this key */
    uint64_t next_run_seq;    /* run_seq expected next for this key */
    item_t *items;            /* in run order */
    int n_items, cap_items;
    int dirty;                /* changed since its last checkpoint */
    char *claim;              /* elastic: our record in trainer.keys (the CAS expectation) */
    uint64_t first;           /* elastic: offset of the key's first run */
} tkey_t;

typedef struct names_t {
    char **v;
    int n, cap;
} names_t;

typedef struct trainer_t {
    dn_policy_t *policy;      /* min_entries per key */
    int shard, shards, keep_last;
    int threads;              /* per training step */
    dn_team_t *team;          /* shared by every key's model; NULL: one thread */
    int elastic;              /* shard = auto */
    int member;               /* elastic: our member slot */
    double lease_s, lease_renewed;
    char owner[128];          /* this process in the lease records */
    char *lease_val;          /* our current member record */
    size_t lease_len;
    uint64_t seed;
    void *weights;            /* initial weights (weights_file's bytes), or NULL */
    size_t weights_len;
    double checkpoint_s;
    char ckpt_name[64];       /* "trainer/shard-<i>of<n>" or "trainer/member-<i>" */
    const char *progress_name;/* ckpt_name without "trainer/" */
    dn_service_t *svc;
    dn_store_t *store;
    dn_sock_t *sub, *push, *pub;
    dn_follower_t *follower;
    tkey_t *keys;             /* owned keys */
    int n_keys, cap_keys;
    char **known;             /* elastic: keys known to be registered */
    int n_known, cap_known;
    int rebalance;            /* elastic: a key became known: balance this round, not
                               * at the next tick (in lockstep, nobody trains an
                               * unowned key and the stream waits for it) */
    uint64_t frontier;        /* every event below it was seen (keys registered) */
    int dirty;
    int shares_said;          /* last (owned, K, m) logged, to log changes only */
    int said_k, said_m;
    struct timespec last_ckpt;
    uint64_t runs, labels, versions, bad_bins, learn_failed, labels_unknown, runs_unexpected;
    uint64_t keys_taken, keys_given, keys_lost;
    names_t left;             /* elastic: dead member records whose consumer we said left */
    int renew_rc;             /* a renewal failed inside dn_ml_learn: its code ... */
    dn_err_t renew_err;       /* ... and error, for train_ready to stop with */
} trainer_t;

static int member_renew(trainer_t *tr, int force, dn_err_t *err);

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- owned keys -------------------------------------------------------------- */

static int key_find(const trainer_t *tr, const char *k)
{
    for (int i = 0; i < tr->n_keys; i++)
        if (!strcmp(tr->keys[i].key, k))
            return i;
    return -1;
}

static void item_free(item_t *it)
{
    free(it->x);
    free(it->var);
}

static int item_push(tkey_t *ks, const item_t *it)
{
    if (ks->n_items == ks->cap_items) {
        int cap = ks->cap_items ? 2 * ks->cap_items : 16;
        item_t *p = realloc(ks->items, (size_t)cap * sizeof *p);
        if (!p)
            return DN_ENOMEM;
        ks->items = p;
        ks->cap_items = cap;
    }
    ks->items[ks->n_items++] = *it;
    return 0;
}

/* A new owned key with nothing applied from offset next on. NULL: out of memory. */
static tkey_t *key_add(trainer_t *tr, const char *k, uint64_t next)
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
    ks->next = next;
    ks->dirty = 1;
    tr->n_keys++;
    return ks;
}

/* Forgets owned key i (its state stays wherever it was checkpointed). */
static void key_drop(trainer_t *tr, int i)
{
    tkey_t *ks = &tr->keys[i];
    for (int j = 0; j < ks->n_items; j++)
        item_free(&ks->items[j]);
    free(ks->items);
    free(ks->key);
    free(ks->claim);
    dn_ml_destroy(&ks->ml);
    memmove(ks, ks + 1, (size_t)(tr->n_keys - i - 1) * sizeof *ks);
    tr->n_keys--;
}

static int owns_static(const trainer_t *tr, const char *k)
{
    return !tr->elastic && dn_shard_of(k, tr->shards) == tr->shard;
}

/* ---- versions ---------------------------------------------------------------- */

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

/* Gives owned key ks its tracker at its first run (n_bins bins), as
 * dn_score_dataset_ml does, and stores and publishes version 0. */
/* dn_ml_learn's step hook of an elastic trainer: renews the member lease while
 * one run trains. A key's first runs train hundreds of steps, which can outlast
 * a short lease (seconds under load or a sanitizer); renewed only between runs,
 * the lease of a trainer that was merely busy ran out, the others took its keys
 * and restarted them from their last checkpoint, and under steady slowness the
 * keys went round the trainers without ever getting further. */
static int renew_while_training(void *ctx, dn_err_t *err)
{
    trainer_t *tr = ctx;
    int rc = member_renew(tr, 0, err);
    if (rc) {
        tr->renew_rc = rc;
        tr->renew_err = *err;
    }
    return rc;
}

static int key_start(trainer_t *tr, tkey_t *ks, int n_bins, dn_err_t *err)
{
    const char *k = ks->key;
    dn_ml_setup_t setup = {.n_bins = n_bins, .seed = tr->seed,
                           .min_entries = dn_policy_lookup(tr->policy, k, NULL).min_entries,
                           .weights = tr->weights, .weights_len = tr->weights_len,
                           .team = tr->team};
    if (dn_ml_new_for(&setup, &ks->ml, err))
        return dn_err_prefix(err, "key %s", k);
    if (tr->elastic)
        dn_ml_set_step_hook(ks->ml, renew_while_training, tr);
    ks->n_bins = n_bins;
    ks->version = 0;
    int rc = put_version(tr, ks, 0, 0, 0, NAN, err);
    if (rc)
        return rc;
    dn_log(DN_LOG_INFO, "key %s v0: initial weights (%d bins, seed %llu)", k, n_bins,
           (unsigned long long)tr->seed);
    return 0;
}

/* ---- held runs and training ---------------------------------------------------- */

/* Learns, key by key, the leading held runs whose labels arrived, in run order. */
static int train_ready(trainer_t *tr, dn_err_t *err)
{
    for (int k = 0; k < tr->n_keys; k++) {
        tkey_t *ks = &tr->keys[k];
        int done = 0;
        while (done < ks->n_items && ks->items[done].label != LBL_NONE) {
            if (dn_service_signalled())
                break;
            item_t *it = &ks->items[done];
            int lrc = member_renew(tr, 0, err);
            if (lrc)
                return lrc;
            if (it->label == LBL_GOOD) {
                int64_t before = dn_ml_n_good(ks->ml);
                int steps = 0;
                float loss = NAN;
                dn_err_t e = {0};
                int rc = dn_ml_learn(ks->ml, (int64_t)it->seq, it->x, it->var, &steps, &loss, &e);
                if (tr->renew_rc) { /* not the run's fault: our lease is gone */
                    *err = tr->renew_err;
                    return tr->renew_rc;
                }
                if (rc) {
                    tr->learn_failed++;
                    dn_log(DN_LOG_WARN, "run %lld: key %s: not learned: %s",
                           (long long)it->run_number, ks->key, e.msg);
                }
                if (dn_ml_n_good(ks->ml) > before) {
                    ks->version++;
                    if ((rc = put_version(tr, ks, it->run_number, it->seq, steps, loss, err)))
                        return rc;
                    dn_log(DN_LOG_INFO, "key %s v%llu trained on run_seq %llu: %d steps, loss %.6g",
                           ks->key, (unsigned long long)ks->version,
                           (unsigned long long)it->seq, steps, (double)loss);
                }
            }
            item_free(it);
            done++;
        }
        if (done) {
            memmove(ks->items, ks->items + done, (size_t)(ks->n_items - done) * sizeof *ks->items);
            ks->n_items -= done;
            ks->dirty = tr->dirty = 1;
        }
    }
    return 0;
}

/* Elastic: registers key k (first seen at offset off) in trainer.keys unless
 * it is known to be there. */
static int key_register(trainer_t *tr, const char *k, uint64_t off, dn_err_t *err)
{
    for (int i = 0; i < tr->n_known; i++)
        if (!strcmp(tr->known[i], k))
            return 0;
    char val[64];
    int len = snprintf(val, sizeof val, "- %llu", (unsigned long long)off);
    int rc = dn_store_cas(tr->store, T_KEYS, k, strlen(k), NULL, 0, val, (size_t)len, err);
    if (rc && rc != DN_ESTATE) /* DN_ESTATE: another trainer registered it first */
        return rc;
    if (!rc)
        dn_log(DN_LOG_INFO, "key %s registered (first run at events offset %llu)", k,
               (unsigned long long)off);
    if (tr->n_known == tr->cap_known) {
        int cap = tr->cap_known ? 2 * tr->cap_known : 16;
        char **p = realloc(tr->known, (size_t)cap * sizeof *p);
        if (!p)
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        tr->known = p;
        tr->cap_known = cap;
    }
    if (!(tr->known[tr->n_known] = strdup(k)))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    tr->n_known++;
    tr->rebalance = 1;
    return 0;
}

/* The run at events offset off: held for each owned key that has not seen it. */
static int on_run(trainer_t *tr, const Dinamo__Run *run, uint64_t off, dn_err_t *err)
{
    if (off >= tr->frontier)
        tr->runs++;
    for (size_t j = 0; j < run->n_histograms; j++) {
        const Dinamo__Histogram *hg = run->histograms[j];
        int rc;
        if (tr->elastic && (rc = key_register(tr, hg->key, off, err)))
            return rc;
        int k = key_find(tr, hg->key);
        if (k < 0 && owns_static(tr, hg->key)) {
            if (!key_add(tr, hg->key, off))
                return dn_err_set(err, DN_ENOMEM, "out of memory");
            k = tr->n_keys - 1;
        }
        if (k < 0 || off < tr->keys[k].next)
            continue; /* not ours, or applied before */
        tkey_t *ks = &tr->keys[k];
        if (run->run_seq < ks->next_run_seq) {
            tr->runs_unexpected++;
            dn_log(DN_LOG_WARN, "run %lld: key %s: run_seq %llu already seen: skipped",
                   (long long)run->run_number, ks->key, (unsigned long long)run->run_seq);
            continue;
        }
        ks->next_run_seq = run->run_seq + 1;
        int nb = (int)hg->n_counts;
        if (!ks->ml) {
            if ((rc = key_start(tr, ks, nb, err)))
                return rc;
        } else if (ks->n_bins != nb) {
            tr->bad_bins++;
            dn_log(DN_LOG_WARN, "run %lld: key %s: %d bins, the key has %d: skipped",
                   (long long)run->run_number, hg->key, nb, ks->n_bins);
            continue;
        }
        item_t it = {.seq = run->run_seq, .run_number = run->run_number, .label = LBL_NONE};
        it.x = malloc((size_t)nb * sizeof *it.x);
        if (hg->n_variances == (size_t)nb)
            it.var = malloc((size_t)nb * sizeof *it.var);
        if (!it.x || (hg->n_variances == (size_t)nb && !it.var) || item_push(ks, &it)) {
            item_free(&it);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        memcpy(it.x, hg->counts, (size_t)nb * sizeof *it.x);
        if (it.var)
            memcpy(it.var, hg->variances, (size_t)nb * sizeof *it.var);
    }
    return 0;
}

/* The label at events offset off, for every owned key that has not seen it. */
static void on_label(trainer_t *tr, const Dinamo__Label *l, uint64_t off)
{
    if (off >= tr->frontier)
        tr->labels++;
    int all = !l->histogram_key || !l->histogram_key[0], hit = 0, fresh = 0;
    for (int k = 0; k < tr->n_keys; k++) {
        tkey_t *ks = &tr->keys[k];
        if (off < ks->next || (!all && strcmp(ks->key, l->histogram_key)))
            continue;
        if (l->run_seq >= ks->next_run_seq)
            fresh = 1;
        for (int i = 0; i < ks->n_items; i++) {
            item_t *it = &ks->items[i];
            if (it->seq != l->run_seq)
                continue;
            hit = 1;
            if (it->label == LBL_NONE)
                it->label = l->verdict == DINAMO__VERDICT__GOOD ? LBL_GOOD : LBL_BAD;
        }
    }
    if (!hit && fresh) {
        tr->labels_unknown++;
        dn_log(DN_LOG_WARN, "label for run %lld (run_seq %llu, key %s): unknown run: skipped",
               (long long)l->run_number, (unsigned long long)l->run_seq,
               all ? "(all)" : l->histogram_key);
    }
}

/* ---- per-key state ------------------------------------------------------------------ */

static void keystate_encode(const tkey_t *ks, dn_wbuf_t *w)
{
    dn_wb_bytes(w, KEYSTATE_MAGIC, 4);
    dn_wb_u32(w, KEYSTATE_VERSION);
    dn_wb_u32(w, (uint32_t)ks->n_bins);
    dn_wb_u64(w, ks->version);
    dn_wb_u64(w, ks->next);
    dn_wb_u64(w, ks->next_run_seq);
    size_t sl = ks->ml ? dn_ml_state_size(ks->ml) : 0;
    dn_wb_u64(w, (uint64_t)sl);
    if (sl && !dn_wb_need(w, sl)) {
        dn_ml_save(ks->ml, w->p + w->len, sl);
        w->len += sl;
    }
    dn_wb_u32(w, (uint32_t)ks->n_items);
    for (int i = 0; i < ks->n_items; i++) {
        const item_t *it = &ks->items[i];
        dn_wb_u64(w, it->seq);
        dn_wb_u64(w, (uint64_t)it->run_number);
        dn_wb_u32(w, (uint32_t)(it->label + 1));
        dn_wb_u32(w, it->var ? 1u : 0u);
        for (int b = 0; b < ks->n_bins; b++)
            dn_wb_f64(w, it->x[b]);
        for (int b = 0; it->var && b < ks->n_bins; b++)
            dn_wb_f64(w, it->var[b]);
    }
}

/* Fills the freshly added ks from its saved state. */
static int keystate_decode(trainer_t *tr, tkey_t *ks, const void *blob, size_t len, dn_err_t *err)
{
    dn_rbuf_t r = {blob, len, 0, 0};
    const unsigned char *m = dn_rb_take(&r, 4);
    if (!m || memcmp(m, KEYSTATE_MAGIC, 4) || dn_rb_u32(&r) != KEYSTATE_VERSION)
        return dn_err_set(err, DN_EFORMAT, "key %s: saved state: bad magic or version", ks->key);
    ks->n_bins = (int)dn_rb_u32(&r);
    ks->version = dn_rb_u64(&r);
    ks->next = dn_rb_u64(&r);
    ks->next_run_seq = dn_rb_u64(&r);
    uint64_t sl = dn_rb_u64(&r);
    const unsigned char *sb = dn_rb_take(&r, (size_t)sl);
    if (r.bad || ks->n_bins < 0 || (sl == 0) != (ks->n_bins == 0))
        return dn_err_set(err, DN_EFORMAT, "key %s: saved state: truncated or inconsistent",
                          ks->key);
    if (sl) {
        int rc = dn_ml_load(sb, (size_t)sl, &ks->ml, err);
        if (rc)
            return dn_err_prefix(err, "key %s: saved state", ks->key);
        dn_ml_set_min_entries(ks->ml, dn_policy_lookup(tr->policy, ks->key, NULL).min_entries);
        dn_mlmodel_share_team(dn_ml_model(ks->ml), tr->team);
        if (tr->elastic)
            dn_ml_set_step_hook(ks->ml, renew_while_training, tr);
    }
    uint32_t ni = dn_rb_u32(&r);
    int nb = ks->n_bins;
    for (uint32_t i = 0; i < ni && !r.bad; i++) {
        item_t it = {0};
        it.seq = dn_rb_u64(&r);
        it.run_number = (int64_t)dn_rb_u64(&r);
        it.label = (int8_t)((int)dn_rb_u32(&r) - 1);
        int has_var = (int)dn_rb_u32(&r);
        if (r.bad || nb == 0)
            break;
        it.x = malloc((size_t)nb * sizeof *it.x);
        if (has_var)
            it.var = malloc((size_t)nb * sizeof *it.var);
        if (!it.x || (has_var && !it.var) || item_push(ks, &it)) {
            item_free(&it);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        for (int b = 0; b < nb; b++)
            it.x[b] = dn_rb_f64(&r);
        for (int b = 0; has_var && b < nb; b++)
            it.var[b] = dn_rb_f64(&r);
    }
    if (r.bad || (ni && nb == 0))
        return dn_err_set(err, DN_EFORMAT, "key %s: saved state: truncated", ks->key);
    return 0;
}

/* Loads key ks's saved state if there is one (DN_ENOTFOUND is no error:
 * the key keeps what key_add gave it). */
static int keystate_load(trainer_t *tr, tkey_t *ks, dn_err_t *err)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_store_get(tr->store, T_KEYSTATE, ks->key, strlen(ks->key), &blob, &len, err);
    if (rc == DN_ENOTFOUND)
        return 0;
    if (!rc)
        rc = keystate_decode(tr, ks, blob, len, err);
    free(blob);
    return rc;
}

/* Adds to batch the state of keys [from, n_keys) that are dirty (all of them
 * when releasing); elastic: with a check that each is still ours, and when
 * releasing, its record handed to nobody. */
static int stage_keys(trainer_t *tr, dn_store_batch_t *b, int from, int release)
{
    for (int k = from; k < tr->n_keys; k++) {
        tkey_t *ks = &tr->keys[k];
        if (!ks->dirty && !release)
            continue;
        dn_wbuf_t w = {0};
        keystate_encode(ks, &w);
        int rc = w.oom ? DN_ENOMEM
                       : dn_store_batch_put(b, T_KEYSTATE, ks->key, strlen(ks->key), w.p, w.len);
        free(w.p);
        if (rc)
            return rc;
        if (tr->elastic) {
            char freed[64];
            int fl = snprintf(freed, sizeof freed, "- %llu", (unsigned long long)ks->first);
            size_t cl = strlen(ks->claim);
            if ((rc = dn_store_batch_cas(b, T_KEYS, ks->key, strlen(ks->key), ks->claim, cl,
                                         release ? freed : ks->claim,
                                         release ? (size_t)fl : cl)))
                return rc;
        }
    }
    return 0;
}

static int stage_progress(trainer_t *tr, dn_store_batch_t *b)
{
    dn_wbuf_t w = {0};
    dn_wb_bytes(&w, PROGRESS_MAGIC, 4);
    dn_wb_u32(&w, PROGRESS_VERSION);
    dn_wb_u64(&w, tr->frontier);
    dn_wb_u64(&w, tr->runs);
    dn_wb_u64(&w, tr->labels);
    int rc = w.oom ? DN_ENOMEM
                   : dn_store_batch_put(b, T_PROGRESS, tr->progress_name,
                                        strlen(tr->progress_name), w.p, w.len);
    free(w.p);
    return rc;
}

static int keys_verify(trainer_t *tr, dn_err_t *err);

/* Writes keys [from, n_keys) (dirty ones, or all when releasing) and the
 * frontier in one transaction; releasing hands those keys to nobody and
 * forgets them. Elastic: a key found no longer ours is dropped unwritten
 * (keys_verify) and the rest written. */
static int save_keys(trainer_t *tr, int from, int release, dn_err_t *err)
{
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        dn_store_batch_t *b = dn_store_batch_new();
        if (!b)
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        rc = stage_keys(tr, b, from, release);
        if (!rc)
            rc = stage_progress(tr, b);
        if (rc) {
            dn_store_batch_destroy(&b);
            return dn_err_set(err, rc, "checkpoint: out of memory");
        }
        rc = dn_store_apply(tr->store, b, err);
        dn_store_batch_destroy(&b);
        if (rc != DN_ESTATE || !tr->elastic)
            break;
        int before = tr->n_keys;
        if ((rc = keys_verify(tr, err)))
            return rc;
        if (from > tr->n_keys)
            from = tr->n_keys;
        if (tr->n_keys == before) /* nothing lost: not a claim that failed */
            return dn_err_set(err, DN_ESTATE, "checkpoint: compare-and-swap failed");
        rc = DN_ESTATE;
    }
    if (rc)
        return rc;
    if ((rc = dn_store_sync(tr->store, err)))
        return rc;
    for (int k = from; k < tr->n_keys; k++)
        tr->keys[k].dirty = 0;
    if (release)
        while (tr->n_keys > from) {
            tkey_t *ks = &tr->keys[tr->n_keys - 1];
            dn_log(DN_LOG_INFO, "gave key %s back (events from %llu, v%llu)", ks->key,
                   (unsigned long long)ks->next, (unsigned long long)ks->version);
            tr->keys_given++;
            key_drop(tr, tr->n_keys - 1);
        }
    return 0;
}

static int checkpoint(trainer_t *tr, dn_err_t *err)
{
    int rc = save_keys(tr, 0, 0, err);
    if (!rc) {
        clock_gettime(CLOCK_MONOTONIC, &tr->last_ckpt);
        tr->dirty = 0;
    }
    return rc;
}

/* ---- start ------------------------------------------------------------------------------ */

static int names_push(names_t *ns, const char *name)
{
    if (ns->n == ns->cap) {
        int cap = ns->cap ? 2 * ns->cap : 8;
        char **p = realloc(ns->v, (size_t)cap * sizeof *p);
        if (!p)
            return DN_ENOMEM;
        ns->v = p;
        ns->cap = cap;
    }
    if (!(ns->v[ns->n] = strdup(name)))
        return DN_ENOMEM;
    ns->n++;
    return 0;
}

static void names_free(names_t *ns)
{
    for (int i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
    memset(ns, 0, sizeof *ns);
}

static int collect_static(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    void **a = arg;
    trainer_t *tr = a[0];
    names_t *ns = a[1];
    char name[DN_MSG_KEY_MAX + 1];
    if (klen > DN_MSG_KEY_MAX)
        return 0;
    memcpy(name, key, klen);
    name[klen] = '\0';
    return owns_static(tr, name) ? names_push(ns, name) : 0;
}

/* The frontier of a progress record (0 when damaged). */
static uint64_t progress_frontier(const void *val, size_t vlen)
{
    if (vlen < 16 || memcmp(val, PROGRESS_MAGIC, 4) ||
        dn_get_u32((const unsigned char *)val + 4) != PROGRESS_VERSION)
        return 0;
    return dn_get_u64((const unsigned char *)val + 8);
}

static int max_member_frontier(const void *key, size_t klen, const void *val, size_t vlen,
                               void *arg)
{
    uint64_t *f = arg;
    if (klen > 7 && !memcmp(key, "member-", 7)) {
        uint64_t v = progress_frontier(val, vlen);
        if (v > *f)
            *f = v;
    }
    return 0;
}

/* Where to follow from. Static: the shard's frontier and its keys' saved
 * states. Elastic: the furthest frontier of any member (every key before it
 * is registered); keys come by balance(). */
static int restore(trainer_t *tr, dn_err_t *err)
{
    int rc;
    if (tr->elastic) {
        uint64_t f = 0;
        if ((rc = dn_store_foreach(tr->store, T_PROGRESS, "member-", 7, max_member_frontier, &f,
                                   err)))
            return rc;
        tr->frontier = f;
        dn_follower_set_next(tr->follower, f);
        dn_log(DN_LOG_INFO, "following events from %llu", (unsigned long long)f);
        return 0;
    }
    void *blob = NULL;
    size_t len = 0;
    rc = dn_store_get(tr->store, T_PROGRESS, tr->progress_name, strlen(tr->progress_name), &blob,
                      &len, err);
    if (rc && rc != DN_ENOTFOUND)
        return rc;
    tr->frontier = rc ? 0 : progress_frontier(blob, len);
    free(blob);
    names_t ns = {0};
    void *a[2] = {tr, &ns};
    rc = dn_store_foreach(tr->store, T_KEYSTATE, NULL, 0, collect_static, a, err);
    if (rc == DN_ENOMEM)
        dn_err_set(err, rc, "out of memory");
    uint64_t next = tr->frontier;
    for (int i = 0; !rc && i < ns.n; i++) {
        tkey_t *ks = key_add(tr, ns.v[i], 0);
        if (!ks) {
            rc = dn_err_set(err, DN_ENOMEM, "out of memory");
            break;
        }
        if (!(rc = keystate_load(tr, ks, err)) && ks->next < next)
            next = ks->next;
        ks->dirty = 0;
    }
    names_free(&ns);
    if (rc)
        return rc;
    dn_follower_set_next(tr->follower, next);
    dn_log(DN_LOG_INFO, "restored %s: events from %llu, %d keys", tr->progress_name,
           (unsigned long long)next, tr->n_keys);
    return 0;
}

/* ---- elastic mode: member leases and fair shares ------------------------------------------
 * A member record is "<owner> <expiry, Unix seconds>". A trainer claims the
 * lowest slot that is free or expired with compare-and-swap, renews it every
 * lease_s / 3 (also between the steps of one run's training), releases it
 * (expiry 0) at SIGTERM, and
 * stops when it finds it taken over: it stalled past its expiry and its keys
 * may have been claimed by others. */

/* Remembers val as our member record: the expected value of the next swap. */
static int member_keep(trainer_t *tr, const char *val, size_t len, double now, dn_err_t *err)
{
    char *mine = strdup(val);
    if (!mine)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    free(tr->lease_val);
    tr->lease_val = mine;
    tr->lease_len = len;
    tr->lease_renewed = now;
    return 0;
}

/* Claims (or renews) member slot i. Returns 1 if ours now, 0 if another
 * trainer holds it, or a negative error. */
static int member_claim(trainer_t *tr, int slot, dn_err_t *err)
{
    char key[32], val[256];
    snprintf(key, sizeof key, "member-%d", slot);
    void *cur = NULL;
    size_t cur_len = 0;
    int rc = dn_store_get(tr->store, T_MEMBERS, key, strlen(key), &cur, &cur_len, err);
    if (rc && rc != DN_ENOTFOUND)
        return rc;
    double now = wall_now();
    if (!rc) {
        char owner[128] = "", text[256];
        double expiry = 0;
        snprintf(text, sizeof text, "%.*s", (int)cur_len, (const char *)cur);
        if (sscanf(text, "%127s %lf", owner, &expiry) != 2)
            expiry = 0; /* damaged: treat as expired */
        if (strcmp(owner, tr->owner) && expiry > now) {
            free(cur);
            return 0;
        }
    }
    int len = snprintf(val, sizeof val, "%s %.3f", tr->owner, now + tr->lease_s);
    rc = dn_store_cas(tr->store, T_MEMBERS, key, strlen(key), rc ? NULL : cur, cur_len, val,
                      (size_t)len, err);
    free(cur);
    if (rc == DN_ESTATE)
        return 0; /* another trainer got there first */
    if (rc)
        return rc;
    return member_keep(tr, val, (size_t)len, now, err) ? DN_ENOMEM : 1;
}

static int member_acquire(trainer_t *tr, dn_err_t *err)
{
    for (int i = 0; i < MAX_MEMBERS; i++) {
        int rc = member_claim(tr, i, err);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            tr->member = i;
            if ((rc = dn_store_sync(tr->store, err)))
                return rc;
            dn_log(DN_LOG_INFO, "joined as member %d (lease %.0f s, owner %s)", i, tr->lease_s,
                   tr->owner);
            return 0;
        }
    }
    return dn_err_set(err, DN_ERANGE, "all %d member slots are held by live trainers",
                      MAX_MEMBERS);
}

/* Renews our member lease when a third of it has passed. Returns 0, or
 * DN_ESTATE when another trainer holds our slot now. */
static int member_renew(trainer_t *tr, int force, dn_err_t *err)
{
    if (!tr->elastic || (!force && wall_now() - tr->lease_renewed < tr->lease_s / 3))
        return 0;
    char key[32], val[256];
    snprintf(key, sizeof key, "member-%d", tr->member);
    double now = wall_now();
    int len = snprintf(val, sizeof val, "%s %.3f", tr->owner, now + tr->lease_s);
    int rc = dn_store_cas(tr->store, T_MEMBERS, key, strlen(key), tr->lease_val, tr->lease_len,
                          val, (size_t)len, err);
    if (rc == DN_ESTATE)
        return dn_err_set(err, DN_ESTATE, "member slot %d taken over by another trainer (this "
                          "one stalled past its lease): stopping", tr->member);
    if (rc)
        return rc;
    if (member_keep(tr, val, (size_t)len, now, err))
        return DN_ENOMEM;
    return dn_store_sync(tr->store, err);
}

/* Gives the member slot up at once (expiry 0). */
static void member_release(trainer_t *tr)
{
    if (!tr->elastic || !tr->lease_val)
        return;
    char key[32], val[256];
    dn_err_t err = {0};
    snprintf(key, sizeof key, "member-%d", tr->member);
    int len = snprintf(val, sizeof val, "%s 0", tr->owner);
    if (dn_store_cas(tr->store, T_MEMBERS, key, strlen(key), tr->lease_val, tr->lease_len, val,
                     (size_t)len, &err) == 0)
        dn_store_sync(tr->store, &err);
}

/* A snapshot of trainer.members (live owners) and trainer.keys. */
typedef struct krec_t {
    char key[DN_MSG_KEY_MAX + 1];
    char owner[128];
    uint64_t first;
    char *val;                /* the record as stored */
} krec_t;

typedef struct view_t {
    names_t live;             /* owners of live member records */
    names_t dead;             /* expired member records: "<slot> <record>" */
    krec_t *keys;
    int n_keys, cap_keys;
    double now;
    int oom;
} view_t;

static int view_member(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    view_t *v = arg;
    char text[256], owner[128];
    double expiry = 0;
    snprintf(text, sizeof text, "%.*s", (int)(vlen < 255 ? vlen : 255), (const char *)val);
    if (sscanf(text, "%127s %lf", owner, &expiry) != 2)
        return 0;
    char dead[400];
    if (expiry <= v->now) {
        if (klen <= 7 || klen > 16 || memcmp(key, "member-", 7))
            return 0;
        snprintf(dead, sizeof dead, "%.*s %s", (int)(klen - 7), (const char *)key + 7, text);
        return names_push(&v->dead, dead);
    }
    return names_push(&v->live, owner);
}

static int view_key(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    view_t *v = arg;
    if (klen > DN_MSG_KEY_MAX || vlen > 255)
        return 0; /* not one of ours */
    if (v->n_keys == v->cap_keys) {
        int cap = v->cap_keys ? 2 * v->cap_keys : 16;
        krec_t *p = realloc(v->keys, (size_t)cap * sizeof *p);
        if (!p)
            return DN_ENOMEM;
        v->keys = p;
        v->cap_keys = cap;
    }
    krec_t *r = &v->keys[v->n_keys];
    memset(r, 0, sizeof *r);
    memcpy(r->key, key, klen);
    if (!(r->val = malloc(vlen + 1)))
        return DN_ENOMEM;
    memcpy(r->val, val, vlen);
    r->val[vlen] = '\0';
    unsigned long long first = 0;
    if (sscanf(r->val, "%127s %llu", r->owner, &first) != 2) {
        free(r->val);
        return 0;
    }
    r->first = first;
    v->n_keys++;
    return 0;
}

static void view_free(view_t *v)
{
    names_free(&v->live);
    names_free(&v->dead);
    for (int i = 0; i < v->n_keys; i++)
        free(v->keys[i].val);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

static int view_read(trainer_t *tr, view_t *v, dn_err_t *err)
{
    memset(v, 0, sizeof *v);
    v->now = wall_now();
    int rc = dn_store_foreach(tr->store, T_MEMBERS, NULL, 0, view_member, v, err);
    if (!rc)
        rc = dn_store_foreach(tr->store, T_KEYS, NULL, 0, view_key, v, err);
    if (rc == DN_ENOMEM)
        dn_err_set(err, rc, "out of memory");
    if (rc)
        view_free(v);
    return rc;
}

static const krec_t *view_find(const view_t *v, const char *k)
{
    for (int i = 0; i < v->n_keys; i++)
        if (!strcmp(v->keys[i].key, k))
            return &v->keys[i];
    return NULL;
}

static int view_live(const view_t *v, const char *owner)
{
    for (int i = 0; i < v->live.n; i++)
        if (!strcmp(v->live.v[i], owner))
            return 1;
    return 0;
}

/* Drops the owned keys whose record no longer names us (we stalled past our
 * lease and another trainer claimed them): their state is the new owner's. */
static int keys_verify_view(trainer_t *tr, const view_t *v)
{
    for (int k = tr->n_keys - 1; k >= 0; k--) {
        const krec_t *r = view_find(v, tr->keys[k].key);
        if (r && !strcmp(r->val, tr->keys[k].claim))
            continue;
        dn_log(DN_LOG_WARN, "key %s: claimed by another trainer (%s) while this one stalled: "
               "dropped", tr->keys[k].key, r ? r->owner : "record gone");
        tr->keys_lost++;
        key_drop(tr, k);
    }
    return 0;
}

static int keys_verify(trainer_t *tr, dn_err_t *err)
{
    view_t v;
    int rc = view_read(tr, &v, err);
    if (rc)
        return rc;
    keys_verify_view(tr, &v);
    view_free(&v);
    return 0;
}

/* Claims key record r (free, or its owner's lease is dead): loads its saved
 * state and moves the follower back to its next. 1 if ours now, 0 if another
 * trainer was faster, or a negative error. */
static int key_take(trainer_t *tr, const krec_t *r, dn_err_t *err)
{
    char val[256];
    int len = snprintf(val, sizeof val, "%s %llu", tr->owner, (unsigned long long)r->first);
    int rc = dn_store_cas(tr->store, T_KEYS, r->key, strlen(r->key), r->val, strlen(r->val), val,
                          (size_t)len, err);
    if (rc == DN_ESTATE)
        return 0;
    if (rc)
        return rc;
    tkey_t *ks = key_add(tr, r->key, r->first);
    if (!ks || !(ks->claim = strdup(val)))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    ks->first = r->first;
    if ((rc = keystate_load(tr, ks, err)))
        return rc;
    ks->dirty = 0;
    dn_follower_rewind(tr->follower, ks->next);
    tr->keys_taken++;
    dn_log(DN_LOG_INFO, "took key %s (from %s; events from %llu, v%llu)", ks->key,
           strcmp(r->owner, "-") ? r->owner : "nobody", (unsigned long long)ks->next,
           (unsigned long long)ks->version);
    return 1;
}

/* Elastic: owns its share of the K registered keys among m live members
 * (floor or ceil of K / m), giving back keys beyond that and claiming free or
 * orphaned ones below it. */
static int balance(trainer_t *tr, dn_err_t *err)
{
    if (!tr->elastic)
        return 0;
    view_t v;
    int rc = view_read(tr, &v, err);
    if (rc)
        return rc;
    keys_verify_view(tr, &v);
    /* The events consumer of a member whose lease ran out would hold the
     * stream back until the source's follower timeout: say it left. */
    for (int i = 0; i < v.dead.n; i++) {
        int seen = 0, slot = -1;
        for (int j = 0; j < tr->left.n && !seen; j++)
            seen = !strcmp(tr->left.v[j], v.dead.v[i]);
        if (seen || sscanf(v.dead.v[i], "%d", &slot) != 1 || slot == tr->member)
            continue;
        char consumer[64];
        snprintf(consumer, sizeof consumer, "trainer.m%d", slot);
        if ((rc = dn_follower_leave(tr->follower, consumer, err)))
            break;
        if ((rc = names_push(&tr->left, v.dead.v[i]))) {
            dn_err_set(err, rc, "out of memory");
            break;
        }
        dn_log(DN_LOG_INFO, "member %d's lease ran out: told the events log its consumer %s left",
               slot, consumer);
    }
    if (rc) {
        view_free(&v);
        return rc;
    }
    /* Shares by rank among the live owners (in byte order), so that they add
     * up to K: the first K mod m take one key more. */
    int m = v.live.n + !view_live(&v, tr->owner), rank = 0;
    for (int i = 0; i < v.live.n; i++)
        rank += strcmp(v.live.v[i], tr->owner) < 0;
    int target = v.n_keys / m + (rank < v.n_keys % m);
    if (tr->n_keys > target) {
        rc = save_keys(tr, target, 1, err);
    } else {
        for (int i = 0; i < v.n_keys && tr->n_keys < target && !rc; i++) {
            const krec_t *r = &v.keys[i];
            if (!strcmp(r->owner, tr->owner) ||
                (strcmp(r->owner, "-") && view_live(&v, r->owner)))
                continue;
            rc = key_take(tr, r, err);
            rc = rc < 0 ? rc : 0;
        }
    }
    if (!rc && (tr->shares_said != tr->n_keys || tr->said_k != v.n_keys || tr->said_m != m)) {
        dn_log(DN_LOG_INFO, "owns %d of %d keys, %d live trainer(s)", tr->n_keys, v.n_keys, m);
        tr->shares_said = tr->n_keys;
        tr->said_k = v.n_keys;
        tr->said_m = m;
    }
    view_free(&v);
    return rc;
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
    uint64_t off = env->offset;
    tr->dirty = 1;
    rc = 0;
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        rc = on_run(tr, env->run, off, &err);
        break;
    case DN_MSG_LABEL:
        on_label(tr, env->label, off);
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
    for (int k = 0; k < tr->n_keys; k++)
        if (tr->keys[k].next <= off) {
            tr->keys[k].next = off + 1;
            tr->keys[k].dirty = 1;
        }
    if (off + 1 > tr->frontier)
        tr->frontier = off + 1;
    if (!rc && dn_msg_type(env) == DN_MSG_LABEL)
        rc = train_ready(tr, &err);
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
    int rc = 0;
    if (tr->rebalance) {
        tr->rebalance = 0;
        rc = balance(tr, &err);
    }
    if (!rc)
        rc = train_ready(tr, &err);
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
        rc = member_renew(tr, 0, &err);
    if (!rc)
        rc = balance(tr, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    int held = 0;
    for (int k = 0; k < tr->n_keys; k++)
        held += tr->keys[k].n_items;
    dn_log(DN_LOG_DEBUG, "runs %llu labels %llu versions %llu keys %d held %d",
           (unsigned long long)tr->runs, (unsigned long long)tr->labels,
           (unsigned long long)tr->versions, tr->n_keys, held);
    return 0;
}

static int on_shutdown(dn_service_t *svc, void *arg)
{
    trainer_t *tr = arg;
    dn_err_t err = {0};
    /* Checkpoint first; elastic: hand every key to nobody with it, so the
     * other trainers take them over at their next tick. */
    int rc = tr->elastic ? save_keys(tr, 0, 1, &err) : checkpoint(tr, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    member_release(tr);
    if (tr->elastic) /* our slot may stay unused: the events log need not wait for it */
        dn_follower_leave(tr->follower, NULL, &err);
    dn_log(DN_LOG_INFO, "stopped: %llu runs, %llu labels, %llu versions, %llu wrong bin counts, "
           "%llu not learned, %llu labels for unknown runs, keys taken %llu, given back %llu, "
           "lost %llu",
           (unsigned long long)tr->runs, (unsigned long long)tr->labels,
           (unsigned long long)tr->versions, (unsigned long long)tr->bad_bins,
           (unsigned long long)tr->learn_failed, (unsigned long long)tr->labels_unknown,
           (unsigned long long)tr->keys_taken, (unsigned long long)tr->keys_given,
           (unsigned long long)tr->keys_lost);
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
    int si = 0, sn = 1, used = 0;
    dn_config_double(cfg, "lease_s", &tr.lease_s);
    if (!strcmp(shard, "auto")) {
        if (!(tr.lease_s >= 1.0)) {
            rc = dn_err_set(&err, DN_EINVAL, "shard auto: need lease_s >= 1");
            goto fail;
        }
        tr.elastic = 1;
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
    if (dn_config_str(cfg, "weights_file")[0] &&
        (rc = dn_mlfile_read(dn_config_str(cfg, "weights_file"), &tr.weights, &tr.weights_len,
                             &err)))
        goto fail;
    if ((rc = dn_service_install_signals(&err)))
        goto fail;

    char path[4096];
    if (dn_config_str(cfg, "weights_dir")[0])
        snprintf(path, sizeof path, "%s", dn_config_str(cfg, "weights_dir"));
    else
        snprintf(path, sizeof path, "%s/weights", dn_config_str(cfg, "data_dir"));
    if (!(tr.store = dn_store_open(path, DN_STORE_NOSYNC, 0, &err)))
        goto fail;
    char consumer[64];
    if (tr.elastic) {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(tr.owner, sizeof tr.owner, "%s:%ld:%.0f", host, (long)getpid(),
                 wall_now() * 1e3);
        if ((rc = member_acquire(&tr, &err)))
            goto fail;
        snprintf(tr.ckpt_name, sizeof tr.ckpt_name, "trainer/member-%d", tr.member);
        snprintf(consumer, sizeof consumer, "trainer.m%d", tr.member);
    } else {
        snprintf(tr.ckpt_name, sizeof tr.ckpt_name, "trainer/shard-%dof%d", si, sn);
        snprintf(consumer, sizeof consumer, "trainer.%dof%d", si, sn);
    }
    tr.progress_name = tr.ckpt_name + strlen("trainer/");
    zctx = zmq_ctx_new();
    if (!zctx) {
        rc = dn_err_set(&err, DN_EIO, "zmq_ctx_new: %s", strerror(errno));
        goto fail;
    }
    if (!(tr.sub = dn_sock_new(zctx, ZMQ_SUB, dn_config_str(cfg, "events"), NULL, &err)) ||
        !(tr.push = dn_sock_new(zctx, ZMQ_PUSH, dn_config_str(cfg, "events_requests"), NULL,
                                &err)))
        goto fail;
    /* Publications are stamped with our name and fresh seqs (the stored copies
     * are not publications). */
    dn_sock_opts_t po = {.producer = consumer};
    if (!(tr.pub = dn_sock_new(zctx, ZMQ_PUB, dn_config_str(cfg, "weights"), &po, &err)))
        goto fail;
    dn_follower_opts_t fo = {.log = "events", .consumer = consumer};
    if (!(tr.follower = dn_follower_new(tr.sub, tr.push, &fo, &err)))
        goto fail;
    if ((rc = restore(&tr, &err)) || (rc = balance(&tr, &err)))
        goto fail;
    clock_gettime(CLOCK_MONOTONIC, &tr.last_ckpt);
    if (!(tr.svc = dn_service_new("trainer", &err)))
        goto fail;
    if ((rc = dn_service_add_socket(tr.svc, tr.sub, on_event, &tr)) ||
        (rc = dn_service_set_tick(tr.svc, (int)tick_ms, on_tick, &tr)))
        goto fail;
    dn_service_set_round(tr.svc, on_round, &tr);
    dn_service_set_shutdown(tr.svc, on_shutdown, &tr);
    if (tr.elastic)
        dn_log(DN_LOG_INFO, "started: shard auto (member %d), seed %llu, keep_last %d, %d "
               "thread(s) per step, store %s", tr.member, (unsigned long long)tr.seed,
               tr.keep_last, tr.threads, path);
    else
        dn_log(DN_LOG_INFO, "started: shard %d/%d, seed %llu, keep_last %d, %d thread(s) per "
               "step, store %s", si, sn, (unsigned long long)tr.seed, tr.keep_last, tr.threads,
               path);
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
    while (tr.n_keys)
        key_drop(&tr, tr.n_keys - 1);
    free(tr.keys);
    for (int i = 0; i < tr.n_known; i++)
        free(tr.known[i]);
    free(tr.known);
    names_free(&tr.left);
    dn_team_destroy(&tr.team); /* after the models that borrowed it */
    free(tr.lease_val);
    free(tr.weights);
    dn_policy_destroy(&tr.policy);
    dn_config_destroy(&cfg);
    return exit_code;
}
