/* blas_setup.h: make OpenBLAS run at full speed in our programs.
 *
 * Debian's OpenBLAS 0.3.21 misdetects AVX-512 AMD EPYC CPUs as "Prescott" and
 * runs sgemm ~5x slow unless OPENBLAS_CORETYPE is in the environment when the
 * library loads (its load-time constructor reads it; setenv in main is too late).
 * dn_blas_init() therefore detects the CPU with cpuid, sets OPENBLAS_CORETYPE
 * (and OPENBLAS_NUM_THREADS=1) when the user did not, and re-executes the program
 * once through /proc/self/exe with the same argv so that the library loads again
 * with the right core. An environment marker (DINAMO_BLAS_REEXEC) prevents loops.
 *
 * Thread rules: call it first thing in main, before any thread exists. */
#ifndef DN_BLAS_SETUP_H
#define DN_BLAS_SETUP_H

/* Core type dn_blas_init would choose for this CPU: "SkylakeX" (AVX-512
 * F+BW+VL+DQ), "Haswell" (AVX2+FMA) or NULL (leave OpenBLAS's own choice).
 * Returns a static string. */
const char *dn_blas_detect_coretype(void);

/* Sets up OpenBLAS for this process as described above. Only returns when no
 * re-exec was needed or the re-exec failed (then the program runs on, slow).
 * When the user set OPENBLAS_NUM_THREADS, it is respected; otherwise OpenBLAS is
 * told to use one thread. verbose != 0 prints to stderr the core type OpenBLAS
 * uses and its config, and the variant of the nn.h kernels in use. Returns 0, or DN_EIO when the re-exec failed. */
int dn_blas_init(int argc, char **argv, int verbose);

/* OpenBLAS's name for the core it runs (static string owned by OpenBLAS). */
const char *dn_blas_corename(void);

#endif
