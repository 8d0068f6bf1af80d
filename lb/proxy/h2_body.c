/* An HTTP/2 request's body without content-length and its trailer section (see h2_stream.h):
 * counted against max-body-size (413, its exchange cancelled), the trailer fields kept for the
 * chunked body's end or refused over the limits (431); answers before the request went out.
 * Forwarding itself is the exchange's (chunk_body) and the stream's buffer (h2_stream.c). */
#include "lb/proxy/h2_stream.h"

#include "common/log.h"


/* An answer before the request went out (its method, not parsed yet, for the log line). */
void lb_h2_local_early(h2_stream *st, int status, const char *body, const char *term) {
  if (!st->dispatched) {
    int m = lb_h2_method(st->req.method.value, st->req.method.value_len);
    if (m >= 0)
      st->ex.method = m;
  }
  lb_h2_local(st, status, body, term);
}

int lb_h2_request_trailer(h2_stream *st, const uint8_t *name, size_t nl, const uint8_t *value,
                          size_t vl) {
  lb_req_trailers *t = &st->rtrl;
  const lb_config *cfg = &st->ex.w->rt->cfg;
  if (!t->buf && lb_req_trailers_start(t, cfg->max_header_size, cfg->max_headers,
                                       cfg->tls.cert_header, cfg->tls.cert_header_len) != 0)
    return -1; /* few requests have trailers: their room only when one comes */
  lb_req_trailer_add(t, (const char *)name, nl, (const char *)value, vl);
  return 0;
}

int lb_h2_request_trailers_end(h2_stream *st) {
  if (!st->rtrl.over) {
    if (st->rtrl.kept && st->ex.chunk_body) { /* streaming already: they end its body */
      st->ex.chunks.trailers = st->rtrl.buf;
      st->ex.chunks.trailers_len = (uint32_t)st->rtrl.len;
    }
    return 0; /* with a content-length there is no trailer section to carry them: dropped */
  }
  lb_h2_count(st->h, LB_H2_HEADERS_LARGE);
  jc_log(JC_LOG_INFO,
         "h2 stream %d from %s: request trailer section over max-header-size/"
         "max-headers: 431",
         st->id, st->h->c->peer);
  lb_h2_local_early(st, 431, "request trailer section larger than max-header-size",
                    "header-too-large");
  return -1;
}

void lb_h2_body_too_large(h2_stream *st) {
  jc_log(JC_LOG_INFO, "h2 stream %d from %s: request body over max-body-size (%llu bytes): 413",
         st->id, st->h->c->peer, (unsigned long long)st->ex.w->rt->cfg.max_body_size);
  lb_h2_local_early(st, 413, "request body larger than max-body-size", "body-too-large");
}
