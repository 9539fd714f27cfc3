/* test_plot_bench.c: results over many datasets (plot_bench.h, `dinamo bench`
 * and `dinamo report --bench`).
 *
 *   - dn_describe against pandas describe's numbers computed with numpy
 *     (tools/make_ref_bench_fixtures.py -> tests/fixtures/ref_bench_*.csv),
 *     NaN left out as pandas does, to 1e-12 relative;
 *   - the metric columns map dn_eval_result_t's fields in the published order;
 *   - the alpha scan tunes, at each alpha, the threshold dn_evaluate tunes
 *     for that alpha (bit for bit);
 *   - the CSV reader refuses damaged input with the file and line, and
 *     `dinamo report --bench` stops on it with that message;
 *   - the figures are written, and refused without data. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evaluate.h"
#include "fileio.h"
#include "generator.h"
#include "plot_bench.h"
#include "shell.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void) { dn_test_tmpdir(dir, "plot_bench"); }
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(plot_bench, .init = setup, .fini = teardown);

static dn_btable_t *read_table(const char *path)
{
    dn_btable_t *t = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_btable_read(path, &t, &err), 0, "%s", err.msg);
    return t;
}

Test(plot_bench, describe_equals_pandas_describe_by_numpy)
{
    dn_btable_t *m = read_table("tests/fixtures/ref_bench_metrics.csv");
    dn_btable_t *d = read_table("tests/fixtures/ref_bench_describe.csv");
    cr_assert_eq(dn_btable_rows(d), DN_DESCRIBE_N);
    cr_assert_eq(dn_btable_rows(m), 37);
    double worst = 0;
    const char *worst_at = "", *worst_row = "";
    int checked = 0;
    for (int c = 1; c < dn_btable_cols(m); c++) {
        const char *name = dn_btable_name(m, c);
        int dc = dn_btable_find(d, name);
        cr_assert(dc >= 0, "describe fixture lacks %s", name);
        const double *ref = dn_btable_column(d, dc);
        double got[DN_DESCRIBE_N];
        dn_err_t err = {0};
        cr_assert_eq(dn_describe(dn_btable_column(m, c), dn_btable_rows(m), got, &err), 0, "%s",
                     err.msg);
        for (int s = 0; s < DN_DESCRIBE_N; s++) {
            cr_assert_eq(isnan(got[s]), isnan(ref[s]), "%s %s: ours %.17g, numpy %.17g", name,
                         dn_describe_label(s), got[s], ref[s]);
            if (isnan(ref[s]))
                continue;
            double diff = fabs(got[s] - ref[s]) / fmax(1.0, fabs(ref[s]));
            if (diff > worst) {
                worst = diff;
                worst_at = name;
                worst_row = dn_describe_label(s);
            }
            checked++;
        }
    }
    cr_assert(checked > 250, "only %d numbers compared", checked);
    cr_assert(worst <= 1e-12, "worst relative difference %.3g at %s %s", worst, worst_at,
              worst_row);
    fprintf(stderr, "describe: %d numbers, worst relative difference %.3g (%s %s)\n", checked,
            worst, worst_at, worst_row);
    dn_btable_destroy(&m);
    dn_btable_destroy(&d);
}

Test(plot_bench, describe_labels_and_degenerate_columns)
{
    static const char *const want[DN_DESCRIBE_N] = {
        "count", "mean", "std", "min", "0.1%", "2.3%", "2.5%", "5%", "15.9%",
        "25%", "50%", "75%", "84.1%", "95%", "97.5%", "97.7%", "99.9%", "max"};
    for (int k = 0; k < DN_DESCRIBE_N; k++)
        cr_assert_str_eq(dn_describe_label(k), want[k]);
    cr_assert_null(dn_describe_label(DN_DESCRIBE_N));
    double out[DN_DESCRIBE_N], one = 2.5, none = NAN;
    dn_err_t err = {0};
    cr_assert_eq(dn_describe(&one, 1, out, &err), 0);
    cr_assert(out[0] == 1 && out[1] == 2.5 && isnan(out[2]) && out[3] == 2.5 && out[10] == 2.5 &&
              out[17] == 2.5, "one value: count %g mean %g std %g", out[0], out[1], out[2]);
    cr_assert_eq(dn_describe(&none, 1, out, &err), 0);
    cr_assert(out[0] == 0 && isnan(out[1]) && isnan(out[10]) && isnan(out[17]));
}

Test(plot_bench, metric_columns_map_the_result_fields)
{
    static const char *const first[DN_METRIC_MAIN] = {
        "balanced_accuracy_historical", "accuracy_historical", "specificity_historical",
        "sensitivity_historical", "precision_historical", "jaccard_distance_historical",
        "nsteps_to_adapt_historical", "adaptivity_index_historical",
        "balanced_accuracy_continual", "accuracy_continual", "specificity_continual",
        "sensitivity_continual", "precision_continual", "jaccard_distance_continual",
        "nsteps_to_adapt_continual", "adaptivity_index_continual"};
    for (int k = 0; k < DN_METRIC_MAIN; k++)
        cr_assert_str_eq(dn_metric_column_name(k), first[k]);
    cr_assert_str_eq(dn_metric_column_name(16), "balanced_accuracy_historical_lo");
    cr_assert_str_eq(dn_metric_column_name(21), "specificity_historical_hi");
    cr_assert_str_eq(dn_metric_column_name(35), "precision_continual_hi");
    cr_assert_null(dn_metric_column_name(36));
    for (int a = 0; a < DN_METRIC_COLUMNS; a++)
        for (int b = a + 1; b < DN_METRIC_COLUMNS; b++)
            cr_assert(strcmp(dn_metric_column_name(a), dn_metric_column_name(b)), "%d == %d", a, b);
    /* every field a distinct value: each column must pick its own */
    dn_eval_result_t r;
    memset(&r, 0, sizeof r);
    dn_regime_metrics_t *g[2] = {&r.historical, &r.continual};
    for (int i = 0; i < 2; i++) {
        for (int x = 0; x < DN_N_RATES; x++) {
            g[i]->rate[x] = 100 * i + x;
            g[i]->rate_lo[x] = 100 * i + 10 + x;
            g[i]->rate_hi[x] = 100 * i + 20 + x;
        }
        g[i]->jaccard_distance = 100 * i + 30;
        g[i]->nsteps_to_adapt = 100 * i + 31;
        g[i]->adaptivity_index = 100 * i + 32;
    }
    double v[DN_METRIC_COLUMNS];
    dn_metric_column_values(&r, v);
    cr_assert_eq(v[0], DN_RATE_BALANCED_ACCURACY);
    cr_assert_eq(v[2], DN_RATE_SPECIFICITY);
    cr_assert_eq(v[3], DN_RATE_SENSITIVITY);
    cr_assert_eq(v[13], 130);
    cr_assert_eq(v[14], 131);
    cr_assert_eq(v[15], 132);
    cr_assert_eq(v[11], 100 + DN_RATE_SENSITIVITY);
    cr_assert_eq(v[21], 20 + DN_RATE_SPECIFICITY);          /* specificity_historical_hi */
    cr_assert_eq(v[35], 100 + 20 + DN_RATE_PRECISION);      /* precision_continual_hi */
    cr_assert_eq(v[26], 100 + 10 + DN_RATE_BALANCED_ACCURACY); /* balanced_accuracy_continual_lo */
}

Test(plot_bench, alpha_scan_threshold_is_evaluates_for_that_alpha, .timeout = 120)
{
    dn_gen_params_t gp;
    dn_gen_params_default(&gp);
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&gp, 7, &ds, &err), 0, "%s", err.msg);
    dn_eval_opts_t o;
    dn_eval_opts_default(&o);
    const double alpha[3] = {0.0, 0.35, 0.9};
    dn_eval_result_t scan[3], one;
    cr_assert_eq(dn_bench_alpha_scan(ds, &o, 3, alpha, scan, &err), 0, "%s", err.msg);
    double t_seen[3];
    for (int k = 0; k < 3; k++) {
        dn_eval_opts_t ok = o;
        ok.alpha = alpha[k];
        cr_assert_eq(dn_evaluate(ds, &ok, &one, &err), 0, "%s", err.msg);
        cr_assert_eq(scan[k].alpha, alpha[k], "alpha %g: scan used %.17g", alpha[k],
                     scan[k].alpha);
        cr_assert(scan[k].threshold == one.threshold,
                  "alpha %g: scan threshold %.17g, dn_evaluate %.17g (difference %.3g)",
                  alpha[k], scan[k].threshold, one.threshold, scan[k].threshold - one.threshold);
        cr_assert(isfinite(one.threshold));
        t_seen[k] = one.threshold;
    }
    /* the threshold is tuned per alpha, not carried over */
    cr_assert(t_seen[0] != t_seen[1] || t_seen[1] != t_seen[2], "one threshold for all alphas");
    const double bad = 1.0;
    cr_assert_eq(dn_bench_alpha_scan(ds, &o, 1, &bad, scan, &err), DN_EINVAL);
    o.method = DN_METHOD_ML;
    cr_assert_eq(dn_bench_alpha_scan(ds, &o, 1, alpha, scan, &err), DN_EINVAL);
    dn_dataset_destroy(&ds);
}

Test(plot_bench, damaged_csv_refused_with_file_and_line)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "t.csv: empty file"},
        {"a,b\n1,2\n3,", "t.csv:3: truncated"},
        {"a,b\n1,2\n3\n", "t.csv:3: 1 fields, the header has 2"},
        {"a,b\n1,2,3\n", "t.csv:2: more fields"},
        {"a,b\n1,x\n", "t.csv:2: column 'b': 'x' is not a number"},
        {"a,b\n1,2.5e\n", "t.csv:2: column 'b'"},
        {"a,a\n1,2\n", "t.csv:1: column 'a' named twice"},
        {"a,,c\n1,2,3\n", "t.csv:1: column 2 has no name"},
        {"a,b\n\n1,2\n", "t.csv:2: empty line"},
        {"a,b\n1,\"2\"\n", "t.csv:2: field 2: quote"},
        {"a,b\n1, 2\n", "t.csv:2: column 'b'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dn_btable_t *t = (dn_btable_t *)1;
        dn_err_t err = {0};
        int rc = dn_btable_parse(cases[i].text, strlen(cases[i].text), "t.csv", &t, &err);
        cr_assert_eq(rc, DN_EFORMAT, "case %zu accepted", i);
        cr_assert_null(t);
        cr_assert(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg,
                  cases[i].want);
    }
    /* what is accepted: empty and nan fields are NaN, CRLF, inf */
    const char *ok = "a,b,c\r\n1,,nan\r\n-2.5e-3,inf,7\r\n";
    dn_btable_t *t = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_btable_parse(ok, strlen(ok), "ok.csv", &t, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_btable_rows(t), 2);
    cr_assert_str_eq(dn_btable_name(t, 2), "c");
    const double *b = dn_btable_column(t, 1), *c = dn_btable_column(t, 2);
    cr_assert(isnan(b[0]) && isinf(b[1]) && isnan(c[0]) && c[1] == 7);
    cr_assert_eq(dn_btable_column(t, 0)[1], -2.5e-3);
    const char *need[] = {"a", "zz"};
    cr_assert_eq(dn_btable_require(t, need, 2, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "ok.csv: no column 'zz'"), "%s", err.msg);
    dn_btable_destroy(&t);
}

static void binary(char *bin, size_t cap)
{
    const char *b = getenv("DINAMO_BUILD");
    char rel[1024];
    snprintf(rel, sizeof rel, "%s/dinamo", b ? b : "build");
    char *abs = realpath(rel, NULL);
    cr_assert(abs && access(abs, X_OK) == 0, "dinamo binary not found at %s", rel);
    snprintf(bin, cap, "%s", abs);
    free(abs);
}

static void copy_fixture(const char *to)
{
    char *buf;
    size_t len;
    dn_err_t err = {0};
    cr_assert_eq(dn_read_file("tests/fixtures/ref_bench_metrics.csv", &buf, &len, &err), 0);
    FILE *f = fopen(to, "wb");
    cr_assert(f && fwrite(buf, 1, len, f) == len && fclose(f) == 0, "cannot write %s", to);
    free(buf);
}

static int exists(const char *d, const char *name)
{
    char p[1200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", d, name);
    return stat(p, &st) == 0 && st.st_size > 0;
}

Test(plot_bench, report_bench_draws_both_methods_and_refuses_damage, .timeout = 120)
{
    char bin[1024], p[512], out[512];
    binary(bin, sizeof bin);
    snprintf(p, sizeof p, "%s/metrics_s.csv", dir);
    copy_fixture(p);
    snprintf(p, sizeof p, "%s/metrics_ml.csv", dir);
    copy_fixture(p);
    snprintf(out, sizeof out, "%s/rep", dir);
    cr_assert_eq(sh("%s report --bench %s --out %s > %s/log 2>&1", bin, dir, out, dir), 0);
    static const char *const want[] = {
        "integrated_balanced_accuracy_s.png", "integrated_adaptivity_index_ml.svg",
        "comparison_sensitivity.png", "comparison_nsteps_to_adapt.svg", "index.html"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert(exists(out, want[i]), "%s/%s missing", out, want[i]);
    /* the row of dataset 102 cut short: refused with the file and line */
    FILE *f = fopen(p, "r+");
    cr_assert(f);
    char line[8192];
    long at = 0;
    for (int k = 0; k < 3 && fgets(line, sizeof line, f); k++)
        at = ftell(f);
    cr_assert_eq(ftruncate(fileno(f), at + 40), 0);
    fclose(f);
    cr_assert_eq(sh("%s report --bench %s --out %s/rep2 > %s/log 2>&1", bin, dir, dir, dir), 1);
    char *log;
    size_t len;
    dn_err_t err = {0};
    snprintf(p, sizeof p, "%s/log", dir);
    cr_assert_eq(dn_read_file(p, &log, &len, &err), 0);
    cr_assert(strstr(log, "metrics_ml.csv:4: truncated"), "message: %s", log);
    free(log);
}

Test(plot_bench, figures_written_and_refused_without_data)
{
    char base[256];
    dn_err_t err = {0};
    double a[50], b[40], nan50[50];
    for (int i = 0; i < 50; i++) {
        a[i] = 0.9 + 0.002 * i;
        nan50[i] = NAN;
    }
    for (int i = 0; i < 40; i++)
        b[i] = 0.92 + 0.0015 * i;
    snprintf(base, sizeof base, "%s/pair", dir);
    cr_assert_eq(dn_plot_bench_pair(base, "t", "x", "A", a, 50, "B", b, 40, 1, &err), 0, "%s",
                 err.msg);
    cr_assert(exists(dir, "pair.png") && exists(dir, "pair.svg"));
    cr_assert_eq(dn_plot_bench_pair(base, "t", "x", "A", nan50, 50, "B", nan50, 10, 1, &err),
                 DN_EINVAL);
    double inf = INFINITY;
    cr_assert_eq(dn_plot_bench_pair(base, "t", "x", "A", a, 50, "B", &inf, 1, 0, &err),
                 DN_EINVAL);
    double al[50], s[50];
    for (int i = 0; i < 50; i++) {
        al[i] = 0.02 * i;
        s[i] = 0.01;
    }
    const char *const names[3] = {"one", "two", "three"};
    const double *const mean[3] = {a, a, nan50}, *const sd[3] = {s, s, s};
    snprintf(base, sizeof base, "%s/alpha", dir);
    cr_assert_eq(dn_plot_bench_alpha(base, "t", 50, al, names, mean, sd, &err), 0, "%s", err.msg);
    cr_assert(exists(dir, "alpha.png") && exists(dir, "alpha.svg"));
    al[3] = al[2];
    cr_assert_eq(dn_plot_bench_alpha(base, "t", 50, al, names, mean, sd, &err), DN_EINVAL);
}
