/* What the admin page shows about recent traffic, kept per worker without locks:
 *
 *  - lb_recent_ring: the last N finished requests (phase timestamps, status, server, request id,
 *    path), a bounded ring written only by its worker. Each entry has a sequence number (odd
 *    while it is being written: a seqlock), so the control thread copies an entry and keeps it
 *    only when the number was even and unchanged around the copy.
 *  - lb_lat_window: per server, histograms of connect, response-headers and total time over the
 *    last minute: two 30-second slots, the older one cleared by the worker when it is reused.
 *    Buckets are log-linear (4 per power of two of microseconds, about 12 % wide), so p50 and
 *    p99 stay meaningful from tens of microseconds on loopback to seconds. Counters are
 *    relaxed atomics that only their worker writes (a load and a store, no locked add); the
 *    reader sums both slots when they belong to the current minute.
 *
 * The worker pays one entry copy and three bucket increments per request (lb_recent_record,
 * from the end-of-request hook); everything else (sorting, merging the workers, percentiles)
 * happens when the page is asked for. */
#ifndef JOURNEY_LB_RECENT_H
#define JOURNEY_LB_RECENT_H

#include "lb/core/timing.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LB_RECENT_ID_MAX 64   /* request id bytes kept (a UUID is 36) */
#define LB_RECENT_PATH_MAX 64 /* path bytes kept */

typedef struct lb_recent_entry {
  atomic_uint seq; /* odd while the worker writes it */
  lb_timing t;
  uint16_t status;
  int8_t pool;    /* -1: answered by journey-lb itself */
  int8_t server;  /* index in the pool, -1 none */
  uint8_t method; /* llhttp method */
  uint8_t retries;
  uint8_t id_len, path_len;
  uint8_t proto; /* LB_PROTO_HTTP1 or LB_PROTO_H2 (lb/core/stats.h) */
  char id[LB_RECENT_ID_MAX];
  char path[LB_RECENT_PATH_MAX];
} lb_recent_entry;

typedef struct lb_recent_ring {
  uint32_t cap;              /* 0: off */
  atomic_uint_fast64_t head; /* entries written so far (written by the worker only) */
  lb_recent_entry *e;        /* cap entries */
} lb_recent_ring;

#define LB_LAT_BUCKETS 104 /* 4 per power of two up to 2^26 us (67 s); larger values clamp */
#define LB_LAT_SLOT_US 30000000ull
enum { LB_LAT_CONNECT = 0, LB_LAT_HEADERS = 1, LB_LAT_TOTAL = 2, LB_LAT_KINDS = 3 };

typedef struct lb_lat_slot {
  atomic_uint_fast64_t epoch; /* time / LB_LAT_SLOT_US of the counts below */
  atomic_uint count[LB_LAT_KINDS][LB_LAT_BUCKETS];
} lb_lat_slot;

typedef struct lb_lat_window {
  lb_lat_slot slot[2];
} lb_lat_window;

/* Plain sums over the last minute, for the page. */
typedef struct lb_lat_snap {
  uint64_t count[LB_LAT_KINDS][LB_LAT_BUCKETS];
} lb_lat_snap;

/* 0 or -1 (out of memory). cap 0 keeps nothing. */
int lb_recent_init(lb_recent_ring *r, uint32_t cap);
void lb_recent_free(lb_recent_ring *r);

/* The worker, at the end of a request. */
static inline lb_recent_entry *lb_recent_begin(lb_recent_ring *r) {
  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  lb_recent_entry *e = &r->e[h % r->cap];
  unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
  atomic_store_explicit(&e->seq, s + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release); /* the odd number is seen before any new byte */
  return e;
}

static inline void lb_recent_commit(lb_recent_ring *r, lb_recent_entry *e) {
  unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
  atomic_store_explicit(&e->seq, s + 1, memory_order_release);
  atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + 1,
                        memory_order_release);
}

/* Another thread: copies up to max consistent entries, newest first; returns the count. */
size_t lb_recent_copy(const lb_recent_ring *r, lb_recent_entry *out, size_t max);

/* 4 buckets per power of two: 0..3 us are buckets 0..3, then [2^b, 2^(b+1)) splits in four. */
static inline unsigned lb_lat_bucket(uint64_t us) {
  if (us < 4)
    return (unsigned)us;
  unsigned b = 63u - (unsigned)__builtin_clzll(us); /* >= 2 */
  unsigned idx = 4 * (b - 1) + (unsigned)((us >> (b - 2)) & 3);
  return idx < LB_LAT_BUCKETS ? idx : LB_LAT_BUCKETS - 1;
}
uint64_t lb_lat_bucket_low(unsigned b); /* lower bound of bucket b, microseconds */
/* The worker: the slot of the 30 s window of now_us (cleared first when it held an older one),
 * then one count per phase into it. */
lb_lat_slot *lb_lat_slot_now(lb_lat_window *w, uint64_t now_us);
static inline void lb_lat_count_in(lb_lat_slot *s, int kind, uint64_t us) {
  atomic_uint *c = &s->count[kind][lb_lat_bucket(us)];
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}
static inline void lb_lat_observe(lb_lat_window *w, int kind, uint64_t us, uint64_t now_us) {
  lb_lat_count_in(lb_lat_slot_now(w, now_us), kind, us);
}
/* Adds w's counts of the minute ending at now_us to s. */
void lb_lat_add(const lb_lat_window *w, uint64_t now_us, lb_lat_snap *s);
/* q in (0,1]: estimated quantile in microseconds (interpolated in its bucket); 0 when empty. */
uint64_t lb_lat_quantile_us(const lb_lat_snap *s, int kind, double q);
uint64_t lb_lat_count(const lb_lat_snap *s, int kind);

#endif
