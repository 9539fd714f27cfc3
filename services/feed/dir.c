/* dir.c: a directory of run files, one run per file, as the feed's input:
 * which of its files are complete, read in run order. A run file is a UHI
 * JSON document (*.json, uhi.h) or a ROOT file (*.root, rootrun.h: every
 * TH1/TH2 of the file, named by rootname.h); both follow the same rules here.
 *
 * Every run file (not hidden) seen, by the first scan or, with `watch`, by
 * an inotify event, is a candidate until it is published or rejected. A
 * candidate is complete when it was closed after writing, renamed in, or
 * found by the scan, and has not changed since it was last looked at; or when
 * it has been quiet for settle_s. A complete file that does not parse is
 * retried (it may still be being written) until it is settle_s old, then
 * rejected into the ledger. A file the ledger already knows leaves the
 * candidates at once (reported when it changed after it was recorded).
 *
 * Partly written files: a JSON document cut short does not parse; a ROOT
 * file does not open until ROOT closes it (ROOT writes the keys list, the
 * top directory's record and the header last), so both are retried until
 * settle_s. A writer that saves a ROOT file part-way (TFile::Write before
 * Close) makes a file that opens with what it holds so far: such writers
 * must write under another name (not *.root, or hidden) and rename the
 * file in, the convention for both kinds (docs/inputs.md).
 *
 * Candidates are found by name in a keytab (an inotify event per write of
 * every file must not scan them all) and kept in no order; each round sorts
 * their indices by the run number in the name (cached), then the name. A
 * candidate leaves by being marked: gone (deleted, already known) at the next
 * round, settled (published or rejected, a ledger row staged) at the commit,
 * so indices handed out stay valid through the round. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "feed.h"
#include "keytab.h"
#include "log.h"
#include "rootrun.h"
#include "uhi.h"

enum { CAND_WAITING = 0, CAND_GONE, CAND_SETTLED };

typedef struct cand_t {
    off_t size;        /* as last looked at */
    int64_t mtime_ns;
    int closed;        /* written and closed, renamed in, or found by the scan */
    int has_run;       /* the name holds a run number */
    int64_t run;       /* the name's run number */
    int state;         /* CAND_* */
} cand_t;

struct feed_dir_t {
    char *path;
    int watch;
    double settle_s;
    int ino_fd;        /* -1 without watch */
    dn_keytab_t *names; /* name -> index into cand */
    cand_t *cand;
    int cap_cand;
    uint64_t rejected;
};

static int n_cand(const feed_dir_t *self)
{
    return dn_keytab_count(self->names);
}

/* ---- candidates -------------------------------------------------------------------- */

static int ends_with(const char *name, const char *ext)
{
    size_t n = strlen(name), m = strlen(ext);
    return n > m && !strcmp(name + n - m, ext);
}

/* Hidden files are being written; meta.json is what a dataset directory
 * (dinamo generate --format root) keeps beside its runs, as input.c skips it. */
static int is_run_file(const char *name)
{
    return name[0] != '.' && strcmp(name, "meta.json") &&
           (ends_with(name, ".json") || ends_with(name, ".root"));
}

/* The run of the file at path, read by its kind. */
static int read_run_file(const char *path, dn_runin_t **out, dn_err_t *err)
{
    if (ends_with(path, ".root"))
        return dn_root_run_read(path, NULL, out, err);
    return dn_uhi_read_file(path, out, err);
}

/* Notes a file of the directory (from the scan or an inotify event). */
static int cand_note(feed_dir_t *self, const char *name, int closed)
{
    if (!is_run_file(name))
        return DN_OK;
    int i = dn_keytab_find(self->names, name);
    if (i >= 0 && self->cand[i].state == CAND_GONE)
        self->cand[i] = (cand_t){.has_run = self->cand[i].has_run, .run = self->cand[i].run};
    if (i < 0) {
        if (n_cand(self) == self->cap_cand) {
            int cap = self->cap_cand ? 2 * self->cap_cand : 64;
            cand_t *p = realloc(self->cand, (size_t)cap * sizeof *p);
            if (!p)
                return DN_ENOMEM;
            self->cand = p;
            self->cap_cand = cap;
        }
        if ((i = dn_keytab_add(self->names, name)) < 0)
            return i;
        cand_t *c = &self->cand[i];
        *c = (cand_t){0};
        c->has_run = dn_run_number_from_name(name, &c->run) == DN_OK;
    }
    self->cand[i].closed |= closed;
    return DN_OK;
}

/* Removes the candidates marked `state` (and gone ones), moving the last
 * into each freed index as the keytab does. */
static void sweep(feed_dir_t *self, int state)
{
    for (int i = n_cand(self) - 1; i >= 0; i--) {
        if (self->cand[i].state != CAND_GONE && self->cand[i].state != state)
            continue;
        int moved = dn_keytab_remove(self->names, i);
        if (moved != i)
            self->cand[i] = self->cand[moved];
    }
}

static int scan(feed_dir_t *self, dn_err_t *err)
{
    DIR *d = opendir(self->path);
    if (!d)
        return dn_err_set(err, DN_EIO, "%s: %s", self->path, strerror(errno));
    int rc = DN_OK;
    for (struct dirent *e; !rc && (e = readdir(d));)
        rc = cand_note(self, e->d_name, 1);
    closedir(d);
    return rc ? dn_err_set(err, rc, "out of memory") : DN_OK;
}

static int read_inotify(feed_dir_t *self, dn_err_t *err)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(self->ino_fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return DN_OK;
        if (n <= 0)
            return dn_err_set(err, DN_EIO, "inotify: %s", n < 0 ? strerror(errno) : "closed");
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            int rc = DN_OK;
            if (ev->mask & IN_Q_OVERFLOW) {
                dn_log(DN_LOG_WARN, "inotify queue overflow: rescanning %s", self->path);
                rc = scan(self, err);
            } else if (ev->len &&
                       (rc = cand_note(self, ev->name,
                                       (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) != 0))) {
                rc = dn_err_set(err, rc, "out of memory");
            }
            if (rc)
                return rc;
            p += sizeof *ev + ev->len;
        }
    }
}

feed_dir_t *feed_dir_open(const char *path, int watch, double settle_s, dn_err_t *err)
{
    feed_dir_t *self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(path)) || !(self->names = dn_keytab_new())) {
        dn_err_set(err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    self->watch = watch;
    self->settle_s = settle_s;
    self->ino_fd = -1;
    if (watch) { /* watch before the scan, so nothing written in between is missed */
        self->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (self->ino_fd < 0 ||
            inotify_add_watch(self->ino_fd, path,
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY) < 0) {
            dn_err_set(err, DN_EIO, "inotify on %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (scan(self, err))
        goto fail;
    return self;
fail:
    feed_dir_destroy(&self);
    return NULL;
}

void feed_dir_destroy(feed_dir_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    feed_dir_t *self = *self_p;
    if (self->ino_fd >= 0)
        close(self->ino_fd);
    dn_keytab_destroy(&self->names);
    free(self->cand);
    free(self->path);
    free(self);
    *self_p = NULL;
}

/* ---- collecting complete files --------------------------------------------------- */

/* Candidates in the order runs are expected: the run number of the file name
 * (files without one last), then the name. */
typedef struct order_t {
    const feed_dir_t *dir;
    int i;
} order_t;

static int cmp_order(const void *a, const void *b)
{
    const order_t *x = a, *y = b;
    const cand_t *cx = &x->dir->cand[x->i], *cy = &y->dir->cand[y->i];
    if (cx->has_run != cy->has_run)
        return cy->has_run - cx->has_run;
    if (cx->has_run && cx->run != cy->run)
        return (cx->run > cy->run) - (cx->run < cy->run);
    return strcmp(dn_keytab_key(x->dir->names, x->i), dn_keytab_key(y->dir->names, y->i));
}

static int cmp_file(const void *a, const void *b)
{
    const feed_file_t *x = a, *y = b;
    if (x->run->run_number != y->run->run_number)
        return (x->run->run_number > y->run->run_number) -
               (x->run->run_number < y->run->run_number);
    return strcmp(x->run->source, y->run->source);
}

/* The ledger knows the file: it leaves (reported when changed since). */
static void known(feed_dir_t *self, int i, const char *path, const feed_file_rec_t *now,
                  const feed_file_rec_t *rec)
{
    if (rec->size != now->size || rec->mtime_ns != now->mtime_ns)
        dn_log(DN_LOG_WARN, "%s: changed after it was %s (run %lld); the change is ignored",
               path, rec->status, (long long)rec->run);
    self->cand[i].state = CAND_GONE;
}

/* A complete file that does not parse: retried while younger than settle_s,
 * then rejected into the ledger. */
static int unparsable(feed_dir_t *self, feed_ledger_t *ledger, int i, double age,
                      const feed_file_rec_t *now, const dn_err_t *why, dn_err_t *err)
{
    if (age < self->settle_s) { /* maybe still being written */
        self->cand[i].closed = 0;
        return DN_OK;
    }
    dn_log(DN_LOG_WARN, "%s; file rejected", why->msg);
    self->rejected++;
    feed_file_rec_t rec = *now;
    rec.run = -1;
    snprintf(rec.status, sizeof rec.status, "rejected");
    if (feed_ledger_put_file(ledger, dn_keytab_key(self->names, i), &rec))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    self->cand[i].state = CAND_SETTLED;
    return DN_OK;
}

/* Looks at candidate i: *out set (out->run non-NULL) when it is complete and
 * parsed. Returns 0 or an error. */
static int look_at(feed_dir_t *self, feed_ledger_t *ledger, int i, double now,
                   feed_file_t *out, dn_err_t *err)
{
    cand_t *c = &self->cand[i];
    const char *name = dn_keytab_key(self->names, i);
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", self->path, name);
    struct stat st;
    if (stat(path, &st) != 0) { /* gone (renamed away, deleted) */
        c->state = CAND_GONE;
        return DN_OK;
    }
    feed_file_rec_t seen = {.size = st.st_size, .run = -1,
                            .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
                                        st.st_mtim.tv_nsec};
    feed_file_rec_t rec;
    int rc = feed_ledger_file(ledger, name, &rec, err);
    if (rc == DN_OK) {
        known(self, i, path, &seen, &rec);
        return DN_OK;
    }
    if (rc != DN_ENOTFOUND)
        return rc;
    int changed = c->size != seen.size || c->mtime_ns != seen.mtime_ns;
    c->size = seen.size;
    c->mtime_ns = seen.mtime_ns;
    double age = now - (double)st.st_mtim.tv_sec - 1e-9 * (double)st.st_mtim.tv_nsec;
    if (changed || (!c->closed && age < self->settle_s))
        return DN_OK; /* not complete yet */
    dn_err_t ferr = {0};
    dn_runin_t *r = NULL;
    rc = read_run_file(path, &r, &ferr);
    if (rc == DN_ENOMEM)
        return dn_err_set(err, rc, "%s", ferr.msg);
    if (rc)
        return unparsable(self, ledger, i, age, &seen, &ferr, err);
    *out = (feed_file_t){.run = r, .name = name, .stat = seen, .cand = i};
    return DN_OK;
}

int feed_dir_collect(feed_dir_t *self, feed_ledger_t *ledger, feed_file_t *out, int max,
                     int *n, dn_err_t *err)
{
    *n = 0;
    sweep(self, CAND_GONE);
    int rc = self->ino_fd >= 0 ? read_inotify(self, err) : DN_OK;
    if (rc)
        return rc;
    const int count = n_cand(self);
    order_t *order = malloc(((size_t)count + 1) * sizeof *order);
    if (!order)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int m = 0;
    for (int i = 0; i < count; i++)
        if (self->cand[i].state == CAND_WAITING)
            order[m++] = (order_t){self, i};
    qsort(order, (size_t)m, sizeof *order, cmp_order);
    double now = dn_clock_wall();
    for (int k = 0; k < m && *n < max && !rc; k++) {
        out[*n].run = NULL;
        rc = look_at(self, ledger, order[k].i, now, &out[*n], err);
        if (!rc && out[*n].run)
            (*n)++;
    }
    free(order);
    if (rc) {
        feed_dir_files_free(out, *n);
        *n = 0;
        return rc;
    }
    qsort(out, (size_t)*n, sizeof *out, cmp_file);
    return DN_OK;
}

void feed_dir_settle(feed_dir_t *self, const feed_file_t *file)
{
    self->cand[file->cand].state = CAND_SETTLED;
}

void feed_dir_committed(feed_dir_t *self)
{
    sweep(self, CAND_SETTLED);
}

void feed_dir_files_free(feed_file_t *files, int n)
{
    for (int k = 0; k < n; k++)
        dn_runin_destroy(&files[k].run);
}

int feed_dir_waiting(const feed_dir_t *self)
{
    int w = 0;
    for (int i = 0; i < n_cand(self); i++)
        w += self->cand[i].state == CAND_WAITING;
    return w;
}

uint64_t feed_dir_rejected(const feed_dir_t *self)
{
    return self->rejected;
}
