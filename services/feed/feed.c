/* feed: publishes real histograms as the events log, in place of the generator.
 *
 * Input (`input`): a runs CSV or an .npz dataset of the Python reference (one
 * histogram per run, published under `key`; fixed.c), or a directory of run
 * files, one run each, any number of histograms (dir.c): UHI JSON files
 * (*.json) and ROOT files (*.root: every TH1/TH2, named by the CMS DQM
 * layout or its path in the file, rootrun.h). Labels that
 * come with the input (CSV label column, npz y, UHI metadata "label", a
 * `labels` file) are published as RECORDED labels `label_delay_runs` runs
 * after their run (recorded.c); runs without one get none (a person or an
 * automatic rule gives it).
 *
 * A directory is read once, in run-number order, and the stream ends
 * (END_OF_STREAM), unless `watch` is on: then the feed follows the directory
 * with inotify and publishes each new file when it is complete: closed after
 * writing or renamed in, and parsing as a whole document (a ROOT file: opening,
 * which it does once ROOT has closed it); a file that does not parse yet is
 * retried until it is `settle_s` seconds old, then rejected. Write files under
 * a name that does not end in .json or .root and rename them, or write them in
 * one go.
 *
 * Every run is published exactly once across restarts (kill -9 included): the
 * tables feed.files, feed.runs and feed.keys (ledger.c) and the checkpoint
 * (the events producer's counts, the next row of a fixed input, the labels
 * still to come) commit in the same LMDB transaction as the log entries (the
 * node's commit). A file seen again unchanged is skipped; changed, it is
 * reported and ignored (its run was published); a second file with a run
 * number already published is rejected.
 *
 * Bad input never stops the feed: a file that is not JSON or not a whole ROOT
 * file, an object that is not a TH1/TH2, a histogram with an
 * unknown axis or storage type, wrong lengths, NaN or negative counts, or a
 * binning different from the first one published under its key is left out
 * with a WARN naming file and histogram, and counted; the rest of the run and
 * the stream go on (publish.c).
 *
 * People's labels (`dinamo label`) and the evaluator's automatic ones arrive
 * on the requests endpoint and go into the log with the run's run_seq
 * (lib/pipe/events.h); an automatic label for a run the input labelled is
 * dropped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "feed.h"
#include "input.h"
#include "log.h"

/* ---- labels from requests ------------------------------------------------------ */

static int on_label_request(dn_node_t *node, void *self, const Dinamo__Envelope *request,
                            dn_err_t *err)
{
    (void)node;
    feed_t *f = self;
    const Dinamo__Label *l = request->label;
    dn_events_run_t run = {0};
    if (f->fixed) {
        run = feed_fixed_find(f->fixed, l->run_number);
    } else {
        int rc = feed_ledger_run(f->ledger, l->run_number, &run, NULL, err);
        if (rc)
            return rc;
    }
    return dn_events_take_label(f->ev, l, &run, err);
}

/* ---- the round, the commit, the checkpoint ----------------------------------------- */

static int round_work(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    feed_t *f = self;
    int more = feed_publish(f, err);
    if (more < 0)
        return more;
    if (f->ledger && feed_ledger_staged(f->ledger))
        dn_node_touch(node); /* rejected files change the tables, not the log */
    dn_events_stop_when_delivered(f->ev, node);
    *wait_ms = more ? 0 : f->watch ? 100 : DN_SERVICE_POLL_MAX_MS;
    return 0;
}

static int stage(void *self, dn_store_batch_t *batch)
{
    feed_t *f = self;
    return f->ledger ? feed_ledger_stage(f->ledger, batch) : DN_OK;
}

static void committed(void *self)
{
    feed_t *f = self;
    if (f->ledger)
        feed_ledger_committed(f->ledger);
    if (f->dir)
        feed_dir_committed(f->dir);
}

/* The body after the node's framing: the events producer's record, the next
 * row of a fixed input (0 for a directory), the recorded labels to come. */
static void save(void *self, dn_wbuf_t *w)
{
    const feed_t *f = self;
    dn_events_save(f->ev, w);
    if (f->fixed)
        feed_fixed_save(f->fixed, w);
    else
        dn_wb_u64(w, 0);
    feed_recorded_save(f->recorded, w);
}

static int load(dn_node_t *node, void *self, dn_rbuf_t *r, dn_err_t *err)
{
    (void)node;
    feed_t *f = self;
    int rc = dn_events_load(f->ev, r, err);
    if (!rc && f->fixed)
        rc = feed_fixed_load(f->fixed, r, err);
    else if (!rc)
        dn_rb_u64(r);
    if (!rc)
        rc = feed_recorded_load(f->recorded, r, err);
    if (rc)
        return rc;
    dn_events_stats_t st = dn_events_stats(f->ev);
    dn_log(DN_LOG_INFO, "restored: %llu runs and %llu labels published%s",
           (unsigned long long)st.runs, (unsigned long long)st.labels,
           st.ended ? ", end of stream sent" : "");
    return 0;
}

static int tick(dn_node_t *node, void *self, dn_err_t *err)
{
    (void)err;
    const feed_t *f = self;
    dn_node_progress(node, dn_events_stats(f->ev).runs, 0);
    dn_source_stats_t st = dn_source_stats(dn_events_source(f->ev));
    dn_log(DN_LOG_DEBUG, "runs %llu entries %llu published %llu slowest %llu followers %d "
           "pending files %d", (unsigned long long)dn_events_stats(f->ev).runs,
           (unsigned long long)st.head, (unsigned long long)st.cursor,
           (unsigned long long)st.slowest, st.followers, f->dir ? feed_dir_waiting(f->dir) : 0);
    return 0;
}

static void stop(dn_node_t *node, void *self)
{
    (void)node;
    const feed_t *f = self;
    dn_events_stats_t st = dn_events_stats(f->ev);
    uint64_t files = f->files_rejected + (f->dir ? feed_dir_rejected(f->dir) : 0);
    uint64_t hists = f->hists_rejected + (f->fixed ? feed_fixed_left_out(f->fixed) : 0);
    dn_log(DN_LOG_INFO, "stopped: %llu runs, %llu labels published (%llu sent to the feed, "
           "%llu dropped); %llu files rejected, %llu duplicate runs, %llu histograms left out",
           (unsigned long long)st.runs, (unsigned long long)st.labels,
           (unsigned long long)(st.taken + st.dropped), (unsigned long long)st.dropped,
           (unsigned long long)files, (unsigned long long)f->duplicates,
           (unsigned long long)hists);
}

/* ---- configuration ------------------------------------------------------------ */

static const dn_config_key_t keys[] = {
    {"input", DN_CFG_STRING, "", "runs CSV, .npz dataset, or directory of UHI JSON or ROOT "
                                 "run files"},
    {"watch", DN_CFG_BOOL, "false", "directory: follow it for new run files (no end)"},
    {"settle_s", DN_CFG_DOUBLE, "5", "watch: a file that does not parse is retried until "
                                     "this old, then rejected"},
    {"key", DN_CFG_STRING, "hist", "CSV/npz: the histogram key to publish under"},
    {"subsystem", DN_CFG_STRING, "", "CSV/npz: its subsystem"},
    {"labels", DN_CFG_STRING, "", "labels CSV (run,label) published as recorded labels"},
    {"label_delay_runs", DN_CFG_INT, "0", "labels of run i follow run i + this"},
    {"stream", DN_CFG_STRING, "feed", "stream name"},
    DN_EVENTS_KEYS,
};

/* What the input is: a fixed input or a directory (an empty one is fine to
 * watch). */
static int input_kind(const feed_t *f, dn_input_kind_t *kind, dn_err_t *err)
{
    int rc = dn_input_kind(f->input, kind, err);
    struct stat st;
    if (rc == DN_EFORMAT && f->watch && stat(f->input, &st) == 0 && S_ISDIR(st.st_mode)) {
        *kind = DN_INPUT_UHI_DIR;
        rc = DN_OK;
    }
    if (rc)
        return rc;
    if (*kind == DN_INPUT_ROOT && !(stat(f->input, &st) == 0 && S_ISDIR(st.st_mode)))
        return dn_err_set(err, DN_EINVAL, "%s is one ROOT file: give the directory of ROOT "
                          "files (one run each)", f->input);
    if (*kind == DN_INPUT_ROOT)
        *kind = DN_INPUT_UHI_DIR; /* a directory of run files, whatever their kind (dir.c) */
    if (f->watch && *kind != DN_INPUT_UHI_DIR)
        return dn_err_set(err, DN_EINVAL, "watch needs a directory of UHI JSON or ROOT run "
                          "files, not %s", f->input);
    if (*kind == DN_INPUT_DATASET_DIR)
        return dn_err_set(err, DN_EINVAL, "%s is a dataset directory: give its runs.csv",
                          f->input);
    return DN_OK;
}

/* Reads the keys, then opens the input and its parts. */
static int open_input(feed_t *f, dn_node_t *node, dn_err_t *err)
{
    int64_t delay;
    double settle_s;
    int rc;
    if ((rc = dn_node_int(node, "label_delay_runs", 0, INT32_MAX, &delay, err)) ||
        (rc = dn_node_double(node, "settle_s", 0, INFINITY, &settle_s, err)))
        return rc;
    f->input = dn_node_str(node, "input");
    f->watch = dn_node_bool(node, "watch");
    const char *key = dn_node_str(node, "key"), *labels = dn_node_str(node, "labels");
    const char *subsystem = dn_node_str(node, "subsystem");
    if (!f->input[0])
        return dn_err_set(err, DN_EINVAL, "no input: give input = a runs CSV, an .npz or a "
                          "directory of UHI JSON or ROOT run files");
    if (!key[0])
        return dn_err_set(err, DN_EINVAL, "key: give the histogram key to publish under");
    dn_input_kind_t kind;
    if ((rc = input_kind(f, &kind, err)))
        return rc;
    /* what fixes the log's content: the input and how it is published */
    snprintf(f->fingerprint, sizeof f->fingerprint,
             "input=%s key=%s subsystem=%s stream=%s labels=%s delay_runs=%d watch=%d",
             f->input, key, subsystem, dn_node_str(node, "stream"), labels, (int)delay,
             f->watch);
    int is_dir = kind == DN_INPUT_UHI_DIR;
    if (!(f->recorded = feed_recorded_new(is_dir ? labels : NULL, (int)delay, err)))
        return err->code;
    if (!is_dir)
        return (f->fixed = feed_fixed_open(f->input, key, subsystem, labels, err)) ? 0
                                                                                    : err->code;
    if (!(f->ledger = feed_ledger_new(dn_node_store(node))))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    return (f->dir = feed_dir_open(f->input, f->watch, settle_s, err)) ? 0 : err->code;
}

static int create(dn_node_t *node, void **self, dn_err_t *err)
{
    feed_t *f = calloc(1, sizeof *f);
    if (!(*self = f))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    const char *stream = dn_node_str(node, "stream");
    if (!stream[0])
        return dn_err_set(err, DN_EINVAL, "stream: give the stream a name");
    int rc = open_input(f, node, err);
    if (rc)
        return rc;
    dn_events_opts_t eo = {.service = "feed", .stream = stream, .fingerprint = f->fingerprint,
                           .own_label_rule = "the input labelled it"};
    if (!(f->ev = dn_events_open(node, &eo, on_label_request, err)))
        return err->code;
    char store[4096];
    if ((rc = dn_node_path(node, "feed", store, sizeof store, err)))
        return rc;
    dn_log(DN_LOG_INFO, "started: %s %s%s, stream %s, window %s, store %s",
           f->fixed ? "file" : "directory", f->input, f->watch ? " (watching)" : "", stream,
           dn_node_str(node, "window"), store);
    return 0;
}

static void destroy(void *self)
{
    feed_t *f = self;
    dn_events_destroy(&f->ev);
    feed_recorded_destroy(&f->recorded);
    feed_fixed_destroy(&f->fixed);
    feed_dir_destroy(&f->dir);
    feed_ledger_destroy(&f->ledger);
    free(f);
}

int main(int argc, char **argv)
{
    const dn_node_def_t def = {
        .name = "feed",
        .usage = "Publishes runs from a runs CSV, an .npz dataset or a directory of UHI JSON\n"
                 "or ROOT run files (followed with watch = true) as the events log, in place\n"
                 "of the generator.\n",
        .keys = keys, .n_keys = (int)(sizeof keys / sizeof *keys), .flags = DN_NODE_STORE,
        .create = create, .destroy = destroy, .round = round_work, .tick = tick, .stop = stop,
        .ckpt_magic = "DNFD", .ckpt_version = 2, .save = save, .load = load, .stage = stage,
        .committed = committed,
    };
    return dn_node_main(&def, argc, argv);
}
