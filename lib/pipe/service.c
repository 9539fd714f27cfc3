/* service.c: poll loop, tick, signals and shutdown of a service (see
 * service.h). The only process-wide state is the signal flag. */
#include "service.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "log.h"

static volatile sig_atomic_t stop_signal = 0;
static volatile sig_atomic_t report_signal = 0;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        report_signal = 1;
    else
        stop_signal = 1;
}

int dn_service_install_signals(dn_err_t *err)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking zmq_poll returns EINTR */
    stop_signal = 0;
    report_signal = 0;
    if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
        sigaction(SIGUSR1, &sa, NULL))
        return dn_err_set(err, DN_EIO, "sigaction: %s", strerror(errno));
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL))
        return dn_err_set(err, DN_EIO, "sigaction SIGPIPE: %s", strerror(errno));
    return 0;
}

int dn_service_signalled(void)
{
    return stop_signal != 0;
}

int dn_service_report_requested(void)
{
    if (!report_signal)
        return 0;
    report_signal = 0;
    return 1;
}

typedef struct reader_t {
    dn_sock_t *sock;
    dn_service_msg_fn fn;
    void *arg;
    dn_service_ready_fn ready; /* instead of fn: the handler reads itself */
    dn_service_reject_fn reject; /* told of refused messages; NULL: logged here */
    int paused;
} reader_t;

struct dn_service_t {
    char name[64];
    reader_t *readers;
    int n_readers;
    int tick_ms;
    dn_service_fn tick_fn, shutdown_fn, round_fn;
    void *tick_arg, *shutdown_arg, *round_arg;
    int stop;
    dn_err_t fail;
    dn_service_stats_t stats;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

dn_service_t *dn_service_new(const char *name, dn_err_t *err)
{
    if (!name || !name[0]) {
        dn_err_set(err, DN_EINVAL, "service: empty name");
        return NULL;
    }
    dn_service_t *self = calloc(1, sizeof *self);
    if (!self) {
        dn_err_set(err, DN_ENOMEM, "service %s: out of memory", name);
        return NULL;
    }
    snprintf(self->name, sizeof self->name, "%s", name);
    return self;
}

void dn_service_destroy(dn_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->readers);
    free(*self_p);
    *self_p = NULL;
}

int dn_service_add_socket(dn_service_t *self, dn_sock_t *sock, dn_service_msg_fn fn, void *arg)
{
    if (!sock || !fn || (dn_sock_type(sock) != ZMQ_PULL && dn_sock_type(sock) != ZMQ_SUB))
        return DN_EINVAL;
    reader_t *r = realloc(self->readers, (size_t)(self->n_readers + 1) * sizeof *r);
    if (!r)
        return DN_ENOMEM;
    self->readers = r;
    self->readers[self->n_readers++] = (reader_t){sock, fn, arg, NULL, NULL, 0};
    return 0;
}

int dn_service_on_reject(dn_service_t *self, dn_sock_t *sock, dn_service_reject_fn fn)
{
    for (int i = 0; i < self->n_readers; i++)
        if (self->readers[i].sock == sock && self->readers[i].fn) {
            self->readers[i].reject = fn;
            return 0;
        }
    return DN_EINVAL;
}

int dn_service_add_ready(dn_service_t *self, dn_sock_t *sock, dn_service_ready_fn fn, void *arg)
{
    if (!sock || !fn || (dn_sock_type(sock) != ZMQ_ROUTER && dn_sock_type(sock) != ZMQ_DEALER))
        return DN_EINVAL;
    reader_t *r = realloc(self->readers, (size_t)(self->n_readers + 1) * sizeof *r);
    if (!r)
        return DN_ENOMEM;
    self->readers = r;
    self->readers[self->n_readers++] = (reader_t){sock, NULL, arg, fn, NULL, 0};
    return 0;
}

int dn_service_set_tick(dn_service_t *self, int interval_ms, dn_service_fn fn, void *arg)
{
    if (interval_ms < 1 || !fn)
        return DN_EINVAL;
    self->tick_ms = interval_ms;
    self->tick_fn = fn;
    self->tick_arg = arg;
    return 0;
}

void dn_service_set_shutdown(dn_service_t *self, dn_service_fn fn, void *arg)
{
    self->shutdown_fn = fn;
    self->shutdown_arg = arg;
}

void dn_service_set_round(dn_service_t *self, dn_service_fn fn, void *arg)
{
    self->round_fn = fn;
    self->round_arg = arg;
}

int dn_service_pause(dn_service_t *self, dn_sock_t *sock, int paused)
{
    for (int i = 0; i < self->n_readers; i++)
        if (self->readers[i].sock == sock) {
            self->readers[i].paused = paused != 0;
            return 0;
        }
    return DN_EINVAL;
}

void dn_service_stop(dn_service_t *self)
{
    self->stop = 1;
}

int dn_service_fail(dn_service_t *self, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->fail.msg, sizeof self->fail.msg, fmt, ap);
    va_end(ap);
    self->fail.code = code;
    return code;
}

void dn_service_count(dn_service_t *self, uint64_t handled, uint64_t rejected)
{
    self->stats.handled += handled;
    self->stats.rejected += rejected;
}

dn_service_stats_t dn_service_stats(const dn_service_t *self)
{
    return self->stats;
}

const char *dn_service_name(const dn_service_t *self)
{
    return self->name;
}

static int stopping(const dn_service_t *self)
{
    return self->stop || stop_signal;
}

/* The error of a callback that returned rc: its dn_service_fail message, or
 * a generic one. */
static int callback_error(dn_service_t *self, int rc, const char *what, dn_err_t *err)
{
    if (self->fail.code == rc && self->fail.msg[0])
        return dn_err_set(err, rc, "service %s: %s", self->name, self->fail.msg);
    return dn_err_set(err, rc, "service %s: %s failed: %s", self->name, what, dn_strerror(rc));
}

/* Takes up to DN_SERVICE_BATCH messages from r. 0 or a handler's error. */
static int drain(dn_service_t *self, reader_t *r, dn_err_t *err)
{
    if (r->ready) {
        int rc = r->ready(self, r->sock, r->arg);
        return rc < 0 ? callback_error(self, rc, "request handler", err) : 0;
    }
    for (int k = 0; k < DN_SERVICE_BATCH && !stopping(self); k++) {
        Dinamo__Envelope *env = NULL;
        dn_recv_info_t info;
        dn_err_t rerr = {0};
        int rc = dn_sock_recv(r->sock, 0, &env, &info, &rerr);
        if (rc == DN_BUS_TIMEOUT)
            return 0;
        if (rc == DN_EIO || rc == DN_ENOMEM)
            return dn_err_set(err, rc, "service %s: %s", self->name, rerr.msg);
        if (rc) {
            self->stats.rejected++;
            int told = r->reject ? r->reject(self, r->sock, rc, &info, rerr.msg, r->arg) : 0;
            if (told < 0)
                return callback_error(self, told, "reject handler", err);
            if (!told) {
                /* One limit per reason: a flood of garbage does not hide a
                 * refusal of another kind. */
                static dn_log_limit_t by_reason[DN_REJECT__N];
                int why = info.reject >= 0 && info.reject < DN_REJECT__N ? (int)info.reject : 0;
                dn_log_limited(&by_reason[why], DN_LOG_WARN, "rejected message: %s", rerr.msg);
            }
            continue;
        }
        if (info.seq == DN_SEQ_DUPLICATE) {
            self->stats.duplicates++;
            dn_log(DN_LOG_DEBUG, "dropped duplicate %s seq %llu", env->producer,
                   (unsigned long long)env->seq);
            dn_msg_free(&env);
            continue;
        }
        if (info.seq == DN_SEQ_JOIN) {
            dn_log(DN_LOG_INFO, "first message from %s at seq %llu: joined after %llu earlier "
                   "one(s)", env->producer, (unsigned long long)env->seq,
                   (unsigned long long)info.missing);
        } else if (info.missing) {
            self->stats.gaps++;
            self->stats.missing += info.missing;
            DN_LOG_LIMITED(DN_LOG_WARN, "%llu message(s) from %s lost before seq %llu%s",
                           (unsigned long long)info.missing, env->producer,
                           (unsigned long long)env->seq,
                           info.seq == DN_SEQ_RESTART ? " (producer restarted)" : "");
        }
        self->stats.handled++;
        rc = r->fn(self, r->sock, env, &info, r->arg);
        dn_msg_free(&env);
        if (rc < 0)
            return callback_error(self, rc, "message handler", err);
    }
    return 0;
}

int dn_service_run(dn_service_t *self, dn_err_t *err)
{
    int rc = 0;
    zmq_pollitem_t *items = calloc((size_t)self->n_readers + 1, sizeof *items);
    if (!items)
        return dn_err_set(err, DN_ENOMEM, "service %s: out of memory", self->name);
    for (int i = 0; i < self->n_readers; i++) {
        items[i].socket = dn_sock_handle(self->readers[i].sock);
        items[i].events = ZMQ_POLLIN;
    }
    dn_log(DN_LOG_INFO, "service %s started (%d input(s), tick %d ms)", self->name,
           self->n_readers, self->tick_ms);
    int64_t next_tick = now_ms() + self->tick_ms;
    long round_wait = DN_SERVICE_POLL_MAX_MS;
    while (!stopping(self)) {
        long timeout = round_wait < DN_SERVICE_POLL_MAX_MS ? round_wait : DN_SERVICE_POLL_MAX_MS;
        if (self->tick_fn) {
            int64_t left = next_tick - now_ms();
            if (left < timeout)
                timeout = left > 0 ? (long)left : 0;
        }
        /* A paused socket is left out of the poll (its messages wait in ZeroMQ's
         * queue, which applies back-pressure upstream). */
        for (int i = 0; i < self->n_readers; i++)
            items[i].events = self->readers[i].paused ? 0 : ZMQ_POLLIN;
        int n = zmq_poll(items, self->n_readers, timeout);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                continue;
            rc = dn_err_set(err, DN_EIO, "service %s: poll: %s", self->name,
                            zmq_strerror(zmq_errno()));
            break;
        }
        for (int i = 0; i < self->n_readers && n > 0 && !rc; i++)
            if (!self->readers[i].paused && (items[i].revents & ZMQ_POLLIN))
                rc = drain(self, &self->readers[i], err);
        if (rc)
            break;
        if (self->tick_fn && now_ms() >= next_tick && !stopping(self)) {
            self->stats.ticks++;
            if ((rc = self->tick_fn(self, self->tick_arg)) < 0) {
                callback_error(self, rc, "tick", err);
                break;
            }
            rc = 0;
            next_tick += self->tick_ms;
            if (next_tick <= now_ms()) /* fell behind: do not burst */
                next_tick = now_ms() + self->tick_ms;
        }
        if (self->round_fn && !stopping(self)) {
            int w = self->round_fn(self, self->round_arg);
            if (w < 0) {
                rc = w;
                callback_error(self, rc, "round", err);
                break;
            }
            round_wait = w;
        }
        dn_log_limits_flush(0); /* a flood that stopped is accounted for within a second */
    }
    free(items);
    dn_log_limits_flush(1);
    dn_log(rc ? DN_LOG_ERROR : DN_LOG_INFO, "service %s stopping (%s): %llu handled, %llu "
           "rejected, %llu duplicates, %llu lost", self->name,
           rc ? "error" : stop_signal ? "signal" : "requested",
           (unsigned long long)self->stats.handled, (unsigned long long)self->stats.rejected,
           (unsigned long long)self->stats.duplicates, (unsigned long long)self->stats.missing);
    if (self->shutdown_fn) {
        dn_err_t serr = {0};
        int src = self->shutdown_fn(self, self->shutdown_arg);
        if (src < 0) {
            callback_error(self, src, "shutdown", &serr);
            dn_log(DN_LOG_ERROR, "%s", serr.msg);
            if (!rc) {
                rc = src;
                if (err)
                    *err = serr;
            }
        }
    }
    return rc;
}
