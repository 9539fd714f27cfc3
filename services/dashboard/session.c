/* session.c: the dashboard's session table and header checks (session.h).
 *
 * The table is a fixed array of max_sessions slots and a hash index over
 * them (buckets of slot indices chained through the slots), all allocated
 * at dash_session_new: a flood of logins cannot grow it. A slot is found by
 * the BLAKE2b digest of the cookie's 32 bytes; the digest is uniform
 * whatever the cookie, so its first bytes pick the bucket and the chains stay
 * short. Only at open, when the table is full, is every slot scanned (for the
 * expired and the least recently used): a login already costs an Argon2id
 * hash, far more than the scan.
 *
 * Invariants: a slot is in use iff it is on exactly one bucket's chain; a
 * free slot is on the free list; n counts the slots in use. */
#include "session.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

#define RAW_LEN 32 /* random bytes of a cookie or token */
#define MAX_SESSIONS_CAP (1 << 20)
#define HEADER_TRIES 16 /* dinamo_session values of one header tried at most */

typedef struct slot_t {
    uint8_t digest[crypto_generichash_BYTES];
    char user[DASH_SESSION_USER_MAX + 1];
    char csrf[DASH_SESSION_TOKEN_LEN + 1];
    double opened, last_used;
    int next; /* next slot of its bucket, or of the free list; -1 ends */
    int used;
} slot_t;

struct dash_session_t {
    dash_session_opts_t o;
    slot_t *slot;
    int *bucket; /* n_buckets heads, -1 empty */
    uint32_t bucket_mask;
    int free_head;
    int n;
    pthread_mutex_t lock;
};

void dash_session_opts_default(dash_session_opts_t *o)
{
    o->max_sessions = 1024;
    o->idle_s = 8 * 3600.0;
    o->absolute_s = 24 * 3600.0;
}

dash_session_t *dash_session_new(const dash_session_opts_t *opts, dn_err_t *err)
{
    dash_session_opts_t o;
    dash_session_opts_default(&o);
    if (opts)
        o = *opts;
    if (o.max_sessions < 1 || o.max_sessions > MAX_SESSIONS_CAP) {
        dn_err_set(err, DN_EINVAL, "sessions: max_sessions %d: want 1 to %d", o.max_sessions,
                   MAX_SESSIONS_CAP);
        return NULL;
    }
    if (!(o.idle_s > 0) || !(o.absolute_s > 0) || o.idle_s > 1e9 || o.absolute_s > 1e9) {
        dn_err_set(err, DN_EINVAL, "sessions: idle %g s, absolute %g s: want both > 0", o.idle_s,
                   o.absolute_s);
        return NULL;
    }
    if (dn_sodium_init(err))
        return NULL;
    dash_session_t *self = calloc(1, sizeof *self);
    uint32_t n_buckets = 2;
    while (n_buckets < 2u * (uint32_t)o.max_sessions)
        n_buckets <<= 1;
    if (self) {
        self->slot = calloc((size_t)o.max_sessions, sizeof *self->slot);
        self->bucket = malloc(n_buckets * sizeof *self->bucket);
    }
    if (!self || !self->slot || !self->bucket) {
        dn_err_set(err, DN_ENOMEM, "sessions: out of memory for %d sessions", o.max_sessions);
        if (self) {
            free(self->slot);
            free(self->bucket);
            free(self);
        }
        return NULL;
    }
    self->o = o;
    self->bucket_mask = n_buckets - 1;
    for (uint32_t b = 0; b < n_buckets; b++)
        self->bucket[b] = -1;
    for (int i = 0; i < o.max_sessions; i++)
        self->slot[i].next = i + 1 < o.max_sessions ? i + 1 : -1;
    self->free_head = 0;
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

void dash_session_destroy(dash_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dash_session_t *self = *self_p;
    sodium_memzero(self->slot, (size_t)self->o.max_sessions * sizeof *self->slot);
    free(self->slot);
    free(self->bucket);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/* ---- the table (callers hold the lock) ----------------------------------------- */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* A well-formed value: exactly 64 lowercase hex characters, decoded. */
static int decode_token(const char *s, uint8_t raw[RAW_LEN])
{
    if (!s)
        return -1;
    for (int i = 0; i < RAW_LEN; i++) {
        int hi = hex_val(s[2 * i]), lo = hi < 0 ? -1 : hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        raw[i] = (uint8_t)(hi << 4 | lo);
    }
    return s[2 * RAW_LEN] == '\0' ? 0 : -1;
}

static void digest_of(const uint8_t raw[RAW_LEN], uint8_t d[crypto_generichash_BYTES])
{
    crypto_generichash(d, crypto_generichash_BYTES, raw, RAW_LEN, NULL, 0);
}

static uint32_t bucket_of(const dash_session_t *self, const uint8_t *d)
{
    uint32_t h;
    memcpy(&h, d, sizeof h);
    return h & self->bucket_mask;
}

static int lookup(const dash_session_t *self, const uint8_t *d)
{
    for (int i = self->bucket[bucket_of(self, d)]; i >= 0; i = self->slot[i].next)
        if (sodium_memcmp(self->slot[i].digest, d, crypto_generichash_BYTES) == 0)
            return i;
    return -1;
}

static void forget(dash_session_t *self, int i)
{
    slot_t *s = &self->slot[i];
    int *link = &self->bucket[bucket_of(self, s->digest)];
    while (*link != i)
        link = &self->slot[*link].next;
    *link = s->next;
    sodium_memzero(s, sizeof *s);
    s->next = self->free_head;
    self->free_head = i;
    self->n--;
}

static int expired(const dash_session_t *self, const slot_t *s, double now)
{
    return !(now - s->last_used < self->o.idle_s) || !(now - s->opened < self->o.absolute_s);
}

/* Makes room for one more: the expired first, then the least recently used. */
static void make_room(dash_session_t *self, double now)
{
    int lru = -1;
    for (int i = 0; i < self->o.max_sessions; i++) {
        if (!self->slot[i].used)
            continue;
        if (expired(self, &self->slot[i], now))
            forget(self, i);
        else if (lru < 0 || self->slot[i].last_used < self->slot[lru].last_used)
            lru = i;
    }
    if (self->free_head < 0 && lru >= 0)
        forget(self, lru);
}

static void hex_of(const uint8_t raw[RAW_LEN], char out[DASH_SESSION_TOKEN_LEN + 1])
{
    sodium_bin2hex(out, DASH_SESSION_TOKEN_LEN + 1, raw, RAW_LEN);
}

/* ---- sessions ------------------------------------------------------------------ */

int dash_session_open(dash_session_t *self, const char *user, double now,
                      char cookie[DASH_SESSION_TOKEN_LEN + 1], char csrf[DASH_SESSION_TOKEN_LEN + 1],
                      dn_err_t *err)
{
    size_t n = user ? strnlen(user, DASH_SESSION_USER_MAX + 1) : 0;
    if (n == 0 || n > DASH_SESSION_USER_MAX)
        return dn_err_set(err, DN_EINVAL, "session: user name of %zu bytes: want 1 to %d", n,
                          DASH_SESSION_USER_MAX);
    for (size_t i = 0; i < n; i++)
        if (user[i] < 0x21 || user[i] > 0x7e)
            return dn_err_set(err, DN_EINVAL, "session: user name with byte 0x%02x: want "
                              "printable ASCII", (unsigned)(unsigned char)user[i]);
    uint8_t raw[RAW_LEN], d[crypto_generichash_BYTES];
    pthread_mutex_lock(&self->lock);
    if (self->free_head < 0)
        make_room(self, now);
    do { /* a repeat of a live cookie is 2^-256 likely; never hand out one */
        randombytes_buf(raw, sizeof raw);
        digest_of(raw, d);
    } while (lookup(self, d) >= 0);
    int i = self->free_head;
    slot_t *s = &self->slot[i];
    self->free_head = s->next;
    memset(s, 0, sizeof *s);
    memcpy(s->digest, d, sizeof d);
    memcpy(s->user, user, n);
    hex_of(raw, cookie);
    randombytes_buf(raw, sizeof raw);
    hex_of(raw, s->csrf);
    memcpy(csrf, s->csrf, sizeof s->csrf);
    s->opened = s->last_used = now;
    s->used = 1;
    uint32_t b = bucket_of(self, d);
    s->next = self->bucket[b];
    self->bucket[b] = i;
    self->n++;
    pthread_mutex_unlock(&self->lock);
    sodium_memzero(raw, sizeof raw);
    return 0;
}

/* Finds the live slot of a cookie value (lock held): its index or -1. */
static int find_locked(dash_session_t *self, const char *cookie, double now)
{
    uint8_t raw[RAW_LEN], d[crypto_generichash_BYTES];
    if (decode_token(cookie, raw))
        return -1;
    digest_of(raw, d);
    int i = lookup(self, d);
    if (i >= 0 && expired(self, &self->slot[i], now)) {
        forget(self, i);
        i = -1;
    }
    if (i >= 0 && now > self->slot[i].last_used)
        self->slot[i].last_used = now;
    return i;
}

static void copy_info(const slot_t *s, dash_session_info_t *info)
{
    if (!info)
        return;
    memcpy(info->user, s->user, sizeof info->user);
    memcpy(info->csrf, s->csrf, sizeof info->csrf);
    info->opened = s->opened;
    info->last_used = s->last_used;
}

int dash_session_find(dash_session_t *self, const char *cookie, double now,
                      dash_session_info_t *info)
{
    pthread_mutex_lock(&self->lock);
    int i = find_locked(self, cookie, now);
    if (i >= 0)
        copy_info(&self->slot[i], info);
    pthread_mutex_unlock(&self->lock);
    return i >= 0 ? 0 : DN_ENOTFOUND;
}

int dash_session_find_header(dash_session_t *self, const char *header, double now,
                             dash_session_info_t *info, char cookie_out[DASH_SESSION_TOKEN_LEN + 1])
{
    char value[DASH_SESSION_TOKEN_LEN + 1];
    size_t pos = 0;
    for (int tries = 0; tries < HEADER_TRIES && dash_session_cookie_next(header, &pos, value);
         tries++)
        if (dash_session_find(self, value, now, info) == 0) {
            if (cookie_out)
                memcpy(cookie_out, value, sizeof value);
            return 0;
        }
    return DN_ENOTFOUND;
}

int dash_session_check_csrf(const dash_session_info_t *info, const char *token)
{
    if (!info || !token || strnlen(token, DASH_SESSION_TOKEN_LEN + 1) != DASH_SESSION_TOKEN_LEN ||
        strlen(info->csrf) != DASH_SESSION_TOKEN_LEN)
        return DN_EPERM;
    return sodium_memcmp(token, info->csrf, DASH_SESSION_TOKEN_LEN) == 0 ? 0 : DN_EPERM;
}

int dash_session_drop(dash_session_t *self, const char *cookie)
{
    uint8_t raw[RAW_LEN], d[crypto_generichash_BYTES];
    if (decode_token(cookie, raw))
        return DN_ENOTFOUND;
    digest_of(raw, d);
    pthread_mutex_lock(&self->lock);
    int i = lookup(self, d);
    if (i >= 0)
        forget(self, i);
    pthread_mutex_unlock(&self->lock);
    return i >= 0 ? 0 : DN_ENOTFOUND;
}

int dash_session_count(dash_session_t *self)
{
    pthread_mutex_lock(&self->lock);
    int n = self->n;
    pthread_mutex_unlock(&self->lock);
    return n;
}

/* ---- Set-Cookie ------------------------------------------------------------------ */

int dash_session_set_cookie(char *buf, size_t cap, const char *cookie, int secure)
{
    uint8_t raw[RAW_LEN];
    if (!buf || (cookie && decode_token(cookie, raw)))
        return DN_EINVAL;
    int n = snprintf(buf, cap, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
                     DASH_SESSION_COOKIE_NAME, cookie ? cookie : "", cookie ? "" : "; Max-Age=0",
                     secure ? "; Secure" : "");
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            buf[0] = '\0';
        return DN_EINVAL;
    }
    return 0;
}

/* ---- the Cookie header ----------------------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\t'; }

int dash_session_cookie_next(const char *header, size_t *pos,
                             char out[DASH_SESSION_TOKEN_LEN + 1])
{
    static const char name[] = DASH_SESSION_COOKIE_NAME;
    const size_t name_len = sizeof name - 1;
    if (!header || !pos)
        return 0;
    const size_t len = strnlen(header, DASH_SESSION_HEADER_MAX);
    size_t p = *pos;
    while (p < len) {
        /* One pair: [p, end). */
        size_t end = p;
        while (end < len && header[end] != ';' && header[end] != ',')
            end++;
        size_t a = p, b = end;
        p = end < len ? end + 1 : len;
        while (a < b && is_ws(header[a]))
            a++;
        while (b > a && is_ws(header[b - 1]))
            b--;
        const char *eq = memchr(header + a, '=', b - a);
        if (!eq)
            continue;
        size_t n_end = (size_t)(eq - header);
        while (n_end > a && is_ws(header[n_end - 1]))
            n_end--;
        if (n_end - a != name_len || memcmp(header + a, name, name_len))
            continue;
        size_t v = (size_t)(eq - header) + 1;
        while (v < b && is_ws(header[v]))
            v++;
        if (b - v >= 2 && header[v] == '"' && header[b - 1] == '"')
            v++, b--;
        if (b - v != DASH_SESSION_TOKEN_LEN)
            continue;
        int ok = 1;
        for (size_t k = v; k < b && ok; k++)
            ok = hex_val(header[k]) >= 0;
        if (!ok)
            continue;
        memcpy(out, header + v, DASH_SESSION_TOKEN_LEN);
        out[DASH_SESSION_TOKEN_LEN] = '\0';
        *pos = p;
        return 1;
    }
    *pos = len;
    return 0;
}

/* ---- Origin against Host ----------------------------------------------------------- */

typedef struct hostport_t {
    const char *host;
    size_t host_len;
    long port; /* -1: absent */
} hostport_t;

static int reg_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_' || c == '~';
}

/* Parses exactly s[0..n) as host[:port] (IPv6 in brackets). Returns 0 or -1. */
static int parse_hostport(const char *s, size_t n, hostport_t *hp)
{
    size_t i = 0;
    if (n > 0 && s[0] == '[') {
        while (i < n && s[i] != ']')
            i++;
        if (i == n || i < 3)
            return -1;
        for (size_t k = 1; k < i; k++)
            if (!(hex_val(s[k] | 0x20) >= 0 || s[k] == ':' || s[k] == '.'))
                return -1;
        i++;
    } else {
        while (i < n && reg_name_char(s[i]))
            i++;
        if (i == 0)
            return -1;
    }
    hp->host = s, hp->host_len = i, hp->port = -1;
    if (i == n)
        return 0;
    if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
        return -1;
    long port = 0;
    for (size_t k = i + 1; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        port = port * 10 + (s[k] - '0');
    }
    if (port < 1 || port > 65535)
        return -1;
    hp->port = port;
    return 0;
}

static int same_ci(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

int dash_session_origin_check(const char *origin, const char *host, const char *scheme)
{
    if (!origin || !origin[0])
        return DN_ENOTFOUND;
    if (!host || !scheme)
        return DN_EPERM;
    long default_port;
    if (!strcmp(scheme, "http"))
        default_port = 80;
    else if (!strcmp(scheme, "https"))
        default_port = 443;
    else
        return DN_EPERM;
    size_t sl = strlen(scheme);
    size_t on = strnlen(origin, 512), hn = strnlen(host, 512);
    if (on == 512 || hn == 512)
        return DN_EPERM;
    if (on < sl + 3 || !same_ci(origin, scheme, sl) || memcmp(origin + sl, "://", 3))
        return DN_EPERM;
    hostport_t o, h;
    if (parse_hostport(origin + sl + 3, on - sl - 3, &o) || parse_hostport(host, hn, &h))
        return DN_EPERM;
    long op = o.port < 0 ? default_port : o.port, hp = h.port < 0 ? default_port : h.port;
    if (o.host_len != h.host_len || !same_ci(o.host, h.host, o.host_len) || op != hp)
        return DN_EPERM;
    return 0;
}
