/* Workers (worker.c): one thread and one uv_loop each, started by main.c, stopped through
 * lb_worker_request_stop (uv_async: the only call another thread makes into a worker). */
#ifndef JOURNEY_LB_WORKER_H
#define JOURNEY_LB_WORKER_H

#include "lb/proxy/runtime.h"

int lb_worker_start(lb_worker *w);
void lb_worker_request_stop(lb_worker *w);

#endif
