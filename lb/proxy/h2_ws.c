/* WebSockets over HTTP/2 (RFC 8441) on a stream: the extended CONNECT becomes the HTTP/1.1
 * upgrade request with a key made here (lb/http/h2_ws.c converts), and the backend's 101, its
 * accept checked against that key, the stream's 200. The bytes that follow are the exchange's
 * tunnel, relayed through the stream's ops (h2_stream.c) as DATA. */
#include "lb/proxy/h2_stream.h"
#include "lb/http/h2_ws.h"

#include "common/log.h"

int lb_h2_ws_begin(h2_stream *st, lb_h2_head *hd, uint32_t max_views, const char **why,
                   const char **term) {
  const lb_h2_req *r = &st->req;
  st->ex.method = HTTP_CONNECT; /* for the log of a refusal */
  if (jc_ws_key(st->ws_key) != 0) {
    *why = "out of random bytes for a WebSocket key";
    *term = "internal-error";
    return 500;
  }
  int status = lb_h2_ws_request(&st->req, hd, st->body_eof, max_views, st->ws_key, why, term);
  if (status == 501)
    jc_log(JC_LOG_INFO, "h2 stream %d from %s: extended CONNECT for protocol '%.*s': 501",
           st->id, st->h->c->peer, (int)(r->protocol.value_len > 40 ? 40 : r->protocol.value_len),
           r->protocol.value);
  st->ws = st->ex.h2_connect = !status;
  return status;
}

int lb_h2_ws_fields(h2_stream *st, const lb_response_view *v, const lb_response_extra *x,
                    nghttp2_nv *nva, size_t max, char *scratch, size_t cap) {
  lb_header kept[64];
  lb_response_view ok;
  int r = lb_h2_ws_response(v, st->ws_key, kept, sizeof kept / sizeof kept[0], &ok);
  if (r != 0)
    return r;
  /* Sec-WebSocket-Protocol and -Extensions (the subprotocol and extensions chosen) go back;
   * Upgrade and Connection are this hop's and stay out. */
  int n = lb_h2_resp_fields(&ok, x, 0, nva, max, scratch, cap);
  /* Copied by nghttp2 at once: the scratch (the stream's head block) is given back once the
   * tunnel runs (h2_stream.c), maybe before this HEADERS frame is written. */
  for (int i = 0; i < n; i++)
    nva[i].flags &= (uint8_t)~(NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE);
  return n;
}
