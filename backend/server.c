#include "backend/server.h"

#include "backend/accesslog.h"
#include "backend/request_head.h"
#include "backend/routes.h"
#include "backend/websocket.h"
#include "backend/ws_handshake.h"
#include "common/addr.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One read buffer per worker, shared by its connections: llhttp is a streaming parser, so
 * bytes need not outlive the read callback except what a paused parser has not reached yet,
 * which goes to a per-connection stash (rare: only behind a --delay-ms response or a client
 * that does not read its responses). Idle connections therefore hold no read buffer. */
#define READ_BUF_SIZE (64 * 1024)
#define OUT_HIGH_WATER (64 * 1024) /* queued response bytes above which parsing pauses */
#define OUT_CAP (OUT_HIGH_WATER + 4 * BE_RESPONSE_MAX)
#define LINGER_MS 2000    /* after a closing response: read and drop what the client still sends */
#define LISTEN_BACKLOG 1024

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

/* ---- health (process-wide) ---- */

static atomic_int g_healthy = 1;

void be_health_set(int healthy, const char *why) {
  int was = atomic_exchange(&g_healthy, healthy ? 1 : 0);
  jc_logline l;
  jc_log_begin(&l, JC_LOG_INFO, "health");
  jc_logline_str(&l, "state", healthy ? "up" : "down");
  jc_logline_str(&l, "was", was ? "up" : "down");
  jc_logline_str(&l, "by", why);
  jc_log_emit(&l);
}

int be_health_get(void) { return atomic_load(&g_healthy); }

/* ---- small helpers ---- */

static double rng_draw(be_worker *w) { /* xorshift64*: uniform in [0,1) */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return (double)((w->rng * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

static void date_update(be_worker *w) {
  static const char days[] = "SunMonTueWedThuFriSat";
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  time_t now = time(NULL);
  if (now == w->date_sec)
    return;
  struct tm tm;
  gmtime_r(&now, &tm);
  snprintf(w->date, sizeof w->date, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", days + 3 * tm.tm_wday,
           tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
           tm.tm_sec);
  w->date_sec = now;
}

static void conn_close(be_conn *c);
static void worker_check_drained(be_worker *w);

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
    conn_close(c);
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
    conn_close(c);
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
    conn_close(c);
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
        conn_close(c);
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
    conn_close(c);
    return;
  }
  c->eof = 1;
  read_off(c);
  if (c->lingering || c->in_request || c->ws) { /* a half request cannot be answered */
    conn_close(c);
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
    conn_close(c);
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
    conn_close(c);
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
    conn_close(c);
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
      conn_close(c);
    return;
  }
  if (!c->close_after)
    return;
  c->lingering = 1;
  c->linger_start = uv_now(&c->w->loop);
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    conn_close(c);
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
  worker_check_drained(w);
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

static void conn_close(be_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  if (c->ws && c->w->log.enabled)
    ws_log(c);
  drop_stash(c);
  uv_close((uv_handle_t *)&c->delay, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void on_connection(uv_stream_t *server, int status) {
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
    conn_close(c);
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

/* ---- worker: timers, drain ---- */

static void on_worker_handle_closed(uv_handle_t *h) { (void)h; }

static void worker_check_drained(be_worker *w) {
  if (!w->draining || w->n_conns || w->stopping)
    return;
  w->stopping = 1;
  uv_close((uv_handle_t *)&w->tick, on_worker_handle_closed);
  uv_close((uv_handle_t *)&w->flush, on_worker_handle_closed);
  uv_close((uv_handle_t *)&w->wake, on_worker_handle_closed);
}

static void worker_cut_all(be_worker *w) {
  for (be_conn *c = w->conns; c; c = c->next)
    conn_close(c);
}

static void worker_start_drain(be_worker *w) {
  if (w->draining)
    return;
  w->draining = 1;
  w->drain_deadline = uv_now(&w->loop) + w->opt->drain_timeout_ms;
  for (int i = 0; i < w->n_listeners; i++)
    uv_close((uv_handle_t *)&w->listeners[i].tcp, on_worker_handle_closed);
  /* Idle connections go now; the others when their response is written (it says
   * Connection: close) or at the deadline. */
  for (be_conn *c = w->conns; c; c = c->next) {
    if (c->closing)
      continue;
    if (c->ws) { /* 1001: the client answers with its close, then the connection ends */
      be_ws_close(c->ws, 1001, "server shutting down");
      c->ws_close_at = uv_now(&w->loop);
      ws_progress(c);
    } else if (!c->in_request && !c->delaying && !c->writing && !jc_buf_len(&c->out) && !c->paused)
      conn_close(c);
    else
      c->close_after = c->close_after || !c->in_request; /* queued responses still go out */
  }
  worker_check_drained(w);
}

static void on_wake(uv_async_t *a) {
  be_worker *w = a->data;
  int req = atomic_load(&w->drain_req);
  if (req >= 1)
    worker_start_drain(w);
  if (req >= 2)
    worker_cut_all(w);
}

static void on_tick(uv_timer_t *t) {
  be_worker *w = t->data;
  const be_options *o = w->opt;
  uint64_t now = uv_now(&w->loop);
  date_update(w);
  if (w->draining && now >= w->drain_deadline) {
    worker_cut_all(w);
    return;
  }
  be_conn *next;
  for (be_conn *c = w->conns; c; c = next) {
    next = c->next;
    if (c->closing)
      continue;
    if (c->lingering) {
      if (now - c->linger_start >= LINGER_MS)
        conn_close(c);
    } else if (c->writing) {
      if (now - c->write_start >= o->idle_timeout_ms) /* the client stopped reading */
        conn_close(c);
    } else if (c->ws) {
      if (c->ws_close_at && now - c->ws_close_at >= LINGER_MS) { /* no answer to our close */
        conn_close(c);
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
      conn_close(c);
    }
  }
}

static void on_flush(uv_prepare_t *p) {
  be_worker *w = p->data;
  if (w->log.len)
    be_accesslog_flush(&w->log);
}

static void worker_main(void *arg) {
  be_worker *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  be_accesslog_flush(&w->log);
  int rc = uv_loop_close(&w->loop);
  if (rc != 0)
    jc_log(JC_LOG_WARN, "worker %d: event loop closed with handles still open (%s)", w->index,
           uv_strerror(rc));
  w->loop_ready = 0;
  atomic_fetch_add(&w->srv->exited, 1);
  uv_async_send(w->srv->done);
}

/* ---- set-up ---- */

/* A listening socket made by hand: libuv 1.44 cannot set SO_REUSEPORT before bind.
 * reuseport 0: one worker; 1: the first of several workers, which binds without SO_REUSEPORT so
 * that a port another process holds (even with SO_REUSEPORT) fails with EADDRINUSE, and sets it
 * only after the bind so that the other workers join (2: set before their bind). */
static int open_listener(const struct sockaddr *sa, socklen_t len, int reuseport, char *err,
                         size_t errlen) {
  char a[JC_ADDRSTR_MAX];
  jc_addr_format(sa, a, sizeof a);
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket for %s: %s", a, strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sa->sa_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (reuseport == 2 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    goto reuseport_failed;
  if (bind(fd, sa, len) != 0) {
    int e = errno;
    if (e == EADDRINUSE)
      snprintf(err, errlen,
               "%s is already in use by another process; stop it or choose another --listen", a);
    else
      snprintf(err, errlen, "cannot listen on %s: %s%s", a, strerror(e),
               e == EADDRNOTAVAIL ? " (no interface has this address)"
               : e == EACCES      ? " (ports below 1024 need privileges)"
                                  : "");
    close(fd);
    return -1;
  }
  if (reuseport == 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    goto reuseport_failed;
  return fd;
reuseport_failed:
  snprintf(err, errlen, "SO_REUSEPORT on %s: %s (use --workers 1)", a, strerror(errno));
  close(fd);
  return -1;
}

static void close_any(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void worker_free(be_worker *w) {
  if (!w)
    return;
  if (w->loop_ready) { /* never ran (start-up failed): close what was opened, then the loop */
    uv_walk(&w->loop, close_any, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
  }
  free(w);
}

static be_worker *worker_new(be_server *s, int index, char *err, size_t errlen) {
  be_worker *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, errlen, "out of memory creating worker %d", index);
    return NULL;
  }
  w->srv = s;
  w->opt = &s->opt;
  w->index = index;
  w->date_sec = (time_t)-1;
  w->rng = jc_now_ns() ^ ((uint64_t)getpid() << 32) ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(index + 1));
  if (!w->rng)
    w->rng = 1;
  date_update(w);
  be_accesslog_init(&w->log, s->opt.access_log, 1, (jc_log_format)s->opt.log_format);
  int r = uv_loop_init(&w->loop);
  if (r != 0) {
    snprintf(err, errlen, "event loop for worker %d: %s", index, uv_strerror(r));
    free(w);
    return NULL;
  }
  w->loop_ready = 1;
  return w;
}

/* Binds listener i of worker w to addr, which has the real port after the first worker. */
static int worker_listen(be_worker *w, const struct sockaddr *addr, socklen_t len,
                         be_listener **out, char *err, size_t errlen) {
  be_listener *l = &w->listeners[w->n_listeners];
  int fd = open_listener(addr, len, w->srv->n_workers == 1 ? 0 : w->index == 0 ? 1 : 2, err,
                         errlen);
  if (fd < 0)
    return -1;
  uv_tcp_init(&w->loop, &l->tcp);
  w->n_listeners++;
  l->tcp.data = l;
  l->w = w;
  int r = uv_tcp_open(&l->tcp, fd);
  if (r != 0)
    close(fd); /* otherwise the handle owns it */
  else
    r = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
  if (r != 0) {
    snprintf(err, errlen, "listen on %s: %s", jc_addr_format(addr, l->addr, sizeof l->addr),
             uv_strerror(r));
    return -1;
  }
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &sl);
  jc_addr_format((struct sockaddr *)&ss, l->addr, sizeof l->addr);
  if (be_identity_init(&l->id, w->opt->name, l->addr) != 0) {
    snprintf(err, errlen, "name or address too long for the response: %s", l->addr);
    return -1;
  }
  *out = l;
  return 0;
}

int be_server_create(be_server **out, const be_options *o, uv_async_t *done, char *err,
                     size_t errlen) {
  *out = NULL;
  be_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  s->opt = *o;
  s->done = done;
  s->n_workers = o->workers;
  s->record_fd = -1;
  if (o->record[0]) {
    s->record_fd = open(o->record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->record_fd < 0) {
      snprintf(err, errlen, "--record %s: %s (choose a writable file path)", o->record,
               strerror(errno));
      free(s);
      return -1;
    }
  }
  atomic_store(&g_healthy, o->start_down ? 0 : 1);
  for (int i = 0; i < s->n_workers; i++) {
    s->workers[i] = worker_new(s, i, err, errlen);
    if (!s->workers[i])
      goto fail;
  }
  for (int k = 0; k < o->n_listen; k++) {
    /* Worker 0 binds what was asked (port 0: the kernel picks); the others bind the same real
     * port with SO_REUSEPORT, and the kernel spreads connections across them. */
    struct sockaddr_storage real;
    socklen_t real_len = o->listen_addr_len[k];
    memcpy(&real, &o->listen_addr[k], sizeof real);
    for (int i = 0; i < s->n_workers; i++) {
      be_listener *l;
      if (worker_listen(s->workers[i], (struct sockaddr *)&real, real_len, &l, err, errlen))
        goto fail;
      if (i == 0) {
        int sl = sizeof real;
        uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&real, &sl);
      }
    }
  }
  for (int k = 0; k < o->n_listen; k++) {
    jc_logline l;
    jc_log_begin(&l, JC_LOG_INFO, "listening");
    jc_logline_str(&l, "addr", s->workers[0]->listeners[k].addr);
    jc_logline_str(&l, "backend", o->name);
    jc_logline_int(&l, "workers", o->workers);
    jc_log_emit(&l);
  }
  *out = s;
  return 0;
fail:
  for (int i = 0; i < s->n_workers; i++)
    worker_free(s->workers[i]);
  if (s->record_fd >= 0)
    close(s->record_fd);
  free(s);
  return -1;
}

int be_server_start(be_server *s, char *err, size_t errlen) {
  for (int i = 0; i < s->n_workers; i++) {
    be_worker *w = s->workers[i];
    uv_timer_init(&w->loop, &w->tick);
    uv_prepare_init(&w->loop, &w->flush);
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->tick.data = w->flush.data = w->wake.data = w;
    unsigned every = 250; /* Date once a second at worst 250 ms late; timeouts checked as often */
    const be_options *o = &s->opt;
    unsigned finest = o->idle_timeout_ms < o->request_timeout_ms ? o->idle_timeout_ms
                                                                 : o->request_timeout_ms;
    if (finest / 4 < every)
      every = finest / 4 ? finest / 4 : 1;
    uv_timer_start(&w->tick, on_tick, every, every);
    uv_prepare_start(&w->flush, on_flush);
    int r = uv_thread_create(&w->thread, worker_main, w);
    if (r != 0) {
      snprintf(err, errlen, "starting worker thread %d: %s", i, uv_strerror(r));
      /* This worker never ran: be_server_destroy closes its loop. */
      be_server_drain(s, 1);
      return -1;
    }
    w->thread_started = 1;
  }
  return 0;
}

void be_server_drain(be_server *s, int force) {
  for (int i = 0; i < s->n_workers; i++) {
    be_worker *w = s->workers[i];
    if (!w->thread_started)
      continue;
    int want = force ? 2 : 1;
    int cur = atomic_load(&w->drain_req);
    if (cur < want)
      atomic_store(&w->drain_req, want);
    uv_async_send(&w->wake);
  }
}

int be_server_finished(be_server *s) {
  int started = 0;
  for (int i = 0; i < s->n_workers; i++)
    started += s->workers[i]->thread_started;
  return atomic_load(&s->exited) >= started;
}

void be_server_destroy(be_server *s) {
  if (!s)
    return;
  for (int i = 0; i < s->n_workers; i++) {
    be_worker *w = s->workers[i];
    if (w->thread_started)
      uv_thread_join(&w->thread);
    worker_free(w);
  }
  if (s->record_fd >= 0)
    close(s->record_fd);
  free(s);
}
