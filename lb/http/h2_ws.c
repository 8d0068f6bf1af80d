/* Extended CONNECT <-> HTTP/1.1 WebSocket upgrade (RFC 8441, RFC 6455): see h2_ws.h. */
#include "lb/http/h2_ws.h"

#include "common/ws_accept.h"

#include <string.h>

/* A key is the LB's to make (a client's would let it choose the accept the LB checks). */
static int dropped(const lb_header *f) {
  return LB_HEADER_IS(f->name, f->name_len, "sec-websocket-key") ||
         LB_HEADER_IS(f->name, f->name_len, "sec-websocket-accept");
}

int lb_h2_ws_request(lb_h2_req *r, lb_h2_head *hd, int ended, uint32_t max_views,
                     const char *key, const char **why, const char **term) {
  if (r->protocol.value_len != 9 || memcmp(r->protocol.value, "websocket", 9) != 0) {
    *why = "only the websocket protocol is offered over extended CONNECT";
    *term = "bad-protocol";
    return 501;
  }
  if (ended || hd->has_length) { /* a tunnel's bytes have no length, nor an end yet */
    *why = "a WebSocket's CONNECT neither ends its stream nor has a content-length";
    *term = "bad-request";
    return 400;
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < hd->nhdrs; i++) {
    if (dropped(&hd->hdrs[i])) {
      hd->len -= hd->hdrs[i].name_len + hd->hdrs[i].value_len + 4;
      continue;
    }
    hd->hdrs[k++] = hd->hdrs[i];
  }
  if (k + 3 > max_views) {
    *why = "request headers larger than max-header-size";
    *term = "header-too-large";
    return 431;
  }
  /* lb_rewrite_request keeps Upgrade and writes its own "Connection: upgrade" for such a head. */
  hd->hdrs[k++] = (lb_header){"upgrade", "websocket", 7, 9};
  hd->hdrs[k++] = (lb_header){"connection", "upgrade", 10, 7};
  hd->hdrs[k++] = (lb_header){"sec-websocket-key", key, 17, JC_WS_KEY_LEN};
  hd->len += 7 + 9 + 4 + 10 + 7 + 4 + 17 + JC_WS_KEY_LEN + 4;
  hd->nhdrs = k;
  hd->len -= r->method.value_len - 3;
  r->method = (lb_header){"", "GET", 0, 3};
  return 0;
}

int lb_h2_ws_response(const lb_response_view *v, const char *key, lb_header *kept,
                      size_t max_kept, lb_response_view *ok) {
  char want[JC_WS_ACCEPT_LEN + 1];
  jc_ws_accept(key, want);
  int proven = 0;
  size_t nk = 0;
  for (size_t i = 0; i < v->nheaders; i++) {
    const lb_header *f = &v->headers[i];
    if (LB_HEADER_IS(f->name, f->name_len, "sec-websocket-accept")) {
      proven = f->value_len == JC_WS_ACCEPT_LEN && !memcmp(f->value, want, JC_WS_ACCEPT_LEN);
      continue; /* meaningless on h2: the client made no key */
    }
    if (nk == max_kept)
      return -1;
    kept[nk++] = *f;
  }
  if (!proven)
    return -4;
  *ok = *v;
  ok->status = 200;
  ok->headers = kept;
  ok->nheaders = nk;
  return 0;
}
