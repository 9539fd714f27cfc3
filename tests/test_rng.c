/* test_rng.c: the random number generator and its distributions.
 *
 * Binomial draws are checked against the exact pmf by a chi-square goodness of
 * fit (cells with expectation < 5 merged into the tails) for (n, p) in each
 * regime of the sampler: inversion (n*p < 10), BTRS, and p > 0.5 by symmetry,
 * plus mean and variance. A power check makes sure the fit test rejects a 2%
 * error in p, so a passing fit means something. Fixed seeds throughout. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* Upper tail P(X > x) of chi-square with df degrees of freedom
 * (Wilson-Hilferty; accurate to a few percent at the p-values we test). */
static double chi2_sf(double x, double df)
{
    double h = 2.0 / (9.0 * df);
    double z = (cbrt(x / df) - (1.0 - h)) / sqrt(h);
    return 0.5 * erfc(z / sqrt(2.0));
}

static double binom_pmf(uint64_t n, double p, uint64_t k)
{
    double dn = (double)n, dk = (double)k;
    double lc = lgamma(dn + 1) - lgamma(dk + 1) - lgamma(dn - dk + 1);
    double lp = (p > 0 ? dk * log(p) : (k ? -INFINITY : 0)) +
                (p < 1 ? (dn - dk) * log1p(-p) : (k < n ? -INFINITY : 0));
    return exp(lc + lp);
}

typedef struct fit_t {
    double chi2;
    int df;
    double pvalue;
    double mean, var;
} fit_t;

/* Draws `reps` Binomial(n, p_draw) values and fits them against the pmf of
 * Binomial(n, p_model). Cells: every k with expectation >= 5 on its own, the
 * rest pooled into a lower and an upper tail cell. */
static fit_t binomial_fit(uint64_t seed, uint64_t n, double p_draw, double p_model,
                          int reps)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    double np = (double)n * p_model;
    double sd = sqrt(np * (1 - p_model));
    /* Counts are kept for k in [lo, hi]; outside lands in the tails. */
    int64_t lo = (int64_t)floor(np - 12 * sd - 5), hi = (int64_t)ceil(np + 12 * sd + 5);
    if (lo < 0)
        lo = 0;
    if (hi > (int64_t)n)
        hi = (int64_t)n;
    int64_t w = hi - lo + 1;
    double *obs = calloc((size_t)w + 2, sizeof *obs); /* [0] below lo, [w+1] above hi */
    cr_assert_not_null(obs);
    double s1 = 0, s2 = 0;
    for (int r = 0; r < reps; r++) {
        uint64_t x = dn_rng_binomial(&rng, n, p_draw);
        cr_assert(x <= n, "binomial(%llu, %g) gave %llu > n", (unsigned long long)n,
                  p_draw, (unsigned long long)x);
        s1 += (double)x;
        s2 += (double)x * (double)x;
        if ((int64_t)x < lo)
            obs[0]++;
        else if ((int64_t)x > hi)
            obs[w + 1]++;
        else
            obs[x - (uint64_t)lo + 1]++;
    }
    /* Expected per cell; pool small cells from each side inwards. */
    double *ex = calloc((size_t)w + 2, sizeof *ex);
    cr_assert_not_null(ex);
    double in_range = 0;
    for (int64_t k = lo; k <= hi; k++) {
        ex[k - lo + 1] = reps * binom_pmf(n, p_model, (uint64_t)k);
        in_range += ex[k - lo + 1];
    }
    /* Mass outside [lo, hi] is below 1e-30 here; give it to the tails. */
    double outside = reps - in_range;
    ex[0] = outside > 0 ? outside / 2 : 0;
    ex[w + 1] = outside > 0 ? outside / 2 : 0;
    int64_t a = 0, b = w + 1;
    double eo = 0, ee = 0;
    while (a < b && ex[a] + ee < 5) { /* lower tail cell: [0 .. a] pooled */
        ee += ex[a];
        eo += obs[a];
        a++;
    }
    double lo_e = ee, lo_o = eo;
    ee = eo = 0;
    while (b > a && ex[b] + ee < 5) {
        ee += ex[b];
        eo += obs[b];
        b--;
    }
    double hi_e = ee, hi_o = eo;
    fit_t f = {0};
    int cells = 0;
    for (int64_t c = a; c <= b; c++) {
        double e = ex[c], o = obs[c];
        if (c == a) {
            e += lo_e;
            o += lo_o;
        }
        if (c == b) {
            e += hi_e;
            o += hi_o;
        }
        if (e <= 0)
            continue;
        f.chi2 += (o - e) * (o - e) / e;
        cells++;
    }
    f.df = cells - 1;
    f.pvalue = f.df > 0 ? chi2_sf(f.chi2, f.df) : 1.0;
    f.mean = s1 / reps;
    f.var = s2 / reps - f.mean * f.mean;
    free(obs);
    free(ex);
    return f;
}

static void check_binomial(uint64_t seed, uint64_t n, double p, int reps)
{
    fit_t f = binomial_fit(seed, n, p, p, reps);
    double mean = (double)n * p, var = mean * (1 - p);
    double tol_mean = 5 * sqrt(var / reps);
    /* var of the sample variance ~ 2 var^2 / reps (+ kurtosis term, small here) */
    double tol_var = 6 * var * sqrt(2.0 / reps) + 1e-12;
    cr_expect(fabs(f.mean - mean) < tol_mean,
              "Binomial(%llu, %g): mean %.6f vs %.6f (|diff| %.3g > tol %.3g)",
              (unsigned long long)n, p, f.mean, mean, fabs(f.mean - mean), tol_mean);
    cr_expect(fabs(f.var - var) < tol_var,
              "Binomial(%llu, %g): variance %.6f vs %.6f (|diff| %.3g > tol %.3g)",
              (unsigned long long)n, p, f.var, var, fabs(f.var - var), tol_var);
    cr_expect(f.pvalue > 1e-4, "Binomial(%llu, %g): chi2 %.2f on %d df, p-value %.3g",
              (unsigned long long)n, p, f.chi2, f.df, f.pvalue);
}

Test(rng, binomial_inversion_region)
{
    check_binomial(1, 20, 0.3, 200000);     /* n p = 6 */
    check_binomial(2, 1000, 0.003, 200000); /* n p = 3, large n */
    check_binomial(3, 5, 0.5, 200000);      /* symmetric edge p = 0.5 */
    check_binomial(4, 1, 0.25, 100000);     /* Bernoulli */
    check_binomial(5, 1000000, 2e-6, 100000);
}

Test(rng, binomial_btrs_region)
{
    check_binomial(11, 25, 0.4, 200000);     /* n p = 10: first BTRS case */
    check_binomial(12, 100, 0.3, 200000);    /* n p = 30 */
    check_binomial(13, 10000, 0.45, 200000); /* n p = 4500 */
    check_binomial(14, 1000000, 0.2, 100000);
    check_binomial(15, 11000, 0.04, 200000); /* a typical generator bin */
}

Test(rng, binomial_p_above_half)
{
    check_binomial(21, 50, 0.9, 200000);   /* inversion through symmetry */
    check_binomial(22, 200, 0.7, 200000);  /* BTRS through symmetry */
    check_binomial(23, 40, 0.999, 100000); /* n q = 0.04 */
}

Test(rng, binomial_fit_has_power)
{
    /* The same test must reject a sampler whose p is 2% off, in both regimes. */
    fit_t a = binomial_fit(31, 20, 0.3, 0.306, 200000);
    cr_assert(a.pvalue < 1e-6, "inversion: 2%% error in p not detected: chi2 %.2f df %d p %.3g",
              a.chi2, a.df, a.pvalue);
    fit_t b = binomial_fit(32, 1000, 0.3, 0.306, 200000);
    cr_assert(b.pvalue < 1e-6, "BTRS: 2%% error in p not detected: chi2 %.2f df %d p %.3g",
              b.chi2, b.df, b.pvalue);
}

Test(rng, binomial_degenerate_cases)
{
    dn_rng_t rng, before;
    dn_rng_seed(&rng, 7);
    before = rng;
    cr_assert_eq(dn_rng_binomial(&rng, 0, 0.5), 0);
    cr_assert_eq(dn_rng_binomial(&rng, 100, 0.0), 0);
    cr_assert_eq(dn_rng_binomial(&rng, 100, -0.5), 0);
    cr_assert_eq(dn_rng_binomial(&rng, 100, NAN), 0);
    cr_assert_eq(dn_rng_binomial(&rng, 100, 1.0), 100);
    cr_assert_eq(dn_rng_binomial(&rng, 100, 1.5), 100);
    cr_assert(memcmp(&rng, &before, sizeof rng) == 0,
              "degenerate binomials must not consume draws");
    /* Tiny p with huge n stays in range and is mostly 0 or 1. */
    int big = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t x = dn_rng_binomial(&rng, UINT64_C(1) << 40, 1e-15);
        big += x > 10;
    }
    cr_assert_eq(big, 0, "Binomial(2^40, 1e-15) exceeded 10 %d times", big);
}

Test(rng, binomial_is_deterministic)
{
    dn_rng_t a, b;
    dn_rng_seed(&a, 99);
    dn_rng_seed(&b, 99);
    for (int i = 0; i < 10000; i++) {
        uint64_t n = 1 + (uint64_t)i * 37 % 5000;
        double p = (i % 97) / 96.0;
        uint64_t x = dn_rng_binomial(&a, n, p), y = dn_rng_binomial(&b, n, p);
        cr_assert_eq(x, y, "draw %d differs: %llu vs %llu", i, (unsigned long long)x,
                     (unsigned long long)y);
    }
}

Test(rng, multinomial_sums_to_n)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 5);
    double prob[7] = {0.1, 0.0, 0.25, 0.05, 0.3, 0.0, 0.3};
    uint64_t out[7];
    for (int r = 0; r < 2000; r++) {
        uint64_t n = (uint64_t)r * 13;
        dn_rng_multinomial(&rng, n, prob, 7, out);
        uint64_t s = 0;
        for (int i = 0; i < 7; i++)
            s += out[i];
        cr_assert_eq(s, n, "replica %d: cells sum to %llu, not %llu", r,
                     (unsigned long long)s, (unsigned long long)n);
        cr_assert(out[1] == 0 && out[5] == 0, "zero-probability cell got counts");
    }
    /* Weights that do not sum to 1 are normalised: scaling by 2 (exact in binary)
     * gives the identical draw. */
    double twice[7];
    for (int i = 0; i < 7; i++)
        twice[i] = 2 * prob[i];
    dn_rng_t a, b;
    dn_rng_seed(&a, 6);
    dn_rng_seed(&b, 6);
    uint64_t oa[7], ob[7];
    dn_rng_multinomial(&a, 12345, prob, 7, oa);
    dn_rng_multinomial(&b, 12345, twice, 7, ob);
    cr_assert(memcmp(oa, ob, sizeof oa) == 0, "normalisation changes the draw");
    /* All-zero weights: everything in the last cell; k = 1: everything there. */
    double zero[3] = {0, 0, 0};
    uint64_t oz[3];
    dn_rng_multinomial(&a, 77, zero, 3, oz);
    cr_assert(oz[0] == 0 && oz[1] == 0 && oz[2] == 77, "all-zero weights: %llu %llu %llu",
              (unsigned long long)oz[0], (unsigned long long)oz[1], (unsigned long long)oz[2]);
    double one = 1.0;
    uint64_t o1;
    dn_rng_multinomial(&a, 42, &one, 1, &o1);
    cr_assert_eq(o1, 42);
    /* Rounding: weights summing to slightly more than 1. */
    double rounded[3] = {0.5, 0.5000000000000002, 1e-17};
    for (int r = 0; r < 1000; r++) {
        dn_rng_multinomial(&a, 1000, rounded, 3, oz);
        cr_assert_eq(oz[0] + oz[1] + oz[2], 1000);
    }
}

Test(rng, multinomial_marginals)
{
    /* Per-cell means against n p_i: sum of squared z-scores ~ chi-square(k)
     * (cells are correlated, which only makes the sum smaller on average). */
    enum { K = 6, REPS = 40000 };
    const double prob[K] = {0.02, 0.18, 0.4, 0.3, 0.0999, 0.0001};
    const uint64_t n = 5000;
    dn_rng_t rng;
    dn_rng_seed(&rng, 8);
    double s1[K] = {0}, s2[K] = {0};
    uint64_t out[K];
    for (int r = 0; r < REPS; r++) {
        dn_rng_multinomial(&rng, n, prob, K, out);
        for (int i = 0; i < K; i++) {
            s1[i] += (double)out[i];
            s2[i] += (double)out[i] * (double)out[i];
        }
    }
    double chi2 = 0, worst = 0;
    int worst_i = 0;
    for (int i = 0; i < K; i++) {
        double m = s1[i] / REPS, v = s2[i] / REPS - m * m;
        double em = n * prob[i], ev = em * (1 - prob[i]);
        double z = (m - em) / sqrt(ev / REPS);
        chi2 += z * z;
        double rv = fabs(v / ev - 1);
        if (rv > worst) {
            worst = rv;
            worst_i = i;
        }
    }
    cr_expect(chi2_sf(chi2, K) > 1e-4, "multinomial means: chi2 %.2f on %d cells", chi2, K);
    cr_expect(worst < 0.06, "multinomial variance of cell %d off by %.3f (relative)",
              worst_i, worst);
}
