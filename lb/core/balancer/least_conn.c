/* Least-connections: minimise (active+1)/weight over the servers UP, ties to the one that began
 * a request least recently (so an idle pool takes turns as requests begin). A binary min-heap
 * kept ordered by begin/end (O(log n), under the pool mutex), so a pick reads its top. Retries
 * (a `tried` list) scan all the servers, as they are rare. */
#include "lb/core/balancer/balancer.h"

#include <stdlib.h>

static int lc_init(lb_pool *p) {
  p->lc.node = calloc(LB_MAX_SERVERS, sizeof *p->lc.node);
  p->lc.at = calloc(LB_MAX_SERVERS, sizeof *p->lc.at);
  return p->lc.node && p->lc.at ? 0 : -1;
}

static void lc_free(lb_pool *p) {
  free(p->lc.node);
  free(p->lc.at);
  p->lc.node = NULL;
  p->lc.at = NULL;
}

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

/* `active` changes under the pool mutex, with the heap. */
static void lc_move(lb_server *s, int delta) {
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

static void lc_begin(lb_server *s) { lc_move(s, 1); }
static void lc_end(lb_server *s) { lc_move(s, -1); }

/* Least (active+1)/weight by a scan: retries (servers to avoid) and a heap not rebuilt yet. */
static int lc_scan(lb_pool *p, const lb_tried *tried) {
  int n = p->nservers;
  int best = -1, ties = 0;
  int64_t best_load = 0, best_w = 1;
  int64_t load[LB_MAX_SERVERS];
  /* Pass 1: the lowest (active+1)/weight, compared without division, and how many share it. */
  for (int i = 0; i < n && i < LB_MAX_SERVERS; i++) {
    lb_server *s = &p->servers[i];
    if (!lb_balancer_eligible(s, tried)) {
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

static int lc_pick(lb_pool *p, const lb_key *key, const lb_tried *tried) {
  (void)key;
  if (tried && tried->n > 0)
    return lc_scan(p, tried);
  pthread_mutex_lock(&p->lock);
  lb_pool_refresh(p);
  int best = p->lc.n > 0 ? p->lc.node[0].server : -1;
  pthread_mutex_unlock(&p->lock);
  /* A state written without lb_pool_changed (yet): do not trust the heap. */
  if (best >= 0 && !lb_server_is_up(&p->servers[best]))
    return lc_scan(p, NULL);
  return best;
}

const lb_balancer_ops lb_balancer_least_conn = {
    .keyed = 0,
    .init = lc_init,
    .free = lc_free,
    .build = lc_build,
    .pick = lc_pick,
    .begin = lc_begin,
    .end = lc_end,
};
