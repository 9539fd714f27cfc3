/* bus.h: ZeroMQ sockets that carry dinamo envelopes between the services.
 *
 * Endpoint strings say what to do: "bind:tcp://127.0.0.1:5555",
 * "connect:ipc:///tmp/dinamo/runs", several separated by commas
 * ("connect:tcp://127.0.0.1:5555,connect:tcp://127.0.0.1:5556"). CZMQ's
 * shorthand "@tcp://..." (bind) and ">tcp://..." (connect) is accepted too.
 * A bare endpoint without either is refused: whether a service binds or
 * connects is part of the deployment, not a guess.
 *
 * Security (auth.h): with a keyring in the options every socket speaks
 * CURVE. A socket that binds is a CURVE server with the keyring's identity
 * and admits, through the process's ZAP handler, only the listed keys of the
 * roles in opts->admit; a socket that connects names the key of the server
 * it expects in each endpoint, "connect:registry@tcp://10.0.0.7:5557"
 * (without security the name is allowed and ignored), so it cannot be
 * answered by anyone without that key's secret. One socket either binds or
 * connects when secured (CURVE makes it a server or a client as a whole).
 * What arrives says who sent it: dn_recv_info_t.peer and dn_frames_t.peer
 * hold the name of the key that authenticated the connection.
 *
 * Wire format: every message is two frames, [topic, payload]: the topic is
 * dn_bus_topic() of the envelope ("label/good/calo/energy", "run/stream-1",
 * "score/S/calo/energy", "weights/calo/energy", "threshold/ML/calo/energy",
 * "control/eos") so SUB sockets
 * filter by prefix (the trainer subscribes to "label/good/"), the payload is
 * the encoded Envelope. A single-frame message (payload only, e.g. from an
 * external feed) is accepted on receive.
 *
 * Back-pressure, and where each pattern is used:
 *   - PUSH/PULL for work that must not be lost (runs to the scorers, scores to
 *     the evaluator): at the send high-water mark PUSH blocks; dn_sock_send()
 *     waits at most its timeout and then returns DN_BUS_TIMEOUT, so the
 *     caller decides (retry after checking for shutdown, usually).
 *   - PUB/SUB for fan-out to optional listeners (labels to the trainers,
 *     weights to the ML scorers, heartbeats): PUB never blocks; at the HWM of
 *     a slow subscriber ZeroMQ drops silently, and so does a SUB that joined
 *     late ("slow joiner"). Every envelope carries (producer, incarnation,
 *     seq) stamped here, so the receiving dn_sock_t detects drops as sequence
 *     gaps (dn_recv_info_t.missing, dn_sock_stats_t.seq.missing) and
 *     duplicates as replays. Lockstep mode therefore uses PUSH, or waits on
 *     what it has seen, never on PUB delivery.
 * Sequence numbers count per (producer, family), the family being the topic
 * class "run", "label/good", "label/bad", "score/S", "score/ML", "weights",
 * "control" or "threshold"; the stamped producer is "NAME|FAMILY". A subscriber that filters
 * at family granularity or coarser ("label/good/", "label/", "") sees each
 * family's numbers contiguous, so every gap is a loss; a finer filter (one
 * histogram key) sees the messages it filtered out as gaps. Likewise a PUSH
 * to several PULL peers load-balances, so each peer sees the others' share as
 * gaps: use one PUSH per receiver where gaps matter.
 * Sockets linger 1 s on close by default, so queued messages get a chance to
 * leave at shutdown without hanging it.
 *
 * Thread rules: a dn_sock_t belongs to one thread (ZeroMQ sockets are not
 * thread-safe); the ZeroMQ context (zmq_ctx_new, one per process, owned by the
 * caller) is shared. inproc:// endpoints need both ends in one context. */
#ifndef DN_BUS_H
#define DN_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "error.h"
#include "msg.h"

/* Positive return of send/recv: nothing happened within the timeout (or a
 * signal interrupted the wait); not an error. */
#define DN_BUS_TIMEOUT 1

#define DN_BUS_TOPIC_MAX (32 + DN_MSG_KEY_MAX + 1)

typedef struct dn_sock_t dn_sock_t;

typedef struct dn_sock_opts_t {
    int sndhwm;            /* messages queued before PUSH blocks / PUB drops; 0: 1000 */
    int rcvhwm;            /* 0: 1000 */
    int linger_ms;         /* on close; 0: 1000; negative: forever (ZeroMQ's -1) */
    /* Producer name stamped (as "NAME|FAMILY") on every sent envelope together
     * with this socket's incarnation (creation time in ns) and the family's
     * seq (0, 1, ...). NULL: the caller fills producer and seq itself (relays,
     * tests). At most DN_MSG_KEY_MAX - 16 bytes. */
    const char *producer;
    /* SUB only: topic prefixes to subscribe to, NULL-terminated; NULL: all. */
    const char *const *subscribe;
    /* Security: the keyring (with an identity; read only while dn_sock_new
     * runs, the keys are copied into the socket) or NULL for plain TCP; a
     * bound socket admits the listed keys of the roles in admit
     * (DN_ROLE_ANY: any listed key). The process's ZAP handler
     * (dn_zap_start) must run before a secured socket binds. */
    const dn_keyring_t *keys;
    int admit;
    dn_zap_t *watch; /* secured and bound: report failed handshakes to it (or NULL) */
    /* Largest message accepted, in bytes (a larger one is dropped by ZeroMQ
     * and the connection closed); 0: DN_MSG_SIZE_MAX plus a topic. */
    int64_t max_bytes;
} dn_sock_opts_t;

/* What dn_sock_recv learned besides the envelope. */
typedef struct dn_recv_info_t {
    char topic[DN_BUS_TOPIC_MAX]; /* "" for single-frame messages */
    dn_seq_status_t seq;          /* NEW, DUPLICATE, GAP or RESTART */
    uint64_t missing;             /* GAP/RESTART: messages lost before this one */
    char peer[DN_AUTH_NAME_MAX];  /* the sender's key name; "" without security */
    dn_reject_t reject;           /* a refused message: why (DN_REJECT_PARSE for ENOMEM) */
    int has_offset;               /* a refused message: its bytes carry a log offset */
    uint64_t offset;              /* (dn_msg_peek_offset), so a follower can skip it */
} dn_recv_info_t;

typedef struct dn_sock_stats_t {
    uint64_t sent;          /* envelopes handed to ZeroMQ (PUB may still drop them) */
    uint64_t send_timeouts; /* sends that returned DN_BUS_TIMEOUT */
    uint64_t received;      /* messages read, valid or not */
    dn_msg_stats_t msg;     /* accepted envelopes and rejects by reason */
    dn_seq_totals_t seq;    /* duplicates, gaps and missing among accepted ones */
} dn_sock_stats_t;

/* Creates a ZeroMQ socket of `type` (ZMQ_PUSH, ZMQ_PULL, ZMQ_PUB, ZMQ_SUB;
 * ZMQ_ROUTER and ZMQ_DEALER for the frames functions below) in
 * context zctx, sets HWMs, linger, a maximum message size of DN_MSG_SIZE_MAX,
 * subscriptions, and binds / connects every endpoint. opts may be NULL
 * (defaults). Returns a new socket the caller frees with dn_sock_destroy(), or
 * NULL with *err set: DN_EINVAL ("endpoint 'tcp://x': say bind: or
 * connect:"; secured: a connect without a server key name, a name without
 * a key, bind and connect on one socket, a keyring without identity), DN_EIO ("bind tcp://127.0.0.1:5555: Address already in use"),
 * DN_ENOMEM. */
dn_sock_t *dn_sock_new(void *zctx, int type, const char *endpoints, const dn_sock_opts_t *opts,
                       dn_err_t *err);

/* Closes the socket (lingering as configured) and frees *self_p; accepts NULL;
 * sets *self_p NULL. */
void dn_sock_destroy(dn_sock_t **self_p);

/* The ZeroMQ socket, for zmq_poll (owned by self; do not close it). */
void *dn_sock_handle(dn_sock_t *self);

/* The ZeroMQ type given at creation. */
int dn_sock_type(const dn_sock_t *self);

/* The actual address of the last bound endpoint (resolves "tcp://127.0.0.1:*"
 * to its port), or "" when nothing was bound. Owned by self. */
const char *dn_sock_endpoint(const dn_sock_t *self);

/* SUB: adds a topic prefix subscription. Returns 0, DN_EINVAL (not SUB), DN_EIO. */
int dn_sock_subscribe(dn_sock_t *self, const char *prefix, dn_err_t *err);

/* Sends env as [topic, payload]. When the socket has a producer name it first
 * stamps env->producer, incarnation, seq and time_sent (env is modified;
 * env->producer then points into self and is valid while self lives).
 * timeout_ms: 0 never waits, < 0 waits as long as needed, > 0 waits at most
 * that long for room under the HWM. The envelope is validated (dn_msg_encode):
 * an invalid one is refused and nothing is sent, and its seq is not used.
 * Returns 0, DN_BUS_TIMEOUT (not sent: HWM reached, or a signal), a validation
 * code, DN_EIO, DN_ENOMEM. */
int dn_sock_send(dn_sock_t *self, Dinamo__Envelope *env, int timeout_ms, dn_err_t *err);

/* Sends raw frames [topic, payload] (topic NULL: payload only), e.g. to relay
 * bytes unchanged or to test a receiver with damaged ones. Returns as above. */
int dn_sock_send_raw(dn_sock_t *self, const char *topic, const void *payload, size_t len,
                     int timeout_ms, dn_err_t *err);

/* Receives one message within timeout_ms (same convention as send). On 0,
 * *env is a new valid envelope the caller frees with dn_msg_free(), and info
 * (may be NULL) holds its topic and sequence status (duplicates are returned
 * too, marked DN_SEQ_DUPLICATE: dropping them is the caller's decision).
 * Returns 0, DN_BUS_TIMEOUT (*env NULL), DN_EFORMAT / DN_ERANGE /
 * DN_EMISMATCH for an invalid message (consumed, counted in the stats, *err
 * names the problem and the topic), DN_EIO, DN_ENOMEM. */
int dn_sock_recv(dn_sock_t *self, int timeout_ms, Dinamo__Envelope **env, dn_recv_info_t *info,
                 dn_err_t *err);

/* ---- request/reply frames ---------------------------------------------------
 * ROUTER and DEALER sockets (made by dn_sock_new like the others) carry a
 * request/reply protocol of their own (the registry's, registry.h) as plain
 * frames: a ROUTER receives [peer identity, payload] and replies the same way;
 * a DEALER sends and receives [payload]. No topic, no envelope, no stamping. */
#define DN_FRAMES_MAX 4

/* The frames of one message; each data[i] malloc'd and owned by the holder. */
typedef struct dn_frames_t {
    char peer[DN_AUTH_NAME_MAX]; /* received: the sender's key name; "" without security */
    int n;
    void *data[DN_FRAMES_MAX];
    size_t len[DN_FRAMES_MAX];
} dn_frames_t;

/* Frees every frame of f and empties it (n = 0). */
void dn_frames_clear(dn_frames_t *f);

/* Sends f's frames as one message (1 .. DN_FRAMES_MAX) on a ROUTER or DEALER
 * (timeout as dn_sock_send). f stays the caller's. Returns 0, DN_BUS_TIMEOUT,
 * DN_EINVAL, DN_EIO (also: a ROUTER's peer is gone). */
int dn_sock_send_frames(dn_sock_t *self, const dn_frames_t *f, int timeout_ms, dn_err_t *err);

/* Receives one whole message into *f (emptied first; the caller clears it)
 * within timeout_ms. Returns 0; DN_EFORMAT when it had more than
 * DN_FRAMES_MAX frames (all consumed, the first DN_FRAMES_MAX kept in *f);
 * DN_BUS_TIMEOUT; DN_EINVAL; DN_EIO; DN_ENOMEM. */
int dn_sock_recv_frames(dn_sock_t *self, int timeout_ms, dn_frames_t *f, dn_err_t *err);

/* Counters since creation. */
dn_sock_stats_t dn_sock_stats(const dn_sock_t *self);

/* The receive-side sequence tracker (owned by self), e.g. to restore it from
 * a checkpoint with dn_store_checkpoint_read() or save it with a batch. */
dn_seq_tracker_t *dn_sock_tracker(dn_sock_t *self);

/* Writes the topic of env into buf (cap bytes). Returns its length, or
 * DN_EINVAL (no body) / DN_ERANGE (does not fit). */
int dn_bus_topic(const Dinamo__Envelope *env, char *buf, size_t cap);

/* Shard of a histogram key among n_shards trainers: FNV-1a 64 of the key's
 * bytes modulo n_shards, in [0, n_shards). Stable across machines and
 * releases: each key is trained by exactly one of n trainers. n_shards < 1
 * gives 0. */
int dn_shard_of(const char *key, int n_shards);

#endif
