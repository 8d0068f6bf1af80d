/* Workers: one thread, one uv_loop and one SO_REUSEPORT listening socket per listener each, so
 * the kernel spreads connections over workers without a shared accept lock. What workers share
 * is in lb_runtime (server state atomics, TLS contexts, the config, read-only).
 *
 * Max connections: each worker admits max-connections / workers clients; at the limit it leaves
 * the pending connection unaccepted, which makes libuv stop polling that listener (the kernel
 * backlog holds new clients), and accepts it when a client leaves. Out of descriptors, the same
 * pause holds until one is free again (fd_short below). */
#include "lb/proxy/access_log.h"
#include "lb/proxy/backend_pool.h"
#include "lb/proxy/client_buffers.h"
#include "lb/proxy/client_conn.h"
#include "lb/proxy/idle_trim.h"
#include "lb/proxy/worker.h"
#include "lb/proxy/h2_conn.h"

#include "common/clock.h"
#include "common/log.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Out of descriptors at accept(). libuv calls accept() again at once, in a loop, until it succeeds
 * or the queue is empty; its own reserve descriptor is gone when another thread took the one it
 * freed. Left alone, this thread would spin there while its own clients, whose closing would free
 * descriptors, wait. So give it one: the spare, or else this worker's idle backend connections.
 * The connection that then gets accepted waits in libuv (paused) until resume_accept() finds a
 * descriptor free again. */
static void fd_short(lb_worker *w) {
  lb_fd_exhausted("accepting a client connection");
  w->fd_short = 1;
  if (w->spare_fd >= 0) {
    close(w->spare_fd);
    w->spare_fd = -1;
  } else {
    lb_pool_close_idle(w);
  }
}

static void resume_accept(lb_worker *w) {
  if (w->fd_short) {
    if (w->spare_fd < 0)
      w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (w->spare_fd < 0)
      return; /* still none: the sweep tries again */
    w->fd_short = 0;
  }
  for (int i = 0; i < w->nlisteners; i++)
    if (w->listener_paused[i] && w->nclients < w->rt->max_clients_per_worker) {
      w->listener_paused[i] = 0;
      lb_client_accept(w, (uv_stream_t *)&w->listeners[i], w->listener_tls[i]);
    }
}

static void on_connection(uv_stream_t *server, int status) {
  lb_worker *w = server->data;
  int i = (int)((uv_tcp_t *)server - w->listeners);
  if (status < 0) {
    if (status == UV_EMFILE || status == UV_ENFILE)
      fd_short(w);
    else
      jc_log(JC_LOG_WARN, "accept on worker %d failed: %s", w->id, uv_strerror(status));
    return;
  }
  if (w->fd_short) { /* the connection waits in libuv until a descriptor is free again */
    w->listener_paused[i] = 1;
    return;
  }
  if (w->nclients >= w->rt->max_clients_per_worker) {
    if (!w->listener_paused[i])
      jc_log(JC_LOG_WARN, "worker %d at max-connections (%u): accept paused", w->id,
             w->rt->max_clients_per_worker);
    w->listener_paused[i] = 1;
    return;
  }
  uint32_t before = w->nclients;
  lb_client_accept(w, server, w->listener_tls[i]);
  /* libuv hides EMFILE from accept (it accepts and closes with a reserved descriptor), so the
   * warning comes from the descriptor numbers: the kernel gives the lowest free one, and one
   * close to the limit means the next connections will be dropped. */
  uv_os_fd_t fd;
  if (w->nclients > before && uv_fileno((uv_handle_t *)&w->clients->s.tcp, &fd) == 0 &&
      (uint64_t)fd + 16 >= lb_fd_limit())
    lb_fd_exhausted("accepting client connections");
}

static void finish(lb_worker *w) {
  if (!uv_is_closing((uv_handle_t *)&w->wakeup))
    uv_close((uv_handle_t *)&w->wakeup, NULL);
  if (!uv_is_closing((uv_handle_t *)&w->deadline))
    uv_close((uv_handle_t *)&w->deadline, NULL);
  if (!uv_is_closing((uv_handle_t *)&w->sweep))
    uv_close((uv_handle_t *)&w->sweep, NULL);
  lb_idle_trim_close(w);
  lb_stream_loop_close(&w->sl);
  lb_access_log_close(w);
  lb_pool_close_idle(w);
  if (w->spare_fd >= 0) {
    close(w->spare_fd);
    w->spare_fd = -1;
  }
}

static void client_gone(lb_worker *w) {
  if (w->stopping) {
    if (w->nclients == 0)
      finish(w);
    return;
  }
  resume_accept(w);
}

static void on_sweep(uv_timer_t *t) {
  lb_worker *w = t->data;
  lb_pool_sweep(w);
  if (w->fd_short && !w->stopping)
    resume_accept(w); /* a worker with no client of its own to free one */
}

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
    if (c->state == LB_C_H2)
      w->h2->stop(c); /* GOAWAY: the streams in flight finish, the client opens no more */
    else
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


static void *worker_main(void *arg) {
  lb_worker *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  lb_worker_free_reqbufs(w);
  lb_access_log_free(w);
  if (uv_loop_close(&w->loop) != 0)
    jc_log(JC_LOG_WARN, "worker %d: loop closed with handles still open", w->id);
  return NULL;
}

int lb_worker_stats_init(lb_worker *w, uint32_t recent) {
  if (lb_recent_init(&w->recent, recent) != 0)
    return -1;
  for (int p = 0; p < w->rt->npools; p++) {
    /* 160 KiB per pool, untouched (no memory used) until a server of it is seen */
    w->lat[p] = calloc(LB_MAX_SERVERS, sizeof *w->lat[p]);
    if (!w->lat[p])
      return -1;
  }
  return 0;
}

void lb_worker_stats_free(lb_worker *w) {
  lb_recent_free(&w->recent);
  for (int p = 0; p < LB_MAX_POOLS; p++) {
    free(w->lat[p]);
    w->lat[p] = NULL;
  }
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
  lb_idle_trim_start(w);
  lb_stream_loop_init(&w->sl, &w->loop, LB_BUFPOOL_KEEP);
  if (lb_access_log_init(w) != 0)
    return -1;
  w->client_gone = client_gone;
  w->h2 = &lb_h2_codec;
  w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (getrandom(w->rng, sizeof w->rng, 0) != sizeof w->rng || (!w->rng[0] && !w->rng[1])) {
    w->rng[0] = (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15ull;
    w->rng[1] = (uint64_t)w->id * 0xbf58476d1ce4e5b9ull + 1;
  }
  for (int p = 0; p < rt->npools; p++) {
    w->idle[p] = calloc(LB_MAX_SERVERS, sizeof(lb_idle_list)); /* every slot */
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
