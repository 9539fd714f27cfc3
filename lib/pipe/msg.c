/* msg.c: protobuf envelope encode/decode with semantic validation, and the
 * per-producer sequence tracker (see msg.h).
 *
 * Validation runs on every decoded envelope and before every encode, so both
 * ends of a socket agree on what is valid. Each failure names where it is
 * ("run 1234 seq 5: histogram 'calo/e': bin 7: ...") and maps to one
 * dn_reject_t, which is what receivers count.
 *
 * The tracker is a chained hash table (FNV-1a) from producer name to
 * (incarnation, highest seq), bounded at `max` producers (DN_SEQ_PRODUCERS_MAX
 * by default): each producer is in one of two recency lists, those seen once
 * and those seen again, and a new producer at the cap evicts the least
 * recently seen of those seen once (else of those seen again), counted. So
 * 100k heartbeats each from a new name (issue 17: 27 -> 33 MB) leave the
 * table at its cap and the producers that keep sending in it. Its saved form
 * is little-endian and versioned: "DNSQ" u32 version (2), u64 n, six u64
 * totals, then n times (u32 name length, name bytes, u64 incarnation, u64
 * seq, u8 seen again), each list from its least recently seen; version 1
 * (five totals, no flag) is still read. */
#include "msg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "horizon.h"

/* ---- names ------------------------------------------------------------- */

const char *dn_reject_name(int reason)
{
    static const char *names[DN_REJECT__N] = {
        [DN_REJECT_PARSE] = "parse",
        [DN_REJECT_ENVELOPE] = "envelope",
        [DN_REJECT_MISSING] = "missing",
        [DN_REJECT_KEY] = "key",
        [DN_REJECT_DUPLICATE_KEY] = "duplicate_key",
        [DN_REJECT_NO_BINS] = "no_bins",
        [DN_REJECT_COUNT] = "count",
        [DN_REJECT_VARIANCE] = "variance",
        [DN_REJECT_LENGTH] = "length",
        [DN_REJECT_EDGES] = "edges",
        [DN_REJECT_ENUM] = "enum",
        [DN_REJECT_VALUE] = "value",
        [DN_REJECT_UNKNOWN] = "unknown",
    };
    if (reason < 0 || reason >= DN_REJECT__N)
        return "?";
    return names[reason];
}

uint64_t dn_msg_stats_rejected(const dn_msg_stats_t *stats)
{
    uint64_t n = 0;
    for (int i = 0; i < DN_REJECT__N; i++)
        n += stats->rejected[i];
    return n;
}

dn_msg_type_t dn_msg_type(const Dinamo__Envelope *env)
{
    if (!env)
        return DN_MSG_NONE;
    switch (env->body_case) {
    case DINAMO__ENVELOPE__BODY_RUN: return env->run ? DN_MSG_RUN : DN_MSG_NONE;
    case DINAMO__ENVELOPE__BODY_LABEL: return env->label ? DN_MSG_LABEL : DN_MSG_NONE;
    case DINAMO__ENVELOPE__BODY_SCORE: return env->score ? DN_MSG_SCORE : DN_MSG_NONE;
    case DINAMO__ENVELOPE__BODY_WEIGHTS: return env->weights ? DN_MSG_WEIGHTS : DN_MSG_NONE;
    case DINAMO__ENVELOPE__BODY_CONTROL: return env->control ? DN_MSG_CONTROL : DN_MSG_NONE;
    case DINAMO__ENVELOPE__BODY_THRESHOLD:
        return env->threshold ? DN_MSG_THRESHOLD : DN_MSG_NONE;
    default: return DN_MSG_NONE;
    }
}

const char *dn_msg_type_name(dn_msg_type_t type)
{
    switch (type) {
    case DN_MSG_RUN: return "run";
    case DN_MSG_LABEL: return "label";
    case DN_MSG_SCORE: return "score";
    case DN_MSG_WEIGHTS: return "weights";
    case DN_MSG_CONTROL: return "control";
    case DN_MSG_THRESHOLD: return "threshold";
    default: return "none";
    }
}

/* ---- validation -------------------------------------------------------- */

/* A refusal: sets *reason and the message, returns code. */
static int reject(dn_reject_t *reason, dn_reject_t why, dn_err_t *err, int code,
                  const char *where, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int reject(dn_reject_t *reason, dn_reject_t why, dn_err_t *err, int code,
                  const char *where, const char *fmt, ...)
{
    if (reason)
        *reason = why;
    if (err) {
        char what[DN_ERRMSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        dn_err_set(err, code, "%s%s%s", where, where[0] ? ": " : "", what);
    }
    return code;
}

/* Printable copy of a (possibly hostile) string for messages: at most 64
 * bytes, control characters as '?'. */
static void printable(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    if (!s)
        s = "";
    for (; *s && n + 4 < cap && n < 64; s++)
        out[n++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
    if (*s && n + 4 < cap) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* 0 when key is a valid histogram key, else the refusal. */
static int check_key(const char *key, const char *what, const char *where,
                     dn_reject_t *reason, dn_err_t *err)
{
    if (!key || !key[0])
        return reject(reason, DN_REJECT_KEY, err, DN_EFORMAT, where, "%s is empty", what);
    size_t n = strlen(key);
    char p[80];
    printable(p, sizeof p, key);
    if (n > DN_MSG_KEY_MAX)
        return reject(reason, DN_REJECT_KEY, err, DN_EFORMAT, where,
                      "%s '%s' is %zu bytes long (at most %d)", what, p, n, DN_MSG_KEY_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return reject(reason, DN_REJECT_KEY, err, DN_EFORMAT, where,
                          "%s '%s' has a control character at byte %zu", what, p, i);
    return 0;
}

int dn_msg_check_key(const char *key, const char *what, const char *where, dn_err_t *err)
{
    return check_key(key, what, where, NULL, err);
}

/* n edges for nb bins of one axis: none, or nb + 1 finite increasing values. */
static int check_edges(const double *e, size_t n, size_t nb, const char *axis, const char *at,
                       dn_reject_t *reason, dn_err_t *err)
{
    if (!n)
        return 0;
    if (n != nb + 1)
        return reject(reason, DN_REJECT_LENGTH, err, DN_EMISMATCH, at,
                      "%zu edges%s for %zu bins (want %zu)", n, axis, nb, nb + 1);
    for (size_t j = 0; j <= nb; j++) {
        if (!isfinite(e[j]))
            return reject(reason, DN_REJECT_EDGES, err, DN_ERANGE, at, "edge%s %zu is %g",
                          axis, j, e[j]);
        if (j > 0 && !(e[j] > e[j - 1]))
            return reject(reason, DN_REJECT_EDGES, err, DN_ERANGE, at,
                          "bin %zu%s: edges not increasing (%g then %g)", j - 1, axis,
                          e[j - 1], e[j]);
    }
    return 0;
}

static int validate_histogram(const Dinamo__Histogram *h, const char *where,
                              dn_reject_t *reason, dn_err_t *err)
{
    int rc = check_key(h->key, "histogram key", where, reason, err);
    if (rc)
        return rc;
    char p[80], at[DN_ERRMSG_MAX];
    printable(p, sizeof p, h->key);
    snprintf(at, sizeof at, "%s%shistogram '%s'", where, where[0] ? ": " : "", p);
    size_t nb = h->n_counts;
    if (nb == 0)
        return reject(reason, DN_REJECT_NO_BINS, err, DN_EFORMAT, at, "no bins");
    if (nb > DN_MSG_BINS_MAX)
        return reject(reason, DN_REJECT_NO_BINS, err, DN_EFORMAT, at,
                      "%zu bins (at most %d)", nb, DN_MSG_BINS_MAX);
    for (size_t j = 0; j < nb; j++) {
        double c = h->counts[j];
        if (!isfinite(c))
            return reject(reason, DN_REJECT_COUNT, err, DN_ERANGE, at,
                          "bin %zu: count %g is not finite", j, c);
        if (c < 0)
            return reject(reason, DN_REJECT_COUNT, err, DN_ERANGE, at,
                          "bin %zu: count %g is negative", j, c);
    }
    if (h->n_variances) {
        if (h->n_variances != nb)
            return reject(reason, DN_REJECT_LENGTH, err, DN_EMISMATCH, at,
                          "%zu variances for %zu bins", h->n_variances, nb);
        for (size_t j = 0; j < nb; j++) {
            double v = h->variances[j];
            if (!isfinite(v) || v < 0)
                return reject(reason, DN_REJECT_VARIANCE, err, DN_ERANGE, at,
                              "bin %zu: variance %g is %s", j, v,
                              isfinite(v) ? "negative" : "not finite");
        }
    }
    size_t ny = h->has_n_bins_y ? h->n_bins_y : 0, nx = nb;
    if (ny) {
        if (nb % ny)
            return reject(reason, DN_REJECT_LENGTH, err, DN_EMISMATCH, at,
                          "%zu bins are not a whole number of rows of %zu bins of y", nb, ny);
        nx = nb / ny;
        if ((h->n_edges != 0) != (h->n_edges_y != 0))
            return reject(reason, DN_REJECT_EDGES, err, DN_EMISMATCH, at,
                          "edges of %s only: a 2-D histogram gives both axes' or neither",
                          h->n_edges ? "x" : "y");
    } else if (h->n_edges_y)
        return reject(reason, DN_REJECT_EDGES, err, DN_EMISMATCH, at,
                      "%zu edges of y for a 1-D histogram", h->n_edges_y);
    if ((rc = check_edges(h->edges, h->n_edges, nx, "", at, reason, err)) ||
        (rc = check_edges(h->edges_y, h->n_edges_y, ny, " of y", at, reason, err)))
        return rc;
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int validate_run(const Dinamo__Run *r, dn_reject_t *reason, dn_err_t *err)
{
    char where[128];
    if (!r->has_run_number)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, "run", "no run number");
    if (!r->has_run_seq)
        snprintf(where, sizeof where, "run %lld", (long long)r->run_number);
    else
        snprintf(where, sizeof where, "run %lld seq %llu", (long long)r->run_number,
                 (unsigned long long)r->run_seq);
    if (!r->has_run_seq)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no run_seq");
    if (r->has_time && !isfinite(r->time))
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where, "time %g is not finite",
                      r->time);
    if (r->n_histograms == 0)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no histograms");
    for (size_t i = 0; i < r->n_histograms; i++) {
        if (!r->histograms[i])
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where,
                          "histogram %zu is missing", i);
        int rc = validate_histogram(r->histograms[i], where, reason, err);
        if (rc)
            return rc;
    }
    if (r->n_histograms > 1) {
        const char **keys = malloc(r->n_histograms * sizeof *keys);
        if (!keys)
            return dn_err_set(err, DN_ENOMEM, "%s: out of memory checking keys", where);
        for (size_t i = 0; i < r->n_histograms; i++)
            keys[i] = r->histograms[i]->key;
        qsort(keys, r->n_histograms, sizeof *keys, cmp_str_ptr);
        int rc = 0;
        for (size_t i = 1; i < r->n_histograms && !rc; i++)
            if (strcmp(keys[i - 1], keys[i]) == 0) {
                char p[80];
                printable(p, sizeof p, keys[i]);
                rc = reject(reason, DN_REJECT_DUPLICATE_KEY, err, DN_EFORMAT, where,
                            "histogram key '%s' appears more than once", p);
            }
        free(keys);
        if (rc)
            return rc;
    }
    return 0;
}

static int validate_label(const Dinamo__Label *l, dn_reject_t *reason, dn_err_t *err)
{
    char where[128];
    if (!l->has_run_number)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, "label", "no run number");
    snprintf(where, sizeof where, "label of run %lld", (long long)l->run_number);
    if (!l->has_run_seq)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no run_seq");
    if (!l->has_verdict)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no verdict");
    if (l->verdict != DINAMO__VERDICT__GOOD && l->verdict != DINAMO__VERDICT__BAD)
        return reject(reason, DN_REJECT_ENUM, err, DN_ERANGE, where,
                      "verdict %d is neither GOOD nor BAD", (int)l->verdict);
    if (!l->has_source)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no source");
    if (l->source < DINAMO__LABEL_SOURCE__GENERATOR || l->source > DINAMO__LABEL_SOURCE__RECORDED)
        return reject(reason, DN_REJECT_ENUM, err, DN_ERANGE, where, "unknown source %d",
                      (int)l->source);
    if (l->histogram_key && l->histogram_key[0]) {
        int rc = check_key(l->histogram_key, "histogram key", where, reason, err);
        if (rc)
            return rc;
    }
    if (l->has_time && !isfinite(l->time))
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where, "time %g is not finite",
                      l->time);
    const Dinamo__Truth *t = l->truth;
    if (t) {
        if ((t->has_mu && !isfinite(t->mu)) || (t->has_sigma && !(isfinite(t->sigma) && t->sigma >= 0)))
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                          "truth mu %g / sigma %g out of range", t->mu, t->sigma);
        if ((t->has_events && t->events < 0) || (t->has_dead_bins && t->dead_bins < 0))
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                          "truth events %d / dead bins %d negative", (int)t->events,
                          (int)t->dead_bins);
        if ((t->has_slow_kind && t->slow_kind > 3) ||
            (t->has_slow_size && !(isfinite(t->slow_size) && t->slow_size >= 0)))
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                          "truth slow kind %u / slow size %g out of range (kind 0..3, size "
                          "finite >= 0)", (unsigned)t->slow_kind, t->slow_size);
    }
    return 0;
}

static int validate_array(const double *v, size_t n, size_t want, const char *name,
                          int nonneg, const char *where, dn_reject_t *reason, dn_err_t *err)
{
    if (n == 0)
        return 0;
    if (n != want)
        return reject(reason, DN_REJECT_LENGTH, err, DN_EMISMATCH, where,
                      "%zu %s for %zu bins", n, name, want);
    for (size_t j = 0; j < n; j++)
        if (!isfinite(v[j]) || (nonneg && v[j] < 0))
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                          "bin %zu: %s value %g out of range", j, name, v[j]);
    return 0;
}

/* Score.horizons (proto: HorizonScore), each against the Score's bin count
 * nb as its own arrays give it (pulls, else reference; 0: none, so none in
 * the horizons either). */
static int validate_horizons(const Dinamo__Score *s, size_t nb, const char *where,
                             dn_reject_t *reason, dn_err_t *err)
{
    if (!s->n_horizons)
        return 0;
    if (s->status != DINAMO__SCORE_STATUS__OK)
        return reject(reason, DN_REJECT_VALUE, err, DN_EFORMAT, where,
                      "%zu horizons with status %d (only status OK has them)", s->n_horizons,
                      (int)s->status);
    if (s->n_horizons > DN_MSG_HORIZONS_MAX)
        return reject(reason, DN_REJECT_LENGTH, err, DN_EMISMATCH, where,
                      "%zu horizons (at most %d)", s->n_horizons, DN_MSG_HORIZONS_MAX);
    for (size_t k = 0; k < s->n_horizons; k++) {
        const Dinamo__HorizonScore *h = s->horizons[k];
        char at[300], p[40];
        if (!h || !h->name || !h->name[0])
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where,
                          "horizon %zu: no name", k);
        printable(p, sizeof p, h->name);
        snprintf(at, sizeof at, "%s: horizon '%s'", where, p);
        size_t len = strlen(h->name);
        if (len > DN_MSG_HORIZON_NAME_MAX)
            return reject(reason, DN_REJECT_VALUE, err, DN_EFORMAT, at,
                          "name of %zu bytes (at most %d)", len, DN_MSG_HORIZON_NAME_MAX);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)h->name[i] < 0x20 || h->name[i] == 0x7f)
                return reject(reason, DN_REJECT_VALUE, err, DN_EFORMAT, at,
                              "control character 0x%02x in the name at byte %zu",
                              (unsigned)(unsigned char)h->name[i], i);
        if (h->has_age && !(isfinite(h->age) && h->age >= 0))
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, at, "age %g out of range",
                          h->age);
        if (h->has_chi2 != h->has_age || h->has_score != h->has_age)
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, at,
                          "%s", h->has_age ? "an age without chi2 and score"
                                           : "chi2 or score without an age");
        if (h->has_chi2 && !(isfinite(h->chi2) && h->chi2 >= 0))
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, at, "chi2 %g out of range",
                          h->chi2);
        if (h->has_score && (isnan(h->score) || h->score == INFINITY))
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, at, "score %g out of range",
                          h->score);
        if (!h->has_age && (h->n_pulls || h->n_reference || h->n_reference_uncertainty))
            return reject(reason, DN_REJECT_LENGTH, err, DN_EMISMATCH, at,
                          "pulls or reference without an age");
        int rc;
        if ((h->n_pulls && h->n_pulls != nb) ||
            (h->n_reference && h->n_reference != nb) ||
            (h->n_reference_uncertainty && h->n_reference_uncertainty != nb))
            return reject(reason, DN_REJECT_LENGTH, err, DN_EMISMATCH, at,
                          "%zu pulls, %zu reference, %zu reference uncertainty: want 0 or "
                          "the score's %zu each", h->n_pulls, h->n_reference,
                          h->n_reference_uncertainty, nb);
        if ((rc = validate_array(h->pulls, h->n_pulls, nb, "pulls", 0, at, reason, err)) ||
            /* a snapshot that followed an accepted change (horizon.h) has its
             * mu moved by that change, which may take a bin a little below 0 */
            (rc = validate_array(h->reference, h->n_reference, nb, "reference", 0, at, reason,
                                 err)) ||
            (rc = validate_array(h->reference_uncertainty, h->n_reference_uncertainty, nb,
                                 "reference uncertainty", 1, at, reason, err)))
            return rc;
    }
    return 0;
}

static int validate_score(const Dinamo__Score *s, dn_reject_t *reason, dn_err_t *err)
{
    char where[200], p[80];
    if (!s->has_run_number)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, "score", "no run number");
    snprintf(where, sizeof where, "score of run %lld", (long long)s->run_number);
    if (!s->has_run_seq)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no run_seq");
    int rc = check_key(s->histogram_key, "histogram key", where, reason, err);
    if (rc)
        return rc;
    printable(p, sizeof p, s->histogram_key);
    snprintf(where, sizeof where, "score of run %lld: histogram '%s'", (long long)s->run_number,
             p);
    if (!s->has_method)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no method");
    if (s->method != DINAMO__METHOD__METHOD_S && s->method != DINAMO__METHOD__METHOD_ML)
        return reject(reason, DN_REJECT_ENUM, err, DN_ERANGE, where, "unknown method %d",
                      (int)s->method);
    if (!s->has_status)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no status");
    if (s->status < DINAMO__SCORE_STATUS__OK || s->status > DINAMO__SCORE_STATUS__REJECTED)
        return reject(reason, DN_REJECT_ENUM, err, DN_ERANGE, where, "unknown status %d",
                      (int)s->status);
    if (s->status == DINAMO__SCORE_STATUS__OK) {
        if (!s->has_chi2 || !s->has_score)
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where,
                          "status OK without chi2 and score");
        if (!isfinite(s->chi2) || s->chi2 < 0)
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                          "chi2 %g out of range", s->chi2);
        /* log(0) = -inf is a legitimate score for a perfect match. */
        if (isnan(s->score) || s->score == INFINITY)
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                          "score %g out of range", s->score);
    }
    /* DINAMO-S's range (dn_s_new): tuning may pick 0, the no-memory reference. */
    if (s->has_alpha && !(s->alpha >= 0 && s->alpha < 1))
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where, "alpha %g not in [0, 1)",
                      s->alpha);
    size_t nb = s->n_pulls ? s->n_pulls : s->n_reference ? s->n_reference
                                                         : s->n_reference_uncertainty;
    if ((rc = validate_array(s->pulls, s->n_pulls, nb, "pulls", 0, where, reason, err)) ||
        (rc = validate_array(s->reference, s->n_reference, nb, "reference", 1, where, reason,
                             err)) ||
        (rc = validate_array(s->reference_uncertainty, s->n_reference_uncertainty, nb,
                             "reference uncertainty", 1, where, reason, err)))
        return rc;
    return validate_horizons(s, nb, where, reason, err);
}

#define ARCH_DIM_MAX (1u << 20)
#define ARCH_LAYERS_MAX 1024u

uint64_t dn_msg_weights_params(uint64_t n, uint64_t d, uint64_t layers, uint64_t ff)
{
    if (!n || !d || !layers || !ff || n > ARCH_DIM_MAX || d > ARCH_DIM_MAX ||
        ff > ARCH_DIM_MAX || layers > ARCH_LAYERS_MAX)
        return 0;
    /* SPEC 3 exchange order; every term fits in 64 bits under the limits. */
    uint64_t x_emb = n * d + d + 2 * d + d * d + d;   /* Linear(n,d) LN(d) Linear(d,d) */
    uint64_t t_emb = d + d + 2 * d + d * d + d;       /* Linear(1,d) LN(d) Linear(d,d) */
    uint64_t layer = 3 * d * d + 3 * d + d * d + d    /* in_proj, out_proj */
                     + ff * d + ff + d * ff + d       /* linear1, linear2 */
                     + 4 * d;                         /* norm1, norm2 */
    uint64_t head = d * n + n + 2 * n + n * n + n;    /* Linear(d,n) LN(n) Linear(n,n) */
    return x_emb + t_emb + layers * layer + 2 * head;
}

static int validate_weights(const Dinamo__ModelWeights *w, dn_reject_t *reason, dn_err_t *err)
{
    char where[128], p[80];
    int rc = check_key(w->histogram_key, "histogram key", "weights", reason, err);
    if (rc)
        return rc;
    printable(p, sizeof p, w->histogram_key);
    if (!w->has_version)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, "weights", "'%s': no version",
                      p);
    snprintf(where, sizeof where, "weights '%s' v%llu", p, (unsigned long long)w->version);
    struct { protobuf_c_boolean has; uint32_t v; const char *name; } dims[] = {
        {w->has_n_bins, w->n_bins, "n_bins"},     {w->has_d_model, w->d_model, "d_model"},
        {w->has_n_heads, w->n_heads, "n_heads"},  {w->has_n_layers, w->n_layers, "n_layers"},
        {w->has_d_ff, w->d_ff, "d_ff"},           {w->has_context, w->context, "context"},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        if (!dims[i].has)
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no %s",
                          dims[i].name);
        if (dims[i].v == 0 || dims[i].v > ARCH_DIM_MAX)
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where, "%s = %u out of range",
                          dims[i].name, dims[i].v);
    }
    if (w->n_layers > ARCH_LAYERS_MAX)
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where, "n_layers = %u too large",
                      w->n_layers);
    if (w->d_model % w->n_heads)
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                      "n_heads = %u does not divide d_model = %u", w->n_heads, w->d_model);
    if (!w->has_dropout)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no dropout");
    if (!(w->dropout >= 0 && w->dropout < 1))
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                      "dropout %g not in [0, 1)", w->dropout);
    if (!w->has_activation)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no activation");
    if (w->activation != DINAMO__ACTIVATION__RELU && w->activation != DINAMO__ACTIVATION__GELU)
        return reject(reason, DN_REJECT_ENUM, err, DN_ERANGE, where, "unknown activation %d",
                      (int)w->activation);
    if (!w->has_blob)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no blob");
    uint64_t np = dn_msg_weights_params(w->n_bins, w->d_model, w->n_layers, w->d_ff);
    if (np == 0 || np > SIZE_MAX / 4 || w->blob.len != (size_t)np * 4)
        return reject(reason, DN_REJECT_LENGTH, err, DN_EMISMATCH, where,
                      "blob of %zu bytes, architecture needs %llu parameters (%llu bytes)",
                      w->blob.len, (unsigned long long)np, (unsigned long long)np * 4);
    if (w->has_train_loss && isnan(w->train_loss))
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where, "train_loss is NaN");
    return 0;
}

static int validate_control(const Dinamo__Control *c, dn_reject_t *reason, dn_err_t *err)
{
    if (!c->has_kind)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, "control", "no kind");
    switch (c->kind) {
    case DINAMO__CONTROL_KIND__END_OF_STREAM:
        if (!c->has_final_run_number || !c->has_final_run_seq)
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, "end of stream",
                          "no final run number or final run_seq");
        break;
    case DINAMO__CONTROL_KIND__FLUSH:
        break;
    case DINAMO__CONTROL_KIND__ACK:
    case DINAMO__CONTROL_KIND__REWIND: {
        const char *what = c->kind == DINAMO__CONTROL_KIND__ACK ? "ack" : "rewind";
        int rc = check_key(c->consumer, "consumer", what, reason, err);
        if (rc)
            return rc;
        if ((rc = check_key(c->log, "log name", what, reason, err)))
            return rc;
        if (!c->has_offset)
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, what, "no offset");
        break;
    }
    case DINAMO__CONTROL_KIND__LEAVE: {
        int rc = check_key(c->consumer, "consumer", "leave", reason, err);
        if (!rc)
            rc = check_key(c->log, "log name", "leave", reason, err);
        if (rc)
            return rc;
        break;
    }
    case DINAMO__CONTROL_KIND__REPORT:
    case DINAMO__CONTROL_KIND__HEARTBEAT:
        if (!c->service || !c->service[0])
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, "control",
                          "%s without a service name",
                          c->kind == DINAMO__CONTROL_KIND__REPORT ? "report" : "heartbeat");
        break;
    default:
        return reject(reason, DN_REJECT_ENUM, err, DN_ERANGE, "control", "unknown kind %d",
                      (int)c->kind);
    }
    for (size_t i = 0; i < c->n_counters; i++)
        if (!c->counters[i] || !c->counters[i]->name || !c->counters[i]->name[0])
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, "control",
                          "counter %zu has no name", i);
    return 0;
}

static int validate_threshold(const Dinamo__Threshold *t, dn_reject_t *reason, dn_err_t *err)
{
    char where[128], p[80];
    int rc = check_key(t->histogram_key, "histogram key", "threshold", reason, err);
    if (rc)
        return rc;
    printable(p, sizeof p, t->histogram_key);
    snprintf(where, sizeof where, "threshold of '%s'", p);
    if (!t->has_method)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no method");
    if (t->method != DINAMO__METHOD__METHOD_S && t->method != DINAMO__METHOD__METHOD_ML)
        return reject(reason, DN_REJECT_ENUM, err, DN_ERANGE, where, "unknown method %d",
                      (int)t->method);
    snprintf(where, sizeof where, "threshold of '%s' (%s)", p,
             t->method == DINAMO__METHOD__METHOD_S ? "S" : "ML");
    if (!t->has_bad)
        return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where, "no bad threshold");
    /* +inf is a real answer (untunable: nothing is ever bad); NaN and -inf are not. */
    if (isnan(t->bad) || t->bad == -INFINITY)
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                      "bad threshold %g is neither finite nor +inf", t->bad);
    if (t->has_warning && !isnan(t->warning) && !(t->warning > -INFINITY && t->warning <= t->bad))
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                      "warning threshold %g is not NaN and not in (-inf, bad = %g]", t->warning,
                      t->bad);
    if (t->origin && strcmp(t->origin, "policy") && strcmp(t->origin, "tuned") &&
        strcmp(t->origin, "untunable")) {
        char o[80];
        printable(o, sizeof o, t->origin);
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                      "origin '%s' is not policy, tuned or untunable", o);
    }
    for (size_t h = 0; h < t->n_horizons; h++) {
        const Dinamo__HorizonThreshold *ht = t->horizons[h];
        if (!ht->name || !ht->name[0] || strlen(ht->name) >= DN_HZ_NAME_MAX)
            return reject(reason, DN_REJECT_MISSING, err, DN_EFORMAT, where,
                          "horizon %zu has no name (or one too long)", h + 1);
        if (ht->has_bad && ht->bad == -INFINITY)
            return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, where,
                          "horizon %zu: bad threshold -inf", h + 1);
    }
    return 0;
}

/* The unknown fields protobuf-c kept in m and in every message inside it (a
 * field number this schema does not have, field 0 in a long form among
 * them). Encoded again they come out as they came in, so an envelope holding
 * them may be stored and then fail to decode for its followers. */
static unsigned unknown_fields(const ProtobufCMessage *m)
{
    if (!m)
        return 0;
    unsigned n = m->n_unknown_fields;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; k < count; k++)
                n += unknown_fields(items[k]);
        } else {
            n += unknown_fields(*(const ProtobufCMessage *const *)(base + f->offset));
        }
    }
    return n;
}

int dn_msg_validate(const Dinamo__Envelope *env, dn_reject_t *reason, dn_err_t *err)
{
    if (!env)
        return reject(reason, DN_REJECT_ENVELOPE, err, DN_EINVAL, "", "no envelope");
    unsigned unknown = unknown_fields(&env->base);
    if (unknown)
        return reject(reason, DN_REJECT_UNKNOWN, err, DN_EFORMAT, "envelope",
                      "%u unknown field(s): refused, not passed on", unknown);
    if (!env->producer || !env->producer[0])
        return reject(reason, DN_REJECT_ENVELOPE, err, DN_EFORMAT, "envelope", "no producer");
    char p[80], where[160];
    int rc = check_key(env->producer, "producer", "envelope", reason, err);
    if (rc) {
        if (reason)
            *reason = DN_REJECT_ENVELOPE;
        return rc;
    }
    printable(p, sizeof p, env->producer);
    if (!env->has_seq)
        return reject(reason, DN_REJECT_ENVELOPE, err, DN_EFORMAT, "envelope",
                      "producer '%s': no seq", p);
    if (env->has_time_sent && !isfinite(env->time_sent))
        return reject(reason, DN_REJECT_VALUE, err, DN_ERANGE, "envelope",
                      "producer '%s': time_sent %g is not finite", p, env->time_sent);
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN: rc = validate_run(env->run, reason, err); break;
    case DN_MSG_LABEL: rc = validate_label(env->label, reason, err); break;
    case DN_MSG_SCORE: rc = validate_score(env->score, reason, err); break;
    case DN_MSG_WEIGHTS: rc = validate_weights(env->weights, reason, err); break;
    case DN_MSG_CONTROL: rc = validate_control(env->control, reason, err); break;
    case DN_MSG_THRESHOLD: rc = validate_threshold(env->threshold, reason, err); break;
    default:
        return reject(reason, DN_REJECT_ENVELOPE, err, DN_EFORMAT, "envelope",
                      "producer '%s' seq %llu: no body", p, (unsigned long long)env->seq);
    }
    if (rc && err && rc != DN_ENOMEM) {
        snprintf(where, sizeof where, "from '%s' seq %llu", p, (unsigned long long)env->seq);
        dn_err_prefix(err, "%s", where);
    }
    return rc;
}

/* ---- encode / decode --------------------------------------------------- */

int dn_msg_encode_unchecked(const Dinamo__Envelope *env, uint8_t **buf, size_t *len)
{
    size_t n = dinamo__envelope__get_packed_size(env);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return DN_ENOMEM;
    size_t m = dinamo__envelope__pack(env, b);
    (void)m; /* == n by construction of protobuf-c */
    *buf = b;
    *len = n;
    return 0;
}

int dn_msg_encode(const Dinamo__Envelope *env, uint8_t **buf, size_t *len, dn_err_t *err)
{
    *buf = NULL;
    *len = 0;
    int rc = dn_msg_validate(env, NULL, err);
    if (rc)
        return rc;
    rc = dn_msg_encode_unchecked(env, buf, len);
    if (rc)
        return dn_err_set(err, rc, "out of memory encoding an envelope");
    return 0;
}

int dn_msg_decode(const uint8_t *buf, size_t len, Dinamo__Envelope **out,
                  dn_msg_stats_t *stats, dn_err_t *err)
{
    *out = NULL;
    dn_reject_t why = DN_REJECT_PARSE;
    Dinamo__Envelope *env = NULL;
    int rc;
    if (len > DN_MSG_SIZE_MAX) {
        rc = dn_err_set(err, DN_EFORMAT, "envelope of %zu bytes exceeds the limit of %u", len,
                        DN_MSG_SIZE_MAX);
        goto fail;
    }
    env = dinamo__envelope__unpack(NULL, len, buf);
    if (!env) {
        rc = dn_err_set(err, DN_EFORMAT, "cannot parse envelope of %zu bytes", len);
        goto fail;
    }
    rc = dn_msg_validate(env, &why, err);
    if (rc)
        goto fail;
    if (stats)
        stats->accepted++;
    *out = env;
    return 0;
fail:
    if (stats && rc != DN_ENOMEM) {
        stats->rejected[why]++;
        stats->last_reason = why;
    }
    if (env)
        dinamo__envelope__free_unpacked(env, NULL);
    return rc;
}

/* Reads a varint at *p (< end) into *v. 0, or -1 when malformed or cut. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int dn_msg_peek_offset(const uint8_t *buf, size_t len, uint64_t *offset)
{
    const uint8_t *p = buf, *end = buf + len;
    while (p < end) {
        uint64_t tag, v;
        if (read_varint(&p, end, &tag))
            return DN_ENOTFOUND;
        uint64_t field = tag >> 3;
        switch (tag & 7) {
        case 0: /* varint */
            if (read_varint(&p, end, &v))
                return DN_ENOTFOUND;
            if (field == 5) { /* Envelope.offset */
                *offset = v;
                return 0;
            }
            break;
        case 1: /* fixed64 */
            if (end - p < 8)
                return DN_ENOTFOUND;
            p += 8;
            break;
        case 2: /* length-delimited */
            if (read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return DN_ENOTFOUND;
            p += v;
            break;
        case 5: /* fixed32 */
            if (end - p < 4)
                return DN_ENOTFOUND;
            p += 4;
            break;
        default: /* groups and undefined wire types: not ours */
            return DN_ENOTFOUND;
        }
        if (field == 0)
            return DN_ENOTFOUND;
    }
    return DN_ENOTFOUND;
}

void dn_msg_free(Dinamo__Envelope **env_p)
{
    if (env_p && *env_p) {
        dinamo__envelope__free_unpacked(*env_p, NULL);
        *env_p = NULL;
    }
}

/* ---- sequence tracker -------------------------------------------------- */

typedef struct seq_node_t {
    char *producer;
    uint64_t hash;
    uint64_t incarnation;
    uint64_t last;
    struct seq_node_t *chain;      /* next in its bucket */
    struct seq_node_t *newer, *older; /* in its recency list */
    int again;                     /* seen more than once: in the list of those */
} seq_node_t;

/* A recency list, most recently seen first. */
typedef struct seq_list_t {
    seq_node_t *newest, *oldest;
    size_t n;
} seq_list_t;

struct dn_seq_tracker_t {
    seq_node_t **buckets;
    size_t n_buckets; /* power of two, grown up to the first one >= max */
    size_t n, max;
    seq_list_t lists[2]; /* [0] seen once, [1] seen again */
    dn_seq_totals_t totals;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

dn_seq_tracker_t *dn_seq_tracker_new(void)
{
    dn_seq_tracker_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = DN_SEQ_PRODUCERS_MAX;
    self->n_buckets = 16;
    self->buckets = calloc(self->n_buckets, sizeof *self->buckets);
    if (!self->buckets) {
        free(self);
        return NULL;
    }
    return self;
}

void dn_seq_tracker_destroy(dn_seq_tracker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_seq_tracker_t *self = *self_p;
    for (int l = 0; l < 2; l++)
        for (seq_node_t *n = self->lists[l].newest, *next; n; n = next) {
            next = n->older;
            free(n->producer);
            free(n);
        }
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

static seq_node_t *find_node(const dn_seq_tracker_t *self, const char *producer, uint64_t h)
{
    for (seq_node_t *n = self->buckets[h & (self->n_buckets - 1)]; n; n = n->chain)
        if (n->hash == h && strcmp(n->producer, producer) == 0)
            return n;
    return NULL;
}

static void list_unlink(seq_list_t *l, seq_node_t *n)
{
    if (n->newer)
        n->newer->older = n->older;
    else
        l->newest = n->older;
    if (n->older)
        n->older->newer = n->newer;
    else
        l->oldest = n->newer;
    n->newer = n->older = NULL;
    l->n--;
}

static void list_push(seq_list_t *l, seq_node_t *n)
{
    n->newer = NULL;
    n->older = l->newest;
    if (l->newest)
        l->newest->newer = n;
    else
        l->oldest = n;
    l->newest = n;
    l->n++;
}

/* n was just seen: it becomes the most recent of the producers seen again. */
static void touch(dn_seq_tracker_t *self, seq_node_t *n)
{
    list_unlink(&self->lists[n->again], n);
    n->again = 1;
    list_push(&self->lists[1], n);
}

static void remove_node(dn_seq_tracker_t *self, seq_node_t *n)
{
    seq_node_t **pp = &self->buckets[n->hash & (self->n_buckets - 1)];
    while (*pp != n)
        pp = &(*pp)->chain;
    *pp = n->chain;
    list_unlink(&self->lists[n->again], n);
    free(n->producer);
    free(n);
    self->n--;
}

/* Forgets the least recently seen producer, of those seen once if any (a
 * flood of new names evicts itself before the producers that keep sending). */
static void evict_one(dn_seq_tracker_t *self)
{
    seq_node_t *victim = self->lists[0].oldest ? self->lists[0].oldest : self->lists[1].oldest;
    if (victim) {
        remove_node(self, victim);
        self->totals.evicted++;
    }
}

static void grow_buckets(dn_seq_tracker_t *self)
{
    size_t cap = self->n_buckets * 2;
    seq_node_t **b = calloc(cap, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < self->n_buckets; i++)
        for (seq_node_t *n = self->buckets[i], *next; n; n = next) {
            next = n->chain;
            n->chain = b[n->hash & (cap - 1)];
            b[n->hash & (cap - 1)] = n;
        }
    free(self->buckets);
    self->buckets = b;
    self->n_buckets = cap;
}

/* Inserts a new producer (not present) as the most recently seen of those
 * seen once (again: of those seen again), evicting one first at the cap. */
static int insert(dn_seq_tracker_t *self, const char *producer, size_t len, uint64_t h,
                  uint64_t inc, uint64_t seq, int again)
{
    seq_node_t *n = calloc(1, sizeof *n);
    char *copy = malloc(len + 1);
    if (!n || !copy) {
        free(n);
        free(copy);
        return DN_ENOMEM;
    }
    while (self->n >= self->max)
        evict_one(self);
    if (self->n + 1 > self->n_buckets && self->n_buckets < self->max)
        grow_buckets(self);
    memcpy(copy, producer, len);
    copy[len] = '\0';
    *n = (seq_node_t){.producer = copy, .hash = h, .incarnation = inc, .last = seq,
                      .again = again};
    n->chain = self->buckets[h & (self->n_buckets - 1)];
    self->buckets[h & (self->n_buckets - 1)] = n;
    list_push(&self->lists[again], n);
    self->n++;
    return 0;
}

int dn_seq_tracker_set_max(dn_seq_tracker_t *self, size_t max)
{
    if (!self || max < 1)
        return DN_EINVAL;
    self->max = max;
    while (self->n > self->max)
        evict_one(self);
    return 0;
}

size_t dn_seq_tracker_size(const dn_seq_tracker_t *self)
{
    return self->n;
}

int dn_seq_tracker_feed(dn_seq_tracker_t *self, const char *producer, uint64_t incarnation,
                        uint64_t seq, uint64_t *missing)
{
    if (missing)
        *missing = 0;
    if (!self || !producer)
        return DN_EINVAL;
    size_t len = strlen(producer);
    uint64_t h = fnv1a(producer, len);
    seq_node_t *s = find_node(self, producer, h);
    int status;
    uint64_t lost = 0;
    if (!s) {
        /* First message of this producer (or the first since it was
         * evicted): anything before seq was sent before this receiver was
         * there to see it; not a loss on the way. */
        if (insert(self, producer, len, h, incarnation, seq, 0))
            return DN_ENOMEM;
        self->totals.fresh++;
        if (missing)
            *missing = seq;
        return seq ? DN_SEQ_JOIN : DN_SEQ_NEW;
    }
    touch(self, s);
    if (incarnation != s->incarnation) {
        if (incarnation < s->incarnation) {
            status = DN_SEQ_DUPLICATE; /* straggler of an earlier incarnation */
        } else {
            s->incarnation = incarnation;
            s->last = seq;
            lost = seq;
            status = DN_SEQ_RESTART;
            self->totals.restarts++;
        }
    } else if (seq <= s->last) {
        status = DN_SEQ_DUPLICATE;
    } else {
        lost = seq - s->last - 1;
        s->last = seq;
        status = lost ? DN_SEQ_GAP : DN_SEQ_NEW;
    }
    if (status == DN_SEQ_DUPLICATE) {
        self->totals.duplicates++;
    } else {
        self->totals.fresh++;
        if (status == DN_SEQ_GAP)
            self->totals.gaps++;
        self->totals.missing += lost;
        if (missing)
            *missing = lost;
    }
    return status;
}

int dn_seq_tracker_feed_env(dn_seq_tracker_t *self, const Dinamo__Envelope *env,
                            uint64_t *missing)
{
    if (!env || !env->producer)
        return DN_EINVAL;
    return dn_seq_tracker_feed(self, env->producer, env->has_incarnation ? env->incarnation : 0,
                               env->seq, missing);
}

dn_seq_totals_t dn_seq_tracker_totals(const dn_seq_tracker_t *self)
{
    return self->totals;
}

int dn_seq_tracker_last(const dn_seq_tracker_t *self, const char *producer,
                        uint64_t *incarnation, uint64_t *seq)
{
    seq_node_t *s = find_node(self, producer, fnv1a(producer, strlen(producer)));
    if (!s)
        return DN_ENOTFOUND;
    if (incarnation)
        *incarnation = s->incarnation;
    if (seq)
        *seq = s->last;
    return 0;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define SEQ_MAGIC "DNSQ"
#define SEQ_VERSION 2u /* 1: five totals, no list flag (loaded as producers seen once) */
#define SEQ_HEADER_V1 (4 + 4 + 8 + 5 * 8)
#define SEQ_HEADER (4 + 4 + 8 + 6 * 8)

int dn_seq_tracker_save(const dn_seq_tracker_t *self, uint8_t **buf, size_t *len)
{
    size_t n = SEQ_HEADER;
    for (int l = 0; l < 2; l++)
        for (const seq_node_t *s = self->lists[l].oldest; s; s = s->newer)
            n += 4 + strlen(s->producer) + 16 + 1;
    uint8_t *b = malloc(n), *p = b;
    if (!b)
        return DN_ENOMEM;
    memcpy(p, SEQ_MAGIC, 4);
    p = put_u32(p + 4, SEQ_VERSION);
    p = put_u64(p, self->n);
    const dn_seq_totals_t *t = &self->totals;
    p = put_u64(p, t->fresh);
    p = put_u64(p, t->duplicates);
    p = put_u64(p, t->gaps);
    p = put_u64(p, t->missing);
    p = put_u64(p, t->restarts);
    p = put_u64(p, t->evicted);
    /* Each list from its least recently seen, so a load rebuilds the order. */
    for (int l = 0; l < 2; l++)
        for (const seq_node_t *s = self->lists[l].oldest; s; s = s->newer) {
            size_t sl = strlen(s->producer);
            p = put_u32(p, (uint32_t)sl);
            memcpy(p, s->producer, sl);
            p = put_u64(p + sl, s->incarnation);
            p = put_u64(p, s->last);
            *p++ = (uint8_t)s->again;
        }
    *buf = b;
    *len = n;
    return 0;
}

int dn_seq_tracker_load(dn_seq_tracker_t *self, const uint8_t *buf, size_t len, dn_err_t *err)
{
    dn_seq_tracker_t *fresh = NULL;
    int rc;
    uint32_t version = len >= 8 ? get_u32(buf + 4) : 0;
    size_t header = version == 1 ? SEQ_HEADER_V1 : SEQ_HEADER;
    if (len < 8 || memcmp(buf, SEQ_MAGIC, 4) != 0 || (version != 1 && version != SEQ_VERSION) ||
        len < header) {
        rc = dn_err_set(err, DN_EFORMAT, "sequence state: bad header (%zu bytes)", len);
        goto fail;
    }
    uint64_t n = get_u64(buf + 8);
    if (!(fresh = dn_seq_tracker_new())) {
        rc = dn_err_set(err, DN_ENOMEM, "sequence state: out of memory");
        goto fail;
    }
    /* Bounded like the tracker it replaces: a saved state beyond the cap
     * keeps its most recently seen producers. */
    fresh->max = self->max;
    const uint8_t *p = buf + 16;
    fresh->totals.fresh = get_u64(p);
    fresh->totals.duplicates = get_u64(p + 8);
    fresh->totals.gaps = get_u64(p + 16);
    fresh->totals.missing = get_u64(p + 24);
    fresh->totals.restarts = get_u64(p + 32);
    fresh->totals.evicted = version == 1 ? 0 : get_u64(p + 40);
    p = buf + header;
    size_t flag = version == 1 ? 0 : 1;
    const uint8_t *end = buf + len;
    for (uint64_t i = 0; i < n; i++) {
        if (end - p < 4) {
            rc = dn_err_set(err, DN_EFORMAT, "sequence state: truncated at producer %llu",
                            (unsigned long long)i);
            goto fail;
        }
        uint32_t l = get_u32(p);
        p += 4;
        if ((size_t)(end - p) < (size_t)l + 16 + flag || l == 0 || memchr(p, 0, l) ||
            (flag && p[l + 16] > 1)) {
            rc = dn_err_set(err, DN_EFORMAT, "sequence state: bad producer %llu",
                            (unsigned long long)i);
            goto fail;
        }
        char *name = malloc((size_t)l + 1);
        if (!name) {
            rc = dn_err_set(err, DN_ENOMEM, "sequence state: out of memory");
            goto fail;
        }
        memcpy(name, p, l);
        name[l] = '\0';
        uint64_t h = fnv1a(name, l);
        int repeated = find_node(fresh, name, h) != NULL;
        rc = repeated ? DN_EFORMAT
                      : insert(fresh, name, l, h, get_u64(p + l), get_u64(p + l + 8),
                               flag ? p[l + 16] : 0);
        free(name);
        if (rc) {
            rc = dn_err_set(err, rc, "sequence state: producer %llu %s", (unsigned long long)i,
                            repeated ? "repeated" : "out of memory");
            goto fail;
        }
        p += l + 16 + flag;
    }
    if (p != end) {
        rc = dn_err_set(err, DN_EFORMAT, "sequence state: %zu trailing bytes", (size_t)(end - p));
        goto fail;
    }
    /* Swap the loaded state in; the old one goes away with `fresh`. */
    dn_seq_tracker_t tmp = *self;
    *self = *fresh;
    *fresh = tmp;
    dn_seq_tracker_destroy(&fresh);
    return 0;
fail:
    dn_seq_tracker_destroy(&fresh);
    return rc;
}
