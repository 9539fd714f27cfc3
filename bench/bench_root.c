/* bench_root.c: reading ROOT files (rootfile.h, roothist.h) against JSROOT.
 *
 * Two files written by our writer (rootwrite.h, zlib level 1) in a scratch
 * directory: 1,000 TH1D of 100 bins, and 100 TH2D of 100 x 100 bins, filled
 * with Poisson-like counts of a peaked shape (what monitoring histograms
 * hold, so zlib compresses them as it would real ones). A pass opens the
 * file and reads every histogram (payload, decompression, streamers); the
 * median of PASSES passes gives histograms per second and MB per second of
 * file read. The baseline, measured in the same run on the same files:
 * JSROOT in node (tests/js/bench_root.mjs, the same passes, its own median),
 * skipped with a message when node or JSROOT is missing (make jsroot
 * installs it). Both readers' sums of all bins are compared, so the figures
 * are for reading the same numbers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "rng.h"
#include "rootfile.h"
#include "rootwrite.h"

enum { PASSES = 7 };

typedef struct {
    const char *what;
    int dim, count, bins;
} shape_t;

static void write_file(const char *path, const shape_t *s)
{
    double edges[101];
    for (int i = 0; i <= s->bins; i++)
        edges[i] = -5 + 10.0 * i / s->bins;
    dn_root_write_opts_t o = {.compression = 101, .time = 1700000000};
    dn_root_writer_t *w = NULL;
    dn_err_t err = {0};
    dn_rng_t rng;
    dn_rng_seed(&rng, 42);
    if (dn_root_writer_open(path, &o, &w, &err)) {
        fprintf(stderr, "bench_root: %s\n", err.msg);
        exit(1);
    }
    for (int k = 0; k < s->count; k++) {
        char name[32];
        snprintf(name, sizeof name, "h%04d", k);
        dn_root_hist_t *h = dn_root_hist_new(s->dim, name, s->what, s->bins, edges, s->bins,
                                             edges, 0);
        int nx = s->bins, ny = s->dim == 2 ? s->bins : 1;
        for (int ix = 1; ix <= nx; ix++)
            for (int iy = 1; iy <= ny; iy++) {
                double x = edges[ix - 1], y = s->dim == 2 ? edges[iy - 1] : 0;
                double mean = 200 * exp(-0.5 * (x * x + y * y) / 4);
                double c = floor(mean + sqrt(mean + 1) * dn_rng_normal(&rng) + 0.5);
                h->values[dn_root_hist_cell(h, ix, s->dim == 2 ? iy : 0)] = c > 0 ? c : 0;
                h->entries += c > 0 ? c : 0;
            }
        if (dn_root_writer_add(w, "", h, &err)) {
            fprintf(stderr, "bench_root: %s\n", err.msg);
            exit(1);
        }
        dn_root_hist_destroy(&h);
    }
    if (dn_root_writer_close(&w, &err)) {
        fprintf(stderr, "bench_root: %s\n", err.msg);
        exit(1);
    }
}

/* One pass: open, read every histogram; returns the seconds, *sum the bins. */
static double read_pass(const char *path, int *n, double *sum)
{
    double t0 = bench_now();
    dn_root_file_t *f = NULL;
    dn_err_t err = {0};
    if (dn_root_file_open(path, &f, &err)) {
        fprintf(stderr, "bench_root: %s\n", err.msg);
        exit(1);
    }
    *n = 0;
    *sum = 0;
    for (int i = 0; i < dn_root_file_n_keys(f); i++) {
        dn_root_hist_t *h = NULL;
        if (dn_root_file_read_hist(f, i, &h, &err)) {
            fprintf(stderr, "bench_root: %s\n", err.msg);
            exit(1);
        }
        for (int c = 0; c < h->n_cells; c++)
            *sum += h->values[c];
        dn_root_hist_destroy(&h);
        (*n)++;
    }
    dn_root_file_destroy(&f);
    return bench_now() - t0;
}

/* JSROOT's median pass on path; 0 when it cannot run (said why). */
static double jsroot_pass(const char *path, int *n, double *sum)
{
    if (system("node --version >/dev/null 2>&1") != 0) {
        printf("  JSROOT: skipped (node is not installed)\n");
        return 0;
    }
    if (access("tests/js/node_modules/jsroot/package.json", R_OK) != 0) {
        printf("  JSROOT: skipped (not installed under tests/js: make jsroot)\n");
        return 0;
    }
    char cmd[1024], line[512] = "";
    snprintf(cmd, sizeof cmd, "node tests/js/bench_root.mjs '%s' %d", path, PASSES);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(line, sizeof line, p)) {
        printf("  JSROOT: failed to run %s\n", cmd);
        if (p)
            pclose(p);
        return 0;
    }
    pclose(p);
    double s = 0;
    if (sscanf(line, "{\"seconds\":%lf,\"histograms\":%d,\"sum\":%lf", &s, n, sum) != 3) {
        printf("  JSROOT: unexpected output %s", line);
        return 0;
    }
    return s;
}

static void bench_one(const char *dir, const shape_t *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.root", dir, s->what);
    write_file(path, s);
    struct stat st;
    stat(path, &st);
    double mb = (double)st.st_size / 1e6, t[PASSES], sum = 0;
    int n = 0;
    for (int r = 0; r < PASSES; r++)
        t[r] = read_pass(path, &n, &sum);
    double ours = bench_median_inplace(t, PASSES);
    printf("%s: %d histograms, %.2f MB file, median of %d passes (open + read all)\n", s->what,
           n, mb, PASSES);
    printf("  dinamo: %8.1f ms  %10.0f histograms/s  %7.1f MB/s\n", 1e3 * ours, n / ours,
           mb / ours);
    int js_n = 0;
    double js_sum = 0, js = jsroot_pass(path, &js_n, &js_sum);
    if (js > 0) {
        printf("  JSROOT: %8.1f ms  %10.0f histograms/s  %7.1f MB/s\n", 1e3 * js, js_n / js,
               mb / js);
        printf("  dinamo / JSROOT speed: %.1fx; same numbers read: %s (sums %.17g, %.17g)\n",
               js / ours, js_n == n && js_sum == sum ? "yes" : "NO", sum, js_sum);
    }
}

int main(void)
{
    char dir[] = "/tmp/dn_bench_root_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("bench_root: mkdtemp");
        return 1;
    }
    static const shape_t shapes[] = {{"th1d_1000x100", 1, 1000, 100},
                                     {"th2d_100x100x100", 2, 100, 100}};
    for (int k = 0; k < 2; k++)
        bench_one(dir, &shapes[k]);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_root: could not remove %s\n", dir);
    return 0;
}
