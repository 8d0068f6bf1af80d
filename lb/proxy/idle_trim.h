/* Memory a burst left behind goes back once a worker is quiet (idle_trim.c). */
#ifndef JOURNEY_LB_IDLE_TRIM_H
#define JOURNEY_LB_IDLE_TRIM_H

#include "lb/proxy/runtime.h"

/* The tick: longer than LB_STREAM_REST_MS and LB_H2_RELEASE_MS, so the idle connections have
 * freed their own buffers (OpenSSL's record buffers, the h2 session's pages) before the heap
 * is trimmed. A worker is quiet after one whole tick without a finished request, a new
 * connection or a block lent from its lists: its memory goes back 300-600 ms after the last
 * request. */
#define LB_IDLE_TRIM_MS 300

/* Starts / closes the worker's trim timer (on its loop, from its thread). */
void lb_idle_trim_start(lb_worker *w);
void lb_idle_trim_close(lb_worker *w);

#endif
