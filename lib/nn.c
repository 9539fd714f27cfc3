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
#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

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
        for (int i = 0; i < C; i++) {
            o[i] = expf(x[i] - mx);
            sum += o[i];
        }
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

void dn_attention_forward(float *out, float *prob, float *pdrop, float *mask,
                          const float *qkv, float p, int B, int M, int C, int H,
                          dn_rng_t *rng)
{
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    const int drop = p > 0.0f;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)b * M * C3 + h * hs;
            float *P = prob + ((size_t)b * H + h) * M * M;
            float *PD = pdrop + ((size_t)b * H + h) * M * M;
            for (int i = 0; i < M; i++) {
                const float *q = base + (size_t)i * C3;
                float *row = P + (size_t)i * M;
                float mx = -INFINITY;
                for (int j = 0; j < M; j++) {
                    const float *k = base + (size_t)j * C3 + C;
                    float s = 0.0f;
                    for (int t = 0; t < hs; t++)
                        s += q[t] * k[t];
                    s *= scale;
                    row[j] = s;
                    mx = s > mx ? s : mx;
                }
                float sum = 0.0f;
                for (int j = 0; j < M; j++) {
                    row[j] = expf(row[j] - mx);
                    sum += row[j];
                }
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
                float *o = out + ((size_t)b * M + i) * C + h * hs;
                const float *row = PD + (size_t)i * M;
                for (int t = 0; t < hs; t++)
                    o[t] = 0.0f;
                for (int j = 0; j < M; j++) {
                    const float *v = base + (size_t)j * C3 + 2 * C;
                    float w = row[j];
                    for (int t = 0; t < hs; t++)
                        o[t] += w * v[t];
                }
            }
        }
}

void dn_attention_backward(float *dqkv, const float *dout, const float *qkv,
                           const float *prob, const float *pdrop,
                           const float *mask, int B, int M, int C, int H)
{
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    float dp[M];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)b * M * C3 + h * hs;
            float *dbase = dqkv + (size_t)b * M * C3 + h * hs;
            const size_t off = ((size_t)b * H + h) * M * M;
            for (int i = 0; i < M; i++) {
                const float *go = dout + ((size_t)b * M + i) * C + h * hs;
                const float *P = prob + off + (size_t)i * M;
                const float *PD = pdrop + off + (size_t)i * M;
                /* through out = PD v */
                for (int j = 0; j < M; j++) {
                    const float *v = base + (size_t)j * C3 + 2 * C;
                    float *dv = dbase + (size_t)j * C3 + 2 * C;
                    float s = 0.0f, w = PD[j];
                    for (int t = 0; t < hs; t++) {
                        s += go[t] * v[t];
                        dv[t] += w * go[t];
                    }
                    dp[j] = mask ? s * mask[off + (size_t)i * M + j] : s;
                }
                /* through the softmax, then the scaled q k^T */
                float dot = 0.0f;
                for (int j = 0; j < M; j++)
                    dot += P[j] * dp[j];
                const float *q = base + (size_t)i * C3;
                float *dq = dbase + (size_t)i * C3;
                for (int j = 0; j < M; j++) {
                    float ds = P[j] * (dp[j] - dot) * scale;
                    const float *k = base + (size_t)j * C3 + C;
                    float *dk = dbase + (size_t)j * C3 + C;
                    for (int t = 0; t < hs; t++) {
                        dq[t] += ds * k[t];
                        dk[t] += ds * q[t];
                    }
                }
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
