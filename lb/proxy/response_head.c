/* The response head for the client (lb_response_head, declared in exchange.h). */
#include "lb/proxy/exchange.h"
#include "lb/proxy/backend_pool.h"
#include "lb/proxy/passive.h"
#include "lb/proxy/runtime.h"
#include "lb/core/framing.h"
#include "lb/core/timing.h"

#include <stdio.h>

int lb_response_head(lb_bconn *b, lb_exchange *ex, uint64_t now, uv_buf_t *out) {
  lb_runtime *rt = ex->w->rt;
  int status = b->parser.status_code;
  int interim = status < 200;
  lb_response_view v = {
      .status = status,
      .http_minor = b->parser.http_minor,
      .reason = b->h1.reason,
      .reason_len = b->h1.reason_len,
      .headers = b->h1.hdrs,
      .nheaders = b->h1.nhdrs,
  };
  lb_response_extra x = {.framing = b->h1.framing, .client_http_minor = ex->http_minor};
  const char *body;
  int complete;
  ex->ops->pending(ex, &body, &complete);
  char st[256];
  lb_response_facts f = {
      .backend = b->h1.framing,
      .status = status,
      .is_head = b->h1.skip_body,
      .backend_chunked = (b->parser.flags & F_CHUNKED) != 0,
      .te_other = b->h1.te_other,
      .client_minor = ex->http_minor,
      .reusable_client = ex->keep_alive && complete && !rt->stopping,
  };
  lb_relay_plan plan = lb_response_plan(&f);
  if (plan.refuse)
    return -2;
  if (status == 101 && !lb_forwarded_upgrade(ex->head, ex->head_len))
    return -3; /* a tunnel nobody asked for */
  if (!interim) {
    ex->t.resp_hdr = now;
    ex->status = status;
    if (status >= 500)
      atomic_fetch_add_explicit(&b->server->responses_5xx, 1, memory_order_relaxed);
    lb_passive_response(rt, ex->pool, b->server, status);
    if (plan.dechunk) {
      x.dechunked = 1;
      b->h1.dechunk_on = 1;
      b->h1.dechunk = b->rparse;
    }
    x.framing = plan.client;
    x.drop_length = plan.drop_length;
    x.keep_alive = plan.keep_alive; /* the codec closes after this response without it */
    if (rt->cfg.server_timing && lb_server_timing_format(st, sizeof st, &ex->t, now))
      x.server_timing = st;
    if (rt->cfg.served_by)
      x.served_by = b->server->name;
    if (rt->cfg.request_id) {
      x.request_id = ex->reqid;
      x.request_id_len = ex->reqid_len;
    }
  }
  int r = ex->ops->head(ex, &v, &x, out);
  if (ex->trailers) /* lent by `head` for a decoded chunked body only: the parser keeps them */
    lb_h1_resp_keep_trailers(&b->parser, &b->h1, ex->trailers);
  return r;
}
