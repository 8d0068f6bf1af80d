#include "common/phase.h"

#include <stdio.h>
#include <string.h>

void jc_phase_start(jc_phase_timer *t, uint64_t now_us) {
  t->start_us = now_us;
  t->count = 0;
}

int jc_phase_mark(jc_phase_timer *t, const char *name, uint64_t now_us) {
  if (t->count >= JC_PHASE_MAX)
    return -1;
  /* A clock read taken before the previous mark must not produce a negative duration. */
  uint64_t floor = t->count ? t->phases[t->count - 1].at_us : t->start_us;
  t->phases[t->count].name = name;
  t->phases[t->count].at_us = now_us < floor ? floor : now_us;
  t->count++;
  return 0;
}

int jc_phase_find(const jc_phase_timer *t, const char *name) {
  for (size_t i = 0; i < t->count; i++)
    if (strcmp(t->phases[i].name, name) == 0)
      return (int)i;
  return -1;
}

uint64_t jc_phase_duration_us(const jc_phase_timer *t, size_t i) {
  if (i >= t->count)
    return 0;
  uint64_t from = i ? t->phases[i - 1].at_us : t->start_us;
  return t->phases[i].at_us - from;
}

uint64_t jc_phase_offset_us(const jc_phase_timer *t, size_t i) {
  if (i >= t->count)
    return 0;
  return t->phases[i].at_us - t->start_us;
}

uint64_t jc_phase_total_us(const jc_phase_timer *t) {
  return t->count ? t->phases[t->count - 1].at_us - t->start_us : 0;
}

int jc_phase_format(const jc_phase_timer *t, char *buf, size_t len) {
  size_t used = 0;
  int total = 0;
  if (len)
    buf[0] = '\0';
  for (size_t i = 0; i < t->count; i++) {
    uint64_t d = jc_phase_duration_us(t, i), o = jc_phase_offset_us(t, i);
    int n = snprintf(buf + used, used < len ? len - used : 0, "%s%s=%llu.%03llums(+%llu.%03llu)",
                     i ? " " : "", t->phases[i].name, (unsigned long long)(d / 1000),
                     (unsigned long long)(d % 1000), (unsigned long long)(o / 1000),
                     (unsigned long long)(o % 1000));
    if (n < 0)
      return -1;
    total += n;
    used = (size_t)total < len ? (size_t)total : (len ? len - 1 : 0);
  }
  return total;
}
