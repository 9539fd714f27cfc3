/* test_eda.c: the numbers behind the dataset figures (eda.h) against the
 * reference's own functions: tests/fixtures/ref_eda_* were made by
 * tools/make_ref_eda_fixtures.py, which runs the reference's ToyDataset,
 * z_score_transform_for_hists and unify_binning and eda_processing's
 * median / std / Poisson term on a 200-run dataset. Run from the repository
 * root. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "eda.h"

#define FIX "tests/fixtures/"

static dn_dataset_t *load_fixture(void)
{
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    int rc = dn_dataset_read_dir(FIX "ref_eda_dataset", &ds, &err);
    cr_assert_eq(rc, 0, "reading the fixture dataset (run from the repo root): %s", err.msg);
    cr_assert_not_null(ds->true_mu);
    cr_assert(ds->edges_known);
    return ds;
}

/* Relative difference, with an absolute floor for values that are exactly 0
 * in the reference (empty tails). */
static double rel(double a, double b)
{
    double d = fabs(a - b), s = fmax(fabs(a), fabs(b));
    return s > 0 ? d / s : d;
}

Test(eda, unc_vis_equals_reference)
{
    dn_dataset_t *ds = load_fixture();
    const int nb = ds->n_bins;
    double *c = calloc(4 * (size_t)nb, sizeof(double)), *med = c + nb, *full = med + nb,
           *stat = full + nb;
    int n_good = 0;
    dn_err_t err = {0};
    int rc = dn_eda_unc_vis(ds, c, med, full, stat, &n_good, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(n_good, 180, "good runs used: %d", n_good);
    FILE *f = fopen(FIX "ref_eda_unc_vis.csv", "r");
    cr_assert_not_null(f);
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    double worst = 0;
    int worst_j = -1, rows = 0;
    const char *worst_what = "";
    while (fgets(line, sizeof line, f)) {
        int j;
        double rc_, rm, rf, rs;
        cr_assert_eq(sscanf(line, "%d,%lf,%lf,%lf,%lf", &j, &rc_, &rm, &rf, &rs), 5);
        cr_assert(j >= 0 && j < nb);
        const double got[4] = {c[j], med[j], full[j], stat[j]}, want[4] = {rc_, rm, rf, rs};
        static const char *what[4] = {"center", "median", "full_sigma", "stat_sigma"};
        for (int k = 0; k < 4; k++)
            if (rel(got[k], want[k]) > worst) {
                worst = rel(got[k], want[k]);
                worst_j = j;
                worst_what = what[k];
            }
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, nb);
    cr_log_info("unc_vis: worst relative difference %.3g (%s, bin %d)", worst, worst_what,
                worst_j);
    cr_expect(worst <= 1e-12, "unc_vis: worst relative difference %.3g at %s of bin %d", worst,
              worst_what, worst_j);
    /* the figure's claim: the full spread exceeds the Poisson term where there are entries */
    int wider = 0;
    for (int j = 0; j < nb; j++)
        wider += full[j] > stat[j];
    cr_expect(wider > nb / 2, "full sigma above the statistical term in %d of %d bins", wider,
              nb);
    free(c);
    dn_dataset_destroy(&ds);
}

Test(eda, run_stats_and_classes_equal_reference)
{
    dn_dataset_t *ds = load_fixture();
    double *entries = malloc(sizeof(double) * (size_t)ds->n_runs);
    dn_eda_entries(ds, entries);
    dn_eda_stats_t st;
    dn_eda_classes_t cl;
    dn_err_t err = {0};
    cr_assert_eq(dn_eda_run_stats(entries, ds->label, ds->n_runs, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_eda_classes(ds->label, ds->n_runs, &cl, &err), 0);
    FILE *f = fopen(FIX "ref_eda_stats.csv", "r");
    cr_assert_not_null(f);
    char line[256];
    int good, bad;
    cr_assert_eq(fscanf(f, "# good %d bad %d\n", &good, &bad), 2);
    cr_expect_eq(cl.good, good, "good runs %d, reference %d", cl.good, good);
    cr_expect_eq(cl.bad, bad, "bad runs %d, reference %d", cl.bad, bad);
    cr_expect_eq(cl.unlabelled, 0);
    cr_assert_not_null(fgets(line, sizeof line, f));
    int b = 0;
    while (fgets(line, sizeof line, f)) {
        double lo, hi, g, r;
        cr_assert_eq(sscanf(line, "%lf,%lf,%lf,%lf", &lo, &hi, &g, &r), 4);
        cr_assert(b < st.n_bins, "reference has more bins than %d", st.n_bins);
        cr_expect_eq(st.edges[b], lo, "bin %d: lower edge %g, reference %g", b, st.edges[b], lo);
        cr_expect_eq(st.edges[b + 1], hi, "bin %d: upper edge %g, reference %g", b,
                     st.edges[b + 1], hi);
        cr_expect_eq(st.count[0][b], g, "bin %d: %g good runs, reference %g", b, st.count[0][b],
                     g);
        cr_expect_eq(st.count[1][b], r, "bin %d: %g bad runs, reference %g", b, st.count[1][b],
                     r);
        b++;
    }
    fclose(f);
    cr_expect_eq(b, st.n_bins, "%d bins, reference %d", st.n_bins, b);
    free(entries);
    dn_dataset_destroy(&ds);
}

Test(eda, run_stats_numpy_edges)
{
    /* the last edge closes its bin; values beyond it are left out as numpy does:
     * entries 0..120, step floor(120/50) = 2, edges 0, 2, ..., 120 */
    double e[5] = {0, 1, 2, 119, 120};
    int8_t l[5] = {0, 0, 1, -1, 0};
    dn_eda_stats_t st;
    cr_assert_eq(dn_eda_run_stats(e, l, 5, &st, NULL), 0);
    cr_assert_eq(st.n_bins, 60);
    cr_expect_eq(st.count[0][0], 2);  /* 0 and 1 */
    cr_expect_eq(st.count[1][1], 1);  /* 2 */
    cr_expect_eq(st.count[2][59], 1); /* 119 */
    cr_expect_eq(st.count[0][59], 1); /* 120: the closed last bin */
    /* all runs alike: one bin of width 1 */
    double same[2] = {7, 7};
    cr_assert_eq(dn_eda_run_stats(same, l, 2, &st, NULL), 0);
    cr_expect_eq(st.n_bins, 1);
    cr_expect_eq(st.count[0][0], 2);
}

Test(eda, bad_input_refused)
{
    dn_err_t err = {0};
    dn_eda_stats_t st;
    double e[2] = {1, NAN};
    int8_t l[2] = {0, 1};
    cr_expect_eq(dn_eda_run_stats(e, l, 2, &st, &err), DN_EINVAL);
    cr_expect(strstr(err.msg, "run 1") != NULL, "%s", err.msg);
    cr_expect_eq(dn_eda_run_stats(e, l, 0, &st, &err), DN_EINVAL);
    dn_eda_classes_t cl;
    cr_expect_eq(dn_eda_classes(NULL, 3, &cl, &err), DN_EINVAL);
    /* no truth, placeholder edges, a bad sigma */
    dn_dataset_t *ds = dn_dataset_new(3, 4, 0);
    double v[16];
    int n;
    cr_expect_eq(dn_eda_unc_vis(ds, v, v + 4, v + 8, v + 12, &n, &err), DN_EINVAL);
    cr_expect(strstr(err.msg, "truth") != NULL, "%s", err.msg);
    cr_assert_eq(dn_dataset_alloc_truth(ds), 0);
    cr_expect_eq(dn_eda_unc_vis(ds, v, v + 4, v + 8, v + 12, &n, &err), DN_EINVAL);
    cr_expect(strstr(err.msg, "edges") != NULL, "%s", err.msg);
    ds->edges_known = 1;
    for (int i = 0; i < 3; i++) {
        ds->label[i] = 0;
        ds->true_sigma[i] = 1;
        ds->counts[i * 4 + 1] = 5;
    }
    ds->true_sigma[2] = 0;
    cr_expect_eq(dn_eda_unc_vis(ds, v, v + 4, v + 8, v + 12, &n, &err), DN_EINVAL);
    cr_expect(strstr(err.msg, "sigma") != NULL, "%s", err.msg);
    ds->true_sigma[2] = 1;
    cr_expect_eq(dn_eda_unc_vis(ds, v, v + 4, v + 8, v + 12, &n, &err), 0, "%s", err.msg);
    cr_expect_eq(n, 3);
    dn_dataset_destroy(&ds);
}
