/* test_rootrun.c: a ROOT file as a run (rootrun.h).
 *
 *   - the 24 real files of ../shared/root: every histogram JSROOT lists is a
 *     histogram of ours with JSROOT's bins (flow dropped here, from JSROOT's
 *     fArray, [ix][iy] for 2-D), fSumw2 as variances exactly when JSROOT has
 *     one, its edges and fEntries; every other key JSROOT lists is a problem
 *     naming the file, the path and the class; a file's run is the number
 *     in its name, and a name without digits is an error naming the file;
 *   - the CMS DQM layout written here: run from the folder (not the name),
 *     keys and subsystems, 2-D order, a second run folder, a key read twice,
 *     negative and NaN bins, the --key filter, a subsystem set by the
 *     caller; a truncated file is an error naming it;
 *   - a generated dataset written as ROOT files (one per run, 1-D and 2-D,
 *     with a truncated file and a profile-free second key among them) scores
 *     byte for byte as the same dataset as CSV through `dinamo score`
 *     (scores and pulls files). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileio.h"
#include "generator.h"
#include "input.h"
#include "json.h"
#include "jsroot.h"
#include "rootfile.h"
#include "rootrun.h"
#include "rootwrite.h"
#include "shell.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];
static void setup(void)
{
    dn_test_tmpdir(dir, "rootrun");
}
static void teardown(void)
{
    dn_test_rmdir(dir);
}
TestSuite(rootrun, .init = setup, .fini = teardown);

/* ---- the real files against JSROOT ------------------------------------------------ */

typedef struct {
    dn_root_item_t items[512]; /* hist copied out (taken), problem strdup'ed */
    dn_histin_t hists[512];
    char *problems[512];
    int n;
} items_t;

static int keep_item(void *ctx, const dn_root_item_t *it)
{
    items_t *s = ctx;
    cr_assert_lt(s->n, 512);
    s->items[s->n] = *it;
    s->problems[s->n] = it->problem ? strdup(it->problem) : NULL;
    s->items[s->n].problem = s->problems[s->n];
    if (it->hist) {
        s->hists[s->n] = *it->hist;
        *it->hist = (dn_histin_t){0}; /* taken */
        s->items[s->n].hist = &s->hists[s->n];
    }
    s->n++;
    return 0;
}

static void items_free(items_t *s)
{
    for (int i = 0; i < s->n; i++) {
        dn_histin_t *h = &s->hists[i];
        free(h->key), free(h->subsystem), free(h->counts), free(h->variances);
        free(h->edges), free(h->edges_y);
        free(s->problems[i]);
        *h = (dn_histin_t){0};
    }
    s->n = 0;
}

/* JSROOT's array `name` (flow bins included, x fastest) without flow bins,
 * in our order [ix][iy]: n values into out. */
static int inner_of(const dn_json_value_t *l, const char *name, double *out)
{
    int nx = (int)dn_json_number(dn_json_get(l, "nx"));
    int ny = (int)dn_json_number(dn_json_get(l, "ny"));
    const dn_json_value_t *a = dn_json_get(l, name);
    int n = 0;
    for (int ix = 1; ix <= nx; ix++)
        for (int iy = 1; iy <= (ny ? ny : 1); iy++) {
            size_t cell = ny ? (size_t)(nx + 2) * (size_t)iy + (size_t)ix : (size_t)ix;
            out[n++] = dn_jsroot_num(dn_json_array_at(a, cell));
        }
    return n;
}

static void same_values(const char *what, const double *ours, const double *js, int n)
{
    int bad = 0, first = -1;
    for (int i = 0; i < n; i++)
        if (!dn_same_double(ours[i], js[i]) && !bad++)
            first = i;
    cr_assert_eq(bad, 0, "%s: %d values differ, first [%d]: ours %.17g, JSROOT %.17g", what,
                 bad, first, ours[first], js[first]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(rootrun, the_real_files_give_the_histograms_jsroot_lists, .timeout = 600)
{
    char **files = NULL;
    int n_files = 0;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_dir_list(dn_root_files_dir(), &files, &n_files, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(n_files, 24, "%d files in %s", n_files, dn_root_files_dir());
    qsort(files, (size_t)n_files, sizeof *files, cmp_str);
    int n_lines;
    dn_json_t **lines = dn_jsroot_dump((const char *const *)files, n_files, &n_lines);
    int line = 0, hists = 0, others = 0;
    double *js = malloc(sizeof(double) * DN_ROOT_MAX_CELLS / 16);
    items_t *s = calloc(1, sizeof *s);
    for (int i = 0; i < n_files; i++) {
        dn_root_file_t *f = NULL;
        cr_assert_eq(dn_root_file_open(files[i], &f, &err), 0, "%s", err.msg);
        cr_assert_eq(dn_root_run_each(f, NULL, keep_item, s, &err), 0, "%s", err.msg);
        int js_hists = 0, js_keys = 0;
        for (; line < n_lines; line++) {
            const dn_json_value_t *l = dn_json_root(lines[line]);
            if (strcmp(dn_json_string(dn_json_get(l, "file")), files[i]))
                break;
            const char *path = dn_json_string(dn_json_get(l, "path"));
            const char *cls = dn_json_string(dn_json_get(l, "class"));
            js_keys++;
            int at = -1;
            for (int k = 0; k < s->n && at < 0; k++)
                if (s->items[k].key && !strcmp(s->items[k].key->path, path))
                    at = k;
            cr_assert_geq(at, 0, "%s: JSROOT lists \"%s\", rootrun gives nothing", files[i],
                          path);
            const dn_root_item_t *it = &s->items[at];
            if (!dn_json_get(l, "nx")) {
                others++;
                cr_assert_null(it->hist, "%s: %s (%s) taken as a histogram", files[i], path, cls);
                cr_assert(it->not_histogram && strstr(it->problem, files[i]) &&
                          strstr(it->problem, path) && strstr(it->problem, cls),
                          "%s: %s: problem does not name file, key and class: %s", files[i],
                          path, it->problem);
                continue;
            }
            js_hists++;
            hists++;
            cr_assert_not_null(it->hist, "%s: %s left out: %s", files[i], path, it->problem);
            const dn_histin_t *h = it->hist;
            char what[512];
            snprintf(what, sizeof what, "%s: %s", files[i], path);
            cr_assert_str_eq(h->key, path, "%s: key", what);
            const char *slash = strchr(path, '/');
            cr_assert_eq(strncmp(h->subsystem, path, slash ? (size_t)(slash - path) : 0), 0);
            cr_assert_eq(strlen(h->subsystem), slash ? (size_t)(slash - path) : 0,
                         "%s: subsystem \"%s\"", what, h->subsystem);
            int nx = (int)dn_json_number(dn_json_get(l, "nx"));
            int ny = (int)dn_json_number(dn_json_get(l, "ny"));
            cr_assert_eq(h->n_bins_y, ny, "%s: ny", what);
            cr_assert_eq(h->n_bins, nx * (ny ? ny : 1), "%s: bins", what);
            int n = inner_of(l, "values", js);
            same_values(what, h->counts, js, n);
            if (dn_json_array_len(dn_json_get(l, "sumw2"))) {
                cr_assert_not_null(h->variances, "%s: fSumw2 stored, no variances", what);
                inner_of(l, "sumw2", js);
                same_values(what, h->variances, js, n);
            } else {
                cr_assert_null(h->variances, "%s: variances without fSumw2", what);
            }
            const dn_json_value_t *xe = dn_json_get(l, "xedges"), *ye = dn_json_get(l, "yedges");
            for (int j = 0; j <= nx; j++)
                js[j] = dn_jsroot_num(dn_json_array_at(xe, (size_t)j));
            same_values(what, h->edges, js, nx + 1);
            if (ny) {
                for (int j = 0; j <= ny; j++)
                    js[j] = dn_jsroot_num(dn_json_array_at(ye, (size_t)j));
                same_values(what, h->edges_y, js, ny + 1);
            } else {
                cr_assert_null(h->edges_y);
            }
            cr_assert(dn_same_double(it->entries, dn_jsroot_num(dn_json_get(l, "entries"))),
                      "%s: entries", what);
        }
        cr_assert_eq(s->n, js_keys, "%s: %d items, JSROOT lists %d keys", files[i], s->n,
                     js_keys);
        /* the run: the number in the name, or an error naming the file */
        dn_runin_t *r = NULL;
        int64_t want;
        int has = dn_run_number_from_name(files[i], &want) == 0;
        int rc = dn_root_run_from_file(f, NULL, &r, &err);
        if (has) {
            cr_assert_eq(rc, 0, "%s", err.msg);
            cr_assert_eq(r->run_number, want, "%s: run %lld", files[i],
                         (long long)r->run_number);
            cr_assert_eq(r->n_hist, js_hists, "%s: %d histograms in the run, JSROOT %d",
                         files[i], r->n_hist, js_hists);
            cr_assert_eq(r->n_problems, js_keys - js_hists);
            cr_assert_str_eq(r->source, files[i]);
        } else {
            cr_assert_eq(rc, DN_EFORMAT, "%s: a name without digits gives no run", files[i]);
            cr_assert(strstr(err.msg, files[i]) && strstr(err.msg, "no run number"), "%s",
                      err.msg);
        }
        dn_runin_destroy(&r);
        items_free(s);
        dn_root_file_destroy(&f);
    }
    cr_assert_eq(line, n_lines);
    cr_assert_eq(hists, 265, "%d histograms, the shared files hold 265", hists);
    cr_log_info("rootrun: %d histograms and %d other keys as JSROOT lists them", hists, others);
    free(s);
    free(js);
    dn_jsroot_free(lines, n_lines);
    for (int i = 0; i < n_files; i++)
        free(files[i]);
    free(files);
}

/* ---- the DQM layout and bad bins --------------------------------------------------- */

static dn_root_hist_t *h1(const char *name, int nx, int with_var)
{
    double e[64];
    for (int j = 0; j <= nx; j++)
        e[j] = 0.5 * j * j; /* variable bins */
    return dn_root_hist_new(1, name, "", nx, e, 0, NULL, with_var);
}

static void write_dqm(const char *path)
{
    dn_root_writer_t *w = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_writer_open(path, NULL, &w, &err), 0, "%s", err.msg);
    dn_root_hist_t *e = h1("e", 3, 1);
    for (int c = 0; c < e->n_cells; c++)
        e->values[c] = 10 + c, e->variances[c] = 0.25 * c;
    e->entries = 40;
    double xe[] = {0, 1, 2, 3}, ye[] = {-2, 0, 2};
    dn_root_hist_t *occ = dn_root_hist_new(2, "occ", "", 3, xe, 2, ye, 0);
    for (int iy = 0; iy <= 3; iy++)
        for (int ix = 0; ix <= 4; ix++)
            occ->values[dn_root_hist_cell(occ, ix, iy)] = 100 * ix + iy; /* flow too */
    dn_root_hist_t *neg = h1("neg", 2, 0), *nan = dn_root_hist_new(2, "nanvar", "", 3, xe, 2,
                                                                   ye, 1);
    neg->values[2] = -1;
    nan->variances[dn_root_hist_cell(nan, 2, 1)] = NAN;
    cr_assert_eq(dn_root_writer_add(w, "DQMData/Run 77/Calo/Run summary", e, &err), 0);
    cr_assert_eq(dn_root_writer_add(w, "DQMData/Run 77/Calo/Run summary/maps", occ, &err), 0);
    cr_assert_eq(dn_root_writer_add(w, "DQMData/Run 77/Calo", e, &err), 0, "the same key again");
    cr_assert_eq(dn_root_writer_add(w, "DQMData/Run 77/Track/Run summary", neg, &err), 0);
    cr_assert_eq(dn_root_writer_add(w, "DQMData/Run 77/Track/Run summary", nan, &err), 0);
    cr_assert_eq(dn_root_writer_add(w, "DQMData/Run 78/Calo/Run summary", occ, &err), 0);
    cr_assert_eq(dn_root_writer_add(w, NULL, e, &err), 0, "outside the layout");
    cr_assert_eq(dn_root_writer_close(&w, &err), 0, "%s", err.msg);
    dn_root_hist_destroy(&e);
    dn_root_hist_destroy(&occ);
    dn_root_hist_destroy(&neg);
    dn_root_hist_destroy(&nan);
}

static int has_problem(const dn_runin_t *r, const char *a, const char *b)
{
    for (int p = 0; p < r->n_problems; p++)
        if (strstr(r->problems[p], a) && (!b || strstr(r->problems[p], b)))
            return 1;
    return 0;
}

static void dump_problems(const dn_runin_t *r)
{
    for (int p = 0; p < r->n_problems; p++)
        cr_log_error("problem: %s", r->problems[p]);
}

Test(rootrun, the_dqm_layout_one_run_per_file_and_bad_bins_left_out)
{
    char path[256];
    snprintf(path, sizeof path, "%s/DQM_V0001_R000000077__Calo_5.root", dir);
    write_dqm(path);
    dn_runin_t *r = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_run_read(path, NULL, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r->run_number, 77, "the folder's run, not the name's 5");
    cr_assert_eq(r->label, -1);
    cr_assert(isnan(r->time));
    cr_assert_eq(r->n_hist, 3, "Calo/e, Calo/maps/occ and e; got %d", r->n_hist);
    cr_assert_eq(r->n_problems, 4, "%d problems", r->n_problems);
    if (r->n_problems != 4)
        dump_problems(r);
    const dn_histin_t *e = dn_runin_find(r, "Calo/e");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->subsystem, "Calo");
    cr_assert_eq(e->n_bins, 3);
    cr_assert_eq(e->n_bins_y, 0);
    for (int j = 0; j < 3; j++) {
        cr_assert_eq(e->counts[j], 11 + j, "flow bins dropped");
        cr_assert_eq(e->variances[j], 0.25 * (j + 1));
        cr_assert_eq(e->edges[j + 1], 0.5 * (j + 1) * (j + 1));
    }
    const dn_histin_t *occ = dn_runin_find(r, "Calo/maps/occ");
    cr_assert_not_null(occ);
    cr_assert_eq(occ->n_bins, 6);
    cr_assert_eq(occ->n_bins_y, 2);
    cr_assert_null(occ->variances, "no fSumw2 stored: Poisson");
    for (int ix = 0; ix < 3; ix++)
        for (int iy = 0; iy < 2; iy++)
            cr_assert_eq(occ->counts[ix * 2 + iy], 100 * (ix + 1) + iy + 1,
                         "bin (%d, %d) at ix * ny + iy", ix, iy);
    cr_assert_eq(occ->edges[3], 3);
    cr_assert_eq(occ->edges_y[0], -2);
    cr_assert_eq(occ->edges_y[2], 2);
    const dn_histin_t *top = dn_runin_find(r, "e");
    cr_assert(top && !strcmp(top->subsystem, ""), "outside the layout: the file's run");
    cr_assert(has_problem(r, "\"DQMData/Run 77/Calo/e;1\"", "already read from \"DQMData/Run "
                                                            "77/Calo/Run summary/e\""));
    cr_assert(has_problem(r, "\"DQMData/Run 78/Calo/Run summary/occ;1\"", "run 78, but the "
                                                                          "file is run 77"));
    cr_assert(has_problem(r, "Track/Run summary/neg;1\" (TH1D): bin 1: negative count -1", NULL));
    cr_assert(has_problem(r, "nanvar;1\" (TH2D): bin (1, 0): non-finite variance", NULL));
    cr_assert(has_problem(r, path, NULL), "problems name the file");
    dn_runin_destroy(&r);

    /* only one key, and the subsystem set by the caller */
    dn_root_run_opts_t o = {.key = "Calo/maps/occ", .subsystem = "ECAL"};
    cr_assert_eq(dn_root_run_read(path, &o, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r->n_hist, 1);
    cr_assert_eq(r->n_problems, 0, "other keys are not read");
    cr_assert_str_eq(r->hist[0].subsystem, "ECAL");
    dn_runin_destroy(&r);

    /* cut: the file does not open, named */
    char *bytes = NULL;
    size_t len = 0;
    cr_assert_eq(dn_read_file(path, &bytes, &len, &err), 0);
    char cut[300];
    snprintf(cut, sizeof cut, "%s/run_9.root", dir);
    FILE *f = fopen(cut, "wb");
    fwrite(bytes, 1, len / 2, f);
    fclose(f);
    free(bytes);
    int rc = dn_root_run_read(cut, NULL, &r, &err);
    cr_assert_eq(rc, DN_EFORMAT, "a cut file: %d %s", rc, err.msg);
    cr_assert(strstr(err.msg, cut), "%s", err.msg);
    cr_assert_null(r);
}

/* ---- a generated dataset as ROOT files scores as its CSV -------------------------- */

/* Writes ds as one ROOT file per run under root_dir: the histogram gen/hist
 * (TH1D with the dataset's edges, or TH2D of nx x ny bins filled [ix][iy]
 * from the row), and in every fifth file a second histogram. */
static void write_root_runs(const dn_dataset_t *ds, const char *root_dir, int ny)
{
    cr_assert_eq(dn_mkdirs(root_dir, NULL), 0);
    const int nb = ds->n_bins, nx = ny ? nb / ny : nb;
    double ye[64];
    for (int j = 0; j <= ny; j++)
        ye[j] = -1 + 0.25 * j;
    for (int i = 0; i < ds->n_runs; i++) {
        dn_root_hist_t *h = ny ? dn_root_hist_new(2, "hist", "", nx, ds->edges, ny, ye, 0)
                               : dn_root_hist_new(1, "hist", "", nb, ds->edges, 0, NULL, 0);
        cr_assert_not_null(h);
        const double *row = dn_dataset_row(ds, i);
        for (int ix = 0; ix < nx; ix++)
            for (int iy = 0; iy < (ny ? ny : 1); iy++)
                h->values[dn_root_hist_cell(h, ix + 1, iy + 1)] = row[ix * (ny ? ny : 1) + iy];
        h->values[0] = 1000; /* underflow: never monitored */
        char p[512];
        snprintf(p, sizeof p, "%s/run_%06lld.root", root_dir, (long long)ds->run[i]);
        dn_root_writer_t *w = NULL;
        dn_err_t err = {0};
        cr_assert_eq(dn_root_writer_open(p, NULL, &w, &err), 0, "%s", err.msg);
        cr_assert_eq(dn_root_writer_add(w, "gen", h, &err), 0, "%s", err.msg);
        if (i % 5 == 2)
            cr_assert_eq(dn_root_writer_add(w, "other", h, &err), 0, "%s", err.msg);
        cr_assert_eq(dn_root_writer_close(&w, &err), 0, "%s", err.msg);
        dn_root_hist_destroy(&h);
    }
    char p[512];
    snprintf(p, sizeof p, "%s/run_999999.root", root_dir);
    FILE *f = fopen(p, "wb");
    fputs("root", f); /* cut after the magic: skipped, named */
    fclose(f);
}

Test(rootrun, root_runs_score_byte_for_byte_as_the_csv, .timeout = 300)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = 60;
    p.n_anomalous = 6;
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, 21, &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds->n_bins % 10, 0);
    char csv[256], labels[256], d1[256], d2[256];
    snprintf(csv, sizeof csv, "%s/runs.csv", dir);
    snprintf(labels, sizeof labels, "%s/labels.csv", dir);
    snprintf(d1, sizeof d1, "%s/root1d", dir);
    snprintf(d2, sizeof d2, "%s/root2d", dir);
    FILE *cf = fopen(csv, "w"), *lf = fopen(labels, "w");
    fputs("run", cf);
    for (int j = 0; j < ds->n_bins; j++)
        fprintf(cf, ",b%d", j);
    fputc('\n', cf);
    fputs("run,label\n", lf);
    for (int i = 0; i < ds->n_runs; i++) {
        fprintf(cf, "%lld", (long long)ds->run[i]);
        for (int j = 0; j < ds->n_bins; j++) {
            fputc(',', cf);
            dn_json_write_number(cf, dn_dataset_row(ds, i)[j]);
        }
        fputc('\n', cf);
        fprintf(lf, "%lld,%s\n", (long long)ds->run[i], ds->label[i] ? "bad" : "good");
    }
    fclose(cf);
    fclose(lf);
    write_root_runs(ds, d1, 0);
    write_root_runs(ds, d2, 10);
    const char *b = getenv("DINAMO_BUILD");
    const char *build = b && *b ? b : "build";
    const char *inputs[3] = {csv, d1, d2};
    for (int k = 0; k < 3; k++) {
        int rc = sh("%s/dinamo score --method s --in '%s' --key gen/hist --labels '%s' "
                    "--n-historical 30 --out '%s/scores%d.csv' --pulls '%s/pulls%d.csv' "
                    "2>'%s/err%d.txt'", build, inputs[k], labels, dir, k, dir, k, dir, k);
        cr_assert_eq(rc, 0, "dinamo score --in %s failed (see %s/err%d.txt)", inputs[k], dir,
                     k);
    }
    for (int k = 1; k < 3; k++) {
        cr_assert_eq(sh("cmp '%s/scores0.csv' '%s/scores%d.csv' >&2", dir, dir, k), 0,
                     "%s: scores differ from the CSV's", inputs[k]);
        cr_assert_eq(sh("cmp '%s/pulls0.csv' '%s/pulls%d.csv' >&2", dir, dir, k), 0,
                     "%s: pulls differ from the CSV's (2-D order?)", inputs[k]);
        cr_assert_eq(sh("grep -q 'run_999999.root: header' '%s/err%d.txt' && "
                        "grep -q '1 warnings; 60 runs read' '%s/err%d.txt'", dir, k, dir, k), 0,
                     "the cut file is not named, or more was skipped");
    }
    /* without --key the second histogram makes the choice ambiguous: said so */
    cr_assert_eq(sh("%s/dinamo score --method s --alpha 0.1 --in '%s' --out '%s/x.csv' "
                    "2>'%s/amb.txt'; grep -q 'several histograms.*--key' '%s/amb.txt'",
                    build, d1, dir, dir, dir), 0, "no --key with two keys is not refused");
    /* the 2-D dataset reads as 2-D, edges known */
    dn_dataset_t *two = NULL;
    dn_input_opts_t o = {.key = "gen/hist"};
    cr_assert_eq(dn_input_read_dataset(d2, &o, &two, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(two->n_bins_y, 10);
    cr_assert_eq(dn_dataset_nx(two), ds->n_bins / 10);
    cr_assert(two->edges_known);
    cr_assert_eq(two->edges_y[10], 1.5);
    cr_assert_eq(two->n_runs, 60);
    dn_dataset_destroy(&two);
    dn_dataset_destroy(&ds);
}
