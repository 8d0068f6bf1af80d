/* Test helper: a request head parsed by journey-lb's own HTTP/1 codec (lb/http/h1.c), as the
 * client connection does it. Header-only; the tests link journey_lb_http. */
#ifndef JOURNEY_TEST_H1_HEAD_H
#define JOURNEY_TEST_H1_HEAD_H

#include "lb/http/h1.h"

#include <string.h>

typedef struct h1_head {
  lb_h1_req r;
  lb_header h[100];
  llhttp_t p;
  size_t end; /* the head's length when parsed whole */
} h1_head;

/* A chunked body's trailer section: storage for it, as the client connection lends it
 * (limits: max-header-size as the test set it, else 64 KiB; max-headers). */
static char h1_head_trailers[LB_REQ_TRAILERS_CAP(1 << 16, 100)];
static inline int h1_head_trailers_lend(lb_h1_req *r) {
  r->trl = (lb_req_trailers){.buf = h1_head_trailers,
                             .max_bytes = r->max_head ? r->max_head : 1 << 16,
                             .max_fields = r->max_hdrs,
                             .own = "X-Client-Cert",
                             .own_len = 13};
  return 0;
}

/* HPE_PAUSED when the head is whole (x->end set), else llhttp's error. */
static inline enum llhttp_errno h1_parse_head(h1_head *x, const char *raw, size_t len) {
  memset(x, 0, sizeof *x);
  x->r.hdrs = x->h;
  x->r.max_hdrs = 100;
  x->r.trl_lend = h1_head_trailers_lend;
  lb_h1_req_parser_init(&x->p, &x->r);
  enum llhttp_errno e = llhttp_execute(&x->p, raw, len);
  if (e == HPE_PAUSED && x->r.head_done)
    x->end = (size_t)(llhttp_get_error_pos(&x->p) - raw);
  else if (e == HPE_PAUSED)
    e = HPE_INVALID_EOF_STATE;
  return e;
}

#endif
