/* fuzz_keystate.c: libFuzzer target for a trainer key's saved state
 * (services/trainer/keycodec.c, trainer_keystate_decode), what the trainer
 * that takes a key over, or restarts, reads from table trainer.keystate: its
 * tracker's state (dn_ml_load) and the runs waiting for labels. As in
 * fuzz_mlstate, a tracker state inside the input ("DNMt" at byte 44, the
 * length in bytes 36..44) gets its hash recomputed in a second try.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error naming the key;
 *   - no input makes the decoder allocate more than libFuzzer's malloc limit
 *     (a held run's arrays only for bytes that are there);
 *   - an accepted state holds runs with labels -1/0/1, and a tracker exactly
 *     when it has bins, of those bins; encoded again
 *     (trainer_keystate_encode) it is the same bytes (decode -> encode equal). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fuzzcheck.h"
#include "trainer.h"

#define KEY "calo/energy"

static void release(tkey_t *ks)
{
    for (int i = 0; i < ks->n_items; i++)
        trainer_item_free(&ks->items[i]);
    free(ks->items);
    dn_ml_destroy(&ks->ml);
}

static void try_one(const uint8_t *data, size_t size)
{
    tkey_t ks = {.key = KEY};
    dn_err_t err = {0};
    int rc = trainer_keystate_decode(data, size, &ks, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(strstr(err.msg, KEY), "refusal without the key: %s", err.msg);
        release(&ks);
        return;
    }
    FUZZ_SAY("accepted: %d bins, tracker %s, %d held runs", ks.n_bins, ks.ml ? "yes" : "no",
             ks.n_items);
    FUZZ_CHECK((ks.ml != NULL) == (ks.n_bins > 0), "%d bins, tracker %p", ks.n_bins,
               (void *)ks.ml);
    FUZZ_CHECK(!ks.ml || dn_ml_opts(ks.ml)->model.n_bins == ks.n_bins, "tracker's bins differ");
    for (int i = 0; i < ks.n_items; i++)
        FUZZ_CHECK(ks.items[i].label >= LBL_NONE && ks.items[i].label <= LBL_BAD && ks.items[i].x,
                   "held run %d: label %d", i, ks.items[i].label);
    dn_wbuf_t w = {0};
    trainer_keystate_encode(&ks, &w);
    FUZZ_CHECK(w.oom || (w.len == size && !memcmp(w.p, data, size)),
               "decoded, encoded again differently (%zu bytes, was %zu)", w.len, size);
    free(w.p);
    release(&ks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_one(data, size);
    /* the tracker state at 44, its length at 36: its hash made right */
    if (size >= 44 + 16 && !memcmp(data + 44, "DNMt", 4)) {
        uint64_t sl = dn_get_u64(data + 36);
        if (sl >= 16 && sl <= size - 44) {
            unsigned char *copy = malloc(size);
            if (!copy)
                return 0;
            memcpy(copy, data, size);
            dn_put_u32(copy + 44 + 12, dn_fnv1a32(copy + 44 + 16, (size_t)sl - 16));
            try_one(copy, size);
            free(copy);
        }
    }
    return 0;
}
