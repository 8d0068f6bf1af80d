/* Backend servers, pools and the choice of a server (pure: no I/O).
 *
 * lb_server holds the state that every worker shares: health state, in-flight requests and
 * counters, all atomics, so that least-connections sees the load of every worker and health
 * checks (issue 5) flip a server for all of them at once. Only servers in LB_SRV_UP are picked;
 * in-flight requests on a server that goes DOWN/DRAIN finish normally.
 *
 * Algorithms (state under the pool mutex; no pick walks the pool, except the fallbacks below):
 *  - round-robin: the sequence of smooth weighted round-robin (nginx: every step adds each
 *    server's weight to its current value, takes the largest and subtracts the total from it;
 *    weights 1/2/3 give c b a c b c, spread evenly, never bursts), precomputed for one period
 *    over the servers UP and replayed: a pick is one step along that schedule. Equal weights make
 *    it a plain rotation. Weights whose period (sum of the weights divided by their gcd) exceeds
 *    LB_RR_SCHEDULE_MAX fall back to computing smooth WRR at each pick over the servers UP.
 *  - least-conn: minimise (active+1)/weight over the servers UP, ties to the one that began a
 *    request least recently (so an idle pool takes turns as requests begin); a binary heap kept
 *    ordered by lb_server_begin/lb_server_end (O(log n), under the pool mutex), so a pick reads
 *    its top. Retries (a `tried` list) scan all the servers, as they are rare.
 *
 * Both are rebuilt, at the next pick, after lb_pool_changed(): whoever changes a server's state,
 * weight or presence calls it (lb_control_publish does, for every change at run time). */
#ifndef JOURNEY_LB_BALANCER_H
#define JOURNEY_LB_BALANCER_H

#include "lb/core/config.h"
#include "lb/core/stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct lb_pool lb_pool;

typedef enum {
  LB_SRV_UP = 0,    /* receives new requests */
  LB_SRV_DOWN = 1,  /* failed health checks: no new requests */
  LB_SRV_DRAIN = 2, /* admin drain: no new requests, in-flight finish */
  LB_SRV_MAINT = 3, /* admin disable */
  LB_SRV_REMOVED = 4 /* empty slot: removed by DNS discovery or reload (issue 5) */
} lb_server_state;

typedef struct lb_server {
  char name[LB_NAME_MAX];
  char addr_text[LB_NAME_MAX];
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int weight;
  int index; /* position in its pool: key of the per-worker connection pools */

  atomic_int state;               /* lb_server_state */
  atomic_int active;              /* in-flight requests, all workers */
  atomic_uint_fast64_t requests;  /* requests sent (completed or not) */
  atomic_uint_fast64_t failures;  /* connect failures, timeouts, resets */
  atomic_uint_fast64_t responses_5xx;

  int64_t rr_current; /* smooth WRR current weight (pool mutex; the fallback of round-robin) */
  lb_pool *pool;      /* the pool of this slot */
  uint32_t lc_stamp;  /* least-conn: when it last began a request (pool mutex) */

  /* Issue 5 (lb/health_check.c, lb/discovery.c, lb/admin.c). `state` above is the published
   * result of these inputs, written by the control loop only (lb_control_publish). */
  atomic_uint generation;        /* bumped when a slot gets a new server: stale pooled conns close */
  atomic_uint consec_5xx;        /* passive checks: consecutive 5xx responses (workers) */
  atomic_uint consec_connect;    /* consecutive connect failures/timeouts (workers) */
  atomic_int eject_request;      /* a threshold was reached: the control loop decides */
  lb_srv_metrics m;              /* per-request counters and histograms (lb/stats.h) */
} lb_server;

/* Round-robin: one period of the smooth WRR sequence over the servers UP (pool mutex). */
#define LB_RR_SCHEDULE_MAX 4096
typedef struct lb_rr_sched {
  uint16_t *order;  /* LB_RR_SCHEDULE_MAX server indexes; `len` in use */
  int len, pos;     /* the next pick is order[pos] */
  int last;         /* server picked last, or -1: where an equal-weight rotation resumes */
  int smooth;       /* 1: period too long, smooth WRR at each pick over `up` instead */
  uint16_t *up;     /* LB_MAX_SERVERS: the servers UP at the last rebuild, by index */
  int nup;
} lb_rr_sched;

/* Least-conn: a binary min-heap of the servers UP (pool mutex). */
typedef struct lb_lc_node {
  int32_t load;     /* active + 1 (the heap's copy, kept by lb_server_begin/end) */
  int32_t weight;
  uint32_t stamp;   /* when it last began a request: ties go to the oldest */
  int32_t server;
} lb_lc_node;
typedef struct lb_lc_heap {
  lb_lc_node *node; /* LB_MAX_SERVERS */
  int16_t *at;      /* LB_MAX_SERVERS: position of each server in `node`, or -1 */
  int n;
  uint32_t clock;
} lb_lc_heap;

struct lb_pool {
  char name[LB_NAME_MAX];
  lb_algo algo;
  atomic_int nservers;   /* slots in use or used before (high-water mark, <= LB_MAX_SERVERS) */
  lb_server *servers;    /* LB_MAX_SERVERS slots: DNS discovery and reload fill and empty them */
  pthread_mutex_t lock;   /* the picking state below */
  int lock_init;
  atomic_uint changes;    /* bumped by lb_pool_changed */
  unsigned built;         /* `changes` when rr/lc were built */
  lb_rr_sched rr;
  lb_lc_heap lc;
  atomic_uint rr_start;   /* least-conn tie rotation on retries */
  atomic_uint_fast64_t no_server;  /* requests answered 503: no server UP (issue 5) */
  atomic_uint outlier_5xx;         /* passive-check thresholds (0 = off), set by the control loop */
  atomic_uint outlier_connect;
};

/* Builds a pool from its configuration (servers UP, counters 0). Returns 0 or -1 (memory). */
int lb_pool_init(lb_pool *p, const lb_pool_cfg *cfg);
void lb_pool_free(lb_pool *p);
/* A server of p changed state, weight or presence: the picking state is rebuilt at the next
 * pick (cheap to call often: it only bumps a counter). Call it after the change is visible. */
static inline void lb_pool_changed(lb_pool *p) {
  atomic_fetch_add_explicit(&p->changes, 1, memory_order_release);
}

/* The servers already tried for one request (a retry never goes back to them). A short list
 * rather than a bitmask so that pools may hold hundreds of servers; retries are at most 10. */
#define LB_TRIED_MAX 12
typedef struct lb_tried {
  int n;
  int idx[LB_TRIED_MAX];
} lb_tried;
static inline void lb_tried_add(lb_tried *t, int index) {
  if (t->n < LB_TRIED_MAX)
    t->idx[t->n++] = index;
}

/* Picks a server of the pool that is UP and not in `tried` (NULL: none tried yet). Returns its
 * index, or -1 when none is eligible (503). Does not count the request: call lb_server_begin
 * on the result. */
int lb_balancer_pick(lb_pool *p, const lb_tried *tried);
int lb_balancer_pick_rr(lb_pool *p, const lb_tried *tried);
int lb_balancer_pick_leastconn(lb_pool *p, const lb_tried *tried);

/* Least-conn pools: `active` changes under the pool mutex, with the heap. */
void lb_balancer_lc_move(lb_server *s, int delta);

/* A request is sent to s / is done with s (in-flight count of least-conn and of the stats). */
static inline void lb_server_begin(lb_server *s) {
  atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
  if (s->pool && s->pool->algo == LB_ALGO_LEAST_CONN)
    lb_balancer_lc_move(s, 1);
  else
    atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
}
static inline void lb_server_end(lb_server *s) {
  if (s->pool && s->pool->algo == LB_ALGO_LEAST_CONN)
    lb_balancer_lc_move(s, -1);
  else
    atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
}
static inline int lb_server_is_up(const lb_server *s) {
  return atomic_load_explicit(&s->state, memory_order_relaxed) == LB_SRV_UP;
}
const char *lb_server_state_name(int state);

#endif
