/* test_keycodec.c: a trainer key's saved state (services/trainer/keycodec.c):
 *   - a key with a tracker and held runs (with and without variances)
 *     encodes and decodes back to the same key, and encodes again to the
 *     same bytes;
 *   - damaged states are refused by name (magic, truncation, bytes after the
 *     end, a label or flag out of its domain, bins differing from the
 *     tracker's, held runs without bins);
 *   - found by fuzz/fuzz_keystate.c's target when it was written: a state
 *     declaring 2^31 - 1 bins and a million held runs in a few bytes made
 *     the decoder allocate 16 GiB per run before it looked for the bytes;
 *     it is refused without allocating for it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "dinamo_ml.h"
#include "trainer.h"

static dn_ml_t *small_tracker(void)
{
    dn_ml_opts_t o;
    dn_ml_opts_default(&o);
    o.model.n_bins = 4, o.model.d_model = 4, o.model.n_heads = 2, o.model.n_layers = 1;
    o.model.d_ff = 4, o.model.context = 2, o.model.max_batch = 2;
    o.batch_runs = 2, o.max_steps = 2;
    dn_ml_t *ml = dn_ml_new(&o);
    cr_assert_not_null(ml);
    return ml;
}

static void release(tkey_t *ks)
{
    for (int i = 0; i < ks->n_items; i++)
        trainer_item_free(&ks->items[i]);
    free(ks->items);
    dn_ml_destroy(&ks->ml);
}

/* A key of 4 bins with a tracker and two held runs, encoded into *w. */
static void sample(dn_wbuf_t *w, tkey_t *ks)
{
    *ks = (tkey_t){.key = "calo/e", .n_bins = 4, .ml = small_tracker(), .version = 3,
                   .next = 120, .next_run_seq = 42};
    for (int i = 0; i < 2; i++) {
        item_t it = {.seq = 40 + (uint64_t)i, .run_number = 1040 + i, .label = (int8_t)(i - 1)};
        it.x = malloc(4 * sizeof(double));
        it.var = i ? malloc(4 * sizeof(double)) : NULL;
        for (int b = 0; b < 4; b++) {
            it.x[b] = 1.5 * b + i;
            if (it.var)
                it.var[b] = 0.25 * b;
        }
        cr_assert_eq(trainer_item_push(ks, &it), 0);
    }
    *w = (dn_wbuf_t){0};
    trainer_keystate_encode(ks, w);
    cr_assert(!w->oom);
}

Test(keycodec, a_key_decodes_to_itself_and_encodes_to_the_same_bytes)
{
    dn_wbuf_t w, w2 = {0};
    tkey_t ks, back = {.key = "calo/e"};
    sample(&w, &ks);
    dn_err_t err = {0};
    cr_assert_eq(trainer_keystate_decode(w.p, w.len, &back, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n_bins, 4);
    cr_assert_eq(back.version, 3);
    cr_assert_eq(back.next, 120);
    cr_assert_eq(back.next_run_seq, 42);
    cr_assert_not_null(back.ml);
    cr_assert_eq(back.n_items, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(back.items[i].seq, ks.items[i].seq);
        cr_assert_eq(back.items[i].run_number, ks.items[i].run_number);
        cr_assert_eq(back.items[i].label, ks.items[i].label);
        cr_assert_eq(back.items[i].var == NULL, ks.items[i].var == NULL, "run %d variances", i);
        cr_assert(!memcmp(back.items[i].x, ks.items[i].x, 4 * sizeof(double)), "run %d", i);
    }
    trainer_keystate_encode(&back, &w2);
    cr_assert(w2.len == w.len && !memcmp(w2.p, w.p, w.len), "encoded again: %zu bytes, was %zu",
              w2.len, w.len);
    free(w.p);
    free(w2.p);
    release(&ks);
    release(&back);
}

/* Decodes len bytes into a fresh key: the code, *err naming what. */
static int decode(const void *p, size_t len, dn_err_t *err)
{
    tkey_t ks = {.key = "calo/e"};
    int rc = trainer_keystate_decode(p, len, &ks, err);
    release(&ks);
    return rc;
}

Test(keycodec, damaged_states_are_refused_by_name)
{
    dn_wbuf_t w;
    tkey_t ks;
    sample(&w, &ks);
    dn_err_t err = {0};
    /* cut anywhere: truncated, never a crash */
    for (size_t cut = 0; cut < w.len; cut += 97) {
        cr_assert_eq(decode(w.p, cut, &err), DN_EFORMAT, "cut at %zu of %zu", cut, w.len);
        cr_assert(strstr(err.msg, "calo/e"), "cut at %zu: %s", cut, err.msg);
    }
    unsigned char *b = malloc(w.len + 1);
    memcpy(b, w.p, w.len);
    b[w.len] = 0;
    cr_assert_eq(decode(b, w.len + 1, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "1 bytes after its end"), "%s", err.msg);
    /* the first held run starts after the header (44), the tracker state and
     * the run count (4): its label at +16, its variances flag at +20 */
    size_t run0 = 44 + dn_get_u64(b + 36) + 4;
    dn_put_u32(b + run0 + 16, 7);
    cr_assert_eq(decode(b, w.len, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "label 7"), "%s", err.msg);
    dn_put_u32(b + run0 + 16, 1);
    dn_put_u32(b + run0 + 20, 2);
    cr_assert_eq(decode(b, w.len, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "variances flag 2"), "%s", err.msg);
    dn_put_u32(b + run0 + 20, 0);
    dn_put_u32(b + 8, 5); /* bins */
    cr_assert_eq(decode(b, w.len, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "5 bins, its tracker has 4"), "%s", err.msg);
    memcpy(b, "DNTX", 4);
    cr_assert_eq(decode(b, w.len, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "bad magic"), "%s", err.msg);
    free(b);
    free(w.p);
    release(&ks);
}

Test(keycodec, declared_sizes_are_not_trusted)
{
    /* no tracker, no bins, and a million held runs: refused by name */
    dn_wbuf_t w = {0};
    dn_wb_bytes(&w, "DNTK", 4);
    dn_wb_u32(&w, 1);
    dn_wb_u32(&w, 0);
    dn_wb_u64(&w, 0), dn_wb_u64(&w, 0), dn_wb_u64(&w, 0), dn_wb_u64(&w, 0);
    dn_wb_u32(&w, 1000000);
    dn_wb_u64(&w, 1), dn_wb_u64(&w, 1), dn_wb_u32(&w, 1), dn_wb_u32(&w, 1);
    dn_err_t err = {0};
    cr_assert_eq(decode(w.p, w.len, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "1000000 held runs without bins"), "%s", err.msg);
    free(w.p);
    /* a real key whose header says 2^31 - 1 bins: its held runs would each
     * have asked for 16 GiB (DN_ENOMEM, or the memory); refused by name */
    tkey_t big;
    sample(&w, &big);
    dn_put_u32(w.p + 8, 0x7fffffffu);
    cr_assert_eq(decode(w.p, w.len, &err), DN_EFORMAT, "%s", err.msg);
    cr_assert(strstr(err.msg, "2147483647 bins"), "%s", err.msg);
    free(w.p);
    release(&big);
    /* a real tracker of 4 bins, its key declaring it has 4 bins and a held
     * run whose 2 x 32 bytes are missing: truncated, nothing allocated for
     * it (an allocation of the declared size would not be refused here,
     * so the check is that the decoder says "truncated", not "memory") */
    tkey_t ks;
    sample(&w, &ks);
    size_t run0 = 44 + dn_get_u64(w.p + 36) + 4;
    cr_assert_eq(decode(w.p, run0 + 24 + 8, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "truncated"), "%s", err.msg);
    free(w.p);
    release(&ks);
}

/* A 2-D key (2x2 here) keeps its bins of y through its state; a 1-D key's
 * state is the bytes it always was (n_bins plain at offset 8); bins of y that
 * do not divide the bins are refused by name. */
Test(keycodec, a_2d_key_keeps_its_shape)
{
    dn_wbuf_t w1, w2 = {0};
    tkey_t ks;
    sample(&w1, &ks);
    cr_assert_eq(dn_get_u32(w1.p + 8), 4, "1-D bins word %#x", dn_get_u32(w1.p + 8));
    ks.n_bins_y = 2;
    trainer_keystate_encode(&ks, &w2);
    cr_assert(!w2.oom);
    cr_assert_eq(w2.len, w1.len + 4);
    tkey_t back = {.key = "calo/e"};
    dn_err_t err = {0};
    cr_assert_eq(trainer_keystate_decode(w2.p, w2.len, &back, &err), 0, "%s", err.msg);
    cr_assert(back.n_bins == 4 && back.n_bins_y == 2, "decoded %d bins, %d of y", back.n_bins,
              back.n_bins_y);
    cr_assert_eq(back.n_items, 2);
    release(&back);
    dn_put_u32(w2.p + 12, 3); /* 4 bins in rows of 3 */
    cr_assert_eq(decode(w2.p, w2.len, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "4 bins are not rows of 3"), "%s", err.msg);
    free(w1.p);
    free(w2.p);
    release(&ks);
}
