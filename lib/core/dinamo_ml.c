/* dinamo_ml.c: the DINAMO-ML tracker of dinamo_ml.h (SPEC 3).
 *
 * State: the model, and the last R = M+K runs of the good-run set D in a ring of
 * normalised float rows (D position p lives in slot p % R) with their run
 * indices. That is exactly what the next training batch reads (the K newest runs
 * and the M before the oldest of them) and what the context of a run after the
 * newest good run reads (the M newest).
 *
 * A training batch is built once per learn() into `bhist`, one contiguous copy of
 * the rows it needs: [padding row when used][D runs lo .. n-1]. The batch's
 * distinct histograms are the first U rows (everything but the newest run, which
 * no context contains) and its targets are the K' newest rows of the same buffer,
 * so nothing is copied twice. Inference materialises one context of M rows
 * and runs dn_mlmodel_predict. Every buffer is allocated by dn_ml_new.
 *
 * Invariants: n_good counts the runs of D; ring_idx of the kept entries strictly
 * increases with D position; last_index is the newest learned index (meaningless
 * while n_good == 0); version counts learn() calls that took training steps. */
#include "dinamo_ml.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "histo.h"

struct dn_ml_t {
    dn_ml_opts_t opts;
    dn_mlmodel_t *model;
    int nb, M, K, R;
    int frozen;
    double min_entries;  /* policy: fewer entries are insufficient (not state) */
    int64_t version, n_good, last_index;
    float *ring;         /* [R][nb] normalised good runs */
    int64_t *ring_idx;   /* [R] their run indices */
    float *bhist;        /* [R+1][nb] batch rows: padding + D runs lo .. n-1 */
    int32_t *tok_index;  /* [K*M] */
    float *tok_time;     /* [K*M] */
    float *ctx;          /* [M][nb] one inference context */
    float *ctx_time;     /* [M] */
    float *mu_f, *sig_f; /* [nb] prediction */
    double *xt, *sx2, *mu_d, *sig_d; /* [nb] */
    int (*step_hook)(void *ctx, dn_err_t *err); /* not state (dn_ml_set_step_hook) */
    void *step_ctx;
};

void dn_ml_opts_default(dn_ml_opts_t *o)
{
    memset(o, 0, sizeof *o);
    dn_mlconfig_default(&o->model);
    o->batch_runs = 10;
    o->patience = 5;
    o->max_steps = 1000;
    o->seed = 0;
}

/* The model config the tracker uses: sized for K contexts over K+M rows. */
static void sized_config(dn_mlconfig_t *c, const dn_ml_opts_t *o)
{
    *c = o->model;
    c->max_batch = o->batch_runs;
    c->max_hist = o->batch_runs + o->model.context;
}

int dn_ml_opts_check(const dn_ml_opts_t *o, dn_err_t *err)
{
    if (!o)
        return dn_err_set(err, DN_EINVAL, "dinamo_ml: NULL options");
    if (o->batch_runs < 1 || o->batch_runs > 65536)
        return dn_err_set(err, DN_EINVAL, "dinamo_ml: batch_runs %d not in [1, 65536]",
                          o->batch_runs);
    if (o->patience < 1)
        return dn_err_set(err, DN_EINVAL, "dinamo_ml: patience %d < 1", o->patience);
    if (o->max_steps < 1)
        return dn_err_set(err, DN_EINVAL, "dinamo_ml: max_steps %d < 1", o->max_steps);
    dn_mlconfig_t c;
    sized_config(&c, o);
    return dn_mlconfig_check(&c, err);
}

dn_ml_t *dn_ml_new(const dn_ml_opts_t *o)
{
    if (dn_ml_opts_check(o, NULL))
        return NULL;
    dn_ml_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->opts = *o;
    sized_config(&self->opts.model, o);
    const int nb = o->model.n_bins, M = o->model.context, K = o->batch_runs;
    self->nb = nb;
    self->M = M;
    self->K = K;
    self->R = M + K;
    self->model = dn_mlmodel_new(&self->opts.model, o->seed);
    const size_t R = (size_t)self->R, n = (size_t)nb;
    self->ring = malloc(R * n * sizeof(float));
    self->ring_idx = malloc(R * sizeof(int64_t));
    self->bhist = malloc((R + 1) * n * sizeof(float));
    self->tok_index = malloc((size_t)K * M * sizeof(int32_t));
    self->tok_time = malloc((size_t)K * M * sizeof(float));
    self->ctx = malloc((size_t)M * n * sizeof(float));
    self->ctx_time = malloc((size_t)M * sizeof(float));
    self->mu_f = malloc(2 * n * sizeof(float));
    self->xt = malloc(4 * n * sizeof(double));
    if (!self->model || !self->ring || !self->ring_idx || !self->bhist ||
        !self->tok_index || !self->tok_time || !self->ctx || !self->ctx_time ||
        !self->mu_f || !self->xt) {
        dn_ml_destroy(&self);
        return NULL;
    }
    self->sig_f = self->mu_f + n;
    self->sx2 = self->xt + n;
    self->mu_d = self->xt + 2 * n;
    self->sig_d = self->xt + 3 * n;
    return self;
}

int dn_ml_new_for(const dn_ml_setup_t *s, dn_ml_t **out, dn_err_t *err)
{
    int rc = 0;
    dn_ml_opts_t mo;
    dn_ml_opts_default(&mo);
    mo.model.n_bins = s->n_bins;
    mo.seed = s->seed;
    dn_ml_t *ml = NULL;
    if ((rc = dn_ml_opts_check(&mo, err)))
        goto fail;
    if (!(ml = dn_ml_new(&mo))) {
        rc = dn_err_set(err, DN_ENOMEM, "cannot create a DINAMO-ML tracker for %d bins",
                        s->n_bins);
        goto fail;
    }
    if (s->team)
        dn_mlmodel_share_team(dn_ml_model(ml), s->team);
    else if (s->threads > 1 && (rc = dn_mlmodel_set_threads(dn_ml_model(ml), s->threads))) {
        rc = dn_err_set(err, rc, "DINAMO-ML: cannot run on %d threads (1..%d)", s->threads,
                        DN_ML_MAX_THREADS);
        goto fail;
    }
    if (s->weights && (rc = dn_mlmodel_import_any(dn_ml_model(ml), s->weights,
                                                  s->weights_len, err)))
        goto fail;
    dn_ml_set_frozen(ml, s->frozen);
    dn_ml_set_min_entries(ml, s->min_entries);
    *out = ml;
    return 0;
fail:
    dn_ml_destroy(&ml);
    *out = NULL;
    return rc;
}

void dn_ml_destroy(dn_ml_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_ml_t *self = *self_p;
    dn_mlmodel_destroy(&self->model);
    free(self->ring);
    free(self->ring_idx);
    free(self->bhist);
    free(self->tok_index);
    free(self->tok_time);
    free(self->ctx);
    free(self->ctx_time);
    free(self->mu_f);
    free(self->xt);
    free(self);
    *self_p = NULL;
}

const dn_ml_opts_t *dn_ml_opts(const dn_ml_t *self) { return &self->opts; }
void dn_ml_set_frozen(dn_ml_t *self, int frozen) { self->frozen = frozen != 0; }

void dn_ml_set_step_hook(dn_ml_t *self, int (*hook)(void *ctx, dn_err_t *err), void *ctx)
{
    self->step_hook = hook;
    self->step_ctx = ctx;
}

void dn_ml_set_min_entries(dn_ml_t *self, double min_entries)
{
    self->min_entries = min_entries > 0 ? min_entries : 0;
}
int dn_ml_frozen(const dn_ml_t *self) { return self->frozen; }
dn_mlmodel_t *dn_ml_model(dn_ml_t *self) { return self->model; }
int64_t dn_ml_version(const dn_ml_t *self) { return self->version; }
int64_t dn_ml_n_good(const dn_ml_t *self) { return self->n_good; }

/* ---- histograms ----------------------------------------------------------- */

static void fill_nan(double *v, int n)
{
    if (v)
        for (int j = 0; j < n; j++)
            v[j] = NAN;
}

/* Validates x (and var) and normalises into self->xt, self->sx2 (double).
 * Returns 0, DN_EEMPTY or DN_ERANGE. */
static int ml_normalise(dn_ml_t *self, const double *x, const double *var, dn_err_t *err)
{
    int bad;
    double sum = dn_hist_sum_checked(x, self->nb, &bad);
    if (bad)
        return dn_hist_explain_bad(x, var, self->nb, err);
    if (var) {
        int rc = dn_hist_check(x, var, self->nb, err);
        if (rc != DN_OK)
            return rc;
    }
    int rc = dn_hist_insufficient(sum, self->min_entries, err);
    if (rc)
        return rc;
    dn_hist_normalise_with_sum(self->xt, self->sx2, x, var, sum, self->nb);
    return DN_OK;
}

static inline float *ring_row(const dn_ml_t *self, int64_t pos)
{
    return self->ring + (size_t)(pos % self->R) * self->nb;
}

static inline int64_t ring_index(const dn_ml_t *self, int64_t pos)
{
    return self->ring_idx[pos % self->R];
}

/* ---- scoring -------------------------------------------------------------- */

/* Context of run `run_index` into ctx/ctx_time: D positions last-M+1 .. last where
 * `last` is the newest kept position with index < run_index (-1: none). */
static int build_context(dn_ml_t *self, int64_t run_index, dn_err_t *err)
{
    const int M = self->M, nb = self->nb;
    const int64_t n = self->n_good;
    const int64_t oldest = n > self->R ? n - self->R : 0;
    int64_t last = n - 1;
    while (last >= oldest && ring_index(self, last) >= run_index)
        last--;
    if (last < oldest && oldest > 0)
        return dn_err_set(err, DN_ESTATE, "run %lld: every kept good run is later; its "
                          "context left the buffer", (long long)run_index);
    if (last - M + 1 < oldest && oldest > 0)
        return dn_err_set(err, DN_ESTATE, "run %lld: its context reaches good runs older "
                          "than the buffer keeps", (long long)run_index);
    for (int g = 0; g < M; g++) {
        int64_t pos = last - M + 1 + g;
        float *row = self->ctx + (size_t)g * nb;
        if (pos < 0) {
            for (int j = 0; j < nb; j++)
                row[j] = DN_ML_PAD_VALUE;
            self->ctx_time[g] = DN_ML_PAD_TIME;
        } else {
            memcpy(row, ring_row(self, pos), (size_t)nb * sizeof(float));
            self->ctx_time[g] = (float)(ring_index(self, pos) - run_index);
        }
    }
    return DN_OK;
}

int dn_ml_score(dn_ml_t *self, int64_t run_index, const double *x, const double *var,
                double *chi2, double *pulls, double *ref_mu, double *ref_sigma,
                dn_err_t *err)
{
    const int nb = self ? self->nb : 0;
    int rc;
    if (!self || !x || !chi2) {
        rc = dn_err_set(err, DN_EINVAL, "dn_ml_score: NULL tracker, counts or chi2");
        goto fail;
    }
    rc = ml_normalise(self, x, var, err);
    if (rc)
        goto fail;
    rc = build_context(self, run_index, err);
    if (rc)
        goto fail;
    rc = dn_mlmodel_predict(self->model, self->ctx, self->ctx_time, self->mu_f,
                            self->sig_f);
    if (rc) {
        dn_err_set(err, rc, "run %lld: model prediction failed (%s)",
                   (long long)run_index, dn_strerror(rc));
        goto fail;
    }
    for (int j = 0; j < nb; j++) {
        self->mu_d[j] = self->mu_f[j];
        self->sig_d[j] = self->sig_f[j];
    }
    *chi2 = dn_hist_chi2(pulls, self->xt, self->sx2, self->mu_d, self->sig_d, nb);
    if (ref_mu)
        memcpy(ref_mu, self->mu_d, (size_t)nb * sizeof(double));
    if (ref_sigma)
        memcpy(ref_sigma, self->sig_d, (size_t)nb * sizeof(double));
    return DN_OK;
fail:
    if (chi2)
        *chi2 = NAN;
    fill_nan(pulls, nb);
    fill_nan(ref_mu, nb);
    fill_nan(ref_sigma, nb);
    return rc;
}

/* ---- learning ------------------------------------------------------------- */

/* The batch of the K' = min(K, n) newest runs of D (layout in dinamo_ml.h). */
static void build_batch(dn_ml_t *self, dn_mlbatch_t *b)
{
    const int M = self->M, nb = self->nb;
    const int64_t n = self->n_good;
    const int kb = n < self->K ? (int)n : self->K;
    const int64_t first = n - kb;          /* oldest batch run */
    const int pad = first - M < 0;
    const int64_t lo = pad ? 0 : first - M; /* oldest run any context uses */
    float *rows = self->bhist;
    if (pad) {
        for (int j = 0; j < nb; j++)
            rows[j] = DN_ML_PAD_VALUE;
        rows += nb;
    }
    for (int64_t pos = lo; pos < n; pos++)
        memcpy(rows + (size_t)(pos - lo) * nb, ring_row(self, pos),
               (size_t)nb * sizeof(float));
    for (int k = 0; k < kb; k++) {
        const int64_t q = first + k, tq = ring_index(self, q);
        for (int g = 0; g < M; g++) {
            const int64_t pos = q - M + g;
            const int t = k * M + g;
            if (pos < 0) {
                self->tok_index[t] = 0;
                self->tok_time[t] = DN_ML_PAD_TIME;
            } else {
                self->tok_index[t] = (int32_t)(pad + (pos - lo));
                self->tok_time[t] = (float)(ring_index(self, pos) - tq);
            }
        }
    }
    b->n_hist = pad + (int)(n - 1 - lo);
    b->batch = kb;
    b->hist = self->bhist;
    b->tok_index = self->tok_index;
    b->tok_time = self->tok_time;
    b->target = rows + (size_t)(first - lo) * nb;
}

int dn_ml_learn(dn_ml_t *self, int64_t run_index, const double *x, const double *var,
                int *steps_out, float *loss_out, dn_err_t *err)
{
    int steps = 0, rc;
    float last_loss = NAN;
    if (!self || !x) {
        rc = dn_err_set(err, DN_EINVAL, "dn_ml_learn: NULL tracker or counts");
        goto out;
    }
    if (self->n_good > 0 && run_index <= self->last_index) {
        rc = dn_err_set(err, DN_EINVAL, "dn_ml_learn: run %lld is not after the last "
                        "learned run %lld", (long long)run_index,
                        (long long)self->last_index);
        goto out;
    }
    rc = ml_normalise(self, x, var, err);
    if (rc)
        goto out;
    float *row = ring_row(self, self->n_good);
    for (int j = 0; j < self->nb; j++)
        row[j] = (float)self->xt[j];
    self->ring_idx[self->n_good % self->R] = run_index;
    self->n_good++;
    self->last_index = run_index;
    if (self->frozen)
        goto out;

    dn_mlbatch_t b;
    build_batch(self, &b);
    float best = INFINITY;
    int since_best = 0;
    while (steps < self->opts.max_steps) {
        float loss;
        rc = dn_mlmodel_train_step(self->model, &b, &loss);
        if (rc) {
            dn_err_set(err, rc, "run %lld: training step %d failed (%s)",
                       (long long)run_index, steps + 1, dn_strerror(rc));
            break;
        }
        steps++;
        last_loss = loss;
        if (self->step_hook && (rc = self->step_hook(self->step_ctx, err)))
            break;
        if (loss < best) {
            best = loss;
            since_best = 0;
        } else if (++since_best >= self->opts.patience) {
            break;
        }
    }
    if (steps > 0)
        self->version++;
out:
    if (steps_out)
        *steps_out = steps;
    if (loss_out)
        *loss_out = last_loss;
    return rc;
}

int dn_ml_step(dn_ml_t *self, int64_t run_index, const double *x, const double *var,
               int good, double *chi2, double *pulls, double *ref_mu,
               double *ref_sigma, dn_err_t *err)
{
    int rc = dn_ml_score(self, run_index, x, var, chi2, pulls, ref_mu, ref_sigma, err);
    if (rc || !good)
        return rc;
    return dn_ml_learn(self, run_index, x, var, NULL, NULL, err);
}

int dn_ml_run(dn_ml_t *self, const double *counts, const double *variances,
              const int8_t *labels, int n_runs,
              double *chi2_out, double *ref_mu_out, double *ref_sigma_out,
              double *pulls_out, int *steps_out,
              void (*progress)(void *ctx, int done, int total), void *progress_ctx,
              dn_err_t *err)
{
    if (!self || n_runs < 0 || (n_runs > 0 && (!counts || !labels || !chi2_out)))
        return dn_err_set(err, DN_EINVAL, "dn_ml_run: n_runs %d with missing arrays",
                          n_runs);
    const size_t nb = (size_t)self->nb;
    int first_rc = DN_OK;
    dn_err_t run_err;
    for (int i = 0; i < n_runs; i++) {
        const size_t off = (size_t)i * nb;
        int steps = 0;
        const double *var = variances ? variances + off : NULL;
        int rc = dn_ml_score(self, i, counts + off, var, chi2_out + i,
                             pulls_out ? pulls_out + off : NULL,
                             ref_mu_out ? ref_mu_out + off : NULL,
                             ref_sigma_out ? ref_sigma_out + off : NULL, &run_err);
        if (rc == DN_OK && labels[i] == 0)
            rc = dn_ml_learn(self, i, counts + off, var, &steps, NULL, &run_err);
        if (steps_out)
            steps_out[i] = steps;
        if (rc == DN_ERANGE) {
            if (first_rc == DN_OK) {
                dn_err_prefix(&run_err, "run %d", i);
                if (err)
                    *err = run_err;
                first_rc = rc;
            }
        } else if (rc != DN_OK && rc != DN_EEMPTY) {
            dn_err_prefix(&run_err, "run %d", i);
            if (err)
                *err = run_err;
            return rc;
        }
        if (progress && ((i + 1) % 100 == 0 || i + 1 == n_runs))
            progress(progress_ctx, i + 1, n_runs);
    }
    return first_rc;
}

/* ---- checkpoints ---------------------------------------------------------- */

enum { STATE_VERSION = 1, STATE_HEADER = 128 };
static const unsigned char STATE_MAGIC[4] = {'D', 'N', 'M', 't'};

static int64_t kept_entries(const dn_ml_t *self)
{
    return self->n_good < self->R ? self->n_good : self->R;
}

static size_t entry_size(int nb) { return 8 + 4 * (size_t)nb; }

size_t dn_ml_state_size(const dn_ml_t *self)
{
    return STATE_HEADER + (size_t)kept_entries(self) * entry_size(self->nb) +
           dn_mlmodel_state_size(self->model);
}

int dn_ml_save(const dn_ml_t *self, void *buf, size_t cap)
{
    if (!self || !buf || cap < dn_ml_state_size(self))
        return DN_EINVAL;
    unsigned char *h = buf;
    const dn_mlconfig_t *c = &self->opts.model;
    const size_t total = dn_ml_state_size(self);
    const size_t model_bytes = dn_mlmodel_state_size(self->model);
    memcpy(h, STATE_MAGIC, 4);
    dn_put_u32(h + 4, STATE_VERSION);
    dn_put_u32(h + 8, STATE_HEADER);
    const int arch[7] = {c->n_bins, c->d_model, c->n_heads, c->n_layers, c->d_ff,
                         c->context, c->activation};
    for (int k = 0; k < 7; k++)
        dn_put_u32(h + 16 + 4 * k, (uint32_t)arch[k]);
    const float hyper[6] = {c->dropout, c->lr, c->beta1, c->beta2, c->eps,
                            c->weight_decay};
    for (int k = 0; k < 6; k++)
        dn_put_f32(h + 44 + 4 * k, hyper[k]);
    dn_put_u32(h + 68, (uint32_t)self->opts.batch_runs);
    dn_put_u32(h + 72, (uint32_t)self->opts.patience);
    dn_put_u32(h + 76, (uint32_t)self->opts.max_steps);
    dn_put_u32(h + 80, (uint32_t)self->frozen);
    dn_put_u32(h + 84, 0);
    dn_put_u64(h + 88, self->opts.seed);
    dn_put_u64(h + 96, (uint64_t)self->version);
    dn_put_u64(h + 104, (uint64_t)self->n_good);
    dn_put_u64(h + 112, (uint64_t)self->last_index);
    dn_put_u64(h + 120, model_bytes);
    unsigned char *p = h + STATE_HEADER;
    const int64_t E = kept_entries(self);
    for (int64_t pos = self->n_good - E; pos < self->n_good; pos++) {
        dn_put_u64(p, (uint64_t)ring_index(self, pos));
        const float *row = ring_row(self, pos);
        for (int j = 0; j < self->nb; j++)
            dn_put_f32(p + 8 + 4 * (size_t)j, row[j]);
        p += entry_size(self->nb);
    }
    int rc = dn_mlmodel_save_state(self->model, p, model_bytes);
    if (rc)
        return rc;
    dn_put_u32(h + 12, dn_fnv1a32(h + 16, total - 16));
    return DN_OK;
}

int dn_ml_load(const void *buf, size_t n, dn_ml_t **out, dn_err_t *err)
{
    const unsigned char *h = buf;
    dn_ml_t *self = NULL;
    int rc;
    if (!buf || !out)
        return dn_err_set(err, DN_EINVAL, "dn_ml_load: NULL buffer or output");
    if (n < STATE_HEADER)
        return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: %zu bytes, shorter than its "
                          "%d-byte header", n, STATE_HEADER);
    if (memcmp(h, STATE_MAGIC, 4))
        return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: bad magic (not a DNMt blob)");
    if (dn_get_u32(h + 4) != STATE_VERSION || dn_get_u32(h + 8) != STATE_HEADER)
        return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: version %u header %u, "
                          "expected %d and %d", dn_get_u32(h + 4), dn_get_u32(h + 8),
                          STATE_VERSION, STATE_HEADER);
    if (dn_fnv1a32(h + 16, n - 16) != dn_get_u32(h + 12))
        return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: hash mismatch (truncated or "
                          "corrupted, %zu bytes)", n);
    dn_ml_opts_t o;
    dn_ml_opts_default(&o);
    dn_mlconfig_t *c = &o.model;
    int *arch[7] = {&c->n_bins, &c->d_model, &c->n_heads, &c->n_layers, &c->d_ff,
                    &c->context, &c->activation};
    for (int k = 0; k < 7; k++) {
        uint32_t v = dn_get_u32(h + 16 + 4 * k);
        if (v > (1u << 30))
            return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: architecture field %d "
                              "is %u", k, v);
        *arch[k] = (int)v;
    }
    float *hyper[6] = {&c->dropout, &c->lr, &c->beta1, &c->beta2, &c->eps,
                       &c->weight_decay};
    for (int k = 0; k < 6; k++)
        *hyper[k] = dn_get_f32(h + 44 + 4 * k);
    int *ints[3] = {&o.batch_runs, &o.patience, &o.max_steps};
    for (int k = 0; k < 3; k++) {
        uint32_t v = dn_get_u32(h + 68 + 4 * k);
        if (v > (1u << 30))
            return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: option field %d is %u",
                              k, v);
        *ints[k] = (int)v;
    }
    const uint32_t frozen = dn_get_u32(h + 80);
    o.seed = dn_get_u64(h + 88);
    dn_err_t e2;
    if (frozen > 1 || dn_get_u32(h + 84) != 0)
        return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: bad frozen flag %u", frozen);
    if (dn_ml_opts_check(&o, &e2))
        return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: options: %s", e2.msg);
    const int64_t version = (int64_t)dn_get_u64(h + 96);
    const int64_t n_good = (int64_t)dn_get_u64(h + 104);
    const int64_t last_index = (int64_t)dn_get_u64(h + 112);
    const uint64_t model_bytes = dn_get_u64(h + 120);
    if (n_good < 0 || version < 0 || version > n_good)
        return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: counters n_good %lld, "
                          "version %lld", (long long)n_good, (long long)version);
    /* sizes first, so that a short blob cannot make us allocate a huge model */
    const uint64_t want_model = 96 + 12 * (uint64_t)dn_mlconfig_num_params(c);
    const int64_t R = (int64_t)o.batch_runs + c->context;
    const uint64_t want = STATE_HEADER + (uint64_t)(n_good < R ? n_good : R) *
                          entry_size(c->n_bins) + model_bytes;
    if (model_bytes != want_model)
        return dn_err_set(err, DN_EMISMATCH, "dinamo_ml state: model state of %llu bytes, "
                          "the architecture needs %llu", (unsigned long long)model_bytes,
                          (unsigned long long)want_model);
    if (n != want)
        return dn_err_set(err, DN_EFORMAT, "dinamo_ml state: %zu bytes, expected %llu", n,
                          (unsigned long long)want);
    self = dn_ml_new(&o);
    if (!self)
        return dn_err_set(err, DN_ENOMEM, "dinamo_ml state: cannot allocate the tracker");
    self->frozen = (int)frozen;
    self->version = version;
    self->n_good = n_good;
    self->last_index = last_index;
    const int64_t E = kept_entries(self);
    const size_t es = entry_size(self->nb);
    if (model_bytes != dn_mlmodel_state_size(self->model)) { /* the formula above */
        rc = dn_err_set(err, DN_EMISMATCH, "dinamo_ml state: model state of %llu bytes, "
                        "the model needs %zu", (unsigned long long)model_bytes,
                        dn_mlmodel_state_size(self->model));
        goto fail;
    }
    const unsigned char *p = h + STATE_HEADER;
    for (int64_t e = 0; e < E; e++, p += es) {
        const int64_t pos = n_good - E + e;
        const int64_t idx = (int64_t)dn_get_u64(p);
        if ((e > 0 && idx <= ring_index(self, pos - 1)) ||
            (e == E - 1 && idx != last_index)) {
            rc = dn_err_set(err, DN_EFORMAT, "dinamo_ml state: good run %lld has index "
                            "%lld out of order", (long long)pos, (long long)idx);
            goto fail;
        }
        self->ring_idx[pos % self->R] = idx;
        float *row = ring_row(self, pos);
        for (int j = 0; j < self->nb; j++) {
            row[j] = dn_get_f32(p + 8 + 4 * (size_t)j);
            if (!isfinite(row[j]) || row[j] < 0.0f) {
                rc = dn_err_set(err, DN_ERANGE, "dinamo_ml state: good run %lld bin %d "
                                "is %g", (long long)pos, j, (double)row[j]);
                goto fail;
            }
        }
    }
    rc = dn_mlmodel_load_state(self->model, p, (size_t)model_bytes, err);
    if (rc) {
        dn_err_prefix(err, "dinamo_ml state");
        goto fail;
    }
    *out = self;
    return DN_OK;
fail:
    dn_ml_destroy(&self);
    return rc;
}
