/* --html FILE: the journey as one self-contained page (no external assets): the waterfall,
 * DNS steps, route, the path's hops, TLS, HTTP, the load balancer's phases, curl's times. */
#include <stdlib.h>
#include <string.h>

#include "client/curl_vars.h"
#include "client/report.h"
#include "client/h2_report.h"

static void esc(FILE *f, const char *p) {
  for (; *p; p++) {
    switch (*p) {
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '&':
      fputs("&amp;", f);
      break;
    case '"':
      fputs("&quot;", f);
      break;
    default:
      fputc(*p, f);
    }
  }
}

static void ms(FILE *f, uint64_t us) {
  fprintf(f, "%llu.%03llu ms", (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
}

static void row(FILE *f, const char *k, const char *v) {
  fprintf(f, "<tr><th>%s</th><td>", k);
  esc(f, *v ? v : "-");
  fputs("</td></tr>\n", f);
}

static void waterfall(FILE *f, const jn_result *r) {
  struct {
    const char *name, *color;
    uint64_t dur;
  } rows[] = {{"dns", "#4e79a7", r->dns_us},          {"route", "#9c755f", r->route_us},
              {"tcp", "#f28e2b", r->tcp_us},          {"proxy", "#b07aa1", r->proxy_us},
              {"tls", "#e15759", r->tls_us},          {"server", "#59a14f", r->server_us},
              {"transfer", "#76b7b2", r->transfer_us}};
  uint64_t total = 0, at = 0;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    total += rows[i].dur;
  if (!total)
    total = 1;
  fputs("<h2>Waterfall</h2><div id=\"waterfall\">\n", f);
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    double left = 100.0 * (double)at / (double)total,
           w = 100.0 * (double)rows[i].dur / (double)total;
    fprintf(f,
            "<div class=\"wf\" data-phase=\"%s\"><span class=\"n\">%s</span><span "
            "class=\"track\"><span "
            "class=\"bar\" style=\"left:%.2f%%;width:%.2f%%;background:%s\"></span></span><span "
            "class=\"t\">",
            rows[i].name, rows[i].name, left, w < 0.4 && rows[i].dur ? 0.4 : w, rows[i].color);
    ms(f, rows[i].dur);
    fputs("</span></div>\n", f);
    at += rows[i].dur;
  }
  fputs("</div>\n", f);
}

void jn_report_html(FILE *f, const jn_result *r) {
  char url[JN_URL_HOST_MAX + 2 * JN_URL_PATH_MAX + 32];
  jn_url_format(&r->url, url, sizeof url);
  fputs("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>journey: ", f);
  esc(f, url);
  fputs("</title><style>body{font:14px/1.4 "
        "system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}"
        "h1{font-size:20px}h2{font-size:16px;margin:20px 0 6px;border-bottom:1px solid #ddd}"
        "table{border-collapse:collapse}th,td{text-align:left;padding:2px 10px 2px "
        "0;vertical-align:top}"
        "th{color:#555;font-weight:600}.wf{display:flex;align-items:center;margin:3px "
        "0}.n{width:80px}"
        ".track{position:relative;flex:1;height:16px;background:#f3f3f3}.bar{position:absolute;top:"
        "0;height:16px}"
        ".t{width:110px;text-align:right;font-variant-numeric:tabular-nums}.ok{color:#2a7a2a}.bad{"
        "color:#b22}"
        "code,pre{font:12px "
        "ui-monospace,monospace;background:#f6f6f6}pre{padding:8px;overflow:auto}</style></"
        "head><body>\n",
        f);
  fprintf(f, "<h1>journey %s ", r->method);
  esc(f, url);
  fprintf(f, " &rarr; <span id=\"status\" class=\"%s\">%d %s</span></h1>\n",
          r->exit_code ? "bad" : "ok", r->status, r->exit_code ? "failed" : "");
  if (r->exit_code) {
    fprintf(f, "<p class=\"bad\" id=\"error\">exit %d in phase ", r->exit_code);
    esc(f, r->failed_phase);
    fputs(": ", f);
    esc(f, r->error);
    fputs("</p>\n", f);
  }
  waterfall(f, r);

  fputs("<h2>DNS</h2><table "
        "id=\"dns\"><tr><th>source</th><th>result</th><th>detail</th><th>time</th></tr>\n",
        f);
  for (size_t i = 0; i < r->dns_step_n; i++) {
    const jn_dns_step *s = &r->dns_steps[i];
    fprintf(f, "<tr><td>%s</td><td class=\"%s\">%s</td><td>", s->source,
            strcmp(s->result, "hit") ? "" : "ok", s->result);
    esc(f, s->detail);
    fputs("</td><td>", f);
    ms(f, s->us);
    fputs("</td></tr>\n", f);
  }
  for (size_t i = 0; i < r->answer_n; i++)
    fprintf(f, "<tr><td>answer</td><td>%s</td><td>%s</td><td>ttl %ld</td></tr>\n",
            r->answers[i].family == 6 ? "AAAA" : "A", r->answers[i].addr, r->answers[i].ttl);
  fputs("</table>\n<h2>Route and path</h2><table id=\"route\">\n", f);
  row(f, "interface", r->oif);
  row(f, "gateway", r->gateway[0] ? r->gateway : (r->loopback ? "none (loopback)" : "on-link"));
  row(f, "source", r->prefsrc);
  row(f, "next hop MAC", r->neigh_mac);
  row(f, "NAT", r->nat_note);
  fputs("</table>\n", f);
  if (r->path.probed) {
    fputs("<p id=\"path-note\">", f);
    esc(f, r->path.note);
    fputs("</p><table id=\"path\"><tr><th>TTL</th><th>address</th><th>RTT</th><th>kind</th></tr>\n",
          f);
    for (int i = 0; i < r->path.hop_n; i++) {
      fprintf(f, "<tr><td>%d</td><td>%s</td><td>", r->path.hops[i].ttl,
              r->path.hops[i].addr[0] ? r->path.hops[i].addr : "*");
      ms(f, r->path.hops[i].rtt_us);
      fprintf(f, "</td><td>%s</td></tr>\n", r->path.hops[i].kind);
    }
    fputs("</table>\n", f);
  }
  fputs("<h2>TCP and TLS</h2><table id=\"tls\">\n", f);
  row(f, "local", r->local);
  row(f, "remote", r->remote);
  if (r->tls_used) {
    row(f, "version", r->tls_version);
    row(f, "cipher", r->cipher);
    row(f, "ALPN", r->alpn);
    row(f, "certificate", r->cert_subject);
    row(f, "issuer", r->cert_issuer);
    row(f, "SANs", r->cert_sans);
    row(f, "verification", r->verify_result);
  } else {
    row(f, "TLS", "none (plain http)");
  }
  fputs("</table>\n<h2>HTTP</h2><pre id=\"request\">", f);
  char req[sizeof r->request + 1];
  memcpy(req, r->request, r->request_len);
  req[r->request_len] = 0;
  esc(f, req);
  fputs("</pre><pre id=\"response\">", f);
  esc(f, r->resp_headers);
  if (r->h2.used) { /* HTTP/2: SETTINGS, HPACK sizes and the frames, as the text report has them */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m) {
      jn_h2_report_human(m, &r->h2, "");
      fclose(m);
      fputs("</pre><pre id=\"h2\">", f);
      esc(f, text ? text : "");
      free(text);
    }
  }
  fputs("</pre>\n<h2>Load balancer</h2><table id=\"lb\">\n", f);
  row(f, "served by", r->lb.served_by);
  row(f, "request id", r->lb.request_id);
  for (size_t i = 0; i < r->lb.timing_n; i++) {
    fprintf(f, "<tr><th>%s</th><td>", r->lb.timing[i].name);
    if (r->lb.timing[i].has_dur)
      ms(f, r->lb.timing[i].dur_us);
    fputs("</td></tr>\n", f);
  }
  fputs("</table>\n<h2>curl's times</h2><table id=\"curl\">\n", f);
  for (size_t i = 0; i < jn_curl_var_n && !strncmp(jn_curl_var_names[i], "time_", 5); i++) {
    jn_val v;
    jn_curl_var(r, jn_curl_var_names[i], &v);
    fprintf(f, "<tr><th>%s</th><td>%llu.%06llu s</td></tr>\n", jn_curl_var_names[i],
            (unsigned long long)(v.us / 1000000), (unsigned long long)(v.us % 1000000));
  }
  fputs("</table></body></html>\n", f);
}
