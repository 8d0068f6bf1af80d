/* Backend connections (backend_pool.c): one lb_bconn serves one exchange at a time and otherwise
 * waits idle in its worker's pool (idle[pool][server], most recent first); its receive buffer is
 * lent only while an exchange is attached. The exchange (exchange.c) drives it. */
#ifndef JOURNEY_LB_BACKEND_POOL_H
#define JOURNEY_LB_BACKEND_POOL_H

#include "lb/core/deadline.h"
#include "lb/http/h1.h"
#include "lb/net/stream.h"
#include "lb/proxy/runtime.h"

#include <llhttp.h>

typedef struct lb_exchange lb_exchange;

#define LB_BCONN_HDRS 100 /* response header views (more: 502) */

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
  lb_exchange *ex;   /* the request it serves, NULL while idle */
  int handles;
  lb_bconn_state state;
  int writing;
  int reused;
  int reusable;
  uint64_t connect_start; /* uv_tcp_connect issued (connect-time histogram) */
  int got_bytes;     /* response bytes received for the current request */
  int head_written;  /* the request head went out on this connection */
  size_t body_inflight; /* request body bytes in the write in flight */
  int timed_out;
  uint64_t idle_since; /* loop time (ms) it went idle */

  llhttp_t parser;
  lb_h1_resp h1;     /* the response being parsed: views into rbuf, header views behind it */
  char *rbuf;        /* lent while a client is attached (lb_bconn_rbuf_get); NULL while idle;
                      * rcap bytes, then LB_BCONN_HDRS header views (lent with it, as only a
                      * response being parsed needs them) */
  size_t rcap, rlen, rparse;
  size_t body_start; /* first body byte not yet sent to the client; a tunnel: bytes in flight */
  const struct lb_tunnel_ops *tun; /* a tunnel's (tunnel.h), NULL otherwise */
  int tun_sending, tun_eof; /* a tunnel: bytes handed to the client; backend closed (2: error) */
  int tun_shut;             /* a tunnel: FIN sent to the backend (lb_tunnel_close_write) */
  int head_sent;
};


/* backend_pool.c */
lb_bconn *lb_pool_acquire(lb_worker *w, int pool, lb_server *s);
lb_bconn *lb_bconn_new(lb_worker *w, int pool, lb_server *s);
void lb_pool_release(lb_bconn *b);
int lb_bconn_rbuf_get(lb_bconn *b);
void lb_bconn_rbuf_put(lb_bconn *b);
void lb_bconn_close(lb_bconn *b);
void lb_pool_close_idle(lb_worker *w);
void lb_pool_sweep(lb_worker *w);

#endif
