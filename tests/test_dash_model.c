/* Tests of the dashboard's model and JSON views (services/dashboard/model.c,
 * view.c): the evaluator's judging rule applied run by run, idempotent
 * updates, which label a run shows, filters and paging, metrics, and that
 * hostile names come back out of the JSON as the same text. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "detail.h"
#include "json.h"
#include "model.h"
#include "view.h"

/* Renders with fn into a string (caller frees). */
static char *render_runs(const dash_model_t *m, dash_filter_t flt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(f);
    cr_assert_eq(dash_view_runs(f, m, &flt), 0);
    fclose(f);
    return buf;
}

static dash_filter_t all_runs(void)
{
    return (dash_filter_t){.before = -1, .limit = 1000, .severity = -1, .method = -1,
                           .subsystem = -1, .awaiting = 0};
}

/* chi2 giving score s for n_bins bins: s = log(chi2 / n_bins). */
static double chi2_for(double s, int n_bins) { return exp(s) * n_bins; }

/* Two keys (a in "calo", b in "trk", 10 bins), runs 0..n-1 each holding both;
 * scores from sa[], sb[] (NAN: not scored) for method 0. */
static void build(dash_model_t *m, int n, const double *sa, const double *sb)
{
    cr_assert_eq(dash_model_init(m), 0);
    int ka = dash_model_key(m, "calo/a", "calo", 10);
    int kb = dash_model_key(m, "trk/b", "trk", 10);
    cr_assert(ka == 0 && kb == 1);
    for (int i = 0; i < n; i++) {
        int keys[2] = {ka, kb};
        cr_assert_eq(dash_model_run(m, (uint64_t)i, 1000 + i, 1.7e9 + i, keys, 2), 0);
        if (!isnan(sa[i]))
            cr_assert_eq(dash_model_score(m, 0, (uint64_t)i, ka, DASH_ST_OK,
                                          chi2_for(sa[i], 10), 0.3), 0);
        if (!isnan(sb[i]))
            cr_assert_eq(dash_model_score(m, 0, (uint64_t)i, kb, DASH_ST_OK,
                                          chi2_for(sb[i], 10), 0.3), 0);
    }
}

Test(dash_model, judges_runs_as_the_evaluator)
{
    /* thresholds: bad 1.0, warning 0.5; historical regime: runs 0, 1 */
    double sa[6] = {2.0, 0.1, 0.1, 0.7, 1.5, 0.2};
    double sb[6] = {0.1, 0.1, 0.2, 0.1, 3.0, NAN};
    dash_model_t m;
    build(&m, 6, sa, sb);
    dash_model_settle(&m, NULL, NULL);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(m.runs[i].m[0].severity, DN_SEV_NONE, "run %d judged before thresholds", i);
    cr_assert_eq(dash_model_threshold(&m, 0, 0, 1.0, 0.5, 2, "tuned"), 0);
    dash_model_settle(&m, NULL, NULL);
    /* key b has no threshold yet: no run can be judged (the evaluator waits) */
    for (int i = 0; i < 6; i++)
        cr_assert_eq(m.runs[i].m[0].severity, DN_SEV_NONE, "run %d judged without b's", i);
    cr_assert_eq(dash_model_threshold(&m, 1, 0, 1.0, 0.5, 2, "tuned"), 0);
    dash_model_settle(&m, NULL, NULL);
    const uint8_t want[6] = {DN_SEV_NONE, DN_SEV_NONE, DN_SEV_GOOD, DN_SEV_WARNING, DN_SEV_BAD,
                             DN_SEV_NONE /* b not scored */};
    for (int i = 0; i < 6; i++)
        cr_expect_eq(m.runs[i].m[0].severity, want[i], "run %d: severity %d, want %d", i,
                     m.runs[i].m[0].severity, want[i]);
    /* run 4: both bad, worst first by excess over the bad threshold */
    cr_expect_eq(m.runs[4].m[0].worst[0], 1);
    cr_expect_eq(m.runs[4].m[0].worst[1], 0);
    cr_expect_float_eq(m.runs[4].m[0].excess[0], 2.0, 1e-12, "excess %g", m.runs[4].m[0].excess[0]);
    cr_expect_float_eq(m.runs[4].m[0].excess[1], 0.5, 1e-12, "excess %g", m.runs[4].m[0].excess[1]);
    /* combined score: log(sum chi2 / sum bins) */
    double comb = log((chi2_for(1.5, 10) + chi2_for(3.0, 10)) / 20);
    cr_expect_float_eq(log(m.runs[4].m[0].chi2 / m.runs[4].m[0].bins), comb, 1e-12);
    cr_expect_eq(m.counts[0][DN_SEV_BAD], 1);
    cr_expect_eq(m.counts[0][DN_SEV_WARNING], 1);
    cr_expect_eq(m.counts[0][DN_SEV_GOOD], 1);
    cr_expect_eq(m.counts[0][DN_SEV_NONE], 3);
    /* run 5's missing score arrives: insufficient statistics, which ranks
     * below good (severity.h), so the run is judged good */
    cr_assert_eq(dash_model_score(&m, 0, 5, 1, DASH_ST_INSUFFICIENT, NAN, NAN), 0);
    dash_model_settle(&m, NULL, NULL);
    cr_expect_eq(m.runs[5].m[0].severity, DN_SEV_GOOD);
    cr_expect_eq(dash_model_cell_severity(&m, 1, 5, 0), DN_SEV_INSUFFICIENT);
    cr_expect_eq(m.counts[0][DN_SEV_NONE], 2, "counts follow: %d", m.counts[0][DN_SEV_NONE]);
    dash_model_free(&m);
}

Test(dash_model, updates_are_idempotent)
{
    double sa[4] = {0.1, 2.0, 0.7, 0.1}, sb[4] = {0.1, 0.1, 0.1, 0.1};
    dash_model_t m;
    build(&m, 4, sa, sb);
    dash_model_threshold(&m, 0, 0, 1.0, 0.5, 1, "tuned");
    dash_model_threshold(&m, 1, 0, 1.0, 0.5, 1, "tuned");
    dash_model_label(&m, 1, 0, 1, DASH_LABEL_RECORDED, "generator", NULL, 5.0);
    dash_model_settle(&m, NULL, NULL);
    char *once = render_runs(&m, all_runs());
    /* everything again, as a redelivery after a restart would */
    int keys[2] = {0, 1};
    for (int i = 0; i < 4; i++) {
        dash_model_run(&m, (uint64_t)i, 1000 + i, 1.7e9 + i, keys, 2);
        dash_model_score(&m, 0, (uint64_t)i, 0, DASH_ST_OK, chi2_for(sa[i], 10), 0.3);
        dash_model_score(&m, 0, (uint64_t)i, 1, DASH_ST_OK, chi2_for(sb[i], 10), 0.3);
    }
    dash_model_threshold(&m, 0, 0, 1.0, 0.5, 1, "tuned");
    dash_model_label(&m, 1, 0, 1, DASH_LABEL_RECORDED, "generator", NULL, 5.0);
    dash_model_settle(&m, NULL, NULL);
    char *twice = render_runs(&m, all_runs());
    cr_expect_str_eq(twice, once);
    cr_expect_eq(m.awaiting, 3, "awaiting %d", m.awaiting);
    cr_expect_eq(m.counts[0][DN_SEV_BAD] + m.counts[0][DN_SEV_WARNING] +
                     m.counts[0][DN_SEV_GOOD] + m.counts[0][DN_SEV_NONE], 4);
    free(once);
    free(twice);
    dash_model_free(&m);
}

Test(dash_model, shown_label_prefers_people_and_bad_histograms)
{
    double s[2] = {0.1, 0.1};
    dash_model_t m;
    build(&m, 2, s, s);
    cr_expect_eq(m.awaiting, 2);
    /* the generator labels each histogram: one bad makes the run read bad */
    dash_model_label(&m, 0, 0, 0, DASH_LABEL_RECORDED, "generator", NULL, 1.0);
    dash_model_label(&m, 0, 1, 1, DASH_LABEL_RECORDED, "generator", NULL, 1.0);
    dash_model_label(&m, 0, 0, 0, DASH_LABEL_RECORDED, "generator", NULL, 1.0);
    cr_expect_eq(m.runs[0].lstate, DASH_LABEL_RECORDED);
    cr_expect_eq(m.runs[0].lverdict, 1);
    cr_expect_eq(m.awaiting, 1);
    /* an automatic label never hides a person's; a person's replaces anything */
    dash_model_label(&m, 1, -1, 1, DASH_LABEL_PERSON, "alice", "dead region", 2.0);
    dash_model_label(&m, 1, -1, 0, DASH_LABEL_AUTO, "evaluator", "auto", 3.0);
    cr_expect_eq(m.runs[1].lstate, DASH_LABEL_PERSON);
    cr_expect_eq(m.runs[1].lverdict, 1);
    cr_expect_str_eq(m.runs[1].who, "alice");
    cr_expect_eq(dash_model_cell(&m, 0, 1)->label, 1, "cell keeps the person's verdict");
    dash_model_label(&m, 1, -1, 0, DASH_LABEL_PERSON, "bob", "fine after all", 4.0);
    cr_expect_eq(m.runs[1].lverdict, 0);
    cr_expect_str_eq(m.runs[1].who, "bob");
    cr_expect_eq(m.awaiting, 0);
    dash_model_free(&m);
}

Test(dash_model, filters_and_pages)
{
    double sa[8] = {0.1, 0.1, 2.0, 0.1, 2.0, 0.1, 0.7, 2.0};
    double sb[8] = {0.1, 0.1, 0.1, 2.0, 0.1, 0.1, 0.1, 0.1};
    dash_model_t m;
    build(&m, 8, sa, sb);
    dash_model_threshold(&m, 0, 0, 1.0, 0.5, 2, "tuned");
    dash_model_threshold(&m, 1, 0, 1.0, 0.5, 2, "tuned");
    dash_model_label(&m, 7, -1, 1, DASH_LABEL_PERSON, "alice", NULL, 1.0);
    dash_model_settle(&m, NULL, NULL);
    dash_filter_t f = all_runs();
    f.severity = DN_SEV_BAD;
    f.method = 0;
    char *bad = render_runs(&m, f);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(bad, strlen(bad), &doc, &err), 0, "%s", err.msg);
    const dn_json_value_t *runs = dn_json_get(dn_json_root(doc), "runs");
    int want[4] = {7, 4, 3, 2};
    cr_assert_eq(dn_json_array_len(runs), 4, "%s", bad);
    for (int i = 0; i < 4; i++)
        cr_expect_eq((int)dn_json_number(dn_json_get(dn_json_array_at(runs, i), "seq")), want[i]);
    dn_json_destroy(&doc);
    free(bad);
    /* subsystem trk bad: only run 3 */
    f.subsystem = 1;
    char *trk = render_runs(&m, f);
    cr_assert_eq(dn_json_parse(trk, strlen(trk), &doc, &err), 0, "%s", err.msg);
    runs = dn_json_get(dn_json_root(doc), "runs");
    cr_expect_eq(dn_json_array_len(runs), 1, "%s", trk);
    cr_expect_eq((int)dn_json_number(dn_json_get(dn_json_array_at(runs, 0), "seq")), 3);
    dn_json_destroy(&doc);
    free(trk);
    /* awaiting, two per page */
    f = all_runs();
    f.awaiting = 1;
    f.limit = 2;
    char *p1 = render_runs(&m, f);
    cr_assert_eq(dn_json_parse(p1, strlen(p1), &doc, &err), 0);
    runs = dn_json_get(dn_json_root(doc), "runs");
    cr_expect_eq((int)dn_json_number(dn_json_get(dn_json_array_at(runs, 0), "seq")), 6);
    cr_expect_eq((int)dn_json_number(dn_json_get(dn_json_array_at(runs, 1), "seq")), 5);
    cr_expect_eq((int)dn_json_number(dn_json_get(dn_json_root(doc), "next_before")), 5);
    dn_json_destroy(&doc);
    free(p1);
    f.before = 1;
    char *last = render_runs(&m, f);
    cr_assert_eq(dn_json_parse(last, strlen(last), &doc, &err), 0);
    cr_expect_eq(dn_json_array_len(dn_json_get(dn_json_root(doc), "runs")), 1);
    cr_expect_eq(dn_json_type(dn_json_get(dn_json_root(doc), "next_before")), DN_JSON_NULL, "%s",
                 last);
    dn_json_destroy(&doc);
    free(last);
    dash_model_free(&m);
}

Test(dash_model, metrics_count_the_continual_regime)
{
    /* historical: 0, 1; truth bad for 2 and 4; flagged (a > 1): 2, 3 */
    double sa[5] = {0.1, 0.1, 2.0, 2.0, 0.1}, sb[5] = {0.1, 0.1, 0.1, 0.1, 0.1};
    dash_model_t m;
    build(&m, 5, sa, sb);
    dash_model_threshold(&m, 0, 0, 1.0, 0.5, 2, "tuned");
    dash_model_threshold(&m, 1, 0, 1.0, 0.5, 2, "tuned");
    for (int i = 0; i < 5; i++)
        dash_model_label(&m, (uint64_t)i, 0, i == 2 || i == 4, DASH_LABEL_RECORDED, NULL, NULL, 0);
    dash_model_label(&m, 3, 1, 0, DASH_LABEL_AUTO, NULL, NULL, 0); /* not truth */
    dash_model_settle(&m, NULL, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(dash_view_metrics(f, &m), 0);
    fclose(f);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(buf, len, &doc, &err), 0, "%s", err.msg);
    const dn_json_value_t *a = dn_json_get(dn_json_array_at(dn_json_get(dn_json_root(doc), "keys"), 0),
                                           "s");
    cr_expect_eq(dn_json_number(dn_json_get(a, "tp")), 1, "%s", buf);
    cr_expect_eq(dn_json_number(dn_json_get(a, "fp")), 1);
    cr_expect_eq(dn_json_number(dn_json_get(a, "fn")), 1);
    cr_expect_eq(dn_json_number(dn_json_get(a, "tn")), 0);
    cr_expect_float_eq(dn_json_number(dn_json_get(a, "balanced_accuracy")), 0.25, 1e-12);
    const dn_json_value_t *b = dn_json_get(dn_json_array_at(dn_json_get(dn_json_root(doc), "keys"), 1),
                                           "s");
    cr_expect_eq(dn_json_number(dn_json_get(b, "tn")), 0, "key b has no truth: %s", buf);
    dn_json_destroy(&doc);
    free(buf);
    dash_model_free(&m);
}

Test(dash_model, hostile_names_survive_as_text)
{
    const char *hostile = "<img src=x onerror=alert(1)>\"\\\n</script>";
    dash_model_t m;
    cr_assert_eq(dash_model_init(&m), 0);
    int k = dash_model_key(&m, hostile, "<b>sub</b>", 3);
    int keys[1] = {k};
    dash_model_run(&m, 0, 7, 1.0, keys, 1);
    dash_model_label(&m, 0, -1, 1, DASH_LABEL_PERSON, "<i>eve</i>", "\"; alert(2); \"", 1.0);
    dash_model_settle(&m, NULL, NULL);
    char *out = render_runs(&m, all_runs());
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(out, strlen(out), &doc, &err), 0, "%s: %s", err.msg, out);
    const dn_json_value_t *run = dn_json_array_at(dn_json_get(dn_json_root(doc), "runs"), 0);
    const dn_json_value_t *subs = dn_json_get(run, "subsystems");
    cr_expect(dn_json_get(subs, "<b>sub</b>") != NULL, "%s", out);
    const dn_json_value_t *label = dn_json_get(run, "label");
    cr_expect_str_eq(dn_json_string(dn_json_get(label, "who")), "<i>eve</i>");
    cr_expect_str_eq(dn_json_string(dn_json_get(label, "reason")), "\"; alert(2); \"");
    dn_json_destroy(&doc);
    free(out);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(dash_view_key(f, &m, k), 0);
    fclose(f);
    cr_assert_eq(dn_json_parse(buf, len, &doc, &err), 0, "%s", err.msg);
    cr_expect_str_eq(dn_json_string(dn_json_get(dn_json_root(doc), "key")), hostile);
    dn_json_destroy(&doc);
    free(buf);
    dash_model_free(&m);
}

Test(dash_model, runs_holding_the_same_keys_share_one_list)
{
    dash_model_t m;
    double s[3] = {NAN, NAN, NAN};
    build(&m, 3, s, s);
    cr_assert_eq(m.runs[0].keys, m.runs[2].keys, "runs 0 and 2 hold the same keys: one list");
    cr_assert_eq(m.n_key_lists, 1, "%d lists for one distinct key list", m.n_key_lists);
    int other[1] = {1};
    cr_assert_eq(dash_model_run(&m, 3, 1003, NAN, other, 1), 0);
    cr_assert_eq(m.runs[3].n_hist, 1);
    cr_assert_eq(m.runs[3].keys[0], 1);
    cr_assert_eq(m.runs[2].keys[0], 0, "run 2's list changed with run 3's");
    cr_assert_eq(m.n_key_lists, 2);
    /* a run delivered again with other keys points to that list */
    cr_assert_eq(dash_model_run(&m, 1, 1001, NAN, other, 1), 0);
    cr_assert_eq(m.runs[1].keys, m.runs[3].keys);
    cr_assert_eq(m.n_key_lists, 2, "%d lists", m.n_key_lists);
    dash_model_free(&m);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct readers_t {
    pthread_rwlock_t *lock;
    atomic_int stop;
    double until;
} readers_t;

/* A page rendering heavy views back to back: 2 ms under the read lock,
 * again at once. */
static void *busy_reader(void *arg)
{
    readers_t *r = arg;
    while (!atomic_load(&r->stop) && mono() < r->until) {
        pthread_rwlock_rdlock(r->lock);
        usleep(2000);
        pthread_rwlock_unlock(r->lock);
    }
    return NULL;
}

Test(dash_model, overlapping_readers_do_not_hold_the_writer_off)
{
    pthread_rwlock_t lock;
    cr_assert_eq(dash_model_lock_init(&lock), 0);
    readers_t r = {.lock = &lock, .until = mono() + 2.0};
    pthread_t th[2];
    cr_assert_eq(pthread_create(&th[0], NULL, busy_reader, &r), 0);
    usleep(1000); /* the second reader holds while the first one lets go */
    cr_assert_eq(pthread_create(&th[1], NULL, busy_reader, &r), 0);
    usleep(20000);
    double worst = 0;
    for (int i = 0; i < 10; i++) { /* the node thread's rounds */
        double t0 = mono();
        pthread_rwlock_wrlock(&lock);
        double w = mono() - t0;
        pthread_rwlock_unlock(&lock);
        worst = w > worst ? w : worst;
        usleep(5000);
    }
    atomic_store(&r.stop, 1);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    pthread_rwlock_destroy(&lock);
    /* writer first: it waits for the readers inside (2 ms each), not for the
     * readers to stop (up to 2 s) */
    cr_assert_lt(worst, 0.25, "the writer waited %.3f s for the read lock's holders", worst);
}

/* n_bins_y of key k's view (-1: null, -2: absent). */
static int view_bins_y(const dash_model_t *m, int k)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(dash_view_key(f, m, k), 0);
    fclose(f);
    dn_json_t *doc = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_json_parse(buf, len, &doc, &err), 0, "%s", err.msg);
    const dn_json_value_t *v = dn_json_get(dn_json_root(doc), "n_bins_y");
    int ny = !v ? -2 : dn_json_type(v) == DN_JSON_NULL ? -1 : (int)dn_json_number(v);
    dn_json_destroy(&doc);
    free(buf);
    return ny;
}

/* A key's shape is fixed by its first run, not by a score (which gives the
 * bins only): the same bins in another 2-D shape, or 1-D, do not fit; the
 * key's summary row carries the shape once known, and a row written before
 * 2-D histograms (no bins of y) loads as "shape not known yet". */
Test(dash_model, a_key_keeps_the_shape_of_its_first_run)
{
    dash_model_t m;
    cr_assert_eq(dash_model_init(&m), 0);
    int k = dash_model_key(&m, "pix/occ", NULL, 12); /* a score came first */
    cr_assert_eq(view_bins_y(&m, k), -1, "the shape is known before any run");
    cr_assert_eq(dash_model_key_shape(&m, k, 12, 3), 2, "the first run fixes the shape");
    cr_assert_eq(dash_model_key_shape(&m, k, 12, 3), 1);
    cr_assert_eq(dash_model_key_shape(&m, k, 12, 2), 0, "6x2 fits a 4x3 key");
    cr_assert_eq(dash_model_key_shape(&m, k, 12, 0), 0, "1-D 12 fits a 4x3 key");
    cr_assert_eq(dash_model_key_shape(&m, k, 10, 2), 0, "5x2 fits a 4x3 key");
    cr_assert_eq(view_bins_y(&m, k), 3);
    int k1 = dash_model_key(&m, "calo/e", "calo", 0);
    cr_assert_eq(dash_model_key_shape(&m, k1, 40, 0), 2);
    cr_assert_eq(dash_model_key_shape(&m, k1, 40, 8), 0, "5x8 fits a 1-D key of 40");
    dash_model_free(&m);

    /* summary rows: with the shape, and as written before 2-D */
    dash_model_t back;
    cr_assert_eq(dash_model_init(&back), 0);
    dn_err_t err = {0};
    for (int row = 0; row < 2; row++) {
        dn_wbuf_t w = {0};
        const char *name = row ? "calo/e" : "pix/occ", *sub = row ? "calo" : "pix";
        dn_wb_str(&w, name, strlen(name));
        dn_wb_str(&w, sub, strlen(sub));
        dn_wb_u32(&w, row ? 40 : 12);
        if (!row)
            dn_wb_u32(&w, 3);
        unsigned char key[4] = {0, 0, 0, (unsigned char)row};
        cr_assert_eq(dash_detail_row(&back, DASH_ROW_KEY, key, 4, w.p, w.len, &err), 0, "%s",
                     err.msg);
        free(w.p);
    }
    cr_assert_eq(view_bins_y(&back, 0), 3, "the row's shape was not loaded");
    cr_assert_eq(dash_model_key_shape(&back, 0, 12, 2), 0);
    cr_assert_eq(view_bins_y(&back, 1), -1, "an old row gave a shape");
    cr_assert_eq(dash_model_key_shape(&back, 1, 40, 0), 2);
    /* a damaged shape is refused by name */
    dn_wbuf_t w = {0};
    dn_wb_str(&w, "x/y", 3);
    dn_wb_str(&w, "x", 1);
    dn_wb_u32(&w, 12);
    dn_wb_u32(&w, 5);
    unsigned char key[4] = {0, 0, 0, 2};
    cr_assert_eq(dash_detail_row(&back, DASH_ROW_KEY, key, 4, w.p, w.len, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "bins of y"), "%s", err.msg);
    free(w.p);
    dash_model_free(&back);
}

/* ---- horizons: S judged on the combined margin, as the evaluator ---------- */

#include "tmpdir.h"

/* Key a ("calo/a", horizon 5r) and b ("trk/b", none), runs 0..5 (historical
 * 0, 1); a's now scores sa[] and 5r scores s5[] (NAN: unavailable). */
static void build_hz(dash_model_t *m, const double *sa, const double *s5)
{
    double sb[6] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
    build(m, 6, sa, sb);
    const char *names[1] = {"5r"};
    for (int i = 0; i < 6; i++) {
        double c[1] = {isnan(s5[i]) ? NAN : chi2_for(s5[i], 10)};
        cr_assert_eq(dash_model_score_hz(m, (uint64_t)i, 0, 1, names, c), 0, "run %d", i);
        cr_assert_eq(dash_model_score_hz(m, (uint64_t)i, 1, 0, NULL, NULL), 0);
    }
    cr_assert_eq(dash_model_threshold(m, 0, 0, 1.0, 0.5, 2, "tuned"), 0);
    cr_assert_eq(dash_model_threshold(m, 1, 0, 1.0, 0.5, 2, "tuned"), 0);
    double bad5[1] = {0.8};
    cr_assert_eq(dash_model_threshold_hz(m, 0, 1, names, bad5), 0);
    cr_assert_eq(dash_model_threshold_hz(m, 1, 0, NULL, NULL), 0);
    dash_model_settle(m, NULL, NULL);
}

/* The severities and fired horizons of runs 2..5 by S, as this test wants them. */
static void check_hz(const dash_model_t *m, const char *when)
{
    /* run 2: nothing; 3: only 5r above its threshold (2.0 - 0.8); 4: 5r
     * unavailable, now alone; 5: now in its warning band, 5r below */
    const uint8_t want[6] = {DN_SEV_NONE, DN_SEV_NONE, DN_SEV_GOOD, DN_SEV_BAD, DN_SEV_GOOD,
                             DN_SEV_WARNING};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(m->runs[i].m[0].severity, want[i], "%s: run %d severity %d, want %d", when,
                     i, m->runs[i].m[0].severity, want[i]);
    const dash_assess_t *a = &m->runs[3].m[0];
    cr_assert(a->worst[0] == 0 && a->fired[0] == 1 && fabs(a->excess[0] - 1.2) < 1e-12,
              "%s: run 3 worst %d fired %d margin %.17g, want 0, 1, 1.2", when, a->worst[0],
              a->fired[0], a->excess[0]);
    cr_assert_str_eq(dash_model_hz_name(m, 0, a->fired[0]), "5r");
    int fired;
    double margin = dash_model_cell_margin(m, 0, 5, 0, &fired);
    cr_assert(fired == 0 && fabs(margin - (0.7 - 1.0)) < 1e-12, "%s: run 5 margin %g fired %d",
              when, margin, fired);
    /* one horizon (key b): exactly the old rule */
    margin = dash_model_cell_margin(m, 1, 3, 0, &fired);
    cr_assert(fired == 0 && margin == log(chi2_for(0.1, 10) / 10) - 1.0, "%s: b's margin %.17g",
              when, margin);
}

Test(dash_model, a_lagged_horizon_fires_as_in_the_evaluator)
{
    double sa[6] = {2.0, 0.1, 0.1, 0.1, 0.1, 0.7};
    double s5[6] = {NAN, NAN, 0.1, 2.0, NAN, 0.2};
    dash_model_t m;
    build_hz(&m, sa, s5);
    check_hz(&m, "live");
    /* the run list names the horizon that fired */
    char *runs = render_runs(&m, all_runs());
    cr_assert(strstr(runs, "\"fired\": \"5r\"") || strstr(runs, "\"fired\":\"5r\""),
              "the run list does not say 5r fired: %.400s", runs);
    free(runs);
    /* a Score naming other horizons keeps now and loses its horizons */
    const char *other[1] = {"6r"};
    double c[1] = {1e9};
    cr_assert_eq(dash_model_score_hz(&m, 4, 0, 1, other, c), 1);
    dash_model_settle(&m, NULL, NULL);
    cr_assert_eq(m.runs[4].m[0].severity, DN_SEV_GOOD, "the rejected 6r voted");
    dash_model_free(&m);
}

Test(dash_model, horizons_survive_a_restart_of_the_detail_store)
{
    char dir[DN_TEST_TMPDIR_MAX];
    dn_test_tmpdir(dir, "dashhz");
    double sa[6] = {2.0, 0.1, 0.1, 0.1, 0.1, 0.7};
    double s5[6] = {NAN, NAN, 0.1, 2.0, NAN, 0.2};
    dash_model_t m;
    build_hz(&m, sa, s5);
    dn_err_t err = {0};
    dash_detail_t *d = dash_detail_open(dir, 0, 0, &err);
    cr_assert_not_null(d, "%s", err.msg);
    cr_assert_eq(dash_detail_stage_keys(d, &m), 0);
    for (int k = 0; k < 2; k++)
        cr_assert_eq(dash_detail_stage_threshold(d, &m, k, 0), 0);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(dash_detail_stage_run(d, &m, i), 0);
    cr_assert_eq(dash_detail_commit(d, &err), 0, "%s", err.msg);
    dash_model_free(&m);
    dash_detail_destroy(&d);

    dash_model_t back;
    cr_assert_eq(dash_model_init(&back), 0);
    d = dash_detail_open(dir, 0, 0, &err);
    cr_assert_not_null(d, "%s", err.msg);
    cr_assert_eq(dash_detail_load(d, &back, &err), 0, "%s", err.msg);
    cr_assert(back.keys[0].hz_fixed && back.keys[0].n_lagged == 1 && back.keys[1].hz_fixed &&
                  back.keys[1].n_lagged == 0,
              "horizon names not read back: a %d/%d, b %d/%d", back.keys[0].hz_fixed,
              back.keys[0].n_lagged, back.keys[1].hz_fixed, back.keys[1].n_lagged);
    check_hz(&back, "after a restart");
    dash_model_free(&back);
    dash_detail_destroy(&d);
    dn_test_rmdir(dir);
}

Test(dash_model, lagged_chi2_move_with_their_cells)
{
    dash_model_t m;
    cr_assert_eq(dash_model_init(&m), 0);
    int k = dash_model_key(&m, "calo/a", "calo", 10);
    const char *names[2] = {"5r", "7d"};
    /* scores first (the key's cells start at run 5), then older runs arrive */
    for (int i = 5; i < 8; i++) {
        double c[2] = {chi2_for(0.1 * i, 10), i == 6 ? NAN : chi2_for(-0.1 * i, 10)};
        cr_assert_eq(dash_model_score(&m, 0, (uint64_t)i, k, DASH_ST_OK, chi2_for(1, 10), NAN), 0);
        cr_assert_eq(dash_model_score_hz(&m, (uint64_t)i, k, 2, names, c), 0);
    }
    for (int i = 0; i < 8; i++)
        cr_assert_eq(dash_model_run(&m, (uint64_t)i, 100 + i, NAN, &k, 1), 0);
    cr_assert_eq(m.keys[k].first_seq, 0, "the cells did not move");
    for (int i = 0; i < 8; i++)
        for (int h = 1; h <= 2; h++) {
            double got = dash_model_cell_score_hz(&m, k, (uint64_t)i, h);
            double want = i < 5 || (i == 6 && h == 2) ? NAN : (h == 1 ? 0.1 : -0.1) * i;
            cr_assert(isnan(want) ? isnan(got) : fabs(got - want) < 1e-12,
                      "run %d horizon %d: score %g, want %g", i, h, got, want);
        }
    dash_model_free(&m);
}
