/* Setting values, parsed (pure): durations ("250ms", "5s", "2m", a bare number is ms), sizes
 * ("512", "8k", "1m"), booleans (on/off, yes/no, true/false, 1/0), plain decimal counts within
 * [lo, hi]. 0 or -1. Used by config.c, health.c and tls_settings.c, which all read settings;
 * none depends on another for this. */
#ifndef JOURNEY_LB_VALUES_H
#define JOURNEY_LB_VALUES_H

#include <stdint.h>

int lb_parse_duration_ms(const char *s, uint32_t *out);
int lb_parse_size(const char *s, uint64_t *out);
int lb_parse_bool(const char *s, int *out);
int lb_parse_uint(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);

#endif
