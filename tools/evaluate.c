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
    "R snapshots per lag (default 4): the reference used is lag to lag*(1+1/R) old.\n";


int cmd_evaluate(args_t *a)
{
    dn_eval_opts_t opts;
    dn_eval_opts_default(&opts);
    const char *dir = NULL, *out = NULL, *scores = NULL;
    input_args_t inargs = {0};
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help --no-train --verbose", &name, &v)) > 0) {
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
            return 0;
        }
        if (!strcmp(name, "--out")) {
            out = v;
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
    dn_eval_result_write_json(&res, stdout);
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
