/* libFuzzer: journey-lb's HTTP/2 request path. Bytes from a client (after the connection
 * preface) -> an nghttp2 server session with the LB's options and SETTINGS (and, as the LB, no
 * on_invalid_header callback) -> each request's fields through lb/http/h2.c (lb_h2_req_add,
 * lb_h2_req_head: linked, not copied) -> the request check the LB runs on them -> the head a
 * backend would read (lb_rewrite_request), then the response fields of a fixed backend answer.
 * Oracles (abort on violation): every field nghttp2 hands over is a lowercase token and a valid
 * field value (the LB does not check them again, lb/http/h2.h); every head the LB's check
 * accepts is written as a head llhttp parses as exactly one request with the same method and
 * target, Host from :authority, no connection-specific field, and that passes the whole HTTP/1
 * check on its raw bytes; an extended CONNECT (RFC 8441, offered in the SETTINGS as the LB does)
 * goes as a GET with exactly Upgrade: websocket, Connection: upgrade and the LB's key
 * (lb/http/h2_ws.c); response fields are lowercase, and a 101 becomes a 200 only with the
 * accept of the key. A request's trailer section (HEADERS after DATA) goes through
 * lb_req_trailer_add: every section it keeps is a chunked body's end the strict chunk scanner
 * (lb/core/chunk_check.c) reads as exactly that end, with no field that must not be a trailer;
 * a body without content-length is forwarded with Transfer-Encoding: chunked, once. */
#include "lb/core/chunk_check.h"
#include "lb/core/request_check.h"
#include "lb/http/h1.h"
#include "lb/http/h2.h"
#include "lb/http/h2_mem.h"
#include "lb/http/h2_trailers.h"
#include "lb/http/h2_ws.h"

#include <llhttp.h>
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGE 16384 /* max-header-size's default */
#define MAXF 100    /* max-headers' default */
#define KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's sample key; its accept below */
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

typedef struct fz_stream {
  lb_h2_req req;
  int ended; /* END_STREAM on the HEADERS */
  char stage[LB_H2_STAGE_SIZE(STAGE, MAXF)];
  lb_header fields[MAXF];
  char scratch[STAGE + 64];
  lb_header views[MAXF + 5];
  char raw[STAGE + 1024]; /* the forwarded head */
  lb_req_trailers trl;
  char trl_buf[3 + LB_REQ_TRAILERS_CAP(STAGE, MAXF) + 2]; /* "0" CRLF, the lines, CRLF */
} fz_stream;

/* Every stream of one input, freed after the session (nghttp2_session_del calls no callback). */
static fz_stream *all[256];
static int nall;

static void fail(const char *what) {
  fprintf(stderr, "fuzz_lb_h2: %s\n", what);
  abort();
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  (void)ud;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_HEADERS) {
    fz_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st) /* a trailer section, as lb/proxy/h2_stream.c keeps it */
      st->trl = (lb_req_trailers){.buf = st->trl_buf + 3,
                                     .max_bytes = STAGE,
                                     .max_fields = MAXF,
                                     .own = "x-client-cert",
                                     .own_len = 13};
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  fz_stream *st = nall < 256 ? malloc(sizeof *st) : NULL;
  if (!st)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  all[nall++] = st;
  lb_h2_req_init(&st->req, st->stage, STAGE, st->fields, MAXF);
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                     const uint8_t *v, size_t vl, uint8_t flags, void *ud) {
  (void)flags, (void)ud;
  fz_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (st && f->headers.cat == NGHTTP2_HCAT_HEADERS) {
    if (!nl || n[0] == ':')
      fail("nghttp2 handed over a pseudo-header in a trailer section");
    if (!lb_token_valid((const char *)n, nl) || !lb_field_value_valid((const char *)v, vl))
      fail("nghttp2 handed over a trailer field that is not a valid field");
    lb_req_trailer_add(&st->trl, (const char *)n, nl, (const char *)v, vl);
  } else if (st && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    size_t skip = nl && n[0] == ':';
    for (size_t i = skip; i < nl; i++)
      if (n[i] >= 'A' && n[i] <= 'Z')
        fail("nghttp2 handed over an uppercase field name");
    if (!lb_token_valid((const char *)n + skip, nl - skip))
      fail("nghttp2 handed over a field name that is not a token");
    if (!lb_field_value_valid((const char *)v, vl))
      fail("nghttp2 handed over a field value with a control byte, CR, LF, NUL or DEL");
    lb_h2_req_add(&st->req, n, nl, v, vl);
  }
  return 0;
}

/* The forwarded head is parsed back with room for every field it can carry: the client's (up to
 * MAXF, plus Host), the three a WebSocket's upgrade adds, and those the rewrite adds. */
typedef struct parsed {
  lb_h1_req r;
  lb_header hdrs[MAXF + 16];
} parsed;

static void check_head(fz_stream *st) {
  lb_h2_head h;
  if (st->req.too_large || st->req.too_many)
    return; /* 431 */
  int r = lb_h2_req_head(&st->req, st->scratch, sizeof st->scratch, st->views, MAXF + 2, &h);
  if (r <= 0)
    return; /* 431 / 400 */
  const char *why, *term;
  int ws = st->req.protocol.name != NULL;
  if (ws && lb_h2_ws_request(&st->req, &h, st->ended, MAXF + 5, KEY, &why, &term) != 0)
    return; /* 501 / 400 / 431 */
  if (st->req.method.value_len == 7 && !memcmp(st->req.method.value, "CONNECT", 7))
    return; /* plain CONNECT: the request policy refuses it */
  if (lb_h2_method(st->req.method.value, st->req.method.value_len) < 0)
    return; /* 501 */
  lb_request_head rh = {.target = h.target, .target_len = h.target_len, .http_major = 1,
                        .http_minor = 1, .headers = h.hdrs, .nheaders = h.nhdrs,
                        .names_checked = 1};
  rh.is_options = st->req.method.value_len == 7 && !memcmp(st->req.method.value, "OPTIONS", 7);
  if (lb_request_check(&rh, &why) != 0)
    return; /* 400/501: nothing is forwarded */
  /* A body without content-length that does not end with the head goes chunked (h2_stream.c). */
  int chunked = !h.has_length && !st->ended && !ws;
  lb_request_view rv = {.method = st->req.method.value,
                        .method_len = st->req.method.value_len,
                        .target = h.target,
                        .target_len = h.target_len,
                        .http_minor = 1,
                        .headers = h.hdrs,
                        .nheaders = h.nhdrs,
                        .framing = h.has_length ? LB_FRAME_LENGTH
                                   : chunked    ? LB_FRAME_CHUNKED
                                                : LB_FRAME_NONE};
  lb_forward_info fi = {.client_ip = "192.0.2.1", .proto = "https", .via = "journey-lb"};
  size_t len = lb_rewrite_request(st->raw, sizeof st->raw, &rv, &fi);
  if (!len)
    return; /* 431 */
  parsed p;
  llhttp_t hp;
  memset(&p, 0, sizeof p);
  p.r.hdrs = p.hdrs;
  p.r.max_hdrs = MAXF + 16;
  lb_h1_req_parser_init(&hp, &p.r);
  enum llhttp_errno e = llhttp_execute(&hp, st->raw, len);
  if (e != HPE_PAUSED || !p.r.head_done)
    fail("a head the LB's check accepted is not one llhttp parses");
  if ((size_t)(llhttp_get_error_pos(&hp) - st->raw) != len)
    fail("the forwarded head is not exactly one request head");
  if (p.r.url_len != st->req.path.value_len || memcmp(p.r.url, st->req.path.value, p.r.url_len))
    fail("the target changed in the conversion");
  const char *m = llhttp_method_name((llhttp_method_t)hp.method);
  if (strlen(m) != st->req.method.value_len || memcmp(m, st->req.method.value, strlen(m)))
    fail("the method changed in the conversion");
  lb_request_head raw = {.raw = st->raw, .raw_len = len, .target = p.r.url,
                         .target_len = p.r.url_len, .http_major = 1, .http_minor = 1,
                         .is_options = rh.is_options, .headers = p.r.hdrs,
                         .nheaders = p.r.nhdrs};
  if (lb_request_check(&raw, &why) != 0)
    fail("the forwarded head fails the HTTP/1 check on its raw bytes");
  int upgrade = 0, keys = 0, te = 0;
  for (uint32_t i = 0; i < p.r.nhdrs; i++) {
    const lb_header *x = &p.r.hdrs[i];
    if (ws && LB_HEADER_IS(x->name, x->name_len, "connection") && x->value_len == 7 &&
        !memcmp(x->value, "upgrade", 7))
      upgrade |= 1;
    else if (ws && LB_HEADER_IS(x->name, x->name_len, "upgrade") && x->value_len == 9 &&
             !memcmp(x->value, "websocket", 9))
      upgrade |= 2;
    else if (chunked && LB_HEADER_IS(x->name, x->name_len, "transfer-encoding") &&
             x->value_len == 7 && !memcmp(x->value, "chunked", 7) && !te++)
      continue;
    else if (LB_HEADER_IS(x->name, x->name_len, "connection") ||
             LB_HEADER_IS(x->name, x->name_len, "transfer-encoding") ||
             LB_HEADER_IS(x->name, x->name_len, "upgrade"))
      fail("a connection-specific field went through");
    if (LB_HEADER_IS(x->name, x->name_len, "sec-websocket-key") &&
        (!ws || x->value_len != sizeof KEY - 1 || memcmp(x->value, KEY, x->value_len) || keys++))
      fail("a Sec-WebSocket-Key other than the LB's went through");
    if (st->req.authority.name && LB_HEADER_IS(x->name, x->name_len, "host") &&
        (x->value_len != st->req.authority.value_len ||
         memcmp(x->value, st->req.authority.value, x->value_len)))
      fail("Host is not :authority");
  }
  if (ws && (upgrade != 3 || !keys))
    fail("an extended CONNECT went without Upgrade, Connection or the LB's key");
  if (chunked != te)
    fail("a body without content-length went without Transfer-Encoding: chunked");
}

/* A trailer section the LB would forward: the end of a chunked body, read back strictly. */
static void check_trailers(fz_stream *st) {
  lb_req_trailers *t = &st->trl;
  if (!t->buf || t->over)
    return; /* none, or 431 */
  if (t->len > LB_REQ_TRAILERS_CAP(STAGE, MAXF))
    fail("a trailer section past its buffer");
  memcpy(st->trl_buf, "0\r\n", 3);
  memcpy(t->buf + t->len, "\r\n", 2);
  size_t len = 3 + t->len + 2, used = 0;
  lb_chunk_scan sc;
  lb_chunk_scan_init(&sc);
  const lb_chunk_limits lim = {LB_CHUNK_LINE_MAX, (uint32_t)LB_REQ_TRAILERS_CAP(STAGE, MAXF),
                               MAXF};
  const char *why = NULL;
  if (lb_chunk_scan_feed(&sc, &lim, st->trl_buf, len, &used, &why) != 1 || used != len)
    fail("a forwarded trailer section is not exactly a chunked body's end");
  for (const char *p = t->buf, *end = t->buf + t->len; p < end;) {
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!colon || !eol || colon > eol)
      fail("a trailer line without its colon");
    if (!lb_trailer_allowed(p, (size_t)(colon - p)) ||
        LB_HEADER_IS(p, (size_t)(colon - p), "x-forwarded-for") ||
        LB_HEADER_IS(p, (size_t)(colon - p), "x-client-cert"))
      fail("a field that must not be a trailer was kept");
    p = eol + 1;
  }
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  (void)ud;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_HEADERS) {
    fz_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st)
      check_trailers(st);
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  fz_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (st) {
    st->ended = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    check_head(st);
  }
  return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud) {
  (void)code, (void)ud;
  nghttp2_session_set_stream_user_data(s, id, NULL);
  return 0;
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *d, size_t n, int fl, void *ud) {
  (void)s, (void)fl;
  lb_h2_mem_sent_from(ud, d);
  return (ssize_t)n;
}

static void response_fields(void) {
  lb_header h[] = {{"Content-Type", "text/plain", 12, 10}, {"Connection", "close, X-A", 10, 10},
                   {"X-A", "1", 3, 1}, {"Transfer-Encoding", "chunked", 17, 7}};
  lb_response_view v = {.status = 200, .headers = h, .nheaders = 4};
  lb_response_extra x = {.framing = LB_FRAME_CLOSE, .server_timing = "total;dur=1"};
  nghttp2_nv nva[16];
  char scratch[128];
  int n = lb_h2_resp_fields(&v, &x, 0, nva, 16, scratch, sizeof scratch);
  for (int i = 1; i < n; i++)
    for (size_t k = 0; k < nva[i].namelen; k++)
      if (nva[i].name[k] >= 'A' && nva[i].name[k] <= 'Z')
        fail("an uppercase response field name");
  if (n != 3)
    fail("connection-specific response fields went through");
  /* A backend's 101 to an extended CONNECT: 200 with the accept of the key, else refused. */
  lb_header u[] = {{"Upgrade", "websocket", 7, 9}, {"Sec-WebSocket-Accept", ACCEPT, 20, 28},
                   {"Sec-WebSocket-Protocol", "chat", 22, 4}};
  lb_response_view sw = {.status = 101, .headers = u, .nheaders = 3}, ok;
  lb_header kept[4];
  if (lb_h2_ws_response(&sw, KEY, kept, 4, &ok) != 0 || ok.status != 200 || ok.nheaders != 2 ||
      lb_h2_ws_response(&sw, "AAAAAAAAAAAAAAAAAAAAAA==", kept, 4, &ok) != -4)
    fail("a 101's Sec-WebSocket-Accept is not checked against the key");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int once;
  if (!once) {
    response_fields();
    once = 1;
  }
  nghttp2_session_callbacks *cb;
  nghttp2_option *opt;
  nghttp2_session *s;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_option_new(&opt);
  nghttp2_session_callbacks_set_send_callback(cb, on_send);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  /* the preface is given: the fuzzer spends its bytes on frames */
  nghttp2_option_set_no_recv_client_magic(opt, 1);
  nghttp2_option_set_no_closed_streams(opt, 1);
  lb_h2_mem_cache cache = {0}; /* a worker's free lists: a stream's blocks serve the next */
  lb_h2_mem mm = {.cache = &cache}; /* the LB's allocator, pages given back between the halves */
  nghttp2_mem mem = lb_h2_mem_allocator(&mm);
  if (nghttp2_session_server_new3(&s, cb, &mm, opt, &mem) == 0) {
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                   {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, STAGE},
                                   {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}};
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 3);
    /* Given back when nothing is queued or half sent, as the LB does (lb/http/h2_mem.c). */
    nghttp2_session_mem_recv(s, data, size / 2);
    nghttp2_session_send(s);
    if (nghttp2_session_want_read(s) && !nghttp2_session_want_write(s))
      lb_h2_mem_release(&mm);
    nghttp2_session_mem_recv(s, data + size / 2, size - size / 2);
    nghttp2_session_send(s);
    nghttp2_session_del(s);
  }
  while (nall)
    free(all[--nall]);
  lb_h2_mem_cache_drain(&cache); /* every block freed: the leak check sees none kept */
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  return 0;
}
