#include "common/clock.h"

#include <stdio.h>
#include <time.h>

uint64_t jc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t jc_now_us(void) { return jc_now_ns() / 1000u; }

char *jc_wall_rfc3339(char *buf, size_t len) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  return buf;
}

char *jc_fmt_ms(uint64_t us, char *buf, size_t len) {
  snprintf(buf, len, "%llu.%03llu", (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
  return buf;
}
