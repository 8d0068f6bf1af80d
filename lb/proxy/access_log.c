/* Access log (one line per request on stdout) and debug phase lines (stderr). */
#include "lb/proxy/access_log.h"
#include "lb/proxy/runtime.h"

#include <llhttp.h>

#include "common/clock.h"
#include "common/log.h"

static void timer_field(jc_logline *l, const char *key, int64_t us) {
  if (us < 0)
    jc_logline_int(l, key, -1);
  else
    jc_logline_ms(l, key, (uint64_t)us);
}

void lb_access_log(lb_exchange *ex, const lb_log_conn *conn) {
  lb_runtime *rt = ex->w->rt;
  if (!rt->cfg.access_log)
    return;
  lb_timers tm;
  lb_timing_compute(&ex->t, &tm);
  const char *rid = lb_exchange_request_id(ex); /* before reqid_len: it may make it */
  jc_logline l;
  jc_log_begin(&l, JC_LOG_INFO, "request");
  jc_logline_strn(&l, "request_id", rid, ex->reqid_len);
  jc_logline_str(&l, "client", conn->peer);
  if (conn->ssl) {
    const char *sni = SSL_get_servername(conn->ssl, TLSEXT_NAMETYPE_host_name);
    jc_logline_str(&l, "tls", SSL_get_version(conn->ssl));
    jc_logline_str(&l, "cipher", SSL_get_cipher_name(conn->ssl));
    jc_logline_str(&l, "sni", sni ? sni : "");
    char subject[512];
    size_t n = lb_tls_peer_subject(conn->ssl, subject, sizeof subject);
    if (n || rt->cfg.tls.client_ca[0])
      jc_logline_strn(&l, "client_cert", subject, n);
  } else {
    jc_logline_str(&l, "tls", "plain");
    jc_logline_str(&l, "cipher", "");
    jc_logline_str(&l, "sni", "");
  }
  jc_logline_str(&l, "method", lb_exchange_method_name(ex));
  jc_logline_str(&l, "path", conn->path);
  jc_logline_int(&l, "status", ex->status);
  jc_logline_uint(&l, "bytes_in", ex->bytes_in);
  jc_logline_uint(&l, "bytes_out", ex->bytes_out);
  if (ex->pool >= 0) {
    const lb_pool *p = &rt->pools[ex->pool];
    jc_logline_str(&l, "pool", p->name);
    jc_logline_str(&l, "algorithm", lb_algo_name(p->algo));
    if (ex->server >= 0) {
      jc_logline_str(&l, "backend", p->servers[ex->server].name);
      jc_logline_str(&l, "backend_addr", p->servers[ex->server].addr_text);
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
  jc_logline_int(&l, "retries", ex->retries + ex->reused_retry);
  jc_logline_bool(&l, "reused", ex->backend_reused);
  timer_field(&l, "Th", tm.Th);
  timer_field(&l, "Ti", tm.Ti);
  timer_field(&l, "TR", tm.TR);
  timer_field(&l, "Tw", tm.Tw);
  timer_field(&l, "Tc", tm.Tc);
  timer_field(&l, "Tr", tm.Tr);
  timer_field(&l, "Td", tm.Td);
  timer_field(&l, "Ta", tm.Ta);
  timer_field(&l, "Tt", tm.Tt);
  if (ex->tunnel) { /* the two phases of a WebSocket: up to the 101, then the tunnel's life */
    const lb_timing *t = &ex->t;
    jc_logline_ms(&l, "upgrade_ms", t->resp_hdr >= t->req_start ? t->resp_hdr - t->req_start : 0);
    jc_logline_ms(&l, "tunnel_ms", t->done >= t->resp_hdr ? t->done - t->resp_hdr : 0);
  }
  jc_logline_str(&l, "term", ex->term ? ex->term : "ok");
  jc_logline_write(&l, 1);
}

void lb_debug_phase(lb_exchange *ex, const lb_log_conn *conn, const char *phase, uint64_t now) {
  const char *rid = lb_exchange_request_id(ex);
  jc_logline l;
  jc_log_begin(&l, JC_LOG_DEBUG, "phase");
  jc_logline_str(&l, "phase", phase);
  jc_logline_uint(&l, "conn", conn->id);
  jc_logline_strn(&l, "request_id", rid, ex->reqid_len);
  if (ex->pool >= 0 && ex->server >= 0) {
    const lb_server *s = &ex->w->rt->pools[ex->pool].servers[ex->server];
    jc_logline_str(&l, "backend", s->name);
    jc_logline_str(&l, "backend_addr", s->addr_text);
  }
  if (!__builtin_strcmp(phase, "connect"))
    jc_logline_bool(&l, "reused", ex->backend_reused);
  if (!__builtin_strcmp(phase, "request")) {
    jc_logline_str(&l, "method", lb_exchange_method_name(ex));
    jc_logline_str(&l, "path", conn->path);
  }
  if (!__builtin_strcmp(phase, "response") || !__builtin_strcmp(phase, "done"))
    jc_logline_int(&l, "status", ex->status);
  uint64_t from = ex->t.req_start ? ex->t.req_start : ex->t.accept;
  jc_logline_ms(&l, "elapsed_ms", now >= from ? now - from : 0);
  jc_log_emit(&l);
}

void lb_debug_tls(const lb_log_conn *conn, uint64_t elapsed_us) {
  const char *sni = SSL_get_servername(conn->ssl, TLSEXT_NAMETYPE_host_name);
  jc_logline l;
  jc_log_begin(&l, JC_LOG_DEBUG, "phase");
  jc_logline_str(&l, "phase", "tls");
  jc_logline_uint(&l, "conn", conn->id);
  jc_logline_str(&l, "version", SSL_get_version(conn->ssl));
  jc_logline_str(&l, "cipher", SSL_get_cipher_name(conn->ssl));
  jc_logline_str(&l, "sni", sni ? sni : "");
  jc_logline_bool(&l, "resumed", SSL_session_reused(conn->ssl));
  jc_logline_ms(&l, "elapsed_ms", elapsed_us);
  jc_log_emit(&l);
}
