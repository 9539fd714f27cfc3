/* evaluate.c: `dinamo evaluate`, the paper's evaluation of one method on one
 * input (SPEC 4): alpha and the threshold tuned on the historical regime
 * unless given, the continual regime scored, its metrics printed as one JSON
 * object (results.h) and, with --out, written to a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "evaluate.h"
#include "fileio.h"
#include "results.h"

static const char evaluate_help[] =
    "usage: dinamo evaluate DIR|--in PATH --method s|ml [--alpha A] [--threshold T]\n"
    "                       [--n-historical N] [--boot-seed S] [--out FILE]\n"
    "                       [--scores SCORES.csv] [--horizons LIST]\n"
    "                       [--horizon-resolution R]\n"
    "                       [--key KEY] [--labels LABELS.csv]\n"
    "                       [--min-entries N] [--policy POLICY.csv]\n"
    "                       [--stat-debiasing 0|1] [--n-resamples N]\n"
    "                       [--debiasing-seed S]                      (s; as score)\n"
    "                       [--seed S] [--weights FILE] [--no-train]  (ml)\n"
    "                       [--ml-threads T]                          (ml)\n"
    "                       [--table] [--metrics-csv FILE]\n"
    "                       [the reference's options, below]\n"
    "\n"
    "Tunes alpha (unless given) and the threshold (unless given) on the first N runs\n"
    "(default 1000, the historical regime), scores the whole dataset and prints one\n"
    "JSON object with the continual-regime metrics of SPEC 4: alpha, threshold,\n"
    "balanced_accuracy, sensitivity, specificity, adaptation_time, jaccard_distance\n"
    "(null when the dataset has no truth, or with a warning when its bin edges are\n"
    "unknown: no meta.json bin_edges), and counts. The input is read as by\n"
    "dinamo score (see its --help): a dataset directory, a runs CSV, an .npz\n"
    "dataset of the Python reference (its truth included), a directory of UHI\n"
    "JSON runs, or a ROOT file or directory of ROOT files. DINAMO-ML has no alpha (null); it trains online from the first run.\n"
    "--scores also writes the scores it computed, as `dinamo score --out` writes\n"
    "them for the same options (byte for byte): one run instead of two.\n"
    "--horizons (DINAMO-S): also score every run against references frozen that many\n"
    "runs ago, e.g. --horizons 100,500 (docs/horizons.md): each horizon gets its own\n"
    "threshold tuned on the historical regime, and a run is bad when any horizon is\n"
    "over its own; the JSON then adds horizons, horizon_thresholds, horizon_flagged.\n"
    "R snapshots per lag (default 4): the reference used is lag to lag*(1+1/R) old.\n"
    "\n"
    "Both regimes as the reference reports them (results_validation.py), at the\n"
    "threshold used: the JSON adds <metric>_historical and <metric>_continual for\n"
    "balanced_accuracy, accuracy, specificity, sensitivity, precision,\n"
    "jaccard_distance, nsteps_to_adapt and adaptivity_index, the bootstrap 2.5% and\n"
    "97.5% percentiles of the five rates as <rate>_<regime>_lo/_hi\n"
    "(--n-metrics-bootstrap-trials resamples of the regime's runs, seed\n"
    "--bootstrap-seed), and tp, fn, tn, fp, n_runs, n_change_points per regime.\n"
    "--table prints them as a table instead of the JSON (--out still gets the JSON).\n"
    "--metrics-csv FILE writes them as the reference's metrics_<seed>.csv: one header\n"
    "and one row of its 16 columns, in its order (undefined values empty).\n";

/* One regime's metrics, their bands, for a person reading a terminal. */
static void print_table(const dn_eval_result_t *r, FILE *f)
{
    static const char *const names[DN_N_RATES] = {"balanced_accuracy", "accuracy",
                                                  "sensitivity", "specificity", "precision"};
    const dn_regime_metrics_t *m[2] = {&r->historical, &r->continual};
    fprintf(f, "method %s  alpha %.3f  threshold %.4f\n", r->method == DN_METHOD_S ? "s" : "ml",
            r->alpha, r->threshold);
    fprintf(f, "%-18s %-26s %-26s\n", "metric", "historical [2.5%, 97.5%]",
            "continual [2.5%, 97.5%]");
    for (int k = 0; k < DN_N_RATES; k++) {
        fprintf(f, "%-18s", names[k]);
        for (int g = 0; g < 2; g++)
            fprintf(f, " %.4f [%.4f, %.4f]   ", m[g]->rate[k], m[g]->rate_lo[k],
                    m[g]->rate_hi[k]);
        fputc('\n', f);
    }
    fprintf(f, "%-18s %-26.4f %-26.4f\n", "jaccard_distance", m[0]->jaccard_distance,
            m[1]->jaccard_distance);
    fprintf(f, "%-18s %-26.4g %-26.4g\n", "nsteps_to_adapt", m[0]->nsteps_to_adapt,
            m[1]->nsteps_to_adapt);
    fprintf(f, "%-18s %-26.4g %-26.4g\n", "adaptivity_index", m[0]->adaptivity_index,
            m[1]->adaptivity_index);
    for (int g = 0; g < 2; g++)
        fprintf(f, "%-10s runs %d  tp %d fn %d tn %d fp %d  change points %d\n",
                g ? "continual" : "historical", m[g]->n_runs, m[g]->tp, m[g]->fn, m[g]->tn,
                m[g]->fp, m[g]->n_change_points);
}

static int write_metrics_csv(const char *path, const dn_eval_result_t *r, dn_err_t *err)
{
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code ? err->code : DN_EIO;
    dn_csv_t w;
    dn_csv_init(&w, dn_outfile_stream(of));
    dn_metrics_csv_header(&w);
    dn_metrics_csv_row(&w, r);
    return dn_outfile_commit(&of, err);
}


int cmd_evaluate(args_t *a)
{
    dn_eval_opts_t opts;
    dn_eval_opts_default(&opts);
    const char *dir = NULL, *out = NULL, *scores = NULL, *metrics_csv = NULL;
    int table = 0;
    input_args_t inargs = {0};
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help --no-train --verbose --table", &name, &v)) > 0) {
        if (name && !strcmp(name, "--verbose"))
            continue;
        if (name && !strcmp(name, "--in")) {
            if (dir)
                return usage_error(a->cmd, "%s", "give the input once (DIR or --in PATH)");
            dir = v;
            continue;
        }
        if (!name) {
            if (dir)
                return usage_error(a->cmd, "unexpected argument '%s'", v);
            dir = v;
            continue;
        }
        if (!strcmp(name, "--help")) {
            fputs(evaluate_help, stdout);
            print_ref_opts_help(stdout);
            return 0;
        }
        if (!strcmp(name, "--out")) {
            out = v;
            continue;
        }
        if (!strcmp(name, "--table")) {
            table = 1;
            continue;
        }
        if (!strcmp(name, "--metrics-csv")) {
            metrics_csv = v;
            continue;
        }
        if (!strcmp(name, "--scores")) {
            scores = v;
            continue;
        }
        int erc = parse_scoring_opt(a->cmd, name, v, &inargs, &opts);
        if (erc)
            return erc;
    }
    if (r < 0)
        return 2;
    if (!dir)
        return usage_error(a->cmd, "%s", "an input is required (DIR or --in PATH)");
    if (opts.method != DN_METHOD_S && opts.horizons && opts.horizons->n > 1)
        return usage_error(a->cmd, "%s", "--horizons apply to --method s");
    if (apply_debiasing(a->cmd, &inargs, &opts))
        return 2;
    set_progress(&opts, a->cmd);
    dn_err_t err = {0};
    dn_dataset_t *ds = NULL;
    dn_eval_result_t res;
    int rc = apply_policy(&inargs, &opts, opts.min_entries > 0, &err);
    if (!rc)
        rc = read_input(a->cmd, dir, &inargs, &ds, &err);
    double *chi2 = NULL, *score = NULL;
    const dn_hz_spec_t *hz = opts.horizons && opts.horizons->n > 1 ? opts.horizons : NULL;
    if (!rc && scores) {
        size_t n = (ds->n_runs > 0 ? (size_t)ds->n_runs : 1) * (hz ? (size_t)hz->n : 1);
        chi2 = malloc(n * sizeof *chi2);
        score = malloc(n * sizeof *score);
        if (!chi2 || !score)
            rc = dn_err_set(&err, DN_ENOMEM, "out of memory for %d runs", ds->n_runs);
    }
    dn_run_scores_t runs = {.chi2 = chi2, .score = score};
    if (!rc)
        rc = dn_evaluate_runs(ds, &opts, scores ? &runs : NULL, &res, &err);
    if (!rc && scores)
        rc = write_scores_csv(scores, ds, hz, chi2, score, &err);
    free(chi2);
    free(score);
    dn_dataset_destroy(&ds);
    if (rc)
        return fail_with(a->cmd, &err, rc);
    if (res.edges_unknown)
        warn_edges_unknown(a->cmd);
    if (table)
        print_table(&res, stdout);
    else
        dn_eval_result_write_json(&res, stdout);
    if (metrics_csv && (rc = write_metrics_csv(metrics_csv, &res, &err)))
        return fail_with(a->cmd, &err, rc);
    if (out) {
        dn_outfile_t *of = dn_outfile_open(out, &err);
        if (!of)
            return fail_with(a->cmd, &err, DN_EIO);
        dn_eval_result_write_json(&res, dn_outfile_stream(of));
        if ((rc = dn_outfile_commit(&of, &err)))
            return fail_with(a->cmd, &err, rc);
    }
    return 0;
}
