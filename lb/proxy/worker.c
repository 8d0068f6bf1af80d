/* Workers: one thread, one uv_loop and one SO_REUSEPORT listening socket per listener each, so
 * the kernel spreads connections over workers without a shared accept lock. What workers share
 * is in lb_runtime (server state atomics, TLS contexts, the config, read-only).
 *
 * Max connections: each worker admits max-connections / workers clients; at the limit it leaves
 * the pending connection unaccepted, which makes libuv stop polling that listener (the kernel
 * backlog holds new clients), and accepts it when a client leaves. */
#include "lb/proxy/lb.h"

#include "common/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static void on_connection(uv_stream_t *server, int status) {
  lb_worker *w = server->data;
  int i = (int)((uv_tcp_t *)server - w->listeners);
  if (status < 0) {
    jc_log(JC_LOG_WARN, "accept on worker %d failed: %s", w->id, uv_strerror(status));
    return;
  }
  if (w->nclients >= w->rt->max_clients_per_worker) {
    if (!w->listener_paused[i])
      jc_log(JC_LOG_WARN, "worker %d at max-connections (%u): accept paused", w->id,
             w->rt->max_clients_per_worker);
    w->listener_paused[i] = 1;
    return;
  }
  lb_client_accept(w, server, w->listener_tls[i]);
}

static void finish(lb_worker *w) {
  if (!uv_is_closing((uv_handle_t *)&w->wakeup))
    uv_close((uv_handle_t *)&w->wakeup, NULL);
  if (!uv_is_closing((uv_handle_t *)&w->deadline))
    uv_close((uv_handle_t *)&w->deadline, NULL);
  if (!uv_is_closing((uv_handle_t *)&w->sweep))
    uv_close((uv_handle_t *)&w->sweep, NULL);
  if (!uv_is_closing((uv_handle_t *)&w->idler))
    uv_close((uv_handle_t *)&w->idler, NULL);
  lb_pool_close_idle(w);
}

void lb_worker_client_gone(lb_worker *w) {
  if (w->stopping) {
    if (w->nclients == 0)
      finish(w);
    return;
  }
  for (int i = 0; i < w->nlisteners; i++)
    if (w->listener_paused[i] && w->nclients < w->rt->max_clients_per_worker) {
      w->listener_paused[i] = 0;
      lb_client_accept(w, (uv_stream_t *)&w->listeners[i], w->listener_tls[i]);
    }
}

static void on_sweep(uv_timer_t *t) { lb_pool_sweep(t->data); }

static void on_deadline(uv_timer_t *t) {
  lb_worker *w = t->data;
  jc_log(JC_LOG_WARN, "worker %d: shutdown deadline reached, closing %u connections", w->id,
         w->nclients);
  while (w->clients)
    lb_client_close(w->clients, "shutdown-deadline");
}

static void on_wakeup(uv_async_t *a) {
  lb_worker *w = a->data;
  if (w->stopping || !atomic_load(&w->rt->stopping))
    return;
  w->stopping = 1;
  for (int i = 0; i < w->nlisteners; i++)
    uv_close((uv_handle_t *)&w->listeners[i], NULL);
  lb_pool_close_idle(w);
  lb_client *c = w->clients;
  while (c) {
    lb_client *next = c->next;
    lb_client_begin_stop(c);
    c = next;
  }
  if (w->nclients == 0) {
    finish(w);
    return;
  }
  uv_timer_start(&w->deadline, on_deadline, w->rt->cfg.shutdown_timeout, 0);
}

void lb_worker_request_stop(lb_worker *w) { uv_async_send(&w->wakeup); }

/* xorshift128+: request ids, not secrets. */
uint64_t lb_worker_random(lb_worker *w) {
  uint64_t s1 = w->rng[0];
  const uint64_t s0 = w->rng[1];
  w->rng[0] = s0;
  s1 ^= s1 << 23;
  w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
  return w->rng[1] + s0;
}

static void on_idle(uv_idle_t *h);

void lb_worker_defer(lb_worker *w, lb_deferred *d, void (*cb)(lb_deferred *d)) {
  if (d->next)
    return;
  d->cb = cb;
  d->prev = w->deferred.prev;
  d->next = &w->deferred;
  w->deferred.prev->next = d;
  w->deferred.prev = d;
  if (!uv_is_active((uv_handle_t *)&w->idler))
    uv_idle_start(&w->idler, on_idle);
}

void lb_worker_undefer(lb_deferred *d) {
  if (!d->next)
    return;
  d->prev->next = d->next;
  d->next->prev = d->prev;
  d->next = d->prev = NULL;
}

static void on_idle(uv_idle_t *h) {
  lb_worker *w = h->data;
  /* Run what is queued now; completions queued meanwhile wait for the next turn. */
  lb_deferred batch;
  if (w->deferred.next == &w->deferred) {
    uv_idle_stop(h);
    return;
  }
  batch.next = w->deferred.next;
  batch.prev = w->deferred.prev;
  batch.next->prev = &batch;
  batch.prev->next = &batch;
  w->deferred.next = w->deferred.prev = &w->deferred;
  while (batch.next != &batch) {
    lb_deferred *d = batch.next;
    lb_worker_undefer(d);
    d->cb(d);
  }
  if (w->deferred.next == &w->deferred)
    uv_idle_stop(h);
}

/* ---- per-worker free lists of same-size blocks (lb_bufpool) ----
 * LIFO (the block reused first is the one whose pages are resident), at most LB_BUFPOOL_KEEP
 * blocks kept each: enough for the requests a worker usually has in flight at once (a few times
 * the 64 connections of the benchmarks), while a burst beyond that gives its extra blocks back
 * to the allocator instead of pinning them for the process's life. */

#define LB_BUFPOOL_KEEP 256

char *lb_bufpool_get(lb_bufpool *p, size_t size) { return jc_blockpool_get(p, size); }

void lb_bufpool_put(lb_bufpool *p, char *blk) { jc_blockpool_put(p, blk, LB_BUFPOOL_KEEP); }

void lb_bufpool_free(lb_bufpool *p) { jc_blockpool_drain(p); }

int lb_stream_try_write(lb_worker *w, uv_stream_t *s, lb_deferred *d, void (*done)(lb_deferred *d),
                        uv_buf_t *bufs, unsigned n, unsigned *first) {
  size_t total = 0;
  for (unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  int r = uv_try_write(s, bufs, n);
  if (r == UV_EAGAIN || r == UV_ENOSYS)
    r = 0;
  if (r < 0)
    return r;
  if ((size_t)r == total) {
    lb_worker_defer(w, d, done);
    return 1;
  }
  /* The socket took part: the rest is for uv_write (libuv copies the uv_buf_t array). */
  size_t skip = (size_t)r;
  unsigned i = 0;
  while (skip && skip >= bufs[i].len)
    skip -= bufs[i++].len;
  bufs[i].base += skip;
  bufs[i].len -= skip;
  *first = i;
  return 0;
}

int lb_stream_write(lb_worker *w, uv_stream_t *s, uv_write_t *req, lb_deferred *d,
                    void (*done)(lb_deferred *d), uv_buf_t *bufs, unsigned n, uv_write_cb cb) {
  unsigned i = 0;
  int r = lb_stream_try_write(w, s, d, done, bufs, n, &i);
  if (r != 0)
    return r < 0 ? r : 0;
  return uv_write(req, s, bufs + i, n - i, cb);
}

static void *worker_main(void *arg) {
  lb_worker *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  lb_worker_free_reqbufs(w);
  if (uv_loop_close(&w->loop) != 0)
    jc_log(JC_LOG_WARN, "worker %d: loop closed with handles still open", w->id);
  return NULL;
}

int lb_worker_start(lb_worker *w) {
  lb_runtime *rt = w->rt;
  if (uv_loop_init(&w->loop) != 0)
    return -1;
  w->loop.data = w;
  uv_async_init(&w->loop, &w->wakeup, on_wakeup);
  w->wakeup.data = w;
  uv_timer_init(&w->loop, &w->deadline);
  w->deadline.data = w;
  uv_timer_init(&w->loop, &w->sweep);
  w->sweep.data = w;
  uv_timer_start(&w->sweep, on_sweep, 1000, 1000);
  uv_idle_init(&w->loop, &w->idler);
  w->idler.data = w;
  w->deferred.next = w->deferred.prev = &w->deferred;
  if (getrandom(w->rng, sizeof w->rng, 0) != sizeof w->rng || (!w->rng[0] && !w->rng[1])) {
    w->rng[0] = (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15ull;
    w->rng[1] = (uint64_t)w->id * 0xbf58476d1ce4e5b9ull + 1;
  }
  for (int p = 0; p < rt->npools; p++) {
    w->idle[p] = calloc(LB_MAX_SERVERS, sizeof(lb_idle_list)); /* every slot (issue 5) */
    if (!w->idle[p])
      return -1;
  }
  for (int i = 0; i < w->nlisteners; i++) {
    uv_tcp_init(&w->loop, &w->listeners[i]);
    w->listeners[i].data = w;
    int r = uv_tcp_open(&w->listeners[i], w->listener_fd[i]);
    if (r == 0)
      r = uv_listen((uv_stream_t *)&w->listeners[i], 1024, on_connection);
    if (r != 0) {
      jc_log(JC_LOG_ERROR, "worker %d: cannot listen: %s", w->id, uv_strerror(r));
      return -1;
    }
  }
  return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}
