/* node.c: the wiring every service shares (see node.h): configuration and
 * start-up, the inputs and outputs a service makes through the node, the
 * round (work, commit, publish, acknowledge, back-pressure), the framed
 * checkpoint and its restore, and the teardown in reverse order of making.
 *
 * The node keeps what it made in small arrays (a service has a handful of
 * sockets): sockets in creation order (closed in reverse), sources, and
 * followers with the socket each reads, so that the round can pump, flush
 * and pause them without the service naming them. */
#include "node.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "blas_setup.h"
#include "clock.h"
#include "fileio.h"
#include "health.h"
#include "log.h"

#define NODE_MAX_SOCKETS 16

typedef struct input_t {
    dn_follower_t *follower;
    dn_sock_t *sub;
    dn_node_entry_fn fn;
} input_t;

typedef struct output_t {
    dn_source_t *source;
    dn_node_entry_fn on_label;
} output_t;

typedef struct handler_t {
    dn_sock_t *sock;
    dn_node_msg_fn fn;
    dn_node_ready_fn ready;     /* instead of fn: a request socket that reads itself */
} handler_t;

struct dn_node_t {
    const dn_node_def_t *def;
    void *self;                 /* the service's state */
    dn_config_t *cfg;
    dn_policy_t *policy;
    dn_store_t *store;
    dn_store_batch_t *batch;
    void *zctx;
    dn_service_t *svc;
    dn_sock_t *socks[NODE_MAX_SOCKETS];
    int n_socks;
    input_t inputs[NODE_MAX_SOCKETS];
    int n_inputs;
    output_t outputs[NODE_MAX_SOCKETS];
    int n_outputs;
    handler_t handlers[NODE_MAX_SOCKETS];
    int n_handlers;
    int dirty;
    int paused;
    /* Security (auth.h): the keyring and ZAP handler when on; what was
     * refused at the message level, and the refusal log's rate limit. */
    dn_keyring_t *keys;
    dn_zap_t *zap;
    int64_t max_bytes;
    uint64_t labels_refused;
    /* The heartbeat (health.h): its path ("" before the configuration is
     * read), what it says, and whether writing it failed last time. */
    char health_path[4096];
    dn_health_t health;
    int health_failing;
    uint64_t rounds;
    /* Waiting for space (see dn_node_commit): the refused commit is retried
     * every tick; since when, how often, the reason. */
    int space_wait, stopping;
    double space_since, space_logged;
    uint64_t space_retries;
    int64_t tick_ms;
    char space_msg[DN_ERRMSG_MAX];
};

/* ---- configuration ----------------------------------------------------------- */

int dn_node_int(dn_node_t *self, const char *key, int64_t lo, int64_t hi, int64_t *out,
                dn_err_t *err)
{
    int64_t v = 0;
    int rc = dn_config_int(self->cfg, key, &v);
    if (rc)
        return dn_err_set(err, DN_EINVAL, "key %s: not an integer key of %s", key,
                          self->def->name);
    if (v < lo || v > hi)
        return dn_err_set(err, DN_EINVAL, "%s = %lld (from %s): want %lld .. %lld", key,
                          (long long)v, dn_config_source(self->cfg, key), (long long)lo,
                          (long long)hi);
    *out = v;
    return 0;
}

int dn_node_double(dn_node_t *self, const char *key, double lo, double hi, double *out,
                   dn_err_t *err)
{
    double v = 0;
    int rc = dn_config_double(self->cfg, key, &v);
    if (rc)
        return dn_err_set(err, DN_EINVAL, "key %s: not a number key of %s", key,
                          self->def->name);
    if (!(v >= lo && v <= hi))
        return dn_err_set(err, DN_EINVAL, "%s = %g (from %s): want %g .. %g", key, v,
                          dn_config_source(self->cfg, key), lo, hi);
    *out = v;
    return 0;
}

const char *dn_node_str(dn_node_t *self, const char *key)
{
    const char *s = dn_config_str(self->cfg, key);
    return s ? s : "";
}

int dn_node_bool(dn_node_t *self, const char *key)
{
    int v = 0;
    dn_config_bool(self->cfg, key, &v);
    return v;
}

int dn_node_choice(dn_node_t *self, const char *key, const char *const *words, int n_words,
                   int *out, dn_err_t *err)
{
    const char *v = dn_node_str(self, key);
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; i < n_words; i++) {
        if (!strcmp(v, words[i])) {
            *out = i;
            return 0;
        }
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", words[i]);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    return dn_err_set(err, DN_EINVAL, "%s = '%s' (from %s): want one of %s", key, v,
                      dn_config_source(self->cfg, key), list);
}

const dn_config_t *dn_node_config(const dn_node_t *self) { return self->cfg; }
const dn_policy_t *dn_node_policy(const dn_node_t *self) { return self->policy; }
dn_store_t *dn_node_store(const dn_node_t *self) { return self->store; }
dn_service_t *dn_node_service(const dn_node_t *self) { return self->svc; }
const char *dn_node_name(const dn_node_t *self) { return self->def->name; }
const void *dn_node_arg(const dn_node_t *self) { return self->def->arg; }

int dn_node_path(const dn_node_t *self, const char *sub, char *buf, size_t cap, dn_err_t *err)
{
    const char *dir = dn_config_str(self->cfg, "data_dir");
    int n = sub && sub[0] ? snprintf(buf, cap, "%s/%s", dir, sub) : snprintf(buf, cap, "%s", dir);
    if (n < 0 || (size_t)n >= cap)
        return dn_err_set(err, DN_EINVAL, "data_dir '%s': path too long", dir);
    return 0;
}

void dn_node_touch(dn_node_t *self) { self->dirty = 1; }

void dn_node_stop(dn_node_t *self)
{
    if (self->svc)
        dn_service_stop(self->svc);
}

/* ---- inputs and outputs -------------------------------------------------------- */

dn_sock_t *dn_node_socket(dn_node_t *self, int type, const char *key,
                          const dn_sock_opts_t *opts, dn_err_t *err)
{
    if (self->n_socks == NODE_MAX_SOCKETS) {
        dn_err_set(err, DN_EINVAL, "%s: more than %d sockets", self->def->name,
                   NODE_MAX_SOCKETS);
        return NULL;
    }
    const char *endpoint = dn_config_str(self->cfg, key);
    if (!endpoint) {
        dn_err_set(err, DN_EINVAL, "%s: no endpoint key '%s'", self->def->name, key);
        return NULL;
    }
    dn_sock_opts_t secured = opts ? *opts : (dn_sock_opts_t){0};
    secured.keys = self->keys;
    secured.watch = self->zap;
    if (!secured.max_bytes)
        secured.max_bytes = self->max_bytes;
    dn_sock_t *s = dn_sock_new(self->zctx, type, endpoint, &secured, err);
    if (!s) {
        dn_err_prefix(err, "%s", key);
        return NULL;
    }
    self->socks[self->n_socks++] = s;
    return s;
}

static int on_follower_msg(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                           const dn_recv_info_t *info, void *arg)
{
    (void)info;
    dn_node_t *self = arg;
    input_t *in = NULL;
    for (int i = 0; i < self->n_inputs && !in; i++)
        if (self->inputs[i].sub == sock)
            in = &self->inputs[i];
    dn_err_t err = {0};
    int rc = dn_follower_accept(in->follower, env, &err);
    if (rc < 0)
        return dn_service_fail(svc, rc, "%s", err.msg);
    if (rc != DN_FOLLOW_DELIVER)
        return 0;
    self->dirty = 1;
    if ((rc = in->fn(self, self->self, env, &err)) < 0)
        return dn_service_fail(svc, rc, "%s", err.msg[0] ? err.msg : dn_strerror(rc));
    return 0;
}

/* A refused entry of a log is skipped by its offset (stream.h), and logged
 * once, by the follower that skipped it; a refused message without an offset
 * is left to the loop's rate-limited log. */
static int on_follower_reject(dn_service_t *svc, dn_sock_t *sock, int code,
                              const dn_recv_info_t *info, const char *why, void *arg)
{
    (void)code;
    dn_node_t *self = arg;
    input_t *in = NULL;
    for (int i = 0; i < self->n_inputs && !in; i++)
        if (self->inputs[i].sub == sock)
            in = &self->inputs[i];
    if (!in || !info->has_offset)
        return 0;
    dn_err_t err = {0};
    int rc = dn_follower_refused(in->follower, info->offset, &err);
    if (rc < 0)
        return dn_service_fail(svc, rc, "%s", err.msg);
    if (rc == DN_FOLLOW_SKIPPED) {
        self->dirty = 1; /* the checkpoint keeps next past it: skipped once, for good */
        DN_LOG_LIMITED(DN_LOG_WARN, "log %s: entry %llu skipped for good: %s",
                       dn_follower_log(in->follower), (unsigned long long)info->offset,
                       why);
    }
    return 1;
}

int dn_node_methods(dn_node_t *self, const char *key, int methods[2], dn_err_t *err)
{
    const char *text = dn_node_str(self, key);
    char list[256];
    methods[0] = methods[1] = 0;
    snprintf(list, sizeof list, "%s", text);
    for (char *save = NULL, *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (!strcmp(t, "s") || !strcmp(t, "ml"))
            methods[t[0] == 'm'] = 1;
        else
            return dn_err_set(err, DN_EINVAL, "%s = '%s': unknown method '%s' (want s, ml or "
                              "s,ml)", key, text, t);
    }
    if (!methods[0] && !methods[1])
        return dn_err_set(err, DN_EINVAL, "%s = '%s': no method (want s, ml or s,ml)", key,
                          text);
    return 0;
}

dn_follower_t *dn_node_follow(dn_node_t *self, const char *sub_key, const char *req_key,
                              const dn_follower_opts_t *opts, dn_node_entry_fn fn,
                              dn_err_t *err)
{
    dn_sock_t *sub = dn_node_socket(self, ZMQ_SUB, sub_key, NULL, err);
    dn_sock_t *push = sub ? dn_node_socket(self, ZMQ_PUSH, req_key, NULL, err) : NULL;
    if (!push)
        return NULL;
    dn_follower_t *f = dn_follower_new(sub, push, opts, err);
    if (!f)
        return NULL;
    self->inputs[self->n_inputs++] = (input_t){f, sub, fn};
    return f;
}

int dn_node_peer_roles(const dn_node_t *self, const char *peer)
{
    if (!self->keys)
        return DN_NODE_ALL_ROLES;
    return peer && peer[0] ? dn_keyring_roles(self->keys, peer) : -1;
}

void dn_node_refused(dn_node_t *self, const char *fmt, ...)
{
    static dn_log_limit_t refusals;
    dn_node_count(self, 1);
    char line[DN_LOG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    dn_log_limited(&refusals, DN_LOG_WARN, "%s", line);
}

/* A label is applied only from a key admitted to label, and records that
 * key's name as who gave it, whatever it claims, unless the key is also a
 * delegate (the dashboard): then the person it names is kept, once checked
 * (auth.h's dn_auth_label_who). Returns 1 to apply it, 0 when it was
 * refused (counted and logged), DN_ENOMEM. */
static int admit_label(dn_node_t *self, Dinamo__Envelope *env, const dn_recv_info_t *info)
{
    if (!self->keys)
        return 1;
    Dinamo__Label *l = env->label;
    const char *who = NULL;
    dn_err_t why = {0};
    if (dn_auth_label_who(dn_node_peer_roles(self, info->peer), info->peer, l->who, &who,
                          &why)) {
        self->labels_refused++;
        dn_node_refused(self, "label of run %lld from key '%s' refused: %s",
                        (long long)l->run_number, info->peer, why.msg);
        return 0;
    }
    if (who == l->who)
        return 1;
    char *copy = strdup(who);
    if (!copy)
        return DN_ENOMEM;
    free(l->who);
    l->who = copy;
    return 1;
}

static int on_source_request(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                             const dn_recv_info_t *info, void *arg)
{
    dn_node_t *self = arg;
    if (env->body_case == DINAMO__ENVELOPE__BODY_LABEL) {
        int admitted = admit_label(self, (Dinamo__Envelope *)env, info);
        if (admitted < 0)
            return dn_service_fail(svc, admitted, "requests: a label of run %lld: out of memory",
                                   (long long)env->label->run_number);
        if (!admitted)
            return 0;
    }
    output_t *out = NULL;
    for (int i = 0; i < self->n_outputs && !out; i++)
        if (self->handlers[i].sock == sock)
            out = &self->outputs[i];
    dn_err_t err = {0};
    int rc;
    if (out->on_label && env->body_case == DINAMO__ENVELOPE__BODY_LABEL)
        rc = out->on_label(self, self->self, env, &err);
    else
        rc = dn_source_on_request(out->source, env, &err);
    return rc < 0 ? dn_service_fail(svc, rc, "requests: %s", err.msg) : 0;
}

dn_source_t *dn_node_source(dn_node_t *self, const char *pub_key, const char *req_key,
                            const dn_source_opts_t *opts, dn_node_entry_fn on_label,
                            dn_err_t *err)
{
    if (!self->store) {
        dn_err_set(err, DN_EINVAL, "%s: a source needs the node's store", self->def->name);
        return NULL;
    }
    dn_sock_t *pub = dn_node_socket(self, ZMQ_PUB, pub_key, NULL, err);
    dn_sock_t *pull = pub ? dn_node_socket(self, ZMQ_PULL, req_key, NULL, err) : NULL;
    if (!pull)
        return NULL;
    dn_source_t *s = dn_source_new(self->store, pub, opts, err);
    if (!s)
        return NULL;
    /* outputs[i] pairs with handlers[i]: the request socket it answers. */
    int i = self->n_outputs;
    if (i != self->n_handlers) {
        dn_source_destroy(&s);
        dn_err_set(err, DN_EINVAL, "%s: make sources before plain handlers (dn_node_on)",
                   self->def->name);
        return NULL;
    }
    self->outputs[self->n_outputs++] = (output_t){s, on_label};
    self->handlers[self->n_handlers++] = (handler_t){pull, NULL, NULL};
    return s;
}

static int on_plain_msg(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                        const dn_recv_info_t *info, void *arg)
{
    (void)info;
    dn_node_t *self = arg;
    for (int i = self->n_outputs; i < self->n_handlers; i++)
        if (self->handlers[i].sock == sock) {
            dn_err_t err = {0};
            int rc = self->handlers[i].fn(self, self->self, env, &err);
            return rc < 0 ? dn_service_fail(svc, rc, "%s", err.msg) : 0;
        }
    return 0;
}

int dn_node_on(dn_node_t *self, dn_sock_t *sock, dn_node_msg_fn fn, dn_err_t *err)
{
    if (!fn || self->n_handlers == NODE_MAX_SOCKETS)
        return dn_err_set(err, DN_EINVAL, "%s: bad handler", self->def->name);
    self->handlers[self->n_handlers++] = (handler_t){sock, fn, NULL};
    return 0;
}

void dn_node_progress(dn_node_t *self, uint64_t runs, uint64_t total)
{
    self->health.runs = runs;
    self->health.total = total;
}

void dn_node_count(dn_node_t *self, int rejected)
{
    if (self->svc)
        dn_service_count(self->svc, !rejected, rejected != 0);
}

static int on_ready(dn_service_t *svc, dn_sock_t *sock, void *arg)
{
    dn_node_t *self = arg;
    for (int i = self->n_outputs; i < self->n_handlers; i++)
        if (self->handlers[i].sock == sock) {
            dn_err_t err = {0};
            int rc = self->handlers[i].ready(self, self->self, sock, &err);
            return rc < 0 ? dn_service_fail(svc, rc, "%s", err.msg) : 0;
        }
    return 0;
}

int dn_node_on_ready(dn_node_t *self, dn_sock_t *sock, dn_node_ready_fn fn, dn_err_t *err)
{
    if (!fn || !sock || self->n_handlers == NODE_MAX_SOCKETS)
        return dn_err_set(err, DN_EINVAL, "%s: bad handler", self->def->name);
    self->handlers[self->n_handlers++] = (handler_t){sock, NULL, fn};
    return 0;
}

/* ---- commit, round, tick, shutdown ----------------------------------------------- */

static int pending_entries(const dn_node_t *self)
{
    for (int i = 0; i < self->n_outputs; i++) {
        dn_source_stats_t st = dn_source_stats(self->outputs[i].source);
        if (st.head > st.committed)
            return 1;
    }
    return 0;
}

static int stage_checkpoint(dn_node_t *self)
{
    const dn_node_def_t *def = self->def;
    dn_wbuf_t w = {0};
    dn_wb_bytes(&w, def->ckpt_magic, 4);
    dn_wb_u32(&w, def->ckpt_version);
    dn_wb_u32(&w, (uint32_t)self->n_inputs);
    for (int i = 0; i < self->n_inputs; i++)
        dn_wb_u64(&w, dn_follower_next(self->inputs[i].follower));
    def->save(self->self, &w);
    int rc = w.oom ? DN_ENOMEM
                   : dn_store_batch_checkpoint(self->batch, def->name, w.p, w.len, NULL);
    free(w.p);
    return rc;
}

static void write_health(dn_node_t *self, dn_health_state_t state, const char *detail);

/* Stops (on != 0) or resumes reading every socket whose messages change the
 * service's state: followed logs (which stay paused while an output has no
 * room), plain and readiness handlers, and request sockets that take labels.
 * Followers' ACKs and REWINDs to the sources go on being read. */
static void pause_for_space(dn_node_t *self, int on)
{
    if (!self->svc)
        return;
    for (int i = 0; i < self->n_inputs; i++)
        dn_service_pause(self->svc, self->inputs[i].sub, on || self->paused);
    for (int i = 0; i < self->n_handlers; i++)
        if (i >= self->n_outputs || self->outputs[i].on_label)
            dn_service_pause(self->svc, self->handlers[i].sock, on);
}

/* A commit refused for want of space: the first time, the wait starts (log,
 * inputs paused, heartbeat); later, a reminder every minute. Not while
 * stopping: the error stops the service. */
static void space_refused(dn_node_t *self, const dn_err_t *err)
{
    if (self->stopping)
        return;
    double now = dn_clock_mono();
    snprintf(self->space_msg, sizeof self->space_msg, "%s", err->msg);
    if (!self->space_wait) {
        self->space_wait = 1;
        self->space_since = self->space_logged = now;
        self->space_retries = 0;
        dn_log(DN_LOG_WARN, "%s; waiting for space: the commit is retried every %lld ms, "
               "inputs paused, nothing lost (the last commit stands)", err->msg,
               (long long)self->tick_ms);
        pause_for_space(self, 1);
    } else {
        self->space_retries++;
        if (now - self->space_logged >= 60.0) {
            self->space_logged = now;
            dn_log(DN_LOG_WARN, "%s; still waiting for space after %.0f s (%llu retries)",
                   err->msg, now - self->space_since, (unsigned long long)self->space_retries);
        }
    }
    char detail[DN_ERRMSG_MAX + 32];
    snprintf(detail, sizeof detail, "waiting for space: %s", err->msg);
    write_health(self, DN_HEALTH_RUNNING, detail);
}

/* Commits the round's batch. A batch refused is built again for the retry:
 * the sources and def->stage add again whatever is not committed yet, so it
 * is the commit that failed plus anything changed since (nothing, normally:
 * while waiting, no work is done and the inputs are paused), and nothing is
 * marked committed that was not in it. */
int dn_node_commit(dn_node_t *self, dn_err_t *err)
{
    const dn_node_def_t *def = self->def;
    if (!self->store || (!self->dirty && !pending_entries(self) && !self->space_wait))
        return 0;
    dn_store_batch_clear(self->batch);
    int rc = 0;
    for (int i = 0; i < self->n_outputs && !rc; i++)
        rc = dn_source_stage(self->outputs[i].source, self->batch);
    if (!rc && def->save)
        rc = stage_checkpoint(self);
    if (!rc && def->stage)
        rc = def->stage(self->self, self->batch);
    if (rc)
        return dn_err_set(err, rc, "cannot build the commit batch: %s", dn_strerror(rc));
    if ((rc = dn_store_apply(self->store, self->batch, err))) {
        if (rc == DN_ENOSPACE)
            space_refused(self, err);
        return rc;
    }
    if (self->space_wait) {
        self->space_wait = 0;
        dn_log(DN_LOG_INFO, "the commit went through after waiting %.1f s for space "
               "(%llu retries; it was: %s); resuming", dn_clock_mono() - self->space_since,
               (unsigned long long)self->space_retries, self->space_msg);
        pause_for_space(self, 0);
    }
    for (int i = 0; i < self->n_outputs; i++)
        dn_source_committed(self->outputs[i].source);
    if (def->committed)
        def->committed(self->self);
    self->dirty = 0;
    return 0;
}

/* Replaces the heartbeat with the node's counters in state `state`. A failure
 * is logged when it starts and when it ends, and never stops the service: the
 * heartbeat going stale is how a watcher learns of it. */
static void write_health(dn_node_t *self, dn_health_state_t state, const char *detail)
{
    if (!self->health_path[0])
        return;
    dn_health_t *h = &self->health;
    h->state = state;
    h->time = dn_clock_wall();
    h->rounds = self->rounds;
    if (self->svc) {
        dn_service_stats_t st = dn_service_stats(self->svc);
        h->in = st.handled;
        h->rejected = st.rejected;
    }
    h->out = 0;
    for (int i = 0; i < self->n_outputs; i++)
        h->out += dn_source_head(self->outputs[i].source);
    h->warnings = dn_log_count(DN_LOG_WARN);
    h->errors = dn_log_count(DN_LOG_ERROR);
    snprintf(h->detail, sizeof h->detail, "%s", detail ? detail : "");
    dn_err_t err = {0};
    int rc = dn_health_write(self->health_path, h, &err);
    if (rc && !self->health_failing)
        dn_log(DN_LOG_WARN, "cannot write the heartbeat: %s", err.msg);
    else if (!rc && self->health_failing)
        dn_log(DN_LOG_INFO, "heartbeat %s written again", self->health_path);
    self->health_failing = rc != 0;
}

/* The heartbeat's path (health_file, else <data_dir>/<name>/health), its
 * directory made, and the first heartbeat: starting. */
static int start_health(dn_node_t *self, int64_t tick_ms, dn_err_t *err)
{
    const char *file = dn_node_str(self, "health_file");
    char sub[256];
    snprintf(sub, sizeof sub, "%s/health", self->def->name);
    int rc = file[0] ? (snprintf(self->health_path, sizeof self->health_path, "%s", file) >=
                                (int)sizeof self->health_path
                            ? dn_err_set(err, DN_EINVAL, "health_file: path too long")
                            : 0)
                     : dn_node_path(self, sub, self->health_path, sizeof self->health_path, err);
    if (rc)
        return rc;
    char dir[sizeof self->health_path];
    snprintf(dir, sizeof dir, "%s", self->health_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if ((rc = dn_mkdirs(dir, err)))
            return dn_err_prefix(err, "health_file");
    }
    dn_health_t *h = &self->health;
    snprintf(h->service, sizeof h->service, "%s", self->def->name);
    h->started = dn_clock_wall();
    h->pid = (int64_t)getpid();
    h->tick_ms = tick_ms;
    write_health(self, DN_HEALTH_STARTING, NULL);
    return 0;
}

/* Followed logs wait while an output has no room: the backlog stays upstream. */
static void apply_back_pressure(dn_node_t *self)
{
    int pause = 0;
    for (int i = 0; i < self->n_outputs; i++)
        pause |= dn_source_room(self->outputs[i].source) == 0;
    if (pause == self->paused)
        return;
    for (int i = 0; i < self->n_inputs; i++)
        dn_service_pause(self->svc, self->inputs[i].sub, pause);
    self->paused = pause;
}

static int on_round(dn_service_t *svc, void *arg)
{
    dn_node_t *self = arg;
    dn_err_t err = {0};
    int wait_ms = DN_SERVICE_POLL_MAX_MS;
    self->rounds++;
    int rc = 0;
    /* While waiting for space no work is done (the tick retries the commit);
     * committed entries are still published and followers still acknowledge
     * (their position stands still, so upstream sources hold back). */
    if (!self->space_wait) {
        rc = self->def->round ? self->def->round(self, self->self, &wait_ms, &err) : 0;
        if (!rc)
            rc = dn_node_commit(self, &err);
        if (rc == DN_ENOSPACE && self->space_wait)
            rc = 0;
    }
    for (int i = 0; i < self->n_outputs && !rc; i++)
        rc = dn_source_pump(self->outputs[i].source, &err);
    for (int i = 0; i < self->n_inputs && !rc; i++)
        rc = dn_follower_flush(self->inputs[i].follower, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg[0] ? err.msg : dn_strerror(rc));
    if (self->space_wait)
        return DN_SERVICE_POLL_MAX_MS;
    apply_back_pressure(self);
    for (int i = 0; i < self->n_outputs; i++)
        if (dn_source_backlog(self->outputs[i].source) &&
            dn_source_room(self->outputs[i].source) > 0)
            wait_ms = 0;
    return wait_ms < 0 ? 0 : wait_ms;
}

static int on_tick(dn_service_t *svc, void *arg)
{
    dn_node_t *self = arg;
    dn_err_t err = {0};
    if (self->space_wait) {
        int rc = dn_node_commit(self, &err);
        if (rc == DN_ENOSPACE)
            return 0;
        if (rc)
            return dn_service_fail(svc, rc, "%s", err.msg);
    }
    int rc = self->store ? dn_store_sync(self->store, &err) : 0;
    if (!rc && self->def->tick)
        rc = self->def->tick(self, self->self, &err);
    if (!rc)
        write_health(self, DN_HEALTH_RUNNING, NULL);
    return rc < 0 ? dn_service_fail(svc, rc, "%s", err.msg[0] ? err.msg : dn_strerror(rc)) : 0;
}

static int on_shutdown(dn_service_t *svc, void *arg)
{
    dn_node_t *self = arg;
    dn_err_t err = {0};
    /* Waiting for space: one last try of the refused commit before any more
     * work; if it fails the service stops with it (exit status 1), its store
     * at the last commit, from which a restart carries on. */
    self->stopping = 1;
    int rc = self->space_wait ? dn_node_commit(self, &err) : 0;
    if (!rc && self->def->finish)
        rc = self->def->finish(self, self->self, &err);
    if (!rc)
        rc = dn_node_commit(self, &err);
    if (!rc && self->store)
        rc = dn_store_sync(self->store, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    if (self->def->stop)
        self->def->stop(self, self->self);
    if (self->zap) {
        dn_zap_stats_t z = dn_zap_stats(self->zap);
        dn_log(DN_LOG_INFO, "security: %llu connections admitted, %llu refused (%llu unknown "
               "key, %llu without CURVE, %llu not admitted for the role), %llu labels refused",
               (unsigned long long)z.admitted,
               (unsigned long long)(z.refused_unknown + z.refused_role + z.refused_handshake),
               (unsigned long long)z.refused_unknown, (unsigned long long)z.refused_handshake,
               (unsigned long long)z.refused_role, (unsigned long long)self->labels_refused);
    }
    return 0;
}

/* ---- start --------------------------------------------------------------------- */

/* Reads the framed checkpoint back: followers' offsets, then def->load. */
static int restore(dn_node_t *self, dn_err_t *err)
{
    const dn_node_def_t *def = self->def;
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_store_checkpoint_read(self->store, def->name, &blob, &len, NULL, err);
    if (rc == DN_ENOTFOUND) {
        for (int i = 0; i < self->n_outputs; i++)
            if (dn_source_head(self->outputs[i].source) != 0)
                return dn_err_set(err, DN_EFORMAT, "its log holds %llu entries but there is "
                                  "no %s checkpoint: not this service's, refusing to append "
                                  "to it", (unsigned long long)dn_source_head(
                                      self->outputs[i].source), def->name);
        return 0;
    }
    if (rc)
        return rc;
    dn_rbuf_t r;
    uint64_t next[NODE_MAX_SOCKETS];
    rc = dn_node_checkpoint_open(def, blob, len, self->n_inputs, next, &r, err);
    if (!rc) {
        for (int i = 0; i < self->n_inputs; i++)
            dn_follower_set_next(self->inputs[i].follower, next[i]);
        rc = def->load ? def->load(self, self->self, &r, err) : 0;
        if (!rc && r.bad)
            rc = dn_err_set(err, DN_EFORMAT, "checkpoint %s: truncated", def->name);
    }
    free(blob);
    return rc;
}

/* Security on: the keyring of keys_dir with this service's identity, and
 * the ZAP handler, before any socket exists (a CURVE server bound without a
 * handler would admit every client). Off: said at every start. */
static int start_security(dn_node_t *self, dn_err_t *err)
{
    static const char *const words[] = {"on", "off"};
    int off, rc;
    if ((rc = dn_node_choice(self, "security", words, 2, &off, err)) ||
        (rc = dn_node_int(self, "max_message_bytes", 1024, (int64_t)DN_MSG_SIZE_MAX + 4096,
                          &self->max_bytes, err)))
        return rc;
    if (off) {
        dn_log(DN_LOG_WARN, "security = off (from %s): any process that reaches this "
               "service's ports can send it runs, labels and weights",
               dn_config_source(self->cfg, "security"));
        return 0;
    }
    const char *dir = dn_node_str(self, "keys_dir");
    const char *identity = dn_node_str(self, "identity");
    if (!identity[0])
        identity = self->def->name;
    if (!(self->keys = dn_keyring_load(dir, identity, err)))
        return dn_err_prefix(err, "security"), err->code;
    if (!(self->zap = dn_zap_start(self->zctx, self->keys, err)))
        return err->code;
    dn_log(DN_LOG_INFO, "security: CURVE, identity '%s', keys from %s", identity, dir);
    return 0;
}

int dn_node_checkpoint_open(const dn_node_def_t *def, const void *blob, size_t len,
                            int n_inputs, uint64_t *next, dn_rbuf_t *body, dn_err_t *err)
{
    dn_rbuf_t r = {blob, len, 0, 0};
    const unsigned char *magic = dn_rb_take(&r, 4);
    uint32_t version = dn_rb_u32(&r), n = dn_rb_u32(&r);
    uint32_t oldest = def->ckpt_version_min ? def->ckpt_version_min : def->ckpt_version;
    if (!magic || memcmp(magic, def->ckpt_magic, 4) || version > def->ckpt_version ||
        version < oldest)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: not a version %u %.4s checkpoint "
                          "(written by another version of dinamo? use another data_dir)",
                          def->name, def->ckpt_version, def->ckpt_magic);
    if (r.bad || n != (uint32_t)n_inputs)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: %u followed logs, the service "
                          "follows %d", def->name, n, n_inputs);
    for (int i = 0; i < n_inputs; i++)
        next[i] = dn_rb_u64(&r);
    if (r.bad)
        return dn_err_set(err, DN_EFORMAT, "checkpoint %s: truncated", def->name);
    *body = r;
    return 0;
}

/* Everything up to the loop: config, log, policy, signals, store, sockets,
 * the service's state, the restore, the service loop's callbacks. */
static int start(dn_node_t *self, dn_err_t *err)
{
    const dn_node_def_t *def = self->def;
    int rc;
    if ((rc = dn_log_init(def->name, dn_config_str(self->cfg, "log_level"), err)))
        return rc;
    if (!(self->policy = dn_policy_from_config(self->cfg, err)))
        return err->code;
    int64_t tick_ms;
    if ((rc = dn_node_int(self, "tick_ms", 1, 3600000, &tick_ms, err)))
        return rc;
    self->tick_ms = tick_ms;
    if ((rc = start_health(self, tick_ms, err)))
        return rc;
    if ((rc = dn_service_install_signals(err)))
        return rc;
    if (def->flags & DN_NODE_STORE) {
        char path[4096];
        if ((rc = dn_node_path(self, def->name, path, sizeof path, err)))
            return rc;
        if (!(self->store = dn_store_open(path, DN_STORE_NOSYNC, 0, err)))
            return err->code;
        if (!(self->batch = dn_store_batch_new()))
            return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    if (!(self->zctx = zmq_ctx_new()))
        return dn_err_set(err, DN_EIO, "zmq_ctx_new: %s", strerror(errno));
    if ((rc = start_security(self, err)))
        return rc;
    if ((rc = def->create(self, &self->self, err)))
        return rc;
    int64_t producers_max;
    if ((rc = dn_node_int(self, "producers_max", 1, 1 << 24, &producers_max, err)))
        return rc;
    for (int i = 0; i < self->n_socks; i++) /* bounded whatever names arrive (issue 17) */
        dn_seq_tracker_set_max(dn_sock_tracker(self->socks[i]), (size_t)producers_max);
    if (def->save && (rc = restore(self, err)))
        return rc;
    if (!(self->svc = dn_service_new(def->name, err)))
        return err->code;
    for (int i = 0; i < self->n_inputs && !rc; i++)
        if (!(rc = dn_service_add_socket(self->svc, self->inputs[i].sub, on_follower_msg, self)))
            rc = dn_service_on_reject(self->svc, self->inputs[i].sub, on_follower_reject);
    for (int i = 0; i < self->n_handlers && !rc; i++)
        rc = self->handlers[i].ready
                 ? dn_service_add_ready(self->svc, self->handlers[i].sock, on_ready, self)
                 : dn_service_add_socket(self->svc, self->handlers[i].sock,
                                         i < self->n_outputs ? on_source_request : on_plain_msg,
                                         self);
    if (!rc)
        rc = dn_service_set_tick(self->svc, (int)tick_ms, on_tick, self);
    if (rc)
        return dn_err_set(err, rc, "%s: cannot register the sockets", def->name);
    dn_service_set_round(self->svc, on_round, self);
    dn_service_set_shutdown(self->svc, on_shutdown, self);
    return 0;
}

/* Everything in reverse: the service's state first (it borrows the rest). */
static void teardown(dn_node_t *self)
{
    dn_service_destroy(&self->svc);
    if (self->self && self->def->destroy)
        self->def->destroy(self->self);
    for (int i = 0; i < self->n_inputs; i++)
        dn_follower_destroy(&self->inputs[i].follower);
    for (int i = 0; i < self->n_outputs; i++)
        dn_source_destroy(&self->outputs[i].source);
    for (int i = self->n_socks - 1; i >= 0; i--)
        dn_sock_destroy(&self->socks[i]);
    if (self->zctx && self->zap) {
        zmq_ctx_shutdown(self->zctx); /* ends the ZAP handler's wait */
        dn_zap_stop(&self->zap);
    }
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    dn_keyring_destroy(&self->keys);
    dn_store_batch_destroy(&self->batch);
    dn_store_destroy(&self->store);
    dn_policy_destroy(&self->policy);
    dn_config_destroy(&self->cfg);
}

int dn_node_main(const dn_node_def_t *def, int argc, char **argv)
{
    if (def->flags & DN_NODE_BLAS)
        dn_blas_init(argc, argv, 0);
    dn_err_t err = {0};
    dn_node_t node;
    memset(&node, 0, sizeof node);
    node.def = def;
    int rc;
    if (!(node.cfg = dn_config_new(def->name, def->keys, def->n_keys, &err))) {
        rc = err.code;
        goto fail;
    }
    rc = dn_config_load(node.cfg, argc, argv, &err);
    if (rc == DN_CONFIG_HELP) {
        printf("usage: %s [--config FILE] [--key value ...]\n%s", def->name,
               def->usage ? def->usage : "");
        dn_config_usage(node.cfg, stdout);
        dn_config_destroy(&node.cfg);
        return 0;
    }
    if (rc || (rc = start(&node, &err)))
        goto fail;
    write_health(&node, DN_HEALTH_RUNNING, NULL);
    rc = dn_service_run(node.svc, &err);
fail:
    if (rc)
        dn_log(DN_LOG_ERROR, "%s: %s", def->name, err.msg[0] ? err.msg : dn_strerror(rc));
    write_health(&node, rc ? DN_HEALTH_FAILED : DN_HEALTH_STOPPED,
                 rc ? (err.msg[0] ? err.msg : dn_strerror(rc)) : NULL);
    teardown(&node);
    return rc ? 1 : 0;
}
