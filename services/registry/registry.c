/* registry: the one owner of the state the trainers and scorer_ml share:
 * every weights version of every key, the trainers' member and key leases,
 * and the state a trainer hands over with a key. It keeps them in its own
 * LMDB store (<data_dir>/registry) and answers requests over ZeroMQ (a ROUTER
 * on `requests`; the protocol and its client are lib/pipe/registry.h), so that
 * no LMDB file is opened by two processes: services in separate containers or
 * on separate hosts share nothing on disk.
 *
 * Requests: GET, CAS, SCAN, APPLY (all or nothing), SYNC on the tables of the
 * lease protocol and the trainers' checkpoints, and WEIGHTS_PUT / GET /
 * LATEST. A compare-and-swap or batch that succeeds is stored in the same
 * transaction as the client's request number, so a client retrying after a
 * lost answer is told the outcome instead of having it applied twice; an
 * older number than the last stored is answered DN_ESTATE ("stale"). Tables
 * named "dn.*" (the store's own, weights among them) and "registry.*" (the
 * request numbers) cannot be touched through GET/CAS/SCAN/APPLY.
 *
 * Weights: a version is stored only when its bytes are a valid envelope of
 * ModelWeights for the key and version the request names (the registry never
 * stores what scorer_ml could not read), the `keep_last` newest kept, and
 * then published on `weights` (PUB: scorer_ml subscribes; a version it misses
 * it asks for with WEIGHTS_GET). A version stored again with the same bytes
 * (a retried put) is not published twice.
 *
 * Every request that cannot be read, or asks for what it may not, is answered
 * with the reason (when it came with a peer to answer), counted, and logged;
 * nothing else changes. Request numbers of clients silent for `forget_s` are
 * forgotten at the tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bytes.h"
#include "clock.h"
#include "lease_store.h"
#include "log.h"
#include "msg.h"
#include "node.h"
#include "registry.h"
#include "store.h"

#define T_CLIENTS "registry.clients" /* client name -> last request number done, when */
#define REQUESTS_PER_ROUND 64

typedef struct registry_t {
    dn_store_t *store;           /* the node's */
    dn_lease_store_t *tables;    /* the lease tables over it */
    dn_lease_batch_t *batch;     /* reused for CAS and APPLY */
    dn_sock_t *router, *pub;     /* the node's */
    double forget_s;
    double last_forget;
    uint64_t requests, refused, repeated, stale, published, send_failed;
    double put_s, publish_s; /* seconds in WEIGHTS_PUT (check, store, publish), publishing */
    uint64_t by_op[DINAMO__REGISTRY_OP__REGISTRY_PING + 1];
} registry_t;

/* ---- answering -------------------------------------------------------------- */

static void answer(registry_t *rg, const dn_frames_t *in, Dinamo__RegistryReply *rep)
{
    size_t len = dinamo__registry_reply__get_packed_size(rep);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        rg->send_failed++;
        return;
    }
    dinamo__registry_reply__pack(rep, buf);
    dn_frames_t out = {.n = 2, .data = {in->data[0], buf}, .len = {in->len[0], len}};
    dn_err_t e = {0};
    if (dn_sock_send_frames(rg->router, &out, 0, &e)) /* a peer gone or too slow: it retries */
        rg->send_failed++;
    free(buf);
}

static void answer_error(registry_t *rg, const dn_frames_t *in, const char *client, uint64_t id,
                         int code, const char *msg)
{
    Dinamo__RegistryReply rep = DINAMO__REGISTRY_REPLY__INIT;
    rep.client = (char *)client;
    rep.has_id = 1, rep.id = id;
    rep.has_status = 1, rep.status = code;
    rep.error = (char *)msg;
    answer(rg, in, &rep);
}

/* ---- the lease tables ---------------------------------------------------------- */

static int reserved(const char *table)
{
    return !strncmp(table, "dn.", 3) || !strncmp(table, "registry.", 9);
}

static int check_tables(const Dinamo__RegistryRequest *q, dn_err_t *err)
{
    if (q->table && reserved(q->table))
        return dn_err_set(err, DN_EINVAL, "table %s is the registry's own", q->table);
    for (size_t i = 0; i < q->n_ops; i++)
        if (reserved(q->ops[i]->table))
            return dn_err_set(err, DN_EINVAL, "table %s is the registry's own", q->ops[i]->table);
    return 0;
}

/* The last request number stored for client (0: none). */
static uint64_t last_done(registry_t *rg, const char *client)
{
    void *v = NULL;
    size_t n = 0;
    dn_err_t e = {0};
    uint64_t id = 0;
    if (!dn_lease_store_get(rg->tables, T_CLIENTS, client, strlen(client), &v, &n, &e) &&
        n >= 8)
        id = dn_get_u64(v);
    free(v);
    return id;
}

/* CAS and APPLY: the writes and the client's request number in one batch. */
static int write_once(registry_t *rg, const Dinamo__RegistryRequest *q, dn_err_t *err)
{
    uint64_t done = last_done(rg, q->client);
    if (q->id == done) {
        rg->repeated++;
        return 0;
    }
    if (q->id < done) {
        rg->stale++;
        return dn_err_set(err, DN_ESTATE, "request %llu is older than the last done (%llu)",
                          (unsigned long long)q->id, (unsigned long long)done);
    }
    dn_lease_batch_t *b = rg->batch;
    dn_lease_batch_clear(b);
    int rc = 0;
    if (q->op == DINAMO__REGISTRY_OP__REGISTRY_CAS) {
        rc = dn_lease_batch_cas(b, q->table, q->key.data, q->key.len,
                                q->has_expect ? q->expect.data : NULL, q->expect.len,
                                q->value.data, q->value.len);
    } else {
        for (size_t i = 0; i < q->n_ops && !rc; i++) {
            const Dinamo__RegistryRecord *o = q->ops[i];
            rc = o->has_cas && o->cas
                     ? dn_lease_batch_cas(b, o->table, o->key.data, o->key.len,
                                          o->has_expect ? o->expect.data : NULL, o->expect.len,
                                          o->value.data, o->value.len)
                     : dn_lease_batch_put(b, o->table, o->key.data, o->key.len, o->value.data,
                                          o->value.len);
        }
    }
    uint8_t rec[16];
    dn_put_u64(rec, q->id);
    dn_put_f64(rec + 8, dn_clock_wall());
    if (!rc)
        rc = dn_lease_batch_put(b, T_CLIENTS, q->client, strlen(q->client), rec, sizeof rec);
    if (rc)
        return dn_err_set(err, rc, "cannot build the batch: %s", dn_strerror(rc));
    return dn_lease_store_apply(rg->tables, b, err);
}

/* SCAN's visitor: each record into the answer. */
typedef struct scan_t {
    Dinamo__RegistryReply *rep;
    size_t cap, bytes;
} scan_t;

static int add_record(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    scan_t *s = arg;
    Dinamo__RegistryReply *rep = s->rep;
    if ((s->bytes += klen + vlen) > DN_MSG_SIZE_MAX / 2)
        return DN_ERANGE;
    if (rep->n_records == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        Dinamo__RegistryRecord **r = realloc(rep->records, cap * sizeof *r);
        if (!r)
            return DN_ENOMEM;
        rep->records = r;
        s->cap = cap;
    }
    Dinamo__RegistryRecord *rec = malloc(sizeof *rec + klen + vlen + 1);
    if (!rec)
        return DN_ENOMEM;
    dinamo__registry_record__init(rec);
    uint8_t *p = (uint8_t *)(rec + 1);
    memcpy(p, key, klen);
    if (vlen)
        memcpy(p + klen, val, vlen);
    rec->has_key = 1, rec->key.data = p, rec->key.len = klen;
    rec->has_value = 1, rec->value.data = p + klen, rec->value.len = vlen;
    rep->records[rep->n_records++] = rec;
    return 0;
}

static void scan_free(Dinamo__RegistryReply *rep)
{
    for (size_t i = 0; i < rep->n_records; i++)
        free(rep->records[i]);
    free(rep->records);
}

/* ---- weights ---------------------------------------------------------------------- */

/* Checks that blob is a weights envelope for the key and version asked. */
static int check_weights(const Dinamo__RegistryRequest *q, Dinamo__Envelope **env, dn_err_t *err)
{
    int rc = dn_msg_decode(q->value.data, q->value.len, env, NULL, err);
    if (rc)
        return dn_err_prefix(err, "weights %s v%llu", q->histogram_key,
                             (unsigned long long)q->version);
    const Dinamo__ModelWeights *w = (*env)->weights;
    if (dn_msg_type(*env) != DN_MSG_WEIGHTS || strcmp(w->histogram_key, q->histogram_key) ||
        w->version != q->version)
        rc = dn_err_set(err, DN_EINVAL, "weights %s v%llu: the bytes are not that version of "
                        "that key", q->histogram_key, (unsigned long long)q->version);
    if (rc)
        dn_msg_free(env);
    return rc;
}

static int weights_put(registry_t *rg, const Dinamo__RegistryRequest *q, dn_err_t *err)
{
    double t0 = dn_clock_mono();
    Dinamo__Envelope *env = NULL;
    int rc = check_weights(q, &env, err);
    if (rc)
        return rc;
    void *old = NULL;
    size_t olen = 0;
    dn_err_t e = {0};
    int again = !dn_store_weights_get(rg->store, q->histogram_key, q->version, &old, &olen, &e) &&
                olen == q->value.len && !memcmp(old, q->value.data, olen);
    free(old);
    if (!again)
        rc = dn_store_weights_put(rg->store, q->histogram_key, q->version, q->value.data,
                                  q->value.len, q->has_keep_last ? (int)q->keep_last : 0, err);
    if (!rc && !again) {
        char *stored_producer = env->producer; /* the PUB stamps its own, then ... */
        double t1 = dn_clock_mono();
        int src = dn_sock_send(rg->pub, env, 0, &e);
        rg->publish_s += dn_clock_mono() - t1;
        env->producer = stored_producer;       /* ... the decoded one is freed */
        if (src && src != DN_BUS_TIMEOUT)
            dn_log(DN_LOG_WARN, "weights %s v%llu: publish failed: %s", q->histogram_key,
                   (unsigned long long)q->version, e.msg);
        else
            rg->published++;
        dn_log(DN_LOG_DEBUG, "weights %s v%llu stored and published%s", q->histogram_key,
               (unsigned long long)q->version, src == DN_BUS_TIMEOUT ? " (dropped at the HWM)" : "");
    }
    if (again)
        rg->repeated++;
    dn_msg_free(&env);
    rg->put_s += dn_clock_mono() - t0;
    return rc;
}

/* ---- one request ---------------------------------------------------------------- */

/* Runs q; fills rep (its value and records may point into *own, freed by the
 * caller). Returns the status to answer with (*err: why). */
static int execute(registry_t *rg, const Dinamo__RegistryRequest *q, Dinamo__RegistryReply *rep,
                   void **own, dn_err_t *err)
{
    int rc = check_tables(q, err);
    if (rc)
        return rc;
    size_t n = 0;
    scan_t s = {rep, 0, 0};
    switch (q->op) {
    case DINAMO__REGISTRY_OP__REGISTRY_GET:
        rc = dn_lease_store_get(rg->tables, q->table, q->key.data, q->key.len, own, &n, err);
        break;
    case DINAMO__REGISTRY_OP__REGISTRY_CAS:
    case DINAMO__REGISTRY_OP__REGISTRY_APPLY:
        return write_once(rg, q, err);
    case DINAMO__REGISTRY_OP__REGISTRY_SCAN:
        rc = dn_lease_store_scan(rg->tables, q->table, q->key.data, q->has_key ? q->key.len : 0,
                                 add_record, &s, err);
        if (rc == DN_ERANGE)
            dn_err_set(err, rc, "SCAN of %s: the answer would exceed %u bytes", q->table,
                       DN_MSG_SIZE_MAX / 2);
        else if (rc == DN_ENOMEM)
            dn_err_set(err, rc, "SCAN of %s: out of memory", q->table);
        return rc;
    case DINAMO__REGISTRY_OP__REGISTRY_SYNC:
        return dn_store_sync(rg->store, err);
    case DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_PUT:
        return weights_put(rg, q, err);
    case DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_GET:
        rc = dn_store_weights_get(rg->store, q->histogram_key, q->version, own, &n, err);
        break;
    case DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_LATEST:
        rc = dn_store_weights_latest(rg->store, q->histogram_key, &rep->version, own, &n, err);
        rep->has_version = !rc;
        break;
    default: /* PING */
        return 0;
    }
    if (!rc) {
        rep->has_value = 1;
        rep->value.data = *own;
        rep->value.len = n;
    }
    return rc;
}

/* Reading is open to every key the ZAP handler admitted; writing (weights,
 * leases, key state) only to the trainers' role: a scorer or a person
 * cannot replace a model or take a lease. */
static int may_ask(dn_node_t *node, Dinamo__RegistryOp op, const char *peer, dn_err_t *err)
{
    int writes = op == DINAMO__REGISTRY_OP__REGISTRY_CAS ||
                 op == DINAMO__REGISTRY_OP__REGISTRY_APPLY ||
                 op == DINAMO__REGISTRY_OP__REGISTRY_SYNC ||
                 op == DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_PUT;
    int roles = dn_node_peer_roles(node, peer);
    if (writes && (roles < 0 || !(roles & DN_ROLE_WEIGHTS)))
        return dn_err_set(err, DN_EINVAL, "key '%s' is not admitted to write (the weights role)",
                          peer);
    return 0;
}

static void serve(dn_node_t *node, registry_t *rg, const dn_frames_t *in)
{
    Dinamo__RegistryRequest *q = NULL;
    dn_err_t err = {0};
    rg->requests++;
    int rc = dn_registry_request_decode(in->data[1], in->len[1], &q, &err);
    if (rc) {
        rg->refused++;
        dn_node_refused(node, "rejected message: %s", err.msg);
        /* Answered under its client and number when those can be read, so
         * that the client learns why at once instead of retrying. */
        Dinamo__RegistryRequest *raw =
            dinamo__registry_request__unpack(NULL, in->len[1], in->data[1]);
        answer_error(rg, in, raw ? raw->client : NULL, raw && raw->has_id ? raw->id : 0, rc,
                     err.msg);
        if (raw)
            dinamo__registry_request__free_unpacked(raw, NULL);
        return;
    }
    rg->by_op[q->op]++;
    Dinamo__RegistryReply rep = DINAMO__REGISTRY_REPLY__INIT;
    void *own = NULL;
    rc = may_ask(node, q->op, in->peer, &err);
    if (!rc)
        rc = execute(rg, q, &rep, &own, &err);
    rep.client = q->client;
    rep.has_id = 1, rep.id = q->id;
    rep.has_status = 1, rep.status = rc;
    int refused = rc && rc != DN_ENOTFOUND && rc != DN_ESTATE;
    dn_node_count(node, refused);
    if (refused) {
        rg->refused++;
        DN_LOG_LIMITED(DN_LOG_WARN, "rejected message: %s %s from %s: %s",
                       dn_registry_op_name(q->op),
                       q->table ? q->table : q->histogram_key ? q->histogram_key : "", q->client,
                       err.msg);
    }
    rep.error = rc ? err.msg : NULL;
    answer(rg, in, &rep);
    scan_free(&rep);
    free(own);
    dinamo__registry_request__free_unpacked(q, NULL);
}

static int on_requests(dn_node_t *node, void *self, dn_sock_t *sock, dn_err_t *err)
{
    registry_t *rg = self;
    for (int k = 0; k < REQUESTS_PER_ROUND; k++) {
        dn_frames_t in;
        int rc = dn_sock_recv_frames(sock, 0, &in, err);
        if (rc == DN_BUS_TIMEOUT)
            return 0;
        if (rc && rc != DN_EFORMAT)
            return rc;
        if (rc || in.n != 2) { /* [peer, request]: anything else is not ours */
            rg->requests++;
            rg->refused++;
            dn_node_refused(node, "rejected message: %d frames, want one request", in.n - 1);
            if (in.n >= 1)
                answer_error(rg, &in, NULL, 0, DN_EFORMAT, "one frame per request");
        } else {
            serve(node, rg, &in);
        }
        dn_frames_clear(&in);
    }
    return 0;
}

/* ---- forgetting silent clients ------------------------------------------------- */

typedef struct forget_t {
    dn_store_batch_t *batch;
    double before;
} forget_t;

static int mark_forgotten(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    forget_t *f = arg;
    if (vlen < 16 || dn_get_f64((const unsigned char *)val + 8) < f->before)
        return dn_store_batch_del(f->batch, T_CLIENTS, key, klen);
    return 0;
}

static int tick(dn_node_t *node, void *self, dn_err_t *err)
{
    (void)node;
    registry_t *rg = self;
    double now = dn_clock_wall();
    if (now - rg->last_forget < rg->forget_s / 10)
        return 0;
    rg->last_forget = now;
    forget_t f = {dn_store_batch_new(), now - rg->forget_s};
    if (!f.batch)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int rc = dn_store_foreach(rg->store, T_CLIENTS, NULL, 0, mark_forgotten, &f, err);
    if (!rc)
        rc = dn_store_apply(rg->store, f.batch, err);
    dn_store_batch_destroy(&f.batch);
    return rc;
}

/* ---- the service ------------------------------------------------------------------ */

static const dn_config_key_t keys[] = {
    {"requests", DN_CFG_STRING, "bind:tcp://127.0.0.1:5557",
     "requests of the trainers and scorer_ml (ROUTER)"},
    {"weights", DN_CFG_STRING, "connect:tcp://127.0.0.1:5556",
     "weights publication (PUB: every version stored, to scorer_ml's SUB)"},
    {"forget_s", DN_CFG_DOUBLE, "86400",
     "forget the request numbers of a client silent this long (seconds)"},
};

static int create(dn_node_t *node, void **self, dn_err_t *err)
{
    registry_t *rg = calloc(1, sizeof *rg);
    if (!rg)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    *self = rg;
    dn_sock_opts_t po = {.producer = "registry"};
    int rc = dn_node_double(node, "forget_s", 60, 1e9, &rg->forget_s, err);
    if (rc)
        return rc;
    rg->store = dn_node_store(node);
    if (!(rg->tables = dn_lease_store_lmdb(rg->store)) || !(rg->batch = dn_lease_batch_new()))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    rg->last_forget = dn_clock_wall();
    if (!(rg->pub = dn_node_socket(node, ZMQ_PUB, "weights", &po, err)) ||
        !(rg->router = dn_node_socket(node, ZMQ_ROUTER, "requests", NULL, err)))
        return err->code;
    if ((rc = dn_node_on_ready(node, rg->router, on_requests, err)))
        return rc;
    dn_log(DN_LOG_INFO, "registry: requests %s, weights %s", dn_node_str(node, "requests"),
           dn_node_str(node, "weights"));
    return 0;
}

static void destroy(void *self)
{
    registry_t *rg = self;
    if (!rg)
        return;
    dn_lease_batch_destroy(&rg->batch);
    dn_lease_store_destroy(&rg->tables);
    free(rg);
}

static void stop(dn_node_t *node, void *self)
{
    (void)node;
    registry_t *rg = self;
    dn_log(DN_LOG_INFO, "stopped: %llu requests (%llu GET, %llu CAS, %llu SCAN, "
           "%llu APPLY, %llu WEIGHTS_PUT, %llu WEIGHTS_GET/LATEST), %llu rejected, %llu "
           "repeated, %llu stale, %llu weights published, %llu answers not sent; %.3f s in "
           "WEIGHTS_PUT (%.3f s publishing)",
           (unsigned long long)rg->requests,
           (unsigned long long)rg->by_op[DINAMO__REGISTRY_OP__REGISTRY_GET],
           (unsigned long long)rg->by_op[DINAMO__REGISTRY_OP__REGISTRY_CAS],
           (unsigned long long)rg->by_op[DINAMO__REGISTRY_OP__REGISTRY_SCAN],
           (unsigned long long)rg->by_op[DINAMO__REGISTRY_OP__REGISTRY_APPLY],
           (unsigned long long)rg->by_op[DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_PUT],
           (unsigned long long)(rg->by_op[DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_GET] +
                                rg->by_op[DINAMO__REGISTRY_OP__REGISTRY_WEIGHTS_LATEST]),
           (unsigned long long)rg->refused, (unsigned long long)rg->repeated,
           (unsigned long long)rg->stale, (unsigned long long)rg->published,
           (unsigned long long)rg->send_failed, rg->put_s, rg->publish_s);
}

int main(int argc, char **argv)
{
    dn_node_def_t def = {
        .name = "registry",
        .usage = "Owns the weights, leases and key states the trainers and scorer_ml share,\n"
                 "in its own LMDB store, and answers their requests over ZeroMQ.\n",
        .keys = keys, .n_keys = sizeof keys / sizeof keys[0], .flags = DN_NODE_STORE,
        .create = create, .destroy = destroy, .tick = tick, .stop = stop,
    };
    return dn_node_main(&def, argc, argv);
}
