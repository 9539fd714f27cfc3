/* generator.h: the synthetic dataset generator of DINAMO (SPEC.md section 1).
 *
 * One dataset is a pure function of its parameters and a 64-bit seed: runs with
 * a slowly drifting Gaussian (mean and width), rapid step changes of either,
 * anomalous runs with shifted mean and/or width and dead bins, a per-run
 * systematic distortion of the right half of the histogram, and Poisson-like
 * event counts. The bin counts are drawn from the exact multinomial of binning
 * I0 Gaussian draws (without drawing them one by one). The dataset carries the
 * ground truth of every run. The order of random draws is fixed and documented
 * at the top of generator.c; changing it changes every dataset.
 *
 * Thread rules: every function is reentrant; parameter structs and the table
 * returned by dn_gen_param_table() are plain data (the table is static and
 * read-only), so concurrent dn_generate() calls on different outputs are fine. */
#ifndef DN_GENERATOR_H
#define DN_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "error.h"

/* Every parameter of the generator; defaults (paper Appendix A) in comments.
 * A run's mu is mu_base + drift_amplitude * sin(pi * i / slow_period) plus its
 * rapid-change segment shift plus its anomaly shift; its sigma is sigma_base plus
 * the same kinds of shift. Ranges [min, max) are of shift magnitudes; the sign of
 * every shift is a fair coin. */
typedef struct dn_gen_params_t {
    int n_runs;            /* 5000 */
    int n_anomalous;       /* 500 */
    int n_bins;            /* 100 */
    double x_min, x_max;   /* -5, 5 */
    double i_min, i_max;   /* 2000, 20000: I0 = floor(U[i_min, i_max)) */
    double mu_base, sigma_base;   /* 0, 1 */
    double slow_period;    /* 500 */
    double drift_amplitude;/* 0.5 */
    double p_rapid;        /* 0.005 */
    double mu_rapid_min, mu_rapid_max;       /* 0.5, 1.5 */
    double sigma_rapid_min, sigma_rapid_max; /* 0.1, 0.4 */
    double mu_anomaly_min, mu_anomaly_max;   /* 0.25, 0.75 */
    double sigma_anomaly_min, sigma_anomaly_max; /* 0.05, 0.2 */
    double p_binom;        /* 0.4 */
    double p_anomaly;      /* 0.9 */
    int dead_min, dead_max;/* 1, 19 */
} dn_gen_params_t;

/* Fills *p with the defaults above. */
void dn_gen_params_default(dn_gen_params_t *p);

/* Checks every parameter: n_runs >= 0, 0 <= n_anomalous <= n_runs, n_bins >= 1,
 * finite x_min < x_max, 0 <= i_min <= i_max <= INT32_MAX, finite mu_base,
 * sigma_base > 0, slow_period > 0, finite drift_amplitude, p_rapid, p_binom and
 * p_anomaly in [0, 1], every shift range finite with 0 <= min <= max, and
 * 0 <= dead_min <= dead_max <= n_bins. Also rejects parameters under which a
 * run's sigma could reach <= 0: sigma_base - sigma_rapid_max - sigma_anomaly_max
 * <= 0, where a term counts only when that kind of shift can happen (p_rapid > 0;
 * int(p_anomaly * n_anomalous) >= 1).
 * Returns 0, or DN_EINVAL with *err (may be NULL) naming the parameter by its
 * CLI name and the value. */
int dn_gen_params_check(const dn_gen_params_t *p, dn_err_t *err);

/* Parameter table, so a command line can offer `--<name> VALUE` for every
 * parameter and list them in its help. name is the CLI spelling ("runs",
 * "anomalous", "bins", "x-min", "p-rapid", "mu-rapid-min", "dead-max", ...),
 * help a one-line description with the default, offset the field's offsetof()
 * in dn_gen_params_t, type its C type (int or double). */
typedef enum { DN_GEN_INT, DN_GEN_DOUBLE } dn_gen_type_t;
typedef struct dn_gen_param_info_t {
    const char *name;
    const char *help;
    dn_gen_type_t type;
    size_t offset;
} dn_gen_param_info_t;

/* Returns the static table (one entry per field of dn_gen_params_t, in field
 * order) and stores its length in *n_out (n_out may be NULL). Never fails. */
const dn_gen_param_info_t *dn_gen_param_table(int *n_out);

/* Sets the parameter called `name` (CLI spelling, without "--") from the text
 * `value`: an int parameter takes a base-10 integer in int range, a double
 * parameter a finite number (strtod syntax); surrounding text is an error. Does
 * not check ranges (dn_gen_params_check does). Returns 0, or DN_EINVAL with *err
 * naming the unknown parameter or the unparsable value; *p unchanged on error. */
int dn_gen_params_set(dn_gen_params_t *p, const char *name, const char *value,
                      dn_err_t *err);

/* Generates one dataset, a pure function of *p and seed (the same on every
 * machine with the same libm). On success *out is a new dataset the caller owns
 * (free with dn_dataset_destroy): n_runs x n_bins, edges equal bins on
 * [x_min, x_max], run numbers 0..n_runs-1, labels 0/1, counts, and the truth
 * arrays: true_mu and true_sigma (the values actually used for that run,
 * including rapid and anomaly shifts), rapid_mu / rapid_sigma (1 where a change
 * point is), events (I0), dead_bins (0 for good runs). meta_extra holds the
 * JSON members `"seed": S, "generator": {...}` with every parameter under its CLI
 * name (doubles printed with %.17g). *out is untouched on failure.
 * Returns 0, DN_EINVAL (parameters; *err says which) or DN_ENOMEM. */
int dn_generate(const dn_gen_params_t *p, uint64_t seed, dn_dataset_t **out,
                dn_err_t *err);

/* As dn_generate with the anomalous runs given (bad: n_bad sorted distinct run
 * indices, p->n_anomalous ignored) instead of drawn. Everything else is drawn
 * from the seed's streams as in dn_generate, so datasets of one seed with
 * different bad sets are identical at every run that is good in both: the
 * generator service breaks chosen histograms of a run this way. Returns as
 * dn_generate; DN_EINVAL for a bad set that is not sorted, distinct, in range. */
int dn_generate_with_bad(const dn_gen_params_t *p, uint64_t seed, const int *bad, int n_bad,
                         dn_dataset_t **out, dn_err_t *err);

/* ---- slow anomalies (issue 20) ---------------------------------------------
 *
 * Defects that develop over hundreds of runs on top of the nominal data, the
 * failure an evolving reference absorbs: slow_defects episodes per dataset,
 * each of one kind drawn uniformly among the enabled ones (a kind whose
 * magnitude is 0 is disabled):
 *   efficiency  a contiguous region of bins loses a fraction of its entries
 *               (count' = Binomial(count, 1 - size));
 *   width       sigma grows by size;
 *   mean        mu moves by sign * size (the sign a fair coin per episode).
 * [slow_first, n_runs) is split into slow_defects equal segments with one
 * episode each: it starts at a run drawn uniformly so that ramp + hold runs fit
 * in its segment; at run start + k (0 <= k < ramp + hold) its size is
 * magnitude * min(1, (k + 1) / ramp); from start + ramp + hold on it is
 * repaired (gone). A run whose size exceeds its kind's tolerance is labelled
 * bad (slow_bad); below it the run stays good and is learned, as a shifter
 * lets it be. Defaults in comments. */
typedef struct dn_slow_params_t {
    int n_defects;              /* slow-defects 0: mode off */
    int first;                  /* slow-first 1000: earliest start run */
    double efficiency_loss;     /* slow-efficiency-loss 0.6 */
    double width_growth;        /* slow-width-growth 0.4 */
    double mean_walk;           /* slow-mean-walk 1.0 */
    int ramp_min, ramp_max;     /* slow-ramp-min/max 200, 500 runs */
    int hold;                   /* slow-hold 100 runs */
    int region_min, region_max; /* slow-region-min/max 5, 15 bins */
    double efficiency_tolerance;/* slow-efficiency-tolerance 0.15 */
    double width_tolerance;     /* slow-width-tolerance 0.1 */
    double mean_tolerance;      /* slow-mean-tolerance 0.25 */
} dn_slow_params_t;

/* Kinds of slow defect, as in the truth (dataset.h slow_kind). */
enum { DN_SLOW_NONE = 0, DN_SLOW_EFFICIENCY = 1, DN_SLOW_WIDTH = 2, DN_SLOW_MEAN = 3 };

/* Fills *s with the defaults above (the mode off). */
void dn_slow_params_default(dn_slow_params_t *s);

/* Checks every slow parameter by itself: slow-defects >= 0, slow-first >= 0,
 * slow-efficiency-loss in [0, 1], slow-width-growth and slow-mean-walk finite
 * >= 0, 1 <= slow-ramp-min <= slow-ramp-max, slow-hold >= 0, 1 <=
 * slow-region-min <= slow-region-max, slow-efficiency-tolerance in [0, 1),
 * the other tolerances finite >= 0. When slow-defects > 0 also against *p
 * (which must itself pass dn_gen_params_check): some kind is enabled; every
 * segment of [slow-first, runs) holds slow-ramp-max + slow-hold runs; and,
 * when the efficiency kind is enabled, slow-region-max bins fit in the bins
 * covering [mu-base - 2 sigma-base, mu-base + 2 sigma-base] (clipped).
 * Returns 0, or DN_EINVAL with *err (may be NULL) naming the parameters by
 * their CLI names and values. */
int dn_slow_params_check(const dn_slow_params_t *s, const dn_gen_params_t *p, dn_err_t *err);

/* The slow parameters' table, as dn_gen_param_table (offsets into
 * dn_slow_params_t; names "slow-defects", "slow-first", ...). Never fails. */
const dn_gen_param_info_t *dn_slow_param_table(int *n_out);

/* Sets the slow parameter `name` (CLI spelling) from `value`, as
 * dn_gen_params_set. Returns 0, or DN_EINVAL naming the unknown parameter or
 * the unparsable value; *s unchanged on error. */
int dn_slow_params_set(dn_slow_params_t *s, const char *name, const char *value,
                       dn_err_t *err);

/* dn_generate with slow anomalies on top. s NULL or s->n_defects 0: exactly
 * dn_generate (same bytes, meta_extra included; s, when not NULL, must still
 * pass its own checks). Otherwise the nominal draws of every run are those of
 * dn_generate (the slow draws come from streams of their own, generator.c);
 * the dataset also holds slow_kind, slow_size and slow_bad (dataset.h), its
 * label is 1 where slow_bad is (besides the ordinary anomalies), and
 * meta_extra adds "slow": {every slow parameter} and "slow_episodes": [...].
 * Returns as dn_generate; DN_EINVAL names bad slow parameters. */
int dn_generate_slow(const dn_gen_params_t *p, const dn_slow_params_t *s, uint64_t seed,
                     dn_dataset_t **out, dn_err_t *err);

/* dn_generate_with_bad with slow anomalies (as dn_generate_slow): the slow
 * episodes and their draws do not depend on the bad set, so datasets of one
 * seed with different bad sets agree at every run good in both, slow defects
 * included. Returns as dn_generate_with_bad. */
int dn_generate_slow_with_bad(const dn_gen_params_t *p, const dn_slow_params_t *s,
                              uint64_t seed, const int *bad, int n_bad, dn_dataset_t **out,
                              dn_err_t *err);

/* The seed's ordinary anomalous runs (what dn_generate labels bad, without
 * slow defects): p->n_anomalous sorted run indices into bad[] (room for
 * p->n_anomalous ints). Returns 0, DN_EINVAL (parameters) or DN_ENOMEM. */
int dn_generate_bad_runs(const dn_gen_params_t *p, uint64_t seed, int *bad, dn_err_t *err);

#endif
