/* test_cli.c: the `dinamo` command end to end, as a user runs it: outputs,
 * reproducibility, exit codes and error messages for bad input, and that a failed
 * command leaves no half-written output. Runs the binary built beside the suites
 * ($DINAMO_BUILD/dinamo, default build/dinamo). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csvread.h"
#include "dataset.h"
#include "generator.h"
#include "jsroot.h"
#include "users.h"

static char tmpdir[256];
static char bin[1024];

static void setup(void)
{
    const char *b = getenv("DINAMO_BUILD");
    snprintf(bin, sizeof bin, "%s/dinamo", b ? b : "build");
    if (bin[0] != '/') {
        char *abs = realpath(bin, NULL);
        cr_assert(abs, "dinamo binary not found at %s", bin);
        snprintf(bin, sizeof bin, "%s", abs);
        free(abs);
    }
    cr_assert(access(bin, X_OK) == 0, "dinamo binary not found at %s", bin);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dinamo-cli-XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", tmpdir);
}

/* Runs `dinamo ARGS` with stdout and stderr captured; returns the exit status. */
static int run(const char *args, char *out, size_t outlen, char *errout, size_t errlen)
{
    char cmd[4096], of[300], ef[300];
    snprintf(of, sizeof of, "%s/stdout.txt", tmpdir);
    snprintf(ef, sizeof ef, "%s/stderr.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s' 2>'%s'", tmpdir, bin, args, of, ef);
    int st = system(cmd);
    const char *files[2] = {of, ef};
    char *bufs[2] = {out, errout};
    size_t lens[2] = {outlen, errlen};
    for (int k = 0; k < 2; k++) {
        if (!bufs[k])
            continue;
        FILE *f = fopen(files[k], "r");
        size_t n = f ? fread(bufs[k], 1, lens[k] - 1, f) : 0;
        bufs[k][n] = '\0';
        if (f)
            fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    if (len)
        *len = got;
    return b;
}

static void write_text(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return stat(path, &st) == 0;
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

Test(cli, generate_is_reproducible_and_complete)
{
    char out[4096], err[4096];
    cr_assert_eq(run("generate --seed 7 --out a --runs 300 --anomalous 30", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("generate --seed 7 --out b --runs 300 --anomalous 30", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("generate --seed 8 --out c --runs 300 --anomalous 30", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    const char *files[3] = {"runs.csv", "truth.csv", "meta.json"};
    for (int k = 0; k < 3; k++) {
        char pa[512], pb[512], pc[512];
        snprintf(pa, sizeof pa, "%s/a/%s", tmpdir, files[k]);
        snprintf(pb, sizeof pb, "%s/b/%s", tmpdir, files[k]);
        snprintf(pc, sizeof pc, "%s/c/%s", tmpdir, files[k]);
        size_t la, lb, lc;
        char *a = slurp(pa, &la), *b = slurp(pb, &lb), *c = slurp(pc, &lc);
        cr_assert(a && b && c, "missing %s", files[k]);
        cr_assert(la == lb && memcmp(a, b, la) == 0, "%s differs for the same seed", files[k]);
        if (k < 2)
            cr_assert(la != lc || memcmp(a, c, la) != 0, "%s same for seeds 7 and 8", files[k]);
        if (k == 0)
            cr_assert(strncmp(a, "run,label,b0,b1,", 16) == 0, "header: %.40s", a);
        if (k == 1)
            cr_assert(strncmp(a, "run,mu,sigma,rapid_change", 25) == 0, "header: %.40s", a);
        if (k == 2) {
            cr_assert(strstr(a, "\"bin_edges\""), "meta.json lacks bin_edges");
            cr_assert(strstr(a, "\"seed\""), "meta.json lacks the seed");
        }
        free(a);
        free(b);
        free(c);
    }
}

Test(cli, evaluate_prints_the_metrics_json)
{
    char out[8192], err[4096];
    cr_assert_eq(run("generate --seed 70 --out d --runs 1600 --anomalous 160", out,
                     sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("evaluate d --method s", out, sizeof out, err, sizeof err), 0,
                 "stderr: %s", err);
    const char *keys[] = {"\"alpha\"", "\"threshold\"", "\"balanced_accuracy\"",
                          "\"sensitivity\"", "\"specificity\"", "\"adaptation_time\"",
                          "\"jaccard_distance\""};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        cr_assert(strstr(out, keys[k]), "evaluate output lacks %s: %s", keys[k], out);
    double ba = -1;
    const char *p = strstr(out, "\"balanced_accuracy\": ");
    cr_assert(p && sscanf(p + 21, "%lf", &ba) == 1, "no number: %s", out);
    cr_assert(ba > 0.8 && ba <= 1.0, "balanced accuracy %g implausible", ba);

    /* Given alpha and threshold are used as given. */
    cr_assert_eq(run("evaluate d --method s --alpha 0.8 --threshold 1.5", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    cr_assert(strstr(out, "\"alpha\": 0.8,"), "alpha not used: %s", out);
    cr_assert(strstr(out, "\"threshold\": 1.5"), "threshold not used: %s", out);

    /* The same result from the runs file alone, except the truth-based metrics. */
    cr_assert_eq(run("evaluate d/runs.csv --method s --alpha 0.8 --threshold 1.5", out,
                     sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert(strstr(out, "\"jaccard_distance\": null"), "no truth, yet: %s", out);
}

/* Issue 19: without meta.json's bin_edges the Jaccard distance would be
 * computed on bin numbers (0.83 for 0.11 on a reference dataset): it is null,
 * with one warning; a truth.csv of only run,mu,sigma,rapid_change evaluates to
 * the same numbers as the generator's eight columns. */
Test(cli, evaluate_without_edges_or_with_four_truth_columns)
{
    char out[8192], with[8192], err[4096], path[512];
    cr_assert_eq(run("generate --seed 70 --out d --runs 1600 --anomalous 160", out,
                     sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("evaluate d --method s", with, sizeof with, err, sizeof err), 0,
                 "stderr: %s", err);
    cr_assert(!strstr(err, "Jaccard"), "warned with edges: %s", err);
    const char *jd = strstr(with, "\"jaccard_distance\": ");
    double x = -1;
    cr_assert(jd && sscanf(jd + 20, "%lf", &x) == 1 && x > 0 && x < 1, "no number: %s", with);
    /* everything up to "seconds" must be the same */
    size_t upto = (size_t)(strstr(with, "\"seconds\"") - with);

    /* four truth columns */
    snprintf(path, sizeof path, "%s/d/truth.csv", tmpdir);
    size_t n = 0;
    char *truth = slurp(path, &n);
    cr_assert(truth);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (char *p = truth, *nl; p < truth + n; p = nl + 1) {
        nl = strchr(p, '\n');
        char *c = p;
        for (int k = 0; k < 4; k++)
            c = strchr(c, ',') + (k < 3);
        fprintf(f, "%.*s\n", (int)(c - p), p);
    }
    cr_assert_eq(fclose(f), 0);
    free(truth);
    cr_assert_eq(run("evaluate d --method s", out, sizeof out, err, sizeof err), 0,
                 "stderr: %s", err);
    cr_assert(strncmp(out, with, upto) == 0, "four truth columns:\n%s\neight:\n%s", out, with);

    /* no meta.json: null and one warning, the other metrics unchanged */
    snprintf(path, sizeof path, "%s/d/meta.json", tmpdir);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(run("evaluate d --method s", out, sizeof out, err, sizeof err), 0,
                 "stderr: %s", err);
    cr_assert(strstr(out, "\"jaccard_distance\": null"), "%s", out);
    const char *warning = "dinamo evaluate: warning: Jaccard distance not computed: bin edges "
                          "unknown (no meta.json bin_edges)\n";
    cr_assert_str_eq(err, warning);
    size_t before = (size_t)(jd - with);
    cr_assert(strncmp(out, with, before) == 0, "metrics before the Jaccard distance changed:"
              "\n%s\n%s", out, with);
}

Test(cli, score_writes_scores_and_pulls)
{
    char out[4096], err[4096];
    cr_assert_eq(run("generate --seed 3 --out d --runs 200 --anomalous 20 --bins 10 "
                     "--dead-max 5", out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("score --method s --alpha 0.7 --in d/runs.csv --out s.csv --pulls p.csv",
                     out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    char path[512];
    snprintf(path, sizeof path, "%s/s.csv", tmpdir);
    char *s = slurp(path, NULL);
    cr_assert(s && strncmp(s, "run,label,chi2,score,status\n", 28) == 0, "header: %.60s", s);
    int lines = 0;
    for (char *c = s; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 201, "scores.csv has %d lines", lines);
    free(s);
    snprintf(path, sizeof path, "%s/p.csv", tmpdir);
    s = slurp(path, NULL);
    cr_assert(s && strncmp(s, "run,pull_b0,", 12) == 0, "pulls header: %.60s", s);
    cr_assert(strstr(s, "ref_unc_b9\n"), "pulls header lacks ref_unc_b9");
    free(s);
}

Test(cli, bad_input_is_named_and_leaves_no_output)
{
    char out[4096], err[4096];
    write_text("nan.csv", "run,label,b0,b1,b2\n0,0,1,2,3\n1,0,4,nan,6\n");
    cr_assert_eq(run("score --method s --alpha 0.5 --in nan.csv --out s.csv", out,
                     sizeof out, err, sizeof err), 1, "stderr: %s", err);
    cr_assert(strstr(err, "nan.csv:3"), "message lacks file:line: %s", err);
    cr_assert(strstr(err, "b1"), "message lacks the column: %s", err);
    cr_assert(!exists("s.csv"), "a failed command left s.csv behind");

    write_text("neg.csv", "run,label,b0,b1,b2\n0,0,1,2,3\n1,0,4,-5,6\n");
    cr_assert_eq(run("score --method s --alpha 0.5 --in neg.csv --out s.csv", out,
                     sizeof out, err, sizeof err), 1, "stderr: %s", err);
    cr_assert(strstr(err, "neg.csv:3") && strstr(err, "negative"), "message: %s", err);

    write_text("short.csv", "run,label,b0,b1,b2\n0,0,1,2,3\n1,0,4,5\n");
    cr_assert_eq(run("score --method s --alpha 0.5 --in short.csv --out s.csv", out,
                     sizeof out, err, sizeof err), 1, "stderr: %s", err);
    cr_assert(strstr(err, "short.csv:3"), "message: %s", err);

    cr_assert_eq(run("evaluate nowhere --method s", out, sizeof out, err, sizeof err), 1);
    cr_assert(strstr(err, "nowhere"), "message lacks the path: %s", err);

    cr_assert_eq(run("score --method s --bogus 1", out, sizeof out, err, sizeof err), 2);
    cr_assert(strstr(err, "--bogus"), "message lacks the option: %s", err);
    cr_assert_eq(run("generate --seed x --out a", out, sizeof out, err, sizeof err), 2);
    cr_assert_eq(run("generate --seed 1 --out a --p-rapid 2", out, sizeof out, err,
                     sizeof err), 2, "stderr: %s", err);
    cr_assert(strstr(err, "p-rapid"), "message lacks the parameter: %s", err);
    cr_assert(!exists("a"), "a rejected generate created its directory");
}

Test(cli, evaluate_refuses_a_historical_regime_without_both_classes)
{
    char out[4096], err[4096];
    write_text("few.csv", "run,label,b0,b1\n0,0,5,5\n1,0,6,4\n2,0,5,5\n3,1,9,1\n");
    cr_assert_eq(run("evaluate few.csv --method s --n-historical 2", out, sizeof out, err,
                     sizeof err), 1);
    cr_assert(strstr(err, "both classes"), "message: %s", err);
}

Test(cli, help_for_every_command)
{
    const char *cmds[] = {"generate", "score", "evaluate", "bench", "label", "report", "user"};
    char out[8192], err[4096];
    for (int k = 0; k < 7; k++) {
        char args[64];
        snprintf(args, sizeof args, "%s --help", cmds[k]);
        cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s --help failed",
                     cmds[k]);
        cr_assert(strstr(out, "usage: dinamo"), "%s --help: %s", cmds[k], out);
    }
}

Test(cli, bench_writes_one_row_per_dataset_and_the_table)
{
    char out[8192], err[4096];
    cr_assert_eq(run("bench --method s --datasets 3 --first-seed 11 --jobs 2 --out bo "
                     "--runs 1300 --anomalous 130",
                     out, sizeof out, err, sizeof err), 0, "stdout: %s stderr: %s", out, err);
    cr_assert(strstr(out, "balanced_accuracy") && strstr(out, "0.947"),
              "no Table 1 row beside the paper's: %s", out);
    char path[512];
    snprintf(path, sizeof path, "%s/bo/bench_s.csv", tmpdir);
    char *s = slurp(path, NULL);
    cr_assert(s, "no bench_s.csv");
    cr_assert(strncmp(s, "seed,", 5) == 0, "header: %.60s", s);
    int lines = 0;
    for (char *c = s; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 4, "bench_s.csv has %d lines, expected header + 3", lines);
    cr_assert(strstr(s, "\n11,s,") && strstr(s, "\n13,s,"), "seeds missing: %s", s);
    free(s);

    /* The same seeds evaluated one by one give the same numbers. */
    cr_assert_eq(run("generate --seed 12 --out g12 --runs 1300 --anomalous 130", out,
                     sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("evaluate g12 --method s", out, sizeof out, err, sizeof err), 0);
    char *p = strstr(out, "\"balanced_accuracy\": ");
    cr_assert(p);
    double ba_eval = strtod(p + 21, NULL);
    s = slurp(path, NULL);
    char *row = strstr(s, "\n12,s,");
    cr_assert(row);
    double alpha, thr, ba;
    cr_assert_eq(sscanf(row + 6, "%lf,%lf,%lf", &alpha, &thr, &ba), 3, "row: %.80s", row);
    cr_assert(ba == ba_eval, "bench %.17g vs evaluate %.17g", ba, ba_eval);
    free(s);
}

Test(cli, ml_scores_are_deterministic_and_no_train_freezes)
{
    char out[4096], err[4096];
    cr_assert_eq(run("generate --seed 4 --out d --runs 60 --anomalous 6 --bins 10 "
                     "--dead-max 3", out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("score --method ml --seed 3 --in d --out m1.csv", out, sizeof out, err,
                     sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("score --method ml --seed 3 --in d --out m2.csv", out, sizeof out, err,
                     sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("score --method ml --seed 3 --no-train --in d --out m3.csv", out,
                     sizeof out, err, sizeof err), 0, "stderr: %s", err);
    char p1[512], p2[512], p3[512];
    snprintf(p1, sizeof p1, "%s/m1.csv", tmpdir);
    snprintf(p2, sizeof p2, "%s/m2.csv", tmpdir);
    snprintf(p3, sizeof p3, "%s/m3.csv", tmpdir);
    size_t l1, l2, l3;
    char *a = slurp(p1, &l1), *b = slurp(p2, &l2), *c = slurp(p3, &l3);
    cr_assert(a && b && c);
    cr_assert(strncmp(a, "run,label,chi2,score,status\n", 28) == 0, "header: %.40s", a);
    cr_assert(l1 == l2 && memcmp(a, b, l1) == 0, "same seed, different ML scores");
    cr_assert(l1 != l3 || memcmp(a, c, l1) != 0, "--no-train gave the trained scores");
    free(a);
    free(b);
    free(c);
    cr_assert_eq(run("score --method s --no-train --in d --out x.csv", out, sizeof out, err,
                     sizeof err), 2);
    cr_assert(strstr(err, "--method ml"), "message: %s", err);
}

/* evaluate --scores writes the scores it evaluated: byte for byte what
 * `dinamo score` writes for the same options, for both methods. */
Test(cli, evaluate_scores_are_the_score_commands_byte_for_byte)
{
    char out[4096], err[4096];
    cr_assert_eq(run("generate --seed 5 --out d --runs 80 --anomalous 8 --bins 12 "
                     "--dead-max 3", out,
                     sizeof out, err, sizeof err), 0, "stderr: %s", err);
    const char *cmds[][2] = {
        {"score --method s --n-historical 40 --in d --out s1.csv",
         "evaluate d --method s --n-historical 40 --scores s2.csv"},
        {"score --method ml --seed 2 --in d --out m1.csv",
         "evaluate d --method ml --seed 2 --n-historical 40 --scores m2.csv"},
    };
    const char *files[][2] = {{"s1.csv", "s2.csv"}, {"m1.csv", "m2.csv"}};
    for (int m = 0; m < 2; m++) {
        cr_assert_eq(run(cmds[m][0], out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
        cr_assert_eq(run(cmds[m][1], out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
        cr_assert(strstr(out, "\"balanced_accuracy\""), "no metrics printed: %s", out);
        char p1[512], p2[512];
        snprintf(p1, sizeof p1, "%s/%s", tmpdir, files[m][0]);
        snprintf(p2, sizeof p2, "%s/%s", tmpdir, files[m][1]);
        size_t l1 = 0, l2 = 0;
        char *a = slurp(p1, &l1), *b = slurp(p2, &l2);
        cr_assert(a && b, "%s or %s missing", files[m][0], files[m][1]);
        size_t at = 0;
        while (at < l1 && at < l2 && a[at] == b[at])
            at++;
        cr_assert(l1 == l2 && at == l1, "%s and %s differ at byte %zu of %zu/%zu: '%.40s' vs "
                  "'%.40s'", files[m][0], files[m][1], at, l1, l2, a + at, b + at);
        free(a);
        free(b);
    }
}

/* dinamo report: the history and class figures, one histogram figure and one
 * history per flagged run (as many as evaluate flags above the threshold it
 * prints), PNG and SVG, and an index.html that shows them all. */
Test(cli, report_draws_every_flagged_run)
{
    char out[8192], err[8192];
    cr_assert_eq(run("generate --seed 3 --runs 200 --anomalous 20 --out ds", out, sizeof out,
                     err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(run("report ds --method s --n-historical 80 --max-runs 100", out, sizeof out,
                     err, sizeof err),
                 0, "%s", err);
    int flagged = -1, drawn = -1, cont = -1;
    cr_assert_eq(sscanf(strstr(out, "index.html (") + 12, "%d flagged runs of %d, %d drawn",
                        &flagged, &cont, &drawn),
                 3, "%s", out);
    cr_assert_eq(cont, 120);
    cr_assert(flagged >= 10 && drawn == flagged, "%d flagged, %d drawn", flagged, drawn);
    const char *fixed[] = {"index.html", "metrics.json", "history.png", "history.svg",
                           "distributions.png", "distributions.svg"};
    for (int k = 0; k < 6; k++) {
        char name[64];
        snprintf(name, sizeof name, "ds/report/%s", fixed[k]);
        cr_assert(exists(name), "%s missing", name);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/ds/report/index.html", tmpdir);
    char *html = slurp(path, NULL);
    int imgs = 0;
    for (char *p = html; (p = strstr(p, "<img src=\"run_")); p++)
        imgs++;
    cr_assert_eq(imgs, 2 * drawn, "index.html shows %d run figures, want %d", imgs, 2 * drawn);
    int named = 0; /* each flagged run's worst bins, named as the evaluator names them */
    for (char *p = html; (p = strstr(p, "<p>worst bins (pull): b")); p++)
        named++;
    cr_assert_eq(named, drawn, "index.html names the worst bins of %d runs, want %d", named,
                 drawn);
    for (char *p = html; (p = strstr(p, "<img src=\"")); p++) {
        char name[128];
        cr_assert_eq(sscanf(p + 10, "%100[^\"]", name), 1);
        char rel[160];
        snprintf(rel, sizeof rel, "ds/report/%s", name);
        cr_assert(exists(rel), "index.html shows %s, which is missing", rel);
    }
    free(html);
    /* the metrics are dinamo evaluate's */
    cr_assert_eq(run("evaluate ds --method s --n-historical 80", out, sizeof out, err,
                     sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/ds/report/metrics.json", tmpdir);
    char *m = slurp(path, NULL);
    char *cut = strstr(out, "\"seconds\""), *cut2 = strstr(m, "\"seconds\"");
    cr_assert(cut && cut2);
    cr_assert(!strncmp(out, m, (size_t)(cut - out)), "report metrics differ:\n%s\n%s", out, m);
    free(m);
}

/* dinamo report --horizons: runs flagged by the combined verdict, each drawn
 * against the horizon that fired (named in index.html and in the figure's
 * title), as many as dinamo evaluate --horizons counts per horizon, and the
 * same metrics. */
Test(cli, report_with_horizons_draws_each_run_against_the_one_that_fired)
{
    char out[8192], err[8192];
    cr_assert_eq(run("generate --seed 3 --runs 900 --anomalous 60 --slow-defects 1 "
                     "--slow-first 300 --slow-ramp-min 200 --slow-ramp-max 300 --slow-hold 100 "
                     "--drift-amplitude 0 --p-rapid 0 --out hz", out, sizeof out, err,
                     sizeof err), 0, "%s", err);
    cr_assert_eq(run("report hz --method s --n-historical 300 --horizons 100 --max-runs 40",
                     out, sizeof out, err, sizeof err), 0, "%s", err);
    int flagged = -1, drawn = -1, cont = -1;
    cr_assert_eq(sscanf(strstr(out, "index.html (") + 12, "%d flagged runs of %d, %d drawn",
                        &flagged, &cont, &drawn), 3, "%s", out);
    cr_assert_eq(drawn, 40, "%d drawn of %d flagged", drawn, flagged);
    char path[512];
    snprintf(path, sizeof path, "%s/hz/report/index.html", tmpdir);
    char *html = slurp(path, NULL);
    int by_now = 0, by_old = 0;
    long old_run = -1;
    for (char *p = html; (p = strstr(p, ": fired by now (")); p++)
        by_now++;
    for (char *p = html; (p = strstr(p, ": fired by 100r (")); p++) {
        by_old++;
        char *h = p;
        while (h > html && strncmp(h, "<h3", 3))
            h--;
        sscanf(h, "<h3 id=\"run%ld\"", &old_run);
    }
    cr_assert_eq(by_now + by_old, drawn, "%d + %d runs named, %d drawn", by_now, by_old, drawn);
    cr_assert(by_old > 0 && old_run >= 0, "no drawn run fired by the 100-run horizon");
    char fig[64];
    snprintf(fig, sizeof fig, "hz/report/run_%ld.png", old_run);
    cr_assert(exists(fig), "%s missing", fig);
    free(html);
    /* the combined verdict is dinamo evaluate --horizons' */
    cr_assert_eq(run("evaluate hz --method s --n-historical 300 --horizons 100", out,
                     sizeof out, err, sizeof err), 0, "%s", err);
    int now_n = -1, old_n = -1;
    char *f = strstr(out, "\"horizon_flagged\": {\"now\": ");
    cr_assert(f && sscanf(f, "\"horizon_flagged\": {\"now\": %d, \"100r\": %d", &now_n,
                          &old_n) == 2, "%s", out);
    cr_assert_eq(flagged, now_n + old_n, "report flags %d runs; evaluate: now %d + 100r %d",
                 flagged, now_n, old_n);
    snprintf(path, sizeof path, "%s/hz/report/metrics.json", tmpdir);
    char *m = slurp(path, NULL);
    char *cut = strstr(out, "\"seconds\""), *cut2 = strstr(m, "\"seconds\"");
    cr_assert(cut && cut2);
    cr_assert(!strncmp(out, m, (size_t)(cut - out)), "report metrics differ:\n%s\n%s", out, m);
    free(m);
}

Test(cli, user_add_list_remove)
{
    char out[4096], err[4096], path[400];
    write_text("pw.txt", "correct horse\r\n");
    write_text("short.txt", "short\n");
    cr_assert_eq(run("user add alice --file k/users --password-stdin <pw.txt", out, sizeof out,
                     err, sizeof err), 0, "add: %s", err);
    snprintf(path, sizeof path, "%s/k/users", tmpdir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "mode %03o", (unsigned)(st.st_mode & 0777));
    /* The password read from the pipe, without its end of line, is alice's. */
    dn_err_t e = {0};
    dn_users_t *u = dn_users_load(path, &e);
    cr_assert_not_null(u, "%s", e.msg);
    cr_assert_eq(dn_users_verify(u, "alice", "correct horse", &e), 0, "%s", e.msg);
    dn_users_destroy(&u);

    cr_assert_eq(run("user add alice --file k/users --password-stdin <pw.txt", out, sizeof out,
                     err, sizeof err), 1);
    cr_assert(strstr(err, "user alice exists"), "%s", err);
    cr_assert_eq(run("user add bob --file k/users <pw.txt", out, sizeof out, err, sizeof err), 2,
                 "a pipe without --password-stdin: %s", err);
    cr_assert(strstr(err, "--password-stdin"), "%s", err);
    cr_assert_eq(run("user add bob --file k/users --password-stdin <short.txt", out, sizeof out,
                     err, sizeof err), 1);
    cr_assert(strstr(err, "want at least 8"), "%s", err);
    cr_assert_eq(run("user add 'b o b' --file k/users --password-stdin <pw.txt", out,
                     sizeof out, err, sizeof err), 2);
    cr_assert_eq(run("user list --file k/users", out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(out, "alice\n");
    cr_assert_eq(run("user remove alice --file k/users", out, sizeof out, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(run("user remove alice --file k/users", out, sizeof out, err, sizeof err), 1);
    cr_assert_eq(run("user list --file k/users", out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(out, "");
    chmod(path, 0644);
    cr_assert_eq(run("user list --file k/users", out, sizeof out, err, sizeof err), 1);
    cr_assert(strstr(err, "chmod 600 it"), "%s", err);
    /* The default file: keys/users, or $DINAMO_KEYS_DIR/users. */
    cr_assert_eq(run("user add carol --password-stdin <pw.txt", out, sizeof out, err,
                     sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/keys/users", tmpdir);
    cr_assert_eq(access(path, F_OK), 0, "no %s", path);
    cr_assert_eq(run("user list", out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(out, "carol\n");
    setenv("DINAMO_KEYS_DIR", "elsewhere", 1);
    int rc = run("user list", out, sizeof out, err, sizeof err);
    unsetenv("DINAMO_KEYS_DIR");
    cr_assert_eq(rc, 1);
    cr_assert(strstr(err, "users file elsewhere/users: No such file"), "%s", err);
}

/* The CSV file at tmpdir/name parsed (header row 0). */
static void read_csv(const char *name, csv_doc_t *doc)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    size_t len;
    char *text = slurp(path, &len);
    cr_assert_not_null(text, "no %s", path);
    cr_assert_eq(csv_parse(text, len, doc), 0, "%s: %s", name, doc->error);
    free(text);
}

/* `generate --format root` holds, file for file, the CSV dataset's counts
 * and edges as JSROOT reads them; the same seed gives the same bytes. */
Test(cli, generate_format_root_is_the_csv_dataset_as_jsroot_reads_it)
{
    char out[4096], err[4096];
    const char *gen = "generate --seed 3 --runs 200 --anomalous 20 --bins 10 --dead-max 5";
    char cmd[300];
    snprintf(cmd, sizeof cmd, "%s --out c", gen);
    cr_assert_eq(run(cmd, out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    snprintf(cmd, sizeof cmd, "%s --out r --format root", gen);
    cr_assert_eq(run(cmd, out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    snprintf(cmd, sizeof cmd, "%s --out r2 --format=root", gen);
    cr_assert_eq(run(cmd, out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert(!exists("r/runs.csv"), "a ROOT dataset has no runs.csv");
    cr_assert(exists("r/labels.csv") && exists("r/truth.csv") && exists("r/meta.json"));
    char diff[700];
    snprintf(diff, sizeof diff, "diff -r '%s/r' '%s/r2' >&2", tmpdir, tmpdir);
    cr_assert_eq(system(diff), 0, "the same seed gave other ROOT files");
    cr_assert_eq(run("generate --seed 3 --out x --format json", out, sizeof out, err,
                     sizeof err), 2);
    cr_assert(strstr(err, "--format json: want csv or root"), "%s", err);

    csv_doc_t runs;
    read_csv("c/runs.csv", &runs);
    const int n = runs.n_rows - 1, nb = runs.rows[0].n - 2;
    cr_assert_eq(n, 200);
    cr_assert_eq(nb, 10);
    char **files = malloc((size_t)n * sizeof *files);
    for (int i = 0; i < n; i++) {
        files[i] = malloc(600);
        snprintf(files[i], 600, "%s/r/run_%06d.root", tmpdir, atoi(runs.rows[i + 1].fields[0]));
    }
    dn_json_t *meta = NULL;
    dn_err_t jerr = {0};
    char mpath[512];
    snprintf(mpath, sizeof mpath, "%s/c/meta.json", tmpdir);
    cr_assert_eq(dn_json_parse_file(mpath, &meta, &jerr), 0, "%s", jerr.msg);
    const dn_json_value_t *edges = dn_json_get(dn_json_root(meta), "bin_edges");
    int n_lines;
    dn_json_t **lines = dn_jsroot_dump((const char *const *)files, n, &n_lines);
    cr_assert_eq(n_lines, n, "JSROOT lists %d histograms in %d files", n_lines, n);
    int differ = 0;
    char first[300] = "";
    for (int i = 0; i < n; i++) {
        const dn_json_value_t *line = dn_json_root(lines[i]);
        cr_assert_str_eq(dn_json_string(dn_json_get(line, "file")), files[i]);
        cr_assert_str_eq(dn_json_string(dn_json_get(line, "path")), "synthetic/h0");
        cr_assert_str_eq(dn_json_string(dn_json_get(line, "class")), "TH1D");
        const dn_json_value_t *v = dn_json_get(line, "values"), *x = dn_json_get(line, "xedges");
        cr_assert_eq(dn_json_array_len(v), (size_t)nb + 2);
        for (int j = 0; j < nb; j++) {
            double js = dn_jsroot_num(dn_json_array_at(v, (size_t)j + 1));
            double c = strtod(runs.rows[i + 1].fields[j + 2], NULL);
            if (js != c && !differ++)
                snprintf(first, sizeof first, "run %d bin %d: JSROOT %.17g, runs.csv %.17g", i,
                         j, js, c);
        }
        for (int j = 0; j <= nb; j++) {
            double js = dn_jsroot_num(dn_json_array_at(x, (size_t)j));
            double e = dn_json_number(dn_json_array_at(edges, (size_t)j));
            if (js != e && !differ++)
                snprintf(first, sizeof first, "run %d edge %d: JSROOT %.17g, meta.json %.17g",
                         i, j, js, e);
        }
    }
    cr_assert_eq(differ, 0, "%d numbers differ; first: %s", differ, first);
    dn_jsroot_free(lines, n_lines);
    dn_json_destroy(&meta);
    for (int i = 0; i < n; i++)
        free(files[i]);
    free(files);
    csv_free(&runs);
}

/* The metrics line without its timing member. */
static void drop_seconds(char *json)
{
    char *p = strstr(json, ", \"seconds\"");
    if (p)
        strcpy(p, "}");
}

/* A ROOT dataset directory evaluates as its CSV twin with one command: its
 * labels.csv and truth.csv are taken from beside the run files, and the
 * edges from the histograms' axes, so every metric (Jaccard distance
 * included) is the same number (the scores themselves: test_rootrun); when truth.csv
 * lacks a run, the truth is not used and the user is told why. */
Test(cli, a_root_dataset_evaluates_as_its_csv_twin)
{
    char a[8192], b[8192], err[4096];
    const char *gen = "generate --seed 70 --runs 1600 --anomalous 160";
    char cmd[300];
    snprintf(cmd, sizeof cmd, "%s --out c", gen);
    cr_assert_eq(run(cmd, a, sizeof a, err, sizeof err), 0, "stderr: %s", err);
    snprintf(cmd, sizeof cmd, "%s --out r --format root", gen);
    cr_assert_eq(run(cmd, a, sizeof a, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("evaluate c --method s", a, sizeof a, err, sizeof err), 0, "stderr: %s",
                 err);
    cr_assert_eq(run("evaluate r --method s", b, sizeof b, err, sizeof err), 0, "stderr: %s",
                 err);
    cr_assert(!strstr(a, "\"jaccard_distance\": null"), "no Jaccard from the CSV: %s", a);
    drop_seconds(a);
    drop_seconds(b);
    cr_assert_str_eq(b, a, "ROOT and CSV evaluate differently");
    char sh[700];
    snprintf(sh, sizeof sh, "sed -i '/^7,/d' '%s/r/truth.csv'", tmpdir);
    cr_assert_eq(system(sh), 0);
    cr_assert_eq(run("evaluate r --method s", b, sizeof b, err, sizeof err), 0, "stderr: %s",
                 err);
    cr_assert(strstr(err, "truth.csv: 1 runs of") && strstr(err, "have no row"), "%s", err);
    cr_assert(strstr(b, "\"jaccard_distance\": null"), "truth used without run 7: %s", b);
}

/* `score --ref-root`: JSROOT finds in ref the reference and sigma^2 the pulls
 * file gives, to the bit, for every scored run, and no directory for the
 * runs not scored; the scores are those of a run without the option. */
Test(cli, score_ref_root_holds_the_references_of_the_pulls_file)
{
    char out[4096], err[4096];
    cr_assert_eq(run("generate --seed 5 --out d --runs 150 --anomalous 15 --bins 12 "
                     "--dead-max 6", out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    /* three empty runs: insufficient statistics, no reference */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cd '%s' && awk -F, 'BEGIN{OFS=\",\"} NR==11||NR==41||NR==42"
             "{for(i=3;i<=NF;i++)$i=0} {print}' d/runs.csv > e.csv", tmpdir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(run("score --method s --alpha 0.7 --in e.csv --out s.csv --pulls p.csv "
                     "--ref-root ref.root", out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(run("score --method s --alpha 0.7 --in e.csv --out s2.csv", out, sizeof out,
                     err, sizeof err), 0, "%s", err);
    snprintf(cmd, sizeof cmd, "cmp '%s/s.csv' '%s/s2.csv' >&2", tmpdir, tmpdir);
    cr_assert_eq(system(cmd), 0, "--ref-root changed the scores");

    csv_doc_t pulls, runs;
    read_csv("p.csv", &pulls);
    read_csv("e.csv", &runs);
    const int nb = 12, n = pulls.n_rows - 1;
    cr_assert_eq(n, 150);
    cr_assert_eq(pulls.rows[0].n, 1 + 3 * nb);
    char path[600];
    snprintf(path, sizeof path, "%s/ref.root", tmpdir);
    const char *files[1] = {path};
    int n_lines;
    dn_json_t **lines = dn_jsroot_dump(files, 1, &n_lines);
    int scored = 0, differ = 0;
    char first[300] = "";
    for (int i = 0; i < n; i++) {
        char **f = pulls.rows[i + 1].fields;
        char want[2][40];
        snprintf(want[0], sizeof want[0], "run_%06d/ref", atoi(f[0]));
        snprintf(want[1], sizeof want[1], "run_%06d/obs", atoi(f[0]));
        const dn_json_value_t *line[2] = {NULL, NULL};
        for (int l = 0; l < n_lines; l++)
            for (int q = 0; q < 2; q++)
                if (!strcmp(dn_json_string(dn_json_get(dn_json_root(lines[l]), "path")),
                            want[q]))
                    line[q] = dn_json_root(lines[l]);
        if (!f[1 + nb][0]) { /* no reference in the pulls file: not scored */
            cr_assert(!line[0] && !line[1], "run %s was not scored, yet is in ref.root", f[0]);
            continue;
        }
        scored++;
        cr_assert(line[0] && line[1], "run %s: no %s in ref.root", f[0],
                  line[0] ? want[1] : want[0]);
        const dn_json_value_t *v = dn_json_get(line[0], "values");
        const dn_json_value_t *w2 = dn_json_get(line[0], "sumw2");
        const dn_json_value_t *ov = dn_json_get(line[1], "values");
        double sum = 0;
        for (int j = 0; j < nb; j++)
            sum += strtod(runs.rows[i + 1].fields[j + 2], NULL);
        for (int j = 0; j < nb; j++) {
            double mu = strtod(f[1 + nb + j], NULL), sg = strtod(f[1 + 2 * nb + j], NULL);
            double got[3] = {dn_jsroot_num(dn_json_array_at(v, (size_t)j + 1)),
                             dn_jsroot_num(dn_json_array_at(w2, (size_t)j + 1)),
                             dn_jsroot_num(dn_json_array_at(ov, (size_t)j + 1))};
            double exp[3] = {mu, sg * sg,
                             strtod(runs.rows[i + 1].fields[j + 2], NULL) * (1.0 / sum)};
            for (int q = 0; q < 3; q++)
                if (got[q] != exp[q] && !differ++)
                    snprintf(first, sizeof first, "run %s bin %d %s: JSROOT %.17g, pulls file "
                             "%.17g", f[0], j, q == 0 ? "mean" : q == 1 ? "sigma^2" : "obs",
                             got[q], exp[q]);
        }
    }
    cr_assert_eq(differ, 0, "%d numbers differ; first: %s", differ, first);
    cr_assert_eq(scored, n - 3, "%d runs scored", scored);
    cr_assert_eq(n_lines, 2 * scored, "ref.root holds %d histograms", n_lines);
    dn_jsroot_free(lines, n_lines);
    csv_free(&pulls);
    csv_free(&runs);
}

/* Slow anomalies (issue 20): every --slow-* option reaches the generator (the
 * directory reads back as dn_generate_slow's dataset, slow truth included),
 * bench takes them too, and a bad value is named. */
Test(cli, generate_and_bench_take_the_slow_options)
{
    char out[16384], err[4096];
    const char *opts = "--runs 1300 --anomalous 130 --slow-defects 2 --slow-first 300 "
                       "--slow-ramp-min 100 --slow-ramp-max 300 --slow-hold 50 "
                       "--slow-mean-walk 0 --slow-region-max 9 --slow-width-tolerance 0.05";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "generate --seed 12 --out s12 %s", opts);
    cr_assert_eq(run(cmd, out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = 1300;
    p.n_anomalous = 130;
    dn_slow_params_t s;
    dn_slow_params_default(&s);
    s.n_defects = 2;
    s.first = 300;
    s.ramp_min = 100;
    s.ramp_max = 300;
    s.hold = 50;
    s.mean_walk = 0.0;
    s.region_max = 9;
    s.width_tolerance = 0.05;
    dn_dataset_t *want = NULL, *got = NULL;
    dn_err_t e = {0};
    cr_assert_eq(dn_generate_slow(&p, &s, 12, &want, &e), 0, "%s", e.msg);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/s12", tmpdir);
    cr_assert_eq(dn_dataset_read_dir(dir, &got, &e), 0, "%s", e.msg);
    size_t nr = (size_t)p.n_runs;
    cr_assert(!memcmp(got->counts, want->counts, nr * p.n_bins * sizeof(double)));
    cr_assert(!memcmp(got->label, want->label, nr));
    cr_assert_not_null(got->slow_kind, "truth.csv lacks the slow columns");
    cr_assert(!memcmp(got->slow_kind, want->slow_kind, nr));
    cr_assert(!memcmp(got->slow_size, want->slow_size, nr * sizeof(double)));
    cr_assert(!memcmp(got->slow_bad, want->slow_bad, nr));
    cr_assert_not_null(strstr(got->meta_extra, "\"slow-width-tolerance\": 0.05"), "%s",
                       got->meta_extra);
    for (size_t i = 0; i < nr; i++)
        cr_assert_neq(got->slow_kind[i], DN_SLOW_MEAN, "a mean walk although disabled");
    dn_dataset_destroy(&want);
    dn_dataset_destroy(&got);

    snprintf(cmd, sizeof cmd, "bench --method s --datasets 1 --first-seed 12 --jobs 1 "
             "--out sb %s", opts);
    cr_assert_eq(run(cmd, out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("evaluate s12 --method s", out, sizeof out, err, sizeof err), 0);
    char *q = strstr(out, "\"sensitivity\": ");
    cr_assert(q);
    double sens = strtod(q + 15, NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/sb/bench_s.csv", tmpdir);
    char *csv = slurp(path, NULL);
    cr_assert(csv);
    char *header_end = strchr(csv, '\n');
    cr_assert(header_end);
    *header_end = '\0';
    int col = 0, want_col = -1;
    for (char *f = strtok(csv, ","); f; f = strtok(NULL, ","), col++)
        if (!strcmp(f, "sensitivity"))
            want_col = col;
    cr_assert_geq(want_col, 0, "no sensitivity column");
    char *row = header_end + 1;
    for (int k = 0; k < want_col; k++)
        row = strchr(row, ',') + 1;
    cr_assert(strtod(row, NULL) == sens, "bench %.17g vs evaluate %.17g: the bench's dataset "
              "is not the generated one", strtod(row, NULL), sens);
    free(csv);

    cr_assert_eq(run("generate --seed 1 --out bad --slow-defects 9", out, sizeof out, err,
                     sizeof err), 2);
    cr_assert(strstr(err, "slow-defects, slow-first"), "stderr: %s", err);
    cr_assert_eq(run("bench --method s --datasets 1 --slow-hold x", out, sizeof out, err,
                     sizeof err), 2);
    cr_assert(strstr(err, "slow-hold"), "stderr: %s", err);
    cr_assert(!exists("bad"), "a rejected generate created its directory");
    cr_assert_eq(run("generate --help", out, sizeof out, err, sizeof err), 0);
    cr_assert(strstr(out, "--slow-efficiency-tolerance"), "help lacks the slow options");
}

/* ---- the reference's options (issue 22) ------------------------------------------ */

/* The number after "key": in a JSON object on one line; NAN for null, and a
 * failed assertion when the key is missing. */
static double json_num(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    cr_assert(p, "no key %s in %s", key, json);
    p += strlen(pat);
    if (!strncmp(p, "null", 4))
        return NAN;
    double v;
    cr_assert(sscanf(p, "%lf", &v) == 1, "key %s: not a number: %.40s", key, p);
    return v;
}

/* t_opt/alpha_opt switch tuning off in favour of the defaults (1.0, 0.5), an
 * explicit --threshold/--alpha wins in either order, and --bootstrap-seed is
 * --boot-seed. */
Test(cli, reference_switches_and_their_defaults)
{
    char out[16384], out2[16384], err[4096];
    cr_assert_eq(run("generate --seed 70 --out d --runs 1400 --anomalous 140", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("evaluate d --method s --alpha-opt 0 --t-opt 0", out, sizeof out, err,
                     sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(json_num(out, "alpha"), 0.5, "alpha_default: %s", out);
    cr_assert_eq(json_num(out, "threshold"), 1.0, "threshold_default: %s", out);
    cr_assert(isnan(json_num(out, "auc_historical")), "alpha was tuned: %s", out);
    cr_assert_eq(run("evaluate d --method s --alpha-default 0.25 --alpha-opt 0 --t-opt 0 "
                     "--threshold-default 2.5", out, sizeof out, err, sizeof err), 0,
                 "stderr: %s", err);
    cr_assert_eq(json_num(out, "alpha"), 0.25, "%s", out);
    cr_assert_eq(json_num(out, "threshold"), 2.5, "%s", out);
    /* the defaults alone change nothing while tuning is on */
    cr_assert_eq(run("evaluate d --method s --alpha-default 0.25 --threshold-default 2.5", out,
                     sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_neq(json_num(out, "threshold"), 2.5, "%s", out);
    cr_assert(!isnan(json_num(out, "auc_historical")), "alpha not tuned: %s", out);
    const char *orders[2] = {"evaluate d --method s --threshold 0.7 --alpha 0.2 --t-opt 0 "
                             "--alpha-opt 0",
                             "evaluate d --method s --t-opt 0 --alpha-opt 0 --threshold 0.7 "
                             "--alpha 0.2"};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(run(orders[k], out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
        cr_assert_eq(json_num(out, "alpha"), 0.2, "%s: %s", orders[k], out);
        cr_assert_eq(json_num(out, "threshold"), 0.7, "%s: %s", orders[k], out);
    }
    /* --t-opt 1 after --t-opt 0 tunes again */
    cr_assert_eq(run("evaluate d --method s --alpha 0.2 --t-opt 0 --t-opt 1", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    cr_assert_neq(json_num(out, "threshold"), 1.0, "%s", out);
    cr_assert_eq(run("evaluate d --method s --alpha 0.2 --bootstrap-seed 9", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("evaluate d --method s --alpha 0.2 --boot-seed 9", out2, sizeof out2,
                     err, sizeof err), 0, "stderr: %s", err);
    drop_seconds(out);
    drop_seconds(out2);
    cr_assert_str_eq(out, out2, "--bootstrap-seed is not --boot-seed");
    /* a policy's bad threshold beats --threshold-default, --threshold beats both */
    write_text("pol.csv", "match,min_entries,warning,bad\n*,0,,1.7\n");
    cr_assert_eq(run("evaluate d --method s --alpha 0.2 --t-opt 0 --policy pol.csv", out,
                     sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(json_num(out, "threshold"), 1.7, "%s", out);
    cr_assert_eq(run("evaluate d --method s --alpha 0.2 --t-opt 0 --threshold 0.9 --policy "
                     "pol.csv", out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(json_num(out, "threshold"), 0.9, "%s", out);
}

Test(cli, reference_options_refuse_bad_values)
{
    char out[4096], err[4096];
    cr_assert_eq(run("generate --seed 70 --out d --runs 300 --anomalous 30", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    const struct {
        const char *args, *says;
    } bad[] = {
        {"--metric-mode wab", "--metric-mode 'wab'"},
        {"--ba-weight -1", "--ba-weight must be >= 0"},
        {"--ba-weight nan", "--ba-weight expects a number"},
        {"--adaptivity-patience 0", "--adaptivity-patience expects an integer"},
        {"--t-opt 2", "--t-opt expects an integer in [0, 1]"},
        {"--alpha-opt yes", "--alpha-opt expects an integer"},
        {"--alpha-default 1", "--alpha-default must be in [0, 1)"},
        {"--threshold-default x", "--threshold-default expects a number"},
        {"--n-metrics-bootstrap-trials 0", "--n-metrics-bootstrap-trials expects an integer"},
        {"--bootstrap-seed -3", "--bootstrap-seed expects a non-negative integer"},
    };
    const char *cmds[] = {"evaluate d --method s", "score --method s --in d --out s.csv"};
    for (size_t c = 0; c < 2; c++)
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            char args[512];
            snprintf(args, sizeof args, "%s %s", cmds[c], bad[k].args);
            cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 2, "%s: exit not 2",
                         args);
            cr_assert(strstr(err, bad[k].says), "%s: stderr '%s' lacks '%s'", args, err,
                      bad[k].says);
        }
    cr_assert(!exists("s.csv"), "a refused score wrote its output");
    const char *helps[] = {"evaluate --help", "score --help", "bench --help",
                           "report --help"};
    for (size_t k = 0; k < 4; k++) {
        char big[16384];
        cr_assert_eq(run(helps[k], big, sizeof big, err, sizeof err), 0, "%s", helps[k]);
        cr_assert(strstr(big, "--n-metrics-bootstrap-trials") && strstr(big, "--metric-mode"),
                  "%s lacks the reference's options", helps[k]);
    }
}

/* --metric-mode wba tunes alpha otherwise than auc, as score and evaluate
 * alike; --ba-weight changes its choice. */
Test(cli, metric_mode_wba_tunes_alpha_in_score_and_evaluate)
{
    char out[16384], err[4096];
    cr_assert_eq(run("generate --seed 70 --out d --runs 1300 --anomalous 130", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    double alpha[3];
    const char *modes[3] = {"", "--metric-mode wba --n-metrics-bootstrap-trials 20",
                            "--metric-mode wba --n-metrics-bootstrap-trials 20 --ba-weight 0.1"};
    for (int k = 0; k < 3; k++) {
        char args[512];
        snprintf(args, sizeof args, "evaluate d --method s %s", modes[k]);
        cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
        alpha[k] = json_num(out, "alpha");
        snprintf(args, sizeof args, "score --method s --in d --out s%d.csv %s", k, modes[k]);
        cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
        char says[64];
        snprintf(says, sizeof says, "alpha %.3f tuned", alpha[k]);
        cr_assert(strstr(err, says), "%s: score says '%s', evaluate %.3f", args, err, alpha[k]);
        cr_assert(strstr(err, k ? "weighted balanced accuracy" : "ROC AUC"), "%s", err);
    }
    cr_assert_neq(alpha[0], alpha[1], "wba chose auc's alpha %g", alpha[0]);
    cr_assert_neq(alpha[1], alpha[2], "ba_weight 0.1 chose ba_weight 1's alpha %g", alpha[1]);
}

/* --metrics-csv: the reference's metrics_<seed>.csv, 16 columns in its
 * order, the numbers of the JSON. --table prints the same numbers. */
Test(cli, metrics_csv_has_the_reference_columns_and_the_json_numbers)
{
    char out[16384], err[4096], path[512];
    cr_assert_eq(run("generate --seed 70 --out d --runs 1300 --anomalous 130", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    cr_assert_eq(run("evaluate d --method s --alpha 0.2 --metrics-csv m.csv", out, sizeof out,
                     err, sizeof err), 0, "stderr: %s", err);
    snprintf(path, sizeof path, "%s/m.csv", tmpdir);
    char *csv = slurp(path, NULL);
    cr_assert(csv, "no m.csv");
    static const char *const names[8] = {"balanced_accuracy", "accuracy", "specificity",
                                         "sensitivity", "precision", "jaccard_distance",
                                         "nsteps_to_adapt", "adaptivity_index"};
    char header[1024] = "";
    for (int g = 0; g < 2; g++)
        for (int c = 0; c < 8; c++)
            snprintf(header + strlen(header), sizeof header - strlen(header), "%s%s_%s",
                     g || c ? "," : "", names[c], g ? "continual" : "historical");
    strcat(header, "\n");
    cr_assert(!strncmp(csv, header, strlen(header)), "header\n%s\nwant\n%s", csv, header);
    char *row = csv + strlen(header);
    for (int g = 0; g < 2; g++)
        for (int c = 0; c < 8; c++) {
            char key[64];
            snprintf(key, sizeof key, "%s_%s", names[c], g ? "continual" : "historical");
            double want = json_num(out, key);
            char *end = row;
            double got = *row == ',' || *row == '\n' ? NAN : strtod(row, &end);
            cr_assert(isnan(want) ? isnan(got) : got == want, "%s: csv %.17g json %.17g", key,
                      got, want);
            cr_assert(*end == (g == 1 && c == 7 ? '\n' : ','), "%s: field ends in '%c'", key,
                      *end);
            row = end + 1;
        }
    cr_assert_eq(*row, '\0', "more than one row: %s", row);
    free(csv);
    /* the continual regime is the metrics the JSON always had */
    cr_assert_eq(json_num(out, "balanced_accuracy_continual"),
                 json_num(out, "balanced_accuracy"));
    cr_assert_eq(json_num(out, "sensitivity_continual"), json_num(out, "sensitivity"));
    cr_assert_eq(json_num(out, "specificity_continual"), json_num(out, "specificity"));
    cr_assert(json_num(out, "n_runs_historical") > 0 && json_num(out, "n_runs_continual") > 0,
              "%s", out);
    double lo = json_num(out, "balanced_accuracy_historical_lo"),
           hi = json_num(out, "balanced_accuracy_historical_hi"),
           ba = json_num(out, "balanced_accuracy_historical");
    cr_assert(lo <= ba && ba <= hi && lo < hi, "band [%g, %g] around %g", lo, hi, ba);
    char table[16384];
    cr_assert_eq(run("evaluate d --method s --alpha 0.2 --table", table, sizeof table, err,
                     sizeof err), 0, "stderr: %s", err);
    char line[128];
    snprintf(line, sizeof line, "balanced_accuracy  %.4f [%.4f, %.4f]", ba, lo, hi);
    cr_assert(strstr(table, line), "table lacks '%s':\n%s", line, table);
}
