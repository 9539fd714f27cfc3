/* test_evaluator.c: the evaluator service's report with hostile names, in a
 * cluster (scripts/cluster.sh --feed) on ipc:// endpoints in a mkdtemp
 * directory.
 *
 * A directory of UHI runs whose histogram keys hold what UHI and ROOT names
 * may hold: a quote and a real backslash (calo/"e\nergy), a comma, both, and
 * non-ASCII UTF-8, one of them in a subsystem named with a comma; a person's
 * label whose who holds a comma and quotes and whose reason spans two lines.
 * Every file of the report parses back to those names: metrics.json with
 * json.h's strict parser (it was invalid JSON when keys were written by
 * hand), the CSVs with a strict RFC 4180 reader, every row with its header's
 * number of columns (a comma in a key shifted them). The runs flagged bad
 * have their figure sets drawn under the keys' file names. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "csvread.h"
#include "fileio.h"
#include "generator.h"
#include "json.h"

static char rundir[64];
static char build[4096];

static void setup(void)
{
    const char *b = getenv("DINAMO_BUILD");
    cr_assert_not_null(realpath(b ? b : "build", build), "no build directory");
    snprintf(rundir, sizeof rundir, "/tmp/dn-eval-XXXXXX");
    cr_assert_not_null(mkdtemp(rundir));
    setenv("DINAMO_BUILD", build, 1);
    setenv("DINAMO_SCORER_S_N_HIST", "40", 1);
    setenv("DINAMO_EVALUATOR_N_HIST", "40", 1);
    setenv("DINAMO_COMMON_TICK_MS", "200", 1);
}

static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "scripts/cluster.sh stop %s >/dev/null 2>&1; "
             "[ -n \"$DINAMO_KEEP_TEST_DIRS\" ] || rm -rf %s", rundir, rundir);
    if (system(cmd) != 0)
        fprintf(stderr, "teardown: %s failed\n", cmd);
}

TestSuite(evaluator, .init = setup, .fini = teardown, .timeout = 600);

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

#define N_KEYS 4
#define N_RUNS 100

/* The keys as the evaluator receives them (C strings), their subsystems
 * (the part before '/', or the metadata's), and their report file names. */
static const char *keys[N_KEYS] = {"calo/\"e\\nergy", "muon/a,b", "trk/\"x\", y",
                                   "énergie/日本"};
static const char *subsystems[N_KEYS] = {"calo", "muon", "trk, inner", "énergie"};
static const char *file_names[N_KEYS] = {"calo_\"e\\nergy", "muon_a,b", "trk_\"x\", y",
                                         "énergie_日本"};

/* Run i as a UHI document: the keys escaped by the JSON writer, the third
 * key's subsystem given by its metadata. */
static void write_run(const char *dir, dn_dataset_t **ds, int i)
{
    char path[512];
    snprintf(path, sizeof path, "%s/run_%06d.json", dir, i);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputc('{', f);
    for (int h = 0; h < N_KEYS; h++) {
        fputs(h ? ", " : "", f);
        dn_json_write_string(f, keys[h]);
        fprintf(f, ": {\"axes\": [{\"type\": \"regular\", \"lower\": -5, \"upper\": 5, "
                   "\"bins\": %d}], \"storage\": {\"type\": \"double\", \"values\": [",
                ds[h]->n_bins);
        for (int j = 0; j < ds[h]->n_bins; j++) {
            fputs(j ? ", " : "", f);
            dn_json_write_number(f, dn_dataset_row(ds[h], i)[j]);
        }
        fputs("]}", f);
        if (h == 2) {
            fputs(", \"metadata\": {\"subsystem\": ", f);
            dn_json_write_string(f, subsystems[h]);
            fputc('}', f);
        }
        fputc('}', f);
    }
    fputs("}\n", f);
    fclose(f);
}

/* A UHI directory of N_RUNS runs (each histogram from its own seed) and its
 * labels file; the runs' numbers are 0 .. N_RUNS-1. */
static void make_input(const char *dir, const char *labels)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = N_RUNS;
    p.n_anomalous = N_RUNS / 10;
    dn_dataset_t *ds[N_KEYS];
    dn_err_t err = {0};
    for (int h = 0; h < N_KEYS; h++)
        cr_assert_eq(dn_generate(&p, 31 + (uint64_t)h, &ds[h], &err), 0, "%s", err.msg);
    mkdir(dir, 0755);
    FILE *lf = fopen(labels, "w");
    cr_assert_not_null(lf);
    fputs("run,label\n", lf);
    for (int i = 0; i < N_RUNS; i++) {
        write_run(dir, ds, i);
        int bad = 0;
        for (int h = 0; h < N_KEYS; h++)
            bad |= ds[h]->label[i];
        fprintf(lf, "%d,%s\n", i, bad ? "bad" : "good");
    }
    fclose(lf);
    for (int h = 0; h < N_KEYS; h++)
        dn_dataset_destroy(&ds[h]);
}

/* report/name parsed as CSV; every row has the header's number of fields. */
static void read_csv(const char *name, csv_doc_t *doc)
{
    char path[256], *text = NULL;
    size_t len = 0;
    dn_err_t err = {0};
    snprintf(path, sizeof path, "%s/report/%s", rundir, name);
    cr_assert_eq(dn_read_file(path, &text, &len, &err), 0, "%s", err.msg);
    cr_assert_eq(csv_parse(text, len, doc), 0, "%s: %s", name, doc->error);
    cr_assert_geq(doc->n_rows, 2, "%s: no rows", name);
    for (int r = 1; r < doc->n_rows; r++)
        cr_assert_eq(doc->rows[r].n, doc->rows[0].n, "%s row %d: %d fields, the header has %d",
                     name, r, doc->rows[r].n, doc->rows[0].n);
    free(text);
}

/* The column of the header named `name`. */
static int column(const csv_doc_t *doc, const char *name)
{
    for (int c = 0; c < doc->rows[0].n; c++)
        if (!strcmp(doc->rows[0].fields[c], name))
            return c;
    cr_assert_fail("no column %s", name);
    return -1;
}

static int key_index(const char *key)
{
    for (int h = 0; h < N_KEYS; h++)
        if (!strcmp(keys[h], key))
            return h;
    return -1;
}

static void check_metrics(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/report/metrics.json", rundir);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse_file(path, &doc, &err), 0, "metrics.json: %s", err.msg);
    const dn_json_value_t *k = dn_json_get(dn_json_root(doc), "keys");
    cr_assert_eq(dn_json_object_len(k), N_KEYS);
    for (int h = 0; h < N_KEYS; h++) {
        const dn_json_value_t *s = dn_json_get(dn_json_get(k, keys[h]), "s");
        cr_assert_not_null(s, "metrics.json has no key '%s'", keys[h]);
        cr_assert_eq(dn_json_type(dn_json_get(s, "threshold")), DN_JSON_NUMBER,
                     "'%s' was not evaluated", keys[h]);
    }
    dn_json_destroy(&doc);
}

/* flags.csv names every key with its subsystem; runs.csv's worst column
 * names the keys (as "KEY(+excess)"). */
static void check_flags_and_runs(void)
{
    csv_doc_t doc;
    read_csv("flags.csv", &doc);
    int hist = column(&doc, "histogram"), sub = column(&doc, "subsystem"), seen[N_KEYS] = {0};
    for (int r = 1; r < doc.n_rows; r++) {
        int h = key_index(doc.rows[r].fields[hist]);
        cr_assert_geq(h, 0, "flags.csv row %d: unknown key '%s'", r, doc.rows[r].fields[hist]);
        cr_assert_str_eq(doc.rows[r].fields[sub], subsystems[h]);
        seen[h] = 1;
    }
    for (int h = 0; h < N_KEYS; h++)
        cr_assert(seen[h], "flags.csv never names '%s'", keys[h]);
    csv_free(&doc);
    read_csv("runs.csv", &doc);
    int worst = column(&doc, "worst"), named = 0;
    for (int r = 1; r < doc.n_rows; r++)
        for (int h = 0; h < N_KEYS; h++) {
            char want[300];
            snprintf(want, sizeof want, "%s(+", keys[h]);
            named += strstr(doc.rows[r].fields[worst], want) != NULL;
        }
    cr_assert_gt(named, 0, "runs.csv names no worst histogram");
    csv_free(&doc);
    read_csv("subsystems.csv", &doc);
    sub = column(&doc, "subsystem");
    int inner = 0;
    for (int r = 1; r < doc.n_rows; r++)
        inner += !strcmp(doc.rows[r].fields[sub], "trk, inner");
    cr_assert_gt(inner, 0, "subsystems.csv lacks the subsystem 'trk, inner'");
    csv_free(&doc);
}

/* One scores file per key, under the key's file name. */
static void check_scores(void)
{
    for (int h = 0; h < N_KEYS; h++) {
        char name[300];
        snprintf(name, sizeof name, "scores_s_%s.csv", file_names[h]);
        csv_doc_t doc;
        read_csv(name, &doc);
        cr_assert_eq(doc.n_rows, N_RUNS + 1, "%s: %d rows", name, doc.n_rows);
        cr_assert_eq(doc.rows[0].n, 5);
        csv_free(&doc);
    }
}

/* The person's label, both verdicts kept with who and why as given. */
static void check_labels(const char *who, const char *reason)
{
    csv_doc_t doc;
    read_csv("labels.csv", &doc);
    int c_who = column(&doc, "who"), c_why = column(&doc, "reason"),
        c_hist = column(&doc, "histogram"), found = 0;
    for (int r = 1; r < doc.n_rows; r++)
        if (!strcmp(doc.rows[r].fields[c_who], who)) {
            cr_assert_str_eq(doc.rows[r].fields[c_why], reason);
            cr_assert_str_eq(doc.rows[r].fields[c_hist], keys[1]);
            found++;
        }
    cr_assert_eq(found, 1, "labels.csv holds the person's label %d times", found);
    csv_free(&doc);
}

static void put_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    int bad = fputs(text, f) == EOF;
    bad |= fclose(f) != 0;
    cr_assert_eq(bad, 0, "cannot write %s", path);
}

Test(evaluator, hostile_names_parse_back_from_every_report_file)
{
    char dir[256], labels[256];
    snprintf(dir, sizeof dir, "%s/uhi", rundir);
    snprintf(labels, sizeof labels, "%s/labels.csv", rundir);
    make_input(dir, labels);
    setenv("DINAMO_FEED_LABELS", labels, 1);
    setenv("DINAMO_EVALUATOR_FIGURES_QUEUE", "2", 1); /* a few sets drawn, the rest dropped */
    int rc = sh("scripts/cluster.sh start %s --ipc --methods s --no-auto-accept --feed %s "
                ">%s/start.out 2>&1", rundir, dir, rundir);
    unsetenv("DINAMO_FEED_LABELS");
    unsetenv("DINAMO_EVALUATOR_FIGURES_QUEUE");
    cr_assert_eq(rc, 0, "cluster start failed");
    rc = sh("scripts/cluster.sh wait %s 300 >&2", rundir);
    cr_assert_eq(rc, 0, "no final report");
    /* a person labels one histogram of run 7, with a comma and quotes in who
     * and a line break in why (handed to the shell through files) */
    const char *who = "o'brien, \"bob\"", *reason = "hot spot,\nsector \"3\"";
    char wf[256], rf[256];
    snprintf(wf, sizeof wf, "%s/who.txt", rundir);
    snprintf(rf, sizeof rf, "%s/reason.txt", rundir);
    put_text(wf, who);
    put_text(rf, reason);
    rc = sh("%s/dinamo label 7 bad --who \"$(cat %s)\" --reason \"$(cat %s)\" "
            "--histogram 'muon/a,b' --requests ipc://%s/sock/events.req "
            "--events ipc://%s/sock/events >&2", build, wf, rf, rundir, rundir);
    cr_assert_eq(rc, 0, "dinamo label failed");
    rc = sh("scripts/cluster.sh kill %s evaluator USR1", rundir);
    for (int w = 0; w < 50 && sh("grep -q brien %s/report/labels.csv", rundir); w++) {
        struct timespec ts = {0, 200000000L};
        nanosleep(&ts, NULL);
    }
    rc = sh("scripts/cluster.sh stop %s >&2", rundir);
    cr_assert_eq(rc, 0, "unclean stop");
    check_metrics();
    check_flags_and_runs();
    check_scores();
    check_labels(who, reason);
    /* the flagged runs' figure sets, under the keys' file names */
    rc = sh("cd %s/report && n=$(ls runs/run_*/*_s.png 2>/dev/null | wc -l) && "
            "grep -q 'figures: [0-9]* sets wanted, [0-9]* drawn, 0 failed' ../logs/evaluator.log "
            "&& echo \"$n figure sets\" >&2 && [ $n -gt 0 ]", rundir);
    cr_assert_eq(rc, 0, "no figure set of a hostile key was drawn, or one failed");
}
