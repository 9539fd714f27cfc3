/* test_dinamo_ml.c: the DINAMO-ML tracker (SPEC 3) on small dimensions.
 *
 * The tracker is checked against the model API driven by hand: contexts against
 * dn_mlmodel_predict on contexts built here from the spec's rules, training
 * batches against dn_mlmodel_train_step on batches built here (a second model
 * with the same seed must end bit-identical), early stopping against a loop
 * written from the spec. Then the tracker's contract (which runs train, empty and
 * invalid runs, frozen mode, determinism, checkpoints) and a quality smoke test on
 * drifting Gaussian histograms with obvious anomalies. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinamo_ml.h"
#include "histo.h"
#include "mlmodel.h"
#include "rng.h"

#define NB 8
#define M_CTX 4
#define K_RUNS 3

static dn_ml_opts_t small_opts(uint64_t seed)
{
    dn_ml_opts_t o;
    dn_ml_opts_default(&o);
    o.model.n_bins = NB;
    o.model.d_model = 16;
    o.model.n_heads = 2;
    o.model.n_layers = 1;
    o.model.d_ff = 16;
    o.model.context = M_CTX;
    o.batch_runs = K_RUNS;
    o.patience = 5;
    o.max_steps = 1000;
    o.seed = seed;
    return o;
}

/* Counts of a Gaussian of the given mean and width on [0, 1] in nb bins,
 * multinomial with `events` entries. */
static void gauss_hist(double *x, int nb, double mean, double width, uint64_t events,
                       dn_rng_t *rng)
{
    double p[256];
    uint64_t c[256];
    cr_assert(nb <= 256);
    for (int j = 0; j < nb; j++) {
        double z = ((j + 0.5) / nb - mean) / width;
        p[j] = exp(-0.5 * z * z) + 1e-3;
    }
    dn_rng_multinomial(rng, events, p, nb, c);
    for (int j = 0; j < nb; j++)
        x[j] = (double)c[j];
}

/* n_runs histograms of NB bins with a slow drift of the mean. */
static double *make_runs(int n_runs, int nb, uint64_t seed)
{
    double *x = malloc((size_t)n_runs * nb * sizeof(double));
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    for (int i = 0; i < n_runs; i++)
        gauss_hist(x + (size_t)i * nb, nb, 0.45 + 0.002 * i, 0.18, 2000, &rng);
    return x;
}

/* The normalised float row the tracker stores for counts x. */
static void norm_row(float *row, const double *x, int nb)
{
    double xt[256], sx2[256];
    double s = dn_hist_normalise(xt, sx2, x, NULL, nb);
    cr_assert(s > DN_EPS);
    for (int j = 0; j < nb; j++)
        row[j] = (float)xt[j];
}

static size_t first_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float)))
            return i;
    return n;
}

static void assert_same_params(dn_mlmodel_t *a, dn_mlmodel_t *b, const char *what)
{
    size_t n = dn_mlmodel_num_params(a);
    cr_assert_eq(n, dn_mlmodel_num_params(b));
    const float *pa = dn_mlmodel_params(a), *pb = dn_mlmodel_params(b);
    size_t k = first_diff(pa, pb, n);
    cr_assert(k == n, "%s: parameter %zu of %zu differs: %.9g vs %.9g", what, k, n,
              (double)pa[k < n ? k : 0], (double)pb[k < n ? k : 0]);
}

/* ---- contexts -------------------------------------------------------------- */

/* Scores run `r` through the tracker and through dn_mlmodel_predict on a context
 * built here from the learned runs (indices idx[0..n), counts x rows); the
 * mu_hat / sigma_hat must agree bit for bit, chi2 to 1e-12. */
static void check_context(dn_ml_t *ml, int64_t r, const double *xr, const int64_t *idx,
                          const double *x, int n)
{
    float ctx[M_CTX * NB], times[M_CTX], mu[NB], sig[NB];
    int last = n - 1;
    while (last >= 0 && idx[last] >= r)
        last--;
    for (int g = 0; g < M_CTX; g++) {
        int pos = last - M_CTX + 1 + g;
        if (pos < 0) {
            for (int j = 0; j < NB; j++)
                ctx[g * NB + j] = 0.01f;
            times[g] = -100.0f;
        } else {
            norm_row(ctx + g * NB, x + (size_t)pos * NB, NB);
            times[g] = (float)(idx[pos] - r);
        }
    }
    cr_assert_eq(dn_mlmodel_predict(dn_ml_model(ml), ctx, times, mu, sig), 0);
    double chi2, pulls[NB], rmu[NB], rsig[NB];
    dn_err_t err;
    int rc = dn_ml_score(ml, r, xr, NULL, &chi2, pulls, rmu, rsig, &err);
    cr_assert_eq(rc, 0, "score run %lld: %s", (long long)r, err.msg);
    double xt[NB], sx2[NB], want = 0.0;
    dn_hist_normalise(xt, sx2, xr, NULL, NB);
    for (int j = 0; j < NB; j++) {
        cr_assert(rmu[j] == (double)mu[j] && rsig[j] == (double)sig[j],
                  "run %lld bin %d: tracker mu/sigma %.9g/%.9g, hand-built context "
                  "%.9g/%.9g", (long long)r, j, rmu[j], rsig[j], (double)mu[j],
                  (double)sig[j]);
        double den = sx2[j] + (double)sig[j] * sig[j];
        double pull = (xt[j] - mu[j]) / sqrt(den);
        cr_assert(fabs(pulls[j] - pull) <= 1e-12 * fmax(1.0, fabs(pull)),
                  "pull %d: %.17g vs %.17g", j, pulls[j], pull);
        want += (xt[j] - mu[j]) * (xt[j] - mu[j]) / den;
    }
    cr_assert(fabs(chi2 - want) <= 1e-12 * want, "chi2 %.17g, by hand %.17g", chi2, want);
}

Test(dinamo_ml, context_matches_hand_built)
{
    dn_ml_opts_t o = small_opts(11);
    dn_ml_t *ml = dn_ml_new(&o);
    cr_assert_not_null(ml);
    const int n = 7;
    double *x = make_runs(n + 1, NB, 5);
    int64_t idx[] = {2, 3, 7, 8, 12, 20, 21};
    const double *xr = x + (size_t)n * NB;
    /* nothing learned: all padding */
    check_context(ml, 5, xr, idx, x, 0);
    for (int i = 0; i < n; i++) {
        int steps;
        float loss;
        dn_err_t err;
        cr_assert_eq(dn_ml_learn(ml, idx[i], x + (size_t)i * NB, NULL, &steps, &loss, &err),
                     0, "%s", err.msg);
        cr_assert(steps >= 1 && isfinite(loss), "run %d: %d steps, loss %g", i, steps,
                  (double)loss);
        /* after 1..n good runs: a run after all of them, padded while D is small */
        check_context(ml, idx[i] + 3, xr, idx, x, i + 1);
    }
    /* runs between and before the learned ones (scoring need not be in order) */
    int64_t probes[] = {0, 2, 3, 8, 9, 13, 21, 22, 1000};
    for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++)
        check_context(ml, probes[k], xr, idx, x, n);
    dn_ml_destroy(&ml);
    cr_assert_null(ml);
    free(x);
}

Test(dinamo_ml, context_outside_buffer_is_state_error)
{
    dn_ml_opts_t o = small_opts(3);
    dn_ml_t *ml = dn_ml_new(&o);
    dn_ml_set_frozen(ml, 1);
    const int n = M_CTX + K_RUNS + 2; /* two runs have left the ring */
    double *x = make_runs(n, NB, 9);
    for (int i = 0; i < n; i++)
        cr_assert_eq(dn_ml_learn(ml, 10 * i, x + (size_t)i * NB, NULL, NULL, NULL, NULL), 0);
    double chi2, mu[NB];
    dn_err_t err;
    /* context of run 5 would be D position 0 alone (gone) */
    int rc = dn_ml_score(ml, 5, x, NULL, &chi2, NULL, mu, NULL, &err);
    cr_assert_eq(rc, DN_ESTATE, "rc %d", rc);
    cr_assert(isnan(chi2) && isnan(mu[0]));
    /* run 45 needs positions 1..4: position 1 is gone too */
    cr_assert_eq(dn_ml_score(ml, 45, x, NULL, &chi2, NULL, NULL, NULL, &err), DN_ESTATE);
    /* run 55 needs positions 2..5: kept */
    cr_assert_eq(dn_ml_score(ml, 55, x, NULL, &chi2, NULL, NULL, NULL, &err), 0, "%s",
                 err.msg);
    dn_ml_destroy(&ml);
    free(x);
}

/* ---- training batches ------------------------------------------------------ */

/* Hand-built batch of the K' newest of the n runs learned (indices idx, counts x),
 * in the layout dinamo_ml.h documents, written here straight from SPEC 3. */
typedef struct {
    float hist[(M_CTX + K_RUNS + 1) * NB];
    float target[K_RUNS * NB];
    int32_t tok[K_RUNS * M_CTX];
    float time[K_RUNS * M_CTX];
    dn_mlbatch_t b;
} hand_batch_t;

static void hand_batch(hand_batch_t *hb, const int64_t *idx, const double *x, int n)
{
    int kb = n < K_RUNS ? n : K_RUNS;
    int first = n - kb;
    int pad = first - M_CTX < 0;
    int lo = pad ? 0 : first - M_CTX;
    int U = 0;
    if (pad) {
        for (int j = 0; j < NB; j++)
            hb->hist[j] = 0.01f;
        U = 1;
    }
    for (int p = lo; p <= n - 2; p++)
        norm_row(hb->hist + (size_t)U++ * NB, x + (size_t)p * NB, NB);
    for (int k = 0; k < kb; k++) {
        int q = first + k;
        norm_row(hb->target + (size_t)k * NB, x + (size_t)q * NB, NB);
        for (int g = 0; g < M_CTX; g++) {
            int p = q - M_CTX + g; /* its M predecessors in D, oldest first */
            hb->tok[k * M_CTX + g] = p < 0 ? 0 : pad + (p - lo);
            hb->time[k * M_CTX + g] = p < 0 ? -100.0f : (float)(idx[p] - idx[q]);
        }
    }
    hb->b = (dn_mlbatch_t){.n_hist = U, .batch = kb, .hist = hb->hist,
                           .tok_index = hb->tok, .tok_time = hb->time,
                           .target = hb->target};
}

/* One step per learn through the tracker vs train steps on hand-built batches of a
 * second model with the same seed: parameters bit-identical after every run, in
 * the padded regime (D small) and the full one. */
Test(dinamo_ml, batch_matches_hand_built)
{
    dn_ml_opts_t o = small_opts(21);
    o.max_steps = 1;
    dn_ml_t *ml = dn_ml_new(&o);
    dn_mlmodel_t *ref = dn_mlmodel_new(dn_mlmodel_config(dn_ml_model(ml)), 21);
    cr_assert(ml && ref);
    assert_same_params(dn_ml_model(ml), ref, "fresh");
    const int n = 10;
    double *x = make_runs(n, NB, 17);
    int64_t idx[10];
    for (int i = 0; i < n; i++)
        idx[i] = 3 * i + (i % 2) + (i > 6 ? 40 : 0);
    hand_batch_t hb;
    for (int i = 0; i < n; i++) {
        int steps;
        float loss, ref_loss;
        dn_err_t err;
        cr_assert_eq(dn_ml_learn(ml, idx[i], x + (size_t)i * NB, NULL, &steps, &loss, &err),
                     0, "%s", err.msg);
        cr_assert_eq(steps, 1);
        hand_batch(&hb, idx, x, i + 1);
        cr_assert_eq(dn_mlmodel_train_step(ref, &hb.b, &ref_loss), 0);
        cr_assert(memcmp(&loss, &ref_loss, sizeof loss) == 0,
                  "run %d: loss %.9g, hand-built batch %.9g", i, (double)loss,
                  (double)ref_loss);
        char what[64];
        snprintf(what, sizeof what, "after run %d (U %d, B %d)", i, hb.b.n_hist,
                 hb.b.batch);
        assert_same_params(dn_ml_model(ml), ref, what);
    }
    cr_assert_eq(dn_ml_version(ml), n);
    cr_assert_eq(dn_ml_n_good(ml), n);
    dn_ml_destroy(&ml);
    dn_mlmodel_destroy(&ref);
    free(x);
}

/* ---- early stopping --------------------------------------------------------- */

/* With lr 0 and no dropout the loss never changes: the first step improves on
 * +inf and the next `patience` steps do not, so exactly patience + 1 steps. */
Test(dinamo_ml, early_stop_constant_loss)
{
    const int patience[] = {1, 2, 5, 9};
    double *x = make_runs(3, NB, 2);
    for (size_t t = 0; t < sizeof patience / sizeof patience[0]; t++) {
        dn_ml_opts_t o = small_opts(1);
        o.model.lr = 0.0f;
        o.model.dropout = 0.0f;
        o.patience = patience[t];
        dn_ml_t *ml = dn_ml_new(&o);
        for (int i = 0; i < 3; i++) {
            int steps = -1;
            cr_assert_eq(dn_ml_learn(ml, i, x + (size_t)i * NB, NULL, &steps, NULL, NULL), 0);
            cr_assert_eq(steps, patience[t] + 1, "patience %d: %d steps", patience[t], steps);
        }
        dn_ml_destroy(&ml);
    }
    /* max_steps caps it */
    dn_ml_opts_t o = small_opts(1);
    o.model.lr = 0.0f;
    o.patience = 50;
    o.max_steps = 7;
    dn_ml_t *ml = dn_ml_new(&o);
    int steps = -1;
    cr_assert_eq(dn_ml_learn(ml, 0, x, NULL, &steps, NULL, NULL), 0);
    cr_assert_eq(steps, 7, "max_steps 7: %d steps", steps);
    dn_ml_destroy(&ml);
    free(x);
}

/* With training on: the tracker's step count and final parameters equal those of a
 * loop written from the spec over recorded losses, on the same batches. Also the
 * recorded losses themselves must show the rule: the last `patience` losses are
 * not below the best before them, and no earlier window of `patience` is. */
Test(dinamo_ml, early_stop_matches_recorded_losses)
{
    const int patience[] = {1, 3, 5};
    double *x = make_runs(6, NB, 44);
    int64_t idx[6] = {0, 1, 2, 3, 4, 5};
    for (size_t t = 0; t < sizeof patience / sizeof patience[0]; t++) {
        dn_ml_opts_t o = small_opts(5);
        o.patience = patience[t];
        o.max_steps = 400;
        dn_ml_t *ml = dn_ml_new(&o);
        dn_mlmodel_t *ref = dn_mlmodel_new(dn_mlmodel_config(dn_ml_model(ml)), 5);
        hand_batch_t hb;
        int total = 0, stopped_early = 0;
        for (int i = 0; i < 6; i++) {
            int steps;
            float loss;
            cr_assert_eq(dn_ml_learn(ml, idx[i], x + (size_t)i * NB, NULL, &steps, &loss,
                                     NULL), 0);
            hand_batch(&hb, idx, x, i + 1);
            float losses[400];
            int s = 0;
            for (;;) {
                cr_assert_eq(dn_mlmodel_train_step(ref, &hb.b, &losses[s]), 0);
                s++;
                /* stop when the last `patience` losses are all >= the best before */
                if (s > patience[t]) {
                    float best = INFINITY;
                    for (int k = 0; k < s - patience[t]; k++)
                        best = fminf(best, losses[k]);
                    int stale = 1;
                    for (int k = s - patience[t]; k < s; k++)
                        stale &= !(losses[k] < best), best = fminf(best, losses[k]);
                    if (stale)
                        break;
                }
                if (s == 400)
                    break;
            }
            cr_assert_eq(steps, s, "patience %d run %d: tracker %d steps, recorded loop %d",
                         patience[t], i, steps, s);
            cr_assert(memcmp(&loss, &losses[s - 1], sizeof loss) == 0,
                      "last loss %.9g vs %.9g", (double)loss, (double)losses[s - 1]);
            cr_log_info("patience %d run %d: %d steps", patience[t], i, s);
            cr_assert(s > patience[t], "patience %d: %d steps", patience[t], s);
            total += s;
            stopped_early += s < 400;
        }
        cr_assert(stopped_early >= 3, "patience %d: only %d of 6 runs stopped before "
                  "max_steps", patience[t], stopped_early);
        assert_same_params(dn_ml_model(ml), ref, "after early-stopped training");
        cr_assert_eq(dn_mlmodel_step_count(dn_ml_model(ml)), total);
        dn_ml_destroy(&ml);
        dn_mlmodel_destroy(&ref);
    }
    free(x);
}

/* ---- which runs train ------------------------------------------------------- */

Test(dinamo_ml, bad_and_unknown_runs_never_train)
{
    dn_ml_opts_t o = small_opts(8);
    o.max_steps = 20;
    dn_ml_t *ml = dn_ml_new(&o);
    dn_mlmodel_t *snap = dn_mlmodel_new(dn_mlmodel_config(dn_ml_model(ml)), 999);
    const int n = 12;
    double *x = make_runs(n, NB, 31);
    int8_t labels[12] = {0, 1, -1, 0, 1, 1, -1, 0, -1, 1, 0, 1};
    double chi2[12];
    size_t np = dn_mlmodel_num_params(snap);
    for (int i = 0; i < n; i++) {
        memcpy(dn_mlmodel_params(snap), dn_mlmodel_params(dn_ml_model(ml)), np * 4);
        int64_t v = dn_ml_version(ml), g = dn_ml_n_good(ml);
        dn_err_t err;
        cr_assert_eq(dn_ml_step(ml, i, x + (size_t)i * NB, NULL, labels[i] == 0, chi2 + i,
                                NULL, NULL, NULL, &err), 0, "%s", err.msg);
        cr_assert(isfinite(chi2[i]));
        if (labels[i] == 0) {
            cr_assert_eq(dn_ml_version(ml), v + 1);
            cr_assert_eq(dn_ml_n_good(ml), g + 1);
        } else {
            cr_assert_eq(dn_ml_version(ml), v, "label %d trained", labels[i]);
            cr_assert_eq(dn_ml_n_good(ml), g, "label %d joined D", labels[i]);
            assert_same_params(dn_ml_model(ml), snap, "after a non-good run");
        }
        if (i == 0)
            cr_assert_eq(dn_ml_n_good(ml), 1);
    }
    dn_ml_destroy(&ml);
    dn_mlmodel_destroy(&snap);
    free(x);
}

Test(dinamo_ml, run_steps_only_good_runs)
{
    dn_ml_opts_t o = small_opts(8);
    o.max_steps = 20;
    dn_ml_t *ml = dn_ml_new(&o);
    const int n = 12;
    double *x = make_runs(n, NB, 31);
    int8_t labels[12] = {0, 1, -1, 0, 1, 1, -1, 0, -1, 1, 0, 1};
    double chi2[12];
    int steps[12];
    memset(x + 5 * NB, 0, NB * sizeof(double)); /* run 5: empty */
    x[8 * NB + 3] = -1.0;                         /* run 8: invalid */
    labels[5] = 0;
    dn_err_t err;
    int rc = dn_ml_run(ml, x, NULL, labels, n, chi2, NULL, NULL, NULL, steps, NULL, NULL, &err);
    cr_assert_eq(rc, DN_ERANGE, "rc %d", rc);
    cr_assert(strstr(err.msg, "run 8") && strstr(err.msg, "bin 3"), "message: %s", err.msg);
    int good = 0;
    for (int i = 0; i < n; i++) {
        int trains = labels[i] == 0 && i != 5;
        good += trains;
        cr_assert(trains ? steps[i] >= 1 : steps[i] == 0, "run %d label %d: %d steps", i,
                  labels[i], steps[i]);
        cr_assert(i == 5 || i == 8 ? isnan(chi2[i]) : isfinite(chi2[i]), "run %d chi2 %g",
                  i, chi2[i]);
    }
    cr_assert_eq(dn_ml_n_good(ml), good);
    cr_assert_eq(dn_ml_version(ml), good);
    dn_ml_destroy(&ml);
    free(x);
}

static void count_progress(void *ctx, int done, int total)
{
    int *c = ctx;
    cr_assert(done > c[1] && done <= total, "progress %d of %d after %d", done, total, c[1]);
    c[0]++;
    c[1] = done;
}

Test(dinamo_ml, run_outputs_and_progress)
{
    dn_ml_opts_t o = small_opts(4);
    o.max_steps = 3;
    dn_ml_t *a = dn_ml_new(&o), *b = dn_ml_new(&o);
    dn_ml_set_frozen(a, 1);
    dn_ml_set_frozen(b, 1);
    const int n = 250;
    double *x = make_runs(n, NB, 77);
    int8_t *lab = malloc(n);
    for (int i = 0; i < n; i++)
        lab[i] = (int8_t)(i % 5 == 3 ? 1 : 0);
    double *chi2 = malloc(n * sizeof(double));
    double *mu = malloc((size_t)n * NB * sizeof(double)), *sg = malloc((size_t)n * NB * 8),
           *pl = malloc((size_t)n * NB * 8);
    int prog[2] = {0, 0};
    cr_assert_eq(dn_ml_run(a, x, NULL, lab, n, chi2, mu, sg, pl, NULL, count_progress, prog, NULL),
                 0);
    cr_assert_eq(prog[0], 3, "progress calls %d", prog[0]);
    cr_assert_eq(prog[1], n);
    /* the same through dn_ml_step one by one */
    for (int i = 0; i < n; i++) {
        double c, m[NB], s[NB], p[NB];
        cr_assert_eq(dn_ml_step(b, i, x + (size_t)i * NB, NULL, lab[i] == 0, &c, p, m, s,
                                NULL), 0);
        cr_assert(c == chi2[i], "run %d chi2 %.17g vs %.17g", i, c, chi2[i]);
        cr_assert(!memcmp(m, mu + (size_t)i * NB, sizeof m) &&
                  !memcmp(s, sg + (size_t)i * NB, sizeof s) &&
                  !memcmp(p, pl + (size_t)i * NB, sizeof p), "run %d rows differ", i);
        double sum = 0.0;
        for (int j = 0; j < NB; j++)
            sum += m[j];
        cr_assert(fabs(sum - 1.0) < 1e-5, "run %d: mu_hat sums to %.9g", i, sum);
    }
    dn_ml_destroy(&a);
    dn_ml_destroy(&b);
    free(x);
    free(lab);
    free(chi2);
    free(mu);
    free(sg);
    free(pl);
}

/* ---- bad input -------------------------------------------------------------- */

Test(dinamo_ml, empty_and_invalid_histograms)
{
    dn_ml_opts_t o = small_opts(2);
    o.max_steps = 5;
    dn_ml_t *ml = dn_ml_new(&o);
    double *x = make_runs(3, NB, 1);
    double zero[NB] = {0}, bad[NB];
    memcpy(bad, x, sizeof bad);
    bad[2] = NAN;
    cr_assert_eq(dn_ml_learn(ml, 0, x, NULL, NULL, NULL, NULL), 0);
    double chi2 = 0, mu[NB], pulls[NB];
    dn_err_t err;
    int steps = -1;
    float loss = 0;
    cr_assert_eq(dn_ml_score(ml, 1, zero, NULL, &chi2, pulls, mu, NULL, &err), DN_EEMPTY);
    cr_assert(isnan(chi2) && isnan(mu[0]) && isnan(pulls[NB - 1]));
    cr_assert_eq(dn_ml_learn(ml, 1, zero, NULL, &steps, &loss, &err), DN_EEMPTY);
    cr_assert(steps == 0 && isnan(loss));
    cr_assert_eq(dn_ml_step(ml, 1, zero, NULL, 1, &chi2, NULL, NULL, NULL, &err), DN_EEMPTY);
    cr_assert_eq(dn_ml_n_good(ml), 1, "empty run was added");
    cr_assert_eq(dn_ml_version(ml), 1);
    cr_assert_eq(dn_ml_learn(ml, 1, bad, NULL, NULL, NULL, &err), DN_ERANGE);
    cr_assert(strstr(err.msg, "bin 2"), "message: %s", err.msg);
    cr_assert_eq(dn_ml_score(ml, 1, bad, NULL, &chi2, NULL, NULL, NULL, &err), DN_ERANGE);
    double var[NB];
    for (int j = 0; j < NB; j++)
        var[j] = x[j];
    var[4] = -1.0;
    cr_assert_eq(dn_ml_score(ml, 1, x, var, &chi2, NULL, NULL, NULL, &err), DN_ERANGE);
    cr_assert_eq(dn_ml_n_good(ml), 1);
    /* a run not after the last learned one */
    cr_assert_eq(dn_ml_learn(ml, 0, x + NB, NULL, &steps, NULL, &err), DN_EINVAL);
    cr_assert(steps == 0 && dn_ml_n_good(ml) == 1);
    cr_assert_eq(dn_ml_learn(ml, -5, x + NB, NULL, NULL, NULL, &err), DN_EINVAL);
    cr_assert_eq(dn_ml_learn(ml, 1, x + NB, NULL, NULL, NULL, &err), 0);
    cr_assert_eq(dn_ml_n_good(ml), 2);
    dn_ml_destroy(&ml);
    free(x);
}

Test(dinamo_ml, bad_options)
{
    dn_ml_opts_t o = small_opts(1);
    o.batch_runs = 0;
    cr_assert_null(dn_ml_new(&o));
    o = small_opts(1);
    o.patience = 0;
    cr_assert_null(dn_ml_new(&o));
    o = small_opts(1);
    o.max_steps = 0;
    cr_assert_null(dn_ml_new(&o));
    o = small_opts(1);
    o.model.n_heads = 3; /* 16 is not a multiple */
    dn_err_t err;
    cr_assert_eq(dn_ml_opts_check(&o, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "n_heads"), "message: %s", err.msg);
    cr_assert_null(dn_ml_new(&o));
    cr_assert_null(dn_ml_new(NULL));
    o = small_opts(1);
    o.model.max_batch = 1; /* ignored: the tracker sizes the model */
    dn_ml_t *ml = dn_ml_new(&o);
    cr_assert_not_null(ml);
    cr_assert_eq(dn_mlmodel_config(dn_ml_model(ml))->max_batch, K_RUNS);
    cr_assert_eq(dn_mlmodel_config(dn_ml_model(ml))->max_hist, K_RUNS + M_CTX);
    dn_ml_destroy(&ml);
    dn_ml_destroy(&ml);
    dn_ml_destroy(NULL);
}

/* ---- frozen ----------------------------------------------------------------- */

Test(dinamo_ml, frozen_takes_no_steps)
{
    dn_ml_opts_t o = small_opts(6);
    dn_ml_t *ml = dn_ml_new(&o), *fresh = dn_ml_new(&o);
    dn_ml_set_frozen(ml, 1);
    cr_assert(dn_ml_frozen(ml));
    double *x = make_runs(20, NB, 6);
    double chi2[20];
    int8_t lab[20] = {0};
    int steps[20];
    cr_assert_eq(dn_ml_run(ml, x, NULL, lab, 20, chi2, NULL, NULL, NULL, steps, NULL, NULL, NULL), 0);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(steps[i], 0, "run %d: %d steps while frozen", i, steps[i]);
    cr_assert_eq(dn_ml_version(ml), 0);
    cr_assert_eq(dn_ml_n_good(ml), 20);
    cr_assert_eq(dn_mlmodel_step_count(dn_ml_model(ml)), 0);
    assert_same_params(dn_ml_model(ml), dn_ml_model(fresh), "frozen");
    /* the good runs were recorded: contexts differ from a tracker that saw none */
    double c_ml, c_fresh;
    cr_assert_eq(dn_ml_score(ml, 20, x, NULL, &c_ml, NULL, NULL, NULL, NULL), 0);
    cr_assert_eq(dn_ml_score(fresh, 20, x, NULL, &c_fresh, NULL, NULL, NULL, NULL), 0);
    cr_assert(c_ml != c_fresh, "frozen tracker ignored its good runs (chi2 %.17g)", c_ml);
    /* unfreezing trains again */
    dn_ml_set_frozen(ml, 0);
    int s;
    cr_assert_eq(dn_ml_learn(ml, 20, x, NULL, &s, NULL, NULL), 0);
    cr_assert(s >= 1 && dn_ml_version(ml) == 1);
    dn_ml_destroy(&ml);
    dn_ml_destroy(&fresh);
    free(x);
}

/* The step hook (the trainer renews its lease in it) is called after every
 * step, changes nothing the tracker computes, and an error from it stops the
 * training at once with the hook's code. */
typedef struct {
    int calls, fail_at;
} hook_count_t;

static int count_steps(void *ctx, dn_err_t *err)
{
    hook_count_t *h = ctx;
    if (++h->calls == h->fail_at)
        return dn_err_set(err, DN_ESTATE, "hook: stop at step %d", h->calls);
    return 0;
}

Test(dinamo_ml, step_hook_runs_every_step_and_can_stop_training)
{
    dn_ml_opts_t o = small_opts(8);
    dn_ml_t *hooked = dn_ml_new(&o), *plain = dn_ml_new(&o);
    cr_assert(hooked && plain);
    hook_count_t h = {0, 0};
    dn_ml_set_step_hook(hooked, count_steps, &h);
    double *x = make_runs(6, NB, 8);
    int total = 0;
    for (int i = 0; i < 6; i++) {
        int s1 = 0, s2 = 0;
        float l1, l2;
        cr_assert_eq(dn_ml_learn(hooked, i, x + (size_t)i * NB, NULL, &s1, &l1, NULL), 0);
        cr_assert_eq(dn_ml_learn(plain, i, x + (size_t)i * NB, NULL, &s2, &l2, NULL), 0);
        cr_assert(s1 == s2 && memcmp(&l1, &l2, sizeof l1) == 0,
                  "run %d: %d steps, loss %.9g with the hook; %d, %.9g without", i, s1,
                  (double)l1, s2, (double)l2);
        total += s1;
    }
    cr_assert(total > 6);
    cr_assert_eq(h.calls, total, "hook called %d times for %d steps", h.calls, total);
    assert_same_params(dn_ml_model(hooked), dn_ml_model(plain), "with a hook");
    /* a failing hook: training stops after that step, the run stays in D */
    h = (hook_count_t){0, 2};
    int steps = 0;
    dn_err_t err = {0};
    cr_assert_eq(dn_ml_learn(hooked, 6, x, NULL, &steps, NULL, &err), DN_ESTATE);
    cr_assert_eq(steps, 2, "%d steps taken after the hook failed at step 2", steps);
    cr_assert(strstr(err.msg, "hook: stop at step 2"), "error: %s", err.msg);
    cr_assert_eq(dn_ml_n_good(hooked), 7);
    dn_ml_destroy(&hooked);
    dn_ml_destroy(&plain);
    free(x);
}

/* ---- determinism and checkpoints ----------------------------------------------- */

static int8_t *mixed_labels(int n)
{
    int8_t *l = malloc(n);
    for (int i = 0; i < n; i++)
        l[i] = (int8_t)(i % 7 == 4 ? 1 : i % 11 == 6 ? -1 : 0);
    return l;
}

Test(dinamo_ml, same_seed_bit_identical)
{
    const int n = 60;
    dn_ml_opts_t o = small_opts(123);
    o.max_steps = 40;
    double *x = make_runs(n, NB, 60);
    int8_t *lab = mixed_labels(n);
    double c[3][60];
    int steps[3][60];
    for (int r = 0; r < 3; r++) {
        if (r == 2)
            o.seed = 124;
        dn_ml_t *ml = dn_ml_new(&o);
        cr_assert_eq(dn_ml_run(ml, x, NULL, lab, n, c[r], NULL, NULL, NULL, steps[r], NULL, NULL,
                               NULL), 0);
        dn_ml_destroy(&ml);
    }
    int differ = 0;
    for (int i = 0; i < n; i++) {
        cr_assert(memcmp(&c[0][i], &c[1][i], sizeof(double)) == 0 &&
                  steps[0][i] == steps[1][i], "run %d: chi2 %.17g vs %.17g, steps %d vs %d",
                  i, c[0][i], c[1][i], steps[0][i], steps[1][i]);
        differ += c[0][i] != c[2][i];
    }
    cr_assert(differ > n / 2, "another seed gave the same scores on %d of %d runs",
              n - differ, n);
    free(x);
    free(lab);
}

Test(dinamo_ml, save_restore_continues_bit_identically)
{
    const int n = 60;
    const int cuts[] = {0, 2, 5, 31};
    dn_ml_opts_t o = small_opts(77);
    o.max_steps = 30;
    double *x = make_runs(n, NB, 61);
    int8_t *lab = mixed_labels(n);
    for (size_t t = 0; t < sizeof cuts / sizeof cuts[0]; t++) {
        int cut = cuts[t];
        dn_ml_t *a = dn_ml_new(&o), *b = NULL;
        double ca[60], cb[60];
        int sa[60], sb[60];
        cr_assert_eq(dn_ml_run(a, x, NULL, lab, cut, ca, NULL, NULL, NULL, sa, NULL, NULL, NULL), 0);
        size_t sz = dn_ml_state_size(a);
        unsigned char *buf = malloc(sz);
        cr_assert_eq(dn_ml_save(a, buf, sz - 1), DN_EINVAL);
        cr_assert_eq(dn_ml_save(a, buf, sz), 0);
        dn_err_t err;
        cr_assert_eq(dn_ml_load(buf, sz, &b, &err), 0, "cut %d: %s", cut, err.msg);
        cr_assert_eq(dn_ml_version(b), dn_ml_version(a));
        cr_assert_eq(dn_ml_n_good(b), dn_ml_n_good(a));
        assert_same_params(dn_ml_model(a), dn_ml_model(b), "restored");
        /* continue both: the run indices go on from `cut` */
        for (int i = cut; i < n; i++) {
            const double *xi = x + (size_t)i * NB;
            cr_assert_eq(dn_ml_score(a, i, xi, NULL, &ca[i], NULL, NULL, NULL, NULL), 0);
            cr_assert_eq(dn_ml_score(b, i, xi, NULL, &cb[i], NULL, NULL, NULL, NULL), 0);
            sa[i] = sb[i] = 0;
            if (lab[i] == 0) {
                cr_assert_eq(dn_ml_learn(a, i, xi, NULL, &sa[i], NULL, NULL), 0);
                cr_assert_eq(dn_ml_learn(b, i, xi, NULL, &sb[i], NULL, NULL), 0);
            }
            cr_assert(memcmp(&ca[i], &cb[i], sizeof(double)) == 0 && sa[i] == sb[i],
                      "cut %d run %d: chi2 %.17g vs restored %.17g, steps %d vs %d", cut, i,
                      ca[i], cb[i], sa[i], sb[i]);
        }
        assert_same_params(dn_ml_model(a), dn_ml_model(b), "continued");
        /* a second save of each is byte-identical */
        size_t sz2 = dn_ml_state_size(a);
        cr_assert_eq(sz2, dn_ml_state_size(b));
        unsigned char *s1 = malloc(sz2), *s2 = malloc(sz2);
        dn_ml_save(a, s1, sz2);
        dn_ml_save(b, s2, sz2);
        cr_assert(memcmp(s1, s2, sz2) == 0, "cut %d: final states differ", cut);
        free(s1);
        free(s2);
        free(buf);
        dn_ml_destroy(&a);
        dn_ml_destroy(&b);
    }
    free(x);
    free(lab);
}

Test(dinamo_ml, load_rejects_bad_blobs)
{
    dn_ml_opts_t o = small_opts(9);
    o.max_steps = 5;
    dn_ml_t *a = dn_ml_new(&o);
    double *x = make_runs(12, NB, 12);
    int8_t lab[12] = {0};
    double c[12];
    cr_assert_eq(dn_ml_run(a, x, NULL, lab, 12, c, NULL, NULL, NULL, NULL, NULL, NULL, NULL), 0);
    size_t sz = dn_ml_state_size(a);
    unsigned char *buf = malloc(sz), *bad = malloc(sz + 8);
    cr_assert_eq(dn_ml_save(a, buf, sz), 0);
    dn_ml_t *sentinel = (dn_ml_t *)buf, *out = sentinel;
    dn_err_t err;
    /* truncations, including inside the header, the ring and the model state */
    size_t cuts[] = {0, 3, 16, 127, 128, 129, 128 + 5 * (8 + 4 * NB), sz / 2, sz - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        int rc = dn_ml_load(buf, cuts[k], &out, &err);
        cr_assert_eq(rc, DN_EFORMAT, "truncated to %zu of %zu: rc %d", cuts[k], sz, rc);
        cr_assert(out == sentinel);
    }
    memcpy(bad, buf, sz);
    cr_assert_eq(dn_ml_load(bad, sz + 8, &out, &err), DN_EFORMAT, "trailing bytes");
    /* single flipped bits anywhere */
    size_t flips[] = {0, 5, 9, 13, 20, 70, 90, 100, 110, 121, 130, 200, sz / 3, sz - 1};
    for (size_t k = 0; k < sizeof flips / sizeof flips[0]; k++) {
        memcpy(bad, buf, sz);
        bad[flips[k]] ^= 0x10;
        int rc = dn_ml_load(bad, sz, &out, &err);
        cr_assert(rc == DN_EFORMAT || rc == DN_EMISMATCH,
                  "bit flip at byte %zu of %zu accepted (rc %d)", flips[k], sz, rc);
        cr_assert(out == sentinel);
    }
    /* the model state of another architecture, with a valid outer hash */
    dn_ml_opts_t o2 = small_opts(9);
    o2.model.d_ff = 24;
    dn_ml_t *other = dn_ml_new(&o2);
    cr_assert_eq(dn_ml_learn(other, 0, x, NULL, NULL, NULL, NULL), 0);
    size_t sz2 = dn_ml_state_size(other);
    unsigned char *b2 = malloc(sz2);
    cr_assert_eq(dn_ml_save(other, b2, sz2), 0);
    /* claim d_ff 16 in the outer header, rehash: the model state must refuse */
    b2[32] = 16;
    uint32_t h = 2166136261u;
    for (size_t i = 16; i < sz2; i++) {
        h ^= b2[i];
        h *= 16777619u;
    }
    for (int k = 0; k < 4; k++)
        b2[12 + k] = (unsigned char)(h >> (8 * k));
    int rc = dn_ml_load(b2, sz2, &out, &err);
    cr_assert_eq(rc, DN_EMISMATCH, "rc %d: %s", rc, err.msg);
    cr_assert(out == sentinel);
    /* and the intact blob still loads */
    cr_assert_eq(dn_ml_load(buf, sz, &out, &err), 0, "%s", err.msg);
    cr_assert(out != sentinel);
    dn_ml_destroy(&out);
    dn_ml_destroy(&other);
    dn_ml_destroy(&a);
    free(b2);
    free(buf);
    free(bad);
    free(x);
}

/* ---- quality smoke test ------------------------------------------------------- */

/* Drifting Gaussian histograms (20 bins) with every 6th run an obvious anomaly
 * (mean shifted by a width, or width doubled, or a dead region). After a warm-up
 * of 30 runs, bad runs must score (log chi2/N_b) higher than good ones on
 * average by at least 1.5, and the median good score must be modest. */
Test(dinamo_ml, quality_smoke, .timeout = 120)
{
    const int n = 120, nb = 20;
    dn_ml_opts_t o = small_opts(2024);
    o.model.n_bins = nb;
    o.model.d_model = 32;
    o.model.n_heads = 4;
    o.model.d_ff = 32;
    o.model.context = 6;
    o.batch_runs = 4;
    o.max_steps = 300;
    dn_ml_t *ml = dn_ml_new(&o);
    double *x = malloc((size_t)n * nb * sizeof(double));
    int8_t *lab = malloc(n);
    dn_rng_t rng;
    dn_rng_seed(&rng, 4242);
    for (int i = 0; i < n; i++) {
        double mean = 0.4 + 0.1 * i / n, width = 0.12;
        lab[i] = (int8_t)(i % 6 == 5);
        double *xi = x + (size_t)i * nb;
        if (lab[i] && i % 3 == 0)
            mean += width;
        else if (lab[i] && i % 3 == 1)
            width *= 2.0;
        gauss_hist(xi, nb, mean, width, 5000, &rng);
        if (lab[i] && i % 3 == 2)
            for (int j = 7; j < 11; j++)
                xi[j] = 0.0;
    }
    double *chi2 = malloc(n * sizeof(double));
    int *steps = malloc(n * sizeof(int));
    dn_err_t err;
    cr_assert_eq(dn_ml_run(ml, x, NULL, lab, n, chi2, NULL, NULL, NULL, steps, NULL, NULL, &err), 0,
                 "%s", err.msg);
    double sg = 0, sb = 0;
    int ng = 0, nbad = 0, total_steps = 0, trained = 0;
    double good_scores[120];
    for (int i = 0; i < n; i++) {
        if (steps[i]) {
            total_steps += steps[i];
            trained++;
        }
        if (i < 30)
            continue;
        double s = dn_score_from_chi2(chi2[i], nb);
        if (lab[i]) {
            sb += s;
            nbad++;
        } else {
            good_scores[ng] = s;
            sg += s;
            ng++;
        }
    }
    sg /= ng;
    sb /= nbad;
    cr_log_info("quality: mean score good %.3f bad %.3f (%d/%d runs), %.1f steps per good run",
                sg, sb, ng, nbad, (double)total_steps / trained);
    cr_assert(sb - sg > 1.5, "bad runs score %.3f, good %.3f: margin %.3f < 1.5", sb, sg,
              sb - sg);
    /* every bad run above the median good run */
    int below = 0;
    for (int i = 30; i < n; i++)
        if (lab[i]) {
            int above = 0;
            for (int k = 0; k < ng; k++)
                above += dn_score_from_chi2(chi2[i], nb) > good_scores[k];
            below += above < ng / 2;
        }
    cr_assert_eq(below, 0, "%d bad runs score below the median good run", below);
    dn_ml_destroy(&ml);
    free(x);
    free(lab);
    free(chi2);
    free(steps);
}
