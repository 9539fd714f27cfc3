/* test_figset.c: a flagged run's figure set (figset.h) made from the run's
 * raw counts and the reference that scored it: drawn at once (dinamo report)
 * it gives the histogram and history figures as PNG and SVG; saved as a job
 * and drawn from the file (the evaluator's figure worker) it gives the same
 * PNG bytes; a set without history draws the histogram only; a run without
 * entries and missing arrays are refused with a message, nothing drawn. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "figset.h"
#include "fileio.h"
#include "plot.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void) { dn_test_tmpdir(dir, "figset"); }
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(figset, .init = setup, .fini = teardown);

enum { NB = 40, NR = 120 };

typedef struct sample_t {
    double edges[NB + 1], counts[NB], ref_mu[NB], ref_sigma[NB], score[NR];
    int64_t run[NR];
    int8_t label[NR];
    char hb[128], yb[128];
} sample_t;

/* A Gaussian run with a hot bin against a Gaussian reference, and a history
 * in which the run is the last and worst. */
static void make_sample(sample_t *s, const char *name)
{
    double sum = 0;
    for (int j = 0; j <= NB; j++)
        s->edges[j] = -4 + 8.0 * j / NB;
    for (int j = 0; j < NB; j++) {
        double x = 0.5 * (s->edges[j] + s->edges[j + 1]);
        s->counts[j] = floor(5000 * exp(-x * x / 2)) + (j == 25 ? 900 : 0);
        s->ref_mu[j] = exp(-x * x / 2);
        sum += s->ref_mu[j];
    }
    for (int j = 0; j < NB; j++) {
        s->ref_mu[j] /= sum;
        s->ref_sigma[j] = 0.03 * s->ref_mu[j] + 1e-5;
    }
    for (int i = 0; i < NR; i++) {
        s->run[i] = 5000 + i;
        s->label[i] = i % 13 == 0 ? 1 : i % 7 == 0 ? -1 : 0;
        s->score[i] = s->label[i] == 1 ? 1.2 : -0.5 + 0.001 * i;
    }
    s->score[NR - 1] = 2.5;
    snprintf(s->hb, sizeof s->hb, "%s/%s", dir, name);
    snprintf(s->yb, sizeof s->yb, "%s/%s_history", dir, name);
}

static dn_figset_t set_of(const sample_t *s)
{
    dn_figset_t set = {s->hb, s->yb, "run 5119: calo/e (s), score 2.50, threshold 1.00",
                       "calo/e (s): run 5119 in its history", NB, s->edges, s->counts, NULL,
                       s->ref_mu, s->ref_sigma, NULL, NR, s->run, s->score, s->label, NR - 1,
                       1.0 - log(2.0), 1.0, 0, NULL};
    return set;
}

static char *slurp(const char *base, const char *ext, size_t *len)
{
    char path[256], *buf = NULL;
    dn_err_t err = {0};
    snprintf(path, sizeof path, "%s.%s", base, ext);
    cr_assert_eq(dn_read_file(path, &buf, len, &err), 0, "%s", err.msg);
    return buf;
}

static void check_png_svg(const char *base)
{
    size_t len;
    char *png = slurp(base, "png", &len);
    cr_assert(len > 2000 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8), "%s.png: not a PNG", base);
    free(png);
    char *svg = slurp(base, "svg", &len);
    cr_assert(strstr(svg, "<svg") && strstr(svg, "</svg>"), "%s.svg: not a whole SVG", base);
    free(svg);
}

static int exists(const char *base, const char *ext)
{
    char path[256];
    snprintf(path, sizeof path, "%s.%s", base, ext);
    return access(path, F_OK) == 0;
}

Test(figset, drawn_at_once_and_through_a_job_file_alike)
{
    sample_t now, job;
    make_sample(&now, "now");
    make_sample(&job, "job");
    dn_err_t err = {0};
    dn_figset_t a = set_of(&now), b = set_of(&job);
    cr_assert_eq(dn_figset_make(&a, NULL, &err), 0, "%s", err.msg);
    check_png_svg(now.hb);
    check_png_svg(now.yb);
    char jobfile[160];
    snprintf(jobfile, sizeof jobfile, "%s/.job.job", dir);
    cr_assert_eq(dn_figset_make(&b, jobfile, &err), 0, "%s", err.msg);
    cr_assert(!exists(job.hb, "png") && !exists(job.yb, "png"), "saving a job drew it");
    cr_assert_eq(dn_plot_job_run_file(jobfile, &err), 0, "%s", err.msg);
    check_png_svg(job.hb);
    check_png_svg(job.yb);
    const char *bases[2][2] = {{now.hb, job.hb}, {now.yb, job.yb}};
    for (int k = 0; k < 2; k++) {
        size_t la, lb;
        char *pa = slurp(bases[k][0], "png", &la), *pb = slurp(bases[k][1], "png", &lb);
        cr_assert(la == lb && !memcmp(pa, pb, la), "%s.png and %s.png differ (%zu, %zu bytes)",
                  bases[k][0], bases[k][1], la, lb);
        free(pa);
        free(pb);
    }
}

/* Weighted fills: the variances given are the ones drawn (a different band
 * from Poisson's, so a different figure). */
Test(figset, variances_change_the_figure)
{
    sample_t p, w;
    make_sample(&p, "poisson");
    make_sample(&w, "weighted");
    double var[NB];
    for (int j = 0; j < NB; j++)
        var[j] = 9 * w.counts[j];
    dn_figset_t a = set_of(&p), b = set_of(&w);
    b.variances = var;
    a.n_runs = b.n_runs = 0; /* no history: only the histogram figure */
    dn_err_t err = {0};
    cr_assert_eq(dn_figset_make(&a, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_figset_make(&b, NULL, &err), 0, "%s", err.msg);
    check_png_svg(p.hb);
    cr_assert(!exists(p.yb, "png") && !exists(p.yb, "svg"), "no history asked, one drawn");
    size_t la, lb;
    char *pa = slurp(p.hb, "png", &la), *pb = slurp(w.hb, "png", &lb);
    cr_assert(la != lb || memcmp(pa, pb, la), "the variances were not used");
    free(pa);
    free(pb);
}

Test(figset, nothing_to_draw_is_refused)
{
    sample_t s;
    make_sample(&s, "refused");
    dn_err_t err = {0};
    dn_figset_t set = set_of(&s);
    double zero[NB] = {0};
    set.counts = zero;
    cr_assert_eq(dn_figset_make(&set, NULL, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "no entries") && strstr(err.msg, "refused"), "%s", err.msg);
    set = set_of(&s);
    set.ref_sigma = NULL;
    cr_assert_eq(dn_figset_make(&set, NULL, &err), DN_EINVAL);
    set = set_of(&s);
    set.n_bins = 0;
    cr_assert_eq(dn_figset_make(&set, NULL, &err), DN_EINVAL);
    set = set_of(&s);
    set.label = NULL;
    cr_assert_eq(dn_figset_make(&set, NULL, &err), DN_EINVAL);
    cr_assert(!exists(s.hb, "png") && !exists(s.yb, "png"), "a refused set drew something");
}
