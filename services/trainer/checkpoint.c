/* checkpoint.c: the trainer's own commits (it has no node checkpoint: its
 * state is per key, and keys move between trainers) and its restore.
 *
 * A save writes, in one transaction of the shared storage, the state of the
 * keys it concerns (trainer.keystate) and this trainer's progress
 * (trainer.progress, "shard-<i>of<n>" or "member-<i>": format "DNTP"
 * version 1, the frontier and the run and label counts). In elastic mode
 * each key written goes with the lease's check that the key is still this
 * trainer's, or with its release to nobody when it is given back; a key
 * found lost (this trainer stalled and another claimed it) is dropped
 * unwritten and the others written. Saves happen every checkpoint_s, when
 * keys are given back, and at shutdown.
 *
 * At start a static trainer follows the events from min(its frontier, its
 * keys' next) with its shard's keys loaded; an elastic one from the furthest
 * frontier of any member (every key before it is registered), its keys then
 * coming by the lease, each rewinding the follower to the key's next. */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "clock.h"
#include "log.h"
#include "trainer.h"

#define PROGRESS_MAGIC "DNTP"
#define PROGRESS_VERSION 1u
#define MEMBER_PROGRESS "member-"

/* ---- save --------------------------------------------------------------------------- */

static int stage_progress(const trainer_t *tr, dn_lease_batch_t *b)
{
    dn_wbuf_t w = {0};
    dn_wb_bytes(&w, PROGRESS_MAGIC, 4);
    dn_wb_u32(&w, PROGRESS_VERSION);
    dn_wb_u64(&w, tr->frontier);
    dn_wb_u64(&w, tr->runs);
    dn_wb_u64(&w, tr->labels);
    int rc = w.oom ? DN_ENOMEM
                   : dn_lease_batch_put(b, T_PROGRESS, tr->progress_name,
                                        strlen(tr->progress_name), w.p, w.len);
    free(w.p);
    return rc;
}

/* 1 when key ks goes into this save. */
static int in_save(const tkey_t *ks, int releasing)
{
    return releasing ? ks->release : ks->dirty;
}

/* The batch of a save: the keys it concerns, their claim checks, the progress. */
static int stage_save(trainer_t *tr, dn_lease_batch_t *b, int releasing)
{
    int rc = 0;
    for (int k = 0; k < trainer_n_keys(tr) && !rc; k++) {
        const tkey_t *ks = &tr->keys[k];
        if (!in_save(ks, releasing))
            continue;
        rc = trainer_keystate_stage(ks, b);
        if (!rc && tr->lease)
            rc = dn_lease_stage(tr->lease, b, ks->key,
                                releasing ? DN_LEASE_RELEASE : DN_LEASE_KEEP);
    }
    return rc ? rc : stage_progress(tr, b);
}

/* After a save was applied: the keys written are clean, the released ones gone. */
static void saved(trainer_t *tr, int releasing)
{
    for (int k = trainer_n_keys(tr) - 1; k >= 0; k--) {
        tkey_t *ks = &tr->keys[k];
        if (!in_save(ks, releasing))
            continue;
        ks->dirty = 0;
        if (!releasing)
            continue;
        dn_log(DN_LOG_INFO, "gave key %s back (events from %llu, v%llu)", ks->key,
               (unsigned long long)ks->next, (unsigned long long)ks->version);
        dn_lease_forget(tr->lease, ks->key);
        trainer_key_drop(tr, k);
    }
}

int trainer_save(trainer_t *tr, int releasing, dn_err_t *err)
{
    dn_lease_batch_t *b = dn_lease_batch_new();
    int rc = b ? 0 : dn_err_set(err, DN_ENOMEM, "out of memory");
    for (int attempt = 0; attempt < 2 && b; attempt++) {
        dn_lease_batch_clear(b);
        if ((rc = stage_save(tr, b, releasing))) {
            dn_err_set(err, rc, "checkpoint: %s", rc == DN_ENOMEM ? "out of memory"
                                                                  : "invalid key or state");
            break;
        }
        rc = dn_lease_store_apply(tr->shared, b, err);
        if (rc != DN_ESTATE || !tr->lease)
            break;
        int lost = 0; /* a claim check failed: which keys moved on? */
        if ((rc = dn_lease_verify(tr->lease, &lost, err)))
            break;
        rc = lost ? DN_ESTATE : dn_err_set(err, DN_ESTATE, "checkpoint: compare-and-swap "
                                           "failed");
        if (!lost)
            break;
    }
    dn_lease_batch_destroy(&b);
    if (!rc)
        rc = dn_lease_store_sync(tr->shared, err);
    if (!rc)
        saved(tr, releasing);
    return rc;
}

int trainer_checkpoint(trainer_t *tr, dn_err_t *err)
{
    int rc = trainer_save(tr, 0, err);
    if (!rc) {
        tr->last_ckpt = dn_clock_mono();
        tr->dirty = 0;
    }
    return rc;
}

/* ---- restore -------------------------------------------------------------------------- */

/* The frontier of a progress record (0 when damaged). */
static uint64_t progress_frontier(const void *val, size_t vlen)
{
    if (vlen < 16 || memcmp(val, PROGRESS_MAGIC, 4) ||
        dn_get_u32((const unsigned char *)val + 4) != PROGRESS_VERSION)
        return 0;
    return dn_get_u64((const unsigned char *)val + 8);
}

static int max_frontier(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key;
    (void)klen;
    uint64_t *f = arg, v = progress_frontier(val, vlen);
    if (v > *f)
        *f = v;
    return 0;
}

/* The names of the saved key states of this trainer's static shard. */
typedef struct shard_keys_t {
    const trainer_t *tr;
    dn_keytab_t *names;
} shard_keys_t;

static int collect_shard(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    shard_keys_t *s = arg;
    if (klen > DN_MSG_KEY_MAX)
        return 0;
    char name[DN_MSG_KEY_MAX + 1];
    memcpy(name, key, klen);
    name[klen] = '\0';
    if (!trainer_owns_static(s->tr, name))
        return 0;
    return dn_keytab_add(s->names, name) < 0 ? DN_ENOMEM : 0;
}

/* Static: the shard's frontier and its keys' saved states; follows from the
 * smallest of them. */
static int restore_static(trainer_t *tr, dn_err_t *err)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_lease_store_get(tr->shared, T_PROGRESS, tr->progress_name,
                                strlen(tr->progress_name), &blob, &len, err);
    if (rc && rc != DN_ENOTFOUND)
        return rc;
    tr->frontier = rc ? 0 : progress_frontier(blob, len);
    free(blob);
    shard_keys_t s = {.tr = tr, .names = dn_keytab_new()};
    rc = s.names ? dn_lease_store_scan(tr->shared, T_KEYSTATE, NULL, 0, collect_shard, &s, err)
                 : DN_ENOMEM;
    if (rc == DN_ENOMEM)
        dn_err_set(err, rc, "out of memory");
    uint64_t next = tr->frontier;
    for (int i = 0; !rc && i < dn_keytab_count(s.names); i++) {
        tkey_t *ks = trainer_key_add(tr, dn_keytab_key(s.names, i), 0);
        if (!ks) {
            rc = dn_err_set(err, DN_ENOMEM, "out of memory");
            break;
        }
        if (!(rc = trainer_keystate_load(tr, ks, err)) && ks->next < next)
            next = ks->next;
        ks->dirty = 0;
    }
    dn_keytab_destroy(&s.names);
    if (rc)
        return rc;
    dn_follower_set_next(tr->follower, next);
    dn_log(DN_LOG_INFO, "restored %s: events from %llu, %d keys", tr->progress_name,
           (unsigned long long)next, trainer_n_keys(tr));
    return 0;
}

int trainer_restore(trainer_t *tr, dn_err_t *err)
{
    tr->last_ckpt = dn_clock_mono();
    if (!tr->lease)
        return restore_static(tr, err);
    uint64_t f = 0;
    int rc = dn_lease_store_scan(tr->shared, T_PROGRESS, MEMBER_PROGRESS,
                                 strlen(MEMBER_PROGRESS), max_frontier, &f, err);
    if (rc)
        return rc;
    tr->frontier = f;
    dn_follower_set_next(tr->follower, f);
    dn_log(DN_LOG_INFO, "following events from %llu", (unsigned long long)f);
    return 0;
}
