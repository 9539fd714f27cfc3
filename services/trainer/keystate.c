/* keystate.c: the trainer's owned keys: the table (a hashed index over a
 * dense array), the runs each key holds until their labels arrive, and the
 * key's saved state in table trainer.keystate.
 *
 * A key's state (format "DNTK" version 1): n_bins, the latest version, next
 * (the first events offset not applied to it), the next run_seq, the
 * dn_ml_save state, and the held runs (run_seq, run number, label state,
 * counts and optional variances). Whoever owns the key next loads it from
 * here, so the state written is always complete for the offsets below
 * `next`. */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "mlmodel.h"
#include "room.h"
#include "trainer.h"

#define KEYSTATE_MAGIC "DNTK"
#define KEYSTATE_VERSION 1u

/* ---- the table ---------------------------------------------------------------------- */

int trainer_n_keys(const trainer_t *tr)
{
    return dn_keytab_count(tr->index);
}

tkey_t *trainer_key(trainer_t *tr, const char *k)
{
    int i = dn_keytab_find(tr->index, k);
    return i < 0 ? NULL : &tr->keys[i];
}

tkey_t *trainer_key_add(trainer_t *tr, const char *k, uint64_t next)
{
    tkey_t *p = dn_room(tr->keys, &tr->cap_keys, trainer_n_keys(tr), sizeof *p);
    if (!p)
        return NULL;
    tr->keys = p;
    int i = dn_keytab_add(tr->index, k);
    if (i < 0)
        return NULL;
    tkey_t *ks = &tr->keys[i];
    memset(ks, 0, sizeof *ks);
    ks->key = dn_keytab_key(tr->index, i);
    ks->next = next;
    ks->dirty = 1;
    return ks;
}

void trainer_item_free(item_t *it)
{
    free(it->x);
    free(it->var);
}

void trainer_key_drop(trainer_t *tr, int i)
{
    tkey_t *ks = &tr->keys[i];
    for (int j = 0; j < ks->n_items; j++)
        trainer_item_free(&ks->items[j]);
    free(ks->items);
    dn_ml_destroy(&ks->ml);
    int moved = dn_keytab_remove(tr->index, i);
    if (moved > i) {
        tr->keys[i] = tr->keys[moved];
        tr->keys[i].key = dn_keytab_key(tr->index, i);
    }
}

void trainer_keys_free(trainer_t *tr)
{
    while (tr->index && trainer_n_keys(tr))
        trainer_key_drop(tr, trainer_n_keys(tr) - 1);
    dn_keytab_destroy(&tr->index);
    free(tr->keys);
    tr->keys = NULL;
}

int trainer_item_push(tkey_t *ks, const item_t *it)
{
    item_t *p = dn_room(ks->items, &ks->cap_items, ks->n_items, sizeof *p);
    if (!p)
        return DN_ENOMEM;
    ks->items = p;
    ks->items[ks->n_items++] = *it;
    return 0;
}

/* ---- saved state ---------------------------------------------------------------------- */

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

int trainer_keystate_stage(const tkey_t *ks, dn_lease_batch_t *batch)
{
    dn_wbuf_t w = {0};
    keystate_encode(ks, &w);
    int rc = w.oom ? DN_ENOMEM
                   : dn_lease_batch_put(batch, T_KEYSTATE, ks->key, strlen(ks->key), w.p, w.len);
    free(w.p);
    return rc;
}

/* The held runs of a saved state, n_bins bins each, into ks. */
static int items_decode(tkey_t *ks, dn_rbuf_t *r, dn_err_t *err)
{
    uint32_t ni = dn_rb_u32(r);
    int nb = ks->n_bins;
    for (uint32_t i = 0; i < ni && !r->bad; i++) {
        item_t it = {0};
        it.seq = dn_rb_u64(r);
        it.run_number = (int64_t)dn_rb_u64(r);
        it.label = (int8_t)((int)dn_rb_u32(r) - 1);
        int has_var = (int)dn_rb_u32(r);
        if (r->bad || nb == 0)
            break;
        it.x = malloc((size_t)nb * sizeof *it.x);
        if (has_var)
            it.var = malloc((size_t)nb * sizeof *it.var);
        if (!it.x || (has_var && !it.var) || trainer_item_push(ks, &it)) {
            trainer_item_free(&it);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        for (int b = 0; b < nb; b++)
            it.x[b] = dn_rb_f64(r);
        for (int b = 0; has_var && b < nb; b++)
            it.var[b] = dn_rb_f64(r);
    }
    if (r->bad || (ni && nb == 0))
        return dn_err_set(err, DN_EFORMAT, "key %s: saved state: truncated", ks->key);
    return 0;
}

/* Fills the freshly added ks from its saved state. */
static int keystate_decode(trainer_t *tr, tkey_t *ks, const void *blob, size_t len,
                           dn_err_t *err)
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
        trainer_watch_training(tr, ks->ml);
    }
    return items_decode(ks, &r, err);
}

int trainer_keystate_load(trainer_t *tr, tkey_t *ks, dn_err_t *err)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_lease_store_get(tr->shared, T_KEYSTATE, ks->key, strlen(ks->key), &blob, &len,
                                err);
    if (rc == DN_ENOTFOUND)
        return 0;
    if (!rc)
        rc = keystate_decode(tr, ks, blob, len, err);
    free(blob);
    return rc;
}
