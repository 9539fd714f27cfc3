/* test_dataset.c: the dataset directory format (write/read round trip bit for
 * bit, every rejected input with its message and code) and the atomic file
 * helpers it is written with (a failed write leaves no temporary file and the
 * old file untouched). Each test works in its own mkdtemp directory. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "fileio.h"
#include "rng.h"

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/dn_dataset_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmpdir(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(dataset, .init = make_tmpdir, .fini = remove_tmpdir);

static char *path_in(const char *sub, const char *name)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    if (name)
        snprintf(p, 512, "%s/%s/%s", tmpdir, sub, name);
    else
        snprintf(p, 512, "%s/%s", tmpdir, sub);
    return p;
}

static void write_text(const char *sub, const char *name, const char *text)
{
    cr_assert_eq(dn_mkdirs(path_in(sub, NULL), NULL), 0);
    FILE *f = fopen(path_in(sub, name), "wb");
    cr_assert_not_null(f, "cannot write %s", path_in(sub, name));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* Number of entries of `dir` (besides . and ..) whose name contains `part`. */
static int count_entries(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, part))
            n++;
    closedir(d);
    return n;
}

#define H4_TEXT "run,label,b0,b1\n"
#define H4 H4_TEXT

static dn_dataset_t *random_dataset(int n_runs, int n_bins, int with_truth, uint64_t seed)
{
    dn_dataset_t *ds = dn_dataset_new(n_runs, n_bins, with_truth);
    cr_assert_not_null(ds);
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    for (int j = 0; j <= n_bins; j++)
        ds->edges[j] = -5.0 + j * 0.1 + (j % 3) * 1e-4; /* not all on a grid */
    ds->edges_known = 1;
    int64_t run = -7;
    for (int i = 0; i < n_runs; i++) {
        run += 1 + (int64_t)(dn_rng_next(&rng) % 1000);
        ds->run[i] = run;
        ds->label[i] = (int8_t)((int)(dn_rng_next(&rng) % 3) - 1);
        for (int j = 0; j < n_bins; j++) {
            uint64_t r = dn_rng_next(&rng);
            double x;
            switch (r % 5) {
            case 0: x = 0; break;
            case 1: x = (double)(r >> 40); break;                   /* integer */
            case 2: x = (double)(r >> 11) * 0x1.0p-53 * 1e6; break; /* weighted */
            case 3: x = (double)(r >> 11) * 0x1.0p-53 * 1e-300; break;
            default: x = (double)(r >> 8); break; /* integer beyond 1e15 */
            }
            ds->counts[(size_t)i * n_bins + j] = x;
        }
        if (with_truth) {
            ds->true_mu[i] = ((double)(dn_rng_next(&rng) >> 11) * 0x1.0p-53 - 0.5) * 3;
            ds->true_sigma[i] = 1 + (double)(dn_rng_next(&rng) >> 11) * 0x1.0p-53;
            ds->rapid_mu[i] = dn_rng_next(&rng) % 7 == 0;
            ds->rapid_sigma[i] = dn_rng_next(&rng) % 7 == 0;
            ds->events[i] = (int32_t)(2000 + dn_rng_next(&rng) % 18000);
            ds->dead_bins[i] = ds->label[i] == 1 ? 1 + (int32_t)(dn_rng_next(&rng) % 19) : 0;
        }
    }
    return ds;
}

#define BITS_EQ(a, b, n) (memcmp((a), (b), (size_t)(n) * sizeof *(a)) == 0)

static void assert_same(const dn_dataset_t *a, const dn_dataset_t *b)
{
    cr_assert_eq(a->n_runs, b->n_runs, "n_runs %d vs %d", a->n_runs, b->n_runs);
    cr_assert_eq(a->n_bins, b->n_bins, "n_bins %d vs %d", a->n_bins, b->n_bins);
    cr_assert(BITS_EQ(a->edges, b->edges, a->n_bins + 1), "edges differ");
    cr_assert_eq(a->edges_known, b->edges_known, "edges_known %d vs %d", a->edges_known,
                 b->edges_known);
    cr_assert(BITS_EQ(a->run, b->run, a->n_runs), "run numbers differ");
    cr_assert(BITS_EQ(a->label, b->label, a->n_runs), "labels differ");
    size_t n = (size_t)a->n_runs * a->n_bins, worst = 0;
    int differ = 0;
    for (size_t k = 0; k < n; k++)
        if (memcmp(&a->counts[k], &b->counts[k], sizeof(double))) {
            differ++;
            worst = k;
        }
    cr_assert_eq(differ, 0, "%d counts differ, e.g. #%zu: %a vs %a", differ, worst,
                 a->counts[worst], b->counts[worst]);
    cr_assert_eq(a->true_mu == NULL, b->true_mu == NULL, "truth presence differs");
    if (a->true_mu) {
        cr_assert(BITS_EQ(a->true_mu, b->true_mu, a->n_runs), "true_mu differs");
        cr_assert(BITS_EQ(a->true_sigma, b->true_sigma, a->n_runs), "true_sigma differs");
        cr_assert(BITS_EQ(a->rapid_mu, b->rapid_mu, a->n_runs), "rapid_mu differs");
        cr_assert(BITS_EQ(a->rapid_sigma, b->rapid_sigma, a->n_runs), "rapid_sigma differs");
        cr_assert_eq(a->rapid_split_known, b->rapid_split_known, "rapid_split_known %d vs %d",
                     a->rapid_split_known, b->rapid_split_known);
        cr_assert(BITS_EQ(a->events, b->events, a->n_runs), "events differ");
        cr_assert(BITS_EQ(a->dead_bins, b->dead_bins, a->n_runs), "dead_bins differ");
    }
    cr_assert_eq(a->slow_kind == NULL, b->slow_kind == NULL, "slow truth presence differs");
    if (a->slow_kind) {
        cr_assert(BITS_EQ(a->slow_kind, b->slow_kind, a->n_runs), "slow_kind differs");
        cr_assert(BITS_EQ(a->slow_size, b->slow_size, a->n_runs), "slow_size differs");
        cr_assert(BITS_EQ(a->slow_bad, b->slow_bad, a->n_runs), "slow_bad differs");
    }
}

static char *slurp(const char *path)
{
    char *buf;
    dn_err_t err = {0};
    cr_assert_eq(dn_read_file(path, &buf, NULL, &err), 0, "%s", err.msg);
    return buf;
}

Test(dataset, round_trip_bit_identical)
{
    dn_dataset_t *ds = random_dataset(60, 9, 1, 11);
    ds->meta_extra = strdup("\"seed\": 42, \"generator\": {\"p_binom\": 0.40000000000000002,"
                            " \"name\": \"syn\\tthetic\", \"list\": [1, true, null]}");
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("a/b/c", NULL), &err), 0, "%s", err.msg);
    dn_dataset_t *back = NULL;
    cr_assert_eq(dn_dataset_read_dir(path_in("a/b/c", NULL), &back, &err), 0, "%s", err.msg);
    assert_same(ds, back);
    cr_assert_str_eq(back->meta_extra, "\"seed\": 42, \"generator\": {\"p_binom\": 0.4, "
                                       "\"name\": \"syn\\tthetic\", \"list\": [1, true, null]}");
    /* what was read writes the same bytes again */
    cr_assert_eq(dn_dataset_write_dir(back, path_in("copy", NULL), &err), 0, "%s", err.msg);
    const char *names[] = {"runs.csv", "truth.csv"};
    for (int k = 0; k < 2; k++) {
        char *x = slurp(path_in("a/b/c", names[k])), *y = slurp(path_in("copy", names[k]));
        cr_assert_str_eq(x, y, "%s differs after a second write", names[k]);
        free(x);
        free(y);
    }
    /* runs.csv alone gives the same counts, no truth and default metadata */
    dn_dataset_t *alone = NULL;
    cr_assert_eq(dn_dataset_read_runs_csv(path_in("copy", "runs.csv"), &alone, &err), 0);
    cr_assert_null(alone->true_mu);
    cr_assert_null(alone->meta_extra);
    cr_assert_eq(alone->edges[3], 3.0);
    cr_assert(BITS_EQ(alone->counts, ds->counts, 60 * 9));
    cr_assert_eq(count_entries(path_in("a/b/c", NULL), ".tmp"), 0);
    dn_dataset_destroy(&alone);
    dn_dataset_destroy(&back);
    dn_dataset_destroy(&ds);
    cr_assert_null(ds);
}

Test(dataset, file_layout)
{
    dn_dataset_t *ds = dn_dataset_new(2, 3, 1);
    ds->run[0] = 5;
    ds->run[1] = 9;
    ds->label[0] = -1;
    ds->label[1] = 1;
    double counts[] = {0, 12, 3.5, 1e20, 0.1, 7};
    memcpy(ds->counts, counts, sizeof counts);
    ds->true_mu[1] = -0.25;
    ds->true_sigma[0] = ds->true_sigma[1] = 1;
    ds->rapid_sigma[1] = 1;
    ds->events[0] = 2000;
    ds->events[1] = 19999;
    ds->dead_bins[1] = 4;
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("d", NULL), &err), 0, "%s", err.msg);
    char *runs = slurp(path_in("d", "runs.csv")), *truth = slurp(path_in("d", "truth.csv")),
         *meta = slurp(path_in("d", "meta.json"));
    cr_assert_str_eq(runs, "run,label,b0,b1,b2\n5,,0,12,3.5\n9,1,1e+20,0.1,7\n");
    cr_assert_str_eq(truth, "run,mu,sigma,rapid_change,rapid_mu,rapid_sigma,events,dead_bins\n"
                            "5,0,1,0,0,0,2000,0\n9,-0.25,1,1,0,1,19999,4\n");
    /* the placeholder edges of dn_dataset_new are not written as bin_edges */
    cr_assert_str_eq(meta, "{\"n_bins\": 3,\n \"n_runs\": 2}\n");
    free(meta);
    ds->edges_known = 1;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("d", NULL), &err), 0, "%s", err.msg);
    meta = slurp(path_in("d", "meta.json"));
    cr_assert_str_eq(meta, "{\"bin_edges\": [0, 1, 2, 3],\n \"n_bins\": 3,\n \"n_runs\": 2}\n");
    free(truth);
    /* truth not known is not written: no split, events unknown in run 5, no
     * dead_bins at all */
    ds->rapid_split_known = 0;
    ds->rapid_mu[1] = 1;
    ds->rapid_sigma[1] = 0;
    ds->events[0] = -1;
    ds->dead_bins[0] = ds->dead_bins[1] = -1;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("d", NULL), &err), 0, "%s", err.msg);
    truth = slurp(path_in("d", "truth.csv"));
    cr_assert_str_eq(truth, "run,mu,sigma,rapid_change,events\n5,0,1,0,\n9,-0.25,1,1,19999\n");
    dn_dataset_t *back = NULL;
    cr_assert_eq(dn_dataset_read_dir(path_in("d", NULL), &back, &err), 0, "%s", err.msg);
    assert_same(ds, back);
    /* rapid_sigma cannot be set when only the OR is known: it would be lost */
    ds->rapid_sigma[1] = 1;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("d", NULL), &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "rapid_split_known"), "%s", err.msg);
    dn_dataset_destroy(&back);
    free(runs);
    free(truth);
    free(meta);
    dn_dataset_destroy(&ds);
}

/* truth.csv: the columns by name, in any order; only run, mu, sigma and
 * rapid_change required, other names ignored; what is not given is marked
 * unknown and not written back. */
Test(dataset, truth_columns_by_name)
{
    dn_err_t err = {0};
    dn_dataset_t *ds = NULL, *back = NULL;
    write_text("t4", "runs.csv", H4_TEXT "1,0,1,1\n2,1,0,3\n");
    write_text("t4", "truth.csv", "run,mu,sigma,rapid_change\n1,0.5,1,0\n2,-0.25,1.5,1\n");
    cr_assert_eq(dn_dataset_read_dir(path_in("t4", NULL), &ds, &err), 0, "%s", err.msg);
    cr_assert_not_null(ds->true_mu);
    cr_assert(ds->true_mu[0] == 0.5 && ds->true_mu[1] == -0.25 && ds->true_sigma[1] == 1.5);
    cr_assert_eq(ds->rapid_split_known, 0);
    cr_assert(ds->rapid_mu[0] == 0 && ds->rapid_mu[1] == 1 && ds->rapid_sigma[0] == 0 &&
              ds->rapid_sigma[1] == 0, "rapid_mu %d %d, rapid_sigma %d %d: the OR is rapid_change",
              ds->rapid_mu[0], ds->rapid_mu[1], ds->rapid_sigma[0], ds->rapid_sigma[1]);
    for (int i = 0; i < 2; i++)
        cr_assert(ds->events[i] == -1 && ds->dead_bins[i] == -1, "run %d: events %d dead %d", i,
                  ds->events[i], ds->dead_bins[i]);
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("t4w", NULL), &err), 0, "%s", err.msg);
    char *truth = slurp(path_in("t4w", "truth.csv"));
    cr_assert_str_eq(truth, "run,mu,sigma,rapid_change\n1,0.5,1,0\n2,-0.25,1.5,1\n",
                     "invented truth written: %s", truth);
    free(truth);
    cr_assert_eq(dn_dataset_read_dir(path_in("t4w", NULL), &back, &err), 0, "%s", err.msg);
    assert_same(ds, back);
    dn_dataset_destroy(&back);
    dn_dataset_destroy(&ds);

    /* any order, unknown columns ignored, an empty events field unknown */
    write_text("tx", "runs.csv", H4_TEXT "1,0,1,1\n2,1,0,3\n");
    write_text("tx", "truth.csv", "note,dead_bins,rapid_sigma,mu,run,events,sigma,rapid_mu,"
               "rapid_change,x\nhello,0,0,0.5,1,,1,0,0,\n,2,1,-0.25,2,1234,1.5,0,1,zz\n");
    cr_assert_eq(dn_dataset_read_dir(path_in("tx", NULL), &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds->rapid_split_known, 1);
    cr_assert(ds->true_mu[0] == 0.5 && ds->true_sigma[0] == 1 && ds->true_mu[1] == -0.25 &&
              ds->true_sigma[1] == 1.5);
    cr_assert(ds->rapid_mu[1] == 0 && ds->rapid_sigma[1] == 1);
    cr_assert(ds->events[0] == -1 && ds->events[1] == 1234, "events %d %d", ds->events[0],
              ds->events[1]);
    cr_assert(ds->dead_bins[0] == 0 && ds->dead_bins[1] == 2);
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("txw", NULL), &err), 0, "%s", err.msg);
    truth = slurp(path_in("txw", "truth.csv"));
    cr_assert_str_eq(truth, "run,mu,sigma,rapid_change,rapid_mu,rapid_sigma,events,dead_bins\n"
                            "1,0.5,1,0,0,0,,0\n2,-0.25,1.5,1,0,1,1234,2\n");
    free(truth);
    cr_assert_eq(dn_dataset_read_dir(path_in("txw", NULL), &back, &err), 0, "%s", err.msg);
    assert_same(ds, back);
    dn_dataset_destroy(&back);
    dn_dataset_destroy(&ds);
}

Test(dataset, empty_dataset_and_defaults)
{
    dn_dataset_t *ds = dn_dataset_new(0, 4, 0);
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("e", NULL), &err), 0, "%s", err.msg);
    dn_dataset_t *back = NULL;
    cr_assert_eq(dn_dataset_read_dir(path_in("e", NULL), &back, &err), 0, "%s", err.msg);
    assert_same(ds, back);
    dn_dataset_destroy(&back);
    dn_dataset_destroy(&ds);
    /* runs.csv only: edges 0..n_bins, no truth, no metadata */
    write_text("f", "runs.csv", "run,label,b0,b1\n3,0,1,2\n4,,0,0\n");
    cr_assert_eq(dn_dataset_read_dir(path_in("f", NULL), &back, &err), 0, "%s", err.msg);
    cr_assert_eq(back->n_runs, 2);
    cr_assert(back->edges[0] == 0 && back->edges[1] == 1 && back->edges[2] == 2);
    cr_assert_null(back->true_mu);
    cr_assert_null(back->meta_extra);
    cr_assert_eq(back->label[1], -1);
    dn_dataset_destroy(&back);
}

Test(dataset, stale_truth_is_removed)
{
    dn_dataset_t *ds = random_dataset(5, 3, 1, 3);
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("s", NULL), &err), 0, "%s", err.msg);
    cr_assert_eq(access(path_in("s", "truth.csv"), F_OK), 0);
    dn_dataset_destroy(&ds);
    ds = random_dataset(4, 3, 0, 4);
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("s", NULL), &err), 0, "%s", err.msg);
    cr_assert_neq(access(path_in("s", "truth.csv"), F_OK), 0, "stale truth.csv left behind");
    dn_dataset_t *back = NULL;
    cr_assert_eq(dn_dataset_read_dir(path_in("s", NULL), &back, &err), 0, "%s", err.msg);
    assert_same(ds, back);
    dn_dataset_destroy(&back);
    dn_dataset_destroy(&ds);
}

Test(dataset, crlf_no_final_newline_and_number_forms)
{
    write_text("c", "runs.csv", "run,label,b0,b1,b2\r\n-3,1,1.5e2,0.25,7\r\n10,0,-0,1E-3,+4");
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_read_dir(path_in("c", NULL), &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds->n_runs, 2);
    cr_assert_eq(ds->run[0], -3);
    cr_assert_eq(ds->run[1], 10);
    double want[] = {150, 0.25, 7, 0, 1e-3, 4};
    for (int k = 0; k < 6; k++)
        cr_assert_eq(ds->counts[k], want[k], "count %d: %g, expected %g", k, ds->counts[k],
                     want[k]);
    dn_dataset_destroy(&ds);
}

Test(dataset, very_long_rows)
{
    enum { NB = 10000, NR = 3 };
    dn_dataset_t *ds = random_dataset(NR, NB, 0, 99);
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("long", NULL), &err), 0, "%s", err.msg);
    dn_dataset_t *back = NULL;
    cr_assert_eq(dn_dataset_read_dir(path_in("long", NULL), &back, &err), 0, "%s", err.msg);
    assert_same(ds, back);
    dn_dataset_destroy(&back);
    dn_dataset_destroy(&ds);
}

typedef struct {
    const char *name;
    const char *runs;  /* NULL: no runs.csv */
    const char *truth; /* NULL: no truth.csv */
    const char *meta;  /* NULL: no meta.json */
    int code;
    const char *msg; /* expected substring; "@" is replaced by the directory */
} bad_case_t;

static void expect_failure(const bad_case_t *bc)
{
    cr_assert_eq(dn_mkdirs(path_in(bc->name, NULL), NULL), 0);
    if (bc->runs)
        write_text(bc->name, "runs.csv", bc->runs);
    if (bc->truth)
        write_text(bc->name, "truth.csv", bc->truth);
    if (bc->meta)
        write_text(bc->name, "meta.json", bc->meta);
    dn_dataset_t *ds = (dn_dataset_t *)&ds; /* must come back NULL */
    dn_err_t err = {0};
    int rc = dn_dataset_read_dir(path_in(bc->name, NULL), &ds, &err);
    char want[1024];
    size_t w = 0;
    for (const char *m = bc->msg; *m && w + 1 < sizeof want; m++) {
        if (*m == '@')
            w += (size_t)snprintf(want + w, sizeof want - w, "%s", path_in(bc->name, NULL));
        else
            want[w++] = *m;
        if (w >= sizeof want)
            w = sizeof want - 1;
    }
    want[w] = '\0';
    cr_expect_eq(rc, bc->code, "case %s: code %d, expected %d (%s)", bc->name, rc, bc->code,
                 err.msg);
    cr_expect_eq(err.code, bc->code, "case %s: err.code %d", bc->name, err.code);
    cr_expect(strstr(err.msg, want) != NULL, "case %s: message '%s' lacks '%s'", bc->name, err.msg,
              want);
    cr_expect_null(ds, "case %s: *out not NULL after failure", bc->name);
}

#define TH "run,mu,sigma,rapid_change,rapid_mu,rapid_sigma,events,dead_bins\n"

Test(dataset, runs_csv_rejections)
{
    static const bad_case_t cases[] = {
        {"missing", NULL, NULL, NULL, DN_EIO, "cannot open @/runs.csv: No such file or directory"},
        {"empty", "", NULL, NULL, DN_EFORMAT, "@/runs.csv: empty file"},
        {"hdr_label", "run,lab,b0\n1,0,2\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:1: header column 2 is \"lab\", expected \"label\""},
        {"hdr_run", "Run,label,b0\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:1: header column 1 is \"Run\", expected \"run\""},
        {"hdr_bins", "run,label,b0,b2\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:1: header column 4 is \"b2\", expected \"b1\""},
        {"hdr_none", "run,label\n", NULL, NULL, DN_EFORMAT, "@/runs.csv:1: header has no bin columns"},
        {"hdr_space", "run,label,b0 \n", NULL, NULL, DN_EFORMAT,
         "header column 3 is \"b0 \", expected \"b0\""},
        {"few", H4 "1,0,3\n", NULL, NULL, DN_EFORMAT, "@/runs.csv:2: 3 columns, expected 4"},
        {"few_run_only", H4 "1,0,1,1\n2\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:3: 1 columns, expected 4"},
        {"many", H4 "1,0,3,4\n2,1,3,4,5\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:3: 5 columns, expected 4"},
        {"trailing_comma", H4 "1,0,3,4,\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:2: 5 columns, expected 4"},
        {"short_last", H4 "1,0,3,4\n2,0,3", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:3: 3 columns, expected 4"},
        {"text", H4 "1,0,abc,4\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:2: column b0: not a number: \"abc\""},
        {"space", H4 "1,0,3, 4\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:2: column b1: not a number: \" 4\""},
        {"hex", H4 "1,0,0x10,4\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:2: column b0: not a number: \"0x10\""},
        {"two_dots", H4 "1,0,1.2.3,4\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:2: column b0: not a number: \"1.2.3\""},
        {"empty_count", H4 "1,0,,4\n", NULL, NULL, DN_EFORMAT, "@/runs.csv:2: column b0: empty count"},
        {"nan", H4 "1,0,1,nan\n", NULL, NULL, DN_ERANGE, "@/runs.csv:2: column b1: count nan is not finite"},
        {"NaN", H4 "1,0,NaN,1\n", NULL, NULL, DN_ERANGE, "column b0: count NaN is not finite"},
        {"inf", H4 "1,0,inf,1\n", NULL, NULL, DN_ERANGE, "column b0: count inf is not finite"},
        {"minus_inf", H4 "1,0,1,-Infinity\n", NULL, NULL, DN_ERANGE,
         "column b1: count -Infinity is not finite"},
        {"overflow", H4 "1,0,1e999,1\n", NULL, NULL, DN_ERANGE, "column b0: count 1e999 is not finite"},
        {"negative", H4 "1,0,2,-3\n", NULL, NULL, DN_ERANGE, "@/runs.csv:2: column b1: negative count -3"},
        {"label2", H4 "1,2,2,3\n", NULL, NULL, DN_ERANGE,
         "@/runs.csv:2: column label: \"2\" is not 0, 1 or empty"},
        {"label_text", H4 "1,good,2,3\n", NULL, NULL, DN_ERANGE,
         "column label: \"good\" is not 0, 1 or empty"},
        {"run_equal", H4 "5,0,1,1\n5,0,1,1\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:3: column run: run 5 after run 5 (run numbers must increase)"},
        {"run_down", H4 "5,0,1,1\n7,0,1,1\n6,0,1,1\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:4: column run: run 6 after run 7"},
        {"run_float", H4 "1.5,0,1,1\n", NULL, NULL, DN_EFORMAT,
         "@/runs.csv:2: column run: not an integer: \"1.5\""},
        {"run_empty", H4 ",0,1,1\n", NULL, NULL, DN_EFORMAT, "column run: not an integer: \"\""},
        {"run_huge", H4 "99999999999999999999,0,1,1\n", NULL, NULL, DN_EFORMAT,
         "column run: not an integer"},
        {"blank_line", H4 "1,0,1,1\n\n2,0,1,1\n", NULL, NULL, DN_EFORMAT, "@/runs.csv:3: empty line"},
        {"blank_end", H4 "1,0,1,1\n\r\n", NULL, NULL, DN_EFORMAT, "@/runs.csv:3: empty line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_failure(&cases[i]);
}

Test(dataset, error_names_file_line_column_value)
{
    /* the example of error.h: line 17, bin 42 */
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "run,label");
    for (int j = 0; j < 50; j++)
        len += (size_t)snprintf(text + len, cap - len, ",b%d", j);
    text[len++] = '\n';
    for (int line = 2; line <= 20; line++) {
        len += (size_t)snprintf(text + len, cap - len, "%d,0", line);
        for (int j = 0; j < 50; j++)
            len += (size_t)snprintf(text + len, cap - len, ",%s",
                                    line == 17 && j == 42 ? "-3" : "10");
        text[len++] = '\n';
    }
    text[len] = '\0';
    write_text("ex", "runs.csv", text);
    free(text);
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_read_runs_csv(path_in("ex", "runs.csv"), &ds, &err), DN_ERANGE);
    char want[600];
    snprintf(want, sizeof want, "%s:17: column b42: negative count -3", path_in("ex", "runs.csv"));
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(ds);
}

Test(dataset, truth_and_meta_rejections)
{
    static const bad_case_t cases[] = {
        {"t_rows", H4 "1,0,1,1\n2,0,1,1\n", TH "1,0,1,0,0,0,10,0\n", NULL, DN_EFORMAT,
         "@/truth.csv has 1 rows but @/runs.csv has 2"},
        {"t_run", H4 "1,0,1,1\n2,0,1,1\n", TH "1,0,1,0,0,0,10,0\n3,0,1,0,0,0,10,0\n", NULL,
         DN_EFORMAT, "@/truth.csv:3: run 3 but @/runs.csv:3 has run 2"},
        {"t_header", H4 "1,0,1,1\n", "run,mu,sigma,rapid,rapid_mu,rapid_sigma,events,dead_bins\n"
         "1,0,1,0,0,0,10,0\n", NULL, DN_EFORMAT,
         "@/truth.csv:1: header has no column rapid_change (required: run, mu, sigma, "
         "rapid_change)"},
        {"t_header_short", H4 "1,0,1,1\n", "run,mu,sigma\n", NULL, DN_EFORMAT,
         "@/truth.csv:1: header has no column rapid_change"},
        {"t_header_no_run", H4 "1,0,1,1\n", "mu,sigma,rapid_change\n0,1,0\n", NULL, DN_EFORMAT,
         "@/truth.csv:1: header has no column run"},
        {"t_header_twice", H4 "1,0,1,1\n", "run,mu,sigma,rapid_change,mu\n1,0,1,0,0\n", NULL,
         DN_EFORMAT, "@/truth.csv:1: column mu appears twice (header columns 2 and 5)"},
        {"t_header_half_split", H4 "1,0,1,1\n", "run,mu,sigma,rapid_change,rapid_sigma\n"
         "1,0,1,0,0\n", NULL, DN_EFORMAT,
         "@/truth.csv:1: header has column rapid_sigma but no rapid_mu (give both or neither)"},
        {"t_header_long", H4 "1,0,1,1\n", "run,mu,sigma,rapid_change,rapid_mu,rapid_sigma,"
         "events,dead_bins,x\n", NULL, DN_EFORMAT,
         "@/truth.csv has 0 rows but @/runs.csv has 1"},
        {"t4_cols", H4 "1,0,1,1\n", "run,mu,sigma,rapid_change\n1,0,1\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: 3 columns, expected 4"},
        {"t4_extra_cols", H4 "1,0,1,1\n", "run,mu,sigma,rapid_change,x\n1,0,1,0\n", NULL,
         DN_EFORMAT, "@/truth.csv:2: 4 columns, expected 5"},
        {"t4_flag", H4 "1,0,1,1\n", "sigma,rapid_change,run,mu\n1,yes,1,0\n", NULL, DN_ERANGE,
         "@/truth.csv:2: column rapid_change: \"yes\" is not 0 or 1"},
        {"t4_run", H4 "1,0,1,1\n", "sigma,rapid_change,run,mu\n1,0,2,0\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: run 2 but @/runs.csv:2 has run 1"},
        {"t_dead_text", H4 "1,0,1,1\n", "run,mu,sigma,rapid_change,dead_bins\n1,0,1,0,x\n", NULL,
         DN_EFORMAT, "@/truth.csv:2: column dead_bins: \"x\" is not a non-negative integer"},
        {"t_cols", H4 "1,0,1,1\n", TH "1,0,1,0,0,0,10\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: 7 columns, expected 8"},
        {"t_flag", H4 "1,0,1,1\n", TH "1,0,1,0,2,0,10,0\n", NULL, DN_ERANGE,
         "@/truth.csv:2: column rapid_mu: \"2\" is not 0 or 1"},
        {"t_change", H4 "1,0,1,1\n", TH "1,0,1,0,0,1,10,0\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: rapid_change 0 disagrees with rapid_mu 0, rapid_sigma 1"},
        {"t_mu", H4 "1,0,1,1\n", TH "1,nan,1,0,0,0,10,0\n", NULL, DN_ERANGE,
         "@/truth.csv:2: column mu: nan is not finite"},
        {"t_sigma", H4 "1,0,1,1\n", TH "1,0,x,0,0,0,10,0\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: column sigma: not a number: \"x\""},
        {"t_events", H4 "1,0,1,1\n", TH "1,0,1,0,0,0,-5,0\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: column events: \"-5\" is not a non-negative integer"},
        {"t_empty", H4 "1,0,1,1\n", "", NULL, DN_EFORMAT, "@/truth.csv: empty file"},
        {"m_syntax", H4 "1,0,1,1\n", NULL, "{\"bin_edges\": [0, 1, 2],\n \"x\": }", DN_EFORMAT,
         "@/meta.json: line 2, column 7: expected a value"},
        {"m_array", H4 "1,0,1,1\n", NULL, "[0, 1, 2]", DN_EFORMAT,
         "@/meta.json: expected an object, found array"},
        {"m_len", H4 "1,0,1,1\n", NULL, "{\"bin_edges\": [0, 1]}", DN_EFORMAT,
         "@/meta.json: bin_edges has 2 values, expected 3 (bins + 1)"},
        {"m_ny", H4 "1,0,1,1\n", NULL, "{\"n_bins_y\": 3}", DN_EFORMAT,
         "@/meta.json: n_bins_y is 3, not a whole number of bins of y dividing the 2 bins of "
         "runs.csv"},
        {"m_ny_text", H4 "1,0,1,1\n", NULL, "{\"n_bins_y\": \"2\"}", DN_EFORMAT,
         "@/meta.json: n_bins_y is string"},
        {"m_2d_half", H4 "1,0,1,1\n", NULL, "{\"n_bins_y\": 2, \"bin_edges\": [0, 1]}", DN_EFORMAT,
         "@/meta.json: a 2-D dataset gives bin_edges and bin_edges_y, or neither"},
        {"m_1d_y", H4 "1,0,1,1\n", NULL, "{\"bin_edges\": [0, 1, 2], \"bin_edges_y\": [0, 1]}",
         DN_EFORMAT, "@/meta.json: bin_edges_y without n_bins_y"},
        {"m_y_len", H4 "1,0,1,1\n", NULL,
         "{\"n_bins_y\": 2, \"bin_edges\": [0, 1], \"bin_edges_y\": [0, 1]}", DN_EFORMAT,
         "@/meta.json: bin_edges_y has 2 values, expected 3 (bins + 1)"},
        {"m_order", H4 "1,0,1,1\n", NULL, "{\"bin_edges\": [0, 1, 1]}", DN_EFORMAT,
         "@/meta.json: bin_edges not strictly increasing: element 2 is 1 after 1"},
        {"m_type", H4 "1,0,1,1\n", NULL, "{\"bin_edges\": [0, \"1\", 2]}", DN_EFORMAT,
         "@/meta.json: key \"bin_edges\": element 1: expected a number, found a string"},
        {"m_nbins", H4 "1,0,1,1\n", NULL, "{\"bin_edges\": [0, 1, 2], \"n_bins\": 3}", DN_EFORMAT,
         "@/meta.json: n_bins is 3 but runs.csv has 2"},
        {"m_nruns", H4 "1,0,1,1\n", NULL, "{\"n_runs\": \"one\"}", DN_EFORMAT,
         "@/meta.json: n_runs is string but runs.csv has 1"},
        {"m_range", H4 "1,0,1,1\n", NULL, "{\"bin_edges\": [0, 1, 1e400]}", DN_ERANGE,
         "@/meta.json: line 1, column 22: number 1e400 out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_failure(&cases[i]);
}

Test(dataset, meta_edges_are_read)
{
    write_text("m", "runs.csv", H4 "1,0,1,1\n");
    write_text("m", "meta.json", "{\"note\": \"x\", \"bin_edges\": [-1.5, 0.1, 2e3], \"n_bins\": 2}");
    dn_dataset_t *ds = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_read_dir(path_in("m", NULL), &ds, &err), 0, "%s", err.msg);
    cr_assert(ds->edges[0] == -1.5 && ds->edges[1] == 0.1 && ds->edges[2] == 2e3, "%g %g %g",
              ds->edges[0], ds->edges[1], ds->edges[2]);
    cr_assert_str_eq(ds->meta_extra, "\"note\": \"x\"");
    dn_dataset_destroy(&ds);
}

/* A 2-D dataset keeps its shape and both axes' edges through its directory:
 * meta.json's n_bins_y, bin_edges (nx + 1) and bin_edges_y (ny + 1). */
Test(dataset, a_2d_dataset_round_trips)
{
    dn_dataset_t *ds = random_dataset(7, 12, 1, 5), *back = NULL;
    cr_assert_eq(dn_dataset_set_2d(ds, 4), 0);
    for (int j = 0; j <= 3; j++)
        ds->edges[j] = -1.25 + 0.5 * j;
    for (int j = 0; j <= 4; j++)
        ds->edges_y[j] = 10.0 * j * j;
    ds->edges_known = 1;
    dn_err_t err = {0};
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("d2", NULL), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_dataset_read_dir(path_in("d2", NULL), &back, &err), 0, "%s", err.msg);
    cr_assert_eq(back->n_bins_y, 4, "n_bins_y %d read back", back->n_bins_y);
    cr_assert(BITS_EQ(back->edges, ds->edges, 4) && BITS_EQ(back->edges_y, ds->edges_y, 5),
              "edges differ: x %g..%g, y %g..%g", back->edges[0], back->edges[3],
              back->edges_y[0], back->edges_y[4]);
    cr_assert(BITS_EQ(back->counts, ds->counts, 7 * 12), "counts differ");
    dn_dataset_destroy(&back);
    /* unknown edges stay unknown; the shape is kept */
    ds->edges_known = 0;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("d2u", NULL), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_dataset_read_dir(path_in("d2u", NULL), &back, &err), 0, "%s", err.msg);
    cr_assert(back->n_bins_y == 4 && !back->edges_known, "ny %d, edges_known %d",
              back->n_bins_y, back->edges_known);
    dn_dataset_destroy(&back);
    dn_dataset_destroy(&ds);
}

Test(dataset, write_validates_first)
{
    dn_err_t err = {0};
    dn_dataset_t *ds = random_dataset(4, 3, 1, 5);
    ds->counts[7] = NAN;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("v1", NULL), &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "bin 1: count nan is not finite and non-negative"), "%s", err.msg);
    cr_assert_neq(access(path_in("v1", NULL), F_OK), 0, "directory created for invalid data");
    ds->counts[7] = -1;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("v1", NULL), &err), DN_EINVAL);
    ds->counts[7] = 1;
    ds->run[2] = ds->run[1];
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("v1", NULL), &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "run numbers must increase"), "%s", err.msg);
    ds->run[2] = ds->run[1] + 1;
    ds->edges[2] = ds->edges[1];
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("v1", NULL), &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "bin edge 2"), "%s", err.msg);
    ds->edges[2] = 0.5 * (ds->edges[1] + ds->edges[3]);
    ds->label[0] = 3;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("v1", NULL), &err), DN_EINVAL);
    ds->label[0] = 0;
    ds->meta_extra = strdup("\"seed\": nan");
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("v1", NULL), &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "meta_extra is not valid JSON"), "%s", err.msg);
    free(ds->meta_extra);
    ds->meta_extra = strdup("\"n_bins\": 3");
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("v1", NULL), &err), DN_EINVAL);
    free(ds->meta_extra);
    ds->meta_extra = strdup("\"seed\": 7");
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("v1", NULL), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_dataset_write_dir(NULL, path_in("v1", NULL), &err), DN_EINVAL);
    dn_dataset_destroy(&ds);
}

Test(dataset, failed_write_leaves_old_files_and_no_temporaries)
{
    dn_err_t err = {0};
    dn_dataset_t *old = random_dataset(3, 2, 1, 6), *new = random_dataset(5, 2, 1, 7);
    cr_assert_eq(dn_dataset_write_dir(old, path_in("w", NULL), &err), 0, "%s", err.msg);
    /* meta.json replaced by a non-empty directory: its rename must fail */
    cr_assert_eq(remove(path_in("w", "meta.json")), 0);
    cr_assert_eq(dn_mkdirs(path_in("w", "meta.json/blocker"), &err), 0, "%s", err.msg);
    int rc = dn_dataset_write_dir(new, path_in("w", NULL), &err);
    cr_assert_eq(rc, DN_EIO, "code %d: %s", rc, err.msg);
    cr_assert(strstr(err.msg, "cannot rename") && strstr(err.msg, "meta.json"), "%s", err.msg);
    cr_assert_eq(count_entries(path_in("w", NULL), ".tmp"), 0, "temporary file left behind");
    cr_assert_eq(count_entries(path_in("w", NULL), ""), 3);
    /* with runs.csv blocked instead, nothing at all is replaced */
    cr_assert_eq(remove(path_in("w", "meta.json/blocker")), 0);
    cr_assert_eq(remove(path_in("w", "meta.json")), 0);
    cr_assert_eq(dn_dataset_write_dir(old, path_in("w", NULL), &err), 0, "%s", err.msg);
    char *truth_before = slurp(path_in("w", "truth.csv"));
    char *meta_before = slurp(path_in("w", "meta.json"));
    cr_assert_eq(remove(path_in("w", "runs.csv")), 0);
    cr_assert_eq(dn_mkdirs(path_in("w", "runs.csv/blocker"), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_dataset_write_dir(new, path_in("w", NULL), &err), DN_EIO);
    cr_assert_eq(count_entries(path_in("w", NULL), ".tmp"), 0, "temporary file left behind");
    char *truth_after = slurp(path_in("w", "truth.csv"));
    char *meta_after = slurp(path_in("w", "meta.json"));
    cr_assert_str_eq(truth_after, truth_before, "truth.csv changed by a failed write");
    cr_assert_str_eq(meta_after, meta_before, "meta.json changed by a failed write");
    free(truth_before);
    free(truth_after);
    free(meta_before);
    free(meta_after);
    /* a directory that cannot be created (a file is in the way) */
    write_text("w2", "file", "x");
    rc = dn_dataset_write_dir(old, path_in("w2", "file/sub"), &err);
    cr_assert_eq(rc, DN_EIO);
    cr_assert(strstr(err.msg, "cannot create directory") && strstr(err.msg, "Not a directory"),
              "%s", err.msg);
    cr_assert_eq(count_entries(path_in("w2", NULL), ""), 1);
    dn_dataset_destroy(&old);
    dn_dataset_destroy(&new);
}

Test(dataset, outfile_commit_abort_and_helpers)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_mkdirs(path_in("o/p/q", NULL), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_mkdirs(path_in("o/p/q", NULL), &err), 0, "existing directory: %s", err.msg);
    cr_assert_eq(dn_mkdirs(path_in("o//p/r/", NULL), &err), 0, "%s", err.msg);
    const char *target = path_in("o", "file.txt");
    /* abort: nothing appears */
    dn_outfile_t *out = dn_outfile_open(target, &err);
    cr_assert_not_null(out, "%s", err.msg);
    fputs("half", dn_outfile_stream(out));
    cr_assert_eq(count_entries(path_in("o", NULL), ".tmp"), 1);
    dn_outfile_abort(&out);
    cr_assert_null(out);
    dn_outfile_abort(&out);
    dn_outfile_abort(NULL);
    cr_assert_neq(access(target, F_OK), 0);
    cr_assert_eq(count_entries(path_in("o", NULL), ".tmp"), 0);
    /* commit: content appears whole, with the umask's mode, temp gone */
    out = dn_outfile_open(target, &err);
    fputs("first\n", dn_outfile_stream(out));
    cr_assert_eq(dn_outfile_commit(&out, &err), 0, "%s", err.msg);
    cr_assert_null(out);
    char *text = slurp(target);
    cr_assert_str_eq(text, "first\n");
    free(text);
    struct stat st;
    cr_assert_eq(stat(target, &st), 0);
    mode_t mask = umask(022);
    umask(mask);
    cr_assert_eq(st.st_mode & 0777, 0666 & ~mask, "mode %o", st.st_mode & 0777);
    /* a second writer replaces it; an open temp never shows under the name */
    out = dn_outfile_open(target, &err);
    fputs("second\n", dn_outfile_stream(out));
    text = slurp(target);
    cr_assert_str_eq(text, "first\n");
    free(text);
    cr_assert_eq(dn_outfile_commit(&out, &err), 0, "%s", err.msg);
    text = slurp(target);
    cr_assert_str_eq(text, "second\n");
    free(text);
    cr_assert_eq(dn_outfile_commit(&out, &err), DN_EINVAL);
    /* unsynced: the same whole replacement, made durable by one dn_sync_fs */
    out = dn_outfile_open(target, &err);
    fputs("third\n", dn_outfile_stream(out));
    cr_assert_eq(dn_outfile_commit_unsynced(&out, &err), 0, "%s", err.msg);
    cr_assert_null(out);
    text = slurp(target);
    cr_assert_str_eq(text, "third\n");
    free(text);
    cr_assert_eq(count_entries(path_in("o", NULL), ".tmp"), 0);
    cr_assert_eq(dn_outfile_commit_unsynced(&out, &err), DN_EINVAL);
    cr_assert_eq(dn_sync_fs(path_in("o", NULL), &err), 0, "%s", err.msg);
    cr_assert_eq(dn_sync_fs(path_in("o", "none"), &err), DN_EIO);
    cr_assert(strstr(err.msg, "o/none: No such file"), "%s", err.msg);
    target = path_in("o", "file.txt"); /* path_in's buffers are reused */
    /* open fails where the directory does not exist */
    cr_assert_null(dn_outfile_open(path_in("o/nodir", "x.csv"), &err));
    cr_assert_eq(err.code, DN_EIO);
    cr_assert(strstr(err.msg, "cannot create") && strstr(err.msg, "o/nodir/.x.csv.") &&
              strstr(err.msg, ".tmp: No such file or directory"), "%s", err.msg);
    cr_assert_null(dn_outfile_open("", &err));
    cr_assert_eq(err.code, DN_EINVAL);
    /* read_file: contents, length, missing file, directory */
    char *buf;
    size_t len;
    cr_assert_eq(dn_read_file(target, &buf, &len, &err), 0);
    cr_assert_eq(len, 6); /* "third\n" */
    cr_assert_eq(buf[6], '\0');
    free(buf);
    cr_assert_eq(dn_read_file(path_in("o", "none"), &buf, &len, &err), DN_EIO);
    cr_assert_null(buf);
    cr_assert(strstr(err.msg, "cannot open") && strstr(err.msg, "o/none: No such file"), "%s",
              err.msg);
    cr_assert_eq(dn_read_file(path_in("o", NULL), &buf, NULL, &err), DN_EIO);
    cr_assert(strstr(err.msg, "Is a directory"), "%s", err.msg);
    /* mkdirs through a file */
    cr_assert_eq(dn_mkdirs(path_in("o", "file.txt/sub"), &err), DN_EIO);
    cr_assert(strstr(err.msg, "file.txt: Not a directory") || strstr(err.msg, "Not a directory"),
              "%s", err.msg);
}

/* ---- the slow-anomaly truth (issue 20) ----------------------------------- */

#define SH "run,mu,sigma,rapid_change,slow_kind,slow_size,slow_bad\n"

/* slow_kind, slow_size, slow_bad written and read back bit for bit; a
 * truth.csv without them still read, its slow arrays NULL and none written. */
Test(dataset, slow_truth_round_trip)
{
    dn_err_t err = {0};
    dn_dataset_t *ds = random_dataset(40, 3, 1, 11), *back = NULL;
    cr_assert_eq(dn_dataset_alloc_slow(ds), 0);
    dn_rng_t rng;
    dn_rng_seed(&rng, 12);
    for (int i = 0; i < ds->n_runs; i++) {
        int kind = (int)(dn_rng_next(&rng) % 4);
        ds->slow_kind[i] = (uint8_t)kind;
        ds->slow_size[i] = kind ? (double)(dn_rng_next(&rng) >> 11) * 0x1.0p-53 : 0.0;
        ds->slow_bad[i] = kind && ds->label[i] != 0 && ds->slow_size[i] > 0.3;
    }
    ds->slow_size[3] = ds->slow_kind[3] ? 1.0 / 3.0 : 0.0;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("sl", NULL), &err), 0, "%s", err.msg);
    char *truth = slurp(path_in("sl", "truth.csv"));
    cr_assert(!strncmp(truth, "run,mu,sigma,rapid_change,rapid_mu,rapid_sigma,events,dead_bins,"
                              "slow_kind,slow_size,slow_bad\n", 85), "header: %.100s", truth);
    free(truth);
    cr_assert_eq(dn_dataset_read_dir(path_in("sl", NULL), &back, &err), 0, "%s", err.msg);
    assert_same(ds, back);
    dn_dataset_destroy(&back);

    /* By run number (a directory of run files), slow columns included. */
    dn_dataset_t *runs = dn_dataset_new(ds->n_runs, 3, 0);
    for (int i = 0; i < ds->n_runs; i++)
        runs->run[i] = ds->run[i];
    int missing = -1;
    cr_assert_eq(dn_truth_read_by_run(path_in("sl", "truth.csv"), runs, &missing, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(missing, 0);
    cr_assert_not_null(runs->slow_kind);
    cr_assert(BITS_EQ(runs->slow_size, ds->slow_size, ds->n_runs));
    cr_assert(BITS_EQ(runs->slow_bad, ds->slow_bad, ds->n_runs));

    /* Without the slow columns: read, slow arrays NULL (also after by-run
     * reading into a dataset that had them), and not written back. */
    write_text("ns", "runs.csv", H4_TEXT "1,0,1,1\n2,1,0,3\n");
    write_text("ns", "truth.csv", "run,mu,sigma,rapid_change\n1,0.5,1,0\n2,-0.25,1.5,1\n");
    cr_assert_eq(dn_dataset_read_dir(path_in("ns", NULL), &back, &err), 0, "%s", err.msg);
    cr_assert_not_null(back->true_mu);
    cr_assert_null(back->slow_kind);
    cr_assert_null(back->slow_size);
    cr_assert_null(back->slow_bad);
    cr_assert_eq(dn_dataset_write_dir(back, path_in("nsw", NULL), &err), 0, "%s", err.msg);
    truth = slurp(path_in("nsw", "truth.csv"));
    cr_assert_str_eq(truth, "run,mu,sigma,rapid_change\n1,0.5,1,0\n2,-0.25,1.5,1\n");
    free(truth);
    dn_dataset_destroy(&back);
    dn_dataset_t *two = dn_dataset_new(2, 2, 0);
    two->run[0] = 1;
    two->run[1] = 2;
    cr_assert_eq(dn_dataset_alloc_truth(two), 0);
    cr_assert_eq(dn_dataset_alloc_slow(two), 0);
    cr_assert_eq(dn_truth_read_by_run(path_in("ns", "truth.csv"), two, &missing, &err), 0,
                 "%s", err.msg);
    cr_assert_null(two->slow_kind, "slow truth kept although the file has none");

    /* Exact text: any column order, kind/size/bad as given. */
    write_text("so", "runs.csv", H4_TEXT "1,0,1,1\n2,1,0,3\n3,,0,3\n");
    write_text("so", "truth.csv", "slow_bad,run,mu,slow_size,sigma,rapid_change,slow_kind\n"
               "0,1,0,0,1,0,0\n1,2,0,0.25,1,0,3\n0,3,0,0.125,1,0,1\n");
    cr_assert_eq(dn_dataset_read_dir(path_in("so", NULL), &back, &err), 0, "%s", err.msg);
    cr_assert(back->slow_kind[1] == 3 && back->slow_size[1] == 0.25 && back->slow_bad[1] == 1);
    cr_assert(back->slow_kind[2] == 1 && back->slow_size[2] == 0.125 && back->slow_bad[2] == 0);
    cr_assert_eq(dn_dataset_write_dir(back, path_in("sow", NULL), &err), 0, "%s", err.msg);
    truth = slurp(path_in("sow", "truth.csv"));
    cr_assert_str_eq(truth, SH "1,0,1,0,0,0,0\n2,0,1,0,3,0.25,1\n3,0,1,0,1,0.125,0\n");
    free(truth);
    dn_dataset_destroy(&back);
    dn_dataset_destroy(&two);
    dn_dataset_destroy(&runs);
    dn_dataset_destroy(&ds);
}

Test(dataset, slow_truth_rejections)
{
    static const bad_case_t cases[] = {
        {"s_half", H4 "1,0,1,1\n", "run,mu,sigma,rapid_change,slow_kind,slow_bad\n1,0,1,0,0,0\n",
         NULL, DN_EFORMAT, "@/truth.csv:1: header has 2 of the columns slow_kind, slow_size, "
         "slow_bad (give all three or none)"},
        {"s_kind", H4 "1,1,1,1\n", SH "1,0,1,0,4,0.5,1\n", NULL, DN_ERANGE,
         "@/truth.csv:2: column slow_kind: \"4\" is not 0 (none), 1 (efficiency), 2 (width) "
         "or 3 (mean)"},
        {"s_kind_text", H4 "1,1,1,1\n", SH "1,0,1,0,,0.5,1\n", NULL, DN_ERANGE,
         "@/truth.csv:2: column slow_kind: \"\" is not 0"},
        {"s_size_neg", H4 "1,1,1,1\n", SH "1,0,1,0,1,-0.5,1\n", NULL, DN_ERANGE,
         "@/truth.csv:2: column slow_size: \"-0.5\" is not a finite number >= 0"},
        {"s_size_nan", H4 "1,1,1,1\n", SH "1,0,1,0,1,nan,1\n", NULL, DN_ERANGE,
         "@/truth.csv:2: column slow_size: \"nan\" is not a finite number >= 0"},
        {"s_size_text", H4 "1,1,1,1\n", SH "1,0,1,0,1,big,1\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: column slow_size: \"big\" is not a finite number >= 0"},
        {"s_bad", H4 "1,1,1,1\n", SH "1,0,1,0,1,0.5,2\n", NULL, DN_ERANGE,
         "@/truth.csv:2: column slow_bad: \"2\" is not 0 or 1"},
        {"s_none_sized", H4 "1,1,1,1\n", SH "1,0,1,0,0,0.5,0\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: slow_kind 0 (none) with slow_size 0.5, slow_bad 0"},
        {"s_none_bad", H4 "1,1,1,1\n", SH "1,0,1,0,0,0,1\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: slow_kind 0 (none) with slow_size 0, slow_bad 1"},
        {"s_good_label", H4 "1,0,1,1\n", SH "1,0,1,0,2,0.5,1\n", NULL, DN_EFORMAT,
         "@/truth.csv:2: slow_bad 1 but the run is labelled good"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_failure(&cases[i]);
    /* Written datasets are validated the same way. */
    dn_err_t err = {0};
    dn_dataset_t *ds = random_dataset(4, 3, 1, 5);
    cr_assert_eq(dn_dataset_alloc_slow(ds), 0);
    ds->label[1] = 0;
    ds->slow_kind[1] = 2;
    ds->slow_size[1] = 0.5;
    ds->slow_bad[1] = 1;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("sv", NULL), &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "slow truth kind 2, size 0.5, bad 1 (label 0)"), "%s", err.msg);
    ds->slow_bad[1] = 0;
    ds->slow_size[1] = INFINITY;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("sv", NULL), &err), DN_EINVAL);
    ds->slow_size[1] = 0.5;
    ds->slow_kind[2] = 4;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("sv", NULL), &err), DN_EINVAL);
    ds->slow_kind[2] = 0;
    free(ds->slow_bad);
    ds->slow_bad = NULL;
    cr_assert_eq(dn_dataset_write_dir(ds, path_in("sv", NULL), &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "slow-anomaly truth arrays are partly NULL"), "%s", err.msg);
    cr_assert_eq(dn_dataset_alloc_slow(ds), 0, "the group is refilled whole");
    cr_assert_not_null(ds->slow_bad);
    dn_dataset_destroy(&ds);
}
