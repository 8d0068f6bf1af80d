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
 * closed before any response byte is retried once on a fresh connection, invisibly. */
#include "lb/proxy/lb.h"
#include "lb/core/request_check.h"

#include "common/clock.h"
#include "common/log.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static int r_on_message_begin(llhttp_t *p);
static int r_on_status(llhttp_t *p, const char *at, size_t n);
static int r_on_header_field(llhttp_t *p, const char *at, size_t n);
static int r_on_header_value(llhttp_t *p, const char *at, size_t n);
static int r_on_headers_complete(llhttp_t *p);
static int r_on_body(llhttp_t *p, const char *at, size_t n);
static int r_on_message_complete(llhttp_t *p);

static llhttp_settings_t resp_settings;
static uv_once_t resp_once = UV_ONCE_INIT;
static void resp_settings_init(void) {
  llhttp_settings_init(&resp_settings);
  resp_settings.on_message_begin = r_on_message_begin;
  resp_settings.on_status = r_on_status;
  resp_settings.on_header_field = r_on_header_field;
  resp_settings.on_header_value = r_on_header_value;
  resp_settings.on_headers_complete = r_on_headers_complete;
  resp_settings.on_body = r_on_body;
  resp_settings.on_message_complete = r_on_message_complete;
}

static void attach(lb_client *c, int server, int allow_reuse);
static void process_response(lb_bconn *b);
static void backend_failed(lb_bconn *b, const char *why, int timeout);

/* ---- response parser callbacks: views into b->rbuf ---- */

static int r_on_message_begin(llhttp_t *p) {
  lb_bconn *b = p->data;
  b->nhdrs = 0;
  b->hdr_state = 0;
  b->reason = NULL;
  b->reason_len = 0;
  return 0;
}

static int r_on_status(llhttp_t *p, const char *at, size_t n) {
  lb_bconn *b = p->data;
  if (!b->reason)
    b->reason = at;
  b->reason_len = (size_t)(at + n - b->reason);
  return 0;
}

static int r_on_header_field(llhttp_t *p, const char *at, size_t n) {
  lb_bconn *b = p->data;
  return lb_headers_on_field(b->hdrs, &b->nhdrs, sizeof b->hdrs / sizeof b->hdrs[0],
                             &b->hdr_state, at, n);
}

static int r_on_header_value(llhttp_t *p, const char *at, size_t n) {
  lb_bconn *b = p->data;
  lb_headers_on_value(b->hdrs, b->nhdrs, &b->hdr_state, at, n);
  return 0;
}

static int r_on_headers_complete(llhttp_t *p) {
  lb_bconn *b = p->data;
  if (!lb_headers_names_valid(b->hdrs, b->nhdrs)) {
    llhttp_set_error_reason(p, "invalid character in header name");
    return HPE_USER;
  }
  /* Values are relayed as they are: a CR, LF (obs-fold) or NUL would reach the client as is. */
  for (uint32_t i = 0; i < b->nhdrs; i++)
    if (!lb_field_value_valid(b->hdrs[i].value, b->hdrs[i].value_len)) {
      llhttp_set_error_reason(p, "invalid character in header value");
      return HPE_USER;
    }
  if (b->reason && !lb_field_value_valid(b->reason, b->reason_len)) {
    llhttp_set_error_reason(p, "invalid character in reason phrase");
    return HPE_USER;
  }
  b->head_ready = 1;
  int st = p->status_code;
  if (st < 200 || st == 204 || st == 304 || b->skip_body ||
      ((p->flags & F_CONTENT_LENGTH) && p->content_length == 0)) {
    b->framing = LB_FRAME_NONE;
    b->msg_ready = 1; /* no body: the message ends with its head */
  } else if (p->flags & F_CHUNKED) {
    b->framing = LB_FRAME_CHUNKED;
  } else if (p->flags & F_CONTENT_LENGTH) {
    b->framing = LB_FRAME_LENGTH;
  } else {
    b->framing = LB_FRAME_CLOSE;
  }
  return HPE_PAUSED;
}

static int r_on_body(llhttp_t *p, const char *at, size_t n) {
  lb_bconn *b = p->data;
  if (b->dechunk_on) {
    memmove(b->rbuf + b->dechunk, at, n); /* decoded bytes never overtake the raw ones */
    b->dechunk += n;
  }
  return 0;
}

static int r_on_message_complete(llhttp_t *p) {
  lb_bconn *b = p->data;
  b->msg_ready = 1;
  return HPE_PAUSED;
}

/* ---- helpers ---- */

static lb_server *server_of(lb_client *c) {
  return &c->w->rt->pools[c->pool].servers[c->server];
}

static void phase(lb_client *c, const char *name, uint64_t now) {
  if (jc_log_enabled(JC_LOG_DEBUG))
    lb_debug_phase(c, name, now);
}

static void reset_parser(lb_bconn *b, lb_client *c) {
  uv_once(&resp_once, resp_settings_init);
  llhttp_init(&b->parser, HTTP_RESPONSE, &resp_settings);
  b->parser.data = b;
  b->head_ready = b->head_sent = b->msg_ready = 0;
  b->skip_body = c->method == HTTP_HEAD;
  b->dechunk_on = 0;
  b->nhdrs = 0;
  b->body_start = b->rparse;
}

/* Releases the client's hold on its server and connection. reusable: the backend connection
 * finished a whole exchange cleanly and may serve another request. */
void lb_proxy_detach(lb_client *c, int reusable) {
  lb_bconn *b = c->b;
  if (c->counted) {
    lb_server_end(server_of(c));
    c->counted = 0;
  }
  c->b = NULL;
  if (!b)
    return;
  b->c = NULL;
  lb_deadline_clear(&b->dl);
  if (reusable && b->state == LB_B_WAITING && !b->writing) {
    b->reusable = 1;
    lb_pool_release(b);
  } else {
    lb_bconn_close(b);
  }
}

static void fail_request(lb_client *c, int status, const char *what, lb_server *s) {
  char body[300];
  if (s)
    snprintf(body, sizeof body, "%s (server %s %s)", what, s->name, s->addr_text);
  else
    snprintf(body, sizeof body, "%s", what);
  lb_client_local_response(c, status, body, 1,
                           status == 504 ? "backend-timeout" : status == 503 ? "no-server"
                                                                             : "backend-error");
}

/* After a failed attempt on server s: another server, or an error response. */
static void retry_or_fail(lb_client *c, lb_server *s, const char *why, int timeout) {
  lb_runtime *rt = c->w->rt;
  lb_pool *p = &rt->pools[c->pool];
  lb_tried_add(&c->rx->tried, s->index);
  int can_retry = !c->t.sent || c->req_framing == LB_FRAME_NONE; /* no body byte gone yet */
  if (can_retry) {
    const lb_key *key = p->ops->keyed && c->rx->has_key ? &c->rx->key : NULL;
    int next = lb_balancer_pick(p, key, &c->rx->tried);
    if (next < 0) {
      char msg[200];
      snprintf(msg, sizeof msg, "no backend server available: every server of pool %s failed "
               "(last: %s)", p->name, why);
      fail_request(c, 503, msg, NULL);
      return;
    }
    if (c->retries < (int)rt->cfg.retries) {
      c->retries++;
      jc_log(JC_LOG_INFO, "retrying request %s on server %s after %s on %s",
             lb_client_request_id(c), p->servers[next].name, why, s->name);
      c->server = next;
      attach(c, next, 1);
      return;
    }
  }
  char msg[200];
  snprintf(msg, sizeof msg, "backend %s", why);
  fail_request(c, timeout ? 504 : 502, msg, s);
}

/* ---- connect and send ---- */

static void on_backend_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lb_bconn *b = h->data;
  if (!b->rbuf) { /* idle in the pool: whatever comes closes it (on_backend_read) */
    *buf = uv_buf_init(b->w->tls_scratch, sizeof b->w->tls_scratch);
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
  lb_client *c = b->c;
  if (nread < 0) {
    uv_read_stop(s);
    if (nread == UV_EOF && b->head_ready && b->framing == LB_FRAME_CLOSE && !b->msg_ready) {
      /* close-delimited body: the end of the connection is the end of the message */
      b->msg_ready = 1;
      b->reusable = 0;
      process_response(b);
      return;
    }
    backend_failed(b, nread == UV_EOF ? "closed the connection" : uv_strerror((int)nread), 0);
    return;
  }
  b->rlen += (size_t)nread;
  if (!b->got_bytes && c) {
    b->got_bytes = 1;
    c->t.first_byte = jc_now_us();
    phase(c, "first-byte", c->t.first_byte);
  }
  if (b->rlen == b->rcap)
    uv_read_stop(s);
  process_response(b);
  /* Inactivity timeout between reads, re-armed only while the response goes on (most
   * responses end within their first read: no timer work at all). */
  if (b->state != LB_B_CLOSING && b->c && !b->msg_ready)
    lb_deadline_set(&b->timer, &b->dl, on_response_timeout, b->w->rt->cfg.backend_response_timeout);
}

static void on_backend_written(uv_write_t *req, int status) {
  lb_bconn *b = req->data;
  b->writing = 0;
  if (b->state == LB_B_CLOSING)
    return;
  lb_client *c = b->c;
  if (status < 0) {
    backend_failed(b, uv_strerror(status), 0);
    return;
  }
  if (!c)
    return;
  if (b->state == LB_B_SENDING)
    b->state = LB_B_WAITING;
  if (!c->t.sent) {
    c->t.sent = jc_now_us();
    phase(c, "send", c->t.sent);
  }
  /* The forwarded body bytes are consumed; read more if the request continues. */
  c->body_off = b->body_end;
  lb_client_body_sent(c);
}

static void on_backend_written_now(lb_deferred *d) {
  lb_bconn *b = (lb_bconn *)((char *)d - offsetof(lb_bconn, wdone));
  on_backend_written(&b->wreq, 0);
}

/* Writes the head (first time) and the unsent body slice. */
static void send_pending(lb_client *c) {
  lb_bconn *b = c->b;
  if (!b || b->writing || b->state == LB_B_CONNECTING)
    return;
  uv_buf_t bufs[2];
  unsigned n = 0;
  if (!b->head_written) {
    bufs[n++] = uv_buf_init(c->head_out, (unsigned)c->head_len);
    b->head_written = 1;
  }
  b->body_end = c->body_off;
  if (c->parse_off > c->body_off) {
    bufs[n++] = uv_buf_init(c->in + c->body_off, (unsigned)(c->parse_off - c->body_off));
    c->bytes_in += c->parse_off - c->body_off;
    b->body_end = c->parse_off; /* consumed once this write completes */
  }
  if (!n)
    return;
  b->wreq.data = b;
  b->writing = 1;
  int r = lb_stream_write(b->w, (uv_stream_t *)&b->tcp, &b->wreq, &b->wdone,
                          on_backend_written_now, bufs, n, on_backend_written);
  if (r < 0) {
    b->writing = 0;
    backend_failed(b, uv_strerror(r), 0);
  }
}

void lb_proxy_send_body(lb_client *c) { send_pending(c); }

static void start_exchange(lb_bconn *b, lb_client *c) {
  if (lb_bconn_rbuf_get(b) != 0) {
    backend_failed(b, "out of memory for a response buffer", 0);
    return;
  }
  b->state = LB_B_SENDING;
  b->head_written = 0;
  b->got_bytes = 0;
  b->timed_out = 0;
  reset_parser(b, c);
  lb_deadline_set(&b->timer, &b->dl, on_response_timeout, c->w->rt->cfg.backend_response_timeout);
  send_pending(c);
}

static void on_connect(uv_connect_t *req, int status) {
  lb_bconn *b = req->data;
  if (b->state == LB_B_CLOSING)
    return; /* cancelled: timed out or the client left */
  lb_client *c = b->c;
  lb_deadline_clear(&b->dl);
  if (status < 0) {
    backend_failed(b, uv_strerror(status), 0);
    return;
  }
  uv_tcp_nodelay(&b->tcp, 1);
  uint64_t now = jc_now_us();
  lb_passive_connected(b->w->rt, b->server, now - b->connect_start);
  c->t.connected = now;
  phase(c, "connect", now);
  if (uv_read_start((uv_stream_t *)&b->tcp, on_backend_alloc, on_backend_read) != 0) {
    backend_failed(b, "cannot read from the new connection", 0);
    return;
  }
  start_exchange(b, c);
}

static void on_connect_timeout(uv_timer_t *t) {
  lb_bconn *b = t->data;
  if (!lb_deadline_reached(t, &b->dl))
    return;
  backend_failed(b, "connect timeout", 1);
}

static void attach(lb_client *c, int server, int allow_reuse) {
  lb_worker *w = c->w;
  lb_server *s = &w->rt->pools[c->pool].servers[server];
  c->server = server;
  lb_server_begin(s);
  c->counted = 1;
  uint64_t now = jc_now_us();
  if (!c->t.queued) {
    c->t.queued = now;
    phase(c, "select", now);
  }
  lb_bconn *b = allow_reuse ? lb_pool_acquire(w, c->pool, s) : NULL;
  c->backend_reused = b != NULL;
  if (b) {
    b->c = c;
    c->b = b;
    b->rlen = b->rparse = 0;
    c->t.connected = now;
    phase(c, "connect", now);
    start_exchange(b, c);
    return;
  }
  b = lb_bconn_new(w, c->pool, s);
  if (!b) {
    lb_proxy_detach(c, 0);
    fail_request(c, 503, "out of memory for a backend connection", NULL);
    return;
  }
  b->c = c;
  c->b = b;
  b->reused = 0;
  b->creq.data = b;
  b->connect_start = now;
  int r = uv_tcp_connect(&b->creq, &b->tcp, (const struct sockaddr *)&s->addr, on_connect);
  if (r < 0) {
    backend_failed(b, uv_strerror(r), 0);
    return;
  }
  lb_deadline_set(&b->timer, &b->dl, on_connect_timeout, w->rt->cfg.backend_connect_timeout);
}

/* The request's key for a keyed pool (hash), kept in the lent block for retries (has_key is
 * written here only: retries read it for keyed pools only); NULL when it has none. Views into
 * the request, nothing copied. */
static const lb_key *request_key(lb_client *c, const lb_pool *p) {
  lb_key_source src = {.client_ip = c->peer + c->peer_ip_off,
                       .client_ip_len = c->peer_ip_len,
                       .target = c->url,
                       .target_len = c->url ? c->url_len : 0,
                       .headers = c->hdrs,
                       .nheaders = c->nhdrs};
  const lb_key *key = lb_pool_key(p, &src, &c->rx->key);
  c->rx->has_key = key != NULL;
  return key;
}

void lb_proxy_dispatch(lb_client *c) {
  lb_pool *p = &c->w->rt->pools[c->pool];
  int i = lb_balancer_pick(p, p->ops->keyed ? request_key(c, p) : NULL, NULL);
  if (i < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "no healthy backend server in pool %s", p->name);
    atomic_fetch_add_explicit(&p->no_server, 1, memory_order_relaxed);
    c->t.queued = jc_now_us();
    fail_request(c, 503, msg, NULL);
    return;
  }
  attach(c, i, 1);
}

/* ---- failures ---- */

static void backend_failed(lb_bconn *b, const char *why, int timeout) {
  lb_client *c = b->c;
  if (!c) {
    lb_bconn_close(b);
    return;
  }
  lb_server *s = b->server;
  int connecting = b->state == LB_B_CONNECTING;
  int got_bytes = b->got_bytes;
  int stale = b->reused && !got_bytes && !connecting && !timeout;
  lb_proxy_detach(c, 0); /* closes b */
  if (c->resp_started) {
    jc_log(JC_LOG_WARN, "backend %s (%s) failed mid-response for request %s: %s", s->name,
           s->addr_text, lb_client_request_id(c), why);
    atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
    lb_client_close(c, "backend-aborted");
    return;
  }
  int idempotent = c->method == HTTP_GET || c->method == HTTP_HEAD || c->method == HTTP_OPTIONS;
  if (stale && !c->reused_retry && c->req_framing == LB_FRAME_NONE) {
    /* The pooled connection was closed by the backend meanwhile: same server, fresh socket. */
    c->reused_retry = 1;
    jc_log(JC_LOG_DEBUG, "pooled connection to %s was closed (%s): retrying on a new one",
           s->name, why);
    attach(c, s->index, 0);
    return;
  }
  atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
  if (connecting) {
    lb_passive_connect_failed(c->w->rt, c->pool, s);
    jc_log(JC_LOG_WARN, "connect to backend %s (%s) failed: %s", s->name, s->addr_text, why);
    char msg[120];
    snprintf(msg, sizeof msg, "connect failed: %s", why);
    retry_or_fail(c, s, msg, timeout);
    return;
  }
  jc_log(JC_LOG_WARN, "backend %s (%s) failed for request %s: %s", s->name, s->addr_text,
         lb_client_request_id(c), why);
  if (timeout) {
    fail_request(c, 504, "backend response timeout", s);
    return;
  }
  if (idempotent && c->req_framing == LB_FRAME_NONE && !got_bytes) {
    char msg[120];
    snprintf(msg, sizeof msg, "empty response: %s", why);
    retry_or_fail(c, s, msg, 0);
    return;
  }
  char msg[160];
  snprintf(msg, sizeof msg, "backend failed before responding: %s", why);
  fail_request(c, 502, msg, s);
}

/* ---- response relay ---- */

static int build_head(lb_bconn *b, lb_client *c, uint64_t now) {
  lb_runtime *rt = c->w->rt;
  int status = b->parser.status_code;
  int interim = status < 200;
  lb_response_view v = {
      .status = status,
      .http_minor = b->parser.http_minor,
      .reason = b->reason,
      .reason_len = b->reason_len,
      .headers = b->hdrs,
      .nheaders = b->nhdrs,
  };
  lb_response_extra x = {.framing = b->framing, .client_http_minor = c->http_minor};
  char st[256];
  if (!interim) {
    c->t.resp_hdr = now;
    c->status = status;
    if (status >= 500)
      atomic_fetch_add_explicit(&b->server->responses_5xx, 1, memory_order_relaxed);
    lb_passive_response(rt, c->pool, b->server, status);
    if (b->framing == LB_FRAME_CHUNKED && c->http_minor == 0) {
      b->dechunk_on = 1;
      b->dechunk = b->rparse;
      x.framing = LB_FRAME_CLOSE;
    }
    if (b->skip_body && (b->parser.flags & F_CHUNKED) && c->http_minor == 1)
      x.framing = LB_FRAME_CHUNKED; /* HEAD: announce what a GET would get */
    int keep = c->keep_alive && c->msg_done && !rt->stopping && x.framing != LB_FRAME_CLOSE;
    if (!keep)
      c->close_after_send = 1;
    x.keep_alive = keep;
    if (rt->cfg.server_timing && lb_server_timing_format(st, sizeof st, &c->t, now))
      x.server_timing = st;
    if (rt->cfg.served_by)
      x.served_by = b->server->name;
    if (rt->cfg.request_id) {
      x.request_id = c->reqid;
      x.request_id_len = c->reqid_len;
    }
  }
  lb_client_resp_place(c);
  size_t n = lb_rewrite_response(c->resp_head, c->resp_cap, &v, &x);
  return (int)n;
}

static void process_response(lb_bconn *b) {
  lb_client *c = b->c;
  if (!c || c->writing)
    return; /* on_client_sent continues */
  uv_buf_t bufs[2];
  unsigned n = 0;
  for (;;) {
    if (!b->msg_ready && b->rparse < b->rlen) {
      enum llhttp_errno e = llhttp_execute(&b->parser, b->rbuf + b->rparse, b->rlen - b->rparse);
      if (e == HPE_OK) {
        b->rparse = b->rlen;
      } else if (e == HPE_PAUSED) {
        b->rparse = (size_t)(llhttp_get_error_pos(&b->parser) - b->rbuf);
        llhttp_resume(&b->parser);
      } else {
        char why[200];
        snprintf(why, sizeof why, "sent an invalid response (%s: %s)", llhttp_errno_name(e),
                 llhttp_get_error_reason(&b->parser));
        b->got_bytes = 1; /* never retried */
        backend_failed(b, why, 0);
        return;
      }
    }
    if (b->head_ready && !b->head_sent) {
      uint64_t now = jc_now_us();
      int len = build_head(b, c, now);
      if (len <= 0) {
        b->got_bytes = 1;
        backend_failed(b, "response headers too large", 0);
        return;
      }
      if (b->parser.status_code >= 200)
        phase(c, "response", now);
      bufs[n++] = uv_buf_init(c->resp_head, (unsigned)len);
      b->head_sent = 1;
      b->body_start = b->rparse;
      if (b->dechunk_on)
        b->dechunk = b->rparse;
      if (!b->msg_ready && b->rparse < b->rlen)
        continue; /* parse the body bytes behind the head before sending */
    }
    if (b->head_sent) {
      size_t end = b->dechunk_on ? b->dechunk : b->rparse;
      if (end > b->body_start)
        bufs[n++] = uv_buf_init(b->rbuf + b->body_start, (unsigned)(end - b->body_start));
    }
    if (n) {
      c->resp_started = 1;
      lb_client_send(c, bufs, n);
      return;
    }
    if (b->msg_ready) {
      lb_proxy_on_client_sent(c); /* nothing left to send: complete */
      return;
    }
    if (!b->head_ready && b->rlen == b->rcap) {
      b->got_bytes = 1;
      backend_failed(b, "response headers too large", 0);
    }
    return;
  }
}

void lb_proxy_on_client_sent(lb_client *c) {
  lb_bconn *b = c->b;
  if (!b)
    return;
  /* What was sent is consumed: keep the unparsed rest at the front. */
  size_t rest = b->rlen - b->rparse;
  if (b->rparse && rest)
    memmove(b->rbuf, b->rbuf + b->rparse, rest);
  b->rlen = rest;
  b->rparse = 0;
  b->body_start = 0;
  b->dechunk = 0;
  if (b->msg_ready) {
    if (b->parser.status_code < 200 && b->parser.status_code >= 100) {
      reset_parser(b, c); /* 1xx: the final response follows */
      process_response(b);
      return;
    }
    lb_deadline_clear(&b->dl);
    int reusable = b->framing != LB_FRAME_CLOSE && llhttp_should_keep_alive(&b->parser) &&
                   b->rlen == 0 && c->msg_done && c->body_off == c->parse_off && !b->writing;
    b->state = LB_B_WAITING;
    lb_proxy_detach(c, reusable);
    lb_client_request_done(c);
    return;
  }
  if (b->state != LB_B_CLOSING)
    uv_read_start((uv_stream_t *)&b->tcp, on_backend_alloc, on_backend_read);
  process_response(b);
}
