/* test_ev_book.c: the evaluator's book and judge (services/evaluator/
 * ingest.c, judge.c) on 2-D histograms: a key's binning is fixed by its first
 * run, x and y alike (a histogram of 4x3 bins is not one of 6x2 nor a 1-D one
 * of 12: skipped and counted, the key's rows untouched), and the worst bins of
 * a 2-D key are named by (ix, iy) and their centres when the run gave edges. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "evaluator.h"

static void changed(void *arg, int k, uint64_t seq)
{
    (void)k;
    (void)seq;
    (*(int *)arg)++;
}

/* A Run envelope of one histogram "pix/occ" of n counts (ny bins of y, 0:
 * 1-D), with edges ex/ey when given. */
static int put_run(ev_book_t *b, uint64_t seq, double *counts, int n, int ny, double *ex, int nex,
                   double *ey, int ney)
{
    Dinamo__Histogram h = DINAMO__HISTOGRAM__INIT, *hp = &h;
    h.key = (char *)"pix/occ";
    h.subsystem = (char *)"pix";
    h.n_counts = (size_t)n;
    h.counts = counts;
    h.has_n_bins_y = ny > 0;
    h.n_bins_y = (uint32_t)ny;
    h.n_edges = ex ? (size_t)nex : 0;
    h.edges = ex;
    h.n_edges_y = ey ? (size_t)ney : 0;
    h.edges_y = ey;
    Dinamo__Run r = DINAMO__RUN__INIT;
    r.has_run_number = r.has_run_seq = 1;
    r.run_number = 100 + (int64_t)seq;
    r.run_seq = seq;
    r.n_histograms = 1;
    r.histograms = &hp;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_RUN;
    env.run = &r;
    return ev_book_run(b, &env);
}

static int put_score(ev_book_t *b, uint64_t seq, int m, double *mu, double *sigma, int n)
{
    Dinamo__Score s = DINAMO__SCORE__INIT;
    s.has_run_number = s.has_run_seq = s.has_status = s.has_chi2 = 1;
    s.run_number = 100 + (int64_t)seq;
    s.run_seq = seq;
    s.histogram_key = (char *)"pix/occ";
    s.status = DINAMO__SCORE_STATUS__OK;
    s.chi2 = 50;
    s.n_reference = s.n_reference_uncertainty = (size_t)n;
    s.reference = mu;
    s.reference_uncertainty = sigma;
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_SCORE;
    env.score = &s;
    return ev_book_score(b, m, &env);
}

enum { NX = 4, NY = 3, NB = NX * NY };

Test(ev_book, a_2d_key_rejects_another_shape)
{
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    double c[NB];
    for (int i = 0; i < NB; i++)
        c[i] = 10 + i;
    double ex[NX + 1] = {0, 1, 2, 3, 4}, ey[NY + 1] = {0, 10, 20, 30};
    cr_assert_eq(put_run(&b, 0, c, NB, NY, ex, NX + 1, ey, NY + 1), 0);
    cr_assert_eq(b.n_keys, 1);
    cr_assert(b.keys[0].n_bins == NB && b.keys[0].n_bins_y == NY, "key %d bins, %d of y",
              b.keys[0].n_bins, b.keys[0].n_bins_y);
    /* same number of bins, other shapes: 6x2, and 1-D */
    double e6[7] = {0, 1, 2, 3, 4, 5, 6}, e2[3] = {0, 1, 2}, e12[13];
    for (int i = 0; i <= 12; i++)
        e12[i] = i;
    cr_assert_eq(put_run(&b, 1, c, NB, 2, e6, 7, e2, 3), 0);
    cr_assert_eq(put_run(&b, 2, c, NB, 0, e12, 13, NULL, 0), 0);
    cr_assert_eq(b.n_hist_skipped, 2, "skipped %llu histograms, want 2",
                 (unsigned long long)b.n_hist_skipped);
    cr_assert_null(ev_book_row(&b, 0, 1) ? ev_book_row(&b, 0, 1)->counts : NULL,
                   "a 6x2 histogram was taken into a 4x3 key");
    cr_assert_null(ev_book_row(&b, 0, 2) ? ev_book_row(&b, 0, 2)->counts : NULL,
                   "a 1-D histogram was taken into a 4x3 key");
    /* the same shape again is taken, with both axes' edges */
    cr_assert_eq(put_run(&b, 3, c, NB, NY, ex, NX + 1, ey, NY + 1), 0);
    const ev_row_t *r = ev_book_row(&b, 0, 3);
    cr_assert(r && r->counts && r->edges && r->edges_y, "4x3 run 3 not taken whole");
    cr_assert(r->edges[NX] == 4 && r->edges_y[NY] == 30, "edges %g, edges_y %g", r->edges[NX],
              r->edges_y[NY]);
    cr_assert_eq(b.n_hist_skipped, 2);
    ev_book_free(&b);
}

Test(ev_book, worst_bins_of_a_2d_key_name_ix_iy)
{
    ev_book_t b;
    int n_changed = 0;
    cr_assert_eq(ev_book_init(&b, changed, &n_changed), 0);
    double c[NB], mu[NB], sg[NB];
    for (int i = 0; i < NB; i++) {
        c[i] = 1000;
        mu[i] = 1.0 / NB;
        sg[i] = 1e-4;
    }
    c[2 * NY + 1] = 2000; /* (2,1): far above the reference */
    c[0 * NY + 2] = 800;  /* (0,2): below, less far */
    double ex[NX + 1] = {0, 1, 2, 4, 8}, ey[NY + 1] = {-1.5, -0.5, 0.5, 1.5};
    cr_assert_eq(put_run(&b, 0, c, NB, NY, ex, NX + 1, ey, NY + 1), 0);
    cr_assert_eq(put_score(&b, 0, 0, mu, sg, NB), 1);
    char buf[256];
    ev_worst_bins(&b, 0, 0, 0, buf, sizeof buf);
    cr_assert(!strncmp(buf, "bin (2,1) at (3, 0):+", 21), "worst bins: \"%s\"", buf);
    cr_assert(strstr(buf, "; bin (0,2) at (0.5, 1):-"), "worst bins: \"%s\"", buf);
    /* without edges: the (ix, iy) only, no made-up centres */
    cr_assert_eq(put_run(&b, 1, c, NB, NY, NULL, 0, NULL, 0), 0);
    cr_assert_eq(put_score(&b, 1, 0, mu, sg, NB), 1);
    ev_worst_bins(&b, 0, 1, 0, buf, sizeof buf);
    cr_assert(!strncmp(buf, "bin (2,1):+", 11) && strstr(buf, "; bin (0,2):-") &&
              !strstr(buf, " at "), "worst bins without edges: \"%s\"", buf);
    ev_book_free(&b);
}
