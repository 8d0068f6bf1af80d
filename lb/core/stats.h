/* Counters the workers update per request (atomics, no locks) and the pure formatting of the
 * admin endpoints: /stats (JSON) and /metrics (Prometheus text format 0.0.4).
 *
 * Histograms have fixed buckets in seconds (Prometheus convention); a worker adds one to one
 * bucket and the duration to the sum, the formatter makes them cumulative. Percentiles in /stats
 * are estimated from the same buckets (linear interpolation inside the bucket, as Prometheus'
 * histogram_quantile does).
 *
 * Formatting works on an lb_stats snapshot: plain values copied out of the atomics by the admin
 * code, so that cmocka feeds it hand-made snapshots. */
#ifndef JOURNEY_LB_STATS_H
#define JOURNEY_LB_STATS_H

#include "common/buf.h"

#include <stdatomic.h>
#include <stdint.h>

#define LB_HIST_BUCKETS 14 /* finite upper bounds; one more bucket holds +Inf */
#define LB_STATUS_MIN 100
#define LB_STATUS_COUNT 500 /* 100..599 */

/* Upper bounds in microseconds: 0.5ms 1ms 2.5ms 5ms 10ms 25ms 50ms 100ms 250ms 500ms 1s 2.5s
 * 5s 10s. */
extern const uint64_t lb_hist_bounds_us[LB_HIST_BUCKETS];

typedef struct lb_hist {
  atomic_uint_fast64_t bucket[LB_HIST_BUCKETS + 1]; /* not cumulative */
  atomic_uint_fast64_t sum_us;
} lb_hist;

typedef struct lb_srv_metrics {
  lb_hist request;  /* request headers received .. response complete */
  lb_hist connect;  /* new backend connections: connect time */
  atomic_uint_fast64_t status[LB_STATUS_COUNT]; /* responses by status code */
  /* failures by class (cold paths only) and retries away from this server */
  atomic_uint_fast64_t err_connect, err_timeout, err_reset, retries;
} lb_srv_metrics;

void lb_hist_observe(lb_hist *h, uint64_t us);
void lb_srv_metrics_reset(lb_srv_metrics *m);
static inline void lb_srv_metrics_status(lb_srv_metrics *m, int status) {
  if (status >= LB_STATUS_MIN && status < LB_STATUS_MIN + LB_STATUS_COUNT)
    atomic_fetch_add_explicit(&m->status[status - LB_STATUS_MIN], 1, memory_order_relaxed);
}

/* ---- snapshot (plain values) ---- */

typedef struct lb_hist_snap {
  uint64_t bucket[LB_HIST_BUCKETS + 1];
  uint64_t sum_us;
} lb_hist_snap;

void lb_hist_snapshot(const lb_hist *h, lb_hist_snap *out);
uint64_t lb_hist_count(const lb_hist_snap *h);
/* q in (0,1]: estimated quantile in microseconds; 0 when empty. Observations in the +Inf bucket
 * are reported as the largest finite bound. */
uint64_t lb_hist_quantile_us(const lb_hist_snap *h, double q);

typedef struct lb_stats_server {
  const char *name, *address, *state; /* state: "UP", "DOWN", "DRAIN", "MAINT" */
  const char *health;                 /* "up", "down", "unknown", "off" (no active checks) */
  const char *last_check;             /* "ok", "timeout", "status 503", ... ; "" none yet */
  uint64_t last_check_us;             /* duration of the last check */
  const char *source;                 /* "static", "dns" */
  int weight;
  int ejected;
  uint64_t ejections;
  uint64_t active, requests, failures, responses_5xx;
  uint64_t status[LB_STATUS_COUNT];
  lb_hist_snap request, connect;
  /* for the admin page */
  uint64_t since_ms;          /* time in the current state */
  uint64_t last_check_age_ms; /* since the last check finished; UINT64_MAX: none yet */
  char strip[12];             /* last checks, oldest first: '+' passed, '-' failed */
  uint64_t err_connect, err_timeout, err_reset, retries;
  uint64_t lat_count[3], lat_p50_us[3], lat_p99_us[3]; /* connect, headers, total: last minute */
} lb_stats_server;

typedef struct lb_stats_pool {
  const char *name, *algorithm, *check; /* check: lb_health_cfg_describe */
  const char *hash_key;                  /* algorithm hash: "header:X-User"; else NULL */
  int nservers;
  lb_stats_server *servers;
  uint64_t no_server; /* requests answered 503: no server UP */
} lb_stats_pool;

typedef struct lb_stats_listener {
  const char *address;
  uint64_t connections, tls_handshakes;
} lb_stats_listener;

/* One recent request (the admin page's waterfall), values ready to print. */
typedef struct lb_stats_request {
  const char *id, *path, *method, *pool, *server; /* "" when none */
  const char *proto;                               /* lb_stats_proto_names */
  int status, retries;
  uint64_t ended_unix_ms;
  int64_t Th, Ti, TR, Tw, Tc, Tr, Td, Tt; /* microseconds, -1: phase not reached */
} lb_stats_request;

/* HTTP/2 events, counted by the workers (lb_runtime.h2), in /stats and /metrics by name
 * (lb_stats_h2_names). */
enum {
  LB_H2_CONNS = 0,     /* connections that spoke h2 */
  LB_H2_STREAMS,       /* requests (streams) */
  LB_H2_CLIENT_RESETS, /* RST_STREAM frames from clients */
  LB_H2_RAPID_RESET,   /* connections sent GOAWAY ENHANCE_YOUR_CALM for too many resets */
  LB_H2_CONTINUATION,  /* connections ended for a CONTINUATION flood */
  LB_H2_HEADERS_LARGE, /* streams answered 431 (header list over the limits) */
  LB_H2_FLOOD,         /* connections nghttp2 found flooding (SETTINGS, PING, empty frames...) */
  LB_H2_PROTOCOL,      /* connections ended by a protocol error */
  LB_H2_HPACK_BOMB,    /* connections sent GOAWAY for a header list decoded far over the limit */
  LB_H2_WEBSOCKETS,    /* WebSockets opened on a stream (extended CONNECT answered 200) */
  LB_H2_STREAMS_OVER,  /* streams over h2-max-concurrent-streams (refused, or GOAWAY once acked) */
  LB_H2_NCOUNTERS
};
extern const char *const lb_stats_h2_names[LB_H2_NCOUNTERS];

/* Protocols of client requests (/stats "protocols", /metrics journey_lb_requests_by_proto_total). */
enum { LB_PROTO_HTTP1 = 0, LB_PROTO_H2, LB_PROTO_COUNT };
extern const char *const lb_stats_proto_names[LB_PROTO_COUNT];

typedef struct lb_stats {
  const char *version;
  const char *build;      /* compiler, OpenSSL and libuv versions */
  uint64_t start_unix_s;  /* process start, wall clock */
  int draining;
  uint64_t uptime_s;
  uint64_t connections_active;
  uint64_t tunnels_open, tunnels_total; /* WebSocket tunnels: now, since start */
  uint64_t reloads, reload_failures;
  uint64_t h2[LB_H2_NCOUNTERS];
  uint64_t requests_by_proto[LB_PROTO_COUNT];
  uint64_t h2_conns_open, h2_streams_open;
  int nlisteners;
  lb_stats_listener *listeners;
  int npools;
  lb_stats_pool *pools;
  int nrecent;               /* newest first */
  lb_stats_request *recent;
} lb_stats;

/* Admin decisions. 1 when the peer is Azure's health probe source (168.63.129.16): its probes
 * are kept out of the access log. */
int lb_admin_is_azure_probe(const char *ip);
/* /healthz: 200 while not draining and at least one pool has a server UP, else 503; reason set. */
int lb_admin_healthz(int draining, int pools_with_up, const char **reason);

/* Append to b; return 0, or -1 when b's cap was reached (output incomplete). */
int lb_stats_json(const lb_stats *s, jc_buf *b);
int lb_stats_prometheus(const lb_stats *s, jc_buf *b);
/* Responses of class cls (4: 4xx, 5: 5xx) in v->status. */
uint64_t lb_stats_class(const lb_stats_server *v, int cls);
/* {"requests":[...]}: the recent requests, newest first. */
int lb_stats_requests_json(const lb_stats *s, jc_buf *b);

/* JSON string and HTML text escaping, shared with the page (dashboard.c). */
int lb_stats_put_json_str(jc_buf *b, const char *s);

#endif
