/* storedigest.h: what a store holds in some tables, as an entry count and a
 * 64-bit FNV-1a hash over every key and value in key order (a separator
 * after each record), so that two stores can be compared whole:
 *
 *     dn_test_digest_t d = dn_test_digest(store, (const char *[]){"runs"}, 1);
 */
#ifndef DN_TEST_STOREDIGEST_H
#define DN_TEST_STOREDIGEST_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct dn_test_digest_t {
    uint64_t entries, hash;
} dn_test_digest_t;

static inline int dn_test_digest_visit(const void *key, size_t klen, const void *val,
                                       size_t vlen, void *arg)
{
    dn_test_digest_t *d = arg;
    const uint8_t *p[2] = {key, val};
    size_t n[2] = {klen, vlen};
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < n[t]; i++)
            d->hash = (d->hash ^ p[t][i]) * 0x100000001b3ull;
    d->hash = (d->hash ^ 0xff) * 0x100000001b3ull;
    d->entries++;
    return 0;
}

/* The digest of tables[0 .. n) of s, in that order; fails the test when a
 * table cannot be read. */
static inline dn_test_digest_t dn_test_digest(dn_store_t *s, const char *const *tables, int n)
{
    dn_test_digest_t d = {0, 0xcbf29ce484222325ull};
    dn_err_t err = {0};
    for (int t = 0; t < n; t++)
        cr_assert_eq(dn_store_foreach(s, tables[t], NULL, 0, dn_test_digest_visit, &d, &err), 0,
                     "%s", err.msg);
    return d;
}

#endif
