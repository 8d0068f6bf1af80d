#include "client/h2.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "client/h2_report.h"
#include "client/http.h"

#define HEAD_MAX 16384 /* the response head as HTTP/1.1 text for jn_http (r->resp_headers keeps 8 KiB) */
enum { JN_H2_REQ_FIELDS = 72 };

typedef struct stream {
  struct stream *next;
  jn_h2 *h;
  int32_t id;
  jn_result *r;
  uint64_t t0;
  jn_http http;
  const char *body;
  size_t body_len, body_off;
  int status;       /* :status of the final response, 0 until it came */
  int headers_done; /* the final head was handed to jn_http */
  int fail_code;    /* set by jn_h2_expire: the reason the stream was cancelled */
  char fail_why[160];
  uint32_t hdr_wire; /* HEADERS + CONTINUATION payload bytes of the response head */
  size_t head_len;
  char head[HEAD_MAX];
} stream;

struct jn_h2 {
  nghttp2_session *s;
  jn_h2_cbs cbs;
  jn_h2_out out;
  int wanted;
  size_t open;
  stream *streams;
  int goaway;
  int settings_n;
  struct { uint16_t id; uint32_t value; } settings[JN_H2_SETTINGS_MAX];
};

static stream *by_id(jn_h2 *h, int32_t id) {
  return id ? nghttp2_session_get_stream_user_data(h->s, id) : NULL;
}

static void copy_settings(const jn_h2 *h, jn_result *r) {
  r->h2.settings_n = h->settings_n;
  for (int i = 0; i < h->settings_n; i++) {
    r->h2.settings[i].id = h->settings[i].id;
    r->h2.settings[i].value = h->settings[i].value;
  }
}

/* A frame goes into the results of the streams it concerns: its own, or all open ones (stream 0). */
static void record(jn_h2 *h, const nghttp2_frame_hd *hd, int sent, uint32_t detail) {
  uint64_t now = jc_now_us();
  for (stream *st = h->streams; st; st = st->next) {
    if (hd->stream_id && hd->stream_id != st->id)
      continue;
    jn_h2_frame fr = {.t_us = now - st->t0, .length = (uint32_t)hd->length, .stream = hd->stream_id,
                      .type = hd->type, .flags = hd->flags, .sent = (uint8_t)sent, .detail = detail};
    jn_h2_frame_record(&st->r->h2, &fr);
  }
}

static uint32_t frame_detail(const nghttp2_frame *f) {
  switch (f->hd.type) {
  case NGHTTP2_WINDOW_UPDATE: return (uint32_t)f->window_update.window_size_increment;
  case NGHTTP2_RST_STREAM: return f->rst_stream.error_code;
  case NGHTTP2_GOAWAY: return f->goaway.error_code;
  default: return 0;
  }
}

static void unlink_stream(jn_h2 *h, stream *st) {
  for (stream **pp = &h->streams; *pp; pp = &(*pp)->next)
    if (*pp == st) {
      *pp = st->next;
      break;
    }
  h->open--;
}

/* The stream is over: its result goes back to the caller. */
static void finish(jn_h2 *h, stream *st, int code) {
  jn_result *r = st->r;
  unlink_stream(h, st);
  if (st->id && h->s)
    nghttp2_session_set_stream_user_data(h->s, st->id, NULL);
  r->t_total = jc_now_us() - st->t0;
  jn_http_end(&st->http);
  free(st);
  h->cbs.done(h->cbs.ud, r, code);
}

/* The final response head, as HTTP/1.1 text, into the same parser as an HTTP/1.1 response. */
static int deliver_head(stream *st) {
  jn_result *r = st->r;
  char line[32];
  int n = snprintf(line, sizeof line, "HTTP/1.1 %d \r\n", st->status);
  if (st->head_len + (size_t)n + 2 > sizeof st->head)
    st->head_len = sizeof st->head - (size_t)n - 2;
  memmove(st->head + n, st->head, st->head_len);
  memcpy(st->head, line, (size_t)n);
  memcpy(st->head + n + st->head_len, "\r\n", 2);
  size_t len = (size_t)n + st->head_len + 2;
  st->headers_done = 1;
  int rc = jn_http_feed(&st->http, st->head, len);
  /* curl's size_header for HTTP/2: "HTTP/2 200 \r\n", the header lines, the blank line */
  r->header_wire_bytes = len - 2;
  return rc;
}

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud) {
  (void)s;
  stream *st = by_id(ud, hd->stream_id);
  if (!st)
    return 0;
  if (!st->r->t_starttransfer)
    st->r->t_starttransfer = jc_now_us() - st->t0;
  if (hd->type == NGHTTP2_HEADERS || hd->type == NGHTTP2_CONTINUATION)
    st->hdr_wire += (uint32_t)hd->length;
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud) {
  (void)s, (void)flags;
  stream *st = by_id(ud, f->hd.stream_id);
  if (!st || f->hd.type != NGHTTP2_HEADERS || st->headers_done)
    return 0; /* trailers: recorded as a frame, not shown as headers */
  st->r->h2.resp_raw += (uint32_t)(nl + vl + 4);
  if (nl == 7 && memcmp(name, ":status", 7) == 0) {
    st->status = 0;
    for (size_t i = 0; i < vl && i < 3; i++)
      st->status = st->status * 10 + (value[i] - '0');
    return 0;
  }
  if (nl && name[0] == ':')
    return 0;
  if (st->head_len + nl + vl + 4 + 40 <= sizeof st->head) {
    memcpy(st->head + st->head_len, name, nl);
    memcpy(st->head + st->head_len + nl, ": ", 2);
    memcpy(st->head + st->head_len + nl + 2, value, vl);
    memcpy(st->head + st->head_len + nl + 2 + vl, "\r\n", 2);
    st->head_len += nl + vl + 4;
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  (void)s;
  jn_h2 *h = ud;
  record(h, &f->hd, 0, frame_detail(f));
  if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) {
    h->settings_n = 0;
    for (size_t i = 0; i < f->settings.niv && h->settings_n < JN_H2_SETTINGS_MAX; i++) {
      h->settings[h->settings_n].id = (uint16_t)f->settings.iv[i].settings_id;
      h->settings[h->settings_n++].value = f->settings.iv[i].value;
    }
    for (stream *st = h->streams; st; st = st->next)
      copy_settings(h, st->r);
  } else if (f->hd.type == NGHTTP2_GOAWAY) {
    h->goaway = 1;
  } else if (f->hd.type == NGHTTP2_HEADERS) {
    stream *st = by_id(h, f->hd.stream_id);
    if (!st || st->headers_done)
      return 0;
    uint32_t extra = (uint32_t)f->headers.padlen + ((f->hd.flags & NGHTTP2_FLAG_PRIORITY) ? 5 : 0);
    st->r->h2.resp_hpack += st->hdr_wire > extra ? st->hdr_wire - extra : 0;
    st->hdr_wire = 0;
    if (st->status / 100 == 1 || !st->status) { /* 1xx: an interim answer, the final one follows */
      st->head_len = 0;
      return 0;
    }
    if (deliver_head(st) < 0)
      nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
  }
  return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud) {
  (void)flags;
  jn_h2 *h = ud;
  stream *st = by_id(h, id);
  nghttp2_session_consume(s, id, len); /* the body is written or decoded at once: reopen the window */
  if (!st || !st->headers_done)
    return 0;
  if (jn_http_feed(&st->http, (const char *)data, len) < 0)
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  (void)s;
  jn_h2 *h = ud;
  record(h, &f->hd, 1, frame_detail(f));
  stream *st = by_id(h, f->hd.stream_id);
  if (st && f->hd.type == NGHTTP2_HEADERS) {
    st->r->h2.req_hpack = (uint32_t)f->hd.length - ((f->hd.flags & NGHTTP2_FLAG_PRIORITY) ? 5 : 0);
    st->r->t_pretransfer = jc_now_us() - st->t0; /* curl's time_pretransfer: the request is written */
  }
  return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t error, void *ud) {
  (void)s;
  jn_h2 *h = ud;
  stream *st = by_id(h, id);
  if (!st)
    return 0;
  jn_result *r = st->r;
  int code = 0;
  if (st->fail_code) {
    code = st->fail_code;
    jn_strlcpy(r->error, st->fail_why, sizeof r->error);
  } else if (r->exit_code) { /* jn_http failed (a bad head, the -o file) */
    code = r->exit_code;
  } else if (error) {
    code = JN_EXIT_HTTP2_STREAM;
    snprintf(r->error, sizeof r->error, "the server reset stream %d with %s%s", id, jn_h2_error_name(error),
             error == NGHTTP2_REFUSED_STREAM ? " (it did not process the request: safe to repeat)" : "");
  } else if (!st->headers_done) {
    code = JN_EXIT_HTTP2_STREAM;
    snprintf(r->error, sizeof r->error, "stream %d ended without a response head", id);
  } else if (jn_http_feed(&st->http, "", 0) != 1 && jn_http_eof(&st->http) != 1) {
    code = r->exit_code ? r->exit_code : JN_EXIT_RECV;
    snprintf(r->error, sizeof r->error, "stream %d ended before the body was whole (Content-Length says more)", id);
  }
  finish(h, st, code);
  return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
  (void)s, (void)id, (void)ud;
  stream *st = src->ptr;
  size_t n = st->body_len - st->body_off;
  if (n > len)
    n = len;
  memcpy(buf, st->body + st->body_off, n);
  st->body_off += n;
  if (st->body_off == st->body_len)
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

jn_h2 *jn_h2_new(const jn_h2_cbs *cbs, const jn_h2_out *out, int streams_wanted) {
  jn_h2 *h = calloc(1, sizeof *h);
  nghttp2_session_callbacks *cb;
  if (!h || nghttp2_session_callbacks_new(&cb) != 0) {
    free(h);
    return NULL;
  }
  h->cbs = *cbs;
  h->out = *out;
  h->wanted = streams_wanted < 1 ? 1 : streams_wanted;
  nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  nghttp2_option *opt = NULL;
  int rc = nghttp2_option_new(&opt);
  if (rc == 0) {
    nghttp2_option_set_no_auto_window_update(opt, 0);
    rc = nghttp2_session_client_new2(&h->s, cb, h, opt);
    nghttp2_option_del(opt);
  }
  nghttp2_session_callbacks_del(cb);
  /* no server push; the window of a stream large enough that one response rarely waits for us */
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                 {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  if (rc != 0 || nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0) {
    jn_h2_free(h);
    return NULL;
  }
  return h;
}

void jn_h2_free(jn_h2 *h) {
  if (!h)
    return;
  jn_h2_fail_all(h, JN_EXIT_RECV, "the connection closed");
  if (h->s)
    nghttp2_session_del(h->s);
  free(h);
}

int jn_h2_submit(jn_h2 *h, jn_result *r, uint64_t t0, const char *req, size_t req_len, const char *scheme,
                 const char *authority, const char *body, size_t body_len) {
  jn_h2_field fields[JN_H2_REQ_FIELDS];
  nghttp2_nv nv[JN_H2_REQ_FIELDS];
  char store[4096];
  int n = jn_h2_request_fields(req, req_len, scheme, authority, fields, JN_H2_REQ_FIELDS, store, sizeof store);
  stream *st = n > 0 ? calloc(1, sizeof *st) : NULL;
  if (!st) {
    snprintf(r->error, sizeof r->error, n > 0 ? "out of memory" : "the request cannot be sent over HTTP/2 (more than "
                                                                  "64 headers?)");
    return -1;
  }
  uint32_t raw = 0;
  for (int i = 0; i < n; i++) {
    nv[i] = (nghttp2_nv){(uint8_t *)fields[i].name, (uint8_t *)fields[i].value, fields[i].name_len,
                         fields[i].value_len, NGHTTP2_NV_FLAG_NONE};
    raw += (uint32_t)(fields[i].name_len + fields[i].value_len + 4);
  }
  st->h = h;
  st->r = r;
  st->t0 = t0;
  st->body = body;
  st->body_len = body_len;
  jn_http_begin(&st->http, r, h->out.head, h->out.out);
  st->http.h2 = 1;
  st->http.dump = h->out.dump;
  st->http.include = h->out.include;
  st->http.follow = h->out.follow;
  nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
  int32_t id = nghttp2_submit_request(h->s, NULL, nv, (size_t)n, body_len ? &dp : NULL, st);
  if (id < 0) {
    snprintf(r->error, sizeof r->error, "cannot open an HTTP/2 stream: %s", nghttp2_strerror(id));
    jn_http_end(&st->http);
    free(st);
    return -1;
  }
  st->id = id;
  st->next = h->streams;
  h->streams = st;
  h->open++;
  r->h2.used = 1;
  r->h2.prior_knowledge = strcmp(scheme, "http") == 0;
  r->h2.stream_id = id;
  r->h2.req_raw = raw;
  uint32_t max = nghttp2_session_get_remote_settings(h->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  r->h2.streams_on_conn = (uint32_t)h->wanted < max ? h->wanted : (int)max;
  copy_settings(h, r);
  r->upload_bytes = body_len;
  return 0;
}

int jn_h2_flush(jn_h2 *h) {
  for (;;) {
    const uint8_t *p;
    ssize_t n = nghttp2_session_mem_send(h->s, &p);
    if (n < 0) {
      char why[160];
      snprintf(why, sizeof why, "HTTP/2 error while sending: %s", nghttp2_strerror((int)n));
      jn_h2_fail_all(h, JN_EXIT_HTTP2, why);
      return -1;
    }
    if (n == 0)
      return 0;
    if (h->cbs.write(h->cbs.ud, p, (size_t)n) != 0)
      return -1;
  }
}

int jn_h2_feed(jn_h2 *h, const char *p, size_t n) {
  ssize_t rc = nghttp2_session_mem_recv(h->s, (const uint8_t *)p, n);
  if (rc < 0) {
    char why[160];
    snprintf(why, sizeof why, "the server broke HTTP/2: %s", nghttp2_strerror((int)rc));
    jn_h2_fail_all(h, JN_EXIT_HTTP2, why);
    return -1;
  }
  return jn_h2_flush(h);
}

int jn_h2_can_submit(const jn_h2 *h) {
  uint32_t max = nghttp2_session_get_remote_settings(h->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return !h->goaway && h->open < (size_t)h->wanted && h->open < max &&
         nghttp2_session_get_next_stream_id(h->s) < (1u << 31) - 2;
}

int jn_h2_goaway(const jn_h2 *h) { return h->goaway; }

size_t jn_h2_open_streams(const jn_h2 *h) { return h->open; }

uint64_t jn_h2_oldest(const jn_h2 *h) {
  uint64_t t = 0;
  for (const stream *st = h->streams; st; st = st->next)
    if (!st->fail_code && (!t || st->t0 < t))
      t = st->t0;
  return t;
}

void jn_h2_expire(jn_h2 *h, uint64_t before, int code, const char *why) {
  for (stream *st = h->streams; st; st = st->next)
    if (!st->fail_code && st->t0 <= before) {
      st->fail_code = code;
      jn_strlcpy(st->fail_why, why, sizeof st->fail_why);
      nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    }
  jn_h2_flush(h);
}

void jn_h2_fail_all(jn_h2 *h, int code, const char *why) {
  while (h->streams) {
    stream *st = h->streams;
    jn_result *r = st->r;
    int c = st->fail_code ? st->fail_code : r->exit_code ? r->exit_code : code;
    if (st->fail_code)
      jn_strlcpy(r->error, st->fail_why, sizeof r->error);
    else if (!r->error[0])
      snprintf(r->error, sizeof r->error, "%s (stream %d)", why, st->id);
    finish(h, st, c);
  }
}

void jn_h2_close(jn_h2 *h) {
  nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
                        NULL, 0);
  jn_h2_flush(h);
}
