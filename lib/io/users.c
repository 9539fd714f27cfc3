/* users.c: the users file and password checks (users.h).
 *
 * Parsing is pure and strict (the fuzz target feeds it anything): a line is
 * a comment, blank, or NAME:HASH, and HASH must have the exact shape of
 * crypto_pwhash_str's Argon2id string with costs under caps, because
 * libsodium would otherwise allocate and spend what a damaged line asks for
 * at the first login. The file is rewritten only through its text, line by
 * line, so `dinamo user add/remove` keep a person's comments and order.
 *
 * Invariants: every entry's name is a valid name, zero-padded to
 * DN_USERS_NAME_MAX + 1 bytes (so a lookup compares fixed-size buffers with
 * sodium_memcmp, without an early exit); every hash is NUL-terminated within
 * crypto_pwhash_STRBYTES. */
#include "users.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

#define HASH_CAP crypto_pwhash_STRBYTES
#define PREFIX "$argon2id$v=19$m="
#define MEM_KIB_MAX (1024u * 1024u) /* 1 GiB: libsodium's SENSITIVE level */
#define PASSES_MAX 10u

typedef struct entry_t {
    char name[DN_USERS_NAME_MAX + 1];
    char hash[HASH_CAP];
    int line;
} entry_t;

struct dn_users_t {
    entry_t *e;
    int n, cap;
    char dummy[HASH_CAP]; /* hash of a random password, the first entry's costs */
    int has_dummy;
    unsigned long long dummy_ops; /* the costs the dummy is to have */
    size_t dummy_mem;
    pthread_mutex_t lock; /* one verification at a time; refresh swaps under it */
    char *path;           /* dn_users_load's, for dn_users_refresh; else NULL */
    struct stat st;       /* the file as it was before it was read */
};

/* ---- libsodium -------------------------------------------------------------- */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc;

static void sodium_start(void) { sodium_rc = sodium_init() < 0 ? -1 : 0; }

int dn_sodium_init(dn_err_t *err)
{
    pthread_once(&sodium_once, sodium_start);
    if (sodium_rc)
        return dn_err_set(err, DN_EIO, "libsodium cannot initialise (no entropy source?)");
    return 0;
}

/* ---- parsing ---------------------------------------------------------------- */

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static int name_ok_n(const char *s, size_t n)
{
    if (n == 0 || n > DN_USERS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return 0;
    return 1;
}

int dn_users_name_ok(const char *name)
{
    return name && name_ok_n(name, strnlen(name, DN_USERS_NAME_MAX + 1));
}

static int b64_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* Reads decimal digits at *p (1 to 10 of them) into *v. */
static int read_uint(const char **p, const char *end, unsigned long *v)
{
    const char *s = *p;
    unsigned long x = 0;
    int digits = 0;
    while (s < end && *s >= '0' && *s <= '9' && digits < 10) {
        x = x * 10 + (unsigned long)(*s - '0');
        s++, digits++;
    }
    if (!digits || (s < end && *s >= '0' && *s <= '9'))
        return -1;
    *p = s, *v = x;
    return 0;
}

/* Checks that h[0..n) is "$argon2id$v=19$m=M,t=T,p=1$SALT$HASH" with M and T
 * under the caps and SALT, HASH base64 without padding; says what is wrong
 * into why. Returns 0 or -1. */
static int hash_shape(const char *h, size_t n, unsigned long *mem_kib, unsigned long *passes,
                      const char **why)
{
    const char *p = h, *end = h + n;
    unsigned long m, t, par;
    *why = "want crypto_pwhash_str's Argon2id string ($argon2id$v=19$m=...,t=...,p=1$...$...)";
    if (n >= HASH_CAP) {
        *why = "hash too long for crypto_pwhash_str's string";
        return -1;
    }
    if (n < sizeof PREFIX - 1 || memcmp(p, PREFIX, sizeof PREFIX - 1))
        return -1;
    p += sizeof PREFIX - 1;
    if (read_uint(&p, end, &m) || end - p < 3 || memcmp(p, ",t=", 3))
        return -1;
    p += 3;
    if (read_uint(&p, end, &t) || end - p < 3 || memcmp(p, ",p=", 3))
        return -1;
    p += 3;
    if (read_uint(&p, end, &par) || p == end || *p != '$')
        return -1;
    p++;
    const char *salt = p;
    while (p < end && b64_char(*p))
        p++;
    if (p - salt < 11 || p == end || *p != '$') /* libsodium's salt: 16 bytes, 22 chars */
        return -1;
    p++;
    const char *tag = p;
    while (p < end && b64_char(*p))
        p++;
    if (p - tag < 16 || p != end)
        return -1;
    if (par != 1) {
        *why = "libsodium verifies Argon2id with one lane only (p=1)";
        return -1;
    }
    if (m < 8 || m > MEM_KIB_MAX || t < 1 || t > PASSES_MAX) {
        *why = "cost out of bounds (m from 8 to 1048576 KiB, t from 1 to 10)";
        return -1;
    }
    *mem_kib = m, *passes = t;
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static int add_entry(dn_users_t *self, const char *name, size_t name_len, const char *hash,
                     size_t hash_len, int line, dn_err_t *err)
{
    if (self->n == self->cap) {
        int cap = self->cap ? 2 * self->cap : 8;
        entry_t *e = realloc(self->e, (size_t)cap * sizeof *e);
        if (!e)
            return dn_err_set(err, DN_ENOMEM, "users: out of memory at %d users", self->n);
        self->e = e, self->cap = cap;
    }
    entry_t *e = &self->e[self->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, name_len);
    memcpy(e->hash, hash, hash_len);
    e->line = line;
    return 0;
}

static dn_users_t *users_alloc(dn_err_t *err)
{
    dn_users_t *self = calloc(1, sizeof *self);
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "users: out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->dummy_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    self->dummy_mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    return self;
}

/* One line (without its '\n'): 0, or an error naming path and line. */
static int parse_line(dn_users_t *self, const char *path, int lineno, const char *s, size_t n,
                      dn_err_t *err)
{
    if (memchr(s, '\0', n))
        return dn_err_set(err, DN_EFORMAT, "%s line %d: NUL byte", path, lineno);
    while (n && is_space(*s))
        s++, n--;
    while (n && is_space(s[n - 1]))
        n--;
    if (n == 0 || s[0] == '#')
        return 0;
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return dn_err_set(err, DN_EFORMAT, "%s line %d: want NAME:HASH (no ':')", path, lineno);
    size_t name_len = (size_t)(colon - s);
    if (!name_ok_n(s, name_len))
        return dn_err_set(err, DN_EFORMAT, "%s line %d: '%.*s' is not a user name (want 1 to "
                          "64 of [A-Za-z0-9._-])", path, lineno, (int)(name_len > 80 ? 80 :
                          name_len), s);
    const char *hash = colon + 1, *why;
    size_t hash_len = n - name_len - 1;
    unsigned long mem_kib, passes;
    if (hash_shape(hash, hash_len, &mem_kib, &passes, &why))
        return dn_err_set(err, DN_EFORMAT, "%s line %d: user %.*s: %s", path, lineno,
                          (int)name_len, s, why);
    for (int i = 0; i < self->n; i++)
        if (strlen(self->e[i].name) == name_len && !memcmp(self->e[i].name, s, name_len))
            return dn_err_set(err, DN_EFORMAT, "%s line %d: user %.*s already listed on line "
                              "%d", path, lineno, (int)name_len, s, self->e[i].line);
    if (self->n == 0) {
        self->dummy_ops = passes;
        self->dummy_mem = (size_t)mem_kib * 1024u;
    }
    return add_entry(self, s, name_len, hash, hash_len, lineno, err);
}

dn_users_t *dn_users_parse(const char *path, const char *text, size_t len, dn_err_t *err)
{
    dn_users_t *self = users_alloc(err);
    if (!self)
        return NULL;
    const char *p = text, *end = text + len;
    int lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (parse_line(self, path, ++lineno, p, (size_t)(eol - p), err))
            goto fail;
        p = nl ? nl + 1 : end;
    }
    return self;
fail:
    dn_users_destroy(&self);
    return NULL;
}

void dn_users_destroy(dn_users_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_users_t *self = *self_p;
    if (self->e)
        sodium_memzero(self->e, (size_t)self->cap * sizeof *self->e);
    free(self->e);
    free(self->path);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int dn_users_count(const dn_users_t *self) { return self ? self->n : 0; }

const char *dn_users_name(const dn_users_t *self, int i)
{
    return self && i >= 0 && i < self->n ? self->e[i].name : NULL;
}

/* ---- the file --------------------------------------------------------------- */

/* Reads path into *text after checking its mode. A missing file is
 * DN_ENOTFOUND. */
static int read_users_file(const char *path, char **text, size_t *len, struct stat *st_out,
                           dn_err_t *err)
{
    struct stat st;
    *text = NULL;
    if (stat(path, &st))
        return dn_err_set(err, errno == ENOENT ? DN_ENOTFOUND : DN_EIO, "users file %s: %s "
                          "(make it with `dinamo user add NAME --file %s`)", path,
                          strerror(errno), path);
    if (S_ISREG(st.st_mode) && (st.st_mode & 077))
        return dn_err_set(err, DN_EINVAL, "users file %s: readable or writable by others "
                          "(mode %03o): chmod 600 it", path, (unsigned)(st.st_mode & 0777));
    if (st_out)
        *st_out = st;
    return dn_read_file(path, text, len, err);
}

static int make_dummy(dn_users_t *self, dn_err_t *err)
{
    if (self->has_dummy)
        return 0;
    int rc = dn_sodium_init(err);
    if (rc)
        return rc;
    unsigned char pw[32];
    randombytes_buf(pw, sizeof pw);
    if (crypto_pwhash_str(self->dummy, (const char *)pw, sizeof pw, self->dummy_ops,
                          self->dummy_mem))
        return dn_err_set(err, DN_ENOMEM, "users: cannot hash (%zu MiB for Argon2id)",
                          self->dummy_mem >> 20);
    sodium_memzero(pw, sizeof pw);
    self->has_dummy = 1;
    return 0;
}

dn_users_t *dn_users_load(const char *path, dn_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    dn_users_t *self = NULL;
    struct stat st;
    if (read_users_file(path, &text, &len, &st, err))
        goto fail;
    if (!(self = dn_users_parse(path, text, len, err)))
        goto fail;
    if (!(self->path = strdup(path))) {
        dn_err_set(err, DN_ENOMEM, "users: out of memory");
        goto fail;
    }
    self->st = st;
    free(text);
    return self;
fail:
    free(text);
    dn_users_destroy(&self);
    return NULL;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int dn_users_refresh(dn_users_t *self, int *changed, dn_err_t *err)
{
    if (changed)
        *changed = 0;
    if (!self || !self->path)
        return dn_err_set(err, DN_ESTATE, "users: refresh of users not loaded from a file");
    struct stat st;
    if (stat(self->path, &st) == 0 && same_file(&st, &self->st))
        return 0;
    char *text = NULL;
    size_t len = 0;
    dn_users_t *fresh = NULL;
    int rc = read_users_file(self->path, &text, &len, &st, err);
    if (!rc && !(fresh = dn_users_parse(self->path, text, len, err)))
        rc = err ? err->code : DN_EFORMAT;
    free(text);
    if (rc)
        return rc;
    pthread_mutex_lock(&self->lock);
    entry_t *e = self->e;
    int n = self->n, cap = self->cap;
    self->e = fresh->e, self->n = fresh->n, self->cap = fresh->cap;
    fresh->e = e, fresh->n = n, fresh->cap = cap;
    if (fresh->dummy_ops != self->dummy_ops || fresh->dummy_mem != self->dummy_mem) {
        self->dummy_ops = fresh->dummy_ops, self->dummy_mem = fresh->dummy_mem;
        self->has_dummy = 0; /* made again, at the next verification, with the new costs */
    }
    self->st = st;
    pthread_mutex_unlock(&self->lock);
    dn_users_destroy(&fresh);
    if (changed)
        *changed = 1;
    return 0;
}

int dn_users_has(dn_users_t *self, const char *name)
{
    if (!self || !name)
        return 0;
    pthread_mutex_lock(&self->lock);
    int found = 0;
    for (int i = 0; i < self->n && !found; i++)
        found = !strcmp(self->e[i].name, name);
    pthread_mutex_unlock(&self->lock);
    return found;
}

/* ---- verification ----------------------------------------------------------- */

static int verify(dn_users_t *self, const char *name, const char *password, int wait,
                  dn_err_t *err)
{
    if (!self || !name || !password)
        return dn_err_set(err, DN_EINVAL, "users: verify without users, name or password");
    int rc = dn_sodium_init(err);
    if (rc)
        return rc;
    size_t pw_len = strnlen(password, DN_USERS_PASSWORD_MAX + 1);
    /* The name, zero-padded, compared with every entry without an early exit:
     * the scan takes the same time whichever entry, if any, matches. */
    char want[DN_USERS_NAME_MAX + 1] = {0};
    int valid = dn_users_name_ok(name);
    if (valid)
        memcpy(want, name, strlen(name));
    if (!wait && pthread_mutex_trylock(&self->lock))
        return dn_err_set(err, DN_ESTATE, "another login is being checked: try again");
    if (wait)
        pthread_mutex_lock(&self->lock);
    rc = make_dummy(self, err);
    if (rc)
        goto done;
    const char *hash = self->dummy;
    int found = 0;
    for (int i = 0; i < self->n; i++) {
        int same = sodium_memcmp(want, self->e[i].name, sizeof want) == 0;
        found |= same;
        hash = same ? self->e[i].hash : hash;
    }
    /* A password too long is refused after the same hash as any other. */
    int ok = crypto_pwhash_str_verify(hash, password,
                                      pw_len > DN_USERS_PASSWORD_MAX ? 0 : pw_len) == 0;
    rc = valid && found && ok && pw_len <= DN_USERS_PASSWORD_MAX
             ? 0
             : dn_err_set(err, DN_EPERM, "wrong user name or password");
done:
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int dn_users_verify(dn_users_t *self, const char *name, const char *password, dn_err_t *err)
{
    return verify(self, name, password, 1, err);
}

int dn_users_verify_try(dn_users_t *self, const char *name, const char *password, dn_err_t *err)
{
    return verify(self, name, password, 0, err);
}

/* ---- writing ---------------------------------------------------------------- */

/* Writes text to path atomically with mode 0600, replacing line `skip` (1-based;
 * 0: none) by `line` (NULL: dropped) and appending `append` (may be NULL). */
static int write_users(const char *path, const char *text, size_t len, int skip,
                       const char *line, const char *append, dn_err_t *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int rc = dn_mkdirs(dir, err);
        if (rc)
            return rc;
    }
    dn_outfile_t *out = dn_outfile_open(path, err);
    if (!out)
        return err ? err->code : DN_EIO;
    FILE *f = dn_outfile_stream(out);
    /* Before the first byte: the temporary file is created 0666 minus umask. */
    if (fchmod(fileno(f), 0600)) {
        dn_err_set(err, DN_EIO, "users file %s: chmod 600: %s", path, strerror(errno));
        dn_outfile_abort(&out);
        return DN_EIO;
    }
    if (!text || len == 0)
        fputs("# dashboard users: NAME:HASH (Argon2id, crypto_pwhash_str); made by "
              "`dinamo user add NAME`\n", f);
    const char *p = text, *end = text ? text + len : NULL;
    int lineno = 0;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (++lineno == skip) {
            if (line)
                fprintf(f, "%s\n", line);
        } else {
            fwrite(p, 1, (size_t)(eol - p), f);
            fputc('\n', f);
        }
        p = nl ? nl + 1 : end;
    }
    if (append)
        fprintf(f, "%s\n", append);
    return dn_outfile_commit(&out, err);
}

/* Reads and parses the file at path (a missing file is empty when
 * missing_ok) into *text, *len and *users. */
static int read_for_edit(const char *path, int missing_ok, char **text, size_t *len,
                         dn_users_t **users, dn_err_t *err)
{
    *users = NULL;
    *len = 0;
    int rc = read_users_file(path, text, len, NULL, err);
    if (rc == DN_ENOTFOUND && missing_ok) {
        rc = 0;
        *len = 0;
    }
    if (rc)
        return rc;
    *users = dn_users_parse(path, *text ? *text : "", *len, err);
    return *users ? 0 : err ? err->code : DN_EFORMAT;
}

static int find(const dn_users_t *users, const char *name)
{
    for (int i = 0; i < users->n; i++)
        if (!strcmp(users->e[i].name, name))
            return i;
    return -1;
}

int dn_users_add(const char *path, const char *name, const char *password, int replace,
                 dn_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    dn_users_t *users = NULL;
    char line[DN_USERS_NAME_MAX + 2 + HASH_CAP];
    char hash[HASH_CAP];
    int rc;
    if (!dn_users_name_ok(name)) {
        rc = dn_err_set(err, DN_EINVAL, "user name '%.80s': want 1 to 64 of [A-Za-z0-9._-]",
                        name ? name : "");
        goto fail;
    }
    size_t pw_len = password ? strnlen(password, DN_USERS_PASSWORD_MAX + 1) : 0;
    if (pw_len < DN_USERS_PASSWORD_MIN || pw_len > DN_USERS_PASSWORD_MAX) {
        rc = dn_err_set(err, DN_EINVAL, "password of %s: want %d to %d bytes, got %s%zu", name,
                        DN_USERS_PASSWORD_MIN, DN_USERS_PASSWORD_MAX,
                        pw_len > DN_USERS_PASSWORD_MAX ? "more than " : "",
                        pw_len > DN_USERS_PASSWORD_MAX ? (size_t)DN_USERS_PASSWORD_MAX : pw_len);
        goto fail;
    }
    if ((rc = read_for_edit(path, 1, &text, &len, &users, err)) || (rc = dn_sodium_init(err)))
        goto fail;
    int at = find(users, name);
    if (at >= 0 && !replace) {
        rc = dn_err_set(err, DN_EINVAL, "%s line %d: user %s exists (replace its password "
                        "with --replace)", path, users->e[at].line, name);
        goto fail;
    }
    if (crypto_pwhash_str(hash, password, pw_len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE)) {
        rc = dn_err_set(err, DN_ENOMEM, "cannot hash the password (Argon2id needs %d MiB)",
                        (int)(crypto_pwhash_MEMLIMIT_INTERACTIVE >> 20));
        goto fail;
    }
    snprintf(line, sizeof line, "%s:%s", name, hash);
    rc = at >= 0 ? write_users(path, text, len, users->e[at].line, line, NULL, err)
                 : write_users(path, text, len, 0, NULL, line, err);
fail:
    sodium_memzero(hash, sizeof hash);
    free(text);
    dn_users_destroy(&users);
    return rc;
}

int dn_users_remove(const char *path, const char *name, dn_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    dn_users_t *users = NULL;
    int rc = read_for_edit(path, 0, &text, &len, &users, err);
    if (rc)
        goto fail;
    int at = dn_users_name_ok(name) ? find(users, name) : -1;
    if (at < 0) {
        rc = dn_err_set(err, DN_ENOTFOUND, "users file %s: no user '%.80s'", path,
                        name ? name : "");
        goto fail;
    }
    rc = write_users(path, text, len, users->e[at].line, NULL, NULL, err);
fail:
    free(text);
    dn_users_destroy(&users);
    return rc;
}
