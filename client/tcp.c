#include "client/tcp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/clock.h"

size_t jn_tcp_order(const jn_result *r, int port, struct sockaddr_storage *out, socklen_t *outlen, size_t max) {
  size_t n = 0, i4 = 0, i6 = 0;
  int want = r->answer_n ? r->answers[0].family : 4;
  while (n < max) {
    const jn_dns_answer *a = NULL;
    size_t *ix = want == 6 ? &i6 : &i4;
    while (*ix < r->answer_n && r->answers[*ix].family != want)
      (*ix)++;
    if (*ix < r->answer_n)
      a = &r->answers[(*ix)++];
    else {
      want = want == 6 ? 4 : 6;
      ix = want == 6 ? &i6 : &i4;
      while (*ix < r->answer_n && r->answers[*ix].family != want)
        (*ix)++;
      if (*ix >= r->answer_n)
        break;
      a = &r->answers[(*ix)++];
    }
    if (jc_ip_parse(a->addr, port, &out[n], &outlen[n]) == 0)
      n++;
    want = want == 6 ? 4 : 6;
  }
  return n;
}

static void poll_closed(uv_handle_t *h) { free(h); }

static void drop(jn_tcp *c, int i, const char *result, int err) {
  jn_attempt *a = &c->r->attempts[c->live[i].attempt];
  a->us = jc_now_us() - c->t0 - a->start_us;
  jn_strlcpy(a->result, result, sizeof a->result);
  if (err)
    jn_strlcpy(a->error, strerror(err), sizeof a->error);
  uv_close((uv_handle_t *)c->live[i].poll, poll_closed);
  close(c->live[i].fd);
  c->live[i].poll = NULL;
  c->live[i].fd = -1;
}

static int live_count(const jn_tcp *c) {
  int k = 0;
  for (int i = 0; i < JN_ATTEMPT_MAX; i++)
    k += c->live[i].poll != NULL;
  return k;
}

static void stop_timer(jn_tcp *c) {
  if (c->timer_on) {
    c->timer_on = 0;
    uv_close((uv_handle_t *)c->stagger, poll_closed);
    c->stagger = NULL;
  }
}

static void start_next(jn_tcp *c);
static void on_stagger(uv_timer_t *t);

static void fail_if_exhausted(jn_tcp *c) {
  if (c->done || live_count(c) || c->next < c->n)
    return;
  c->done = 1;
  stop_timer(c);
  jn_result *r = c->r;
  snprintf(r->error, sizeof r->error, "could not connect to %s port %d: %s (%zu address%s tried)", r->url.host,
           r->url.port, strerror(c->last_err ? c->last_err : ECONNREFUSED), r->attempt_n, r->attempt_n == 1 ? "" : "es");
  c->cb(c, -1, NULL, JN_EXIT_CONNECT);
}

static void on_writable(uv_poll_t *p, int status, int events) {
  jn_tcp *c = p->data;
  int i;
  for (i = 0; i < JN_ATTEMPT_MAX && c->live[i].poll != p; i++)
    ;
  if (i == JN_ATTEMPT_MAX || c->done)
    return;
  int err = 0;
  socklen_t el = sizeof err;
  if (getsockopt(c->live[i].fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
    err = errno;
  if (!err && status < 0)
    err = ECONNREFUSED;
  if (err) {
    c->last_err = err;
    drop(c, i, err == ECONNREFUSED ? "refused" : err == ETIMEDOUT ? "timeout" : "error", err);
    start_next(c);
    fail_if_exhausted(c);
    return;
  }
  /* The winner. */
  c->done = 1;
  jn_attempt *a = &c->r->attempts[c->live[i].attempt];
  a->us = jc_now_us() - c->t0 - a->start_us;
  snprintf(a->result, sizeof a->result, "connected");
  uv_poll_stop(p);
  int fd = c->live[i].fd;
  c->live[i].poll = NULL;
  c->live[i].fd = -1;
  for (int k = 0; k < JN_ATTEMPT_MAX; k++)
    if (c->live[k].poll)
      drop(c, k, "abandoned", 0);
  stop_timer(c);
  c->cb(c, fd, p, 0);
}

static void start_next(jn_tcp *c) {
  while (!c->done && c->next < c->n) {
    jn_result *r = c->r;
    size_t k = c->next++;
    if (r->attempt_n == JN_ATTEMPT_MAX)
      return;
    int slot;
    for (slot = 0; slot < JN_ATTEMPT_MAX && c->live[slot].poll; slot++)
      ;
    if (slot == JN_ATTEMPT_MAX)
      return;
    jn_attempt *a = &r->attempts[r->attempt_n++];
    memset(a, 0, sizeof *a);
    jc_addr_format((struct sockaddr *)&c->addr[k], a->addr, sizeof a->addr);
    a->start_us = jc_now_us() - c->t0;
    int fd = socket(c->addr[k].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect(fd, (struct sockaddr *)&c->addr[k], c->addrlen[k]) != 0 && errno != EINPROGRESS)
        err = errno;
    }
    uv_poll_t *p = err ? NULL : malloc(sizeof *p);
    if (!err && (!p || uv_poll_init_socket(c->loop, p, fd) != 0)) {
      err = ENOMEM;
      free(p);
      p = NULL;
    }
    if (err) {
      if (fd >= 0)
        close(fd);
      c->last_err = err;
      jn_strlcpy(a->result, err == ECONNREFUSED ? "refused" : "error", sizeof a->result);
      jn_strlcpy(a->error, strerror(err), sizeof a->error);
      continue; /* failed at once: the next address now */
    }
    p->data = c;
    uv_poll_start(p, UV_WRITABLE, on_writable);
    c->live[slot].poll = p;
    c->live[slot].fd = fd;
    c->live[slot].attempt = r->attempt_n - 1;
    if (c->next < c->n && c->timer_on)
      uv_timer_start(c->stagger, on_stagger, JN_TCP_STAGGER_MS, 0);
    return;
  }
}

static void on_stagger(uv_timer_t *t) {
  jn_tcp *c = t->data;
  start_next(c);
  fail_if_exhausted(c);
}

int jn_tcp_connect(jn_tcp *c, uv_loop_t *loop, jn_result *r, const struct sockaddr_storage *addr,
                   const socklen_t *len, size_t n, jn_tcp_cb cb) {
  void *keep = c->data;
  memset(c, 0, sizeof *c);
  c->data = keep;
  c->loop = loop;
  c->r = r;
  c->cb = cb;
  c->n = n > JN_ADDR_MAX ? JN_ADDR_MAX : n;
  memcpy(c->addr, addr, c->n * sizeof addr[0]);
  memcpy(c->addrlen, len, c->n * sizeof len[0]);
  for (int i = 0; i < JN_ATTEMPT_MAX; i++)
    c->live[i].fd = -1;
  c->t0 = jc_now_us();
  if (c->n > 1 && (c->stagger = malloc(sizeof *c->stagger)) != NULL) {
    if (uv_timer_init(loop, c->stagger) == 0) {
      c->timer_on = 1;
      c->stagger->data = c;
    } else {
      free(c->stagger);
      c->stagger = NULL;
    }
  }
  start_next(c);
  fail_if_exhausted(c);
  return 0;
}

void jn_tcp_cancel(jn_tcp *c, const char *result) {
  if (c->done)
    return;
  c->done = 1;
  for (int i = 0; i < JN_ATTEMPT_MAX; i++)
    if (c->live[i].poll)
      drop(c, i, result, 0);
  stop_timer(c);
}

void jn_tcp_info(int fd, jn_result *r) {
  struct tcp_info ti;
  socklen_t tl = sizeof ti;
  memset(&ti, 0, sizeof ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0)
    return;
  r->rtt_us = ti.tcpi_rtt;
  r->rttvar_us = ti.tcpi_rttvar;
  r->mss = ti.tcpi_snd_mss;
  r->cwnd = ti.tcpi_snd_cwnd;
  r->retrans = ti.tcpi_total_retrans;
}
