/* Per-worker ring of recent requests and last-minute latency windows (see recent.h). */
#include "lb/core/recent.h"

#include <stdlib.h>
#include <string.h>

int lb_recent_init(lb_recent_ring *r, uint32_t cap) {
  memset(r, 0, sizeof *r);
  if (!cap)
    return 0;
  r->e = calloc(cap, sizeof *r->e);
  if (!r->e)
    return -1;
  r->cap = cap;
  return 0;
}

void lb_recent_free(lb_recent_ring *r) {
  free(r->e);
  r->e = NULL;
  r->cap = 0;
}

size_t lb_recent_copy(const lb_recent_ring *r, lb_recent_entry *out, size_t max) {
  if (!r->cap)
    return 0;
  uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
  size_t n = 0;
  for (uint64_t k = 0; k < r->cap && k < h && n < max; k++) {
    const lb_recent_entry *e = &r->e[(h - 1 - k) % r->cap];
    unsigned s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
    if (s1 & 1)
      continue; /* being written now: it is the newest, the page misses it this time */
    memcpy(&out[n], e, sizeof *e);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1)
      continue;
    atomic_init(&out[n].seq, 0);
    n++;
  }
  return n;
}

uint64_t lb_lat_bucket_low(unsigned idx) {
  if (idx < 4)
    return idx;
  unsigned b = idx / 4 + 1, sub = idx % 4;
  return (4ull + sub) << (b - 2);
}

lb_lat_slot *lb_lat_slot_now(lb_lat_window *w, uint64_t now_us) {
  uint64_t ep = now_us / LB_LAT_SLOT_US;
  lb_lat_slot *s = &w->slot[ep & 1];
  if (atomic_load_explicit(&s->epoch, memory_order_relaxed) != ep) {
    /* Once per 30 s: the slot held the minute before last. A reader summing meanwhile sees a
     * few stale counts at worst. */
    for (int k = 0; k < LB_LAT_KINDS; k++)
      for (int i = 0; i < LB_LAT_BUCKETS; i++)
        atomic_store_explicit(&s->count[k][i], 0, memory_order_relaxed);
    atomic_store_explicit(&s->epoch, ep, memory_order_release);
  }
  return s;
}

void lb_lat_add(const lb_lat_window *w, uint64_t now_us, lb_lat_snap *snap) {
  uint64_t ep = now_us / LB_LAT_SLOT_US;
  for (int i = 0; i < 2; i++) {
    const lb_lat_slot *s = &w->slot[i];
    uint64_t e = atomic_load_explicit(&s->epoch, memory_order_acquire);
    if (e != ep && e + 1 != ep)
      continue;
    for (int k = 0; k < LB_LAT_KINDS; k++)
      for (int b = 0; b < LB_LAT_BUCKETS; b++)
        snap->count[k][b] += atomic_load_explicit(&s->count[k][b], memory_order_relaxed);
  }
}

uint64_t lb_lat_count(const lb_lat_snap *s, int kind) {
  uint64_t n = 0;
  for (int b = 0; b < LB_LAT_BUCKETS; b++)
    n += s->count[kind][b];
  return n;
}

uint64_t lb_lat_quantile_us(const lb_lat_snap *s, int kind, double q) {
  uint64_t n = lb_lat_count(s, kind);
  if (!n)
    return 0;
  double rank = q * (double)n, seen = 0;
  for (unsigned b = 0; b < LB_LAT_BUCKETS; b++) {
    uint64_t c = s->count[kind][b];
    if (!c)
      continue;
    if (seen + (double)c >= rank) {
      double lo = (double)lb_lat_bucket_low(b), hi = (double)lb_lat_bucket_low(b + 1);
      double frac = (rank - seen) / (double)c;
      return (uint64_t)(lo + (hi - lo) * (frac < 0 ? 0 : frac) + 0.5);
    }
    seen += (double)c;
  }
  return lb_lat_bucket_low(LB_LAT_BUCKETS - 1);
}
