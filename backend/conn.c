/* One journey-backend connection: requests parsed (request_head.c) and answered (routes.c) in
 * order, keep-alive, pipelining, bounded output, linger after a closing answer, and after a
 * 101 on /ws the WebSocket session (websocket.c). See conn.h for who owns what. */
#include "backend/conn.h"

#include "backend/ws_handshake.h"
#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double rng_draw(be_worker *w) { /* xorshift64*: uniform in [0,1) */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return (double)((w->rng * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- responding ---- */

static be_method method_of(int m) {
  switch (m) {
  case HTTP_GET: return BE_GET;
  case HTTP_HEAD: return BE_HEAD;
  case HTTP_POST: return BE_POST;
  default: return BE_OTHER_METHOD;
  }
}

static void fill_request(be_conn *c, be_request *rq) {
  rq->method = method_of(c->parser.method);
  rq->method_name = llhttp_method_name((llhttp_method_t)c->parser.method);
  rq->target = c->head.target;
  rq->target_len = c->head.target_len;
  rq->request_id = c->head.has_rid ? c->head.rid : NULL;
  rq->request_id_len = c->head.rid_len;
  rq->xff = c->head.has_xff ? c->head.xff : NULL;
  rq->xff_len = c->head.xff_len;
  rq->body = c->head.body;
  rq->body_len = c->head.body_len;
  rq->body_complete = c->head.body_bytes == c->head.body_len;
  rq->http_minor = c->parser.http_minor;
  rq->peer_loopback = c->peer_loopback;
}

/* Queues the response for the current request (rq NULL: an error found before the request
 * was whole) and writes its access log line. */
static void respond(be_conn *c, const be_decision *d, const be_request *rq) {
  be_worker *w = c->w;
  int keep_alive = rq && !d->close && !w->draining && llhttp_should_keep_alive(&c->parser) &&
                   !c->parser.upgrade;
  be_response_meta m = {keep_alive, w->date, c->peer};
  ssize_t n = be_response_build(w->scratch, sizeof w->scratch, d, rq, &c->l->id, &m);
  if (n < 0 || jc_buf_append(&c->out, w->scratch, (size_t)n) != 0) {
    /* Cannot happen within the limits above; losing the connection beats a wrong answer. */
    jc_log(JC_LOG_ERROR, "response for %s did not fit the output buffer: closing", c->peer);
    be_conn_close(c);
    return;
  }
  if (!keep_alive)
    c->close_after = 1;
  if (w->log.enabled) {
    int started = c->head.target_len > 0;
    be_access_entry e = {
        .backend = w->opt->name,
        .client = c->peer,
        .method = started ? llhttp_method_name((llhttp_method_t)c->parser.method) : "-",
        .target = started ? c->head.target : "-",
        .target_len = started ? c->head.target_len : 1,
        .status = d->status,
        .bytes = (size_t)n,
        .dur_us = c->req_start_us ? jc_now_us() - c->req_start_us : 0,
        .request_id = c->head.has_rid ? c->head.rid : NULL,
        .request_id_len = c->head.rid_len,
        .keep_alive = keep_alive,
    };
    be_accesslog_add(&w->log, &e);
  }
}

static void respond_error(be_conn *c, int status) {
  be_decision d;
  be_error_decision(status, &d);
  respond(c, &d, NULL);
  c->in_request = 0;
  c->close_after = 1;
}

/* ---- llhttp callbacks ---- */

static be_conn *conn_of(llhttp_t *p) { /* llhttp's data is the head (request_head.h) */
  return (be_conn *)((char *)p->data - offsetof(be_conn, head));
}

static int on_message_begin(llhttp_t *p) {
  be_conn *c = conn_of(p);
  c->in_request = 1;
  c->req_start_ms = uv_now(&c->w->loop);
  c->req_start_us = c->w->log.enabled ? jc_now_us() : 0; /* only the access log uses it */
  be_head_begin(&c->head);
  return 0;
}

static void on_delay_done(uv_timer_t *t);

/* GET /ws: the 101 and a session (the parser then stops: what follows are frames), or the
 * refusal, which closes the connection. */
static int ws_upgrade(be_conn *c, const be_request *rq) {
  be_worker *w = c->w;
  char accept[BE_WS_ACCEPT_LEN + 1];
  be_decision d;
  if (be_ws_handshake(&c->head.wsh, rq->method == BE_GET, rq->http_minor, &d, accept) != 101) {
    respond(c, &d, rq);
    return HPE_PAUSED;
  }
  ssize_t n = be_ws_response_101(w->scratch, sizeof w->scratch, accept, w->date, &c->l->id,
                                 rq->request_id, rq->request_id_len);
  c->ws = be_ws_new(w->opt->ws_max_message_bytes, &c->out);
  if (n < 0 || !c->ws || jc_buf_append(&c->out, w->scratch, (size_t)n) != 0) {
    jc_log(JC_LOG_ERROR, "out of memory opening a WebSocket for %s: closing", c->peer);
    be_conn_close(c);
    return HPE_PAUSED;
  }
  c->ws_start_us = jc_now_us();
  if (w->draining) { /* a handshake that raced the drain: open, then close at once */
    be_ws_close(c->ws, 1001, "server shutting down");
    c->ws_close_at = uv_now(&w->loop);
  }
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  be_conn *c = conn_of(p);
  be_worker *w = c->w;
  const be_options *o = w->opt;
  c->in_request = 0;
  be_request rq;
  fill_request(c, &rq);
  if (be_ws_is_path(c->head.target, c->head.target_len))
    return ws_upgrade(c, &rq);
  be_state st = {be_health_get(), o->admin, o->fail_rate, o->fail_rate > 0 ? rng_draw(w) : 1.0};
  be_decision d;
  be_route(&rq, &st, &d);
  if (d.health != BE_HEALTH_KEEP)
    be_health_set(d.health == BE_HEALTH_SET_UP, "POST /admin/health");
  if (d.delayed && o->delay_max_ms > 0) {
    unsigned ms = be_delay_pick(o->delay_min_ms, o->delay_max_ms, rng_draw(w));
    if (ms > 0) {
      c->pending = d;
      c->delaying = 1;
      uv_timer_start(&c->delay, on_delay_done, ms, 0);
      return HPE_PAUSED; /* later pipelined requests wait behind this one */
    }
  }
  respond(c, &d, &rq);
  if (c->close_after || c->closing)
    return HPE_PAUSED; /* nothing after a closing response is read */
  if (jc_buf_len(&c->out) >= OUT_HIGH_WATER) {
    if (jc_log_enabled(JC_LOG_DEBUG))
      jc_log(JC_LOG_DEBUG, "%s reads slower than it sends: parsing paused until %zu bytes drain",
             c->peer, jc_buf_len(&c->out));
    return HPE_PAUSED; /* resume when the output drains */
  }
  return 0;
}

static const llhttp_settings_t g_settings = {
    .on_message_begin = on_message_begin,
    .on_url = be_head_on_url,
    .on_header_field = be_head_on_header_field,
    .on_header_field_complete = be_head_on_header_field_complete,
    .on_header_value = be_head_on_header_value,
    .on_header_value_complete = be_head_on_header_value_complete,
    .on_headers_complete = be_head_on_headers_complete,
    .on_body = be_head_on_body,
    .on_message_complete = on_message_complete,
};

/* ---- connection I/O ----
 *
 * conn_progress() is the one place that moves a connection forward after anything happened
 * (bytes read, a write done, a delay over, a timeout): write what is queued, resume parsing if
 * it paused and may go on, read again, or close. Callbacks only record state and call it. */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void conn_progress(be_conn *c);

static void drop_stash(be_conn *c) {
  free(c->stash);
  c->stash = NULL;
  c->stash_off = c->stash_len = 0;
}

static void read_on(be_conn *c) {
  if (c->reading || c->closing)
    return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    be_conn_close(c);
    return;
  }
  c->reading = 1;
}

static void read_off(be_conn *c) {
  if (!c->reading)
    return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

/* Parses bytes; returns how many were consumed (fewer when the parser paused). */
static size_t conn_feed(be_conn *c, const char *data, size_t len) {
  llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
  if (e == HPE_OK)
    return len;
  size_t used = (size_t)(llhttp_get_error_pos(&c->parser) - data);
  if (e == HPE_PAUSED) {
    c->paused = 1;
  } else if (e == HPE_PAUSED_UPGRADE) {
    /* CONNECT or Upgrade outside /ws: answered as a plain request, and the bytes after it
     * are not HTTP we can read. After a 101 they are the WebSocket's frames. */
    c->close_after = c->close_after || !c->ws;
  } else if (!c->closing) {
    int status = c->head.err_status ? c->head.err_status : 400;
    if (status == 400 && jc_log_enabled(JC_LOG_DEBUG))
      jc_log(JC_LOG_DEBUG, "bad request from %s: %s (%s)", c->peer, llhttp_errno_name(e),
             llhttp_get_error_reason(&c->parser));
    respond_error(c, status);
  }
  if (c->close_after || c->closing || c->paused)
    read_off(c);
  if (c->close_after || c->closing)
    drop_stash(c);
  return used;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  be_conn *c = h->data;
  buf->base = c->w->readbuf;
  buf->len = sizeof c->w->readbuf;
}

/* --record: the raw bytes as read, before any parsing (a test's proof of what arrived). */
static void record_bytes(be_server *s, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(s->record_fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      jc_log(JC_LOG_ERROR, "--record %s: write failed: %s; recording stops", s->opt.record,
             strerror(errno));
      close(s->record_fd);
      s->record_fd = -1;
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  be_conn *c = s->data;
  if (c->closing)
    return;
  if (nread > 0) {
    c->last_active = uv_now(&c->w->loop);
    if (c->w->srv->record_fd >= 0)
      record_bytes(c->w->srv, buf->base, (size_t)nread);
    if (c->lingering)
      return; /* dropping what follows a closing response */
    size_t used = c->ws ? be_ws_feed(c->ws, buf->base, (size_t)nread)
                        : conn_feed(c, buf->base, (size_t)nread);
    if ((c->paused || c->ws) && !c->close_after && !c->closing && used < (size_t)nread) {
      /* Reading stopped with the pause (or the WebSocket's full output side), so the stash is
       * empty here; after a 101 it holds the frames that came with the handshake. */
      c->stash_len = (size_t)nread - used;
      c->stash = malloc(c->stash_len);
      if (!c->stash) {
        jc_log(JC_LOG_ERROR, "out of memory keeping pipelined requests of %s: closing", c->peer);
        be_conn_close(c);
        return;
      }
      memcpy(c->stash, buf->base + used, c->stash_len);
      c->stash_off = 0;
    }
    conn_progress(c); /* every response this read produced, in one write */
    return;
  }
  if (nread == 0)
    return;
  if (nread != UV_EOF) { /* reset by peer and the like: nobody to answer */
    be_conn_close(c);
    return;
  }
  c->eof = 1;
  read_off(c);
  if (c->lingering || c->in_request || c->ws) { /* a half request cannot be answered */
    be_conn_close(c);
    return;
  }
  conn_progress(c); /* answer what was complete, then close */
}

static void on_shutdown(uv_shutdown_t *req, int status) { (void)req, (void)status; }

static void on_write(uv_write_t *req, int status) {
  be_conn *c = req->data;
  c->writing = 0;
  jc_buf_reset(&c->wbuf, 16 * 1024);
  if (c->closing)
    return;
  if (status < 0) {
    be_conn_close(c);
    return;
  }
  c->last_active = uv_now(&c->w->loop);
  conn_progress(c);
}

/* Writes what is queued: uv_try_write first (the usual case on a healthy connection: done,
 * no request object, no callback), uv_write for what the kernel did not take. */
static void conn_write_out(be_conn *c) {
  if (c->writing || c->closing)
    return;
  size_t n = jc_buf_len(&c->out);
  if (n == 0)
    return;
  uv_buf_t b = uv_buf_init((char *)jc_buf_peek(&c->out), (unsigned)n);
  int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == (int)n) {
    jc_buf_consume(&c->out, n);
    return;
  }
  if (r < 0 && r != UV_EAGAIN) {
    be_conn_close(c);
    return;
  }
  if (r > 0)
    jc_buf_consume(&c->out, (size_t)r);
  /* The kernel buffer is full: hand the rest to uv_write and assemble new responses in the
   * other buffer meanwhile. */
  jc_buf t = c->wbuf;
  c->wbuf = c->out;
  c->out = t;
  b = uv_buf_init((char *)jc_buf_peek(&c->wbuf), (unsigned)jc_buf_len(&c->wbuf));
  c->writing = 1;
  c->write_start = uv_now(&c->w->loop);
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    c->writing = 0;
    be_conn_close(c);
  }
}

/* Nothing more to read: close once the output is written. FIN first, then read and drop until
 * the client closes too: closing with unread input would make the kernel send RST, which can
 * destroy the response before it is read. */
static void conn_finish(be_conn *c) {
  if (c->writing || jc_buf_len(&c->out) || c->delaying || c->lingering)
    return;
  if (c->eof) {
    if (c->close_after || c->stash_off >= c->stash_len)
      be_conn_close(c);
    return;
  }
  if (!c->close_after)
    return;
  c->lingering = 1;
  c->linger_start = uv_now(&c->w->loop);
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    be_conn_close(c);
    return;
  }
  read_on(c);
}

/* A WebSocket moves on: frames out as far as the socket takes them, kept input fed while the
 * session has room to answer, reading only then (the back-pressure), FIN once it is over. */
static void ws_progress(be_conn *c) {
  for (;;) {
    be_ws_flush(c->ws);
    conn_write_out(c);
    if (c->closing)
      return;
    if (c->stash && be_ws_wants_input(c->ws)) {
      c->stash_off += be_ws_feed(c->ws, c->stash + c->stash_off, c->stash_len - c->stash_off);
      if (c->stash_off >= c->stash_len)
        drop_stash(c);
      continue;
    }
    if (c->writing || !be_ws_has_output(c->ws))
      break;
  }
  if (!c->writing && !jc_buf_len(&c->out)) /* an idle WebSocket keeps no 96 KiB of echoes */
    jc_buf_reset(&c->out, 16 * 1024);
  if (be_ws_finished(c->ws) && !c->close_after) {
    c->close_after = 1;
    drop_stash(c);
    read_off(c);
  }
  if (c->close_after)
    conn_finish(c);
  else if (!c->stash && be_ws_wants_input(c->ws))
    read_on(c);
  else
    read_off(c);
}

static void conn_progress(be_conn *c) {
  for (;;) {
    if (c->ws) {
      ws_progress(c);
      return;
    }
    conn_write_out(c);
    if (c->closing)
      return;
    /* Parsing paused behind a delayed response or a full output: go on when neither holds. */
    if (!c->paused || c->delaying || c->close_after || jc_buf_len(&c->out) >= OUT_HIGH_WATER)
      break;
    c->paused = 0;
    llhttp_resume(&c->parser);
    while (c->stash_off < c->stash_len && !c->paused && !c->close_after && !c->closing && !c->ws)
      c->stash_off += conn_feed(c, c->stash + c->stash_off, c->stash_len - c->stash_off);
    if (c->closing)
      return;
    if (c->stash_off >= c->stash_len)
      drop_stash(c);
  }
  if (!c->paused && !c->close_after && !c->eof && !c->lingering)
    read_on(c);
  else
    conn_finish(c);
}

static void on_delay_done(uv_timer_t *t) {
  be_conn *c = t->data;
  c->delaying = 0;
  be_request rq;
  fill_request(c, &rq);
  respond(c, &c->pending, &rq);
  conn_progress(c);
}

static void on_conn_handle_closed(uv_handle_t *h) {
  be_conn *c = h->data;
  if (--c->handles_open > 0)
    return;
  be_worker *w = c->w;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  w->n_conns--;
  jc_buf_free(&c->out);
  jc_buf_free(&c->wbuf);
  drop_stash(c);
  be_ws_free(c->ws);
  free(c);
  w->conn_gone(w);
}

/* A WebSocket's access log line, when it ends: what went each way, how long, how it closed. */
static void ws_log(be_conn *c) {
  be_worker *w = c->w;
  be_ws_counts n = be_ws_get_counts(c->ws);
  be_access_entry e = {
      .backend = w->opt->name,
      .client = c->peer,
      .method = "GET",
      .target = c->head.target,
      .target_len = c->head.target_len,
      .status = 101,
      .bytes = (size_t)n.bytes_out,
      .dur_us = jc_now_us() - c->ws_start_us,
      .request_id = c->head.has_rid ? c->head.rid : NULL,
      .request_id_len = c->head.rid_len,
      .ws = &n,
  };
  be_accesslog_add(&w->log, &e);
}

void be_conn_close(be_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  if (c->ws && c->w->log.enabled)
    ws_log(c);
  drop_stash(c);
  uv_close((uv_handle_t *)&c->delay, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

void be_conn_accept(uv_stream_t *server, int status) {
  be_listener *l = server->data;
  be_worker *w = l->w;
  if (status < 0) {
    jc_log(JC_LOG_WARN, "accept on %s failed: %s", l->addr, uv_strerror(status));
    return;
  }
  be_conn *c = calloc(1, sizeof *c);
  if (!c) {
    jc_log(JC_LOG_ERROR, "out of memory accepting on %s", l->addr);
    return;
  }
  c->w = w;
  c->l = l;
  uv_tcp_init(&w->loop, &c->tcp);
  uv_timer_init(&w->loop, &c->delay);
  c->tcp.data = c->delay.data = c;
  c->handles_open = 2;
  jc_buf_init(&c->out, OUT_CAP);
  jc_buf_init(&c->wbuf, OUT_CAP);
  c->next = w->conns;
  if (w->conns)
    w->conns->prev = c;
  w->conns = c;
  w->n_conns++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    be_conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
    jc_addr_format((struct sockaddr *)&ss, c->peer, sizeof c->peer);
    c->peer_loopback = jc_addr_is_loopback((struct sockaddr *)&ss);
  } else {
    snprintf(c->peer, sizeof c->peer, "?");
  }
  llhttp_init(&c->parser, HTTP_REQUEST, &g_settings);
  c->parser.data = &c->head;
  c->head.opt = w->opt;
  c->head.out = &c->out;
  c->last_active = uv_now(&w->loop);
  read_on(c);
}

void be_conn_drain(be_conn *c) {
  if (c->closing)
    return;
  if (c->ws) { /* 1001: the client answers with its close, then the connection ends */
    be_ws_close(c->ws, 1001, "server shutting down");
    c->ws_close_at = uv_now(&c->w->loop);
    ws_progress(c);
  } else if (!c->in_request && !c->delaying && !c->writing && !jc_buf_len(&c->out) && !c->paused) {
    be_conn_close(c);
  } else {
    c->close_after = c->close_after || !c->in_request; /* queued responses still go out */
  }
}

void be_conn_tick(be_conn *c, uint64_t now) {
  const be_options *o = c->w->opt;
  if (c->closing)
    return;
  if (c->lingering) {
    if (now - c->linger_start >= LINGER_MS)
      be_conn_close(c);
  } else if (c->writing) {
    if (now - c->write_start >= o->idle_timeout_ms) /* the client stopped reading */
      be_conn_close(c);
  } else if (c->ws) {
    if (c->ws_close_at && now - c->ws_close_at >= LINGER_MS) { /* no answer to our close */
      be_conn_close(c);
    } else if (!c->ws_close_at && now - c->last_active >= o->ws_idle_timeout_ms) {
      be_ws_close(c->ws, 1001, "idle");
      c->ws_close_at = now;
      ws_progress(c);
    }
  } else if (c->in_request) {
    if (now - c->req_start_ms >= o->request_timeout_ms) {
      respond_error(c, 408);
      read_off(c);
      conn_progress(c);
    }
  } else if (!c->delaying && !c->paused && !jc_buf_len(&c->out) &&
             now - c->last_active >= o->idle_timeout_ms) {
    be_conn_close(c);
  }
}
