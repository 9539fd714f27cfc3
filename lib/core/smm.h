/* smm.h: the small matrix products of DINAMO-ML (row-major, float32).
 *
 * The network's products are small (tens to hundreds of rows, 100-300 wide) and
 * there are ~60 of them per training step. Two backends compute them:
 *   "xsmm"  LIBXSMM's JIT kernels, generated for each shape for the instruction
 *           set this CPU has (AVX-512 here), whatever OPENBLAS_CORETYPE says;
 *   "blas"  cblas_sgemm (OpenBLAS, with the kernels its core type selects).
 * "xsmm" is the default where LIBXSMM generates a kernel for the shape; any
 * shape it declines (and every product, where code generation is refused) goes
 * to "blas". The environment variable DINAMO_GEMM=blas or =xsmm, read before
 * main, or dn_smm_select, chooses; benchmarks use it to time both in one run.
 *
 * Results: a product's bits depend only on its shape, operands and backend,
 * never on which thread computes it; with "xsmm" a row's bits do not depend on
 * the other rows either (OpenBLAS blocks differently for other row counts). The
 * two backends round differently (both within float32 accumulation error).
 *
 * LIBXSMM has no kernel for a transposed first operand stored row by row that
 * the forward linear layers would need (inp @ W^T); callers keep W^T instead
 * (dn_linear_forward_wt) and ask for dn_smm_nn.
 *
 * Thread rules: every function may run in any number of threads at once;
 * dn_smm_select may run while products run (each product uses one backend). */
#ifndef DN_SMM_H
#define DN_SMM_H

/* C[m][n] = beta C + A[m][k] @ B[k][n]; lda, ldb, ldc are row strides (floats);
 * beta is 0 (C is only written) or 1. */
void dn_smm_nn(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);
/* C[m][n] = beta C + A^T @ B with A stored [k][m] (row stride lda), B [k][n]. */
void dn_smm_tn(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);
/* C[m][n] = beta C + A @ B^T with A [m][k], B stored [n][k] (always "blas"). */
void dn_smm_nt(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);

/* dst[C][R] = src[R][C]^T. */
void dn_smm_transpose(float *dst, const float *src, int R, int C);

/* Chooses the backend: "xsmm" or "blas"; NULL: the default (xsmm where it
 * generates code, else blas). Returns 0, or DN_EINVAL for another name or
 * DN_EMISMATCH when "xsmm" cannot generate code here (the choice is kept). */
int dn_smm_select(const char *name);
/* The backend in use and what it runs on, e.g. "xsmm (LIBXSMM 1.17, cpx)" or
 * "blas (OpenBLAS Haswell)"; a static string, owned by the module. */
const char *dn_smm_backend(void);

#endif
