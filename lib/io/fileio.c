/* fileio.c: atomic output files (temporary file + fsync + rename), mkdir -p and
 * whole-file reads (see fileio.h).
 *
 * Invariants: while a dn_outfile_t is open its temporary file exists and the
 * final path has not been touched; the temporary name is created with O_EXCL,
 * so two writers never share one, even across processes (the pid is in the
 * name) and threads (an atomic counter is). Every exit path of commit either
 * renamed the file or removed it. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct dn_outfile_t {
    FILE *stream;
    char *path;     /* final path */
    char *tmp_path; /* NULL for stdout */
};

static atomic_uint_fast64_t tmp_counter;

/* Length of the directory part of `path` including its trailing '/', 0 when
 * there is none. */
static size_t dir_prefix_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) + 1 : 0;
}

dn_outfile_t *dn_outfile_open(const char *path, dn_err_t *err)
{
    dn_outfile_t *self = NULL;
    int fd = -1;
    if (!path || !*path) {
        dn_err_set(err, DN_EINVAL, "output path is empty");
        return NULL;
    }
    self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(path)))
        goto nomem;
    if (strcmp(path, "-") == 0) {
        self->stream = stdout;
        return self;
    }
    size_t dlen = dir_prefix_len(path);
    const char *base = path + dlen;
    if (!*base) {
        dn_err_set(err, DN_EINVAL, "output path %s names a directory", path);
        goto fail;
    }
    size_t cap = strlen(path) + 64;
    self->tmp_path = malloc(cap);
    if (!self->tmp_path)
        goto nomem;
    for (int attempt = 0;; attempt++) {
        uint64_t n = atomic_fetch_add(&tmp_counter, 1);
        snprintf(self->tmp_path, cap, "%.*s.%s.%ld.%llu.tmp", (int)dlen, path, base,
                 (long)getpid(), (unsigned long long)n);
        fd = open(self->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            break;
        if (errno != EEXIST || attempt >= 100) {
            dn_err_set(err, DN_EIO, "cannot create %s: %s", self->tmp_path,
                       strerror(errno));
            free(self->tmp_path);
            self->tmp_path = NULL; /* nothing to remove */
            goto fail;
        }
    }
    self->stream = fdopen(fd, "w");
    if (!self->stream) {
        dn_err_set(err, DN_EIO, "cannot open %s: %s", self->tmp_path, strerror(errno));
        close(fd);
        unlink(self->tmp_path);
        free(self->tmp_path);
        self->tmp_path = NULL;
        goto fail;
    }
    /* Datasets are written field by field: a large buffer keeps that cheap. */
    setvbuf(self->stream, NULL, _IOFBF, 1 << 16);
    return self;
nomem:
    dn_err_set(err, DN_ENOMEM, "out of memory opening %s", path);
fail:
    dn_outfile_abort(&self);
    return NULL;
}

FILE *dn_outfile_stream(dn_outfile_t *self)
{
    return self ? self->stream : NULL;
}

static void fsync_parent_dir(const char *path)
{
    size_t dlen = dir_prefix_len(path);
    char *dir = dlen ? strndup(path, dlen) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: the rename itself already happened */
        close(fd);
    }
    free(dir);
}

static void outfile_free(dn_outfile_t *self)
{
    free(self->path);
    free(self->tmp_path);
    free(self);
}

static int commit(dn_outfile_t **self_p, int sync, dn_err_t *err)
{
    if (!self_p || !*self_p)
        return dn_err_set(err, DN_EINVAL, "no output file to commit");
    dn_outfile_t *self = *self_p;
    *self_p = NULL;
    int rc = DN_OK;
    if (!self->tmp_path) { /* stdout */
        errno = 0;
        if (fflush(self->stream) != 0 || ferror(self->stream))
            rc = dn_err_set(err, DN_EIO, "error writing standard output: %s",
                            errno ? strerror(errno) : "write error");
        outfile_free(self);
        return rc;
    }
    FILE *f = self->stream;
    self->stream = NULL;
    errno = 0;
    if (fflush(f) != 0 || ferror(f)) {
        /* an error from an earlier buffered write may have left errno at 0 */
        rc = dn_err_set(err, DN_EIO, "error writing %s: %s", self->tmp_path,
                        errno ? strerror(errno) : "write error");
        fclose(f);
        goto fail;
    }
    if (sync && fsync(fileno(f)) != 0) {
        rc = dn_err_set(err, DN_EIO, "cannot sync %s: %s", self->tmp_path, strerror(errno));
        fclose(f);
        goto fail;
    }
    if (fclose(f) != 0) {
        rc = dn_err_set(err, DN_EIO, "cannot close %s: %s", self->tmp_path,
                        strerror(errno));
        goto fail;
    }
    if (rename(self->tmp_path, self->path) != 0) {
        rc = dn_err_set(err, DN_EIO, "cannot rename %s to %s: %s", self->tmp_path,
                        self->path, strerror(errno));
        goto fail;
    }
    if (sync)
        fsync_parent_dir(self->path);
    outfile_free(self);
    return DN_OK;
fail:
    unlink(self->tmp_path);
    outfile_free(self);
    return rc;
}

int dn_outfile_commit(dn_outfile_t **self_p, dn_err_t *err)
{
    return commit(self_p, 1, err);
}

int dn_outfile_commit_unsynced(dn_outfile_t **self_p, dn_err_t *err)
{
    return commit(self_p, 0, err);
}

int dn_sync_fs(const char *dir, dn_err_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return dn_err_set(err, DN_EIO, "cannot open %s: %s", dir, strerror(errno));
    int rc = syncfs(fd) ? dn_err_set(err, DN_EIO, "cannot sync %s: %s", dir, strerror(errno))
                        : DN_OK;
    close(fd);
    return rc;
}

void dn_outfile_abort(dn_outfile_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_outfile_t *self = *self_p;
    if (self->tmp_path) {
        if (self->stream)
            fclose(self->stream);
        unlink(self->tmp_path);
    }
    /* stdout stays open: it is not ours to close */
    outfile_free(self);
    *self_p = NULL;
}

int dn_mkdirs(const char *path, dn_err_t *err)
{
    if (!path || !*path)
        return dn_err_set(err, DN_EINVAL, "directory path is empty");
    char *buf = strdup(path);
    if (!buf)
        return dn_err_set(err, DN_ENOMEM, "out of memory creating directory %s", path);
    int rc = DN_OK;
    size_t n = strlen(buf);
    /* Create each prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= n; i++) {
        if (i < n && buf[i] != '/')
            continue;
        if (i < n && buf[i - 1] == '/')
            continue; /* "a//b": the empty component is nothing to create */
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            rc = dn_err_set(err, DN_EIO, "cannot create directory %s: %s", buf,
                            strerror(errno));
            goto done;
        }
        struct stat st;
        if (stat(buf, &st) != 0) {
            rc = dn_err_set(err, DN_EIO, "cannot create directory %s: %s", buf,
                            strerror(errno));
            goto done;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc = dn_err_set(err, DN_EIO, "cannot create directory %s: %s", buf,
                            strerror(ENOTDIR));
            goto done;
        }
        buf[i] = saved;
    }
done:
    free(buf);
    return rc;
}

int dn_read_file(const char *path, char **buf_out, size_t *len_out, dn_err_t *err)
{
    int rc = DN_OK;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    *buf_out = NULL;
    if (len_out)
        *len_out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dn_err_set(err, DN_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = dn_err_set(err, DN_EIO, "cannot stat %s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = dn_err_set(err, DN_EIO, "cannot read %s: %s", path, strerror(EISDIR));
        goto fail;
    }
    /* Regular files are read in one go (+1 to see end of file without a
     * regrow); anything else grows geometrically. */
    cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    buf = malloc(cap + 1);
    if (!buf)
        goto nomem;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap * 2;
            char *nb = ncap > cap ? realloc(buf, ncap + 1) : NULL;
            if (!nb)
                goto nomem;
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = dn_err_set(err, DN_EIO, "cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    *buf_out = buf;
    if (len_out)
        *len_out = len;
    return DN_OK;
nomem:
    rc = dn_err_set(err, DN_ENOMEM, "out of memory reading %s", path);
fail:
    close(fd);
    free(buf);
    return rc;
}
