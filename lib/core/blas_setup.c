/* blas_setup.c: choose OpenBLAS's core type before it loads, by re-executing.
 *
 * Invariant: at most one re-exec per process tree (the DINAMO_BLAS_REEXEC marker
 * is set before execv and checked on entry), and nothing the user put in the
 * environment is overridden. */
#include "blas_setup.h"

#include <cblas.h>
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "nn.h"

#define REEXEC_MARKER "DINAMO_BLAS_REEXEC"

const char *dn_blas_detect_coretype(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return NULL;
    unsigned int eb = b;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return NULL;
    unsigned int fc = c;
    /* the OS must save the AVX (and for AVX-512, opmask/ZMM) state */
    int osxsave = (fc >> 27) & 1;
    unsigned long long xcr0 = 0;
    if (osxsave) {
        unsigned int lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((unsigned long long)hi << 32) | lo;
    }
    int avx_os = osxsave && (xcr0 & 0x6) == 0x6;
    int avx512_os = avx_os && (xcr0 & 0xe0) == 0xe0;
    int avx2 = (eb >> 5) & 1, fma = (fc >> 12) & 1;
    int f = (eb >> 16) & 1, dq = (eb >> 17) & 1, bw = (eb >> 30) & 1,
        vl = (eb >> 31) & 1;
    if (avx512_os && f && bw && vl && dq)
        return "SkylakeX";
    if (avx_os && avx2 && fma)
        return "Haswell";
    return NULL;
}

const char *dn_blas_corename(void)
{
    return openblas_get_corename();
}

int dn_blas_init(int argc, char **argv, int verbose)
{
    int user_threads = getenv("OPENBLAS_NUM_THREADS") != NULL;
    if (!getenv(REEXEC_MARKER) && !getenv("OPENBLAS_CORETYPE")) {
        const char *core = dn_blas_detect_coretype();
        if (core && argc >= 1 && argv) {
            setenv("OPENBLAS_CORETYPE", core, 1);
            if (!user_threads)
                setenv("OPENBLAS_NUM_THREADS", "1", 1);
            setenv(REEXEC_MARKER, "1", 1);
            fflush(NULL);
            execv("/proc/self/exe", argv);
            /* still here: the re-exec failed, run on with the loaded library */
            int e = errno;
            if (verbose)
                fprintf(stderr, "dn_blas_init: re-exec failed: %s\n", strerror(e));
            unsetenv("OPENBLAS_CORETYPE");
            if (!user_threads)
                unsetenv("OPENBLAS_NUM_THREADS");
            if (!user_threads)
                openblas_set_num_threads(1);
            return DN_EIO;
        }
    }
    /* the marker must not leak into children that load OpenBLAS afresh */
    unsetenv(REEXEC_MARKER);
    if (!user_threads)
        openblas_set_num_threads(1);
    if (verbose)
        fprintf(stderr,
                "OpenBLAS core %s (OPENBLAS_CORETYPE=%s), %d thread(s); %s; nn kernels %s\n",
                openblas_get_corename(),
                getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset",
                openblas_get_num_threads(), openblas_get_config(), dn_nn_variant());
    return 0;
}
