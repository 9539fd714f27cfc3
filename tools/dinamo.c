/* dinamo.c: the offline command-line tool: main, which hands each command to
 * its file (generate.c, score here, evaluate.c, bench.c, label.c, report.c,
 * inspect.c, health.c, keygen.c, user.c, progress.c;
 * what they share is cli.c), and `dinamo score`, which scores every run of an
 * input as the pipeline does and writes one CSV row per run.
 *
 * Every subcommand is a thin layer over lib/: argument parsing, reading input,
 * calling the library, writing output through dn_outfile (temporary file, then
 * rename) so a failed command never leaves a half-written file. Exit status 0 on
 * success, 1 on bad input or failure (the message names file, line and problem),
 * 2 on bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_setup.h"
#include "dataset.h"
#include "dinamo_s.h"
#include "error.h"
#include "evaluate.h"
#include "fileio.h"
#include "results.h"
#include "rootdata.h"

#include "cli.h"

#define DINAMO_VERSION "0.1.0"

/* ---- score --------------------------------------------------------------------- */

static const char score_help[] =
    "usage: dinamo score --method s|ml --in PATH --out SCORES.csv\n"
    "                    [--key KEY] [--labels LABELS.csv] [--pulls FILE]\n"
    "                    [--ref-root FILE.root]\n"
    "                    [--min-entries N] [--policy POLICY.csv]\n"
    "                    [--alpha A] [--n-historical N]                  (s)\n"
    "                    [--horizons LIST] [--horizon-resolution R]      (s)\n"
    "                    [--stat-debiasing 0|1] [--n-resamples N]        (s)\n"
    "                    [--debiasing-seed S]                            (s)\n"
    "                    [--weights FILE] [--no-train] [--seed S]        (ml)\n"
    "                    [--ml-threads T]                                (ml)\n"
    "\n"
    "PATH is a dataset directory (runs.csv ...), a runs CSV (run,label,b0,... or\n"
    "run,b0,...), an .npz dataset written by the Python reference (x, y, ...),\n"
    "a directory of UHI JSON files, one run each (hist / boost-histogram output),\n"
    "or a ROOT file or a directory of ROOT files, one run each (TH1/TH2; key and\n"
    "run from CMS's DQMData/Run N/<Sub>/Run summary/<path>, else the path in the\n"
    "file and the file name's last number), taken in run-number order; --key\n"
    "names the histogram when a run holds several. Weighted UHI storage and\n"
    "ROOT's stored sums of squared weights give per-bin variances that replace\n"
    "the Poisson estimate. --labels LABELS.csv (run,label with good/bad/0/1) sets the\n"
    "labels of the runs it names. Unusable files and histograms are named on\n"
    "stderr and left out; the rest is scored. Runs with fewer than --min-entries\n"
    "entries are insufficient statistics (status insufficient_statistics: no\n"
    "score, no update), as empty runs always are. --policy POLICY.csv (match,\n"
    "min_entries,warning,bad per key, key prefix or *) sets --min-entries for\n"
    "--key (and, for evaluate, the threshold) unless given.\n"
    "\n"
    "Scores every run in time order against the evolving reference, updating it\n"
    "with the runs labelled good. SCORES.csv: run,label,chi2,score,status with\n"
    "score = log(chi2/N_b) and status ok or insufficient_statistics (empty run).\n"
    "--horizons LIST (s) also scores every run against references frozen that\n"
    "many runs ago (e.g. 100,500; docs/horizons.md): SCORES.csv adds\n"
    "chi2_<h>,score_<h> per horizon, empty until the horizon has a reference.\n"
    "--pulls FILE writes, per run, the pulls, the reference and its uncertainty\n"
    "that scored it: run,pull_b0..,ref_b0..,ref_unc_b0..\n"
    "--ref-root FILE.root writes the same references as ROOT histograms: per\n"
    "scored run a directory run_000123 with ref (TH1D, or TH2D for a 2-D\n"
    "histogram: contents the reference mean, errors its sigma) and obs (the run\n"
    "normalised to unit sum, errors its uncertainty).\n"
    "Without --alpha, alpha is tuned on the first N runs (default 1000) by ROC AUC\n"
    "and printed on stderr. --stat-debiasing 1 (s) averages chi2 and pulls over\n"
    "--n-resamples N (default 100) Gaussian resamplings of the reference, or of\n"
    "the run when its entries exceed the reference's (EWMA) integral, as the\n"
    "reference implementation's stat_debiasing, in tuning and scoring; the draws\n"
    "come from --debiasing-seed S (default 22; with --key, that key's stream, the\n"
    "one the scorer_s service uses). Not with --horizons. DINAMO-ML starts from\n"
    "a model initialised from --seed (default 0) or from --weights (DNML file or\n"
    "raw SPEC 3 float32), and trains online on the good runs unless --no-train\n"
    "(pure inference: each run's context of previous good runs, frozen weights);\n"
    "--ml-threads 2 puts a second core on each training step, with the same\n"
    "scores bit for bit. --verbose names the BLAS kernels.\n";

static int write_pulls_csv(const char *path, const dn_dataset_t *ds, const double *pulls,
                           const double *ref_mu, const double *ref_sigma, dn_err_t *err)
{
    const int nb = ds->n_bins;
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err ? err->code : DN_EIO;
    dn_csv_t w;
    dn_csv_init(&w, dn_outfile_stream(of));
    dn_pulls_csv_header(&w, nb);
    for (int i = 0; i < ds->n_runs; i++) {
        const size_t at = (size_t)i * (size_t)nb;
        dn_pulls_csv_row(&w, ds->run[i], pulls + at, ref_mu + at, ref_sigma + at, nb);
    }
    return dn_outfile_commit(&of, err);
}

typedef struct score_args_t {
    dn_eval_opts_t opts;
    const char *in, *out, *pulls_path, *ref_root;
    input_args_t inargs;
} score_args_t;

/* Reads the command line into *s. Returns -1 to go on, else the exit status
 * (0 after --help, 2 after a usage error already reported). */
static int parse_score_args(args_t *a, score_args_t *s)
{
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help --no-train --verbose", &name, &v)) > 0) {
        if (!name)
            return usage_error(a->cmd, "unexpected argument '%s'", v);
        if (!strcmp(name, "--help")) {
            fputs(score_help, stdout);
            return 0;
        } else if (!strcmp(name, "--verbose")) {
            continue;
        } else if (!strcmp(name, "--in")) {
            s->in = v;
        } else if (!strcmp(name, "--out")) {
            s->out = v;
        } else if (!strcmp(name, "--pulls")) {
            s->pulls_path = v;
        } else if (!strcmp(name, "--ref-root")) {
            s->ref_root = v;
        } else if (!strcmp(name, "--threshold") || !strcmp(name, "--boot-seed")) {
            return usage_error(a->cmd, "unknown option %s", name);
        } else {
            int erc = parse_scoring_opt(a->cmd, name, v, &s->inargs, &s->opts);
            if (erc)
                return erc;
        }
    }
    if (r < 0)
        return 2;
    if (!s->in || !s->out)
        return usage_error(a->cmd, "%s", "--in and --out are required");
    if (s->opts.method == DN_METHOD_S && (s->opts.ml_weights || s->opts.ml_frozen))
        return usage_error(a->cmd, "%s", "--weights and --no-train apply to --method ml");
    if (s->opts.method != DN_METHOD_S && s->opts.horizons && s->opts.horizons->n > 1)
        return usage_error(a->cmd, "%s", "--horizons apply to --method s");
    if (apply_debiasing(a->cmd, &s->inargs, &s->opts))
        return 2;
    return -1;
}

/* DINAMO-S without --alpha: alpha tuned on the historical runs, said on stderr. */
static int tune_alpha(const dn_dataset_t *ds, dn_eval_opts_t *o, dn_err_t *err)
{
    int hist = o->n_hist < ds->n_runs ? o->n_hist : ds->n_runs;
    double auc;
    dn_debias_t db = dn_eval_debias(o, NULL); /* seed already the key's */
    int rc = dn_s_tune_alpha_debiased(ds->counts, ds->variances, ds->label, hist, ds->n_bins,
                                      o->min_entries, db.n_resamples, db.seed, &o->alpha,
                                      &auc, err);
    if (rc)
        return dn_err_prefix(err, "cannot tune alpha (give --alpha)");
    fprintf(stderr, "dinamo score: alpha %.3f tuned on the first %d runs (ROC AUC %.4f)\n",
            o->alpha, hist, auc);
    return 0;
}

static int cmd_score(args_t *a)
{
    score_args_t s = {0};
    dn_eval_opts_default(&s.opts);
    int status = parse_score_args(a, &s);
    if (status >= 0)
        return status;
    dn_eval_opts_t *o = &s.opts;
    const int is_s = o->method == DN_METHOD_S;
    const char *pulls_path = s.pulls_path, *out = s.out;
    const int refs = pulls_path || s.ref_root; /* the references are wanted */
    set_progress(o, a->cmd);

    dn_err_t err = {0};
    dn_dataset_t *ds = NULL;
    double *chi2 = NULL, *score = NULL, *pulls = NULL, *ref_mu = NULL, *ref_sigma = NULL;
    int rc = apply_policy(&s.inargs, o, o->min_entries > 0, &err);
    if (!rc)
        rc = read_input(a->cmd, s.in, &s.inargs, &ds, &err);
    if (!rc && is_s && o->alpha < 0.0)
        rc = tune_alpha(ds, o, &err);
    if (rc)
        goto fail;
    const dn_hz_spec_t *hz = is_s && o->horizons && o->horizons->n > 1 ? o->horizons : NULL;
    size_t planes = hz ? (size_t)hz->n : 1;
    size_t n = (ds->n_runs ? (size_t)ds->n_runs : 1) * planes,
           cells = (ds->n_runs ? (size_t)ds->n_runs : 1) * (size_t)ds->n_bins * planes;
    chi2 = malloc(n * sizeof *chi2);
    score = malloc(n * sizeof *score);
    if (pulls_path)
        pulls = malloc(cells * sizeof *pulls);
    if (refs) {
        ref_mu = malloc(cells * sizeof *ref_mu);
        ref_sigma = malloc(cells * sizeof *ref_sigma);
    }
    if (!chi2 || !score || (pulls_path && !pulls) || (refs && (!ref_mu || !ref_sigma))) {
        rc = dn_err_set(&err, DN_ENOMEM, "out of memory for %d runs", ds->n_runs);
        goto fail;
    }
    dn_run_scores_t rs = {.chi2 = chi2, .score = score, .pulls = pulls, .ref_mu = ref_mu,
                          .ref_sigma = ref_sigma};
    dn_debias_t db = dn_eval_debias(o, NULL);
    rc = is_s ? dn_score_dataset_hz_debiased(ds, hz, o->alpha, o->min_entries, o->n_hist,
                                             o->horizon_accept_q, &db, &rs, &err)
              : dn_score_dataset_ml(ds, o, &rs, &err);
    if (!rc && pulls_path)
        rc = write_pulls_csv(pulls_path, ds, pulls, ref_mu, ref_sigma, &err);
    if (!rc && s.ref_root)
        rc = dn_root_write_references(s.ref_root, ds, ref_mu, ref_sigma, 0, NULL, &err);
    if (!rc)
        rc = write_scores_csv(out, ds, hz, chi2, score, &err);
fail:
    dn_dataset_destroy(&ds);
    free(chi2);
    free(score);
    free(pulls);
    free(ref_mu);
    free(ref_sigma);
    return rc ? fail_with(a->cmd, &err, rc) : 0;
}

/* ---- main ---------------------------------------------------------------------- */

static const char main_help[] =
    "usage: dinamo COMMAND [OPTIONS]   (dinamo COMMAND --help for details)\n"
    "\n"
    "Commands:\n"
    "  generate   write a synthetic dataset (SPEC 1) to a directory\n"
    "  score      score runs with DINAMO-S or -ML: per-run chi2/score (and pulls)\n"
    "  evaluate   tune and evaluate a method on a dataset; prints JSON metrics\n"
    "  bench      generate and evaluate many datasets; prints the paper's Table 1 row\n"
    "  label      give a running cluster a person's verdict on a run\n"
    "  keygen     make a key pair for a secured cluster and list it under roles\n"
    "  user       add, list or remove the dashboard's users (who may give a verdict)\n"
    "  report     figures and an HTML page of an offline evaluation (PNG, SVG)\n"
    "  inspect    list the histograms an input holds, as the feed would publish them\n"
    "  health     is a service's loop alive? (its heartbeat file; exit 0 or 1)\n"
    "  progress   how far a running cluster got: runs per stage, rate, time left\n"
    "  version    print the version\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_help, stderr);
        return 2;
    }
    /* A healthcheck runs every few seconds in every container: it reads one
     * file and needs no BLAS set-up (which may re-execute the program); the
     * progress display reads the same files. */
    if (!strcmp(argv[1], "health")) {
        args_t h = {.argc = argc, .argv = argv, .pos = 2, .cmd = argv[1]};
        return cmd_health(&h);
    }
    if (!strcmp(argv[1], "progress")) {
        args_t p = {.argc = argc, .argv = argv, .pos = 2, .cmd = argv[1]};
        return cmd_progress(&p);
    }
    /* Before anything loads BLAS kernels: pick the right OpenBLAS core type (this
     * may re-execute the program once with OPENBLAS_CORETYPE set). */
    int verbose = 0;
    for (int i = 2; i < argc; i++)
        verbose |= !strcmp(argv[i], "--verbose");
    dn_blas_init(argc, argv, verbose);
    args_t a = {.argc = argc, .argv = argv, .pos = 2, .cmd = argv[1]};
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        fputs(main_help, stdout);
        return 0;
    }
    if (!strcmp(c, "version") || !strcmp(c, "--version")) {
        puts("dinamo " DINAMO_VERSION);
        return 0;
    }
    if (!strcmp(c, "generate"))
        return cmd_generate(&a);
    if (!strcmp(c, "score"))
        return cmd_score(&a);
    if (!strcmp(c, "evaluate"))
        return cmd_evaluate(&a);
    if (!strcmp(c, "bench"))
        return cmd_bench(&a);
    if (!strcmp(c, "label"))
        return cmd_label(&a);
    if (!strcmp(c, "keygen"))
        return cmd_keygen(&a);
    if (!strcmp(c, "user"))
        return cmd_user(&a);
    if (!strcmp(c, "report"))
        return cmd_report(&a);
    if (!strcmp(c, "inspect"))
        return cmd_inspect(&a);
    fprintf(stderr, "dinamo: unknown command '%s'\n\n%s", c, main_help);
    return 2;
}
