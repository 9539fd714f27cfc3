/* scorer_s: the DINAMO-S scorer service (docs/pipeline.md), a method of the
 * scorer framework (lib/pipe/scorer.h), which follows the events log as
 * consumer "scorer_s" and appends the Scores and END_OF_STREAM to the log
 * "scores_s" in lockstep or live order.
 *
 * Per histogram key a dn_hz_t (horizon.h) at the key's alpha: the current
 * reference and, with `horizons` (e.g. "50,200" or "500,7d"; default "now",
 * the current reference alone), references frozen N runs or T seconds (by
 * Run.time) ago, `horizon_resolution` snapshots per lag. A run is scored
 * against every horizon: the Score's own chi2, score and pulls are horizon
 * now (with one horizon exactly the single-reference DINAMO-S), one
 * HorizonScore per lagged horizon follows (absent age: no reference that old
 * yet, or no run time); a good label applies dn_hz_update with that run's
 * histogram (the current reference learns; snapshots never do, but with
 * `horizon_accept` q > 0 they follow a change a good label accepted: a good
 * run scored above the q-quantile of the history's good scores, see
 * dn_hz_update). With `alpha` >= 0 every key starts at that alpha. With alpha < 0 (the default) nothing is scored until the
 * first n_hist runs are labelled (or END_OF_STREAM came first: then what
 * there is); alpha is then tuned per key over them with dn_s_tune_alpha, as
 * `dinamo score --n-historical N` does, and the trackers start. A key whose
 * tuning fails, or that first appears after the tuning, has no tracker: its
 * Scores are REJECTED "no reference: why". In lockstep the scores equal
 * `dinamo score --method s --horizons H` exactly, horizon by horizon.
 *
 * With stat_debiasing, each key's current reference scores with statistical
 * debiasing (dinamo_s.h) from the stream dn_s_debias_seed(debiasing_seed,
 * key), in tuning and scoring, so that lockstep scores equal `dinamo score
 * --key K --stat-debiasing 1` (same n_resamples and seed); refused with
 * several horizons. The generator's state is in the tracker's checkpoint.
 *
 * State (in <data_dir>/scorer_s with the framework's): per key alpha, the
 * reason it has no tracker, and the dn_hz_save state (snapshots included, so
 * a restart continues bit-identically; bounded by the horizons' rings);
 * whether alpha is tuned. The checkpoint is "scorer_s" (DNSS, version 3;
 * version 2, a dn_s_save state per key, still loads: each tracker gets the
 * configured horizons with empty rings, positions counted from there). A
 * checkpoint with other horizons than configured keeps each key's current
 * reference and position and starts the horizons as configured, the rings
 * of horizons in both kept (dn_hz_respec), and says so in one line. The held
 * runs are table "scorer_s.held". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinamo_s.h"
#include "histo.h"
#include "horizon.h"
#include "log.h"
#include "node.h"
#include "policy.h"
#include "scorer.h"

enum { SPEC_TEXT_MAX = 256 };

typedef struct s_method_t {
    const dn_policy_t *policy; /* min_entries per key (the node's) */
    double alpha_cfg;          /* < 0: tune */
    int n_hist;                /* runs to tune on */
    double accept_q;           /* horizon_accept: <= 0 off */
    int tuned;                 /* every key of the history started (alpha given or
                                * tuned, acceptance level set): later keys start at
                                * once with alpha given, else are REJECTED */
    dn_hz_spec_t spec;         /* the configured horizons */
    char spec_text[SPEC_TEXT_MAX];
    char name[DN_HZ_MAX][DN_HZ_NAME_MAX];  /* HorizonScore.name of each horizon */
    /* What the last score() pointed the Score's horizons to (lagged only). */
    Dinamo__HorizonScore hs[DN_HZ_MAX - 1];
    Dinamo__HorizonScore *hs_p[DN_HZ_MAX - 1];
    double *rows;              /* pulls, mu, sigma of each lagged horizon */
    size_t rows_cap;
    /* Restored keys whose checkpoint had other horizons (the first such
     * list), and keys from a version 2 checkpoint (no horizons): for the
     * one line load() logs. */
    int keys_respec, keys_v2, ckpt_resolution;
    char ckpt_spec[SPEC_TEXT_MAX];
    int n_resamples;           /* stat_debiasing: draws per bin and run; 0 off */
    uint64_t db_seed;          /* debiasing_seed: key k's stream dn_s_debias_seed(., k) */
} s_method_t;

typedef struct s_key_t {
    const char *key;           /* the framework's copy */
    int n_bins;
    double alpha;              /* NAN until known */
    dn_hz_t *hz;               /* NULL until alpha is known, or when tuning failed */
    char *fail;                /* why there is no tracker, or NULL */
} s_key_t;

static double min_entries(const s_method_t *m, const char *key)
{
    return dn_policy_lookup(m->policy, key, NULL).min_entries;
}

/* Starts the tracker of ks at alpha. Returns 0 or DN_ENOMEM. */
static int key_start(const s_method_t *m, s_key_t *ks, double alpha, dn_err_t *err)
{
    ks->alpha = alpha;
    if (!(ks->hz = dn_hz_new(&m->spec, ks->n_bins, alpha)))
        return dn_err_set(err, DN_ENOMEM, "out of memory: tracker of key '%s'", ks->key);
    dn_hz_set_min_entries(ks->hz, min_entries(m, ks->key));
    if (m->n_resamples > 0)
        return dn_s_set_debiasing(dn_hz_now(ks->hz), m->n_resamples,
                                  dn_s_debias_seed(m->db_seed, ks->key), err);
    return 0;
}

/* ---- keys ------------------------------------------------------------------------ */

static void key_free(void *self, void *state)
{
    (void)self;
    s_key_t *ks = state;
    if (!ks)
        return;
    dn_hz_destroy(&ks->hz);
    free(ks->fail);
    free(ks);
}

static int key_alloc(const char *key, int n_bins, s_key_t **out, dn_err_t *err)
{
    s_key_t *ks = calloc(1, sizeof *ks);
    if (!ks)
        return dn_err_set(err, DN_ENOMEM, "out of memory: key '%s'", key);
    ks->key = key;
    ks->n_bins = n_bins;
    ks->alpha = NAN;
    *out = ks;
    return 0;
}

/* A new key: at the given alpha; without a tracker while alpha is to be
 * tuned; REJECTED for good when it comes after the tuning. */
static int key_new(void *self, const char *key, int n_bins, int64_t run_number, void **state,
                   dn_err_t *err)
{
    s_method_t *m = self;
    s_key_t *ks = NULL;
    int rc = key_alloc(key, n_bins, &ks, err);
    if (!rc && m->tuned && m->alpha_cfg >= 0.0) {
        rc = key_start(m, ks, m->alpha_cfg, err);
        if (!rc && m->spec.n > 1 && m->accept_q > 0.0)
            dn_log(DN_LOG_INFO, "run %lld: histogram '%s': new key after the history: its "
                   "snapshots do not follow accepted changes", (long long)run_number, key);
    } else if (!rc && m->tuned) {
        if (!(ks->fail = strdup("key first seen after alpha tuning")))
            rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        dn_log(DN_LOG_WARN, "run %lld: histogram '%s': new key after alpha tuning: its scores "
               "are REJECTED", (long long)run_number, key);
    }
    if (rc)
        key_free(m, ks);
    else
        *state = ks;
    return rc;
}

/* Per key: alpha, why there is no tracker, and the tracker's dn_hz_save
 * state (empty without a tracker). Version 2 wrote a dn_s_save state in its
 * place; the two are told apart by their magic ("DNHz", "DNSt"). */
static void key_save(void *self, const void *state, dn_wbuf_t *w)
{
    (void)self;
    const s_key_t *ks = state;
    dn_wb_f64(w, ks->alpha);
    dn_wb_str(w, ks->fail, ks->fail ? strlen(ks->fail) : 0);
    size_t sl = ks->hz ? dn_hz_state_size(ks->hz) : 0;
    dn_wb_u32(w, (uint32_t)sl);
    if (sl && !dn_wb_need(w, sl)) {
        dn_hz_save(ks->hz, w->p + w->len, sl);
        w->len += sl;
    }
}

/* The tracker of a version 2 key: its dn_s_t state becomes the current
 * reference of a tracker with the configured horizons and empty rings. */
static int load_v2(s_method_t *m, const unsigned char *b, uint32_t len, dn_hz_t **out,
                   dn_err_t *err)
{
    dn_s_t *s = NULL;
    int rc = dn_s_load(b, len, &s, err);
    if (rc)
        return rc;
    if (!(*out = dn_hz_new(&m->spec, dn_s_n_bins(s), dn_s_alpha(s))))
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
    else
        dn_s_copy(dn_hz_now(*out), s); /* same bins: cannot fail */
    dn_s_destroy(&s);
    m->keys_v2 += !rc;
    return rc;
}

/* A restored tracker with other horizons than configured: respec it. */
static int respec(s_method_t *m, dn_hz_t *hz, dn_err_t *err)
{
    const dn_hz_spec_t *had = dn_hz_spec(hz);
    if (dn_hz_spec_equal(had, &m->spec))
        return 0;
    if (!m->keys_respec++) {
        m->ckpt_resolution = had->resolution;
        if (dn_hz_spec_format(had, m->ckpt_spec, sizeof m->ckpt_spec))
            snprintf(m->ckpt_spec, sizeof m->ckpt_spec, "(%d horizons)", had->n);
    }
    return dn_hz_respec(hz, &m->spec, err);
}

static int key_load(void *self, const char *key, int n_bins, dn_rbuf_t *r, void **state,
                    dn_err_t *err)
{
    s_method_t *m = self;
    s_key_t *ks = NULL;
    int rc = key_alloc(key, n_bins, &ks, err);
    if (rc)
        return rc;
    ks->alpha = dn_rb_f64(r);
    uint32_t fl = 0, sl = 0;
    const unsigned char *fb = dn_rb_str(r, &fl);
    const unsigned char *sb = dn_rb_str(r, &sl);
    if (fl && !(ks->fail = strndup((const char *)fb, fl)))
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
    else if (sl >= 4 && !memcmp(sb, "DNSt", 4))
        rc = load_v2(m, sb, sl, &ks->hz, err);
    else if (sl)
        rc = dn_hz_load(sb, sl, &ks->hz, err);
    if (!rc && ks->hz && dn_s_n_bins(dn_hz_now(ks->hz)) != n_bins)
        rc = dn_err_set(err, DN_EFORMAT, "tracker of %d bins, the key has %d",
                        dn_s_n_bins(dn_hz_now(ks->hz)), n_bins);
    if (!rc && ks->hz)
        rc = respec(m, ks->hz, err);
    if (!rc && ks->hz)
        dn_hz_set_min_entries(ks->hz, min_entries(m, key));
    /* The checkpoint carries the generator, so a restart continues the key's
     * stream; only a changed setting starts the configured one afresh. */
    if (!rc && ks->hz && dn_s_n_resamples(dn_hz_now(ks->hz)) != m->n_resamples) {
        dn_log(DN_LOG_INFO, "histogram '%s': debiasing %d resamples in the checkpoint, %d "
               "configured: its stream restarts", key, dn_s_n_resamples(dn_hz_now(ks->hz)),
               m->n_resamples);
        rc = dn_s_set_debiasing(dn_hz_now(ks->hz), m->n_resamples,
                                dn_s_debias_seed(m->db_seed, key), err);
    }
    if (rc)
        key_free(m, ks);
    else
        *state = ks;
    return rc;
}

/* ---- alpha tuning ------------------------------------------------------------------ */

/* The first n_hist runs are held and labelled, or no more will come. */
static int history_complete(const s_method_t *m, const dn_scorer_t *sc)
{
    if (dn_scorer_end_seen(sc))
        return 1;
    const dn_held_t *last = dn_scorer_held_at(sc, m->n_hist - 1);
    if (!last || last->seq != (uint64_t)(m->n_hist - 1))
        return 0;
    for (int i = 0; i < m->n_hist; i++)
        if (!dn_held_labelled(dn_scorer_held_at(sc, i)))
            return 0;
    return 1;
}

/* Starts key k from the first n held runs; at[i * n_keys + k] is the index
 * of its histogram in run i (-1: none): alpha tuned over them (or the one
 * given), and with horizons the acceptance level. A failed tuning is the
 * key's (REJECTED scores), not the service's; only DN_ENOMEM is returned. */
static int tune_key(s_method_t *m, const dn_scorer_t *sc, int k, const int *at, int n,
                    dn_err_t *err)
{
    s_key_t *ks = dn_scorer_key_state(sc, k);
    int nb = ks->n_bins, n_keys = dn_scorer_key_count(sc), rows = 0, all_var = 1, rc = 0;
    double *counts = malloc(((size_t)n * nb + 1) * sizeof *counts);
    double *vars = malloc(((size_t)n * nb + 1) * sizeof *vars);
    int8_t *labels = malloc((size_t)n + 1);
    if (!counts || !vars || !labels) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory tuning alpha of '%s'", ks->key);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int j = at[(size_t)i * n_keys + k];
        if (j < 0)
            continue;
        const dn_held_t *h = dn_scorer_held_at(sc, i);
        const Dinamo__Histogram *hg = h->env->run->histograms[j];
        memcpy(counts + (size_t)rows * nb, hg->counts, (size_t)nb * sizeof *counts);
        if (hg->n_variances == (size_t)nb)
            memcpy(vars + (size_t)rows * nb, hg->variances, (size_t)nb * sizeof *vars);
        else
            all_var = 0;
        labels[rows++] = h->label[j] == DN_LBL_NONE ? -1 : h->label[j];
    }
    /* variances as a dataset has them: for every run, or none */
    const double *variances = all_var && rows ? vars : NULL;
    double alpha = m->alpha_cfg, auc = NAN, level = NAN;
    dn_err_t why = {0};
    if (alpha < 0.0) {
        rc = dn_s_tune_alpha_debiased(counts, variances, labels, rows, nb,
                                      min_entries(m, ks->key), m->n_resamples,
                                      dn_s_debias_seed(m->db_seed, ks->key), &alpha, &auc,
                                      &why);
        if (rc == DN_ENOMEM) {
            rc = dn_err_set(err, rc, "out of memory tuning alpha of '%s'", ks->key);
            goto done;
        }
        if (rc) {
            char msg[DN_ERRMSG_MAX + 64];
            snprintf(msg, sizeof msg, "cannot tune alpha: %s", why.msg);
            rc = (ks->fail = strdup(msg)) ? 0 : dn_err_set(err, DN_ENOMEM, "out of memory");
            dn_log(DN_LOG_ERROR, "histogram '%s': %s (its scores are REJECTED)", ks->key, msg);
            goto done;
        }
        dn_log(DN_LOG_INFO, "histogram '%s': alpha %.3f tuned on the first %d runs (ROC AUC "
               "%.4f)", ks->key, alpha, rows, auc);
    }
    if ((rc = dn_hz_level_from_runs(counts, variances, labels, rows, nb, alpha,
                                    min_entries(m, ks->key), m->accept_q, &level, err)) ||
        (rc = key_start(m, ks, alpha, err)))
        goto done;
    dn_hz_set_accept_level(ks->hz, level);
    if (m->spec.n > 1 && m->accept_q > 0.0)
        dn_log(DN_LOG_INFO, "histogram '%s': snapshots follow changes accepted above score "
               "%.4f (the %g quantile of the good runs among the first %d)%s", ks->key, level,
               m->accept_q, rows, isnan(level) ? ": none, so never" : "");
done:
    free(counts);
    free(vars);
    free(labels);
    return rc;
}

/* Before the first score: with alpha to be tuned (or, with horizons, the
 * acceptance level to be set), waits for the history, then starts every key
 * from it. One pass over the runs finds each key's histogram
 * (a hashed lookup), so the cost does not grow with keys x histograms. */
static int prepare(void *self, dn_scorer_t *sc, dn_err_t *err)
{
    s_method_t *m = self;
    if (m->tuned)
        return 1;
    if (!history_complete(m, sc))
        return 0;
    int held = dn_scorer_held_count(sc), n = held < m->n_hist ? held : m->n_hist;
    int n_keys = dn_scorer_key_count(sc), rc = 0;
    int *at = malloc(((size_t)n * n_keys + 1) * sizeof *at);
    if (!at)
        return dn_err_set(err, DN_ENOMEM, "out of memory tuning alpha");
    for (size_t i = 0; i < (size_t)n * n_keys; i++)
        at[i] = -1;
    for (int i = 0; i < n; i++) {
        const dn_held_t *h = dn_scorer_held_at(sc, i);
        for (int j = 0; j < h->n_h; j++) {
            int k = dn_scorer_hist_key(sc, h, j);
            if (k >= 0)
                at[(size_t)i * n_keys + k] = j;
        }
    }
    for (int k = 0; k < n_keys && !rc; k++) {
        const s_key_t *ks = dn_scorer_key_state(sc, k);
        if (!ks->hz && !ks->fail)
            rc = tune_key(m, sc, k, at, n, err);
    }
    free(at);
    if (rc)
        return rc;
    m->tuned = 1;
    dn_scorer_touch(sc);
    return 1;
}

/* ---- scoring and learning -------------------------------------------------------------- */

/* Room for pulls, mu and sigma of every lagged horizon of n bins. */
static int rows_for(s_method_t *m, int n, dn_err_t *err)
{
    size_t need = 3 * (size_t)(m->spec.n - 1) * (size_t)n;
    if (need <= m->rows_cap)
        return 0;
    double *p = realloc(m->rows, need * sizeof *p);
    if (!p)
        return dn_err_set(err, DN_ENOMEM, "out of memory scoring %d bins at %d horizons", n,
                          m->spec.n);
    m->rows = p;
    m->rows_cap = need;
    return 0;
}

/* Horizon now into out (the Score's own fields, through the framework),
 * the lagged ones into the Score's horizons (m's memory, until the next
 * call); pulls of every horizon only when the framework asks for them. */
static int score(void *self, void *state, const dn_scorer_hist_t *h, dn_scorer_out_t *out,
                 dn_err_t *err)
{
    s_method_t *m = self;
    s_key_t *ks = state;
    if (!ks->hz)
        return dn_err_set(err, DN_ESTATE, "no reference: %s",
                          ks->fail ? ks->fail : "alpha not tuned");
    const int n_hz = m->spec.n, nb = h->n_bins;
    /* Without memory for the lagged horizons' pulls the run is still scored
     * (the position must advance with every run): only those pulls are left
     * out. */
    dn_err_t why = {0};
    int want = out->pulls != NULL, rc;
    if (want && n_hz > 1 && rows_for(m, nb, &why)) {
        DN_LOG_LIMITED(DN_LOG_WARN, "run %lld: histogram '%s': %s: the horizons' pulls left out",
                       (long long)h->run_number, h->key, why.msg);
        want = 0;
    }
    dn_hz_out_t o = {.pulls = {out->pulls}, .ref_mu = {out->mu}, .ref_sigma = {out->sigma}};
    for (int k = 1; k < n_hz && want; k++) {
        double *row = m->rows + 3 * (size_t)(k - 1) * nb;
        o.pulls[k] = row;
        o.ref_mu[k] = row + nb;
        o.ref_sigma[k] = row + 2 * (size_t)nb;
    }
    out->score->has_alpha = 1;
    out->score->alpha = ks->alpha;
    if ((rc = dn_hz_score(ks->hz, h->counts, h->variances, h->time, &o, err)))
        return rc;
    out->chi2 = o.chi2[0];
    for (int k = 1; k < n_hz; k++) {
        Dinamo__HorizonScore *hs = &m->hs[k - 1];
        dinamo__horizon_score__init(hs);
        hs->name = m->name[k];
        m->hs_p[k - 1] = hs;
        /* a reference that old exists (a finite chi2 then, as for now) */
        if (isnan(o.age[k]) || !isfinite(o.chi2[k]))
            continue;
        hs->has_age = hs->has_chi2 = hs->has_score = 1;
        hs->age = o.age[k];
        hs->chi2 = o.chi2[k];
        hs->score = dn_score_from_chi2(o.chi2[k], nb);
        if (want) {
            hs->n_pulls = hs->n_reference = hs->n_reference_uncertainty = (size_t)nb;
            hs->pulls = o.pulls[k];
            hs->reference = o.ref_mu[k];
            hs->reference_uncertainty = o.ref_sigma[k];
        }
    }
    out->score->n_horizons = (size_t)(n_hz - 1);
    out->score->horizons = n_hz > 1 ? m->hs_p : NULL;
    return 0;
}

static int learn(void *self, void *state, const dn_scorer_hist_t *h, dn_err_t *err)
{
    (void)self;
    (void)err;
    s_key_t *ks = state;
    if (!ks->hz)
        return 0;
    dn_err_t why = {0};
    int rc = dn_hz_update(ks->hz, h->counts, h->variances, &why);
    if (rc && rc != DN_EEMPTY)
        dn_log(DN_LOG_WARN, "run %lld: histogram '%s': update failed: %s",
               (long long)h->run_number, h->key, why.msg);
    return 0;
}

/* ---- the method's own checkpoint part -------------------------------------------------- */

static void save(void *self, dn_wbuf_t *w)
{
    dn_wb_u32(w, (uint32_t)((const s_method_t *)self)->tuned);
}

static int load(void *self, dn_scorer_t *sc, dn_store_t *store, dn_rbuf_t *r, dn_err_t *err)
{
    (void)sc;
    (void)store;
    s_method_t *m = self;
    uint32_t tuned = dn_rb_u32(r);
    if (!r->bad && tuned > 1)
        return dn_err_set(err, DN_EFORMAT, "checkpoint scorer_s: tuned flag %u", tuned);
    m->tuned = (int)tuned;
    if (m->keys_v2)
        dn_log(DN_LOG_INFO, "checkpoint version 2 (no horizons): %d keys start the configured "
               "horizons %s with empty snapshot rings", m->keys_v2, m->spec_text);
    if (m->keys_respec)
        dn_log(DN_LOG_WARN, "horizons: the checkpoint has %s, the configuration %s (resolution "
               "%d, now %d): %d keys keep their current reference and position and the "
               "snapshots of the horizons in both; the others start empty", m->ckpt_spec,
               m->spec_text, m->ckpt_resolution, m->spec.resolution, m->keys_respec);
    return 0;
}

/* ---- the service ----------------------------------------------------------------------- */

static void destroy(void *self)
{
    s_method_t *m = self;
    if (m)
        free(m->rows);
    free(m);
}

/* The horizons from `horizons` and `horizon_resolution`. */
static int read_horizons(dn_node_t *node, s_method_t *m, dn_err_t *err)
{
    int64_t res = 0;
    int rc = dn_node_int(node, "horizon_resolution", 1, 64, &res, err);
    if (rc)
        return rc;
    const char *text = dn_node_str(node, "horizons");
    dn_err_t why = {0};
    if (dn_hz_spec_parse(text, (int)res, &m->spec, &why))
        return dn_err_set(err, DN_EINVAL, "horizons = %s (from %s): %s", text,
                          dn_config_source(dn_node_config(node), "horizons"), why.msg);
    if (dn_hz_spec_format(&m->spec, m->spec_text, sizeof m->spec_text))
        return dn_err_set(err, DN_EINVAL, "horizons = %s: too long", text);
    for (int k = 0; k < m->spec.n; k++)
        dn_hz_name(&m->spec, k, m->name[k], sizeof m->name[k]);
    return 0;
}

static int create(dn_node_t *node, const dn_scorer_opts_t *opts, void **out, dn_err_t *err)
{
    (void)opts;
    s_method_t *m = calloc(1, sizeof *m);
    if (!m)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int64_t n_hist = 0;
    int rc = dn_node_double(node, "alpha", -INFINITY, 1.0, &m->alpha_cfg, err);
    if (!rc && m->alpha_cfg == 1.0)
        rc = dn_err_set(err, DN_EINVAL, "alpha = 1 (from %s): want < 1 (or < 0: tune)",
                        dn_config_source(dn_node_config(node), "alpha"));
    if (!rc)
        rc = dn_node_int(node, "n_hist", 1, INT32_MAX, &n_hist, err);
    if (!rc)
        rc = read_horizons(node, m, err);
    if (!rc)
        rc = dn_node_double(node, "horizon_accept", -INFINITY, 1.0, &m->accept_q, err);
    int64_t n_res = 0, seed = 0;
    if (!rc)
        rc = dn_node_int(node, "n_resamples", 1, DN_S_MAX_RESAMPLES, &n_res, err);
    if (!rc)
        rc = dn_node_int(node, "debiasing_seed", 0, INT64_MAX, &seed, err);
    if (!rc && dn_node_bool(node, "stat_debiasing")) {
        m->n_resamples = (int)n_res;
        m->db_seed = (uint64_t)seed;
        if (m->spec.n > 1)
            rc = dn_err_set(err, DN_EINVAL, "stat_debiasing (from %s) debiases the single "
                            "reference: not with horizons %s",
                            dn_config_source(dn_node_config(node), "stat_debiasing"),
                            m->spec_text);
    }
    if (rc) {
        free(m);
        return rc;
    }
    m->policy = dn_node_policy(node);
    m->n_hist = (int)n_hist;
    /* With horizons the acceptance level needs the history, as alpha does. */
    m->tuned = m->alpha_cfg >= 0.0 && !(m->spec.n > 1 && m->accept_q > 0.0);
    if (m->alpha_cfg >= 0.0)
        dn_log(DN_LOG_INFO, "alpha %g for every key", m->alpha_cfg);
    else
        dn_log(DN_LOG_INFO, "alpha tuned per key on the first %d runs", m->n_hist);
    if (m->n_resamples > 0)
        dn_log(DN_LOG_INFO, "statistical debiasing: %d resamples, seed %llu (per key: "
               "dn_s_debias_seed)", m->n_resamples, (unsigned long long)m->db_seed);
    if (m->spec.n > 1)
        dn_log(DN_LOG_INFO, "horizons now,%s (%d snapshots per lag)%s", m->spec_text,
               m->spec.resolution, dn_hz_spec_has_time(&m->spec)
                                       ? "; runs without a time are not scored at time lags"
                                       : "");
    *out = m;
    return 0;
}

static const dn_scorer_method_t method_s = {
    .method = DINAMO__METHOD__METHOD_S,
    .destroy = destroy, .key_new = key_new, .key_free = key_free, .prepare = prepare,
    .score = score, .learn = learn, .key_save = key_save, .key_load = key_load,
    .save = save, .load = load,
};

static const dn_config_key_t keys[] = {
    {"alpha", DN_CFG_DOUBLE, "-1", "EWMA smoothing; -1: tune per key on the first n_hist runs"},
    {"n_hist", DN_CFG_INT, "1000", "historical runs for alpha tuning"},
    {"horizons", DN_CFG_STRING, "now", "reference horizons: lags in runs (500) or times (7d, "
     "12h, by Run.time) beside the current reference, e.g. 500,7d; now: the current alone"},
    {"horizon_resolution", DN_CFG_INT, "4", "snapshots kept per horizon lag (1 .. 64)"},
    {"horizon_accept", DN_CFG_DOUBLE, "0.99", "snapshots follow a change a good label "
     "accepted: a good run scored above this quantile of the first n_hist runs' good scores "
     "(horizon.h); 0: never"},
    {"stat_debiasing", DN_CFG_BOOL, "false", "DINAMO-S chi2 and pulls averaged over "
     "n_resamples resamplings (the reference implementation's stat_debiasing; dinamo_s.h); "
     "not with horizons"},
    {"n_resamples", DN_CFG_INT, "100", "debiasing: Gaussian resamplings per bin and run "
     "(1 .. 1000000)"},
    {"debiasing_seed", DN_CFG_INT, "22", "debiasing: seed; each key draws from its own "
     "stream of it, the one 'dinamo score --key K --debiasing-seed S' draws"},
};

int main(int argc, char **argv)
{
    const dn_scorer_def_t def = {
        .name = "scorer_s", .log = "scores_s",
        .usage = "Scores every histogram of every run with DINAMO-S (scores_s log).\n",
        .scores = "bind:tcp://127.0.0.1:5552", .scores_requests = "bind:tcp://127.0.0.1:5553",
        .keys = keys, .n_keys = (int)(sizeof keys / sizeof *keys),
        .ckpt_magic = "DNSS", .ckpt_version = 3, .ckpt_version_min = 2, .method = &method_s,
        .create = create,
    };
    return dn_scorer_main(&def, argc, argv);
}
