/* test_held.c: the runs a scorer holds (held.h): order, lookup, refusal of
 * what is not a run or comes out of order, dropping from the front, and the
 * store table: what is staged after changes, drops and commits, and that a
 * restart restores every run byte for byte with its label states; a damaged
 * row is refused by name and leaves the queue empty. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "held.h"
#include "msg.h"
#include "store.h"
#include "tmpdir.h"

#define TABLE "test.held"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void)
{
    dn_test_tmpdir(dir, "held");
}

static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(held, .init = setup, .fini = teardown);

/* env (its body set) encoded as producer's message with a sequence number;
 * the caller frees the bytes. */
static uint8_t *encode(Dinamo__Envelope *env, const char *producer, size_t *len)
{
    env->producer = (char *)producer;
    env->has_seq = 1;
    uint8_t *buf = NULL;
    cr_assert_eq(dn_msg_encode_unchecked(env, &buf, len), 0);
    return buf;
}

/* An encoded Run envelope: run_seq seq, n_h histograms of 5 bins. */
static uint8_t *run_bytes(uint64_t seq, int n_h, size_t *len)
{
    double counts[5] = {1, 2, 3, 4, (double)seq};
    Dinamo__Histogram h[4], *hp[4];
    char keys[4][8];
    for (int j = 0; j < n_h; j++) {
        dinamo__histogram__init(&h[j]);
        snprintf(keys[j], sizeof keys[j], "h%d", j);
        h[j].key = keys[j];
        h[j].n_counts = 5;
        h[j].counts = counts;
        hp[j] = &h[j];
    }
    Dinamo__Run r = DINAMO__RUN__INIT;
    r.stream = (char *)"s";
    r.has_run_number = r.has_run_seq = 1;
    r.run_number = 1000 + (int64_t)seq;
    r.run_seq = seq;
    r.n_histograms = (size_t)n_h;
    r.histograms = hp;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    env.run = &r;
    return encode(&env, "events", len);
}

static dn_held_t *add(dn_heldq_t *q, uint64_t seq, int n_h)
{
    size_t len;
    uint8_t *buf = run_bytes(seq, n_h, &len);
    dn_held_t *h = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_heldq_add(q, buf, len, &h, &err), 0, "%s", err.msg);
    free(buf);
    return h;
}

Test(held, order_lookup_and_refusals)
{
    dn_heldq_t *q = dn_heldq_new(TABLE);
    cr_assert_not_null(q);
    for (uint64_t s = 3; s < 9; s++) {
        dn_held_t *h = add(q, s, 2);
        cr_assert(h->seq == s && h->n_h == 2 && h->dirty && !h->scored);
        cr_assert(h->label[0] == DN_LBL_NONE && h->label[1] == DN_LBL_NONE);
        cr_assert_eq(h->env->run->run_number, 1000 + (int64_t)s);
    }
    cr_assert_eq(dn_heldq_count(q), 6);
    for (uint64_t s = 3; s < 9; s++)
        cr_assert(dn_heldq_find(q, s) == dn_heldq_at(q, (int)s - 3), "find(%llu)",
                  (unsigned long long)s);
    cr_assert_null(dn_heldq_find(q, 2));
    cr_assert_null(dn_heldq_find(q, 9));
    cr_assert_null(dn_heldq_at(q, 6));
    cr_assert_null(dn_heldq_at(q, -1));

    dn_err_t err = {0};
    size_t len;
    uint8_t *buf = run_bytes(8, 1, &len); /* not above the last (8) */
    cr_assert_eq(dn_heldq_add(q, buf, len, NULL, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "run_seq 8"), "%s", err.msg);
    cr_assert_eq(dn_heldq_add(q, buf, len / 2, NULL, &err), DN_EFORMAT, "truncated: %s",
                 err.msg);
    free(buf);
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = 1;
    l.run_number = 1009;
    l.run_seq = 9;
    l.verdict = DINAMO__VERDICT__GOOD;
    l.source = DINAMO__LABEL_SOURCE__GENERATOR;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &l;
    buf = encode(&env, "labels", &len);
    cr_assert_eq(dn_heldq_add(q, buf, len, NULL, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "no run"), "%s", err.msg);
    free(buf);
    cr_assert_eq(dn_heldq_count(q), 6, "a refused run was held");

    dn_held_t *h = dn_heldq_at(q, 0);
    cr_assert(!dn_held_labelled(h) && !dn_held_complete(h));
    h->label[0] = DN_LBL_GOOD;
    h->label[1] = DN_LBL_BAD;
    cr_assert(dn_held_labelled(h) && !dn_held_complete(h));
    h->applied[0] = h->applied[1] = 1;
    cr_assert(dn_held_complete(h));

    cr_assert_eq(dn_heldq_drop_front(q, 7), DN_EINVAL);
    cr_assert_eq(dn_heldq_drop_front(q, 2), 0);
    cr_assert_eq(dn_heldq_count(q), 4);
    cr_assert_eq(dn_heldq_at(q, 0)->seq, 5);
    cr_assert_null(dn_heldq_find(q, 4));
    cr_assert_not_null(dn_heldq_find(q, 8));
    add(q, 9, 1); /* still in order after a drop */
    cr_assert_eq(dn_heldq_drop_front(q, 5), 0);
    cr_assert_eq(dn_heldq_count(q), 0);
    add(q, 10, 1); /* and after emptying */
    dn_heldq_destroy(&q);
    cr_assert_null(q);
    dn_heldq_destroy(&q);
    dn_heldq_destroy(NULL);
}

static void commit(dn_heldq_t *q, dn_store_t *st)
{
    dn_store_batch_t *b = dn_store_batch_new();
    cr_assert_not_null(b);
    dn_err_t err = {0};
    cr_assert_eq(dn_heldq_stage(q, b), 0);
    cr_assert_eq(dn_store_apply(st, b, &err), 0, "%s", err.msg);
    dn_heldq_committed(q);
    dn_store_batch_destroy(&b);
}

static uint64_t rows(dn_store_t *st)
{
    uint64_t n = 0;
    dn_err_t err = {0};
    cr_assert_eq(dn_store_count(st, TABLE, &n, &err), 0, "%s", err.msg);
    return n;
}

Test(held, stage_commit_and_restore_byte_for_byte)
{
    dn_err_t err = {0};
    dn_store_t *st = dn_store_open(dir, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(st, "%s", err.msg);
    dn_heldq_t *q = dn_heldq_new(TABLE);
    for (uint64_t s = 0; s < 5; s++)
        add(q, s, 3);
    commit(q, st);
    cr_assert_eq(rows(st), 5);
    for (int i = 0; i < 5; i++)
        cr_assert(!dn_heldq_at(q, i)->dirty, "run %d still dirty after the commit", i);

    /* change run 1 (dirty), drop runs 0: one put and one delete */
    dn_held_t *h = dn_heldq_at(q, 1);
    h->scored = 1;
    h->label[0] = DN_LBL_GOOD;
    h->applied[0] = 1;
    h->label[2] = DN_LBL_BAD;
    h->dirty = 1;
    /* a change without dirty is not written: run 2's label stays unset in the store */
    dn_heldq_at(q, 2)->label[1] = DN_LBL_GOOD;
    cr_assert_eq(dn_heldq_drop_front(q, 1), 0);
    add(q, 5, 3);
    commit(q, st);
    cr_assert_eq(rows(st), 5);

    dn_heldq_t *r = dn_heldq_new(TABLE);
    add(r, 100, 1); /* replaced by the restore */
    cr_assert_eq(dn_heldq_restore(r, st, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_heldq_count(r), 5);
    for (int i = 0; i < 5; i++) {
        const dn_held_t *a = dn_heldq_at(q, i), *b = dn_heldq_at(r, i);
        cr_assert(a->seq == b->seq && a->len == b->len && !memcmp(a->buf, b->buf, a->len),
                  "run %d: seq %llu/%llu, %zu/%zu bytes", i, (unsigned long long)a->seq,
                  (unsigned long long)b->seq, a->len, b->len);
        cr_assert(!b->dirty);
        if (a->seq == 2) {
            cr_assert_eq(b->label[1], DN_LBL_NONE, "a change not marked dirty was written");
            continue;
        }
        cr_assert(a->scored == b->scored && !memcmp(a->label, b->label, 3) &&
                  !memcmp(a->applied, b->applied, 3), "run %llu: label states differ",
                  (unsigned long long)a->seq);
    }
    cr_assert(dn_heldq_at(r, 0)->seq == 1 && dn_heldq_at(r, 0)->scored &&
              dn_heldq_at(r, 0)->label[2] == DN_LBL_BAD);
    dn_heldq_destroy(&r);

    /* a damaged row: named, and the queue left empty */
    unsigned char key[8];
    dn_put_be64(key, 3);
    cr_assert_eq(dn_store_put(st, TABLE, key, 8, "\x01\x00\x00\x00\x03", 5, &err), 0, "%s",
                 err.msg);
    r = dn_heldq_new(TABLE);
    cr_assert_eq(dn_heldq_restore(r, st, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "damaged held run 3 in " TABLE), "%s", err.msg);
    cr_assert_eq(dn_heldq_count(r), 0);
    dn_heldq_destroy(&r);
    dn_heldq_destroy(&q);
    dn_store_destroy(&st);
}

/* drop_done: the leading runs scored with every label applied; after the end
 * of the stream, every leading scored run; never past an unscored one. */
Test(held, drop_done_stops_at_the_first_run_still_needed)
{
    dn_heldq_t *q = dn_heldq_new(TABLE);
    cr_assert_not_null(q);
    for (uint64_t s = 0; s < 4; s++)
        add(q, s, 2);
    for (int i = 0; i < 3; i++) { /* 0 and 2 complete, 1 waits for a label, 3 unscored */
        dn_held_t *h = dn_heldq_at(q, i);
        h->scored = 1;
        h->applied[0] = 1;
        h->applied[1] = i != 1;
    }
    cr_assert_eq(dn_heldq_drop_done(q, 0), 1);
    cr_assert_eq(dn_heldq_at(q, 0)->seq, 1, "run 1 still waits for its label");
    cr_assert_eq(dn_heldq_drop_done(q, 0), 0);
    cr_assert_eq(dn_heldq_drop_done(q, 1), 2, "at the end, runs 1 and 2 are done with");
    cr_assert(dn_heldq_count(q) == 1 && dn_heldq_at(q, 0)->seq == 3 &&
                  !dn_heldq_at(q, 0)->scored,
              "the unscored run 3 must stay");
    cr_assert_eq(dn_heldq_drop_done(q, 1), 0);
    dn_heldq_destroy(&q);
}
