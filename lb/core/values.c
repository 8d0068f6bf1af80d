/* Value parsers shared by the config file, the flags and the health settings (values.h). */
#include "lb/core/values.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lb_parse_duration_ms(const char *s, uint32_t *out) {
  char *end;
  if (!*s || !isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s)
    return -1;
  double mult;
  if (!*end || !strcmp(end, "ms"))
    mult = 1;
  else if (!strcmp(end, "s"))
    mult = 1000;
  else if (!strcmp(end, "m"))
    mult = 60000;
  else if (!strcmp(end, "h"))
    mult = 3600000;
  else
    return -1;
  v *= mult;
  if (v < 0 || v > 86400000.0 * 7)
    return -1;
  *out = (uint32_t)(v + 0.5);
  return 0;
}

int lb_parse_size(const char *s, uint64_t *out) {
  char *end;
  if (!*s || !isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno)
    return -1;
  uint64_t mult = 1;
  if (!*end)
    mult = 1;
  else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb"))
    mult = 1024;
  else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb"))
    mult = 1024 * 1024;
  else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb"))
    mult = 1024ull * 1024 * 1024;
  else
    return -1;
  if (v > UINT64_MAX / mult)
    return -1;
  *out = v * mult;
  return 0;
}

int lb_parse_bool(const char *s, int *out) {
  if (!strcasecmp(s, "on") || !strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcmp(s, "1"))
    *out = 1;
  else if (!strcasecmp(s, "off") || !strcasecmp(s, "no") || !strcasecmp(s, "false") ||
           !strcmp(s, "0"))
    *out = 0;
  else
    return -1;
  return 0;
}

int lb_parse_uint(const char *s, uint32_t lo, uint32_t hi, uint32_t *out) {
  char *end;
  if (!*s || !isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return -1;
  *out = (uint32_t)v;
  return 0;
}
