/* journey-lb runtime: what the workers share and the per-worker / per-connection structures.
 *
 * Ownership:
 *  - lb_runtime (main.c) owns the config copy, the pools (shared server state, atomics), the TLS
 *    contexts and the workers. It outlives every worker thread.
 *  - lb_worker (worker.c) owns its uv_loop, its listening sockets, its client connections and its
 *    backend connection pools. Nothing of a worker is touched by another thread except through
 *    uv_async_send (shutdown) and the atomics of lb_server.
 *  - lb_client (client_conn.c) is one client connection, freed in the close callback of its last
 *    handle. Its buffers are lent from per-worker free lists only while a request is in progress
 *    or bytes are buffered: an idle keep-alive connection holds the struct and its TLS session.
 *  - lb_bconn (backend_pool.c) is one backend connection, attached to at most one client at a time
 *    and otherwise idle in its worker's pool.
 * Issue 5 (health, DNS, admin, reload) builds on: lb_server.state (balancer skips non-UP),
 * lb_server counters, lb_runtime.stopping, and lb_worker_request_stop. */
#ifndef JOURNEY_LB_LB_H
#define JOURNEY_LB_LB_H

#include "common/blockpool.h"
#include "common/tls.h"
#include "lb/core/balancer/balancer.h"
#include "lb/core/config.h"
#include "lb/core/deadline.h"
#include "lb/core/rewrite.h"
#include "lb/core/timing.h"
#include "lb/net/tls_server.h"

#include <llhttp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

typedef struct lb_worker lb_worker;
typedef struct lb_client lb_client;
typedef struct lb_bconn lb_bconn;

/* A write completion delivered from the worker's idle handle instead of libuv's write queue:
 * uv_try_write succeeded whole, so no write request (and no epoll_ctl) was needed. */
typedef struct lb_deferred {
  struct lb_deferred *next, *prev; /* NULL when not queued */
  void (*cb)(struct lb_deferred *d);
} lb_deferred;

typedef struct lb_runtime {
  lb_config cfg;
  int npools;
  lb_pool pools[LB_MAX_POOLS];
  lb_tls_server tls;
  int nworkers;
  lb_worker *workers;
  atomic_int stopping;
  uint32_t max_clients_per_worker;

  /* Issue 5 (lb/control.h): control-plane hooks and counters. */
  _Atomic(lb_tls_server *) tls_live;  /* certificates reloaded by SIGHUP; NULL: `tls` */
  uv_async_t *control_wakeup;         /* passive checks poke the control loop */
  atomic_uint_fast64_t conns_active;
  atomic_uint_fast64_t listener_conns[LB_MAX_LISTENERS];
  atomic_uint_fast64_t listener_tls[LB_MAX_LISTENERS];
} lb_runtime;

/* Certificates for new connections: the reloaded set, or the one loaded at start. */
static inline SSL_CTX *lb_runtime_tls_default(lb_runtime *rt) {
  lb_tls_server *t = atomic_load_explicit(&rt->tls_live, memory_order_acquire);
  return lb_tls_server_default(t ? t : &rt->tls);
}

/* A per-worker free list of same-size blocks lent to connections (client_conn.c). */
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
  uv_idle_t idler;       /* runs deferred write completions */
  lb_deferred deferred;  /* sentinel of the circular list */
  int stopping;
  int nlisteners;
  uv_tcp_t listeners[LB_MAX_LISTENERS];
  int listener_fd[LB_MAX_LISTENERS];
  int listener_tls[LB_MAX_LISTENERS];
  int listener_paused[LB_MAX_LISTENERS]; /* accept pending: max connections reached */
  lb_client *clients;                    /* all client connections (list) */
  uint32_t nclients;
  uint64_t next_conn_id;
  lb_idle_list *idle[LB_MAX_POOLS]; /* idle[pool][server] */
  uint64_t rng[2];
  lb_bufpool reqbufs; /* free per-request head buffers (client_conn.c) */
  lb_bufpool rxbufs;  /* free receive buffers with their header views (client_conn.c) */
  lb_bufpool ioblks;  /* free lb_client_io (client_conn.c) */
  lb_bufpool bconnbufs; /* free backend receive buffers (backend_pool.c) */
  char tls_scratch[64 * 1024]; /* ciphertext read buffer: consumed within the read callback */
  char tls_record[16 * 1024];  /* head + body gathered into one TLS record */
  char tls_wscratch[64 * 1024]; /* ciphertext on its way to a client socket (client_conn.c) */
};

/* Client connection states. */
typedef enum {
  LB_C_TLS = 0,  /* TLS handshake */
  LB_C_IDLE,     /* waiting for the first byte of a request */
  LB_C_HEAD,     /* reading request headers */
  LB_C_PROXY,    /* request dispatched: body relay and response */
  LB_C_CLOSING
} lb_client_state;

#define LB_PATH_LOG_MAX 512
#define LB_REQID_MAX 136 /* a client's X-Request-Id (lb_request_id_valid) or a UUID, + NUL */
#define LB_RESP_ROOM (17 * 1024) /* response head room: a backend head larger than 16 KiB: 502 */
#define LB_PEER_MAX 56   /* "[" INET6_ADDRSTRLEN "]:65535" */

/* The per-request state that lives in the lent receive block (client_conn.c): it exists only
 * while the connection holds that block, i.e. from a request's first byte to its end (or while
 * bytes are buffered); an idle keep-alive connection has none. */
typedef struct lb_client_rx {
  llhttp_t parser; /* fresh (llhttp_init) each time the block is lent and after each request */
  lb_tried tried;  /* servers tried for this request */
  lb_key key;      /* its balancing key (hash pools), for retries: valid when has_key */
  int has_key;
} lb_client_rx;

/* Requests libuv holds while a write goes the slow way (the socket did not take it all) or the
 * FIN after the last response is queued: lent per worker (client_conn.c), not per connection. */
typedef struct lb_client_io {
  uv_write_t wreq;
  uv_shutdown_t sreq;
} lb_client_io;

struct lb_client {
  uv_tcp_t tcp;
  uv_timer_t timer; /* TLS/header/idle timeout */
  lb_deadline dl;   /* when it is due (lb/deadline.h) */
  lb_client_io *io; /* write/shutdown requests: lent only while libuv holds one */
  lb_deferred wdone;
  lb_worker *w;
  /* flags: one bit each (memory per idle connection) */
  unsigned tls_on : 1;
  unsigned writing : 1; /* a write to the client socket is in flight */
  unsigned reading : 1; /* uv_read_start active */
  unsigned close_after_send : 1; /* this response is the last one */
  unsigned send_pending : 1; /* lb_client_send issued: after_send when written */
  unsigned final_flush : 1; /* close once everything queued is written */
  unsigned lingering : 1; /* FIN sent after the last response; unread input is drained */
  unsigned peer_eof : 1;
  unsigned closing : 1;
  unsigned too_many_headers : 1;
  unsigned body_too_large : 1;
  unsigned head_done : 1, msg_done : 1;
  unsigned keep_alive : 1; /* client wants keep-alive */
  unsigned counted : 1; /* lb_server_begin done */
  unsigned reused_retry : 1; /* retried once on a fresh connection after a stale pooled one */
  unsigned backend_reused : 1; /* the last attempt used a pooled connection */
  unsigned resp_started : 1; /* response bytes sent to the client */
  unsigned reqid_due : 1; /* none taken or made yet: lb_client_request_id makes one when asked */
  lb_client *next, *prev;
  uint64_t id;
  int listener;     /* index of the listener that accepted it (stats) */
  jc_tls tls;
  int handles;      /* open handles; freed when 0 */
  lb_client_state state;
  int nrequests;
  uint8_t peer_ip_off, peer_ip_len; /* the address alone: a slice of peer */
  char peer[LB_PEER_MAX];            /* "ip:port", "[v6]:port" or "unknown" */

  /* request parsing */
  lb_client_rx *rx;  /* parser and per-request state: the lent block's start (NULL with `in`) */
  char *in;          /* plaintext from the client (lent: NULL while idle with nothing buffered) */
  size_t in_cap, in_len;
  size_t req_off;    /* start of the current request */
  size_t parse_off;  /* bytes fed to llhttp */
  size_t body_off;   /* first body byte not yet forwarded */
  lb_header *hdrs;   /* header views: lent with `in`, in the same block */
  uint32_t nhdrs, max_hdrs;
  int hdr_state;     /* 0 none, 1 in name, 2 in value */
  const char *url;
  size_t url_len;
  lb_framing req_framing;
  uint64_t body_bytes;

  /* current request */
  lb_timing t;
  int method;        /* llhttp_method */
  int http_minor;
  int pool;          /* -1 when answered locally */
  int server;        /* index in pool, -1 none */
  int retries;
  int status;
  uint64_t bytes_in, bytes_out;
  const char *term;  /* termination reason for the log */
  const char *path;  /* target for the logs: "" or a copy in the lent head block */
  char *reqid;       /* in the lent head block (LB_REQID_MAX); a shared "" without one */
  size_t reqid_len;
  lb_bconn *b;

  char *head_out;    /* forwarded request head (lent per request, NULL between requests) */
  size_t head_cap, head_len;
  char *resp_head;   /* response head to the client (or a whole local response): placed by */
  size_t resp_cap;   /* lb_client_resp_place right after the forwarded head, in the same block */

  char *tls_out;     /* ciphertext being written */
  size_t tls_out_cap;
};

typedef enum {
  LB_B_CONNECTING = 0,
  LB_B_SENDING,      /* head (and body) being written */
  LB_B_WAITING,      /* waiting for response / relaying */
  LB_B_IDLE,         /* in the pool */
  LB_B_CLOSING
} lb_bconn_state;

struct lb_bconn {
  uv_tcp_t tcp;
  uv_timer_t timer;  /* connect / response / idle timeout */
  lb_deadline dl;    /* when it is due (lb/deadline.h) */
  uv_connect_t creq;
  uv_write_t wreq;
  lb_deferred wdone;
  lb_worker *w;
  lb_server *server;
  unsigned server_gen; /* server->generation at connect: a reused slot is another server */
  int pool;
  lb_bconn *next_idle, *prev_idle;
  lb_client *c;
  int handles;
  lb_bconn_state state;
  int writing;
  int reused;
  int reusable;
  uint64_t connect_start; /* uv_tcp_connect issued (connect-time histogram) */
  int got_bytes;     /* response bytes received for the current request */
  int head_written;  /* the request head went out on this connection */
  size_t body_end;   /* client body bytes up to here are in the write in flight */
  int timed_out;
  uint64_t idle_since; /* loop time (ms) it went idle */

  llhttp_t parser;
  char *rbuf;        /* lent while a client is attached (lb_bconn_rbuf_get); NULL while idle */
  size_t rcap, rlen, rparse;
  size_t body_start; /* first body byte not yet sent to the client */
  size_t dechunk;    /* in-place decoded body end (HTTP/1.0 client, chunked response) */
  int dechunk_on;
  lb_header hdrs[100];
  uint32_t nhdrs;
  int hdr_state;
  const char *reason;
  size_t reason_len;
  int head_ready, head_sent, msg_ready, skip_body;
  lb_framing framing;
};

/* worker.c */
char *lb_bufpool_get(lb_bufpool *p, size_t size); /* malloc when the list is empty */
void lb_bufpool_put(lb_bufpool *p, char *blk);
void lb_bufpool_free(lb_bufpool *p);
int lb_worker_start(lb_worker *w);
void lb_worker_request_stop(lb_worker *w);
void lb_worker_client_gone(lb_worker *w);
uint64_t lb_worker_random(lb_worker *w);
void lb_worker_defer(lb_worker *w, lb_deferred *d, void (*cb)(lb_deferred *d));
void lb_worker_undefer(lb_deferred *d);
/* Writes bufs: uv_try_write first (the common case: all of it, no write request, completion
 * deferred to the idle handle), uv_write for what the socket did not take. Returns 0 or a uv
 * error. Completion: done(d) when everything went at once, else cb(req, status); the owner
 * calls lb_worker_undefer(d) when it closes. */
int lb_stream_write(lb_worker *w, uv_stream_t *s, uv_write_t *req, lb_deferred *d,
                    void (*done)(lb_deferred *d), uv_buf_t *bufs, unsigned n, uv_write_cb cb);
/* lb_stream_write's first half: 1 when everything went (done(d) deferred), 0 when bufs[*first..n)
 * (adjusted) are still to be written with uv_write, or a uv error. */
int lb_stream_try_write(lb_worker *w, uv_stream_t *s, lb_deferred *d, void (*done)(lb_deferred *d),
                        uv_buf_t *bufs, unsigned n, unsigned *first);

/* client_conn.c */
void lb_client_accept(lb_worker *w, uv_stream_t *server, int tls);
void lb_client_begin_stop(lb_client *c);
void lb_worker_free_reqbufs(lb_worker *w);
void lb_client_close(lb_client *c, const char *why);
/* Sends bufs to the client (encrypting on TLS); lb_proxy_on_client_sent follows. */
int lb_client_send(lb_client *c, uv_buf_t *bufs, unsigned n);
/* A complete local response (error or 404), then keep-alive or close. */
void lb_client_local_response(lb_client *c, int status, const char *body, int keep_alive,
                              const char *term);
/* The response is fully sent: log, then the next request or close. */
void lb_client_request_done(lb_client *c);
/* The request's id for logs: the client's X-Request-Id, else a UUID made at the first call
 * ("" before the head is complete). Made eagerly only with --request-id on. */
const char *lb_client_request_id(lb_client *c);
/* Places resp_head (and resp_cap) in the lent head block, after the forwarded head. */
void lb_client_resp_place(lb_client *c);
/* More request body may be read (backend write finished). */
void lb_client_body_sent(lb_client *c);

/* proxy.c */
void lb_proxy_dispatch(lb_client *c);
void lb_proxy_send_body(lb_client *c);
void lb_proxy_on_client_sent(lb_client *c);
void lb_proxy_detach(lb_client *c, int reusable);

/* backend_pool.c */
lb_bconn *lb_pool_acquire(lb_worker *w, int pool, lb_server *s);
lb_bconn *lb_bconn_new(lb_worker *w, int pool, lb_server *s);
void lb_pool_release(lb_bconn *b);
int lb_bconn_rbuf_get(lb_bconn *b);
void lb_bconn_close(lb_bconn *b);
void lb_pool_close_idle(lb_worker *w);
void lb_pool_sweep(lb_worker *w);

/* passive.c: worker-side hooks of the control plane (issue 5); cheap, lock-free. */
void lb_passive_connected(lb_runtime *rt, lb_server *s, uint64_t connect_us);
void lb_passive_connect_failed(lb_runtime *rt, int pool, lb_server *s);
void lb_passive_response(lb_runtime *rt, int pool, lb_server *s, int status);
void lb_passive_request_done(lb_client *c);

/* access_log.c */
void lb_access_log(lb_client *c);
void lb_debug_phase(lb_client *c, const char *phase, uint64_t now);

#endif
