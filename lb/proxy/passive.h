/* Passive health, the workers' half: per-request metrics and consecutive-failure counting on the
 * shared lb_server atomics. Reaching a threshold only pokes the control loop (rt->control_wakeup),
 * which alone decides an ejection (lb/control/health_check.c): the arrow points from the
 * control plane to these counters, never back. */
#ifndef JOURNEY_LB_PASSIVE_H
#define JOURNEY_LB_PASSIVE_H

#include "lb/proxy/runtime.h"

void lb_passive_connected(lb_runtime *rt, lb_server *s, uint64_t connect_us);
void lb_passive_connect_failed(lb_runtime *rt, int pool, lb_server *s);
void lb_passive_response(lb_runtime *rt, int pool, lb_server *s, int status);
/* A request of `pool`/`server` (indexes; -1 none) ended with status (0: no answer) after
 * done_us - start_us: the request-duration histogram and the status counters. */
void lb_passive_request_done(lb_runtime *rt, int pool, int server, int status, uint64_t start_us,
                             uint64_t done_us);

#endif
