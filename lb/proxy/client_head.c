/* What a complete request head gives the exchange (client_head.h). */
#include "lb/proxy/client_head.h"
#include "lb/core/framing.h"
#include "lb/core/request_check.h"

#include <string.h>

int lb_client_head_read(lb_client *c) {
  const lb_runtime *rt = c->ex.w->rt;
  llhttp_t *p = &c->rx->parser;
  c->ex.method = c->h1.other_method ? LB_METHOD_OTHER : p->method;
  if (c->h1.other_method)
    lb_exchange_method_keep(&c->ex, c->h1.method, c->h1.method_len);
  c->ex.http_minor = p->http_minor;
  c->ex.keep_alive = llhttp_should_keep_alive(p);
  size_t ul = c->h1.url_len < LB_PATH_LOG_MAX - 1 ? c->h1.url_len : LB_PATH_LOG_MAX - 1;
  char *path = c->ex.head - LB_REQ_PREFIX; /* the lent block's first bytes */
  memcpy(path, c->h1.url ? c->h1.url : "", ul);
  path[ul] = 0;
  c->ex.bytes_in = c->parse_off - c->req_off;

  c->ex.req_framing = lb_request_framing((p->flags & F_CHUNKED) != 0,
                                      (p->flags & F_CONTENT_LENGTH) != 0, p->content_length);
  if (c->ex.req_framing == LB_FRAME_NONE) {
    c->h1.msg_done = 1; /* nothing more belongs to this request */
  } else if (c->ex.req_framing == LB_FRAME_CHUNKED) {
    /* Relayed raw up to its last-chunk line; the exchange ends it with the trailer section
     * lb/http/h1.c filtered (parse_body sets chunks.trailers) and the blank line. */
    c->ex.chunk_body = 1;
    c->ex.chunks = (lb_chunk_out){.raw = 1};
  }

  const lb_header *host = NULL;
  for (uint32_t i = 0; i < c->h1.nhdrs; i++) {
    const lb_header *h = &c->h1.hdrs[i];
    if (rt->cfg.request_id && !c->ex.reqid_len && LB_HEADER_IS(h->name, h->name_len, "x-request-id") &&
        lb_request_id_valid(h->value, h->value_len)) {
      memcpy(c->ex.reqid, h->value, h->value_len);
      c->ex.reqid_len = h->value_len;
      c->ex.reqid[c->ex.reqid_len] = 0;
    } else if (LB_HEADER_IS(h->name, h->name_len, "host")) {
      host = h;
    }
  }
  c->ex.reqid_due = !c->ex.reqid_len;
  if (rt->cfg.request_id)
    lb_exchange_request_id(&c->ex); /* on the forwarded request and the response */
  return host != NULL;
}

void lb_client_head_decide(lb_client *c, int has_host, lb_request_verdict *v) {
  const lb_runtime *rt = c->ex.w->rt;
  const llhttp_t *p = &c->rx->parser;
  lb_forward_info fi = {
      .client_ip = c->peer + c->peer_ip_off,
      .client_ip_len = c->peer_ip_len,
      .proto = c->s.tls_on ? "https" : "http",
      .request_id = rt->cfg.request_id ? c->ex.reqid : NULL,
      .request_id_len = c->ex.reqid_len,
      .via = "journey-lb",
      .cert_header = rt->cfg.tls.cert_header,
      .cert_header_len = rt->cfg.tls.cert_header_len,
  };
  char subject[512];
  /* The subject goes only in the cert header; a client-ca added by a reload counts too: the
   * TLS context decides. */
  if (c->s.tls_on && fi.cert_header) {
    fi.cert_subject = subject;
    fi.cert_subject_len = lb_tls_peer_subject(c->s.tls.ssl, subject, sizeof subject);
  }
  lb_request_in in = {
      .head = {.raw = c->in + c->req_off,
               .raw_len = c->parse_off - c->req_off,
               .target = c->h1.url,
               .target_len = c->h1.url_len,
               .http_major = p->http_major,
               .http_minor = p->http_minor,
               .is_options = c->ex.method == HTTP_OPTIONS,
               .headers = c->h1.hdrs,
               .nheaders = c->h1.nhdrs,
               .names_checked = 1 /* on_headers_complete */},
      .method = lb_exchange_method_name(&c->ex),
      .is_connect = c->ex.method == HTTP_CONNECT,
      .has_host = has_host,
      .framing = c->ex.req_framing,
      .content_length = p->content_length,
      .fwd = &fi,
  };
  in.method_len = lb_exchange_method_len(&c->ex);
  lb_request_decide(&in, &rt->cfg, c->ex.head, LB_HEAD_CAP(&c->ex.w->rt->cfg), v);
}

void lb_client_head_key(lb_client *c, const lb_request_verdict *v) {
  const lb_runtime *rt = c->ex.w->rt;
  const lb_pool *pool = &rt->pools[c->ex.pool];
  if (pool->ops->keyed) { /* the balancing key: views into the request, nothing copied */
    lb_key_source src = {.client_ip = c->peer + c->peer_ip_off,
                         .client_ip_len = c->peer_ip_len,
                         .target = v->path, /* normalised: the key routes saw */
                         .target_len = v->path_len,
                         .headers = c->h1.hdrs,
                         .nheaders = c->h1.nhdrs};
    c->rx->pick.has_key = lb_pool_key(pool, &src, &c->rx->pick.key) != NULL;
  }
}
