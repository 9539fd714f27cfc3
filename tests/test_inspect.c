/* test_inspect.c: `dinamo inspect` as a user runs it, on every input kind: a
 * ROOT file in the CMS DQM layout (run, subsystem and key from the folders,
 * flow bins dropped, 2-D values nested [ix][iy], variances only when stored,
 * entries), a directory of ROOT files (runs from the names), --key, the
 * shared real files, a broken file among good ones (named on stderr, the
 * rest printed, exit 1), UHI runs (2-D nested like ROOT's, sparse, without
 * values), a dataset directory, a runs CSV and an .npz; JSON lines parse back to the numbers and strings written, text lines
 * carry the same fields. Runs $DINAMO_BUILD/dinamo (default build/dinamo). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "dataset.h"
#include "json.h"
#include "jsroot.h"
#include "fileio.h"
#include "rootdata.h"
#include "rootwrite.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];
static void setup(void)
{
    dn_test_tmpdir(dir, "inspect");
}
static void teardown(void)
{
    dn_test_rmdir(dir);
}
TestSuite(inspect, .init = setup, .fini = teardown);

typedef struct {
    int status;
    char *out, *err;
} run_t;

static char *slurp(const char *path)
{
    char *buf = NULL;
    size_t len;
    dn_err_t e = {0};
    cr_assert_eq(dn_read_file(path, &buf, &len, &e), 0, "%s", e.msg);
    return buf;
}

/* Runs `dinamo inspect ARGS`, capturing both streams. */
static run_t inspect(const char *args)
{
    const char *b = getenv("DINAMO_BUILD");
    char cmd[2048], of[128], ef[128];
    snprintf(of, sizeof of, "%s/out.txt", dir);
    snprintf(ef, sizeof ef, "%s/err.txt", dir);
    snprintf(cmd, sizeof cmd, "%s/dinamo inspect %s >%s 2>%s", b ? b : "build", args, of, ef);
    int st = system(cmd);
    run_t r = {.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1, .out = slurp(of),
               .err = slurp(ef)};
    return r;
}

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

/* Line i (from 0) of text, parsed as JSON. */
static dn_json_t *json_line(const char *text, int i)
{
    const char *p = text;
    for (int k = 0; k < i && p; k++)
        p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    cr_assert(p && *p, "no line %d in:\n%s", i, text);
    const char *end = strchr(p, '\n');
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(p, end ? (size_t)(end - p) : strlen(p), &doc, &err), 0,
                 "line %d: %s", i, err.msg);
    return doc;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

static double num_at(const dn_json_value_t *v, const char *key, int i, int j)
{
    const dn_json_value_t *a = dn_json_array_at(dn_json_get(v, key), (size_t)i);
    return j < 0 ? dn_json_number(a) : dn_json_number(dn_json_array_at(a, (size_t)j));
}

/* A DQM-like file of run 123: a 1-D with variances and a 2-D without. */
static void write_dqm(const char *path)
{
    double xe[] = {0, 1, 2, 4}, ye[] = {-1, 0, 1};
    dn_root_hist_t *h1 = dn_root_hist_new(1, "energy", "E", 3, xe, 0, NULL, 1);
    dn_root_hist_t *h2 = dn_root_hist_new(2, "occupancy", "occ", 3, xe, 2, ye, 0);
    for (int i = 0; i < h1->n_cells; i++) {
        h1->values[i] = 10 + i;     /* flow bins 10 and 14 */
        h1->variances[i] = 0.5 + i;
    }
    for (int iy = 0; iy < 4; iy++)
        for (int ix = 0; ix < 5; ix++)
            h2->values[5 * iy + ix] = 10 * ix + iy; /* bin (ix, iy) holds 10 ix + iy */
    h1->entries = 55;
    h2->entries = 7;
    dn_root_writer_t *w = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_writer_open(path, NULL, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_writer_add(w, "DQMData/Run 123/Calo/Run summary", h1, &err), 0);
    cr_assert_eq(dn_root_writer_add(w, "DQMData/Run 123/Calo/Run summary/maps", h2, &err), 0);
    cr_assert_eq(dn_root_writer_close(&w, &err), 0, "%s", err.msg);
    dn_root_hist_destroy(&h1);
    dn_root_hist_destroy(&h2);
}

Test(inspect, a_dqm_root_file_in_json)
{
    char path[256], args[300];
    snprintf(path, sizeof path, "%s/DQM_V0001_R000123__Global.root", dir);
    write_dqm(path);
    snprintf(args, sizeof args, "--json '%s'", path);
    run_t r = inspect(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 2, "%s", r.out);
    dn_json_t *d = json_line(r.out, 0);
    const dn_json_value_t *l = dn_json_root(d);
    cr_assert_str_eq(dn_json_string(dn_json_get(l, "file")), path);
    cr_assert_str_eq(dn_json_string(dn_json_get(l, "key")), "Calo/energy");
    cr_assert_str_eq(dn_json_string(dn_json_get(l, "subsystem")), "Calo");
    cr_assert_eq(dn_json_number(dn_json_get(l, "run")), 123);
    cr_assert_str_eq(dn_json_string(dn_json_get(l, "class")), "TH1D");
    cr_assert_eq(dn_json_array_len(dn_json_get(l, "edges")), 1);
    cr_assert_eq(num_at(l, "edges", 0, 3), 4);
    cr_assert_eq(dn_json_array_len(dn_json_get(l, "values")), 3, "flow bins dropped");
    cr_assert_eq(num_at(l, "values", 0, -1), 11);
    cr_assert_eq(num_at(l, "values", 2, -1), 13);
    cr_assert_eq(num_at(l, "variances", 1, -1), 2.5);
    cr_assert_eq(dn_json_number(dn_json_get(l, "entries")), 55);
    dn_json_destroy(&d);
    d = json_line(r.out, 1);
    l = dn_json_root(d);
    cr_assert_str_eq(dn_json_string(dn_json_get(l, "key")), "Calo/maps/occupancy");
    cr_assert_eq(dn_json_array_len(dn_json_get(l, "edges")), 2);
    cr_assert_eq(dn_json_array_len(dn_json_get(l, "values")), 3, "3 x lists");
    for (int ix = 1; ix <= 3; ix++)
        for (int iy = 1; iy <= 2; iy++)
            cr_assert_eq(num_at(l, "values", ix - 1, iy - 1), 10 * ix + iy, "(%d, %d)", ix, iy);
    cr_assert_eq(dn_json_type(dn_json_get(l, "variances")), DN_JSON_NULL);
    dn_json_destroy(&d);
    run_free(&r);
    /* the same as text: tab-separated name=value fields */
    snprintf(args, sizeof args, "'%s'", path);
    r = inspect(args);
    cr_assert_eq(r.status, 0);
    const char *want = "key=Calo/energy\tsubsystem=Calo\trun=123\tclass=TH1D\t"
                       "edges=[[0 1 2 4]]\tvalues=[11 12 13]\tvariances=[1.5 2.5 3.5]\t"
                       "entries=55\n";
    cr_assert(strstr(r.out, want), "%s", r.out);
    cr_assert(strstr(r.out, "values=[[11 12] [21 22] [31 32]]\tentries=7\n"), "%s", r.out);
    run_free(&r);
}

Test(inspect, a_directory_of_root_files_with_a_broken_one_and_key)
{
    char path[256], args[300];
    for (int run = 1; run <= 2; run++) {
        snprintf(path, sizeof path, "%s/run_%06d.root", dir, run);
        double xe[] = {0, 1, 2};
        dn_root_hist_t *h = dn_root_hist_new(1, "h \"quoted\"", "", 2, xe, 0, NULL, 0);
        h->values[1] = run;
        dn_root_writer_t *w = NULL;
        dn_err_t err = {0};
        cr_assert_eq(dn_root_writer_open(path, NULL, &w, &err), 0);
        cr_assert_eq(dn_root_writer_add(w, "tracker", h, &err), 0, "%s", err.msg);
        cr_assert_eq(dn_root_writer_add(w, "", h, &err), 0, "%s", err.msg);
        cr_assert_eq(dn_root_writer_close(&w, &err), 0);
        dn_root_hist_destroy(&h);
    }
    snprintf(path, sizeof path, "%s/run_000003.root", dir);
    FILE *f = fopen(path, "w");
    fputs("root but not really", f);
    fclose(f);
    snprintf(args, sizeof args, "--json '%s'", dir);
    run_t r = inspect(args);
    cr_assert_eq(r.status, 1, "a broken file gives exit 1");
    cr_assert(strstr(r.err, "run_000003.root: header is cut"), "%s", r.err);
    cr_assert_eq(count_lines(r.out), 4, "%s", r.out);
    dn_json_t *d = json_line(r.out, 2);
    const dn_json_value_t *l = dn_json_root(d);
    cr_assert_eq(dn_json_number(dn_json_get(l, "run")), 2);
    cr_assert_str_eq(dn_json_string(dn_json_get(l, "key")), "tracker/h \"quoted\"",
                     "strings escaped and read back");
    cr_assert_str_eq(dn_json_string(dn_json_get(l, "subsystem")), "tracker");
    cr_assert_eq(num_at(l, "values", 0, -1), 2);
    dn_json_destroy(&d);
    run_free(&r);
    snprintf(args, sizeof args, "--key 'h \"quoted\"' '%s/run_000001.root'", dir);
    r = inspect(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 1, "%s", r.out);
    cr_assert(strstr(r.out, "key=h \"quoted\"\tsubsystem=\trun=1\t"), "%s", r.out);
    run_free(&r);
    snprintf(args, sizeof args, "--key nope '%s/run_000001.root'", dir);
    r = inspect(args);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "no histogram \"nope\""), "%s", r.err);
    run_free(&r);
}

Test(inspect, the_shared_real_files)
{
    char args[512];
    snprintf(args, sizeof args, "--json '%s/uproot-issue-880.root'", dn_root_files_dir());
    run_t r = inspect(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 200, "TH1D, TH2D and the TH1I");
    run_free(&r);
    snprintf(args, sizeof args, "'%s/uproot-hepdata-example.root'", dn_root_files_dir());
    r = inspect(args);
    cr_assert_eq(r.status, 0, "profiles and ntuples are left out, not errors: %s", r.err);
    cr_assert_eq(count_lines(r.out), 2);
    cr_assert(strstr(r.err, "key \"hprof;1\" (TProfile): a profile: its bins are means, not "
                            "counts; left out"), "%s", r.err);
    run_free(&r);
}

Test(inspect, uhi_dataset_csv_and_npz)
{
    char path[256], args[300];
    snprintf(path, sizeof path, "%s/uhi", dir);
    cr_assert_eq(dn_mkdirs(path, NULL), 0);
    snprintf(path, sizeof path, "%s/uhi/run_000042.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"calo/e\": {\"uhi_schema\": 1, \"axes\": [{\"type\": \"regular\", \"lower\": 0, "
          "\"upper\": 2, \"bins\": 2, \"underflow\": true, \"overflow\": true}], \"storage\": "
          "{\"type\": \"weighted\", \"values\": [9, 1, 2, 9], \"variances\": [9, 0.5, 1, 9]}}}",
          f);
    fclose(f);
    snprintf(args, sizeof args, "'%s/uhi'", dir);
    run_t r = inspect(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "key=calo/e\tsubsystem=calo\trun=42\tclass=uhi weighted\t"
                            "edges=[[0 1 2]]\tvalues=[1 2]\tvariances=[0.5 1]\tentries=3\n"),
              "%s", r.out);
    run_free(&r);
    snprintf(path, sizeof path, "%s/runs.csv", dir);
    f = fopen(path, "w");
    fputs("run,label,b0,b1,b2\n7,0,1,2,3\n8,,4,5,6\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--key calo/x '%s'", path);
    r = inspect(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 2);
    /* a runs CSV has no bin edges: none shown, as none is published */
    cr_assert(strstr(r.out, "key=calo/x\tsubsystem=\trun=8\tclass=csv\tedges=-\t"
                            "values=[4 5 6]\tentries=15\n"), "%s", r.out);
    run_free(&r);
    snprintf(args, sizeof args, "--json '%s'", dir); /* holds runs.csv: a dataset directory */
    r = inspect(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    dn_json_t *d = json_line(r.out, 0);
    cr_assert_str_eq(dn_json_string(dn_json_get(dn_json_root(d), "class")), "dataset");
    cr_assert_str_eq(dn_json_string(dn_json_get(dn_json_root(d), "key")), "hist");
    cr_assert_eq(dn_json_type(dn_json_get(dn_json_root(d), "edges")), DN_JSON_NULL,
                 "no meta.json, yet edges: %s", r.out);
    dn_json_destroy(&d);
    run_free(&r);
    r = inspect("--json tests/fixtures/feed/ds_seed5.npz");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_gt(count_lines(r.out), 10);
    d = json_line(r.out, 0);
    cr_assert_str_eq(dn_json_string(dn_json_get(dn_json_root(d), "class")), "npz");
    cr_assert_eq(dn_json_number(dn_json_get(dn_json_root(d), "run")), 0);
    dn_json_destroy(&d);
    run_free(&r);
}

/* A ROOT dataset directory (generate --format root) is a folder of ROOT
 * files, its meta.json notwithstanding: one line per run, at its key. */
Test(inspect, a_root_dataset_directory)
{
    dn_dataset_t *ds = dn_dataset_new(3, 4, 0);
    cr_assert_not_null(ds);
    for (int i = 0; i < 3; i++) {
        ds->run[i] = 50 + i;
        for (int j = 0; j < 4; j++)
            ds->counts[i * 4 + j] = 10 * i + j;
    }
    char path[256], args[300];
    snprintf(path, sizeof path, "%s/rootds", dir);
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_write_root_dir(ds, path, NULL, &err), 0, "%s", err.msg);
    snprintf(args, sizeof args, "--json '%s'", path);
    run_t r = inspect(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 3, "%s", r.out);
    for (int i = 0; i < 3; i++) {
        dn_json_t *d = json_line(r.out, i);
        const dn_json_value_t *v = dn_json_root(d);
        cr_assert_str_eq(dn_json_string(dn_json_get(v, "key")), "synthetic/h0");
        cr_assert_str_eq(dn_json_string(dn_json_get(v, "subsystem")), "synthetic");
        cr_assert_str_eq(dn_json_string(dn_json_get(v, "class")), "TH1D");
        cr_assert_eq(dn_json_number(dn_json_get(v, "run")), 50 + i);
        for (int j = 0; j < 4; j++)
            cr_assert_eq(num_at(v, "values", j, -1), 10 * i + j, "run %d bin %d", 50 + i, j);
        dn_json_destroy(&d);
    }
    run_free(&r);
    dn_dataset_destroy(&ds);
}

/* UHI 2-D histograms print like ROOT's: an edge list per axis, values nested
 * [ix][iy]; the sparse and value-less forms of the current schema too. */
Test(inspect, uhi_2d_sparse_and_empty)
{
    char path[256], args[300];
    snprintf(path, sizeof path, "%s/uhi2", dir);
    cr_assert_eq(dn_mkdirs(path, NULL), 0);
    snprintf(path, sizeof path, "%s/uhi2/run_000007.json", dir);
    FILE *f = fopen(path, "w");
    /* bin (ix, iy) holds 10 (ix + 1) + iy + 1, as the ROOT test's map; x has
     * both flow bins, so stored x bins are ix + 1; an entry in x's overflow */
    fputs("{\"pix/map\": {\"uhi_schema\": 1, \"axes\": [{\"type\": \"variable\", \"edges\": "
          "[0, 1, 2, 4], \"underflow\": true, \"overflow\": true, \"circular\": false}, "
          "{\"type\": \"regular\", \"lower\": -1, \"upper\": 1, \"bins\": 2, \"underflow\": "
          "false, \"overflow\": false, \"circular\": false}], \"storage\": {\"type\": "
          "\"double\", \"index\": [[3, 1, 2, 1, 3, 2, 4], [1, 0, 0, 1, 0, 1, 0]], \"values\": "
          "[32, 11, 21, 12, 31, 22, 1000]}}, \"pix/none\": {\"uhi_schema\": 1, \"axes\": "
          "[{\"type\": \"regular\", \"lower\": 0, \"upper\": 3, \"bins\": 3, \"underflow\": "
          "true, \"overflow\": true, \"circular\": false}], \"storage\": {\"type\": "
          "\"int\"}}}",
          f);
    fclose(f);
    snprintf(args, sizeof args, "'%s/uhi2'", dir);
    run_t r = inspect(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "key=pix/map\tsubsystem=pix\trun=7\tclass=uhi\t"
                            "edges=[[0 1 2 4] [-1 0 1]]\tvalues=[[11 12] [21 22] [31 32]]\t"
                            "entries=129\n"),
              "%s", r.out);
    cr_assert(strstr(r.out, "key=pix/none\tsubsystem=pix\trun=7\tclass=uhi\t"
                            "edges=[[0 1 2 3]]\tvalues=[0 0 0]\tentries=0\n"),
              "%s", r.out);
    run_free(&r);
    snprintf(args, sizeof args, "--json --key pix/map '%s/uhi2'", dir);
    r = inspect(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 1, "%s", r.out);
    dn_json_t *d = json_line(r.out, 0);
    const dn_json_value_t *l = dn_json_root(d);
    cr_assert_eq(dn_json_array_len(dn_json_get(l, "edges")), 2);
    cr_assert_eq(num_at(l, "edges", 1, 0), -1);
    cr_assert_eq(dn_json_array_len(dn_json_get(l, "values")), 3, "3 x lists");
    for (int ix = 1; ix <= 3; ix++)
        for (int iy = 1; iy <= 2; iy++)
            cr_assert_eq(num_at(l, "values", ix - 1, iy - 1), 10 * ix + iy, "(%d, %d)", ix, iy);
    cr_assert_eq(dn_json_type(dn_json_get(l, "variances")), DN_JSON_NULL);
    dn_json_destroy(&d);
    run_free(&r);
}

Test(inspect, usage_and_missing_paths)
{
    run_t r = inspect("");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "no PATH given"), "%s", r.err);
    run_free(&r);
    r = inspect("--bogus x");
    cr_assert_eq(r.status, 2);
    run_free(&r);
    r = inspect("/nonexistent/path.root");
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "/nonexistent/path.root: No such file or directory"), "%s", r.err);
    run_free(&r);
    r = inspect("--help");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "usage: dinamo inspect PATH"));
    run_free(&r);
}
