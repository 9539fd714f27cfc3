/* dinamo_s.c: DINAMO-S, the EWMA reference tracker (see dinamo_s.h, SPEC 2).
 *
 * State: six arrays of n_bins doubles in one allocation: W, S_mu, S_sig (the
 * EWMA sums), mu, sig2 = sigma_mu^2 (what the chi2 denominators use) and sigma,
 * a cache of sqrt(sig2) refreshed only when someone asks for sigma_mu
 * (sigma_stale says it lags). sig2 is S_sig * (1/W) after an update and the
 * initial variance before any, so a checkpoint need not carry it.
 *
 * Hot path (dn_s_step): one pairwise sum that also validates the counts, then per
 * chunk of DN_HIST_CHUNK bins: normalise into stack buffers, chi2 terms (pairwise
 * summed like numpy's np.sum), optional outputs, and the update. The arithmetic
 * loops are fixed 8-wide blocks in small out-of-line functions with restrict
 * parameters: that is what GCC's -O2 vectoriser accepts (no FMA contraction, no
 * reassociation, so the rounding is the scalar code's).
 *
 * Debiasing (n_resamples > 0) scores through its own loop, s_debiased. The
 * reference's averages over resamples of d = d0 -+ s z and of d^2 are
 * d0 -+ s mean(z) and d0^2 -+ 2 d0 s mean(z) + s^2 mean(z^2) exactly, so per
 * bin only mean(z) and mean(z^2) of n_resamples normals are needed, and those
 * are drawn from their exact joint law (normal_means): a few draws per bin
 * whatever n_resamples, no scratch beyond the stack chunk.
 * The plain path is untouched by it (same code, same bits).
 *
 * Invariants: W > 0, S_sig >= 0, sig2 >= 0 in every bin; n_updates counts the
 * updates applied; !sigma_stale implies sigma[j] is what dn_s_sigma returns;
 * integral > 0; 0 <= n_resamples <= DN_S_MAX_RESAMPLES. */
#include "dinamo_s.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "histo.h"
#include "metrics.h"
#include "rng.h"

#ifndef __NO_MATH_ERRNO__
#error "dinamo_s.c is compiled with -fno-math-errno (see the Makefile)"
#endif

struct dn_s_t {
    int n_bins;
    double alpha;
    double min_entries; /* policy: fewer entries are insufficient (not state) */
    uint64_t n_updates;
    int sigma_stale; /* sigma lags sig2 (refreshed by dn_s_sigma) */
    double integral;  /* I_mu: EWMA of the good runs' sums (debiasing's branch) */
    int n_resamples;  /* debiasing draws per bin; 0: off */
    uint64_t db_seed; /* the seed debiasing was set with (saved, informative) */
    dn_rng_t rng;     /* debiasing's generator: state, saved and copied */
    double *W, *S_mu, *S_sig, *mu, *sigma, *sig2; /* each [n_bins], one buffer */
};

enum { N_ARRAYS = 6 };

/* BIN(j) for j in [0, n): fixed 8-wide blocks, which -O2 vectorises, then a
 * scalar tail with the same arithmetic. Every loop over bins below is one of
 * these, kept out of line so that the restrict qualifiers reach the vectoriser. */
#define FOR_BINS_BY_8(n, BIN)                                                           \
    do {                                                                                \
        int j;                                                                          \
        for (j = 0; j + 8 <= (n); j += 8)                                               \
            for (int k = 0; k < 8; k++)                                                 \
                BIN(j + k);                                                             \
        for (; j < (n); j++)                                                            \
            BIN(j);                                                                     \
    } while (0)

/* One bin of each output: the chi2 term, the pull, the reference's sigma. */
#define CHI2_BIN(j)                                                                     \
    (terms[j] = (xt[j] - mu[j]) * (xt[j] - mu[j]) / (sx2[j] + sig2[j]))
#define PULL_BIN(j) (pulls[j] = (xt[j] - mu[j]) / sqrt(sx2[j] + sig2[j]))
#define SIGMA_BIN(j) (ref_sigma[j] = sqrt(sig2[j]))

/* Square roots and pulls, only for the optional outputs. They vectorise only
 * because this file is compiled with -fno-math-errno (checked at the top): under
 * ISO C's errno rule a sqrt of a negative must set errno, so GCC keeps every call
 * scalar behind a branch. Nothing here reads errno, and IEEE sqrt is correctly
 * rounded in either form, so the results are the same bits. */
static __attribute__((noinline)) void sqrt_bins(double *restrict ref_sigma,
                                                const double *restrict sig2, int n)
{
    FOR_BINS_BY_8(n, SIGMA_BIN);
}

static __attribute__((noinline)) void
pull_bins(double *restrict pulls, const double *restrict xt, const double *restrict sx2,
          const double *restrict mu, const double *restrict sig2, int n)
{
    FOR_BINS_BY_8(n, PULL_BIN);
}

/* SPEC 2 initial reference: uniform mu0 with the Poisson spread of a histogram of
 * 100 n_bins entries, and EWMA sums as if it had been seen with weight 1-alpha. */
static void s_reset(dn_s_t *self, double alpha)
{
    int n = self->n_bins;
    double mu0 = 1.0 / n;
    double i_mu0 = 100.0 * n;
    double var0 = mu0 / i_mu0 - (mu0 * mu0) / i_mu0;
    double sigma0 = sqrt(var0);
    /* The reference squares the square root; keep its rounding. */
    double sig2_0 = sigma0 * sigma0;
    double w0 = 1.0 / (sig2_0 + DN_EPS);
    double oma = 1.0 - alpha;
    self->alpha = alpha;
    self->n_updates = 0;
    self->sigma_stale = 0;
    self->integral = i_mu0;
    for (int j = 0; j < n; j++) {
        self->W[j] = oma * w0;
        self->S_mu[j] = oma * w0 * mu0;
        self->S_sig[j] = oma * w0 * sig2_0;
        self->mu[j] = mu0;
        self->sigma[j] = sigma0;
        self->sig2[j] = sig2_0;
    }
}

static dn_s_t *s_alloc(int n_bins)
{
    if (n_bins < 1 || (size_t)n_bins > SIZE_MAX / (N_ARRAYS * sizeof(double)))
        return NULL;
    dn_s_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    double *buf = malloc((size_t)n_bins * N_ARRAYS * sizeof(double));
    if (!buf) {
        free(self);
        return NULL;
    }
    self->n_bins = n_bins;
    dn_rng_seed(&self->rng, 0); /* a valid state even before any debiasing */
    self->W = buf;
    self->S_mu = buf + (size_t)n_bins;
    self->S_sig = buf + 2 * (size_t)n_bins;
    self->mu = buf + 3 * (size_t)n_bins;
    self->sigma = buf + 4 * (size_t)n_bins;
    self->sig2 = buf + 5 * (size_t)n_bins;
    return self;
}

dn_s_t *dn_s_new(int n_bins, double alpha)
{
    if (!(alpha >= 0.0 && alpha < 1.0))
        return NULL;
    dn_s_t *self = s_alloc(n_bins);
    if (self)
        s_reset(self, alpha);
    return self;
}

void dn_s_destroy(dn_s_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->W);
    free(*self_p);
    *self_p = NULL;
}

int dn_s_copy(dn_s_t *dst, const dn_s_t *src)
{
    if (dst->n_bins != src->n_bins)
        return DN_EMISMATCH;
    if (dst == src)
        return DN_OK;
    dst->alpha = src->alpha;
    dst->n_updates = src->n_updates;
    dst->sigma_stale = src->sigma_stale;
    dst->integral = src->integral;
    dst->n_resamples = src->n_resamples;
    dst->db_seed = src->db_seed;
    dst->rng = src->rng;
    memcpy(dst->W, src->W, (size_t)src->n_bins * N_ARRAYS * sizeof(double));
    return DN_OK;
}

void dn_s_shift(dn_s_t *self, const double *dmu, const double *dsig2)
{
    for (int j = 0; j < self->n_bins; j++) {
        self->mu[j] += dmu[j];
        if (dsig2) {
            double s = self->S_sig[j] + self->W[j] * dsig2[j];
            self->S_sig[j] = s > 0.0 ? s : 0.0;
        }
        /* exactly as dn_s_load recomputes it */
        double inv_w = 1.0 / self->W[j];
        self->sig2[j] = self->S_sig[j] * inv_w;
    }
    self->n_updates++;
    self->sigma_stale = 1;
}

const double *dn_s_sig2(const dn_s_t *self) { return self->sig2; }

int dn_s_set_debiasing(dn_s_t *self, int n_resamples, uint64_t seed, dn_err_t *err)
{
    if (n_resamples < 0 || n_resamples > DN_S_MAX_RESAMPLES)
        return dn_err_set(err, DN_EINVAL, "debiasing: n_resamples %d not in 0..%d (0: off)",
                          n_resamples, DN_S_MAX_RESAMPLES);
    self->n_resamples = n_resamples;
    self->db_seed = seed;
    dn_rng_seed(&self->rng, seed);
    return DN_OK;
}

int dn_s_n_resamples(const dn_s_t *self) { return self->n_resamples; }

double dn_s_integral(const dn_s_t *self) { return self->integral; }

uint64_t dn_s_debias_seed(uint64_t seed, const char *key)
{
    if (!key)
        return seed;
    /* FNV-1a of the key, then one splitmix64 round of seed ^ hash: any change of
     * either moves the whole stream. */
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    uint64_t z = seed ^ h;
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int dn_s_n_bins(const dn_s_t *self) { return self->n_bins; }
double dn_s_alpha(const dn_s_t *self) { return self->alpha; }

void dn_s_set_min_entries(dn_s_t *self, double min_entries)
{
    self->min_entries = min_entries > 0 ? min_entries : 0;
}
uint64_t dn_s_n_updates(const dn_s_t *self) { return self->n_updates; }
const double *dn_s_mu(const dn_s_t *self) { return self->mu; }
const double *dn_s_sigma(const dn_s_t *self)
{
    if (self->sigma_stale) {
        /* The tracker is always heap-allocated, so writing the cache through a
         * pointer that was const is defined; the header's thread rules say so. */
        dn_s_t *mut = (dn_s_t *)self;
        sqrt_bins(mut->sigma, self->sig2, self->n_bins);
        mut->sigma_stale = 0;
    }
    return self->sigma;
}

/* chi2 terms of n bins into terms[n]. */
static __attribute__((noinline)) void
chi2_terms(double *restrict terms, const double *restrict xt, const double *restrict sx2,
           const double *restrict mu, const double *restrict sig2, int n)
{
    FOR_BINS_BY_8(n, CHI2_BIN);
}

/* The SPEC 2 update of n bins. 1/W is computed once and multiplied in: within an
 * ulp of the reference's two divisions, and one division cheaper. */
#define UPDATE_BIN(j)                                                                   \
    do {                                                                                \
        double w_ = 1.0 / (sx2[j] + DN_EPS);                                            \
        double d_ = xt[j] - mu[j];                                                      \
        double wn_ = a * W[j] + oma * w_;                                               \
        double ss_ = a * S_sig[j] + oma * w_ * (d_ * d_);                               \
        double sm_ = a * S_mu[j] + oma * w_ * xt[j];                                    \
        double inv_w_ = 1.0 / wn_;                                                      \
        W[j] = wn_;                                                                     \
        S_sig[j] = ss_;                                                                 \
        S_mu[j] = sm_;                                                                  \
        sig2[j] = ss_ * inv_w_;                                                         \
        mu[j] = sm_ * inv_w_;                                                           \
    } while (0)

static __attribute__((noinline)) void
update_bins(double *restrict W, double *restrict S_mu, double *restrict S_sig,
            double *restrict mu, double *restrict sig2, const double *restrict xt,
            const double *restrict sx2, double a, int n)
{
    const double oma = 1.0 - a;
    FOR_BINS_BY_8(n, UPDATE_BIN);
}

/* Every output of a chunk in one pass, then its update (score_all_update): chi2
 * terms, pulls, the reference (mu, sqrt(sig2)) that scored it, each from the state
 * before the update, by the same operations in the same order as chi2_terms,
 * pull_bins, sqrt_bins and update_bins, so the same bits. Two square roots and
 * four divisions per bin keep the divider the bottleneck; in one loop it runs
 * while the loads, stores and other arithmetic of the same bins go on beside it
 * (bench_dinamo_s: ~1.75x the bare step as separate loops, ~1.5x fused). */
#define SCORE_ALL_BIN(j)                                                                \
    do {                                                                                \
        CHI2_BIN(j);                                                                    \
        PULL_BIN(j);                                                                    \
        ref_mu[j] = mu[j];                                                              \
        SIGMA_BIN(j);                                                                   \
    } while (0)

#define SCORE_UPDATE_BIN(j)                                                             \
    do {                                                                                \
        SCORE_ALL_BIN(j);                                                               \
        UPDATE_BIN(j);                                                                  \
    } while (0)

static __attribute__((noinline)) void
score_all_update(double *restrict terms, double *restrict pulls, double *restrict ref_mu,
                 double *restrict ref_sigma, double *restrict W, double *restrict S_mu,
                 double *restrict S_sig, double *restrict mu, double *restrict sig2,
                 const double *restrict xt, const double *restrict sx2, double a, int n)
{
    const double oma = 1.0 - a;
    FOR_BINS_BY_8(n, SCORE_UPDATE_BIN);
}

static __attribute__((noinline)) void
score_all(double *restrict terms, double *restrict pulls, double *restrict ref_mu,
          double *restrict ref_sigma, const double *restrict mu, const double *restrict sig2,
          const double *restrict xt, const double *restrict sx2, int n)
{
    FOR_BINS_BY_8(n, SCORE_ALL_BIN);
}

/* Scores bins [c, c+n) of a normalised run (xt, sx2 point at bin c) against the
 * reference, writes the optional outputs, and updates those bins when `update`.
 * Returns the chunk's chi2 (pairwise sum of its terms). */
static inline __attribute__((always_inline)) double
s_kernel(dn_s_t *self, int c, const double *xt, const double *sx2, int n, int update,
         double *pulls, double *ref_mu, double *ref_sigma)
{
    double terms[DN_HIST_CHUNK];
    double *mu = self->mu + c, *sig2 = self->sig2 + c;
    if (pulls && ref_mu && ref_sigma && self->sigma_stale) {
        if (update)
            score_all_update(terms, pulls, ref_mu, ref_sigma, self->W + c, self->S_mu + c,
                             self->S_sig + c, mu, sig2, xt, sx2, self->alpha, n);
        else
            score_all(terms, pulls, ref_mu, ref_sigma, mu, sig2, xt, sx2, n);
        return dn_pairwise_sum(terms, n);
    }
    chi2_terms(terms, xt, sx2, mu, sig2, n);
    if (pulls)
        pull_bins(pulls, xt, sx2, mu, sig2, n);
    if (ref_mu)
        memcpy(ref_mu, mu, (size_t)n * sizeof *mu);
    if (ref_sigma) {
        if (self->sigma_stale)
            sqrt_bins(ref_sigma, sig2, n);
        else
            memcpy(ref_sigma, self->sigma + c, (size_t)n * sizeof *ref_sigma);
    }
    if (update)
        update_bins(self->W + c, self->S_mu + c, self->S_sig + c, mu, sig2, xt, sx2,
                    self->alpha, n);
    return dn_pairwise_sum(terms, n);
}

/* Uniform in (0, 1]: never 0, so that its log and powers are finite. */
static inline double uniform_pos(dn_rng_t *rng)
{
    return (double)((dn_rng_next(rng) >> 11) + 1) * 0x1.0p-53;
}

/* Gamma(a, 1) draw, a > 0: Marsaglia and Tsang's squeeze-and-reject method
 * (ACM TOMS 26, 2000) for a >= 1, boosted as Gamma(a+1) U^(1/a) below; about
 * one normal and one uniform per draw. */
static double gamma_draw(dn_rng_t *rng, double a)
{
    double boost = 1.0;
    if (a < 1.0) {
        boost = pow(uniform_pos(rng), 1.0 / a);
        a += 1.0;
    }
    const double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = dn_rng_normal(rng);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = uniform_pos(rng), x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2 || log(u) < 0.5 * x2 + d * (1.0 - v + log(v)))
            return boost * d * v;
    }
}

/* The means mean(z) and mean(z^2) of n independent standard normals, drawn
 * from their exact joint law instead of from n draws: for a normal sample the
 * mean and the sum of squared deviations are independent,
 * mean(z) ~ N(0, 1/n) and sum (z - mean)^2 ~ chi2(n - 1) = 2 Gamma((n-1)/2),
 * and sum z^2 = n mean^2 + sum (z - mean)^2. So a bin costs a few draws
 * whatever n_resamples is, and the averaged chi2 and pulls have exactly the
 * distribution of the reference's averages over n resamples. */
static inline void normal_means(dn_rng_t *rng, int n, double inv_sqrt_n, double half_dof,
                                double *mz, double *mz2)
{
    double m = dn_rng_normal(rng) * inv_sqrt_n;
    double q = n > 1 ? 2.0 * gamma_draw(rng, half_dof) : 0.0;
    *mz = m;
    *mz2 = m * m + q / n;
}

/* Debiased chi2 of bins [c, c+n) of a normalised run, pulls (nullable) for
 * them; resample_ref: the reference's integral is at least the run's (the
 * reference is resampled), else the run is. See dinamo_s.h for the formulas. */
static double db_chunk(dn_s_t *self, int c, const double *xt, const double *sx2, int n,
                       int resample_ref, double *pulls)
{
    double terms[DN_HIST_CHUNK];
    const double *mu = self->mu + c, *sig2 = self->sig2 + c;
    const double I = self->integral;
    const int R = self->n_resamples;
    const double inv_sqrt_r = 1.0 / sqrt((double)R), half_dof = 0.5 * (R - 1);
    dn_rng_t rng = self->rng; /* in registers for the draws */
    for (int j = 0; j < n; j++) {
        double mz, mz2;
        normal_means(&rng, R, inv_sqrt_r, half_dof, &mz, &mz2);
        double d0 = xt[j] - mu[j], var_r, den, sgn;
        if (resample_ref) {
            var_r = sig2[j] + sx2[j];
            den = 2.0 * sx2[j] + sig2[j];
            sgn = -1.0; /* d = x - mu' = d0 - s z */
        } else {
            double m = mu[j];
            double sp2 = m == 0.0 ? 1.0 / (I * I) : m / I - m * m / I;
            if (!(sp2 > 0.0))
                sp2 = 0.0;
            var_r = sig2[j] + sp2;
            den = sx2[j] + sig2[j] + sp2;
            sgn = 1.0; /* d = x' - mu = d0 + s z */
        }
        double sd = sgn * sqrt(var_r);
        double md2 = d0 * d0 + 2.0 * d0 * sd * mz + var_r * mz2;
        terms[j] = (md2 > 0.0 ? md2 : 0.0) / den;
        if (pulls)
            pulls[j] = (d0 + sd * mz) / sqrt(den);
    }
    self->rng = rng;
    return dn_pairwise_sum(terms, n);
}

static void fill_nan(double *v, int n)
{
    if (v)
        for (int j = 0; j < n; j++)
            v[j] = NAN;
}

/* Validates and sums x (and var); returns 0, DN_EEMPTY or DN_ERANGE. */
static int s_prepare(const dn_s_t *self, const double *x, const double *var, double *sum,
                     dn_err_t *err)
{
    int bad;
    *sum = dn_hist_sum_checked(x, self->n_bins, &bad);
    if (bad)
        return dn_hist_explain_bad(x, var, self->n_bins, err);
    if (var) {
        int rc = dn_hist_check(x, var, self->n_bins, err);
        if (rc != DN_OK)
            return rc;
    }
    return dn_hist_insufficient(*sum, self->min_entries, err);
}

/* Score (and update) a valid run with known sum, chunk by chunk. `update` and the
 * NULL-ness of the outputs are constants at every call site. */
static inline __attribute__((always_inline)) double
s_process(dn_s_t *self, const double *x, const double *var, double sum, int update,
          double *pulls, double *ref_mu, double *ref_sigma)
{
    double xt[DN_HIST_CHUNK], sx2[DN_HIST_CHUNK];
    double chi2 = 0.0;
    int n_bins = self->n_bins;
    for (int c = 0; c < n_bins; c += DN_HIST_CHUNK) {
        int n = n_bins - c < DN_HIST_CHUNK ? n_bins - c : DN_HIST_CHUNK;
        dn_hist_normalise_with_sum(xt, sx2, x + c, var ? var + c : NULL, sum, n);
        chi2 += s_kernel(self, c, xt, sx2, n, update, pulls ? pulls + c : NULL,
                         ref_mu ? ref_mu + c : NULL, ref_sigma ? ref_sigma + c : NULL);
    }
    if (update) {
        self->n_updates++;
        self->sigma_stale = 1;
        self->integral = self->alpha * self->integral + (1.0 - self->alpha) * sum;
    }
    return chi2;
}

/* The debiased score of a valid run with known sum (no update). */
static double s_debiased(dn_s_t *self, const double *x, const double *var, double sum,
                         double *pulls, double *ref_mu, double *ref_sigma)
{
    double xt[DN_HIST_CHUNK], sx2[DN_HIST_CHUNK];
    double chi2 = 0.0;
    int n_bins = self->n_bins, resample_ref = self->integral >= sum;
    for (int c = 0; c < n_bins; c += DN_HIST_CHUNK) {
        int n = n_bins - c < DN_HIST_CHUNK ? n_bins - c : DN_HIST_CHUNK;
        dn_hist_normalise_with_sum(xt, sx2, x + c, var ? var + c : NULL, sum, n);
        chi2 += db_chunk(self, c, xt, sx2, n, resample_ref, pulls ? pulls + c : NULL);
        if (ref_mu)
            memcpy(ref_mu + c, self->mu + c, (size_t)n * sizeof *ref_mu);
        if (ref_sigma) {
            if (self->sigma_stale)
                sqrt_bins(ref_sigma + c, self->sig2 + c, n);
            else
                memcpy(ref_sigma + c, self->sigma + c, (size_t)n * sizeof *ref_sigma);
        }
    }
    return chi2;
}

static int s_step(dn_s_t *self, const double *x, const double *var, int score, int update,
                  double *chi2, double *pulls, double *ref_mu, double *ref_sigma,
                  dn_err_t *err)
{
    double sum, c2;
    int rc = s_prepare(self, x, var, &sum, err);
    if (rc != DN_OK) {
        if (chi2)
            *chi2 = NAN;
        fill_nan(pulls, self->n_bins);
        fill_nan(ref_mu, self->n_bins);
        fill_nan(ref_sigma, self->n_bins);
        return rc;
    }
    if (score && self->n_resamples > 0) {
        /* debiased score, then the plain update */
        c2 = s_debiased(self, x, var, sum, pulls, ref_mu, ref_sigma);
        if (update)
            s_process(self, x, var, sum, 1, NULL, NULL, NULL);
    } else if (!score) { /* dn_s_update: no outputs */
        c2 = s_process(self, x, var, sum, 1, NULL, NULL, NULL);
    } else if (!pulls && !ref_mu && !ref_sigma) {
        c2 = update ? s_process(self, x, var, sum, 1, NULL, NULL, NULL)
                    : s_process(self, x, var, sum, 0, NULL, NULL, NULL);
    } else {
        c2 = update ? s_process(self, x, var, sum, 1, pulls, ref_mu, ref_sigma)
                    : s_process(self, x, var, sum, 0, pulls, ref_mu, ref_sigma);
    }
    if (chi2)
        *chi2 = c2;
    return DN_OK;
}

int dn_s_score(const dn_s_t *self, const double *x, const double *var, double *chi2,
               double *pulls, double *ref_mu, double *ref_sigma, dn_err_t *err)
{
    /* With update == 0 the kernel only reads the state. */
    return s_step((dn_s_t *)self, x, var, 1, 0, chi2, pulls, ref_mu, ref_sigma, err);
}

int dn_s_update(dn_s_t *self, const double *x, const double *var, dn_err_t *err)
{
    return s_step(self, x, var, 0, 1, NULL, NULL, NULL, NULL, err);
}

int dn_s_step(dn_s_t *self, const double *x, const double *var, int good, double *chi2,
              double *pulls, double *ref_mu, double *ref_sigma, dn_err_t *err)
{
    return s_step(self, x, var, 1, good != 0, chi2, pulls, ref_mu, ref_sigma, err);
}

int dn_s_run(dn_s_t *self, const double *counts, const double *variances,
             const int8_t *labels, int n_runs,
             double *chi2_out, double *ref_mu_out, double *ref_sigma_out,
             double *pulls_out, dn_err_t *err)
{
    if (!self || n_runs < 0 || (n_runs > 0 && (!counts || !labels || !chi2_out)))
        return dn_err_set(err, DN_EINVAL, "dn_s_run: n_runs %d with missing arrays", n_runs);
    size_t nb = (size_t)self->n_bins;
    int first_rc = DN_OK;
    dn_err_t run_err;
    for (int i = 0; i < n_runs; i++) {
        size_t off = (size_t)i * nb;
        int rc = dn_s_step(self, counts + off, variances ? variances + off : NULL,
                           labels[i] == 0, chi2_out + i,
                           pulls_out ? pulls_out + off : NULL,
                           ref_mu_out ? ref_mu_out + off : NULL,
                           ref_sigma_out ? ref_sigma_out + off : NULL, &run_err);
        if (rc == DN_ERANGE && first_rc == DN_OK) {
            dn_err_prefix(&run_err, "run %d", i);
            if (err)
                *err = run_err;
            first_rc = rc;
        }
    }
    return first_rc;
}

/* --- checkpoints --- */

/* Version 2 appends the debiasing tail: I_mu, n_resamples, reserved, seed and
 * the generator's four words. */
enum { STATE_VERSION = 2, STATE_HEADER = 24, STATE_TAIL = 8 + 4 + 4 + 8 + 32 };
static const unsigned char STATE_MAGIC[4] = {'D', 'N', 'S', 't'};

static size_t state_size_v1(int n_bins)
{
    return STATE_HEADER + 5 * sizeof(double) * (size_t)n_bins + sizeof(uint64_t);
}

static size_t state_size(int n_bins)
{
    return state_size_v1(n_bins) + STATE_TAIL;
}

size_t dn_s_state_size(const dn_s_t *self)
{
    return state_size(self->n_bins);
}

int dn_s_save(const dn_s_t *self, void *buf, size_t len)
{
    if (!self || !buf || len < dn_s_state_size(self))
        return DN_EINVAL;
    unsigned char *p = buf;
    memcpy(p, STATE_MAGIC, 4);
    dn_put_u32(p + 4, STATE_VERSION);
    dn_put_u32(p + 8, (uint32_t)self->n_bins);
    dn_put_u32(p + 12, 0);
    dn_put_f64(p + 16, self->alpha);
    p += STATE_HEADER;
    const double *arrays[4] = {self->W, self->S_mu, self->S_sig, self->mu};
    for (int a = 0; a < 4; a++)
        for (int j = 0; j < self->n_bins; j++, p += 8)
            dn_put_f64(p, arrays[a][j]);
    for (int j = 0; j < self->n_bins; j++, p += 8)
        dn_put_f64(p, self->sigma_stale ? sqrt(self->sig2[j]) : self->sigma[j]);
    dn_put_u64(p, self->n_updates);
    p += 8;
    dn_put_f64(p, self->integral);
    dn_put_u32(p + 8, (uint32_t)self->n_resamples);
    dn_put_u32(p + 12, 0);
    dn_put_u64(p + 16, self->db_seed);
    for (int k = 0; k < 4; k++)
        dn_put_u64(p + 24 + 8 * k, self->rng.s[k]);
    return DN_OK;
}

int dn_s_load(const void *buf, size_t len, dn_s_t **out, dn_err_t *err)
{
    static const char *names[5] = {"W", "S_mu", "S_sig", "mu", "sigma"};
    const unsigned char *p = buf;
    dn_s_t *self = NULL;
    int rc;
    if (!buf || !out) {
        rc = dn_err_set(err, DN_EINVAL, "dn_s_load: NULL argument");
        goto fail;
    }
    if (len < STATE_HEADER) {
        rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: %zu bytes, shorter than the header",
                        len);
        goto fail;
    }
    if (memcmp(p, STATE_MAGIC, 4) != 0) {
        rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: bad magic");
        goto fail;
    }
    uint32_t version = dn_get_u32(p + 4);
    if (version != 1 && version != STATE_VERSION) {
        rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: unsupported version %u",
                        (unsigned)version);
        goto fail;
    }
    uint32_t n_bins = dn_get_u32(p + 8);
    if (n_bins < 1 || n_bins > (uint32_t)(INT32_MAX / 64)) {
        rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: bad bin count %u", (unsigned)n_bins);
        goto fail;
    }
    size_t want = version == 1 ? state_size_v1((int)n_bins) : state_size((int)n_bins);
    if (len != want) {
        rc = dn_err_set(err, DN_EFORMAT,
                        "DINAMO-S state: %zu bytes, expected %zu for %u bins (version %u)",
                        len, want, (unsigned)n_bins, (unsigned)version);
        goto fail;
    }
    if (dn_get_u32(p + 12) != 0) {
        rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: reserved header field not zero");
        goto fail;
    }
    double alpha = dn_get_f64(p + 16);
    if (!(alpha >= 0.0 && alpha < 1.0)) {
        rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: alpha %.17g not in [0, 1)", alpha);
        goto fail;
    }
    self = s_alloc((int)n_bins);
    if (!self) {
        rc = dn_err_set(err, DN_ENOMEM, "DINAMO-S state: out of memory for %u bins",
                        (unsigned)n_bins);
        goto fail;
    }
    self->alpha = alpha;
    double *arrays[5] = {self->W, self->S_mu, self->S_sig, self->mu, self->sigma};
    const unsigned char *q = p + STATE_HEADER;
    for (int a = 0; a < 5; a++) {
        for (uint32_t j = 0; j < n_bins; j++, q += 8) {
            double v = dn_get_f64(q);
            /* W must be positive (it divides); S_sig and sigma are variances. */
            int ok = isfinite(v) && (a == 1 || a == 3 || v >= 0.0) && (a != 0 || v > 0.0);
            if (!ok) {
                rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: %s[%u] = %.17g invalid",
                                names[a], (unsigned)j, v);
                goto fail;
            }
            arrays[a][j] = v;
        }
    }
    self->n_updates = dn_get_u64(q);
    q += 8;
    self->integral = 100.0 * n_bins; /* version 1: the initial integral */
    if (version >= 2) {
        double integral = dn_get_f64(q);
        uint32_t n_res = dn_get_u32(q + 8);
        if (!(isfinite(integral) && integral > 0.0)) {
            rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: integral %.17g invalid", integral);
            goto fail;
        }
        if (n_res > DN_S_MAX_RESAMPLES || dn_get_u32(q + 12) != 0) {
            rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: n_resamples %u (max %d) or "
                            "reserved field invalid", (unsigned)n_res, DN_S_MAX_RESAMPLES);
            goto fail;
        }
        self->integral = integral;
        self->n_resamples = (int)n_res;
        self->db_seed = dn_get_u64(q + 16);
        for (int k = 0; k < 4; k++)
            self->rng.s[k] = dn_get_u64(q + 24 + 8 * k);
        if (!(self->rng.s[0] | self->rng.s[1] | self->rng.s[2] | self->rng.s[3])) {
            /* xoshiro's one fixed point: it would draw zeros forever */
            rc = dn_err_set(err, DN_EFORMAT, "DINAMO-S state: generator state all zero");
            goto fail;
        }
    } else {
        dn_rng_seed(&self->rng, 0);
    }
    if (self->n_updates == 0) {
        /* sig2 of the initial reference, exactly as dn_s_new computes it. */
        dn_s_t *fresh = dn_s_new((int)n_bins, alpha);
        if (!fresh) {
            rc = dn_err_set(err, DN_ENOMEM, "DINAMO-S state: out of memory");
            goto fail;
        }
        memcpy(self->sig2, fresh->sig2, n_bins * sizeof(double));
        dn_s_destroy(&fresh);
    } else {
        /* exactly as update_bin computes it */
        for (uint32_t j = 0; j < n_bins; j++) {
            double inv_w = 1.0 / self->W[j];
            self->sig2[j] = self->S_sig[j] * inv_w;
        }
    }
    *out = self;
    return DN_OK;
fail:
    dn_s_destroy(&self);
    return rc;
}

/* --- alpha tuning --- */

/* Scores the n_hist pre-normalised runs (sums[i] their entries) with a tracker
 * reset to alpha and returns the AUC. empty[i] marks runs without a valid score.
 * With debiasing on, the generator restarts from its seed. */
static double tune_one(dn_s_t *trk, double alpha, const double *xt, const double *sx2,
                       const double *sums, const uint8_t *empty, const int8_t *labels,
                       int n_hist, double *score, void *auc_work)
{
    int nb = trk->n_bins;
    s_reset(trk, alpha);
    if (trk->n_resamples > 0)
        dn_rng_seed(&trk->rng, trk->db_seed);
    for (int i = 0; i < n_hist; i++) {
        if (empty[i]) {
            score[i] = NAN;
            continue;
        }
        const double *rx = xt + (size_t)i * nb, *rv = sx2 + (size_t)i * nb;
        double chi2 = 0.0;
        int update = labels[i] == 0;
        if (trk->n_resamples > 0) {
            /* debiased score, then the plain update (as dn_s_step) */
            int resample_ref = trk->integral >= sums[i];
            for (int c = 0; c < nb; c += DN_HIST_CHUNK) {
                int n = nb - c < DN_HIST_CHUNK ? nb - c : DN_HIST_CHUNK;
                chi2 += db_chunk(trk, c, rx + c, rv + c, n, resample_ref, NULL);
                if (update)
                    s_kernel(trk, c, rx + c, rv + c, n, 1, NULL, NULL, NULL);
            }
        } else {
            for (int c = 0; c < nb; c += DN_HIST_CHUNK) {
                int n = nb - c < DN_HIST_CHUNK ? nb - c : DN_HIST_CHUNK;
                chi2 += update ? s_kernel(trk, c, rx + c, rv + c, n, 1, NULL, NULL, NULL)
                               : s_kernel(trk, c, rx + c, rv + c, n, 0, NULL, NULL, NULL);
            }
        }
        if (update)
            trk->integral = alpha * trk->integral + (1.0 - alpha) * sums[i];
        score[i] = dn_score_from_chi2(chi2, nb);
    }
    return dn_roc_auc_work(score, labels, n_hist, auc_work);
}

int dn_s_tune_alpha(const double *counts, const double *variances, const int8_t *labels,
                    int n_hist, int n_bins, double min_entries, double *alpha_out,
                    double *auc_out, dn_err_t *err)
{
    return dn_s_tune_alpha_debiased(counts, variances, labels, n_hist, n_bins, min_entries, 0,
                                    0, alpha_out, auc_out, err);
}

int dn_s_tune_alpha_debiased(const double *counts, const double *variances,
                             const int8_t *labels, int n_hist, int n_bins, double min_entries,
                             int n_resamples, uint64_t seed, double *alpha_out,
                             double *auc_out, dn_err_t *err)
{
    double *xt = NULL, *sx2 = NULL, *score = NULL, *sums = NULL;
    uint8_t *empty = NULL;
    void *auc_work = NULL;
    dn_s_t *trk = NULL;
    int rc = DN_OK;
    if (n_hist < 1 || n_bins < 1 || !counts || !labels) {
        rc = dn_err_set(err, DN_EINVAL, "alpha tuning: %d runs of %d bins", n_hist, n_bins);
        goto done;
    }
    size_t cells = (size_t)n_hist * (size_t)n_bins;
    xt = malloc(cells * sizeof *xt);
    sx2 = malloc(cells * sizeof *sx2);
    score = malloc((size_t)n_hist * sizeof *score);
    sums = malloc((size_t)n_hist * sizeof *sums);
    empty = malloc((size_t)n_hist);
    auc_work = malloc(dn_roc_auc_work_size(n_hist));
    trk = dn_s_new(n_bins, 0.0);
    if (!xt || !sx2 || !score || !sums || !empty || !auc_work || !trk) {
        rc = dn_err_set(err, DN_ENOMEM, "alpha tuning: out of memory for %d x %d", n_hist,
                        n_bins);
        goto done;
    }
    if ((rc = dn_s_set_debiasing(trk, n_resamples, seed, err)))
        goto done;
    int n_good = 0, n_bad = 0;
    for (int i = 0; i < n_hist; i++) {
        const double *x = counts + (size_t)i * n_bins;
        const double *var = variances ? variances + (size_t)i * n_bins : NULL;
        int bad;
        double sum = dn_hist_sum_checked(x, n_bins, &bad);
        if (bad || (var && dn_hist_check(x, var, n_bins, NULL) != DN_OK)) {
            rc = bad ? dn_hist_explain_bad(x, var, n_bins, err)
                     : dn_hist_check(x, var, n_bins, err);
            dn_err_prefix(err, "run %d", i);
            goto done;
        }
        sums[i] = sum;
        empty[i] = dn_hist_insufficient(sum, min_entries, NULL) != DN_OK;
        if (!empty[i]) {
            dn_hist_normalise_with_sum(xt + (size_t)i * n_bins, sx2 + (size_t)i * n_bins, x,
                                       var, sum, n_bins);
            n_good += labels[i] == 0;
            n_bad += labels[i] == 1;
        }
    }
    if (n_good == 0 || n_bad == 0) {
        rc = dn_err_set(err, DN_EINVAL,
                        "alpha tuning: the historical regime has %d good and %d bad "
                        "non-empty runs; need at least one of each", n_good, n_bad);
        goto done;
    }
    /* Grid points are k/100 and m/1000, computed by division so that each alpha
     * is the double nearest the decimal value. */
    int best_k = 0;
    double best_auc = -INFINITY;
    for (int k = 0; k < 100; k++) {
        double auc = tune_one(trk, k / 100.0, xt, sx2, sums, empty, labels, n_hist, score,
                              auc_work);
        if (auc > best_auc) {
            best_auc = auc;
            best_k = k;
        }
    }
    int lo = best_k * 10 - 10, hi = best_k * 10 + 10;
    if (lo < 0)
        lo = 0;
    if (hi > 999)
        hi = 999;
    int best_m = best_k * 10;
    double best_fine = -INFINITY;
    for (int m = lo; m <= hi; m++) {
        double auc = tune_one(trk, m / 1000.0, xt, sx2, sums, empty, labels, n_hist, score,
                              auc_work);
        if (auc > best_fine) {
            best_fine = auc;
            best_m = m;
        }
    }
    if (alpha_out)
        *alpha_out = best_m / 1000.0;
    if (auc_out)
        *auc_out = best_fine;
done:
    free(xt);
    free(sx2);
    free(score);
    free(sums);
    free(empty);
    free(auc_work);
    dn_s_destroy(&trk);
    return rc;
}
