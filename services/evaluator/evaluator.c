/* evaluator: the pipeline's evaluation service (docs/pipeline.md).
 *
 * Follows the events log (runs, labels with truth, END_OF_STREAM) and the
 * scores logs of the enabled methods (scores_s, scores_ml) as consumer
 * "evaluator". Every run, label and score it receives is stored in LMDB
 * (<data_dir>/evaluator: tables ev.runs, ev.labels, ev.scores, keyed so that a
 * replay overwrites itself) in the same batch as the follower positions, so a
 * restart rebuilds memory from the store and continues exactly; scores are
 * deduplicated by (method, run_seq, key).
 *
 * Once the first n_hist runs of a (key, method) have labels and scores, its
 * threshold is tuned as dn_evaluate does (dn_eval_tune_threshold) and every
 * later run whose scores are all in is flagged (logged; flags.csv).
 * At END_OF_STREAM of the events and of every enabled method's log (or on
 * SIGUSR1) the report is written atomically into report_dir: metrics.json
 * (per key and method the dn_eval_result_t of dn_evaluate_scores_ref, i.e. the
 * numbers of `dinamo evaluate`), scores_<method>[_<key>].csv in `dinamo
 * score`'s format, flags.csv, then the empty marker FINAL last. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "bytes.h"
#include "config.h"
#include "dataset.h"
#include "evaluate.h"
#include "results.h"
#include "figkeep.h"
#include "figworker.h"
#include "fileio.h"
#include "histo.h"
#include "log.h"
#include "msg.h"
#include "plot.h"
#include "policy.h"
#include "service.h"
#include "store.h"
#include "stream.h"

#define N_METHODS 2
static const char *method_name[N_METHODS] = {"s", "ml"};
static const char *log_name[N_METHODS] = {"scores_s", "scores_ml"};

typedef struct row_t {
    int64_t run_number;
    uint8_t has_run, has_label, has_truth;
    int8_t label;
    uint8_t label_auto;      /* the label is the system's (a person's or recorded one wins) */
    double mu, sigma;
    uint8_t rapid_mu, rapid_sigma;
    double *counts;          /* [n_bins] from the run */
    double *variances;       /* [n_bins] when the run gave them (weighted fills) */
    double *edges;           /* [n_bins+1] when the run gave them */
    uint8_t has_score[N_METHODS], status[N_METHODS], flagged_logged[N_METHODS];
    double chi2[N_METHODS], alpha[N_METHODS];
    double *ref_mu[N_METHODS], *ref_sigma[N_METHODS];
} row_t;

typedef struct hkey_t {
    char *key;
    char *subsystem;         /* from the first run that gave the key */
    dn_judge_t judge;        /* the policy's, resolved with the subsystem */
    int n_bins;              /* 0 until a run gave it */
    row_t *rows;             /* indexed by run_seq */
    int n_rows, cap_rows;
    double threshold[N_METHODS];
} hkey_t;

typedef struct runinfo_t {
    int n_keys;              /* histograms in the run; 0 until the run arrived */
    int64_t run_number;
    uint8_t auto_sent;       /* an automatic "good" was sent (ev.auto) */
} runinfo_t;

typedef struct feed_t {
    dn_sock_t *sub, *push;
    dn_follower_t *f;
    int eos;
} feed_t;

typedef struct ev_t {
    dn_policy_t *policy; /* thresholds per key or subsystem */
    int enabled[N_METHODS];
    int n_hist;
    uint64_t boot_seed;
    double warning_margin;   /* warning threshold = bad - this, unless the policy sets it */
    int figures, figures_keep;  /* figures of flagged runs; the newest sets kept */
    /* Figure sets wanted and not yet handed to the worker: a ring of at most
     * figures_queue (run, key, method), oldest first. A set's job file is
     * built only when the worker is idle, so a set dropped from a full ring
     * (the oldest, for the newest: after a burst the runs on shift are the
     * ones drawn) cost nothing. */
    struct figwant_t {
        uint64_t seq;
        int k, m;
    } *figq;
    int figures_queue, figq_head, figq_n;
    /* Every set a flagged run asks for ends as exactly one of: drawn, failed
     * or in the worker (its counts), waiting in figq, dropped from it, or
     * unsent (no data, no directory, the job not saved). */
    uint64_t figures_wanted, figures_dropped, figures_unsent;
    dn_figkeep_t *figkeep;      /* deletes the oldest sets beyond figures_keep */
    int figures_timeout_ms;
    dn_figworker_t *figw;     /* draws the figures off the loop; NULL: figures off */
    int auto_accept;         /* label runs good when every histogram is good */
    int auto_methods[N_METHODS]; /* the methods that must all agree */
    int auto_warning;        /* warnings do not stop auto-acceptance */
    uint64_t auto_incarnation, auto_seq, auto_sent;
    char report_dir[4096];
    int exit_at_end;
    int rebuilding;
    dn_service_t *svc;
    dn_store_t *store;
    dn_store_batch_t *batch;
    feed_t events, scores[N_METHODS];
    hkey_t *keys;
    int n_keys, cap_keys;
    runinfo_t *runs;
    int n_runs, cap_runs;
    int dirty, final_done;
    uint64_t n_scores, n_dups, n_labels, n_run_msgs;
} ev_t;

static ev_t *g_ev;

/* ---- memory ---------------------------------------------------------------- */

static hkey_t *key_get(ev_t *ev, const char *k)
{
    for (int i = 0; i < ev->n_keys; i++)
        if (!strcmp(ev->keys[i].key, k))
            return &ev->keys[i];
    if (ev->n_keys == ev->cap_keys) {
        int cap = ev->cap_keys ? 2 * ev->cap_keys : 8;
        hkey_t *p = realloc(ev->keys, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        ev->keys = p;
        ev->cap_keys = cap;
    }
    hkey_t *hk = &ev->keys[ev->n_keys];
    memset(hk, 0, sizeof *hk);
    if (!(hk->key = strdup(k)))
        return NULL;
    for (int m = 0; m < N_METHODS; m++)
        hk->threshold[m] = NAN;
    ev->n_keys++;
    return hk;
}

static row_t *row_get(hkey_t *hk, uint64_t seq)
{
    if (seq > (uint64_t)INT32_MAX - 1)
        return NULL;
    if ((int)seq >= hk->cap_rows) {
        int cap = hk->cap_rows ? hk->cap_rows : 256;
        while (cap <= (int)seq)
            cap *= 2;
        row_t *p = realloc(hk->rows, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        memset(p + hk->cap_rows, 0, (size_t)(cap - hk->cap_rows) * sizeof *p);
        for (int i = hk->cap_rows; i < cap; i++) {
            p[i].label = -1;
            for (int m = 0; m < N_METHODS; m++)
                p[i].chi2[m] = p[i].alpha[m] = NAN;
        }
        hk->rows = p;
        hk->cap_rows = cap;
    }
    if ((int)seq >= hk->n_rows)
        hk->n_rows = (int)seq + 1;
    return &hk->rows[seq];
}

static runinfo_t *run_get(ev_t *ev, uint64_t seq)
{
    if (seq > (uint64_t)INT32_MAX - 1)
        return NULL;
    if ((int)seq >= ev->cap_runs) {
        int cap = ev->cap_runs ? ev->cap_runs : 256;
        while (cap <= (int)seq)
            cap *= 2;
        runinfo_t *p = realloc(ev->runs, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        memset(p + ev->cap_runs, 0, (size_t)(cap - ev->cap_runs) * sizeof *p);
        ev->runs = p;
        ev->cap_runs = cap;
    }
    if ((int)seq >= ev->n_runs)
        ev->n_runs = (int)seq + 1;
    return &ev->runs[seq];
}

/* ---- thresholds and flags ---------------------------------------------------- */

static double row_score(const hkey_t *hk, const row_t *r, int m)
{
    if (!r->has_score[m] || r->status[m] != DINAMO__SCORE_STATUS__OK || hk->n_bins < 1)
        return NAN;
    return dn_score_from_chi2(r->chi2[m], hk->n_bins);
}

/* How a scored histogram, subsystem or run is judged (worse is larger). */
enum { SEV_NONE = 0, SEV_INSUFFICIENT, SEV_GOOD, SEV_WARNING, SEV_BAD };
static const char *sev_name[] = {"", "insufficient_statistics", "good", "warning", "bad"};

static double warning_threshold(const ev_t *ev, const hkey_t *hk, int m)
{
    if (!isnan(hk->judge.warning))
        return hk->judge.warning;
    return hk->threshold[m] - ev->warning_margin;
}

static int severity(const ev_t *ev, const hkey_t *hk, const row_t *r, int m)
{
    if (!r->has_score[m] || isnan(hk->threshold[m]))
        return SEV_NONE;
    if (r->status[m] == DINAMO__SCORE_STATUS__INSUFFICIENT_STATISTICS)
        return SEV_INSUFFICIENT;
    double sc = row_score(hk, r, m);
    if (isnan(sc))
        return SEV_NONE; /* rejected: named in the scorer's log */
    if (sc > hk->threshold[m])
        return SEV_BAD;
    return sc > warning_threshold(ev, hk, m) ? SEV_WARNING : SEV_GOOD;
}

static void try_tune(ev_t *ev, hkey_t *hk, int m)
{
    if (!isnan(hk->threshold[m]))
        return;
    if (hk->subsystem && !isnan(hk->judge.bad)) { /* the policy sets it */
        hk->threshold[m] = hk->judge.bad;
        return;
    }
    if (ev->n_hist < 1 || hk->n_rows < ev->n_hist || hk->n_bins < 1)
        return;
    for (int i = 0; i < ev->n_hist; i++)
        if (!hk->rows[i].has_label || !hk->rows[i].has_score[m])
            return;
    double *score = malloc((size_t)ev->n_hist * sizeof *score);
    int8_t *label = malloc((size_t)ev->n_hist);
    if (!score || !label) {
        free(score);
        free(label);
        return;
    }
    for (int i = 0; i < ev->n_hist; i++) {
        score[i] = row_score(hk, &hk->rows[i], m);
        label[i] = hk->rows[i].label;
    }
    dn_err_t err = {0};
    double thr;
    if (dn_eval_tune_threshold(score, label, ev->n_hist, ev->boot_seed, &thr, &err) == 0) {
        hk->threshold[m] = thr;
        if (!ev->rebuilding)
            dn_log(DN_LOG_INFO, "histogram '%s' (%s): threshold %.6g tuned on %d runs", hk->key,
                   method_name[m], thr, ev->n_hist);
    } else {
        hk->threshold[m] = INFINITY; /* never flags; logged once */
        dn_log(DN_LOG_WARN, "histogram '%s' (%s): %s", hk->key, method_name[m], err.msg);
    }
    free(score);
    free(label);
}

/* ---- run and subsystem assessment ------------------------------------------- */

#define N_WORST 3

/* A run (or one subsystem of it) judged by method m: counts by severity, the
 * combined score log(sum chi2 / sum n_bins) over its scored histograms (the
 * paper's combination), and the histograms furthest above their thresholds. */
typedef struct {
    int n_hist, n_scored, n_bad, n_warning, n_insufficient;
    int severity;
    double chi2, bins;
    int worst[N_WORST];      /* key indices, -1 */
    double excess[N_WORST];  /* score - bad threshold */
} assess_t;

static void assess_init(assess_t *a)
{
    memset(a, 0, sizeof *a);
    for (int w = 0; w < N_WORST; w++) {
        a->worst[w] = -1;
        a->excess[w] = -INFINITY;
    }
}

static void assess_add(const ev_t *ev, assess_t *a, int k, const row_t *r, int m)
{
    const hkey_t *hk = &ev->keys[k];
    int sev = severity(ev, hk, r, m);
    a->n_hist++;
    if (sev == SEV_NONE)
        return;
    a->n_scored++;
    a->n_bad += sev == SEV_BAD;
    a->n_warning += sev == SEV_WARNING;
    a->n_insufficient += sev == SEV_INSUFFICIENT;
    if (sev > a->severity)
        a->severity = sev;
    if (sev == SEV_INSUFFICIENT)
        return;
    a->chi2 += r->chi2[m];
    a->bins += hk->n_bins;
    if (sev < SEV_WARNING)
        return;
    double ex = row_score(hk, r, m) - hk->threshold[m];
    for (int w = 0; w < N_WORST; w++)
        if (ex > a->excess[w]) {
            memmove(a->worst + w + 1, a->worst + w, (size_t)(N_WORST - 1 - w) * sizeof *a->worst);
            memmove(a->excess + w + 1, a->excess + w,
                    (size_t)(N_WORST - 1 - w) * sizeof *a->excess);
            a->worst[w] = k;
            a->excess[w] = ex;
            break;
        }
}

static double assess_score(const assess_t *a)
{
    return a->bins > 0 ? log(a->chi2 / a->bins) : NAN;
}

/* Run seq judged by method m, all its histograms (subsystem NULL) or those of
 * one subsystem. Returns 0 when some histogram of the run has no judgement yet. */
static int assess_run(const ev_t *ev, uint64_t seq, int m, const char *subsystem, assess_t *a)
{
    assess_init(a);
    for (int k = 0; k < ev->n_keys; k++) {
        const hkey_t *hk = &ev->keys[k];
        if ((int)seq >= hk->n_rows || !hk->rows[seq].has_run)
            continue;
        if (subsystem && strcmp(hk->subsystem ? hk->subsystem : "", subsystem))
            continue;
        const row_t *r = &hk->rows[seq];
        if (r->has_score[m] && isnan(hk->threshold[m]))
            return 0;
        assess_add(ev, a, k, r, m);
    }
    return a->n_scored == a->n_hist;
}

/* The bins of histogram k in run seq with the largest |pull| against the
 * reference that scored it (method m), as "b17:+8.2 b18:-6.1" into buf. */
static void worst_bins(const ev_t *ev, int k, uint64_t seq, int m, char *buf, size_t cap)
{
    const hkey_t *hk = &ev->keys[k];
    const row_t *r = &hk->rows[seq];
    int nb = hk->n_bins;
    buf[0] = '\0';
    if (!r->counts || !r->ref_mu[m] || !r->ref_sigma[m] || nb < 1)
        return;
    double *xt = malloc(sizeof(double) * 3 * (size_t)nb);
    if (!xt)
        return;
    double *sx2 = xt + nb, *pull = sx2 + nb;
    if (dn_hist_normalise(xt, sx2, r->counts, r->variances, nb) > DN_EPS) {
        dn_hist_chi2(pull, xt, sx2, r->ref_mu[m], r->ref_sigma[m], nb);
        int used[N_WORST] = {-1, -1, -1};
        size_t len = 0;
        for (int w = 0; w < N_WORST; w++) {
            int best = -1;
            for (int j = 0; j < nb; j++) {
                int taken = 0;
                for (int v = 0; v < w; v++)
                    taken |= used[v] == j;
                if (!taken && isfinite(pull[j]) && (best < 0 || fabs(pull[j]) > fabs(pull[best])))
                    best = j;
            }
            if (best < 0)
                break;
            used[w] = best;
            int n = snprintf(buf + len, cap - len, "%sb%d:%+.1f", w ? " " : "", best, pull[best]);
            if (n < 0 || (size_t)n >= cap - len)
                break;
            len += (size_t)n;
        }
    }
    free(xt);
}

/* "calo/e(+1.20) muon/x(+0.40)": the worst histograms and their excess. */
static void worst_list(const ev_t *ev, const assess_t *a, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int w = 0; w < N_WORST && a->worst[w] >= 0; w++) {
        int n = snprintf(buf + len, cap - len, "%s%s(%+.2f)", w ? " " : "",
                         ev->keys[a->worst[w]].key, a->excess[w]);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
}

/* ---- figures of flagged runs ---------------------------------------------------- */

static void csv_key_name(char *dst, size_t cap, const char *key);

/* Draws, for flagged run seq and method m, histogram k against the reference
 * that scored it with its pulls, and k's score history with this run circled:
 * report_dir/runs/run_<run>/<key>_<method>.{png,svg} and ..._history.*.
 * Saved as a job file and drawn by the figure worker's helper process (this
 * binary with --figure-worker, at nice 10, at most figures_timeout_ms per job)
 * while the evaluator goes on: drawing takes longer than a run takes to score,
 * and an evaluator that waited for it would hold the stream back. A drawing
 * failure is logged. The final report waits until every figure is drawn. */
static void figure_done(const char *jobfile, int ok, const char *msg, void *arg)
{
    ev_t *ev = arg;
    if (!ok)
        dn_log(DN_LOG_WARN, "figure job %s: %s", jobfile, msg);
    /* DIR/.NAME.job drew DIR/NAME.* and DIR/NAME_history.* */
    const char *slash = strrchr(jobfile, '/');
    size_t len = strlen(jobfile);
    char base[4800];
    if (!ev->figkeep || !slash || slash[1] != '.' || len < 5 ||
        strcmp(jobfile + len - 4, ".job") ||
        snprintf(base, sizeof base, "%.*s/%.*s", (int)(slash - jobfile), jobfile,
                 (int)(jobfile + len - 4 - (slash + 2)), slash + 2) >= (int)sizeof base)
        return;
    /* A job not drawn (the worker stopped) made no files: it must not push an
     * older set out. One that failed halfway may have made some: kept so that
     * they are deleted in turn. */
    char png[4900], hpng[4900];
    snprintf(png, sizeof png, "%s.png", base);
    snprintf(hpng, sizeof hpng, "%s_history.png", base);
    if (!ok && access(png, F_OK) && access(hpng, F_OK))
        return;
    dn_err_t err = {0};
    if (dn_figkeep_add(ev->figkeep, base, &err))
        dn_log(DN_LOG_WARN, "figures: %s", err.msg);
}

/* Wants the figures of flagged run seq, method m, histogram k: queued in
 * figq; when it is full the oldest waiting set is dropped (counted, logged the
 * first time and every 100th). */
static void want_figures(ev_t *ev, uint64_t seq, int m, int k)
{
    ev->figures_wanted++;
    if (ev->figq_n == ev->figures_queue) {
        struct figwant_t *old = &ev->figq[ev->figq_head];
        if (ev->figures_dropped++ % 100 == 0)
            dn_log(DN_LOG_WARN, "figures of run %lld, %s (%s): dropped for a newer run's, %d "
                   "sets already wait (figures_queue); %llu dropped so far",
                   (long long)ev->keys[old->k].rows[old->seq].run_number, ev->keys[old->k].key,
                   method_name[old->m], ev->figures_queue,
                   (unsigned long long)ev->figures_dropped);
        ev->figq_head = (ev->figq_head + 1) % ev->figures_queue;
        ev->figq_n--;
    }
    ev->figq[(ev->figq_head + ev->figq_n) % ev->figures_queue] = (struct figwant_t){seq, k, m};
    ev->figq_n++;
}

static void draw_flagged(ev_t *ev, uint64_t seq, int m, int k);

/* Figure sets wanted and not drawn yet: in the worker or waiting for it. */
static int figures_waiting(const ev_t *ev)
{
    return ev->figw ? dn_figworker_pending(ev->figw) + ev->figq_n : 0;
}

/* Hands the oldest wanted set to the worker when it has nothing to do. */
static void feed_figures(ev_t *ev)
{
    while (ev->figq_n && dn_figworker_pending(ev->figw) == 0) {
        struct figwant_t w = ev->figq[ev->figq_head];
        ev->figq_head = (ev->figq_head + 1) % ev->figures_queue;
        ev->figq_n--;
        draw_flagged(ev, w.seq, w.m, w.k);
    }
}

static void draw_flagged(ev_t *ev, uint64_t seq, int m, int k)
{
    hkey_t *hk = &ev->keys[k];
    row_t *r = &hk->rows[seq];
    const int nb = hk->n_bins;
    int submitted = 0;
    double *buf = NULL;
    int64_t *runs = NULL;
    int8_t *labels = NULL;
    dn_err_t err = {0};
    if (!r->counts || !r->ref_mu[m] || !r->ref_sigma[m] || nb < 1) {
        dn_log(DN_LOG_WARN, "figures of run %lld, %s: not drawn, the run's counts or "
               "reference are missing", (long long)r->run_number, hk->key);
        goto done;
    }
    char dir[4200], base[4700], base_h[4700], keyname[DN_MSG_KEY_MAX + 1];
    snprintf(dir, sizeof dir, "%s/runs/run_%lld", ev->report_dir, (long long)r->run_number);
    if (dn_mkdirs(dir, &err)) {
        dn_log(DN_LOG_WARN, "figures: %s", err.msg);
        goto done;
    }
    csv_key_name(keyname, sizeof keyname, hk->key);
    snprintf(base, sizeof base, "%s/%s_%s", dir, keyname, method_name[m]);
    snprintf(base_h, sizeof base_h, "%s/%s_%s_history", dir, keyname, method_name[m]);
    /* The run's history: the runs up to it (not those that came before it
     * was drawn, so that a figure does not depend on when it was drawn). */
    const int upto = (uint64_t)hk->n_rows < seq + 1 ? hk->n_rows : (int)seq + 1;
    buf = malloc(sizeof(double) * (4 * (size_t)nb + 2 * (size_t)upto + 2));
    runs = malloc(sizeof(int64_t) * ((size_t)upto + 1));
    labels = malloc((size_t)upto + 1);
    if (!buf || !runs || !labels) {
        dn_log(DN_LOG_WARN, "figures of run %lld, %s: out of memory", (long long)r->run_number,
               hk->key);
        goto done;
    }
    double *xt = buf, *sx2 = xt + nb, *unc = sx2 + nb, *pulls = unc + nb, *scores = pulls + nb;
    dn_hist_normalise(xt, sx2, r->counts, r->variances, nb);
    dn_hist_chi2(pulls, xt, sx2, r->ref_mu[m], r->ref_sigma[m], nb);
    for (int j = 0; j < nb; j++)
        unc[j] = sqrt(sx2[j]);
    int n = 0, mark = -1;
    for (int i = 0; i < upto; i++) {
        if (!hk->rows[i].has_run)
            continue;
        if ((uint64_t)i == seq)
            mark = n;
        runs[n] = hk->rows[i].run_number;
        scores[n] = row_score(hk, &hk->rows[i], m);
        labels[n] = hk->rows[i].has_label ? hk->rows[i].label : -1;
        n++;
    }
    char title[600], htitle[600];
    snprintf(title, sizeof title, "run %lld: %s (%s), score %.2f, threshold %.2f",
             (long long)r->run_number, hk->key, method_name[m], row_score(hk, r, m),
             hk->threshold[m]);
    snprintf(htitle, sizeof htitle, "%s (%s): run %lld in its history", hk->key, method_name[m],
             (long long)r->run_number);
    dn_plot_job_t job = {base, base_h,
                         {title, nb, r->edges, xt, unc, r->ref_mu[m], r->ref_sigma[m], pulls},
                         htitle, n, mark, runs, scores, labels,
                         warning_threshold(ev, hk, m), hk->threshold[m]};
    char jobfile[4800];
    snprintf(jobfile, sizeof jobfile, "%s/.%s_%s.job", dir, keyname, method_name[m]);
    if (dn_plot_job_save(jobfile, &job, &err) || dn_figworker_submit(ev->figw, jobfile, &err)) {
        dn_log(DN_LOG_WARN, "figures of run %lld, %s: %s", (long long)r->run_number, hk->key,
               err.msg);
        unlink(jobfile);
    } else {
        submitted = 1;
    }
done:
    if (!submitted)
        ev->figures_unsent++;
    free(buf);
    free(runs);
    free(labels);
}

/* Logs the judgement of run seq for method m once all its histograms are scored
 * and their thresholds known: severity, counts, the worst histograms and, for
 * the worst one, its worst bins. */
static void try_flag(ev_t *ev, uint64_t seq, int m)
{
    if ((int)seq < ev->n_hist || (int)seq >= ev->n_runs || ev->rebuilding)
        return;
    runinfo_t *ri = &ev->runs[seq];
    if (!ri->n_keys)
        return;
    for (int k = 0; k < ev->n_keys; k++)
        if ((int)seq < ev->keys[k].n_rows && ev->keys[k].rows[seq].flagged_logged[m])
            return;
    assess_t a;
    if (!assess_run(ev, seq, m, NULL, &a) || a.n_hist < ri->n_keys)
        return;
    for (int k = 0; k < ev->n_keys; k++)
        if ((int)seq < ev->keys[k].n_rows)
            ev->keys[k].rows[seq].flagged_logged[m] = 1;
    if (a.severity < SEV_WARNING)
        return;
    char worst[512], bins[128];
    worst_list(ev, &a, worst, sizeof worst);
    worst_bins(ev, a.worst[0], seq, m, bins, sizeof bins);
    if (ev->figw && a.severity == SEV_BAD)
        for (int w = 0; w < N_WORST && a.worst[w] >= 0; w++)
            want_figures(ev, seq, m, a.worst[w]);
    dn_log(a.severity == SEV_BAD ? DN_LOG_WARN : DN_LOG_INFO,
           "run %lld (%s): %s: %d bad, %d warning, %d insufficient of %d histograms; "
           "combined score %.3f; worst %s; worst bins of %s: %s",
           (long long)ri->run_number, method_name[m], sev_name[a.severity], a.n_bad,
           a.n_warning, a.n_insufficient, a.n_hist, assess_score(&a), worst,
           ev->keys[a.worst[0]].key, bins);
}

/* Auto-accept: run seq, not labelled by anyone yet, whose every histogram is
 * good (or warning, with auto_accept_warning) for every chosen method, is
 * labelled good by the system: a Label with source AUTO sent to the events
 * log's source (the feed appends it like a person's), and remembered in ev.auto
 * so a restart does not send it again. Anything else waits for a person. */
static void try_auto_accept(ev_t *ev, uint64_t seq)
{
    if (!ev->auto_accept || ev->rebuilding || (int)seq >= ev->n_runs)
        return;
    runinfo_t *ri = &ev->runs[seq];
    if (!ri->n_keys || ri->auto_sent)
        return;
    for (int k = 0; k < ev->n_keys; k++)
        if ((int)seq < ev->keys[k].n_rows && ev->keys[k].rows[seq].has_label)
            return;
    char methods[16] = "";
    for (int m = 0; m < N_METHODS; m++) {
        if (!ev->enabled[m] || !ev->auto_methods[m])
            continue;
        assess_t a;
        if (!assess_run(ev, seq, m, NULL, &a) || a.n_hist < ri->n_keys)
            return; /* not all judged yet */
        if (a.n_insufficient || a.n_bad || (a.n_warning && !ev->auto_warning))
            return;
        snprintf(methods + strlen(methods), sizeof methods - strlen(methods), "%s%s",
                 methods[0] ? "," : "", method_name[m]);
    }
    if (!methods[0])
        return;
    char reason[96];
    snprintf(reason, sizeof reason, "auto-accept: every histogram %s (%s)",
             ev->auto_warning ? "below the bad threshold" : "good", methods);
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = l.has_time = 1;
    l.run_number = ri->run_number;
    l.run_seq = seq;
    l.verdict = DINAMO__VERDICT__GOOD;
    l.source = DINAMO__LABEL_SOURCE__AUTO;
    l.who = (char *)"evaluator";
    l.reason = reason;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    l.time = (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.producer = (char *)"evaluator|auto-accept";
    env.has_incarnation = env.has_seq = 1;
    env.incarnation = ev->auto_incarnation;
    env.seq = ev->auto_seq;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &l;
    dn_err_t err = {0};
    if (dn_sock_send(ev->events.push, &env, 1000, &err)) {
        dn_log(DN_LOG_WARN, "run %lld: auto-accept not sent: %s (retried with the next "
               "change)", (long long)ri->run_number, err.msg[0] ? err.msg : "timeout");
        return;
    }
    ev->auto_seq++;
    ev->auto_sent++;
    ri->auto_sent = 1;
    unsigned char kb[8];
    dn_put_be64(kb, seq);
    if (dn_store_batch_put(ev->batch, "ev.auto", kb, 8, "1", 1))
        dn_log(DN_LOG_WARN, "run %lld: auto-accept not recorded (memory)",
               (long long)ri->run_number);
    ev->dirty = 1;
    dn_log(DN_LOG_INFO, "run %lld: labelled good automatically (%s)", (long long)ri->run_number,
           methods);
}

static void after_change(ev_t *ev, hkey_t *hk, uint64_t seq)
{
    for (int m = 0; m < N_METHODS; m++) {
        if (!ev->enabled[m])
            continue;
        int was = isnan(hk->threshold[m]);
        try_tune(ev, hk, m);
        if (was && !isnan(hk->threshold[m]))
            for (int i = ev->n_hist; i < ev->n_runs; i++)
                try_flag(ev, (uint64_t)i, m);
        else
            try_flag(ev, seq, m);
    }
    try_auto_accept(ev, seq);
}

/* ---- ingest (live and rebuild) ------------------------------------------------- */

static int copy_arr(double **dst, const double *src, size_t n)
{
    free(*dst);
    *dst = NULL;
    if (!n)
        return 0;
    *dst = malloc(n * sizeof **dst);
    if (!*dst)
        return DN_ENOMEM;
    memcpy(*dst, src, n * sizeof **dst);
    return 0;
}

static int ingest_run(ev_t *ev, const Dinamo__Run *run)
{
    runinfo_t *ri = run_get(ev, run->run_seq);
    if (!ri)
        return DN_ENOMEM;
    ri->n_keys = (int)run->n_histograms;
    ri->run_number = run->run_number;
    for (size_t j = 0; j < run->n_histograms; j++) {
        const Dinamo__Histogram *hg = run->histograms[j];
        hkey_t *hk = key_get(ev, hg->key);
        if (!hk)
            return DN_ENOMEM;
        if (!hk->n_bins)
            hk->n_bins = (int)hg->n_counts;
        if (!hk->subsystem) {
            if (!(hk->subsystem = strdup(hg->subsystem ? hg->subsystem : "")))
                return DN_ENOMEM;
            hk->judge = dn_policy_lookup(ev->policy, hk->key, hk->subsystem);
        }
        if (hk->n_bins != (int)hg->n_counts) {
            dn_log(DN_LOG_WARN, "run %lld: histogram '%s': %zu bins, the key has %d: skipped",
                   (long long)run->run_number, hg->key, hg->n_counts, hk->n_bins);
            continue;
        }
        row_t *r = row_get(hk, run->run_seq);
        if (!r)
            return DN_ENOMEM;
        r->has_run = 1;
        r->run_number = run->run_number;
        if (copy_arr(&r->counts, hg->counts, hg->n_counts) ||
            copy_arr(&r->variances, hg->variances, hg->n_variances) ||
            (hg->n_edges == hg->n_counts + 1 && copy_arr(&r->edges, hg->edges, hg->n_edges)))
            return DN_ENOMEM;
        after_change(ev, hk, run->run_seq);
    }
    return 0;
}

static int label_row(ev_t *ev, hkey_t *hk, const Dinamo__Label *l)
{
    row_t *r = row_get(hk, l->run_seq);
    if (!r)
        return DN_ENOMEM;
    int is_auto = l->source == DINAMO__LABEL_SOURCE__AUTO;
    if (r->has_label && is_auto && !r->label_auto)
        return 0; /* recorded in ev.labels; a person's verdict stands */
    r->has_label = 1;
    r->label_auto = (uint8_t)is_auto;
    r->label = l->verdict == DINAMO__VERDICT__GOOD ? 0 : 1;
    if (!r->run_number)
        r->run_number = l->run_number;
    if (l->truth) {
        r->has_truth = 1;
        r->mu = l->truth->mu;
        r->sigma = l->truth->sigma;
        r->rapid_mu = l->truth->rapid_mu;
        r->rapid_sigma = l->truth->rapid_sigma;
    }
    after_change(ev, hk, l->run_seq);
    return 0;
}

static int ingest_label(ev_t *ev, const Dinamo__Label *l)
{
    if (l->histogram_key && l->histogram_key[0]) {
        hkey_t *hk = key_get(ev, l->histogram_key);
        return hk ? label_row(ev, hk, l) : DN_ENOMEM;
    }
    for (int k = 0; k < ev->n_keys; k++) {
        hkey_t *hk = &ev->keys[k];
        if ((int)l->run_seq < hk->n_rows && hk->rows[l->run_seq].has_run) {
            int rc = label_row(ev, hk, l);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* Returns 1 when the score was new, 0 for a duplicate, < 0 on error. */
static int ingest_score(ev_t *ev, int m, const Dinamo__Score *s)
{
    hkey_t *hk = key_get(ev, s->histogram_key);
    if (!hk)
        return DN_ENOMEM;
    row_t *r = row_get(hk, s->run_seq);
    if (!r)
        return DN_ENOMEM;
    if (r->has_score[m])
        return 0;
    r->has_score[m] = 1;
    r->status[m] = (uint8_t)s->status;
    r->chi2[m] = s->has_chi2 && s->status == DINAMO__SCORE_STATUS__OK ? s->chi2 : NAN;
    r->alpha[m] = s->has_alpha ? s->alpha : NAN;
    if (!r->run_number)
        r->run_number = s->run_number;
    if (s->n_reference && s->n_reference == s->n_reference_uncertainty &&
        (copy_arr(&r->ref_mu[m], s->reference, s->n_reference) ||
         copy_arr(&r->ref_sigma[m], s->reference_uncertainty, s->n_reference)))
        return DN_ENOMEM;
    after_change(ev, hk, s->run_seq);
    return 1;
}

/* ---- store --------------------------------------------------------------------- */

/* Stores env (an entry of a log) in table under prefix+key. */
static int store_env(ev_t *ev, const char *table, const unsigned char *kb, size_t kl,
                     const Dinamo__Envelope *env)
{
    Dinamo__Envelope copy = *env;
    copy.producer = (char *)"evaluator";
    copy.has_seq = 1;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = dn_msg_encode_unchecked(&copy, &buf, &len);
    if (rc)
        return rc;
    rc = dn_store_batch_put(ev->batch, table, kb, kl, buf, len);
    free(buf);
    ev->dirty = 1;
    return rc;
}

static int keyed(unsigned char *kb, int prefix, uint64_t seq, const char *hkey, size_t *kl)
{
    size_t n = 0;
    if (prefix >= 0)
        kb[n++] = (unsigned char)prefix;
    dn_put_be64(kb + n, seq);
    n += 8;
    size_t hl = hkey ? strlen(hkey) : 0;
    if (n + hl > DN_STORE_KEY_MAX)
        hl = DN_STORE_KEY_MAX - n; /* keys are at most 255 bytes: never happens */
    if (hl)
        memcpy(kb + n, hkey, hl);
    *kl = n + hl;
    return 0;
}

static int checkpoint(ev_t *ev, dn_err_t *err)
{
    unsigned char b[8 * 3 + 4 * 4];
    dn_put_u64(b, dn_follower_next(ev->events.f));
    for (int m = 0; m < N_METHODS; m++)
        dn_put_u64(b + 8 + 8 * m, ev->scores[m].f ? dn_follower_next(ev->scores[m].f) : 0);
    dn_put_u32(b + 24, (uint32_t)ev->events.eos);
    dn_put_u32(b + 28, (uint32_t)ev->scores[0].eos);
    dn_put_u32(b + 32, (uint32_t)ev->scores[1].eos);
    dn_put_u32(b + 36, (uint32_t)ev->final_done);
    int rc = dn_store_batch_checkpoint(ev->batch, "evaluator", b, sizeof b, NULL);
    if (rc)
        return dn_err_set(err, rc, "out of memory");
    rc = dn_store_apply(ev->store, ev->batch, err);
    if (rc)
        return rc;
    dn_store_batch_clear(ev->batch);
    ev->dirty = 0;
    return 0;
}

typedef struct rb_ctx_t {
    ev_t *ev;
    int kind; /* 0 runs, 1 labels, 2 scores */
} rb_ctx_t;

static int rebuild_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    rb_ctx_t *c = arg;
    Dinamo__Envelope *env = NULL;
    if (dn_msg_decode(val, vlen, &env, NULL, NULL))
        return 0;
    int rc = 0;
    if (c->kind == 0 && dn_msg_type(env) == DN_MSG_RUN)
        rc = ingest_run(c->ev, env->run);
    else if (c->kind == 1 && dn_msg_type(env) == DN_MSG_LABEL)
        rc = ingest_label(c->ev, env->label);
    else if (c->kind == 2 && dn_msg_type(env) == DN_MSG_SCORE && klen >= 1 && *(const unsigned char *)key < N_METHODS) {
        rc = ingest_score(c->ev, *(const unsigned char *)key, env->score);
        if (rc > 0) {
            c->ev->n_scores++;
            rc = 0;
        }
    }
    dn_msg_free(&env);
    return rc < 0 ? rc : 0;
}

static int restore_auto(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    ev_t *ev = arg;
    if (klen != 8)
        return 0;
    uint64_t seq = 0;
    for (int b = 0; b < 8; b++)
        seq = seq << 8 | ((const unsigned char *)key)[b];
    runinfo_t *ri = run_get(ev, seq);
    if (!ri)
        return DN_ENOMEM;
    ri->auto_sent = 1;
    return 0;
}

static int restore(ev_t *ev, dn_err_t *err)
{
    ev->rebuilding = 1;
    const char *tables[3] = {"ev.runs", "ev.labels", "ev.scores"};
    for (int t = 0; t < 3; t++) {
        rb_ctx_t c = {ev, t};
        int rc = dn_store_foreach(ev->store, tables[t], NULL, 0, rebuild_one, &c, err);
        if (rc) {
            ev->rebuilding = 0;
            return rc < 0 && rc != DN_EIO ? dn_err_set(err, rc, "rebuilding from the store: %s",
                                                       dn_strerror(rc)) : rc;
        }
    }
    int arc = dn_store_foreach(ev->store, "ev.auto", NULL, 0, restore_auto, ev, err);
    ev->rebuilding = 0;
    if (arc)
        return arc < 0 && arc != DN_EIO ? dn_err_set(err, arc, "restoring ev.auto: %s",
                                                     dn_strerror(arc)) : arc;
    void *blob = NULL;
    size_t len = 0;
    int rc = dn_store_checkpoint_read(ev->store, "evaluator", &blob, &len, NULL, err);
    if (rc == DN_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (len != 40) {
        free(blob);
        return dn_err_set(err, DN_EFORMAT, "checkpoint evaluator: %zu bytes", len);
    }
    const unsigned char *b = blob;
    dn_follower_set_next(ev->events.f, dn_get_u64(b));
    for (int m = 0; m < N_METHODS; m++)
        if (ev->scores[m].f)
            dn_follower_set_next(ev->scores[m].f, dn_get_u64(b + 8 + 8 * m));
    ev->events.eos = (int)dn_get_u32(b + 24);
    ev->scores[0].eos = (int)dn_get_u32(b + 28);
    ev->scores[1].eos = (int)dn_get_u32(b + 32);
    ev->final_done = (int)dn_get_u32(b + 36);
    free(blob);
    dn_log(DN_LOG_INFO, "restored: %d keys, %d runs, %llu scores%s", ev->n_keys, ev->n_runs,
           (unsigned long long)ev->n_scores, ev->final_done ? ", report was final" : "");
    return 0;
}

/* ---- report -------------------------------------------------------------------- */

static void csv_key_name(char *dst, size_t cap, const char *key)
{
    snprintf(dst, cap, "%s", key);
    for (char *p = dst; *p; p++)
        if (*p == '/')
            *p = '_';
}

/* The dataset of key hk (runs 0 .. n-1 that have the run). */
static dn_dataset_t *key_dataset(const hkey_t *hk, int *n_out)
{
    int n = 0;
    for (int i = 0; i < hk->n_rows; i++)
        if (hk->rows[i].has_run || hk->rows[i].has_label)
            n = i + 1;
    int truth = n > 0;
    for (int i = 0; i < n; i++)
        truth = truth && hk->rows[i].has_truth;
    dn_dataset_t *ds = dn_dataset_new(n, hk->n_bins, truth);
    if (!ds)
        return NULL;
    const double *edges = NULL;
    for (int i = 0; i < n; i++) {
        const row_t *r = &hk->rows[i];
        ds->run[i] = r->run_number;
        ds->label[i] = r->has_label ? r->label : -1;
        if (r->counts)
            memcpy(ds->counts + (size_t)i * hk->n_bins, r->counts,
                   (size_t)hk->n_bins * sizeof(double));
        if (!edges && r->edges)
            edges = r->edges;
        if (truth) {
            ds->true_mu[i] = r->mu;
            ds->true_sigma[i] = r->sigma;
            ds->rapid_mu[i] = r->rapid_mu;
            ds->rapid_sigma[i] = r->rapid_sigma;
        }
    }
    if (edges)
        memcpy(ds->edges, edges, (size_t)(hk->n_bins + 1) * sizeof(double));
    *n_out = n;
    return ds;
}

static int evaluate_key(ev_t *ev, hkey_t *hk, int m, FILE *json, dn_eval_result_t *res,
                        int *ok, dn_err_t *err)
{
    *ok = 0;
    int n = 0;
    if (hk->n_bins < 1) {
        fputs("{\"error\": \"no run of this histogram\"}", json);
        return 0;
    }
    dn_dataset_t *ds = key_dataset(hk, &n);
    if (!ds)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    size_t cells = (size_t)n * hk->n_bins;
    double *chi2 = malloc(((size_t)n + 1) * sizeof *chi2);
    double *mu = malloc((cells + 1) * sizeof *mu), *sg = malloc((cells + 1) * sizeof *sg);
    if (!chi2 || !mu || !sg) {
        free(chi2);
        free(mu);
        free(sg);
        dn_dataset_destroy(&ds);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    int refs = 1, missing = 0;
    double alpha = NAN;
    for (int i = 0; i < n; i++) {
        row_t *r = &hk->rows[i];
        chi2[i] = r->chi2[m];
        missing += !r->has_score[m];
        if (isnan(alpha) && !isnan(r->alpha[m]))
            alpha = r->alpha[m];
        for (int j = 0; j < hk->n_bins; j++) {
            int have = r->ref_mu[m] && r->ref_sigma[m] && !isnan(chi2[i]);
            refs = refs && (have || isnan(chi2[i]));
            mu[(size_t)i * hk->n_bins + j] = have ? r->ref_mu[m][j] : NAN;
            sg[(size_t)i * hk->n_bins + j] = have ? r->ref_sigma[m][j] : NAN;
        }
    }
    dn_eval_opts_t o;
    dn_eval_opts_default(&o);
    o.method = m == 0 ? DN_METHOD_S : DN_METHOD_ML;
    o.n_hist = ev->n_hist;
    o.boot_seed = ev->boot_seed;
    o.alpha = -1.0; /* the scorer tuned alpha: report the historical AUC */
    if (hk->subsystem && !isnan(hk->judge.bad))
        o.threshold = hk->judge.bad;
    dn_err_t e = {0};
    int rc = dn_evaluate_scores_ref(ds, o.method, chi2, refs ? mu : NULL, refs ? sg : NULL,
                                    alpha, &o, res, &e);
    if (rc == DN_ENOMEM) {
        rc = dn_err_set(err, rc, "%s", e.msg);
    } else if (rc) {
        fputs("{\"error\": ", json);
        char msg[DN_ERRMSG_MAX + 64];
        snprintf(msg, sizeof msg, "%s", e.msg);
        fputc('"', json);
        for (char *p = msg; *p; p++)
            if (*p == '"' || *p == '\\')
                fprintf(json, "\\%c", *p);
            else if ((unsigned char)*p >= 0x20)
                fputc(*p, json);
        fprintf(json, "\", \"missing_scores\": %d}", missing);
        rc = 0;
    } else {
        char *buf = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&buf, &len);
        if (mf) {
            dn_eval_result_write_json(res, mf);
            fclose(mf);
            while (len && buf[len - 1] == '\n')
                buf[--len] = 0;
            fputs(buf, json);
            free(buf);
        }
        *ok = 1;
    }
    free(chi2);
    free(mu);
    free(sg);
    dn_dataset_destroy(&ds);
    return rc;
}

static int write_scores_csv(ev_t *ev, hkey_t *hk, int m, dn_err_t *err)
{
    char path[4096 + 600], kn[DN_MSG_KEY_MAX + 1];
    if (ev->n_keys == 1) {
        snprintf(path, sizeof path, "%s/scores_%s.csv", ev->report_dir, method_name[m]);
    } else {
        csv_key_name(kn, sizeof kn, hk->key);
        snprintf(path, sizeof path, "%s/scores_%s_%s.csv", ev->report_dir, method_name[m], kn);
    }
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *f = dn_outfile_stream(of);
    fputs("run,label,chi2,score,status\n", f);
    for (int i = 0; i < hk->n_rows; i++) {
        const row_t *r = &hk->rows[i];
        if (!r->has_run && !r->has_score[m])
            continue;
        fprintf(f, "%lld,", (long long)r->run_number);
        if (r->has_label)
            fprintf(f, "%d", r->label);
        if (!r->has_score[m])
            fputs(",,,missing\n", f);
        else if (r->status[m] == DINAMO__SCORE_STATUS__REJECTED)
            fputs(",,,rejected\n", f);
        else if (isnan(r->chi2[m]))
            fputs(",,,insufficient_statistics\n", f);
        else
            fprintf(f, ",%.17g,%.17g,ok\n", r->chi2[m], dn_score_from_chi2(r->chi2[m], hk->n_bins));
    }
    return dn_outfile_commit(&of, err);
}

/* flags.csv: every scored histogram of the continual regime with its severity;
 * runs.csv: every run judged as a whole (severity = its worst histogram's,
 * combined score, the worst histograms and the worst bins of the worst one);
 * subsystems.csv: the same per subsystem of each run. */
static int write_flags_csv(ev_t *ev, dn_err_t *err)
{
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/flags.csv", ev->report_dir);
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *f = dn_outfile_stream(of);
    fputs("run,run_seq,method,histogram,subsystem,score,warning,threshold,severity\n", f);
    for (int m = 0; m < N_METHODS; m++) {
        if (!ev->enabled[m])
            continue;
        for (int i = ev->n_hist; i < ev->n_runs; i++)
            for (int k = 0; k < ev->n_keys; k++) {
                hkey_t *hk = &ev->keys[k];
                if (i >= hk->n_rows)
                    continue;
                int sev = severity(ev, hk, &hk->rows[i], m);
                if (sev == SEV_NONE)
                    continue;
                double sc = row_score(hk, &hk->rows[i], m);
                fprintf(f, "%lld,%d,%s,%s,%s,", (long long)hk->rows[i].run_number, i,
                        method_name[m], hk->key, hk->subsystem ? hk->subsystem : "");
                if (!isnan(sc))
                    fprintf(f, "%.17g", sc);
                fprintf(f, ",%.17g,%.17g,%s\n", warning_threshold(ev, hk, m), hk->threshold[m],
                        sev_name[sev]);
            }
    }
    return dn_outfile_commit(&of, err);
}

static void assess_line(FILE *f, const ev_t *ev, int i, int m, const char *subsystem,
                        const assess_t *a)
{
    char worst[512] = "", bins[128] = "";
    worst_list(ev, a, worst, sizeof worst);
    if (a->worst[0] >= 0)
        worst_bins(ev, a->worst[0], (uint64_t)i, m, bins, sizeof bins);
    double sc = assess_score(a);
    fprintf(f, "%lld,%d,%s,", (long long)ev->runs[i].run_number, i, method_name[m]);
    if (subsystem)
        fprintf(f, "%s,", subsystem);
    fprintf(f, "%s,", sev_name[a->severity]);
    if (!isnan(sc))
        fprintf(f, "%.17g", sc);
    fprintf(f, ",%d,%d,%d,%d,%s,%s\n", a->n_hist, a->n_bad, a->n_warning, a->n_insufficient,
            worst, bins);
}

static int write_runs_csv(ev_t *ev, int per_subsystem, dn_err_t *err)
{
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/%s", ev->report_dir,
             per_subsystem ? "subsystems.csv" : "runs.csv");
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *f = dn_outfile_stream(of);
    fprintf(f, "run,run_seq,method,%sseverity,score,n_histograms,n_bad,n_warning,"
               "n_insufficient,worst,worst_bins\n", per_subsystem ? "subsystem," : "");
    for (int m = 0; m < N_METHODS; m++) {
        if (!ev->enabled[m])
            continue;
        for (int i = ev->n_hist; i < ev->n_runs; i++) {
            assess_t a;
            if (!per_subsystem) {
                if (assess_run(ev, (uint64_t)i, m, NULL, &a) && a.n_hist)
                    assess_line(f, ev, i, m, NULL, &a);
                continue;
            }
            /* each subsystem once, in key order of first appearance */
            for (int k = 0; k < ev->n_keys; k++) {
                const char *sub = ev->keys[k].subsystem ? ev->keys[k].subsystem : "";
                int seen = 0;
                for (int q = 0; q < k && !seen; q++)
                    seen = i < ev->keys[q].n_rows && ev->keys[q].rows[i].has_run &&
                           !strcmp(ev->keys[q].subsystem ? ev->keys[q].subsystem : "", sub);
                if (seen || i >= ev->keys[k].n_rows || !ev->keys[k].rows[i].has_run)
                    continue;
                if (assess_run(ev, (uint64_t)i, m, sub, &a) && a.n_hist)
                    assess_line(f, ev, i, m, sub, &a);
            }
        }
    }
    return dn_outfile_commit(&of, err);
}

typedef struct {
    FILE *f;
} labels_csv_t;

static void csv_text(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
    fputc('"', f);
}

static int label_line(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key;
    (void)klen;
    labels_csv_t *c = arg;
    Dinamo__Envelope *env = NULL;
    if (dn_msg_decode(val, vlen, &env, NULL, NULL))
        return 0;
    if (dn_msg_type(env) == DN_MSG_LABEL) {
        static const char *src[] = {"", "generator", "shifter", "auto", "recorded"};
        const Dinamo__Label *l = env->label;
        fprintf(c->f, "%lld,%llu,%s,%s,%s,", (long long)l->run_number,
                (unsigned long long)l->run_seq, l->histogram_key ? l->histogram_key : "",
                l->verdict == DINAMO__VERDICT__GOOD ? "good" : "bad",
                l->source < sizeof src / sizeof *src ? src[l->source] : "?");
        csv_text(c->f, l->who);
        fprintf(c->f, ",%.3f,", l->has_time ? l->time : NAN);
        csv_text(c->f, l->reason);
        fprintf(c->f, ",%llu\n", (unsigned long long)env->offset);
    }
    dn_msg_free(&env);
    return 0;
}

/* Every label received, in arrival order: who gave which verdict when. */
static int write_labels_csv(ev_t *ev, dn_err_t *err)
{
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/labels.csv", ev->report_dir);
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    labels_csv_t c = {dn_outfile_stream(of)};
    fputs("run,run_seq,histogram,verdict,source,who,time,reason,offset\n", c.f);
    int rc = dn_store_foreach(ev->store, "ev.labels", NULL, 0, label_line, &c, err);
    if (rc) {
        dn_outfile_abort(&of);
        return rc;
    }
    return dn_outfile_commit(&of, err);
}

static int write_report(ev_t *ev, int final, dn_err_t *err)
{
    int rc = dn_mkdirs(ev->report_dir, err);
    if (rc)
        return rc;
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/metrics.json", ev->report_dir);
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *f = dn_outfile_stream(of);
    dn_eval_result_t *res = calloc((size_t)ev->n_keys * N_METHODS + 1, sizeof *res);
    int *ok = calloc((size_t)ev->n_keys * N_METHODS + 1, sizeof *ok);
    if (!res || !ok) {
        free(res);
        free(ok);
        dn_outfile_abort(&of);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    fputs("{\"keys\": {", f);
    for (int k = 0; k < ev->n_keys && !rc; k++) {
        fprintf(f, "%s\"%s\": {", k ? ", " : "", ev->keys[k].key);
        int first = 1;
        for (int m = 0; m < N_METHODS && !rc; m++) {
            if (!ev->enabled[m])
                continue;
            fprintf(f, "%s\"%s\": ", first ? "" : ", ", method_name[m]);
            first = 0;
            rc = evaluate_key(ev, &ev->keys[k], m, f, &res[k * N_METHODS + m],
                              &ok[k * N_METHODS + m], err);
        }
        fputc('}', f);
    }
    fputc('}', f);
    /* Localisation: among the continual-regime runs with a histogram labelled
     * bad that the method flagged bad, how often the worst-named histogram is
     * one of those labelled bad (the generator's localised mode labels exactly
     * the broken ones). */
    fputs(", \"localisation\": {", f);
    for (int m = 0, first = 1; m < N_METHODS && !rc; m++) {
        if (!ev->enabled[m])
            continue;
        int runs = 0, hits = 0;
        for (int i = ev->n_hist; i < ev->n_runs; i++) {
            int broken = 0;
            for (int k = 0; k < ev->n_keys; k++)
                broken |= i < ev->keys[k].n_rows && ev->keys[k].rows[i].has_label &&
                          ev->keys[k].rows[i].label == 1;
            assess_t a;
            if (!broken || !assess_run(ev, (uint64_t)i, m, NULL, &a) || a.severity != SEV_BAD)
                continue;
            runs++;
            const row_t *w = &ev->keys[a.worst[0]].rows[i];
            hits += w->has_label && w->label == 1;
        }
        fprintf(f, "%s\"%s\": {\"flagged_runs\": %d, \"worst_is_broken\": %d, "
                   "\"fraction\": ", first ? "" : ", ", method_name[m], runs, hits);
        first = 0;
        if (runs)
            fprintf(f, "%.17g}", (double)hits / runs);
        else
            fputs("null}", f);
        if (runs && ev->n_keys > 1)
            dn_log(DN_LOG_INFO, "localisation (%s): the worst-named histogram was labelled bad "
                   "in %d of %d flagged bad runs (%.1f%%)", method_name[m], hits, runs,
                   100.0 * hits / runs);
    }
    fputs("}}\n", f);
    if (rc) {
        dn_outfile_abort(&of);
        goto done;
    }
    if ((rc = dn_outfile_commit(&of, err)))
        goto done;
    for (int k = 0; k < ev->n_keys && !rc; k++)
        for (int m = 0; m < N_METHODS && !rc; m++)
            if (ev->enabled[m])
                rc = write_scores_csv(ev, &ev->keys[k], m, err);
    if (!rc)
        rc = write_flags_csv(ev, err);
    if (!rc)
        rc = write_runs_csv(ev, 0, err);
    if (!rc)
        rc = write_runs_csv(ev, 1, err);
    if (!rc)
        rc = write_labels_csv(ev, err);
    if (!rc && final) {
        snprintf(path, sizeof path, "%s/FINAL", ev->report_dir);
        if (!(of = dn_outfile_open(path, err)))
            rc = err->code;
        else
            rc = dn_outfile_commit(&of, err);
    }
    if (rc)
        goto done;
    dn_log(DN_LOG_INFO, "report%s written to %s", final ? " (final)" : "", ev->report_dir);
    dn_log(DN_LOG_INFO, "%-24s %-3s %9s %9s %9s %9s %9s %9s %9s", "histogram", "m", "alpha",
           "threshold", "bal.acc", "sens", "spec", "adapt", "jaccard");
    for (int k = 0; k < ev->n_keys; k++)
        for (int m = 0; m < N_METHODS; m++) {
            if (!ev->enabled[m])
                continue;
            dn_eval_result_t *r = &res[k * N_METHODS + m];
            if (!ok[k * N_METHODS + m]) {
                dn_log(DN_LOG_INFO, "%-24s %-3s (not evaluated)", ev->keys[k].key,
                       method_name[m]);
                continue;
            }
            dn_log(DN_LOG_INFO, "%-24s %-3s %9.3f %9.4f %9.4f %9.4f %9.4f %9.3f %9.4f",
                   ev->keys[k].key, method_name[m], r->alpha, r->threshold,
                   r->balanced_accuracy, r->sensitivity, r->specificity, r->adaptation_time,
                   r->jaccard_distance);
        }
done:
    free(res);
    free(ok);
    return rc;
}

static int all_eos(const ev_t *ev)
{
    if (!ev->events.eos)
        return 0;
    for (int m = 0; m < N_METHODS; m++)
        if (ev->enabled[m] && !ev->scores[m].eos)
            return 0;
    return 1;
}

/* ---- service callbacks ----------------------------------------------------------- */

static int on_events(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                     const dn_recv_info_t *info, void *arg)
{
    ev_t *ev = arg;
    dn_err_t err = {0};
    int rc = dn_follower_accept(ev->events.f, env, &err);
    if (rc < 0)
        return dn_service_fail(svc, rc, "events: %s", err.msg);
    if (rc != DN_FOLLOW_DELIVER)
        return 0;
    ev->dirty = 1;
    unsigned char kb[DN_STORE_KEY_MAX + 1];
    size_t kl;
    switch (dn_msg_type(env)) {
    case DN_MSG_RUN:
        ev->n_run_msgs++;
        keyed(kb, -1, env->run->run_seq, NULL, &kl);
        rc = store_env(ev, "ev.runs", kb, kl, env);
        if (!rc)
            rc = ingest_run(ev, env->run);
        break;
    case DN_MSG_LABEL:
        ev->n_labels++;
        /* keyed by the events-log offset: every label is kept in arrival order,
         * so a relabelling is recorded beside the first verdict (labels.csv) */
        dn_put_be64(kb, env->offset);
        kl = 8;
        rc = store_env(ev, "ev.labels", kb, kl, env);
        if (!rc)
            rc = ingest_label(ev, env->label);
        break;
    case DN_MSG_CONTROL:
        if (env->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM && !ev->events.eos) {
            ev->events.eos = 1;
            dn_log(DN_LOG_INFO, "end of stream on events (%d runs)", ev->n_runs);
        }
        break;
    default:
        break;
    }
    return rc ? dn_service_fail(svc, rc, "events: %s", dn_strerror(rc)) : 0;
}

static int on_scores(dn_service_t *svc, int m, const Dinamo__Envelope *env)
{
    ev_t *ev = g_ev;
    dn_err_t err = {0};
    int rc = dn_follower_accept(ev->scores[m].f, env, &err);
    if (rc < 0)
        return dn_service_fail(svc, rc, "%s: %s", log_name[m], err.msg);
    if (rc != DN_FOLLOW_DELIVER)
        return 0;
    ev->dirty = 1;
    if (dn_msg_type(env) == DN_MSG_SCORE) {
        rc = ingest_score(ev, m, env->score);
        if (rc == 1) {
            unsigned char kb[DN_STORE_KEY_MAX + 1];
            size_t kl;
            keyed(kb, m, env->score->run_seq, env->score->histogram_key, &kl);
            ev->n_scores++;
            rc = store_env(ev, "ev.scores", kb, kl, env);
        } else if (rc == 0) {
            ev->n_dups++;
        }
    } else if (dn_msg_type(env) == DN_MSG_CONTROL &&
               env->control->kind == DINAMO__CONTROL_KIND__END_OF_STREAM && !ev->scores[m].eos) {
        ev->scores[m].eos = 1;
        dn_log(DN_LOG_INFO, "end of stream on %s", log_name[m]);
    }
    return rc < 0 ? dn_service_fail(svc, rc, "%s: %s", log_name[m], dn_strerror(rc)) : 0;
}

static int on_scores_s(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                       const dn_recv_info_t *info, void *arg)
{
    return on_scores(svc, 0, env);
}

static int on_scores_ml(dn_service_t *svc, dn_sock_t *sock, const Dinamo__Envelope *env,
                        const dn_recv_info_t *info, void *arg)
{
    return on_scores(svc, 1, env);
}

static int on_round(dn_service_t *svc, void *arg)
{
    ev_t *ev = arg;
    dn_err_t err = {0};
    int rc = 0;
    if (ev->dirty && (rc = checkpoint(ev, &err)))
        return dn_service_fail(svc, rc, "%s", err.msg);
    if ((rc = dn_follower_flush(ev->events.f, &err)))
        return dn_service_fail(svc, rc, "%s", err.msg);
    for (int m = 0; m < N_METHODS; m++)
        if (ev->scores[m].f && (rc = dn_follower_flush(ev->scores[m].f, &err)))
            return dn_service_fail(svc, rc, "%s", err.msg);
    if (ev->figw) {
        if ((rc = dn_figworker_poll(ev->figw, &err)))
            dn_log(DN_LOG_WARN, "figures: %s", err.msg);
        feed_figures(ev);
        if ((rc = dn_figworker_poll(ev->figw, &err)))
            dn_log(DN_LOG_WARN, "figures: %s", err.msg);
    }
    int figures_pending = figures_waiting(ev);
    /* The final report is complete: it waits for the figures of the last runs. */
    int final = all_eos(ev) && !ev->final_done && !figures_pending;
    if (final || dn_service_report_requested()) {
        if ((rc = write_report(ev, final, &err)))
            dn_log(DN_LOG_ERROR, "report: %s", err.msg);
        else if (final) {
            ev->final_done = 1;
            ev->dirty = 1;
            if ((rc = checkpoint(ev, &err)))
                return dn_service_fail(svc, rc, "%s", err.msg);
        }
    }
    if (ev->final_done && ev->exit_at_end)
        dn_service_stop(svc);
    return figures_pending ? 20 : DN_SERVICE_POLL_MAX_MS; /* come back for the helper's answer */
}

static int on_tick(dn_service_t *svc, void *arg)
{
    ev_t *ev = arg;
    dn_err_t err = {0};
    int rc = dn_store_sync(ev->store, &err);
    return rc ? dn_service_fail(svc, rc, "%s", err.msg) : 0;
}

static int on_shutdown(dn_service_t *svc, void *arg)
{
    ev_t *ev = arg;
    dn_err_t err = {0};
    int rc = ev->dirty ? checkpoint(ev, &err) : 0;
    if (!rc)
        rc = dn_store_sync(ev->store, &err);
    if (rc)
        return dn_service_fail(svc, rc, "%s", err.msg);
    dn_figworker_stats_t fs = {0};
    if (ev->figw)
        fs = dn_figworker_stats(ev->figw);
    dn_log(DN_LOG_INFO, "stopped: %d runs, %llu labels, %llu scores (%llu duplicates); figures: "
           "%llu sets wanted, %llu drawn, %llu failed (%llu timed out), %d not drawn yet, %llu "
           "dropped (queue full, oldest first), %llu not sent (error); %d sets kept, %lld older "
           "deleted",
           ev->n_runs, (unsigned long long)ev->n_labels, (unsigned long long)ev->n_scores,
           (unsigned long long)ev->n_dups, (unsigned long long)ev->figures_wanted, fs.drawn,
           fs.failed, fs.timed_out, figures_waiting(ev),
           (unsigned long long)ev->figures_dropped, (unsigned long long)ev->figures_unsent,
           ev->figkeep ? dn_figkeep_count(ev->figkeep) : 0,
           ev->figkeep ? dn_figkeep_evicted(ev->figkeep) : 0);
    return 0;
}

/* ---- main ------------------------------------------------------------------------- */

static const dn_config_key_t keys[] = {
    {"events", DN_CFG_STRING, "connect:tcp://127.0.0.1:5550", "events log (SUB)"},
    {"events_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5551", "events requests (PUSH)"},
    {"scores_s", DN_CFG_STRING, "connect:tcp://127.0.0.1:5552", "scores_s log (SUB)"},
    {"scores_s_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5553", "scores_s requests"},
    {"scores_ml", DN_CFG_STRING, "connect:tcp://127.0.0.1:5554", "scores_ml log (SUB)"},
    {"scores_ml_requests", DN_CFG_STRING, "connect:tcp://127.0.0.1:5555", "scores_ml requests"},
    {"methods", DN_CFG_STRING, "s,ml", "methods evaluated: s, ml or s,ml"},
    {"n_hist", DN_CFG_INT, "1000", "historical runs (threshold tuning)"},
    {"boot_seed", DN_CFG_INT, "0", "seed of the threshold bootstrap"},
    {"warning_margin", DN_CFG_DOUBLE, "0.6931471805599453",
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
};

static int open_feed(void *zctx, feed_t *fd, const char *sub, const char *req, const char *log,
                     dn_err_t *err)
{
    if (!(fd->sub = dn_sock_new(zctx, ZMQ_SUB, sub, NULL, err)) ||
        !(fd->push = dn_sock_new(zctx, ZMQ_PUSH, req, NULL, err)))
        return err->code;
    dn_follower_opts_t fo = {.log = log, .consumer = "evaluator"};
    if (!(fd->f = dn_follower_new(fd->sub, fd->push, &fo, err)))
        return err->code;
    return 0;
}

static void close_feed(feed_t *fd)
{
    dn_follower_destroy(&fd->f);
    dn_sock_destroy(&fd->sub);
    dn_sock_destroy(&fd->push);
}

int main(int argc, char **argv)
{
    /* the figure worker's helper: job paths on stdin, answers on stdout */
    if (argc == 2 && !strcmp(argv[1], "--figure-worker")) {
        /* figures are not on any run's path to its score: the trainer's
         * threads come first when the cores are contended */
        if (setpriority(PRIO_PROCESS, 0, 10))
            fprintf(stderr, "evaluator --figure-worker: setpriority: %s\n", strerror(errno));
        return dn_figworker_main(stdin, stdout);
    }
    dn_err_t err = {0};
    int rc = 0, exit_code = 1;
    ev_t ev;
    memset(&ev, 0, sizeof ev);
    g_ev = &ev;
    void *zctx = NULL;
    dn_config_t *cfg = dn_config_new("evaluator", keys, (int)(sizeof keys / sizeof *keys), &err);
    if (!cfg)
        goto fail;
    rc = dn_config_load(cfg, argc, argv, &err);
    if (rc == DN_CONFIG_HELP) {
        printf("usage: evaluator [--config FILE] [--key value ...]\n");
        dn_config_usage(cfg, stdout);
        dn_config_destroy(&cfg);
        return 0;
    }
    if (rc || (rc = dn_log_init("evaluator", dn_config_str(cfg, "log_level"), &err)))
        goto fail;
    if (!(ev.policy = dn_policy_from_config(cfg, &err))) {
        rc = err.code;
        goto fail;
    }
    int64_t n_hist, boot_seed, tick_ms;
    dn_config_int(cfg, "n_hist", &n_hist);
    dn_config_int(cfg, "boot_seed", &boot_seed);
    dn_config_int(cfg, "tick_ms", &tick_ms);
    dn_config_bool(cfg, "exit_at_end", &ev.exit_at_end);
    if (n_hist < 1 || n_hist > INT32_MAX || tick_ms < 1) {
        rc = dn_err_set(&err, DN_EINVAL, "need n_hist >= 1 and tick_ms >= 1");
        goto fail;
    }
    ev.n_hist = (int)n_hist;
    ev.boot_seed = (uint64_t)boot_seed;
    dn_config_double(cfg, "warning_margin", &ev.warning_margin);
    dn_config_bool(cfg, "auto_accept", &ev.auto_accept);
    dn_config_bool(cfg, "figures", &ev.figures);
    {
        int64_t fm;
        dn_config_int(cfg, "figures_keep", &fm);
        ev.figures_keep = fm < 0 ? 0 : fm > INT32_MAX ? INT32_MAX : (int)fm;
        dn_config_int(cfg, "figures_queue", &fm);
        ev.figures_queue = fm < 1 ? 1 : fm > 1000000 ? 1000000 : (int)fm;
        dn_config_int(cfg, "figures_timeout_ms", &fm);
        ev.figures_timeout_ms = fm < 100 ? 100 : fm > INT32_MAX ? INT32_MAX : (int)fm;
    }
    dn_config_bool(cfg, "auto_accept_warning", &ev.auto_warning);
    {
        const char *am = dn_config_str(cfg, "auto_accept_methods");
        for (int m = 0; m < N_METHODS; m++)
            ev.auto_methods[m] = !am[0] || strstr(am, method_name[m]) != NULL;
        if (am[0] && strcmp(am, "s") && strcmp(am, "ml") && strcmp(am, "s,ml") &&
            strcmp(am, "ml,s")) {
            rc = dn_err_set(&err, DN_EINVAL, "auto_accept_methods '%s': want s, ml or s,ml",
                            am);
            goto fail;
        }
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        ev.auto_incarnation = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
    }
    if (!(ev.warning_margin >= 0)) {
        rc = dn_err_set(&err, DN_EINVAL, "need warning_margin >= 0");
        goto fail;
    }
    char methods[64];
    snprintf(methods, sizeof methods, "%s", dn_config_str(cfg, "methods"));
    for (char *save = NULL, *t = strtok_r(methods, ", ", &save); t;
         t = strtok_r(NULL, ", ", &save)) {
        if (!strcmp(t, "s"))
            ev.enabled[0] = 1;
        else if (!strcmp(t, "ml"))
            ev.enabled[1] = 1;
        else {
            rc = dn_err_set(&err, DN_EINVAL, "methods: unknown method '%s' (want s, ml)", t);
            goto fail;
        }
    }
    if (!ev.enabled[0] && !ev.enabled[1]) {
        rc = dn_err_set(&err, DN_EINVAL, "methods: none given");
        goto fail;
    }
    const char *data_dir = dn_config_str(cfg, "data_dir"), *rd = dn_config_str(cfg, "report_dir");
    if (rd && *rd)
        snprintf(ev.report_dir, sizeof ev.report_dir, "%s", rd);
    else
        snprintf(ev.report_dir, sizeof ev.report_dir, "%s/report", data_dir);
    if ((rc = dn_service_install_signals(&err)))
        goto fail;
    char path[4096 + 16];
    snprintf(path, sizeof path, "%s/evaluator", data_dir);
    if (!(ev.store = dn_store_open(path, DN_STORE_NOSYNC, 0, &err)))
        goto fail;
    if (!(ev.batch = dn_store_batch_new())) {
        rc = dn_err_set(&err, DN_ENOMEM, "out of memory");
        goto fail;
    }
    if (!(zctx = zmq_ctx_new())) {
        rc = dn_err_set(&err, DN_EIO, "zmq_ctx_new: %s", strerror(errno));
        goto fail;
    }
    if ((rc = open_feed(zctx, &ev.events, dn_config_str(cfg, "events"),
                        dn_config_str(cfg, "events_requests"), "events", &err)))
        goto fail;
    const char *ep[N_METHODS][2] = {{"scores_s", "scores_s_requests"},
                                    {"scores_ml", "scores_ml_requests"}};
    for (int m = 0; m < N_METHODS; m++)
        if (ev.enabled[m] && (rc = open_feed(zctx, &ev.scores[m], dn_config_str(cfg, ep[m][0]),
                                             dn_config_str(cfg, ep[m][1]), log_name[m], &err)))
            goto fail;
    if (ev.figures) {
        char runs_dir[4200];
        snprintf(runs_dir, sizeof runs_dir, "%s/runs", ev.report_dir);
        if (!(ev.figkeep = dn_figkeep_new(runs_dir, ev.figures_keep, &err))) {
            rc = err.code;
            goto fail;
        }
        if (dn_figkeep_evicted(ev.figkeep))
            dn_log(DN_LOG_INFO, "figures: %lld old sets deleted, %d kept (figures_keep %d)",
                   dn_figkeep_evicted(ev.figkeep), dn_figkeep_count(ev.figkeep),
                   ev.figures_keep);
        char *wargv[] = {(char *)"/proc/self/exe", (char *)"--figure-worker", NULL};
        if (!(ev.figw = dn_figworker_new(wargv, ev.figures_timeout_ms, figure_done, &ev, &err)))
            goto fail;
        if (!(ev.figq = calloc((size_t)ev.figures_queue, sizeof *ev.figq))) {
            rc = dn_err_set(&err, DN_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((rc = restore(&ev, &err)))
        goto fail;
    if (!(ev.svc = dn_service_new("evaluator", &err)))
        goto fail;
    if ((rc = dn_service_add_socket(ev.svc, ev.events.sub, on_events, &ev)) ||
        (ev.enabled[0] && (rc = dn_service_add_socket(ev.svc, ev.scores[0].sub, on_scores_s,
                                                      &ev))) ||
        (ev.enabled[1] && (rc = dn_service_add_socket(ev.svc, ev.scores[1].sub, on_scores_ml,
                                                      &ev))) ||
        (rc = dn_service_set_tick(ev.svc, (int)tick_ms, on_tick, &ev)))
        goto fail;
    dn_service_set_round(ev.svc, on_round, &ev);
    dn_service_set_shutdown(ev.svc, on_shutdown, &ev);
    dn_log(DN_LOG_INFO, "started: methods %s%s%s, n_hist %d, report %s",
           ev.enabled[0] ? "s" : "", ev.enabled[0] && ev.enabled[1] ? "," : "",
           ev.enabled[1] ? "ml" : "", ev.n_hist, ev.report_dir);
    rc = dn_service_run(ev.svc, &err);
    if (!rc)
        exit_code = 0;
fail:
    if (exit_code)
        dn_log(DN_LOG_ERROR, "evaluator: %s", err.msg[0] ? err.msg : dn_strerror(rc));
    dn_service_destroy(&ev.svc);
    dn_figworker_destroy(&ev.figw); /* reports the jobs not drawn: before figkeep goes */
    dn_figkeep_destroy(&ev.figkeep);
    free(ev.figq);
    close_feed(&ev.events);
    for (int m = 0; m < N_METHODS; m++)
        close_feed(&ev.scores[m]);
    if (zctx)
        zmq_ctx_term(zctx);
    dn_store_batch_destroy(&ev.batch);
    dn_store_destroy(&ev.store);
    for (int k = 0; k < ev.n_keys; k++) {
        hkey_t *hk = &ev.keys[k];
        for (int i = 0; i < hk->n_rows; i++) {
            row_t *r = &hk->rows[i];
            free(r->counts);
            free(r->variances);
            free(r->edges);
            for (int m = 0; m < N_METHODS; m++) {
                free(r->ref_mu[m]);
                free(r->ref_sigma[m]);
            }
        }
        free(hk->rows);
        free(hk->key);
        free(hk->subsystem);
    }
    free(ev.keys);
    free(ev.runs);
    dn_policy_destroy(&ev.policy);
    dn_config_destroy(&cfg);
    return exit_code;
}
