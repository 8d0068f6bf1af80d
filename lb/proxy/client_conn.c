/* Client connection state machine: TLS handshake -> idle -> request headers -> proxy -> idle ...
 *
 * A connection's buffers (the receive buffer (max-header-size + 16 KiB) with the header views,
 * the forwarded request head and the response head) are lent from per-worker free lists while
 * it needs them (see "lent buffers"): no allocation per request, little memory per idle one.
 * Requests are parsed with llhttp in strict mode, paused at the end of the headers and at the end
 * of each message, so that body bytes are relayed raw (slices of the receive buffer) and
 * pipelined requests wait in the buffer until the previous response is sent (responses in order).
 * Plaintext writes are writev of the head and a body slice; TLS writes go through the memory BIO
 * engine (common/tls.h), at most one socket write in flight. */
#include "lb/proxy/client_conn.h"
#include "lb/proxy/access_log.h"
#include "lb/core/framing.h"
#include "lb/core/request_check.h"
#include "lb/core/request_policy.h"
#include "lb/proxy/passive.h"

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LB_BODY_ROOM (16 * 1024)

static void client_process(lb_client *c);
static void resp_place(lb_client *c);
static void local_response(lb_client *c, int status, const char *body, int keep_alive,
                           const char *term);
static void request_done(lb_client *c);
static void body_sent(lb_client *c);
static void tls_flush(lb_client *c);

/* ---- lent buffers ----
 * A connection holds buffers only while it needs them, lent from per-worker free lists, so an
 * idle keep-alive connection keeps just lb_client (and its TLS session) and no request
 * allocates once the lists are warm:
 *  - the receive buffer with its header views, the llhttp parser and the servers tried
 *    (~35 KiB, lb_client_rx first): taken at the first byte of a request, given back when the
 *    connection is idle with nothing buffered (a pipelined request that arrived early keeps it);
 *  - the target copied for the logs, the request id, the forwarded request head and the response
 *    head (~34 KiB): taken when a request head is complete (or a local response is due), given
 *    back when the response is written;
 *  - the write and shutdown requests (lb_client_io): only while libuv holds one.
 * The lists (lb_bufpool, worker.c) are LIFO and capped. */


static char no_reqid[1]; /* c->ex.reqid without a lent head block: always "" (never written) */


static int reqbuf_get(lb_client *c) {
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
  resp_place(c);
  return 0;
}

/* The response head starts where the forwarded head ends (rounded up), never over it (a retry
 * sends it again): small heads share a page, one page fewer touched per request in flight. */
static void resp_place(lb_client *c) {
  size_t off = (c->ex.head_len + 63) & ~(size_t)63;
  c->resp_head = c->ex.head + off;
  c->resp_cap = LB_HEAD_CAP(&c->ex.w->rt->cfg) + LB_RESP_ROOM - off;
}

static void reqbuf_put(lb_client *c) {
  if (!c->ex.head)
    return;
  lb_bufpool_put(&c->ex.w->reqbufs, c->ex.head - LB_REQ_PREFIX);
  c->ex.head = c->resp_head = NULL;
  c->ex.reqid = no_reqid;
  c->ex.reqid_len = 0;
  c->ex.reqid_due = 0;
}

/* The write and shutdown requests, lent only while libuv holds one of them. */
static lb_client_io *io_get(lb_client *c) {
  if (!c->io)
    c->io = (lb_client_io *)(void *)lb_bufpool_get(&c->ex.w->ioblks, sizeof(lb_client_io));
  return c->io;
}

static void io_put(lb_client *c) {
  if (c->io) {
    lb_bufpool_put(&c->ex.w->ioblks, (char *)c->io);
    c->io = NULL;
  }
}

static void parser_reset(lb_client *c) {
  lb_h1_req_parser_init(&c->rx->parser, &c->h1);
  c->rx->pick.tried.n = 0;
}

/* Block layout: lb_client_rx (parser...) | header views | receive buffer. The block is lent only
 * at a request boundary (nothing buffered, nothing parsed), so a fresh parser is all it needs. */
static int rxbuf_get(lb_client *c) {
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
  parser_reset(c);
  return 0;
}

static void rxbuf_put(lb_client *c) {
  if (!c->in)
    return;
  lb_bufpool_put(&c->ex.w->rxbufs, (char *)c->rx);
  c->in = NULL;
  c->h1.hdrs = NULL;
  c->rx = NULL;
  c->ex.pick = NULL;
}

/* Between requests (or before the first) with no byte buffered: nothing points into the
 * buffer (header views and the target are per request), so it goes back to the worker. */
static void rxbuf_release_idle(lb_client *c) {
  if (c->in && c->in_len == 0 && (c->state <= LB_C_IDLE || c->state == LB_C_H2))
    rxbuf_put(c);
}

void lb_worker_free_reqbufs(lb_worker *w) {
  lb_bufpool_free(&w->reqbufs);
  lb_bufpool_free(&w->rxbufs);
  lb_bufpool_free(&w->ioblks);
  lb_bufpool_free(&w->bconnbufs);
}

/* ---- lifetime ---- */

/* What the logs say about the connection a request came on. */
const lb_log_conn *lb_client_log_conn(const lb_client *c, lb_log_conn *lc) {
  lc->id = c->id;
  lc->peer = c->peer;
  lc->path = lb_client_path(c);
  lc->ssl = c->tls_on ? c->tls.ssl : NULL;
  lc->stream = 0;
  return lc;
}

static void on_closed(uv_handle_t *h) {
  lb_client *c = h->data;
  if (--c->handles > 0)
    return;
  if (c->tls_on)
    jc_tls_free(&c->tls);
  reqbuf_put(c);
  rxbuf_put(c);
  io_put(c); /* libuv has called back every request of the closed handle */
  free(c->tls_out);
  free(c);
}

void lb_client_close(lb_client *c, const char *why) {
  lb_log_conn lc;
  if (c->closing)
    return;
  c->closing = 1;
  lb_worker *w = c->ex.w;
  if (c->state == LB_C_PROXY || (c->state == LB_C_HEAD && c->h1.head_done)) {
    if (!c->ex.term)
      c->ex.term = why;
    if (!c->ex.t.done)
      c->ex.t.done = jc_now_us();
    lb_access_log(&c->ex, lb_client_log_conn(c, &lc));
  }
  if (c->ex.b || c->ex.counted)
    lb_exchange_detach(&c->ex, 0);
  if (c->h2)
    w->h2->gone(c); /* every stream ends (and is logged) with the connection */
  c->state = LB_C_CLOSING;
  lb_stream_undefer(&c->wdone);
  if (jc_log_enabled(JC_LOG_DEBUG)) {
    jc_logline l;
    jc_log_begin(&l, JC_LOG_DEBUG, "close");
    jc_logline_uint(&l, "conn", c->id);
    jc_logline_str(&l, "client", c->peer);
    jc_logline_str(&l, "reason", why);
    jc_logline_int(&l, "requests", c->nrequests);
    jc_logline_ms(&l, "elapsed_ms", jc_now_us() - c->ex.t.accept);
    jc_log_emit(&l);
  }
  if (c->prev)
    c->prev->next = c->next;
  else
    w->clients = c->next;
  if (c->next)
    c->next->prev = c->prev;
  w->nclients--;
  atomic_fetch_sub_explicit(&w->rt->conns_active, 1, memory_order_relaxed);
  uv_close((uv_handle_t *)&c->tcp, on_closed);
  uv_close((uv_handle_t *)&c->timer, on_closed);
  w->client_gone(w);
}

/* ---- writing ---- */

static void on_timer(uv_timer_t *t);

static void on_shutdown_done(uv_shutdown_t *req, int status) {
  lb_client *c = req->data;
  if (!c->closing && status < 0)
    lb_client_close(c, c->ex.term ? c->ex.term : "done");
}

/* After the last response: send FIN, then read and drop what the client still sends until it
 * closes (or 2 s). Closing with unread input would make the kernel answer RST, which can
 * destroy the response before the client has read it (e.g. a 413 while a body is arriving). */
static void linger_close(lb_client *c) {
  if (c->closing)
    return;
  if (c->peer_eof) {
    lb_client_close(c, c->ex.term ? c->ex.term : "done");
    return;
  }
  c->lingering = 1;
  c->state = LB_C_IDLE; /* logged already; the timer closes it */
  c->in_len = c->parse_off = c->req_off = c->body_off = 0;
  lb_client_io *io = io_get(c); /* kept until the close: lingering writes nothing more */
  if (!io) {
    lb_client_close(c, "out of memory");
    return;
  }
  io->sreq.data = c;
  if (uv_shutdown(&io->sreq, (uv_stream_t *)&c->tcp, on_shutdown_done) != 0) {
    lb_client_close(c, c->ex.term ? c->ex.term : "done");
    return;
  }
  lb_deadline_set(&c->timer, &c->dl, on_timer, 2000);
  lb_client_want_read(c);
}

static void after_send(lb_client *c) {
  if (c->state == LB_C_H2)
    c->ex.w->h2->sent(c);
  else if (c->ex.b)
    lb_exchange_on_sent(&c->ex);
  else
    request_done(c);
}

static void written(lb_client *c, int status) {
  c->writing = 0;
  if (c->tls_out) { /* only a slow reader's leftover needed it (tls_flush) */
    free(c->tls_out);
    c->tls_out = NULL;
    c->tls_out_cap = 0;
  }
  if (c->closing)
    return;
  if (status < 0) {
    if (!c->ex.term)
      c->ex.term = "client-write-error";
    lb_client_close(c, uv_strerror(status));
    return;
  }
  if (c->tls_on && jc_tls_out_pending(&c->tls)) {
    tls_flush(c);
    return;
  }
  if (c->final_flush) {
    linger_close(c);
    return;
  }
  if (c->send_pending) {
    c->send_pending = 0;
    after_send(c);
  }
}

static void on_written_now(lb_deferred *d) {
  written((lb_client *)((char *)d - offsetof(lb_client, wdone)), 0);
}

static void on_written(uv_write_t *req, int status) {
  lb_client *c = req->data;
  if (!c->lingering) /* else the shutdown request in the same block is (about to be) queued */
    io_put(c);
  written(c, status);
}

/* uv_write of what the socket did not take, with a lent request. */
static int client_write_rest(lb_client *c, uv_buf_t *bufs, unsigned n) {
  lb_client_io *io = io_get(c);
  if (!io)
    return UV_ENOMEM;
  io->wreq.data = c;
  return uv_write(&io->wreq, (uv_stream_t *)&c->tcp, bufs, n, on_written);
}

static int client_write(lb_client *c, uv_buf_t *bufs, unsigned n) {
  c->writing = 1;
  unsigned first = 0;
  int r = lb_stream_try_write(&c->ex.w->sl, (uv_stream_t *)&c->tcp, &c->wdone, on_written_now, bufs, n,
                              &first);
  if (r == 0)
    r = client_write_rest(c, bufs + first, n - first);
  if (r < 0) {
    c->writing = 0;
    lb_client_close(c, uv_strerror(r));
  }
  return r;
}

/* Moves pending ciphertext to the socket (one write in flight). Handshake records, tickets and
 * alerts go the same way; only lb_client_send sets send_pending (a completion is due).
 * The usual case: the socket takes the whole flight at once, straight from the worker's scratch
 * buffer, so an idle connection keeps no ciphertext buffer of its own (memory per idle TLS
 * connection). Only what the socket leaves is copied to c->tls_out for uv_write; that buffer is
 * freed once written. */
static void tls_flush(lb_client *c) {
  if (c->writing || c->closing)
    return;
  if (!jc_tls_out_pending(&c->tls))
    return;
  lb_worker *w = c->ex.w;
  size_t got = jc_tls_out_take(&c->tls, w->tls_wscratch, sizeof w->tls_wscratch);
  uv_buf_t b = uv_buf_init(w->tls_wscratch, (unsigned)got);
  int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == UV_EAGAIN || r == UV_ENOSYS)
    r = 0;
  if (r < 0) {
    lb_client_close(c, uv_strerror(r));
    return;
  }
  c->writing = 1;
  if ((size_t)r == got) { /* all taken: completion from the idle handle, as lb_stream_write */
    lb_stream_defer(&w->sl, &c->wdone, on_written_now);
    return;
  }
  size_t rest = got - (size_t)r;
  if (rest > c->tls_out_cap) {
    char *p = realloc(c->tls_out, rest);
    if (!p) {
      c->writing = 0;
      lb_client_close(c, "out of memory");
      return;
    }
    c->tls_out = p;
    c->tls_out_cap = rest;
  }
  memcpy(c->tls_out, w->tls_wscratch + r, rest);
  b = uv_buf_init(c->tls_out, (unsigned)rest);
  int e = client_write_rest(c, &b, 1);
  if (e < 0) {
    c->writing = 0;
    lb_client_close(c, uv_strerror(e));
  }
}

int lb_client_send(lb_client *c, uv_buf_t *bufs, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    c->ex.bytes_out += bufs[i].len;
  c->send_pending = 1;
  if (!c->tls_on)
    return client_write(c, bufs, n) < 0 ? -1 : 0;
  size_t total = 0;
  for (unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  if (n > 1 && total <= sizeof c->ex.w->tls_record) {
    /* A small response in one TLS record: one seal, one header, fewer bytes. */
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
      memcpy(c->ex.w->tls_record + off, bufs[i].base, bufs[i].len);
      off += bufs[i].len;
    }
    if (jc_tls_write(&c->tls, c->ex.w->tls_record, off) != JC_TLS_OK) {
      lb_client_close(c, c->tls.err);
      return -1;
    }
  } else {
    for (unsigned i = 0; i < n; i++)
      if (bufs[i].len && jc_tls_write(&c->tls, bufs[i].base, bufs[i].len) != JC_TLS_OK) {
        lb_client_close(c, c->tls.err);
        return -1;
      }
  }
  if (c->writing)
    return 0; /* on_written drains the rest, then completes */
  tls_flush(c);
  return 0;
}

/* ---- local responses ---- */

static void local_response(lb_client *c, int status, const char *body, int keep_alive,
                           const char *term) {
  lb_runtime *rt = c->ex.w->rt;
  uint64_t now = jc_now_us();
  if (reqbuf_get(c) != 0) {
    lb_client_close(c, "out of memory");
    return;
  }
  if (status == 431 && lb_request_line_over(c->in, c->req_off, c->in_len, rt->cfg.max_header_size))
    status = 414, body = "request target longer than max-header-size";
  if (c->state != LB_C_PROXY && c->ex.t.hdr_done == 0)
    c->ex.t.hdr_done = now;
  c->ex.status = status;
  c->ex.term = term;
  if (!c->ex.t.resp_hdr)
    c->ex.t.resp_hdr = now;
  if (!keep_alive || !c->ex.keep_alive || rt->stopping || !c->h1.msg_done)
    c->close_after_send = 1;
  char st[256];
  const char *stp = NULL;
  if (rt->cfg.server_timing && c->ex.t.req_start && lb_server_timing_format(st, sizeof st, &c->ex.t, now))
    stp = st;
  resp_place(c);
  size_t n = lb_local_response(c->resp_head, c->resp_cap, status, body, !c->close_after_send,
                               c->ex.reqid_len && rt->cfg.request_id ? c->ex.reqid : NULL, stp);
  c->state = LB_C_PROXY;
  c->ex.resp_started = 1;
  lb_deadline_clear(&c->dl);
  if (jc_log_enabled(JC_LOG_DEBUG)) {
    jc_logline l;
    jc_log_begin(&l, JC_LOG_DEBUG, "phase");
    jc_logline_str(&l, "phase", "local-response");
    jc_logline_uint(&l, "conn", c->id);
    jc_logline_int(&l, "status", status);
    jc_logline_str(&l, "reason", body);
    jc_log_emit(&l);
  }
  uv_buf_t b = uv_buf_init(c->resp_head, (unsigned)n);
  lb_client_send(c, &b, 1);
}

/* ---- request lifecycle ---- */

static void on_timer(uv_timer_t *t) {
  lb_client *c = t->data;
  if (!lb_deadline_reached(t, &c->dl))
    return;
  switch (c->state) {
  case LB_C_TLS:
    jc_log(JC_LOG_INFO, "TLS handshake timeout from %s", c->peer);
    lb_client_close(c, "tls-timeout");
    break;
  case LB_C_IDLE:
    lb_client_close(c, "idle-timeout");
    break;
  case LB_C_HEAD:
    c->ex.keep_alive = 0;
    local_response(c, 408, "request headers not received in time", 0,
                             "client-header-timeout");
    break;
  default:
    break;
  }
}

static void begin_wait(lb_client *c, uint64_t now, uint32_t timeout_ms) {
  c->state = LB_C_IDLE;
  memset(&c->ex.t, 0, sizeof c->ex.t);
  c->ex.t.accept = c->ex.t.accept ? c->ex.t.accept : now;
  c->ex.t.idle_start = now;
  lb_deadline_set(&c->timer, &c->dl, on_timer, timeout_ms);
}

static void reset_request(lb_client *c) {
  lb_h1_req_reset(&c->h1);
  c->ex.pool = -1;
  c->ex.server = -1;
  c->ex.retries = 0;
  c->ex.reused_retry = 0;
  c->ex.status = 0;
  c->ex.resp_started = 0;
  c->ex.sending = 0;
  c->ex.bytes_in = c->ex.bytes_out = 0;
  c->ex.term = NULL;
  c->ex.reqid_len = 0; /* c->ex.reqid: "" or the lent head block's (reqbuf_get, reqbuf_put) */
  c->ex.reqid_due = 0;
  c->ex.req_framing = LB_FRAME_NONE;
  c->ex.keep_alive = 1; /* the parser: parser_reset, by rxbuf_get or request_done */
}

static void request_done(lb_client *c) {
  lb_log_conn lc;
  lb_runtime *rt = c->ex.w->rt;
  uint64_t now = c->ex.t.done = jc_now_us();
  if (!c->ex.term)
    c->ex.term = "ok";
  lb_passive_request_done(c->ex.w, &(lb_recent_req){&c->ex.t, c->ex.status, c->ex.pool,
      c->ex.server, c->ex.method, c->ex.retries, c->ex.backend_reused, c->ex.reqid,
      c->ex.reqid_len, lb_client_path(c), c->h1.url_len});
  lb_access_log(&c->ex, lb_client_log_conn(c, &lc));
  if (jc_log_enabled(JC_LOG_DEBUG))
    lb_debug_phase(&c->ex, lb_client_log_conn(c, &lc), "done", now);
  c->nrequests++;
  reqbuf_put(c); /* the response is written: its buffers go back to the worker */
  if (c->close_after_send || !c->ex.keep_alive || rt->stopping || c->peer_eof) {
    c->state = LB_C_IDLE; /* logged: not a request in progress any more */
    if (c->tls_on && !c->tls.fatal) {
      jc_tls_shutdown(&c->tls); /* close_notify, then close once it is written */
      c->final_flush = 1;
      tls_flush(c);
      if (c->writing)
        return;
    }
    linger_close(c);
    return;
  }
  /* Keep-alive: pipelined bytes move to the front, the next request starts. */
  size_t rest = c->in_len - c->parse_off;
  if (rest && c->parse_off)
    memmove(c->in, c->in + c->parse_off, rest);
  c->in_len = rest;
  c->parse_off = c->req_off = c->body_off = 0;
  uint64_t accept = c->ex.t.accept;
  uint64_t tls_done = c->ex.t.tls_done;
  reset_request(c);
  begin_wait(c, now, rt->cfg.client_idle_timeout);
  c->ex.t.accept = accept;
  c->ex.t.tls_done = tls_done;
  rxbuf_release_idle(c);
  if (c->rx)
    parser_reset(c); /* pipelined bytes kept the block: the next request starts afresh */
  lb_client_want_read(c);
  if (!c->closing && c->in_len)
    client_process(c);
}

static int parse_body(lb_client *c);

/* Request head complete: validate, route, rewrite, dispatch. */
static void on_request_head(lb_client *c) {
  lb_log_conn lc;
  lb_worker *w = c->ex.w;
  lb_runtime *rt = w->rt;
  uint64_t now = jc_now_us();
  if (reqbuf_get(c) != 0) {
    lb_client_close(c, "out of memory");
    return;
  }
  c->ex.t.hdr_done = now;
  lb_deadline_clear(&c->dl);
  c->state = LB_C_PROXY;
  llhttp_t *p = &c->rx->parser;
  c->ex.method = p->method;
  c->ex.http_minor = p->http_minor;
  c->ex.keep_alive = llhttp_should_keep_alive(p);
  size_t ul = c->h1.url_len < LB_PATH_LOG_MAX - 1 ? c->h1.url_len : LB_PATH_LOG_MAX - 1;
  char *path = c->ex.head - LB_REQ_PREFIX; /* the lent block's first bytes */
  memcpy(path, c->h1.url ? c->h1.url : "", ul);
  path[ul] = 0;
  c->ex.bytes_in = c->parse_off - c->req_off;

  c->ex.req_framing = lb_request_framing((p->flags & F_CHUNKED) != 0,
                                      (p->flags & F_CONTENT_LENGTH) != 0, p->content_length);
  if (c->ex.req_framing == LB_FRAME_NONE)
    c->h1.msg_done = 1; /* nothing more belongs to this request */

  const lb_header *host = NULL;
  for (uint32_t i = 0; i < c->h1.nhdrs; i++) {
    const lb_header *h = &c->h1.hdrs[i];
    if (rt->cfg.request_id && !c->ex.reqid_len && LB_HEADER_IS(h->name, h->name_len, "x-request-id") &&
        lb_request_id_valid(h->value, h->value_len)) {
      memcpy(c->ex.reqid, h->value, h->value_len);
      c->ex.reqid_len = h->value_len;
      c->ex.reqid[c->ex.reqid_len] = 0;
    } else if (LB_HEADER_IS(h->name, h->name_len, "host")) {
      host = h;
    }
  }
  c->ex.reqid_due = !c->ex.reqid_len;
  if (rt->cfg.request_id)
    lb_exchange_request_id(&c->ex); /* on the forwarded request and the response */
  if (jc_log_enabled(JC_LOG_DEBUG))
    lb_debug_phase(&c->ex, lb_client_log_conn(c, &lc), "request", now);

  lb_forward_info fi = {
      .client_ip = c->peer + c->peer_ip_off,
      .client_ip_len = c->peer_ip_len,
      .proto = c->tls_on ? "https" : "http",
      .request_id = rt->cfg.request_id ? c->ex.reqid : NULL,
      .request_id_len = c->ex.reqid_len,
      .via = "journey-lb",
      .cert_header = rt->cfg.tls.cert_header,
      .cert_header_len = strlen(rt->cfg.tls.cert_header),
  };
  char subject[512];
  if (c->tls_on) { /* a client-ca added by a reload counts too: the TLS context decides */
    fi.cert_subject = subject;
    fi.cert_subject_len = lb_tls_peer_subject(c->tls.ssl, subject, sizeof subject);
  }
  lb_request_in in = {
      .head = {.raw = c->in + c->req_off,
               .raw_len = c->parse_off - c->req_off,
               .target = c->h1.url,
               .target_len = c->h1.url_len,
               .http_major = p->http_major,
               .http_minor = p->http_minor,
               .is_options = c->ex.method == HTTP_OPTIONS,
               .headers = c->h1.hdrs,
               .nheaders = c->h1.nhdrs,
               .names_checked = 1 /* on_headers_complete */},
      .method = llhttp_method_name((llhttp_method_t)c->ex.method),
      .is_connect = c->ex.method == HTTP_CONNECT,
      .has_host = host != NULL,
      .framing = c->ex.req_framing,
      .content_length = p->content_length,
      .fwd = &fi,
  };
  in.method_len = strlen(in.method);
  lb_request_verdict v;
  lb_request_decide(&in, &rt->cfg, c->ex.head, LB_HEAD_CAP(&c->ex.w->rt->cfg), &v);
  c->ex.pool = v.pool;
  if (v.status) {
    local_response(c, v.status, v.why, v.keep_alive, v.term);
    return;
  }
  c->ex.head_len = v.head_len;
  c->body_off = c->parse_off;
  /* Body bytes already here are checked before anything goes out: a malformed chunk that came
   * with the head never reaches a backend (a pooled connection would send the head at once). */
  if (!c->h1.msg_done && parse_body(c) != 0)
    return;
  const lb_pool *pool = &rt->pools[c->ex.pool];
  if (pool->ops->keyed) { /* the balancing key: views into the request, nothing copied */
    lb_key_source src = {.client_ip = c->peer + c->peer_ip_off,
                         .client_ip_len = c->peer_ip_len,
                         .target = c->h1.url,
                         .target_len = c->h1.url ? c->h1.url_len : 0,
                         .headers = c->h1.hdrs,
                         .nheaders = c->h1.nhdrs};
    c->rx->pick.has_key = lb_pool_key(pool, &src, &c->rx->pick.key) != NULL;
  }
  lb_exchange_dispatch(&c->ex);
}

/* Parses request body bytes present in the buffer (raw relay: they are forwarded as they are). */
static int parse_body(lb_client *c) {
  if (c->h1.msg_done || c->parse_off == c->in_len)
    return 0;
  enum llhttp_errno e = lb_h1_req_execute_body(&c->rx->parser, &c->h1, c->in + c->parse_off,
                                               c->in_len - c->parse_off);
  if (e == HPE_OK) {
    c->parse_off = c->in_len;
  } else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
    c->parse_off = (size_t)(llhttp_get_error_pos(&c->rx->parser) - c->in);
    c->h1.msg_done = 1;
  } else {
    int too_big = c->h1.body_too_large, trailers = c->h1.trailers_too_large;
    if (c->ex.resp_started) {
      lb_client_close(c, too_big ? "body-too-large" : "bad-request-body");
    } else {
      lb_exchange_detach(&c->ex, 0);
      if (too_big)
        local_response(c, 413, "request body larger than max-body-size", 0, "body-too-large");
      else
        local_response(c, trailers ? 431 : 400,
                       c->h1.body_why ? c->h1.body_why : "malformed request body", 0,
                       trailers ? "header-too-large" : "bad-request");
    }
    return -1;
  }
  return 0;
}

static void client_process(lb_client *c) {
  if (c->closing)
    return;
  lb_runtime *rt = c->ex.w->rt;
  if (c->state == LB_C_IDLE && !c->tls_on && rt->cfg.tls.h2c && !c->nrequests &&
      c->ex.w->h2->sniff(c) < 0)
    return; /* h2c with prior knowledge: the preface is not whole yet */
  if (c->state == LB_C_H2) {
    c->ex.w->h2->data(c);
    rxbuf_release_idle(c); /* all consumed: an idle h2 connection holds no receive buffer */
    return;
  }

  if (c->state == LB_C_IDLE || c->state == LB_C_HEAD) {
    if (c->parse_off == c->in_len)
      return;
    uint64_t now = jc_now_us();
    if (c->state == LB_C_IDLE) {
      c->state = LB_C_HEAD;
      c->ex.t.req_start = now;
      c->ex.t.first_request = c->nrequests == 0;
      lb_deadline_set(&c->timer, &c->dl, on_timer, rt->cfg.client_header_timeout);
    }
    enum llhttp_errno e =
        llhttp_execute(&c->rx->parser, c->in + c->parse_off, c->in_len - c->parse_off);
    if (e == HPE_OK) {
      c->parse_off = c->in_len;
      if (c->in_len - c->req_off > rt->cfg.max_header_size) {
        c->ex.keep_alive = 0;
        local_response(c, 431, "request headers larger than max-header-size", 0,
                                 "header-too-large");
      }
      return;
    }
    if (e == HPE_PAUSED && c->h1.head_done) {
      c->parse_off = (size_t)(llhttp_get_error_pos(&c->rx->parser) - c->in);
      llhttp_resume(&c->rx->parser);
      if (c->parse_off - c->req_off > rt->cfg.max_header_size) {
        c->ex.keep_alive = 0;
        local_response(c, 431, "request headers larger than max-header-size", 0,
                                 "header-too-large");
        return;
      }
      on_request_head(c);
      if (!c->closing && c->state == LB_C_PROXY && !c->h1.msg_done && !c->ex.resp_started &&
          parse_body(c) == 0)
        lb_exchange_send_body(&c->ex);
      return;
    }
    c->ex.keep_alive = 0;
    if (c->h1.too_many_headers) {
      local_response(c, 431, "too many request headers (max-headers)", 0, "header-too-large");
      return;
    }
    char why[200];
    const char *class_why;
    int status = lb_request_error_status(c->in + c->req_off, c->in_len - c->req_off, (int)e,
                                         &class_why);
    if (class_why)
      snprintf(why, sizeof why, "%s", class_why);
    else
      snprintf(why, sizeof why, "malformed request: %s", llhttp_get_error_reason(&c->rx->parser));
    if (jc_log_enabled(JC_LOG_INFO))
      jc_log(JC_LOG_INFO, "bad request from %s: %s (%s)", c->peer, llhttp_errno_name(e),
             llhttp_get_error_reason(&c->rx->parser));
    local_response(c, status, why, 0, status == 400 ? "bad-request" : "not-supported");
    return;
  }
  if (c->state == LB_C_PROXY) {
    /* Body bytes: parse what arrived, send what is parsed and not yet sent (a slice parsed
     * while the previous write was in flight goes now, even if it ended the message). */
    if (!c->h1.msg_done && parse_body(c) != 0)
      return;
    if (c->ex.b && c->parse_off > c->body_off)
      lb_exchange_send_body(&c->ex);
  }
}

static void body_sent(lb_client *c) {
  /* Forwarded body bytes are consumed: keep only what follows them. */
  size_t rest = c->in_len - c->body_off;
  if (c->body_off) {
    memmove(c->in, c->in + c->body_off, rest);
    c->parse_off -= c->body_off;
    c->in_len = rest;
    c->req_off = 0;
    c->body_off = 0;
  }
  lb_client_want_read(c);
  if (!c->closing)
    client_process(c);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lb_client *c = h->data;
  if (c->tls_on) {
    *buf = uv_buf_init(c->ex.w->tls_scratch, sizeof c->ex.w->tls_scratch);
    return;
  }
  if (rxbuf_get(c) != 0) {
    *buf = uv_buf_init(NULL, 0); /* on_read gets UV_ENOBUFS and closes */
    return;
  }
  *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void stop_reading(lb_client *c) {
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

/* Plain HTTP on the HTTPS port: a clear answer instead of a TLS alert nobody reads. */
static void refuse_plain_http(lb_client *c) {
  static const char msg[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                            "Content-Length: 52\r\nConnection: close\r\n\r\n"
                            "This is an HTTPS port: use https:// to talk to it.\n";
  jc_log(JC_LOG_INFO, "plain HTTP on the HTTPS port from %s: refused", c->peer);
  jc_tls_free(&c->tls);
  c->tls_on = 0;
  stop_reading(c);
  c->state = LB_C_IDLE;
  c->final_flush = 1;
  c->ex.term = "plain-http-on-tls";
  if (reqbuf_get(c) != 0) {
    lb_client_close(c, "out of memory");
    return;
  }
  memcpy(c->resp_head, msg, sizeof msg - 1);
  uv_buf_t b = uv_buf_init(c->resp_head, sizeof msg - 1);
  lb_client_send(c, &b, 1);
}

/* Decrypts what the TLS engine holds into c->in while there is room. */
static void tls_pump(lb_client *c) {
  if (rxbuf_get(c) != 0) {
    lb_client_close(c, "out of memory");
    return;
  }
  while (c->in_len < c->in_cap) {
    size_t got = 0;
    jc_tls_status s = jc_tls_read(&c->tls, c->in + c->in_len, c->in_cap - c->in_len, &got);
    if (s == JC_TLS_OK) {
      c->in_len += got;
      if (!jc_tls_in_pending(&c->tls))
        break; /* a further read would only say "want more": skip that call */
      continue;
    }
    if (s == JC_TLS_CLOSED) {
      c->peer_eof = 1;
    } else if (s == JC_TLS_ERROR) {
      jc_log(JC_LOG_INFO, "TLS error from %s: %s", c->peer, c->tls.err);
      lb_client_close(c, "tls-error");
      return;
    }
    break;
  }
  tls_flush(c);
  if (c->in_len == c->in_cap)
    stop_reading(c);
  rxbuf_release_idle(c); /* only TLS records without application data (a partial record) */
}

static void on_tls_handshake_done(lb_client *c) {
  uint64_t now = jc_now_us();
  c->ex.t.tls_done = now;
  atomic_fetch_add_explicit(&c->ex.w->rt->listener_tls[c->listener], 1, memory_order_relaxed);
  c->ex.t.idle_start = now;
  c->state = LB_C_IDLE;
  if (jc_log_enabled(JC_LOG_DEBUG)) {
    lb_log_conn lc;
    lb_debug_tls(lb_client_log_conn(c, &lc), now - c->ex.t.accept);
  }
  lb_deadline_set(&c->timer, &c->dl, on_timer, c->ex.w->rt->cfg.client_header_timeout);
  if (lb_tls_alpn_h2(c->tls.ssl))
    c->ex.w->h2->start(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lb_client *c = s->data;
  if (c->closing)
    return;
  if (c->lingering) {
    if (nread < 0)
      lb_client_close(c, c->ex.term ? c->ex.term : "done");
    else
      c->in_len = 0; /* dropped */
    return;
  }
  if (nread < 0) {
    if (nread != UV_EOF && nread != UV_ECONNRESET)
      jc_log(JC_LOG_DEBUG, "read from client %s failed: %s", c->peer, uv_strerror((int)nread));
    stop_reading(c);
    if (c->state == LB_C_PROXY && c->h1.msg_done && nread == UV_EOF) {
      c->peer_eof = 1; /* half-close after a complete request: still answer it */
      return;
    }
    if (c->state == LB_C_HEAD && !c->ex.term)
      c->ex.term = "client-aborted";
    lb_client_close(c, nread == UV_EOF ? "client-closed" : uv_strerror((int)nread));
    return;
  }
  if (nread == 0) {
    rxbuf_release_idle(c); /* EAGAIN after on_alloc lent the buffer */
    return;
  }
  if (!c->tls_on) {
    c->in_len += (size_t)nread;
    if (c->in_len == c->in_cap)
      stop_reading(c);
    client_process(c);
    return;
  }
  if (c->state == LB_C_TLS && !c->tls.handshake_done && SSL_get_state(c->tls.ssl) == TLS_ST_BEFORE &&
      (unsigned char)buf->base[0] != 0x16) {
    refuse_plain_http(c);
    return;
  }
  if (jc_tls_feed(&c->tls, buf->base, (size_t)nread) != 0) {
    lb_client_close(c, "out of memory");
    return;
  }
  if (c->state == LB_C_TLS) {
    jc_tls_status st = jc_tls_handshake(&c->tls);
    if (st == JC_TLS_ERROR) {
      jc_log(JC_LOG_INFO, "TLS handshake with %s failed: %s", c->peer, c->tls.err);
      tls_flush(c); /* the alert */
      lb_client_close(c, "tls-handshake-failed");
      return;
    }
    if (st != JC_TLS_OK) {
      tls_flush(c);
      return;
    }
    on_tls_handshake_done(c);
  }
  tls_pump(c);
  if (!c->closing)
    client_process(c);
  if (!c->closing && c->peer_eof && c->state != LB_C_PROXY)
    lb_client_close(c, "client-closed");
}

void lb_client_want_read(lb_client *c) {
  if (c->closing || c->reading || c->peer_eof || c->in_len >= c->in_cap)
    return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
    c->reading = 1;
  if (c->tls_on && c->state != LB_C_TLS && !c->lingering && jc_tls_in_pending(&c->tls))
    tls_pump(c); /* plaintext the engine kept while the buffer was full */
}

/* ---- the exchange's ops: the HTTP/1 side of a request ---- */

static lb_client *client_of(lb_exchange *ex) {
  return (lb_client *)(void *)((char *)ex - offsetof(lb_client, ex));
}

static int h1_head(lb_exchange *ex, const lb_response_view *v, const lb_response_extra *x,
                   uv_buf_t *out) {
  lb_client *c = client_of(ex);
  if (v->status >= 200 && !x->keep_alive)
    c->close_after_send = 1;
  resp_place(c);
  size_t n = lb_rewrite_response(c->resp_head, c->resp_cap, v, x);
  if (!n)
    return -1;
  *out = uv_buf_init(c->resp_head, (unsigned)n);
  return 0;
}

static int h1_send(lb_exchange *ex, uv_buf_t *bufs, unsigned n) {
  return lb_client_send(client_of(ex), bufs, n);
}

/* Body bytes parsed and not yet forwarded: a slice of the receive buffer, relayed raw. */
static size_t h1_pending(lb_exchange *ex, const char **p, int *complete) {
  lb_client *c = client_of(ex);
  *complete = c->h1.msg_done;
  *p = c->in + c->body_off;
  return c->parse_off - c->body_off;
}

static void h1_resume(lb_exchange *ex, size_t n) {
  lb_client *c = client_of(ex);
  c->body_off += n;
  body_sent(c);
}

static void h1_local(lb_exchange *ex, int status, const char *body, int keep_alive,
                     const char *term) {
  local_response(client_of(ex), status, body, keep_alive, term);
}

static void h1_done(lb_exchange *ex) { request_done(client_of(ex)); }

static void h1_abort(lb_exchange *ex, const char *why) { lb_client_close(client_of(ex), why); }

static void h1_phase(lb_exchange *ex, const char *name, uint64_t now) {
  lb_log_conn lc;
  lb_debug_phase(ex, lb_client_log_conn(client_of(ex), &lc), name, now);
}

static const lb_exchange_ops h1_ops = {h1_head,  h1_send, h1_pending, h1_resume,
                                       h1_local, h1_done, h1_abort,   h1_phase};

/* ---- accept ---- */

void lb_client_accept(lb_worker *w, uv_stream_t *server, int tls) {
  const lb_config *cfg = &w->rt->cfg;
  /* The struct alone: the buffers are lent while needed (rxbuf_get, reqbuf_get). */
  lb_client *c = calloc(1, sizeof *c);
  if (!c) {
    jc_log(JC_LOG_ERROR, "out of memory accepting a connection");
    return;
  }
  c->ex.reqid = no_reqid;
  c->ex.ops = &h1_ops;
  c->ex.w = w;
  c->h1.max_hdrs = cfg->max_headers;
  c->h1.max_body = cfg->max_body_size;
  c->h1.max_head = cfg->max_header_size;
  c->in_cap = cfg->max_header_size + LB_BODY_ROOM;
  uv_tcp_init(&w->loop, &c->tcp);
  c->tcp.data = c;
  uv_timer_init(&w->loop, &c->timer);
  c->timer.data = c;
  c->handles = 2;
  c->id = ++w->next_conn_id * (uint64_t)w->rt->nworkers + (uint64_t)w->id; /* unique, small */
  c->next = w->clients;
  if (w->clients)
    w->clients->prev = c;
  w->clients = c;
  w->nclients++;
  c->listener = (int)((uv_tcp_t *)server - w->listeners);
  atomic_fetch_add_explicit(&w->rt->conns_active, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&w->rt->listener_conns[c->listener], 1, memory_order_relaxed);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    c->state = LB_C_IDLE;
    lb_client_close(c, "accept failed");
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
    jc_addr_format((struct sockaddr *)&ss, c->peer, sizeof c->peer);
  else
    snprintf(c->peer, sizeof c->peer, "unknown");
  jc_addr_ip_slice(c->peer, &c->peer_ip_off, &c->peer_ip_len);
  uint64_t now = jc_now_us();
  reset_request(c);
  c->ex.t.accept = now;
  if (tls) {
    if (jc_tls_init(&c->tls, lb_runtime_tls_default(w->rt), 1, NULL) != 0) {
      c->state = LB_C_IDLE;
      lb_client_close(c, "TLS session allocation failed");
      return;
    }
    c->tls_on = 1;
    c->state = LB_C_TLS;
    lb_deadline_set(&c->timer, &c->dl, on_timer, cfg->client_header_timeout);
  } else {
    begin_wait(c, now, cfg->client_header_timeout);
  }
  if (jc_log_enabled(JC_LOG_DEBUG)) {
    jc_logline l;
    jc_log_begin(&l, JC_LOG_DEBUG, "phase");
    jc_logline_str(&l, "phase", "accept");
    jc_logline_uint(&l, "conn", c->id);
    jc_logline_str(&l, "client", c->peer);
    jc_logline_str(&l, "proto", tls ? "https" : "http");
    jc_logline_int(&l, "worker", w->id);
    jc_log_emit(&l);
  }
  lb_client_want_read(c);
}

/* Shutdown: idle connections close now, busy ones after their response. */
void lb_client_begin_stop(lb_client *c) {
  if (c->closing)
    return;
  if (c->state == LB_C_IDLE && c->in_len == 0 && !c->writing)
    lb_client_close(c, "shutdown");
  else
    c->ex.keep_alive = 0;
}
