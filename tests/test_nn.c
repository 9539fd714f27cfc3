/* test_nn.c: every layer kernel of nn.h against central finite differences.
 *
 * Each test builds a scalar L = sum(out * R) (R random, accumulated in double),
 * runs the backward kernel with dout = R, and compares every input and weight
 * gradient with a 4-point central difference of L (O(h^4) truncation). Kernels
 * run in float32, so the comparison is relative with a floor of 1e-2 * the
 * largest gradient of that array; the worst element is printed. Inputs to kinked
 * functions (ReLU) stay away from the kink so the stencil never crosses it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "nn.h"
#include "rng.h"
#include "smallstack.h"

typedef double (*loss_fn)(void *ctx);

static double fd_worst(loss_fn f, void *ctx, float *x, const float *grad, int n,
                       float h, int *at)
{
    double gmax = 0, worst = 0;
    for (int i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(grad[i]));
    *at = -1;
    for (int i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + 2 * h;
        double f2 = f(ctx);
        x[i] = x0 + h;
        double f1 = f(ctx);
        x[i] = x0 - h;
        double fm1 = f(ctx);
        x[i] = x0 - 2 * h;
        double fm2 = f(ctx);
        x[i] = x0;
        double fd = (8.0 * (f1 - fm1) - (f2 - fm2)) / (12.0 * h);
        double e = fabs(fd - grad[i]) / (fabs(grad[i]) + 1e-2 * gmax + 1e-12);
        if (e > worst) {
            worst = e;
            *at = i;
        }
    }
    return worst;
}

#define CHECK_FD(f, ctx, x, g, n, h, tol, what)                                \
    do {                                                                       \
        int at_;                                                               \
        double w_ = fd_worst(f, ctx, x, g, n, h, &at_);                        \
        cr_log_info("%s: worst rel diff %.3g at %d", what, w_, at_);           \
        cr_assert(w_ < (tol), "%s: finite differences differ by %.3g (> %g) at %d", \
                  what, w_, (double)(tol), at_);                               \
    } while (0)

static float *randv(dn_rng_t *rng, int n, double lo, double hi)
{
    float *v = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++)
        v[i] = (float)dn_rng_uniform_range(rng, lo, hi);
    return v;
}

/* keeps |v| >= 0.1 so ReLU-like kinks stay outside the stencil */
static void away_from_zero(float *v, int n)
{
    for (int i = 0; i < n; i++)
        if (fabsf(v[i]) < 0.1f)
            v[i] = v[i] < 0 ? v[i] - 0.1f : v[i] + 0.1f;
}

static double dot_r(const float *out, const float *R, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)out[i] * R[i];
    return s;
}

static float *zeros(int n) { return calloc(n, sizeof(float)); }

/* ---- linear --------------------------------------------------------------- */

typedef struct {
    float *x, *w, *b, *out, *R;
    int N, C, OC;
} lin_t;

static double lin_loss(void *p)
{
    lin_t *c = p;
    dn_linear_forward(c->out, c->x, c->w, c->b, c->N, c->C, c->OC);
    return dot_r(c->out, c->R, c->N * c->OC);
}

static void linear_case(int N, int C, int OC)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 100 + C);
    lin_t c = {randv(&rng, N * C, -1, 1), randv(&rng, OC * C, -1, 1),
               randv(&rng, OC, -1, 1), zeros(N * OC), randv(&rng, N * OC, -1, 1),
               N, C, OC};
    float *dx = zeros(N * C), *dw = zeros(OC * C), *db = zeros(OC);
    lin_loss(&c);
    dn_linear_backward(dx, dw, db, c.R, c.x, c.w, N, C, OC);
    CHECK_FD(lin_loss, &c, c.x, dx, N * C, 1e-2f, 1e-3, "linear dinp");
    CHECK_FD(lin_loss, &c, c.w, dw, OC * C, 1e-2f, 1e-3, "linear dweight");
    CHECK_FD(lin_loss, &c, c.b, db, OC, 1e-2f, 1e-3, "linear dbias");
    /* backward adds: a second call doubles the gradients */
    float *dw2 = malloc(sizeof(float) * OC * C);
    memcpy(dw2, dw, sizeof(float) * OC * C);
    dn_linear_backward(NULL, dw2, NULL, c.R, c.x, c.w, N, C, OC);
    for (int i = 0; i < OC * C; i++)
        cr_assert(fabsf(dw2[i] - 2 * dw[i]) <= 1e-5f * (1 + fabsf(dw[i])),
                  "backward must accumulate: %g vs 2*%g", dw2[i], dw[i]);
    free(c.x), free(c.w), free(c.b), free(c.out), free(c.R);
    free(dx), free(dw), free(db), free(dw2);
}

Test(nn, linear) { linear_case(7, 5, 4); }
Test(nn, linear_one_input) { linear_case(6, 1, 9); }

/* ---- layernorm ------------------------------------------------------------ */

typedef struct {
    float *x, *w, *b, *out, *mean, *rstd, *R;
    int N, C;
} ln_t;

static double ln_loss(void *p)
{
    ln_t *c = p;
    dn_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C);
    return dot_r(c->out, c->R, c->N * c->C);
}

Test(nn, layernorm)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 2);
    int N = 5, C = 9;
    ln_t c = {randv(&rng, N * C, -2, 2), randv(&rng, C, 0.5, 1.5), randv(&rng, C, -1, 1),
              zeros(N * C), zeros(N), zeros(N), randv(&rng, N * C, -1, 1), N, C};
    float *dx = zeros(N * C), *dw = zeros(C), *db = zeros(C);
    ln_loss(&c);
    /* forward against a double computation */
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int i = 0; i < C; i++)
            m += c.x[n * C + i];
        m /= C;
        for (int i = 0; i < C; i++)
            v += (c.x[n * C + i] - m) * (c.x[n * C + i] - m);
        v /= C;
        for (int i = 0; i < C; i++) {
            double y = (c.x[n * C + i] - m) / sqrt(v + 1e-5) * c.w[i] + c.b[i];
            cr_assert(fabs(y - c.out[n * C + i]) < 1e-5, "layernorm %g vs %g", y,
                      c.out[n * C + i]);
        }
    }
    dn_layernorm_backward(dx, dw, db, c.R, c.x, c.w, c.mean, c.rstd, N, C);
    CHECK_FD(ln_loss, &c, c.x, dx, N * C, 1e-2f, 2e-3, "layernorm dinp");
    CHECK_FD(ln_loss, &c, c.w, dw, C, 1e-2f, 2e-3, "layernorm dweight");
    CHECK_FD(ln_loss, &c, c.b, db, C, 1e-2f, 2e-3, "layernorm dbias");
    free(c.x), free(c.w), free(c.b), free(c.out), free(c.mean), free(c.rstd), free(c.R);
    free(dx), free(dw), free(db);
}

/* ---- elementwise ------------------------------------------------------------ */

typedef struct {
    float *x, *out, *R;
    int n, kind;
} ew_t;

static double ew_loss(void *p)
{
    ew_t *c = p;
    if (c->kind == 0)
        dn_relu_forward(c->out, c->x, c->n);
    else if (c->kind == 1)
        dn_gelu_forward(c->out, c->x, c->n);
    else
        dn_softplus_forward(c->out, c->x, c->n);
    return dot_r(c->out, c->R, c->n);
}

static void elementwise_case(int kind, const char *what)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 3 + kind);
    int n = 40;
    ew_t c = {randv(&rng, n, -4, 4), zeros(n), randv(&rng, n, -1, 1), n, kind};
    away_from_zero(c.x, n);
    if (kind == 2) { /* both sides of softplus's threshold 20 */
        c.x[0] = 25.0f;
        c.x[1] = 19.5f;
        c.x[2] = -30.0f;
    }
    float *dx = zeros(n);
    ew_loss(&c);
    if (kind == 0)
        dn_relu_backward(dx, c.R, c.x, n);
    else if (kind == 1)
        dn_gelu_backward(dx, c.R, c.x, n);
    else
        dn_softplus_backward(dx, c.R, c.x, n);
    CHECK_FD(ew_loss, &c, c.x, dx, n, 1e-2f, 2e-3, what);
    if (kind == 1) /* exact erf GELU values */
        cr_assert(fabsf(c.out[0] - 0.5f * c.x[0] * (1 + erff(c.x[0] / sqrtf(2)))) < 1e-6f);
    if (kind == 2) {
        cr_assert_eq(c.out[0], 25.0f, "softplus above threshold is the identity");
        cr_assert(fabsf(c.out[1] - log1pf(expf(19.5f))) < 1e-5f);
    }
    free(c.x), free(c.out), free(c.R), free(dx);
}

Test(nn, relu) { elementwise_case(0, "relu"); }
Test(nn, gelu) { elementwise_case(1, "gelu"); }
Test(nn, softplus) { elementwise_case(2, "softplus"); }

/* ---- softmax --------------------------------------------------------------- */

typedef struct {
    float *x, *out, *R;
    int N, C;
} sm_t;

static double sm_loss(void *p)
{
    sm_t *c = p;
    dn_softmax_forward(c->out, c->x, c->N, c->C);
    return dot_r(c->out, c->R, c->N * c->C);
}

Test(nn, softmax)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 4);
    int N = 4, C = 7;
    sm_t c = {randv(&rng, N * C, -3, 3), zeros(N * C), randv(&rng, N * C, -1, 1), N, C};
    float *dx = zeros(N * C);
    sm_loss(&c);
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int i = 0; i < C; i++)
            s += c.out[n * C + i];
        cr_assert(fabs(s - 1) < 1e-6, "row %d sums to %.9g", n, s);
    }
    dn_softmax_backward(dx, c.R, c.out, N, C);
    CHECK_FD(sm_loss, &c, c.x, dx, N * C, 1e-2f, 2e-3, "softmax");
    free(c.x), free(c.out), free(c.R), free(dx);
}

/* ---- residual, mean pooling, gather ------------------------------------------ */

typedef struct {
    float *a, *b, *out, *R, *tab;
    int *idx;
    int n, B, M, C, kind;
} misc_t;

static double misc_loss(void *p)
{
    misc_t *c = p;
    if (c->kind == 0) {
        dn_residual_forward(c->out, c->a, c->b, c->n);
        return dot_r(c->out, c->R, c->n);
    }
    if (c->kind == 1) {
        dn_meanpool_forward(c->out, c->a, c->B, c->M, c->C);
        return dot_r(c->out, c->R, c->B * c->C);
    }
    dn_gather_forward(c->out, c->tab, c->idx, c->n, c->C);
    return dot_r(c->out, c->R, c->n * c->C);
}

Test(nn, residual)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 5);
    int n = 20;
    misc_t c = {.a = randv(&rng, n, -1, 1), .b = randv(&rng, n, -1, 1), .out = zeros(n),
                .R = randv(&rng, n, -1, 1), .n = n, .kind = 0};
    float *da = zeros(n), *db = zeros(n);
    dn_residual_backward(da, db, c.R, n);
    CHECK_FD(misc_loss, &c, c.a, da, n, 1e-2f, 1e-3, "residual da");
    CHECK_FD(misc_loss, &c, c.b, db, n, 1e-2f, 1e-3, "residual db");
    free(c.a), free(c.b), free(c.out), free(c.R), free(da), free(db);
}

Test(nn, meanpool)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 6);
    int B = 3, M = 4, C = 5;
    misc_t c = {.a = randv(&rng, B * M * C, -1, 1), .out = zeros(B * C),
                .R = randv(&rng, B * C, -1, 1), .B = B, .M = M, .C = C, .kind = 1};
    float *da = zeros(B * M * C);
    dn_meanpool_backward(da, c.R, B, M, C);
    CHECK_FD(misc_loss, &c, c.a, da, B * M * C, 1e-2f, 1e-3, "meanpool");
    free(c.a), free(c.out), free(c.R), free(da);
}

Test(nn, gather_scatter)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 7);
    int U = 4, n = 9, C = 3;
    int idx[9] = {3, 0, 0, 2, 3, 3, 1, 0, 2};
    misc_t c = {.tab = randv(&rng, U * C, -1, 1), .out = zeros(n * C),
                .R = randv(&rng, n * C, -1, 1), .idx = idx, .n = n, .C = C, .kind = 2};
    float *dt = zeros(U * C);
    dn_gather_backward(dt, c.R, idx, n, C);
    CHECK_FD(misc_loss, &c, c.tab, dt, U * C, 1e-2f, 1e-3, "gather");
    free(c.tab), free(c.out), free(c.R), free(dt);
}

/* ---- multi-head attention incl. in/out projections ---------------------------- */

typedef struct {
    float *x, *win, *bin, *wout, *bout, *qkv, *att, *prob, *out, *R, *scratch;
    int B, M, C, H;
} mha_t;

static double mha_loss(void *p)
{
    mha_t *c = p;
    int N = c->B * c->M;
    dn_linear_forward(c->qkv, c->x, c->win, c->bin, N, c->C, 3 * c->C);
    dn_attention_forward(c->att, c->prob, c->prob, NULL, c->scratch, c->qkv, 0.0f, c->B, c->M,
                         c->C, c->H, NULL);
    dn_linear_forward(c->out, c->att, c->wout, c->bout, N, c->C, c->C);
    return dot_r(c->out, c->R, N * c->C);
}

Test(nn, multihead_attention)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 8);
    int B = 2, M = 5, C = 6, H = 3, N = B * M;
    mha_t c = {randv(&rng, N * C, -1, 1),      randv(&rng, 3 * C * C, -0.8, 0.8),
               randv(&rng, 3 * C, -0.3, 0.3),  randv(&rng, C * C, -0.8, 0.8),
               randv(&rng, C, -0.3, 0.3),      zeros(N * 3 * C), zeros(N * C),
               zeros(B * H * M * M),           zeros(N * C),
               randv(&rng, N * C, -1, 1),      zeros(dn_attention_scratch_floats(M, C, H)),
               B, M, C, H};
    float *dx = zeros(N * C), *dwin = zeros(3 * C * C), *dbin = zeros(3 * C),
          *dwout = zeros(C * C), *dbout = zeros(C), *datt = zeros(N * C),
          *dqkv = zeros(N * 3 * C);
    mha_loss(&c);
    dn_linear_backward(datt, dwout, dbout, c.R, c.att, c.wout, N, C, C);
    dn_attention_backward(dqkv, c.scratch, datt, c.qkv, c.prob, c.prob, NULL, B, M, C, H);
    dn_linear_backward(dx, dwin, dbin, dqkv, c.x, c.win, N, C, 3 * C);
    CHECK_FD(mha_loss, &c, c.x, dx, N * C, 1e-2f, 2e-3, "mha dinp");
    CHECK_FD(mha_loss, &c, c.win, dwin, 3 * C * C, 1e-2f, 2e-3, "mha in_proj_weight");
    /* q and v biases only: the key bias has an exactly zero gradient */
    CHECK_FD(mha_loss, &c, c.bin, dbin, C, 1e-2f, 2e-3, "mha in_proj_bias q");
    CHECK_FD(mha_loss, &c, c.bin + 2 * C, dbin + 2 * C, C, 1e-2f, 2e-3,
             "mha in_proj_bias v");
    for (int i = C; i < 2 * C; i++)
        cr_assert(fabsf(dbin[i]) < 1e-5f, "key bias gradient %g should vanish", dbin[i]);
    CHECK_FD(mha_loss, &c, c.wout, dwout, C * C, 1e-2f, 2e-3, "mha out_proj_weight");
    CHECK_FD(mha_loss, &c, c.bout, dbout, C, 1e-2f, 2e-3, "mha out_proj_bias");
    free(c.x), free(c.win), free(c.bin), free(c.wout), free(c.bout), free(c.qkv);
    free(c.att), free(c.prob), free(c.out), free(c.R), free(c.scratch);
    free(dx), free(dwin), free(dbin), free(dwout), free(dbout), free(datt), free(dqkv);
}

/* Attention with dropout on the probabilities: the backward must use the mask. */
typedef struct {
    float *qkv, *att, *prob, *pdrop, *mask, *R, *scratch;
    dn_rng_t seed_state;
    int B, M, C, H;
} attd_t;

static double attd_loss(void *p)
{
    attd_t *c = p;
    dn_rng_t rng = c->seed_state; /* same mask every evaluation */
    dn_attention_forward(c->att, c->prob, c->pdrop, c->mask, c->scratch, c->qkv, 0.3f, c->B,
                         c->M, c->C, c->H, &rng);
    return dot_r(c->att, c->R, c->B * c->M * c->C);
}

Test(nn, attention_with_dropout)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 9);
    int B = 2, M = 4, C = 4, H = 2, N = B * M;
    attd_t c = {randv(&rng, N * 3 * C, -1, 1), zeros(N * C), zeros(B * H * M * M),
                zeros(B * H * M * M), zeros(B * H * M * M), randv(&rng, N * C, -1, 1),
                zeros(dn_attention_scratch_floats(M, C, H)), rng, B, M, C, H};
    float *dqkv = zeros(N * 3 * C);
    attd_loss(&c);
    int zeros_n = 0;
    for (int i = 0; i < B * H * M * M; i++)
        zeros_n += c.mask[i] == 0.0f;
    cr_assert(zeros_n > 0 && zeros_n < B * H * M * M, "dropout mask has %d zeros", zeros_n);
    dn_attention_backward(dqkv, c.scratch, c.R, c.qkv, c.prob, c.pdrop, c.mask, B, M, C, H);
    CHECK_FD(attd_loss, &c, c.qkv, dqkv, N * 3 * C, 1e-2f, 2e-3, "attention+dropout dqkv");
    free(c.qkv), free(c.att), free(c.prob), free(c.pdrop), free(c.mask), free(c.R);
    free(c.scratch), free(dqkv);
}

/* The attention kernel blocks its work by vectors of 16 floats and rows of 4;
 * these shapes cover one and several vectors for both M and C/H, and row counts
 * that are not a multiple of 4. Reference: the textbook formulas in double. */
static void attention_ref(double *out, double *dqkv, const float *qkv,
                          const float *dout, int B, int M, int C, int H)
{
    const int hs = C / H, C3 = 3 * C;
    const double scale = 1.0 / sqrt((double)hs);
    double *P = malloc(sizeof(double) * M * M), *dP = malloc(sizeof(double) * M * M);
    for (int i = 0; i < B * M * C3; i++)
        dqkv[i] = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)b * M * C3 + h * hs;
            double *dbase = dqkv + (size_t)b * M * C3 + h * hs;
#define Q(i, t) ((double)base[(size_t)(i) * C3 + (t)])
#define K(j, t) ((double)base[(size_t)(j) * C3 + C + (t)])
#define V(j, t) ((double)base[(size_t)(j) * C3 + 2 * C + (t)])
#define G(i, t) ((double)dout[((size_t)b * M + (i)) * C + h * hs + (t)])
            for (int i = 0; i < M; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < M; j++) {
                    double s = 0;
                    for (int t = 0; t < hs; t++)
                        s += Q(i, t) * K(j, t) * scale;
                    P[i * M + j] = s;
                    mx = fmax(mx, s);
                }
                for (int j = 0; j < M; j++)
                    sum += P[i * M + j] = exp(P[i * M + j] - mx);
                for (int j = 0; j < M; j++)
                    P[i * M + j] /= sum;
                for (int t = 0; t < hs; t++) {
                    double o = 0;
                    for (int j = 0; j < M; j++)
                        o += P[i * M + j] * V(j, t);
                    out[((size_t)b * M + i) * C + h * hs + t] = o;
                }
                for (int j = 0; j < M; j++) {
                    double g = 0;
                    for (int t = 0; t < hs; t++)
                        g += G(i, t) * V(j, t);
                    dP[i * M + j] = g;
                }
                double dot = 0;
                for (int j = 0; j < M; j++)
                    dot += P[i * M + j] * dP[i * M + j];
                for (int j = 0; j < M; j++) {
                    double ds = P[i * M + j] * (dP[i * M + j] - dot) * scale;
                    for (int t = 0; t < hs; t++) {
                        dbase[(size_t)i * C3 + t] += ds * K(j, t);
                        dbase[(size_t)j * C3 + C + t] += ds * Q(i, t);
                        dbase[(size_t)j * C3 + 2 * C + t] += P[i * M + j] * G(i, t);
                    }
                }
            }
#undef Q
#undef K
#undef V
#undef G
        }
    free(P), free(dP);
}

static double worst_rel(const float *x, const double *ref, int n)
{
    double mx = 0, worst = 0;
    for (int i = 0; i < n; i++)
        mx = fmax(mx, fabs(ref[i]));
    for (int i = 0; i < n; i++)
        worst = fmax(worst, fabs(x[i] - ref[i]) / (mx + 1e-30));
    return worst;
}

Test(nn, attention_every_blocking_matches_reference)
{
    const int shapes[][4] = {/* B, M, C, H */
                             {2, 5, 6, 3},    {3, 20, 100, 10}, {1, 16, 32, 2},
                             {2, 37, 34, 1},  {1, 70, 40, 2},   {2, 33, 48, 3},
                             {1, 1, 4, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int B = shapes[s][0], M = shapes[s][1], C = shapes[s][2],
                  H = shapes[s][3], N = B * M;
        dn_rng_t rng;
        dn_rng_seed(&rng, 100 + s);
        float *qkv = randv(&rng, N * 3 * C, -1.5, 1.5), *g = randv(&rng, N * C, -1, 1);
        float *out = zeros(N * C), *prob = zeros(B * H * M * M), *dqkv = zeros(N * 3 * C),
              *scratch = zeros(dn_attention_scratch_floats(M, C, H));
        double *rout = malloc(sizeof(double) * N * C),
               *rdqkv = malloc(sizeof(double) * N * 3 * C);
        dn_attention_forward(out, prob, prob, NULL, scratch, qkv, 0.0f, B, M, C, H, NULL);
        dn_attention_backward(dqkv, scratch, g, qkv, prob, prob, NULL, B, M, C, H);
        attention_ref(rout, rdqkv, qkv, g, B, M, C, H);
        double wo = worst_rel(out, rout, N * C), wd = worst_rel(dqkv, rdqkv, N * 3 * C);
        cr_log_info("attention B%d M%d C%d H%d: worst rel diff out %.3g, dqkv %.3g", B,
                    M, C, H, wo, wd);
        cr_assert(wo < 2e-6 && wd < 2e-6,
                  "attention B%d M%d C%d H%d: out differs by %.3g, dqkv by %.3g "
                  "(relative to the largest, > 2e-6)",
                  B, M, C, H, wo, wd);
        free(qkv), free(g), free(out), free(prob), free(dqkv), free(rout), free(rdqkv);
        free(scratch);
    }
}

/* Contexts up to 4096 are accepted; at M = 1024 the attention kernels work on
 * 2 M^2 floats (8 MiB) per head. That scratch is the caller's buffer, never the
 * stack: forward and backward at M = 1024 run on a thread with a 256 KiB stack
 * (the scratch on the stack overflowed it, and the 8 MiB default of the main
 * thread too) and still equal the double reference. */
typedef struct {
    float *out, *prob, *dqkv, *scratch;
    const float *qkv, *g;
    int B, M, C, H;
} att_job_t;

static void *att_job(void *arg)
{
    att_job_t *j = arg;
    dn_attention_forward(j->out, j->prob, j->prob, NULL, j->scratch, j->qkv, 0.0f, j->B, j->M,
                         j->C, j->H, NULL);
    dn_attention_backward(j->dqkv, j->scratch, j->g, j->qkv, j->prob, j->prob, NULL, j->B,
                          j->M, j->C, j->H);
    return NULL;
}

Test(nn, attention_context_1024_on_a_small_stack)
{
    const int B = 1, M = 1024, C = 16, H = 2, N = B * M;
    dn_rng_t rng;
    dn_rng_seed(&rng, 1024);
    float *qkv = randv(&rng, N * 3 * C, -1.5, 1.5), *g = randv(&rng, N * C, -1, 1);
    att_job_t j = {.out = zeros(N * C), .prob = zeros(B * H * M * M), .dqkv = zeros(N * 3 * C),
                   .scratch = zeros(dn_attention_scratch_floats(M, C, H)), .qkv = qkv, .g = g,
                   .B = B, .M = M, .C = C, .H = H};
    cr_assert(j.out && j.prob && j.dqkv && j.scratch);
    dn_test_on_small_stack(256 * 1024, att_job, &j);
    double *rout = malloc(sizeof(double) * N * C), *rdqkv = malloc(sizeof(double) * N * 3 * C);
    attention_ref(rout, rdqkv, qkv, g, B, M, C, H);
    double wo = worst_rel(j.out, rout, N * C), wd = worst_rel(j.dqkv, rdqkv, N * 3 * C);
    cr_log_info("attention M%d on a 256 KiB stack: worst rel diff out %.3g, dqkv %.3g", M, wo,
                wd);
    cr_assert(wo < 5e-6 && wd < 5e-6,
              "attention M%d: out differs by %.3g, dqkv by %.3g (relative to the largest, "
              "> 5e-6)", M, wo, wd);
    free(qkv), free(g), free(j.out), free(j.prob), free(j.dqkv), free(j.scratch);
    free(rout), free(rdqkv);
}

/* ---- dropout --------------------------------------------------------------- */

Test(nn, dropout_rate_scale_and_determinism)
{
    int n = 100000;
    float *x = malloc(sizeof(float) * n), *y = zeros(n), *y2 = zeros(n), *mask = zeros(n),
          *mask2 = zeros(n), *dx = zeros(n);
    for (int i = 0; i < n; i++)
        x[i] = 1.0f + (float)i / n;
    dn_rng_t a, b;
    dn_rng_seed(&a, 42);
    dn_rng_seed(&b, 42);
    dn_dropout_forward(y, mask, x, 0.15f, n, &a);
    dn_dropout_forward(y2, mask2, x, 0.15f, n, &b);
    cr_assert(memcmp(mask, mask2, sizeof(float) * n) == 0, "same seed, different mask");
    int dropped = 0;
    for (int i = 0; i < n; i++) {
        dropped += mask[i] == 0.0f;
        cr_assert(mask[i] == 0.0f || mask[i] == 1.0f / 0.85f);
        cr_assert_eq(y[i], x[i] * mask[i]);
    }
    /* binomial(1e5, 0.15): sd 113; 6 sd bounds */
    cr_assert(abs(dropped - 15000) < 700, "dropped %d of %d", dropped, n);
    dn_dropout_backward(dx, x, mask, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(dx[i], x[i] * mask[i]);
    /* The mask's definition, written out here one generator at a time: one draw
     * of the caller's generator seeds 8 xoshiro256** streams (dn_rng_seed_stream,
     * stream = lane); draw k is stream k % 8's output k / 8; element 2k comes
     * from the low half of draw k, 2k+1 from the high half; across the kernel's
     * internal blocks and for an odd count. */
    for (int q = 0; q < 3; q++) {
        const float pq = q == 0 ? 0.3f : q == 1 ? 0.5f : 1.0f;
        const int nq = 1001;
        dn_rng_t k1, k2;
        dn_rng_seed(&k1, 7 + q);
        k2 = k1;
        dn_dropout_forward(y, mask, x, pq, nq, &k1);
        const uint64_t th = pq >= 1.0f ? UINT64_C(4294967296)
                                       : (uint64_t)((double)pq * 4294967296.0);
        const uint64_t seed = dn_rng_next(&k2);
        dn_rng_t lanes[8];
        for (int l = 0; l < 8; l++)
            dn_rng_seed_stream(&lanes[l], seed, (uint64_t)l);
        uint64_t r = 0;
        for (int i = 0; i < nq; i++) {
            if (!(i & 1))
                r = dn_rng_next(&lanes[(i / 2) % 8]);
            uint64_t half = i & 1 ? r >> 32 : r & 0xffffffffu;
            float want = half < th ? 0.0f : 1.0f / (1.0f - pq);
            cr_assert(mask[i] == want, "p %.2f: mask[%d] = %g, want %g", pq, i, mask[i],
                      want);
        }
        cr_assert(memcmp(&k1, &k2, sizeof k1) == 0, "p %.2f: draws consumed differ", pq);
    }
    /* two masks in a row differ (the second call's seed is the next draw) */
    {
        dn_rng_t k;
        dn_rng_seed(&k, 11);
        dn_dropout_draw(mask, 0.5f, 256, &k);
        dn_dropout_draw(mask2, 0.5f, 256, &k);
        cr_assert(memcmp(mask, mask2, 256 * sizeof(float)) != 0, "consecutive masks equal");
    }
    /* p = 0: identity, mask of ones, no draws */
    dn_rng_t c0 = a;
    dn_dropout_forward(y, mask, x, 0.0f, n, &a);
    cr_assert(memcmp(y, x, sizeof(float) * n) == 0);
    cr_assert_eq(a.s[0], c0.s[0], "p = 0 must not consume draws");
    free(x), free(y), free(y2), free(mask), free(mask2), free(dx);
}

/* ---- Gaussian NLL ------------------------------------------------------------- */

typedef struct {
    float *mu, *sigma, *x;
    int n;
} nll_t;

static double nll_loss(void *p)
{
    nll_t *c = p;
    return dn_gaussnll_forward(c->mu, c->sigma, c->x, c->n);
}

Test(nn, gaussian_nll)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 10);
    int n = 12;
    nll_t c = {randv(&rng, n, 0, 0.3), randv(&rng, n, 0.05, 0.5), randv(&rng, n, 0, 0.3), n};
    float *dmu = zeros(n), *dsg = zeros(n);
    double l = nll_loss(&c), ref = 0;
    for (int i = 0; i < n; i++) {
        double v = (double)c.sigma[i] * c.sigma[i], r = (double)c.x[i] - c.mu[i];
        ref += 0.5 * (log(v) + r * r / v);
    }
    cr_assert(fabs(l - ref / n) < 1e-12, "loss %.15g vs %.15g", l, ref / n);
    dn_gaussnll_backward(dmu, dsg, c.mu, c.sigma, c.x, 1.0f, n);
    CHECK_FD(nll_loss, &c, c.mu, dmu, n, 1e-3f, 1e-3, "nll dmu");
    CHECK_FD(nll_loss, &c, c.sigma, dsg, n, 1e-3f, 1e-3, "nll dsigma");
    /* below the clamp v = 1e-9 the loss is flat in sigma: zero gradient */
    c.sigma[0] = 1e-5f;
    dn_gaussnll_backward(dmu, dsg, c.mu, c.sigma, c.x, 1.0f, n);
    cr_assert_eq(dsg[0], 0.0f, "gradient through the clamp: %g", dsg[0]);
    double v = 1e-9, r = (double)c.x[0] - c.mu[0];
    cr_assert(fabs(dmu[0] - (-r / v / n)) <= 1e-6 * fabs(r / v / n),
              "dmu at the clamp %g vs %g", dmu[0], -r / v / n);
    free(c.mu), free(c.sigma), free(c.x), free(dmu), free(dsg);
}

/* ---- AdamW ------------------------------------------------------------------- */

Test(nn, adamw_matches_formula)
{
    /* three steps on 5 parameters against a double transcription of torch's code */
    float p[5] = {0.5f, -0.3f, 0.0f, 1.2f, -2.0f}, m[5] = {0}, v[5] = {0};
    double pd[5], md[5] = {0}, vd[5] = {0};
    float g[3][5] = {{0.1f, -0.2f, 0.0f, 1e-3f, 5.0f},
                     {0.05f, 0.1f, 1e-9f, -1e-3f, 4.0f},
                     {-0.1f, 0.3f, 0.0f, 2e-3f, -3.0f}};
    for (int i = 0; i < 5; i++)
        pd[i] = p[i];
    const double lr = 5e-4, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 1e-4;
    for (int s = 1; s <= 3; s++) {
        dn_adamw_update(p, m, v, g[s - 1], 5, (float)lr, (float)b1, (float)b2,
                        (float)eps, (float)wd, s);
        for (int i = 0; i < 5; i++) {
            pd[i] *= 1 - lr * wd;
            md[i] = b1 * md[i] + (1 - b1) * g[s - 1][i];
            vd[i] = b2 * vd[i] + (1 - b2) * g[s - 1][i] * g[s - 1][i];
            double den = sqrt(vd[i]) / sqrt(1 - pow(b2, s)) + eps;
            pd[i] -= lr / (1 - pow(b1, s)) * md[i] / den;
        }
    }
    for (int i = 0; i < 5; i++)
        cr_assert(fabs(p[i] - pd[i]) < 1e-6 * (1 + fabs(pd[i])), "param %d: %.9g vs %.9g",
                  i, p[i], pd[i]);
}

/* ---- CPU variants ------------------------------------------------------------ */

/* Every kernel once on fixed inputs (lengths that leave vector tails at every
 * width, both attention code paths, dropout), its outputs appended to one log.
 * The variants (x86-64-v4 / v3 / baseline) perform the same IEEE operations in
 * the same order, so each must reproduce the default's log bit for bit:
 * tolerance 0, the worst difference and its kernel printed on failure. */
typedef struct {
    float *v;
    size_t n, cap;
    const char *name[64];
    size_t end[64];
    int nseg;
} vlog_t;

/* n zeroed floats of the log, for the outputs of `name` */
static float *vlog_take(vlog_t *l, const char *name, size_t n)
{
    cr_assert(l->n + n <= l->cap && l->nseg < 64, "variant log too small");
    float *p = l->v + l->n;
    memset(p, 0, n * sizeof(float));
    l->n += n;
    l->name[l->nseg] = name;
    l->end[l->nseg++] = l->n;
    return p;
}

static void attention_both(vlog_t *l, dn_rng_t *rng, int B, int M, int C, int H, float p)
{
    const int N = B * M, P = B * H * M * M;
    float *qkv = randv(rng, N * 3 * C, -2, 2), *dout = randv(rng, N * C, -1, 1);
    float *scratch = zeros(dn_attention_scratch_floats(M, C, H));
    float *out = vlog_take(l, "attention_forward out", N * C);
    float *prob = vlog_take(l, "attention_forward prob", P);
    float *pdrop = vlog_take(l, "attention_forward pdrop", P);
    float *mask = vlog_take(l, "attention_forward mask", P);
    dn_attention_forward(out, prob, pdrop, mask, scratch, qkv, p, B, M, C, H, rng);
    float *dqkv = vlog_take(l, "attention_backward", N * 3 * C);
    dn_attention_backward(dqkv, scratch, dout, qkv, prob, pdrop, p > 0 ? mask : NULL, B, M, C,
                          H);
    free(qkv), free(dout), free(scratch);
}

static void all_kernels(vlog_t *l)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, 1616);
    const int N = 7, C = 37, OC = 19, n = 203;
    float *x = randv(&rng, N * C, -2, 2), *w = randv(&rng, OC * C, -1, 1),
          *b = randv(&rng, OC, -1, 1), *g = randv(&rng, N * OC, -1, 1);
    float *out = vlog_take(l, "linear_forward", N * OC);
    dn_linear_forward(out, x, w, b, N, C, OC);
    float *out1 = vlog_take(l, "linear_forward C=1", N * OC);
    dn_linear_forward(out1, x, w, b, N, 1, OC);
    float *dx = vlog_take(l, "linear_backward dinp", N * C);
    float *dw = vlog_take(l, "linear_backward dweight", OC * C);
    float *db = vlog_take(l, "linear_backward dbias", OC);
    dn_linear_backward(dx, dw, db, g, x, w, N, C, OC);
    float *dw1 = vlog_take(l, "linear_backward C=1", OC);
    dn_linear_backward_params(dw1, db, g, x, N, 1, OC);

    float *lw = randv(&rng, C, 0.5, 1.5), *lb = randv(&rng, C, -1, 1),
          *lg = randv(&rng, N * C, -1, 1);
    float *lo = vlog_take(l, "layernorm_forward", N * C);
    float *mean = vlog_take(l, "layernorm_forward mean", N);
    float *rstd = vlog_take(l, "layernorm_forward rstd", N);
    dn_layernorm_forward(lo, mean, rstd, x, lw, lb, N, C);
    float *ldx = vlog_take(l, "layernorm_backward dinp", N * C);
    float *ldw = vlog_take(l, "layernorm_backward dweight", C);
    float *ldb = vlog_take(l, "layernorm_backward dbias", C);
    dn_layernorm_backward(ldx, ldw, ldb, lg, x, lw, mean, rstd, N, C);

    /* past softplus's threshold 20 on both sides */
    float *e = randv(&rng, n, -25, 25), *eg = randv(&rng, n, -1, 1);
    void (*fwd[3])(float *, const float *, int) = {dn_relu_forward, dn_gelu_forward,
                                                   dn_softplus_forward};
    void (*bwd[3])(float *, const float *, const float *, int) = {
        dn_relu_backward, dn_gelu_backward, dn_softplus_backward};
    const char *fname[3] = {"relu_forward", "gelu_forward", "softplus_forward"};
    const char *bname[3] = {"relu_backward", "gelu_backward", "softplus_backward"};
    for (int k = 0; k < 3; k++) {
        fwd[k](vlog_take(l, fname[k], n), e, n);
        bwd[k](vlog_take(l, bname[k], n), eg, e, n);
    }
    float *so = vlog_take(l, "softmax_forward", N * C);
    dn_softmax_forward(so, x, N, C);
    dn_softmax_backward(vlog_take(l, "softmax_backward", N * C), lg, so, N, C);

    float *dm = vlog_take(l, "dropout_forward mask", n);
    float *dfo = vlog_take(l, "dropout_forward", n);
    dn_dropout_forward(dfo, dm, e, 0.3f, n, &rng);
    dn_dropout_draw(vlog_take(l, "dropout_draw", n), 0.7f, n, &rng);
    dn_dropout_backward(vlog_take(l, "dropout_backward", n), eg, dm, n);
    dn_residual_forward(vlog_take(l, "residual_forward", n), e, eg, n);
    float *ra = vlog_take(l, "residual_backward da", n);
    dn_residual_backward(ra, vlog_take(l, "residual_backward db", n), eg, n);
    dn_meanpool_forward(vlog_take(l, "meanpool_forward", C), x, 1, N, C);
    dn_meanpool_backward(vlog_take(l, "meanpool_backward", N * C), lg, 1, N, C);
    int index[5] = {3, 0, 6, 3, 1};
    dn_gather_forward(vlog_take(l, "gather_forward", 5 * C), x, index, 5, C);
    dn_gather_backward(vlog_take(l, "gather_backward", N * C), lg, index, 5, C);

    /* the network's shape with dropout (MV = 2, HV = 1), and the general path */
    attention_both(l, &rng, 2, 20, 100, 10, 0.1f);
    attention_both(l, &rng, 1, 37, 48, 2, 0.0f);

    const int np = 1000;
    float *pp = vlog_take(l, "adamw params", np), *pm = vlog_take(l, "adamw m", np),
          *pv = vlog_take(l, "adamw v", np);
    float *p0 = randv(&rng, np, -1, 1);
    memcpy(pp, p0, np * sizeof(float));
    for (int s = 1; s <= 3; s++) {
        float *grad = randv(&rng, np, -1e-2, 1e-2);
        dn_adamw_update(pp, pm, pv, grad, np, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, s);
        free(grad);
    }
    float *mu = randv(&rng, C, -1, 1), *sg = randv(&rng, C, 0.1, 2), *t = randv(&rng, C, -1, 1);
    float *dmu = vlog_take(l, "gaussnll_backward dmu", C);
    dn_gaussnll_backward(dmu, vlog_take(l, "gaussnll_backward dsigma", C), mu, sg, t, 0.5f, C);
    float *pmu = vlog_take(l, "gaussnll_backward_part dmu", 20);
    dn_gaussnll_backward_part(pmu, vlog_take(l, "gaussnll_backward_part dsigma", 20), mu, sg, t,
                              0.5f, 20, C);
    free(x), free(w), free(b), free(g), free(lw), free(lb), free(lg), free(e), free(eg);
    free(p0), free(mu), free(sg), free(t);
}

Test(nn, variants_match_the_default_bit_for_bit)
{
    const char *def = dn_nn_variant();
    cr_assert(dn_nn_variant_supported(def), "default variant %s not supported here", def);
    cr_assert_str_eq(dn_nn_variant_name(2), "x86-64");
    cr_assert(dn_nn_variant_supported("x86-64"), "baseline must run everywhere");
    const size_t cap = 1 << 20;
    vlog_t ref = {.v = malloc(cap * sizeof(float)), .cap = cap};
    all_kernels(&ref);
    int tested = 0;
    const char *best = NULL;
    for (int i = 0; dn_nn_variant_name(i); i++) {
        const char *name = dn_nn_variant_name(i);
        if (!dn_nn_variant_supported(name)) {
            cr_assert_eq(dn_nn_select(name), DN_EMISMATCH, "%s selected on a CPU without it",
                         name);
            cr_log_info("variant %s: not supported by this CPU, skipped", name);
            continue;
        }
        best = best ? best : name;
        cr_assert_eq(dn_nn_select(name), 0, "select %s", name);
        cr_assert_str_eq(dn_nn_variant(), name);
        vlog_t got = {.v = malloc(cap * sizeof(float)), .cap = cap};
        all_kernels(&got);
        cr_assert_eq(got.n, ref.n);
        size_t bad = 0, first = 0;
        double worst = 0;
        for (size_t k = 0; k < ref.n; k++)
            if (memcmp(&got.v[k], &ref.v[k], sizeof(float)) != 0) {
                if (!bad++)
                    first = k;
                worst = fmax(worst, fabs((double)got.v[k] - ref.v[k]));
            }
        int seg = 0;
        while (seg < ref.nseg && ref.end[seg] <= first)
            seg++;
        cr_log_info("variant %s vs default %s: %zu of %zu floats differ", name, def, bad, ref.n);
        cr_assert(bad == 0,
                  "variant %s vs default %s: %zu of %zu floats differ (worst %.3g), first in %s",
                  name, def, bad, ref.n, worst, seg < ref.nseg ? ref.name[seg] : "?");
        free(got.v);
        tested++;
    }
    cr_assert(tested >= 1);
    cr_assert_eq(dn_nn_select("x86-64-v9"), DN_EINVAL);
    cr_assert_eq(dn_nn_select(NULL), 0);
    cr_assert_str_eq(dn_nn_variant(), best, "select(NULL) took %s, the best here is %s",
                     dn_nn_variant(), best);
    free(ref.v);
}
