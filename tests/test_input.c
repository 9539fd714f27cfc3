/* test_input.c: every input kind gives the same dataset, hence the same scores:
 * a generated dataset is written here as a runs CSV, a runs CSV without labels
 * plus a labels file, a directory of UHI JSON runs, and compared with the npz
 * fixture of the same seed. Broken UHI runs (bad JSON, changed binning, the key
 * missing, a repeated run number) are named and left out; weighted storage's
 * variances reach DINAMO-S; ROOT inputs are told by the path. Each test works
 * in its own mkdtemp directory. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dinamo_s.h"
#include "evaluate.h"
#include "generator.h"
#include "input.h"
#include "json.h"
#include "rootwrite.h"

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    strcpy(tmpdir, "/tmp/dn_input_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(input, .init = setup, .fini = teardown);

static dn_dataset_t *generated(void)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = 80;
    p.n_anomalous = 8;
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, 5, &ds, &err), 0, "%s", err.msg);
    return ds;
}

static char *path_in(const char *name)
{
    static char buf[8][256];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 256, "%s/%s", tmpdir, name);
    return b;
}

static void write_csv(const dn_dataset_t *ds, const char *path, int with_label)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(with_label ? "run,label" : "run", f);
    for (int j = 0; j < ds->n_bins; j++)
        fprintf(f, ",b%d", j);
    fputc('\n', f);
    for (int i = 0; i < ds->n_runs; i++) {
        fprintf(f, "%lld", (long long)ds->run[i]);
        if (with_label)
            fprintf(f, ",%d", ds->label[i]);
        for (int j = 0; j < ds->n_bins; j++) {
            fputc(',', f);
            dn_json_write_number(f, dn_dataset_row(ds, i)[j]);
        }
        fputc('\n', f);
    }
    fclose(f);
}

static void write_labels(const dn_dataset_t *ds, const char *path)
{
    FILE *f = fopen(path, "w");
    fputs("run,label\n", f);
    for (int i = 0; i < ds->n_runs; i++)
        fprintf(f, "%lld,%s\n", (long long)ds->run[i], ds->label[i] ? "bad" : "good");
    fclose(f);
}

/* One UHI file per run: regular axis with flow bins, double storage; every
 * seventh run also carries a second histogram that must not matter with --key. */
static void write_uhi_dir(const dn_dataset_t *ds, const char *dir, int second_key)
{
    mkdir(dir, 0755);
    for (int i = 0; i < ds->n_runs; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/run_%06lld.json", dir, (long long)ds->run[i]);
        FILE *f = fopen(p, "w");
        fprintf(f, "{\"toy/gauss\": {\"uhi_schema\": 1, \"axes\": [{\"type\": \"regular\", "
                   "\"lower\": -5.0, \"upper\": 5.0, \"bins\": %d, \"underflow\": true, "
                   "\"overflow\": true, \"circular\": false}], \"storage\": {\"type\": "
                   "\"double\", \"values\": [17",
                ds->n_bins);
        for (int j = 0; j < ds->n_bins; j++) {
            fputs(", ", f);
            dn_json_write_number(f, dn_dataset_row(ds, i)[j]);
        }
        fputs(", 4]}, \"metadata\": {\"subsystem\": \"toy\"}}", f);
        if (second_key && i % 7 == 3)
            fputs(", \"toy/other\": {\"axes\": [{\"type\": \"regular\", \"lower\": 0, "
                  "\"upper\": 1, \"bins\": 1}], \"storage\": {\"type\": \"int\", \"values\": "
                  "[3]}}",
                  f);
        fputs("}\n", f);
        fclose(f);
    }
}

static void assert_same_dataset(const dn_dataset_t *a, const dn_dataset_t *b, const char *what)
{
    cr_assert_eq(a->n_runs, b->n_runs, "%s: %d runs, want %d", what, a->n_runs, b->n_runs);
    cr_assert_eq(a->n_bins, b->n_bins, "%s: bins", what);
    for (int i = 0; i < a->n_runs; i++) {
        cr_assert_eq(a->run[i], b->run[i], "%s: run %d", what, i);
        cr_assert_eq(a->label[i], b->label[i], "%s: label of run %d", what, i);
    }
    cr_assert(memcmp(a->counts, b->counts, sizeof(double) * a->n_runs * a->n_bins) == 0,
              "%s: counts differ", what);
}

static void scores_of(const dn_dataset_t *ds, double alpha, double *chi2)
{
    dn_run_scores_t rs = {.chi2 = chi2};
    dn_err_t err = {0};
    cr_assert_eq(dn_score_dataset_s(ds, alpha, 0.0, &rs, &err), 0, "%s", err.msg);
}

static int n_warn;
static void count_warn(void *ctx, const char *msg)
{
    (void)ctx;
    n_warn++;
    cr_log_info("warning: %s", msg);
}

Test(input, every_format_same_dataset_same_scores)
{
    dn_dataset_t *ref = generated();
    write_csv(ref, path_in("runs.csv"), 1);
    write_csv(ref, path_in("nolabels.csv"), 0);
    write_labels(ref, path_in("labels.csv"));
    write_uhi_dir(ref, path_in("uhi"), 1);
    double *want = malloc(sizeof(double) * ref->n_runs),
           *got = malloc(sizeof(double) * ref->n_runs);
    scores_of(ref, 0.9, want);

    struct {
        const char *path, *labels, *key;
        dn_input_kind_t kind;
    } cases[] = {
        {path_in("runs.csv"), NULL, NULL, DN_INPUT_RUNS_CSV},
        {path_in("nolabels.csv"), path_in("labels.csv"), NULL, DN_INPUT_RUNS_CSV},
        {path_in("uhi"), path_in("labels.csv"), "toy/gauss", DN_INPUT_UHI_DIR},
        {"tests/fixtures/feed/ds_seed5.npz", NULL, NULL, DN_INPUT_NPZ},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dn_input_kind_t kind;
        dn_err_t err = {0};
        cr_assert_eq(dn_input_kind(cases[c].path, &kind, &err), 0, "%s", err.msg);
        cr_assert_eq(kind, cases[c].kind, "%s: kind %d", cases[c].path, kind);
        dn_input_opts_t o = {.key = cases[c].key, .labels_path = cases[c].labels,
                             .warn = count_warn};
        dn_dataset_t *ds = NULL;
        int skipped = -1;
        n_warn = 0;
        cr_assert_eq(dn_input_read_dataset(cases[c].path, &o, &ds, &skipped, &err), 0, "%s: %s",
                     cases[c].path, err.msg);
        cr_assert_eq(skipped, 0, "%s: %d warnings", cases[c].path, skipped);
        assert_same_dataset(ds, ref, cases[c].path);
        scores_of(ds, 0.9, got);
        for (int i = 0; i < ref->n_runs; i++)
            cr_assert(got[i] == want[i] || (isnan(got[i]) && isnan(want[i])),
                      "%s: run %d: chi2 %.17g, want %.17g", cases[c].path, i, got[i], want[i]);
        dn_dataset_destroy(&ds);
    }
    /* several keys and no --key: an error naming them */
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_input_read_dataset(path_in("uhi"), NULL, &ds, NULL, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "toy/gauss") && strstr(err.msg, "toy/other") &&
                  strstr(err.msg, "--key"),
              "%s", err.msg);
    dn_input_opts_t o = {.key = "no/such"};
    cr_assert_eq(dn_input_read_dataset(path_in("uhi"), &o, &ds, NULL, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "no run has a histogram \"no/such\""), "%s", err.msg);
    free(want);
    free(got);
    dn_dataset_destroy(&ref);
}

static void rewrite(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

Test(input, broken_uhi_runs_are_named_and_left_out)
{
    dn_dataset_t *ref = generated();
    write_uhi_dir(ref, path_in("uhi"), 0);
    char p[512];
    /* run 10: truncated JSON; run 11: 3 bins instead of 100; run 12: other key
     * only; run 13: a copy of run 14 (same run number in metadata) */
    snprintf(p, sizeof p, "%s/uhi/run_000010.json", tmpdir);
    rewrite(p, "{\"toy/gauss\": {\"axes\": [{\"type\": \"reg");
    snprintf(p, sizeof p, "%s/uhi/run_000011.json", tmpdir);
    rewrite(p, "{\"toy/gauss\": {\"axes\": [{\"type\": \"regular\", \"lower\": -5, \"upper\": 5, "
               "\"bins\": 3}], \"storage\": {\"type\": \"int\", \"values\": [1, 2, 3]}}}");
    snprintf(p, sizeof p, "%s/uhi/run_000012.json", tmpdir);
    rewrite(p, "{\"toy/else\": {\"axes\": [{\"type\": \"regular\", \"lower\": -5, \"upper\": 5, "
               "\"bins\": 3}], \"storage\": {\"type\": \"int\", \"values\": [1, 2, 3]}}}");
    snprintf(p, sizeof p, "%s/uhi/zz_dup_14.json", tmpdir);
    rewrite(p, "{\"toy/gauss\": {\"axes\": [{\"type\": \"regular\", \"lower\": -5, \"upper\": 5, "
               "\"bins\": 100}], \"storage\": {\"type\": \"int\", \"values\": [1]}}}");
    dn_input_opts_t o = {.key = "toy/gauss", .warn = count_warn};
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    int skipped = 0;
    n_warn = 0;
    cr_assert_eq(dn_input_read_dataset(path_in("uhi"), &o, &ds, &skipped, &err), 0, "%s",
                 err.msg);
    /* run 10 unreadable; 11 binning changed; 12 no such histogram; the duplicate
     * of 14 has a broken histogram (1 value for 100 bins), so it is a problem
     * and then a run without the key */
    cr_assert_eq(ds->n_runs, ref->n_runs - 3, "%d runs kept", ds->n_runs);
    cr_assert_eq(skipped, n_warn);
    cr_assert_geq(skipped, 4, "%d warnings", skipped);
    for (int i = 0, k = 0; i < ref->n_runs; i++) {
        if (ref->run[i] >= 10 && ref->run[i] <= 12)
            continue;
        cr_assert_eq(ds->run[k], ref->run[i]);
        cr_assert(memcmp(dn_dataset_row(ds, k), dn_dataset_row(ref, i),
                         sizeof(double) * ref->n_bins) == 0,
                  "run %lld counts", (long long)ref->run[i]);
        k++;
    }
    dn_dataset_destroy(&ds);
    dn_dataset_destroy(&ref);
}

Test(input, weighted_storage_variances_reach_dinamo_s)
{
    mkdir(path_in("w"), 0755);
    /* three runs of 2 bins; variances 4x the counts (weights of 2 per entry) */
    const double x[3][2] = {{40, 60}, {50, 50}, {30, 70}};
    for (int i = 0; i < 3; i++) {
        char p[512], text[512];
        snprintf(p, sizeof p, "%s/w/run_%d.json", tmpdir, i + 1);
        snprintf(text, sizeof text,
                 "{\"h\": {\"axes\": [{\"type\": \"variable\", \"edges\": [0, 1, 2], "
                 "\"underflow\": false, \"overflow\": false}], \"storage\": {\"type\": "
                 "\"weighted\", \"values\": [%g, %g], \"variances\": [%g, %g]}, \"metadata\": "
                 "{\"label\": \"good\"}}}",
                 x[i][0], x[i][1], 4 * x[i][0], 4 * x[i][1]);
        rewrite(p, text);
    }
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_input_read_dataset(path_in("w"), NULL, &ds, NULL, &err), 0, "%s", err.msg);
    cr_assert_not_null(ds->variances);
    cr_assert_eq(ds->variances[5], 280);
    cr_assert_eq(ds->label[2], 0);
    double got[3], want[3], poisson[3];
    scores_of(ds, 0.5, got);
    dn_s_t *s = dn_s_new(2, 0.5), *sp = dn_s_new(2, 0.5);
    for (int i = 0; i < 3; i++) {
        double v[2] = {4 * x[i][0], 4 * x[i][1]};
        cr_assert_eq(dn_s_step(s, x[i], v, 1, &want[i], NULL, NULL, NULL, &err), 0, "%s",
                     err.msg);
        dn_s_step(sp, x[i], NULL, 1, &poisson[i], NULL, NULL, NULL, NULL);
    }
    for (int i = 1; i < 3; i++) {
        cr_assert_eq(got[i], want[i], "run %d: chi2 %.17g, want %.17g", i, got[i], want[i]);
        cr_assert_neq(got[i], poisson[i], "run %d: variances ignored", i);
    }
    dn_s_destroy(&s);
    dn_s_destroy(&sp);
    dn_dataset_destroy(&ds);
}

/* A directory of 2-D UHI runs is a 2-D dataset: flattened x outer, both axes'
 * edges from the input; a run whose x or y binning differs from the first
 * run's is named and left out; sparse and value-less runs are kept. */
Test(input, uhi_2d_runs_give_a_2d_dataset)
{
    mkdir(path_in("u2"), 0755);
    const char *x3 = "{\"type\": \"regular\", \"lower\": -3, \"upper\": 3, \"bins\": 3, "
                     "\"underflow\": true, \"overflow\": true, \"circular\": false}";
    const char *x2 = "{\"type\": \"regular\", \"lower\": -3, \"upper\": 3, \"bins\": 2, "
                     "\"underflow\": false, \"overflow\": false, \"circular\": false}";
    const char *y2 = "{\"type\": \"variable\", \"edges\": [0, 1, 5], \"underflow\": false, "
                     "\"overflow\": false, \"circular\": false}";
    const char *y2b = "{\"type\": \"variable\", \"edges\": [0, 2, 5], \"underflow\": false, "
                      "\"overflow\": false, \"circular\": false}";
    const char *y3 = "{\"type\": \"variable\", \"edges\": [0, 1, 2, 5], \"underflow\": false, "
                     "\"overflow\": false, \"circular\": false}";
    struct {
        int run;
        const char *ax, *ay, *storage;
    } runs[] = {
        {1, x3, y2, "\"values\": [[9, 9], [1, 2], [3, 4], [5, 6], [9, 9]]"},
        {2, x3, y2, "\"index\": [[1, 3, 4], [1, 0, 1]], \"values\": [7, 8, 50]"},
        {3, x3, y2b, "\"values\": [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]]"},
        {4, x2, y3, "\"values\": [[1, 1, 1], [1, 1, 1]]"},
        {5, x3, y2, ""},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char p[512], text[1024];
        snprintf(p, sizeof p, "%s/u2/run_%d.json", tmpdir, runs[i].run);
        snprintf(text, sizeof text,
                 "{\"pix/occupancy\": {\"uhi_schema\": 1, \"axes\": [%s, %s], \"storage\": "
                 "{\"type\": \"double\"%s%s}}}",
                 runs[i].ax, runs[i].ay, runs[i].storage[0] ? ", " : "", runs[i].storage);
        rewrite(p, text);
    }
    dn_input_opts_t o = {.warn = count_warn};
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    int skipped = 0;
    n_warn = 0;
    cr_assert_eq(dn_input_read_dataset(path_in("u2"), &o, &ds, &skipped, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(skipped, 2, "runs 3 (other y edges) and 4 (2 x 3 bins): %d warnings", skipped);
    cr_assert_eq(ds->n_runs, 3);
    cr_assert(ds->run[0] == 1 && ds->run[1] == 2 && ds->run[2] == 5);
    cr_assert_eq(ds->n_bins, 6);
    cr_assert_eq(ds->n_bins_y, 2);
    cr_assert_eq(dn_dataset_nx(ds), 3);
    cr_assert_eq(ds->edges_known, 1);
    const double ex[4] = {-3, -1, 1, 3}, ey[3] = {0, 1, 5};
    for (int j = 0; j < 4; j++)
        cr_assert_eq(ds->edges[j], ex[j], "x edge %d: %g", j, ds->edges[j]);
    for (int j = 0; j < 3; j++)
        cr_assert_eq(ds->edges_y[j], ey[j], "y edge %d: %g", j, ds->edges_y[j]);
    /* run 2 sparse: stored (1, 1) -> (0, 1); (3, 0) -> (2, 0); (4, 1) is overflow */
    const double want[3][6] = {{1, 2, 3, 4, 5, 6}, {0, 7, 0, 0, 8, 0}, {0, 0, 0, 0, 0, 0}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 6; j++)
            cr_assert_eq(dn_dataset_row(ds, i)[j], want[i][j], "run %lld bin %d: %g",
                         (long long)ds->run[i], j, dn_dataset_row(ds, i)[j]);
    dn_dataset_destroy(&ds);
}

Test(input, labels_file_errors_and_unknown_runs)
{
    dn_dataset_t *ref = generated();
    write_csv(ref, path_in("nolabels.csv"), 0);
    rewrite(path_in("l1.csv"), "run,label\n0,good\n1,maybe\n");
    dn_input_opts_t o = {.labels_path = path_in("l1.csv")};
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_input_read_dataset(path_in("nolabels.csv"), &o, &ds, NULL, &err), DN_ERANGE);
    cr_assert(strstr(err.msg, "l1.csv:3: column label: \"maybe\""), "%s", err.msg);
    rewrite(path_in("l2.csv"), "run,verdict\n0,good\n");
    o.labels_path = path_in("l2.csv");
    cr_assert_eq(dn_input_read_dataset(path_in("nolabels.csv"), &o, &ds, NULL, &err),
                 DN_EFORMAT);
    cr_assert(strstr(err.msg, "header column 2 is \"verdict\""), "%s", err.msg);
    rewrite(path_in("l3.csv"), "run,label\n0,bad\n1,1\n2,\n5000,good\n6000,0\n");
    o.labels_path = path_in("l3.csv");
    o.warn = count_warn;
    int skipped = 0;
    n_warn = 0;
    cr_assert_eq(dn_input_read_dataset(path_in("nolabels.csv"), &o, &ds, &skipped, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(ds->label[0], 1);
    cr_assert_eq(ds->label[1], 1);
    cr_assert_eq(ds->label[2], -1);
    cr_assert_eq(ds->label[3], -1, "runs not in the file stay unknown");
    cr_assert_eq(skipped, 1, "one warning for the 2 labelled runs not in the input");
    dn_dataset_destroy(&ds);
    dn_dataset_destroy(&ref);
    dn_input_kind_t kind;
    cr_assert_eq(dn_input_kind(path_in("absent"), &kind, &err), DN_EIO);
    mkdir(path_in("empty"), 0755);
    cr_assert_eq(dn_input_kind(path_in("empty"), &kind, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "neither runs.csv"), "%s", err.msg);
}

/* A ROOT input is told by what the path is: a file named *.root, a directory
 * holding *.root files (and no *.json: those make it UHI runs; hidden files
 * do not count); a single ROOT file is a dataset of its one run. */
Test(input, root_files_and_directories_are_told_by_the_path)
{
    dn_input_kind_t kind;
    dn_err_t err = {0};
    char *d = path_in("r");
    mkdir(d, 0755);
    char *hidden = path_in("r/.run_1.root"), *file = path_in("r/run_000042.root");
    FILE *f = fopen(hidden, "w");
    fclose(f);
    cr_assert_eq(dn_input_kind(d, &kind, &err), DN_EFORMAT, "only a hidden .root file");
    cr_assert(strstr(err.msg, "*.root"), "%s", err.msg);
    double e[] = {0, 1, 3};
    dn_root_hist_t *h = dn_root_hist_new(1, "h", "", 2, e, 0, NULL, 0);
    h->values[1] = 4, h->values[2] = 5;
    dn_root_writer_t *w = NULL;
    cr_assert_eq(dn_root_writer_open(file, NULL, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_writer_add(w, "a", h, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_writer_close(&w, &err), 0, "%s", err.msg);
    dn_root_hist_destroy(&h);
    cr_assert_eq(dn_input_kind(d, &kind, &err), 0, "%s", err.msg);
    cr_assert_eq(kind, DN_INPUT_ROOT);
    cr_assert_eq(dn_input_kind(file, &kind, &err), 0, "%s", err.msg);
    cr_assert_eq(kind, DN_INPUT_ROOT);
    dn_dataset_t *ds = NULL;
    cr_assert_eq(dn_input_read_dataset(file, NULL, &ds, NULL, &err), 0, "%s", err.msg);
    cr_assert(ds->n_runs == 1 && ds->run[0] == 42 && ds->n_bins == 2 && ds->n_bins_y == 0);
    cr_assert(ds->counts[0] == 4 && ds->counts[1] == 5 && ds->edges_known && ds->edges[2] == 3);
    cr_assert_null(ds->variances);
    dn_dataset_destroy(&ds);
    f = fopen(path_in("r/run_000043.json"), "w");
    fclose(f);
    cr_assert_eq(dn_input_kind(d, &kind, &err), 0, "%s", err.msg);
    cr_assert_eq(kind, DN_INPUT_UHI_DIR, "*.json files make a directory UHI runs");
}
