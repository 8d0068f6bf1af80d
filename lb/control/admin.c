/* Admin listener (loopback by default, --admin IP:PORT) on the control loop:
 *   GET /healthz           200 while a pool has a server UP and no drain is under way, else 503:
 *                          the target of an upstream L4 balancer's probe (Azure LB)
 *   GET /stats             JSON: listeners, pools, servers (lb/stats.c)
 *   GET /metrics           Prometheus text format 0.0.4
 *   POST /servers/NAME     body drain|disable|enable (or POST /servers/NAME/ACTION)
 * One request per connection (Connection: close), requests limited to 8 KiB and 5 s.
 * Every admin request is logged on stdout (msg=admin) except Azure's probes (source
 * 168.63.129.16), which would otherwise fill the log every few seconds, and GET /healthz, which
 * is logged at debug. */
#include "lb/control/control.h"

#include "common/addr.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_REQ_MAX 8192
#define ADMIN_TIMEOUT_MS 5000
#define ADMIN_OUT_MAX (8u * 1024 * 1024)

typedef struct admin_conn admin_conn;

struct lb_admin {
  lb_control *ctl;
  uv_tcp_t tcp;
  char addr[LB_NAME_MAX];
  admin_conn *conns; /* open connections: closed with the listener at shutdown */
};

struct admin_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wreq;
  lb_control *ctl;
  lb_admin *ad;
  admin_conn *next, *prev;
  int handles;
  int responded;
  llhttp_t parser;
  char url[512];
  size_t url_len;
  char body[64];
  size_t body_len;
  char peer[64];
  char in[ADMIN_REQ_MAX];
  size_t in_len;
  jc_buf out;
};

static void on_conn_closed(uv_handle_t *h) {
  admin_conn *a = h->data;
  if (--a->handles > 0)
    return;
  jc_buf_free(&a->out);
  free(a);
}

static void conn_close(admin_conn *a) {
  if (uv_is_closing((uv_handle_t *)&a->tcp))
    return;
  if (a->ad) {
    if (a->prev)
      a->prev->next = a->next;
    else
      a->ad->conns = a->next;
    if (a->next)
      a->next->prev = a->prev;
    a->ad = NULL;
  }
  uv_close((uv_handle_t *)&a->tcp, on_conn_closed);
  uv_close((uv_handle_t *)&a->timer, on_conn_closed);
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  conn_close(req->data);
}

static void respond(admin_conn *a, int status, const char *ctype, const char *body, size_t len,
                    int head_only) {
  static const char *const reasons[] = {"OK", "Bad Request", "Not Found", "Method Not Allowed",
                                        "Conflict", "Service Unavailable", "Internal Server Error"};
  const char *reason = status == 200 ? reasons[0] : status == 400 ? reasons[1]
                       : status == 404 ? reasons[2] : status == 405 ? reasons[3]
                       : status == 409 ? reasons[4] : status == 503 ? reasons[5] : reasons[6];
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                   status, reason, ctype, len);
  jc_buf_reset(&a->out, 0);
  if (jc_buf_append(&a->out, head, (size_t)n) != 0 ||
      (!head_only && jc_buf_append(&a->out, body, len) != 0)) {
    conn_close(a);
    return;
  }
  a->responded = status;
  uv_timer_stop(&a->timer);
  uv_buf_t b = uv_buf_init((char *)jc_buf_peek(&a->out), (unsigned)jc_buf_len(&a->out));
  a->wreq.data = a;
  if (uv_write(&a->wreq, (uv_stream_t *)&a->tcp, &b, 1, on_written) != 0)
    conn_close(a);
}

static void text(admin_conn *a, int status, const char *msg, int head_only) {
  respond(a, status, "text/plain; charset=utf-8", msg, strlen(msg), head_only);
}

/* ---- snapshot ---- */

typedef struct snap {
  lb_stats s;
  lb_stats_listener listeners[LB_MAX_LISTENERS];
  lb_stats_pool pools[LB_MAX_POOLS];
  char checks[LB_MAX_POOLS][300];
  char hash_keys[LB_MAX_POOLS][LB_HASH_KEY_NAME_MAX + 8];
} snap;

static int snapshot(lb_control *ctl, snap *sn) {
  lb_runtime *rt = ctl->rt;
  memset(sn, 0, sizeof *sn);
  sn->s.version = JOURNEY_VERSION;
  sn->s.draining = atomic_load(&ctl->draining);
  sn->s.uptime_s = (jc_now_us() - ctl->started_us) / 1000000;
  sn->s.connections_active = atomic_load(&rt->conns_active);
  sn->s.reloads = ctl->reloads;
  sn->s.reload_failures = ctl->reload_failures;
  sn->s.nlisteners = rt->cfg.nlisteners;
  sn->s.listeners = sn->listeners;
  for (int i = 0; i < rt->cfg.nlisteners; i++) {
    sn->listeners[i].address = rt->cfg.listeners[i].text;
    sn->listeners[i].connections = atomic_load(&rt->listener_conns[i]);
    sn->listeners[i].tls_handshakes = atomic_load(&rt->listener_tls[i]);
  }
  sn->s.npools = rt->npools;
  sn->s.pools = sn->pools;
  for (int p = 0; p < rt->npools; p++) {
    lb_pool *pool = &rt->pools[p];
    lb_ctl_pool *cp = &ctl->pools[p];
    lb_stats_pool *sp = &sn->pools[p];
    sp->name = pool->name;
    sp->algorithm = lb_algo_name(pool->algo);
    sp->hash_key = pool->ops->keyed ? lb_hash_key_describe(&pool->hash_key, sn->hash_keys[p],
                                                           sizeof sn->hash_keys[p])
                                    : NULL;
    lb_health_cfg_describe(&cp->hc, sn->checks[p], sizeof sn->checks[p]);
    sp->check = sn->checks[p];
    sp->no_server = atomic_load(&pool->no_server);
    int n = atomic_load(&pool->nservers);
    sp->servers = calloc(n ? (size_t)n : 1, sizeof *sp->servers);
    if (!sp->servers)
      return -1;
    for (int i = 0; i < n; i++) {
      lb_slot *sl = &cp->slots[i];
      lb_server *s = &pool->servers[i];
      if (!sl->in_use)
        continue;
      lb_stats_server *v = &sp->servers[sp->nservers++];
      v->name = s->name;
      v->address = s->addr_text;
      v->state = lb_server_state_name(atomic_load(&s->state));
      v->health = cp->hc.type == LB_CHECK_NONE ? "off" : lb_health_state_name(sl->sm.state);
      v->last_check = sl->last;
      v->last_check_us = sl->last_us;
      v->source = sl->from_dns ? "dns" : "static";
      v->weight = s->weight;
      v->ejected = lb_outlier_is_ejected(&sl->out);
      v->ejections = sl->out.total;
      v->active = (uint64_t)atomic_load(&s->active);
      v->requests = atomic_load(&s->requests);
      v->failures = atomic_load(&s->failures);
      v->responses_5xx = atomic_load(&s->responses_5xx);
      for (int k = 0; k < LB_STATUS_COUNT; k++)
        v->status[k] = atomic_load_explicit(&s->m.status[k], memory_order_relaxed);
      lb_hist_snapshot(&s->m.request, &v->request);
      lb_hist_snapshot(&s->m.connect, &v->connect);
    }
  }
  return 0;
}

static void snapshot_free(snap *sn) {
  for (int p = 0; p < sn->s.npools; p++)
    free(sn->pools[p].servers);
}

static void serve_stats(admin_conn *a, int prometheus, int head_only) {
  snap *sn = malloc(sizeof *sn);
  if (!sn || snapshot(a->ctl, sn) != 0) {
    if (sn)
      snapshot_free(sn);
    free(sn);
    text(a, 500, "out of memory\n", head_only);
    return;
  }
  jc_buf body;
  jc_buf_init(&body, ADMIN_OUT_MAX);
  int r = prometheus ? lb_stats_prometheus(&sn->s, &body) : lb_stats_json(&sn->s, &body);
  snapshot_free(sn);
  free(sn);
  if (r != 0)
    text(a, 500, "statistics larger than the admin output limit\n", head_only);
  else
    respond(a, 200, prometheus ? "text/plain; version=0.0.4; charset=utf-8" : "application/json",
            jc_buf_peek(&body), jc_buf_len(&body), head_only);
  jc_buf_free(&body);
}

/* POST /servers/NAME[/ACTION]: the action is the last path part or the body. */
static void serve_server_action(admin_conn *a, const char *rest) {
  lb_control *ctl = a->ctl;
  char name[LB_NAME_MAX * 2], action[32];
  size_t rl = strlen(rest);
  if (rl >= sizeof name) {
    text(a, 404, "no server with this name (see GET /stats)\n", 0);
    return;
  }
  memcpy(name, rest, rl + 1);
  char *slash = strchr(name, '/');
  if (slash) {
    *slash = 0;
    snprintf(action, sizeof action, "%.31s", slash + 1);
  } else {
    size_t n = a->body_len;
    while (n && (a->body[n - 1] == '\n' || a->body[n - 1] == '\r' || a->body[n - 1] == ' '))
      n--;
    snprintf(action, sizeof action, "%.*s", (int)n, a->body);
  }
  int target;
  if (!strcmp(action, "drain"))
    target = LB_SRV_DRAIN;
  else if (!strcmp(action, "disable"))
    target = LB_SRV_MAINT;
  else if (!strcmp(action, "enable"))
    target = 0;
  else {
    text(a, 400, "unknown action: send drain, disable or enable (POST /servers/NAME with the "
                 "action as body, or POST /servers/NAME/ACTION)\n", 0);
    return;
  }
  char out[1024];
  size_t len = 0;
  int found = 0;
  for (int p = 0; p < ctl->rt->npools; p++) {
    lb_pool *pool = &ctl->rt->pools[p];
    int n = atomic_load(&pool->nservers);
    for (int i = 0; i < n; i++) {
      lb_slot *sl = &ctl->pools[p].slots[i];
      lb_server *s = &pool->servers[i];
      if (!sl->in_use || strcmp(s->name, name) != 0)
        continue;
      const char *before = lb_server_state_name(atomic_load(&s->state));
      sl->admin = target;
      lb_control_publish(ctl, p, i);
      const char *after = lb_server_state_name(atomic_load(&s->state));
      jc_log(JC_LOG_INFO, "admin: %s server %s (pool %s, %s): %s -> %s, %d request(s) in flight "
             "(from %s)", action, s->name, pool->name, s->addr_text, before, after,
             atomic_load(&s->active), a->peer);
      int w = snprintf(out + len, sizeof out - len, "%s{\"pool\":\"%s\",\"name\":\"%s\",\"state\":\"%s\"}",
                       found ? "," : "[", pool->name, s->name, after);
      if (w > 0 && (size_t)w < sizeof out - len)
        len += (size_t)w;
      found++;
    }
  }
  if (!found) {
    text(a, 404, "no server with this name (see GET /stats)\n", 0);
    return;
  }
  if (len + 2 < sizeof out) {
    out[len++] = ']';
    out[len++] = '\n';
  }
  respond(a, 200, "application/json", out, len, 0);
}

static void access_line(admin_conn *a, const char *method) {
  if (lb_admin_is_azure_probe(a->peer))
    return;
  /* /healthz exists for probes (Docker's healthcheck, an L4 balancer): every few seconds, all
   * alike, so at debug; a failing one shows in the LB's own state lines. */
  jc_log_level lvl = !strcmp(a->url, "/healthz") ? JC_LOG_DEBUG : JC_LOG_INFO;
  if (!jc_log_enabled(lvl))
    return;
  jc_logline l;
  jc_log_begin(&l, lvl, "admin");
  jc_logline_str(&l, "client", a->peer);
  jc_logline_str(&l, "method", method);
  jc_logline_str(&l, "path", a->url);
  jc_logline_int(&l, "status", a->responded);
  jc_logline_write(&l, 1);
}

static void dispatch(admin_conn *a) {
  lb_control *ctl = a->ctl;
  int m = a->parser.method;
  const char *method = llhttp_method_name((llhttp_method_t)m);
  int get = m == HTTP_GET || m == HTTP_HEAD, head = m == HTTP_HEAD;
  char path[512];
  snprintf(path, sizeof path, "%s", a->url);
  char *q = strchr(path, '?');
  if (q)
    *q = 0;
  if (!strcmp(path, "/healthz")) {
    if (!get) {
      text(a, 405, "use GET\n", 0);
    } else {
      int with_up = 0;
      for (int p = 0; p < ctl->rt->npools; p++)
        with_up += lb_control_pool_up(ctl, p, NULL) > 0;
      const char *reason;
      int st = lb_admin_healthz(atomic_load(&ctl->draining), with_up, &reason);
      char msg[128];
      snprintf(msg, sizeof msg, "%s\n", reason);
      text(a, st, msg, head);
    }
  } else if (!strcmp(path, "/stats") || !strcmp(path, "/metrics")) {
    if (!get)
      text(a, 405, "use GET\n", 0);
    else
      serve_stats(a, path[1] == 'm', head);
  } else if (!strncmp(path, "/servers/", 9) && path[9]) {
    if (m != HTTP_POST)
      text(a, 405, "use POST with drain, disable or enable\n", 0);
    else
      serve_server_action(a, path + 9);
  } else {
    text(a, 404, "not found: try /healthz, /stats, /metrics or POST /servers/NAME\n", 0);
  }
  access_line(a, method);
}

/* ---- connection ---- */

static int on_url(llhttp_t *p, const char *at, size_t n) {
  admin_conn *a = p->data;
  if (a->url_len + n >= sizeof a->url)
    return -1;
  memcpy(a->url + a->url_len, at, n);
  a->url_len += n;
  a->url[a->url_len] = 0;
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  admin_conn *a = p->data;
  if (a->body_len + n >= sizeof a->body)
    return -1;
  memcpy(a->body + a->body_len, at, n);
  a->body_len += n;
  return 0;
}

static int on_complete(llhttp_t *p) {
  (void)p;
  return HPE_PAUSED;
}

static llhttp_settings_t admin_settings;

static void on_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  admin_conn *a = h->data;
  (void)s;
  *b = uv_buf_init(a->in + a->in_len, (unsigned)(sizeof a->in - a->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  admin_conn *a = st->data;
  (void)buf;
  if (a->responded)
    return;
  if (nread < 0) {
    conn_close(a);
    return;
  }
  if (nread == 0)
    return;
  size_t off = a->in_len;
  a->in_len += (size_t)nread;
  enum llhttp_errno e = llhttp_execute(&a->parser, a->in + off, (size_t)nread);
  if (e == HPE_PAUSED) {
    uv_read_stop(st);
    dispatch(a);
  } else if (e != HPE_OK) {
    text(a, 400, "bad request\n", 0);
    access_line(a, "-");
  } else if (a->in_len == sizeof a->in) {
    text(a, 400, "request too large\n", 0);
    access_line(a, "-");
  }
}

static void on_timeout(uv_timer_t *t) { conn_close(t->data); }

static void on_connection(uv_stream_t *server, int status) {
  lb_admin *ad = server->data;
  if (status < 0)
    return;
  admin_conn *a = calloc(1, sizeof *a);
  if (!a)
    return;
  a->ctl = ad->ctl;
  a->ad = ad;
  a->next = ad->conns;
  if (ad->conns)
    ad->conns->prev = a;
  ad->conns = a;
  jc_buf_init(&a->out, ADMIN_OUT_MAX);
  uv_tcp_init(ad->ctl->loop, &a->tcp);
  uv_timer_init(ad->ctl->loop, &a->timer);
  a->tcp.data = a->timer.data = a;
  a->handles = 2;
  if (uv_accept(server, (uv_stream_t *)&a->tcp) != 0) {
    conn_close(a);
    return;
  }
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (uv_tcp_getpeername(&a->tcp, (struct sockaddr *)&ss, &sl) == 0)
    jc_addr_ip((struct sockaddr *)&ss, a->peer, sizeof a->peer);
  llhttp_init(&a->parser, HTTP_REQUEST, &admin_settings);
  a->parser.data = a;
  uv_timer_start(&a->timer, on_timeout, ADMIN_TIMEOUT_MS, 0);
  uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read);
}

int lb_admin_start(lb_control *ctl, const char *addr, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t sl;
  char e[200];
  if (jc_addr_parse(addr, &ss, &sl, e, sizeof e) != 0) {
    snprintf(err, errlen, "admin '%s': %s (expected IP:PORT, e.g. 127.0.0.1:9000)", addr, e);
    return -1;
  }
  llhttp_settings_init(&admin_settings);
  admin_settings.on_url = on_url;
  admin_settings.on_body = on_body;
  admin_settings.on_message_complete = on_complete;
  lb_admin *ad = calloc(1, sizeof *ad);
  if (!ad) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  ad->ctl = ctl;
  snprintf(ad->addr, sizeof ad->addr, "%s", addr);
  uv_tcp_init(ctl->loop, &ad->tcp);
  ad->tcp.data = ad;
  ctl->admin = ad;
  int r = uv_tcp_bind(&ad->tcp, (struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen((uv_stream_t *)&ad->tcp, 128, on_connection);
  if (r != 0) {
    if (r == UV_EADDRINUSE) /* no SO_REUSEPORT here: a second process is always refused */
      snprintf(err, errlen,
               "admin listener %s is already in use by another process; stop it or choose "
               "another --admin",
               addr);
    else
      snprintf(err, errlen, "admin listener %s: %s", addr, uv_strerror(r));
    lb_admin_close(ctl);
    return -1;
  }
  jc_log(JC_LOG_INFO, "admin listener on http://%s (/healthz /stats /metrics /servers/NAME)",
         addr);
  return 0;
}

static void on_admin_closed(uv_handle_t *h) { free(h->data); }

void lb_admin_close(lb_control *ctl) {
  if (!ctl->admin)
    return;
  while (ctl->admin->conns)
    conn_close(ctl->admin->conns);
  uv_close((uv_handle_t *)&ctl->admin->tcp, on_admin_closed);
  ctl->admin = NULL;
}
