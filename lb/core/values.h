/* Setting values, parsed (pure): durations ("250ms", "5s", "2m", a bare number is ms), sizes
 * ("512", "8k", "1m"), booleans (on/off, yes/no, true/false, 1/0). 0 or -1. Used by config.c
 * and health.c, which both read settings; neither depends on the other for this. */
#ifndef JOURNEY_LB_VALUES_H
#define JOURNEY_LB_VALUES_H

#include <stdint.h>

int lb_parse_duration_ms(const char *s, uint32_t *out);
int lb_parse_size(const char *s, uint64_t *out);
int lb_parse_bool(const char *s, int *out);

#endif
