/* test_dinamo_s.c: DINAMO-S against the numpy fixture (tools/make_s_fixture.py)
 * and against a straightforward reimplementation of SPEC 2 written here, plus the
 * tracker's contract: initial reference, reported reference, which runs update,
 * empty and invalid runs, checkpoints, alpha tuning. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinamo_s.h"
#include "histo.h"
#include "metrics.h"
#include "rng.h"

#define REL_TOL 1e-12
/* sigma_mu is an EWMA of |xt - mu| (exactly that at alpha 0), so its rounding
 * error is a few ulps of mu, not of itself: compare it relatively down to
 * SIGMA_FLOOR * mu and absolutely below. */
#define SIGMA_FLOOR 1e-3

/* Relative difference with a floor `scale` below which values compare absolutely:
 * pulls and scores are O(1) quantities whose small values come from cancellation
 * (xt - mu), so for them 1e-12 is absolute below 1. Both NaN counts as equal. */
static double rel_diff(double a, double b, double scale)
{
    if (isnan(a) && isnan(b))
        return 0.0;
    if (isnan(a) || isnan(b))
        return INFINITY;
    double m = fmax(fmax(fabs(a), fabs(b)), scale);
    return m == 0.0 ? 0.0 : fabs(a - b) / m;
}

/* ---- a straightforward SPEC 2 implementation, the way the formulas read ---- */

typedef struct naive_t {
    int n;
    double alpha;
    double *W, *S_mu, *S_sig, *mu, *sigma;
} naive_t;

static void naive_init(naive_t *s, int n, double alpha)
{
    s->n = n;
    s->alpha = alpha;
    s->W = calloc((size_t)n, sizeof(double));
    s->S_mu = calloc((size_t)n, sizeof(double));
    s->S_sig = calloc((size_t)n, sizeof(double));
    s->mu = calloc((size_t)n, sizeof(double));
    s->sigma = calloc((size_t)n, sizeof(double));
    for (int j = 0; j < n; j++) {
        double mu0 = 1.0 / n, i_mu0 = 100.0 * n;
        double sig0 = sqrt(mu0 / i_mu0 - mu0 * mu0 / i_mu0);
        double w0 = 1.0 / (sig0 * sig0 + DN_EPS);
        s->W[j] = (1 - alpha) * w0;
        s->S_mu[j] = (1 - alpha) * w0 * mu0;
        s->S_sig[j] = (1 - alpha) * w0 * sig0 * sig0;
        s->mu[j] = mu0;
        s->sigma[j] = sig0;
    }
}

static void naive_free(naive_t *s)
{
    free(s->W);
    free(s->S_mu);
    free(s->S_sig);
    free(s->mu);
    free(s->sigma);
}

/* Returns chi2 (NAN when empty); ref_mu/ref_sigma get the scoring reference. */
static double naive_step(naive_t *s, const double *x, int good, double *ref_mu,
                         double *ref_sigma, double *pulls)
{
    int n = s->n;
    double I = 0.0;
    for (int j = 0; j < n; j++)
        I += x[j];
    if (!(I > DN_EPS)) {
        for (int j = 0; j < n; j++)
            ref_mu[j] = ref_sigma[j] = pulls[j] = NAN;
        return NAN;
    }
    double *xt = malloc((size_t)n * sizeof(double)), *sx = malloc((size_t)n * sizeof(double));
    double chi2 = 0.0;
    for (int j = 0; j < n; j++) {
        xt[j] = x[j] / I;
        sx[j] = xt[j] == 0.0 ? 1.0 / I : sqrt(xt[j] / I - xt[j] * xt[j] / I);
        double den = sx[j] * sx[j] + s->sigma[j] * s->sigma[j];
        chi2 += (xt[j] - s->mu[j]) * (xt[j] - s->mu[j]) / den;
        pulls[j] = (xt[j] - s->mu[j]) / sqrt(den);
        ref_mu[j] = s->mu[j];
        ref_sigma[j] = s->sigma[j];
    }
    if (good) {
        double a = s->alpha;
        for (int j = 0; j < n; j++) {
            double w = 1.0 / (sx[j] * sx[j] + DN_EPS);
            s->W[j] = a * s->W[j] + (1 - a) * w;
            s->S_sig[j] = a * s->S_sig[j] + (1 - a) * w * (xt[j] - s->mu[j]) * (xt[j] - s->mu[j]);
            s->sigma[j] = sqrt(s->S_sig[j] / s->W[j]);
            s->S_mu[j] = a * s->S_mu[j] + (1 - a) * w * xt[j];
            s->mu[j] = s->S_mu[j] / s->W[j];
        }
    }
    free(xt);
    free(sx);
    return chi2;
}

/* Random histograms: Gaussian events binned on [-5, 5], with drifting mean,
 * occasional shifted (bad) runs, zero bins, empty runs and unknown labels. */
static void make_runs_shift(uint64_t seed, int n_runs, int n_bins, double bad_shift,
                            double *counts, int8_t *labels)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    for (int i = 0; i < n_runs; i++) {
        double *x = counts + (size_t)i * n_bins;
        memset(x, 0, (size_t)n_bins * sizeof *x);
        double u = dn_rng_uniform(&rng);
        labels[i] = u < 0.1 ? 1 : (u < 0.13 ? -1 : 0);
        double mu = 0.5 * sin(M_PI * i / 250.0) + (labels[i] == 1 ? bad_shift : 0.0);
        /* slow drift plus a step change at run 150 that the reference must follow */
        mu += i >= 150 ? 0.8 : 0.0;
        double sigma = labels[i] == 1 && dn_rng_uniform(&rng) < 0.5 ? 1.0 + bad_shift / 2 : 1.0;
        int events = 200 + (int)dn_rng_below(&rng, 3000);
        if (dn_rng_uniform(&rng) < 0.02)
            events = 0;
        for (int e = 0; e < events; e++) {
            double v = mu + sigma * dn_rng_normal(&rng);
            int b = (int)floor((v + 5.0) / 10.0 * n_bins);
            if (b >= 0 && b < n_bins)
                x[b] += 1.0;
        }
        if (labels[i] == 1 && dn_rng_uniform(&rng) < 0.5)
            x[dn_rng_below(&rng, (uint64_t)n_bins)] = 0.0; /* a dead bin */
    }
}

static void make_runs(uint64_t seed, int n_runs, int n_bins, double *counts, int8_t *labels)
{
    make_runs_shift(seed, n_runs, n_bins, 0.6, counts, labels);
}

/* ---- the numpy fixture ---- */

#define FX_BINS 10
#define FX_COLS (3 + FX_BINS + 2 + 3 * FX_BINS)

typedef struct fixture_t {
    int n_rows;
    double (*row)[FX_COLS];
} fixture_t;

static FILE *open_fixture(const char *name)
{
    char path[512];
    const char *prefixes[] = {"tests/fixtures/", "../tests/fixtures/", "fixtures/"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s%s", prefixes[k], name);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    return NULL;
}

static void load_fixture(fixture_t *fx)
{
    FILE *f = open_fixture("dinamo_s_small.csv");
    cr_assert_not_null(f, "tests/fixtures/dinamo_s_small.csv not found (run from the repo root)");
    char line[16384];
    cr_assert_not_null(fgets(line, sizeof line, f), "empty fixture");
    fx->n_rows = 0;
    fx->row = malloc(1000 * sizeof *fx->row);
    while (fgets(line, sizeof line, f)) {
        cr_assert_lt(fx->n_rows, 1000);
        char *save = NULL, *tok = strtok_r(line, ",\n", &save);
        int c = 0;
        while (tok) {
            cr_assert_lt(c, FX_COLS, "too many columns");
            fx->row[fx->n_rows][c++] = strtod(tok, NULL);
            tok = strtok_r(NULL, ",\n", &save);
        }
        cr_assert_eq(c, FX_COLS, "row %d has %d columns", fx->n_rows, c);
        fx->n_rows++;
    }
    fclose(f);
    cr_assert_eq(fx->n_rows, 180, "fixture rows %d", fx->n_rows);
}

typedef struct cmp_t {
    const char *what;
    double got, want, scale;
} cmp_t;

Test(dinamo_s, matches_numpy_fixture)
{
    fixture_t fx;
    load_fixture(&fx);
    double worst = 0.0;
    const char *worst_what = "";
    int worst_row = -1, n_empty = 0, n_checked = 0;
    double worst_got = 0.0, worst_want = 0.0;
    dn_s_t *s = NULL;
    double cur_alpha = -1.0;
    for (int r = 0; r < fx.n_rows; r++) {
        const double *row = fx.row[r];
        double alpha = row[0];
        int label = (int)row[2];
        if (alpha != cur_alpha) {
            dn_s_destroy(&s);
            s = dn_s_new(FX_BINS, alpha);
            cr_assert_not_null(s);
            cur_alpha = alpha;
            cr_assert_eq(row[1], 0.0, "alpha group must start at run 0");
        }
        const double *x = row + 3, *e_chi2 = row + 3 + FX_BINS, *e_score = e_chi2 + 1;
        const double *e_pull = e_score + 1, *e_mu = e_pull + FX_BINS, *e_sig = e_mu + FX_BINS;
        double chi2, pulls[FX_BINS], ref_mu[FX_BINS], ref_sig[FX_BINS];
        dn_err_t err = {0};
        int rc = dn_s_step(s, x, NULL, label == 0, &chi2, pulls, ref_mu, ref_sig, &err);
        if (isnan(*e_chi2)) {
            cr_assert_eq(rc, DN_EEMPTY, "row %d: expected DN_EEMPTY, got %d", r, rc);
            cr_assert(isnan(chi2) && isnan(pulls[0]) && isnan(ref_mu[3]) && isnan(ref_sig[9]));
            n_empty++;
            continue;
        }
        cr_assert_eq(rc, 0, "row %d: rc %d (%s)", r, rc, err.msg);
        cmp_t cmp[4 * FX_BINS + 2];
        int nc = 0;
        cmp[nc++] = (cmp_t){"chi2", chi2, *e_chi2, 0.0};
        double score = dn_score_from_chi2(chi2, FX_BINS);
        cmp[nc++] = (cmp_t){"score", score, *e_score, 1.0};
        for (int j = 0; j < FX_BINS; j++) {
            cmp[nc++] = (cmp_t){"pull", pulls[j], e_pull[j], 1.0};
            cmp[nc++] = (cmp_t){"mu", ref_mu[j], e_mu[j], 0.0};
            cmp[nc++] = (cmp_t){"sigma", ref_sig[j], e_sig[j], SIGMA_FLOOR * fabs(e_mu[j])};
        }
        for (int k = 0; k < nc; k++) {
            double d = rel_diff(cmp[k].got, cmp[k].want, cmp[k].scale);
            n_checked++;
            if (d > worst) {
                worst = d;
                worst_what = cmp[k].what;
                worst_row = r;
                worst_got = cmp[k].got;
                worst_want = cmp[k].want;
            }
        }
    }
    dn_s_destroy(&s);
    free(fx.row);
    printf("dinamo_s fixture: %d values, worst relative difference %.3g (%s, row %d: %.17g vs "
           "numpy %.17g)\n", n_checked, worst, worst_what, worst_row, worst_got, worst_want);
    cr_assert_eq(n_empty, 3, "expected the empty run once per alpha, saw %d", n_empty);
    cr_assert_leq(worst, REL_TOL, "worst relative difference %.3g (%s, row %d) > %g", worst,
                  worst_what, worst_row, REL_TOL);
}

Test(dinamo_s, run_matches_fixture_and_step)
{
    /* dn_s_run over the alpha = 0.75 group gives the same numbers as stepping. */
    fixture_t fx;
    load_fixture(&fx);
    int n = 60, first = -1;
    for (int r = 0; r < fx.n_rows; r++)
        if (fx.row[r][0] == 0.75 && fx.row[r][1] == 0.0)
            first = r;
    cr_assert_geq(first, 0);
    double *counts = malloc((size_t)n * FX_BINS * sizeof(double));
    int8_t labels[60];
    for (int i = 0; i < n; i++) {
        memcpy(counts + i * FX_BINS, fx.row[first + i] + 3, FX_BINS * sizeof(double));
        labels[i] = (int8_t)fx.row[first + i][2];
    }
    double chi2[60], mu[60 * FX_BINS], sig[60 * FX_BINS], pulls[60 * FX_BINS];
    dn_s_t *s = dn_s_new(FX_BINS, 0.75);
    dn_err_t err = {0};
    cr_assert_eq(dn_s_run(s, counts, NULL, labels, n, chi2, mu, sig, pulls, &err), 0, "%s", err.msg);
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        const double *row = fx.row[first + i];
        worst = fmax(worst, rel_diff(chi2[i], row[3 + FX_BINS], 0.0));
        for (int j = 0; j < FX_BINS; j++) {
            worst = fmax(worst, rel_diff(pulls[i * FX_BINS + j], row[5 + FX_BINS + j], 1.0));
            worst = fmax(worst, rel_diff(mu[i * FX_BINS + j], row[5 + 2 * FX_BINS + j], 0.0));
            worst = fmax(worst, rel_diff(sig[i * FX_BINS + j], row[5 + 3 * FX_BINS + j],
                                         SIGMA_FLOOR * fabs(row[5 + 2 * FX_BINS + j])));
        }
    }
    printf("dinamo_s dn_s_run vs fixture: worst relative difference %.3g\n", worst);
    cr_assert_leq(worst, REL_TOL, "dn_s_run worst relative difference %.3g", worst);
    dn_s_destroy(&s);
    free(counts);
    free(fx.row);
}

Test(dinamo_s, matches_naive_reimplementation)
{
    int n_runs = 400, n_bins = 100;
    double *counts = malloc((size_t)n_runs * n_bins * sizeof(double));
    int8_t *labels = malloc((size_t)n_runs);
    make_runs(11, n_runs, n_bins, counts, labels);
    double alphas[] = {0.0, 0.3, 0.8, 0.999};
    double *rm = malloc(n_bins * sizeof(double)), *rs = malloc(n_bins * sizeof(double));
    double *rp = malloc(n_bins * sizeof(double));
    double *nm = malloc(n_bins * sizeof(double)), *ns = malloc(n_bins * sizeof(double));
    double *np_ = malloc(n_bins * sizeof(double));
    double worst = 0.0;
    int worst_run = -1, n_empty = 0;
    for (int a = 0; a < 4; a++) {
        naive_t nv;
        naive_init(&nv, n_bins, alphas[a]);
        dn_s_t *s = dn_s_new(n_bins, alphas[a]);
        for (int i = 0; i < n_runs; i++) {
            const double *x = counts + (size_t)i * n_bins;
            double chi2;
            int rc = dn_s_step(s, x, NULL, labels[i] == 0, &chi2, rp, rm, rs, NULL);
            double want = naive_step(&nv, x, labels[i] == 0, nm, ns, np_);
            if (isnan(want)) {
                cr_assert_eq(rc, DN_EEMPTY, "run %d rc %d", i, rc);
                n_empty++;
            } else {
                cr_assert_eq(rc, 0, "run %d rc %d", i, rc);
            }
            double d = rel_diff(chi2, want, 0.0);
            for (int j = 0; j < n_bins; j++) {
                d = fmax(d, rel_diff(rm[j], nm[j], 0.0));
                d = fmax(d, rel_diff(rs[j], ns[j], SIGMA_FLOOR * fabs(nm[j])));
                d = fmax(d, rel_diff(rp[j], np_[j], 1.0));
            }
            if (d > worst) {
                worst = d;
                worst_run = i;
            }
        }
        double d = 0.0;
        for (int j = 0; j < n_bins; j++) {
            d = fmax(d, rel_diff(dn_s_mu(s)[j], nv.mu[j], 0.0));
            d = fmax(d, rel_diff(dn_s_sigma(s)[j], nv.sigma[j], 0.0));
        }
        worst = fmax(worst, d);
        dn_s_destroy(&s);
        naive_free(&nv);
    }
    printf("dinamo_s vs naive: worst relative difference %.3g (run %d), %d empty runs\n", worst,
           worst_run, n_empty);
    cr_assert_gt(n_empty, 0, "the data should contain empty runs");
    cr_assert_leq(worst, REL_TOL, "worst relative difference %.3g at run %d", worst, worst_run);
    free(counts);
    free(labels);
    free(rm);
    free(rs);
    free(rp);
    free(nm);
    free(ns);
    free(np_);
}

Test(dinamo_s, initial_reference)
{
    for (int n = 1; n <= 130; n += 43) {
        dn_s_t *s = dn_s_new(n, 0.5);
        cr_assert_not_null(s);
        cr_assert_eq(dn_s_n_bins(s), n);
        cr_assert_eq(dn_s_alpha(s), 0.5);
        cr_assert_eq(dn_s_n_updates(s), 0);
        double mu0 = 1.0 / n, sig0 = sqrt(mu0 / (100.0 * n) - mu0 * mu0 / (100.0 * n));
        for (int j = 0; j < n; j++) {
            cr_assert_eq(dn_s_mu(s)[j], mu0, "n %d bin %d mu %.17g", n, j, dn_s_mu(s)[j]);
            cr_assert_eq(dn_s_sigma(s)[j], sig0, "n %d bin %d sigma %.17g vs %.17g", n, j,
                         dn_s_sigma(s)[j], sig0);
        }
        dn_s_destroy(&s);
        cr_assert_null(s);
    }
    cr_assert_null(dn_s_new(0, 0.5));
    cr_assert_null(dn_s_new(10, 1.0));
    cr_assert_null(dn_s_new(10, -0.1));
    cr_assert_null(dn_s_new(10, NAN));
    dn_s_destroy(NULL);
}

Test(dinamo_s, reported_reference_is_the_scoring_one)
{
    int n = 5;
    dn_s_t *s = dn_s_new(n, 0.25);
    double x[5] = {10, 20, 0, 40, 30}, mu_before[5], sig_before[5], rm[5], rs[5], chi2;
    memcpy(mu_before, dn_s_mu(s), sizeof mu_before);
    memcpy(sig_before, dn_s_sigma(s), sizeof sig_before);
    cr_assert_eq(dn_s_step(s, x, NULL, 1, &chi2, NULL, rm, rs, NULL), 0);
    cr_assert_eq(memcmp(rm, mu_before, sizeof rm), 0, "ref_mu must be the pre-update mu");
    cr_assert_eq(memcmp(rs, sig_before, sizeof rs), 0, "ref_sigma must be the pre-update sigma");
    cr_assert_neq(memcmp(dn_s_mu(s), mu_before, sizeof rm), 0, "a good run must update mu");
    cr_assert_eq(dn_s_n_updates(s), 1);
    /* mu after one update at alpha 0.25, by hand for bin 0: xt = 0.1. */
    double I = 100.0, xt = 0.1, sx2 = xt / I - xt * xt / I, w = 1.0 / (sx2 + DN_EPS);
    double mu0 = 0.2, sig0 = sqrt(mu0 / 500.0 - mu0 * mu0 / 500.0);
    double w0 = 1.0 / (sig0 * sig0 + DN_EPS);
    double W = 0.25 * (0.75 * w0) + 0.75 * w, Smu = 0.25 * (0.75 * w0 * mu0) + 0.75 * w * xt;
    cr_assert_leq(rel_diff(dn_s_mu(s)[0], Smu / W, 0.0), 1e-15, "mu %.17g vs %.17g",
                  dn_s_mu(s)[0], Smu / W);
    /* empty bin 2: sx = 1/I so w = 1/(1e-4 + eps) */
    double w2 = 1.0 / (1.0 / (I * I) + DN_EPS);
    double W2 = 0.25 * (0.75 * w0) + 0.75 * w2, Smu2 = 0.25 * (0.75 * w0 * mu0);
    cr_assert_leq(rel_diff(dn_s_mu(s)[2], Smu2 / W2, 0.0), 1e-15, "zero bin mu %.17g vs %.17g",
                  dn_s_mu(s)[2], Smu2 / W2);
    dn_s_destroy(&s);
}

Test(dinamo_s, bad_unknown_and_empty_runs_never_update)
{
    int n = 8, n_runs = 6;
    double counts[6 * 8];
    for (int k = 0; k < n_runs * n; k++)
        counts[k] = 5.0 + (k % 7);
    memset(counts + 2 * n, 0, n * sizeof(double)); /* run 2: empty, labelled good */
    int8_t labels[6] = {1, -1, 0, 1, -1, 1};
    dn_s_t *s = dn_s_new(n, 0.5), *fresh = dn_s_new(n, 0.5);
    double chi2[6], rm[6 * 8];
    dn_err_t err = {0};
    cr_assert_eq(dn_s_run(s, counts, NULL, labels, n_runs, chi2, rm, NULL, NULL, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(dn_s_n_updates(s), 0);
    cr_assert_eq(memcmp(dn_s_mu(s), dn_s_mu(fresh), n * sizeof(double)), 0);
    cr_assert_eq(memcmp(dn_s_sigma(s), dn_s_sigma(fresh), n * sizeof(double)), 0);
    cr_assert(isnan(chi2[2]) && isnan(rm[2 * n]), "empty run must score NAN");
    for (int i = 0; i < n_runs; i++)
        if (i != 2)
            cr_assert(isfinite(chi2[i]) && chi2[i] > 0.0, "run %d chi2 %g", i, chi2[i]);

    double zeros[8] = {0};
    double c, p[8];
    cr_assert_eq(dn_s_step(s, zeros, NULL, 1, &c, p, NULL, NULL, &err), DN_EEMPTY);
    cr_assert(isnan(c) && isnan(p[0]));
    cr_assert(strstr(err.msg, "insufficient") != NULL, "message: %s", err.msg);
    cr_assert_eq(dn_s_update(s, zeros, NULL, &err), DN_EEMPTY);
    double tiny[8] = {1e-10, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(dn_s_update(s, tiny, NULL, &err), DN_EEMPTY, "sum <= eps is empty");
    cr_assert_eq(dn_s_n_updates(s), 0);
    cr_assert_eq(memcmp(dn_s_mu(s), dn_s_mu(fresh), n * sizeof(double)), 0);
    dn_s_destroy(&s);
    dn_s_destroy(&fresh);
}

Test(dinamo_s, invalid_counts_are_range_errors)
{
    int n = 6;
    dn_s_t *s = dn_s_new(n, 0.5), *fresh = dn_s_new(n, 0.5);
    dn_err_t err = {0};
    double c;
    double neg[6] = {1, 2, 3, -3, 5, 6};
    cr_assert_eq(dn_s_step(s, neg, NULL, 1, &c, NULL, NULL, NULL, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "bin 3: negative count -3");
    cr_assert(isnan(c));
    double nan_[6] = {1, 2, 3, 4, NAN, 6};
    cr_assert_eq(dn_s_update(s, nan_, NULL, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "bin 4: NaN count");
    double inf_[6] = {1, INFINITY, 3, 4, 5, 6};
    cr_assert_eq(dn_s_score(s, inf_, NULL, &c, NULL, NULL, NULL, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "bin 1: infinite count");
    double ok[6] = {1, 2, 3, 4, 5, 6}, var[6] = {1, 2, -1, 4, 5, 6};
    cr_assert_eq(dn_s_step(s, ok, var, 1, &c, NULL, NULL, NULL, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "bin 2: negative variance -1");
    double huge[6] = {1e308, 1e308, 0, 0, 0, 0};
    cr_assert_eq(dn_s_step(s, huge, NULL, 1, &c, NULL, NULL, NULL, &err), DN_ERANGE);
    cr_assert(strstr(err.msg, "sum to infinity") != NULL, "%s", err.msg);
    cr_assert_eq(dn_s_n_updates(s), 0);
    cr_assert_eq(memcmp(dn_s_mu(s), dn_s_mu(fresh), n * sizeof(double)), 0);

    /* dn_s_run: the bad run is reported with its index, the rest still scored. */
    double counts[3 * 6] = {1, 2, 3, 4, 5, 6, 1, 2, NAN, 4, 5, 6, 6, 5, 4, 3, 2, 1};
    int8_t labels[3] = {0, 0, 0};
    double chi2[3];
    cr_assert_eq(dn_s_run(s, counts, NULL, labels, 3, chi2, NULL, NULL, NULL, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "run 1: bin 2: NaN count");
    cr_assert(isfinite(chi2[0]) && isnan(chi2[1]) && isfinite(chi2[2]));
    cr_assert_eq(dn_s_n_updates(s), 2);
    dn_s_destroy(&s);
    dn_s_destroy(&fresh);
}

Test(dinamo_s, step_equals_score_then_update)
{
    int n_runs = 200, n_bins = 37;
    double *counts = malloc((size_t)n_runs * n_bins * sizeof(double));
    int8_t *labels = malloc((size_t)n_runs);
    make_runs(5, n_runs, n_bins, counts, labels);
    dn_s_t *a = dn_s_new(n_bins, 0.7), *b = dn_s_new(n_bins, 0.7);
    double pa[37], pb[37], ma[37], mb[37], sa[37], sb[37];
    for (int i = 0; i < n_runs; i++) {
        const double *x = counts + (size_t)i * n_bins;
        double ca, cb;
        int ra = dn_s_step(a, x, NULL, labels[i] == 0, &ca, pa, ma, sa, NULL);
        int rb = dn_s_score(b, x, NULL, &cb, pb, mb, sb, NULL);
        cr_assert_eq(ra, rb);
        if (rb == 0 && labels[i] == 0)
            cr_assert_eq(dn_s_update(b, x, NULL, NULL), 0);
        cr_assert(memcmp(&ca, &cb, sizeof ca) == 0, "run %d chi2 %.17g vs %.17g", i, ca, cb);
        cr_assert(memcmp(pa, pb, sizeof pa) == 0 && memcmp(ma, mb, sizeof ma) == 0 &&
                      memcmp(sa, sb, sizeof sa) == 0, "run %d outputs differ", i);
        /* with no optional outputs the chi2 is the same too */
        double cc;
        dn_s_score(a, x, NULL, &cc, NULL, NULL, NULL, NULL);
    }
    cr_assert_eq(dn_s_n_updates(a), dn_s_n_updates(b));
    cr_assert_eq(memcmp(dn_s_mu(a), dn_s_mu(b), n_bins * sizeof(double)), 0);
    cr_assert_eq(memcmp(dn_s_sigma(a), dn_s_sigma(b), n_bins * sizeof(double)), 0);
    dn_s_destroy(&a);
    dn_s_destroy(&b);
    free(counts);
    free(labels);
}

Test(dinamo_s, outputs_do_not_change_chi2)
{
    /* The fast path (no optional outputs) and the full path agree bit for bit. */
    int n_runs = 100, n_bins = 300; /* more than one chunk */
    double *counts = malloc((size_t)n_runs * n_bins * sizeof(double));
    int8_t *labels = malloc((size_t)n_runs);
    make_runs(8, n_runs, n_bins, counts, labels);
    dn_s_t *a = dn_s_new(n_bins, 0.6), *b = dn_s_new(n_bins, 0.6);
    double *p = malloc(n_bins * sizeof(double));
    for (int i = 0; i < n_runs; i++) {
        const double *x = counts + (size_t)i * n_bins;
        double ca, cb;
        dn_s_step(a, x, NULL, labels[i] == 0, &ca, NULL, NULL, NULL, NULL);
        dn_s_step(b, x, NULL, labels[i] == 0, &cb, p, NULL, NULL, NULL);
        cr_assert(memcmp(&ca, &cb, sizeof ca) == 0, "run %d: %.17g vs %.17g", i, ca, cb);
    }
    cr_assert_eq(memcmp(dn_s_mu(a), dn_s_mu(b), n_bins * sizeof(double)), 0);
    dn_s_destroy(&a);
    dn_s_destroy(&b);
    free(p);
    free(counts);
    free(labels);
}

Test(dinamo_s, outputs_together_equal_outputs_alone)
{
    /* Pulls, ref_mu and ref_sigma asked for together take one fused loop per chunk;
     * asked for one at a time, the separate loops. Same bits for every output and
     * the state, over chunk boundaries and an 8-bin tail (300 = 128 + 128 + 44
     * bins), with sigma stale (after an update) and fresh (dn_s_sigma asked). */
    int n_runs = 120, n_bins = 300;
    double *counts = malloc((size_t)n_runs * n_bins * sizeof(double));
    int8_t *labels = malloc((size_t)n_runs);
    make_runs(21, n_runs, n_bins, counts, labels);
    enum { ALL, PULLS, MU, SIGMA, N_TRK };
    dn_s_t *t[N_TRK];
    double *out[N_TRK][3];
    for (int k = 0; k < N_TRK; k++) {
        t[k] = dn_s_new(n_bins, 0.75);
        cr_assert(t[k]);
        for (int o = 0; o < 3; o++)
            out[k][o] = malloc(n_bins * sizeof(double));
    }
    int n_fresh = 0;
    for (int i = 0; i < n_runs; i++) {
        const double *x = counts + (size_t)i * n_bins;
        int good = labels[i] == 0;
        if (i % 7 == 3) { /* sigma fresh for the next step of every tracker */
            for (int k = 0; k < N_TRK; k++)
                dn_s_sigma(t[k]);
            n_fresh++;
        }
        double c[N_TRK];
        dn_s_step(t[ALL], x, NULL, good, &c[ALL], out[ALL][0], out[ALL][1], out[ALL][2], NULL);
        dn_s_step(t[PULLS], x, NULL, good, &c[PULLS], out[PULLS][0], NULL, NULL, NULL);
        dn_s_step(t[MU], x, NULL, good, &c[MU], NULL, out[MU][1], NULL, NULL);
        dn_s_step(t[SIGMA], x, NULL, good, &c[SIGMA], NULL, NULL, out[SIGMA][2], NULL);
        for (int k = PULLS; k < N_TRK; k++) {
            int o = k - PULLS;
            cr_assert(memcmp(&c[ALL], &c[k], sizeof c[k]) == 0, "run %d chi2 %.17g vs %.17g",
                      i, c[ALL], c[k]);
            for (int j = 0; j < n_bins; j++)
                cr_assert(memcmp(&out[ALL][o][j], &out[k][o][j], sizeof(double)) == 0,
                          "run %d output %d bin %d: %.17g together, %.17g alone", i, o, j,
                          out[ALL][o][j], out[k][o][j]);
        }
    }
    cr_assert(n_fresh > 10);
    for (int k = PULLS; k < N_TRK; k++) {
        cr_assert_eq(memcmp(dn_s_mu(t[ALL]), dn_s_mu(t[k]), n_bins * sizeof(double)), 0);
        cr_assert_eq(memcmp(dn_s_sig2(t[ALL]), dn_s_sig2(t[k]), n_bins * sizeof(double)), 0);
    }
    for (int k = 0; k < N_TRK; k++) {
        for (int o = 0; o < 3; o++)
            free(out[k][o]);
        dn_s_destroy(&t[k]);
    }
    free(counts);
    free(labels);
}

Test(dinamo_s, variance_input)
{
    /* var = counts reproduces the Poisson rule up to rounding except where
     * sx2 = xt/I - xt^2/I differs from x/I^2: compare with the formula directly. */
    int n = 4;
    double x[4] = {0, 10, 30, 60}, var[4] = {0, 4, 9, 0}, xt[4], sx2[4];
    double I = dn_hist_normalise(xt, sx2, x, var, n);
    cr_assert_eq(I, 100.0);
    cr_assert_eq(sx2[0], 1.0 / (I * I), "empty bin with zero variance gets 1/I^2");
    cr_assert_eq(sx2[1], 4.0 / I / I);
    cr_assert_eq(sx2[3], 0.0, "zero variance in a filled bin stays zero");
    dn_s_t *s = dn_s_new(n, 0.5);
    double chi2, want = 0.0;
    cr_assert_eq(dn_s_score(s, x, var, &chi2, NULL, NULL, NULL, NULL), 0);
    for (int j = 0; j < n; j++) {
        double d = xt[j] - dn_s_mu(s)[j];
        want += d * d / (sx2[j] + dn_s_sigma(s)[j] * dn_s_sigma(s)[j]);
    }
    cr_assert_leq(rel_diff(chi2, want, 0.0), 1e-14, "chi2 %.17g vs %.17g", chi2, want);
    dn_s_destroy(&s);
}

Test(dinamo_s, save_load_continues_bit_identically)
{
    int n_runs = 300, n_bins = 100;
    double *counts = malloc((size_t)n_runs * n_bins * sizeof(double));
    int8_t *labels = malloc((size_t)n_runs);
    make_runs(21, n_runs, n_bins, counts, labels);
    for (int at = 0; at <= 150; at += 150) { /* a fresh tracker and a used one */
        dn_s_t *a = dn_s_new(n_bins, 0.83), *b = NULL;
        for (int i = 0; i < at; i++)
            dn_s_step(a, counts + (size_t)i * n_bins, NULL, labels[i] == 0, NULL, NULL, NULL,
                      NULL, NULL);
        size_t len = dn_s_state_size(a);
        cr_assert_eq(len, 24 + 40 * (size_t)n_bins + 8 + 56);
        unsigned char *buf = malloc(len);
        cr_assert_eq(dn_s_save(a, buf, len - 1), DN_EINVAL);
        cr_assert_eq(dn_s_save(a, buf, len), 0);
        dn_err_t err = {0};
        cr_assert_eq(dn_s_load(buf, len, &b, &err), 0, "%s", err.msg);
        cr_assert_eq(dn_s_n_updates(b), dn_s_n_updates(a));
        cr_assert_eq(dn_s_alpha(b), dn_s_alpha(a));
        for (int i = at; i < n_runs; i++) {
            const double *x = counts + (size_t)i * n_bins;
            double ca, cb;
            dn_s_step(a, x, NULL, labels[i] == 0, &ca, NULL, NULL, NULL, NULL);
            dn_s_step(b, x, NULL, labels[i] == 0, &cb, NULL, NULL, NULL, NULL);
            cr_assert(memcmp(&ca, &cb, sizeof ca) == 0, "at %d run %d: %.17g vs %.17g", at, i,
                      ca, cb);
        }
        cr_assert_eq(memcmp(dn_s_mu(a), dn_s_mu(b), n_bins * sizeof(double)), 0);
        cr_assert_eq(memcmp(dn_s_sigma(a), dn_s_sigma(b), n_bins * sizeof(double)), 0);

        /* corruptions */
        dn_s_t *c = NULL;
        unsigned char *bad = malloc(len);
        memcpy(bad, buf, len);
        bad[0] = 'X';
        cr_assert_eq(dn_s_load(bad, len, &c, &err), DN_EFORMAT);
        cr_assert(strstr(err.msg, "magic"), "%s", err.msg);
        memcpy(bad, buf, len);
        bad[4] = 3;
        cr_assert_eq(dn_s_load(bad, len, &c, &err), DN_EFORMAT);
        cr_assert(strstr(err.msg, "version"), "%s", err.msg);
        cr_assert_eq(dn_s_load(buf, len - 8, &c, &err), DN_EFORMAT);
        cr_assert_eq(dn_s_load(buf, 10, &c, &err), DN_EFORMAT);
        memcpy(bad, buf, len);
        double nan_ = NAN;
        memcpy(bad + 24 + 8 * (3 * n_bins + 7), &nan_, 8); /* mu[7] */
        cr_assert_eq(dn_s_load(bad, len, &c, &err), DN_EFORMAT);
        cr_assert(strstr(err.msg, "mu[7]"), "%s", err.msg);
        memcpy(bad, buf, len);
        double one = 1.0;
        memcpy(bad + 16, &one, 8); /* alpha 1 */
        cr_assert_eq(dn_s_load(bad, len, &c, &err), DN_EFORMAT);
        cr_assert_null(c);
        free(bad);
        free(buf);
        dn_s_destroy(&a);
        dn_s_destroy(&b);
    }
    free(counts);
    free(labels);
}

static double brute_auc(const double *counts, const int8_t *labels, int n_hist, int n_bins,
                        double alpha, double *chi2, double *score)
{
    dn_s_t *s = dn_s_new(n_bins, alpha);
    dn_s_run(s, counts, NULL, labels, n_hist, chi2, NULL, NULL, NULL, NULL);
    for (int i = 0; i < n_hist; i++)
        score[i] = dn_score_from_chi2(chi2[i], n_bins);
    dn_s_destroy(&s);
    return dn_roc_auc(score, labels, n_hist);
}

Test(dinamo_s, tune_alpha_finds_the_best_grid_point)
{
    int n_hist = 400, n_bins = 50;
    double *counts = malloc((size_t)n_hist * n_bins * sizeof(double));
    int8_t *labels = malloc((size_t)n_hist);
    make_runs_shift(3, n_hist, n_bins, 0.12, counts, labels);
    double alpha = -1, auc = -1;
    dn_err_t err = {0};
    cr_assert_eq(dn_s_tune_alpha(counts, NULL, labels, n_hist, n_bins, 0.0, &alpha, &auc, &err), 0, "%s",
                 err.msg);
    /* brute force of the coarse scan and the refinement with the public API */
    double *chi2 = malloc(n_hist * sizeof(double)), *score = malloc(n_hist * sizeof(double));
    double best_coarse = -1.0, want_auc = -1.0;
    int best_k = -1, want_m = -1;
    for (int k = 0; k < 100; k++) {
        double a = brute_auc(counts, labels, n_hist, n_bins, k / 100.0, chi2, score);
        if (a > best_coarse) {
            best_coarse = a;
            best_k = k;
        }
    }
    for (int m = best_k * 10 - 10; m <= best_k * 10 + 10; m++) {
        if (m < 0 || m > 999)
            continue;
        double a = brute_auc(counts, labels, n_hist, n_bins, m / 1000.0, chi2, score);
        if (a > want_auc) {
            want_auc = a;
            want_m = m;
        }
    }
    printf("dinamo_s tune: alpha %.3f auc %.6f (coarse best %.2f auc %.6f)\n", alpha, auc,
           best_k / 100.0, best_coarse);
    cr_assert_eq(alpha, want_m / 1000.0, "alpha %.17g, brute force %.17g", alpha, want_m / 1000.0);
    cr_assert_eq(auc, want_auc, "reported auc %.17g, brute force %.17g", auc, want_auc);
    cr_assert_geq(auc, best_coarse, "refined auc %.17g below coarse best %.17g", auc, best_coarse);
    cr_assert(alpha >= 0.0 && alpha <= 0.999);
    cr_assert_eq(alpha, round(alpha * 1000.0) / 1000.0, "alpha %.17g not on the 0.001 grid", alpha);
    cr_assert_gt(auc, 0.8, "synthetic anomalies should be easy to separate (auc %g)", auc);

    /* no bad run: EINVAL */
    for (int i = 0; i < n_hist; i++)
        if (labels[i] == 1)
            labels[i] = 0;
    cr_assert_eq(dn_s_tune_alpha(counts, NULL, labels, n_hist, n_bins, 0.0, &alpha, &auc, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "0 bad"), "%s", err.msg);
    counts[7 * n_bins + 4] = -2.0;
    cr_assert_eq(dn_s_tune_alpha(counts, NULL, labels, n_hist, n_bins, 0.0, &alpha, &auc, &err), DN_ERANGE);
    cr_assert_str_eq(err.msg, "run 7: bin 4: negative count -2");
    free(chi2);
    free(score);
    free(counts);
    free(labels);
}

/* ---- statistical debiasing (the reference's stat_debiasing) ---- */

#define DB_BINS 8
#define DB_COLS (3 + DB_BINS + 3 + 3 * DB_BINS)
#define DB_ROWS 60
#define DB_RESAMPLES 20000
/* Monte-Carlo tolerance in standard errors: ours and the reference's are each a
 * mean of DB_RESAMPLES draws; 5 SE of their difference (sqrt(2) SE) leaves
 * ~1e-6 false alarms per value over the ~1000 values compared. */
#define DB_NSE 5.0

static void load_db_fixture(double (*row)[DB_COLS])
{
    FILE *f = open_fixture("ref_debias_small.csv");
    cr_assert_not_null(f, "tests/fixtures/ref_debias_small.csv not found (run from the repo root)");
    char line[16384];
    cr_assert_not_null(fgets(line, sizeof line, f), "empty fixture");
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        cr_assert_lt(n, DB_ROWS);
        char *save = NULL, *tok = strtok_r(line, ",\n", &save);
        int c = 0;
        while (tok) {
            cr_assert_lt(c, DB_COLS, "too many columns");
            row[n][c++] = strtod(tok, NULL);
            tok = strtok_r(NULL, ",\n", &save);
        }
        cr_assert_eq(c, DB_COLS, "row %d has %d columns", n, c);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, DB_ROWS, "fixture rows %d", n);
}

/* The analytic moments of one bin of a debiased run, from the reference's
 * numbers (xt, sx2 from the counts; mu, sig_mu, integrals from the fixture):
 * mean of the chi2 term and of the pull, and the variance of one resample's
 * chi2 term and pull. d = d0 -+ s z with z standard normal, so
 * E[d^2] = d0^2 + s^2, Var[d^2] = 4 d0^2 s^2 + 2 s^4, Var[d] = s^2. */
static void db_moments(double xt, double sx2, double mu, double sig_mu, double i_x,
                       double i_mu, double *e_term, double *v_term, double *e_pull,
                       double *v_pull)
{
    (void)i_x;
    double s2 = sig_mu * sig_mu, var_r, den;
    if (i_mu >= i_x) {
        var_r = s2 + sx2;
        den = 2.0 * sx2 + s2;
    } else {
        double sp = mu == 0.0 ? 1.0 / i_mu : sqrt(mu / i_mu - mu * mu / i_mu);
        var_r = s2 + sp * sp;
        den = sx2 + s2 + sp * sp;
    }
    double d0 = xt - mu;
    *e_term = (d0 * d0 + var_r) / den;
    *v_term = (4.0 * d0 * d0 * var_r + 2.0 * var_r * var_r) / (den * den);
    *e_pull = d0 / sqrt(den);
    *v_pull = var_r / den;
}

Test(dinamo_s, debiasing_matches_reference_statistically)
{
    static double row[DB_ROWS][DB_COLS];
    load_db_fixture(row);
    dn_s_t *s = NULL;
    double worst_ref = 0, worst_an = 0, worst_ref_an = 0, worst_pull = 0, worst_det = 0;
    int n_above = 0, n_below = 0, n_p = 0;
    /* sums of squared deviations from the expectation in SE: a chi2 test of the
     * whole sample (each value's 5 SE bound alone would miss a 20% wrong spread) */
    double ss_chi2 = 0, ss_pull = 0, ss_ref_chi2 = 0, ss_ref_pull = 0;
    for (int r = 0; r < DB_ROWS; r++) {
        const double *w = row[r];
        double alpha = w[0];
        int run = (int)w[1], label = (int)w[2];
        const double *x = w + 3, i_x = w[3 + DB_BINS], i_mu = w[4 + DB_BINS];
        const double ref_chi2 = w[5 + DB_BINS], *ref_pull = w + 6 + DB_BINS;
        const double *ref_mu = ref_pull + DB_BINS, *ref_sig = ref_mu + DB_BINS;
        if (run == 0) {
            dn_s_destroy(&s);
            s = dn_s_new(DB_BINS, alpha);
            cr_assert_eq(dn_s_set_debiasing(s, DB_RESAMPLES, 22, NULL), 0);
        }
        /* the reference's integral, learned by the tracker */
        double d_int = fabs(dn_s_integral(s) - i_mu) / i_mu;
        worst_det = fmax(worst_det, d_int);
        cr_assert_lt(d_int, 1e-12, "alpha %g run %d: integral %.17g vs reference %.17g", alpha,
                     run, dn_s_integral(s), i_mu);
        i_mu >= i_x ? n_above++ : n_below++;
        double chi2, pulls[DB_BINS], mu[DB_BINS], sig[DB_BINS];
        cr_assert_eq(dn_s_step(s, x, NULL, label == 0, &chi2, pulls, mu, sig, NULL), 0);
        double e_chi2 = 0, v_chi2 = 0;
        for (int j = 0; j < DB_BINS; j++) {
            double dm = rel_diff(mu[j], ref_mu[j], 1e-3), ds = rel_diff(sig[j], ref_sig[j], 1e-6);
            worst_det = fmax(worst_det, fmax(dm, ds));
            cr_assert_lt(fmax(dm, ds), 1e-10, "alpha %g run %d bin %d: reference differs", alpha,
                         run, j);
            double xt = x[j] / i_x;
            double sx2 = x[j] == 0 ? 1.0 / (i_x * i_x) : xt / i_x - xt * xt / i_x;
            double et, vt, ep, vp;
            db_moments(xt, sx2, ref_mu[j], ref_sig[j], i_x, i_mu, &et, &vt, &ep, &vp);
            e_chi2 += et;
            v_chi2 += vt;
            double se_p = sqrt(vp / DB_RESAMPLES);
            double dp = fabs(pulls[j] - ref_pull[j]) / (sqrt(2.0) * se_p);
            double dpa = fmax(fabs(pulls[j] - ep), fabs(ref_pull[j] - ep)) / se_p;
            ss_pull += (pulls[j] - ep) * (pulls[j] - ep) / (se_p * se_p);
            ss_ref_pull += (ref_pull[j] - ep) * (ref_pull[j] - ep) / (se_p * se_p);
            n_p++;
            worst_pull = fmax(worst_pull, fmax(dp, dpa));
            cr_assert_lt(fmax(dp, dpa), DB_NSE,
                         "alpha %g run %d bin %d: pull %.10g, reference %.10g, expected %.10g, "
                         "SE %.3g", alpha, run, j, pulls[j], ref_pull[j], ep, se_p);
        }
        double se = sqrt(v_chi2 / DB_RESAMPLES);
        double d_ref = fabs(chi2 - ref_chi2) / (sqrt(2.0) * se);
        double d_an = fabs(chi2 - e_chi2) / se, d_ref_an = fabs(ref_chi2 - e_chi2) / se;
        ss_chi2 += d_an * d_an;
        ss_ref_chi2 += d_ref_an * d_ref_an;
        worst_ref = fmax(worst_ref, d_ref);
        worst_an = fmax(worst_an, d_an);
        worst_ref_an = fmax(worst_ref_an, d_ref_an);
        cr_assert(d_ref < DB_NSE && d_an < DB_NSE && d_ref_an < DB_NSE,
                  "alpha %g run %d: chi2 %.10g, reference %.10g, expected %.10g, SE %.3g", alpha,
                  run, chi2, ref_chi2, e_chi2, se);
    }
    dn_s_destroy(&s);
    cr_assert(n_above > 10 && n_below > 10, "both branches: %d and %d runs", n_above, n_below);
    /* mean squared deviation in SE: chi2(k)/k has sd sqrt(2/k): 0.18 for the 60
     * chi2 values, 0.065 for the 480 pulls; bounds at ~4 sd */
    double ms_c = ss_chi2 / DB_ROWS, ms_p = ss_pull / n_p;
    double ms_rc = ss_ref_chi2 / DB_ROWS, ms_rp = ss_ref_pull / n_p;
    printf("dinamo_s debiasing: mean squared deviation from the expectation in SE^2: chi2 "
           "%.3f (reference %.3f), pulls %.3f (reference %.3f)\n", ms_c, ms_rc, ms_p, ms_rp);
    cr_assert(ms_c > 0.3 && ms_c < 1.75 && ms_p > 0.75 && ms_p < 1.25,
              "our spread: chi2 %.3f, pulls %.3f SE^2 (reference's: %.3f, %.3f)", ms_c, ms_p,
              ms_rc, ms_rp);
    printf("dinamo_s debiasing vs reference (%d resamples, %d runs resampling the reference, "
           "%d the run): worst |chi2 - ref| %.2f SE of the difference, |chi2 - E| %.2f SE, "
           "reference's |chi2 - E| %.2f SE, worst pull %.2f SE; deterministic parts %.2g\n",
           DB_RESAMPLES, n_above, n_below, worst_ref, worst_an, worst_ref_an, worst_pull,
           worst_det);
}

Test(dinamo_s, debiasing_off_is_the_plain_path_bit_for_bit)
{
    int n_runs = 120, n_bins = 37;
    double *counts = malloc((size_t)n_runs * n_bins * sizeof(double));
    int8_t *labels = malloc((size_t)n_runs);
    make_runs(5, n_runs, n_bins, counts, labels);
    dn_s_t *a = dn_s_new(n_bins, 0.7), *b = dn_s_new(n_bins, 0.7);
    cr_assert_eq(dn_s_set_debiasing(b, 50, 3, NULL), 0);
    cr_assert_eq(dn_s_set_debiasing(b, 0, 3, NULL), 0);
    for (int i = 0; i < n_runs; i++) {
        const double *x = counts + (size_t)i * n_bins;
        double ca, cb, pa[37], pb[37];
        dn_s_step(a, x, NULL, labels[i] == 0, &ca, pa, NULL, NULL, NULL);
        dn_s_step(b, x, NULL, labels[i] == 0, &cb, pb, NULL, NULL, NULL);
        cr_assert(memcmp(&ca, &cb, sizeof ca) == 0 && memcmp(pa, pb, sizeof pa) == 0,
                  "run %d: %.17g vs %.17g", i, ca, cb);
    }
    dn_s_destroy(&a);
    dn_s_destroy(&b);
    free(counts);
    free(labels);
}

Test(dinamo_s, debiasing_state_saved_copied_and_v1_loads)
{
    int n_runs = 200, n_bins = 20;
    double *counts = malloc((size_t)n_runs * n_bins * sizeof(double));
    int8_t *labels = malloc((size_t)n_runs);
    make_runs(9, n_runs, n_bins, counts, labels);
    dn_s_t *a = dn_s_new(n_bins, 0.8), *b = NULL, *c = dn_s_new(n_bins, 0.1);
    dn_err_t err = {0};
    cr_assert_eq(dn_s_set_debiasing(a, 64, 22, &err), 0);
    for (int i = 0; i < 100; i++)
        dn_s_step(a, counts + (size_t)i * n_bins, NULL, labels[i] == 0, NULL, NULL, NULL, NULL,
                  NULL);
    size_t len = dn_s_state_size(a);
    unsigned char *buf = malloc(len);
    cr_assert_eq(dn_s_save(a, buf, len), 0);
    cr_assert_eq(dn_s_load(buf, len, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_s_copy(c, a), 0);
    cr_assert_eq(dn_s_n_resamples(b), 64);
    cr_assert_eq(dn_s_integral(b), dn_s_integral(a));
    for (int i = 100; i < n_runs; i++) {
        const double *x = counts + (size_t)i * n_bins;
        double ca, cb, cc;
        dn_s_step(a, x, NULL, labels[i] == 0, &ca, NULL, NULL, NULL, NULL);
        dn_s_step(b, x, NULL, labels[i] == 0, &cb, NULL, NULL, NULL, NULL);
        dn_s_step(c, x, NULL, labels[i] == 0, &cc, NULL, NULL, NULL, NULL);
        cr_assert(memcmp(&ca, &cb, sizeof ca) == 0 && memcmp(&ca, &cc, sizeof ca) == 0,
                  "run %d: %.17g, loaded %.17g, copied %.17g", i, ca, cb, cc);
    }
    /* an all-zero generator state is refused */
    unsigned char *bad = malloc(len);
    memcpy(bad, buf, len);
    memset(bad + len - 32, 0, 32);
    dn_s_t *d = NULL;
    cr_assert_eq(dn_s_load(bad, len, &d, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "generator"), "%s", err.msg);
    /* a version 1 state (today's format before debiasing) still loads: the plain
     * tracker continues bit for bit, debiasing off */
    dn_s_t *p = dn_s_new(n_bins, 0.8), *q = NULL;
    for (int i = 0; i < 100; i++)
        dn_s_step(p, counts + (size_t)i * n_bins, NULL, labels[i] == 0, NULL, NULL, NULL, NULL,
                  NULL);
    cr_assert_eq(dn_s_save(p, buf, len), 0);
    size_t len1 = len - 56;
    buf[4] = 1;
    cr_assert_eq(dn_s_load(buf, len, &q, &err), DN_EFORMAT); /* v1 with the v2 tail */
    cr_assert_eq(dn_s_load(buf, len1, &q, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_s_n_resamples(q), 0);
    cr_assert_eq(dn_s_integral(q), 100.0 * n_bins);
    for (int i = 100; i < n_runs; i++) {
        const double *x = counts + (size_t)i * n_bins;
        double cp, cq;
        dn_s_step(p, x, NULL, labels[i] == 0, &cp, NULL, NULL, NULL, NULL);
        dn_s_step(q, x, NULL, labels[i] == 0, &cq, NULL, NULL, NULL, NULL);
        cr_assert(memcmp(&cp, &cq, sizeof cp) == 0, "v1 run %d: %.17g vs %.17g", i, cp, cq);
    }
    free(bad);
    free(buf);
    dn_s_destroy(&a);
    dn_s_destroy(&b);
    dn_s_destroy(&c);
    dn_s_destroy(&p);
    dn_s_destroy(&q);
    free(counts);
    free(labels);
}

Test(dinamo_s, debiasing_bad_settings_and_seeds)
{
    dn_s_t *s = dn_s_new(10, 0.5);
    dn_err_t err = {0};
    cr_assert_eq(dn_s_set_debiasing(s, -1, 22, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "n_resamples -1"), "%s", err.msg);
    cr_assert_eq(dn_s_set_debiasing(s, DN_S_MAX_RESAMPLES + 1, 22, &err), DN_EINVAL);
    cr_assert_eq(dn_s_n_resamples(s), 0);
    dn_s_destroy(&s);
    /* key streams: distinct per key and per seed, the seed itself without a key */
    cr_assert_eq(dn_s_debias_seed(22, NULL), 22);
    cr_assert_neq(dn_s_debias_seed(22, "a"), dn_s_debias_seed(22, "b"));
    cr_assert_neq(dn_s_debias_seed(22, "a"), dn_s_debias_seed(23, "a"));
}

Test(dinamo_s, debiased_tuning_reproducible_and_off_is_plain)
{
    int n_hist = 200, n_bins = 16;
    double *counts = malloc((size_t)n_hist * n_bins * sizeof(double));
    int8_t *labels = malloc((size_t)n_hist);
    make_runs(31, n_hist, n_bins, counts, labels);
    double a0, auc0, a1, auc1, b0, bauc0, b1, bauc1;
    dn_err_t err = {0};
    cr_assert_eq(dn_s_tune_alpha(counts, NULL, labels, n_hist, n_bins, 0, &a0, &auc0, &err), 0);
    cr_assert_eq(dn_s_tune_alpha_debiased(counts, NULL, labels, n_hist, n_bins, 0, 0, 22, &a1,
                                          &auc1, &err), 0);
    cr_assert(a0 == a1 && auc0 == auc1, "off: %g/%g vs %g/%g", a0, auc0, a1, auc1);
    cr_assert_eq(dn_s_tune_alpha_debiased(counts, NULL, labels, n_hist, n_bins, 0, 20, 22, &b0,
                                          &bauc0, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_s_tune_alpha_debiased(counts, NULL, labels, n_hist, n_bins, 0, 20, 22, &b1,
                                          &bauc1, &err), 0);
    cr_assert(b0 == b1 && bauc0 == bauc1, "same seed: %g/%g vs %g/%g", b0, bauc0, b1, bauc1);
    cr_assert(bauc0 > 0.5 && bauc0 <= 1.0, "debiased AUC %g", bauc0);
    /* the tuned AUC is what scoring at that alpha from the seed gives */
    dn_s_t *s = dn_s_new(n_bins, b0);
    dn_s_set_debiasing(s, 20, 22, NULL);
    double *score = malloc((size_t)n_hist * sizeof *score);
    for (int i = 0; i < n_hist; i++) {
        double c2;
        dn_s_step(s, counts + (size_t)i * n_bins, NULL, labels[i] == 0, &c2, NULL, NULL, NULL,
                  NULL);
        score[i] = dn_score_from_chi2(c2, n_bins);
    }
    double auc = dn_roc_auc(score, labels, n_hist);
    cr_assert_eq(auc, bauc0, "AUC at alpha %g: %.17g, tuning said %.17g", b0, auc, bauc0);
    cr_assert_eq(dn_s_tune_alpha_debiased(counts, NULL, labels, n_hist, n_bins, 0, -2, 22, &b1,
                                          &bauc1, &err), DN_EINVAL);
    printf("dinamo_s tune: plain alpha %.3f AUC %.4f; debiased (20 resamples) alpha %.3f AUC "
           "%.4f\n", a0, auc0, b0, bauc0);
    free(score);
    dn_s_destroy(&s);
    free(counts);
    free(labels);
}

/* The draws' law for few resamples (the shortcut of dinamo_s.c draws the
 * resamples' mean and mean square, not the resamples): scoring one run many
 * times, the mean and variance of chi2 are the analytic ones of an average of
 * R resamples, E = sum (d0^2 + v)/den and Var = sum (4 d0^2 v + 2 v^2)/den^2/R,
 * in both branches. */
Test(dinamo_s, debiasing_law_for_few_resamples)
{
    enum { NB = 4, N = 40000 };
    const double xs[2][NB] = {{30, 90, 60, 20}, {900, 2100, 1500, 400}}; /* I_x < and > 400 */
    const int rs[4] = {1, 2, 3, 10};
    double worst_m = 0, worst_v = 0;
    for (int b = 0; b < 2; b++) {
        for (int k = 0; k < 4; k++) {
            dn_s_t *s = dn_s_new(NB, 0.5);
            cr_assert_eq(dn_s_set_debiasing(s, rs[k], 100 + k, NULL), 0);
            const double *mu = dn_s_mu(s), *sig2 = dn_s_sig2(s), *x = xs[b];
            double ix = 0, i_mu = dn_s_integral(s), e = 0, var = 0;
            for (int j = 0; j < NB; j++)
                ix += x[j];
            for (int j = 0; j < NB; j++) {
                double xt = x[j] / ix, sx2 = xt / ix - xt * xt / ix, v, den;
                if (i_mu >= ix) {
                    v = sig2[j] + sx2;
                    den = 2 * sx2 + sig2[j];
                } else {
                    double sp2 = mu[j] / i_mu - mu[j] * mu[j] / i_mu;
                    v = sig2[j] + sp2;
                    den = sx2 + sig2[j] + sp2;
                }
                double d0 = xt - mu[j];
                e += (d0 * d0 + v) / den;
                var += (4 * d0 * d0 * v + 2 * v * v) / (den * den) / rs[k];
            }
            double sum = 0, sum2 = 0;
            for (int i = 0; i < N; i++) {
                double c2;
                cr_assert_eq(dn_s_score(s, x, NULL, &c2, NULL, NULL, NULL, NULL), 0);
                sum += c2;
                sum2 += c2 * c2;
            }
            double m = sum / N, v_hat = sum2 / N - m * m;
            double dm = fabs(m - e) / sqrt(var / N), dv = fabs(v_hat / var - 1);
            worst_m = fmax(worst_m, dm);
            worst_v = fmax(worst_v, dv);
            /* the sample variance of a chi2-like law with few degrees of freedom
             * spreads more than a normal's: 8% is > 4 of its SEs at N = 40000 */
            cr_assert(dm < 5 && dv < 0.08, "%s branch, R %d: mean %.6g (E %.6g, %.2f SE), "
                      "variance %.6g (expected %.6g)", b ? "run" : "reference", rs[k], m, e,
                      dm, v_hat, var);
            dn_s_destroy(&s);
        }
    }
    printf("dinamo_s debiasing law, R = 1, 2, 3, 10: worst mean %.2f SE, worst variance %.3f "
           "relative\n", worst_m, worst_v);
}
