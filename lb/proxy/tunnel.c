/* The backend half of a tunnel (tunnel.h): raw bytes from the backend to the client, one send
 * in flight, an idle deadline shared by both directions. */
#include "lb/proxy/tunnel.h"

#include <stdlib.h>
#include <string.h>

static void on_tunnel_timeout(uv_timer_t *t) {
  lb_bconn *b = t->data;
  if (!lb_deadline_reached(t, &b->dl))
    return;
  b->tun->end(b, "tunnel-timeout");
}

void lb_tunnel_touch(lb_bconn *b) {
  lb_deadline_set(&b->timer, &b->dl, on_tunnel_timeout, b->w->rt->cfg.tunnel_timeout);
}

/* The receive buffer is lent for each read and given back when nothing waits in it. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  lb_bconn *b = h->data;
  if (lb_bconn_rbuf_get(b) != 0) {
    *buf = uv_buf_init(NULL, 0); /* on_read gets UV_ENOBUFS: the tunnel ends */
    return;
  }
  *buf = uv_buf_init(b->rbuf + b->rlen, (unsigned)(b->rcap - b->rlen));
}

/* Hands what waits to the client, or ends the tunnel once the backend has closed and everything
 * it sent is written, or gives the buffer back. */
static void relay(lb_bconn *b) {
  if (b->tun_sending || b->state == LB_B_CLOSING)
    return;
  if (b->rlen) {
    b->tun_sending = 1;
    b->body_start = b->rlen;
    uv_buf_t u = uv_buf_init(b->rbuf, (unsigned)b->rlen);
    b->tun->send(b, &u, 1);
    return;
  }
  lb_bconn_rbuf_put(b); /* idle: an idle tunnel holds no buffer here */
  if (b->tun_eof)
    b->tun->end(b, b->tun_eof == 1 ? "ok" : "backend-reset");
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  lb_bconn *b = s->data;
  if (b->state == LB_B_CLOSING)
    return;
  if (nread < 0) {
    uv_read_stop(s);
    b->tun_eof = nread == UV_EOF ? 1 : 2;
  } else if (nread > 0) {
    b->rlen += (size_t)nread;
    lb_tunnel_touch(b);
    if (b->rlen == b->rcap)
      uv_read_stop(s); /* the client is slow: the backend waits (back-pressure) */
  }
  relay(b);
}

/* The first n bytes of the receive buffer are done with: the rest moves to the front. */
static void drop_front(lb_bconn *b, size_t n) {
  size_t rest = b->rlen - n;
  if (rest && n)
    memmove(b->rbuf, b->rbuf + n, rest);
  b->rlen = rest;
}

static void read_on(lb_bconn *b) {
  if (!b->tun_eof && b->rlen < b->rcap)
    uv_read_start((uv_stream_t *)&b->tcp, on_alloc, on_read); /* UV_EALREADY when reading */
}

void lb_tunnel_begin(lb_bconn *b, const lb_tunnel_ops *ops, uv_buf_t head) {
  atomic_fetch_add_explicit(&b->w->rt->tunnels_open, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&b->w->rt->tunnels_total, 1, memory_order_relaxed);
  b->tun = ops; /* open until the connection closes (lb_bconn_close) */
  b->tun_eof = b->tun_shut = 0;
  b->reusable = 0;
  b->state = LB_B_WAITING;
  uv_read_stop((uv_stream_t *)&b->tcp); /* the response's read callbacks end here */
  drop_front(b, b->rparse);              /* the 101's own bytes */
  b->rparse = 0;
  lb_tunnel_touch(b);
  read_on(b);
  uv_buf_t bufs[2] = {head, uv_buf_init(b->rbuf, (unsigned)b->rlen)};
  b->tun_sending = 1;
  b->body_start = b->rlen;
  ops->send(b, bufs, b->rlen ? 2 : 1);
}

void lb_tunnel_sent(lb_bconn *b) {
  b->tun_sending = 0;
  drop_front(b, b->body_start);
  b->body_start = 0;
  read_on(b);
  relay(b);
}

/* The request is freed here, also when the close of the connection cancels it. */
static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

void lb_tunnel_close_write(lb_bconn *b) {
  if (b->tun_shut || b->state == LB_B_CLOSING)
    return;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req)
    return; /* the FIN is not sent: the tunnel idles out as before */
  b->tun_shut = 1;
  if (uv_shutdown(req, (uv_stream_t *)&b->tcp, on_shutdown) != 0)
    free(req);
}
