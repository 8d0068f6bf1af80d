#include "common/clock.h"

#include <string.h>
#include <time.h>

uint64_t jc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t jc_now_us(void) { return jc_now_ns() / 1000u; }

static void digits(char *p, unsigned v, int n) { /* v as exactly n decimal digits */
  while (n--) {
    p[n] = (char)('0' + v % 10);
    v /= 10;
  }
}

/* Every access log line carries a stamp: the date and time of the second are made once per
 * second per thread (gmtime_r and the formatting cost more than the rest of a line), the
 * milliseconds each time. */
char *jc_wall_rfc3339(char *buf, size_t len) {
  static __thread time_t cached_sec = -1;
  static __thread char cached[20]; /* "2026-11-24T05:14:42" */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (len < 25) {
    if (len)
      buf[0] = 0;
    return buf;
  }
  if (ts.tv_sec != cached_sec) {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    digits(cached, (unsigned)(tm.tm_year + 1900) % 10000, 4);
    cached[4] = '-';
    digits(cached + 5, (unsigned)tm.tm_mon + 1, 2);
    cached[7] = '-';
    digits(cached + 8, (unsigned)tm.tm_mday, 2);
    cached[10] = 'T';
    digits(cached + 11, (unsigned)tm.tm_hour, 2);
    cached[13] = ':';
    digits(cached + 14, (unsigned)tm.tm_min, 2);
    cached[16] = ':';
    digits(cached + 17, (unsigned)tm.tm_sec, 2);
    cached_sec = ts.tv_sec;
  }
  memcpy(buf, cached, 19);
  buf[19] = '.';
  digits(buf + 20, (unsigned)(ts.tv_nsec / 1000000), 3);
  buf[23] = 'Z';
  buf[24] = 0;
  return buf;
}

char *jc_fmt_ms(uint64_t us, char *buf, size_t len) {
  char tmp[32];
  size_t n = sizeof tmp;
  uint64_t ms = us / 1000;
  n -= 4;
  tmp[n] = '.';
  digits(tmp + n + 1, (unsigned)(us % 1000), 3);
  do {
    tmp[--n] = (char)('0' + ms % 10);
    ms /= 10;
  } while (ms);
  size_t got = sizeof tmp - n;
  if (got >= len)
    got = len ? len - 1 : 0;
  memcpy(buf, tmp + n, got);
  if (len)
    buf[got] = 0;
  return buf;
}
