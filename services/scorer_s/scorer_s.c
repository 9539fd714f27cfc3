/* scorer_s: the DINAMO-S scorer service (docs/pipeline.md).
 *
 * Follows the events log (runs, labels, END_OF_STREAM) as consumer "scorer_s"
 * and appends one Score per (run, histogram) to its own durable log
 * "scores_s", then END_OF_STREAM after the last run's scores. Per histogram key
 * a dn_s_t tracker; a good label applies dn_s_update with that run's histogram.
 *
 * Lockstep (default): run i is scored only when the labels of every histogram
 * of every earlier run have been applied, so the scores equal `dinamo score
 * --method s` exactly. With alpha < 0 the first n_hist runs are held until all
 * their labels arrived; alpha is then tuned per key with dn_s_tune_alpha over
 * them (or over what there is at END_OF_STREAM), as `dinamo score
 * --n-historical N` does. Live: runs are scored as they come (after tuning) and
 * labels applied as they arrive.
 *
 * State (all in <data_dir>/scorer_s, LMDB with DN_STORE_NOSYNC, synced every
 * tick): the "scores_s" log, the checkpoint "scorer_s" (follower next, flags,
 * per key the bin count, alpha and dn_s_save state) and table
 * "scorer_s.held" (run_seq -> held run: label states and the encoded Run
 * envelope). Every round commits appended scores, checkpoint and held-run
 * changes in one batch, so a kill -9 anywhere restarts exactly where the
 * last commit left, producing the same entries at the same offsets. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bus.h"
#include "bytes.h"
#include "config.h"
#include "dinamo_s.h"
#include "held.h"
#include "histo.h"
#include "log.h"
#include "msg.h"
#include "policy.h"
#include "service.h"
#include "store.h"
#include "stream.h"

#define HELD_TABLE "scorer_s.held"
#define CKPT_NAME "scorer_s"
#define CKPT_MAGIC "DNSS"
#define CKPT_VERSION 1u

typedef struct hkey_t {
    char *key;
    int n_bins;
    double alpha;             /* NAN until known */
    dn_s_t *s;                /* NULL until alpha known; or tuning failed */
    char *fail;               /* why there is no tracker (tuning failed), or NULL */
} hkey_t;

typedef struct scorer_t {
    /* configuration */
    dn_policy_t *policy; /* min_entries per key */
    int live;
    double alpha_cfg;
    int n_hist;
    int pulls;
    /* plumbing */
    dn_service_t *svc;
    dn_store_t *store;
    dn_sock_t *sub, *push, *pub, *pull;
    dn_source_t *source;
    dn_follower_t *follower;
    dn_store_batch_t *batch;
    /* state */
    hkey_t *keys;
    int n_keys, cap_keys;
    dn_heldq_t *held;         /* runs not yet scored or awaiting labels */
    uint64_t next_seq;        /* run_seq expected next from the events log */
    int tuned;                /* alpha known for every key (alpha given, or tuned) */
    int eos_seen, eos_done;
    uint8_t *eos_buf;         /* encoded END_OF_STREAM control received */
    size_t eos_len;
    int dirty;
    int paused;
    /* counters */
    uint64_t runs, labels, scores_ok, scores_empty, scores_rejected, labels_unknown,
        labels_ignored, runs_unexpected;
} scorer_t;

/* ---- small helpers ------------------------------------------------------- */

static hkey_t *key_find(scorer_t *sc, const char *k)
{
    for (int i = 0; i < sc->n_keys; i++)
        if (!strcmp(sc->keys[i].key, k))
            return &sc->keys[i];
    return NULL;
}

static hkey_t *key_add(scorer_t *sc, const char *k, int n_bins)
{
    if (sc->n_keys == sc->cap_keys) {
        int cap = sc->cap_keys ? 2 * sc->cap_keys : 8;
        hkey_t *p = realloc(sc->keys, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        sc->keys = p;
        sc->cap_keys = cap;
    }
    hkey_t *ks = &sc->keys[sc->n_keys];
    memset(ks, 0, sizeof *ks);
    ks->key = strdup(k);
    if (!ks->key)
        return NULL;
    ks->n_bins = n_bins;
    ks->alpha = NAN;
    sc->n_keys++;
    return ks;
}

static double key_min_entries(const scorer_t *sc, const char *key)
{
    return dn_policy_lookup(sc->policy, key, NULL).min_entries;
}

/* Creates the tracker of ks at alpha. Returns 0 or DN_ENOMEM / DN_EINVAL. */
static int key_start(scorer_t *sc, hkey_t *ks, double alpha)
{
    ks->alpha = alpha;
    ks->s = dn_s_new(ks->n_bins, alpha);
    if (ks->s)
        dn_s_set_min_entries(ks->s, key_min_entries(sc, ks->key));
    return ks->s ? 0 : DN_ENOMEM;
}

/* Histogram j of run h matches its key's bin count (usable for scoring/updates). */
static hkey_t *hist_key(scorer_t *sc, const dn_held_t *h, int j)
{
    const Dinamo__Histogram *hg = h->env->run->histograms[j];
    hkey_t *ks = key_find(sc, hg->key);
    if (!ks || ks->n_bins != (int)hg->n_counts)
        return NULL;
    return ks;
}

static const double *hist_var(const Dinamo__Histogram *hg)
{
    return hg->n_variances ? hg->variances : NULL;
}

/* Applies the label of histogram j of scored run h if it has arrived. */
static void apply_label(scorer_t *sc, dn_held_t *h, int j)
{
    if (h->applied[j] || h->label[j] == DN_LBL_NONE || !h->scored)
        return;
    h->applied[j] = 1;
    h->dirty = 1;
    if (h->label[j] != DN_LBL_GOOD)
        return;
    hkey_t *ks = hist_key(sc, h, j);
    if (!ks || !ks->s)
        return;
    const Dinamo__Histogram *hg = h->env->run->histograms[j];
    dn_err_t err = {0};
    int rc = dn_s_update(ks->s, hg->counts, hist_var(hg), &err);
    if (rc && rc != DN_EEMPTY)
        dn_log(DN_LOG_WARN, "run %lld: histogram '%s': update failed: %s",
               (long long)h->env->run->run_number, hg->key, err.msg);
}

/* ---- output -------------------------------------------------------------- */

static int append_score(scorer_t *sc, const dn_held_t *h, int j, dn_err_t *err)
{
    const Dinamo__Run *run = h->env->run;
    const Dinamo__Histogram *hg = run->histograms[j];
    Dinamo__Score s = DINAMO__SCORE__INIT;
    s.stream = run->stream;
    s.has_run_number = s.has_run_seq = s.has_method = s.has_status = 1;
    s.run_number = run->run_number;
    s.run_seq = run->run_seq;
    s.method = DINAMO__METHOD__METHOD_S;
    s.histogram_key = hg->key;
    char detail[2 * DN_ERRMSG_MAX + DN_MSG_KEY_MAX + 64];
    double *pulls = NULL, *mu = NULL, *sigma = NULL;
    int nb = (int)hg->n_counts;
    hkey_t *ks = key_find(sc, hg->key);
    if (ks && ks->n_bins != nb) {
        s.status = DINAMO__SCORE_STATUS__REJECTED;
        snprintf(detail, sizeof detail, "run %lld: histogram '%s': %d bins, the key has %d",
                 (long long)run->run_number, hg->key, nb, ks->n_bins);
        s.detail = detail;
        dn_log(DN_LOG_WARN, "%s: rejected", detail);
        sc->scores_rejected++;
    } else if (!ks || !ks->s) {
        s.status = DINAMO__SCORE_STATUS__REJECTED;
        snprintf(detail, sizeof detail, "run %lld: histogram '%s': no reference: %s",
                 (long long)run->run_number, hg->key,
                 ks && ks->fail ? ks->fail : "unknown key");
        s.detail = detail;
        sc->scores_rejected++;
    } else {
        if (sc->pulls) {
            pulls = malloc((size_t)nb * sizeof *pulls);
            mu = malloc((size_t)nb * sizeof *mu);
            sigma = malloc((size_t)nb * sizeof *sigma);
            if (!pulls || !mu || !sigma) {
                free(pulls);
                free(mu);
                free(sigma);
                return dn_err_set(err, DN_ENOMEM, "out of memory scoring %d bins", nb);
            }
        }
        double chi2;
        dn_err_t e = {0};
        int rc = dn_s_score(ks->s, hg->counts, hist_var(hg), &chi2, pulls, mu, sigma, &e);
        s.has_alpha = 1;
        s.alpha = ks->alpha;
        if (rc == 0) {
            s.status = DINAMO__SCORE_STATUS__OK;
            s.has_chi2 = s.has_score = 1;
            s.chi2 = chi2;
            s.score = dn_score_from_chi2(chi2, nb);
            if (sc->pulls) {
                s.n_pulls = s.n_reference = s.n_reference_uncertainty = (size_t)nb;
                s.pulls = pulls;
                s.reference = mu;
                s.reference_uncertainty = sigma;
            }
            sc->scores_ok++;
        } else if (rc == DN_EEMPTY) {
            s.status = DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS;
            sc->scores_empty++;
        } else {
            s.status = DINAMO__SCORE_STATUS__REJECTED;
            snprintf(detail, sizeof detail, "run %lld: histogram '%s': %s",
                     (long long)run->run_number, hg->key, e.msg);
            s.detail = detail;
            sc->scores_rejected++;
        }
    }
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_SCORE;
    env.score = &s;
    int rc = dn_source_append(sc->source, &env, err);
    free(pulls);
    free(mu);
    free(sigma);
    return rc;
}

static int append_eos(scorer_t *sc, dn_err_t *err)
{
    Dinamo__Envelope *in = NULL;
    int rc = dn_msg_decode(sc->eos_buf, sc->eos_len, &in, NULL, err);
    if (rc)
        return rc;
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    const Dinamo__Control *ic = in->control;
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    c.stream = ic->stream;
    c.has_final_run_number = c.has_final_run_seq = c.has_n_runs = 1;
    c.final_run_number = ic->final_run_number;
    c.final_run_seq = ic->final_run_seq;
    c.n_runs = ic->has_n_runs ? ic->n_runs : sc->runs;
    c.service = (char *)"scorer_s";
    c.log = (char *)"scores_s";
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    rc = dn_source_append(sc->source, &env, err);
    dn_msg_free(&in);
    return rc;
}

/* ---- alpha tuning ---------------------------------------------------------- */

/* Tunes alpha for every key over the held runs (the first n_hist, or all there
 * are at END_OF_STREAM), as `dinamo score --n-historical N` does, and starts
 * the trackers. */
static int tune(scorer_t *sc)
{
    int n = dn_heldq_count(sc->held) < sc->n_hist ? dn_heldq_count(sc->held) : sc->n_hist;
    for (int k = 0; k < sc->n_keys; k++) {
        hkey_t *ks = &sc->keys[k];
        if (ks->s || ks->fail)
            continue;
        int nb = ks->n_bins, m = 0;
        double *counts = malloc(((size_t)n * nb + 1) * sizeof *counts);
        int8_t *labels = malloc((size_t)n + 1);
        if (!counts || !labels) {
            free(counts);
            free(labels);
            return DN_ENOMEM;
        }
        for (int i = 0; i < n; i++) {
            dn_held_t *h = dn_heldq_at(sc->held, i);
            for (int j = 0; j < h->n_h; j++) {
                const Dinamo__Histogram *hg = h->env->run->histograms[j];
                if (strcmp(hg->key, ks->key) || (int)hg->n_counts != nb)
                    continue;
                memcpy(counts + (size_t)m * nb, hg->counts, (size_t)nb * sizeof *counts);
                labels[m++] = h->label[j] == DN_LBL_NONE ? -1 : h->label[j];
            }
        }
        double alpha, auc = NAN;
        dn_err_t err = {0};
        int rc = dn_s_tune_alpha(counts, NULL, labels, m, nb, key_min_entries(sc, ks->key),
                                 &alpha, &auc, &err);
        free(counts);
        free(labels);
        if (rc == DN_ENOMEM)
            return rc;
        if (rc) {
            char msg[DN_ERRMSG_MAX + 64];
            snprintf(msg, sizeof msg, "cannot tune alpha: %s", err.msg);
            ks->fail = strdup(msg);
            dn_log(DN_LOG_ERROR, "histogram '%s': %s (its scores are REJECTED)", ks->key, msg);
            continue;
        }
        if ((rc = key_start(sc, ks, alpha)))
            return rc;
        dn_log(DN_LOG_INFO, "histogram '%s': alpha %.3f tuned on the first %d runs (ROC AUC %.4f)",
               ks->key, alpha, m, auc);
    }
    sc->tuned = 1;
    sc->dirty = 1;
    return 0;
}

/* ---- the work of a round --------------------------------------------------- */

/* Scores every held run that may be scored now (within the output window) and
 * drops runs that need nothing more. Returns 0, or an error of the source. */
static int advance(scorer_t *sc, int *more, dn_err_t *err)
{
    *more = 0;
    if (!sc->tuned) {
        int ready = sc->eos_seen;
        const dn_held_t *last = dn_heldq_at(sc->held, sc->n_hist - 1);
        if (!ready && last && last->seq == (uint64_t)(sc->n_hist - 1)) {
            ready = 1;
            for (int i = 0; i < sc->n_hist && ready; i++)
                ready = dn_held_labelled(dn_heldq_at(sc->held, i));
        }
        if (!ready)
            return 0;
        int rc = tune(sc);
        if (rc)
            return dn_err_set(err, rc, "out of memory tuning alpha");
    }
    int i = 0;
    for (; i < dn_heldq_count(sc->held); i++) {
        dn_held_t *h = dn_heldq_at(sc->held, i);
        if (!h->scored) {
            if (dn_source_room(sc->source) <= 0) {
                *more = 0;
                break;
            }
            for (int j = 0; j < h->n_h; j++) {
                int rc = append_score(sc, h, j, err);
                if (rc)
                    return rc;
            }
            h->scored = 1;
            h->dirty = 1;
            sc->dirty = 1;
            for (int j = 0; j < h->n_h; j++)
                apply_label(sc, h, j);
        }
        /* Lockstep: nothing later is scored before this run's labels are applied
         * (at END_OF_STREAM every label has arrived: nothing more to wait for). */
        if (!sc->live && !sc->eos_seen && !dn_held_complete(h)) {
            i++;
            break;
        }
    }
    int dropped = dn_heldq_drop_done(sc->held, sc->eos_seen);
    if (dropped < 0)
        return dn_err_set(err, dropped, "out of memory");
    if (dropped)
        sc->dirty = 1;
    if (sc->eos_seen && !sc->eos_done && dn_heldq_count(sc->held) == 0 &&
        dn_source_room(sc->source) > 0) {
        int rc = append_eos(sc, err);
        if (rc)
            return rc;
        sc->eos_done = 1;
        sc->dirty = 1;
        dn_log(DN_LOG_INFO, "end of stream: %llu runs, %llu scores ok, %llu insufficient, "
               "%llu rejected", (unsigned long long)sc->runs,
               (unsigned long long)sc->scores_ok, (unsigned long long)sc->scores_empty,
               (unsigned long long)sc->scores_rejected);
    }
    for (int k = 0; k < dn_heldq_count(sc->held); k++)
        if (!dn_heldq_at(sc->held, k)->scored) {
            *more = dn_source_room(sc->source) > 0 &&
                    (sc->live || k == 0 || dn_held_complete(dn_heldq_at(sc->held, k - 1)));
            break;
        }
    return 0;
}

/* ---- checkpoint ------------------------------------------------------------ */

static int build_checkpoint(scorer_t *sc, dn_wbuf_t *w)
{
    dn_wb_bytes(w, CKPT_MAGIC, 4);
    dn_wb_u32(w, CKPT_VERSION);
    dn_wb_u64(w, dn_follower_next(sc->follower));
    dn_wb_u64(w, sc->next_seq);
    dn_wb_u32(w, (uint32_t)(sc->tuned | sc->eos_seen << 1 | sc->eos_done << 2));
    dn_wb_u64(w, sc->runs);
    dn_wb_u64(w, sc->labels);
    dn_wb_u32(w, (uint32_t)sc->eos_len);
    dn_wb_bytes(w, sc->eos_buf, sc->eos_len);
    dn_wb_u32(w, (uint32_t)sc->n_keys);
    for (int k = 0; k < sc->n_keys; k++) {
        hkey_t *ks = &sc->keys[k];
        size_t kl = strlen(ks->key);
        dn_wb_u32(w, (uint32_t)kl);
        dn_wb_bytes(w, ks->key, kl);
        dn_wb_u32(w, (uint32_t)ks->n_bins);
        dn_wb_f64(w, ks->alpha);
        size_t fl = ks->fail ? strlen(ks->fail) : 0;
        dn_wb_u32(w, (uint32_t)fl);
        dn_wb_bytes(w, ks->fail, fl);
        size_t sl = ks->s ? dn_s_state_size(ks->s) : 0;
        dn_wb_u32(w, (uint32_t)sl);
        if (sl) {
            dn_wb_need(w, sl);
            if (!w->oom) {
                dn_s_save(ks->s, w->p + w->len, sl);
                w->len += sl;
            }
        }
    }
    return w->oom ? DN_ENOMEM : 0;
}

/* Commits the round: appended scores, checkpoint, held-run changes. */
static int commit(scorer_t *sc, dn_err_t *err)
{
    if (!sc->dirty)
        return 0;
    dn_store_batch_clear(sc->batch);
    dn_wbuf_t w = {0};
    int rc = dn_source_stage(sc->source, sc->batch);
    if (!rc)
        rc = build_checkpoint(sc, &w);
    if (!rc)
        rc = dn_store_batch_checkpoint(sc->batch, CKPT_NAME, w.p, w.len, NULL);
    if (!rc)
        rc = dn_heldq_stage(sc->held, sc->batch);
    free(w.p);
    if (rc)
        return dn_err_set(err, rc, "cannot build the checkpoint batch: %s", dn_strerror(rc));
    rc = dn_store_apply(sc->store, sc->batch, err);
    if (rc)
        return rc;
    dn_source_committed(sc->source);
    dn_heldq_committed(sc->held);
    sc->dirty = 0;
    return 0;
}

static int restore(scorer_t *sc, dn_err_t *err)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_store_checkpoint_read(sc->store, CKPT_NAME, &blob, &len, NULL, err);
    if (rc == DN_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    dn_rbuf_t r = {blob, len, 0, 0};
    const unsigned char *m = dn_rb_take(&r, 4);
    if (!m || memcmp(m, CKPT_MAGIC, 4) || dn_rb_u32(&r) != CKPT_VERSION) {
        free(blob);
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: bad magic or version", CKPT_NAME);
    }
    uint64_t next = dn_rb_u64(&r);
    sc->next_seq = dn_rb_u64(&r);
    uint32_t flags = dn_rb_u32(&r);
    sc->runs = dn_rb_u64(&r);
    sc->labels = dn_rb_u64(&r);
    uint32_t el = dn_rb_u32(&r);
    const unsigned char *eb = dn_rb_take(&r, el);
    if (eb && el) {
        sc->eos_buf = malloc(el);
        if (!sc->eos_buf) {
            free(blob);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        memcpy(sc->eos_buf, eb, el);
        sc->eos_len = el;
    }
    sc->tuned = flags & 1;
    sc->eos_seen = (flags >> 1) & 1;
    sc->eos_done = (flags >> 2) & 1;
    uint32_t nk = dn_rb_u32(&r);
    for (uint32_t k = 0; k < nk && !r.bad; k++) {
        uint32_t kl = dn_rb_u32(&r);
        const unsigned char *kb = dn_rb_take(&r, kl);
        int nb = (int)dn_rb_u32(&r);
        double alpha = dn_rb_f64(&r);
        uint32_t fl = dn_rb_u32(&r);
        const unsigned char *fb = dn_rb_take(&r, fl);
        uint32_t sl = dn_rb_u32(&r);
        const unsigned char *sb = dn_rb_take(&r, sl);
        if (r.bad)
            break;
        char name[DN_MSG_KEY_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)kl, (const char *)kb);
        hkey_t *ks = key_add(sc, name, nb);
        if (!ks) {
            free(blob);
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        }
        ks->alpha = alpha;
        if (fl) {
            ks->fail = strndup((const char *)fb, fl);
        }
        if (sl && (rc = dn_s_load(sb, sl, &ks->s, err))) {
            free(blob);
            return dn_err_prefix(err, "checkpoint %s: key '%s'", CKPT_NAME, name);
        }
        if (ks->s)
            dn_s_set_min_entries(ks->s, key_min_entries(sc, name));
    }
    free(blob);
    if (r.bad)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: truncated", CKPT_NAME);
    if ((rc = dn_heldq_restore(sc->held, sc->store, err)))
        return rc;
    dn_follower_set_next(sc->follower, next);
    dn_log(DN_LOG_INFO, "restored: events next %llu, %d keys, %d held runs, next run_seq %llu%s",
           (unsigned long long)next, sc->n_keys, dn_heldq_count(sc->held),
           (unsigned long long)sc->next_seq,
           sc->eos_done ? ", end of stream sent" : "");
    return 0;
}

/* ---- input ----------------------------------------------------------------- */

static int on_run(scorer_t *sc, const Dinamo__Envelope *env, dn_err_t *err)
{
    const Dinamo__Run *run = env->run;
    if (sc->eos_seen || run->run_seq != sc->next_seq) {
        sc->runs_unexpected++;
        dn_log(DN_LOG_WARN, "run %lld: run_seq %llu, expected %llu%s: skipped",
               (long long)run->run_number, (unsigned long long)run->run_seq,
               (unsigned long long)sc->next_seq, sc->eos_seen ? " (after end of stream)" : "");
        return 0;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    Dinamo__Envelope copy = DINAMO__ENVELOPE__INIT;
    copy.producer = (char *)"events";
    copy.has_seq = 1;
    copy.body_case = DINAMO__ENVELOPE__BODY_RUN;
    copy.run = env->run;
    for (size_t j = 0; j < run->n_histograms; j++) {
        const Dinamo__Histogram *hg = run->histograms[j];
        hkey_t *ks = key_find(sc, hg->key);
        if (!ks) {
            if (!(ks = key_add(sc, hg->key, (int)hg->n_counts)))
                return dn_err_set(err, DN_ENOMEM, "out of memory");
            if (sc->tuned && sc->alpha_cfg >= 0.0 && key_start(sc, ks, sc->alpha_cfg)) {
                return dn_err_set(err, DN_ENOMEM, "out of memory");
            } else if (sc->tuned && sc->alpha_cfg < 0.0) {
                ks->fail = strdup("key first seen after alpha tuning");
                dn_log(DN_LOG_WARN, "run %lld: histogram '%s': new key after alpha tuning: "
                       "its scores are REJECTED", (long long)run->run_number, hg->key);
            }
        }
    }
    int rc = dn_msg_encode_unchecked(&copy, &buf, &len);
    if (rc)
        return dn_err_set(err, rc, "out of memory");
    rc = dn_heldq_add(sc->held, buf, len, NULL, err);
    free(buf);
    if (rc)
        return dn_err_prefix(err, "cannot hold run %lld", (long long)run->run_number);
    sc->next_seq++;
    sc->runs++;
    sc->dirty = 1;
    return 0;
}

static void on_label(scorer_t *sc, const Dinamo__Label *l)
{
    sc->labels++;
    sc->dirty = 1;
    dn_held_t *h = dn_heldq_find(sc->held, l->run_seq);
    if (!h) {
        if (l->run_seq < sc->next_seq) {
            sc->labels_ignored++;
            dn_log(DN_LOG_DEBUG, "label for run %lld: already applied: ignored",
                   (long long)l->run_number);
        } else {
            sc->labels_unknown++;
            dn_log(DN_LOG_WARN, "label for run %lld (run_seq %llu): unknown run: skipped",
                   (long long)l->run_number, (unsigned long long)l->run_seq);
        }
        return;
    }
    int8_t v = l->verdict == DINAMO__VERDICT__GOOD ? DN_LBL_GOOD : DN_LBL_BAD;
    int all = !l->histogram_key || !l->histogram_key[0], hit = 0;
    for (int j = 0; j < h->n_h; j++) {
        if (!all && strcmp(h->env->run->histograms[j]->key, l->histogram_key))
            continue;
        hit = 1;
        if (h->label[j] != DN_LBL_NONE) {
            sc->labels_ignored++;
            continue;
        }
        h->label[j] = v;
        h->dirty = 1;
        apply_label(sc, h, j);
    }
    if (!hit) {
        sc->labels_unknown++;
        dn_log(DN_LOG_WARN, "label for run %lld: no histogram '%s' in the run: skipped",
               (long long)l->run_number, l->histogram_key);
    }
}

static int on_event(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                    const dn_recv_info_t *info, void *arg)
{
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int rc = dn_follower_accept(sc->follower, env, &err);
    if (rc < 0)
        return dn_service_fail(svc, rc, "events: %s", err.msg);
    if (rc != DN_FOLLOW_DELIVER)
        return 0;
    sc->dirty = 1;
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        if ((rc = on_run(sc, env, &err)))
            return dn_service_fail(svc, rc, "%s", err.msg);
        break;
    case DN_MSG_LABEL:
        on_label(sc, env->label);
        break;
    case DN_MSG_CONTROL:
        if (env->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM && !sc->eos_seen) {
            Dinamo__Envelope copy = DINAMO__ENVELOPE__INIT;
            copy.producer = (char *)"events";
            copy.has_seq = 1;
            copy.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
            copy.control = env->control;
            free(sc->eos_buf);
            sc->eos_buf = NULL;
            if (dn_msg_encode_unchecked(&copy, &sc->eos_buf, &sc->eos_len))
                return dn_service_fail(svc, DN_ENOMEM, "out of memory");
            sc->eos_seen = 1;
            dn_log(DN_LOG_INFO, "end of stream on events after %llu runs",
                   (unsigned long long)sc->runs);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_request(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                      const dn_recv_info_t *info, void *arg)
{
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int rc = dn_source_on_request(sc->source, env, &err);
    return rc ? dn_service_fail(svc, rc, "scores requests: %s", err.msg) : 0;
}

static int on_round(dn_service_t *svc, void *arg)
{
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int more = 0;
    int rc = advance(sc, &more, &err);
    if (!rc)
        rc = commit(sc, &err);
    if (!rc)
        rc = dn_source_pump(sc->source, &err);
    if (!rc)
        rc = dn_follower_flush(sc->follower, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    int pause = dn_source_room(sc->source) == 0;
    if (pause != sc->paused) {
        dn_service_pause(svc, sc->sub, pause);
        sc->paused = pause;
    }
    return more || dn_source_backlog(sc->source) ? 0 : DN_SERVICE_POLL_MAX_MS;
}

static int on_tick(dn_service_t *svc, void *arg)
{
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int rc = dn_store_sync(sc->store, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    dn_source_stats_t st = dn_source_stats(sc->source);
    dn_log(DN_LOG_DEBUG, "runs %llu held %d scores %llu (published %llu) followers %d",
           (unsigned long long)sc->runs, dn_heldq_count(sc->held), (unsigned long long)st.head,
           (unsigned long long)st.cursor, st.followers);
    return 0;
}

static int on_shutdown(dn_service_t *svc, void *arg)
{
    scorer_t *sc = arg;
    dn_err_t err = {0};
    int rc = commit(sc, &err);
    if (!rc)
        rc = dn_store_sync(sc->store, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    dn_log(DN_LOG_INFO, "stopped: %llu runs, %llu labels, %llu scores ok, %llu insufficient, "
           "%llu rejected, %llu labels for unknown runs",
           (unsigned long long)sc->runs, (unsigned long long)sc->labels,
           (unsigned long long)sc->scores_ok, (unsigned long long)sc->scores_empty,
           (unsigned long long)sc->scores_rejected, (unsigned long long)sc->labels_unknown);
    return 0;
}

/* ---- main -------------------------------------------------------------------- */

static const dn_config_key_t keys[] = {
    {"events", DN_CFG_STRING, "connect:tcp://127.0.0.1:5550", "events log (SUB)"},
    {"events_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5551",
     "events log requests (PUSH: acks, rewinds)"},
    {"scores", DN_CFG_STRING, "bind:tcp://127.0.0.1:5552", "scores_s log (PUB)"},
    {"scores_requests", DN_CFG_STRING, "bind:tcp://127.0.0.1:5553",
     "scores_s requests from followers (PULL)"},
    {"mode", DN_CFG_STRING, "lockstep", "lockstep (equals `dinamo score`) or live"},
    {"alpha", DN_CFG_DOUBLE, "-1", "EWMA smoothing; -1: tune per key on the first n_hist runs"},
    {"n_hist", DN_CFG_INT, "1000", "historical runs for alpha tuning"},
    {"window", DN_CFG_INT, "32", "scores published beyond the slowest follower"},
    {"pulls", DN_CFG_BOOL, "true", "scores carry pulls, reference and uncertainty"},
};

int main(int argc, char **argv)
{
    dn_err_t err = {0};
    int rc = 0, exit_code = 1;
    scorer_t sc;
    memset(&sc, 0, sizeof sc);
    void *zctx = NULL;
    dn_config_t *cfg = dn_config_new("scorer_s", keys, (int)(sizeof keys / sizeof *keys), &err);
    if (!cfg)
        goto fail;
    rc = dn_config_load(cfg, argc, argv, &err);
    if (rc == DN_CONFIG_HELP) {
        printf("usage: scorer_s [--config FILE] [--key value ...]\n");
        dn_config_usage(cfg, stdout);
        dn_config_destroy(&cfg);
        return 0;
    }
    if (rc)
        goto fail;
    if ((rc = dn_log_init("scorer_s", dn_config_str(cfg, "log_level"), &err)))
        goto fail;
    if (!(sc.policy = dn_policy_from_config(cfg, &err))) {
        rc = err.code;
        goto fail;
    }
    int64_t n_hist, window, tick_ms;
    dn_config_int(cfg, "n_hist", &n_hist);
    dn_config_int(cfg, "window", &window);
    dn_config_int(cfg, "tick_ms", &tick_ms);
    dn_config_double(cfg, "alpha", &sc.alpha_cfg);
    dn_config_bool(cfg, "pulls", &sc.pulls);
    const char *mode = dn_config_str(cfg, "mode");
    if (!strcmp(mode, "live"))
        sc.live = 1;
    else if (strcmp(mode, "lockstep")) {
        rc = dn_err_set(&err, DN_EINVAL, "mode '%s': want lockstep or live", mode);
        goto fail;
    }
    if (n_hist < 1 || n_hist > INT32_MAX || window < 1 || window > INT32_MAX || tick_ms < 1 ||
        sc.alpha_cfg >= 1.0) {
        rc = dn_err_set(&err, DN_EINVAL, "need n_hist >= 1, window >= 1, tick_ms >= 1, "
                        "alpha < 1");
        goto fail;
    }
    sc.n_hist = (int)n_hist;
    if ((rc = dn_service_install_signals(&err)))
        goto fail;

    char path[4096];
    snprintf(path, sizeof path, "%s/scorer_s", dn_config_str(cfg, "data_dir"));
    if (!(sc.store = dn_store_open(path, DN_STORE_NOSYNC, 0, &err)))
        goto fail;
    if (!(sc.held = dn_heldq_new(HELD_TABLE))) {
        rc = dn_err_set(&err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    zctx = zmq_ctx_new();
    if (!zctx) {
        rc = dn_err_set(&err, DN_EIO, "zmq_ctx_new: %s", strerror(errno));
        goto fail;
    }
    if (!(sc.sub = dn_sock_new(zctx, ZMQ_SUB, dn_config_str(cfg, "events"), NULL, &err)) ||
        !(sc.push = dn_sock_new(zctx, ZMQ_PUSH, dn_config_str(cfg, "events_requests"), NULL,
                                &err)) ||
        !(sc.pub = dn_sock_new(zctx, ZMQ_PUB, dn_config_str(cfg, "scores"), NULL, &err)) ||
        !(sc.pull = dn_sock_new(zctx, ZMQ_PULL, dn_config_str(cfg, "scores_requests"), NULL,
                                &err)))
        goto fail;
    dn_source_opts_t so = {.log = "scores_s", .service = "scorer_s", .window = (int)window};
    if (!(sc.source = dn_source_new(sc.store, sc.pub, &so, &err)))
        goto fail;
    dn_follower_opts_t fo = {.log = "events", .consumer = "scorer_s"};
    if (!(sc.follower = dn_follower_new(sc.sub, sc.push, &fo, &err)))
        goto fail;
    if (!(sc.batch = dn_store_batch_new())) {
        rc = dn_err_set(&err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    if (sc.alpha_cfg >= 0.0)
        sc.tuned = 1;
    if ((rc = restore(&sc, &err)))
        goto fail;
    if (!(sc.svc = dn_service_new("scorer_s", &err)))
        goto fail;
    if ((rc = dn_service_add_socket(sc.svc, sc.sub, on_event, &sc)) ||
        (rc = dn_service_add_socket(sc.svc, sc.pull, on_request, &sc)) ||
        (rc = dn_service_set_tick(sc.svc, (int)tick_ms, on_tick, &sc)))
        goto fail;
    dn_service_set_round(sc.svc, on_round, &sc);
    dn_service_set_shutdown(sc.svc, on_shutdown, &sc);
    dn_log(DN_LOG_INFO, "started: mode %s, alpha %s, n_hist %d, window %d, store %s",
           sc.live ? "live" : "lockstep", sc.alpha_cfg < 0 ? "tuned" : "given", sc.n_hist,
           (int)window, path);
    rc = dn_service_run(sc.svc, &err);
    if (!rc)
        exit_code = 0;
fail:
    if (exit_code)
        dn_log(DN_LOG_ERROR, "scorer_s: %s", err.msg[0] ? err.msg : dn_strerror(rc));
    dn_service_destroy(&sc.svc);
    dn_follower_destroy(&sc.follower);
    dn_source_destroy(&sc.source);
    dn_sock_destroy(&sc.sub);
    dn_sock_destroy(&sc.push);
    dn_sock_destroy(&sc.pub);
    dn_sock_destroy(&sc.pull);
    if (zctx)
        zmq_ctx_term(zctx);
    dn_store_batch_destroy(&sc.batch);
    dn_store_destroy(&sc.store);
    dn_heldq_destroy(&sc.held);
    for (int k = 0; k < sc.n_keys; k++) {
        free(sc.keys[k].key);
        free(sc.keys[k].fail);
        dn_s_destroy(&sc.keys[k].s);
    }
    free(sc.keys);
    free(sc.eos_buf);
    dn_policy_destroy(&sc.policy);
    dn_config_destroy(&cfg);
    return exit_code;
}
