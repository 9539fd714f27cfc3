/* weights.h: scorer_ml's weight versions: which version of a key's model its
 * frozen tracker must score with, where that version comes from, and the
 * versions kept at hand until then.
 *
 * Version n of a key is the model trained on its first n good runs (0: the
 * initial weights). Lockstep: run i is scored with the version equal to the
 * number of good runs the scorer has learned for the key (the trainer's
 * last_run_seq of that version must be the scorer's last good run: a
 * difference means trainer and scorer saw different labels, and is logged and
 * counted). Live: the newest version the registry has.
 *
 * Versions are only ever loaded as the registry returns them (it stores every
 * version the trainers put), read at most every ML_STORE_RETRY_S per key,
 * each read waiting at most 2 s. The ModelWeights the registry republishes on
 * the weights socket (ml_weights_received) are news that a version exists:
 * they make the next read of that version happen at once (live: the highest
 * announced beyond the loaded one; lockstep: only the wanted one), and their
 * blob is never used, since anyone reaching the socket can publish there; a
 * version announced there that the registry does not have is counted and
 * logged, the registry's newest is read instead, and for ML_FORGED_BACKOFF_S
 * news no longer hurries the reads (a flood of forged announcements costs a
 * read or two a second per key, each a small "not found"). Reading goes
 * through one function (weights_read in weights.c: "version v, or the
 * latest, of key k"). Per key a cache keeps the versions that may
 * still be wanted (lockstep: the wanted one and up to ML_CACHE_AHEAD beyond;
 * live: the newest), in increasing order.
 *
 * Thread rules: one thread. Ownership: ml_weights_t owns its registry client (not its socket); a cache
 * owns its envelopes; trackers are borrowed. */
#ifndef ML_WEIGHTS_H
#define ML_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "dinamo_ml.h"
#include "error.h"
#include "bus.h"
#include "msg.h"

#define ML_CACHE_AHEAD 4       /* versions kept beyond the one wanted (lockstep) */
#define ML_STORE_RETRY_S 0.05  /* between reads of the registry for a missing version */
#define ML_FORGED_BACKOFF_S 1.0 /* after an announced version the registry did not have */

typedef struct ml_weights_t ml_weights_t;

/* One version at hand. */
typedef struct ml_wver_t {
    uint64_t version;
    int has_last;
    uint64_t last_seq;        /* run_seq of the last good run it was trained on */
    Dinamo__Envelope *env;    /* owned; env->weights->blob is the raw model */
} ml_wver_t;

/* One key's versions. */
typedef struct ml_wcache_t {
    int64_t loaded;           /* version whose parameters are in the tracker, -1: none */
    ml_wver_t *v;             /* at hand, increasing */
    int n;
    double store_tried;       /* when the store was last asked (monotonic s) */
    int news;                 /* live: a newer version was announced, ask the registry */
    uint64_t heard;           /* live: the highest version announced since the last read */
    int ask_latest;           /* live: an announced version was not there; read the newest */
    double backoff_until;     /* news is read at once again from then (monotonic s) */
} ml_wcache_t;

/* Where a key stands: its tracker and what it has learned. */
typedef struct ml_wkey_t {
    const char *key;
    dn_ml_t *ml;
    ml_wcache_t *cache;
    uint64_t n_good;          /* good runs learned: the version lockstep wants */
    int64_t last_good;        /* run_seq of the last, -1 */
} ml_wkey_t;

/* Versions read through the registry on socket registry (a connected
 * DEALER, borrowed: it must outlive self). trust_socket: the weights socket
 * admits only the registry's key (security on), so a wanted version is taken
 * from its publication instead of being read again. Returns NULL with *err
 * set (DN_EINVAL, DN_ENOMEM). */
ml_weights_t *ml_weights_new(dn_sock_t *registry, int live, int trust_socket, dn_err_t *err);
/* Frees *self_p; accepts NULL; nulls it. */
void ml_weights_destroy(ml_weights_t **self_p);

void ml_wcache_init(ml_wcache_t *c);
void ml_wcache_free(ml_wcache_t *c);

/* A valid ModelWeights envelope from the weights socket for key k (NULL: a
 * key no run has named yet; the registry has it when a run needs it): when it
 * fits the tracker, news that the registry has its version (see the top of
 * this file), or with trust_socket the version itself when it is wanted
 * (copied: env stays the caller's); else counted as rejected. */
void ml_weights_received(ml_weights_t *self, const ml_wkey_t *k, const Dinamo__Envelope *env);

/* Loads into k's tracker the version it needs to score run `seq` now.
 * Returns 1 when loaded, 0 when it has to wait for it (ask again after
 * ML_STORE_RETRY_S). */
int ml_weights_ready(ml_weights_t *self, const ml_wkey_t *k, uint64_t seq);

/* The counters for the stop line, into buf[cap]. */
void ml_weights_describe(const ml_weights_t *self, char *buf, size_t cap);

#endif
