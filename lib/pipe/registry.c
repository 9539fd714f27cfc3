/* registry.c: the registry's client and protocol (see registry.h).
 *
 * One request at a time: call() numbers the request, encodes it once, and
 * sends those bytes again every retry_ms until an answer carrying the same
 * client name and number arrives or timeout_ms has passed. Answers to earlier
 * numbers (a retry answered twice, a request that timed out) are dropped and
 * counted. After a stop signal the wait is cut to a few seconds, so a service
 * shutting down is not held by a registry that is gone.
 *
 * The lease-store adapter maps the five storage operations onto GET, CAS,
 * SCAN, APPLY and SYNC one for one: the lease protocol and the trainer's
 * checkpoints cannot tell the registry from a local LMDB store. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "msg.h"
#include "service.h"
#include "store.h"

#define SHUTDOWN_GRACE_MS 3000 /* the longest wait once a stop signal came */

struct dn_registry_t {
    dn_sock_t *dealer;
    char client[DN_REGISTRY_CLIENT_MAX + 1];
    uint64_t next_id;
    int retry_ms, timeout_ms;
    uint64_t sends, stale;
};

dn_registry_t *dn_registry_new(dn_sock_t *dealer, const char *name, const dn_registry_opts_t *opts,
                               dn_err_t *err)
{
    if (!dealer || dn_sock_type(dealer) != ZMQ_DEALER || !name || !name[0] || strlen(name) > 80) {
        dn_err_set(err, DN_EINVAL, "registry client: a DEALER socket and a name of 1 .. 80 "
                   "bytes are needed");
        return NULL;
    }
    dn_registry_t *self = calloc(1, sizeof *self);
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "registry client: out of memory");
        return NULL;
    }
    self->dealer = dealer;
    snprintf(self->client, sizeof self->client, "%s/%ld/%.0f", name, (long)getpid(),
             dn_clock_wall() * 1e6);
    self->next_id = 1;
    self->retry_ms = opts && opts->retry_ms > 0 ? opts->retry_ms : 1000;
    self->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
    return self;
}

void dn_registry_destroy(dn_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

const char *dn_registry_client(const dn_registry_t *self) { return self->client; }
uint64_t dn_registry_sends(const dn_registry_t *self) { return self->sends; }
uint64_t dn_registry_stale(const dn_registry_t *self) { return self->stale; }

const char *dn_registry_op_name(int op)
{
    switch (op) {
    case DINAMO__REGISTRY_OP__REGISTRY_GET: return "GET";
    case DINAMO__REGISTRY_OP__REGISTRY_CAS: return "CAS";
    case DINAMO__REGISTRY_OP__REGISTRY_SCAN: return "SCAN";
    case DINAMO__REGISTRY_OP__REGISTRY_APPLY: return "APPLY";
    case DINAMO__REGISTRY_OP__REGISTRY_SYNC: return "SYNC";
    case DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_PUT: return "WEIGHTS_PUT";
    case DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_GET: return "WEIGHTS_GET";
    case DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_LATEST: return "WEIGHTS_LATEST";
    case DINAMO__REGISTRY_OP__REGISTRY_PING: return "PING";
    default: return "?";
    }
}

/* ---- one request, one answer --------------------------------------------------- */

/* Reads answers until the one to request id (0, *rep set), or until
 * until_ms (DN_BUS_TIMEOUT). */
static int await_reply(dn_registry_t *self, uint64_t id, int64_t until_ms,
                       Dinamo__RegistryReply **rep, dn_err_t *err)
{
    for (;;) {
        int64_t left = until_ms - dn_clock_mono_ms();
        if (left <= 0)
            return DN_BUS_TIMEOUT;
        dn_frames_t f;
        int rc = dn_sock_recv_frames(self->dealer, (int)left, &f, err);
        if (rc == DN_BUS_TIMEOUT)
            return rc;
        if (rc && rc != DN_EFORMAT)
            return rc;
        Dinamo__RegistryReply *r =
            rc ? NULL : dinamo__registry_reply__unpack(NULL, f.len[f.n - 1], f.data[f.n - 1]);
        dn_frames_clear(&f);
        if (r && r->has_id && r->id == id && r->client && !strcmp(r->client, self->client)) {
            *rep = r;
            return 0;
        }
        self->stale++; /* an answer to an earlier request, or not an answer */
        if (r)
            dinamo__registry_reply__free_unpacked(r, NULL);
    }
}

/* Sends req (numbered here) until answered. On 0, *rep is the answer (caller
 * frees) and the return value is the registry's status for it. */
static int call(dn_registry_t *self, Dinamo__RegistryRequest *req, Dinamo__RegistryReply **rep,
                dn_err_t *err)
{
    *rep = NULL;
    req->client = self->client;
    req->has_id = 1;
    req->id = self->next_id++;
    size_t len = dinamo__registry_request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return dn_err_set(err, DN_ENOMEM, "registry %s: out of memory",
                          dn_registry_op_name(req->op));
    dinamo__registry_request__pack(req, buf);
    dn_frames_t f = {.n = 1, .data = {buf}, .len = {len}};
    int64_t start = dn_clock_mono_ms();
    int64_t deadline = start + self->timeout_ms;
    int rc, sends = 0;
    for (;;) {
        if (dn_service_signalled() && deadline > dn_clock_mono_ms() + SHUTDOWN_GRACE_MS)
            deadline = dn_clock_mono_ms() + SHUTDOWN_GRACE_MS;
        int64_t now = dn_clock_mono_ms();
        if (now >= deadline) {
            rc = dn_err_set(err, DN_EIO, "registry: no answer to %s in %.0f s (%d sends)",
                            dn_registry_op_name(req->op), (double)(now - start) / 1e3, sends);
            break;
        }
        int64_t until = now + self->retry_ms < deadline ? now + self->retry_ms : deadline;
        rc = dn_sock_send_frames(self->dealer, &f, (int)(until - now), err);
        if (rc == DN_BUS_TIMEOUT)
            continue;
        if (rc)
            break;
        sends++;
        self->sends++;
        if ((rc = await_reply(self, req->id, until, rep, err)) != DN_BUS_TIMEOUT)
            break;
    }
    free(buf);
    if (rc)
        return rc;
    Dinamo__RegistryReply *r = *rep;
    if (r->has_status && r->status)
        return dn_err_set(err, r->status, "registry %s: %s", dn_registry_op_name(req->op),
                          r->error ? r->error : dn_strerror(r->status));
    return 0;
}

/* Hands value's bytes of answer r to the caller as a new buffer. */
static int take_value(const Dinamo__RegistryReply *r, void **val, size_t *vlen, dn_err_t *err)
{
    size_t n = r->has_value ? r->value.len : 0;
    if (!(*val = malloc(n ? n : 1)))
        return dn_err_set(err, DN_ENOMEM, "registry: out of memory");
    if (n)
        memcpy(*val, r->value.data, n);
    *vlen = n;
    return 0;
}

/* ---- weights --------------------------------------------------------------------- */

int dn_registry_weights_put(dn_registry_t *self, const char *hkey, uint64_t version,
                            const void *blob, size_t len, int keep_last, dn_err_t *err)
{
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    Dinamo__RegistryReply *r = NULL;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_PUT;
    q.histogram_key = (char *)hkey;
    q.has_version = 1, q.version = version;
    q.has_value = 1, q.value.data = (uint8_t *)blob, q.value.len = len;
    q.has_keep_last = keep_last > 0, q.keep_last = keep_last > 0 ? (uint32_t)keep_last : 0;
    int rc = call(self, &q, &r, err);
    if (r)
        dinamo__registry_reply__free_unpacked(r, NULL);
    return rc;
}

int dn_registry_weights_get(dn_registry_t *self, const char *hkey, uint64_t version,
                            void **blob, size_t *len, dn_err_t *err)
{
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    Dinamo__RegistryReply *r = NULL;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_GET;
    q.histogram_key = (char *)hkey;
    q.has_version = 1, q.version = version;
    *blob = NULL;
    int rc = call(self, &q, &r, err);
    if (!rc)
        rc = take_value(r, blob, len, err);
    if (r)
        dinamo__registry_reply__free_unpacked(r, NULL);
    return rc;
}

int dn_registry_weights_latest(dn_registry_t *self, const char *hkey, uint64_t *version,
                               void **blob, size_t *len, dn_err_t *err)
{
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    Dinamo__RegistryReply *r = NULL;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_LATEST;
    q.histogram_key = (char *)hkey;
    *blob = NULL;
    int rc = call(self, &q, &r, err);
    if (!rc && !r->has_version)
        rc = dn_err_set(err, DN_EFORMAT, "registry WEIGHTS_LATEST: answer without a version");
    if (!rc && !(rc = take_value(r, blob, len, err)))
        *version = r->version;
    if (r)
        dinamo__registry_reply__free_unpacked(r, NULL);
    return rc;
}

int dn_registry_ping(dn_registry_t *self, dn_err_t *err)
{
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    Dinamo__RegistryReply *r = NULL;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_PING;
    int rc = call(self, &q, &r, err);
    if (r)
        dinamo__registry_reply__free_unpacked(r, NULL);
    return rc;
}

/* ---- the registry as a lease storage ------------------------------------------ */

static void set_table_key(Dinamo__RegistryRequest *q, const char *table, const void *key,
                          size_t klen)
{
    q->table = (char *)table;
    q->has_key = 1;
    q->key.data = (uint8_t *)key;
    q->key.len = klen;
}

static int rs_get(void *impl, const char *table, const void *key, size_t klen, void **val,
                  size_t *vlen, dn_err_t *err)
{
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    Dinamo__RegistryReply *r = NULL;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_GET;
    set_table_key(&q, table, key, klen);
    *val = NULL;
    int rc = call(impl, &q, &r, err);
    if (!rc)
        rc = take_value(r, val, vlen, err);
    if (r)
        dinamo__registry_reply__free_unpacked(r, NULL);
    return rc;
}

static int rs_cas(void *impl, const char *table, const void *key, size_t klen,
                  const void *expect, size_t expect_len, const void *val, size_t vlen,
                  dn_err_t *err)
{
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    Dinamo__RegistryReply *r = NULL;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_CAS;
    set_table_key(&q, table, key, klen);
    if (expect) {
        q.has_expect = 1, q.expect.data = (uint8_t *)expect, q.expect.len = expect_len;
    } else {
        q.has_expect_absent = 1, q.expect_absent = 1;
    }
    q.has_value = 1, q.value.data = (uint8_t *)val, q.value.len = vlen;
    int rc = call(impl, &q, &r, err);
    if (r)
        dinamo__registry_reply__free_unpacked(r, NULL);
    return rc;
}

static int rs_scan(void *impl, const char *table, const void *prefix, size_t plen,
                   dn_lease_visit_fn fn, void *arg, dn_err_t *err)
{
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    Dinamo__RegistryReply *r = NULL;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_SCAN;
    q.table = (char *)table;
    q.has_key = plen > 0, q.key.data = (uint8_t *)prefix, q.key.len = plen;
    int rc = call(impl, &q, &r, err);
    for (size_t i = 0; !rc && i < r->n_records; i++) {
        const Dinamo__RegistryRecord *rec = r->records[i];
        rc = fn(rec->key.data, rec->key.len, rec->value.data, rec->value.len, arg);
        if (rc > 0)
            rc = 0, i = r->n_records;
    }
    if (r)
        dinamo__registry_reply__free_unpacked(r, NULL);
    return rc;
}

static int rs_apply(void *impl, const dn_lease_batch_t *batch, dn_err_t *err)
{
    size_t n = dn_lease_batch_count(batch);
    Dinamo__RegistryRecord *recs = calloc(n ? n : 1, sizeof *recs);
    Dinamo__RegistryRecord **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (!recs || !ptrs) {
        free(recs);
        free(ptrs);
        return dn_err_set(err, DN_ENOMEM, "registry APPLY: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const dn_lease_op_t *op = dn_lease_batch_op(batch, i);
        Dinamo__RegistryRecord *rec = &recs[i];
        dinamo__registry_record__init(rec);
        rec->table = (char *)op->table;
        rec->has_key = 1, rec->key.data = (uint8_t *)op->key, rec->key.len = op->klen;
        rec->has_value = 1, rec->value.data = (uint8_t *)op->val, rec->value.len = op->vlen;
        if (op->kind == DN_LEASE_OP_CAS) {
            rec->has_cas = 1, rec->cas = 1;
            if (op->expect) {
                rec->has_expect = 1;
                rec->expect.data = (uint8_t *)op->expect, rec->expect.len = op->expect_len;
            } else {
                rec->has_expect_absent = 1, rec->expect_absent = 1;
            }
        }
        ptrs[i] = rec;
    }
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    Dinamo__RegistryReply *r = NULL;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_APPLY;
    q.n_ops = n, q.ops = ptrs;
    int rc = call(impl, &q, &r, err);
    if (r)
        dinamo__registry_reply__free_unpacked(r, NULL);
    free(ptrs);
    free(recs);
    return rc;
}

static int rs_sync(void *impl, dn_err_t *err)
{
    Dinamo__RegistryRequest q = DINAMO__REGISTRY_REQUEST__INIT;
    Dinamo__RegistryReply *r = NULL;
    q.has_op = 1, q.op = DINAMO__REGISTRY_OP__REGISTRY_SYNC;
    int rc = call(impl, &q, &r, err);
    if (r)
        dinamo__registry_reply__free_unpacked(r, NULL);
    return rc;
}

static const dn_lease_store_ops_t registry_ops = {
    .get = rs_get, .cas = rs_cas, .scan = rs_scan, .apply = rs_apply, .sync = rs_sync,
    .destroy = NULL,
};

dn_lease_store_t *dn_registry_lease_store(dn_registry_t *self)
{
    return dn_lease_store_new(&registry_ops, self);
}

/* ---- checking a request ------------------------------------------------------- */

static int check_table(const char *table, const char *where, dn_err_t *err)
{
    size_t n = table ? strlen(table) : 0;
    if (n < 1 || n > DN_LEASE_TABLE_MAX)
        return dn_err_set(err, DN_EFORMAT, "%s: table name of %zu bytes (1 .. %d)", where, n,
                          DN_LEASE_TABLE_MAX);
    return 0;
}

static int check_bytes(int has, ProtobufCBinaryData b, size_t lo, const char *what,
                       const char *where, dn_err_t *err)
{
    size_t n = has ? b.len : 0;
    if (n < lo || n > DN_STORE_KEY_MAX)
        return dn_err_set(err, DN_EFORMAT, "%s: %s of %zu bytes (%zu .. %d)", where, what, n, lo,
                          DN_STORE_KEY_MAX);
    return 0;
}

/* An operation of APPLY: a put, or a compare-and-swap expecting a value or
 * none (exactly one of the two). */
static int check_record(const Dinamo__RegistryRecord *rec, size_t i, dn_err_t *err)
{
    char where[48];
    snprintf(where, sizeof where, "APPLY operation %zu", i);
    int rc;
    if (rec->base.n_unknown_fields)
        return dn_err_set(err, DN_EFORMAT, "%s: %u unknown field(s)", where,
                          rec->base.n_unknown_fields);
    if ((rc = check_table(rec->table, where, err)) ||
        (rc = check_bytes(rec->has_key, rec->key, 1, "key", where, err)))
        return rc;
    if (!rec->has_value)
        return dn_err_set(err, DN_EFORMAT, "%s: no value", where);
    int is_cas = rec->has_cas && rec->cas;
    int expects = rec->has_expect, absent = rec->has_expect_absent && rec->expect_absent;
    if (is_cas ? expects == absent : expects || absent)
        return dn_err_set(err, DN_EFORMAT, "%s: %s", where,
                          is_cas ? "a compare-and-swap expects a value or its absence"
                                 : "a put expects nothing");
    return 0;
}

/* What op needs, present and in range. */
static int check_op(const Dinamo__RegistryRequest *q, dn_err_t *err)
{
    const char *where = dn_registry_op_name(q->op);
    int rc = 0;
    switch (q->op) {
    case DINAMO__REGISTRY_OP__REGISTRY_GET:
        if (!(rc = check_table(q->table, where, err)))
            rc = check_bytes(q->has_key, q->key, 1, "key", where, err);
        return rc;
    case DINAMO__REGISTRY_OP__REGISTRY_CAS:
        if ((rc = check_table(q->table, where, err)) ||
            (rc = check_bytes(q->has_key, q->key, 1, "key", where, err)))
            return rc;
        if (!q->has_value || q->has_expect == (q->has_expect_absent && q->expect_absent))
            return dn_err_set(err, DN_EFORMAT, "CAS: a value, and an expected value or its "
                              "absence, are needed");
        return 0;
    case DINAMO__REGISTRY_OP__REGISTRY_SCAN:
        if (!(rc = check_table(q->table, where, err)))
            rc = check_bytes(q->has_key, q->key, 0, "prefix", where, err);
        return rc;
    case DINAMO__REGISTRY_OP__REGISTRY_APPLY: /* none at all is a batch too */
        for (size_t i = 0; i < q->n_ops && !rc; i++)
            rc = check_record(q->ops[i], i, err);
        return rc;
    case DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_PUT:
        if (!q->has_value || !q->has_version)
            return dn_err_set(err, DN_EFORMAT, "WEIGHTS_PUT: a version and a value are needed");
        return dn_msg_check_key(q->histogram_key, "histogram key", where, err);
    case DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_GET:
        if (!q->has_version)
            return dn_err_set(err, DN_EFORMAT, "WEIGHTS_GET: no version");
        return dn_msg_check_key(q->histogram_key, "histogram key", where, err);
    case DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_LATEST:
        return dn_msg_check_key(q->histogram_key, "histogram key", where, err);
    case DINAMO__REGISTRY_OP__REGISTRY_SYNC:
    case DINAMO__REGISTRY_OP__REGISTRY_PING:
        return 0;
    default:
        return dn_err_set(err, DN_EINVAL, "unknown operation %d", (int)q->op);
    }
}

int dn_registry_request_decode(const void *buf, size_t len, Dinamo__RegistryRequest **req,
                               dn_err_t *err)
{
    *req = NULL;
    Dinamo__RegistryRequest *q = dinamo__registry_request__unpack(NULL, len, buf);
    if (!q)
        return dn_err_set(err, DN_EFORMAT, "cannot parse a registry request of %zu bytes", len);
    int rc;
    size_t cl = q->client ? strlen(q->client) : 0;
    if (q->base.n_unknown_fields)
        rc = dn_err_set(err, DN_EFORMAT, "request with %u unknown field(s)",
                        q->base.n_unknown_fields);
    else if (cl < 1 || cl > DN_REGISTRY_CLIENT_MAX)
        rc = dn_err_set(err, DN_EFORMAT, "request: client name of %zu bytes (1 .. %d)", cl,
                        DN_REGISTRY_CLIENT_MAX);
    else if (!q->has_id || !q->has_op)
        rc = dn_err_set(err, DN_EFORMAT, "request of %s: no %s", q->client,
                        q->has_id ? "operation" : "number");
    else
        rc = check_op(q, err);
    if (rc) {
        dinamo__registry_request__free_unpacked(q, NULL);
        return rc;
    }
    *req = q;
    return 0;
}
