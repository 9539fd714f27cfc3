/* fuzz_json.c: libFuzzer target for the JSON parser and writer
 * (lib/io/json.h), under every JSON input dinamo reads (UHI runs, meta.json,
 * the tool's inputs): any bytes parsed strictly and with
 * DN_JSON_ALLOW_NONFINITE.
 *
 * Checked beyond "no crash":
 *   - a refusal returns a named error ("line L, column C: ...") and no tree;
 *   - what the strict parser accepts, the lenient one accepts too;
 *   - an accepted document written (dn_json_write_value) parses again, strictly,
 *     to the same tree (types, numbers bit for bit, strings with their length,
 *     keys as the C strings the writer writes), and writing that gives the same
 *     bytes (parse -> write -> parse equal, and the writing a fixed point). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "json.h"

static void same(const dn_json_value_t *a, const dn_json_value_t *b, int depth)
{
    dn_json_type_t t = dn_json_type(a);
    FUZZ_CHECK(t == dn_json_type(b), "depth %d: %s became %s", depth, dn_json_type_name(t),
               dn_json_type_name(dn_json_type(b)));
    switch (t) {
    case DN_JSON_NUMBER: {
        double x = dn_json_number(a), y = dn_json_number(b);
        FUZZ_CHECK(memcmp(&x, &y, sizeof x) == 0, "depth %d: %.17g became %.17g", depth, x, y);
        break;
    }
    case DN_JSON_BOOL:
        FUZZ_CHECK(dn_json_bool(a) == dn_json_bool(b), "depth %d: boolean changed", depth);
        break;
    case DN_JSON_STRING:
        FUZZ_CHECK(dn_json_string_len(a) == dn_json_string_len(b) &&
                       !memcmp(dn_json_string(a), dn_json_string(b), dn_json_string_len(a)),
                   "depth %d: string changed", depth);
        break;
    case DN_JSON_ARRAY:
        FUZZ_CHECK(dn_json_array_len(a) == dn_json_array_len(b), "depth %d: array length",
                   depth);
        for (size_t i = 0; i < dn_json_array_len(a); i++)
            same(dn_json_array_at(a, i), dn_json_array_at(b, i), depth + 1);
        break;
    case DN_JSON_OBJECT:
        FUZZ_CHECK(dn_json_object_len(a) == dn_json_object_len(b), "depth %d: member count",
                   depth);
        for (size_t i = 0; i < dn_json_object_len(a); i++) {
            FUZZ_CHECK(!strcmp(dn_json_object_key_at(a, i), dn_json_object_key_at(b, i)),
                       "depth %d: key %zu changed", depth, i);
            same(dn_json_object_value_at(a, i), dn_json_object_value_at(b, i), depth + 1);
        }
        break;
    default:
        break;
    }
}

/* The document written into a new buffer *out of *n bytes; 0 or -1 (memory). */
static int write_doc(const dn_json_t *doc, char **out, size_t *n)
{
    FILE *f = open_memstream(out, n);
    if (!f)
        return -1;
    int rc = dn_json_write_value(f, dn_json_root(doc));
    FUZZ_CHECK(fclose(f) == 0 && rc == 0, "writing a parsed document failed: %d", rc);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dn_json_t *doc = NULL, *lenient = NULL, *again = NULL;
    char *w1 = NULL, *w2 = NULL;
    size_t n1 = 0, n2 = 0;
    dn_err_t err = {0};
    int rc = dn_json_parse_ex((const char *)data, size, DN_JSON_ALLOW_NONFINITE, &lenient, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!lenient, "refused document returned");
    }
    rc = dn_json_parse((const char *)data, size, &doc, &err);
    if (rc) {
        FUZZ_ERR_NAMED(rc, err);
        FUZZ_CHECK(!doc, "refused document returned");
        goto done;
    }
    FUZZ_CHECK(lenient, "the strict parser accepted what the lenient one refused");
    same(dn_json_root(doc), dn_json_root(lenient), 0);
    if (write_doc(doc, &w1, &n1))
        goto done;
    rc = dn_json_parse(w1, n1, &again, &err);
    FUZZ_CHECK(rc == 0 || rc == DN_ENOMEM, "the writer's output does not parse: %s", err.msg);
    if (rc)
        goto done;
    same(dn_json_root(doc), dn_json_root(again), 0);
    if (write_doc(again, &w2, &n2))
        goto done;
    FUZZ_CHECK(n1 == n2 && !memcmp(w1, w2, n1), "write(parse(write)) differs from write");
done:
    free(w1);
    free(w2);
    dn_json_destroy(&doc);
    dn_json_destroy(&lenient);
    dn_json_destroy(&again);
    return 0;
}
