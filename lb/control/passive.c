/* Worker-side hooks of the control plane: per-request metrics and passive-check counting.
 *
 * They run on the workers' hot path, so they only touch atomics: a success resets the
 * consecutive-failure counters (written only when non-zero, so a healthy server's cache line is
 * not bounced between workers), a failure counts, and the worker that reaches a threshold sets
 * eject_request and wakes the control loop, which alone decides (lb_outlier_eject: the pool's
 * ejection share, the growing ejection time) and publishes the new state. */
#include "lb/proxy/lb.h"

#include "common/clock.h"

#include <string.h>

static void poke(lb_runtime *rt, lb_server *s) {
  if (!atomic_exchange_explicit(&s->eject_request, 1, memory_order_acq_rel) && rt->control_wakeup)
    uv_async_send(rt->control_wakeup);
}

static void count(lb_runtime *rt, lb_server *s, atomic_uint *counter, unsigned threshold) {
  unsigned n = atomic_fetch_add_explicit(counter, 1, memory_order_relaxed) + 1;
  if (threshold && n == threshold)
    poke(rt, s);
}

static void reset(atomic_uint *counter) {
  if (atomic_load_explicit(counter, memory_order_relaxed))
    atomic_store_explicit(counter, 0, memory_order_relaxed);
}

void lb_passive_connected(lb_runtime *rt, lb_server *s, uint64_t connect_us) {
  (void)rt;
  lb_hist_observe(&s->m.connect, connect_us);
  reset(&s->consec_connect);
}

void lb_passive_connect_failed(lb_runtime *rt, int pool, lb_server *s) {
  count(rt, s, &s->consec_connect,
        atomic_load_explicit(&rt->pools[pool].outlier_connect, memory_order_relaxed));
}

void lb_passive_response(lb_runtime *rt, int pool, lb_server *s, int status) {
  if (status >= 500) {
    count(rt, s, &s->consec_5xx,
          atomic_load_explicit(&rt->pools[pool].outlier_5xx, memory_order_relaxed));
    return;
  }
  reset(&s->consec_5xx);
}

/* The admin page's ring: one entry copy, no lock (lb/core/recent.h). The path and the request
 * id are copied as fixed 64-byte blocks (no strlen): when set, both live in lent blocks longer
 * than that (the path at the head block's start, LB_PATH_LOG_MAX; the id, LB_REQID_MAX). */
static void record_recent(lb_worker *w, lb_client *c) {
  lb_recent_entry *e = lb_recent_begin(&w->recent);
  e->t = c->t;
  e->status = (uint16_t)c->status;
  e->pool = (int8_t)c->pool;
  e->server = (int8_t)c->server;
  e->method = (uint8_t)c->method;
  e->retries = (uint8_t)c->retries;
  e->id_len = 0;
  if (c->reqid_len) {
    memcpy(e->id, c->reqid, LB_RECENT_ID_MAX);
    e->id_len = (uint8_t)(c->reqid_len < LB_RECENT_ID_MAX ? c->reqid_len : LB_RECENT_ID_MAX);
  }
  e->path_len = 0;
  if (c->path[0]) {
    memcpy(e->path, c->path, LB_RECENT_PATH_MAX);
    e->path_len = (uint8_t)(c->url_len < LB_RECENT_PATH_MAX ? c->url_len : LB_RECENT_PATH_MAX);
  }
  lb_recent_commit(&w->recent, e);
}

void lb_passive_request_done(lb_client *c) {
  lb_worker *w = c->w;
  if (w->recent.cap)
    record_recent(w, c);
  if (c->pool < 0 || c->server < 0 || !c->status)
    return;
  lb_server *s = &w->rt->pools[c->pool].servers[c->server];
  const lb_timing *t = &c->t;
  uint64_t from = t->req_start ? t->req_start : t->hdr_done;
  uint64_t total = t->done > from ? t->done - from : 0;
  lb_hist_observe(&s->m.request, total);
  lb_srv_metrics_status(&s->m, c->status);
  if (!w->lat[c->pool])
    return;
  lb_lat_slot *ls = lb_lat_slot_now(&w->lat[c->pool][c->server], t->done);
  if (t->connected && !c->backend_reused && t->queued && t->connected >= t->queued)
    lb_lat_count_in(ls, LB_LAT_CONNECT, t->connected - t->queued);
  if (t->resp_hdr && t->connected && t->resp_hdr >= t->connected)
    lb_lat_count_in(ls, LB_LAT_HEADERS, t->resp_hdr - t->connected);
  lb_lat_count_in(ls, LB_LAT_TOTAL, total);
}
