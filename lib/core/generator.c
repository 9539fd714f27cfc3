/* generator.c: synthetic DINAMO datasets (SPEC.md section 1).
 *
 * Order of random draws (fixed: a change here changes every dataset, and the
 * golden checksum in tests/test_generator.c notices). Each stage draws from its
 * own stream derived by dn_rng_seed_stream(seed, stream), so the stages are
 * independent of each other and a run's histogram does not depend on how many
 * draws the other runs needed:
 *   stream 1  labels: dn_rng_choose(n_runs, n_anomalous) -> the bad runs.
 *   stream 2  rapid changes of mu: for i = 0..n_runs-1 one uniform u; when
 *             u < p_rapid run i is a change point and then draws a fair sign and
 *             a magnitude U[mu_rapid_min, mu_rapid_max). The shift holds until
 *             the next change point, which replaces it (no accumulation).
 *   stream 3  rapid changes of sigma: the same with the sigma range.
 *   stream 4  mu anomalies: dn_rng_choose(n_anomalous, m) over the bad runs in
 *             increasing order, m = int(p_anomaly * n_anomalous); then for each
 *             chosen run in increasing order a sign and a magnitude.
 *   stream 5  sigma anomalies: the same, with a new choice of m bad runs.
 *   stream 2^32 + i, for run i:
 *             I0 = floor(U[i_min, i_max)); the multinomial of I0 over the bins
 *             and one last cell for the mass outside [x_min, x_max]; the
 *             systematic sign; one binomial per right-half bin in increasing
 *             bin order; for a bad run the dead-bin count d = dead_min +
 *             below(dead_max - dead_min + 1) and dn_rng_choose(n_bins, d).
 *
 * Invariants of the output: counts are non-negative integers; before the
 * systematic the bins sum to at most I0 (the outside cell takes the rest); the
 * left half (j < n_bins / 2) is untouched by the systematic, so there the counts
 * of a good run are exactly the multinomial's; true_sigma > 0 (checked). */
#include "generator.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

enum {
    STREAM_LABELS = 1,
    STREAM_RAPID_MU = 2,
    STREAM_RAPID_SIGMA = 3,
    STREAM_ANOMALY_MU = 4,
    STREAM_ANOMALY_SIGMA = 5,
};
#define STREAM_RUN_BASE (UINT64_C(1) << 32)

void dn_gen_params_default(dn_gen_params_t *p)
{
    *p = (dn_gen_params_t){
        .n_runs = 5000,
        .n_anomalous = 500,
        .n_bins = 100,
        .x_min = -5.0,
        .x_max = 5.0,
        .i_min = 2000.0,
        .i_max = 20000.0,
        .mu_base = 0.0,
        .sigma_base = 1.0,
        .slow_period = 500.0,
        .drift_amplitude = 0.5,
        .p_rapid = 0.005,
        .mu_rapid_min = 0.5,
        .mu_rapid_max = 1.5,
        .sigma_rapid_min = 0.1,
        .sigma_rapid_max = 0.4,
        .mu_anomaly_min = 0.25,
        .mu_anomaly_max = 0.75,
        .sigma_anomaly_min = 0.05,
        .sigma_anomaly_max = 0.2,
        .p_binom = 0.4,
        .p_anomaly = 0.9,
        .dead_min = 1,
        .dead_max = 19,
    };
}

#define PARAM(name, field, type, help) \
    { name, help, type, offsetof(dn_gen_params_t, field) }

static const dn_gen_param_info_t param_table[] = {
    PARAM("runs", n_runs, DN_GEN_INT, "number of runs (5000)"),
    PARAM("anomalous", n_anomalous, DN_GEN_INT, "number of bad runs (500)"),
    PARAM("bins", n_bins, DN_GEN_INT, "number of equal bins (100)"),
    PARAM("x-min", x_min, DN_GEN_DOUBLE, "lower edge of the histogram (-5)"),
    PARAM("x-max", x_max, DN_GEN_DOUBLE, "upper edge of the histogram (5)"),
    PARAM("i-min", i_min, DN_GEN_DOUBLE, "events per run: I0 = floor(U[i-min, i-max)) (2000)"),
    PARAM("i-max", i_max, DN_GEN_DOUBLE, "upper end of the event range (20000)"),
    PARAM("mu-base", mu_base, DN_GEN_DOUBLE, "mean of the Gaussian before shifts (0)"),
    PARAM("sigma-base", sigma_base, DN_GEN_DOUBLE, "width of the Gaussian before shifts (1)"),
    PARAM("slow-period", slow_period, DN_GEN_DOUBLE,
          "runs per half period of the slow drift sin(pi i / period) (500)"),
    PARAM("drift-amplitude", drift_amplitude, DN_GEN_DOUBLE, "amplitude of the slow drift of mu (0.5)"),
    PARAM("p-rapid", p_rapid, DN_GEN_DOUBLE, "probability that a run starts a rapid change (0.005)"),
    PARAM("mu-rapid-min", mu_rapid_min, DN_GEN_DOUBLE, "smallest rapid shift of mu (0.5)"),
    PARAM("mu-rapid-max", mu_rapid_max, DN_GEN_DOUBLE, "largest rapid shift of mu, exclusive (1.5)"),
    PARAM("sigma-rapid-min", sigma_rapid_min, DN_GEN_DOUBLE, "smallest rapid shift of sigma (0.1)"),
    PARAM("sigma-rapid-max", sigma_rapid_max, DN_GEN_DOUBLE, "largest rapid shift of sigma, exclusive (0.4)"),
    PARAM("mu-anomaly-min", mu_anomaly_min, DN_GEN_DOUBLE, "smallest anomalous shift of mu (0.25)"),
    PARAM("mu-anomaly-max", mu_anomaly_max, DN_GEN_DOUBLE, "largest anomalous shift of mu, exclusive (0.75)"),
    PARAM("sigma-anomaly-min", sigma_anomaly_min, DN_GEN_DOUBLE, "smallest anomalous shift of sigma (0.05)"),
    PARAM("sigma-anomaly-max", sigma_anomaly_max, DN_GEN_DOUBLE,
          "largest anomalous shift of sigma, exclusive (0.2)"),
    PARAM("p-binom", p_binom, DN_GEN_DOUBLE,
          "systematic: right-half bins change by +-Binomial(count, p-binom) (0.4)"),
    PARAM("p-anomaly", p_anomaly, DN_GEN_DOUBLE,
          "fraction of bad runs with a mu shift (and, independently, a sigma shift) (0.9)"),
    PARAM("dead-min", dead_min, DN_GEN_INT, "fewest dead bins of a bad run (1)"),
    PARAM("dead-max", dead_max, DN_GEN_INT, "most dead bins of a bad run (19)"),
};

#define N_PARAMS ((int)(sizeof param_table / sizeof param_table[0]))

const dn_gen_param_info_t *dn_gen_param_table(int *n_out)
{
    if (n_out)
        *n_out = N_PARAMS;
    return param_table;
}

static int n_shifted(const dn_gen_params_t *p)
{
    return (int)(p->p_anomaly * p->n_anomalous);
}

static int check_range(double lo, double hi, const char *lo_name, const char *hi_name,
                       dn_err_t *err)
{
    if (!isfinite(lo) || lo < 0.0)
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter %s: must be a finite number >= 0 (got %g)",
                          lo_name, lo);
    if (!isfinite(hi) || hi < lo)
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter %s: must be finite and >= %s = %g (got %g)",
                          hi_name, lo_name, lo, hi);
    return 0;
}

static int check_probability(double v, const char *name, dn_err_t *err)
{
    if (!(v >= 0.0 && v <= 1.0))
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter %s: must be a probability in [0, 1] (got %g)",
                          name, v);
    return 0;
}

int dn_gen_params_check(const dn_gen_params_t *p, dn_err_t *err)
{
    int rc;
    if (p->n_runs < 0)
        return dn_err_set(err, DN_EINVAL, "generator parameter runs: must be >= 0 (got %d)",
                          p->n_runs);
    if (p->n_anomalous < 0 || p->n_anomalous > p->n_runs)
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter anomalous: must be in [0, runs = %d] (got %d)",
                          p->n_runs, p->n_anomalous);
    if (p->n_bins < 1)
        return dn_err_set(err, DN_EINVAL, "generator parameter bins: must be >= 1 (got %d)",
                          p->n_bins);
    if (!isfinite(p->x_min))
        return dn_err_set(err, DN_EINVAL, "generator parameter x-min: must be finite (got %g)",
                          p->x_min);
    if (!isfinite(p->x_max) || !(p->x_max > p->x_min))
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter x-max: must be finite and > x-min = %g (got %g)",
                          p->x_min, p->x_max);
    if (!(p->i_min >= 0.0 && p->i_min <= (double)INT32_MAX))
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter i-min: must be in [0, %d] (got %g)", INT32_MAX,
                          p->i_min);
    if (!(p->i_max >= p->i_min && p->i_max <= (double)INT32_MAX))
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter i-max: must be in [i-min = %g, %d] (got %g)",
                          p->i_min, INT32_MAX, p->i_max);
    if (!isfinite(p->mu_base))
        return dn_err_set(err, DN_EINVAL, "generator parameter mu-base: must be finite (got %g)",
                          p->mu_base);
    if (!(isfinite(p->sigma_base) && p->sigma_base > 0.0))
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter sigma-base: must be finite and > 0 (got %g)",
                          p->sigma_base);
    if (!(isfinite(p->slow_period) && p->slow_period > 0.0))
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter slow-period: must be finite and > 0 (got %g)",
                          p->slow_period);
    if (!isfinite(p->drift_amplitude))
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter drift-amplitude: must be finite (got %g)",
                          p->drift_amplitude);
    if ((rc = check_probability(p->p_rapid, "p-rapid", err)) ||
        (rc = check_range(p->mu_rapid_min, p->mu_rapid_max, "mu-rapid-min", "mu-rapid-max", err)) ||
        (rc = check_range(p->sigma_rapid_min, p->sigma_rapid_max, "sigma-rapid-min",
                          "sigma-rapid-max", err)) ||
        (rc = check_range(p->mu_anomaly_min, p->mu_anomaly_max, "mu-anomaly-min",
                          "mu-anomaly-max", err)) ||
        (rc = check_range(p->sigma_anomaly_min, p->sigma_anomaly_max, "sigma-anomaly-min",
                          "sigma-anomaly-max", err)) ||
        (rc = check_probability(p->p_binom, "p-binom", err)) ||
        (rc = check_probability(p->p_anomaly, "p-anomaly", err)))
        return rc;
    if (p->dead_min < 0 || p->dead_min > p->dead_max)
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter dead-min: must be in [0, dead-max = %d] (got %d)",
                          p->dead_max, p->dead_min);
    if (p->dead_max > p->n_bins)
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter dead-max: must be <= bins = %d (got %d)",
                          p->n_bins, p->dead_max);
    double rapid = p->p_rapid > 0.0 ? p->sigma_rapid_max : 0.0;
    double anomaly = n_shifted(p) >= 1 ? p->sigma_anomaly_max : 0.0;
    if (!(p->sigma_base - rapid - anomaly > 0.0))
        return dn_err_set(err, DN_EINVAL,
                          "generator parameters sigma-base, sigma-rapid-max, sigma-anomaly-max: "
                          "sigma could reach %g - %g - %g <= 0",
                          p->sigma_base, rapid, anomaly);
    return 0;
}

int dn_gen_params_set(dn_gen_params_t *p, const char *name, const char *value,
                      dn_err_t *err)
{
    const dn_gen_param_info_t *info = NULL;
    for (int i = 0; i < N_PARAMS; i++)
        if (strcmp(param_table[i].name, name) == 0)
            info = &param_table[i];
    if (!info)
        return dn_err_set(err, DN_EINVAL, "unknown generator parameter '%s'", name);
    char *end;
    errno = 0;
    if (info->type == DN_GEN_INT) {
        long v = strtol(value, &end, 10);
        if (end == value || *end != '\0' || errno == ERANGE || v < INT_MIN || v > INT_MAX)
            return dn_err_set(err, DN_EINVAL,
                              "generator parameter %s: '%s' is not an integer in int range",
                              name, value);
        *(int *)((char *)p + info->offset) = (int)v;
    } else {
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || !isfinite(v))
            return dn_err_set(err, DN_EINVAL,
                              "generator parameter %s: '%s' is not a finite number", name,
                              value);
        *(double *)((char *)p + info->offset) = v;
    }
    return 0;
}

/* Rapid changes along the runs (streams 2 and 3): adds each segment's shift to
 * value[] and marks change points in flag[]. */
static void rapid_changes(dn_rng_t *rng, int n_runs, double p_rapid, double lo, double hi,
                          double *value, uint8_t *flag)
{
    double shift = 0.0;
    for (int i = 0; i < n_runs; i++) {
        if (dn_rng_uniform(rng) < p_rapid) {
            double s = dn_rng_sign(rng);
            shift = s * dn_rng_uniform_range(rng, lo, hi);
            flag[i] = 1;
        }
        value[i] += shift;
    }
}

/* Anomalies (streams 4 and 5): m of the bad runs bad[0..n_bad) get value +=
 * sign * U[lo, hi). */
static void anomalies(dn_rng_t *rng, const int *bad, int n_bad, int m, double lo, double hi,
                      double *value, int *chosen, int *scratch)
{
    dn_rng_choose(rng, n_bad, m, chosen, scratch);
    for (int c = 0; c < m; c++) {
        double s = dn_rng_sign(rng);
        value[bad[chosen[c]]] += s * dn_rng_uniform_range(rng, lo, hi);
    }
}

/* Probabilities of the n_bins bins of edges[0..n_bins] under N(mu, sigma^2) and,
 * in prob[n_bins], of the outside. Each edge's CDF is taken from erfc of |z| (the
 * smaller tail, which erfc computes to full relative precision), and a bin's
 * probability is a difference of two same-side tails, or one minus both tails
 * when the bin holds the mean, so no probability is a difference of two numbers
 * close to 1. tail[] is scratch for n_bins + 1 doubles. */
static void gaussian_bin_probs(const double *edges, int n_bins, double mu, double sigma,
                               double *prob, double *tail)
{
    double inv = M_SQRT1_2 / sigma;
    for (int j = 0; j <= n_bins; j++)
        tail[j] = 0.5 * erfc(fabs(edges[j] - mu) * inv);
    /* below(j) = P(X < edge j), above(j) = P(X > edge j) */
#define BELOW(j) (edges[j] < mu ? tail[j] : 1.0 - tail[j])
#define ABOVE(j) (edges[j] < mu ? 1.0 - tail[j] : tail[j])
    for (int j = 0; j < n_bins; j++) {
        double q;
        if (edges[j + 1] <= mu)
            q = tail[j + 1] - tail[j];
        else if (edges[j] >= mu)
            q = tail[j] - tail[j + 1];
        else
            q = 1.0 - tail[j] - tail[j + 1];
        prob[j] = q > 0.0 ? q : 0.0;
    }
    prob[n_bins] = BELOW(0) + ABOVE(n_bins);
#undef BELOW
#undef ABOVE
}

static int write_meta(const dn_gen_params_t *p, uint64_t seed, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return DN_ENOMEM;
    fprintf(f, "\"seed\": %llu, \"generator\": {", (unsigned long long)seed);
    for (int i = 0; i < N_PARAMS; i++) {
        const dn_gen_param_info_t *info = &param_table[i];
        const char *field = (const char *)p + info->offset;
        fprintf(f, "%s\"%s\": ", i ? ", " : "", info->name);
        if (info->type == DN_GEN_INT)
            fprintf(f, "%d", *(const int *)field);
        else
            fprintf(f, "%.17g", *(const double *)field);
    }
    fputc('}', f);
    if (ferror(f)) {
        fclose(f);
        free(buf);
        return DN_ENOMEM;
    }
    if (fclose(f) != 0) {
        free(buf);
        return DN_ENOMEM;
    }
    *out = buf;
    return 0;
}

/* The dataset of seed; given_bad (sorted, p->n_anomalous distinct run indices)
 * replaces the seed's choice of anomalous runs when not NULL. Every other draw
 * comes from its own stream, so two calls with the same seed and different bad
 * sets give identical good runs. */
static int generate(const dn_gen_params_t *p, uint64_t seed, const int *given_bad,
                    dn_dataset_t **out, dn_err_t *err)
{
    int rc = dn_gen_params_check(p, err);
    if (rc)
        return rc;
    const int n = p->n_runs, nb = p->n_bins, n_bad = p->n_anomalous;
    const int m = n_shifted(p);
    dn_dataset_t *ds = NULL;
    int *bad = NULL, *chosen = NULL, *scratch = NULL, *dead = NULL;
    double *prob = NULL, *tail = NULL;
    uint64_t *cell = NULL;

    ds = dn_dataset_new(n, nb, 1);
    size_t big = (size_t)(n > nb ? n : nb) + 1;
    bad = malloc(((size_t)n_bad + 1) * sizeof *bad);
    chosen = malloc(((size_t)n_bad + 1) * sizeof *chosen);
    scratch = malloc(big * sizeof *scratch);
    dead = malloc(((size_t)nb + 1) * sizeof *dead);
    prob = malloc(((size_t)nb + 1) * sizeof *prob);
    tail = malloc(((size_t)nb + 1) * sizeof *tail);
    cell = malloc(((size_t)nb + 1) * sizeof *cell);
    if (!ds || !bad || !chosen || !scratch || !dead || !prob || !tail || !cell) {
        rc = dn_err_set(err, DN_ENOMEM, "generator: out of memory for %d runs x %d bins", n,
                        nb);
        goto fail;
    }
    if ((rc = write_meta(p, seed, &ds->meta_extra))) {
        rc = dn_err_set(err, rc, "generator: out of memory writing the metadata");
        goto fail;
    }

    const double width = (p->x_max - p->x_min) / nb;
    for (int j = 0; j < nb; j++)
        ds->edges[j] = p->x_min + j * width;
    ds->edges[nb] = p->x_max;
    ds->edges_known = 1;

    dn_rng_t rng;
    if (given_bad) {
        memcpy(bad, given_bad, (size_t)n_bad * sizeof *bad);
    } else {
        dn_rng_seed_stream(&rng, seed, STREAM_LABELS);
        dn_rng_choose(&rng, n, n_bad, bad, scratch);
    }
    for (int i = 0; i < n; i++) {
        ds->run[i] = i;
        ds->label[i] = 0;
        ds->true_mu[i] = p->mu_base + p->drift_amplitude * sin(M_PI * i / p->slow_period);
        ds->true_sigma[i] = p->sigma_base;
    }
    for (int b = 0; b < n_bad; b++)
        ds->label[bad[b]] = 1;

    dn_rng_seed_stream(&rng, seed, STREAM_RAPID_MU);
    rapid_changes(&rng, n, p->p_rapid, p->mu_rapid_min, p->mu_rapid_max, ds->true_mu,
                  ds->rapid_mu);
    dn_rng_seed_stream(&rng, seed, STREAM_RAPID_SIGMA);
    rapid_changes(&rng, n, p->p_rapid, p->sigma_rapid_min, p->sigma_rapid_max,
                  ds->true_sigma, ds->rapid_sigma);
    dn_rng_seed_stream(&rng, seed, STREAM_ANOMALY_MU);
    anomalies(&rng, bad, n_bad, m, p->mu_anomaly_min, p->mu_anomaly_max, ds->true_mu, chosen,
              scratch);
    dn_rng_seed_stream(&rng, seed, STREAM_ANOMALY_SIGMA);
    anomalies(&rng, bad, n_bad, m, p->sigma_anomaly_min, p->sigma_anomaly_max,
              ds->true_sigma, chosen, scratch);

    const int half = nb / 2;
    const uint64_t dead_span = (uint64_t)(p->dead_max - p->dead_min) + 1;
    for (int i = 0; i < n; i++) {
        dn_rng_seed_stream(&rng, seed, STREAM_RUN_BASE + (uint64_t)i);
        double u = dn_rng_uniform_range(&rng, p->i_min, p->i_max);
        if (u >= p->i_max && p->i_max > p->i_min) /* rounding of lo + (hi - lo) u */
            u = nextafter(p->i_max, 0.0);
        int32_t events = (int32_t)floor(u);
        ds->events[i] = events;

        gaussian_bin_probs(ds->edges, nb, ds->true_mu[i], ds->true_sigma[i], prob, tail);
        dn_rng_multinomial(&rng, (uint64_t)events, prob, nb + 1, cell);

        double s = dn_rng_sign(&rng);
        for (int j = half; j < nb; j++) {
            uint64_t d = dn_rng_binomial(&rng, cell[j], p->p_binom);
            cell[j] = s > 0 ? cell[j] + d : cell[j] - d;
        }
        double *row = ds->counts + (size_t)i * nb;
        for (int j = 0; j < nb; j++)
            row[j] = (double)cell[j];

        if (ds->label[i]) {
            int d = p->dead_min + (int)dn_rng_below(&rng, dead_span);
            dn_rng_choose(&rng, nb, d, dead, scratch);
            for (int k = 0; k < d; k++)
                row[dead[k]] = 0.0;
            ds->dead_bins[i] = d;
        }
    }

    *out = ds;
    ds = NULL;
    rc = 0;
fail:
    dn_dataset_destroy(&ds);
    free(bad);
    free(chosen);
    free(scratch);
    free(dead);
    free(prob);
    free(tail);
    free(cell);
    return rc;
}

int dn_generate(const dn_gen_params_t *p, uint64_t seed, dn_dataset_t **out,
                dn_err_t *err)
{
    return generate(p, seed, NULL, out, err);
}

int dn_generate_with_bad(const dn_gen_params_t *p, uint64_t seed, const int *bad, int n_bad,
                         dn_dataset_t **out, dn_err_t *err)
{
    if (n_bad < 0 || (n_bad && !bad) || !p)
        return dn_err_set(err, DN_EINVAL, "generator: %d anomalous runs given", n_bad);
    for (int i = 0; i < n_bad; i++)
        if (bad[i] < 0 || bad[i] >= p->n_runs || (i && bad[i] <= bad[i - 1]))
            return dn_err_set(err, DN_EINVAL, "generator: anomalous run %d: not a sorted, "
                              "distinct run index in [0, %d)", bad[i], p->n_runs);
    dn_gen_params_t q = *p;
    q.n_anomalous = n_bad;
    return generate(&q, seed, bad, out, err);
}
