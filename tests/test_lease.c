/* test_lease.c: the elastic ownership protocol (lease.h) with several members
 * on one LMDB store and a fake clock: records and their damage, joining,
 * fair shares, scale up, giving back at stop, lease expiry, stalled members,
 * damaged records in the tables, and races: interleaved deterministically
 * through a storage that lets another member act between a member's read and
 * its compare-and-swap, and for real between processes, where a count per
 * key (loaded by the member that takes the key, counted on in its memory and
 * checkpointed with its claim check, as the trainer does with a key's model)
 * shows that no key was ever worked on by two members at once.
 *
 * Each member here is what a service is to the protocol: its give_back hook
 * writes each key's state ("given back by <owner>") and the release in one
 * batch, as the trainer checkpoints a key it gives back. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "lease.h"
#include "lease_store.h"
#include "log.h"
#include "rng.h"
#include "store.h"
#include "tmpdir.h"
#ifdef DN_LEASE_OVER_REGISTRY
#include "registry_proc.h"
static dn_test_registry_t reg; /* the registry process every member's storage asks */
#endif

#define T_MEMBERS "test.members"
#define T_KEYS "test.keys"
#define T_STATE "test.state"
#define T_COUNT "test.count"
#define LEASE_S 15.0

static char dir[DN_TEST_TMPDIR_MAX];
static dn_store_t *store;
static dn_lease_store_t *shared;
static double clock_s = 1.7e9; /* the fake wall clock every member reads */

static double fake_clock(void *arg)
{
    return *(const double *)arg;
}

static void setup(void)
{
    dn_test_tmpdir(dir, "lease");
    clock_s = 1.7e9;
#ifdef DN_LEASE_OVER_REGISTRY
    dn_test_registry_start(&reg, dir);
#endif
}

static void teardown(void)
{
    dn_lease_store_destroy(&shared);
#ifdef DN_LEASE_OVER_REGISTRY
    dn_test_registry_stop(&reg, SIGTERM);
#endif
    dn_store_destroy(&store);
    dn_test_rmdir(dir);
}

TestSuite(lease, .init = setup, .fini = teardown, .timeout = 120);

/* `shared` is what the members use; `store` is the LMDB store behind it,
 * for the tests to look at and to damage records in. Over the registry it is
 * the registry's own store, opened beside it (LMDB serves several processes
 * of one host). */
static void open_store(void)
{
    dn_err_t err = {0};
#ifdef DN_LEASE_OVER_REGISTRY
    char path[DN_TEST_TMPDIR_MAX + 16];
    snprintf(path, sizeof path, "%s/registry", dir);
    store = dn_store_open(path, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(store, "%s", err.msg);
    dn_test_registry_connect(&reg, "test", 0);
    shared = dn_registry_lease_store(reg.client);
#else
    store = dn_store_open(dir, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(store, "%s", err.msg);
    shared = dn_lease_store_lmdb(store);
#endif
    cr_assert_not_null(shared);
}

/* ---- a member: the protocol plus what a service does with its keys ----------------------- */

typedef struct member_t {
    dn_lease_t *lease;
    dn_lease_store_t *ls;     /* borrowed */
    char owner[64];
    int took, lost, left, left_slot;
    char from[128];           /* the last took's previous owner ("nobody" for NULL) */
    char now[128];            /* the last lost's new owner in words */
    uint64_t first;           /* the last took's first */
    int counting;             /* the racing processes: keep each key's count */
    uint64_t count[16];       /* sub/h<k>'s count as loaded when taken, then counted on */
} member_t;

/* k of key "sub/h<k>", or -1. */
static int key_index(const char *key)
{
    int k = -1;
    return sscanf(key, "sub/h%d", &k) == 1 && k >= 0 && k < 16 ? k : -1;
}

static int on_took(void *arg, const char *key, uint64_t first, const char *from, dn_err_t *err)
{
    member_t *m = arg;
    m->took++;
    m->first = first;
    snprintf(m->from, sizeof m->from, "%s", from ? from : "nobody");
    int k = key_index(key);
    if (!m->counting || k < 0)
        return 0;
    /* a key's state is loaded when it is taken, and worked on in memory */
    void *val = NULL;
    size_t len = 0;
    int rc = dn_lease_store_get(m->ls, T_COUNT, key, strlen(key), &val, &len, err);
    m->count[k] = !rc && len == 8 ? dn_get_u64(val) : 0;
    free(val);
    return rc == DN_ENOTFOUND ? 0 : rc;
}

static void on_lost(void *arg, const char *key, const char *now)
{
    (void)key;
    member_t *m = arg;
    m->lost++;
    snprintf(m->now, sizeof m->now, "%s", now);
}

/* Writes each key's state and gives it back, in one batch; then forgets them. */
static int give_keys(member_t *m, const char *const *keys, int n, dn_err_t *err)
{
    dn_lease_batch_t *b = dn_lease_batch_new();
    int rc = b ? 0 : DN_ENOMEM;
    for (int i = 0; i < n && !rc; i++) {
        char val[96];
        int len = snprintf(val, sizeof val, "given back by %s", m->owner);
        rc = dn_lease_batch_put(b, T_STATE, keys[i], strlen(keys[i]), val, (size_t)len);
        if (!rc)
            rc = dn_lease_stage(m->lease, b, keys[i], DN_LEASE_RELEASE);
    }
    if (!rc)
        rc = dn_lease_store_apply(m->ls, b, err);
    for (int i = 0; i < n && !rc; i++)
        rc = dn_lease_forget(m->lease, keys[i]);
    dn_lease_batch_destroy(&b);
    return rc;
}

static int on_give_back(void *arg, const char *const *keys, int n, dn_err_t *err)
{
    return give_keys(arg, keys, n, err);
}

static int on_left(void *arg, int slot, dn_err_t *err)
{
    (void)err;
    member_t *m = arg;
    m->left++;
    m->left_slot = slot;
    return 0;
}

/* A member named owner on ls (not joined); max_members 0: the default; a
 * NULL clock is the real one. 0 or the error (no assertion: the racing
 * processes use it). */
static int member_init(member_t *m, dn_lease_store_t *ls, const char *owner, int max_members,
                       double *clock, dn_err_t *err)
{
    memset(m, 0, sizeof *m);
    m->ls = ls;
    snprintf(m->owner, sizeof m->owner, "%s", owner);
    dn_lease_opts_t o = {.members = T_MEMBERS, .keys = T_KEYS, .owner = owner,
                         .lease_s = LEASE_S, .max_members = max_members,
                         .clock = clock ? fake_clock : NULL, .clock_arg = clock};
    dn_lease_hooks_t h = {.arg = m, .took = on_took, .lost = on_lost,
                          .give_back = on_give_back, .left = on_left};
    m->lease = dn_lease_new(ls, &o, &h, err);
    return m->lease ? 0 : err->code;
}

static void member_new(member_t *m, dn_lease_store_t *ls, const char *owner, int max_members,
                       double *clock)
{
    dn_err_t err = {0};
    cr_assert_eq(member_init(m, ls, owner, max_members, clock, &err), 0, "%s", err.msg);
}

static void member_join(member_t *m, dn_lease_store_t *ls, const char *owner)
{
    member_new(m, ls, owner, 0, &clock_s);
    dn_err_t err = {0};
    int rc = dn_lease_join(m->lease, &err);
    cr_assert_eq(rc, 0, "%s: join: %s", owner, err.msg);
}

/* Stops as a service does: every key given back, then the slot released;
 * the member is destroyed. 0 or the error. */
static int member_leave(member_t *m, dn_err_t *err)
{
    int n = dn_lease_held(m->lease), rc = 0;
    char **keys = calloc((size_t)n + 1, sizeof *keys);
    for (int i = 0; keys && i < n && !rc; i++)
        if (!(keys[i] = strdup(dn_lease_held_key(m->lease, i))))
            rc = DN_ENOMEM;
    if (!keys)
        rc = DN_ENOMEM;
    if (!rc)
        rc = give_keys(m, (const char *const *)keys, n, err);
    for (int i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    if (!rc)
        rc = dn_lease_release(m->lease, err);
    if (!rc && dn_lease_slot(m->lease) != -1)
        rc = dn_err_set(err, DN_ESTATE, "still a member after release");
    dn_lease_destroy(&m->lease);
    return rc;
}

static void member_stop(member_t *m)
{
    dn_err_t err = {0};
    char owner[64];
    snprintf(owner, sizeof owner, "%s", m->owner);
    int rc = member_leave(m, &err);
    cr_assert_eq(rc, 0, "%s: stop: %s", owner, err.msg);
}

static dn_lease_share_t balance(member_t *m)
{
    dn_lease_share_t s = {0};
    dn_err_t err = {0};
    int rc = dn_lease_balance(m->lease, &s, &err);
    cr_assert_eq(rc, 0, "%s: balance: %s", m->owner, err.msg);
    cr_assert_eq(s.held, dn_lease_held(m->lease));
    return s;
}

/* Rounds of balance over the members until nothing moves (at most 5). */
static void settle(member_t **ms, int n)
{
    for (int round = 0; round < 5; round++) {
        int before[16], moved = 0;
        for (int i = 0; i < n; i++)
            before[i] = ms[i]->took + ms[i]->lost + (int)dn_lease_stats(ms[i]->lease).given;
        for (int i = 0; i < n; i++)
            balance(ms[i]);
        for (int i = 0; i < n; i++)
            moved |= before[i] != ms[i]->took + ms[i]->lost +
                                      (int)dn_lease_stats(ms[i]->lease).given;
        if (!moved)
            return;
    }
    cr_assert_fail("the members did not settle in 5 rounds");
}

/* Registers sub/h0 .. sub/h<n-1> (first 100 + i). 0 or the error. */
static int register_n(member_t *m, int n, dn_err_t *err)
{
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "sub/h%d", i);
        int rc = dn_lease_register(m->lease, key, 100 + (uint64_t)i, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void register_keys(member_t *m, int n)
{
    dn_err_t err = {0};
    cr_assert_eq(register_n(m, n, &err), 0, "register: %s", err.msg);
}

/* ms[i] joins as the one-letter owner names[i], in that order; ms[0]
 * registers n_keys keys; then all settle. */
static void start_group(member_t **ms, const char *names, int n_keys)
{
    int n = (int)strlen(names);
    for (int i = 0; i < n; i++) {
        char owner[2] = {names[i], '\0'};
        member_join(ms[i], shared, owner);
    }
    register_keys(ms[0], n_keys);
    settle(ms, n);
}

static void read_record(const char *table, const char *key, int kind, dn_lease_rec_t *rec)
{
    void *val = NULL;
    size_t len = 0;
    dn_err_t err = {0};
    cr_assert_eq(dn_store_get(store, table, key, strlen(key), &val, &len, &err), 0, "%s: %s",
                 key, err.msg);
    cr_assert_eq(dn_lease_record_decode(kind, val, len, rec, &err), 0, "%s: %s", key, err.msg);
    free(val);
}

/* Every one of the n_keys keys is held by exactly the member its record names. */
static void check_owners(member_t **ms, int n, int n_keys)
{
    for (int k = 0; k < n_keys; k++) {
        char key[32];
        snprintf(key, sizeof key, "sub/h%d", k);
        dn_lease_rec_t rec;
        read_record(T_KEYS, key, DN_LEASE_KEY, &rec);
        int holders = 0;
        for (int i = 0; i < n; i++) {
            if (!ms[i]->lease || !dn_lease_holds(ms[i]->lease, key))
                continue;
            holders++;
            cr_assert_str_eq(rec.owner, ms[i]->owner, "%s held by %s, its record names '%s'",
                             key, ms[i]->owner, rec.owner);
        }
        cr_assert_eq(holders, 1, "%s is held by %d members", key, holders);
    }
}

/* ---- records ------------------------------------------------------------------------------- */

static void expect_damage(int kind, const void *val, size_t len, const char *words)
{
    dn_lease_rec_t rec;
    dn_err_t err = {0};
    int rc = dn_lease_record_decode(kind, val, len, &rec, &err);
    cr_assert_eq(rc, DN_EFORMAT, "a damaged record (%zu bytes) was accepted", len);
    cr_assert(strstr(err.msg, words), "error '%s' does not say '%s'", err.msg, words);
    cr_assert_eq(rec.owner[0], '\0', "a refused record left an owner behind");
}

Test(lease, records_round_trip_and_every_damage_is_refused_by_name)
{
    unsigned char buf[DN_LEASE_RECORD_MAX], bad[DN_LEASE_RECORD_MAX + 8];
    size_t len = 0;
    dn_lease_rec_t in = {.owner = "host-1:4242:1700000000123", .expiry = 1.7e9 + 0.125};
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_MEMBER, &in, buf, &len), 0);
    dn_lease_rec_t out;
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_record_decode(DN_LEASE_MEMBER, buf, len, &out, &err), 0, "%s",
                 err.msg);
    cr_assert_str_eq(out.owner, in.owner);
    cr_assert_eq(out.expiry, in.expiry);
    /* every truncation, every single-byte change, bytes after it */
    for (size_t n = 0; n < len; n++)
        expect_damage(DN_LEASE_MEMBER, buf, n, "truncated");
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, buf, len);
        bad[i] ^= 0x40;
        dn_lease_rec_t r;
        cr_assert_eq(dn_lease_record_decode(DN_LEASE_MEMBER, bad, len, &r, &err), DN_EFORMAT,
                     "byte %zu changed was accepted", i);
    }
    memcpy(bad, buf, len);
    bad[len] = 0;
    expect_damage(DN_LEASE_MEMBER, bad, len + 1, "1 bytes after the record");
    memcpy(bad, buf, len);
    bad[len - 1] ^= 1;
    expect_damage(DN_LEASE_MEMBER, bad, len, "checksum mismatch");
    expect_damage(DN_LEASE_KEY, buf, len, "not a key record");
    memcpy(bad, buf, len);
    dn_put_u32(bad + 4, 1);
    expect_damage(DN_LEASE_MEMBER, bad, len, "version 1, want 2");
    memcpy(bad, buf, len);
    dn_put_u32(bad + 16, 4000);
    expect_damage(DN_LEASE_MEMBER, bad, len, "owner of 4000 bytes");
    /* well framed, checksum right, contents wrong */
    memcpy(bad, buf, len);
    bad[24] = ' ';
    dn_put_u32(bad + len - 4, dn_fnv1a32(bad, len - 4));
    expect_damage(DN_LEASE_MEMBER, bad, len, "owner has byte 0x20 at 4");
    memcpy(bad, buf, len);
    dn_put_f64(bad + 8, -1.0);
    dn_put_u32(bad + len - 4, dn_fnv1a32(bad, len - 4));
    expect_damage(DN_LEASE_MEMBER, bad, len, "expiry -1 is not a time");
    /* the text form of version 1, garbage, a huge value */
    const char *text = "host-1:4242:1700000000123 99999999999.000";
    expect_damage(DN_LEASE_MEMBER, text, strlen(text), "not a member record");
    dn_rng_t rng;
    dn_rng_seed(&rng, 7);
    for (int t = 0; t < 5000; t++) {
        size_t n = (size_t)dn_rng_below(&rng, sizeof bad + 1);
        for (size_t i = 0; i < n; i++)
            bad[i] = (unsigned char)dn_rng_below(&rng, 256);
        if (t % 2 && n >= 4)
            memcpy(bad, "DNLK", 4); /* past the magic, into the rest */
        dn_lease_rec_t r;
        cr_assert_eq(dn_lease_record_decode(DN_LEASE_KEY, bad, n, &r, &err), DN_EFORMAT,
                     "garbage %d (%zu bytes) was accepted", t, n);
    }
    size_t huge_len = 1u << 20;
    unsigned char *huge = calloc(1, huge_len);
    cr_assert_not_null(huge);
    memcpy(huge, buf, len);
    expect_damage(DN_LEASE_MEMBER, huge, huge_len, "too long: 1048576 bytes (at most 151)");
    free(huge);
    expect_damage(DN_LEASE_MEMBER, NULL, 0, "truncated: 0 bytes");
}

Test(lease, key_records_and_what_cannot_be_encoded)
{
    unsigned char buf[DN_LEASE_RECORD_MAX];
    size_t len = 0;
    dn_lease_rec_t nobody = {.first = 123456789012345ull};
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_KEY, &nobody, buf, &len), 0);
    cr_assert_eq(len, 24u, "a key owned by nobody has no owner bytes");
    dn_lease_rec_t out;
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_record_decode(DN_LEASE_KEY, buf, len, &out, &err), 0, "%s", err.msg);
    cr_assert_eq(out.first, nobody.first);
    cr_assert_str_eq(out.owner, "");
    expect_damage(DN_LEASE_MEMBER, buf, len, "not a member record");
    dn_lease_rec_t r = {.owner = "", .expiry = 5};
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_MEMBER, &r, buf, &len), DN_EINVAL,
                 "a member record needs an owner");
    snprintf(r.owner, sizeof r.owner, "two words");
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_KEY, &r, buf, &len), DN_EINVAL);
    snprintf(r.owner, sizeof r.owner, "a");
    r.expiry = NAN;
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_MEMBER, &r, buf, &len), DN_EINVAL);
    r.expiry = -2;
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_MEMBER, &r, buf, &len), DN_EINVAL);
    memset(r.owner, 'x', sizeof r.owner); /* not terminated within the bound */
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_KEY, &r, buf, &len), DN_EINVAL);
    cr_assert_eq(dn_lease_record_decode(7, buf, len, &out, &err), DN_EINVAL);
}

/* ---- members ------------------------------------------------------------------------------- */

Test(lease, join_takes_the_lowest_free_or_expired_slot_and_renews_every_third)
{
    open_store();
    member_t a, b, c, d, e;
    member_join(&a, shared, "a");
    member_join(&b, shared, "b");
    member_join(&c, shared, "c");
    cr_assert_eq(dn_lease_slot(a.lease), 0);
    cr_assert_eq(dn_lease_slot(b.lease), 1);
    cr_assert_eq(dn_lease_slot(c.lease), 2);
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_join(a.lease, &err), DN_ESTATE, "joined twice");
    member_stop(&a);
    dn_lease_rec_t rec;
    read_record(T_MEMBERS, "member-0", DN_LEASE_MEMBER, &rec);
    cr_assert_eq(rec.expiry, 0.0, "a released slot has expiry 0");
    member_join(&d, shared, "d");
    cr_assert_eq(dn_lease_slot(d.lease), 0, "the released slot is the lowest free one");
    /* Renewal: not before a third of the lease, then to now + lease_s. */
    read_record(T_MEMBERS, "member-1", DN_LEASE_MEMBER, &rec);
    double joined = rec.expiry;
    clock_s += LEASE_S / 3 - 0.5;
    cr_assert_eq(dn_lease_renew(b.lease, 0, &err), 0, "%s", err.msg);
    read_record(T_MEMBERS, "member-1", DN_LEASE_MEMBER, &rec);
    cr_assert_eq(rec.expiry, joined, "renewed before a third of the lease had passed");
    clock_s += 1.0;
    cr_assert_eq(dn_lease_renew(b.lease, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_lease_renew(d.lease, 0, &err), 0, "%s", err.msg);
    read_record(T_MEMBERS, "member-1", DN_LEASE_MEMBER, &rec);
    cr_assert_eq(rec.expiry, clock_s + LEASE_S);
    cr_assert_str_eq(rec.owner, "b");
    /* c stops renewing: once its lease ran out its slot is the lowest free one. */
    clock_s += LEASE_S - LEASE_S / 3 + 0.5;
    cr_assert_eq(dn_lease_renew(b.lease, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_lease_renew(d.lease, 1, &err), 0, "%s", err.msg);
    member_join(&e, shared, "e");
    cr_assert_eq(dn_lease_slot(e.lease), 2, "the expired slot was not taken");
    /* c wakes up: its slot is e's now, and it must stop. */
    int rc = dn_lease_renew(c.lease, 0, &err);
    cr_assert_eq(rc, DN_ESTATE);
    cr_assert(strstr(err.msg, "member slot 2 taken over"), "%s", err.msg);
    cr_assert_eq(dn_lease_release(c.lease, &err), DN_ESTATE, "released a slot not its own");
    read_record(T_MEMBERS, "member-2", DN_LEASE_MEMBER, &rec);
    cr_assert_str_eq(rec.owner, "e", "the stalled member wrote over its successor");
    dn_lease_destroy(&c.lease);
    member_stop(&b);
    member_stop(&d);
    member_stop(&e);
}

Test(lease, every_slot_held_by_a_live_member_is_a_named_error)
{
    open_store();
    member_t a, b, c;
    member_new(&a, shared, "a", 2, &clock_s);
    member_new(&b, shared, "b", 2, &clock_s);
    member_new(&c, shared, "c", 2, &clock_s);
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_join(a.lease, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_lease_join(b.lease, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_lease_join(c.lease, &err), DN_ERANGE);
    cr_assert(strstr(err.msg, "all 2 member slots are held"), "%s", err.msg);
    cr_assert_eq(dn_lease_slot(c.lease), -1);
    cr_assert_eq(dn_lease_balance(c.lease, NULL, &err), DN_ESTATE, "balanced without a slot");
    dn_lease_destroy(&c.lease);
    member_stop(&a);
    member_stop(&b);
}

Test(lease, bad_options_are_refused_by_name)
{
    open_store();
    dn_lease_hooks_t h = {.took = on_took, .lost = on_lost, .give_back = on_give_back};
    dn_lease_opts_t ok = {.members = T_MEMBERS, .keys = T_KEYS, .owner = "a", .lease_s = 3};
    struct {
        dn_lease_opts_t o;
        const char *words;
    } cases[] = {
        {{.members = T_MEMBERS, .keys = T_MEMBERS, .owner = "a", .lease_s = 3}, "distinct"},
        {{.members = "dn.weights", .keys = T_KEYS, .owner = "a", .lease_s = 3}, "table"},
        {{.members = T_MEMBERS, .keys = T_KEYS, .owner = "a b", .lease_s = 3}, "owner"},
        {{.members = T_MEMBERS, .keys = T_KEYS, .owner = "", .lease_s = 3}, "owner"},
        {{.members = T_MEMBERS, .keys = T_KEYS, .owner = "a", .lease_s = 0}, "lease_s"},
        {{.members = T_MEMBERS, .keys = T_KEYS, .owner = "a", .lease_s = NAN}, "lease_s"},
        {{.members = T_MEMBERS, .keys = T_KEYS, .owner = "a", .lease_s = 3,
          .max_members = -1}, "max_members"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dn_err_t err = {0};
        dn_lease_t *l = dn_lease_new(shared, &cases[i].o, &h, &err);
        cr_assert_null(l, "case %zu was accepted", i);
        cr_assert_eq(err.code, DN_EINVAL);
        cr_assert(strstr(err.msg, cases[i].words), "case %zu: '%s'", i, err.msg);
    }
    dn_err_t err = {0};
    dn_lease_hooks_t no_lost = {.took = on_took, .give_back = on_give_back};
    cr_assert_null(dn_lease_new(shared, &ok, &no_lost, &err));
    cr_assert(strstr(err.msg, "hooks"), "%s", err.msg);
    dn_lease_t *l = dn_lease_new(shared, &ok, &h, &err);
    cr_assert_not_null(l, "%s", err.msg);
    cr_assert_eq(dn_lease_register(l, "bad\nkey", 0, &err), DN_EINVAL);
    cr_assert_eq(dn_lease_register(l, "", 0, &err), DN_EINVAL);
    dn_lease_destroy(&l);
    cr_assert_null(l);
    dn_lease_destroy(&l);
}

/* ---- shares ---------------------------------------------------------------------------------- */

Test(lease, seven_keys_over_three_members_are_shared_three_two_two)
{
    open_store();
    member_t a, b, c;
    member_join(&c, shared, "c");
    member_join(&a, shared, "a");
    member_join(&b, shared, "b");
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_register(b.lease, "sub/h0", 100, &err), DN_LEASE_REGISTERED);
    cr_assert_eq(dn_lease_register(b.lease, "sub/h0", 100, &err), DN_LEASE_KNOWN);
    cr_assert_eq(dn_lease_register(a.lease, "sub/h0", 999, &err), DN_LEASE_SEEN,
                 "a key registered by another is seen, not registered again");
    register_keys(&b, 4);
    register_keys(&c, 7);
    member_t *ms[] = {&a, &b, &c};
    settle(ms, 3);
    /* by rank of the owner names: a 3, b 2, c 2, though c joined first */
    cr_assert_eq(dn_lease_held(a.lease), 3);
    cr_assert_eq(dn_lease_held(b.lease), 2);
    cr_assert_eq(dn_lease_held(c.lease), 2);
    dn_lease_share_t s = balance(&c);
    cr_assert_eq(s.keys, 7);
    cr_assert_eq(s.members, 3);
    check_owners(ms, 3, 7);
    dn_lease_rec_t rec;
    read_record(T_KEYS, "sub/h0", DN_LEASE_KEY, &rec);
    cr_assert_eq(rec.first, 100u, "the first registration's first stands");
    cr_assert_str_eq(a.from, "nobody");
    member_stop(&a);
    member_stop(&b);
    member_stop(&c);
}

Test(lease, scale_up_a_new_member_takes_its_share_and_the_others_give_back)
{
    open_store();
    member_t a, b, c;
    member_t *two[] = {&a, &b};
    start_group(two, "ab", 7);
    cr_assert_eq(dn_lease_held(a.lease), 4);
    cr_assert_eq(dn_lease_held(b.lease), 3);
    member_join(&c, shared, "c");
    dn_lease_share_t s = balance(&c);
    cr_assert_eq(s.held, 0, "c took keys of live members");
    cr_assert_eq(s.members, 3);
    s = balance(&a);
    cr_assert_eq(s.held, 3, "a kept more than its share");
    s = balance(&b);
    cr_assert_eq(s.held, 2, "b kept more than its share");
    cr_assert_eq(dn_lease_stats(a.lease).given + dn_lease_stats(b.lease).given, 2);
    s = balance(&c);
    cr_assert_eq(s.held, 2, "c did not take the keys given back");
    cr_assert_str_eq(c.from, "nobody");
    member_t *three[] = {&a, &b, &c};
    check_owners(three, 3, 7);
    /* the keys c holds were checkpointed by their giver in the transaction
     * that gave them back */
    for (int i = 0; i < 2; i++) {
        const char *key = dn_lease_held_key(c.lease, i);
        void *val = NULL;
        size_t len = 0;
        dn_err_t err = {0};
        cr_assert_eq(dn_store_get(store, T_STATE, key, strlen(key), &val, &len, &err), 0,
                     "%s has no state from its giver", key);
        cr_assert(strstr(val, "given back by "), "%s", (char *)val);
        free(val);
    }
    member_stop(&a);
    member_stop(&b);
    member_stop(&c);
}

Test(lease, a_member_that_stops_gives_every_key_back_to_the_others)
{
    open_store();
    member_t a, b;
    member_t *ms[] = {&a, &b};
    start_group(ms, "ab", 6);
    cr_assert_eq(dn_lease_held(a.lease), 3);
    char held_by_a[3][32];
    for (int i = 0; i < 3; i++)
        snprintf(held_by_a[i], sizeof held_by_a[i], "%s", dn_lease_held_key(a.lease, i));
    member_stop(&a);
    for (int i = 0; i < 3; i++) {
        dn_lease_rec_t rec;
        read_record(T_KEYS, held_by_a[i], DN_LEASE_KEY, &rec);
        cr_assert_str_eq(rec.owner, "", "%s was not given back", held_by_a[i]);
    }
    dn_lease_share_t s = balance(&b);
    cr_assert_eq(s.members, 1);
    cr_assert_eq(s.held, 6, "b did not take the keys a gave back");
    cr_assert_str_eq(b.from, "nobody");
    cr_assert_eq(b.left, 1, "a's released slot was not reported as gone");
    cr_assert_eq(b.left_slot, 0);
    member_stop(&b);
}

/* ---- time --------------------------------------------------------------------------------- */

/* Moves the clock by dt in steps of a third of the lease, renewing the given members. */
static void time_passes(double dt, member_t **alive, int n)
{
    for (double done = 0; done < dt;) {
        double step = dt - done < LEASE_S / 3 ? dt - done : LEASE_S / 3;
        clock_s += step;
        done += step;
        for (int i = 0; i < n; i++) {
            dn_err_t err = {0};
            cr_assert_eq(dn_lease_renew(alive[i]->lease, 0, &err), 0, "%s: %s",
                         alive[i]->owner, err.msg);
        }
    }
}

Test(lease, a_silent_member_loses_its_keys_to_the_others_after_lease_s)
{
    open_store();
    member_t a, b, c;
    member_t *ms[] = {&a, &b, &c}, *alive[] = {&a, &b};
    start_group(ms, "abc", 6);
    cr_assert_eq(dn_lease_held(c.lease), 2);
    /* c goes silent: until its lease runs out nobody touches its keys */
    time_passes(LEASE_S - 0.5, alive, 2);
    balance(&a);
    balance(&b);
    cr_assert_eq(dn_lease_held(a.lease) + dn_lease_held(b.lease), 4, "c's keys went early");
    cr_assert_eq(a.left + b.left, 0);
    time_passes(1.0, alive, 2);
    settle(alive, 2);
    cr_assert_eq(dn_lease_held(a.lease), 3);
    cr_assert_eq(dn_lease_held(b.lease), 3);
    cr_assert(!strcmp(a.from, "c") || !strcmp(b.from, "c"), "no key was taken from c "
              "(a from %s, b from %s)", a.from, b.from);
    cr_assert_eq(a.left, 1, "c's death was not reported once to a");
    cr_assert_eq(a.left_slot, 2);
    balance(&a);
    cr_assert_eq(a.left, 1, "c's death was reported again");
    dn_lease_destroy(&c.lease); /* killed: it never gave anything back */
    member_t *two[] = {&a, &b};
    check_owners(two, 2, 6);
    member_stop(&a);
    member_stop(&b);
}

/* A stalled member whose keys were claimed while its slot stayed free: it
 * renews fine, but its checkpoint of those keys is refused, and it drops them. */
Test(lease, a_stalled_member_finds_its_keys_claimed_and_drops_them)
{
    open_store();
    member_t a, b;
    member_t *ms[] = {&a, &b}, *alive[] = {&a};
    start_group(ms, "ab", 4);
    cr_assert_eq(dn_lease_held(b.lease), 2);
    time_passes(LEASE_S + 1, alive, 1);
    dn_lease_share_t s = balance(&a);
    cr_assert_eq(s.held, 4, "a did not take the stalled member's keys");
    cr_assert_eq(s.members, 1);
    /* b wakes up: its slot is still its own */
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_renew(b.lease, 0, &err), 0, "%s", err.msg);
    /* its checkpoint of a key it believes it holds is refused as a whole */
    const char *key = dn_lease_held_key(b.lease, 0);
    char mine[32];
    snprintf(mine, sizeof mine, "%s", key);
    dn_lease_batch_t *batch = dn_lease_batch_new();
    cr_assert_eq(dn_lease_batch_put(batch, T_STATE, mine, strlen(mine), "stale", 5), 0);
    cr_assert_eq(dn_lease_stage(b.lease, batch, mine, DN_LEASE_KEEP), 0);
    cr_assert_eq(dn_lease_store_apply(shared, batch, &err), DN_ESTATE);
    dn_lease_batch_destroy(&batch);
    void *val = NULL;
    size_t len = 0;
    cr_assert_eq(dn_store_get(store, T_STATE, mine, strlen(mine), &val, &len, &err),
                 DN_ENOTFOUND, "the stalled member's state was written");
    int lost = 0;
    cr_assert_eq(dn_lease_verify(b.lease, &lost, &err), 0, "%s", err.msg);
    cr_assert_eq(lost, 2);
    cr_assert_eq(b.lost, 2);
    cr_assert_str_eq(b.now, "a");
    cr_assert_eq(dn_lease_held(b.lease), 0);
    cr_assert_eq(dn_lease_stage(b.lease, NULL, mine, DN_LEASE_KEEP), DN_ENOTFOUND);
    /* both live again: a gives two back, b takes them */
    settle(ms, 2);
    cr_assert_eq(dn_lease_held(a.lease), 2);
    cr_assert_eq(dn_lease_held(b.lease), 2);
    check_owners(ms, 2, 4);
    member_stop(&a);
    member_stop(&b);
}

/* A stalled member whose slot went to a newcomer: it must stop, and its
 * keys, claimed by the others, are dropped at its next balance. */
Test(lease, a_stalled_member_finds_its_slot_taken_and_must_stop)
{
    open_store();
    member_t a, b, d;
    member_t *ms[] = {&a, &b}, *alive[] = {&a};
    start_group(ms, "ab", 4);
    time_passes(LEASE_S + 1, alive, 1);
    member_join(&d, shared, "d");
    cr_assert_eq(dn_lease_slot(d.lease), 1, "the newcomer did not take the stalled slot");
    member_t *now[] = {&a, &d};
    settle(now, 2);
    check_owners(now, 2, 4);
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_renew(b.lease, 0, &err), DN_ESTATE);
    cr_assert(strstr(err.msg, "stalled past its lease"), "%s", err.msg);
    /* were it to balance once more before stopping, it gives up what it lost */
    dn_lease_balance(b.lease, NULL, &err);
    cr_assert_eq(b.lost, 2);
    cr_assert_eq(dn_lease_held(b.lease), 0);
    dn_lease_destroy(&b.lease);
    check_owners(now, 2, 4);
    member_stop(&a);
    member_stop(&d);
}

/* ---- damaged records in the tables --------------------------------------------------------- */

static void put_raw(const char *table, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_store_put(store, table, key, klen, val, vlen, &err), 0, "%s", err.msg);
}

static int count_lines(const char *path, const char *words)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, words) != NULL;
    fclose(f);
    return n;
}

Test(lease, damaged_records_count_as_expired_or_free_and_are_logged_once)
{
    open_store();
    char log_path[DN_TEST_TMPDIR_MAX + 16];
    snprintf(log_path, sizeof log_path, "%s/log", dir);
    int fd = open(log_path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    dn_log_set_fd(fd);
    /* slot 0: garbage; slot 1: version 1's text with a far expiry; a key that is
     * no slot; keys: truncated, huge, the old text, one with a bad name */
    put_raw(T_MEMBERS, "member-0", 8, "\x01\x02garbage", 9);
    const char *old = "old-host:1:2 99999999999.000";
    put_raw(T_MEMBERS, "member-1", 8, old, strlen(old));
    unsigned char rec[DN_LEASE_RECORD_MAX];
    size_t len = 0;
    dn_lease_rec_t live = {.owner = "ghost", .expiry = clock_s + 1000};
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_MEMBER, &live, rec, &len), 0);
    put_raw(T_MEMBERS, "member-01", 9, rec, len);
    dn_lease_rec_t k = {.owner = "ghost", .first = 55};
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_KEY, &k, rec, &len), 0);
    put_raw(T_KEYS, "sub/h0", 6, rec, len - 3);
    size_t huge_len = 1u << 20;
    unsigned char *huge = malloc(huge_len);
    cr_assert_not_null(huge);
    memset(huge, 0xab, huge_len);
    put_raw(T_KEYS, "sub/h1", 6, huge, huge_len);
    free(huge);
    put_raw(T_KEYS, "sub/h2", 6, "- 17", 4);
    k.owner[0] = '\0';
    cr_assert_eq(dn_lease_record_encode(DN_LEASE_KEY, &k, rec, &len), 0);
    put_raw(T_KEYS, "sub\x01h9", 6, rec, len);
    put_raw(T_KEYS, "sub/h3", 6, rec, len);
    member_t a, b;
    member_join(&a, shared, "a");
    member_join(&b, shared, "b");
    cr_assert_eq(dn_lease_slot(a.lease), 0, "the garbage slot was not free");
    cr_assert_eq(dn_lease_slot(b.lease), 1, "the old text slot was not free");
    member_t *ms[] = {&a, &b};
    settle(ms, 2);
    settle(ms, 2);
    cr_assert_eq(dn_lease_held(a.lease), 2);
    cr_assert_eq(dn_lease_held(b.lease), 2);
    check_owners(ms, 2, 4);
    dn_lease_rec_t r;
    read_record(T_KEYS, "sub/h0", DN_LEASE_KEY, &r);
    cr_assert_eq(r.first, 0u, "a damaged key's work does not restart from the beginning");
    read_record(T_KEYS, "sub/h3", DN_LEASE_KEY, &r);
    cr_assert_eq(r.first, 55u);
    /* a met in its first view: member-0 (join), member-01, sub\x01h9, sub/h0,
     * sub/h1, sub/h2; b, after a had claimed sub/h0 and sub/h1: member-1
     * (join), member-01, sub\x01h9, sub/h2. Later views found nothing new. */
    cr_assert_eq(dn_lease_stats(a.lease).damaged, 6);
    cr_assert_eq(dn_lease_stats(b.lease).damaged, 4);
    dn_log_set_fd(2);
    close(fd);
    cr_assert_eq(count_lines(log_path, "damaged ("), 10, "not logged once per record");
    cr_assert_eq(count_lines(log_path, "record 'member-01': damaged (not a member slot): "
                             "ignored"), 2);
    cr_assert_eq(count_lines(log_path, "'sub/h1': damaged (key record: too long: 1048576 "
                             "bytes (at most 151)): treated as free"), 1);
    cr_assert_eq(count_lines(log_path, "'sub?h9': damaged (not a key): ignored"), 2);
    cr_assert_eq(count_lines(log_path, "'member-1': damaged (not a member record"), 1);
    member_stop(&a);
    member_stop(&b);
}

/* ---- races ---------------------------------------------------------------------------------- */

/* A storage over another that runs `before` ahead of the next `armed`
 * compare-and-swaps on `table`: another member acting between a member's
 * read and its swap. */
typedef struct spy_t {
    dn_lease_store_t *inner;
    const char *table;
    int armed;
    void (*before)(void *arg);
    void *arg;
} spy_t;

static int spy_get(void *impl, const char *table, const void *key, size_t klen, void **val,
                   size_t *vlen, dn_err_t *err)
{
    spy_t *s = impl;
    return dn_lease_store_get(s->inner, table, key, klen, val, vlen, err);
}

static int spy_cas(void *impl, const char *table, const void *key, size_t klen,
                   const void *expect, size_t expect_len, const void *val, size_t vlen,
                   dn_err_t *err)
{
    spy_t *s = impl;
    if (s->armed > 0 && !strcmp(table, s->table)) {
        s->armed--;
        s->before(s->arg);
    }
    return dn_lease_store_cas(s->inner, table, key, klen, expect, expect_len, val, vlen, err);
}

static int spy_scan(void *impl, const char *table, const void *prefix, size_t plen,
                    dn_lease_visit_fn fn, void *arg, dn_err_t *err)
{
    spy_t *s = impl;
    return dn_lease_store_scan(s->inner, table, prefix, plen, fn, arg, err);
}

static int spy_apply(void *impl, const dn_lease_batch_t *batch, dn_err_t *err)
{
    spy_t *s = impl;
    return dn_lease_store_apply(s->inner, batch, err);
}

static int spy_sync(void *impl, dn_err_t *err)
{
    spy_t *s = impl;
    return dn_lease_store_sync(s->inner, err);
}

static const dn_lease_store_ops_t spy_ops = {
    .get = spy_get, .cas = spy_cas, .scan = spy_scan, .apply = spy_apply, .sync = spy_sync,
};

/* A storage over inner, its spy watching table (armed by the caller). */
static dn_lease_store_t *spy_on(spy_t *spy, dn_lease_store_t *inner, const char *table,
                                void (*before)(void *), void *arg)
{
    *spy = (spy_t){.inner = inner, .table = table, .before = before, .arg = arg};
    return dn_lease_store_new(&spy_ops, spy);
}

static void other_balances(void *arg)
{
    balance(arg);
}

static void other_joins(void *arg)
{
    member_t *m = arg;
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_join(m->lease, &err), 0, "%s", err.msg);
}

Test(lease, two_members_racing_for_the_same_keys_never_both_get_one)
{
    open_store();
    member_t a, b;
    spy_t spy;
    dn_lease_store_t *spied = spy_on(&spy, shared, T_KEYS, other_balances, &b);
    cr_assert_not_null(spied);
    member_join(&a, spied, "a");
    member_join(&b, shared, "b");
    register_keys(&b, 4);
    /* a reads four free keys and wants two; b claims its two (the first two
     * in key order, the ones a goes for first) between a's read and swap */
    spy.armed = 1;
    dn_lease_share_t s = balance(&a);
    cr_assert_eq(spy.armed, 0);
    cr_assert_eq(b.took, 2);
    cr_assert_eq(a.took, 2, "a did not go on past the keys it lost the race for");
    cr_assert_eq(s.held, 2);
    member_t *ms[] = {&a, &b};
    check_owners(ms, 2, 4);
    cr_assert(!dn_lease_holds(a.lease, "sub/h0") && !dn_lease_holds(a.lease, "sub/h1"));
    member_stop(&a);
    member_stop(&b);
    dn_lease_store_destroy(&spied);
}

Test(lease, two_members_racing_for_one_slot_end_in_two_slots)
{
    open_store();
    member_t a, b;
    spy_t spy;
    dn_lease_store_t *spied = spy_on(&spy, shared, T_MEMBERS, other_joins, &b);
    cr_assert_not_null(spied);
    member_new(&a, spied, "a", 0, &clock_s);
    member_new(&b, shared, "b", 0, &clock_s);
    spy.armed = 1;
    dn_err_t err = {0};
    cr_assert_eq(dn_lease_join(a.lease, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_lease_slot(b.lease), 0);
    cr_assert_eq(dn_lease_slot(a.lease), 1, "a took the slot b won");
    member_stop(&a);
    member_stop(&b);
    dn_lease_store_destroy(&spied);
}

/* Adds one to the count of held key k and checkpoints it, in the transaction
 * that checks key is still this member's. 1 when counted, 0 when the key
 * turned out lost (then dropped). */
static int increment(member_t *m, const char *key, int k)
{
    dn_err_t err = {0};
    unsigned char b8[8];
    dn_put_u64(b8, m->count[k] + 1);
    dn_lease_batch_t *b = dn_lease_batch_new();
    int rc = b ? dn_lease_batch_put(b, T_COUNT, key, strlen(key), b8, 8) : DN_ENOMEM;
    if (!rc)
        rc = dn_lease_stage(m->lease, b, key, DN_LEASE_KEEP);
    if (!rc)
        rc = dn_lease_store_apply(m->ls, b, &err);
    dn_lease_batch_destroy(&b);
    if (rc == DN_ESTATE && !dn_lease_verify(m->lease, NULL, &err))
        return 0;
    if (rc) {
        fprintf(stderr, "%s: increment %s: %s\n", m->owner, key, err.msg);
        _exit(3);
    }
    m->count[k]++;
    return 1;
}

static void latency(void *arg)
{
    (void)arg;
    struct timespec t = {0, 200000};
    nanosleep(&t, NULL);
}

#define RACE_KEYS 12
#define RACE_MEMBERS 3
#define RACE_ROUNDS 400

/* One process: members one after another (each lives 10..40 rounds, then
 * gives its keys back), balancing and counting on each held key every round. */
static void race_child(int id)
{
    dn_err_t err = {0};
#ifdef DN_LEASE_OVER_REGISTRY
    dn_test_registry_t mine = reg; /* its own client and context, after the fork */
    dn_test_registry_connect(&mine, "race", 0);
    dn_store_t *st = NULL;
    dn_lease_store_t *lmdb = dn_registry_lease_store(mine.client);
#else
    dn_store_t *st = dn_store_open(dir, DN_STORE_NOSYNC, 0, &err);
    dn_lease_store_t *lmdb = st ? dn_lease_store_lmdb(st) : NULL;
#endif
    /* the latency of a storage across a network, between a view and a claim */
    spy_t spy;
    dn_lease_store_t *ls = lmdb ? spy_on(&spy, lmdb, T_KEYS, latency, NULL) : NULL;
    spy.armed = INT_MAX;
    if (!ls)
        _exit(2);
    dn_rng_t rng;
    dn_rng_seed(&rng, 100 + (uint64_t)id);
    uint64_t counted[RACE_KEYS] = {0}, taken = 0, missed = 0;
    int rc = 0;
    for (int round = 0, gen = 0; round < RACE_ROUNDS; gen++) {
        member_t m;
        char owner[32];
        snprintf(owner, sizeof owner, "p%d-g%d", id, gen);
        if ((rc = member_init(&m, ls, owner, 0, NULL, &err)) ||
            (rc = dn_lease_join(m.lease, &err)))
            break;
        m.counting = 1;
        int life = 2 + (int)dn_rng_below(&rng, 7);
        for (int r = 0; r < life && round < RACE_ROUNDS && !rc; r++, round++) {
            if ((rc = register_n(&m, RACE_KEYS, &err)) ||
                (rc = dn_lease_balance(m.lease, NULL, &err)))
                break;
            for (int i = dn_lease_held(m.lease) - 1; i >= 0; i--) {
                const char *key = dn_lease_held_key(m.lease, i);
                int k = key_index(key);
                counted[k] += (uint64_t)increment(&m, key, k);
            }
        }
        taken += dn_lease_stats(m.lease).taken;
        missed += dn_lease_stats(m.lease).missed;
        if (rc || (rc = member_leave(&m, &err)))
            break;
    }
    if (rc) {
        fprintf(stderr, "race member process %d: %s\n", id, err.msg);
        _exit(3);
    }
    char path[DN_TEST_TMPDIR_MAX + 32];
    snprintf(path, sizeof path, "%s/counted-%d", dir, id);
    FILE *f = fopen(path, "w");
    if (!f)
        _exit(4);
    for (int k = 0; k < RACE_KEYS; k++)
        fprintf(f, "%llu\n", (unsigned long long)counted[k]);
    fprintf(f, "%llu %llu\n", (unsigned long long)taken, (unsigned long long)missed);
    fclose(f);
    dn_lease_store_destroy(&ls);
    dn_lease_store_destroy(&lmdb);
    dn_store_destroy(&st);
#ifdef DN_LEASE_OVER_REGISTRY
    dn_test_registry_disconnect(&mine);
#endif
    _exit(0);
}

/* Processes claim, give back and work on twelve keys at once. If two members
 * ever held one key together, both would add one to the same count and one
 * addition would be lost: every key's count equals the additions made. */
Test(lease, members_in_several_processes_never_work_on_one_key_together)
{
    pid_t pids[RACE_MEMBERS];
    for (int i = 0; i < RACE_MEMBERS; i++) {
        pids[i] = fork();
        cr_assert(pids[i] >= 0);
        if (pids[i] == 0)
            race_child(i);
    }
    for (int i = 0; i < RACE_MEMBERS; i++) {
        int st = 0;
        cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "member process %d failed (%d)", i,
                  st);
    }
    uint64_t want[RACE_KEYS] = {0}, taken = 0, missed = 0;
    for (int i = 0; i < RACE_MEMBERS; i++) {
        char path[DN_TEST_TMPDIR_MAX + 32];
        snprintf(path, sizeof path, "%s/counted-%d", dir, i);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f);
        unsigned long long v;
        for (int k = 0; k < RACE_KEYS; k++) {
            cr_assert_eq(fscanf(f, "%llu", &v), 1);
            want[k] += v;
        }
        unsigned long long w;
        cr_assert_eq(fscanf(f, "%llu %llu", &v, &w), 2);
        taken += v;
        missed += w;
        fclose(f);
    }
    open_store();
    for (int k = 0; k < RACE_KEYS; k++) {
        char key[32];
        snprintf(key, sizeof key, "sub/h%d", k);
        void *val = NULL;
        size_t len = 0;
        dn_err_t err = {0};
        cr_assert_eq(dn_store_get(store, T_COUNT, key, strlen(key), &val, &len, &err), 0,
                     "%s was never worked on", key);
        uint64_t got = dn_get_u64(val);
        free(val);
        cr_assert_eq(got, want[k], "%s: count %llu, %llu additions made: two members held it "
                     "at once", key, (unsigned long long)got, (unsigned long long)want[k]);
    }
    cr_log_info("%llu claims of %d keys by %d processes, %llu lost to another's claim",
                (unsigned long long)taken, RACE_KEYS, RACE_MEMBERS, (unsigned long long)missed);
    cr_assert(taken > 4 * RACE_KEYS, "only %llu claims: the keys hardly moved",
              (unsigned long long)taken);
    cr_assert(missed > 0, "no claim ever raced another: nothing was shown");
}
