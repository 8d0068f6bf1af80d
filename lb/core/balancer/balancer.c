/* Pools and servers: the slots, their states, and the algorithm each pool uses (one ops table
 * per algorithm: round_robin.c, least_conn.c, hash.c); see balancer.h. */
#include "lb/core/balancer/balancer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one place that maps a configured algorithm to its code. */
static const lb_balancer_ops *const algorithms[] = {
    [LB_ALGO_ROUND_ROBIN] = &lb_balancer_round_robin,
    [LB_ALGO_LEAST_CONN] = &lb_balancer_least_conn,
    [LB_ALGO_HASH] = &lb_balancer_hash,
};

int lb_pool_init(lb_pool *p, const lb_pool_cfg *cfg) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", cfg->name);
  p->algo = cfg->algo;
  p->ops = (unsigned)cfg->algo < sizeof algorithms / sizeof *algorithms && algorithms[cfg->algo]
               ? algorithms[cfg->algo]
               : &lb_balancer_round_robin;
  p->hash_key = cfg->hash_key;
  atomic_init(&p->nservers, cfg->nservers);
  /* Every pool has LB_MAX_SERVERS slots so that DNS discovery and reload can add servers
   * without moving the ones in use (workers hold pointers to them). */
  p->servers = calloc(LB_MAX_SERVERS, sizeof *p->servers);
  if (!p->servers || p->ops->init(p) != 0) {
    lb_pool_free(p);
    return -1;
  }
  for (int i = 0; i < LB_MAX_SERVERS; i++) {
    p->servers[i].index = i;
    p->servers[i].pool = p;
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
    atomic_init(&s->state, LB_SRV_UP);
    atomic_init(&s->active, 0);
    atomic_init(&s->requests, 0);
    atomic_init(&s->failures, 0);
    atomic_init(&s->responses_5xx, 0);
  }
  pthread_mutex_init(&p->lock, NULL);
  p->lock_init = 1;
  atomic_init(&p->rr_start, 0);
  atomic_init(&p->changes, 1); /* built = 0: the first pick builds */
  return 0;
}

void lb_pool_free(lb_pool *p) {
  if (p->lock_init)
    pthread_mutex_destroy(&p->lock);
  p->lock_init = 0;
  if (p->ops)
    p->ops->free(p);
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
