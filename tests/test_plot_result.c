/* test_plot_result.c: the result figures (plot_result.h).
 *
 * The example choice is checked against the categories computed here from
 * the raw scores and labels (membership, distinctness, the common count, and
 * that every member of a category is chosen about equally often over many
 * seeds). Every figure function refuses NaN-only, empty and inconsistent
 * input with DN_EINVAL and writes no file then. On a small generated dataset,
 * scored by DINAMO-S, every figure is written as a PNG and a whole SVG. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evaluate.h"
#include "generator.h"
#include "histo.h"
#include "metrics.h"
#include "plot_result.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void) { dn_test_tmpdir(dir, "plot_result"); }
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(plot_result, .init = setup, .fini = teardown);

static int category_of(double score, int8_t label, double t)
{
    if (!isfinite(score) || (label != 0 && label != 1))
        return -1;
    if (label == 0)
        return score > t ? DN_EX_MISS_GOOD : DN_EX_GOOD;
    return score > t ? DN_EX_BAD : DN_EX_MISS_BAD;
}

enum { NC = 60 };

/* 60 runs: 20 good below 1.0, 3 good above, 8 bad above, 2 bad below,
 * the rest unlabelled or without a score (never chosen). */
static void constructed(double *score, int8_t *label)
{
    for (int i = 0; i < NC; i++) {
        label[i] = -1;
        score[i] = 0.1 * (i % 7);
    }
    int k = 0;
    for (int m = 0; m < 20; m++, k += 2) { /* every other run: good and low */
        label[k] = 0;
        score[k] = -1 + 0.05 * m;
    }
    const int mg[3] = {1, 9, 41}, bad[8] = {3, 5, 7, 11, 13, 43, 45, 47}, mb[2] = {15, 49};
    for (int m = 0; m < 3; m++) {
        label[mg[m]] = 0;
        score[mg[m]] = 1.5 + m;
    }
    for (int m = 0; m < 8; m++) {
        label[bad[m]] = 1;
        score[bad[m]] = 2 + m;
    }
    for (int m = 0; m < 2; m++) {
        label[mb[m]] = 1;
        score[mb[m]] = 1.0; /* at the threshold: called good */
    }
    score[17] = NAN;
    label[17] = 1;
    label[19] = 1; /* unlabelled 19 becomes bad with a low score */
    score[19] = 0.2;
}

Test(plot_result, examples_come_from_their_categories)
{
    double score[NC];
    int8_t label[NC];
    constructed(score, label);
    int want[DN_EX_N] = {0};
    for (int i = 0; i < NC; i++)
        if (category_of(score[i], label[i], 1.0) >= 0)
            want[category_of(score[i], label[i], 1.0)]++;
    cr_assert(want[0] == 20 && want[1] == 3 && want[2] == 8 && want[3] == 3,
              "constructed counts %d %d %d %d", want[0], want[1], want[2], want[3]);
    int pick[DN_EX_N * 5], count[DN_EX_N], per = 0;
    dn_err_t err = {0};
    cr_assert_eq(dn_result_pick_examples(score, label, NC, 1.0, 5, 22, pick, count, &per, &err),
                 0, "%s", err.msg);
    cr_assert_eq(per, 3, "the shortest category has 3 runs, %d chosen per category", per);
    for (int c = 0; c < DN_EX_N; c++) {
        cr_assert_eq(count[c], want[c], "category %d: %d runs, expected %d", c, count[c],
                     want[c]);
        for (int r = 0; r < 5; r++) {
            const int i = pick[c * 5 + r];
            if (r >= per) {
                cr_assert_eq(i, -1, "category %d slot %d beyond %d filled (%d)", c, r, per, i);
                continue;
            }
            cr_assert(i >= 0 && i < NC, "category %d slot %d: index %d", c, r, i);
            cr_assert_eq(category_of(score[i], label[i], 1.0), c,
                         "category %d got run %d (label %d, score %g)", c, i, label[i],
                         score[i]);
            for (int q = 0; q < r; q++)
                cr_assert_neq(pick[c * 5 + q], i, "category %d chose run %d twice", c, i);
        }
    }
    /* an empty category stays empty, the others keep their common count */
    for (int i = 0; i < NC; i++)
        if (category_of(score[i], label[i], 1.0) == DN_EX_MISS_GOOD)
            label[i] = -1;
    cr_assert_eq(dn_result_pick_examples(score, label, NC, 1.0, 5, 22, pick, count, &per, &err),
                 0, "%s", err.msg);
    cr_assert_eq(per, 3, "misclassified bad still has 3: %d", per);
    cr_assert(pick[DN_EX_MISS_GOOD * 5] == -1 && count[DN_EX_MISS_GOOD] == 0,
              "an empty category got run %d", pick[DN_EX_MISS_GOOD * 5]);
}

/* Over 4000 seeds each of the 20 good runs is one of the 3 chosen with
 * probability 3/20: the worst frequency within 0.03 (5.6 standard errors of
 * sqrt(0.15 * 0.85 / 4000) = 0.0056). */
Test(plot_result, example_choice_is_uniform)
{
    double score[NC];
    int8_t label[NC];
    constructed(score, label);
    int hits[NC] = {0}, pick[DN_EX_N * 5], per;
    dn_err_t err = {0};
    const int n_seeds = 4000;
    for (int s = 0; s < n_seeds; s++) {
        cr_assert_eq(dn_result_pick_examples(score, label, NC, 1.0, 5, (uint64_t)s, pick, NULL,
                                             &per, &err), 0, "%s", err.msg);
        for (int r = 0; r < per; r++)
            hits[pick[DN_EX_GOOD * 5 + r]]++;
    }
    double worst = 0;
    for (int i = 0; i < NC; i++)
        if (category_of(score[i], label[i], 1.0) == DN_EX_GOOD)
            worst = fmax(worst, fabs(hits[i] / (double)n_seeds - 0.15));
    cr_assert(worst < 0.03, "a good run's frequency is %.4f off 0.15", worst);
}

Test(plot_result, example_choice_refuses_bad_input)
{
    double score[4] = {NAN, NAN, 1, 2};
    int8_t label[4] = {0, 1, -1, -1};
    int pick[DN_EX_N], per;
    dn_err_t err = {0};
    cr_assert_eq(dn_result_pick_examples(score, label, 4, 0.5, 1, 1, pick, NULL, &per, &err),
                 DN_EINVAL, "no run with a label and a score accepted");
    cr_assert(strstr(err.msg, "no run"), "message: %s", err.msg);
    cr_assert_eq(dn_result_pick_examples(score, label, 0, 0.5, 1, 1, pick, NULL, &per, &err),
                 DN_EINVAL, "no runs accepted");
    cr_assert_eq(dn_result_pick_examples(score, label, 4, NAN, 1, 1, pick, NULL, &per, &err),
                 DN_EINVAL, "NaN threshold accepted");
}

static int exists(const char *base, const char *ext)
{
    char path[256];
    snprintf(path, sizeof path, "%s.%s", base, ext);
    return access(path, F_OK) == 0;
}

static void check_png_svg(const char *base)
{
    char path[256];
    snprintf(path, sizeof path, "%s.png", base);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    unsigned char sig[8];
    cr_assert_eq(fread(sig, 1, 8, f), 8u, "%s: short", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fclose(f);
    cr_assert(len > 5000 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8), "%s: not a PNG (%ld bytes)",
              path, len);
    snprintf(path, sizeof path, "%s.svg", base);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    char *svg = calloc(1, 8u << 20);
    size_t n = fread(svg, 1, (8u << 20) - 1, f);
    fclose(f);
    cr_assert(n > 0 && strstr(svg, "<svg") && strstr(svg, "</svg>"), "%s: not a whole SVG",
              path);
    free(svg);
}

static void refused(int rc, const dn_err_t *err, const char *base, const char *what)
{
    cr_assert_eq(rc, DN_EINVAL, "%s: accepted (rc %d)", what, rc);
    cr_assert(err->msg[0], "%s: refused without a message", what);
    cr_assert(!exists(base, "png") && !exists(base, "svg"), "%s: a file was written", what);
}

Test(plot_result, figures_refuse_bad_input)
{
    char base[128];
    snprintf(base, sizeof base, "%s/bad", dir);
    dn_err_t err = {0};
    enum { N = 10 };
    double t[N], curve[3 * N], nan3[3 * N], score[N], nan_score[N];
    int8_t label[N];
    for (int k = 0; k < N; k++) {
        t[k] = k;
        score[k] = k;
        nan_score[k] = NAN;
        label[k] = k % 2;
        for (int q = 0; q < 3; q++) {
            curve[3 * k + q] = 0.5;
            nan3[3 * k + q] = NAN;
        }
    }
    dn_plot_scan_t s = {"t", N, t, curve, curve, curve, 4, 1, 34, 100};
    dn_plot_scan_t b = s;
    b.wba = nan3;
    refused(dn_plot_threshold_scan(base, &b, &err), &err, base, "scan with NaN-only curve");
    b = s;
    b.n = 0;
    refused(dn_plot_threshold_scan(base, &b, &err), &err, base, "empty scan");
    b = s;
    b.best = 20;
    refused(dn_plot_threshold_scan(base, &b, &err), &err, base, "scan's best off its grid");
    double tt[N];
    memcpy(tt, t, sizeof tt);
    tt[5] = 2;
    b = s;
    b.t = tt;
    refused(dn_plot_threshold_scan(base, &b, &err), &err, base, "scan grid not increasing");

    dn_plot_scores_t sc = {"s", N, 5, NULL, score, label, 4.5, -3.25, 7.5};
    dn_plot_scores_t sb = sc;
    sb.score = nan_score;
    refused(dn_plot_results_hist(base, &sb, &err), &err, base, "hist of NaN scores");
    refused(dn_plot_results_scatter(base, &sb, &err), &err, base, "scatter of NaN scores");
    sb = sc;
    sb.n = 0;
    refused(dn_plot_results_hist(base, &sb, &err), &err, base, "hist of no runs");
    refused(dn_plot_results_scatter(base, &sb, &err), &err, base, "scatter of no runs");
    sb = sc;
    sb.n_hist = N;
    refused(dn_plot_results_hist(base, &sb, &err), &err, base, "hist, n_hist = n");
    refused(dn_plot_results_scatter(base, &sb, &err), &err, base, "scatter, n_hist = n");
    sb = sc;
    sb.lo = 8;
    refused(dn_plot_results_hist(base, &sb, &err), &err, base, "hist, lo > hi");
    double half_nan[N];
    for (int k = 0; k < N; k++)
        half_nan[k] = k < 5 ? k : NAN;
    sb = sc;
    sb.score = half_nan;
    refused(dn_plot_results_hist(base, &sb, &err), &err, base, "hist, no continual score");

    double centres[N], bands[4 * N], nanb[4 * N];
    for (int j = 0; j < N; j++)
        centres[j] = j;
    for (int j = 0; j < 4 * N; j++) {
        bands[j] = 0.1;
        nanb[j] = NAN;
    }
    dn_plot_coverage_t u = {"u", N, centres, {bands, bands}, {0.1, 0.2}, 0};
    dn_plot_coverage_t ub = u;
    ub.bands[1] = nanb;
    refused(dn_plot_uncertainty(base, &ub, &err), &err, base, "NaN-only bands");
    ub = u;
    ub.n_bins = 0;
    refused(dn_plot_uncertainty(base, &ub, &err), &err, base, "no bands");
    ub = u;
    ub.bands[1] = NULL;
    refused(dn_plot_uncertainty(base, &ub, &err), &err, base, "no continual bands");
    double neg[4 * N];
    memcpy(neg, bands, sizeof neg);
    neg[N + 3] = -1;
    ub = u;
    ub.bands[0] = neg;
    refused(dn_plot_uncertainty(base, &ub, &err), &err, base, "negative sigma");

    enum { NB = 8 };
    int64_t run[DN_EX_N];
    double esc[DN_EX_N], v[DN_EX_N * NB], vn[DN_EX_N * NB];
    for (int k = 0; k < DN_EX_N; k++) {
        run[k] = k == 1 ? -1 : 100 + k;
        esc[k] = k;
    }
    for (int j = 0; j < DN_EX_N * NB; j++) {
        v[j] = 0.1;
        vn[j] = NAN;
    }
    dn_plot_examples_t e = {"e", 1, NB, NULL, run, esc, v, v, v, v, v, 1};
    dn_plot_examples_t eb = e;
    eb.data = vn;
    refused(dn_plot_examples(base, &eb, &err), &err, base, "example with NaN-only data");
    eb = e;
    eb.rows = 0;
    refused(dn_plot_examples(base, &eb, &err), &err, base, "no example rows");
    int64_t none[DN_EX_N] = {-1, -1, -1, -1};
    eb = e;
    eb.run = none;
    refused(dn_plot_examples(base, &eb, &err), &err, base, "no example cell filled");
}

/* A small generated dataset scored by DINAMO-S: every figure is written. */
Test(plot_result, figures_of_a_generated_dataset, .timeout = 120)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = 400;
    p.n_anomalous = 60;
    p.n_bins = 30;
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, 7, &ds, &err), 0, "%s", err.msg);
    const int n = ds->n_runs, nb = ds->n_bins, n_hist = 200;
    double *chi2 = malloc(sizeof(double) * n), *score = malloc(sizeof(double) * n);
    double *mu = malloc(sizeof(double) * n * nb), *sg = malloc(sizeof(double) * n * nb);
    dn_run_scores_t rs = {.chi2 = chi2, .score = score, .ref_mu = mu, .ref_sigma = sg};
    cr_assert_eq(dn_score_dataset_s(ds, 0.5, 0, &rs, &err), 0, "%s", err.msg);

    dn_threshold_opts_t o;
    dn_threshold_opts_default(&o);
    o.n_grid = 200;
    double t[200], sens[600], spec[600], wba[600], best;
    cr_assert_eq(dn_threshold_scan(score, ds->label, n_hist, &o, 16, 84, t, sens, spec, wba,
                                   &best, &err), 0, "%s", err.msg);
    char base[128];
    snprintf(base, sizeof base, "%s/scan", dir);
    dn_plot_scan_t s = {"scan", o.n_grid, t, sens, spec, wba, best, 1, 34, o.n_boot};
    cr_assert_eq(dn_plot_threshold_scan(base, &s, &err), 0, "%s", err.msg);
    check_png_svg(base);

    dn_plot_scores_t sc = {"scores", n, n_hist, ds->run, score, ds->label, best,
                           DN_RESULT_XLO, DN_RESULT_XHI};
    snprintf(base, sizeof base, "%s/hist", dir);
    cr_assert_eq(dn_plot_results_hist(base, &sc, &err), 0, "%s", err.msg);
    check_png_svg(base);
    snprintf(base, sizeof base, "%s/scatter", dir);
    cr_assert_eq(dn_plot_results_scatter(base, &sc, &err), 0, "%s", err.msg);
    check_png_svg(base);

    double *centres = malloc(sizeof(double) * nb), *bands = malloc(sizeof(double) * 8 * nb);
    double *xn = malloc(sizeof(double) * n * nb), *sx2 = malloc(sizeof(double) * nb);
    for (int j = 0; j < nb; j++)
        centres[j] = 0.5 * (ds->edges[j] + ds->edges[j + 1]);
    for (int i = 0; i < n; i++)
        if (!(dn_hist_normalise(xn + (size_t)i * nb, sx2, ds->counts + (size_t)i * nb, NULL,
                                nb) > DN_EPS))
            for (int j = 0; j < nb; j++)
                xn[(size_t)i * nb + j] = NAN;
    dn_plot_coverage_t u = {"coverage", nb, centres, {bands, bands + 4 * nb}, {0, 0}, 0};
    for (int r = 0; r < 2; r++) {
        int from = r ? n_hist : 0, to = r ? n : n_hist;
        cr_assert_eq(dn_jaccard_bands(xn, mu, sg, ds->true_mu, ds->true_sigma, ds->label, n,
                                      from, to, centres, nb, bands + 4 * r * nb, &u.jd[r],
                                      &err), 0, "%s", err.msg);
    }
    snprintf(base, sizeof base, "%s/uncertainty", dir);
    cr_assert_eq(dn_plot_uncertainty(base, &u, &err), 0, "%s", err.msg);
    check_png_svg(base);
    u.continual_only = 1;
    snprintf(base, sizeof base, "%s/uncertainty_continual", dir);
    cr_assert_eq(dn_plot_uncertainty(base, &u, &err), 0, "%s", err.msg);
    check_png_svg(base);
    free(xn);
    free(sx2);
    free(centres);
    free(bands);

    int pick[DN_EX_N * 3], per;
    cr_assert_eq(dn_result_pick_examples(score, ds->label, n, best, 3, 22, pick, NULL, &per,
                                         &err), 0, "%s", err.msg);
    cr_assert(per >= 1, "no example");
    int64_t run[3 * DN_EX_N];
    double esc[3 * DN_EX_N], *buf = malloc(sizeof(double) * 5 * 3 * DN_EX_N * nb);
    double *xt = buf, *unc = xt + 3 * DN_EX_N * nb, *rm = unc + 3 * DN_EX_N * nb;
    double *ru = rm + 3 * DN_EX_N * nb, *pu = ru + 3 * DN_EX_N * nb;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < DN_EX_N; c++) {
            const int k = r * DN_EX_N + c, i = pick[c * 3 + r];
            run[k] = i >= 0 ? ds->run[i] : -1;
            esc[k] = i >= 0 ? score[i] : NAN;
            if (i < 0)
                continue;
            double *x = xt + (size_t)k * nb, *xu = unc + (size_t)k * nb;
            dn_hist_normalise(x, xu, ds->counts + (size_t)i * nb, NULL, nb);
            memcpy(rm + (size_t)k * nb, mu + (size_t)i * nb, sizeof(double) * nb);
            memcpy(ru + (size_t)k * nb, sg + (size_t)i * nb, sizeof(double) * nb);
            dn_hist_chi2(pu + (size_t)k * nb, x, xu, mu + (size_t)i * nb, sg + (size_t)i * nb,
                         nb);
            for (int j = 0; j < nb; j++)
                xu[j] = sqrt(xu[j]);
        }
    dn_plot_examples_t e = {"examples", per, nb, ds->edges, run, esc, xt, unc, rm, ru, pu,
                            best};
    snprintf(base, sizeof base, "%s/examples", dir);
    cr_assert_eq(dn_plot_examples(base, &e, &err), 0, "%s", err.msg);
    check_png_svg(base);
    free(buf);
    free(chi2);
    free(score);
    free(mu);
    free(sg);
    dn_dataset_destroy(&ds);
}
