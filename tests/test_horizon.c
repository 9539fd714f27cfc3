/* test_horizon.c: multi-horizon references (lib/core/horizon.h): the single
 * horizon is DINAMO-S exactly; a lagged horizon's reference is the current
 * reference that scored the run `age` runs (or seconds) earlier, with the age
 * inside [lag, lag + step); snapshot retention stays within its bound; a
 * restart from a checkpoint continues bit-identically; damaged checkpoints are
 * refused by name; the spec parser; the combined verdict on hand-built cases;
 * a slow defect that the current reference absorbs and an older one sees. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinamo_s.h"
#include "generator.h"
#include "horizon.h"
#include "histo.h"

/* A SPEC 1 dataset of n runs (seed 7). */
static dn_dataset_t *dataset(int n)
{
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = n;
    p.n_anomalous = n / 10;
    dn_dataset_t *ds = NULL;
    cr_assert_eq(dn_generate(&p, 7, &ds, NULL), 0);
    return ds;
}

static dn_hz_spec_t spec_of(const char *text, int resolution)
{
    dn_hz_spec_t s;
    dn_err_t err = {0};
    cr_assert_eq(dn_hz_spec_parse(text, resolution, &s, &err), 0, "'%s': %s", text, err.msg);
    return s;
}

/* Same doubles bit for bit, NaN equal to NaN. */
static int same(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

Test(horizon, single_horizon_is_dinamo_s_exactly)
{
    dn_dataset_t *ds = dataset(800);
    int n = ds->n_runs, nb = ds->n_bins;
    dn_hz_spec_t one = spec_of("now", 4);
    dn_hz_t *hz = dn_hz_new(&one, nb, 0.9);
    dn_s_t *s = dn_s_new(nb, 0.9);
    double *c1 = malloc(n * sizeof *c1), *c2 = malloc(n * sizeof *c2);
    double *p1 = malloc((size_t)n * nb * sizeof *p1), *p2 = malloc((size_t)n * nb * sizeof *p2);
    cr_assert_eq(dn_hz_run(hz, ds->counts, NULL, NULL, ds->label, n, c1, p1, NULL, NULL, NULL), 0);
    cr_assert_eq(dn_s_run(s, ds->counts, NULL, ds->label, n, c2, NULL, NULL, p2, NULL), 0);
    int worst = -1;
    for (int i = 0; i < n && worst < 0; i++)
        if (!same(c1[i], c2[i]))
            worst = i;
    for (size_t k = 0; k < (size_t)n * nb && worst < 0; k++)
        if (!same(p1[k], p2[k]))
            worst = (int)(k / nb);
    cr_assert_eq(worst, -1, "run %d differs from dn_s_run", worst);
    cr_assert_eq(dn_hz_snapshot_count(hz), 0);
    free(c1), free(c2), free(p1), free(p2);
    dn_s_destroy(&s);
    dn_hz_destroy(&hz);
    dn_dataset_destroy(&ds);
}

/* For each lag and resolution: run p's horizon reference (ref_mu row) is the
 * current reference that scored run p - age, age in [lag, lag + step); the
 * horizon is unavailable before run lag; retention within the bound. */
Test(horizon, run_lag_reference_is_the_one_that_scored_that_run)
{
    dn_dataset_t *ds = dataset(700);
    int n = ds->n_runs, nb = ds->n_bins;
    static const struct { const char *spec; int res; } cases[] = {
        {"1", 4}, {"5", 4}, {"7,100", 4}, {"100", 1}, {"30,250", 8}, {"13", 64},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        dn_hz_spec_t sp = spec_of(cases[c].spec, cases[c].res);
        dn_hz_t *hz = dn_hz_new(&sp, nb, 0.95);
        cr_assert_not_null(hz);
        int H = sp.n;
        double *mu = malloc((size_t)H * n * nb * sizeof *mu);
        double *age = malloc((size_t)H * n * sizeof *age);
        double *chi2 = malloc((size_t)H * sizeof *chi2);
        int over_bound = 0, warm = -1;
        for (int i = 0; i < n; i++) {
            dn_hz_out_t o = {0};
            for (int h = 0; h < H; h++)
                o.ref_mu[h] = mu + ((size_t)h * n + i) * nb;
            int rc = dn_hz_score(hz, ds->counts + (size_t)i * nb, NULL, NAN, &o, NULL);
            for (int h = 0; h < H; h++)
                age[(size_t)h * n + i] = o.age[h];
            if (rc == 0 && ds->label[i] == 0)
                dn_hz_update(hz, ds->counts + (size_t)i * nb, NULL, NULL);
            if (dn_hz_snapshot_count(hz) > dn_hz_snapshot_bound(hz))
                over_bound = 1;
            /* no snapshot of a reference still dominated by its flat start:
             * 0.95^90 <= 0.01 < 0.95^89 */
            if (warm < 0 && dn_s_n_updates(dn_hz_now(hz)) >= 90)
                warm = i + 1;
        }
        cr_assert(!over_bound, "%s: more snapshots than the bound %d", cases[c].spec,
                  dn_hz_snapshot_bound(hz));
        for (int h = 1; h < H; h++) {
            double lag = sp.lag[h], step = fmax(1.0, floor(lag / sp.resolution));
            double first = ceil(warm / step) * step + lag; /* first snapshot's run + lag */
            cr_assert(warm > 0 && first < n, "%s: warm at %d", cases[c].spec, warm);
            for (int i = 0; i < n; i++) {
                double a = age[(size_t)h * n + i];
                if (i < first) {
                    cr_assert(isnan(a), "%s h%d run %d: available before its first snapshot "
                              "is lag old (age %g, from run %g)", cases[c].spec, h, i, a, first);
                    continue;
                }
                cr_assert(a >= lag && a < lag + step, "%s h%d run %d: age %g outside [%g, %g)",
                          cases[c].spec, h, i, a, lag, lag + step);
                int then = i - (int)a;
                const double *got = mu + ((size_t)h * n + i) * nb;
                const double *want = mu + ((size_t)0 * n + then) * nb;
                for (int j = 0; j < nb; j++)
                    cr_assert(got[j] == want[j], "%s h%d run %d bin %d: %.17g, the reference of "
                              "run %d had %.17g", cases[c].spec, h, i, j, got[j], then, want[j]);
            }
        }
        free(mu), free(age), free(chi2);
        dn_hz_destroy(&hz);
    }
    dn_dataset_destroy(&ds);
}

/* Seconds: runs an irregular 1-3 h apart with a week's gap and one late run;
 * the reference used is the one that scored the run at the snapshot time, at
 * least the lag old; runs without a time get nothing from a time horizon. */
Test(horizon, time_lag_reference_by_run_time)
{
    dn_dataset_t *ds = dataset(600);
    int n = ds->n_runs, nb = ds->n_bins;
    double *t = malloc(n * sizeof *t);
    double now = 1.7e9;
    for (int i = 0; i < n; i++) {
        now += 3600.0 * (1 + i % 3);
        if (i == 300)
            now += 7 * 86400.0;
        t[i] = now;
    }
    t[100] = t[99] - 1800.0; /* late */
    t[200] = NAN;            /* unknown */
    dn_hz_spec_t sp = spec_of("2d,12h", 4);
    cr_assert_eq(sp.kind[1], DN_HZ_SECONDS);
    cr_assert_eq(sp.lag[1], 43200.0, "sorted: 12h first, got %g", sp.lag[1]);
    dn_hz_t *hz = dn_hz_new(&sp, nb, 0.95);
    double *mu = malloc((size_t)3 * n * nb * sizeof *mu);
    for (int i = 0; i < n; i++) {
        dn_hz_out_t o = {0};
        for (int h = 0; h < 3; h++)
            o.ref_mu[h] = mu + ((size_t)h * n + i) * nb;
        int rc = dn_hz_score(hz, ds->counts + (size_t)i * nb, NULL, t[i], &o, NULL);
        if (rc == 0 && ds->label[i] == 0)
            dn_hz_update(hz, ds->counts + (size_t)i * nb, NULL, NULL);
        cr_assert(dn_hz_snapshot_count(hz) <= dn_hz_snapshot_bound(hz));
        for (int h = 1; h < 3; h++) {
            if (i == 200) {
                cr_assert(isnan(o.age[h]) && isnan(o.chi2[h]), "run without time: h%d used", h);
                continue;
            }
            if (isnan(o.age[h]))
                continue;
            cr_assert(o.age[h] >= sp.lag[h], "run %d h%d: age %g s < lag %g", i, h, o.age[h],
                      sp.lag[h]);
            /* the snapshot was taken before scoring the run whose time is t - age */
            int then = -1;
            for (int k = 0; k < i; k++)
                if (t[k] == t[i] - o.age[h])
                    then = k;
            cr_assert(then >= 0, "run %d h%d: no run at the snapshot time", i, h);
            cr_assert_eq(memcmp(mu + ((size_t)h * n + i) * nb, mu + (size_t)then * nb,
                                nb * sizeof *mu), 0, "run %d h%d: not the reference of run %d",
                         i, h, then);
        }
    }
    /* after the week's gap both horizons are available */
    dn_hz_out_t o = {0};
    cr_assert_eq(dn_hz_score(hz, ds->counts, NULL, t[n - 1] + 3600, &o, NULL), 0);
    cr_assert(!isnan(o.chi2[1]) && !isnan(o.chi2[2]), "horizons unavailable at the end");
    free(t), free(mu);
    dn_hz_destroy(&hz);
    dn_dataset_destroy(&ds);
}

/* Checkpoint at every 37th run, restore, continue: every chi2 bit-identical to
 * the uninterrupted tracker's. */
Test(horizon, restart_from_checkpoint_is_bit_identical)
{
    dn_dataset_t *ds = dataset(900);
    int n = ds->n_runs, nb = ds->n_bins;
    dn_hz_spec_t sp = spec_of("50,300,1d", 4);
    dn_hz_t *a = dn_hz_new(&sp, nb, 0.93), *b = dn_hz_new(&sp, nb, 0.93);
    int restarts = 0;
    for (int i = 0; i < n; i++) {
        double t = 1.6e9 + 7200.0 * i;
        dn_hz_out_t oa = {0}, ob = {0};
        int ra = dn_hz_score(a, ds->counts + (size_t)i * nb, NULL, t, &oa, NULL);
        int rb = dn_hz_score(b, ds->counts + (size_t)i * nb, NULL, t, &ob, NULL);
        cr_assert_eq(ra, rb);
        for (int h = 0; h < sp.n; h++)
            cr_assert(same(oa.chi2[h], ob.chi2[h]) && same(oa.age[h], ob.age[h]),
                      "run %d h%d: %.17g vs %.17g after %d restarts", i, h, oa.chi2[h],
                      ob.chi2[h], restarts);
        if (ra == 0 && ds->label[i] == 0) {
            dn_hz_update(a, ds->counts + (size_t)i * nb, NULL, NULL);
            dn_hz_update(b, ds->counts + (size_t)i * nb, NULL, NULL);
        }
        if (i % 37 == 36) {
            size_t len = dn_hz_state_size(b);
            unsigned char *buf = malloc(len);
            cr_assert_eq(dn_hz_save(b, buf, len), 0);
            dn_hz_destroy(&b);
            dn_err_t err = {0};
            cr_assert_eq(dn_hz_load(buf, len, &b, &err), 0, "%s", err.msg);
            cr_assert_eq(dn_hz_position(b), (uint64_t)i + 1);
            free(buf);
            restarts++;
        }
    }
    cr_assert(dn_hz_snapshot_count(b) > 0);
    dn_hz_destroy(&a);
    dn_hz_destroy(&b);
    dn_dataset_destroy(&ds);
}

/* A tracker restarted with other horizons (dn_hz_respec at run 200, from
 * "50,120" to "50,300"; snapshots following accepted changes): now and the
 * 50-run horizon go on exactly as a tracker
 * that had "50,300" all along; 300 runs starts empty: unavailable until a
 * snapshot taken after the change is 300 runs old, then that tracker's too. */
Test(horizon, respec_keeps_now_and_common_rings_and_starts_the_new_ones)
{
    dn_dataset_t *ds = dataset(800);
    int n = ds->n_runs, nb = ds->n_bins, change = 200;
    dn_hz_spec_t want = spec_of("50,300", 4), before = spec_of("50,120", 4);
    dn_hz_t *a = dn_hz_new(&want, nb, 0.93), *b = dn_hz_new(&before, nb, 0.93);
    dn_err_t err = {0};
    int first_300 = -1, compared[3] = {0};
    /* snapshots follow accepted changes (the level from the first 100 runs) */
    double hist[100];
    dn_s_t *s = dn_s_new(nb, 0.93);
    cr_assert_eq(dn_s_run(s, ds->counts, NULL, ds->label, 100, hist, NULL, NULL, NULL, NULL), 0);
    dn_s_destroy(&s);
    for (int i = 0; i < 100; i++)
        hist[i] = dn_score_from_chi2(hist[i], nb);
    double level = dn_hz_level_from_history(hist, ds->label, 100, DN_HZ_ACCEPT_Q);
    dn_hz_set_accept_level(a, level);
    dn_hz_set_accept_level(b, level);
    for (int i = 0; i < n; i++) {
        if (i == change) {
            int before_n = dn_hz_snapshot_count(b);
            dn_hz_spec_t bad = want;
            bad.lag[1] = 0.5;
            cr_assert_eq(dn_hz_respec(b, &bad, &err), DN_EINVAL);
            cr_assert(strstr(err.msg, "0.5 runs"), "'%s'", err.msg);
            cr_assert_eq(dn_hz_snapshot_count(b), before_n, "a refused respec changed it");
            uint64_t accepted = dn_hz_accepted(b);
            cr_assert_eq(dn_hz_respec(b, &want, &err), 0, "%s", err.msg);
            cr_assert(dn_hz_spec_equal(dn_hz_spec(b), &want));
            cr_assert_eq(dn_hz_position(b), (uint64_t)change);
            cr_assert(same(dn_hz_accept_level(b), level) && dn_hz_accepted(b) == accepted,
                      "the acceptance state changed");
            cr_assert_eq(dn_hz_respec(b, &want, &err), 0, "the same spec again");
        }
        const double *x = ds->counts + (size_t)i * nb;
        dn_hz_out_t oa = {0}, ob = {0};
        int ra = dn_hz_score(a, x, NULL, NAN, &oa, NULL);
        int rb = dn_hz_score(b, x, NULL, NAN, &ob, NULL);
        cr_assert_eq(ra, rb, "run %d", i);
        cr_assert(same(oa.chi2[0], ob.chi2[0]), "run %d now: %.17g vs %.17g", i, oa.chi2[0],
                  ob.chi2[0]);
        compared[0]++;
        if (i >= change || i >= 50) {
            cr_assert(same(oa.chi2[1], ob.chi2[1]) && same(oa.age[1], ob.age[1]),
                      "run %d 50r: %.17g (age %g) vs %.17g (age %g)", i, oa.chi2[1], oa.age[1],
                      ob.chi2[1], ob.age[1]);
            compared[1] += !isnan(ob.chi2[1]);
        }
        if (i >= change) {
            if (isnan(ob.age[2])) {
                cr_assert_lt(first_300, 0, "run %d: 300r unavailable again", i);
            } else {
                if (first_300 < 0)
                    first_300 = i;
                cr_assert(same(oa.chi2[2], ob.chi2[2]) && oa.age[2] == ob.age[2],
                          "run %d 300r: %.17g vs %.17g", i, oa.chi2[2], ob.chi2[2]);
                compared[2]++;
            }
        }
        cr_assert_leq(dn_hz_snapshot_count(b), dn_hz_snapshot_bound(b), "run %d", i);
        if (ra == 0 && ds->label[i] == 0) {
            dn_hz_update(a, x, NULL, NULL);
            dn_hz_update(b, x, NULL, NULL);
        }
    }
    cr_assert_gt(dn_hz_accepted(b), 0, "no accepted change: that path is not compared");
    /* the first snapshot after the change: position 225 (step 75), used at 525 */
    cr_assert_eq(first_300, 525, "300r available from run %d", first_300);
    cr_assert(compared[1] > 600 && compared[2] > 200, "compared %d %d %d", compared[0],
              compared[1], compared[2]);

    /* A lower resolution keeps the newest snapshots that fit the smaller ring. */
    dn_hz_spec_t coarse = spec_of("50,300", 1);
    cr_assert_eq(dn_hz_respec(b, &coarse, &err), 0, "%s", err.msg);
    cr_assert_leq(dn_hz_snapshot_count(b), dn_hz_snapshot_bound(b));
    cr_assert_eq(dn_hz_snapshot_bound(b), 3 + 3, "bound %d", dn_hz_snapshot_bound(b));
    cr_assert_gt(dn_hz_snapshot_count(b), 0);
    /* dropping every lagged horizon leaves the current reference alone */
    dn_hz_spec_t one = spec_of("now", 4);
    cr_assert_eq(dn_hz_respec(b, &one, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_hz_snapshot_count(b), 0);
    dn_hz_out_t oa = {0}, ob = {0};
    const double *x = ds->counts;
    cr_assert_eq(dn_hz_score(a, x, NULL, NAN, &oa, NULL), dn_hz_score(b, x, NULL, NAN, &ob, NULL));
    cr_assert(same(oa.chi2[0], ob.chi2[0]), "now after dropping the horizons");
    dn_hz_destroy(&a);
    dn_hz_destroy(&b);
    dn_dataset_destroy(&ds);
}

Test(horizon, damaged_checkpoints_are_refused_by_name)
{
    dn_dataset_t *ds = dataset(200);
    dn_hz_spec_t sp = spec_of("20,60", 4);
    dn_hz_t *a = dn_hz_new(&sp, ds->n_bins, 0.9);
    double *chi2 = calloc(3 * 150, sizeof *chi2);
    cr_assert_eq(dn_hz_run(a, ds->counts, NULL, NULL, ds->label, 150, chi2, NULL, NULL, NULL,
                           NULL), 0);
    free(chi2);
    size_t len = dn_hz_state_size(a);
    unsigned char *buf = malloc(len + 1);
    cr_assert_eq(dn_hz_save(a, buf, len), 0);
    dn_hz_t *b = NULL;
    dn_err_t err;
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 97)) {
        memset(&err, 0, sizeof err);
        cr_assert_neq(dn_hz_load(buf, cut, &b, &err), 0, "%zu of %zu bytes accepted", cut, len);
        cr_assert_null(b);
        cr_assert(err.msg[0], "no message for a cut at %zu", cut);
    }
    buf[len] = 0;
    memset(&err, 0, sizeof err);
    cr_assert_eq(dn_hz_load(buf, len + 1, &b, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "left over"), "%s", err.msg);
    unsigned char save = buf[0];
    buf[0] = 'X';
    cr_assert_eq(dn_hz_load(buf, len, &b, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "magic"), "%s", err.msg);
    buf[0] = save;
    /* a ring claiming more snapshots than its bound */
    size_t ring1 = 16 + 3 * 12 + 32 + dn_s_state_size(dn_hz_now(a));
    uint32_t huge = 1000;
    memcpy(buf + ring1, &huge, 4);
    memset(&err, 0, sizeof err);
    cr_assert_eq(dn_hz_load(buf, len, &b, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "horizon 1"), "%s", err.msg);
    free(buf);
    dn_hz_destroy(&a);
    dn_dataset_destroy(&ds);
}

Test(horizon, spec_parse_sorts_names_and_refuses_by_name)
{
    dn_hz_spec_t s = spec_of(" 7d, 500 ,now,12h,100", 4);
    cr_assert_eq(s.n, 5);
    char name[DN_HZ_NAME_MAX], list[128];
    const char *want[] = {"now", "100r", "500r", "12h", "7d"};
    for (int h = 0; h < 5; h++)
        cr_assert_str_eq(dn_hz_name(&s, h, name, sizeof name), want[h]);
    cr_assert_eq(dn_hz_spec_format(&s, list, sizeof list), 0);
    cr_assert_str_eq(list, "100,500,12h,7d");
    dn_hz_spec_t back = spec_of(list, 4);
    cr_assert(dn_hz_spec_equal(&s, &back));
    cr_assert(dn_hz_spec_has_time(&s));
    dn_hz_spec_t one = spec_of("", 4);
    cr_assert_eq(one.n, 1);
    cr_assert_eq(dn_hz_spec_format(&one, list, sizeof list), 0);
    cr_assert_str_eq(list, "now");
    cr_assert_eq(spec_of("90m", 4).lag[1], 5400.0);
    static const struct { const char *text, *why; } bad[] = {
        {"10x", "unknown unit"},   {"0", "whole number"}, {"2.5", "whole number"},
        {"-3h", "more than 0"},    {"100,100", "twice"},  {"1,2,3,4,5,6,7,8", "more than 7"},
        {"100,", "empty item"},    {",100", "empty"},     {"abc", "not a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dn_err_t err = {0};
        cr_assert_eq(dn_hz_spec_parse(bad[i].text, 4, &s, &err), DN_EINVAL, "'%s' accepted",
                     bad[i].text);
        cr_assert(strstr(err.msg, bad[i].why), "'%s': '%s' does not say '%s'", bad[i].text,
                  err.msg, bad[i].why);
    }
    dn_err_t err = {0};
    cr_assert_eq(dn_hz_spec_parse("100", 0, &s, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "resolution"), "%s", err.msg);
}

Test(horizon, combined_verdict_on_hand_built_cases)
{
    double thr[3] = {1.0, 2.0, NAN};
    int fired;
    /* below every threshold: margin the largest (least negative), not bad */
    double a[3] = {0.5, 1.9, 9.0};
    double m = dn_hz_margin(a, thr, 3, &fired);
    cr_assert(fabs(m - (-0.1)) < 1e-15 && fired == 1, "margin %g fired %d", m, fired);
    /* only the older horizon over its threshold: bad, fired by it */
    double b[3] = {0.9, 2.5, NAN};
    m = dn_hz_margin(b, thr, 3, &fired);
    cr_assert(m > 0 && fired == 1, "margin %g fired %d", m, fired);
    /* both over: the larger margin wins */
    double c[3] = {3.0, 2.5, 0.0};
    m = dn_hz_margin(c, thr, 3, &fired);
    cr_assert(m == 2.0 && fired == 0, "margin %g fired %d", m, fired);
    /* unavailable older horizon: now alone decides */
    double d[3] = {1.5, NAN, NAN};
    m = dn_hz_margin(d, thr, 3, &fired);
    cr_assert(m == 0.5 && fired == 0, "margin %g fired %d", m, fired);
    /* nothing available */
    double e[3] = {NAN, NAN, 4.0};
    cr_assert(isnan(dn_hz_margin(e, thr, 3, &fired)) && fired == -1);
    /* one horizon: margin > 0 exactly when score > threshold */
    double edge[4] = {1.0, nextafter(1.0, 2.0), nextafter(1.0, 0.0), -INFINITY};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(dn_hz_margin(&edge[i], thr, 1, NULL) > 0, edge[i] > 1.0, "score %.17g",
                     edge[i]);
}

Test(horizon, thresholds_per_horizon_and_a_horizon_that_cannot_tune)
{
    enum { N = 400, NH = 300 };
    static double score[3 * N];
    static int8_t label[N];
    for (int i = 0; i < N; i++) {
        label[i] = i % 10 == 0;
        score[i] = label[i] ? 2.0 + (i % 7) * 0.1 : -1.0 + (i % 5) * 0.1;
        score[N + i] = i < 50 ? NAN : score[i] + 3.0; /* shifted by 3, late */
        score[2 * N + i] = i < NH - 20 ? NAN : 0.0;   /* available too late */
    }
    double thr[3] = {NAN, NAN, NAN};
    dn_err_t err = {0};
    cr_assert_eq(dn_hz_tune_thresholds(score, label, N, 3, NH, 0, 0.02, thr, &err), 0, "%s",
                 err.msg);
    cr_assert(thr[0] >= -0.6 && thr[0] < 2.0, "now: threshold %g not between the classes", thr[0]);
    /* horizon 1's budget: of the 270 scored historical good runs at most
     * floor(0.02 / 2 * 270) = 2 more called bad, and no lower threshold would do */
    int over = 0, at = 0, n_good = 0;
    for (int i = 0; i < NH; i++) {
        n_good += label[i] == 0;
        if (label[i] == 0 && !isnan(score[N + i]) && !(score[i] > thr[0])) {
            over += score[N + i] > thr[1];
            at += score[N + i] == thr[1];
        }
    }
    cr_assert_eq(n_good, 270);
    cr_assert(over <= 2 && over + at > 2, "1: threshold %g lets %d good runs over, %d on it",
              thr[1], over, at);
    cr_assert(isnan(thr[2]), "a horizon with %d < %d good runs tuned to %g", 18,
              DN_HZ_MIN_GOOD, thr[2]);
    /* a horizon quieter than now is floored at now's threshold */
    for (int i = 0; i < N; i++)
        score[N + i] = score[i] - 5.0;
    thr[0] = NAN;
    cr_assert_eq(dn_hz_tune_thresholds(score, label, N, 2, NH, 0, 0.02, thr, &err), 0);
    cr_assert_eq(thr[1], thr[0], "quiet horizon: %g, now %g", thr[1], thr[0]);
    /* now without a bad run is an error */
    for (int i = 0; i < N; i++)
        label[i] = 0;
    thr[0] = NAN;
    cr_assert_eq(dn_hz_tune_thresholds(score, label, N, 3, NH, 0, 0.02, thr, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "no bad run"), "%s", err.msg);
}

/* A region of 10 bins whose efficiency falls by 0.1% a run from run 300 on
 * (labelled good up to 15% loss, bad after), on a nominal Gaussian with no
 * drift: at the first bad runs the current reference has followed the loss
 * (its chi2 is that of a good run), the reference 200 runs old has not. */
Test(horizon, slow_defect_absorbed_by_now_seen_by_an_older_horizon)
{
    enum { N = 600, NB = 100, START = 300 };
    double *counts = malloc((size_t)N * NB * sizeof *counts);
    int8_t *label = malloc(N);
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = N, p.n_anomalous = 0, p.drift_amplitude = 0, p.p_rapid = 0;
    p.i_min = p.i_max = 20000;
    p.p_binom = 0; /* the right-half systematic would drown a 10-bin defect */
    dn_dataset_t *ds = NULL;
    cr_assert_eq(dn_generate(&p, 11, &ds, NULL), 0);
    int first_bad = -1;
    for (int i = 0; i < N; i++) {
        double loss = i < START ? 0.0 : 0.001 * (i - START + 1);
        for (int j = 0; j < NB; j++) {
            double c = ds->counts[(size_t)i * NB + j];
            counts[(size_t)i * NB + j] = j >= 45 && j < 55 ? floor(c * (1.0 - loss)) : c;
        }
        label[i] = loss > 0.15;
        if (label[i] && first_bad < 0)
            first_bad = i;
    }
    dn_hz_spec_t sp = spec_of("200", 4);
    dn_hz_t *hz = dn_hz_new(&sp, NB, 0.9);
    double *chi2 = malloc(2 * N * sizeof *chi2);
    cr_assert_eq(dn_hz_run(hz, counts, NULL, NULL, label, N, chi2, NULL, NULL, NULL, NULL), 0);
    /* good runs before the defect: the typical chi2 of each horizon */
    double now_good = 0, old_good = 0;
    for (int i = 250; i < START; i++)
        now_good += chi2[i] / 50, old_good += chi2[N + i] / 50;
    double now_bad = 0, old_bad = 0;
    for (int i = first_bad; i < first_bad + 10; i++)
        now_bad += chi2[i] / 10, old_bad += chi2[N + i] / 10;
    cr_assert(now_bad < 2.0 * now_good, "now: %g at the first bad runs vs %g good: not absorbed?",
              now_bad, now_good);
    cr_assert(old_bad > 3.0 * old_good, "200r: %g at the first bad runs vs %g good: not seen",
              old_bad, old_good);
    free(counts), free(label), free(chi2);
    dn_hz_destroy(&hz);
    dn_dataset_destroy(&ds);
}

/* A step of the mean by one sigma at run 300, every run labelled good (a
 * change a shifter accepted): with the acceptance level the snapshots follow
 * it and the 100-run horizon is near its pre-step chi2 while it still scores
 * with a snapshot from before the step; without, it is many times over for
 * the next 100 runs. A slow drift below the level (test above) is not followed. */
Test(horizon, snapshots_follow_an_accepted_step_change)
{
    enum { N = 450, NB = 100, STEP = 300 };
    dn_gen_params_t p;
    dn_gen_params_default(&p);
    p.n_runs = N, p.n_anomalous = 0, p.drift_amplitude = 0, p.p_rapid = 0, p.p_binom = 0;
    dn_dataset_t *a = NULL, *b = NULL;
    cr_assert_eq(dn_generate(&p, 21, &a, NULL), 0);
    p.mu_base = 1.0;
    cr_assert_eq(dn_generate(&p, 22, &b, NULL), 0);
    double *counts = malloc((size_t)N * NB * sizeof *counts);
    for (int i = 0; i < N; i++)
        memcpy(counts + (size_t)i * NB, (i < STEP ? a : b)->counts + (size_t)i * NB,
               NB * sizeof *counts);
    dn_hz_spec_t sp = spec_of("100", 4);
    double mean[2][2];
    uint64_t accepted[2];
    for (int follow = 0; follow < 2; follow++) {
        dn_hz_t *hz = dn_hz_new(&sp, NB, 0.5);
        double *chi2 = malloc(2 * N * sizeof *chi2);
        if (follow) {
            /* the level from the first 200 runs' current-reference scores */
            dn_s_t *s = dn_s_new(NB, 0.5);
            double sc[200];
            cr_assert_eq(dn_s_run(s, counts, NULL, a->label, 200, sc, NULL, NULL, NULL, NULL), 0);
            for (int i = 0; i < 200; i++)
                sc[i] = dn_score_from_chi2(sc[i], NB);
            double level = dn_hz_level_from_history(sc, a->label, 200, DN_HZ_ACCEPT_Q);
            cr_assert(isfinite(level));
            dn_hz_set_accept_level(hz, level);
            dn_s_destroy(&s);
        }
        cr_assert_eq(dn_hz_run(hz, counts, NULL, NULL, a->label, N, chi2, NULL, NULL, NULL,
                               NULL), 0);
        accepted[follow] = dn_hz_accepted(hz);
        mean[follow][0] = mean[follow][1] = 0;
        for (int i = 200; i < STEP; i++)
            mean[follow][0] += chi2[N + i] / (STEP - 200);
        for (int i = STEP + 20; i < STEP + 100; i++) /* snapshots from before the step */
            mean[follow][1] += chi2[N + i] / 80;
        free(chi2);
        dn_hz_destroy(&hz);
    }
    cr_assert_eq(accepted[0], 0);
    cr_assert(accepted[1] >= 1 && accepted[1] <= 12, "%llu accepted changes",
              (unsigned long long)accepted[1]);
    cr_assert(mean[0][1] > 10 * mean[0][0], "without following: %g after vs %g before",
              mean[0][1], mean[0][0]);
    /* mu follows; the snapshot's uncertainty is still the old shape's, so
     * about 2-3 times the pre-step chi2 remains (the closing note says so) */
    cr_assert(mean[1][1] < 4 * mean[1][0] && mean[1][1] < 0.25 * mean[0][1],
              "following: %g after vs %g before (%g without following)", mean[1][1],
              mean[1][0], mean[0][1]);
    free(counts);
    dn_dataset_destroy(&a);
    dn_dataset_destroy(&b);
}

Test(horizon, spec_from_the_names_a_scorer_sends)
{
    dn_hz_spec_t spec, want;
    dn_err_t err = {0};
    cr_assert_eq(dn_hz_spec_parse("500,7d,100,12h", DN_HZ_RESOLUTION, &want, &err), 0, "%s",
                 err.msg);
    const char *names[4];
    char buf[4][DN_HZ_NAME_MAX];
    for (int h = 1; h < want.n; h++)
        names[h - 1] = dn_hz_name(&want, h, buf[h - 1], DN_HZ_NAME_MAX);
    cr_assert_eq(dn_hz_spec_from_names(names, want.n - 1, &spec, &err), 0, "%s", err.msg);
    cr_assert(dn_hz_spec_equal(&spec, &want), "names %s,%s,%s,%s do not give the spec back",
              names[0], names[1], names[2], names[3]);
    cr_assert_eq(dn_hz_spec_from_names(NULL, 0, &spec, &err), 0);
    cr_assert_eq(spec.n, 1, "no names: now alone");
    /* refused by name: not a horizon, out of order, now, empty */
    const char *junk[1] = {"abc"}, *order[2] = {"500r", "100r"}, *now[1] = {"now"}, *empty[1] = {""};
    cr_assert_eq(dn_hz_spec_from_names(junk, 1, &spec, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "abc"), "%s", err.msg);
    cr_assert_eq(dn_hz_spec_from_names(order, 2, &spec, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "order"), "%s", err.msg);
    cr_assert_eq(dn_hz_spec_from_names(now, 1, &spec, &err), DN_EINVAL);
    cr_assert_eq(dn_hz_spec_from_names(empty, 1, &spec, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "missing"), "%s", err.msg);
}
