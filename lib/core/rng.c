/* rng.c: xoshiro256** seeding and the distributions of rng.h (uniform,
 * normal, sampling without replacement, binomial, multinomial).
 *
 * Invariant: every function consumes a number of 64-bit draws that depends only
 * on its arguments and the stream, never on platform or floating-point mode. */
#include "rng.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void dn_rng_seed(dn_rng_t *rng, uint64_t seed)
{
    uint64_t st = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&st);
}

void dn_rng_seed_stream(dn_rng_t *child, uint64_t seed, uint64_t stream)
{
    uint64_t st = seed;
    uint64_t a = splitmix64(&st);
    st = stream ^ 0x5851f42d4c957f2dULL;
    uint64_t b = splitmix64(&st);
    dn_rng_seed(child, a ^ (b * 0x2545f4914f6cdd1dULL));
}

uint64_t dn_rng_below(dn_rng_t *rng, uint64_t n)
{
    uint64_t x = dn_rng_next(rng);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            x = dn_rng_next(rng);
            m = (__uint128_t)x * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double dn_rng_normal(dn_rng_t *rng)
{
    for (;;) {
        double u = 2.0 * dn_rng_uniform(rng) - 1.0;
        double v = 2.0 * dn_rng_uniform(rng) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0)
            return u * sqrt(-2.0 * log(s) / s);
    }
}

void dn_rng_choose(dn_rng_t *rng, int n, int k, int *out, int *scratch)
{
    /* Partial Fisher-Yates over [0, n), then sort the k chosen (counting sort
     * through the scratch array keeps it O(n) and allocation-free). */
    for (int i = 0; i < n; i++)
        scratch[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)dn_rng_below(rng, (uint64_t)(n - i));
        int t = scratch[i];
        scratch[i] = scratch[j];
        scratch[j] = t;
    }
    for (int i = 0; i < k; i++)
        out[i] = scratch[i];
    memset(scratch, 0, (size_t)n * sizeof *scratch);
    for (int i = 0; i < k; i++)
        scratch[out[i]] = 1;
    for (int i = 0, m = 0; i < n; i++)
        if (scratch[i])
            out[m++] = i;
}

/* ---- Binomial -------------------------------------------------------------
 * Two regimes on the smaller of p, 1-p (call it p, q = 1-p, mean n*p):
 *   n*p < 10   inversion: walk the pmf from 0 with f(x) = f(x-1) * ((n+1)/x - 1) * p/q,
 *              one uniform per attempt, O(n*p) steps.
 *   n*p >= 10  BTRS (Hoermann 1993, "The generation of binomial random variates",
 *              J. Stat. Comput. Simul. 46): a transformed-rejection proposal with a
 *              cheap squeeze accepting most draws; the exact test compares log
 *              f(k)/f(m) (m the mode) built from Stirling's series with the
 *              tabulated correction for small arguments. No lgamma(): it writes the
 *              global signgam, which would make concurrent callers race. */

/* log(k!) - [(k + 1/2) log(k + 1) - (k + 1) + log(sqrt(2 pi))] */
static double stirling_tail(double k)
{
    static const double table[10] = {
        0.08106146679532726, 0.04134069595540929, 0.02767792568499834,
        0.02079067210376509, 0.01664469118982119, 0.01387612882307075,
        0.01189670994589177, 0.01041126526197209, 0.009255462182712733,
        0.008330563433362871,
    };
    if (k < 10)
        return table[(int)k];
    double r = 1.0 / (k + 1.0), r2 = r * r;
    return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0) * r2) * r2) * r;
}

static double log_factorial(double k)
{
    return (k + 0.5) * log(k + 1.0) - (k + 1.0) + 0.91893853320467274178 +
           stirling_tail(k);
}

static uint64_t binomial_inversion(dn_rng_t *rng, uint64_t n, double p)
{
    double q = 1.0 - p;
    double s = p / q;
    double a = ((double)n + 1.0) * s;
    double np = (double)n * p;
    /* f(0) = q^n >= 1 - n p (Bernoulli's inequality): a first uniform below that
     * bound is a 0 without the exp/log1p of f(0), which is most calls when n p is
     * small (the tails of a multinomial). The same uniform is then used as the
     * inversion's, so the shortcut changes no outcome. */
    double u = dn_rng_uniform(rng);
    if (u <= 1.0 - np)
        return 0;
    double f0;
    if (n < 256) {
        /* q^n by squaring: exact IEEE arithmetic, and faster than exp/log1p. */
        double base = q;
        f0 = 1.0;
        for (uint64_t e = n; e; e >>= 1) {
            if (e & 1)
                f0 *= base;
            base *= base;
        }
    } else {
        f0 = exp((double)n * log1p(-p)); /* q^n without the rounding of q */
    }
    double bound = np + 10.0 * sqrt(np * q + 1.0);
    if (bound > (double)n)
        bound = (double)n;
    for (;;) {
        double f = f0;
        uint64_t x = 0;
        while (u > f) {
            u -= f;
            x++;
            if ((double)x > bound)
                break;
            f *= a / (double)x - s;
        }
        if ((double)x <= bound)
            return x;
        u = dn_rng_uniform(rng);
    }
}

static uint64_t binomial_btrs(dn_rng_t *rng, uint64_t n, double p)
{
    double dn = (double)n;
    double q = 1.0 - p;
    double npq = dn * p * q;
    double spq = sqrt(npq);
    double b = 1.15 + 2.53 * spq;
    double a = -0.0873 + 0.0248 * b + 0.01 * p;
    double c = dn * p + 0.5;
    double alpha = (2.83 + 5.1 / b) * spq;
    double v_r = 0.92 - 4.2 / b;
    double m = floor((dn + 1.0) * p);
    double s = p / q;
    double log_r = 0.0, log_fm = 0.0;
    int have_log = 0;
    for (;;) {
        double u = dn_rng_uniform(rng) - 0.5;
        double v = dn_rng_uniform(rng);
        double us = 0.5 - fabs(u);
        if (us <= 0.0)
            continue;
        double kd = floor((2.0 * a / us + b) * u + c);
        if (kd < 0.0 || kd > dn)
            continue;
        if (us >= 0.07 && v <= v_r)
            return (uint64_t)kd;
        /* Accept when v (rescaled to the hat) <= f(k) / f(m). */
        v *= alpha / (a / (us * us) + b);
        double km = fabs(kd - m);
        if (km <= 15.0) {
            /* Near the mode: f(k)/f(m) as the product of f(i)/f(i-1) = (n-i+1)s/i,
             * numerators and denominators kept apart (at most 15 factors each,
             * no overflow below n = 2^53) so no division sits in the chain. */
            double num = 1.0, den = 1.0;
            double lo_i = m < kd ? m : kd, hi_i = m < kd ? kd : m;
            for (double i = lo_i + 1.0; i <= hi_i; i += 1.0) {
                num *= (dn - i + 1.0) * s;
                den *= i;
            }
            if (m < kd ? v * den <= num : v * num <= den)
                return (uint64_t)kd;
            continue;
        }
        /* Squeeze of log f(k)/f(m) around -km^2 / (2 npq) (Hoermann's BTRD 3.2). */
        double lv = log(v);
        double rho = (km / npq) * (((km / 3.0 + 0.625) * km + 1.0 / 6.0) / npq + 0.5);
        double t = -km * km / (2.0 * npq);
        if (lv < t - rho)
            return (uint64_t)kd;
        if (lv > t + rho)
            continue;
        if (!have_log) {
            log_r = log(s);
            log_fm = log_factorial(m) + log_factorial(dn - m);
            have_log = 1;
        }
        double lf = log_fm - log_factorial(kd) - log_factorial(dn - kd) +
                    (kd - m) * log_r;
        if (lv <= lf)
            return (uint64_t)kd;
    }
}

uint64_t dn_rng_binomial(dn_rng_t *rng, uint64_t n, double p)
{
    if (n == 0 || !(p > 0.0))
        return 0;
    if (p >= 1.0)
        return n;
    int flip = p > 0.5;
    double pp = flip ? 1.0 - p : p;
    uint64_t x = (double)n * pp < 10.0 ? binomial_inversion(rng, n, pp)
                                      : binomial_btrs(rng, n, pp);
    return flip ? n - x : x;
}

void dn_rng_multinomial(dn_rng_t *rng, uint64_t n, const double *prob, int k,
                        uint64_t *out)
{
    /* The remaining mass is the normalising sum minus what was used, so the
     * conditional probabilities stay consistent when prob does not sum to 1
     * exactly; the clamps absorb the rounding of that subtraction. */
    double mass = 0.0;
    for (int i = 0; i < k; i++)
        if (prob[i] > 0.0)
            mass += prob[i];
    uint64_t left = n;
    int i = 0;
    for (; i < k - 1 && left > 0; i++) {
        double pi = prob[i] > 0.0 ? prob[i] : 0.0;
        double pc;
        if (pi <= 0.0)
            pc = 0.0;
        else if (pi >= mass)
            pc = 1.0;
        else
            pc = pi / mass;
        uint64_t x = dn_rng_binomial(rng, left, pc);
        out[i] = x;
        left -= x;
        mass -= pi;
    }
    for (; i < k - 1; i++)
        out[i] = 0;
    if (k >= 1)
        out[k - 1] = left;
}
