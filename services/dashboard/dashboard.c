/* dashboard: the shifter's live view of the stream, in a browser
 * (docs/dashboard.md).
 *
 * Follows, as a passive follower (it never holds a source back: stream.h),
 * the events log (runs, labels, end of stream), the scores logs of both
 * methods, and the evaluator's thresholds log. Every entry updates the model
 * (model.h: the compact summary every page is drawn from) under the model
 * lock and stages its rows in the detail store (detail.h: the summary, so a
 * restart serves everything judged so far, and each run's histograms and
 * scores with pulls and references, within the retention windows). Once per
 * round the runs that changed are re-assessed as the evaluator judges them,
 * their new summaries go out to every open page as live events, the detail
 * store commits, then the node commits the followers' positions (a crash
 * between the two redelivers entries whose rows are already there: every row
 * is keyed by what it describes, so nothing doubles).
 *
 * The web server (http.h) runs on its own threads and only reads. A verdict
 * given in the browser by a logged-in user is sent here (send_label) as a
 * Label on a PUSH to the events source's requests endpoint, under the
 * dashboard's key, which has the `delegate` role: the source keeps the
 * user's name as "who" and appends it to the events log, from where the
 * scorers, the evaluator's labels.csv and this dashboard's pages get it. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "histo.h"
#include "detail.h"
#include "http.h"
#include "log.h"
#include "model.h"
#include "node.h"
#include "view.h"

typedef struct dash_t {
    dash_model_t model;
    pthread_rwlock_t lock;
    dash_detail_t *detail;
    dash_http_t *http;
    /* verdicts */
    dn_sock_t *labels;
    pthread_mutex_t labels_lock;
    uint64_t incarnation, label_seq;
    /* per round */
    int meta_changed;
    dash_seqset_t new_runs;         /* runs that arrived this round (retention) */
    double last_ping;
    /* live events: the runs changed since the pages were last sent theirs */
    dash_seqset_t live;
    int live_counts;
    double last_live;
    uint64_t entries, skipped;
    uint64_t hz_rejected;           /* S Scores whose horizons were not their key's */
    dn_err_t stage_err;
    int stage_rc;
} dash_t;

/* ---- the followed logs --------------------------------------------------------------- */

static int staged(dash_t *d, int rc, const char *what)
{
    if (rc && !d->stage_rc) {
        d->stage_rc = rc;
        dn_err_set(&d->stage_err, rc, "detail store: staging %s: %s", what, dn_strerror(rc));
    }
    return rc;
}

/* An entry (or a histogram of one) the model cannot hold: counted, logged
 * through a rate limit, and the rest of the entry and the stream go on. */
static void skip(dash_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(dash_t *d, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->skipped++;
    DN_LOG_LIMITED(DN_LOG_WARN, "%s: skipped", msg);
}

static int take_run(dash_t *d, const Dinamo__Run *run)
{
    if (run->run_seq >= DASH_MAX_SEQ) {
        skip(d, "run %lld: run_seq %llu beyond the %d runs a dashboard holds",
             (long long)run->run_number, (unsigned long long)run->run_seq, DASH_MAX_SEQ);
        return 0;
    }
    dash_model_t *m = &d->model;
    int *keys = malloc((run->n_histograms + 1) * sizeof *keys);
    if (!keys)
        return DN_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < run->n_histograms && !rc; i++) {
        const Dinamo__Histogram *hg = run->histograms[i];
        int ny = hg->has_n_bins_y ? (int)hg->n_bins_y : 0, fits = 0;
        keys[i] = dash_model_key(m, hg->key, hg->subsystem ? hg->subsystem : "",
                                 (int)hg->n_counts);
        if (keys[i] < 0)
            rc = DN_ENOMEM;
        else if (!(fits = dash_model_key_shape(m, keys[i], (int)hg->n_counts, ny))) {
            /* the evaluator skips such a histogram; so does the view */
            const dash_key_t *hk = &m->keys[keys[i]];
            char got[64], want[64];
            dn_hist_binning_name(got, sizeof got, (int)hg->n_counts, ny);
            dn_hist_binning_name(want, sizeof want, hk->n_bins, hk->n_bins_y);
            skip(d, "run %lld: histogram '%s': binning changed: %s, the key has %s",
                 (long long)run->run_number, hg->key, got, want);
            keys[i] = -1;
        } else {
            if (fits == 2) /* the key's row may be staged already, without its shape */
                staged(d, dash_detail_stage_key(d->detail, m, keys[i]), "a key");
            staged(d, dash_detail_stage_hist(d->detail, run->run_seq, keys[i], hg), "a histogram");
        }
    }
    int n = 0;
    for (size_t i = 0; i < run->n_histograms; i++)
        if (keys[i] >= 0)
            keys[n++] = keys[i];
    if (!rc)
        rc = dash_model_run(m, run->run_seq, run->run_number, run->has_time ? run->time : NAN,
                            keys, n);
    free(keys);
    if (!rc && run->stream && !m->stream[0]) {
        snprintf(m->stream, sizeof m->stream, "%s", run->stream);
        d->meta_changed = 1;
    }
    if (!rc)
        rc = dash_seqset_add(&d->new_runs, (int)run->run_seq);
    return rc;
}

static int take_label(dash_t *d, const Dinamo__Envelope *env)
{
    const Dinamo__Label *l = env->label;
    dash_model_t *m = &d->model;
    if (l->run_seq >= DASH_MAX_SEQ) {
        skip(d, "label of run %lld: run_seq %llu beyond the %d runs a dashboard holds",
             (long long)l->run_number, (unsigned long long)l->run_seq, DASH_MAX_SEQ);
        return 0;
    }
    int k = -1;
    if (l->histogram_key && l->histogram_key[0]) {
        if ((k = dash_model_key(m, l->histogram_key, NULL, 0)) < 0)
            return DN_ENOMEM;
    }
    dash_label_state_t state = l->source == DINAMO__LABEL_SOURCE__SHIFTER ? DASH_LABEL_PERSON
                               : l->source == DINAMO__LABEL_SOURCE__AUTO  ? DASH_LABEL_AUTO
                                                                          : DASH_LABEL_RECORDED;
    int rc = dash_model_label(m, l->run_seq, k, l->verdict == DINAMO__VERDICT__BAD, state, l->who,
                              l->reason, l->has_time ? l->time : NAN);
    if (!rc)
        staged(d, dash_detail_stage_label(d->detail, l->run_seq, env->offset, l), "a label");
    return rc;
}

static int on_events(dn_node_t *node, void *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    (void)node;
    dash_t *d = self;
    int rc = 0;
    pthread_rwlock_wrlock(&d->lock);
    d->entries++;
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        rc = take_run(d, env->run);
        break;
    case DN_MSG_LABEL:
        rc = take_label(d, env);
        break;
    case DN_MSG_CONTROL:
        if (env->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM && !d->model.ended) {
            d->model.ended = 1;
            d->meta_changed = 1;
            dn_log(DN_LOG_INFO, "end of stream on events (%d runs)", d->model.n_runs);
        }
        break;
    default:
        break;
    }
    pthread_rwlock_unlock(&d->lock);
    return rc ? dn_err_set(err, rc, "events: %s", dn_strerror(rc)) : 0;
}

static int take_score(dash_t *d, int me, const Dinamo__Score *s)
{
    dash_model_t *m = &d->model;
    if (s->run_seq >= DASH_MAX_SEQ) {
        skip(d, "score of run %lld: run_seq %llu beyond the %d runs a dashboard holds",
             (long long)s->run_number, (unsigned long long)s->run_seq, DASH_MAX_SEQ);
        return 0;
    }
    int nb = (int)(s->n_pulls ? s->n_pulls : s->n_reference);
    int k = dash_model_key(m, s->histogram_key, NULL, nb);
    if (k < 0)
        return DN_ENOMEM;
    int status = s->status == DINAMO__SCORE_STATUS__OK                        ? DASH_ST_OK
                 : s->status == DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS ? DASH_ST_INSUFFICIENT
                                                                              : DASH_ST_REJECTED;
    int rc = dash_model_score(m, me, s->run_seq, k, status, s->has_chi2 ? s->chi2 : NAN,
                              s->has_alpha ? s->alpha : NAN);
    if (!rc && me == 0 && status == DASH_ST_OK) { /* its lagged horizons, if any */
        const char *names[DN_HZ_MAX];
        double chi2[DN_HZ_MAX];
        int n = s->n_horizons < DN_HZ_MAX ? (int)s->n_horizons : DN_HZ_MAX;
        for (int h = 0; h < n; h++) {
            const Dinamo__HorizonScore *hs = s->horizons[h];
            names[h] = hs->name;
            chi2[h] = hs->has_age && hs->has_chi2 && isfinite(hs->chi2) && hs->chi2 >= 0
                          ? hs->chi2
                          : NAN;
        }
        int was = m->keys[k].hz_fixed;
        rc = s->n_horizons < DN_HZ_MAX ? dash_model_score_hz(m, s->run_seq, k, n, names, chi2)
                                       : 1;
        if (rc == 1) { /* the score itself is taken, as the evaluator takes it */
            d->hz_rejected++;
            DN_LOG_LIMITED(DN_LOG_WARN, "score of run %lld: histogram '%s': its horizons are "
                           "not the key's (or no horizons): scored against now alone",
                           (long long)s->run_number, s->histogram_key);
            rc = 0;
        } else if (!rc && !was && m->keys[k].hz_fixed && m->keys[k].n_lagged) {
            staged(d, dash_detail_stage_key(d->detail, m, k), "a key's horizons");
        }
    }
    if (!rc)
        staged(d, dash_detail_stage_score(d->detail, s->run_seq, k, me, s), "a score");
    return rc;
}

static int on_scores(dash_t *d, int me, const Dinamo__Envelope *env, dn_err_t *err)
{
    int rc = 0;
    pthread_rwlock_wrlock(&d->lock);
    d->entries++;
    if (dn_msg_type(env) == DN_MSG_SCORE)
        rc = take_score(d, me, env->score);
    pthread_rwlock_unlock(&d->lock);
    return rc ? dn_err_set(err, rc, "%s: %s", me ? "scores_ml" : "scores_s", dn_strerror(rc)) : 0;
}

static int on_scores_s(dn_node_t *node, void *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    (void)node;
    return on_scores(self, 0, env, err);
}

static int on_scores_ml(dn_node_t *node, void *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    (void)node;
    return on_scores(self, 1, env, err);
}

static int on_thresholds(dn_node_t *node, void *self, const Dinamo__Envelope *env,
                         dn_err_t *err)
{
    (void)node;
    dash_t *d = self;
    if (dn_msg_type(env) != DN_MSG_THRESHOLD)
        return 0;
    const Dinamo__Threshold *t = env->threshold;
    int me = t->method == DINAMO__METHOD__METHOD_ML ? 1 : 0;
    int rc = 0;
    pthread_rwlock_wrlock(&d->lock);
    d->entries++;
    int k = dash_model_key(&d->model, t->histogram_key, NULL, 0);
    if (k < 0)
        rc = DN_ENOMEM;
    else
        rc = dash_model_threshold(&d->model, k, me, t->bad, t->has_warning ? t->warning : NAN,
                                  t->has_historical_runs ? (int)t->historical_runs : -1,
                                  t->origin);
    if (k >= 0 && !rc && me == 0) { /* the horizons' thresholds (none: now alone) */
        const char *names[DN_HZ_MAX];
        double bad[DN_HZ_MAX];
        int n = t->n_horizons < DN_HZ_MAX ? (int)t->n_horizons : DN_HZ_MAX - 1;
        for (int h = 0; h < n; h++) {
            names[h] = t->horizons[h]->name;
            bad[h] = t->horizons[h]->has_bad ? t->horizons[h]->bad : NAN;
        }
        rc = dash_model_threshold_hz(&d->model, k, n, names, bad);
    }
    if (!rc)
        staged(d, dash_detail_stage_threshold(d->detail, &d->model, k, me), "a threshold");
    pthread_rwlock_unlock(&d->lock);
    return rc ? dn_err_set(err, rc, "thresholds: %s", dn_strerror(rc)) : 0;
}

/* ---- the round: judge, publish, commit ---------------------------------------------------- */

/* Live events go out at most this often: a run whose scores arrive over
 * several rounds is sent once, with what it has then, and each page is woken
 * (one write of everything new) ten times a second at most, however fast the
 * stream runs. Sending every round cost a fast stream a quarter of its rate
 * on two cores with 50 pages open (bench/bench_dashboard.c). */
#define LIVE_EVERY_S 0.1

/* A run that changed: its summary row staged, its live event due. */
static void run_changed(void *arg, int seq)
{
    dash_t *d = arg;
    staged(d, dash_detail_stage_run(d->detail, &d->model, seq), "a run's summary");
    dash_seqset_add(&d->live, seq); /* out of memory: the page gets the run's next change */
}

/* Sends run seq's summary to the pages (under the model lock). */
static void publish_run(dash_t *d, int seq)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return;
    dn_jw_t w;
    dn_jw_init(&w, f);
    dash_view_run(&w, &d->model, seq);
    int rc = dn_jw_finish(&w);
    fclose(f);
    if (!rc)
        dash_http_publish(d->http, "run", buf, len);
    free(buf);
}

static int round_work(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    dash_t *d = self;
    pthread_rwlock_wrlock(&d->lock);
    int changed = dash_model_settle(&d->model, run_changed, d);
    for (int i = 0; i < d->new_runs.n && !d->stage_rc; i++)
        if (dash_detail_retain(d->detail, &d->model, d->new_runs.seq[i], &d->stage_err))
            d->stage_rc = d->stage_err.code;
    dash_seqset_clear(&d->new_runs);
    dash_model_settle(&d->model, run_changed, d); /* runs whose detail was dropped */
    staged(d, dash_detail_stage_keys(d->detail, &d->model), "the keys");
    if (d->meta_changed)
        staged(d, dash_detail_stage_meta(d->detail, &d->model), "the stream's name");
    d->meta_changed = 0;
    d->live_counts |= changed > 0;
    double now = dn_clock_mono();
    int send = (d->live.n || d->live_counts) && now - d->last_live >= LIVE_EVERY_S;
    if (send) {
        for (int i = 0; i < d->live.n; i++)
            publish_run(d, d->live.seq[i]);
        dash_seqset_clear(&d->live);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = d->live_counts ? open_memstream(&buf, &len) : NULL;
        if (f) {
            int rc = dash_view_counts(f, &d->model);
            fclose(f);
            if (!rc)
                dash_http_publish(d->http, "summary", buf, len);
            free(buf);
        }
        d->live_counts = 0;
        d->last_live = now;
    } else if (d->live.n || d->live_counts) {
        int ms = (int)ceil(1e3 * (LIVE_EVERY_S - (now - d->last_live)));
        if (ms < *wait_ms)
            *wait_ms = ms > 0 ? ms : 0;
    }
    pthread_rwlock_unlock(&d->lock);
    if (d->stage_rc) {
        *err = d->stage_err;
        return d->stage_rc;
    }
    int rc = dash_detail_commit(d->detail, err);
    if (rc)
        return rc;
    if (send)
        dash_http_wake(d->http, 0);
    if (changed)
        dn_node_touch(node);
    return 0;
}

static int tick(dn_node_t *node, void *self, dn_err_t *err)
{
    (void)node;
    dash_t *d = self;
    double now = dn_clock_mono();
    if (now - d->last_ping >= 15.0) {
        d->last_ping = now;
        dash_http_wake(d->http, 1);
    }
    return dash_detail_sync(d->detail, err);
}

/* ---- verdicts ------------------------------------------------------------------------------ */

static int send_label(void *arg, uint64_t seq, int64_t run_number, const char *stream, int bad,
                      const char *reason, const char *who, dn_err_t *err)
{
    dash_t *d = arg;
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = l.has_time = 1;
    l.run_number = run_number;
    l.run_seq = seq;
    l.verdict = bad ? DINAMO__VERDICT__BAD : DINAMO__VERDICT__GOOD;
    l.source = DINAMO__LABEL_SOURCE__SHIFTER;
    l.who = (char *)who;
    l.reason = (char *)(reason ? reason : "");
    l.stream = stream[0] ? (char *)stream : NULL;
    l.time = dn_clock_wall();
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.producer = (char *)"dashboard|labels";
    env.has_incarnation = env.has_seq = 1;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &l;
    /* ZeroMQ sockets are not thread-safe: one server thread at a time */
    pthread_mutex_lock(&d->labels_lock);
    env.incarnation = d->incarnation;
    env.seq = d->label_seq;
    int rc = dn_sock_send(d->labels, &env, 2000, err);
    if (!rc)
        d->label_seq++;
    pthread_mutex_unlock(&d->labels_lock);
    return rc;
}

/* ---- start, stop ---------------------------------------------------------------------------- */

static const dn_config_key_t own_keys[] = {
    {"http", DN_CFG_STRING, "127.0.0.1:8080",
     "address the web server listens on (HOST:PORT; loopback by default)"},
    {"web_dir", DN_CFG_STRING, "web", "the page's files (index.html, app.js, app.css, "
                                      "node_modules/uplot: `make deps` installs them)"},
    {"users_file", DN_CFG_STRING, "keys/users",
     "users who may log in to give verdicts (`dinamo user add NAME`)"},
    {"login_to_view", DN_CFG_BOOL, "false", "every page needs a login, not only verdicts"},
    {"events", DN_CFG_STRING, "connect:tcp://127.0.0.1:5550", "events log (SUB)"},
    {"events_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5551", "events requests (PUSH)"},
    {"labels", DN_CFG_STRING, "connect:tcp://127.0.0.1:5551",
     "where verdicts are sent: the events source's requests endpoint (PUSH)"},
    {"scores_s", DN_CFG_STRING, "connect:tcp://127.0.0.1:5552", "scores_s log (SUB)"},
    {"scores_s_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5553", "scores_s requests"},
    {"scores_ml", DN_CFG_STRING, "connect:tcp://127.0.0.1:5554", "scores_ml log (SUB)"},
    {"scores_ml_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5555", "scores_ml requests"},
    {"thresholds", DN_CFG_STRING, "connect:tcp://127.0.0.1:5558", "evaluator's thresholds (SUB)"},
    {"thresholds_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5559",
     "thresholds requests (PUSH)"},
    {"methods", DN_CFG_STRING, "s,ml", "methods shown: s, ml or s,ml"},
    {"consumer", DN_CFG_STRING, "dashboard",
     "this dashboard's name as a follower (unique per log when several dashboards run)"},
    {"detail_runs", DN_CFG_INT, "2000",
     "runs whose histograms, pulls and references stay on disk (the newest; 0: all)"},
    {"detail_flagged_runs", DN_CFG_INT, "20000",
     "the same for runs judged warning or bad or labelled by a person (0: all)"},
    {"max_connections", DN_CFG_INT, "2048", "open connections at most (a page holds one)"},
    {"events_ring", DN_CFG_INT, "8192", "live events kept for pages that read late"},
    {"session_max", DN_CFG_INT, "1024", "login sessions kept at most"},
    {"session_idle_s", DN_CFG_INT, "28800", "a session idle this long ends (8 h)"},
    {"session_max_s", DN_CFG_INT, "86400", "a session ends this long after the login (24 h)"},
};

static int make_io(dash_t *d, dn_node_t *node, dn_err_t *err)
{
    int want[2];
    if (dn_node_methods(node, "methods", want, err))
        return err->code;
    d->model.shown[0] = (uint8_t)want[0];
    d->model.shown[1] = (uint8_t)want[1];
    const char *consumer = dn_node_str(node, "consumer");
    dn_follower_opts_t fo = {.log = "events", .consumer = consumer, .passive = 1};
    if (!dn_node_follow(node, "events", "events_requests", &fo, on_events, err))
        return err->code;
    fo.log = "scores_s";
    if (want[0] && !dn_node_follow(node, "scores_s", "scores_s_requests", &fo, on_scores_s, err))
        return err->code;
    fo.log = "scores_ml";
    if (want[1] &&
        !dn_node_follow(node, "scores_ml", "scores_ml_requests", &fo, on_scores_ml, err))
        return err->code;
    fo.log = "thresholds";
    if (!dn_node_follow(node, "thresholds", "thresholds_requests", &fo, on_thresholds, err))
        return err->code;
    if (!(d->labels = dn_node_socket(node, ZMQ_PUSH, "labels", NULL, err)))
        return err->code;
    return 0;
}

static int start_http(dash_t *d, dn_node_t *node, dn_err_t *err)
{
    int64_t maxc, ring, smax, sidle, sabs;
    int rc;
    if ((rc = dn_node_int(node, "max_connections", 1, 1000000, &maxc, err)) ||
        (rc = dn_node_int(node, "events_ring", 16, 1 << 24, &ring, err)) ||
        (rc = dn_node_int(node, "session_max", 1, 1 << 20, &smax, err)) ||
        (rc = dn_node_int(node, "session_idle_s", 1, INT32_MAX, &sidle, err)) ||
        (rc = dn_node_int(node, "session_max_s", 1, INT32_MAX, &sabs, err)))
        return rc;
    dash_http_opts_t ho = {
        .address = dn_node_str(node, "http"),
        .web_dir = dn_node_str(node, "web_dir"),
        .users_file = dn_node_str(node, "users_file"),
        .login_to_view = dn_node_bool(node, "login_to_view"),
        .max_connections = (int)maxc,
        .ring = (int)ring,
        .session_max = (int)smax,
        .session_idle_s = (int)sidle,
        .session_max_s = (int)sabs,
        .model = &d->model,
        .model_lock = &d->lock,
        .detail = d->detail,
        .send_label = send_label,
        .send_label_arg = d,
    };
    if (!(d->http = dash_http_new(&ho, err)))
        return err->code;
    const char *a = dash_http_address(d->http);
    if (strncmp(a, "127.", 4) && strncmp(a, "[::1]", 5) && !ho.login_to_view)
        dn_log(DN_LOG_WARN, "http: listening on %s, not a loopback address, and anyone who "
               "reaches it may view (set login_to_view = true to ask for a login)", a);
    dn_log(DN_LOG_INFO, "dashboard at http://%s/", a);
    return 0;
}

static void destroy(void *self)
{
    dash_t *d = self;
    dash_http_destroy(&d->http); /* first: its threads read everything below */
    dash_detail_destroy(&d->detail);
    dash_model_free(&d->model);
    pthread_rwlock_destroy(&d->lock);
    pthread_mutex_destroy(&d->labels_lock);
    dash_seqset_free(&d->new_runs);
    dash_seqset_free(&d->live);
    free(d);
}

static int create(dn_node_t *node, void **self, dn_err_t *err)
{
    dash_t *d = calloc(1, sizeof *d);
    if (!(*self = d))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    if (dash_model_lock_init(&d->lock))
        return dn_err_set(err, DN_ENOMEM, "cannot make the model's lock");
    pthread_mutex_init(&d->labels_lock, NULL);
    d->incarnation = (uint64_t)(dn_clock_wall() * 1e9);
    d->last_ping = dn_clock_mono();
    int64_t keep, keep_flagged;
    int rc;
    char dir[4096];
    if ((rc = dn_node_int(node, "detail_runs", 0, 1 << 30, &keep, err)) ||
        (rc = dn_node_int(node, "detail_flagged_runs", 0, 1 << 30, &keep_flagged, err)) ||
        (rc = dn_node_path(node, "dashboard/detail", dir, sizeof dir, err)))
        return rc;
    if (dash_model_init(&d->model))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    if (!(d->detail = dash_detail_open(dir, (int)keep, (int)keep_flagged, err)))
        return err->code;
    if ((rc = dash_detail_load(d->detail, &d->model, err)))
        return rc;
    if ((rc = make_io(d, node, err)) || (rc = start_http(d, node, err)))
        return rc;
    dn_log(DN_LOG_INFO, "started: %d runs, %d histogram keys from the store; detail kept for "
           "%lld runs (%lld flagged)", d->model.n_runs, d->model.n_keys, (long long)keep,
           (long long)keep_flagged);
    return 0;
}

/* The node's checkpoint holds the followers' positions; the model lives in
 * the detail store. */
static void save(void *self, dn_wbuf_t *w)
{
    (void)self;
    dn_wb_u32(w, 1);
}

static int load(dn_node_t *node, void *self, dn_rbuf_t *r, dn_err_t *err)
{
    (void)node;
    (void)self;
    (void)err;
    dn_rb_u32(r);
    return 0;
}

static void stop(dn_node_t *node, void *self)
{
    (void)node;
    dash_t *d = self;
    dash_http_stats_t st;
    dash_http_stats(d->http, &st);
    dn_log(DN_LOG_INFO, "stopped: %d runs, %d keys, %llu entries (%llu skipped, %llu scores' "
           "horizons not their key's); http: %llu requests (%llu not "
           "found, %llu bad, %llu refused), %llu logins (%llu failed), %llu verdicts sent (%llu "
           "failed), %llu live events written to %llu pages (%llu open)",
           d->model.n_runs, d->model.n_keys, (unsigned long long)d->entries,
           (unsigned long long)d->skipped, (unsigned long long)d->hz_rejected,
           (unsigned long long)st.requests, (unsigned long long)st.not_found,
           (unsigned long long)st.bad_requests, (unsigned long long)st.refused,
           (unsigned long long)st.logins, (unsigned long long)st.login_failures,
           (unsigned long long)st.labels_sent, (unsigned long long)st.labels_failed,
           (unsigned long long)st.events, (unsigned long long)st.sse_total,
           (unsigned long long)st.sse_open);
}

int main(int argc, char **argv)
{
    const dn_node_def_t def = {
        .name = "dashboard",
        .usage = "Serves the shifter's live view of the stream in a browser: runs as they\n"
                 "are judged, their worst histograms against the reference, verdicts\n"
                 "(docs/dashboard.md).\n",
        .keys = own_keys, .n_keys = (int)(sizeof own_keys / sizeof *own_keys),
        .flags = DN_NODE_STORE, .create = create, .destroy = destroy, .round = round_work,
        .tick = tick, .stop = stop, .ckpt_magic = "DNDB", .ckpt_version = 1, .save = save,
        .load = load,
    };
    return dn_node_main(&def, argc, argv);
}
