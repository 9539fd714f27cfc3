/* node.h: how a dinamo service process is wired, so that a service's own file
 * says what the service does and nothing of how a service is put together.
 *
 * A service describes itself in a dn_node_def_t (its name, configuration
 * keys, callbacks) and hands it to dn_node_main, which:
 *   - loads the configuration (file, environment, command line; `--help`
 *     prints the usage and every key), starts the log, loads the policy,
 *     installs the signal handlers, sets up OpenBLAS when asked;
 *   - with security on (the default; auth.h): loads keys_dir with the
 *     service's identity (default its name) and starts the ZAP handler, so
 *     that every socket it makes speaks CURVE and admits only listed keys;
 *     a Label arriving on a source's requests socket is applied only from a
 *     key with the labels role, with that key's name as "who" (a key that
 *     also has the delegate role keeps the label's own non-empty "who", once
 *     checked, else the label is refused: auth.h's dn_auth_label_who);
 *     `security = off` is logged as a warning at every start;
 *   - opens the service's LMDB store <data_dir>/<name> when asked;
 *   - calls def->create, in which the service reads its keys (dn_node_int and
 *     friends check ranges and name the key in their errors) and makes its
 *     inputs and outputs through the node: durable logs it follows
 *     (dn_node_follow), logs it produces (dn_node_source), plain sockets
 *     (dn_node_socket, dn_node_on);
 *   - restores the checkpoint (below), then runs the loop of service.h;
 *   - every round: def->round (the service's work), then one commit, then
 *     publishes every source and acknowledges every follower; while a source
 *     has no room the followed logs are paused (back-pressure upstream);
 *   - every tick: syncs the store, then def->tick, then replaces the
 *     heartbeat file (health_file, default <data_dir>/<name>/health;
 *     lib/io/health.h) with the time, pid and counters: written "starting"
 *     once the configuration is read, "running" when the loop starts and at
 *     every tick, "stopped" or "failed" (with the error) at exit, so
 *     `dinamo health` (Docker's healthcheck) can tell a turning loop from a
 *     stuck or dead one;
 *   - on SIGTERM/SIGINT, after the message in hand: def->finish, a last
 *     commit, a sync, def->stop (the service's stop line), def->destroy, and
 *     everything the node made is closed. The exit status is 0 after an
 *     orderly stop, 1 after an error (logged as "NAME: what went wrong").
 *
 * Checkpoints. When def->save is set the node commits, in one LMDB
 * transaction per round in which something changed (an entry delivered or
 * appended, or dn_node_touch): the entries its sources appended, the
 * checkpoint "NAME" (framed: def->ckpt_magic, def->ckpt_version, the next
 * offset of every follower in the order they were made, then what def->save
 * writes) and whatever def->stage adds (rows of the service's own tables).
 * At start, a checkpoint found is checked (magic, version, follower count:
 * a named DN_EFORMAT otherwise), the followers are set to their offsets and
 * def->load reads the rest; no checkpoint while a source's log holds entries
 * is refused (the log is not this service's). So a service killed anywhere
 * (kill -9 included) restarts exactly where its last commit left off.
 * Without def->save the service commits its own state (the trainer).
 *
 * No space. When the round's commit is refused with DN_ENOSPACE (store.h: the
 * disk or a file size limit full, the map unable to grow) nothing of it was
 * written and the service waits instead of failing: one WARN line with the
 * store's reason ("store DIR: disk full (No space left on device) while
 * committing; waiting for space: ..."), the heartbeat's detail "waiting for
 * space: ..." (when it can be written: by default it lives on the same disk),
 * no rounds, its followed logs and the sockets that change its state paused
 * (its followers' positions stand still, so the sources upstream hold back);
 * committed entries are still published. The commit is retried every tick
 * (built again from what is not committed yet: the same content, since
 * nothing changes meanwhile); once it goes through an INFO line says how long
 * it waited and work resumes. The in-memory state is at most that one commit
 * ahead of the store, and only committed entries are ever published (the
 * followers' ACKs upstream may count that commit's entries: a source's log is
 * never pruned, so after a restart they are simply read again).
 * A SIGTERM while waiting makes one last try, then exits 1 with the reason.
 * A DN_ENOSPACE from the service's own writes (outside the node's commit) is
 * an ordinary error: the service stops with it.
 *
 * Thread rules: one node per process (signals are process-wide); every call
 * from the thread running dn_node_main. Ownership: everything the node hands
 * out (config, store, policy, sockets, sources, followers) is the node's and
 * lives until def->destroy has returned. */
#ifndef DN_NODE_H
#define DN_NODE_H

#include <stdint.h>

#include "bus.h"
#include "bytes.h"
#include "config.h"
#include "error.h"
#include "policy.h"
#include "service.h"
#include "store.h"
#include "stream.h"

typedef struct dn_node_t dn_node_t;

#define DN_NODE_STORE 1 /* open the LMDB store <data_dir>/<name> (DN_STORE_NOSYNC) */
#define DN_NODE_BLAS 2  /* OpenBLAS set up as dn_blas_init does (one thread) */

typedef struct dn_node_def_t {
    const char *name;            /* config section, log name, store and checkpoint name */
    const char *usage;           /* lines printed under "usage:" by --help, or NULL */
    const dn_config_key_t *keys; /* the service's own keys (the common ones are added) */
    int n_keys;
    int flags;                   /* DN_NODE_STORE | DN_NODE_BLAS */
    /* The service's state: reads its keys and makes its inputs and outputs
     * through node. Returns 0 with *self set, or an error with *err set. */
    int (*create)(dn_node_t *node, void **self, dn_err_t *err);
    /* Frees self (after everything else has stopped using it); may be NULL. */
    void (*destroy)(void *self);
    /* The work of a round: 0 or an error. *wait_ms comes in as
     * DN_SERVICE_POLL_MAX_MS; lower it to be called again sooner (0: at once,
     * there is more to do). May be NULL. */
    int (*round)(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err);
    /* Every tick_ms, after the store sync (the place for DEBUG progress and
     * periodic work). May be NULL. */
    int (*tick)(dn_node_t *node, void *self, dn_err_t *err);
    /* At shutdown, before the last commit: the service's last work that can
     * fail (a service committing its own state writes it here); an error
     * makes the exit status 1 and skips the stop line. May be NULL. */
    int (*finish)(dn_node_t *node, void *self, dn_err_t *err);
    /* After the last commit at shutdown: the service's stop line. May be NULL. */
    void (*stop)(dn_node_t *node, void *self);
    /* Checkpoint body: save appends it to w (w->oom is checked by the node);
     * load reads it back from r (after a found checkpoint only; r->bad after
     * the call is reported as a truncated checkpoint). NULL save: no
     * checkpoint of the node's. */
    const char *ckpt_magic;      /* 4 bytes, e.g. "DNSS" */
    uint32_t ckpt_version;
    uint32_t ckpt_version_min;   /* oldest version load still reads (its body
                                  * then tells the versions apart); 0: only
                                  * ckpt_version */
    void (*save)(void *self, dn_wbuf_t *w);
    int (*load)(dn_node_t *node, void *self, dn_rbuf_t *r, dn_err_t *err);
    /* Adds the service's own rows to the commit batch, and learns that the
     * batch was applied. Either may be NULL. */
    int (*stage)(void *self, dn_store_batch_t *batch);
    void (*committed)(void *self);
    /* Anything the callbacks need before self exists (create has no other
     * way to reach it): a framework that builds the def for its services
     * passes its own description here. dn_node_arg returns it. May be NULL. */
    const void *arg;
} dn_node_def_t;

/* Opens the framed checkpoint blob of def's service (what restore reads at
 * start): magic and a version from def's ckpt_version_min (when set) to
 * ckpt_version, n_inputs followed logs, their next
 * offsets into next[n_inputs], and *body the service's part (for def->load).
 * Pure: no node. Returns 0, or DN_EFORMAT naming the checkpoint (another
 * magic or version, another number of logs, truncated). */
int dn_node_checkpoint_open(const dn_node_def_t *def, const void *blob, size_t len,
                            int n_inputs, uint64_t *next, dn_rbuf_t *body, dn_err_t *err);

/* Runs the service def describes (see the top of this file) with the
 * process's arguments. Returns the process exit status: 0 after an orderly
 * stop or --help, 1 after an error. */
int dn_node_main(const dn_node_def_t *def, int argc, char **argv);

/* ---- during create ---------------------------------------------------------- */

/* Reads key (declared with that type) into *out, checking lo <= value <= hi;
 * DN_EINVAL with "KEY = VALUE (from SOURCE): want LO .. HI" otherwise. */
int dn_node_int(dn_node_t *self, const char *key, int64_t lo, int64_t hi, int64_t *out,
                dn_err_t *err);
int dn_node_double(dn_node_t *self, const char *key, double lo, double hi, double *out,
                   dn_err_t *err);
/* The string and bool keys (no range to check). */
const char *dn_node_str(dn_node_t *self, const char *key);
int dn_node_bool(dn_node_t *self, const char *key);

/* A key with one of n_words values: its index into *out, or DN_EINVAL naming
 * the key and listing the words. */
int dn_node_choice(dn_node_t *self, const char *key, const char *const *words, int n_words,
                   int *out, dn_err_t *err);

/* The scoring methods named by key (e.g. `methods = s,ml`: "s", "ml", in any
 * order, separated by commas or spaces) into methods[0] (DINAMO-S) and
 * methods[1] (DINAMO-ML), 1 when named. DN_EINVAL naming the key and the
 * unknown word, or when none is named. */
int dn_node_methods(dn_node_t *self, const char *key, int methods[2], dn_err_t *err);

/* A durable log this service follows: a SUB socket on the endpoint of config
 * key sub_key, a PUSH on req_key, and a follower (opts as stream.h's;
 * opts->passive makes a reader that never holds the source back). Each
 * entry delivered (exactly once, in offset order) is handed to fn; a negative
 * return stops the service with *err's message. Returns the follower, or
 * NULL with *err set. */
typedef int (*dn_node_entry_fn)(dn_node_t *node, void *self, const Dinamo__Envelope *env,
                                dn_err_t *err);
dn_follower_t *dn_node_follow(dn_node_t *self, const char *sub_key, const char *req_key,
                              const dn_follower_opts_t *opts, dn_node_entry_fn fn,
                              dn_err_t *err);

/* A durable log this service produces: a PUB socket on pub_key, a PULL for
 * its followers' requests on req_key, and a source over the node's store.
 * Requests that are Label envelopes go to on_label when given (a feed takes
 * people's verdicts there); every other request is the source's. Returns the
 * source, or NULL with *err set. Needs DN_NODE_STORE. */
dn_source_t *dn_node_source(dn_node_t *self, const char *pub_key, const char *req_key,
                            const dn_source_opts_t *opts, dn_node_entry_fn on_label,
                            dn_err_t *err);

/* A plain socket of type (ZMQ_PUB, ZMQ_SUB, ZMQ_PUSH, ZMQ_PULL, ZMQ_ROUTER) on the
 * endpoint of config key `key`. Returns it or NULL with *err set. */
dn_sock_t *dn_node_socket(dn_node_t *self, int type, const char *key,
                          const dn_sock_opts_t *opts, dn_err_t *err);

/* Hands every valid envelope arriving on sock (a PULL or SUB of the node's)
 * to fn. Returns 0, DN_EINVAL, DN_ENOMEM. */
typedef int (*dn_node_msg_fn)(dn_node_t *node, void *self, const Dinamo__Envelope *env,
                              dn_err_t *err);
int dn_node_on(dn_node_t *self, dn_sock_t *sock, dn_node_msg_fn fn, dn_err_t *err);

/* Calls fn whenever sock (a ROUTER or DEALER of the node's, whose messages
 * are requests of a protocol of its own, not envelopes) has something to
 * read; fn reads it (bus.h's frames functions), at most a batch. A negative
 * return stops the service with *err's message. Returns 0 or DN_EINVAL. */
typedef int (*dn_node_ready_fn)(dn_node_t *node, void *self, dn_sock_t *sock, dn_err_t *err);
int dn_node_on_ready(dn_node_t *self, dn_sock_t *sock, dn_node_ready_fn fn, dn_err_t *err);

/* ---- any time ---------------------------------------------------------------- */

const dn_config_t *dn_node_config(const dn_node_t *self);
const dn_policy_t *dn_node_policy(const dn_node_t *self);
dn_store_t *dn_node_store(const dn_node_t *self);      /* NULL without DN_NODE_STORE */
dn_service_t *dn_node_service(const dn_node_t *self);  /* NULL before the loop starts */
const char *dn_node_name(const dn_node_t *self);
const void *dn_node_arg(const dn_node_t *self);        /* def->arg */
/* The data directory's path of `sub` ("" for data_dir itself) into buf. */
int dn_node_path(const dn_node_t *self, const char *sub, char *buf, size_t cap, dn_err_t *err);

/* With security on (auth.h), the roles of the key named peer (a
 * dn_recv_info_t.peer or dn_frames_t.peer): a mask of DN_ROLE_*, 0 for a
 * listed key without roles, -1 for none or an unknown one. With security
 * off every peer has every role (DN_NODE_ALL_ROLES). */
#define DN_NODE_ALL_ROLES 0x7fffffff
int dn_node_peer_roles(const dn_node_t *self, const char *peer);

/* Counts one refused request (as dn_node_count(self, 1)) and logs why at
 * WARN through one rate limit for all of them (log.h, dn_log_limited), so a
 * flood cannot fill the log. */
void dn_node_refused(dn_node_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts one request a readiness handler handled (rejected: it refused it),
 * in the service's stats and stop line. */
void dn_node_count(dn_node_t *self, int rejected);

/* The stream's progress as this service sees it, in runs: those it got
 * through (appended, scored, trained through), and the runs the stream will
 * hold when it knows (else 0). The next heartbeat carries them (health.h's
 * runs and total) for `dinamo progress`; a service that never calls it says 0. */
void dn_node_progress(dn_node_t *self, uint64_t runs, uint64_t total);

/* Marks the state changed: the round ends with a commit (entries delivered or
 * appended mark it themselves). */
void dn_node_touch(dn_node_t *self);

/* Commits now (as at the end of a round). Returns 0 or the store's error. */
int dn_node_commit(dn_node_t *self, dn_err_t *err);

/* Stops the loop after this round (an orderly stop: exit status 0). */
void dn_node_stop(dn_node_t *self);

#endif
