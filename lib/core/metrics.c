/* metrics.c: ROC AUC, classification rates, bootstrap threshold tuning and
 * its scan, bootstrap bands of the rates, adaptation time and the reference's
 * adaptivity index, Jaccard distance of uncertainty bands per regime, numpy
 * percentiles (see metrics.h, SPEC 4).
 *
 * Every function reproduces the rounding of the reference's library call where
 * that is cheap: AUC from exact integer rank sums, balanced accuracy as sklearn's
 * mean of recalls, medians and percentiles as numpy's, numpy.interp's formula,
 * numpy's axis-0 mean/std as row-by-row sums.
 *
 * Invariant: scratch memory is allocated per call and freed on every path. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "histo.h"
#include "rng.h"

typedef struct scored_t {
    double score;
    int32_t index;
    int32_t label;
} scored_t;

static int cmp_scored(const void *a, const void *b)
{
    const scored_t *x = a, *y = b;
    if (x->score < y->score)
        return -1;
    if (x->score > y->score)
        return 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline int skipped(double score, int8_t label)
{
    return label < 0 || isnan(score);
}

/* ---- AUC ---- */

size_t dn_roc_auc_work_size(int n)
{
    return (size_t)(n > 0 ? n : 1) * sizeof(scored_t);
}

double dn_roc_auc_work(const double *score, const int8_t *label, int n, void *work)
{
    scored_t *s = work;
    int m = 0;
    int64_t n_pos = 0, n_neg = 0;
    for (int i = 0; i < n; i++) {
        if (skipped(score[i], label[i]))
            continue;
        s[m].score = score[i];
        s[m].index = i;
        s[m].label = label[i] != 0;
        n_pos += s[m].label;
        n_neg += !s[m].label;
        m++;
    }
    if (n_pos == 0 || n_neg == 0)
        return NAN;
    qsort(s, (size_t)m, sizeof *s, cmp_scored);
    /* Twice the positives' rank sum, ties sharing the average rank: a tie group
     * at sorted positions [a, b) has average 1-based rank (a + 1 + b) / 2. */
    int64_t twice_rank_sum = 0;
    for (int a = 0; a < m;) {
        int b = a + 1;
        while (b < m && s[b].score == s[a].score)
            b++;
        int64_t pos = 0;
        for (int k = a; k < b; k++)
            pos += s[k].label;
        twice_rank_sum += pos * (int64_t)(a + 1 + b);
        a = b;
    }
    int64_t twice_u = twice_rank_sum - n_pos * (n_pos + 1);
    return (double)twice_u / (2.0 * (double)n_pos * (double)n_neg);
}

double dn_roc_auc(const double *score, const int8_t *label, int n)
{
    void *work = malloc(dn_roc_auc_work_size(n));
    if (!work)
        return NAN;
    double auc = dn_roc_auc_work(score, label, n, work);
    free(work);
    return auc;
}

/* ---- classification ---- */

/* sklearn's balanced_accuracy_score from the confusion counts. */
static double balanced_accuracy(int tp, int fn, int tn, int fp, double *sens, double *spec)
{
    double se = tp + fn > 0 ? (double)tp / (double)(tp + fn) : NAN;
    double sp = tn + fp > 0 ? (double)tn / (double)(tn + fp) : NAN;
    if (sens)
        *sens = se;
    if (spec)
        *spec = sp;
    if (tp + fn > 0 && tn + fp > 0)
        return (sp + se) / 2.0;
    if (tp + fn > 0)
        return se;
    if (tn + fp > 0)
        return sp;
    return NAN;
}

void dn_classify(const double *score, const int8_t *label, int n, double threshold,
                 dn_classification_t *out)
{
    dn_classification_t r = {0};
    for (int i = 0; i < n; i++) {
        if (skipped(score[i], label[i])) {
            r.n_skipped++;
            continue;
        }
        int predicted_bad = score[i] > threshold;
        if (label[i] != 0) {
            r.tp += predicted_bad;
            r.fn += !predicted_bad;
        } else {
            r.fp += predicted_bad;
            r.tn += !predicted_bad;
        }
    }
    r.balanced_accuracy =
        balanced_accuracy(r.tp, r.fn, r.tn, r.fp, &r.sensitivity, &r.specificity);
    int scored = r.tp + r.fn + r.tn + r.fp;
    r.accuracy = scored > 0 ? (double)(r.tp + r.tn) / (double)scored : NAN;
    /* sklearn's zero_division default: 0 (with a warning) when nothing is called bad. */
    r.precision = r.tp + r.fp > 0 ? (double)r.tp / (double)(r.tp + r.fp) : 0.0;
    *out = r;
}

/* ---- threshold tuning ---- */

void dn_threshold_opts_default(dn_threshold_opts_t *o)
{
    o->n_grid = 1000;
    o->lo = -3.25;
    o->hi = 7.5;
    o->n_boot = 100;
    o->seed = 0;
    o->ba_weight = 1.0;
}

/* Moves the k-th smallest of v[0..n) to v[k], smaller-or-equal values before it
 * and greater-or-equal after (Hoare quickselect, median-of-three pivot). The
 * values must be comparable (no NaN). Expected O(n): the Jaccard bands take 200
 * medians of ~4000 values per dataset, where a full sort dominated evaluation. */
static void select_kth(double *v, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (hi > lo) {
        int mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

/* numpy median of v[0..n) (v is reordered), n >= 1. The median depends only on
 * the order statistics, so selection gives the same value as a sort. */
static double median_sorted_inplace(double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (isnan(v[i])) {
            qsort(v, (size_t)n, sizeof *v, cmp_double);
            break;
        }
    int k = n / 2;
    select_kth(v, n, k);
    if (n % 2)
        return v[k];
    double below = v[0];
    for (int i = 1; i < k; i++)
        if (v[i] > below)
            below = v[i];
    return (below + v[k]) / 2.0;
}

/* The weighted balanced accuracy (sens + beta spec) / (1 + beta) of the
 * reference's threshold optimisation. With one class absent from the truth it is
 * the recall of the class present (as balanced_accuracy, so that beta = 1 gives
 * sklearn's number bit for bit: (se + 1 sp) / 2 rounds as (sp + se) / 2). */
static double weighted_ba(int tp, int fn, int tn, int fp, double beta, double *sens,
                          double *spec)
{
    double se = tp + fn > 0 ? (double)tp / (double)(tp + fn) : NAN;
    double sp = tn + fp > 0 ? (double)tn / (double)(tn + fp) : NAN;
    if (sens)
        *sens = se;
    if (spec)
        *spec = sp;
    if (tp + fn > 0 && tn + fp > 0)
        return (se + beta * sp) / (1.0 + beta);
    if (tp + fn > 0)
        return se;
    if (tn + fp > 0)
        return sp;
    return NAN;
}

/* The q-th percentile of sorted c[0..m) (m >= 1, no NaN) as numpy's 'linear'
 * method: virtual index (m - 1) q / 100, then numpy's _lerp. */
static double percentile_sorted(const double *c, int m, double q)
{
    double vi = (double)(m - 1) * (q / 100.0);
    double prev = floor(vi);
    int i0 = (int)prev, i1 = i0 + 1;
    if (vi >= m - 1)
        i0 = i1 = m - 1;
    double t = vi - prev, a = c[i0], b = c[i1];
    double diff = b - a;
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

/* The bootstrap behind dn_threshold_tune and dn_threshold_scan: fills grid[n_grid]
 * and, per grid point k and resample b, wba[k n_boot + b] (and sens, spec when
 * not NULL), then *best with the grid index of the first maximum of the median
 * wba. Validates the arguments (who names the caller in messages). */
static int bootstrap_grid(const double *score, const int8_t *label, int n,
                          const dn_threshold_opts_t *o, const char *who, double *grid,
                          double *sens, double *spec, double *wba, int *best_out, dn_err_t *err)
{
    scored_t *sorted = NULL;
    int32_t *count = NULL;
    double *column = NULL;
    int rc = DN_OK;
    sorted = malloc((size_t)n * sizeof *sorted);
    count = malloc((size_t)n * sizeof *count);
    column = malloc((size_t)o->n_boot * sizeof *column);
    if (!sorted || !count || !column) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory (%d runs, %d x %d)", who, n,
                        o->n_grid, o->n_boot);
        goto done;
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (skipped(score[i], label[i]))
            continue;
        sorted[m].score = score[i];
        sorted[m].index = i;
        sorted[m].label = label[i] != 0;
        m++;
    }
    if (m == 0) {
        rc = dn_err_set(err, DN_EINVAL, "%s: none of the %d runs has a label and a score", who,
                        n);
        goto done;
    }
    qsort(sorted, (size_t)m, sizeof *sorted, cmp_scored);

    /* numpy.linspace: k * step + lo, the last point exactly hi. */
    if (o->n_grid == 1) {
        grid[0] = o->lo;
    } else {
        double step = (o->hi - o->lo) / (double)(o->n_grid - 1);
        for (int k = 0; k < o->n_grid; k++)
            grid[k] = (double)k * step + o->lo;
        grid[o->n_grid - 1] = o->hi;
    }

    dn_rng_t rng;
    dn_rng_seed(&rng, o->seed);
    for (int b = 0; b < o->n_boot; b++) {
        /* A resample is a multiplicity per run; sweeping the runs in score order
         * against the ascending grid gives every threshold's counts in one pass. */
        memset(count, 0, (size_t)n * sizeof *count);
        for (int r = 0; r < n; r++)
            count[dn_rng_below(&rng, (uint64_t)n)]++;
        int n_pos = 0, n_neg = 0;
        for (int k = 0; k < m; k++) {
            int c = count[sorted[k].index];
            if (sorted[k].label)
                n_pos += c;
            else
                n_neg += c;
        }
        int fn = 0, tn = 0, p = 0;
        for (int k = 0; k < o->n_grid; k++) {
            double t = grid[k];
            while (p < m && sorted[p].score <= t) {
                int c = count[sorted[p].index];
                if (sorted[p].label)
                    fn += c;
                else
                    tn += c;
                p++;
            }
            size_t at = (size_t)k * o->n_boot + b;
            double se, sp;
            wba[at] = weighted_ba(n_pos - fn, fn, tn, n_neg - tn, o->ba_weight, &se, &sp);
            if (sens)
                sens[at] = se;
            if (spec)
                spec[at] = sp;
        }
    }

    int best = -1;
    double best_median = -INFINITY;
    for (int k = 0; k < o->n_grid; k++) {
        const double *row = wba + (size_t)k * o->n_boot;
        int c = 0;
        for (int b = 0; b < o->n_boot; b++)
            if (!isnan(row[b]))
                column[c++] = row[b];
        if (c == 0)
            continue;
        double med = median_sorted_inplace(column, c);
        if (best < 0 || med > best_median) {
            best = k;
            best_median = med;
        }
    }
    if (best < 0) {
        rc = dn_err_set(err, DN_EINVAL, "%s: no resample drew a scored run", who);
        goto done;
    }
    *best_out = best;
done:
    free(sorted);
    free(count);
    free(column);
    return rc;
}

/* Options (NULL = defaults) into *o, checked. */
static int threshold_args(const double *score, const int8_t *label, int n,
                          const dn_threshold_opts_t *opts, const char *who,
                          dn_threshold_opts_t *o, dn_err_t *err)
{
    if (opts)
        *o = *opts;
    else
        dn_threshold_opts_default(o);
    if (n < 1 || !score || !label)
        return dn_err_set(err, DN_EINVAL, "%s: %d runs", who, n);
    if (o->n_grid < 1 || o->n_boot < 1 || !isfinite(o->lo) || !isfinite(o->hi) ||
        o->lo > o->hi)
        return dn_err_set(err, DN_EINVAL, "%s: bad options (grid %d on [%g, %g], %d resamples)",
                          who, o->n_grid, o->lo, o->hi, o->n_boot);
    if (!(o->ba_weight >= 0.0) || !isfinite(o->ba_weight))
        return dn_err_set(err, DN_EINVAL, "%s: ba_weight %g (finite and >= 0 wanted)", who,
                          o->ba_weight);
    return DN_OK;
}

int dn_threshold_tune(const double *score, const int8_t *label, int n,
                      const dn_threshold_opts_t *opts, double *threshold_out,
                      dn_err_t *err)
{
    const char *who = "threshold tuning";
    dn_threshold_opts_t o;
    double *wba = NULL, *grid = NULL;
    int rc = threshold_args(score, label, n, opts, who, &o, err);
    if (rc < 0)
        goto done;
    wba = malloc((size_t)o.n_grid * (size_t)o.n_boot * sizeof *wba);
    grid = malloc((size_t)o.n_grid * sizeof *grid);
    if (!wba || !grid) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory (%d runs, %d x %d)", who, n,
                        o.n_grid, o.n_boot);
        goto done;
    }
    int best;
    rc = bootstrap_grid(score, label, n, &o, who, grid, NULL, NULL, wba, &best, err);
    if (rc < 0)
        goto done;
    if (threshold_out)
        *threshold_out = grid[best];
done:
    free(wba);
    free(grid);
    return rc;
}

int dn_threshold_scan(const double *score, const int8_t *label, int n,
                      const dn_threshold_opts_t *opts, double q_lo, double q_hi, double *t,
                      double *sens, double *spec, double *wba, double *best, dn_err_t *err)
{
    const char *who = "threshold scan";
    dn_threshold_opts_t o;
    double *grid = NULL, *all = NULL, *column = NULL;
    int rc = threshold_args(score, label, n, opts, who, &o, err);
    if (rc < 0)
        goto done;
    if (!(q_lo >= 0.0 && q_lo <= 100.0) || !(q_hi >= 0.0 && q_hi <= 100.0)) {
        rc = dn_err_set(err, DN_EINVAL, "%s: percentiles %g, %g (0..100 wanted)", who, q_lo,
                        q_hi);
        goto done;
    }
    size_t cells = (size_t)o.n_grid * (size_t)o.n_boot;
    grid = malloc((size_t)o.n_grid * sizeof *grid);
    all = malloc(3 * cells * sizeof *all);
    column = malloc((size_t)o.n_boot * sizeof *column);
    if (!grid || !all || !column) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory (%d runs, %d x %d)", who, n,
                        o.n_grid, o.n_boot);
        goto done;
    }
    int k_best;
    rc = bootstrap_grid(score, label, n, &o, who, grid, all, all + cells, all + 2 * cells,
                        &k_best, err);
    if (rc < 0)
        goto done;
    if (t)
        memcpy(t, grid, (size_t)o.n_grid * sizeof *t);
    if (best)
        *best = grid[k_best];
    double *out[3] = {sens, spec, wba};
    /* The middle band is numpy.quantile's 0.5 (what the reference's figure draws),
     * which can differ from numpy.median in the last bit; *best uses the median. */
    const double q[3] = {q_lo, 50.0, q_hi};
    for (int a = 0; a < 3; a++) {
        if (!out[a])
            continue;
        for (int k = 0; k < o.n_grid; k++) {
            const double *row = all + (size_t)a * cells + (size_t)k * o.n_boot;
            int c = 0;
            for (int b = 0; b < o.n_boot; b++)
                if (!isnan(row[b]))
                    column[c++] = row[b];
            qsort(column, (size_t)c, sizeof *column, cmp_double);
            for (int j = 0; j < 3; j++)
                out[a][3 * k + j] = c > 0 ? percentile_sorted(column, c, q[j]) : NAN;
        }
    }
done:
    free(grid);
    free(all);
    free(column);
    return rc;
}

/* ---- bootstrap of the rates ---- */

int dn_rates_bootstrap(const double *score, const int8_t *label, int n, double threshold,
                       int n_boot, uint64_t seed, double q_lo, double q_hi,
                       double lo[DN_N_RATES], double hi[DN_N_RATES], dn_err_t *err)
{
    double *rate = NULL;
    int rc = DN_OK;
    if (n < 1 || n_boot < 1 || !score || !label) {
        rc = dn_err_set(err, DN_EINVAL, "rates bootstrap: %d runs, %d resamples", n, n_boot);
        goto done;
    }
    if (!(q_lo >= 0.0 && q_lo <= 100.0) || !(q_hi >= 0.0 && q_hi <= 100.0)) {
        rc = dn_err_set(err, DN_EINVAL, "rates bootstrap: percentiles %g, %g (0..100 wanted)",
                        q_lo, q_hi);
        goto done;
    }
    /* rate[r n_boot + b]: rate r of resample b; then one column sorted in place. */
    rate = malloc((size_t)DN_N_RATES * (size_t)n_boot * sizeof *rate);
    if (!rate) {
        rc = dn_err_set(err, DN_ENOMEM, "rates bootstrap: out of memory (%d resamples)",
                        n_boot);
        goto done;
    }
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    for (int b = 0; b < n_boot; b++) {
        int tp = 0, fn = 0, tn = 0, fp = 0;
        for (int r = 0; r < n; r++) {
            int i = (int)dn_rng_below(&rng, (uint64_t)n);
            if (skipped(score[i], label[i]))
                continue;
            int predicted_bad = score[i] > threshold;
            if (label[i] != 0) {
                tp += predicted_bad;
                fn += !predicted_bad;
            } else {
                fp += predicted_bad;
                tn += !predicted_bad;
            }
        }
        /* The same arithmetic as dn_classify. */
        double se, sp;
        double ba = balanced_accuracy(tp, fn, tn, fp, &se, &sp);
        int scored = tp + fn + tn + fp;
        rate[DN_RATE_BALANCED_ACCURACY * n_boot + b] = ba;
        rate[DN_RATE_ACCURACY * n_boot + b] =
            scored > 0 ? (double)(tp + tn) / (double)scored : NAN;
        rate[DN_RATE_SENSITIVITY * n_boot + b] = se;
        rate[DN_RATE_SPECIFICITY * n_boot + b] = sp;
        /* A resample with no scored run has no precision either. */
        rate[DN_RATE_PRECISION * n_boot + b] =
            scored == 0 ? NAN : tp + fp > 0 ? (double)tp / (double)(tp + fp) : 0.0;
    }
    for (int r = 0; r < DN_N_RATES; r++) {
        double *col = rate + (size_t)r * n_boot;
        int c = 0;
        for (int b = 0; b < n_boot; b++)
            if (!isnan(col[b]))
                col[c++] = col[b];
        qsort(col, (size_t)c, sizeof *col, cmp_double);
        lo[r] = c > 0 ? percentile_sorted(col, c, q_lo) : NAN;
        hi[r] = c > 0 ? percentile_sorted(col, c, q_hi) : NAN;
    }
done:
    free(rate);
    return rc;
}

/* ---- adaptivity ---- */

/* One change point's segment [c, end): walking its good runs (label 0, finite
 * score), a run at or below threshold adds to a streak, one above resets it;
 * the walk ends when the streak reaches patience. Returns the good runs walked
 * before that (SPEC 4's adaptation time at patience 1); *height the score
 * recovered from score[c]: to the run that ended the walk, or, when none did,
 * to the segment's last scored run whatever its label (the reference's loop
 * variable ends there). */
static int walk_segment(const double *score, const int8_t *label, int c, int end,
                        double threshold, int patience, double *height)
{
    int nsteps = 0, streak = 0;
    double last = NAN;
    for (int i = c; i < end; i++) {
        if (!isnan(score[i]))
            last = score[i];
        if (label[i] != 0 || isnan(score[i]))
            continue;
        streak = score[i] <= threshold ? streak + 1 : 0;
        if (streak >= patience) {
            *height = fabs(score[c] - score[i]);
            return nsteps;
        }
        nsteps++;
    }
    *height = fabs(score[c] - last);
    return nsteps;
}

int dn_adaptivity(const double *score, const int8_t *label, const uint8_t *change, int n,
                  int from, int to, double threshold, int patience, double *nsteps_out,
                  double *index_out, int *n_changes_out, dn_err_t *err)
{
    double *steps = NULL, *index = NULL;
    int rc = DN_OK, n_changes = 0;
    if (patience < 1) {
        rc = dn_err_set(err, DN_EINVAL, "adaptivity: patience %d (>= 1 wanted)", patience);
        goto done;
    }
    if (n < 0 || from < 0 || to > n || from > to) {
        rc = dn_err_set(err, DN_EINVAL, "adaptivity: change points in [%d, %d) of %d runs",
                        from, to, n);
        goto done;
    }
    for (int c = from; c < to; c++)
        n_changes += change[c] != 0;
    /* The means add like numpy's mean of the per-change-point lists. */
    steps = malloc((size_t)(n_changes > 0 ? n_changes : 1) * sizeof *steps);
    index = malloc((size_t)(n_changes > 0 ? n_changes : 1) * sizeof *index);
    if (!steps || !index) {
        rc = dn_err_set(err, DN_ENOMEM, "adaptivity: out of memory (%d change points)",
                        n_changes);
        goto done;
    }
    int k = 0;
    for (int c = from; c < to; c++) {
        if (!change[c])
            continue;
        /* The segment ends at the next change point of the list, or at n for the
         * last one, even when that is past `to` (the reference's quirk). */
        int end = c + 1;
        while (end < to && !change[end])
            end++;
        if (end >= to)
            end = n;
        double height;
        int nsteps = walk_segment(score, label, c, end, threshold, patience, &height);
        steps[k] = nsteps;
        index[k] = nsteps == 0 ? 0.0 : height / nsteps;
        k++;
    }
    if (nsteps_out)
        *nsteps_out = n_changes ? dn_pairwise_sum(steps, n_changes) / n_changes : NAN;
    if (index_out)
        *index_out = n_changes ? dn_pairwise_sum(index, n_changes) / n_changes : NAN;
    if (n_changes_out)
        *n_changes_out = n_changes;
done:
    free(steps);
    free(index);
    return rc;
}

/* ---- adaptation time ---- */

double dn_adaptation_time(const double *score, const int8_t *label, const uint8_t *change,
                          int n, int n_hist, double threshold, int *n_changes_out)
{
    int n_changes = 0;
    double total = 0.0;
    int start = n_hist > 0 ? n_hist : 0;
    for (int c = start; c < n; c++) {
        if (!change[c])
            continue;
        int end = c + 1;
        while (end < n && !change[end])
            end++;
        double height;
        total += walk_segment(score, label, c, end, threshold, 1, &height);
        n_changes++;
    }
    if (n_changes_out)
        *n_changes_out = n_changes;
    return n_changes ? total / n_changes : NAN;
}

/* ---- Jaccard distance ---- */

/* numpy.interp(x[nx], xp[np_], fp[np_]) into out[nx]; xp increasing. */
static void interp(double *out, const double *x, int nx, const double *xp, const double *fp,
                   int np_)
{
    for (int i = 0; i < nx; i++) {
        double v = x[i];
        if (v < xp[0]) {
            out[i] = fp[0];
            continue;
        }
        if (v > xp[np_ - 1]) {
            out[i] = fp[np_ - 1];
            continue;
        }
        /* largest j with xp[j] <= v */
        int lo = 0, hi = np_ - 1;
        while (lo < hi) {
            int mid = lo + (hi - lo + 1) / 2;
            if (xp[mid] <= v)
                lo = mid;
            else
                hi = mid - 1;
        }
        int j = lo;
        if (j == np_ - 1 || xp[j] == v) {
            out[i] = fp[j];
            continue;
        }
        double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
        double r = slope * (v - xp[j]) + fp[j];
        if (isnan(r))
            r = slope * (v - xp[j + 1]) + fp[j + 1];
        out[i] = r;
    }
}

static int row_has_nan(const double *v, int n)
{
    for (int j = 0; j < n; j++)
        if (isnan(v[j]))
            return 1;
    return 0;
}

int dn_jaccard_bands(const double *xt, const double *ref_mu, const double *ref_sigma,
                     const double *true_mu, const double *true_sigma, const int8_t *label,
                     int n, int from, int to, const double *centres, int n_bins, double *bands,
                     double *jd_out, dn_err_t *err)
{
    double *tx = NULL, *tm = NULL, *ts = NULL, *work = NULL;
    int rc = DN_OK;
    if (n_bins < 1 || n < 0) {
        rc = dn_err_set(err, DN_EINVAL, "Jaccard distance: %d runs of %d bins", n, n_bins);
        goto done;
    }
    if (from < 0 || to > n || from > to) {
        rc = dn_err_set(err, DN_EINVAL, "Jaccard distance: runs [%d, %d) of %d", from, to, n);
        goto done;
    }
    int m = 0;
    for (int i = from; i < to; i++) {
        size_t off = (size_t)i * n_bins;
        if (label[i] != 0 || row_has_nan(xt + off, n_bins) ||
            row_has_nan(ref_mu + off, n_bins) || row_has_nan(ref_sigma + off, n_bins))
            continue;
        if (!(true_sigma[i] > 0.0) || !isfinite(true_mu[i])) {
            rc = dn_err_set(err, DN_EINVAL, "Jaccard distance: run %d: true sigma %g, mu %g",
                            i, true_sigma[i], true_mu[i]);
            goto done;
        }
        m++;
    }
    if (m == 0) {
        rc = dn_err_set(err, DN_EINVAL,
                        "Jaccard distance: no good non-empty run in [%d, %d) of %d", from, to,
                        n);
        goto done;
    }
    size_t cells = (size_t)m * n_bins;
    tx = malloc(cells * sizeof *tx);
    tm = malloc(cells * sizeof *tm);
    ts = malloc(cells * sizeof *ts);
    /* z[n_bins], p[n_bins], one column [m], and the band arrays (6 x n_bins). */
    work = malloc(((size_t)m + 8 * (size_t)n_bins) * sizeof *work);
    if (!tx || !tm || !ts || !work) {
        rc = dn_err_set(err, DN_ENOMEM, "Jaccard distance: out of memory for %d x %d", m,
                        n_bins);
        goto done;
    }
    double *z = work, *p = z + n_bins, *column = p + n_bins;
    double *true_mid = column + m, *true_half = true_mid + n_bins;
    double *pred_mid = true_half + n_bins, *pred_half = pred_mid + n_bins;
    double *overlap = pred_half + n_bins, *uni = overlap + n_bins;
    int r = 0;
    for (int i = from; i < to; i++) {
        size_t off = (size_t)i * n_bins;
        if (label[i] != 0 || row_has_nan(xt + off, n_bins) ||
            row_has_nan(ref_mu + off, n_bins) || row_has_nan(ref_sigma + off, n_bins))
            continue;
        double mu = true_mu[i], sigma = true_sigma[i];
        for (int j = 0; j < n_bins; j++)
            z[j] = (centres[j] - mu) / sigma;
        const double *src[3] = {xt + off, ref_mu + off, ref_sigma + off};
        double *dst[3] = {tx, tm, ts};
        for (int a = 0; a < 3; a++) {
            for (int j = 0; j < n_bins; j++)
                p[j] = src[a][j] * sigma;
            interp(dst[a] + (size_t)r * n_bins, centres, n_bins, z, p, n_bins);
        }
        r++;
    }
    for (int j = 0; j < n_bins; j++) {
        /* numpy axis-0 reductions add row by row. */
        double sum = 0.0, sum_sig = 0.0;
        for (int k = 0; k < m; k++) {
            sum += tx[(size_t)k * n_bins + j];
            sum_sig += ts[(size_t)k * n_bins + j];
        }
        double mean = sum / m;
        double ss = 0.0;
        for (int k = 0; k < m; k++) {
            double d = tx[(size_t)k * n_bins + j] - mean;
            ss += d * d;
        }
        true_half[j] = sqrt(ss / m);
        pred_half[j] = sum_sig / m;
        for (int k = 0; k < m; k++)
            column[k] = tx[(size_t)k * n_bins + j];
        true_mid[j] = median_sorted_inplace(column, m);
        for (int k = 0; k < m; k++)
            column[k] = tm[(size_t)k * n_bins + j];
        pred_mid[j] = median_sorted_inplace(column, m);
    }
    for (int j = 0; j < n_bins; j++) {
        double tlo = true_mid[j] - true_half[j], thi = true_mid[j] + true_half[j];
        double plo = pred_mid[j] - pred_half[j], phi = pred_mid[j] + pred_half[j];
        double ov = fmin(thi, phi) - fmax(tlo, plo);
        overlap[j] = ov > 0.0 ? ov : 0.0;
        uni[j] = fmax(thi, phi) - fmin(tlo, plo);
    }
    double so = dn_pairwise_sum(overlap, n_bins), su = dn_pairwise_sum(uni, n_bins);
    /* Two empty bands: the reference calls them distance 1. */
    if (jd_out)
        *jd_out = su == 0.0 ? 1.0 : 1.0 - so / su;
    if (bands) {
        memcpy(bands, true_mid, (size_t)n_bins * sizeof *bands);
        memcpy(bands + n_bins, true_half, (size_t)n_bins * sizeof *bands);
        memcpy(bands + 2 * (size_t)n_bins, pred_mid, (size_t)n_bins * sizeof *bands);
        memcpy(bands + 3 * (size_t)n_bins, pred_half, (size_t)n_bins * sizeof *bands);
    }
done:
    free(tx);
    free(tm);
    free(ts);
    free(work);
    return rc;
}

int dn_jaccard_distance(const double *xt, const double *ref_mu, const double *ref_sigma,
                        const double *true_mu, const double *true_sigma,
                        const int8_t *label, int n, int n_hist, const double *centres,
                        int n_bins, double *jd_out, dn_err_t *err)
{
    /* The continual regime; n_hist outside [0, n] clamps (n_hist > n leaves no run). */
    int from = n_hist > 0 ? n_hist : 0;
    if (n >= 0 && from > n)
        from = n;
    return dn_jaccard_bands(xt, ref_mu, ref_sigma, true_mu, true_sigma, label, n, from,
                            n > 0 ? n : 0, centres, n_bins, NULL, jd_out, err);
}

/* ---- percentiles ---- */

/* Copies the non-NaN values of v into a new array, sorted; returns their count
 * (or -1 when memory runs out). */
static int sorted_copy(const double *v, int n, double **out)
{
    double *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    if (!c)
        return -1;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            c[m++] = v[i];
    qsort(c, (size_t)m, sizeof *c, cmp_double);
    *out = c;
    return m;
}

double dn_percentile(const double *v, int n, double q)
{
    if (!(q >= 0.0 && q <= 100.0))
        return NAN;
    double *c;
    int m = sorted_copy(v, n, &c);
    if (m < 0)
        return NAN;
    double result = NAN;
    if (m > 0)
        result = percentile_sorted(c, m, q);
    free(c);
    return result;
}

double dn_median(const double *v, int n)
{
    double *c;
    int m = sorted_copy(v, n, &c);
    if (m < 0)
        return NAN;
    double result = NAN;
    if (m > 0)
        result = m % 2 ? c[m / 2] : (c[m / 2 - 1] + c[m / 2]) / 2.0;
    free(c);
    return result;
}
