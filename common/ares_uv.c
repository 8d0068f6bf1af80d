/* c-ares inside a libuv loop (ares_uv.h). */
#include "common/ares_uv.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

static void poll_closed(uv_handle_t *h) { free(h); }

static void after_process(jc_ares_uv *a) {
  a->cur_fd = ARES_SOCKET_BAD;
  a->in_process = 0;
  if (a->close_pending)
    jc_ares_uv_close(a, a->closed);
  else
    jc_ares_uv_update(a);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  jc_ares_uv *a = p->data;
  ares_socket_t fd = ARES_SOCKET_BAD;
  for (int i = 0; i < JC_ARES_UV_SOCKS; i++)
    if (a->socks[i].poll == p)
      fd = a->socks[i].fd;
  if (fd == ARES_SOCKET_BAD || !a->ch_ok)
    return;
  /* On a poll error let c-ares read: it sees the socket's error and tries elsewhere. */
  ares_socket_t rfd = (status < 0 || (events & UV_READABLE)) ? fd : ARES_SOCKET_BAD;
  ares_socket_t wfd = (status == 0 && (events & UV_WRITABLE)) ? fd : ARES_SOCKET_BAD;
  a->cur_fd = fd;
  a->in_process = 1;
  ares_process_fd(a->ch, rfd, wfd);
  after_process(a);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable) {
  jc_ares_uv *a = data;
  int slot = -1, free_slot = -1;
  for (int i = 0; i < JC_ARES_UV_SOCKS; i++) {
    if (a->socks[i].poll && a->socks[i].fd == fd)
      slot = i;
    else if (!a->socks[i].poll && free_slot < 0)
      free_slot = i;
  }
  if (!readable && !writable) { /* c-ares closes the socket */
    if (slot >= 0) {
      uv_close((uv_handle_t *)a->socks[slot].poll, poll_closed);
      a->socks[slot].poll = NULL;
      a->socks[slot].fd = ARES_SOCKET_BAD;
    }
    return;
  }
  if (slot < 0) {
    if (free_slot < 0 || a->closing) {
      if (a->who && !a->closing)
        jc_log(JC_LOG_WARN, "%s: too many resolver sockets; socket %d left to c-ares' timer",
               a->who, (int)fd);
      return; /* c-ares' timer still runs: the query times out and is retried */
    }
    uv_poll_t *p = malloc(sizeof *p);
    if (!p || uv_poll_init_socket(a->loop, p, fd) != 0) {
      free(p);
      if (a->who)
        jc_log(JC_LOG_WARN, "%s: cannot watch resolver socket %d", a->who, (int)fd);
      return;
    }
    p->data = a;
    a->socks[free_slot].poll = p;
    a->socks[free_slot].fd = fd;
    slot = free_slot;
  }
  uv_poll_start(a->socks[slot].poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                on_poll);
}

static void on_timer(uv_timer_t *t) {
  jc_ares_uv *a = (jc_ares_uv *)(void *)((char *)t - offsetof(jc_ares_uv, timer));
  if (!a->ch_ok)
    return;
  a->in_process = 1;
  ares_process_fd(a->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  after_process(a);
}

int jc_ares_uv_init(jc_ares_uv *a, uv_loop_t *loop, struct ares_options *o, int mask,
                    const char *who) {
  memset(a, 0, sizeof *a);
  a->loop = loop;
  a->who = who;
  a->cur_fd = ARES_SOCKET_BAD;
  for (int i = 0; i < JC_ARES_UV_SOCKS; i++)
    a->socks[i].fd = ARES_SOCKET_BAD;
  o->sock_state_cb = on_sock_state;
  o->sock_state_cb_data = a;
  int st = ares_init_options(&a->ch, o, mask | ARES_OPT_SOCK_STATE_CB);
  if (st != ARES_SUCCESS)
    return st;
  uv_timer_init(loop, &a->timer);
  a->ch_ok = 1;
  return ARES_SUCCESS;
}

void jc_ares_uv_update(jc_ares_uv *a) {
  if (!a->ch_ok || a->closing)
    return;
  struct timeval tv, *tvp = ares_timeout(a->ch, NULL, &tv);
  if (tvp) /* + 1 ms: ares_timeout rounds down, and a timer that fires early only re-arms */
    uv_timer_start(&a->timer, on_timer, (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000 + 1, 0);
  else
    uv_timer_stop(&a->timer);
}

void jc_ares_uv_close(jc_ares_uv *a, uv_close_cb closed) {
  if (!a->ch_ok)
    return;
  a->closed = closed;
  if (a->in_process) { /* called from a c-ares callback: once c-ares has returned */
    a->close_pending = 1;
    return;
  }
  a->close_pending = 0;
  a->closing = 1;
  a->ch_ok = 0; /* first: a query callback run by ares_destroy may close again */
  ares_destroy(a->ch); /* callbacks run with ARES_EDESTRUCTION; its sockets close (sock_state) */
  for (int i = 0; i < JC_ARES_UV_SOCKS; i++)
    if (a->socks[i].poll) {
      uv_close((uv_handle_t *)a->socks[i].poll, poll_closed);
      a->socks[i].poll = NULL;
      a->socks[i].fd = ARES_SOCKET_BAD;
    }
  uv_close((uv_handle_t *)&a->timer, closed);
}
