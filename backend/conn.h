/* journey-backend's worker and connection structures, shared by server.c (workers, listeners,
 * timers, drain) and conn.c (one connection: parsing, answering, I/O, the WebSocket after a
 * 101). Internal to journey-backend: server.h is the public face.
 *
 * Ownership: a worker owns its connections (a list); a connection is freed in the close
 * callback of its last handle, which then calls w->conn_gone so the worker can finish a drain.
 * Arrows: server.c -> conn.c -> request_head.c, routes.c, ws_handshake.c, websocket.c. */
#ifndef JOURNEY_BACKEND_CONN_H
#define JOURNEY_BACKEND_CONN_H

#include "backend/accesslog.h"
#include "backend/options.h"
#include "backend/request_head.h"
#include "backend/routes.h"
#include "backend/server.h"
#include "backend/websocket.h"
#include "common/addr.h"
#include "common/buf.h"

#include <llhttp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

/* One read buffer per worker, shared by its connections: llhttp is a streaming parser, so
 * bytes need not outlive the read callback except what a paused parser has not reached yet,
 * which goes to a per-connection stash (rare: only behind a --delay-ms response or a client
 * that does not read its responses). Idle connections therefore hold no read buffer. */
#define READ_BUF_SIZE (64 * 1024)
#define OUT_HIGH_WATER (64 * 1024) /* queued response bytes above which parsing pauses */
#define OUT_CAP (OUT_HIGH_WATER + 4 * BE_RESPONSE_MAX)
#define LINGER_MS 2000    /* after a closing response: read and drop what the client still sends */

typedef struct be_worker be_worker;

typedef struct be_listener {
  uv_tcp_t tcp;
  be_worker *w;
  be_identity id;
  char addr[JC_ADDRSTR_MAX];
} be_listener;

typedef struct be_conn {
  uv_tcp_t tcp;
  uv_timer_t delay;
  uv_write_t wreq;
  uv_shutdown_t sreq;
  be_worker *w;
  be_listener *l;
  struct be_conn *prev, *next;
  llhttp_t parser;
  int handles_open; /* close callbacks still to come before the memory is freed */
  char peer[JC_ADDRSTR_MAX];
  int peer_loopback;
  uint64_t last_active; /* uv_now() of the last read or completed write */

  /* The request being parsed. */
  int in_request;
  uint64_t req_start_ms;
  uint64_t req_start_us;
  be_head head; /* what the parser kept of the request (request_head.c) */

  /* After a 101 on /ws: the echo session (websocket.c), fed by on_read, drained by writes. */
  be_ws *ws;
  uint64_t ws_start_us;
  uint64_t ws_close_at; /* uv_now() when the server sent its own close (drain, idle) */

  /* Ordering: a delayed response pauses the parser, so later pipelined requests wait. */
  be_decision pending;
  int delaying;
  int paused; /* llhttp returned HPE_PAUSED: resume when the delay ends or output drains */
  char *stash; /* bytes read but not parsed while paused */
  size_t stash_off, stash_len;

  /* Output: responses are assembled in `out`; `wbuf` is what an uv_write is sending. */
  jc_buf out, wbuf;
  int writing;
  int reading; /* uv_read_start is in effect */
  uint64_t write_start;
  int close_after; /* close once the output is written: Connection: close, errors, drain */
  int eof;         /* the client shut its sending side */
  int lingering;   /* FIN sent, dropping input until EOF or LINGER_MS */
  uint64_t linger_start;
  int closing;
} be_conn;

struct be_worker {
  void (*conn_gone)(be_worker *w); /* a connection was freed (the drain may be over) */
  be_server *srv;
  const be_options *opt;
  int index;
  uv_loop_t loop;
  int loop_ready;
  uv_thread_t thread;
  int thread_started;
  be_listener listeners[BE_MAX_LISTEN];
  int n_listeners;
  uv_timer_t tick;     /* Date header, timeouts, drain deadline */
  uv_prepare_t flush;  /* access log: one write per loop iteration */
  uv_async_t wake;     /* drain requests from the signal thread */
  atomic_int drain_req; /* 0 none, 1 drain, 2 cut in-flight requests */
  int draining;
  int stopping;
  uint64_t drain_deadline;
  be_conn *conns;
  size_t n_conns;
  char date[64];
  time_t date_sec;
  uint64_t rng;
  be_accesslog log;
  char scratch[BE_RESPONSE_MAX];
  char readbuf[READ_BUF_SIZE];
};

struct be_server {
  be_options opt;
  uv_async_t *done;
  int n_workers;
  be_worker *workers[BE_MAX_WORKERS];
  atomic_int exited;
  int record_fd; /* --record: O_APPEND, so writes from several workers do not interleave */
};

/* The listeners' connection callback: accepts and starts reading. */
void be_conn_accept(uv_stream_t *server, int status);
/* Called by the worker's tick: idle keep-alive, slow requests (408), clients that stopped
 * reading, linger, WebSocket idle and unanswered closes. */
void be_conn_tick(be_conn *c, uint64_t now);
/* The worker drains: idle connections close now, busy ones after their response (which says
 * Connection: close), WebSockets get a close 1001. */
void be_conn_drain(be_conn *c);
void be_conn_close(be_conn *c);

#endif
