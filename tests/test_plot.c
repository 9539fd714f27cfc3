/* test_plot.c: the shifter's figures (PLplot, PNG and SVG): each kind is
 * written as a real PNG and SVG with the title in the SVG, bad inputs are
 * refused before PLplot sees them, non-finite points are left out, jobs round
 * trip through their files; the PNG decodes to the page size with the
 * markers where the points are, and no temporary file is left behind. */
#include <cairo.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "plot.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];

static void setup(void)
{
    dn_test_tmpdir(dir, "plot");
}

static void teardown(void) { dn_test_rmdir(dir); }

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
    cr_assert(strstr(buf, "<svg") && strstr(buf, "</svg>"), "%s: not a whole SVG", path);
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
    dn_plot_hist_t h = {"run 42: calo/energy", NB, edges, data, unc, ref, ref_unc, pulls, 0, NULL};
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
    dn_plot_hist_t h = {"t", 2, e, v, NULL, v, v, v, 0, NULL};
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
    dn_plot_hist_t ok = {"t", 2, e2, v, NULL, v, v, v, 0, NULL};
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
    dn_plot_job_t j = {hb, yb, {"job", 3, edges, v, u, v, u, p, 0, NULL}, "job history", 4, 2, run,
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

/* Pixels of the image within 60 per channel of colour rgb (antialiased edges
 * are blended with the white page), in the rectangle [x0, x1) x [y0, y1). */
static int count_colour(cairo_surface_t *img, uint32_t rgb, int x0, int x1, int y0, int y1)
{
    const unsigned char *data = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            uint32_t px = ((const uint32_t *)(const void *)(data + (size_t)y * stride))[x];
            int near = 1;
            for (int shift = 0; shift <= 16; shift += 8)
                near &= abs((int)(px >> shift & 255) - (int)(rgb >> shift & 255)) <= 60;
            n += near;
        }
    return n;
}

/* The markers are drawn onto the figure's cairo context directly (not with
 * PLplot's glyphs): they must land on the points. A history of good runs whose
 * scores step from the bottom of the window to the top in the left half, and
 * one bad run at the right end: the good colour (30, 90, 200) fills a diagonal
 * band in the left half and never the right half; the bad cross (200, 0, 0) is
 * at the right end. The frame spans x 10%..96% and y 12%..84% of the page. */
Test(plot, markers_land_on_their_points)
{
    enum { NR = 201 };
    int64_t run[NR];
    double score[NR];
    int8_t label[NR];
    for (int i = 0; i < NR; i++) {
        run[i] = i;
        label[i] = i < NR / 2 ? 0 : -1;
        score[i] = i < NR / 2 ? (double)i / (NR / 2) : NAN;
    }
    label[NR - 1] = 1;
    score[NR - 1] = 0.5;
    char base[128], path[160];
    dn_err_t err = {0};
    snprintf(base, sizeof base, "%s/markers", dir);
    cr_assert_eq(dn_plot_history(base, "markers", NR, run, score, label, NAN, NAN, -1, &err), 0,
                 "%s", err.msg);
    snprintf(path, sizeof path, "%s.png", base);
    cairo_surface_t *png = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(png), CAIRO_STATUS_SUCCESS, "%s: %s", path,
                 cairo_status_to_string(cairo_surface_status(png)));
    const int w = cairo_image_surface_get_width(png), h = cairo_image_surface_get_height(png);
    cr_assert(w == 1000 && h == 500, "history page %dx%d, want 1000x500", w, h);
    const uint32_t good = 30u << 16 | 90u << 8 | 200u, bad = 200u << 16;
    const int fx0 = 100, fx1 = 960, fy0 = 80, fy1 = 440; /* the frame in pixels */
    const int mid = (fx0 + fx1) / 2;
    int left = count_colour(png, good, fx0, mid, fy0, fy1);
    int right = count_colour(png, good, mid + 10, fx1, fy0, fy1);
    /* the band rises: lower-left and upper-left quarters of the left half */
    int low_left = count_colour(png, good, fx0, (fx0 + mid) / 2, (fy0 + fy1) / 2, fy1);
    int up_left = count_colour(png, good, fx0, (fx0 + mid) / 2, fy0, (fy0 + fy1) / 2);
    int cross = count_colour(png, bad, fx1 - 15, fx1, (fy0 + fy1) / 2 - 10, (fy0 + fy1) / 2 + 10);
    cairo_surface_destroy(png);
    cr_assert(left > 1000 && right == 0, "good markers: %d pixels in the left half, %d in the "
              "right half (want > 1000 and 0)", left, right);
    cr_assert(low_left > 5 * up_left, "good markers in the first quarter: %d low, %d high: "
              "the band does not start at the bottom", low_left, up_left);
    cr_assert(cross > 3, "bad run's cross: %d pixels at the right end, mid height", cross);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d));)
        cr_assert(!strstr(e->d_name, ".tmp"), "temporary file left behind: %s", e->d_name);
    closedir(d);
}

/* The colour of the pixel at (x, y) as 0xRRGGBB. */
static uint32_t pixel(cairo_surface_t *img, int x, int y)
{
    const unsigned char *data = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    return ((const uint32_t *)(const void *)(data + (size_t)y * stride))[x] & 0xffffffu;
}

/* A 2-D histogram is drawn as three maps (run, reference, pulls): the pull
 * map is white where the pull is 0, red where it is large and positive, blue
 * where it is large and negative, each cell over its bin's edges (variable in
 * x here). The pull panel spans x 73.2%..91.5% and y 13%..84% of the 1500x520
 * page; cell (ix, iy) is looked up at its centre. A job carries the y axis
 * through its file. */
Test(plot, histogram_2d_maps)
{
    enum { NX = 10, NY = 8, NB = NX * NY };
    double ex[NX + 1], ey[NY + 1], data[NB], unc[NB], ref[NB], ref_unc[NB], pulls[NB];
    for (int i = 0; i <= NX; i++)
        ex[i] = i < 6 ? i : 6 + 2.0 * (i - 6); /* 0..5 by 1, then by 2: 0..14 */
    for (int j = 0; j <= NY; j++)
        ey[j] = -2 + 0.5 * j;
    for (int i = 0; i < NX; i++)
        for (int j = 0; j < NY; j++) {
            int b = i * NY + j;
            ref[b] = (1.0 + i + j) / (NB * 10.0);
            ref_unc[b] = 0.01 * ref[b];
            data[b] = ref[b];
            unc[b] = 0.02 * ref[b];
            pulls[b] = 0;
        }
    pulls[7 * NY + 2] = 12;  /* red */
    pulls[2 * NY + 5] = -12; /* blue */
    data[0] = NAN;           /* left out */
    char base[128], path[160];
    dn_err_t err = {0};
    snprintf(base, sizeof base, "%s/map", dir);
    dn_plot_hist_t h = {"run 7: pixel/occupancy", NB, ex, data, unc, ref, ref_unc, pulls, NY, ey};
    cr_assert_eq(dn_plot_histogram(base, &h, &err), 0, "%s", err.msg);
    check_files(base, "map");
    snprintf(path, sizeof path, "%s.png", base);
    cairo_surface_t *png = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(png), CAIRO_STATUS_SUCCESS, "%s", path);
    const int W = cairo_image_surface_get_width(png), H = cairo_image_surface_get_height(png);
    cr_assert(W == 1500 && H == 520, "map page %dx%d, want 1500x520", W, H);
    const double vx0 = 2.0 / 3 + 0.065, vx1 = 0.915, vy0 = 0.13, vy1 = 0.84;
#define CELL_X(i) (int)(W * (vx0 + (0.5 * (ex[i] + ex[(i) + 1]) - ex[0]) / (ex[NX] - ex[0]) * (vx1 - vx0)))
#define CELL_Y(j) (int)(H * (1 - (vy0 + (0.5 * (ey[j] + ey[(j) + 1]) - ey[0]) / (ey[NY] - ey[0]) * (vy1 - vy0))))
    uint32_t hot = pixel(png, CELL_X(7), CELL_Y(2)), cold = pixel(png, CELL_X(2), CELL_Y(5)),
             zero = pixel(png, CELL_X(4), CELL_Y(4));
    cairo_surface_destroy(png);
    int hr = hot >> 16, hb = hot & 255, cr_ = cold >> 16, cb = cold & 255;
    cr_assert(hr > 150 && hb < 80, "cell (7,2), pull +12: colour %06x, want red", hot);
    cr_assert(cb > 130 && cr_ < 80, "cell (2,5), pull -12: colour %06x, want blue", cold);
    cr_assert((zero >> 16) > 240 && (zero >> 8 & 255) > 240 && (zero & 255) > 240,
              "cell (4,4), pull 0: colour %06x, want white", zero);
    /* refused: a y count that does not divide the bins, one axis' edges only */
    dn_plot_hist_t odd = h;
    odd.n_bins_y = 7;
    cr_assert_eq(dn_plot_histogram(base, &odd, &err), DN_EINVAL);
    odd = h;
    odd.edges_y = NULL;
    cr_assert_eq(dn_plot_histogram(base, &odd, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "one axis"), "%s", err.msg);
    /* through a job file */
    char hb2[128], yb[128], job[128];
    snprintf(hb2, sizeof hb2, "%s/job_map", dir);
    snprintf(yb, sizeof yb, "%s/job_map_history", dir);
    snprintf(job, sizeof job, "%s/map.job", dir);
    int64_t run[2] = {6, 7};
    double score[2] = {0.1, 2.0};
    int8_t label[2] = {0, 1};
    dn_plot_job_t j = {hb2, yb, h, "history", 2, 1, run, score, label, 0.5, 1.0};
    cr_assert_eq(dn_plot_job_save(job, &j, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_plot_job_run_file(job, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s.png", hb2);
    png = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(png), CAIRO_STATUS_SUCCESS, "%s", path);
    cr_assert(cairo_image_surface_get_width(png) == 1500, "the job drew no map: %d px wide",
              cairo_image_surface_get_width(png));
    hot = pixel(png, CELL_X(7), CELL_Y(2));
    cairo_surface_destroy(png);
    cr_assert(hot >> 16 > 150 && (hot & 255) < 80, "job: cell (7,2): colour %06x, want red", hot);
#undef CELL_X
#undef CELL_Y
}
