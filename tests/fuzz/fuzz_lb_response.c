/* libFuzzer: journey-lb's response path. Bytes from a backend -> llhttp (HTTP_RESPONSE, the
 * LB's callbacks and header checks, lb/proxy.c) -> the framing decision -> lb_rewrite_response
 * -> the head a client would receive. The first input byte picks the request method (HEAD or
 * not) and the client's HTTP version. Oracles: the head sent to the client re-parses as one
 * response head with the same status, the same body framing (Content-Length value, chunked,
 * or close for an HTTP/1.0 client) and nothing after its end. */
#include "lb/core/request_check.h"
#include "lb/core/rewrite.h"

#include <llhttp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HDRS 100 /* as lb_bconn.hdrs */
#define ROOM_HDRS 128 /* the re-parse: the LB adds a few of its own */

typedef struct resp_ctx {
  lb_header hdrs[ROOM_HDRS];
  uint32_t n, max;
  int hdr_state;
  const char *reason;
  size_t reason_len;
  int head_done;
  int skip_body;
  lb_framing framing;
} resp_ctx;

static int on_begin(llhttp_t *p) {
  resp_ctx *c = p->data;
  c->n = 0;
  c->hdr_state = 0;
  c->reason = NULL;
  c->reason_len = 0;
  return 0;
}
static int on_status(llhttp_t *p, const char *at, size_t n) {
  resp_ctx *c = p->data;
  if (!c->reason)
    c->reason = at;
  c->reason_len = (size_t)(at + n - c->reason);
  return 0;
}
/* The LB's own gathering (lb/rewrite.c), as lb/proxy.c calls it. */
static int on_field(llhttp_t *p, const char *at, size_t n) {
  resp_ctx *c = p->data;
  return lb_headers_on_field(c->hdrs, &c->n, c->max, &c->hdr_state, at, n);
}
static int on_value(llhttp_t *p, const char *at, size_t n) {
  resp_ctx *c = p->data;
  lb_headers_on_value(c->hdrs, c->n, &c->hdr_state, at, n);
  return 0;
}
/* As lb/proxy.c r_on_headers_complete. */
static int on_headers_complete(llhttp_t *p) {
  resp_ctx *c = p->data;
  if (!lb_headers_names_valid(c->hdrs, c->n))
    return HPE_USER;
  for (uint32_t i = 0; i < c->n; i++)
    if (!lb_field_value_valid(c->hdrs[i].value, c->hdrs[i].value_len))
      return HPE_USER;
  if (c->reason && !lb_field_value_valid(c->reason, c->reason_len))
    return HPE_USER;
  c->head_done = 1;
  int st = p->status_code;
  if (st < 200 || st == 204 || st == 304 || c->skip_body ||
      ((p->flags & F_CONTENT_LENGTH) && p->content_length == 0))
    c->framing = LB_FRAME_NONE;
  else if (p->flags & F_CHUNKED)
    c->framing = LB_FRAME_CHUNKED;
  else if (p->flags & F_CONTENT_LENGTH)
    c->framing = LB_FRAME_LENGTH;
  else
    c->framing = LB_FRAME_CLOSE;
  return HPE_PAUSED;
}

static void fail(const char *what, size_t n) {
  fprintf(stderr, "fuzz_lb_response: %s (input %zu bytes)\n", what, n);
  abort();
}

static int parse(const char *buf, size_t len, llhttp_settings_t *s, resp_ctx *c, llhttp_t *p,
                 int skip_body, size_t *end, uint32_t max) {
  memset(c, 0, sizeof *c);
  c->max = max;
  c->skip_body = skip_body;
  llhttp_init(p, HTTP_RESPONSE, s);
  p->data = c;
  enum llhttp_errno e = llhttp_execute(p, buf, len);
  if (e != HPE_PAUSED || !c->head_done)
    return -1;
  *end = (size_t)(llhttp_get_error_pos(p) - buf);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static llhttp_settings_t s;
  static int init;
  if (!init) {
    llhttp_settings_init(&s);
    s.on_message_begin = on_begin;
    s.on_status = on_status;
    s.on_header_field = on_field;
    s.on_header_value = on_value;
    s.on_headers_complete = on_headers_complete;
    init = 1;
  }
  if (size < 1)
    return 0;
  int head = data[0] & 1, client_minor = (data[0] >> 1) & 1;
  data++;
  size--;
  char *buf = malloc(size ? size : 1);
  memcpy(buf, data, size);
  resp_ctx c;
  llhttp_t p;
  size_t end;
  if (parse(buf, size, &s, &c, &p, head, &end, MAX_HDRS) != 0) {
    free(buf);
    return 0;
  }
  lb_framing framing = c.framing;
  if (framing == LB_FRAME_CHUNKED && client_minor == 0)
    framing = LB_FRAME_CLOSE; /* proxy.c decodes chunks for an HTTP/1.0 client */
  lb_response_view v = {p.status_code, p.http_minor, c.reason, c.reason_len, c.hdrs, c.n};
  lb_response_extra x = {framing, client_minor, client_minor, "total;dur=0.1", "b1",
                         "0f8fad5b-d9cb-469f-a165-70867728950e", 36};
  size_t cap = 32 * 1024 + 1024;
  char *out = malloc(cap);
  size_t n = lb_rewrite_response(out, cap, &v, &x);
  if (n) {
    char *fwd = malloc(n);
    memcpy(fwd, out, n);
    resp_ctx c2;
    llhttp_t p2;
    size_t end2;
    if (parse(fwd, n, &s, &c2, &p2, head, &end2, ROOM_HDRS) != 0)
      fail("the head sent to the client does not parse", size);
    if (end2 != n)
      fail("bytes after the head sent to the client", size);
    if (p2.status_code != p.status_code)
      fail("status changed", size);
    int interim = p.status_code < 200;
    if (!interim && !head && c.framing != LB_FRAME_NONE) {
      if (c2.framing != framing)
        fail("body framing changed on the way to the client", size);
      if (framing == LB_FRAME_LENGTH && p2.content_length != p.content_length)
        fail("Content-Length changed on the way", size);
    }
    free(fwd);
  }
  free(out);
  free(buf);
  return 0;
}
