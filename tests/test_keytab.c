/* test_keytab.c: the hashed key table (keytab.h) against a plain list kept
 * beside it: random adds, finds and removes (fixed seed) through several
 * growths, with every key's index checked after every removal; indices stay
 * dense and in insertion order until a removal moves the last key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keytab.h"
#include "rng.h"

TestSuite(keytab);

Test(keytab, indices_are_dense_in_insertion_order)
{
    dn_keytab_t *t = dn_keytab_new();
    cr_assert_not_null(t);
    cr_assert_eq(dn_keytab_find(t, "calo/energy"), -1);
    cr_assert_eq(dn_keytab_add(t, "calo/energy"), 0);
    cr_assert_eq(dn_keytab_add(t, "muon/hits"), 1);
    cr_assert_eq(dn_keytab_add(t, "calo/energy"), 0, "adding a present key gives its index");
    cr_assert_eq(dn_keytab_count(t), 2);
    cr_assert_str_eq(dn_keytab_key(t, 1), "muon/hits");
    cr_assert_null(dn_keytab_key(t, 2));
    cr_assert_eq(dn_keytab_find(t, ""), -1);
    cr_assert_eq(dn_keytab_add(t, ""), 2, "the empty string is a key like any other");
    cr_assert_eq(dn_keytab_remove(t, 0), 2, "the last key moves into the freed index");
    cr_assert_str_eq(dn_keytab_key(t, 0), "");
    cr_assert_eq(dn_keytab_find(t, "calo/energy"), -1);
    cr_assert_eq(dn_keytab_remove(t, 5), -1);
    dn_keytab_destroy(&t);
    cr_assert_null(t);
    dn_keytab_destroy(&t);
}

/* 20000 operations on up to 3000 keys, compared with a list searched linearly. */
Test(keytab, random_operations_agree_with_a_linear_list)
{
    enum { KEYS = 3000, OPS = 20000 };
    dn_rng_t rng;
    dn_rng_seed(&rng, 42);
    dn_keytab_t *t = dn_keytab_new();
    char **ref = calloc(KEYS, sizeof *ref);
    int n_ref = 0, worst = 0;
    cr_assert(t && ref);
    for (int op = 0; op < OPS; op++) {
        char key[32];
        snprintf(key, sizeof key, "sub%llu/h%llu", (unsigned long long)dn_rng_below(&rng, 7),
                 (unsigned long long)dn_rng_below(&rng, KEYS));
        int want = -1;
        for (int i = 0; i < n_ref; i++)
            if (!strcmp(ref[i], key))
                want = i;
        int got = dn_keytab_find(t, key);
        cr_assert_eq(got, want, "op %d: find '%s' gave %d, the list %d", op, key, got, want);
        if (dn_rng_below(&rng, 3) == 0 && n_ref > 0) {
            int i = (int)dn_rng_below(&rng, (uint64_t)n_ref);
            int moved = dn_keytab_remove(t, i);
            cr_assert_eq(moved, n_ref - 1, "op %d: remove %d moved %d", op, i, moved);
            free(ref[i]);
            ref[i] = ref[n_ref - 1];
            n_ref--;
        } else if (want < 0 && n_ref < KEYS) {
            int idx = dn_keytab_add(t, key);
            cr_assert_eq(idx, n_ref, "op %d: add '%s' gave index %d, want %d", op, key, idx, n_ref);
            ref[n_ref++] = strdup(key);
        }
        cr_assert_eq(dn_keytab_count(t), n_ref);
        if (op % 997 == 0)
            for (int i = 0; i < n_ref; i++) {
                int f = dn_keytab_find(t, ref[i]);
                if (f != i)
                    worst++;
                cr_assert_eq(f, i, "op %d: key '%s' at index %d, the list has it at %d (%d "
                             "wrong so far)", op, ref[i], f, i, worst);
                cr_assert_str_eq(dn_keytab_key(t, i), ref[i]);
            }
    }
    for (int i = 0; i < n_ref; i++)
        free(ref[i]);
    free(ref);
    dn_keytab_destroy(&t);
}
