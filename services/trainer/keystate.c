/* keystate.c: the trainer's owned keys: the table (a hashed index over a
 * dense array), and the key's saved state in table trainer.keystate (its
 * format, encoded and decoded, is keycodec.c's). Whoever owns the key next
 * loads it from there, so the state written is always complete for the
 * offsets below `next`. */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "mlmodel.h"
#include "room.h"
#include "trainer.h"

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

/* ---- saved state ---------------------------------------------------------------------- */

int trainer_keystate_stage(const tkey_t *ks, dn_lease_batch_t *batch)
{
    dn_wbuf_t w = {0};
    trainer_keystate_encode(ks, &w);
    int rc = w.oom ? DN_ENOMEM
                   : dn_lease_batch_put(batch, T_KEYSTATE, ks->key, strlen(ks->key), w.p, w.len);
    free(w.p);
    return rc;
}

/* The tracker a decoded state brought: the trainer's policy, team and
 * training watch, as a tracker it makes itself gets them. */
static void adopt_tracker(trainer_t *tr, tkey_t *ks)
{
    if (!ks->ml)
        return;
    dn_ml_set_min_entries(ks->ml, dn_policy_lookup(tr->policy, ks->key, NULL).min_entries);
    dn_mlmodel_share_team(dn_ml_model(ks->ml), tr->team);
    trainer_watch_training(tr, ks->ml);
}

int trainer_keystate_load(trainer_t *tr, tkey_t *ks, dn_err_t *err)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_lease_store_get(tr->shared, T_KEYSTATE, ks->key, strlen(ks->key), &blob, &len,
                                err);
    if (rc == DN_ENOTFOUND)
        return 0;
    if (!rc && !(rc = trainer_keystate_decode(blob, len, ks, err)))
        adopt_tracker(tr, ks);
    free(blob);
    return rc;
}
