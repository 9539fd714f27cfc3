/* bench_generator.c: speed of the synthetic data generator.
 *
 * Reports (plain text):
 *   - default datasets (5000 runs x 100 bins) per second through dn_generate;
 *   - ns per histogram drawn as one multinomial of I0 events over 100 bins plus
 *     the outside cell (dn_rng_multinomial, Gaussian probabilities precomputed);
 *   - the baseline measured in the same run: the same histograms by direct
 *     sampling, I0 normal draws binned one by one, and the speed-up ratio.
 * The histograms cycle through 64 Gaussians (mu in [-1, 1], sigma in [0.8, 1.2])
 * with I0 spread over [2000, 20000) as in the default generator. Total runtime a
 * few seconds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "generator.h"
#include "rng.h"

enum { NB = 100, NSHAPES = 64 };

static double phi(double z)
{
    return 0.5 * erfc(-z * M_SQRT1_2);
}

typedef struct shape_t {
    double mu, sigma;
    double prob[NB + 1];
} shape_t;

static void make_shapes(shape_t *sh, const double *edges)
{
    for (int k = 0; k < NSHAPES; k++) {
        sh[k].mu = -1.0 + 2.0 * k / (NSHAPES - 1);
        sh[k].sigma = 0.8 + 0.4 * ((k * 37) % NSHAPES) / (NSHAPES - 1);
        double outside = 1.0;
        for (int j = 0; j < NB; j++) {
            double q = phi((edges[j + 1] - sh[k].mu) / sh[k].sigma) -
                       phi((edges[j] - sh[k].mu) / sh[k].sigma);
            sh[k].prob[j] = q > 0 ? q : 0;
            outside -= sh[k].prob[j];
        }
        sh[k].prob[NB] = outside > 0 ? outside : 0;
    }
}

static uint64_t events_of(int h)
{
    return 2000 + (uint64_t)((h * 7919) % 18000);
}

int main(void)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    dn_err_t err = {0};

    /* 1. Whole datasets. */
    const int n_datasets = 30;
    double checksum = 0;
    double t0 = bench_now();
    for (int s = 0; s < n_datasets; s++) {
        dn_dataset_t *ds = NULL;
        int rc = dn_generate(&p, 1000 + (uint64_t)s, &ds, &err);
        if (rc) {
            fprintf(stderr, "bench_generator: dn_generate: %s\n", err.msg);
            return 1;
        }
        checksum += ds->counts[(size_t)s * 997 % ((size_t)ds->n_runs * ds->n_bins)];
        dn_dataset_destroy(&ds);
    }
    double t_ds = (bench_now() - t0) / n_datasets;
    printf("generator: %d default datasets (%d runs x %d bins): %.1f ms each, %.1f datasets/s, "
           "%.2f us per run\n",
           n_datasets, p.n_runs, p.n_bins, 1e3 * t_ds, 1.0 / t_ds, 1e6 * t_ds / p.n_runs);

    /* 2. Histograms: multinomial fast path against direct sampling. */
    double edges[NB + 1];
    for (int j = 0; j <= NB; j++)
        edges[j] = -5.0 + 10.0 * j / NB;
    edges[NB] = 5.0;
    shape_t *sh = malloc(NSHAPES * sizeof *sh);
    if (!sh)
        return 1;
    make_shapes(sh, edges);
    uint64_t cell[NB + 1];
    dn_rng_t rng;
    dn_rng_seed(&rng, 1);

    const int n_multi = 200000;
    uint64_t total = 0;
    t0 = bench_now();
    for (int h = 0; h < n_multi; h++) {
        dn_rng_multinomial(&rng, events_of(h), sh[h % NSHAPES].prob, NB + 1, cell);
        total += cell[h % NB];
    }
    double t_multi = (bench_now() - t0) / n_multi;

    const int n_direct = 4000;
    double hist[NB];
    uint64_t events_direct = 0;
    t0 = bench_now();
    for (int h = 0; h < n_direct; h++) {
        const shape_t *s = &sh[h % NSHAPES];
        uint64_t ev = events_of(h);
        events_direct += ev;
        for (int j = 0; j < NB; j++)
            hist[j] = 0;
        for (uint64_t e = 0; e < ev; e++) {
            double x = s->mu + s->sigma * dn_rng_normal(&rng);
            if (x < edges[0] || x > edges[NB])
                continue;
            int j = (int)((x - edges[0]) * (NB / 10.0));
            hist[j < NB ? j : NB - 1]++;
        }
        total += (uint64_t)hist[h % NB];
    }
    double t_direct = (bench_now() - t0) / n_direct;

    printf("histogram (100 bins + outside, I0 in [2000, 20000), mean 11000):\n");
    printf("  multinomial (conditional binomials): %8.0f ns per histogram (%d histograms)\n",
           1e9 * t_multi, n_multi);
    printf("  baseline: direct sampling + binning: %8.0f ns per histogram (%d histograms, "
           "%.1f ns per event)\n",
           1e9 * t_direct, n_direct, 1e9 * t_direct * n_direct / (double)events_direct);
    printf("  speed-up of the multinomial over direct sampling: %.1fx\n", t_direct / t_multi);
    printf("  (checksum %.0f %llu)\n", checksum, (unsigned long long)total);
    free(sh);
    return 0;
}
