/* The buffers a client connection borrows (client_buffers.h). */
#include "lb/proxy/client_buffers.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static char no_reqid[1]; /* c->ex.reqid without a lent head block: always "" (never written) */


int lb_client_reqbuf_get(lb_client *c) {
  if (c->ex.head)
    return 0;
  /* Block layout: path for the logs | request id | forwarded head | response head. The path and
   * the id share their page with the start of the forwarded head: one page fewer touched per
   * request in flight. */
  char *blk =
      lb_bufpool_get(&c->ex.w->reqbufs, LB_REQ_PREFIX + LB_HEAD_CAP(&c->ex.w->rt->cfg) + LB_RESP_ROOM);
  if (!blk)
    return -1;
  c->ex.reqid = blk + LB_PATH_LOG_MAX;
  c->ex.reqid[0] = 0;
  blk[0] = 0; /* no path for the logs until a head is parsed */
  c->ex.head = blk + LB_REQ_PREFIX;
  c->ex.head_len = 0;
  lb_client_resp_place(c);
  return 0;
}

/* The response head starts where the forwarded head ends (rounded up), never over it (a retry
 * sends it again): small heads share a page, one page fewer touched per request in flight. */
void lb_client_resp_place(lb_client *c) {
  size_t off = (c->ex.head_len + 63) & ~(size_t)63;
  c->resp_head = c->ex.head + off;
  c->resp_cap = LB_HEAD_CAP(&c->ex.w->rt->cfg) + LB_RESP_ROOM - off;
}

void lb_client_reqbuf_put(lb_client *c) {
  if (!c->ex.head)
    return;
  if (c->resp_head)
    lb_bufpool_put(&c->ex.w->reqbufs, c->ex.head - LB_REQ_PREFIX);
  else
    free(c->ex.head - LB_REQ_PREFIX); /* a tunnel's note (lb_client_tunnel_shrink) */
  c->ex.head = c->resp_head = NULL;
  c->ex.reqid = no_reqid;
  c->ex.reqid_len = 0;
  c->ex.reqid_due = 0;
}

/* The note: the block's first LB_REQ_PREFIX bytes, where lb_client_path and ex.reqid already
 * point (relative to ex.head); resp_head NULL marks it. */
void lb_client_tunnel_shrink(lb_client *c) {
  char *note;
  if (!c->ex.tunnel_relay || !c->ex.head || !c->resp_head || !(note = malloc(LB_REQ_PREFIX)))
    return;
  memcpy(note, c->ex.head - LB_REQ_PREFIX, LB_REQ_PREFIX);
  lb_bufpool_put(&c->ex.w->reqbufs, c->ex.head - LB_REQ_PREFIX);
  c->ex.head = note + LB_REQ_PREFIX;
  c->ex.reqid = note + LB_PATH_LOG_MAX;
  c->ex.head_len = 0;
  c->resp_head = NULL;
  c->resp_cap = 0;
}

void lb_client_parser_reset(lb_client *c) {
  lb_h1_req_parser_init(&c->rx->parser, &c->h1);
  c->rx->pick.tried.n = 0;
}

/* Block layout: lb_client_rx (parser...) | header views | receive buffer. The block is lent only
 * at a request boundary (nothing buffered, nothing parsed), so a fresh parser is all it needs. */
int lb_client_rxbuf_get(lb_client *c) {
  if (c->in)
    return 0;
  size_t rx_sz = (sizeof(lb_client_rx) + 15) & ~(size_t)15;
  size_t hdrs_sz = sizeof(lb_header) * c->h1.max_hdrs;
  char *blk = lb_bufpool_get(&c->ex.w->rxbufs, rx_sz + hdrs_sz + c->in_cap);
  if (!blk)
    return -1;
  c->rx = (lb_client_rx *)(void *)blk;
  c->ex.pick = &c->rx->pick;
  c->h1.hdrs = (lb_header *)(void *)(blk + rx_sz);
  c->in = blk + rx_sz + hdrs_sz;
  lb_client_parser_reset(c);
  return 0;
}

void lb_client_rxbuf_put(lb_client *c) {
  if (!c->in)
    return;
  lb_bufpool_put(&c->ex.w->rxbufs, (char *)c->rx);
  c->in = NULL;
  c->h1.hdrs = NULL;
  c->rx = NULL;
  c->ex.pick = NULL;
}

/* Between requests (or before the first, or in a tunnel) with no byte buffered: nothing points
 * into the buffer (header views and the target are per request), so it goes back to the worker. */
void lb_client_rxbuf_release_idle(lb_client *c) {
  if (c->in && !c->in_len &&
      (c->state == LB_C_IDLE || c->state == LB_C_TLS || c->state == LB_C_H2 || c->ex.tunnel_relay))
    lb_client_rxbuf_put(c);
}

void lb_worker_free_reqbufs(lb_worker *w) {
  lb_bufpool_free(&w->reqbufs);
  lb_bufpool_free(&w->rxbufs);
  lb_bufpool_free(&w->bconnbufs);
  lb_bufpool_free(&w->h2bufs);
  lb_bufpool_free(&w->h2outbufs);
  lb_bufpool_free(&w->h2streams);
  lb_h2_mem_cache_drain(&w->h2mem);
  lb_stream_loop_free(&w->sl);
}

void lb_client_buffers_init(lb_client *c) { c->ex.reqid = no_reqid; }

int lb_client_trailers_lend(lb_h1_req *r) {
  lb_client *c = (lb_client *)(void *)((char *)r - offsetof(lb_client, h1));
  const lb_config *cfg = &c->ex.w->rt->cfg;
  return lb_req_trailers_start(&r->trl, cfg->max_header_size, cfg->max_headers,
                               cfg->tls.cert_header, cfg->tls.cert_header_len);
}

void lb_client_trailers_put(lb_client *c) {
  free(c->h1.trl.buf);
  c->h1.trl.buf = NULL;
}

void lb_client_trailer_bytes_drop(lb_client *c) {
  size_t from = (size_t)(c->h1.trailers_at - c->in);
  c->h1.trailers_at = NULL;
  memmove(c->in + from, c->in + c->parse_off, c->in_len - c->parse_off);
  c->in_len -= c->parse_off - from;
  c->parse_off = from;
  if (c->h1.msg_done && c->h1.trl.kept) {
    c->ex.chunks.trailers = c->h1.trl.buf;
    c->ex.chunks.trailers_len = (uint32_t)c->h1.trl.len;
  }
}
