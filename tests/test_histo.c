/* test_histo.c: validation messages, normalisation (SPEC 2 Poisson rule with its
 * zero-bin case, and per-bin variances), numpy's pairwise summation bit for bit,
 * chi2 and pulls against the formulas written out. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "histo.h"

static double rel(double a, double b)
{
    double m = fmax(fabs(a), fabs(b));
    return m == 0.0 ? 0.0 : fabs(a - b) / m;
}

Test(histo, check_names_the_first_bad_bin)
{
    dn_err_t err = {0};
    double ok[4] = {0, 1, 2.5, 1e300};
    cr_assert_eq(dn_hist_check(ok, NULL, 4, &err), 0);
    cr_assert_eq(dn_hist_check(ok, ok, 4, &err), 0);
    double x[20] = {0};
    x[17] = -3;
    x[19] = NAN;
    cr_assert_eq(dn_hist_check(x, NULL, 20, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "bin 17: negative count -3");
    cr_assert_eq(err.code, DN_ERANGE);
    x[17] = 0;
    x[4] = NAN;
    cr_assert_eq(dn_hist_check(x, NULL, 20, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "bin 4: NaN count");
    x[4] = 0;
    x[19] = -INFINITY;
    cr_assert_eq(dn_hist_check(x, NULL, 20, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "bin 19: infinite count");
    x[19] = 0;
    double var[20] = {0};
    var[2] = NAN;
    cr_assert_eq(dn_hist_check(x, var, 20, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "bin 2: NaN variance");
    var[2] = -0.5;
    cr_assert_eq(dn_hist_check(x, var, 20, NULL), DN_ERANGE, "err may be NULL");
    cr_assert_eq(dn_hist_check(x, var, 20, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "bin 2: negative variance -0.5");
}

Test(histo, sum_checked_flags_what_check_rejects)
{
    int bad;
    double a[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    cr_assert_eq(dn_hist_sum_checked(a, 12, &bad), 78.0);
    cr_assert_eq(bad, 0);
    double specials[5] = {NAN, -1.0, INFINITY, -INFINITY, -1e-300};
    for (int s = 0; s < 5; s++) {
        for (int pos = 0; pos < 12; pos += 5) {
            double b[12];
            memcpy(b, a, sizeof b);
            b[pos] = specials[s];
            dn_hist_sum_checked(b, 12, &bad);
            cr_assert_eq(bad, 1, "special %g at %d not flagged", specials[s], pos);
            cr_assert_eq(dn_hist_check(b, NULL, 12, NULL), DN_ERANGE);
        }
    }
    double big[3] = {1e308, 1e308, 1e308};
    dn_hist_sum_checked(big, 3, &bad);
    cr_assert_eq(bad, 1, "overflowing sum must be flagged");
    double negzero[2] = {-0.0, 1.0};
    dn_hist_sum_checked(negzero, 2, &bad);
    cr_assert_eq(bad, 0, "-0 is a valid empty bin");
    dn_err_t err;
    cr_assert_eq(dn_hist_explain_bad(big, NULL, 3, &err), DN_ERANGE);
    cr_assert(strstr(err.msg, "sum to infinity"), "%s", err.msg);
}

Test(histo, pairwise_sum_is_numpys)
{
    /* a_i = (1 + (i mod 3) 1e-3) / (i + 1); sums printed by numpy 1.24 a.sum(). */
    struct { int n; double want; } cases[] = {
        {0, 0x0.0p+0},
        {5, 0x1.24710cb295e9ep+1},
        {8, 0x1.5c1e8b618b16ap+1},
        {100, 0x1.4c44f9f945cecp+2},
        {129, 0x1.5c82f70c9b812p+2},
        {1000, 0x1.df7ea36bdd470p+2},
        {4097, 0x1.1ce89594e5dc7p+3},
    };
    double *a = malloc(4097 * sizeof *a);
    for (int i = 0; i < 4097; i++)
        a[i] = 1.0 / (i + 1) * (1 + (i % 3) * 1e-3);
    int n_differs_from_sequential = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double got = dn_pairwise_sum(a, cases[c].n);
        cr_assert(got == cases[c].want, "n %d: %a vs numpy %a", cases[c].n, got, cases[c].want);
        double seq = 0.0;
        for (int i = 0; i < cases[c].n; i++)
            seq += a[i];
        n_differs_from_sequential += seq != got;
    }
    cr_assert_gt(n_differs_from_sequential, 0, "cases should distinguish pairwise from sequential");
    free(a);
}

Test(histo, normalise_poisson_rule_and_zero_bins)
{
    double x[6] = {0, 10, 0, 30, 60, 0}, xt[6], sx2[6];
    double I = dn_hist_normalise(xt, sx2, x, NULL, 6);
    cr_assert_eq(I, 100.0);
    for (int j = 0; j < 6; j++) {
        double t = x[j] / I;
        double want = t == 0.0 ? 1.0 / (I * I) : t / I - t * t / I;
        cr_assert_leq(rel(xt[j], t), 2e-16, "bin %d xt %.17g vs %.17g", j, xt[j], t);
        cr_assert_leq(rel(sx2[j], want), 1e-15, "bin %d sx2 %.17g vs %.17g", j, sx2[j], want);
    }
    cr_assert_eq(sx2[0], 0.01 * 0.01, "zero bin: (1/I)^2");
    /* all in one bin: xt = 1, variance exactly 0 there */
    double one[3] = {0, 7, 0};
    dn_hist_normalise(xt, sx2, one, NULL, 3);
    cr_assert_eq(xt[1], 1.0);
    cr_assert_eq(sx2[1], 0.0);
    cr_assert_eq(sx2[0], (1.0 / 7.0) * (1.0 / 7.0), "(1/I)^2 as numpy squares sx = 1/I: %.17g", sx2[0]);
    /* empty: just the sum */
    double zero[3] = {0, 0, 0};
    cr_assert_eq(dn_hist_normalise(xt, sx2, zero, NULL, 3), 0.0);
    double tiny[2] = {4e-10, 5e-10};
    cr_assert_leq(dn_hist_normalise(xt, sx2, tiny, NULL, 2), DN_EPS);
}

Test(histo, normalise_with_variances)
{
    double x[4] = {0, 0, 5, 15}, var[4] = {0, 2, 0, 30}, xt[4], sx2[4];
    double I = dn_hist_normalise(xt, sx2, x, var, 4);
    cr_assert_eq(I, 20.0);
    cr_assert_eq(sx2[0], 0.05 * 0.05, "var 0 and x 0: (1/I)^2, got %.17g", sx2[0]);
    cr_assert_leq(rel(sx2[1], 2.0 / 400.0), 1e-15, "var without counts is kept: %.17g", sx2[1]);
    cr_assert_eq(sx2[2], 0.0, "var 0 with counts stays 0");
    cr_assert_leq(rel(sx2[3], 30.0 / 400.0), 1e-15, "%.17g", sx2[3]);
    cr_assert_leq(rel(xt[3], 0.75), 1e-16);
}

Test(histo, chi2_and_pulls_match_the_formulas)
{
    /* 300 bins: more than two chunks, with a tail */
    int n = 300;
    double *xt = malloc(n * sizeof *xt), *sx2 = malloc(n * sizeof *sx2);
    double *mu = malloc(n * sizeof *mu), *sg = malloc(n * sizeof *sg);
    double *pulls = malloc(n * sizeof *pulls);
    for (int j = 0; j < n; j++) {
        xt[j] = (1.0 + sin(j * 0.37)) / n;
        sx2[j] = xt[j] / 5000.0 + 1e-9;
        mu[j] = (1.0 + cos(j * 0.11)) / n;
        sg[j] = 1e-4 * (1 + j % 7);
    }
    double want = 0.0, worst = 0.0;
    double chi2 = dn_hist_chi2(pulls, xt, sx2, mu, sg, n);
    for (int j = 0; j < n; j++) {
        double den = sx2[j] + sg[j] * sg[j];
        want += (xt[j] - mu[j]) * (xt[j] - mu[j]) / den;
        worst = fmax(worst, fabs(pulls[j] - (xt[j] - mu[j]) / sqrt(den)));
    }
    cr_assert_leq(rel(chi2, want), 1e-13, "chi2 %.17g vs %.17g", chi2, want);
    cr_assert_leq(worst, 1e-13, "worst pull difference %.3g", worst);
    cr_assert_eq(dn_hist_chi2(NULL, xt, sx2, mu, sg, n), chi2, "pulls must not change chi2");
    cr_assert_leq(fabs(dn_score_from_chi2(chi2, n) - log(chi2 / n)), 0.0);
    cr_assert(isnan(dn_score_from_chi2(NAN, n)));
    free(xt);
    free(sx2);
    free(mu);
    free(sg);
    free(pulls);
}

/* Bins are named for people: 1-D by index, 2-D by (ix, iy) of the flattened
 * order (x outer: bin = ix * ny + iy) and, only when both axes' edges are
 * known, by the bin's centres. */
Test(histo, bin_names_1d_and_2d)
{
    char buf[96];
    const double ex[5] = {0, 1, 2, 4, 8}, ey[4] = {-1.5, -0.5, 0.5, 1.5};
    dn_hist_bin_name(buf, sizeof buf, 17, 40, 0, NULL, NULL);
    cr_assert_str_eq(buf, "b17");
    /* 4 x 3: bin 10 is ix 3, iy 1 */
    dn_hist_bin_name(buf, sizeof buf, 10, 12, 3, NULL, NULL);
    cr_assert_str_eq(buf, "bin (3,1)");
    dn_hist_bin_name(buf, sizeof buf, 10, 12, 3, ex, ey);
    cr_assert_str_eq(buf, "bin (3,1) at (6, 0)");
    dn_hist_bin_name(buf, sizeof buf, 2, 12, 3, ex, NULL); /* one axis only: no centres */
    cr_assert_str_eq(buf, "bin (0,2)");
    dn_hist_bin_name(buf, sizeof buf, 5, 12, 3, ex, ey);
    cr_assert_str_eq(buf, "bin (1,2) at (1.5, 1)");
    char small[6];
    dn_hist_bin_name(small, sizeof small, 10, 12, 3, ex, ey);
    cr_assert_str_eq(small, "bin (");
    dn_hist_binning_name(buf, sizeof buf, 24, 0);
    cr_assert_str_eq(buf, "24 bins");
    dn_hist_binning_name(buf, sizeof buf, 24, 6);
    cr_assert_str_eq(buf, "4x6 bins (2-D)");
}

/* The worst bins by |pull|, largest first, ties to the lower index, NaN and
 * infinite pulls left out; whole entries only when the buffer is short. */
Test(histo, worst_bins_ranked_and_named)
{
    const double p[12] = {0.5, -8.2, NAN, 3.0, -3.0, INFINITY, 8.2, 1, 0, 0, 0, -0.1};
    const double ex[5] = {0, 1, 2, 4, 8}, ey[4] = {-1.5, -0.5, 0.5, 1.5};
    char buf[256];
    dn_hist_worst_bins(buf, sizeof buf, p, 12, 3, 0, NULL, NULL);
    cr_assert_str_eq(buf, "b1:-8.2 b6:+8.2 b3:+3.0");
    dn_hist_worst_bins(buf, sizeof buf, p, 12, 4, 3, ex, ey);
    cr_assert_str_eq(buf, "bin (0,1) at (0.5, 0):-8.2; bin (2,0) at (3, -1):+8.2; "
                          "bin (1,0) at (1.5, -1):+3.0; bin (1,1) at (1.5, 0):-3.0");
    dn_hist_worst_bins(buf, sizeof buf, p, 12, 2, 3, NULL, NULL);
    cr_assert_str_eq(buf, "bin (0,1):-8.2; bin (2,0):+8.2");
    dn_hist_worst_bins(buf, 20, p, 12, 3, 0, NULL, NULL); /* "b1:-8.2 b6:+8.2" is 15 */
    cr_assert_str_eq(buf, "b1:-8.2 b6:+8.2");
    const double none[2] = {NAN, NAN};
    dn_hist_worst_bins(buf, sizeof buf, none, 2, 3, 0, NULL, NULL);
    cr_assert_str_eq(buf, "");
}
