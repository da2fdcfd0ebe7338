/*
 * clock.h - wall and monotonic time in the units RocketMQ uses.
 * Thread: any.
 */
#ifndef FM_COMMON_CLOCK_H
#define FM_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/** Milliseconds since the Unix epoch (store and born timestamps on the wire). */
int64_t fm_clock_wall_ms(void);

/** Monotonic milliseconds (timeouts, expiry); unrelated to wall time. */
int64_t fm_clock_mono_ms(void);

/** Monotonic nanoseconds (latency measurement). */
int64_t fm_clock_mono_ns(void);

/** *ts = CLOCK_REALTIME now + ms (ms >= 0): the absolute deadline pthread_cond_timedwait
 * takes. */
void fm_clock_wall_deadline(struct timespec *ts, int64_t ms);

/**
 * "YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm|-hh:mm)" (1970 or later) to epoch ms. 1 on success, 0
 * otherwise. A time without a zone is refused: a replicator, its clusters and an operator's
 * browser may sit in different zones, so "local" means nothing. No TZ data is read.
 */
int fm_clock_parse_iso8601(const char *s, int64_t *ms);

#endif
