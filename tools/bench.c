/* bench.c: `dinamo bench`, the paper's Table 1 reproduced: N synthetic
 * datasets (seeds S, S+1, ...) generated and evaluated on J threads, one CSV
 * row per dataset, and the median and 2.5 / 97.5 percentiles of each metric
 * printed beside the paper's with whether our median falls inside its
 * interval.
 *
 * Threads take the next seed from an atomic counter, so every dataset is
 * evaluated once whatever the number of threads; each writes only its own
 * slot of the results. A dataset that fails is reported (the first five on
 * stdout, all in the CSV) and the command exits 1. */
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "dataset.h"
#include "evaluate.h"
#include "fileio.h"
#include "generator.h"
#include "metrics.h"
#include "plot_bench.h"

static const char bench_help[] =
    "usage: dinamo bench --method s|ml --datasets N [--first-seed S] [--jobs J]\n"
    "                    [--out DIR] [evaluate options] [generator PARAMS]\n"
    "\n"
    "Generates and evaluates N datasets (seeds S, S+1, ...) on J threads (default:\n"
    "all cores), writes one CSV row per dataset to DIR/bench_<method>.csv (columns\n"
    "seed and the keys of 'dinamo evaluate'), and prints the paper's Table 1 row:\n"
    "median and 2.5% / 97.5% percentiles of each metric beside the paper's.\n"
    "With --horizons (DINAMO-S, e.g. 100,500) every dataset is evaluated with the\n"
    "single reference and with the horizons, side by side in one table (and one CSV\n"
    "row each); on datasets with slow defects (--slow-defects N) the table adds the\n"
    "sensitivity on the runs bad because of a slow defect. --stat-debiasing 1\n"
    "(DINAMO-S, not with --horizons) debiases every dataset with the same\n"
    "--debiasing-seed.\n"
    "Beside it: DIR/metrics_<method>.csv, one row per dataset (seed, alpha,\n"
    "threshold and both regimes' metrics as 'dinamo evaluate' names them), and\n"
    "DIR/aggregated_metrics_<method>.csv, their count, mean, std, min, percentiles\n"
    "(0.1 2.3 2.5 5 15.9 25 50 75 84.1 95 97.5 97.7 99.9) and max over datasets\n"
    "(pandas describe; a metric's NaN left out). 'dinamo report --bench DIR' draws them.\n"
    "\n"
    "--alpha-scan (DINAMO-S) instead evaluates every dataset at each alpha of\n"
    "0, STEP, 2 STEP, ... below 1 (--alpha-step STEP, default 0.01), the threshold\n"
    "tuned on the historical regime for each, into DIR/alpha_scan.csv (a row per\n"
    "dataset and alpha) and DIR/alpha_scan_summary.csv (per alpha, the mean and\n"
    "std, ddof 0, over datasets of each metric).\n";

typedef struct bench_args_t {
    dn_gen_params_t gp;
    dn_slow_params_t sp;
    dn_eval_opts_t opts;
    long n, jobs;
    uint64_t first_seed;
    const char *out_dir;
    int alpha_scan;
    double alpha_step;
} bench_args_t;

typedef struct bench_job_t {
    const dn_gen_params_t *gp;
    const dn_slow_params_t *sp;
    const dn_eval_opts_t *opts;
    uint64_t first_seed;
    int n;
    atomic_int next;
    atomic_int done;
    atomic_int failed;
    dn_eval_result_t *res;     /* [n] with opts (several horizons when asked) */
    dn_eval_result_t *res_one; /* [n] the single reference on the same dataset, or NULL
                                  when opts has one horizon */
    int *rc;
    char (*msg)[DN_ERRMSG_MAX];
    int n_alpha;               /* > 0: the alpha scan instead, at alphas[n_alpha] */
    const double *alphas;
    dn_eval_result_t *scan;    /* [n * n_alpha], dataset i's at i * n_alpha */
} bench_job_t;

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

#define N_PAPER_METRICS (sizeof paper_s / sizeof paper_s[0])

/* ---- arguments ---------------------------------------------------------------------- */

/* Reads the command line into *b. Returns -1 to go on, else the exit status
 * (0 after --help, 2 after a usage error already reported). */
static int parse_args(args_t *a, bench_args_t *b)
{
    char *name;
    const char *v;
    int r;
    while ((r = next_arg(a, "--help --no-train --verbose --alpha-scan", &name, &v)) > 0) {
        int handled = 1, erc = 0;
        if (!name)
            return usage_error(a->cmd, "unexpected argument '%s'", v);
        if (!strcmp(name, "--verbose")) {
            continue;
        } else if (!strcmp(name, "--help")) {
            fputs(bench_help, stdout);
            print_ref_opts_help(stdout);
            print_gen_params_help(stdout);
            print_slow_params_help(stdout);
            return 0;
        } else if (!strcmp(name, "--datasets")) {
            erc = parse_int(a->cmd, name, v, 1, 10000000, &b->n);
        } else if (!strcmp(name, "--jobs")) {
            erc = parse_int(a->cmd, name, v, 1, 1024, &b->jobs);
        } else if (!strcmp(name, "--first-seed")) {
            erc = parse_u64(a->cmd, name, v, &b->first_seed);
        } else if (!strcmp(name, "--out")) {
            b->out_dir = v;
        } else if (!strcmp(name, "--alpha-scan")) {
            b->alpha_scan = 1;
        } else if (!strcmp(name, "--alpha-step")) {
            erc = parse_double(a->cmd, name, v, &b->alpha_step);
            if (!erc && !(b->alpha_step >= 1e-4 && b->alpha_step < 1))
                return usage_error(a->cmd, "%s", "--alpha-step must be in [0.0001, 1)");
        } else if (!(erc = parse_eval_opt(a->cmd, name, v, &b->opts, &handled)) && !handled) {
            erc = try_gen_param(a->cmd, &b->gp, name, v, &handled);
            if (!erc && !handled)
                erc = try_slow_param(a->cmd, &b->sp, name, v, &handled);
        }
        if (erc)
            return erc;
        if (!handled)
            return usage_error(a->cmd, "unknown option %s", name);
    }
    if (r < 0)
        return 2;
    if (b->n < 1)
        return usage_error(a->cmd, "%s", "--datasets N is required");
    if (b->alpha_scan && b->opts.method != DN_METHOD_S)
        return usage_error(a->cmd, "%s", "--alpha-scan is DINAMO-S's (--method s)");
    if (b->alpha_scan && b->opts.alpha >= 0)
        return usage_error(a->cmd, "%s", "--alpha-scan sets alpha itself: drop --alpha");
    if (b->alpha_scan && b->opts.horizons && b->opts.horizons->n > 1)
        return usage_error(a->cmd, "%s", "--alpha-scan evaluates the single reference: drop "
                           "--horizons");
    dn_err_t err = {0};
    if (dn_gen_params_check(&b->gp, &err) || dn_slow_params_check(&b->sp, &b->gp, &err)) {
        fprintf(stderr, "dinamo %s: %s\n", a->cmd, err.msg);
        return 2;
    }
    if (apply_debiasing(a->cmd, NULL, &b->opts))
        return 2;
    return -1;
}

/* ---- running ------------------------------------------------------------------------ */

static void *bench_worker(void *arg)
{
    bench_job_t *job = arg;
    for (;;) {
        int i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n)
            break;
        dn_err_t err = {0};
        dn_dataset_t *ds = NULL;
        int rc = dn_generate_slow(job->gp, job->sp, job->first_seed + (uint64_t)i, &ds, &err);
        if (!rc && job->n_alpha)
            rc = dn_bench_alpha_scan(ds, job->opts, job->n_alpha, job->alphas,
                                     &job->scan[(size_t)i * (size_t)job->n_alpha], &err);
        else if (!rc)
            rc = dn_evaluate(ds, job->opts, &job->res[i], &err);
        if (!rc && job->res_one) {
            dn_eval_opts_t one = *job->opts;
            one.horizons = NULL;
            rc = dn_evaluate(ds, &one, &job->res_one[i], &err);
        }
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

/* Every dataset takes ~20 MB (its counts, the references the scores keep, alpha
 * tuning's normalised copies) and gives it back. glibc handed that back to the
 * kernel each time (a thread arena's top above the trim threshold is
 * madvise(DONTNEED)d, blocks above the mmap threshold are unmapped), so each
 * dataset faulted ~5,000 fresh pages in: 35 s of system time in the 75 s wall of
 * 1000 DINAMO-S datasets on 2 threads. Kept, each thread's next dataset reuses
 * its arena's memory; the peak resident size is what one dataset per thread
 * takes either way. Blocks over 32 MB (glibc's largest mmap threshold: datasets
 * of millions of cells) are still mapped per dataset. */
static void keep_freed_memory(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

/* Runs job on up to `jobs` threads (on this one when none starts), with
 * progress on a terminal. Returns the number of threads that ran it. */
static int run_threads(bench_job_t *job, long jobs)
{
    pthread_t *th = calloc((size_t)jobs, sizeof *th);
    int started = 0;
    for (long t = 0; th && t < jobs; t++) {
        if (pthread_create(&th[t], NULL, bench_worker, job) != 0)
            break;
        started++;
    }
    if (!started)
        bench_worker(job);
    int tty = isatty(STDERR_FILENO);
    double t0 = dn_clock_mono();
    while (atomic_load(&job->done) < job->n && started) {
        if (tty) {
            int d = atomic_load(&job->done);
            double el = dn_clock_mono() - t0;
            fprintf(stderr, "\r[%d/%d datasets] %.1f s elapsed, ~%.0f s left   ", d, job->n,
                    el, d ? el * (job->n - d) / d : 0.0);
        }
        usleep(tty ? 200000 : 50000);
    }
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    if (tty)
        fputs("\r\033[K", stderr);
    free(th);
    return started ? started : 1;
}

/* ---- output ------------------------------------------------------------------------- */

static int write_bench_csv(const char *path, const bench_job_t *job, dn_err_t *err)
{
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *f = dn_outfile_stream(of);
    fputs("seed,method,alpha,threshold,balanced_accuracy,sensitivity,specificity,"
          "adaptation_time,jaccard_distance,auc_historical,n_runs,n_historical,"
          "n_change_points,n_empty,seconds,horizons,slow_sensitivity,n_slow_bad,slow_warned,"
          "nominal_specificity,error\n",
          f);
    for (int row = 0; row < job->n * (job->res_one ? 2 : 1); row++) {
        int i = row % job->n;
        const dn_eval_result_t *r = row < job->n ? &job->res[i] : &job->res_one[i];
        char list[256] = "now";
        if (r->n_horizons > 1)
            dn_hz_spec_format(&r->horizons, list, sizeof list);
        fprintf(f, "%llu,%s,", (unsigned long long)(job->first_seed + (uint64_t)i),
                job->opts->method == DN_METHOD_S ? "s" : "ml");
        if (job->rc[i]) {
            fputs(",,,,,,,,,,,,,,,,,,", f);
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
        fprintf(f, "%d,%d,%d,%d,%.4f,\"%s\",", r->n_runs, r->n_hist, r->n_change_points,
                r->n_empty, r->seconds, list);
        if (!isnan(r->slow_sensitivity))
            fprintf(f, "%.17g", r->slow_sensitivity);
        fprintf(f, ",%d,", r->n_slow_bad);
        if (!isnan(r->slow_warned))
            fprintf(f, "%.17g", r->slow_warned);
        fputc(',', f);
        if (!isnan(r->nominal_specificity))
            fprintf(f, "%.17g", r->nominal_specificity);
        fputs(",\n", f);
    }
    return dn_outfile_commit(&of, err);
}

/* ---- both regimes' metrics (issue 22) ---------------------------------------------- */

/* NaN is written as an empty field, pandas' missing value. */
static void put_num(FILE *f, double x)
{
    if (!isnan(x))
        fprintf(f, "%.17g", x);
}

static void metrics_header(FILE *f)
{
    fputs("seed,alpha,threshold", f);
    for (int k = 0; k < DN_METRIC_COLUMNS; k++)
        fprintf(f, ",%s", dn_metric_column_name(k));
    fputc('\n', f);
}

static void metrics_row(FILE *f, uint64_t seed, const dn_eval_result_t *r)
{
    double v[DN_METRIC_COLUMNS];
    dn_metric_column_values(r, v);
    fprintf(f, "%llu,", (unsigned long long)seed);
    put_num(f, r->alpha);
    fputc(',', f);
    put_num(f, r->threshold);
    for (int k = 0; k < DN_METRIC_COLUMNS; k++) {
        fputc(',', f);
        put_num(f, v[k]);
    }
    fputc('\n', f);
}

/* DIR/metrics_<method>.csv (per = 1: res is job->res) and DIR/alpha_scan.csv
 * (per = job->n_alpha: res is job->scan): a row per dataset evaluated and,
 * for the scan, per alpha (failed datasets are in bench_<method>.csv with
 * their error). */
static int write_metric_rows(const char *path, const bench_job_t *job,
                             const dn_eval_result_t *res, int per, dn_err_t *err)
{
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *f = dn_outfile_stream(of);
    metrics_header(f);
    for (int i = 0; i < job->n; i++)
        for (int k = 0; !job->rc[i] && k < per; k++)
            metrics_row(f, job->first_seed + (uint64_t)i, &res[(size_t)i * (size_t)per + k]);
    return dn_outfile_commit(&of, err);
}

/* Column k of the metrics rows: 0 alpha, 1 threshold, then the metrics. */
static double metric_col(const dn_eval_result_t *r, int k)
{
    if (k < 2)
        return k ? r->threshold : r->alpha;
    double v[DN_METRIC_COLUMNS];
    dn_metric_column_values(r, v);
    return v[k - 2];
}

/* DIR/aggregated_metrics_<method>.csv: pandas describe() of the metrics rows
 * (less the seed) with the reference's percentiles, a row per statistic.
 * vals is scratch for n results. */
static int write_aggregated_csv(const char *path, const bench_job_t *job, double *vals,
                                dn_err_t *err)
{
    enum { NC = 2 + DN_METRIC_COLUMNS };
    double (*d)[DN_DESCRIBE_N] = malloc(NC * sizeof *d);
    if (!d)
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory", path);
    int rc = 0;
    for (int k = 0; k < NC && !rc; k++) {
        int cnt = 0;
        for (int i = 0; i < job->n; i++)
            if (!job->rc[i])
                vals[cnt++] = metric_col(&job->res[i], k);
        rc = dn_describe(vals, cnt, d[k], err);
    }
    dn_outfile_t *of = rc ? NULL : dn_outfile_open(path, err);
    if (!of) {
        free(d);
        return rc ? rc : err->code;
    }
    FILE *f = dn_outfile_stream(of);
    fputs("statistic,alpha,threshold", f);
    for (int k = 0; k < DN_METRIC_COLUMNS; k++)
        fprintf(f, ",%s", dn_metric_column_name(k));
    fputc('\n', f);
    for (int s = 0; s < DN_DESCRIBE_N; s++) {
        fputs(dn_describe_label(s), f);
        for (int k = 0; k < NC; k++) {
            fputc(',', f);
            put_num(f, d[k][s]);
        }
        fputc('\n', f);
    }
    free(d);
    return dn_outfile_commit(&of, err);
}

/* DIR/alpha_scan_summary.csv: per alpha, the mean and standard deviation over
 * the datasets (numpy's std, ddof 0, as the reference's scan; a dataset's NaN
 * left out, numpy.nanmean/nanstd) of the threshold and the sixteen metrics.
 * *best_out gets the alpha of the highest mean continual balanced accuracy. */
static int write_scan_summary(const char *path, const bench_job_t *job, double *best_out,
                              dn_err_t *err)
{
    dn_outfile_t *of = dn_outfile_open(path, err);
    if (!of)
        return err->code;
    FILE *f = dn_outfile_stream(of);
    fputs("alpha,threshold_mean,threshold_std", f);
    for (int k = 0; k < DN_METRIC_MAIN; k++)
        fprintf(f, ",%s_mean,%s_std", dn_metric_column_name(k), dn_metric_column_name(k));
    fputc('\n', f);
    double best = -INFINITY;
    *best_out = NAN;
    for (int a = 0; a < job->n_alpha; a++) {
        put_num(f, job->alphas[a]);
        for (int k = 1; k < 2 + DN_METRIC_MAIN; k++) {
            double sum = 0, ss = 0;
            int cnt = 0;
            for (int i = 0; i < job->n; i++) {
                double x = job->rc[i] ? NAN
                                      : metric_col(&job->scan[(size_t)i * (size_t)job->n_alpha +
                                                              (size_t)a], k);
                if (!isnan(x)) {
                    sum += x;
                    cnt++;
                }
            }
            double mean = cnt ? sum / cnt : NAN;
            for (int i = 0; i < job->n; i++) {
                double x = job->rc[i] ? NAN
                                      : metric_col(&job->scan[(size_t)i * (size_t)job->n_alpha +
                                                              (size_t)a], k);
                if (!isnan(x))
                    ss += (x - mean) * (x - mean);
            }
            fputc(',', f);
            put_num(f, mean);
            fputc(',', f);
            put_num(f, cnt ? sqrt(ss / cnt) : NAN);
            if (k == 2 + 8 && mean > best) { /* balanced_accuracy_continual */
                best = mean;
                *best_out = job->alphas[a];
            }
        }
        fputc('\n', f);
    }
    return dn_outfile_commit(&of, err);
}

/* The datasets that failed: the first five named, then the count. */
static void print_failures(const bench_job_t *job, int failed)
{
    if (!failed)
        return;
    for (int i = 0, shown = 0; i < job->n && shown < 5; i++)
        if (job->rc[i]) {
            printf("  seed %llu failed: %s\n",
                   (unsigned long long)(job->first_seed + (uint64_t)i), job->msg[i]);
            shown++;
        }
    printf("  %d of %d datasets failed (listed in the CSV)\n", failed, job->n);
}

/* Median and 2.5 / 97.5 percentiles of the metric at `offset` over the
 * datasets that did not fail, as "0.947 (+0.020 -0.033)" into out[64]; vals
 * is scratch for n results. Returns the median. */
static double summarise(const bench_job_t *job, const dn_eval_result_t *res, size_t offset,
                        double *vals, char *out)
{
    int cnt = 0;
    for (int i = 0; i < job->n; i++)
        if (!job->rc[i])
            vals[cnt++] = *(const double *)((const char *)&res[i] + offset);
    double med = dn_percentile(vals, cnt, 50.0);
    double lo = dn_percentile(vals, cnt, 2.5), hi = dn_percentile(vals, cnt, 97.5);
    if (isnan(med))
        snprintf(out, 64, "-");
    else
        snprintf(out, 64, "%.3f (+%.3f -%.3f)", med, hi - med, med - lo);
    return med;
}

/* Our median and percentiles of each metric beside the paper's Table 1; with
 * several horizons, the single reference's column first (the same datasets),
 * and the slow-defect sensitivity when the datasets have slow defects. vals
 * is scratch for n results. */
static void print_table(const bench_job_t *job, double *vals)
{
    const paper_metric_t *table = job->opts->method == DN_METHOD_S ? paper_s : paper_ml;
    char list[256] = "now", head[300];
    if (job->res_one) {
        dn_hz_spec_format(job->opts->horizons, list, sizeof list);
        snprintf(head, sizeof head, "horizons now,%s", list);
        printf("%-18s %-26s %-26s %-26s %s\n", "metric", "one horizon (now)", head,
               "paper: median (+ -)", "inside (now / horizons)");
    } else {
        printf("%-18s %-26s %-26s %s\n", "metric", "ours: median (+97.5 -2.5)",
               "paper: median (+ -)", "our median inside paper's 95% interval");
    }
    for (size_t k = 0; k < N_PAPER_METRICS; k++) {
        const paper_metric_t *m = &table[k];
        char ours[64], one[64], paper[64];
        double med = summarise(job, job->res, m->offset, vals, ours);
        snprintf(paper, sizeof paper, "%.3f (+%.3f -%.3f)", m->median, m->plus, m->minus);
#define INSIDE(x) ((x) >= m->median - m->minus && (x) <= m->median + m->plus ? "yes" : "NO")
        if (job->res_one) {
            double med1 = summarise(job, job->res_one, m->offset, vals, one);
            printf("%-18s %-26s %-26s %-26s %s / %s\n", m->name, one, ours, paper, INSIDE(med1),
                   INSIDE(med));
        } else {
            printf("%-18s %-26s %-26s %s\n", m->name, ours, paper, INSIDE(med));
        }
#undef INSIDE
    }
    int slow = 0;
    for (int i = 0; i < job->n; i++)
        slow += !job->rc[i] && job->res[i].n_slow_bad > 0;
    if (!slow)
        return;
    static const struct { const char *name; size_t at; const char *what; } rows[] = {
        {"slow_sensitivity", offsetof(dn_eval_result_t, slow_sensitivity),
         "bad runs of a slow defect past its tolerance, caught"},
        {"slow_warned", offsetof(dn_eval_result_t, slow_warned),
         "good runs of a slow defect below tolerance, flagged early"},
        {"nominal_specificity", offsetof(dn_eval_result_t, nominal_specificity),
         "good runs without any slow defect, passed"},
    };
    printf("slow defects (%d datasets with slow-defect bad runs):\n", slow);
    for (size_t k = 0; k < sizeof rows / sizeof *rows; k++) {
        char ours[64], one[64];
        summarise(job, job->res, rows[k].at, vals, ours);
        if (job->res_one) {
            summarise(job, job->res_one, rows[k].at, vals, one);
            printf("%-19s %-26s %-26s %s\n", rows[k].name, one, ours, rows[k].what);
        } else {
            printf("%-19s %-26s %s\n", rows[k].name, ours, rows[k].what);
        }
    }
}

/* ---- the alpha scan ----------------------------------------------------------------- */

/* The reference's metrics-vs-alpha scan: every dataset at every alpha of
 * 0, step, ... below 1 on the bench's threads (a thread generates a dataset
 * once and evaluates it at all alphas), then alpha_scan.csv and its summary.
 * Returns the exit status. */
static int alpha_scan(const char *cmd, const bench_args_t *b, bench_job_t *job)
{
    dn_err_t err = {0};
    int n_alpha = 0, status = 1;
    while (n_alpha * b->alpha_step < 1 - 1e-9) /* numpy.arange(0, 1, step) */
        n_alpha++;
    double *alphas = malloc((size_t)n_alpha * sizeof *alphas);
    job->scan = calloc((size_t)job->n * (size_t)n_alpha, sizeof *job->scan);
    if (!alphas || !job->scan) {
        status = fail_with(cmd, &err, DN_ENOMEM);
        goto fail;
    }
    for (int k = 0; k < n_alpha; k++)
        alphas[k] = k * b->alpha_step;
    job->alphas = alphas;
    job->n_alpha = n_alpha;
    double t0 = dn_clock_mono();
    keep_freed_memory();
    int threads = run_threads(job, b->jobs);
    double wall = dn_clock_mono() - t0;
    printf("alpha scan: DINAMO-S on %d datasets (seeds %llu..%llu) x %d alphas (0 .. %g), "
           "%d threads: %.1f s wall\n", job->n, (unsigned long long)b->first_seed,
           (unsigned long long)(b->first_seed + (uint64_t)job->n - 1), n_alpha,
           alphas[n_alpha - 1], threads, wall);
    print_failures(job, atomic_load(&job->failed));
    char path[4096];
    double best = NAN;
    snprintf(path, sizeof path, "%s/alpha_scan.csv", b->out_dir);
    int rc = write_metric_rows(path, job, job->scan, job->n_alpha, &err);
    if (!rc) {
        printf("rows: %s\n", path);
        snprintf(path, sizeof path, "%s/alpha_scan_summary.csv", b->out_dir);
        rc = write_scan_summary(path, job, &best, &err);
    }
    if (rc) {
        status = fail_with(cmd, &err, rc);
        goto fail;
    }
    printf("summary: %s (highest mean continual balanced accuracy at alpha %g)\n", path, best);
    status = atomic_load(&job->failed) ? 1 : 0;
fail:
    free(alphas);
    free(job->scan);
    job->scan = NULL;
    return status;
}

/* ---- the command -------------------------------------------------------------------- */

int cmd_bench(args_t *a)
{
    bench_args_t b = {.jobs = sysconf(_SC_NPROCESSORS_ONLN), .out_dir = ".", .alpha_step = 0.01};
    dn_gen_params_default(&b.gp);
    dn_slow_params_default(&b.sp);
    dn_eval_opts_default(&b.opts);
    if (b.jobs < 1)
        b.jobs = 1;
    int status = parse_args(a, &b);
    if (status >= 0)
        return status;
    dn_err_t err = {0};
    if (dn_mkdirs(b.out_dir, &err))
        return fail_with(a->cmd, &err, DN_EIO);
    const char *method = b.opts.method == DN_METHOD_S ? "s" : "ml";
    bench_job_t job = {.gp = &b.gp, .sp = &b.sp, .opts = &b.opts, .first_seed = b.first_seed,
                       .n = (int)b.n};
    job.res = calloc((size_t)b.n, sizeof *job.res);
    job.rc = calloc((size_t)b.n, sizeof *job.rc);
    job.msg = calloc((size_t)b.n, sizeof *job.msg);
    int several = b.opts.method == DN_METHOD_S && b.opts.horizons && b.opts.horizons->n > 1;
    if (several)
        job.res_one = calloc((size_t)b.n, sizeof *job.res_one);
    double *vals = malloc((size_t)b.n * sizeof *vals);
    if (!job.res || !job.rc || !job.msg || !vals || (several && !job.res_one)) {
        status = fail_with(a->cmd, &err, DN_ENOMEM);
        goto fail;
    }
    if (b.alpha_scan) {
        status = alpha_scan(a->cmd, &b, &job);
        goto fail;
    }
    double t0 = dn_clock_mono();
    keep_freed_memory();
    int threads = run_threads(&job, b.jobs);
    double wall = dn_clock_mono() - t0;
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_%s.csv", b.out_dir, method);
    int rc = write_bench_csv(path, &job, &err);
    if (rc)
        fprintf(stderr, "dinamo bench: %s\n", err.msg);
    int failed = atomic_load(&job.failed);
    for (int i = 0; i < job.n; i++) /* generated data has its edges; said if not */
        if (!job.rc[i] && job.res[i].edges_unknown) {
            warn_edges_unknown(a->cmd);
            break;
        }
    printf("DINAMO-%s on %d datasets (seeds %llu..%llu), %d threads: %.1f s wall, %.1f ms "
           "per dataset per thread\n", b.opts.method == DN_METHOD_S ? "S" : "ML", job.n,
           (unsigned long long)b.first_seed, (unsigned long long)(b.first_seed + (uint64_t)b.n - 1),
           threads, wall, 1e3 * wall * (double)threads / job.n);
    print_failures(&job, failed);
    print_table(&job, vals);
    printf("rows: %s\n", path);
    snprintf(path, sizeof path, "%s/metrics_%s.csv", b.out_dir, method);
    int rc2 = write_metric_rows(path, &job, job.res, 1, &err);
    if (!rc2) {
        printf("both regimes' metrics: %s\n", path);
        snprintf(path, sizeof path, "%s/aggregated_metrics_%s.csv", b.out_dir, method);
        rc2 = write_aggregated_csv(path, &job, vals, &err);
    }
    if (!rc2)
        printf("aggregated: %s\n", path);
    else
        fprintf(stderr, "dinamo bench: %s\n", err.msg);
    rc = rc ? rc : rc2;
    status = (rc || failed) ? 1 : 0;
fail:
    free(vals);
    free(job.res);
    free(job.res_one);
    free(job.rc);
    free(job.msg);
    return status;
}
