/* cli.h: what the `dinamo` subcommands (every file of tools/) share: argument scanning and
 * the exit-status conventions (0 success, 1 failure, 2 bad usage). */
#ifndef DN_CLI_H
#define DN_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef struct args_t {
    int argc;
    char **argv;
    int pos;               /* next unread index */
    const char *cmd;
} args_t;

/* Prints "dinamo CMD: <fmt with what> (see 'dinamo CMD --help')"; returns 2. */
int usage_error(const char *cmd, const char *fmt, const char *what);

/* Splits "--name=value" or "--name value". Returns 1 with *name and *value set, 0
 * at the end, -1 on a usage error already reported. Positional arguments come
 * back with *name == NULL. Flags listed in `bool_flags` (space-separated, with
 * --) take no value. */
int next_arg(args_t *a, const char *bool_flags, char **name, const char **value);

/* Option values; each returns 0, or 2 after reporting a usage error. */
int parse_double(const char *cmd, const char *name, const char *v, double *out);
int parse_int(const char *cmd, const char *name, const char *v, long lo, long hi, long *out);
int parse_u64(const char *cmd, const char *name, const char *v, uint64_t *out);

/* Prints "dinamo CMD: <err or code>" and returns 1. */
int fail_with(const char *cmd, const dn_err_t *err, int rc);

/* Input options shared by score, evaluate and report (--key, --labels,
 * --policy): parse one, apply the policy, read the input (warnings on stderr). */
typedef struct {
    const char *key, *labels, *policy;
} input_args_t;
struct dn_eval_opts_t;
struct dn_dataset_t;
void parse_input_opt(const char *name, const char *v, input_args_t *in, int *handled);
int apply_policy(const input_args_t *in, struct dn_eval_opts_t *o, int min_given,
                 dn_err_t *err);
int read_input(const char *cmd, const char *path, const input_args_t *in,
               struct dn_dataset_t **ds, dn_err_t *err);
/* --method, --alpha, --threshold, --n-historical, --boot-seed, --seed,
 * --weights, --no-train, --min-entries, --horizons, --horizon-resolution,
 * --stat-debiasing 0|1, --n-resamples N, --debiasing-seed S, and the
 * reference's other options (print_ref_opts_help): --metric-mode, --ba-weight,
 * --t-opt, --threshold-default, --alpha-opt, --alpha-default,
 * --adaptivity-patience, --n-metrics-bootstrap-trials, --bootstrap-seed: 0
 * (*handled says whether it was one of them), 2 after a usage error, 1 when
 * the --weights file cannot be read (the message printed). The weights' bytes
 * live until the program exits. An explicit --alpha/--threshold wins over
 * --alpha-opt 0/--t-opt 0 in either order; the options of one command go into
 * one struct (the switches are remembered for the last struct parsed into). */
int parse_eval_opt(const char *cmd, const char *name, const char *v,
                   struct dn_eval_opts_t *o, int *handled);
/* The reference's options above, for a command's --help. */
void print_ref_opts_help(FILE *f);
/* An option of the commands that read an input and score it (score,
 * evaluate): an input option (parse_input_opt) or an evaluation option
 * (parse_eval_opt); anything else is reported as unknown. Returns 0, or the
 * exit status after the problem was reported (2 bad usage, 1 unreadable
 * --weights file). */
/* After the options: checks --stat-debiasing against --method and --horizons
 * (usage error, 2) and turns debiasing_seed into the stream of --key
 * (dn_s_debias_seed; without --key the seed itself). in may be NULL. */
int apply_debiasing(const char *cmd, const input_args_t *in, struct dn_eval_opts_t *o);

int parse_scoring_opt(const char *cmd, const char *name, const char *v, input_args_t *in,
                      struct dn_eval_opts_t *o);
/* Progress of DINAMO-ML scoring on a terminal. */
void set_progress(struct dn_eval_opts_t *o, const char *cmd);
/* The one warning when an evaluation left the Jaccard distance out because
 * the input's bin edges are unknown (dn_eval_result_t.edges_unknown): on
 * stderr, "dinamo CMD: warning: Jaccard distance not computed: ...". */
void warn_edges_unknown(const char *cmd);

/* The generator parameters (SPEC 1) as options --NAME VALUE: try_gen_param
 * sets the one `name` names (*handled 1) or leaves *gp alone (*handled 0);
 * returns 0, or 2 after reporting a bad value. print_gen_params_help lists
 * them with their defaults. */
struct dn_gen_params_t;
int try_gen_param(const char *cmd, struct dn_gen_params_t *gp, const char *name,
                  const char *value, int *handled);
void print_gen_params_help(FILE *f);
/* The slow-anomaly parameters (--slow-NAME VALUE, generator.h) the same way. */
struct dn_slow_params_t;
int try_slow_param(const char *cmd, struct dn_slow_params_t *sp, const char *name,
                   const char *value, int *handled);
void print_slow_params_help(FILE *f);

/* The subcommands outside dinamo.c: each takes the arguments after its name
 * and returns the exit status (0, 1, 2). */
/* Writes the SCORES.csv of `dinamo score` (run,label,chi2,score,status) for
 * ds's runs through the atomic writer; with several horizons (spec, NULL for
 * one) chi2 and score hold spec->n planes and each lagged horizon adds its
 * chi2_<name>,score_<name> columns. Returns 0 or the writer's error. */
struct dn_hz_spec_t;
int write_scores_csv(const char *path, const struct dn_dataset_t *ds,
                     const struct dn_hz_spec_t *spec, const double *chi2, const double *score,
                     dn_err_t *err);

/* Writes s to f with <, > and & escaped (the reports' index.html). */
void html_text(FILE *f, const char *s);

int cmd_generate(args_t *a);
int cmd_keygen(args_t *a);
int cmd_user(args_t *a);
int cmd_evaluate(args_t *a);
int cmd_bench(args_t *a);
int cmd_label(args_t *a);
int cmd_report(args_t *a);
int cmd_report_bench(args_t *a); /* report --bench DIR (report_bench.c) */
int cmd_inspect(args_t *a);
int cmd_health(args_t *a);
int cmd_progress(args_t *a);

#endif
