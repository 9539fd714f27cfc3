/* auth.h: who may speak on the bus. CURVE key pairs, the roles that say
 * which keys may publish what, and the ZAP handler that admits a connection
 * only when its key is listed for the socket it connects to.
 *
 * A keys directory (the configuration's keys_dir) holds:
 *   NAME.pub     the public key of NAME: one line, 40 characters of Z85
 *   NAME.secret  the secret key of NAME: one line of Z85, readable by its
 *                owner only (a secret file that the group or others can
 *                read is refused, as ssh refuses such a private key)
 *   roles        who may speak, one line per role, e.g.
 *                    runs: generator feed
 *                    labels: evaluator dashboard alice
 *                    scores: scorer_s scorer_ml
 *                    weights: trainer
 *                    registry: registry
 *                    delegate: dashboard
 *                '#' starts a comment; a name may be listed under several
 *                roles; every listed name needs its NAME.pub.
 * A process holds only its own secret (NAME.secret of its identity) and the
 * public keys of the others; `dinamo keygen NAME --role ROLE` makes a pair
 * and lists it.
 *
 * The roles and the sockets they may speak on:
 *   runs      publish the events log (the feed's or generator's PUB): a
 *             follower connecting to it names that key as the server's
 *   labels    send a Label to a feed's requests socket (people, the
 *             evaluator's auto-accept, the dashboard); the label then
 *             records the key's name as "who"
 *   scores    publish a scores log (scorer_s, scorer_ml)
 *   weights   store weights and leases at the registry (trainers)
 *   registry  publish weights to scorer_ml's weights socket
 *   delegate  (with labels) send Labels on behalf of people it authenticated
 *             itself: a label's non-empty `who` (the dashboard's logged-in
 *             user) is kept instead of being replaced by the key's name, once
 *             checked (at most 64 bytes of UTF-8 without control characters,
 *             else the label is refused with the reason; lib/pipe/node.h)
 * Any listed key (whatever its role) may connect to read a log, acknowledge
 * what it read and read from the registry; an unknown key, or none, is
 * refused at the handshake. A bound socket says which roles it admits by
 * its ZAP domain (dn_auth_domain below); a connecting socket names the key
 * of the server it expects ("connect:NAME@tcp://host:port", bus.h), so it
 * cannot be talked to by anyone without that key's secret.
 *
 * Thread rules: a dn_keyring_t is read-only once loaded and may be shared
 * by threads (the ZAP handler reads it on its own thread). dn_zap_t runs one
 * thread of its own; start and stop it from the thread owning the context. */
#ifndef DN_AUTH_H
#define DN_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define DN_AUTH_NAME_MAX 64 /* key names: [A-Za-z0-9._-], 1 .. 63 bytes */
#define DN_AUTH_Z85_LEN 40  /* a 32-byte key in Z85 */

/* Roles, as bits. */
enum {
    DN_ROLE_RUNS = 1 << 0,
    DN_ROLE_LABELS = 1 << 1,
    DN_ROLE_SCORES = 1 << 2,
    DN_ROLE_WEIGHTS = 1 << 3,
    DN_ROLE_REGISTRY = 1 << 4,
    DN_ROLE_DELEGATE = 1 << 5,
};
#define DN_ROLE_ANY 0 /* as an admitted set: any listed key */

typedef struct dn_keyring_t dn_keyring_t;
typedef struct dn_zap_t dn_zap_t;

/* The ZeroMQ library in use can do CURVE (built with libsodium). */
int dn_auth_available(void);

/* Writes the 32-byte key as 40 characters of Z85 and a NUL into z85. */
void dn_auth_z85(const uint8_t *key, char z85[DN_AUTH_Z85_LEN + 1]);

/* Parses a role name ("labels") into its bit. Returns 0 or DN_EINVAL
 * naming the known roles. */
int dn_auth_role_parse(const char *name, int *role, dn_err_t *err);

/* Writes the names of the roles in mask into buf ("labels,weights"; "any"
 * for DN_ROLE_ANY). Returns buf. */
const char *dn_auth_roles_str(int mask, char *buf, size_t cap);

/* Parses one key file's text (40 characters of Z85, then white space only)
 * into key. Pure. Returns 0 or DN_EFORMAT. */
int dn_auth_parse_key(const char *text, size_t len, uint8_t key[32], dn_err_t *err);

/* Parses a roles file's text (len bytes; path only names it in errors):
 * calls fn(role, name, arg, err) for every name listed, in order, and stops
 * at fn's first nonzero return. Pure but for fn. Returns 0, fn's code,
 * DN_EFORMAT (a line that is not "ROLE: NAME...", a bad name, a NUL byte:
 * named with path and line), DN_EINVAL (an unknown role), DN_ENOMEM. */
typedef int (*dn_auth_role_fn)(int role, const char *name, void *arg, dn_err_t *err);
int dn_auth_parse_roles(const char *path, const char *text, size_t len, dn_auth_role_fn fn,
                        void *arg, dn_err_t *err);

/* Makes a key pair for name in dir (created 0755 if missing): NAME.secret
 * (mode 0600, written first) and NAME.pub. An existing pair is kept (*made
 * = 0), never overwritten; a half pair (one file without the other) is
 * refused. When role is not 0, name is added to those roles in dir/roles
 * (created when missing). made may be NULL. Returns 0, DN_EINVAL (bad name,
 * half pair; no CURVE in this libzmq), DN_EIO. */
int dn_auth_keygen(const char *dir, const char *name, int roles, int *made, dn_err_t *err);

/* Loads dir: every NAME.pub, the roles file, and, when identity is not
 * NULL, identity's secret key. Returns a new keyring the caller frees with
 * dn_keyring_destroy(), or NULL with *err set: DN_ENOTFOUND (no directory,
 * no roles file, no secret of identity: "run dinamo keygen"), DN_EFORMAT
 * (a damaged key file or roles line, named with its line), DN_EINVAL (a
 * secret key file readable by others, a listed name without a .pub),
 * DN_ENOMEM. */
dn_keyring_t *dn_keyring_load(const char *dir, const char *identity, dn_err_t *err);

void dn_keyring_destroy(dn_keyring_t **self_p);

/* The identity loaded, or "" without one. Owned by self. */
const char *dn_keyring_identity(const dn_keyring_t *self);

/* The identity's public and secret keys (32 bytes each, owned by self), or
 * NULL without an identity. */
const uint8_t *dn_keyring_own_public(const dn_keyring_t *self);
const uint8_t *dn_keyring_own_secret(const dn_keyring_t *self);

/* The public key of name (32 bytes, owned by self), or NULL when the
 * directory has no NAME.pub. */
const uint8_t *dn_keyring_public(const dn_keyring_t *self, const char *name);

/* The roles of name (a mask; 0 for a listed key without roles), or -1 for
 * a name with no key. */
int dn_keyring_roles(const dn_keyring_t *self, const char *name);

/* The i-th name (0, 1, ...) holding a role of mask, in the order of the
 * keys directory, or NULL past the last. Owned by self. */
const char *dn_keyring_with_role(const dn_keyring_t *self, int mask, int i);

/* The name owning public key key (32 bytes), or NULL. Owned by self. */
const char *dn_keyring_name_of(const dn_keyring_t *self, const uint8_t *key);

#define DN_AUTH_WHO_MAX 64 /* bytes in a delegate's `who` */

/* Who a Label sent by key `peer`, holding `roles` (dn_keyring_roles: -1
 * for a key not listed), records as its `who`: the key's name, or, when the
 * key has both labels and delegate and the label's own `claimed` is not
 * empty (NULL counts as empty), `claimed` once checked: at most
 * DN_AUTH_WHO_MAX bytes of well-formed UTF-8 without control characters
 * (C0, DEL, C1) or bidirectional overrides, which would let a name shown to
 * people read as another. Pure. Returns 0 with *who = peer or claimed
 * (borrowed), DN_EINVAL when the key may not label ("not admitted to
 * label"), DN_EFORMAT naming what is wrong with a delegate's `who`. */
int dn_auth_label_who(int roles, const char *peer, const char *claimed, const char **who,
                      dn_err_t *err);

/* The ZAP domain a bound socket admitting the roles in mask announces
 * ("dinamo:any", "dinamo:registry"), written into buf. Returns buf. */
const char *dn_auth_domain(int mask, char *buf, size_t cap);

/* What the ZAP handler did since it started. */
typedef struct dn_zap_stats_t {
    uint64_t admitted;
    uint64_t refused_unknown;  /* no key, or a key not in the keyring */
    uint64_t refused_role;     /* a listed key without a role the socket admits */
    uint64_t refused_handshake; /* watched sockets: failed before ZAP (no CURVE, not ZMTP) */
} dn_zap_stats_t;

/* Starts the ZAP handler of context zctx on its own thread, answering from
 * keys (borrowed: it must outlive the handler). Start it before binding any
 * socket with CURVE: without a handler, libzmq admits every client. Every
 * refusal is logged (rate-limited: log.h's DN_LOG_LIMITED). Returns a new handler, or NULL with *err set
 * (DN_EIO: the ZAP endpoint is taken by another handler in this context). */
dn_zap_t *dn_zap_start(void *zctx, const dn_keyring_t *keys, dn_err_t *err);

/* Watches bound socket zsock (call from its owning thread, before it
 * binds) for handshakes that fail before ZAP is asked, e.g. a peer without
 * CURVE: counted in refused_handshake and logged like the others. At most
 * 32 sockets. Returns 0, DN_EINVAL (too many), DN_EIO. */
int dn_zap_watch(dn_zap_t *self, void *zsock, dn_err_t *err);

/* Counters so far (any thread). */
dn_zap_stats_t dn_zap_stats(const dn_zap_t *self);

/* Stops the handler: call zmq_ctx_shutdown(zctx) first (after closing the
 * other sockets), which ends its wait; joins the thread and frees *self_p.
 * Accepts NULL. */
void dn_zap_stop(dn_zap_t **self_p);

#endif
