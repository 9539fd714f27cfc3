/* report_bench.c: `dinamo report --bench DIR`, the figures and tables of
 * results over many datasets, as the reference's aggregation scripts draw
 * them, from what `dinamo bench` wrote into DIR:
 *
 *   - metrics_<method>.csv (s, ml, or both): for each of the eight metrics,
 *     integrated_<metric>_<method>, its distribution over datasets in the
 *     historical and in the continual regime; with both methods,
 *     comparison_<metric>, DINAMO-S against DINAMO-ML in the continual
 *     regime with each one's median and 95% interval written in;
 *   - alpha_scan_summary.csv (bench --alpha-scan): metrics_vs_alpha_adaptivity
 *     and metrics_vs_alpha_nsteps, the continual balanced accuracy, Jaccard
 *     distance and adaptivity index or steps to adapt against alpha, mean +-
 *     std over datasets, as a stack of three panels sharing alpha (three y
 *     axes on one panel, as the reference has, overlap in PLplot);
 *   - index.html with every figure and, per method, the describe() table
 *     (computed again from the rows with the function bench uses, so it is
 *     aggregated_metrics_<method>.csv's numbers).
 *
 * The CSV files are read strictly (plot_bench.h): a damaged one stops the
 * report with its name and line rather than drawing from half of it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "fileio.h"
#include "plot_bench.h"

static const char report_bench_help[] =
    "usage: dinamo report --bench DIR [--out DIR2]\n"
    "\n"
    "Draws, as PNG and SVG into DIR2 (default DIR/report), what 'dinamo bench' wrote\n"
    "into DIR: from metrics_s.csv and/or metrics_ml.csv, integrated_<metric>_<method>\n"
    "(historical against continual regime, over datasets) for the eight metrics,\n"
    "and with both, comparison_<metric> (DINAMO-S against DINAMO-ML, continual\n"
    "regime, both 95% intervals written in); from alpha_scan_summary.csv ('bench\n"
    "--alpha-scan'), metrics_vs_alpha_adaptivity and metrics_vs_alpha_nsteps. An\n"
    "index.html shows them with each method's aggregated table. A damaged CSV is\n"
    "refused with its file and line.\n";

static const char *const method_key[2] = {"s", "ml"};
static const char *const method_name[2] = {"DINAMO-S", "DINAMO-ML"};
/* The eight metrics (the 16 main columns are these _historical, then _continual). */
static const char *const metric[8] = {"balanced_accuracy", "accuracy", "specificity",
                                      "sensitivity", "precision", "jaccard_distance",
                                      "nsteps_to_adapt", "adaptivity_index"};
static const char *const metric_label[8] = {"balanced accuracy", "accuracy", "specificity",
                                            "sensitivity", "precision", "Jaccard distance",
                                            "number of steps to adapt", "adaptivity index"};

typedef struct rb_t {
    char in[2048], out[4096];
    dn_btable_t *m[2];      /* metrics_<method>.csv, or NULL: absent */
    dn_btable_t *scan;      /* alpha_scan_summary.csv, or NULL */
    int drawn[2][8];        /* integrated figure drawn */
    int compared[8];        /* comparison figure drawn */
    int alpha_drawn[2];
} rb_t;

static int parse_args(args_t *a, rb_t *r)
{
    char *name;
    const char *v;
    int rc;
    while ((rc = next_arg(a, "--help --verbose", &name, &v)) > 0) {
        if (!name)
            return usage_error(a->cmd, "unexpected argument '%s'", v);
        if (!strcmp(name, "--help")) {
            fputs(report_bench_help, stdout);
            return 0;
        } else if (!strcmp(name, "--bench")) {
            if (snprintf(r->in, sizeof r->in, "%s", v) >= (int)sizeof r->in)
                return usage_error(a->cmd, "%s", "--bench: path too long");
        } else if (!strcmp(name, "--out")) {
            if (snprintf(r->out, sizeof r->out, "%s", v) >= (int)sizeof r->out - 64)
                return usage_error(a->cmd, "%s", "--out: path too long");
        } else if (strcmp(name, "--verbose")) {
            return usage_error(a->cmd, "unknown option %s (with --bench: --out only)", name);
        }
    }
    if (rc < 0)
        return 2;
    if (!r->in[0])
        return usage_error(a->cmd, "%s", "--bench DIR is required");
    if (!r->out[0])
        snprintf(r->out, sizeof r->out, "%s/report", r->in);
    return -1;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The inputs present in DIR, each read and checked for its columns. */
static int read_inputs(rb_t *r, dn_err_t *err)
{
    char path[4200];
    const char *need[16];
    for (int k = 0; k < 16; k++)
        need[k] = dn_metric_column_name(k);
    for (int m = 0; m < 2; m++) {
        snprintf(path, sizeof path, "%s/metrics_%s.csv", r->in, method_key[m]);
        if (!exists(path))
            continue;
        int rc = dn_btable_read(path, &r->m[m], err);
        if (!rc)
            rc = dn_btable_require(r->m[m], need, 16, err);
        if (rc)
            return rc;
    }
    snprintf(path, sizeof path, "%s/alpha_scan_summary.csv", r->in);
    if (exists(path)) {
        static const char *const scan_need[] = {
            "alpha", "balanced_accuracy_continual_mean", "balanced_accuracy_continual_std",
            "jaccard_distance_continual_mean", "jaccard_distance_continual_std",
            "adaptivity_index_continual_mean", "adaptivity_index_continual_std",
            "nsteps_to_adapt_continual_mean", "nsteps_to_adapt_continual_std"};
        int rc = dn_btable_read(path, &r->scan, err);
        if (!rc)
            rc = dn_btable_require(r->scan, scan_need, 9, err);
        if (rc)
            return rc;
    }
    if (!r->m[0] && !r->m[1] && !r->scan)
        return dn_err_set(err, DN_ENOTFOUND, "%s: no metrics_s.csv, metrics_ml.csv or "
                          "alpha_scan_summary.csv (run dinamo bench --out %s)", r->in, r->in);
    return 0;
}

static int count_values(const double *v, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += !isnan(v[i]);
    return c;
}

/* A column of a metrics table by name (present: read_inputs checked). */
static const double *col(const dn_btable_t *t, const char *metric_, const char *regime)
{
    char name[96];
    snprintf(name, sizeof name, "%s_%s", metric_, regime);
    return dn_btable_column(t, dn_btable_find(t, name));
}

static int draw_figures(rb_t *r, dn_err_t *err)
{
    char base[4200], title[160];
    for (int m = 0; m < 2; m++) {
        if (!r->m[m])
            continue;
        int n = dn_btable_rows(r->m[m]);
        for (int k = 0; k < 8; k++) {
            const double *h = col(r->m[m], metric[k], "historical");
            const double *c = col(r->m[m], metric[k], "continual");
            if (!count_values(h, n) && !count_values(c, n))
                continue; /* said in index.html */
            snprintf(base, sizeof base, "%s/integrated_%s_%s", r->out, metric[k], method_key[m]);
            snprintf(title, sizeof title, "%s: %s over datasets", method_name[m],
                     metric_label[k]);
            int rc = dn_plot_bench_pair(base, title, metric_label[k], "historical regime", h, n,
                                        "continual regime", c, n, k < 5, err);
            if (rc)
                return rc;
            r->drawn[m][k] = 1;
        }
    }
    for (int k = 0; r->m[0] && r->m[1] && k < 8; k++) {
        int ns = dn_btable_rows(r->m[0]), nm = dn_btable_rows(r->m[1]);
        const double *s = col(r->m[0], metric[k], "continual");
        const double *ml = col(r->m[1], metric[k], "continual");
        if (!count_values(s, ns) && !count_values(ml, nm))
            continue;
        snprintf(base, sizeof base, "%s/comparison_%s", r->out, metric[k]);
        snprintf(title, sizeof title, "continual regime: %s, DINAMO-S against DINAMO-ML",
                 metric_label[k]);
        int rc = dn_plot_bench_pair(base, title, metric_label[k], "DINAMO-S", s, ns, "DINAMO-ML",
                                    ml, nm, k < 5, err);
        if (rc)
            return rc;
        r->compared[k] = 1;
    }
    if (r->scan) {
        const dn_btable_t *t = r->scan;
        static const char *const third[2] = {"adaptivity_index", "nsteps_to_adapt"};
        static const char *const third_label[2] = {"adaptivity index", "steps to adapt"};
        static const char *const fig[2] = {"adaptivity", "nsteps"};
        for (int f = 0; f < 2; f++) {
            const char *const names[3] = {"balanced accuracy", "Jaccard distance",
                                          third_label[f]};
            const char *const key[3] = {"balanced_accuracy", "jaccard_distance", third[f]};
            const double *mean[3], *sd[3];
            for (int p = 0; p < 3; p++) {
                char nm[96];
                snprintf(nm, sizeof nm, "%s_continual_mean", key[p]);
                mean[p] = dn_btable_column(t, dn_btable_find(t, nm));
                snprintf(nm, sizeof nm, "%s_continual_std", key[p]);
                sd[p] = dn_btable_column(t, dn_btable_find(t, nm));
            }
            snprintf(base, sizeof base, "%s/metrics_vs_alpha_%s", r->out, fig[f]);
            int rc = dn_plot_bench_alpha(base, "DINAMO-S, continual regime: mean ± std over "
                                         "datasets against #ga", dn_btable_rows(t),
                                         dn_btable_column(t, dn_btable_find(t, "alpha")), names,
                                         mean, sd, err);
            if (rc) {
                char msg[DN_ERRMSG_MAX];
                snprintf(msg, sizeof msg, "%s", err->msg);
                return dn_err_set(err, rc, "%s/alpha_scan_summary.csv: %s", r->in, msg);
            }
            r->alpha_drawn[f] = 1;
        }
    }
    return 0;
}

static void img(FILE *html, const char *base)
{
    fprintf(html, "<a href=\"%s.svg\"><img src=\"%s.png\"></a>\n", base, base);
}

static void put_cell(FILE *html, double x, int count)
{
    if (isnan(x))
        fputs("<td>&ndash;</td>", html);
    else if (count)
        fprintf(html, "<td>%.0f</td>", x);
    else
        fprintf(html, "<td>%.4g</td>", x);
}

/* A method's describe() table: a row per metric (both regimes), a column per
 * statistic. */
static int describe_table(FILE *html, const dn_btable_t *t, dn_err_t *err)
{
    fputs("<table class=\"agg\"><tr><th>metric</th>", html);
    for (int s = 0; s < DN_DESCRIBE_N; s++)
        fprintf(html, "<th>%s</th>", dn_describe_label(s));
    fputs("</tr>\n", html);
    for (int k = 0; k < DN_METRIC_COLUMNS; k++) {
        int c = dn_btable_find(t, dn_metric_column_name(k));
        if (c < 0)
            continue; /* the lo/hi columns are optional */
        double d[DN_DESCRIBE_N];
        int rc = dn_describe(dn_btable_column(t, c), dn_btable_rows(t), d, err);
        if (rc)
            return rc;
        fprintf(html, "<tr><th>%s</th>", dn_metric_column_name(k));
        for (int s = 0; s < DN_DESCRIBE_N; s++)
            put_cell(html, d[s], s == 0);
        fputs("</tr>\n", html);
    }
    fputs("</table>\n", html);
    return 0;
}

static int write_index(const rb_t *r, dn_err_t *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/index.html", r->out);
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *html = dn_outfile_stream(of);
    int rc = 0;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dinamo bench report"
          "</title><style>body{font-family:sans-serif;margin:2em}img{max-width:48%}"
          "td,th{padding:0 .6em;text-align:right}table.agg{font-size:85%;"
          "border-collapse:collapse}table.agg tr:nth-child(even){background:#f0f0f0}"
          "</style></head><body>\n<h1>Results over datasets: ", html);
    html_text(html, r->in);
    fputs("</h1>\n", html);
    for (int m = 0; m < 2 && !rc; m++) {
        if (!r->m[m])
            continue;
        fprintf(html, "<h2>%s: %d datasets (metrics_%s.csv)</h2>\n", method_name[m],
                dn_btable_rows(r->m[m]), method_key[m]);
        for (int k = 0; k < 8; k++) {
            char base[128];
            snprintf(base, sizeof base, "integrated_%s_%s", metric[k], method_key[m]);
            if (r->drawn[m][k])
                img(html, base);
            else
                fprintf(html, "<p>%s: no dataset has a value (NaN everywhere)</p>\n",
                        metric_label[k]);
        }
        fputs("<h3>Aggregated (pandas describe; NaN left out)</h3>\n", html);
        rc = describe_table(html, r->m[m], err);
    }
    if (!rc && r->m[0] && r->m[1]) {
        fputs("<h2>DINAMO-S against DINAMO-ML, continual regime</h2>\n", html);
        for (int k = 0; k < 8; k++) {
            char base[128];
            snprintf(base, sizeof base, "comparison_%s", metric[k]);
            if (r->compared[k])
                img(html, base);
        }
    } else if (!rc && (r->m[0] || r->m[1])) {
        fprintf(html, "<p>No comparison: metrics_%s.csv is missing (run dinamo bench --method "
                "%s).</p>\n", r->m[0] ? "ml" : "s", r->m[0] ? "ml" : "s");
    }
    if (!rc && r->scan) {
        fprintf(html, "<h2>DINAMO-S metrics against alpha (%d alphas)</h2>\n",
                dn_btable_rows(r->scan));
        img(html, "metrics_vs_alpha_adaptivity");
        img(html, "metrics_vs_alpha_nsteps");
    }
    fputs("</body></html>\n", html);
    if (rc) {
        dn_outfile_abort(&of);
        return rc;
    }
    return dn_outfile_commit(&of, err);
}

int cmd_report_bench(args_t *a)
{
    rb_t r;
    memset(&r, 0, sizeof r);
    int status = parse_args(a, &r);
    if (status >= 0)
        return status;
    dn_err_t err = {0};
    int rc = read_inputs(&r, &err);
    if (!rc)
        rc = dn_mkdirs(r.out, &err);
    if (!rc)
        rc = draw_figures(&r, &err);
    if (!rc)
        rc = write_index(&r, &err);
    if (!rc)
        printf("report: %s/index.html (%s%s%s)\n", r.out, r.m[0] ? "DINAMO-S " : "",
               r.m[1] ? "DINAMO-ML " : "", r.scan ? "alpha scan" : "");
    for (int m = 0; m < 2; m++)
        dn_btable_destroy(&r.m[m]);
    dn_btable_destroy(&r.scan);
    return rc ? fail_with(a->cmd, &err, rc) : 0;
}
