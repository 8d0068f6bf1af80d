/* The --json object (schema and meaning of every field: docs/client-json.md). */
#include "client/report.h"
#include "client/curl_vars.h"
#include "client/h2_report.h"

#include <stdlib.h>
#include <string.h>

void jn_json_str(FILE *f, const char *p) {
  fputc('"', f);
  for (; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", f);
    else if (c == '\r')
      fputs("\\r", f);
    else if (c == '\t')
      fputs("\\t", f);
    else if (c < 0x20 || c == 0x7f)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void jstrn(FILE *f, const char *p, size_t n) {
  char tmp[8200];
  if (n >= sizeof tmp)
    n = sizeof tmp - 1;
  memcpy(tmp, p, n);
  tmp[n] = 0;
  jn_json_str(f, tmp);
}

/* "key":"value" with a leading comma unless first. */
static void kv_s(FILE *f, const char *k, const char *v) {
  fprintf(f, ",\"%s\":", k);
  jn_json_str(f, v);
}
static void kv_sn(FILE *f, const char *k, const char *v) { /* null when empty */
  fprintf(f, ",\"%s\":", k);
  if (*v)
    jn_json_str(f, v);
  else
    fputs("null", f);
}
static void kv_u(FILE *f, const char *k, unsigned long long v) { fprintf(f, ",\"%s\":%llu", k, v); }
static void kv_i(FILE *f, const char *k, long long v) { fprintf(f, ",\"%s\":%lld", k, v); }
static void kv_b(FILE *f, const char *k, int v) { fprintf(f, ",\"%s\":%s", k, v ? "true" : "false"); }
static void secs(FILE *f, const char *k, uint64_t us) {
  fprintf(f, ",\"%s\":%llu.%06llu", k, (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));
}

static void phase_open(FILE *f, int first, const char *name, uint64_t us, int upto, int idx) {
  fprintf(f, "%s\"%s\":{\"duration_us\":%llu", first ? "" : ",", name, (unsigned long long)us);
  kv_b(f, "reached", idx < upto);
}

static void json_phases(FILE *f, const jn_result *r) {
  int upto = jn_report_reached(r);
  fputs("\"phases\":{", f);

  phase_open(f, 1, "url", r->url_us, upto, JN_PH_URL);
  kv_s(f, "scheme", r->url.scheme);
  kv_s(f, "host", r->url.host);
  kv_u(f, "port", (unsigned)r->url.port);
  kv_s(f, "path", r->url.path);
  kv_s(f, "query", r->url.query);
  kv_i(f, "host_ip_version", r->url.host_is_ip);
  kv_s(f, "method", r->method);
  fputs(",\"request\":", f);
  jstrn(f, r->request, r->request_len);
  fputc('}', f);

  phase_open(f, 0, "dns", r->dns_us, upto, JN_PH_DNS);
  kv_u(f, "setup_us", r->dns_setup_us);
  kv_sn(f, "connect_to", r->connect_to);
  kv_sn(f, "source", r->dns_source);
  kv_sn(f, "server", r->dns_server);
  fputs(",\"steps\":[", f);
  for (size_t i = 0; i < r->dns_step_n; i++) {
    fprintf(f, "%s{\"source\":", i ? "," : "");
    jn_json_str(f, r->dns_steps[i].source);
    kv_s(f, "result", r->dns_steps[i].result);
    kv_s(f, "detail", r->dns_steps[i].detail);
    kv_u(f, "duration_us", r->dns_steps[i].us);
    fputc('}', f);
  }
  fputs("],\"cname\":[", f);
  for (size_t i = 0; i < r->cname_n; i++) {
    fputs(i ? "," : "", f);
    jn_json_str(f, r->cname[i]);
  }
  fputs("],\"answers\":[", f);
  for (size_t i = 0; i < r->answer_n; i++) {
    fprintf(f, "%s{\"type\":\"%s\"", i ? "," : "", r->answers[i].family == 6 ? "AAAA" : "A");
    kv_s(f, "address", r->answers[i].addr);
    if (r->answers[i].ttl >= 0)
      kv_i(f, "ttl", r->answers[i].ttl);
    else
      fputs(",\"ttl\":null", f);
    fputc('}', f);
  }
  fputs("]}", f);

  phase_open(f, 0, "route", r->route_us, upto, JN_PH_ROUTE);
  kv_b(f, "ok", r->route_ok);
  kv_sn(f, "error", r->route_error);
  kv_sn(f, "type", r->route_type);
  kv_b(f, "loopback", r->loopback);
  kv_sn(f, "interface", r->oif);
  kv_sn(f, "interface_mac", r->if_mac);
  kv_sn(f, "gateway", r->gateway);
  kv_sn(f, "source", r->prefsrc);
  kv_sn(f, "next_hop", r->nexthop);
  if (r->neigh_checked) {
    fputs(",\"neighbour\":{\"mac\":", f);
    jn_json_str(f, r->neigh_mac);
    kv_s(f, "state_before", r->neigh_state_before);
    kv_s(f, "state", r->neigh_state);
    kv_s(f, "cache", r->neigh_hit ? "hit" : "miss");
    fputc('}', f);
  } else {
    fputs(",\"neighbour\":null", f);
  }
  kv_i(f, "ttl", r->ip_ttl);
  kv_b(f, "source_private", r->src_private);
  kv_sn(f, "nat", r->nat_note);
  fputc('}', f);

  phase_open(f, 0, "tcp", r->tcp_us, upto, JN_PH_TCP);
  kv_b(f, "reused", r->tcp_reused);
  kv_sn(f, "local", r->local);
  kv_sn(f, "remote", r->remote);
  fputs(",\"attempts\":[", f);
  for (size_t i = 0; i < r->attempt_n; i++) {
    fprintf(f, "%s{\"address\":", i ? "," : "");
    jn_json_str(f, r->attempts[i].addr);
    kv_s(f, "result", r->attempts[i].result);
    kv_sn(f, "error", r->attempts[i].error);
    kv_u(f, "start_us", r->attempts[i].start_us);
    kv_u(f, "duration_us", r->attempts[i].us);
    fputc('}', f);
  }
  fputc(']', f);
  kv_u(f, "rtt_us", r->rtt_us);
  kv_u(f, "rttvar_us", r->rttvar_us);
  kv_u(f, "mss", r->mss);
  kv_u(f, "cwnd", r->cwnd);
  kv_u(f, "retransmits", r->retrans);
  fputc('}', f);

  phase_open(f, 0, "proxy", r->proxy_us, upto, JN_PH_PROXY);
  kv_b(f, "used", r->proxy_used);
  kv_sn(f, "address", r->proxy);
  kv_b(f, "tunnel", r->proxy_used && strcmp(r->url.scheme, "https") == 0);
  kv_i(f, "connect_status", r->proxy_status);
  fputc('}', f);

  phase_open(f, 0, "tls", r->tls_us, upto, JN_PH_TLS);
  kv_u(f, "setup_us", r->tls_setup_us);
  kv_u(f, "handshake_us", r->tls_us - r->tls_setup_us);
  kv_b(f, "used", r->tls_used);
  kv_sn(f, "sni", r->sni);
  kv_sn(f, "alpn", r->alpn);
  kv_sn(f, "version", r->tls_version);
  kv_sn(f, "cipher", r->cipher);
  kv_sn(f, "group", r->group);
  kv_b(f, "resumed", r->tls_resumed);
  kv_b(f, "insecure", r->tls_insecure);
  kv_b(f, "client_certificate", r->client_cert);
  kv_b(f, "verified", r->verified);
  kv_sn(f, "verify_result", r->verify_result);
  kv_sn(f, "verify_name", r->verify_name);
  if (r->cert_subject[0]) {
    fputs(",\"certificate\":{\"subject\":", f);
    jn_json_str(f, r->cert_subject);
    kv_s(f, "issuer", r->cert_issuer);
    fputs(",\"sans\":[", f);
    const char *p = r->cert_sans;
    int first = 1;
    while (*p) {
      size_t n = strcspn(p, ",");
      if (n) {
        fputs(first ? "" : ",", f);
        jstrn(f, p, n);
        first = 0;
      }
      p += n;
      while (*p == ',' || *p == ' ')
        p++;
    }
    fputc(']', f);
    kv_s(f, "not_before", r->cert_not_before);
    kv_s(f, "not_after", r->cert_not_after);
    kv_i(f, "chain_length", r->chain_len);
    fputc('}', f);
  } else {
    fputs(",\"certificate\":null", f);
  }
  fputc('}', f);

  phase_open(f, 0, "http", r->http_us, upto, JN_PH_HTTP);
  kv_i(f, "status", r->status);
  kv_sn(f, "reason", r->reason);
  kv_sn(f, "version", r->http_version);
  kv_u(f, "server_us", r->server_us);
  kv_u(f, "transfer_us", r->transfer_us);
  kv_u(f, "header_bytes", r->header_bytes);
  kv_u(f, "body_bytes", r->body_bytes);
  kv_u(f, "body_decoded_bytes", r->body_decoded);
  kv_sn(f, "transfer_mode", r->transfer_mode);
  kv_sn(f, "content_encoding", r->content_encoding);
  kv_sn(f, "encoding_note", r->encoding_note);
  kv_b(f, "keepalive", r->keepalive_ok);
  fputs(",\"headers\":[", f);
  {
    const char *p = r->resp_headers;
    int first = 1;
    while (*p) {
      size_t ln = strcspn(p, "\n");
      const char *colon = memchr(p, ':', ln);
      if (colon) {
        const char *v = colon + 1;
        while (v < p + ln && *v == ' ')
          v++;
        fputs(first ? "[" : ",[", f);
        jstrn(f, p, (size_t)(colon - p));
        fputc(',', f);
        jstrn(f, v, (size_t)(p + ln - v));
        fputc(']', f);
        first = 0;
      }
      p += ln;
      if (*p)
        p++;
    }
  }
  fputc(']', f);
  jn_h2_report_json(f, &r->h2);
  fputc('}', f);

  phase_open(f, 0, "lb", jn_lb_total_us(&r->lb), upto, JN_PH_LB);
  kv_b(f, "present", r->lb.served_by[0] || r->lb.timing_n);
  kv_sn(f, "served_by", r->lb.served_by);
  kv_sn(f, "request_id", r->lb.request_id);
  fputs(",\"server_timing\":[", f);
  for (size_t i = 0; i < r->lb.timing_n; i++) {
    fprintf(f, "%s{\"name\":", i ? "," : "");
    jn_json_str(f, r->lb.timing[i].name);
    if (r->lb.timing[i].has_dur)
      kv_u(f, "duration_us", r->lb.timing[i].dur_us);
    else
      fputs(",\"duration_us\":null", f);
    kv_sn(f, "desc", r->lb.timing[i].desc);
    fputc('}', f);
  }
  fputs("]}}", f);
}

static void json_runs(FILE *f, jn_stats *st, size_t requested, int concurrency) {
  fputs(",\"runs\":{", f);
  fprintf(f, "\"requests\":%zu", requested);
  kv_u(f, "concurrency", (unsigned)concurrency);
  kv_u(f, "ok", st->n);
  kv_u(f, "failed", st->failed);
  kv_u(f, "reused_connections", st->reused);
  kv_u(f, "tls_resumed", st->resumed);
  kv_u(f, "h2_streams", st->h2_streams);
  kv_u(f, "h2_connections", st->h2_conns);
  kv_u(f, "h2_streams_at_once", (unsigned)st->h2_at_once);
  kv_u(f, "wall_us", st->wall_us);
  fprintf(f, ",\"requests_per_second\":%.1f",
          st->wall_us ? (double)(st->n + st->failed) * 1e6 / (double)st->wall_us : 0.0);
  fputs(",\"phases\":{", f);
  for (int p = 0; p < JN_ST_N; p++) {
    jn_summary m;
    jn_stats_summary(st, p, &m);
    fprintf(f,
            "%s\"%s\":{\"min_us\":%llu,\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"max_us\":%llu,\"mean_us\":%"
            "llu}",
            p ? "," : "", jn_stat_names[p], (unsigned long long)m.min, (unsigned long long)m.p50,
            (unsigned long long)m.p90, (unsigned long long)m.p99, (unsigned long long)m.max,
            (unsigned long long)m.mean);
  }
  fputs("},\"backends\":{", f);
  for (size_t i = 0; i < st->backend_n; i++) {
    fputs(i ? "," : "", f);
    jn_json_str(f, st->backend[i].name);
    fprintf(f, ":%zu", st->backend[i].count);
  }
  fputs("},\"status_codes\":{", f);
  for (size_t i = 0; i < st->code_n; i++)
    fprintf(f, "%s\"%d\":%zu", i ? "," : "", st->code[i].code, st->code[i].count);
  fputs("}}", f);
}

/* curl's -w '%{json}' names and values for everything journey knows (curl_vars.c). */
static void json_curl(FILE *f, const jn_result *r) {
  jn_val v;
  for (size_t i = 0; i < jn_curl_var_n; i++) {
    jn_curl_var(r, jn_curl_var_names[i], &v);
    switch (v.type) {
    case JN_VAL_INT: kv_i(f, jn_curl_var_names[i], v.i); break;
    case JN_VAL_SECS: secs(f, jn_curl_var_names[i], v.us); break;
    default: kv_sn(f, jn_curl_var_names[i], v.type == JN_VAL_STR ? v.s : ""); break;
    }
  }
}

static void json_tries(FILE *f, const jn_tries *t) {
  fprintf(f, ",\"retries\":%d,\"hops\":[", t ? t->retries : 0);
  for (size_t i = 0; t && i < t->n; i++) {
    const jn_try *h = &t->t[i];
    fprintf(f, "%s{\"kind\":", i ? "," : "");
    jn_json_str(f, h->kind);
    kv_s(f, "url", h->url);
    kv_s(f, "method", h->method);
    kv_i(f, "http_code", h->status);
    kv_i(f, "exitcode", h->exit_code);
    kv_sn(f, "remote", h->remote);
    kv_u(f, "start_us", h->start_us);
    kv_u(f, "wait_us", h->wait_us);
    kv_u(f, "dns_us", h->dns_us);
    kv_u(f, "route_us", h->route_us);
    kv_u(f, "tcp_us", h->tcp_us);
    kv_u(f, "tls_us", h->tls_us);
    kv_u(f, "server_us", h->server_us);
    kv_u(f, "transfer_us", h->transfer_us);
    kv_u(f, "total_us", h->total_us);
    fputc('}', f);
  }
  fputc(']', f);
}

void jn_report_json(FILE *f, const jn_result *r, jn_stats *s, size_t requested, int concurrency,
                    const jn_tries *tries) {
  fputs("{\"journey_version\":", f);
#ifdef JOURNEY_VERSION
  jn_json_str(f, JOURNEY_VERSION);
#else
  jn_json_str(f, "0");
#endif
  fputs(",", f);
  json_phases(f, r);
  json_curl(f, r);
  kv_sn(f, "served_by", r->lb.served_by);
  kv_sn(f, "request_id", r->lb.request_id);
  kv_i(f, "exit_code", r->exit_code); /* journey's first names, kept: fields are never renamed */
  kv_sn(f, "error", r->error);
  kv_sn(f, "failed_phase", r->failed_phase);
  json_tries(f, tries);
  fprintf(f, ",\"path\":{\"probed\":%s,\"reached\":%s", r->path.probed ? "true" : "false",
          r->path.reached ? "true" : "false");
  kv_sn(f, "note", r->path.note);
  fputs(",\"hops\":[", f);
  for (int i = 0; i < r->path.hop_n; i++) {
    const struct jn_path_hop *h = &r->path.hops[i];
    fprintf(f, "%s{\"ttl\":%d", i ? "," : "", h->ttl);
    kv_sn(f, "address", h->addr);
    kv_u(f, "rtt_us", h->rtt_us);
    kv_s(f, "kind", h->kind);
    fputc('}', f);
  }
  fputs("]}", f);
  if (s)
    json_runs(f, s, requested, concurrency);
  fputs("}\n", f);
}
