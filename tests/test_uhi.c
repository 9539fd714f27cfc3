/* test_uhi.c: UHI JSON run files: the layouts `hist`/`boost-histogram` write
 * (regular and variable axes, flow bins, int/double/weighted storage, the older
 * "data" layout), the current schema's sparse storage, storage without values
 * and 2-D histograms (nested, flat), the run-number/subsystem conventions, and
 * every histogram that must be left out with a message naming file and
 * histogram while the rest of the run is kept. The 2-D order and the sparse
 * layout are checked against numpy (tests/fixtures/uhi, written by
 * tools/make_uhi_fixtures.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "uhi.h"

static dn_runin_t *parse_ok(const char *name, const char *text)
{
    dn_runin_t *r = NULL;
    dn_err_t err = {0};
    int rc = dn_uhi_parse(text, strlen(text), name, &r, &err);
    cr_assert_eq(rc, 0, "%s: %s", name, err.msg);
    cr_assert_not_null(r);
    return r;
}

static const char *AX_REG_FLOW =
    "\"axes\": [{\"type\": \"regular\", \"lower\": -1.0, \"upper\": 1.0, \"bins\": 4, "
    "\"underflow\": true, \"overflow\": true, \"circular\": false}]";

Test(uhi, regular_axis_flow_bins_dropped_and_metadata_conventions)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"calo/energy\": {\"uhi_schema\": 1, %s, \"storage\": {\"type\": \"double\", "
             "\"values\": [100, 1, 2.5, 3, 4, 200]}, \"metadata\": {\"run\": 4711, \"time\": "
             "1700000000.5, \"label\": \"bad\"}, \"writer_info\": {\"boost-histogram\": "
             "{\"version\": \"1.5\"}}}}",
             AX_REG_FLOW);
    dn_runin_t *r = parse_ok("whatever_7.json", text);
    cr_assert_eq(r->run_number, 4711, "metadata run wins over the file name");
    cr_assert_eq(r->time, 1700000000.5);
    cr_assert_eq(r->label, 1);
    cr_assert_eq(r->n_hist, 1);
    cr_assert_eq(r->n_problems, 0);
    const dn_histin_t *h = dn_runin_find(r, "calo/energy");
    cr_assert_not_null(h);
    cr_assert_str_eq(h->subsystem, "calo", "subsystem from the key prefix");
    cr_assert_eq(h->n_bins, 4);
    const double want[4] = {1, 2.5, 3, 4}, edges[5] = {-1, -0.5, 0, 0.5, 1};
    for (int j = 0; j < 4; j++)
        cr_assert_eq(h->counts[j], want[j], "bin %d: %g", j, h->counts[j]);
    for (int j = 0; j < 5; j++)
        cr_assert_eq(h->edges[j], edges[j], "edge %d: %g", j, h->edges[j]);
    cr_assert_null(h->variances);
    dn_runin_destroy(&r);
    cr_assert_null(r);
}

Test(uhi, variable_axis_weighted_storage_and_file_name_run)
{
    const char *text =
        "{\"h\": {\"axes\": [{\"type\": \"variable\", \"edges\": [0, 1, 3, 7], \"underflow\": "
        "false, \"overflow\": true}], \"storage\": {\"type\": \"weighted\", \"values\": [5, 6, "
        "7, 99], \"variances\": [5.5, 6.5, 7.5, 1]}, \"metadata\": {\"subsystem\": \"muon\"}},"
        " \"i\": {\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 3, \"bins\": 3, "
        "\"underflow\": true, \"overflow\": true}], \"storage\": {\"type\": \"int\", "
        "\"values\": [1, 2, 3]}}}";
    dn_runin_t *r = parse_ok("feed/run_000123.json", text);
    cr_assert_eq(r->run_number, 123);
    cr_assert(isnan(r->time));
    cr_assert_eq(r->label, -1);
    cr_assert_eq(r->n_hist, 2, "problems: %s", r->n_problems ? r->problems[0] : "");
    const dn_histin_t *h = dn_runin_find(r, "h");
    cr_assert_str_eq(h->subsystem, "muon");
    cr_assert_eq(h->n_bins, 3);
    cr_assert_eq(h->counts[2], 7);
    cr_assert_eq(h->variances[0], 5.5);
    cr_assert_eq(h->variances[2], 7.5);
    cr_assert_eq(h->edges[3], 7);
    /* values without the flow bins the axis declares are taken as the bins */
    const dn_histin_t *i = dn_runin_find(r, "i");
    cr_assert_eq(i->n_bins, 3);
    cr_assert_eq(i->counts[0], 1);
    cr_assert_str_eq(i->subsystem, "");
    dn_runin_destroy(&r);
}

Test(uhi, draft_layout_with_data_object)
{
    const char *text = "{\"h\": {\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 2, "
                       "\"bins\": 2, \"underflow\": false, \"overflow\": false}], \"storage\": "
                       "{\"type\": \"weighted\", \"data\": {\"values\": [1, 2], \"variances\": "
                       "[3, 4]}}}}";
    dn_runin_t *r = parse_ok("r9.json", text);
    cr_assert_eq(r->n_hist, 1);
    cr_assert_eq(r->hist[0].variances[1], 4);
    dn_runin_destroy(&r);
}

/* Each broken histogram sits next to a good one; the good one must survive and
 * the message must name the file, the histogram and the reason. */
Test(uhi, broken_histograms_are_left_out_with_a_reason)
{
    static const struct {
        const char *hist, *reason;
    } cases[] = {
        {"{\"axes\": [{\"type\": \"category_str\", \"categories\": [\"a\"], \"flow\": false}], "
         "\"storage\": {\"type\": \"int\", \"values\": [1]}}",
         "unknown axis type \"category_str\""},
        {"{\"axes\": [{\"type\": \"boolean\"}], \"storage\": {\"type\": \"int\", \"values\": [1, "
         "2]}}",
         "unknown axis type \"boolean\""},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 1}, "
         "{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 1}, {\"type\": "
         "\"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 1}], \"storage\": {\"type\": "
         "\"int\", \"values\": [[[1]]]}}",
         "3 axes: only one- and two-dimensional histograms are monitored"},
        {"{\"axes\": [], \"storage\": {\"type\": \"int\", \"values\": [1]}}", "no axes"},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 2}], "
         "\"storage\": {\"type\": \"mean\", \"counts\": [1, 1], \"values\": [1, 1], "
         "\"variances\": [1, 1]}}",
         "unknown storage type \"mean\""},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 3, "
         "\"underflow\": true, \"overflow\": true}], \"storage\": {\"type\": \"double\", "
         "\"values\": [1, 2, 3, 4]}}",
         "4 values for 3 bins (expected 3, or 5 with the flow bins)"},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 2}], "
         "\"storage\": {\"type\": \"double\", \"values\": [1, NaN]}}",
         "bin 1: non-finite count"},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 2}], "
         "\"storage\": {\"type\": \"double\", \"values\": [1, Infinity]}}",
         "bin 1: non-finite count"},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 2}], "
         "\"storage\": {\"type\": \"int\", \"values\": [-3, 1]}}",
         "bin 0: negative count -3"},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 2}], "
         "\"storage\": {\"type\": \"weighted\", \"values\": [1, 2], \"variances\": [1, -1]}}",
         "bin 1: negative variance -1"},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 2}], "
         "\"storage\": {\"type\": \"weighted\", \"values\": [1, 2]}}",
         "missing key \"variances\""},
        {"{\"axes\": [{\"type\": \"variable\", \"edges\": [0, 2, 1]}], \"storage\": {\"type\": "
         "\"int\", \"values\": [1, 2]}}",
         "edge 2 (1) is not finite and above the one before"},
        {"{\"axes\": [{\"type\": \"variable\", \"edges\": \"edges.bin\"}], \"storage\": "
         "{\"type\": \"int\", \"values\": [1]}}",
         "by reference"},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 1, \"upper\": 0, \"bins\": 2}], "
         "\"storage\": {\"type\": \"int\", \"values\": [1, 2]}}",
         "lower < upper"},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 2.5}], "
         "\"storage\": {\"type\": \"int\", \"values\": [1, 2]}}",
         "not an integer"},
        {"[1, 2, 3]", "expected an object, found JSON array"},
        {"{\"storage\": {\"type\": \"int\", \"values\": [1]}}", "\"axes\": expected an array"},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 1}]}",
         "\"storage\": expected an object"},
    };
    const char *good = "{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, "
                       "\"bins\": 2}], \"storage\": {\"type\": \"int\", \"values\": [3, 4]}}";
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[2048];
        snprintf(text, sizeof text, "{\"good\": %s, \"sub/broken\": %s}", good, cases[c].hist);
        dn_runin_t *r = parse_ok("run_5.json", text);
        cr_assert_eq(r->n_hist, 1, "case %zu: the good histogram must be kept", c);
        cr_assert_str_eq(r->hist[0].key, "good");
        cr_assert_eq(r->n_problems, 1, "case %zu: one problem expected", c);
        cr_log_info("case %zu: %s", c, r->problems[0]);
        cr_assert(strstr(r->problems[0], "run_5.json: histogram \"sub/broken\": "),
                  "case %zu: message must name file and histogram: %s", c, r->problems[0]);
        cr_assert(strstr(r->problems[0], cases[c].reason), "case %zu: want \"%s\" in: %s", c,
                  cases[c].reason, r->problems[0]);
        dn_runin_destroy(&r);
    }
}

Test(uhi, file_level_errors_name_the_file)
{
    static const struct {
        const char *name, *text, *reason;
    } cases[] = {
        {"run_1.json", "{\"h\": {\"axes\": [", "run_1.json: line 1, column 17: unexpected end"},
        {"run_2.json", "", "run_2.json: line 1, column 1: unexpected end of input"},
        {"run_3.json", "[]", "run_3.json: expected an object mapping histogram names"},
        {"nodigits.json", "{}", "nodigits.json: no run number"},
        {"run_4.json",
         "{\"a\": {\"metadata\": {\"run\": 1}}, \"b\": {\"metadata\": {\"run\": 2}}}",
         "run_4.json: histograms \"a\" and \"b\" disagree on metadata \"run\""},
        {"run_6.json", "{\"a\": {\"metadata\": {\"label\": \"maybe\"}}}",
         "metadata \"label\" is not \"good\" or \"bad\""},
        {"run_7.json", "{\"a\": {\"metadata\": {\"run\": 1.5}}}", "metadata \"run\" is not an "
                                                                  "integer"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dn_runin_t *r = (dn_runin_t *)1;
        dn_err_t err = {0};
        int rc = dn_uhi_parse(cases[c].text, strlen(cases[c].text), cases[c].name, &r, &err);
        cr_assert_eq(rc, DN_EFORMAT, "case %zu: rc %d", c, rc);
        cr_assert_null(r);
        cr_assert(strstr(err.msg, cases[c].reason), "case %zu: want \"%s\" in: %s", c,
                  cases[c].reason, err.msg);
    }
    dn_runin_t *r = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_uhi_read_file("/nonexistent/run_1.json", &r, &err), DN_EIO);
    cr_assert(strstr(err.msg, "/nonexistent/run_1.json"), "%s", err.msg);
}

Test(uhi, run_number_from_file_name)
{
    static const struct {
        const char *path;
        int rc;
        int64_t run;
    } cases[] = {
        {"run_000123.json", 0, 123},      {"/a/b7/2024-06-01_7.json", 0, 7},
        {"x/42", 0, 42},                  {"r12abc.json", 0, 12},
        {"dir/none.json", DN_ENOTFOUND, 0}, {"99999999999999999999.json", DN_ERANGE, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t run = -1;
        int rc = dn_run_number_from_name(cases[c].path, &run);
        cr_assert_eq(rc, cases[c].rc, "%s: rc %d", cases[c].path, rc);
        if (!rc)
            cr_assert_eq(run, cases[c].run, "%s: %lld", cases[c].path, (long long)run);
    }
}

/* ---- the current schema: sparse, no values, 2-D ------------------------------ */

static const dn_histin_t *must_find(const dn_runin_t *r, const char *key)
{
    const dn_histin_t *h = dn_runin_find(r, key);
    cr_assert_not_null(h, "histogram \"%s\" not read (%d problems; first: %s)", key,
                       r->n_problems, r->n_problems ? r->problems[0] : "");
    return h;
}

/* a and b hold the same histogram: binning, counts and variances bit for bit */
static void assert_same_hist(const dn_histin_t *a, const dn_histin_t *b)
{
    cr_assert_eq(a->n_bins, b->n_bins, "%s vs %s: %d vs %d bins", a->key, b->key, a->n_bins,
                 b->n_bins);
    cr_assert_eq(a->n_bins_y, b->n_bins_y, "%s vs %s: n_bins_y", a->key, b->key);
    cr_assert_eq(!a->variances, !b->variances, "%s vs %s: variances", a->key, b->key);
    for (int j = 0; j < a->n_bins; j++) {
        cr_assert_eq(a->counts[j], b->counts[j], "%s vs %s: bin %d: %g vs %g", a->key, b->key,
                     j, a->counts[j], b->counts[j]);
        if (a->variances)
            cr_assert_eq(a->variances[j], b->variances[j], "%s vs %s: variance %d: %g vs %g",
                         a->key, b->key, j, a->variances[j], b->variances[j]);
    }
    int nx = a->n_bins_y ? a->n_bins / a->n_bins_y : a->n_bins;
    for (int j = 0; j <= nx; j++)
        cr_assert_eq(a->edges[j], b->edges[j], "%s vs %s: edge %d", a->key, b->key, j);
    for (int j = 0; a->n_bins_y && j <= a->n_bins_y; j++)
        cr_assert_eq(a->edges_y[j], b->edges_y[j], "%s vs %s: y edge %d", a->key, b->key, j);
}

/* got[n] equals numpy's list `key` of `want` exactly; prints the worst bin */
static void assert_numbers(const char *hist, const char *what, const double *got, int n,
                           const dn_json_value_t *want)
{
    double *w = NULL;
    size_t nw = 0;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_get_numbers(want, what, &w, &nw, &err), 0, "%s: %s", hist, err.msg);
    cr_assert_eq((size_t)n, nw, "%s: %s: %d read, numpy has %zu", hist, what, n, nw);
    double worst = 0;
    int at = -1;
    for (int j = 0; j < n; j++)
        if (fabs(got[j] - w[j]) > worst || (got[j] != w[j] && at < 0)) {
            worst = fabs(got[j] - w[j]);
            at = j;
        }
    cr_assert_eq(at, -1, "%s: %s: worst difference %g at flat index %d (read %g, numpy %g)",
                 hist, what, worst, at, at >= 0 ? got[at] : 0, at >= 0 ? w[at] : 0);
    free(w);
}

/* Every histogram of the fixture run against numpy's ravel (C order) of its
 * monitored bins: nested and flat 2-D, with and without flow bins, sparse
 * (uhi.io.to_sparse's layout, entries shuffled), weighted, 1-D, no values. */
Test(uhi, every_form_equals_numpy)
{
    dn_runin_t *r = NULL;
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_uhi_read_file("tests/fixtures/uhi/run_000042.json", &r, &err), 0, "%s "
                 "(run from the repository root)", err.msg);
    cr_assert_eq(dn_json_parse_file("tests/fixtures/uhi/expected.json", &doc, &err), 0, "%s",
                 err.msg);
    const dn_json_value_t *root = dn_json_root(doc);
    cr_assert_eq(r->n_problems, 0, "%s", r->n_problems ? r->problems[0] : "");
    cr_assert_eq((size_t)r->n_hist, dn_json_object_len(root), "%d histograms read", r->n_hist);
    cr_assert_eq(r->run_number, 42);
    for (size_t i = 0; i < dn_json_object_len(root); i++) {
        const char *key = dn_json_object_key_at(root, i);
        const dn_json_value_t *want = dn_json_object_value_at(root, i);
        const dn_histin_t *h = must_find(r, key);
        cr_assert_eq(h->n_bins_y, (int)dn_json_number(dn_json_get(want, "n_bins_y")),
                     "%s: n_bins_y %d", key, h->n_bins_y);
        assert_numbers(key, "counts", h->counts, h->n_bins, want);
        cr_assert_eq(!h->variances, !dn_json_get(want, "variances"), "%s: variances", key);
        if (h->variances)
            assert_numbers(key, "variances", h->variances, h->n_bins, want);
        const dn_json_value_t *edges = dn_json_get(want, "edges");
        cr_assert_eq(dn_json_array_len(edges), h->n_bins_y ? 2u : 1u, "%s: axes", key);
        for (size_t a = 0; a < dn_json_array_len(edges); a++) {
            const dn_json_value_t *e = dn_json_array_at(edges, a);
            const double *got = a ? h->edges_y : h->edges;
            cr_assert_not_null(got, "%s: edges of axis %zu", key, a);
            int ny = h->n_bins_y ? h->n_bins_y : 1;
            cr_assert_eq(dn_json_array_len(e), (size_t)(a ? h->n_bins_y : h->n_bins / ny) + 1,
                         "%s: axis %zu: edge count", key, a);
            for (size_t j = 0; j < dn_json_array_len(e); j++)
                cr_assert_eq(got[j], dn_json_number(dn_json_array_at(e, j)),
                             "%s: axis %zu: edge %zu: %g", key, a, j, got[j]);
        }
    }
    /* numpy's C order is x outer: the fixture has nx 5, ny 3 */
    const dn_histin_t *n = must_find(r, "det/nested");
    cr_assert_eq(n->n_bins, 15);
    cr_assert_eq(n->n_bins_y, 3);
    dn_json_destroy(&doc);
    dn_runin_destroy(&r);
}

/* A sparse histogram equals the same histogram dense, 1-D and 2-D, counts and
 * weighted; and so do the 2-D flat and the nested-without-flow forms. */
Test(uhi, sparse_equals_dense)
{
    dn_runin_t *r = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_uhi_read_file("tests/fixtures/uhi/run_000042.json", &r, &err), 0, "%s",
                 err.msg);
    static const char *const pairs[][2] = {
        {"det/sparse", "det/nested"},
        {"det/weighted_sparse", "det/weighted_nested"},
        {"trk/sparse", "trk/dense"},
        {"det/flat", "det/nested"},
        {"det/nested_no_flow", "det/nested"},
    };
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
        assert_same_hist(must_find(r, pairs[p][0]), must_find(r, pairs[p][1]));
    dn_runin_destroy(&r);

    /* the schema's own example, by hand: regular axis of 3 bins with flow bins,
     * index [[1, 2]] (0 is the underflow): the first two bins */
    r = parse_ok("run_1.json",
                 "{\"s\": {\"uhi_schema\": 1, \"axes\": [{\"type\": \"regular\", \"lower\": 0, "
                 "\"upper\": 5, \"bins\": 3, \"underflow\": true, \"overflow\": true, "
                 "\"circular\": false}], \"storage\": {\"type\": \"int\", \"index\": [[1, 2]], "
                 "\"values\": [3, 5]}}, \"d\": {\"uhi_schema\": 1, \"axes\": [{\"type\": "
                 "\"regular\", \"lower\": 0, \"upper\": 5, \"bins\": 3, \"underflow\": true, "
                 "\"overflow\": true, \"circular\": false}], \"storage\": {\"type\": \"int\", "
                 "\"values\": [0, 3, 5, 0, 0]}},"
                 /* 2-D weighted, 2 x 2 bins, y underflow only; entries in flow bins */
                 "\"s2\": {\"axes\": [{\"type\": \"variable\", \"edges\": [0, 1, 2], "
                 "\"underflow\": false, \"overflow\": true}, {\"type\": \"regular\", \"lower\": "
                 "0, \"upper\": 2, \"bins\": 2, \"underflow\": true, \"overflow\": false}], "
                 "\"storage\": {\"type\": \"weighted\", \"index\": [[1, 2, 0, 1], [2, 1, 0, "
                 "1]], \"values\": [4, 99, 7, 2], \"variances\": [8, 99, 0.5, 3]}},"
                 "\"d2\": {\"axes\": [{\"type\": \"variable\", \"edges\": [0, 1, 2], "
                 "\"underflow\": false, \"overflow\": true}, {\"type\": \"regular\", \"lower\": "
                 "0, \"upper\": 2, \"bins\": 2, \"underflow\": true, \"overflow\": false}], "
                 "\"storage\": {\"type\": \"weighted\", \"values\": [[7, 0, 0], [0, 2, 4], [0, "
                 "99, 0]], \"variances\": [[0.5, 0, 0], [0, 3, 8], [0, 99, 0]]}}}");
    cr_assert_eq(r->n_problems, 0, "%s", r->n_problems ? r->problems[0] : "");
    const dn_histin_t *s = must_find(r, "s"), *s2 = must_find(r, "s2");
    cr_assert_eq(s->n_bins, 3);
    cr_assert(s->counts[0] == 3 && s->counts[1] == 5 && s->counts[2] == 0, "%g %g %g",
              s->counts[0], s->counts[1], s->counts[2]);
    assert_same_hist(s, must_find(r, "d"));
    /* (ix, iy) = (0, 0) was stored at [0][1]: 0; [1][2] -> (1, 1) = 4, [1][1] -> (1, 0) = 2 */
    const double want[4] = {0, 0, 2, 4}, wantv[4] = {0, 0, 3, 8};
    cr_assert_eq(s2->n_bins, 4);
    cr_assert_eq(s2->n_bins_y, 2);
    for (int j = 0; j < 4; j++)
        cr_assert(s2->counts[j] == want[j] && s2->variances[j] == wantv[j],
                  "bin %d: %g (%g), want %g (%g)", j, s2->counts[j], s2->variances[j], want[j],
                  wantv[j]);
    assert_same_hist(s2, must_find(r, "d2"));
    dn_runin_destroy(&r);

    /* a count or variance written -0 is kept as 0: the same bits as a bin a
     * sparse storage leaves out (fuzz_uhi's sparse round trip found -0) */
    r = parse_ok("run_2.json",
                 "{\"z\": {\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, "
                 "\"bins\": 2}], \"storage\": {\"type\": \"weighted\", \"values\": [-0, 1], "
                 "\"variances\": [-0.0, 1]}}, \"zs\": {\"axes\": [{\"type\": \"regular\", "
                 "\"lower\": 0, \"upper\": 1, \"bins\": 2}], \"storage\": {\"type\": "
                 "\"weighted\", \"index\": [[0, 1]], \"values\": [-0, 1], \"variances\": [-0, "
                 "1]}}}");
    for (int k = 0; k < 2; k++) {
        const dn_histin_t *z = must_find(r, k ? "zs" : "z");
        cr_assert(!signbit(z->counts[0]) && !signbit(z->variances[0]), "%s: -0 kept", z->key);
    }
    dn_runin_destroy(&r);
}

/* Storage with only its type: the binning of a histogram with no entries, kept
 * with every count zero (weighted: every variance zero, so the storage kind
 * still matches the other runs'). */
Test(uhi, storage_without_values_is_an_empty_histogram)
{
    dn_runin_t *r = parse_ok(
        "run_3.json",
        "{\"e\": {\"uhi_schema\": 1, \"axes\": [{\"type\": \"regular\", \"lower\": 0, "
        "\"upper\": 10, \"bins\": 5, \"underflow\": true, \"overflow\": true, \"circular\": "
        "false}], \"storage\": {\"type\": \"int\"}}, \"w\": {\"uhi_schema\": 1, \"axes\": "
        "[{\"type\": \"variable\", \"edges\": [0, 2.5, 5, 7.5, 10], \"underflow\": false, "
        "\"overflow\": false, \"circular\": false}, {\"type\": \"regular\", \"lower\": 0, "
        "\"upper\": 1, \"bins\": 2, \"underflow\": false, \"overflow\": false, \"circular\": "
        "false}], \"storage\": {\"type\": \"weighted\"}}, \"m\": {\"uhi_schema\": 1, \"axes\": "
        "[{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 2}], \"storage\": "
        "{\"type\": \"mean\"}}}");
    const dn_histin_t *e = must_find(r, "e"), *w = must_find(r, "w");
    cr_assert_eq(e->n_bins, 5);
    cr_assert_null(e->variances);
    for (int j = 0; j < 5; j++)
        cr_assert_eq(e->counts[j], 0, "bin %d: %g", j, e->counts[j]);
    cr_assert_eq(e->edges[5], 10);
    cr_assert_eq(w->n_bins, 8);
    cr_assert_eq(w->n_bins_y, 2);
    cr_assert_not_null(w->variances);
    for (int j = 0; j < 8; j++)
        cr_assert(w->counts[j] == 0 && w->variances[j] == 0, "bin %d: %g, %g", j,
                  w->counts[j], w->variances[j]);
    /* a profile stays left out, with or without values */
    cr_assert_eq(r->n_problems, 1);
    cr_assert(strstr(r->problems[0], "\"m\": unknown storage type \"mean\""), "%s",
              r->problems[0]);
    dn_runin_destroy(&r);
}

/* 2-D by hand: nested [ix][iy] is x outer; flow bins per axis; flat is C order. */
Test(uhi, two_axes_nested_and_flat)
{
    const char *ax = "\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 2, \"bins\": "
                     "2, \"underflow\": true, \"overflow\": false}, {\"type\": \"variable\", "
                     "\"edges\": [10, 20, 30, 40], \"underflow\": false, \"overflow\": true}]";
    char text[2048];
    snprintf(text, sizeof text,
             "{\"a\": {%s, \"storage\": {\"type\": \"double\", \"values\": [[1, 2, 3], [4, 5, "
             "6]]}},"
             /* x with its underflow, y without flow */
             " \"b\": {%s, \"storage\": {\"type\": \"double\", \"values\": [[9, 9, 9], [1, 2, "
             "3], [4, 5, 6]]}},"
             /* both with flow: 3 x 4 */
             " \"c\": {%s, \"storage\": {\"type\": \"double\", \"values\": [[9, 9, 9, 9], [1, "
             "2, 3, 9], [4, 5, 6, 9]]}},"
             /* flat C order, without and with the flow bins */
             " \"d\": {%s, \"storage\": {\"type\": \"double\", \"values\": [1, 2, 3, 4, 5, 6]}},"
             " \"e\": {%s, \"storage\": {\"type\": \"double\", \"values\": [9, 9, 9, 9, 1, 2, 3, "
             "9, 4, 5, 6, 9]}}}",
             ax, ax, ax, ax, ax);
    dn_runin_t *r = parse_ok("run_8.json", text);
    cr_assert_eq(r->n_problems, 0, "%s", r->n_problems ? r->problems[0] : "");
    const dn_histin_t *a = must_find(r, "a");
    cr_assert_eq(a->n_bins, 6);
    cr_assert_eq(a->n_bins_y, 3);
    for (int j = 0; j < 6; j++)
        cr_assert_eq(a->counts[j], j + 1, "bin %d (ix %d, iy %d): %g", j, j / 3, j % 3,
                     a->counts[j]);
    cr_assert(a->edges[0] == 0 && a->edges[2] == 2 && a->edges_y[3] == 40);
    for (const char *k = "bcde"; *k; k++) {
        char key[2] = {*k, 0};
        assert_same_hist(must_find(r, key), a);
    }
    dn_runin_destroy(&r);
}

/* Broken sparse and 2-D histograms beside a good one: left out, named, the
 * rest of the run kept. */
Test(uhi, bad_sparse_and_2d_histograms_are_left_out_with_a_reason)
{
#define REG3 "{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 3, \"underflow\": " \
             "true, \"overflow\": true}"
#define REG2 "{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 2}"
    static const struct {
        const char *hist, *reason;
    } cases[] = {
        /* 3 bins + 2 flow: stored bins 0..4 */
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"index\": [[1, 5]], "
         "\"values\": [1, 2]}}",
         "index entry 1: bin 5 of axis 0 is not an integer in [0, 5)"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"index\": [[-1]], "
         "\"values\": [1]}}",
         "index entry 0: bin -1 of axis 0"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"index\": [[1.5]], "
         "\"values\": [1]}}",
         "bin 1.5 of axis 0 is not an integer"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"index\": [[\"1\"]], "
         "\"values\": [1]}}",
         "bin a string of axis 0"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"index\": [[2, 3, 2]], "
         "\"values\": [1, 2, 3]}}",
         "index entry 2 names stored bin 2 a second time"},
        {"{\"axes\": [" REG3 ", " REG2 "], \"storage\": {\"type\": \"double\", \"index\": [[0, "
         "4, 0], [1, 1, 1]], \"values\": [1, 2, 3]}}",
         "index entry 2 names stored bin (0, 1) a second time"},
        {"{\"axes\": [" REG3 ", " REG2 "], \"storage\": {\"type\": \"double\", \"index\": [[0], "
         "[2]], \"values\": [1]}}",
         "index entry 0: bin 2 of axis 1 is not an integer in [0, 2) (2 bins)"},
        {"{\"axes\": [" REG3 ", " REG2 "], \"storage\": {\"type\": \"double\", \"index\": [[0, "
         "1]], \"values\": [1, 2]}}",
         "\"index\": expected 2 lists of bin numbers (one per axis), found an array of 1"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"index\": [1, 2], "
         "\"values\": [1, 2]}}",
         "\"index\": expected 1 list of bin numbers"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"index\": [[1, 2]], "
         "\"values\": [1]}}",
         "\"index\"[0]: expected a list of 1 bin numbers (one per value), found an array of 2"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"weighted\", \"index\": [[1, 2]], "
         "\"values\": [1, 2], \"variances\": [1]}}",
         "1 variances for 2 values"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"weighted\", \"index\": [[1, 2]], "
         "\"values\": [1, 2]}}",
         "missing key \"variances\""},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"index\": [[1]]}}",
         "missing key \"values\""},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"index\": \"index.npy\", "
         "\"values\": \"values.npy\"}}",
         "\"index\" given by reference (\"index.npy\") is not supported"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"int\", \"values\": \"v.npy\"}}",
         "\"values\" given by reference (\"v.npy\")"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"double\", \"index\": [[1, 2]], "
         "\"values\": [1, -2]}}",
         "bin 1: negative count -2"},
        {"{\"axes\": [" REG3 ", " REG2 "], \"storage\": {\"type\": \"double\", \"index\": [[3], "
         "[1]], \"values\": [NaN]}}",
         "bin (2, 1): non-finite count"},
        {"{\"axes\": [" REG3 "], \"storage\": {\"type\": \"double\", \"index\": [[1]], "
         "\"values\": [null]}}",
         "entry 0: expected numbers, found value null"},
        /* 2-D dense */
        {"{\"axes\": [" REG3 ", " REG2 "], \"storage\": {\"type\": \"double\", \"values\": [[1, "
         "2], [3, 4]]}}",
         "2 lists of values for 3 bins of x (expected 3, or 5 with the flow bins)"},
        {"{\"axes\": [" REG2 ", " REG3 "], \"storage\": {\"type\": \"double\", \"values\": [[1, "
         "2, 3, 4], [3, 4, 5, 6]]}}",
         "values[0] holds 4 numbers for 3 bins of y (expected 3, or 5 with the flow bins)"},
        {"{\"axes\": [" REG2 ", " REG2 "], \"storage\": {\"type\": \"double\", \"values\": [[1, "
         "2], [3]]}}",
         "values[1]: expected a list of 2 numbers like values[0], found an array of 1"},
        {"{\"axes\": [" REG2 ", " REG2 "], \"storage\": {\"type\": \"double\", \"values\": [[1, "
         "2], 3]}}",
         "values[1]: expected a list of 2 numbers like values[0], found a number"},
        {"{\"axes\": [" REG2 ", " REG2 "], \"storage\": {\"type\": \"double\", \"values\": [[1, "
         "\"2\"], [3, 4]]}}",
         "values[0][1]: expected a number, found a string"},
        {"{\"axes\": [" REG2 ", " REG2 "], \"storage\": {\"type\": \"double\", \"values\": [1, "
         "2, 3]}}",
         "3 values for 2 x 2 bins (nested lists [x][y]"},
        {"{\"axes\": [" REG2 ", " REG3 "], \"storage\": {\"type\": \"double\", \"values\": [[1, "
         "2, 3], [4, -5, 6]]}}",
         "bin (1, 1): negative count -5"},
        {"{\"axes\": [" REG2 ", {\"type\": \"category_int\", \"categories\": [1, 2], "
         "\"flow\": false}], \"storage\": {\"type\": \"int\", \"values\": [[1, 2], [3, 4]]}}",
         "axis 1 (y): unknown axis type \"category_int\""},
        {"{\"axes\": [{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 1001}, "
         "{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 1000}], \"storage\": "
         "{\"type\": \"int\"}}",
         "1001 x 1000 bins: more than 1000000"},
        {"{\"uhi_schema\": 2, \"axes\": [" REG2 "], \"storage\": {\"type\": \"int\", "
         "\"values\": [1, 2]}}",
         "\"uhi_schema\" 2: only schema 1 is read"},
    };
#undef REG3
#undef REG2
    const char *good = "{\"uhi_schema\": 1, \"axes\": [{\"type\": \"regular\", \"lower\": 0, "
                       "\"upper\": 1, \"bins\": 2}], \"storage\": {\"type\": \"int\", \"index\": "
                       "[[1]], \"values\": [4]}}";
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[2048];
        snprintf(text, sizeof text, "{\"good\": %s, \"sub/broken\": %s, \"after\": %s}", good,
                 cases[c].hist, good);
        dn_runin_t *r = parse_ok("run_6.json", text);
        cr_assert_eq(r->n_hist, 2, "case %zu: the good histograms must be kept (%s)", c,
                     r->n_problems ? r->problems[0] : "no problem");
        cr_assert(!strcmp(r->hist[0].key, "good") && !strcmp(r->hist[1].key, "after"));
        cr_assert(r->hist[1].counts[0] == 0 && r->hist[1].counts[1] == 4);
        cr_assert_eq(r->n_problems, 1, "case %zu: one problem expected", c);
        cr_log_info("case %zu: %s", c, r->problems[0]);
        cr_assert(strstr(r->problems[0], "run_6.json: histogram \"sub/broken\": "),
                  "case %zu: message must name file and histogram: %s", c, r->problems[0]);
        cr_assert(strstr(r->problems[0], cases[c].reason), "case %zu: want \"%s\" in: %s", c,
                  cases[c].reason, r->problems[0]);
        dn_runin_destroy(&r);
    }
}
