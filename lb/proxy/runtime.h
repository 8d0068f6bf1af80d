/* journey-lb's runtime: what the workers share and what each worker owns (the types; the
 * worker's life is worker.h).
 *
 * Ownership:
 *  - lb_runtime (main.c) owns the config copy, the pools (shared server state, atomics), the TLS
 *    contexts and the workers. It outlives every worker thread.
 *  - lb_worker (worker.c) owns its uv_loop, its listening sockets, its client connections
 *    (client_conn.h), its backend connection pools (backend_pool.h) and the free lists of the
 *    blocks lent per request. Nothing of a worker is touched by another thread except through
 *    uv_async_send (shutdown) and the atomics of lb_server.
 * The control plane (lb/control) builds on: lb_server.state (balancer skips non-UP), lb_server
 * counters, lb_runtime.stopping, and lb_worker_request_stop. */
#ifndef JOURNEY_LB_RUNTIME_H
#define JOURNEY_LB_RUNTIME_H

#include "common/blockpool.h"
#include "lb/core/recent.h"
#include "lb/core/balancer/balancer.h"
#include "lb/core/config.h"
#include "lb/core/stats.h"
#include "lb/http/h2_mem.h"
#include "lb/net/stream.h"
#include "lb/net/tls_server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

typedef struct lb_worker lb_worker;
typedef struct lb_client lb_client;
typedef struct lb_bconn lb_bconn;

typedef struct lb_runtime {
  lb_config cfg;
  int npools;
  lb_pool pools[LB_MAX_POOLS];
  lb_tls_server tls;
  int nworkers;
  lb_worker *workers;
  atomic_int stopping;
  uint32_t max_clients_per_worker;

  /* Control-plane hooks and counters (lb/control/control.h). */
  _Atomic(lb_tls_server *) tls_live;  /* certificates reloaded by SIGHUP; NULL: `tls` */
  uv_async_t *control_wakeup;         /* passive checks poke the control loop */
  atomic_uint_fast64_t conns_active;
  atomic_uint_fast64_t tunnels_open, tunnels_total; /* WebSocket tunnels (tunnel.c) */
  atomic_uint_fast64_t listener_conns[LB_MAX_LISTENERS];
  atomic_uint_fast64_t listener_tls[LB_MAX_LISTENERS];
  /* HTTP/2 (h2_conn.c): connections, streams, and what each limit refused (/metrics). */
  atomic_uint_fast64_t h2[LB_H2_NCOUNTERS];
  atomic_uint_fast64_t h2_conns_open, h2_streams_open; /* now (h2_conn.c, h2_stream.c) */
  atomic_int workers_quiet; /* workers with nothing to do: at nworkers the heap is trimmed
                             * (idle_trim.c) */
} lb_runtime;

/* Certificates for new connections: the reloaded set, or the one loaded at start. */
static inline SSL_CTX *lb_runtime_tls_default(lb_runtime *rt) {
  lb_tls_server *t = atomic_load_explicit(&rt->tls_live, memory_order_acquire);
  return lb_tls_server_default(t ? t : &rt->tls);
}

/* A worker's access log lines, written to stdout once per loop iteration (access_log.c). */
typedef struct lb_logbuf {
  uv_prepare_t flush; /* runs after the iteration's callbacks, before the loop waits */
  char *buf;
  size_t len, cap;
} lb_logbuf;

/* A per-worker free list of same-size blocks lent to connections (client_buffers.c). */
typedef jc_blockpool lb_bufpool;

/* Idle backend connections of one server in one worker (most recent first). */
typedef struct lb_idle_list {
  lb_bconn *head;
  uint32_t count;
} lb_idle_list;


struct lb_worker {
  int id;
  lb_runtime *rt;
  pthread_t thread;
  uv_loop_t loop;
  uv_async_t wakeup; /* shutdown request from the main thread */
  uv_timer_t deadline;
  uv_timer_t sweep;      /* ages idle backend connections */
  uv_timer_t trim;       /* a burst's memory goes back once the worker is quiet (idle_trim.c) */
  uint64_t trim_seen;    /* requests finished + connections accepted at the last trim tick */
  int trim_quiet;        /* quiet since the last tick that saw work: released once */
  lb_stream_loop sl;     /* deferred write completions, lent write requests, scratch buffers
                          * (lb/net/stream.h) */
  lb_logbuf log;         /* access log lines not yet written */
  const struct lb_client_codec *h2; /* HTTP/2 (h2_conn.c), set by worker.c */
  int stopping;
  int nlisteners;
  uv_tcp_t listeners[LB_MAX_LISTENERS];
  int listener_fd[LB_MAX_LISTENERS];
  int listener_tls[LB_MAX_LISTENERS];
  int listener_paused[LB_MAX_LISTENERS]; /* accept pending: max connections or descriptors */
  int spare_fd; /* kept in reserve, given up when accept() fails with EMFILE (worker.c) */
  int fd_short; /* out of descriptors: accepting paused until one is free again */
  lb_client *clients;                    /* all client connections (list) */
  uint32_t nclients;
  uint64_t next_conn_id;
  lb_idle_list *idle[LB_MAX_POOLS]; /* idle[pool][server] */
  uint64_t rng[2];
  void (*client_gone)(lb_worker *w); /* set by worker.c: a client connection was freed */
  lb_bufpool reqbufs; /* free per-request head buffers (client_buffers.c) */
  lb_bufpool rxbufs;  /* free receive buffers with their header views (client_buffers.c) */
  lb_bufpool bconnbufs; /* free backend receive buffers (backend_pool.c) */
  lb_bufpool h2bufs;  /* free h2 stream request buffers (h2_stream.c), h2buf_size bytes each */
  size_t h2buf_size;
  lb_bufpool h2outbufs; /* free h2 output buffers (h2_conn.c) */
  lb_bufpool h2streams; /* free h2 stream structs (h2_stream.c) */
  lb_h2_mem_cache h2mem; /* free small blocks of the nghttp2 sessions (lb/http/h2_mem.h) */
  lb_recent_ring recent;         /* the last requests, for the admin page (lb/core/recent.h) */
  lb_lat_window *lat[LB_MAX_POOLS]; /* [pool][server]: last-minute latency per server */
  /* Requests by protocol (LB_PROTO_*), counted by lb_access_log. Only this worker writes them
   * (a relaxed load and store: no locked instruction per request); /stats sums the workers. */
  atomic_uint_fast64_t requests_by_proto[LB_PROTO_COUNT];
};


/* Per-worker free lists of same-size blocks (lb_bufpool):
 * LIFO (the block reused first is the one whose pages are resident), at most LB_BUFPOOL_KEEP
 * blocks kept each: enough for the requests a worker usually has in flight at once (64 h2
 * connections with 10 streams each are 640 requests, each holding a block of several lists),
 * while a burst beyond that gives its extra blocks back to the allocator instead of pinning
 * them for the process's life. A kept block costs only the pages it touched, and blocks no one
 * took are freed once the worker is quiet (idle_trim.c). */

#define LB_BUFPOOL_KEEP 1024

static inline char *lb_bufpool_get(lb_bufpool *p, size_t size) {
  return jc_blockpool_get(p, size); /* malloc when the list is empty */
}

static inline void lb_bufpool_put(lb_bufpool *p, char *blk) {
  jc_blockpool_put(p, blk, LB_BUFPOOL_KEEP);
}

static inline void lb_bufpool_free(lb_bufpool *p) { jc_blockpool_drain(p); }


/* xorshift128+: request ids, not secrets. */
static inline uint64_t lb_worker_random(lb_worker *w) {
  uint64_t s1 = w->rng[0];
  const uint64_t s0 = w->rng[1];
  w->rng[0] = s0;
  s1 ^= s1 << 23;
  w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
  return w->rng[1] + s0;
}

#endif
