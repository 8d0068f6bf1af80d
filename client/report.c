#include "client/report.h"

#include <string.h>

#include "client/exit_code.h"
#include "client/h2_report.h"
#include "client/request.h"

static const char *const phase_names[] = {"url", "dns", "route", "tcp", "proxy", "tls", "http", "lb"};

int jn_report_reached(const jn_result *r) {
  if (!r->failed_phase[0])
    return JN_PH_N;
  for (int i = 0; i < JN_PH_N; i++)
    if (strcmp(r->failed_phase, phase_names[i]) == 0)
      return i;
  return JN_PH_N;
}

int jn_report_use_color(int is_tty, const char *no_color_env) {
  return is_tty && !(no_color_env && *no_color_env);
}

/* ---------- human ---------- */

typedef struct sty {
  const char *b, *dim, *ok, *warn, *bad, *off;
} sty;

static sty styles(const jn_report_opts *o) {
  if (o->color)
    return (sty){"\033[1m", "\033[2m", "\033[32m", "\033[33m", "\033[31m", "\033[0m"};
  return (sty){"", "", "", "", "", ""};
}

static void ms(char *buf, size_t len, uint64_t us) {
  snprintf(buf, len, "%llu.%03llu ms", (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
}

static void head(FILE *f, const sty *s, int n, const char *name, uint64_t us) {
  char t[32];
  ms(t, sizeof t, us);
  fprintf(f, "%s%d %-6s%s %12s  ", s->b, n, name, s->off, t);
}

static void print_lines(FILE *f, const char *prefix, const char *text, size_t n) {
  const char *p = text, *end = text + n;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t ln = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (ln && p[ln - 1] == '\r')
      ln--;
    if (ln)
      fprintf(f, "%s%.*s\n", prefix, (int)ln, p);
    p = nl ? nl + 1 : end;
  }
}

static void human_url(FILE *f, const jn_result *r, const jn_report_opts *o, const sty *s) {
  const jn_url *u = &r->url;
  head(f, s, 1, "URL", r->url_us);
  fprintf(f, "scheme %s  host %s%s  port %d%s  path %s  query %s\n", u->scheme, u->host,
          u->host_is_ip ? (u->host_is_ip == 6 ? " (IPv6 literal)" : " (IPv4 literal)") : "", u->port,
          u->port_explicit ? "" : " (default)", u->path, u->query[0] ? u->query : "-");
  jn_h2_field fl[JN_REQ_HEADERS_MAX + 4];
  char names[JN_REQ_HEADERS_MAX * 128];
  int nf = o->verbose && r->h2.used ? jn_h2_request_fields(r->request, r->request_len, u->scheme, NULL, fl,
                                                           sizeof fl / sizeof fl[0], names, sizeof names)
                                    : -1;
  if (nf > 0) /* what went on the wire: HTTP/2 header fields */
    for (int i = 0; i < nf; i++)
      fprintf(f, "           > %.*s: %.*s\n", (int)fl[i].name_len, fl[i].name, (int)fl[i].value_len, fl[i].value);
  else if (o->verbose)
    print_lines(f, "           > ", r->request, r->request_len);
  else
    fprintf(f, "           > %.*s (%zu bytes, -v shows the headers)\n",
            (int)strcspn(r->request, "\r\n"), r->request, r->request_len);
  if (r->h2.used && nf <= 0)
    fprintf(f, "           (sent over HTTP/2 as header fields: :method :scheme :authority :path, the names in lower "
               "case, no Host or Connection; -v shows them)\n");
}

static void human_dns(FILE *f, const jn_result *r, const sty *s) {
  head(f, s, 2, "DNS", r->dns_us);
  if (r->answer_n)
    fprintf(f, "%s -> %s%s%s (%s)\n", r->url.host, s->b, r->answers[0].addr, s->off, r->dns_source);
  else
    fprintf(f, "%s: no address\n", r->url.host);
  for (size_t i = 0; i < r->dns_step_n; i++) {
    const jn_dns_step *st = &r->dns_steps[i];
    char t[32];
    ms(t, sizeof t, st->us);
    const char *c = strcmp(st->result, "hit") == 0 ? s->ok : strcmp(st->result, "error") == 0 ? s->bad : s->dim;
    fprintf(f, "           %-8s %s%-7s%s %s (%s)\n", st->source, c, st->result, s->off, st->detail, t);
  }
  if (r->connect_to[0])
    fprintf(f, "           (--connect-to %s: this name was resolved instead of the URL's)\n", r->connect_to);
  if (r->dns_setup_us) {
    char t[32];
    ms(t, sizeof t, r->dns_setup_us);
    fprintf(f, "           %s(of which %s starting the resolver: outside curl's time_namelookup)%s\n", s->dim, t, s->off);
  }
  for (size_t i = 0; i < r->cname_n; i++)
    fprintf(f, "           CNAME    %s\n", r->cname[i]);
  for (size_t i = 0; i < r->answer_n; i++) {
    const jn_dns_answer *a = &r->answers[i];
    if (a->ttl >= 0)
      fprintf(f, "           %-8s %s  ttl %lds\n", a->family == 6 ? "AAAA" : "A", a->addr, a->ttl);
    else
      fprintf(f, "           %-8s %s\n", a->family == 6 ? "AAAA" : "A", a->addr);
  }
}

static void human_route(FILE *f, const jn_result *r, const sty *s) {
  head(f, s, 3, "route", r->route_us);
  if (!r->route_ok) {
    fprintf(f, "%sskipped%s: %s\n", s->warn, s->off, r->route_error);
  } else if (r->loopback) {
    fprintf(f, "loopback: %s is this machine (dev %s, route type %s); no gateway, no ARP, no NAT\n",
            r->nexthop, r->oif, r->route_type);
  } else {
    if (r->gateway[0])
      fprintf(f, "via gateway %s dev %s (%s) src %s\n", r->gateway, r->oif, r->if_mac[0] ? r->if_mac : "no MAC", r->prefsrc);
    else
      fprintf(f, "on-link dev %s (%s) src %s, no gateway\n", r->oif, r->if_mac[0] ? r->if_mac : "no MAC", r->prefsrc);
    if (r->neigh_checked)
      fprintf(f, "           next hop %s is %s, %s (before connect: %s, ARP/ND cache %s%s%s)\n", r->nexthop,
              r->neigh_mac[0] ? r->neigh_mac : "no MAC yet", r->neigh_state, r->neigh_state_before,
              r->neigh_hit ? s->ok : s->warn, r->neigh_hit ? "hit" : "miss: resolved by the kernel", s->off);
    else
      fprintf(f, "           next hop %s: no ARP/ND on this interface\n", r->nexthop);
  }
  if (r->ip_ttl > 0)
    fprintf(f, "           packets leave with TTL %d (each router subtracts 1; dropped at 0)\n", r->ip_ttl);
  if (r->nat_note[0])
    fprintf(f, "           %s\n", r->nat_note);
}

static void human_tcp(FILE *f, const jn_result *r, const sty *s) {
  head(f, s, 4, "TCP", r->tcp_us);
  if (r->tcp_reused)
    fprintf(f, "%s -> %s (kept-alive connection reused, no handshake)\n", r->local, r->remote);
  else
    fprintf(f, "%s -> %s\n", r->local[0] ? r->local : "-", r->remote[0] ? r->remote : "-");
  for (size_t i = 0; i < r->attempt_n; i++) {
    const jn_attempt *a = &r->attempts[i];
    char t[32], st[32];
    ms(t, sizeof t, a->us);
    ms(st, sizeof st, a->start_us);
    const char *c = strcmp(a->result, "connected") == 0 ? s->ok : s->bad;
    fprintf(f, "           attempt %zu %s at +%s: %s%s%s in %s%s%s\n", i + 1, a->addr, st, c, a->result, s->off, t,
            a->error[0] ? ": " : "", a->error);
  }
  if (r->local[0] && r->rtt_us + r->mss)
    fprintf(f, "           tcp_info rtt %u.%03u ms (var %u.%03u)  mss %u  cwnd %u  retransmits %u\n", r->rtt_us / 1000,
            r->rtt_us % 1000, r->rttvar_us / 1000, r->rttvar_us % 1000, r->mss, r->cwnd, r->retrans);
}

static void human_tls(FILE *f, const jn_result *r, const sty *s) {
  head(f, s, 5 + r->proxy_used, "TLS", r->tls_us);
  if (!r->tls_used) {
    fprintf(f, "none (plain http: nothing is encrypted)\n");
    return;
  }
  fprintf(f, "%s %s group %s ALPN %s SNI %s%s\n", r->tls_version[0] ? r->tls_version : "-",
          r->cipher[0] ? r->cipher : "-", r->group[0] ? r->group : "-", r->alpn[0] ? r->alpn : "none",
          r->sni[0] ? r->sni : "(none: IP literal)", r->tls_resumed ? " (session resumed)" : "");
  if (r->client_cert)
    fprintf(f, "           client   certificate offered (--cert): the server may check who we are (mTLS)\n");
  if (r->tls_setup_us) {
    char t[32];
    ms(t, sizeof t, r->tls_setup_us);
    fprintf(f, "           %scontext %s (settings before the ClientHello, the CA store while it travels, once per run, as curl does)%s\n", s->dim,
            t, s->off);
  }
  if (r->cert_subject[0]) {
    fprintf(f, "           subject  %s\n", r->cert_subject);
    fprintf(f, "           SANs     %s\n", r->cert_sans[0] ? r->cert_sans : "-");
    fprintf(f, "           issuer   %s\n", r->cert_issuer);
    fprintf(f, "           valid    %s -> %s, chain of %d\n", r->cert_not_before, r->cert_not_after, r->chain_len);
  }
  if (r->tls_insecure)
    fprintf(f, "           %sverify   NOT VERIFIED (-k/--insecure): anyone could be in the middle (%s)%s\n", s->warn,
            r->verify_result, s->off);
  else
    fprintf(f, "           verify   %s%s%s for %s\n", r->verified ? s->ok : s->bad, r->verify_result, s->off,
            r->verify_name);
}

static void human_http(FILE *f, const jn_result *r, const jn_report_opts *o, const sty *s) {
  head(f, s, 6 + r->proxy_used, "HTTP", r->http_us);
  if (!r->status) {
    fprintf(f, "no response\n");
    return;
  }
  const char *c = r->status >= 400 ? s->bad : r->status >= 300 ? s->warn : s->ok;
  fprintf(f, "%s%d %s%s HTTP/%s  body %llu bytes (%s)", c, r->status, r->reason, s->off, r->http_version,
          (unsigned long long)r->body_bytes, r->transfer_mode);
  if (r->content_encoding[0])
    fprintf(f, ", %s", r->encoding_note);
  fprintf(f, "\n");
  char a[32], b[32];
  ms(a, sizeof a, r->server_us);
  ms(b, sizeof b, r->transfer_us);
  fprintf(f, "           waiting for the first byte %s, transfer %s, headers %zu bytes%s\n", a, b, r->header_bytes,
          r->keepalive_ok ? "" : ", server closes the connection");
  if (o->verbose || o->show_response)
    print_lines(f, "           < ", r->resp_headers, strlen(r->resp_headers));
  jn_h2_report_human(f, &r->h2, "           ");
}

static void human_lb(FILE *f, const jn_result *r, const sty *s) {
  const jn_lb_info *lb = &r->lb;
  head(f, s, 7 + r->proxy_used, "LB", jn_lb_total_us(lb));
  if (!lb->served_by[0] && !lb->timing_n && !lb->request_id[0]) {
    fprintf(f, "no Server-Timing / X-Served-By in the response (not behind journey-lb?)\n");
    return;
  }
  fprintf(f, "served by %s%s%s  request id %s\n", s->b, lb->served_by[0] ? lb->served_by : "?", s->off,
          lb->request_id[0] ? lb->request_id : "-");
  if (lb->timing_n) {
    fprintf(f, "           LB phases:");
    for (size_t i = 0; i < lb->timing_n; i++) {
      char t[32] = "-";
      if (lb->timing[i].has_dur)
        ms(t, sizeof t, lb->timing[i].dur_us);
      fprintf(f, " %s %s%s", lb->timing[i].name, t, i + 1 < lb->timing_n ? "," : "");
    }
    fprintf(f, "\n");
    uint64_t lbt = jn_lb_total_us(lb);
    if (lbt && r->server_us) {
      char a[32], b[32], c[32];
      ms(a, sizeof a, r->server_us);
      ms(b, sizeof b, lbt);
      ms(c, sizeof c, r->server_us > lbt ? r->server_us - lbt : 0);
      fprintf(f, "           the client waited %s for the first byte: %s inside the LB, %s on the wire and in TLS\n", a,
              b, c);
    }
  }
  if (lb->request_id[0])
    fprintf(f, "           look it up: grep %s in the LB's access log\n", lb->request_id);
}

size_t jn_report_waterfall(char *buf, size_t len, const jn_result *r, int width) {
  /* journey's own timeline: the phases back to back, the route look-up included (on curl's
   * clock it does not count; the curl times below the waterfall leave it out). */
  struct {
    const char *name;
    uint64_t dur;
  } rows[] = {
      {"dns", r->dns_us},   {"route", r->route_us},     {"tcp", r->tcp_us},       {"proxy", r->proxy_us},
      {"tls", r->tls_us},   {"server", r->server_us},   {"transfer", r->transfer_us},
  };
  uint64_t total = 0;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    total += rows[i].dur;
  if (!total)
    total = 1;
  if (width < 10)
    width = 10;
  if (width > 200)
    width = 200;
  size_t off = 0;
  uint64_t start = 0;
  buf[0] = 0;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    if (!r->proxy_used && strcmp(rows[i].name, "proxy") == 0)
      continue; /* a row only when there is a proxy (-x) */
    char bar[208];
    int from = (int)(start * (uint64_t)width / total);
    int n = (int)((rows[i].dur * (uint64_t)width + total / 2) / total);
    start += rows[i].dur;
    if (rows[i].dur && n == 0)
      n = 1;
    if (from > width)
      from = width;
    if (from + n > width)
      n = width - from;
    memset(bar, ' ', (size_t)width);
    memset(bar + from, '#', (size_t)n);
    bar[width] = 0;
    char t[32];
    ms(t, sizeof t, rows[i].dur);
    int w = snprintf(buf + off, len > off ? len - off : 0, "  %-8s |%s| %12s\n", rows[i].name, bar, t);
    if (w < 0 || (size_t)w >= len - off)
      break;
    off += (size_t)w;
  }
  return off;
}

static void curl_times(FILE *f, const jn_result *r, const sty *s) {
  const struct {
    const char *n;
    uint64_t v;
  } t[] = {{"time_namelookup", r->t_namelookup},     {"time_connect", r->t_connect},
           {"time_appconnect", r->t_appconnect},     {"time_pretransfer", r->t_pretransfer},
           {"time_starttransfer", r->t_starttransfer}, {"time_total", r->t_total}};
  for (size_t i = 0; i < 6; i++)
    fprintf(f, "  %-19s %llu.%06llus\n", t[i].n, (unsigned long long)(t[i].v / 1000000),
            (unsigned long long)(t[i].v % 1000000));
  char u[32], d[32], rt[32];
  ms(u, sizeof u, r->url_us);
  ms(d, sizeof d, r->dns_setup_us);
  ms(rt, sizeof rt, r->route_us);
  fprintf(f, "  %s(curl's clock, as curl -w counts: journey's URL phase %s, resolver start %s and route look-up %s "
             "are outside it)%s\n",
          s->dim, u, d, rt, s->off);
}

void jn_report_human(FILE *f, const jn_result *r, const jn_report_opts *o) {
  sty s = styles(o);
  int upto = jn_report_reached(r);
  fprintf(f, "%sjourney%s %s %s://%s%s%s:%d%s%s%s\n\n", s.b, s.off, r->method, r->url.scheme,
          r->url.host_is_ip == 6 ? "[" : "", r->url.host, r->url.host_is_ip == 6 ? "]" : "", r->url.port, r->url.path,
          r->url.query[0] ? "?" : "", r->url.query);
  if (upto >= JN_PH_URL)
    human_url(f, r, o, &s);
  if (upto >= JN_PH_DNS)
    human_dns(f, r, &s);
  if (upto >= JN_PH_ROUTE)
    human_route(f, r, &s);
  if (upto >= JN_PH_TCP)
    human_tcp(f, r, &s);
  if (upto >= JN_PH_PROXY && r->proxy_used) {
    head(f, &s, 5, "proxy", r->proxy_us); /* after TCP; the later phases move up one */
    if (r->tls_used || r->proxy_status)
      fprintf(f, "CONNECT %s:%d through %s -> %d%s\n", r->url.host, r->url.port, r->proxy, r->proxy_status,
              r->proxy_status / 100 == 2 ? " (tunnel open: TLS goes end to end)" : "");
    else
      fprintf(f, "through %s: the request goes to the proxy in absolute form (no tunnel)\n", r->proxy);
  }
  if (upto >= JN_PH_TLS)
    human_tls(f, r, &s);
  if (upto >= JN_PH_HTTP)
    human_http(f, r, o, &s);
  if (upto >= JN_PH_LB)
    human_lb(f, r, &s);
  if (r->path.probed) {
    fprintf(f, "%s%d path%s     %s\n", s.b, 8 + r->proxy_used, s.off, r->path.note);
    for (int i = 0; i < r->path.hop_n; i++) {
      const struct jn_path_hop *h = &r->path.hops[i];
      char t[32];
      ms(t, sizeof t, h->rtt_us);
      if (h->addr[0])
        fprintf(f, "           TTL %-3d %-39s %12s  %s\n", h->ttl, h->addr, t,
                strcmp(h->kind, "router") == 0 ? "router: TTL ran out here (ICMP time exceeded)"
                                               : "the destination is its own address: local delivery");
      else
        fprintf(f, "           TTL %-3d %s(no answer within 1 s)%s\n", h->ttl, s.dim, s.off);
    }
  }
  if (r->exit_code != JN_EXIT_OK) {
    fprintf(f, "\n%sfailed%s in phase %s (exit %d, %s): %s\n", s.bad, s.off,
            r->failed_phase[0] ? r->failed_phase : "-", r->exit_code, jn_exit_name(r->exit_code), r->error);
    if (*jn_exit_hint(r->exit_code))
      fprintf(f, "  what to do: %s\n", jn_exit_hint(r->exit_code));
  }
  if (upto == JN_PH_N || r->exit_code == JN_EXIT_HTTP) {
    char wf[4096];
    fprintf(f, "\n");
    jn_report_waterfall(wf, sizeof wf, r, o->width ? o->width : 50);
    fputs(wf, f);
    fprintf(f, "\n");
    curl_times(f, r, &s);
  }
}

void jn_report_stats_human(FILE *f, jn_stats *st, size_t requested, int concurrency, const jn_report_opts *o) {
  sty s = styles(o);
  double secs = (double)st->wall_us / 1e6;
  /* Every request that did not reuse a kept-alive connection opened one of its own. */
  size_t done = st->n + st->failed;
  size_t opened = done > st->reused ? done - st->reused : 0;
  fprintf(f, "\n%s%zu requests%s (%zu ok, %zu failed) over %zu connection%s (%d at a time) in %.3f s: "
             "%.1f requests/s; %zu on kept-alive connections, %zu TLS resumptions\n",
          s.b, requested, s.off, st->n, st->failed, opened, opened == 1 ? "" : "s", concurrency, secs,
          secs > 0 ? (double)done / secs : 0.0, st->reused, st->resumed);
  if (st->h2_streams)
    fprintf(f, "  HTTP/2: %zu streams over %zu connection%s (%.1f per connection, up to %d at once on each)\n",
            st->h2_streams, st->h2_conns, st->h2_conns == 1 ? "" : "s",
            st->h2_conns ? (double)st->h2_streams / (double)st->h2_conns : 0.0, st->h2_at_once);
  fprintf(f, "  %-9s %11s %11s %11s %11s %11s\n", "phase", "min", "p50", "p90", "p99", "max");
  for (int p = 0; p < JN_ST_N; p++) {
    jn_summary m;
    jn_stats_summary(st, p, &m);
    char a[32], b[32], c[32], d[32], e[32];
    ms(a, sizeof a, m.min);
    ms(b, sizeof b, m.p50);
    ms(c, sizeof c, m.p90);
    ms(d, sizeof d, m.p99);
    ms(e, sizeof e, m.max);
    fprintf(f, "  %-9s %11s %11s %11s %11s %11s\n", jn_stat_names[p], a, b, c, d, e);
  }
  if (st->code_n) {
    fprintf(f, "  status:");
    for (size_t i = 0; i < st->code_n; i++)
      fprintf(f, " %d x%zu", st->code[i].code, st->code[i].count);
    fprintf(f, "\n");
  }
  size_t total = 0;
  for (size_t i = 0; i < st->backend_n; i++)
    total += st->backend[i].count;
  if (st->backend_n && !(st->backend_n == 1 && !st->backend[0].name[0])) {
    fprintf(f, "  served by (X-Served-By):\n");
    for (size_t i = 0; i < st->backend_n; i++) {
      int w = total ? (int)(st->backend[i].count * 40 / total) : 0;
      char bar[48];
      memset(bar, '#', (size_t)w);
      bar[w] = 0;
      fprintf(f, "    %-12s %6zu %5.1f%% %s\n", st->backend[i].name[0] ? st->backend[i].name : "(none)",
              st->backend[i].count, total ? 100.0 * (double)st->backend[i].count / (double)total : 0.0, bar);
    }
  }
}

void jn_report_tries_human(FILE *f, const jn_tries *t, const jn_report_opts *o) {
  if (!t || t->n < 2)
    return;
  sty s = styles(o);
  uint64_t all = 0;
  for (size_t i = 0; i < t->n; i++)
    all += t->t[i].total_us + t->t[i].wait_us;
  fprintf(f, "\n%s%zu requests%s (%d retr%s): each is a request of its own, the last one is shown above\n", s.b, t->n,
          s.off, t->retries, t->retries == 1 ? "y" : "ies");
  for (size_t i = 0; i < t->n; i++) {
    const jn_try *h = &t->t[i];
    char tot[32], d[32], c[32], l[32], sv[32], tr[32];
    ms(tot, sizeof tot, h->total_us);
    ms(d, sizeof d, h->dns_us);
    ms(c, sizeof c, h->tcp_us);
    ms(l, sizeof l, h->tls_us);
    ms(sv, sizeof sv, h->server_us);
    ms(tr, sizeof tr, h->transfer_us);
    if (h->wait_us) {
      char w[32];
      ms(w, sizeof w, h->wait_us);
      fprintf(f, "     %s(waited %s before retrying)%s\n", s.dim, w, s.off);
    }
    fprintf(f, "  %zu %-8s %s %s -> ", i + 1, h->kind, h->method, h->url);
    if (h->status)
      fprintf(f, "%d", h->status);
    else
      fprintf(f, "%sexit %d (%s)%s", s.bad, h->exit_code, jn_exit_name(h->exit_code), s.off);
    fprintf(f, "  %s (%.0f%% of all)\n", tot, all ? 100.0 * (double)h->total_us / (double)all : 0.0);
    fprintf(f, "     dns %s  tcp %s  tls %s  server %s  transfer %s%s%s\n", d, c, l, sv, tr, h->remote[0] ? "  via " : "",
            h->remote);
    if ((o->verbose || o->show_response) && h->status) { /* -i: every hop's head, as curl -i -L */
      fprintf(f, "     < HTTP/%s %d %s\n", h->http_version, h->status, h->reason);
      print_lines(f, "     < ", h->headers, strlen(h->headers));
    }
  }
}
