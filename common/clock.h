/* Monotonic and wall clocks.
 * Durations always come from CLOCK_MONOTONIC (never goes back); wall time is only for log stamps. */
#ifndef JOURNEY_COMMON_CLOCK_H
#define JOURNEY_COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Microseconds since an arbitrary fixed point (CLOCK_MONOTONIC). Inline: journey-lb reads it
 * five times per request. */
static inline uint64_t jc_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
/* Nanoseconds, same clock. */
uint64_t jc_now_ns(void);
/* Wall time as RFC 3339 UTC with milliseconds, e.g. 2026-11-24T05:14:42.123Z. Returns buf. */
char *jc_wall_rfc3339(char *buf, size_t len);
/* Formats a duration in microseconds as milliseconds with 3 decimals ("12.345"). Returns buf. */
char *jc_fmt_ms(uint64_t us, char *buf, size_t len);

#endif
