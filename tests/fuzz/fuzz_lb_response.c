/* libFuzzer: journey-lb's response path. Bytes from a backend -> llhttp (HTTP_RESPONSE, the
 * LB's callbacks and header checks, lb/http/h1.c) -> the framing decision -> lb_rewrite_response
 * -> the head a client would receive. The first input byte picks the request method (HEAD or
 * not) and the client's HTTP version. Oracles: the head sent to the client re-parses as one
 * response head with the same status, the same body framing (Content-Length value, chunked,
 * or close for an HTTP/1.0 client) and nothing after its end; a kept-alive response is framed;
 * no Content-Length on a 1xx or 204. */
#include "lb/core/framing.h"
#include "lb/core/request_check.h"
#include "lb/core/rewrite.h"
#include "lb/http/h1.h"

#include <llhttp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HDRS 100 /* as LB_BCONN_HDRS (lb/proxy/backend_pool.h) */
#define ROOM_HDRS 128 /* the re-parse: the LB adds a few of its own */

/* The LB's own response parsing: lb/http/h1.c's callbacks, linked (not copied). */
typedef struct resp_ctx {
  lb_h1_resp r;
  lb_header hdrs[ROOM_HDRS];
} resp_ctx;

static void fail(const char *what, size_t n) {
  fprintf(stderr, "fuzz_lb_response: %s (input %zu bytes)\n", what, n);
  abort();
}

static int parse(const char *buf, size_t len, resp_ctx *c, llhttp_t *p, int skip_body,
                 size_t *end, uint32_t max) {
  memset(c, 0, sizeof *c);
  c->r.hdrs = c->hdrs;
  c->r.max_hdrs = max;
  lb_h1_resp_parser_init(p, &c->r, skip_body);
  enum llhttp_errno e = llhttp_execute(p, buf, len);
  if (e != HPE_PAUSED || !c->r.head_ready)
    return -1;
  *end = (size_t)(llhttp_get_error_pos(p) - buf);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
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
  if (parse(buf, size, &c, &p, head, &end, MAX_HDRS) != 0) {
    free(buf);
    return 0;
  }
  /* The relay plan the exchange uses (an HTTP/1.0 client gets chunks decoded, close-delimited;
   * a coding other than chunked is refused with 502). */
  lb_response_facts f = {c.r.framing, p.status_code, head, (p.flags & F_CHUNKED) != 0,
                         c.r.te_other, client_minor, 1};
  lb_relay_plan plan = lb_response_plan(&f);
  if (plan.refuse) {
    free(buf);
    return 0;
  }
  lb_framing framing = plan.client;
  lb_response_view v = {p.status_code, p.http_minor, c.r.reason, c.r.reason_len, c.hdrs,
                        c.r.nhdrs};
  lb_response_extra x = {.framing = framing,
                         .keep_alive = plan.keep_alive,
                         .client_http_minor = client_minor,
                         .server_timing = "total;dur=0.1",
                         .served_by = "b1",
                         .request_id = "0f8fad5b-d9cb-469f-a165-70867728950e",
                         .request_id_len = 36,
                         .drop_length = plan.drop_length,
                         .dechunked = plan.dechunk};
  size_t cap = 32 * 1024 + 1024;
  char *out = malloc(cap);
  size_t n = lb_rewrite_response(out, cap, &v, &x);
  if (n) {
    char *fwd = malloc(n);
    memcpy(fwd, out, n);
    resp_ctx c2;
    llhttp_t p2;
    size_t end2;
    if (parse(fwd, n, &c2, &p2, head, &end2, ROOM_HDRS) != 0)
      fail("the head sent to the client does not parse", size);
    if (end2 != n)
      fail("bytes after the head sent to the client", size);
    if (p2.status_code != p.status_code)
      fail("status changed", size);
    int interim = p.status_code < 200;
    if (!interim && !head && c.r.framing != LB_FRAME_NONE) {
      if (c2.r.framing != framing)
        fail("body framing changed on the way to the client", size);
      if (framing == LB_FRAME_LENGTH && p2.content_length != p.content_length)
        fail("Content-Length changed on the way", size);
      /* a client kept alive always knows where the body ends (Connection naming a framing
       * header changes nothing) */
      if (plan.keep_alive && c2.r.framing == LB_FRAME_CLOSE)
        fail("a kept-alive response without a length or chunks", size);
    }
    if ((interim || p.status_code == 204) && (p2.flags & F_CONTENT_LENGTH))
      fail("Content-Length on a 1xx or 204", size);
    free(fwd);
  }
  free(out);
  free(buf);
  return 0;
}
