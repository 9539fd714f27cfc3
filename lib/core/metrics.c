/* metrics.c: ROC AUC, classification rates, bootstrap threshold tuning,
 * adaptation time, Jaccard distance of uncertainty bands, numpy percentiles
 * (see metrics.h, SPEC 4).
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

int dn_threshold_tune(const double *score, const int8_t *label, int n,
                      const dn_threshold_opts_t *opts, double *threshold_out,
                      dn_err_t *err)
{
    dn_threshold_opts_t o;
    scored_t *sorted = NULL;
    int32_t *count = NULL;
    double *ba = NULL, *grid = NULL, *column = NULL;
    int rc = DN_OK;
    if (opts)
        o = *opts;
    else
        dn_threshold_opts_default(&o);
    if (n < 1 || !score || !label) {
        rc = dn_err_set(err, DN_EINVAL, "threshold tuning: %d runs", n);
        goto done;
    }
    if (o.n_grid < 1 || o.n_boot < 1 || !isfinite(o.lo) || !isfinite(o.hi) || o.lo > o.hi) {
        rc = dn_err_set(err, DN_EINVAL,
                        "threshold tuning: bad options (grid %d on [%g, %g], %d resamples)",
                        o.n_grid, o.lo, o.hi, o.n_boot);
        goto done;
    }
    sorted = malloc((size_t)n * sizeof *sorted);
    count = malloc((size_t)n * sizeof *count);
    ba = malloc((size_t)o.n_grid * (size_t)o.n_boot * sizeof *ba);
    grid = malloc((size_t)o.n_grid * sizeof *grid);
    column = malloc((size_t)o.n_boot * sizeof *column);
    if (!sorted || !count || !ba || !grid || !column) {
        rc = dn_err_set(err, DN_ENOMEM, "threshold tuning: out of memory (%d runs, %d x %d)",
                        n, o.n_grid, o.n_boot);
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
        rc = dn_err_set(err, DN_EINVAL,
                        "threshold tuning: none of the %d runs has a label and a score", n);
        goto done;
    }
    qsort(sorted, (size_t)m, sizeof *sorted, cmp_scored);

    /* numpy.linspace: k * step + lo, the last point exactly hi. */
    if (o.n_grid == 1) {
        grid[0] = o.lo;
    } else {
        double step = (o.hi - o.lo) / (double)(o.n_grid - 1);
        for (int k = 0; k < o.n_grid; k++)
            grid[k] = (double)k * step + o.lo;
        grid[o.n_grid - 1] = o.hi;
    }

    dn_rng_t rng;
    dn_rng_seed(&rng, o.seed);
    for (int b = 0; b < o.n_boot; b++) {
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
        for (int k = 0; k < o.n_grid; k++) {
            double t = grid[k];
            while (p < m && sorted[p].score <= t) {
                int c = count[sorted[p].index];
                if (sorted[p].label)
                    fn += c;
                else
                    tn += c;
                p++;
            }
            ba[(size_t)k * o.n_boot + b] =
                balanced_accuracy(n_pos - fn, fn, tn, n_neg - tn, NULL, NULL);
        }
    }

    int best = -1;
    double best_median = -INFINITY;
    for (int k = 0; k < o.n_grid; k++) {
        const double *row = ba + (size_t)k * o.n_boot;
        int c = 0;
        for (int b = 0; b < o.n_boot; b++)
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
        rc = dn_err_set(err, DN_EINVAL, "threshold tuning: no resample drew a scored run");
        goto done;
    }
    if (threshold_out)
        *threshold_out = grid[best];
done:
    free(sorted);
    free(count);
    free(ba);
    free(grid);
    free(column);
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
        int misclassified = 0;
        for (int i = c; i < end; i++) {
            if (label[i] != 0 || isnan(score[i]))
                continue;
            if (score[i] > threshold)
                misclassified++;
            else
                break;
        }
        total += misclassified;
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

int dn_jaccard_distance(const double *xt, const double *ref_mu, const double *ref_sigma,
                        const double *true_mu, const double *true_sigma,
                        const int8_t *label, int n, int n_hist, const double *centres,
                        int n_bins, double *jd_out, dn_err_t *err)
{
    double *tx = NULL, *tm = NULL, *ts = NULL, *work = NULL;
    int rc = DN_OK;
    if (n_bins < 1 || n < 0) {
        rc = dn_err_set(err, DN_EINVAL, "Jaccard distance: %d runs of %d bins", n, n_bins);
        goto done;
    }
    int m = 0;
    for (int i = n_hist > 0 ? n_hist : 0; i < n; i++) {
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
                        "Jaccard distance: no good non-empty run at index >= %d of %d", n_hist,
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
    for (int i = n_hist > 0 ? n_hist : 0; i < n; i++) {
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
    if (jd_out)
        *jd_out = 1.0 - so / su;
done:
    free(tx);
    free(tm);
    free(ts);
    free(work);
    return rc;
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
    if (m > 0) {
        /* numpy 'linear': virtual index (n-1) q, then _lerp. */
        double vi = (double)(m - 1) * (q / 100.0);
        double prev = floor(vi);
        int i0 = (int)prev, i1 = i0 + 1;
        if (vi >= m - 1) {
            i0 = i1 = m - 1;
        }
        double t = vi - prev, a = c[i0], b = c[i1];
        double diff = b - a;
        result = t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
    }
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
