/* fuzz_held.c: libFuzzer target for the held runs a scorer restores from its
 * store at start (lib/pipe/held.h, dn_heldq_load_row: what dn_heldq_restore
 * does for each row of the table). An input is a sequence of rows, each a
 * 2-byte little-endian value length, the 8-byte key, then the value, loaded
 * in order into one queue.
 *
 * Checked beyond "no crash":
 *   - a refused row returns a named error naming the run and the table, and
 *     leaves the queue as it was;
 *   - the queue keeps held.h's invariants (strictly increasing run_seq, each
 *     run's arrays of its envelope's histogram count, labels -1/0/1, applied
 *     0/1, the envelope a valid Run);
 *   - an accepted row, written as dn_heldq_stage writes it (scored, n_h, the
 *     label pairs, the envelope's bytes), is byte for byte the value it came
 *     from (load -> write equal). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fuzzcheck.h"
#include "held.h"

#define TABLE "scorer_s.held"

static void check_queue(const dn_heldq_t *q)
{
    for (int i = 0; i < dn_heldq_count(q); i++) {
        const dn_held_t *h = dn_heldq_at(q, i);
        FUZZ_CHECK(i == 0 || dn_heldq_at(q, i - 1)->seq < h->seq, "run %d out of order", i);
        FUZZ_CHECK(h->env && h->env->run && h->env->run->n_histograms == (size_t)h->n_h,
                   "run %llu: %d histograms held", (unsigned long long)h->seq, h->n_h);
        FUZZ_CHECK(h->env->run->run_seq == h->seq, "run_seq %llu held as %llu",
                   (unsigned long long)h->env->run->run_seq, (unsigned long long)h->seq);
        FUZZ_CHECK(h->scored == 0 || h->scored == 1, "scored %d", h->scored);
        for (int j = 0; j < h->n_h; j++)
            FUZZ_CHECK(h->label[j] >= DN_LBL_NONE && h->label[j] <= DN_LBL_BAD &&
                           h->applied[j] <= 1,
                       "run %llu histogram %d: label %d applied %d", (unsigned long long)h->seq,
                       j, h->label[j], h->applied[j]);
        FUZZ_CHECK(dn_heldq_find(q, h->seq) == h, "dn_heldq_find does not find %llu",
                   (unsigned long long)h->seq);
    }
}

static void same_as_written(const dn_held_t *h, const uint8_t *val, size_t vlen)
{
    size_t n = 8 + 2 * (size_t)h->n_h + h->len;
    FUZZ_CHECK(n == vlen, "the row written again is %zu bytes, was %zu", n, vlen);
    unsigned char head[8];
    dn_put_u32(head, (uint32_t)h->scored);
    dn_put_u32(head + 4, (uint32_t)h->n_h);
    FUZZ_CHECK(!memcmp(head, val, 8), "scored or count written differently");
    for (int j = 0; j < h->n_h; j++)
        FUZZ_CHECK(val[8 + 2 * j] == (uint8_t)(h->label[j] + 1) &&
                       val[9 + 2 * j] == h->applied[j],
                   "label state %d written differently", j);
    FUZZ_CHECK(!memcmp(val + 8 + 2 * (size_t)h->n_h, h->buf, h->len), "envelope changed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dn_heldq_t *q = dn_heldq_new(TABLE);
    if (!q)
        return 0;
    const uint8_t *p = data, *end = data + size;
    while (end - p >= 10) {
        size_t vlen = (size_t)(p[0] | p[1] << 8);
        const uint8_t *key = p + 2, *val = p + 10;
        if (vlen > (size_t)(end - val))
            vlen = (size_t)(end - val);
        p = val + vlen;
        int before = dn_heldq_count(q);
        dn_err_t err = {0};
        int rc = dn_heldq_load_row(q, key, 8, val, vlen, &err);
        if (rc) {
            FUZZ_ERR_NAMED(rc, err);
            FUZZ_CHECK(strstr(err.msg, TABLE), "refusal without the table: %s", err.msg);
            FUZZ_CHECK(dn_heldq_count(q) == before, "a refused row changed the queue");
            continue;
        }
        FUZZ_SAY("row held: run_seq %llu", (unsigned long long)dn_heldq_at(q, before)->seq);
        FUZZ_CHECK(dn_heldq_count(q) == before + 1, "an accepted row added %d runs",
                   dn_heldq_count(q) - before);
        same_as_written(dn_heldq_at(q, before), val, vlen);
    }
    check_queue(q);
    dn_heldq_destroy(&q);
    return 0;
}
