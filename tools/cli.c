/* cli.c: what the subcommands of `dinamo` share: scanning the command line
 * ("--name value", "--name=value", positional arguments, flags), checked
 * option values, the exit-status conventions (0 success, 1 failure with a
 * message naming what failed, 2 bad usage naming the option), the generator
 * parameters as options, and the input and evaluation options of score,
 * evaluate, bench and report (cli.h). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "dinamo_s.h"
#include "evaluate.h"
#include "fileio.h"
#include "results.h"
#include "generator.h"
#include "input.h"
#include "mlfile.h"
#include "policy.h"

/* The reference's switches t_opt and alpha_opt (configs.py) turn tuning off in
 * favour of threshold_default and alpha_default, while an explicit --threshold
 * or --alpha always wins, whatever the order of the options. dn_eval_opts_t
 * says only "tune" (alpha < 0, threshold NAN) or "this value", so which value
 * came from where is kept here, for the one options struct a command parses
 * into (a command parses one; a new struct starts afresh). */
#define DN_REF_THRESHOLD_DEFAULT 1.0 /* configs.py threshold_default */
#define DN_REF_ALPHA_DEFAULT 0.5     /* configs.py alpha_default */

static struct {
    const dn_eval_opts_t *o;
    int t_opt, alpha_opt;             /* 1: tune (the reference's default) */
    int threshold_given, alpha_given; /* --threshold / --alpha on the command line */
    double threshold_default, alpha_default;
} sw;

static void sw_for(const dn_eval_opts_t *o)
{
    if (sw.o == o)
        return;
    sw.o = o;
    sw.t_opt = sw.alpha_opt = 1;
    sw.threshold_given = sw.alpha_given = 0;
    sw.threshold_default = DN_REF_THRESHOLD_DEFAULT;
    sw.alpha_default = DN_REF_ALPHA_DEFAULT;
}

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

int parse_int(const char *cmd, const char *name, const char *v, long lo, long hi, long *out)
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

int parse_u64(const char *cmd, const char *name, const char *v, uint64_t *out)
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

/* The index in tab[n] of the option `name` ("--" + a parameter's name), or -1. */
static int param_index(const dn_gen_param_info_t *tab, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strncmp(name, "--", 2) == 0 && strcmp(name + 2, tab[i].name) == 0)
            return i;
    return -1;
}

/* A parameter set by dn_gen_params_set or dn_slow_params_set (rc): 0, or 2
 * after saying why on stderr. */
static int param_set_status(const char *cmd, int rc, const dn_err_t *err)
{
    if (!rc)
        return 0;
    fprintf(stderr, "dinamo %s: %s\n", cmd, err->msg);
    return 2;
}

/* Every parameter of tab[n] under `title`, with its default read from def. */
static void print_param_table(FILE *f, const char *title, const dn_gen_param_info_t *tab,
                              int n, const void *def, int width)
{
    fputs(title, f);
    for (int i = 0; i < n; i++) {
        const char *p = (const char *)def + tab[i].offset;
        char dflt[64];
        if (tab[i].type == DN_GEN_INT)
            snprintf(dflt, sizeof dflt, "%d", *(const int *)p);
        else
            snprintf(dflt, sizeof dflt, "%g", *(const double *)p);
        fprintf(f, "  --%-*s %s (default %s)\n", width, tab[i].name, tab[i].help, dflt);
    }
}

/* Generator parameters as options: --<name> VALUE for every entry of the table. */
int try_gen_param(const char *cmd, dn_gen_params_t *gp, const char *name, const char *value,
                  int *handled)
{
    int n;
    const dn_gen_param_info_t *tab = dn_gen_param_table(&n);
    int i = param_index(tab, n, name);
    *handled = i >= 0;
    if (i < 0)
        return 0;
    dn_err_t err = {0};
    return param_set_status(cmd, dn_gen_params_set(gp, tab[i].name, value, &err), &err);
}

void print_gen_params_help(FILE *f)
{
    int n;
    dn_gen_params_t def;
    dn_gen_params_default(&def);
    const dn_gen_param_info_t *tab = dn_gen_param_table(&n);
    print_param_table(f, "\nGenerator parameters (SPEC 1), each --NAME VALUE:\n", tab, n, &def,
                      20);
}

/* Slow-anomaly parameters as options: --slow-<name> VALUE (generator.h). */
int try_slow_param(const char *cmd, dn_slow_params_t *sp, const char *name, const char *value,
                   int *handled)
{
    int n;
    const dn_gen_param_info_t *tab = dn_slow_param_table(&n);
    int i = param_index(tab, n, name);
    *handled = i >= 0;
    if (i < 0)
        return 0;
    dn_err_t err = {0};
    return param_set_status(cmd, dn_slow_params_set(sp, tab[i].name, value, &err), &err);
}

void print_slow_params_help(FILE *f)
{
    int n;
    dn_slow_params_t def;
    dn_slow_params_default(&def);
    const dn_gen_param_info_t *tab = dn_slow_param_table(&n);
    print_param_table(f, "\nSlow anomalies (issue 20; on when --slow-defects > 0), each --NAME "
                         "VALUE;\na run is labelled bad once its defect's size exceeds its "
                         "kind's tolerance:\n", tab, n, &def, 26);
}

/* ---- input helper -------------------------------------------------------------- */

/* --in names a dataset directory, a runs CSV, an .npz dataset, a directory of
 * UHI JSON runs, or a ROOT file or directory of them (input.h); --key picks a
 * UHI or ROOT histogram, --labels adds labels.
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
int apply_policy(const input_args_t *in, dn_eval_opts_t *o, int min_given, dn_err_t *err)
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
    /* An explicit --threshold beats the policy, which beats --threshold-default. */
    int given = sw.o == o ? sw.threshold_given : !isnan(o->threshold);
    if (!given && !isnan(j.bad))
        o->threshold = j.bad;
    return DN_OK;
}

int read_input(const char *cmd, const char *path, const input_args_t *in, dn_dataset_t **ds,
               dn_err_t *err)
{
    dn_input_opts_t o = {.key = in->key,
                         .labels_path = in->labels,
                         .warn = input_warn,
                         .warn_ctx = (void *)cmd};
    int skipped = 0;
    int rc = dn_input_read_dataset(path, &o, ds, &skipped, err);
    if (!rc && skipped)
        fprintf(stderr, "dinamo %s: %d warnings; %d runs read from %s\n", cmd, skipped,
                (*ds)->n_runs, path);
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

void warn_edges_unknown(const char *cmd)
{
    fprintf(stderr, "dinamo %s: warning: Jaccard distance not computed: bin edges unknown "
            "(no meta.json bin_edges)\n", cmd);
}

void set_progress(dn_eval_opts_t *o, const char *cmd)
{
    if (o->method == DN_METHOD_ML && isatty(STDERR_FILENO)) {
        o->progress = ml_progress;
        o->progress_ctx = (void *)cmd;
    }
}

/* ---- evaluation options --------------------------------------------------------- */

/* The value tuning switched off leaves, unless an explicit one was given. */
static void sw_apply(dn_eval_opts_t *o)
{
    if (!sw.threshold_given)
        o->threshold = sw.t_opt ? NAN : sw.threshold_default;
    if (!sw.alpha_given)
        o->alpha = sw.alpha_opt ? -1.0 : sw.alpha_default;
}

/* --t-opt / --alpha-opt: 0 or 1, as the reference's config. */
static int parse_switch(const char *cmd, const char *name, const char *v, int *out)
{
    long x;
    if (parse_int(cmd, name, v, 0, 1, &x))
        return 2;
    *out = (int)x;
    return 0;
}

void print_ref_opts_help(FILE *f)
{
    fputs("\nOptions of the reference implementation (its names and defaults):\n"
          "  --metric-mode auc|wba      what DINAMO-S's alpha is tuned for on the historical\n"
          "                             regime: ROC AUC, or the best weighted balanced\n"
          "                             accuracy over 200 thresholds, median over the\n"
          "                             bootstrap resamples (default auc)\n"
          "  --ba-weight B              beta of the weighted balanced accuracy\n"
          "                             (sens + B spec) / (1 + B), B >= 0: threshold and wba\n"
          "                             alpha tuning (default 1)\n"
          "  --t-opt 0|1                tune the threshold (1, default) or use\n"
          "  --threshold-default T      T (default 1.0) when --t-opt 0\n"
          "  --alpha-opt 0|1            tune alpha (1, default) or use\n"
          "  --alpha-default A          A (default 0.5) when --alpha-opt 0\n"
          "                             (an explicit --threshold or --alpha always wins,\n"
          "                             and a --policy bad threshold beats T)\n"
          "  --adaptivity-patience N    good runs in a row at or below the threshold that\n"
          "                             end an adaptation, N >= 1 (default 1)\n"
          "  --n-metrics-bootstrap-trials N\n"
          "                             bootstrap resamples of threshold tuning, wba tuning\n"
          "                             and the metrics' 2.5/97.5% bands (default 100)\n"
          "  --bootstrap-seed S         the same as --boot-seed (default 0)\n", f);
}

/* The reference's options; *handled 0 for anything else. */
static int parse_ref_opt(const char *cmd, const char *name, const char *v, dn_eval_opts_t *o,
                         int *handled)
{
    long x;
    *handled = 1;
    if (!strcmp(name, "--metric-mode")) {
        if (!strcmp(v, "auc"))
            o->alpha_metric = DN_ALPHA_AUC;
        else if (!strcmp(v, "wba"))
            o->alpha_metric = DN_ALPHA_WBA;
        else
            return usage_error(cmd, "unknown --metric-mode '%s' (available: auc, wba)", v);
    } else if (!strcmp(name, "--ba-weight")) {
        if (parse_double(cmd, name, v, &o->ba_weight))
            return 2;
        if (!(o->ba_weight >= 0.0))
            return usage_error(cmd, "--ba-weight must be >= 0, got %s", v);
    } else if (!strcmp(name, "--t-opt")) {
        if (parse_switch(cmd, name, v, &sw.t_opt))
            return 2;
    } else if (!strcmp(name, "--threshold-default")) {
        if (parse_double(cmd, name, v, &sw.threshold_default))
            return 2;
    } else if (!strcmp(name, "--alpha-opt")) {
        if (parse_switch(cmd, name, v, &sw.alpha_opt))
            return 2;
    } else if (!strcmp(name, "--alpha-default")) {
        if (parse_double(cmd, name, v, &sw.alpha_default))
            return 2;
        if (!(sw.alpha_default >= 0.0 && sw.alpha_default < 1.0))
            return usage_error(cmd, "--alpha-default must be in [0, 1), got %s", v);
    } else if (!strcmp(name, "--adaptivity-patience")) {
        if (parse_int(cmd, name, v, 1, 1L << 30, &x))
            return 2;
        o->adaptivity_patience = (int)x;
    } else if (!strcmp(name, "--n-metrics-bootstrap-trials")) {
        if (parse_int(cmd, name, v, 1, 1L << 24, &x))
            return 2;
        o->n_boot = (int)x;
    } else if (!strcmp(name, "--bootstrap-seed")) {
        if (parse_u64(cmd, name, v, &o->boot_seed))
            return 2;
    } else {
        *handled = 0;
    }
    return 0;
}

int parse_eval_opt(const char *cmd, const char *name, const char *v, dn_eval_opts_t *o,
                   int *handled)
{
    sw_for(o);
    int erc = parse_ref_opt(cmd, name, v, o, handled);
    if (erc || *handled) {
        sw_apply(o);
        return erc;
    }
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
        sw.alpha_given = 1;
    } else if (!strcmp(name, "--threshold")) {
        if (parse_double(cmd, name, v, &o->threshold))
            return 2;
        sw.threshold_given = 1;
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
    } else if (!strcmp(name, "--horizon-accept")) {
        if (!strcmp(v, "off"))
            o->horizon_accept_q = 0.0;
        else if (parse_double(cmd, name, v, &o->horizon_accept_q))
            return 2;
        else if (!(o->horizon_accept_q > 0.0 && o->horizon_accept_q <= 1.0))
            return usage_error(cmd, "--horizon-accept must be in (0, 1] or off, got %s", v);
    } else if (!strcmp(name, "--horizon-budget")) {
        if (parse_double(cmd, name, v, &o->horizon_budget))
            return 2;
        if (!(o->horizon_budget >= 0.0 && o->horizon_budget < 1.0))
            return usage_error(cmd, "--horizon-budget must be in [0, 1), got %s", v);
    } else if (!strcmp(name, "--horizons") || !strcmp(name, "--horizon-resolution")) {
        /* Kept here like the weights: the spec outlives the options. */
        static dn_hz_spec_t spec;
        static char list[256] = "now";
        static long resolution = DN_HZ_RESOLUTION;
        if (!strcmp(name, "--horizons")) {
            if (strlen(v) >= sizeof list)
                return usage_error(cmd, "--horizons: '%s' is too long", v);
            strcpy(list, v);
        } else if (parse_int(cmd, name, v, 1, 64, &resolution)) {
            return 2;
        }
        dn_err_t err = {0};
        if (dn_hz_spec_parse(list, (int)resolution, &spec, &err))
            return usage_error(cmd, "%s", err.msg);
        o->horizons = &spec;
    } else if (!strcmp(name, "--stat-debiasing")) {
        /* A value, 0 or 1, as the reference's --stat_debiasing: a flag would have
         * to be declared in every command's flag list. */
        long on;
        if (parse_int(cmd, name, v, 0, 1, &on))
            return 2;
        o->stat_debiasing = (int)on;
    } else if (!strcmp(name, "--n-resamples")) {
        long r;
        if (parse_int(cmd, name, v, 1, DN_S_MAX_RESAMPLES, &r))
            return 2;
        o->n_resamples = (int)r;
    } else if (!strcmp(name, "--debiasing-seed")) {
        if (parse_u64(cmd, name, v, &o->debiasing_seed))
            return 2;
    } else {
        *handled = 0;
    }
    return 0;
}

int apply_debiasing(const char *cmd, const input_args_t *in, dn_eval_opts_t *o)
{
    if (!o->stat_debiasing)
        return 0;
    if (o->method != DN_METHOD_S)
        return usage_error(cmd, "%s", "--stat-debiasing applies to --method s");
    if (o->horizons && o->horizons->n > 1)
        return usage_error(cmd, "%s", "--stat-debiasing 1 debiases the single reference: "
                           "not with --horizons");
    /* the key's own stream, as the scorer_s service derives it */
    o->debiasing_seed = dn_s_debias_seed(o->debiasing_seed, in ? in->key : NULL);
    return 0;
}

int parse_scoring_opt(const char *cmd, const char *name, const char *v, input_args_t *in,
                      dn_eval_opts_t *o)
{
    int handled, erc = 0;
    parse_input_opt(name, v, in, &handled);
    if (!handled && (erc = parse_eval_opt(cmd, name, v, o, &handled)))
        return erc;
    return handled ? 0 : usage_error(cmd, "unknown option %s", name);
}

int write_scores_csv(const char *path, const struct dn_dataset_t *ds,
                     const struct dn_hz_spec_t *spec, const double *chi2, const double *score,
                     dn_err_t *err)
{
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err ? err->code : DN_EIO;
    dn_csv_t w;
    dn_csv_init(&w, dn_outfile_stream(of));
    int n = ds->n_runs, lagged = spec && spec->n > 1 ? spec->n - 1 : 0;
    dn_scores_csv_header_hz(&w, spec);
    for (int i = 0; i < n; i++) {
        double lc[DN_HZ_MAX], ls[DN_HZ_MAX];
        for (int h = 0; h < lagged; h++) {
            lc[h] = chi2[(size_t)(h + 1) * n + i];
            ls[h] = score[(size_t)(h + 1) * n + i];
        }
        dn_score_row_t row = {ds->run[i], ds->label[i], chi2[i], score[i], DN_ROW_SCORED,
                              lagged, lc, ls};
        dn_scores_csv_row(&w, &row);
    }
    return dn_outfile_commit(&of, err);
}

/* ---- the reports' HTML -------------------------------------------------------- */

void html_text(FILE *f, const char *s)
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
