/* smm.c: small matrix products through LIBXSMM, OpenBLAS as the fallback.
 *
 * Why not OpenBLAS alone: at DINAMO-ML's shapes (20-300 rows by 100-300) OpenBLAS
 * runs at the speed of the kernels its core type selects, and the core type is
 * whatever OPENBLAS_CORETYPE says when the library loads: environments that set
 * it to an older core (Haswell on an AVX-512 CPU, say) halve the speed of every
 * product, and nothing inside the process can change it. LIBXSMM generates each
 * shape's kernel at run time for the CPU it finds, with no packing and no
 * blocking overhead, which is what products this small need: about twice
 * OpenBLAS-Haswell's speed on this project's machines (bench_mlmodel prints
 * both).
 *
 * Row-major products map onto LIBXSMM's column-major ones by swapping the
 * operands: C = A B row-major is C' = B' A' column-major, where X' is the same
 * memory read column-major. A transposed A (dn_smm_tn) becomes LIBXSMM's
 * transposed second operand. LIBXSMM 1.17 generates no kernel for a transposed
 * first operand, so dn_smm_nt always goes to cblas_sgemm.
 *
 * Dispatch is a lookup in LIBXSMM's registry (about 20 ns; the first call of a
 * shape generates its kernel); no pointer is cached here, so the module has no
 * state beyond the backend choice. */
#include "smm.h"

#include <cblas.h>
#include <immintrin.h>
#include <libxsmm.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

enum { BACKEND_BLAS, BACKEND_XSMM };

static atomic_int smm_backend = BACKEND_BLAS;
/* written once, before main */
static char xsmm_name[96] = "xsmm", blas_name[96] = "blas";

static libxsmm_smmfunction xsmm_kernel(int m, int n, int k, int lda, int ldb, int ldc,
                                       float beta, int trans_a)
{
    /* column-major: C'[n x m] = B'[n x k] . op(A') with A' [k x m] or, trans_a,
     * A' stored [m x k] */
    const libxsmm_blasint M = n, N = m, K = k, la = ldb, lb = lda, lc = ldc;
    const float alpha = 1.0f;
    const int flags = trans_a ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
    const int prefetch = LIBXSMM_PREFETCH_NONE;
    return libxsmm_smmdispatch(M, N, K, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
}

static void blas_gemm(int ta, int tb, int m, int n, int k, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                m, n, k, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

static void smm(int ta, int m, int n, int k, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    if (atomic_load_explicit(&smm_backend, memory_order_relaxed) == BACKEND_XSMM) {
        libxsmm_smmfunction f = xsmm_kernel(m, n, k, lda, ldb, ldc, beta, ta);
        if (f) {
            f(B, A, C);
            return;
        }
    }
    blas_gemm(ta, 0, m, n, k, A, lda, B, ldb, beta, C, ldc);
}

void dn_smm_nn(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc)
{
    smm(0, m, n, k, A, lda, B, ldb, beta, C, ldc);
}

void dn_smm_tn(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc)
{
    smm(1, m, n, k, A, lda, B, ldb, beta, C, ldc);
}

void dn_smm_nt(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc)
{
    blas_gemm(0, 1, m, n, k, A, lda, B, ldb, beta, C, ldc);
}

/* dst[c][r] = src[r][c] over rows [r0, r1) and columns [c0, c1), one by one */
static void transpose_scalar(float *dst, const float *src, int R, int C, int r0, int r1,
                             int c0, int c1)
{
    for (int j = c0; j < c1; j++)
        for (int i = r0; i < r1; i++)
            dst[(size_t)j * R + i] = src[(size_t)i * C + j];
}

/* 8 x 8 blocks in AVX registers (the classic unpack / shuffle / lane-permute
 * sequence), the edges one by one: a weight matrix of 100 x 300 floats in about
 * 4 us instead of 30. */
__attribute__((target("avx2"))) static void transpose_v3(float *dst, const float *src,
                                                           int R, int C)
{
    const int R8 = R & ~7, C8 = C & ~7;
    for (int i = 0; i < R8; i += 8)
        for (int j = 0; j < C8; j += 8) {
            __m256 r[8], t[8];
            for (int k = 0; k < 8; k++)
                r[k] = _mm256_loadu_ps(src + (size_t)(i + k) * C + j);
            t[0] = _mm256_unpacklo_ps(r[0], r[1]);
            t[1] = _mm256_unpackhi_ps(r[0], r[1]);
            t[2] = _mm256_unpacklo_ps(r[2], r[3]);
            t[3] = _mm256_unpackhi_ps(r[2], r[3]);
            t[4] = _mm256_unpacklo_ps(r[4], r[5]);
            t[5] = _mm256_unpackhi_ps(r[4], r[5]);
            t[6] = _mm256_unpacklo_ps(r[6], r[7]);
            t[7] = _mm256_unpackhi_ps(r[6], r[7]);
            r[0] = _mm256_shuffle_ps(t[0], t[2], _MM_SHUFFLE(1, 0, 1, 0));
            r[1] = _mm256_shuffle_ps(t[0], t[2], _MM_SHUFFLE(3, 2, 3, 2));
            r[2] = _mm256_shuffle_ps(t[1], t[3], _MM_SHUFFLE(1, 0, 1, 0));
            r[3] = _mm256_shuffle_ps(t[1], t[3], _MM_SHUFFLE(3, 2, 3, 2));
            r[4] = _mm256_shuffle_ps(t[4], t[6], _MM_SHUFFLE(1, 0, 1, 0));
            r[5] = _mm256_shuffle_ps(t[4], t[6], _MM_SHUFFLE(3, 2, 3, 2));
            r[6] = _mm256_shuffle_ps(t[5], t[7], _MM_SHUFFLE(1, 0, 1, 0));
            r[7] = _mm256_shuffle_ps(t[5], t[7], _MM_SHUFFLE(3, 2, 3, 2));
            for (int k = 0; k < 4; k++) {
                _mm256_storeu_ps(dst + (size_t)(j + k) * R + i,
                                 _mm256_permute2f128_ps(r[k], r[k + 4], 0x20));
                _mm256_storeu_ps(dst + (size_t)(j + k + 4) * R + i,
                                 _mm256_permute2f128_ps(r[k], r[k + 4], 0x31));
            }
        }
    transpose_scalar(dst, src, R, C, 0, R8, C8, C);
    transpose_scalar(dst, src, R, C, R8, R, 0, C);
}

void dn_smm_transpose(float *dst, const float *src, int R, int C)
{
    if (__builtin_cpu_supports("avx2"))
        transpose_v3(dst, src, R, C);
    else
        transpose_scalar(dst, src, R, C, 0, R, 0, C);
}

/* "xsmm" only when LIBXSMM generates code here: one representative kernel. */
static int xsmm_works(void)
{
    return xsmm_kernel(20, 100, 100, 100, 100, 100, 0.0f, 0) != NULL;
}

int dn_smm_select(const char *name)
{
    int want;
    if (!name || !strcmp(name, "xsmm"))
        want = BACKEND_XSMM;
    else if (!strcmp(name, "blas"))
        want = BACKEND_BLAS;
    else
        return DN_EINVAL;
    if (want == BACKEND_XSMM && !xsmm_works()) {
        if (name)
            return DN_EMISMATCH;
        want = BACKEND_BLAS;
    }
    atomic_store_explicit(&smm_backend, want, memory_order_relaxed);
    return 0;
}

const char *dn_smm_backend(void)
{
    return atomic_load_explicit(&smm_backend, memory_order_relaxed) == BACKEND_XSMM
               ? xsmm_name
               : blas_name;
}

/* Before main: DINAMO_GEMM's backend if it names one that works here, else the
 * default. */
__attribute__((constructor)) static void smm_select_at_startup(void)
{
    snprintf(xsmm_name, sizeof xsmm_name, "xsmm (LIBXSMM %s, target %s)", LIBXSMM_VERSION,
             libxsmm_get_target_arch());
    snprintf(blas_name, sizeof blas_name, "blas (OpenBLAS %s)", openblas_get_corename());
    const char *want = getenv("DINAMO_GEMM");
    if (!want || !*want || dn_smm_select(want) != 0)
        dn_smm_select(NULL);
}
