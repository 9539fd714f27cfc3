/* fuzz_registry.c: libFuzzer target for the registry's request decoding
 * (lib/pipe/registry.h, dn_registry_request_decode): the frame any peer on
 * the registry's ROUTER port may send, parsed and checked before the
 * registry touches its LMDB tables.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error and no request;
 *   - an accepted request has what dn_registry_request_decode promises (a
 *     client of 1 .. DN_REGISTRY_CLIENT_MAX bytes, an id, a known op name,
 *     no unknown field at the top level), and packs to bytes that decode again,
 *     accepted, to a request that packs to the same bytes (parse -> write ->
 *     parse equal). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "registry.h"

static uint8_t *pack(const Dinamo__RegistryRequest *q, size_t *n)
{
    *n = dinamo__registry_request__get_packed_size(q);
    uint8_t *b = malloc(*n ? *n : 1);
    if (b)
        FUZZ_CHECK(dinamo__registry_request__pack(q, b) == *n, "pack size changed");
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Dinamo__RegistryRequest *q = NULL, *r = NULL;
    dn_err_t err = {0};
    int rc = dn_registry_request_decode(data, size, &q, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!q, "refused request returned");
        return 0;
    }
    size_t cl = q->client ? strlen(q->client) : 0;
    FUZZ_SAY("accepted %s", dn_registry_op_name(q->op));
    FUZZ_CHECK(cl >= 1 && cl <= DN_REGISTRY_CLIENT_MAX, "client of %zu bytes accepted", cl);
    FUZZ_CHECK(q->has_id && q->has_op && strcmp(dn_registry_op_name(q->op), "?") != 0,
               "request without id or a known op accepted (op %d)", (int)q->op);
    FUZZ_CHECK(q->base.n_unknown_fields == 0, "unknown fields accepted");
    size_t n1, n2 = 0;
    uint8_t *b1 = pack(q, &n1), *b2 = NULL;
    if (b1) {
        dn_err_t e2 = {0};
        rc = dn_registry_request_decode(b1, n1, &r, &e2);
        FUZZ_CHECK(rc == 0 || rc == DN_ENOMEM, "accepted request, packed again, refused: %s",
                   e2.msg);
        if (r && (b2 = pack(r, &n2)))
            FUZZ_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0,
                       "parse -> write -> parse -> write: %zu then %zu bytes, differing", n1, n2);
    }
    free(b1);
    free(b2);
    if (r)
        dinamo__registry_request__free_unpacked(r, NULL);
    dinamo__registry_request__free_unpacked(q, NULL);
    return 0;
}
