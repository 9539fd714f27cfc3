/* rootfile.c: the ROOT file container: header, directories, keys, payloads
 * (rootfile.h).
 *
 * The file is read with pread (or from memory) piece by piece: the header,
 * each directory's keys list in one read, and a key's stored bytes when its
 * payload is asked for. Every offset and length from the file passes
 * fits() against the file's size before it is used, and every record is
 * decoded through a bounded dn_root_rbuf_t, so a hostile file can make a read
 * fail but never make it go outside what was read. Directory loops (a keys
 * list reached twice) and nesting deeper than DN_ROOT_MAX_DEPTH are refused.
 *
 * Invariants: keys[] holds the listed keys in file order, directories depth
 * first; paths[] (a keytab) maps each path to its first index. */
#include "rootfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keytab.h"
#include "rootbuf.h"
#include "rootzip.h"

/* The smallest key header: 4 + 2 + 4 + 4 + 2 + 2 + 4 + 4 and three empty
 * strings. */
#define KEY_MIN 29
/* A directory record (TDirectory streamer): version, two dates, two counts,
 * three offsets of 4 bytes (8 when the version is above 1000). */
#define DIR_MIN 30

struct dn_root_file_t {
    char *name;
    int fd;                   /* -1 when reading from memory */
    const unsigned char *mem;
    uint64_t size;
    int version;
    int compress;
    uint64_t begin, end;
    dn_root_key_t *keys;
    int n_keys, cap_keys;
    dn_keytab_t *paths;       /* path -> dense index */
    int *path_key;            /* dense index -> index in keys */
    char **problems;
    int n_problems, cap_problems;
    uint64_t *walked;         /* hash set of the keys lists read: loop guard */
    size_t n_walked, cap_walked; /* cap a power of two, at most half full */
};

/* A key header as decoded: strings point into the buffer it was read from. */
typedef struct {
    int32_t nbytes;
    int version;
    uint32_t objlen;
    int keylen;
    int cycle;
    int64_t seek;
    const char *cls, *name, *title;
    size_t cls_n, name_n, title_n;
} keyhdr_t;

/* ---- reading bytes ------------------------------------------------------------ */

static int fits(const dn_root_file_t *f, uint64_t off, uint64_t len)
{
    return off <= f->size && len <= f->size - off;
}

static int read_at(dn_root_file_t *f, uint64_t off, size_t len, unsigned char *buf,
                   const char *what, dn_err_t *err)
{
    if (!fits(f, off, len))
        return dn_err_set(err, DN_EFORMAT, "%s: %zu bytes at offset %llu lie beyond the end of "
                          "the file (%llu bytes; truncated?)", what, len,
                          (unsigned long long)off, (unsigned long long)f->size);
    if (f->fd < 0) {
        if (len)
            memcpy(buf, f->mem + off, len);
        return DN_OK;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return dn_err_set(err, DN_EIO, "%s: reading %zu bytes at offset %llu: %s", what,
                              len, (unsigned long long)off,
                              n < 0 ? strerror(errno) : "the file shrank");
        done += (size_t)n;
    }
    return DN_OK;
}

/* A new buffer of the len bytes at off (len may be 0). */
static int read_new(dn_root_file_t *f, uint64_t off, size_t len, unsigned char **out,
                    const char *what, dn_err_t *err)
{
    *out = NULL;
    if (!fits(f, off, len))
        return read_at(f, off, len, NULL, what, err); /* names the problem */
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory for %zu bytes", what, len);
    int rc = read_at(f, off, len, buf, what, err);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return DN_OK;
}

/* ---- records ------------------------------------------------------------------------- */

static int parse_key(dn_root_rbuf_t *b, keyhdr_t *k)
{
    k->nbytes = dn_root_rbuf_i32(b);
    k->version = dn_root_rbuf_i16(b);
    k->objlen = dn_root_rbuf_u32(b);
    (void)dn_root_rbuf_u32(b); /* fDatime */
    k->keylen = dn_root_rbuf_u16(b);
    k->cycle = dn_root_rbuf_u16(b);
    if (k->version > 1000) {
        k->seek = dn_root_rbuf_i64(b);
        (void)dn_root_rbuf_i64(b); /* fSeekPdir */
    } else {
        k->seek = dn_root_rbuf_u32(b);
        (void)dn_root_rbuf_u32(b);
    }
    dn_root_rbuf_tstring(b, &k->cls, &k->cls_n);
    dn_root_rbuf_tstring(b, &k->name, &k->name_n);
    dn_root_rbuf_tstring(b, &k->title, &k->title_n);
    return b->failed ? DN_EFORMAT : DN_OK;
}

/* The key's numbers agree with each other and with the file. */
static int check_key(const dn_root_file_t *f, const keyhdr_t *k, char *why, size_t cap)
{
    if (k->keylen < KEY_MIN || k->nbytes < k->keylen)
        snprintf(why, cap, "key length %d and record length %d do not fit", k->keylen,
                 (int)k->nbytes);
    else if (k->seek < 0 || !fits(f, (uint64_t)k->seek, (uint64_t)k->nbytes))
        snprintf(why, cap, "its %d bytes at offset %lld lie beyond the end of the file (%llu "
                 "bytes; truncated?)", (int)k->nbytes, (long long)k->seek,
                 (unsigned long long)f->size);
    else
        return DN_OK;
    return DN_EFORMAT;
}

typedef struct {
    int version;
    uint32_t nbytes_keys;
    uint64_t seek_keys;
} dirrec_t;

static int parse_dir(const unsigned char *p, size_t len, dirrec_t *d, char *why, size_t cap)
{
    dn_root_rbuf_t b;
    dn_root_rbuf_init(&b, p, len);
    d->version = dn_root_rbuf_i16(&b);
    (void)dn_root_rbuf_u32(&b); /* fDatimeC */
    (void)dn_root_rbuf_u32(&b); /* fDatimeM */
    d->nbytes_keys = dn_root_rbuf_u32(&b);
    (void)dn_root_rbuf_u32(&b); /* fNbytesName */
    int wide = d->version > 1000;
    for (int k = 0; k < 2; k++) /* fSeekDir, fSeekParent */
        (void)(wide ? dn_root_rbuf_u64(&b) : dn_root_rbuf_u32(&b));
    d->seek_keys = wide ? dn_root_rbuf_u64(&b) : dn_root_rbuf_u32(&b);
    if (b.failed) {
        snprintf(why, cap, "directory record: %s", b.why);
        return DN_EFORMAT;
    }
    return DN_OK;
}

/* ---- the key list -------------------------------------------------------------------- */

static void key_free(dn_root_key_t *k)
{
    free(k->path);
    free(k->dir);
    free(k->name);
    free(k->class_name);
    free(k->title);
}

static char *dup_n(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        if (n)
            memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + (a ? a + 1 : 0), name, b + 1);
    }
    return p;
}

/* Fills a dn_root_key_t (new strings) from a decoded header. */
static int key_make(const keyhdr_t *h, const char *dir, dn_root_key_t *k)
{
    memset(k, 0, sizeof *k);
    k->name = dup_n(h->name, h->name_n);
    k->class_name = dup_n(h->cls, h->cls_n);
    k->title = dup_n(h->title, h->title_n);
    k->dir = strdup(dir);
    k->path = k->name && k->dir ? join(dir, k->name) : NULL;
    if (!k->name || !k->class_name || !k->title || !k->dir || !k->path) {
        key_free(k);
        return DN_ENOMEM;
    }
    k->cycle = h->cycle;
    k->seek = h->seek;
    k->nbytes = h->nbytes;
    k->objlen = h->objlen;
    k->keylen = h->keylen;
    k->kind = dn_root_class_kind(k->class_name, &k->reason);
    return DN_OK;
}

static int add_key(dn_root_file_t *f, const keyhdr_t *h, const char *dir)
{
    if (f->n_keys == f->cap_keys) {
        int cap = f->cap_keys ? 2 * f->cap_keys : 64;
        dn_root_key_t *grown = realloc(f->keys, (size_t)cap * sizeof *grown);
        if (!grown)
            return DN_ENOMEM;
        f->keys = grown;
        int *idx = realloc(f->path_key, (size_t)cap * sizeof *idx);
        if (!idx)
            return DN_ENOMEM;
        f->path_key = idx;
        f->cap_keys = cap;
    }
    dn_root_key_t *k = &f->keys[f->n_keys];
    if (key_make(h, dir, k))
        return DN_ENOMEM;
    int before = dn_keytab_count(f->paths);
    int at = dn_keytab_add(f->paths, k->path);
    if (at < 0) {
        key_free(k);
        return DN_ENOMEM;
    }
    if (dn_keytab_count(f->paths) > before) /* a new path: the first key of it */
        f->path_key[at] = f->n_keys;
    f->n_keys++;
    return DN_OK;
}

__attribute__((format(printf, 2, 3))) static int add_problem(dn_root_file_t *f,
                                                             const char *fmt, ...)
{
    if (f->n_problems == f->cap_problems) {
        int cap = f->cap_problems ? 2 * f->cap_problems : 8;
        char **grown = realloc(f->problems, (size_t)cap * sizeof *grown);
        if (!grown)
            return DN_ENOMEM;
        f->problems = grown;
        f->cap_problems = cap;
    }
    char msg[DN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!(f->problems[f->n_problems] = strdup(msg)))
        return DN_ENOMEM;
    f->n_problems++;
    return DN_OK;
}

/* ---- directories ------------------------------------------------------------------ */

static int is_directory(const keyhdr_t *k)
{
    return (k->cls_n == 10 && !memcmp(k->cls, "TDirectory", 10)) ||
           (k->cls_n == 14 && !memcmp(k->cls, "TDirectoryFile", 14));
}

static int walk_dir(dn_root_file_t *f, const char *path, const dirrec_t *d, int depth,
                    dn_err_t *err);

/* Slot of a keys list offset (stored + 1: 0 marks a free slot) in a set of
 * cap slots: the high bits of a multiplicative hash. */
static size_t walked_slot(uint64_t v, size_t cap)
{
    return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 29) & (cap - 1);
}

/* Adds offset to the set of keys lists read. Returns 1 when it was there
 * already, 0 when added, -1 when out of memory. */
static int mark_walked(dn_root_file_t *f, uint64_t offset)
{
    if (2 * (f->n_walked + 1) > f->cap_walked) {
        size_t cap = f->cap_walked ? 2 * f->cap_walked : 64;
        uint64_t *grown = calloc(cap, sizeof *grown);
        if (!grown)
            return -1;
        for (size_t i = 0; i < f->cap_walked; i++) {
            if (!f->walked[i])
                continue;
            size_t j = walked_slot(f->walked[i], cap);
            while (grown[j])
                j = (j + 1) & (cap - 1);
            grown[j] = f->walked[i];
        }
        free(f->walked);
        f->walked = grown;
        f->cap_walked = cap;
    }
    uint64_t v = offset + 1;
    size_t j = walked_slot(v, f->cap_walked);
    for (; f->walked[j]; j = (j + 1) & (f->cap_walked - 1))
        if (f->walked[j] == v)
            return 1;
    f->walked[j] = v;
    f->n_walked++;
    return 0;
}

static int payload(dn_root_file_t *f, const dn_root_key_t *k, unsigned char **out,
                   size_t *len, dn_err_t *err);

/* The directory of key h inside `dir`: read its record and walk it. A
 * failure is a problem of that directory, not of the whole file. */
static int enter_dir(dn_root_file_t *f, const keyhdr_t *h, const char *dir, int depth)
{
    dn_root_key_t k;
    if (key_make(h, dir, &k))
        return DN_ENOMEM;
    dn_err_t e;
    dn_err_clear(&e);
    unsigned char *rec = NULL;
    size_t len = 0;
    dirrec_t d;
    char why[256];
    int rc = payload(f, &k, &rec, &len, &e);
    if (rc == DN_OK && parse_dir(rec, len, &d, why, sizeof why))
        rc = dn_err_set(&e, DN_EFORMAT, "%s", why);
    if (rc == DN_OK)
        rc = walk_dir(f, k.path, &d, depth + 1, &e);
    if (rc && rc != DN_ENOMEM)
        rc = add_problem(f, "%s: directory \"%s\": %s", f->name, k.path, e.msg);
    free(rec);
    key_free(&k);
    return rc;
}

/* Reads the keys list of directory `path` (record d) and lists its keys,
 * entering subdirectories. Errors are about this directory's own list. */
static int walk_dir(dn_root_file_t *f, const char *path, const dirrec_t *d, int depth,
                    dn_err_t *err)
{
    if (depth > DN_ROOT_MAX_DEPTH)
        return dn_err_set(err, DN_EFORMAT, "nested more than %d directories deep",
                          DN_ROOT_MAX_DEPTH);
    if (d->nbytes_keys < KEY_MIN + 4 || d->nbytes_keys > DN_ROOT_MAX_OBJECT)
        return dn_err_set(err, DN_EFORMAT, "keys list of %u bytes (at least %d, at most %u)",
                          d->nbytes_keys, KEY_MIN + 4, DN_ROOT_MAX_OBJECT);
    int seen = mark_walked(f, d->seek_keys);
    if (seen < 0)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    if (seen)
        return dn_err_set(err, DN_EFORMAT, "its keys list at offset %llu was already read "
                          "(a directory loop)", (unsigned long long)d->seek_keys);

    unsigned char *buf = NULL;
    keyhdr_t *hs = NULL;
    dn_keytab_t *names = NULL;
    int *best = NULL;
    int rc = read_new(f, d->seek_keys, d->nbytes_keys, &buf, "keys list", err);
    if (rc)
        goto done;
    dn_root_rbuf_t b;
    dn_root_rbuf_init(&b, buf, d->nbytes_keys);
    keyhdr_t self;
    if (parse_key(&b, &self) || dn_root_rbuf_seek(&b, (size_t)self.keylen)) {
        rc = dn_err_set(err, DN_EFORMAT, "keys list header: %s", b.why);
        goto done;
    }
    int32_t n = dn_root_rbuf_i32(&b);
    if (b.failed || n < 0 || (size_t)n > dn_root_rbuf_left(&b) / KEY_MIN) {
        rc = dn_err_set(err, DN_EFORMAT, "keys list of %u bytes cannot hold %d keys",
                        d->nbytes_keys, (int)n);
        goto done;
    }
    hs = malloc((size_t)(n ? n : 1) * sizeof *hs);
    best = malloc((size_t)(n ? n : 1) * sizeof *best);
    names = dn_keytab_new();
    if (!hs || !best || !names) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory for %d keys", (int)n);
        goto done;
    }
    /* Highest cycle of each name: best[name index] = key index. */
    for (int i = 0; i < n; i++) {
        char why[256];
        size_t at = b.pos;
        if (parse_key(&b, &hs[i])) {
            rc = dn_err_set(err, DN_EFORMAT, "key %d of %d at offset %zu: %s", i + 1, (int)n,
                            at, b.why);
            goto done;
        }
        char *name = dup_n(hs[i].name, hs[i].name_n);
        int before = dn_keytab_count(names);
        int j = name ? dn_keytab_add(names, name) : DN_ENOMEM;
        free(name);
        if (j < 0) {
            rc = dn_err_set(err, DN_ENOMEM, "out of memory");
            goto done;
        }
        if (dn_keytab_count(names) > before || hs[i].cycle > hs[best[j]].cycle)
            best[j] = i;
        if (check_key(f, &hs[i], why, sizeof why)) {
            hs[i].nbytes = -1; /* listed as a problem below, not as a key */
            rc = add_problem(f, "%s: key \"%s/%.*s;%d\": %s", f->name, path,
                             (int)(hs[i].name_n > 200 ? 200 : hs[i].name_n), hs[i].name,
                             hs[i].cycle, why);
            if (rc)
                goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        char *name = dup_n(hs[i].name, hs[i].name_n);
        int j = name ? dn_keytab_find(names, name) : -1;
        free(name);
        if (j < 0 || best[j] != i || hs[i].nbytes < 0)
            continue;
        rc = is_directory(&hs[i]) ? enter_dir(f, &hs[i], path, depth) : add_key(f, &hs[i], path);
        if (rc) {
            rc = dn_err_set(err, DN_ENOMEM, "out of memory");
            goto done;
        }
    }
    rc = DN_OK;
done:
    dn_keytab_destroy(&names);
    free(best);
    free(hs);
    free(buf);
    return rc;
}

/* ---- the file --------------------------------------------------------------------- */

/* The file header and the top directory's record. */
static int read_header(dn_root_file_t *f, dirrec_t *top, dn_err_t *err)
{
    unsigned char head[64];
    size_t n = f->size < sizeof head ? (size_t)f->size : sizeof head;
    int rc = read_at(f, 0, n, head, "header", err);
    if (rc)
        return rc;
    if (n < 4 || memcmp(head, "root", 4))
        return dn_err_set(err, DN_EFORMAT, "not a ROOT file (it does not start with \"root\")");
    dn_root_rbuf_t b;
    dn_root_rbuf_init(&b, head + 4, n - 4);
    f->version = dn_root_rbuf_i32(&b);
    f->begin = dn_root_rbuf_u32(&b);
    int wide = f->version >= 1000000;
    f->end = wide ? dn_root_rbuf_u64(&b) : dn_root_rbuf_u32(&b);
    (void)(wide ? dn_root_rbuf_u64(&b) : dn_root_rbuf_u32(&b)); /* fSeekFree */
    (void)dn_root_rbuf_u32(&b);                           /* fNbytesFree */
    (void)dn_root_rbuf_u32(&b);                           /* nfree */
    uint32_t nbytes_name = dn_root_rbuf_u32(&b);
    (void)dn_root_rbuf_u8(&b);                            /* fUnits */
    f->compress = dn_root_rbuf_i32(&b);
    if (b.failed)
        return dn_err_set(err, DN_EFORMAT, "header is cut: %s", b.why);
    if (f->end > f->size)
        return dn_err_set(err, DN_EFORMAT, "header: the file ends at byte %llu, the header "
                          "says %llu (truncated?)", (unsigned long long)f->size,
                          (unsigned long long)f->end);
    if (f->begin < 4 || nbytes_name < KEY_MIN || nbytes_name > 65536 ||
        !fits(f, f->begin + nbytes_name, DIR_MIN))
        return dn_err_set(err, DN_EFORMAT, "header: the top directory (offset %llu + %u) lies "
                          "outside the file's %llu bytes", (unsigned long long)f->begin,
                          nbytes_name, (unsigned long long)f->size);
    unsigned char rec[DIR_MIN + 12];
    size_t rec_n = fits(f, f->begin + nbytes_name, sizeof rec) ? sizeof rec : DIR_MIN;
    char why[256];
    if ((rc = read_at(f, f->begin + nbytes_name, rec_n, rec, "top directory", err)))
        return rc;
    if (parse_dir(rec, rec_n, top, why, sizeof why))
        return dn_err_set(err, DN_EFORMAT, "top directory: %s", why);
    return DN_OK;
}

static dn_root_file_t *file_new(const char *name)
{
    dn_root_file_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->fd = -1;
    f->name = strdup(name ? name : "(memory)");
    f->paths = dn_keytab_new();
    if (!f->name || !f->paths)
        dn_root_file_destroy(&f);
    return f;
}

/* Header and directory tree of a file whose source (fd or mem) is set. */
static int load(dn_root_file_t *f, dn_err_t *err)
{
    dirrec_t top;
    int rc = read_header(f, &top, err);
    if (rc == DN_OK)
        rc = walk_dir(f, "", &top, 0, err);
    if (rc)
        dn_err_prefix(err, "%s", f->name);
    return rc;
}

int dn_root_file_open(const char *path, dn_root_file_t **out, dn_err_t *err)
{
    *out = NULL;
    dn_root_file_t *f = file_new(path);
    if (!f)
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
    int rc;
    struct stat st;
    if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(f->fd, &st) != 0) {
        rc = dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = dn_err_set(err, DN_EIO, "%s: not a regular file", path);
        goto fail;
    }
    f->size = (uint64_t)st.st_size;
    if ((rc = load(f, err)))
        goto fail;
    *out = f;
    return DN_OK;
fail:
    dn_root_file_destroy(&f);
    return rc;
}

int dn_root_file_open_mem(const void *data, size_t len, const char *name,
                          dn_root_file_t **out, dn_err_t *err)
{
    *out = NULL;
    dn_root_file_t *f = file_new(name);
    if (!f)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    static const unsigned char nothing[1];
    f->mem = data ? data : nothing;
    f->size = data ? len : 0;
    int rc = load(f, err);
    if (rc) {
        dn_root_file_destroy(&f);
        return rc;
    }
    *out = f;
    return DN_OK;
}

void dn_root_file_destroy(dn_root_file_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_root_file_t *f = *self_p;
    if (f->fd >= 0)
        close(f->fd);
    for (int i = 0; i < f->n_keys; i++)
        key_free(&f->keys[i]);
    free(f->keys);
    free(f->path_key);
    dn_keytab_destroy(&f->paths);
    for (int i = 0; i < f->n_problems; i++)
        free(f->problems[i]);
    free(f->problems);
    free(f->walked);
    free(f->name);
    free(f);
    *self_p = NULL;
}

const char *dn_root_file_name(const dn_root_file_t *f)
{
    return f->name;
}

int dn_root_file_version(const dn_root_file_t *f)
{
    return f->version;
}

int dn_root_file_compression(const dn_root_file_t *f)
{
    return f->compress;
}

int dn_root_file_n_keys(const dn_root_file_t *f)
{
    return f->n_keys;
}

const dn_root_key_t *dn_root_file_key(const dn_root_file_t *f, int i)
{
    return i >= 0 && i < f->n_keys ? &f->keys[i] : NULL;
}

int dn_root_file_find(const dn_root_file_t *f, const char *path)
{
    int j = dn_keytab_find(f->paths, path);
    return j < 0 ? -1 : f->path_key[j];
}

int dn_root_file_n_problems(const dn_root_file_t *f)
{
    return f->n_problems;
}

const char *dn_root_file_problem(const dn_root_file_t *f, int i)
{
    return i >= 0 && i < f->n_problems ? f->problems[i] : NULL;
}

/* ---- payloads ----------------------------------------------------------------------- */

static int payload(dn_root_file_t *f, const dn_root_key_t *k, unsigned char **out,
                   size_t *len, dn_err_t *err)
{
    if (k->keylen < KEY_MIN || k->nbytes < k->keylen || k->seek < 0 ||
        !fits(f, (uint64_t)k->seek, (uint64_t)k->nbytes))
        return dn_err_set(err, DN_EFORMAT, "record of %lld bytes at offset %lld (key %d "
                          "bytes) does not fit the file's %llu bytes", (long long)k->nbytes,
                          (long long)k->seek, k->keylen, (unsigned long long)f->size);
    if (k->objlen < 0 || k->objlen > DN_ROOT_MAX_OBJECT)
        return dn_err_set(err, DN_ERANGE, "object of %lld bytes (at most %u are read)",
                          (long long)k->objlen, DN_ROOT_MAX_OBJECT);
    uint64_t at = (uint64_t)k->seek + (uint64_t)k->keylen;
    size_t stored = (size_t)(k->nbytes - k->keylen), objlen = (size_t)k->objlen;
    if (objlen <= stored) { /* stored as is */
        *len = objlen;
        return read_new(f, at, objlen, out, "payload", err);
    }
    unsigned char *zipped = NULL, *buf = NULL;
    int rc = read_new(f, at, stored, &zipped, "payload", err);
    if (rc == DN_OK)
        rc = dn_rootzip_check(zipped, stored, objlen, err);
    if (rc == DN_OK && !(buf = malloc(objlen)))
        rc = dn_err_set(err, DN_ENOMEM, "out of memory for %zu bytes", objlen);
    if (rc == DN_OK)
        rc = dn_rootzip_inflate(zipped, stored, buf, objlen, err);
    free(zipped);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = objlen;
    return DN_OK;
}

int dn_root_file_payload(dn_root_file_t *f, const dn_root_key_t *key, unsigned char **buf,
                         size_t *len, dn_err_t *err)
{
    *buf = NULL;
    *len = 0;
    int rc = payload(f, key, buf, len, err);
    if (rc) {
        *len = 0;
        dn_err_prefix(err, "%s: key \"%s;%d\"", f->name, key->path, key->cycle);
    }
    return rc;
}

int dn_root_file_read_hist(dn_root_file_t *f, int i, dn_root_hist_t **out, dn_err_t *err)
{
    *out = NULL;
    const dn_root_key_t *k = dn_root_file_key(f, i);
    if (!k)
        return dn_err_set(err, DN_EINVAL, "%s: no key %d (the file lists %d)", f->name, i,
                          f->n_keys);
    if (k->kind == DN_ROOT_OTHER)
        return dn_err_set(err, DN_ENOTFOUND, "%s: key \"%s;%d\" (%s): %s", f->name, k->path,
                          k->cycle, k->class_name, k->reason);
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = dn_root_file_payload(f, k, &buf, &len, err);
    if (rc)
        return rc;
    rc = dn_root_hist_decode(buf, len, k->class_name, out, err);
    free(buf);
    if (rc)
        dn_err_prefix(err, "%s: key \"%s;%d\" (%s)", f->name, k->path, k->cycle,
                      k->class_name);
    return rc;
}

/* ---- records in file order ---------------------------------------------------------- */

int dn_root_file_scan(dn_root_file_t *f, int (*visit)(void *ctx, const dn_root_key_t *key),
                      void *ctx, dn_err_t *err)
{
    uint64_t pos = f->begin;
    int rc = DN_OK, visited = 0;
    while (pos < f->end && rc == DN_OK && !visited) {
        unsigned char head[18];
        if ((rc = read_at(f, pos, fits(f, pos, sizeof head) ? sizeof head : 4, head, "record",
                          err)))
            break;
        int32_t nbytes = (int32_t)((uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 |
                                   (uint32_t)head[2] << 8 | head[3]);
        if (nbytes < 0 && nbytes != INT32_MIN) { /* a free gap */
            pos += (uint64_t)-(int64_t)nbytes;
            continue;
        }
        if (nbytes < KEY_MIN || !fits(f, pos, (uint64_t)nbytes)) {
            rc = dn_err_set(err, DN_EFORMAT, "record at offset %llu: length %d does not fit "
                            "the file's %llu bytes", (unsigned long long)pos, (int)nbytes,
                            (unsigned long long)f->size);
            break;
        }
        size_t keylen = (size_t)head[14] << 8 | head[15];
        if (keylen < KEY_MIN || keylen > (size_t)nbytes) {
            rc = dn_err_set(err, DN_EFORMAT, "record at offset %llu: key length %zu for a "
                            "record of %d bytes", (unsigned long long)pos, keylen, (int)nbytes);
            break;
        }
        unsigned char *buf = NULL;
        if ((rc = read_new(f, pos, keylen, &buf, "record", err)))
            break;
        dn_root_rbuf_t b;
        dn_root_rbuf_init(&b, buf, keylen);
        keyhdr_t h;
        dn_root_key_t k;
        if (parse_key(&b, &h)) {
            rc = dn_err_set(err, DN_EFORMAT, "record at offset %llu: %s",
                            (unsigned long long)pos, b.why);
        } else if (key_make(&h, "", &k)) {
            rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        } else {
            k.seek = (int64_t)pos; /* where it is, whatever the header says */
            rc = visit(ctx, &k);
            visited = rc != DN_OK; /* the visitor's own value: passed on as is */
            key_free(&k);
        }
        free(buf);
        pos += (uint64_t)nbytes;
    }
    if (rc && !visited)
        dn_err_prefix(err, "%s", f->name);
    return rc;
}

/* ---- folders of ROOT files --------------------------------------------------------- */

static int is_root_name(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' && n > 5 && !strcmp(e->d_name + n - 5, ".root");
}

int dn_root_dir_list(const char *dir, char ***paths, int *n, dn_err_t *err)
{
    *paths = NULL;
    *n = 0;
    struct dirent **names = NULL;
    int count = scandir(dir, &names, is_root_name, alphasort);
    if (count < 0)
        return dn_err_set(err, DN_EIO, "%s: %s", dir, strerror(errno));
    char **v = count ? calloc((size_t)count, sizeof *v) : NULL;
    int rc = count && !v ? DN_ENOMEM : DN_OK;
    for (int i = 0; i < count; i++) {
        if (rc == DN_OK && !(v[i] = join(dir, names[i]->d_name)))
            rc = DN_ENOMEM;
        free(names[i]);
    }
    free(names);
    if (rc) {
        for (int i = 0; v && i < count; i++)
            free(v[i]);
        free(v);
        return dn_err_set(err, rc, "%s: out of memory listing ROOT files", dir);
    }
    *paths = v;
    *n = count;
    return DN_OK;
}
