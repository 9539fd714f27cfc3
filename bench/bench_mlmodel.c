/* bench_mlmodel.c: speed of the DINAMO-ML network at the SPEC 3 defaults, one core.
 *
 * Measures (median of repeated timings, this process, same data):
 *   - one training step (forward + backward + AdamW) on a K=10 batch, M=20, over
 *     the K+M-1 shared histograms plus padding the tracker gives it, with the
 *     products on each backend of smm.h (LIBXSMM's generated kernels, and OpenBLAS
 *     with the kernels its core type selects), interleaved;
 *   - baseline: the same step with every token's histogram embedded separately
 *     (U = K*M rows, no sharing);
 *   - forward and backward alone;
 *   - one eval-mode inference of a single context;
 *   - the in-projection of one layer (200x100 @ 100x300): LIBXSMM and
 *     cblas_sgemm against a plain triple loop.
 * Ratios are against baselines of the same run, because the machine is shared. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "blas_setup.h"
#include "mlmodel.h"
#include "nn.h"
#include "rng.h"
#include "smm.h"

typedef struct {
    int U, B, M, nb;
    float *hist, *target, *time;
    int32_t *idx;
    dn_mlbatch_t b;
} batch_t;

/* K contexts over the K+M-1 most recent good runs, the first one padded. */
static void batch_make(batch_t *p, int B, int M, int nb, int shared, uint64_t seed)
{
    int R = B + M - 2, N = B * M;
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    float *runs = malloc(sizeof(float) * (R + 1) * nb);
    for (int r = 0; r <= R; r++) {
        double s = 0;
        for (int k = 0; k < nb; k++)
            s += runs[r * nb + k] = (float)(0.05 + dn_rng_uniform(&rng));
        for (int k = 0; k < nb; k++)
            runs[r * nb + k] = r == R ? DN_ML_PAD_VALUE : (float)(runs[r * nb + k] / s);
    }
    p->B = B;
    p->M = M;
    p->nb = nb;
    p->U = shared ? R + 1 : N;
    p->hist = malloc(sizeof(float) * p->U * nb);
    p->target = malloc(sizeof(float) * B * nb);
    p->time = malloc(sizeof(float) * N);
    p->idx = malloc(sizeof(int32_t) * N);
    if (shared)
        memcpy(p->hist, runs, sizeof(float) * (R + 1) * nb);
    for (int b = 0; b < B; b++) {
        int r = R - B + b;
        memcpy(p->target + b * nb, runs + r * nb, sizeof(float) * nb);
        for (int g = 0; g < M; g++) {
            int c = r - M + g, i = b * M + g;
            int row = c < 0 ? R : c;
            p->time[i] = c < 0 ? DN_ML_PAD_TIME : (float)(c - r);
            if (shared) {
                p->idx[i] = row;
            } else {
                memcpy(p->hist + i * nb, runs + row * nb, sizeof(float) * nb);
                p->idx[i] = i;
            }
        }
    }
    free(runs);
    p->b = (dn_mlbatch_t){.n_hist = p->U, .batch = B, .hist = p->hist,
                          .tok_index = p->idx, .tok_time = p->time,
                          .target = p->target};
}

static void batch_free(batch_t *p)
{
    free(p->hist);
    free(p->target);
    free(p->time);
    free(p->idx);
}

static double time_steps(dn_mlmodel_t *m, const dn_mlbatch_t *b, int reps)
{
    double *t = malloc(sizeof(double) * reps);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        if (dn_mlmodel_train_step(m, b, NULL)) {
            fprintf(stderr, "train step failed\n");
            exit(1);
        }
        t[i] = bench_now() - t0;
    }
    double r = bench_median_inplace(t, reps);
    free(t);
    return r;
}

int main(int argc, char **argv)
{
    dn_blas_init(argc, argv, 1);
    dn_mlconfig_t cfg;
    dn_mlconfig_default(&cfg);
    const int B = cfg.max_batch, M = cfg.context, nb = cfg.n_bins, d = cfg.d_model;
    dn_mlconfig_t cfg_unshared = cfg;
    cfg_unshared.max_hist = B * M;
    dn_mlmodel_t *m = dn_mlmodel_new(&cfg, 1), *mu = dn_mlmodel_new(&cfg_unshared, 1);
    if (!m || !mu) {
        fprintf(stderr, "model creation failed\n");
        return 1;
    }
    batch_t shared, unshared;
    batch_make(&shared, B, M, nb, 1, 3);
    batch_make(&unshared, B, M, nb, 0, 3);
    printf("DINAMO-ML defaults: %zu parameters, batch K=%d, context M=%d, "
           "U=%d shared histograms\n", dn_mlmodel_num_params(m), B, M, shared.U);

    /* warm up, then interleave the variants so drift hits all alike: the
     * default backend (LIBXSMM where it generates code), OpenBLAS, and the
     * default without sharing */
    const int xsmm = dn_smm_select("xsmm") == 0;
    char fast_name[128];
    snprintf(fast_name, sizeof fast_name, "%s", dn_smm_backend());
    dn_smm_select("blas");
    char blas_name[128];
    snprintf(blas_name, sizeof blas_name, "%s", dn_smm_backend());
    time_steps(m, &shared.b, 20);
    dn_smm_select(NULL);
    time_steps(m, &shared.b, 20);
    time_steps(mu, &unshared.b, 20);
    double ts = 1e9, tu = 1e9, tbl = 1e9;
    for (int round = 0; round < 5; round++) {
        dn_smm_select("blas");
        double e = time_steps(m, &shared.b, 60);
        dn_smm_select(NULL);
        double a = time_steps(m, &shared.b, 60), c = time_steps(mu, &unshared.b, 60);
        ts = a < ts ? a : ts;
        tu = c < tu ? c : tu;
        tbl = e < tbl ? e : tbl;
    }
    printf("training step (fwd+bwd+AdamW)   %8.3f ms   products: %s\n", ts * 1e3, fast_name);
    printf("  baseline, OpenBLAS products   %8.3f ms   %s -> %.2fx%s\n", tbl * 1e3, blas_name,
           tbl / ts, xsmm ? "" : " (LIBXSMM generates no code here: both are OpenBLAS)");
    printf("  baseline, no sharing (U=%d)  %8.3f ms   -> sharing speedup %.2fx\n",
           B * M, tu * 1e3, tu / ts);

    /* the same model on two threads (bit-identical results), interleaved with
     * one thread again so that both see the same machine */
    {
        dn_mlmodel_t *m2 = dn_mlmodel_new(&cfg, 1);
        if (!m2 || dn_mlmodel_set_threads(m2, 2)) {
            fprintf(stderr, "two-thread model failed\n");
            return 1;
        }
        time_steps(m2, &shared.b, 20);
        double t1 = 1e9, t2 = 1e9;
        for (int round = 0; round < 5; round++) {
            double a = time_steps(m, &shared.b, 60), c = time_steps(m2, &shared.b, 60);
            t1 = a < t1 ? a : t1;
            t2 = c < t2 ? c : t2;
        }
        printf("training step, 2 threads        %8.3f ms   (1 thread %.3f ms -> %.2fx)\n",
               t2 * 1e3, t1 * 1e3, t1 / t2);
        dn_mlmodel_destroy(&m2);
    }

    /* forward / backward split */
    int reps = 200;
    double *t = malloc(sizeof(double) * 4000);
    float loss;
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        dn_mlmodel_forward(m, &shared.b, 1, &loss);
        t[i] = bench_now() - t0;
    }
    double tf = bench_median_inplace(t, reps);
    for (int i = 0; i < reps; i++) {
        dn_mlmodel_forward(m, &shared.b, 1, &loss);
        double t0 = bench_now();
        dn_mlmodel_backward(m);
        t[i] = bench_now() - t0;
    }
    double tb = bench_median_inplace(t, reps);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        dn_mlmodel_adamw_step(m);
        t[i] = bench_now() - t0;
    }
    double ta = bench_median_inplace(t, reps);
    printf("  forward %.3f ms, backward %.3f ms, AdamW %.3f ms\n", tf * 1e3, tb * 1e3,
           ta * 1e3);
    double flops = 0; /* matmul FLOPs of one training step (fwd 1x, bwd 2x) */
    {
        double N = B * M, U = shared.U;
        double fwd = 2 * U * nb * d + 2 * U * d * d + 2 * N * d * d /* t_emb upper bound */
                     + cfg.n_layers * (2 * N * d * 3 * d + 2 * N * d * d +
                                       2 * 2 * N * d * cfg.d_ff +
                                       2 * 2.0 * B * M * M * d) +
                     2 * (2 * B * d * nb + 2 * B * nb * nb);
        flops = 3 * fwd;
    }
    printf("  ~%.0f MFLOP per step -> %.1f GFLOP/s effective\n", flops * 1e-6,
           flops / ts * 1e-9);

    /* single-context inference */
    float *ctx = malloc(sizeof(float) * M * nb), out_mu[100], out_sg[100];
    for (int g = 0; g < M; g++)
        memcpy(ctx + g * nb, shared.hist + shared.idx[(B - 1) * M + g] * nb,
               sizeof(float) * nb);
    for (int i = 0; i < 100; i++)
        dn_mlmodel_predict(m, ctx, shared.time + (B - 1) * M, out_mu, out_sg);
    reps = 3000;
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        dn_mlmodel_predict(m, ctx, shared.time + (B - 1) * M, out_mu, out_sg);
        t[i] = bench_now() - t0;
    }
    double tp = bench_median_inplace(t, reps);
    dn_smm_select("blas");
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        dn_mlmodel_predict(m, ctx, shared.time + (B - 1) * M, out_mu, out_sg);
        t[i] = bench_now() - t0;
    }
    double tpb = bench_median_inplace(t, reps);
    dn_smm_select(NULL);
    printf("inference, one context (eval)   %8.1f us   (OpenBLAS products %.1f us -> %.2fx)\n",
           tp * 1e6, tpb * 1e6, tpb / tp);

    /* one layer's in-projection: LIBXSMM (transposed weight), OpenBLAS, a plain loop */
    {
        int N = B * M, K = d, O = 3 * d;
        float *x = malloc(sizeof(float) * N * K), *w = malloc(sizeof(float) * O * K),
              *wt = malloc(sizeof(float) * O * K), *y = malloc(sizeof(float) * N * O);
        dn_rng_t rng;
        dn_rng_seed(&rng, 9);
        for (int i = 0; i < N * K; i++)
            x[i] = (float)dn_rng_uniform(&rng);
        for (int i = 0; i < O * K; i++)
            w[i] = (float)dn_rng_uniform(&rng);
        dn_smm_transpose(wt, w, O, K);
        reps = 300;
        double tx = 1e9, tg = 1e9;
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < reps; i++) {
                double t0 = bench_now();
                dn_linear_forward_wt(y, x, wt, NULL, N, K, O);
                t[i] = bench_now() - t0;
            }
            double a = bench_median_inplace(t, reps);
            for (int i = 0; i < reps; i++) {
                double t0 = bench_now();
                dn_linear_forward(y, x, w, NULL, N, K, O); /* inp @ W^T: OpenBLAS */
                t[i] = bench_now() - t0;
            }
            double c = bench_median_inplace(t, reps);
            tx = a < tx ? a : tx;
            tg = c < tg ? c : tg;
        }
        for (int i = 0; i < 30; i++) {
            double t0 = bench_now();
            for (int n = 0; n < N; n++)
                for (int o = 0; o < O; o++) {
                    float s = 0;
                    for (int k = 0; k < K; k++)
                        s += x[n * K + k] * w[o * K + k];
                    y[n * O + o] = s;
                }
            t[i] = bench_now() - t0;
        }
        double tn = bench_median_inplace(t, 30);
        double fl = 2.0 * N * K * O;
        printf("in-projection %dx%dx%d: %s %.1f us (%.1f GFLOP/s); OpenBLAS %.1f us "
               "(%.1f GFLOP/s); naive loop %.1f us -> %.1fx, %.1fx\n", N, K, O,
               xsmm ? "LIBXSMM" : "OpenBLAS", tx * 1e6, fl / tx * 1e-9, tg * 1e6,
               fl / tg * 1e-9, tn * 1e6, tn / tx, tn / tg);
        free(x);
        free(w);
        free(wt);
        free(y);
    }
    free(t);
    free(ctx);
    batch_free(&shared);
    batch_free(&unshared);
    dn_mlmodel_destroy(&m);
    dn_mlmodel_destroy(&mu);
    return 0;
}
