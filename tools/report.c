/* report.c: `dinamo report`, what a shifter would have seen of an offline
 * evaluation: the score history with the thresholds (paper Figure 4), the score
 * distributions per class (Figure 5), and for every flagged run of the
 * continual regime its histogram against the reference that scored it with the
 * uncertainty band and pulls (Figure 6) and its place in the history. PNG and
 * SVG, an index.html that shows them, and metrics.json. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dinamo_s.h"
#include "evaluate.h"
#include "results.h"
#include "fileio.h"
#include "histo.h"
#include "plot.h"
#include "policy.h"

static const char report_help[] =
    "usage: dinamo report PATH|--in PATH --method s|ml [--out DIR] [--max-runs N]\n"
    "                     [--key KEY] [--labels LABELS.csv] [--policy POLICY.csv]\n"
    "                     [--alpha A] [--threshold T] [--n-historical N] [--min-entries N]\n"
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
    "policy's, else the bad one minus ln 2.\n";

typedef struct {
    double score;
    int i;
} flagged_t;

static int cmp_flagged(const void *a, const void *b)
{
    const flagged_t *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

int cmd_report(args_t *a)
{
    dn_eval_opts_t opts;
    dn_eval_opts_default(&opts);
    input_args_t inargs = {0};
    const char *in = NULL, *out = NULL;
    long max_runs = 50;
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help --no-train --verbose", &name, &v)) > 0) {
        if (!name || !strcmp(name, "--in")) {
            if (in)
                return usage_error(a->cmd, "%s", "give the input once (PATH or --in PATH)");
            in = v;
        } else if (!strcmp(name, "--help")) {
            fputs(report_help, stdout);
            return 0;
        } else if (!strcmp(name, "--verbose")) {
            continue;
        } else if (!strcmp(name, "--out")) {
            out = v;
        } else if (!strcmp(name, "--max-runs")) {
            if (parse_int(a->cmd, name, v, 0, 100000, &max_runs))
                return 2;
        } else {
            int handled;
            parse_input_opt(name, v, &inargs, &handled);
            int erc;
            if (!handled && (erc = parse_eval_opt(a->cmd, name, v, &opts, &handled)))
                return erc;
            if (!handled)
                return usage_error(a->cmd, "unknown option %s", name);
        }
    }
    if (r < 0)
        return 2;
    if (!in)
        return usage_error(a->cmd, "%s", "an input is required (PATH or --in PATH)");
    set_progress(&opts, a->cmd);
    char outdir[4096];
    struct stat st;
    if (out)
        snprintf(outdir, sizeof outdir, "%s", out);
    else if (stat(in, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(outdir, sizeof outdir, "%s/report", in);
    else
        snprintf(outdir, sizeof outdir, "%s.report", in);

    dn_err_t err = {0};
    dn_dataset_t *ds = NULL;
    double *chi2 = NULL, *score = NULL, *mu = NULL, *sg = NULL, *pulls = NULL, *xt = NULL;
    flagged_t *fl = NULL;
    FILE *html = NULL;
    dn_outfile_t *of = NULL;
    double warning_policy = NAN;
    int rc = apply_policy(&inargs, &opts, opts.min_entries > 0, &err);
    if (!rc && inargs.policy) {
        /* the policy's warning threshold, if it sets one (apply_policy took the rest) */
        dn_policy_t *pol = dn_policy_load(inargs.policy, &err);
        if (!pol)
            rc = err.code;
        else
            warning_policy = dn_policy_lookup(pol, inargs.key, NULL).warning;
        dn_policy_destroy(&pol);
    }
    if (!rc)
        rc = read_input(a->cmd, in, &inargs, &ds, &err);
    if (rc)
        goto fail;
    const int n = ds->n_runs, nb = ds->n_bins;
    const size_t cells = (size_t)(n ? n : 1) * (size_t)nb;
    const int is_s = opts.method == DN_METHOD_S;
    int n_hist = opts.n_hist < n ? opts.n_hist : n - 1;
    if (n_hist < 1) {
        rc = dn_err_set(&err, DN_EINVAL, "%d runs: too few for a historical regime", n);
        goto fail;
    }
    opts.n_hist = n_hist;
    chi2 = malloc(sizeof(double) * (size_t)(n ? n : 1));
    score = malloc(sizeof(double) * (size_t)(n ? n : 1));
    mu = malloc(sizeof(double) * cells);
    sg = malloc(sizeof(double) * cells);
    pulls = malloc(sizeof(double) * cells);
    xt = malloc(sizeof(double) * 3 * (size_t)nb);
    fl = malloc(sizeof(flagged_t) * (size_t)(n ? n : 1));
    if (!chi2 || !score || !mu || !sg || !pulls || !xt || !fl) {
        rc = dn_err_set(&err, DN_ENOMEM, "out of memory for %d runs", n);
        goto fail;
    }
    double alpha = is_s ? opts.alpha : NAN;
    if (is_s && alpha < 0 &&
        (rc = dn_s_tune_alpha(ds->counts, ds->variances, ds->label, n_hist, nb,
                              opts.min_entries, &alpha, NULL, &err)))
        goto fail;
    dn_run_scores_t rs = {.chi2 = chi2, .score = score, .ref_mu = mu, .ref_sigma = sg,
                          .pulls = pulls};
    rc = is_s ? dn_score_dataset_s(ds, alpha, opts.min_entries, &rs, &err)
              : dn_score_dataset_ml(ds, &opts, &rs, &err);
    if (rc)
        goto fail;
    dn_eval_result_t res;
    if ((rc = dn_evaluate_scores_ref(ds, opts.method, chi2, mu, sg, alpha, &opts, &res, &err)))
        goto fail;
    const double thr = res.threshold, warn = isnan(warning_policy) ? thr - log(2.0) : warning_policy;
    if ((rc = dn_mkdirs(outdir, &err)))
        goto fail;

    char path[4200], title[512];
    const char *key = inargs.key ? inargs.key : "";
    const char *method = is_s ? "DINAMO-S" : "DINAMO-ML";
    snprintf(path, sizeof path, "%s/metrics.json", outdir);
    if (!(of = dn_outfile_open(path, &err))) {
        rc = err.code;
        goto fail;
    }
    dn_eval_result_write_json(&res, dn_outfile_stream(of));
    if ((rc = dn_outfile_commit(&of, &err)))
        goto fail;

    snprintf(title, sizeof title, "%s%s%s: score of every run", key, key[0] ? " " : "",
             method);
    snprintf(path, sizeof path, "%s/history", outdir);
    if ((rc = dn_plot_history(path, title, n, ds->run, score, ds->label, warn, thr, -1, &err)))
        goto fail;
    snprintf(title, sizeof title, "%s%s%s: scores of the continual regime per class", key,
             key[0] ? " " : "", method);
    snprintf(path, sizeof path, "%s/distributions", outdir);
    if ((rc = dn_plot_distributions(path, title, n - n_hist, score + n_hist, ds->label + n_hist,
                                    thr, &err)))
        goto fail;

    int n_fl = 0;
    for (int i = n_hist; i < n; i++)
        if (isfinite(score[i]) && score[i] > thr)
            fl[n_fl++] = (flagged_t){score[i], i};
    qsort(fl, (size_t)n_fl, sizeof *fl, cmp_flagged);
    int drawn = n_fl < max_runs ? n_fl : (int)max_runs;
    for (int k = 0; k < drawn; k++) {
        int i = fl[k].i;
        double *x = xt, *sx2 = xt + nb, *unc = xt + 2 * nb;
        dn_hist_normalise(x, sx2, dn_dataset_row(ds, i),
                          ds->variances ? ds->variances + (size_t)i * nb : NULL, nb);
        for (int j = 0; j < nb; j++)
            unc[j] = sqrt(sx2[j]);
        snprintf(title, sizeof title, "run %lld%s%s (%s): score %.2f, threshold %.2f%s",
                 (long long)ds->run[i], key[0] ? ": " : "", key, method, score[i], thr,
                 ds->label[i] == 1 ? ", labelled bad" : ds->label[i] == 0 ? ", labelled good"
                                                                           : "");
        dn_plot_hist_t h = {title, nb, ds->edges, x, unc, mu + (size_t)i * nb,
                            sg + (size_t)i * nb, pulls + (size_t)i * nb};
        snprintf(path, sizeof path, "%s/run_%lld", outdir, (long long)ds->run[i]);
        if ((rc = dn_plot_histogram(path, &h, &err)))
            goto fail;
        snprintf(path, sizeof path, "%s/run_%lld_history", outdir, (long long)ds->run[i]);
        snprintf(title, sizeof title, "%s%s%s: run %lld in its history", key, key[0] ? " " : "",
                 method, (long long)ds->run[i]);
        if ((rc = dn_plot_history(path, title, n, ds->run, score, ds->label, warn, thr, i, &err)))
            goto fail;
    }

    snprintf(path, sizeof path, "%s/index.html", outdir);
    if (!(of = dn_outfile_open(path, &err))) {
        rc = err.code;
        goto fail;
    }
    html = dn_outfile_stream(of);
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dinamo report</title>"
          "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}"
          "td,th{padding:0 1em;text-align:left}</style></head><body>\n<h1>",
          html);
    html_text(html, in);
    fprintf(html, " &mdash; %s%s", key[0] ? key : "", key[0] ? ", " : "");
    fprintf(html, "%s</h1>\n<table>", method);
    fprintf(html, "<tr><th>runs</th><td>%d (historical %d)</td></tr>", n, n_hist);
    if (is_s)
        fprintf(html, "<tr><th>alpha</th><td>%.3f</td></tr>", alpha);
    fprintf(html, "<tr><th>bad threshold</th><td>%.4f</td></tr>"
                  "<tr><th>warning threshold</th><td>%.4f</td></tr>"
                  "<tr><th>balanced accuracy</th><td>%.4f</td></tr>"
                  "<tr><th>sensitivity</th><td>%.4f</td></tr>"
                  "<tr><th>specificity</th><td>%.4f</td></tr>"
                  "<tr><th>flagged runs (continual)</th><td>%d, %d drawn</td></tr></table>\n",
            thr, warn, res.balanced_accuracy, res.sensitivity, res.specificity, n_fl, drawn);
    fputs("<h2>Score history</h2><a href=\"history.svg\"><img src=\"history.png\"></a>\n"
          "<h2>Scores per class</h2><a href=\"distributions.svg\">"
          "<img src=\"distributions.png\"></a>\n<h2>Flagged runs</h2>\n",
          html);
    for (int k = 0; k < drawn; k++) {
        long long run = (long long)ds->run[fl[k].i];
        fprintf(html, "<h3 id=\"run%lld\">run %lld: score %.3f</h3>"
                      "<a href=\"run_%lld.svg\"><img src=\"run_%lld.png\"></a>"
                      "<a href=\"run_%lld_history.svg\"><img src=\"run_%lld_history.png\"></a>\n",
                run, run, fl[k].score, run, run, run, run);
    }
    fputs("</body></html>\n", html);
    if ((rc = dn_outfile_commit(&of, &err)))
        goto fail;
    printf("report: %s/index.html (%d flagged runs of %d, %d drawn)\n", outdir, n_fl,
           n - n_hist, drawn);
fail:
    dn_outfile_abort(&of);
    dn_dataset_destroy(&ds);
    free(chi2);
    free(score);
    free(mu);
    free(sg);
    free(pulls);
    free(xt);
    free(fl);
    return rc ? fail_with(a->cmd, &err, rc) : 0;
}
