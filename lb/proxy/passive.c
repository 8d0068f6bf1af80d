/* Worker-side hooks of the control plane: per-request metrics and passive-check counting.
 *
 * They run on the workers' hot path, so they only touch atomics: a success resets the
 * consecutive-failure counters (written only when non-zero, so a healthy server's cache line is
 * not bounced between workers), a failure counts, and the worker that reaches a threshold sets
 * eject_request and wakes the control loop, which alone decides (lb_outlier_eject: the pool's
 * ejection share, the growing ejection time) and publishes the new state. */
#include "lb/proxy/passive.h"

#include "common/clock.h"

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

void lb_passive_request_done(lb_runtime *rt, int pool, int server, int status, uint64_t start_us,
                             uint64_t done_us) {
  if (pool < 0 || server < 0 || !status)
    return;
  lb_server *s = &rt->pools[pool].servers[server];
  lb_hist_observe(&s->m.request, done_us > start_us ? done_us - start_us : 0);
  lb_srv_metrics_status(&s->m, status);
}
