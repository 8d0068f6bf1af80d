/* libFuzzer: journey-lb's request path. Bytes from a client -> llhttp (the LB's settings and
 * callbacks) -> lb_request_check -> lb_rewrite_request -> the head a backend would receive.
 * Oracles (abort on violation): an error maps to 400/501/505 only; a forwarded head re-parses
 * with llhttp as one request head with the same method, target and body framing, and passes
 * lb_request_check itself (what we send, we would accept), with nothing after its end; a chunked
 * body is forwarded the same however it is split, one strict chunked body whose trailer section
 * keeps no field that must not be forwarded (lb/http/trailers.c). */
#include "lb/core/framing.h"
#include "lb/core/request_check.h"
#include "lb/core/rewrite.h"
#include "lb/core/chunk_check.h"
#include "lb/http/h1.h"
#include "lb/http/trailers.h"

#include <llhttp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HDRS 100   /* journey-lb's default max-headers */
#define ROOM_HDRS 128  /* the re-parse: the LB adds forwarding headers of its own */

/* The LB's own request parsing: lb/http/h1.c's callbacks, linked (not copied). */
typedef struct req_ctx {
  lb_h1_req r;
  lb_header hdrs[ROOM_HDRS];
} req_ctx;

static void fail(const char *what, const uint8_t *d, size_t n) {
  fprintf(stderr, "fuzz_lb_request: %s (input %zu bytes)\n", what, n);
  abort();
}

/* Parses a head; returns the framing or -1 when llhttp refuses it. */
static int parse_head(const char *buf, size_t len, req_ctx *c, llhttp_t *p, size_t *head_end,
                      uint32_t max) {
  memset(c, 0, sizeof *c);
  c->r.hdrs = c->hdrs;
  c->r.max_hdrs = max;
  lb_h1_req_parser_init(p, &c->r);
  enum llhttp_errno e = lb_h1_req_execute_head(p, &c->r, buf, buf, len);
  if (e != HPE_PAUSED || !c->r.head_done)
    return -(int)e - 1000;
  *head_end = (size_t)(llhttp_get_error_pos(p) - buf);
  return lb_request_framing((p->flags & F_CHUNKED) != 0, (p->flags & F_CONTENT_LENGTH) != 0,
                            p->content_length);
}

/* A trailer section's storage, as the client connection lends it (lb/proxy/client_conn.c). */
static char trl_buf[LB_REQ_TRAILERS_CAP(8192, MAX_HDRS)];
static int trl_lend(lb_h1_req *r) {
  r->trl = (lb_req_trailers){.buf = trl_buf, .max_bytes = r->max_head, .max_fields = r->max_hdrs,
                             .own = "X-Client-Cert", .own_len = 13};
  return 0;
}

/* One body verdict: fed whole, then split at `cut`; *fwd gets what a backend would receive (the
 * bytes of each read up to its trailer bytes raw, then the kept trailer lines and a blank line:
 * n + 2 bytes a field of room at most, "a:b" becoming "a: b"), *fwd_len its length. */
static enum llhttp_errno body_run(const char *b, size_t n, size_t cut, const req_ctx *head,
                                  const llhttp_t *hp, size_t *end, char *fwd, size_t *fwd_len) {
  req_ctx c = *head;
  llhttp_t p = *hp;
  p.data = &c.r;
  c.r.hdrs = c.hdrs;
  c.r.max_body = 1 << 20;
  c.r.max_head = 8192;
  c.r.trl_lend = trl_lend;
  c.r.trl.buf = NULL;
  llhttp_resume(&p);
  enum llhttp_errno e = HPE_OK;
  size_t off = 0;
  *fwd_len = 0;
  for (size_t part = cut ? cut : n; off < n; part = n - off) {
    e = lb_h1_req_execute_body(&p, &c.r, b + off, part);
    if (e != HPE_OK && e != HPE_PAUSED)
      break;
    const char *stop = c.r.trailers_at ? c.r.trailers_at
                                       : e == HPE_PAUSED ? llhttp_get_error_pos(&p) : b + off + part;
    memcpy(fwd + *fwd_len, b + off, (size_t)(stop - (b + off)));
    *fwd_len += (size_t)(stop - (b + off));
    c.r.trailers_at = NULL;
    if (e != HPE_OK)
      break;
    off += part;
  }
  if (e == HPE_PAUSED) {
    if (c.r.trl.buf) {
      memcpy(fwd + *fwd_len, c.r.trl.buf, c.r.trl.len);
      *fwd_len += c.r.trl.len;
    }
    memcpy(fwd + *fwd_len, "\r\n", 2);
    *fwd_len += 2;
  }
  *end = e == HPE_PAUSED ? (size_t)(llhttp_get_error_pos(&p) - b) : 0;
  return e == HPE_OK || e == HPE_PAUSED ? e : HPE_USER;
}

/* A forwarded chunked body: strict (the scanner ends it at its last byte) and without a trailer
 * field that must not be forwarded (the filter's own rule, lb/http/trailers.c). */
static void check_forwarded_body(const char *f, size_t n, const uint8_t *d, size_t size) {
  lb_chunk_scan s;
  lb_chunk_scan_init(&s);
  const lb_chunk_limits lim = {LB_CHUNK_LINE_MAX, 1 << 20, 1 << 20};
  size_t used;
  const char *why;
  if (lb_chunk_scan_feed(&s, &lim, f, n, &used, &why) != 1 || used != n)
    fail("a forwarded chunked body is not one strict chunked body", d, size);
  for (const char *l = f + s.trailers_at; l < f + n - 2;) {
    const char *colon = memchr(l, ':', (size_t)(f + n - l));
    const char *eol = memchr(l, '\n', (size_t)(f + n - l));
    if (!colon || !eol || !lb_trailer_allowed(l, (size_t)(colon - l)) ||
        LB_HEADER_IS(l, (size_t)(colon - l), "x-forwarded-for") ||
        LB_HEADER_IS(l, (size_t)(colon - l), "x-client-cert"))
      fail("a trailer field that must not be forwarded was kept", d, size);
    l = eol + 1;
  }
}

/* A chunked body (the strict check next to llhttp): the verdict, the message's end and what is
 * forwarded do not depend on how the bytes are split between reads. */
static void check_body(const char *b, size_t n, const req_ctx *c, const llhttp_t *p,
                       const uint8_t *d, size_t size) {
  if (!(p->flags & F_CHUNKED) || !n)
    return;
  size_t end1, end2, len1, len2, room = n + 2 * MAX_HDRS + 2;
  char *f1 = malloc(room), *f2 = malloc(room);
  enum llhttp_errno e1 = body_run(b, n, 0, c, p, &end1, f1, &len1);
  enum llhttp_errno e2 = body_run(b, n, 1 + (size_t)d[0] % n, c, p, &end2, f2, &len2);
  if (e1 != e2 || end1 != end2)
    fail("a chunked body's verdict depends on how it is split", d, size);
  if (e1 == HPE_PAUSED && (len1 != len2 || memcmp(f1, f2, len1) != 0))
    fail("a forwarded chunked body depends on how it is split", d, size);
  if (e1 == HPE_PAUSED)
    check_forwarded_body(f1, len1, d, size);
  free(f1);
  free(f2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1); /* exact size: ASan sees any read past the input */
  memcpy(buf, data, size);
  req_ctx c;
  llhttp_t p;
  size_t head_end = 0;
  int framing = parse_head(buf, size, &c, &p, &head_end, MAX_HDRS);
  if (framing < 0) {
    const char *why;
    int st = lb_request_error_status(buf, size, -(framing + 1000), &why);
    if (st != 400 && st != 501 && st != 505)
      fail("parse error mapped to an unexpected status", data, size);
    free(buf);
    return 0;
  }
  lb_request_head rh = {buf, head_end, c.r.url, c.r.url_len, p.http_major, p.http_minor,
                        p.method == HTTP_OPTIONS, c.hdrs, c.r.nhdrs, 0};
  const char *why;
  int st = lb_request_check(&rh, &why);
  if (st) {
    if ((st != 400 && st != 501 && st != 505) || !why)
      fail("check: unexpected status or no reason", data, size);
    free(buf);
    return 0;
  }
  if (p.method == HTTP_CONNECT) { /* answered 501 by the LB before the check */
    free(buf);
    return 0;
  }
  lb_forward_info fi = {"192.0.2.7", "https", "0f8fad5b-d9cb-469f-a165-70867728950e", 36,
                        "journey-lb", 0, NULL, 0, NULL, 0};
  check_body(buf + head_end, size - head_end, &c, &p, data, size);
  const char *method = c.r.other_method ? c.r.method : llhttp_method_name((llhttp_method_t)p.method);
  size_t method_len = c.r.other_method ? c.r.method_len : strlen(method);
  lb_request_view v = {method, method_len, c.r.url, c.r.url_len, p.http_minor, c.hdrs, c.r.nhdrs,
                       (lb_framing)framing, NULL, 0};
  size_t cap = 16 * 1024 + 1024;
  char *out = malloc(cap);
  size_t n = lb_rewrite_request(out, cap, &v, &fi);
  if (n) {
    char *fwd = malloc(n); /* exact size again */
    memcpy(fwd, out, n);
    req_ctx c2;
    llhttp_t p2;
    size_t end2 = 0;
    int framing2 = parse_head(fwd, n, &c2, &p2, &end2, ROOM_HDRS);
    if (framing2 < 0)
      fail("the forwarded head does not parse", data, size);
    if (end2 != n)
      fail("bytes after the forwarded head", data, size);
    if (framing2 != framing)
      fail("body framing changed on the way to the backend", data, size);
    if (framing == LB_FRAME_LENGTH && p2.content_length != p.content_length)
      fail("Content-Length changed on the way", data, size);
    if (p2.method != p.method || c2.r.other_method != c.r.other_method ||
        (c.r.other_method && (c2.r.method_len != c.r.method_len ||
                              memcmp(c2.r.method, c.r.method, c.r.method_len))) ||
        c2.r.url_len != c.r.url_len || memcmp(c2.r.url, c.r.url, c.r.url_len))
      fail("method or target changed on the way", data, size);
    lb_request_head rh2 = {fwd, n, c2.r.url, c2.r.url_len, p2.http_major, p2.http_minor,
                           p2.method == HTTP_OPTIONS, c2.hdrs, c2.r.nhdrs, 0};
    const char *why2;
    int st2 = lb_request_check(&rh2, &why2);
    if (st2)
      fail(why2 ? why2 : "forwarded head refused by our own check", data, size);
    free(fwd);
  }
  free(out);
  free(buf);
  return 0;
}
