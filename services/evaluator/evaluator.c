/* evaluator: the pipeline's evaluation service (docs/pipeline.md).
 *
 * Follows the events log (runs, labels with truth, END_OF_STREAM) and the
 * scores logs of the enabled methods (scores_s, scores_ml) as consumer
 * "evaluator", and keeps every run, label and score it receives (the book,
 * ingest.c) in its LMDB store, committed with the followers' positions, so a
 * restart rebuilds memory from the store and continues exactly.
 *
 * Every change to a histogram of a run sets off, per method: the key's
 * threshold once it can be known (the policy's, or tuned on the first n_hist
 * runs as dn_evaluate does; judge.c), the judgement of the run once all its
 * histograms are judged (a warning or bad run is logged with its worst
 * histograms), the figure sets of a run flagged bad (figures.c), and, with
 * auto_accept, a "good" label for a run every chosen method judged good
 * (autoaccept.c). Each threshold, once known, is appended to the log
 * `thresholds` this service produces (one Threshold per key and method: bad,
 * warning, the historical runs, its origin), which the dashboard follows
 * passively; the log is unheld (stream.h): nothing but passive readers
 * follow it, so it never holds the evaluator back. A restart rebuilds the
 * thresholds quietly and then appends only those the log does not hold as
 * they are now (a policy or warning_margin changed meanwhile): the last
 * entry of a key and method is the one in force. At END_OF_STREAM of the
 * events and of every enabled method's log, once the figures of the last
 * runs are drawn (or at once on SIGUSR1), the report is written into
 * report_dir (report.c): metrics.json with the numbers of `dinamo
 * evaluate`, the scores in `dinamo score`'s format, flags.csv, runs.csv,
 * subsystems.csv, labels.csv, with report_root references.root, then FINAL.
 *
 * The checkpoint (the node's framing: the followers' next offsets) carries
 * which logs ended and whether the final report was written. Run with
 * --figure-worker, the binary is the figure worker's helper process. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "evaluator.h"
#include "log.h"
#include "node.h"

const char *const ev_log_name[EV_METHODS] = {"scores_s", "scores_ml"};

typedef struct ev_t {
    int methods[EV_METHODS];      /* the methods evaluated (their logs followed) */
    char report_dir[4096];
    int exit_at_end;
    int report_root;              /* references.root in the report */
    int eos_events, eos[EV_METHODS], final_done; /* checkpointed */
    ev_book_t book;
    ev_judge_t judge;
    ev_auto_t autoacc;
    ev_figures_t figures;
    dn_source_t *thresholds;      /* the log of the thresholds in force */
    /* After a restart, per k * EV_METHODS + m: the log lacks the rebuilt
     * threshold as it is now; appended by the first round. NULL: none. */
    uint8_t *republish;
    int n_republish;              /* entries of republish (n_keys * EV_METHODS at start) */
    char stream[DN_MSG_KEY_MAX + 1]; /* the runs' stream name, as the log's entries say */
} ev_t;

/* ---- what a change sets off ------------------------------------------------------- */

/* The lagged horizons' thresholds of a Threshold (threshold_of). */
typedef struct hz_thr_t {
    Dinamo__HorizonThreshold h[DN_HZ_MAX];
    Dinamo__HorizonThreshold *p[DN_HZ_MAX];
    char name[DN_HZ_MAX][DN_HZ_NAME_MAX];
} hz_thr_t;

/* The Threshold of (k, m) as it is in force now (known: bad not NaN). A
 * policy warning above bad means no warning level (dn_severity: nothing is
 * above warning and not above bad), so it is sent as bad, which judges alike.
 * A key judged at several horizons carries each lagged one's threshold (hz,
 * the caller's storage), once tuned. */
static void threshold_of(const ev_t *ev, int k, int m, Dinamo__Threshold *t, hz_thr_t *hz)
{
    dn_thresholds_t th = ev_thresholds(&ev->judge, k, m);
    dinamo__threshold__init(t);
    t->histogram_key = (char *)ev->book.keys[k].key;
    t->has_method = 1;
    t->method = m == 0 ? DINAMO__METHOD__METHOD_S : DINAMO__METHOD__METHOD_ML;
    t->has_bad = t->has_warning = t->has_historical_runs = 1;
    t->bad = th.bad;
    t->warning = th.warning > th.bad ? th.bad : th.warning;
    t->historical_runs = (uint32_t)ev->judge.n_hist;
    t->origin = (char *)(!isnan(ev_key_policy(&ev->judge, k).bad) ? "policy"
                         : isinf(th.bad)                          ? "untunable"
                                                                  : "tuned");
    t->stream = ev->stream[0] ? (char *)ev->stream : NULL;
    const ev_key_t *hk = &ev->book.keys[k];
    if (hk->hz[m].n > 1 && ev_hz_tuned(&ev->judge, k, m)) {
        for (int h = 1; h < hk->hz[m].n; h++) {
            Dinamo__HorizonThreshold *ht = &hz->h[h - 1];
            dinamo__horizon_threshold__init(ht);
            ht->name = (char *)ev_hz_name(hk, m, h, hz->name[h - 1], DN_HZ_NAME_MAX);
            double bad = ev_hz_threshold(&ev->judge, k, m, h);
            ht->has_bad = !isnan(bad);
            ht->bad = bad;
            hz->p[h - 1] = ht;
        }
        t->n_horizons = (size_t)hk->hz[m].n - 1;
        t->horizons = hz->p;
    }
}

/* 1 when a Threshold read back carries the horizons of now's. */
static int same_horizons(const Dinamo__Threshold *was, const Dinamo__Threshold *now)
{
    if (was->n_horizons != now->n_horizons)
        return 0;
    for (size_t h = 0; h < now->n_horizons; h++) {
        const Dinamo__HorizonThreshold *a = was->horizons[h], *b = now->horizons[h];
        if (!a->name || strcmp(a->name, b->name) ||
            !(a->has_bad ? b->has_bad && a->bad == b->bad : !b->has_bad))
            return 0;
    }
    return 1;
}

/* Appends the threshold of (k, m) to the thresholds log (committed with the
 * round). A refusal is a bug of ours, not the data's: logged, the
 * evaluation goes on. */
static void publish_threshold(ev_t *ev, int k, int m)
{
    Dinamo__Threshold t;
    hz_thr_t hz;
    threshold_of(ev, k, m, &t, &hz);
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_THRESHOLD;
    env.threshold = &t;
    dn_err_t err = {0};
    if (dn_source_append(ev->thresholds, &env, &err))
        dn_log(DN_LOG_WARN, "histogram '%s' (%s): threshold not published: %s",
               ev->book.keys[k].key, ev_method_name[m], err.msg);
}

static int same_double(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* At start, after the rebuild (nothing delivered yet, so the log holds
 * only committed entries): the thresholds log against the thresholds rebuilt
 * from the book. Every known (key, method) whose last entry is missing or
 * says otherwise (the policy or warning_margin changed, or an older version
 * kept no log) is marked in ev->republish, for the first round to append
 * (after the checkpoint is restored). Returns 0, DN_ENOMEM, or the store's
 * error. */
static int check_thresholds_log(ev_t *ev, dn_node_t *node, dn_err_t *err)
{
    uint64_t n = dn_source_head(ev->thresholds);
    /* last[k * 2 + m]: offset + 1 of the last entry of (k, m), 0: none */
    uint64_t *last = calloc((size_t)(ev->book.n_keys ? ev->book.n_keys : 1) * EV_METHODS,
                            sizeof *last);
    if (!last)
        return dn_err_set(err, DN_ENOMEM, "thresholds log: out of memory");
    int rc = 0, appended = 0;
    for (uint64_t off = 0; off < n; off++) {
        Dinamo__Envelope *e = NULL;
        dn_err_t rerr = {0};
        if (dn_stream_log_read(dn_node_store(node), "thresholds", off, &e, &rerr) ||
            dn_msg_type(e) != DN_MSG_THRESHOLD) {
            dn_msg_free(&e); /* a damaged entry: its key is published again below */
            continue;
        }
        int k = dn_keytab_find(ev->book.index, e->threshold->histogram_key);
        if (k >= 0 && k < ev->book.n_keys)
            last[k * EV_METHODS + (e->threshold->method == DINAMO__METHOD__METHOD_ML)] = off + 1;
        if (e->threshold->stream && !ev->stream[0])
            snprintf(ev->stream, sizeof ev->stream, "%s", e->threshold->stream);
        dn_msg_free(&e);
    }
    for (int k = 0; k < ev->book.n_keys && !rc; k++)
        for (int m = 0; m < EV_METHODS && !rc; m++) {
            if (!ev->methods[m] || isnan(ev_thresholds(&ev->judge, k, m).bad))
                continue;
            Dinamo__Threshold now;
            hz_thr_t hz;
            threshold_of(ev, k, m, &now, &hz);
            Dinamo__Envelope *e = NULL;
            uint64_t at = last[k * EV_METHODS + m];
            if (at && (rc = dn_stream_log_read(dn_node_store(node), "thresholds", at - 1, &e,
                                               err)))
                break;
            const Dinamo__Threshold *was = e ? e->threshold : NULL;
            if (!was || !same_double(was->bad, now.bad) ||
                !same_double(was->has_warning ? was->warning : NAN, now.warning) ||
                was->historical_runs != now.historical_runs || !was->origin ||
                strcmp(was->origin, now.origin) || !same_horizons(was, &now)) {
                if (!ev->republish &&
                    !(ev->republish = calloc((size_t)ev->book.n_keys * EV_METHODS, 1)))
                    rc = dn_err_set(err, DN_ENOMEM, "thresholds log: out of memory");
                else
                    ev->republish[k * EV_METHODS + m] = 1;
                ev->n_republish = ev->book.n_keys * EV_METHODS;
                appended++;
            }
            dn_msg_free(&e);
        }
    free(last);
    if (appended && !rc)
        dn_log(DN_LOG_INFO, "thresholds log: %d threshold(s) to publish again (new to the log, "
               "or changed since)", appended);
    return rc;
}

/* The first round: appends what check_thresholds_log found missing. */
static void republish_thresholds(ev_t *ev)
{
    for (int i = 0; i < ev->n_republish; i++)
        if (ev->republish[i])
            publish_threshold(ev, i / EV_METHODS, i % EV_METHODS);
    free(ev->republish);
    ev->republish = NULL;
    ev->n_republish = 0;
}

/* Judges run seq by method m; a run judged bad wants its worst histograms drawn. */
static void judge_run(ev_t *ev, uint64_t seq, int m)
{
    ev_assess_t a;
    int rc = ev_judge_run(&ev->judge, &ev->book, seq, m, &a);
    if (rc < 0)
        dn_log(DN_LOG_WARN, "run_seq %llu (%s): not judged: %s", (unsigned long long)seq,
               ev_method_name[m], dn_strerror(rc));
    if (rc != 1 || a.severity != DN_SEV_BAD || !ev_figures_on(&ev->figures))
        return;
    for (int w = 0; w < EV_WORST && a.worst[w] >= 0; w++)
        ev_figures_want(&ev->figures, &ev->book, seq, m, a.worst[w]);
}

/* The book's change callback: histogram k of run seq changed. A threshold
 * that becomes known judges every run of the continual regime so far. */
static void changed(void *arg, int k, uint64_t seq)
{
    ev_t *ev = arg;
    for (int m = 0; m < EV_METHODS; m++) {
        if (!ev->methods[m])
            continue;
        int rc = ev_judge_tune(&ev->judge, &ev->book, k, m);
        if (rc < 0)
            dn_log(DN_LOG_WARN, "histogram '%s' (%s): %s", ev->book.keys[k].key,
                   ev_method_name[m], dn_strerror(rc));
        if (rc == 1 && !ev->book.rebuilding)
            publish_threshold(ev, k, m);
        if (rc == 1)
            for (int i = ev->judge.n_hist; i < ev->book.n_runs; i++)
                judge_run(ev, (uint64_t)i, m);
        else
            judge_run(ev, seq, m);
    }
    ev_auto_try(&ev->autoacc, &ev->book, &ev->judge, ev->methods, seq);
}

/* ---- the followed logs ---------------------------------------------------------------- */

static int on_events(dn_node_t *node, void *self, const Dinamo__Envelope *env, dn_err_t *err)
{
    (void)node;
    ev_t *ev = self;
    int rc = 0;
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        if (env->run->stream && strcmp(ev->stream, env->run->stream))
            snprintf(ev->stream, sizeof ev->stream, "%s", env->run->stream);
        rc = ev_book_run(&ev->book, env);
        break;
    case DN_MSG_LABEL:
        rc = ev_book_label(&ev->book, env);
        break;
    case DN_MSG_CONTROL:
        if (env->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM && !ev->eos_events) {
            ev->eos_events = 1;
            dn_log(DN_LOG_INFO, "end of stream on events (%d runs)", ev->book.n_runs);
        }
        break;
    default:
        break;
    }
    return rc ? dn_err_set(err, rc, "events: %s", dn_strerror(rc)) : 0;
}

static int on_scores(ev_t *ev, int m, const Dinamo__Envelope *env, dn_err_t *err)
{
    int rc = 0;
    if (dn_msg_type(env) == DN_MSG_SCORE) {
        rc = ev_book_score(&ev->book, m, env);
    } else if (dn_msg_type(env) == DN_MSG_CONTROL &&
               env->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM && !ev->eos[m]) {
        ev->eos[m] = 1;
        dn_log(DN_LOG_INFO, "end of stream on %s", ev_log_name[m]);
    }
    return rc < 0 ? dn_err_set(err, rc, "%s: %s", ev_log_name[m], dn_strerror(rc)) : 0;
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

/* ---- rounds, checkpoint, stop ------------------------------------------------------------- */

static int all_eos(const ev_t *ev)
{
    for (int m = 0; m < EV_METHODS; m++)
        if (ev->methods[m] && !ev->eos[m])
            return 0;
    return ev->eos_events;
}

/* Figures, then the report: the final one waits for the figures of the last
 * runs; labels.csv reads ev.labels, so what came in is committed first. */
static int round_work(dn_node_t *node, void *self, int *wait_ms, dn_err_t *err)
{
    ev_t *ev = self;
    int rc;
    if (ev->republish)
        republish_thresholds(ev);
    int waiting = ev_figures_round(&ev->figures, &ev->book, &ev->judge);
    int final = all_eos(ev) && !ev->final_done && !waiting;
    if (final || dn_service_report_requested()) {
        dn_err_t rerr = {0};
        if ((rc = dn_node_commit(node, err)))
            return rc;
        if (ev_report_write(&ev->book, &ev->judge, ev->methods, dn_node_store(node),
                            ev->report_dir, final, ev->report_root, &rerr)) {
            dn_log(DN_LOG_ERROR, "report: %s", rerr.msg);
        } else if (final) {
            ev->final_done = 1;
            dn_node_touch(node);
        }
    }
    if (ev_book_pending(&ev->book))
        dn_node_touch(node); /* an automatic label's ev.auto row */
    if (ev->final_done && ev->exit_at_end)
        dn_node_stop(node);
    if (waiting)
        *wait_ms = 20; /* come back for the helper's answer */
    return 0;
}

/* The checkpoint's body after the node's framing: which logs ended, and
 * whether the final report was written. */
static void save(void *self, dn_wbuf_t *w)
{
    const ev_t *ev = self;
    dn_wb_u32(w, (uint32_t)ev->eos_events);
    for (int m = 0; m < EV_METHODS; m++)
        dn_wb_u32(w, (uint32_t)ev->eos[m]);
    dn_wb_u32(w, (uint32_t)ev->final_done);
}

static int load(dn_node_t *node, void *self, dn_rbuf_t *r, dn_err_t *err)
{
    (void)node;
    (void)err;
    ev_t *ev = self;
    ev->eos_events = (int)dn_rb_u32(r);
    for (int m = 0; m < EV_METHODS; m++)
        ev->eos[m] = (int)dn_rb_u32(r);
    ev->final_done = (int)dn_rb_u32(r);
    dn_log(DN_LOG_INFO, "restored: %d keys, %d runs, %llu scores%s", ev->book.n_keys,
           ev->book.n_runs, (unsigned long long)ev->book.n_scores,
           ev->final_done ? ", report was final" : "");
    return 0;
}

static int stage(void *self, dn_store_batch_t *batch)
{
    return ev_book_stage(&((ev_t *)self)->book, batch);
}

static void committed(void *self) { ev_book_committed(&((ev_t *)self)->book); }

static void stop(dn_node_t *node, void *self)
{
    (void)node;
    const ev_t *ev = self;
    char figures[512];
    ev_figures_account(&ev->figures, figures, sizeof figures);
    dn_log(DN_LOG_INFO, "stopped: %d runs, %llu labels, %llu scores (%llu duplicates, %llu "
           "with horizons not their key's), %llu histograms skipped (binning not their key's); "
           "figures: %s", ev->book.n_runs, (unsigned long long)ev->book.n_labels,
           (unsigned long long)ev->book.n_scores, (unsigned long long)ev->book.n_dups,
           (unsigned long long)ev->book.n_hz_rejected,
           (unsigned long long)ev->book.n_hist_skipped, figures);
}

/* ---- configuration ------------------------------------------------------------------------ */

static const dn_config_key_t own_keys[] = {
    {"events", DN_CFG_STRING, "connect:tcp://127.0.0.1:5550", "events log (SUB)"},
    {"events_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5551", "events requests (PUSH)"},
    {"scores_s", DN_CFG_STRING, "connect:tcp://127.0.0.1:5552", "scores_s log (SUB)"},
    {"scores_s_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5553", "scores_s requests"},
    {"scores_ml", DN_CFG_STRING, "connect:tcp://127.0.0.1:5554", "scores_ml log (SUB)"},
    {"scores_ml_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5555", "scores_ml requests"},
    {"thresholds", DN_CFG_STRING, "bind:tcp://127.0.0.1:5558",
     "thresholds log (PUB): each key's and method's thresholds once known (the dashboard "
     "follows it; it never waits for a reader)"},
    {"thresholds_requests", DN_CFG_STRING, "bind:tcp://127.0.0.1:5559",
     "thresholds log's requests (PULL): its followers' ACK and REWIND"},
    {"methods", DN_CFG_STRING, "s,ml", "methods evaluated: s, ml or s,ml"},
    {"n_hist", DN_CFG_INT, "1000", "historical runs (threshold tuning)"},
    {"boot_seed", DN_CFG_INT, "0", "seed of the threshold bootstrap"},
    {"ba_weight", DN_CFG_DOUBLE, "1",
     "the reference's ba_weight: beta of the weighted balanced accuracy "
     "(sens + beta spec) / (1 + beta) the threshold is tuned for, >= 0"},
    {"n_metrics_bootstrap_trials", DN_CFG_INT, "100",
     "the reference's bootstrap resamples: threshold tuning and the final metrics' "
     "2.5/97.5% bands"},
    {"adaptivity_patience", DN_CFG_INT, "1",
     "the reference's: good runs in a row at or below the threshold that end an adaptation "
     "(final metrics nsteps_to_adapt, adaptivity_index)"},
    {"t_opt", DN_CFG_BOOL, "true",
     "the reference's t_opt: tune the bad threshold on the historical runs; false: "
     "threshold_default (a policy's bad threshold still wins)"},
    {"threshold_default", DN_CFG_DOUBLE, "1.0", "the bad threshold when t_opt is false"},
    {"horizon_budget", DN_CFG_DOUBLE, "0.01",
     "DINAMO-S horizons: false alarms the lagged ones may add (fraction of historical good runs)"},
    {"warning_margin", DN_CFG_DOUBLE, DN_WARNING_MARGIN_TEXT,
     "warning threshold = bad threshold - this (ln 2: half the reduced chi2), unless the "
     "policy sets one"},
    {"figures", DN_CFG_BOOL, "true", "draw each flagged run's worst histograms against their "
                                     "reference and their score history (report_dir/runs)"},
    {"figures_keep", DN_CFG_INT, "1000", "figure sets kept on disk, the newest (each a "
                                          "histogram and its history); 0 keeps all"},
    {"figures_timeout_ms", DN_CFG_INT, "30000", "a drawing taking longer is killed"},
    {"figures_queue", DN_CFG_INT, "200", "most figure sets waiting to be drawn; beyond it the "
                                         "oldest waiting set is dropped for the newest (counted; "
                                         "at most 1000000)"},
    {"auto_accept", DN_CFG_BOOL, "false",
     "label a run good automatically when every histogram is good (real feeds)"},
    {"auto_accept_methods", DN_CFG_STRING, "", "methods that must agree (default: all evaluated)"},
    {"auto_accept_warning", DN_CFG_BOOL, "false", "warnings do not stop auto-acceptance"},
    {"report_dir", DN_CFG_STRING, "", "report directory (default <data_dir>/report)"},
    {"exit_at_end", DN_CFG_BOOL, "false", "exit 0 after the final report"},
    {"report_root", DN_CFG_BOOL, "false", "also write references.root: the reference that "
                                          "scored each run, and the run, as ROOT histograms"},
};

/* The auto-accept keys: which methods must agree (empty: all evaluated). */
static int read_auto(ev_t *ev, dn_node_t *node, dn_err_t *err)
{
    ev_auto_t *au = &ev->autoacc;
    const char *am = dn_node_str(node, "auto_accept_methods");
    if (am[0] && strcmp(am, "s") && strcmp(am, "ml") && strcmp(am, "s,ml") && strcmp(am, "ml,s"))
        return dn_err_set(err, DN_EINVAL, "auto_accept_methods '%s': want s, ml or s,ml", am);
    au->on = dn_node_bool(node, "auto_accept");
    au->warning_ok = dn_node_bool(node, "auto_accept_warning");
    for (int m = 0; m < EV_METHODS; m++)
        au->methods[m] = !am[0] || strstr(am, ev_method_name[m]) != NULL;
    au->incarnation = (uint64_t)(dn_clock_wall() * 1e9);
    return 0;
}

/* Every key but the figures': methods, the judge's parameters, report_dir. */
static int read_config(ev_t *ev, dn_node_t *node, dn_err_t *err)
{
    int64_t n_hist, boot_seed, n_boot, patience;
    double margin, budget, ba_weight, t_default;
    int rc;
    if ((rc = dn_node_methods(node, "methods", ev->methods, err)) ||
        (rc = dn_node_int(node, "n_hist", 1, INT32_MAX, &n_hist, err)) ||
        (rc = dn_node_int(node, "boot_seed", INT64_MIN, INT64_MAX, &boot_seed, err)) ||
        (rc = dn_node_double(node, "warning_margin", 0, INFINITY, &margin, err)) ||
        (rc = dn_node_double(node, "horizon_budget", 0, nextafter(1.0, 0.0), &budget, err)) ||
        (rc = dn_node_double(node, "ba_weight", 0, DBL_MAX, &ba_weight, err)) ||
        (rc = dn_node_int(node, "n_metrics_bootstrap_trials", 1, 1 << 24, &n_boot, err)) ||
        (rc = dn_node_int(node, "adaptivity_patience", 1, INT32_MAX, &patience, err)) ||
        (rc = dn_node_double(node, "threshold_default", -DBL_MAX, DBL_MAX, &t_default, err)) ||
        (rc = read_auto(ev, node, err)))
        return rc;
    ev_judge_init(&ev->judge, dn_node_policy(node), (int)n_hist, (uint64_t)boot_seed, margin);
    ev->judge.opts.horizon_budget = budget;
    ev->judge.opts.ba_weight = ba_weight;
    ev->judge.opts.n_boot = (int)n_boot;
    ev->judge.opts.adaptivity_patience = (int)patience;
    ev->judge.t_opt = dn_node_bool(node, "t_opt");
    ev->judge.threshold_default = t_default;
    ev->exit_at_end = dn_node_bool(node, "exit_at_end");
    ev->report_root = dn_node_bool(node, "report_root");
    const char *rd = dn_node_str(node, "report_dir");
    if (rd[0]) {
        snprintf(ev->report_dir, sizeof ev->report_dir, "%s", rd);
        return 0;
    }
    return dn_node_path(node, "report", ev->report_dir, sizeof ev->report_dir, err);
}

/* The followed logs, the auto-accept socket, the figures. */
static int make_io(ev_t *ev, dn_node_t *node, dn_err_t *err)
{
    static const char *const keys[EV_METHODS][2] = {{"scores_s", "scores_s_requests"},
                                                    {"scores_ml", "scores_ml_requests"}};
    static const dn_node_entry_fn fns[EV_METHODS] = {on_scores_s, on_scores_ml};
    dn_follower_opts_t fo = {.log = "events", .consumer = "evaluator"};
    if (!dn_node_follow(node, "events", "events_requests", &fo, on_events, err))
        return err->code;
    for (int m = 0; m < EV_METHODS; m++) {
        fo.log = ev_log_name[m];
        if (ev->methods[m] && !dn_node_follow(node, keys[m][0], keys[m][1], &fo, fns[m], err))
            return err->code;
    }
    /* Read by passive followers only (the dashboard): unheld, so it never
     * pauses the rounds for want of a reader. */
    dn_source_opts_t so = {.log = "thresholds", .service = "evaluator", .unheld = 1};
    if (!(ev->thresholds = dn_node_source(node, "thresholds", "thresholds_requests", &so, NULL,
                                          err)))
        return err->code;
    if (ev->autoacc.on &&
        !(ev->autoacc.push = dn_node_socket(node, ZMQ_PUSH, "events_requests", NULL, err)))
        return err->code;
    if (!dn_node_bool(node, "figures"))
        return 0;
    int64_t keep, queue, timeout_ms;
    int rc;
    if ((rc = dn_node_int(node, "figures_keep", 0, INT32_MAX, &keep, err)) ||
        (rc = dn_node_int(node, "figures_queue", 1, 1000000, &queue, err)) ||
        (rc = dn_node_int(node, "figures_timeout_ms", 100, INT32_MAX, &timeout_ms, err)))
        return rc;
    return ev_figures_init(&ev->figures, ev->report_dir, (int)keep, (int)queue, (int)timeout_ms,
                           err);
}

static void destroy(void *self)
{
    ev_t *ev = self;
    ev_figures_free(&ev->figures);
    ev_book_free(&ev->book);
    ev_judge_free(&ev->judge);
    free(ev->republish);
    free(ev);
}

static int create(dn_node_t *node, void **self, dn_err_t *err)
{
    ev_t *ev = calloc(1, sizeof *ev);
    if (!(*self = ev))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    int rc;
    if ((rc = read_config(ev, node, err)))
        return rc;
    if (ev_book_init(&ev->book, changed, ev))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    if ((rc = make_io(ev, node, err)) ||
        (rc = ev_book_rebuild(&ev->book, dn_node_store(node), err)) ||
        (rc = check_thresholds_log(ev, node, err)))
        return rc;
    dn_log(DN_LOG_INFO, "started: methods %s%s%s, n_hist %d, report %s",
           ev->methods[0] ? "s" : "", ev->methods[0] && ev->methods[1] ? "," : "",
           ev->methods[1] ? "ml" : "", ev->judge.n_hist, ev->report_dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--figure-worker"))
        return ev_figure_worker_main();
    const dn_node_def_t def = {
        .name = "evaluator",
        .usage = "Evaluates the scores of the pipeline as dinamo evaluate does, flags runs\n"
                 "as they are scored, and writes the report (docs/pipeline.md).\n",
        .keys = own_keys, .n_keys = (int)(sizeof own_keys / sizeof *own_keys),
        .flags = DN_NODE_STORE, .create = create, .destroy = destroy, .round = round_work,
        .stop = stop, .ckpt_magic = "DNEV", .ckpt_version = 1, .save = save, .load = load,
        .stage = stage, .committed = committed,
    };
    return dn_node_main(&def, argc, argv);
}
