/* journey-backend's workers: one libuv loop per thread, listeners, the tick (Date header,
 * timeouts, drain deadline), the drain, start and stop. Connections are conn.c's. */
#include "backend/server.h"

#include "backend/conn.h"
#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

/* ---- health (process-wide) ---- */

static atomic_int g_healthy = 1;

void be_health_set(int healthy, const char *why) {
  int was = atomic_exchange(&g_healthy, healthy ? 1 : 0);
  jc_logline l;
  jc_log_begin(&l, JC_LOG_INFO, "health");
  jc_logline_str(&l, "state", healthy ? "up" : "down");
  jc_logline_str(&l, "was", was ? "up" : "down");
  jc_logline_str(&l, "by", why);
  jc_log_emit(&l);
}

int be_health_get(void) { return atomic_load(&g_healthy); }

/* ---- small helpers ---- */

static void date_update(be_worker *w) {
  static const char days[] = "SunMonTueWedThuFriSat";
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  time_t now = time(NULL);
  if (now == w->date_sec)
    return;
  struct tm tm;
  gmtime_r(&now, &tm);
  snprintf(w->date, sizeof w->date, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", days + 3 * tm.tm_wday,
           tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
           tm.tm_sec);
  w->date_sec = now;
}

/* ---- worker: timers, drain ---- */

static void on_worker_handle_closed(uv_handle_t *h) { (void)h; }

static void worker_check_drained(be_worker *w) {
  if (!w->draining || w->n_conns || w->stopping)
    return;
  w->stopping = 1;
  uv_close((uv_handle_t *)&w->tick, on_worker_handle_closed);
  uv_close((uv_handle_t *)&w->flush, on_worker_handle_closed);
  uv_close((uv_handle_t *)&w->wake, on_worker_handle_closed);
}

static void worker_cut_all(be_worker *w) {
  for (be_conn *c = w->conns; c; c = c->next)
    be_conn_close(c);
}

static void worker_start_drain(be_worker *w) {
  if (w->draining)
    return;
  w->draining = 1;
  w->drain_deadline = uv_now(&w->loop) + w->opt->drain_timeout_ms;
  for (int i = 0; i < w->n_listeners; i++)
    uv_close((uv_handle_t *)&w->listeners[i].tcp, on_worker_handle_closed);
  /* Idle connections go now; the others when their response is written (it says
   * Connection: close) or at the deadline. */
  for (be_conn *c = w->conns; c; c = c->next)
    be_conn_drain(c);
  worker_check_drained(w);
}

static void on_wake(uv_async_t *a) {
  be_worker *w = a->data;
  int req = atomic_load(&w->drain_req);
  if (req >= 1)
    worker_start_drain(w);
  if (req >= 2)
    worker_cut_all(w);
}

static void on_tick(uv_timer_t *t) {
  be_worker *w = t->data;
  uint64_t now = uv_now(&w->loop);
  date_update(w);
  if (w->draining && now >= w->drain_deadline) {
    worker_cut_all(w);
    return;
  }
  be_conn *next;
  for (be_conn *c = w->conns; c; c = next) {
    next = c->next;
    be_conn_tick(c, now);
  }
}

static void on_flush(uv_prepare_t *p) {
  be_worker *w = p->data;
  if (w->log.len)
    be_accesslog_flush(&w->log);
}

static void worker_main(void *arg) {
  be_worker *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  be_accesslog_flush(&w->log);
  int rc = uv_loop_close(&w->loop);
  if (rc != 0)
    jc_log(JC_LOG_WARN, "worker %d: event loop closed with handles still open (%s)", w->index,
           uv_strerror(rc));
  w->loop_ready = 0;
  atomic_fetch_add(&w->srv->exited, 1);
  uv_async_send(w->srv->done);
}

/* ---- set-up ---- */

/* A listening socket made by hand: libuv 1.44 cannot set SO_REUSEPORT before bind.
 * reuseport 0: one worker; 1: the first of several workers, which binds without SO_REUSEPORT so
 * that a port another process holds (even with SO_REUSEPORT) fails with EADDRINUSE, and sets it
 * only after the bind so that the other workers join (2: set before their bind). */
static int open_listener(const struct sockaddr *sa, socklen_t len, int reuseport, char *err,
                         size_t errlen) {
  char a[JC_ADDRSTR_MAX];
  jc_addr_format(sa, a, sizeof a);
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket for %s: %s", a, strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sa->sa_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (reuseport == 2 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    goto reuseport_failed;
  if (bind(fd, sa, len) != 0) {
    int e = errno;
    if (e == EADDRINUSE)
      snprintf(err, errlen,
               "%s is already in use by another process; stop it or choose another --listen", a);
    else
      snprintf(err, errlen, "cannot listen on %s: %s%s", a, strerror(e),
               e == EADDRNOTAVAIL ? " (no interface has this address)"
               : e == EACCES      ? " (ports below 1024 need privileges)"
                                  : "");
    close(fd);
    return -1;
  }
  if (reuseport == 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    goto reuseport_failed;
  return fd;
reuseport_failed:
  snprintf(err, errlen, "SO_REUSEPORT on %s: %s (use --workers 1)", a, strerror(errno));
  close(fd);
  return -1;
}

static void close_any(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void worker_free(be_worker *w) {
  if (!w)
    return;
  if (w->loop_ready) { /* never ran (start-up failed): close what was opened, then the loop */
    uv_walk(&w->loop, close_any, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
  }
  free(w);
}

static be_worker *worker_new(be_server *s, int index, char *err, size_t errlen) {
  be_worker *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, errlen, "out of memory creating worker %d", index);
    return NULL;
  }
  w->srv = s;
  w->opt = &s->opt;
  w->index = index;
  w->date_sec = (time_t)-1;
  w->conn_gone = worker_check_drained;
  w->rng = jc_now_ns() ^ ((uint64_t)getpid() << 32) ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(index + 1));
  if (!w->rng)
    w->rng = 1;
  date_update(w);
  be_accesslog_init(&w->log, s->opt.access_log, 1, (jc_log_format)s->opt.log_format);
  int r = uv_loop_init(&w->loop);
  if (r != 0) {
    snprintf(err, errlen, "event loop for worker %d: %s", index, uv_strerror(r));
    free(w);
    return NULL;
  }
  w->loop_ready = 1;
  return w;
}

/* Binds listener i of worker w to addr, which has the real port after the first worker. */
static int worker_listen(be_worker *w, const struct sockaddr *addr, socklen_t len,
                         be_listener **out, char *err, size_t errlen) {
  be_listener *l = &w->listeners[w->n_listeners];
  int fd = open_listener(addr, len, w->srv->n_workers == 1 ? 0 : w->index == 0 ? 1 : 2, err,
                         errlen);
  if (fd < 0)
    return -1;
  uv_tcp_init(&w->loop, &l->tcp);
  w->n_listeners++;
  l->tcp.data = l;
  l->w = w;
  int r = uv_tcp_open(&l->tcp, fd);
  if (r != 0)
    close(fd); /* otherwise the handle owns it */
  else
    r = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, be_conn_accept);
  if (r != 0) {
    snprintf(err, errlen, "listen on %s: %s", jc_addr_format(addr, l->addr, sizeof l->addr),
             uv_strerror(r));
    return -1;
  }
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &sl);
  jc_addr_format((struct sockaddr *)&ss, l->addr, sizeof l->addr);
  if (be_identity_init(&l->id, w->opt->name, l->addr) != 0) {
    snprintf(err, errlen, "name or address too long for the response: %s", l->addr);
    return -1;
  }
  *out = l;
  return 0;
}

int be_server_create(be_server **out, const be_options *o, uv_async_t *done, char *err,
                     size_t errlen) {
  *out = NULL;
  be_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  s->opt = *o;
  s->done = done;
  s->n_workers = o->workers;
  s->record_fd = -1;
  if (o->record[0]) {
    s->record_fd = open(o->record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->record_fd < 0) {
      snprintf(err, errlen, "--record %s: %s (choose a writable file path)", o->record,
               strerror(errno));
      free(s);
      return -1;
    }
  }
  atomic_store(&g_healthy, o->start_down ? 0 : 1);
  for (int i = 0; i < s->n_workers; i++) {
    s->workers[i] = worker_new(s, i, err, errlen);
    if (!s->workers[i])
      goto fail;
  }
  for (int k = 0; k < o->n_listen; k++) {
    /* Worker 0 binds what was asked (port 0: the kernel picks); the others bind the same real
     * port with SO_REUSEPORT, and the kernel spreads connections across them. */
    struct sockaddr_storage real;
    socklen_t real_len = o->listen_addr_len[k];
    memcpy(&real, &o->listen_addr[k], sizeof real);
    for (int i = 0; i < s->n_workers; i++) {
      be_listener *l;
      if (worker_listen(s->workers[i], (struct sockaddr *)&real, real_len, &l, err, errlen))
        goto fail;
      if (i == 0) {
        int sl = sizeof real;
        uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&real, &sl);
      }
    }
  }
  for (int k = 0; k < o->n_listen; k++) {
    jc_logline l;
    jc_log_begin(&l, JC_LOG_INFO, "listening");
    jc_logline_str(&l, "addr", s->workers[0]->listeners[k].addr);
    jc_logline_str(&l, "backend", o->name);
    jc_logline_int(&l, "workers", o->workers);
    jc_log_emit(&l);
  }
  *out = s;
  return 0;
fail:
  for (int i = 0; i < s->n_workers; i++)
    worker_free(s->workers[i]);
  if (s->record_fd >= 0)
    close(s->record_fd);
  free(s);
  return -1;
}

int be_server_start(be_server *s, char *err, size_t errlen) {
  for (int i = 0; i < s->n_workers; i++) {
    be_worker *w = s->workers[i];
    uv_timer_init(&w->loop, &w->tick);
    uv_prepare_init(&w->loop, &w->flush);
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->tick.data = w->flush.data = w->wake.data = w;
    unsigned every = 250; /* Date once a second at worst 250 ms late; timeouts checked as often */
    const be_options *o = &s->opt;
    unsigned finest = o->idle_timeout_ms < o->request_timeout_ms ? o->idle_timeout_ms
                                                                 : o->request_timeout_ms;
    if (o->ws_idle_timeout_ms < finest)
      finest = o->ws_idle_timeout_ms;
    if (finest / 4 < every)
      every = finest / 4 ? finest / 4 : 1;
    uv_timer_start(&w->tick, on_tick, every, every);
    uv_prepare_start(&w->flush, on_flush);
    int r = uv_thread_create(&w->thread, worker_main, w);
    if (r != 0) {
      snprintf(err, errlen, "starting worker thread %d: %s", i, uv_strerror(r));
      /* This worker never ran: be_server_destroy closes its loop. */
      be_server_drain(s, 1);
      return -1;
    }
    w->thread_started = 1;
  }
  return 0;
}

void be_server_drain(be_server *s, int force) {
  for (int i = 0; i < s->n_workers; i++) {
    be_worker *w = s->workers[i];
    if (!w->thread_started)
      continue;
    int want = force ? 2 : 1;
    int cur = atomic_load(&w->drain_req);
    if (cur < want)
      atomic_store(&w->drain_req, want);
    uv_async_send(&w->wake);
  }
}

int be_server_finished(be_server *s) {
  int started = 0;
  for (int i = 0; i < s->n_workers; i++)
    started += s->workers[i]->thread_started;
  return atomic_load(&s->exited) >= started;
}

void be_server_destroy(be_server *s) {
  if (!s)
    return;
  for (int i = 0; i < s->n_workers; i++) {
    be_worker *w = s->workers[i];
    if (w->thread_started)
      uv_thread_join(&w->thread);
    worker_free(w);
  }
  if (s->record_fd >= 0)
    close(s->record_fd);
  free(s);
}
