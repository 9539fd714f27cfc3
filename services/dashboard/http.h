/* http.h: the dashboard's web server: pages, the JSON API, live events,
 * logins and verdicts, on libmicrohttpd's own threads.
 *
 * The node thread owns the model and updates it under the model lock; the
 * server's threads only read it (read lock) and the detail store (its own
 * mutex). Live events go through a ring of the last `ring` events: the node
 * thread appends, each open page has only a position in it, so a page that
 * reads slowly, or a thousand of them, costs the stream nothing; a page that
 * falls out of the ring is told to reload ("reset"). A page with nothing to
 * read is suspended (no thread, no polling) until the node thread wakes it.
 *
 * A verdict (POST /api/label) needs a session (login with a name and
 * password from the users file) and the session's CSRF token in a header;
 * it is handed to the `send_label` callback, which puts it on the events
 * source's requests socket (dashboard.c), so it takes the path `dinamo label`
 * takes and reaches the page back through the events log.
 *
 * Thread rules: dash_http_new/destroy and dash_http_publish/wake from the
 * node thread; everything else runs on the server's threads. Ownership: the
 * server borrows everything in dash_http_opts_t until destroyed. */
#ifndef DASH_HTTP_H
#define DASH_HTTP_H

#include <pthread.h>
#include <stdint.h>

#include "detail.h"
#include "error.h"
#include "model.h"

typedef struct dash_http_t dash_http_t;

/* Sends a person's verdict: run seq (with its run number and stream), bad or
 * good, the reason and who gave it. Called from a server thread; returns 0 or
 * an error with *err set (the page is told). */
typedef int (*dash_send_label_fn)(void *arg, uint64_t seq, int64_t run_number,
                                  const char *stream, int bad, const char *reason,
                                  const char *who, dn_err_t *err);

typedef struct dash_http_stats_t {
    uint64_t requests, not_found, bad_requests, refused, logins, login_failures;
    uint64_t labels_sent, labels_failed, events, sse_open, sse_total;
} dash_http_stats_t;

typedef struct dash_http_opts_t {
    const char *address;          /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080" */
    const char *web_dir;          /* index.html, app.js, app.css, node_modules/uplot/dist */
    const char *users_file;       /* "" or missing: nobody can log in (logged) */
    int login_to_view;            /* every page and API call needs a session */
    int max_connections;
    int ring;                     /* live events kept for late readers */
    int session_max;              /* sessions kept at most */
    int session_idle_s, session_max_s;
    dash_model_t *model;          /* read under model_lock */
    pthread_rwlock_t *model_lock;
    dash_detail_t *detail;
    dash_send_label_fn send_label;
    void *send_label_arg;
} dash_http_opts_t;

/* Loads the page files and the users file, binds and starts the server.
 * NULL with *err set: DN_EINVAL (address), DN_EIO (bind, a missing page
 * file), DN_EFORMAT (users file), DN_ENOMEM. */
dash_http_t *dash_http_new(const dash_http_opts_t *opts, dn_err_t *err);

/* Stops the server (open pages are closed) and frees *self_p; accepts NULL. */
void dash_http_destroy(dash_http_t **self_p);

/* Appends a live event ("run", "summary") with JSON data (one line). Returns
 * 0 or DN_ENOMEM. */
int dash_http_publish(dash_http_t *self, const char *event, const char *data, size_t len);

/* Wakes the pages waiting for events; with ping set, every page (a keepalive
 * comment is sent to those with nothing to read, so dead ones are found). */
void dash_http_wake(dash_http_t *self, int ping);

/* A copy of the counters. */
void dash_http_stats(dash_http_t *self, dash_http_stats_t *out);

/* The address the server listens on ("127.0.0.1:8080"; the port chosen when
 * 0 was asked). */
const char *dash_http_address(const dash_http_t *self);

#endif
