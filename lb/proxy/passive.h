/* Passive health, the workers' half: per-request metrics and consecutive-failure counting on the
 * shared lb_server atomics. Reaching a threshold only pokes the control loop (rt->control_wakeup),
 * which alone decides an ejection (lb/control/slots.c): the arrow points from the
 * control plane to these counters, never back. */
#ifndef JOURNEY_LB_PASSIVE_H
#define JOURNEY_LB_PASSIVE_H

#include "lb/proxy/runtime.h"

void lb_passive_connected(lb_runtime *rt, lb_server *s, uint64_t connect_us);
void lb_passive_connect_failed(lb_runtime *rt, int pool, lb_server *s);
void lb_passive_response(lb_runtime *rt, int pool, lb_server *s, int status);

/* A finished request for the admin page (lb/core/recent.h): into the worker's recent ring and
 * its server's last-minute latency window. */
typedef struct lb_recent_req {
  const lb_timing *t;
  int status, pool, server, method, retries, backend_reused;
  const char *id; /* LB_REQID_MAX readable bytes when id_len > 0 */
  uint32_t id_len;
  const char *path; /* "" or the lent head block's start (LB_PATH_LOG_MAX bytes) */
  size_t path_len;
  int proto; /* LB_PROTO_HTTP1, LB_PROTO_H2 */
} lb_recent_req;
void lb_passive_recent(lb_worker *w, const lb_recent_req *r);
/* A request ended (status 0: no answer; pool/server -1: none): the request-duration histogram,
 * the status counters, then lb_passive_recent. */
void lb_passive_request_done(lb_worker *w, const lb_recent_req *r);

#endif
