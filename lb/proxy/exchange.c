/* The backend side of one request: choose a server, take a pooled connection or connect, send the
 * rewritten head and the body slices, parse the response with llhttp (strict) and relay it.
 *
 * Response bodies are relayed as raw slices of the backend connection's buffer (Content-Length
 * and chunked bodies keep their framing); only an HTTP/1.0 client receiving a chunked response
 * gets the body decoded in place and delimited by the connection closing. The parser pauses at
 * the end of the headers (to rewrite them) and at the end of the message.
 *
 * Failures: connect refused/timeout -> the next server (up to `retries`), then 502/504, or 503
 * when every server of the pool has failed or none is UP. A pooled connection that turns out
 * closed before any response byte is retried once on a fresh connection, invisibly. After a 101
 * the exchange is a tunnel (backend half: tunnel.c); a 101 nobody asked for is a 502. */
#include "lb/proxy/exchange.h"
#include "lb/proxy/backend_pool.h"
#include "lb/proxy/runtime.h"
#include "lb/proxy/passive.h"
#include "lb/proxy/tunnel.h"
#include "lb/net/stream.h"
#include "lb/core/framing.h"
#include "lb/core/request_check.h"
#include "lb/core/retry_policy.h"

#include "common/clock.h"
#include "common/log.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void attach(lb_exchange *ex, int server, int allow_reuse);
static void process_response(lb_bconn *b, uint64_t read_at);
static void relay_next(lb_exchange *ex);
static void backend_failed(lb_bconn *b, const char *why, int timeout);

/* ---- helpers ---- */

static lb_server *server_of(lb_exchange *ex) {
  return &ex->w->rt->pools[ex->pool].servers[ex->server];
}

static void phase(lb_exchange *ex, const char *name, uint64_t now) {
  if (jc_log_enabled(JC_LOG_DEBUG))
    ex->ops->phase(ex, name, now);
}

/* The key of a keyed pool's request (the codec computed it, views into the request). */
static const lb_key *request_key(const lb_exchange *ex, const lb_pool *p) {
  return p->ops->keyed && ex->pick->has_key ? &ex->pick->key : NULL;
}

const char *lb_exchange_request_id(lb_exchange *ex) {
  if (ex->reqid_due) {
    uint64_t hi = lb_worker_random(ex->w), lo = lb_worker_random(ex->w);
    lb_request_id_format(hi, lo, ex->reqid);
    ex->reqid_len = 36;
    ex->reqid_due = 0;
  }
  return ex->reqid;
}

static void reset_parser(lb_bconn *b, lb_exchange *ex) {
  b->h1.hdrs = (lb_header *)(void *)(b->rbuf + b->rcap); /* lent with the buffer */
  b->h1.max_hdrs = LB_BCONN_HDRS;
  b->h1.dechunk_base = b->rbuf;
  lb_h1_resp_parser_init(&b->parser, &b->h1, ex->method == HTTP_HEAD);
  b->head_sent = 0;
  b->body_start = b->rparse;
}

/* Releases the client's hold on its server and connection. reusable: the backend connection
 * finished a whole exchange cleanly and may serve another request. */
void lb_exchange_detach(lb_exchange *ex, int reusable) {
  lb_bconn *b = ex->b;
  if (ex->counted) {
    lb_server_end(server_of(ex));
    ex->counted = 0;
  }
  ex->b = NULL;
  if (!b)
    return;
  b->ex = NULL;
  lb_deadline_clear(&b->dl);
  if (reusable && b->state == LB_B_WAITING && !b->writing) {
    b->reusable = 1;
    lb_pool_release(b);
  } else {
    lb_bconn_close(b);
  }
}

/* A local 502/503/504. The client gets the status, a short reason and the request id; which
 * server failed, its address and why (a parser error, a socket error) go to the log only: they
 * describe the inside of the network to whoever sent the request. */
static void fail_request(lb_exchange *ex, int status, const char *reason, const char *detail,
                         lb_server *s) {
  const char *rid = lb_exchange_request_id(ex);
  char body[256]; /* the id: at most 128 characters */
  snprintf(body, sizeof body, "%s (request id %s)", reason, rid);
  if (s)
    jc_log(JC_LOG_WARN, "request %s answered %d: %s (server %s %s)", rid, status, detail,
           s->name, s->addr_text);
  else if (jc_log_enabled(JC_LOG_DEBUG))
    jc_log(JC_LOG_DEBUG, "request %s answered %d: %s", rid, status, detail);
  ex->ops->local(ex, status, body, 1,
                 status == 504 ? "backend-timeout" : status == 503 ? "no-server" : "backend-error");
}

/* After a failed attempt on server s, as the retry policy says (lb/core/retry_policy.h). */
static void retry_or_fail(lb_exchange *ex, lb_server *s, const lb_retry_facts *f, const char *why,
                          const char *what) {
  lb_runtime *rt = ex->w->rt;
  lb_pool *p = &rt->pools[ex->pool];
  int next = -1;
  if (lb_retry_wants_next(f)) {
    lb_tried_add(&ex->pick->tried, s->index);
    next = lb_balancer_pick(p, request_key(ex, p), &ex->pick->tried);
  }
  char msg[400];
  switch (lb_retry_decide(f, next >= 0)) {
  case LB_RETRY_ABORT:
    jc_log(JC_LOG_WARN, "backend %s (%s) failed mid-response for request %s: %s", s->name,
           s->addr_text, lb_exchange_request_id(ex), why);
    ex->ops->abort(ex, "backend-aborted");
    return;
  case LB_RETRY_SAME_FRESH:
    /* The pooled connection was closed by the backend meanwhile: same server, fresh socket. */
    ex->reused_retry = 1;
    jc_log(JC_LOG_DEBUG, "pooled connection to %s was closed (%s): retrying on a new one",
           s->name, why);
    attach(ex, s->index, 0);
    return;
  case LB_RETRY_NEXT:
    ex->retries++;
    atomic_fetch_add_explicit(&s->m.retries, 1, memory_order_relaxed);
    jc_log(JC_LOG_INFO, "retrying request %s on server %s after %s on %s",
           lb_exchange_request_id(ex), p->servers[next].name, what, s->name);
    ex->server = next;
    attach(ex, next, 1);
    return;
  case LB_RETRY_503:
    snprintf(msg, sizeof msg, "every server of pool %s failed (last: %s on %s %s)", p->name,
             what, s->name, s->addr_text);
    jc_log(JC_LOG_WARN, "request %s answered 503: %s", lb_exchange_request_id(ex), msg);
    fail_request(ex, 503, "no backend server available", msg, NULL);
    return;
  case LB_RETRY_504:
  case LB_RETRY_502:
    fail_request(ex, f->kind == LB_FAIL_CONNECT_TIMEOUT || f->kind == LB_FAIL_RESPONSE_TIMEOUT
                        ? 504 : 502, lb_retry_reason(f->kind), what, s);
    return;
  }
}

/* ---- connect and send ---- */

static void on_backend_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lb_bconn *b = h->data;
  if (!b->rbuf) { /* idle in the pool: whatever comes closes it (on_backend_read) */
    *buf = uv_buf_init(b->w->sl.rscratch, sizeof b->w->sl.rscratch);
    return;
  }
  *buf = uv_buf_init(b->rbuf + b->rlen, (unsigned)(b->rcap - b->rlen));
}

static void on_response_timeout(uv_timer_t *t) {
  lb_bconn *b = t->data;
  if (!lb_deadline_reached(t, &b->dl))
    return;
  backend_failed(b, "response timeout", 1);
}

/* The client stopped sending its request body: 408, its fault. The request never reached a
 * server whole, so nothing counts against the server (no failure, no ejection, no status in
 * its metrics); the partial request's backend connection is closed, not pooled. */
static void on_body_timeout(uv_timer_t *t) {
  lb_bconn *b = t->data;
  lb_exchange *ex = b->ex;
  if (!lb_deadline_reached(t, &b->dl) || !ex)
    return;
  jc_log(JC_LOG_INFO, "request %s: the client sent no body bytes for %u ms: 408, the partial "
         "request to server %s closed (not counted against it)", lb_exchange_request_id(ex),
         (unsigned)ex->w->rt->cfg.client_body_timeout, b->server->name);
  lb_exchange_detach(ex, 0);
  ex->server = -1;
  if (ex->resp_started)
    ex->ops->abort(ex, "client-body-timeout");
  else
    ex->ops->local(ex, 408, "request body not received in time", 0, "client-body-timeout");
}

/* Which timeout runs while an exchange waits: as long as the request body is still coming and
 * nothing is being written to the backend, the next move is the client's (its body timeout);
 * otherwise the backend's (its response timeout, a 504 counted against it). */
static void arm_wait(lb_bconn *b, lb_exchange *ex) {
  const lb_config *cfg = &ex->w->rt->cfg;
  if (ex->req_framing != LB_FRAME_NONE && !b->writing) {
    const char *body;
    int complete;
    ex->ops->pending(ex, &body, &complete);
    if (!complete) {
      lb_deadline_set(&b->timer, &b->dl, on_body_timeout, cfg->client_body_timeout);
      return;
    }
  }
  lb_deadline_set(&b->timer, &b->dl, on_response_timeout, cfg->backend_response_timeout);
}

static void on_backend_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lb_bconn *b = s->data;
  if (b->state == LB_B_CLOSING)
    return;
  if (b->state == LB_B_IDLE) {
    /* An idle connection that speaks or closes is done. */
    lb_bconn_close(b);
    return;
  }
  if (nread == 0)
    return;
  lb_exchange *ex = b->ex;
  if (nread < 0) {
    uv_read_stop(s);
    if (nread == UV_EOF && b->h1.head_ready && b->h1.framing == LB_FRAME_CLOSE && !b->h1.msg_ready) {
      /* close-delimited body: the end of the connection is the end of the message */
      b->h1.msg_ready = 1;
      b->reusable = 0;
      process_response(b, 0);
      return;
    }
    backend_failed(b, nread == UV_EOF ? "closed the connection" : uv_strerror((int)nread), 0);
    return;
  }
  b->rlen += (size_t)nread;
  uint64_t read_at = 0;
  if (!b->got_bytes && ex) {
    b->got_bytes = 1;
    read_at = ex->t.first_byte = jc_now_us();
    phase(ex, "first-byte", ex->t.first_byte);
  }
  if (b->rlen == b->rcap)
    uv_read_stop(s);
  process_response(b, read_at);
  /* Inactivity timeout between reads, re-armed only while the response goes on (most
   * responses end within their first read: no timer work at all). */
  if (b->state != LB_B_CLOSING && b->ex && !b->h1.msg_ready)
    arm_wait(b, b->ex);
}

static void on_backend_written(uv_write_t *req, int status) {
  lb_bconn *b = req->data;
  b->writing = 0;
  if (b->state == LB_B_CLOSING)
    return;
  lb_exchange *ex = b->ex;
  if (status < 0) {
    backend_failed(b, uv_strerror(status), 0);
    return;
  }
  if (!ex)
    return;
  if (b->state == LB_B_SENDING)
    b->state = LB_B_WAITING;
  if (!ex->t.sent) {
    ex->t.sent = jc_now_us();
    phase(ex, "send", ex->t.sent);
  }
  /* The forwarded body bytes are consumed; read more if the request continues. */
  size_t n = b->body_inflight;
  b->body_inflight = 0;
  if (ex->req_framing != LB_FRAME_NONE)
    arm_wait(b, ex); /* the rest of the body is the client's to send */
  ex->ops->resume(ex, n);
}

static void on_backend_written_now(lb_deferred *d) {
  lb_bconn *b = (lb_bconn *)((char *)d - offsetof(lb_bconn, wdone));
  on_backend_written(&b->wreq, 0);
}

/* Writes the head (first time) and the unsent body slice. */
static void send_pending(lb_exchange *ex) {
  lb_bconn *b = ex->b;
  if (!b || b->writing || b->state == LB_B_CONNECTING)
    return;
  uv_buf_t bufs[1 + LB_CHUNK_OUT_PIECES];
  unsigned n = 0;
  if (!b->head_written) {
    bufs[n++] = uv_buf_init(ex->head, (unsigned)ex->head_len);
    b->head_written = 1;
  }
  const char *body;
  int complete;
  size_t len = ex->ops->pending(ex, &body, &complete);
  b->body_inflight = len; /* consumed once this write completes */
  ex->bytes_in += len;
  if (__builtin_expect(ex->chunk_body, 0)) /* chunks by this hop, or a raw body's end */
    n += lb_chunk_out_pieces(&ex->chunks, bufs + n, body, len, complete);
  else if (len)
    bufs[n++] = uv_buf_init((char *)body, (unsigned)len);
  if (ex->tunnel && len)
    lb_tunnel_touch(b);
  if (!n)
    return;
  /* The backend's turn: take these bytes, then answer (lb_deadline: no timer work per call). */
  lb_deadline_set(&b->timer, &b->dl, on_response_timeout, ex->w->rt->cfg.backend_response_timeout);
  b->wreq.data = b;
  b->writing = 1;
  int r = lb_stream_write(&b->w->sl, (uv_stream_t *)&b->tcp, &b->wreq, &b->wdone,
                          on_backend_written_now, bufs, n, on_backend_written);
  if (r < 0) {
    b->writing = 0;
    backend_failed(b, uv_strerror(r), 0);
  }
}

void lb_exchange_send_body(lb_exchange *ex) { send_pending(ex); }

static void start_exchange(lb_bconn *b, lb_exchange *ex) {
  if (lb_bconn_rbuf_get(b) != 0) {
    backend_failed(b, "out of memory for a response buffer", 0);
    return;
  }
  b->state = LB_B_SENDING;
  b->head_written = 0;
  b->got_bytes = 0;
  b->timed_out = 0;
  reset_parser(b, ex);
  send_pending(ex); /* arms the response timeout */
}

static void on_connect(uv_connect_t *req, int status) {
  lb_bconn *b = req->data;
  if (b->state == LB_B_CLOSING)
    return; /* cancelled: timed out or the client left */
  lb_exchange *ex = b->ex;
  lb_deadline_clear(&b->dl);
  if (status < 0) {
    backend_failed(b, uv_strerror(status), 0);
    return;
  }
  uv_tcp_nodelay(&b->tcp, 1);
  uint64_t now = jc_now_us();
  lb_passive_connected(b->w->rt, b->server, now - b->connect_start);
  ex->t.connected = now;
  phase(ex, "connect", now);
  if (uv_read_start((uv_stream_t *)&b->tcp, on_backend_alloc, on_backend_read) != 0) {
    backend_failed(b, "cannot read from the new connection", 0);
    return;
  }
  start_exchange(b, ex);
}

static void on_connect_timeout(uv_timer_t *t) {
  lb_bconn *b = t->data;
  if (!lb_deadline_reached(t, &b->dl))
    return;
  backend_failed(b, "connect timeout", 1);
}

static void attach(lb_exchange *ex, int server, int allow_reuse) {
  lb_worker *w = ex->w;
  lb_server *s = &w->rt->pools[ex->pool].servers[server];
  ex->server = server;
  lb_server_begin(s);
  ex->counted = 1;
  uint64_t now = jc_now_us();
  if (!ex->t.queued) {
    ex->t.queued = now;
    phase(ex, "select", now);
  }
  lb_bconn *b = allow_reuse ? lb_pool_acquire(w, ex->pool, s) : NULL;
  ex->backend_reused = b != NULL;
  if (b) {
    b->ex = ex;
    ex->b = b;
    b->rlen = b->rparse = 0;
    ex->t.connected = now;
    phase(ex, "connect", now);
    start_exchange(b, ex);
    return;
  }
  b = lb_bconn_new(w, ex->pool, s);
  if (!b) {
    lb_exchange_detach(ex, 0);
    jc_log(JC_LOG_ERROR, "out of memory for a backend connection");
    fail_request(ex, 503, "no backend server available", "out of memory", NULL);
    return;
  }
  b->ex = ex;
  ex->b = b;
  b->reused = 0;
  b->creq.data = b;
  b->connect_start = now;
  int r = uv_tcp_connect(&b->creq, &b->tcp, (const struct sockaddr *)&s->addr, on_connect);
  if (r < 0) {
    if (r == UV_EMFILE || r == UV_ENFILE)
      lb_fd_exhausted("connecting to a backend");
    backend_failed(b, uv_strerror(r), 0);
    return;
  }
  lb_deadline_set(&b->timer, &b->dl, on_connect_timeout, w->rt->cfg.backend_connect_timeout);
}

void lb_exchange_dispatch(lb_exchange *ex) {
  lb_pool *p = &ex->w->rt->pools[ex->pool];
  int i = lb_balancer_pick(p, request_key(ex, p), NULL);
  if (i < 0) {
    atomic_fetch_add_explicit(&p->no_server, 1, memory_order_relaxed);
    ex->t.queued = jc_now_us();
    fail_request(ex, 503, "no healthy backend server", p->name, NULL);
    return;
  }
  attach(ex, i, 1);
}

/* ---- failures ---- */

static void backend_failed(lb_bconn *b, const char *why, int timeout) {
  lb_exchange *ex = b->ex;
  if (!ex) {
    lb_bconn_close(b);
    return;
  }
  lb_server *s = b->server;
  lb_retry_facts f = {
      .idempotent = lb_method_idempotent(ex->method),
      .sent = b->head_written || ex->t.sent != 0,
      .has_body = ex->req_framing != LB_FRAME_NONE,
      .fresh_retried = ex->reused_retry,
      .retries_left = ex->retries < (int)ex->w->rt->cfg.retries,
      .response_started = ex->resp_started,
  };
  if (b->state == LB_B_CONNECTING)
    f.kind = timeout ? LB_FAIL_CONNECT_TIMEOUT : LB_FAIL_CONNECT;
  else if (timeout)
    f.kind = LB_FAIL_RESPONSE_TIMEOUT;
  else if (b->got_bytes)
    f.kind = LB_FAIL_BAD_RESPONSE;
  else
    f.kind = b->reused ? LB_FAIL_STALE : LB_FAIL_CLOSED;
  lb_exchange_detach(ex, 0); /* closes b */
  if (f.response_started || (f.kind == LB_FAIL_STALE && !f.fresh_retried &&
                              lb_retry_decide(&f, 0) == LB_RETRY_SAME_FRESH)) {
    if (f.response_started) { /* a stale pooled connection is no failure of the server */
      atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
      atomic_fetch_add_explicit(timeout ? &s->m.err_timeout : &s->m.err_reset, 1,
                                memory_order_relaxed);
    }
    retry_or_fail(ex, s, &f, why, why);
    return;
  }
  atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(f.kind == LB_FAIL_CONNECT || f.kind == LB_FAIL_CONNECT_TIMEOUT
                                ? &s->m.err_connect
                            : timeout ? &s->m.err_timeout
                                      : &s->m.err_reset,
                            1, memory_order_relaxed);
  char msg[160];
  if (f.kind == LB_FAIL_CONNECT || f.kind == LB_FAIL_CONNECT_TIMEOUT) {
    lb_passive_connect_failed(ex->w->rt, ex->pool, s);
    jc_log(JC_LOG_WARN, "connect to backend %s (%s) failed: %s", s->name, s->addr_text, why);
    snprintf(msg, sizeof msg, "connect failed: %s", why);
  } else {
    jc_log(JC_LOG_WARN, "backend %s (%s) failed for request %s: %s", s->name, s->addr_text,
           lb_exchange_request_id(ex), why);
    if (f.kind == LB_FAIL_RESPONSE_TIMEOUT)
      snprintf(msg, sizeof msg, "%s", why);
    else
      snprintf(msg, sizeof msg, lb_retry_wants_next(&f) ? "empty response: %s"
                                                        : "failed before responding: %s", why);
  }
  retry_or_fail(ex, s, &f, why, msg);
}

/* ---- response relay ---- */

/* ---- tunnel (after a 101) ---- */

static int tunnel_send(lb_bconn *b, uv_buf_t *bufs, unsigned n) {
  lb_exchange *ex = b->ex;
  ex->sending = 1;
  return ex->ops->send(ex, bufs, n);
}

static void tunnel_end(lb_bconn *b, const char *term) {
  lb_exchange *ex = b->ex;
  ex->term = term;
  if (ex->sending) { /* the client does not take what it was handed: nothing clean is left */
    ex->ops->abort(ex, term);
    return;
  }
  ex->keep_alive = 0;
  lb_exchange_detach(ex, 0);
  ex->ops->done(ex); /* the log line, then the client's close (close_notify, FIN) */
}

static const lb_tunnel_ops tunnel_ops = {tunnel_send, tunnel_end};

/* A 101 to a request that asked for an upgrade (lb_response_head checked): the exchange is a tunnel. */
static void switch_protocols(lb_bconn *b, lb_exchange *ex, uint64_t now, uv_buf_t head) {
  b->got_bytes = 1; /* never retried */
  b->head_sent = 1;
  ex->status = 101;
  ex->t.resp_hdr = now;
  ex->tunnel = ex->resp_started = 1;
  lb_passive_response(ex->w->rt, ex->pool, b->server, 101);
  phase(ex, "upgrade", now);
  lb_tunnel_begin(b, &tunnel_ops, head);
}

/* read_at: when the bytes being parsed were read, if this callback already asked the clock (a
 * head that came whole in the first read is timed by it: one clock reading less); 0: ask. */
static void process_response(lb_bconn *b, uint64_t read_at) {
  lb_exchange *ex = b->ex;
  if (!ex || ex->sending)
    return; /* on_client_sent continues */
  uv_buf_t bufs[2];
  unsigned n = 0;
  for (;;) {
    if (!b->h1.msg_ready && b->rparse < b->rlen) {
      enum llhttp_errno e = llhttp_execute(&b->parser, b->rbuf + b->rparse, b->rlen - b->rparse);
      if (e == HPE_OK) {
        b->rparse = b->rlen;
      } else if (e == HPE_PAUSED) {
        b->rparse = (size_t)(llhttp_get_error_pos(&b->parser) - b->rbuf);
        llhttp_resume(&b->parser);
      } else {
        char why[200];
        if (ex->trailers && ex->trailers->over)
          snprintf(why, sizeof why, "sent a trailer section over max-header-size or max-headers");
        else
          snprintf(why, sizeof why, "sent an invalid response (%s: %s)", llhttp_errno_name(e),
                   llhttp_get_error_reason(&b->parser));
        b->got_bytes = 1; /* never retried */
        backend_failed(b, why, 0);
        return;
      }
    }
    if (b->h1.head_ready && !b->head_sent && b->parser.status_code < 200 &&
        b->parser.status_code != 101 && ex->http_minor == 0) {
      b->head_sent = 1; /* RFC 9110 15.2: no 1xx goes to an HTTP/1.0 client (relay_next skips) */
      b->body_start = b->rparse;
    }
    if (b->h1.head_ready && !b->head_sent) {
      uint64_t now = read_at ? read_at : jc_now_us();
      int r = lb_response_head(b, ex, now, &bufs[n]);
      if (r != 0) {
        b->got_bytes = 1;
        backend_failed(b, r == -3   ? "answered 101 to a request that asked for no upgrade"
                          : r == -4 ? "answered 101 without the Sec-WebSocket-Accept its key asks"
                          : r == -2 ? "sent a Transfer-Encoding other than chunked"
                                    : "response headers too large", 0);
        return;
      }
      if (b->parser.status_code == 101) {
        switch_protocols(b, ex, now, bufs[n]);
        return;
      }
      if (b->parser.status_code >= 200)
        phase(ex, "response", now);
      n++;
      b->head_sent = 1;
      b->body_start = b->rparse;
      if (b->h1.dechunk_on)
        b->h1.dechunk = b->rparse;
      if (!b->h1.msg_ready && b->rparse < b->rlen)
        continue; /* parse the body bytes behind the head before sending */
    }
    if (b->head_sent) {
      size_t end = b->h1.dechunk_on ? b->h1.dechunk : b->rparse;
      if (end > b->body_start)
        bufs[n++] = uv_buf_init(b->rbuf + b->body_start, (unsigned)(end - b->body_start));
    }
    if (n) {
      ex->resp_started = 1;
      ex->sending = 1;
      ex->resp_last = b->h1.msg_ready && b->parser.status_code >= 200;
      ex->ops->send(ex, bufs, n);
      return;
    }
    if (b->h1.msg_ready) {
      relay_next(ex); /* nothing left to send: complete */
      return;
    }
    if (!b->h1.head_ready && b->rlen == b->rcap) {
      b->got_bytes = 1;
      backend_failed(b, "response headers too large", 0);
    }
    return;
  }
}

void lb_exchange_on_sent(lb_exchange *ex) {
  ex->sending = 0;
  if (ex->tunnel && !ex->tunnel_relay) { /* the 101 is written: the codec relays raw from now */
    ex->tunnel_relay = 1;
    ex->ops->resume(ex, 0); /* drops the request's bytes, hands over any that followed */
  }
  if (!ex->tunnel)
    relay_next(ex);
  else if (ex->b)
    lb_tunnel_sent(ex->b);
}

/* What went to the client is consumed: the next part of the response, or the end. */
static void relay_next(lb_exchange *ex) {
  lb_bconn *b = ex->b;
  if (!b)
    return;
  /* What was sent is consumed: keep the unparsed rest at the front. */
  size_t rest = b->rlen - b->rparse;
  if (b->rparse && rest)
    memmove(b->rbuf, b->rbuf + b->rparse, rest);
  b->rlen = rest;
  b->rparse = 0;
  b->body_start = 0;
  b->h1.dechunk = 0;
  /* Room again: a read that filled the buffer stopped reading. Restarted for whatever follows,
   * pooled connections included: their close, their next response (UV_EALREADY if reading). */
  if (b->state != LB_B_CLOSING)
    uv_read_start((uv_stream_t *)&b->tcp, on_backend_alloc, on_backend_read);
  if (b->h1.msg_ready) {
    if (b->parser.status_code < 200 && b->parser.status_code >= 100) {
      reset_parser(b, ex); /* 1xx: the final response follows */
      arm_wait(b, ex);     /* after a 100 Continue the body is the client's to send */
      process_response(b, 0);
      return;
    }
    lb_deadline_clear(&b->dl);
    const char *body;
    int complete;
    size_t unsent = ex->ops->pending(ex, &body, &complete);
    int reusable = b->h1.framing != LB_FRAME_CLOSE && llhttp_should_keep_alive(&b->parser) &&
                   b->rlen == 0 && complete && !unsent && !b->writing &&
                   (ex->chunks.ended || !ex->chunk_body);
    b->state = LB_B_WAITING;
    lb_exchange_detach(ex, reusable);
    ex->ops->done(ex);
    return;
  }
  process_response(b, 0);
}
