/* Round-robin: smooth weighted round-robin (nginx: every step adds each server's weight to its
 * current value, takes the largest and subtracts the total from it; weights 1/2/3 give
 * c b a c b c, spread evenly, never bursts), precomputed for one period over the servers UP and
 * replayed: a pick is one step along that schedule, O(1) under the pool mutex. Equal weights
 * make it a plain rotation. Weights whose period (sum of the weights divided by their gcd)
 * exceeds LB_RR_SCHEDULE_MAX fall back to computing smooth WRR at each pick over the servers UP
 * (O(n)). The schedule is also hash's choice for requests without a key. */
#include "lb/core/balancer/balancer.h"

#include <stdlib.h>
#include <string.h>

static int gcd(int a, int b) {
  while (b) {
    int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

int lb_rr_init(lb_pool *p) {
  p->rr.order = calloc(LB_RR_SCHEDULE_MAX, sizeof *p->rr.order);
  p->rr.up = calloc(LB_MAX_SERVERS, sizeof *p->rr.up);
  p->rr.last = -1;
  return p->rr.order && p->rr.up ? 0 : -1;
}

void lb_rr_free(lb_pool *p) {
  free(p->rr.order);
  free(p->rr.up);
  p->rr.order = p->rr.up = NULL;
}

/* The schedule for the servers UP now: their smooth WRR sequence over one period (the same
 * picks as running smooth WRR from zero), or, for equal weights, the servers in index order. */
void lb_rr_build(lb_pool *p) {
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
  memset(cur, 0, sizeof cur); // whole array: GCC -O2 cannot see nup >= 0 (stringop-overflow)
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
    if (!lb_balancer_eligible(s, tried))
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

/* Inline in rr_pick: the round-robin hot path makes no call of its own. */
static inline int rr_next(lb_pool *p, const lb_tried *tried) {
  lb_rr_sched *r = &p->rr;
  int best = -1;
  if (r->smooth) {
    best = rr_smooth(p, tried);
  } else {
    /* One step; more only past a server tried already or one that changed state since the
     * rebuild (its turn is lost, the others keep theirs). */
    for (int k = 0; k < r->len; k++) {
      int i = r->order[r->pos];
      if (++r->pos == r->len)
        r->pos = 0;
      if (lb_balancer_eligible(&p->servers[i], tried)) {
        best = i;
        break;
      }
    }
  }
  if (best >= 0)
    r->last = best;
  return best;
}

int lb_rr_next(lb_pool *p, const lb_tried *tried) { return rr_next(p, tried); }

static int rr_pick(lb_pool *p, const lb_key *key, const lb_tried *tried) {
  (void)key;
  pthread_mutex_lock(&p->lock);
  lb_pool_refresh(p);
  int best = rr_next(p, tried);
  pthread_mutex_unlock(&p->lock);
  return best;
}

const lb_balancer_ops lb_balancer_round_robin = {
    .keyed = 0,
    .init = lb_rr_init,
    .free = lb_rr_free,
    .build = lb_rr_build,
    .pick = rr_pick,
    .begin = NULL, /* counting only */
    .end = NULL,
};
