/* The admin endpoints (see admin_views.h): a snapshot of the shared state, formatted by
 * stats.c (JSON, Prometheus) or dashboard.c (the page), and the server actions. */
#include "lb/control/admin_views.h"
#include "lb/http/h1.h"

#include "common/clock.h"
#include "common/log.h"

#include <llhttp.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- snapshot ---- */

typedef struct snap {
  lb_stats s;
  lb_stats_listener listeners[LB_MAX_LISTENERS];
  lb_stats_pool pools[LB_MAX_POOLS];
  char checks[LB_MAX_POOLS][300];
  char hash_keys[LB_MAX_POOLS][LB_HASH_KEY_NAME_MAX + 8];
  lb_recent_entry *entries; /* every worker's ring */
  char (*ids)[LB_RECENT_ID_MAX + 1];
  char (*paths)[LB_RECENT_PATH_MAX + 1];
} snap;

static const char *build_string(void) {
  static char b[160];
  if (!b[0])
    snprintf(b, sizeof b, "%s, %s, libuv %s",
#ifdef __clang__
             "clang " __clang_version__,
#elif defined(__GNUC__)
             "gcc " __VERSION__,
#else
             "cc",
#endif
             OpenSSL_version(OPENSSL_VERSION), uv_version_string());
  return b;
}

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int by_done_desc(const void *a, const void *b) {
  uint64_t x = ((const lb_recent_entry *)a)->t.done, y = ((const lb_recent_entry *)b)->t.done;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The recent requests of every worker, newest first, at most cfg.adm.recent (or those whose
 * id is `id`). */
static int snapshot_recent(lb_control *ctl, snap *sn, const char *id, uint64_t now_us,
                           uint64_t now_wall) {
  lb_runtime *rt = ctl->rt;
  size_t per = rt->cfg.adm.recent, total = 0;
  if (!per)
    return 0;
  sn->entries = calloc(per * (size_t)rt->nworkers, sizeof *sn->entries);
  if (!sn->entries)
    return -1;
  for (int w = 0; w < rt->nworkers; w++)
    total += lb_recent_copy(&rt->workers[w].recent, sn->entries + total, per);
  qsort(sn->entries, total, sizeof *sn->entries, by_done_desc);
  size_t keep = total < per ? total : per;
  sn->s.recent = calloc(keep ? keep : 1, sizeof *sn->s.recent);
  sn->ids = calloc(keep ? keep : 1, sizeof *sn->ids);
  sn->paths = calloc(keep ? keep : 1, sizeof *sn->paths);
  if (!sn->s.recent || !sn->ids || !sn->paths)
    return -1;
  size_t idlen = id ? strlen(id) : 0;
  for (size_t i = 0; i < total && (size_t)sn->s.nrecent < keep; i++) {
    const lb_recent_entry *e = &sn->entries[i];
    if (id && *id && (e->id_len != idlen || memcmp(e->id, id, idlen) != 0))
      continue;
    int k = sn->s.nrecent++;
    lb_stats_request *r = &sn->s.recent[k];
    memcpy(sn->ids[k], e->id, e->id_len);
    memcpy(sn->paths[k], e->path, e->path_len);
    r->id = sn->ids[k];
    r->path = sn->paths[k];
    r->method = e->method == LB_METHOD_OTHER ? "other"
                                             : llhttp_method_name((llhttp_method_t)e->method);
    r->proto = lb_stats_proto_names[e->proto < LB_PROTO_COUNT ? e->proto : LB_PROTO_HTTP1];
    r->status = e->status;
    r->retries = e->retries;
    r->pool = e->pool >= 0 && e->pool < rt->npools ? rt->pools[e->pool].name : "";
    r->server = r->pool[0] && e->server >= 0 ? rt->pools[e->pool].servers[e->server].name : "";
    uint64_t ago_ms = now_us > e->t.done ? (now_us - e->t.done) / 1000 : 0;
    r->ended_unix_ms = now_wall > ago_ms ? now_wall - ago_ms : 0;
    lb_timers tm;
    lb_timing_compute(&e->t, &tm);
    r->Th = tm.Th, r->Ti = tm.Ti, r->TR = tm.TR, r->Tw = tm.Tw, r->Tc = tm.Tc, r->Tr = tm.Tr;
    r->Td = tm.Td, r->Tt = tm.Tt;
  }
  return 0;
}

static void snapshot_server(lb_control *ctl, int p, int i, lb_stats_server *v, uint64_t now) {
  lb_runtime *rt = ctl->rt;
  lb_ctl_pool *cp = &ctl->pools[p];
  lb_slot *sl = &cp->slots[i];
  lb_server *s = &rt->pools[p].servers[i];
  v->name = s->name;
  v->address = s->addr_text;
  v->state = lb_server_state_name(atomic_load(&s->state));
  v->health = cp->hc.type == LB_CHECK_NONE ? "off" : lb_health_state_name(sl->sm.state);
  v->last_check = sl->last;
  v->last_check_us = sl->last_us;
  v->last_check_age_ms = sl->last_at_us ? (now - sl->last_at_us) / 1000 : UINT64_MAX;
  int ns = sl->nstrip;
  for (int k = 0; k < ns; k++)
    v->strip[k] = (sl->strip >> (ns - 1 - k)) & 1 ? '+' : '-';
  v->strip[ns] = 0;
  v->since_ms = now > sl->state_since_us ? (now - sl->state_since_us) / 1000 : 0;
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
  v->err_connect = atomic_load_explicit(&s->m.err_connect, memory_order_relaxed);
  v->err_timeout = atomic_load_explicit(&s->m.err_timeout, memory_order_relaxed);
  v->err_reset = atomic_load_explicit(&s->m.err_reset, memory_order_relaxed);
  v->retries = atomic_load_explicit(&s->m.retries, memory_order_relaxed);
  lb_hist_snapshot(&s->m.request, &v->request);
  lb_hist_snapshot(&s->m.connect, &v->connect);
  lb_lat_snap *ls = calloc(1, sizeof *ls);
  if (!ls)
    return;
  for (int w = 0; w < rt->nworkers; w++)
    if (rt->workers[w].lat[p])
      lb_lat_add(&rt->workers[w].lat[p][i], now, ls);
  for (int k = 0; k < LB_LAT_KINDS; k++) {
    v->lat_count[k] = lb_lat_count(ls, k);
    v->lat_p50_us[k] = lb_lat_quantile_us(ls, k, 0.50);
    v->lat_p99_us[k] = lb_lat_quantile_us(ls, k, 0.99);
  }
  free(ls);
}

static int snapshot(lb_control *ctl, snap *sn, int with_recent, const char *id) {
  lb_runtime *rt = ctl->rt;
  uint64_t now = jc_now_us(), wall = wall_ms();
  memset(sn, 0, sizeof *sn);
  sn->s.version = JOURNEY_VERSION;
  sn->s.build = build_string();
  sn->s.draining = atomic_load(&ctl->draining);
  sn->s.uptime_s = (now - ctl->started_us) / 1000000;
  sn->s.start_unix_s = (wall - (now - ctl->started_us) / 1000 + 500) / 1000;
  sn->s.connections_active = atomic_load(&rt->conns_active);
  for (int i = 0; i < LB_H2_NCOUNTERS; i++)
    sn->s.h2[i] = atomic_load(&rt->h2[i]);
  sn->s.h2_conns_open = atomic_load(&rt->h2_conns_open);
  sn->s.h2_streams_open = atomic_load(&rt->h2_streams_open);
  for (int w = 0; w < rt->nworkers; w++)
    for (int i = 0; i < LB_PROTO_COUNT; i++)
      sn->s.requests_by_proto[i] +=
          atomic_load_explicit(&rt->workers[w].requests_by_proto[i], memory_order_relaxed);
  sn->s.tunnels_open = atomic_load(&rt->tunnels_open);
  sn->s.tunnels_total = atomic_load(&rt->tunnels_total);
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
    for (int i = 0; i < n; i++)
      if (cp->slots[i].in_use)
        snapshot_server(ctl, p, i, &sp->servers[sp->nservers++], now);
  }
  return with_recent ? snapshot_recent(ctl, sn, id, now, wall) : 0;
}

static void snapshot_free(snap *sn) {
  for (int p = 0; p < sn->s.npools; p++)
    free(sn->pools[p].servers);
  free(sn->entries);
  free(sn->s.recent);
  free(sn->ids);
  free(sn->paths);
}

/* ---- endpoints ---- */

static void answer(lb_admin_resp *rs, int status, const char *text) {
  rs->status = status;
  rs->ctype = "text/plain; charset=utf-8";
  rs->text = text;
  rs->body = NULL;
}

/* "id=..." from the query, %XX and '+' decoded; "" when absent. */
static void query_id(const char *q, char *out, size_t cap) {
  out[0] = 0;
  for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
    if (strncmp(p, "id=", 3) != 0)
      continue;
    size_t n = 0;
    for (p += 3; *p && *p != '&' && n + 1 < cap; p++) {
      if (*p == '%' && p[1] && p[2]) {
        char hex[3] = {p[1], p[2], 0};
        out[n++] = (char)strtol(hex, NULL, 16);
        p += 2;
      } else {
        out[n++] = *p == '+' ? ' ' : *p;
      }
    }
    out[n] = 0;
    return;
  }
}

enum { VIEW_STATS, VIEW_METRICS, VIEW_REQUESTS, VIEW_PAGE };

static void serve_view(const lb_admin_req *rq, lb_admin_resp *rs, jc_buf *body, int view) {
  char id[LB_RECENT_ID_MAX + 1];
  query_id(rq->query, id, sizeof id);
  snap *sn = malloc(sizeof *sn);
  if (!sn || snapshot(rq->ctl, sn, view == VIEW_REQUESTS || view == VIEW_PAGE, id) != 0) {
    if (sn)
      snapshot_free(sn);
    free(sn);
    answer(rs, 500, "out of memory\n");
    return;
  }
  int r;
  rs->ctype = "application/json";
  switch (view) {
  case VIEW_METRICS:
    r = lb_stats_prometheus(&sn->s, body);
    rs->ctype = "text/plain; version=0.0.4; charset=utf-8";
    break;
  case VIEW_REQUESTS:
    r = lb_stats_requests_json(&sn->s, body);
    break;
  case VIEW_PAGE:
    r = lb_dashboard_html(&sn->s, id, rq->level == LB_ADMIN_WRITE,
                          rq->token_configured && rq->level != LB_ADMIN_WRITE, body);
    rs->ctype = "text/html; charset=utf-8";
    break;
  default:
    r = lb_stats_json(&sn->s, body);
  }
  snapshot_free(sn);
  free(sn);
  if (r != 0) {
    answer(rs, 500, "statistics larger than the admin output limit\n");
    return;
  }
  rs->status = 200;
  rs->body = body;
}

/* POST /servers/NAME[/ACTION]: the action is the last path part or the body. */
static void serve_server_action(const lb_admin_req *rq, lb_admin_resp *rs, jc_buf *body,
                                const char *rest) {
  lb_control *ctl = rq->ctl;
  char name[LB_NAME_MAX * 2], action[32];
  size_t rl = strlen(rest);
  if (rl >= sizeof name) {
    answer(rs, 404, "no server with this name (see GET /stats)\n");
    return;
  }
  memcpy(name, rest, rl + 1);
  char *slash = strchr(name, '/');
  if (slash) {
    *slash = 0;
    snprintf(action, sizeof action, "%.31s", slash + 1);
  } else {
    size_t n = rq->body_len;
    while (n && (rq->body[n - 1] == '\n' || rq->body[n - 1] == '\r' || rq->body[n - 1] == ' '))
      n--;
    snprintf(action, sizeof action, "%.*s", (int)n, rq->body);
  }
  int target;
  if (!strcmp(action, "drain"))
    target = LB_SRV_DRAIN;
  else if (!strcmp(action, "disable"))
    target = LB_SRV_MAINT;
  else if (!strcmp(action, "enable"))
    target = 0;
  else {
    answer(rs, 400,
           "unknown action: send drain, disable or enable (POST /servers/NAME with the "
           "action as body, or POST /servers/NAME/ACTION)\n");
    return;
  }
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
      jc_log(JC_LOG_INFO,
             "admin: %s server %s (pool %s, %s): %s -> %s, %d request(s) in flight "
             "(from %s)",
             action, s->name, pool->name, s->addr_text, before, after, atomic_load(&s->active),
             rq->peer);
      char line[300];
      snprintf(line, sizeof line, "%s{\"pool\":", found ? "," : "[");
      jc_buf_append(body, line, strlen(line));
      lb_stats_put_json_str(body, pool->name);
      jc_buf_append(body, ",\"name\":", 8);
      lb_stats_put_json_str(body, s->name);
      snprintf(line, sizeof line, ",\"state\":\"%s\"}", after);
      jc_buf_append(body, line, strlen(line));
      found++;
    }
  }
  if (!found) {
    answer(rs, 404, "no server with this name (see GET /stats)\n");
    return;
  }
  jc_buf_append(body, "]\n", 2);
  rs->status = 200;
  rs->ctype = "application/json";
  rs->body = body;
  if (rq->browser_form) { /* a form on the page without JavaScript: back to the page */
    rs->status = 303;
    rs->headers = "Location: /\r\n";
  }
}

/* Why a mutation was refused, and what would make it work. */
static void refuse_mutation(const lb_admin_req *rq, lb_admin_resp *rs) {
  if (rq->token_configured) {
    answer(rs, 401, "unauthorized: send Authorization: Bearer <token of --admin-token-file>\n");
    rs->headers = "WWW-Authenticate: Bearer realm=\"journey-lb admin\"\r\n";
  } else if (rq->socket_configured) {
    answer(rs, 403, "forbidden: server actions are accepted over --admin-socket only\n");
  } else {
    answer(rs, 403,
           "forbidden: without --admin-token-file or --admin-socket, server actions "
           "are accepted from loopback peers only\n");
  }
}

void lb_admin_serve(const lb_admin_req *rq, lb_admin_resp *rs, jc_buf *body) {
  lb_control *ctl = rq->ctl;
  int m = rq->method, get = m == HTTP_GET || m == HTTP_HEAD;
  const char *path = rq->path;
  rs->headers = "";
  if (!strcmp(path, "/healthz")) {
    if (!get) {
      answer(rs, 405, "use GET\n");
      return;
    }
    int with_up = 0;
    for (int p = 0; p < ctl->rt->npools; p++)
      with_up += lb_control_pool_up(ctl, p, NULL) > 0;
    const char *reason;
    int st = lb_admin_healthz(atomic_load(&ctl->draining), with_up, &reason);
    jc_buf_append(body, reason, strlen(reason));
    jc_buf_append(body, "\n", 1);
    rs->status = st;
    rs->ctype = "text/plain; charset=utf-8";
    rs->body = body;
    return;
  }
  int view = !strcmp(path, "/stats")                              ? VIEW_STATS
             : !strcmp(path, "/metrics")                          ? VIEW_METRICS
             : !strcmp(path, "/requests")                         ? VIEW_REQUESTS
             : !strcmp(path, "/") || !strcmp(path, "/index.html") ? VIEW_PAGE
                                                                  : -1;
  if (view >= 0) {
    if (!get)
      answer(rs, 405, "use GET\n");
    else
      serve_view(rq, rs, body, view);
    return;
  }
  if (!strncmp(path, "/servers/", 9) && path[9]) {
    if (m != HTTP_POST)
      answer(rs, 405, "use POST with drain, disable or enable\n");
    else if (rq->level != LB_ADMIN_WRITE)
      refuse_mutation(rq, rs);
    else
      serve_server_action(rq, rs, body, path + 9);
    return;
  }
  answer(rs, 404,
         "not found: try /, /healthz, /stats, /requests, /metrics or POST "
         "/servers/NAME\n");
}
