/* libFuzzer: journey-lb's request path. Bytes from a client -> llhttp (the LB's settings and
 * callbacks) -> lb_request_check -> lb_rewrite_request -> the head a backend would receive.
 * Oracles (abort on violation): an error maps to 400/501/505 only; a forwarded head re-parses
 * with llhttp as one request head with the same method, target and body framing, and passes
 * lb_request_check itself (what we send, we would accept), with nothing after its end. */
#include "lb/core/request_check.h"
#include "lb/core/rewrite.h"

#include <llhttp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HDRS 100   /* journey-lb's default max-headers */
#define ROOM_HDRS 128  /* the re-parse: the LB adds forwarding headers of its own */

typedef struct req_ctx {
  lb_header hdrs[ROOM_HDRS];
  uint32_t n, max;
  int hdr_state;
  const char *url;
  size_t url_len;
  int head_done;
} req_ctx;

static int on_begin(llhttp_t *p) {
  req_ctx *c = p->data;
  c->n = 0;
  c->hdr_state = 0;
  c->url = NULL;
  c->url_len = 0;
  return 0;
}
static int on_url(llhttp_t *p, const char *at, size_t n) {
  req_ctx *c = p->data;
  if (!c->url)
    c->url = at;
  c->url_len = (size_t)(at + n - c->url);
  return 0;
}
/* The LB's own gathering (lb/rewrite.c), as lb/client_conn.c calls it. */
static int on_field(llhttp_t *p, const char *at, size_t n) {
  req_ctx *c = p->data;
  if (c->head_done)
    return lb_token_valid(at, n) ? 0 : -1;
  return lb_headers_on_field(c->hdrs, &c->n, c->max, &c->hdr_state, at, n);
}
static int on_value(llhttp_t *p, const char *at, size_t n) {
  req_ctx *c = p->data;
  if (c->head_done)
    return lb_field_value_valid(at, n) ? 0 : -1;
  lb_headers_on_value(c->hdrs, c->n, &c->hdr_state, at, n);
  return 0;
}
static int on_headers_complete(llhttp_t *p) {
  req_ctx *c = p->data;
  if (!lb_headers_names_valid(c->hdrs, c->n))
    return HPE_USER;
  c->head_done = 1;
  return HPE_PAUSED;
}

static void fail(const char *what, const uint8_t *d, size_t n) {
  fprintf(stderr, "fuzz_lb_request: %s (input %zu bytes)\n", what, n);
  abort();
}

/* Parses a head; returns the framing or -1 when llhttp refuses it. */
static int parse_head(const char *buf, size_t len, llhttp_settings_t *s, req_ctx *c, llhttp_t *p,
                      size_t *head_end, uint32_t max) {
  memset(c, 0, sizeof *c);
  c->max = max;
  llhttp_init(p, HTTP_REQUEST, s);
  p->data = c;
  enum llhttp_errno e = llhttp_execute(p, buf, len);
  if (e != HPE_PAUSED || !c->head_done)
    return -(int)e - 1000;
  *head_end = (size_t)(llhttp_get_error_pos(p) - buf);
  if (p->flags & F_CHUNKED)
    return LB_FRAME_CHUNKED;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0)
    return LB_FRAME_LENGTH;
  return LB_FRAME_NONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static llhttp_settings_t s;
  static int init;
  if (!init) {
    llhttp_settings_init(&s);
    s.on_message_begin = on_begin;
    s.on_url = on_url;
    s.on_header_field = on_field;
    s.on_header_value = on_value;
    s.on_headers_complete = on_headers_complete;
    init = 1;
  }
  char *buf = malloc(size ? size : 1); /* exact size: ASan sees any read past the input */
  memcpy(buf, data, size);
  req_ctx c;
  llhttp_t p;
  size_t head_end = 0;
  int framing = parse_head(buf, size, &s, &c, &p, &head_end, MAX_HDRS);
  if (framing < 0) {
    const char *why;
    int st = lb_request_error_status(buf, size, -(framing + 1000), &why);
    if (st != 400 && st != 501 && st != 505)
      fail("parse error mapped to an unexpected status", data, size);
    free(buf);
    return 0;
  }
  lb_request_head rh = {buf, head_end, c.url, c.url_len, p.http_major, p.http_minor,
                        p.method == HTTP_OPTIONS, c.hdrs, c.n, 0};
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
                        "journey-lb", 0};
  const char *method = llhttp_method_name((llhttp_method_t)p.method);
  lb_request_view v = {method, strlen(method), c.url, c.url_len, p.http_minor, c.hdrs, c.n,
                       (lb_framing)framing};
  size_t cap = 16 * 1024 + 1024;
  char *out = malloc(cap);
  size_t n = lb_rewrite_request(out, cap, &v, &fi);
  if (n) {
    char *fwd = malloc(n); /* exact size again */
    memcpy(fwd, out, n);
    req_ctx c2;
    llhttp_t p2;
    size_t end2 = 0;
    int framing2 = parse_head(fwd, n, &s, &c2, &p2, &end2, ROOM_HDRS);
    if (framing2 < 0)
      fail("the forwarded head does not parse", data, size);
    if (end2 != n)
      fail("bytes after the forwarded head", data, size);
    if (framing2 != framing)
      fail("body framing changed on the way to the backend", data, size);
    if (framing == LB_FRAME_LENGTH && p2.content_length != p.content_length)
      fail("Content-Length changed on the way", data, size);
    if (p2.method != p.method || c2.url_len != c.url_len || memcmp(c2.url, c.url, c.url_len))
      fail("method or target changed on the way", data, size);
    lb_request_head rh2 = {fwd, n, c2.url, c2.url_len, p2.http_major, p2.http_minor,
                           p2.method == HTTP_OPTIONS, c2.hdrs, c2.n, 0};
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
