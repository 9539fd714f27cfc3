/* test_generator.c: the synthetic dataset generator against SPEC.md section 1.
 *
 * Exact invariants (labels, anomaly counts read back from the truth, dead bins,
 * event range, integer counts, the untouched left half), reproducibility with a
 * golden checksum, and distributional checks with explicit tolerances: rapid
 * change counts over many seeds, the bin counts of good runs against the exact
 * Gaussian bin probabilities (left half) and against the systematic's law (right
 * half), and the multinomial fast path against direct sampling of I0 normals. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generator.h"
#include "rng.h"

static double chi2_sf(double x, double df)
{
    double h = 2.0 / (9.0 * df);
    double z = (cbrt(x / df) - (1.0 - h)) / sqrt(h);
    return 0.5 * erfc(z / sqrt(2.0));
}

static dn_dataset_t *generate(const dn_gen_params_t *p, uint64_t seed)
{
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    int rc = dn_generate(p, seed, &ds, &err);
    cr_assert_eq(rc, 0, "dn_generate(seed %llu): %d %s", (unsigned long long)seed, rc, err.msg);
    cr_assert_not_null(ds);
    return ds;
}

/* P(edge_j < X < edge_{j+1}) for X ~ N(mu, sigma), straightforward form. */
static double bin_prob(const double *edges, int j, double mu, double sigma)
{
    double a = (edges[j] - mu) / sigma, b = (edges[j + 1] - mu) / sigma;
    return 0.5 * erfc(-b / sqrt(2.0)) - 0.5 * erfc(-a / sqrt(2.0));
}

Test(generator, defaults_pass_the_check)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    dn_err_t err = {0};
    cr_assert_eq(dn_gen_params_check(&p, &err), 0, "%s", err.msg);
    cr_assert_eq(p.n_runs, 5000);
    cr_assert_eq(p.n_anomalous, 500);
    cr_assert_eq(p.n_bins, 100);
    cr_assert_eq(p.dead_max, 19);
    cr_assert_eq(p.p_anomaly, 0.9);
}

Test(generator, structure_and_exact_counts)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    dn_dataset_t *ds = generate(&p, 70);
    const int n = ds->n_runs, nb = ds->n_bins;
    cr_assert_eq(n, 5000);
    cr_assert_eq(nb, 100);
    for (int j = 0; j <= nb; j++)
        cr_assert(fabs(ds->edges[j] - (-5.0 + 0.1 * j)) < 1e-12, "edge %d = %.17g", j,
                  ds->edges[j]);
    cr_assert_eq(ds->edges[0], -5.0);
    cr_assert_eq(ds->edges[nb], 5.0);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(ds->run[i], i);
        cr_assert(ds->label[i] == 0 || ds->label[i] == 1, "run %d label %d", i, ds->label[i]);
        bad += ds->label[i];
        cr_assert(ds->events[i] >= 2000 && ds->events[i] < 20000, "run %d events %d", i,
                  ds->events[i]);
        cr_assert(ds->true_sigma[i] > 0, "run %d sigma %g", i, ds->true_sigma[i]);
        const double *row = dn_dataset_row(ds, i);
        double left = 0, right = 0;
        int zeros = 0;
        for (int j = 0; j < nb; j++) {
            cr_assert(row[j] >= 0 && row[j] == floor(row[j]), "run %d bin %d count %g", i, j,
                      row[j]);
            zeros += row[j] == 0;
            if (j < nb / 2)
                left += row[j];
            else
                right += row[j];
        }
        /* The left half is the multinomial's (at most I0 in all bins); a right-half
         * bin at most doubles under the systematic. */
        cr_assert(left + right / 2 <= ds->events[i],
                  "run %d: left %g + right/2 %g exceeds I0 %d", i, left, right / 2,
                  ds->events[i]);
        if (ds->label[i]) {
            cr_assert(ds->dead_bins[i] >= 1 && ds->dead_bins[i] <= 19, "bad run %d: %d dead",
                      i, ds->dead_bins[i]);
            cr_assert(zeros >= ds->dead_bins[i], "bad run %d: %d zero bins < %d dead", i,
                      zeros, ds->dead_bins[i]);
        } else {
            cr_assert_eq(ds->dead_bins[i], 0, "good run %d has %d dead bins", i,
                         ds->dead_bins[i]);
        }
    }
    cr_assert_eq(bad, 500, "%d bad runs, want 500", bad);
    dn_dataset_destroy(&ds);
    cr_assert_null(ds);
}

/* Reads the segment shifts back from the truth: residual r_i = value_i - base_i
 * is the segment's shift for a good run and shift + anomaly for a bad one.
 * Checks the segment structure and returns the anomaly of every run in delta[]. */
static void segments(const dn_dataset_t *ds, const double *value, const double *base,
                     const uint8_t *flag, double lo, double hi, double *delta,
                     int *n_segments)
{
    const int n = ds->n_runs;
    int start = 0, segs = 0;
    while (start < n) {
        int end = start + 1;
        while (end < n && !flag[end])
            end++;
        double shift = NAN;
        for (int i = start; i < end; i++)
            if (!ds->label[i]) {
                double r = value[i] - base[i];
                if (isnan(shift))
                    shift = r;
                cr_assert(fabs(r - shift) < 1e-12,
                          "runs %d..%d: good run %d has shift %.17g, segment %.17g", start,
                          end - 1, i, r, shift);
            }
        cr_assert(!isnan(shift), "segment %d..%d has no good run to read its shift from",
                  start, end - 1);
        if (flag[start]) {
            cr_assert(fabs(shift) >= lo - 1e-12 && fabs(shift) < hi + 1e-12,
                      "segment at run %d: |shift| %.6f outside [%g, %g) (accumulated?)",
                      start, fabs(shift), lo, hi);
        } else {
            cr_assert(start == 0 && shift == 0.0,
                      "segment before the first change point has shift %.17g", shift);
        }
        for (int i = start; i < end; i++)
            delta[i] = value[i] - base[i] - shift;
        segs++;
        start = end;
    }
    *n_segments = segs;
}

Test(generator, drift_rapid_changes_and_anomalies_from_truth)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    dn_dataset_t *ds = generate(&p, 70);
    const int n = ds->n_runs;
    double *base_mu = calloc(n, sizeof *base_mu), *base_sigma = calloc(n, sizeof *base_sigma);
    double *dmu = calloc(n, sizeof *dmu), *dsig = calloc(n, sizeof *dsig);
    cr_assert(base_mu && base_sigma && dmu && dsig);
    for (int i = 0; i < n; i++) {
        base_mu[i] = 0.0 + 0.5 * sin(M_PI * i / 500.0);
        base_sigma[i] = 1.0;
    }
    int segs_mu, segs_sigma;
    segments(ds, ds->true_mu, base_mu, ds->rapid_mu, 0.5, 1.5, dmu, &segs_mu);
    segments(ds, ds->true_sigma, base_sigma, ds->rapid_sigma, 0.1, 0.4, dsig, &segs_sigma);
    int n_mu = 0, n_sig = 0, both = 0, pos_mu = 0, same_flags = 1;
    for (int i = 0; i < n; i++) {
        int am = fabs(dmu[i]) > 1e-9, as = fabs(dsig[i]) > 1e-9;
        if (ds->rapid_mu[i] != ds->rapid_sigma[i])
            same_flags = 0;
        if (!ds->label[i]) {
            cr_assert(!am && !as, "good run %d carries an anomaly (%g, %g)", i, dmu[i], dsig[i]);
            continue;
        }
        if (am) {
            cr_assert(fabs(dmu[i]) >= 0.25 - 1e-12 && fabs(dmu[i]) < 0.75 + 1e-12,
                      "run %d: mu anomaly %.6f outside [0.25, 0.75)", i, dmu[i]);
            n_mu++;
            pos_mu += dmu[i] > 0;
        }
        if (as) {
            cr_assert(fabs(dsig[i]) >= 0.05 - 1e-12 && fabs(dsig[i]) < 0.2 + 1e-12,
                      "run %d: sigma anomaly %.6f outside [0.05, 0.2)", i, dsig[i]);
            n_sig++;
        }
        both += am && as;
    }
    cr_assert_eq(n_mu, 450, "%d mu-shifted bad runs, want int(0.9 * 500) = 450", n_mu);
    cr_assert_eq(n_sig, 450, "%d sigma-shifted bad runs, want 450", n_sig);
    /* Independent choices: overlap ~ Hypergeometric(500, 450, 450), mean 405, sd 2.0. */
    cr_assert(abs(both - 405) <= 10, "mu/sigma anomaly overlap %d, want 405 +- 10", both);
    cr_assert(abs(pos_mu - 225) <= 53, "%d of 450 mu anomalies positive (fair sign: 225 +- 53)",
              pos_mu);
    cr_assert(segs_mu >= 2 && segs_sigma >= 2, "seed 70 should have rapid changes (%d, %d)",
              segs_mu, segs_sigma);
    cr_assert(!same_flags, "mu and sigma change points coincide: not independent");
    free(base_mu);
    free(base_sigma);
    free(dmu);
    free(dsig);
    dn_dataset_destroy(&ds);
}

static uint64_t checksum(const dn_dataset_t *ds)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over counts, labels, events */
    for (int64_t k = 0; k < (int64_t)ds->n_runs * ds->n_bins; k++) {
        uint64_t v = (uint64_t)ds->counts[k];
        for (int b = 0; b < 8; b++) {
            h ^= (v >> (8 * b)) & 0xff;
            h *= 0x100000001b3ULL;
        }
    }
    for (int i = 0; i < ds->n_runs; i++) {
        h ^= (uint64_t)(ds->label[i] + 1) | (uint64_t)ds->events[i] << 8;
        h *= 0x100000001b3ULL;
    }
    return h;
}

Test(generator, reproducible_and_golden)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    dn_dataset_t *a = generate(&p, 70), *b = generate(&p, 70), *c = generate(&p, 71);
    size_t nc = (size_t)a->n_runs * a->n_bins * sizeof(double);
    size_t nr = (size_t)a->n_runs;
    cr_assert(memcmp(a->counts, b->counts, nc) == 0, "same seed, different counts");
    cr_assert(memcmp(a->true_mu, b->true_mu, nr * sizeof(double)) == 0);
    cr_assert(memcmp(a->true_sigma, b->true_sigma, nr * sizeof(double)) == 0);
    cr_assert(memcmp(a->label, b->label, nr) == 0);
    cr_assert(memcmp(a->events, b->events, nr * sizeof(int32_t)) == 0);
    cr_assert(memcmp(a->dead_bins, b->dead_bins, nr * sizeof(int32_t)) == 0);
    cr_assert(memcmp(a->rapid_mu, b->rapid_mu, nr) == 0);
    cr_assert(memcmp(a->rapid_sigma, b->rapid_sigma, nr) == 0);
    cr_assert_str_eq(a->meta_extra, b->meta_extra);
    size_t differ = 0;
    for (size_t k = 0; k < nr * a->n_bins; k++)
        differ += a->counts[k] != c->counts[k];
    cr_assert(differ > nr * a->n_bins / 2, "seeds 70 and 71 share %zu of %zu counts",
              nr * a->n_bins - differ, nr * a->n_bins);
    cr_assert(memcmp(a->label, c->label, nr) != 0, "seeds 70 and 71 have the same labels");
    /* Golden value: the stream of draws is part of the contract (datasets are
     * named by their seed). If this changes on purpose, record the new value. */
    uint64_t h = checksum(a);
    cr_assert_eq(h, UINT64_C(0xcd44e235066777fa), "seed 70 checksum 0x%016llx changed: the random stream or "
                 "the generator changed", (unsigned long long)h);
    dn_dataset_destroy(&a);
    dn_dataset_destroy(&b);
    dn_dataset_destroy(&c);
}

Test(generator, meta_extra_lists_seed_and_every_parameter)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = 50;
    p.n_anomalous = 5;
    p.p_rapid = 0.125;
    dn_dataset_t *ds = generate(&p, 12345678901234ULL);
    const char *m = ds->meta_extra;
    cr_assert_not_null(m);
    const char *prefix = "\"seed\": 12345678901234, \"generator\": {";
    cr_assert(strncmp(m, prefix, strlen(prefix)) == 0, "meta_extra starts wrong: %s", m);
    cr_assert_eq(m[strlen(m) - 1], '}', "meta_extra: %s", m);
    int np;
    const dn_gen_param_info_t *t = dn_gen_param_table(&np);
    for (int k = 0; k < np; k++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\": ", t[k].name);
        cr_assert_not_null(strstr(m, key), "meta_extra lacks %s: %s", t[k].name, m);
    }
    cr_assert_not_null(strstr(m, "\"runs\": 50,"), "%s", m);
    cr_assert_not_null(strstr(m, "\"p-rapid\": 0.125,"), "%s", m);
    cr_assert_not_null(strstr(m, "\"x-min\": -5,"), "%s", m);
    dn_dataset_destroy(&ds);
}

Test(generator, rapid_change_rate_over_seeds)
{
    /* Small histograms make this cheap; the change points do not depend on them. */
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_bins = 4;
    p.dead_max = 4;
    p.i_min = 10;
    p.i_max = 20;
    const int seeds = 400;
    long mu_changes = 0, sigma_changes = 0;
    for (int s = 0; s < seeds; s++) {
        dn_dataset_t *ds = generate(&p, 1000 + (uint64_t)s);
        for (int i = 0; i < ds->n_runs; i++) {
            mu_changes += ds->rapid_mu[i];
            sigma_changes += ds->rapid_sigma[i];
        }
        dn_dataset_destroy(&ds);
    }
    double expect = (double)seeds * p.n_runs * p.p_rapid; /* 10000 */
    double tol = 5 * sqrt(expect * (1 - p.p_rapid));      /* 5 sd = 499 */
    cr_assert(fabs(mu_changes - expect) < tol, "rapid mu changes %ld vs %.0f (tol %.0f)",
              mu_changes, expect, tol);
    cr_assert(fabs(sigma_changes - expect) < tol, "rapid sigma changes %ld vs %.0f (tol %.0f)",
              sigma_changes, expect, tol);
}

Test(generator, good_runs_follow_bin_probabilities_and_systematic)
{
    /* Left half of good runs: the multinomial's cells, Pearson terms sum to
     * sum(1 - p_j) in expectation. Right half: x_j + s Binomial(x_j, p_binom) with
     * one sign s per run, read back from the half's total. */
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    dn_dataset_t *ds = generate(&p, 70);
    const int n = ds->n_runs, nb = ds->n_bins, half = nb / 2;
    const double pb = p.p_binom;
    double left_x2 = 0, left_e = 0, right_x2 = 0;
    long left_cells = 0, right_cells = 0;
    int plus = 0, good = 0, classified = 0;
    double worst_ratio = 0;
    for (int i = 0; i < n; i++) {
        if (ds->label[i])
            continue;
        good++;
        const double *row = dn_dataset_row(ds, i);
        double e[512];
        double er = 0, xr = 0;
        for (int j = 0; j < nb; j++) {
            double pj = bin_prob(ds->edges, j, ds->true_mu[i], ds->true_sigma[i]);
            e[j] = ds->events[i] * pj;
            if (j < half && e[j] >= 5) {
                left_x2 += (row[j] - e[j]) * (row[j] - e[j]) / e[j];
                left_e += 1 - pj;
                left_cells++;
            }
            if (j >= half) {
                er += e[j];
                xr += row[j];
            }
        }
        /* The sign from the half's total; runs whose right half is nearly empty
         * (mean shifted far left) cannot show it and are left out. */
        if (er < 1000)
            continue;
        classified++;
        double ratio = xr / er;
        int s = ratio > 1 ? 1 : -1;
        plus += s > 0;
        double want = 1 + s * pb;
        double sd = sqrt(er * (pb * (1 - pb) + want * want)) / er;
        if (fabs(ratio - want) / sd > worst_ratio)
            worst_ratio = fabs(ratio - want) / sd;
        for (int j = half; j < nb; j++) {
            if (e[j] < 5)
                continue;
            double pj = e[j] / ds->events[i];
            double mean = e[j] * (1 + s * pb);
            double var = e[j] * pb * (1 - pb) + (1 + s * pb) * (1 + s * pb) * e[j] * (1 - pj);
            right_x2 += (row[j] - mean) * (row[j] - mean) / var;
            right_cells++;
        }
    }
    double zl = (left_x2 - left_e) / sqrt(2.2 * left_cells);
    cr_assert(fabs(zl) < 5, "left half: Pearson %.1f vs %.1f expected over %ld cells (z %.2f)",
              left_x2, left_e, left_cells, zl);
    double zr = (right_x2 - right_cells) / sqrt(2.2 * right_cells);
    cr_assert(fabs(zr) < 5, "right half: sum of z^2 %.1f over %ld cells (z %.2f)", right_x2,
              right_cells, zr);
    cr_assert(worst_ratio < 6, "a run's right half is %.2f sd off 1 +- p_binom", worst_ratio);
    cr_assert(classified > good / 2, "only %d of %d good runs classified", classified, good);
    cr_assert(abs(2 * plus - classified) < 5 * sqrt(classified),
              "%d of %d good runs with s = +1", plus, classified);
    dn_dataset_destroy(&ds);
}

/* Direct sampling: I0 normal draws binned (x == x_max in the last bin, outside
 * dropped), the process the multinomial stands in for. */
static void direct_histogram(dn_rng_t *rng, int events, double mu, double sigma,
                             const double *edges, int nb, double *out)
{
    double lo = edges[0], hi = edges[nb], w = (hi - lo) / nb;
    for (int j = 0; j < nb; j++)
        out[j] = 0;
    for (int e = 0; e < events; e++) {
        double x = mu + sigma * dn_rng_normal(rng);
        if (x < lo || x > hi)
            continue;
        int j = (int)((x - lo) / w);
        if (j >= nb)
            j = nb - 1;
        out[j]++;
    }
}

Test(generator, multinomial_fast_path_matches_direct_sampling)
{
    /* A generator configured to repeat one Gaussian: no drift, no changes, no
     * anomalies, no systematic, fixed I0; sigma wide enough that 1.4% of the mass
     * falls outside [-5, 5]. Per-bin means and variances over R replicas of each
     * method are compared by two-sample z-scores, summed into chi-squares. */
    enum { R = 3000, NB = 100, I0 = 3000 };
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = R;
    p.n_anomalous = 0;
    p.drift_amplitude = 0;
    p.p_rapid = 0;
    p.p_binom = 0;
    p.mu_base = 0.3;
    p.sigma_base = 2.0;
    p.i_min = p.i_max = I0;
    dn_dataset_t *ds = generate(&p, 4242);
    dn_rng_t rng;
    dn_rng_seed(&rng, 4243);
    double *h = malloc(NB * sizeof *h);
    double s1[2][NB] = {{0}}, s2[2][NB] = {{0}}, s4[2][NB] = {{0}};
    cr_assert_not_null(h);
    for (int r = 0; r < R; r++) {
        cr_assert_eq(ds->events[r], I0);
        direct_histogram(&rng, I0, 0.3, 2.0, ds->edges, NB, h);
        const double *row = dn_dataset_row(ds, r);
        for (int j = 0; j < NB; j++) {
            s1[0][j] += row[j];
            s1[1][j] += h[j];
        }
    }
    /* second pass for centred moments (the dataset is kept; the direct draws are
     * regenerated from the same seed) */
    dn_rng_seed(&rng, 4243);
    for (int r = 0; r < R; r++) {
        direct_histogram(&rng, I0, 0.3, 2.0, ds->edges, NB, h);
        const double *row = dn_dataset_row(ds, r);
        for (int j = 0; j < NB; j++) {
            double d0 = row[j] - s1[0][j] / R, d1 = h[j] - s1[1][j] / R;
            s2[0][j] += d0 * d0;
            s2[1][j] += d1 * d1;
            s4[0][j] += d0 * d0 * d0 * d0;
            s4[1][j] += d1 * d1 * d1 * d1;
        }
    }
    double chi_mean = 0, chi_var = 0, worst_z = 0;
    int worst_j = 0, cells = 0;
    for (int j = 0; j < NB; j++) {
        double m0 = s1[0][j] / R, m1 = s1[1][j] / R;
        if (m0 + m1 < 10) /* 5 expected counts per replica at least */
            continue;
        double v0 = s2[0][j] / (R - 1), v1 = s2[1][j] / (R - 1);
        double zm = (m0 - m1) / sqrt((v0 + v1) / R);
        /* Var(sample variance) ~ (m4 - v^2) / R */
        double vv0 = (s4[0][j] / R - v0 * v0) / R, vv1 = (s4[1][j] / R - v1 * v1) / R;
        double zv = (v0 - v1) / sqrt(vv0 + vv1);
        chi_mean += zm * zm;
        chi_var += zv * zv;
        if (fabs(zm) > worst_z) {
            worst_z = fabs(zm);
            worst_j = j;
        }
        cells++;
    }
    double pm = chi2_sf(chi_mean, cells), pv = chi2_sf(chi_var, cells);
    cr_assert(cells > 60, "only %d comparable bins", cells);
    cr_assert(pm > 1e-4, "bin means differ: chi2 %.1f on %d bins (p %.3g), worst z %.2f in bin %d",
              chi_mean, cells, pm, worst_z, worst_j);
    cr_assert(pv > 1e-4, "bin variances differ: chi2 %.1f on %d bins (p %.3g)", chi_var, cells,
              pv);
    /* The outside cell is real: the in-range totals fall short of I0 by ~1.4%. */
    double tot0 = 0, tot1 = 0;
    for (int j = 0; j < NB; j++) {
        tot0 += s1[0][j];
        tot1 += s1[1][j];
    }
    double frac0 = 1 - tot0 / ((double)R * I0), frac1 = 1 - tot1 / ((double)R * I0);
    double se = sqrt(0.014 / ((double)R * I0));
    cr_assert(fabs(frac0 - frac1) < 5 * sqrt(2.0) * se,
              "outside fraction %.5f (multinomial) vs %.5f (direct)", frac0, frac1);
    cr_assert(frac0 > 0.010 && frac0 < 0.018, "outside fraction %.5f, want ~0.0140", frac0);
    free(h);
    dn_dataset_destroy(&ds);
}

Test(generator, shift_scale_and_edge_configurations)
{
    /* p_binom = 1 doubles or empties every right-half bin; no bad runs means no
     * dead bins; zero runs is a valid empty dataset. */
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = 200;
    p.n_anomalous = 0;
    p.p_binom = 1.0;
    p.p_rapid = 0.0;
    dn_dataset_t *ds = generate(&p, 5);
    int doubled = 0, emptied = 0;
    for (int i = 0; i < ds->n_runs; i++) {
        const double *row = dn_dataset_row(ds, i);
        int odd = 0, any = 0;
        for (int j = ds->n_bins / 2; j < ds->n_bins; j++) {
            odd |= (int)row[j] % 2;
            any |= row[j] != 0;
        }
        cr_assert(!odd, "run %d: p_binom = 1 left an odd right-half count", i);
        doubled += any;
        emptied += !any;
        cr_assert_eq(ds->label[i], 0);
        cr_assert_eq(ds->dead_bins[i], 0);
    }
    cr_assert(doubled > 60 && emptied > 60, "signs: %d doubled, %d emptied", doubled, emptied);
    dn_dataset_destroy(&ds);

    p.n_runs = 0;
    ds = generate(&p, 5);
    cr_assert_eq(ds->n_runs, 0);
    dn_dataset_destroy(&ds);

    /* Every run bad, dead bins fixed at 3. */
    dn_gen_params_default(&p);
    p.n_runs = p.n_anomalous = 100;
    p.dead_min = p.dead_max = 3;
    ds = generate(&p, 6);
    for (int i = 0; i < ds->n_runs; i++) {
        cr_assert_eq(ds->label[i], 1);
        cr_assert_eq(ds->dead_bins[i], 3);
    }
    dn_dataset_destroy(&ds);
}

static void expect_invalid(const dn_gen_params_t *p, const char *name)
{
    dn_err_t err = {0};
    int rc = dn_gen_params_check(p, &err);
    cr_assert_eq(rc, DN_EINVAL, "%s: check returned %d", name, rc);
    cr_assert_not_null(strstr(err.msg, name), "message does not name %s: %s", name, err.msg);
    dn_dataset_t *ds = NULL;
    rc = dn_generate(p, 1, &ds, &err);
    cr_assert_eq(rc, DN_EINVAL, "%s: generate returned %d", name, rc);
    cr_assert_null(ds);
}

Test(generator, parameter_checks)
{
    dn_gen_params_t d, p;
    dn_gen_params_default(&d);
#define BAD(field, value, name) \
    do { p = d; p.field = value; expect_invalid(&p, name); } while (0)
    BAD(n_runs, -1, "runs");
    BAD(n_anomalous, 5001, "anomalous");
    BAD(n_anomalous, -1, "anomalous");
    BAD(n_bins, 0, "bins");
    BAD(x_max, -5.0, "x-max");
    BAD(x_min, NAN, "x-min");
    BAD(i_min, -1.0, "i-min");
    BAD(i_max, 1000.0, "i-max");
    BAD(i_max, 3e9, "i-max");
    BAD(sigma_base, 0.0, "sigma-base");
    BAD(slow_period, 0.0, "slow-period");
    BAD(drift_amplitude, INFINITY, "drift-amplitude");
    BAD(p_rapid, 1.5, "p-rapid");
    BAD(p_binom, NAN, "p-binom");
    BAD(p_anomaly, -0.1, "p-anomaly");
    BAD(mu_rapid_max, 0.4, "mu-rapid-max");
    BAD(mu_rapid_min, -0.1, "mu-rapid-min");
    BAD(sigma_rapid_max, 0.05, "sigma-rapid-max");
    BAD(mu_anomaly_max, 0.1, "mu-anomaly-max");
    BAD(sigma_anomaly_min, 0.3, "sigma-anomaly-max");
    BAD(dead_min, 20, "dead-min");
    BAD(dead_min, -1, "dead-min");
    BAD(dead_max, 101, "dead-max");
    BAD(sigma_base, 0.6, "sigma-base"); /* 0.6 - 0.4 - 0.2 = 0 */
#undef BAD
    dn_err_t err = {0};
    /* Terms that cannot occur do not count: no rapid changes, sigma 0.3 > 0.2. */
    p = d;
    p.sigma_base = 0.3;
    p.p_rapid = 0.0;
    cr_assert_eq(dn_gen_params_check(&p, &err), 0, "%s", err.msg);
    p.p_rapid = 0.001;
    cr_assert_eq(dn_gen_params_check(&p, &err), DN_EINVAL);
    p.p_rapid = 0.0;
    p.sigma_base = 0.15;
    p.p_anomaly = 0.001; /* int(0.5) = 0 sigma anomalies */
    cr_assert_eq(dn_gen_params_check(&p, &err), 0, "%s", err.msg);
    /* Edge values that are valid. */
    p = d;
    p.n_anomalous = p.n_runs;
    p.dead_max = p.n_bins;
    p.dead_min = 0;
    p.i_min = p.i_max = 0;
    p.p_rapid = 1.0;
    p.p_binom = 0.0;
    cr_assert_eq(dn_gen_params_check(&p, &err), 0, "%s", err.msg);
}

Test(generator, param_table_and_set)
{
    int np = 0;
    const dn_gen_param_info_t *t = dn_gen_param_table(&np);
    cr_assert_eq(np, 24);
    /* Every field is reachable by exactly one name: setting each to a distinct
     * value via text touches a distinct field. */
    dn_gen_params_t p;
    memset(&p, 0, sizeof p);
    dn_err_t err = {0};
    for (int k = 0; k < np; k++) {
        cr_assert(t[k].help && t[k].help[0], "%s lacks help", t[k].name);
        for (int l = 0; l < k; l++) {
            cr_assert(strcmp(t[k].name, t[l].name), "duplicate name %s", t[k].name);
            cr_assert_neq(t[k].offset, t[l].offset, "%s and %s share a field", t[k].name,
                          t[l].name);
        }
        char v[32];
        snprintf(v, sizeof v, "%d", k + 1);
        cr_assert_eq(dn_gen_params_set(&p, t[k].name, v, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(p.n_runs, 1);
    cr_assert_eq(p.n_anomalous, 2);
    cr_assert_eq(p.n_bins, 3);
    cr_assert_eq(p.x_min, 4.0);
    cr_assert_eq(p.slow_period, 10.0);
    cr_assert_eq(p.p_binom, 21.0);
    cr_assert_eq(p.dead_min, 23);
    cr_assert_eq(p.dead_max, 24);
    cr_assert_eq(dn_gen_params_set(&p, "p-rapid", "1e-3", &err), 0);
    cr_assert_eq(p.p_rapid, 1e-3);
    cr_assert_eq(dn_gen_params_set(&p, "x-min", "-7.5", &err), 0);
    cr_assert_eq(p.x_min, -7.5);

    dn_gen_params_t before = p;
#define SET_FAILS(name, value, word) \
    do { \
        dn_err_clear(&err); \
        cr_assert_eq(dn_gen_params_set(&p, name, value, &err), DN_EINVAL, "%s=%s accepted", \
                     name, value); \
        cr_assert_not_null(strstr(err.msg, word), "message for %s=%s: %s", name, value, \
                           err.msg); \
        cr_assert(memcmp(&p, &before, sizeof p) == 0, "%s=%s changed the struct", name, \
                  value); \
    } while (0)
    SET_FAILS("no-such", "1", "no-such");
    SET_FAILS("--runs", "1", "--runs");
    SET_FAILS("runs", "1.5", "runs");
    SET_FAILS("runs", "abc", "abc");
    SET_FAILS("runs", "", "runs");
    SET_FAILS("runs", "99999999999", "runs");
    SET_FAILS("bins", "12x", "12x");
    SET_FAILS("p-rapid", "nan", "p-rapid");
    SET_FAILS("p-rapid", "inf", "p-rapid");
    SET_FAILS("x-max", "5,0", "5,0");
    SET_FAILS("x-max", "", "x-max");
#undef SET_FAILS
}

/* Given bad sets: a dataset equals the seed's drawn one when given the same bad
 * runs, and datasets of one seed with different bad sets agree bit for bit on
 * every run that is good in both (what the generator service's localised mode
 * relies on to break single histograms of a run). */
Test(generator, given_bad_runs_change_only_those_runs)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = 300;
    p.n_anomalous = 30;
    dn_dataset_t *drawn = NULL, *same = NULL, *none = NULL, *other = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, 9, &drawn, &err), 0, "%s", err.msg);
    int bad[300], n_bad = 0;
    for (int i = 0; i < p.n_runs; i++)
        if (drawn->label[i])
            bad[n_bad++] = i;
    cr_assert_eq(n_bad, 30);
    cr_assert_eq(dn_generate_with_bad(&p, 9, bad, n_bad, &same, &err), 0, "%s", err.msg);
    cr_assert(memcmp(same->counts, drawn->counts, sizeof(double) * 300 * p.n_bins) == 0,
              "the seed's own bad set must give the same dataset");
    cr_assert_eq(dn_generate_with_bad(&p, 9, NULL, 0, &none, &err), 0, "%s", err.msg);
    int few[3] = {5, 77, 200};
    cr_assert_eq(dn_generate_with_bad(&p, 9, few, 3, &other, &err), 0, "%s", err.msg);
    int differ = 0;
    for (int i = 0; i < p.n_runs; i++) {
        int good_both = !drawn->label[i] && !other->label[i];
        int eq = !memcmp(dn_dataset_row(drawn, i), dn_dataset_row(other, i),
                         sizeof(double) * p.n_bins) &&
                 !memcmp(dn_dataset_row(none, i), dn_dataset_row(drawn, i),
                         sizeof(double) * p.n_bins);
        if (good_both)
            cr_assert(eq || drawn->label[i], "run %d good in all: counts differ", i);
        differ += !eq;
        cr_assert_eq(none->label[i], 0);
    }
    cr_assert_eq(other->label[77], 1);
    cr_assert_gt(differ, 0);
    int unsorted[2] = {9, 3};
    cr_assert_eq(dn_generate_with_bad(&p, 9, unsorted, 2, &none, &err), DN_EINVAL);
    dn_dataset_destroy(&drawn);
    dn_dataset_destroy(&same);
    dn_dataset_destroy(&none);
    dn_dataset_destroy(&other);
}

/* ---- slow anomalies (issue 20) ----------------------------------------------
 * The mode off is dn_generate bit for bit; on, the nominal draws stay and the
 * episodes, sizes, labels, shifts and thinning are checked against the
 * nominal dataset of the same seed and against the episodes of meta.json. */

#include "json.h"

static dn_dataset_t *generate_slow(const dn_gen_params_t *p, const dn_slow_params_t *s,
                                   uint64_t seed)
{
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    int rc = dn_generate_slow(p, s, seed, &ds, &err);
    cr_assert_eq(rc, 0, "dn_generate_slow(seed %llu): %d %s", (unsigned long long)seed, rc,
                 err.msg);
    cr_assert_not_null(ds);
    return ds;
}

/* A small slow setting: 3000 runs, 4 episodes after run 600. */
static void slow_setup(dn_gen_params_t *p, dn_slow_params_t *s)
{
    dn_gen_params_default(p);
    p->n_runs = 3000;
    p->n_anomalous = 300;
    dn_slow_params_default(s);
    s->n_defects = 4;
    s->first = 600;
}

typedef struct {
    int kind, start, ramp, hold, first_bin, last_bin, bad_from, sign;
    double size;
} want_episode_t;

static const char *const kind_name[] = {"none", "efficiency", "width", "mean"};

/* The episodes of meta_extra's "slow_episodes", checked for form. */
static int read_episodes(const dn_dataset_t *ds, want_episode_t *ep, int cap)
{
    size_t n = strlen(ds->meta_extra);
    char *wrapped = malloc(n + 3);
    cr_assert_not_null(wrapped);
    wrapped[0] = '{';
    memcpy(wrapped + 1, ds->meta_extra, n);
    memcpy(wrapped + 1 + n, "}", 2);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(wrapped, n + 2, &doc, &err), 0, "meta_extra: %s: %s", err.msg,
                 ds->meta_extra);
    free(wrapped);
    const dn_json_value_t *root = dn_json_root(doc);
    cr_assert_not_null(dn_json_get(root, "generator"));
    const dn_json_value_t *slow = dn_json_get(root, "slow");
    cr_assert_not_null(slow, "meta_extra lacks slow: %s", ds->meta_extra);
    int np;
    const dn_gen_param_info_t *t = dn_slow_param_table(&np);
    for (int k = 0; k < np; k++)
        cr_assert_not_null(dn_json_get(slow, t[k].name), "slow lacks %s", t[k].name);
    const dn_json_value_t *arr = dn_json_get(root, "slow_episodes");
    cr_assert_eq(dn_json_type(arr), DN_JSON_ARRAY);
    int count = (int)dn_json_array_len(arr);
    cr_assert_leq(count, cap);
    for (int e = 0; e < count; e++) {
        const dn_json_value_t *x = dn_json_array_at(arr, (size_t)e);
        want_episode_t *w = &ep[e];
        const char *kind = dn_json_string(dn_json_get(x, "kind"));
        cr_assert_not_null(kind);
        w->kind = 0;
        for (int k = 1; k <= 3; k++)
            if (!strcmp(kind, kind_name[k]))
                w->kind = k;
        cr_assert_neq(w->kind, 0, "episode %d: kind %s", e, kind);
        w->start = (int)dn_json_number(dn_json_get(x, "start"));
        w->ramp = (int)dn_json_number(dn_json_get(x, "ramp"));
        w->hold = (int)dn_json_number(dn_json_get(x, "hold"));
        w->size = dn_json_number(dn_json_get(x, "size"));
        const dn_json_value_t *bf = dn_json_get(x, "bad_from");
        cr_assert_not_null(bf, "episode %d lacks bad_from", e);
        w->bad_from = dn_json_type(bf) == DN_JSON_NULL ? -1 : (int)dn_json_number(bf);
        w->sign = w->kind == DN_SLOW_MEAN ? (int)dn_json_number(dn_json_get(x, "sign")) : 1;
        cr_assert(w->sign == 1 || w->sign == -1, "episode %d: sign %d", e, w->sign);
        cr_assert_eq(dn_json_get(x, "first_bin") != NULL, w->kind == DN_SLOW_EFFICIENCY);
        w->first_bin = w->last_bin = -1;
        if (w->kind == DN_SLOW_EFFICIENCY) {
            w->first_bin = (int)dn_json_number(dn_json_get(x, "first_bin"));
            w->last_bin = (int)dn_json_number(dn_json_get(x, "last_bin"));
        }
    }
    dn_json_destroy(&doc);
    return count;
}

static double want_size(const want_episode_t *w, int k)
{
    double f = (double)(k + 1) / w->ramp;
    return w->size * (f < 1.0 ? f : 1.0);
}

static double tolerance_of(const dn_slow_params_t *s, int kind)
{
    return kind == DN_SLOW_EFFICIENCY ? s->efficiency_tolerance
           : kind == DN_SLOW_WIDTH    ? s->width_tolerance
                                      : s->mean_tolerance;
}

Test(generator, slow_off_is_dn_generate_bit_for_bit)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    dn_slow_params_t s;
    dn_slow_params_default(&s);
    cr_assert_eq(s.n_defects, 0, "the mode must default to off");
    dn_dataset_t *plain = generate(&p, 70);
    dn_dataset_t *a = generate_slow(&p, NULL, 70), *b = generate_slow(&p, &s, 70);
    dn_dataset_t *all[3] = {plain, a, b};
    for (int k = 0; k < 3; k++) {
        uint64_t h = checksum(all[k]);
        cr_assert_eq(h, UINT64_C(0xcd44e235066777fa), "case %d: checksum 0x%016llx", k,
                     (unsigned long long)h);
        cr_assert_str_eq(all[k]->meta_extra, plain->meta_extra);
        cr_assert_null(all[k]->slow_kind);
        cr_assert_null(all[k]->slow_size);
        cr_assert_null(all[k]->slow_bad);
        size_t nr = (size_t)p.n_runs;
        cr_assert(memcmp(all[k]->true_mu, plain->true_mu, nr * sizeof(double)) == 0);
        cr_assert(memcmp(all[k]->true_sigma, plain->true_sigma, nr * sizeof(double)) == 0);
        cr_assert(memcmp(all[k]->dead_bins, plain->dead_bins, nr * sizeof(int32_t)) == 0);
    }
    /* Off, the slow parameters still pass their own checks (a typo is named). */
    s.efficiency_loss = 1.5;
    dn_dataset_t *c = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate_slow(&p, &s, 70, &c, &err), DN_EINVAL);
    cr_assert_null(c);
    cr_assert_not_null(strstr(err.msg, "slow-efficiency-loss"), "%s", err.msg);
    dn_dataset_destroy(&plain);
    dn_dataset_destroy(&a);
    dn_dataset_destroy(&b);
}

/* Episodes in their segments, sizes linear then held then gone, labels bad
 * exactly past the tolerance, truth and meta.json agreeing; every kind drawn. */
Test(generator, slow_episodes_sizes_and_labels)
{
    dn_gen_params_t p;
    dn_slow_params_t s;
    slow_setup(&p, &s);
    int kinds_seen[4] = {0}, bad_seen = 0, good_seen = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        dn_dataset_t *nom = generate(&p, seed), *ds = generate_slow(&p, &s, seed);
        want_episode_t ep[8];
        int n_ep = read_episodes(ds, ep, 8);
        cr_assert_eq(n_ep, s.n_defects, "seed %llu: %d episodes", (unsigned long long)seed,
                     n_ep);
        int *owner = malloc(sizeof(int) * (size_t)p.n_runs);
        for (int i = 0; i < p.n_runs; i++)
            owner[i] = -1;
        const int span = p.n_runs - s.first;
        for (int e = 0; e < n_ep; e++) {
            const want_episode_t *w = &ep[e];
            int seg_lo = s.first + span * e / s.n_defects;
            int seg_hi = s.first + span * (e + 1) / s.n_defects;
            cr_assert(w->ramp >= s.ramp_min && w->ramp <= s.ramp_max, "ramp %d", w->ramp);
            cr_assert_eq(w->hold, s.hold);
            cr_assert(w->start >= seg_lo && w->start + w->ramp + w->hold <= seg_hi,
                      "seed %llu episode %d: runs [%d, %d) outside its segment [%d, %d)",
                      (unsigned long long)seed, e, w->start, w->start + w->ramp + w->hold,
                      seg_lo, seg_hi);
            double mag = w->kind == DN_SLOW_EFFICIENCY ? s.efficiency_loss
                         : w->kind == DN_SLOW_WIDTH    ? s.width_growth
                                                       : s.mean_walk;
            cr_assert_eq(w->size, mag);
            kinds_seen[w->kind]++;
            int bad_from = -1;
            for (int k = 0; k < w->ramp + w->hold; k++) {
                int i = w->start + k;
                owner[i] = e;
                double want = want_size(w, k);
                cr_assert_eq(ds->slow_kind[i], w->kind, "run %d kind", i);
                cr_assert(fabs(ds->slow_size[i] - want) <= 1e-15 * mag,
                          "run %d (k %d of ramp %d): size %.17g, want %.17g", i, k, w->ramp,
                          ds->slow_size[i], want);
                if (k >= w->ramp - 1)
                    cr_assert_eq(ds->slow_size[i], mag, "run %d held at %g", i,
                                 ds->slow_size[i]);
                else
                    cr_assert_lt(ds->slow_size[i], mag);
                int past = ds->slow_size[i] > tolerance_of(&s, w->kind);
                cr_assert_eq(ds->slow_bad[i], past, "run %d: size %g tolerance %g slow_bad %d",
                             i, ds->slow_size[i], tolerance_of(&s, w->kind), ds->slow_bad[i]);
                if (past && bad_from < 0)
                    bad_from = i;
                bad_seen += past;
                good_seen += !past;
            }
            cr_assert_eq(w->bad_from, bad_from, "episode %d: meta bad_from %d, truth %d", e,
                         w->bad_from, bad_from);
        }
        for (int i = 0; i < p.n_runs; i++) {
            if (owner[i] < 0) {
                cr_assert_eq(ds->slow_kind[i], 0, "run %d outside every episode", i);
                cr_assert_eq(ds->slow_size[i], 0.0);
                cr_assert_eq(ds->slow_bad[i], 0);
                cr_assert(!memcmp(dn_dataset_row(ds, i), dn_dataset_row(nom, i),
                                  sizeof(double) * (size_t)p.n_bins),
                          "run %d outside every episode: counts differ from nominal", i);
                cr_assert_eq(ds->true_mu[i], nom->true_mu[i]);
                cr_assert_eq(ds->true_sigma[i], nom->true_sigma[i]);
            }
            cr_assert_eq(ds->label[i], nom->label[i] || ds->slow_bad[i],
                         "run %d: label %d, ordinary %d, slow_bad %d", i, ds->label[i],
                         nom->label[i], ds->slow_bad[i]);
            /* Dead bins follow the ordinary anomalies only; a mean or width
             * defect changes the bin probabilities, and so how many draws the
             * multinomial takes before the dead-bin draws of an ordinary bad run. */
            if (ds->slow_kind[i] == DN_SLOW_WIDTH || ds->slow_kind[i] == DN_SLOW_MEAN)
                cr_assert_eq(ds->dead_bins[i] > 0, nom->dead_bins[i] > 0 && nom->label[i],
                             "run %d: dead bins %d", i, ds->dead_bins[i]);
            else
                cr_assert_eq(ds->dead_bins[i], nom->dead_bins[i], "run %d: dead bins %d, "
                             "nominal %d", i, ds->dead_bins[i], nom->dead_bins[i]);
            cr_assert_eq(ds->events[i], nom->events[i]);
            cr_assert_eq(ds->rapid_mu[i], nom->rapid_mu[i]);
            if (i < s.first)
                cr_assert_eq(owner[i], -1, "run %d before slow-first", i);
        }
        free(owner);
        dn_dataset_destroy(&nom);
        dn_dataset_destroy(&ds);
    }
    for (int k = 1; k <= 3; k++)
        cr_assert_gt(kinds_seen[k], 3, "kind %s drawn %d times in 32 episodes", kind_name[k],
                     kinds_seen[k]);
    cr_assert_gt(bad_seen, 0);
    cr_assert_gt(good_seen, 0, "no run below tolerance inside an episode");
}

/* The mean walks (both signs over the episodes) and the width grows by the
 * run's size in the truth, and nowhere else. */
Test(generator, slow_mean_and_width_shift_the_truth)
{
    dn_gen_params_t p;
    dn_slow_params_t s;
    slow_setup(&p, &s);
    int signs[2] = {0, 0};
    for (int kind = DN_SLOW_WIDTH; kind <= DN_SLOW_MEAN; kind++) {
        s.efficiency_loss = 0.0;
        s.width_growth = kind == DN_SLOW_WIDTH ? 0.3 : 0.0;
        s.mean_walk = kind == DN_SLOW_MEAN ? 0.8 : 0.0;
        for (uint64_t seed = 20; seed < 25; seed++) {
            dn_dataset_t *nom = generate(&p, seed), *ds = generate_slow(&p, &s, seed);
            want_episode_t ep[8];
            int n_ep = read_episodes(ds, ep, 8);
            for (int e = 0; e < n_ep; e++) {
                cr_assert_eq(ep[e].kind, kind);
                if (kind == DN_SLOW_MEAN)
                    signs[ep[e].sign > 0]++;
            }
            int in_episode = 0;
            for (int i = 0; i < p.n_runs; i++) {
                double dmu = ds->true_mu[i] - nom->true_mu[i];
                double dsig = ds->true_sigma[i] - nom->true_sigma[i];
                double want = ds->slow_size[i];
                if (ds->slow_kind[i]) {
                    in_episode++;
                    int e = 0;
                    while (!(i >= ep[e].start && i < ep[e].start + ep[e].ramp + ep[e].hold))
                        e++;
                    if (kind == DN_SLOW_MEAN)
                        want *= ep[e].sign;
                }
                double got = kind == DN_SLOW_MEAN ? dmu : dsig;
                double other = kind == DN_SLOW_MEAN ? dsig : dmu;
                cr_assert(fabs(got - want) <= 1e-12, "seed %llu run %d: shift %.17g, want "
                          "%.17g", (unsigned long long)seed, i, got, want);
                cr_assert_eq(other, 0.0, "run %d: the other parameter moved by %g", i, other);
            }
            cr_assert_eq(in_episode, ep[0].ramp + ep[1].ramp + ep[2].ramp + ep[3].ramp +
                                         4 * s.hold);
            dn_dataset_destroy(&nom);
            dn_dataset_destroy(&ds);
        }
    }
    cr_assert(signs[0] > 0 && signs[1] > 0, "mean walks: %d down, %d up", signs[0], signs[1]);
}

/* Efficiency: counts thinned only in the region and only during the episode;
 * at full size the region holds (1 - loss) of the nominal counts within 4
 * binomial standard deviations (about 1% of the total here). */
Test(generator, slow_efficiency_thins_only_the_region_during_the_episode)
{
    dn_gen_params_t p;
    dn_slow_params_t s;
    slow_setup(&p, &s);
    s.width_growth = s.mean_walk = 0.0;
    s.efficiency_loss = 0.6;
    /* The bins covering mu-base +- 2 sigma-base = [-2, 2] on 100 bins of [-5, 5]. */
    const int win_lo = 30, win_hi = 69;
    for (uint64_t seed = 40; seed < 43; seed++) {
        dn_dataset_t *nom = generate(&p, seed), *ds = generate_slow(&p, &s, seed);
        want_episode_t ep[8];
        int n_ep = read_episodes(ds, ep, 8);
        for (int e = 0; e < n_ep; e++) {
            const want_episode_t *w = &ep[e];
            cr_assert_eq(w->kind, DN_SLOW_EFFICIENCY);
            int width = w->last_bin - w->first_bin + 1;
            cr_assert(width >= s.region_min && width <= s.region_max, "region width %d", width);
            cr_assert(w->first_bin >= win_lo && w->last_bin <= win_hi,
                      "region [%d, %d] outside the window [%d, %d]", w->first_bin, w->last_bin,
                      win_lo, win_hi);
            double kept = 0.0, nominal = 0.0, var = 0.0;
            for (int k = 0; k < w->ramp + w->hold; k++) {
                int i = w->start + k;
                const double *a = dn_dataset_row(ds, i), *b = dn_dataset_row(nom, i);
                for (int j = 0; j < p.n_bins; j++) {
                    if (j < w->first_bin || j > w->last_bin) {
                        cr_assert_eq(a[j], b[j], "run %d bin %d outside the region changed", i,
                                     j);
                        continue;
                    }
                    cr_assert_leq(a[j], b[j], "run %d bin %d: thinning added entries", i, j);
                    if (k >= w->ramp - 1) {
                        kept += a[j];
                        nominal += b[j];
                        var += b[j] * s.efficiency_loss * (1.0 - s.efficiency_loss);
                    }
                }
            }
            double want = (1.0 - s.efficiency_loss) * nominal;
            double z = (kept - want) / sqrt(var);
            cr_assert_gt(nominal, 10000.0, "too few entries to test: %g", nominal);
            cr_assert(fabs(z) < 4.0, "seed %llu episode %d at full size: kept %g of %g "
                      "(fraction %.4f, want %.4f), z %.2f", (unsigned long long)seed, e, kept,
                      nominal, kept / nominal, 1.0 - s.efficiency_loss, z);
        }
        /* Outside the episodes every run is the nominal one. */
        for (int i = 0; i < p.n_runs; i++)
            if (!ds->slow_kind[i])
                cr_assert(!memcmp(dn_dataset_row(ds, i), dn_dataset_row(nom, i),
                                  sizeof(double) * (size_t)p.n_bins), "run %d changed", i);
        dn_dataset_destroy(&nom);
        dn_dataset_destroy(&ds);
    }
}

Test(generator, slow_reproducible_and_seeded)
{
    dn_gen_params_t p;
    dn_slow_params_t s;
    slow_setup(&p, &s);
    dn_dataset_t *a = generate_slow(&p, &s, 5), *b = generate_slow(&p, &s, 5),
                 *c = generate_slow(&p, &s, 6);
    size_t nr = (size_t)p.n_runs;
    cr_assert(!memcmp(a->counts, b->counts, nr * p.n_bins * sizeof(double)));
    cr_assert(!memcmp(a->true_mu, b->true_mu, nr * sizeof(double)));
    cr_assert(!memcmp(a->true_sigma, b->true_sigma, nr * sizeof(double)));
    cr_assert(!memcmp(a->label, b->label, nr));
    cr_assert(!memcmp(a->slow_kind, b->slow_kind, nr));
    cr_assert(!memcmp(a->slow_size, b->slow_size, nr * sizeof(double)));
    cr_assert(!memcmp(a->slow_bad, b->slow_bad, nr));
    cr_assert_str_eq(a->meta_extra, b->meta_extra);
    cr_assert(strcmp(a->meta_extra, c->meta_extra), "seeds 5 and 6 have the same episodes");
    cr_assert_not_null(strstr(a->meta_extra, "\"slow\": {\"slow-defects\": 4, \"slow-first\": "
                                             "600,"), "%s", a->meta_extra);
    dn_dataset_destroy(&a);
    dn_dataset_destroy(&b);
    dn_dataset_destroy(&c);
}

/* The service's localised mode: the slow layout does not depend on the bad
 * set, and the seed's ordinary bad runs are what dn_generate labels bad. */
Test(generator, slow_with_given_bad_runs)
{
    dn_gen_params_t p;
    dn_slow_params_t s;
    slow_setup(&p, &s);
    dn_dataset_t *nom = generate(&p, 3), *ds = generate_slow(&p, &s, 3);
    int *bad = malloc(sizeof(int) * (size_t)p.n_anomalous);
    dn_err_t err = {0};
    cr_assert_eq(dn_generate_bad_runs(&p, 3, bad, &err), 0, "%s", err.msg);
    for (int b = 0, i = 0; i < p.n_runs; i++)
        if (nom->label[i]) {
            cr_assert_lt(b, p.n_anomalous);
            cr_assert_eq(bad[b], i, "bad run %d: %d, want %d", b, bad[b], i);
            b++;
        }
    dn_dataset_t *same = NULL, *none = NULL;
    cr_assert_eq(dn_generate_slow_with_bad(&p, &s, 3, bad, p.n_anomalous, &same, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(dn_generate_slow_with_bad(&p, &s, 3, NULL, 0, &none, &err), 0, "%s", err.msg);
    size_t nr = (size_t)p.n_runs;
    cr_assert(!memcmp(same->counts, ds->counts, nr * p.n_bins * sizeof(double)));
    cr_assert(!memcmp(same->label, ds->label, nr));
    cr_assert_str_eq(same->meta_extra, ds->meta_extra);
    for (int i = 0; i < p.n_runs; i++) {
        cr_assert_eq(none->slow_kind[i], ds->slow_kind[i]);
        cr_assert_eq(none->slow_size[i], ds->slow_size[i]);
        cr_assert_eq(none->label[i], none->slow_bad[i], "run %d: no ordinary anomalies", i);
        if (!nom->label[i])
            cr_assert(!memcmp(dn_dataset_row(none, i), dn_dataset_row(ds, i),
                              sizeof(double) * (size_t)p.n_bins),
                      "run %d good in both: counts differ", i);
    }
    free(bad);
    dn_dataset_destroy(&nom);
    dn_dataset_destroy(&ds);
    dn_dataset_destroy(&same);
    dn_dataset_destroy(&none);
}

static void expect_slow_invalid(const dn_gen_params_t *p, const dn_slow_params_t *s,
                                const char *name)
{
    dn_err_t err = {0};
    int rc = dn_slow_params_check(s, p, &err);
    cr_assert_eq(rc, DN_EINVAL, "%s: check returned %d", name, rc);
    cr_assert_not_null(strstr(err.msg, name), "%s: message does not name it: %s", name,
                       err.msg);
    dn_dataset_t *ds = NULL;
    cr_assert_eq(dn_generate_slow(p, s, 1, &ds, &err), DN_EINVAL, "%s: generated", name);
    cr_assert_null(ds);
}

Test(generator, slow_parameter_checks)
{
    dn_gen_params_t p;
    dn_slow_params_t d, s;
    slow_setup(&p, &d);
    dn_err_t err = {0};
    cr_assert_eq(dn_slow_params_check(&d, &p, &err), 0, "%s", err.msg);
#define BAD(field, value, name) \
    do { s = d; s.field = value; expect_slow_invalid(&p, &s, name); } while (0)
    BAD(n_defects, -1, "slow-defects");
    BAD(first, -1, "slow-first");
    BAD(efficiency_loss, 1.01, "slow-efficiency-loss");
    BAD(efficiency_loss, NAN, "slow-efficiency-loss");
    BAD(width_growth, -0.1, "slow-width-growth");
    BAD(mean_walk, INFINITY, "slow-mean-walk");
    BAD(ramp_min, 0, "slow-ramp-min");
    BAD(ramp_max, 199, "slow-ramp-max");
    BAD(hold, -1, "slow-hold");
    BAD(region_min, 0, "slow-region-min");
    BAD(region_max, 4, "slow-region-max");
    BAD(region_max, 41, "slow-region-max"); /* the window [-2, 2] holds 40 bins */
    BAD(efficiency_tolerance, 1.0, "slow-efficiency-tolerance");
    BAD(width_tolerance, -1e-9, "slow-width-tolerance");
    BAD(mean_tolerance, NAN, "slow-mean-tolerance");
    BAD(n_defects, 5, "slow-ramp-max, slow-hold"); /* 2400 / 5 = 480 < 600 */
    BAD(first, 2500, "slow-first");
    BAD(first, 4000, "slow-first");
#undef BAD
    s = d;
    s.efficiency_loss = s.width_growth = s.mean_walk = 0.0;
    expect_slow_invalid(&p, &s, "slow-mean-walk");
    /* Limits that are valid: 4 segments of exactly ramp-max + hold runs; the
     * window's full width; no efficiency kind, so any region. */
    s = d;
    s.first = p.n_runs - 4 * (s.ramp_max + s.hold);
    cr_assert_eq(dn_slow_params_check(&s, &p, &err), 0, "%s", err.msg);
    s = d;
    s.region_min = s.region_max = 40;
    cr_assert_eq(dn_slow_params_check(&s, &p, &err), 0, "%s", err.msg);
    s.region_min = s.region_max = 1000;
    s.efficiency_loss = 0.0;
    cr_assert_eq(dn_slow_params_check(&s, &p, &err), 0, "%s", err.msg);
    dn_dataset_t *ds = generate_slow(&p, &s, 2);
    for (int i = 0; i < p.n_runs; i++)
        cr_assert_neq(ds->slow_kind[i], DN_SLOW_EFFICIENCY);
    dn_dataset_destroy(&ds);
    /* Off: the fit to the runs is not checked (the datasets are dn_generate's). */
    s = d;
    s.n_defects = 0;
    s.first = 100000;
    cr_assert_eq(dn_slow_params_check(&s, &p, &err), 0, "%s", err.msg);
    /* A full loss and a zero ramp spread work: every region bin empty when held. */
    s = d;
    s.width_growth = s.mean_walk = 0.0;
    s.efficiency_loss = 1.0;
    s.ramp_min = s.ramp_max = 50;
    ds = generate_slow(&p, &s, 2);
    want_episode_t ep[8];
    int n_ep = read_episodes(ds, ep, 8);
    for (int e = 0; e < n_ep; e++) {
        cr_assert_eq(ep[e].ramp, 50);
        for (int k = ep[e].ramp - 1; k < ep[e].ramp + ep[e].hold; k++)
            for (int j = ep[e].first_bin; j <= ep[e].last_bin; j++)
                cr_assert_eq(dn_dataset_row(ds, ep[e].start + k)[j], 0.0);
    }
    dn_dataset_destroy(&ds);
}

Test(generator, slow_param_table_and_set)
{
    int np = 0;
    const dn_gen_param_info_t *t = dn_slow_param_table(&np);
    cr_assert_eq(np, 13);
    dn_slow_params_t s;
    memset(&s, 0, sizeof s);
    dn_err_t err = {0};
    for (int k = 0; k < np; k++) {
        cr_assert(!strncmp(t[k].name, "slow-", 5), "%s", t[k].name);
        cr_assert(t[k].help && t[k].help[0], "%s lacks help", t[k].name);
        for (int l = 0; l < k; l++)
            cr_assert_neq(t[k].offset, t[l].offset, "%s and %s share a field", t[k].name,
                          t[l].name);
        char v[32];
        snprintf(v, sizeof v, "%d", k + 1);
        cr_assert_eq(dn_slow_params_set(&s, t[k].name, v, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(s.n_defects, 1);
    cr_assert_eq(s.first, 2);
    cr_assert_eq(s.efficiency_loss, 3.0);
    cr_assert_eq(s.hold, 8);
    cr_assert_eq(s.region_max, 10);
    cr_assert_eq(s.mean_tolerance, 13.0);
    dn_slow_params_t before = s;
    cr_assert_eq(dn_slow_params_set(&s, "slow-hold", "1.5", &err), DN_EINVAL);
    cr_assert_not_null(strstr(err.msg, "slow-hold"), "%s", err.msg);
    cr_assert_eq(dn_slow_params_set(&s, "slow-mean-walk", "nan", &err), DN_EINVAL);
    cr_assert_eq(dn_slow_params_set(&s, "runs", "5", &err), DN_EINVAL, "a SPEC 1 name");
    cr_assert(!memcmp(&s, &before, sizeof s));
    /* The two tables do not share a name. */
    int ng;
    const dn_gen_param_info_t *g = dn_gen_param_table(&ng);
    for (int k = 0; k < np; k++)
        for (int l = 0; l < ng; l++)
            cr_assert(strcmp(t[k].name, g[l].name), "%s in both tables", t[k].name);
}
