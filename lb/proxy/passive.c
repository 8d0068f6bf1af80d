/* Worker-side hooks of the control plane: per-request metrics and passive-check counting.
 *
 * They run on the workers' hot path, so they only touch atomics: a success resets the
 * consecutive-failure counters (written only when non-zero, so a healthy server's cache line is
 * not bounced between workers), a failure counts, and the worker that reaches a threshold sets
 * eject_request and wakes the control loop, which alone decides (lb_outlier_eject: the pool's
 * ejection share, the growing ejection time) and publishes the new state. */
#include "lb/proxy/passive.h"

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

/* The admin page's ring and latency windows: one entry copy and three counts, no lock
 * (lb/core/recent.h). The request id and the path are copied as fixed 64-byte blocks (both live
 * in lent blocks longer than that: LB_REQID_MAX, LB_PATH_LOG_MAX). */
void lb_passive_recent(lb_worker *w, const lb_recent_req *r) {
  const lb_timing *t = r->t;
  if (w->recent.cap) {
    lb_recent_entry *e = lb_recent_begin(&w->recent);
    e->t = *t;
    e->status = (uint16_t)r->status;
    e->pool = (int8_t)r->pool;
    e->server = (int8_t)r->server;
    e->method = (uint8_t)r->method;
    e->retries = (uint8_t)r->retries;
    e->proto = (uint8_t)r->proto;
    e->id_len = 0;
    if (r->id_len) {
      memcpy(e->id, r->id, LB_RECENT_ID_MAX);
      e->id_len = (uint8_t)(r->id_len < LB_RECENT_ID_MAX ? r->id_len : LB_RECENT_ID_MAX);
    }
    e->path_len = 0;
    if (r->path[0]) { /* a fixed-size copy: the block is longer, no strlen */
      memcpy(e->path, r->path, LB_RECENT_PATH_MAX);
      e->path_len = (uint8_t)(r->path_len < LB_RECENT_PATH_MAX ? r->path_len : LB_RECENT_PATH_MAX);
    }
    lb_recent_commit(&w->recent, e);
  }
  if (r->pool < 0 || r->server < 0 || !r->status || !w->lat[r->pool])
    return;
  uint64_t from = t->req_start ? t->req_start : t->hdr_done;
  lb_lat_slot *ls = lb_lat_slot_now(&w->lat[r->pool][r->server], t->done);
  if (t->connected && !r->backend_reused && t->queued && t->connected >= t->queued)
    lb_lat_count_in(ls, LB_LAT_CONNECT, t->connected - t->queued);
  if (t->resp_hdr && t->connected && t->resp_hdr >= t->connected)
    lb_lat_count_in(ls, LB_LAT_HEADERS, t->resp_hdr - t->connected);
  lb_lat_count_in(ls, LB_LAT_TOTAL, t->done > from ? t->done - from : 0);
}

void lb_passive_request_done(lb_worker *w, const lb_recent_req *r) {
  if (r->pool < 0 || r->server < 0 || !r->status)
    goto recent;
  lb_server *s = &w->rt->pools[r->pool].servers[r->server];
  uint64_t from = r->t->req_start ? r->t->req_start : r->t->hdr_done;
  uint64_t to = r->status == 101 ? r->t->resp_hdr : r->t->done; /* a tunnel: up to its 101 */
  lb_hist_observe(&s->m.request, to > from ? to - from : 0);
  lb_srv_metrics_status(&s->m, r->status);
recent:
  lb_passive_recent(w, r);
}
