/* histo.c: validation, normalisation and chi2 of one histogram (see histo.h).
 *
 * Sums follow numpy's pairwise summation (8 accumulators over blocks of up to
 * 128 values, halves above that), so a sum over a contiguous row rounds exactly
 * like the Python reference's `x.sum()`, and the 8 independent accumulators are
 * what lets the compiler vectorise the loop without reassociating anything.
 *
 * Invariant: nothing here allocates or keeps state; the chi2 kernel works through
 * the bins in chunks of DN_HIST_CHUNK on the stack. */
#include "histo.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

/* numpy's pairwise_sum for n <= 128, also returning the minimum of a[0..n). */
static double pairwise_block_min(const double *a, int n, double *min_out)
{
    double mn = INFINITY;
    if (n < 8) {
        double res = 0.0;
        for (int i = 0; i < n; i++) {
            res += a[i];
            mn = a[i] < mn ? a[i] : mn;
        }
        *min_out = mn;
        return res;
    }
    double r[8], m[8];
    for (int k = 0; k < 8; k++) {
        r[k] = a[k];
        m[k] = a[k];
    }
    int i;
    for (i = 8; i < n - (n % 8); i += 8) {
        for (int k = 0; k < 8; k++) {
            r[k] += a[i + k];
            m[k] = a[i + k] < m[k] ? a[i + k] : m[k];
        }
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (int k = 0; k < 8; k++)
        mn = m[k] < mn ? m[k] : mn;
    for (; i < n; i++) {
        res += a[i];
        mn = a[i] < mn ? a[i] : mn;
    }
    *min_out = mn;
    return res;
}

static double pairwise_min(const double *a, int n, double *min_out)
{
    if (n <= 128)
        return pairwise_block_min(a, n, min_out);
    int n2 = n / 2;
    n2 -= n2 % 8;
    double m1, m2;
    double s = pairwise_min(a, n2, &m1) + pairwise_min(a + n2, n - n2, &m2);
    *min_out = m1 < m2 ? m1 : m2;
    return s;
}

double dn_pairwise_sum(const double *a, int n)
{
    double mn;
    return pairwise_min(a, n, &mn);
}

double dn_hist_sum_checked(const double *x, int n_bins, int *bad)
{
    double mn = 0.0;
    double s = n_bins > 0 ? pairwise_min(x, n_bins, &mn) : 0.0;
    /* NaN anywhere makes the sum NaN, an infinity makes it infinite; a negative
     * value shows in the minimum. */
    *bad = !(mn >= 0.0) || !(s <= DBL_MAX);
    return s;
}

static int check_values(const double *v, int n, const char *what, dn_err_t *err)
{
    for (int j = 0; j < n; j++) {
        double a = v[j];
        if (isnan(a))
            return dn_err_set(err, DN_ERANGE, "bin %d: NaN %s", j, what);
        if (isinf(a))
            return dn_err_set(err, DN_ERANGE, "bin %d: infinite %s", j, what);
        if (a < 0.0)
            return dn_err_set(err, DN_ERANGE, "bin %d: negative %s %.17g", j, what, a);
    }
    return DN_OK;
}

int dn_hist_check(const double *x, const double *var, int n_bins, dn_err_t *err)
{
    int rc = check_values(x, n_bins, "count", err);
    if (rc == DN_OK && var)
        rc = check_values(var, n_bins, "variance", err);
    return rc;
}

int dn_hist_explain_bad(const double *x, const double *var, int n_bins, dn_err_t *err)
{
    int rc = dn_hist_check(x, var, n_bins, err);
    if (rc != DN_OK)
        return rc;
    /* Every value is finite and non-negative, so only the sum can be at fault. */
    return dn_err_set(err, DN_ERANGE, "counts sum to infinity (%d bins)", n_bins);
}

/* One bin of the Poisson rule; shared by the 8-wide blocks and the tail so that
 * both round identically. x * (1/I) instead of x / I costs at most an ulp and
 * saves two divisions per bin. */
static inline double poisson_var(double t, double inv, double empty_var)
{
    double v = t * inv - (t * t) * inv;
    return t == 0.0 ? empty_var : v;
}

void dn_hist_normalise_with_sum(double *restrict xt, double *restrict sx2,
                                const double *restrict x, const double *restrict var,
                                double sum, int n_bins)
{
    const double inv = 1.0 / sum;
    const double empty_var = inv * inv;
    int j = 0;
    if (!var) {
        /* Fixed 8-wide inner loops are what -O2 vectorises. */
        for (; j + 8 <= n_bins; j += 8) {
            for (int k = 0; k < 8; k++) {
                double t = x[j + k] * inv;
                xt[j + k] = t;
                sx2[j + k] = poisson_var(t, inv, empty_var);
            }
        }
        for (; j < n_bins; j++) {
            double t = x[j] * inv;
            xt[j] = t;
            sx2[j] = poisson_var(t, inv, empty_var);
        }
    } else {
        for (; j < n_bins; j++) {
            xt[j] = x[j] * inv;
            double v = var[j] * inv * inv;
            sx2[j] = (var[j] == 0.0 && x[j] == 0.0) ? empty_var : v;
        }
    }
}

double dn_hist_normalise(double *xt, double *sx2, const double *x, const double *var,
                         int n_bins)
{
    int bad;
    double sum = dn_hist_sum_checked(x, n_bins, &bad);
    if (sum > DN_EPS)
        dn_hist_normalise_with_sum(xt, sx2, x, var, sum, n_bins);
    return sum;
}

double dn_hist_chi2(double *pulls, const double *xt, const double *sx2, const double *mu,
                    const double *sigma_mu, int n_bins)
{
    double terms[DN_HIST_CHUNK];
    double chi2 = 0.0;
    for (int c = 0; c < n_bins; c += DN_HIST_CHUNK) {
        int n = n_bins - c < DN_HIST_CHUNK ? n_bins - c : DN_HIST_CHUNK;
        const double *t = xt + c, *v = sx2 + c, *m = mu + c, *s = sigma_mu + c;
        for (int j = 0; j < n; j++) {
            double d = t[j] - m[j];
            terms[j] = d * d / (v[j] + s[j] * s[j]);
        }
        if (pulls) {
            for (int j = 0; j < n; j++)
                pulls[c + j] = (t[j] - m[j]) / sqrt(v[j] + s[j] * s[j]);
        }
        chi2 += dn_pairwise_sum(terms, n);
    }
    return chi2;
}

double dn_score_from_chi2(double chi2, int n_bins)
{
    return log(chi2 / n_bins);
}

int dn_hist_insufficient(double sum, double min_entries, dn_err_t *err)
{
    if (!(sum > DN_EPS))
        return dn_err_set(err, DN_EEMPTY, "histogram sum %.17g <= %g: insufficient statistics",
                          sum, DN_EPS);
    if (sum < min_entries)
        return dn_err_set(err, DN_EEMPTY, "%.17g entries, fewer than the minimum %g: "
                          "insufficient statistics", sum, min_entries);
    return DN_OK;
}

int dn_hist_bin_name(char *buf, size_t cap, int bin, int n_bins, int ny, const double *edges,
                     const double *edges_y)
{
    if (ny <= 0 || n_bins % ny)
        return snprintf(buf, cap, "b%d", bin);
    int ix = bin / ny, iy = bin % ny;
    if (!edges || !edges_y)
        return snprintf(buf, cap, "bin (%d,%d)", ix, iy);
    return snprintf(buf, cap, "bin (%d,%d) at (%.4g, %.4g)", ix, iy,
                    0.5 * (edges[ix] + edges[ix + 1]), 0.5 * (edges_y[iy] + edges_y[iy + 1]));
}

int dn_hist_binning_name(char *buf, size_t cap, int n_bins, int ny)
{
    if (ny <= 0)
        return snprintf(buf, cap, "%d bins", n_bins);
    if (n_bins % ny)
        return snprintf(buf, cap, "%d bins in rows of %d", n_bins, ny);
    return snprintf(buf, cap, "%dx%d bins (2-D)", n_bins / ny, ny);
}

void dn_hist_worst_bins(char *buf, size_t cap, const double *pulls, int n_bins, int n_worst,
                        int ny, const double *edges, const double *edges_y)
{
    if (!cap)
        return;
    buf[0] = '\0';
    size_t len = 0;
    int prev = -1; /* pulls are ranked by (|pull| descending, index ascending) */
    double prev_abs = INFINITY;
    for (int w = 0; w < n_worst; w++) {
        int best = -1;
        for (int i = 0; i < n_bins; i++) {
            double a = fabs(pulls[i]);
            if (!isfinite(a) || a > prev_abs || (a == prev_abs && i <= prev))
                continue; /* taken already */
            if (best < 0 || a > fabs(pulls[best]))
                best = i;
        }
        if (best < 0)
            break;
        char name[96];
        dn_hist_bin_name(name, sizeof name, best, n_bins, ny, edges, edges_y);
        int n = snprintf(buf + len, cap - len, "%s%s:%+.1f", w ? (ny > 0 ? "; " : " ") : "",
                         name, pulls[best]);
        if (n < 0 || (size_t)n >= cap - len) {
            buf[len] = '\0';
            break;
        }
        len += (size_t)n;
        prev = best;
        prev_abs = fabs(pulls[best]);
    }
}
