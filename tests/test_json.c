/* test_json.c: the strict JSON parser (every value type, escapes, surrogates,
 * every error class with its exact position, the depth limit) and the writer
 * (escaping, shortest round-trip numbers, whole-value round trips). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "rng.h"

static dn_json_t *parse_ok(const char *text, size_t len)
{
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    int rc = dn_json_parse(text, len, &doc, &err);
    cr_assert_eq(rc, 0, "parse of '%.60s' failed: %d %s", text, rc, err.msg);
    cr_assert_not_null(doc);
    return doc;
}

static dn_json_t *parse_str(const char *text)
{
    return parse_ok(text, strlen(text));
}

Test(json, literals_and_numbers)
{
    static const struct {
        const char *text;
        double value;
    } nums[] = {
        {"0", 0.0},
        {"-0", -0.0},
        {"7", 7.0},
        {"-12", -12.0},
        {"1.5", 1.5},
        {"1.5e3", 1500.0},
        {"-1E-2", -0.01},
        {"2e+2", 200.0},
        {"0.1", 0.1},
        {"999999999999999", 999999999999999.0},        /* 15 digits: hand path */
        {"1234567890123456789", 1234567890123456789.0}, /* strtod path */
        {"1e-400", 0.0},                                /* underflow is fine */
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {" \t\r\n 42 \n", 42.0},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        dn_json_t *doc = parse_str(nums[i].text);
        const dn_json_value_t *root = dn_json_root(doc);
        cr_assert_eq(dn_json_type(root), DN_JSON_NUMBER, "'%s'", nums[i].text);
        double got = dn_json_number(root);
        cr_assert(memcmp(&got, &nums[i].value, sizeof got) == 0,
                  "'%s' parsed to %.17g, expected %.17g", nums[i].text, got, nums[i].value);
        dn_json_destroy(&doc);
        cr_assert_null(doc);
    }
    dn_json_t *doc = parse_str("true");
    cr_assert_eq(dn_json_type(dn_json_root(doc)), DN_JSON_BOOL);
    cr_assert_eq(dn_json_bool(dn_json_root(doc)), 1);
    dn_json_destroy(&doc);
    doc = parse_str("false");
    cr_assert_eq(dn_json_bool(dn_json_root(doc)), 0);
    dn_json_destroy(&doc);
    doc = parse_str("null");
    cr_assert_eq(dn_json_type(dn_json_root(doc)), DN_JSON_NULL);
    cr_assert_eq(dn_json_bool(dn_json_root(doc)), -1);
    cr_assert(isnan(dn_json_number(dn_json_root(doc))));
    cr_assert_null(dn_json_string(dn_json_root(doc)));
    dn_json_destroy(&doc);
    dn_json_destroy(&doc); /* NULL is fine */
    dn_json_destroy(NULL);
}

Test(json, strings_escapes_and_surrogates)
{
    static const struct {
        const char *text, *decoded;
        size_t len;
    } cases[] = {
        {"\"\"", "", 0},
        {"\"plain\"", "plain", 5},
        {"\"q\\\"b\\\\s\\/\"", "q\"b\\s/", 6},
        {"\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t", 5},
        {"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6},
        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4},   /* U+1F600 */
        {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4},   /* U+10FFFF */
        {"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14},
        {"\"a\\u0000b\"", "a\0b", 3},
        {"\"\\\\\"", "\\", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dn_json_t *doc = parse_str(cases[i].text);
        const dn_json_value_t *root = dn_json_root(doc);
        cr_assert_eq(dn_json_type(root), DN_JSON_STRING, "case %zu", i);
        cr_assert_eq(dn_json_string_len(root), cases[i].len, "case %zu: length %zu, expected %zu",
                     i, dn_json_string_len(root), cases[i].len);
        cr_assert(memcmp(dn_json_string(root), cases[i].decoded, cases[i].len) == 0,
                  "case %zu: decoded '%s'", i, dn_json_string(root));
        cr_assert_eq(dn_json_string(root)[cases[i].len], '\0', "case %zu: not terminated", i);
        dn_json_destroy(&doc);
    }
}

Test(json, arrays_and_objects)
{
    const char *text = "\xEF\xBB\xBF{ \"b\": [1, [2, 3], [], {}], \"a\" : {\"x\": null, \"y\": \"s\"},"
                       "\"b\": false, \"empty\": \"\" }";
    dn_json_t *doc = parse_str(text);
    const dn_json_value_t *root = dn_json_root(doc);
    cr_assert_eq(dn_json_type(root), DN_JSON_OBJECT);
    cr_assert_eq(dn_json_object_len(root), 4);
    const char *keys[] = {"b", "a", "b", "empty"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq(dn_json_object_key_at(root, i), keys[i], "member %zu", i);
    cr_assert_null(dn_json_object_key_at(root, 4));
    cr_assert_null(dn_json_object_value_at(root, 4));
    /* the first of repeated keys wins */
    const dn_json_value_t *b = dn_json_get(root, "b");
    cr_assert_eq(dn_json_type(b), DN_JSON_ARRAY);
    cr_assert_eq(dn_json_bool(dn_json_object_value_at(root, 2)), 0);
    cr_assert_eq(dn_json_array_len(b), 4);
    cr_assert_eq(dn_json_number(dn_json_array_at(b, 0)), 1.0);
    const dn_json_value_t *inner = dn_json_array_at(b, 1);
    cr_assert_eq(dn_json_array_len(inner), 2);
    cr_assert_eq(dn_json_number(dn_json_array_at(inner, 1)), 3.0);
    cr_assert_null(dn_json_array_at(inner, 2));
    cr_assert_eq(dn_json_type(dn_json_array_at(b, 2)), DN_JSON_ARRAY);
    cr_assert_eq(dn_json_array_len(dn_json_array_at(b, 2)), 0);
    cr_assert_eq(dn_json_type(dn_json_array_at(b, 3)), DN_JSON_OBJECT);
    cr_assert_eq(dn_json_object_len(dn_json_array_at(b, 3)), 0);
    const dn_json_value_t *a = dn_json_get(root, "a");
    cr_assert_eq(dn_json_type(dn_json_get(a, "x")), DN_JSON_NULL);
    cr_assert_str_eq(dn_json_string(dn_json_get(a, "y")), "s");
    cr_assert_str_eq(dn_json_string(dn_json_get(root, "empty")), "");
    /* chained lookups through missing or mistyped values stay neutral */
    cr_assert_null(dn_json_get(root, "missing"));
    cr_assert_eq(dn_json_type(dn_json_get(root, "missing")), DN_JSON_ABSENT);
    cr_assert(isnan(dn_json_number(dn_json_get(dn_json_get(root, "zz"), "x"))));
    cr_assert_null(dn_json_get(b, "x"));
    cr_assert_eq(dn_json_array_len(root), 0);
    cr_assert_eq(dn_json_object_len(b), 0);
    dn_json_destroy(&doc);
}

Test(json, length_bounds_the_input)
{
    /* the buffer continues past len: the parser must not look there */
    const char text[] = "[12345]6789";
    dn_json_t *doc = parse_ok(text, 7);
    cr_assert_eq(dn_json_number(dn_json_array_at(dn_json_root(doc), 0)), 12345.0);
    dn_json_destroy(&doc);
    doc = parse_ok("3.25e1xyz", 6);
    cr_assert_eq(dn_json_number(dn_json_root(doc)), 32.5, "got %g",
                 dn_json_number(dn_json_root(doc)));
    dn_json_destroy(&doc);
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse("\"abc\"", 4, &doc, &err), DN_EFORMAT);
    cr_assert_str_eq(err.msg, "line 1, column 1: unterminated string");
}

Test(json, every_error_class_with_position)
{
    static const struct {
        const char *text;
        size_t len; /* 0: strlen */
        int code;
        const char *msg;
    } cases[] = {
        {"", 0, DN_EFORMAT, "line 1, column 1: unexpected end of input"},
        {"   ", 0, DN_EFORMAT, "line 1, column 4: unexpected end of input"},
        {"[1,]", 0, DN_EFORMAT, "line 1, column 4: expected a value"},
        {"[1,,2]", 0, DN_EFORMAT, "line 1, column 4: expected a value"},
        {"{\"a\":1,}", 0, DN_EFORMAT, "line 1, column 8: expected a string key"},
        {"{\n  \"alpha\": 1,\n  \"beta\": [1, 2] 3\n}", 0, DN_EFORMAT,
         "line 3, column 18: expected ',' or '}'"},
        {"{\r\n\"a\": 1\r\n\"b\": 2}", 0, DN_EFORMAT, "line 3, column 1: expected ',' or '}'"},
        {"[1 2]", 0, DN_EFORMAT, "line 1, column 4: expected ',' or ']'"},
        {"{\"a\" 1}", 0, DN_EFORMAT, "line 1, column 6: expected ':'"},
        {"{1: 2}", 0, DN_EFORMAT, "line 1, column 2: expected a string key"},
        {"{'a': 2}", 0, DN_EFORMAT, "line 1, column 2: expected a string key"},
        {"[1, 2", 0, DN_EFORMAT, "line 1, column 6: unexpected end of input"},
        {"{\"a\":", 0, DN_EFORMAT, "line 1, column 6: unexpected end of input"},
        {"{\"a\"", 0, DN_EFORMAT, "line 1, column 5: unexpected end of input"},
        {"{", 0, DN_EFORMAT, "line 1, column 2: unexpected end of input"},
        {"01", 0, DN_EFORMAT, "line 1, column 1: leading zero in number"},
        {"[-00]", 0, DN_EFORMAT, "line 1, column 2: leading zero in number"},
        {"-", 0, DN_EFORMAT, "line 1, column 2: expected a digit after '-'"},
        {"-Infinity", 0, DN_EFORMAT, "line 1, column 2: expected a digit after '-'"},
        {"1.", 0, DN_EFORMAT, "line 1, column 3: expected a digit after '.'"},
        {"1.e5", 0, DN_EFORMAT, "line 1, column 3: expected a digit after '.'"},
        {"1e", 0, DN_EFORMAT, "line 1, column 3: expected a digit in exponent"},
        {"1e+", 0, DN_EFORMAT, "line 1, column 4: expected a digit in exponent"},
        {".5", 0, DN_EFORMAT, "line 1, column 1: expected a value"},
        {"+1", 0, DN_EFORMAT, "line 1, column 1: expected a value"},
        {"NaN", 0, DN_EFORMAT, "line 1, column 1: expected a value"},
        {"Infinity", 0, DN_EFORMAT, "line 1, column 1: expected a value"},
        {"0x10", 0, DN_EFORMAT, "line 1, column 2: unexpected content after the document"},
        {"1e400", 0, DN_ERANGE, "line 1, column 1: number 1e400 out of range"},
        {"[\n -1e999]", 0, DN_ERANGE, "line 2, column 2: number -1e999 out of range"},
        {"tru", 0, DN_EFORMAT, "line 1, column 1: invalid literal (expected true)"},
        {"[nul]", 0, DN_EFORMAT, "line 1, column 2: invalid literal (expected null)"},
        {"True", 0, DN_EFORMAT, "line 1, column 1: expected a value"},
        {"falsey", 0, DN_EFORMAT, "line 1, column 6: unexpected content after the document"},
        {"[1] x", 0, DN_EFORMAT, "line 1, column 5: unexpected content after the document"},
        {"1 2", 0, DN_EFORMAT, "line 1, column 3: unexpected content after the document"},
        {"1\0", 2, DN_EFORMAT, "line 1, column 2: unexpected content after the document"},
        {"// c\n1", 0, DN_EFORMAT, "line 1, column 1: expected a value"},
        {"\"abc", 0, DN_EFORMAT, "line 1, column 1: unterminated string"},
        {"[\"a\\\"]", 0, DN_EFORMAT, "line 1, column 2: unterminated string"},
        {"\"a\tb\"", 0, DN_EFORMAT, "line 1, column 3: control character 0x09 in string"},
        {"\"a\nb\"", 0, DN_EFORMAT, "line 1, column 3: control character 0x0a in string"},
        {"\"\\x\"", 0, DN_EFORMAT, "line 1, column 2: invalid escape '\\x' in string"},
        {"\"\\'\"", 0, DN_EFORMAT, "line 1, column 2: invalid escape '\\'' in string"},
        {"\"ab\\u12G4\"", 0, DN_EFORMAT,
         "line 1, column 4: invalid \\u escape (expected 4 hex digits)"},
        {"\"\\u12\"", 0, DN_EFORMAT,
         "line 1, column 2: invalid \\u escape (expected 4 hex digits)"},
        {"\"\\ud800\"", 0, DN_EFORMAT,
         "line 1, column 2: high surrogate \\uD800 not followed by a low surrogate"},
        {"\"x\\ud83d\\u0041\"", 0, DN_EFORMAT,
         "line 1, column 3: high surrogate \\uD83D not followed by a low surrogate"},
        {"\"\\ud83d\\ud83d\"", 0, DN_EFORMAT,
         "line 1, column 2: high surrogate \\uD83D not followed by a low surrogate"},
        {"\"\\udc00\"", 0, DN_EFORMAT, "line 1, column 2: lone low surrogate \\uDC00 in string"},
        {"\"\xff\"", 0, DN_EFORMAT, "line 1, column 2: invalid UTF-8 in string"},
        {"\"a\xc0\xaf\"", 0, DN_EFORMAT, "line 1, column 3: invalid UTF-8 in string"},
        {"\"\xed\xa0\x80\"", 0, DN_EFORMAT, "line 1, column 2: invalid UTF-8 in string"},
        {"\"\xe2\x82\"", 0, DN_EFORMAT, "line 1, column 2: invalid UTF-8 in string"},
        {"\"\xf4\x90\x80\x80\"", 0, DN_EFORMAT, "line 1, column 2: invalid UTF-8 in string"},
        {"\"\x80\"", 0, DN_EFORMAT, "line 1, column 2: invalid UTF-8 in string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        dn_json_t *doc = (dn_json_t *)&doc; /* must be reset to NULL */
        dn_err_t err = {0};
        int rc = dn_json_parse(cases[i].text, len, &doc, &err);
        cr_expect_eq(rc, cases[i].code, "case %zu '%s': code %d, expected %d (%s)", i,
                     cases[i].text, rc, cases[i].code, err.msg);
        cr_expect_eq(err.code, cases[i].code, "case %zu: err.code %d", i, err.code);
        cr_expect_str_eq(err.msg, cases[i].msg, "case %zu '%s': message '%s', expected '%s'", i,
                         cases[i].text, err.msg, cases[i].msg);
        cr_expect_null(doc, "case %zu: *out not NULL on failure", i);
    }
}

static char *nested(int depth)
{
    char *s = malloc(2 * (size_t)depth + 1);
    cr_assert_not_null(s);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[2 * depth] = '\0';
    return s;
}

Test(json, depth_limit)
{
    char *ok = nested(DN_JSON_MAX_DEPTH);
    dn_json_t *doc = parse_str(ok);
    const dn_json_value_t *v = dn_json_root(doc);
    int depth = 0;
    while (dn_json_type(v) == DN_JSON_ARRAY) {
        depth++;
        v = dn_json_array_at(v, 0);
    }
    cr_assert_eq(depth, DN_JSON_MAX_DEPTH, "depth %d", depth);
    dn_json_destroy(&doc);
    free(ok);

    char *deep = nested(DN_JSON_MAX_DEPTH + 1);
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(deep, strlen(deep), &doc, &err), DN_EFORMAT);
    cr_assert_str_eq(err.msg, "line 1, column 257: nesting deeper than 256 levels");
    free(deep);

    /* objects count too; far deeper input is refused without deep recursion */
    size_t n = 100000;
    char *huge = malloc(6 * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(huge + 6 * i, "{\"a\": ", 6);
    huge[6 * n] = '\0';
    cr_assert_eq(dn_json_parse(huge, 6 * n, &doc, &err), DN_EFORMAT);
    cr_assert_str_eq(err.msg, "line 1, column 1537: nesting deeper than 256 levels");
    free(huge);
}

Test(json, numbers_round_trip_bit_for_bit)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 20240601);
    char buf[DN_JSON_NUMBER_MAX];
    int checked = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = dn_rng_next(&rng);
        double x;
        if (i % 4 == 0) /* also plain decimals and integers */
            x = (double)(int64_t)(bits >> 20) / (i % 8 ? 1000.0 : 1.0);
        else
            memcpy(&x, &bits, sizeof x);
        if (!isfinite(x))
            continue;
        int n = dn_json_format_number(buf, x);
        cr_assert(n > 0 && n < DN_JSON_NUMBER_MAX);
        dn_json_t *doc = NULL;
        dn_err_t err = {0};
        int rc = dn_json_parse(buf, (size_t)n, &doc, &err);
        cr_assert_eq(rc, 0, "'%s' (from %a) does not parse: %s", buf, x, err.msg);
        double y = dn_json_number(dn_json_root(doc));
        cr_assert(memcmp(&x, &y, sizeof x) == 0, "%a written as '%s' read back as %a", x, buf, y);
        dn_json_destroy(&doc);
        checked++;
    }
    cr_assert_gt(checked, 150000);
    /* shortest forms */
    static const struct {
        double x;
        const char *s;
    } fixed[] = {{0.1, "0.1"}, {-4.9, "-4.9"}, {100, "100"}, {-0.0, "-0"}, {1e300, "1e+300"},
                 {-123456789012345.0, "-123456789012345"}, {1e15, "1e+15"},
                 {0.30000000000000004, "0.30000000000000004"}, {NAN, "null"},
                 {INFINITY, "null"}, {-INFINITY, "null"}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        dn_json_format_number(buf, fixed[i].x);
        cr_assert_str_eq(buf, fixed[i].s, "%a formatted as '%s', expected '%s'", fixed[i].x, buf,
                         fixed[i].s);
    }
}

static char *write_to_string(int (*fn)(FILE *, const void *), const void *arg, size_t *len)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    cr_assert_not_null(f);
    cr_assert_eq(fn(f, arg), 0);
    fclose(f);
    if (len)
        *len = n;
    return out;
}

static int write_str_cb(FILE *f, const void *s) { return dn_json_write_string(f, s); }
static int write_val_cb(FILE *f, const void *v) { return dn_json_write_value(f, v); }

Test(json, write_string_escapes)
{
    char *s = write_to_string(write_str_cb, "a\"b\\c/\n\r\t\b\f\x01\x1f caf\xc3\xa9", NULL);
    cr_assert_str_eq(s, "\"a\\\"b\\\\c/\\n\\r\\t\\b\\f\\u0001\\u001f caf\xc3\xa9\"");
    /* and the parser reads it back unchanged */
    dn_json_t *doc = parse_str(s);
    cr_assert_str_eq(dn_json_string(dn_json_root(doc)), "a\"b\\c/\n\r\t\b\f\x01\x1f caf\xc3\xa9");
    dn_json_destroy(&doc);
    free(s);
    s = write_to_string(write_str_cb, "", NULL);
    cr_assert_str_eq(s, "\"\"");
    free(s);
}

Test(json, write_value_round_trip)
{
    const char *text = "{\"edges\": [-5, -4.9, 0.1, 1e-300],\n \"nested\": {\"t\": true, \"f\": false,"
                       " \"n\": null, \"s\": \"x\\u0000y\\n\\ud83d\\ude00\"}, \"e\": [], \"o\": {}}";
    dn_json_t *doc = parse_str(text);
    size_t len;
    char *out = write_to_string(write_val_cb, dn_json_root(doc), &len);
    cr_assert_str_eq(out, "{\"edges\": [-5, -4.9, 0.1, 1e-300], \"nested\": {\"t\": true, "
                          "\"f\": false, \"n\": null, \"s\": \"x\\u0000y\\n\xf0\x9f\x98\x80\"}, "
                          "\"e\": [], \"o\": {}}");
    dn_json_t *again = parse_ok(out, len);
    char *out2 = write_to_string(write_val_cb, dn_json_root(again), NULL);
    cr_assert_str_eq(out2, out);
    cr_assert_eq(dn_json_string_len(dn_json_get(dn_json_get(dn_json_root(again), "nested"), "s")),
                 8);
    free(out);
    free(out2);
    dn_json_destroy(&doc);
    dn_json_destroy(&again);
}

Test(json, get_numbers)
{
    dn_json_t *doc = parse_str("{\"e\": [1, 2.5, -3], \"z\": [], \"s\": \"x\", "
                               "\"bad\": [1, 2, 3, null], \"obj\": [0, {}]}");
    const dn_json_value_t *root = dn_json_root(doc);
    double *v = NULL;
    size_t n = 99;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_get_numbers(root, "e", &v, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_assert(v[0] == 1 && v[1] == 2.5 && v[2] == -3, "%g %g %g", v[0], v[1], v[2]);
    free(v);
    cr_assert_eq(dn_json_get_numbers(root, "z", &v, &n, &err), 0);
    cr_assert_eq(n, 0);
    cr_assert_not_null(v);
    free(v);
    cr_assert_eq(dn_json_get_numbers(root, "missing", &v, &n, &err), DN_ENOTFOUND);
    cr_assert_str_eq(err.msg, "missing key \"missing\"");
    cr_assert_eq(dn_json_get_numbers(root, "s", &v, &n, &err), DN_EFORMAT);
    cr_assert_str_eq(err.msg, "key \"s\": expected an array, found a string");
    cr_assert_eq(dn_json_get_numbers(root, "bad", &v, &n, &err), DN_EFORMAT);
    cr_assert_str_eq(err.msg, "key \"bad\": element 3: expected a number, found null");
    cr_assert_null(v);
    cr_assert_eq(n, 0);
    cr_assert_eq(dn_json_get_numbers(root, "obj", &v, &n, &err), DN_EFORMAT);
    cr_assert_str_eq(err.msg, "key \"obj\": element 1: expected a number, found an object");
    cr_assert_eq(dn_json_get_numbers(dn_json_get(root, "e"), "x", &v, &n, &err), DN_ENOTFOUND);
    dn_json_destroy(&doc);
}

Test(json, parse_file_names_the_file)
{
    char dir[] = "/tmp/dn_json_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\n  \"a\": [1,\n  2,,]\n}\n", f);
    fclose(f);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse_file(path, &doc, &err), DN_EFORMAT);
    char want[512];
    snprintf(want, sizeof want, "%s: line 3, column 5: expected a value", path);
    cr_assert_str_eq(err.msg, want);
    f = fopen(path, "w");
    fputs("[\"ok\"]", f);
    fclose(f);
    cr_assert_eq(dn_json_parse_file(path, &doc, &err), 0, "%s", err.msg);
    cr_assert_str_eq(dn_json_string(dn_json_array_at(dn_json_root(doc), 0)), "ok");
    dn_json_destroy(&doc);
    unlink(path);
    cr_assert_eq(dn_json_parse_file(path, &doc, &err), DN_EIO);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
    rmdir(dir);
}

Test(json, large_document)
{
    /* 200k numbers in nested arrays: exercises arena growth and the stack */
    size_t cap = 8 << 20, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    len += (size_t)sprintf(text + len, "{\"values\": [");
    for (int i = 0; i < 200000; i++)
        len += (size_t)sprintf(text + len, "%s%d.25", i ? ", " : "", i);
    len += (size_t)sprintf(text + len, "], \"s\": [");
    for (int i = 0; i < 20000; i++)
        len += (size_t)sprintf(text + len, "%s\"k%d\"", i ? "," : "", i);
    len += (size_t)sprintf(text + len, "]}");
    dn_json_t *doc = parse_ok(text, len);
    double *v;
    size_t n;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_get_numbers(dn_json_root(doc), "values", &v, &n, &err), 0);
    cr_assert_eq(n, 200000);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(v[i] - ((double)i + 0.25)));
    cr_assert_eq(worst, 0, "worst difference %g", worst);
    const dn_json_value_t *s = dn_json_get(dn_json_root(doc), "s");
    cr_assert_str_eq(dn_json_string(dn_json_array_at(s, 19999)), "k19999");
    free(v);
    free(text);
    dn_json_destroy(&doc);
}

/* NaN/Infinity tokens: rejected by default (RFC 8259), read as numbers with
 * DN_JSON_ALLOW_NONFINITE, so a reader of Python output can name them. */
Test(json, nonfinite_tokens_only_when_allowed)
{
    const char *text = "[NaN, Infinity, -Infinity, -1.5]";
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(text, strlen(text), &doc, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "line 1, column 2: expected a value"), "%s", err.msg);
    cr_assert_eq(dn_json_parse_ex(text, strlen(text), DN_JSON_ALLOW_NONFINITE, &doc, &err), 0,
                 "%s", err.msg);
    const dn_json_value_t *r = dn_json_root(doc);
    cr_assert(isnan(dn_json_number(dn_json_array_at(r, 0))));
    cr_assert_eq(dn_json_type(dn_json_array_at(r, 0)), DN_JSON_NUMBER);
    cr_assert_eq(dn_json_number(dn_json_array_at(r, 1)), INFINITY);
    cr_assert_eq(dn_json_number(dn_json_array_at(r, 2)), -INFINITY);
    cr_assert_eq(dn_json_number(dn_json_array_at(r, 3)), -1.5);
    dn_json_destroy(&doc);
    const char *bad = "[Nan]";
    cr_assert_eq(dn_json_parse_ex(bad, strlen(bad), DN_JSON_ALLOW_NONFINITE, &doc, &err),
                 DN_EFORMAT);
}

/* A name that is not UTF-8 (a damaged store, a hostile peer) still makes
 * valid JSON: each byte that starts no well-formed sequence becomes U+FFFD,
 * well-formed multi-byte characters pass through. */
Test(json, writer_replaces_bytes_that_are_not_utf8)
{
    const char in[] = "a\xff" "b\xc3\xa9" "c\xe2\x82" "d\xf0\x9f\x98\x80" "\xed\xa0\x80";
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_assert_eq(dn_json_write_string_len(f, in, sizeof in - 1), 0);
    fclose(f);
    const char *want = "\"a\\ufffdb\xc3\xa9" "c\\ufffd\\ufffdd\xf0\x9f\x98\x80"
                       "\\ufffd\\ufffd\\ufffd\"";
    cr_expect_str_eq(buf, want);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_expect_eq(dn_json_parse(buf, len, &doc, &err), 0, "%s: %s", buf, err.msg);
    dn_json_destroy(&doc);
    free(buf);
}
