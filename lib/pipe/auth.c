/* auth.c: the keys directory, key generation and the ZAP handler (auth.h).
 *
 * Keys are Z85 text so that a person can read, copy and compare them; a
 * secret key file is written with mode 0600 before its public half, so a
 * crash between the two leaves a half pair that the next keygen refuses
 * rather than a public key without its secret. The keyring is small (a
 * cluster has a handful of services and people) and read-only once loaded:
 * a linear scan answers the ZAP handler.
 *
 * The ZAP handler is the ZeroMQ "ZAP 1.0" protocol (RFC 27) on
 * inproc://zeromq.zap.01 of the process's context, answered on a thread of
 * its own so that a service busy in a long step (a training step, a send
 * blocked at the high-water mark) never holds up another's handshake. The
 * domain a bound socket announces carries the roles it admits, so one
 * handler serves every socket of the process. */
#include "auth.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "fileio.h"
#include "log.h"

#define ROLES_FILE "roles"
#define DOMAIN_PREFIX "dinamo:"

static const struct {
    const char *name;
    int bit;
} role_names[] = {
    {"runs", DN_ROLE_RUNS},         {"labels", DN_ROLE_LABELS},
    {"scores", DN_ROLE_SCORES},     {"weights", DN_ROLE_WEIGHTS},
    {"registry", DN_ROLE_REGISTRY}, {"delegate", DN_ROLE_DELEGATE},
};
#define N_ROLES ((int)(sizeof role_names / sizeof role_names[0]))

typedef struct known_key_t {
    char name[DN_AUTH_NAME_MAX];
    uint8_t pub[32];
    int roles;
} known_key_t;

struct dn_keyring_t {
    known_key_t *keys;
    int n, cap;
    char identity[DN_AUTH_NAME_MAX];
    uint8_t own_pub[32], own_secret[32];
    int has_identity;
};

int dn_auth_available(void) { return zmq_has("curve"); }

void dn_auth_z85(const uint8_t *key, char z85[DN_AUTH_Z85_LEN + 1])
{
    zmq_z85_encode(z85, key, 32);
}

int dn_auth_role_parse(const char *name, int *role, dn_err_t *err)
{
    for (int i = 0; i < N_ROLES; i++)
        if (!strcmp(name, role_names[i].name)) {
            *role = role_names[i].bit;
            return 0;
        }
    return dn_err_set(err, DN_EINVAL, "role '%.64s': want runs, labels, scores, weights, "
                      "registry or delegate", name);
}

const char *dn_auth_roles_str(int mask, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    if (mask == DN_ROLE_ANY) {
        snprintf(buf, cap, "any");
        return buf;
    }
    for (int i = 0; i < N_ROLES; i++)
        if (mask & role_names[i].bit) {
            int w = snprintf(buf + used, cap - used, "%s%s", used ? "," : "",
                             role_names[i].name);
            if (w < 0 || (size_t)w >= cap - used)
                break;
            used += (size_t)w;
        }
    return buf;
}

/* 0 when who is a name fit to show people (see dn_auth_label_who), else
 * DN_EFORMAT saying what is wrong and at which byte. */
static int check_who(const char *who, dn_err_t *err)
{
    const unsigned char *s = (const unsigned char *)who;
    size_t n = strlen(who);
    if (n > DN_AUTH_WHO_MAX)
        return dn_err_set(err, DN_EFORMAT, "who of %zu bytes (at most %d)", n, DN_AUTH_WHO_MAX);
    for (size_t i = 0; i < n;) {
        unsigned b = s[i];
        uint32_t cp;
        size_t len;
        if (b < 0x80) {
            cp = b;
            len = 1;
        } else if (b >= 0xC2 && b <= 0xDF) {
            cp = b & 0x1F;
            len = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            cp = b & 0x0F;
            len = 3;
        } else if (b >= 0xF0 && b <= 0xF4) {
            cp = b & 0x07;
            len = 4;
        } else {
            return dn_err_set(err, DN_EFORMAT, "who is not UTF-8 (byte %zu is 0x%02x)", i, b);
        }
        if (i + len > n)
            return dn_err_set(err, DN_EFORMAT, "who is not UTF-8 (cut at byte %zu)", i);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return dn_err_set(err, DN_EFORMAT, "who is not UTF-8 (byte %zu is 0x%02x)",
                                  i + k, s[i + k]);
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return dn_err_set(err, DN_EFORMAT, "who is not UTF-8 (byte %zu: overlong, "
                              "surrogate or beyond U+10FFFF)", i);
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return dn_err_set(err, DN_EFORMAT, "who has a control character at byte %zu", i);
        if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
            cp == 0x200F)
            return dn_err_set(err, DN_EFORMAT, "who has a bidirectional control (U+%04X) at "
                              "byte %zu", (unsigned)cp, i);
        i += len;
    }
    return 0;
}

int dn_auth_label_who(int roles, const char *peer, const char *claimed, const char **who,
                      dn_err_t *err)
{
    *who = NULL;
    if (roles < 0 || !(roles & DN_ROLE_LABELS))
        return dn_err_set(err, DN_EINVAL, "not admitted to label (roles file of keys_dir)");
    if (!(roles & DN_ROLE_DELEGATE) || !claimed || !claimed[0]) {
        *who = peer;
        return 0;
    }
    int rc = check_who(claimed, err);
    if (rc)
        return rc;
    *who = claimed;
    return 0;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= DN_AUTH_NAME_MAX || s[0] == '.')
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            return 0;
    return 1;
}

/* ---- key files ------------------------------------------------------------ */

int dn_auth_parse_key(const char *text, size_t len, uint8_t key[32], dn_err_t *err)
{
    size_t n = 0;
    while (n < len && text[n] != '\n' && text[n] != '\r' && text[n] != ' ')
        n++;
    int tail_ok = 1;
    for (size_t i = n; i < len; i++)
        tail_ok &= text[i] == '\n' || text[i] == '\r' || text[i] == ' ' || text[i] == '\t';
    if (n != DN_AUTH_Z85_LEN || !tail_ok)
        return dn_err_set(err, DN_EFORMAT, "want one key of %d Z85 characters",
                          DN_AUTH_Z85_LEN);
    /* zmq_z85_decode reads up to a NUL: a NUL inside the 40 characters would
     * leave the rest of the key unset. Found by fuzz/fuzz_keys.c. */
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
                                   "XYZ.-:+=^!/*?&<>()[]{}@%$#";
    for (size_t i = 0; i < n; i++)
        if (!text[i] || !strchr(alphabet, text[i]))
            return dn_err_set(err, DN_EFORMAT, "character %zu is not Z85", i + 1);
    char z85[DN_AUTH_Z85_LEN + 1];
    memcpy(z85, text, n);
    z85[n] = '\0';
    return zmq_z85_decode(key, z85) ? 0 : dn_err_set(err, DN_EFORMAT, "not Z85");
}

/* Reads a file holding one Z85 key (40 characters, then optional white
 * space) into key. */
static int read_key_file(const char *path, uint8_t key[32], dn_err_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = dn_read_file(path, &buf, &len, err);
    if (!rc && (rc = dn_auth_parse_key(buf, len, key, err)))
        dn_err_prefix(err, "key file %s", path);
    free(buf);
    return rc;
}

/* umask may have taken bits away; a public key is meant to be readable. */
static int fchmod_path(const char *path, mode_t mode, dn_err_t *err)
{
    if (chmod(path, mode))
        return dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static int write_key_file(const char *path, const uint8_t key[32], mode_t mode, dn_err_t *err)
{
    char z85[DN_AUTH_Z85_LEN + 1];
    zmq_z85_encode(z85, key, 32);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
    char line[DN_AUTH_Z85_LEN + 2];
    memcpy(line, z85, DN_AUTH_Z85_LEN);
    line[DN_AUTH_Z85_LEN] = '\n';
    ssize_t w = write(fd, line, sizeof line - 1);
    int rc = 0;
    if (w != (ssize_t)(sizeof line - 1) || fsync(fd))
        rc = dn_err_set(err, DN_EIO, "%s: %s", path, w < 0 ? strerror(errno) : "short write");
    if (close(fd) && !rc)
        rc = dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
    if (!rc && fchmod_path(path, mode, err))
        rc = err->code;
    return rc;
}

/* ---- the roles file -------------------------------------------------------- */

static known_key_t *find_key(const dn_keyring_t *self, const char *name)
{
    for (int i = 0; i < self->n; i++)
        if (!strcmp(self->keys[i].name, name))
            return &self->keys[i];
    return NULL;
}

/* The roles file in text (NUL-terminated, modified in place). */
static int parse_roles(const char *path, char *text, dn_auth_role_fn fn, void *arg,
                       dn_err_t *err)
{
    int lineno = 0;
    for (char *line = text, *next; line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *colon = strchr(line, ':');
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (!*p)
            continue;
        if (!colon)
            return dn_err_set(err, DN_EFORMAT, "%s line %d: want 'ROLE: NAME...'", path, lineno);
        *colon = '\0';
        char *end = colon;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        int role, rc;
        if ((rc = dn_auth_role_parse(p, &role, err)))
            return dn_err_prefix(err, "%s line %d", path, lineno), rc;
        for (char *tok = strtok(colon + 1, " \t\r,"); tok; tok = strtok(NULL, " \t\r,")) {
            if (!valid_name(tok))
                return dn_err_set(err, DN_EFORMAT, "%s line %d: '%.64s' is not a key name",
                                  path, lineno, tok);
            if ((rc = fn(role, tok, arg, err)))
                return dn_err_prefix(err, "%s line %d", path, lineno), rc;
        }
    }
    return 0;
}

int dn_auth_parse_roles(const char *path, const char *text, size_t len, dn_auth_role_fn fn,
                        void *arg, dn_err_t *err)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (memchr(text, '\0', len)) {
        free(copy);
        return dn_err_set(err, DN_EFORMAT, "%s: a NUL byte in a text file", path);
    }
    int rc = parse_roles(path, copy, fn, arg, err);
    free(copy);
    return rc;
}

static int grant_role(int role, const char *name, void *arg, dn_err_t *err)
{
    known_key_t *k = find_key(arg, name);
    if (!k)
        return dn_err_set(err, DN_EINVAL, "'%s' has no key file %s.pub", name, name);
    k->roles |= role;
    return 0;
}

typedef struct listed_t {
    const char *name;
    int found; /* roles already granted to name */
} listed_t;

static int note_listed(int role, const char *name, void *arg, dn_err_t *err)
{
    (void)err;
    listed_t *l = arg;
    if (!strcmp(name, l->name))
        l->found |= role;
    return 0;
}

/* Adds name to the roles in mask that do not list it yet, one appended line
 * per role (a person's comments and order stay). */
static int add_roles(const char *dir, const char *name, int mask, dn_err_t *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, ROLES_FILE);
    char *text = NULL;
    size_t len = 0;
    listed_t l = {name, 0};
    int rc = access(path, F_OK) ? 0 : dn_read_file(path, &text, &len, err);
    if (!rc && text) {
        rc = dn_auth_parse_roles(path, text, len, note_listed, &l, err);
        free(text);
    }
    if (rc)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
    if (len == 0) {
        const char *head = "# Who may speak on the dinamo bus, one line per role: ROLE: NAME...\n"
                           "# (roles: runs labels scores weights registry delegate;\n"
                           "# lib/pipe/auth.h)\n";
        if (write(fd, head, strlen(head)) != (ssize_t)strlen(head))
            rc = dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
    }
    for (int i = 0; i < N_ROLES && !rc; i++) {
        if (!(mask & role_names[i].bit) || (l.found & role_names[i].bit))
            continue;
        char line[160];
        int n = snprintf(line, sizeof line, "%s: %s\n", role_names[i].name, name);
        if (write(fd, line, (size_t)n) != n)
            rc = dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
    }
    if (fsync(fd) && !rc)
        rc = dn_err_set(err, DN_EIO, "%s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

/* ---- key generation and loading -------------------------------------------- */

int dn_auth_keygen(const char *dir, const char *name, int roles, int *made, dn_err_t *err)
{
    if (made)
        *made = 0;
    if (!valid_name(name))
        return dn_err_set(err, DN_EINVAL, "key name '%.64s': want 1 to 63 of [A-Za-z0-9._-], "
                          "not starting with '.'", name);
    if (!dn_auth_available())
        return dn_err_set(err, DN_EINVAL, "this libzmq was built without CURVE (libsodium)");
    int rc = dn_mkdirs(dir, err);
    if (rc)
        return rc;
    char pub_path[4096], sec_path[4096];
    snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, name);
    snprintf(sec_path, sizeof sec_path, "%s/%s.secret", dir, name);
    int has_pub = access(pub_path, F_OK) == 0, has_sec = access(sec_path, F_OK) == 0;
    if (has_pub != has_sec)
        return dn_err_set(err, DN_EINVAL, "%s: %s without %s: remove it or restore its pair",
                          dir, has_pub ? pub_path : sec_path, has_pub ? sec_path : pub_path);
    if (!has_pub) {
        char pub_z85[DN_AUTH_Z85_LEN + 1], sec_z85[DN_AUTH_Z85_LEN + 1];
        uint8_t pub[32], sec[32];
        if (zmq_curve_keypair(pub_z85, sec_z85) || !zmq_z85_decode(pub, pub_z85) ||
            !zmq_z85_decode(sec, sec_z85))
            return dn_err_set(err, DN_EIO, "zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
        if ((rc = write_key_file(sec_path, sec, 0600, err)) ||
            (rc = write_key_file(pub_path, pub, 0644, err)))
            return rc;
        if (made)
            *made = 1;
    }
    return roles ? add_roles(dir, name, roles, err) : 0;
}

static int add_key(dn_keyring_t *self, const char *name, const uint8_t pub[32], dn_err_t *err)
{
    if (self->n == self->cap) {
        int cap = self->cap ? 2 * self->cap : 16;
        known_key_t *k = realloc(self->keys, (size_t)cap * sizeof *k);
        if (!k)
            return dn_err_set(err, DN_ENOMEM, "keyring: out of memory");
        self->keys = k, self->cap = cap;
    }
    known_key_t *k = &self->keys[self->n++];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    memcpy(k->pub, pub, 32);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const known_key_t *)a)->name, ((const known_key_t *)b)->name);
}

static int load_public_keys(dn_keyring_t *self, const char *dir, dn_err_t *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return dn_err_set(err, errno == ENOENT ? DN_ENOTFOUND : DN_EIO,
                          "keys_dir %s: %s (make keys with `dinamo keygen NAME --dir %s`)", dir,
                          strerror(errno), dir);
    int rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".pub"))
            continue;
        char name[DN_AUTH_NAME_MAX];
        if (n - 4 >= sizeof name)
            continue;
        memcpy(name, e->d_name, n - 4);
        name[n - 4] = '\0';
        if (!valid_name(name))
            continue;
        char path[4096];
        uint8_t pub[32];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!(rc = read_key_file(path, pub, err)))
            rc = add_key(self, name, pub, err);
    }
    closedir(d);
    /* Sorted by name: the order of a directory listing is the filesystem's. */
    if (!rc && self->n > 1)
        qsort(self->keys, (size_t)self->n, sizeof *self->keys, by_name);
    return rc;
}

static int load_identity(dn_keyring_t *self, const char *dir, const char *identity,
                         dn_err_t *err)
{
    if (!valid_name(identity))
        return dn_err_set(err, DN_EINVAL, "identity '%.64s' is not a key name", identity);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.secret", dir, identity);
    struct stat st;
    if (stat(path, &st))
        return dn_err_set(err, errno == ENOENT ? DN_ENOTFOUND : DN_EIO, "%s: %s (make it with "
                          "`dinamo keygen %s --dir %s`)", path, strerror(errno), identity, dir);
    if (st.st_mode & 077)
        return dn_err_set(err, DN_EINVAL, "%s: secret key readable by others (mode %03o): "
                          "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
    int rc = read_key_file(path, self->own_secret, err);
    if (rc)
        return rc;
    char sec_z85[DN_AUTH_Z85_LEN + 1], pub_z85[DN_AUTH_Z85_LEN + 1];
    zmq_z85_encode(sec_z85, self->own_secret, 32);
    if (zmq_curve_public(pub_z85, sec_z85) || !zmq_z85_decode(self->own_pub, pub_z85))
        return dn_err_set(err, DN_EFORMAT, "%s: not a CURVE secret key", path);
    const uint8_t *listed = dn_keyring_public(self, identity);
    if (!listed)
        return dn_err_set(err, DN_ENOTFOUND, "%s/%s.pub: missing (the others need it)", dir,
                          identity);
    if (memcmp(listed, self->own_pub, 32))
        return dn_err_set(err, DN_EMISMATCH, "%s/%s.pub is not the public half of %s", dir,
                          identity, path);
    snprintf(self->identity, sizeof self->identity, "%s", identity);
    self->has_identity = 1;
    return 0;
}

dn_keyring_t *dn_keyring_load(const char *dir, const char *identity, dn_err_t *err)
{
    dn_keyring_t *self = calloc(1, sizeof *self);
    char *text = NULL;
    size_t len = 0;
    char path[4096];
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "keyring: out of memory");
        goto fail;
    }
    if (!dn_auth_available()) {
        dn_err_set(err, DN_EINVAL, "security is on but this libzmq was built without CURVE "
                   "(libsodium): install Debian's libzmq5, or say security = off");
        goto fail;
    }
    if (load_public_keys(self, dir, err))
        goto fail;
    snprintf(path, sizeof path, "%s/%s", dir, ROLES_FILE);
    if (access(path, F_OK)) {
        dn_err_set(err, DN_ENOTFOUND, "%s: no roles file (`dinamo keygen NAME --role ROLE "
                   "--dir %s` writes it)", path, dir);
        goto fail;
    }
    if (dn_read_file(path, &text, &len, err))
        goto fail;
    if (dn_auth_parse_roles(path, text, len, grant_role, self, err))
        goto fail;
    if (identity && load_identity(self, dir, identity, err))
        goto fail;
    free(text);
    return self;
fail:
    free(text);
    dn_keyring_destroy(&self);
    return NULL;
}

void dn_keyring_destroy(dn_keyring_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_keyring_t *self = *self_p;
    /* The secret key does not outlive its use in freed memory. */
    memset(self->own_secret, 0, sizeof self->own_secret);
    free(self->keys);
    free(self);
    *self_p = NULL;
}

const char *dn_keyring_identity(const dn_keyring_t *self) { return self->identity; }

const uint8_t *dn_keyring_own_public(const dn_keyring_t *self)
{
    return self->has_identity ? self->own_pub : NULL;
}

const uint8_t *dn_keyring_own_secret(const dn_keyring_t *self)
{
    return self->has_identity ? self->own_secret : NULL;
}

const uint8_t *dn_keyring_public(const dn_keyring_t *self, const char *name)
{
    known_key_t *k = find_key(self, name);
    return k ? k->pub : NULL;
}

int dn_keyring_roles(const dn_keyring_t *self, const char *name)
{
    known_key_t *k = find_key(self, name);
    return k ? k->roles : -1;
}

const char *dn_keyring_with_role(const dn_keyring_t *self, int mask, int i)
{
    for (int k = 0; k < self->n; k++)
        if ((self->keys[k].roles & mask) && i-- == 0)
            return self->keys[k].name;
    return NULL;
}

const char *dn_keyring_name_of(const dn_keyring_t *self, const uint8_t *key)
{
    for (int i = 0; i < self->n; i++)
        if (!memcmp(self->keys[i].pub, key, 32))
            return self->keys[i].name;
    return NULL;
}

const char *dn_auth_domain(int mask, char *buf, size_t cap)
{
    char roles[128];
    snprintf(buf, cap, DOMAIN_PREFIX "%s", dn_auth_roles_str(mask, roles, sizeof roles));
    return buf;
}

/* Reads a domain back into the mask it admits; -1 for a domain not ours. */
static int domain_mask(const char *domain)
{
    if (strncmp(domain, DOMAIN_PREFIX, strlen(DOMAIN_PREFIX)))
        return -1;
    const char *p = domain + strlen(DOMAIN_PREFIX);
    if (!strcmp(p, "any"))
        return DN_ROLE_ANY;
    int mask = 0;
    char copy[128];
    snprintf(copy, sizeof copy, "%s", p);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int role;
        if (dn_auth_role_parse(tok, &role, NULL))
            return -1;
        mask |= role;
    }
    return mask ? mask : -1;
}

/* ---- the ZAP handler --------------------------------------------------------- */

#define ZAP_MONITORS_MAX 32

struct dn_zap_t {
    const dn_keyring_t *keys;
    void *zctx;
    void *rep;
    pthread_t thread;
    int started;
    atomic_uint_fast64_t admitted, refused_unknown, refused_role, refused_handshake;
    /* Monitors of the bound sockets: endpoints handed over by dn_zap_watch
     * under the lock, connected by the handler's thread (the only one that
     * touches the PAIR sockets). */
    pthread_mutex_t lock;
    char pending[ZAP_MONITORS_MAX][64];
    int n_pending, n_watched;
    void *monitors[ZAP_MONITORS_MAX];
    int n_monitors;
};

#define ZAP_FRAMES 7 /* version, request id, domain, address, identity, mechanism, key */

static void zap_log_refusal(const char *what, const char *address, const char *domain)
{
    DN_LOG_LIMITED(DN_LOG_WARN, "security: connection from %s refused on %s: %s", address,
                   domain, what);
}

/* Decides one request: 200 with the key's name, or 400 with why. */
static const char *zap_decide(dn_zap_t *self, zmq_msg_t *f, int n, char *user, size_t cap)
{
    char domain[128] = "", mech[16] = "";
    if (n < 6)
        return "malformed ZAP request";
    size_t dl = zmq_msg_size(&f[2]), ml = zmq_msg_size(&f[5]);
    if (dl >= sizeof domain || ml >= sizeof mech)
        return "malformed ZAP request";
    memcpy(domain, zmq_msg_data(&f[2]), dl);
    memcpy(mech, zmq_msg_data(&f[5]), ml);
    int mask = domain_mask(domain);
    if (mask < 0)
        return "socket without a dinamo domain";
    if (strcmp(mech, "CURVE") || n < 7 || zmq_msg_size(&f[6]) != 32) {
        atomic_fetch_add(&self->refused_unknown, 1);
        return "no CURVE key";
    }
    const char *name = dn_keyring_name_of(self->keys, zmq_msg_data(&f[6]));
    if (!name) {
        atomic_fetch_add(&self->refused_unknown, 1);
        return "unknown key";
    }
    int roles = dn_keyring_roles(self->keys, name);
    if (mask != DN_ROLE_ANY && !(roles & mask)) {
        atomic_fetch_add(&self->refused_role, 1);
        snprintf(user, cap, "%s", name);
        return "key not admitted for the role";
    }
    snprintf(user, cap, "%s", name);
    atomic_fetch_add(&self->admitted, 1);
    return NULL;
}

static int zap_send(void *sock, const void *data, size_t len, int more)
{
    return zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

/* Answers one ZAP request waiting on the REP socket. Returns 0, or the
 * errno that ends the handler (ETERM). */
static int zap_answer(dn_zap_t *self)
{
    zmq_msg_t f[ZAP_FRAMES + 1];
    int n = 0, more = 1, rc = 0;
    while (more) {
        zmq_msg_t *m = &f[n < ZAP_FRAMES ? n : ZAP_FRAMES];
        zmq_msg_init(m);
        if (zmq_msg_recv(m, self->rep, 0) < 0) {
            rc = zmq_errno();
            zmq_msg_close(m);
            break;
        }
        more = zmq_msg_more(m);
        if (n < ZAP_FRAMES)
            n++;
        else
            zmq_msg_close(m);
    }
    if (rc) {
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        return rc == EINTR || rc == EAGAIN ? 0 : rc;
    }
    char user[DN_AUTH_NAME_MAX] = "", domain[128] = "", address[64] = "";
    const char *why = n >= 2 ? zap_decide(self, f, n, user, sizeof user) : "malformed";
    if (why && n >= 4) {
        snprintf(domain, sizeof domain, "%.*s", (int)zmq_msg_size(&f[2]),
                 (const char *)zmq_msg_data(&f[2]));
        snprintf(address, sizeof address, "%.*s", (int)zmq_msg_size(&f[3]),
                 (const char *)zmq_msg_data(&f[3]));
        char what[160];
        snprintf(what, sizeof what, "%s%s%s", why, user[0] ? " " : "", user);
        zap_log_refusal(what, address, domain);
    }
    /* A request id of any size is echoed back as it came. */
    const void *rid = n >= 2 ? zmq_msg_data(&f[1]) : "";
    size_t rid_len = n >= 2 ? zmq_msg_size(&f[1]) : 0;
    int bad = zap_send(self->rep, "1.0", 3, 1) || zap_send(self->rep, rid, rid_len, 1) ||
              zap_send(self->rep, why ? "400" : "200", 3, 1) ||
              zap_send(self->rep, why ? why : "OK", strlen(why ? why : "OK"), 1) ||
              zap_send(self->rep, why ? "" : user, why ? 0 : strlen(user), 1) ||
              zap_send(self->rep, "", 0, 0);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return bad && zmq_errno() == ETERM ? ETERM : 0;
}

/* Connects the monitors dn_zap_watch handed over since the last time. */
static void zap_take_pending(dn_zap_t *self)
{
    pthread_mutex_lock(&self->lock);
    for (int i = 0; i < self->n_pending && self->n_monitors < ZAP_MONITORS_MAX; i++) {
        void *pair = zmq_socket(self->zctx, ZMQ_PAIR);
        if (pair && zmq_connect(pair, self->pending[i]) == 0)
            self->monitors[self->n_monitors++] = pair;
        else if (pair)
            zmq_close(pair);
    }
    self->n_pending = 0;
    pthread_mutex_unlock(&self->lock);
}

/* One monitor event: a handshake that failed before ZAP was asked (a peer
 * without CURVE, or not speaking ZMTP at all) is a refused connection too;
 * those that failed in ZAP were counted when answered. */
static void zap_monitor_event(dn_zap_t *self, void *pair)
{
    zmq_msg_t ev, addr;
    zmq_msg_init(&ev);
    zmq_msg_init(&addr);
    if (zmq_msg_recv(&ev, pair, ZMQ_DONTWAIT) < 0)
        goto done;
    if (!zmq_msg_more(&ev) || zmq_msg_recv(&addr, pair, 0) < 0)
        goto done;
    if (zmq_msg_size(&ev) < 6)
        goto done;
    uint16_t event;
    memcpy(&event, zmq_msg_data(&ev), 2);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
        event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        atomic_fetch_add(&self->refused_handshake, 1);
        char where[80];
        snprintf(where, sizeof where, "%.*s", (int)zmq_msg_size(&addr),
                 (const char *)zmq_msg_data(&addr));
        zap_log_refusal("handshake failed (no CURVE key, or not ZeroMQ)", "a peer", where);
    }
done:
    zmq_msg_close(&ev);
    zmq_msg_close(&addr);
}

static void *zap_thread(void *arg)
{
    dn_zap_t *self = arg;
    for (;;) {
        zap_take_pending(self);
        zmq_pollitem_t items[1 + ZAP_MONITORS_MAX];
        items[0] = (zmq_pollitem_t){self->rep, 0, ZMQ_POLLIN, 0};
        for (int i = 0; i < self->n_monitors; i++)
            items[1 + i] = (zmq_pollitem_t){self->monitors[i], 0, ZMQ_POLLIN, 0};
        /* The timeout only bounds how long a new monitor waits to be read. */
        int n = zmq_poll(items, 1 + self->n_monitors, 200);
        if (n < 0 && zmq_errno() == ETERM)
            break;
        if (n <= 0)
            continue;
        if ((items[0].revents & ZMQ_POLLIN) && zap_answer(self) == ETERM)
            break;
        for (int i = 0; i < self->n_monitors; i++)
            if (items[1 + i].revents & ZMQ_POLLIN)
                zap_monitor_event(self, self->monitors[i]);
    }
    for (int i = 0; i < self->n_monitors; i++)
        zmq_close(self->monitors[i]);
    zmq_close(self->rep);
    self->rep = NULL;
    return NULL;
}

int dn_zap_watch(dn_zap_t *self, void *zsock, dn_err_t *err)
{
    pthread_mutex_lock(&self->lock);
    int rc = 0;
    if (self->n_watched == ZAP_MONITORS_MAX) {
        rc = dn_err_set(err, DN_EINVAL, "ZAP handler: more than %d bound sockets",
                        ZAP_MONITORS_MAX);
    } else {
        char *ep = self->pending[self->n_pending];
        snprintf(ep, sizeof self->pending[0], "inproc://dinamo-monitor-%d", self->n_watched);
        if (zmq_socket_monitor(zsock, ep, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                              ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
            rc = dn_err_set(err, DN_EIO, "ZAP handler: monitor: %s", zmq_strerror(zmq_errno()));
        else
            self->n_pending++, self->n_watched++;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

dn_zap_t *dn_zap_start(void *zctx, const dn_keyring_t *keys, dn_err_t *err)
{
    dn_zap_t *self = calloc(1, sizeof *self);
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "ZAP handler: out of memory");
        return NULL;
    }
    self->keys = keys;
    self->zctx = zctx;
    pthread_mutex_init(&self->lock, NULL);
    int linger = 0;
    if (!(self->rep = zmq_socket(zctx, ZMQ_REP)) ||
        zmq_setsockopt(self->rep, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(self->rep, "inproc://zeromq.zap.01")) {
        dn_err_set(err, DN_EIO, "ZAP handler: inproc://zeromq.zap.01: %s",
                   zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (pthread_create(&self->thread, NULL, zap_thread, self)) {
        dn_err_set(err, DN_EIO, "ZAP handler: cannot start its thread");
        goto fail;
    }
    self->started = 1;
    return self;
fail:
    if (self->rep)
        zmq_close(self->rep);
    pthread_mutex_destroy(&self->lock);
    free(self);
    return NULL;
}

dn_zap_stats_t dn_zap_stats(const dn_zap_t *self)
{
    dn_zap_t *s = (dn_zap_t *)self;
    return (dn_zap_stats_t){atomic_load(&s->admitted), atomic_load(&s->refused_unknown),
                            atomic_load(&s->refused_role), atomic_load(&s->refused_handshake)};
}

void dn_zap_stop(dn_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_zap_t *self = *self_p;
    if (self->started)
        pthread_join(self->thread, NULL);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}
