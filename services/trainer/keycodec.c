/* keycodec.c: a trainer key's saved state (table trainer.keystate), encoded
 * and decoded, and the runs a key holds until their labels arrive. Pure: no
 * trainer, no store, so that the decoder is fuzzed alone (fuzz/fuzz_keystate.c).
 *
 * Format "DNTK" version 1, little-endian: n_bins u32, the latest version,
 * next (the first events offset not applied to the key), the next run_seq
 * (u64 each), the dn_ml_save state (u64 length, bytes), and the held runs
 * (u32 count; each run_seq u64, run number i64, label + 1 u32 (0 none, 1
 * good, 2 bad), has variances u32 (0 or 1), counts f64[n_bins], variances
 * f64[n_bins] when it has them). A 2-D key (n_bins_y > 0) writes n_bins with
 * KEY_2D set and its n_bins_y u32 right after: a 1-D key's state is the same
 * bytes as before 2-D histograms existed, and such states read unchanged.
 *
 * The decoder trusts no length: a held run's arrays are allocated only after
 * the bytes for them were found to be there, so a damaged state cannot make
 * it ask for more memory than the state's own size, and every field out of
 * its domain (label, flag, bins against the tracker's) is refused by name. */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "room.h"
#include "trainer.h"

#define KEYSTATE_MAGIC "DNTK"
#define KEYSTATE_VERSION 1u
#define KEY_2D 0x80000000u

void trainer_item_free(item_t *it)
{
    free(it->x);
    free(it->var);
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

void trainer_keystate_encode(const tkey_t *ks, dn_wbuf_t *w)
{
    dn_wb_bytes(w, KEYSTATE_MAGIC, 4);
    dn_wb_u32(w, KEYSTATE_VERSION);
    dn_wb_u32(w, (uint32_t)ks->n_bins | (ks->n_bins_y > 0 ? KEY_2D : 0));
    if (ks->n_bins_y > 0)
        dn_wb_u32(w, (uint32_t)ks->n_bins_y);
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

/* The held runs of a saved state, n_bins bins each, into ks. */
static int items_decode(tkey_t *ks, dn_rbuf_t *r, dn_err_t *err)
{
    uint32_t ni = dn_rb_u32(r);
    const size_t row = (size_t)ks->n_bins * sizeof(double);
    if (!r->bad && ni && ks->n_bins == 0)
        return dn_err_set(err, DN_EFORMAT, "key %s: saved state: %u held runs without bins",
                          ks->key, ni);
    for (uint32_t i = 0; i < ni && !r->bad; i++) {
        item_t it = {0};
        it.seq = dn_rb_u64(r);
        it.run_number = (int64_t)dn_rb_u64(r);
        uint32_t label = dn_rb_u32(r), has_var = dn_rb_u32(r);
        if (r->bad)
            break;
        if (label > 2 || has_var > 1)
            return dn_err_set(err, DN_EFORMAT, "key %s: saved state: held run %u: label %u, "
                              "variances flag %u", ks->key, i, label, has_var);
        /* the bytes first: the arrays are allocated for data that is there */
        if (r->len - r->pos < row * (1 + has_var)) {
            r->bad = 1;
            break;
        }
        it.label = (int8_t)((int)label - 1);
        it.x = malloc(row);
        if (has_var)
            it.var = malloc(row);
        if (!it.x || (has_var && !it.var) || trainer_item_push(ks, &it)) {
            trainer_item_free(&it);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        for (int b = 0; b < ks->n_bins; b++)
            it.x[b] = dn_rb_f64(r);
        for (int b = 0; has_var && b < ks->n_bins; b++)
            it.var[b] = dn_rb_f64(r);
    }
    if (r->bad)
        return dn_err_set(err, DN_EFORMAT, "key %s: saved state: truncated", ks->key);
    if (r->pos != r->len)
        return dn_err_set(err, DN_EFORMAT, "key %s: saved state: %zu bytes after its end",
                          ks->key, r->len - r->pos);
    return 0;
}

int trainer_keystate_decode(const void *blob, size_t len, tkey_t *ks, dn_err_t *err)
{
    dn_rbuf_t r = {blob, len, 0, 0};
    const unsigned char *m = dn_rb_take(&r, 4);
    if (!m || memcmp(m, KEYSTATE_MAGIC, 4) || dn_rb_u32(&r) != KEYSTATE_VERSION)
        return dn_err_set(err, DN_EFORMAT, "key %s: saved state: bad magic or version", ks->key);
    uint32_t n_bins = dn_rb_u32(&r), n_bins_y = 0;
    if (n_bins & KEY_2D) {
        n_bins &= ~KEY_2D;
        if (!(n_bins_y = dn_rb_u32(&r)) || n_bins % n_bins_y)
            return dn_err_set(err, DN_EFORMAT, "key %s: saved state: %u bins are not rows of "
                              "%u bins of y", ks->key, n_bins, n_bins_y);
    }
    ks->version = dn_rb_u64(&r);
    ks->next = dn_rb_u64(&r);
    ks->next_run_seq = dn_rb_u64(&r);
    uint64_t sl = dn_rb_u64(&r);
    const unsigned char *sb = r.bad || sl > r.len - r.pos ? NULL : dn_rb_take(&r, (size_t)sl);
    if (!sb || n_bins > DN_MSG_BINS_MAX || (sl == 0) != (n_bins == 0))
        return dn_err_set(err, DN_EFORMAT, "key %s: saved state: truncated or inconsistent "
                          "(%u bins, tracker state of %llu bytes)", ks->key, n_bins,
                          (unsigned long long)sl);
    ks->n_bins = (int)n_bins;
    ks->n_bins_y = (int)n_bins_y;
    if (sl) {
        int rc = dn_ml_load(sb, (size_t)sl, &ks->ml, err);
        if (rc)
            return dn_err_prefix(err, "key %s: saved state", ks->key);
        if (dn_ml_opts(ks->ml)->model.n_bins != ks->n_bins)
            return dn_err_set(err, DN_EFORMAT, "key %s: saved state: %d bins, its tracker "
                              "has %d", ks->key, ks->n_bins, dn_ml_opts(ks->ml)->model.n_bins);
    }
    return items_decode(ks, &r, err);
}
