/* figures.c: the figure sets of runs the evaluator flags bad (figures on).
 *
 * For each of the worst histograms of a run flagged bad by a method, its
 * figure set (figset.h: the histogram against the reference that scored it
 * with its pulls, and its score history with this run circled) goes to
 * report_dir/runs/run_<run>/<key>_<method>.{png,svg} and ..._history.*.
 * Drawing takes longer than a run takes to score, and PLplot must not run in
 * a process with ZeroMQ threads, so a set is saved as a job file and drawn by
 * the figure worker's helper process (this binary with --figure-worker, at
 * nice 10, at most figures_timeout_ms per job) while the evaluator goes on.
 *
 * Sets wanted wait as (run, key, method) in a ring of at most figures_queue;
 * a job file is built only when the worker is idle, and a full ring drops
 * its oldest set for the newest (counted; logged the first time and every
 * 100th), so after a burst it is the runs on shift that are drawn and a
 * dropped set costs nothing. A run's history figure shows the runs up to it,
 * whenever it is drawn. When the horizon that fired is a lagged one (the key
 * scored at several horizons, judge.c), the histogram figure shows the
 * reference frozen at that horizon and the pulls against it, and its title
 * names it ("fired by 500r"): now's reference has moved with a slow defect
 * and would show little. The sets on disk are rotated by figkeep: the newest
 * figures_keep stay. Every set wanted ends as exactly one of drawn, failed,
 * waiting (ring or worker), dropped or not sent; the stop line says how many
 * of each. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "evaluator.h"
#include "figkeep.h"
#include "figset.h"
#include "figworker.h"
#include "fileio.h"
#include "log.h"

struct ev_figwant_t {
    uint64_t seq;
    int k, m;
};

/* The worker's answer for DIR/.NAME.job, which drew DIR/NAME.* and
 * DIR/NAME_history.*: the set joins the ones kept on disk. */
static void figure_done(const char *jobfile, int ok, const char *msg, void *arg)
{
    ev_figures_t *f = arg;
    if (!ok)
        dn_log(DN_LOG_WARN, "figure job %s: %s", jobfile, msg);
    const char *slash = strrchr(jobfile, '/');
    size_t len = strlen(jobfile);
    char base[4800];
    if (!f->kept || !slash || slash[1] != '.' || len < 5 || strcmp(jobfile + len - 4, ".job") ||
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
    if (dn_figkeep_add(f->kept, base, &err))
        dn_log(DN_LOG_WARN, "figures: %s", err.msg);
}

int ev_figures_init(ev_figures_t *f, const char *report_dir, int keep, int queue,
                    int timeout_ms, dn_err_t *err)
{
    memset(f, 0, sizeof *f);
    f->report_dir = report_dir;
    f->keep = keep;
    f->queue = queue;
    f->timeout_ms = timeout_ms;
    char runs_dir[4200];
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", report_dir);
    if (!(f->kept = dn_figkeep_new(runs_dir, keep, err)))
        return err->code;
    if (dn_figkeep_evicted(f->kept))
        dn_log(DN_LOG_INFO, "figures: %lld old sets deleted, %d kept (figures_keep %d)",
               dn_figkeep_evicted(f->kept), dn_figkeep_count(f->kept), keep);
    char *argv[] = {(char *)"/proc/self/exe", (char *)"--figure-worker", NULL};
    if (!(f->worker = dn_figworker_new(argv, timeout_ms, figure_done, f, err)))
        return err->code;
    if (!(f->ring = calloc((size_t)queue, sizeof *f->ring)))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    return 0;
}

void ev_figures_free(ev_figures_t *f)
{
    dn_figworker_destroy(&f->worker); /* reports the jobs not drawn: before kept goes */
    dn_figkeep_destroy(&f->kept);
    free(f->ring);
    f->ring = NULL;
}

int ev_figures_on(const ev_figures_t *f) { return f->worker != NULL; }

void ev_figures_want(ev_figures_t *f, const ev_book_t *b, uint64_t seq, int m, int k)
{
    f->wanted++;
    if (f->n == f->queue) {
        const ev_figwant_t *old = &f->ring[f->head];
        if (f->dropped++ % 100 == 0)
            dn_log(DN_LOG_WARN, "figures of run %lld, %s (%s): dropped for a newer run's, %d "
                   "sets already wait (figures_queue); %llu dropped so far",
                   (long long)ev_book_row(b, old->k, old->seq)->run_number, b->keys[old->k].key,
                   ev_method_name[old->m], f->queue, (unsigned long long)f->dropped);
        f->head = (f->head + 1) % f->queue;
        f->n--;
    }
    f->ring[(f->head + f->n) % f->queue] = (ev_figwant_t){seq, k, m};
    f->n++;
}

/* The run's history up to it (not the runs that came before the set was
 * drawn: a figure does not depend on when it is drawn) into set, from
 * buffers the caller frees. Returns 0 or DN_ENOMEM. */
static int history(const ev_book_t *b, int k, uint64_t seq, int m, dn_figset_t *set,
                   int64_t **runs, double **scores, int8_t **labels)
{
    const ev_key_t *hk = &b->keys[k];
    const int upto = (uint64_t)hk->n_rows < seq + 1 ? hk->n_rows : (int)seq + 1;
    *runs = malloc(sizeof **runs * ((size_t)upto + 1));
    *scores = malloc(sizeof **scores * ((size_t)upto + 1));
    *labels = malloc((size_t)upto + 1);
    if (!*runs || !*scores || !*labels)
        return DN_ENOMEM;
    int n = 0;
    set->mark = -1;
    for (int i = 0; i < upto; i++) {
        const ev_row_t *r = &hk->rows[i];
        if (!r->has_run)
            continue;
        if ((uint64_t)i == seq)
            set->mark = n;
        (*runs)[n] = r->run_number;
        (*scores)[n] = ev_row_score(hk, r, m);
        (*labels)[n] = r->has_label ? r->label : -1;
        n++;
    }
    set->n_runs = n;
    set->run = *runs;
    set->score = *scores;
    set->label = *labels;
    return 0;
}

/* Saves the set's job and hands it to the worker. Returns 0 or an error
 * with *err set (nothing left behind). */
static int submit(ev_figures_t *f, const ev_book_t *b, const ev_judge_t *j, uint64_t seq,
                  int m, int k, dn_err_t *err)
{
    const ev_key_t *hk = &b->keys[k];
    const ev_row_t *r = &hk->rows[seq];
    char dir[4200], base[4700], base_h[4700], jobfile[4800], name[DN_MSG_KEY_MAX + 1];
    char title[600], htitle[600];
    snprintf(dir, sizeof dir, "%s/runs/run_%lld", f->report_dir, (long long)r->run_number);
    int rc = dn_mkdirs(dir, err);
    if (rc)
        return rc;
    ev_key_file_name(name, sizeof name, hk->key);
    snprintf(base, sizeof base, "%s/%s_%s", dir, name, ev_method_name[m]);
    snprintf(base_h, sizeof base_h, "%s/%s_%s_history", dir, name, ev_method_name[m]);
    snprintf(jobfile, sizeof jobfile, "%s/.%s_%s.job", dir, name, ev_method_name[m]);
    dn_thresholds_t thr = ev_thresholds(j, k, m);
    int h = 0;
    double margin = ev_margin(j, b, k, seq, m, &h);
    const double *ref_mu = r->ref_mu[m], *ref_sigma = r->ref_sigma[m], *pulls = NULL;
    if (h > 0)
        ev_hz_reference(b, k, seq, m, h, &ref_mu, &ref_sigma);
    if (h > 0 && ref_mu) {
        char hz[DN_HZ_NAME_MAX];
        ev_hz_name(hk, m, h, hz, sizeof hz);
        snprintf(title, sizeof title, "run %lld: %s (%s), fired by %s (margin %+.2f): score "
                 "%.2f against the %s reference, threshold %.2f", (long long)r->run_number,
                 hk->key, ev_method_name[m], hz, margin, ev_row_score_hz(hk, r, m, h), hz,
                 ev_hz_threshold(j, k, m, h));
    } else {
        ref_mu = r->ref_mu[m];
        ref_sigma = r->ref_sigma[m];
        pulls = r->pulls[m]; /* the scorer's: debiased ones are not the reference's */
        snprintf(title, sizeof title, "run %lld: %s (%s), score %.2f, threshold %.2f",
                 (long long)r->run_number, hk->key, ev_method_name[m], ev_row_score(hk, r, m),
                 thr.bad);
    }
    snprintf(htitle, sizeof htitle, "%s (%s): run %lld in its history", hk->key,
             ev_method_name[m], (long long)r->run_number);
    dn_figset_t set = {.hist_base = base, .history_base = base_h, .title = title,
                       .history_title = htitle, .n_bins = hk->n_bins, .edges = r->edges,
                       .counts = r->counts, .variances = r->variances, .ref_mu = ref_mu,
                       .ref_sigma = ref_sigma, .pulls = pulls, .warning = thr.warning,
                       .threshold = thr.bad, .n_bins_y = hk->n_bins_y,
                       .edges_y = r->edges_y};
    int64_t *runs = NULL;
    double *scores = NULL;
    int8_t *labels = NULL;
    if ((rc = history(b, k, seq, m, &set, &runs, &scores, &labels)))
        rc = dn_err_set(err, rc, "out of memory");
    else if ((rc = dn_figset_make(&set, jobfile, err)) ||
             (rc = dn_figworker_submit(f->worker, jobfile, err)))
        unlink(jobfile);
    free(runs);
    free(scores);
    free(labels);
    return rc;
}

/* Draws the set of histogram k of flagged run seq, method m: counted as not
 * sent when it cannot be. */
static void draw(ev_figures_t *f, const ev_book_t *b, const ev_judge_t *j, uint64_t seq, int m,
                 int k)
{
    const ev_key_t *hk = &b->keys[k];
    const ev_row_t *r = &hk->rows[seq];
    dn_err_t err = {0};
    if (!r->counts || !r->ref_mu[m] || !r->ref_sigma[m] || hk->n_bins < 1) {
        dn_log(DN_LOG_WARN, "figures of run %lld, %s: not drawn, the run's counts or "
               "reference are missing", (long long)r->run_number, hk->key);
        f->unsent++;
    } else if (submit(f, b, j, seq, m, k, &err)) {
        dn_log(DN_LOG_WARN, "figures of run %lld, %s: %s", (long long)r->run_number, hk->key,
               err.msg);
        f->unsent++;
    }
}

int ev_figures_waiting(const ev_figures_t *f)
{
    return f->worker ? dn_figworker_pending(f->worker) + f->n : 0;
}

int ev_figures_round(ev_figures_t *f, const ev_book_t *b, const ev_judge_t *j)
{
    if (!f->worker)
        return 0;
    dn_err_t err = {0};
    if (dn_figworker_poll(f->worker, &err))
        dn_log(DN_LOG_WARN, "figures: %s", err.msg);
    while (f->n && dn_figworker_pending(f->worker) == 0) {
        ev_figwant_t w = f->ring[f->head];
        f->head = (f->head + 1) % f->queue;
        f->n--;
        draw(f, b, j, w.seq, w.m, w.k);
    }
    if (dn_figworker_poll(f->worker, &err))
        dn_log(DN_LOG_WARN, "figures: %s", err.msg);
    return ev_figures_waiting(f);
}

void ev_figures_account(const ev_figures_t *f, char *buf, size_t cap)
{
    dn_figworker_stats_t fs = {0};
    if (f->worker)
        fs = dn_figworker_stats(f->worker);
    snprintf(buf, cap, "%llu sets wanted, %llu drawn, %llu failed (%llu timed out), %d not "
             "drawn yet, %llu dropped (queue full, oldest first), %llu not sent (error); %d "
             "sets kept, %lld older deleted",
             (unsigned long long)f->wanted, fs.drawn, fs.failed, fs.timed_out,
             ev_figures_waiting(f), (unsigned long long)f->dropped,
             (unsigned long long)f->unsent, f->kept ? dn_figkeep_count(f->kept) : 0,
             f->kept ? dn_figkeep_evicted(f->kept) : 0);
}

int ev_figure_worker_main(void)
{
    /* figures are not on any run's path to its score: the trainer's threads
     * come first when the cores are contended */
    if (setpriority(PRIO_PROCESS, 0, 10))
        fprintf(stderr, "evaluator --figure-worker: setpriority: %s\n", strerror(errno));
    return dn_figworker_main(stdin, stdout);
}
