/* What the load balancer says about itself in the response (pure parsing):
 * Server-Timing (RFC-style "name;dur=1.2;desc=\"x\", name2;dur=3"), X-Served-By, X-Request-Id. */
#ifndef JOURNEY_CLIENT_LB_INFO_H
#define JOURNEY_CLIENT_LB_INFO_H

#include <stddef.h>
#include <stdint.h>

#define JN_TIMING_MAX 16

typedef struct jn_timing {
  char name[32];
  char desc[64];
  int has_dur;
  uint64_t dur_us; /* dur= is in milliseconds (may be fractional) */
} jn_timing;

typedef struct jn_lb_info {
  char served_by[64];
  char request_id[128];
  size_t timing_n;
  jn_timing timing[JN_TIMING_MAX];
} jn_lb_info;

/* Parses one Server-Timing header value, appending entries (several headers may arrive).
 * Malformed entries are skipped; returns the number of entries added. */
int jn_lb_parse_server_timing(jn_lb_info *lb, const char *v, size_t n);
/* Routes a response header to the right field when it is one of the three; returns 1 if used. */
int jn_lb_header(jn_lb_info *lb, const char *name, size_t nlen, const char *value, size_t vlen);
/* The LB's own total: the "total" entry if present, else the sum of the durations. */
uint64_t jn_lb_total_us(const jn_lb_info *lb);
/* The entry with this name, or NULL. */
const jn_timing *jn_lb_find(const jn_lb_info *lb, const char *name);

#endif
