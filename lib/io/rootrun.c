/* rootrun.c: a ROOT file as a run (rootrun.h).
 *
 * dn_root_run_each() is the one place where a key becomes a monitored
 * histogram or a problem; dn_root_run_from_file() collects its items into a
 * dn_runin_t (keys made unique with a keytab: a CMS file holds tens of
 * thousands), and `dinamo inspect` prints them. A histogram's arrays are
 * built once and handed over to the run, not copied. */
#include "rootrun.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keytab.h"
#include "rootfile.h"
#include "rootname.h"

static double *copy_of(const double *v, int n)
{
    double *c = malloc((size_t)n * sizeof *c);
    if (c)
        memcpy(c, v, (size_t)n * sizeof *c);
    return c;
}

/* Names monitored bin j in messages: "bin 4", 2-D "bin (1, 3)" (from 0). */
static void bin_name(char *buf, size_t cap, int j, int ny)
{
    if (ny > 0)
        snprintf(buf, cap, "bin (%d, %d)", j / ny, j % ny);
    else
        snprintf(buf, cap, "bin %d", j);
}

/* The monitored bins of rh into *h (bins, variances when stored, edges).
 * Returns 0, DN_ERANGE (a count or variance breaking runin.h's rules: why
 * says which) or DN_ENOMEM. */
static int to_histin(const dn_root_hist_t *rh, dn_histin_t *h, char *why, size_t cap)
{
    const int n = dn_root_hist_n_inner(rh), nx = rh->axis[0].n_bins;
    const int ny = rh->dim == 2 ? rh->axis[1].n_bins : 0;
    h->n_bins = n;
    h->n_bins_y = ny;
    if (!(h->counts = malloc((size_t)n * sizeof *h->counts)) ||
        (rh->variances && !(h->variances = malloc((size_t)n * sizeof *h->variances))) ||
        !(h->edges = copy_of(rh->axis[0].edges, nx + 1)) ||
        (ny && !(h->edges_y = copy_of(rh->axis[1].edges, ny + 1))))
        return DN_ENOMEM;
    dn_root_hist_inner(rh, h->counts, h->variances); /* variances: fSumw2 as stored */
    for (int j = 0; j < n; j++) {
        const double *v[2] = {h->counts, h->variances};
        static const char *const what[2] = {"count", "variance"};
        for (int w = 0; w < 2; w++) {
            if (!v[w] || (isfinite(v[w][j]) && v[w][j] >= 0))
                continue;
            char bin[48];
            bin_name(bin, sizeof bin, j, ny);
            snprintf(why, cap, "%s: %s %s %g", bin, v[w][j] < 0 ? "negative" : "non-finite",
                     what[w], v[w][j]);
            return DN_ERANGE;
        }
    }
    return DN_OK;
}

/* Key i: named, read and converted, or a problem; given to visit. */
static int each_key(dn_root_file_t *f, int i, const dn_root_naming_t *naming, const char *only,
                    int (*visit)(void *, const dn_root_item_t *), void *ctx, dn_err_t *err)
{
    const char *file = dn_root_file_name(f);
    const dn_root_key_t *k = dn_root_file_key(f, i);
    dn_root_item_t item = {.key = k};
    dn_histin_t h = {0};
    dn_root_hist_t *rh = NULL;
    char *key = NULL, *sub = NULL, why[DN_ERRMSG_MAX + 64], bad[128];
    dn_err_t kerr = {0};
    int64_t run = 0;
    int has_run = 0;
    int rc = dn_root_name(file, k->path, naming, &key, &sub, &run, &has_run, &kerr);
    if (rc == DN_ENOMEM)
        goto fail;
    if (rc) {
        item.problem = kerr.msg;
        rc = visit(ctx, &item);
        goto done;
    }
    if (only && strcmp(only, key))
        goto done;
    if (k->kind == DN_ROOT_OTHER) {
        snprintf(why, sizeof why, "%s: key \"%s;%d\" (%s): %s", file, k->path, k->cycle,
                 k->class_name, k->reason);
        item.problem = why;
        item.not_histogram = 1;
    } else if ((rc = dn_root_file_read_hist(f, i, &rh, &kerr))) {
        if (rc == DN_ENOMEM)
            goto fail;
        item.problem = kerr.msg;
    } else if ((rc = to_histin(rh, &h, bad, sizeof bad))) {
        if (rc == DN_ENOMEM)
            goto fail;
        snprintf(why, sizeof why, "%s: key \"%s;%d\" (%s): %s", file, k->path, k->cycle,
                 k->class_name, bad);
        item.problem = why;
    } else {
        int64_t layout_run;
        h.key = key;
        h.subsystem = sub;
        key = sub = NULL;
        item.hist = &h;
        item.run = run;
        item.has_run = has_run;
        item.from_layout = dn_root_dqm_run(k->path, &layout_run);
        item.entries = rh->entries;
    }
    rc = visit(ctx, &item);
    goto done;
fail:
    rc = dn_err_set(err, DN_ENOMEM, "%s: key \"%s;%d\": out of memory", file, k->path,
                    k->cycle);
done:
    dn_histin_clear(&h);
    dn_root_hist_destroy(&rh);
    free(key);
    free(sub);
    return rc;
}

int dn_root_run_each(dn_root_file_t *f, const dn_root_run_opts_t *opts,
                     int (*visit)(void *ctx, const dn_root_item_t *item), void *ctx,
                     dn_err_t *err)
{
    const dn_root_naming_t naming = {.subsystem = opts ? opts->subsystem : NULL};
    const char *only = opts ? opts->key : NULL;
    int rc = DN_OK;
    for (int p = 0; !rc && p < dn_root_file_n_problems(f); p++) {
        const dn_root_item_t item = {.problem = dn_root_file_problem(f, p)};
        rc = visit(ctx, &item);
    }
    for (int i = 0; !rc && i < dn_root_file_n_keys(f); i++)
        rc = each_key(f, i, &naming, only, visit, ctx, err);
    return rc;
}

/* ---- collecting a run ----------------------------------------------------------- */

typedef struct {
    dn_root_file_t *f;
    dn_runin_t *run;
    dn_keytab_t *keys;   /* histogram key -> index into run->hist */
    const char **from;   /* [index] the path it was read from (owned by f) */
    int cap;
    dn_err_t *err;
} collect_t;

static int oom(collect_t *c)
{
    return dn_err_set(c->err, DN_ENOMEM, "%s: out of memory", dn_root_file_name(c->f));
}

static int collect(void *ctx, const dn_root_item_t *item)
{
    collect_t *c = ctx;
    dn_runin_t *r = c->run;
    const char *file = dn_root_file_name(c->f);
    if (!item->hist)
        return dn_runin_problem(r, "%s", item->problem) ? oom(c) : DN_OK;
    const dn_root_key_t *k = item->key;
    dn_histin_t *h = item->hist;
    if (item->from_layout && item->run != r->run_number)
        return dn_runin_problem(r, "%s: key \"%s;%d\": run %lld, but the file is run %lld "
                                "(one file is one run)", file, k->path, k->cycle,
                                (long long)item->run, (long long)r->run_number) ? oom(c) : DN_OK;
    int at = dn_keytab_find(c->keys, h->key);
    if (at >= 0)
        return dn_runin_problem(r, "%s: key \"%s;%d\": histogram \"%s\" was already read from "
                                "\"%s\"", file, k->path, k->cycle, h->key, c->from[at])
                   ? oom(c) : DN_OK;
    if (r->n_hist == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        dn_histin_t *hist = realloc(r->hist, (size_t)cap * sizeof *hist);
        if (hist)
            r->hist = hist;
        const char **from = realloc(c->from, (size_t)cap * sizeof *from);
        if (from)
            c->from = from;
        if (!hist || !from)
            return oom(c);
        c->cap = cap;
    }
    if (dn_keytab_add(c->keys, h->key) < 0)
        return oom(c);
    c->from[r->n_hist] = k->path;
    r->hist[r->n_hist++] = *h; /* taken over: the item's pointers are nulled */
    *h = (dn_histin_t){0};
    return DN_OK;
}

/* The file's run: the first DQMData/Run N, else the file name's digits. */
static int file_run(dn_root_file_t *f, int64_t *run, dn_err_t *err)
{
    for (int i = 0; i < dn_root_file_n_keys(f); i++)
        if (dn_root_dqm_run(dn_root_file_key(f, i)->path, run))
            return DN_OK;
    const char *file = dn_root_file_name(f);
    int rc = dn_run_number_from_name(file, run);
    if (rc == DN_ERANGE)
        return dn_err_set(err, rc, "%s: the run number in the file name is beyond int64", file);
    if (rc)
        return dn_err_set(err, DN_EFORMAT, "%s: no run number: no DQMData/Run N folder and no "
                          "digits in the file name", file);
    return DN_OK;
}

int dn_root_run_from_file(dn_root_file_t *f, const dn_root_run_opts_t *opts, dn_runin_t **out,
                          dn_err_t *err)
{
    *out = NULL;
    collect_t c = {.f = f, .err = err};
    int64_t run = 0;
    int rc = file_run(f, &run, err);
    if (rc)
        return rc;
    if (!(c.run = dn_runin_new(run)) || !(c.run->source = strdup(dn_root_file_name(f))) ||
        !(c.keys = dn_keytab_new())) {
        rc = oom(&c);
        goto fail;
    }
    if ((rc = dn_root_run_each(f, opts, collect, &c, err)))
        goto fail;
    dn_keytab_destroy(&c.keys);
    free(c.from);
    *out = c.run;
    return DN_OK;
fail:
    dn_keytab_destroy(&c.keys);
    free(c.from);
    dn_runin_destroy(&c.run);
    return rc;
}

int dn_root_run_read(const char *path, const dn_root_run_opts_t *opts, dn_runin_t **out,
                     dn_err_t *err)
{
    *out = NULL;
    dn_root_file_t *f = NULL;
    int rc = dn_root_file_open(path, &f, err);
    if (!rc)
        rc = dn_root_run_from_file(f, opts, out, err);
    dn_root_file_destroy(&f);
    return rc;
}
