/* dinamo.c: the offline command-line tool (generate, score, evaluate, bench).
 *
 * Every subcommand is a thin layer over lib/: argument parsing, reading input,
 * calling the library, writing output through dn_outfile (temporary file, then
 * rename) so a failed command never leaves a half-written file. Exit status 0 on
 * success, 1 on bad input or failure (the message names file, line and problem),
 * 2 on bad usage. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blas_setup.h"
#include "dataset.h"
#include "dinamo_s.h"
#include "error.h"
#include "evaluate.h"
#include "results.h"
#include "input.h"
#include "policy.h"
#include "fileio.h"
#include "generator.h"
#include "histo.h"
#include "metrics.h"
#include "mlfile.h"

#include "cli.h"

#define DINAMO_VERSION "0.1.0"

/* ---- argument parsing -------------------------------------------------------- */

int usage_error(const char *cmd, const char *fmt, const char *what)
{
    fprintf(stderr, "dinamo %s: ", cmd);
    fprintf(stderr, fmt, what);
    fprintf(stderr, " (see 'dinamo %s --help')\n", cmd);
    return 2;
}

/* Splits "--name=value" or "--name value". Returns 1 with *name and *value set, 0 at
 * the end, -1 on a usage error already reported. Positional arguments come back
 * with *name == NULL. Flags listed in `bool_flags` (space-separated, with --)
 * take no value. */
int next_arg(args_t *a, const char *bool_flags, char **name, const char **value)
{
    static char buf[256];
    if (a->pos >= a->argc)
        return 0;
    char *arg = a->argv[a->pos++];
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        *name = NULL;
        *value = arg;
        return 1;
    }
    const char *eq = strchr(arg, '=');
    if (eq) {
        size_t len = (size_t)(eq - arg);
        if (len >= sizeof buf)
            return usage_error(a->cmd, "option too long: %s", arg), -1;
        memcpy(buf, arg, len);
        buf[len] = '\0';
        *name = buf;
        *value = eq + 1;
        return 1;
    }
    *name = arg;
    char padded[260];
    snprintf(padded, sizeof padded, " %s ", arg);
    char flags[1024];
    snprintf(flags, sizeof flags, " %s ", bool_flags ? bool_flags : "");
    if (strstr(flags, padded)) {
        *value = NULL;
        return 1;
    }
    if (a->pos >= a->argc)
        return usage_error(a->cmd, "option %s needs a value", arg), -1;
    *value = a->argv[a->pos++];
    return 1;
}

int parse_double(const char *cmd, const char *name, const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d)) {
        fprintf(stderr, "dinamo %s: %s expects a number, got '%s'\n", cmd, name, v);
        return 2;
    }
    *out = d;
    return 0;
}

int parse_int(const char *cmd, const char *name, const char *v, long lo, long hi,
                     long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "dinamo %s: %s expects an integer in [%ld, %ld], got '%s'\n", cmd,
                name, lo, hi, v);
        return 2;
    }
    *out = x;
    return 0;
}

static int parse_u64(const char *cmd, const char *name, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*v == '-') {
        fprintf(stderr, "dinamo %s: %s expects a non-negative integer, got '%s'\n", cmd,
                name, v);
        return 2;
    }
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end) {
        fprintf(stderr, "dinamo %s: %s expects a non-negative integer, got '%s'\n", cmd,
                name, v);
        return 2;
    }
    *out = (uint64_t)x;
    return 0;
}

int fail_with(const char *cmd, const dn_err_t *err, int rc)
{
    fprintf(stderr, "dinamo %s: %s\n", cmd, err->msg[0] ? err->msg : dn_strerror(rc));
    return 1;
}

/* Generator parameters as options: --<name> VALUE for every entry of the table. */
static int try_gen_param(const char *cmd, dn_gen_params_t *gp, const char *name,
                         const char *value, int *handled)
{
    *handled = 0;
    int n;
    const dn_gen_param_info_t *tab = dn_gen_param_table(&n);
    for (int i = 0; i < n; i++) {
        if (strcmp(name + 2, tab[i].name) == 0) {
            dn_err_t err = {0};
            *handled = 1;
            if (dn_gen_params_set(gp, tab[i].name, value, &err)) {
                fprintf(stderr, "dinamo %s: %s\n", cmd, err.msg);
                return 2;
            }
            return 0;
        }
    }
    return 0;
}

static void print_gen_params_help(FILE *f)
{
    int n;
    dn_gen_params_t def;
    dn_gen_params_default(&def);
    const dn_gen_param_info_t *tab = dn_gen_param_table(&n);
    fprintf(f, "\nGenerator parameters (SPEC 1), each --NAME VALUE:\n");
    for (int i = 0; i < n; i++) {
        const char *p = (const char *)&def + tab[i].offset;
        char dflt[64];
        if (tab[i].type == DN_GEN_INT)
            snprintf(dflt, sizeof dflt, "%d", *(const int *)p);
        else
            snprintf(dflt, sizeof dflt, "%g", *(const double *)p);
        fprintf(f, "  --%-20s %s (default %s)\n", tab[i].name, tab[i].help, dflt);
    }
}

/* ---- generate ---------------------------------------------------------------- */

static const char generate_help[] =
    "usage: dinamo generate --seed S --out DIR [--runs N] [--anomalous A] [PARAMS]\n"
    "\n"
    "Writes a synthetic dataset (SPEC 1) into DIR: runs.csv (run,label,b0..),\n"
    "truth.csv (run,mu,sigma,rapid_change,...) and meta.json (bin edges, every\n"
    "generator parameter, seed). The same seed gives the same dataset everywhere.\n";

static int cmd_generate(args_t *a)
{
    dn_gen_params_t gp;
    dn_gen_params_default(&gp);
    uint64_t seed = 0;
    int have_seed = 0;
    const char *out = NULL;
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help", &name, &v)) > 0) {
        if (!name)
            return usage_error(a->cmd, "unexpected argument '%s'", v);
        if (!strcmp(name, "--help")) {
            fputs(generate_help, stdout);
            print_gen_params_help(stdout);
            return 0;
        } else if (!strcmp(name, "--seed")) {
            if (parse_u64(a->cmd, name, v, &seed))
                return 2;
            have_seed = 1;
        } else if (!strcmp(name, "--out")) {
            out = v;
        } else {
            int handled;
            if (try_gen_param(a->cmd, &gp, name, v, &handled))
                return 2;
            if (!handled)
                return usage_error(a->cmd, "unknown option %s", name);
        }
    }
    if (r < 0)
        return 2;
    if (!have_seed || !out)
        return usage_error(a->cmd, "%s", "--seed and --out are required");
    dn_err_t err = {0};
    if (dn_gen_params_check(&gp, &err)) {
        fprintf(stderr, "dinamo %s: %s\n", a->cmd, err.msg);
        return 2;
    }
    dn_dataset_t *ds = NULL;
    int rc = dn_generate(&gp, seed, &ds, &err);
    if (!rc)
        rc = dn_dataset_write_dir(ds, out, &err);
    dn_dataset_destroy(&ds);
    if (rc)
        return fail_with(a->cmd, &err, rc);
    return 0;
}

/* ---- input helper -------------------------------------------------------------- */

/* --in names a dataset directory, a runs CSV, an .npz dataset or a directory of
 * UHI JSON runs (input.h); --key picks a UHI histogram, --labels adds labels.
 * Files and histograms left out are named on stderr as warnings. */

static void input_warn(void *ctx, const char *msg)
{
    fprintf(stderr, "dinamo %s: warning: %s\n", (const char *)ctx, msg);
}

/* Takes --key and --labels; *handled = 0 for anything else. */
void parse_input_opt(const char *name, const char *v, input_args_t *in, int *handled)
{
    *handled = 1;
    if (!strcmp(name, "--key"))
        in->key = v;
    else if (!strcmp(name, "--labels"))
        in->labels = v;
    else if (!strcmp(name, "--policy"))
        in->policy = v;
    else
        *handled = 0;
}

/* --policy: the judgement of the histogram read (by --key; offline inputs carry
 * no subsystem) gives --min-entries and, for evaluate, the bad threshold, unless
 * those were given on the command line. */
int apply_policy(const input_args_t *in, dn_eval_opts_t *o, int min_given,
                        dn_err_t *err)
{
    if (!in->policy)
        return DN_OK;
    dn_policy_t *p = dn_policy_load(in->policy, err);
    if (!p)
        return err->code;
    dn_judge_t j = dn_policy_lookup(p, in->key, NULL);
    dn_policy_destroy(&p);
    if (!min_given)
        o->min_entries = j.min_entries;
    if (isnan(o->threshold) && !isnan(j.bad))
        o->threshold = j.bad;
    return DN_OK;
}

int read_input(const char *cmd, const char *path, const input_args_t *in,
                      dn_dataset_t **ds, dn_err_t *err)
{
    dn_input_opts_t o = {.key = in->key,
                         .labels_path = in->labels,
                         .warn = input_warn,
                         .warn_ctx = (void *)cmd};
    int skipped = 0;
    int rc = dn_input_read_dataset(path, &o, ds, &skipped, err);
    if (!rc && skipped)
        fprintf(stderr, "dinamo %s: %d warnings; %d runs read from %s\n", cmd, skipped,
                (*ds)->n_runs,
                path);
    return rc;
}


/* Progress of a long DINAMO-ML scoring, on a terminal only. */
static void ml_progress(void *ctx, int done, int total)
{
    const char *cmd = ctx;
    fprintf(stderr, "\r%s: DINAMO-ML %d/%d runs   ", cmd, done, total);
    if (done >= total)
        fputs("\r\033[K", stderr);
}

void set_progress(dn_eval_opts_t *o, const char *cmd)
{
    if (o->method == DN_METHOD_ML && isatty(STDERR_FILENO)) {
        o->progress = ml_progress;
        o->progress_ctx = (void *)cmd;
    }
}

/* ---- score --------------------------------------------------------------------- */

static const char score_help[] =
    "usage: dinamo score --method s|ml --in PATH --out SCORES.csv\n"
    "                    [--key KEY] [--labels LABELS.csv] [--pulls FILE]\n"
    "                    [--min-entries N] [--policy POLICY.csv]\n"
    "                    [--alpha A] [--n-historical N]                  (s)\n"
    "                    [--weights FILE] [--no-train] [--seed S]        (ml)\n"
    "                    [--ml-threads T]                                (ml)\n"
    "\n"
    "PATH is a dataset directory (runs.csv ...), a runs CSV (run,label,b0,... or\n"
    "run,b0,...), an .npz dataset written by the Python reference (x, y, ...), or\n"
    "a directory of UHI JSON files, one run each (hist / boost-histogram output),\n"
    "taken in run-number order; --key names the histogram when a run holds\n"
    "several. Weighted UHI storage gives per-bin variances that replace the\n"
    "Poisson estimate. --labels LABELS.csv (run,label with good/bad/0/1) sets the\n"
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
    "--pulls FILE writes, per run, the pulls, the reference and its uncertainty\n"
    "that scored it: run,pull_b0..,ref_b0..,ref_unc_b0..\n"
    "Without --alpha, alpha is tuned on the first N runs (default 1000) by ROC AUC\n"
    "and printed on stderr. DINAMO-ML starts from a model initialised from --seed\n"
    "(default 0) or from --weights (DNML file or raw SPEC 3 float32), and trains\n"
    "online on the good runs unless --no-train (pure inference: each run's context\n"
    "of previous good runs, frozen weights); --ml-threads 2 puts a second core on\n"
    "each training step, with the same scores bit for bit. --verbose names the BLAS\n"
    "kernels.\n";

static int write_scores_csv(const char *path, const dn_dataset_t *ds, const double *chi2,
                            const double *score, dn_err_t *err)
{
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err ? err->code : DN_EIO;
    FILE *f = dn_outfile_stream(of);
    fputs("run,label,chi2,score,status\n", f);
    for (int i = 0; i < ds->n_runs; i++) {
        fprintf(f, "%lld,", (long long)ds->run[i]);
        if (ds->label[i] >= 0)
            fprintf(f, "%d", ds->label[i]);
        if (isnan(chi2[i]))
            fputs(",,,insufficient_statistics\n", f);
        else
            fprintf(f, ",%.17g,%.17g,ok\n", chi2[i], score[i]);
    }
    return dn_outfile_commit(&of, err);
}

static int write_pulls_csv(const char *path, const dn_dataset_t *ds, const double *pulls,
                           const double *ref_mu, const double *ref_sigma, dn_err_t *err)
{
    int nb = ds->n_bins;
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err ? err->code : DN_EIO;
    FILE *f = dn_outfile_stream(of);
    fputs("run", f);
    const char *prefix[3] = {"pull_b", "ref_b", "ref_unc_b"};
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < nb; j++)
            fprintf(f, ",%s%d", prefix[k], j);
    fputc('\n', f);
    for (int i = 0; i < ds->n_runs; i++) {
        fprintf(f, "%lld", (long long)ds->run[i]);
        const double *rows[3] = {pulls + (size_t)i * nb, ref_mu + (size_t)i * nb,
                                 ref_sigma + (size_t)i * nb};
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < nb; j++) {
                if (isnan(rows[k][j]))
                    fputc(',', f);
                else
                    fprintf(f, ",%.17g", rows[k][j]);
            }
        fputc('\n', f);
    }
    return dn_outfile_commit(&of, err);
}

static int cmd_score(args_t *a)
{
    dn_eval_opts_t opts;
    dn_eval_opts_default(&opts);
    const char *in = NULL, *out = NULL, *pulls_path = NULL;
    input_args_t inargs = {0};
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
            in = v;
        } else if (!strcmp(name, "--out")) {
            out = v;
        } else if (!strcmp(name, "--pulls")) {
            pulls_path = v;
        } else if (!strcmp(name, "--threshold") || !strcmp(name, "--boot-seed")) {
            return usage_error(a->cmd, "unknown option %s", name);
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
    if (!in || !out)
        return usage_error(a->cmd, "%s", "--in and --out are required");
    int is_s = opts.method == DN_METHOD_S;
    if (is_s && (opts.ml_weights || opts.ml_frozen))
        return usage_error(a->cmd, "%s", "--weights and --no-train apply to --method ml");
    set_progress(&opts, a->cmd);

    dn_err_t err = {0};
    dn_dataset_t *ds = NULL;
    double *chi2 = NULL, *score = NULL, *pulls = NULL, *ref_mu = NULL, *ref_sigma = NULL;
    int rc = apply_policy(&inargs, &opts, opts.min_entries > 0, &err);
    if (!rc)
        rc = read_input(a->cmd, in, &inargs, &ds, &err);
    if (rc)
        goto fail;
    if (is_s && opts.alpha < 0.0) {
        int hist = opts.n_hist < ds->n_runs ? opts.n_hist : ds->n_runs;
        double auc;
        rc = dn_s_tune_alpha(ds->counts, ds->variances, ds->label, hist, ds->n_bins,
                             opts.min_entries, &opts.alpha, &auc,
                             &err);
        if (rc) {
            dn_err_prefix(&err, "cannot tune alpha (give --alpha)");
            goto fail;
        }
        fprintf(stderr, "dinamo score: alpha %.3f tuned on the first %d runs (ROC AUC %.4f)\n",
                opts.alpha, hist, auc);
    }
    size_t n = ds->n_runs ? (size_t)ds->n_runs : 1, cells = n * (size_t)ds->n_bins;
    chi2 = malloc(n * sizeof *chi2);
    score = malloc(n * sizeof *score);
    if (pulls_path) {
        pulls = malloc(cells * sizeof *pulls);
        ref_mu = malloc(cells * sizeof *ref_mu);
        ref_sigma = malloc(cells * sizeof *ref_sigma);
    }
    if (!chi2 || !score || (pulls_path && (!pulls || !ref_mu || !ref_sigma))) {
        rc = dn_err_set(&err, DN_ENOMEM, "out of memory for %d runs", ds->n_runs);
        goto fail;
    }
    dn_run_scores_t rs = {.chi2 = chi2, .score = score, .pulls = pulls, .ref_mu = ref_mu,
                          .ref_sigma = ref_sigma};
    rc = is_s ? dn_score_dataset_s(ds, opts.alpha, opts.min_entries, &rs, &err)
              : dn_score_dataset_ml(ds, &opts, &rs, &err);
    if (!rc && pulls_path)
        rc = write_pulls_csv(pulls_path, ds, pulls, ref_mu, ref_sigma, &err);
    if (!rc)
        rc = write_scores_csv(out, ds, chi2, score, &err);
fail:
    dn_dataset_destroy(&ds);
    free(chi2);
    free(score);
    free(pulls);
    free(ref_mu);
    free(ref_sigma);
    return rc ? fail_with(a->cmd, &err, rc) : 0;
}

/* ---- evaluate ------------------------------------------------------------------ */

static const char evaluate_help[] =
    "usage: dinamo evaluate DIR|--in PATH --method s|ml [--alpha A] [--threshold T]\n"
    "                       [--n-historical N] [--boot-seed S] [--out FILE]\n"
    "                       [--key KEY] [--labels LABELS.csv]\n"
    "                       [--min-entries N] [--policy POLICY.csv]\n"
    "                       [--seed S] [--weights FILE] [--no-train]  (ml)\n"
    "                       [--ml-threads T]                          (ml)\n"
    "\n"
    "Tunes alpha (unless given) and the threshold (unless given) on the first N runs\n"
    "(default 1000, the historical regime), scores the whole dataset and prints one\n"
    "JSON object with the continual-regime metrics of SPEC 4: alpha, threshold,\n"
    "balanced_accuracy, sensitivity, specificity, adaptation_time, jaccard_distance\n"
    "(null when the dataset has no truth), and counts. The input is read as by\n"
    "dinamo score (see its --help): a dataset directory, a runs CSV, an .npz\n"
    "dataset of the Python reference (its truth included) or a directory of UHI\n"
    "JSON runs. DINAMO-ML has no alpha (null); it trains online from the first run.\n";

int parse_eval_opt(const char *cmd, const char *name, const char *v,
                          dn_eval_opts_t *o, int *handled)
{
    *handled = 1;
    if (!strcmp(name, "--method")) {
        if (!strcmp(v, "s"))
            o->method = DN_METHOD_S;
        else if (!strcmp(v, "ml"))
            o->method = DN_METHOD_ML;
        else
            return usage_error(cmd, "unknown method '%s' (available: s, ml)", v);
    } else if (!strcmp(name, "--seed")) {
        if (parse_u64(cmd, name, v, &o->ml_seed))
            return 2;
    } else if (!strcmp(name, "--weights")) {
        /* Read once here: every tracker of the command starts from these bytes. */
        static void *bytes;
        dn_err_t err = {0};
        free(bytes);
        int rc = dn_mlfile_read(v, &bytes, &o->ml_weights_len, &err);
        if (rc)
            return fail_with(cmd, &err, rc);
        o->ml_weights = bytes;
    } else if (!strcmp(name, "--no-train")) {
        o->ml_frozen = 1;
    } else if (!strcmp(name, "--ml-threads")) {
        long t;
        if (parse_int(cmd, name, v, 1, DN_ML_MAX_THREADS, &t))
            return 2;
        o->ml_threads = (int)t;
    } else if (!strcmp(name, "--alpha")) {
        if (parse_double(cmd, name, v, &o->alpha))
            return 2;
        if (!(o->alpha >= 0.0 && o->alpha < 1.0))
            return usage_error(cmd, "--alpha must be in [0, 1), got %s", v);
    } else if (!strcmp(name, "--threshold")) {
        if (parse_double(cmd, name, v, &o->threshold))
            return 2;
    } else if (!strcmp(name, "--n-historical")) {
        long x;
        if (parse_int(cmd, name, v, 1, 1L << 30, &x))
            return 2;
        o->n_hist = (int)x;
    } else if (!strcmp(name, "--min-entries")) {
        if (parse_double(cmd, name, v, &o->min_entries))
            return 2;
        if (!(o->min_entries >= 0))
            return usage_error(cmd, "%s: want a number >= 0", name);
    } else if (!strcmp(name, "--boot-seed")) {
        if (parse_u64(cmd, name, v, &o->boot_seed))
            return 2;
    } else {
        *handled = 0;
    }
    return 0;
}

static int cmd_evaluate(args_t *a)
{
    dn_eval_opts_t opts;
    dn_eval_opts_default(&opts);
    const char *dir = NULL, *out = NULL;
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
        int handled;
        parse_input_opt(name, v, &inargs, &handled);
        int erc;
        if (!handled && (erc = parse_eval_opt(a->cmd, name, v, &opts, &handled)))
            return erc;
        if (!handled)
            return usage_error(a->cmd, "unknown option %s", name);
    }
    if (r < 0)
        return 2;
    if (!dir)
        return usage_error(a->cmd, "%s", "an input is required (DIR or --in PATH)");
    set_progress(&opts, a->cmd);
    dn_err_t err = {0};
    dn_dataset_t *ds = NULL;
    dn_eval_result_t res;
    int rc = apply_policy(&inargs, &opts, opts.min_entries > 0, &err);
    if (!rc)
        rc = read_input(a->cmd, dir, &inargs, &ds, &err);
    if (!rc)
        rc = dn_evaluate(ds, &opts, &res, &err);
    dn_dataset_destroy(&ds);
    if (rc)
        return fail_with(a->cmd, &err, rc);
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

/* ---- bench --------------------------------------------------------------------- */

static const char bench_help[] =
    "usage: dinamo bench --method s|ml --datasets N [--first-seed S] [--jobs J]\n"
    "                    [--out DIR] [evaluate options] [generator PARAMS]\n"
    "\n"
    "Generates and evaluates N datasets (seeds S, S+1, ...) on J threads (default:\n"
    "all cores), writes one CSV row per dataset to DIR/bench_<method>.csv (columns\n"
    "seed and the keys of 'dinamo evaluate'), and prints the paper's Table 1 row:\n"
    "median and 2.5%% / 97.5%% percentiles of each metric beside the paper's.\n";

typedef struct bench_job_t {
    const dn_gen_params_t *gp;
    const dn_eval_opts_t *opts;
    uint64_t first_seed;
    int n;
    atomic_int next;
    atomic_int done;
    atomic_int failed;
    dn_eval_result_t *res;
    int *rc;
    char (*msg)[DN_ERRMSG_MAX];
} bench_job_t;

static void *bench_worker(void *arg)
{
    bench_job_t *job = arg;
    for (;;) {
        int i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n)
            break;
        dn_err_t err = {0};
        dn_dataset_t *ds = NULL;
        int rc = dn_generate(job->gp, job->first_seed + (uint64_t)i, &ds, &err);
        if (!rc)
            rc = dn_evaluate(ds, job->opts, &job->res[i], &err);
        dn_dataset_destroy(&ds);
        job->rc[i] = rc;
        if (rc) {
            memcpy(job->msg[i], err.msg, DN_ERRMSG_MAX);
            atomic_fetch_add(&job->failed, 1);
        }
        atomic_fetch_add(&job->done, 1);
    }
    return NULL;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct paper_metric_t {
    const char *name;
    size_t offset;
    double median, plus, minus;    /* the paper's Table 1 */
} paper_metric_t;

static const paper_metric_t paper_s[] = {
    {"balanced_accuracy", offsetof(dn_eval_result_t, balanced_accuracy), 0.947, 0.020, 0.033},
    {"specificity", offsetof(dn_eval_result_t, specificity), 0.943, 0.028, 0.058},
    {"sensitivity", offsetof(dn_eval_result_t, sensitivity), 0.956, 0.029, 0.075},
    {"jaccard_distance", offsetof(dn_eval_result_t, jaccard_distance), 0.139, 0.069, 0.041},
    {"adaptation_time", offsetof(dn_eval_result_t, adaptation_time), 2.02, 3.24, 1.13},
};

static const paper_metric_t paper_ml[] = {
    {"balanced_accuracy", offsetof(dn_eval_result_t, balanced_accuracy), 0.966, 0.012, 0.018},
    {"specificity", offsetof(dn_eval_result_t, specificity), 0.969, 0.015, 0.037},
    {"sensitivity", offsetof(dn_eval_result_t, sensitivity), 0.966, 0.024, 0.044},
    {"jaccard_distance", offsetof(dn_eval_result_t, jaccard_distance), 0.134, 0.057, 0.028},
    {"adaptation_time", offsetof(dn_eval_result_t, adaptation_time), 1.61, 0.87, 0.61},
};

static int write_bench_csv(const char *path, const bench_job_t *job, dn_err_t *err)
{
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *f = dn_outfile_stream(of);
    fputs("seed,method,alpha,threshold,balanced_accuracy,sensitivity,specificity,"
          "adaptation_time,jaccard_distance,auc_historical,n_runs,n_historical,"
          "n_change_points,n_empty,seconds,error\n",
          f);
    for (int i = 0; i < job->n; i++) {
        const dn_eval_result_t *r = &job->res[i];
        fprintf(f, "%llu,%s,", (unsigned long long)(job->first_seed + (uint64_t)i),
                job->opts->method == DN_METHOD_S ? "s" : "ml");
        if (job->rc[i]) {
            fputs(",,,,,,,,,,,,,", f);
            fputc('"', f);
            for (const char *p = job->msg[i]; *p; p++) {
                if (*p == '"')
                    fputc('"', f);
                fputc(*p, f);
            }
            fputs("\"\n", f);
            continue;
        }
        double vals[8] = {r->alpha, r->threshold, r->balanced_accuracy, r->sensitivity,
                          r->specificity, r->adaptation_time, r->jaccard_distance,
                          r->auc_historical};
        for (int k = 0; k < 8; k++) {
            if (!isnan(vals[k]))
                fprintf(f, "%.17g", vals[k]);
            fputc(',', f);
        }
        fprintf(f, "%d,%d,%d,%d,%.4f,\n", r->n_runs, r->n_hist, r->n_change_points,
                r->n_empty, r->seconds);
    }
    return dn_outfile_commit(&of, err);
}

static int cmd_bench(args_t *a)
{
    dn_gen_params_t gp;
    dn_gen_params_default(&gp);
    dn_eval_opts_t opts;
    dn_eval_opts_default(&opts);
    long n = 0, jobs = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t first_seed = 0;
    const char *out_dir = ".";
    char *name;
    const char *v;
    int r;
    if (jobs < 1)
        jobs = 1;
    while ((r = next_arg(a, "--help --no-train --verbose", &name, &v)) > 0) {
        if (name && !strcmp(name, "--verbose"))
            continue;
        if (!name)
            return usage_error(a->cmd, "unexpected argument '%s'", v);
        if (!strcmp(name, "--help")) {
            fputs(bench_help, stdout);
            print_gen_params_help(stdout);
            return 0;
        } else if (!strcmp(name, "--datasets")) {
            if (parse_int(a->cmd, name, v, 1, 10000000, &n))
                return 2;
        } else if (!strcmp(name, "--jobs")) {
            if (parse_int(a->cmd, name, v, 1, 1024, &jobs))
                return 2;
        } else if (!strcmp(name, "--first-seed")) {
            if (parse_u64(a->cmd, name, v, &first_seed))
                return 2;
        } else if (!strcmp(name, "--out")) {
            out_dir = v;
        } else {
            int handled;
            int erc = parse_eval_opt(a->cmd, name, v, &opts, &handled);
            if (erc)
                return erc;
            if (!handled && try_gen_param(a->cmd, &gp, name, v, &handled))
                return 2;
            if (!handled)
                return usage_error(a->cmd, "unknown option %s", name);
        }
    }
    if (r < 0)
        return 2;
    if (n < 1)
        return usage_error(a->cmd, "%s", "--datasets N is required");
    dn_err_t err = {0};
    if (dn_gen_params_check(&gp, &err)) {
        fprintf(stderr, "dinamo %s: %s\n", a->cmd, err.msg);
        return 2;
    }
    if (dn_mkdirs(out_dir, &err))
        return fail_with(a->cmd, &err, DN_EIO);

    bench_job_t job = {.gp = &gp, .opts = &opts, .first_seed = first_seed, .n = (int)n};
    job.res = calloc((size_t)n, sizeof *job.res);
    job.rc = calloc((size_t)n, sizeof *job.rc);
    job.msg = calloc((size_t)n, sizeof *job.msg);
    pthread_t *th = calloc((size_t)jobs, sizeof *th);
    if (!job.res || !job.rc || !job.msg || !th) {
        fprintf(stderr, "dinamo bench: out of memory\n");
        return 1;
    }
    double t0 = wall_seconds();
    int started = 0;
    for (long t = 0; t < jobs; t++) {
        if (pthread_create(&th[t], NULL, bench_worker, &job) != 0)
            break;
        started++;
    }
    if (!started) {
        bench_worker(&job);
    }
    int tty = isatty(STDERR_FILENO);
    while (atomic_load(&job.done) < job.n && started) {
        if (tty) {
            int d = atomic_load(&job.done);
            double el = wall_seconds() - t0;
            fprintf(stderr, "\r[%d/%d datasets] %.1f s elapsed, ~%.0f s left   ", d, job.n,
                    el, d ? el * (job.n - d) / d : 0.0);
        }
        usleep(tty ? 200000 : 50000);
    }
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    double wall = wall_seconds() - t0;
    if (tty)
        fputs("\r\033[K", stderr);

    char path[4096];
    snprintf(path, sizeof path, "%s/bench_%s.csv", out_dir,
             opts.method == DN_METHOD_S ? "s" : "ml");
    int rc = write_bench_csv(path, &job, &err);
    if (rc)
        fprintf(stderr, "dinamo bench: %s\n", err.msg);

    int failed = atomic_load(&job.failed);
    printf("DINAMO-%s on %d datasets (seeds %llu..%llu), %ld threads: %.1f s wall, %.1f ms "
           "per dataset per thread\n",
           opts.method == DN_METHOD_S ? "S" : "ML", job.n, (unsigned long long)first_seed,
           (unsigned long long)(first_seed + (uint64_t)n - 1), (long)started ? jobs : 1, wall,
           1e3 * wall * (double)(started ? started : 1) / job.n);
    if (failed) {
        for (int i = 0, shown = 0; i < job.n && shown < 5; i++)
            if (job.rc[i]) {
                printf("  seed %llu failed: %s\n",
                       (unsigned long long)(first_seed + (uint64_t)i), job.msg[i]);
                shown++;
            }
        printf("  %d of %d datasets failed (listed in the CSV)\n", failed, job.n);
    }
    printf("%-18s %-26s %-26s %s\n", "metric", "ours: median (+97.5 -2.5)",
           "paper: median (+ -)", "our median inside paper's 95% interval");
    double *vals = malloc((size_t)n * sizeof *vals);
    int all_inside = 1;
    const paper_metric_t *table = opts.method == DN_METHOD_S ? paper_s : paper_ml;
    for (size_t k = 0; vals && k < sizeof paper_s / sizeof paper_s[0]; k++) {
        const paper_metric_t *m = &table[k];
        int cnt = 0;
        for (int i = 0; i < job.n; i++)
            if (!job.rc[i])
                vals[cnt++] = *(const double *)((const char *)&job.res[i] + m->offset);
        double med = dn_percentile(vals, cnt, 50.0);
        double lo = dn_percentile(vals, cnt, 2.5), hi = dn_percentile(vals, cnt, 97.5);
        int inside = med >= m->median - m->minus && med <= m->median + m->plus;
        all_inside &= inside;
        char ours[64], paper[64];
        snprintf(ours, sizeof ours, "%.3f (+%.3f -%.3f)", med, hi - med, med - lo);
        snprintf(paper, sizeof paper, "%.3f (+%.3f -%.3f)", m->median, m->plus, m->minus);
        printf("%-18s %-26s %-26s %s\n", m->name, ours, paper, inside ? "yes" : "NO");
    }
    printf("rows: %s\n", path);
    free(vals);
    free(job.res);
    free(job.rc);
    free(job.msg);
    free(th);
    return (rc || failed) ? 1 : 0;
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
    "  report     figures and an HTML page of an offline evaluation (PNG, SVG)\n"
    "  version    print the version\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_help, stderr);
        return 2;
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
    if (!strcmp(c, "report"))
        return cmd_report(&a);
    if (!strcmp(c, "inspect"))
        return cmd_inspect(&a);
    fprintf(stderr, "dinamo: unknown command '%s'\n\n%s", c, main_help);
    return 2;
}
