/* bus.c: ZeroMQ sockets carrying envelopes as [topic, payload] (see bus.h).
 *
 * Waiting is done with zmq_poll on the one socket followed by a non-blocking
 * send or receive, looping until the deadline: that gives a timeout per call
 * without changing socket options per call, and a signal (EINTR) ends the wait
 * early so a service notices SIGTERM even while blocked on a full PUSH.
 *
 * A multipart send is atomic in ZeroMQ: once the first frame is accepted under
 * the HWM the second is too, so only the first frame can time out. */
#include "bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define ENDPOINT_MAX 512

/* Sequence families: a subscriber filters at this granularity (or coarser),
 * so numbering each family separately keeps its sequence contiguous. */
enum { FAM_RUN, FAM_LABEL_GOOD, FAM_LABEL_BAD, FAM_SCORE_S, FAM_SCORE_ML, FAM_WEIGHTS,
       FAM_CONTROL, FAM_THRESHOLD, FAM__N };
static const char *const family_names[FAM__N] = {
    "run", "label/good", "label/bad", "score/S", "score/ML", "weights", "control", "threshold",
};

struct dn_sock_t {
    void *zsock;
    int type;
    int secured;          /* a CURVE server: messages carry their sender's key name */
    char *producer[FAM__N]; /* "name|family"; NULL: no stamping */
    uint64_t incarnation;
    uint64_t next_seq[FAM__N];
    char last_endpoint[ENDPOINT_MAX];
    dn_seq_tracker_t *tracker;
    dn_sock_stats_t stats;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *type_name(int type)
{
    switch (type) {
    case ZMQ_PUSH: return "PUSH";
    case ZMQ_PULL: return "PULL";
    case ZMQ_PUB: return "PUB";
    case ZMQ_SUB: return "SUB";
    case ZMQ_ROUTER: return "ROUTER";
    case ZMQ_DEALER: return "DEALER";
    default: return "?";
    }
}

static int zmq_fail(dn_err_t *err, const char *what, const char *ep)
{
    return dn_err_set(err, DN_EIO, "%s%s%s: %s", what, ep ? " " : "", ep ? ep : "",
                      zmq_strerror(zmq_errno()));
}

/* One item of an endpoint list: bind or connect, the ZeroMQ endpoint, and
 * the server key name of a connect ("connect:NAME@tcp://...", "" if none). */
typedef struct endpoint_t {
    int bind;
    char server[DN_AUTH_NAME_MAX];
    char ep[ENDPOINT_MAX];
} endpoint_t;

static int parse_endpoint(const char *item, endpoint_t *e, dn_err_t *err)
{
    const char *ep;
    memset(e, 0, sizeof *e);
    if (strncmp(item, "bind:", 5) == 0) {
        e->bind = 1, ep = item + 5;
    } else if (strncmp(item, "connect:", 8) == 0) {
        e->bind = 0, ep = item + 8;
    } else if (item[0] == '@' || item[0] == '>') {
        e->bind = item[0] == '@', ep = item + 1;
    } else {
        return dn_err_set(err, DN_EINVAL, "endpoint '%s': say bind: or connect:", item);
    }
    const char *scheme = strstr(ep, "://");
    if (!scheme)
        return dn_err_set(err, DN_EINVAL, "endpoint '%s': no transport (tcp://, ipc://, "
                          "inproc://)", item);
    const char *at = memchr(ep, '@', (size_t)(scheme - ep));
    if (at) {
        size_t n = (size_t)(at - ep);
        if (e->bind || n == 0 || n >= sizeof e->server)
            return dn_err_set(err, DN_EINVAL, "endpoint '%s': a server key name belongs to "
                              "a connect, 1 to %d bytes", item, DN_AUTH_NAME_MAX - 1);
        memcpy(e->server, ep, n);
        ep = at + 1;
    }
    snprintf(e->ep, sizeof e->ep, "%s", ep);
    return 0;
}

/* Calls each endpoint of spec in turn (fn NULL: only checks the list);
 * *n_bind and *n_connect count them. */
static int each_endpoint(dn_sock_t *self, const char *spec, const dn_sock_opts_t *opts,
                         int (*fn)(dn_sock_t *, const endpoint_t *, const dn_sock_opts_t *,
                                   dn_err_t *),
                         int *n_bind, int *n_connect, dn_err_t *err)
{
    const char *p = spec;
    *n_bind = *n_connect = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[ENDPOINT_MAX];
        if (len == 0 || len >= sizeof item)
            return dn_err_set(err, DN_EINVAL, "endpoint list '%s': empty or too long item", spec);
        memcpy(item, p, len);
        item[len] = '\0';
        endpoint_t e;
        int rc = parse_endpoint(item, &e, err);
        if (!rc && fn)
            rc = fn(self, &e, opts, err);
        if (rc)
            return rc;
        ++*(e.bind ? n_bind : n_connect);
        p += len;
        if (*p == ',')
            p++;
    }
    if (*n_bind + *n_connect == 0)
        return dn_err_set(err, DN_EINVAL, "empty endpoint list");
    return 0;
}

static int attach_one(dn_sock_t *self, const endpoint_t *e, const dn_sock_opts_t *opts,
                      dn_err_t *err)
{
    if (e->bind) {
        if (zmq_bind(self->zsock, e->ep))
            return zmq_fail(err, "bind", e->ep);
        size_t cap = sizeof self->last_endpoint;
        if (zmq_getsockopt(self->zsock, ZMQ_LAST_ENDPOINT, self->last_endpoint, &cap))
            snprintf(self->last_endpoint, sizeof self->last_endpoint, "%s", e->ep);
        return 0;
    }
    if (opts->keys) {
        /* The server key option is read at connect time: each endpoint may
         * name a server of its own. */
        const uint8_t *server = e->server[0] ? dn_keyring_public(opts->keys, e->server) : NULL;
        if (!e->server[0])
            return dn_err_set(err, DN_EINVAL, "connect %s: security is on: name the server's "
                              "key (connect:NAME@%s)", e->ep, e->ep);
        if (!server)
            return dn_err_set(err, DN_EINVAL, "connect %s: no key '%s' in the keys directory",
                              e->ep, e->server);
        if (zmq_setsockopt(self->zsock, ZMQ_CURVE_SERVERKEY, server, 32))
            return zmq_fail(err, "set the server key of", e->ep);
    }
    if (zmq_connect(self->zsock, e->ep))
        return zmq_fail(err, "connect", e->ep);
    return 0;
}

/* Makes the socket a CURVE server (it binds) or client (it connects). */
static int secure(dn_sock_t *self, const dn_sock_opts_t *opts, int binds, dn_err_t *err)
{
    const uint8_t *pub = dn_keyring_own_public(opts->keys);
    const uint8_t *sec = dn_keyring_own_secret(opts->keys);
    if (!pub)
        return dn_err_set(err, DN_EINVAL, "security: the keyring has no identity of its own");
    if (binds) {
        int one = 1;
        char domain[128];
        dn_auth_domain(opts->admit, domain, sizeof domain);
        if (zmq_setsockopt(self->zsock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
            zmq_setsockopt(self->zsock, ZMQ_CURVE_SECRETKEY, sec, 32) ||
            zmq_setsockopt(self->zsock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)))
            return zmq_fail(err, "make a CURVE server of", type_name(self->type));
        self->secured = 1; /* only a server's messages carry the ZAP handler's User-Id */
        return opts->watch ? dn_zap_watch(opts->watch, self->zsock, err) : 0;
    }
    if (zmq_setsockopt(self->zsock, ZMQ_CURVE_PUBLICKEY, pub, 32) ||
        zmq_setsockopt(self->zsock, ZMQ_CURVE_SECRETKEY, sec, 32))
        return zmq_fail(err, "make a CURVE client of", type_name(self->type));
    return 0;
}

/* Binds or connects every comma-separated endpoint of spec, secured first
 * when opts has a keyring. */
static int attach(dn_sock_t *self, const char *spec, const dn_sock_opts_t *opts, dn_err_t *err)
{
    int n_bind, n_connect;
    int rc = each_endpoint(self, spec, opts, NULL, &n_bind, &n_connect, err);
    if (rc)
        return rc;
    if (opts->keys) {
        if (n_bind && n_connect)
            return dn_err_set(err, DN_EINVAL, "endpoint list '%s': security is on: a socket "
                              "either binds or connects", spec);
        if ((rc = secure(self, opts, n_bind > 0, err)))
            return rc;
    }
    return each_endpoint(self, spec, opts, attach_one, &n_bind, &n_connect, err);
}

dn_sock_t *dn_sock_new(void *zctx, int type, const char *endpoints, const dn_sock_opts_t *opts,
                       dn_err_t *err)
{
    dn_sock_opts_t none = {0};
    if (!opts)
        opts = &none;
    if (!zctx || !endpoints ||
        (type != ZMQ_PUSH && type != ZMQ_PULL && type != ZMQ_PUB && type != ZMQ_SUB &&
         type != ZMQ_ROUTER && type != ZMQ_DEALER)) {
        dn_err_set(err, DN_EINVAL, "socket: no context, no endpoints or unsupported type %d",
                   type);
        return NULL;
    }
    dn_sock_t *self = calloc(1, sizeof *self);
    if (!self || !(self->tracker = dn_seq_tracker_new())) {
        dn_err_set(err, DN_ENOMEM, "socket: out of memory");
        goto fail;
    }
    if (opts->producer) {
        size_t n = strlen(opts->producer);
        if (n == 0 || n > DN_MSG_KEY_MAX - 16) {
            dn_err_set(err, DN_EINVAL, "socket: producer name of %zu bytes", n);
            goto fail;
        }
        for (int f = 0; f < FAM__N; f++) {
            size_t len = n + strlen(family_names[f]) + 2;
            if (!(self->producer[f] = malloc(len))) {
                dn_err_set(err, DN_ENOMEM, "socket: out of memory");
                goto fail;
            }
            snprintf(self->producer[f], len, "%s|%s", opts->producer, family_names[f]);
        }
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    self->incarnation = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    self->type = type;
    if (!(self->zsock = zmq_socket(zctx, type))) {
        zmq_fail(err, "socket", type_name(type));
        goto fail;
    }
    int sndhwm = opts->sndhwm > 0 ? opts->sndhwm : 1000;
    int rcvhwm = opts->rcvhwm > 0 ? opts->rcvhwm : 1000;
    int linger = opts->linger_ms == 0 ? 1000 : opts->linger_ms < 0 ? -1 : opts->linger_ms;
    int64_t maxsize = opts->max_bytes > 0 ? opts->max_bytes
                                          : (int64_t)DN_MSG_SIZE_MAX + DN_BUS_TOPIC_MAX;
    if (zmq_setsockopt(self->zsock, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) ||
        zmq_setsockopt(self->zsock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) ||
        zmq_setsockopt(self->zsock, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(self->zsock, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize)) {
        zmq_fail(err, "set socket options on", type_name(type));
        goto fail;
    }
    if (type == ZMQ_SUB) {
        if (!opts->subscribe) {
            if (zmq_setsockopt(self->zsock, ZMQ_SUBSCRIBE, "", 0)) {
                zmq_fail(err, "subscribe", NULL);
                goto fail;
            }
        } else {
            for (const char *const *s = opts->subscribe; *s; s++)
                if (dn_sock_subscribe(self, *s, err))
                    goto fail;
        }
    }
    if (attach(self, endpoints, opts, err))
        goto fail;
    return self;
fail:
    dn_sock_destroy(&self);
    return NULL;
}

void dn_sock_destroy(dn_sock_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_sock_t *self = *self_p;
    if (self->zsock)
        zmq_close(self->zsock);
    dn_seq_tracker_destroy(&self->tracker);
    for (int f = 0; f < FAM__N; f++)
        free(self->producer[f]);
    free(self);
    *self_p = NULL;
}

void *dn_sock_handle(dn_sock_t *self)
{
    return self->zsock;
}

int dn_sock_type(const dn_sock_t *self)
{
    return self->type;
}

const char *dn_sock_endpoint(const dn_sock_t *self)
{
    return self->last_endpoint;
}

int dn_sock_subscribe(dn_sock_t *self, const char *prefix, dn_err_t *err)
{
    if (self->type != ZMQ_SUB || !prefix)
        return dn_err_set(err, DN_EINVAL, "subscribe: not a SUB socket");
    if (zmq_setsockopt(self->zsock, ZMQ_SUBSCRIBE, prefix, strlen(prefix)))
        return zmq_fail(err, "subscribe", prefix);
    return 0;
}

dn_sock_stats_t dn_sock_stats(const dn_sock_t *self)
{
    dn_sock_stats_t s = self->stats;
    s.seq = dn_seq_tracker_totals(self->tracker);
    return s;
}

dn_seq_tracker_t *dn_sock_tracker(dn_sock_t *self)
{
    return self->tracker;
}

/* Waits until the socket has `events` or the deadline (< 0: none) passes.
 * 0 ready, DN_BUS_TIMEOUT, or DN_EIO. */
static int wait_for(dn_sock_t *self, short events, int timeout_ms, int64_t start, dn_err_t *err)
{
    long left = -1;
    if (timeout_ms >= 0) {
        left = timeout_ms - (long)(now_ms() - start);
        if (left <= 0)
            return DN_BUS_TIMEOUT;
    }
    zmq_pollitem_t item = {self->zsock, 0, events, 0};
    int rc = zmq_poll(&item, 1, left);
    if (rc < 0) {
        if (zmq_errno() == EINTR)
            return DN_BUS_TIMEOUT;
        return zmq_fail(err, "poll", NULL);
    }
    return rc == 0 ? DN_BUS_TIMEOUT : 0;
}

int dn_sock_send_raw(dn_sock_t *self, const char *topic, const void *payload, size_t len,
                     int timeout_ms, dn_err_t *err)
{
    if (self->type != ZMQ_PUSH && self->type != ZMQ_PUB)
        return dn_err_set(err, DN_EINVAL, "send on a %s socket", type_name(self->type));
    int64_t start = now_ms();
    for (;;) {
        int rc = topic ? zmq_send(self->zsock, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT)
                       : zmq_send(self->zsock, payload, len, ZMQ_DONTWAIT);
        if (rc >= 0)
            break;
        if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
            return zmq_fail(err, "send", NULL);
        if (timeout_ms == 0 || (rc = wait_for(self, ZMQ_POLLOUT, timeout_ms, start, err))) {
            if (timeout_ms == 0 || rc == DN_BUS_TIMEOUT) {
                self->stats.send_timeouts++;
                return DN_BUS_TIMEOUT;
            }
            return rc;
        }
    }
    /* The second frame of a multipart message cannot hit the HWM; retry on
     * EINTR only. */
    while (topic && zmq_send(self->zsock, payload, len, 0) < 0)
        if (zmq_errno() != EINTR)
            return zmq_fail(err, "send payload", NULL);
    self->stats.sent++;
    return 0;
}

static int family_of(const Dinamo__Envelope *env)
{
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN: return FAM_RUN;
    case DN_MSG_LABEL:
        return env->label->verdict == DINAMO__VERDICT__GOOD ? FAM_LABEL_GOOD : FAM_LABEL_BAD;
    case DN_MSG_SCORE:
        return env->score->method == DINAMO__METHOD__METHOD_ML ? FAM_SCORE_ML : FAM_SCORE_S;
    case DN_MSG_WEIGHTS: return FAM_WEIGHTS;
    case DN_MSG_CONTROL: return FAM_CONTROL;
    case DN_MSG_THRESHOLD: return FAM_THRESHOLD;
    default: return -1;
    }
}

int dn_sock_send(dn_sock_t *self, Dinamo__Envelope *env, int timeout_ms, dn_err_t *err)
{
    if (!env)
        return dn_err_set(err, DN_EINVAL, "send: no envelope");
    int fam = family_of(env);
    if (fam < 0)
        return dn_err_set(err, DN_EINVAL, "send: envelope without a body");
    if (self->producer[fam]) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        env->producer = self->producer[fam];
        env->has_incarnation = 1;
        env->incarnation = self->incarnation;
        env->has_seq = 1;
        env->seq = self->next_seq[fam];
        env->has_time_sent = 1;
        env->time_sent = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    char topic[DN_BUS_TOPIC_MAX];
    int rc = dn_bus_topic(env, topic, sizeof topic);
    if (rc < 0)
        return dn_err_set(err, rc, "send: envelope without a body");
    uint8_t *buf = NULL;
    size_t len = 0;
    if ((rc = dn_msg_encode(env, &buf, &len, err)))
        return rc;
    rc = dn_sock_send_raw(self, topic, buf, len, timeout_ms, err);
    free(buf);
    if (rc == 0 && self->producer[fam])
        self->next_seq[fam]++;
    return rc;
}

/* The name of the key that authenticated the connection m came on: the
 * User-Id our ZAP handler returned; "" on a plain socket (no lookup). */
static void peer_of(const dn_sock_t *self, zmq_msg_t *m, char *buf, size_t cap)
{
    const char *user = self->secured ? zmq_msg_gets(m, "User-Id") : NULL;
    snprintf(buf, cap, "%s", user ? user : "");
}

/* Receives the first frame of the next message into m within timeout_ms
 * (0: never waits). Returns 0, DN_BUS_TIMEOUT, DN_EIO. */
static int recv_first(dn_sock_t *self, zmq_msg_t *m, int timeout_ms, dn_err_t *err)
{
    int64_t start = now_ms();
    for (;;) {
        if (zmq_msg_recv(m, self->zsock, ZMQ_DONTWAIT) >= 0)
            return 0;
        if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
            return zmq_fail(err, "receive", NULL);
        if (timeout_ms == 0)
            return DN_BUS_TIMEOUT;
        int rc = wait_for(self, ZMQ_POLLIN, timeout_ms, start, err);
        if (rc)
            return rc;
    }
}

int dn_sock_recv(dn_sock_t *self, int timeout_ms, Dinamo__Envelope **env, dn_recv_info_t *info,
                 dn_err_t *err)
{
    *env = NULL;
    if (info) {
        info->topic[0] = '\0';
        info->seq = DN_SEQ_NEW;
        info->missing = 0;
        info->peer[0] = '\0';
        info->reject = DN_REJECT_PARSE;
        info->has_offset = 0;
        info->offset = 0;
    }
    if (self->type != ZMQ_PULL && self->type != ZMQ_SUB)
        return dn_err_set(err, DN_EINVAL, "receive on a %s socket", type_name(self->type));
    zmq_msg_t frames[2];
    int n = 0, rc;
    zmq_msg_init(&frames[0]);
    zmq_msg_init(&frames[1]);
    if ((rc = recv_first(self, &frames[0], timeout_ms, err)))
        goto done;
    /* The remaining frames of a multipart message are already here; frames
     * beyond the second are read and discarded (the message is refused). */
    n = 1;
    for (int more = zmq_msg_more(&frames[0]); more; n++) {
        zmq_msg_t *dst = &frames[1];
        if (n >= 2) {
            zmq_msg_close(dst);
            zmq_msg_init(dst);
        }
        if (zmq_msg_recv(dst, self->zsock, 0) < 0) {
            rc = zmq_fail(err, "receive frame", NULL);
            goto done;
        }
        more = zmq_msg_more(dst);
    }
    self->stats.received++;
    zmq_msg_t *payload = &frames[n >= 2 ? 1 : 0];
    if (info)
        peer_of(self, payload, info->peer, sizeof info->peer);
    if (n >= 2 && info) {
        size_t tl = zmq_msg_size(&frames[0]);
        if (tl >= sizeof info->topic)
            tl = sizeof info->topic - 1;
        memcpy(info->topic, zmq_msg_data(&frames[0]), tl);
        info->topic[tl] = '\0';
    }
    if (n > 2) {
        self->stats.msg.rejected[DN_REJECT_PARSE]++;
        rc = dn_err_set(err, DN_EFORMAT, "message of %d frames (want [topic, payload])", n);
        goto done;
    }
    rc = dn_msg_decode(zmq_msg_data(payload), zmq_msg_size(payload), env, &self->stats.msg, err);
    if (rc) {
        if (info && rc != DN_ENOMEM)
            info->reject = self->stats.msg.last_reason;
        if (info && rc != DN_ENOMEM)
            info->has_offset = dn_msg_peek_offset(zmq_msg_data(payload), zmq_msg_size(payload),
                                                  &info->offset) == 0;
        if (n == 2 && err) {
            char t[80];
            size_t tl = zmq_msg_size(&frames[0]);
            snprintf(t, sizeof t, "%.*s", (int)(tl < 64 ? tl : 64),
                     (const char *)zmq_msg_data(&frames[0]));
            for (char *c = t; *c; c++)
                if ((unsigned char)*c < 0x20)
                    *c = '?';
            dn_err_prefix(err, "topic '%s'", t);
        }
        goto done;
    }
    uint64_t missing = 0;
    int st = dn_seq_tracker_feed_env(self->tracker, *env, &missing);
    if (st < 0) {
        dn_msg_free(env);
        rc = dn_err_set(err, st, "sequence tracking: %s", dn_strerror(st));
        goto done;
    }
    if (info) {
        info->seq = (dn_seq_status_t)st;
        info->missing = missing;
    }
    rc = 0;
done:
    zmq_msg_close(&frames[0]);
    zmq_msg_close(&frames[1]);
    return rc;
}

/* ---- topics and shards ------------------------------------------------- */

static const char *control_topic(int kind)
{
    switch (kind) {
    case DINAMO__CONTROL_KIND__END_OF_STREAM: return "eos";
    case DINAMO__CONTROL_KIND__FLUSH: return "flush";
    case DINAMO__CONTROL_KIND__REPORT: return "report";
    case DINAMO__CONTROL_KIND__HEARTBEAT: return "heartbeat";
    default: return "unknown";
    }
}

int dn_bus_topic(const Dinamo__Envelope *env, char *buf, size_t cap)
{
    int n;
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        n = snprintf(buf, cap, "run/%s", env->run->stream ? env->run->stream : "");
        break;
    case DN_MSG_LABEL:
        n = snprintf(buf, cap, "label/%s/%s",
                     env->label->verdict == DINAMO__VERDICT__GOOD  ? "good"
                     : env->label->verdict == DINAMO__VERDICT__BAD ? "bad"
                                                                   : "unknown",
                     env->label->histogram_key ? env->label->histogram_key : "");
        break;
    case DN_MSG_SCORE:
        n = snprintf(buf, cap, "score/%s/%s",
                     env->score->method == DINAMO__METHOD__METHOD_ML ? "ML" : "S",
                     env->score->histogram_key ? env->score->histogram_key : "");
        break;
    case DN_MSG_WEIGHTS:
        n = snprintf(buf, cap, "weights/%s",
                     env->weights->histogram_key ? env->weights->histogram_key : "");
        break;
    case DN_MSG_CONTROL:
        n = snprintf(buf, cap, "control/%s", control_topic(env->control->kind));
        break;
    case DN_MSG_THRESHOLD:
        n = snprintf(buf, cap, "threshold/%s/%s",
                     env->threshold->method == DINAMO__METHOD__METHOD_ML ? "ML" : "S",
                     env->threshold->histogram_key ? env->threshold->histogram_key : "");
        break;
    default:
        return DN_EINVAL;
    }
    if (n < 0 || (size_t)n >= cap)
        return DN_ERANGE;
    return n;
}

int dn_shard_of(const char *key, int n_shards)
{
    if (n_shards < 1 || !key)
        return 0;
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (int)(h % (uint64_t)n_shards);
}

/* ---- request/reply frames (ROUTER, DEALER) ------------------------------------ */

void dn_frames_clear(dn_frames_t *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->data[i]);
    memset(f, 0, sizeof *f);
}

int dn_sock_send_frames(dn_sock_t *self, const dn_frames_t *f, int timeout_ms, dn_err_t *err)
{
    if (self->type != ZMQ_ROUTER && self->type != ZMQ_DEALER)
        return dn_err_set(err, DN_EINVAL, "send frames on a %s socket", type_name(self->type));
    if (f->n < 1 || f->n > DN_FRAMES_MAX)
        return dn_err_set(err, DN_EINVAL, "send: %d frames", f->n);
    int64_t start = now_ms();
    for (;;) {
        int more = f->n > 1 ? ZMQ_SNDMORE : 0;
        if (zmq_send(self->zsock, f->data[0], f->len[0], more | ZMQ_DONTWAIT) >= 0)
            break;
        if (zmq_errno() == EHOSTUNREACH) /* ROUTER: the peer is gone */
            return dn_err_set(err, DN_EIO, "send: peer unreachable");
        if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
            return zmq_fail(err, "send", NULL);
        int rc = timeout_ms == 0 ? DN_BUS_TIMEOUT
                                 : wait_for(self, ZMQ_POLLOUT, timeout_ms, start, err);
        if (rc) {
            if (rc == DN_BUS_TIMEOUT)
                self->stats.send_timeouts++;
            return rc;
        }
    }
    for (int i = 1; i < f->n; i++)
        while (zmq_send(self->zsock, f->data[i], f->len[i], i + 1 < f->n ? ZMQ_SNDMORE : 0) < 0)
            if (zmq_errno() != EINTR)
                return zmq_fail(err, "send frame", NULL);
    self->stats.sent++;
    return 0;
}

int dn_sock_recv_frames(dn_sock_t *self, int timeout_ms, dn_frames_t *f, dn_err_t *err)
{
    memset(f, 0, sizeof *f);
    if (self->type != ZMQ_ROUTER && self->type != ZMQ_DEALER)
        return dn_err_set(err, DN_EINVAL, "receive frames on a %s socket", type_name(self->type));
    int rc = 0, more = 1, dropped = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    if ((rc = recv_first(self, &m, timeout_ms, err)))
        goto done;
    /* The rest of a multipart message is already here: read it whole, so that
     * a refused message never leaves frames behind for the next one. */
    while (more) {
        self->stats.received += f->n == 0;
        /* A ROUTER's identity frame is its own, without the connection's
         * metadata: the sender's key name comes with the frames it sent. */
        if (!f->peer[0])
            peer_of(self, &m, f->peer, sizeof f->peer);
        if (f->n < DN_FRAMES_MAX) {
            size_t n = zmq_msg_size(&m);
            if (!(f->data[f->n] = malloc(n ? n : 1))) {
                rc = dn_err_set(err, DN_ENOMEM, "receive: out of memory");
                dropped = 1;
            } else {
                memcpy(f->data[f->n], zmq_msg_data(&m), n);
                f->len[f->n++] = n;
            }
        } else {
            dropped = 1;
        }
        more = zmq_msg_more(&m);
        if (more && zmq_msg_recv(&m, self->zsock, 0) < 0) {
            rc = zmq_fail(err, "receive frame", NULL);
            goto done;
        }
    }
    if (dropped && !rc)
        rc = dn_err_set(err, DN_EFORMAT, "message of more than %d frames", DN_FRAMES_MAX);
done:
    zmq_msg_close(&m);
    if (rc && rc != DN_EFORMAT)
        dn_frames_clear(f);
    return rc;
}
