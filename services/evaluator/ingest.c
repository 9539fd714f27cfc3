/* ingest.c: the evaluator's book, everything it received (evaluator.h).
 *
 * Every run, label and score delivered is kept in memory per histogram key
 * and run_seq, and stored in LMDB in the same commit as the followers'
 * positions (the node's checkpoint), keyed so that a replay overwrites
 * itself:
 *   ev.runs    run_seq (8 bytes big-endian)               -> the Run envelope
 *   ev.labels  events-log offset                         -> the Label envelope
 *              (every label in arrival order: a relabelling is kept beside
 *              the first verdict, for labels.csv)
 *   ev.scores  method byte, run_seq, histogram key        -> the Score envelope
 *   ev.auto    run_seq                                    -> "1" (auto-accepted)
 * At start the tables are replayed into the empty book, so a restart rebuilds
 * memory exactly and the followers continue from the checkpoint's offsets.
 * Scores are taken once per (method, run_seq, key): a replayed log's
 * duplicates are counted, not applied.
 *
 * Horizons (DINAMO-S against references frozen some runs or seconds ago,
 * Score.horizons): a key's horizon names by method are fixed by its first
 * Score with status OK (none: horizon now alone) and must be the same for
 * every later one; a Score naming others keeps its own fields (horizon now:
 * the run is judged as before) and its horizons are dropped, logged by name
 * and counted (n_hz_rejected). They are stored with the Score's envelope, so
 * a rebuild reads them back (and a record older than horizons has none);
 * the rebuild replays ev.scores in key order, a key's runs in run_seq order,
 * so the Score fixing its names is its first run's, as it is live.
 *
 * Invariants: keys[k] is the state of the key table's index k (keys are never
 * removed); rows and runs are indexed by run_seq below INT32_MAX; after every
 * change to histogram k of run seq the book calls changed(arg, k, seq). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "evaluator.h"
#include "histo.h"
#include "log.h"

struct ev_pending_t {
    const char *table;                   /* a literal */
    unsigned char key[1 + 8 + DN_MSG_KEY_MAX];
    size_t klen;
    uint8_t *val;                        /* malloc'd */
    size_t vlen;
};

/* ---- memory --------------------------------------------------------------------- */

int ev_book_init(ev_book_t *b, ev_changed_fn changed, void *arg)
{
    memset(b, 0, sizeof *b);
    b->changed = changed;
    b->changed_arg = arg;
    return (b->index = dn_keytab_new()) ? 0 : DN_ENOMEM;
}

static void row_free(ev_row_t *r)
{
    free(r->counts);
    free(r->variances);
    free(r->edges);
    free(r->edges_y);
    for (int m = 0; m < EV_METHODS; m++) {
        free(r->ref_mu[m]);
        free(r->ref_sigma[m]);
        free(r->pulls[m]);
        free(r->hz_chi2[m]);
        free(r->hz_ref_mu[m]);
        free(r->hz_ref_sigma[m]);
        free(r->hz_pulls[m]);
    }
}

void ev_book_free(ev_book_t *b)
{
    for (int k = 0; k < b->n_keys; k++) {
        ev_key_t *hk = &b->keys[k];
        for (int i = 0; i < hk->n_rows; i++)
            row_free(&hk->rows[i]);
        free(hk->rows);
        free(hk->subsystem);
    }
    free(b->keys);
    free(b->runs);
    ev_book_committed(b);
    free(b->pending);
    dn_keytab_destroy(&b->index);
    memset(b, 0, sizeof *b);
}

void *ev_grow(void *arr, int *cap, int need, size_t size, int first)
{
    if (need < *cap)
        return arr;
    int64_t n = *cap ? *cap : first;
    while (n <= need)
        n *= 2;
    if (n > INT32_MAX)
        n = INT32_MAX; /* need < INT32_MAX: indices are run_seq below it */
    unsigned char *p = realloc(arr, (size_t)n * size);
    if (!p)
        return NULL;
    memset(p + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
    *cap = (int)n;
    return p;
}

/* The index of key, added when new; < 0 (DN_ENOMEM) on failure. */
static int key_get(ev_book_t *b, const char *key)
{
    int k = dn_keytab_find(b->index, key);
    if (k >= 0)
        return k;
    ev_key_t *keys = ev_grow(b->keys, &b->cap_keys, b->n_keys, sizeof *keys, 8);
    if (!keys)
        return DN_ENOMEM;
    b->keys = keys;
    if ((k = dn_keytab_add(b->index, key)) < 0)
        return k;
    b->keys[k] = (ev_key_t){.key = dn_keytab_key(b->index, k)};
    for (int m = 0; m < EV_METHODS; m++)
        dn_hz_spec_single(&b->keys[k].hz[m]);
    b->n_keys++;
    return k;
}

/* Row seq of a key, made (unlabelled, unscored) when new. */
static ev_row_t *row_get(ev_key_t *hk, uint64_t seq)
{
    int old_cap = hk->cap_rows;
    ev_row_t *rows = seq < (uint64_t)INT32_MAX
                         ? ev_grow(hk->rows, &hk->cap_rows, (int)seq, sizeof *rows, 256)
                         : NULL;
    if (!rows)
        return NULL;
    for (int i = old_cap; i < hk->cap_rows; i++) {
        rows[i].label = -1;
        for (int m = 0; m < EV_METHODS; m++)
            rows[i].chi2[m] = rows[i].alpha[m] = NAN;
    }
    hk->rows = rows;
    if ((int)seq >= hk->n_rows)
        hk->n_rows = (int)seq + 1;
    return &hk->rows[seq];
}

/* The slot of run seq; it counts in n_runs once something of the run itself
 * (the run, its auto-acceptance) is known, not for a score alone. */
static ev_run_t *run_slot(ev_book_t *b, uint64_t seq, int counts)
{
    ev_run_t *runs = seq < (uint64_t)INT32_MAX
                         ? ev_grow(b->runs, &b->cap_runs, (int)seq, sizeof *runs, 256)
                         : NULL;
    if (!runs)
        return NULL;
    b->runs = runs;
    if (counts && (int)seq >= b->n_runs)
        b->n_runs = (int)seq + 1;
    return &b->runs[seq];
}

static int copy_arr(double **dst, const double *src, size_t n)
{
    free(*dst);
    *dst = NULL;
    if (!n)
        return 0;
    if (!(*dst = malloc(n * sizeof **dst)))
        return DN_ENOMEM;
    memcpy(*dst, src, n * sizeof **dst);
    return 0;
}

/* ---- taking entries in ------------------------------------------------------------- */

/* The histograms of a run; one whose binning (bins, or bins of y: a 2-D
 * histogram of 4x6 bins is not one of 6x4 nor a 1-D one of 24) disagrees
 * with its key's first run is skipped (logged, counted). */
static int take_run(ev_book_t *b, const Dinamo__Run *run)
{
    ev_run_t *ri = run_slot(b, run->run_seq, 1);
    if (!ri)
        return DN_ENOMEM;
    ri->n_keys = (int)run->n_histograms;
    ri->run_number = run->run_number;
    for (size_t h = 0; h < run->n_histograms; h++) {
        const Dinamo__Histogram *hg = run->histograms[h];
        int k = key_get(b, hg->key);
        if (k < 0)
            return k;
        ev_key_t *hk = &b->keys[k];
        int ny = hg->has_n_bins_y ? (int)hg->n_bins_y : 0;
        if (!hk->n_bins) {
            hk->n_bins = (int)hg->n_counts;
            hk->n_bins_y = ny;
        }
        if (!hk->subsystem && !(hk->subsystem = strdup(hg->subsystem ? hg->subsystem : "")))
            return DN_ENOMEM;
        if (hk->n_bins != (int)hg->n_counts || hk->n_bins_y != ny) {
            char got[64], want[64];
            dn_hist_binning_name(got, sizeof got, (int)hg->n_counts, ny);
            dn_hist_binning_name(want, sizeof want, hk->n_bins, hk->n_bins_y);
            b->n_hist_skipped++;
            dn_log(DN_LOG_WARN, "run %lld: histogram '%s': binning changed: %s, the key has %s: "
                   "skipped", (long long)run->run_number, hg->key, got, want);
            continue;
        }
        ev_row_t *r = row_get(hk, run->run_seq);
        if (!r)
            return DN_ENOMEM;
        r->has_run = 1;
        r->run_number = run->run_number;
        if (copy_arr(&r->counts, hg->counts, hg->n_counts) ||
            copy_arr(&r->variances, hg->variances, hg->n_variances) ||
            copy_arr(&r->edges, hg->edges, hg->n_edges) ||
            copy_arr(&r->edges_y, hg->edges_y, hg->n_edges_y))
            return DN_ENOMEM;
        b->changed(b->changed_arg, k, run->run_seq);
    }
    return 0;
}

static int label_row(ev_book_t *b, int k, const Dinamo__Label *l)
{
    ev_row_t *r = row_get(&b->keys[k], l->run_seq);
    if (!r)
        return DN_ENOMEM;
    int is_auto = l->source == DINAMO__LABEL_SOURCE__AUTO;
    if (r->has_label && is_auto && !r->label_auto)
        return 0; /* recorded in ev.labels; a person's verdict stands */
    r->has_label = 1;
    r->label_auto = (uint8_t)is_auto;
    r->label = l->verdict == DINAMO__VERDICT__GOOD ? 0 : 1;
    if (!r->run_number)
        r->run_number = l->run_number;
    if (l->truth) {
        r->has_truth = 1;
        r->mu = l->truth->mu;
        r->sigma = l->truth->sigma;
        r->rapid_mu = l->truth->rapid_mu;
        r->rapid_sigma = l->truth->rapid_sigma;
        /* the generator's slow-anomaly mode: all three or none (msg.c) */
        r->has_slow = l->truth->has_slow_kind && l->truth->has_slow_size &&
                      l->truth->has_slow_bad;
        r->slow_kind = r->has_slow ? (uint8_t)l->truth->slow_kind : 0;
        r->slow_size = r->has_slow ? l->truth->slow_size : 0.0;
        r->slow_bad = r->has_slow && l->truth->slow_bad;
    }
    b->changed(b->changed_arg, k, l->run_seq);
    return 0;
}

/* A label for one histogram, or for every histogram the run has. */
static int take_label(ev_book_t *b, const Dinamo__Label *l)
{
    if (l->histogram_key && l->histogram_key[0]) {
        int k = key_get(b, l->histogram_key);
        return k < 0 ? k : label_row(b, k, l);
    }
    for (int k = 0; k < b->n_keys; k++) {
        const ev_row_t *r = ev_book_row(b, k, l->run_seq);
        int rc = r && r->has_run ? label_row(b, k, l) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* The spec of the names of s's horizons (dn_hz_spec_from_names). */
static int spec_of_names(const Dinamo__Score *s, dn_hz_spec_t *out, dn_err_t *err)
{
    const char *names[DN_HZ_MAX];
    if (s->n_horizons >= DN_HZ_MAX)
        return dn_err_set(err, DN_EINVAL, "%zu lagged horizons, at most %d", s->n_horizons,
                          DN_HZ_MAX - 1);
    for (size_t h = 0; h < s->n_horizons; h++)
        names[h] = s->horizons[h]->name;
    return dn_hz_spec_from_names(names, (int)s->n_horizons, out, err);
}

/* "500r,7d": the names of s's horizons ("none"). */
static void names_of(const Dinamo__Score *s, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t h = 0; h < s->n_horizons && len < cap; h++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", h ? "," : "",
                                s->horizons[h]->name ? s->horizons[h]->name : "?");
    if (!s->n_horizons)
        snprintf(buf, cap, "none");
}

/* 1 when s names exactly the horizons of spec (lagged ones, in order). */
static int same_names(const Dinamo__Score *s, const dn_hz_spec_t *spec)
{
    if ((int)s->n_horizons != spec->n - 1)
        return 0;
    for (int h = 1; h < spec->n; h++) {
        char name[DN_HZ_NAME_MAX];
        const char *got = s->horizons[h - 1]->name;
        if (!got || strcmp(got, dn_hz_name(spec, h, name, sizeof name)))
            return 0;
    }
    return 1;
}

/* A copy of each lagged horizon's array (get picks pulls, reference or its
 * uncertainty) into *dst [n_lagged * nb], a row NAN where the horizon sent
 * none of nb values; *dst NULL when none did. Returns 0 or DN_ENOMEM. */
static int copy_hz_rows(double **dst, const Dinamo__Score *s, int nb, int which)
{
    int any = 0;
    for (size_t h = 0; h < s->n_horizons; h++) {
        const Dinamo__HorizonScore *hs = s->horizons[h];
        size_t n = which == 0 ? hs->n_pulls : which == 1 ? hs->n_reference
                                                         : hs->n_reference_uncertainty;
        any |= nb > 0 && n == (size_t)nb;
    }
    if (!any)
        return 0;
    if (!(*dst = malloc(s->n_horizons * (size_t)nb * sizeof **dst)))
        return DN_ENOMEM;
    for (size_t h = 0; h < s->n_horizons; h++) {
        const Dinamo__HorizonScore *hs = s->horizons[h];
        size_t n = which == 0 ? hs->n_pulls : which == 1 ? hs->n_reference
                                                         : hs->n_reference_uncertainty;
        const double *src = which == 0 ? hs->pulls : which == 1 ? hs->reference
                                                                : hs->reference_uncertainty;
        for (int c = 0; c < nb; c++)
            (*dst)[h * (size_t)nb + c] = n == (size_t)nb ? src[c] : NAN;
    }
    return 0;
}

/* Takes the horizons of s (status OK) into row r of key hk: fixes the key's
 * names with its first OK Score; drops (logged, counted) those of a Score
 * naming others. Returns 0 or DN_ENOMEM. */
static int take_horizons(ev_book_t *b, ev_key_t *hk, ev_row_t *r, int m, const Dinamo__Score *s)
{
    char got[DN_HZ_MAX * (DN_HZ_NAME_MAX + 1)], want[256];
    if (!hk->hz_fixed[m]) {
        dn_hz_spec_t spec;
        dn_err_t err = {0};
        if (spec_of_names(s, &spec, &err)) {
            names_of(s, got, sizeof got);
            if (b->n_hz_rejected++ % 100 == 0)
                dn_log(DN_LOG_WARN, "run %lld: histogram '%s' (%s): horizons '%s' rejected: "
                       "%s; scored against now alone (%llu rejected so far)",
                       (long long)s->run_number, hk->key, ev_method_name[m], got, err.msg,
                       (unsigned long long)b->n_hz_rejected);
            return 0;
        }
        hk->hz[m] = spec;
        hk->hz_fixed[m] = 1;
    } else if (!same_names(s, &hk->hz[m])) {
        names_of(s, got, sizeof got);
        size_t len = 0;
        want[0] = '\0';
        for (int h = 1; h < hk->hz[m].n; h++) {
            char name[DN_HZ_NAME_MAX];
            len += (size_t)snprintf(want + len, sizeof want - len, "%s%s", h > 1 ? "," : "",
                                    dn_hz_name(&hk->hz[m], h, name, sizeof name));
        }
        if (hk->hz[m].n == 1)
            snprintf(want, sizeof want, "none");
        if (b->n_hz_rejected++ % 100 == 0)
            dn_log(DN_LOG_WARN, "run %lld: histogram '%s' (%s): horizons '%s' are not the "
                   "key's (%s, fixed by its first score): dropped, scored against now alone "
                   "(%llu rejected so far)", (long long)s->run_number, hk->key,
                   ev_method_name[m], got, want, (unsigned long long)b->n_hz_rejected);
        return 0;
    }
    if (!s->n_horizons)
        return 0;
    if (!(r->hz_chi2[m] = malloc(s->n_horizons * sizeof *r->hz_chi2[m])))
        return DN_ENOMEM;
    for (size_t h = 0; h < s->n_horizons; h++) {
        const Dinamo__HorizonScore *hs = s->horizons[h];
        r->hz_chi2[m][h] = hs->has_age && hs->has_chi2 && isfinite(hs->chi2) && hs->chi2 >= 0
                               ? hs->chi2
                               : NAN;
    }
    /* the bins of a row: the key's, or before its first run the reference's */
    int nb = hk->n_bins ? hk->n_bins : (int)s->n_reference;
    for (size_t h = 0; !nb && h < s->n_horizons; h++)
        nb = (int)s->horizons[h]->n_reference;
    r->hz_nb[m] = nb;
    if (copy_hz_rows(&r->hz_pulls[m], s, nb, 0) || copy_hz_rows(&r->hz_ref_mu[m], s, nb, 1) ||
        copy_hz_rows(&r->hz_ref_sigma[m], s, nb, 2))
        return DN_ENOMEM;
    return 0;
}

/* Returns 1 when the score was new, 0 for a duplicate, < 0 on error. */
static int take_score(ev_book_t *b, int m, const Dinamo__Score *s)
{
    int k = key_get(b, s->histogram_key);
    if (k < 0)
        return k;
    ev_row_t *r = row_get(&b->keys[k], s->run_seq);
    ev_run_t *ri = run_slot(b, s->run_seq, 0);
    if (!r || !ri)
        return DN_ENOMEM;
    if (r->has_score[m])
        return 0;
    ri->n_scored[m]++;
    r->has_score[m] = 1;
    r->status[m] = (uint8_t)s->status;
    r->chi2[m] = s->has_chi2 && s->status == DINAMO__SCORE_STATUS__OK ? s->chi2 : NAN;
    r->alpha[m] = s->has_alpha ? s->alpha : NAN;
    if (!r->run_number)
        r->run_number = s->run_number;
    if (s->n_reference && s->n_reference == s->n_reference_uncertainty &&
        (copy_arr(&r->ref_mu[m], s->reference, s->n_reference) ||
         copy_arr(&r->ref_sigma[m], s->reference_uncertainty, s->n_reference) ||
         (s->n_pulls == s->n_reference && copy_arr(&r->pulls[m], s->pulls, s->n_pulls))))
        return DN_ENOMEM;
    if (m == 0 && s->status == DINAMO__SCORE_STATUS__OK) { /* horizons are DINAMO-S's */
        int rc = take_horizons(b, &b->keys[k], r, m, s);
        if (rc)
            return rc;
    }
    b->changed(b->changed_arg, k, s->run_seq);
    return 1;
}

/* ---- storing ------------------------------------------------------------------------ */

/* Keeps a row for the next commit; val (malloc'd) is the book's from now on. */
static int pend(ev_book_t *b, const char *table, const unsigned char *key, size_t klen,
                uint8_t *val, size_t vlen)
{
    ev_pending_t *p = ev_grow(b->pending, &b->cap_pending, b->n_pending, sizeof *p, 64);
    if (!p) {
        free(val);
        return DN_ENOMEM;
    }
    b->pending = p;
    ev_pending_t *row = &b->pending[b->n_pending++];
    row->table = table;
    memcpy(row->key, key, klen);
    row->klen = klen;
    row->val = val;
    row->vlen = vlen;
    return 0;
}

/* Stores env (an entry of a log) in table under key [prefix] seq [hkey]. */
static int store_env(ev_book_t *b, const char *table, int prefix, uint64_t seq,
                     const char *hkey, const Dinamo__Envelope *env)
{
    unsigned char key[1 + 8 + DN_MSG_KEY_MAX];
    size_t klen = 0;
    if (prefix >= 0)
        key[klen++] = (unsigned char)prefix;
    dn_put_be64(key + klen, seq);
    klen += 8;
    size_t hl = hkey ? strlen(hkey) : 0;
    if (hl > DN_MSG_KEY_MAX)
        return DN_EINVAL; /* validated messages never hold one */
    memcpy(key + klen, hkey ? hkey : "", hl);
    Dinamo__Envelope copy = *env;
    copy.producer = (char *)"evaluator";
    copy.has_seq = 1;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = dn_msg_encode_unchecked(&copy, &buf, &len);
    return rc ? rc : pend(b, table, key, klen + hl, buf, len);
}

int ev_book_run(ev_book_t *b, const Dinamo__Envelope *env)
{
    b->n_run_msgs++;
    int rc = store_env(b, "ev.runs", -1, env->run->run_seq, NULL, env);
    return rc ? rc : take_run(b, env->run);
}

int ev_book_label(ev_book_t *b, const Dinamo__Envelope *env)
{
    b->n_labels++;
    int rc = store_env(b, "ev.labels", -1, env->offset, NULL, env);
    return rc ? rc : take_label(b, env->label);
}

int ev_book_score(ev_book_t *b, int m, const Dinamo__Envelope *env)
{
    const Dinamo__Score *s = env->score;
    int rc = take_score(b, m, s);
    if (rc == 0)
        b->n_dups++;
    if (rc != 1)
        return rc;
    b->n_scores++;
    rc = store_env(b, "ev.scores", m, s->run_seq, s->histogram_key, env);
    return rc ? rc : 1;
}

int ev_book_mark_auto(ev_book_t *b, uint64_t seq)
{
    ev_run_t *ri = run_slot(b, seq, 1);
    if (!ri)
        return DN_ENOMEM;
    ri->auto_sent = 1; /* sent: not again in this process, stored or not */
    uint8_t *one = malloc(1);
    if (!one)
        return DN_ENOMEM;
    *one = '1';
    unsigned char key[8];
    dn_put_be64(key, seq);
    return pend(b, "ev.auto", key, 8, one, 1);
}

int ev_book_pending(const ev_book_t *b) { return b->n_pending; }

int ev_book_stage(ev_book_t *b, dn_store_batch_t *batch)
{
    for (int i = 0; i < b->n_pending; i++) {
        const ev_pending_t *p = &b->pending[i];
        int rc = dn_store_batch_put(batch, p->table, p->key, p->klen, p->val, p->vlen);
        if (rc)
            return rc;
    }
    return 0;
}

void ev_book_committed(ev_book_t *b)
{
    for (int i = 0; i < b->n_pending; i++)
        free(b->pending[i].val);
    b->n_pending = 0;
}

/* ---- rebuilding from the store ---------------------------------------------------------- */

typedef struct replay_t {
    ev_book_t *b;
    int kind; /* 0 runs, 1 labels, 2 scores */
} replay_t;

static int replay_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    replay_t *c = arg;
    Dinamo__Envelope *env = NULL;
    if (dn_msg_decode(val, vlen, &env, NULL, NULL))
        return 0;
    int rc = 0, m = klen >= 1 ? *(const unsigned char *)key : EV_METHODS;
    if (c->kind == 0 && dn_msg_type(env) == DN_MSG_RUN)
        rc = take_run(c->b, env->run);
    else if (c->kind == 1 && dn_msg_type(env) == DN_MSG_LABEL)
        rc = take_label(c->b, env->label);
    else if (c->kind == 2 && dn_msg_type(env) == DN_MSG_SCORE && m < EV_METHODS &&
             (rc = take_score(c->b, m, env->score)) > 0)
        c->b->n_scores++;
    dn_msg_free(&env);
    return rc < 0 ? rc : 0;
}

static int replay_auto(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    ev_book_t *b = arg;
    if (klen != 8)
        return 0;
    ev_run_t *ri = run_slot(b, dn_get_be64(key), 1);
    if (!ri)
        return DN_ENOMEM;
    ri->auto_sent = 1;
    return 0;
}

int ev_book_rebuild(ev_book_t *b, dn_store_t *store, dn_err_t *err)
{
    static const char *const tables[4] = {"ev.runs", "ev.labels", "ev.scores", "ev.auto"};
    int rc = 0;
    b->rebuilding = 1;
    for (int t = 0; t < 4 && !rc; t++) {
        replay_t c = {b, t};
        rc = t < 3 ? dn_store_foreach(store, tables[t], NULL, 0, replay_one, &c, err)
                   : dn_store_foreach(store, tables[t], NULL, 0, replay_auto, b, err);
        if (rc < 0 && rc != DN_EIO)
            rc = dn_err_set(err, rc, "rebuilding from %s: %s", tables[t], dn_strerror(rc));
    }
    b->rebuilding = 0;
    return rc;
}

/* ---- reading -------------------------------------------------------------------------- */

const ev_row_t *ev_book_row(const ev_book_t *b, int k, uint64_t seq)
{
    const ev_key_t *hk = &b->keys[k];
    return seq < (uint64_t)hk->n_rows ? &hk->rows[seq] : NULL;
}

const char *ev_key_subsystem(const ev_key_t *hk)
{
    return hk->subsystem ? hk->subsystem : "";
}

double ev_row_score(const ev_key_t *hk, const ev_row_t *r, int m)
{
    if (!r->has_score[m] || r->status[m] != DINAMO__SCORE_STATUS__OK || hk->n_bins < 1)
        return NAN;
    return dn_score_from_chi2(r->chi2[m], hk->n_bins);
}

double ev_row_score_hz(const ev_key_t *hk, const ev_row_t *r, int m, int h)
{
    if (h == 0)
        return ev_row_score(hk, r, m);
    if (h < 0 || h >= hk->hz[m].n || !r->hz_chi2[m] || isnan(ev_row_score(hk, r, m)))
        return NAN;
    return dn_score_from_chi2(r->hz_chi2[m][h - 1], hk->n_bins);
}

const char *ev_hz_name(const ev_key_t *hk, int m, int h, char *buf, size_t len)
{
    return dn_hz_name(&hk->hz[m], h, buf, len);
}

void ev_key_file_name(char *dst, size_t cap, const char *key)
{
    snprintf(dst, cap, "%s", key);
    for (char *p = dst; *p; p++)
        if (*p == '/')
            *p = '_';
}
