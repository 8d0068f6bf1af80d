/* Backend servers, pools and the choice of a server (pure: no I/O).
 *
 * lb_server holds the state that every worker shares: health state, in-flight requests and
 * counters, all atomics, so that least-connections sees the load of every worker and health
 * checks flip a server for all of them at once. Only servers in LB_SRV_UP are picked; in-flight
 * requests on a server that goes DOWN/DRAIN finish normally.
 *
 * An algorithm is one lb_balancer_ops table and one file (HAProxy's lbprm, nginx's peer.init /
 * peer.get): round_robin.c, least_conn.c, hash.c. The pool holds a pointer to its table; nothing
 * outside the algorithm files branches on which algorithm a pool uses. Their state lives under
 * the pool mutex and is rebuilt by ops->build at the next pick after lb_pool_changed(): whoever
 * changes a server's state, weight or presence calls it (lb_control_publish does, for every
 * change at run time). What each algorithm costs per pick is said in its file. */
#ifndef JOURNEY_LB_BALANCER_H
#define JOURNEY_LB_BALANCER_H

#include "lb/core/balancer/hash_key.h"
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
  LB_SRV_REMOVED = 4 /* empty slot: removed by DNS discovery or reload */
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

  /* Inputs of the control plane (lb/control/). `state` above is the published result of these
   * inputs, written by the control loop only (lb_control_publish). */
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

/* Hash: a Maglev lookup table (hash.c) over the servers present, whatever their state. */
#define LB_HASH_TABLE_SIZE 65537 /* prime, > 100 x LB_MAX_SERVERS (Maglev's rule for balance) */
typedef struct lb_hash_table {
  uint16_t *entry;  /* LB_HASH_TABLE_SIZE server indexes; NULL until the first build */
  uint64_t digest;  /* of the names and weights it was built from: state changes keep it */
  int nservers;     /* servers in the table (0: nothing present) */
} lb_hash_table;

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

/* One balancing algorithm. */
typedef struct lb_balancer_ops {
  int keyed;                   /* picks by a request key: the caller computes one (lb_key) */
  int (*init)(lb_pool *p);     /* allocates its state; 0 or -1 (memory) */
  void (*free)(lb_pool *p);
  void (*build)(lb_pool *p);   /* pool mutex held: the servers changed (lb_pool_changed) */
  /* A server that is UP and not in `tried`, or -1 (503). key: NULL when the request has none
   * (or the algorithm is not keyed). Takes the pool mutex itself (or none: least-conn retries). */
  int (*pick)(lb_pool *p, const lb_key *key, const lb_tried *tried);
  /* A request is sent to s / is done with s: `active` + 1 / - 1 and the algorithm's own
   * bookkeeping. NULL: `active` only, inline (no call on the hot path). */
  void (*begin)(lb_server *s);
  void (*end)(lb_server *s);
} lb_balancer_ops;

extern const lb_balancer_ops lb_balancer_round_robin, lb_balancer_least_conn, lb_balancer_hash;

struct lb_pool {
  char name[LB_NAME_MAX];
  lb_algo algo;
  const lb_balancer_ops *ops;
  lb_hash_key_cfg hash_key; /* keyed algorithms: which part of a request is the key */
  atomic_int nservers;   /* slots in use or used before (high-water mark, <= LB_MAX_SERVERS) */
  lb_server *servers;    /* LB_MAX_SERVERS slots: DNS discovery and reload fill and empty them */
  pthread_mutex_t lock;   /* the picking state below */
  int lock_init;
  atomic_uint changes;    /* bumped by lb_pool_changed */
  unsigned built;         /* `changes` when ops->build last ran */
  lb_rr_sched rr;         /* round-robin, and hash's requests without a key */
  lb_lc_heap lc;
  lb_hash_table hash;
  atomic_uint rr_start;   /* least-conn tie rotation on retries */
  atomic_uint_fast64_t no_server;  /* requests answered 503: no server UP */
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

/* Picks a server of the pool that is UP and not in `tried` (NULL: none tried yet). key: the
 * request's key for keyed algorithms (lb_pool_key), else NULL. Returns its index, or -1 when
 * none is eligible (503). Does not count the request: call lb_server_begin on the result. */
static inline int lb_balancer_pick(lb_pool *p, const lb_key *key, const lb_tried *tried) {
  return p->ops->pick(p, key, tried);
}
/* The key of a request for p, in *out: NULL when p does not pick by key or the request has
 * none (no such header or cookie): the algorithm then picks without one. */
static inline const lb_key *lb_pool_key(const lb_pool *p, const lb_key_source *src, lb_key *out) {
  return p->ops->keyed && lb_hash_key_of(&p->hash_key, src, out) ? out : NULL;
}

/* A request is sent to s / is done with s (in-flight count of least-conn and of the stats). */
static inline void lb_server_begin(lb_server *s) {
  atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
  void (*begin)(lb_server *) = s->pool->ops->begin;
  if (begin)
    begin(s);
  else
    atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
}
static inline void lb_server_end(lb_server *s) {
  void (*end)(lb_server *) = s->pool->ops->end;
  if (end)
    end(s);
  else
    atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
}
static inline int lb_server_is_up(const lb_server *s) {
  return atomic_load_explicit(&s->state, memory_order_relaxed) == LB_SRV_UP;
}
const char *lb_server_state_name(int state);

/* ---- for the algorithm files ---- */

/* UP and not in `tried`. */
static inline int lb_balancer_eligible(const lb_server *s, const lb_tried *tried) {
  if (!lb_server_is_up(s))
    return 0;
  for (int k = 0; tried && k < tried->n; k++) /* only on retries: the list is short */
    if (tried->idx[k] == s->index)
      return 0;
  return 1;
}
/* Pool mutex held: ops->build when a change was announced since the last one. */
static inline void lb_pool_refresh(lb_pool *p) {
  unsigned c = atomic_load_explicit(&p->changes, memory_order_acquire);
  if (c != p->built) {
    p->built = c;
    p->ops->build(p);
  }
}
/* Round-robin's schedule, shared with hash for requests without a key (pool mutex held). */
int lb_rr_init(lb_pool *p);
void lb_rr_free(lb_pool *p);
void lb_rr_build(lb_pool *p);
int lb_rr_next(lb_pool *p, const lb_tried *tried);

#endif
