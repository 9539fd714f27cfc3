/* test_ledger.c: the feed's table of key binnings (services/feed/ledger.c,
 * feed.keys): the first histogram published under a key fixes its binning,
 * its 2-D shape and both axes' edges; a later histogram of the same bins in
 * another shape (6x2 or 1-D 12 under a 4x3 key) or with other edges is refused
 * with both binnings named; the record survives a commit and a new ledger;
 * records written before 2-D histograms (u32 bins, u32 has-edges, edges) read
 * as 1-D. */
#include <criterion/criterion.h>
#include <string.h>

#include "feed.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];
static void setup(void) { dn_test_tmpdir(dir, "ledger"); }
static void teardown(void) { dn_test_rmdir(dir); }
TestSuite(ledger, .init = setup, .fini = teardown);

static double ex[5] = {0, 1, 2, 3, 4}, ey[4] = {-3, -1, 1, 3};
static double e6[7] = {0, 1, 2, 3, 4, 5, 6}, e2[3] = {0, 1, 2};
static double e12[13] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

static dn_histin_t hist(int ny, double *edges, double *edges_y)
{
    return (dn_histin_t){.key = (char *)"pix/occ", .subsystem = (char *)"pix", .n_bins = 12,
                         .edges = edges, .n_bins_y = ny, .edges_y = edges_y};
}

static dn_store_t *open_store(void)
{
    char path[DN_TEST_TMPDIR_MAX + 16];
    snprintf(path, sizeof path, "%s/store", dir);
    dn_err_t err = {0};
    dn_store_t *st = dn_store_open(path, DN_STORE_NOSYNC, 0, &err);
    cr_assert_not_null(st, "%s", err.msg);
    return st;
}

static int binning(feed_ledger_t *l, dn_histin_t h, char *why)
{
    dn_err_t err = {0};
    why[0] = 0;
    int ok = feed_ledger_binning(l, &h, why, 256, &err);
    cr_assert_geq(ok, 0, "%s", err.msg);
    return ok;
}

static void commit(feed_ledger_t *l, dn_store_t *st)
{
    dn_store_batch_t *b = dn_store_batch_new();
    cr_assert_not_null(b);
    cr_assert_eq(feed_ledger_stage(l, b), 0);
    dn_err_t err = {0};
    cr_assert_eq(dn_store_apply(st, b, &err), 0, "%s", err.msg);
    feed_ledger_committed(l);
    dn_store_batch_destroy(&b);
}

Test(ledger, a_2d_key_keeps_its_shape_and_edges)
{
    dn_store_t *st = open_store();
    feed_ledger_t *l = feed_ledger_new(st);
    cr_assert_not_null(l);
    char why[256];
    cr_assert_eq(binning(l, hist(3, ex, ey), why), 1, "the first 4x3 histogram: %s", why);
    cr_assert_eq(feed_ledger_staged(l), 1);
    cr_assert_eq(binning(l, hist(3, ex, ey), why), 1, "the same again: %s", why);
    cr_assert_eq(binning(l, hist(3, NULL, NULL), why), 1, "without edges: %s", why);
    cr_assert_eq(binning(l, hist(2, e6, e2), why), 0);
    cr_assert_str_eq(why, "binning changed: 6x2 bins (2-D), the key was published with 4x3 "
                          "bins (2-D)");
    cr_assert_eq(binning(l, hist(0, e12, NULL), why), 0);
    cr_assert_str_eq(why, "binning changed: 12 bins, the key was published with 4x3 bins (2-D)");
    double other_y[4] = {-3, -1, 2, 3};
    cr_assert_eq(binning(l, hist(3, ex, other_y), why), 0);
    cr_assert(strstr(why, "edge 2 of y is 2"), "%s", why);
    double other_x[5] = {0, 1, 2, 3, 5};
    cr_assert_eq(binning(l, hist(3, other_x, ey), why), 0);
    cr_assert(strstr(why, "edge 4 of x is 5"), "%s", why);
    commit(l, st);
    feed_ledger_destroy(&l);

    /* a new ledger reads the committed record */
    l = feed_ledger_new(st);
    cr_assert_eq(binning(l, hist(2, e6, e2), why), 0, "6x2 taken after a restart");
    cr_assert_eq(binning(l, hist(3, ex, other_y), why), 0, "other y edges taken after a restart");
    cr_assert_eq(binning(l, hist(3, ex, ey), why), 1, "%s", why);
    cr_assert_eq(feed_ledger_staged(l), 0, "a known key staged again");
    feed_ledger_destroy(&l);
    dn_store_destroy(&st);
}

Test(ledger, records_from_before_2d_read_as_1d)
{
    dn_store_t *st = open_store();
    /* the old record: u32 12, u32 1, 13 edges */
    dn_wbuf_t w = {0};
    dn_wb_u32(&w, 12);
    dn_wb_u32(&w, 1);
    for (int j = 0; j <= 12; j++)
        dn_wb_f64(&w, e12[j]);
    cr_assert(!w.oom);
    dn_store_batch_t *b = dn_store_batch_new();
    cr_assert_eq(dn_store_batch_put(b, "feed.keys", "pix/occ", 7, w.p, w.len), 0);
    dn_err_t err = {0};
    cr_assert_eq(dn_store_apply(st, b, &err), 0, "%s", err.msg);
    dn_store_batch_destroy(&b);
    free(w.p);
    feed_ledger_t *l = feed_ledger_new(st);
    char why[256];
    cr_assert_eq(binning(l, hist(0, e12, NULL), why), 1, "the old 1-D record: %s", why);
    cr_assert_eq(binning(l, hist(3, ex, ey), why), 0);
    cr_assert_str_eq(why, "binning changed: 4x3 bins (2-D), the key was published with 12 bins");
    double moved[13];
    memcpy(moved, e12, sizeof moved);
    moved[12] = 13;
    cr_assert_eq(binning(l, hist(0, moved, NULL), why), 0);
    cr_assert(strstr(why, "edge 12 is 13"), "%s", why);
    feed_ledger_destroy(&l);
    dn_store_destroy(&st);
}
