/* Keep-alive connections to backends, per server per worker (no locks: a worker's pool is its
 * own). Idle connections keep reading so that a backend closing them is noticed at once; a
 * liveness check (non-blocking MSG_PEEK) before reuse catches what the loop has not seen yet.
 * Idle connections are capped per server (backend-idle-max) and closed after
 * backend-idle-timeout, which should stay shorter than the backends' own keep-alive timeout.
 * The cap is sized for concurrency (an h2 client sends up to 100 requests at once): below the
 * number in flight, every connection going idle above it is closed and the next request pays a
 * new connect, for it and for the backend. A surplus costs little and does not last: the list
 * is last-in first-out, so connections the load no longer needs sink to its tail unused and
 * the sweep closes them at the idle timeout (HAProxy's idle pool works the same way). */
#include "lb/proxy/backend_pool.h"

#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#define LB_BCONN_BUF (32 * 1024)
#define LB_LIVENESS_CHECK_MS 50

/* The receive buffer is lent from the worker for an exchange (a request and its response) and
 * given back when the connection goes idle: a pooled connection keeps only its struct. */
int lb_bconn_rbuf_get(lb_bconn *b) {
  if (!b->rbuf)
    b->rbuf = lb_bufpool_get(&b->w->bconnbufs, LB_BCONN_BUF + LB_BCONN_HDRS * sizeof(lb_header));
  return b->rbuf ? 0 : -1;
}

void lb_bconn_rbuf_put(lb_bconn *b) {
  if (b->rbuf) {
    lb_bufpool_put(&b->w->bconnbufs, b->rbuf);
    b->rbuf = NULL;
  }
}

static void on_handle_closed(uv_handle_t *h) {
  lb_bconn *b = h->data;
  if (--b->handles > 0)
    return;
  lb_bconn_rbuf_put(b);
  free(b);
}

static void idle_unlink(lb_bconn *b) {
  lb_idle_list *l = &b->w->idle[b->pool][b->server->index];
  if (b->prev_idle)
    b->prev_idle->next_idle = b->next_idle;
  else
    l->head = b->next_idle;
  if (b->next_idle)
    b->next_idle->prev_idle = b->prev_idle;
  b->next_idle = b->prev_idle = NULL;
  l->count--;
}

void lb_bconn_close(lb_bconn *b) {
  if (b->state == LB_B_CLOSING)
    return;
  if (b->state == LB_B_IDLE)
    idle_unlink(b);
  b->state = LB_B_CLOSING;
  b->ex = NULL;
  if (b->tun) /* a tunnel is open until its backend connection closes (tunnel.c) */
    atomic_fetch_sub_explicit(&b->w->rt->tunnels_open, 1, memory_order_relaxed);
  lb_stream_undefer(&b->wdone);
  uv_close((uv_handle_t *)&b->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&b->timer, on_handle_closed);
}

lb_bconn *lb_bconn_new(lb_worker *w, int pool, lb_server *s) {
  lb_bconn *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->w = w;
  b->pool = pool;
  b->server = s;
  b->server_gen = atomic_load_explicit(&s->generation, memory_order_relaxed);
  b->rcap = LB_BCONN_BUF; /* rbuf: lb_bconn_rbuf_get */
  if (uv_tcp_init(&w->loop, &b->tcp) != 0) {
    free(b);
    return NULL;
  }
  b->tcp.data = b;
  b->handles = 1;
  uv_timer_init(&w->loop, &b->timer);
  b->timer.data = b;
  b->handles = 2;
  b->state = LB_B_CONNECTING;
  return b;
}

/* Idle connections are aged by one sweep per worker (lb_pool_sweep, every second) rather than a
 * timer each: releasing and taking a connection then costs no timer work. */
void lb_pool_sweep(lb_worker *w) {
  uint64_t now = uv_now(&w->loop);
  uint64_t max = w->rt->cfg.backend_idle_timeout;
  for (int p = 0; p < w->rt->npools; p++)
    for (int s = 0; s < w->rt->pools[p].nservers; s++) {
      lb_bconn *b = w->idle[p][s].head;
      while (b) {
        lb_bconn *next = b->next_idle;
        if (now - b->idle_since >= max) {
          jc_log(JC_LOG_DEBUG, "closing idle backend connection to %s (%s): idle timeout",
                 b->server->name, b->server->addr_text);
          lb_bconn_close(b);
        }
        b = next;
      }
    }
}

/* The connection is still open and quiet: no EOF, no reset, no stray bytes. */
static int alive(lb_bconn *b) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&b->tcp, &fd) != 0)
    return 0;
  char byte;
  ssize_t r = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

lb_bconn *lb_pool_acquire(lb_worker *w, int pool, lb_server *s) {
  lb_idle_list *l = &w->idle[pool][s->index];
  while (l->head) {
    lb_bconn *b = l->head;
    idle_unlink(b);
    b->state = LB_B_SENDING;
    /* A connection that was idle for a while is checked with a syscall; one that went idle
     * moments ago (the usual case under load) cannot have been timed out by its backend, and
     * a close the loop has not seen yet is caught by the stale-connection retry. A slot that
     * holds another server now (DNS/reload) makes its old connections useless. */
    if (b->server_gen != atomic_load_explicit(&s->generation, memory_order_relaxed) ||
        (uv_now(&w->loop) - b->idle_since >= LB_LIVENESS_CHECK_MS && !alive(b))) {
      lb_bconn_close(b);
      continue;
    }
    b->reused = 1;
    return b;
  }
  return NULL;
}

void lb_pool_release(lb_bconn *b) {
  lb_worker *w = b->w;
  lb_idle_list *l = &w->idle[b->pool][b->server->index];
  b->ex = NULL;
  if (!b->reusable || w->stopping || l->count >= w->rt->cfg.backend_idle_max ||
      atomic_load_explicit(&b->server->state, memory_order_relaxed) == LB_SRV_REMOVED ||
      b->server_gen != atomic_load_explicit(&b->server->generation, memory_order_relaxed)) {
    lb_bconn_close(b);
    return;
  }
  b->state = LB_B_IDLE;
  b->rlen = b->rparse = 0; /* reusable: the response was read whole, nothing follows it */
  lb_bconn_rbuf_put(b);
  b->next_idle = l->head;
  b->prev_idle = NULL;
  if (l->head)
    l->head->prev_idle = b;
  l->head = b;
  l->count++;
  b->idle_since = uv_now(&w->loop);
}

void lb_pool_close_idle(lb_worker *w) {
  for (int p = 0; p < w->rt->npools; p++)
    for (int s = 0; s < w->rt->pools[p].nservers; s++)
      while (w->idle[p][s].head)
        lb_bconn_close(w->idle[p][s].head);
}
