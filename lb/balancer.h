/* Backend servers, pools and the choice of a server (pure: no I/O).
 *
 * lb_server holds the state that every worker shares: health state, in-flight requests and
 * counters, all atomics, so that least-connections sees the load of every worker and health
 * checks (issue 5) flip a server for all of them at once. Only servers in LB_SRV_UP are picked;
 * in-flight requests on a server that goes DOWN/DRAIN finish normally.
 *
 * Algorithms:
 *  - round-robin: smooth weighted round-robin (nginx): every pick adds each eligible server's
 *    weight to its current value, takes the largest and subtracts the total from it. Weights 1/2/3
 *    give a,b,c spread evenly (c b a c b c), never bursts. State under the pool mutex.
 *  - least-conn: minimise (active+1)/weight over eligible servers; ties resolved by a rotating
 *    start so that an idle pool is not always sent to its first server. */
#ifndef JOURNEY_LB_BALANCER_H
#define JOURNEY_LB_BALANCER_H

#include "lb/config.h"
#include "lb/stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

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

  int64_t rr_current; /* smooth WRR current weight (pool mutex) */

  /* Issue 5 (lb/health_check.c, lb/discovery.c, lb/admin.c). `state` above is the published
   * result of these inputs, written by the control loop only (lb_control_publish). */
  atomic_uint generation;        /* bumped when a slot gets a new server: stale pooled conns close */
  atomic_uint consec_5xx;        /* passive checks: consecutive 5xx responses (workers) */
  atomic_uint consec_connect;    /* consecutive connect failures/timeouts (workers) */
  atomic_int eject_request;      /* a threshold was reached: the control loop decides */
  lb_srv_metrics m;              /* per-request counters and histograms (lb/stats.h) */
} lb_server;

typedef struct lb_pool {
  char name[LB_NAME_MAX];
  lb_algo algo;
  atomic_int nservers;   /* slots in use or used before (high-water mark, <= LB_MAX_SERVERS) */
  lb_server *servers;    /* LB_MAX_SERVERS slots: DNS discovery and reload fill and empty them */
  pthread_mutex_t lock;   /* smooth WRR state */
  atomic_uint rr_start;   /* least-conn tie rotation */
  atomic_uint_fast64_t no_server;  /* requests answered 503: no server UP (issue 5) */
  atomic_uint outlier_5xx;         /* passive-check thresholds (0 = off), set by the control loop */
  atomic_uint outlier_connect;
} lb_pool;

/* Builds a pool from its configuration (servers UP, counters 0). Returns 0 or -1 (memory). */
int lb_pool_init(lb_pool *p, const lb_pool_cfg *cfg);
void lb_pool_free(lb_pool *p);

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

static inline void lb_server_begin(lb_server *s) {
  atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
}
static inline void lb_server_end(lb_server *s) {
  atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
}
static inline int lb_server_is_up(const lb_server *s) {
  return atomic_load_explicit(&s->state, memory_order_relaxed) == LB_SRV_UP;
}
const char *lb_server_state_name(int state);

#endif
