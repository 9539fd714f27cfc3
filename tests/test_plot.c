/* test_plot.c: the shifter's figures (PLplot, PNG and SVG): each kind is
 * written as a real PNG and SVG with the title in the SVG, bad inputs are
 * refused before PLplot sees them, non-finite points are left out, jobs round
 * trip through their files. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "plot.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/dn_plot_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(plot, .init = setup, .fini = teardown);

static void check_files(const char *base, const char *title)
{
    char path[256];
    char *buf;
    size_t len;
    dn_err_t err = {0};
    snprintf(path, sizeof path, "%s.png", base);
    cr_assert_eq(dn_read_file(path, &buf, &len, &err), 0, "%s", err.msg);
    cr_assert(len > 2000 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8), "%s: not a PNG (%zu bytes)",
              path, len);
    free(buf);
    snprintf(path, sizeof path, "%s.svg", base);
    cr_assert_eq(dn_read_file(path, &buf, &len, &err), 0, "%s", err.msg);
    cr_assert(strstr(buf, "<svg"), "%s: not an SVG", path);
    (void)title; /* cairo draws text as glyph paths: the title is not searchable */
    free(buf);
}

Test(plot, histogram_history_and_distributions)
{
    enum { NB = 50, NR = 300 };
    double edges[NB + 1], data[NB], unc[NB], ref[NB], ref_unc[NB], pulls[NB];
    for (int j = 0; j <= NB; j++)
        edges[j] = -5 + 10.0 * j / NB;
    for (int j = 0; j < NB; j++) {
        double x = 0.5 * (edges[j] + edges[j + 1]);
        ref[j] = 0.2 * exp(-x * x / 2) / 2.5;
        ref_unc[j] = 0.05 * ref[j] + 1e-4;
        data[j] = ref[j] * (j == 20 ? 1.5 : 1.0);
        unc[j] = sqrt(data[j] / 1e4);
        pulls[j] = (data[j] - ref[j]) / sqrt(unc[j] * unc[j] + ref_unc[j] * ref_unc[j]);
    }
    data[3] = NAN; /* left out, not drawn */
    pulls[4] = INFINITY;
    char base[128];
    dn_err_t err = {0};
    snprintf(base, sizeof base, "%s/hist", dir);
    dn_plot_hist_t h = {"run 42: calo/energy", NB, edges, data, unc, ref, ref_unc, pulls};
    cr_assert_eq(dn_plot_histogram(base, &h, &err), 0, "%s", err.msg);
    check_files(base, "calo/energy");
    h.edges = NULL; /* bins numbered */
    cr_assert_eq(dn_plot_histogram(base, &h, &err), 0, "%s", err.msg);

    int64_t run[NR];
    double score[NR];
    int8_t label[NR];
    for (int i = 0; i < NR; i++) {
        run[i] = 1000 + i;
        label[i] = i % 17 == 0 ? 1 : i % 5 == 0 ? -1 : 0;
        score[i] = label[i] == 1 ? 1.5 + 0.01 * i : -1 + 0.002 * i;
    }
    score[7] = NAN;
    snprintf(base, sizeof base, "%s/history", dir);
    cr_assert_eq(dn_plot_history(base, "calo/energy (s)", NR, run, score, label, 0.3, 1.0, 17,
                                 &err),
                 0, "%s", err.msg);
    check_files(base, "calo/energy");
    snprintf(base, sizeof base, "%s/dist", dir);
    cr_assert_eq(dn_plot_distributions(base, "scores per class", NR, score, label, 1.0, &err), 0,
                 "%s", err.msg);
    check_files(base, "scores");
}

Test(plot, bad_inputs_are_refused)
{
    char base[128];
    dn_err_t err = {0};
    snprintf(base, sizeof base, "%s/x", dir);
    double e[3] = {0, 1, 1}, v[2] = {1, 1};
    dn_plot_hist_t h = {"t", 2, e, v, NULL, v, v, v};
    cr_assert_eq(dn_plot_histogram(base, &h, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "edges not increasing"), "%s", err.msg);
    h.n_bins = 0;
    cr_assert_eq(dn_plot_histogram(base, &h, &err), DN_EINVAL);
    double s[2] = {NAN, NAN};
    int8_t l[2] = {0, 1};
    int64_t r[2] = {1, 2};
    cr_assert_eq(dn_plot_history(base, "t", 2, r, s, l, NAN, NAN, -1, &err), DN_EINVAL);
    cr_assert_eq(dn_plot_distributions(base, "t", 2, s, l, 0, &err), DN_EINVAL);
    double e2[3] = {0, 1, 2};
    dn_plot_hist_t ok = {"t", 2, e2, v, NULL, v, v, v};
    snprintf(base, sizeof base, "%s/no/such/dir/x", dir);
    cr_assert_eq(dn_plot_histogram(base, &ok, &err), DN_EIO);
    cr_assert(strstr(err.msg, "no/such/dir/x.png"), "%s", err.msg);
}

/* A job saved to a file and drawn from it gives both figures; a damaged job
 * file is refused (the helper process that draws them: test_figworker). */
Test(plot, jobs_round_trip_through_their_files)
{
    double edges[4] = {0, 1, 2, 3}, v[3] = {0.2, 0.5, 0.3}, u[3] = {0.01, 0.02, 0.01},
           p[3] = {1, -2, 0.5};
    int64_t run[4] = {10, 11, 12, 13};
    double score[4] = {-1, 0.2, 1.5, NAN};
    int8_t label[4] = {0, -1, 1, 0};
    char hb[128], yb[128], job[128];
    snprintf(hb, sizeof hb, "%s/job_hist", dir);
    snprintf(yb, sizeof yb, "%s/job_history", dir);
    snprintf(job, sizeof job, "%s/x.job", dir);
    dn_plot_job_t j = {hb, yb, {"job", 3, edges, v, u, v, u, p}, "job history", 4, 2, run,
                       score, label, 0.5, 1.0};
    dn_err_t err = {0};
    cr_assert_eq(dn_plot_job_save(job, &j, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_plot_job_run_file(job, &err), 0, "%s", err.msg);
    check_files(hb, "job");
    check_files(yb, "job");
    FILE *f = fopen(job, "r+b");
    fseek(f, 20, SEEK_SET);
    fputs("garbage", f);
    fclose(f);
    truncate(job, 40);
    cr_assert_eq(dn_plot_job_run_file(job, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "x.job"), "%s", err.msg);
}
