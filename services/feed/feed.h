/* feed.h: the parts of the feed service, one file each, each owning its state:
 *
 *   feed.c      the service: configuration, the round, the checkpoint, the
 *               labels people send (the whole service, told in its prose);
 *   fixed.c     reading a fixed input (a runs CSV, an .npz dataset): its rows,
 *               in order, as runs;
 *   dir.c       watching a directory of run files (UHI JSON, ROOT): which
 *               files are complete (closed, renamed in, or settled), read,
 *               in run order;
 *   publish.c   publishing: what is left out of a run and why, the run into
 *               the events log, its record, its recorded label, the end;
 *   ledger.c    the tables feed.files, feed.runs, feed.keys: what was
 *               published, committed with the log entries;
 *   recorded.c  the labels that came with the input, published
 *               label_delay_runs runs after their run.
 *
 * Conventions as in lib/: int returns are 0 or a negative DN_E* code with
 * *err naming the problem; constructors return NULL on failure; destroy
 * functions accept NULL (and *self_p NULL) and null the pointer.
 * Thread rules: everything runs on the node's thread. Ownership: feed_t owns
 * its parts; a part borrows what it is handed for the length of a call
 * unless its prototype says otherwise. */
#ifndef FEED_H
#define FEED_H

#include <stdint.h>
#include <sys/types.h>

#include "bytes.h"
#include "dataset.h"
#include "error.h"
#include "events.h"
#include "node.h"
#include "runin.h"
#include "store.h"

/* ---- ledger.c: the tables of what was published (directory inputs) ------- */

typedef struct feed_ledger_t feed_ledger_t;

/* A directory file's record (feed.files). */
typedef struct feed_file_rec_t {
    off_t size;
    int64_t mtime_ns;
    int64_t run;       /* -1 when the file never gave a run */
    char status[16];   /* "published", "rejected", "duplicate" */
} feed_file_rec_t;

/* A ledger over store (borrowed). NULL when out of memory. */
feed_ledger_t *feed_ledger_new(dn_store_t *store);
void feed_ledger_destroy(feed_ledger_t **self_p);

/* The committed record of file `name`: 0 with *rec, DN_ENOTFOUND, DN_EFORMAT
 * (a damaged record, *err says which), DN_EIO, DN_ENOMEM. */
int feed_ledger_file(feed_ledger_t *self, const char *name, feed_file_rec_t *rec,
                     dn_err_t *err);

/* Whether run was published (committed): *out (found, run_seq, labelled =
 * the input labelled it) and, when by is given and found, its file's name
 * (caller frees). Returns 0, or DN_EFORMAT / DN_EIO / DN_ENOMEM with *err. */
int feed_ledger_run(feed_ledger_t *self, int64_t run, dn_events_run_t *out, char **by,
                    dn_err_t *err);

/* Record a file (status as feed_file_rec_t's) and a published run; staged
 * until the commit. Return 0 or DN_ENOMEM. */
int feed_ledger_put_file(feed_ledger_t *self, const char *name, const feed_file_rec_t *rec);
int feed_ledger_put_run(feed_ledger_t *self, int64_t run, uint64_t run_seq, int labelled,
                        const char *file);

/* Whether histogram h may be published under its key: the first binning
 * published under a key fixes it (recorded with that run). Returns 1, 0 with
 * the reason in why, or DN_ENOMEM / DN_EIO (with *err). */
int feed_ledger_binning(feed_ledger_t *self, const dn_histin_t *h, char *why, size_t cap,
                        dn_err_t *err);

/* Rows waiting for the commit: adds them to batch (0 or DN_ENOMEM); after the
 * batch was applied, committed forgets them. */
int feed_ledger_staged(const feed_ledger_t *self);
int feed_ledger_stage(const feed_ledger_t *self, dn_store_batch_t *batch);
void feed_ledger_committed(feed_ledger_t *self);

/* ---- recorded.c: labels that came with the input ---------------------------- */

typedef struct feed_recorded_t feed_recorded_t;

/* Recorded labels published delay_runs runs after their run; labels_path
 * (nullable) is a labels CSV for directory inputs (a fixed input applies its
 * own). Returns NULL with *err set (the file's error, DN_ENOMEM). */
feed_recorded_t *feed_recorded_new(const char *labels_path, int delay_runs, dn_err_t *err);
void feed_recorded_destroy(feed_recorded_t **self_p);

/* The labels file's verdict on run: 0 good, 1 bad, -1 none. */
int feed_recorded_lookup(const feed_recorded_t *self, int64_t run);

/* Queues the input's verdict (0 good, 1 bad) on the run just appended as
 * run_seq seq. Returns 0 or DN_ENOMEM. */
int feed_recorded_queue(feed_recorded_t *self, uint64_t seq, int64_t run, int verdict);

/* Appends the queued labels that are due (all of them when `all`) while the
 * log has room. Returns 0 or the producer's error. */
int feed_recorded_flush(feed_recorded_t *self, dn_events_t *ev, int all, dn_err_t *err);

/* Labels queued, not yet appended. */
int feed_recorded_waiting(const feed_recorded_t *self);

/* The queue, in the checkpoint. load: 0, DN_ENOMEM, DN_EFORMAT. */
void feed_recorded_save(const feed_recorded_t *self, dn_wbuf_t *w);
int feed_recorded_load(feed_recorded_t *self, dn_rbuf_t *r, dn_err_t *err);

/* ---- fixed.c: a runs CSV or an .npz dataset ------------------------------------- */

typedef struct feed_fixed_t feed_fixed_t;

/* Reads the input whole (warnings about left-out rows logged and counted);
 * its histogram is published under key and subsystem (borrowed: they outlive
 * it). NULL with *err set. */
feed_fixed_t *feed_fixed_open(const char *path, const char *key, const char *subsystem,
                              const char *labels_path, dn_err_t *err);
void feed_fixed_destroy(feed_fixed_t **self_p);

/* The next row as a run borrowing the dataset (*h holds its histogram):
 * 1, or 0 when every row is out. */
int feed_fixed_next(const feed_fixed_t *self, dn_runin_t *run, dn_histin_t *h);
void feed_fixed_advance(feed_fixed_t *self);

/* The run number of the last row (-1: no rows). */
int64_t feed_fixed_last_run(const feed_fixed_t *self);

/* Run lookup among the rows out (run_seq = row; labelled when the input
 * labelled it). */
dn_events_run_t feed_fixed_find(const feed_fixed_t *self, int64_t run);

/* Rows left out of the input while reading it (logged). */
uint64_t feed_fixed_left_out(const feed_fixed_t *self);

/* The next row, in the checkpoint. load: 0 or DN_EFORMAT (beyond the input). */
void feed_fixed_save(const feed_fixed_t *self, dn_wbuf_t *w);
int feed_fixed_load(feed_fixed_t *self, dn_rbuf_t *r, dn_err_t *err);

/* ---- dir.c: a directory of run files (UHI JSON, ROOT) ------------------------------ */

typedef struct feed_dir_t feed_dir_t;

/* A complete file of the directory, parsed. */
typedef struct feed_file_t {
    dn_runin_t *run;       /* owned: feed_dir_files_free */
    const char *name;      /* its name in the directory (valid until the commit) */
    feed_file_rec_t stat;  /* size and mtime as read (run -1, status "") */
    int cand;              /* the directory's own index of it */
} feed_file_t;

/* The directory at path, read once or (watch) followed with inotify, set up
 * before the first scan so that nothing written in between is missed. A file
 * that does not parse is retried until settle_s seconds old. NULL with *err. */
feed_dir_t *feed_dir_open(const char *path, int watch, double settle_s, dn_err_t *err);
void feed_dir_destroy(feed_dir_t **self_p);

/* Up to max complete files, parsed, in run-number order (then name). Files
 * already in the ledger leave (a changed one is reported); files that never
 * parse are rejected into the ledger once settle_s old, and counted. Returns
 * 0 with *n set, or DN_EIO / DN_ENOMEM with *err. */
int feed_dir_collect(feed_dir_t *self, feed_ledger_t *ledger, feed_file_t *out, int max,
                     int *n, dn_err_t *err);

/* The file was published or rejected: it leaves the directory's files at the
 * commit (feed_dir_committed). */
void feed_dir_settle(feed_dir_t *self, const feed_file_t *file);
void feed_dir_committed(feed_dir_t *self);

/* Frees the runs of files[0..n). */
void feed_dir_files_free(feed_file_t *files, int n);

/* Files seen and not yet published or rejected; files rejected as unparsable. */
int feed_dir_waiting(const feed_dir_t *self);
uint64_t feed_dir_rejected(const feed_dir_t *self);

/* ---- the service's state (feed.c), publishing (publish.c) ------------------------- */

typedef struct feed_t {
    /* configuration (strings are the node's) */
    const char *input;
    int watch;
    char fingerprint[16384];
    /* parts */
    dn_events_t *ev;
    feed_recorded_t *recorded;
    feed_fixed_t *fixed;      /* a runs CSV or .npz, or */
    feed_dir_t *dir;          /* a directory, with */
    feed_ledger_t *ledger;    /* its records */
    /* left out while publishing (logged) */
    uint64_t files_rejected, hists_rejected, duplicates;
} feed_t;

/* Publishes what the input has ready and room allows, then the end of a
 * finite input. Returns 1 when more is ready at once, 0, or an error. */
int feed_publish(feed_t *f, dn_err_t *err);

#endif
