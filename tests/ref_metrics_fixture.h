/* ref_metrics_fixture.h: loads the reference's metric fixtures written by
 * tools/make_ref_metrics_fixtures.py (tests/fixtures/ref_metrics_*.csv) for
 * test_metrics and test_evaluate: the inputs (a small generated dataset with
 * DINAMO-S scores and references, and a hand-made adaptivity case), the
 * reference's numbers by name, and its threshold scan. Test-only, header-only
 * (each test binary is one translation unit). */
#ifndef REF_METRICS_FIXTURE_H
#define REF_METRICS_FIXTURE_H

#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_MAX_RUNS 400
#define FX_MAX_BINS 16
#define FX_MAX_VALUES 400
#define FX_MAX_SCAN 400

typedef struct ref_case_t {
    int n;
    int8_t label[FX_MAX_RUNS];
    uint8_t change[FX_MAX_RUNS];
    double score[FX_MAX_RUNS], mu[FX_MAX_RUNS], sigma[FX_MAX_RUNS], chi2[FX_MAX_RUNS];
    double x[FX_MAX_RUNS * FX_MAX_BINS], ref[FX_MAX_RUNS * FX_MAX_BINS],
        unc[FX_MAX_RUNS * FX_MAX_BINS], counts[FX_MAX_RUNS * FX_MAX_BINS];
} ref_case_t;

/* One grid point of the reference's scan: t, the 2.5/50/97.5 % quantiles of
 * sens, spec, wba (q[3 a + j]) and each curve's spread over resamples. */
typedef struct scan_row_t {
    char tag[8];
    int k;
    double t, q[9], sd[3];
} scan_row_t;

typedef struct ref_fx_t {
    ref_case_t ds, hand;
    int n_bins;
    double centres[FX_MAX_BINS];
    int n_values;
    struct { char key[80]; int index; double value; } v[FX_MAX_VALUES];
    int n_scan;
    scan_row_t scan[FX_MAX_SCAN];
} ref_fx_t;

static FILE *open_ref_fixture(const char *name)
{
    const char *prefixes[] = {"tests/fixtures/", "../tests/fixtures/", "fixtures/"};
    char path[512];
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s%s", prefixes[k], name);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    cr_assert_fail("tests/fixtures/%s not found (run from the repo root)", name);
    return NULL;
}

/* Splits line at commas into at most max fields; returns the count. */
static int split(char *line, char **field, int max)
{
    int c = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, ",\n", &save); tok && c < max;
         tok = strtok_r(NULL, ",\n", &save))
        field[c++] = tok;
    return c;
}

static ref_fx_t *load_ref_fixture(void)
{
    ref_fx_t *fx = calloc(1, sizeof *fx);
    cr_assert_not_null(fx);
    static char line[65536];
    char *f[80];
    FILE *in = open_ref_fixture("ref_metrics_inputs.csv");
    cr_assert_not_null(fgets(line, sizeof line, in));
    while (fgets(line, sizeof line, in)) {
        int c = split(line, f, 80);
        if (!strcmp(f[0], "centres")) {
            fx->n_bins = c - 1;
            cr_assert_leq(fx->n_bins, FX_MAX_BINS);
            for (int j = 0; j < fx->n_bins; j++)
                fx->centres[j] = strtod(f[1 + j], NULL);
            continue;
        }
        ref_case_t *rc = !strcmp(f[0], "ds") ? &fx->ds : &fx->hand;
        int i = rc->n++;
        cr_assert_lt(i, FX_MAX_RUNS);
        cr_assert_eq(atoi(f[1]), i, "run %s out of order", f[1]);
        rc->label[i] = (int8_t)atoi(f[2]);
        rc->score[i] = strtod(f[3], NULL);
        rc->change[i] = (uint8_t)atoi(f[4]);
        rc->mu[i] = strtod(f[5], NULL);
        rc->sigma[i] = strtod(f[6], NULL);
        rc->chi2[i] = strtod(f[7], NULL);
        int nb = (c - 8) / 4;
        cr_assert(nb <= FX_MAX_BINS && (c - 8) % 4 == 0, "row %d has %d fields", i, c);
        for (int j = 0; j < nb; j++) {
            rc->x[i * nb + j] = strtod(f[8 + j], NULL);
            rc->ref[i * nb + j] = strtod(f[8 + nb + j], NULL);
            rc->unc[i * nb + j] = strtod(f[8 + 2 * nb + j], NULL);
            rc->counts[i * nb + j] = strtod(f[8 + 3 * nb + j], NULL);
        }
    }
    fclose(in);
    in = open_ref_fixture("ref_metrics_values.csv");
    cr_assert_not_null(fgets(line, sizeof line, in));
    while (fgets(line, sizeof line, in)) {
        cr_assert_eq(split(line, f, 80), 4);
        cr_assert_lt(fx->n_values, FX_MAX_VALUES);
        snprintf(fx->v[fx->n_values].key, sizeof fx->v[0].key, "%s.%s", f[0], f[1]);
        fx->v[fx->n_values].index = atoi(f[2]);
        fx->v[fx->n_values].value = strtod(f[3], NULL);
        fx->n_values++;
    }
    fclose(in);
    in = open_ref_fixture("ref_metrics_scan.csv");
    cr_assert_not_null(fgets(line, sizeof line, in));
    while (fgets(line, sizeof line, in)) {
        cr_assert_eq(split(line, f, 80), 15);
        cr_assert_lt(fx->n_scan, FX_MAX_SCAN);
        scan_row_t *s = &fx->scan[fx->n_scan++];
        snprintf(s->tag, sizeof s->tag, "%s", f[0]);
        s->k = atoi(f[1]);
        s->t = strtod(f[2], NULL);
        for (int q = 0; q < 9; q++)
            s->q[q] = strtod(f[3 + q], NULL);
        for (int q = 0; q < 3; q++)
            s->sd[q] = strtod(f[12 + q], NULL);
    }
    fclose(in);
    cr_assert_eq(fx->ds.n, 300, "dataset runs %d", fx->ds.n);
    cr_assert_eq(fx->hand.n, 40, "hand-made runs %d", fx->hand.n);
    cr_assert_eq(fx->n_bins, 16);
    return fx;
}

static double ref_value_at(const ref_fx_t *fx, const char *key, int index)
{
    for (int k = 0; k < fx->n_values; k++)
        if (!strcmp(fx->v[k].key, key) && fx->v[k].index == index)
            return fx->v[k].value;
    cr_assert_fail("fixture value %s[%d] missing", key, index);
    return NAN;
}

static double ref_value(const ref_fx_t *fx, const char *key)
{
    return ref_value_at(fx, key, 0);
}

#endif
