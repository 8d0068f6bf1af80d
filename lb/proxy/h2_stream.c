/* One HTTP/2 stream as one exchange: the exchange ops (head -> HEADERS, send -> DATA through
 * the data provider, pending/resume -> the request body buffer and its window), the request's
 * conversion and policy. See h2_conn.c for the data path. */
#include "lb/proxy/h2_stream.h"
#include "lb/http/h2_trailers.h"
#include "lb/proxy/access_log.h"
#include "lb/proxy/passive.h"
#include "lb/proxy/tunnel.h"
#include "lb/core/framing.h"
#include "lb/core/request_policy.h"
#include "lb/core/timing.h"
#include "lb/net/tls_server.h"

#include "common/clock.h"
#include "common/log.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- streams ---- */

static const lb_exchange_ops h2_ops;

static h2_stream *stream_of(lb_exchange *ex) { return (h2_stream *)(void *)ex; }

static const char *stream_path(const h2_stream *st) { return st->blk ? st->blk : ""; }

static void stream_log(h2_stream *st) {
  lb_log_conn lc;
  lb_client_log_conn(st->h->c, &lc);
  lc.path = stream_path(st);
  lc.stream = (uint32_t)st->id;
  lb_access_log(&st->ex, &lc);
}

void lb_h2_stream_finish(h2_stream *st, const char *term) {
  if (st->finished)
    return;
  st->finished = 1;
  if (!st->ex.term)
    st->ex.term = term;
  if (st->ex.b || st->ex.counted)
    lb_exchange_detach(&st->ex, 0); /* a reset stream's backend exchange is cancelled here */
  if (!st->ex.t.done)
    st->ex.t.done = jc_now_us();
  if (st->dispatched || st->ex.status)
    stream_log(st);
}

/* The request buffer comes from the worker's list, as the head block does: a malloc and a free
 * of ~38 kB per stream otherwise. Its size follows the limits; a block of other limits is freed. */
static char *rx_get(lb_worker *w, size_t size) {
  if (w->h2buf_size != size) {
    lb_bufpool_free(&w->h2bufs);
    w->h2buf_size = size;
  }
  return lb_bufpool_get(&w->h2bufs, size);
}

static void rx_put(lb_worker *w, h2_stream *st) {
  if (!st->rx)
    return;
  if (st->rx_size == w->h2buf_size)
    lb_bufpool_put(&w->h2bufs, st->rx);
  else
    free(st->rx);
  st->rx = NULL;
}

void lb_h2_stream_free(h2_stream *st) {
  h2_conn *h = st->h;
  lb_h2_stream_finish(st, "client-closed");
  if (st->prev)
    st->prev->next = st->next;
  else
    h->streams = st->next;
  if (st->next)
    st->next->prev = st->prev;
  h->nstreams--;
  if (h->decoding == st)
    h->decoding = NULL;
  if (h->framed == st)
    h->framed = NULL;
  atomic_fetch_sub_explicit(&h->c->ex.w->rt->h2_streams_open, 1, memory_order_relaxed);
  if (st->blk_note)
    free(st->blk);
  else if (st->blk)
    lb_bufpool_put(&h->c->ex.w->reqbufs, st->blk);
  rx_put(h->c->ex.w, st);
  free(st->body);
  if (st->trl.f) /* most responses have none: no call to free(NULL) per stream */
    free(st->trl.f);
  if (st->rtrl.buf)
    free(st->rtrl.buf);
  if (st->resp_conn)
    free(st->resp_conn);
  lb_bufpool_put(&h->c->ex.w->h2streams, (char *)st);
}

/* The request buffer's parts, each rounded to 8 bytes so that the views stay aligned. */
#define ROUND8(n) (((n) + 7) & ~(size_t)7)

h2_stream *lb_h2_stream_new(h2_conn *h, int32_t id) {
  lb_worker *w = h->c->ex.w;
  const lb_config *cfg = &w->rt->cfg;
  /* From the worker's list (calloc has no per-thread cache: ~300 instructions a stream). */
  h2_stream *st = (h2_stream *)(void *)lb_bufpool_get(&w->h2streams, sizeof *st);
  if (st)
    memset(st, 0, sizeof *st);
  size_t stage = ROUND8(LB_H2_STAGE_SIZE(cfg->max_header_size, cfg->max_headers));
  size_t scratch = ROUND8(LB_H2_HEAD_MAX(cfg));
  size_t views = sizeof(lb_header) * LB_H2_VIEWS(cfg);
  if (st) {
    st->rx_size = stage + scratch + 2 * views;
    st->rx = rx_get(w, st->rx_size);
  }
  if (st && st->rx)
    st->blk = lb_bufpool_get(&w->reqbufs, LB_REQ_PREFIX + LB_HEAD_CAP(cfg) + LB_RESP_ROOM);
  if (!st || !st->rx || !st->blk) {
    if (st) {
      rx_put(w, st);
      lb_bufpool_put(&w->h2streams, (char *)st);
    }
    return NULL;
  }
  st->h = h;
  st->id = id;
  lb_h2_req_init(&st->req, st->rx, cfg->max_header_size,
                 (lb_header *)(void *)(st->rx + stage + scratch), cfg->max_headers);
  st->blk[0] = 0;
  st->ex.ops = &h2_ops;
  st->ex.w = w;
  st->ex.pick = &st->pick;
  st->ex.reqid = st->blk + LB_PATH_LOG_MAX;
  st->ex.reqid[0] = 0;
  st->ex.head = st->blk + LB_REQ_PREFIX;
  st->ex.pool = st->ex.server = -1;
  st->ex.t.accept = h->c->ex.t.accept;
  st->ex.t.tls_done = h->c->ex.t.tls_done;
  st->ex.t.req_start = jc_now_us();
  st->ex.keep_alive = 1;
  st->next = h->streams;
  if (h->streams)
    h->streams->prev = st;
  h->streams = st;
  h->nstreams++;
  lb_h2_count(h, LB_H2_STREAMS);
  atomic_fetch_add_explicit(&w->rt->h2_streams_open, 1, memory_order_relaxed);
  return st;
}

/* ---- the exchange's ops: one stream ---- */

/* Response body bytes not yet framed: a local answer's, or the slices the exchange handed. */
static size_t body_ready(const h2_stream *st) {
  if (st->local)
    return st->local_len;
  size_t n = 0;
  for (unsigned i = st->slice_i; i < st->nslices; i++)
    n += st->slices[i].len;
  return n - st->slice_off;
}

/* The last DATA frame (n bytes) of a response with a trailer section: the trailers go as a
 * HEADERS frame with END_STREAM after it (nghttp2 copies the fields), so that DATA does not end
 * the stream; with nothing left to send (all refused as trailers) it does. Out of line and
 * reached by a tail call: the data provider of a response without trailers stays a leaf. */
static __attribute__((noinline)) ssize_t data_last_then_trailers(h2_stream *st, uint32_t *flags,
                                                                 size_t n) {
  const lb_h1_trailers *t = st->ex.trailers;
  nghttp2_nv small[16];
  nghttp2_nv *nva = t->n <= 16 ? small : malloc(t->n * sizeof *nva);
  size_t k = nva ? lb_h2_trailer_fields(t->f, t->n, st->resp_conn, st->resp_conn_len, nva) : 0;
  int ok = k && nghttp2_submit_trailer(st->h->s, st->id, nva, k) == 0;
  if (nva != small)
    free(nva);
  *flags |= NGHTTP2_DATA_FLAG_EOF | (ok ? NGHTTP2_DATA_FLAG_NO_END_STREAM : 0) |
            (n ? NGHTTP2_DATA_FLAG_NO_COPY : 0);
  return (ssize_t)n;
}

/* The data provider says only how many bytes the next DATA frame carries (NO_COPY): the send
 * callback, called next in the same nghttp2_session_send, copies them from the slices straight
 * into the output buffer (lb_h2_stream_take), sparing a copy through nghttp2's frame buffer.
 * The frame is sized to fit the room left, so it is written at once: a frame left waiting would
 * point into the backend's buffer, which an aborted exchange gives back. With no room for a
 * byte of payload the stream waits for the write (h2_conn.c resumes it). */
static ssize_t data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud) {
  h2_stream *st = src->ptr;
  (void)s, (void)id, (void)buf, (void)ud;
  size_t ready = body_ready(st), room = LB_H2_OUT - st->h->out_len;
  if (room <= LB_H2_FRAME_HD) {
    st->out_full = st->deferred = 1;
    st->h->out_waiters = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (len > room - LB_H2_FRAME_HD)
    len = room - LB_H2_FRAME_HD;
  size_t n = ready < len ? ready : len;
  if (n == ready && st->resp_eof) {
    if (st->ex.trailers && st->ex.trailers->n)
      return data_last_then_trailers(st, flags, n);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (!n) {
    st->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n)
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  return (ssize_t)n;
}

void lb_h2_stream_take(h2_stream *st, char *dst, size_t n) {
  if (st->local) {
    memcpy(dst, st->local, n);
    st->local += n;
    st->local_len -= n;
    return;
  }
  while (n && st->slice_i < st->nslices) {
    uv_buf_t *b = &st->slices[st->slice_i];
    size_t k = b->len - st->slice_off;
    if (k > n)
      k = n;
    memcpy(dst, b->base + st->slice_off, k);
    dst += k;
    n -= k;
    st->slice_off += k;
    if (st->slice_off == b->len) {
      st->slice_i++;
      st->slice_off = 0;
    }
  }
  if (st->slice_i == st->nslices && st->waiting_sent)
    st->notify = 1; /* all framed: the exchange may reuse its buffer */
}

/* The stream's DATA goes on: nghttp2 asks the data provider again. Only a provider that said
 * DEFERRED needs it (each call a stream lookup); one not asked yet will be. */
static void resume(h2_stream *st) {
  if (st->deferred && !st->h->dead) {
    st->deferred = 0;
    nghttp2_session_resume_data(st->h->s, st->id);
  }
}

/* The storage of a trailer section, when its first field arrives (lb/http/h1.c calls it): one
 * block of views and bytes, bounded as a head is, freed with the stream. Without memory the
 * trailers are not kept. */
static int trailers_buf(lb_h1_trailers *t) {
  h2_stream *st = (h2_stream *)(void *)((char *)t - offsetof(h2_stream, trl));
  const lb_config *cfg = &st->ex.w->rt->cfg;
  size_t views = (size_t)cfg->max_headers * sizeof(lb_header);
  char *blk = malloc(views + cfg->max_header_size);
  if (!blk)
    return -1;
  t->f = (lb_header *)(void *)blk;
  t->buf = blk + views;
  return 0;
}

/* A chunked body is decoded for the client: its trailer section, if one comes, is kept in the
 * stream's. Most chunked responses end without one: no storage until a field arrives (a ~19 kB
 * block per response otherwise, at the default limits). */
static void trailers_lend(h2_stream *st, const lb_response_view *v) {
  const lb_config *cfg = &st->ex.w->rt->cfg;
  /* Fields the response's Connection names stop at this hop, in its trailers too (RFC 9110
   * section 7.6.1): the names are kept past the head (a copy only when there are any). */
  size_t cn = lb_h2_trailer_conn_names(v->headers, v->nheaders, NULL, 0);
  if (cn && !st->resp_conn && (st->resp_conn = malloc(cn)))
    st->resp_conn_len = lb_h2_trailer_conn_names(v->headers, v->nheaders, st->resp_conn, cn);
  st->trl = (lb_h1_trailers){.buf = st->trl.buf, .f = st->trl.f, .lend = trailers_buf,
                             .cap = cfg->max_header_size, .max = cfg->max_headers};
  st->ex.trailers = &st->trl;
}

static int h2_head(lb_exchange *ex, const lb_response_view *v, const lb_response_extra *x,
                   uv_buf_t *out) {
  h2_stream *st = stream_of(ex);
  *out = uv_buf_init(st->blk, 0); /* the head goes as HEADERS: nothing in the byte stream */
  int tunnel = v->status == 101 && st->ws; /* a WebSocket's 101: the stream's 200 */
  if (v->status == 101 && !tunnel)
    return -1; /* no upgrade over h2 (RFC 9113 section 8.6): 502 */
  size_t max = v->nheaders + 8;
  nghttp2_nv nva_small[64];
  nghttp2_nv *nva = max <= 64 ? nva_small : malloc(max * sizeof *nva);
  if (!nva)
    return -1;
  char *scratch = ex->head + ((ex->head_len + 63) & ~(size_t)63);
  size_t cap = LB_HEAD_CAP(&ex->w->rt->cfg) + LB_RESP_ROOM - (size_t)(scratch - ex->head);
  int ours = x->server_timing || x->request_id;
  int n = tunnel ? lb_h2_ws_fields(st, v, x, nva, max, scratch, cap)
                 : lb_h2_resp_fields(v, x, ours && !st->h->named, nva, max, scratch, cap);
  if (n == -4) {
    if (nva != nva_small)
      free(nva);
    return -4;
  }
  if (n > 0 && ours && v->status >= 200)
    st->h->named = 1;
  if (n > 0 && tunnel)
    lb_h2_count(st->h, LB_H2_WEBSOCKETS);
  if (x->dechunked && v->status >= 200)
    trailers_lend(st, v);
  int rc = -1;
  if (n > 0 && v->status < 200 && !tunnel) { /* 1xx (100-continue: the client may send its body) */
    rc = nghttp2_submit_headers(st->h->s, NGHTTP2_FLAG_NONE, st->id, NULL, nva, (size_t)n, NULL)
             >= 0 ? 0 : -1;
  } else if (n > 0) {
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = data_read};
    rc = nghttp2_submit_response(st->h->s, st->id, nva, (size_t)n, &dp) == 0 ? 0 : -1;
    st->resp_submitted = rc == 0;
    /* The head is the client's now: a failure later in the same read (a trailer section over
     * the limits, a malformed chunk) is a mid-response one (reset), never a retry or a 502. */
    ex->resp_started = rc == 0;
  }
  if (nva != nva_small)
    free(nva);
  return rc;
}

static int h2_send(lb_exchange *ex, uv_buf_t *bufs, unsigned n) {
  h2_stream *st = stream_of(ex);
  if (st->finished || st->h->dead)
    return -1;
  st->nslices = st->slice_i = 0;
  st->slice_off = 0;
  if (ex->tunnel && ex->status == 101) {
    ex->status = 200; /* what the client saw (RFC 8441 section 5), for the log */
    rx_put(ex->w, st); /* no retry can come: the request's fields and views are done with */
  }
  for (unsigned i = 0; i < n && st->nslices < 4; i++) {
    ex->bytes_out += bufs[i].len;
    if (bufs[i].len)
      st->slices[st->nslices++] = bufs[i];
  }
  st->waiting_sent = 1;
  if (ex->resp_last && st->resp_submitted)
    st->resp_eof = 1; /* END_STREAM on their last DATA frame, not on an empty one after `done` */
  if (!st->nslices || !st->resp_submitted)
    st->notify = 1;
  else
    resume(st);
  st->h->schedule(st->h);
  return 0;
}

static size_t h2_pending(lb_exchange *ex, const char **p, int *complete) {
  h2_stream *st = stream_of(ex);
  if (st->ws && !ex->tunnel_relay) { /* the upgrade request has no body: DATA waits for the 101 */
    *complete = 1;
    *p = "";
    return 0;
  }
  *complete = st->body_eof;
  *p = st->body ? st->body + st->body_off : "";
  return st->body_len - st->body_off;
}

/* The tunnel runs (its 200's fields were copied by nghttp2, h2_ws.c): of the head block only
 * its first LB_REQ_PREFIX bytes (the path and request id of the log line) are still read, so a
 * note of them replaces it for the tunnel's life, as for HTTP/1.1. */
static void tunnel_shrink(h2_stream *st) {
  char *note = malloc(LB_REQ_PREFIX);
  if (!note)
    return;
  memcpy(note, st->blk, LB_REQ_PREFIX);
  lb_bufpool_put(&st->ex.w->reqbufs, st->blk);
  st->blk = note;
  st->blk_note = 1;
  st->ex.reqid = note + LB_PATH_LOG_MAX;
  st->ex.head = note + LB_REQ_PREFIX; /* written and read no more (head_len 0) */
  st->ex.head_len = 0;
}

static void h2_resume(lb_exchange *ex, size_t n) {
  h2_stream *st = stream_of(ex);
  if (n) {
    st->body_off += n;
    size_t rest = st->body_len - st->body_off;
    if (rest)
      memmove(st->body, st->body + st->body_off, rest);
    st->body_len = rest;
    st->body_off = 0;
    if (!st->h->dead)
      nghttp2_session_consume(st->h->s, st->id, n); /* the window opens for what left */
    st->h->schedule(st->h);
  }
  /* Bytes that came while this write was in flight (the head's too) go now; so does a chunked
   * body's end that came then. */
  if ((st->body_len || (st->ex.chunk_body && st->body_eof && !st->ex.chunks.ended)) && st->ex.b) {
    lb_exchange_send_body(&st->ex);
    return;
  }
  if (!st->ws)
    return;
  if (st->body && !st->body_len) { /* an idle tunnel holds no buffer here (64 KiB) */
    free(st->body);
    st->body = NULL;
  }
  if (st->ex.tunnel_relay && !st->blk_note)
    tunnel_shrink(st);
  lb_h2_tunnel_input_end(st);
}

void lb_h2_tunnel_input_end(h2_stream *st) {
  /* A tunnel whose client sent END_STREAM, all of it written: FIN to the backend (RFC 8441
   * section 5: END_STREAM is the TCP-level orderly close). */
  if (st->ws && st->body_eof && !st->body_len && st->ex.tunnel_relay && st->ex.b)
    lb_tunnel_close_write(st->ex.b);
}

static void h2_abort(lb_exchange *ex, const char *why);

/* The client's X-Request-Id, when request ids are on and it is a valid one. The fields are the
 * request's as received (its head's views may not be made yet: an early answer). */
static inline __attribute__((always_inline)) void take_request_id(h2_stream *st) {
  lb_exchange *ex = &st->ex;
  if (!st->rx || !st->ex.w->rt->cfg.request_id)
    return;
  for (uint32_t i = 0; i < st->req.nfields; i++) {
    const lb_header *f = &st->req.fields[i];
    if (LB_HEADER_IS(f->name, f->name_len, "x-request-id") &&
        lb_request_id_valid(f->value, f->value_len)) {
      memcpy(ex->reqid, f->value, f->value_len);
      ex->reqid_len = f->value_len;
      ex->reqid[ex->reqid_len] = 0;
      return;
    }
  }
}

void lb_h2_local(h2_stream *st, int status, const char *body, const char *term) {
  lb_exchange *ex = &st->ex;
  h2_conn *h = st->h;
  /* The backend's head is submitted already: a second answer cannot follow it (h2_head marks
   * the response started, so the exchange aborts instead; this keeps the stream from hanging). */
  if (st->resp_submitted && !st->local && !st->finished) {
    h2_abort(ex, "backend-aborted");
    return;
  }
  lb_runtime *rt = h->c->ex.w->rt;
  uint64_t now = jc_now_us();
  if (rt->cfg.request_id && !ex->reqid_len) { /* an answer before the request went out */
    take_request_id(st);
    ex->reqid_due = !ex->reqid_len;
    lb_exchange_request_id(ex);
  }
  ex->status = status;
  ex->term = term;
  if (!ex->t.hdr_done)
    ex->t.hdr_done = now;
  if (!ex->t.resp_hdr)
    ex->t.resp_hdr = now;
  ex->resp_started = 1;
  if (st->finished || h->dead || st->resp_submitted)
    return;
  /* The body goes after the forwarded head in the block (a retry no longer needs it). */
  char *room = ex->head + ((ex->head_len + 63) & ~(size_t)63);
  size_t bl = strlen(body);
  if (bl > 400)
    bl = 400;
  memcpy(room, body, bl);
  room[bl] = '\n';
  st->local = room;
  st->local_len = bl + 1;
  char stv[256], stt[4], lt[24];
  const char *stp = NULL;
  if (rt->cfg.server_timing && lb_server_timing_format(stv, sizeof stv, &ex->t, now))
    stp = stv;
  nghttp2_nv nva[6];
  int n = lb_h2_local_fields(status, st->local_len, rt->cfg.request_id ? ex->reqid : NULL, stp,
                             nva, stt, lt);
  nghttp2_data_provider dp = {.source.ptr = st, .read_callback = data_read};
  st->resp_submitted = 1;
  st->resp_eof = 1;
  nghttp2_submit_response(h->s, st->id, nva, (size_t)n, &dp);
  lb_h2_stream_finish(st, term);
  h->schedule(h);
}

static void h2_local(lb_exchange *ex, int status, const char *body, int keep_alive,
                     const char *term) {
  (void)keep_alive; /* streams end, the connection stays */
  lb_h2_local(stream_of(ex), status, body, term);
}

static void h2_done(lb_exchange *ex) {
  h2_stream *st = stream_of(ex);
  if (ex->tunnel && ex->term && strcmp(ex->term, "ok") != 0) {
    h2_abort(ex, ex->term); /* a backend reset or an idle tunnel: not an orderly close */
    return;
  }
  st->resp_eof = 1;
  if (st->resp_submitted)
    resume(st);
  if (!ex->t.done) /* the end, before the histograms and the recent ring read it */
    ex->t.done = jc_now_us();
  if (st->ex.status >= 100)
    lb_passive_request_done(ex->w, &(lb_recent_req){&ex->t, ex->status, ex->pool, ex->server,
        ex->method, ex->retries, ex->backend_reused, ex->reqid, ex->reqid_len, stream_path(st),
        strlen(stream_path(st)), LB_PROTO_H2});
  lb_h2_stream_finish(st, "ok");
  st->h->schedule(st->h);
}

static void h2_abort(lb_exchange *ex, const char *why) {
  h2_stream *st = stream_of(ex);
  lb_h2_stream_finish(st, why);
  /* A tunnel's end by a reset or a timeout is the TCP RST of RFC 8441 section 5: CANCEL. */
  if (!st->h->dead)
    nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id,
                              ex->tunnel ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
  st->h->schedule(st->h);
}

static void h2_phase(lb_exchange *ex, const char *name, uint64_t now) {
  h2_stream *st = stream_of(ex);
  lb_log_conn lc;
  lb_client_log_conn(st->h->c, &lc);
  lc.path = stream_path(st);
  lc.stream = (uint32_t)st->id;
  lb_debug_phase(ex, &lc, name, now);
}

static const lb_exchange_ops h2_ops = {h2_head,  h2_send, h2_pending, h2_resume,
                                       h2_local, h2_done, h2_abort,   h2_phase};


/* ---- a request: HEADERS (+ CONTINUATION) complete ---- */

/* The stream's HTTP/1.1 head, then the request policy as for HTTP/1, then the exchange. */
void lb_h2_request_ready(h2_stream *st) {
  h2_conn *h = st->h;
  lb_client *c = h->c;
  lb_runtime *rt = h->c->ex.w->rt;
  lb_exchange *ex = &st->ex;
  const lb_config *cfg = &rt->cfg;
  uint64_t now = jc_now_us();
  ex->t.hdr_done = now;
  if (st->req.too_large || st->req.too_many) {
    lb_h2_count(h, LB_H2_HEADERS_LARGE);
    jc_log(JC_LOG_INFO, "h2 stream %d from %s: header list over max-header-size/max-headers: 431",
           st->id, c->peer);
    lb_h2_local(st, 431, "request headers larger than max-header-size", "header-too-large");
    return;
  }
  char *scratch = st->rx + ROUND8(LB_H2_STAGE_SIZE(cfg->max_header_size, cfg->max_headers));
  lb_header *views = st->req.fields + LB_H2_VIEWS(cfg);
  int r = lb_h2_req_head(&st->req, scratch, LB_H2_HEAD_MAX(cfg), views, cfg->max_headers + 2,
                         &st->head);
  if (r <= 0) {
    lb_h2_local(st, r == 0 ? 431 : 400,
             r == 0 ? "request headers larger than max-header-size" : "malformed request",
             r == 0 ? "header-too-large" : "bad-request");
    return;
  }
  lb_h2_head *hd = &st->head;
  const char *why, *term;
  int refused = st->req.protocol.name ? lb_h2_ws_begin(st, hd, (uint32_t)LB_H2_VIEWS(cfg), &why,
                                                       &term) : 0;
  if (refused) {
    lb_h2_local(st, refused, why, term);
    return;
  }
  size_t ul = hd->target_len < LB_PATH_LOG_MAX - 1 ? hd->target_len : LB_PATH_LOG_MAX - 1;
  memcpy(st->blk, hd->target, ul);
  st->blk[ul] = 0;
  ex->method = lb_h2_method(st->req.method.value, st->req.method.value_len);
  ex->http_minor = 0; /* framing as for a client that reads no chunks: bodies dechunked */
  ex->bytes_in = hd->len;
  if (ex->method < 0) { /* a token llhttp does not know: forwarded as received, as HTTP/1 does */
    if (st->req.method.value_len > LB_METHOD_MAX) {
      ex->method = HTTP_GET; /* for the log */
      lb_h2_local(st, 501, "method not implemented", "not-supported");
      return;
    }
    ex->method = LB_METHOD_OTHER;
    lb_exchange_method_keep(ex, st->req.method.value, st->req.method.value_len);
  }
  uint64_t length = hd->content_length;
  int has_length = hd->has_length;
  /* Without content-length: a body that did not end within the buffer (it filled) or the gather
   * window (LB_H2_GATHER_MS), or one that ended with trailer fields to forward, goes chunked,
   * the rest streaming through as it comes; else all of it is here (or none) and goes with its
   * length (h2_conn.c's on_data_chunk and on_idle_timer). */
  if (!has_length && !st->ws && ex->method != HTTP_CONNECT && (!st->body_eof || st->rtrl.kept)) {
    ex->chunk_body = 1;
    if (st->rtrl.kept) {
      ex->chunks.trailers = st->rtrl.buf;
      ex->chunks.trailers_len = (uint32_t)st->rtrl.len;
    }
  } else if (!has_length && st->body_eof) {
    has_length = st->body_len > 0;
    length = st->body_len;
  }
  ex->req_framing = lb_request_framing(ex->chunk_body, has_length, length);
  if (!ex->reqid_len)
    take_request_id(st);
  ex->reqid_due = !ex->reqid_len;
  if (cfg->request_id)
    lb_exchange_request_id(ex);
  lb_forward_info fi = {
      .client_ip = c->peer + c->peer_ip_off,
      .client_ip_len = c->peer_ip_len,
      .proto = c->s.tls_on ? "https" : "http",
      .request_id = cfg->request_id ? ex->reqid : NULL,
      .request_id_len = ex->reqid_len,
      .via = "journey-lb",
      .cert_header = cfg->tls.cert_header,
      .cert_header_len = cfg->tls.cert_header_len,
  };
  char subject[512];
  if (c->s.tls_on && fi.cert_header) { /* the subject goes only in that header */
    fi.cert_subject = subject;
    fi.cert_subject_len = lb_tls_peer_subject(c->s.tls.ssl, subject, sizeof subject);
  }
  /* A body without content-length got its length from the buffered bytes: the head says it,
   * as the last field (its view lives until the forwarded head is written, below). */
  char lenval[24];
  if (has_length && !hd->has_length) {
    int k = snprintf(lenval, sizeof lenval, "%llu", (unsigned long long)length);
    if (hd->len + sizeof "content-length: \r\n" - 1 + (size_t)k > LB_H2_HEAD_MAX(cfg) ||
        hd->nhdrs == cfg->max_headers + 2) {
      lb_h2_local(st, 431, "request headers larger than max-header-size", "header-too-large");
      return;
    }
    hd->hdrs[hd->nhdrs++] = (lb_header){"content-length", lenval, 14, (uint32_t)k};
  }
  /* No raw bytes: the head is views of fields nghttp2 checked (lb/http/h2.h says which), so
   * lb_request_check checks only the target and what the fields mean. */
  lb_request_in in = {
      .head = {.raw = NULL, .target = hd->target, .target_len = hd->target_len,
               .http_major = 1, .http_minor = 1, .is_options = ex->method == HTTP_OPTIONS,
               .headers = hd->hdrs, .nheaders = hd->nhdrs, .names_checked = 1},
      .method = lb_exchange_method_name(ex),
      .is_connect = ex->method == HTTP_CONNECT,
      .has_host = hd->has_host,
      .framing = ex->req_framing,
      .content_length = length,
      .fwd = &fi,
  };
  in.method_len = lb_exchange_method_len(ex);
  lb_request_verdict v;
  lb_request_decide(&in, cfg, ex->head, LB_HEAD_CAP(cfg), &v);
  ex->pool = v.pool;
  st->dispatched = 1;
  if (v.status) {
    lb_h2_local(st, v.status, v.why, v.term);
    return;
  }
  ex->head_len = (uint32_t)v.head_len;
  const lb_pool *pool = &rt->pools[ex->pool];
  if (pool->ops->keyed) {
    lb_key_source src = {.client_ip = c->peer + c->peer_ip_off,
                         .client_ip_len = c->peer_ip_len,
                         .target = hd->target,
                         .target_len = hd->target_len,
                         .headers = hd->hdrs,
                         .nheaders = hd->nhdrs};
    st->pick.has_key = lb_pool_key(pool, &src, &st->pick.key) != NULL;
  }
  lb_exchange_dispatch(ex);
}

