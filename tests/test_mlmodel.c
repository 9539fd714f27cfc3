/* test_mlmodel.c: the DINAMO-ML network against PyTorch fixtures, finite
 * differences, and its own contracts (exchange formats, determinism, sharing).
 *
 * Fixtures (tests/fixtures/ml_*.bin, written by tools/make_fixtures.py) carry
 * PyTorch's float64 answers for float32 weights and inputs; the C model runs in
 * float32, so comparisons use a relative error with a small floor
 * (|c - r| / (|r| + 1e-3 * max|r|)) and print the worst element. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlfile.h"
#include "mlmodel.h"
#include "smallstack.h"
#include "team.h"
#include "rng.h"

/* ---- fixture reader ------------------------------------------------------ */

typedef struct {
    char name[32];
    int type;
    size_t count;
    void *data;
} rec_t;

typedef struct {
    rec_t rec[32];
    int n;
} fixture_t;

static void fixture_load(fixture_t *fx, const char *name)
{
    char path[512];
    const char *dir = getenv("DINAMO_FIXTURES");
    snprintf(path, sizeof path, "%s/ml_%s.bin", dir ? dir : "tests/fixtures", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open fixture %s (run from the repository root)", path);
    char magic[8];
    cr_assert_eq(fread(magic, 1, 8, f), 8);
    cr_assert(memcmp(magic, "DNFX0001", 8) == 0, "%s: bad magic", path);
    fx->n = 0;
    uint32_t len;
    while (fread(&len, 4, 1, f) == 1) {
        cr_assert(fx->n < 32 && len < 32, "%s: too many records or long name", path);
        rec_t *r = &fx->rec[fx->n++];
        cr_assert_eq(fread(r->name, 1, len, f), len);
        r->name[len] = 0;
        uint32_t type;
        uint64_t count;
        cr_assert_eq(fread(&type, 4, 1, f), 1);
        cr_assert_eq(fread(&count, 8, 1, f), 1);
        size_t es = type == 2 ? 8 : type == 3 ? 1 : 4;
        r->type = (int)type;
        r->count = count;
        r->data = malloc(es * count + 1);
        cr_assert_eq(fread(r->data, es, count, f), count, "%s: record %s truncated",
                     path, r->name);
    }
    fclose(f);
}

static rec_t *fx_get(fixture_t *fx, const char *name)
{
    for (int i = 0; i < fx->n; i++)
        if (!strcmp(fx->rec[i].name, name))
            return &fx->rec[i];
    cr_assert_fail("fixture record %s missing", name);
    return NULL;
}

static void fixture_free(fixture_t *fx)
{
    for (int i = 0; i < fx->n; i++)
        free(fx->rec[i].data);
    fx->n = 0;
}

/* Worst relative error of c against reference r (float or double), floor as
 * documented above; *at receives the worst index. */
static double worst_rel(const float *c, const void *r, int r_is_double, size_t n,
                        size_t *at)
{
    double mx = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double ri = r_is_double ? ((const double *)r)[i] : ((const float *)r)[i];
        mx = fmax(mx, fabs(ri));
    }
    double floor = 1e-3 * mx + 1e-30;
    *at = 0;
    for (size_t i = 0; i < n; i++) {
        double ri = r_is_double ? ((const double *)r)[i] : ((const float *)r)[i];
        double e = fabs((double)c[i] - ri) / (fabs(ri) + floor);
        if (e > worst) {
            worst = e;
            *at = i;
        }
    }
    return worst;
}

/* Name of the parameter tensor holding flat index i (from the names record). */
static void param_name(fixture_t *fx, size_t i, char *out, size_t cap)
{
    rec_t *names = fx_get(fx, "names");
    const char *s = names->data, *end = s + names->count;
    size_t base = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', end - s);
        const char *colon = memchr(s, ':', nl - s);
        size_t cnt = strtoul(colon + 1, NULL, 10);
        if (i < base + cnt) {
            snprintf(out, cap, "%.*s[%zu]", (int)(colon - s), s, i - base);
            return;
        }
        base += cnt;
        s = nl + 1;
    }
    snprintf(out, cap, "?");
}

static dn_mlmodel_t *model_for_fixture(fixture_t *fx, dn_mlbatch_t *b)
{
    const int *cf = fx_get(fx, "config")->data;
    dn_mlconfig_t cfg;
    dn_mlconfig_default(&cfg);
    cfg.n_bins = cf[0];
    cfg.d_model = cf[1];
    cfg.n_heads = cf[2];
    cfg.n_layers = cf[3];
    cfg.d_ff = cf[4];
    cfg.context = cf[5];
    cfg.max_batch = cf[6];
    cfg.max_hist = cf[7];
    cfg.activation = cf[8];
    cfg.dropout = 0.0f;
    dn_mlmodel_t *m = dn_mlmodel_new(&cfg, 1);
    cr_assert_not_null(m);
    rec_t *p = fx_get(fx, "params");
    cr_assert_eq(p->count, dn_mlmodel_num_params(m), "fixture has %zu params, model %zu",
                 p->count, dn_mlmodel_num_params(m));
    dn_err_t err;
    int rc = dn_mlmodel_import_raw(m, p->data, 4 * p->count, &err);
    cr_assert_eq(rc, 0, "import: %s", err.msg);
    b->n_hist = cf[7];
    b->batch = cf[6];
    b->hist = fx_get(fx, "hist")->data;
    b->tok_index = fx_get(fx, "tok_index")->data;
    b->tok_time = fx_get(fx, "tok_time")->data;
    b->target = fx_get(fx, "target")->data;
    return m;
}

static void check_fixture(const char *name)
{
    fixture_t fx;
    fixture_load(&fx, name);
    dn_mlbatch_t b;
    dn_mlmodel_t *m = model_for_fixture(&fx, &b);
    size_t np = dn_mlmodel_num_params(m), at;
    int nout = b.batch * dn_mlmodel_config(m)->n_bins;
    float loss;
    cr_assert_eq(dn_mlmodel_forward(m, &b, 1, &loss), 0);
    double ref_loss = *(double *)fx_get(&fx, "loss")->data;
    double e_mu = worst_rel(dn_mlmodel_mu(m), fx_get(&fx, "mu")->data, 1, nout, &at);
    cr_assert(e_mu < 1e-4, "%s: mu_hat worst rel err %.3g at %zu", name, e_mu, at);
    double e_sg = worst_rel(dn_mlmodel_sigma(m), fx_get(&fx, "sigma")->data, 1, nout,
                            &at);
    cr_assert(e_sg < 1e-4, "%s: sigma_hat worst rel err %.3g at %zu", name, e_sg, at);
    double e_loss = fabs(loss - ref_loss) / fmax(fabs(ref_loss), 1e-3);
    cr_assert(e_loss < 1e-4, "%s: loss %.8g vs torch %.8g (rel %.3g)", name, loss,
              ref_loss, e_loss);

    cr_assert_eq(dn_mlmodel_backward(m), 0);
    double e_g = worst_rel(dn_mlmodel_grads(m), fx_get(&fx, "grads")->data, 0, np, &at);
    char pn[128];
    param_name(&fx, at, pn, sizeof pn);
    cr_assert(e_g < 1e-4, "%s: gradient worst rel err %.3g at %s (%g vs %g)", name, e_g,
              pn, dn_mlmodel_grads(m)[at], ((float *)fx_get(&fx, "grads")->data)[at]);

    dn_mlmodel_adamw_step(m);
    for (int s = 0; s < 2; s++)
        cr_assert_eq(dn_mlmodel_train_step(m, &b, NULL), 0);
    cr_assert_eq(dn_mlmodel_step_count(m), 3);
    /* The key bias gets a mathematically zero gradient (softmax is invariant to a
     * per-query constant), so in both implementations its AdamW update is driven
     * by rounding noise: compare it with an absolute 1e-4 (3 steps of lr 5e-4
     * could move it 1.5e-3), everything else at relative 1e-4. */
    const dn_mlconfig_t *c = dn_mlmodel_config(m);
    float *p3 = fx_get(&fx, "params_adamw3")->data;
    float *mine = dn_mlmodel_params(m);
    float *masked = malloc(np * sizeof(float));
    memcpy(masked, mine, np * sizeof(float));
    double e_kb = 0;
    int n_kb = 0;
    for (size_t i = 0; i < np; i++) {
        param_name(&fx, i, pn, sizeof pn);
        char *br = strstr(pn, "self_attn.in_proj_bias[");
        if (br) {
            int k = atoi(br + strlen("self_attn.in_proj_bias["));
            if (k >= c->d_model && k < 2 * c->d_model) {
                e_kb = fmax(e_kb, fabs(mine[i] - p3[i]));
                masked[i] = p3[i];
                n_kb++;
            }
        }
    }
    cr_assert_eq(n_kb, c->n_layers * c->d_model);
    cr_assert(e_kb < 1e-4, "%s: key bias after 3 AdamW steps off by %.3g", name, e_kb);
    double e_p = worst_rel(masked, p3, 0, np, &at);
    free(masked);
    param_name(&fx, at, pn, sizeof pn);
    cr_assert(e_p < 1e-4, "%s: params after 3 AdamW steps worst rel err %.3g at %s "
              "(%.9g vs %.9g)", name, e_p, pn, dn_mlmodel_params(m)[at],
              ((float *)fx_get(&fx, "params_adamw3")->data)[at]);
    cr_log_info("%s: worst rel err mu %.2g sigma %.2g loss %.2g grads %.2g "
                "adamw3 %.2g (key bias abs %.2g)", name, e_mu, e_sg, e_loss, e_g, e_p,
                e_kb);
    dn_mlmodel_destroy(&m);
    fixture_free(&fx);
}

Test(mlmodel, torch_fixture_small) { check_fixture("small"); }
Test(mlmodel, torch_fixture_small_gelu) { check_fixture("small_gelu"); }
Test(mlmodel, torch_fixture_mid) { check_fixture("mid"); }

Test(mlmodel, parameter_count_at_defaults)
{
    dn_mlconfig_t cfg;
    dn_mlconfig_default(&cfg);
    cr_assert_eq(dn_mlconfig_num_params(&cfg), 254700, "got %zu",
                 dn_mlconfig_num_params(&cfg));
    dn_mlmodel_t *m = dn_mlmodel_new(&cfg, 42);
    cr_assert_not_null(m);
    cr_assert_eq(dn_mlmodel_num_params(m), 254700);
    cr_assert_eq(dn_mlmodel_raw_size(m), 4 * 254700);
    dn_mlmodel_destroy(&m);
    cr_assert_null(m);
    dn_mlmodel_destroy(&m);
    dn_mlmodel_destroy(NULL);
}

Test(mlmodel, invalid_configs_rejected)
{
    dn_mlconfig_t cfg;
    dn_mlconfig_default(&cfg);
    cfg.n_heads = 7; /* 100 % 7 != 0 */
    dn_err_t err;
    cr_assert_eq(dn_mlconfig_check(&cfg, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "n_heads"), "message: %s", err.msg);
    cr_assert_null(dn_mlmodel_new(&cfg, 1));
    dn_mlconfig_default(&cfg);
    cfg.dropout = 1.0f;
    cr_assert_null(dn_mlmodel_new(&cfg, 1));
    dn_mlconfig_default(&cfg);
    cfg.max_hist = 5; /* < context */
    cr_assert_eq(dn_mlconfig_check(&cfg, NULL), DN_EINVAL);
}

/* ---- a small random problem ------------------------------------------------- */

typedef struct {
    dn_mlconfig_t cfg;
    int B, U;
    float *hist, *time, *target;
    int32_t *idx;
    dn_mlbatch_t b;
} problem_t;

/* B contexts over U = B + M - 1 + 1 distinct histograms, padded like the tracker
 * would (the first context starts with one padding token). */
static void problem_make(problem_t *p, const dn_mlconfig_t *cfg, int B, uint64_t seed)
{
    const int M = cfg->context, nb = cfg->n_bins;
    p->cfg = *cfg;
    p->B = B;
    int R = B + M - 2;
    p->U = R + 1;
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    p->hist = malloc(sizeof(float) * p->U * nb);
    p->target = malloc(sizeof(float) * B * nb);
    p->time = malloc(sizeof(float) * B * M);
    p->idx = malloc(sizeof(int32_t) * B * M);
    int *run_t = malloc(sizeof(int) * R);
    int t = 0;
    for (int r = 0; r < R; r++) {
        t += 1 + (int)dn_rng_below(&rng, 3);
        run_t[r] = t;
        double s = 0;
        for (int k = 0; k < nb; k++)
            s += p->hist[r * nb + k] = (float)(0.1 + dn_rng_uniform(&rng));
        for (int k = 0; k < nb; k++)
            p->hist[r * nb + k] /= (float)s;
    }
    for (int k = 0; k < nb; k++)
        p->hist[R * nb + k] = DN_ML_PAD_VALUE;
    for (int b = 0; b < B; b++) {
        int r = R - B + b;
        memcpy(p->target + b * nb, p->hist + r * nb, sizeof(float) * nb);
        for (int g = 0; g < M; g++) {
            int c = r - M + g;
            p->idx[b * M + g] = c < 0 ? R : c;
            p->time[b * M + g] = c < 0 ? DN_ML_PAD_TIME : (float)(run_t[c] - run_t[r]);
        }
    }
    free(run_t);
    p->b = (dn_mlbatch_t){.n_hist = p->U, .batch = B, .hist = p->hist,
                          .tok_index = p->idx, .tok_time = p->time,
                          .target = p->target};
}

static void problem_free(problem_t *p)
{
    free(p->hist);
    free(p->target);
    free(p->time);
    free(p->idx);
}

static dn_mlconfig_t small_cfg(void)
{
    dn_mlconfig_t c;
    dn_mlconfig_default(&c);
    c.n_bins = 6;
    c.d_model = 8;
    c.n_heads = 2;
    c.n_layers = 2;
    c.d_ff = 12;
    c.context = 4;
    c.max_batch = 3;
    c.dropout = 0.0f;
    return c;
}

/* The loss at the current parameters, which the caller may have changed through
 * the pointer dn_mlmodel_params gave it earlier. */
static double loss_at(dn_mlmodel_t *m, const dn_mlbatch_t *b)
{
    float l;
    dn_mlmodel_params_changed(m);
    cr_assert_eq(dn_mlmodel_forward(m, b, 1, &l), 0);
    return l;
}

static void fd_check(int activation)
{
    dn_mlconfig_t cfg = small_cfg();
    cfg.activation = activation;
    problem_t p;
    problem_make(&p, &cfg, 3, 7);
    dn_mlmodel_t *m = dn_mlmodel_new(&cfg, 99);
    cr_assert_not_null(m);
    size_t np = dn_mlmodel_num_params(m);
    float *w = dn_mlmodel_params(m);
    /* perturb the init so LayerNorm weights, zero biases etc. are generic */
    dn_rng_t rng;
    dn_rng_seed(&rng, 5);
    for (size_t i = 0; i < np; i++)
        w[i] += (float)(0.05 * dn_rng_normal(&rng));
    loss_at(m, &p.b);
    cr_assert_eq(dn_mlmodel_backward(m), 0);
    float *g = malloc(np * sizeof(float));
    memcpy(g, dn_mlmodel_grads(m), np * sizeof(float));
    double gmax = 0;
    for (size_t i = 0; i < np; i++)
        gmax = fmax(gmax, fabs(g[i]));
    /* 4-point central difference, O(h^4) truncation. The forward runs in float32
     * (loss noise ~1e-7 relative) and the NLL is strongly curved, so h = 1e-3 is
     * the measured sweet spot; wrong gradients show as O(1) errors. */
    const float h = 1e-3f;
    double worst = 0;
    size_t worst_i = 0;
    double worst_fd = 0;
    int n_bad = 0;
    for (size_t i = 0; i < np; i++) {
        float w0 = w[i];
        double f[4];
        const float steps[4] = {2 * h, h, -h, -2 * h};
        for (int s = 0; s < 4; s++) {
            w[i] = w0 + steps[s];
            f[s] = loss_at(m, &p.b);
        }
        w[i] = w0;
        double fd = (8.0 * (f[1] - f[2]) - (f[0] - f[3])) / (12.0 * h);
        double e = fabs(fd - g[i]) / (fabs(g[i]) + 1e-2 * gmax);
        if (e > 2e-2)
            n_bad++;
        if (e > worst) {
            worst = e;
            worst_i = i;
            worst_fd = fd;
        }
    }
    cr_log_info("fd whole model (act %d): %zu params, worst rel diff %.3g at %zu", activation,
                np, worst, worst_i);
    /* float32 noise or a ReLU kink inside the stencil can spoil single entries:
     * allow 1 in 500 above 2e-2, none above 0.1 */
    cr_assert(n_bad <= (int)(np / 500) && worst < 0.1,
              "finite differences: %d of %zu params off by > 2e-2; worst %.3g at %zu "
              "(analytic %g, fd %g)", n_bad, np, worst, worst_i, g[worst_i], worst_fd);
    free(g);
    dn_mlmodel_destroy(&m);
    problem_free(&p);
}

Test(mlmodel, finite_differences_relu) { fd_check(DN_ML_ACT_RELU); }
Test(mlmodel, finite_differences_gelu) { fd_check(DN_ML_ACT_GELU); }

Test(mlmodel, export_import_bit_identical)
{
    dn_mlconfig_t cfg = small_cfg();
    cfg.dropout = 0.15f;
    problem_t p;
    problem_make(&p, &cfg, 3, 3);
    dn_mlmodel_t *a = dn_mlmodel_new(&cfg, 1), *b = dn_mlmodel_new(&cfg, 2);
    for (int s = 0; s < 3; s++)
        cr_assert_eq(dn_mlmodel_train_step(a, &p.b, NULL), 0);
    size_t n = dn_mlmodel_raw_size(a), nb = dn_mlmodel_blob_size(a);
    unsigned char *buf = malloc(nb);
    cr_assert_eq(dn_mlmodel_export_raw(a, buf, n), 0);
    dn_err_t err;
    cr_assert_eq(dn_mlmodel_import_raw(b, buf, n, &err), 0, "%s", err.msg);
    int nout = 3 * cfg.n_bins;
    float *mu_a = malloc(sizeof(float) * nout * 2), *mu_b = malloc(sizeof(float) * nout * 2);
    cr_assert_eq(dn_mlmodel_forward(a, &p.b, 0, NULL), 0);
    memcpy(mu_a, dn_mlmodel_mu(a), sizeof(float) * nout);
    memcpy(mu_a + nout, dn_mlmodel_sigma(a), sizeof(float) * nout);
    cr_assert_eq(dn_mlmodel_forward(b, &p.b, 0, NULL), 0);
    memcpy(mu_b, dn_mlmodel_mu(b), sizeof(float) * nout);
    memcpy(mu_b + nout, dn_mlmodel_sigma(b), sizeof(float) * nout);
    cr_assert(memcmp(mu_a, mu_b, sizeof(float) * 2 * nout) == 0,
              "outputs differ after raw export/import");
    /* raw format = the parameters as little-endian float32, nothing else */
    for (size_t i = 0; i < n / 4; i++) {
        uint32_t u;
        memcpy(&u, dn_mlmodel_params(a) + i, 4);
        for (int k = 0; k < 4; k++)
            cr_assert_eq(buf[4 * i + k], (unsigned char)(u >> (8 * k)),
                         "raw byte %zu is not little-endian float32", 4 * i + k);
    }

    /* self-describing blob and files */
    dn_mlmodel_t *c = dn_mlmodel_new(&cfg, 3);
    cr_assert_eq(dn_mlmodel_export_blob(a, buf, nb), 0);
    cr_assert_eq(dn_mlmodel_import_blob(c, buf, nb, &err), 0, "%s", err.msg);
    cr_assert(memcmp(dn_mlmodel_params(a), dn_mlmodel_params(c), n) == 0);
    buf[DN_MLBLOB_HEADER + 5] ^= 0x40; /* corrupt one parameter byte */
    cr_assert_eq(dn_mlmodel_import_blob(c, buf, nb, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "hash"), "message: %s", err.msg);
    cr_assert_eq(dn_mlmodel_import_blob(c, buf, 10, &err), DN_EFORMAT);

    char path[] = "/tmp/dn_mlmodel_testXXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(dn_mlfile_save(a, path, &err), 0, "%s", err.msg);
    dn_mlmodel_t *d = NULL;
    dn_mlconfig_t sizes = cfg;
    cr_assert_eq(dn_mlfile_new_model(path, &sizes, &d, &err), 0, "%s", err.msg);
    cr_assert(memcmp(dn_mlmodel_params(a), dn_mlmodel_params(d), n) == 0);
    cr_assert_eq(dn_mlmodel_config(d)->d_ff, cfg.d_ff);
    cr_assert_eq(dn_mlfile_save_raw(a, path, &err), 0, "%s", err.msg);
    dn_mlmodel_t *e = dn_mlmodel_new(&cfg, 4);
    cr_assert_eq(dn_mlfile_load_raw(e, path, &err), 0, "%s", err.msg);
    cr_assert(memcmp(dn_mlmodel_params(a), dn_mlmodel_params(e), n) == 0);
    /* a raw file is not a blob */
    cr_assert_eq(dn_mlfile_load(e, path, &err), DN_EFORMAT);
    remove(path);
    cr_assert_eq(dn_mlfile_load(e, path, &err), DN_ENOTFOUND);

    free(buf);
    free(mu_a);
    free(mu_b);
    dn_mlmodel_destroy(&a);
    dn_mlmodel_destroy(&b);
    dn_mlmodel_destroy(&c);
    dn_mlmodel_destroy(&d);
    dn_mlmodel_destroy(&e);
    problem_free(&p);
}

Test(mlmodel, import_rejects_wrong_sizes)
{
    dn_mlconfig_t cfg = small_cfg(), other = small_cfg();
    other.d_ff = 16;
    dn_mlmodel_t *a = dn_mlmodel_new(&cfg, 1), *b = dn_mlmodel_new(&other, 1);
    size_t n = dn_mlmodel_raw_size(a), nb = dn_mlmodel_blob_size(b);
    unsigned char *buf = calloc(1, nb + 8);
    float *before = malloc(n);
    memcpy(before, dn_mlmodel_params(a), n);
    dn_err_t err;
    cr_assert_eq(dn_mlmodel_import_raw(a, buf, n - 4, &err), DN_EMISMATCH);
    cr_assert_eq(dn_mlmodel_import_raw(a, buf, n + 4, &err), DN_EMISMATCH);
    cr_assert(strstr(err.msg, "bytes"), "message: %s", err.msg);
    cr_assert_eq(dn_mlmodel_export_blob(b, buf, nb), 0);
    cr_assert_eq(dn_mlmodel_import_blob(a, buf, nb, &err), DN_EMISMATCH);
    cr_assert(strstr(err.msg, "d_ff"), "message: %s", err.msg);
    /* NaN in a raw buffer */
    float nan = NAN;
    cr_assert_eq(dn_mlmodel_export_raw(a, buf, n), 0);
    memcpy(buf + 8, &nan, 4);
    cr_assert_eq(dn_mlmodel_import_raw(a, buf, n, &err), DN_ERANGE);
    cr_assert(memcmp(before, dn_mlmodel_params(a), n) == 0, "model changed on failure");
    free(buf);
    free(before);
    dn_mlmodel_destroy(&a);
    dn_mlmodel_destroy(&b);
}

Test(mlmodel, same_seed_same_training_with_dropout)
{
    dn_mlconfig_t cfg = small_cfg();
    cfg.dropout = 0.15f;
    problem_t p;
    problem_make(&p, &cfg, 3, 11);
    dn_mlmodel_t *a = dn_mlmodel_new(&cfg, 77), *b = dn_mlmodel_new(&cfg, 77),
                 *c = dn_mlmodel_new(&cfg, 77);
    dn_mlmodel_seed_dropout(c, 78);
    size_t n = dn_mlmodel_num_params(a) * sizeof(float);
    cr_assert(memcmp(dn_mlmodel_params(a), dn_mlmodel_params(c), n) == 0);
    float la[8], lb[8], lc[8];
    for (int s = 0; s < 8; s++) {
        cr_assert_eq(dn_mlmodel_train_step(a, &p.b, &la[s]), 0);
        cr_assert_eq(dn_mlmodel_train_step(b, &p.b, &lb[s]), 0);
        cr_assert_eq(dn_mlmodel_train_step(c, &p.b, &lc[s]), 0);
        cr_assert_eq(la[s], lb[s], "step %d: loss %.9g vs %.9g", s, la[s], lb[s]);
    }
    cr_assert(memcmp(dn_mlmodel_params(a), dn_mlmodel_params(b), n) == 0,
              "same seed, different parameters after 8 steps");
    cr_assert(memcmp(dn_mlmodel_params(a), dn_mlmodel_params(c), n) != 0,
              "another dropout seed gave the same parameters: dropout not applied?");
    /* eval mode has no dropout: two evaluations agree, and differ from training */
    float l1, l2, l3;
    cr_assert_eq(dn_mlmodel_forward(a, &p.b, 0, &l1), 0);
    cr_assert_eq(dn_mlmodel_forward(a, &p.b, 0, &l2), 0);
    cr_assert_eq(dn_mlmodel_forward(a, &p.b, 1, &l3), 0);
    cr_assert_eq(l1, l2);
    cr_assert_neq(l1, l3);
    dn_mlmodel_destroy(&a);
    dn_mlmodel_destroy(&b);
    dn_mlmodel_destroy(&c);
    problem_free(&p);
}

/* The shared-histogram batch must equal the same batch with one row per token. */
Test(mlmodel, shared_histograms_equal_unshared)
{
    dn_mlconfig_t cfg = small_cfg();
    problem_t p;
    problem_make(&p, &cfg, 3, 21);
    const int M = cfg.context, nb = cfg.n_bins, N = 3 * M;
    dn_mlconfig_t big = cfg;
    big.max_hist = N;
    dn_mlmodel_t *a = dn_mlmodel_new(&big, 5);
    float *hist = malloc(sizeof(float) * N * nb);
    int32_t *idx = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N; i++) {
        memcpy(hist + i * nb, p.hist + p.idx[i] * nb, sizeof(float) * nb);
        idx[i] = i;
    }
    dn_mlbatch_t ub = p.b;
    ub.n_hist = N;
    ub.hist = hist;
    ub.tok_index = idx;
    size_t np = dn_mlmodel_num_params(a), at;
    float l1, l2;
    cr_assert_eq(dn_mlmodel_forward(a, &p.b, 1, &l1), 0);
    cr_assert_eq(dn_mlmodel_backward(a), 0);
    float *g = malloc(np * sizeof(float)), *mu = malloc(sizeof(float) * 3 * nb);
    memcpy(g, dn_mlmodel_grads(a), np * sizeof(float));
    memcpy(mu, dn_mlmodel_mu(a), sizeof(float) * 3 * nb);
    cr_assert_eq(dn_mlmodel_forward(a, &ub, 1, &l2), 0);
    cr_assert_eq(dn_mlmodel_backward(a), 0);
    /* sgemm may block differently for U and B*M rows: last-bit differences only */
    double emu = worst_rel(dn_mlmodel_mu(a), mu, 0, 3 * nb, &at);
    cr_assert(emu < 1e-6 && fabsf(l1 - l2) <= 1e-6f * fabsf(l1),
              "forward differs between shared and unshared histograms: mu %.3g, "
              "loss %.9g vs %.9g", emu, l1, l2);
    double e = worst_rel(dn_mlmodel_grads(a), g, 0, np, &at);
    cr_assert(e < 1e-4, "gradients differ (summation order only allowed): %.3g at %zu",
              e, at);
    free(hist);
    free(idx);
    free(g);
    free(mu);
    dn_mlmodel_destroy(&a);
    problem_free(&p);
}

Test(mlmodel, predict_matches_batch_forward)
{
    dn_mlconfig_t cfg = small_cfg();
    cfg.dropout = 0.15f;
    problem_t p;
    problem_make(&p, &cfg, 3, 31);
    dn_mlmodel_t *m = dn_mlmodel_new(&cfg, 8);
    cr_assert_eq(dn_mlmodel_train_step(m, &p.b, NULL), 0);
    const int M = cfg.context, nb = cfg.n_bins;
    cr_assert_eq(dn_mlmodel_forward(m, &p.b, 0, NULL), 0);
    float *ref = malloc(sizeof(float) * 2 * nb);
    memcpy(ref, dn_mlmodel_mu(m) + 2 * nb, sizeof(float) * nb);
    memcpy(ref + nb, dn_mlmodel_sigma(m) + 2 * nb, sizeof(float) * nb);
    float *ctx = malloc(sizeof(float) * M * nb), mu[6], sg[6];
    for (int g = 0; g < M; g++)
        memcpy(ctx + g * nb, p.hist + p.idx[2 * M + g] * nb, sizeof(float) * nb);
    cr_assert_eq(dn_mlmodel_predict(m, ctx, p.time + 2 * M, mu, sg), 0);
    /* batch size 1 vs 3 may change sgemm's blocking: last bits only */
    for (int k = 0; k < nb; k++) {
        cr_assert(fabsf(mu[k] - ref[k]) <= 1e-6f * fabsf(ref[k]),
                  "bin %d: mu %.9g vs %.9g", k, mu[k], ref[k]);
        cr_assert(fabsf(sg[k] - ref[nb + k]) <= 1e-6f * fabsf(ref[nb + k]),
                  "bin %d: sigma %.9g vs %.9g", k, sg[k], ref[nb + k]);
    }
    double s = 0;
    for (int k = 0; k < nb; k++) {
        s += mu[k];
        cr_assert(sg[k] > 0, "sigma_hat must be positive");
    }
    cr_assert(fabs(s - 1.0) < 1e-5, "softmax head sums to %.9g", s);
    free(ref);
    free(ctx);
    dn_mlmodel_destroy(&m);
    problem_free(&p);
}

Test(mlmodel, bad_batches_rejected)
{
    dn_mlconfig_t cfg = small_cfg();
    problem_t p;
    problem_make(&p, &cfg, 3, 41);
    dn_mlmodel_t *m = dn_mlmodel_new(&cfg, 8);
    cr_assert_eq(dn_mlmodel_backward(m), DN_ESTATE, "backward before any forward");
    dn_mlbatch_t b = p.b;
    b.batch = 4;
    cr_assert_eq(dn_mlmodel_forward(m, &b, 1, NULL), DN_EINVAL);
    b = p.b;
    b.n_hist = cfg.max_batch + cfg.context + 1;
    cr_assert_eq(dn_mlmodel_forward(m, &b, 1, NULL), DN_EINVAL);
    p.idx[5] = p.U;
    cr_assert_eq(dn_mlmodel_forward(m, &p.b, 1, NULL), DN_EINVAL);
    p.idx[5] = 0;
    p.hist[3] = NAN;
    cr_assert_eq(dn_mlmodel_forward(m, &p.b, 1, NULL), DN_EINVAL);
    p.hist[3] = 0.1f;
    b = p.b;
    b.target = NULL;
    float l;
    cr_assert_eq(dn_mlmodel_forward(m, &b, 1, &l), DN_ESTATE);
    cr_assert_eq(dn_mlmodel_forward(m, &b, 0, NULL), 0);
    cr_assert_eq(dn_mlmodel_backward(m), DN_ESTATE, "backward without a target");
    dn_mlmodel_destroy(&m);
    problem_free(&p);
}

/* A saved training state resumes bit-identically (params, AdamW, dropout). */
Test(mlmodel, state_checkpoint_resumes_identically)
{
    dn_mlconfig_t cfg = small_cfg();
    cfg.dropout = 0.15f;
    problem_t p;
    problem_make(&p, &cfg, 3, 51);
    dn_mlmodel_t *a = dn_mlmodel_new(&cfg, 61), *b = dn_mlmodel_new(&cfg, 62);
    for (int s = 0; s < 4; s++)
        cr_assert_eq(dn_mlmodel_train_step(a, &p.b, NULL), 0);
    size_t n = dn_mlmodel_state_size(a);
    unsigned char *buf = malloc(n);
    cr_assert_eq(dn_mlmodel_save_state(a, buf, n), 0);
    dn_err_t err;
    cr_assert_eq(dn_mlmodel_load_state(b, buf, n - 1, &err), DN_EFORMAT);
    cr_assert_eq(dn_mlmodel_load_state(b, buf, n, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_mlmodel_step_count(b), 4);
    for (int s = 0; s < 4; s++) {
        cr_assert_eq(dn_mlmodel_train_step(a, &p.b, NULL), 0);
        cr_assert_eq(dn_mlmodel_train_step(b, &p.b, NULL), 0);
    }
    cr_assert(memcmp(dn_mlmodel_params(a), dn_mlmodel_params(b),
                     dn_mlmodel_raw_size(a)) == 0, "resumed training diverged");
    free(buf);
    dn_mlmodel_destroy(&a);
    dn_mlmodel_destroy(&b);
    problem_free(&p);
}

/* The step is split into parts that do not depend on the thread count, so one
 * and two threads must give the same bits: losses, gradients, parameters after
 * AdamW and predictions, for batches that split evenly, unevenly and not at all
 * (B = 1), with dropout on. */
static void threads_identical(int activation)
{
    dn_mlconfig_t cfg;
    dn_mlconfig_default(&cfg);
    cfg.n_bins = 20;
    cfg.d_model = 32;
    cfg.n_heads = 4;
    cfg.n_layers = 2;
    cfg.d_ff = 24;
    cfg.context = 6;
    cfg.max_batch = 5;
    cfg.dropout = 0.1f;
    cfg.activation = activation;
    const int batches[] = {1, 2, 3, 5};
    for (int bi = 0; bi < 4; bi++) {
        problem_t p;
        problem_make(&p, &cfg, batches[bi], 30 + bi);
        dn_mlmodel_t *one = dn_mlmodel_new(&cfg, 5), *two = dn_mlmodel_new(&cfg, 5);
        cr_assert(one && two);
        cr_assert_eq(dn_mlmodel_set_threads(two, 2), 0);
        cr_assert_eq(dn_mlmodel_threads(two), 2);
        cr_assert_eq(dn_mlmodel_threads(one), 1);
        const size_t n = dn_mlmodel_num_params(one);
        for (int s = 0; s < 4; s++) {
            float l1, l2;
            cr_assert_eq(dn_mlmodel_forward(one, &p.b, 1, &l1), 0);
            cr_assert_eq(dn_mlmodel_forward(two, &p.b, 1, &l2), 0);
            cr_assert(memcmp(&l1, &l2, sizeof l1) == 0, "B=%d step %d: loss %.9g vs %.9g",
                      p.B, s, l1, l2);
            cr_assert_eq(dn_mlmodel_backward(one), 0);
            cr_assert_eq(dn_mlmodel_backward(two), 0);
            const float *g1 = dn_mlmodel_grads(one), *g2 = dn_mlmodel_grads(two);
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < n; i++)
                if (memcmp(&g1[i], &g2[i], sizeof(float)) && !bad++)
                    first = i;
            cr_assert_eq(bad, 0, "B=%d step %d: %zu gradients differ, first %zu: %.9g vs %.9g",
                         p.B, s, bad, first, g1[first], g2[first]);
            dn_mlmodel_adamw_step(one);
            dn_mlmodel_adamw_step(two);
            cr_assert(memcmp(dn_mlmodel_params(one), dn_mlmodel_params(two),
                             n * sizeof(float)) == 0,
                      "B=%d step %d: parameters differ after AdamW", p.B, s);
        }
        float mu1[20], sg1[20], mu2[20], sg2[20];
        cr_assert_eq(dn_mlmodel_predict(one, p.hist, p.time, mu1, sg1), 0);
        cr_assert_eq(dn_mlmodel_predict(two, p.hist, p.time, mu2, sg2), 0);
        cr_assert(memcmp(mu1, mu2, sizeof mu1) == 0 && memcmp(sg1, sg2, sizeof sg1) == 0,
                  "B=%d: predictions differ", p.B);
        /* back to one thread mid-training: still the same model */
        cr_assert_eq(dn_mlmodel_set_threads(two, 1), 0);
        float l1, l2;
        cr_assert_eq(dn_mlmodel_train_step(one, &p.b, &l1), 0);
        cr_assert_eq(dn_mlmodel_train_step(two, &p.b, &l2), 0);
        cr_assert(memcmp(dn_mlmodel_params(one), dn_mlmodel_params(two), n * sizeof(float)) ==
                  0);
        dn_mlmodel_destroy(&one);
        dn_mlmodel_destroy(&two);
        problem_free(&p);
    }
}

Test(mlmodel, two_threads_bit_identical_relu) { threads_identical(DN_ML_ACT_RELU); }
Test(mlmodel, two_threads_bit_identical_gelu) { threads_identical(DN_ML_ACT_GELU); }

Test(mlmodel, thread_counts_checked)
{
    dn_mlconfig_t cfg = small_cfg();
    dn_mlmodel_t *m = dn_mlmodel_new(&cfg, 1);
    cr_assert_eq(dn_mlmodel_set_threads(m, 0), DN_EINVAL);
    cr_assert_eq(dn_mlmodel_set_threads(m, DN_ML_MAX_THREADS + 1), DN_EINVAL);
    cr_assert_eq(dn_mlmodel_threads(m), 1);
    dn_mlmodel_destroy(&m);
}

/* Two models borrowing one team (as the trainer's keys do) train exactly as
 * models on one thread each, interleaved step by step. */
Test(mlmodel, models_sharing_a_team_bit_identical)
{
    dn_mlconfig_t cfg;
    dn_mlconfig_default(&cfg);
    cfg.n_bins = 12;
    cfg.d_model = 16;
    cfg.n_heads = 2;
    cfg.n_layers = 2;
    cfg.d_ff = 20;
    cfg.context = 5;
    cfg.max_batch = 4;
    problem_t p;
    problem_make(&p, &cfg, 4, 9);
    dn_team_t *team = dn_team_new(2);
    cr_assert_not_null(team);
    dn_mlmodel_t *shared[2], *alone[2];
    for (int i = 0; i < 2; i++) {
        shared[i] = dn_mlmodel_new(&cfg, 40 + i);
        alone[i] = dn_mlmodel_new(&cfg, 40 + i);
        cr_assert(shared[i] && alone[i]);
        dn_mlmodel_share_team(shared[i], team);
        cr_assert_eq(dn_mlmodel_threads(shared[i]), 2);
    }
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(dn_mlmodel_train_step(shared[i], &p.b, NULL), 0);
            cr_assert_eq(dn_mlmodel_train_step(alone[i], &p.b, NULL), 0);
        }
    size_t n = dn_mlmodel_num_params(alone[0]) * sizeof(float);
    for (int i = 0; i < 2; i++) {
        cr_assert(memcmp(dn_mlmodel_params(shared[i]), dn_mlmodel_params(alone[i]), n) == 0,
                  "model %d: a shared team changed the parameters", i);
        dn_mlmodel_destroy(&shared[i]);
        dn_mlmodel_destroy(&alone[i]);
    }
    dn_team_destroy(&team); /* after its borrowers */
    problem_free(&p);
}

/* A context of 1024 (4096 are accepted) needs 2 M^2 floats of attention scratch
 * per head: the model keeps it in its activation buffer, one per part of the
 * batch, never on the stack. A training step at M = 1024 on a thread with a
 * 256 KiB stack (the stack scratch overflowed it, and the 8 MiB default too)
 * gives the same bits as two threads, whose parts run at the same time each on
 * their own scratch. */
typedef struct {
    dn_mlmodel_t *m;
    const dn_mlbatch_t *b;
    int rc_forward, rc_backward;
    float loss;
} step_job_t;

static void *step_job(void *arg)
{
    step_job_t *j = arg;
    j->rc_forward = dn_mlmodel_forward(j->m, j->b, 1, &j->loss);
    j->rc_backward = j->rc_forward ? -1 : dn_mlmodel_backward(j->m);
    return NULL;
}

Test(mlmodel, context_1024_step_on_a_small_stack)
{
    dn_mlconfig_t cfg = small_cfg();
    cfg.context = 1024;
    cfg.max_batch = 2;
    cfg.n_layers = 1;
    cfg.dropout = 0.1f;
    problem_t p;
    problem_make(&p, &cfg, 2, 1024);
    dn_mlmodel_t *one = dn_mlmodel_new(&cfg, 11), *two = dn_mlmodel_new(&cfg, 11);
    cr_assert(one && two);
    cr_assert_eq(dn_mlmodel_set_threads(two, 2), 0);
    step_job_t j = {.m = one, .b = &p.b};
    dn_test_on_small_stack(256 * 1024, step_job, &j);
    cr_assert_eq(j.rc_forward, 0, "forward on the small stack: %d", j.rc_forward);
    cr_assert_eq(j.rc_backward, 0, "backward on the small stack: %d", j.rc_backward);
    cr_assert(isfinite(j.loss), "loss %g", j.loss);
    float l2;
    cr_assert_eq(dn_mlmodel_forward(two, &p.b, 1, &l2), 0);
    cr_assert_eq(dn_mlmodel_backward(two), 0);
    cr_assert(memcmp(&j.loss, &l2, sizeof l2) == 0, "loss %.9g on one thread, %.9g on two",
              j.loss, l2);
    const size_t n = dn_mlmodel_num_params(one);
    const float *g1 = dn_mlmodel_grads(one), *g2 = dn_mlmodel_grads(two);
    size_t bad = 0, first = 0, zero = 0;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&g1[i], &g2[i], sizeof(float)) && !bad++)
            first = i;
        zero += g1[i] == 0.0f || !isfinite(g1[i]);
    }
    cr_assert_eq(bad, 0, "%zu of %zu gradients differ between one and two threads, first %zu: "
                 "%.9g vs %.9g", bad, n, first, g1[first], g2[first]);
    cr_assert(zero < n / 2, "%zu of %zu gradients are zero or not finite", zero, n);
    dn_mlmodel_destroy(&one);
    dn_mlmodel_destroy(&two);
    problem_free(&p);
}
