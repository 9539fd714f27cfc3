/* rng.c: xoshiro256** seeding and the distributions of rng.h.
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
