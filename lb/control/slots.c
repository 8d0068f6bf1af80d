/* Server slots on the control loop: set up from the config, added and removed at run time
 * (DNS discovery, reload), their health settings applied; and passive ejection: the workers'
 * reports (eject_request + uv_async) are decided here and ejections end on a tick. */
#include "lb/control/control.h"

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LB_TICK_MS 200

/* ---- passive checks (ejection) ---- */

static int pool_ejected(lb_control *ctl, int p) {
  int n = 0, max = atomic_load(&ctl->rt->pools[p].nservers);
  for (int i = 0; i < max; i++)
    n += ctl->pools[p].slots[i].in_use && lb_outlier_is_ejected(&ctl->pools[p].slots[i].out);
  return n;
}

static void on_wakeup(uv_async_t *a) {
  lb_control *ctl = a->data;
  uint64_t now = jc_now_us();
  for (int p = 0; p < ctl->rt->npools; p++) {
    lb_pool *pool = &ctl->rt->pools[p];
    int n = atomic_load(&pool->nservers);
    for (int i = 0; i < n; i++) {
      lb_server *s = &pool->servers[i];
      lb_slot *sl = &ctl->pools[p].slots[i];
      if (!atomic_exchange(&s->eject_request, 0) || !sl->in_use)
        continue;
      const lb_health_cfg *hc = &ctl->pools[p].hc;
      unsigned cc = atomic_load(&s->consec_connect), c5 = atomic_load(&s->consec_5xx);
      char trigger[96];
      if (hc->outlier_connect && cc >= hc->outlier_connect)
        snprintf(trigger, sizeof trigger, "%u consecutive connect failures", cc);
      else if (hc->outlier_5xx && c5 >= hc->outlier_5xx)
        snprintf(trigger, sizeof trigger, "%u consecutive 5xx responses", c5);
      else
        continue;
      atomic_store(&s->consec_connect, 0);
      atomic_store(&s->consec_5xx, 0);
      /* Servers already out of rotation for any reason (ejected, DOWN, drained) count against
       * the share: passive checks must not take the last UP server of a pool. */
      int used = 0, up = lb_control_pool_up(ctl, p, &used);
      int out = used - up - (lb_server_is_up(s) ? 0 : 1);
      int ejected = pool_ejected(ctl, p);
      if (!lb_outlier_eject(&sl->out, hc, now, used, out > ejected ? out : ejected)) {
        if (!lb_outlier_is_ejected(&sl->out))
          jc_log(JC_LOG_WARN, "server %s not ejected after %s: pool %s keeps at least one server "
                 "and at most %u%% ejected", s->name, trigger, pool->name, hc->outlier_max_percent);
        continue;
      }
      lb_control_publish(ctl, p, i);
      jc_log(JC_LOG_WARN, "server %s (%s) ejected for %llu ms after %s (ejection %d; pool %s: %d of "
             "%d servers UP)", s->name, s->addr_text,
             (unsigned long long)lb_outlier_duration_ms(hc, sl->out.ejections), trigger,
             sl->out.ejections, pool->name, lb_control_pool_up(ctl, p, NULL), used);
    }
  }
}

static void on_tick(uv_timer_t *t) {
  lb_control *ctl = t->data;
  uint64_t now = jc_now_us();
  for (int p = 0; p < ctl->rt->npools; p++) {
    int n = atomic_load(&ctl->rt->pools[p].nservers);
    for (int i = 0; i < n; i++) {
      lb_slot *sl = &ctl->pools[p].slots[i];
      if (!sl->in_use || !lb_outlier_tick(&sl->out, &ctl->pools[p].hc, now))
        continue;
      lb_control_publish(ctl, p, i);
      lb_server *s = &ctl->rt->pools[p].servers[i];
      jc_log(JC_LOG_INFO, "server %s (%s) back from ejection: %s", s->name, s->addr_text,
             lb_server_is_up(s) ? "UP" : lb_server_state_name(atomic_load(&s->state)));
    }
  }
}


/* ---- slots ---- */

static void slot_reset(lb_control *ctl, int p, int i, int from_dns) {
  lb_slot *sl = &ctl->pools[p].slots[i];
  uint64_t now = jc_now_us();
  sl->in_use = 1;
  sl->from_dns = from_dns;
  sl->admin = 0;
  sl->first_done = 0;
  sl->last[0] = 0;
  sl->last_us = 0;
  sl->last_at_us = 0;
  sl->strip = 0;
  sl->nstrip = 0;
  sl->published = -1;
  sl->state_since_us = now;
  lb_health_sm_init(&sl->sm, now);
  memset(&sl->out, 0, sizeof sl->out);
  sl->out.last_change = now;
}

static int apply_pool_health(lb_control *ctl, int p, char *err, size_t errlen) {
  lb_ctl_pool *cp = &ctl->pools[p];
  lb_pool *pool = &ctl->rt->pools[p];
  atomic_store(&pool->outlier_5xx, cp->hc.outlier_5xx);
  atomic_store(&pool->outlier_connect, cp->hc.outlier_connect);
  if (cp->hc.type != LB_CHECK_NONE && cp->hc.tls && !cp->check_tls) {
    cp->check_tls = jc_tls_client_ctx(cp->hc.tls_ca[0] ? cp->hc.tls_ca : NULL, !cp->hc.tls_verify,
                                      err, errlen);
    if (!cp->check_tls)
      return -1;
  }
  return 0;
}


int lb_control_init(lb_control *ctl, lb_runtime *rt, uv_loop_t *loop, char *err, size_t errlen) {
  memset(ctl, 0, sizeof *ctl);
  ctl->rt = rt;
  ctl->loop = loop;
  lb_stream_loop_init(&ctl->sl, loop, 0);
  ctl->started_us = jc_now_us();
  atomic_init(&ctl->draining, 0);
  for (int p = 0; p < rt->npools; p++) {
    lb_ctl_pool *cp = &ctl->pools[p];
    cp->hc = rt->cfg.pools[p].health;
    for (int i = 0; i < LB_MAX_SERVERS; i++) {
      cp->slots[i].ctl = ctl;
      cp->slots[i].pool = p;
      cp->slots[i].index = i;
    }
    char why[300];
    if (apply_pool_health(ctl, p, why, sizeof why) != 0) {
      snprintf(err, errlen, "pool %s: TLS health checks: %s", rt->pools[p].name, why);
      return -1;
    }
    int n = atomic_load(&rt->pools[p].nservers);
    for (int i = 0; i < n; i++) {
      slot_reset(ctl, p, i, 0);
      lb_control_publish(ctl, p, i);
    }
  }
  uv_async_init(loop, &ctl->wakeup, on_wakeup);
  ctl->wakeup.data = ctl;
  uv_timer_init(loop, &ctl->tick);
  ctl->tick.data = ctl;
  uv_timer_start(&ctl->tick, on_tick, LB_TICK_MS, LB_TICK_MS);
  rt->control_wakeup = &ctl->wakeup;
  return 0;
}


int lb_control_add_server(lb_control *ctl, int p, const char *name, const struct sockaddr *addr,
                          socklen_t addrlen, int weight, int from_dns) {
  lb_pool *pool = &ctl->rt->pools[p];
  uint64_t now = jc_now_us();
  int n = atomic_load(&pool->nservers), slot = -1;
  for (int i = 0; i < n && slot < 0; i++) {
    lb_slot *sl = &ctl->pools[p].slots[i];
    if (!sl->in_use && atomic_load(&pool->servers[i].active) == 0 &&
        now - sl->emptied_us >= (uint64_t)LB_SLOT_REUSE_MS * 1000)
      slot = i;
  }
  if (slot < 0) {
    if (n >= LB_MAX_SERVERS)
      return -1;
    slot = n;
  }
  lb_server *s = &pool->servers[slot];
  snprintf(s->name, sizeof s->name, "%s", name);
  memcpy(&s->addr, addr, addrlen);
  s->addrlen = addrlen;
  jc_addr_format(addr, s->addr_text, sizeof s->addr_text);
  s->weight = weight > 0 ? weight : 1;
  s->index = slot;
  pthread_mutex_lock(&pool->lock);
  s->rr_current = 0;
  pthread_mutex_unlock(&pool->lock);
  atomic_store(&s->requests, 0);
  atomic_store(&s->failures, 0);
  atomic_store(&s->responses_5xx, 0);
  atomic_store(&s->consec_5xx, 0);
  atomic_store(&s->consec_connect, 0);
  atomic_store(&s->eject_request, 0);
  lb_srv_metrics_reset(&s->m);
  atomic_fetch_add(&s->generation, 1);
  slot_reset(ctl, p, slot, from_dns);
  lb_control_publish(ctl, p, slot);
  if (slot >= n)
    atomic_store(&pool->nservers, slot + 1);
  if (ctl->pools[p].hc.type != LB_CHECK_NONE)
    lb_probe_schedule(&ctl->pools[p].slots[slot], 0);
  return slot;
}

void lb_control_remove_server(lb_control *ctl, int p, int i, const char *why) {
  lb_slot *sl = &ctl->pools[p].slots[i];
  lb_server *s = &ctl->rt->pools[p].servers[i];
  if (!sl->in_use)
    return;
  sl->in_use = 0;
  sl->emptied_us = jc_now_us();
  lb_probe_cancel(sl);
  if (sl->timer_on)
    uv_timer_stop(&sl->timer);
  lb_control_publish(ctl, p, i);
  jc_log(JC_LOG_INFO, "server %s (%s) removed from pool %s: %s; %d request(s) in flight finish",
         s->name, s->addr_text, ctl->rt->pools[p].name, why, atomic_load(&s->active));
}

int lb_control_set_health(lb_control *ctl, int p, const lb_health_cfg *hc, char *err,
                          size_t errlen) {
  lb_ctl_pool *cp = &ctl->pools[p];
  if (!memcmp(&cp->hc, hc, sizeof *hc))
    return 0;
  int was_checking = cp->hc.type != LB_CHECK_NONE;
  SSL_CTX *old_tls = cp->check_tls;
  cp->check_tls = NULL;
  lb_health_cfg old = cp->hc;
  cp->hc = *hc;
  if (apply_pool_health(ctl, p, err, errlen) != 0) {
    cp->hc = old;
    cp->check_tls = old_tls;
    return -1;
  }
  int n = atomic_load(&ctl->rt->pools[p].nservers);
  for (int i = 0; i < n; i++) {
    lb_slot *sl = &cp->slots[i];
    if (!sl->in_use)
      continue;
    lb_probe_cancel(sl); /* a probe in flight may use the old TLS context */
    if (!was_checking && hc->type != LB_CHECK_NONE) {
      lb_health_sm_init(&sl->sm, jc_now_us()); /* never checked: unknown until the first one */
      sl->sm.state = LB_HS_UP;                 /* ...but serving: keep it UP meanwhile */
    }
    lb_control_publish(ctl, p, i);
    if (hc->type != LB_CHECK_NONE)
      lb_probe_schedule(sl, 0);
    else if (sl->timer_on)
      uv_timer_stop(&sl->timer);
  }
  if (old_tls)
    SSL_CTX_free(old_tls);
  char d[300];
  lb_health_cfg_describe(hc, d, sizeof d);
  jc_log(JC_LOG_INFO, "pool %s: health checks now %s", ctl->rt->pools[p].name, d);
  return 0;
}

