/* journey-backend server: listeners, workers (one libuv loop per thread), connections,
 * keep-alive, pipelining, timeouts and graceful drain. The decisions (which response, which
 * bytes) are in routes.c; this file wires them to sockets.
 *
 * Life cycle (main.c):
 *   be_server_create()   binds every --listen address for every worker (errors reported here,
 *                        before anything runs) and logs "listening addr=..." for each
 *   be_server_start()    starts the worker threads
 *   be_server_drain()    from any thread (signal handler loop): stop accepting, finish in-flight
 *                        requests, close; force=1 cuts in-flight requests short
 *   be_server_destroy()  joins the threads and frees everything; call after `done` fired once
 *                        per worker (each worker uv_async_send()s it as it exits). */
#ifndef JOURNEY_BACKEND_SERVER_H
#define JOURNEY_BACKEND_SERVER_H

#include "backend/options.h"

#include <uv.h>

typedef struct be_server be_server;

/* 0, or -1 with the reason in err (nothing left allocated). */
int be_server_create(be_server **out, const be_options *o, uv_async_t *done, char *err,
                     size_t errlen);
/* 0, or -1 with the reason in err (workers already started are drained). */
int be_server_start(be_server *s, char *err, size_t errlen);
void be_server_drain(be_server *s, int force);
/* 1 when every worker has exited. */
int be_server_finished(be_server *s);
void be_server_destroy(be_server *s);

/* The health state behind /health, shared by all workers (atomic). */
void be_health_set(int healthy, const char *why);
int be_health_get(void);

#endif
