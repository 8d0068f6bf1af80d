/* HTTP/2 client connections: one nghttp2 server session per connection (framing, HPACK, flow
 * control and RFC 9113's message checks are nghttp2's), each stream one exchange driven through
 * the exchange ops table exactly as an HTTP/1 request is (lb/proxy/exchange.h).
 *
 * Why nghttp2: the reference implementation (curl, nginx's early h2, Apache, h2o's tests use
 * it), HPACK and flow control written once and fuzzed for years; Debian ships it.
 *
 * Data path. Input: client_conn.c hands over every plaintext byte (`data`), fed whole to
 * nghttp2_session_mem_recv. A stream's request head is converted (lb/http/h2.c) into the
 * HTTP/1.1 head the request policy reads, so routing, checks, rewriting and retries are the
 * HTTP/1 ones. Request body: DATA payload is copied into the stream's buffer (LB_H2_WINDOW
 * bytes, lent while the stream has a body); WINDOW_UPDATE is sent only for what the backend
 * took (nghttp2_session_consume), so a slow backend stops its own client stream and nothing
 * grows. Output: the response head becomes HEADERS, body slices of the backend buffer are
 * copied into DATA frames as the client's windows and the socket allow (the data provider sizes
 * each frame, the send callbacks copy frames and body bytes into one output buffer of LB_H2_OUT
 * bytes, one write in flight; body bytes skip nghttp2's frame buffer);
 * the exchange hears `on_sent` once its slices are framed, so a slow reader of one stream holds
 * one backend buffer and no more.
 *
 * nghttp2 is driven from the top of the stack only: ops set state and schedule `pump` on the
 * worker's idle queue (lb_stream_defer), which runs mem_send and the exchanges' completions. */
#include "lb/proxy/h2_conn.h"
#include "lb/proxy/h2_stream.h"
#include "lb/http/h2.h"

#include "common/clock.h"
#include "common/log.h"

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static void pump(h2_conn *h);
static void schedule(h2_conn *h);

static lb_runtime *rt_of(h2_conn *h) { return h->c->ex.w->rt; }
static void calm_down(h2_conn *h, int which, const char *why);

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  h2_conn *h = ud;
  h->block_bytes = 0;
  h->decoding = NULL;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_HEADERS) {
    /* A request's trailer section: kept for a body without content-length (forwarded chunked,
     * its trailers after the last chunk); with one, Content-Length framing has no place for
     * them: dropped, as HAProxy does. */
    h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st && st->headers_done && !st->finished && !st->ws && !st->req.has_length)
      h->decoding = st;
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  h2_stream *st = lb_h2_stream_new(h, f->hd.stream_id);
  if (!st) {
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
  h->decoding = st; /* its fields follow: on_header needs no lookup per field */
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud) {
  (void)s, (void)flags;
  h2_conn *h = ud;
  /* HPACK bomb: a few bytes on the wire that decode to megabytes (references to one big table
   * entry). A list a little over the limit gets its 431 on the stream; one decoded past four
   * times the limit ends the connection before it costs more (HAProxy and nginx close at once). */
  h->block_bytes += nl + vl + 32;
  if (h->block_bytes > 4 * (size_t)rt_of(h)->cfg.max_header_size) {
    calm_down(h, LB_H2_HPACK_BOMB, "header list decoded to over 4x max-header-size (HPACK bomb)");
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  h2_stream *st = h->decoding;
  if (!st || f->hd.type != NGHTTP2_HEADERS || f->hd.stream_id != st->id)
    return 0;
  if (!st->headers_done)
    lb_h2_req_add(&st->req, name, nl, value, vl); /* over the limit: 431 at the end */
  else if (lb_h2_request_trailer(st, name, nl, value, vl) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* out of memory: RST_STREAM */
  return 0;
}

/* Request body bytes: into the stream's buffer, bounded by the window we advertise. */
static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud) {
  (void)flags;
  h2_conn *h = ud;
  h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
  if (!st || st->finished) {
    nghttp2_session_consume(s, id, len); /* answered already: dropped, the window reopens */
    return 0;
  }
  if (!st->req.has_length && !st->req.protocol.name) {
    /* Counted as HTTP/1.1 counts a chunked body: 413 once past max-body-size. (A content-length
     * was checked against it with the head, and nghttp2 holds the DATA to it.) */
    uint64_t max = rt_of(h)->cfg.max_body_size;
    st->body_total += len;
    if (max && st->body_total > max) {
      nghttp2_session_consume(s, id, len);
      lb_h2_body_too_large(st);
      return 0;
    }
  }
  if (!st->body && !(st->body = malloc(LB_H2_WINDOW)))
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
  if (len > LB_H2_WINDOW - st->body_len)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* beyond the window: nghttp2 refuses first */
  memcpy(st->body + st->body_len, data, len);
  st->body_len += len;
  if (st->dispatched)
    lb_exchange_send_body(&st->ex);
  else if (st->headers_done && st->body_len == LB_H2_WINDOW)
    lb_h2_request_ready(st); /* the buffer is full: the request goes chunked, the rest streams */
  return 0;
}

/* CONNECT without :protocol carries no body to gather: its refusal goes at once. */
static int is_connect(const lb_h2_req *r) {
  return r->method.value_len == 7 && !memcmp(r->method.value, "CONNECT", 7);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  h2_conn *h = ud;
  /* A request's HEADERS end the block just decoded: its stream is known without a lookup. */
  h2_stream *st = h->decoding && h->decoding->id == f->hd.stream_id ? h->decoding
                  : f->hd.stream_id ? nghttp2_session_get_stream_user_data(s, f->hd.stream_id)
                                    : NULL;
  if (!st || st->finished)
    return 0;
  int eos = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    st->headers_done = 1;
    if (eos)
      st->body_eof = 1;
    /* Without content-length a body is gathered first: one that ends within the buffer and
     * LB_H2_GATHER_MS goes with its length, else chunked once the buffer fills (on_data_chunk)
     * or the window is over (on_idle_timer); an extended CONNECT's bytes are a tunnel's, after
     * the backend's answer. */
    int wait = !eos && !st->req.too_large && !st->req.too_many && !st->req.has_length &&
               !st->req.protocol.name && !is_connect(&st->req);
    if (!wait)
      lb_h2_request_ready(st);
    else
      st->gather_due = uv_now(h->c->timer.loop) + LB_H2_GATHER_MS; /* armed by the pump */
    return 0;
  }
  /* The body ends with a DATA frame's END_STREAM or with trailers (HEADERS after DATA: kept
   * for a body forwarded chunked, see on_begin_headers); either way the request goes out now,
   * or its exchange hears it is whole. */
  if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && eos) {
    if (f->hd.type == NGHTTP2_HEADERS && lb_h2_request_trailers_end(st) != 0)
      return 0; /* over the limits: answered */
    st->body_eof = 1;
    if (!st->dispatched && st->headers_done)
      lb_h2_request_ready(st);
    else if (st->ex.b) {
      lb_exchange_send_body(&st->ex);
      if (st->ws)
        lb_h2_tunnel_input_end(st);
    }
  }
  return 0;
}

static void calm_down(h2_conn *h, int which, const char *why) {
  if (h->calm)
    return;
  h->calm = why;
  lb_h2_count(h, which);
  jc_log(JC_LOG_WARN, "h2 connection from %s: %s: GOAWAY ENHANCE_YOUR_CALM", h->c->peer, why);
  nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
}

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud) {
  h2_conn *h = ud;
  /* WINDOW_UPDATE and SETTINGS can unblock DATA that nghttp2's queue size does not count; the
   * others (PING, PRIORITY, RST_STREAM, GOAWAY...) are rare: a send after any of them. */
  if (hd->type != NGHTTP2_HEADERS && hd->type != NGHTTP2_DATA)
    h->send_due = 1;
  if (hd->type == NGHTTP2_HEADERS && (hd->stream_id & 1)) {
    /* A new stream's id must grow (RFC 9113 section 5.1.1): nghttp2 ignores a lower one that
     * it no longer knows; a stream of ours that is over has no user data any more. */
    if (hd->stream_id <= h->max_stream_id && !nghttp2_session_get_stream_user_data(s, hd->stream_id)) {
      jc_log(JC_LOG_INFO, "h2 connection from %s: HEADERS on stream %d, not a new stream id: "
             "GOAWAY PROTOCOL_ERROR", h->c->peer, hd->stream_id);
      h->calm = "h2-protocol-error";
      lb_h2_count(h, LB_H2_PROTOCOL);
      nghttp2_session_terminate_session(s, NGHTTP2_PROTOCOL_ERROR);
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (hd->stream_id > h->max_stream_id) {
      if (h->max_stream_id) /* a second stream: OpenSSL's buffers stay until idle (lb_stream_keep) */
        lb_stream_keep(&h->c->s);
      h->max_stream_id = hd->stream_id;
    }
  }
  if (hd->type == NGHTTP2_RST_STREAM) { /* rapid reset (CVE-2023-44487): resets per second */
    uint64_t now = jc_now_us();
    if (now - h->reset_window_start > 1000000) {
      h->reset_window_start = now;
      h->resets_in_window = 0;
    }
    lb_h2_count(h, LB_H2_CLIENT_RESETS);
    if (++h->resets_in_window > LB_H2_RESETS_PER_SEC) {
      calm_down(h, LB_H2_RAPID_RESET, "rapid reset: over 100 stream resets in a second");
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }
  return 0;
}

/* A request HEADERS nghttp2 refused before any stream existed: over the concurrent streams we
 * advertise. Before the client acknowledged our SETTINGS, nghttp2 refuses the stream alone
 * (RST_STREAM REFUSED_STREAM: the client may retry it); after, the client broke a limit it knew
 * and the connection ends (GOAWAY PROTOCOL_ERROR, RFC 9113 section 5.1.2). nghttp2 reports other
 * errors of a new stream's HEADERS with PROTOCOL_ERROR too (an even or zero id, a stream that
 * depends on itself): only one that finds the limit's streams open counts as this. */
static int on_invalid_frame(nghttp2_session *s, const nghttp2_frame *f, int lib_error, void *ud) {
  h2_conn *h = ud;
  int32_t id = f->hd.stream_id;
  unsigned max = rt_of(h)->cfg.tls.h2_max_streams;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST || !(id & 1) ||
      id != h->max_stream_id || f->headers.pri_spec.stream_id == id ||
      nghttp2_session_get_stream_user_data(s, id) ||
      (lib_error != NGHTTP2_ERR_REFUSED_STREAM &&
       (lib_error != NGHTTP2_ERR_PROTO || h->nstreams < max)))
    return 0;
  lb_h2_count(h, LB_H2_STREAMS_OVER);
  if (lib_error == NGHTTP2_ERR_PROTO) {
    lb_h2_count(h, LB_H2_PROTOCOL);
    h->calm = "h2-protocol-error";
  }
  if (lib_error == NGHTTP2_ERR_PROTO || !h->over_logged++) /* one line a connection: refusals */
    jc_log(JC_LOG_INFO, "h2 connection from %s: stream %d over %u concurrent streams "
           "(h2-max-concurrent-streams): %s", h->c->peer, f->hd.stream_id, max,
           lib_error == NGHTTP2_ERR_PROTO ? "GOAWAY PROTOCOL_ERROR" : "RST_STREAM REFUSED_STREAM");
  return 0;
}

/* The exchange's bytes are framed: it goes on (the next slices, or `done`). */
static void sent(h2_stream *st) {
  st->notify = 0;
  st->waiting_sent = 0;
  st->nslices = st->slice_i = 0;
  if (!st->finished && (st->ex.b || st->ex.sending))
    lb_exchange_on_sent(&st->ex);
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud) {
  h2_conn *h = ud;
  /* Mostly the stream whose last DATA frame (END_STREAM) was just framed: no lookup then. */
  h2_stream *st = h->framed && h->framed->id == id ? h->framed
                                                   : nghttp2_session_get_stream_user_data(s, id);
  if (!st)
    return 0;
  /* The response's last DATA frame (END_STREAM) has just been framed: the exchange completes
   * now (`done`: logged, its backend connection kept), not as a stream the client closed. */
  if (code == NGHTTP2_NO_ERROR && st->notify && st->resp_eof && !st->finished)
    sent(st);
  /* Its user data is not cleared: nghttp2 forgets the stream on return (no closed streams). */
  lb_h2_stream_finish(st, code == NGHTTP2_NO_ERROR ? "client-closed" : "client-reset");
  lb_h2_stream_free(st);
  return 0;
}

/* The output buffer, lent while frames wait (given back in h2_sent when idle): 0, or -1. */
static int out_ready(h2_conn *h) {
  if (!h->out && !(h->out = lb_bufpool_get(&h->c->ex.w->h2outbufs, LB_H2_OUT)))
    return -1;
  return 0;
}

/* Frames into the output buffer; full: nghttp2 keeps the rest for the next round. */
static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud) {
  h2_conn *h = ud;
  (void)s, (void)flags;
  lb_h2_mem_sent_from(&h->mem, data); /* nghttp2's frame buffer: its pages go when idle */
  if (out_ready(h) != 0)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  size_t room = LB_H2_OUT - h->out_len;
  size_t n = len < room ? len : room;
  if (n < len)
    h->send_due = 1; /* the rest of the frame waits in nghttp2 for the next send */
  if (!n)
    return NGHTTP2_ERR_WOULDBLOCK;
  memcpy(h->out + h->out_len, data, n);
  h->out_len += n;
  return (ssize_t)n;
}

/* A DATA frame whose payload nghttp2 left to us (NGHTTP2_DATA_FLAG_NO_COPY, h2_stream.c's data
 * provider): its header, then the stream's body bytes copied straight from the backend's
 * buffer. The provider sized the frame to fit (so WOULDBLOCK, which would have nghttp2 call
 * again after the write, does not happen). */
static int on_send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *hd, size_t len,
                        nghttp2_data_source *src, void *ud) {
  h2_conn *h = ud;
  lb_h2_mem_sent_from(&h->mem, hd);
  if (f->data.padlen || out_ready(h) != 0) /* no padding is ever chosen */
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (LB_H2_FRAME_HD + len > LB_H2_OUT - h->out_len) {
    h->send_due = 1;
    return NGHTTP2_ERR_WOULDBLOCK;
  }
  memcpy(h->out + h->out_len, hd, LB_H2_FRAME_HD);
  h2_stream *st = src->ptr;
  lb_h2_stream_take(st, h->out + h->out_len + LB_H2_FRAME_HD, len);
  h->framed = st;
  h->out_len += LB_H2_FRAME_HD + len;
  /* The response is whole while the client still sends its body (a 413, a 408, a backend that
   * answered early): RST_STREAM NO_ERROR after it asks the client to stop (RFC 9113 section
   * 8.1); its DATA would only be dropped. */
  if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && !st->body_eof && !st->ws)
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
  return 0;
}

/* ---- the connection ---- */

static void on_idle_timer(uv_timer_t *t);

static void conn_close(h2_conn *h, const char *why) {
  lb_client_close(h->c, why); /* calls `gone` */
}

static void on_linger_timer(uv_timer_t *t) {
  lb_client *c = t->data;
  if (lb_deadline_reached(t, &c->dl))
    lb_client_close(c, c->ex.term ? c->ex.term : "done");
}

/* The session is over (GOAWAY written, no stream left): close_notify, FIN, and what the client
 * still sends is read and dropped for up to 2 s (closing with unread input would make the
 * kernel send a reset that can destroy the GOAWAY before the client reads it). The stream's
 * on_close in client_conn.c ends it. */
static void end_gracefully(h2_conn *h, const char *why) {
  lb_client *c = h->c;
  h->dead = 1;
  c->ex.term = why;
  lb_deadline_set(&c->timer, &c->dl, on_linger_timer, 2000);
  lb_stream_end(&c->s);
}

/* 1 while a stream has a request the exchange works on (or an answer on its way). */
static int busy(const h2_conn *h) {
  for (const h2_stream *st = h->streams; st; st = st->next)
    if (st->dispatched || st->finished)
      return 1;
  return 0;
}

/* 1 when every stream is a WebSocket tunnel still open: nothing waits for an answer, and such a
 * connection may sit quiet for hours, so it gives its buffers back as an idle one does. */
static int tunnels_only(const h2_conn *h) {
  for (const h2_stream *st = h->streams; st; st = st->next)
    if (!st->ws || st->finished)
      return 0;
  return h->streams != NULL;
}

/* While a stream gathers a body without content-length before its request goes out (its
 * exchange, which would time the body, has not started): the earliest end of such a stream's
 * gather window (loop time, ms); else 0. */
static uint64_t gathering(const h2_conn *h) {
  uint64_t due = 0;
  for (const h2_stream *st = h->streams; st; st = st->next)
    if (st->headers_done && !st->dispatched && !st->finished && (!due || st->gather_due < due))
      due = st->gather_due;
  return due;
}

/* A body being gathered: the end of its gather window, or the body timeout if that comes first
 * (moved by every read, as for HTTP/1.1); no stream:
 * the idle timeout, in two steps (LB_H2_RELEASE_MS, the session's pages and OpenSSL's buffers
 * go back; then the rest); streams whose heads are not whole yet (a slow or stalled header
 * block): the header timeout; only WebSocket tunnels: LB_H2_RELEASE_MS, the buffers go back
 * (the tunnels time themselves); else none (the exchanges time themselves). */
static void arm_idle(h2_conn *h) {
  const lb_config *cfg = &rt_of(h)->cfg;
  uint64_t gather = gathering(h);
  if (gather) {
    uint64_t now = uv_now(h->c->timer.loop), ms = gather > now ? gather - now : 0;
    h->body_due = now + cfg->client_body_timeout;
    lb_deadline_set(&h->c->timer, &h->c->dl, on_idle_timer,
                    ms < cfg->client_body_timeout ? ms : cfg->client_body_timeout);
  } else if (busy(h)) {
    if (!h->released && tunnels_only(h)) /* a request's stream says no at once */
      lb_deadline_set(&h->c->timer, &h->c->dl, on_idle_timer, LB_H2_RELEASE_MS);
    else
      lb_deadline_clear(&h->c->dl);
  } else if (!h->nstreams && !h->released && !h->goaway && !h->calm)
    lb_deadline_set(&h->c->timer, &h->c->dl, on_idle_timer,
                    cfg->client_idle_timeout < LB_H2_RELEASE_MS ? cfg->client_idle_timeout
                                                                : LB_H2_RELEASE_MS);
  else
    lb_deadline_set(&h->c->timer, &h->c->dl, on_idle_timer,
                    h->nstreams ? cfg->client_header_timeout : cfg->client_idle_timeout);
}

/* Quiet for LB_H2_RELEASE_MS: the frame buffer, the empty stream table, OpenSSL's record buffers
 * and the output buffer go back (not at once: a busy connection would fault them in again at
 * every request). The connection takes them again when it next has something to do. */
static void give_back(h2_conn *h) {
  h->released = 1;
  if (nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s))
    lb_h2_mem_release(&h->mem); /* no frame queued or half sent (h2_mem.c) */
  lb_stream_rest(&h->c->s);
  if (h->out && !h->writing && !h->out_len) {
    lb_bufpool_put(&h->c->ex.w->h2outbufs, h->out);
    h->out = NULL;
  }
}

static void on_idle_timer(uv_timer_t *t) {
  lb_client *c = t->data;
  if (!lb_deadline_reached(t, &c->dl) || !c->h2)
    return;
  h2_conn *h = c->h2;
  if (gathering(h)) {
    uint64_t now = uv_now(t->loop);
    for (h2_stream *st = h->streams; st; st = st->next) {
      if (!st->headers_done || st->dispatched || st->finished)
        continue;
      if (now >= st->gather_due) /* still coming: chunked with what came, the rest as it comes */
        lb_h2_request_ready(st);
      else if (now >= h->body_due) { /* stopped: 408 on its stream, the connection goes on */
        jc_log(JC_LOG_INFO, "h2 stream %d from %s: no request body bytes for %u ms: 408", st->id,
               c->peer, (unsigned)rt_of(h)->cfg.client_body_timeout);
        lb_h2_local_early(st, 408, "request body not received in time", "client-body-timeout");
      }
    }
    schedule(h);
    return;
  }
  if (busy(h)) {
    if (!h->released && !h->writing && tunnels_only(h))
      give_back(h); /* tunnels quiet for LB_H2_RELEASE_MS; the next byte either way re-arms */
    return;
  }
  if (!h->nstreams && !h->released && !h->goaway && !h->calm) {
    give_back(h);
    uint32_t idle = rt_of(h)->cfg.client_idle_timeout;
    lb_deadline_set(&c->timer, &c->dl, on_idle_timer,
                    idle > LB_H2_RELEASE_MS ? idle - LB_H2_RELEASE_MS : 0);
    return;
  }
  if (!h->goaway) { /* GOAWAY first, then the close once it is written */
    h->goaway = 1;
    if (h->nstreams)
      jc_log(JC_LOG_INFO, "h2 connection from %s: a request head not complete in time: GOAWAY",
             c->peer);
    h->calm = h->nstreams ? "client-header-timeout" : NULL;
    nghttp2_session_terminate_session(h->s, NGHTTP2_NO_ERROR);
    lb_deadline_set(&c->timer, &c->dl, on_idle_timer, 1000);
    schedule(h);
    return;
  }
  end_gracefully(h, h->calm ? h->calm : "idle-timeout");
}

static void pump(h2_conn *h) {
  if (h->dead || h->in_pump)
    return;
  h->in_pump = 1;
  /* Frames out, then the completions of the streams whose slices went into them (which may
   * add more: the end of a response goes in the same write), until nothing changes.
   * nghttp2_session_send only when nghttp2 may have a frame to send: a queued one (counted by
   * its queue size), or DATA after a change (send_due: see schedule and on_begin_frame). With
   * nothing to send it still walks its queues (~150 instructions), and most pumps (after a
   * request's HEADERS, after a write) have nothing. */
  int round = 0;
  for (; round < 64 && !h->dead; round++) {
    if (!h->writing && (h->send_due || nghttp2_session_get_outbound_queue_size(h->s))) {
      h->send_due = 0;
      h->in_send = 1;
      int r = nghttp2_session_send(h->s);
      h->in_send = 0;
      if (r != 0) {
        h->in_pump = 0;
        conn_close(h, "h2-send-error");
        return;
      }
    }
    h2_stream *st = h->streams;
    while (st && !st->notify)
      st = st->next;
    if (!st)
      break;
    sent(st);
  }
  h->in_pump = 0;
  if (h->dead)
    return;
  if (!h->writing && h->out_len) {
    h->writing = 1;
    h->released = 0; /* busy again (a tunnel's backend may speak while its client is quiet) */
    uv_buf_t b = uv_buf_init(h->out, (unsigned)h->out_len);
    if (lb_client_send(h->c, &b, 1) != 0)
      return;
  }
  if (round == 64) /* still changing: the rest from the idle queue, after the loop's others */
    schedule(h);
  if (!h->writing && !nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s)) {
    end_gracefully(h, h->calm ? h->calm : h->goaway ? "goaway" : "h2-done");
    return;
  }
  arm_idle(h);
}

static void on_pump(lb_deferred *d) {
  pump((h2_conn *)(void *)((char *)d - offsetof(h2_conn, pump_d)));
}

/* After any change that may give nghttp2 a frame to send (a response or a resumed DATA
 * provider, a reset, a window opened): every such change calls it. A change made during
 * nghttp2_session_send (its callbacks: a stream's completion, the next slices) is framed by that
 * same call, which pops queued items until none is left; one made in the pump's loop gets the
 * loop's next round. */
static void schedule(h2_conn *h) {
  if (!h->in_send)
    h->send_due = 1;
  if (h->in_pump)
    return;
  if (!h->dead && !h->pump_d.next)
    lb_stream_defer(&h->c->ex.w->sl, &h->pump_d, on_pump);
}

static int session_new(h2_conn *h, const lb_config *cfg) {
  nghttp2_session_callbacks *cb;
  nghttp2_option *opt;
  if (nghttp2_session_callbacks_new(&cb) != 0)
    return -1;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cb);
    return -1;
  }
  nghttp2_session_callbacks_set_send_callback(cb, on_send);
  nghttp2_session_callbacks_set_send_data_callback(cb, on_send_data);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  /* No on_invalid_header callback: nghttp2 then ends a stream with a malformed field (a control
   * byte in a value, a name that is not a lowercase token) instead of handing it over; the
   * request path checks no field's syntax again (lb/http/h2.h). */
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
  nghttp2_option_set_no_auto_window_update(opt, 1); /* windows open as the backend reads */
  nghttp2_option_set_max_settings(opt, 32);          /* entries per SETTINGS frame */
  nghttp2_option_set_max_outbound_ack(opt, 1000);    /* PING/SETTINGS flood: GOAWAY */
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  /* A closed stream is forgotten at once (nghttp2 otherwise keeps up to 100 for RFC 7540
   * priorities, which RFC 9113 deprecates): an idle session then has no stream at all. */
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_mem mem = lb_h2_mem_allocator(&h->mem); /* copied by nghttp2 */
  int r = nghttp2_session_server_new3(&h->s, cb, h, opt, &mem);
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
  if (r != 0)
    return -1;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->tls.h2_max_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, LB_H2_WINDOW},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_header_size},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      /* WebSockets on this connection (RFC 8441): nghttp2 then lets :protocol through, with
       * CONNECT, :scheme and :path (h2_ws.c); last, so that `off` leaves it out. */
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
  };
  size_t niv = sizeof iv / sizeof iv[0] - (cfg->tls.h2_websocket ? 0 : 1);
  if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, niv) != 0 ||
      nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, LB_H2_CONN_WINDOW) != 0)
    return -1;
  return 0;
}

static void h2_start(lb_client *c) {
  h2_conn *h = calloc(1, sizeof *h);
  if (h)
    h->mem.cache = &c->ex.w->h2mem; /* nghttp2's small blocks: the worker's free lists */
  if (!h || session_new(h, &c->ex.w->rt->cfg) != 0) {
    if (h && h->s)
      nghttp2_session_del(h->s);
    free(h);
    lb_client_close(c, "out of memory");
    return;
  }
  h->c = c;
  h->schedule = schedule;
  c->h2 = h;
  c->state = LB_C_H2;
  lb_h2_count(h, LB_H2_CONNS);
  atomic_fetch_add_explicit(&c->ex.w->rt->h2_conns_open, 1, memory_order_relaxed);
  jc_log(JC_LOG_DEBUG, "connection %llu from %s speaks h2", (unsigned long long)c->id, c->peer);
  pump(h); /* our SETTINGS; the client's bytes come through `data` */
}

static void h2_data(lb_client *c) {
  h2_conn *h = c->h2;
  if (!h || h->dead)
    return;
  /* nghttp2 takes every byte (the stream reads on: the buffer is empty again). */
  h->released = 0; /* busy again: its pages come back as nghttp2 touches them */
  ssize_t r = nghttp2_session_mem_recv(h->s, (const uint8_t *)c->in, c->in_len);
  c->in_len = 0;
  if (h->dead)
    return;
  if (r < 0 && !h->calm) {
    /* nghttp2 stopped the session: a flood it counts (outbound ACKs for PING and SETTINGS,
     * empty frames), too many CONTINUATION frames (it limits them; our begin-frame callback
     * never sees one), or a protocol error it has already answered with GOAWAY. */
    if (r == NGHTTP2_ERR_FLOODED || r == -905 /* NGHTTP2_ERR_TOO_MANY_CONTINUATIONS */) {
      calm_down(h, r == NGHTTP2_ERR_FLOODED ? LB_H2_FLOOD : LB_H2_CONTINUATION,
                r == NGHTTP2_ERR_FLOODED ? "flood of frames that need an answer (PING, "
                                           "SETTINGS) or carry nothing"
                                         : "CONTINUATION flood");
    } else {
      lb_h2_count(h, LB_H2_PROTOCOL);
      jc_log(JC_LOG_INFO, "h2 connection from %s: %s: closing", c->peer, nghttp2_strerror((int)r));
      h->calm = "h2-protocol-error";
      nghttp2_session_terminate_session(h->s, NGHTTP2_PROTOCOL_ERROR);
    }
  }
  pump(h);
}

static void h2_sent(lb_client *c) {
  h2_conn *h = c->h2;
  if (!h)
    return;
  h->writing = 0;
  h->out_len = 0;
  for (h2_stream *st = h->streams; h->out_waiters && !h->dead && st; st = st->next)
    if (st->out_full) { /* room again: their DATA goes on */
      st->out_full = st->deferred = 0;
      nghttp2_session_resume_data(h->s, st->id);
      h->send_due = 1;
    }
  h->out_waiters = 0;
  if (!h->nstreams && h->out) { /* an idle connection keeps no output buffer */
    lb_bufpool_put(&c->ex.w->h2outbufs, h->out);
    h->out = NULL;
  }
  pump(h);
}

static void h2_stop(lb_client *c) {
  h2_conn *h = c->h2;
  if (!h || h->dead || h->goaway)
    return;
  h->goaway = 1; /* streams in flight finish; no new ones (RFC 9113 section 6.8) */
  nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s),
                        NGHTTP2_NO_ERROR, NULL, 0);
  schedule(h);
}

static void h2_gone(lb_client *c) {
  h2_conn *h = c->h2;
  if (!h)
    return;
  h->dead = 1;
  lb_stream_undefer(&h->pump_d);
  while (h->streams)
    lb_h2_stream_free(h->streams);
  nghttp2_session_del(h->s);
  if (h->out)
    lb_bufpool_put(&c->ex.w->h2outbufs, h->out);
  free(h);
  c->h2 = NULL;
  atomic_fetch_sub_explicit(&c->ex.w->rt->h2_conns_open, 1, memory_order_relaxed);
}

static int h2_sniff(lb_client *c) {
  int pri = lb_h2_preface(c->in, c->in_len);
  if (pri > 0)
    h2_start(c);
  return pri;
}

const lb_client_codec lb_h2_codec = {h2_start, h2_sniff, h2_data, h2_sent, h2_stop, h2_gone};
