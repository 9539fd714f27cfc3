/* report.c: `dinamo report`, what a shifter would have seen of an offline
 * evaluation: the score history with the thresholds (paper Figure 4), the score
 * distributions per class (Figure 5), and for every flagged run of the
 * continual regime its figure set (figset.h: its histogram against the
 * reference that scored it with the uncertainty band and pulls, Figure 6, and
 * its place in the history). PNG and SVG, an index.html that shows them, and
 * metrics.json. A run is judged by severity.h's rule, the evaluator's: flagged
 * when its score is above the bad threshold, the warning threshold being the
 * policy's or the bad one minus ln 2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dinamo_s.h"
#include "evaluate.h"
#include "figset.h"
#include "fileio.h"
#include "histo.h"
#include "plot.h"
#include "plot_result.h"
#include "policy.h"
#include "results.h"
#include "severity.h"
#include "tune.h"

static const char report_help[] =
    "usage: dinamo report PATH|--in PATH --method s|ml [--out DIR] [--max-runs N]\n"
    "                     [--key KEY] [--labels LABELS.csv] [--policy POLICY.csv]\n"
    "                     [--alpha A] [--threshold T] [--n-historical N] [--min-entries N]\n"
    "                     [--stat-debiasing 0|1] [--n-resamples N] [--debiasing-seed S]\n"
    "                     [--seed S] [--weights FILE] [--no-train]\n"
    "\n"
    "Evaluates PATH (any input of dinamo score) as dinamo evaluate does and draws,\n"
    "as PNG and SVG into DIR (default PATH.report, or PATH/report for a directory):\n"
    "history.*, the score of every run against its run number with the warning and\n"
    "bad thresholds (paper Figure 4); distributions.*, the scores of good and bad\n"
    "runs (Figure 5); and for each flagged run of the continual regime (at most\n"
    "--max-runs, default 50, highest scores first) run_<run>.*, its histogram\n"
    "against the reference that scored it with its uncertainty band and a pull\n"
    "panel (Figure 6), and run_<run>_history.*. index.html shows them all;\n"
    "metrics.json is dinamo evaluate's output. The warning threshold is the\n"
    "policy's, else the bad one minus ln 2. With --horizons (DINAMO-S) a run is\n"
    "flagged when any horizon is over its own threshold, and its figure is drawn\n"
    "against the reference of the horizon that fired (docs/horizons.md).\n"
    "The result figures as the reference implementation draws them (README \"Result\n"
    "figures\"): threshold_scan.* (sensitivity, specificity and the weighted balanced\n"
    "accuracy (--ba-weight) against threshold over the historical regime, medians\n"
    "of --n-metrics-bootstrap-trials resamples with 16-84% bands),\n"
    "results_hist.* (score distributions of both regimes and the continual\n"
    "confusion matrix), results_scatter.* (score against run), uncertainty.* and\n"
    "uncertainty_continual.* (true against predicted band, Jaccard distances;\n"
    "datasets with the generator's truth and bin edges only) and refs_examples.*\n"
    "(up to 5 runs each of good, misclassified good, bad and misclassified bad,\n"
    "chosen with seed 22).\n"
    "dinamo report --dataset PATH draws the dataset itself (class ratio, run\n"
    "statistics, uncertainty, dead bins, mu and sigma per run): see\n"
    "dinamo report --dataset --help.\n"
    "'dinamo report --bench DIR' draws results over many datasets instead (see\n"
    "'dinamo report --bench x --help').\n";

typedef struct {
    double score; /* with horizons: the margin over the threshold of the one that fired */
    int i;
} flagged_t;

/* One report: the options, the scored input and what was drawn. */
typedef struct report_t {
    dn_eval_opts_t opts;
    input_args_t inargs;
    const char *in, *key, *method;
    char outdir[4096];
    long max_runs;
    dn_dataset_t *ds;
    double *chi2, *score, *mu, *sg; /* [n], [n], [n * n_bins] x 2, each x n_hz planes */
    const dn_hz_spec_t *hz;         /* DINAMO-S at several horizons, or NULL */
    int n_hz;
    double *pulls;                  /* [n * n_bins] with debiasing: the scorer's (debiased)
                                       pulls; NULL: each figure computes them from the
                                       reference, which gives the same numbers otherwise */
    double *margin;                 /* [n] with horizons: the combined margin */
    int *fired;                     /* [n] with horizons: the horizon giving it */
    double alpha, warning_policy;
    int n_hist;
    dn_eval_result_t res;
    dn_thresholds_t thr;
    flagged_t *fl; /* the flagged runs, highest score first */
    int n_fl, drawn;
    /* the result figures: what was drawn, and why not when not */
    double scan_best, jd[2]; /* the figure's Jaccard distances, historical and continual */
    int unc_drawn, ex_per, ex_count[DN_EX_N];
    char unc_why[DN_ERRMSG_MAX + 64], ex_why[DN_ERRMSG_MAX + 64];
    char scan_why[DN_ERRMSG_MAX], hist_why[DN_ERRMSG_MAX], scatter_why[DN_ERRMSG_MAX];
} report_t;

static int cmp_flagged(const void *a, const void *b)
{
    const flagged_t *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

/* The command line into *r. Returns -1 to go on, else the exit status. */
static int parse_args(args_t *a, report_t *r)
{
    char *name;
    const char *v;
    int rc;
    while ((rc = next_arg(a, "--help --no-train --verbose", &name, &v)) > 0) {
        if (!name || !strcmp(name, "--in")) {
            if (r->in)
                return usage_error(a->cmd, "%s", "give the input once (PATH or --in PATH)");
            r->in = v;
        } else if (!strcmp(name, "--help")) {
            fputs(report_help, stdout);
            print_ref_opts_help(stdout);
            return 0;
        } else if (!strcmp(name, "--out")) {
            snprintf(r->outdir, sizeof r->outdir, "%s", v);
        } else if (!strcmp(name, "--max-runs")) {
            if (parse_int(a->cmd, name, v, 0, 100000, &r->max_runs))
                return 2;
        } else if (strcmp(name, "--verbose")) {
            int handled, erc;
            parse_input_opt(name, v, &r->inargs, &handled);
            if (!handled && (erc = parse_eval_opt(a->cmd, name, v, &r->opts, &handled)))
                return erc;
            if (!handled)
                return usage_error(a->cmd, "unknown option %s", name);
        }
    }
    if (rc < 0)
        return 2;
    if (!r->in)
        return usage_error(a->cmd, "%s", "an input is required (PATH or --in PATH)");
    struct stat st;
    if (!r->outdir[0])
        snprintf(r->outdir, sizeof r->outdir, stat(r->in, &st) == 0 && S_ISDIR(st.st_mode)
                                                  ? "%s/report" : "%s.report", r->in);
    if (apply_debiasing(a->cmd, &r->inargs, &r->opts))
        return 2;
    r->key = r->inargs.key ? r->inargs.key : "";
    r->method = r->opts.method == DN_METHOD_S ? "DINAMO-S" : "DINAMO-ML";
    set_progress(&r->opts, a->cmd);
    return -1;
}

/* The policy (its warning threshold too) and the input. */
static int read_report_input(const char *cmd, report_t *r, dn_err_t *err)
{
    r->warning_policy = NAN;
    int rc = apply_policy(&r->inargs, &r->opts, r->opts.min_entries > 0, err);
    if (!rc && r->inargs.policy) {
        dn_policy_t *pol = dn_policy_load(r->inargs.policy, err);
        if (!pol)
            return err->code;
        r->warning_policy = dn_policy_lookup(pol, r->inargs.key, NULL).warning;
        dn_policy_destroy(&pol);
    }
    return rc ? rc : read_input(cmd, r->in, &r->inargs, &r->ds, err);
}

/* Every run scored as dinamo score does, evaluated as dinamo evaluate does,
 * and the runs flagged bad in the continual regime, highest score first. */
static int score_and_judge(report_t *r, dn_err_t *err)
{
    const dn_dataset_t *ds = r->ds;
    const int n = ds->n_runs, nb = ds->n_bins;
    const size_t rows = (size_t)(n ? n : 1), cells = rows * (size_t)nb;
    r->n_hist = r->opts.n_hist < n ? r->opts.n_hist : n - 1;
    if (r->n_hist < 1)
        return dn_err_set(err, DN_EINVAL, "%d runs: too few for a historical regime", n);
    r->opts.n_hist = r->n_hist;
    const int is_s = r->opts.method == DN_METHOD_S;
    r->hz = is_s && r->opts.horizons && r->opts.horizons->n > 1 ? r->opts.horizons : NULL;
    r->n_hz = r->hz ? r->hz->n : 1;
    const size_t planes = (size_t)r->n_hz;
    r->chi2 = malloc(sizeof(double) * rows * planes);
    r->score = malloc(sizeof(double) * rows * planes);
    r->mu = malloc(sizeof(double) * cells * planes);
    r->sg = malloc(sizeof(double) * cells * planes);
    r->fl = malloc(sizeof(flagged_t) * rows);
    r->margin = malloc(sizeof(double) * rows);
    r->fired = malloc(sizeof(int) * rows);
    /* Debiased pulls are averages over resamplings, not the reference's pulls:
     * the figures must show the ones that went into the score. */
    if (is_s && r->opts.stat_debiasing)
        r->pulls = malloc(sizeof(double) * cells);
    if (!r->chi2 || !r->score || !r->mu || !r->sg || !r->fl || !r->margin || !r->fired ||
        (is_s && r->opts.stat_debiasing && !r->pulls))
        return dn_err_set(err, DN_ENOMEM, "out of memory for %d runs", n);
    r->alpha = is_s ? r->opts.alpha : NAN;
    int rc;
    dn_debias_t db = dn_eval_debias(&r->opts, NULL); /* seed already the key's */
    if (is_s && r->alpha < 0 &&
        (rc = dn_tune_alpha(ds, r->n_hist, &r->opts, &db, &r->alpha, NULL, err))) /* auc/wba */
        return rc;
    dn_run_scores_t rs = {.chi2 = r->chi2, .score = r->score, .ref_mu = r->mu, .ref_sigma = r->sg,
                          .pulls = r->pulls};
    if ((rc = is_s ? dn_score_dataset_hz_debiased(ds, r->hz, r->alpha, r->opts.min_entries,
                                                  r->n_hist, r->opts.horizon_accept_q, &db,
                                                  &rs, err)
                   : dn_score_dataset_ml(ds, &r->opts, &rs, err)) ||
        (rc = r->hz ? dn_evaluate_scores_hz(ds, r->hz, r->chi2, r->mu, r->sg, r->alpha,
                                            &r->opts, r->margin, r->fired, &r->res, err)
                    : dn_evaluate_scores_ref(ds, r->opts.method, r->chi2, r->mu, r->sg,
                                             r->alpha, &r->opts, &r->res, err)))
        return rc;
    if (r->res.edges_unknown)
        warn_edges_unknown("report");
    r->thr = dn_thresholds(r->res.threshold, r->warning_policy, DN_WARNING_MARGIN);
    for (int i = r->n_hist; i < n; i++) {
        if (r->hz) { /* the combined verdict: bad when a horizon is over its own */
            if (r->margin[i] > 0)
                r->fl[r->n_fl++] = (flagged_t){r->margin[i], i};
        } else if (isfinite(r->score[i]) && dn_severity(r->score[i], 0, r->thr) == DN_SEV_BAD) {
            r->fl[r->n_fl++] = (flagged_t){r->score[i], i};
        }
    }
    qsort(r->fl, (size_t)r->n_fl, sizeof *r->fl, cmp_flagged);
    r->drawn = r->n_fl < r->max_runs ? r->n_fl : (int)r->max_runs;
    return 0;
}

/* metrics.json, the history of every run and the distributions per class. */
static int draw_overview(const report_t *r, dn_err_t *err)
{
    const dn_dataset_t *ds = r->ds;
    char path[4200], title[512];
    int rc = dn_mkdirs(r->outdir, err);
    snprintf(path, sizeof path, "%s/metrics.json", r->outdir);
    dn_outfile_t *of = rc ? NULL : dn_outfile_open(path, err);
    if (!of)
        return rc ? rc : err->code;
    dn_eval_result_write_json(&r->res, dn_outfile_stream(of));
    if ((rc = dn_outfile_commit(&of, err)))
        return rc;
    const char *sep = r->key[0] ? " " : "";
    snprintf(title, sizeof title, "%s%s%s: score of every run", r->key, sep, r->method);
    snprintf(path, sizeof path, "%s/history", r->outdir);
    if ((rc = dn_plot_history(path, title, ds->n_runs, ds->run, r->score, ds->label,
                              r->thr.warning, r->thr.bad, -1, err)))
        return rc;
    snprintf(title, sizeof title, "%s%s%s: scores of the continual regime per class", r->key,
             sep, r->method);
    snprintf(path, sizeof path, "%s/distributions", r->outdir);
    return dn_plot_distributions(path, title, ds->n_runs - r->n_hist, r->score + r->n_hist,
                                 ds->label + r->n_hist, r->thr.bad, err);
}

/* The horizon whose reference flagged run i (0: now, and always without
 * horizons). */
static int fired_horizon(const report_t *r, int i)
{
    return r->hz && r->fired[i] > 0 ? r->fired[i] : 0;
}

/* The figure set of each flagged run drawn: run_<run>.* and run_<run>_history.*;
 * with horizons against the reference of the horizon that fired. */
static int draw_flagged(const report_t *r, dn_err_t *err)
{
    const dn_dataset_t *ds = r->ds;
    const int nb = ds->n_bins;
    for (int k = 0; k < r->drawn; k++) {
        const int i = r->fl[k].i, h = fired_horizon(r, i);
        const size_t at = (size_t)i * (size_t)nb;
        const size_t ref = ((size_t)h * (size_t)ds->n_runs + (size_t)i) * (size_t)nb;
        char hb[4200], yb[4200], title[600], htitle[600], by[64] = "";
        if (h > 0) {
            char name[DN_HZ_NAME_MAX];
            snprintf(by, sizeof by, ", %s ago", dn_hz_name(r->hz, h, name, sizeof name));
        }
        snprintf(title, sizeof title, "run %lld%s%s (%s%s): score %.2f, threshold %.2f%s",
                 (long long)ds->run[i], r->key[0] ? ": " : "", r->key, r->method, by,
                 r->score[(size_t)h * ds->n_runs + i],
                 h > 0 ? r->res.hz_threshold[h] : r->thr.bad,
                 ds->label[i] == 1 ? ", labelled bad"
                 : ds->label[i] == 0 ? ", labelled good" : "");
        snprintf(htitle, sizeof htitle, "%s%s%s: run %lld in its history", r->key,
                 r->key[0] ? " " : "", r->method, (long long)ds->run[i]);
        snprintf(hb, sizeof hb, "%s/run_%lld", r->outdir, (long long)ds->run[i]);
        snprintf(yb, sizeof yb, "%s/run_%lld_history", r->outdir, (long long)ds->run[i]);
        /* placeholder numbering is not x: no edges then (the axes say "bin") */
        const int known = ds->edges_known;
        dn_figset_t set = {.hist_base = hb, .history_base = yb, .title = title,
                           .history_title = htitle, .n_bins = nb,
                           .edges = known ? ds->edges : NULL, .counts = dn_dataset_row(ds, i),
                           .variances = ds->variances ? ds->variances + at : NULL,
                           .ref_mu = r->mu + ref, .ref_sigma = r->sg + ref,
                           .pulls = r->pulls ? r->pulls + ref : NULL,
                           .n_runs = ds->n_runs, .run = ds->run, .score = r->score,
                           .label = ds->label, .mark = i, .warning = r->thr.warning,
                           .threshold = r->thr.bad, .n_bins_y = ds->n_bins_y,
                           .edges_y = known ? ds->edges_y : NULL};
        int rc = dn_figset_make(&set, NULL, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* threshold_scan.*: the scan behind the threshold over the historical runs,
 * with the evaluation's bootstrap options, bands 16% .. 84% as the
 * reference's figure. */
static int draw_scan(report_t *r, dn_err_t *err)
{
    dn_threshold_opts_t o;
    dn_threshold_opts_default(&o);
    o.n_boot = r->opts.n_boot;
    o.seed = r->opts.boot_seed;
    o.ba_weight = r->opts.ba_weight;
    const size_t g = (size_t)o.n_grid;
    double *t = malloc(sizeof(double) * 10 * g);
    if (!t)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    double *sens = t + g, *spec = sens + 3 * g, *wba = spec + 3 * g;
    char path[4200], title[512];
    int rc = dn_threshold_scan(r->score, r->ds->label, r->n_hist, &o, 16, 84, t, sens, spec,
                               wba, &r->scan_best, err);
    if (!rc) {
        snprintf(path, sizeof path, "%s/threshold_scan", r->outdir);
        snprintf(title, sizeof title, "%s%s%s: threshold scan over the %d historical runs",
                 r->key, r->key[0] ? " " : "", r->method, r->n_hist);
        dn_plot_scan_t s = {title, o.n_grid, t, sens, spec, wba, r->scan_best, o.ba_weight,
                            34, o.n_boot};
        rc = dn_plot_threshold_scan(path, &s, err);
    }
    free(t);
    return rc;
}

/* uncertainty.* and uncertainty_continual.*: the true band of the good runs
 * against the references' predicted band (dn_jaccard_bands) per regime; only
 * with the generator's truth, known bin edges and 1-D histograms, else
 * r->unc_why says why not. */
static int draw_uncertainty(report_t *r, dn_err_t *err)
{
    const dn_dataset_t *ds = r->ds;
    const int n = ds->n_runs, nb = ds->n_bins;
    if (!ds->true_mu || !ds->true_sigma) {
        snprintf(r->unc_why, sizeof r->unc_why, "the input carries no truth (the generating "
                 "Gaussian of each run), which the true band needs");
        return 0;
    }
    if (!ds->edges_known || ds->n_bins_y > 0) {
        snprintf(r->unc_why, sizeof r->unc_why, "%s", ds->n_bins_y > 0
                 ? "the histograms are 2-D; the truth is a 1-D Gaussian"
                 : "the bin edges are unknown (placeholder numbering), and the bands are in x");
        return 0;
    }
    double *xt = malloc(sizeof(double) * ((size_t)n * nb + 10 * (size_t)nb));
    if (!xt)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    double *sx2 = xt + (size_t)n * nb, *centres = sx2 + nb, *bands = centres + nb;
    for (int j = 0; j < nb; j++)
        centres[j] = 0.5 * (ds->edges[j] + ds->edges[j + 1]);
    for (int i = 0; i < n; i++) { /* as dn_evaluate: empty runs are rows of NaN */
        double *row = xt + (size_t)i * nb;
        if (!(dn_hist_normalise(row, sx2, dn_dataset_row(ds, i),
                                ds->variances ? ds->variances + (size_t)i * nb : NULL,
                                nb) > DN_EPS))
            for (int j = 0; j < nb; j++)
                row[j] = NAN;
    }
    char path[4200], title[512];
    dn_plot_coverage_t u = {title, nb, centres, {bands, bands + 4 * nb}, {NAN, NAN}, 0};
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        dn_err_t why = {0};
        if (dn_jaccard_bands(xt, r->mu, r->sg, ds->true_mu, ds->true_sigma, ds->label, n,
                             k ? r->n_hist : 0, k ? n : r->n_hist, centres, nb,
                             bands + 4 * k * nb, &u.jd[k], &why)) {
            if (why.code == DN_ENOMEM)
                rc = dn_err_set(err, DN_ENOMEM, "%s", why.msg);
            else if (k == 1)
                snprintf(r->unc_why, sizeof r->unc_why, "continual regime: %s", why.msg);
            else
                u.bands[0] = NULL; /* the continual figure alone */
        }
    }
    if (!rc && !r->unc_why[0]) {
        snprintf(title, sizeof title, "%s%s%s: uncertainty coverage of the good runs",
                 r->key, r->key[0] ? " " : "", r->method);
        snprintf(path, sizeof path, "%s/uncertainty", r->outdir);
        rc = u.bands[0] ? dn_plot_uncertainty(path, &u, err) : 0;
        u.continual_only = 1;
        snprintf(path, sizeof path, "%s/uncertainty_continual", r->outdir);
        if (!rc)
            rc = dn_plot_uncertainty(path, &u, err);
        r->unc_drawn = rc ? 0 : u.bands[0] ? 2 : 1;
        r->jd[0] = u.bands[0] ? u.jd[0] : NAN;
        r->jd[1] = u.jd[1];
    }
    free(xt);
    return rc;
}

/* refs_examples.*: up to DN_RESULT_EXAMPLES runs of each category, chosen as
 * the reference does (dn_result_pick_examples, seed DN_RESULT_EXAMPLE_SEED),
 * each against the reference that scored it (horizon now's). */
static int draw_examples(report_t *r, dn_err_t *err)
{
    const dn_dataset_t *ds = r->ds;
    const int nb = ds->n_bins, nmax = DN_RESULT_EXAMPLES, cells = nmax * DN_EX_N;
    if (ds->n_bins_y > 0) {
        snprintf(r->ex_why, sizeof r->ex_why, "2-D histograms: their figures are the maps "
                 "of the flagged runs below");
        return 0;
    }
    int pick[DN_RESULT_EXAMPLES * DN_EX_N];
    dn_err_t why = {0};
    if (dn_result_pick_examples(r->score, ds->label, ds->n_runs, r->thr.bad, nmax,
                                DN_RESULT_EXAMPLE_SEED, pick, r->ex_count, &r->ex_per, &why)) {
        if (why.code == DN_ENOMEM)
            return dn_err_set(err, DN_ENOMEM, "%s", why.msg);
        snprintf(r->ex_why, sizeof r->ex_why, "%s", why.msg);
        return 0;
    }
    int64_t run[DN_RESULT_EXAMPLES * DN_EX_N];
    double score[DN_RESULT_EXAMPLES * DN_EX_N];
    double *buf = malloc(sizeof(double) * 5 * (size_t)cells * nb + sizeof(double) * nb);
    if (!buf)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    const size_t plane = (size_t)cells * nb;
    double *xt = buf, *unc = xt + plane, *rm = unc + plane, *ru = rm + plane, *pu = ru + plane;
    for (int row = 0; row < r->ex_per; row++)
        for (int c = 0; c < DN_EX_N; c++) {
            const int k = row * DN_EX_N + c, i = pick[c * nmax + row];
            const size_t at = (size_t)k * nb, src = (size_t)i * nb;
            run[k] = -1;
            if (i < 0)
                continue;
            run[k] = ds->run[i];
            score[k] = r->score[i];
            dn_hist_normalise(xt + at, unc + at, dn_dataset_row(ds, i),
                              ds->variances ? ds->variances + src : NULL, nb);
            memcpy(rm + at, r->mu + src, sizeof(double) * nb);
            memcpy(ru + at, r->sg + src, sizeof(double) * nb);
            if (r->pulls)
                memcpy(pu + at, r->pulls + src, sizeof(double) * nb);
            else
                dn_hist_chi2(pu + at, xt + at, unc + at, r->mu + src, r->sg + src, nb);
            for (int j = 0; j < nb; j++)
                unc[at + j] = sqrt(unc[at + j]);
        }
    char path[4200], title[600];
    snprintf(title, sizeof title, "%s%s%s: examples against the references that scored them, "
             "threshold %.2f (chosen with seed %d)", r->key, r->key[0] ? " " : "", r->method,
             r->thr.bad, DN_RESULT_EXAMPLE_SEED);
    snprintf(path, sizeof path, "%s/refs_examples", r->outdir);
    dn_plot_examples_t e = {title, r->ex_per, nb, ds->edges_known ? ds->edges : NULL, run,
                            score, xt, unc, rm, ru, pu, r->thr.bad};
    int rc = dn_plot_examples(path, &e, err);
    free(buf);
    return rc;
}

/* The result figures of the reference (plot_result.h). */
static int draw_results(report_t *r, dn_err_t *err)
{
    char path[4200], title[512];
    const char *sep = r->key[0] ? " " : "";
    dn_plot_scores_t sc = {title, r->ds->n_runs, r->n_hist, r->ds->run, r->score,
                           r->ds->label, r->thr.bad, DN_RESULT_XLO, DN_RESULT_XHI};
    /* a figure the data cannot give (no labels, no scores: DN_EINVAL) is left
     * out with its reason in index.html; the report goes on */
    dn_err_t why = {0};
    int rc = draw_scan(r, &why);
    if (rc == DN_EINVAL)
        snprintf(r->scan_why, sizeof r->scan_why, "%s", why.msg);
    if (rc == DN_EINVAL || !rc) {
        snprintf(title, sizeof title, "%s%s%s: score distributions", r->key, sep, r->method);
        snprintf(path, sizeof path, "%s/results_hist", r->outdir);
        rc = dn_plot_results_hist(path, &sc, &why);
        if (rc == DN_EINVAL)
            snprintf(r->hist_why, sizeof r->hist_why, "%s", why.msg);
    }
    if (rc == DN_EINVAL || !rc) {
        snprintf(title, sizeof title, "%s%s%s: score of every run", r->key, sep, r->method);
        snprintf(path, sizeof path, "%s/results_scatter", r->outdir);
        rc = dn_plot_results_scatter(path, &sc, &why);
        if (rc == DN_EINVAL)
            snprintf(r->scatter_why, sizeof r->scatter_why, "%s", why.msg);
    }
    if (rc && rc != DN_EINVAL) {
        *err = why;
        return rc;
    }
    rc = draw_uncertainty(r, err);
    if (!rc)
        rc = draw_examples(r, err);
    return rc;
}

/* "Not drawn: why." in index.html when why is set; 1 then. */
static int not_drawn(FILE *html, const char *why)
{
    if (!why[0])
        return 0;
    fputs("<p>Not drawn: ", html);
    html_text(html, why);
    fputs(".</p>\n", html);
    return 1;
}

/* index.html's section of the result figures, one line on each. */
static void index_results(const report_t *r, FILE *html)
{
    static const char *cat[DN_EX_N] = {"good", "misclassified good", "bad",
                                       "misclassified bad"};
    dn_classification_t cm; /* the figure's matrix: horizon now's scores */
    dn_classify(r->score + r->n_hist, r->ds->label + r->n_hist, r->ds->n_runs - r->n_hist,
                r->thr.bad, &cm);
    fputs("<h2>Result figures</h2>\n", html);
    const dn_regime_metrics_t *reg[2] = {&r->res.historical, &r->res.continual};
    if (reg[0]->n_runs > 0 || reg[1]->n_runs > 0) { /* the reference's table */
        static const char *rate[DN_N_RATES] = {"balanced accuracy", "accuracy", "sensitivity",
                                              "specificity", "precision"};
        fputs("<table><tr><th>at the threshold used</th><th>historical</th>"
              "<th>continual</th></tr>", html);
        for (int k = 0; k < DN_N_RATES; k++) {
            fprintf(html, "<tr><th>%s</th>", rate[k]);
            for (int g = 0; g < 2; g++)
                fprintf(html, "<td>%.4f [%.4f, %.4f]</td>", reg[g]->rate[k], reg[g]->rate_lo[k],
                        reg[g]->rate_hi[k]);
            fputs("</tr>", html);
        }
        fprintf(html, "<tr><th>Jaccard distance</th><td>%.4f</td><td>%.4f</td></tr>"
                      "<tr><th>steps to adapt</th><td>%.3f</td><td>%.3f</td></tr>"
                      "<tr><th>adaptivity index</th><td>%.4f</td><td>%.4f</td></tr>"
                      "<tr><th>runs (labelled, scored)</th><td>%d</td><td>%d</td></tr></table>"
                      "<p>In brackets the bootstrap 2.5%% and 97.5%% percentiles (%d "
                      "resamples).</p>\n",
                reg[0]->jaccard_distance, reg[1]->jaccard_distance, reg[0]->nsteps_to_adapt,
                reg[1]->nsteps_to_adapt, reg[0]->adaptivity_index, reg[1]->adaptivity_index,
                reg[0]->n_runs, reg[1]->n_runs, r->opts.n_boot);
    }
    fputs("<h3>Threshold scan</h3>", html);
    if (!not_drawn(html, r->scan_why))
        fprintf(html, "<p>Sensitivity, specificity and the %s against the threshold over "
                      "the %d historical runs: medians of %d bootstrap resamples (seed %llu) "
                      "with their 16%%&ndash;84%% bands; the best threshold %.4f is marked%s."
                      "</p><a href=\"threshold_scan.svg\"><img src=\"threshold_scan.png\">"
                      "</a>\n",
                r->opts.ba_weight == 1 ? "balanced accuracy" : "weighted balanced accuracy",
                r->n_hist, r->opts.n_boot, (unsigned long long)r->opts.boot_seed,
                r->scan_best, r->scan_best == r->thr.bad
                                  ? " (the threshold used)"
                                  : " (the threshold used differs: given or tuned otherwise)");
    fputs("<h3>Score distributions</h3>", html);
    if (!not_drawn(html, r->hist_why))
        fprintf(html, "<p>Scores of the good and bad runs, each class and regime "
                      "normalised (continual filled, historical dashed), the threshold %.4f, "
                      "and the continual regime's confusion matrix (counts: %d true good "
                      "called good, %d called bad; %d true bad called bad, %d called good)."
                      "</p><a href=\"results_hist.svg\"><img src=\"results_hist.png\"></a>\n",
                r->thr.bad, cm.tn, cm.fp, cm.tp, cm.fn);
    fputs("<h3>Score against run</h3>", html);
    if (!not_drawn(html, r->scatter_why))
        fputs("<p>The score of every run, good and bad colours, the historical regime "
              "shaded, the threshold dashed.</p><a href=\"results_scatter.svg\">"
              "<img src=\"results_scatter.png\"></a>\n", html);
    fputs("<h3>Uncertainty coverage</h3>", html);
    if (r->unc_drawn) {
        fputs("<p>The z-score transformed good runs (median and spread: the true band) "
              "against the references that scored them (median and predicted sigma), per "
              "regime, with their Jaccard distance (0: the bands coincide): ", html);
        if (r->unc_drawn == 2)
            fprintf(html, "historical %.4f, ", r->jd[0]);
        fprintf(html, "continual %.4f.</p>", r->jd[1]);
        if (r->unc_drawn == 2)
            fputs("<a href=\"uncertainty.svg\"><img src=\"uncertainty.png\"></a>", html);
        fputs("<p>The continual regime alone:</p><a href=\"uncertainty_continual.svg\">"
              "<img src=\"uncertainty_continual.png\"></a>\n", html);
    } else {
        not_drawn(html, r->unc_why);
    }
    fputs("<h3>Example runs</h3>", html);
    if (!r->ex_why[0]) {
        fprintf(html, "<p>%d runs of each category (seed %d, all regimes; runs per category: ",
                r->ex_per, DN_RESULT_EXAMPLE_SEED);
        for (int c = 0; c < DN_EX_N; c++)
            fprintf(html, "%s%s %d", c ? ", " : "", cat[c], r->ex_count[c]);
        fputs("), each histogram against the reference that scored it with both bands, and "
              "its pulls.</p><a href=\"refs_examples.svg\"><img src=\"refs_examples.png\"></a>\n",
              html);
    } else {
        not_drawn(html, r->ex_why);
    }
}

/* The worst bins of flagged run i against the reference that scored it, as
 * the evaluator names them (histo.h: "b17:+8.2 ..."; 2-D "bin (ix,iy) at
 * (xc, yc):+8.2; ..."); "" when the run has no entries or memory is short. */
static void worst_bins(const report_t *r, int i, char *buf, size_t cap)
{
    const dn_dataset_t *ds = r->ds;
    const int nb = ds->n_bins;
    const size_t at = (size_t)i * (size_t)nb;
    const size_t ref = ((size_t)fired_horizon(r, i) * (size_t)ds->n_runs + (size_t)i) *
                       (size_t)nb;
    double *xt = malloc(sizeof(double) * 3 * (size_t)nb);
    buf[0] = '\0';
    if (!xt)
        return;
    double *sx2 = xt + nb, *pull = sx2 + nb;
    if (dn_hist_normalise(xt, sx2, dn_dataset_row(ds, i),
                          ds->variances ? ds->variances + at : NULL, nb) > DN_EPS) {
        if (r->pulls)
            memcpy(pull, r->pulls + ref, sizeof(double) * nb);
        else
            dn_hist_chi2(pull, xt, sx2, r->mu + ref, r->sg + ref, nb);
        const int known = ds->edges_known;
        dn_hist_worst_bins(buf, cap, pull, nb, 3, ds->n_bins_y, known ? ds->edges : NULL,
                           known ? ds->edges_y : NULL);
    }
    free(xt);
}

/* index.html: the numbers, then every figure. */
static int write_index(const report_t *r, dn_err_t *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/index.html", r->outdir);
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *html = dn_outfile_stream(of);
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dinamo report</title>"
          "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}"
          "td,th{padding:0 1em;text-align:left}</style></head><body>\n<h1>",
          html);
    html_text(html, r->in);
    fputs(" &mdash; ", html);
    html_text(html, r->key);
    fprintf(html, "%s%s</h1>\n<table>", r->key[0] ? ", " : "", r->method);
    fprintf(html, "<tr><th>runs</th><td>%d (historical %d)</td></tr>", r->ds->n_runs, r->n_hist);
    if (r->opts.method == DN_METHOD_S)
        fprintf(html, "<tr><th>alpha</th><td>%.3f</td></tr>", r->alpha);
    fprintf(html, "<tr><th>bad threshold</th><td>%.4f</td></tr>"
                  "<tr><th>warning threshold</th><td>%.4f</td></tr>"
                  "<tr><th>balanced accuracy</th><td>%.4f</td></tr>"
                  "<tr><th>sensitivity</th><td>%.4f</td></tr>"
                  "<tr><th>specificity</th><td>%.4f</td></tr>"
                  "<tr><th>flagged runs (continual)</th><td>%d, %d drawn</td></tr></table>\n",
            r->thr.bad, r->thr.warning, r->res.balanced_accuracy, r->res.sensitivity,
            r->res.specificity, r->n_fl, r->drawn);
    for (int h = 1; h < r->n_hz; h++) {
        char name[DN_HZ_NAME_MAX];
        fprintf(html, "<p>horizon %s: threshold %.4f, %d continual runs flagged by it</p>\n",
                dn_hz_name(r->hz, h, name, sizeof name), r->res.hz_threshold[h],
                r->res.hz_fired[h]);
    }
    fputs("<h2>Score history</h2><a href=\"history.svg\"><img src=\"history.png\"></a>\n"
          "<h2>Scores per class</h2><a href=\"distributions.svg\">"
          "<img src=\"distributions.png\"></a>\n",
          html);
    index_results(r, html);
    fputs("<h2>Flagged runs</h2>\n", html);
    for (int k = 0; k < r->drawn; k++) {
        long long run = (long long)r->ds->run[r->fl[k].i];
        char bins[256];
        worst_bins(r, r->fl[k].i, bins, sizeof bins);
        int h = fired_horizon(r, r->fl[k].i);
        if (r->hz) {
            char name[DN_HZ_NAME_MAX];
            fprintf(html, "<h3 id=\"run%lld\">run %lld: fired by %s (margin %+.3f)</h3>", run,
                    run, dn_hz_name(r->hz, h, name, sizeof name), r->fl[k].score);
        } else {
            fprintf(html, "<h3 id=\"run%lld\">run %lld: score %.3f</h3>", run, run,
                    r->fl[k].score);
        }
        if (bins[0]) {
            fputs("<p>worst bins (pull): ", html);
            html_text(html, bins);
            fputs("</p>", html);
        }
        fprintf(html, "<a href=\"run_%lld.svg\"><img src=\"run_%lld.png\"></a>"
                      "<a href=\"run_%lld_history.svg\"><img src=\"run_%lld_history.png\"></a>\n",
                run, run, run, run);
    }
    fputs("</body></html>\n", html);
    return dn_outfile_commit(&of, err);
}

int cmd_report_dataset(args_t *a); /* report_dataset.c: the dataset mode */

int cmd_report(args_t *a)
{
    for (int i = a->pos; i < a->argc; i++)
        if (!strcmp(a->argv[i], "--dataset") || !strncmp(a->argv[i], "--dataset=", 10))
            return cmd_report_dataset(a);
    for (int i = a->pos; i < a->argc; i++) /* results over many datasets: report_bench.c */
        if (!strcmp(a->argv[i], "--bench") || !strncmp(a->argv[i], "--bench=", 8))
            return cmd_report_bench(a);
    report_t r = {.max_runs = 50};
    dn_eval_opts_default(&r.opts);
    int status = parse_args(a, &r);
    if (status >= 0)
        return status;
    dn_err_t err = {0};
    int rc = read_report_input(a->cmd, &r, &err);
    if (!rc)
        rc = score_and_judge(&r, &err);
    if (!rc)
        rc = draw_overview(&r, &err);
    if (!rc)
        rc = draw_flagged(&r, &err);
    if (!rc)
        rc = draw_results(&r, &err);
    if (!rc)
        rc = write_index(&r, &err);
    if (!rc)
        printf("report: %s/index.html (%d flagged runs of %d, %d drawn)\n", r.outdir, r.n_fl,
               r.ds->n_runs - r.n_hist, r.drawn);
    dn_dataset_destroy(&r.ds);
    free(r.chi2);
    free(r.score);
    free(r.mu);
    free(r.sg);
    free(r.pulls);
    free(r.fl);
    free(r.margin);
    free(r.fired);
    return rc ? fail_with(a->cmd, &err, rc) : 0;
}
