/* eda.c: the numbers behind the dataset figures (eda.h).
 *
 * The uncertainty visualisation follows the reference's arithmetic operation
 * for operation, so that its numbers match to rounding (test_eda: 1e-12
 * relative against the reference's own functions): the density of a run is
 * counts / (entries * dz) * dc with dz the first step of the transformed
 * centres and dc the first step of the centres, the interpolation is
 * numpy.interp's (slope times offset plus the left value, the node value at a
 * node), and the per-bin sums over runs run in run order as numpy's reduction
 * along the first axis does. */
#include "eda.h"

#include <math.h>
#include <stdlib.h>

int dn_eda_classes(const int8_t *label, int n, dn_eda_classes_t *out, dn_err_t *err)
{
    if (!out || n < 0 || (n > 0 && !label))
        return dn_err_set(err, DN_EINVAL, "class counts: %d runs or missing arrays", n);
    *out = (dn_eda_classes_t){0, 0, 0};
    for (int i = 0; i < n; i++) {
        if (label[i] == 0)
            out->good++;
        else if (label[i] == 1)
            out->bad++;
        else
            out->unlabelled++;
    }
    return DN_OK;
}

int dn_eda_run_stats(const double *entries, const int8_t *label, int n, dn_eda_stats_t *out,
                     dn_err_t *err)
{
    if (!out || !entries || !label || n < 1)
        return dn_err_set(err, DN_EINVAL, "run statistics: %d runs or missing arrays", n);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(entries[i]) || entries[i] < 0)
            return dn_err_set(err, DN_EINVAL, "run statistics: run %d has %g entries", i,
                              entries[i]);
        lo = fmin(lo, entries[i]);
        hi = fmax(hi, entries[i]);
    }
    /* the reference's entries are integers; its step is an integer division */
    double step = floor((hi - lo) / 50);
    if (step < 1)
        step = 1;
    int ne = 0;
    for (double e = lo; e < hi + 1 && ne < DN_EDA_STAT_EDGES_MAX; e = lo + step * ne)
        out->edges[ne++] = e;
    if (ne < 2) /* one edge (all runs alike): a bin of width 1 holds them */
        out->edges[ne++] = lo + step;
    out->n_bins = ne - 1;
    out->min_entries = lo;
    out->max_entries = hi;
    for (int c = 0; c < 3; c++)
        for (int b = 0; b < DN_EDA_STAT_EDGES_MAX; b++)
            out->count[c][b] = 0;
    const double *e = out->edges;
    const int nb = out->n_bins;
    for (int i = 0; i < n; i++) {
        double x = entries[i];
        if (x < e[0] || x > e[nb])
            continue;
        int a = 0, z = nb; /* the last edge <= x, by bisection; x == e[nb]: last bin */
        while (z - a > 1) {
            int m = (a + z) / 2;
            if (e[m] <= x)
                a = m;
            else
                z = m;
        }
        int c = label[i] == 0 ? 0 : label[i] == 1 ? 1 : 2;
        out->count[c][a]++;
    }
    return DN_OK;
}

void dn_eda_entries(const dn_dataset_t *ds, double *entries)
{
    for (int i = 0; i < ds->n_runs; i++) {
        const double *row = dn_dataset_row(ds, i);
        double s = 0;
        for (int j = 0; j < ds->n_bins; j++)
            s += row[j];
        entries[i] = s;
    }
}

/* numpy.interp(x, xp, fp) at one x, xp increasing (n >= 2). */
static double interp(double x, const double *xp, const double *fp, int n)
{
    if (!(x >= xp[0]))
        return isnan(x) ? x : fp[0];
    if (x >= xp[n - 1])
        return fp[n - 1];
    int a = 0, z = n - 1;
    while (z - a > 1) {
        int m = (a + z) / 2;
        if (xp[m] <= x)
            a = m;
        else
            z = m;
    }
    if (x == xp[a])
        return fp[a];
    const double slope = (fp[a + 1] - fp[a]) / (xp[a + 1] - xp[a]);
    double r = slope * (x - xp[a]) + fp[a];
    if (isnan(r)) /* numpy's second try from the right node */
        r = slope * (x - xp[a + 1]) + fp[a + 1];
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int dn_eda_unc_vis(const dn_dataset_t *ds, double *centers, double *median,
                   double *full_sigma, double *stat_sigma, int *n_good, dn_err_t *err)
{
    if (!ds || !centers || !median || !full_sigma || !stat_sigma || !n_good)
        return dn_err_set(err, DN_EINVAL, "uncertainty visualisation: missing arrays");
    if (!ds->true_mu || !ds->true_sigma)
        return dn_err_set(err, DN_EINVAL, "uncertainty visualisation: the dataset has no "
                          "truth (mu and sigma of each run)");
    if (ds->n_bins_y > 0)
        return dn_err_set(err, DN_EINVAL, "uncertainty visualisation: a 2-D histogram");
    if (!ds->edges_known)
        return dn_err_set(err, DN_EINVAL, "uncertainty visualisation: bin edges unknown "
                          "(the z-score needs x)");
    const int nb = ds->n_bins, n = ds->n_runs;
    if (nb < 2)
        return dn_err_set(err, DN_EINVAL, "uncertainty visualisation: %d bin: needs 2", nb);
    for (int j = 0; j < nb; j++)
        centers[j] = (ds->edges[j + 1] + ds->edges[j]) / 2;
    int m = 0;
    double sum_entries = 0;
    for (int i = 0; i < n; i++) {
        if (ds->label[i] != 0)
            continue;
        if (!isfinite(ds->true_mu[i]) || !(ds->true_sigma[i] > 0) ||
            !isfinite(ds->true_sigma[i]))
            return dn_err_set(err, DN_EINVAL, "uncertainty visualisation: run %lld has mu %g, "
                              "sigma %g", (long long)ds->run[i], ds->true_mu[i],
                              ds->true_sigma[i]);
    }
    double *pdf = NULL, *z = malloc(sizeof(double) * 2 * (size_t)nb), *est = z ? z + nb : NULL;
    int rc = DN_OK;
    for (int pass = 0; pass < 2 && z; pass++) {
        /* pass 0 counts the good runs with entries; pass 1 fills their rows */
        if (pass == 1 && !(pdf = malloc(sizeof(double) * (size_t)m * (size_t)nb)))
            break;
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (ds->label[i] != 0)
                continue;
            const double *x = dn_dataset_row(ds, i);
            double entries = 0;
            for (int j = 0; j < nb; j++)
                entries += x[j];
            if (!(entries > 0))
                continue;
            if (pass == 0) {
                m++;
                sum_entries += entries;
                continue;
            }
            const double mu = ds->true_mu[i], sg = ds->true_sigma[i];
            for (int j = 0; j < nb; j++)
                z[j] = (centers[j] - mu) / sg;
            const double dz = z[1] - z[0], dc = centers[1] - centers[0];
            for (int j = 0; j < nb; j++)
                est[j] = x[j] / (entries * dz) * dc;
            double *row = pdf + (size_t)k * nb;
            for (int j = 0; j < nb; j++)
                row[j] = interp(centers[j], z, est, nb);
            k++;
        }
        if (pass == 0 && m == 0) {
            rc = dn_err_set(err, DN_EINVAL, "uncertainty visualisation: no good run with "
                            "entries");
            goto fail;
        }
    }
    if (!z || !pdf) {
        rc = dn_err_set(err, DN_ENOMEM, "uncertainty visualisation: out of memory for %d runs",
                        m);
        goto fail;
    }
    const double mean_entries = sum_entries / m;
    for (int j = 0; j < nb; j++) {
        double mean = 0;
        for (int k = 0; k < m; k++)
            mean += pdf[(size_t)k * nb + j];
        mean /= m;
        double ss = 0;
        for (int k = 0; k < m; k++) {
            const double d = pdf[(size_t)k * nb + j] - mean;
            ss += d * d;
        }
        full_sigma[j] = sqrt(ss / m);
    }
    /* the median sorts a copy of each column: the rows stay as they are */
    double *col = malloc(sizeof(double) * (size_t)m);
    if (!col) {
        rc = dn_err_set(err, DN_ENOMEM, "uncertainty visualisation: out of memory");
        goto fail;
    }
    for (int j = 0; j < nb; j++) {
        for (int k = 0; k < m; k++)
            col[k] = pdf[(size_t)k * nb + j];
        qsort(col, (size_t)m, sizeof *col, cmp_double);
        median[j] = m % 2 ? col[m / 2] : (col[m / 2 - 1] + col[m / 2]) / 2;
        stat_sigma[j] = sqrt(median[j] / mean_entries);
    }
    free(col);
    *n_good = m;
fail:
    free(pdf);
    free(z);
    return rc;
}
