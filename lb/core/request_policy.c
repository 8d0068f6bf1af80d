/* Request policy (request_policy.h). */
#include "lb/core/request_policy.h"

#include "lb/core/target.h"

#include <string.h>

static void answer(lb_request_verdict *v, int status, const char *why, const char *term,
                   int keep_alive) {
  v->status = status;
  v->why = why;
  v->term = term;
  v->keep_alive = keep_alive;
}

void lb_request_decide(const lb_request_in *in, const lb_config *cfg, char *out, size_t cap,
                       lb_request_verdict *v) {
  memset(v, 0, sizeof *v);
  v->pool = -1;
  if (in->is_connect) {
    answer(v, 501, "CONNECT is not supported by this load balancer", "bad-method", 0);
    return;
  }
  const char *why;
  int bad = lb_request_check(&in->head, &why);
  if (bad) {
    answer(v, bad, why, bad == 400 ? "bad-request" : "not-supported", 0);
    return;
  }
  if (in->head.http_minor == 1 && !in->has_host) {
    answer(v, 400, "missing Host header (required in HTTP/1.1)", "bad-request", 0);
    return;
  }
  uint64_t max = cfg->max_body_size;
  if (max && in->framing == LB_FRAME_LENGTH && in->content_length > max) {
    answer(v, 413, "request body larger than max-body-size", "body-too-large", 0);
    return;
  }
  if (!lb_request_method_allowed(&cfg->req, in->method, in->method_len)) {
    answer(v, 501, "method not allowed by this load balancer's configuration", "bad-method", 0);
    return;
  }
  /* Routes see the normalised path; it goes to the backend unless normalize-path = off. Its
   * scratch space is the end of `out` (a normalised target is never longer than the target). */
  lb_target tg;
  lb_target_parse(in->head.target, in->head.target_len, in->head.is_options, &tg, &why);
  const char *t = tg.rest, *fwd = tg.rest;
  size_t tlen = tg.rest_len, fwd_len = tg.rest_len;
  if (!(tlen == 1 && t[0] == '*') && !lb_path_is_normal(tg.rest, tg.rest_len)) {
    if (cap < tlen + 1) {
      answer(v, 431, "request headers too large to forward", "header-too-large", 0);
      return;
    }
    cap -= tlen + 1;
    tlen = lb_path_normalize(tg.rest, tg.rest_len, out + cap, tlen + 1, &why);
    if (!tlen) {
      answer(v, 400, why, "bad-request", 0);
      return;
    }
    t = out + cap;
    if (!cfg->req.path_as_received || !fwd_len || fwd[0] != '/') {
      fwd = t;
      fwd_len = tlen;
    }
  }
  size_t plen = tlen;
  const char *q = memchr(t, '?', plen);
  if (q)
    plen = (size_t)(q - t);
  v->path = t;
  v->path_len = tlen;
  v->pool = lb_config_route(cfg, t, plen);
  if (v->pool < 0) {
    answer(v, 404, "no route for this path on the load balancer", "no-route", 1);
    return;
  }
  lb_request_view rv = {
      .method = in->method,
      .method_len = in->method_len,
      .target = fwd,
      .target_len = fwd_len,
      .http_minor = in->head.http_minor,
      .headers = in->head.headers,
      .nheaders = in->head.nheaders,
      .framing = in->framing,
      .host = tg.authority,
      .host_len = tg.authority_len,
  };
  v->head_len = lb_rewrite_request(out, cap, &rv, in->fwd);
  if (!v->head_len) /* routed (the log names the pool), but not forwarded */
    answer(v, 431, "request headers too large to forward", "header-too-large", 0);
}
