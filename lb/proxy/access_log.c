/* Access log (one line per request on stdout) and debug phase lines (stderr). */
#include "lb/proxy/lb.h"

#include "common/clock.h"
#include "common/log.h"

static void timer_field(jc_logline *l, const char *key, int64_t us) {
  if (us < 0)
    jc_logline_int(l, key, -1);
  else
    jc_logline_ms(l, key, (uint64_t)us);
}

void lb_access_log(lb_client *c) {
  lb_runtime *rt = c->w->rt;
  if (!rt->cfg.access_log)
    return;
  lb_timers tm;
  lb_timing_compute(&c->t, &tm);
  const char *rid = lb_client_request_id(c); /* before reqid_len: it may make it */
  jc_logline l;
  jc_log_begin(&l, JC_LOG_INFO, "request");
  jc_logline_strn(&l, "request_id", rid, c->reqid_len);
  jc_logline_str(&l, "client", c->peer);
  if (c->tls_on && c->tls.ssl) {
    const char *sni = SSL_get_servername(c->tls.ssl, TLSEXT_NAMETYPE_host_name);
    jc_logline_str(&l, "tls", SSL_get_version(c->tls.ssl));
    jc_logline_str(&l, "cipher", SSL_get_cipher_name(c->tls.ssl));
    jc_logline_str(&l, "sni", sni ? sni : "");
  } else {
    jc_logline_str(&l, "tls", "plain");
    jc_logline_str(&l, "cipher", "");
    jc_logline_str(&l, "sni", "");
  }
  jc_logline_str(&l, "method", llhttp_method_name((llhttp_method_t)c->method));
  jc_logline_str(&l, "path", c->path);
  jc_logline_int(&l, "status", c->status);
  jc_logline_uint(&l, "bytes_in", c->bytes_in);
  jc_logline_uint(&l, "bytes_out", c->bytes_out);
  if (c->pool >= 0) {
    const lb_pool *p = &rt->pools[c->pool];
    jc_logline_str(&l, "pool", p->name);
    jc_logline_str(&l, "algorithm", lb_algo_name(p->algo));
    if (c->server >= 0) {
      jc_logline_str(&l, "backend", p->servers[c->server].name);
      jc_logline_str(&l, "backend_addr", p->servers[c->server].addr_text);
    } else {
      jc_logline_str(&l, "backend", "");
      jc_logline_str(&l, "backend_addr", "");
    }
  } else {
    jc_logline_str(&l, "pool", "");
    jc_logline_str(&l, "algorithm", "");
    jc_logline_str(&l, "backend", "");
    jc_logline_str(&l, "backend_addr", "");
  }
  jc_logline_int(&l, "retries", c->retries + c->reused_retry);
  jc_logline_bool(&l, "reused", c->backend_reused);
  timer_field(&l, "Th", tm.Th);
  timer_field(&l, "Ti", tm.Ti);
  timer_field(&l, "TR", tm.TR);
  timer_field(&l, "Tw", tm.Tw);
  timer_field(&l, "Tc", tm.Tc);
  timer_field(&l, "Tr", tm.Tr);
  timer_field(&l, "Td", tm.Td);
  timer_field(&l, "Ta", tm.Ta);
  timer_field(&l, "Tt", tm.Tt);
  jc_logline_str(&l, "term", c->term ? c->term : "ok");
  jc_logline_write(&l, 1);
}

void lb_debug_phase(lb_client *c, const char *phase, uint64_t now) {
  const char *rid = lb_client_request_id(c);
  jc_logline l;
  jc_log_begin(&l, JC_LOG_DEBUG, "phase");
  jc_logline_str(&l, "phase", phase);
  jc_logline_uint(&l, "conn", c->id);
  jc_logline_strn(&l, "request_id", rid, c->reqid_len);
  if (c->pool >= 0 && c->server >= 0) {
    const lb_server *s = &c->w->rt->pools[c->pool].servers[c->server];
    jc_logline_str(&l, "backend", s->name);
    jc_logline_str(&l, "backend_addr", s->addr_text);
  }
  if (!__builtin_strcmp(phase, "connect"))
    jc_logline_bool(&l, "reused", c->backend_reused);
  if (!__builtin_strcmp(phase, "request")) {
    jc_logline_str(&l, "method", llhttp_method_name((llhttp_method_t)c->method));
    jc_logline_str(&l, "path", c->path);
  }
  if (!__builtin_strcmp(phase, "response") || !__builtin_strcmp(phase, "done"))
    jc_logline_int(&l, "status", c->status);
  uint64_t from = c->t.req_start ? c->t.req_start : c->t.accept;
  jc_logline_ms(&l, "elapsed_ms", now >= from ? now - from : 0);
  jc_log_emit(&l);
}
