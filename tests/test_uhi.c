/* test_uhi.c: UHI JSON run files: the layouts `hist`/`boost-histogram` write
 * (regular and variable axes, flow bins, int/double/weighted storage, the older
 * "data" layout), the run-number/subsystem conventions, and every histogram
 * that must be left out with a message naming file and histogram while the rest
 * of the run is kept. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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
         "{\"type\": \"regular\", \"lower\": 0, \"upper\": 1, \"bins\": 1}], \"storage\": "
         "{\"type\": \"int\", \"values\": [[1]]}}",
         "2 axes"},
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
