/* fixed.c: a fixed input of the feed, a runs CSV or an .npz dataset of the
 * Python reference: one histogram per run, published under the configured
 * key and subsystem, rows in file order (run_seq = row).
 *
 * The input is read whole at start (input.h): rows that cannot be used are
 * left out with a WARN each and counted, and a labels file replaces the
 * input's labels as `dinamo score --labels` does, so the stream equals what
 * the offline tool scores. The next row to publish is in the checkpoint. */
#include <math.h>
#include <stdlib.h>

#include "feed.h"
#include "input.h"
#include "log.h"

struct feed_fixed_t {
    dn_dataset_t *ds;
    const char *key, *subsystem; /* borrowed */
    uint64_t next_row;
    uint64_t left_out;
};

static void warn_left_out(void *ctx, const char *msg)
{
    feed_fixed_t *self = ctx;
    self->left_out++;
    dn_log(DN_LOG_WARN, "%s", msg);
}

feed_fixed_t *feed_fixed_open(const char *path, const char *key, const char *subsystem,
                              const char *labels_path, dn_err_t *err)
{
    feed_fixed_t *self = calloc(1, sizeof *self);
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "out of memory");
        return NULL;
    }
    self->key = key;
    self->subsystem = subsystem;
    dn_input_opts_t o = {.labels_path = labels_path && labels_path[0] ? labels_path : NULL,
                         .warn = warn_left_out,
                         .warn_ctx = self};
    if (dn_input_read_dataset(path, &o, &self->ds, NULL, err))
        feed_fixed_destroy(&self);
    return self;
}

void feed_fixed_destroy(feed_fixed_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_dataset_destroy(&(*self_p)->ds);
    free(*self_p);
    *self_p = NULL;
}

int feed_fixed_next(const feed_fixed_t *self, dn_runin_t *run, dn_histin_t *h)
{
    const dn_dataset_t *ds = self->ds;
    if (self->next_row >= (uint64_t)ds->n_runs)
        return 0;
    size_t i = (size_t)self->next_row, nb = (size_t)ds->n_bins;
    *h = (dn_histin_t){.key = (char *)self->key,
                       .subsystem = (char *)self->subsystem,
                       .n_bins = ds->n_bins,
                       .counts = ds->counts + i * nb,
                       .variances = ds->variances ? ds->variances + i * nb : NULL,
                       /* the placeholder numbering is no binning to publish */
                       .edges = ds->edges_known ? ds->edges : NULL,
                       .n_bins_y = ds->n_bins_y,
                       .edges_y = ds->edges_known ? ds->edges_y : NULL};
    *run = (dn_runin_t){.run_number = ds->run[i], .time = NAN, .label = ds->label[i],
                        .n_hist = 1, .hist = h};
    return 1;
}

void feed_fixed_advance(feed_fixed_t *self)
{
    if (self->next_row < (uint64_t)self->ds->n_runs)
        self->next_row++;
}

int64_t feed_fixed_last_run(const feed_fixed_t *self)
{
    return self->ds->n_runs ? self->ds->run[self->ds->n_runs - 1] : -1;
}

dn_events_run_t feed_fixed_find(const feed_fixed_t *self, int64_t run)
{
    dn_events_run_t out = {0};
    out.found = dn_events_find_row(self->ds->run, self->next_row, run, &out.run_seq);
    out.labelled = out.found && self->ds->label[out.run_seq] >= 0;
    return out;
}

uint64_t feed_fixed_left_out(const feed_fixed_t *self)
{
    return self->left_out;
}

void feed_fixed_save(const feed_fixed_t *self, dn_wbuf_t *w)
{
    dn_wb_u64(w, self->next_row);
}

int feed_fixed_load(feed_fixed_t *self, dn_rbuf_t *r, dn_err_t *err)
{
    uint64_t row = dn_rb_u64(r);
    if (!r->bad && row > (uint64_t)self->ds->n_runs)
        return dn_err_set(err, DN_EFORMAT, "checkpoint feed: row %llu is beyond the input's "
                          "%d rows: was it rewritten? use another data_dir",
                          (unsigned long long)row, self->ds->n_runs);
    self->next_row = row;
    return DN_OK;
}
