/* recorded.c: the labels that came with the feed's input (a CSV label
 * column, an .npz y, UHI metadata "label", a labels file), published as
 * RECORDED labels `label_delay_runs` runs after their run, as a shifter's
 * verdict would come some runs late.
 *
 * The labels file of a directory input is held sorted by run (stable, so that
 * of two rows for one run the later wins, as `dinamo score --labels` has it)
 * for the lookup of each file's run. The queue holds the verdicts of runs
 * appended whose label is not yet due, in run_seq order, kept as the
 * checkpoint holds it (records of u64 run_seq, u64 run, u32 verdict), so a
 * restart publishes each of them exactly once. */
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "feed.h"

#define QUEUED_BYTES 20 /* a queued label's record */

typedef struct file_label_t {
    int64_t run;
    int8_t verdict; /* -1 (an empty label), 0, 1 */
    int at;         /* row in the file: the later row of a run wins */
} file_label_t;

struct feed_recorded_t {
    int delay_runs;
    file_label_t *file; /* [n_file] sorted by (run, at) */
    int n_file;
    dn_wbuf_t queue;    /* n_queued records, oldest first */
    int n_queued;
};

static int cmp_file_label(const void *a, const void *b)
{
    const file_label_t *x = a, *y = b;
    if (x->run != y->run)
        return (x->run > y->run) - (x->run < y->run);
    return (x->at > y->at) - (x->at < y->at);
}

static int read_labels_file(feed_recorded_t *self, const char *path, dn_err_t *err)
{
    int64_t *runs = NULL;
    int8_t *vals = NULL;
    int n = 0;
    int rc = dn_labels_read_csv(path, &runs, &vals, &n, err);
    if (rc)
        goto fail;
    if (!(self->file = calloc((size_t)n + 1, sizeof *self->file))) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++)
        self->file[i] = (file_label_t){runs[i], vals[i], i};
    self->n_file = n;
    qsort(self->file, (size_t)n, sizeof *self->file, cmp_file_label);
fail:
    free(runs);
    free(vals);
    return rc;
}

feed_recorded_t *feed_recorded_new(const char *labels_path, int delay_runs, dn_err_t *err)
{
    feed_recorded_t *self = calloc(1, sizeof *self);
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "out of memory");
        return NULL;
    }
    self->delay_runs = delay_runs;
    if (labels_path && labels_path[0] && read_labels_file(self, labels_path, err))
        feed_recorded_destroy(&self);
    return self;
}

void feed_recorded_destroy(feed_recorded_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->file);
    free((*self_p)->queue.p);
    free(*self_p);
    *self_p = NULL;
}

int feed_recorded_lookup(const feed_recorded_t *self, int64_t run)
{
    /* the last row of run: the first row past it, one back */
    int lo = 0, hi = self->n_file;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (self->file[mid].run <= run)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && self->file[lo - 1].run == run ? self->file[lo - 1].verdict : -1;
}

int feed_recorded_queue(feed_recorded_t *self, uint64_t seq, int64_t run, int verdict)
{
    unsigned char rec[QUEUED_BYTES];
    dn_put_u64(rec, seq);
    dn_put_u64(rec + 8, (uint64_t)run);
    dn_put_u32(rec + 16, (uint32_t)verdict);
    dn_wb_bytes(&self->queue, rec, sizeof rec); /* all of it or, out of memory, nothing */
    if (self->queue.oom) {
        self->queue.oom = 0;
        return DN_ENOMEM;
    }
    self->n_queued++;
    return DN_OK;
}

int feed_recorded_flush(feed_recorded_t *self, dn_events_t *ev, int all, dn_err_t *err)
{
    const uint64_t runs = dn_events_stats(ev).runs;
    dn_rbuf_t r = {self->queue.p, self->queue.len, 0, 0};
    int k = 0, rc = DN_OK;
    for (; k < self->n_queued; k++) {
        r.pos = (size_t)k * QUEUED_BYTES;
        uint64_t seq = dn_rb_u64(&r), run = dn_rb_u64(&r);
        uint32_t verdict = dn_rb_u32(&r);
        if (!all && seq + (uint64_t)self->delay_runs >= runs)
            break;
        if (dn_events_room(ev) <= 0)
            break;
        dn_events_label_t m = {.run_number = (int64_t)run, .run_seq = seq, .bad = verdict != 0,
                               .source = DINAMO__LABEL_SOURCE__RECORDED,
                               .reason = "label recorded with the input"};
        if ((rc = dn_events_append_label(ev, &m, err)))
            break;
    }
    if (k) {
        size_t done = (size_t)k * QUEUED_BYTES;
        memmove(self->queue.p, self->queue.p + done, self->queue.len - done);
        self->queue.len -= done;
        self->n_queued -= k;
    }
    return rc;
}

int feed_recorded_waiting(const feed_recorded_t *self)
{
    return self->n_queued;
}

void feed_recorded_save(const feed_recorded_t *self, dn_wbuf_t *w)
{
    dn_wb_u32(w, (uint32_t)self->n_queued);
    dn_wb_bytes(w, self->queue.p, self->queue.len);
}

int feed_recorded_load(feed_recorded_t *self, dn_rbuf_t *r, dn_err_t *err)
{
    uint32_t n = dn_rb_u32(r);
    const unsigned char *q = dn_rb_take(r, (size_t)n * QUEUED_BYTES);
    if (!q)
        return dn_err_set(err, DN_EFORMAT, "checkpoint feed: %u recorded labels announced, "
                          "fewer stored", n);
    for (uint32_t k = 0; k < n; k++)
        if (dn_get_u32(q + (size_t)k * QUEUED_BYTES + 16) > 1)
            return dn_err_set(err, DN_EFORMAT, "checkpoint feed: recorded label %u of %u "
                              "has no verdict 0 or 1", k, n);
    self->queue.len = 0;
    dn_wb_bytes(&self->queue, q, (size_t)n * QUEUED_BYTES);
    if (self->queue.oom)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    self->n_queued = (int)n;
    return DN_OK;
}
