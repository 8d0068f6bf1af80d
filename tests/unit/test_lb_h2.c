/* lb/http/h2.c, the HTTP/2 codec's conversions (RFC 9113 section 8): an h2 request's fields
 * into the HTTP/1.1 head the backends read, a backend's response head into h2 fields; a
 * chunked response's trailer section kept by lb/http/h1.c and turned into h2 trailer fields
 * (lb/http/h2_trailers.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <llhttp.h>
#include <stdio.h>
#include <string.h>

#include "lb/http/h1.h"
#include "lb/http/h2.h"
#include "lb/http/chunk_out.h"
#include "lb/core/chunk_check.h"
#include "lb/http/h2_trailers.h"

typedef struct req {
  char stage[LB_H2_STAGE_SIZE(400, 8)];
  lb_header fields[8];
  lb_h2_req r;
  char scratch[512];
  lb_header hdrs[10];
  lb_h2_head h;
  char out[600]; /* the head as HTTP/1.1, written from the views (as the rewrite does) */
  size_t out_len;
} req;

static void add(req *q, const char *n, const char *v) {
  lb_h2_req_add(&q->r, (const uint8_t *)n, strlen(n), (const uint8_t *)v, strlen(v));
}

static void start(req *q, size_t max_bytes) {
  memset(q, 0, sizeof *q);
  lb_h2_req_init(&q->r, q->stage, max_bytes, q->fields, 8);
}

static void cat(req *q, const char *p, size_t n) {
  memcpy(q->out + q->out_len, p, n);
  q->out_len += n;
}

static int head(req *q, size_t cap) {
  int r = lb_h2_req_head(&q->r, q->scratch, cap, q->hdrs, 10, &q->h);
  if (r != 1)
    return r;
  q->out_len = 0;
  cat(q, q->r.method.value, q->r.method.value_len);
  cat(q, " ", 1);
  cat(q, q->h.target, q->h.target_len);
  cat(q, " HTTP/1.1\r\n", 11);
  for (uint32_t i = 0; i < q->h.nhdrs; i++) {
    cat(q, q->h.hdrs[i].name, q->h.hdrs[i].name_len);
    cat(q, ": ", 2);
    cat(q, q->h.hdrs[i].value, q->h.hdrs[i].value_len);
    cat(q, "\r\n", 2);
  }
  cat(q, "\r\n", 2);
  return r;
}

static void request_head(void **state) {
  (void)state;
  req q;
  start(&q, 400);
  add(&q, ":method", "GET");
  add(&q, ":scheme", "https");
  add(&q, ":authority", "www.my-app.com:8443");
  add(&q, ":path", "/my-app/data?x=1");
  add(&q, "cookie", "a=1");
  add(&q, "accept", "*/*");
  add(&q, "host", "other.example"); /* :authority wins */
  add(&q, "cookie", "b=2");
  assert_int_equal(head(&q, sizeof q.scratch), 1);
  const char *want = "GET /my-app/data?x=1 HTTP/1.1\r\nhost: www.my-app.com:8443\r\n"
                     "cookie: a=1; b=2\r\naccept: */*\r\n\r\n";
  assert_int_equal(q.h.len, strlen(want));
  assert_int_equal(q.out_len, strlen(want));
  assert_memory_equal(q.out, want, q.h.len);
  assert_int_equal(q.h.nhdrs, 3);
  assert_int_equal(q.h.has_host, 1);
  assert_int_equal(q.h.has_length, 0);
  assert_int_equal(q.h.target_len, 16);
  assert_memory_equal(q.h.target, "/my-app/data?x=1", 16);
  assert_memory_equal(q.hdrs[1].value, "a=1; b=2", q.hdrs[1].value_len);
  /* the fields are staged as the lines a backend reads, one after the other: the rewrite copies
   * such a run at once (the host line and the accept line here) */
  assert_memory_equal(q.hdrs[0].name, "host: www.my-app.com:8443\r\ncookie: a=1\r\naccept: */*\r\n",
                      53);
  assert_ptr_equal(q.hdrs[2].name, q.hdrs[0].name + 27 + 13);
}

static void request_length_and_limits(void **state) {
  (void)state;
  req q;
  start(&q, 400);
  add(&q, ":method", "POST");
  add(&q, ":path", "/up");
  add(&q, "host", "x");
  add(&q, "content-length", "1000000");
  assert_int_equal(head(&q, sizeof q.scratch), 1);
  assert_int_equal(q.h.has_host, 1);
  assert_int_equal(q.h.has_length, 1);
  assert_true(q.h.content_length == 1000000);
  const char *want = "POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n";
  assert_int_equal(q.h.len, strlen(want));
  assert_memory_equal(q.out, want, q.out_len);
  /* a content-length that is not a number: 400 */
  start(&q, 400);
  add(&q, ":method", "POST");
  add(&q, ":path", "/up");
  add(&q, "content-length", "12a");
  assert_int_equal(head(&q, sizeof q.scratch), -1);
  /* no :path: not a request (nghttp2 refuses it first; the conversion does too) */
  start(&q, 400);
  add(&q, ":method", "GET");
  assert_int_equal(head(&q, sizeof q.scratch), -1);
  /* names and values beyond max_bytes: flagged (431), and further ones refused */
  start(&q, 40);
  add(&q, ":method", "GET");
  add(&q, ":path", "/");
  assert_int_equal(lb_h2_req_add(&q.r, (const uint8_t *)"x-big", 5,
                                 (const uint8_t *)"0123456789012345678901234567890123456789", 40), -1);
  assert_true(q.r.too_large);
  assert_int_equal(lb_h2_req_add(&q.r, (const uint8_t *)"a", 1, (const uint8_t *)"b", 1), -1);
  /* exactly max_bytes: taken, the stage holds the lines besides */
  start(&q, 400);
  add(&q, ":method", "GET");
  add(&q, ":path", "/");
  const char *v60 = "012345678901234567890123456789012345678901234567890123456789";
  for (int i = 0; i < 8; i++) /* 4 bytes of pseudo-headers, 7 x 49, then 53: 400 */
    assert_int_equal(lb_h2_req_add(&q.r, (const uint8_t *)"x-fill", 6, (const uint8_t *)v60,
                                   i < 7 ? 43 : 47), 0);
  assert_int_equal(q.r.bytes, 400);
  assert_false(q.r.too_large);
  /* a ninth field: over max-headers (431) */
  assert_int_equal(lb_h2_req_add(&q.r, (const uint8_t *)"a", 1, (const uint8_t *)"", 0), -1);
  assert_true(q.r.too_many);
  /* a head longer than cap as HTTP/1.1: 0 (431) */
  start(&q, 400);
  add(&q, ":method", "GET");
  add(&q, ":path", "/a-rather-long-path-for-a-small-buffer");
  assert_int_equal(head(&q, 30), 0);
  /* joined cookies longer than the scratch: 0 (431) */
  start(&q, 400);
  add(&q, ":method", "GET");
  add(&q, ":path", "/");
  add(&q, "cookie", "a=1111111111");
  add(&q, "cookie", "b=2222222222");
  assert_int_equal(head(&q, 20), 0);
}

/* nva holds exactly the n name/value pairs of want, in order. */
static void assert_fields(const nghttp2_nv *nva, const char *want[][2], size_t n) {
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(nva[i].namelen, strlen(want[i][0]));
    assert_memory_equal(nva[i].name, want[i][0], nva[i].namelen);
    assert_int_equal(nva[i].valuelen, strlen(want[i][1]));
    assert_memory_equal(nva[i].value, want[i][1], nva[i].valuelen);
  }
}

static void response_fields(void **state) {
  (void)state;
  lb_header h[] = {{"Content-Type", "text/plain", 12, 10},
                   {"Connection", "keep-alive, X-Hop", 10, 17},
                   {"Keep-Alive", "timeout=5", 10, 9},
                   {"X-Hop", "1", 5, 1},
                   {"Transfer-Encoding", "chunked", 17, 7},
                   {"X-Request-Id", "backend-id", 12, 10},
                   {"Set-Cookie", "s=1", 10, 3}};
  lb_response_view v = {.status = 200, .headers = h, .nheaders = 7};
  lb_response_extra x = {.framing = LB_FRAME_CLOSE, .server_timing = "total;dur=1",
                         .served_by = "b1", .request_id = "lb-id", .request_id_len = 5};
  nghttp2_nv nva[16];
  char scratch[256];
  int n = lb_h2_resp_fields(&v, &x, 0, nva, 16, scratch, sizeof scratch);
  const char *want[][2] = {{":status", "200"},       {"content-type", "text/plain"},
                           {"set-cookie", "s=1"},     {"server-timing", "total;dur=1"},
                           {"x-served-by", "b1"},     {"x-request-id", "lb-id"}};
  assert_int_equal(n, 6);
  assert_fields(nva, want, 6);
  /* Never indexed: the secret and the values that differ per response; the rest indexable. */
  const int never[] = {0, 0, 1, 1, 0, 1};
  for (int i = 0; i < 6; i++)
    assert_int_equal((nva[i].flags & NGHTTP2_NV_FLAG_NO_INDEX) != 0, never[i]);
  /* A connection's first response indexes the LB's own two (later ones name them by index). */
  assert_int_equal(lb_h2_resp_fields(&v, &x, 1, nva, 16, scratch, sizeof scratch), 6);
  const int never_first[] = {0, 0, 1, 0, 0, 0};
  for (int i = 0; i < 6; i++)
    assert_int_equal((nva[i].flags & NGHTTP2_NV_FLAG_NO_INDEX) != 0, never_first[i]);
  /* The backend's own X-Request-Id and Server-Timing (the LB adding neither): never indexed. */
  lb_header hb[] = {{"X-Request-Id", "backend-id", 12, 10}, {"Server-Timing", "db;dur=2", 13, 8},
                    {"X-Served-By", "app", 11, 3}};
  lb_response_view vb = {.status = 200, .headers = hb, .nheaders = 3};
  lb_response_extra xb = {.framing = LB_FRAME_LENGTH};
  assert_int_equal(lb_h2_resp_fields(&vb, &xb, 1, nva, 16, scratch, sizeof scratch), 4);
  assert_true(nva[1].flags & NGHTTP2_NV_FLAG_NO_INDEX);
  assert_true(nva[2].flags & NGHTTP2_NV_FLAG_NO_INDEX);
  assert_false(nva[3].flags & NGHTTP2_NV_FLAG_NO_INDEX);
  assert_int_equal(lb_h2_resp_fields(&v, &x, 0, nva, 16, scratch, 8), -1); /* scratch too small */
}

/* Response names go out lowercase, copied word by word: every length up to 24 (byte loop,
 * two four-byte words, eight-byte words with an overlapping last one), every byte value at
 * every position, the rest uppercase letters; only A-Z change. */
static void response_names_lowercased(void **state) {
  (void)state;
  char name[24];
  nghttp2_nv nva[8];
  char scratch[64];
  for (size_t n = 1; n <= sizeof name; n++)
    for (size_t pos = 0; pos < n; pos++)
      for (int ch = 0; ch < 256; ch++) {
        memset(name, 'Q', n);
        name[pos] = (char)ch;
        lb_header h = {name, "v", (uint32_t)n, 1};
        lb_response_view v = {.status = 200, .headers = &h, .nheaders = 1};
        lb_response_extra x = {.framing = LB_FRAME_LENGTH};
        if (lb_header_is_hop_by_hop(name, n))
          continue;
        if (lb_h2_resp_fields(&v, &x, 0, nva, 8, scratch, sizeof scratch) != 2 || nva[1].namelen != n)
          fail_msg("length %zu byte 0x%02x at %zu: no field", n, ch, pos);
        for (size_t k = 0; k < n; k++) {
          unsigned char in = (unsigned char)name[k], want = in >= 'A' && in <= 'Z' ? in + 32 : in;
          if (nva[1].name[k] != want)
            fail_msg("length %zu byte 0x%02x at %zu: 0x%02x at %zu", n, ch, pos, nva[1].name[k], k);
        }
      }
}

static void preface_and_methods(void **state) {
  (void)state;
  const char *pri = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  assert_int_equal(lb_h2_preface(pri, strlen(pri)), 1);
  assert_int_equal(lb_h2_preface(pri, 5), -1);
  assert_int_equal(lb_h2_preface("GET / HTTP/1.1\r\n", 16), 0);
  assert_int_equal(lb_h2_method("GET", 3), HTTP_GET);
  assert_int_equal(lb_h2_method("DELETE", 6), HTTP_DELETE);
  assert_int_equal(lb_h2_method("BREW", 4), -1);
}

/* A chunked response fed to lb/http/h1.c `step` bytes at a time, its trailer fields kept in t
 * (lent once the head is whole, as the exchange does): llhttp's last result. */
static enum llhttp_errno parse_trailers(const char *msg, size_t step, lb_h1_trailers *t) {
  static lb_header hdrs[8];
  lb_h1_resp r;
  llhttp_t p;
  memset(&r, 0, sizeof r);
  r.hdrs = hdrs;
  r.max_hdrs = 8;
  lb_h1_resp_parser_init(&p, &r, 0);
  enum llhttp_errno e = HPE_OK;
  for (size_t off = 0, len = strlen(msg); off < len && e == HPE_OK;) {
    size_t n = len - off < step ? len - off : step;
    e = llhttp_execute(&p, msg + off, n);
    off += n;
    if (e == HPE_PAUSED && !r.msg_ready) { /* the head: trailers go to t from here */
      off = (size_t)(llhttp_get_error_pos(&p) - msg);
      llhttp_resume(&p);
      lb_h1_resp_keep_trailers(&p, &r, t);
      e = HPE_OK;
    }
  }
  return e;
}

static void response_trailers(void **state) {
  (void)state;
  const char *msg = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n"
                    "3\r\nabc\r\n0\r\nX-Checksum: f00d\r\nContent-Length: 3\r\n"
                    "Server-Timing: db;dur=5\r\nIf-Match: \"x\"\r\nConnection: close\r\n"
                    "X-Empty:\r\nProxy-Status: fine\r\n\r\n";
  for (size_t step = 1; step <= strlen(msg); step += step < 8 ? 1 : 13) {
    char buf[256];
    lb_header f[8];
    lb_h1_trailers t = {.buf = buf, .f = f, .cap = sizeof buf, .max = 8};
    assert_int_equal(parse_trailers(msg, step, &t), HPE_PAUSED); /* the message is whole */
    assert_int_equal(t.n, 7);
    nghttp2_nv nva[8];
    size_t k = lb_h2_trailer_fields(t.f, t.n, NULL, 0, nva);
    const char *want[][2] = {{"X-Checksum", "f00d"}, {"Server-Timing", "db;dur=5"},
                             {"X-Empty", ""}};
    assert_int_equal(k, 3);
    assert_fields(nva, want, 3);
  }
  /* Bounded as a head: bytes counted as lines ("name: value\r\n"), then the field count. */
  const char *big = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n"
                    "a: 0123456789\r\nb: 0123456789\r\n\r\n";
  char buf[64];
  lb_header f[2];
  lb_h1_trailers t = {.buf = buf, .f = f, .cap = 32, .max = 2};
  assert_int_equal(parse_trailers(big, 1, &t), HPE_PAUSED); /* 2 x 15 bytes: fits in 32 */
  t = (lb_h1_trailers){.buf = buf, .f = f, .cap = 29, .max = 2};
  assert_int_not_equal(parse_trailers(big, 5, &t), HPE_PAUSED);
  assert_true(t.over);
  t = (lb_h1_trailers){.buf = buf, .f = f, .cap = 64, .max = 1};
  assert_int_not_equal(parse_trailers(big, 64, &t), HPE_PAUSED);
  assert_true(t.over);
  /* A value a head could not carry is refused in a trailer too. */
  t = (lb_h1_trailers){.buf = buf, .f = f, .cap = 64, .max = 2};
  const char *bad = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n"
                    "a: x\x01y\r\n\r\n";
  assert_int_not_equal(parse_trailers(bad, 64, &t), HPE_PAUSED);
  assert_int_equal(lb_trailer_allowed("Trailer", 7), 0);
  assert_int_equal(lb_trailer_allowed("IF-NONE-MATCH", 13), 0);
  assert_int_equal(lb_trailer_allowed("grpc-status", 11), 1);
}

/* Storage lent at the first trailer field only: a chunked body without trailers costs none. */
static char lazy_buf[256];
static lb_header lazy_f[8];
static int lazy_calls;
static int lazy_lend(lb_h1_trailers *t) {
  lazy_calls++;
  t->buf = lazy_buf;
  t->f = lazy_f;
  return 0;
}
static int lazy_refuse(lb_h1_trailers *t) {
  (void)t;
  lazy_calls++;
  return -1;
}

static void response_trailers_lent(void **state) {
  (void)state;
  const char *none = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  const char *two = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
                    "X-A: 1\r\nX-B: 2\r\n\r\n";
  for (size_t step = 1; step <= strlen(two); step += 7) {
    lazy_calls = 0;
    lb_h1_trailers t = {.lend = lazy_lend, .cap = sizeof lazy_buf, .max = 8};
    assert_int_equal(parse_trailers(none, step, &t), HPE_PAUSED);
    assert_int_equal(lazy_calls, 0);
    assert_null(t.buf);
    assert_int_equal(parse_trailers(two, step, &t), HPE_PAUSED);
    assert_int_equal(lazy_calls, 1);
    const char *want[][2] = {{"X-A", "1"}, {"X-B", "2"}};
    nghttp2_nv nva[2];
    assert_int_equal(lb_h2_trailer_fields(t.f, t.n, NULL, 0, nva), 2);
    assert_fields(nva, want, 2);
    /* No storage to be had: the message still ends whole, its trailers not kept. */
    lazy_calls = 0;
    t = (lb_h1_trailers){.lend = lazy_refuse, .cap = sizeof lazy_buf, .max = 8};
    assert_int_equal(parse_trailers(two, step, &t), HPE_PAUSED);
    assert_int_equal(lazy_calls, 1);
    assert_int_equal(t.n, 0);
    assert_false(t.over);
  }
}

/* The fields a response's Connection names are no trailers either (RFC 9110 section 7.6.1). */
static void response_trailers_connection(void **state) {
  (void)state;
  const lb_header h[] = {{"Connection", "keep-alive, X-Hop", 10, 17},
                         {"content-type", "text/plain", 12, 10},
                         {"connection", " close ,x-two", 10, 13}};
  char names[64];
  assert_int_equal(lb_h2_trailer_conn_names(h, 3, NULL, 0), 11);
  assert_int_equal(lb_h2_trailer_conn_names(h, 3, names, sizeof names), 11);
  assert_memory_equal(names, "X-Hop,x-two", 11);
  assert_int_equal(lb_h2_trailer_conn_names(h, 2, NULL, 0), 5);
  assert_int_equal(lb_h2_trailer_conn_names(&h[1], 1, NULL, 0), 0); /* none: nothing kept */
  const lb_header keep_alive_only[] = {{"connection", "keep-alive, close", 10, 17}};
  assert_int_equal(lb_h2_trailer_conn_names(keep_alive_only, 1, NULL, 0), 0);
  const lb_header t[] = {{"x-hop", "1", 5, 1},
                         {"X-Two", "2", 5, 1},
                         {"x-hop2", "3", 6, 1},
                         {"grpc-status", "0", 11, 1}};
  nghttp2_nv nva[4];
  const char *want[][2] = {{"x-hop2", "3"}, {"grpc-status", "0"}};
  assert_int_equal(lb_h2_trailer_fields(t, 4, names, 11, nva), 2);
  assert_fields(nva, want, 2);
  assert_int_equal(lb_token_listed("a, b ,c", 7, "B", 1), 1);
  assert_int_equal(lb_token_listed("a, bb", 5, "b", 1), 0);
  assert_int_equal(lb_token_listed("", 0, "", 0), 0);
}

/* A request's trailer section as the chunked body's last lines: the fields that may be trailers
 * in order, the others and journey-lb's own dropped, all of them counted against the limits. */
static void request_trailers(void **state) {
  (void)state;
  char buf[LB_REQ_TRAILERS_CAP(80, 6)];
  lb_req_trailers t = {
      .buf = buf, .max_bytes = 80, .max_fields = 6, .own = "X-Client-Cert", .own_len = 13};
  assert_int_equal(lb_req_trailer_add(&t, "x-checksum", 10, "abc", 3), 1);
  assert_int_equal(lb_req_trailer_add(&t, "host", 4, "evil", 4), 0);
  assert_int_equal(lb_req_trailer_add(&t, "x-forwarded-for", 15, "6.6.6.6", 7), 0);
  assert_int_equal(lb_req_trailer_add(&t, "x-client-cert", 13, "CN=me", 5), 0);
  assert_int_equal(lb_req_trailer_add(&t, "x-empty", 7, "", 0), 1);
  const char want[] = "x-checksum: abc\r\nx-empty: \r\n";
  assert_int_equal(t.len, sizeof want - 1);
  assert_memory_equal(buf, want, sizeof want - 1);
  assert_int_equal(t.kept, 2);
  assert_int_equal(t.bytes, 10 + 3 + 4 + 4 + 15 + 7 + 13 + 5 + 7);
  /* 68 bytes of names and values so far, 23 more would pass 80: refused, and from then on. */
  assert_int_equal(lb_req_trailer_add(&t, "x-a", 3, "bbbbbbbbbbbbbbbbbbbb", 20), -1);
  assert_true(t.over);
  assert_int_equal(lb_req_trailer_add(&t, "x", 1, "", 0), -1);
  /* The field count (max-headers), kept or not. */
  t = (lb_req_trailers){.buf = buf, .max_bytes = 64, .max_fields = 2};
  assert_int_equal(lb_req_trailer_add(&t, "te", 2, "trailers", 8), 0);
  assert_int_equal(lb_req_trailer_add(&t, "x-a", 3, "1", 1), 1);
  assert_int_equal(lb_req_trailer_add(&t, "x-b", 3, "2", 1), -1);
  /* Exactly at the byte limit: kept, within the buffer's bound. */
  char big[64];
  memset(big, 'v', sizeof big);
  t = (lb_req_trailers){.buf = buf, .max_bytes = 64, .max_fields = 1};
  assert_int_equal(lb_req_trailer_add(&t, "x-big", 5, big, 59), 1);
  assert_int_equal(t.len, 5 + 59 + 4);
  assert_true(t.len <= LB_REQ_TRAILERS_CAP(64, 1));
  assert_true(t.len <= sizeof buf);
}

/* A body sent chunked by the LB: the pieces of each write, the end once, trailers in it. */
static void chunk_out(void **state) {
  (void)state;
  uv_buf_t b[LB_CHUNK_OUT_PIECES];
  char all[256];
  size_t len = 0;
  lb_chunk_out c = {.trailers = "x-sum: 1\r\n", .trailers_len = 10};
  unsigned n = lb_chunk_out_pieces(&c, b, "hello, chunks!!!", 16, 0);
  assert_int_equal(n, 3);
  for (unsigned i = 0; i < n; i++, len += b[i - 1].len)
    memcpy(all + len, b[i].base, b[i].len);
  assert_int_equal(lb_chunk_out_pieces(&c, b, NULL, 0, 0), 0); /* nothing yet: no piece */
  n = lb_chunk_out_pieces(&c, b, "abc", 3, 1);
  assert_int_equal(n, 6);
  assert_true(c.ended);
  for (unsigned i = 0; i < n; i++, len += b[i - 1].len)
    memcpy(all + len, b[i].base, b[i].len);
  const char want[] = "10\r\nhello, chunks!!!\r\n3\r\nabc\r\n0\r\nx-sum: 1\r\n\r\n";
  assert_int_equal(len, sizeof want - 1);
  assert_memory_equal(all, want, len);
  assert_int_equal(lb_chunk_out_pieces(&c, b, NULL, 0, 1), 0); /* the end goes once */
  /* Read back by the strict chunk scanner as exactly one body's end. */
  lb_chunk_scan sc;
  lb_chunk_scan_init(&sc);
  const lb_chunk_limits lim = {LB_CHUNK_LINE_MAX, 64, 4};
  size_t used;
  const char *why;
  assert_int_equal(lb_chunk_scan_feed(&sc, &lim, all, len, &used, &why), 1);
  assert_int_equal(used, len);
  /* No trailers, the end alone. */
  c = (lb_chunk_out){0};
  assert_int_equal(lb_chunk_out_pieces(&c, b, NULL, 0, 1), 2);
  assert_memory_equal(b[0].base, "0\r\n", 3);
  assert_memory_equal(b[1].base, "\r\n", 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chunk_out),
      cmocka_unit_test(response_trailers_connection),
      cmocka_unit_test(request_trailers),
      cmocka_unit_test(request_head),
      cmocka_unit_test(request_length_and_limits),
      cmocka_unit_test(response_fields),
      cmocka_unit_test(response_names_lowercased),
      cmocka_unit_test(preface_and_methods),
      cmocka_unit_test(response_trailers),
      cmocka_unit_test(response_trailers_lent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
