/* figkeep.c: the newest figure sets kept on disk (figkeep.h).
 *
 * A ring of the kept sets' base paths, oldest at head. Invariant: count <=
 * keep when keep > 0. Eviction unlinks the four files of a set (a missing
 * one is fine: a failed drawing leaves fewer) and then tries rmdir on its
 * directory, which fails harmlessly while other sets of that run remain. */
#include "figkeep.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dn_figkeep_t {
    int keep;
    char **ring; /* [cap] */
    int cap, head, count;
    long long evicted;
};

static const char *const suffix[4] = {".png", ".svg", "_history.png", "_history.svg"};

/* A set's base path: within PATH_MAX, so that base + suffix fits evict's buffer. */
#define BASE_MAX 4096

static int evict(dn_figkeep_t *self, dn_err_t *err)
{
    char *base = self->ring[self->head];
    self->ring[self->head] = NULL;
    self->head = (self->head + 1) % self->cap;
    self->count--;
    self->evicted++;
    int rc = DN_OK;
    char path[BASE_MAX + 16];
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s%s", base, suffix[k]);
        if (unlink(path) && errno != ENOENT && !rc)
            rc = dn_err_set(err, DN_EIO, "cannot delete old figure %s: %s", path,
                            strerror(errno));
    }
    char *slash = strrchr(base, '/');
    if (slash) {
        *slash = 0;
        rmdir(base); /* only when empty: other sets of the run may remain */
    }
    free(base);
    return rc;
}

static int grow(dn_figkeep_t *self)
{
    int cap = self->cap ? 2 * self->cap : 64;
    if (self->keep > 0 && cap > self->keep)
        cap = self->keep;
    char **ring = calloc((size_t)cap, sizeof *ring);
    if (!ring)
        return DN_ENOMEM;
    for (int i = 0; i < self->count; i++)
        ring[i] = self->ring[(self->head + i) % self->cap];
    free(self->ring);
    self->ring = ring;
    self->cap = cap;
    self->head = 0;
    return DN_OK;
}

int dn_figkeep_add(dn_figkeep_t *self, const char *base, dn_err_t *err)
{
    if (strlen(base) > BASE_MAX)
        return dn_err_set(err, DN_EINVAL, "figure set path too long (%zu bytes): %.80s...",
                          strlen(base), base);
    int rc = DN_OK;
    if (self->keep > 0)
        while (self->count >= self->keep) {
            int e = evict(self, err);
            rc = rc ? rc : e;
        }
    if (self->count == self->cap && grow(self))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    char *copy = strdup(base);
    if (!copy)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    self->ring[(self->head + self->count) % self->cap] = copy;
    self->count++;
    return rc;
}

typedef struct found_t {
    long long run;
    char *base;
} found_t;

static int by_run(const void *a, const void *b)
{
    const found_t *x = a, *y = b;
    if (x->run != y->run)
        return x->run < y->run ? -1 : 1;
    return strcmp(x->base, y->base);
}

/* Appends the sets in directory dir (run number run) to *found. */
static int scan_run(const char *dir, long long run, found_t **found, int *n, int *cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return DN_OK; /* vanished or not a directory: nothing of ours */
    int rc = DN_OK;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".png") ||
            (len > 12 && !strcmp(e->d_name + len - 12, "_history.png")))
            continue;
        if (*n == *cap) {
            int c = *cap ? 2 * *cap : 64;
            found_t *p = realloc(*found, (size_t)c * sizeof *p);
            if (!p) {
                rc = DN_ENOMEM;
                break;
            }
            *found = p;
            *cap = c;
        }
        char *base = malloc(strlen(dir) + len + 2);
        if (!base) {
            rc = DN_ENOMEM;
            break;
        }
        sprintf(base, "%s/%.*s", dir, (int)(len - 4), e->d_name);
        (*found)[(*n)++] = (found_t){run, base};
    }
    closedir(d);
    return rc;
}

dn_figkeep_t *dn_figkeep_new(const char *runs_dir, int keep, dn_err_t *err)
{
    if (keep < 0 || !runs_dir) {
        dn_err_set(err, DN_EINVAL, "figures kept: %d, want >= 0", keep);
        return NULL;
    }
    dn_figkeep_t *self = calloc(1, sizeof *self);
    found_t *found = NULL;
    int n = 0, cap = 0, rc = DN_OK;
    if (!self) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        goto done;
    }
    self->keep = keep;
    DIR *d = opendir(runs_dir);
    if (!d && errno != ENOENT) {
        rc = dn_err_set(err, DN_EIO, "%s: %s", runs_dir, strerror(errno));
        goto done;
    }
    for (struct dirent *e; d && !rc && (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, "run_", 4))
            continue;
        long long run = strtoll(e->d_name + 4, &end, 10);
        if (end == e->d_name + 4 || *end)
            continue;
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", runs_dir, e->d_name);
        rc = scan_run(dir, run, &found, &n, &cap);
    }
    if (d)
        closedir(d);
    if (rc) {
        dn_err_set(err, rc, "out of memory");
        goto done;
    }
    if (n)
        qsort(found, (size_t)n, sizeof *found, by_run);
    for (int i = 0; i < n && !rc; i++) {
        rc = dn_figkeep_add(self, found[i].base, err);
        if (rc == DN_EIO)
            rc = DN_OK; /* an old file that cannot be deleted stays; not worth not starting */
    }
done:
    for (int i = 0; i < n; i++)
        free(found[i].base);
    free(found);
    if (rc)
        dn_figkeep_destroy(&self);
    return self;
}

void dn_figkeep_destroy(dn_figkeep_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_figkeep_t *self = *self_p;
    for (int i = 0; i < self->count; i++)
        free(self->ring[(self->head + i) % self->cap]);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

int dn_figkeep_count(const dn_figkeep_t *self) { return self->count; }

long long dn_figkeep_evicted(const dn_figkeep_t *self) { return self->evicted; }
