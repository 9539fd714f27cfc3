/* scorer.c: the scorer's state machine (scorer.h): events in, Score and
 * END_OF_STREAM entries out through the sink, the method called at each step.
 *
 * Keys are a keytab (dense index, never removed) beside an array of {bins,
 * bins of y, method state} at the same index: a key's binning is fixed by the
 * run that first names it, and a histogram of another binning (other bins, or
 * the same bins in another 2-D shape: 4x3 is neither 6x2 nor 1-D 12) is
 * rejected with the two binnings named. In the checkpoint a 2-D key's bins
 * carry KEY_2D and are followed by its bins of y (a 1-D key is written as
 * before, so older checkpoints read unchanged). The held runs are a dn_heldq_t persisted
 * in table NAME.held. END_OF_STREAM is kept as the fields it carries.
 *
 * Invariants: a held run's histograms all name known keys (a run's new keys
 * are added before it is held); a label is applied only to a scored run, at
 * most once (applied[]); in lockstep the held runs after the first run that
 * is not complete are unscored; END_OF_STREAM is appended once, after every
 * held run was scored and dropped. */
#include "scorer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histo.h"
#include "keytab.h"
#include "log.h"

typedef struct skey_t {
    int n_bins;
    int n_bins_y;    /* 2-D: bins of y (flattened x outer); 0: 1-D */
    void *state;     /* the method's */
} skey_t;

#define KEY_2D 0x80000000u /* checkpoint: bins of a 2-D key, its bins of y follow */

typedef struct eos_t {
    char *stream;    /* NULL when the control had none */
    int64_t final_run_number;
    uint64_t final_run_seq;
    int has_n_runs;
    uint64_t n_runs;
} eos_t;

struct dn_scorer_t {
    const dn_scorer_method_t *method;
    void *m;
    dn_scorer_sink_t sink;
    char *name, *log;
    int live, pulls;
    dn_keytab_t *keytab;
    skey_t *keys;          /* [dn_keytab_count], at the key's index */
    int cap_keys;
    dn_heldq_t *held;
    int prepared;          /* method->prepare said 1 in this process */
    int dirty;
    eos_t eos;
    double *scratch;       /* pulls, mu, sigma of one histogram */
    size_t scratch_cap;
    dn_scorer_stats_t st;  /* counters and flags (keys, held filled on demand) */
};

#define DETAIL_MAX (2 * DN_ERRMSG_MAX + DN_MSG_KEY_MAX + 64)

/* ---- creation ------------------------------------------------------------------ */

dn_scorer_t *dn_scorer_new(const dn_scorer_method_t *method, void **m_p,
                           const dn_scorer_opts_t *opts, const dn_scorer_sink_t *sink,
                           dn_err_t *err)
{
    void *m = m_p ? *m_p : NULL;
    if (m_p)
        *m_p = NULL;
    dn_scorer_t *self = NULL;
    if (!method || !method->score || !method->key_new || !method->key_free ||
        !method->key_save || !method->key_load || !opts || !opts->name || !opts->log ||
        !sink || !sink->room || !sink->append) {
        dn_err_set(err, DN_EINVAL, "scorer: a required method callback, option or sink "
                   "function is missing");
        goto fail;
    }
    char table[128];
    int tl = snprintf(table, sizeof table, "%s.held", opts->name);
    if (tl < 0 || (size_t)tl >= sizeof table) {
        dn_err_set(err, DN_EINVAL, "scorer: name '%s' too long", opts->name);
        goto fail;
    }
    if (!(self = calloc(1, sizeof *self)) || !(self->name = strdup(opts->name)) ||
        !(self->log = strdup(opts->log)) || !(self->keytab = dn_keytab_new()) ||
        !(self->held = dn_heldq_new(table))) {
        dn_err_set(err, DN_ENOMEM, "scorer: out of memory");
        goto fail;
    }
    self->method = method;
    self->m = m;
    self->sink = *sink;
    self->live = opts->live;
    self->pulls = opts->pulls;
    return self;
fail:
    if (self) {
        self->method = method;
        self->m = m;
        dn_scorer_destroy(&self);
    } else if (m && method && method->destroy) {
        method->destroy(m);
    }
    return NULL;
}

void dn_scorer_destroy(dn_scorer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_scorer_t *self = *self_p;
    int n = self->keytab ? dn_keytab_count(self->keytab) : 0;
    for (int k = 0; k < n; k++)
        self->method->key_free(self->m, self->keys[k].state);
    if (self->m && self->method->destroy)
        self->method->destroy(self->m);
    dn_keytab_destroy(&self->keytab);
    dn_heldq_destroy(&self->held);
    free(self->keys);
    free(self->eos.stream);
    free(self->scratch);
    free(self->name);
    free(self->log);
    free(self);
    *self_p = NULL;
}

/* ---- keys ------------------------------------------------------------------------ */

/* Adds key (absent) at index dn_keytab_count(), its state still NULL, so
 * that the method's state can keep the table's copy of the name. */
static int key_reserve(dn_scorer_t *self, const char *key, int n_bins, int n_bins_y,
                       dn_err_t *err)
{
    int n = dn_keytab_count(self->keytab);
    if (n == self->cap_keys) {
        int cap = self->cap_keys ? 2 * self->cap_keys : 16;
        skey_t *p = realloc(self->keys, (size_t)cap * sizeof *p);
        if (!p)
            return dn_err_set(err, DN_ENOMEM, "out of memory: key '%s'", key);
        self->keys = p;
        self->cap_keys = cap;
    }
    int at = dn_keytab_add(self->keytab, key);
    if (at < 0)
        return dn_err_set(err, DN_ENOMEM, "out of memory: key '%s'", key);
    self->keys[at] = (skey_t){n_bins, n_bins_y, NULL};
    return at;
}

/* Takes back the key just reserved at index k (the last), after its state
 * could not be made. */
static void key_unreserve(dn_scorer_t *self, int k)
{
    dn_keytab_remove(self->keytab, k);
}

static int bins_y(const Dinamo__Histogram *hg)
{
    return hg->has_n_bins_y ? (int)hg->n_bins_y : 0;
}

/* 1 when histogram hg has key k's binning. */
static int same_binning(const dn_scorer_t *self, int k, const Dinamo__Histogram *hg)
{
    return self->keys[k].n_bins == (int)hg->n_counts && self->keys[k].n_bins_y == bins_y(hg);
}

/* A key first named by a run: its row, then the method's state. */
static int key_new(dn_scorer_t *self, const Dinamo__Histogram *hg, int64_t run_number,
                   dn_err_t *err)
{
    int k = key_reserve(self, hg->key, (int)hg->n_counts, bins_y(hg), err);
    if (k < 0)
        return k;
    int rc = self->method->key_new(self->m, dn_keytab_key(self->keytab, k), (int)hg->n_counts,
                                   run_number, &self->keys[k].state, err);
    if (rc)
        key_unreserve(self, k);
    return rc;
}

int dn_scorer_hist_key(const dn_scorer_t *self, const dn_held_t *h, int j)
{
    const Dinamo__Histogram *hg = h->env->run->histograms[j];
    int k = dn_keytab_find(self->keytab, hg->key);
    return k >= 0 && same_binning(self, k, hg) ? k : -1;
}

static dn_scorer_hist_t hist_of(const dn_held_t *h, int j)
{
    const Dinamo__Histogram *hg = h->env->run->histograms[j];
    const Dinamo__Run *run = h->env->run;
    return (dn_scorer_hist_t){hg->key, run->run_number, h->seq, (int)hg->n_counts, hg->counts,
                              hg->n_variances ? hg->variances : NULL,
                              run->has_time ? run->time : NAN};
}

/* ---- labels ------------------------------------------------------------------------ */

/* Applies the label of histogram j of h once h is scored: a good one is
 * learned by the method (when the histogram fits its key). */
static int apply_label(dn_scorer_t *self, dn_held_t *h, int j, dn_err_t *err)
{
    if (h->applied[j] || h->label[j] == DN_LBL_NONE || !h->scored)
        return 0;
    h->applied[j] = 1;
    h->dirty = 1;
    self->dirty = 1;
    int k = h->label[j] == DN_LBL_GOOD ? dn_scorer_hist_key(self, h, j) : -1;
    if (k < 0 || !self->method->learn)
        return 0;
    dn_scorer_hist_t hist = hist_of(h, j);
    return self->method->learn(self->m, self->keys[k].state, &hist, err);
}

/* A label for a run not held: already done with, or never seen. */
static void label_unheld(dn_scorer_t *self, const Dinamo__Label *l)
{
    if (l->run_seq < self->st.next_seq) {
        self->st.labels_ignored++;
        dn_log(DN_LOG_DEBUG, "label for run %lld: already applied: ignored",
               (long long)l->run_number);
        return;
    }
    self->st.labels_unknown++;
    DN_LOG_LIMITED(DN_LOG_WARN, "label for run %lld (run_seq %llu): unknown run: skipped",
                   (long long)l->run_number, (unsigned long long)l->run_seq);
}

/* Records a label for its run's histograms (all of them without a key) and
 * applies it when the run is scored. */
static int on_label(dn_scorer_t *self, const Dinamo__Label *l, dn_err_t *err)
{
    self->st.labels++;
    self->dirty = 1;
    dn_held_t *h = dn_heldq_find(self->held, l->run_seq);
    if (!h) {
        label_unheld(self, l);
        return 0;
    }
    int8_t v = l->verdict == DINAMO__VERDICT__GOOD ? DN_LBL_GOOD : DN_LBL_BAD;
    int all = !l->histogram_key || !l->histogram_key[0], hit = 0;
    for (int j = 0; j < h->n_h; j++) {
        if (!all && strcmp(h->env->run->histograms[j]->key, l->histogram_key))
            continue;
        hit = 1;
        if (h->label[j] != DN_LBL_NONE) {
            self->st.labels_ignored++;
            continue;
        }
        h->label[j] = v;
        h->dirty = 1;
        int rc = apply_label(self, h, j, err);
        if (rc)
            return rc;
    }
    if (!hit) {
        self->st.labels_unknown++;
        DN_LOG_LIMITED(DN_LOG_WARN, "label for run %lld: no histogram '%s' in the run: skipped",
                       (long long)l->run_number, l->histogram_key);
    }
    return 0;
}

/* ---- runs and end of stream ----------------------------------------------------------- */

/* Holds the run when it is the next run_seq (its new keys made first). */
static int on_run(dn_scorer_t *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    const Dinamo__Run *run = env->run;
    if (self->st.end_seen || run->run_seq != self->st.next_seq) {
        self->st.runs_unexpected++;
        dn_log(DN_LOG_WARN, "run %lld: run_seq %llu, expected %llu%s: skipped",
               (long long)run->run_number, (unsigned long long)run->run_seq,
               (unsigned long long)self->st.next_seq,
               self->st.end_seen ? " (after end of stream)" : "");
        return 0;
    }
    for (size_t j = 0; j < run->n_histograms; j++) {
        const Dinamo__Histogram *hg = run->histograms[j];
        int rc = dn_keytab_find(self->keytab, hg->key) < 0
                     ? key_new(self, hg, run->run_number, err) : 0;
        if (rc)
            return rc;
    }
    Dinamo__Envelope copy = DINAMO__ENVELOPE__INIT;
    copy.producer = (char *)"events";
    copy.has_seq = 1;
    copy.body_case = DINAMO__ENVELOPE__BODY_RUN;
    copy.run = env->run;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (dn_msg_encode_unchecked(&copy, &buf, &len))
        return dn_err_set(err, DN_ENOMEM, "out of memory holding run %lld",
                          (long long)run->run_number);
    int rc = dn_heldq_add(self->held, buf, len, NULL, err);
    free(buf);
    if (rc) {
        dn_err_prefix(err, "cannot hold run %lld", (long long)run->run_number);
        return rc;
    }
    self->st.next_seq++;
    self->st.runs++;
    self->dirty = 1;
    return 0;
}

static int on_end(dn_scorer_t *self, const Dinamo__Control *c, dn_err_t *err)
{
    if (c->kind != DINAMO__CONTROL_KIND__END_OF_STREAM || self->st.end_seen)
        return 0;
    char *stream = c->stream ? strdup(c->stream) : NULL;
    if (c->stream && !stream)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    free(self->eos.stream);
    self->eos = (eos_t){stream, c->final_run_number, c->final_run_seq, c->has_n_runs,
                        c->n_runs};
    self->st.end_seen = 1;
    self->dirty = 1;
    dn_log(DN_LOG_INFO, "end of stream on events after %llu runs",
           (unsigned long long)self->st.runs);
    return 0;
}

int dn_scorer_event(dn_scorer_t *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        return on_run(self, env, err);
    case DN_MSG_LABEL:
        return on_label(self, env->label, err);
    case DN_MSG_CONTROL:
        return on_end(self, env->control, err);
    default:
        return 0;
    }
}

/* ---- entries ------------------------------------------------------------------------- */

/* pulls, mu and sigma of n bins in the scratch buffer. */
static int scratch_for(dn_scorer_t *self, int n, dn_err_t *err)
{
    size_t need = 3 * (size_t)n;
    if (need <= self->scratch_cap)
        return 0;
    double *p = realloc(self->scratch, need * sizeof *p);
    if (!p)
        return dn_err_set(err, DN_ENOMEM, "out of memory scoring %d bins", n);
    self->scratch = p;
    self->scratch_cap = need;
    return 0;
}

/* The method's verdict on histogram j of h (key k) into s. */
static int score_with_method(dn_scorer_t *self, const dn_held_t *h, int j, int k,
                             Dinamo__Score *s, char *detail, dn_err_t *err)
{
    dn_scorer_hist_t hist = hist_of(h, j);
    dn_scorer_out_t out = {.score = s};
    if (self->pulls) {
        int rc = scratch_for(self, hist.n_bins, err);
        if (rc)
            return rc;
        out.pulls = self->scratch;
        out.mu = self->scratch + hist.n_bins;
        out.sigma = self->scratch + 2 * hist.n_bins;
    }
    dn_err_t why = {0};
    int rc = self->method->score(self->m, self->keys[k].state, &hist, &out, &why);
    if (rc == 0) {
        s->status = DINAMO__SCORE_STATUS__OK;
        s->has_chi2 = s->has_score = 1;
        s->chi2 = out.chi2;
        s->score = dn_score_from_chi2(out.chi2, hist.n_bins);
        if (self->pulls) {
            s->n_pulls = s->n_reference = s->n_reference_uncertainty = (size_t)hist.n_bins;
            s->pulls = out.pulls;
            s->reference = out.mu;
            s->reference_uncertainty = out.sigma;
        }
        self->st.scores_ok++;
    } else if (rc == DN_EEMPTY) {
        s->status = DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS;
        self->st.scores_empty++;
    } else {
        s->status = DINAMO__SCORE_STATUS__REJECTED;
        snprintf(detail, DETAIL_MAX, "run %lld: histogram '%s': %s", (long long)hist.run_number,
                 hist.key, why.msg[0] ? why.msg : dn_strerror(rc));
        s->detail = detail;
        self->st.scores_rejected++;
    }
    return 0;
}

/* The Score of histogram j of h. */
static int append_score(dn_scorer_t *self, const dn_held_t *h, int j, dn_err_t *err)
{
    const Dinamo__Run *run = h->env->run;
    const Dinamo__Histogram *hg = run->histograms[j];
    Dinamo__Score s = DINAMO__SCORE__INIT;
    s.stream = run->stream;
    s.has_run_number = s.has_run_seq = s.has_method = s.has_status = 1;
    s.run_number = run->run_number;
    s.run_seq = run->run_seq;
    s.method = self->method->method;
    s.histogram_key = hg->key;
    char detail[DETAIL_MAX];
    int k = dn_keytab_find(self->keytab, hg->key), nb = (int)hg->n_counts, rc = 0;
    if (k < 0 || !same_binning(self, k, hg)) {
        s.status = DINAMO__SCORE_STATUS__REJECTED;
        if (k < 0) {
            snprintf(detail, sizeof detail, "run %lld: histogram '%s': no reference: unknown "
                     "key", (long long)run->run_number, hg->key);
        } else {
            char got[64], want[64];
            dn_hist_binning_name(got, sizeof got, nb, bins_y(hg));
            dn_hist_binning_name(want, sizeof want, self->keys[k].n_bins,
                                 self->keys[k].n_bins_y);
            snprintf(detail, sizeof detail, "run %lld: histogram '%s': binning changed: %s, the "
                     "key has %s", (long long)run->run_number, hg->key, got, want);
        }
        s.detail = detail;
        DN_LOG_LIMITED(DN_LOG_WARN, "%s: rejected", detail);
        self->st.scores_rejected++;
    } else if ((rc = score_with_method(self, h, j, k, &s, detail, err))) {
        return rc;
    }
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_SCORE;
    env.score = &s;
    return self->sink.append(self->sink.arg, &env, err);
}

static int append_end(dn_scorer_t *self, dn_err_t *err)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    c.stream = self->eos.stream;
    c.has_final_run_number = c.has_final_run_seq = c.has_n_runs = 1;
    c.final_run_number = self->eos.final_run_number;
    c.final_run_seq = self->eos.final_run_seq;
    c.n_runs = self->eos.has_n_runs ? self->eos.n_runs : self->st.runs;
    c.service = self->name;
    c.log = self->log;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    int rc = self->sink.append(self->sink.arg, &env, err);
    if (rc)
        return rc;
    self->st.end_done = 1;
    self->dirty = 1;
    dn_log(DN_LOG_INFO, "end of stream: %llu runs, %llu scores ok, %llu insufficient, "
           "%llu rejected", (unsigned long long)self->st.runs,
           (unsigned long long)self->st.scores_ok, (unsigned long long)self->st.scores_empty,
           (unsigned long long)self->st.scores_rejected);
    return 0;
}

/* ---- the scoring pass ------------------------------------------------------------------- */

/* 1 when the method is ready for every histogram of h, 0 when not yet. */
static int run_ready(dn_scorer_t *self, const dn_held_t *h, int *wait_ms)
{
    if (!self->method->ready)
        return 1;
    for (int j = 0; j < h->n_h; j++) {
        int k = dn_scorer_hist_key(self, h, j);
        if (k < 0)
            continue;
        dn_scorer_hist_t hist = hist_of(h, j);
        if (!self->method->ready(self->m, self->keys[k].state, &hist, wait_ms))
            return 0;
    }
    return 1;
}

/* Scores every histogram of h, then applies the labels that were waiting. */
static int score_run(dn_scorer_t *self, dn_held_t *h, dn_err_t *err)
{
    for (int j = 0; j < h->n_h; j++) {
        int rc = append_score(self, h, j, err);
        if (rc)
            return rc;
    }
    h->scored = 1;
    h->dirty = 1;
    self->dirty = 1;
    for (int j = 0; j < h->n_h; j++) {
        int rc = apply_label(self, h, j, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Scores the held runs in order while the window has room, the method is
 * ready and (lockstep, before END_OF_STREAM) every earlier run is complete. */
static int score_pass(dn_scorer_t *self, int *wait_ms, dn_err_t *err)
{
    for (int i = 0; i < dn_heldq_count(self->held); i++) {
        dn_held_t *h = dn_heldq_at(self->held, i);
        if (!h->scored) {
            if (self->sink.room(self->sink.arg) <= 0)
                break;
            if (!run_ready(self, h, wait_ms)) {
                self->st.waiting = 1;
                break;
            }
            int rc = score_run(self, h, err);
            if (rc)
                return rc;
        }
        if (!self->live && !self->st.end_seen && !dn_held_complete(h))
            break;
    }
    return 0;
}

int dn_scorer_advance(dn_scorer_t *self, int *wait_ms, dn_err_t *err)
{
    self->st.waiting = 0;
    if (!self->prepared) {
        int rc = self->method->prepare ? self->method->prepare(self->m, self, err) : 1;
        if (rc <= 0)
            return rc;
        self->prepared = 1;
    }
    int rc = score_pass(self, wait_ms, err);
    if (rc)
        return rc;
    int dropped = dn_heldq_drop_done(self->held, self->st.end_seen);
    if (dropped < 0)
        return dn_err_set(err, dropped, "out of memory dropping held runs");
    if (dropped)
        self->dirty = 1;
    if (self->st.end_seen && !self->st.end_done && dn_heldq_count(self->held) == 0 &&
        self->sink.room(self->sink.arg) > 0)
        return append_end(self, err);
    return 0;
}

/* ---- checkpoint ------------------------------------------------------------------------- */

void dn_scorer_save(const dn_scorer_t *self, dn_wbuf_t *w)
{
    dn_wb_u64(w, self->st.next_seq);
    dn_wb_u32(w, (uint32_t)(self->st.end_seen | self->st.end_done << 1));
    dn_wb_u64(w, self->st.runs);
    dn_wb_u64(w, self->st.labels);
    dn_wb_u32(w, self->eos.stream ? 1u : 0u);
    dn_wb_str(w, self->eos.stream, self->eos.stream ? strlen(self->eos.stream) : 0);
    dn_wb_u64(w, (uint64_t)self->eos.final_run_number);
    dn_wb_u64(w, self->eos.final_run_seq);
    dn_wb_u32(w, (uint32_t)self->eos.has_n_runs);
    dn_wb_u64(w, self->eos.n_runs);
    int n = dn_keytab_count(self->keytab);
    dn_wb_u32(w, (uint32_t)n);
    for (int k = 0; k < n; k++) {
        const char *key = dn_keytab_key(self->keytab, k);
        dn_wb_str(w, key, strlen(key));
        const skey_t *sk = &self->keys[k];
        dn_wb_u32(w, (uint32_t)sk->n_bins | (sk->n_bins_y > 0 ? KEY_2D : 0));
        if (sk->n_bins_y > 0)
            dn_wb_u32(w, (uint32_t)sk->n_bins_y);
        self->method->key_save(self->m, self->keys[k].state, w);
    }
    if (self->method->save)
        self->method->save(self->m, w);
}

/* Positions, flags, counters and END_OF_STREAM of the body. */
static int load_head(dn_scorer_t *self, dn_rbuf_t *r, dn_err_t *err)
{
    self->st.next_seq = dn_rb_u64(r);
    uint32_t flags = dn_rb_u32(r);
    self->st.runs = dn_rb_u64(r);
    self->st.labels = dn_rb_u64(r);
    uint32_t has_stream = dn_rb_u32(r), sl = 0;
    const unsigned char *sb = dn_rb_str(r, &sl);
    self->eos.final_run_number = (int64_t)dn_rb_u64(r);
    self->eos.final_run_seq = dn_rb_u64(r);
    uint32_t has_n_runs = dn_rb_u32(r);
    self->eos.n_runs = dn_rb_u64(r);
    if (r->bad || flags > 3 || has_stream > 1 || has_n_runs > 1 || (flags & 2 && !(flags & 1)) ||
        (!has_stream && sl) || (sl && memchr(sb, 0, sl)))
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: damaged header (flags %u)",
                          self->name, flags);
    self->st.end_seen = flags & 1;
    self->st.end_done = flags >> 1 & 1;
    self->eos.has_n_runs = (int)has_n_runs;
    if (has_stream && !(self->eos.stream = strndup((const char *)sb, sl)))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    return 0;
}

/* One key of the body: name, bins, the method's state. */
static int load_key(dn_scorer_t *self, dn_rbuf_t *r, dn_err_t *err)
{
    uint32_t kl = 0;
    const unsigned char *kb = dn_rb_str(r, &kl);
    uint32_t nb = dn_rb_u32(r), ny = 0;
    if (nb & KEY_2D) {
        nb &= ~KEY_2D;
        ny = dn_rb_u32(r);
        if (ny < 1 || nb % ny)
            r->bad = 1;
    }
    if (r->bad || kl < 1 || kl > DN_MSG_KEY_MAX || nb < 1 || nb > DN_MSG_BINS_MAX ||
        memchr(kb, 0, kl))
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: damaged key %d", self->name,
                          dn_keytab_count(self->keytab));
    char key[DN_MSG_KEY_MAX + 1];
    memcpy(key, kb, kl);
    key[kl] = 0;
    if (dn_keytab_find(self->keytab, key) >= 0)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: key '%s' twice", self->name, key);
    int k = key_reserve(self, key, (int)nb, (int)ny, err);
    if (k < 0)
        return k;
    int rc = self->method->key_load(self->m, dn_keytab_key(self->keytab, k), (int)nb, r,
                                    &self->keys[k].state, err);
    if (rc) {
        key_unreserve(self, k);
        dn_err_prefix(err, "checkpoint %s: key '%s'", self->name, key);
        return rc;
    }
    if (r->bad)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: key '%s': truncated", self->name, key);
    return 0;
}

int dn_scorer_load(dn_scorer_t *self, dn_store_t *store, dn_rbuf_t *r, dn_err_t *err)
{
    if (dn_keytab_count(self->keytab) || dn_heldq_count(self->held) || self->st.next_seq)
        return dn_err_set(err, DN_ESTATE, "checkpoint %s: the scorer is not fresh", self->name);
    int rc = load_head(self, r, err);
    uint32_t n = rc ? 0 : dn_rb_u32(r);
    for (uint32_t k = 0; !rc && k < n; k++)
        rc = r->bad ? dn_err_set(err, DN_EFORMAT, "checkpoint %s: truncated", self->name)
                    : load_key(self, r, err);
    if (!rc && self->method->load)
        rc = self->method->load(self->m, self, store, r, err);
    if (!rc && r->bad)
        rc = dn_err_set(err, DN_EFORMAT, "checkpoint %s: truncated", self->name);
    if (!rc)
        rc = dn_heldq_restore(self->held, store, err);
    int last = dn_heldq_count(self->held) - 1;
    if (!rc && last >= 0 && dn_heldq_at(self->held, last)->seq >= self->st.next_seq)
        rc = dn_err_set(err, DN_EFORMAT, "checkpoint %s: held run %llu is not below the next "
                        "run_seq %llu", self->name,
                        (unsigned long long)dn_heldq_at(self->held, last)->seq,
                        (unsigned long long)self->st.next_seq);
    for (int i = 0; !rc && i <= last; i++)
        for (int j = 0; !rc && j < dn_heldq_at(self->held, i)->n_h; j++)
            if (dn_keytab_find(self->keytab, hist_of(dn_heldq_at(self->held, i), j).key) < 0)
                rc = dn_err_set(err, DN_EFORMAT, "checkpoint %s: held run %llu names a key "
                                "the checkpoint does not have", self->name,
                                (unsigned long long)dn_heldq_at(self->held, i)->seq);
    return rc;
}

int dn_scorer_stage(dn_scorer_t *self, dn_store_batch_t *batch)
{
    int rc = dn_heldq_stage(self->held, batch);
    if (!rc && self->method->stage)
        rc = self->method->stage(self->m, batch);
    return rc;
}

void dn_scorer_committed(dn_scorer_t *self)
{
    dn_heldq_committed(self->held);
    if (self->method->committed)
        self->method->committed(self->m);
    self->dirty = 0;
}

/* ---- accessors ------------------------------------------------------------------------------ */

int dn_scorer_dirty(const dn_scorer_t *self) { return self->dirty; }
void dn_scorer_touch(dn_scorer_t *self) { self->dirty = 1; }
int dn_scorer_end_seen(const dn_scorer_t *self) { return self->st.end_seen; }
void *dn_scorer_method_self(const dn_scorer_t *self) { return self->m; }
void *dn_scorer_sink_arg(const dn_scorer_t *self) { return self->sink.arg; }

dn_scorer_stats_t dn_scorer_stats(const dn_scorer_t *self)
{
    dn_scorer_stats_t st = self->st;
    st.keys = dn_keytab_count(self->keytab);
    st.held = dn_heldq_count(self->held);
    return st;
}

int dn_scorer_key_find(const dn_scorer_t *self, const char *key)
{
    return dn_keytab_find(self->keytab, key);
}

int dn_scorer_key_count(const dn_scorer_t *self) { return dn_keytab_count(self->keytab); }

const char *dn_scorer_key_name(const dn_scorer_t *self, int i)
{
    return dn_keytab_key(self->keytab, i);
}

int dn_scorer_key_bins(const dn_scorer_t *self, int i)
{
    return i >= 0 && i < dn_keytab_count(self->keytab) ? self->keys[i].n_bins : 0;
}

int dn_scorer_key_bins_y(const dn_scorer_t *self, int i)
{
    return i >= 0 && i < dn_keytab_count(self->keytab) ? self->keys[i].n_bins_y : 0;
}

void *dn_scorer_key_state(const dn_scorer_t *self, int i)
{
    return i >= 0 && i < dn_keytab_count(self->keytab) ? self->keys[i].state : NULL;
}

int dn_scorer_held_count(const dn_scorer_t *self) { return dn_heldq_count(self->held); }

const dn_held_t *dn_scorer_held_at(const dn_scorer_t *self, int i)
{
    return dn_heldq_at(self->held, i);
}
