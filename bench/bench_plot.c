/* bench_plot.c: what a flagged run's figures cost to draw (lib/plot.c).
 *
 * Reports (plain text), per figure written as PNG and SVG, median of 15:
 *   - a 100-bin histogram against its reference with the pull panel
 *     (dn_plot_histogram), and a score history of 1000 and of 5000 runs
 *     (dn_plot_history), with the files' sizes;
 *   - the baseline measured in the same run: the same content drawn the way
 *     dinamo did up to stop 11, through PLplot's own pngcairo and svgcairo
 *     devices, one PLplot pass per file, markers as PLplot symbols (plpoin),
 *     error bars by plerry, pull bars and dashed lines by plline, and the
 *     ratio. Axes and labels are the same calls in both.
 * Figures go to a scratch directory that is removed at the end. */
#include <math.h>
#include <plplot.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "plot.h"

enum { NB = 100, REPS = 15 };

static long size_of(const char *base, const char *ext)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s.%s", base, ext);
    return stat(path, &st) ? -1 : (long)st.st_size;
}

/* ---- the content ------------------------------------------------------------ */

static double data[NB], unc[NB], ref[NB], ref_unc[NB], pulls[NB];
static int64_t *runs;
static double *scores;
static int8_t *labels;

static void make_content(int n)
{
    for (int j = 0; j < NB; j++) {
        double x = (j + 0.5 - 50) / 15.0, p = exp(-0.5 * x * x) / 37.6;
        ref[j] = p;
        ref_unc[j] = 0.03 * p + 1e-5;
        data[j] = p * (1 + 0.08 * sin(0.7 * j));
        unc[j] = sqrt(p / 5000);
        pulls[j] = (data[j] - ref[j]) / sqrt(unc[j] * unc[j] + ref_unc[j] * ref_unc[j]);
    }
    runs = malloc(sizeof *runs * (size_t)n);
    scores = malloc(sizeof *scores * (size_t)n);
    labels = malloc((size_t)n);
    uint64_t s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(s >> 11) / 9007199254740992.0;
        runs[i] = 1000 + i;
        labels[i] = u < 0.1 ? 1 : u < 0.15 ? -1 : 0;
        scores[i] = labels[i] == 1 ? 2 + 3 * u * 10 : -0.5 + u;
    }
}

/* ---- the baseline: PLplot's file devices, PLplot's primitives ------------------- */

static void colours(void)
{
    plscolbg(255, 255, 255);
    plscol0(1, 0, 0, 0);
    plscol0(2, 200, 30, 30);
    plscol0a(3, 240, 140, 140, 0.55);
    plscol0(4, 20, 20, 20);
    plscol0(5, 150, 150, 150);
    plscol0(6, 230, 140, 0);
    plscol0(7, 200, 0, 0);
    plscol0(8, 30, 90, 200);
}

static void base_histogram(void)
{
    PLFLT x[NB], lo[NB], hi[NB], y[NB], px[2 * NB], py[2 * NB], fx[4 * NB], fy[4 * NB];
    double ymax = 0;
    for (int j = 0; j < NB; j++) {
        x[j] = j + 0.5;
        y[j] = data[j];
        lo[j] = data[j] - unc[j];
        hi[j] = data[j] + unc[j];
        ymax = fmax(ymax, fmax(hi[j], ref[j] + ref_unc[j]));
        px[2 * j] = j;
        px[2 * j + 1] = j + 1;
        py[2 * j] = py[2 * j + 1] = ref[j];
        fx[2 * j] = j;
        fx[2 * j + 1] = j + 1;
        fy[2 * j] = fy[2 * j + 1] = ref[j] + ref_unc[j];
        fx[4 * NB - 1 - 2 * j] = j;
        fx[4 * NB - 2 - 2 * j] = j + 1;
        fy[4 * NB - 1 - 2 * j] = fy[4 * NB - 2 - 2 * j] = ref[j] - ref_unc[j];
    }
    plvpor(0.1, 0.96, 0.36, 0.92);
    plwind(0, NB, 0, ymax * 1.1);
    plcol0(3);
    plfill(4 * NB, fx, fy);
    plcol0(2);
    plwidth(2);
    plline(2 * NB, px, py);
    plwidth(1);
    plcol0(4);
    plerry(NB, x, lo, hi);
    plpoin(NB, x, y, 17);
    plcol0(1);
    plbox("bcst", 0, 0, "bcnstv", 0, 0);
    pllab("", "fraction of entries", "run 1234: calo/energy (s), score 3.2, threshold 1.2");
    plvpor(0.1, 0.96, 0.1, 0.33);
    plwind(0, NB, -5, 5);
    plcol0(5);
    for (int s = -1; s <= 1; s++) {
        PLFLT lx[2] = {0, NB}, ly[2] = {3.0 * s, 3.0 * s};
        pllsty(s ? 2 : 1);
        plline(2, lx, ly);
    }
    pllsty(1);
    plwidth(3);
    for (int j = 0; j < NB; j++) {
        PLFLT vx[2] = {x[j], x[j]}, vy[2] = {0, fmax(-5, fmin(5, pulls[j]))};
        plcol0(fabs(pulls[j]) > 3 ? 7 : 4);
        plline(2, vx, vy);
    }
    plwidth(1);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("bin", "pull", "");
}

static int base_n;

static void base_history(void)
{
    int n = base_n;
    PLFLT *px = malloc(sizeof(PLFLT) * 2 * (size_t)n), *py = px + n;
    plvpor(0.1, 0.96, 0.12, 0.84);
    plwind(runs[0], runs[n - 1], -1, 33);
    static const int cls[3] = {-1, 0, 1}, col[3] = {5, 8, 7};
    for (int c = 0; c < 3; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (labels[i] == cls[c]) {
                px[m] = (double)runs[i];
                py[m++] = scores[i];
            }
        plcol0(col[c]);
        if (m)
            plpoin(m, px, py, c == 2 ? 5 : 17);
    }
    PLFLT lx[2] = {runs[0], runs[n - 1]}, ly[2] = {1.2, 1.2};
    plcol0(7);
    plline(2, lx, ly);
    ly[0] = ly[1] = 0.5;
    plcol0(6);
    pllsty(2);
    plline(2, lx, ly);
    pllsty(1);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    plmtex("t", 2.2, 0.5, 0.5, "calo/energy (s): run 1234 in its history");
    pllab("run", "score log(#gx#u2#d/N#db#u)", "");
    free(px);
}

static void base_render(const char *base, int w, int h, void (*draw)(void))
{
    static const char *dev[2] = {"pngcairo", "svgcairo"}, *ext[2] = {"png", "svg"};
    for (int k = 0; k < 2; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s.%s", base, ext[k]);
        PLINT strm;
        plmkstrm(&strm);
        plsdev(dev[k]);
        plsfnam(path);
        plspage(0, 0, w, h, 0, 0);
        colours();
        plinit();
        pladv(0);
        draw();
        plend1();
    }
}

/* ---- measurement ----------------------------------------------------------------- */

static char dir[64];

/* kind 0: histogram; else a history of kind runs. Returns the median ms of
 * dinamo's figure (*base_ms: the baseline's). */
static int measure(int kind, double *ms, double *base_ms, long size[4])
{
    double t[REPS], tb[REPS];
    char ours[128], theirs[128];
    snprintf(ours, sizeof ours, "%s/ours_%d", dir, kind);
    snprintf(theirs, sizeof theirs, "%s/base_%d", dir, kind);
    dn_plot_hist_t h = {"run 1234: calo/energy (s), score 3.2, threshold 1.2", NB, NULL, data,
                        unc, ref, ref_unc, pulls, 0, NULL};
    dn_err_t err = {0};
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        int rc = kind ? dn_plot_history(ours, "calo/energy (s): run 1234 in its history", kind,
                                        runs, scores, labels, 0.5, 1.2, kind / 2, &err)
                      : dn_plot_histogram(ours, &h, &err);
        if (rc) {
            fprintf(stderr, "bench_plot: %s\n", err.msg);
            return 1;
        }
        double t1 = bench_now();
        base_n = kind;
        if (kind)
            base_render(theirs, 1000, 500, base_history);
        else
            base_render(theirs, 900, 700, base_histogram);
        tb[r] = bench_now() - t1;
        t[r] = t1 - t0;
    }
    *ms = 1e3 * bench_median_inplace(t, REPS);
    *base_ms = 1e3 * bench_median_inplace(tb, REPS);
    size[0] = size_of(ours, "png");
    size[1] = size_of(ours, "svg");
    size[2] = size_of(theirs, "png");
    size[3] = size_of(theirs, "svg");
    return 0;
}

int main(void)
{
    strcpy(dir, "/tmp/dn_bench_plot_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_content(5000);
    static const int kinds[3] = {0, 1000, 5000};
    int rc = 0;
    double total = 0, total_base = 0;
    for (int k = 0; k < 3 && !rc; k++) {
        double ms, base_ms;
        long sz[4];
        if ((rc = measure(kinds[k], &ms, &base_ms, sz)))
            break;
        char what[64];
        if (kinds[k])
            snprintf(what, sizeof what, "score history, %d runs", kinds[k]);
        else
            snprintf(what, sizeof what, "histogram, %d bins + pulls", NB);
        printf("%-28s %6.1f ms (PNG %4ld kB, SVG %4ld kB)   PLplot's devices and "
               "primitives %6.1f ms (PNG %4ld kB, SVG %4ld kB): %.2fx\n",
               what, ms, sz[0] / 1000, sz[1] / 1000, base_ms, sz[2] / 1000, sz[3] / 1000,
               base_ms / ms);
        if (k != 1) { /* a flagged run's set: the histogram and a 5000-run history */
            total += ms;
            total_base += base_ms;
        }
    }
    if (!rc)
        printf("a flagged run's figure set (histogram + 5000-run history): %.1f ms, baseline "
               "%.1f ms: %.2fx\n",
               total, total_base, total_base / total);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_plot: cannot remove %s\n", dir);
    return rc;
}
