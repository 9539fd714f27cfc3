/* test_rootwrite.c: ROOT files we write, read back by JSROOT (in node) and by
 * our own reader to the same doubles we wrote: TH1D and TH2D, fixed and
 * variable bins, flow bins, sums of squared weights or none, nested
 * directories with names as DQM writes them, uncompressed and in the four
 * algorithms, in ROOT's small and large (64-bit) layouts; an object larger than one 16 MiB block; cycles; identical
 * bytes for identical input; bad names refused; a failed write leaves no
 * file. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "jsroot.h"
#include "rng.h"
#include "rootfile.h"
#include "rootwrite.h"
#include "rootzip.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];
static void setup(void)
{
    dn_test_tmpdir(dir, "rootwrite");
}
static void teardown(void)
{
    dn_test_rmdir(dir);
}
TestSuite(rootwrite, .init = setup, .fini = teardown);

/* A histogram of the given shape filled with seeded values (some negative,
 * some fractional, as weighted fills give); variances when asked. */
static dn_root_hist_t *make_hist(int dim, const char *name, int nx, int variable, int ny,
                                 int with_var, uint64_t seed)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    double *xe = malloc((size_t)(nx + 1) * sizeof *xe), *ye = malloc((size_t)(ny + 2) * sizeof *ye);
    xe[0] = -3.5;
    for (int i = 1; i <= nx; i++)
        xe[i] = variable ? xe[i - 1] + 0.1 + dn_rng_uniform(&rng) : -3.5 + i * (7.0 / nx);
    for (int i = 0; i <= ny; i++)
        ye[i] = i * i + 0.25 * i;
    dn_root_hist_t *h = dn_root_hist_new(dim, name, "a title {with} @ signs", nx, xe, ny, ye,
                                         with_var);
    cr_assert_not_null(h);
    for (int i = 0; i < h->n_cells; i++) {
        h->values[i] = floor(dn_rng_uniform(&rng) * 1000) / 8 - (i % 7 == 3 ? 20 : 0);
        if (h->variances)
            h->variances[i] = dn_rng_uniform(&rng) * 50;
    }
    h->entries = 12345;
    h->tsumw = 100.5;
    free(xe);
    free(ye);
    return h;
}

typedef struct {
    const char *dir;
    dn_root_hist_t *h;
} placed_t;

static void write_file_as(const char *path, int compression, int large, placed_t *p, int n)
{
    dn_root_write_opts_t o = {.compression = compression, .time = 1700000000, .large = large};
    dn_root_writer_t *w = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_writer_open(path, &o, &w, &err), 0, "%s", err.msg);
    for (int i = 0; i < n; i++)
        cr_assert_eq(dn_root_writer_add(w, p[i].dir, p[i].h, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_writer_close(&w, &err), 0, "%s", err.msg);
    cr_assert_null(w);
}

static void write_file(const char *path, int compression, placed_t *p, int n)
{
    write_file_as(path, compression, 0, p, n);
}

static void same_hist(const dn_root_hist_t *a, const dn_root_hist_t *b, const char *what)
{
    cr_assert_eq(a->dim, b->dim, "%s", what);
    cr_assert_str_eq(a->name, b->name, "%s", what);
    cr_assert_str_eq(a->title, b->title, "%s", what);
    cr_assert_eq(a->n_cells, b->n_cells, "%s", what);
    for (int d = 0; d < a->dim; d++) {
        cr_assert_eq(a->axis[d].n_bins, b->axis[d].n_bins, "%s", what);
        for (int i = 0; i <= a->axis[d].n_bins; i++)
            cr_assert(dn_same_double(a->axis[d].edges[i], b->axis[d].edges[i]),
                      "%s: axis %d edge %d: %.17g, read back %.17g", what, d, i,
                      a->axis[d].edges[i], b->axis[d].edges[i]);
    }
    for (int i = 0; i < a->n_cells; i++)
        cr_assert(dn_same_double(a->values[i], b->values[i]), "%s: bin %d: %.17g, read %.17g",
                  what, i, a->values[i], b->values[i]);
    cr_assert_eq(!a->variances, !b->variances, "%s: variances", what);
    for (int i = 0; a->variances && i < a->n_cells; i++)
        cr_assert(dn_same_double(a->variances[i], b->variances[i]), "%s: variance %d", what, i);
    cr_assert(dn_same_double(a->entries, b->entries), "%s: entries", what);
}

/* Our reader and JSROOT both read p[n] back from path. */
static void both_read_back(const char *path, placed_t *p, int n)
{
    dn_root_file_t *f = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_file_open(path, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_file_n_keys(f), n);
    cr_assert_eq(dn_root_file_n_problems(f), 0);
    int n_lines;
    const char *files[1] = {path};
    dn_json_t **lines = dn_jsroot_dump(files, 1, &n_lines);
    cr_assert_eq(n_lines, n, "JSROOT lists %d keys, we wrote %d", n_lines, n);
    for (int i = 0; i < n; i++) {
        char key[512];
        snprintf(key, sizeof key, "%s%s%s", p[i].dir, p[i].dir[0] ? "/" : "", p[i].h->name);
        int k = dn_root_file_find(f, key);
        cr_assert_geq(k, 0, "%s: no key %s", path, key);
        dn_root_hist_t *back = NULL;
        cr_assert_eq(dn_root_file_read_hist(f, k, &back, &err), 0, "%s", err.msg);
        same_hist(p[i].h, back, key);
        cr_assert_str_eq(back->class_name, p[i].h->dim == 1 ? "TH1D" : "TH2D");
        dn_root_hist_destroy(&back);
        const dn_json_value_t *line = NULL;
        for (int l = 0; l < n_lines && !line; l++)
            if (!strcmp(dn_json_string(dn_json_get(dn_json_root(lines[l]), "path")), key))
                line = dn_json_root(lines[l]);
        cr_assert_not_null(line, "JSROOT does not list %s", key);
        cr_assert_null(dn_json_get(line, "error"));
        char why[512] = "";
        cr_assert_eq(dn_jsroot_compare(line, p[i].h, why, sizeof why), 0, "%s: %s: %s", path,
                     key, why);
        cr_assert_str_eq(dn_json_string(dn_json_get(line, "title")), p[i].h->title);
    }
    dn_jsroot_free(lines, n_lines);
    dn_root_file_destroy(&f);
}

Test(rootwrite, jsroot_and_our_reader_read_what_we_write_in_every_compression,
     .timeout = 300)
{
    static const int settings[] = {0, 101, 109, 207, 404, 505};
    placed_t p[] = {
        {"", make_hist(1, "fixed", 50, 0, 0, 0, 1)},
        {"", make_hist(1, "variable_weighted", 37, 1, 0, 1, 2)},
        {"DQMData/Run 123/Calo/Run summary", make_hist(1, "energy spectrum", 100, 0, 0, 0, 3)},
        {"DQMData/Run 123/Calo/Run summary/maps",
         make_hist(2, "occupancy{x,y}@layer1", 20, 0, 12, 0, 4)},
        {"DQMData/Run 123/Tracker/Run summary", make_hist(2, "hits", 9, 1, 7, 1, 5)},
    };
    int n = (int)(sizeof p / sizeof *p);
    for (size_t s = 0; s < sizeof settings / sizeof *settings; s++) {
        char path[256];
        snprintf(path, sizeof path, "%s/run_000123_%d.root", dir, settings[s]);
        write_file(path, settings[s], p, n);
        both_read_back(path, p, n);
    }
    /* ROOT's large layout: 64-bit offsets in the header, keys and directories */
    for (int s = 0; s < 2; s++) {
        char path[256];
        snprintf(path, sizeof path, "%s/large_%d.root", dir, s);
        write_file_as(path, s ? 505 : 0, 1, p, n);
        dn_root_file_t *f = NULL;
        dn_err_t err = {0};
        cr_assert_eq(dn_root_file_open(path, &f, &err), 0, "%s", err.msg);
        cr_assert_geq(dn_root_file_version(f), 1000000, "not the large layout");
        cr_assert_gt(dn_root_file_key(f, 0)->keylen, 0);
        dn_root_file_destroy(&f);
        both_read_back(path, p, n);
    }
    for (int i = 0; i < n; i++)
        dn_root_hist_destroy(&p[i].h);
}

Test(rootwrite, an_object_larger_than_one_block_spans_several, .timeout = 300)
{
    /* 1.2 million bins: 9.6 MB of values and 9.6 MB of variances, two 16 MiB
     * blocks, in each algorithm; JSROOT reads the zlib one. */
    placed_t p[] = {{"big", make_hist(1, "wide", 1200000, 0, 0, 1, 9)}};
    static const int settings[] = {101, 201, 401, 501};
    for (int s = 0; s < 4; s++) {
        char path[256];
        snprintf(path, sizeof path, "%s/big_%d.root", dir, settings[s]);
        write_file(path, settings[s], p, 1);
        dn_root_file_t *f = NULL;
        dn_err_t err = {0};
        cr_assert_eq(dn_root_file_open(path, &f, &err), 0, "%s", err.msg);
        const dn_root_key_t *k = dn_root_file_key(f, 0);
        cr_assert_gt(k->objlen, (int64_t)DN_ROOTZIP_BLOCK_MAX, "one block only");
        cr_assert_lt(k->nbytes - k->keylen, k->objlen, "%d: not compressed", settings[s]);
        dn_root_hist_t *back = NULL;
        cr_assert_eq(dn_root_file_read_hist(f, 0, &back, &err), 0, "%s", err.msg);
        same_hist(p[0].h, back, path);
        dn_root_hist_destroy(&back);
        dn_root_file_destroy(&f);
        if (settings[s] == 101)
            both_read_back(path, p, 1);
    }
    dn_root_hist_destroy(&p[0].h);
}

Test(rootwrite, a_name_written_twice_gets_the_next_cycle_and_it_wins)
{
    char path[256];
    snprintf(path, sizeof path, "%s/cycles.root", dir);
    placed_t p[] = {{"d", make_hist(1, "h", 5, 0, 0, 0, 1)}, {"d", make_hist(1, "h", 5, 0, 0, 0, 2)}};
    write_file(path, 101, p, 2);
    dn_root_file_t *f = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_file_open(path, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_file_n_keys(f), 1);
    cr_assert_eq(dn_root_file_key(f, 0)->cycle, 2);
    dn_root_hist_t *back = NULL;
    cr_assert_eq(dn_root_file_read_hist(f, 0, &back, &err), 0, "%s", err.msg);
    same_hist(p[1].h, back, "cycle 2");
    dn_root_hist_destroy(&back);
    dn_root_file_destroy(&f);
    both_read_back(path, &p[1], 1);
    dn_root_hist_destroy(&p[0].h);
    dn_root_hist_destroy(&p[1].h);
}

Test(rootwrite, the_same_histograms_give_the_same_bytes)
{
    char a[320], b[320], da_dir[128], db_dir[128];
    snprintf(da_dir, sizeof da_dir, "%s/x", dir);
    snprintf(db_dir, sizeof db_dir, "%s/y", dir);
    snprintf(a, sizeof a, "%s/same.root", da_dir);
    snprintf(b, sizeof b, "%s/same.root", db_dir);
    dn_err_t err = {0};
    cr_assert_eq(dn_mkdirs(da_dir, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_mkdirs(db_dir, &err), 0, "%s", err.msg);
    placed_t p[] = {{"a/b", make_hist(2, "m", 8, 1, 8, 1, 7)}, {"", make_hist(1, "h", 9, 0, 0, 0, 8)}};
    write_file(a, 505, p, 2);
    write_file(b, 505, p, 2);
    char *da, *db;
    size_t la, lb;
    cr_assert_eq(dn_read_file(a, &da, &la, &err), 0);
    cr_assert_eq(dn_read_file(b, &db, &lb, &err), 0);
    cr_assert_eq(la, lb);
    cr_assert_eq(memcmp(da, db, la), 0, "two writings of the same input differ");
    free(da);
    free(db);
    dn_root_hist_destroy(&p[0].h);
    dn_root_hist_destroy(&p[1].h);
}

Test(rootwrite, bad_names_and_settings_are_refused_by_name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/bad.root", dir);
    dn_root_writer_t *w = NULL;
    dn_err_t err = {0};
    dn_root_write_opts_t o = {.compression = 307};
    cr_assert_eq(dn_root_writer_open(path, &o, &w, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "compression setting 307"), "%s", err.msg);
    cr_assert_eq(dn_root_writer_open(path, NULL, &w, &err), 0, "%s", err.msg);
    dn_root_hist_t *h = make_hist(1, "a/b", 4, 0, 0, 0, 1);
    cr_assert_eq(dn_root_writer_add(w, "", h, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "\"a/b\""), "%s", err.msg);
    free(h->name);
    h->name = strdup("h;2");
    cr_assert_eq(dn_root_writer_add(w, "", h, &err), DN_EINVAL);
    free(h->name);
    h->name = strdup("h");
    cr_assert_eq(dn_root_writer_add(w, "a//b", h, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "directory \"a//b\""), "%s", err.msg);
    cr_assert_eq(dn_root_writer_add(w, "d", h, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_writer_add(w, "d/h", h, &err), DN_EINVAL, "a histogram as directory");
    cr_assert(strstr(err.msg, "is a histogram, not a directory"), "%s", err.msg);
    cr_assert_eq(dn_root_writer_add(w, "", h, &err), 0, "%s", err.msg);
    free(h->name);
    h->name = strdup("d");
    cr_assert_eq(dn_root_writer_add(w, "", h, &err), DN_EINVAL, "a directory as histogram");
    cr_assert(strstr(err.msg, "is a directory"), "%s", err.msg);
    dn_root_writer_abort(&w);
    cr_assert_null(w);
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "an aborted writer left a file");
    dn_root_hist_destroy(&h);
}

Test(rootwrite, a_failed_write_leaves_no_file)
{
    char path[256];
    snprintf(path, sizeof path, "%s/no/such/dir/x.root", dir);
    dn_root_writer_t *w = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_root_writer_open(path, NULL, &w, &err), 0);
    dn_root_hist_t *h = make_hist(1, "h", 4, 0, 0, 0, 1);
    cr_assert_eq(dn_root_writer_add(w, "", h, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_root_writer_close(&w, &err), DN_EIO);
    cr_assert(strstr(err.msg, "no/such/dir"), "%s", err.msg);
    cr_assert_null(w);
    dn_root_hist_destroy(&h);
}
