/* The backend half of a tunnel (tunnel.c): after a backend's 101 to a request that asked for an
 * upgrade (WebSocket), its connection carries raw bytes to the client until it closes or stays
 * silent for tunnel-timeout. The exchange (exchange.c) starts it, relays the client's bytes the
 * other way and tells it when the client has taken what it was handed.
 *
 * Back-pressure: one send to the client at a time; what the backend sends meanwhile waits in the
 * connection's receive buffer, and reading stops when that is full. Memory: the receive buffer
 * is lent only while bytes wait, so an idle tunnel holds no buffer on this side. The connection
 * is never pooled again. The ops are the exchange's: this file knows only the backend connection
 * (so the arrow points from exchange.c to here). */
#ifndef JOURNEY_LB_TUNNEL_H
#define JOURNEY_LB_TUNNEL_H

#include "lb/proxy/backend_pool.h"

typedef struct lb_tunnel_ops {
  /* Backend bytes for the client: 0, or -1 when the client is gone (the tunnel is closed then);
   * lb_tunnel_sent follows once they are written. */
  int (*send)(lb_bconn *b, uv_buf_t *bufs, unsigned n);
  /* The tunnel is over on this side: the backend closed ("ok") or failed and everything it sent
   * is written, or nothing moved for tunnel-timeout ("tunnel-timeout", maybe with bytes still
   * on their way to a client that does not read). */
  void (*end)(lb_bconn *b, const char *term);
} lb_tunnel_ops;

/* The 101 is parsed: rbuf[rparse, rlen) is the start of the tunnel. Sends head (the 101 for the
 * client) and those bytes, then relays whatever the backend sends. */
void lb_tunnel_begin(lb_bconn *b, const lb_tunnel_ops *ops, uv_buf_t head);
/* What ops->send was given is written. */
void lb_tunnel_sent(lb_bconn *b);
/* The client will send nothing more (an HTTP/2 stream's END_STREAM) and all it sent is
 * written: FIN to the backend (after any write in flight); its answer still comes back. */
void lb_tunnel_close_write(lb_bconn *b);
/* Bytes went the other way: the idle deadline moves. */
void lb_tunnel_touch(lb_bconn *b);

#endif
