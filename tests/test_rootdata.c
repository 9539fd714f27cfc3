/* test_rootdata.c: dinamo's data written as ROOT files (rootdata.h), read
 * back by our reader (rootfile, roothist) and by JSROOT in node, exactly:
 *   - a generated dataset as a ROOT dataset directory holds, run for run,
 *     the counts and edges of the same dataset written and read back as CSV,
 *     and labels.csv, truth.csv and meta.json beside as the CSV dataset has
 *     them;
 *   - a 2-D dataset with variances gives TH2D whose cells hold the flattened
 *     bins where ROOT puts (ix, iy), and fSumw2 the variances; stale run
 *     files of a longer dataset are removed; a key ROOT cannot hold is
 *     refused by name;
 *   - references of a scored 2-D dataset: per scored run a TH2D ref with the
 *     reference mean and sigma^2 as fSumw2, and obs the run normalised; runs
 *     not scored are left out. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "evaluate.h"
#include "fileio.h"
#include "generator.h"
#include "histo.h"
#include "jsroot.h"
#include "rng.h"
#include "rootdata.h"
#include "rootfile.h"
#include "runin.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];
static void setup(void)
{
    dn_test_tmpdir(dir, "rootdata");
}
static void teardown(void)
{
    dn_test_rmdir(dir);
}
TestSuite(rootdata, .init = setup, .fini = teardown, .timeout = 300);

/* Reads histogram `key` of path with our reader. */
static dn_root_hist_t *read_ours(const char *path, const char *key)
{
    dn_root_file_t *f = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_file_open(path, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_file_n_problems(f), 0, "%s: problems", path);
    int k = dn_root_file_find(f, key);
    cr_assert_geq(k, 0, "%s: no key %s", path, key);
    dn_root_hist_t *h = NULL;
    cr_assert_eq(dn_root_file_read_hist(f, k, &h, &err), 0, "%s", err.msg);
    dn_root_file_destroy(&f);
    return h;
}

/* The JSROOT line of (file, path) among lines[n]; fails when absent. */
static const dn_json_value_t *js_line(dn_json_t **lines, int n, const char *file,
                                      const char *path)
{
    for (int l = 0; l < n; l++) {
        const dn_json_value_t *v = dn_json_root(lines[l]);
        cr_assert_null(dn_json_get(v, "error"), "JSROOT: %s: %s", file,
                       dn_json_string(dn_json_get(v, "error")));
        if (!strcmp(dn_json_string(dn_json_get(v, "file")), file) &&
            !strcmp(dn_json_string(dn_json_get(v, "path")), path))
            return v;
    }
    cr_assert_fail("JSROOT does not list %s in %s", path, file);
    return NULL;
}

/* JSROOT's cell (ix, iy) (0-based monitored bins) of member `name`. */
static double js_cell(const dn_json_value_t *line, const char *name, int nx, int ny, int ix,
                      int iy)
{
    int cell = ny ? (iy + 1) * (nx + 2) + (ix + 1) : ix + 1;
    return dn_jsroot_num(dn_json_array_at(dn_json_get(line, name), (size_t)cell));
}

static char *slurp(const char *path, size_t *len)
{
    char *b = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_read_file(path, &b, len, &err), 0, "%s", err.msg);
    return b;
}

Test(rootdata, a_generated_dataset_is_its_csv_twin_through_our_reader_and_jsroot)
{
    dn_gen_params_t gp;
    dn_gen_params_default(&gp);
    gp.n_runs = 120;
    gp.n_anomalous = 12;
    gp.n_bins = 25;
    gp.dead_max = 5;
    dn_dataset_t *gen = NULL, *csv = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&gp, 11, &gen, &err), 0, "%s", err.msg);
    char cdir[128], rdir[128];
    snprintf(cdir, sizeof cdir, "%s/csv", dir);
    snprintf(rdir, sizeof rdir, "%s/root", dir);
    cr_assert_eq(dn_dataset_write_dir(gen, cdir, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_dataset_write_root_dir(gen, rdir, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_dataset_read_dir(cdir, &csv, &err), 0, "%s", err.msg);
    /* what the CSV dataset says beside its runs, the ROOT one says alike */
    const char *same[] = {"truth.csv", "meta.json"};
    for (int k = 0; k < 2; k++) {
        char a[200], b[200];
        size_t la, lb;
        snprintf(a, sizeof a, "%s/%s", cdir, same[k]);
        snprintf(b, sizeof b, "%s/%s", rdir, same[k]);
        char *da = slurp(a, &la), *db = slurp(b, &lb);
        cr_assert(la == lb && !memcmp(da, db, la), "%s differs", same[k]);
        free(da);
        free(db);
    }
    char lpath[200];
    snprintf(lpath, sizeof lpath, "%s/labels.csv", rdir);
    int64_t *lruns = NULL;
    int8_t *llab = NULL;
    int nl = 0;
    cr_assert_eq(dn_labels_read_csv(lpath, &lruns, &llab, &nl, &err), 0, "%s", err.msg);
    cr_assert_eq(nl, csv->n_runs);
    int bad = 0;
    for (int i = 0; i < nl; i++) {
        cr_assert_eq(lruns[i], csv->run[i]);
        cr_assert_eq(llab[i], csv->label[i], "run %lld: label %d, CSV %d", (long long)lruns[i],
                     llab[i], csv->label[i]);
        bad += llab[i] == 1;
    }
    cr_assert_eq(bad, 12);
    free(lruns);
    free(llab);

    const int n = csv->n_runs, nb = csv->n_bins;
    char **files = malloc((size_t)n * sizeof *files);
    double *inner = malloc((size_t)nb * sizeof *inner), *var = malloc((size_t)nb * sizeof *var);
    int worst_run = -1, worst_bin = -1;
    for (int i = 0; i < n; i++) {
        char name[40];
        dn_root_run_name(name, sizeof name, csv->run[i]);
        files[i] = malloc(200);
        snprintf(files[i], 200, "%s/%s.root", rdir, name);
        int64_t run;
        cr_assert_eq(dn_run_number_from_name(files[i], &run), 0);
        cr_assert_eq(run, csv->run[i], "%s names run %lld", files[i], (long long)run);
        dn_root_hist_t *h = read_ours(files[i], "synthetic/h0");
        cr_assert_str_eq(h->class_name, "TH1D");
        cr_assert_str_eq(h->title, "synthetic/h0");
        cr_assert_eq(h->dim, 1);
        cr_assert_eq(h->axis[0].n_bins, nb);
        cr_assert_null(h->variances, "a dataset without variances stores no fSumw2");
        for (int j = 0; j <= nb; j++)
            cr_assert(dn_same_double(h->axis[0].edges[j], csv->edges[j]),
                      "run %d edge %d: ROOT %.17g, CSV %.17g", i, j, h->axis[0].edges[j],
                      csv->edges[j]);
        dn_root_hist_inner(h, inner, var);
        double sum = 0;
        for (int j = 0; j < nb; j++) {
            double c = dn_dataset_row(csv, i)[j];
            if (!dn_same_double(inner[j], c) && worst_run < 0) {
                worst_run = i;
                worst_bin = j;
            }
            cr_assert(dn_same_double(var[j], c), "Poisson variance of run %d bin %d", i, j);
            sum += c;
        }
        cr_assert_eq(h->values[0], 0.0);
        cr_assert_eq(h->values[nb + 1], 0.0);
        cr_assert(dn_same_double(h->entries, sum), "entries %.17g, counts sum %.17g",
                  h->entries, sum);
        cr_assert(dn_same_double(h->tsumw, sum));
        dn_root_hist_destroy(&h);
    }
    cr_assert_lt(worst_run, 0, "run %d bin %d: ROOT %g, CSV %g", worst_run, worst_bin,
                 worst_run >= 0 ? inner[worst_bin] : 0,
                 worst_run >= 0 ? dn_dataset_row(csv, worst_run)[worst_bin] : 0);

    /* JSROOT reads the same numbers */
    int n_lines;
    dn_json_t **lines = dn_jsroot_dump((const char *const *)files, n, &n_lines);
    cr_assert_eq(n_lines, n, "JSROOT lists %d keys in %d files", n_lines, n);
    int differ = 0;
    char first[256] = "";
    for (int i = 0; i < n; i++) {
        const dn_json_value_t *line = js_line(lines, n_lines, files[i], "synthetic/h0");
        cr_assert_str_eq(dn_json_string(dn_json_get(line, "class")), "TH1D");
        cr_assert_eq((int)dn_json_number(dn_json_get(line, "nx")), nb);
        for (int j = 0; j <= nb; j++) {
            double e = dn_jsroot_num(dn_json_array_at(dn_json_get(line, "xedges"), (size_t)j));
            if (!dn_same_double(e, csv->edges[j]) && !differ++)
                snprintf(first, sizeof first, "run %d edge %d: JSROOT %.17g, CSV %.17g", i, j, e,
                         csv->edges[j]);
        }
        for (int j = 0; j < nb; j++) {
            double v = js_cell(line, "values", nb, 0, j, 0), c = dn_dataset_row(csv, i)[j];
            if (!dn_same_double(v, c) && !differ++)
                snprintf(first, sizeof first, "run %d bin %d: JSROOT %.17g, CSV %.17g", i, j, v,
                         c);
        }
        cr_assert_eq(dn_json_array_len(dn_json_get(line, "sumw2")), 0);
    }
    cr_assert_eq(differ, 0, "%d numbers differ; first: %s", differ, first);
    dn_jsroot_free(lines, n_lines);
    for (int i = 0; i < n; i++)
        free(files[i]);
    free(files);
    free(inner);
    free(var);
    dn_dataset_destroy(&gen);
    dn_dataset_destroy(&csv);
}

/* A 2-D dataset (nx by ny, flattened x outer) of n runs with seeded
 * fractional counts and variances (when asked) and variable edges. */
static dn_dataset_t *make_2d(int n, int nx, int ny, int with_var, uint64_t seed)
{
    dn_dataset_t *ds = dn_dataset_new(n, nx * ny, 0);
    cr_assert_not_null(ds);
    cr_assert_eq(dn_dataset_set_2d(ds, ny), 0);
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    ds->edges[0] = -3;
    for (int i = 1; i <= nx; i++)
        ds->edges[i] = ds->edges[i - 1] + 0.1 + dn_rng_uniform(&rng) / 3; /* < nx + 1 */
    for (int j = 0; j <= ny; j++)
        ds->edges_y[j] = 0.5 * j * j;
    ds->edges_known = 1;
    if (with_var)
        cr_assert_not_null(ds->variances = malloc((size_t)n * (size_t)(nx * ny) * sizeof(double)));
    for (int i = 0; i < n; i++) {
        ds->run[i] = 1000 + 3 * i;
        ds->label[i] = i % 5 == 4 ? 1 : 0;
        for (int c = 0; c < nx * ny; c++) {
            ds->counts[(size_t)i * (size_t)(nx * ny) + (size_t)c] =
                floor(dn_rng_uniform(&rng) * 4000) / 8;
            if (with_var)
                ds->variances[(size_t)i * (size_t)(nx * ny) + (size_t)c] =
                    dn_rng_uniform(&rng) * 30;
        }
    }
    return ds;
}

Test(rootdata, a_2d_dataset_with_variances_gives_th2d_cells_where_root_puts_them)
{
    const int nx = 7, ny = 5, n = 8;
    dn_dataset_t *ds = make_2d(n, nx, ny, 1, 3);
    dn_err_t err = {0};
    char rdir[128];
    snprintf(rdir, sizeof rdir, "%s/maps", dir);
    cr_assert_eq(dn_dataset_write_root_dir(ds, rdir, "Tracker/layer 1/occupancy", &err), 0,
                 "%s", err.msg);
    const char *files[8];
    char paths[8][200];
    for (int i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/run_%06d.root", rdir, 1000 + 3 * i);
        files[i] = paths[i];
    }
    int n_lines;
    dn_json_t **lines = dn_jsroot_dump(files, n, &n_lines);
    double inner[35], var[35];
    for (int i = 0; i < n; i++) {
        const double *row = dn_dataset_row(ds, i), *vrow = ds->variances + i * nx * ny;
        dn_root_hist_t *h = read_ours(files[i], "Tracker/layer 1/occupancy");
        cr_assert_str_eq(h->class_name, "TH2D");
        cr_assert_eq(h->axis[0].n_bins, nx);
        cr_assert_eq(h->axis[1].n_bins, ny);
        cr_assert_not_null(h->variances);
        dn_root_hist_inner(h, inner, var);
        for (int c = 0; c < nx * ny; c++) {
            cr_assert(dn_same_double(inner[c], row[c]), "run %d bin %d: %.17g, wrote %.17g", i,
                      c, inner[c], row[c]);
            cr_assert(dn_same_double(var[c], vrow[c]), "run %d variance %d", i, c);
        }
        const dn_json_value_t *line = js_line(lines, n_lines, files[i],
                                              "Tracker/layer 1/occupancy");
        cr_assert_str_eq(dn_json_string(dn_json_get(line, "class")), "TH2D");
        char why[512] = "";
        cr_assert_eq(dn_jsroot_compare(line, h, why, sizeof why), 0, "%s: %s", files[i], why);
        /* independently of our reader: ROOT's cell of (ix, iy) holds bin ix * ny + iy */
        for (int ix = 0; ix < nx; ix++)
            for (int iy = 0; iy < ny; iy++) {
                double v = js_cell(line, "values", nx, ny, ix, iy);
                double w = js_cell(line, "sumw2", nx, ny, ix, iy);
                cr_assert(dn_same_double(v, row[ix * ny + iy]),
                          "run %d (%d, %d): JSROOT %.17g, dataset %.17g", i, ix, iy, v,
                          row[ix * ny + iy]);
                cr_assert(dn_same_double(w, vrow[ix * ny + iy]), "run %d (%d, %d) sumw2", i, ix,
                          iy);
            }
        for (int j = 0; j <= ny; j++)
            cr_assert(dn_same_double(dn_jsroot_num(dn_json_array_at(dn_json_get(line, "yedges"),
                                                                     (size_t)j)),
                                     ds->edges_y[j]), "y edge %d", j);
        dn_root_hist_destroy(&h);
    }
    dn_jsroot_free(lines, n_lines);

    /* a shorter dataset in the same place: the longer one's extra runs go */
    ds->n_runs = 3;
    cr_assert_eq(dn_dataset_write_root_dir(ds, rdir, "Tracker/layer 1/occupancy", &err), 0,
                 "%s", err.msg);
    struct stat st;
    for (int i = 0; i < n; i++)
        cr_assert_eq(stat(files[i], &st) == 0, i < 3, "%s: %s", files[i],
                     i < 3 ? "missing" : "stale file left");
    ds->n_runs = n;

    /* keys ROOT cannot hold are refused by name, before anything is written */
    char bad_dir[128];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad", dir);
    const char *bad_keys[] = {"a//b", "a/", "h;1", ""};
    for (int k = 0; k < 4; k++) {
        int rc = dn_dataset_write_root_dir(ds, bad_dir, bad_keys[k], &err);
        cr_assert_eq(rc, DN_EINVAL, "key \"%s\" accepted", bad_keys[k]);
        cr_assert(strstr(err.msg, bad_keys[k]), "%s", err.msg);
    }
    snprintf(paths[0], sizeof paths[0], "%s/run_001000.root", bad_dir);
    cr_assert_neq(stat(paths[0], &st), 0, "a refused key left a run file");
    dn_dataset_destroy(&ds);
}

Test(rootdata, references_of_a_scored_2d_dataset_are_th2d_of_the_scores_numbers)
{
    const int nx = 6, ny = 4, n = 30, nb = nx * ny;
    dn_dataset_t *ds = make_2d(n, nx, ny, 0, 9);
    /* two empty runs: insufficient statistics, no reference */
    memset(ds->counts + 7 * nb, 0, (size_t)nb * sizeof(double));
    memset(ds->counts + 19 * nb, 0, (size_t)nb * sizeof(double));
    double *chi2 = malloc(n * sizeof *chi2), *mu = malloc((size_t)(n * nb) * sizeof *mu),
           *sg = malloc((size_t)(n * nb) * sizeof *sg);
    dn_run_scores_t rs = {.chi2 = chi2, .ref_mu = mu, .ref_sigma = sg};
    dn_err_t err = {0};
    cr_assert_eq(dn_score_dataset_s(ds, 0.6, 0, &rs, &err), 0, "%s", err.msg);
    char path[128];
    snprintf(path, sizeof path, "%s/references.root", dir);
    int written = -1;
    cr_assert_eq(dn_root_write_references(path, ds, mu, sg, 0, &written, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(written, n - 2);
    const char *files[1] = {path};
    int n_lines;
    dn_json_t **lines = dn_jsroot_dump(files, 1, &n_lines);
    cr_assert_eq(n_lines, 2 * (n - 2), "JSROOT lists %d histograms", n_lines);
    int differ = 0;
    char first[300] = "";
    double xt[24], sx2[24];
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "run_%06d/ref", 1000 + 3 * i);
        if (isnan(chi2[i])) {
            for (int l = 0; l < n_lines; l++)
                cr_assert_str_neq(dn_json_string(dn_json_get(dn_json_root(lines[l]), "path")),
                                  key, "run %d was not scored, yet has a reference", i);
            continue;
        }
        const dn_json_value_t *ref = js_line(lines, n_lines, path, key);
        snprintf(key, sizeof key, "run_%06d/obs", 1000 + 3 * i);
        const dn_json_value_t *obs = js_line(lines, n_lines, path, key);
        cr_assert_str_eq(dn_json_string(dn_json_get(ref, "class")), "TH2D");
        cr_assert_str_eq(dn_json_string(dn_json_get(obs, "class")), "TH2D");
        double sum = dn_hist_normalise(xt, sx2, dn_dataset_row(ds, i), NULL, nb);
        cr_assert(dn_same_double(dn_jsroot_num(dn_json_get(obs, "entries")), sum));
        for (int ix = 0; ix < nx; ix++)
            for (int iy = 0; iy < ny; iy++) {
                const int c = ix * ny + iy;
                const double got[4] = {js_cell(ref, "values", nx, ny, ix, iy),
                                       js_cell(ref, "sumw2", nx, ny, ix, iy),
                                       js_cell(obs, "values", nx, ny, ix, iy),
                                       js_cell(obs, "sumw2", nx, ny, ix, iy)};
                const double want[4] = {mu[i * nb + c], sg[i * nb + c] * sg[i * nb + c], xt[c],
                                        sx2[c]};
                static const char *const what[4] = {"ref mean", "ref sigma^2", "obs",
                                                    "obs variance"};
                for (int q = 0; q < 4; q++)
                    if (!dn_same_double(got[q], want[q]) && !differ++)
                        snprintf(first, sizeof first, "run %d (%d, %d) %s: JSROOT %.17g, "
                                 "scored %.17g", i, ix, iy, what[q], got[q], want[q]);
            }
    }
    cr_assert_eq(differ, 0, "%d numbers differ; first: %s", differ, first);
    dn_jsroot_free(lines, n_lines);
    /* a run that was not scored is refused by the one-run call */
    dn_root_writer_t *w = NULL;
    dn_root_binning_t bin;
    dn_root_binning_of(ds, &bin);
    cr_assert_eq(dn_root_writer_open(path, NULL, &w, &err), 0);
    cr_assert_eq(dn_root_add_reference(w, "x", &bin, 1021, dn_dataset_row(ds, 7), NULL,
                                       mu + 7 * nb, sg + 7 * nb, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "run 1021") && strstr(err.msg, "not scored"), "%s", err.msg);
    cr_assert_eq(dn_root_add_reference(w, "x", &bin, 1021, dn_dataset_row(ds, 7), NULL,
                                       mu, sg, &err), DN_EEMPTY);
    dn_root_writer_abort(&w);
    free(chi2);
    free(mu);
    free(sg);
    dn_dataset_destroy(&ds);
}
