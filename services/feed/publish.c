/* publish.c: how the feed publishes its input's runs into the events log.
 *
 * A fixed input's rows go out in order, each once (the next row is in the
 * checkpoint). A directory's complete files go out in run order; of each
 * file's run, what cannot be published is left out with a WARN naming file
 * and histogram, and counted: histograms the reader refused, and histograms
 * whose binning differs from the first published under their key; a run
 * left with no histogram, and a second file with a run number already
 * published, are rejected whole. Every file published or rejected gets its
 * ledger record, staged with the log entries, so each run is published once
 * across restarts.
 *
 * A run's recorded label (the input's, else the labels file's) follows it
 * label_delay_runs runs later. A finite input (a fixed one, a directory not
 * watched) ends, once everything is out, with all its labels and
 * END_OF_STREAM. Nothing is appended while the log has no room (flow
 * control): what did not fit is published in a later round. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "feed.h"
#include "log.h"

/* Appends run r and queues its recorded label. */
static int append(feed_t *f, const dn_runin_t *r, dn_err_t *err)
{
    const uint64_t seq = dn_events_stats(f->ev).runs;
    double when = isfinite(r->time) ? r->time : dn_clock_wall();
    int rc = dn_events_append_run(f->ev, r->run_number, when, r->hist, r->n_hist, err);
    if (!rc && r->label >= 0 && feed_recorded_queue(f->recorded, seq, r->run_number, r->label))
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
    return rc;
}

/* Everything is out: the labels still queued, then END_OF_STREAM. */
static int finish(feed_t *f, int64_t final_run, dn_err_t *err)
{
    int rc = feed_recorded_flush(f->recorded, f->ev, 1, err);
    if (!rc && !feed_recorded_waiting(f->recorded) && dn_events_room(f->ev) > 0)
        rc = dn_events_append_eos(f->ev, final_run, err);
    return rc;
}

/* ---- a fixed input ------------------------------------------------------------------ */

static int publish_rows(feed_t *f, dn_err_t *err)
{
    int appended = 0, rc = DN_OK;
    dn_runin_t r;
    dn_histin_t h;
    while (appended < DN_EVENTS_RUNS_PER_ROUND && dn_events_room(f->ev) > 0 &&
           feed_fixed_next(f->fixed, &r, &h)) {
        if ((rc = append(f, &r, err)))
            return rc;
        feed_fixed_advance(f->fixed);
        appended++;
        if ((rc = feed_recorded_flush(f->recorded, f->ev, 0, err)))
            return rc;
    }
    if (!feed_fixed_next(f->fixed, &r, &h) && (rc = finish(f, feed_fixed_last_run(f->fixed), err)))
        return rc;
    return appended == DN_EVENTS_RUNS_PER_ROUND;
}

/* ---- a directory --------------------------------------------------------------------- */

/* Records file in the ledger with its run and status; it leaves the
 * directory's files at the commit. */
static int record(feed_t *f, const feed_file_t *file, const char *status)
{
    feed_file_rec_t rec = file->stat;
    rec.run = file->run->run_number;
    snprintf(rec.status, sizeof rec.status, "%s", status);
    feed_dir_settle(f->dir, file);
    return feed_ledger_put_file(f->ledger, file->name, &rec);
}

/* 1 when the run of files[k] was published already, or by a file before it
 * in this round (reported, and recorded as a duplicate); 0; or an error. */
static int duplicate(feed_t *f, const feed_file_t *files, int k, dn_err_t *err)
{
    const dn_runin_t *r = files[k].run;
    dn_events_run_t known;
    char *by = NULL;
    int rc = feed_ledger_run(f->ledger, r->run_number, &known, &by, err);
    if (rc)
        return rc;
    int dup = known.found;
    for (int j = 0; !dup && j < k; j++)
        dup = files[j].run->run_number == r->run_number;
    if (dup) {
        dn_log(DN_LOG_WARN, "%s: run %lld was already published%s%s; file rejected", r->source,
               (long long)r->run_number, by ? " from " : "", by ? by : "");
        f->duplicates++;
        if (record(f, &files[k], "duplicate"))
            dup = dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    free(by);
    return dup;
}

/* Leaves out the histograms the reader refused and those whose binning
 * changed, each with its reason. Returns 0 or an error. */
static int leave_out(feed_t *f, dn_runin_t *r, dn_err_t *err)
{
    for (int p = 0; p < r->n_problems; p++) {
        dn_log(DN_LOG_WARN, "%s; left out", r->problems[p]);
        f->hists_rejected++;
    }
    for (int k = 0; k < r->n_hist;) {
        char why[256];
        int ok = feed_ledger_binning(f->ledger, &r->hist[k], why, sizeof why, err);
        if (ok < 0)
            return ok;
        if (ok) {
            k++;
            continue;
        }
        dn_log(DN_LOG_WARN, "%s: histogram \"%s\": %s; left out", r->source, r->hist[k].key,
               why);
        f->hists_rejected++;
        dn_histin_clear(&r->hist[k]);
        r->hist[k] = r->hist[--r->n_hist];
    }
    return DN_OK;
}

/* Publishes files[k] (or rejects it). Returns 0 or an error. */
static int publish_file(feed_t *f, feed_file_t *files, int k, dn_err_t *err)
{
    feed_file_t *file = &files[k];
    dn_runin_t *r = file->run;
    int rc = duplicate(f, files, k, err);
    if (rc)
        return rc < 0 ? rc : DN_OK;
    if ((rc = leave_out(f, r, err)))
        return rc;
    if (r->label < 0)
        r->label = (int8_t)feed_recorded_lookup(f->recorded, r->run_number);
    if (r->n_hist == 0) {
        dn_log(DN_LOG_WARN, "%s: run %lld has no usable histogram; file rejected", r->source,
               (long long)r->run_number);
        f->files_rejected++;
        return record(f, file, "rejected") ? dn_err_set(err, DN_ENOMEM, "out of memory") : 0;
    }
    const uint64_t seq = dn_events_stats(f->ev).runs;
    if ((rc = append(f, r, err)))
        return rc;
    if (record(f, file, "published") ||
        feed_ledger_put_run(f->ledger, r->run_number, seq, r->label >= 0, file->name))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    return feed_recorded_flush(f->recorded, f->ev, 0, err);
}

static int publish_dir(feed_t *f, dn_err_t *err)
{
    feed_file_t files[DN_EVENTS_RUNS_PER_ROUND];
    const uint64_t before = dn_events_stats(f->ev).runs;
    int n = 0, full = 0;
    int rc = feed_dir_collect(f->dir, f->ledger, files, DN_EVENTS_RUNS_PER_ROUND, &n, err);
    for (int k = 0; !rc && k < n; k++) {
        if ((full = dn_events_room(f->ev) <= 0))
            break; /* not recorded: the file is read again in a later round */
        rc = publish_file(f, files, k, err);
    }
    /* more may be ready at once when runs went out and the log has room */
    int more = !full && dn_events_stats(f->ev).runs > before;
    feed_dir_files_free(files, n);
    if (!rc && !f->watch && feed_dir_waiting(f->dir) == 0)
        rc = finish(f, -1, err); /* a one-off directory: everything published or rejected */
    return rc ? rc : more;
}

int feed_publish(feed_t *f, dn_err_t *err)
{
    if (dn_events_stats(f->ev).ended)
        return 0;
    return f->fixed ? publish_rows(f, err) : publish_dir(f, err);
}
