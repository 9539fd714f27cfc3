/* bench.h: what every benchmark program times with, header-only (each bench
 * is one program, so there is nothing to link).
 *
 *     double t0 = bench_now();  ...  double s = bench_now() - t0;
 *     double m = bench_median_inplace(times, n);   (sorts times)
 *
 * Monotonic clock, so a clock step during a run does not show as speed. */
#ifndef DN_BENCH_H
#define DN_BENCH_H

#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* qsort comparison of doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts t[n] (n >= 1) and returns t[n / 2]. */
static inline double bench_median_inplace(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
    return t[n / 2];
}

#endif
