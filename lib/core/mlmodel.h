/* mlmodel.h: the DINAMO-ML network (SPEC 3): a post-norm transformer encoder over
 * a context of M (histogram, relative time) tokens predicting the next good
 * histogram's per-bin mean mu_hat (softmax head) and uncertainty sigma_hat
 * (softplus head), trained with a Gaussian NLL loss and AdamW.
 *
 * Memory, llm.c style: one contiguous float32 buffer each for the parameters,
 * their gradients, AdamW's first and second moments, and the activations (sized
 * at creation for the largest batch); forward, backward and the optimizer never
 * allocate. The parameter buffer is laid out in exactly the order of the weight
 * exchange format (PyTorch's named_parameters() of the reference module, each
 * tensor row-major out x in), so export/import is a copy plus checks.
 *
 * Batches share their histograms. The K contexts of a training batch overlap
 * (K most recent good runs, each with its M predecessors: about K+M-1 distinct
 * histograms), so a batch names its U distinct normalised histograms once
 * (`hist`, including the padding histogram 0.01 per bin when used) and each
 * token points into it (`tok_index`). x_emb runs on the U rows only and its
 * gradient is scatter-added back. t_emb depends only on the relative time value,
 * so the model also embeds each distinct time value of a batch once (found
 * internally: the caller just gives the times).
 *
 * Thread rules: a model is not synchronised. Its calls may run on any thread but
 * never two at a time on the same model; distinct models are independent. All
 * BLAS work goes through cblas_sgemm (use dn_blas_init() in programs).
 *
 * Threads: a model can put up to DN_ML_MAX_THREADS threads of its own on each
 * call (dn_mlmodel_set_threads). The work of a step is split into parts that do
 * not depend on the number of threads (the batch's contexts in two halves, one
 * task per parameter tensor group, masks drawn ahead), so every thread count
 * gives bit-identical results.
 *
 * Call sequence for one training step (or dn_mlmodel_train_step for all three):
 *   dn_mlmodel_forward(m, &batch, 1, &loss);   training mode: dropout on
 *   dn_mlmodel_backward(m);                    gradients of that loss
 *   dn_mlmodel_adamw_step(m);                  one AdamW update
 * Inference: dn_mlmodel_predict() for one context, or dn_mlmodel_forward(m, &b,
 * 0, NULL) then dn_mlmodel_mu()/dn_mlmodel_sigma() for a batch. */
#ifndef DN_MLMODEL_H
#define DN_MLMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum {
    DN_ML_ACT_RELU = 0, /* feed-forward activation of the reference (default) */
    DN_ML_ACT_GELU = 1, /* exact erf GELU, as the paper's text says */
};

/* Time value of padding tokens and histogram value of the padding histogram. */
#define DN_ML_PAD_TIME (-100.0f)
#define DN_ML_PAD_VALUE (0.01f)

/* Architecture, sizes and optimizer settings. Plain data; fill with
 * dn_mlconfig_default() and override fields. */
typedef struct dn_mlconfig_t {
    int n_bins;        /* N_b: histogram bins (input and output width), >= 1 */
    int d_model;       /* d: token width, a multiple of n_heads */
    int n_heads;       /* attention heads */
    int n_layers;      /* encoder layers, >= 1 */
    int d_ff;          /* feed-forward width */
    int context;       /* M: tokens per context */
    int max_batch;     /* K: most contexts per forward (activation sizing) */
    int max_hist;      /* most distinct histograms U per batch; 0 means
                          max_batch + context (K+M-1 runs plus the padding row) */
    int activation;    /* DN_ML_ACT_RELU or DN_ML_ACT_GELU (encoder FF only; the
                          embedding and head MLPs always use ReLU as SPEC 3) */
    float dropout;     /* p in [0, 1): dropout probability in training mode */
    float lr;          /* AdamW learning rate */
    float beta1, beta2;/* AdamW moment decay */
    float eps;         /* AdamW epsilon */
    float weight_decay;/* AdamW decoupled weight decay, on every parameter */
} dn_mlconfig_t;

/* Writes the SPEC 3 defaults into *cfg: n_bins 100, d_model 100, n_heads 10,
 * n_layers 3, d_ff 100, context 20, max_batch 10, max_hist 0, ReLU, dropout 0.15,
 * lr 5e-4, betas 0.9/0.999, eps 1e-8, weight_decay 1e-4. */
void dn_mlconfig_default(dn_mlconfig_t *cfg);

/* Checks *cfg: returns 0 or DN_EINVAL with the offending field in *err. */
int dn_mlconfig_check(const dn_mlconfig_t *cfg, dn_err_t *err);

/* Number of float parameters of the architecture in *cfg (254,700 at the
 * defaults); 0 when the config is invalid. */
size_t dn_mlconfig_num_params(const dn_mlconfig_t *cfg);

/* One batch of B contexts of M tokens over U distinct histograms. All arrays
 * belong to the caller and are only read during the call.
 *   hist[U][n_bins]     distinct normalised histograms (padding row included)
 *   tok_index[B][M]     token (b, g) uses histogram hist[tok_index[b*M+g]]
 *   tok_time[B][M]      its time relative to the predicted run (t_g - t_i,
 *                       negative), DN_ML_PAD_TIME for padding tokens
 *   target[B][n_bins]   the predicted runs' normalised histograms (xt), for the
 *                       loss; may be NULL for inference */
typedef struct dn_mlbatch_t {
    int n_hist;               /* U >= 1, <= the model's max_hist */
    int batch;                /* B >= 1, <= the model's max_batch */
    const float *hist;
    const int32_t *tok_index;
    const float *tok_time;
    const float *target;
} dn_mlbatch_t;

typedef struct dn_mlmodel_t dn_mlmodel_t;

/* Creates a model for *cfg (copied) with every buffer allocated, parameters
 * initialised as PyTorch's defaults (SPEC 3) from `seed`, AdamW state zeroed
 * (step 0) and the dropout generator seeded from `seed` too (its own stream).
 * Returns NULL on an invalid config or allocation failure. Caller owns the
 * result; free with dn_mlmodel_destroy(). */
dn_mlmodel_t *dn_mlmodel_new(const dn_mlconfig_t *cfg, uint64_t seed);

/* Frees *self_p (NULL and *self_p == NULL accepted) and sets *self_p to NULL. */
void dn_mlmodel_destroy(dn_mlmodel_t **self_p);

/* The model's config (owned by the model, valid for its lifetime). */
const dn_mlconfig_t *dn_mlmodel_config(const dn_mlmodel_t *m);

/* Number of parameters (= dn_mlconfig_num_params of its config). */
size_t dn_mlmodel_num_params(const dn_mlmodel_t *m);

/* Re-initialises the parameters from `seed` (PyTorch default init), zeroes the
 * AdamW state and step counter, and reseeds the dropout generator. */
void dn_mlmodel_reset(dn_mlmodel_t *m, uint64_t seed);

/* Threads a model may use (see the top of this file). */
#define DN_ML_MAX_THREADS 2

/* Runs the model's forward, backward and AdamW on `threads` threads (the
 * caller's and threads - 1 the model starts and owns; 1 = none, the default).
 * Results do not depend on it. Returns 0, DN_EINVAL (threads outside
 * [1, DN_ML_MAX_THREADS]) or DN_ENOMEM (a thread could not be started; the
 * model keeps its previous threads). */
int dn_mlmodel_set_threads(dn_mlmodel_t *m, int threads);

/* Runs the model on a team the caller owns (team.h; NULL: the caller's thread
 * only), e.g. one team for all the models a service trains, instead of a team
 * per model. The team must outlive its use by the model, and every model
 * sharing it must be called from the team owner's thread. Drops a team of
 * dn_mlmodel_set_threads. Results do not depend on the team's size; members
 * beyond DN_ML_MAX_THREADS stay idle. */
struct dn_team_t;
void dn_mlmodel_share_team(dn_mlmodel_t *m, struct dn_team_t *team);

/* Threads the model uses (1 by default). */
int dn_mlmodel_threads(const dn_mlmodel_t *m);

/* Reseeds only the dropout generator. */
void dn_mlmodel_seed_dropout(dn_mlmodel_t *m, uint64_t seed);

/* Direct views of the parameter and gradient buffers, n = num_params floats in
 * exchange-format order. Owned by the model, valid for its lifetime. Writing
 * the parameters is allowed (e.g. restoring a snapshot): the model keeps
 * transposed copies of its weights for the forward pass, refreshed before the
 * next forward when dn_mlmodel_params was called since the last one, or when
 * dn_mlmodel_params_changed says so. A caller that keeps the pointer and writes
 * through it again later calls dn_mlmodel_params_changed after writing. */
float *dn_mlmodel_params(dn_mlmodel_t *m);
void dn_mlmodel_params_changed(dn_mlmodel_t *m);
float *dn_mlmodel_grads(dn_mlmodel_t *m);

/* Sets the AdamW learning rate (the rest of the config is fixed at creation). */
void dn_mlmodel_set_lr(dn_mlmodel_t *m, float lr);

/* Forward pass over *b. train != 0: training mode (dropout with the model's
 * generator, activations kept for dn_mlmodel_backward); train == 0: eval mode
 * (no dropout). When b->target is set and loss != NULL, *loss receives the
 * Gaussian NLL mean over batch and bins, 0.5*(log v + (xt - mu_hat)^2 / v) with
 * v = max(sigma_hat^2, 1e-9). Returns 0, DN_EINVAL (sizes out of range, a
 * tok_index outside [0, U), NULL arrays, non-finite input) or DN_ESTATE
 * (loss requested without target). */
int dn_mlmodel_forward(dn_mlmodel_t *m, const dn_mlbatch_t *b, int train,
                       float *loss);

/* mu_hat / sigma_hat of the last forward: [B][n_bins], owned by the model,
 * valid until the next forward. */
const float *dn_mlmodel_mu(const dn_mlmodel_t *m);
const float *dn_mlmodel_sigma(const dn_mlmodel_t *m);

/* Gradients of the last forward's loss with respect to every parameter, written
 * into the gradient buffer (zeroed first). The clamp of v passes no gradient
 * where sigma_hat^2 < 1e-9 (as torch.clamp). Requires that the last forward had
 * a target (DN_ESTATE otherwise); the forward copied what it needs from the
 * batch, so the caller's arrays may have changed since. Returns 0 or DN_ESTATE. */
int dn_mlmodel_backward(dn_mlmodel_t *m);

/* One AdamW step as torch.optim.AdamW (decoupled weight decay p -= lr*wd*p,
 * bias-corrected moments, eps added to sqrt(v_hat)) from the gradient buffer.
 * Increments the step counter. */
void dn_mlmodel_adamw_step(dn_mlmodel_t *m);

/* AdamW steps taken since creation / reset / dn_mlmodel_reset_optimizer. */
int64_t dn_mlmodel_step_count(const dn_mlmodel_t *m);

/* Zeroes the AdamW moments and the step counter (parameters unchanged). */
void dn_mlmodel_reset_optimizer(dn_mlmodel_t *m);

/* forward(train=1) + backward + adamw_step on *b (which must have a target).
 * *loss (may be NULL) is the loss before the update. Returns as forward. */
int dn_mlmodel_train_step(dn_mlmodel_t *m, const dn_mlbatch_t *b, float *loss);

/* Eval-mode prediction for one context, without a batch struct:
 * ctx[M][n_bins] the context's normalised histograms (padding rows included,
 * oldest first), times[M] their relative times; writes mu[n_bins] and
 * sigma[n_bins]. Returns 0 or DN_EINVAL (NULL argument, non-finite input). */
int dn_mlmodel_predict(dn_mlmodel_t *m, const float *ctx, const float *times,
                       float *mu, float *sigma);

/* ---- Weight exchange ----------------------------------------------------
 *
 * Raw format (SPEC 3): exactly num_params little-endian float32 in
 * exchange order, nothing else: 4*num_params bytes. The architecture is not in
 * it; the reader must already have a model of the same config.
 *
 * Self-describing format ("DNML" blob/file), all integers little-endian:
 *   offset 0  char[8]  magic "DNML\0\0\0\1" (last byte: format version 1)
 *   8   u32  n_bins     12  u32 d_model    16  u32 n_heads   20  u32 n_layers
 *   24  u32  d_ff       28  u32 context    32  u32 activation (0 ReLU, 1 GELU)
 *   36  f32  dropout    40  u64 num_params 48  u64 adamw step count
 *   56  u32  FNV-1a 32 hash of the parameter bytes   60  u32 reserved (0)
 *   64  float32 parameters[num_params] in exchange order.
 * Optimizer moments are not stored; the step count is, for information. */

#define DN_MLBLOB_HEADER 64

/* Bytes of the raw format: 4 * num_params. */
size_t dn_mlmodel_raw_size(const dn_mlmodel_t *m);

/* Writes the raw format into buf (cap >= raw_size). Returns 0 or DN_EINVAL. */
int dn_mlmodel_export_raw(const dn_mlmodel_t *m, void *buf, size_t cap);

/* Loads parameters from the raw format. n must equal raw_size (DN_EMISMATCH
 * otherwise); non-finite values give DN_ERANGE. The model is unchanged on
 * failure. AdamW state is left as is. */
int dn_mlmodel_import_raw(dn_mlmodel_t *m, const void *buf, size_t n,
                          dn_err_t *err);

/* Bytes of the self-describing format: DN_MLBLOB_HEADER + 4 * num_params. */
size_t dn_mlmodel_blob_size(const dn_mlmodel_t *m);

/* Writes the self-describing format into buf (cap >= blob_size). 0 or DN_EINVAL. */
int dn_mlmodel_export_blob(const dn_mlmodel_t *m, void *buf, size_t cap);

/* Loads a self-describing blob into m: the architecture in the header must equal
 * m's (DN_EMISMATCH naming the field otherwise); bad magic, version, length or
 * hash give DN_EFORMAT; non-finite values DN_ERANGE. Model unchanged on failure. */
int dn_mlmodel_import_blob(dn_mlmodel_t *m, const void *buf, size_t n,
                           dn_err_t *err);

/* Reads only the header of a blob into *cfg (architecture fields; the sizes and
 * optimizer fields get the defaults). Returns 0 or DN_EFORMAT. */
int dn_mlblob_config(const void *buf, size_t n, dn_mlconfig_t *cfg,
                     dn_err_t *err);

/* Loads initial weights in either form: a DNML blob (it starts with "DNML")
 * as dn_mlmodel_import_blob, anything else as the raw exchange format
 * (dn_mlmodel_import_raw), so that a PyTorch-trained model runs unchanged.
 * Returns their codes; the model is unchanged on failure. Reading files is
 * lib/io/mlfile.h's. */
int dn_mlmodel_import_any(dn_mlmodel_t *m, const void *buf, size_t n, dn_err_t *err);

/* ---- Whole training state (checkpoints of an online tracker) -------------
 *
 * Everything a model needs to continue training bit-identically: parameters,
 * AdamW moments and step count, and the dropout generator. Little-endian:
 *   0  char[8] magic "DNMS\0\0\0\1"   8..32 u32 n_bins d_model n_heads n_layers
 *   d_ff context activation             36 f32 dropout   40 u64 num_params
 *   48 i64 AdamW step   56 u64[4] dropout generator   88 u32 FNV-1a 32 of the
 *   bytes from 96 on   92 u32 reserved (0)   96 float32 params, adam_m, adam_v
 *   (num_params each, exchange order).
 * Optimizer settings (lr, betas, eps, weight decay) and sizes are not stored. */

/* Bytes of the state: 96 + 12 * num_params. */
size_t dn_mlmodel_state_size(const dn_mlmodel_t *m);

/* Writes the state into buf (cap >= state_size). Returns 0 or DN_EINVAL. */
int dn_mlmodel_save_state(const dn_mlmodel_t *m, void *buf, size_t cap);

/* Loads a state written by dn_mlmodel_save_state into m. Architecture different
 * from m's: DN_EMISMATCH naming the field; bad magic, version, length, hash or
 * generator state: DN_EFORMAT; non-finite values or negative second moments:
 * DN_ERANGE. The model is unchanged on failure. */
int dn_mlmodel_load_state(dn_mlmodel_t *m, const void *buf, size_t n,
                          dn_err_t *err);

#endif
