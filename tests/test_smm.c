/* test_smm.c: the small matrix products (smm.h) against a plain double-precision
 * triple loop, on both backends, at the network's shapes and at awkward ones
 * (sizes that are no multiple of any vector width, row strides wider than the
 * rows, beta 0 over garbage and beta 1 accumulating); the transpose against
 * the definition; the backend choice. Tolerance: relative 1e-5 of the sum of
 * |a b| terms (float32 accumulation over k <= 300 terms stays near 1e-6). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "smm.h"

typedef enum { NN, TN, NT } kind_t;

static const char *kind_name[] = {"nn", "tn", "nt"};

/* A(i, c) and B(c, j) of the product C = op(A) op(B) as the kind stores them. */
static float a_at(kind_t kind, const float *A, int lda, int i, int c)
{
    return kind == TN ? A[(size_t)c * lda + i] : A[(size_t)i * lda + c];
}

static float b_at(kind_t kind, const float *B, int ldb, int c, int j)
{
    return kind == NT ? B[(size_t)j * ldb + c] : B[(size_t)c * ldb + j];
}

/* Runs one product on the current backend and returns its worst relative error
 * (against double), printing where it was. */
static double check_product(kind_t kind, int m, int n, int k, int pad, float beta,
                            uint64_t seed)
{
    dn_rng_t rng;
    dn_rng_seed(&rng, seed);
    const int lda = (kind == TN ? m : k) + pad, ldb = (kind == NT ? k : n) + pad,
              ldc = n + pad;
    const int arows = kind == TN ? k : m, brows = kind == NT ? n : k;
    float *A = malloc(sizeof(float) * arows * lda), *B = malloc(sizeof(float) * brows * ldb),
          *C = malloc(sizeof(float) * m * ldc), *C0 = malloc(sizeof(float) * m * ldc);
    cr_assert(A && B && C && C0);
    for (int i = 0; i < arows * lda; i++)
        A[i] = (float)dn_rng_uniform_range(&rng, -1, 1);
    for (int i = 0; i < brows * ldb; i++)
        B[i] = (float)dn_rng_uniform_range(&rng, -1, 1);
    for (int i = 0; i < m * ldc; i++) /* beta 0 must not read these */
        C0[i] = C[i] = beta == 0.0f ? NAN : (float)dn_rng_uniform_range(&rng, -1, 1);
    if (kind == NN)
        dn_smm_nn(m, n, k, A, lda, B, ldb, beta, C, ldc);
    else if (kind == TN)
        dn_smm_tn(m, n, k, A, lda, B, ldb, beta, C, ldc);
    else
        dn_smm_nt(m, n, k, A, lda, B, ldb, beta, C, ldc);
    double worst = 0;
    int wi = 0, wj = 0;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = beta == 0.0f ? 0.0 : C0[(size_t)i * ldc + j], mag = fabs(s);
            for (int c = 0; c < k; c++) {
                double t = (double)a_at(kind, A, lda, i, c) * b_at(kind, B, ldb, c, j);
                s += t;
                mag += fabs(t);
            }
            double e = fabs(C[(size_t)i * ldc + j] - s) / (mag + 1e-30);
            if (!(e <= worst)) { /* NaN counts as worst */
                worst = isnan(e) ? INFINITY : e;
                wi = i;
                wj = j;
            }
        }
        /* the padding between rows is not written */
        for (int j = n; j < ldc; j++) {
            float was = C0[(size_t)i * ldc + j], now = C[(size_t)i * ldc + j];
            cr_assert(memcmp(&was, &now, sizeof was) == 0,
                      "%s %dx%dx%d: wrote past the row end at (%d, %d)", kind_name[kind], m, n,
                      k, i, j);
        }
    }
    if (worst > 1e-5)
        cr_log_error("%s %s %dx%dx%d pad %d beta %g: worst rel error %.3g at (%d, %d)",
                     dn_smm_backend(), kind_name[kind], m, n, k, pad, (double)beta, worst,
                     wi, wj);
    free(A);
    free(B);
    free(C);
    free(C0);
    return worst;
}

static void all_shapes(void)
{
    /* the network's (forward per part, backward data, parameter gradients,
     * inference, heads) and awkward ones */
    static const int shapes[][3] = {{100, 300, 100}, {100, 100, 300}, {300, 100, 200},
                                    {20, 100, 100},  {5, 100, 100},   {29, 100, 100},
                                    {1, 1, 1},       {7, 13, 3},      {33, 17, 65},
                                    {3, 257, 9}};
    int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    double worst = 0;
    for (int s = 0; s < nshapes; s++)
        for (int kind = NN; kind <= NT; kind++)
            for (int pad = 0; pad <= 5; pad += 5)
                for (int b = 0; b < 2; b++) {
                    double e = check_product(kind, shapes[s][0], shapes[s][1], shapes[s][2],
                                             pad, (float)b, 100 + s);
                    worst = fmax(worst, e);
                }
    cr_log_info("%s: worst relative error %.3g", dn_smm_backend(), worst);
    cr_assert(worst <= 1e-5, "%s: worst relative error %.3g > 1e-5", dn_smm_backend(), worst);
}

Test(smm, products_on_blas)
{
    cr_assert_eq(dn_smm_select("blas"), 0);
    all_shapes();
}

Test(smm, products_on_xsmm)
{
    int rc = dn_smm_select("xsmm");
    /* every x86-64 CPU this project runs on gets generated code; a refusal here
     * would mean the fast path silently never runs */
    cr_assert_eq(rc, 0, "LIBXSMM generated no kernel: %s", dn_strerror(rc));
    cr_assert(strncmp(dn_smm_backend(), "xsmm", 4) == 0, "backend %s", dn_smm_backend());
    all_shapes();
}

/* With LIBXSMM a row's bits do not depend on the other rows: a product computed
 * as two row blocks equals the whole one bit for bit. (OpenBLAS blocks
 * differently for other row counts: this does not hold there, which is why the
 * model runs the same shapes whatever its thread count.) */
Test(smm, row_blocks_give_the_same_bits)
{
    const char *backends[] = {"xsmm"};
    for (int bk = 0; bk < 1; bk++) {
        cr_assert_eq(dn_smm_select(backends[bk]), 0);
        const int m = 100, n = 300, k = 100;
        dn_rng_t rng;
        dn_rng_seed(&rng, 7);
        float *A = malloc(sizeof(float) * m * k), *B = malloc(sizeof(float) * k * n),
              *C1 = malloc(sizeof(float) * m * n), *C2 = malloc(sizeof(float) * m * n);
        for (int i = 0; i < m * k; i++)
            A[i] = (float)dn_rng_uniform_range(&rng, -1, 1);
        for (int i = 0; i < k * n; i++)
            B[i] = (float)dn_rng_uniform_range(&rng, -1, 1);
        dn_smm_nn(m, n, k, A, k, B, n, 0.0f, C1, n);
        dn_smm_nn(50, n, k, A, k, B, n, 0.0f, C2, n);
        dn_smm_nn(50, n, k, A + 50 * k, k, B, n, 0.0f, C2 + 50 * n, n);
        int first = -1;
        for (int i = 0; i < m * n && first < 0; i++)
            if (memcmp(C1 + i, C2 + i, sizeof(float)))
                first = i;
        cr_assert(first < 0, "%s: element %d differs (%.9g vs %.9g)", backends[bk], first,
                  first < 0 ? 0.0 : (double)C1[first], first < 0 ? 0.0 : (double)C2[first]);
        free(A);
        free(B);
        free(C1);
        free(C2);
    }
}

Test(smm, transpose)
{
    static const int shapes[][2] = {{1, 1}, {8, 8}, {100, 300}, {300, 100}, {100, 1},
                                    {1, 100}, {13, 7}, {17, 33}, {64, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = shapes[s][0], C = shapes[s][1];
        float *src = malloc(sizeof(float) * R * C), *dst = malloc(sizeof(float) * R * C);
        for (int i = 0; i < R * C; i++)
            src[i] = (float)i + 0.5f;
        dn_smm_transpose(dst, src, R, C);
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++)
                cr_assert(dst[(size_t)j * R + i] == src[(size_t)i * C + j],
                          "%dx%d: dst[%d][%d] = %g, want %g", R, C, j, i,
                          (double)dst[(size_t)j * R + i], (double)src[(size_t)i * C + j]);
        free(src);
        free(dst);
    }
}

Test(smm, backend_names)
{
    cr_assert_eq(dn_smm_select("cuda"), DN_EINVAL);
    cr_assert_eq(dn_smm_select("blas"), 0);
    cr_assert(strncmp(dn_smm_backend(), "blas (OpenBLAS ", 15) == 0, "%s", dn_smm_backend());
    cr_assert_eq(dn_smm_select(NULL), 0);
    cr_assert(strncmp(dn_smm_backend(), "xsmm (LIBXSMM ", 14) == 0, "%s", dn_smm_backend());
}
