/* judge.c: how the evaluator judges what it received (evaluator.h).
 *
 * Thresholds: per (key, method) the bad threshold is the policy's when it
 * sets one, else tuned as dn_evaluate does (dn_eval_tune_threshold) once the
 * first n_hist runs of the key have labels and that method's scores; a key
 * whose tuning fails gets INFINITY (never flags; logged once). The warning
 * threshold and the severity of a scored histogram are severity.h's rule.
 *
 * Runs: a run (or one subsystem of it) is assessed by one method over the
 * histograms it holds: counts per severity, its severity (the worst
 * histogram's), the combined score log(sum chi2 / sum n_bins) over the scored
 * ones, and the histograms furthest above their thresholds. A run of the
 * continual regime is judged once all its histograms are: the first time,
 * a warning or bad run gets its flag line in the log, naming its worst
 * histograms and, for the worst one, its worst bins.
 *
 * State: per key the policy's judgement (looked up once the key's subsystem
 * is known) and the bad thresholds; per run the methods that judged it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "evaluator.h"
#include "histo.h"
#include "log.h"

const char *const ev_method_name[EV_METHODS] = {"s", "ml"};

struct ev_verdicts_t {
    int known;               /* policy looked up (the key's subsystem is known) */
    dn_judge_t policy;
    double bad[EV_METHODS];  /* NAN until known */
};

void ev_judge_init(ev_judge_t *j, const dn_policy_t *policy, int n_hist, uint64_t boot_seed,
                   double margin)
{
    memset(j, 0, sizeof *j);
    j->policy = policy;
    j->n_hist = n_hist;
    j->boot_seed = boot_seed;
    j->margin = margin;
}

void ev_judge_free(ev_judge_t *j)
{
    free(j->keys);
    free(j->judged);
    memset(j, 0, sizeof *j);
}

static ev_verdicts_t *verdicts_get(ev_judge_t *j, int k)
{
    int old_cap = j->cap_keys;
    ev_verdicts_t *v = ev_grow(j->keys, &j->cap_keys, k, sizeof *v, 8);
    if (!v)
        return NULL;
    for (int i = old_cap; i < j->cap_keys; i++)
        v[i] = (ev_verdicts_t){0, {0, NAN, NAN}, {NAN, NAN}};
    j->keys = v;
    return &j->keys[k];
}

dn_judge_t ev_key_policy(const ev_judge_t *j, int k)
{
    dn_judge_t none = {0, NAN, NAN};
    return k < j->cap_keys && j->keys[k].known ? j->keys[k].policy : none;
}

dn_thresholds_t ev_thresholds(const ev_judge_t *j, int k, int m)
{
    double bad = k < j->cap_keys ? j->keys[k].bad[m] : NAN;
    return dn_thresholds(bad, ev_key_policy(j, k).warning, j->margin);
}

dn_severity_t ev_severity(const ev_judge_t *j, const ev_book_t *b, int k, uint64_t seq, int m)
{
    const ev_row_t *r = ev_book_row(b, k, seq);
    if (!r || !r->has_score[m])
        return DN_SEV_NONE;
    return dn_severity(ev_row_score(&b->keys[k], r, m),
                       r->status[m] == DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS,
                       ev_thresholds(j, k, m));
}

/* Tunes the threshold of (k, m) on the historical runs, which all have their
 * label and score. */
static void tune(ev_judge_t *j, const ev_book_t *b, int k, int m)
{
    const ev_key_t *hk = &b->keys[k];
    double *score = malloc((size_t)j->n_hist * sizeof *score);
    int8_t *label = malloc((size_t)j->n_hist);
    dn_err_t err = {0};
    double thr;
    if (!score || !label) {
        dn_log(DN_LOG_WARN, "histogram '%s' (%s): out of memory tuning the threshold (tried "
               "again with the next change)", hk->key, ev_method_name[m]);
    } else {
        for (int i = 0; i < j->n_hist; i++) {
            score[i] = ev_row_score(hk, &hk->rows[i], m);
            label[i] = hk->rows[i].label;
        }
        if (dn_eval_tune_threshold(score, label, j->n_hist, j->boot_seed, &thr, &err) == 0) {
            j->keys[k].bad[m] = thr;
            if (!b->rebuilding)
                dn_log(DN_LOG_INFO, "histogram '%s' (%s): threshold %.6g tuned on %d runs",
                       hk->key, ev_method_name[m], thr, j->n_hist);
        } else {
            j->keys[k].bad[m] = INFINITY; /* never flags; logged once */
            dn_log(DN_LOG_WARN, "histogram '%s' (%s): %s", hk->key, ev_method_name[m], err.msg);
        }
    }
    free(score);
    free(label);
}

int ev_judge_tune(ev_judge_t *j, const ev_book_t *b, int k, int m)
{
    const ev_key_t *hk = &b->keys[k];
    ev_verdicts_t *v = verdicts_get(j, k);
    if (!v)
        return DN_ENOMEM;
    if (!v->known && hk->subsystem) {
        v->policy = dn_policy_lookup(j->policy, hk->key, hk->subsystem);
        v->known = 1;
    }
    if (!isnan(v->bad[m]))
        return 0;
    if (v->known && !isnan(v->policy.bad)) {
        v->bad[m] = v->policy.bad;
        return 1;
    }
    if (j->n_hist < 1 || hk->n_rows < j->n_hist || hk->n_bins < 1)
        return 0;
    for (int i = 0; i < j->n_hist; i++)
        if (!hk->rows[i].has_label || !hk->rows[i].has_score[m])
            return 0;
    tune(j, b, k, m);
    return !isnan(j->keys[k].bad[m]);
}

/* ---- runs and subsystems -------------------------------------------------------- */

static void assess_add(const ev_judge_t *j, const ev_book_t *b, ev_assess_t *a, int k,
                       uint64_t seq, int m)
{
    const ev_key_t *hk = &b->keys[k];
    const ev_row_t *r = &hk->rows[seq];
    dn_severity_t sev = ev_severity(j, b, k, seq, m);
    a->n_hist++;
    if (sev == DN_SEV_NONE)
        return;
    a->n_scored++;
    a->n_bad += sev == DN_SEV_BAD;
    a->n_warning += sev == DN_SEV_WARNING;
    a->n_insufficient += sev == DN_SEV_INSUFFICIENT;
    if (sev > a->severity)
        a->severity = sev;
    if (sev == DN_SEV_INSUFFICIENT)
        return;
    a->chi2 += r->chi2[m];
    a->bins += hk->n_bins;
    if (sev < DN_SEV_WARNING)
        return;
    double ex = ev_row_score(hk, r, m) - ev_thresholds(j, k, m).bad;
    dn_severity_worst_insert(a->worst, a->excess, EV_WORST, k, ex);
}

int ev_run_complete(const ev_book_t *b, uint64_t seq, int m)
{
    if (seq >= (uint64_t)b->n_runs)
        return 0;
    const ev_run_t *ri = &b->runs[seq];
    return ri->n_keys > 0 && ri->n_scored[m] >= ri->n_keys;
}

int ev_assess(const ev_judge_t *j, const ev_book_t *b, uint64_t seq, int m,
              const char *subsystem, ev_assess_t *a)
{
    memset(a, 0, sizeof *a);
    for (int w = 0; w < EV_WORST; w++) {
        a->worst[w] = -1;
        a->excess[w] = -INFINITY;
    }
    for (int k = 0; k < b->n_keys; k++) {
        const ev_row_t *r = ev_book_row(b, k, seq);
        if (!r || !r->has_run)
            continue;
        if (subsystem && strcmp(ev_key_subsystem(&b->keys[k]), subsystem))
            continue;
        if (r->has_score[m] && isnan(ev_thresholds(j, k, m).bad))
            return 0;
        assess_add(j, b, a, k, seq, m);
    }
    return a->n_scored == a->n_hist;
}

double ev_assess_score(const ev_assess_t *a)
{
    return a->bins > 0 ? log(a->chi2 / a->bins) : NAN;
}

void ev_worst_list(const ev_book_t *b, const ev_assess_t *a, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int w = 0; w < EV_WORST && a->worst[w] >= 0; w++) {
        int n = snprintf(buf + len, cap - len, "%s%s(%+.2f)", w ? " " : "",
                         b->keys[a->worst[w]].key, a->excess[w]);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
}

void ev_worst_bins(const ev_book_t *b, int k, uint64_t seq, int m, char *buf, size_t cap)
{
    const ev_key_t *hk = &b->keys[k];
    const ev_row_t *r = ev_book_row(b, k, seq);
    const int nb = hk->n_bins;
    buf[0] = '\0';
    if (!r || !r->counts || !r->ref_mu[m] || !r->ref_sigma[m] || nb < 1)
        return;
    double *xt = malloc(sizeof(double) * 3 * (size_t)nb);
    if (!xt)
        return;
    double *sx2 = xt + nb, *pull = sx2 + nb;
    if (dn_hist_normalise(xt, sx2, r->counts, r->variances, nb) > DN_EPS) {
        dn_hist_chi2(pull, xt, sx2, r->ref_mu[m], r->ref_sigma[m], nb);
        dn_hist_worst_bins(buf, cap, pull, nb, EV_WORST, hk->n_bins_y, r->edges, r->edges_y);
    }
    free(xt);
}

/* ---- judging a run ------------------------------------------------------------------- */

/* Marks run seq judged by m; 1 when it already was, 0, DN_ENOMEM. */
static int mark_judged(ev_judge_t *j, uint64_t seq, int m)
{
    uint8_t *judged = ev_grow(j->judged, &j->cap_judged, (int)seq, 1, 256);
    if (!judged)
        return DN_ENOMEM;
    j->judged = judged;
    int was = j->judged[seq] >> m & 1;
    j->judged[seq] |= (uint8_t)(1u << m);
    return was;
}

int ev_judge_run(ev_judge_t *j, const ev_book_t *b, uint64_t seq, int m, ev_assess_t *a)
{
    if ((int)seq < j->n_hist || (int)seq >= b->n_runs || b->rebuilding)
        return 0;
    const ev_run_t *ri = &b->runs[seq];
    if (!ev_run_complete(b, seq, m) || ((int)seq < j->cap_judged && j->judged[seq] >> m & 1))
        return 0;
    if (!ev_assess(j, b, seq, m, NULL, a) || a->n_hist < ri->n_keys)
        return 0;
    int rc = mark_judged(j, seq, m);
    if (rc)
        return rc < 0 ? rc : 0;
    if (a->severity < DN_SEV_WARNING)
        return 1;
    char worst[512], bins[256];
    ev_worst_list(b, a, worst, sizeof worst);
    ev_worst_bins(b, a->worst[0], seq, m, bins, sizeof bins);
    dn_log(a->severity == DN_SEV_BAD ? DN_LOG_WARN : DN_LOG_INFO,
           "run %lld (%s): %s: %d bad, %d warning, %d insufficient of %d histograms; "
           "combined score %.3f; worst %s; worst bins of %s: %s",
           (long long)ri->run_number, ev_method_name[m], dn_severity_name(a->severity),
           a->n_bad, a->n_warning, a->n_insufficient, a->n_hist, ev_assess_score(a), worst,
           b->keys[a->worst[0]].key, bins);
    return 1;
}
