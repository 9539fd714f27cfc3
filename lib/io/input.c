/* input.c: input kinds, UHI directories as datasets, labels (input.h).
 *
 * A UHI directory is read whole, its runs sorted by run number; the first
 * usable run of the chosen key fixes the binning (bins and edges of x, and of
 * y for a 2-D histogram) and the storage kind (weighted or not) that every
 * later run must repeat. A 2-D key gives a 2-D dataset (dataset.h: flattened
 * x outer, y inner, as uhi.c reads it). */
#include "input.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "npz.h"
#include "uhi.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int path_join(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= cap ? DN_EINVAL : DN_OK;
}

int dn_input_kind(const char *path, dn_input_kind_t *kind, dn_err_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        *kind = ends_with(path, ".npz") ? DN_INPUT_NPZ : DN_INPUT_RUNS_CSV;
        return DN_OK;
    }
    char p[4096];
    if (path_join(p, sizeof p, path, "runs.csv") == DN_OK && stat(p, &st) == 0) {
        *kind = DN_INPUT_DATASET_DIR;
        return DN_OK;
    }
    DIR *d = opendir(path);
    if (!d)
        return dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
    int json = 0;
    for (struct dirent *e; !json && (e = readdir(d));)
        json = ends_with(e->d_name, ".json");
    closedir(d);
    if (!json)
        return dn_err_set(err, DN_EFORMAT, "%s: a directory with neither runs.csv (a dataset) "
                          "nor *.json files (UHI runs)", path);
    *kind = DN_INPUT_UHI_DIR;
    return DN_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dn_uhi_dir_list(const char *dir, char ***paths, int *n, dn_err_t *err)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return dn_err_set(err, DN_EIO, "%s: %s", dir, strerror(errno));
    char **v = NULL;
    int count = 0, cap = 0, rc = DN_OK;
    for (struct dirent *e; (e = readdir(d));) {
        if (!ends_with(e->d_name, ".json") || e->d_name[0] == '.')
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(v, (size_t)cap * sizeof *grown);
            if (!grown) {
                rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory listing files", dir);
                goto done;
            }
            v = grown;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(v[count] = malloc(len))) {
            rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory listing files", dir);
            goto done;
        }
        snprintf(v[count], len, "%s/%s", dir, e->d_name);
        count++;
    }
    if (count)
        qsort(v, (size_t)count, sizeof *v, cmp_str);
done:
    closedir(d);
    if (rc) {
        for (int i = 0; i < count; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *paths = v;
    *n = count;
    return DN_OK;
}

void dn_labels_apply(dn_dataset_t *ds, const int64_t *runs, const int8_t *labels, int n,
                     int *n_unknown)
{
    int unknown = 0;
    for (int k = 0; k < n; k++) {
        /* ds->run is increasing: binary search */
        int lo = 0, hi = ds->n_runs - 1, at = -1;
        while (lo <= hi) {
            int mid = lo + (hi - lo) / 2;
            if (ds->run[mid] == runs[k]) {
                at = mid;
                break;
            }
            if (ds->run[mid] < runs[k])
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        if (at < 0)
            unknown++;
        else
            ds->label[at] = labels[k];
    }
    if (n_unknown)
        *n_unknown = unknown;
}

/* ---- UHI directory -> dataset ---------------------------------------------- */

typedef struct {
    const dn_input_opts_t *opts;
    int n_warn;
} warner_t;

__attribute__((format(printf, 2, 3))) static void warn(warner_t *w, const char *fmt, ...)
{
    char msg[DN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->n_warn++;
    if (w->opts && w->opts->warn)
        w->opts->warn(w->opts->warn_ctx, msg);
}

static int cmp_run(const void *a, const void *b)
{
    const dn_runin_t *x = *(dn_runin_t *const *)a, *y = *(dn_runin_t *const *)b;
    if (x->run_number != y->run_number)
        return (x->run_number > y->run_number) - (x->run_number < y->run_number);
    return strcmp(x->source ? x->source : "", y->source ? y->source : ""); /* stable */
}

/* The key to take: the one asked for, or the only one the runs have. */
static int choose_key(dn_runin_t **runs, int n, const char *asked, const char *dir,
                      const char **key, dn_err_t *err)
{
    if (asked) {
        for (int i = 0; i < n; i++)
            if (dn_runin_find(runs[i], asked)) {
                *key = asked;
                return DN_OK;
            }
        return dn_err_set(err, DN_EFORMAT, "%s: no run has a histogram \"%s\"", dir, asked);
    }
    const char *seen[4] = {0}; /* the first distinct keys, for the message */
    int distinct = 0;
    for (int i = 0; i < n; i++)
        for (int h = 0; h < runs[i]->n_hist; h++) {
            const char *k = runs[i]->hist[h].key;
            int known = 0;
            for (int s = 0; s < distinct && s < 4; s++)
                known |= !strcmp(seen[s], k);
            if (known || (distinct >= 4 && distinct++))
                continue;
            seen[distinct++] = k;
        }
    if (!distinct)
        return dn_err_set(err, DN_EFORMAT, "%s: no usable histogram in any run", dir);
    if (distinct > 1)
        return dn_err_set(err, DN_EFORMAT, "%s: the runs hold several histograms (%s, %s%s%s%s); "
                          "choose one with --key", dir, seen[0], seen[1],
                          distinct > 2 ? ", " : "", distinct > 2 ? seen[2] : "",
                          distinct > 3 ? ", ..." : "");
    const char *first = seen[0];
    *key = first;
    return DN_OK;
}

/* Same binning: bins of each axis and their edges (x, and y for 2-D). */
static int same_edges(const dn_histin_t *a, const dn_histin_t *b)
{
    if (a->n_bins != b->n_bins || a->n_bins_y != b->n_bins_y || !a->edges != !b->edges ||
        !a->edges_y != !b->edges_y)
        return 0;
    const int nx = a->n_bins_y > 0 ? a->n_bins / a->n_bins_y : a->n_bins;
    for (int j = 0; a->edges && j <= nx; j++)
        if (a->edges[j] != b->edges[j])
            return 0;
    for (int j = 0; a->edges_y && j <= a->n_bins_y; j++)
        if (a->edges_y[j] != b->edges_y[j])
            return 0;
    return 1;
}

/* "100 bins" (1-D) or "10 x 4 bins" (2-D), for messages. */
static const char *binning(char *buf, size_t cap, const dn_histin_t *h)
{
    if (h->n_bins_y > 0)
        snprintf(buf, cap, "%d x %d bins", h->n_bins / h->n_bins_y, h->n_bins_y);
    else
        snprintf(buf, cap, "%d bins", h->n_bins);
    return buf;
}

static int read_uhi_dir(const char *dir, const dn_input_opts_t *opts, warner_t *w,
                        dn_dataset_t **out, dn_err_t *err)
{
    char **paths = NULL;
    int n_paths = 0, n_runs = 0, n_keep = 0;
    dn_runin_t **runs = NULL, **kept = NULL; /* kept: runs used, in order (borrowed) */
    const dn_histin_t **use = NULL;
    dn_dataset_t *ds = NULL;
    int rc = dn_uhi_dir_list(dir, &paths, &n_paths, err);
    if (rc)
        return rc;
    if (!(runs = calloc((size_t)n_paths + 1, sizeof *runs)) ||
        !(kept = calloc((size_t)n_paths + 1, sizeof *kept)) ||
        !(use = calloc((size_t)n_paths + 1, sizeof *use))) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory", dir);
        goto done;
    }
    for (int i = 0; i < n_paths; i++) {
        dn_err_t ferr = {0};
        dn_runin_t *r = NULL;
        rc = dn_uhi_read_file(paths[i], &r, &ferr);
        if (rc == DN_ENOMEM) {
            *err = ferr;
            goto done;
        }
        if (rc) {
            warn(w, "skipped: %s", ferr.msg);
            continue;
        }
        for (int k = 0; k < r->n_problems; k++)
            warn(w, "skipped: %s", r->problems[k]);
        runs[n_runs++] = r;
    }
    rc = DN_OK;
    qsort(runs, (size_t)n_runs, sizeof *runs, cmp_run);
    const char *key = NULL;
    if ((rc = choose_key(runs, n_runs, opts ? opts->key : NULL, dir, &key, err)))
        goto done;
    const dn_histin_t *ref = NULL;
    const char *ref_src = NULL;
    for (int i = 0; i < n_runs; i++) {
        const dn_histin_t *h = dn_runin_find(runs[i], key);
        if (i > 0 && runs[i]->run_number == runs[i - 1]->run_number) {
            warn(w, "skipped: %s: run %lld was already read from %s", runs[i]->source,
                 (long long)runs[i]->run_number, runs[i - 1]->source);
            continue;
        }
        if (!h) {
            warn(w, "skipped: %s: run %lld has no usable histogram \"%s\"", runs[i]->source,
                 (long long)runs[i]->run_number, key);
            continue;
        }
        if (!ref) {
            ref = h;
            ref_src = runs[i]->source;
        }
        else if (!same_edges(ref, h)) {
            char b1[64], b2[64];
            int same_counts = h->n_bins == ref->n_bins && h->n_bins_y == ref->n_bins_y;
            warn(w, "skipped: %s: histogram \"%s\": binning changed (%s; %s had %s%s)",
                 runs[i]->source, key, binning(b1, sizeof b1, h), ref_src,
                 binning(b2, sizeof b2, ref), same_counts ? " with other edges" : "");
            continue;
        } else if (!ref->variances != !h->variances) {
            warn(w, "skipped: %s: histogram \"%s\": storage is %s, %s had %s",
                 runs[i]->source, key, h->variances ? "weighted" : "counts", ref_src,
                 ref->variances ? "weighted" : "counts");
            continue;
        }
        kept[n_keep] = runs[i];
        use[n_keep++] = h;
    }
    if (!n_keep) {
        rc = dn_err_set(err, DN_EFORMAT, "%s: no usable run of histogram \"%s\"", dir, key);
        goto done;
    }
    const int nb = ref->n_bins;
    if (!(ds = dn_dataset_new(n_keep, nb, 0)) ||
        (ref->variances && !(ds->variances = malloc(sizeof(double) * (size_t)n_keep * nb)))) {
        rc = dn_err_set(err, DN_ENOMEM, "%s: out of memory for %d runs x %d bins", dir, n_keep,
                        nb);
        goto done;
    }
    if (ref->n_bins_y > 0 && (rc = dn_dataset_set_2d(ds, ref->n_bins_y))) {
        dn_err_set(err, rc, "%s: histogram \"%s\" (%d runs, 2-D): %s", dir, key, n_keep,
                   dn_strerror(rc));
        goto done;
    }
    if (ref->edges) { /* UHI axes always give edges (both axes of a 2-D histogram) */
        const int nx = ref->n_bins_y > 0 ? nb / ref->n_bins_y : nb;
        memcpy(ds->edges, ref->edges, sizeof(double) * ((size_t)nx + 1));
        if (ref->n_bins_y > 0 && ref->edges_y)
            memcpy(ds->edges_y, ref->edges_y, sizeof(double) * ((size_t)ref->n_bins_y + 1));
        ds->edges_known = ref->n_bins_y == 0 || ref->edges_y != NULL;
    }
    for (int i = 0; i < n_keep; i++) {
        ds->run[i] = kept[i]->run_number;
        ds->label[i] = kept[i]->label;
        memcpy(ds->counts + (size_t)i * nb, use[i]->counts, sizeof(double) * nb);
        if (ds->variances)
            memcpy(ds->variances + (size_t)i * nb, use[i]->variances, sizeof(double) * nb);
    }
    *out = ds;
    ds = NULL;
done:
    for (int i = 0; i < n_paths; i++)
        free(paths[i]);
    free(paths);
    for (int i = 0; runs && i < n_paths; i++)
        dn_runin_destroy(&runs[i]);
    free(runs);
    free(kept);
    free(use);
    dn_dataset_destroy(&ds);
    return rc;
}

int dn_input_read_dataset(const char *path, const dn_input_opts_t *opts,
                          dn_dataset_t **out, int *n_skipped, dn_err_t *err)
{
    dn_input_kind_t kind;
    warner_t w = {opts, 0};
    dn_dataset_t *ds = NULL;
    *out = NULL;
    int rc = dn_input_kind(path, &kind, err);
    if (rc)
        return rc;
    switch (kind) {
    case DN_INPUT_DATASET_DIR:
        rc = dn_dataset_read_dir(path, &ds, err);
        break;
    case DN_INPUT_UHI_DIR:
        rc = read_uhi_dir(path, opts, &w, &ds, err);
        break;
    case DN_INPUT_NPZ:
        rc = dn_npz_read_dataset(path, &ds, err);
        break;
    case DN_INPUT_RUNS_CSV:
        rc = dn_dataset_read_runs_csv(path, &ds, err);
        break;
    }
    if (rc)
        goto fail;
    if (opts && opts->labels_path) {
        int64_t *runs = NULL;
        int8_t *labels = NULL;
        int n = 0, unknown = 0;
        if ((rc = dn_labels_read_csv(opts->labels_path, &runs, &labels, &n, err)))
            goto fail;
        dn_labels_apply(ds, runs, labels, n, &unknown);
        free(runs);
        free(labels);
        if (unknown)
            warn(&w, "%s: %d labelled runs are not in %s", opts->labels_path, unknown, path);
    }
    if (n_skipped)
        *n_skipped = w.n_warn;
    *out = ds;
    return DN_OK;
fail:
    dn_dataset_destroy(&ds);
    return rc;
}
