/* lease.c: the elastic ownership protocol of lease.h: checked member and key
 * records, joining, renewing and releasing a member slot, registering keys,
 * and the balance step over a snapshot ("view") of both tables.
 *
 * Invariants. A member changes a shared record only by compare-and-swap
 * against the exact bytes it read (or, for its own records, last wrote), so
 * of two members racing for a slot or a key one wins and the other sees
 * DN_ESTATE and leaves it. The keys held are those whose claim (the record
 * this member wrote) was swapped in and not given back; every checkpoint of a
 * held key compares that claim again (dn_lease_stage), so a member that
 * stalled and lost a key can never write over its new owner's state. What
 * was said about the tables (damaged records, dead members) is remembered by
 * a fingerprint of the record, so it is said once per record. */
#include "lease.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "clock.h"
#include "keytab.h"
#include "log.h"
#include "room.h"

#define MEMBER_PREFIX "member-"
#define MEMBER_PREFIX_LEN 7
#define MAX_SLOTS 1000000          /* bound on opts.max_members: "member-999999" */
#define HEADER_LEN (4 + 4 + 8 + 4) /* magic, version, value, owner length */
#define ID_MAX (DN_LEASE_TABLE_MAX + 48)

/* A key this member holds. */
typedef struct held_t {
    unsigned char claim[DN_LEASE_RECORD_MAX]; /* the record it swapped in: the expectation */
    size_t claim_len;
    uint64_t first;
} held_t;

struct dn_lease_t {
    dn_lease_store_t *store;
    char members[DN_LEASE_TABLE_MAX + 1];
    char keys[DN_LEASE_TABLE_MAX + 1];
    char owner[DN_LEASE_OWNER_MAX + 1];
    double lease_s;
    int max_members;
    dn_lease_clock_fn clock;
    void *clock_arg;
    dn_lease_hooks_t hooks;
    int slot;                 /* -1: not joined */
    unsigned char record[DN_LEASE_RECORD_MAX]; /* our member record as last written */
    size_t record_len;
    double renewed;           /* when it was written */
    dn_keytab_t *known;       /* keys known to be registered */
    dn_keytab_t *held;        /* held key -> index into holds */
    held_t *holds;
    int cap_holds;
    dn_keytab_t *said_dead;   /* dead member records reported to hooks.left */
    dn_keytab_t *said_damaged;/* damaged records logged */
    dn_lease_stats_t stats;
};

static double now_of(const dn_lease_t *self)
{
    return self->clock ? self->clock(self->clock_arg) : dn_clock_wall();
}

/* ---- records ---------------------------------------------------------------------- */

static const char *kind_name(int kind)
{
    return kind == DN_LEASE_MEMBER ? "member" : "key";
}

static const char *magic_of(int kind)
{
    return kind == DN_LEASE_MEMBER ? "DNLM" : "DNLK";
}

/* The index of the first byte of s[n] that may not be in an owner name, or n. */
static size_t owner_bad_byte(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return i;
    return n;
}

int dn_lease_record_encode(int kind, const dn_lease_rec_t *rec, unsigned char *buf, size_t *len)
{
    if (kind != DN_LEASE_MEMBER && kind != DN_LEASE_KEY)
        return DN_EINVAL;
    size_t n = strnlen(rec->owner, DN_LEASE_OWNER_MAX + 1);
    if (n > DN_LEASE_OWNER_MAX || owner_bad_byte((const unsigned char *)rec->owner, n) != n ||
        (kind == DN_LEASE_MEMBER && (n == 0 || !isfinite(rec->expiry) || rec->expiry < 0)))
        return DN_EINVAL;
    memcpy(buf, magic_of(kind), 4);
    dn_put_u32(buf + 4, DN_LEASE_RECORD_VERSION);
    if (kind == DN_LEASE_MEMBER)
        dn_put_f64(buf + 8, rec->expiry);
    else
        dn_put_u64(buf + 8, rec->first);
    dn_put_u32(buf + 16, (uint32_t)n);
    memcpy(buf + HEADER_LEN, rec->owner, n);
    dn_put_u32(buf + HEADER_LEN + n, dn_fnv1a32(buf, HEADER_LEN + n));
    *len = HEADER_LEN + n + 4;
    return 0;
}

/* The parts of a record that need no knowledge of its kind's value. */
static int record_frame(int kind, const unsigned char *p, size_t len, uint32_t *olen,
                        dn_err_t *err)
{
    const char *k = kind_name(kind);
    if (len > DN_LEASE_RECORD_MAX)
        return dn_err_set(err, DN_EFORMAT, "%s record: too long: %zu bytes (at most %d)", k,
                          len, DN_LEASE_RECORD_MAX);
    if (len < HEADER_LEN + 4)
        return dn_err_set(err, DN_EFORMAT, "%s record: truncated: %zu bytes (at least %d)", k,
                          len, HEADER_LEN + 4);
    if (memcmp(p, magic_of(kind), 4))
        return dn_err_set(err, DN_EFORMAT, "not a %s record: magic %02x %02x %02x %02x, want "
                          "%s", k, p[0], p[1], p[2], p[3], magic_of(kind));
    uint32_t version = dn_get_u32(p + 4);
    if (version != DN_LEASE_RECORD_VERSION)
        return dn_err_set(err, DN_EFORMAT, "%s record: version %u, want %u", k, version,
                          DN_LEASE_RECORD_VERSION);
    *olen = dn_get_u32(p + 16);
    if (*olen > DN_LEASE_OWNER_MAX)
        return dn_err_set(err, DN_EFORMAT, "%s record: owner of %u bytes (at most %d)", k,
                          *olen, DN_LEASE_OWNER_MAX);
    size_t want = HEADER_LEN + (size_t)*olen + 4;
    if (len < want)
        return dn_err_set(err, DN_EFORMAT, "%s record: truncated: %zu bytes, want %zu", k, len,
                          want);
    if (len > want)
        return dn_err_set(err, DN_EFORMAT, "%s record: %zu bytes after the record", k,
                          len - want);
    if (dn_get_u32(p + HEADER_LEN + *olen) != dn_fnv1a32(p, HEADER_LEN + *olen))
        return dn_err_set(err, DN_EFORMAT, "%s record: checksum mismatch", k);
    return 0;
}

int dn_lease_record_decode(int kind, const void *val, size_t len, dn_lease_rec_t *rec,
                           dn_err_t *err)
{
    memset(rec, 0, sizeof *rec);
    if (kind != DN_LEASE_MEMBER && kind != DN_LEASE_KEY)
        return dn_err_set(err, DN_EINVAL, "record kind %d: want member or key", kind);
    const unsigned char *p = val;
    uint32_t olen = 0;
    int rc = val || !len ? record_frame(kind, p, len, &olen, err)
                         : dn_err_set(err, DN_EINVAL, "record: no bytes");
    if (rc)
        return rc;
    const char *k = kind_name(kind);
    size_t bad = owner_bad_byte(p + HEADER_LEN, olen);
    if (bad < olen)
        rc = dn_err_set(err, DN_EFORMAT, "%s record: owner has byte 0x%02x at %zu", k,
                        p[HEADER_LEN + bad], bad);
    else if (kind == DN_LEASE_MEMBER && olen == 0)
        rc = dn_err_set(err, DN_EFORMAT, "member record: no owner");
    if (!rc && kind == DN_LEASE_MEMBER) {
        rec->expiry = dn_get_f64(p + 8);
        if (!isfinite(rec->expiry) || rec->expiry < 0)
            rc = dn_err_set(err, DN_EFORMAT, "member record: expiry %g is not a time",
                            rec->expiry);
    } else if (!rc) {
        rec->first = dn_get_u64(p + 8);
    }
    if (rc) {
        memset(rec, 0, sizeof *rec);
        return rc;
    }
    memcpy(rec->owner, p + HEADER_LEN, olen);
    rec->owner[olen] = '\0';
    return 0;
}

/* ---- names and what was said ------------------------------------------------------------ */

/* 1 when key[klen] can be a key: 1 .. DN_LEASE_KEY_MAX bytes, none a control
 * character (NUL included). */
static int key_ok(const void *key, size_t klen)
{
    const unsigned char *p = key;
    if (klen == 0 || klen > DN_LEASE_KEY_MAX)
        return 0;
    for (size_t i = 0; i < klen; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            return 0;
    return 1;
}

/* The slot of member key "member-<i>" (decimal, no leading zero), or -1. */
static int slot_of(const void *key, size_t klen, int max_members)
{
    const char *p = key;
    if (klen <= MEMBER_PREFIX_LEN || klen > MEMBER_PREFIX_LEN + 7 ||
        memcmp(p, MEMBER_PREFIX, MEMBER_PREFIX_LEN) ||
        (p[MEMBER_PREFIX_LEN] == '0' && klen > MEMBER_PREFIX_LEN + 1))
        return -1;
    long v = 0;
    for (size_t i = MEMBER_PREFIX_LEN; i < klen; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = 10 * v + (p[i] - '0');
    }
    return v < max_members ? (int)v : -1;
}

/* A fingerprint of a record where it stands: "<table>/<key hash>.<len>/<value hash>.<len>". */
static void record_id(char *id, const char *table, const void *key, size_t klen,
                      const void *val, size_t vlen)
{
    snprintf(id, ID_MAX, "%s/%08x.%zu/%08x.%zu", table, dn_fnv1a32(key, klen), klen,
             dn_fnv1a32(val, vlen), vlen);
}

/* Counts and logs (once per record) a damaged record, and what is made of it. */
static int note_damaged(dn_lease_t *self, const char *table, const void *key, size_t klen,
                        const void *val, size_t vlen, const char *why, const char *treated)
{
    char id[ID_MAX];
    record_id(id, table, key, klen, val, vlen);
    if (dn_keytab_find(self->said_damaged, id) >= 0)
        return 0;
    if (dn_keytab_add(self->said_damaged, id) < 0)
        return DN_ENOMEM;
    self->stats.damaged++;
    char name[80];
    size_t n = 0;
    for (const unsigned char *p = key; n < klen && n < 64; n++)
        name[n] = p[n] < 0x20 || p[n] > 0x7e ? '?' : (char)p[n];
    name[n] = '\0';
    dn_log(DN_LOG_WARN, "table %s, record '%s'%s: damaged (%s): %s", table, name,
           klen > n ? "..." : "", why, treated);
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static int table_ok(const char *t)
{
    size_t n = t ? strnlen(t, DN_LEASE_TABLE_MAX + 1) : 0;
    return n >= 1 && n <= DN_LEASE_TABLE_MAX && strncmp(t, "dn.", 3);
}

static int opts_check(const dn_lease_store_t *store, const dn_lease_opts_t *o,
                      const dn_lease_hooks_t *h, dn_err_t *err)
{
    size_t n = o && o->owner ? strnlen(o->owner, DN_LEASE_OWNER_MAX + 1) : 0;
    if (!store || !o || !h)
        return dn_err_set(err, DN_EINVAL, "lease: no storage, options or hooks");
    if (!table_ok(o->members) || !table_ok(o->keys) || !strcmp(o->members, o->keys))
        return dn_err_set(err, DN_EINVAL, "lease: want two distinct table names of 1 .. %d "
                          "bytes, not starting with 'dn.'", DN_LEASE_TABLE_MAX);
    if (n == 0 || n > DN_LEASE_OWNER_MAX || owner_bad_byte((const unsigned char *)o->owner, n) != n)
        return dn_err_set(err, DN_EINVAL, "lease: owner name: want 1 .. %d printable bytes "
                          "without space", DN_LEASE_OWNER_MAX);
    if (!(o->lease_s > 0) || !isfinite(o->lease_s))
        return dn_err_set(err, DN_EINVAL, "lease: lease_s %g: want a positive time", o->lease_s);
    if (o->max_members < 0 || o->max_members > MAX_SLOTS)
        return dn_err_set(err, DN_EINVAL, "lease: max_members %d: want 0 .. %d",
                          o->max_members, MAX_SLOTS);
    if (!h->took || !h->lost || !h->give_back)
        return dn_err_set(err, DN_EINVAL, "lease: the took, lost and give_back hooks are "
                          "required");
    return 0;
}

dn_lease_t *dn_lease_new(dn_lease_store_t *store, const dn_lease_opts_t *opts,
                         const dn_lease_hooks_t *hooks, dn_err_t *err)
{
    if (opts_check(store, opts, hooks, err))
        return NULL;
    dn_lease_t *self = calloc(1, sizeof *self);
    if (!self || !(self->known = dn_keytab_new()) || !(self->held = dn_keytab_new()) ||
        !(self->said_dead = dn_keytab_new()) || !(self->said_damaged = dn_keytab_new())) {
        dn_lease_destroy(&self);
        dn_err_set(err, DN_ENOMEM, "out of memory");
        return NULL;
    }
    self->store = store;
    snprintf(self->members, sizeof self->members, "%s", opts->members);
    snprintf(self->keys, sizeof self->keys, "%s", opts->keys);
    snprintf(self->owner, sizeof self->owner, "%s", opts->owner);
    self->lease_s = opts->lease_s;
    self->max_members = opts->max_members ? opts->max_members : DN_LEASE_MAX_MEMBERS;
    self->clock = opts->clock;
    self->clock_arg = opts->clock_arg;
    self->hooks = *hooks;
    self->slot = -1;
    return self;
}

void dn_lease_destroy(dn_lease_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_lease_t *self = *self_p;
    dn_keytab_destroy(&self->known);
    dn_keytab_destroy(&self->held);
    dn_keytab_destroy(&self->said_dead);
    dn_keytab_destroy(&self->said_damaged);
    free(self->holds);
    free(self);
    *self_p = NULL;
}

int dn_lease_slot(const dn_lease_t *self) { return self->slot; }
const char *dn_lease_owner(const dn_lease_t *self) { return self->owner; }
dn_lease_stats_t dn_lease_stats(const dn_lease_t *self) { return self->stats; }
int dn_lease_held(const dn_lease_t *self) { return dn_keytab_count(self->held); }

int dn_lease_holds(const dn_lease_t *self, const char *key)
{
    return dn_keytab_find(self->held, key) >= 0;
}

const char *dn_lease_held_key(const dn_lease_t *self, int i)
{
    return dn_keytab_key(self->held, i);
}

/* ---- member slot --------------------------------------------------------------------------- */

static int slot_key(char *buf, size_t cap, int slot)
{
    return snprintf(buf, cap, MEMBER_PREFIX "%d", slot);
}

/* Our member record with expiry into buf. */
static void member_record(const dn_lease_t *self, double expiry, unsigned char *buf, size_t *len)
{
    dn_lease_rec_t rec = {.expiry = expiry};
    memcpy(rec.owner, self->owner, sizeof rec.owner);
    dn_lease_record_encode(DN_LEASE_MEMBER, &rec, buf, len); /* owner checked at creation */
}

static void keep_record(dn_lease_t *self, const unsigned char *rec, size_t len, double now)
{
    memcpy(self->record, rec, len);
    self->record_len = len;
    self->renewed = now;
}

/* Claims member slot `slot` when it is absent, expired, damaged or ours.
 * Returns 1 when it is ours now, 0 when another member holds it (or got it
 * first), or an error. */
static int claim_slot(dn_lease_t *self, int slot, dn_err_t *err)
{
    char key[32];
    size_t klen = (size_t)slot_key(key, sizeof key, slot);
    void *cur = NULL;
    size_t cur_len = 0;
    int rc = dn_lease_store_get(self->store, self->members, key, klen, &cur, &cur_len, err);
    if (rc && rc != DN_ENOTFOUND)
        return rc;
    int found = !rc;
    rc = 0;
    double now = now_of(self);
    if (found) {
        dn_lease_rec_t rec;
        dn_err_t e = {0};
        if (dn_lease_record_decode(DN_LEASE_MEMBER, cur, cur_len, &rec, &e))
            rc = note_damaged(self, self->members, key, klen, cur, cur_len, e.msg,
                              "treated as expired");
        else if (strcmp(rec.owner, self->owner) && rec.expiry > now)
            rc = 1; /* a live member's */
    }
    unsigned char mine[DN_LEASE_RECORD_MAX];
    size_t len = 0;
    member_record(self, now + self->lease_s, mine, &len);
    if (!rc)
        rc = dn_lease_store_cas(self->store, self->members, key, klen, found ? cur : NULL,
                                cur_len, mine, len, err);
    free(cur);
    if (rc == 1 || rc == DN_ESTATE)
        return 0;
    if (rc == DN_ENOMEM)
        return dn_err_set(err, rc, "out of memory");
    if (rc)
        return rc;
    keep_record(self, mine, len, now);
    return 1;
}

int dn_lease_join(dn_lease_t *self, dn_err_t *err)
{
    if (self->slot >= 0)
        return dn_err_set(err, DN_ESTATE, "lease: joined already (member %d)", self->slot);
    for (int i = 0; i < self->max_members; i++) {
        int rc = claim_slot(self, i, err);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            self->slot = i;
            return dn_lease_store_sync(self->store, err);
        }
    }
    return dn_err_set(err, DN_ERANGE, "all %d member slots are held by live members",
                      self->max_members);
}

/* Swaps our member record for one with expiry (at now). */
static int rewrite_record(dn_lease_t *self, double expiry, double now, const char *doing,
                          dn_err_t *err)
{
    if (self->slot < 0)
        return dn_err_set(err, DN_ESTATE, "lease: not a member (join first)");
    char key[32];
    size_t klen = (size_t)slot_key(key, sizeof key, self->slot);
    unsigned char mine[DN_LEASE_RECORD_MAX];
    size_t len = 0;
    member_record(self, expiry, mine, &len);
    int rc = dn_lease_store_cas(self->store, self->members, key, klen, self->record,
                                self->record_len, mine, len, err);
    if (rc == DN_ESTATE)
        return dn_err_set(err, DN_ESTATE, "member slot %d taken over by another member (this "
                          "one stalled past its lease): %s", self->slot, doing);
    if (rc)
        return rc;
    keep_record(self, mine, len, now);
    return dn_lease_store_sync(self->store, err);
}

int dn_lease_renew(dn_lease_t *self, int force, dn_err_t *err)
{
    double now = now_of(self);
    if (self->slot >= 0 && !force && now - self->renewed < self->lease_s / 3)
        return 0;
    return rewrite_record(self, now + self->lease_s, now, "stopping", err);
}

int dn_lease_release(dn_lease_t *self, dn_err_t *err)
{
    int rc = rewrite_record(self, 0, now_of(self), "not released", err);
    if (!rc)
        self->slot = -1;
    return rc;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static int key_record(uint64_t first, const char *owner, unsigned char *buf, size_t *len)
{
    dn_lease_rec_t rec = {.first = first};
    snprintf(rec.owner, sizeof rec.owner, "%s", owner);
    return dn_lease_record_encode(DN_LEASE_KEY, &rec, buf, len);
}

int dn_lease_register(dn_lease_t *self, const char *key, uint64_t first, dn_err_t *err)
{
    size_t klen = key ? strlen(key) : 0;
    if (!key_ok(key, klen))
        return dn_err_set(err, DN_EINVAL, "lease: register: not a key (%zu bytes, at most %d, "
                          "no control characters)", klen, DN_LEASE_KEY_MAX);
    if (dn_keytab_find(self->known, key) >= 0)
        return DN_LEASE_KNOWN;
    unsigned char rec[DN_LEASE_RECORD_MAX];
    size_t len = 0;
    key_record(first, "", rec, &len);
    int rc = dn_lease_store_cas(self->store, self->keys, key, klen, NULL, 0, rec, len, err);
    if (rc && rc != DN_ESTATE) /* DN_ESTATE: another member registered it first */
        return rc;
    if (dn_keytab_add(self->known, key) < 0)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    return rc ? DN_LEASE_SEEN : DN_LEASE_REGISTERED;
}

/* Holds key under claim[claim_len]. Returns 0 or DN_ENOMEM. */
static int hold(dn_lease_t *self, const char *key, const unsigned char *claim, size_t claim_len,
                uint64_t first)
{
    held_t *p = dn_room(self->holds, &self->cap_holds, dn_keytab_count(self->held), sizeof *p);
    if (!p)
        return DN_ENOMEM;
    self->holds = p;
    int i = dn_keytab_add(self->held, key);
    if (i < 0)
        return DN_ENOMEM;
    memcpy(self->holds[i].claim, claim, claim_len);
    self->holds[i].claim_len = claim_len;
    self->holds[i].first = first;
    return 0;
}

static void unhold(dn_lease_t *self, int i)
{
    int moved = dn_keytab_remove(self->held, i);
    if (moved > i)
        self->holds[i] = self->holds[moved];
}

int dn_lease_stage(dn_lease_t *self, dn_lease_batch_t *batch, const char *key, int how)
{
    int i = dn_keytab_find(self->held, key);
    if (i < 0)
        return DN_ENOTFOUND;
    const held_t *h = &self->holds[i];
    if (how == DN_LEASE_KEEP)
        return dn_lease_batch_cas(batch, self->keys, key, strlen(key), h->claim, h->claim_len,
                                  h->claim, h->claim_len);
    if (how != DN_LEASE_RELEASE)
        return DN_EINVAL;
    unsigned char rec[DN_LEASE_RECORD_MAX];
    size_t len = 0;
    key_record(h->first, "", rec, &len);
    return dn_lease_batch_cas(batch, self->keys, key, strlen(key), h->claim, h->claim_len, rec,
                              len);
}

int dn_lease_forget(dn_lease_t *self, const char *key)
{
    int i = dn_keytab_find(self->held, key);
    if (i < 0)
        return DN_ENOTFOUND;
    unhold(self, i);
    self->stats.given++;
    return 0;
}

/* ---- the view: both tables as they are now ------------------------------------------------- */

typedef struct vkey_t {
    char *key;
    unsigned char *val;       /* as stored: the expectation of a claim */
    size_t vlen;
    int damaged;              /* then free, first 0 */
    dn_lease_rec_t rec;
} vkey_t;

typedef struct dead_t {
    int slot;
    char id[ID_MAX];          /* the record's fingerprint */
} dead_t;

typedef struct view_t {
    dn_lease_t *lease;
    double now;
    dn_keytab_t *live;        /* owners of live member records */
    dead_t *dead;             /* expired or damaged member records */
    int n_dead, cap_dead;
    vkey_t *keys;             /* in key order */
    int n_keys, cap_keys;
    dn_keytab_t *index;       /* key -> index into keys */
} view_t;

static int view_dead(view_t *v, int slot, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    dead_t *p = dn_room(v->dead, &v->cap_dead, v->n_dead, sizeof *p);
    if (!p)
        return DN_ENOMEM;
    v->dead = p;
    v->dead[v->n_dead].slot = slot;
    record_id(v->dead[v->n_dead].id, v->lease->members, key, klen, val, vlen);
    v->n_dead++;
    return 0;
}

static int view_member(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    view_t *v = arg;
    dn_lease_t *self = v->lease;
    int slot = slot_of(key, klen, self->max_members);
    if (slot < 0)
        return note_damaged(self, self->members, key, klen, val, vlen, "not a member slot",
                            "ignored");
    dn_lease_rec_t rec;
    dn_err_t e = {0};
    if (dn_lease_record_decode(DN_LEASE_MEMBER, val, vlen, &rec, &e)) {
        int rc = note_damaged(self, self->members, key, klen, val, vlen, e.msg,
                              "treated as expired");
        return rc ? rc : view_dead(v, slot, key, klen, val, vlen);
    }
    if (rec.expiry <= v->now)
        return view_dead(v, slot, key, klen, val, vlen);
    return dn_keytab_add(v->live, rec.owner) < 0 ? DN_ENOMEM : 0;
}

static int view_key(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    view_t *v = arg;
    dn_lease_t *self = v->lease;
    if (!key_ok(key, klen))
        return note_damaged(self, self->keys, key, klen, val, vlen, "not a key", "ignored");
    vkey_t *p = dn_room(v->keys, &v->cap_keys, v->n_keys, sizeof *p);
    if (!p)
        return DN_ENOMEM;
    v->keys = p;
    vkey_t *r = &v->keys[v->n_keys];
    memset(r, 0, sizeof *r);
    r->key = strndup(key, klen);
    r->val = malloc(vlen ? vlen : 1);
    int i = r->key && r->val ? dn_keytab_add(v->index, r->key) : DN_ENOMEM;
    if (i != v->n_keys) { /* out of memory, or a key listed twice: the first stands */
        free(r->key);
        free(r->val);
        return i < 0 ? DN_ENOMEM : 0;
    }
    if (vlen)
        memcpy(r->val, val, vlen);
    r->vlen = vlen;
    v->n_keys++;
    dn_err_t e = {0};
    if (dn_lease_record_decode(DN_LEASE_KEY, val, vlen, &r->rec, &e)) {
        r->damaged = 1;
        return note_damaged(self, self->keys, key, klen, val, vlen, e.msg,
                            "treated as free, work from the start");
    }
    return 0;
}

static void view_free(view_t *v)
{
    dn_keytab_destroy(&v->live);
    dn_keytab_destroy(&v->index);
    for (int i = 0; i < v->n_keys; i++) {
        free(v->keys[i].key);
        free(v->keys[i].val);
    }
    free(v->keys);
    free(v->dead);
    memset(v, 0, sizeof *v);
}

/* Reads the key records, and the member records when members is set. */
static int view_read(dn_lease_t *self, view_t *v, int members, dn_err_t *err)
{
    memset(v, 0, sizeof *v);
    v->lease = self;
    v->now = now_of(self);
    int rc = 0;
    if (!(v->live = dn_keytab_new()) || !(v->index = dn_keytab_new()))
        rc = DN_ENOMEM;
    if (!rc && members)
        rc = dn_lease_store_scan(self->store, self->members, NULL, 0, view_member, v, err);
    if (!rc)
        rc = dn_lease_store_scan(self->store, self->keys, NULL, 0, view_key, v, err);
    if (rc == DN_ENOMEM)
        dn_err_set(err, rc, "out of memory");
    if (rc)
        view_free(v);
    return rc;
}

static const vkey_t *view_find(const view_t *v, const char *key)
{
    int i = dn_keytab_find(v->index, key);
    return i < 0 ? NULL : &v->keys[i];
}

/* Who a key record says owns the key, in words. */
static const char *described(const vkey_t *r)
{
    if (!r)
        return "record gone";
    if (r->damaged)
        return "a damaged record";
    return r->rec.owner[0] ? r->rec.owner : "nobody";
}

/* ---- balance ------------------------------------------------------------------------------- */

/* Drops the held keys whose record is not our claim any more. */
static int drop_lost(dn_lease_t *self, const view_t *v)
{
    int lost = 0;
    for (int i = dn_keytab_count(self->held) - 1; i >= 0; i--) {
        const char *key = dn_keytab_key(self->held, i);
        const vkey_t *r = view_find(v, key);
        const held_t *h = &self->holds[i];
        if (r && r->vlen == h->claim_len && !memcmp(r->val, h->claim, h->claim_len))
            continue;
        self->hooks.lost(self->hooks.arg, key, described(r));
        self->stats.lost++;
        lost++;
        unhold(self, i); /* the last held key moves into i: checked already */
    }
    return lost;
}

int dn_lease_verify(dn_lease_t *self, int *lost, dn_err_t *err)
{
    view_t v;
    int rc = view_read(self, &v, 0, err);
    if (rc)
        return rc;
    int n = drop_lost(self, &v);
    if (lost)
        *lost = n;
    view_free(&v);
    return 0;
}

/* Tells hooks.left about each dead member record not reported yet. */
static int report_dead(dn_lease_t *self, const view_t *v, dn_err_t *err)
{
    for (int i = 0; i < v->n_dead && self->hooks.left; i++) {
        const dead_t *d = &v->dead[i];
        if (d->slot == self->slot || dn_keytab_find(self->said_dead, d->id) >= 0)
            continue;
        int rc = self->hooks.left(self->hooks.arg, d->slot, err);
        if (rc)
            return rc;
        if (dn_keytab_add(self->said_dead, d->id) < 0)
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        self->stats.left++;
    }
    return 0;
}

/* Hands the last n held keys to hooks.give_back. */
static int give_back(dn_lease_t *self, int n, dn_err_t *err)
{
    int held = dn_keytab_count(self->held), rc = 0;
    char **keys = calloc((size_t)n, sizeof *keys);
    for (int i = 0; keys && i < n && !rc; i++)
        if (!(keys[i] = strdup(dn_keytab_key(self->held, held - n + i))))
            rc = DN_ENOMEM;
    if (!keys || rc)
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
    else
        rc = self->hooks.give_back(self->hooks.arg, (const char *const *)keys, n, err);
    for (int i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    return rc;
}

/* Claims key record r for this member. 1 when ours now, 0 when another
 * member swapped it first, or an error (a hooks.took error included). */
static int take(dn_lease_t *self, const vkey_t *r, dn_err_t *err)
{
    uint64_t first = r->damaged ? 0 : r->rec.first;
    unsigned char claim[DN_LEASE_RECORD_MAX];
    size_t len = 0;
    key_record(first, self->owner, claim, &len);
    int rc = dn_lease_store_cas(self->store, self->keys, r->key, strlen(r->key), r->val,
                                r->vlen, claim, len, err);
    if (rc == DN_ESTATE) {
        self->stats.missed++;
        return 0;
    }
    if (rc)
        return rc;
    if (hold(self, r->key, claim, len, first))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    self->stats.taken++;
    const char *from = r->damaged || !r->rec.owner[0] ? NULL : r->rec.owner;
    rc = self->hooks.took(self->hooks.arg, r->key, first, from, err);
    return rc ? rc : 1;
}

/* Claims, in key order, free keys and keys of dead members up to target. */
static int claim_share(dn_lease_t *self, const view_t *v, int target, dn_err_t *err)
{
    for (int i = 0; i < v->n_keys && dn_keytab_count(self->held) < target; i++) {
        const vkey_t *r = &v->keys[i];
        if (!r->damaged && r->rec.owner[0] &&
            (!strcmp(r->rec.owner, self->owner) || dn_keytab_find(v->live, r->rec.owner) >= 0))
            continue; /* ours already, or a live member's */
        int rc = take(self, r, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int dn_lease_balance(dn_lease_t *self, dn_lease_share_t *share, dn_err_t *err)
{
    if (self->slot < 0)
        return dn_err_set(err, DN_ESTATE, "lease: not a member (join first)");
    view_t v;
    int rc = view_read(self, &v, 1, err);
    if (rc)
        return rc;
    drop_lost(self, &v);
    rc = report_dead(self, &v, err);
    /* Shares by rank among the live owners in byte order, so that they add
     * up to K: the first K mod m take one key more. */
    int live = dn_keytab_count(v.live), rank = 0;
    int m = live + (dn_keytab_find(v.live, self->owner) < 0);
    for (int i = 0; i < live; i++)
        rank += strcmp(dn_keytab_key(v.live, i), self->owner) < 0;
    int target = v.n_keys / m + (rank < v.n_keys % m);
    int held = dn_keytab_count(self->held);
    if (!rc && held > target)
        rc = give_back(self, held - target, err);
    else if (!rc)
        rc = claim_share(self, &v, target, err);
    if (!rc && share)
        *share = (dn_lease_share_t){dn_keytab_count(self->held), v.n_keys, m};
    view_free(&v);
    return rc;
}
