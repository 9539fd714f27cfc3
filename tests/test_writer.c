/* test_writer.c: the JSON and CSV cursors every file of dinamo is written
 * with (writer.h), fed hostile names: quotes, backslashes (a UHI key
 * `calo/"e\nergy` with a real backslash), commas, line breaks, every control
 * character, non-ASCII UTF-8. Every document parses back to exactly what was
 * written: JSON with json.h's strict parser, CSV with a strict RFC 4180 reader
 * (csvread.h) and, as a reader we did not write, python3's csv module. The
 * bytes of plain documents are the compact style dinamo always wrote; calls
 * out of place and failed writes are sticky errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"
#include "fileio.h"
#include "json.h"
#include "memout.h"
#include "tmpdir.h"
#include "writer.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void) { dn_test_tmpdir(dir, "writer"); }
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(writer, .init = setup, .fini = teardown);

/* The hostile names; the last ones hold every control character. */
static const char *hostile[] = {
    "calo/\"e\\nergy",       /* quote and a real backslash-n */
    "muon/a,b",              /* comma */
    "trk/line\nbreak",       /* LF */
    "trk/cr\rlf\r\n",        /* CR and CRLF */
    "\"",                    /* a lone quote */
    "\\",                    /* a lone backslash */
    "\"\"quoted,\"twice\"",  /* doubled quotes and a comma */
    "calo/énergie/日本/😀", /* two-, three- and four-byte UTF-8 */
    "tab\there",
    " leading and trailing ",
    "plain/key",
    "",
    NULL, NULL, /* every control character, filled in below */
};
#define N_HOSTILE ((int)(sizeof hostile / sizeof *hostile))

static char ctl1[40], ctl2[40];

static void fill_controls(void)
{
    for (int c = 1; c < 32; c++)
        ctl1[c - 1] = (char)c;
    ctl1[31] = '\0';
    snprintf(ctl2, sizeof ctl2, "del\x7f,esc\x1b[0m");
    hostile[N_HOSTILE - 2] = ctl1;
    hostile[N_HOSTILE - 1] = ctl2;
}

/* ---- JSON ------------------------------------------------------------------ */

static void write_hostile_json(FILE *f, void *arg)
{
    (void)arg;
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    dn_jw_key(&w, "keys");
    dn_jw_object(&w);
    for (int i = 0; i < N_HOSTILE; i++) {
        char other[16];
        snprintf(other, sizeof other, "#%d", i);
        dn_jw_key(&w, hostile[i][0] ? hostile[i] : other); /* keys are unique */
        dn_jw_object(&w);
        dn_jw_key(&w, "name");
        dn_jw_string(&w, hostile[i]);
        dn_jw_key(&w, "index");
        dn_jw_int(&w, i);
        dn_jw_end(&w);
    }
    dn_jw_end(&w);
    dn_jw_key(&w, "all");
    dn_jw_array(&w);
    for (int i = 0; i < N_HOSTILE; i++)
        dn_jw_string(&w, hostile[i]);
    dn_jw_end(&w);
    dn_jw_key(&w, "numbers");
    dn_jw_array(&w);
    dn_jw_number(&w, 0.1);
    dn_jw_number(&w, -1e300);
    dn_jw_number(&w, NAN);
    dn_jw_number(&w, INFINITY);
    dn_jw_fixed(&w, 2.0 / 3.0, 3);
    dn_jw_fixed(&w, NAN, 3);
    dn_jw_int(&w, -9007199254740993LL);
    dn_jw_bool(&w, 1);
    dn_jw_null(&w);
    dn_jw_string(&w, NULL);
    dn_jw_end(&w);
    dn_jw_end(&w);
    cr_assert_eq(dn_jw_finish(&w), 0);
}

Test(writer, json_with_hostile_names_parses_back_to_them)
{
    fill_controls();
    size_t len;
    char *text = dn_test_capture(write_hostile_json, NULL, &len);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(text, len, &doc, &err), 0, "%s\n%s", err.msg, text);
    const dn_json_value_t *root = dn_json_root(doc), *keys = dn_json_get(root, "keys");
    cr_assert_eq(dn_json_object_len(keys), (size_t)N_HOSTILE);
    const dn_json_value_t *all = dn_json_get(root, "all");
    for (int i = 0; i < N_HOSTILE; i++) {
        const char *k = dn_json_object_key_at(keys, (size_t)i);
        const dn_json_value_t *v = dn_json_object_value_at(keys, (size_t)i);
        if (hostile[i][0])
            cr_assert_str_eq(k, hostile[i], "key %d", i);
        cr_assert_str_eq(dn_json_string(dn_json_get(v, "name")), hostile[i], "name %d", i);
        cr_assert_eq(dn_json_number(dn_json_get(v, "index")), i);
        cr_assert_str_eq(dn_json_string(dn_json_array_at(all, (size_t)i)), hostile[i]);
    }
    const dn_json_value_t *num = dn_json_get(root, "numbers");
    cr_assert_eq(dn_json_array_len(num), 10);
    cr_assert_eq(dn_json_number(dn_json_array_at(num, 0)), 0.1);
    cr_assert_eq(dn_json_number(dn_json_array_at(num, 1)), -1e300);
    cr_assert_eq(dn_json_type(dn_json_array_at(num, 2)), DN_JSON_NULL, "NaN is null");
    cr_assert_eq(dn_json_type(dn_json_array_at(num, 3)), DN_JSON_NULL, "infinity is null");
    cr_assert_eq(dn_json_number(dn_json_array_at(num, 4)), 0.667);
    cr_assert_eq(dn_json_type(dn_json_array_at(num, 5)), DN_JSON_NULL);
    cr_assert_eq(dn_json_number(dn_json_array_at(num, 6)), -9007199254740993.0);
    cr_assert_eq(dn_json_bool(dn_json_array_at(num, 7)), 1);
    cr_assert_eq(dn_json_type(dn_json_array_at(num, 8)), DN_JSON_NULL);
    cr_assert_eq(dn_json_type(dn_json_array_at(num, 9)), DN_JSON_NULL);
    cr_assert_eq(text[len - 1], '\n');
    dn_json_destroy(&doc);
    free(text);
}

static void write_small_json(FILE *f, void *arg)
{
    (void)arg;
    dn_jw_t w;
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    dn_jw_key(&w, "a");
    dn_jw_int(&w, 1);
    dn_jw_key(&w, "b");
    dn_jw_array(&w);
    dn_jw_number(&w, 1.5);
    dn_jw_string(&w, "x\"y");
    dn_jw_array(&w);
    dn_jw_end(&w);
    dn_jw_end(&w);
    dn_jw_key(&w, "c");
    dn_jw_object(&w);
    dn_jw_end(&w);
    dn_jw_key(&w, "d");
    dn_jw_fixed(&w, 0.1234, 3);
    dn_jw_end(&w);
    cr_assert_eq(dn_jw_finish(&w), 0);
}

Test(writer, json_bytes_are_the_compact_style)
{
    size_t len;
    char *text = dn_test_capture(write_small_json, NULL, &len);
    cr_assert_str_eq(text, "{\"a\": 1, \"b\": [1.5, \"x\\\"y\", []], \"c\": {}, \"d\": 0.123}\n");
    free(text);
}

Test(writer, json_calls_out_of_place_are_sticky_errors)
{
    FILE *f = fopen("/dev/null", "w");
    cr_assert_not_null(f);
    dn_jw_t w;
    /* a value in an object without its key */
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    cr_assert_eq(dn_jw_int(&w, 1), DN_EINVAL);
    cr_assert_eq(dn_jw_key(&w, "late"), DN_EINVAL, "the error is sticky");
    cr_assert_eq(dn_jw_finish(&w), DN_EINVAL);
    /* a key in an array, two keys in a row, a NULL key */
    dn_jw_init(&w, f);
    dn_jw_array(&w);
    cr_assert_eq(dn_jw_key(&w, "k"), DN_EINVAL);
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    cr_assert_eq(dn_jw_key(&w, "k"), 0);
    cr_assert_eq(dn_jw_key(&w, "k2"), DN_EINVAL);
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    cr_assert_eq(dn_jw_key(&w, NULL), DN_EINVAL);
    /* closing with a key pending, closing nothing, two documents */
    dn_jw_init(&w, f);
    dn_jw_object(&w);
    dn_jw_key(&w, "k");
    cr_assert_eq(dn_jw_end(&w), DN_EINVAL);
    dn_jw_init(&w, f);
    cr_assert_eq(dn_jw_end(&w), DN_EINVAL);
    dn_jw_init(&w, f);
    cr_assert_eq(dn_jw_int(&w, 1), 0);
    cr_assert_eq(dn_jw_int(&w, 2), DN_EINVAL);
    /* unfinished, empty, too deep */
    dn_jw_init(&w, f);
    dn_jw_array(&w);
    cr_assert_eq(dn_jw_finish(&w), DN_EINVAL);
    dn_jw_init(&w, f);
    cr_assert_eq(dn_jw_finish(&w), DN_EINVAL);
    dn_jw_init(&w, f);
    for (int d = 0; d < DN_JW_MAX_DEPTH; d++)
        cr_assert_eq(dn_jw_array(&w), 0, "depth %d", d);
    cr_assert_eq(dn_jw_array(&w), DN_EINVAL);
    fclose(f);
}

Test(writer, a_failed_write_is_a_sticky_eio)
{
    FILE *f = fopen("/dev/null", "r"); /* not writable: every write fails */
    cr_assert_not_null(f);
    dn_jw_t w;
    dn_jw_init(&w, f);
    cr_assert_eq(dn_jw_object(&w), DN_EIO);
    cr_assert_eq(dn_jw_key(&w, "k"), DN_EIO);
    cr_assert_eq(dn_jw_finish(&w), DN_EIO);
    dn_csv_t c;
    dn_csv_init(&c, f);
    cr_assert_eq(dn_csv_field(&c, "a,b"), DN_EIO);
    cr_assert_eq(dn_csv_int(&c, 3), DN_EIO);
    cr_assert_eq(dn_csv_end_row(&c), DN_EIO);
    fclose(f);
}

/* ---- CSV ------------------------------------------------------------------- */

static void write_hostile_csv(FILE *f, void *arg)
{
    (void)arg;
    dn_csv_t w;
    dn_csv_init(&w, f);
    dn_csv_header(&w, "index,name,quoted,number,fixed");
    for (int i = 0; i < N_HOSTILE; i++) {
        dn_csv_int(&w, i);
        dn_csv_field(&w, hostile[i]);
        dn_csv_quoted(&w, hostile[i]);
        dn_csv_double(&w, i == 3 ? NAN : 0.1 * i);
        dn_csv_fixed(&w, 1.0 / (i + 1), 3);
        cr_assert_eq(dn_csv_end_row(&w), 0);
    }
}

Test(writer, csv_with_hostile_names_parses_back_to_them)
{
    fill_controls();
    size_t len;
    char *text = dn_test_capture(write_hostile_csv, NULL, &len);
    csv_doc_t doc;
    cr_assert_eq(csv_parse(text, len, &doc), 0, "%s\n%s", doc.error, text);
    cr_assert_eq(doc.n_rows, N_HOSTILE + 1);
    const char *head[] = {"index", "name", "quoted", "number", "fixed"};
    cr_assert_eq(doc.rows[0].n, 5);
    for (int c = 0; c < 5; c++)
        cr_assert_str_eq(doc.rows[0].fields[c], head[c]);
    for (int i = 0; i < N_HOSTILE; i++) {
        const csv_row_t *r = &doc.rows[i + 1];
        cr_assert_eq(r->n, 5, "row %d has %d fields (a name shifted the columns)", i, r->n);
        cr_assert_eq(atoi(r->fields[0]), i);
        cr_assert_str_eq(r->fields[1], hostile[i], "row %d", i);
        cr_assert_str_eq(r->fields[2], hostile[i], "row %d", i);
        if (i == 3)
            cr_assert_str_eq(r->fields[3], "", "NaN is an empty field");
        else
            cr_assert_eq(strtod(r->fields[3], NULL), 0.1 * i, "%%.17g reads back exactly");
    }
    csv_free(&doc);
    free(text);
}

static void write_small_csv(FILE *f, void *arg)
{
    (void)arg;
    dn_csv_t w;
    dn_csv_init(&w, f);
    dn_csv_header(&w, "run,label,key");
    dn_csv_int(&w, -3);
    dn_csv_empty(&w);
    dn_csv_field(&w, "calo/e");
    dn_csv_end_row(&w);
    dn_csv_uint(&w, 18446744073709551615ULL);
    dn_csv_double(&w, INFINITY);
    dn_csv_field(&w, "a \"b\", c");
    dn_csv_end_row(&w);
    dn_csv_field(&w, NULL);
    dn_csv_quoted(&w, "alice");
    dn_csv_quoted(&w, NULL);
    dn_csv_end_row(&w);
}

Test(writer, csv_bytes_quote_only_what_needs_it)
{
    size_t len;
    char *text = dn_test_capture(write_small_csv, NULL, &len);
    cr_assert_str_eq(text, "run,label,key\n"
                           "-3,,calo/e\n"
                           "18446744073709551615,inf,\"a \"\"b\"\", c\"\n"
                           ",\"alice\",\"\"\n");
    free(text);
}

/* python3's csv module reads the file and prints its rows as JSON, which our
 * parser reads: a reader and an encoder we did not write. */
Test(writer, python_csv_reads_back_the_hostile_names)
{
    fill_controls();
    char path[128], out[160];
    snprintf(path, sizeof path, "%s/hostile.csv", dir);
    snprintf(out, sizeof out, "%s/rows.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    write_hostile_csv(f, NULL);
    cr_assert_eq(fclose(f), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import csv, json, sys; "
             "print(json.dumps(list(csv.reader(open(sys.argv[1], newline=\"\", "
             "encoding=\"utf-8\"), strict=True))))' %s > %s", path, out);
    cr_assert_eq(system(cmd), 0, "python3 could not read %s", path);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse_file(out, &doc, &err), 0, "%s", err.msg);
    const dn_json_value_t *rows = dn_json_root(doc);
    cr_assert_eq(dn_json_array_len(rows), (size_t)N_HOSTILE + 1);
    for (int i = 0; i < N_HOSTILE; i++) {
        const dn_json_value_t *r = dn_json_array_at(rows, (size_t)i + 1);
        cr_assert_eq(dn_json_array_len(r), 5, "row %d: python found %zu fields", i,
                     dn_json_array_len(r));
        cr_assert_str_eq(dn_json_string(dn_json_array_at(r, 1)), hostile[i], "row %d", i);
        cr_assert_str_eq(dn_json_string(dn_json_array_at(r, 2)), hostile[i], "row %d", i);
    }
    dn_json_destroy(&doc);
}
