/*
 * clock.h - wall and monotonic time in the units RocketMQ uses.
 * Thread: any.
 */
#ifndef FM_COMMON_CLOCK_H
#define FM_COMMON_CLOCK_H

#include <stdint.h>

/** Milliseconds since the Unix epoch (store and born timestamps on the wire). */
int64_t fm_clock_wall_ms(void);

/** Monotonic milliseconds (timeouts, expiry); unrelated to wall time. */
int64_t fm_clock_mono_ms(void);

/** Monotonic nanoseconds (latency measurement). */
int64_t fm_clock_mono_ns(void);

#endif
