/* events.c: the events log producer (events.h): the envelopes of a run, a
 * label and the end of the stream, the rule for labels from requests, and
 * the producer's part of the checkpoint.
 *
 * Invariant: runs == the number of Run entries this producer appended to the
 * log (so the next run's run_seq), labels == the number of Label entries,
 * ended == END_OF_STREAM is in the log; each counter moves only after
 * dn_source_append accepted the entry, and they are saved in the checkpoint
 * that commits with those entries. */
#include "events.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

struct dn_events_t {
    dn_source_t *source; /* borrowed */
    char *service, *stream, *fingerprint, *own_label_rule;
    int exit_at_end;
    uint64_t runs, labels, taken, dropped;
    int ended;
};

dn_events_t *dn_events_new(dn_source_t *source, const dn_events_opts_t *opts, dn_err_t *err)
{
    if (!source || !opts || !opts->service || !opts->service[0] || !opts->stream ||
        !opts->stream[0]) {
        dn_err_set(err, DN_EINVAL, "events producer: need a source, a service and a stream "
                   "name");
        return NULL;
    }
    dn_events_t *self = calloc(1, sizeof *self);
    if (!self)
        goto fail;
    self->source = source;
    self->service = strdup(opts->service);
    self->stream = strdup(opts->stream);
    self->fingerprint = strdup(opts->fingerprint ? opts->fingerprint : "");
    self->own_label_rule =
        strdup(opts->own_label_rule ? opts->own_label_rule : "its producer labelled it");
    if (!self->service || !self->stream || !self->fingerprint || !self->own_label_rule)
        goto fail;
    return self;
fail:
    dn_events_destroy(&self);
    dn_err_set(err, DN_ENOMEM, "out of memory");
    return NULL;
}

dn_events_t *dn_events_open(dn_node_t *node, const dn_events_opts_t *opts,
                            dn_node_entry_fn on_label, dn_err_t *err)
{
    int64_t window, min_followers, follower_timeout, max_followers;
    if (dn_node_int(node, "window", 1, INT32_MAX, &window, err) ||
        dn_node_int(node, "min_followers", 1, 1000, &min_followers, err) ||
        dn_node_int(node, "follower_timeout_ms", 1, INT32_MAX, &follower_timeout, err) ||
        dn_node_int(node, "max_followers", 1, 100000, &max_followers, err))
        return NULL;
    /* required_followers: "a,b,c" into a NULL-terminated list of names. */
    char names[1024];
    const char *list = dn_node_str(node, "required_followers");
    if (strlen(list) >= sizeof names) {
        dn_err_set(err, DN_EINVAL, "required_followers: longer than %zu bytes", sizeof names - 1);
        return NULL;
    }
    snprintf(names, sizeof names, "%s", list);
    const char *required[65] = {NULL};
    int n_required = 0;
    for (char *save = NULL, *name = strtok_r(names, ", ", &save); name;
         name = strtok_r(NULL, ", ", &save)) {
        if (n_required == 64) {
            dn_err_set(err, DN_EINVAL, "required_followers: more than 64 names");
            return NULL;
        }
        required[n_required++] = name;
    }
    dn_source_opts_t so = {.log = "events", .service = opts->service, .window = (int)window,
                           .min_followers = (int)min_followers,
                           .follower_timeout_ms = (int)follower_timeout,
                           .max_followers = (int)max_followers,
                           .required = n_required ? required : NULL};
    dn_source_t *source = dn_node_source(node, "events", "requests", &so, on_label, err);
    if (!source)
        return NULL;
    dn_events_t *self = dn_events_new(source, opts, err);
    if (self)
        self->exit_at_end = dn_node_bool(node, "exit_at_end");
    return self;
}

void dn_events_destroy(dn_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_events_t *self = *self_p;
    free(self->service);
    free(self->stream);
    free(self->fingerprint);
    free(self->own_label_rule);
    free(self);
    *self_p = NULL;
}

/* ---- appending ------------------------------------------------------------- */

int dn_events_append_run(dn_events_t *self, int64_t run_number, double time,
                         const dn_histin_t *hists, int n_hists, dn_err_t *err)
{
    size_t n = n_hists > 0 ? (size_t)n_hists : 0;
    Dinamo__Histogram *hs = calloc(n + 1, sizeof *hs);
    Dinamo__Histogram **hp = calloc(n + 1, sizeof *hp);
    int rc;
    if (!hs || !hp) {
        rc = dn_err_set(err, DN_ENOMEM, "run %lld: out of memory", (long long)run_number);
        goto fail;
    }
    /* The message borrows the histograms' arrays; protobuf-c's fields are not
     * const, nothing writes through them. */
    for (size_t k = 0; k < n; k++) {
        const dn_histin_t *h = &hists[k];
        dinamo__histogram__init(&hs[k]);
        hs[k].key = h->key;
        hs[k].subsystem = h->subsystem;
        hs[k].n_counts = (size_t)h->n_bins;
        hs[k].counts = h->counts;
        hs[k].n_variances = h->variances ? (size_t)h->n_bins : 0;
        hs[k].variances = h->variances;
        int nx = h->n_bins_y > 0 ? h->n_bins / h->n_bins_y : h->n_bins;
        hs[k].n_edges = h->edges ? (size_t)nx + 1 : 0;
        hs[k].edges = h->edges;
        if (h->n_bins_y > 0) {
            hs[k].has_n_bins_y = 1;
            hs[k].n_bins_y = (uint32_t)h->n_bins_y;
            hs[k].n_edges_y = h->edges_y ? (size_t)h->n_bins_y + 1 : 0;
            hs[k].edges_y = h->edges_y;
        }
        hp[k] = &hs[k];
    }
    Dinamo__Run m = DINAMO__RUN__INIT;
    m.stream = self->stream;
    m.has_run_number = m.has_run_seq = m.has_time = 1;
    m.run_number = run_number;
    m.run_seq = self->runs;
    m.time = time;
    m.n_histograms = n;
    m.histograms = hp;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    env.run = &m;
    if ((rc = dn_source_append(self->source, &env, err))) {
        dn_err_prefix(err, "run %lld", (long long)run_number);
        goto fail;
    }
    self->runs++;
fail:
    free(hs);
    free(hp);
    return rc;
}

/* Appends the label message m (complete but for stream and time). Returns 0
 * or dn_source_append's error (its message names the label). */
static int append_label(dn_events_t *self, Dinamo__Label *m, dn_err_t *err)
{
    m->stream = self->stream;
    if (!m->has_time) {
        m->has_time = 1;
        m->time = dn_clock_wall();
    }
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = m;
    int rc = dn_source_append(self->source, &env, err);
    if (!rc)
        self->labels++;
    return rc;
}

int dn_events_append_label(dn_events_t *self, const dn_events_label_t *label, dn_err_t *err)
{
    Dinamo__Label m = DINAMO__LABEL__INIT;
    m.has_run_number = m.has_run_seq = m.has_verdict = m.has_source = 1;
    m.run_number = label->run_number;
    m.run_seq = label->run_seq;
    m.verdict = label->bad ? DINAMO__VERDICT__BAD : DINAMO__VERDICT__GOOD;
    m.source = label->source;
    m.who = self->service;
    m.reason = (char *)label->reason;
    m.histogram_key = (char *)label->histogram_key;
    m.truth = (Dinamo__Truth *)label->truth;
    int rc = append_label(self, &m, err);
    return rc ? dn_err_prefix(err, "label of run %lld", (long long)label->run_number) : 0;
}

int dn_events_append_eos(dn_events_t *self, int64_t final_run_number, dn_err_t *err)
{
    if (self->ended)
        return dn_err_set(err, DN_ESTATE, "end of stream: already appended");
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = c.has_final_run_number = c.has_final_run_seq = c.has_n_runs = 1;
    c.has_n_labels = 1;
    c.kind = DINAMO__CONTROL_KIND__END_OF_STREAM;
    c.stream = self->stream;
    c.final_run_number = final_run_number;
    c.final_run_seq = self->runs ? self->runs - 1 : 0;
    c.n_runs = self->runs;
    c.n_labels = self->labels;
    c.service = self->service;
    c.log = (char *)"events";
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    int rc = dn_source_append(self->source, &env, err);
    if (rc)
        return dn_err_prefix(err, "end of stream");
    self->ended = 1;
    dn_log(DN_LOG_INFO, "end of stream appended: %llu runs, %llu labels",
           (unsigned long long)self->runs, (unsigned long long)self->labels);
    return 0;
}

/* ---- labels from requests ------------------------------------------------------ */

static const char *who_of(const Dinamo__Label *l)
{
    return l->who && l->who[0] ? l->who : "?";
}

/* A validation code of dn_source_append: the label itself was wrong. */
static int refused_by_validation(int rc)
{
    return rc == DN_EFORMAT || rc == DN_ERANGE || rc == DN_EMISMATCH;
}

int dn_events_take_label(dn_events_t *self, const Dinamo__Label *label,
                         const dn_events_run_t *run, dn_err_t *err)
{
    const int automatic = label->source == DINAMO__LABEL_SOURCE__AUTO;
    if (!run->found) {
        self->dropped++;
        DN_LOG_LIMITED(DN_LOG_WARN, "label for run %lld from %s: %s published no such run; dropped",
                       (long long)label->run_number, who_of(label), self->service);
        return 0;
    }
    if (automatic && run->labelled) {
        self->dropped++;
        DN_LOG_LIMITED(DN_LOG_INFO, "automatic label for run %lld dropped: %s",
                       (long long)label->run_number, self->own_label_rule);
        return 0;
    }
    Dinamo__Label m = *label;
    Dinamo__Truth *no_truth = NULL;
    m.truth = no_truth;
    m.has_run_seq = 1;
    m.run_seq = run->run_seq;
    dn_err_t aerr = {0};
    int rc = append_label(self, &m, &aerr);
    if (rc && refused_by_validation(rc)) {
        self->dropped++;
        DN_LOG_LIMITED(DN_LOG_WARN, "label from %s refused: %s; dropped", who_of(label), aerr.msg);
        return 0;
    }
    if (rc)
        return dn_err_set(err, rc, "label of run %lld: %s", (long long)label->run_number,
                          aerr.msg);
    self->taken++;
    const char *hk = label->histogram_key && label->histogram_key[0] ? label->histogram_key : "";
    const char *why = label->reason && label->reason[0] ? label->reason : "";
    dn_log(DN_LOG_INFO, "label for run %lld%s%s: %s by %s (%s)%s%s",
           (long long)label->run_number, hk[0] ? ", histogram " : "", hk,
           label->verdict == DINAMO__VERDICT__GOOD ? "good" : "bad", who_of(label),
           automatic ? "automatic" : "person", why[0] ? ": " : "", why);
    return 0;
}

int dn_events_find_row(const int64_t *run_numbers, uint64_t n_rows, int64_t run_number,
                       uint64_t *row)
{
    uint64_t lo = 0, hi = n_rows; /* the run is in [lo, hi) if anywhere */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (run_numbers[mid] == run_number) {
            *row = mid;
            return 1;
        }
        if (run_numbers[mid] < run_number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* ---- state ------------------------------------------------------------------------ */

int64_t dn_events_room(const dn_events_t *self)
{
    return dn_source_room(self->source);
}

dn_events_stats_t dn_events_stats(const dn_events_t *self)
{
    return (dn_events_stats_t){.runs = self->runs, .labels = self->labels, .taken = self->taken,
                               .dropped = self->dropped, .ended = self->ended};
}

dn_source_t *dn_events_source(const dn_events_t *self)
{
    return self->source;
}

int dn_events_delivered(const dn_events_t *self)
{
    if (!self->ended)
        return 0;
    dn_source_stats_t st = dn_source_stats(self->source);
    /* Every follower heard has it, not only those holding the stream back (one
     * that stopped progressing for a while still gets the end), unless a list
     * of required followers says whom to wait for. */
    return st.followers > 0 && st.slowest == st.head && st.cursor == st.head &&
           (st.has_required || st.heard_slowest == st.head);
}

void dn_events_stop_when_delivered(const dn_events_t *self, dn_node_t *node)
{
    if (!self->exit_at_end || !dn_events_delivered(self))
        return;
    dn_log(DN_LOG_INFO, "every follower has the whole stream: exiting (exit_at_end)");
    dn_node_stop(node);
}

void dn_events_save(const dn_events_t *self, dn_wbuf_t *w)
{
    dn_wb_str(w, self->fingerprint, strlen(self->fingerprint));
    dn_wb_u64(w, self->runs);
    dn_wb_u64(w, self->labels);
    dn_wb_u32(w, (uint32_t)self->ended);
}

/* The value of `key` in a fingerprint "k=v k=v ..." of len bytes: *val and
 * its length, or 0 when the key is not there. */
static int fp_value(const char *fp, size_t len, const char *key, size_t klen, const char **val,
                    size_t *vlen)
{
    const char *p = fp, *end = fp + len;
    while (p < end) {
        const char *tok = p;
        while (p < end && *p != ' ')
            p++;
        const char *eq = memchr(tok, '=', (size_t)(p - tok));
        if (eq && (size_t)(eq - tok) == klen && !memcmp(tok, key, klen)) {
            *val = eq + 1;
            *vlen = (size_t)(p - eq - 1);
            return 1;
        }
        while (p < end && *p == ' ')
            p++;
    }
    return 0;
}

/* The settings in which fingerprint a (alen bytes, the log's) and b (now)
 * differ, "seed: 70 in the log, 71 now; runs: ...", into out[cap]; a long
 * fingerprint no longer fits an error message whole. */
static void fp_differences(const char *a, size_t alen, const char *b, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++) { /* keys of b, then keys only in a */
        const char *x = pass ? a : b, *y = pass ? b : a;
        size_t xlen = pass ? alen : strlen(b), ylen = pass ? strlen(b) : alen;
        const char *p = x, *end = x + xlen;
        while (p < end && used + 1 < cap) {
            const char *tok = p;
            while (p < end && *p != ' ')
                p++;
            const char *eq = memchr(tok, '=', (size_t)(p - tok));
            if (eq) {
                size_t klen = (size_t)(eq - tok), xv = (size_t)(p - eq - 1), yv = 0;
                const char *yval = NULL;
                int there = fp_value(y, ylen, tok, klen, &yval, &yv);
                if (pass == 0 && (!there || yv != xv || memcmp(yval, eq + 1, xv)))
                    used += (size_t)snprintf(out + used, cap - used, "%s%.*s: %.*s in the log, "
                                             "%.*s now", used ? "; " : "", (int)klen, tok,
                                             there ? (int)yv : 4, there ? yval : "none",
                                             (int)xv, eq + 1);
                else if (pass == 1 && !there)
                    used += (size_t)snprintf(out + used, cap - used, "%s%.*s: %.*s in the log, "
                                             "none now", used ? "; " : "", (int)klen, tok,
                                             (int)xv, eq + 1);
            }
            while (p < end && *p == ' ')
                p++;
        }
    }
    if (!out[0])
        snprintf(out, cap, "the settings' order or format");
}

int dn_events_load(dn_events_t *self, dn_rbuf_t *r, dn_err_t *err)
{
    uint32_t fl = 0;
    const unsigned char *fp = dn_rb_str(r, &fl);
    if (fp && (fl != strlen(self->fingerprint) || memcmp(fp, self->fingerprint, fl))) {
        char diff[384];
        fp_differences((const char *)fp, fl, self->fingerprint, diff, sizeof diff);
        return dn_err_set(err, DN_EMISMATCH, "the events log in the data directory was "
                          "written by a %s configured otherwise (%s). Configure it the same "
                          "or use another data_dir", self->service, diff);
    }
    uint64_t runs = dn_rb_u64(r), labels = dn_rb_u64(r);
    uint32_t ended = dn_rb_u32(r);
    if (r->bad || ended > 1)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: the events producer's record is "
                          "truncated or damaged", self->service);
    self->runs = runs;
    self->labels = labels;
    self->ended = (int)ended;
    return 0;
}
