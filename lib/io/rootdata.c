/* rootdata.c: datasets and references written as ROOT files (rootdata.h).
 *
 * Everything goes through rootwrite.h: a dn_root_hist_t is built from a
 * flattened monitored row (cells at dn_root_hist_cell(ix + 1, iy + 1), flow
 * bins zero), then added to a writer. The bins are copied as they are, so
 * what a reader gets back (ours, JSROOT, ROOT) is the same doubles. */
#include "rootdata.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "histo.h"
#include "runin.h"

void dn_root_binning_of(const dn_dataset_t *ds, dn_root_binning_t *b)
{
    b->n_bins = ds->n_bins;
    b->n_bins_y = ds->n_bins_y > 0 ? ds->n_bins_y : 0;
    b->edges = ds->edges;
    b->edges_y = b->n_bins_y ? ds->edges_y : NULL;
}

void dn_root_run_name(char *buf, size_t cap, int64_t run)
{
    snprintf(buf, cap, "run_%06" PRId64, run);
}

/* ROOT's running sums from the monitored bins (what TH1::Fill would have
 * accumulated with the bins' centres as x and y, and the variances as sums
 * of squared weights). */
static void running_sums(dn_root_hist_t *h, int nx, int ny, const double *values,
                         const double *variances)
{
    const double *ex = h->axis[0].edges, *ey = ny ? h->axis[1].edges : NULL;
    for (int ix = 0; ix < nx; ix++) {
        double x = 0.5 * (ex[ix] + ex[ix + 1]);
        for (int iy = 0; iy < (ny ? ny : 1); iy++) {
            int at = ny ? ix * ny + iy : ix;
            double w = values[at], w2 = variances ? variances[at] : values[at];
            h->tsumw += w;
            h->tsumw2 += w2;
            h->tsumwx += w * x;
            h->tsumwx2 += w * x * x;
            if (ny) {
                double y = 0.5 * (ey[iy] + ey[iy + 1]);
                h->tsumwy += w * y;
                h->tsumwy2 += w * y * y;
                h->tsumwxy += w * x * y;
            }
        }
    }
}

int dn_root_hist_from_flat(const dn_root_binning_t *b, const char *name, const char *title,
                           const double *values, const double *variances, double entries,
                           dn_root_hist_t **out, dn_err_t *err)
{
    *out = NULL;
    const int ny = b->n_bins_y;
    if (b->n_bins < 1 || ny < 0 || (ny && (b->n_bins % ny || !b->edges_y)) || !b->edges)
        return dn_err_set(err, DN_EINVAL, "histogram \"%s\": %d bins (%d of y) cannot be a "
                          "ROOT histogram", name, b->n_bins, ny);
    const int nx = ny ? b->n_bins / ny : b->n_bins;
    dn_root_hist_t *h = dn_root_hist_new(ny ? 2 : 1, name, title, nx, b->edges, ny, b->edges_y,
                                         variances != NULL);
    if (!h)
        return dn_err_set(err, DN_EINVAL, "histogram \"%s\": %d x %d bins with these edges "
                          "cannot be a ROOT histogram (edges not finite and increasing, or too "
                          "many bins), or out of memory", name, nx, ny);
    for (int ix = 0; ix < nx; ix++)
        for (int iy = 0; iy < (ny ? ny : 1); iy++) {
            int at = ny ? ix * ny + iy : ix, cell = dn_root_hist_cell(h, ix + 1, iy + 1);
            h->values[cell] = values[at];
            if (variances)
                h->variances[cell] = variances[at];
        }
    h->entries = entries;
    running_sums(h, nx, ny, values, variances);
    *out = h;
    return DN_OK;
}

/* ---- a dataset, one file per run ----------------------------------------------------- */

/* Splits key into its directory (dir, "" for none) and name: the last '/'.
 * Refuses what the writer would (empty parts, ';'), before anything is
 * written. */
static int split_key(const char *key, char *dir, size_t cap, const char **name, dn_err_t *err)
{
    const char *slash = strrchr(key, '/');
    size_t dl = slash ? (size_t)(slash - key) : 0;
    if (!key[0] || dl >= cap || key[0] == '/' || key[strlen(key) - 1] == '/' ||
        strstr(key, "//") || strchr(key, ';'))
        return dn_err_set(err, DN_EINVAL, "key \"%s\" cannot name a ROOT histogram (empty "
                          "parts or ';' in it)", key);
    memcpy(dir, key, dl);
    dir[dl] = '\0';
    *name = slash ? slash + 1 : key;
    return DN_OK;
}

static int write_run_file(const dn_dataset_t *ds, int i, const char *path, const char *key,
                          const char *hdir, const char *hname, const dn_root_binning_t *bin,
                          dn_err_t *err)
{
    const double *row = dn_dataset_row(ds, i);
    const double *var = ds->variances ? ds->variances + (size_t)i * (size_t)ds->n_bins : NULL;
    double entries = 0;
    for (int j = 0; j < ds->n_bins; j++)
        entries += row[j];
    dn_root_hist_t *h = NULL;
    dn_root_writer_t *w = NULL;
    dn_root_write_opts_t o = {.compression = 101, .time = DN_ROOTDATA_TIME, .unsynced = 1};
    int rc = dn_root_hist_from_flat(bin, hname, key, row, var, entries, &h, err);
    if (!rc)
        rc = dn_root_writer_open(path, &o, &w, err);
    if (!rc)
        rc = dn_root_writer_add(w, hdir, h, err);
    if (!rc)
        rc = dn_root_writer_close(&w, err);
    dn_root_writer_abort(&w);
    dn_root_hist_destroy(&h);
    return rc;
}

/* 1 when run is one of ds's (run numbers increase). */
static int has_run(const dn_dataset_t *ds, int64_t run)
{
    int lo = 0, hi = ds->n_runs;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (ds->run[mid] < run)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ds->n_runs && ds->run[lo] == run;
}

/* Removes dir's run files (named exactly as this module names run N) that
 * are not runs of ds. */
static int remove_stale(const dn_dataset_t *ds, const char *dir, dn_err_t *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return dn_err_set(err, DN_EIO, "%s: %s", dir, strerror(errno));
    int rc = DN_OK;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        int64_t run;
        char ours[48];
        if (strncmp(e->d_name, "run_", 4) || dn_run_number_from_name(e->d_name, &run))
            continue;
        dn_root_run_name(ours, sizeof ours - 5, run);
        strcat(ours, ".root");
        if (strcmp(e->d_name, ours) || has_run(ds, run))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) && errno != ENOENT)
            rc = dn_err_set(err, DN_EIO, "cannot remove stale %s: %s", path, strerror(errno));
    }
    closedir(d);
    return rc;
}

int dn_dataset_write_root_dir(const dn_dataset_t *ds, const char *dir, const char *key,
                              dn_err_t *err)
{
    char hdir[1024], path[4096];
    const char *hname = NULL;
    int rc;
    if (!ds || !dir || !*dir)
        return dn_err_set(err, DN_EINVAL, "dn_dataset_write_root_dir: no dataset or directory");
    key = key ? key : DN_ROOTDATA_KEY;
    if ((rc = split_key(key, hdir, sizeof hdir, &hname, err)))
        return rc;
    if (strlen(dir) > sizeof path - 40)
        return dn_err_set(err, DN_EINVAL, "directory name too long: %.60s...", dir);
    /* the files beside first: they validate the dataset as a whole */
    if ((rc = dn_dataset_write_beside(ds, dir, err)))
        return rc;
    dn_root_binning_t bin;
    dn_root_binning_of(ds, &bin);
    for (int i = 0; i < ds->n_runs && !rc; i++) {
        char name[40];
        dn_root_run_name(name, sizeof name, ds->run[i]);
        snprintf(path, sizeof path, "%s/%s.root", dir, name);
        rc = write_run_file(ds, i, path, key, hdir, hname, &bin, err);
    }
    /* one flush of the file system for all the run files, not two per file */
    if (!rc)
        rc = dn_sync_fs(dir, err);
    return rc ? rc : remove_stale(ds, dir, err);
}

/* ---- references ---------------------------------------------------------------------- */

int dn_root_add_reference(dn_root_writer_t *w, const char *dir, const dn_root_binning_t *b,
                          int64_t run, const double *counts, const double *variances,
                          const double *ref_mu, const double *ref_sigma, dn_err_t *err)
{
    const int nb = b->n_bins;
    double *xt = NULL, *sx2 = NULL, *sig2 = NULL;
    dn_root_hist_t *ref = NULL, *obs = NULL;
    char title[160];
    int rc = DN_OK;
    if (nb < 1)
        return dn_err_set(err, DN_EINVAL, "run %" PRId64 ": no bins", run);
    for (int j = 0; j < nb; j++)
        if (!isfinite(ref_mu[j]) || !isfinite(ref_sigma[j]) || ref_sigma[j] < 0)
            return dn_err_set(err, DN_EINVAL, "run %" PRId64 ": bin %d: reference %g +- %g "
                              "(the run was not scored)", run, j, ref_mu[j], ref_sigma[j]);
    xt = malloc((size_t)nb * sizeof *xt);
    sx2 = malloc((size_t)nb * sizeof *sx2);
    sig2 = malloc((size_t)nb * sizeof *sig2);
    if (!xt || !sx2 || !sig2) {
        rc = dn_err_set(err, DN_ENOMEM, "run %" PRId64 ": out of memory", run);
        goto fail;
    }
    if ((rc = dn_hist_check(counts, variances, nb, err)))
        goto fail;
    double sum = dn_hist_normalise(xt, sx2, counts, variances, nb);
    if (!(sum > DN_EPS)) {
        rc = dn_err_set(err, DN_EEMPTY, "run %" PRId64 ": empty (entries %g)", run, sum);
        goto fail;
    }
    double sum_mu = 0, sum_sig2 = 0;
    for (int j = 0; j < nb; j++) {
        sig2[j] = ref_sigma[j] * ref_sigma[j];
        sum_mu += ref_mu[j];
        sum_sig2 += sig2[j];
    }
    snprintf(title, sizeof title, "reference that scored run %" PRId64 " (error: sigma)", run);
    if ((rc = dn_root_hist_from_flat(b, "ref", title, ref_mu, sig2,
                                     sum_sig2 > 0 ? sum_mu * sum_mu / sum_sig2 : 0, &ref, err)))
        goto fail;
    snprintf(title, sizeof title, "run %" PRId64 " normalised to unit sum (error: its "
             "uncertainty)", run);
    if ((rc = dn_root_hist_from_flat(b, "obs", title, xt, sx2, sum, &obs, err)))
        goto fail;
    /* the names are fixed: a refused directory fails the first add, before
     * anything was added */
    if ((rc = dn_root_writer_add(w, dir, ref, err)) || (rc = dn_root_writer_add(w, dir, obs, err)))
        goto fail;
fail:
    dn_root_hist_destroy(&ref);
    dn_root_hist_destroy(&obs);
    free(xt);
    free(sx2);
    free(sig2);
    return rc;
}

int dn_root_write_references(const char *path, const dn_dataset_t *ds, const double *ref_mu,
                             const double *ref_sigma, int64_t time, int *n_written,
                             dn_err_t *err)
{
    dn_root_write_opts_t o = {.compression = 101, .time = time ? time : DN_ROOTDATA_TIME};
    dn_root_writer_t *w = NULL;
    dn_root_binning_t bin;
    dn_root_binning_of(ds, &bin);
    int written = 0;
    int rc = dn_root_writer_open(path, &o, &w, err);
    for (int i = 0; i < ds->n_runs && !rc; i++) {
        const size_t at = (size_t)i * (size_t)ds->n_bins;
        if (isnan(ref_mu[at]))
            continue; /* not scored: no reference */
        char dir[40];
        dn_root_run_name(dir, sizeof dir, ds->run[i]);
        rc = dn_root_add_reference(w, dir, &bin, ds->run[i], dn_dataset_row(ds, i),
                                   ds->variances ? ds->variances + at : NULL, ref_mu + at,
                                   ref_sigma + at, err);
        written += !rc;
    }
    if (!rc)
        rc = dn_root_writer_close(&w, err);
    dn_root_writer_abort(&w);
    if (rc)
        dn_err_prefix(err, "%s", path);
    else if (n_written)
        *n_written = written;
    return rc;
}
