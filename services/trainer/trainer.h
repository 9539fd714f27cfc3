/* trainer.h: the trainer's state and the functions its files share (not a
 * library interface). The service is split by subsystem:
 *   trainer.c     the service: configuration, the events it follows, the
 *                 round, tick and shutdown (what the trainer does, in order);
 *   keystate.c    the owned keys: their table, and each key's saved state in
 *                 table trainer.keystate (loaded into a tracker of the trainer's);
 *   keycodec.c    a key's saved state encoded and decoded, its held runs;
 *   training.c    runs and labels applied to the owned keys, training, and
 *                 each version stored and published;
 *   checkpoint.c  the transaction that writes the keys' state with the
 *                 frontier (and the claim checks), and the restore at start;
 *   ownership.c   which keys are this trainer's: a static shard, or the
 *                 elastic lease protocol (lib/pipe/lease.h) and what the
 *                 trainer does when it takes, loses or gives back a key.
 *
 * Invariants: keys[0 .. n_keys) are the owned keys, index[k] their dense
 * index (swap-remove); a key's `next` is the first events offset not applied
 * to it, so an event is applied to each key exactly once, whoever owns it;
 * every event below `frontier` was seen (its keys registered). In elastic
 * mode the owned keys are exactly the keys the lease holds.
 *
 * Thread rules: everything runs on the node's thread (the training team's
 * threads only run inside a training step). Errors: LMDB-style int returns,
 * *err set. */
#ifndef DN_TRAINER_H
#define DN_TRAINER_H

#include <stdint.h>

#include "dinamo_ml.h"
#include "error.h"
#include "keytab.h"
#include "lease.h"
#include "lease_store.h"
#include "registry.h"
#include "msg.h"
#include "node.h"
#include "store.h"
#include "stream.h"
#include "team.h"

#define T_MEMBERS "trainer.members"
#define T_KEYS "trainer.keys"
#define T_KEYSTATE "trainer.keystate"
#define T_PROGRESS "trainer.progress"

enum { LBL_NONE = -1, LBL_GOOD = 0, LBL_BAD = 1 };

/* One run of a key, waiting for its label. */
typedef struct item_t {
    uint64_t seq;
    int64_t run_number;
    int8_t label;
    double *x, *var;          /* [n_bins]; var NULL: Poisson */
} item_t;

typedef struct tkey_t {
    const char *key;          /* the index's copy */
    int n_bins;               /* 0 until the key's first run was applied */
    int n_bins_y;             /* 2-D: bins of y, fixed with n_bins by that run; 0: 1-D */
    dn_ml_t *ml;              /* NULL until then */
    uint64_t version;         /* latest version stored and published */
    uint64_t next;            /* first events offset not applied to this key */
    uint64_t next_run_seq;    /* run_seq expected next for this key */
    item_t *items;            /* in run order */
    int n_items, cap_items;
    int dirty;                /* changed since its last checkpoint */
    int release;              /* elastic: to be given back by the next save */
} tkey_t;

typedef struct trainer_t {
    /* configuration */
    const dn_policy_t *policy;   /* the node's: min_entries per key */
    int shard, shards;           /* static: this trainer trains shard `shard` of `shards` */
    int keep_last, threads;
    uint64_t seed;
    void *weights;               /* initial weights (weights_file's bytes), or NULL */
    size_t weights_len;
    double checkpoint_s, lease_s;
    char name[64];               /* "trainer/shard-<i>of<n>" or "trainer/member-<i>" */
    const char *progress_name;   /* name without "trainer/" */
    /* what it works with */
    dn_team_t *team;             /* shared by every key's model; NULL: one thread */
    dn_registry_t *registry;     /* the owner of the shared state (registry.h) */
    dn_lease_store_t *shared;    /* its ownership and state tables */
    dn_lease_t *lease;           /* shard = auto; NULL: static */
    dn_follower_t *follower;     /* events (the node's) */
    /* owned keys */
    dn_keytab_t *index;
    tkey_t *keys;
    int cap_keys;
    /* progress */
    int rebalance;               /* elastic: a key became known: balance this round */
    uint64_t frontier;           /* every event below it was seen */
    int dirty;                   /* something to checkpoint */
    double last_ckpt;            /* monotonic time of the last checkpoint */
    dn_lease_share_t said;       /* the share last logged */
    uint64_t runs, labels, versions, bad_bins, learn_failed, labels_unknown, runs_unexpected;
    double learn_s, put_s;       /* seconds in dn_ml_learn, in putting versions (encode + ack) */
    int renew_rc;                /* a renewal inside dn_ml_learn failed: its code ... */
    dn_err_t renew_err;          /* ... and error, for the training to stop with */
} trainer_t;

/* ---- keystate.c ---------------------------------------------------------------- */

int trainer_n_keys(const trainer_t *tr);
/* The owned key named k, or NULL. */
tkey_t *trainer_key(trainer_t *tr, const char *k);
/* A new owned key k (not owned yet) with nothing applied from offset next on
 * (dirty), or NULL when out of memory. The keys array may move. */
tkey_t *trainer_key_add(trainer_t *tr, const char *k, uint64_t next);
/* Forgets owned key i (its state stays wherever it was checkpointed): the
 * last key moves into index i. */
void trainer_key_drop(trainer_t *tr, int i);
void trainer_keys_free(trainer_t *tr);
/* Adds ks's state (trainer.keystate) to batch. Returns 0, DN_ENOMEM, DN_EINVAL. */
int trainer_keystate_stage(const tkey_t *ks, dn_lease_batch_t *batch);
/* Loads ks's saved state if there is one (none: ks keeps what it has).
 * Returns 0, DN_EFORMAT (damaged state, named), DN_EIO, DN_ENOMEM. */
int trainer_keystate_load(trainer_t *tr, tkey_t *ks, dn_err_t *err);

/* ---- keycodec.c (pure: no trainer, no store) ------------------------------------- */

/* Holds run `it` (taking its buffers) for ks. Returns 0 or DN_ENOMEM. */
int trainer_item_push(tkey_t *ks, const item_t *it);
void trainer_item_free(item_t *it);
/* Appends ks's saved state (format in keycodec.c) to w (w->oom on failure). */
void trainer_keystate_encode(const tkey_t *ks, dn_wbuf_t *w);
/* Fills ks (a fresh key: no tracker, no held runs; ks->key names it in
 * messages) from a saved state of len bytes. Returns 0, DN_EFORMAT (damaged:
 * bad magic or version, truncated, bytes after the end, a field out of its
 * domain, bins against the tracker's), dn_ml_load's codes (prefixed with the
 * key), DN_ENOMEM. On error ks may hold part of the state: the caller drops
 * the key (trainer_key_drop frees it). Allocates nothing the state's bytes do
 * not account for. */
int trainer_keystate_decode(const void *blob, size_t len, tkey_t *ks, dn_err_t *err);

/* ---- training.c ---------------------------------------------------------------- */

/* The run at events offset off: held for each owned key that has not seen it
 * (elastic: its keys registered first). Returns 0 or an error. */
int trainer_on_run(trainer_t *tr, const Dinamo__Run *run, uint64_t off, dn_err_t *err);
/* The label at events offset off, for each owned key that has not seen it. */
void trainer_on_label(trainer_t *tr, const Dinamo__Label *l, uint64_t off);
/* Learns, key by key, the leading held runs whose labels arrived. Returns 0
 * or an error (a lost member slot included). */
int trainer_train_ready(trainer_t *tr, dn_err_t *err);

/* ---- checkpoint.c -------------------------------------------------------------- */

/* Writes in one transaction the dirty keys (releasing: the keys marked
 * release, handed to nobody) with their claim checks, and the frontier; then
 * forgets the released keys. Elastic: keys found lost are dropped unwritten
 * and the rest written. Returns 0 or an error. */
int trainer_save(trainer_t *tr, int releasing, dn_err_t *err);
/* The periodic checkpoint: trainer_save of the dirty keys, then the clock. */
int trainer_checkpoint(trainer_t *tr, dn_err_t *err);
/* Where to follow the events from, and (static) the shard's keys. */
int trainer_restore(trainer_t *tr, dn_err_t *err);

/* ---- ownership.c --------------------------------------------------------------- */

/* 1 when k is this (static) trainer's shard's key. */
int trainer_owns_static(const trainer_t *tr, const char *k);
/* Elastic: joins the group (the member slot names this trainer). */
int trainer_join(trainer_t *tr, dn_err_t *err);
/* Elastic: registers key k first seen at offset off. */
int trainer_register(trainer_t *tr, const char *k, uint64_t off, dn_err_t *err);
/* Elastic: makes dn_ml_learn on ml renew the member lease between its steps
 * (a no-op for a static trainer). Called wherever a key's tracker is made. */
void trainer_watch_training(trainer_t *tr, dn_ml_t *ml);

/* Elastic: renews the member lease when due (DN_ESTATE: slot lost, stop). */
int trainer_renew(trainer_t *tr, dn_err_t *err);
/* Elastic: one balance step, logging the share when it changed. */
int trainer_balance(trainer_t *tr, dn_err_t *err);
/* Elastic, at stop: every key given back, the slot released, the events log
 * told this consumer left. */
int trainer_leave(trainer_t *tr, dn_err_t *err);

#endif
