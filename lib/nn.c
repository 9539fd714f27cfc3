/* nn.c: the float32 layer kernels of nn.h.
 *
 * Forward kernels write their outputs; backward kernels add into the gradient
 * buffers they are given (the caller zeroes them), as llm.c. Matrix products are
 * cblas_sgemm calls over whole row blocks; the rest are simple loops over
 * contiguous rows so that -O2 -march=native vectorises them. Reductions over a
 * row (layernorm statistics, softmax sums) accumulate in float like PyTorch's
 * CPU kernels do at these widths; the loss accumulates in double.
 *
 * Dropout consumes one 32-bit half of a 64-bit draw per element, in element
 * order, so a mask is a pure function of the generator state and the sizes. */
/* -O2 in GCC 12 vectorises only loops whose trip count is a multiple of the
 * vector width; these kernels have runtime widths (M = 20, d = 100), so they ask
 * for the -O3 vectoriser. No fast-math: results stay IEEE-exact and contraction
 * stays off (-std=c11), so vectorised and scalar loops give identical bits. */
#pragma GCC optimize("O3")

#include "nn.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp for softmax rows, written so loops over it vectorise (glibc's expf is a
 * call per element). Cephes' expf: x = n ln2 + r with a two-part ln2, a degree-5
 * polynomial for e^r, 2^n through the exponent bits; relative error < 2 ulp on
 * [-87, 88], inputs clamped to that range (softmax only feeds values <= 0). */
static inline float exp_poly(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float fx = floorf(x * 1.44269504088896341f + 0.5f);
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

/* ---- linear ------------------------------------------------------------- */

void dn_linear_forward(float *out, const float *inp, const float *weight,
                       const float *bias, int N, int C, int OC)
{
    float beta = 0.0f;
    if (bias) {
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    if (C == 1) { /* t_emb's Linear(1, d): an outer product, not worth a gemm */
        for (int n = 0; n < N; n++) {
            float x = inp[n];
            float *o = out + (size_t)n * OC;
            for (int k = 0; k < OC; k++)
                o[k] = beta * o[k] + x * weight[k];
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C,
                weight, C, beta, out, OC);
}

void dn_linear_backward(float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        int N, int C, int OC)
{
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f,
                    dout, OC, weight, C, 1.0f, dinp, C);
    if (C == 1) {
        for (int n = 0; n < N; n++) {
            const float *g = dout + (size_t)n * OC;
            float x = inp[n];
            for (int k = 0; k < OC; k++)
                dweight[k] += g[k] * x;
        }
    } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout,
                    OC, inp, C, 1.0f, dweight, C);
    }
    if (dbias)
        for (int n = 0; n < N; n++) {
            const float *g = dout + (size_t)n * OC;
            for (int k = 0; k < OC; k++)
                dbias[k] += g[k];
        }
}

/* ---- layernorm ------------------------------------------------------------ */

void dn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, int N, int C)
{
    const float eps = 1e-5f;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float m = 0.0f;
        for (int i = 0; i < C; i++)
            m += x[i];
        m /= (float)C;
        float v = 0.0f;
        for (int i = 0; i < C; i++) {
            float xs = x[i] - m;
            v += xs * xs;
        }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + eps);
        for (int i = 0; i < C; i++)
            o[i] = (x[i] - m) * s * weight[i] + bias[i];
        mean[n] = m;
        rstd[n] = s;
    }
}

void dn_layernorm_backward(float *dinp, float *dweight, float *dbias,
                           const float *dout, const float *inp,
                           const float *weight, const float *mean,
                           const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C;
        const float *x = inp + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        /* the two reductions of the input gradient */
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s;
            float dnorm = weight[i] * g[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s;
            float dnorm = weight[i] * g[i];
            dbias[i] += g[i];
            dweight[i] += norm * g[i];
            dx[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

/* ---- elementwise activations ------------------------------------------- */

void dn_relu_forward(float *out, const float *inp, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void dn_relu_backward(float *dinp, const float *dout, const float *inp, int n)
{
    for (int i = 0; i < n; i++)
        dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

void dn_gelu_forward(float *out, const float *inp, int n)
{
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    }
}

void dn_gelu_backward(float *dinp, const float *dout, const float *inp, int n)
{
    const float inv_sqrt_2pi = 0.3989422804014327f;
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
        float pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

void dn_softplus_forward(float *out, const float *inp, int n)
{
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = x > 20.0f ? x : log1pf(expf(x));
    }
}

void dn_softplus_backward(float *dinp, const float *dout, const float *inp,
                          int n)
{
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        /* torch: threshold region has slope 1; elsewhere the logistic function */
        float slope = x > 20.0f ? 1.0f : 1.0f / (1.0f + expf(-x));
        dinp[i] += dout[i] * slope;
    }
}

/* ---- softmax ----------------------------------------------------------- */

void dn_softmax_forward(float *out, const float *inp, int N, int C)
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

void dn_softmax_backward(float *dinp, const float *dout, const float *out,
                         int N, int C)
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

/* Fills mask[0..n) with 0 (probability p) or 1/(1-p), two elements per draw. */
static void dropout_mask(float *mask, float p, int n, dn_rng_t *rng)
{
    const double t = (double)p * 4294967296.0;
    const uint64_t thresh = t >= 4294967296.0 ? UINT64_C(4294967296) : (uint64_t)t;
    const float keep = 1.0f / (1.0f - p);
    int i = 0;
    for (; i + 1 < n; i += 2) {
        uint64_t r = dn_rng_next(rng);
        mask[i] = (r & 0xffffffffu) < thresh ? 0.0f : keep;
        mask[i + 1] = (r >> 32) < thresh ? 0.0f : keep;
    }
    if (i < n) {
        uint64_t r = dn_rng_next(rng);
        mask[i] = (r & 0xffffffffu) < thresh ? 0.0f : keep;
    }
}

void dn_dropout_forward(float *out, float *mask, const float *inp, float p,
                        int n, dn_rng_t *rng)
{
    if (p <= 0.0f) {
        if (out != inp)
            memmove(out, inp, (size_t)n * sizeof(float));
        if (mask)
            for (int i = 0; i < n; i++)
                mask[i] = 1.0f;
        return;
    }
    dropout_mask(mask, p, n, rng);
    for (int i = 0; i < n; i++)
        out[i] = inp[i] * mask[i];
}

void dn_dropout_backward(float *dinp, const float *dout, const float *mask,
                         int n)
{
    for (int i = 0; i < n; i++)
        dinp[i] += dout[i] * mask[i];
}

void dn_residual_forward(float *out, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void dn_residual_backward(float *da, float *db, const float *dout, int n)
{
    if (da)
        for (int i = 0; i < n; i++)
            da[i] += dout[i];
    if (db)
        for (int i = 0; i < n; i++)
            db[i] += dout[i];
}

void dn_meanpool_forward(float *out, const float *inp, int B, int M, int C)
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

void dn_meanpool_backward(float *dinp, const float *dout, int B, int M, int C)
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

void dn_gather_forward(float *out, const float *table, const int *index, int n,
                       int C)
{
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * C, table + (size_t)index[i] * C,
               (size_t)C * sizeof(float));
}

void dn_gather_backward(float *dtable, const float *dout, const int *index,
                        int n, int C)
{
    for (int i = 0; i < n; i++) {
        float *d = dtable + (size_t)index[i] * C;
        const float *g = dout + (size_t)i * C;
        for (int k = 0; k < C; k++)
            d[k] += g[k];
    }
}

/* ---- attention ----------------------------------------------------------- */

/* Per (batch, head) the M x M products run on small local copies laid out so
 * that every innermost loop walks independent outputs (k and v transposed to
 * [hs][M]): the compiler vectorises them without reassociating any sum, so the
 * results do not depend on the vector width. */

void dn_attention_forward(float *out, float *prob, float *pdrop, float *mask,
                          const float *qkv, float p, int B, int M, int C, int H,
                          dn_rng_t *rng)
{
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    const int drop = p > 0.0f;
    float kT[hs * M], o[hs];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)b * M * C3 + h * hs;
            float *P = prob + ((size_t)b * H + h) * M * M;
            float *PD = pdrop + ((size_t)b * H + h) * M * M;
            for (int j = 0; j < M; j++)
                for (int t = 0; t < hs; t++)
                    kT[t * M + j] = base[(size_t)j * C3 + C + t];
            for (int i = 0; i < M; i++) {
                const float *q = base + (size_t)i * C3;
                float *row = P + (size_t)i * M;
                for (int j = 0; j < M; j++)
                    row[j] = 0.0f;
                for (int t = 0; t < hs; t++) {
                    float qt = q[t] * scale; /* torch scales q before q k^T */
                    const float *kt = kT + t * M;
                    for (int j = 0; j < M; j++)
                        row[j] += qt * kt[j];
                }
                float mx = row[0];
                for (int j = 1; j < M; j++)
                    mx = row[j] > mx ? row[j] : mx;
                float sum = 0.0f;
                for (int j = 0; j < M; j++)
                    row[j] = exp_poly(row[j] - mx);
                for (int j = 0; j < M; j++)
                    sum += row[j];
                float inv = 1.0f / sum;
                for (int j = 0; j < M; j++)
                    row[j] *= inv;
            }
            if (drop) {
                float *MK = mask + ((size_t)b * H + h) * M * M;
                dn_dropout_forward(PD, MK, P, p, M * M, rng);
            } else if (PD != P) {
                memcpy(PD, P, (size_t)M * M * sizeof(float));
            }
            for (int i = 0; i < M; i++) {
                const float *row = PD + (size_t)i * M;
                for (int t = 0; t < hs; t++)
                    o[t] = 0.0f;
                for (int j = 0; j < M; j++) {
                    const float *v = base + (size_t)j * C3 + 2 * C;
                    float w = row[j];
                    for (int t = 0; t < hs; t++)
                        o[t] += w * v[t];
                }
                memcpy(out + ((size_t)b * M + i) * C + h * hs, o, hs * sizeof(float));
            }
        }
}

void dn_attention_backward(float *dqkv, const float *dout, const float *qkv,
                           const float *prob, const float *pdrop,
                           const float *mask, int B, int M, int C, int H)
{
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    float vT[hs * M], dvT[hs * M], dkT[hs * M], dS[M * M], dp[M], dq[hs];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)b * M * C3 + h * hs;
            float *dbase = dqkv + (size_t)b * M * C3 + h * hs;
            const size_t off = ((size_t)b * H + h) * M * M;
            for (int j = 0; j < M; j++)
                for (int t = 0; t < hs; t++)
                    vT[t * M + j] = base[(size_t)j * C3 + 2 * C + t];
            for (int k = 0; k < hs * M; k++)
                dvT[k] = dkT[k] = 0.0f;
            for (int i = 0; i < M; i++) {
                const float *go = dout + ((size_t)b * M + i) * C + h * hs;
                const float *P = prob + off + (size_t)i * M;
                const float *PD = pdrop + off + (size_t)i * M;
                /* through out = PD v: dPD[i][j] = go . v_j, dv_j += PD[i][j] go */
                for (int j = 0; j < M; j++)
                    dp[j] = 0.0f;
                for (int t = 0; t < hs; t++) {
                    float g = go[t];
                    const float *vt = vT + t * M;
                    float *dvt = dvT + t * M;
                    for (int j = 0; j < M; j++) {
                        dp[j] += g * vt[j];
                        dvt[j] += g * PD[j];
                    }
                }
                if (mask) {
                    const float *mk = mask + off + (size_t)i * M;
                    for (int j = 0; j < M; j++)
                        dp[j] *= mk[j];
                }
                /* through the softmax */
                float dot = 0.0f;
                for (int j = 0; j < M; j++)
                    dot += P[j] * dp[j];
                float *ds = dS + (size_t)i * M;
                for (int j = 0; j < M; j++)
                    ds[j] = P[j] * (dp[j] - dot);
            }
            /* through S = (q * scale) k^T */
            for (int i = 0; i < M; i++) {
                const float *q = base + (size_t)i * C3;
                const float *ds = dS + (size_t)i * M;
                for (int t = 0; t < hs; t++)
                    dq[t] = 0.0f;
                for (int j = 0; j < M; j++) {
                    const float *k = base + (size_t)j * C3 + C;
                    float w = ds[j];
                    for (int t = 0; t < hs; t++)
                        dq[t] += w * k[t];
                }
                float *dqo = dbase + (size_t)i * C3;
                for (int t = 0; t < hs; t++)
                    dqo[t] += dq[t] * scale;
                for (int t = 0; t < hs; t++) {
                    float qt = q[t] * scale;
                    float *dkt = dkT + t * M;
                    for (int j = 0; j < M; j++)
                        dkt[j] += qt * ds[j];
                }
            }
            for (int j = 0; j < M; j++) {
                float *dk = dbase + (size_t)j * C3 + C, *dv = dk + C;
                for (int t = 0; t < hs; t++) {
                    dk[t] += dkT[t * M + j];
                    dv[t] += dvT[t * M + j];
                }
            }
        }
}

/* ---- AdamW ------------------------------------------------------------------- */

/* Square roots of n <= ADAM_CHUNK non-negative values. GCC keeps sqrtf's errno
 * branch under -O2 (the per-function no-math-errno pragma is ignored), which
 * blocks vectorisation, so the AVX-512 / AVX builds use the packed instruction:
 * IEEE sqrt is correctly rounded, so the bits equal sqrtf's. */
#define ADAM_CHUNK 256

static void sqrt_block(float *out, const float *x, int n)
{
    int i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_sqrt_ps(_mm512_loadu_ps(x + i)));
#elif defined(__AVX__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++)
        out[i] = sqrtf(x[i]);
}

void dn_adamw_update(float *params, float *m, float *v, const float *grads,
                     size_t n, float lr, float beta1, float beta2, float eps,
                     float weight_decay, long step)
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
        sqrt_block(root, vv, len);
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

void dn_gaussnll_backward(float *dmu, float *dsigma, const float *mu,
                          const float *sigma, const float *x, float dloss, int n)
{
    const double g = (double)dloss / n;
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
