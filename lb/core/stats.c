/* Histograms and the /stats (JSON) and /metrics (Prometheus) formatting (pure). */
#include "lb/core/stats.h"
#include "lb/core/textout.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const lb_stats_proto_names[LB_PROTO_COUNT] = {"http/1.1", "h2"};

const char *const lb_stats_h2_names[LB_H2_NCOUNTERS] = {
    "connections", "streams", "client_resets", "rapid_reset_goaway", "continuation_flood",
    "header_list_too_large", "flood", "protocol_error", "hpack_bomb_goaway", "websockets",
    "max_concurrent_streams"};

const uint64_t lb_hist_bounds_us[LB_HIST_BUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
    5000000, 10000000};

void lb_hist_observe(lb_hist *h, uint64_t us) {
  int i = 0;
  while (i < LB_HIST_BUCKETS && us > lb_hist_bounds_us[i])
    i++;
  atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

static void hist_reset(lb_hist *h) {
  for (int i = 0; i <= LB_HIST_BUCKETS; i++)
    atomic_store_explicit(&h->bucket[i], 0, memory_order_relaxed);
  atomic_store_explicit(&h->sum_us, 0, memory_order_relaxed);
}

void lb_srv_metrics_reset(lb_srv_metrics *m) {
  hist_reset(&m->request);
  hist_reset(&m->connect);
  for (int i = 0; i < LB_STATUS_COUNT; i++)
    atomic_store_explicit(&m->status[i], 0, memory_order_relaxed);
  atomic_store_explicit(&m->err_connect, 0, memory_order_relaxed);
  atomic_store_explicit(&m->err_timeout, 0, memory_order_relaxed);
  atomic_store_explicit(&m->err_reset, 0, memory_order_relaxed);
  atomic_store_explicit(&m->retries, 0, memory_order_relaxed);
}

void lb_hist_snapshot(const lb_hist *h, lb_hist_snap *out) {
  for (int i = 0; i <= LB_HIST_BUCKETS; i++)
    out->bucket[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
  out->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
}

uint64_t lb_hist_count(const lb_hist_snap *h) {
  uint64_t n = 0;
  for (int i = 0; i <= LB_HIST_BUCKETS; i++)
    n += h->bucket[i];
  return n;
}

uint64_t lb_hist_quantile_us(const lb_hist_snap *h, double q) {
  uint64_t n = lb_hist_count(h);
  if (!n)
    return 0;
  if (q <= 0)
    q = 0.000001;
  if (q > 1)
    q = 1;
  double rank = q * (double)n;
  uint64_t seen = 0;
  for (int i = 0; i <= LB_HIST_BUCKETS; i++) {
    if (!h->bucket[i])
      continue;
    if ((double)(seen + h->bucket[i]) >= rank) {
      if (i == LB_HIST_BUCKETS)
        return lb_hist_bounds_us[LB_HIST_BUCKETS - 1];
      double lo = i ? (double)lb_hist_bounds_us[i - 1] : 0.0;
      double hi = (double)lb_hist_bounds_us[i];
      double frac = (rank - (double)seen) / (double)h->bucket[i];
      return (uint64_t)(lo + (hi - lo) * frac + 0.5);
    }
    seen += h->bucket[i];
  }
  return lb_hist_bounds_us[LB_HIST_BUCKETS - 1];
}

/* ---- admin decisions ---- */

int lb_admin_is_azure_probe(const char *ip) { return ip && !strcmp(ip, "168.63.129.16"); }

int lb_admin_healthz(int draining, int pools_with_up, const char **reason) {
  if (draining) {
    *reason = "draining: shutting down";
    return 503;
  }
  if (pools_with_up == 0) {
    *reason = "no backend server is UP";
    return 503;
  }
  *reason = "ok";
  return 200;
}

/* ---- output helpers ---- */


/* JSON string with escapes (names are already restricted, but addresses and check results come
 * from the network). */
static void json_str(lb_textout *o, const char *s) {
  lb_puts(o, "\"");
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      char e[2] = {'\\', (char)ch};
      lb_put(o, e, 2);
    } else if (ch < 0x20) {
      lb_putf(o, "\\u%04x", ch);
    } else {
      lb_put(o, (const char *)&ch, 1);
    }
  }
  lb_puts(o, "\"");
}

/* Prometheus label value: backslash, double quote and newline escaped. */
static void prom_label(lb_textout *o, const char *s) {
  lb_puts(o, "\"");
  for (; s && *s; s++) {
    if (*s == '\\')
      lb_puts(o, "\\\\");
    else if (*s == '"')
      lb_puts(o, "\\\"");
    else if (*s == '\n')
      lb_puts(o, "\\n");
    else
      lb_put(o, s, 1);
  }
  lb_puts(o, "\"");
}

static void ms3(lb_textout *o, uint64_t us) { lb_putf(o, "%llu.%03llu", (unsigned long long)(us / 1000), (unsigned long long)(us % 1000)); }

/* ---- /stats JSON ---- */

static void json_hist(lb_textout *o, const char *key, const lb_hist_snap *h) {
  lb_putf(o, "\"%s\":{\"count\":%llu,\"p50\":", key, (unsigned long long)lb_hist_count(h));
  ms3(o, lb_hist_quantile_us(h, 0.50));
  lb_puts(o, ",\"p90\":");
  ms3(o, lb_hist_quantile_us(h, 0.90));
  lb_puts(o, ",\"p99\":");
  ms3(o, lb_hist_quantile_us(h, 0.99));
  lb_puts(o, "}");
}

int lb_stats_json(const lb_stats *s, jc_buf *b) {
  lb_textout o = {b, 0};
  lb_puts(&o, "{\"version\":");
  json_str(&o, s->version);
  lb_puts(&o, ",\"build\":");
  json_str(&o, s->build);
  lb_putf(&o, ",\"start_time\":%llu", (unsigned long long)s->start_unix_s);
  lb_putf(&o, ",\"draining\":%s,\"uptime_s\":%llu,\"connections_active\":%llu,"
           "\"tunnels\":{\"open\":%llu,\"total\":%llu},\"reloads\":%llu,"
           "\"reload_failures\":%llu,\"listeners\":[",
       s->draining ? "true" : "false", (unsigned long long)s->uptime_s,
       (unsigned long long)s->connections_active, (unsigned long long)s->tunnels_open,
       (unsigned long long)s->tunnels_total, (unsigned long long)s->reloads,
       (unsigned long long)s->reload_failures);
  for (int i = 0; i < s->nlisteners; i++) {
    const lb_stats_listener *l = &s->listeners[i];
    lb_puts(&o, i ? ",{\"address\":" : "{\"address\":");
    json_str(&o, l->address);
    lb_putf(&o, ",\"connections\":%llu,\"tls_handshakes\":%llu}", (unsigned long long)l->connections,
         (unsigned long long)l->tls_handshakes);
  }
  lb_puts(&o, "],\"h2\":{");
  for (int i = 0; i < LB_H2_NCOUNTERS; i++)
    lb_putf(&o, "%s\"%s\":%llu", i ? "," : "", lb_stats_h2_names[i], (unsigned long long)s->h2[i]);
  lb_putf(&o, "},\"protocols\":{\"http/1.1\":{\"requests\":%llu},\"h2\":{\"requests\":%llu,"
              "\"connections_open\":%llu,\"streams_open\":%llu}",
          (unsigned long long)s->requests_by_proto[LB_PROTO_HTTP1],
          (unsigned long long)s->requests_by_proto[LB_PROTO_H2],
          (unsigned long long)s->h2_conns_open, (unsigned long long)s->h2_streams_open);
  lb_puts(&o, "},\"pools\":[");
  for (int p = 0; p < s->npools; p++) {
    const lb_stats_pool *pl = &s->pools[p];
    lb_puts(&o, p ? ",{\"name\":" : "{\"name\":");
    json_str(&o, pl->name);
    lb_puts(&o, ",\"algorithm\":");
    json_str(&o, pl->algorithm);
    if (pl->hash_key) {
      lb_puts(&o, ",\"hash_key\":");
      json_str(&o, pl->hash_key);
    }
    lb_puts(&o, ",\"check\":");
    json_str(&o, pl->check);
    lb_putf(&o, ",\"no_server\":%llu,\"servers\":[", (unsigned long long)pl->no_server);
    for (int i = 0; i < pl->nservers; i++) {
      const lb_stats_server *v = &pl->servers[i];
      lb_puts(&o, i ? ",{\"name\":" : "{\"name\":");
      json_str(&o, v->name);
      lb_puts(&o, ",\"address\":");
      json_str(&o, v->address);
      lb_puts(&o, ",\"state\":");
      json_str(&o, v->state);
      lb_puts(&o, ",\"health\":");
      json_str(&o, v->health);
      lb_puts(&o, ",\"source\":");
      json_str(&o, v->source);
      lb_putf(&o, ",\"weight\":%d,\"active\":%llu,\"requests\":%llu,\"failures\":%llu,"
               "\"responses_5xx\":%llu,\"ejected\":%s,\"ejections\":%llu,\"last_check\":{\"result\":",
           v->weight, (unsigned long long)v->active, (unsigned long long)v->requests,
           (unsigned long long)v->failures, (unsigned long long)v->responses_5xx,
           v->ejected ? "true" : "false", (unsigned long long)v->ejections);
      json_str(&o, v->last_check);
      lb_puts(&o, ",\"duration_ms\":");
      ms3(&o, v->last_check_us);
      if (v->last_check_age_ms != UINT64_MAX)
        lb_putf(&o, ",\"age_ms\":%llu", (unsigned long long)v->last_check_age_ms);
      lb_puts(&o, ",\"recent\":");
      json_str(&o, v->strip);
      lb_putf(&o, "},\"since_ms\":%llu,\"retries\":%llu,\"errors\":{\"connect\":%llu,"
               "\"timeout\":%llu,\"reset\":%llu,\"4xx\":%llu,\"5xx\":%llu},\"last_minute\":{",
           (unsigned long long)v->since_ms, (unsigned long long)v->retries,
           (unsigned long long)v->err_connect, (unsigned long long)v->err_timeout,
           (unsigned long long)v->err_reset, (unsigned long long)lb_stats_class(v, 4),
           (unsigned long long)lb_stats_class(v, 5));
      static const char *const kinds[3] = {"connect_ms", "headers_ms", "total_ms"};
      for (int k = 0; k < 3; k++) {
        lb_putf(&o, "%s\"%s\":{\"count\":%llu,\"p50\":", k ? "," : "", kinds[k],
             (unsigned long long)v->lat_count[k]);
        ms3(&o, v->lat_p50_us[k]);
        lb_puts(&o, ",\"p99\":");
        ms3(&o, v->lat_p99_us[k]);
        lb_puts(&o, "}");
      }
      lb_puts(&o, "},\"responses\":{");
      int first = 1;
      for (int k = 0; k < LB_STATUS_COUNT; k++)
        if (v->status[k]) {
          lb_putf(&o, "%s\"%d\":%llu", first ? "" : ",", k + LB_STATUS_MIN,
               (unsigned long long)v->status[k]);
          first = 0;
        }
      lb_puts(&o, "},");
      json_hist(&o, "latency_ms", &v->request);
      lb_puts(&o, ",");
      json_hist(&o, "connect_ms", &v->connect);
      lb_puts(&o, "}");
    }
    lb_puts(&o, "]}");
  }
  lb_puts(&o, "]}\n");
  return o.failed ? -1 : 0;
}

uint64_t lb_stats_class(const lb_stats_server *v, int cls) {
  uint64_t n = 0;
  for (int k = (cls - 1) * 100; k < cls * 100 && k < LB_STATUS_COUNT; k++)
    n += v->status[k];
  return n;
}

static void timer_ms(lb_textout *o, const char *key, int64_t us) {
  lb_putf(o, ",\"%s\":", key);
  if (us < 0)
    lb_puts(o, "null");
  else
    ms3(o, (uint64_t)us);
}

int lb_stats_requests_json(const lb_stats *s, jc_buf *b) {
  lb_textout o = {b, 0};
  lb_puts(&o, "{\"requests\":[");
  for (int i = 0; i < s->nrecent; i++) {
    const lb_stats_request *r = &s->recent[i];
    lb_puts(&o, i ? ",{\"id\":" : "{\"id\":");
    json_str(&o, r->id);
    lb_putf(&o, ",\"ended\":%llu.%03llu,\"method\":", (unsigned long long)(r->ended_unix_ms / 1000),
         (unsigned long long)(r->ended_unix_ms % 1000));
    json_str(&o, r->method);
    lb_puts(&o, ",\"path\":");
    json_str(&o, r->path);
    lb_puts(&o, ",\"proto\":");
    json_str(&o, r->proto ? r->proto : "");
    lb_putf(&o, ",\"status\":%d,\"retries\":%d,\"pool\":", r->status, r->retries);
    json_str(&o, r->pool);
    lb_puts(&o, ",\"backend\":");
    json_str(&o, r->server);
    lb_puts(&o, ",\"timers_ms\":{\"Th\":");
    if (r->Th < 0)
      lb_puts(&o, "null");
    else
      ms3(&o, (uint64_t)r->Th);
    timer_ms(&o, "Ti", r->Ti);
    timer_ms(&o, "TR", r->TR);
    timer_ms(&o, "Tw", r->Tw);
    timer_ms(&o, "Tc", r->Tc);
    timer_ms(&o, "Tr", r->Tr);
    timer_ms(&o, "Td", r->Td);
    timer_ms(&o, "Tt", r->Tt);
    lb_puts(&o, "}}");
  }
  lb_puts(&o, "]}\n");
  return o.failed ? -1 : 0;
}

int lb_stats_put_json_str(jc_buf *b, const char *s) {
  lb_textout o = {b, 0};
  json_str(&o, s);
  return o.failed ? -1 : 0;
}

/* ---- /metrics Prometheus ---- */

static void family(lb_textout *o, const char *name, const char *type, const char *help) {
  lb_putf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void srv_labels(lb_textout *o, const char *pool, const lb_stats_server *v) {
  lb_puts(o, "pool=");
  prom_label(o, pool);
  lb_puts(o, ",server=");
  prom_label(o, v->name);
}

/* One counter or gauge per server, value picked by `get`. */
static void per_server(lb_textout *o, const lb_stats *s, const char *name, const char *type,
                       const char *help, uint64_t (*get)(const lb_stats_server *)) {
  family(o, name, type, help);
  for (int p = 0; p < s->npools; p++)
    for (int i = 0; i < s->pools[p].nservers; i++) {
      const lb_stats_server *v = &s->pools[p].servers[i];
      lb_putf(o, "%s{", name);
      srv_labels(o, s->pools[p].name, v);
      lb_putf(o, "} %llu\n", (unsigned long long)get(v));
    }
}

static uint64_t get_up(const lb_stats_server *v) { return !strcmp(v->state, "UP"); }
static uint64_t get_active(const lb_stats_server *v) { return v->active; }
static uint64_t get_failures(const lb_stats_server *v) { return v->failures; }
static uint64_t get_ejections(const lb_stats_server *v) { return v->ejections; }
static uint64_t get_weight(const lb_stats_server *v) { return (uint64_t)v->weight; }

static void seconds(lb_textout *o, uint64_t us) {
  lb_putf(o, "%llu.%06llu", (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));
}

static void histogram(lb_textout *o, const lb_stats *s, const char *name, const char *help,
                      int connect) {
  family(o, name, "histogram", help);
  for (int p = 0; p < s->npools; p++)
    for (int i = 0; i < s->pools[p].nservers; i++) {
      const lb_stats_server *v = &s->pools[p].servers[i];
      const lb_hist_snap *h = connect ? &v->connect : &v->request;
      uint64_t cum = 0;
      for (int k = 0; k <= LB_HIST_BUCKETS; k++) {
        cum += h->bucket[k];
        lb_putf(o, "%s_bucket{", name);
        srv_labels(o, s->pools[p].name, v);
        if (k < LB_HIST_BUCKETS)
          lb_putf(o, ",le=\"%g\"} %llu\n", (double)lb_hist_bounds_us[k] / 1e6,
               (unsigned long long)cum);
        else
          lb_putf(o, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
      }
      lb_putf(o, "%s_sum{", name);
      srv_labels(o, s->pools[p].name, v);
      lb_puts(o, "} ");
      seconds(o, h->sum_us);
      lb_putf(o, "\n%s_count{", name);
      srv_labels(o, s->pools[p].name, v);
      lb_putf(o, "} %llu\n", (unsigned long long)cum);
    }
}

int lb_stats_prometheus(const lb_stats *s, jc_buf *b) {
  lb_textout o = {b, 0};
  family(&o, "journey_build_info", "gauge", "Always 1; the labels say which build runs.");
  lb_puts(&o, "journey_build_info{version=");
  prom_label(&o, s->version);
  lb_puts(&o, ",build=");
  prom_label(&o, s->build);
  lb_puts(&o, "} 1\n");
  family(&o, "journey_start_time_seconds", "gauge", "Start time of the process since the Unix "
         "epoch, in seconds.");
  lb_putf(&o, "journey_start_time_seconds %llu\n", (unsigned long long)s->start_unix_s);
  family(&o, "journey_draining", "gauge", "1 while the load balancer drains after SIGTERM.");
  lb_putf(&o, "journey_draining %d\n", s->draining ? 1 : 0);
  family(&o, "journey_uptime_seconds", "gauge", "Seconds since start.");
  lb_putf(&o, "journey_uptime_seconds %llu\n", (unsigned long long)s->uptime_s);
  family(&o, "journey_connections_active", "gauge", "Open client connections.");
  lb_putf(&o, "journey_connections_active %llu\n", (unsigned long long)s->connections_active);
  family(&o, "journey_lb_tunnels_open", "gauge", "Open WebSocket tunnels.");
  lb_putf(&o, "journey_lb_tunnels_open %llu\n", (unsigned long long)s->tunnels_open);
  family(&o, "journey_lb_tunnels_total", "counter", "WebSocket tunnels opened.");
  lb_putf(&o, "journey_lb_tunnels_total %llu\n", (unsigned long long)s->tunnels_total);
  family(&o, "journey_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.");
  lb_putf(&o, "journey_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)s->reloads);
  lb_putf(&o, "journey_reloads_total{result=\"failed\"} %llu\n",
       (unsigned long long)s->reload_failures);

  family(&o, "journey_h2_events_total", "counter", "HTTP/2: connections, streams, client "
         "resets, and what each limit refused.");
  for (int i = 0; i < LB_H2_NCOUNTERS; i++)
    lb_putf(&o, "journey_h2_events_total{event=\"%s\"} %llu\n", lb_stats_h2_names[i],
            (unsigned long long)s->h2[i]);

  family(&o, "journey_lb_requests_by_proto_total", "counter",
         "Client requests by protocol (an HTTP/2 stream is one request).");
  for (int i = 0; i < LB_PROTO_COUNT; i++)
    lb_putf(&o, "journey_lb_requests_by_proto_total{proto=\"%s\"} %llu\n", lb_stats_proto_names[i],
            (unsigned long long)s->requests_by_proto[i]);
  family(&o, "journey_lb_h2_connections_open", "gauge", "Open HTTP/2 client connections.");
  lb_putf(&o, "journey_lb_h2_connections_open %llu\n", (unsigned long long)s->h2_conns_open);
  family(&o, "journey_lb_h2_streams_open", "gauge", "Open HTTP/2 streams (requests in flight).");
  lb_putf(&o, "journey_lb_h2_streams_open %llu\n", (unsigned long long)s->h2_streams_open);

  family(&o, "journey_listener_connections_total", "counter", "Client connections accepted.");
  for (int i = 0; i < s->nlisteners; i++) {
    lb_puts(&o, "journey_listener_connections_total{listener=");
    prom_label(&o, s->listeners[i].address);
    lb_putf(&o, "} %llu\n", (unsigned long long)s->listeners[i].connections);
  }
  family(&o, "journey_listener_tls_handshakes_total", "counter", "TLS handshakes completed.");
  for (int i = 0; i < s->nlisteners; i++) {
    lb_puts(&o, "journey_listener_tls_handshakes_total{listener=");
    prom_label(&o, s->listeners[i].address);
    lb_putf(&o, "} %llu\n", (unsigned long long)s->listeners[i].tls_handshakes);
  }

  per_server(&o, s, "journey_backend_up", "gauge", "1 when the server receives new requests.",
             get_up);
  per_server(&o, s, "journey_backend_weight", "gauge", "Configured weight of the server.",
             get_weight);
  per_server(&o, s, "journey_backend_active_requests", "gauge", "Requests in flight.",
             get_active);
  per_server(&o, s, "journey_backend_failures_total", "counter",
             "Connect failures, timeouts and resets.", get_failures);
  per_server(&o, s, "journey_backend_ejections_total", "counter",
             "Passive health check ejections.", get_ejections);

  family(&o, "journey_backend_check_duration_seconds", "gauge",
         "Duration of the last active health check.");
  for (int p = 0; p < s->npools; p++)
    for (int i = 0; i < s->pools[p].nservers; i++) {
      const lb_stats_server *v = &s->pools[p].servers[i];
      lb_puts(&o, "journey_backend_check_duration_seconds{");
      srv_labels(&o, s->pools[p].name, v);
      lb_puts(&o, "} ");
      seconds(&o, v->last_check_us);
      lb_puts(&o, "\n");
    }

  family(&o, "journey_requests_total", "counter", "Responses by pool, server and status code.");
  for (int p = 0; p < s->npools; p++)
    for (int i = 0; i < s->pools[p].nservers; i++) {
      const lb_stats_server *v = &s->pools[p].servers[i];
      for (int k = 0; k < LB_STATUS_COUNT; k++)
        if (v->status[k]) {
          lb_puts(&o, "journey_requests_total{");
          srv_labels(&o, s->pools[p].name, v);
          lb_putf(&o, ",code=\"%d\"} %llu\n", k + LB_STATUS_MIN, (unsigned long long)v->status[k]);
        }
    }
  family(&o, "journey_pool_no_server_total", "counter",
         "Requests answered 503 because no server of the pool was UP.");
  for (int p = 0; p < s->npools; p++) {
    lb_puts(&o, "journey_pool_no_server_total{pool=");
    prom_label(&o, s->pools[p].name);
    lb_putf(&o, "} %llu\n", (unsigned long long)s->pools[p].no_server);
  }
  histogram(&o, s, "journey_request_duration_seconds",
            "Request headers received to response complete, per server.", 0);
  histogram(&o, s, "journey_backend_connect_seconds", "Time to connect to the server.", 1);
  return o.failed ? -1 : 0;
}
