/* nn.c: the float32 layer kernels of nn.h, with their CPU variants.
 *
 * Forward kernels write their outputs; backward kernels add into the gradient
 * buffers they are given (the caller zeroes them), as llm.c. Matrix products are
 * smm.h calls (LIBXSMM, or OpenBLAS) over whole row blocks; the rest are simple loops over
 * contiguous rows that the compiler vectorises. Reductions over a row (layernorm
 * statistics in 16 partial sums, softmax sums) accumulate in float like PyTorch's CPU kernels do at
 * these widths; the loss accumulates in double.
 *
 * Dropout takes one draw of the caller's generator per mask and runs eight
 * generators seeded from it, so a mask is a pure function of the generator
 * state and the sizes.
 *
 * CPU variants: every kernel is written once, as an always-inlined body, and
 * instantiated three times at the bottom of the file: for x86-64-v4 (AVX-512),
 * x86-64-v3 (AVX2) and baseline x86-64 (SSE2), each instance compiled for its
 * level by a target attribute. The public dn_ functions call through the table
 * chosen once at startup (the best level the CPU supports, or DINAMO_NN_KERNELS;
 * dn_nn_select). The file itself is compiled for baseline x86-64 whatever the
 * build's -march (the Makefile says so), so one binary runs on any x86-64 CPU
 * and still runs the AVX-512 code where there is AVX-512. The variants perform
 * the same IEEE operations in the same order (no reassociation, no contraction),
 * so they give identical bits; only the instructions differ. */
/* -O2 in GCC 12 vectorises only loops whose trip count is a multiple of the
 * vector width; these kernels have runtime widths (M = 20, d = 100), so they ask
 * for the -O3 vectoriser. No fast-math: results stay IEEE-exact and contraction
 * stays off (-std=c11), so vectorised and scalar loops give identical bits. */
#pragma GCC optimize("O3")

#include "nn.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "smm.h"

/* sqrtf's errno branch (GCC keeps it under -O2, and the optimize pragma cannot
 * drop it per function) blocks the vectorisation of AdamW's square roots; nothing
 * here reads errno, and IEEE sqrt is correctly rounded either way. */
#ifndef __NO_MATH_ERRNO__
#error "nn.c is compiled with -fno-math-errno (see the Makefile)"
#endif

/* A kernel body: inlined into each CPU variant's instance, never called as such. */
#define NN_BODY __attribute__((always_inline))

/* Fixed-width float vectors (GCC/Clang vector extensions, lowered to whatever
 * the instance's target has: one zmm, two ymm or four xmm registers). Used where
 * the auto-vectoriser gives up (if-converted selects next to float/int
 * conversions, accumulators it will not keep in registers). Lane-wise IEEE
 * operations with contraction off (-std=c11), so a vector lane computes the same
 * bits as the scalar code. No function takes or returns one: how a 64-byte
 * vector is passed depends on AVX-512 (GCC's -Wpsabi), and the helpers below are
 * macros or work through memory, so the same source compiles at every level. */
#define LANE 16
typedef float vf16 __attribute__((vector_size(4 * LANE)));
typedef int32_t vi16 __attribute__((vector_size(4 * LANE)));
/* the same, for unaligned loads and stores that may alias floats */
typedef float vf16_u __attribute__((vector_size(4 * LANE), aligned(4), may_alias));

#define VLOAD(p) (*(const vf16_u *)(p))
#define VSTORE(p, v) (*(vf16_u *)(p) = (v))
/* x in every lane (a lane-0 vector shuffled with all-zero indices: one
 * broadcast; 0 + x would turn -0 into +0) */
#define VSPLAT(x) __builtin_shuffle((vf16){(x)}, (vi16){0})
/* lanes of a where mask is all ones, of b where it is zero */
#define VSELECT(mask, a, b) ((vf16)(((mask) & (vi16)(a)) | (~(mask) & (vi16)(b))))
/* exp for softmax rows, without glibc's call per element. Cephes' expf: x = n ln2
 * + r with a two-part ln2, a degree-5 polynomial for e^r, 2^n through the
 * exponent bits; relative error < 2 ulp on [-87, 88], inputs clamped to that range
 * (softmax only feeds values <= 0). floor(y) is trunc(y) - (trunc(y) > y), exact
 * on the clamped range. exp_poly and exp_poly16 perform the same operations. */
static inline __attribute__((always_inline)) float exp_poly(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float fy = x * 1.44269504088896341f + 0.5f;
    float fx = (float)(int32_t)fy;
    fx = fx > fy ? fx - 1.0f : fx;
    x = x - fx * 0.693359375f;
    x = x - fx * -2.12194440e-4f;
    float z = x * x;
    float y = 1.9875691500e-4f;
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * z + x + 1.0f;
    int32_t bits = ((int32_t)fx + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return y * scale;
}

/* out[0..LANE) = exp_poly(in[i] - shift[i]), lane by lane (out may equal in) */
static inline __attribute__((always_inline)) void exp_poly16(float *out, const float *in,
                                                             const float *shift)
{
    vf16 x = VLOAD(in) - VLOAD(shift);
    x = VSELECT(x < -87.0f, VSPLAT(-87.0f), x);
    x = VSELECT(x > 88.0f, VSPLAT(88.0f), x);
    const vf16 fy = x * 1.44269504088896341f + 0.5f;
    vf16 fx = __builtin_convertvector(__builtin_convertvector(fy, vi16), vf16);
    fx = VSELECT(fx > fy, fx - 1.0f, fx);
    x = x - fx * 0.693359375f;
    x = x - fx * -2.12194440e-4f;
    vf16 z = x * x;
    vf16 y = VSPLAT(1.9875691500e-4f);
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * z + x + 1.0f;
    vi16 bits = (__builtin_convertvector(fx, vi16) + 127) << 23;
    VSTORE(out, y * (vf16)bits);
}

/* ---- linear ------------------------------------------------------------- */

/* out rows start as the bias (beta 1 for the product) or are only written */
static inline NN_BODY float linear_bias_rows(float *out, const float *bias, int N, int OC)
{
    if (!bias)
        return 0.0f;
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
    return 1.0f;
}

/* t_emb's Linear(1, d): an outer product, not worth a product call; weight [OC][1]
 * and its transpose [1][OC] are the same OC floats */
static inline NN_BODY void linear_outer(float *out, const float *inp, const float *weight,
                                        float beta, int N, int OC)
{
    for (int n = 0; n < N; n++) {
        float x = inp[n];
        float *o = out + (size_t)n * OC;
        for (int k = 0; k < OC; k++)
            o[k] = beta * o[k] + x * weight[k];
    }
}

/* weight_is_t: w is weight_t[C][OC] (a product LIBXSMM generates), else weight[OC][C] */
static inline NN_BODY void linear_forward_either(float *out, const float *inp, const float *w,
                                                 const float *bias, int N, int C, int OC,
                                                 int weight_is_t)
{
    float beta = linear_bias_rows(out, bias, N, OC);
    if (C == 1)
        linear_outer(out, inp, w, beta, N, OC);
    else if (weight_is_t)
        dn_smm_nn(N, OC, C, inp, C, w, OC, beta, out, OC);
    else
        dn_smm_nt(N, OC, C, inp, C, w, C, beta, out, OC);
}

static inline NN_BODY void
linear_forward(float *out, const float *inp, const float *weight, const float *bias,
               int N, int C, int OC)
{
    linear_forward_either(out, inp, weight, bias, N, C, OC, 0);
}

static inline NN_BODY void
linear_forward_wt(float *out, const float *inp, const float *weight_t, const float *bias,
                  int N, int C, int OC)
{
    linear_forward_either(out, inp, weight_t, bias, N, C, OC, 1);
}

static inline NN_BODY void
linear_backward_data(float *dinp, const float *dout, const float *weight, int N, int C,
                     int OC)
{
    dn_smm_nn(N, C, OC, dout, OC, weight, C, 1.0f, dinp, C);
}

static inline NN_BODY void
linear_backward_params(float *dweight, float *dbias, const float *dout, const float *inp,
                       int N, int C, int OC)
{
    if (C == 1) {
        for (int n = 0; n < N; n++) {
            const float *g = dout + (size_t)n * OC;
            float x = inp[n];
            for (int k = 0; k < OC; k++)
                dweight[k] += g[k] * x;
        }
    } else {
        dn_smm_tn(OC, C, N, dout, OC, inp, C, 1.0f, dweight, C);
    }
    if (dbias)
        for (int n = 0; n < N; n++) {
            const float *g = dout + (size_t)n * OC;
            for (int k = 0; k < OC; k++)
                dbias[k] += g[k];
        }
}

static inline NN_BODY void
linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                const float *inp, const float *weight, int N, int C, int OC)
{
    if (dinp)
        linear_backward_data(dinp, dout, weight, N, C, OC);
    linear_backward_params(dweight, dbias, dout, inp, N, C, OC);
}

/* ---- layernorm ------------------------------------------------------------ */

/* Row reductions in LANE partial sums: element i goes to partial i % LANE, in
 * order of i (whole vectors, then the tail one by one), and the partials are
 * added in a fixed pairwise tree. Sixteen independent chains instead of one
 * sequential chain of C additions, which latency bounds at these widths; every
 * CPU variant performs the same lane-wise operations, so all give the same bits. */
static inline __attribute__((always_inline)) float lanes_total(const float *lanes)
{
    /* lane l + 8 onto lane l, then l + 4, l + 2, l + 1, in registers */
    vf16 v = VLOAD(lanes);
    v += __builtin_shuffle(v, (vi16){8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15});
    v += __builtin_shuffle(v, (vi16){4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7});
    v += __builtin_shuffle(v, (vi16){2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3});
    v += __builtin_shuffle(v, (vi16){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    return v[0];
}

/* sum of x[i] */
static inline __attribute__((always_inline)) float row_sum(const float *x, int C)
{
    vf16 acc = VSPLAT(0.0f);
    int i = 0;
    for (; i + LANE <= C; i += LANE)
        acc += VLOAD(x + i);
    float lanes[LANE];
    VSTORE(lanes, acc);
    for (; i < C; i++)
        lanes[i % LANE] += x[i];
    return lanes_total(lanes);
}

/* sum of (x[i] - m)^2 */
static inline __attribute__((always_inline)) float row_sum_sq_dev(const float *x, float m,
                                                                  int C)
{
    vf16 acc = VSPLAT(0.0f);
    int i = 0;
    for (; i + LANE <= C; i += LANE) {
        const vf16 d = VLOAD(x + i) - m;
        acc += d * d;
    }
    float lanes[LANE];
    VSTORE(lanes, acc);
    for (; i < C; i++) {
        const float d = x[i] - m;
        lanes[i % LANE] += d * d;
    }
    return lanes_total(lanes);
}

/* sums of w[i] g[i] and of w[i] g[i] (x[i] - m) s: layernorm backward's two */
static inline __attribute__((always_inline)) void
row_sums_dnorm(float *sum_dnorm, float *sum_dnorm_norm, const float *w, const float *g,
               const float *x, float m, float s, int C)
{
    vf16 a = VSPLAT(0.0f), b = VSPLAT(0.0f);
    int i = 0;
    for (; i + LANE <= C; i += LANE) {
        const vf16 norm = (VLOAD(x + i) - m) * s;
        const vf16 dnorm = VLOAD(w + i) * VLOAD(g + i);
        a += dnorm;
        b += dnorm * norm;
    }
    float la[LANE], lb[LANE];
    VSTORE(la, a);
    VSTORE(lb, b);
    for (; i < C; i++) {
        const float norm = (x[i] - m) * s;
        const float dnorm = w[i] * g[i];
        la[i % LANE] += dnorm;
        lb[i % LANE] += dnorm * norm;
    }
    *sum_dnorm = lanes_total(la);
    *sum_dnorm_norm = lanes_total(lb);
}

static inline NN_BODY void
layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                  const float *weight, const float *bias, int N, int C)
{
    const float eps = 1e-5f;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        const float m = row_sum(x, C) / (float)C;
        const float v = row_sum_sq_dev(x, m, C) / (float)C;
        float s = 1.0f / sqrtf(v + eps);
        for (int i = 0; i < C; i++)
            o[i] = (x[i] - m) * s * weight[i] + bias[i];
        mean[n] = m;
        rstd[n] = s;
    }
}

static inline NN_BODY void
layernorm_backward_data(float *dinp, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N,
                        int C)
{
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C;
        const float *x = inp + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        /* the two reductions of the input gradient */
        float dnorm_mean, dnorm_norm_mean;
        row_sums_dnorm(&dnorm_mean, &dnorm_norm_mean, weight, g, x, m, s, C);
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s;
            float dnorm = weight[i] * g[i];
            dx[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

static inline NN_BODY void
layernorm_backward_params(float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *mean, const float *rstd, int N,
                          int C)
{
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C;
        const float *x = inp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s;
            dbias[i] += g[i];
            dweight[i] += norm * g[i];
        }
    }
}

static inline NN_BODY void
layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                   const float *inp, const float *weight, const float *mean,
                   const float *rstd, int N, int C)
{
    layernorm_backward_data(dinp, dout, inp, weight, mean, rstd, N, C);
    layernorm_backward_params(dweight, dbias, dout, inp, mean, rstd, N, C);
}

/* ---- elementwise activations ------------------------------------------- */

static inline NN_BODY void relu_forward(float *out, const float *inp, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

static inline NN_BODY void relu_backward(float *dinp, const float *dout, const float *inp, int n)
{
    for (int i = 0; i < n; i++)
        dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

static inline NN_BODY void gelu_forward(float *out, const float *inp, int n)
{
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    }
}

static inline NN_BODY void gelu_backward(float *dinp, const float *dout, const float *inp, int n)
{
    const float inv_sqrt_2pi = 0.3989422804014327f;
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
        float pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

static inline NN_BODY void softplus_forward(float *out, const float *inp, int n)
{
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = x > 20.0f ? x : log1pf(expf(x));
    }
}

static inline NN_BODY void
softplus_backward(float *dinp, const float *dout, const float *inp, int n)
{
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        /* torch: threshold region has slope 1; elsewhere the logistic function */
        float slope = x > 20.0f ? 1.0f : 1.0f / (1.0f + expf(-x));
        dinp[i] += dout[i] * slope;
    }
}

/* ---- softmax ----------------------------------------------------------- */

static inline NN_BODY void softmax_forward(float *out, const float *inp, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float mx = x[0];
        for (int i = 1; i < C; i++)
            mx = x[i] > mx ? x[i] : mx;
        float sum = 0.0f;
        for (int i = 0; i < C; i++)
            o[i] = exp_poly(x[i] - mx);
        for (int i = 0; i < C; i++)
            sum += o[i];
        float inv = 1.0f / sum;
        for (int i = 0; i < C; i++)
            o[i] *= inv;
    }
}

static inline NN_BODY void
softmax_backward(float *dinp, const float *dout, const float *out, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C;
        const float *y = out + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float dot = 0.0f;
        for (int i = 0; i < C; i++)
            dot += g[i] * y[i];
        for (int i = 0; i < C; i++)
            dx[i] += y[i] * (g[i] - dot);
    }
}

/* ---- dropout, residual, pooling, gather ---------------------------------- */

/* Fills mask[0..n) with 0 (probability p) or 1/(1-p), from DROPOUT_LANES
 * xoshiro256** generators run side by side (one vector of 64-bit lanes), each
 * seeded (dn_rng_seed_stream, stream = lane) from one draw of *rng: a call
 * consumes exactly one draw of the caller's generator, and the mask is a pure
 * function of that draw, p and n. Draw k is lane k % DROPOUT_LANES's output
 * number k / DROPOUT_LANES; element 2k comes from the low half of draw k, 2k+1
 * from its high half. One generator's chain of dependent steps, about a
 * nanosecond a draw, was 5% of a training step; eight independent ones advance
 * together in the time of one. Integer operations only, lane by lane, so every
 * CPU variant gives the same bits. keep * 1 and keep * 0 are exactly keep and 0. */
#define DROPOUT_LANES 8
#define DROPOUT_BLOCK (2 * DROPOUT_LANES * 4) /* elements: 4 steps of the lanes */
typedef uint64_t vu8 __attribute__((vector_size(8 * DROPOUT_LANES)));
#define VU_ROTL(x, k) (((x) << (k)) | ((x) >> (64 - (k))))
static inline NN_BODY void dropout_draw(float *mask, float p, int n, dn_rng_t *rng)
{
    const double t = (double)p * 4294967296.0;
    const uint64_t thresh = t >= 4294967296.0 ? UINT64_C(4294967296) : (uint64_t)t;
    /* p >= 1 drops everything; 0 * inf would be NaN */
    const float keep = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
    const uint64_t seed = dn_rng_next(rng);
    uint64_t st[4][DROPOUT_LANES];
    for (int l = 0; l < DROPOUT_LANES; l++) {
        dn_rng_t lane;
        dn_rng_seed_stream(&lane, seed, (uint64_t)l);
        for (int w = 0; w < 4; w++)
            st[w][l] = lane.s[w];
    }
    vu8 s0, s1, s2, s3;
    memcpy(&s0, st[0], sizeof s0);
    memcpy(&s1, st[1], sizeof s1);
    memcpy(&s2, st[2], sizeof s2);
    memcpy(&s3, st[3], sizeof s3);
    uint64_t draw[DROPOUT_BLOCK / 2];
    for (int i0 = 0; i0 < n; i0 += DROPOUT_BLOCK) {
        for (int k = 0; k < DROPOUT_BLOCK / 2; k += DROPOUT_LANES) {
            /* xoshiro256**, as dn_rng_next, in every lane (x 5 and x 9 as shifts
             * and adds: exact, and cheap where there is no 64-bit multiply) */
            const vu8 x = (s1 << 2) + s1, r7 = VU_ROTL(x, 7), tt = s1 << 17;
            const vu8 result = (r7 << 3) + r7;
            s2 ^= s0;
            s3 ^= s1;
            s1 ^= s2;
            s0 ^= s3;
            s2 ^= tt;
            s3 = VU_ROTL(s3, 45);
            memcpy(draw + k, &result, sizeof result);
        }
        const int m = n - i0 < DROPOUT_BLOCK ? n - i0 : DROPOUT_BLOCK;
        float *mk = mask + i0;
        for (int k = 0; k < m / 2; k++) {
            mk[2 * k] = (float)((draw[k] & 0xffffffffu) >= thresh) * keep;
            mk[2 * k + 1] = (float)((draw[k] >> 32) >= thresh) * keep;
        }
        if (m & 1)
            mk[m - 1] = (float)((draw[m / 2] & 0xffffffffu) >= thresh) * keep;
    }
}
#undef VU_ROTL

static inline NN_BODY void
dropout_forward(float *out, float *mask, const float *inp, float p, int n, dn_rng_t *rng)
{
    if (p <= 0.0f) {
        if (out != inp)
            memmove(out, inp, (size_t)n * sizeof(float));
        if (mask)
            for (int i = 0; i < n; i++)
                mask[i] = 1.0f;
        return;
    }
    if (rng)
        dropout_draw(mask, p, n, rng);
    for (int i = 0; i < n; i++)
        out[i] = inp[i] * mask[i];
}

static inline NN_BODY void
dropout_backward(float *dinp, const float *dout, const float *mask, int n)
{
    for (int i = 0; i < n; i++)
        dinp[i] += dout[i] * mask[i];
}

static inline NN_BODY void residual_forward(float *out, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

static inline NN_BODY void residual_backward(float *da, float *db, const float *dout, int n)
{
    if (da)
        for (int i = 0; i < n; i++)
            da[i] += dout[i];
    if (db)
        for (int i = 0; i < n; i++)
            db[i] += dout[i];
}

static inline NN_BODY void meanpool_forward(float *out, const float *inp, int B, int M, int C)
{
    const float inv = 1.0f / (float)M;
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * C;
        const float *x = inp + (size_t)b * M * C;
        for (int i = 0; i < C; i++)
            o[i] = 0.0f;
        for (int g = 0; g < M; g++)
            for (int i = 0; i < C; i++)
                o[i] += x[(size_t)g * C + i];
        for (int i = 0; i < C; i++)
            o[i] *= inv;
    }
}

static inline NN_BODY void meanpool_backward(float *dinp, const float *dout, int B, int M, int C)
{
    const float inv = 1.0f / (float)M;
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * C;
        float *dx = dinp + (size_t)b * M * C;
        for (int t = 0; t < M; t++)
            for (int i = 0; i < C; i++)
                dx[(size_t)t * C + i] += g[i] * inv;
    }
}

static inline NN_BODY void
gather_forward(float *out, const float *table, const int *index, int n, int C)
{
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * C, table + (size_t)index[i] * C,
               (size_t)C * sizeof(float));
}

static inline NN_BODY void
gather_backward(float *dtable, const float *dout, const int *index, int n, int C)
{
    for (int i = 0; i < n; i++) {
        float *d = dtable + (size_t)index[i] * C;
        const float *g = dout + (size_t)i * C;
        for (int k = 0; k < C; k++)
            d[k] += g[k];
    }
}

/* ---- attention ----------------------------------------------------------- */

/* Per (batch, head) the M x M products run on copies in the caller's scratch
 * (never the stack: M x M floats at the contexts accepted would overflow it),
 * padded with zeros to whole vectors (MP = M, HP = C/H rounded up to LANE).
 * The scores are kept transposed, ST[j][i] (key j, query i), and so are the
 * saved probabilities, masks and every M x M gradient: a row's softmax (over
 * keys j, for one query i) is then a lane of vectors walked down j, so its
 * max, its sum and the backward's dot product run for LANE queries at once
 * with no reduction across lanes. Accumulators are blocks of at most
 * ACC_BLOCK vectors; the per-head bodies are inlined with constant vector
 * counts for the common shapes, so the blocks live in registers. No sum is
 * reassociated: scores sum over t in order, softmax sums and outputs over j in
 * order, gradients over i or j in order, each product the plain triple loops'
 * (a b and b a are the same IEEE product), so the results do not depend on
 * LANE, the blocking or the target's vector width. Padded lanes hold values
 * that are never read back. */
#define ACC_BLOCK 2 /* vectors per accumulator row */
#define ROW_BLOCK 4 /* rows computed together */

static inline __attribute__((always_inline)) int pad_lane(int n)
{
    return (n + LANE - 1) / LANE * LANE;
}

typedef struct {
    int M, C, C3, hs, MP, HP;
    float scale;
} att_dims_t;

static inline __attribute__((always_inline)) att_dims_t att_dims(int M, int C, int H)
{
    att_dims_t a = {.M = M, .C = C, .C3 = 3 * C, .hs = C / H};
    a.MP = pad_lane(M);
    a.HP = pad_lane(a.hs);
    a.scale = 1.0f / sqrtf((float)a.hs);
    return a;
}

/* dst[n][HP] = rows n < M of src (row stride ss) times scale, zero padded */
static inline __attribute__((always_inline)) void
rows_padded(float *dst, const float *src, int ss, float scale, const att_dims_t *a)
{
    for (int j = 0; j < a->M; j++) {
        for (int t = 0; t < a->hs; t++)
            dst[j * a->HP + t] = src[(size_t)j * ss + t] * scale;
        for (int t = a->hs; t < a->HP; t++)
            dst[j * a->HP + t] = 0.0f;
    }
}

/* dst[hs][MP] = src's first hs columns transposed (row stride ss) times scale,
 * zero padded */
static inline __attribute__((always_inline)) void
cols_padded(float *dst, const float *src, int ss, float scale, const att_dims_t *a)
{
    for (int t = 0; t < a->hs; t++) {
        for (int j = 0; j < a->M; j++)
            dst[t * a->MP + j] = src[(size_t)j * ss + t] * scale;
        for (int j = a->M; j < a->MP; j++)
            dst[t * a->MP + j] = 0.0f;
    }
}

/* dst[0..n) = src[0..n): rows this short (M floats) cost more as a libc call
 * each than as a few vector moves */
static inline __attribute__((always_inline)) void copy_short(float *dst, const float *src,
                                                             int n)
{
    int i = 0;
    for (; i + LANE <= n; i += LANE)
        VSTORE(dst + i, VLOAD(src + i));
    for (; i < n; i++)
        dst[i] = src[i];
}

/* dst[M][MP] = an M x M block (stride M), zero padded */
static inline __attribute__((always_inline)) void
square_padded(float *dst, const float *src, const att_dims_t *a)
{
    for (int j = 0; j < a->M; j++) {
        copy_short(dst + (size_t)j * a->MP, src + (size_t)j * a->M, a->M);
        for (int i = a->M; i < a->MP; i++)
            dst[(size_t)j * a->MP + i] = 0.0f;
    }
}

/* dst[i * ds + t] += src[t][i] * scale (src [hs][MP]) for i < M, t < hs */
static inline __attribute__((always_inline)) void
add_cols(float *dst, int ds, const float *src, float scale, const att_dims_t *a)
{
    for (int i = 0; i < a->M; i++)
        for (int t = 0; t < a->hs; t++)
            dst[(size_t)i * ds + t] += src[t * a->MP + i] * scale;
}

/* dst[j * ds + t] += src[j][t] (src [M][HP]) for j < M, t < hs */
static inline __attribute__((always_inline)) void
add_rows(float *dst, int ds, const float *src, const att_dims_t *a)
{
    for (int j = 0; j < a->M; j++)
        for (int t = 0; t < a->hs; t++)
            dst[(size_t)j * ds + t] += src[j * a->HP + t];
}

/* For each of NR rows n: out[n][NV*LANE] = sum over r < R, in order, of
 * (w[n][r] * wscale) * m[r][NV*LANE]; row n of w starts at w + n * wrow and its
 * elements are wcol apart, rows of m are ms apart, rows of out os apart. The NR
 * rows run interleaved so that NR * ACC_BLOCK independent accumulators hide the
 * latency of the additions, which a single row's chain over r would expose. */
static inline __attribute__((always_inline)) void
weighted_rows_block(float *out, int os, const float *w, int wrow, int wcol,
                    float wscale, const float *m, int ms, int R, const int NV,
                    const int NR)
{
    for (int c0 = 0; c0 < NV; c0 += ACC_BLOCK) {
        const int nu = NV - c0 < ACC_BLOCK ? NV - c0 : ACC_BLOCK;
        vf16 acc[ROW_BLOCK][ACC_BLOCK];
        for (int n = 0; n < NR; n++)
            for (int u = 0; u < nu; u++)
                acc[n][u] = VSPLAT(0.0f);
        for (int r = 0; r < R; r++) {
            vf16 mr[ACC_BLOCK];
            for (int u = 0; u < nu; u++)
                mr[u] = VLOAD(m + r * ms + (c0 + u) * LANE);
            for (int n = 0; n < NR; n++) {
                const vf16 wr = VSPLAT(w[n * wrow + r * wcol] * wscale);
                for (int u = 0; u < nu; u++)
                    acc[n][u] += wr * mr[u];
            }
        }
        for (int n = 0; n < NR; n++)
            for (int u = 0; u < nu; u++)
                VSTORE(out + n * os + (c0 + u) * LANE, acc[n][u]);
    }
}

/* weighted_rows_block over N rows, ROW_BLOCK at a time */
static inline __attribute__((always_inline)) void
weighted_rows(float *out, int os, const float *w, int wrow, int wcol, float wscale,
              const float *m, int ms, int R, const int NV, int N)
{
    int n = 0;
    for (; n + ROW_BLOCK <= N; n += ROW_BLOCK)
        weighted_rows_block(out + n * os, os, w + n * wrow, wrow, wcol, wscale, m,
                            ms, R, NV, ROW_BLOCK);
    for (; n < N; n++)
        weighted_rows_block(out + n * os, os, w + n * wrow, wrow, wcol, wscale, m,
                            ms, R, NV, 1);
}

/* Scratch of one head, carved from the caller's buffer (dn_attention_scratch_floats):
 * every part is a whole number of vectors, so parts stay 64-byte aligned when the
 * buffer is. The forward's two phases and the backward reuse the same floats. */
static inline __attribute__((always_inline)) float *scratch_take(float **cur, size_t n)
{
    float *p = *cur;
    *cur += n;
    return p;
}

static size_t att_scratch_floats(const att_dims_t *a)
{
    const size_t M = a->M, MP = a->MP, HP = a->HP, hs = a->hs;
    const size_t fwd = 2 * hs * MP + 2 * M * MP + MP,
                 bwd = 2 * hs * MP + 3 * M * MP + 4 * M * HP;
    return fwd > bwd ? fwd : bwd;
}

size_t dn_attention_scratch_floats(int M, int C, int H)
{
    const att_dims_t a = att_dims(M, C, H);
    return att_scratch_floats(&a);
}

/* One (batch, head) forward: prob and pdrop are this head's [M][M] blocks (ST
 * layout: [key j][query i]), mask its mask block or NULL. */
static inline __attribute__((always_inline)) void
att_fwd_head(float *out, float *prob, float *pdrop, float *mask, float *restrict scratch,
             const float *base, float p, dn_rng_t *rng, const att_dims_t *a, const int MV)
{
    const int M = a->M, MP = a->MP, hs = a->hs, C3 = a->C3;
    float *cur = scratch;
    float *restrict qT = scratch_take(&cur, (size_t)hs * MP);
    float *restrict ST = scratch_take(&cur, (size_t)M * MP);
    float *restrict PD = scratch_take(&cur, (size_t)M * MP);
    float *restrict oT = scratch_take(&cur, (size_t)hs * MP);
    float *restrict stat = scratch_take(&cur, (size_t)MP);
    /* torch scales q before q k^T: ST[j][i] = sum over t of k[j][t] (q[i][t] scale) */
    cols_padded(qT, base, C3, a->scale, a);
    weighted_rows(ST, MP, base + a->C, C3, 1, 1.0f, qT, MP, hs, MV, M);
    /* softmax over j of every query lane i: max, exp, sum, scale */
    for (int u = 0; u < MV; u++) {
        const int o = u * LANE;
        vf16 mx = VLOAD(ST + o);
        for (int j = 1; j < M; j++) {
            const vf16 x = VLOAD(ST + (size_t)j * MP + o);
            mx = VSELECT(x > mx, x, mx);
        }
        VSTORE(stat + o, mx);
        vf16 sum = VSPLAT(0.0f);
        for (int j = 0; j < M; j++) {
            float *row = ST + (size_t)j * MP + o;
            exp_poly16(row, row, stat + o);
            sum += VLOAD(row);
        }
        const vf16 inv = 1.0f / sum;
        for (int j = 0; j < M; j++)
            VSTORE(ST + (size_t)j * MP + o, VLOAD(ST + (size_t)j * MP + o) * inv);
    }
    for (int j = 0; j < M; j++)
        copy_short(prob + (size_t)j * M, ST + (size_t)j * MP, M);
    const float *PDp = ST;
    if (p > 0.0f) {
        dropout_forward(pdrop, mask, prob, p, M * M, rng);
        square_padded(PD, pdrop, a);
        PDp = PD;
    } else if (pdrop != prob) {
        memcpy(pdrop, prob, (size_t)M * M * sizeof(float));
    }
    /* oT[t][i] = sum over j of v[j][t] PD[j][i] */
    weighted_rows(oT, MP, base + 2 * a->C, 1, C3, 1.0f, PDp, MP, M, MV, hs);
    for (int i = 0; i < M; i++)
        for (int t = 0; t < hs; t++)
            out[(size_t)i * a->C + t] = oT[t * MP + i];
}

static inline NN_BODY void
attention_forward(float *out, float *prob, float *pdrop, float *mask, float *scratch,
                  const float *qkv, float p, int B, int M, int C, int H, dn_rng_t *rng)
{
    const att_dims_t a = att_dims(M, C, H);
    const int MV = a.MP / LANE;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)b * M * a.C3 + h * a.hs;
            float *o = out + (size_t)b * M * C + h * a.hs;
            const size_t off = ((size_t)b * H + h) * M * M;
            float *MK = p > 0.0f ? mask + off : NULL;
            if (MV == 1)
                att_fwd_head(o, prob + off, pdrop + off, MK, scratch, base, p, rng, &a, 1);
            else if (MV == 2)
                att_fwd_head(o, prob + off, pdrop + off, MK, scratch, base, p, rng, &a, 2);
            else
                att_fwd_head(o, prob + off, pdrop + off, MK, scratch, base, p, rng, &a, MV);
        }
}

static inline __attribute__((always_inline)) void
att_bwd_head(float *dbase, float *restrict scratch, const float *go_base, const float *base,
             const float *prob, const float *pdrop, const float *mask,
             const att_dims_t *a, const int MV, const int HV)
{
    const int M = a->M, MP = a->MP, HP = a->HP, hs = a->hs, C = a->C, C3 = a->C3;
    float *cur = scratch;
    float *restrict goT = scratch_take(&cur, (size_t)hs * MP);
    float *restrict dqT = scratch_take(&cur, (size_t)hs * MP);
    float *restrict dST = scratch_take(&cur, (size_t)M * MP);
    float *restrict Pp = scratch_take(&cur, (size_t)M * MP);
    float *restrict PDp = scratch_take(&cur, (size_t)M * MP);
    float *restrict gop = scratch_take(&cur, (size_t)M * HP);
    float *restrict qs = scratch_take(&cur, (size_t)M * HP);
    float *restrict dvp = scratch_take(&cur, (size_t)M * HP);
    float *restrict dkp = scratch_take(&cur, (size_t)M * HP);
    cols_padded(goT, go_base, C, 1.0f, a);
    rows_padded(gop, go_base, C, 1.0f, a);
    rows_padded(qs, base, C3, a->scale, a);
    square_padded(Pp, prob, a);
    square_padded(PDp, pdrop, a);
    /* through out = PD v: dPD[j][i] = sum over t of v[j][t] go[i][t]; dv[j] = sum
     * over i of PD[j][i] go[i] */
    weighted_rows(dST, MP, base + 2 * C, C3, 1, 1.0f, goT, MP, hs, MV, M);
    weighted_rows(dvp, HP, PDp, MP, 1, 1.0f, gop, HP, M, HV, M);
    /* through dropout and the softmax: dS = P (dP - sum over j of P dP), per query
     * lane, the sums walking down j */
    if (mask)
        for (int j = 0; j < M; j++)
            for (int i = 0; i < M; i++)
                dST[(size_t)j * MP + i] *= mask[(size_t)j * M + i];
    for (int u = 0; u < MV; u++) {
        const int o = u * LANE;
        vf16 acc = VSPLAT(0.0f);
        for (int j = 0; j < M; j++)
            acc += VLOAD(Pp + (size_t)j * MP + o) * VLOAD(dST + (size_t)j * MP + o);
        for (int j = 0; j < M; j++) {
            float *d = dST + (size_t)j * MP + o;
            VSTORE(d, VLOAD(Pp + (size_t)j * MP + o) * (VLOAD(d) - acc));
        }
    }
    /* through S = (q scale) k^T: dqT[t][i] = sum over j of k[j][t] dS[j][i], then
     * times scale; dk[j] = sum over i of dS[j][i] (q[i] scale) */
    weighted_rows(dqT, MP, base + C, 1, C3, 1.0f, dST, MP, M, MV, hs);
    weighted_rows(dkp, HP, dST, MP, 1, 1.0f, qs, HP, M, HV, M);
    add_cols(dbase, C3, dqT, a->scale, a);
    add_rows(dbase + C, C3, dkp, a);
    add_rows(dbase + 2 * C, C3, dvp, a);
}

static inline NN_BODY void
attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                   const float *prob, const float *pdrop, const float *mask, int B, int M,
                   int C, int H)
{
    const att_dims_t a = att_dims(M, C, H);
    const int MV = a.MP / LANE, HV = a.HP / LANE;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)b * M * a.C3 + h * a.hs;
            float *dbase = dqkv + (size_t)b * M * a.C3 + h * a.hs;
            const float *go = dout + (size_t)b * M * C + h * a.hs;
            const size_t off = ((size_t)b * H + h) * M * M;
            const float *mk = mask ? mask + off : NULL;
            if (MV == 1 && HV == 1)
                att_bwd_head(dbase, scratch, go, base, prob + off, pdrop + off, mk, &a, 1, 1);
            else if (MV == 2 && HV == 1)
                att_bwd_head(dbase, scratch, go, base, prob + off, pdrop + off, mk, &a, 2, 1);
            else
                att_bwd_head(dbase, scratch, go, base, prob + off, pdrop + off, mk, &a, MV, HV);
        }
}

/* ---- AdamW ------------------------------------------------------------------- */

/* AdamW in chunks of ADAM_CHUNK parameters: the moments, then the square roots
 * of a chunk in one loop (vectorised: -fno-math-errno above; IEEE sqrt is
 * correctly rounded, so the bits equal sqrtf's), then the update. */
#define ADAM_CHUNK 256

static inline NN_BODY void
adamw_update(float *params, float *m, float *v, const float *grads, size_t n, float lr,
             float beta1, float beta2, float eps, float weight_decay, long step)
{
    /* torch.optim.AdamW (single-tensor path): bias corrections in double */
    const double bc1 = 1.0 - pow((double)beta1, (double)step);
    const double bc2 = 1.0 - pow((double)beta2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = 1.0f - lr * weight_decay;
    float root[ADAM_CHUNK];
    for (size_t c0 = 0; c0 < n; c0 += ADAM_CHUNK) {
        const int len = n - c0 < ADAM_CHUNK ? (int)(n - c0) : ADAM_CHUNK;
        float *restrict p = params + c0, *restrict mm = m + c0, *restrict vv = v + c0;
        const float *restrict g = grads + c0;
        for (int i = 0; i < len; i++) {
            mm[i] = mm[i] + (g[i] - mm[i]) * (1.0f - beta1);
            vv[i] = vv[i] * beta2 + (1.0f - beta2) * g[i] * g[i];
        }
        for (int i = 0; i < len; i++)
            root[i] = sqrtf(vv[i]);
        for (int i = 0; i < len; i++) {
            float denom = root[i] / bc2_sqrt + eps;
            p[i] = p[i] * decay - step_size * (mm[i] / denom);
        }
    }
}

/* ---- Gaussian NLL ---------------------------------------------------------- */

double dn_gaussnll_forward(const float *mu, const float *sigma, const float *x,
                           int n)
{
    double acc = 0.0;
    for (int i = 0; i < n; i++) {
        double v = (double)sigma[i] * (double)sigma[i];
        if (!(v >= 1e-9))
            v = 1e-9;
        double r = (double)x[i] - (double)mu[i];
        acc += 0.5 * (log(v) + r * r / v);
    }
    return acc / n;
}

static inline NN_BODY void
gaussnll_backward_part(float *dmu, float *dsigma, const float *mu, const float *sigma,
                       const float *x, float dloss, int n, int n_mean)
{
    const double g = (double)dloss / n_mean;
    for (int i = 0; i < n; i++) {
        double s = sigma[i];
        double v = s * s;
        int clamped = !(v >= 1e-9);
        if (clamped)
            v = 1e-9;
        double r = (double)x[i] - (double)mu[i];
        dmu[i] = (float)(g * (-r / v));
        double dv = g * 0.5 * (1.0 / v - r * r / (v * v));
        dsigma[i] = clamped ? 0.0f : (float)(dv * 2.0 * s);
    }
}

static inline NN_BODY void
gaussnll_backward(float *dmu, float *dsigma, const float *mu, const float *sigma,
                  const float *x, float dloss, int n)
{
    gaussnll_backward_part(dmu, dsigma, mu, sigma, x, dloss, n, n);
}

/* ---- CPU variants and dispatch -------------------------------------------- */

/* Every dispatched kernel: name (dn_ + name is the public function), parameter
 * list, argument list. */
#define NN_KERNELS(X)                                                                       \
    X(linear_forward, (float *out, const float *inp, const float *weight, const float *bias, \
                       int N, int C, int OC),                                                \
      (out, inp, weight, bias, N, C, OC))                                                    \
    X(linear_forward_wt, (float *out, const float *inp, const float *weight_t,               \
                          const float *bias, int N, int C, int OC),                          \
      (out, inp, weight_t, bias, N, C, OC))                                                  \
    X(linear_backward, (float *dinp, float *dweight, float *dbias, const float *dout,        \
                        const float *inp, const float *weight, int N, int C, int OC),        \
      (dinp, dweight, dbias, dout, inp, weight, N, C, OC))                                   \
    X(linear_backward_data, (float *dinp, const float *dout, const float *weight, int N,     \
                             int C, int OC),                                                 \
      (dinp, dout, weight, N, C, OC))                                                        \
    X(linear_backward_params, (float *dweight, float *dbias, const float *dout,              \
                               const float *inp, int N, int C, int OC),                      \
      (dweight, dbias, dout, inp, N, C, OC))                                                 \
    X(layernorm_forward, (float *out, float *mean, float *rstd, const float *inp,            \
                          const float *weight, const float *bias, int N, int C),             \
      (out, mean, rstd, inp, weight, bias, N, C))                                            \
    X(layernorm_backward, (float *dinp, float *dweight, float *dbias, const float *dout,     \
                           const float *inp, const float *weight, const float *mean,         \
                           const float *rstd, int N, int C),                                 \
      (dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C))                           \
    X(layernorm_backward_data, (float *dinp, const float *dout, const float *inp,            \
                                const float *weight, const float *mean, const float *rstd,   \
                                int N, int C),                                               \
      (dinp, dout, inp, weight, mean, rstd, N, C))                                           \
    X(layernorm_backward_params, (float *dweight, float *dbias, const float *dout,           \
                                  const float *inp, const float *mean, const float *rstd,    \
                                  int N, int C),                                             \
      (dweight, dbias, dout, inp, mean, rstd, N, C))                                         \
    X(relu_forward, (float *out, const float *inp, int n), (out, inp, n))                    \
    X(relu_backward, (float *dinp, const float *dout, const float *inp, int n),              \
      (dinp, dout, inp, n))                                                                  \
    X(gelu_forward, (float *out, const float *inp, int n), (out, inp, n))                    \
    X(gelu_backward, (float *dinp, const float *dout, const float *inp, int n),              \
      (dinp, dout, inp, n))                                                                  \
    X(softplus_forward, (float *out, const float *inp, int n), (out, inp, n))                \
    X(softplus_backward, (float *dinp, const float *dout, const float *inp, int n),          \
      (dinp, dout, inp, n))                                                                  \
    X(softmax_forward, (float *out, const float *inp, int N, int C), (out, inp, N, C))       \
    X(softmax_backward, (float *dinp, const float *dout, const float *out, int N, int C),    \
      (dinp, dout, out, N, C))                                                               \
    X(dropout_draw, (float *mask, float p, int n, dn_rng_t *rng), (mask, p, n, rng))         \
    X(dropout_forward, (float *out, float *mask, const float *inp, float p, int n,           \
                        dn_rng_t *rng),                                                      \
      (out, mask, inp, p, n, rng))                                                           \
    X(dropout_backward, (float *dinp, const float *dout, const float *mask, int n),          \
      (dinp, dout, mask, n))                                                                 \
    X(residual_forward, (float *out, const float *a, const float *b, int n), (out, a, b, n)) \
    X(residual_backward, (float *da, float *db, const float *dout, int n), (da, db, dout, n)) \
    X(meanpool_forward, (float *out, const float *inp, int B, int M, int C),                 \
      (out, inp, B, M, C))                                                                   \
    X(meanpool_backward, (float *dinp, const float *dout, int B, int M, int C),              \
      (dinp, dout, B, M, C))                                                                 \
    X(gather_forward, (float *out, const float *table, const int *index, int n, int C),      \
      (out, table, index, n, C))                                                             \
    X(gather_backward, (float *dtable, const float *dout, const int *index, int n, int C),   \
      (dtable, dout, index, n, C))                                                           \
    X(attention_forward, (float *out, float *prob, float *pdrop, float *mask,                \
                          float *scratch, const float *qkv, float p, int B, int M, int C,    \
                          int H, dn_rng_t *rng),                                             \
      (out, prob, pdrop, mask, scratch, qkv, p, B, M, C, H, rng))                            \
    X(attention_backward, (float *dqkv, float *scratch, const float *dout,                   \
                           const float *qkv, const float *prob, const float *pdrop,          \
                           const float *mask, int B, int M, int C, int H),                   \
      (dqkv, scratch, dout, qkv, prob, pdrop, mask, B, M, C, H))                             \
    X(adamw_update, (float *params, float *m, float *v, const float *grads, size_t n,        \
                     float lr, float beta1, float beta2, float eps, float weight_decay,      \
                     long step),                                                             \
      (params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, step))                   \
    X(gaussnll_backward, (float *dmu, float *dsigma, const float *mu, const float *sigma,    \
                          const float *x, float dloss, int n),                               \
      (dmu, dsigma, mu, sigma, x, dloss, n))                                                 \
    X(gaussnll_backward_part, (float *dmu, float *dsigma, const float *mu,                   \
                               const float *sigma, const float *x, float dloss, int n,       \
                               int n_mean),                                                  \
      (dmu, dsigma, mu, sigma, x, dloss, n, n_mean))

typedef struct {
    const char *name; /* the x86-64 microarchitecture level, as GCC and nn.h name it */
#define NN_MEMBER(name, params, args) void(*name) params;
    NN_KERNELS(NN_MEMBER)
#undef NN_MEMBER
} nn_variant_t;

/* One instance of every kernel per level; the bodies inline into them, and the
 * target attribute lets the vectoriser use the level's registers. */
#define NN_INSTANCE(name, params, args)                                                     \
    __attribute__((target("arch=x86-64-v4"))) static void name##_v4 params { name args; }   \
    __attribute__((target("arch=x86-64-v3"))) static void name##_v3 params { name args; }   \
    static void name##_v1 params { name args; }
NN_KERNELS(NN_INSTANCE)
#undef NN_INSTANCE

#define NN_ENTRY_V4(name, params, args) .name = name##_v4,
#define NN_ENTRY_V3(name, params, args) .name = name##_v3,
#define NN_ENTRY_V1(name, params, args) .name = name##_v1,
/* best first */
static const nn_variant_t nn_variants[] = {
    {.name = "x86-64-v4", NN_KERNELS(NN_ENTRY_V4)},
    {.name = "x86-64-v3", NN_KERNELS(NN_ENTRY_V3)},
    {.name = "x86-64", NN_KERNELS(NN_ENTRY_V1)},
};
#undef NN_ENTRY_V4
#undef NN_ENTRY_V3
#undef NN_ENTRY_V1
#define NN_N_VARIANTS ((int)(sizeof nn_variants / sizeof nn_variants[0]))

/* The variant in use. Kernels load it once per call (relaxed: the tables are
 * constants); until the constructor runs, the baseline, which every CPU runs. */
static _Atomic(const nn_variant_t *) nn_active = &nn_variants[NN_N_VARIANTS - 1];

int dn_nn_variant_supported(const char *name)
{
    if (!name)
        return 0;
    __builtin_cpu_init();
    if (!strcmp(name, "x86-64-v4"))
        return __builtin_cpu_supports("x86-64-v4");
    if (!strcmp(name, "x86-64-v3"))
        return __builtin_cpu_supports("x86-64-v3");
    return !strcmp(name, "x86-64");
}

const char *dn_nn_variant_name(int i)
{
    return i >= 0 && i < NN_N_VARIANTS ? nn_variants[i].name : NULL;
}

const char *dn_nn_variant(void)
{
    return atomic_load_explicit(&nn_active, memory_order_relaxed)->name;
}

int dn_nn_select(const char *name)
{
    for (int i = 0; i < NN_N_VARIANTS; i++) {
        const nn_variant_t *v = &nn_variants[i];
        if (name ? strcmp(name, v->name) != 0 : !dn_nn_variant_supported(v->name))
            continue;
        if (!dn_nn_variant_supported(v->name))
            return DN_EMISMATCH;
        atomic_store_explicit(&nn_active, v, memory_order_relaxed);
        return 0;
    }
    return DN_EINVAL;
}

/* Before main: the level DINAMO_NN_KERNELS names if this CPU runs it, else the
 * best it runs. (An unknown or unsupported name is ignored: nothing in lib/
 * prints; dn_nn_variant() tells which was taken.) */
__attribute__((constructor)) static void nn_select_at_startup(void)
{
    const char *want = getenv("DINAMO_NN_KERNELS");
    if (!want || !*want || dn_nn_select(want) != 0)
        dn_nn_select(NULL);
}

#define NN_PUBLIC(name, params, args)                                                       \
    void dn_##name params { atomic_load_explicit(&nn_active, memory_order_relaxed)->name args; }
NN_KERNELS(NN_PUBLIC)
#undef NN_PUBLIC
