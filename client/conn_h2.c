/* HTTP/2 on one connection: the streams the run wants open beside each other (the framing and
 * HPACK are in h2.c, over nghttp2), their --max-time, GOAWAY and the hand-back of requests a
 * connection can no longer carry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/conn_state.h"
#include "client/exit_code.h"
#include "common/clock.h"

static int h2_write(void *ud, const uint8_t *p, size_t n) {
  jn_conn *c = ud;
  if (!c->tls_on)
    return jc_buf_append(&c->wbuf, p, n) == 0 ? 0 : -1;
  return jc_tls_write(&c->tls, p, n) == JC_TLS_OK && jn_conn_tls_drain(c) == 0 ? 0 : -1;
}

/* A stream is over: its result is accounted like an HTTP/1.1 request's; the run may want another. */
static void h2_done(void *ud, jn_result *r, int code) {
  jn_conn *c = ud;
  jn_conn_account(c, r, code);
  if (jn_run_request_done(c->run, r))
    c->h2_want++;
  free(r);
}

static void h2_submit(jn_conn *c, jn_result *r, uint64_t t0) {
  jn_run *run = c->run;
  r->t_request = r->t_pretransfer = jc_now_us() - t0; /* h2.c stamps pretransfer again as HEADERS goes */
  char authority[JN_URL_HOST_MAX + 16];
  const jn_url *u = &run->proto->url;
  int v6 = u->host_is_ip == 6;
  if (u->port_explicit) /* as a Host header would have it */
    snprintf(authority, sizeof authority, v6 ? "[%s]:%d" : "%s:%d", u->host, u->port);
  else
    snprintf(authority, sizeof authority, v6 ? "[%s]" : "%s", u->host);
  if (jn_h2_submit(c->h2, r, t0, run->req, run->req_len, c->tls_on ? "https" : "http", authority, run->o->body,
                   run->o->body_len) != 0) {
    r->t_total = jc_now_us() - t0;
    h2_done(c, r, JN_EXIT_HTTP2);
  }
}

/* Another request on this connection: no connect, no handshake (as a kept-alive request). */
static void h2_stream(jn_conn *c) {
  jn_run *run = c->run;
  jn_result *r = malloc(sizeof *r);
  if (!r) {
    jn_run_unclaim(run);
    return;
  }
  memset(r, 0, sizeof *r);
  memcpy(&r->url, &run->proto->url, sizeof r->url);
  memcpy(r->method, run->proto->method, sizeof r->method);
  r->tcp_reused = 1;
  r->tls_used = c->tls_on;
  memcpy(r->local, c->local, sizeof r->local);
  memcpy(r->remote, c->remote, sizeof r->remote);
  memcpy(r->alpn, c->r->alpn, sizeof r->alpn);
  h2_submit(c, r, jc_now_us());
}

/* The oldest open stream's --max-time. */
static void h2_arm(jn_conn *c) {
  double limit = c->run->o->max_time;
  uint64_t oldest = c->h2 ? jn_h2_oldest(c->h2) : 0;
  if (limit <= 0 || !oldest || c->state == C_WAITING)
    return;
  uint64_t end = oldest + (uint64_t)(limit * 1e6), now = jc_now_us();
  uv_timer_start(&c->timer, jn_conn_on_deadline, end > now ? (end - now + 999) / 1000 : 1, 0);
}

void jn_conn_h2_timeout(jn_conn *c) {
  double limit = c->run->o->max_time;
  char why[128];
  snprintf(why, sizeof why, "timed out after %.3f s during the http phase (--max-time)", limit);
  jn_h2_expire(c->h2, jc_now_us() - (uint64_t)(limit * 1e6), JN_EXIT_TIMEOUT, why);
  jn_conn_h2_pump(c);
}

/* Requests the run still wants but this connection cannot carry: back to the run, and a new
 * connection takes them (after a GOAWAY, or when this one broke). */
static void h2_hand_back(jn_conn *c) {
  int want = c->h2_want;
  c->h2_want = 0;
  for (int i = 0; i < want; i++)
    jn_run_unclaim(c->run);
  if (want)
    jn_conn_spawn(c->run);
}

/* Opens the streams the run wants, ends the connection when it has nothing more to carry. */
void jn_conn_h2_pump(jn_conn *c) {
  jn_run *run = c->run;
  if (c->closing || !c->h2)
    return;
  int idle = jn_h2_open_streams(c->h2) == 0;
  if (run->o->interval > 0 && c->h2_want && idle && !c->h2_go && c->state != C_WAITING) {
    c->state = C_WAITING;
    uv_timer_start(&c->timer, jn_conn_on_deadline, (uint64_t)(run->o->interval * 1000), 0);
    return;
  }
  if (c->state == C_WAITING)
    return;
  c->h2_go = 0;
  while (c->h2_want > 0 && c->h2 && jn_h2_can_submit(c->h2) && !run->o->no_keepalive) {
    c->h2_want--;
    h2_stream(c);
  }
  if (c->h2 && jn_h2_flush(c->h2) == 0 && jn_conn_flush(c) != 0) {
    jn_conn_h2_broken(c, JN_EXIT_RECV, c->r->error);
    return;
  }
  if (!c->h2 || jn_h2_open_streams(c->h2) > 0) {
    h2_arm(c);
    return;
  }
  /* nothing in flight */
  uv_timer_stop(&c->timer);
  jn_h2_close(c->h2); /* GOAWAY: we are done */
  jn_conn_flush(c);
  jn_conn_close_socket(c);
  h2_hand_back(c);
  jn_conn_free(c);
}

void jn_conn_h2_broken(jn_conn *c, int code, const char *why) {
  char w[512];
  jn_strlcpy(w, why, sizeof w); /* why may live in c->r */
  if (c->h2)
    jn_h2_fail_all(c->h2, code, w);
  jn_conn_close_socket(c);
  uv_timer_stop(&c->timer);
  h2_hand_back(c);
  jn_conn_free(c);
}

/* ALPN chose h2 (or --http2 on plain http): the connection's first request becomes stream 1,
 * and the run's next requests open streams beside it. */
void jn_conn_h2_start(jn_conn *c) {
  jn_run *run = c->run;
  jn_result *r = c->r;
  const jn_opts *o = run->o;
  jn_h2_cbs cbs = {.ud = c, .write = h2_write, .done = h2_done};
  jn_h2_out out = {.out = run->out, .dump = run->dump, .include = o->include, .follow = o->follow, .head = o->head};
  c->state = C_RECEIVING;
  memcpy(c->local, r->local, sizeof c->local);
  memcpy(c->remote, r->remote, sizeof c->remote);
  jn_result *first = malloc(sizeof *first);
  c->h2 = first ? jn_h2_new(&cbs, &out, o->interval > 0 ? 1 : run->h2_streams) : NULL;
  if (!c->h2) {
    free(first);
    snprintf(r->error, sizeof r->error, "out of memory for HTTP/2");
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_HTTP2);
    return;
  }
  memcpy(first, r, sizeof *first);
  r->error[0] = 0;
  h2_submit(c, first, c->t0);
  while (c->h2 && !o->no_keepalive && jn_h2_can_submit(c->h2) && jn_run_request_done(run, NULL))
    h2_stream(c);
  jn_conn_h2_pump(c);
}
