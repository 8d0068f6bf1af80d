/* Server choice: smooth weighted round-robin and weighted least-connections. */
#include "lb/balancer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lb_pool_init(lb_pool *p, const lb_pool_cfg *cfg) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", cfg->name);
  p->algo = cfg->algo;
  atomic_init(&p->nservers, cfg->nservers);
  /* Every pool has LB_MAX_SERVERS slots so that DNS discovery and reload can add servers
   * without moving the ones in use (workers hold pointers to them). */
  p->servers = calloc(LB_MAX_SERVERS, sizeof *p->servers);
  if (!p->servers)
    return -1;
  for (int i = cfg->nservers; i < LB_MAX_SERVERS; i++) {
    p->servers[i].index = i;
    atomic_init(&p->servers[i].state, LB_SRV_REMOVED);
  }
  for (int i = 0; i < cfg->nservers; i++) {
    lb_server *s = &p->servers[i];
    const lb_server_cfg *sc = &cfg->servers[i];
    snprintf(s->name, sizeof s->name, "%s", sc->name);
    snprintf(s->addr_text, sizeof s->addr_text, "%s", sc->addr_text);
    memcpy(&s->addr, &sc->addr, sizeof s->addr);
    s->addrlen = sc->addrlen;
    s->weight = sc->weight > 0 ? sc->weight : 1;
    s->index = i;
    atomic_init(&s->state, LB_SRV_UP);
    atomic_init(&s->active, 0);
    atomic_init(&s->requests, 0);
    atomic_init(&s->failures, 0);
    atomic_init(&s->responses_5xx, 0);
  }
  pthread_mutex_init(&p->lock, NULL);
  atomic_init(&p->rr_start, 0);
  return 0;
}

void lb_pool_free(lb_pool *p) {
  if (!p->servers)
    return;
  pthread_mutex_destroy(&p->lock);
  free(p->servers);
  p->servers = NULL;
  p->nservers = 0;
}

const char *lb_server_state_name(int state) {
  switch (state) {
  case LB_SRV_UP: return "UP";
  case LB_SRV_DOWN: return "DOWN";
  case LB_SRV_DRAIN: return "DRAIN";
  case LB_SRV_MAINT: return "MAINT";
  case LB_SRV_REMOVED: return "REMOVED";
  default: return "?";
  }
}

static inline int eligible(const lb_server *s, const lb_tried *tried) {
  if (!lb_server_is_up(s))
    return 0;
  for (int k = 0; tried && k < tried->n; k++) /* only on retries: the list is short */
    if (tried->idx[k] == s->index)
      return 0;
  return 1;
}

int lb_balancer_pick_rr(lb_pool *p, const lb_tried *tried) {
  int best = -1;
  int64_t total = 0;
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < p->nservers; i++) {
    lb_server *s = &p->servers[i];
    if (!eligible(s, tried))
      continue;
    s->rr_current += s->weight;
    total += s->weight;
    if (best < 0 || s->rr_current > p->servers[best].rr_current)
      best = i;
  }
  if (best >= 0)
    p->servers[best].rr_current -= total;
  pthread_mutex_unlock(&p->lock);
  return best;
}

int lb_balancer_pick_leastconn(lb_pool *p, const lb_tried *tried) {
  int n = p->nservers;
  int best = -1, ties = 0;
  int64_t best_load = 0, best_w = 1;
  int64_t load[LB_MAX_SERVERS];
  /* Pass 1: the lowest (active+1)/weight, compared without division, and how many share it. */
  for (int i = 0; i < n && i < LB_MAX_SERVERS; i++) {
    lb_server *s = &p->servers[i];
    if (!eligible(s, tried)) {
      load[i] = -1;
      continue;
    }
    load[i] = (int64_t)atomic_load_explicit(&s->active, memory_order_relaxed) + 1;
    int64_t lhs = load[i] * best_w, rhs = best_load * s->weight;
    if (best < 0 || lhs < rhs) {
      best = i;
      best_load = load[i];
      best_w = s->weight;
      ties = 1;
    } else if (lhs == rhs) {
      ties++;
    }
  }
  if (best < 0 || ties == 1)
    return best;
  /* Pass 2: ties take turns, so an idle pool is not always sent to its first server. */
  unsigned k = atomic_fetch_add_explicit(&p->rr_start, 1, memory_order_relaxed) % (unsigned)ties;
  for (int i = best; i < n && i < LB_MAX_SERVERS; i++)
    if (load[i] >= 0 && load[i] * best_w == best_load * p->servers[i].weight && k-- == 0)
      return i;
  return best;
}

int lb_balancer_pick(lb_pool *p, const lb_tried *tried) {
  return p->algo == LB_ALGO_LEAST_CONN ? lb_balancer_pick_leastconn(p, tried)
                                       : lb_balancer_pick_rr(p, tried);
}
