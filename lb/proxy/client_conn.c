/* Client connection state machine: TLS handshake -> idle -> request headers -> proxy -> idle ...
 *
 * A connection's buffers (the receive buffer (max-header-size + 16 KiB) with the header views,
 * the forwarded request head and the response head) are lent from per-worker free lists while
 * it needs them (see "lent buffers"): no allocation per request, little memory per idle one.
 * Requests are parsed with llhttp in strict mode, paused at the end of the headers and at the end
 * of each message, so that body bytes are relayed raw (slices of the receive buffer; a chunked
 * body's trailer section excepted, filtered by lb/http/h1.c and written by the exchange) and
 * pipelined requests wait in the buffer until the previous response is sent (responses in order).
 * The socket, TLS, writes, FIN and linger are the connection's lb_stream (lb/net/stream.h): this
 * file sees plaintext only. */
#include "lb/proxy/client_conn.h"
#include "lb/proxy/client_buffers.h"
#include "lb/proxy/client_head.h"
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
static void local_response(lb_client *c, int status, const char *body, int keep_alive,
                           const char *term);
static void request_done(lb_client *c);
static void body_sent(lb_client *c);
static void client_want_read(lb_client *c);

/* ---- lifetime ---- */

/* What the logs say about the connection a request came on. */
const lb_log_conn *lb_client_log_conn(const lb_client *c, lb_log_conn *lc) {
  lc->id = c->id;
  lc->peer = c->peer;
  lc->path = lb_client_path(c);
  lc->ssl = c->s.tls_on ? c->s.tls.ssl : NULL;
  lc->stream = 0;
  return lc;
}

static void on_closed(uv_handle_t *h) {
  lb_client *c = h->data;
  if (--c->handles > 0)
    return;
  lb_stream_free(&c->s);
  lb_client_trailers_put(c);
  lb_client_reqbuf_put(c);
  lb_client_rxbuf_put(c);
  free(c);
}

static void on_stream_closed(uv_handle_t *h) {
  h->data = (char *)h - offsetof(lb_client, s.tcp); /* the client, as the timer's */
  on_closed(h);
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
  lb_stream_close(&c->s, on_stream_closed);
  uv_close((uv_handle_t *)&c->timer, on_closed);
  w->client_gone(w);
}

/* ---- writing ---- */

static void on_timer(uv_timer_t *t);

/* After the last response: close_notify, FIN, then the stream reads and drops what the client
 * still sends until it closes (on_close), or 2 s. */
static void end_and_linger(lb_client *c) {
  c->state = LB_C_IDLE; /* logged already; the timer closes it */
  c->tls_rest = 0;
  c->in_len = c->parse_off = c->req_off = c->body_off = 0;
  lb_deadline_set(&c->timer, &c->dl, on_timer, 2000);
  lb_stream_end(&c->s);
}

static void after_send(lb_client *c) {
  if (c->ex.tunnel_relay)
    lb_stream_rest(&c->s); /* a tunnel may idle for hours: OpenSSL's buffers go at once */
  if (c->state == LB_C_H2)
    c->ex.w->h2->sent(c);
  else if (c->ex.b)
    lb_exchange_on_sent(&c->ex);
  else
    request_done(c);
}

int lb_client_send(lb_client *c, uv_buf_t *bufs, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    c->ex.bytes_out += bufs[i].len;
  return lb_stream_send(&c->s, bufs, n);
}

/* ---- local responses ---- */

static void local_response(lb_client *c, int status, const char *body, int keep_alive,
                           const char *term) {
  lb_runtime *rt = c->ex.w->rt;
  uint64_t now = jc_now_us();
  if (lb_client_reqbuf_get(c) != 0) {
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
  lb_client_resp_place(c);
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
    if (c->tls_rest) { /* idle LB_STREAM_REST_MS: OpenSSL's buffers go, then the rest of the wait */
      c->tls_rest = 0;
      lb_stream_rest(&c->s);
      lb_deadline_set(t, &c->dl, on_timer,
                      c->ex.w->rt->cfg.client_idle_timeout - LB_STREAM_REST_MS);
      break;
    }
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
  if (__builtin_expect(c->h1.trl.buf != NULL, 0))
    lb_client_trailers_put(c);
  c->ex.chunk_body = 0;
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
      c->ex.reqid_len, lb_client_path(c), c->h1.url_len, LB_PROTO_HTTP1});
  lb_access_log(&c->ex, lb_client_log_conn(c, &lc));
  if (jc_log_enabled(JC_LOG_DEBUG))
    lb_debug_phase(&c->ex, lb_client_log_conn(c, &lc), "done", now);
  c->nrequests++;
  lb_client_reqbuf_put(c); /* the response is written: its buffers go back to the worker */
  if (c->close_after_send || !c->ex.keep_alive || rt->stopping || c->s.eof) {
    end_and_linger(c);
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
  /* OpenSSL's buffers: released after every record for a connection's first two requests
   * (most connections do one: one-shot clients, a browser's spare connections); from then on
   * the connection keeps them while it is busy and gives them back once idle LB_STREAM_REST_MS
   * (on_timer), so that a busy keep-alive connection allocates nothing per request. */
  uint32_t idle = rt->cfg.client_idle_timeout;
  c->tls_rest = c->s.tls_on && c->nrequests > 1 && idle > LB_STREAM_REST_MS;
  if (c->tls_rest)
    lb_stream_keep(&c->s);
  begin_wait(c, now, c->tls_rest ? LB_STREAM_REST_MS : idle);
  c->ex.t.accept = accept;
  c->ex.t.tls_done = tls_done;
  lb_client_rxbuf_release_idle(c);
  if (c->rx)
    lb_client_parser_reset(c); /* pipelined bytes kept the block: the next request starts afresh */
  client_want_read(c);
  if (!c->closing && c->in_len)
    client_process(c);
}

static int parse_body(lb_client *c);

/* Request head complete: validate, route, rewrite, dispatch. `now`: when its last bytes were
 * read (client_process's clock reading, taken just before they were parsed). */
static void on_request_head(lb_client *c, uint64_t now) {
  lb_log_conn lc;
  if (lb_client_reqbuf_get(c) != 0) {
    lb_client_close(c, "out of memory");
    return;
  }
  c->ex.t.hdr_done = now;
  lb_deadline_clear(&c->dl);
  c->state = LB_C_PROXY;
  int has_host = lb_client_head_read(c);
  if (jc_log_enabled(JC_LOG_DEBUG))
    lb_debug_phase(&c->ex, lb_client_log_conn(c, &lc), "request", now);

  lb_request_verdict v;
  lb_client_head_decide(c, has_host, &v);
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
  lb_client_head_key(c, &v);
  lb_exchange_dispatch(&c->ex);
}

/* Parses request body bytes present in the buffer (raw relay: they are forwarded as they are,
 * but for a chunked body's trailer bytes, lb_client_trailer_bytes_drop). */
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
    const char *why, *term;
    int status = lb_h1_req_body_refusal(&c->h1, &why, &term);
    if (c->ex.resp_started) {
      lb_client_close(c, status == 413 ? "body-too-large" : "bad-request-body");
    } else {
      lb_exchange_detach(&c->ex, 0);
      local_response(c, status, why, 0, term);
    }
    return -1;
  }
  if (__builtin_expect(c->h1.trailers_at != NULL, 0))
    lb_client_trailer_bytes_drop(c);
  return 0;
}

/* A chunked body is whole, its end (the trailer section's kept lines) not yet sent: the last
 * bytes read may all have been trailer bytes, none left to relay raw. */
static int body_end_due(const lb_client *c) {
  return c->ex.chunk_body && c->h1.msg_done && !c->ex.chunks.ended;
}

static void client_process(lb_client *c) {
  if (c->closing)
    return;
  lb_runtime *rt = c->ex.w->rt;
  if (c->state == LB_C_IDLE && !c->s.tls_on && rt->cfg.tls.h2c && !c->nrequests &&
      c->ex.w->h2->sniff(c) < 0)
    return; /* h2c with prior knowledge: the preface is not whole yet */
  if (c->state == LB_C_H2) {
    c->ex.w->h2->data(c);
    lb_client_rxbuf_release_idle(c); /* all consumed: an idle h2 connection holds no buffer */
    return;
  }
  if (c->state == LB_C_IDLE || c->state == LB_C_HEAD) {
    if (c->parse_off == c->in_len)
      return;
    uint64_t now = jc_now_us();
    if (c->state == LB_C_IDLE) {
      c->state = LB_C_HEAD;
      c->tls_rest = 0;
      c->ex.t.req_start = now;
      c->ex.t.first_request = c->nrequests == 0;
      lb_deadline_set(&c->timer, &c->dl, on_timer, rt->cfg.client_header_timeout);
    }
    enum llhttp_errno e = lb_h1_req_execute_head(&c->rx->parser, &c->h1, c->in + c->req_off,
                                                 c->in + c->parse_off, c->in_len - c->parse_off);
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
      on_request_head(c, now);
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
    if (c->ex.tunnel_relay)
      c->parse_off = c->in_len; /* a tunnel: every byte goes to the backend as it is */
    if (!c->h1.msg_done && parse_body(c) != 0)
      return;
    if (c->ex.b && (c->parse_off > c->body_off || __builtin_expect(body_end_due(c), 0)))
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
  if (c->ex.tunnel_relay) { /* an idle tunnel holds no buffer, nor the request's head block */
    lb_client_rxbuf_release_idle(c);
    lb_client_tunnel_shrink(c);
  }
  client_want_read(c);
  if (!c->closing)
    client_process(c);
}

/* ---- the stream's callbacks: plaintext in ---- */

static lb_client *client_of_stream(lb_stream *s) {
  return (lb_client *)(void *)((char *)s - offsetof(lb_client, s));
}

/* The receive buffer's free part, lent from the first byte of a request on. */
static int on_room(lb_stream *s, char **base, size_t *len) {
  lb_client *c = client_of_stream(s);
  if (lb_client_rxbuf_get(c) != 0)
    return -1;
  *base = c->in + c->in_len;
  *len = c->in_cap - c->in_len;
  return 0;
}

static int on_data(lb_stream *s, size_t n) {
  lb_client *c = client_of_stream(s);
  if (!n) { /* EAGAIN, or TLS records without application data */
    lb_client_rxbuf_release_idle(c);
    return LB_STREAM_MORE;
  }
  c->in_len += n;
  client_process(c);
  return c->in_len >= c->in_cap ? LB_STREAM_STOP : LB_STREAM_MORE;
}

static void on_sent(lb_stream *s) { after_send(client_of_stream(s)); }

/* Plain HTTP on the HTTPS port: a clear answer instead of a TLS alert nobody reads. */
static void refuse_plain_http(lb_client *c) {
  static const char msg[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                            "Content-Length: 52\r\nConnection: close\r\n\r\n"
                            "This is an HTTPS port: use https:// to talk to it.\n";
  jc_log(JC_LOG_INFO, "plain HTTP on the HTTPS port from %s: refused", c->peer);
  c->ex.term = "plain-http-on-tls";
  if (lb_client_reqbuf_get(c) != 0) {
    lb_client_close(c, "out of memory");
    return;
  }
  memcpy(c->resp_head, msg, sizeof msg - 1);
  uv_buf_t b = uv_buf_init(c->resp_head, sizeof msg - 1);
  if (lb_client_send(c, &b, 1) == 0)
    end_and_linger(c);
}

static void on_close(lb_stream *s, lb_stream_why why, const char *text) {
  lb_client *c = client_of_stream(s);
  if (c->closing)
    return;
  if (s->ending) { /* the linger is over */
    lb_client_close(c, c->ex.term ? c->ex.term : "done");
    return;
  }
  switch (why) {
  case LB_STREAM_EOF:
    if (c->state == LB_C_PROXY && c->h1.msg_done && !c->ex.tunnel)
      return; /* half-close after a complete request: still answer it (a tunnel ends) */
    if (c->state == LB_C_HEAD && !c->ex.term)
      c->ex.term = "client-aborted";
    lb_client_close(c, "client-closed");
    return;
  case LB_STREAM_READ_ERROR:
    jc_log(JC_LOG_DEBUG, "read from client %s failed: %s", c->peer, text);
    if (c->state == LB_C_HEAD && !c->ex.term)
      c->ex.term = "client-aborted";
    break;
  case LB_STREAM_WRITE_ERROR:
    if (!c->ex.term)
      c->ex.term = "client-write-error";
    break;
  case LB_STREAM_TLS_ERROR:
    if (c->state == LB_C_TLS) {
      jc_log(JC_LOG_INFO, "TLS handshake with %s failed: %s", c->peer, text);
      text = "tls-handshake-failed";
    } else {
      jc_log(JC_LOG_INFO, "TLS error from %s: %s", c->peer, text);
      text = "tls-error";
    }
    break;
  case LB_STREAM_NOT_TLS:
    refuse_plain_http(c);
    return;
  case LB_STREAM_NO_MEMORY:
    break;
  }
  lb_client_close(c, text);
}

/* TLS handshake complete: the connection waits for its first request. */
static void on_ready(lb_stream *s) {
  lb_client *c = client_of_stream(s);
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
  if (lb_tls_alpn_h2(c->s.tls.ssl))
    c->ex.w->h2->start(c);
}

static const lb_stream_ops client_stream_ops = {on_room, on_data, on_sent, on_close, on_ready};

static void client_want_read(lb_client *c) {
  if (c->in_len < c->in_cap)
    lb_stream_read(&c->s);
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
  lb_client_resp_place(c);
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
  lb_client_buffers_init(c);
  c->ex.ops = &h1_ops;
  c->ex.w = w;
  c->h1.max_hdrs = cfg->max_headers;
  c->h1.max_body = cfg->max_body_size;
  c->h1.max_head = cfg->max_header_size;
  c->h1.trl_lend = lb_client_trailers_lend;
  c->in_cap = cfg->max_header_size + LB_BODY_ROOM;
  lb_stream_init(&c->s, &w->sl, &client_stream_ops);
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
  if (uv_accept(server, (uv_stream_t *)&c->s.tcp) != 0) {
    c->state = LB_C_IDLE;
    lb_client_close(c, "accept failed");
    return;
  }
  uv_tcp_nodelay(&c->s.tcp, 1);
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (uv_tcp_getpeername(&c->s.tcp, (struct sockaddr *)&ss, &sl) == 0)
    jc_addr_format((struct sockaddr *)&ss, c->peer, sizeof c->peer);
  else
    snprintf(c->peer, sizeof c->peer, "unknown");
  jc_addr_ip_slice(c->peer, &c->peer_ip_off, &c->peer_ip_len);
  uint64_t now = jc_now_us();
  reset_request(c);
  c->ex.t.accept = now;
  if (tls) {
    if (lb_stream_tls(&c->s, lb_runtime_tls_default(w->rt), 1, NULL) != 0) {
      c->state = LB_C_IDLE;
      lb_client_close(c, "TLS session allocation failed");
      return;
    }
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
  client_want_read(c);
}

/* Shutdown: idle connections close now, busy ones after their response. */
void lb_client_begin_stop(lb_client *c) {
  if (c->closing)
    return;
  if (c->state == LB_C_IDLE && c->in_len == 0 && !c->s.writing)
    lb_client_close(c, "shutdown");
  else
    c->ex.keep_alive = 0;
}
