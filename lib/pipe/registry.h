/* registry.h: the client of the registry service, the one owner of the state
 * the trainers and scorer_ml share (weights versions, member and key leases,
 * the state handed over with a key), and the protocol both ends speak.
 *
 * Why a service: LMDB's lock table names readers by process id, so one LMDB
 * file opened by processes in different containers (each PID 1) or on
 * different hosts breaks; and trainers must scale beyond one machine. So no
 * LMDB file is opened by two services: the registry keeps these tables in its
 * own store and everyone else asks it over ZeroMQ (a DEALER here, the
 * registry's ROUTER there; proto/dinamo.proto, RegistryRequest/Reply).
 *
 * Every call is one request with one answer, one request in flight per client.
 * A request that gets no answer within retry_ms is sent again, unchanged, until
 * timeout_ms has passed (the registry restarting, a connection re-made). Each
 * request carries the client's name (unique per incarnation: given name, pid,
 * start time) and a number (+1 per new request), so a repeated compare-and-swap
 * or batch is answered from the outcome the registry stored in the same
 * transaction as the writes, never applied twice; answers to older requests
 * are recognised by their number and dropped. Reads and weights puts are
 * idempotent by themselves.
 *
 * dn_registry_lease_store makes the registry a dn_lease_store_t (the lease
 * protocol of lease.h and the trainer's checkpoints run on it unchanged);
 * weights have calls of their own (the registry republishes every version it
 * stores on its PUB socket).
 *
 * Errors: the registry's answer (0, DN_ENOTFOUND, DN_ESTATE, DN_EINVAL, ...,
 * with its words in *err), or DN_EIO when no answer came within timeout_ms
 * ("registry ENDPOINT: no answer to GET in 60 s (12 sends)"), DN_EFORMAT
 * (an answer that does not decode), DN_ENOMEM.
 *
 * Thread rules: a client belongs to one thread (its socket does). Ownership:
 * the DEALER socket is borrowed (the node's) and must outlive the client;
 * every value returned is a malloc'd copy the caller frees. */
#ifndef DN_REGISTRY_H
#define DN_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "dinamo.pb-c.h"
#include "error.h"
#include "lease_store.h"

#define DN_REGISTRY_CLIENT_MAX 127 /* bytes in a client's name */

typedef struct dn_registry_t dn_registry_t;

typedef struct dn_registry_opts_t {
    int retry_ms;   /* wait this long for an answer before sending again; 0: 1000 */
    int timeout_ms; /* give up (DN_EIO) after this long; 0: 60000 */
} dn_registry_opts_t;

/* A client on dealer (a connected ZMQ_DEALER, borrowed), naming itself
 * "<name>/<pid>/<start time>" (name: 1 .. 80 bytes, e.g. "trainer/member-0").
 * opts may be NULL (defaults). Returns NULL with *err set (DN_EINVAL,
 * DN_ENOMEM). Caller owns it. */
dn_registry_t *dn_registry_new(dn_sock_t *dealer, const char *name, const dn_registry_opts_t *opts,
                               dn_err_t *err);

/* Frees *self_p; accepts NULL and *self_p NULL; nulls it. */
void dn_registry_destroy(dn_registry_t **self_p);

/* The client's full name (valid while self lives). */
const char *dn_registry_client(const dn_registry_t *self);

/* A storage whose operations are answered by the registry (self borrowed: it
 * must outlive the storage). NULL when out of memory. Caller owns it. */
dn_lease_store_t *dn_registry_lease_store(dn_registry_t *self);

/* Stores blob (an encoded Envelope with ModelWeights for hkey and version) as
 * version `version` of hkey, keeping the keep_last highest versions (0: all);
 * the registry then publishes it. Returns 0 or as above (DN_EINVAL: the
 * registry refused the blob, naming why). */
int dn_registry_weights_put(dn_registry_t *self, const char *hkey, uint64_t version,
                            const void *blob, size_t len, int keep_last, dn_err_t *err);

/* Version `version` of hkey into a new *blob of *len bytes (caller frees).
 * Returns 0, DN_ENOTFOUND, or as above. */
int dn_registry_weights_get(dn_registry_t *self, const char *hkey, uint64_t version,
                            void **blob, size_t *len, dn_err_t *err);

/* The highest version of hkey into *version and its copy into *blob / *len.
 * Returns 0, DN_ENOTFOUND (no version yet), or as above. */
int dn_registry_weights_latest(dn_registry_t *self, const char *hkey, uint64_t *version,
                               void **blob, size_t *len, dn_err_t *err);

/* Asks the registry whether it answers. Returns 0 or as above. */
int dn_registry_ping(dn_registry_t *self, dn_err_t *err);

/* Requests sent (retries included) and answers dropped as stale since creation. */
uint64_t dn_registry_sends(const dn_registry_t *self);
uint64_t dn_registry_stale(const dn_registry_t *self);

/* ---- the protocol, for the registry service and tests ---------------------- */

/* Decodes and checks one request: known fields only (anything protobuf-c keeps
 * as unknown is refused), client 1 .. DN_REGISTRY_CLIENT_MAX bytes, id and a
 * known op present, and what the op needs present and in range (table 1 ..
 * DN_LEASE_TABLE_MAX bytes, keys 1 .. DN_STORE_KEY_MAX bytes, histogram keys
 * as dn_msg_check_key). On 0, *req is the caller's (free with
 * dinamo__registry_request__free_unpacked(*req, NULL)). Returns 0 or
 * DN_EFORMAT / DN_EINVAL naming the problem. */
int dn_registry_request_decode(const void *buf, size_t len, Dinamo__RegistryRequest **req,
                               dn_err_t *err);

/* The name of op ("GET", "CAS", ...), "?" for an unknown one. */
const char *dn_registry_op_name(int op);

#endif
