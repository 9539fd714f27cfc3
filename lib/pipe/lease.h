/* lease.h: elastic ownership of keys among the live members of a group (the
 * trainers with shard = auto), through records in a shared storage
 * (lease_store.h), so that every key is worked on by exactly one member and
 * members can come, go and die (docker compose --scale, kill -9).
 *
 * Two tables of the storage, named by the caller:
 *   - members: "member-<i>" -> member record (owner, expiry). A member joins
 *     by claiming the lowest slot i whose record is absent, expired or
 *     damaged, with one compare-and-swap; renews it (expiry = now + lease_s)
 *     every lease_s / 3; releases it (expiry 0) when it stops. A member that
 *     finds its slot taken over (it stalled past its expiry and another
 *     joined in its place) must stop: dn_lease_renew says DN_ESTATE. i is
 *     the member's number for the caller (the trainer's events consumer).
 *   - keys: key -> key record (owner or nobody, first). A key is registered,
 *     owned by nobody, by whoever sees it first (compare-and-swap on an absent
 *     record); `first` is where the key's work starts (the trainer: the events
 *     offset of its first run). A key is owned by the member its record names
 *     while that member's record is live.
 * One balance step (dn_lease_balance) reads both tables as they are now; with
 * K keys and m live members (this one counted even when its own record just
 * expired) this member's share is K / m, plus one when its owner name is
 * among the first K mod m live owners in byte order, so the shares add up to
 * K. It then, in this order:
 *   - drops the keys it holds whose record no longer names it (it stalled
 *     and another member claimed them): hooks.lost, the state is the new
 *     owner's;
 *   - tells hooks.left, once per dead member record, that slot's member is
 *     gone (not its own slot);
 *   - holding more than its share: hands the surplus to hooks.give_back, which
 *     checkpoints those keys and gives their records back to nobody in the
 *     same transaction (dn_lease_stage with DN_LEASE_RELEASE), then
 *     dn_lease_forget;
 *   - holding fewer: claims, in key order, keys owned by nobody or by a member
 *     whose record is not live, each with one compare-and-swap (a member that
 *     got there first wins; this one goes on with the next key), until it
 *     holds its share: hooks.took for each, to load the key's state.
 * Every checkpoint of a held key goes with a compare-and-swap that its record
 * still names this member (dn_lease_stage), so a stalled member can never
 * overwrite the state of a key that moved on; when the batch fails with
 * DN_ESTATE, dn_lease_verify drops the lost keys and the rest can be written.
 *
 * Records are binary and checked: magic ("DNLM" member, "DNLK" key), version
 * DN_LEASE_RECORD_VERSION (version 1 was the text form "<owner> <expiry>" /
 * "<owner> <first>"), a little-endian u64 (the expiry's double bits, or
 * first), the owner (u32 length, 0 .. DN_LEASE_OWNER_MAX printable bytes
 * without space; 0 = nobody, key records only), and an FNV-1a checksum of
 * everything before it; nothing may follow. A damaged record (truncated,
 * garbage, too long, wrong magic, version or checksum, a bad owner or expiry)
 * is refused with DN_EFORMAT naming what is wrong; the protocol treats it as
 * expired (member) or free with first 0 (key: its work restarts from the
 * beginning unless the key's own state says otherwise), counts it and logs it
 * once (WARN). A record under a key that cannot be one ("member-x", a key
 * with control characters or longer than DN_LEASE_KEY_MAX) is counted,
 * logged once and ignored.
 *
 * Time is the caller's clock (opts.clock; wall seconds, Unix time): records
 * hold absolute expiries that every member compares with its own clock, so
 * members on several hosts need clocks in step to well within lease_s (NTP),
 * as with any lease. Tests inject a fake clock.
 *
 * Thread rules: a dn_lease_t belongs to one thread, as does its storage; the
 * hooks run on that thread, inside the calls that name them but never inside
 * a storage operation (they may use the storage). Ownership: the
 * storage is borrowed and must outlive the lease; strings handed to hooks are
 * valid during the call only. */
#ifndef DN_LEASE_H
#define DN_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "lease_store.h"
#include "msg.h"

typedef struct dn_lease_t dn_lease_t;

#define DN_LEASE_OWNER_MAX 127                /* bytes in an owner name */
#define DN_LEASE_KEY_MAX DN_MSG_KEY_MAX       /* bytes in a key */
#define DN_LEASE_RECORD_VERSION 2u
#define DN_LEASE_RECORD_MAX (4 + 4 + 8 + 4 + DN_LEASE_OWNER_MAX + 4)
#define DN_LEASE_MAX_MEMBERS 4096             /* default number of member slots */

/* ---- records ---------------------------------------------------------------------- */

#define DN_LEASE_MEMBER 0 /* a member record: owner, expiry */
#define DN_LEASE_KEY 1    /* a key record: owner ("" = nobody), first */

typedef struct dn_lease_rec_t {
    char owner[DN_LEASE_OWNER_MAX + 1];
    double expiry;            /* member: wall seconds the lease runs to (0: released) */
    uint64_t first;           /* key: where the key's work starts */
} dn_lease_rec_t;

/* Encodes rec as a record of kind into buf (DN_LEASE_RECORD_MAX bytes), its
 * length into *len. Returns 0, or DN_EINVAL (a bad owner, an empty owner in a
 * member record, an expiry that is negative or not finite, a bad kind). */
int dn_lease_record_encode(int kind, const dn_lease_rec_t *rec, unsigned char *buf, size_t *len);

/* Decodes the record of kind in val[len] into *rec. Returns 0, DN_EINVAL
 * (a bad kind), or DN_EFORMAT with *err naming the damage: "truncated: 7
 * bytes (at least 24)", "too long: 1048576 bytes (at most 151)", "not a key
 * record: magic ...", "version 1, want 2", "owner of 300 bytes", "3 bytes
 * after the record", "checksum mismatch", "owner has byte 0x20 at 3", "no
 * owner", "expiry -1 is not a time". *rec is cleared on failure. */
int dn_lease_record_decode(int kind, const void *val, size_t len, dn_lease_rec_t *rec,
                           dn_err_t *err);

/* ---- the protocol ---------------------------------------------------------------------- */

/* Wall clock in seconds (Unix time); arg is opts.clock_arg. */
typedef double (*dn_lease_clock_fn)(void *arg);

typedef struct dn_lease_opts_t {
    const char *members;      /* the members table, e.g. "trainer.members" */
    const char *keys;         /* the keys table, e.g. "trainer.keys" */
    const char *owner;        /* this member's name, unique among every member ever
                               * (host:pid:start time): 1 .. DN_LEASE_OWNER_MAX bytes
                               * 0x21 .. 0x7e */
    double lease_s;           /* a member silent this long is dead; > 0 */
    int max_members;          /* slots member-0 .. member-(max-1); 0: DN_LEASE_MAX_MEMBERS */
    dn_lease_clock_fn clock;  /* NULL: dn_clock_wall */
    void *clock_arg;
} dn_lease_opts_t;

/* What the caller does with the state of its keys. Every hook is required
 * but left; a negative return stops the step that called it with that
 * error (*err set). */
typedef struct dn_lease_hooks_t {
    void *arg;                /* first argument of every hook */
    /* key (registered at first) is this member's now, taken from owner `from`
     * (NULL: from nobody, or from a damaged record): load its state. */
    int (*took)(void *arg, const char *key, uint64_t first, const char *from, dn_err_t *err);
    /* key was this member's, but its record now says `now` (an owner name,
     * "nobody", "a damaged record" or "record gone"): forget its state
     * without writing it (it is the new owner's). */
    void (*lost)(void *arg, const char *key, const char *now);
    /* Give the n keys[] back: write their state and dn_lease_stage(key,
     * DN_LEASE_RELEASE) each in one transaction, then dn_lease_forget each.
     * keys[] is valid during the call. */
    int (*give_back)(void *arg, const char *const *keys, int n, dn_err_t *err);
    /* The member in slot `slot` is dead (its record expired or is damaged):
     * called once per dead record, never for this member's own slot. May be
     * NULL. */
    int (*left)(void *arg, int slot, dn_err_t *err);
} dn_lease_hooks_t;

/* The outcome of a balance step. */
typedef struct dn_lease_share_t {
    int held;                 /* keys this member holds after the step */
    int keys;                 /* K: the registered keys */
    int members;              /* m: the live members, this one included */
} dn_lease_share_t;

typedef struct dn_lease_stats_t {
    uint64_t taken;           /* keys claimed (hooks.took) */
    uint64_t missed;          /* claims of a key another member swapped first */
    uint64_t given;           /* keys given back (dn_lease_forget) */
    uint64_t lost;            /* keys dropped as claimed by another (hooks.lost) */
    uint64_t damaged;         /* distinct damaged records met */
    uint64_t left;            /* dead members reported (hooks.left) */
} dn_lease_stats_t;

/* A member of the group whose records are in store (borrowed), not joined
 * yet. opts and hooks are copied (their strings too). Returns NULL with *err
 * set: DN_EINVAL (a bad table name, owner, lease_s, max_members, a missing
 * hook), DN_ENOMEM. Caller owns it. */
dn_lease_t *dn_lease_new(dn_lease_store_t *store, const dn_lease_opts_t *opts,
                         const dn_lease_hooks_t *hooks, dn_err_t *err);

/* Frees *self_p (writes nothing: give the keys back and release first);
 * accepts NULL and *self_p NULL; nulls it. */
void dn_lease_destroy(dn_lease_t **self_p);

/* Joins: claims the lowest member slot that is absent, expired or damaged
 * (this member's own record counts as free), and syncs the storage. Returns
 * 0, DN_ESTATE (joined already), DN_ERANGE (every slot is held by a live
 * member), DN_EIO, DN_ENOMEM. */
int dn_lease_join(dn_lease_t *self, dn_err_t *err);

/* This member's slot, or -1 before joining and after releasing. */
int dn_lease_slot(const dn_lease_t *self);

/* This member's owner name (owned by self). */
const char *dn_lease_owner(const dn_lease_t *self);

/* Renews the member record when a third of lease_s has passed since the last
 * renewal (force: now), and syncs. Returns 0, DN_ESTATE (not joined, or the
 * slot was taken over by another member: this one stalled past its lease and
 * must stop; *err says so), DN_EIO, DN_ENOMEM. */
int dn_lease_renew(dn_lease_t *self, int force, dn_err_t *err);

/* Gives the slot up at once (expiry 0, when the record is still this
 * member's) and syncs; afterwards the member is no longer joined. Give the
 * held keys back first. Returns 0, DN_ESTATE (not joined, or the slot was
 * taken over: nothing written), DN_EIO, DN_ENOMEM. */
int dn_lease_release(dn_lease_t *self, dn_err_t *err);

/* Registers key (1 .. DN_LEASE_KEY_MAX bytes, no control characters) owned by
 * nobody with `first`, unless this member knows it is registered. Returns
 * DN_LEASE_KNOWN (known before: nothing done), DN_LEASE_SEEN (it just became
 * known: another member had registered it), DN_LEASE_REGISTERED (this member
 * registered it now); the two last mean a balance step is due. Or DN_EINVAL
 * (not a key), DN_EIO, DN_ENOMEM. */
#define DN_LEASE_KNOWN 0
#define DN_LEASE_SEEN 1
#define DN_LEASE_REGISTERED 2
int dn_lease_register(dn_lease_t *self, const char *key, uint64_t first, dn_err_t *err);

/* One balance step (see the top of this file), calling the hooks; *share
 * (may be NULL) says where it ended. Returns 0, DN_ESTATE (not joined),
 * DN_EIO, DN_ENOMEM, or a hook's error. */
int dn_lease_balance(dn_lease_t *self, dn_lease_share_t *share, dn_err_t *err);

/* Adds to batch the compare-and-swap that checks held key's record still
 * names this member: DN_LEASE_KEEP leaves it so, DN_LEASE_RELEASE hands the
 * key to nobody (keeping its first), to be applied with the key's state.
 * Returns 0, DN_ENOTFOUND (key not held), DN_EINVAL, DN_ENOMEM. */
#define DN_LEASE_KEEP 0
#define DN_LEASE_RELEASE 1
int dn_lease_stage(dn_lease_t *self, dn_lease_batch_t *batch, const char *key, int how);

/* After a batch with key staged DN_LEASE_RELEASE was applied: key is no
 * longer held (counted as given back). Returns 0 or DN_ENOTFOUND. */
int dn_lease_forget(dn_lease_t *self, const char *key);

/* Reads the key records and drops (hooks.lost) every held key whose record
 * no longer names this member, their number into *lost (may be NULL): after
 * a batch with dn_lease_stage failed with DN_ESTATE, 0 dropped means the
 * failed compare was not a lost key. Returns 0, DN_EIO, DN_ENOMEM. */
int dn_lease_verify(dn_lease_t *self, int *lost, dn_err_t *err);

/* 1 when key is held by this member, else 0; the number held; the key of
 * held index i (0 <= i < held; NULL beyond; valid until the next change). */
int dn_lease_holds(const dn_lease_t *self, const char *key);
int dn_lease_held(const dn_lease_t *self);
const char *dn_lease_held_key(const dn_lease_t *self, int i);

dn_lease_stats_t dn_lease_stats(const dn_lease_t *self);

#endif
