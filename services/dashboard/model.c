/* model.c: the dashboard's summary of the stream (model.h).
 *
 * Keys and runs grow as entries arrive; a key's cells are indexed by run_seq
 * from the first run that held it. Assessing a run walks its keys once, so a
 * round that brings the 100 scores of a run assesses it once, not 100 times
 * (the dirty set). A threshold that becomes known dirties every run holding
 * the key: the evaluator judges those runs at that moment too.
 *
 * Horizons: a key whose S Scores carry lagged horizons keeps their chi2
 * beside its cells (hz_chi2, its own rows grown on demand, shifted with the
 * cells) and, once the evaluator published their thresholds, is judged on
 * the combined margin exactly as judge.c judges it (ev_margin, ev_severity). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "histo.h"
#include "keytab.h"
#include "model.h"

const char *const dash_method_name[DASH_METHODS] = {"s", "ml"};


/* Grows *arr (of *cap elements of size) to hold index need, zeroing the new
 * part. Returns 0 or DN_ENOMEM. By an eighth at a time, not doubling: the
 * cells of 100 keys x 20,000 runs held 32,768 runs' room each (79 MB where
 * 48 are used; bench_dashboard), and realloc moves a large block's pages
 * rather than copying them, so the extra calls cost next to nothing. */
static int grow(void **arr, int *cap, int need, size_t size, int first)
{
    if (need < *cap)
        return 0;
    int nc = *cap ? *cap : first;
    while (nc <= need)
        nc += nc / 8 > first ? nc / 8 : first;
    void *p = realloc(*arr, (size_t)nc * size);
    if (!p)
        return DN_ENOMEM;
    memset((char *)p + (size_t)*cap * size, 0, (size_t)(nc - *cap) * size);
    *arr = p;
    *cap = nc;
    return 0;
}

int dash_model_lock_init(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t a;
    int rc = pthread_rwlockattr_init(&a);
    if (rc)
        return rc;
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = pthread_rwlock_init(lock, &a);
    pthread_rwlockattr_destroy(&a);
    return rc;
}

static void assess_clear(dash_assess_t *a)
{
    memset(a, 0, sizeof *a);
    for (int w = 0; w < DASH_WORST; w++) {
        a->worst[w] = -1;
        a->excess[w] = -INFINITY;
    }
}

int dash_model_init(dash_model_t *m)
{
    memset(m, 0, sizeof *m);
    m->historical_runs = -1;
    m->shown[0] = m->shown[1] = 1;
    m->key_index = dn_keytab_new();
    return m->key_index ? 0 : DN_ENOMEM;
}

void dash_model_free(dash_model_t *m)
{
    for (int k = 0; k < m->n_keys; k++) {
        free(m->keys[k].name);
        free(m->keys[k].cells);
        free(m->keys[k].hz_chi2);
    }
    free(m->keys);
    dn_keytab_t *index = m->key_index;
    dn_keytab_destroy(&index);
    for (int s = 0; s < m->n_subsystems; s++)
        free(m->subsystems[s]);
    free(m->subsystems);
    for (int i = 0; i < m->n_key_lists; i++)
        free(m->key_lists[i]);
    free(m->key_lists);
    free(m->key_list_n);
    for (int i = 0; i < m->n_runs; i++) {
        free(m->runs[i].who);
        free(m->runs[i].reason);
    }
    free(m->runs);
    dash_seqset_free(&m->dirty);
    memset(m, 0, sizeof *m);
}

static int subsystem_index(dash_model_t *m, const char *name)
{
    for (int s = 0; s < m->n_subsystems; s++)
        if (!strcmp(m->subsystems[s], name))
            return s;
    if (grow((void **)&m->subsystems, &m->cap_subsystems, m->n_subsystems, sizeof(char *), 8))
        return -1;
    if (!(m->subsystems[m->n_subsystems] = strdup(name)))
        return -1;
    return m->n_subsystems++;
}

int dash_model_key(dash_model_t *m, const char *name, const char *subsystem, int n_bins)
{
    int k = dn_keytab_find(m->key_index, name);
    if (k < 0) {
        if (grow((void **)&m->keys, &m->cap_keys, m->n_keys, sizeof *m->keys, 16))
            return -1;
        dash_key_t *hk = &m->keys[m->n_keys];
        memset(hk, 0, sizeof *hk);
        hk->subsystem = -1;
        hk->alpha = NAN;
        for (int me = 0; me < DASH_METHODS; me++)
            hk->bad[me] = hk->warning[me] = NAN;
        if (!(hk->name = strdup(name)))
            return -1;
        if ((k = dn_keytab_add(m->key_index, name)) != m->n_keys) {
            free(hk->name);
            return -1;
        }
        m->n_keys++;
    }
    dash_key_t *hk = &m->keys[k];
    if (hk->subsystem < 0 && subsystem) {
        if ((hk->subsystem = subsystem_index(m, subsystem[0] ? subsystem : "(none)")) < 0)
            return -1;
    }
    if (!hk->n_bins && n_bins > 0)
        hk->n_bins = n_bins;
    return k;
}

int dash_model_key_shape(dash_model_t *m, int k, int n_bins, int n_bins_y)
{
    dash_key_t *hk = &m->keys[k];
    if (!hk->n_bins)
        hk->n_bins = n_bins;
    if (hk->n_bins != n_bins)
        return 0;
    if (!hk->shape_known) {
        hk->n_bins_y = n_bins_y;
        hk->shape_known = 1;
        return 2;
    }
    return hk->n_bins_y == n_bins_y;
}

/* Row i of key hk's lagged chi2 (n_lagged of them), made (NAN) when make;
 * NULL when there is none (or DN_ENOMEM). hz_rows: rows allocated. */
static double *hz_row(dash_key_t *hk, int i, int make)
{
    const int nl = hk->n_lagged;
    int rows = hk->hz_chi2 ? hk->cap_hz : 0;
    if (i < rows)
        return hk->hz_chi2 + (size_t)i * nl;
    if (!make || nl < 1)
        return NULL;
    int cap = rows;
    if (grow((void **)&hk->hz_chi2, &cap, i, (size_t)nl * sizeof(double), 64))
        return NULL;
    for (size_t c = (size_t)rows * nl; c < (size_t)cap * nl; c++)
        hk->hz_chi2[c] = NAN;
    hk->cap_hz = cap;
    return hk->hz_chi2 + (size_t)i * nl;
}

/* The cell of (k, seq), made when missing; NULL on DN_ENOMEM or a seq before
 * the key's first (cells then move up). */
static dash_cell_t *cell_get(dash_model_t *m, int k, uint64_t seq)
{
    dash_key_t *hk = &m->keys[k];
    if (!hk->cells && !hk->cap_cells)
        hk->first_seq = seq;
    if (seq < hk->first_seq) { /* an older run holding the key: shift */
        int shift = (int)(hk->first_seq - seq);
        if (hk->hz_chi2) { /* the lagged chi2 move with their cells */
            const size_t nl = (size_t)hk->n_lagged;
            if (!hz_row(hk, hk->n_cells + shift, 1))
                return NULL;
            memmove(hk->hz_chi2 + shift * nl, hk->hz_chi2, (size_t)hk->n_cells * nl * sizeof(double));
            for (size_t c = 0; c < (size_t)shift * nl; c++)
                hk->hz_chi2[c] = NAN;
        }
        if (grow((void **)&hk->cells, &hk->cap_cells, hk->n_cells + shift, sizeof *hk->cells, 64))
            return NULL;
        memmove(hk->cells + shift, hk->cells, (size_t)hk->n_cells * sizeof *hk->cells);
        for (int i = 0; i < shift; i++)
            hk->cells[i] = (dash_cell_t){{0, 0}, {0, 0}, -1, 0, 0};
        hk->n_cells += shift;
        hk->first_seq = seq;
    }
    int i = (int)(seq - hk->first_seq);
    int old_cap = hk->cap_cells;
    if (grow((void **)&hk->cells, &hk->cap_cells, i, sizeof *hk->cells, 64))
        return NULL;
    for (int j = old_cap; j < hk->cap_cells; j++)
        hk->cells[j].label = -1;
    if (i >= hk->n_cells)
        hk->n_cells = i + 1;
    return &hk->cells[i];
}

const dash_cell_t *dash_model_cell(const dash_model_t *m, int k, uint64_t seq)
{
    if (k < 0 || k >= m->n_keys)
        return NULL;
    const dash_key_t *hk = &m->keys[k];
    if (!hk->n_cells || seq < hk->first_seq || seq - hk->first_seq >= (uint64_t)hk->n_cells)
        return NULL;
    return &hk->cells[seq - hk->first_seq];
}

static dash_run_t *run_get(dash_model_t *m, uint64_t seq)
{
    if (seq >= DASH_MAX_SEQ)
        return NULL;
    int old = m->cap_runs;
    if (grow((void **)&m->runs, &m->cap_runs, (int)seq, sizeof *m->runs, 256))
        return NULL;
    for (int i = old; i < m->cap_runs; i++) {
        m->runs[i].time = NAN;
        m->runs[i].ltime = NAN;
        for (int me = 0; me < DASH_METHODS; me++)
            assess_clear(&m->runs[i].m[me]);
    }
    if ((int)seq >= m->n_runs)
        m->n_runs = (int)seq + 1;
    return &m->runs[seq];
}

int dash_seqset_add(dash_seqset_t *s, int seq)
{
    if (seq < 0)
        return DN_EINVAL;
    int cap_in = s->cap_in;
    if (grow((void **)&s->in, &cap_in, seq, 1, 256))
        return DN_ENOMEM;
    s->cap_in = cap_in;
    if (s->in[seq])
        return 0;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        int *p = realloc(s->seq, (size_t)cap * sizeof *p);
        if (!p)
            return DN_ENOMEM;
        s->seq = p;
        s->cap = cap;
    }
    s->in[seq] = 1;
    s->seq[s->n++] = seq;
    return 0;
}

void dash_seqset_clear(dash_seqset_t *s)
{
    for (int i = 0; i < s->n; i++)
        s->in[s->seq[i]] = 0;
    s->n = 0;
}

void dash_seqset_free(dash_seqset_t *s)
{
    free(s->seq);
    free(s->in);
    memset(s, 0, sizeof *s);
}

int dash_model_touch(dash_model_t *m, int seq) { return dash_seqset_add(&m->dirty, seq); }

/* The shared copy of a run's key list: runs of a stream mostly hold the same
 * keys in the same order, so they share one list (8 MB saved for 20,000 runs
 * of 100 keys). The newest lists are looked at; NULL on DN_ENOMEM. */
static int *key_list(dash_model_t *m, const int *keys, int n)
{
    for (int i = m->n_key_lists - 1; i >= 0 && i >= m->n_key_lists - 8; i--)
        if (m->key_list_n[i] == n && !memcmp(m->key_lists[i], keys, (size_t)n * sizeof *keys))
            return m->key_lists[i];
    if (m->n_key_lists == m->cap_key_lists) {
        int cap = m->cap_key_lists ? 2 * m->cap_key_lists : 16;
        int **l = realloc(m->key_lists, (size_t)cap * sizeof *l);
        if (l)
            m->key_lists = l;
        int *ln = l ? realloc(m->key_list_n, (size_t)cap * sizeof *ln) : NULL;
        if (!ln)
            return NULL;
        m->key_list_n = ln;
        m->cap_key_lists = cap;
    }
    int *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    if (!copy)
        return NULL;
    memcpy(copy, keys, (size_t)n * sizeof *copy);
    m->key_lists[m->n_key_lists] = copy;
    m->key_list_n[m->n_key_lists++] = n;
    return copy;
}

int dash_model_run(dash_model_t *m, uint64_t seq, int64_t run_number, double time,
                   const int *keys, int n_hist)
{
    if (seq >= DASH_MAX_SEQ)
        return DN_EINVAL;
    dash_run_t *r = run_get(m, seq);
    if (!r)
        return DN_ENOMEM;
    int *shared = key_list(m, keys, n_hist);
    if (!shared)
        return DN_ENOMEM;
    for (int i = 0; i < n_hist; i++) {
        dash_cell_t *c = cell_get(m, keys[i], seq);
        if (!c)
            return DN_ENOMEM;
        c->held = 1;
    }
    r->keys = shared;
    r->n_hist = n_hist;
    r->run_number = run_number;
    r->time = time;
    if (!r->present) {
        r->present = 1;
        r->detail = 1;
        if (r->lstate == DASH_LABEL_AWAITING)
            m->awaiting++;
    }
    return dash_model_touch(m, (int)seq);
}

int dash_model_score(dash_model_t *m, int me, uint64_t seq, int k, int status, double chi2,
                     double alpha)
{
    if (seq >= DASH_MAX_SEQ)
        return DN_EINVAL;
    dash_cell_t *c = cell_get(m, k, seq);
    if (!c)
        return DN_ENOMEM;
    c->status[me] = (uint8_t)status;
    c->chi2[me] = status == DASH_ST_OK ? chi2 : NAN;
    if (me == 0 && !isnan(alpha))
        m->keys[k].alpha = alpha;
    if (!run_get(m, seq))
        return DN_ENOMEM;
    return dash_model_touch(m, (int)seq);
}

int dash_model_score_hz(dash_model_t *m, uint64_t seq, int k, int n, const char *const *names,
                        const double *chi2)
{
    dash_key_t *hk = &m->keys[k];
    if (!hk->hz_fixed) { /* the evaluator's rule (ingest.c): names that are horizons */
        dn_hz_spec_t spec;
        if (dn_hz_spec_from_names(names, n, &spec, NULL))
            return 1;
        hk->hz_fixed = 1;
        hk->n_lagged = n;
        for (int h = 0; h < n; h++)
            snprintf(hk->hz_name[h], sizeof hk->hz_name[h], "%s", names[h]);
    } else {
        if (n != hk->n_lagged)
            return 1;
        for (int h = 0; h < n; h++)
            if (!names[h] || strcmp(names[h], hk->hz_name[h]))
                return 1;
    }
    if (!n || seq >= DASH_MAX_SEQ)
        return 0;
    if (!cell_get(m, k, seq))
        return DN_ENOMEM;
    double *row = hz_row(hk, (int)(seq - hk->first_seq), 1);
    if (!row)
        return DN_ENOMEM;
    memcpy(row, chi2, (size_t)n * sizeof *row);
    return dash_model_touch(m, (int)seq);
}

static void cell_label(dash_cell_t *c, int verdict, int is_auto)
{
    if (c->label >= 0 && is_auto && !c->label_auto)
        return; /* a person's or recorded verdict stands */
    c->label = (int8_t)verdict;
    c->label_auto = (uint8_t)is_auto;
}

static int replace_str(char **dst, const char *src)
{
    char *copy = NULL;
    if (src && src[0] && !(copy = strdup(src)))
        return DN_ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

int dash_model_label(dash_model_t *m, uint64_t seq, int k, int verdict,
                     dash_label_state_t state, const char *who, const char *reason,
                     double time)
{
    dash_run_t *r = run_get(m, seq);
    if (!r)
        return DN_ENOMEM;
    int is_auto = state == DASH_LABEL_AUTO;
    if (k >= 0) {
        dash_cell_t *c = cell_get(m, k, seq);
        if (!c)
            return DN_ENOMEM;
        cell_label(c, verdict, is_auto);
    } else {
        for (int i = 0; i < r->n_hist; i++) {
            dash_cell_t *c = cell_get(m, r->keys[i], seq);
            if (!c)
                return DN_ENOMEM;
            cell_label(c, verdict, is_auto);
        }
    }
    /* What the list shows: a person's verdict over a recorded one over an
     * automatic one; among a person's the latest; among one histogram's
     * labels of the same kind (a generator labels each histogram) the run
     * reads bad when one of them is bad. */
    if (state < r->lstate)
        return dash_model_touch(m, (int)seq);
    int replace = state > r->lstate || k < 0 || state == DASH_LABEL_PERSON ||
                  verdict > r->lverdict;
    if (r->present && r->lstate == DASH_LABEL_AWAITING && state != DASH_LABEL_AWAITING)
        m->awaiting--;
    r->lstate = (uint8_t)state;
    if (replace) {
        r->lverdict = (uint8_t)verdict;
        r->ltime = time;
        if (replace_str(&r->who, who) || replace_str(&r->reason, reason))
            return DN_ENOMEM;
    }
    return dash_model_touch(m, (int)seq);
}

int dash_model_shown(dash_model_t *m, uint64_t seq, dash_label_state_t state, int verdict,
                     const char *who, const char *reason, double time)
{
    dash_run_t *r = run_get(m, seq);
    if (!r)
        return DN_ENOMEM;
    if (r->present && r->lstate == DASH_LABEL_AWAITING && state != DASH_LABEL_AWAITING)
        m->awaiting--;
    r->lstate = (uint8_t)state;
    r->lverdict = (uint8_t)verdict;
    r->ltime = time;
    if (replace_str(&r->who, who) || replace_str(&r->reason, reason))
        return DN_ENOMEM;
    return dash_model_touch(m, (int)seq);
}

int dash_model_threshold(dash_model_t *m, int k, int me, double bad, double warning,
                         int historical_runs, const char *origin)
{
    dash_key_t *hk = &m->keys[k];
    hk->bad[me] = bad;
    hk->warning[me] = warning;
    snprintf(hk->origin[me], sizeof hk->origin[me], "%s", origin ? origin : "");
    if (historical_runs >= 0)
        m->historical_runs = historical_runs;
    for (int i = 0; i < hk->n_cells; i++)
        if (hk->first_seq + (uint64_t)i < (uint64_t)m->n_runs &&
            m->runs[hk->first_seq + (uint64_t)i].present &&
            dash_model_touch(m, (int)(hk->first_seq + (uint64_t)i)))
            return DN_ENOMEM;
    return 0;
}

int dash_model_threshold_hz(dash_model_t *m, int k, int n, const char *const *names,
                            const double *bad)
{
    dash_key_t *hk = &m->keys[k];
    for (int h = 0; h < hk->n_lagged; h++) {
        hk->hz_bad[h] = NAN;
        for (int t = 0; t < n; t++)
            if (names[t] && !strcmp(names[t], hk->hz_name[h]))
                hk->hz_bad[h] = bad[t];
    }
    hk->hz_tuned = n > 0;
    for (int i = 0; i < hk->n_cells; i++)
        if (hk->first_seq + (uint64_t)i < (uint64_t)m->n_runs &&
            m->runs[hk->first_seq + (uint64_t)i].present &&
            dash_model_touch(m, (int)(hk->first_seq + (uint64_t)i)))
            return DN_ENOMEM;
    return 0;
}

double dash_model_cell_score_hz(const dash_model_t *m, int k, uint64_t seq, int h)
{
    const dash_key_t *hk = &m->keys[k];
    const dash_cell_t *c = dash_model_cell(m, k, seq);
    if (h == 0)
        return dash_model_cell_score(m, k, c, 0);
    if (h < 0 || h > hk->n_lagged || isnan(dash_model_cell_score(m, k, c, 0)))
        return NAN;
    const double *row = hz_row((dash_key_t *)hk, (int)(seq - hk->first_seq), 0);
    return row ? dn_score_from_chi2(row[h - 1], hk->n_bins) : NAN;
}

const char *dash_model_hz_name(const dash_model_t *m, int k, int h)
{
    if (h <= 0 || k < 0 || k >= m->n_keys || h > m->keys[k].n_lagged)
        return "now";
    return m->keys[k].hz_name[h - 1];
}

/* 1 when (k, me) is judged on the combined margin (judge.c's multi()). */
static int multi(const dash_key_t *hk, int me)
{
    return me == 0 && hk->n_lagged > 0 && hk->hz_tuned && isfinite(hk->bad[0]);
}

double dash_model_cell_margin(const dash_model_t *m, int k, uint64_t seq, int me, int *fired)
{
    const dash_cell_t *c = dash_model_cell(m, k, seq);
    const dash_key_t *hk = &m->keys[k];
    if (fired)
        *fired = -1;
    if (!c || !c->status[me] || isnan(hk->bad[me]))
        return NAN;
    double score = dash_model_cell_score(m, k, c, me);
    if (!multi(hk, me)) {
        double ex = score - hk->bad[me];
        if (fired && !isnan(ex))
            *fired = 0;
        return ex;
    }
    double s[DN_HZ_MAX], t[DN_HZ_MAX];
    s[0] = score;
    t[0] = hk->bad[0];
    for (int h = 1; h <= hk->n_lagged; h++) {
        s[h] = dash_model_cell_score_hz(m, k, seq, h);
        t[h] = hk->hz_bad[h - 1];
    }
    return dn_hz_margin(s, t, hk->n_lagged + 1, fired);
}

double dash_model_cell_score(const dash_model_t *m, int k, const dash_cell_t *c, int me)
{
    const dash_key_t *hk = &m->keys[k];
    if (!c || c->status[me] != DASH_ST_OK || hk->n_bins < 1)
        return NAN;
    return dn_score_from_chi2(c->chi2[me], hk->n_bins);
}

dn_severity_t dash_model_cell_severity(const dash_model_t *m, int k, uint64_t seq, int me)
{
    const dash_cell_t *c = dash_model_cell(m, k, seq);
    if (!c || !c->status[me] || m->historical_runs < 0 || seq < (uint64_t)m->historical_runs)
        return DN_SEV_NONE;
    dn_thresholds_t t = {m->keys[k].bad[me], m->keys[k].warning[me]};
    int insufficient = c->status[me] == DASH_ST_INSUFFICIENT;
    if (!multi(&m->keys[k], me))
        return dn_severity(dash_model_cell_score(m, k, c, me), insufficient, t);
    dn_thresholds_t shifted = {0.0, t.warning - t.bad};
    return dn_severity(dash_model_cell_margin(m, k, seq, me, NULL), insufficient, shifted);
}

/* The evaluator's assessment (judge.c ev_assess): a run is judged by me once
 * every histogram has a severity; its severity is the worst. */
static void assess(const dash_model_t *m, int seq, int me, dash_assess_t *a)
{
    const dash_run_t *r = &m->runs[seq];
    assess_clear(a);
    int judged = 0;
    for (int i = 0; i < r->n_hist; i++) {
        int k = r->keys[i];
        const dash_cell_t *c = dash_model_cell(m, k, (uint64_t)seq);
        if (!c || !c->status[me])
            continue;
        a->n_scored++;
        if (c->status[me] == DASH_ST_OK) {
            a->chi2 += c->chi2[me];
            a->bins += m->keys[k].n_bins;
        }
        dn_severity_t sev = dash_model_cell_severity(m, k, (uint64_t)seq, me);
        if (sev == DN_SEV_NONE)
            continue;
        judged++;
        if (sev > a->severity)
            a->severity = (uint8_t)sev;
        if (sev < DN_SEV_WARNING)
            continue;
        double ex = dash_model_cell_margin(m, k, (uint64_t)seq, me, NULL);
        dn_severity_worst_insert(a->worst, a->excess, DASH_WORST, k, ex);
    }
    for (int w = 0; w < DASH_WORST && a->worst[w] >= 0; w++) {
        int f;
        dash_model_cell_margin(m, a->worst[w], (uint64_t)seq, me, &f);
        a->fired[w] = (int8_t)f;
    }
    if (!r->present || judged < r->n_hist || r->n_hist == 0) {
        a->severity = DN_SEV_NONE; /* not judged yet, as the evaluator waits */
        for (int w = 0; w < DASH_WORST; w++) {
            a->worst[w] = -1;
            a->excess[w] = -INFINITY;
        }
    }
}

int dash_model_settle(dash_model_t *m, void (*fn)(void *arg, int seq), void *arg)
{
    int n = m->dirty.n;
    for (int i = 0; i < n; i++) {
        int seq = m->dirty.seq[i];
        if (seq >= m->n_runs)
            continue;
        dash_run_t *r = &m->runs[seq];
        for (int me = 0; me < DASH_METHODS; me++) {
            if (r->counted)
                m->counts[me][r->m[me].severity]--;
            assess(m, seq, me, &r->m[me]);
            if (r->present)
                m->counts[me][r->m[me].severity]++;
        }
        r->counted = r->present;
        if (fn && r->present)
            fn(arg, seq);
    }
    dash_seqset_clear(&m->dirty);
    if (n)
        m->version++;
    return n;
}

const char *dash_severity_word(dn_severity_t s)
{
    static const char *const words[DN_SEV_COUNT] = {"none", "insufficient", "ok", "warning",
                                                    "bad"};
    return (unsigned)s < DN_SEV_COUNT ? words[s] : "none";
}

const char *dash_label_state_word(dash_label_state_t s)
{
    static const char *const words[] = {"awaiting", "auto", "recorded", "person"};
    return (unsigned)s < 4 ? words[s] : "awaiting";
}
