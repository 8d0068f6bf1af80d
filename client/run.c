#include "client/run.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "client/dns_cache.h"
#include "client/dns_pin.h"
#include "client/exit_code.h"
#include "client/request.h"
#include "client/tcp.h"
#include "client/proxy.h"
#include "client/tls_client.h"

int jn_run_tls_ctx(jn_run *run, jn_result *r) {
  if (run->ctx)
    return 0;
  const jn_opts *o = run->o;
  char err[512];
  uint64_t t0 = jc_now_us();
  int bad_cert;
  run->ctx = jn_tls_ctx(o->cacert, o->insecure, o->cert, o->key, &bad_cert, err, sizeof err);
  r->tls_setup_us = jc_now_us() - t0;
  if (!run->ctx) {
    jn_strlcpy(r->error, err, sizeof r->error);
    return r->exit_code = bad_cert ? JN_EXIT_CLIENT_CERT : o->cacert ? JN_EXIT_CACERT : JN_EXIT_TLS;
  }
  /* ALPN as curl offers it: h2 first unless HTTP/1 is asked for; --http2 offers h2 alone */
  static const unsigned char both[] = "\x02h2\x08http/1.1", h2[] = "\x02h2", h1[] = "\x08http/1.1";
  if (o->http10 || o->http11)
    SSL_CTX_set_alpn_protos(run->ctx, h1, sizeof h1 - 1);
  else if (o->http2)
    SSL_CTX_set_alpn_protos(run->ctx, h2, sizeof h2 - 1);
  else
    SSL_CTX_set_alpn_protos(run->ctx, both, sizeof both - 1);
  return 0;
}

int jn_run_tls_ca(jn_run *run, jn_result *r) {
  if (run->ca_loaded)
    return 0;
  char err[512];
  uint64_t t0 = jc_now_us();
  int rc = jn_tls_load_ca(run->ctx, run->o->cacert, err, sizeof err);
  r->tls_setup_us += jc_now_us() - t0;
  if (rc != 0) {
    jn_strlcpy(r->error, err, sizeof r->error);
    return r->exit_code = run->o->cacert ? JN_EXIT_CACERT : JN_EXIT_TLS;
  }
  run->ca_loaded = 1;
  return 0;
}

/* The request bytes (phase 1): the seed's headers, -A, -H, the body's headers. */
static int build_request(jn_run *run, jn_request *req, int absolute) {
  const jn_opts *o = run->o;
  jn_result *r = run->proto;
  jn_request_init(req, &r->url, r->method, !o->no_keepalive && !o->http10);
  if (o->http10)
    req->version = "1.0";
  req->absolute_form = absolute;
  char line[JN_REQ_HEADER_MAX + 16];
  if (o->user_agent) {
    snprintf(line, sizeof line, "User-Agent: %s", o->user_agent);
    if (jn_request_header_arg(req, line, r->error, sizeof r->error) != 0) {
      snprintf(r->failed_phase, sizeof r->failed_phase, "url");
      return r->exit_code = JN_EXIT_USAGE;
    }
  }
  if (o->body) /* curl's defaults for -d; -H may change the type */
    jn_request_header_arg(req, "Content-Type: application/x-www-form-urlencoded", r->error, sizeof r->error);
  for (size_t i = 0; i < o->header_n; i++)
    if (jn_request_header_arg(req, o->headers[i], r->error, sizeof r->error) != 0) {
      snprintf(r->failed_phase, sizeof r->failed_phase, "url");
      return r->exit_code = JN_EXIT_USAGE;
    }
  if (o->body) { /* the length is the body's, whatever -H said */
    snprintf(line, sizeof line, "Content-Length: %zu", o->body_len);
    jn_request_header_arg(req, line, r->error, sizeof r->error);
  }
  if (o->compressed && !jn_request_get(req, "Accept-Encoding"))
    jn_request_header_arg(req, "Accept-Encoding: gzip, deflate, br", r->error, sizeof r->error);
  run->req_len = jn_request_format(req, &r->url, run->req, sizeof run->req);
  if (run->req_len >= sizeof run->req) {
    snprintf(r->error, sizeof r->error, "the request is longer than %zu bytes: shorten the URL or the headers",
             sizeof run->req - 1);
    snprintf(r->failed_phase, sizeof r->failed_phase, "url");
    return r->exit_code = JN_EXIT_USAGE;
  }
  return 0;
}

int jn_run_prepare(jn_run *run, uv_loop_t *loop, const jn_opts *o) {
  memset(run, 0, sizeof *run);
  run->loop = loop;
  run->o = o;
  run->t_start = jc_now_us();
  run->proto = calloc(1, sizeof *run->proto);
  run->first = calloc(1, sizeof *run->first);
  if (!run->proto || !run->first)
    return 1;
  jn_result *r = run->proto;
  /* Phase 1: the URL and the request bytes. */
  if (jn_url_parse(o->url, &r->url, r->error, sizeof r->error) != 0) {
    snprintf(r->failed_phase, sizeof r->failed_phase, "url");
    return r->exit_code = JN_EXIT_URL;
  }
  jn_strlcpy(r->method, o->method ? o->method : o->head ? "HEAD" : o->body ? "POST" : "GET", sizeof r->method);
  jn_strlcpy(r->url_given, o->url, sizeof r->url_given);
  run->https = strcmp(r->url.scheme, "https") == 0;
  const char *np = o->noproxy ? o->noproxy : getenv("NO_PROXY") ? getenv("NO_PROXY") : getenv("no_proxy");
  const char *hp = getenv("HTTPS_PROXY") ? getenv("HTTPS_PROXY") : getenv("https_proxy");
  run->proxied = jn_proxy_pick(o->proxy, hp, getenv("http_proxy"), np, &r->url, &run->proxy, r->error,
                               sizeof r->error);
  if (run->proxied < 0) {
    snprintf(r->failed_phase, sizeof r->failed_phase, "url");
    return r->exit_code = JN_EXIT_URL;
  }
  if (run->proxied) {
    r->proxy_used = 1;
    int v6 = run->proxy.host_is_ip == 6;
    snprintf(r->proxy, sizeof r->proxy, "%s%s%s:%d", v6 ? "[" : "", run->proxy.host, v6 ? "]" : "", run->proxy.port);
  }
  for (size_t i = 0; i < o->connect_to_n && !run->proxied; i++) {
    char h2[JN_URL_HOST_MAX];
    int p2 = 0, m = jn_connect_to_match(o->connect_to[i], r->url.host, r->url.port, h2, sizeof h2, &p2);
    if (m == 1) { /* resolved and connected to instead, like a proxy's address (run_start) */
      char u[JN_URL_HOST_MAX + 32], perr[300];
      snprintf(u, sizeof u, strchr(h2, ':') ? "http://[%s]:%d/" : "http://%s:%d/", h2, p2);
      if (jn_url_parse(u, &run->proxy, perr, sizeof perr) != 0) {
        snprintf(r->error, sizeof r->error, "--connect-to %s: %s", o->connect_to[i], perr);
        snprintf(r->failed_phase, sizeof r->failed_phase, "url");
        return r->exit_code = JN_EXIT_USAGE;
      }
      run->connect_to = 1;
      snprintf(r->connect_to, sizeof r->connect_to, "%s", o->connect_to[i]);
      break;
    }
  }
  jn_request *req = malloc(sizeof *req);
  if (!req)
    return 1;
  /* without a tunnel (http through a proxy) the proxy gets the request in absolute form */
  int code = build_request(run, req, run->proxied && !run->https);
  free(req);
  if (code)
    return code;
  memcpy(r->request, run->req, run->req_len);
  r->request_len = run->req_len;
  r->url_us = jc_now_us() - run->t_start;

  /* Checked now so that a typo fails before any traffic; the CA store itself is loaded once the
   * first ClientHello is out, where curl loads it (and counts it in time_appconnect). */
  if (o->cacert && access(o->cacert, R_OK) != 0) {
    snprintf(r->error, sizeof r->error, "cannot read --cacert %s: %m", o->cacert);
    snprintf(r->failed_phase, sizeof r->failed_phase, "tls");
    return r->exit_code = JN_EXIT_CACERT;
  }
  const char *files[] = {o->cert, o->key};
  for (int i = 0; i < 2; i++)
    if (files[i] && access(files[i], R_OK) != 0) {
      snprintf(r->error, sizeof r->error, "cannot read %s %s: %m", i ? "--key" : "--cert", files[i]);
      snprintf(r->failed_phase, sizeof r->failed_phase, "tls");
      return r->exit_code = JN_EXIT_CLIENT_CERT;
    }

  if (o->dump_header && !(run->dump = strcmp(o->dump_header, "-") == 0 ? stdout
                                                 : fopen(o->dump_header, o->dump_append ? "ab" : "wb"))) {
    snprintf(r->error, sizeof r->error, "cannot open -D %s for writing: %m", o->dump_header);
    snprintf(r->failed_phase, sizeof r->failed_phase, "url");
    return r->exit_code = JN_EXIT_WRITE;
  }
  if (o->output && strcmp(o->output, "-") == 0)
    run->out = stdout; /* curl's "-o -"; the report then goes to stderr (main.c) */
  else if (o->output && !(run->out = fopen(o->output, o->out_append ? "ab" : "wb"))) {
    snprintf(r->error, sizeof r->error, "cannot open -o %s for writing: %m", o->output);
    snprintf(r->failed_phase, sizeof r->failed_phase, "url");
    return r->exit_code = JN_EXIT_WRITE;
  }
  if (jn_dns_cache_path_env(run->cache_path, sizeof run->cache_path) == 0)
    run->dopts.cache_path = run->cache_path;
  run->dopts.family = o->family;
  run->dopts.servers = o->dns_servers;
  run->dopts.pins = o->pins;
  run->dopts.pin_n = o->pin_n;
  run->dopts.no_cache = o->no_cache;
  run->dopts.hosts_file = o->hosts_file;
  if (o->connect_timeout > 0 && o->connect_timeout < 2.0)
    run->dopts.timeout_ms = (unsigned)(o->connect_timeout * 1000 / 2) + 1;
  size_t cap = o->n > 0 ? (size_t)o->n : 1;
  if (jn_stats_init(&run->stats, cap) != 0)
    return 1;
  run->t_start = jc_now_us(); /* curl's clock starts here: the URL is parsed, the bytes ready */
  return 0;
}

static void progress_draw(jn_run *run, int final) {
  long n = run->o->n;
  int w = 40, fill = n ? (int)((long)run->finished * w / n) : w;
  char bar[48];
  memset(bar, '#', (size_t)fill);
  memset(bar + fill, '.', (size_t)(w - fill));
  bar[w] = 0;
  fprintf(stderr, "\r[%s] %zu/%ld%s", bar, run->finished, n, final ? "\n" : "");
  fflush(stderr);
}

static void on_progress(uv_timer_t *t) { progress_draw(t->data, 0); }

static void stop_dns_deadline(jn_run *run) {
  if (run->dns_deadline_on) {
    run->dns_deadline_on = 0;
    uv_close((uv_handle_t *)&run->dns_deadline, NULL);
  }
}

static void on_dns(jn_dns *d, int code) {
  jn_run *run = d->data;
  jn_result *r = run->proto;
  stop_dns_deadline(run);
  run->t_start += r->dns_setup_us; /* outside curl's clock */
  r->t_namelookup = jc_now_us() - run->t_start;
  if (code) {
    if (run->proxied || run->connect_to)
      r->url = run->target;
    memcpy(run->first, r, sizeof *r);
    r->t_total = jc_now_us() - run->t_start;
    run->first->t_total = r->t_total;
    run->have_first = 1;
    run->exit_code = code;
    jn_dns_close(&run->dns);
    return;
  }
  int port = r->url.port;
  run->naddr = jn_tcp_order(r, port, run->addrs, run->lens, JN_ADDR_MAX);
  if (run->proxied || run->connect_to)
    r->url = run->target;
  jn_dns_close(&run->dns); /* handles close while we connect */
  if (run->o->progress && run->o->n > 1 && uv_timer_init(run->loop, &run->progress) == 0) {
    run->progress_on = 1;
    run->progress.data = run;
    uv_timer_start(&run->progress, on_progress, 100, 100);
  }
  run->wall_t0 = jc_now_us();
  long conns = run->o->c < 1 ? 1 : run->o->c;
  if (conns > run->o->n)
    conns = run->o->n;
  const jn_opts *o = run->o;
  int h2_possible = (run->https && !o->http10 && !o->http11) || (o->http2 && !run->proxied);
  if (h2_possible && !o->no_keepalive) { /* HTTP/2 multiplexes -c over --connections; HTTP/1.1 (the ALPN
                                          * answer) opens the rest */
    long k = o->connections > 0 ? o->connections : 1;
    if (k > conns)
      k = conns;
    run->h2_streams = (int)((conns + k - 1) / k);
    run->held_back = (int)(conns - k);
    conns = k;
  }
  for (long i = 0; i < conns; i++)
    if (jn_conn_spawn(run) != 0)
      break;
}

static void on_dns_deadline(uv_timer_t *t) {
  jn_run *run = t->data;
  jn_result *r = run->proto;
  const jn_opts *o = run->o;
  int by_connect = o->connect_timeout > 0 && (o->max_time <= 0 || o->connect_timeout < o->max_time);
  snprintf(r->error, sizeof r->error, "timed out after %.3f s during the dns phase (%s)",
           by_connect ? o->connect_timeout : o->max_time, by_connect ? "--connect-timeout" : "--max-time");
  r->exit_code = JN_EXIT_TIMEOUT;
  jn_strlcpy(r->failed_phase, "dns", sizeof r->failed_phase);
  r->dns_us = jc_now_us() - run->dns.t0;
  jn_dns_close(&run->dns); /* no done callback after this */
  on_dns(&run->dns, JN_EXIT_TIMEOUT);
}

void jn_run_start(jn_run *run) {
  run->dns.data = run;
  run->dns_started = 1;
  const jn_opts *o = run->o;
  double limit = o->max_time;
  if (o->connect_timeout > 0 && (limit <= 0 || o->connect_timeout < limit))
    limit = o->connect_timeout;
  if (limit > 0 && uv_timer_init(run->loop, &run->dns_deadline) == 0) {
    run->dns_deadline_on = 1;
    run->dns_deadline.data = run;
    uv_timer_start(&run->dns_deadline, on_dns_deadline, (uint64_t)(limit * 1000) + 1, 0);
  }
  if (run->proxied || run->connect_to) { /* the DNS phase resolves the proxy (or --connect-to's host);
                                          * on_dns puts the server's URL back */
    run->target = run->proto->url;
    run->proto->url = run->proxy;
  }
  jn_dns_start(&run->dns, run->loop, &run->dopts, run->proto, on_dns);
}

int jn_run_request_done(jn_run *run, jn_result *r) {
  if (r) {
    run->finished++;
    jn_stats_add(&run->stats, r);
    if (!run->have_first) {
      memcpy(run->first, r, sizeof *r);
      run->have_first = 1;
    }
    if (r->exit_code && !run->exit_code)
      run->exit_code = r->exit_code;
  }
  if (run->issued < (size_t)run->o->n) {
    run->issued++;
    return 1;
  }
  return 0;
}

void jn_run_unclaim(jn_run *run) {
  if (run->issued)
    run->issued--;
}

void jn_run_h1_spread(jn_run *run) {
  int n = run->held_back;
  run->held_back = 0;
  for (int i = 0; i < n; i++)
    if (jn_conn_spawn(run) != 0)
      break;
}

void jn_run_conn_closed(jn_run *run) {
  if (--run->active > 0)
    return;
  run->stats.wall_us = jc_now_us() - run->wall_t0;
  if (run->progress_on) {
    run->progress_on = 0;
    uv_close((uv_handle_t *)&run->progress, NULL);
    progress_draw(run, 1);
  }
}

void jn_run_free(jn_run *run) {
  if (run->ctx)
    jn_tls_ctx_free(run->ctx);
  if (run->out && run->out != stdout)
    fclose(run->out);
  if (run->dump && run->dump != stdout)
    fclose(run->dump);
  jn_stats_free(&run->stats);
  free(run->proto);
  free(run->first);
}
