/* stream.c: durable ordered logs between services (see stream.h).
 *
 * Source invariants:
 *   committed <= head; entries [0, committed) are in the store table `log`,
 *   [committed, head) are pending in memory (not yet published);
 *   cursor <= committed: the next offset to publish; only committed entries
 *   are ever published, so what a follower saw survives a source restart;
 *   the cache holds the encoded bytes of the most recent committed entries so
 *   publishing in the common case does not read LMDB.
 * An entry is stored as: u8 topic length, the topic, then the envelope encoded
 * without producer, incarnation, seq and time_sent. At publication the source
 * puts a small encoding holding just those four fields and the entry's offset
 * (the stamp) in front of it: protobuf merges concatenated messages, so the
 * receiver parses one envelope, and the entry is sent without decoding and
 * re-encoding it. The stamp comes first so that a follower reads the offset
 * of an entry even when the bytes after it are damaged (see "poison" below).
 *
 * Poison entries. dn_source_append decodes what it appends exactly as a
 * follower will (stamp + entry, dn_msg_decode), so this version never stores
 * what its followers refuse. An entry that is refused anyway (stored by an
 * older, looser version, or damaged in the store) is skipped by every
 * follower, once, by offset (dn_follower_refused); an entry whose framing in
 * the store is damaged is published as a hole (the stamp alone), which
 * followers refuse and skip the same way. Nothing ever rewinds to an entry
 * that cannot be delivered.
 *
 * Flow control holds. A follower holds the stream back (counts in the slowest
 * acked next) only while it is heard (within the follower timeout) and:
 *   - when the source has a list of required followers: it is on the list
 *     (the others are served, rewinds included, but never wait for);
 *   - else: it is caught up (its next is at or beyond both the cursor and
 *     everything this incarnation published), or it was caught up or raised
 *     its acked next within the last follower timeout (so a follower gets a
 *     whole timeout to progress after entries appear beyond it). A name seen
 *     first while behind has had no chance yet and holds nothing until it
 *     progresses (its first offset is not progress).
 * A passive follower (its ACK/REWIND says Control.passive: a dashboard)
 * never holds the stream, whatever the rest of this rule says (required
 * included), so it never counts among the min_followers either: it reads
 * what the others' pace lets through and rewinds for what it missed.
 * Its REWIND does not move the cursor back: the source republishes from its
 * offset (the replay position, the lowest asked for) up to the cursor beside
 * the stream, at most a window per pump, so a dashboard restarting against a
 * long log costs the source a window's worth of sends per round and never
 * delays what the holding followers wait for. An
 * `unheld` source (opts.unheld: a log that only passive followers read, the
 * evaluator's thresholds) publishes every committed entry at once and its
 * room never depends on followers.
 * So a name that only repeats an old ACK (a forged "offset 0", a follower
 * stuck for good, a stream of new names behind) holds nothing, or stops
 * holding one timeout after it last progressed; it can still rewind and read
 * everything later (the log is never pruned). A follower restored far behind
 * holds once its REWIND brought the cursor back to it. The table is bounded
 * (max_followers): a new name takes the slot of one that does not hold the
 * stream (a passive one first, each kind the one heard longest ago), else is
 * refused; required names always find a slot.
 *
 * Follower invariant: every entry below next was delivered exactly once or
 * skipped as refused (stats.skipped). */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int valid_log_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > DN_STREAM_LOG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static void offset_key(uint64_t offset, uint8_t key[8])
{
    for (int i = 7; i >= 0; i--) {
        key[i] = (uint8_t)offset;
        offset >>= 8;
    }
}

/* Packs the stamp {producer, incarnation, seq, time_sent, offset (when
 * has_offset: an entry, not a heartbeat)} into buf[cap].
 * Returns its length, or 0 when it does not fit. */
static size_t pack_stamp(const char *producer, uint64_t incarnation, uint64_t seq,
                         int has_offset, uint64_t offset, uint8_t *buf, size_t cap)
{
    Dinamo__Envelope st = DINAMO__ENVELOPE__INIT;
    st.has_offset = has_offset;
    st.offset = offset;
    st.producer = (char *)producer;
    st.has_incarnation = 1;
    st.incarnation = incarnation;
    st.has_seq = 1;
    st.seq = seq;
    st.has_time_sent = 1;
    st.time_sent = wall_s();
    size_t n = dinamo__envelope__get_packed_size(&st);
    if (n > cap)
        return 0;
    return dinamo__envelope__pack(&st, buf);
}

/* ---- source ---------------------------------------------------------------- */

typedef struct entry_t {
    uint8_t *buf; /* u8 topic length, topic, envelope */
    size_t len;
} entry_t;

typedef struct follower_slot_t {
    char *name;
    uint64_t next;
    int64_t last_ms;     /* last heard */
    int64_t stalled_from; /* last raised its next or was caught up (INT64_MIN / 2: never) */
    int required;        /* named in opts.required */
    int passive;         /* its last request said Control.passive: never holds */
} follower_slot_t;

#define STAMP_MAX (DN_MSG_KEY_MAX + 64)

struct dn_source_t {
    dn_store_t *store;
    dn_sock_t *pub;
    char log[DN_STREAM_LOG_MAX + 1];
    char producer[DN_MSG_KEY_MAX + 1];
    int window, min_followers, timeout_ms, heartbeat_ms, max_followers;
    int unheld;           /* opts.unheld: publish at once, never wait for a follower */
    char **required;      /* NULL-terminated copy of opts.required, or NULL */
    int gate_open;        /* min_followers were live once: from then on any live follower will do */
    uint64_t incarnation, seq;

    uint64_t head, committed, cursor, max_published;
    uint64_t replay;      /* next offset (< cursor) republished for passive followers;
                           * UINT64_MAX: none */
    uint64_t published_top; /* 1 + the highest offset this incarnation published, 0: none */
    entry_t *pending; /* [head - committed] */
    size_t n_pending, cap_pending;
    entry_t *cache;   /* ring of the last cache_cap committed entries, by offset % cache_cap */
    uint64_t cache_from; /* lowest offset in the cache */
    size_t cache_cap;

    follower_slot_t *followers;
    int n_followers, cap_followers;

    uint8_t *sendbuf;
    size_t sendcap;
    int64_t last_heartbeat_ms;
    dn_source_stats_t stats;
};

static void entry_free(entry_t *e)
{
    free(e->buf);
    e->buf = NULL;
    e->len = 0;
}

/* Puts the publication of payload (the stamp, with offset when has_offset,
 * then payload) into self->sendbuf: *total bytes. Returns 0, DN_EINVAL,
 * DN_ENOMEM. */
static int assemble(dn_source_t *self, const uint8_t *payload, size_t len, int has_offset,
                    uint64_t offset, size_t *total, dn_err_t *err)
{
    uint8_t stamp[STAMP_MAX + 32];
    size_t sl = pack_stamp(self->producer, self->incarnation, self->seq, has_offset, offset,
                           stamp, sizeof stamp);
    if (!sl)
        return dn_err_set(err, DN_EINVAL, "source %s: producer name too long", self->log);
    if (len + sl > self->sendcap) {
        size_t cap = (len + sl) * 2;
        uint8_t *b = realloc(self->sendbuf, cap);
        if (!b)
            return dn_err_set(err, DN_ENOMEM, "source %s: out of memory", self->log);
        self->sendbuf = b;
        self->sendcap = cap;
    }
    memcpy(self->sendbuf, stamp, sl);
    if (len)
        memcpy(self->sendbuf + sl, payload, len);
    *total = sl + len;
    return 0;
}

dn_source_t *dn_source_new(dn_store_t *store, dn_sock_t *pub, const dn_source_opts_t *opts,
                           dn_err_t *err)
{
    dn_source_t *self = NULL;
    if (!store || !pub || !opts || !valid_log_name(opts->log) || !opts->service ||
        !opts->service[0] || strlen(opts->service) + strlen(opts->log) + 2 > DN_MSG_KEY_MAX ||
        opts->window < 0 || opts->min_followers < 0 || opts->heartbeat_ms < 0 ||
        opts->max_followers < 0) {
        dn_err_set(err, DN_EINVAL, "source: invalid options (log name [a-z0-9_]+, service, "
                   "window >= 0, min_followers >= 0, heartbeat_ms >= 0, max_followers >= 0)");
        return NULL;
    }
    int n_required = 0;
    for (const char *const *r = opts->required; r && *r; r++, n_required++)
        if (!(*r)[0] || strlen(*r) > DN_MSG_KEY_MAX - 16) {
            dn_err_set(err, DN_EINVAL, "source %s: required follower name '%s' of %zu bytes "
                       "(1 .. %d)", opts->log, *r, strlen(*r), DN_MSG_KEY_MAX - 16);
            return NULL;
        }
    int max_followers = opts->max_followers ? opts->max_followers : DN_SOURCE_FOLLOWERS_MAX;
    if (n_required > max_followers) {
        dn_err_set(err, DN_EINVAL, "source %s: %d required followers, max_followers %d",
                   opts->log, n_required, max_followers);
        return NULL;
    }
    if (dn_sock_type(pub) != ZMQ_PUB) {
        dn_err_set(err, DN_EINVAL, "source %s: needs a PUB socket", opts->log);
        return NULL;
    }
    if (!(self = calloc(1, sizeof *self))) {
        dn_err_set(err, DN_ENOMEM, "source %s: out of memory", opts->log);
        return NULL;
    }
    self->store = store;
    self->pub = pub;
    snprintf(self->log, sizeof self->log, "%s", opts->log);
    snprintf(self->producer, sizeof self->producer, "%s/%s", opts->service, opts->log);
    self->window = opts->window ? opts->window : 32;
    self->min_followers = opts->min_followers ? opts->min_followers : 1;
    self->timeout_ms = opts->follower_timeout_ms ? opts->follower_timeout_ms : 30000;
    self->heartbeat_ms = opts->heartbeat_ms ? opts->heartbeat_ms : 200;
    self->max_followers = max_followers;
    self->unheld = opts->unheld != 0;
    if (n_required) {
        if (!(self->required = calloc((size_t)n_required + 1, sizeof *self->required))) {
            dn_err_set(err, DN_ENOMEM, "source %s: out of memory", opts->log);
            goto fail;
        }
        for (int i = 0; i < n_required; i++)
            if (!(self->required[i] = strdup(opts->required[i]))) {
                dn_err_set(err, DN_ENOMEM, "source %s: out of memory", opts->log);
                goto fail;
            }
    }
    self->incarnation = wall_ns();
    self->cache_cap = (size_t)self->window * 2 + 16;
    if (!(self->cache = calloc(self->cache_cap, sizeof *self->cache))) {
        dn_err_set(err, DN_ENOMEM, "source %s: out of memory", opts->log);
        goto fail;
    }
    uint64_t n = 0;
    if (dn_store_count(store, self->log, &n, err)) {
        dn_err_prefix(err, "source %s", self->log);
        goto fail;
    }
    self->head = self->committed = self->cursor = self->max_published = n;
    self->replay = UINT64_MAX;
    self->cache_from = n;
    self->last_heartbeat_ms = mono_ms() - self->heartbeat_ms;
    return self;
fail:
    dn_source_destroy(&self);
    return NULL;
}

void dn_source_destroy(dn_source_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_source_t *self = *self_p;
    for (size_t i = 0; i < self->n_pending; i++)
        entry_free(&self->pending[i]);
    free(self->pending);
    if (self->cache)
        for (size_t i = 0; i < self->cache_cap; i++)
            entry_free(&self->cache[i]);
    free(self->cache);
    for (int i = 0; i < self->n_followers; i++)
        free(self->followers[i].name);
    free(self->followers);
    for (char **r = self->required; r && *r; r++)
        free(*r);
    free(self->required);
    free(self->sendbuf);
    free(self);
    *self_p = NULL;
}

int dn_source_append(dn_source_t *self, Dinamo__Envelope *env, dn_err_t *err)
{
    uint8_t *enc = NULL, *buf = NULL;
    size_t len = 0;
    int rc;
    /* Validate as a complete envelope (producer and seq are stamped later). */
    Dinamo__Envelope copy = *env;
    copy.producer = self->producer;
    copy.has_seq = 1;
    copy.seq = 0;
    copy.has_offset = 1;
    copy.offset = self->head;
    if ((rc = dn_msg_validate(&copy, NULL, err)))
        return rc;
    char topic[DN_BUS_TOPIC_MAX];
    int tl = dn_bus_topic(&copy, topic, sizeof topic);
    if (tl < 0 || tl > 255)
        return dn_err_set(err, DN_EFORMAT, "source %s: no topic for the envelope", self->log);
    copy.producer = NULL;
    copy.has_seq = 0;
    copy.has_incarnation = 0;
    copy.has_time_sent = 0;
    if ((rc = dn_msg_encode_unchecked(&copy, &enc, &len)))
        return dn_err_set(err, rc, "source %s: out of memory", self->log);
    if (self->n_pending == self->cap_pending) {
        size_t cap = self->cap_pending ? self->cap_pending * 2 : 64;
        entry_t *p = realloc(self->pending, cap * sizeof *p);
        if (!p) {
            rc = dn_err_set(err, DN_ENOMEM, "source %s: out of memory", self->log);
            goto fail;
        }
        self->pending = p;
        self->cap_pending = cap;
    }
    if (!(buf = malloc(1 + (size_t)tl + len))) {
        rc = dn_err_set(err, DN_ENOMEM, "source %s: out of memory", self->log);
        goto fail;
    }
    buf[0] = (uint8_t)tl;
    memcpy(buf + 1, topic, (size_t)tl);
    memcpy(buf + 1 + tl, enc, len);
    /* Read it back exactly as a follower will (stamp + entry, the bus's
     * decoder): what a follower would refuse is never appended. */
    size_t total = 0;
    Dinamo__Envelope *back = NULL;
    if ((rc = assemble(self, enc, len, 1, self->head, &total, err)))
        goto fail;
    if ((rc = dn_msg_decode(self->sendbuf, total, &back, NULL, err))) {
        dn_err_prefix(err, "source %s: entry %llu would not be readable", self->log,
                      (unsigned long long)self->head);
        goto fail;
    }
    dn_msg_free(&back);
    self->pending[self->n_pending++] = (entry_t){buf, 1 + (size_t)tl + len};
    env->has_offset = 1;
    env->offset = self->head++;
    self->stats.head = self->head;
    free(enc);
    return 0;
fail:
    free(enc);
    free(buf);
    return rc;
}

int dn_source_stage(dn_source_t *self, dn_store_batch_t *batch)
{
    for (size_t i = 0; i < self->n_pending; i++) {
        uint8_t key[8];
        offset_key(self->committed + i, key);
        int rc = dn_store_batch_put(batch, self->log, key, 8, self->pending[i].buf,
                                    self->pending[i].len);
        if (rc)
            return rc;
    }
    return 0;
}

void dn_source_committed(dn_source_t *self)
{
    /* Pending entries move into the cache (evicting the oldest). */
    for (size_t i = 0; i < self->n_pending; i++) {
        uint64_t off = self->committed + i;
        entry_t *slot = &self->cache[off % self->cache_cap];
        entry_free(slot);
        *slot = self->pending[i];
    }
    self->committed += self->n_pending;
    self->n_pending = 0;
    if (self->committed - self->cache_from > self->cache_cap)
        self->cache_from = self->committed - self->cache_cap;
    self->stats.committed = self->committed;
}

int dn_source_commit(dn_source_t *self, dn_err_t *err)
{
    if (!self->n_pending)
        return 0;
    dn_store_batch_t *b = dn_store_batch_new();
    if (!b)
        return dn_err_set(err, DN_ENOMEM, "source %s: out of memory", self->log);
    int rc = dn_source_stage(self, b);
    if (rc)
        dn_err_set(err, rc, "source %s: out of memory", self->log);
    else if (!(rc = dn_store_apply(self->store, b, err)))
        dn_source_committed(self);
    dn_store_batch_destroy(&b);
    return rc;
}

static int heard(const dn_source_t *self, const follower_slot_t *f, int64_t now)
{
    return self->timeout_ms <= 0 || now - f->last_ms <= self->timeout_ms;
}

/* f has everything there is to have: nothing published lies beyond its next. */
static int caught_up(const dn_source_t *self, const follower_slot_t *f)
{
    uint64_t top = self->cursor > self->published_top ? self->cursor : self->published_top;
    return f->next >= top;
}

/* f holds the stream back (see the top of this file). */
static int holds(const dn_source_t *self, const follower_slot_t *f, int64_t now)
{
    if (f->passive || !heard(self, f, now))
        return 0;
    if (self->required)
        return f->required;
    return caught_up(self, f) || self->timeout_ms <= 0 ||
           now - f->stalled_from <= self->timeout_ms;
}

/* The progress clocks: a follower caught up is not stalled, so one that
 * falls behind as entries are published gets a whole timeout to progress. */
static void refresh_caught_up(dn_source_t *self, int64_t now)
{
    for (int i = 0; i < self->n_followers; i++)
        if (caught_up(self, &self->followers[i]))
            self->followers[i].stalled_from = now;
}

/* Followers holding the stream back, and the smallest next among them. */
static int live_followers(const dn_source_t *self, int64_t now, uint64_t *slowest)
{
    int live = 0;
    uint64_t s = UINT64_MAX;
    for (int i = 0; i < self->n_followers; i++) {
        const follower_slot_t *f = &self->followers[i];
        if (!holds(self, f, now))
            continue;
        live++;
        if (f->next < s)
            s = f->next;
    }
    *slowest = live ? s : 0;
    return live;
}

/* The offset up to which (exclusive) publication is allowed now. */
static uint64_t publish_limit(const dn_source_t *self, int64_t now)
{
    if (self->unheld)
        return UINT64_MAX;
    uint64_t slowest;
    int live = live_followers(self, now, &slowest);
    if (live == 0 || (live < self->min_followers && !self->gate_open))
        return 0;
    return slowest + (uint64_t)self->window;
}

int64_t dn_source_room(const dn_source_t *self)
{
    if (self->unheld) { /* published as soon as committed: only the uncommitted wait */
        int64_t waiting = (int64_t)self->n_pending;
        return waiting < self->window ? self->window - waiting : 0;
    }
    uint64_t slowest;
    int live = live_followers(self, mono_ms(), &slowest);
    int open = live > 0 && (live >= self->min_followers || self->gate_open);
    uint64_t base = open ? slowest : self->cursor;
    uint64_t limit = base + (uint64_t)self->window;
    return limit > self->head ? (int64_t)(limit - self->head) : 0;
}

static void forget_follower(dn_source_t *self, int i)
{
    free(self->followers[i].name);
    self->followers[i] = self->followers[--self->n_followers];
}

static int is_required(const dn_source_t *self, const char *name)
{
    for (char **r = self->required; r && *r; r++)
        if (!strcmp(*r, name))
            return 1;
    return 0;
}

/* The slot of follower `name`, made when new: in a free slot, else in the
 * slot of the passive follower heard longest ago, else of the one heard
 * longest ago among those not holding the stream (any one not required, for
 * a required name). NULL with *rc = 0 when the table is full of followers
 * that may not be evicted (the request is then refused), or with *rc =
 * DN_ENOMEM. */
static follower_slot_t *find_follower(dn_source_t *self, const char *name, int64_t now,
                                      int *created, dn_err_t *err, int *rc)
{
    *rc = 0;
    *created = 0;
    for (int i = 0; i < self->n_followers; i++)
        if (strcmp(self->followers[i].name, name) == 0)
            return &self->followers[i];
    int required = is_required(self, name);
    if (self->n_followers >= self->max_followers) {
        int victim = -1;
        for (int i = 0; i < self->n_followers; i++) {
            const follower_slot_t *f = &self->followers[i];
            if ((f->required && !f->passive) || (!required && holds(self, f, now)))
                continue;
            const follower_slot_t *v = victim < 0 ? NULL : &self->followers[victim];
            if (!v || (f->passive && !v->passive) ||
                (f->passive == v->passive && f->last_ms < v->last_ms))
                victim = i;
        }
        if (victim < 0) {
            self->stats.followers_refused++;
            return NULL;
        }
        forget_follower(self, victim);
        self->stats.followers_evicted++;
    }
    if (self->n_followers == self->cap_followers) {
        int cap = self->cap_followers ? self->cap_followers * 2 : 8;
        if (cap > self->max_followers)
            cap = self->max_followers;
        follower_slot_t *p = realloc(self->followers, (size_t)cap * sizeof *p);
        if (!p) {
            *rc = dn_err_set(err, DN_ENOMEM, "source %s: out of memory", self->log);
            return NULL;
        }
        self->followers = p;
        self->cap_followers = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        *rc = dn_err_set(err, DN_ENOMEM, "source %s: out of memory", self->log);
        return NULL;
    }
    follower_slot_t *f = &self->followers[self->n_followers++];
    /* A new name has made no progress yet: it holds the stream once it is
     * caught up or raises its next. */
    *f = (follower_slot_t){copy, 0, now, INT64_MIN / 2, required, 0};
    *created = 1;
    return f;
}

int dn_source_on_request(dn_source_t *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    const Dinamo__Control *c = dn_msg_type(env) == DN_MSG_CONTROL ? env->control : NULL;
    if (c && c->kind == DINAMO__CONTROL_KIND__LEAVE && c->log && !strcmp(c->log, self->log) &&
        c->consumer) {
        for (int i = 0; i < self->n_followers; i++)
            if (!strcmp(self->followers[i].name, c->consumer)) {
                forget_follower(self, i);
                self->stats.left++;
                break;
            }
        return 0;
    }
    if (!c || (c->kind != DINAMO__CONTROL_KIND__ACK && c->kind != DINAMO__CONTROL_KIND__REWIND) ||
        !c->log || strcmp(c->log, self->log) != 0 || !c->consumer || !c->has_offset) {
        self->stats.requests_bad++;
        return 0;
    }
    int rc, created;
    int64_t now = mono_ms();
    follower_slot_t *f = find_follower(self, c->consumer, now, &created, err, &rc);
    if (!f)
        return rc;
    if (!created && c->offset > f->next) /* a first offset is not progress */
        f->stalled_from = now;
    f->next = c->offset;
    f->last_ms = now;
    f->passive = c->has_passive && c->passive;
    if (c->kind == DINAMO__CONTROL_KIND__REWIND && c->offset < self->cursor) {
        /* A passive follower is served beside the stream: the cursor, which
         * the holders wait on, stays. */
        if (f->passive && c->offset < self->replay)
            self->replay = c->offset;
        else if (!f->passive)
            self->cursor = c->offset;
        self->stats.rewinds++;
    }
    refresh_caught_up(self, now);
    return 0;
}

/* The bytes of committed entry `off` into *e (borrowed from the cache, or
 * read into *owned which the caller frees); e->buf NULL when the stored
 * entry's framing is damaged (counted in stats.damaged). */
static int entry_get(dn_source_t *self, uint64_t off, entry_t *e, uint8_t **owned, dn_err_t *err)
{
    *owned = NULL;
    if (off >= self->cache_from && off < self->committed) {
        *e = self->cache[off % self->cache_cap];
        if (e->buf)
            return 0;
    }
    uint8_t key[8];
    offset_key(off, key);
    void *v = NULL;
    size_t vlen = 0;
    int rc = dn_store_get(self->store, self->log, key, 8, &v, &vlen, err);
    if (rc) {
        dn_err_prefix(err, "source %s: entry %llu", self->log, (unsigned long long)off);
        return rc;
    }
    if (vlen < 2 || (size_t)((uint8_t *)v)[0] + 1 >= vlen) {
        /* No topic and envelope to send: a hole (the stamp alone), which
         * followers refuse and skip by its offset like any poison entry. */
        free(v);
        self->stats.damaged++;
        *e = (entry_t){NULL, 0};
        return 0;
    }
    *owned = v;
    *e = (entry_t){v, vlen};
    return 0;
}

/* Sends stamp + payload on the PUB socket (has_offset: an entry at offset).
 * Returns 0, DN_BUS_TIMEOUT, DN_EINVAL, DN_EIO, DN_ENOMEM. */
static int send_stamped(dn_source_t *self, const char *topic, const uint8_t *payload,
                        size_t len, int has_offset, uint64_t offset, dn_err_t *err)
{
    size_t total = 0;
    int rc = assemble(self, payload, len, has_offset, offset, &total, err);
    if (rc)
        return rc;
    rc = dn_sock_send_raw(self->pub, topic, self->sendbuf, total, 0, err);
    if (rc == 0)
        self->seq++;
    return rc;
}

static int send_heartbeat(dn_source_t *self, dn_err_t *err)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.has_kind = 1;
    c.kind = DINAMO__CONTROL_KIND__HEARTBEAT;
    char service[DN_MSG_KEY_MAX + 1];
    snprintf(service, sizeof service, "%s", self->producer);
    char *slash = strrchr(service, '/');
    if (slash)
        *slash = '\0';
    c.service = service;
    c.log = self->log;
    c.has_offset = 1;
    c.offset = self->cursor;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (dn_msg_encode_unchecked(&env, &buf, &len))
        return dn_err_set(err, DN_ENOMEM, "source %s: out of memory", self->log);
    int rc = send_stamped(self, "control/heartbeat", buf, len, 0, 0, err);
    free(buf);
    return rc == DN_BUS_TIMEOUT ? 0 : rc;
}

/* Publishes committed entry `off` (a hole when its framing is damaged).
 * Returns 0, DN_BUS_TIMEOUT (not sent), or an error. */
static int publish_entry(dn_source_t *self, uint64_t off, dn_err_t *err)
{
    entry_t e = {0};
    uint8_t *owned = NULL;
    int rc = entry_get(self, off, &e, &owned, err);
    if (rc)
        return rc;
    char topic[256] = "damaged";
    size_t tl = 0;
    if (e.buf) {
        tl = e.buf[0];
        memcpy(topic, e.buf + 1, tl);
        topic[tl] = '\0';
    }
    rc = e.buf ? send_stamped(self, topic, e.buf + 1 + tl, e.len - 1 - tl, 1, off, err)
               : send_stamped(self, topic, NULL, 0, 1, off, err);
    free(owned);
    if (rc)
        return rc;
    self->stats.published++;
    if (off < self->max_published)
        self->stats.republished++;
    return 0;
}

int dn_source_pump(dn_source_t *self, dn_err_t *err)
{
    int64_t now = mono_ms();
    /* Forget followers silent for too long (they no longer hold the stream). */
    for (int i = 0; i < self->n_followers;) {
        if (!heard(self, &self->followers[i], now))
            forget_follower(self, i);
        else
            i++;
    }
    refresh_caught_up(self, now);
    uint64_t slowest_now;
    if (!self->gate_open && live_followers(self, now, &slowest_now) >= self->min_followers)
        self->gate_open = 1; /* a follower that leaves or dies later does not close it */
    uint64_t limit = publish_limit(self, now);
    while (self->cursor < self->committed && self->cursor < limit) {
        int rc = publish_entry(self, self->cursor, err);
        if (rc == DN_BUS_TIMEOUT)
            break;
        if (rc)
            return rc;
        self->cursor++;
        if (self->cursor > self->max_published)
            self->max_published = self->cursor;
        if (self->cursor > self->published_top)
            self->published_top = self->cursor;
    }
    /* Passive followers' rewinds, beside the stream: a window per pump. */
    for (int sent = 0; self->replay < self->cursor && sent < self->window; sent++) {
        int rc = publish_entry(self, self->replay, err);
        if (rc == DN_BUS_TIMEOUT)
            break;
        if (rc)
            return rc;
        self->replay++;
    }
    if (self->replay >= self->cursor)
        self->replay = UINT64_MAX;
    if (now - self->last_heartbeat_ms >= self->heartbeat_ms) {
        self->last_heartbeat_ms = now;
        int rc = send_heartbeat(self, err);
        if (rc)
            return rc;
    }
    return 0;
}

int dn_source_backlog(const dn_source_t *self)
{
    return self->cursor < self->committed || self->replay < self->cursor;
}

uint64_t dn_source_head(const dn_source_t *self)
{
    return self->head;
}

dn_source_stats_t dn_source_stats(const dn_source_t *self)
{
    dn_source_stats_t s = self->stats;
    s.head = self->head;
    s.committed = self->committed;
    s.cursor = self->cursor;
    s.followers = live_followers(self, mono_ms(), &s.slowest);
    s.tracked = self->n_followers;
    s.has_required = self->required != NULL;
    s.heard_slowest = UINT64_MAX;
    int64_t now = mono_ms();
    for (int i = 0; i < self->n_followers; i++)
        if (heard(self, &self->followers[i], now) && self->followers[i].passive)
            s.passive++;
        else if (heard(self, &self->followers[i], now)) {
            s.heard++;
            if (self->followers[i].next < s.heard_slowest)
                s.heard_slowest = self->followers[i].next;
        }
    if (!s.heard)
        s.heard_slowest = 0;
    return s;
}

int dn_stream_log_read(dn_store_t *store, const char *log, uint64_t offset,
                       Dinamo__Envelope **env, dn_err_t *err)
{
    *env = NULL;
    uint8_t key[8];
    offset_key(offset, key);
    void *v = NULL;
    size_t vlen = 0;
    int rc = dn_store_get(store, log, key, 8, &v, &vlen, err);
    if (rc)
        return rc;
    size_t tl = vlen ? ((uint8_t *)v)[0] : 0;
    if (vlen < 2 || tl + 1 >= vlen) {
        free(v);
        return dn_err_set(err, DN_EFORMAT, "log %s: entry %llu is damaged", log,
                          (unsigned long long)offset);
    }
    /* Entries lack producer and seq: parse without validating the envelope
     * fields, then validate the body with a stand-in stamp. */
    Dinamo__Envelope *e =
        dinamo__envelope__unpack(NULL, vlen - 1 - tl, (const uint8_t *)v + 1 + tl);
    free(v);
    if (!e)
        return dn_err_set(err, DN_EFORMAT, "log %s: entry %llu does not parse", log,
                          (unsigned long long)offset);
    Dinamo__Envelope copy = *e;
    copy.producer = (char *)"log";
    copy.has_seq = 1;
    if ((rc = dn_msg_validate(&copy, NULL, err))) {
        dinamo__envelope__free_unpacked(e, NULL);
        dn_err_prefix(err, "log %s: entry %llu", log, (unsigned long long)offset);
        return rc;
    }
    *env = e;
    return 0;
}

/* ---- follower -------------------------------------------------------------- */

struct dn_follower_t {
    dn_sock_t *sub, *req;
    char log[DN_STREAM_LOG_MAX + 1];
    char consumer[DN_MSG_KEY_MAX + 1];
    int ack_interval_ms;
    int passive;          /* opts.passive: every request says Control.passive */
    uint64_t next;
    uint64_t acked;       /* next at the last ACK */
    int64_t last_ack_ms;
    int started;          /* the first request (a REWIND) was sent */
    int heard;            /* something of this log arrived: our subscription is in place */
    uint64_t rewind_next; /* next at the last REWIND */
    int64_t rewind_ms;
    uint64_t seq, incarnation;
    dn_follower_stats_t stats;
};

dn_follower_t *dn_follower_new(dn_sock_t *sub, dn_sock_t *req, const dn_follower_opts_t *opts,
                               dn_err_t *err)
{
    if (!sub || !req || !opts || !valid_log_name(opts->log) || !opts->consumer ||
        !opts->consumer[0] || strlen(opts->consumer) > DN_MSG_KEY_MAX - 16 ||
        opts->ack_interval_ms < 0) {
        dn_err_set(err, DN_EINVAL, "follower: invalid options (log name [a-z0-9_]+, consumer "
                   "name of 1..%d bytes)", DN_MSG_KEY_MAX - 16);
        return NULL;
    }
    if (dn_sock_type(sub) != ZMQ_SUB || dn_sock_type(req) != ZMQ_PUSH) {
        dn_err_set(err, DN_EINVAL, "follower %s: needs a SUB and a PUSH socket", opts->log);
        return NULL;
    }
    dn_follower_t *self = calloc(1, sizeof *self);
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "follower %s: out of memory", opts->log);
        return NULL;
    }
    self->sub = sub;
    self->req = req;
    snprintf(self->log, sizeof self->log, "%s", opts->log);
    snprintf(self->consumer, sizeof self->consumer, "%s", opts->consumer);
    self->ack_interval_ms = opts->ack_interval_ms ? opts->ack_interval_ms : 200;
    self->passive = opts->passive != 0;
    self->incarnation = wall_ns();
    self->rewind_ms = INT64_MIN / 2;
    return self;
}

void dn_follower_destroy(dn_follower_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void dn_follower_set_next(dn_follower_t *self, uint64_t next)
{
    self->next = next;
    self->stats.next = next;
}

void dn_follower_rewind(dn_follower_t *self, uint64_t next)
{
    if (next >= self->next)
        return;
    self->next = next;
    self->stats.next = next;
    self->started = 0; /* the next flush asks the source to resend from here */
}

uint64_t dn_follower_next(const dn_follower_t *self)
{
    return self->next;
}

const char *dn_follower_log(const dn_follower_t *self)
{
    return self->log;
}

/* Sends control c (kind, consumer, offset set by the caller) on the request
 * socket, stamped as ours. 1 when sent, 0 when the queue was full (dropped: a
 * later request repeats it), or DN_EIO / DN_ENOMEM. */
static int send_control(dn_follower_t *self, Dinamo__Control *c, const char *topic,
                        dn_err_t *err)
{
    c->has_kind = 1;
    c->log = self->log;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.producer = self->consumer;
    env.has_incarnation = 1;
    env.incarnation = self->incarnation;
    env.has_seq = 1;
    env.seq = self->seq;
    env.has_time_sent = 1;
    env.time_sent = wall_s();
    env.body_case = DINAMO__ENVELOPE__BODY_CONTROL;
    env.control = c;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = dn_msg_encode(&env, &buf, &len, err);
    if (rc)
        return rc;
    rc = dn_sock_send_raw(self->req, topic, buf, len, 0, err);
    free(buf);
    if (rc == DN_BUS_TIMEOUT)
        return 0;
    if (rc)
        return rc;
    self->seq++;
    return 1;
}

/* Sends ACK or REWIND with the current next. 0, or DN_EIO; a full queue is
 * not an error (the request is dropped, a later one repeats it). */
static int send_request(dn_follower_t *self, int rewind, dn_err_t *err)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.kind = rewind ? DINAMO__CONTROL_KIND__REWIND : DINAMO__CONTROL_KIND__ACK;
    c.consumer = self->consumer;
    c.has_offset = 1;
    c.offset = self->next;
    c.has_passive = self->passive;
    c.passive = self->passive;
    int rc = send_control(self, &c, rewind ? "control/rewind" : "control/ack", err);
    if (rc <= 0)
        return rc;
    int64_t now = mono_ms();
    self->acked = self->next;
    self->last_ack_ms = now;
    self->started = 1;
    if (rewind) {
        self->rewind_next = self->next;
        self->rewind_ms = now;
        self->stats.rewinds++;
    } else {
        self->stats.acks++;
    }
    return 0;
}

int dn_follower_leave(dn_follower_t *self, const char *consumer, dn_err_t *err)
{
    Dinamo__Control c = DINAMO__CONTROL__INIT;
    c.kind = DINAMO__CONTROL_KIND__LEAVE;
    c.consumer = (char *)(consumer ? consumer : self->consumer);
    int rc = send_control(self, &c, "control/leave", err);
    return rc < 0 ? rc : 0;
}

static int maybe_rewind(dn_follower_t *self, dn_err_t *err)
{
    if (self->rewind_next == self->next && mono_ms() - self->rewind_ms < 250)
        return 0;
    return send_request(self, 1, err);
}

int dn_follower_accept(dn_follower_t *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    if (!env->has_offset) {
        const Dinamo__Control *c = dn_msg_type(env) == DN_MSG_CONTROL ? env->control : NULL;
        if (c && c->kind == DINAMO__CONTROL_KIND__HEARTBEAT && c->log &&
            strcmp(c->log, self->log) == 0 && c->has_offset) {
            self->heard = 1;
            self->stats.source_head = c->offset;
            /* Entries before a heartbeat arrive before it: anything it
             * announces beyond next was lost. */
            if (c->offset > self->next)
                return maybe_rewind(self, err);
        }
        return DN_FOLLOW_SKIP;
    }
    self->heard = 1;
    if (env->offset < self->next) {
        self->stats.duplicates++;
        return DN_FOLLOW_SKIP;
    }
    if (env->offset > self->next) {
        self->stats.out_of_order++;
        int rc = maybe_rewind(self, err);
        return rc < 0 ? rc : DN_FOLLOW_SKIP;
    }
    self->next++;
    self->stats.next = self->next;
    self->stats.delivered++;
    return DN_FOLLOW_DELIVER;
}

int dn_follower_refused(dn_follower_t *self, uint64_t offset, dn_err_t *err)
{
    self->heard = 1;
    if (offset < self->next) {
        self->stats.duplicates++; /* skipped already, replayed for another follower */
        return DN_FOLLOW_SKIP;
    }
    if (offset > self->next) {
        /* Entries before it are missing: get them first; this one is
         * skipped when its turn comes. */
        self->stats.out_of_order++;
        int rc = maybe_rewind(self, err);
        return rc < 0 ? rc : DN_FOLLOW_SKIP;
    }
    self->next++;
    self->stats.next = self->next;
    self->stats.skipped++;
    return DN_FOLLOW_SKIPPED;
}

int dn_follower_flush(dn_follower_t *self, dn_err_t *err)
{
    if (!self->started)
        /* Not before the source's PUB has reached us: ACKing earlier would
         * count us as a live follower while the entries it publishes for us
         * are still dropped for want of our subscription (ZeroMQ's slow
         * joiner), each a loss and a rewind. */
        return self->heard ? send_request(self, 1, err) : 0;
    if (self->next != self->acked || mono_ms() - self->last_ack_ms >= self->ack_interval_ms)
        return send_request(self, 0, err);
    return 0;
}

dn_follower_stats_t dn_follower_stats(const dn_follower_t *self)
{
    dn_follower_stats_t s = self->stats;
    s.next = self->next;
    return s;
}
