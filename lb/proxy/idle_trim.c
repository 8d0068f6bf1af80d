/* Memory a burst left behind goes back to the kernel once the worker is quiet.
 *
 * During a burst (many handshakes, requests in flight) the worker's free lists fill with blocks
 * whose touched pages stay resident, and the handshakes' temporary OpenSSL allocations leave
 * free holes in the heap that glibc keeps. When traffic falls, the open connections need none
 * of that. Every LB_IDLE_TRIM_MS the worker looks at what happened in the last tick, from
 * counters it keeps anyway (nothing is added to a request's path but the lists' low-water
 * compare, common/blockpool.h):
 *  - busy (a request finished, a connection came, a block was lent): nothing is freed, the
 *    lists start a new interval;
 *  - quiet for the first time since it was busy: the blocks no one took during the tick are
 *    freed (the lists, nghttp2's small blocks, the thread's TLS ciphertext blocks, the write
 *    requests), and when every worker is quiet, malloc_trim(0) gives the free pages of the
 *    heap back to the kernel. Once: a worker that stays quiet does nothing more.
 * malloc_trim walks every arena (workers are threads sharing glibc's arenas): a busy worker's
 * recently freed chunks would be given back too and fault in again at its next requests, so
 * only the last worker to go quiet calls it. A steady load never trims: every tick sees
 * requests finish. */
#include "lb/proxy/idle_trim.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"

#include <malloc.h>

static uint64_t activity(lb_worker *w) {
  uint64_t n = w->next_conn_id;
  for (int i = 0; i < LB_PROTO_COUNT; i++)
    n += atomic_load_explicit(&w->requests_by_proto[i], memory_order_relaxed);
  return n;
}

static lb_bufpool *lists(lb_worker *w, int i) {
  lb_bufpool *l[] = {&w->reqbufs, &w->rxbufs, &w->bconnbufs, &w->h2bufs, &w->h2outbufs,
                     &w->h2streams};
  return i < (int)(sizeof l / sizeof l[0]) ? l[i] : NULL;
}

static int lists_untouched(lb_worker *w) {
  for (int i = 0; lists(w, i); i++)
    if (!jc_blockpool_untouched(lists(w, i)))
      return 0;
  return jc_blockpool_untouched(&w->sl.ioblks) && lb_h2_mem_cache_untouched(&w->h2mem);
}

static void quiet_release(lb_worker *w) {
  unsigned blocks = lb_stream_loop_trim(&w->sl);
  for (int i = 0; lists(w, i); i++)
    blocks += jc_blockpool_trim(lists(w, i));
  size_t h2small = lb_h2_mem_cache_trim(&w->h2mem), tls = jc_tls_spare_trim();
  int last = atomic_fetch_add(&w->rt->workers_quiet, 1) + 1 == w->rt->nworkers;
  uint64_t t0 = jc_now_us(), trim_us = 0;
  int trimmed = 0;
  if (last) {
    trimmed = malloc_trim(0);
    trim_us = jc_now_us() - t0;
  }
  jc_log(JC_LOG_DEBUG,
         "worker %d quiet: freed %u spare blocks, %zu B of h2 small blocks, %zu B of TLS "
         "blocks; %s (%llu us)",
         w->id, blocks, h2small, tls,
         !last ? "heap trim left to the last quiet worker"
               : trimmed ? "heap trimmed" : "heap had nothing to give back",
         (unsigned long long)trim_us);
}

static void on_tick(uv_timer_t *t) {
  lb_worker *w = t->data;
  uint64_t seen = activity(w);
  int quiet = seen == w->trim_seen && lists_untouched(w);
  w->trim_seen = seen;
  if (!quiet) {
    if (w->trim_quiet) {
      w->trim_quiet = 0;
      atomic_fetch_sub(&w->rt->workers_quiet, 1);
    }
    for (int i = 0; lists(w, i); i++)
      jc_blockpool_mark(lists(w, i));
    jc_blockpool_mark(&w->sl.ioblks);
    for (int i = 0; i < LB_H2_MEM_CLASSES; i++)
      jc_blockpool_mark(&w->h2mem.cls[i]);
    jc_tls_spare_mark();
    return;
  }
  if (!w->trim_quiet) {
    w->trim_quiet = 1;
    quiet_release(w);
  }
}

void lb_idle_trim_start(lb_worker *w) {
  uv_timer_init(&w->loop, &w->trim);
  w->trim.data = w;
  uv_timer_start(&w->trim, on_tick, LB_IDLE_TRIM_MS, LB_IDLE_TRIM_MS);
}

void lb_idle_trim_close(lb_worker *w) {
  if (!uv_is_closing((uv_handle_t *)&w->trim))
    uv_close((uv_handle_t *)&w->trim, NULL);
  if (w->trim_quiet) {
    w->trim_quiet = 0;
    atomic_fetch_sub(&w->rt->workers_quiet, 1);
  }
}
