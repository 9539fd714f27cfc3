/* mlmodel.c: the DINAMO-ML network of mlmodel.h on the kernels of nn.h.
 *
 * Buffers: params, grads, adam_m, adam_v (num_params floats each, exchange
 * order) and acts (every forward activation plus the backward scratch, sized for
 * max_batch contexts, max_hist distinct histograms and max_batch*context distinct
 * time values); one int buffer holds the token -> histogram and token -> time
 * indices. Views (structs of pointers into those buffers) are computed once at
 * creation, llm.c style.
 *
 * The forward pass copies the batch (histograms, indices, targets) into the
 * activation buffer, so backward needs nothing from the caller. Training mode
 * draws every dropout mask from the model's generator in a fixed order (layer by
 * layer: attention probabilities, attention output, FF hidden, FF output), so a
 * model's trajectory is a pure function of its seed and the batches it sees.
 *
 * Invariant: after a successful forward with a target, `have_target` is set and
 * the activations are those of that forward until the next forward. */
#include "mlmodel.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "nn.h"
#include "rng.h"

/* ---- parameter layout (exchange order) ---------------------------------- */

typedef struct {
    float *qkv_w, *qkv_b;   /* [3d][d], [3d] in_proj */
    float *out_w, *out_b;   /* [d][d], [d] out_proj */
    float *l1_w, *l1_b;     /* [ff][d], [ff] */
    float *l2_w, *l2_b;     /* [d][ff], [d] */
    float *n1_w, *n1_b;     /* [d] */
    float *n2_w, *n2_b;     /* [d] */
} layer_params_t;

typedef struct {            /* Linear(in, w) -> LayerNorm(w) -> ReLU -> Linear(w, w) */
    float *w0, *b0;         /* [w][in], [w] */
    float *lnw, *lnb;       /* [w] */
    float *w3, *b3;         /* [w][w], [w] */
} mlp_params_t;

typedef struct {
    mlp_params_t xemb, temb;
    layer_params_t *layer;  /* [n_layers] */
    mlp_params_t head[2];   /* mu, sigma */
} params_view_t;

/* Activations of one MLP block over rows of width w. */
typedef struct {
    float *in;              /* [R][in] copy of the input rows */
    float *l0, *mean, *rstd, *ln, *act, *out;
} mlp_acts_t;

typedef struct {
    float *qkv;             /* [N][3d] */
    float *prob, *pdrop, *amask; /* [B][H][M][M] */
    float *atty;            /* [N][d] attention core output */
    float *mask1;           /* [N][d] */
    float *res1;            /* [N][d] h + drop(attn) */
    float *ln1_mean, *ln1_rstd; /* [N] */
    float *ln1;             /* [N][d] */
    float *ff1, *ffact, *ffmask, *ffdrop; /* [N][ff] */
    float *mask2;           /* [N][d] */
    float *res2;            /* [N][d] */
    float *ln2_mean, *ln2_rstd;
    float *hout;            /* [N][d] layer output */
} layer_acts_t;

typedef struct {
    mlp_acts_t xemb, temb;
    float *h0;              /* [N][d] tokens */
    layer_acts_t *layer;
    float *pooled;          /* [B][d] */
    mlp_acts_t head[2];
    float *y[2];            /* [B][nb] mu_hat, sigma_hat */
    float *target;          /* [B][nb] */
    float *tmp;             /* [N][d] */
    /* backward scratch */
    float *dH, *dR, *dX;    /* [N][d] */
    float *dFF, *dFF2;      /* [N][ff] */
    float *dQKV;            /* [N][3d] */
    float *dpool;           /* [B][d] */
    float *dhead[4];        /* [B][nb] */
    float *demb[3];         /* [max(U, T)][d] */
} acts_view_t;

struct dn_mlmodel_t {
    dn_mlconfig_t cfg;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;
    float *acts;
    size_t n_acts;
    int *ibuf;              /* tok_hist[N], tok_time[N], predict index [M] */
    params_view_t P, G;
    acts_view_t A;
    int64_t step;
    dn_rng_t rng;           /* dropout */
    /* state of the last forward */
    int last_B, last_U, last_T, last_drop, have_target, have_forward;
};

static int max_hist_of(const dn_mlconfig_t *c)
{
    return c->max_hist > 0 ? c->max_hist : c->max_batch + c->context;
}

void dn_mlconfig_default(dn_mlconfig_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_bins = 100;
    cfg->d_model = 100;
    cfg->n_heads = 10;
    cfg->n_layers = 3;
    cfg->d_ff = 100;
    cfg->context = 20;
    cfg->max_batch = 10;
    cfg->max_hist = 0;
    cfg->activation = DN_ML_ACT_RELU;
    cfg->dropout = 0.15f;
    cfg->lr = 5e-4f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
    cfg->weight_decay = 1e-4f;
}

int dn_mlconfig_check(const dn_mlconfig_t *c, dn_err_t *err)
{
    const int big = 1 << 16;
    if (!c)
        return dn_err_set(err, DN_EINVAL, "mlconfig: NULL config");
#define CHECK_RANGE(f, lo, hi)                                                 \
    if (c->f < (lo) || c->f > (hi))                                            \
        return dn_err_set(err, DN_EINVAL, "mlconfig: " #f " = %d not in [%d, %d]", \
                          c->f, (lo), (hi));
    CHECK_RANGE(n_bins, 1, big)
    CHECK_RANGE(d_model, 1, 8192)
    CHECK_RANGE(n_heads, 1, 8192)
    CHECK_RANGE(n_layers, 1, 256)
    CHECK_RANGE(d_ff, 1, 65536)
    CHECK_RANGE(context, 1, 4096)
    CHECK_RANGE(max_batch, 1, 65536)
    CHECK_RANGE(activation, 0, 1)
#undef CHECK_RANGE
    if (c->d_model % c->n_heads)
        return dn_err_set(err, DN_EINVAL,
                          "mlconfig: d_model %d is not a multiple of n_heads %d",
                          c->d_model, c->n_heads);
    if (c->max_hist < 0 || (c->max_hist > 0 && c->max_hist < c->context))
        return dn_err_set(err, DN_EINVAL,
                          "mlconfig: max_hist %d must be 0 or >= context %d",
                          c->max_hist, c->context);
    if ((int64_t)c->max_batch * c->context > (1 << 24))
        return dn_err_set(err, DN_EINVAL, "mlconfig: max_batch*context too large");
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return dn_err_set(err, DN_EINVAL, "mlconfig: dropout %g not in [0, 1)",
                          (double)c->dropout);
    if (!(c->lr >= 0.0f && isfinite(c->lr)) || !(c->beta1 >= 0.0f && c->beta1 < 1.0f) ||
        !(c->beta2 >= 0.0f && c->beta2 < 1.0f) || !(c->eps > 0.0f && isfinite(c->eps)) ||
        !(c->weight_decay >= 0.0f && isfinite(c->weight_decay)))
        return dn_err_set(err, DN_EINVAL,
                          "mlconfig: AdamW settings out of range (lr %g, betas %g/%g,"
                          " eps %g, weight_decay %g)", (double)c->lr, (double)c->beta1,
                          (double)c->beta2, (double)c->eps, (double)c->weight_decay);
    return 0;
}

static size_t mlp_size(size_t in, size_t w)
{
    return w * in + w + 2 * w + w * w + w;
}

size_t dn_mlconfig_num_params(const dn_mlconfig_t *c)
{
    if (dn_mlconfig_check(c, NULL))
        return 0;
    size_t d = c->d_model, nb = c->n_bins, ff = c->d_ff;
    size_t layer = 3 * d * d + 3 * d + d * d + d + ff * d + ff + d * ff + d + 4 * d;
    return mlp_size(nb, d) + mlp_size(1, d) + c->n_layers * layer +
           2 * mlp_size(d, nb);
}

static float *take(float **cur, size_t n)
{
    float *p = *cur;
    *cur += n;
    return p;
}

static void mlp_view(mlp_params_t *v, float **cur, size_t in, size_t w)
{
    v->w0 = take(cur, w * in);
    v->b0 = take(cur, w);
    v->lnw = take(cur, w);
    v->lnb = take(cur, w);
    v->w3 = take(cur, w * w);
    v->b3 = take(cur, w);
}

static void params_view(params_view_t *v, float *base, const dn_mlconfig_t *c)
{
    size_t d = c->d_model, nb = c->n_bins, ff = c->d_ff;
    float *cur = base;
    mlp_view(&v->xemb, &cur, nb, d);
    mlp_view(&v->temb, &cur, 1, d);
    for (int l = 0; l < c->n_layers; l++) {
        layer_params_t *L = &v->layer[l];
        L->qkv_w = take(&cur, 3 * d * d);
        L->qkv_b = take(&cur, 3 * d);
        L->out_w = take(&cur, d * d);
        L->out_b = take(&cur, d);
        L->l1_w = take(&cur, ff * d);
        L->l1_b = take(&cur, ff);
        L->l2_w = take(&cur, d * ff);
        L->l2_b = take(&cur, d);
        L->n1_w = take(&cur, d);
        L->n1_b = take(&cur, d);
        L->n2_w = take(&cur, d);
        L->n2_b = take(&cur, d);
    }
    mlp_view(&v->head[0], &cur, d, nb);
    mlp_view(&v->head[1], &cur, d, nb);
}

static void mlp_acts(mlp_acts_t *a, float **cur, size_t R, size_t in, size_t w)
{
    a->in = take(cur, R * in);
    a->l0 = take(cur, R * w);
    a->mean = take(cur, R);
    a->rstd = take(cur, R);
    a->ln = take(cur, R * w);
    a->act = take(cur, R * w);
    a->out = take(cur, R * w);
}

/* Lays out the activation buffer from `base` (NULL: only counts); returns floats. */
static size_t acts_view(acts_view_t *A, float *base, const dn_mlconfig_t *c)
{
    size_t d = c->d_model, nb = c->n_bins, ff = c->d_ff, H = c->n_heads;
    size_t B = c->max_batch, M = c->context, N = B * M, U = max_hist_of(c),
           T = N, UT = U > T ? U : T;
    float *cur = base;
    mlp_acts(&A->xemb, &cur, U, nb, d);
    mlp_acts(&A->temb, &cur, T, 1, d);
    A->h0 = take(&cur, N * d);
    for (int l = 0; l < c->n_layers; l++) {
        layer_acts_t *L = &A->layer[l];
        L->qkv = take(&cur, N * 3 * d);
        L->prob = take(&cur, B * H * M * M);
        L->pdrop = take(&cur, B * H * M * M);
        L->amask = take(&cur, B * H * M * M);
        L->atty = take(&cur, N * d);
        L->mask1 = take(&cur, N * d);
        L->res1 = take(&cur, N * d);
        L->ln1_mean = take(&cur, N);
        L->ln1_rstd = take(&cur, N);
        L->ln1 = take(&cur, N * d);
        L->ff1 = take(&cur, N * ff);
        L->ffact = take(&cur, N * ff);
        L->ffmask = take(&cur, N * ff);
        L->ffdrop = take(&cur, N * ff);
        L->mask2 = take(&cur, N * d);
        L->res2 = take(&cur, N * d);
        L->ln2_mean = take(&cur, N);
        L->ln2_rstd = take(&cur, N);
        L->hout = take(&cur, N * d);
    }
    A->pooled = take(&cur, B * d);
    mlp_acts(&A->head[0], &cur, B, 0, nb);
    mlp_acts(&A->head[1], &cur, B, 0, nb);
    A->y[0] = take(&cur, B * nb);
    A->y[1] = take(&cur, B * nb);
    A->target = take(&cur, B * nb);
    A->tmp = take(&cur, N * d);
    A->dH = take(&cur, N * d);
    A->dR = take(&cur, N * d);
    A->dX = take(&cur, N * d);
    A->dFF = take(&cur, N * ff);
    A->dFF2 = take(&cur, N * ff);
    A->dQKV = take(&cur, N * 3 * d);
    A->dpool = take(&cur, B * d);
    for (int i = 0; i < 4; i++)
        A->dhead[i] = take(&cur, B * nb);
    for (int i = 0; i < 3; i++)
        A->demb[i] = take(&cur, UT * d);
    return (size_t)(cur - base);
}

/* ---- init --------------------------------------------------------------- */

static void fill_uniform(float *p, size_t n, double bound, dn_rng_t *rng)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)dn_rng_uniform_range(rng, -bound, bound);
}

static void fill_const(float *p, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        p[i] = v;
}

/* nn.Linear's reset_parameters: weight and bias U(-1/sqrt(fan_in), +). */
static void init_linear(float *w, float *b, size_t in, size_t out, dn_rng_t *rng)
{
    double bound = 1.0 / sqrt((double)in);
    fill_uniform(w, out * in, bound, rng);
    if (b)
        fill_uniform(b, out, bound, rng);
}

static void init_mlp(mlp_params_t *v, size_t in, size_t w, dn_rng_t *rng)
{
    init_linear(v->w0, v->b0, in, w, rng);
    fill_const(v->lnw, w, 1.0f);
    fill_const(v->lnb, w, 0.0f);
    init_linear(v->w3, v->b3, w, w, rng);
}

static void init_params(dn_mlmodel_t *m, uint64_t seed)
{
    const dn_mlconfig_t *c = &m->cfg;
    size_t d = c->d_model, nb = c->n_bins, ff = c->d_ff;
    dn_rng_t rng;
    dn_rng_seed_stream(&rng, seed, 0x1417);
    init_mlp(&m->P.xemb, nb, d, &rng);
    init_mlp(&m->P.temb, 1, d, &rng);
    for (int l = 0; l < c->n_layers; l++) {
        layer_params_t *L = &m->P.layer[l];
        /* MultiheadAttention._reset_parameters: xavier_uniform in_proj (fan_in d,
         * fan_out 3d), zero in_proj bias, out_proj weight as Linear, zero bias */
        fill_uniform(L->qkv_w, 3 * d * d, sqrt(6.0 / (double)(d + 3 * d)), &rng);
        fill_const(L->qkv_b, 3 * d, 0.0f);
        init_linear(L->out_w, NULL, d, d, &rng);
        fill_const(L->out_b, d, 0.0f);
        init_linear(L->l1_w, L->l1_b, d, ff, &rng);
        init_linear(L->l2_w, L->l2_b, ff, d, &rng);
        fill_const(L->n1_w, d, 1.0f);
        fill_const(L->n1_b, d, 0.0f);
        fill_const(L->n2_w, d, 1.0f);
        fill_const(L->n2_b, d, 0.0f);
    }
    init_mlp(&m->P.head[0], d, nb, &rng);
    init_mlp(&m->P.head[1], d, nb, &rng);
}

void dn_mlmodel_seed_dropout(dn_mlmodel_t *m, uint64_t seed)
{
    dn_rng_seed_stream(&m->rng, seed, 0xd209);
}

void dn_mlmodel_reset_optimizer(dn_mlmodel_t *m)
{
    memset(m->adam_m, 0, m->n_params * sizeof(float));
    memset(m->adam_v, 0, m->n_params * sizeof(float));
    m->step = 0;
}

void dn_mlmodel_reset(dn_mlmodel_t *m, uint64_t seed)
{
    init_params(m, seed);
    memset(m->grads, 0, m->n_params * sizeof(float));
    dn_mlmodel_reset_optimizer(m);
    dn_mlmodel_seed_dropout(m, seed);
    m->have_forward = m->have_target = 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

dn_mlmodel_t *dn_mlmodel_new(const dn_mlconfig_t *cfg, uint64_t seed)
{
    if (dn_mlconfig_check(cfg, NULL))
        return NULL;
    dn_mlmodel_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = *cfg;
    m->n_params = dn_mlconfig_num_params(cfg);
    int L = cfg->n_layers;
    m->P.layer = calloc(L, sizeof(layer_params_t));
    m->G.layer = calloc(L, sizeof(layer_params_t));
    m->A.layer = calloc(L, sizeof(layer_acts_t));
    /* one allocation holds params | grads | m | v, each 64-byte aligned */
    size_t np = (m->n_params + 15) & ~(size_t)15;
    m->params = aligned_alloc(64, 4 * np * sizeof(float));
    if (!m->P.layer || !m->G.layer || !m->A.layer || !m->params)
        goto fail;
    m->grads = m->params + np;
    m->adam_m = m->grads + np;
    m->adam_v = m->adam_m + np;
    m->n_acts = acts_view(&m->A, NULL, cfg);
    size_t na = (m->n_acts + 15) & ~(size_t)15;
    m->acts = aligned_alloc(64, na * sizeof(float));
    size_t N = (size_t)cfg->max_batch * cfg->context;
    m->ibuf = malloc((2 * N + cfg->context) * sizeof(int));
    if (!m->acts || !m->ibuf)
        goto fail;
    memset(m->acts, 0, na * sizeof(float));
    acts_view(&m->A, m->acts, cfg);
    params_view(&m->P, m->params, cfg);
    params_view(&m->G, m->grads, cfg);
    for (int i = 0; i < cfg->context; i++)
        m->ibuf[2 * N + i] = i;
    dn_mlmodel_reset(m, seed);
    return m;
fail:
    dn_mlmodel_destroy(&m);
    return NULL;
}

void dn_mlmodel_destroy(dn_mlmodel_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_mlmodel_t *m = *self_p;
    free(m->params);
    free(m->acts);
    free(m->ibuf);
    free(m->P.layer);
    free(m->G.layer);
    free(m->A.layer);
    free(m);
    *self_p = NULL;
}

const dn_mlconfig_t *dn_mlmodel_config(const dn_mlmodel_t *m) { return &m->cfg; }
size_t dn_mlmodel_num_params(const dn_mlmodel_t *m) { return m->n_params; }
float *dn_mlmodel_params(dn_mlmodel_t *m) { return m->params; }
float *dn_mlmodel_grads(dn_mlmodel_t *m) { return m->grads; }
void dn_mlmodel_set_lr(dn_mlmodel_t *m, float lr) { m->cfg.lr = lr; }
int64_t dn_mlmodel_step_count(const dn_mlmodel_t *m) { return m->step; }
const float *dn_mlmodel_mu(const dn_mlmodel_t *m) { return m->A.y[0]; }
const float *dn_mlmodel_sigma(const dn_mlmodel_t *m) { return m->A.y[1]; }

/* ---- forward -------------------------------------------------------------- */

static void mlp_forward(mlp_acts_t *a, const mlp_params_t *p, const float *in,
                        int R, int nin, int w)
{
    dn_linear_forward(a->l0, in, p->w0, p->b0, R, nin, w);
    dn_layernorm_forward(a->ln, a->mean, a->rstd, a->l0, p->lnw, p->lnb, R, w);
    dn_relu_forward(a->act, a->ln, R * w);
    dn_linear_forward(a->out, a->act, p->w3, p->b3, R, w, w);
}

/* Adds into dp the gradients of the MLP given dout; din (may be NULL) += input
 * gradient. s1, s2 are [R][w] scratch. */
static void mlp_backward(float *din, mlp_params_t *dp, const mlp_params_t *p,
                         const mlp_acts_t *a, const float *in, const float *dout,
                         float *s1, float *s2, int R, int nin, int w)
{
    size_t n = (size_t)R * w;
    memset(s1, 0, n * sizeof(float));
    dn_linear_backward(s1, dp->w3, dp->b3, dout, a->act, p->w3, R, w, w);
    memset(s2, 0, n * sizeof(float));
    dn_relu_backward(s2, s1, a->ln, R * w);
    memset(s1, 0, n * sizeof(float));
    dn_layernorm_backward(s1, dp->lnw, dp->lnb, s2, a->l0, p->lnw, a->mean, a->rstd,
                          R, w);
    dn_linear_backward(din, dp->w0, dp->b0, s1, in, p->w0, R, nin, w);
}

static int all_finite(const float *x, size_t n)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= isfinite(x[i]);
    return ok;
}

int dn_mlmodel_forward(dn_mlmodel_t *m, const dn_mlbatch_t *b, int train,
                       float *loss)
{
    const dn_mlconfig_t *c = &m->cfg;
    acts_view_t *A = &m->A;
    if (!b || !b->hist || !b->tok_index || !b->tok_time)
        return DN_EINVAL;
    const int B = b->batch, U = b->n_hist, M = c->context, d = c->d_model,
              nb = c->n_bins, ff = c->d_ff, H = c->n_heads, N = B * M;
    if (B < 1 || B > c->max_batch || U < 1 || U > max_hist_of(c))
        return DN_EINVAL;
    if (loss && !b->target)
        return DN_ESTATE;
    if (!all_finite(b->hist, (size_t)U * nb) || !all_finite(b->tok_time, N) ||
        (b->target && !all_finite(b->target, (size_t)B * nb)))
        return DN_EINVAL;
    int *tok_h = m->ibuf, *tok_t = m->ibuf + (size_t)c->max_batch * M;
    for (int i = 0; i < N; i++) {
        if (b->tok_index[i] < 0 || b->tok_index[i] >= U)
            return DN_EINVAL;
        tok_h[i] = b->tok_index[i];
    }
    /* distinct time values: t_emb runs once per value */
    float *times = A->temb.in;
    int T = 0;
    for (int i = 0; i < N; i++) {
        float t = b->tok_time[i];
        int k = T - 1;
        while (k >= 0 && times[k] != t)
            k--;
        if (k < 0) {
            k = T;
            times[T++] = t;
        }
        tok_t[i] = k;
    }
    memcpy(A->xemb.in, b->hist, (size_t)U * nb * sizeof(float));
    if (b->target)
        memcpy(A->target, b->target, (size_t)B * nb * sizeof(float));
    const float p = train ? c->dropout : 0.0f;
    const int drop = p > 0.0f;
    m->have_forward = m->have_target = 0;

    /* embeddings, then tokens = x_emb(hist) + t_emb(time) */
    mlp_forward(&A->xemb, &m->P.xemb, A->xemb.in, U, nb, d);
    mlp_forward(&A->temb, &m->P.temb, A->temb.in, T, 1, d);
    for (int i = 0; i < N; i++) {
        const float *xe = A->xemb.out + (size_t)tok_h[i] * d;
        const float *te = A->temb.out + (size_t)tok_t[i] * d;
        float *h = A->h0 + (size_t)i * d;
        for (int k = 0; k < d; k++)
            h[k] = xe[k] + te[k];
    }

    /* encoder layers */
    const float *hin = A->h0;
    for (int l = 0; l < c->n_layers; l++) {
        layer_acts_t *L = &A->layer[l];
        const layer_params_t *W = &m->P.layer[l];
        size_t nd = (size_t)N * d, nf = (size_t)N * ff;
        dn_linear_forward(L->qkv, hin, W->qkv_w, W->qkv_b, N, d, 3 * d);
        dn_attention_forward(L->atty, L->prob, drop ? L->pdrop : L->prob,
                             drop ? L->amask : NULL, L->qkv, p, B, M, d, H, &m->rng);
        dn_linear_forward(A->tmp, L->atty, W->out_w, W->out_b, N, d, d);
        dn_dropout_forward(A->tmp, drop ? L->mask1 : NULL, A->tmp, p, nd, &m->rng);
        dn_residual_forward(L->res1, hin, A->tmp, nd);
        dn_layernorm_forward(L->ln1, L->ln1_mean, L->ln1_rstd, L->res1, W->n1_w,
                             W->n1_b, N, d);
        dn_linear_forward(L->ff1, L->ln1, W->l1_w, W->l1_b, N, d, ff);
        if (c->activation == DN_ML_ACT_GELU)
            dn_gelu_forward(L->ffact, L->ff1, nf);
        else
            dn_relu_forward(L->ffact, L->ff1, nf);
        dn_dropout_forward(L->ffdrop, drop ? L->ffmask : NULL, L->ffact, p, nf,
                           &m->rng);
        dn_linear_forward(A->tmp, L->ffdrop, W->l2_w, W->l2_b, N, ff, d);
        dn_dropout_forward(A->tmp, drop ? L->mask2 : NULL, A->tmp, p, nd, &m->rng);
        dn_residual_forward(L->res2, L->ln1, A->tmp, nd);
        dn_layernorm_forward(L->hout, L->ln2_mean, L->ln2_rstd, L->res2, W->n2_w,
                             W->n2_b, N, d);
        hin = L->hout;
    }

    /* mean over the context, then the two heads */
    dn_meanpool_forward(A->pooled, hin, B, M, d);
    for (int k = 0; k < 2; k++)
        mlp_forward(&A->head[k], &m->P.head[k], A->pooled, B, d, nb);
    dn_softmax_forward(A->y[0], A->head[0].out, B, nb);
    dn_softplus_forward(A->y[1], A->head[1].out, B * nb);

    m->last_B = B;
    m->last_U = U;
    m->last_T = T;
    m->last_drop = drop;
    m->have_forward = 1;
    m->have_target = b->target != NULL;
    if (loss)
        *loss = (float)dn_gaussnll_forward(A->y[0], A->y[1], A->target, B * nb);
    return 0;
}

/* ---- backward ------------------------------------------------------------- */

int dn_mlmodel_backward(dn_mlmodel_t *m)
{
    if (!m->have_forward || !m->have_target)
        return DN_ESTATE;
    const dn_mlconfig_t *c = &m->cfg;
    acts_view_t *A = &m->A;
    const int B = m->last_B, U = m->last_U, T = m->last_T, M = c->context,
              d = c->d_model, nb = c->n_bins, ff = c->d_ff, H = c->n_heads,
              N = B * M, drop = m->last_drop;
    const size_t nd = (size_t)N * d, nf = (size_t)N * ff;
    const int *tok_h = m->ibuf, *tok_t = m->ibuf + (size_t)c->max_batch * M;
    memset(m->grads, 0, m->n_params * sizeof(float));

    /* loss -> heads -> pooled */
    dn_gaussnll_backward(A->dhead[2], A->dhead[3], A->y[0], A->y[1], A->target,
                         1.0f, B * nb);
    memset(A->dpool, 0, (size_t)B * d * sizeof(float));
    for (int k = 0; k < 2; k++) {
        float *dz = A->dhead[0];
        memset(dz, 0, (size_t)B * nb * sizeof(float));
        if (k == 0)
            dn_softmax_backward(dz, A->dhead[2], A->y[0], B, nb);
        else
            dn_softplus_backward(dz, A->dhead[3], A->head[1].out, B * nb);
        mlp_backward(A->dpool, &m->G.head[k], &m->P.head[k], &A->head[k], A->pooled,
                     dz, A->dhead[1], A->dhead[2], B, d, nb);
    }
    /* dhead[2] (dmu) is consumed by the mu head before being reused as scratch
     * by the sigma head; dhead[3] (dsigma) only by the sigma head */
    memset(A->dH, 0, nd * sizeof(float));
    dn_meanpool_backward(A->dH, A->dpool, B, M, d);

    for (int l = c->n_layers - 1; l >= 0; l--) {
        layer_acts_t *L = &A->layer[l];
        const layer_params_t *W = &m->P.layer[l];
        layer_params_t *G = &m->G.layer[l];
        const float *hin = l > 0 ? A->layer[l - 1].hout : A->h0;
        /* dH: gradient of the layer output */
        memset(A->dR, 0, nd * sizeof(float));
        dn_layernorm_backward(A->dR, G->n2_w, G->n2_b, A->dH, L->res2, W->n2_w,
                              L->ln2_mean, L->ln2_rstd, N, d);
        memcpy(A->dH, A->dR, nd * sizeof(float)); /* -> d ln1 (residual path) */
        memset(A->dX, 0, nd * sizeof(float));
        if (drop)
            dn_dropout_backward(A->dX, A->dR, L->mask2, nd);
        else
            memcpy(A->dX, A->dR, nd * sizeof(float));
        memset(A->dFF, 0, nf * sizeof(float));
        dn_linear_backward(A->dFF, G->l2_w, G->l2_b, A->dX, L->ffdrop, W->l2_w, N,
                           ff, d);
        if (drop)
            for (size_t i = 0; i < nf; i++)
                A->dFF[i] *= L->ffmask[i];
        memset(A->dFF2, 0, nf * sizeof(float));
        if (c->activation == DN_ML_ACT_GELU)
            dn_gelu_backward(A->dFF2, A->dFF, L->ff1, nf);
        else
            dn_relu_backward(A->dFF2, A->dFF, L->ff1, nf);
        dn_linear_backward(A->dH, G->l1_w, G->l1_b, A->dFF2, L->ln1, W->l1_w, N, d,
                           ff);
        memset(A->dR, 0, nd * sizeof(float));
        dn_layernorm_backward(A->dR, G->n1_w, G->n1_b, A->dH, L->res1, W->n1_w,
                              L->ln1_mean, L->ln1_rstd, N, d);
        memcpy(A->dH, A->dR, nd * sizeof(float)); /* -> d hin (residual path) */
        memset(A->dX, 0, nd * sizeof(float));
        if (drop)
            dn_dropout_backward(A->dX, A->dR, L->mask1, nd);
        else
            memcpy(A->dX, A->dR, nd * sizeof(float));
        memset(A->dR, 0, nd * sizeof(float));
        dn_linear_backward(A->dR, G->out_w, G->out_b, A->dX, L->atty, W->out_w, N,
                           d, d);
        memset(A->dQKV, 0, 3 * nd * sizeof(float));
        dn_attention_backward(A->dQKV, A->dR, L->qkv, L->prob,
                              drop ? L->pdrop : L->prob, drop ? L->amask : NULL, B,
                              M, d, H);
        dn_linear_backward(A->dH, G->qkv_w, G->qkv_b, A->dQKV, hin, W->qkv_w, N, d,
                           3 * d);
    }

    /* tokens -> the shared embeddings (scatter-add), then their MLPs */
    memset(A->demb[0], 0, (size_t)U * d * sizeof(float));
    dn_gather_backward(A->demb[0], A->dH, tok_h, N, d);
    mlp_backward(NULL, &m->G.xemb, &m->P.xemb, &A->xemb, A->xemb.in, A->demb[0],
                 A->demb[1], A->demb[2], U, nb, d);
    memset(A->demb[0], 0, (size_t)T * d * sizeof(float));
    dn_gather_backward(A->demb[0], A->dH, tok_t, N, d);
    mlp_backward(NULL, &m->G.temb, &m->P.temb, &A->temb, A->temb.in, A->demb[0],
                 A->demb[1], A->demb[2], T, 1, d);
    return 0;
}

/* ---- AdamW ---------------------------------------------------------------- */

void dn_mlmodel_adamw_step(dn_mlmodel_t *m)
{
    const dn_mlconfig_t *c = &m->cfg;
    m->step++;
    dn_adamw_update(m->params, m->adam_m, m->adam_v, m->grads, m->n_params, c->lr,
                    c->beta1, c->beta2, c->eps, c->weight_decay, (long)m->step);
}

int dn_mlmodel_train_step(dn_mlmodel_t *m, const dn_mlbatch_t *b, float *loss)
{
    float l = 0.0f;
    if (!b || !b->target)
        return DN_ESTATE;
    int rc = dn_mlmodel_forward(m, b, 1, &l);
    if (rc)
        return rc;
    rc = dn_mlmodel_backward(m);
    if (rc)
        return rc;
    dn_mlmodel_adamw_step(m);
    if (loss)
        *loss = l;
    return 0;
}

int dn_mlmodel_predict(dn_mlmodel_t *m, const float *ctx, const float *times,
                       float *mu, float *sigma)
{
    const dn_mlconfig_t *c = &m->cfg;
    if (!ctx || !times || !mu || !sigma)
        return DN_EINVAL;
    dn_mlbatch_t b = {.n_hist = c->context,
                      .batch = 1,
                      .hist = ctx,
                      .tok_index = m->ibuf + 2 * (size_t)c->max_batch * c->context,
                      .tok_time = times,
                      .target = NULL};
    int rc = dn_mlmodel_forward(m, &b, 0, NULL);
    if (rc)
        return rc;
    memcpy(mu, m->A.y[0], (size_t)c->n_bins * sizeof(float));
    memcpy(sigma, m->A.y[1], (size_t)c->n_bins * sizeof(float));
    return 0;
}

/* ---- exchange formats ------------------------------------------------------ */

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void floats_to_le(unsigned char *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dn_put_u32(dst + 4 * i, f2u(src[i]));
}

/* Decodes n little-endian floats; returns the index of the first non-finite
 * value, or n. Writes dst only when every value is finite. */
static size_t le_check(const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(u2f(dn_get_u32(src + 4 * i))))
            return i;
    return n;
}

static void le_to_floats(float *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = u2f(dn_get_u32(src + 4 * i));
}

static const unsigned char blob_magic[8] = {'D', 'N', 'M', 'L', 0, 0, 0, 1};

size_t dn_mlmodel_raw_size(const dn_mlmodel_t *m) { return 4 * m->n_params; }
size_t dn_mlmodel_blob_size(const dn_mlmodel_t *m)
{
    return DN_MLBLOB_HEADER + 4 * m->n_params;
}

int dn_mlmodel_export_raw(const dn_mlmodel_t *m, void *buf, size_t cap)
{
    if (!buf || cap < dn_mlmodel_raw_size(m))
        return DN_EINVAL;
    floats_to_le(buf, m->params, m->n_params);
    return 0;
}

int dn_mlmodel_import_raw(dn_mlmodel_t *m, const void *buf, size_t n,
                          dn_err_t *err)
{
    if (!buf)
        return dn_err_set(err, DN_EINVAL, "mlmodel import: NULL buffer");
    if (n != dn_mlmodel_raw_size(m))
        return dn_err_set(err, DN_EMISMATCH,
                          "mlmodel import: %zu bytes, the architecture needs %zu "
                          "(%zu float32 parameters)", n, dn_mlmodel_raw_size(m),
                          m->n_params);
    size_t bad = le_check(buf, m->n_params);
    if (bad < m->n_params)
        return dn_err_set(err, DN_ERANGE, "mlmodel import: parameter %zu is not finite",
                          bad);
    le_to_floats(m->params, buf, m->n_params);
    return 0;
}

int dn_mlmodel_export_blob(const dn_mlmodel_t *m, void *buf, size_t cap)
{
    if (!buf || cap < dn_mlmodel_blob_size(m))
        return DN_EINVAL;
    unsigned char *h = buf;
    const dn_mlconfig_t *c = &m->cfg;
    memcpy(h, blob_magic, 8);
    dn_put_u32(h + 8, c->n_bins);
    dn_put_u32(h + 12, c->d_model);
    dn_put_u32(h + 16, c->n_heads);
    dn_put_u32(h + 20, c->n_layers);
    dn_put_u32(h + 24, c->d_ff);
    dn_put_u32(h + 28, c->context);
    dn_put_u32(h + 32, c->activation);
    dn_put_u32(h + 36, f2u(c->dropout));
    dn_put_u64(h + 40, m->n_params);
    dn_put_u64(h + 48, (uint64_t)m->step);
    floats_to_le(h + DN_MLBLOB_HEADER, m->params, m->n_params);
    dn_put_u32(h + 56, dn_fnv1a32(h + DN_MLBLOB_HEADER, 4 * m->n_params));
    dn_put_u32(h + 60, 0);
    return 0;
}

int dn_mlblob_config(const void *buf, size_t n, dn_mlconfig_t *cfg, dn_err_t *err)
{
    const unsigned char *h = buf;
    if (!buf || n < DN_MLBLOB_HEADER)
        return dn_err_set(err, DN_EFORMAT, "mlmodel blob: %zu bytes, shorter than its "
                          "%d-byte header", n, DN_MLBLOB_HEADER);
    if (memcmp(h, blob_magic, 7))
        return dn_err_set(err, DN_EFORMAT, "mlmodel blob: bad magic (not a DNML blob)");
    if (h[7] != blob_magic[7])
        return dn_err_set(err, DN_EFORMAT, "mlmodel blob: format version %u, expected %u",
                          h[7], blob_magic[7]);
    dn_mlconfig_default(cfg);
    cfg->n_bins = (int)dn_get_u32(h + 8);
    cfg->d_model = (int)dn_get_u32(h + 12);
    cfg->n_heads = (int)dn_get_u32(h + 16);
    cfg->n_layers = (int)dn_get_u32(h + 20);
    cfg->d_ff = (int)dn_get_u32(h + 24);
    cfg->context = (int)dn_get_u32(h + 28);
    cfg->activation = (int)dn_get_u32(h + 32);
    cfg->dropout = u2f(dn_get_u32(h + 36));
    dn_err_t e2;
    if (dn_mlconfig_check(cfg, &e2))
        return dn_err_set(err, DN_EFORMAT, "mlmodel blob: header: %s", e2.msg);
    if (dn_get_u64(h + 40) != dn_mlconfig_num_params(cfg))
        return dn_err_set(err, DN_EFORMAT, "mlmodel blob: header says %llu parameters, "
                          "its architecture has %zu",
                          (unsigned long long)dn_get_u64(h + 40),
                          dn_mlconfig_num_params(cfg));
    return 0;
}

int dn_mlmodel_import_blob(dn_mlmodel_t *m, const void *buf, size_t n,
                           dn_err_t *err)
{
    dn_mlconfig_t fc;
    int rc = dn_mlblob_config(buf, n, &fc, err);
    if (rc)
        return rc;
    const dn_mlconfig_t *c = &m->cfg;
#define SAME(f)                                                                \
    if (fc.f != c->f)                                                          \
        return dn_err_set(err, DN_EMISMATCH, "mlmodel blob: " #f " %d, model has %d", \
                          fc.f, c->f);
    SAME(n_bins) SAME(d_model) SAME(n_heads) SAME(n_layers) SAME(d_ff) SAME(context)
    SAME(activation)
#undef SAME
    const unsigned char *h = buf;
    if (n != dn_mlmodel_blob_size(m))
        return dn_err_set(err, DN_EFORMAT, "mlmodel blob: %zu bytes, expected %zu", n,
                          dn_mlmodel_blob_size(m));
    if (dn_fnv1a32(h + DN_MLBLOB_HEADER, 4 * m->n_params) != dn_get_u32(h + 56))
        return dn_err_set(err, DN_EFORMAT, "mlmodel blob: parameter hash mismatch "
                          "(corrupted data)");
    size_t bad = le_check(h + DN_MLBLOB_HEADER, m->n_params);
    if (bad < m->n_params)
        return dn_err_set(err, DN_ERANGE, "mlmodel blob: parameter %zu is not finite",
                          bad);
    le_to_floats(m->params, h + DN_MLBLOB_HEADER, m->n_params);
    return 0;
}

/* ---- files ---------------------------------------------------------------- */

static int write_file(const char *path, const void *buf, size_t n, dn_err_t *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return dn_err_set(err, DN_EINVAL, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return dn_err_set(err, DN_EIO, "%s: %s", tmp, strerror(errno));
    size_t w = fwrite(buf, 1, n, f);
    int e = errno;
    if (fclose(f) != 0 || w != n) {
        remove(tmp);
        return dn_err_set(err, DN_EIO, "%s: write failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        remove(tmp);
        return dn_err_set(err, DN_EIO, "%s: rename failed: %s", path, strerror(e));
    }
    return 0;
}

/* Reads a whole file into a new buffer (*out, caller frees). */
static int read_file(const char *path, unsigned char **out, size_t *n, dn_err_t *err)
{
    int rc = 0;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dn_err_set(err, errno == ENOENT ? DN_ENOTFOUND : DN_EIO, "%s: %s",
                          path, strerror(errno));
    long len;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        rc = dn_err_set(err, DN_EIO, "%s: cannot determine size", path);
        goto fail;
    }
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: %ld bytes: out of memory", path, len);
        goto fail;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        rc = dn_err_set(err, DN_EIO, "%s: short read", path);
        goto fail;
    }
    fclose(f);
    *out = buf;
    *n = (size_t)len;
    return 0;
fail:
    free(buf);
    fclose(f);
    return rc;
}

int dn_mlmodel_save_raw(const dn_mlmodel_t *m, const char *path, dn_err_t *err)
{
    size_t n = dn_mlmodel_raw_size(m);
    unsigned char *buf = malloc(n);
    if (!buf)
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
    dn_mlmodel_export_raw(m, buf, n);
    int rc = write_file(path, buf, n, err);
    free(buf);
    return rc;
}

int dn_mlmodel_save(const dn_mlmodel_t *m, const char *path, dn_err_t *err)
{
    size_t n = dn_mlmodel_blob_size(m);
    unsigned char *buf = malloc(n);
    if (!buf)
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
    dn_mlmodel_export_blob(m, buf, n);
    int rc = write_file(path, buf, n, err);
    free(buf);
    return rc;
}

int dn_mlmodel_load_raw(dn_mlmodel_t *m, const char *path, dn_err_t *err)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc = read_file(path, &buf, &n, err);
    if (rc)
        return rc;
    rc = dn_mlmodel_import_raw(m, buf, n, err);
    free(buf);
    if (rc)
        dn_err_prefix(err, "%s", path);
    return rc;
}

int dn_mlmodel_load(dn_mlmodel_t *m, const char *path, dn_err_t *err)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc = read_file(path, &buf, &n, err);
    if (rc)
        return rc;
    rc = dn_mlmodel_import_blob(m, buf, n, err);
    free(buf);
    if (rc)
        dn_err_prefix(err, "%s", path);
    return rc;
}

int dn_mlmodel_new_from_file(const char *path, const dn_mlconfig_t *sizes,
                             dn_mlmodel_t **out, dn_err_t *err)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    dn_mlmodel_t *m = NULL;
    dn_mlconfig_t cfg;
    int rc = read_file(path, &buf, &n, err);
    if (rc)
        return rc;
    rc = dn_mlblob_config(buf, n, &cfg, err);
    if (rc)
        goto fail;
    if (sizes) {
        cfg.max_batch = sizes->max_batch;
        cfg.max_hist = sizes->max_hist;
        cfg.lr = sizes->lr;
        cfg.beta1 = sizes->beta1;
        cfg.beta2 = sizes->beta2;
        cfg.eps = sizes->eps;
        cfg.weight_decay = sizes->weight_decay;
    }
    rc = dn_mlconfig_check(&cfg, err);
    if (rc)
        goto fail;
    m = dn_mlmodel_new(&cfg, 0);
    if (!m) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory for the model");
        goto fail;
    }
    rc = dn_mlmodel_import_blob(m, buf, n, err);
    if (rc)
        goto fail;
    free(buf);
    *out = m;
    return 0;
fail:
    dn_mlmodel_destroy(&m);
    free(buf);
    dn_err_prefix(err, "%s", path);
    return rc;
}

/* ---- whole training state -------------------------------------------------- */

enum { STATE_HEADER = 96 };
static const unsigned char state_magic[8] = {'D', 'N', 'M', 'S', 0, 0, 0, 1};

size_t dn_mlmodel_state_size(const dn_mlmodel_t *m)
{
    return STATE_HEADER + 12 * m->n_params;
}

int dn_mlmodel_save_state(const dn_mlmodel_t *m, void *buf, size_t cap)
{
    if (!buf || cap < dn_mlmodel_state_size(m))
        return DN_EINVAL;
    unsigned char *h = buf;
    const dn_mlconfig_t *c = &m->cfg;
    const size_t np = m->n_params;
    memcpy(h, state_magic, 8);
    dn_put_u32(h + 8, c->n_bins);
    dn_put_u32(h + 12, c->d_model);
    dn_put_u32(h + 16, c->n_heads);
    dn_put_u32(h + 20, c->n_layers);
    dn_put_u32(h + 24, c->d_ff);
    dn_put_u32(h + 28, c->context);
    dn_put_u32(h + 32, c->activation);
    dn_put_u32(h + 36, f2u(c->dropout));
    dn_put_u64(h + 40, np);
    dn_put_u64(h + 48, (uint64_t)m->step);
    for (int k = 0; k < 4; k++)
        dn_put_u64(h + 56 + 8 * k, m->rng.s[k]);
    dn_put_u32(h + 92, 0);
    unsigned char *p = h + STATE_HEADER;
    floats_to_le(p, m->params, np);
    floats_to_le(p + 4 * np, m->adam_m, np);
    floats_to_le(p + 8 * np, m->adam_v, np);
    dn_put_u32(h + 88, dn_fnv1a32(p, 12 * np));
    return 0;
}

int dn_mlmodel_load_state(dn_mlmodel_t *m, const void *buf, size_t n,
                          dn_err_t *err)
{
    const unsigned char *h = buf;
    const dn_mlconfig_t *c = &m->cfg;
    const size_t np = m->n_params;
    if (!buf || n < STATE_HEADER)
        return dn_err_set(err, DN_EFORMAT, "mlmodel state: %zu bytes, shorter than its "
                          "%d-byte header", n, STATE_HEADER);
    if (memcmp(h, state_magic, 7))
        return dn_err_set(err, DN_EFORMAT, "mlmodel state: bad magic (not a DNMS blob)");
    if (h[7] != state_magic[7])
        return dn_err_set(err, DN_EFORMAT, "mlmodel state: format version %u, expected %u",
                          h[7], state_magic[7]);
#define SAME(off, f)                                                           \
    if (dn_get_u32(h + (off)) != (uint32_t)c->f)                                  \
        return dn_err_set(err, DN_EMISMATCH, "mlmodel state: " #f " %u, model has %d", \
                          dn_get_u32(h + (off)), c->f);
    SAME(8, n_bins) SAME(12, d_model) SAME(16, n_heads) SAME(20, n_layers)
    SAME(24, d_ff) SAME(28, context) SAME(32, activation)
#undef SAME
    if (dn_get_u32(h + 36) != f2u(c->dropout))
        return dn_err_set(err, DN_EMISMATCH, "mlmodel state: dropout %g, model has %g",
                          (double)u2f(dn_get_u32(h + 36)), (double)c->dropout);
    if (dn_get_u64(h + 40) != np || n != dn_mlmodel_state_size(m))
        return dn_err_set(err, DN_EFORMAT, "mlmodel state: %zu bytes for %llu parameters, "
                          "expected %zu for %zu", n, (unsigned long long)dn_get_u64(h + 40),
                          dn_mlmodel_state_size(m), np);
    const unsigned char *p = h + STATE_HEADER;
    if (dn_fnv1a32(p, 12 * np) != dn_get_u32(h + 88) || dn_get_u32(h + 92) != 0)
        return dn_err_set(err, DN_EFORMAT, "mlmodel state: hash mismatch (corrupted data)");
    const int64_t step = (int64_t)dn_get_u64(h + 48);
    dn_rng_t rng;
    for (int k = 0; k < 4; k++)
        rng.s[k] = dn_get_u64(h + 56 + 8 * k);
    if (step < 0 || !(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3]))
        return dn_err_set(err, DN_EFORMAT, "mlmodel state: step %lld or dropout generator "
                          "state invalid", (long long)step);
    static const char *const what[3] = {"parameter", "first moment", "second moment"};
    for (int a = 0; a < 3; a++) {
        size_t bad = le_check(p + 4 * np * a, np);
        if (bad < np)
            return dn_err_set(err, DN_ERANGE, "mlmodel state: %s %zu is not finite",
                              what[a], bad);
    }
    for (size_t i = 0; i < np; i++)
        if (u2f(dn_get_u32(p + 8 * np + 4 * i)) < 0.0f)
            return dn_err_set(err, DN_ERANGE, "mlmodel state: second moment %zu is "
                              "negative", i);
    le_to_floats(m->params, p, np);
    le_to_floats(m->adam_m, p + 4 * np, np);
    le_to_floats(m->adam_v, p + 8 * np, np);
    m->step = step;
    m->rng = rng;
    m->have_forward = m->have_target = 0;
    return 0;
}
