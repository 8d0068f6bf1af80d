/* libFuzzer: journey-lb's request path. Bytes from a client -> llhttp (the LB's settings and
 * callbacks) -> lb_request_check -> lb_rewrite_request -> the head a backend would receive.
 * Oracles (abort on violation): an error maps to 400/501/505 only; a forwarded head re-parses
 * with llhttp as one request head with the same method, target and body framing, and passes
 * lb_request_check itself (what we send, we would accept), with nothing after its end. */
#include "lb/core/framing.h"
#include "lb/core/request_check.h"
#include "lb/core/rewrite.h"
#include "lb/http/h1.h"

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

/* One body verdict: fed whole, then split at `cut`. */
static enum llhttp_errno body_run(const char *b, size_t n, size_t cut, const req_ctx *head,
                                  const llhttp_t *hp, size_t *end) {
  req_ctx c = *head;
  llhttp_t p = *hp;
  p.data = &c.r;
  c.r.hdrs = c.hdrs;
  c.r.max_body = 1 << 20;
  c.r.max_head = 8192;
  llhttp_resume(&p);
  enum llhttp_errno e = HPE_OK;
  size_t off = 0;
  for (size_t part = cut ? cut : n; off < n; part = n - off) {
    e = lb_h1_req_execute_body(&p, &c.r, b + off, part);
    if (e != HPE_OK)
      break;
    off += part;
  }
  *end = e == HPE_PAUSED ? (size_t)(llhttp_get_error_pos(&p) - b) : 0;
  return e == HPE_OK || e == HPE_PAUSED ? e : HPE_USER;
}

/* A chunked body (the strict check next to llhttp): the verdict and the message's end do not
 * depend on how the bytes are split between reads. */
static void check_body(const char *b, size_t n, const req_ctx *c, const llhttp_t *p,
                       const uint8_t *d, size_t size) {
  if (!(p->flags & F_CHUNKED) || !n)
    return;
  size_t end1, end2;
  enum llhttp_errno e1 = body_run(b, n, 0, c, p, &end1);
  enum llhttp_errno e2 = body_run(b, n, 1 + (size_t)d[0] % n, c, p, &end2);
  if (e1 != e2 || end1 != end2)
    fail("a chunked body's verdict depends on how it is split", d, size);
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
