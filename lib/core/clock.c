/* clock.c: monotonic and wall time (see clock.h). */
#include "clock.h"

#include <time.h>

static double seconds_of(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double dn_clock_mono(void)
{
    return seconds_of(CLOCK_MONOTONIC);
}

int64_t dn_clock_mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

double dn_clock_wall(void)
{
    return seconds_of(CLOCK_REALTIME);
}
