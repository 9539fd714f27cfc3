/* dataset.c: allocation and release of dn_dataset_t (the directory format is in
 * dataset_io.c). Invariant kept here: a dataset returned by dn_dataset_new() has
 * every array allocated to its full size, so readers and the generator fill it in
 * place and never resize. */
#include "dataset.h"

#include <stdlib.h>

int dn_dataset_alloc_truth(dn_dataset_t *ds)
{
    if (ds->true_mu)
        return DN_OK;
    size_t nr = ds->n_runs ? (size_t)ds->n_runs : 1;
    ds->true_mu = calloc(nr, sizeof *ds->true_mu);
    ds->true_sigma = calloc(nr, sizeof *ds->true_sigma);
    ds->rapid_mu = calloc(nr, sizeof *ds->rapid_mu);
    ds->rapid_sigma = calloc(nr, sizeof *ds->rapid_sigma);
    ds->events = calloc(nr, sizeof *ds->events);
    ds->dead_bins = calloc(nr, sizeof *ds->dead_bins);
    ds->rapid_split_known = 1;
    if (ds->true_mu && ds->true_sigma && ds->rapid_mu && ds->rapid_sigma && ds->events &&
        ds->dead_bins)
        return DN_OK;
    free(ds->true_mu);
    free(ds->true_sigma);
    free(ds->rapid_mu);
    free(ds->rapid_sigma);
    free(ds->events);
    free(ds->dead_bins);
    ds->true_mu = ds->true_sigma = NULL;
    ds->rapid_mu = ds->rapid_sigma = NULL;
    ds->events = ds->dead_bins = NULL;
    return DN_ENOMEM;
}

int dn_dataset_alloc_slow(dn_dataset_t *ds)
{
    if (ds->slow_kind && ds->slow_size && ds->slow_bad)
        return DN_OK;
    dn_dataset_free_slow(ds); /* a partial group is replaced whole */
    size_t nr = ds->n_runs ? (size_t)ds->n_runs : 1;
    ds->slow_kind = calloc(nr, sizeof *ds->slow_kind);
    ds->slow_size = calloc(nr, sizeof *ds->slow_size);
    ds->slow_bad = calloc(nr, sizeof *ds->slow_bad);
    if (ds->slow_kind && ds->slow_size && ds->slow_bad)
        return DN_OK;
    dn_dataset_free_slow(ds);
    return DN_ENOMEM;
}

void dn_dataset_free_slow(dn_dataset_t *ds)
{
    free(ds->slow_kind);
    free(ds->slow_size);
    free(ds->slow_bad);
    ds->slow_kind = ds->slow_bad = NULL;
    ds->slow_size = NULL;
}

dn_dataset_t *dn_dataset_new(int n_runs, int n_bins, int with_truth)
{
    if (n_runs < 0 || n_bins < 1 || (int64_t)n_runs * n_bins > INT64_C(1) << 40)
        return NULL;
    dn_dataset_t *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->n_runs = n_runs;
    ds->n_bins = n_bins;
    size_t nr = n_runs ? (size_t)n_runs : 1;
    ds->edges = malloc(((size_t)n_bins + 1) * sizeof *ds->edges);
    ds->run = malloc(nr * sizeof *ds->run);
    ds->label = malloc(nr * sizeof *ds->label);
    ds->counts = calloc(nr * (size_t)n_bins, sizeof *ds->counts);
    if (!ds->edges || !ds->run || !ds->label || !ds->counts)
        goto fail;
    for (int j = 0; j <= n_bins; j++)
        ds->edges[j] = j;
    for (int i = 0; i < n_runs; i++) {
        ds->run[i] = i;
        ds->label[i] = -1;
    }
    if (with_truth && dn_dataset_alloc_truth(ds) != DN_OK)
        goto fail;
    return ds;
fail:
    dn_dataset_destroy(&ds);
    return NULL;
}

int dn_dataset_set_2d(dn_dataset_t *ds, int ny)
{
    if (ny < 1 || ds->n_bins % ny)
        return DN_EINVAL;
    double *ey = malloc(((size_t)ny + 1) * sizeof *ey);
    if (!ey)
        return DN_ENOMEM;
    for (int j = 0; j <= ny; j++)
        ey[j] = j;
    free(ds->edges_y);
    ds->edges_y = ey;
    ds->n_bins_y = ny;
    ds->edges_known = 0;
    for (int j = 0; j <= ds->n_bins; j++)
        ds->edges[j] = j;
    return DN_OK;
}

void dn_dataset_destroy(dn_dataset_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_dataset_t *ds = *self_p;
    free(ds->edges);
    free(ds->edges_y);
    free(ds->run);
    free(ds->label);
    free(ds->counts);
    free(ds->variances);
    free(ds->true_mu);
    free(ds->true_sigma);
    free(ds->rapid_mu);
    free(ds->rapid_sigma);
    free(ds->events);
    free(ds->dead_bins);
    dn_dataset_free_slow(ds);
    free(ds->meta_extra);
    free(ds);
    *self_p = NULL;
}
