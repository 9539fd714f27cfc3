/* nn.h: float32 layer kernels of the DINAMO-ML network, llm.c style.
 *
 * Each layer is a pair of plain functions: x_forward(out, inp, weights, dims)
 * writes its outputs; x_backward(dinp, dweights, dout, inp, ...) ADDS into the
 * gradients it is given (callers zero them first). Shapes are in the comments,
 * row-major. Matrix products go through smm.h (LIBXSMM or OpenBLAS); everything else is plain C
 * loops the compiler vectorises. No kernel allocates, prints or fails, and none
 * puts arrays sized by its inputs on the stack (attention takes its scratch from
 * the caller): the model checks dimensions once. A gradient pointer may be NULL where documented, to
 * skip work nobody needs (e.g. the gradient of the network's input).
 *
 * CPU variants: each kernel exists for three x86-64 levels, "x86-64-v4"
 * (AVX-512), "x86-64-v3" (AVX2) and "x86-64" (baseline SSE2), all with
 * identical results; the best level the CPU runs is chosen before main, or the one
 * the environment variable DINAMO_NN_KERNELS names if the CPU runs it (an unknown
 * or unsupported name is ignored).
 *
 * Thread rules: kernels touch only their arguments. dn_nn_select may run while
 * kernels run in other threads (each kernel call uses one variant throughout). */
#ifndef DN_NN_H
#define DN_NN_H

#include <stddef.h>

#include "rng.h"

/* out[N][OC] = inp[N][C] @ weight[OC][C]^T + bias[OC] (bias may be NULL). */
void dn_linear_forward(float *out, const float *inp, const float *weight,
                       const float *bias, int N, int C, int OC);
/* The same with the weight stored transposed, weight_t[C][OC] (its rows are
 * weight's columns): the layout the fast product kernels need (smm.h), which
 * callers that run many forwards per weight update keep beside the weight. */
void dn_linear_forward_wt(float *out, const float *inp, const float *weight_t,
                          const float *bias, int N, int C, int OC);
/* dinp[N][C] += dout @ weight (dinp may be NULL); dweight[OC][C] += dout^T @ inp;
 * dbias[OC] += column sums of dout (dbias may be NULL). */
void dn_linear_backward(float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        int N, int C, int OC);
/* The two halves of dn_linear_backward, each with its exact arithmetic, for
 * callers that compute input gradients and parameter gradients apart:
 * dinp[N][C] += dout @ weight; dweight += dout^T @ inp, dbias += column sums. */
void dn_linear_backward_data(float *dinp, const float *dout, const float *weight,
                             int N, int C, int OC);
void dn_linear_backward_params(float *dweight, float *dbias, const float *dout,
                               const float *inp, int N, int C, int OC);

/* out[N][C] = (inp - mean) * rstd * weight + bias over each row, eps 1e-5
 * (biased variance, as torch). mean[N], rstd[N] are saved for backward. */
void dn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, int N, int C);
void dn_layernorm_backward(float *dinp, float *dweight, float *dbias,
                           const float *dout, const float *inp,
                           const float *weight, const float *mean,
                           const float *rstd, int N, int C);
/* Its halves: dinp[N][C] += input gradient (row by row); dweight[C], dbias[C]
 * += the parameter gradients (summed over rows in row order). */
void dn_layernorm_backward_data(float *dinp, const float *dout, const float *inp,
                                const float *weight, const float *mean,
                                const float *rstd, int N, int C);
void dn_layernorm_backward_params(float *dweight, float *dbias, const float *dout,
                                  const float *inp, const float *mean,
                                  const float *rstd, int N, int C);

/* Elementwise activations over n values; backward uses the forward input. */
void dn_relu_forward(float *out, const float *inp, int n);
void dn_relu_backward(float *dinp, const float *dout, const float *inp, int n);
/* GELU, exact: 0.5 x (1 + erf(x / sqrt 2)). */
void dn_gelu_forward(float *out, const float *inp, int n);
void dn_gelu_backward(float *dinp, const float *dout, const float *inp, int n);
/* Softplus, beta 1, threshold 20: x > 20 ? x : log1p(exp(x)). */
void dn_softplus_forward(float *out, const float *inp, int n);
void dn_softplus_backward(float *dinp, const float *dout, const float *inp,
                          int n);

/* Row softmax: out[N][C] = softmax(inp[N][C]) per row. Backward uses the output. */
void dn_softmax_forward(float *out, const float *inp, int N, int C);
void dn_softmax_backward(float *dinp, const float *dout, const float *out,
                         int N, int C);

/* Inverted dropout: mask[i] = 0 with probability p, else 1/(1-p); a mask takes
 * exactly one draw of *rng (the seed of eight generators run side by side: see
 * nn.c) and is a pure function of it, p and n; out = inp * mask. p == 0 copies and
 * fills mask with 1 (mask may be NULL then). out may equal inp. rng NULL: the
 * mask was drawn before (dn_dropout_draw) and is only applied. */
void dn_dropout_forward(float *out, float *mask, const float *inp, float p,
                        int n, dn_rng_t *rng);
/* Draws the mask dn_dropout_forward(.., n, rng) would draw (0 < p), consuming
 * the same draw, so masks can be drawn ahead of the data they drop. */
void dn_dropout_draw(float *mask, float p, int n, dn_rng_t *rng);
/* dinp += dout * mask. */
void dn_dropout_backward(float *dinp, const float *dout, const float *mask,
                         int n);

/* out = a + b; backward: da += dout, db += dout (either may be NULL). */
void dn_residual_forward(float *out, const float *a, const float *b, int n);
void dn_residual_backward(float *da, float *db, const float *dout, int n);

/* out[B][C] = mean over g of inp[B][M][C]. */
void dn_meanpool_forward(float *out, const float *inp, int B, int M, int C);
void dn_meanpool_backward(float *dinp, const float *dout, int B, int M, int C);

/* Floats of scratch one dn_attention_forward or dn_attention_backward call of
 * these sizes needs (reused head by head, so independent of B; about 2 M^2 + a
 * few M C/H). Always a multiple of 16 floats, so scratches laid end to end in a
 * 64-byte aligned buffer all stay 64-byte aligned. */
size_t dn_attention_scratch_floats(int M, int C, int H);

/* Multi-head scaled dot-product attention core (PyTorch's MultiheadAttention
 * between its in- and out-projections), no mask.
 *   scratch         dn_attention_scratch_floats(M, C, H) floats the kernel
 *                   overwrites; not shared with a call running at the same time
 *   qkv[B][M][3C]   q | k | v of each token (C = d_model, H heads of C/H)
 *   prob[B][H][M][M] softmax(q k^T / sqrt(C/H)) saved for backward, each
 *                    (b, h) block transposed: [key j][query i] (the layout the
 *                    kernels reduce fastest in; only they read it)
 *   pdrop[B][H][M][M] prob after dropout (the probabilities used), saved, same
 *                    layout
 *   mask[B][H][M][M] dropout mask, same layout (p == 0: ignored, may be NULL;
 *                    then pdrop may alias prob)
 *   out[B][M][C]     concatenated heads: pdrop @ v
 * Dropout draws come from *rng in (b, h, j, i) order (the blocks' memory order),
 * each (b, h) block as one dn_dropout_draw of M*M; rng NULL: mask holds masks
 * drawn so before. */
void dn_attention_forward(float *out, float *prob, float *pdrop, float *mask,
                          float *scratch, const float *qkv, float p, int B, int M, int C,
                          int H, dn_rng_t *rng);
/* dqkv[B][M][3C] += gradient; mask NULL means no dropout was applied; scratch as
 * for the forward (dn_attention_scratch_floats(M, C, H) floats, overwritten). */
void dn_attention_backward(float *dqkv, float *scratch, const float *dout,
                           const float *qkv, const float *prob, const float *pdrop,
                           const float *mask, int B, int M, int C, int H);

/* One AdamW step over n parameters, as torch.optim.AdamW: p *= 1 - lr*wd;
 * m = lerp(m, g, 1-beta1); v = beta2 v + (1-beta2) g^2; p -= lr/(1-beta1^step) *
 * m / (sqrt(v)/sqrt(1-beta2^step) + eps). step >= 1 counts this update. */
void dn_adamw_update(float *params, float *m, float *v, const float *grads,
                     size_t n, float lr, float beta1, float beta2, float eps,
                     float weight_decay, long step);

/* Gather rows: out[n][C] = table[index[n]][C]; backward scatter-adds. */
void dn_gather_forward(float *out, const float *table, const int *index, int n,
                       int C);
void dn_gather_backward(float *dtable, const float *dout, const int *index,
                        int n, int C);

/* Gaussian NLL, mean over n values: 0.5 * (log v + (x - mu)^2 / v) with
 * v = max(sigma^2, 1e-9); accumulated in double. Backward writes (not adds)
 * dmu, dsigma for an upstream gradient dloss; no gradient through the clamp. */
double dn_gaussnll_forward(const float *mu, const float *sigma, const float *x,
                           int n);
void dn_gaussnll_backward(float *dmu, float *dsigma, const float *mu,
                          const float *sigma, const float *x, float dloss, int n);
/* The same for n of the n_mean values the loss averages (a slice of a batch):
 * the gradients of those n values, bit for bit as the whole call gives them. */
void dn_gaussnll_backward_part(float *dmu, float *dsigma, const float *mu,
                               const float *sigma, const float *x, float dloss,
                               int n, int n_mean);

/* Level i (0 = best) of the variants built in, NULL past the last. Static string. */
const char *dn_nn_variant_name(int i);
/* 1 if this CPU (and its OS) runs variant `name`, else 0 (also for unknown names). */
int dn_nn_variant_supported(const char *name);
/* The variant the kernels use now. Static string. */
const char *dn_nn_variant(void);
/* Makes the kernels use variant `name`, or the best one this CPU runs if name is
 * NULL. Returns 0, DN_EINVAL for a name that is no variant, or DN_EMISMATCH
 * when this CPU does not run it (the variant in use is kept then). */
int dn_nn_select(const char *name);

#endif
