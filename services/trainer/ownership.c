/* ownership.c: which keys are this trainer's.
 *
 * shard = i/n (static): the keys k with dn_shard_of(k, n) == i, fixed.
 *
 * shard = auto (elastic; docker compose --scale): the lease protocol of
 * lib/pipe/lease.h over tables trainer.members and trainer.keys of the shared
 * weights store: every live trainer owns a fair share of the keys seen so far
 * and the keys of a trainer that stops or dies move to the others. This file
 * is what the trainer does when the protocol moves a key:
 *   - took: the key's saved state is loaded and the events follower moved
 *     back to the key's next (the events log keeps everything; events below a
 *     key's next are skipped for it, so each is applied once);
 *   - lost: the key was claimed by another while this trainer stalled: its
 *     state here is dropped unwritten (the new owner's is the truth);
 *   - give back: the surplus keys are saved and released in one transaction;
 *   - left: the events consumer of a dead member (trainer.m<slot>) is said to
 *     have left, so the stream does not wait for it until the source's
 *     follower timeout.
 * A trainer that finds its member slot taken over stops (the lease says
 * DN_ESTATE). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "trainer.h"

#define MAX_MEMBERS 4096

int trainer_owns_static(const trainer_t *tr, const char *k)
{
    return !tr->lease && dn_shard_of(k, tr->shards) == tr->shard;
}

/* ---- what the trainer does when a key moves ------------------------------------------ */

static int on_took(void *arg, const char *key, uint64_t first, const char *from, dn_err_t *err)
{
    trainer_t *tr = arg;
    tkey_t *ks = trainer_key_add(tr, key, first);
    if (!ks)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int rc = trainer_keystate_load(tr, ks, err);
    if (rc)
        return rc;
    ks->dirty = 0;
    dn_follower_rewind(tr->follower, ks->next);
    dn_log(DN_LOG_INFO, "took key %s (from %s; events from %llu, v%llu)", ks->key,
           from ? from : "nobody", (unsigned long long)ks->next,
           (unsigned long long)ks->version);
    return 0;
}

static void on_lost(void *arg, const char *key, const char *now)
{
    trainer_t *tr = arg;
    dn_log(DN_LOG_WARN, "key %s: claimed by another trainer (%s) while this one stalled: "
           "dropped", key, now);
    int i = dn_keytab_find(tr->index, key);
    if (i >= 0)
        trainer_key_drop(tr, i);
}

static int on_give_back(void *arg, const char *const *keys, int n, dn_err_t *err)
{
    trainer_t *tr = arg;
    for (int i = 0; i < n; i++) {
        tkey_t *ks = trainer_key(tr, keys[i]);
        if (ks)
            ks->release = 1;
    }
    return trainer_save(tr, 1, err);
}

static int on_left(void *arg, int slot, dn_err_t *err)
{
    trainer_t *tr = arg;
    char consumer[64];
    snprintf(consumer, sizeof consumer, "trainer.m%d", slot);
    int rc = dn_follower_leave(tr->follower, consumer, err);
    if (!rc)
        dn_log(DN_LOG_INFO, "member %d's lease ran out: told the events log its consumer %s "
               "left", slot, consumer);
    return rc;
}

/* ---- the elastic trainer's life ---------------------------------------------------------- */

/* This process's name in the lease records: host:pid:start ms (printable,
 * no space, so a host name with odd bytes is mended). */
static void owner_name(char *buf, size_t cap)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            *p = '_';
    snprintf(buf, cap, "%s:%ld:%.0f", host[0] ? host : "host", (long)getpid(),
             dn_clock_wall() * 1e3);
}

int trainer_join(trainer_t *tr, dn_err_t *err)
{
    char owner[DN_LEASE_OWNER_MAX + 1];
    owner_name(owner, sizeof owner);
    dn_lease_opts_t o = {.members = T_MEMBERS, .keys = T_KEYS, .owner = owner,
                         .lease_s = tr->lease_s, .max_members = MAX_MEMBERS};
    dn_lease_hooks_t h = {.arg = tr, .took = on_took, .lost = on_lost,
                          .give_back = on_give_back, .left = on_left};
    if (!(tr->lease = dn_lease_new(tr->shared, &o, &h, err)))
        return err->code;
    int rc = dn_lease_join(tr->lease, err);
    if (rc)
        return rc;
    dn_log(DN_LOG_INFO, "joined as member %d (lease %.0f s, owner %s)",
           dn_lease_slot(tr->lease), tr->lease_s, owner);
    return 0;
}

int trainer_register(trainer_t *tr, const char *k, uint64_t off, dn_err_t *err)
{
    int rc = dn_lease_register(tr->lease, k, off, err);
    if (rc == DN_LEASE_REGISTERED)
        dn_log(DN_LOG_INFO, "key %s registered (first run at events offset %llu)", k,
               (unsigned long long)off);
    if (rc > DN_LEASE_KNOWN)
        tr->rebalance = 1; /* in lockstep nobody trains an unowned key: do not wait */
    return rc < 0 ? rc : 0;
}

int trainer_renew(trainer_t *tr, dn_err_t *err)
{
    return tr->lease ? dn_lease_renew(tr->lease, 0, err) : 0;
}

int trainer_balance(trainer_t *tr, dn_err_t *err)
{
    if (!tr->lease)
        return 0;
    dn_lease_share_t s;
    int rc = dn_lease_balance(tr->lease, &s, err);
    if (rc)
        return rc;
    if (s.held != tr->said.held || s.keys != tr->said.keys || s.members != tr->said.members) {
        dn_log(DN_LOG_INFO, "owns %d of %d keys, %d live trainer(s)", s.held, s.keys,
               s.members);
        tr->said = s;
    }
    return 0;
}

int trainer_leave(trainer_t *tr, dn_err_t *err)
{
    for (int k = 0; k < trainer_n_keys(tr); k++)
        tr->keys[k].release = 1;
    int rc = trainer_save(tr, 1, err);
    if (rc)
        return rc;
    dn_err_t e = {0};
    if (dn_lease_release(tr->lease, &e))
        dn_log(DN_LOG_WARN, "member slot not released (it runs out in %.0f s): %s",
               tr->lease_s, e.msg);
    /* our slot may stay unused: the events log need not wait for its consumer */
    if (dn_follower_leave(tr->follower, NULL, &e))
        dn_log(DN_LOG_WARN, "events log not told this consumer left: %s", e.msg);
    return 0;
}
