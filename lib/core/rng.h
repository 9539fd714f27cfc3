/* rng.h: the seeded random number generator every random draw of dinamo uses.
 *
 * xoshiro256** seeded through splitmix64: a given 64-bit seed gives the same
 * stream on every machine and compiler (integer arithmetic only; the floating
 * point conversions below are exact). Distributions built on it (uniform, normal,
 * binomial, multinomial, sampling without replacement) are deterministic functions
 * of the stream, so a dataset is a pure function of its seed.
 *
 * dn_rng_t is a plain value (copyable, no allocation) so that hot loops keep it in
 * registers. Thread rules: one generator per thread; none of these functions touch
 * global state. */
#ifndef DN_RNG_H
#define DN_RNG_H

#include <stdint.h>

typedef struct dn_rng_t {
    uint64_t s[4];
} dn_rng_t;

/* Seeds *rng from `seed` (any value, including 0). */
void dn_rng_seed(dn_rng_t *rng, uint64_t seed);

/* Derives an independent stream: seeds *child from (seed, stream), e.g. one
 * stream per histogram or per bootstrap. */
void dn_rng_seed_stream(dn_rng_t *child, uint64_t seed, uint64_t stream);

/* Next 64 random bits. */
static inline uint64_t dn_rng_next(dn_rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double dn_rng_uniform(dn_rng_t *rng)
{
    return (double)(dn_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* Uniform double in [lo, hi). */
static inline double dn_rng_uniform_range(dn_rng_t *rng, double lo, double hi)
{
    return lo + (hi - lo) * dn_rng_uniform(rng);
}

/* Uniform integer in [0, n), n >= 1, without modulo bias (Lemire's method). */
uint64_t dn_rng_below(dn_rng_t *rng, uint64_t n);

/* Fair sign: -1.0 or +1.0. */
static inline double dn_rng_sign(dn_rng_t *rng)
{
    return (dn_rng_next(rng) >> 63) ? 1.0 : -1.0;
}

/* Standard normal draw (polar Box-Muller without caching, so the stream position
 * after a call does not depend on earlier calls' parity). */
double dn_rng_normal(dn_rng_t *rng);

/* Chooses k distinct values of [0, n) uniformly at random, written to out[0..k)
 * in increasing order. 0 <= k <= n. `scratch` has room for n ints. */
void dn_rng_choose(dn_rng_t *rng, int n, int k, int *out, int *scratch);

/* Binomial(n, p) draw, exact: inversion (sequential search from 0) when
 * n*min(p, 1-p) < 10, Hoermann's BTRS transformed rejection with squeeze above,
 * so the cost is O(1) in n for large means. p > 0.5 is drawn as n - Binomial(n,
 * 1-p). n == 0, p <= 0 (and NaN) give 0 without consuming draws, p >= 1 gives n.
 * The inversion restarts when it passes n*p + 10*sqrt(n*p*(1-p) + 1) (a tail of
 * probability < 1e-12 at these means), so rounding can never run it past n.
 * Exact in distribution for n up to 2^53. */
uint64_t dn_rng_binomial(dn_rng_t *rng, uint64_t n, double p);

/* Multinomial(n, prob[0..k)) draw into out[0..k), k >= 1, by sequential
 * conditional binomials: cell i gets Binomial(remaining n, prob[i] / remaining
 * mass), the conditional probability clamped into [0, 1]; the last cell takes
 * the remainder, so out sums to n exactly. prob holds non-negative weights
 * meant to sum to 1; they are normalised by their actual sum (negative or NaN
 * weights count as 0; all-zero weights put everything in the last cell). Stops
 * drawing once nothing remains (later cells 0). */
void dn_rng_multinomial(dn_rng_t *rng, uint64_t n, const double *prob, int k,
                        uint64_t *out);

#endif
