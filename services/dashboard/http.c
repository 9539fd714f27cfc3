/* http.c: the dashboard's web server (http.h), on libmicrohttpd.
 *
 * Threads: MHD's internal polling threads (epoll, a pool of two) answer every
 * request; none of them waits for the stream. Routes:
 *   GET  /  /static/{app.js,app.css}  /static/uplot/{uPlot.iife.min.js,uPlot.min.css}
 *        (files read once at start, served from memory: no path from the URL
 *        ever reaches the file system)
 *   GET  /api/summary /api/runs /api/run/SEQ /api/run/SEQ/hist /api/key
 *        /api/metrics /api/events (text/event-stream)
 *   POST /api/login /api/logout /api/label (JSON bodies of at most 16 KiB)
 * Every answer carries nosniff, no-store, frame-ancestors 'none'; pages a
 * Content-Security-Policy allowing only the server's own scripts and styles,
 * so a name that slipped into markup could not run anyway.
 *
 * Live events: each page is a reader over the ring (its next event id and
 * the unsent part of the frame it is in). With nothing to send the reader
 * suspends its connection under the ring's lock; dash_http_wake collects the
 * suspended ones under the lock and resumes them after it (MHD's rule: only
 * a suspended connection may be resumed, so the flag and the suspension
 * change together). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "clock.h"
#include "histo.h"
#include "http.h"
#include "json.h"
#include "keytab.h"
#include "log.h"
#include "session.h"
#include "users.h"
#include "view.h"
#include "writer.h"

#define BODY_MAX 16384
#define PING_S 15.0

typedef struct file_t {
    const char *url, *path, *type;
    char *data;
    size_t len;
} file_t;

typedef struct ring_entry_t {
    uint64_t id;
    char *frame; /* "id: N\nevent: E\ndata: ...\n\n" */
    size_t len;
} ring_entry_t;

typedef struct sse_t {
    struct sse_t *prev, *next;
    dash_http_t *http;
    struct MHD_Connection *conn;
    uint64_t next_id;
    char *pending;
    size_t plen, poff;
    int suspended, closing;
    double last_write;
} sse_t;

typedef struct req_t { /* a POST body being received */
    char *body;
    size_t len;
    int too_big;
} req_t;

struct dash_http_t {
    dash_http_opts_t o;
    struct MHD_Daemon *daemon;
    char address[128];
    file_t files[5];
    dn_users_t *users;
    pthread_mutex_t users_lock;
    dash_session_t *sessions;
    /* live events */
    pthread_mutex_t ring_lock;
    ring_entry_t *ring;
    int ring_cap;
    uint64_t head;                /* id of the next event */
    sse_t *clients;
    /* counters */
    _Atomic uint64_t n[11];
    double login_window;          /* token bucket for logins */
    double login_tokens;
    pthread_mutex_t login_lock;
};

enum { C_REQ, C_404, C_400, C_REFUSED, C_LOGIN, C_LOGIN_FAIL, C_LABEL, C_LABEL_FAIL, C_EVENTS,
       C_SSE_OPEN, C_SSE_TOTAL };

static void count(dash_http_t *h, int c) { atomic_fetch_add(&h->n[c], 1); }

/* ---- answers ------------------------------------------------------------------- */

static void common_headers(struct MHD_Response *r, const char *type)
{
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *type,
                                char *buf, size_t len, enum MHD_ResponseMemoryMode mode,
                                const char *cookie)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(buf);
        return MHD_NO;
    }
    common_headers(r, type);
    if (!strncmp(type, "text/html", 9))
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A JSON answer being written: a memory stream and a writer over it. Used in
 * place (the stream holds the addresses of buf and len). */
typedef struct answer_t {
    char *buf;
    size_t len;
    FILE *f;
    dn_jw_t w;
} answer_t;

static int answer_open(answer_t *a)
{
    a->buf = NULL;
    a->len = 0;
    if (!(a->f = open_memstream(&a->buf, &a->len)))
        return DN_ENOMEM;
    dn_jw_init(&a->w, a->f);
    return 0;
}

static enum MHD_Result answer_send(dash_http_t *h, struct MHD_Connection *c, answer_t *a,
                                   unsigned status, int rc, const char *cookie);

static enum MHD_Result send_error(dash_http_t *h, struct MHD_Connection *c, unsigned status,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(dash_http_t *h, struct MHD_Connection *c, unsigned status,
                                  const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    count(h, status == 404 ? C_404 : status == 400 ? C_400 : C_REFUSED);
    answer_t a;
    if (answer_open(&a))
        return MHD_NO;
    dn_jw_object(&a.w);
    dn_jw_key(&a.w, "error");
    dn_jw_string(&a.w, msg);
    dn_jw_end(&a.w);
    dn_jw_finish(&a.w);
    return answer_send(h, c, &a, status, 0, NULL);
}

/* Sends answer a (closing its stream): its text with status, or, when rc
 * says its rendering failed, a 500 naming why. buf and len are the memory
 * stream's: valid only once it is closed. */
static enum MHD_Result answer_send(dash_http_t *h, struct MHD_Connection *c, answer_t *a,
                                   unsigned status, int rc, const char *cookie)
{
    fclose(a->f);
    if (rc) {
        free(a->buf);
        return send_error(h, c, 500, "could not render the answer: %s", dn_strerror(rc));
    }
    return send_buf(c, status, "application/json", a->buf, a->len, MHD_RESPMEM_MUST_FREE, cookie);
}

/* An answer not sent after all (a 404 found while rendering). */
static void answer_drop(answer_t *a)
{
    fclose(a->f);
    free(a->buf);
}

/* ---- sessions ---------------------------------------------------------------------- */

/* The request's live session into *info; 0 or DN_ENOTFOUND. */
static int session_of(dash_http_t *h, struct MHD_Connection *c, dash_session_info_t *info,
                      char cookie[DASH_SESSION_TOKEN_LEN + 1])
{
    const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");
    return dash_session_find_header(h->sessions, hdr, dn_clock_wall(), info, cookie);
}

/* The users, read on first need when the file did not exist at start (made
 * afterwards with `dinamo user add`); NULL with *err (may be NULL) saying why. */
static dn_users_t *users_of(dash_http_t *h, dn_err_t *err)
{
    pthread_mutex_lock(&h->users_lock);
    dn_err_t lerr = {0};
    if (!h->users && h->o.users_file && h->o.users_file[0])
        h->users = dn_users_load(h->o.users_file, &lerr);
    else if (!h->users)
        dn_err_set(&lerr, DN_ENOTFOUND, "no users_file is configured");
    dn_users_t *u = h->users;
    pthread_mutex_unlock(&h->users_lock);
    if (!u && err)
        *err = lerr;
    return u;
}

/* A change (POST): same origin when the browser says, the session's CSRF
 * token in X-CSRF-Token. Returns 0 or an HTTP status (401/403) with why. */
static unsigned check_change(dash_http_t *h, struct MHD_Connection *c, dash_session_info_t *info,
                             char cookie[DASH_SESSION_TOKEN_LEN + 1], const char **why)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (dash_session_origin_check(origin, host, "http") == DN_EPERM) {
        *why = "cross-origin request refused (Origin does not match Host)";
        return 403;
    }
    if (session_of(h, c, info, cookie)) {
        *why = "log in first (no session, or it expired)";
        return 401;
    }
    dn_users_t *users = users_of(h, NULL);
    if (!users || !dn_users_has(users, info->user)) {
        dash_session_drop(h->sessions, cookie);
        *why = "log in again (the user is no longer in the users file)";
        return 401;
    }
    const char *token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    if (dash_session_check_csrf(info, token)) {
        *why = token ? "wrong CSRF token" : "missing CSRF token (X-CSRF-Token)";
        return 403;
    }
    return 0;
}

/* ---- GET handlers -------------------------------------------------------------- */

static int arg_ll(struct MHD_Connection *c, const char *name, long long lo, long long hi,
                  long long dflt, long long *out)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!v || !v[0]) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static enum MHD_Result get_runs(dash_http_t *h, struct MHD_Connection *c)
{
    dash_filter_t flt = {.severity = -1, .method = -1, .subsystem = -1};
    long long before, limit, awaiting;
    if (arg_ll(c, "before", 0, 1LL << 40, -1, &before) ||
        arg_ll(c, "limit", 1, 1000, 100, &limit) || arg_ll(c, "awaiting", 0, 1, 0, &awaiting))
        return send_error(h, c, 400, "before, limit (1..1000) or awaiting (0/1) is not a "
                                     "number in range");
    flt.before = before;
    flt.limit = (int)limit;
    flt.awaiting = (int)awaiting;
    const char *sev = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "severity");
    const char *me = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "method");
    const char *sub = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "subsystem");
    if (sev && sev[0]) {
        for (int s = 0; s < DN_SEV_COUNT; s++)
            if (!strcmp(sev, dash_severity_word((dn_severity_t)s)))
                flt.severity = s;
        if (flt.severity < 0)
            return send_error(h, c, 400, "severity: want none, insufficient, ok, warning or bad");
    }
    if (me && me[0]) {
        flt.method = !strcmp(me, "s") ? 0 : !strcmp(me, "ml") ? 1 : -2;
        if (flt.method == -2)
            return send_error(h, c, 400, "method: want s or ml");
    }
    answer_t a;
    if (answer_open(&a))
        return MHD_NO;
    pthread_rwlock_rdlock(h->o.model_lock);
    int rc = 0;
    if (sub && sub[0]) {
        for (int s = 0; s < h->o.model->n_subsystems && flt.subsystem < 0; s++)
            if (!strcmp(h->o.model->subsystems[s], sub))
                flt.subsystem = s;
        if (flt.subsystem < 0)
            flt.subsystem = INT32_MAX; /* no such subsystem: no run matches */
    }
    rc = dash_view_runs(a.f, h->o.model, &flt);
    pthread_rwlock_unlock(h->o.model_lock);
    return answer_send(h, c, &a, 200, rc, NULL);
}

static int label_json(void *arg, const Dinamo__Label *l)
{
    static const char *const source[] = {"unspecified", "generator", "shifter", "auto",
                                         "recorded"};
    dn_jw_t *w = arg;
    dn_jw_object(w);
    dn_jw_key(w, "verdict");
    dn_jw_string(w, l->verdict == DINAMO__VERDICT__BAD ? "bad" : "good");
    dn_jw_key(w, "source");
    dn_jw_string(w, (unsigned)l->source < 5 ? source[l->source] : "unspecified");
    dn_jw_key(w, "who");
    dn_jw_string(w, l->who && l->who[0] ? l->who : NULL);
    dn_jw_key(w, "reason");
    dn_jw_string(w, l->reason && l->reason[0] ? l->reason : NULL);
    dn_jw_key(w, "time");
    dn_jw_number(w, l->has_time ? l->time : NAN);
    dn_jw_key(w, "key");
    dn_jw_string(w, l->histogram_key && l->histogram_key[0] ? l->histogram_key : NULL);
    dn_jw_end(w);
    return 0;
}

static enum MHD_Result get_run(dash_http_t *h, struct MHD_Connection *c, long long seq)
{
    answer_t a;
    if (answer_open(&a))
        return MHD_NO;
    pthread_rwlock_rdlock(h->o.model_lock);
    int rc = dash_view_run_page(&a.w, h->o.model, (int)seq);
    pthread_rwlock_unlock(h->o.model_lock);
    if (rc == DN_ENOTFOUND) {
        answer_drop(&a);
        return send_error(h, c, 404, "no run with run_seq %lld", seq);
    }
    dn_err_t err = {0};
    dn_jw_key(&a.w, "labels");
    dn_jw_array(&a.w);
    if (!rc)
        rc = dash_detail_labels(h->o.detail, (uint64_t)seq, label_json, &a.w, &err);
    dn_jw_end(&a.w);
    dn_jw_end(&a.w);
    if (!rc)
        rc = dn_jw_finish(&a.w);
    return answer_send(h, c, &a, 200, rc, NULL);
}

static void array_json(dn_jw_t *w, const double *x, size_t n)
{
    dn_jw_array(w);
    for (size_t i = 0; i < n; i++)
        dn_jw_number(w, x[i]);
    dn_jw_end(w);
}

/* The lagged horizon named `name` of s with its pulls and reference, or NULL. */
static const Dinamo__HorizonScore *horizon_of(const Dinamo__Score *s, const char *name)
{
    for (size_t h = 0; s && name && h < s->n_horizons; h++) {
        const Dinamo__HorizonScore *hs = s->horizons[h];
        if (hs->name && !strcmp(hs->name, name) && hs->n_pulls && hs->has_chi2)
            return hs;
    }
    return NULL;
}

/* The numbers of one method's Score that the run page draws; its worst bins
 * named as the evaluator names them (histo.h), for the shape of hg. A run a
 * lagged horizon made bad (fired: its name, NULL otherwise) shows that
 * horizon's reference, pulls and score, and says so ("horizon"), as the
 * evaluator's flag line and figures do: now's reference moved with the drift. */
static void score_detail_json(dn_jw_t *w, const Dinamo__Score *s, double bad, double warning,
                              const Dinamo__Histogram *hg, const char *fired, double fired_bad)
{
    if (!s) {
        dn_jw_null(w);
        return;
    }
    const Dinamo__HorizonScore *hs = horizon_of(s, fired);
    const double *pulls = hs ? hs->pulls : s->pulls;
    size_t n_pulls = hs ? hs->n_pulls : s->n_pulls;
    dn_jw_object(w);
    dn_jw_key(w, "horizon");
    dn_jw_string(w, hs ? hs->name : "now");
    dn_jw_key(w, "reference");
    if (hs)
        array_json(w, hs->reference, hs->n_reference);
    else
        array_json(w, s->reference, s->n_reference);
    dn_jw_key(w, "sigma");
    if (hs)
        array_json(w, hs->reference_uncertainty, hs->n_reference_uncertainty);
    else
        array_json(w, s->reference_uncertainty, s->n_reference_uncertainty);
    dn_jw_key(w, "pulls");
    array_json(w, pulls, n_pulls);
    dn_jw_key(w, "score");
    dn_jw_number(w, hs ? (hs->has_score ? hs->score : NAN) : s->has_score ? s->score : NAN);
    dn_jw_key(w, "chi2");
    dn_jw_number(w, hs ? hs->chi2 : s->has_chi2 ? s->chi2 : NAN);
    if (hs) { /* now's own, beside the horizon's */
        dn_jw_key(w, "now_score");
        dn_jw_number(w, s->has_score ? s->score : NAN);
        dn_jw_key(w, "now_threshold_bad");
        dn_jw_number(w, bad);
        bad = fired_bad;
        warning = NAN; /* a warning level is now's */
    }
    dn_jw_key(w, "threshold_bad");
    dn_jw_number(w, bad);
    dn_jw_key(w, "threshold_warning");
    dn_jw_number(w, warning);
    dn_jw_key(w, "model_version");
    if (s->has_model_version)
        dn_jw_int(w, (long long)s->model_version);
    else
        dn_jw_null(w);
    dn_jw_key(w, "alpha");
    dn_jw_number(w, s->has_alpha ? s->alpha : NAN);
    dn_jw_key(w, "detail");
    dn_jw_string(w, s->detail && s->detail[0] ? s->detail : NULL);
    dn_jw_key(w, "worst_bins");
    char bins[256] = "";
    size_t ny = hg && hg->has_n_bins_y ? hg->n_bins_y : 0;
    if (hg && n_pulls == hg->n_counts && n_pulls && (!ny || n_pulls % ny == 0)) {
        size_t nx = ny ? n_pulls / ny : n_pulls; /* edges only when they fit */
        int edges = hg->n_edges == nx + 1 && (!ny || hg->n_edges_y == ny + 1);
        dn_hist_worst_bins(bins, sizeof bins, pulls, (int)n_pulls, 3, (int)ny,
                           edges ? hg->edges : NULL, edges ? hg->edges_y : NULL);
    }
    dn_jw_string(w, bins[0] ? bins : NULL);
    dn_jw_end(w);
}

static void free_detail(Dinamo__Histogram *hg, Dinamo__Score *s[DASH_METHODS])
{
    if (hg)
        dinamo__histogram__free_unpacked(hg, NULL);
    for (int me = 0; me < DASH_METHODS; me++)
        if (s[me])
            dinamo__score__free_unpacked(s[me], NULL);
}

static enum MHD_Result get_hist(dash_http_t *h, struct MHD_Connection *c, long long seq)
{
    const char *key = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "key");
    if (!key || !key[0])
        return send_error(h, c, 400, "key: missing (the histogram key)");
    int k, present = 0, detail = 0;
    int64_t run_number = 0;
    double bad[DASH_METHODS], warning[DASH_METHODS], fired_bad = NAN;
    char fired[DN_HZ_NAME_MAX] = ""; /* the lagged horizon that made S's verdict bad */
    pthread_rwlock_rdlock(h->o.model_lock);
    const dash_model_t *m = h->o.model;
    k = dn_keytab_find(m->key_index, key);
    if (k >= 0 && seq < m->n_runs && m->runs[seq].present) {
        present = 1;
        detail = m->runs[seq].detail;
        run_number = m->runs[seq].run_number;
        for (int me = 0; me < DASH_METHODS; me++) {
            bad[me] = m->keys[k].bad[me];
            warning[me] = m->keys[k].warning[me];
        }
        int f;
        double margin = dash_model_cell_margin(m, k, (uint64_t)seq, 0, &f);
        if (f > 0 && margin > 0 && m->runs[seq].m[0].severity != DN_SEV_NONE) {
            snprintf(fired, sizeof fired, "%s", dash_model_hz_name(m, k, f));
            fired_bad = m->keys[k].hz_bad[f - 1];
        }
    }
    pthread_rwlock_unlock(h->o.model_lock);
    if (k < 0)
        return send_error(h, c, 404, "no histogram key '%.200s'", key);
    if (!present)
        return send_error(h, c, 404, "no run with run_seq %lld", seq);
    Dinamo__Histogram *hg = NULL;
    Dinamo__Score *s[DASH_METHODS] = {NULL, NULL};
    dn_err_t err = {0};
    int rc = detail ? dash_detail_get(h->o.detail, (uint64_t)seq, k, &hg, s, &err) : 0;
    if (rc)
        return send_error(h, c, 500, "%s", err.msg);
    answer_t a;
    if (answer_open(&a)) {
        free_detail(hg, s);
        return MHD_NO;
    }
    dn_jw_t *w = &a.w;
    dn_jw_object(w);
    dn_jw_key(w, "key");
    dn_jw_string(w, key);
    dn_jw_key(w, "seq");
    dn_jw_int(w, seq);
    dn_jw_key(w, "run");
    dn_jw_int(w, run_number);
    dn_jw_key(w, "detail");
    dn_jw_bool(w, hg != NULL);
    if (hg) {
        size_t nb = hg->n_counts;
        /* 2-D: nb = nx * n_bins_y flattened (x outer), edges [nx + 1] of x and
         * edges_y [n_bins_y + 1] (validated when the run was taken in) */
        dn_jw_key(w, "n_bins_y");
        dn_jw_int(w, hg->has_n_bins_y ? (long long)hg->n_bins_y : 0);
        dn_jw_key(w, "edges");
        if (hg->n_edges)
            array_json(w, hg->edges, hg->n_edges);
        else
            dn_jw_null(w);
        dn_jw_key(w, "edges_y");
        if (hg->n_edges_y)
            array_json(w, hg->edges_y, hg->n_edges_y);
        else
            dn_jw_null(w);
        dn_jw_key(w, "counts");
        array_json(w, hg->counts, nb);
        dn_jw_key(w, "variances");
        if (hg->n_variances == nb)
            array_json(w, hg->variances, nb);
        else
            dn_jw_null(w);
        /* the counts normalised as the scorers normalise them, and their sigma */
        double *xt = malloc(2 * (nb ? nb : 1) * sizeof *xt);
        if (xt && nb) {
            double *sx2 = xt + nb;
            dn_hist_normalise(xt, sx2, hg->counts, hg->n_variances == nb ? hg->variances : NULL,
                              (int)nb);
            for (size_t i = 0; i < nb; i++)
                sx2[i] = sqrt(sx2[i]);
            dn_jw_key(w, "normalised");
            array_json(w, xt, nb);
            dn_jw_key(w, "normalised_sigma");
            array_json(w, sx2, nb);
        }
        free(xt);
    }
    for (int me = 0; me < DASH_METHODS; me++) {
        dn_jw_key(w, dash_method_name[me]);
        score_detail_json(w, s[me], bad[me], warning[me], hg, me == 0 && fired[0] ? fired : NULL,
                          fired_bad);
    }
    dn_jw_end(w);
    rc = dn_jw_finish(w);
    free_detail(hg, s);
    return answer_send(h, c, &a, 200, rc, NULL);
}

typedef enum { V_SUMMARY, V_KEY, V_METRICS } view_kind_t;

static enum MHD_Result get_view(dash_http_t *h, struct MHD_Connection *c, view_kind_t kind)
{
    dash_session_info_t info;
    char cookie[DASH_SESSION_TOKEN_LEN + 1];
    int logged = kind == V_SUMMARY && !session_of(h, c, &info, cookie);
    const char *key = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "key");
    if (kind == V_KEY && (!key || !key[0]))
        return send_error(h, c, 400, "key: missing (the histogram key)");
    answer_t a;
    if (answer_open(&a))
        return MHD_NO;
    int rc;
    pthread_rwlock_rdlock(h->o.model_lock);
    if (kind == V_SUMMARY)
        rc = dash_view_summary(a.f, h->o.model, logged ? info.user : NULL,
                               logged ? info.csrf : NULL, h->o.login_to_view);
    else if (kind == V_KEY)
        rc = dash_view_key(a.f, h->o.model, dn_keytab_find(h->o.model->key_index, key));
    else
        rc = dash_view_metrics(a.f, h->o.model);
    pthread_rwlock_unlock(h->o.model_lock);
    if (rc == DN_ENOTFOUND) {
        answer_drop(&a);
        return send_error(h, c, 404, "no histogram key '%.200s'", key);
    }
    return answer_send(h, c, &a, 200, rc, NULL);
}

/* ---- live events ------------------------------------------------------------------ */

/* The frame client s sends next, taken under the ring lock: its pending part,
 * a reset when it fell out of the ring, the next event, a ping; NULL when
 * there is nothing (the caller suspends it). */
static int take_frame(dash_http_t *h, sse_t *s, int ping_due)
{
    if (s->pending)
        return 1;
    uint64_t oldest = h->head > (uint64_t)h->ring_cap ? h->head - (uint64_t)h->ring_cap : 0;
    const char *text = NULL;
    size_t len = 0;
    char tmp[96];
    if (s->next_id < oldest) {
        len = (size_t)snprintf(tmp, sizeof tmp, "id: %llu\nevent: reset\ndata: {}\n\n",
                               (unsigned long long)(h->head - 1));
        text = tmp;
        s->next_id = h->head;
    } else if (s->next_id < h->head) {
        const ring_entry_t *e = &h->ring[s->next_id % (uint64_t)h->ring_cap];
        text = e->frame;
        len = e->len;
        s->next_id++;
    } else if (ping_due) {
        text = ": ping\n\n";
        len = strlen(text);
    }
    if (!text)
        return 0;
    if (!(s->pending = malloc(len)))
        return 0;
    memcpy(s->pending, text, len);
    s->plen = len;
    s->poff = 0;
    return 1;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse_t *s = cls;
    dash_http_t *h = s->http;
    double now = dn_clock_wall();
    size_t out = 0;
    pthread_mutex_lock(&h->ring_lock);
    if (s->closing) {
        pthread_mutex_unlock(&h->ring_lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    while (out < max && take_frame(h, s, out == 0 && now - s->last_write >= PING_S)) {
        size_t n = s->plen - s->poff < max - out ? s->plen - s->poff : max - out;
        memcpy(buf + out, s->pending + s->poff, n);
        out += n;
        s->poff += n;
        if (s->poff == s->plen) {
            free(s->pending);
            s->pending = NULL;
        }
    }
    if (out) {
        s->last_write = now;
        atomic_fetch_add(&h->n[C_EVENTS], 1);
    } else {
        s->suspended = 1;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&h->ring_lock);
    return (ssize_t)out;
}

static void sse_free(void *cls)
{
    sse_t *s = cls;
    dash_http_t *h = s->http;
    pthread_mutex_lock(&h->ring_lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        h->clients = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&h->ring_lock);
    atomic_fetch_sub(&h->n[C_SSE_OPEN], 1);
    free(s->pending);
    free(s);
}

static enum MHD_Result get_events(dash_http_t *h, struct MHD_Connection *c)
{
    sse_t *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    s->http = h;
    s->conn = c;
    s->last_write = dn_clock_wall();
    const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    pthread_mutex_lock(&h->ring_lock);
    s->next_id = h->head;
    if (last && last[0]) {
        char *end;
        errno = 0;
        unsigned long long id = strtoull(last, &end, 10);
        if (!errno && !*end && id < h->head)
            s->next_id = id + 1;
    }
    s->next = h->clients;
    if (h->clients)
        h->clients->prev = s;
    h->clients = s;
    pthread_mutex_unlock(&h->ring_lock);
    atomic_fetch_add(&h->n[C_SSE_OPEN], 1);
    count(h, C_SSE_TOTAL);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read,
                                                               s, sse_free);
    if (!r) {
        sse_free(s);
        return MHD_NO;
    }
    common_headers(r, "text/event-stream");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

int dash_http_publish(dash_http_t *self, const char *event, const char *data, size_t len)
{
    char head[96];
    pthread_mutex_lock(&self->ring_lock);
    uint64_t id = self->head;
    int hl = snprintf(head, sizeof head, "id: %llu\nevent: %s\ndata: ", (unsigned long long)id,
                      event);
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--; /* one data line: the JSON writer ends documents with a newline */
    char *frame = malloc((size_t)hl + len + 3);
    if (!frame) {
        pthread_mutex_unlock(&self->ring_lock);
        return DN_ENOMEM;
    }
    memcpy(frame, head, (size_t)hl);
    memcpy(frame + hl, data, len);
    memcpy(frame + (size_t)hl + len, "\n\n", 3);
    ring_entry_t *e = &self->ring[id % (uint64_t)self->ring_cap];
    free(e->frame);
    e->id = id;
    e->frame = frame;
    e->len = (size_t)hl + len + 2;
    self->head++;
    pthread_mutex_unlock(&self->ring_lock);
    return 0;
}

void dash_http_wake(dash_http_t *self, int ping)
{
    struct MHD_Connection *wake[256];
    int more = 1;
    while (more) {
        int n = 0;
        more = 0;
        pthread_mutex_lock(&self->ring_lock);
        for (sse_t *s = self->clients; s; s = s->next) {
            if (!s->suspended || (!ping && s->next_id >= self->head))
                continue;
            if (n == 256) {
                more = 1;
                break;
            }
            s->suspended = 0;
            wake[n++] = s->conn;
        }
        pthread_mutex_unlock(&self->ring_lock);
        for (int i = 0; i < n; i++)
            MHD_resume_connection(wake[i]);
    }
}

/* ---- POST handlers ------------------------------------------------------------------ */

static int login_allowed(dash_http_t *h)
{
    /* at most 5 attempts a second, bursts of 20: a guesser gets nowhere fast */
    pthread_mutex_lock(&h->login_lock);
    double now = dn_clock_mono();
    h->login_tokens += (now - h->login_window) * 5.0;
    if (h->login_tokens > 20)
        h->login_tokens = 20;
    h->login_window = now;
    int ok = h->login_tokens >= 1;
    if (ok)
        h->login_tokens -= 1;
    pthread_mutex_unlock(&h->login_lock);
    return ok;
}

static int json_content(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    return ct && !strncasecmp(ct, "application/json", 16);
}

static enum MHD_Result post_login(dash_http_t *h, struct MHD_Connection *c, req_t *rq)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (dash_session_origin_check(origin, host, "http") == DN_EPERM)
        return send_error(h, c, 403, "cross-origin request refused (Origin does not match Host)");
    if (!json_content(c))
        return send_error(h, c, 400, "want Content-Type: application/json");
    dn_err_t lerr = {0};
    dn_users_t *users = users_of(h, &lerr);
    if (!users)
        return send_error(h, c, 503, "nobody can log in: %s", lerr.msg);
    if (!login_allowed(h))
        return send_error(h, c, 429, "too many login attempts; wait a second");
    dn_err_t err = {0};
    dn_json_t *doc = NULL;
    if (dn_json_parse(rq->body ? rq->body : "", rq->len, &doc, &err))
        return send_error(h, c, 400, "body: %s", err.msg);
    const dn_json_value_t *root = dn_json_root(doc);
    const char *user = dn_json_string(dn_json_get(root, "user"));
    const char *password = dn_json_string(dn_json_get(root, "password"));
    enum MHD_Result ret;
    if (!user || !password) {
        ret = send_error(h, c, 400, "body: want {\"user\": ..., \"password\": ...}");
        goto done;
    }
    /* users added or removed with `dinamo user` count from the next login */
    dn_err_t rerr = {0};
    if (dn_users_refresh(users, NULL, &rerr))
        DN_LOG_LIMITED(DN_LOG_WARN, "users file: %s (the last good list stays)", rerr.msg);
    int rc = dn_users_verify_try(users, user, password, &err);
    if (rc == DN_ESTATE) {
        ret = send_error(h, c, 429, "another login is being checked: try again");
        goto done;
    }
    if (rc) {
        count(h, C_LOGIN_FAIL);
        DN_LOG_LIMITED(DN_LOG_WARN, "login refused for '%.64s': %s", user, err.msg);
        ret = send_error(h, c, 401, "%s", rc == DN_EPERM ? "wrong user name or password" : err.msg);
        goto done;
    }
    char cookie[DASH_SESSION_TOKEN_LEN + 1], csrf[DASH_SESSION_TOKEN_LEN + 1];
    if (dash_session_open(h->sessions, user, dn_clock_wall(), cookie, csrf, &err)) {
        ret = send_error(h, c, 400, "%s", err.msg);
        goto done;
    }
    count(h, C_LOGIN);
    dn_log(DN_LOG_INFO, "login: '%s'", user);
    char setc[DASH_SESSION_SET_COOKIE_MAX];
    dash_session_set_cookie(setc, sizeof setc, cookie, 0);
    answer_t a;
    if (answer_open(&a)) {
        ret = MHD_NO;
        goto done;
    }
    dn_jw_object(&a.w);
    dn_jw_key(&a.w, "user");
    dn_jw_string(&a.w, user);
    dn_jw_key(&a.w, "csrf");
    dn_jw_string(&a.w, csrf);
    dn_jw_end(&a.w);
    ret = answer_send(h, c, &a, 200, dn_jw_finish(&a.w), setc);
done:
    dn_json_destroy(&doc);
    return ret;
}

static enum MHD_Result post_logout(dash_http_t *h, struct MHD_Connection *c)
{
    dash_session_info_t info;
    char cookie[DASH_SESSION_TOKEN_LEN + 1];
    const char *why = NULL;
    unsigned st = check_change(h, c, &info, cookie, &why);
    if (st)
        return send_error(h, c, st, "%s", why);
    dash_session_drop(h->sessions, cookie);
    char setc[DASH_SESSION_SET_COOKIE_MAX];
    dash_session_set_cookie(setc, sizeof setc, NULL, 0);
    static char ok[] = "{\"ok\": true}\n";
    return send_buf(c, 200, "application/json", ok, strlen(ok), MHD_RESPMEM_PERSISTENT, setc);
}

static enum MHD_Result post_label(dash_http_t *h, struct MHD_Connection *c, req_t *rq)
{
    dash_session_info_t info;
    char cookie[DASH_SESSION_TOKEN_LEN + 1];
    const char *why = NULL;
    unsigned st = check_change(h, c, &info, cookie, &why);
    if (st) {
        DN_LOG_LIMITED(DN_LOG_WARN, "verdict refused: %s", why);
        return send_error(h, c, st, "%s", why);
    }
    if (!json_content(c))
        return send_error(h, c, 400, "want Content-Type: application/json");
    dn_err_t err = {0};
    dn_json_t *doc = NULL;
    if (dn_json_parse(rq->body ? rq->body : "", rq->len, &doc, &err))
        return send_error(h, c, 400, "body: %s", err.msg);
    const dn_json_value_t *root = dn_json_root(doc);
    double seqd = dn_json_number(dn_json_get(root, "seq"));
    const char *verdict = dn_json_string(dn_json_get(root, "verdict"));
    const char *reason = dn_json_string(dn_json_get(root, "reason"));
    enum MHD_Result ret;
    if (!(seqd >= 0 && seqd < (double)(1 << 30) && seqd == floor(seqd))) {
        ret = send_error(h, c, 400, "seq: want the run_seq of a run (an integer >= 0)");
        goto done;
    }
    if (!verdict || (strcmp(verdict, "good") && strcmp(verdict, "bad"))) {
        ret = send_error(h, c, 400, "verdict: want \"good\" or \"bad\"");
        goto done;
    }
    if (reason && strlen(reason) > 1000) {
        ret = send_error(h, c, 400, "reason: at most 1000 bytes");
        goto done;
    }
    uint64_t seq = (uint64_t)seqd;
    int present = 0;
    int64_t run_number = 0;
    char stream[128];
    pthread_rwlock_rdlock(h->o.model_lock);
    const dash_model_t *m = h->o.model;
    if (seq < (uint64_t)m->n_runs && m->runs[seq].present) {
        present = 1;
        run_number = m->runs[seq].run_number;
    }
    snprintf(stream, sizeof stream, "%s", m->stream);
    pthread_rwlock_unlock(h->o.model_lock);
    if (!present) {
        ret = send_error(h, c, 404, "no run with run_seq %llu", (unsigned long long)seq);
        goto done;
    }
    if (h->o.send_label(h->o.send_label_arg, seq, run_number, stream, !strcmp(verdict, "bad"),
                        reason, info.user, &err)) {
        count(h, C_LABEL_FAIL);
        ret = send_error(h, c, 503, "the verdict could not be sent: %s", err.msg);
        goto done;
    }
    count(h, C_LABEL);
    dn_log(DN_LOG_INFO, "verdict: run %lld (run_seq %llu) %s by '%s': %s", (long long)run_number,
           (unsigned long long)seq, verdict, info.user, reason ? reason : "");
    static char sent[] = "{\"sent\": true}\n";
    ret = send_buf(c, 202, "application/json", sent, strlen(sent), MHD_RESPMEM_PERSISTENT, NULL);
done:
    dn_json_destroy(&doc);
    return ret;
}

/* ---- routing ------------------------------------------------------------------------- */

static enum MHD_Result serve_file(dash_http_t *h, struct MHD_Connection *c, const char *url)
{
    for (int i = 0; i < 5; i++)
        if (!strcmp(url, h->files[i].url) || (i == 0 && !strcmp(url, "/index.html")))
            return send_buf(c, 200, h->files[i].type, h->files[i].data, h->files[i].len,
                            MHD_RESPMEM_PERSISTENT, NULL);
    return send_error(h, c, 404, "no such page");
}

static enum MHD_Result route(dash_http_t *h, struct MHD_Connection *c, const char *url,
                             const char *method, req_t *rq)
{
    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int is_post = !strcmp(method, "POST");
    if (is_post && rq->too_big)
        return send_error(h, c, 413, "body larger than %d bytes", BODY_MAX);
    if (is_post && !strcmp(url, "/api/login"))
        return post_login(h, c, rq);
    if (h->o.login_to_view && strncmp(url, "/static/", 8) && strcmp(url, "/") &&
        strcmp(url, "/api/summary")) {
        dash_session_info_t info;
        char cookie[DASH_SESSION_TOKEN_LEN + 1];
        if (session_of(h, c, &info, cookie))
            return send_error(h, c, 401, "log in to view (login_to_view is set)");
    }
    if (is_post && !strcmp(url, "/api/logout"))
        return post_logout(h, c);
    if (is_post && !strcmp(url, "/api/label"))
        return post_label(h, c, rq);
    if (!is_get)
        return send_error(h, c, 405, "method %s not allowed here", method);
    if (strncmp(url, "/api/", 5))
        return serve_file(h, c, url);
    if (!strcmp(url, "/api/summary"))
        return get_view(h, c, V_SUMMARY);
    if (!strcmp(url, "/api/runs"))
        return get_runs(h, c);
    if (!strcmp(url, "/api/key"))
        return get_view(h, c, V_KEY);
    if (!strcmp(url, "/api/metrics"))
        return get_view(h, c, V_METRICS);
    if (!strcmp(url, "/api/events"))
        return get_events(h, c);
    if (!strncmp(url, "/api/run/", 9)) {
        char *end;
        errno = 0;
        long long seq = strtoll(url + 9, &end, 10);
        if (errno || end == url + 9 || seq < 0 || seq >= (1LL << 30))
            return send_error(h, c, 400, "run_seq: want an integer >= 0 in the path");
        if (!*end)
            return get_run(h, c, seq);
        if (!strcmp(end, "/hist"))
            return get_hist(h, c, seq);
    }
    return send_error(h, c, 404, "no such API path");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    dash_http_t *h = cls;
    req_t *rq = *con_cls;
    if (!rq) { /* the headers: make room for a body, come back for it */
        if (!(rq = calloc(1, sizeof *rq)))
            return MHD_NO;
        *con_cls = rq;
        count(h, C_REQ);
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_big && rq->len + *upload_size <= BODY_MAX) {
            char *b = realloc(rq->body, rq->len + *upload_size + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + rq->len, upload, *upload_size);
            rq->body = b;
            rq->len += *upload_size;
            rq->body[rq->len] = '\0';
        } else {
            rq->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(h, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_t *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
    }
    *con_cls = NULL;
}

/* ---- start and stop ---------------------------------------------------------------------- */

static int load_file(file_t *f, const char *dir, dn_err_t *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, f->path);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return dn_err_set(err, DN_EIO, "web_dir: %s: %s (run `make deps` to install the page's "
                          "libraries)", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += n;
        if (len == cap) {
            char *b = cap < (64u << 20) ? realloc(buf, cap *= 2) : NULL;
            if (!b) {
                free(buf);
                buf = NULL;
            }
            buf = b;
        }
    }
    fclose(fp);
    if (!buf)
        return dn_err_set(err, DN_ENOMEM, "web_dir: %s: too large or out of memory", path);
    f->data = buf;
    f->len = len;
    return 0;
}

/* libmicrohttpd's own messages. The common one is a page closed while its
 * live events were being written ("Failed to send the chunked response
 * body"): routine, once per closed tab, so DEBUG lines of the log rather than
 * bare lines on stderr. What matters (cannot listen) is an error of
 * dash_http_new. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    dn_log(DN_LOG_DEBUG, "http: %s", msg);
}

/* "HOST:PORT" ("[v6]:PORT") into a socket address. */
static int parse_address(const char *text, struct sockaddr_storage *ss, socklen_t *sl,
                         dn_err_t *err)
{
    char host[128];
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof host)
        return dn_err_set(err, DN_EINVAL, "http = '%s': want HOST:PORT (127.0.0.1:8080)", text);
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return dn_err_set(err, DN_EINVAL, "http = '%s': port out of range", text);
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        size_t hl = strlen(host);
        if (host[hl - 1] != ']')
            return dn_err_set(err, DN_EINVAL, "http = '%s': unclosed '['", text);
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return dn_err_set(err, DN_EINVAL, "http = '%s': not an IPv6 address", text);
        *sl = sizeof *a6;
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return dn_err_set(err, DN_EINVAL, "http = '%s': not an IPv4 address (names are not "
                          "looked up)", text);
    *sl = sizeof *a4;
    return 0;
}

dash_http_t *dash_http_new(const dash_http_opts_t *opts, dn_err_t *err)
{
    static const file_t files[5] = {
        {"/", "index.html", "text/html; charset=utf-8", NULL, 0},
        {"/static/app.js", "app.js", "text/javascript; charset=utf-8", NULL, 0},
        {"/static/app.css", "app.css", "text/css; charset=utf-8", NULL, 0},
        {"/static/uplot/uPlot.iife.min.js", "node_modules/uplot/dist/uPlot.iife.min.js",
         "text/javascript; charset=utf-8", NULL, 0},
        {"/static/uplot/uPlot.min.css", "node_modules/uplot/dist/uPlot.min.css",
         "text/css; charset=utf-8", NULL, 0},
    };
    dash_http_t *h = calloc(1, sizeof *h);
    if (!h) {
        dn_err_set(err, DN_ENOMEM, "http: out of memory");
        return NULL;
    }
    h->o = *opts;
    pthread_mutex_init(&h->ring_lock, NULL);
    pthread_mutex_init(&h->users_lock, NULL);
    pthread_mutex_init(&h->login_lock, NULL);
    h->login_window = dn_clock_mono();
    h->login_tokens = 20;
    memcpy(h->files, files, sizeof files);
    h->ring_cap = opts->ring > 0 ? opts->ring : 4096;
    if (!(h->ring = calloc((size_t)h->ring_cap, sizeof *h->ring))) {
        dn_err_set(err, DN_ENOMEM, "http: out of memory");
        goto fail;
    }
    for (int i = 0; i < 5; i++)
        if (load_file(&h->files[i], opts->web_dir, err))
            goto fail;
    dash_session_opts_t so;
    dash_session_opts_default(&so);
    if (opts->session_max > 0)
        so.max_sessions = opts->session_max;
    if (opts->session_idle_s > 0)
        so.idle_s = opts->session_idle_s;
    if (opts->session_max_s > 0)
        so.absolute_s = opts->session_max_s;
    if (!(h->sessions = dash_session_new(&so, err)))
        goto fail;
    if (opts->users_file && opts->users_file[0]) {
        dn_err_t uerr = {0};
        if (!(h->users = dn_users_load(opts->users_file, &uerr))) {
            if (uerr.code != DN_ENOTFOUND) {
                *err = uerr;
                goto fail;
            }
            dn_log(DN_LOG_WARN, "nobody can log in to give verdicts yet: %s", uerr.msg);
        }
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_address(opts->address, &ss, &sl, err))
        goto fail;
    /* a page holds a connection open: let the process have as many as it may */
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, 2u,
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(opts->max_connections > 0 ? opts->max_connections : 1024),
        MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
        MHD_OPTION_END);
    if (!h->daemon) {
        dn_err_set(err, DN_EIO, "http: cannot listen on %s (in use, or not an address of this "
                   "host)", opts->address);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(opts->address, ':') - opts->address),
             opts->address);
    snprintf(h->address, sizeof h->address, "%s:%u", host, di ? (unsigned)di->port : 0u);
    return h;
fail:
    dash_http_destroy(&h);
    return NULL;
}

void dash_http_destroy(dash_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dash_http_t *h = *self_p;
    if (h->daemon) {
        /* open pages: tell their readers to end, wake them, then stop */
        pthread_mutex_lock(&h->ring_lock);
        for (sse_t *s = h->clients; s; s = s->next)
            s->closing = 1;
        pthread_mutex_unlock(&h->ring_lock);
        dash_http_wake(h, 1);
        MHD_stop_daemon(h->daemon);
    }
    for (int i = 0; h->ring && i < h->ring_cap; i++)
        free(h->ring[i].frame);
    free(h->ring);
    for (int i = 0; i < 5; i++)
        free(h->files[i].data);
    dash_session_destroy(&h->sessions);
    dn_users_destroy(&h->users);
    pthread_mutex_destroy(&h->ring_lock);
    pthread_mutex_destroy(&h->users_lock);
    pthread_mutex_destroy(&h->login_lock);
    free(h);
    *self_p = NULL;
}

void dash_http_stats(dash_http_t *self, dash_http_stats_t *o)
{
    o->requests = self->n[C_REQ];
    o->not_found = self->n[C_404];
    o->bad_requests = self->n[C_400];
    o->refused = self->n[C_REFUSED];
    o->logins = self->n[C_LOGIN];
    o->login_failures = self->n[C_LOGIN_FAIL];
    o->labels_sent = self->n[C_LABEL];
    o->labels_failed = self->n[C_LABEL_FAIL];
    o->events = self->n[C_EVENTS];
    o->sse_open = self->n[C_SSE_OPEN];
    o->sse_total = self->n[C_SSE_TOTAL];
}

const char *dash_http_address(const dash_http_t *self) { return self->address; }
