/* mlmodel.c: the DINAMO-ML network of mlmodel.h on the kernels of nn.h.
 *
 * Buffers: params, grads, adam_m, adam_v (num_params floats each, exchange
 * order) and acts (every forward activation plus the backward scratch and the
 * attention kernels' scratch, one per part, so no kernel needs the stack; sized for
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

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "nn.h"
#include "rng.h"
#include "smm.h"
#include "team.h"

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

/* Gradients flowing into one encoder layer's operations ([N] rows each). */
typedef struct {
    float *g2;              /* [N][d] of the layer output (into norm2) */
    float *dx2;             /* [N][d] of linear2's output */
    float *dff2;            /* [N][ff] of linear1's output */
    float *g1;              /* [N][d] of norm1's output */
    float *dx1;             /* [N][d] of out_proj's output */
    float *dqkv;            /* [N][3d] of in_proj's output */
} layer_grads_t;

/* Gradients inside one output head ([B] rows): of its output, of its
 * LayerNorm's output and of its first Linear's output. */
typedef struct {
    float *dz, *dln, *dl0;  /* [B][nb] */
} head_grads_t;

/* A step's contexts run in N_PARTS fixed parts (see "parallel structure"). */
#define N_PARTS 2

typedef struct {
    /* the attention kernels' scratch, one per part (parts may run at once) */
    float *att_scratch[N_PARTS]; /* dn_attention_scratch_floats(M, d, H) each */
    mlp_acts_t xemb, temb;
    float *h0;              /* [N][d] tokens */
    layer_acts_t *layer;
    float *pooled;          /* [B][d] */
    mlp_acts_t head[2];
    float *y[2];            /* [B][nb] mu_hat, sigma_hat */
    float *target;          /* [B][nb] */
    float *tmp;             /* [N][d] */
    /* backward: input gradients kept for the parameter-gradient tasks */
    layer_grads_t *lg;      /* [n_layers] */
    head_grads_t hg[2];
    float *dH0;             /* [N][d] gradient of the tokens */
    float *dR;              /* [N][d] row scratch */
    float *dFF;             /* [N][ff] row scratch */
    float *dmu, *dsigma;    /* [B][nb] */
    float *dact;            /* [B][nb] head scratch */
    float *dpool;           /* [B][d] */
    float *demb[2][3];      /* [max(U, T)][d]: x_emb's and t_emb's task scratch */
} acts_view_t;

/* Parameter-gradient tasks of the backward pass (see run_param_task). */
enum { TASK_QKV, TASK_OUT, TASK_L1, TASK_L2, TASK_NORMS, TASKS_PER_LAYER };

static int n_param_tasks(const dn_mlconfig_t *c) { return TASKS_PER_LAYER * c->n_layers + 4; }

struct dn_mlmodel_t {
    dn_mlconfig_t cfg;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;
    /* every Linear weight transposed ([in][out]), at its offset in params: the
     * forward's product kernels read weights this way (dn_linear_forward_wt);
     * refreshed before a forward when params changed (wt_stale) */
    float *wt;
    int wt_stale;
    float *acts;
    size_t n_acts;
    int *ibuf;              /* tok_hist[N], tok_time[N], predict index [M] */
    params_view_t P, G;
    acts_view_t A;
    int64_t step;
    dn_rng_t rng;           /* dropout */
    dn_team_t *team;        /* NULL: the caller's thread only */
    int own_team;           /* team created by set_threads (else borrowed) */
    int *task_owner;        /* [n_tasks] member running each parameter task */
    double *task_cost;      /* [n_tasks] scratch of assign_tasks */
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

/* A cursor carving consecutive arrays out of one buffer; with a NULL base it
 * only counts (no arithmetic on a null pointer: undefined behaviour, which
 * clang's UBSan reports). */
typedef struct carve_t {
    float *base;
    size_t at;
} carve_t;

static float *take(carve_t *cur, size_t n)
{
    float *p = cur->base ? cur->base + cur->at : NULL;
    cur->at += n;
    return p;
}

static void mlp_view(mlp_params_t *v, carve_t *cur, size_t in, size_t w)
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
    carve_t cur = {base, 0};
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

static void mlp_acts(mlp_acts_t *a, carve_t *cur, size_t R, size_t in, size_t w)
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
    carve_t cur = {base, 0};
    /* first, so that they start 64-byte aligned (their sizes are whole vectors) */
    for (int part = 0; part < N_PARTS; part++)
        A->att_scratch[part] = take(&cur, dn_attention_scratch_floats((int)M, (int)d, (int)H));
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
    for (int l = 0; l < c->n_layers; l++) {
        layer_grads_t *G = &A->lg[l];
        G->g2 = take(&cur, N * d);
        G->dx2 = take(&cur, N * d);
        G->dff2 = take(&cur, N * ff);
        G->g1 = take(&cur, N * d);
        G->dx1 = take(&cur, N * d);
        G->dqkv = take(&cur, N * 3 * d);
    }
    for (int k = 0; k < 2; k++) {
        A->hg[k].dz = take(&cur, B * nb);
        A->hg[k].dln = take(&cur, B * nb);
        A->hg[k].dl0 = take(&cur, B * nb);
    }
    A->dH0 = take(&cur, N * d);
    A->dR = take(&cur, N * d);
    A->dFF = take(&cur, N * ff);
    A->dact = take(&cur, B * nb);
    A->dmu = take(&cur, B * nb);
    A->dsigma = take(&cur, B * nb);
    A->dpool = take(&cur, B * d);
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 3; i++)
            A->demb[e][i] = take(&cur, UT * d);
    return cur.at;
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
    m->wt_stale = 1;
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
    m->A.lg = calloc(L, sizeof(layer_grads_t));
    m->task_owner = calloc(n_param_tasks(cfg), sizeof(int));
    m->task_cost = calloc(n_param_tasks(cfg), sizeof(double));
    /* one allocation holds params | grads | m | v | wt, each 64-byte aligned */
    size_t np = (m->n_params + 15) & ~(size_t)15;
    m->params = aligned_alloc(64, 5 * np * sizeof(float));
    if (!m->P.layer || !m->G.layer || !m->A.layer || !m->A.lg || !m->task_owner ||
        !m->task_cost || !m->params)
        goto fail;
    m->grads = m->params + np;
    m->adam_m = m->grads + np;
    m->adam_v = m->adam_m + np;
    m->wt = m->adam_v + np;
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
    free(m->A.lg);
    free(m->task_owner);
    free(m->task_cost);
    if (m->own_team)
        dn_team_destroy(&m->team);
    free(m);
    *self_p = NULL;
}

const dn_mlconfig_t *dn_mlmodel_config(const dn_mlmodel_t *m) { return &m->cfg; }
size_t dn_mlmodel_num_params(const dn_mlmodel_t *m) { return m->n_params; }
float *dn_mlmodel_params(dn_mlmodel_t *m)
{
    m->wt_stale = 1;
    return m->params;
}
void dn_mlmodel_params_changed(dn_mlmodel_t *m) { m->wt_stale = 1; }
float *dn_mlmodel_grads(dn_mlmodel_t *m) { return m->grads; }
void dn_mlmodel_set_lr(dn_mlmodel_t *m, float lr) { m->cfg.lr = lr; }
int64_t dn_mlmodel_step_count(const dn_mlmodel_t *m) { return m->step; }
const float *dn_mlmodel_mu(const dn_mlmodel_t *m) { return m->A.y[0]; }
const float *dn_mlmodel_sigma(const dn_mlmodel_t *m) { return m->A.y[1]; }

/* ---- parallel structure ------------------------------------------------------ *
 *
 * A step is split into work that does not depend on how many threads run it, so
 * that every team size gives the same bits:
 *   - the batch's contexts in two fixed parts (the first ceil(B/2), the rest):
 *     everything from the tokens to the heads in the forward pass, and every
 *     input gradient in the backward pass, is computed per context;
 *   - tasks that each own some parameters' gradients (one Linear of one layer,
 *     one head, one embedding MLP) and sum over the whole batch;
 *   - the dropout masks of a forward pass, drawn in one go before the data (the
 *     generator is sequential) while the embeddings are computed.
 * Member m of a team of size S runs parts and tasks i with i % S == m; each
 * part has its own attention scratch in the activation buffer. */

static void part_contexts(int B, int part, int *b0, int *nbc)
{
    int half = (B + 1) / 2;
    *b0 = part == 0 ? 0 : half;
    *nbc = part == 0 ? half : B - half;
}

/* The transposed copy of a Linear weight that lives in params. */
static float *wt_of(const dn_mlmodel_t *m, const float *w)
{
    return m->wt + (w - m->params);
}

/* mlp_forward on rows [r0, r0 + R) of an MLP whose activations hold all rows. */
static void mlp_forward_rows(const dn_mlmodel_t *m, mlp_acts_t *a, const mlp_params_t *p,
                             const float *in, int r0, int R, int nin, int w)
{
    const size_t o = (size_t)r0 * w;
    dn_linear_forward_wt(a->l0 + o, in + (size_t)r0 * nin, wt_of(m, p->w0), p->b0, R, nin, w);
    dn_layernorm_forward(a->ln + o, a->mean + r0, a->rstd + r0, a->l0 + o, p->lnw, p->lnb, R,
                         w);
    dn_relu_forward(a->act + o, a->ln + o, R * w);
    dn_linear_forward_wt(a->out + o, a->act + o, wt_of(m, p->w3), p->b3, R, w, w);
}

static void mlp_forward(const dn_mlmodel_t *m, mlp_acts_t *a, const mlp_params_t *p,
                        const float *in, int R, int nin, int w)
{
    mlp_forward_rows(m, a, p, in, 0, R, nin, w);
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

typedef struct {
    dn_mlmodel_t *m;
    int B, U, T, drop;
    float p;
} pass_t;

/* ---- forward -------------------------------------------------------------- */

/* Every dropout mask of a training forward, in the order the kernels would
 * draw them: per layer the attention blocks (b, h), then mask1, ffmask, mask2. */
static void draw_masks(dn_mlmodel_t *m, int B, float p)
{
    const dn_mlconfig_t *c = &m->cfg;
    const int M = c->context, H = c->n_heads, N = B * M;
    for (int l = 0; l < c->n_layers; l++) {
        layer_acts_t *L = &m->A.layer[l];
        for (int bh = 0; bh < B * H; bh++)
            dn_dropout_draw(L->amask + (size_t)bh * M * M, p, M * M, &m->rng);
        dn_dropout_draw(L->mask1, p, N * c->d_model, &m->rng);
        dn_dropout_draw(L->ffmask, p, N * c->d_ff, &m->rng);
        dn_dropout_draw(L->mask2, p, N * c->d_model, &m->rng);
    }
}

/* Region 0, when the parameters changed since the last forward: the transposed
 * weights, one matrix per task (each [out][in] becomes [in][out] at the same
 * offset in wt). */
static void refresh_wt(void *arg, int member, int size)
{
    dn_mlmodel_t *m = arg;
    const dn_mlconfig_t *c = &m->cfg;
    const int d = c->d_model, nb = c->n_bins, ff = c->d_ff;
    const mlp_params_t *mlp[4] = {&m->P.xemb, &m->P.temb, &m->P.head[0], &m->P.head[1]};
    const int mlp_in[4] = {nb, 1, d, d}, mlp_w[4] = {d, d, nb, nb};
    int task = 0;
    for (int k = 0; k < 4; k++) {
        if (task++ % size == member)
            dn_smm_transpose(wt_of(m, mlp[k]->w0), mlp[k]->w0, mlp_w[k], mlp_in[k]);
        if (task++ % size == member)
            dn_smm_transpose(wt_of(m, mlp[k]->w3), mlp[k]->w3, mlp_w[k], mlp_w[k]);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const layer_params_t *W = &m->P.layer[l];
        const float *w[4] = {W->qkv_w, W->out_w, W->l1_w, W->l2_w};
        const int out[4] = {3 * d, d, ff, d}, in[4] = {d, d, d, ff};
        for (int k = 0; k < 4; k++)
            if (task++ % size == member)
                dn_smm_transpose(wt_of(m, w[k]), w[k], out[k], in[k]);
    }
}

/* Region 1: masks, x_emb over the U histograms, t_emb over the T times. */
static void forward_prologue(void *arg, int member, int size)
{
    pass_t *j = arg;
    dn_mlmodel_t *m = j->m;
    acts_view_t *A = &m->A;
    const int d = m->cfg.d_model, nb = m->cfg.n_bins;
    for (int task = member; task < 3; task += size) {
        if (task == 0 && j->drop)
            draw_masks(m, j->B, j->p);
        else if (task == 1)
            mlp_forward(m, &A->xemb, &m->P.xemb, A->xemb.in, j->U, nb, d);
        else if (task == 2)
            mlp_forward(m, &A->temb, &m->P.temb, A->temb.in, j->T, 1, d);
    }
}

/* Region 2: tokens, encoder layers, pooling and heads of contexts
 * [b0, b0 + nbc); att_scratch is this part's attention scratch. */
static void forward_contexts(dn_mlmodel_t *m, float *att_scratch, int b0, int nbc, float p,
                             int drop)
{
    const dn_mlconfig_t *c = &m->cfg;
    acts_view_t *A = &m->A;
    const int M = c->context, d = c->d_model, nb = c->n_bins, ff = c->d_ff, H = c->n_heads;
    const int r0 = b0 * M, R = nbc * M;
    const size_t od = (size_t)r0 * d, of = (size_t)r0 * ff, oa = (size_t)b0 * H * M * M;
    const int *tok_h = m->ibuf, *tok_t = m->ibuf + (size_t)c->max_batch * M;
    for (int i = r0; i < r0 + R; i++) {
        const float *xe = A->xemb.out + (size_t)tok_h[i] * d;
        const float *te = A->temb.out + (size_t)tok_t[i] * d;
        float *h = A->h0 + (size_t)i * d;
        for (int k = 0; k < d; k++)
            h[k] = xe[k] + te[k];
    }
    const float *hin = A->h0 + od;
    float *tmp = A->tmp + od;
    const size_t nd = (size_t)R * d, nf = (size_t)R * ff;
    for (int l = 0; l < c->n_layers; l++) {
        layer_acts_t *L = &A->layer[l];
        const layer_params_t *W = &m->P.layer[l];
        dn_linear_forward_wt(L->qkv + 3 * od, hin, wt_of(m, W->qkv_w), W->qkv_b, R, d, 3 * d);
        dn_attention_forward(L->atty + od, L->prob + oa, (drop ? L->pdrop : L->prob) + oa,
                             drop ? L->amask + oa : NULL, att_scratch, L->qkv + 3 * od, p,
                             nbc, M, d, H, NULL);
        dn_linear_forward_wt(tmp, L->atty + od, wt_of(m, W->out_w), W->out_b, R, d, d);
        dn_dropout_forward(tmp, drop ? L->mask1 + od : NULL, tmp, p, nd, NULL);
        dn_residual_forward(L->res1 + od, hin, tmp, nd);
        dn_layernorm_forward(L->ln1 + od, L->ln1_mean + r0, L->ln1_rstd + r0, L->res1 + od,
                             W->n1_w, W->n1_b, R, d);
        dn_linear_forward_wt(L->ff1 + of, L->ln1 + od, wt_of(m, W->l1_w), W->l1_b, R, d, ff);
        if (c->activation == DN_ML_ACT_GELU)
            dn_gelu_forward(L->ffact + of, L->ff1 + of, nf);
        else
            dn_relu_forward(L->ffact + of, L->ff1 + of, nf);
        dn_dropout_forward(L->ffdrop + of, drop ? L->ffmask + of : NULL, L->ffact + of, p, nf,
                           NULL);
        dn_linear_forward_wt(tmp, L->ffdrop + of, wt_of(m, W->l2_w), W->l2_b, R, ff, d);
        dn_dropout_forward(tmp, drop ? L->mask2 + od : NULL, tmp, p, nd, NULL);
        dn_residual_forward(L->res2 + od, L->ln1 + od, tmp, nd);
        dn_layernorm_forward(L->hout + od, L->ln2_mean + r0, L->ln2_rstd + r0, L->res2 + od,
                             W->n2_w, W->n2_b, R, d);
        hin = L->hout + od;
    }
    dn_meanpool_forward(A->pooled + (size_t)b0 * d, hin, nbc, M, d);
    for (int k = 0; k < 2; k++)
        mlp_forward_rows(m, &A->head[k], &m->P.head[k], A->pooled, b0, nbc, d, nb);
    const size_t ob = (size_t)b0 * nb;
    dn_softmax_forward(A->y[0] + ob, A->head[0].out + ob, nbc, nb);
    dn_softplus_forward(A->y[1] + ob, A->head[1].out + ob, nbc * nb);
}

static void forward_parts(void *arg, int member, int size)
{
    pass_t *j = arg;
    for (int part = member; part < N_PARTS; part += size) {
        int b0, nbc;
        part_contexts(j->B, part, &b0, &nbc);
        if (nbc > 0)
            forward_contexts(j->m, j->m->A.att_scratch[part], b0, nbc, j->p, j->drop);
    }
}

int dn_mlmodel_forward(dn_mlmodel_t *m, const dn_mlbatch_t *b, int train,
                       float *loss)
{
    const dn_mlconfig_t *c = &m->cfg;
    acts_view_t *A = &m->A;
    if (!b || !b->hist || !b->tok_index || !b->tok_time)
        return DN_EINVAL;
    const int B = b->batch, U = b->n_hist, M = c->context, nb = c->n_bins, N = B * M;
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
    m->have_forward = m->have_target = 0;

    pass_t j = {.m = m, .B = B, .U = U, .T = T, .drop = p > 0.0f, .p = p};
    if (m->wt_stale) {
        dn_team_run(m->team, refresh_wt, m);
        m->wt_stale = 0;
    }
    dn_team_run(m->team, forward_prologue, &j);
    dn_team_run(m->team, forward_parts, &j);

    m->last_B = B;
    m->last_U = U;
    m->last_T = T;
    m->last_drop = j.drop;
    m->have_forward = 1;
    m->have_target = b->target != NULL;
    if (loss)
        *loss = (float)dn_gaussnll_forward(A->y[0], A->y[1], A->target, B * nb);
    return 0;
}

/* ---- backward ------------------------------------------------------------- */

/* Input gradients of contexts [b0, b0 + nbc): the loss, the heads (keeping
 * their inner gradients), the pooling and every encoder layer down to the
 * tokens (dH0), keeping what the parameter tasks need in A->lg; att_scratch is
 * this part's attention scratch. */
static void backward_contexts(dn_mlmodel_t *m, float *att_scratch, int B, int b0, int nbc,
                              int drop)
{
    const dn_mlconfig_t *c = &m->cfg;
    acts_view_t *A = &m->A;
    const int M = c->context, d = c->d_model, nb = c->n_bins, ff = c->d_ff, H = c->n_heads;
    const int r0 = b0 * M, R = nbc * M;
    const size_t od = (size_t)r0 * d, of = (size_t)r0 * ff, oa = (size_t)b0 * H * M * M,
                 ob = (size_t)b0 * nb, nd = (size_t)R * d, nf = (size_t)R * ff,
                 nbn = (size_t)nbc * nb;

    /* loss -> heads -> pooled */
    dn_gaussnll_backward_part(A->dmu + ob, A->dsigma + ob, A->y[0] + ob, A->y[1] + ob,
                              A->target + ob, 1.0f, nbc * nb, B * nb);
    float *dpool = A->dpool + (size_t)b0 * d;
    memset(dpool, 0, (size_t)nbc * d * sizeof(float));
    for (int k = 0; k < 2; k++) {
        head_grads_t *hg = &A->hg[k];
        const mlp_acts_t *ha = &A->head[k];
        const mlp_params_t *hp = &m->P.head[k];
        float *dz = hg->dz + ob, *dln = hg->dln + ob, *dl0 = hg->dl0 + ob, *dact = A->dact + ob;
        memset(dz, 0, nbn * sizeof(float));
        if (k == 0)
            dn_softmax_backward(dz, A->dmu + ob, A->y[0] + ob, nbc, nb);
        else
            dn_softplus_backward(dz, A->dsigma + ob, ha->out + ob, nbc * nb);
        memset(dact, 0, nbn * sizeof(float));
        dn_linear_backward_data(dact, dz, hp->w3, nbc, nb, nb);
        memset(dln, 0, nbn * sizeof(float));
        dn_relu_backward(dln, dact, ha->ln + ob, nbc * nb);
        memset(dl0, 0, nbn * sizeof(float));
        dn_layernorm_backward_data(dl0, dln, ha->l0 + ob, hp->lnw, ha->mean + b0,
                                   ha->rstd + b0, nbc, nb);
        dn_linear_backward_data(dpool, dl0, hp->w0, nbc, d, nb);
    }
    float *dH = A->lg[c->n_layers - 1].g2 + od;
    memset(dH, 0, nd * sizeof(float));
    dn_meanpool_backward(dH, dpool, nbc, M, d);

    float *dR = A->dR + od, *dFF = A->dFF + of;
    for (int l = c->n_layers - 1; l >= 0; l--) {
        layer_acts_t *L = &A->layer[l];
        const layer_params_t *W = &m->P.layer[l];
        layer_grads_t *G = &A->lg[l];
        float *g2 = G->g2 + od, *dx2 = G->dx2 + od, *dff2 = G->dff2 + of, *g1 = G->g1 + od,
              *dx1 = G->dx1 + od, *dqkv = G->dqkv + 3 * od;
        float *gdown = (l > 0 ? A->lg[l - 1].g2 : A->dH0) + od;
        memset(dR, 0, nd * sizeof(float));
        dn_layernorm_backward_data(dR, g2, L->res2 + od, W->n2_w, L->ln2_mean + r0,
                                   L->ln2_rstd + r0, R, d);
        memcpy(g1, dR, nd * sizeof(float)); /* residual path into norm1's output */
        memset(dx2, 0, nd * sizeof(float));
        if (drop)
            dn_dropout_backward(dx2, dR, L->mask2 + od, nd);
        else
            memcpy(dx2, dR, nd * sizeof(float));
        memset(dFF, 0, nf * sizeof(float));
        dn_linear_backward_data(dFF, dx2, W->l2_w, R, ff, d);
        if (drop) {
            const float *mk = L->ffmask + of;
            for (size_t i = 0; i < nf; i++)
                dFF[i] *= mk[i];
        }
        memset(dff2, 0, nf * sizeof(float));
        if (c->activation == DN_ML_ACT_GELU)
            dn_gelu_backward(dff2, dFF, L->ff1 + of, nf);
        else
            dn_relu_backward(dff2, dFF, L->ff1 + of, nf);
        dn_linear_backward_data(g1, dff2, W->l1_w, R, d, ff);
        memset(dR, 0, nd * sizeof(float));
        dn_layernorm_backward_data(dR, g1, L->res1 + od, W->n1_w, L->ln1_mean + r0,
                                   L->ln1_rstd + r0, R, d);
        memcpy(gdown, dR, nd * sizeof(float)); /* residual path into the layer input */
        memset(dx1, 0, nd * sizeof(float));
        if (drop)
            dn_dropout_backward(dx1, dR, L->mask1 + od, nd);
        else
            memcpy(dx1, dR, nd * sizeof(float));
        memset(dR, 0, nd * sizeof(float));
        dn_linear_backward_data(dR, dx1, W->out_w, R, d, d);
        memset(dqkv, 0, 3 * nd * sizeof(float));
        dn_attention_backward(dqkv, att_scratch, dR, L->qkv + 3 * od, L->prob + oa,
                              (drop ? L->pdrop : L->prob) + oa, drop ? L->amask + oa : NULL,
                              nbc, M, d, H);
        dn_linear_backward_data(gdown, dqkv, W->qkv_w, R, d, 3 * d);
    }
}

static void backward_parts(void *arg, int member, int size)
{
    pass_t *j = arg;
    dn_mlmodel_t *m = j->m;
    for (int part = member; part < N_PARTS; part += size) {
        /* the parameter tasks add into zeroed gradients */
        size_t half = m->n_params / 2, g0 = part ? half : 0,
               gn = part ? m->n_params - half : half;
        memset(m->grads + g0, 0, gn * sizeof(float));
        int b0, nbc;
        part_contexts(j->B, part, &b0, &nbc);
        if (nbc > 0)
            backward_contexts(m, m->A.att_scratch[part], j->B, b0, nbc, j->drop);
    }
}

/* Parameter-gradient tasks: per layer in_proj, out_proj, linear1, linear2,
 * both norms; the two heads; the two embedding MLPs (token gradients gathered
 * onto their rows first): task kind * n_layers + layer, then x_emb, t_emb,
 * head mu, head sigma. */

static void run_param_task(dn_mlmodel_t *m, int task, int B, int U, int T)
{
    const dn_mlconfig_t *c = &m->cfg;
    acts_view_t *A = &m->A;
    const int M = c->context, d = c->d_model, nb = c->n_bins, ff = c->d_ff, N = B * M,
              nl = c->n_layers;
    const int *tok_h = m->ibuf, *tok_t = m->ibuf + (size_t)c->max_batch * M;
    int kind = task / nl, l = task % nl;
    if (task < TASKS_PER_LAYER * nl) {
        layer_acts_t *L = &A->layer[l];
        layer_params_t *G = &m->G.layer[l];
        layer_grads_t *g = &A->lg[l];
        switch (kind) {
        case TASK_QKV:
            dn_linear_backward_params(G->qkv_w, G->qkv_b, g->dqkv,
                                      l > 0 ? A->layer[l - 1].hout : A->h0, N, d, 3 * d);
            break;
        case TASK_OUT:
            dn_linear_backward_params(G->out_w, G->out_b, g->dx1, L->atty, N, d, d);
            break;
        case TASK_L1:
            dn_linear_backward_params(G->l1_w, G->l1_b, g->dff2, L->ln1, N, d, ff);
            break;
        case TASK_L2:
            dn_linear_backward_params(G->l2_w, G->l2_b, g->dx2, L->ffdrop, N, ff, d);
            break;
        default:
            dn_layernorm_backward_params(G->n2_w, G->n2_b, g->g2, L->res2, L->ln2_mean,
                                         L->ln2_rstd, N, d);
            dn_layernorm_backward_params(G->n1_w, G->n1_b, g->g1, L->res1, L->ln1_mean,
                                         L->ln1_rstd, N, d);
            break;
        }
        return;
    }
    task -= TASKS_PER_LAYER * nl;
    if (task < 2) { /* an embedding MLP */
        const int e = task, rows = e == 0 ? U : T;
        float *const *s = A->demb[e];
        memset(s[0], 0, (size_t)rows * d * sizeof(float));
        dn_gather_backward(s[0], A->dH0, e == 0 ? tok_h : tok_t, N, d);
        if (e == 0)
            mlp_backward(NULL, &m->G.xemb, &m->P.xemb, &A->xemb, A->xemb.in, s[0], s[1], s[2],
                         U, nb, d);
        else
            mlp_backward(NULL, &m->G.temb, &m->P.temb, &A->temb, A->temb.in, s[0], s[1], s[2],
                         T, 1, d);
        return;
    }
    const int k = task - 2; /* a head */
    mlp_params_t *hp = &m->G.head[k];
    const mlp_acts_t *ha = &A->head[k];
    const head_grads_t *hg = &A->hg[k];
    dn_linear_backward_params(hp->w3, hp->b3, hg->dz, ha->act, B, nb, nb);
    dn_layernorm_backward_params(hp->lnw, hp->lnb, hg->dln, ha->l0, ha->mean, ha->rstd, B, nb);
    dn_linear_backward_params(hp->w0, hp->b0, hg->dl0, A->pooled, B, d, nb);
}

/* Which member runs each task: largest first onto the least loaded member
 * (ties to the lowest index), from multiply-add counts. Any assignment gives
 * the same bits; this one balances the members. */
static void assign_tasks(dn_mlmodel_t *m, int B, int U, int T)
{
    const dn_mlconfig_t *c = &m->cfg;
    const int nl = c->n_layers, n = n_param_tasks(c), size = dn_team_size(m->team);
    const double N = (double)B * c->context, d = c->d_model, ff = c->d_ff, nb = c->n_bins;
    double *cost = m->task_cost, load[64] = {0};
    for (int l = 0; l < nl; l++) {
        cost[TASK_QKV * nl + l] = N * d * 3 * d;
        cost[TASK_OUT * nl + l] = N * d * d;
        cost[TASK_L1 * nl + l] = N * d * ff;
        cost[TASK_L2 * nl + l] = N * ff * d;
        cost[TASK_NORMS * nl + l] = N * d * 8;
    }
    cost[TASKS_PER_LAYER * nl] = U * (nb * d + d * d) * 2 + N * d;
    cost[TASKS_PER_LAYER * nl + 1] = T * d * d * 2 + N * d;
    cost[TASKS_PER_LAYER * nl + 2] = cost[TASKS_PER_LAYER * nl + 3] = B * (nb * nb + d * nb);
    for (int i = 0; i < n; i++)
        m->task_owner[i] = -1;
    for (int k = 0; k < n; k++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (m->task_owner[i] < 0 && (best < 0 || cost[i] > cost[best]))
                best = i;
        int who = 0;
        for (int w = 1; w < size; w++)
            if (load[w] < load[who])
                who = w;
        m->task_owner[best] = who;
        load[who] += cost[best];
    }
}

static void backward_params(void *arg, int member, int size)
{
    (void)size;
    pass_t *j = arg;
    const int n = n_param_tasks(&j->m->cfg);
    for (int task = 0; task < n; task++)
        if (j->m->task_owner[task] == member)
            run_param_task(j->m, task, j->B, j->U, j->T);
}

int dn_mlmodel_backward(dn_mlmodel_t *m)
{
    if (!m->have_forward || !m->have_target)
        return DN_ESTATE;
    pass_t j = {.m = m, .B = m->last_B, .U = m->last_U, .T = m->last_T, .drop = m->last_drop};
    dn_team_run(m->team, backward_parts, &j);
    assign_tasks(m, j.B, j.U, j.T);
    dn_team_run(m->team, backward_params, &j);
    return 0;
}

/* ---- AdamW ---------------------------------------------------------------- */

static void adamw_parts(void *arg, int member, int size)
{
    dn_mlmodel_t *m = arg;
    const dn_mlconfig_t *c = &m->cfg;
    const size_t half = m->n_params / 2;
    for (int part = member; part < N_PARTS; part += size) {
        size_t o = part ? half : 0, n = part ? m->n_params - half : half;
        dn_adamw_update(m->params + o, m->adam_m + o, m->adam_v + o, m->grads + o, n, c->lr,
                        c->beta1, c->beta2, c->eps, c->weight_decay, (long)m->step);
    }
}

void dn_mlmodel_adamw_step(dn_mlmodel_t *m)
{
    m->step++;
    m->wt_stale = 1;
    dn_team_run(m->team, adamw_parts, m);
}

int dn_mlmodel_set_threads(dn_mlmodel_t *m, int threads)
{
    if (threads < 1 || threads > DN_ML_MAX_THREADS)
        return DN_EINVAL;
    if (m->own_team && dn_team_size(m->team) == threads)
        return 0;
    dn_team_t *team = NULL;
    if (threads > 1 && !(team = dn_team_new(threads)))
        return DN_ENOMEM;
    if (m->own_team)
        dn_team_destroy(&m->team);
    m->team = team;
    m->own_team = team != NULL;
    return 0;
}

void dn_mlmodel_share_team(dn_mlmodel_t *m, dn_team_t *team)
{
    if (m->own_team)
        dn_team_destroy(&m->team);
    m->team = team;
    m->own_team = 0;
}

int dn_mlmodel_threads(const dn_mlmodel_t *m) { return dn_team_size(m->team); }

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
    m->wt_stale = 1;
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
    m->wt_stale = 1;
    return 0;
}

/* DNML blob when the bytes start with its magic, else the raw exchange
 * format: the rule every loader of initial weights follows. */
int dn_mlmodel_import_any(dn_mlmodel_t *m, const void *buf, size_t n, dn_err_t *err)
{
    if (buf && n >= 4 && !memcmp(buf, blob_magic, 4))
        return dn_mlmodel_import_blob(m, buf, n, err);
    return dn_mlmodel_import_raw(m, buf, n, err);
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
    m->wt_stale = 1;
    le_to_floats(m->adam_m, p + 4 * np, np);
    le_to_floats(m->adam_v, p + 8 * np, np);
    m->step = step;
    m->rng = rng;
    m->have_forward = m->have_target = 0;
    return 0;
}
