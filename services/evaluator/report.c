/* report.c: the evaluator's report directory, written at the end of the
 * stream (and on SIGUSR1), each file atomically, every name through
 * writer.h's escaping cursors:
 *   metrics.json       per key and method the dn_eval_result_t of
 *                      dn_evaluate_scores_ref (the numbers of `dinamo
 *                      evaluate`), or why there is none; a key scored at
 *                      several horizons that of dn_evaluate_scores_hz (the
 *                      numbers of `dinamo evaluate --horizons`); then per
 *                      method the localisation of flagged bad runs;
 *   scores_<m>[_<key>].csv  `dinamo score`'s format (results.h), one file per
 *                      key when there are several; with horizons the columns
 *                      chi2_<h>,score_<h> of `dinamo score --horizons`;
 *   flags.csv          every scored histogram of the continual regime with
 *                      its score, thresholds, severity, the horizon with the
 *                      largest margin (fired, when bad) and that margin;
 *   runs.csv           every run judged as a whole (its worst histogram's
 *                      severity, combined score, counts, worst histograms and
 *                      the worst bins of the worst one against the horizon
 *                      that fired, that horizon and the run's largest
 *                      margin); subsystems.csv the same per subsystem of
 *                      each run;
 *   labels.csv         every label received, in arrival order (ev.labels);
 *   references.root    with report_root: per method, key and scored run the
 *                      reference that scored it and the run normalised
 *                      (rootdata.h), at <method>/<key>/run_000123/{ref,obs};
 *                      a failure here is logged, the rest of the report stands;
 *   FINAL              empty, last, once the report is final.
 * Then the summary table goes to the log. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "evaluate.h"
#include "evaluator.h"
#include "fileio.h"
#include "histo.h"
#include "log.h"
#include "results.h"
#include "rootdata.h"
#include "writer.h"

/* What the report is written from. */
typedef struct rep_t {
    const ev_book_t *b;
    const ev_judge_t *j;
    const int *methods;
    const char *dir;
} rep_t;

/* Opens dir/name for writing; NULL with *err set. */
static dn_outfile_t *open_in(const rep_t *rp, const char *name, dn_err_t *err)
{
    char path[4096 + 600];
    if (snprintf(path, sizeof path, "%s/%s", rp->dir, name) >= (int)sizeof path) {
        dn_err_set(err, DN_EINVAL, "report file %s/%s: path too long", rp->dir, name);
        return NULL;
    }
    return dn_outfile_open(path, err);
}

/* Opens dir/name as a CSV file: *w on its stream, the header row written.
 * NULL with *err set. */
static dn_outfile_t *open_csv(const rep_t *rp, const char *name, const char *header,
                              dn_csv_t *w, dn_err_t *err)
{
    dn_outfile_t *of = open_in(rp, name, err);
    if (of) {
        dn_csv_init(w, dn_outfile_stream(of));
        dn_csv_header(w, header);
    }
    return of;
}

/* ---- metrics.json ------------------------------------------------------------------ */

/* The dataset of key k: runs 0 .. n-1, up to the last that has a run or label. */
static dn_dataset_t *key_dataset(const ev_key_t *hk, int *n_out)
{
    int n = 0;
    for (int i = 0; i < hk->n_rows; i++)
        if (hk->rows[i].has_run || hk->rows[i].has_label)
            n = i + 1;
    int truth = n > 0;
    for (int i = 0; i < n; i++)
        truth = truth && hk->rows[i].has_truth;
    int slow = truth; /* the slow-defect truth of every run, as a dataset's */
    for (int i = 0; i < n && slow; i++)
        slow = hk->rows[i].has_slow;
    dn_dataset_t *ds = dn_dataset_new(n, hk->n_bins, truth);
    if (ds && slow && dn_dataset_alloc_slow(ds) != DN_OK)
        dn_dataset_destroy(&ds);
    if (!ds)
        return NULL;
    if (hk->n_bins_y > 0 && dn_dataset_set_2d(ds, hk->n_bins_y)) {
        dn_dataset_destroy(&ds);
        return NULL;
    }
    const double *edges = NULL, *edges_y = NULL;
    for (int i = 0; i < n; i++) {
        const ev_row_t *r = &hk->rows[i];
        ds->run[i] = r->run_number;
        ds->label[i] = r->has_label ? r->label : -1;
        if (r->counts)
            memcpy(ds->counts + (size_t)i * hk->n_bins, r->counts,
                   (size_t)hk->n_bins * sizeof(double));
        if (!edges && r->edges && (hk->n_bins_y == 0 || r->edges_y)) {
            edges = r->edges;
            edges_y = r->edges_y;
        }
        if (truth) {
            ds->true_mu[i] = r->mu;
            ds->true_sigma[i] = r->sigma;
            ds->rapid_mu[i] = r->rapid_mu;
            ds->rapid_sigma[i] = r->rapid_sigma;
        }
        if (slow) {
            ds->slow_kind[i] = r->slow_kind;
            ds->slow_size[i] = r->slow_size;
            ds->slow_bad[i] = r->slow_bad;
        }
    }
    if (edges) { /* 2-D: nx + 1 edges of x, ny + 1 of y */
        memcpy(ds->edges, edges, (size_t)(dn_dataset_nx(ds) + 1) * sizeof(double));
        if (edges_y)
            memcpy(ds->edges_y, edges_y, (size_t)(hk->n_bins_y + 1) * sizeof(double));
        ds->edges_known = 1;
    }
    *n_out = n;
    return ds;
}

/* Key k's chi2 and references of method m as dn_evaluate_scores_ref wants
 * them, and with H horizons (hz[m]) chi2 [H * n] as dn_evaluate_scores_hz
 * wants it (NAN where a horizon had no reference); *refs 0 when a scored run
 * lacks its reference. */
static void key_scores(const ev_key_t *hk, int m, int n, double *chi2, double *mu, double *sg,
                       double *alpha, int *refs, int *missing)
{
    const size_t nb = (size_t)hk->n_bins;
    *refs = 1;
    *missing = 0;
    *alpha = NAN;
    for (int i = 0; i < n; i++) {
        const ev_row_t *r = &hk->rows[i];
        chi2[i] = r->chi2[m];
        for (int h = 1; h < hk->hz[m].n; h++)
            chi2[(size_t)h * n + i] = r->hz_chi2[m] && !isnan(r->chi2[m])
                                          ? r->hz_chi2[m][h - 1]
                                          : NAN;
        *missing += !r->has_score[m];
        if (isnan(*alpha) && !isnan(r->alpha[m]))
            *alpha = r->alpha[m];
        int have = r->ref_mu[m] && r->ref_sigma[m] && !isnan(chi2[i]);
        *refs = *refs && (have || isnan(chi2[i]));
        for (size_t c = 0; c < nb; c++) {
            mu[(size_t)i * nb + c] = have ? r->ref_mu[m][c] : NAN;
            sg[(size_t)i * nb + c] = have ? r->ref_sigma[m][c] : NAN;
        }
    }
}

/* Evaluates (k, m) as dinamo evaluate does into *res (*ok 1) and writes it as
 * the next value of w, or an object saying why not. Returns 0 or DN_ENOMEM. */
static int evaluate_key(const rep_t *rp, int k, int m, dn_jw_t *w, dn_eval_result_t *res,
                        int *ok, dn_err_t *err)
{
    const ev_key_t *hk = &rp->b->keys[k];
    int n = 0, rc = 0, refs, missing;
    *ok = 0;
    if (hk->n_bins < 1) {
        dn_jw_object(w);
        dn_jw_key(w, "error");
        dn_jw_string(w, "no run of this histogram");
        dn_jw_end(w);
        return 0;
    }
    dn_dataset_t *ds = key_dataset(hk, &n);
    size_t cells = (size_t)n * (size_t)hk->n_bins;
    const dn_hz_spec_t *hz = m == 0 && hk->hz[m].n > 1 ? &hk->hz[m] : NULL;
    double *chi2 = malloc(((size_t)n * (hz ? hz->n : 1) + 1) * sizeof *chi2);
    double *mu = malloc((cells + 1) * sizeof *mu), *sg = malloc((cells + 1) * sizeof *sg);
    if (!ds || !chi2 || !mu || !sg) {
        rc = dn_err_set(err, DN_ENOMEM, "out of memory");
        goto done;
    }
    double alpha;
    key_scores(hk, m, n, chi2, mu, sg, &alpha, &refs, &missing);
    dn_eval_opts_t o = rp->j->opts;
    o.method = m == 0 ? DN_METHOD_S : DN_METHOD_ML;
    o.alpha = -1.0; /* the scorer tuned alpha: report the historical AUC */
    if (!isnan(ev_key_policy(rp->j, k).bad))
        o.threshold = ev_key_policy(rp->j, k).bad;
    else if (!rp->j->t_opt)
        o.threshold = rp->j->threshold_default; /* as `dinamo evaluate --t-opt 0` */
    dn_err_t e = {0};
    if (hz) /* as `dinamo evaluate --horizons` (one horizon: exactly the _ref path) */
        rc = dn_evaluate_scores_hz(ds, hz, chi2, refs ? mu : NULL, refs ? sg : NULL, alpha, &o,
                                   NULL, NULL, res, &e);
    else
        rc = dn_evaluate_scores_ref(ds, o.method, chi2, refs ? mu : NULL, refs ? sg : NULL,
                                    alpha, &o, res, &e);
    if (rc == DN_ENOMEM) {
        rc = dn_err_set(err, rc, "%s", e.msg);
    } else if (rc) {
        dn_jw_object(w);
        dn_jw_key(w, "error");
        dn_jw_string(w, e.msg);
        dn_jw_key(w, "missing_scores");
        dn_jw_int(w, missing);
        dn_jw_end(w);
        rc = 0;
    } else {
        dn_eval_result_json(w, res);
        *ok = 1;
    }
done:
    free(chi2);
    free(mu);
    free(sg);
    dn_dataset_destroy(&ds);
    return rc;
}

/* Among the continual-regime runs with a histogram labelled bad that method
 * m flagged bad, how often the worst-named histogram is one of those
 * labelled bad (the generator's localised mode labels exactly the broken
 * ones): written as the next value of w, and logged. */
static void localisation(const rep_t *rp, int m, dn_jw_t *w)
{
    const ev_book_t *b = rp->b;
    int runs = 0, hits = 0;
    for (int i = rp->j->n_hist; i < b->n_runs; i++) {
        int broken = 0;
        for (int k = 0; k < b->n_keys && !broken; k++) {
            const ev_row_t *r = ev_book_row(b, k, (uint64_t)i);
            broken = r && r->has_label && r->label == 1;
        }
        ev_assess_t a;
        if (!broken || !ev_assess(rp->j, b, (uint64_t)i, m, NULL, &a) ||
            a.severity != DN_SEV_BAD)
            continue;
        runs++;
        const ev_row_t *worst = ev_book_row(b, a.worst[0], (uint64_t)i);
        hits += worst->has_label && worst->label == 1;
    }
    dn_jw_object(w);
    dn_jw_key(w, "flagged_runs");
    dn_jw_int(w, runs);
    dn_jw_key(w, "worst_is_broken");
    dn_jw_int(w, hits);
    dn_jw_key(w, "fraction");
    if (runs)
        dn_jw_number(w, (double)hits / runs);
    else
        dn_jw_null(w);
    dn_jw_end(w);
    if (runs && b->n_keys > 1)
        dn_log(DN_LOG_INFO, "localisation (%s): the worst-named histogram was labelled bad in "
               "%d of %d flagged bad runs (%.1f%%)", ev_method_name[m], hits, runs,
               100.0 * hits / runs);
}

/* metrics.json; res/ok [n_keys * EV_METHODS] get each (key, method)'s numbers. */
static int write_metrics(const rep_t *rp, dn_eval_result_t *res, int *ok, dn_err_t *err)
{
    const ev_book_t *b = rp->b;
    dn_outfile_t *of = open_in(rp, "metrics.json", err);
    if (!of)
        return err->code;
    dn_jw_t w;
    dn_jw_init(&w, dn_outfile_stream(of));
    dn_jw_object(&w);
    dn_jw_key(&w, "keys");
    dn_jw_object(&w);
    int rc = 0;
    for (int k = 0; k < b->n_keys && !rc; k++) {
        dn_jw_key(&w, b->keys[k].key);
        dn_jw_object(&w);
        for (int m = 0; m < EV_METHODS && !rc; m++)
            if (rp->methods[m]) {
                dn_jw_key(&w, ev_method_name[m]);
                rc = evaluate_key(rp, k, m, &w, &res[k * EV_METHODS + m],
                                  &ok[k * EV_METHODS + m], err);
            }
        dn_jw_end(&w);
    }
    dn_jw_end(&w);
    dn_jw_key(&w, "localisation");
    dn_jw_object(&w);
    for (int m = 0; m < EV_METHODS && !rc; m++)
        if (rp->methods[m]) {
            dn_jw_key(&w, ev_method_name[m]);
            localisation(rp, m, &w);
        }
    dn_jw_end(&w);
    dn_jw_end(&w);
    if (!rc && (rc = dn_jw_finish(&w)))
        rc = dn_err_set(err, rc, "metrics.json: %s", dn_strerror(rc));
    if (rc) {
        dn_outfile_abort(&of);
        return rc;
    }
    return dn_outfile_commit(&of, err);
}

/* ---- CSV files --------------------------------------------------------------------- */

static int write_scores(const rep_t *rp, int k, int m, dn_err_t *err)
{
    const ev_key_t *hk = &rp->b->keys[k];
    char name[600], kn[DN_MSG_KEY_MAX + 1];
    if (rp->b->n_keys == 1) {
        snprintf(name, sizeof name, "scores_%s.csv", ev_method_name[m]);
    } else {
        ev_key_file_name(kn, sizeof kn, hk->key);
        snprintf(name, sizeof name, "scores_%s_%s.csv", ev_method_name[m], kn);
    }
    dn_csv_t w;
    dn_outfile_t *of = open_in(rp, name, err);
    if (!of)
        return err->code;
    dn_csv_init(&w, dn_outfile_stream(of));
    const int lagged = hk->hz[m].n - 1; /* as `dinamo score --horizons` writes them */
    dn_scores_csv_header_hz(&w, &hk->hz[m]);
    for (int i = 0; i < hk->n_rows; i++) {
        const ev_row_t *r = &hk->rows[i];
        if (!r->has_run && !r->has_score[m])
            continue;
        double lc[DN_HZ_MAX], ls[DN_HZ_MAX];
        for (int h = 0; h < lagged; h++) {
            lc[h] = r->hz_chi2[m] ? r->hz_chi2[m][h] : NAN;
            ls[h] = dn_score_from_chi2(lc[h], hk->n_bins);
        }
        dn_score_row_t row = {r->run_number, r->has_label ? r->label : -1, r->chi2[m],
                              dn_score_from_chi2(r->chi2[m], hk->n_bins), DN_ROW_SCORED,
                              lagged, lc, ls};
        if (!r->has_score[m])
            row.status = DN_ROW_MISSING;
        else if (r->status[m] == DINAMO__SCORE_STATUS__REJECTED)
            row.status = DN_ROW_REJECTED;
        dn_scores_csv_row(&w, &row);
    }
    return dn_outfile_commit(&of, err);
}

/* fired,margin: the horizon giving the largest margin when it is above 0
 * (the run or histogram is bad by it; else empty), and that margin. */
static void fired_fields(dn_csv_t *w, const ev_key_t *hk, int m, int h, double margin)
{
    char name[DN_HZ_NAME_MAX];
    if (hk && h >= 0 && margin > 0)
        dn_csv_field(w, ev_hz_name(hk, m, h, name, sizeof name));
    else
        dn_csv_empty(w);
    dn_csv_double(w, margin);
}

static int write_flags(const rep_t *rp, dn_err_t *err)
{
    const ev_book_t *b = rp->b;
    dn_csv_t w;
    dn_outfile_t *of = open_csv(rp, "flags.csv", "run,run_seq,method,histogram,subsystem,"
                                "score,warning,threshold,severity,fired,margin", &w, err);
    if (!of)
        return err->code;
    for (int m = 0; m < EV_METHODS; m++)
        for (int i = rp->j->n_hist; rp->methods[m] && i < b->n_runs; i++)
            for (int k = 0; k < b->n_keys; k++) {
                dn_severity_t sev = ev_severity(rp->j, b, k, (uint64_t)i, m);
                if (sev == DN_SEV_NONE)
                    continue;
                const ev_key_t *hk = &b->keys[k];
                dn_thresholds_t thr = ev_thresholds(rp->j, k, m);
                dn_csv_int(&w, hk->rows[i].run_number);
                dn_csv_int(&w, i);
                dn_csv_field(&w, ev_method_name[m]);
                dn_csv_field(&w, hk->key);
                dn_csv_field(&w, ev_key_subsystem(hk));
                dn_csv_double(&w, ev_row_score(hk, &hk->rows[i], m));
                dn_csv_double(&w, thr.warning);
                dn_csv_double(&w, thr.bad);
                dn_csv_field(&w, dn_severity_name(sev));
                int h;
                double margin = ev_margin(rp->j, b, k, (uint64_t)i, m, &h);
                fired_fields(&w, hk, m, h, margin);
                dn_csv_end_row(&w);
            }
    return dn_outfile_commit(&of, err);
}

/* One row of runs.csv (subsystem NULL) or subsystems.csv. */
static void assess_row(const rep_t *rp, dn_csv_t *w, int i, int m, const char *subsystem,
                       const ev_assess_t *a)
{
    char worst[512] = "", bins[256] = "";
    ev_worst_list(rp->b, a, worst, sizeof worst);
    if (a->worst[0] >= 0) {
        int h = 0;
        ev_margin(rp->j, rp->b, a->worst[0], (uint64_t)i, m, &h);
        ev_worst_bins(rp->b, a->worst[0], (uint64_t)i, m, h > 0 ? h : 0, bins, sizeof bins);
    }
    dn_csv_int(w, rp->b->runs[i].run_number);
    dn_csv_int(w, i);
    dn_csv_field(w, ev_method_name[m]);
    if (subsystem)
        dn_csv_field(w, subsystem);
    dn_csv_field(w, dn_severity_name(a->severity));
    dn_csv_double(w, ev_assess_score(a));
    dn_csv_int(w, a->n_hist);
    dn_csv_int(w, a->n_bad);
    dn_csv_int(w, a->n_warning);
    dn_csv_int(w, a->n_insufficient);
    dn_csv_field(w, worst);
    dn_csv_field(w, bins);
    fired_fields(w, a->margin_key >= 0 ? &rp->b->keys[a->margin_key] : NULL, m, a->fired,
                 a->margin);
    dn_csv_end_row(w);
}

/* The rows of run i by method m in subsystems.csv: each subsystem once, in
 * the order its first key appeared. */
static void subsystem_rows(const rep_t *rp, dn_csv_t *w, int i, int m)
{
    const ev_book_t *b = rp->b;
    for (int k = 0; k < b->n_keys; k++) {
        const ev_row_t *r = ev_book_row(b, k, (uint64_t)i);
        if (!r || !r->has_run)
            continue;
        const char *sub = ev_key_subsystem(&b->keys[k]);
        int seen = 0;
        for (int q = 0; q < k && !seen; q++) {
            const ev_row_t *rq = ev_book_row(b, q, (uint64_t)i);
            seen = rq && rq->has_run && !strcmp(ev_key_subsystem(&b->keys[q]), sub);
        }
        ev_assess_t a;
        if (!seen && ev_assess(rp->j, b, (uint64_t)i, m, sub, &a) && a.n_hist)
            assess_row(rp, w, i, m, sub, &a);
    }
}

static int write_runs(const rep_t *rp, int per_subsystem, dn_err_t *err)
{
    dn_csv_t w;
    dn_outfile_t *of = open_csv(rp, per_subsystem ? "subsystems.csv" : "runs.csv",
                                per_subsystem ? "run,run_seq,method,subsystem,severity,score,"
                                                "n_histograms,n_bad,n_warning,n_insufficient,"
                                                "worst,worst_bins,fired,margin"
                                              : "run,run_seq,method,severity,score,"
                                                "n_histograms,n_bad,n_warning,n_insufficient,"
                                                "worst,worst_bins,fired,margin",
                                &w, err);
    if (!of)
        return err->code;
    for (int m = 0; m < EV_METHODS; m++)
        for (int i = rp->j->n_hist; rp->methods[m] && i < rp->b->n_runs; i++) {
            ev_assess_t a;
            if (per_subsystem)
                subsystem_rows(rp, &w, i, m);
            else if (ev_assess(rp->j, rp->b, (uint64_t)i, m, NULL, &a) && a.n_hist)
                assess_row(rp, &w, i, m, NULL, &a);
        }
    return dn_outfile_commit(&of, err);
}

static int label_row(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key;
    (void)klen;
    static const char *const src[] = {"", "generator", "shifter", "auto", "recorded"};
    dn_csv_t *w = arg;
    Dinamo__Envelope *env = NULL;
    if (dn_msg_decode(val, vlen, &env, NULL, NULL))
        return 0;
    if (dn_msg_type(env) == DN_MSG_LABEL) {
        const Dinamo__Label *l = env->label;
        dn_csv_int(w, l->run_number);
        dn_csv_uint(w, l->run_seq);
        dn_csv_field(w, l->histogram_key);
        dn_csv_field(w, l->verdict == DINAMO__VERDICT__GOOD ? "good" : "bad");
        dn_csv_field(w, l->source < sizeof src / sizeof *src ? src[l->source] : "?");
        dn_csv_quoted(w, l->who);
        dn_csv_fixed(w, l->has_time ? l->time : NAN, 3);
        dn_csv_quoted(w, l->reason);
        dn_csv_uint(w, env->offset);
        dn_csv_end_row(w);
    }
    dn_msg_free(&env);
    return 0;
}

/* Every label received, in arrival order: who gave which verdict when and why. */
static int write_labels(const rep_t *rp, dn_store_t *store, dn_err_t *err)
{
    dn_csv_t w;
    dn_outfile_t *of = open_csv(rp, "labels.csv", "run,run_seq,histogram,verdict,source,who,"
                                "time,reason,offset", &w, err);
    if (!of)
        return err->code;
    int rc = dn_store_foreach(store, "ev.labels", NULL, 0, label_row, &w, err);
    if (rc) {
        dn_outfile_abort(&of);
        return rc;
    }
    return dn_outfile_commit(&of, err);
}

/* ---- references.root ------------------------------------------------------------------- */

/* The references of key k by method m into w: 0, or the writer's error (a
 * key whose name the writer refuses is logged and left out). */
/* Placeholder edges 0, 1, ..., n for an axis no run gave edges of. */
static double *numbered_edges(int n)
{
    double *e = malloc(((size_t)n + 1) * sizeof *e);
    for (int c = 0; e && c <= n; c++)
        e[c] = c;
    return e;
}

static int key_references(const rep_t *rp, dn_root_writer_t *w, int k, int m, dn_err_t *err)
{
    const ev_key_t *hk = &rp->b->keys[k];
    const int ny = hk->n_bins_y > 0 ? hk->n_bins_y : 0, nx = ny ? hk->n_bins / ny : hk->n_bins;
    const double *edges = NULL, *edges_y = NULL;
    for (int i = 0; i < hk->n_rows && !edges; i++)
        if (hk->rows[i].edges && (!ny || hk->rows[i].edges_y)) {
            edges = hk->rows[i].edges;
            edges_y = hk->rows[i].edges_y;
        }
    /* No run gave edges: ROOT's bins numbered 0 .. n on each axis. */
    double *numbered_x = NULL, *numbered_y = NULL;
    if (!edges && (!(edges = numbered_x = numbered_edges(nx)) ||
                   (ny && !(edges_y = numbered_y = numbered_edges(ny))))) {
        free(numbered_x);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    /* A 2-D key's references are TH2D over its two axes. */
    const dn_root_binning_t bin = {.n_bins = hk->n_bins, .n_bins_y = ny, .edges = edges,
                                   .edges_y = ny ? edges_y : NULL};
    int rc = 0;
    for (int i = 0; i < hk->n_rows && !rc; i++) {
        const ev_row_t *r = &hk->rows[i];
        if (!r->has_score[m] || isnan(r->chi2[m]) || !r->counts || !r->ref_mu[m] ||
            !r->ref_sigma[m])
            continue;
        char dir[DN_MSG_KEY_MAX + 64], run[40];
        dn_root_run_name(run, sizeof run, r->run_number);
        snprintf(dir, sizeof dir, "%s/%s/%s", ev_method_name[m], hk->key, run);
        dn_err_t e = {0};
        rc = dn_root_add_reference(w, dir, &bin, r->run_number, r->counts, r->variances,
                                   r->ref_mu[m], r->ref_sigma[m], &e);
        if (rc == DN_EINVAL || rc == DN_EEMPTY) {
            dn_log(DN_LOG_WARN, "references.root: histogram '%s' (%s): %s; its references "
                   "are left out", hk->key, ev_method_name[m], e.msg);
            rc = 0;
            break;
        }
        if (rc)
            rc = dn_err_set(err, rc, "%s", e.msg);
    }
    free(numbered_x);
    free(numbered_y);
    return rc;
}

static int write_references(const rep_t *rp, dn_err_t *err)
{
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/references.root", rp->dir);
    dn_root_writer_t *w = NULL;
    int rc = dn_root_writer_open(path, NULL, &w, err);
    for (int m = 0; m < EV_METHODS && !rc; m++)
        for (int k = 0; rp->methods[m] && k < rp->b->n_keys && !rc; k++)
            if (rp->b->keys[k].n_bins > 0)
                rc = key_references(rp, w, k, m, err);
    if (!rc)
        rc = dn_root_writer_close(&w, err);
    dn_root_writer_abort(&w);
    return rc;
}

/* ---- the report ------------------------------------------------------------------------ */

static void log_summary(const rep_t *rp, const dn_eval_result_t *res, const int *ok)
{
    dn_log(DN_LOG_INFO, "%-24s %-3s %9s %9s %9s %9s %9s %9s %9s", "histogram", "m", "alpha",
           "threshold", "bal.acc", "sens", "spec", "adapt", "jaccard");
    for (int k = 0; k < rp->b->n_keys; k++)
        for (int m = 0; m < EV_METHODS; m++) {
            const dn_eval_result_t *r = &res[k * EV_METHODS + m];
            const char *key = rp->b->keys[k].key;
            if (!rp->methods[m])
                continue;
            if (!ok[k * EV_METHODS + m])
                dn_log(DN_LOG_INFO, "%-24s %-3s (not evaluated)", key, ev_method_name[m]);
            else
                dn_log(DN_LOG_INFO, "%-24s %-3s %9.3f %9.4f %9.4f %9.4f %9.4f %9.3f %9.4f",
                       key, ev_method_name[m], r->alpha, r->threshold, r->balanced_accuracy,
                       r->sensitivity, r->specificity, r->adaptation_time, r->jaccard_distance);
        }
    /* One warning per report for every histogram whose runs carried no edges:
     * its jaccard_distance is null in metrics.json, not a number on bin indices. */
    int unknown = 0;
    const char *first = NULL;
    for (int k = 0; k < rp->b->n_keys; k++)
        for (int m = 0; m < EV_METHODS; m++)
            if (rp->methods[m] && ok[k * EV_METHODS + m] &&
                res[k * EV_METHODS + m].edges_unknown) {
                first = first ? first : rp->b->keys[k].key;
                unknown++;
                break;
            }
    if (unknown)
        dn_log(DN_LOG_WARN, "Jaccard distance not computed: bin edges unknown (no bin edges in "
               "the runs of %d histogram%s: %s%s)", unknown, unknown > 1 ? "s" : "", first,
               unknown > 1 ? " and others" : "");
}

int ev_report_write(const ev_book_t *b, const ev_judge_t *j, const int methods[EV_METHODS],
                    dn_store_t *store, const char *dir, int final, int root, dn_err_t *err)
{
    const rep_t rp = {b, j, methods, dir};
    const size_t cells = (size_t)b->n_keys * EV_METHODS + 1;
    dn_eval_result_t *res = calloc(cells, sizeof *res);
    int *ok = calloc(cells, sizeof *ok);
    int rc = !res || !ok ? dn_err_set(err, DN_ENOMEM, "out of memory") : dn_mkdirs(dir, err);
    if (!rc)
        rc = write_metrics(&rp, res, ok, err);
    for (int k = 0; k < b->n_keys && !rc; k++)
        for (int m = 0; m < EV_METHODS && !rc; m++)
            if (methods[m])
                rc = write_scores(&rp, k, m, err);
    if (!rc && !(rc = write_flags(&rp, err)) && !(rc = write_runs(&rp, 0, err)) &&
        !(rc = write_runs(&rp, 1, err)) && !(rc = write_labels(&rp, store, err)) && root) {
        /* an extra for ROOT users: its failure (a file past ROOT's size
         * limit, a full disk) is logged and costs the rest of the report nothing */
        dn_err_t rerr = {0};
        if (write_references(&rp, &rerr))
            dn_log(DN_LOG_ERROR, "report: references.root not written: %s", rerr.msg);
    }
    if (!rc && final) {
        dn_outfile_t *of = open_in(&rp, "FINAL", err);
        rc = of ? dn_outfile_commit(&of, err) : err->code;
    }
    if (!rc) {
        dn_log(DN_LOG_INFO, "report%s written to %s", final ? " (final)" : "", dir);
        log_summary(&rp, res, ok);
    }
    free(res);
    free(ok);
    return rc;
}
