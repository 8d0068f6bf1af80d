/* Statistics over repeated requests (-n/-c): per-phase min/p50/p90/p99/max and how responses
 * spread over backends (X-Served-By) and status codes. Pure; storage allocated once up front. */
#ifndef JOURNEY_CLIENT_STATS_H
#define JOURNEY_CLIENT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "client/result.h"

enum { JN_ST_DNS, JN_ST_ROUTE, JN_ST_TCP, JN_ST_TLS, JN_ST_SERVER, JN_ST_TRANSFER, JN_ST_TOTAL, JN_ST_N };
extern const char *const jn_stat_names[JN_ST_N];

#define JN_BACKENDS_MAX 32
#define JN_CODES_MAX 16

typedef struct jn_summary {
  size_t n;
  uint64_t min, p50, p90, p99, max, mean;
} jn_summary;

typedef struct jn_stats {
  size_t cap, n; /* samples stored (successful requests) */
  size_t failed;
  size_t reused;  /* requests on a kept-alive connection */
  size_t resumed; /* TLS sessions resumed */
  uint64_t *v[JN_ST_N];
  size_t backend_n;
  struct { char name[64]; size_t count; } backend[JN_BACKENDS_MAX];
  size_t other_backends; /* beyond JN_BACKENDS_MAX distinct names */
  size_t code_n;
  struct { int code; size_t count; } code[JN_CODES_MAX];
  uint64_t wall_us;
  size_t h2_streams, h2_conns; /* requests over HTTP/2, and the HTTP/2 connections they used */
  int h2_at_once;              /* streams at once per connection */
} jn_stats;

/* Allocates room for cap samples per phase. Returns 0 or -1 (out of memory). */
int jn_stats_init(jn_stats *s, size_t cap);
void jn_stats_free(jn_stats *s);
/* Records one finished request (failed ones count only in `failed`). */
void jn_stats_add(jn_stats *s, const jn_result *r);
/* Nearest-rank percentile of sorted values: the smallest value with at least p% at or below it. */
uint64_t jn_percentile(const uint64_t *sorted, size_t n, double p);
/* Sorts the phase's samples in place and summarises them. */
void jn_stats_summary(jn_stats *s, int phase, jn_summary *out);

#endif
