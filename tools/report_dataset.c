/* report_dataset.c: `dinamo report --dataset PATH`, the figures of a dataset
 * before anything scores it (the reference's exploratory plots, its
 * eda_processing): class ratio, run statistics, the uncertainty
 * visualisation, dead bins, the true mu and sigma per run with their rapid
 * changes marked, and the six as one page, as PNG and SVG with an
 * index.html. The numbers come from eda.h, the drawing from plot_data.h.
 *
 * What a figure needs decides whether it is drawn: the class ratio needs
 * labels; the run statistics only the counts; the uncertainty visualisation
 * the truth (mu and sigma per run), labels (it uses the good runs) and the bin
 * edges of a 1-D histogram; dead bins and mu / sigma the truth. Real data has
 * no truth: index.html says which figures are absent and why. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dataset.h"
#include "eda.h"
#include "fileio.h"
#include "plot_data.h"

static const char dataset_help[] =
    "usage: dinamo report --dataset PATH [--out DIR] [--n-historical N]\n"
    "                     [--key KEY] [--labels LABELS.csv]\n"
    "\n"
    "Draws the figures of the dataset PATH (any input of dinamo score), as PNG and\n"
    "SVG into DIR (default PATH/dataset_report for a directory, else\n"
    "PATH.dataset_report): class_ratio (runs per class), run_statistics (the\n"
    "entries of the runs, per class), unc_vis (the z-score transformed good runs:\n"
    "median, full, systematic and statistical uncertainty), dead_bins,\n"
    "gaussian_mu and gaussian_sigma (the truth of each run against its index,\n"
    "the first N runs, default 1000, shaded as the historical regime, the starts\n"
    "of rapid changes as vertical lines) and eda (the six on one page), with an\n"
    "index.html. Figures that need the generator's truth (unc_vis, dead_bins,\n"
    "gaussian_mu, gaussian_sigma) or labels (class_ratio) are left out of inputs\n"
    "without them; index.html says which and why.\n";

enum { F_CLASSES, F_STATS, F_UNC, F_DEAD, F_MU, F_SIGMA, F_EDA, N_FIG };

static const char *const fig_name[N_FIG] = {"class_ratio", "run_statistics", "unc_vis",
                                            "dead_bins", "gaussian_mu", "gaussian_sigma",
                                            "eda"};
static const char *const fig_title[N_FIG] = {
    "Class ratio", "Run statistics", "Uncertainty visualisation", "Dead bins",
    "Mean of the Gaussian per run", "Width of the Gaussian per run", "All together"};
static const char *const fig_what[N_FIG] = {
    "The number of good and bad runs (and unlabelled ones, when any).",
    "How many entries the runs have (the sum of each run's counts), good and bad runs "
    "separately.",
    "The good runs z-score transformed with their true mu and sigma onto the bin centres: "
    "the median, the full spread (+-sigma, dashed, blue band) and the statistical "
    "(Poisson) term sqrt(median / mean entries) (grey band); what the full exceeds the "
    "statistical by is the systematic uncertainty.",
    "The number of bins set to zero in each run (bad runs only), against the run index; "
    "the historical regime shaded.",
    "The true mean of each run's Gaussian against the run index: the slow drift, the "
    "rapid changes (orange lines at their starts) and the shifted bad runs; the "
    "historical regime shaded.",
    "The true width of each run's Gaussian against the run index: rapid changes (orange "
    "lines at their starts) and the widened or narrowed bad runs; the historical regime "
    "shaded.",
    "The six figures above on one page."};

typedef struct dsreport_t {
    const char *in;
    input_args_t inargs;
    char outdir[4096];
    long n_hist_opt;
    int n_hist;
    dn_dataset_t *ds;
    dn_eda_classes_t classes;
    dn_eda_stats_t stats;
    double *entries, *unc;        /* [n_runs]; [4 * n_bins] centres, median, full, stat */
    double *dead, *mu, *sigma;    /* [n_runs] each */
    dn_plot_unc_t unc_plot;
    dn_plot_runs_t runs[3];       /* dead bins, mu, sigma */
    int have[N_FIG];
    char why[N_FIG][DN_ERRMSG_MAX]; /* why an absent figure is absent */
} dsreport_t;

static int parse_args(args_t *a, dsreport_t *r)
{
    char *name;
    const char *v;
    int rc;
    for (int i = a->pos; i < a->argc; i++)
        if (!strcmp(a->argv[i], "--help")) {
            fputs(dataset_help, stdout);
            return 0;
        }
    while ((rc = next_arg(a, "--help --verbose", &name, &v)) > 0) {
        if (name && !strcmp(name, "--dataset")) {
            if (r->in)
                return usage_error(a->cmd, "%s", "give --dataset once");
            r->in = v;
        } else if (!name) {
            return usage_error(a->cmd, "%s", "with --dataset, the input is --dataset's value");
        } else if (!strcmp(name, "--out")) {
            snprintf(r->outdir, sizeof r->outdir, "%s", v);
        } else if (!strcmp(name, "--n-historical")) {
            if (parse_int(a->cmd, name, v, 0, 1000000000, &r->n_hist_opt))
                return 2;
        } else if (strcmp(name, "--verbose")) {
            int handled;
            parse_input_opt(name, v, &r->inargs, &handled);
            if (!handled)
                return usage_error(a->cmd, "unknown option %s (in the dataset mode)", name);
        }
    }
    if (rc < 0)
        return 2;
    if (!r->in)
        return usage_error(a->cmd, "%s", "--dataset needs a PATH");
    struct stat st;
    if (!r->outdir[0])
        snprintf(r->outdir, sizeof r->outdir,
                 stat(r->in, &st) == 0 && S_ISDIR(st.st_mode) ? "%s/dataset_report"
                                                              : "%s.dataset_report",
                 r->in);
    return -1;
}

static void absent(dsreport_t *r, int f, const char *why)
{
    r->have[f] = 0;
    snprintf(r->why[f], sizeof r->why[f], "%s", why);
}

/* The numbers of every figure the input allows; the others marked absent. */
static int compute(dsreport_t *r, dn_err_t *err)
{
    const dn_dataset_t *ds = r->ds;
    const int n = ds->n_runs, nb = ds->n_bins;
    if (n < 1)
        return dn_err_set(err, DN_EINVAL, "%s: no runs", r->in);
    r->n_hist = r->n_hist_opt < n ? (int)r->n_hist_opt : n;
    r->entries = malloc(sizeof(double) * (size_t)n);
    r->unc = malloc(sizeof(double) * 4 * (size_t)nb);
    r->dead = malloc(sizeof(double) * 3 * (size_t)n);
    if (!r->entries || !r->unc || !r->dead)
        return dn_err_set(err, DN_ENOMEM, "out of memory for %d runs", n);
    r->mu = r->dead + n;
    r->sigma = r->mu + n;
    for (int f = 0; f < N_FIG; f++)
        r->have[f] = 1;
    int rc = dn_eda_classes(ds->label, n, &r->classes, err);
    if (rc)
        return rc;
    if (r->classes.unlabelled == n)
        absent(r, F_CLASSES, "the input has no labels (give --labels LABELS.csv)");
    dn_eda_entries(ds, r->entries);
    if ((rc = dn_eda_run_stats(r->entries, ds->label, n, &r->stats, err)))
        return rc;
    const int truth = ds->true_mu && ds->true_sigma;
    const char *no_truth = "needs the generator's truth (truth.csv: mu, sigma, dead_bins per "
                           "run), which this input has not: real data has none";
    if (!truth) {
        absent(r, F_UNC, no_truth);
        absent(r, F_DEAD, no_truth);
        absent(r, F_MU, no_truth);
        absent(r, F_SIGMA, no_truth);
    } else {
        dn_err_t uerr = {0};
        int n_good = 0;
        if (dn_eda_unc_vis(ds, r->unc, r->unc + nb, r->unc + 2 * nb, r->unc + 3 * nb, &n_good,
                           &uerr)) {
            absent(r, F_UNC, uerr.msg);
        } else {
            r->unc_plot = (dn_plot_unc_t){nb, r->unc, r->unc + nb, r->unc + 2 * nb,
                                          r->unc + 3 * nb, n_good};
        }
        int dead_known = ds->dead_bins != NULL;
        for (int i = 0; i < n; i++) {
            dead_known &= ds->dead_bins && ds->dead_bins[i] >= 0;
            r->dead[i] = ds->dead_bins ? ds->dead_bins[i] : -1;
            r->mu[i] = ds->true_mu[i];
            r->sigma[i] = ds->true_sigma[i];
        }
        if (!dead_known)
            absent(r, F_DEAD, "truth.csv has no dead_bins for every run");
        /* without the split only the OR of the two is known: marked on both */
        const int split = ds->rapid_split_known;
        r->runs[0] = (dn_plot_runs_t){"", "Number of dead bins", n, r->dead, ds->label,
                                      r->n_hist, NAN, NULL, NULL, -2, 25};
        r->runs[1] = (dn_plot_runs_t){"", "Mean of the Gaussian #gm", n, r->mu, ds->label,
                                      r->n_hist, 0, ds->rapid_mu,
                                      split ? "rapid change of #gm" : "rapid change",
                                      -4, 6};
        r->runs[2] = (dn_plot_runs_t){"", "Std. dev. of the Gaussian #gs", n, r->sigma,
                                      ds->label, r->n_hist, 1,
                                      split ? ds->rapid_sigma : ds->rapid_mu,
                                      split ? "rapid change of #gs" : "rapid change",
                                      0.2, 2.5};
    }
    return 0;
}

static int draw(dsreport_t *r, dn_err_t *err)
{
    char base[4200], title[4300];
    int rc = dn_mkdirs(r->outdir, err);
    static const char *const ytitle[3] = {"dead bins per run", "true #gm per run",
                                          "true #gs per run"};
    for (int f = 0; f < N_FIG && !rc; f++) {
        if (!r->have[f])
            continue;
        snprintf(base, sizeof base, "%s/%s", r->outdir, fig_name[f]);
        snprintf(title, sizeof title, "%s: %s", r->in, f == F_EDA ? "dataset overview"
                                                       : f >= F_DEAD && f <= F_SIGMA
                                                           ? ytitle[f - F_DEAD]
                                                           : fig_title[f]);
        switch (f) {
        case F_CLASSES:
            rc = dn_plot_class_ratio(base, title, &r->classes, err);
            break;
        case F_STATS:
            rc = dn_plot_run_stats(base, title, &r->stats, err);
            break;
        case F_UNC:
            rc = dn_plot_unc_vis(base, title, &r->unc_plot, err);
            break;
        case F_DEAD:
        case F_MU:
        case F_SIGMA: {
            dn_plot_runs_t p = r->runs[f - F_DEAD];
            p.title = title;
            rc = dn_plot_runs(base, &p, err);
            break;
        }
        default: {
            dn_plot_eda_t e = {.title = title,
                               .missing = r->ds->true_mu ? "see index.html"
                                                          : "needs the generator's truth",
                               .classes = r->have[F_CLASSES] ? &r->classes : NULL,
                               .stats = &r->stats,
                               .unc = r->have[F_UNC] ? &r->unc_plot : NULL,
                               .dead = r->have[F_DEAD] ? &r->runs[0] : NULL,
                               .mu = r->have[F_MU] ? &r->runs[1] : NULL,
                               .sigma = r->have[F_SIGMA] ? &r->runs[2] : NULL};
            rc = dn_plot_eda(base, &e, err);
        }
        }
    }
    return rc;
}

static int write_index(const dsreport_t *r, dn_err_t *err)
{
    const dn_dataset_t *ds = r->ds;
    char path[4200];
    snprintf(path, sizeof path, "%s/index.html", r->outdir);
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *html = dn_outfile_stream(of);
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dinamo dataset "
          "report</title><style>body{font-family:sans-serif;margin:2em}img{max-width:100%}"
          "td,th{padding:0 1em;text-align:left}</style></head><body>\n<h1>Dataset ",
          html);
    html_text(html, r->in);
    fputs("</h1>\n<table>", html);
    fprintf(html, "<tr><th>runs</th><td>%d (historical regime: the first %d)</td></tr>"
                  "<tr><th>good runs</th><td>%d</td></tr><tr><th>bad runs</th><td>%d</td></tr>"
                  "<tr><th>unlabelled runs</th><td>%d</td></tr>"
                  "<tr><th>bins</th><td>%d%s</td></tr>"
                  "<tr><th>entries per run</th><td>%.0f to %.0f</td></tr>"
                  "<tr><th>truth</th><td>%s</td></tr>",
            ds->n_runs, r->n_hist, r->classes.good, r->classes.bad, r->classes.unlabelled,
            ds->n_bins, ds->edges_known ? "" : " (edges unknown)", r->stats.min_entries,
            r->stats.max_entries, ds->true_mu ? "yes (truth.csv)" : "no");
    if (ds->true_mu) {
        int nr[2] = {0, 0};
        for (int i = 0; i < ds->n_runs; i++) {
            nr[0] += ds->rapid_mu[i];
            nr[1] += ds->rapid_sigma[i];
        }
        if (ds->rapid_split_known)
            fprintf(html, "<tr><th>rapid changes</th><td>%d of mu, %d of sigma</td></tr>",
                    nr[0], nr[1]);
        else
            fprintf(html, "<tr><th>rapid changes</th><td>%d (of mu or sigma: the input does "
                          "not say which)</td></tr>", nr[0]);
    }
    if (r->have[F_UNC])
        fprintf(html, "<tr><th>good runs in the uncertainty figure</th><td>%d</td></tr>",
                r->unc_plot.n_good);
    fputs("</table>\n", html);
    for (int f = 0; f < N_FIG; f++) {
        fprintf(html, "<h2 id=\"%s\">%s</h2>\n<p>", fig_name[f], fig_title[f]);
        html_text(html, fig_what[f]);
        fputs("</p>\n", html);
        if (r->have[f]) {
            fprintf(html, "<a href=\"%s.svg\"><img src=\"%s.png\"></a>\n", fig_name[f],
                    fig_name[f]);
        } else {
            fputs("<p><b>Not drawn:</b> ", html);
            html_text(html, r->why[f]);
            fputs(".</p>\n", html);
        }
    }
    fputs("</body></html>\n", html);
    return dn_outfile_commit(&of, err);
}

int cmd_report_dataset(args_t *a)
{
    dsreport_t r = {.n_hist_opt = 1000};
    int status = parse_args(a, &r);
    if (status >= 0)
        return status;
    dn_err_t err = {0};
    int rc = read_input(a->cmd, r.in, &r.inargs, &r.ds, &err);
    if (!rc)
        rc = compute(&r, &err);
    if (!rc)
        rc = draw(&r, &err);
    if (!rc)
        rc = write_index(&r, &err);
    if (!rc) {
        int drawn = 0;
        for (int f = 0; f < N_FIG; f++)
            drawn += r.have[f];
        printf("report: %s/index.html (%d of %d dataset figures drawn)\n", r.outdir, drawn,
               N_FIG);
    }
    dn_dataset_destroy(&r.ds);
    free(r.entries);
    free(r.unc);
    free(r.dead);
    return rc ? fail_with(a->cmd, &err, rc) : 0;
}
