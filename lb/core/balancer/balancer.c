/* Server choice: smooth weighted round-robin (a precomputed schedule) and weighted
 * least-connections (a heap); see balancer.h. */
#include "lb/core/balancer/balancer.h"

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
  p->rr.order = calloc(LB_RR_SCHEDULE_MAX, sizeof *p->rr.order);
  p->rr.up = calloc(LB_MAX_SERVERS, sizeof *p->rr.up);
  p->lc.node = calloc(LB_MAX_SERVERS, sizeof *p->lc.node);
  p->lc.at = calloc(LB_MAX_SERVERS, sizeof *p->lc.at);
  if (!p->servers || !p->rr.order || !p->rr.up || !p->lc.node || !p->lc.at) {
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
  p->rr.last = -1;
  atomic_init(&p->changes, 1); /* built = 0: the first pick builds */
  return 0;
}

void lb_pool_free(lb_pool *p) {
  if (p->lock_init)
    pthread_mutex_destroy(&p->lock);
  p->lock_init = 0;
  free(p->servers);
  free(p->rr.order);
  free(p->rr.up);
  free(p->lc.node);
  free(p->lc.at);
  p->servers = NULL;
  p->rr.order = p->rr.up = NULL;
  p->lc.node = NULL;
  p->lc.at = NULL;
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

static int gcd(int a, int b) {
  while (b) {
    int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* ---- round-robin ---- */

/* The schedule for the servers UP now: their smooth WRR sequence over one period (the same
 * picks as running smooth WRR from zero), or, for equal weights, the servers in index order. */
static void rr_build(lb_pool *p) {
  lb_rr_sched *r = &p->rr;
  int n = atomic_load_explicit(&p->nservers, memory_order_acquire), g = 0, equal = 1;
  r->nup = 0;
  for (int i = 0; i < n; i++) {
    const lb_server *s = &p->servers[i];
    if (!lb_server_is_up(s))
      continue;
    if (r->nup > 0 && s->weight != p->servers[r->up[0]].weight)
      equal = 0;
    g = gcd(s->weight, g);
    r->up[r->nup++] = (uint16_t)i;
  }
  r->smooth = 0;
  r->len = 0;
  if (r->nup == 0) {
    r->pos = 0;
    return;
  }
  if (equal) {
    /* Resume after the server picked last: a server leaving or joining does not give its
     * neighbour two turns in a row, as smooth WRR's accumulated current weights would. */
    memcpy(r->order, r->up, (size_t)r->nup * sizeof *r->order);
    r->len = r->nup;
    r->pos = 0;
    for (int k = 0; k < r->len; k++)
      if (r->order[k] > r->last) {
        r->pos = k;
        break;
      }
    return;
  }
  int64_t period = 0;
  for (int k = 0; k < r->nup; k++)
    period += p->servers[r->up[k]].weight / g;
  if (period > LB_RR_SCHEDULE_MAX) {
    r->smooth = 1;
    for (int k = 0; k < r->nup; k++)
      p->servers[r->up[k]].rr_current = 0;
    return;
  }
  int64_t cur[LB_MAX_SERVERS];
  memset(cur, 0, (size_t)r->nup * sizeof *cur);
  for (int t = 0; t < period; t++) {
    int best = 0;
    for (int k = 0; k < r->nup; k++) {
      cur[k] += p->servers[r->up[k]].weight / g;
      if (cur[k] > cur[best])
        best = k;
    }
    cur[best] -= period;
    r->order[t] = r->up[best];
  }
  r->len = (int)period;
  r->pos %= r->len; /* keep the phase: a change does not restart at the heaviest server */
}

/* Smooth WRR computed at each pick, over the servers UP: weights with a very long period. */
static int rr_smooth(lb_pool *p, const lb_tried *tried) {
  lb_rr_sched *r = &p->rr;
  int best = -1;
  int64_t total = 0;
  for (int k = 0; k < r->nup; k++) {
    lb_server *s = &p->servers[r->up[k]];
    if (!eligible(s, tried))
      continue;
    s->rr_current += s->weight;
    total += s->weight;
    if (best < 0 || s->rr_current > p->servers[best].rr_current)
      best = r->up[k];
  }
  if (best >= 0)
    p->servers[best].rr_current -= total;
  return best;
}

/* ---- least-conn: a min-heap on (active+1)/weight, then on the stamp ---- */

static inline int lc_before(const lb_lc_node *a, const lb_lc_node *b) {
  int64_t l = (int64_t)a->load * b->weight, r = (int64_t)b->load * a->weight;
  return l < r || (l == r && (int32_t)(a->stamp - b->stamp) < 0);
}

static inline void lc_put(lb_lc_heap *h, int k, lb_lc_node v) {
  h->node[k] = v;
  h->at[v.server] = (int16_t)k;
}

static void lc_up(lb_lc_heap *h, int k) {
  lb_lc_node v = h->node[k];
  while (k > 0) {
    int parent = (k - 1) / 2;
    if (!lc_before(&v, &h->node[parent]))
      break;
    lc_put(h, k, h->node[parent]);
    k = parent;
  }
  lc_put(h, k, v);
}

static void lc_down(lb_lc_heap *h, int k) {
  lb_lc_node v = h->node[k];
  for (;;) {
    int c = 2 * k + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && lc_before(&h->node[c + 1], &h->node[c]))
      c++;
    if (!lc_before(&h->node[c], &v))
      break;
    lc_put(h, k, h->node[c]);
    k = c;
  }
  lc_put(h, k, v);
}

static void lc_build(lb_pool *p) {
  lb_lc_heap *h = &p->lc;
  int n = atomic_load_explicit(&p->nservers, memory_order_acquire);
  h->n = 0;
  for (int i = 0; i < LB_MAX_SERVERS; i++)
    h->at[i] = -1;
  for (int i = 0; i < n; i++) {
    const lb_server *s = &p->servers[i];
    if (!lb_server_is_up(s))
      continue;
    lb_lc_node v = {.load = atomic_load_explicit(&s->active, memory_order_relaxed) + 1,
                    .weight = s->weight,
                    .stamp = s->lc_stamp,
                    .server = i};
    lc_put(h, h->n++, v);
  }
  for (int k = h->n / 2 - 1; k >= 0; k--)
    lc_down(h, k);
}

/* Under the pool mutex: rebuilds the picking state after lb_pool_changed. */
static inline void refresh(lb_pool *p) {
  unsigned c = atomic_load_explicit(&p->changes, memory_order_acquire);
  if (c == p->built)
    return;
  p->built = c;
  if (p->algo == LB_ALGO_LEAST_CONN)
    lc_build(p);
  else
    rr_build(p);
}

void lb_balancer_lc_move(lb_server *s, int delta) {
  lb_pool *p = s->pool;
  pthread_mutex_lock(&p->lock);
  atomic_fetch_add_explicit(&s->active, delta, memory_order_relaxed);
  if (delta > 0)
    s->lc_stamp = ++p->lc.clock;
  /* A stale heap is left alone: the next pick rebuilds it from `active`. */
  int k = p->lc.at[s->index];
  if (k >= 0 && p->built == atomic_load_explicit(&p->changes, memory_order_relaxed)) {
    lb_lc_node *v = &p->lc.node[k];
    v->load += delta;
    v->stamp = s->lc_stamp;
    if (delta > 0)
      lc_down(&p->lc, k);
    else
      lc_up(&p->lc, k);
  }
  pthread_mutex_unlock(&p->lock);
}

/* ---- picks ---- */

int lb_balancer_pick_rr(lb_pool *p, const lb_tried *tried) {
  int best = -1;
  pthread_mutex_lock(&p->lock);
  refresh(p);
  lb_rr_sched *r = &p->rr;
  if (r->smooth) {
    best = rr_smooth(p, tried);
  } else {
    /* One step; more only past a server tried already or one that changed state since the
     * rebuild (its turn is lost, the others keep theirs). */
    for (int k = 0; k < r->len; k++) {
      int i = r->order[r->pos];
      if (++r->pos == r->len)
        r->pos = 0;
      if (eligible(&p->servers[i], tried)) {
        best = i;
        break;
      }
    }
  }
  if (best >= 0)
    r->last = best;
  pthread_mutex_unlock(&p->lock);
  return best;
}

/* Least (active+1)/weight by a scan: retries (servers to avoid) and a heap not rebuilt yet. */
static int lc_scan(lb_pool *p, const lb_tried *tried) {
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

int lb_balancer_pick_leastconn(lb_pool *p, const lb_tried *tried) {
  if (tried && tried->n > 0)
    return lc_scan(p, tried);
  pthread_mutex_lock(&p->lock);
  refresh(p);
  int best = p->lc.n > 0 ? p->lc.node[0].server : -1;
  pthread_mutex_unlock(&p->lock);
  /* A state written without lb_pool_changed (yet): do not trust the heap. */
  if (best >= 0 && !lb_server_is_up(&p->servers[best]))
    return lc_scan(p, NULL);
  return best;
}

int lb_balancer_pick(lb_pool *p, const lb_tried *tried) {
  return p->algo == LB_ALGO_LEAST_CONN ? lb_balancer_pick_leastconn(p, tried)
                                       : lb_balancer_pick_rr(p, tried);
}
