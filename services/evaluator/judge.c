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
 * Horizons: a key scored at several horizons (its hz[m], ingest.c) gets,
 * on the same historical runs, one threshold per horizon
 * (dn_hz_tune_thresholds: a horizon without a scored good and bad
 * historical run is NAN and never votes; horizon now's is the policy's when
 * it sets one). Its histograms are then judged on the combined margin
 * max_h (score_h - thr_h) of horizon.h, with severity.h's rule shifted by
 * the bad threshold (bad above 0, warning above warning - bad), so one
 * horizon judges exactly as before; the horizon with the largest margin is
 * the one that fired, named in the flag line beside its margin, and the
 * worst bins are its pulls.
 *
 * State: per key the policy's judgement (looked up once the key's subsystem
 * is known), the bad thresholds and the horizons' thresholds; per run the
 * methods that judged it. */
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
    /* Several horizons: hz_tuned[m] once their thresholds were tuned, each
     * in hz_thr[m] ([0] = bad[m]; NAN: never votes). */
    uint8_t hz_tuned[EV_METHODS];
    double hz_thr[EV_METHODS][DN_HZ_MAX];
};

void ev_judge_init(ev_judge_t *j, const dn_policy_t *policy, int n_hist, uint64_t boot_seed,
                   double margin)
{
    memset(j, 0, sizeof *j);
    j->policy = policy;
    j->n_hist = n_hist;
    j->margin = margin;
    dn_eval_opts_default(&j->opts); /* the reference's defaults */
    j->opts.n_hist = n_hist;
    j->opts.boot_seed = boot_seed;
    j->t_opt = 1;
    j->threshold_default = 1.0;
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
    for (int i = old_cap; i < j->cap_keys; i++) {
        v[i] = (ev_verdicts_t){0, {0, NAN, NAN}, {NAN, NAN}, {0, 0}, {{0}}};
        for (int m = 0; m < EV_METHODS; m++)
            for (int h = 0; h < DN_HZ_MAX; h++)
                v[i].hz_thr[m][h] = NAN;
    }
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

/* 1 when (k, m) is judged on the combined margin of several horizons. */
static int multi(const ev_judge_t *j, const ev_book_t *b, int k, int m)
{
    return b->keys[k].hz[m].n > 1 && k < j->cap_keys && j->keys[k].hz_tuned[m] &&
           isfinite(j->keys[k].bad[m]);
}

double ev_hz_threshold(const ev_judge_t *j, int k, int m, int h)
{
    if (h == 0)
        return ev_thresholds(j, k, m).bad;
    if (k >= j->cap_keys || h < 0 || h >= DN_HZ_MAX || !j->keys[k].hz_tuned[m])
        return NAN;
    return j->keys[k].hz_thr[m][h];
}

double ev_margin(const ev_judge_t *j, const ev_book_t *b, int k, uint64_t seq, int m,
                 int *fired)
{
    const ev_key_t *hk = &b->keys[k];
    const ev_row_t *r = ev_book_row(b, k, seq);
    if (fired)
        *fired = -1;
    double bad = ev_thresholds(j, k, m).bad;
    if (!r || !r->has_score[m] || isnan(bad))
        return NAN;
    if (!multi(j, b, k, m)) {
        double ex = ev_row_score(hk, r, m) - bad;
        if (fired && !isnan(ex))
            *fired = 0;
        return ex;
    }
    double score[DN_HZ_MAX];
    for (int h = 0; h < hk->hz[m].n; h++)
        score[h] = ev_row_score_hz(hk, r, m, h);
    return dn_hz_margin(score, j->keys[k].hz_thr[m], hk->hz[m].n, fired);
}

dn_severity_t ev_severity(const ev_judge_t *j, const ev_book_t *b, int k, uint64_t seq, int m)
{
    const ev_row_t *r = ev_book_row(b, k, seq);
    if (!r || !r->has_score[m])
        return DN_SEV_NONE;
    int insufficient = r->status[m] == DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS;
    dn_thresholds_t t = ev_thresholds(j, k, m);
    if (!multi(j, b, k, m))
        return dn_severity(ev_row_score(&b->keys[k], r, m), insufficient, t);
    dn_thresholds_t shifted = {0.0, t.warning - t.bad};
    return dn_severity(ev_margin(j, b, k, seq, m, NULL), insufficient, shifted);
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
        if (dn_eval_tune_threshold(score, label, j->n_hist, &j->opts, &thr, &err) == 0) {
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

/* Tunes every horizon's threshold of (k, m) on the historical runs, which
 * all have their label and score; a policy's bad threshold is horizon
 * now's. Horizon now failing to tune: as tune() (never flags, logged). */
static void tune_hz(ev_judge_t *j, const ev_book_t *b, int k, int m)
{
    const ev_key_t *hk = &b->keys[k];
    ev_verdicts_t *v = &j->keys[k];
    const int n = j->n_hist, H = hk->hz[m].n;
    double *score = malloc((size_t)n * H * sizeof *score), thr[DN_HZ_MAX];
    int8_t *label = malloc((size_t)n);
    dn_err_t err = {0};
    if (!score || !label) {
        dn_log(DN_LOG_WARN, "histogram '%s' (%s): out of memory tuning the thresholds (tried "
               "again with the next change)", hk->key, ev_method_name[m]);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        for (int h = 0; h < H; h++)
            score[(size_t)h * n + i] = ev_row_score_hz(hk, &hk->rows[i], m, h);
        label[i] = hk->rows[i].label;
    }
    v->hz_tuned[m] = 1;
    thr[0] = v->bad[m]; /* the policy's, or NAN: tuned */
    int rc = dn_hz_tune_thresholds(score, label, n, H, n, j->opts.boot_seed,
                                   j->opts.horizon_budget, thr, &err);
    if (rc == DN_ENOMEM) {
        v->hz_tuned[m] = 0;
        dn_log(DN_LOG_WARN, "histogram '%s' (%s): %s (tried again with the next change)",
               hk->key, ev_method_name[m], err.msg);
        goto done;
    }
    if (rc) { /* horizon now cannot be tuned: the lagged ones do not vote either */
        for (int h = 0; h < H; h++)
            thr[h] = NAN;
        if (isnan(v->bad[m]))
            dn_log(DN_LOG_WARN, "histogram '%s' (%s): %s", hk->key, ev_method_name[m], err.msg);
    }
    if (!isnan(v->bad[m])) /* the policy's */
        thr[0] = v->bad[m];
    else
        v->bad[m] = rc ? INFINITY : thr[0];
    char list[512], name[DN_HZ_NAME_MAX];
    size_t len = 0;
    for (int h = 0; h < H; h++) {
        v->hz_thr[m][h] = h ? thr[h] : v->bad[m];
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s %.6g", h ? ", " : "",
                                ev_hz_name(hk, m, h, name, sizeof name), v->hz_thr[m][h]);
        if (len >= sizeof list)
            break;
    }
    if (!b->rebuilding && !rc)
        dn_log(DN_LOG_INFO, "histogram '%s' (%s): thresholds %s tuned on %d runs (nan: the "
               "horizon never votes)", hk->key, ev_method_name[m], list, n);
done:
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
    const int horizons = hk->hz[m].n > 1;
    if (!isnan(v->bad[m]) && (!horizons || v->hz_tuned[m]))
        return 0;
    int became = 0;
    if (isnan(v->bad[m]) && v->known && !isnan(v->policy.bad)) {
        v->bad[m] = v->policy.bad;
        if (!horizons)
            return 1;
        became = 1;
    }
    if (isnan(v->bad[m]) && !j->t_opt) { /* the reference's t_opt 0: never tuned */
        v->bad[m] = j->threshold_default;
        if (!horizons)
            return 1;
        became = 1;
    }
    if (j->n_hist < 1 || hk->n_rows < j->n_hist || hk->n_bins < 1)
        return became;
    for (int i = 0; i < j->n_hist; i++)
        if (!hk->rows[i].has_label || !hk->rows[i].has_score[m])
            return became;
    if (!horizons) {
        tune(j, b, k, m);
        return !isnan(j->keys[k].bad[m]);
    }
    tune_hz(j, b, k, m);
    return v->hz_tuned[m] || became; /* the horizons' thresholds are news too */
}

int ev_hz_tuned(const ev_judge_t *j, int k, int m)
{
    return k < j->cap_keys && j->keys[k].hz_tuned[m];
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
    int fired;
    double ex = ev_margin(j, b, k, seq, m, &fired);
    if (!isnan(ex) && (a->margin_key < 0 || ex > a->margin)) {
        a->margin = ex;
        a->margin_key = k;
        a->fired = fired;
    }
    if (sev < DN_SEV_WARNING)
        return;
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
    a->margin = NAN;
    a->margin_key = a->fired = -1;
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

void ev_hz_reference(const ev_book_t *b, int k, uint64_t seq, int m, int h, const double **mu,
                     const double **sigma)
{
    const ev_key_t *hk = &b->keys[k];
    const ev_row_t *r = ev_book_row(b, k, seq);
    *mu = *sigma = NULL;
    if (!r)
        return;
    if (h == 0) {
        *mu = r->ref_mu[m];
        *sigma = r->ref_sigma[m];
        return;
    }
    const int nb = hk->n_bins;
    if (h < 0 || h >= hk->hz[m].n || !r->hz_ref_mu[m] || !r->hz_ref_sigma[m] ||
        r->hz_nb[m] != nb || nb < 1)
        return;
    const double *rm = r->hz_ref_mu[m] + (size_t)(h - 1) * nb;
    const double *rs = r->hz_ref_sigma[m] + (size_t)(h - 1) * nb;
    if (isnan(rm[0]) || isnan(rs[0])) /* this horizon sent none */
        return;
    *mu = rm;
    *sigma = rs;
}

void ev_worst_bins(const ev_book_t *b, int k, uint64_t seq, int m, int h, char *buf,
                   size_t cap)
{
    const ev_key_t *hk = &b->keys[k];
    const ev_row_t *r = ev_book_row(b, k, seq);
    const int nb = hk->n_bins;
    const double *mu, *sigma;
    buf[0] = '\0';
    if (!r || nb < 1)
        return;
    if (h == 0 && r->pulls[m]) { /* the scorer's own (debiased ones differ) */
        dn_hist_worst_bins(buf, cap, r->pulls[m], nb, EV_WORST, hk->n_bins_y, r->edges,
                           r->edges_y);
        return;
    }
    ev_hz_reference(b, k, seq, m, h, &mu, &sigma);
    if (!mu && h > 0 && r->hz_pulls[m] && r->hz_nb[m] == nb && h < hk->hz[m].n) {
        /* the pulls as the scorer sent them, without their reference */
        const double *pull = r->hz_pulls[m] + (size_t)(h - 1) * nb;
        if (!isnan(pull[0]))
            dn_hist_worst_bins(buf, cap, pull, nb, EV_WORST, hk->n_bins_y, r->edges,
                               r->edges_y);
        return;
    }
    if (!r->counts || !mu || !sigma)
        return;
    double *xt = malloc(sizeof(double) * 3 * (size_t)nb);
    if (!xt)
        return;
    double *sx2 = xt + nb, *pull = sx2 + nb;
    if (dn_hist_normalise(xt, sx2, r->counts, r->variances, nb) > DN_EPS) {
        dn_hist_chi2(pull, xt, sx2, mu, sigma, nb);
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
    char worst[512], bins[256], fired[DN_HZ_NAME_MAX + 64] = "", hz[DN_HZ_NAME_MAX + 4] = "";
    int h = 0;
    ev_margin(j, b, a->worst[0], seq, m, &h);
    ev_worst_list(b, a, worst, sizeof worst);
    ev_worst_bins(b, a->worst[0], seq, m, h > 0 ? h : 0, bins, sizeof bins);
    if (h > 0) { /* a lagged horizon: the defect grew slowly, now's reference moved along */
        char name[DN_HZ_NAME_MAX];
        ev_hz_name(&b->keys[a->worst[0]], m, h, name, sizeof name);
        snprintf(fired, sizeof fired, "; fired by %s (margin %+.2f)", name, a->excess[0]);
        snprintf(hz, sizeof hz, " (%s)", name);
    }
    dn_log(a->severity == DN_SEV_BAD ? DN_LOG_WARN : DN_LOG_INFO,
           "run %lld (%s): %s: %d bad, %d warning, %d insufficient of %d histograms; "
           "combined score %.3f; worst %s%s; worst bins of %s%s: %s",
           (long long)ri->run_number, ev_method_name[m], dn_severity_name(a->severity),
           a->n_bad, a->n_warning, a->n_insufficient, a->n_hist, ev_assess_score(a), worst,
           fired, b->keys[a->worst[0]].key, hz, bins);
    return 1;
}
