/* test_dashboard.c: the dashboard in a real cluster, looked at in a real
 * browser (Debian's chromium, headless, driven by playwright-core through
 * web/tests/dashboard_check.mjs), against the pipeline's own files and the
 * offline tool.
 *
 * A feed streams a UHI directory of 200 runs whose only histogram key is
 * hostile markup; the input labels the first 170 runs (the last 30 await a
 * person; auto-accept is off, so they stay awaiting); both methods score in
 * lockstep. Once the evaluator's report is final:
 *   - the runs the page lists as bad for each method are exactly the bad rows
 *     of the evaluator's flags.csv;
 *   - the page's worst run shows, for each method, the reference, its
 *     uncertainty and the pulls equal to those `dinamo score --pulls` writes
 *     for that run (read from the page's data, not its pixels);
 *   - Bad with a reason, logged in on one page, reaches labels.csv with the
 *     user's name and reason, and the run leaves "awaiting a verdict" on a
 *     second open page without a reload;
 *   - verdicts without a session, and with a missing or forged CSRF token, are
 *     refused (401/403) and change nothing; a cross-origin POST is refused;
 *   - the hostile key is shown as text;
 *   - screenshots of the run list and of a run page are left under the build
 *     directory (dashboard-check/);
 *   - killed with -9 and started again, the dashboard lists the same runs at
 *     once, from its own store. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csvread.h"
#include "generator.h"
#include "json.h"
#include "shell.h"

#define RUNS 200
#define LABELLED 170
#define NHIST 40
#define HOSTILE "<img src=x onerror=alert(1)>"
#define PASSWORD "pw-for-the-test-1"

static char rundir[64];
static char build[4096];

static void setup(void)
{
    const char *b = getenv("DINAMO_BUILD");
    cr_assert_not_null(realpath(b ? b : "build", build), "no build directory");
    snprintf(rundir, sizeof rundir, "/tmp/dn-dash-XXXXXX");
    cr_assert_not_null(mkdtemp(rundir));
    setenv("DINAMO_BUILD", build, 1);
    setenv("DINAMO_SCORER_S_N_HIST", "40", 1);
    setenv("DINAMO_EVALUATOR_N_HIST", "40", 1);
    setenv("DINAMO_COMMON_TICK_MS", "200", 1);
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "scripts/cluster.sh stop %s >/dev/null 2>&1; "
             "[ -n \"$DINAMO_KEEP_TEST_DIRS\" ] || rm -rf %s", rundir, rundir);
    if (system(cmd) != 0)
        fprintf(stderr, "teardown: %s failed\n", cmd);
}

TestSuite(dashboard, .init = setup, .fini = teardown, .timeout = 900);

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 65536 > cap)
            cr_assert_not_null(buf = realloc(buf, cap = 2 * cap + 65536));
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static dn_json_t *json_file(const char *dir, const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse_file(path, &doc, &err), 0, "%s", err.msg);
    return doc;
}

/* The UHI directory, the labels of the first LABELLED runs. */
static void write_input(const char *dir, const char *labels)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = RUNS;
    p.n_anomalous = RUNS / 10;
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_generate(&p, 11, &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(mkdir(dir, 0755), 0);
    FILE *lf = fopen(labels, "w");
    cr_assert_not_null(lf);
    fputs("run,label\n", lf);
    for (int i = 0; i < ds->n_runs; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/run_%06d.json", dir, i);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs("{", f);
        dn_json_write_string(f, HOSTILE);
        fprintf(f, ": {\"uhi_schema\": 1, \"axes\": [{\"type\": \"regular\", \"lower\": -5.0, "
                   "\"upper\": 5.0, \"bins\": %d, \"underflow\": false, \"overflow\": false}], "
                   "\"storage\": {\"type\": \"double\", \"values\": [", ds->n_bins);
        for (int j = 0; j < ds->n_bins; j++) {
            if (j)
                fputs(", ", f);
            dn_json_write_number(f, dn_dataset_row(ds, i)[j]);
        }
        fprintf(f, "]}, \"metadata\": {\"run\": %lld}}}\n", (long long)ds->run[i]);
        fclose(f);
        if (i < LABELLED)
            fprintf(lf, "%lld,%s\n", (long long)ds->run[i], ds->label[i] ? "bad" : "good");
    }
    fclose(lf);
    dn_dataset_destroy(&ds);
}

/* run_seq of every bad row of flags.csv for method m, as a sorted 0/1 table. */
static int flagged_bad(const char *method, unsigned char bad[RUNS])
{
    char path[256];
    snprintf(path, sizeof path, "%s/report/flags.csv", rundir);
    size_t len;
    char *text = slurp(path, &len);
    csv_doc_t doc;
    cr_assert_eq(csv_parse(text, len, &doc), 0, "%s", doc.error);
    memset(bad, 0, RUNS);
    int n = 0;
    cr_assert_str_eq(doc.rows[0].fields[2], "method");
    cr_assert_str_eq(doc.rows[0].fields[8], "severity");
    for (int r = 1; r < doc.n_rows; r++) {
        int seq = atoi(doc.rows[r].fields[1]);
        if (!strcmp(doc.rows[r].fields[2], method) && !strcmp(doc.rows[r].fields[8], "bad") &&
            seq >= 0 && seq < RUNS && !bad[seq]) {
            bad[seq] = 1;
            n++;
        }
    }
    csv_free(&doc);
    free(text);
    return n;
}

/* The row of run `run` in a `dinamo score --pulls` file: pulls, reference and
 * its uncertainty (n_bins each) into out[3 * n_bins]. */
static void offline_pulls(const char *path, long long run, double *out, int n_bins)
{
    size_t len;
    char *text = slurp(path, &len);
    csv_doc_t doc;
    cr_assert_eq(csv_parse(text, len, &doc), 0, "%s", doc.error);
    int found = 0;
    for (int r = 1; r < doc.n_rows && !found; r++) {
        if (atoll(doc.rows[r].fields[0]) != run)
            continue;
        cr_assert_eq(doc.rows[r].n, 1 + 3 * n_bins, "%s: %d fields", path, doc.rows[r].n);
        for (int j = 0; j < 3 * n_bins; j++)
            out[j] = doc.rows[r].fields[1 + j][0] ? strtod(doc.rows[r].fields[1 + j], NULL) : NAN;
        found = 1;
    }
    cr_assert(found, "%s has no row for run %lld", path, run);
    csv_free(&doc);
    free(text);
}

/* The page's array against the offline one: equal, NaN as null. */
static void expect_same(const dn_json_value_t *arr, const double *want, int n, const char *what)
{
    cr_assert_eq((int)dn_json_array_len(arr), n, "%s: %zu values on the page, %d offline", what,
                 dn_json_array_len(arr), n);
    double worst = 0;
    int at = -1;
    for (int j = 0; j < n; j++) {
        const dn_json_value_t *v = dn_json_array_at(arr, (size_t)j);
        double got = dn_json_type(v) == DN_JSON_NUMBER ? dn_json_number(v) : NAN;
        if (isnan(got) && isnan(want[j]))
            continue;
        double d = isnan(got) || isnan(want[j]) ? INFINITY : fabs(got - want[j]);
        if (d > worst) {
            worst = d;
            at = j;
        }
    }
    cr_expect_eq(worst, 0.0, "%s: worst difference %g at bin %d (page %.17g, offline %.17g)", what,
                 worst, at, at >= 0 ? dn_json_number(dn_json_array_at(arr, (size_t)at)) : 0.0,
                 at >= 0 ? want[at] : 0.0);
}

/* The labels.csv rows of run_seq seq given by a person: count, and the last
 * one's verdict, who and reason. */
static int person_labels(int seq, char *verdict, char *who, char *reason)
{
    char path[256];
    snprintf(path, sizeof path, "%s/report/labels.csv", rundir);
    size_t len;
    char *text = slurp(path, &len);
    csv_doc_t doc;
    cr_assert_eq(csv_parse(text, len, &doc), 0, "%s", doc.error);
    int n = 0;
    for (int r = 1; r < doc.n_rows; r++)
        if (atoi(doc.rows[r].fields[1]) == seq && !strcmp(doc.rows[r].fields[4], "shifter")) {
            n++;
            snprintf(verdict, 16, "%s", doc.rows[r].fields[3]);
            snprintf(who, 80, "%s", doc.rows[r].fields[5]);
            snprintf(reason, 200, "%s", doc.rows[r].fields[7]);
        }
    csv_free(&doc);
    free(text);
    return n;
}

Test(dashboard, the_page_shows_the_pipeline_and_takes_a_verdict)
{
    char dir[256], labels[256], out[4200], url[128] = "";
    snprintf(dir, sizeof dir, "%s/uhi", rundir);
    snprintf(labels, sizeof labels, "%s/labels.csv", rundir);
    snprintf(out, sizeof out, "%s/dashboard-check", build);
    write_input(dir, labels);
    cr_assert_eq(sh("printf '%%s\\n' '" PASSWORD "' | %s/dinamo user add shifter1 --file "
                    "%s/users --password-stdin >&2", build, rundir), 0, "dinamo user add failed");

    setenv("DINAMO_FEED_LABELS", labels, 1);
    int rc = sh("scripts/cluster.sh start %s --ipc --methods s,ml --feed %s --no-auto-accept "
                "--dashboard 127.0.0.1:0 --lifeline %d > %s/start.out 2>&1", rundir, dir,
                (int)getpid(), rundir);
    unsetenv("DINAMO_FEED_LABELS");
    if (rc)
        sh("cat %s/start.out >&2", rundir);
    cr_assert_eq(rc, 0, "cluster.sh start failed");
    rc = sh("scripts/cluster.sh wait %s 600 >&2", rundir);
    cr_assert_eq(rc, 0, "the evaluator wrote no final report");

    /* the address the dashboard chose */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -o 'dashboard at http://[0-9.:]*' %s/logs/dashboard.log | "
             "tail -n 1 | cut -c 14-", rundir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(url, sizeof url, p), "the dashboard did not say where it listens");
    pclose(p);
    url[strcspn(url, "\n")] = '\0';

    /* the offline tool's scores and pulls of the same input */
    rc = sh("cd %s && %s/dinamo score --method s --in uhi --labels labels.csv --n-historical %d "
            "--out off_s.csv --pulls pulls_s.csv 2>/dev/null && cmp report/scores_s.csv off_s.csv "
            ">&2 && %s/dinamo score --method ml --in uhi --labels labels.csv --n-historical %d "
            "--out off_ml.csv --pulls pulls_ml.csv 2>/dev/null && cmp report/scores_ml.csv "
            "off_ml.csv >&2", rundir, build, NHIST, build, NHIST);
    cr_assert_eq(rc, 0, "pipeline scores differ from dinamo score (the comparison below needs "
                        "them equal)");

    /* the browser: a verdict on run_seq 185 (awaiting), a refused one on 190 */
    rc = sh("node web/tests/dashboard_check.mjs --url %s --user shifter1 --password '" PASSWORD
            "' --out %s --label-seq 185 --refuse-seq 190 --key '" HOSTILE "' --reason "
            "'dead region, see elog 42' >&2", url, out);
    cr_assert_eq(rc, 0, "the browser check failed (its last line says which step)");

    /* 1. bad runs per method equal flags.csv's */
    dn_json_t *runs = json_file(out, "runs.json");
    const char *methods[2] = {"s", "ml"};
    for (int m = 0; m < 2; m++) {
        unsigned char want[RUNS], got[RUNS] = {0};
        int n_want = flagged_bad(methods[m], want);
        char field[16];
        snprintf(field, sizeof field, "bad_%s", methods[m]);
        const dn_json_value_t *arr = dn_json_get(dn_json_root(runs), field);
        int n_got = (int)dn_json_array_len(arr);
        for (int i = 0; i < n_got; i++) {
            int seq = (int)dn_json_number(dn_json_array_at(arr, (size_t)i));
            cr_assert(seq >= 0 && seq < RUNS, "%s: run_seq %d listed", field, seq);
            got[seq] = 1;
        }
        int differ = -1;
        for (int s = 0; s < RUNS && differ < 0; s++)
            if (got[s] != want[s])
                differ = s;
        cr_expect(n_want > 0, "flags.csv has no bad run for %s: the test shows nothing", field);
        cr_expect_eq(differ, -1, "%s: the page lists %d bad runs, flags.csv %d; first difference "
                     "at run_seq %d (page %d, flags.csv %d)", methods[m], n_got, n_want, differ,
                     differ >= 0 ? got[differ] : 0, differ >= 0 ? want[differ] : 0);
        const dn_json_value_t *total = dn_json_get(dn_json_root(runs), "runs");
        cr_expect_eq((int)dn_json_array_len(total), RUNS, "the list shows %zu runs",
                     dn_json_array_len(total));
    }
    dn_json_destroy(&runs);

    /* 2. the worst run's histogram: reference, uncertainty and pulls as offline */
    dn_json_t *run = json_file(out, "run.json");
    const dn_json_value_t *hist = dn_json_get(dn_json_root(run), "hist");
    const dn_json_value_t *page_run = dn_json_get(dn_json_get(dn_json_root(run), "run"), "run");
    long long run_number = (long long)dn_json_number(dn_json_get(page_run, "run"));
    cr_assert_str_eq(dn_json_string(dn_json_get(hist, "key")), HOSTILE);
    int nb = (int)dn_json_array_len(dn_json_get(hist, "counts"));
    cr_assert(nb > 0, "the run page's histogram has no counts");
    double *want = malloc(3 * (size_t)nb * sizeof *want);
    cr_assert_not_null(want);
    for (int m = 0; m < 2; m++) {
        char path[300], what[64];
        snprintf(path, sizeof path, "%s/pulls_%s.csv", rundir, methods[m]);
        offline_pulls(path, run_number, want, nb);
        const dn_json_value_t *sm = dn_json_get(hist, methods[m]);
        cr_assert_eq(dn_json_type(sm), DN_JSON_OBJECT, "run %lld: no %s detail on the page",
                     run_number, methods[m]);
        static const char *const fields[3] = {"pulls", "reference", "sigma"};
        for (int f = 0; f < 3; f++) {
            snprintf(what, sizeof what, "run %lld %s %s", run_number, methods[m], fields[f]);
            expect_same(dn_json_get(sm, fields[f]), want + f * nb, nb, what);
        }
    }
    free(want);
    dn_json_destroy(&run);

    /* 3. the verdict: moved on the second page, then in labels.csv with who and why */
    dn_json_t *lab = json_file(out, "label.json");
    cr_expect_eq(dn_json_bool(dn_json_get(dn_json_root(lab), "moved")), 1);
    cr_expect_eq(dn_json_bool(dn_json_get(dn_json_root(lab), "reloaded")), 0);
    dn_json_destroy(&lab);
    /* the evaluator rewrites its report on SIGUSR1 (the label may still be on
     * its way through the events log: ask again each second) */
    rc = sh("for i in $(seq 30); do scripts/cluster.sh kill %s evaluator USR1 >/dev/null && "
            "sleep 1 && grep -q ',185,.*shifter1' %s/report/labels.csv && exit 0; done; exit 1",
            rundir, rundir);
    cr_assert_eq(rc, 0, "labels.csv has no shifter label of run_seq 185 after the report");
    char verdict[16] = "", who[80] = "", reason[200] = "";
    cr_expect_eq(person_labels(185, verdict, who, reason), 1);
    cr_expect_str_eq(verdict, "bad");
    cr_expect_str_eq(who, "shifter1");
    cr_expect_str_eq(reason, "dead region, see elog 42");

    /* 4. refused verdicts changed nothing */
    dn_json_t *ref = json_file(out, "refused.json");
    const dn_json_value_t *cases = dn_json_get(dn_json_root(ref), "cases");
    cr_assert(dn_json_object_len(cases) >= 4, "refused.json has %zu cases",
              dn_json_object_len(cases));
    for (size_t i = 0; i < dn_json_object_len(cases); i++) {
        const dn_json_value_t *c = dn_json_object_value_at(cases, i);
        const dn_json_value_t *allowed = dn_json_get(c, "expected");
        double status = dn_json_number(dn_json_get(c, "status"));
        int ok = 0;
        for (size_t a = 0; a < dn_json_array_len(allowed); a++)
            ok |= dn_json_number(dn_json_array_at(allowed, a)) == status;
        cr_expect(ok && (status == 401 || status == 403), "%s: HTTP %g (%s)",
                  dn_json_object_key_at(cases, i), status,
                  dn_json_string(dn_json_get(c, "error")));
    }
    cr_expect_eq(dn_json_bool(dn_json_get(dn_json_root(ref), "still_awaiting")), 1);
    dn_json_destroy(&ref);
    cr_expect_eq(person_labels(190, verdict, who, reason), 0, "a refused verdict reached "
                                                              "labels.csv");
    /* a cross-origin POST (the browser sets Origin itself: curl plays the other site) */
    rc = sh("test \"$(curl -s -o /dev/null -w '%%{http_code}' -X POST -H 'Origin: "
            "http://evil.example' -H 'Content-Type: application/json' -d '{\"seq\":190,"
            "\"verdict\":\"bad\"}' %s/api/label)\" = 403", url);
    cr_expect_eq(rc, 0, "a cross-origin verdict was not refused with 403");

    /* 5. the hostile key was text on the key page */
    dn_json_t *key = json_file(out, "key.json");
    cr_expect_str_eq(dn_json_string(dn_json_get(dn_json_root(key), "title")), HOSTILE);
    cr_expect_eq(dn_json_number(dn_json_get(dn_json_root(key), "foreign_elements")), 0);
    dn_json_destroy(&key);

    /* 6. screenshots for people to look at */
    struct stat st;
    char shot[4400];
    snprintf(shot, sizeof shot, "%s/runs.png", out);
    cr_expect(stat(shot, &st) == 0 && st.st_size > 10000, "no screenshot %s", shot);
    snprintf(shot, sizeof shot, "%s/run.png", out);
    cr_expect(stat(shot, &st) == 0 && st.st_size > 10000, "no screenshot %s", shot);

    /* 7. a dashboard killed with -9 and started again serves everything judged
     * so far from its store, at once: the same list, run for run */
    rc = sh("U=%s; curl -sf \"$U/api/runs?limit=1000\" > %s/before.json && "
            "scripts/cluster.sh kill %s dashboard KILL && for i in $(seq 50); do "
            "scripts/cluster.sh restart %s dashboard 2>/dev/null && break; sleep 0.1; done && for i in $(seq 100); do U=$(grep -o 'dashboard at http://[0-9.:]*' "
            "%s/logs/dashboard.log | tail -n 1 | cut -c 14-); [ \"$U\" != %s ] && "
            "curl -sf \"$U/api/runs?limit=1000\" > %s/after.json && break; sleep 0.1; done; "
            "cmp %s/before.json %s/after.json >&2",
            url, rundir, rundir, rundir, rundir, url, rundir, rundir, rundir);
    cr_expect_eq(rc, 0, "after kill -9 and a restart the dashboard lists other runs (or none)");

    rc = sh("scripts/cluster.sh stop %s >&2", rundir);
    cr_expect_eq(rc, 0, "a service did not stop cleanly");
}

/* ---- horizons: a run flagged by a lagged DINAMO-S horizon, as a shifter sees it ---- */

#include "detail.h"
#include "model.h"

enum { HZ_NB = 40, HZ_RUNS = 60, HZ_HIST = 20, HZ_SEQ = 50 };

/* A peak of HZ_NB bins whose bins 20..25 lost the fraction `loss` (a region
 * dying slowly), normalised. */
static void hz_shape(double *v, double loss)
{
    double t = 0;
    for (int i = 0; i < HZ_NB; i++) {
        double x = (i + 0.5) * 0.25;
        v[i] = (exp(-0.5 * pow((x - 5.0) / 1.6, 2)) + 0.02) * (i >= 20 && i < 26 ? 1 - loss : 1);
        t += v[i];
    }
    for (int i = 0; i < HZ_NB; i++)
        v[i] /= t;
}

/* The dashboard's store of a stream where calo/energy loses efficiency from
 * run 30 on, 1.2% more each run: now's reference follows it (it learns the
 * runs, 5 points behind), the reference of 20 runs ago does not. Thresholds:
 * now 1.2, 20r 1.0 (trk/hits stays nominal). want_pulls gets the 20r pulls
 * of calo/energy in run HZ_SEQ. */
static void hz_seed(const char *dir, double *want_pulls)
{
    dn_err_t err = {0};
    dash_detail_t *d = dash_detail_open(dir, 0, 0, &err);
    cr_assert_not_null(d, "%s", err.msg);
    dash_model_t m;
    cr_assert_eq(dash_model_init(&m), 0);
    snprintf(m.stream, sizeof m.stream, "slow-drift");
    const char *names[2] = {"calo/energy", "trk/hits"}, *hz[1] = {"20r"};
    int k[2];
    for (int j = 0; j < 2; j++) {
        k[j] = dash_model_key(&m, names[j], j ? "trk" : "calo", HZ_NB);
        cr_assert_geq(k[j], 0);
        dash_model_key_shape(&m, k[j], HZ_NB, 0);
    }
    double edges[HZ_NB + 1];
    for (int i = 0; i <= HZ_NB; i++)
        edges[i] = i * 0.25;
    for (int r = 0; r < HZ_RUNS; r++) {
        cr_assert_eq(dash_model_run(&m, (uint64_t)r, 5000 + r, 1.7965e9 + 600.0 * r, k, 2), 0);
        for (int j = 0; j < 2; j++) {
            double loss = j || r < 30 ? 0 : 0.012 * (r - 30), loss20 = j || r < 50 ? 0 : 0.012 * (r - 50);
            double x[HZ_NB], cnt[HZ_NB], ref[HZ_NB], sg[HZ_NB], pull[HZ_NB];
            double ref20[HZ_NB], sg20[HZ_NB], pull20[HZ_NB], tot = 0, c2 = 0, c20 = 0;
            hz_shape(x, loss);
            hz_shape(ref, loss > 0.06 ? loss - 0.06 : 0);
            hz_shape(ref20, loss20);
            for (int i = 0; i < HZ_NB; i++) /* counts of 20,000 entries, a fixed wobble */
                tot += cnt[i] = round(20000 * x[i] + 0.6 * sin(7.0 * i + r) * sqrt(20000 * x[i]));
            for (int i = 0; i < HZ_NB; i++) {
                sg[i] = sqrt(ref[i] / 20000) + 0.002 * ref[i];
                sg20[i] = sqrt(ref20[i] / 20000) + 0.002 * ref20[i];
                pull[i] = (cnt[i] / tot - ref[i]) / sqrt(sg[i] * sg[i] + ref[i] / tot);
                pull20[i] = (cnt[i] / tot - ref20[i]) / sqrt(sg20[i] * sg20[i] + ref20[i] / tot);
                c2 += pull[i] * pull[i];
                c20 += pull20[i] * pull20[i];
            }
            if (r == HZ_SEQ && j == 0)
                memcpy(want_pulls, pull20, sizeof pull20);
            Dinamo__Histogram h = DINAMO__HISTOGRAM__INIT;
            h.key = (char *)names[j];
            h.subsystem = (char *)(j ? "trk" : "calo");
            h.n_counts = HZ_NB;
            h.counts = cnt;
            h.n_edges = HZ_NB + 1;
            h.edges = edges;
            cr_assert_eq(dash_detail_stage_hist(d, (uint64_t)r, k[j], &h), 0);
            Dinamo__HorizonScore hs = DINAMO__HORIZON_SCORE__INIT, *hp = &hs;
            hs.name = (char *)hz[0];
            if (r >= 20) { /* 20 runs in, the horizon has a reference */
                hs.has_age = hs.has_chi2 = hs.has_score = 1;
                hs.age = 20;
                hs.chi2 = c20;
                hs.score = log(c20 / HZ_NB);
                hs.n_pulls = hs.n_reference = hs.n_reference_uncertainty = HZ_NB;
                hs.pulls = pull20;
                hs.reference = ref20;
                hs.reference_uncertainty = sg20;
            }
            Dinamo__Score s = DINAMO__SCORE__INIT;
            s.has_run_number = s.has_run_seq = s.has_status = s.has_chi2 = s.has_score = 1;
            s.has_method = s.has_alpha = 1;
            s.run_number = 5000 + r;
            s.run_seq = (uint64_t)r;
            s.method = DINAMO__METHOD__METHOD_S;
            s.histogram_key = (char *)names[j];
            s.status = DINAMO__SCORE_STATUS__OK;
            s.chi2 = c2;
            s.score = log(c2 / HZ_NB);
            s.alpha = 0.9;
            s.n_pulls = s.n_reference = s.n_reference_uncertainty = HZ_NB;
            s.pulls = pull;
            s.reference = ref;
            s.reference_uncertainty = sg;
            s.n_horizons = 1;
            s.horizons = &hp;
            double lagged[1] = {r >= 20 ? c20 : NAN};
            cr_assert_eq(dash_model_score(&m, 0, (uint64_t)r, k[j], DASH_ST_OK, c2, 0.9), 0);
            cr_assert_eq(dash_model_score_hz(&m, (uint64_t)r, k[j], 1, hz, lagged), 0);
            cr_assert_eq(dash_detail_stage_score(d, (uint64_t)r, k[j], 0, &s), 0);
        }
    }
    for (int j = 0; j < 2; j++) {
        double bad20[1] = {1.0};
        cr_assert_eq(dash_model_threshold(&m, k[j], 0, 1.2, 1.2 - DN_WARNING_MARGIN, HZ_HIST,
                                          "tuned"), 0);
        cr_assert_eq(dash_model_threshold_hz(&m, k[j], 1, hz, bad20), 0);
        cr_assert_eq(dash_detail_stage_threshold(d, &m, k[j], 0), 0);
    }
    dash_model_settle(&m, NULL, NULL);
    cr_assert_eq(m.runs[HZ_SEQ].m[0].severity, DN_SEV_BAD, "the seeded run is not bad");
    cr_assert_eq(m.runs[HZ_SEQ].m[0].fired[0], 1, "the seeded run was not fired by 20r");
    cr_assert_eq(dash_detail_stage_keys(d, &m), 0);
    for (int r = 0; r < HZ_RUNS; r++)
        cr_assert_eq(dash_detail_stage_run(d, &m, r), 0);
    cr_assert_eq(dash_detail_stage_meta(d, &m), 0);
    cr_assert_eq(dash_detail_commit(d, &err), 0, "%s", err.msg);
    dash_model_free(&m);
    dash_detail_destroy(&d);
}

Test(dashboard, a_run_a_lagged_horizon_flags_shows_it_and_its_pulls)
{
    char detail[256], out[4200], url[128] = "", cmd[1024];
    double want[HZ_NB];
    snprintf(detail, sizeof detail, "%s/data/dashboard/detail", rundir);
    cr_assert_eq(sh("mkdir -p %s", detail), 0);
    hz_seed(detail, want);
    snprintf(out, sizeof out, "%s/dashboard-check", build);
    cr_assert_eq(sh("mkdir -p %s", out), 0);

    /* the dashboard alone, on its store: its logs are ipc sockets nobody serves */
    const char *e = "ipc://%s/sock";
    char ep[128];
    snprintf(ep, sizeof ep, e, rundir);
    int rc = sh("%s/services/dashboard --data-dir %s/data --security off --http 127.0.0.1:0 "
                "--web-dir web --users-file %s/users --events connect:%s-ev --events-requests "
                "connect:%s-evr --labels connect:%s-evr --scores-s connect:%s-s "
                "--scores-s-requests connect:%s-sr --scores-ml connect:%s-ml --scores-ml-requests "
                "connect:%s-mlr --thresholds connect:%s-t --thresholds-requests connect:%s-tr "
                "> %s/hz-dash.log 2>&1 & echo $! > %s/hz-dash.pid; "
                "(while kill -0 %d 2>/dev/null; do sleep 0.5; done; kill $(cat %s/hz-dash.pid)) "
                ">/dev/null 2>&1 &",
                build, rundir, rundir, ep, ep, ep, ep, ep, ep, ep, ep, ep, rundir, rundir,
                (int)getpid(), rundir);
    cr_assert_eq(rc, 0);
    snprintf(cmd, sizeof cmd, "for i in $(seq 100); do grep -o 'dashboard at http://[0-9.:]*' "
             "%s/hz-dash.log && break; sleep 0.1; done | tail -n 1 | cut -c 14-", rundir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    int got = fgets(url, sizeof url, p) != NULL;
    pclose(p);
    if (!got)
        sh("cat %s/hz-dash.log >&2", rundir);
    cr_assert(got, "the dashboard did not say where it listens");
    url[strcspn(url, "\n")] = '\0';

    /* the API serves the horizon's pulls for the run it fired on, as stored */
    char path[300];
    snprintf(path, sizeof path, "%s/hist.json", rundir);
    cr_assert_eq(sh("curl -sf '%s/api/run/%d/hist?key=calo/energy' > %s", url, HZ_SEQ, path), 0);
    size_t len;
    char *text = slurp(path, &len);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(text, len, &doc, &err), 0, "%s", err.msg);
    const dn_json_value_t *s = dn_json_get(dn_json_root(doc), "s");
    cr_assert_str_eq(dn_json_string(dn_json_get(s, "horizon")), "20r");
    expect_same(dn_json_get(s, "pulls"), want, HZ_NB, "20r pulls");
    dn_json_destroy(&doc);
    free(text);

    rc = sh("node web/tests/horizon_check.mjs --url %s --out %s --seq %d --key calo/energy >&2",
            url, out, HZ_SEQ);
    sh("kill $(cat %s/hz-dash.pid) 2>/dev/null", rundir);
    cr_assert_eq(rc, 0, "the browser check failed (its last line says which step)");
}
