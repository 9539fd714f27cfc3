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
 * Slow anomalies (dn_generate_slow, only when slow-defects > 0) draw from
 * streams of their own, so every draw above is the same with the mode on:
 *   stream 6  episode layout: for each episode in order, its kind (one
 *             below(number of enabled kinds), among efficiency, width, mean in
 *             that order), its ramp (ramp_min + below(ramp_max - ramp_min + 1)),
 *             its start (segment start + below(segment length - ramp - hold +
 *             1)); then a mean episode its sign (dn_rng_sign), an efficiency
 *             episode its region width (region_min + below(region_max -
 *             region_min + 1)) and first bin (window start + below(window
 *             length - width + 1)).
 *   stream 2^33 + i, for run i inside an efficiency episode: one binomial per
 *             region bin in increasing bin order, count' = Binomial(count,
 *             1 - size), applied after the systematic and before dead bins.
 * Mean and width defects add to true_mu / true_sigma before the run's counts
 * are drawn (the same run stream, other bin probabilities). Dead bins and the
 * anomaly shifts follow the ordinary bad runs only; a slow-bad run gets label
 * 1 after the counts are drawn.
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
    STREAM_SLOW_LAYOUT = 6,
};
#define STREAM_RUN_BASE (UINT64_C(1) << 32)
#define STREAM_SLOW_RUN_BASE (UINT64_C(1) << 33)

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

/* Sets the entry `name` of tab[0..n) in the struct at base from text. */
static int set_param(const dn_gen_param_info_t *tab, int n, void *base, const char *name,
                     const char *value, dn_err_t *err)
{
    const dn_gen_param_info_t *info = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(tab[i].name, name) == 0)
            info = &tab[i];
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
        *(int *)((char *)base + info->offset) = (int)v;
    } else {
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || !isfinite(v))
            return dn_err_set(err, DN_EINVAL,
                              "generator parameter %s: '%s' is not a finite number", name,
                              value);
        *(double *)((char *)base + info->offset) = v;
    }
    return 0;
}

int dn_gen_params_set(dn_gen_params_t *p, const char *name, const char *value,
                      dn_err_t *err)
{
    return set_param(param_table, N_PARAMS, p, name, value, err);
}

/* ---- slow-anomaly parameters ------------------------------------------------ */

void dn_slow_params_default(dn_slow_params_t *s)
{
    *s = (dn_slow_params_t){
        .n_defects = 0,
        .first = 1000,
        .efficiency_loss = 0.6,
        .width_growth = 0.4,
        .mean_walk = 1.0,
        .ramp_min = 200,
        .ramp_max = 500,
        .hold = 100,
        .region_min = 5,
        .region_max = 15,
        .efficiency_tolerance = 0.15,
        .width_tolerance = 0.1,
        .mean_tolerance = 0.25,
    };
}

#define SLOW(name, field, type, help) \
    { name, help, type, offsetof(dn_slow_params_t, field) }

static const dn_gen_param_info_t slow_table[] = {
    SLOW("slow-defects", n_defects, DN_GEN_INT,
         "slow anomalies: defect episodes per dataset (0: mode off) (0)"),
    SLOW("slow-first", first, DN_GEN_INT,
         "earliest run an episode may start; the runs before stay nominal (1000)"),
    SLOW("slow-efficiency-loss", efficiency_loss, DN_GEN_DOUBLE,
         "final fraction of entries lost in a region of bins; 0 disables the kind (0.6)"),
    SLOW("slow-width-growth", width_growth, DN_GEN_DOUBLE,
         "final increase of sigma; 0 disables the kind (0.4)"),
    SLOW("slow-mean-walk", mean_walk, DN_GEN_DOUBLE,
         "final |shift| of mu, sign a fair coin; 0 disables the kind (1)"),
    SLOW("slow-ramp-min", ramp_min, DN_GEN_INT,
         "fewest runs from an episode's start to its full size (200)"),
    SLOW("slow-ramp-max", ramp_max, DN_GEN_INT, "most runs to full size (500)"),
    SLOW("slow-hold", hold, DN_GEN_INT,
         "runs at full size before the defect is repaired (100)"),
    SLOW("slow-region-min", region_min, DN_GEN_INT,
         "fewest contiguous bins losing efficiency, within mu-base +- 2 sigma-base (5)"),
    SLOW("slow-region-max", region_max, DN_GEN_INT, "most bins losing efficiency (15)"),
    SLOW("slow-efficiency-tolerance", efficiency_tolerance, DN_GEN_DOUBLE,
         "a run losing more than this fraction is labelled bad (0.15)"),
    SLOW("slow-width-tolerance", width_tolerance, DN_GEN_DOUBLE,
         "a run whose sigma grew by more than this is labelled bad (0.1)"),
    SLOW("slow-mean-tolerance", mean_tolerance, DN_GEN_DOUBLE,
         "a run whose mu moved by more than this is labelled bad (0.25)"),
};

#define N_SLOW_PARAMS ((int)(sizeof slow_table / sizeof slow_table[0]))

static const char *const slow_kind_names[] = {"none", "efficiency", "width", "mean"};

const dn_gen_param_info_t *dn_slow_param_table(int *n_out)
{
    if (n_out)
        *n_out = N_SLOW_PARAMS;
    return slow_table;
}

int dn_slow_params_set(dn_slow_params_t *s, const char *name, const char *value,
                       dn_err_t *err)
{
    return set_param(slow_table, N_SLOW_PARAMS, s, name, value, err);
}

/* The bins covering [mu_base - 2 sigma_base, mu_base + 2 sigma_base], clipped
 * to the histogram: [*lo, *hi], a bin counting when it overlaps the interval
 * by more than a rounding error (an interval ending on an edge does not take
 * the next bin). Returns the number of bins (0: the interval misses the
 * histogram). */
static int slow_window(const dn_gen_params_t *p, int *lo, int *hi)
{
    const double width = (p->x_max - p->x_min) / p->n_bins;
    double a = (p->mu_base - 2.0 * p->sigma_base - p->x_min) / width;
    double b = (p->mu_base + 2.0 * p->sigma_base - p->x_min) / width;
    a = floor(a + 1e-9);
    b = ceil(b - 1e-9) - 1.0;
    if (a < 0.0)
        a = 0.0;
    if (b > p->n_bins - 1.0)
        b = p->n_bins - 1.0;
    if (!(b >= a)) {
        *lo = 0;
        *hi = -1;
        return 0;
    }
    *lo = (int)a;
    *hi = (int)b;
    return *hi - *lo + 1;
}

static int slow_int_at_least(int v, int lo, const char *name, dn_err_t *err)
{
    if (v < lo)
        return dn_err_set(err, DN_EINVAL, "generator parameter %s: must be >= %d (got %d)",
                          name, lo, v);
    return 0;
}

static int slow_nonnegative(double v, const char *name, dn_err_t *err)
{
    if (!(isfinite(v) && v >= 0.0))
        return dn_err_set(err, DN_EINVAL,
                          "generator parameter %s: must be a finite number >= 0 (got %g)", name,
                          v);
    return 0;
}

int dn_slow_params_check(const dn_slow_params_t *s, const dn_gen_params_t *p, dn_err_t *err)
{
    int rc;
    if ((rc = slow_int_at_least(s->n_defects, 0, "slow-defects", err)) ||
        (rc = slow_int_at_least(s->first, 0, "slow-first", err)))
        return rc;
    if (!(s->efficiency_loss >= 0.0 && s->efficiency_loss <= 1.0))
        return dn_err_set(err, DN_EINVAL, "generator parameter slow-efficiency-loss: must be "
                          "a fraction in [0, 1] (got %g)", s->efficiency_loss);
    if ((rc = slow_nonnegative(s->width_growth, "slow-width-growth", err)) ||
        (rc = slow_nonnegative(s->mean_walk, "slow-mean-walk", err)) ||
        (rc = slow_int_at_least(s->ramp_min, 1, "slow-ramp-min", err)))
        return rc;
    if (s->ramp_max < s->ramp_min)
        return dn_err_set(err, DN_EINVAL, "generator parameter slow-ramp-max: must be >= "
                          "slow-ramp-min = %d (got %d)", s->ramp_min, s->ramp_max);
    if ((rc = slow_int_at_least(s->hold, 0, "slow-hold", err)) ||
        (rc = slow_int_at_least(s->region_min, 1, "slow-region-min", err)))
        return rc;
    if (s->region_max < s->region_min)
        return dn_err_set(err, DN_EINVAL, "generator parameter slow-region-max: must be >= "
                          "slow-region-min = %d (got %d)", s->region_min, s->region_max);
    if (!(s->efficiency_tolerance >= 0.0 && s->efficiency_tolerance < 1.0))
        return dn_err_set(err, DN_EINVAL, "generator parameter slow-efficiency-tolerance: "
                          "must be a fraction in [0, 1) (got %g)", s->efficiency_tolerance);
    if ((rc = slow_nonnegative(s->width_tolerance, "slow-width-tolerance", err)) ||
        (rc = slow_nonnegative(s->mean_tolerance, "slow-mean-tolerance", err)))
        return rc;
    if (s->n_defects == 0)
        return 0;
    if (!(s->efficiency_loss > 0.0 || s->width_growth > 0.0 || s->mean_walk > 0.0))
        return dn_err_set(err, DN_EINVAL, "generator parameters slow-efficiency-loss, "
                          "slow-width-growth, slow-mean-walk: all 0, so slow-defects = %d "
                          "has no kind of defect to draw", s->n_defects);
    int64_t span = (int64_t)p->n_runs - s->first;
    int64_t need = (int64_t)s->ramp_max + s->hold;
    if (span < 0 || span / s->n_defects < need)
        return dn_err_set(err, DN_EINVAL, "generator parameters slow-defects, slow-first, "
                          "slow-ramp-max, slow-hold: %d segments of runs [%d, runs = %d) "
                          "hold %lld runs each, fewer than slow-ramp-max + slow-hold = %lld",
                          s->n_defects, s->first, p->n_runs,
                          (long long)(span < 0 ? 0 : span / s->n_defects), (long long)need);
    int lo, hi;
    int n_window = slow_window(p, &lo, &hi);
    if (s->efficiency_loss > 0.0 && n_window < s->region_max)
        return dn_err_set(err, DN_EINVAL, "generator parameter slow-region-max: %d bins do "
                          "not fit in the %d bins covering mu-base +- 2 sigma-base = [%g, %g]",
                          s->region_max, n_window, p->mu_base - 2.0 * p->sigma_base,
                          p->mu_base + 2.0 * p->sigma_base);
    return 0;
}

/* One slow-defect episode: runs [start, start + ramp + hold). */
typedef struct episode_t {
    int kind;                 /* DN_SLOW_* */
    int start, ramp, hold;
    double size;              /* the kind's magnitude at full size */
    double sign;              /* mean: the direction of the walk; else +1 */
    int first_bin, last_bin;  /* efficiency: the region; else -1 */
    int bad_from;             /* first run past the tolerance, or -1 */
} episode_t;

static double episode_size_at(const episode_t *e, int k)
{
    double f = (double)(k + 1) / e->ramp;
    return e->size * (f < 1.0 ? f : 1.0);
}

static double slow_tolerance(const dn_slow_params_t *s, int kind)
{
    return kind == DN_SLOW_EFFICIENCY ? s->efficiency_tolerance
           : kind == DN_SLOW_WIDTH    ? s->width_tolerance
                                      : s->mean_tolerance;
}

/* The episodes of seed (stream 6; the order of draws is at the top). */
static void slow_layout(const dn_gen_params_t *p, const dn_slow_params_t *s, uint64_t seed,
                        episode_t *ep)
{
    int kinds[3], n_kinds = 0;
    if (s->efficiency_loss > 0.0)
        kinds[n_kinds++] = DN_SLOW_EFFICIENCY;
    if (s->width_growth > 0.0)
        kinds[n_kinds++] = DN_SLOW_WIDTH;
    if (s->mean_walk > 0.0)
        kinds[n_kinds++] = DN_SLOW_MEAN;
    int w_lo, w_hi;
    int n_window = slow_window(p, &w_lo, &w_hi);
    (void)w_hi;
    dn_rng_t rng;
    dn_rng_seed_stream(&rng, seed, STREAM_SLOW_LAYOUT);
    const int64_t span = (int64_t)p->n_runs - s->first;
    for (int e = 0; e < s->n_defects; e++) {
        episode_t *x = &ep[e];
        int seg_lo = s->first + (int)(span * e / s->n_defects);
        int seg_hi = s->first + (int)(span * (e + 1) / s->n_defects);
        x->kind = kinds[dn_rng_below(&rng, (uint64_t)n_kinds)];
        x->ramp = s->ramp_min + (int)dn_rng_below(&rng, (uint64_t)(s->ramp_max - s->ramp_min) + 1);
        x->hold = s->hold;
        x->start = seg_lo + (int)dn_rng_below(&rng, (uint64_t)(seg_hi - seg_lo - x->ramp -
                                                                 x->hold) + 1);
        x->sign = 1.0;
        x->first_bin = x->last_bin = -1;
        if (x->kind == DN_SLOW_MEAN) {
            x->size = s->mean_walk;
            x->sign = dn_rng_sign(&rng);
        } else if (x->kind == DN_SLOW_WIDTH) {
            x->size = s->width_growth;
        } else {
            x->size = s->efficiency_loss;
            int width = s->region_min +
                        (int)dn_rng_below(&rng, (uint64_t)(s->region_max - s->region_min) + 1);
            x->first_bin = w_lo + (int)dn_rng_below(&rng, (uint64_t)(n_window - width) + 1);
            x->last_bin = x->first_bin + width - 1;
        }
        x->bad_from = -1;
        double tol = slow_tolerance(s, x->kind);
        for (int k = 0; k < x->ramp + x->hold; k++)
            if (episode_size_at(x, k) > tol) {
                x->bad_from = x->start + k;
                break;
            }
    }
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

/* The members of meta.json: seed and generator; with slow anomalies on (s not
 * NULL) also "slow" and "slow_episodes". */
static int write_meta(const dn_gen_params_t *p, uint64_t seed, const dn_slow_params_t *s,
                      const episode_t *ep, char **out)
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
    if (s) {
        fputs(", \"slow\": {", f);
        for (int i = 0; i < N_SLOW_PARAMS; i++) {
            const dn_gen_param_info_t *info = &slow_table[i];
            const char *field = (const char *)s + info->offset;
            fprintf(f, "%s\"%s\": ", i ? ", " : "", info->name);
            if (info->type == DN_GEN_INT)
                fprintf(f, "%d", *(const int *)field);
            else
                fprintf(f, "%.17g", *(const double *)field);
        }
        fputs("}, \"slow_episodes\": [", f);
        for (int e = 0; e < s->n_defects; e++) {
            const episode_t *x = &ep[e];
            fprintf(f, "%s{\"kind\": \"%s\", \"start\": %d, \"ramp\": %d, \"hold\": %d, "
                    "\"size\": %.17g", e ? ", " : "", slow_kind_names[x->kind], x->start,
                    x->ramp, x->hold, x->size);
            if (x->kind == DN_SLOW_MEAN)
                fprintf(f, ", \"sign\": %d", x->sign > 0 ? 1 : -1);
            if (x->kind == DN_SLOW_EFFICIENCY)
                fprintf(f, ", \"first_bin\": %d, \"last_bin\": %d", x->first_bin, x->last_bin);
            if (x->bad_from >= 0)
                fprintf(f, ", \"bad_from\": %d}", x->bad_from);
            else
                fputs(", \"bad_from\": null}", f);
        }
        fputc(']', f);
    }
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
 * sets give identical good runs. sp: slow anomalies (NULL or n_defects 0: none,
 * every byte as without). */
static int generate(const dn_gen_params_t *p, const dn_slow_params_t *sp, uint64_t seed,
                    const int *given_bad, dn_dataset_t **out, dn_err_t *err)
{
    int rc = dn_gen_params_check(p, err);
    if (rc || (sp && (rc = dn_slow_params_check(sp, p, err))))
        return rc;
    if (sp && sp->n_defects == 0)
        sp = NULL;
    const int n = p->n_runs, nb = p->n_bins, n_bad = p->n_anomalous;
    const int m = n_shifted(p);
    dn_dataset_t *ds = NULL;
    int *bad = NULL, *chosen = NULL, *scratch = NULL, *dead = NULL, *episode_of = NULL;
    double *prob = NULL, *tail = NULL;
    uint64_t *cell = NULL;
    episode_t *ep = NULL;

    if (sp) {
        ep = calloc((size_t)sp->n_defects, sizeof *ep);
        episode_of = malloc(((size_t)n + 1) * sizeof *episode_of);
        if (!ep || !episode_of) {
            rc = dn_err_set(err, DN_ENOMEM, "generator: out of memory for %d slow defects",
                            sp->n_defects);
            goto fail;
        }
        slow_layout(p, sp, seed, ep);
    }
    ds = dn_dataset_new(n, nb, 1);
    size_t big = (size_t)(n > nb ? n : nb) + 1;
    bad = malloc(((size_t)n_bad + 1) * sizeof *bad);
    chosen = malloc(((size_t)n_bad + 1) * sizeof *chosen);
    scratch = malloc(big * sizeof *scratch);
    dead = malloc(((size_t)nb + 1) * sizeof *dead);
    prob = malloc(((size_t)nb + 1) * sizeof *prob);
    tail = malloc(((size_t)nb + 1) * sizeof *tail);
    cell = malloc(((size_t)nb + 1) * sizeof *cell);
    if (!ds || !bad || !chosen || !scratch || !dead || !prob || !tail || !cell ||
        (sp && dn_dataset_alloc_slow(ds) != DN_OK)) {
        rc = dn_err_set(err, DN_ENOMEM, "generator: out of memory for %d runs x %d bins", n,
                        nb);
        goto fail;
    }
    if ((rc = write_meta(p, seed, sp, ep, &ds->meta_extra))) {
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

    /* Slow defects: their size at each run, and the mean and width shifts. */
    for (int i = 0; sp && i < n; i++)
        episode_of[i] = -1;
    for (int e = 0; sp && e < sp->n_defects; e++) {
        const episode_t *x = &ep[e];
        double tol = slow_tolerance(sp, x->kind);
        for (int k = 0; k < x->ramp + x->hold; k++) {
            int i = x->start + k;
            double size = episode_size_at(x, k);
            episode_of[i] = e;
            ds->slow_kind[i] = (uint8_t)x->kind;
            ds->slow_size[i] = size;
            ds->slow_bad[i] = size > tol;
            if (x->kind == DN_SLOW_MEAN)
                ds->true_mu[i] += x->sign * size;
            else if (x->kind == DN_SLOW_WIDTH)
                ds->true_sigma[i] += size;
        }
    }

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
        if (sp && episode_of[i] >= 0 && ep[episode_of[i]].kind == DN_SLOW_EFFICIENCY) {
            const episode_t *x = &ep[episode_of[i]];
            dn_rng_t thin;
            dn_rng_seed_stream(&thin, seed, STREAM_SLOW_RUN_BASE + (uint64_t)i);
            for (int j = x->first_bin; j <= x->last_bin; j++)
                cell[j] = dn_rng_binomial(&thin, cell[j], 1.0 - ds->slow_size[i]);
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
    for (int i = 0; sp && i < n; i++) /* after the runs: dead bins follow the ordinary */
        if (ds->slow_bad[i])
            ds->label[i] = 1;

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
    free(ep);
    free(episode_of);
    return rc;
}

int dn_generate(const dn_gen_params_t *p, uint64_t seed, dn_dataset_t **out,
                dn_err_t *err)
{
    return generate(p, NULL, seed, NULL, out, err);
}

int dn_generate_slow(const dn_gen_params_t *p, const dn_slow_params_t *s, uint64_t seed,
                     dn_dataset_t **out, dn_err_t *err)
{
    return generate(p, s, seed, NULL, out, err);
}

int dn_generate_with_bad(const dn_gen_params_t *p, uint64_t seed, const int *bad, int n_bad,
                         dn_dataset_t **out, dn_err_t *err)
{
    return dn_generate_slow_with_bad(p, NULL, seed, bad, n_bad, out, err);
}

int dn_generate_bad_runs(const dn_gen_params_t *p, uint64_t seed, int *bad, dn_err_t *err)
{
    int rc = dn_gen_params_check(p, err);
    if (rc)
        return rc;
    int *scratch = malloc(((size_t)p->n_runs + 1) * sizeof *scratch);
    if (!scratch)
        return dn_err_set(err, DN_ENOMEM, "generator: out of memory for %d runs", p->n_runs);
    dn_rng_t rng;
    dn_rng_seed_stream(&rng, seed, STREAM_LABELS);
    dn_rng_choose(&rng, p->n_runs, p->n_anomalous, bad, scratch);
    free(scratch);
    return 0;
}

int dn_generate_slow_with_bad(const dn_gen_params_t *p, const dn_slow_params_t *s,
                              uint64_t seed, const int *bad, int n_bad, dn_dataset_t **out,
                              dn_err_t *err)
{
    if (n_bad < 0 || (n_bad && !bad) || !p)
        return dn_err_set(err, DN_EINVAL, "generator: %d anomalous runs given", n_bad);
    for (int i = 0; i < n_bad; i++)
        if (bad[i] < 0 || bad[i] >= p->n_runs || (i && bad[i] <= bad[i - 1]))
            return dn_err_set(err, DN_EINVAL, "generator: anomalous run %d: not a sorted, "
                              "distinct run index in [0, %d)", bad[i], p->n_runs);
    dn_gen_params_t q = *p;
    q.n_anomalous = n_bad;
    return generate(&q, s, seed, bad, out, err);
}
