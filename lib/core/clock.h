/* clock.h: the two clocks of dinamo, in seconds as doubles.
 *
 * Monotonic time measures intervals (ticks, timeouts, rates, how long a step
 * took): it never jumps when the system clock is set. Wall time is what is
 * stored and shown (a run's time, a lease's expiry shared between processes,
 * a label's "when"): Unix seconds, UTC.
 *
 * Thread rules: any thread. */
#ifndef DN_CLOCK_H
#define DN_CLOCK_H

#include <stdint.h>

/* Seconds of CLOCK_MONOTONIC (an arbitrary origin). */
double dn_clock_mono(void);

/* Milliseconds of CLOCK_MONOTONIC, for loops that count in whole ms. */
int64_t dn_clock_mono_ms(void);

/* Unix seconds of CLOCK_REALTIME, to the nanosecond the system gives. */
double dn_clock_wall(void);

#endif
