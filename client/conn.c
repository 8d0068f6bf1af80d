/* One connection's life: connect (tcp.c, with the route looked up around it by netpath.c),
 * TLS (tls_client.c), then requests and responses (http.c) until the run has no more to issue
 * or the connection cannot be kept. Non-blocking socket driven by one uv_poll; a uv_timer for
 * the deadline (--connect-timeout, --max-time) and --interval. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/clock.h"
#include "client/exit_code.h"
#include "client/h2.h"
#include "client/http.h"
#include "client/netpath.h"
#include "client/proxy.h"
#include "client/run.h"
#include "client/tcp.h"
#include "client/tls_client.h"
#include "client/conn_state.h"

static void conn_request(jn_conn *c);
static void on_io(uv_poll_t *p, int status, int events);

static uint64_t since(const jn_conn *c) { return jc_now_us() - c->t0; }

static void poll_closed(uv_handle_t *h) { free(h); }

void jn_conn_close_socket(jn_conn *c) {
  if (c->fd >= 0 && c->tls_on && c->tls.handshake_done && !c->tls.fatal) {
    /* close_notify, best effort: also what keeps the session resumable (OpenSSL marks sessions
     * of connections freed without a shutdown as not resumable) */
    jc_tls_shutdown(&c->tls);
    char tmp[512];
    size_t n = jc_tls_out_take(&c->tls, tmp, sizeof tmp);
    if (n && send(c->fd, tmp, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
      /* the peer is gone: nothing to do */
    }
  }
  if (c->poll) {
    uv_close((uv_handle_t *)c->poll, poll_closed);
    c->poll = NULL;
  }
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  if (c->tls_on) {
    jc_tls_free(&c->tls);
    c->tls_on = 0;
  }
  jc_buf_reset(&c->wbuf, 0);
  if (c->h2) {
    jn_h2 *h = c->h2;
    c->h2 = NULL;
    jn_h2_free(h); /* open streams are handed back as failed */
  }
}

static void conn_freed(uv_handle_t *h) {
  jn_conn *c = h->data;
  jn_run *run = c->run;
  jn_http_end(&c->http);
  jc_buf_free(&c->wbuf);
  free(c->r);
  free(c);
  jn_run_conn_closed(run);
}

void jn_conn_free(jn_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  if (c->state == C_CONNECTING)
    jn_tcp_cancel(&c->tcp, "abandoned");
  jn_conn_close_socket(c);
  uv_close((uv_handle_t *)&c->timer, conn_freed);
}

static const char *state_phase(int st) {
  switch (st) {
  case C_CONNECTING: return "tcp";
  case C_PROXY: return "proxy";
  case C_HANDSHAKE: return "tls";
  default: return "http";
  }
}

/* A request's result is final: exit code, failed phase, the durations from curl's times. */
void jn_conn_account(jn_conn *c, jn_result *r, int code) {
  jn_run *run = c->run;
  if (code && !r->exit_code)
    r->exit_code = code;
  if (r->exit_code && !r->failed_phase[0])
    jn_strlcpy(r->failed_phase, state_phase(c->state), sizeof r->failed_phase);
  if (r->t_starttransfer) {
    r->server_us = r->t_starttransfer - r->t_pretransfer;
    r->transfer_us = r->t_total - r->t_starttransfer;
  }
  if (r->t_pretransfer)
    r->http_us = r->t_total - (r->t_request ? r->t_request : r->t_pretransfer);
  if (!r->exit_code && run->o->fail && r->status >= 400) {
    r->exit_code = jn_exit_for_http(r->status, 1);
    snprintf(r->error, sizeof r->error, "the server answered %d %s", r->status, r->reason);
    snprintf(r->failed_phase, sizeof r->failed_phase, "http");
  }
}

/* The request is over (success or failure): jn_conn_account for it and decide what comes next. */
void jn_conn_request_done(jn_conn *c, int code) {
  jn_result *r = c->r;
  jn_run *run = c->run;
  if (c->h2) { /* the connection failed under its streams */
    jn_conn_h2_broken(c, code ? code : JN_EXIT_RECV, r->error[0] ? r->error : "the connection failed");
    return;
  }
  uv_timer_stop(&c->timer);
  r->t_total = since(c);
  jn_conn_account(c, r, code);
  int ok = !r->exit_code || r->exit_code == JN_EXIT_HTTP;
  int keep = ok && c->http.complete && r->keepalive_ok && !run->o->no_keepalive && c->fd >= 0;
  if (r->tcp_reused == 0 && r->local[0]) {
    memcpy(c->local, r->local, sizeof c->local);
    memcpy(c->remote, r->remote, sizeof c->remote);
  }
  if (!keep)
    jn_conn_close_socket(c);
  c->state = C_IDLE;
  if (jn_run_request_done(run, r)) {
    if (run->o->interval > 0) {
      c->state = C_WAITING;
      uv_timer_start(&c->timer, jn_conn_on_deadline, (uint64_t)(run->o->interval * 1000), 0);
    } else {
      conn_request(c);
    }
  } else {
    jn_conn_free(c);
  }
}

void jn_conn_on_deadline(uv_timer_t *t) {
  jn_conn *c = t->data;
  jn_result *r = c->r;
  if (c->state == C_WAITING && c->h2) {
    c->state = C_RECEIVING;
    c->h2_go = 1;
    jn_conn_h2_pump(c);
    return;
  }
  if (c->state == C_WAITING) {
    conn_request(c);
    return;
  }
  if (c->h2) {
    jn_conn_h2_timeout(c);
    return;
  }
  const jn_opts *o = c->run->o;
  int connecting = c->state == C_CONNECTING || c->state == C_PROXY || c->state == C_HANDSHAKE;
  double limit = connecting && o->connect_timeout > 0 &&
                         (o->max_time <= 0 || o->connect_timeout < o->max_time)
                     ? o->connect_timeout
                     : o->max_time;
  if (c->state == C_CONNECTING) {
    jn_tcp_cancel(&c->tcp, "timeout");
    r->tcp_us = since(c) - r->t_namelookup;
  }
  if (c->state == C_HANDSHAKE)
    r->tls_us = since(c) - r->t_connect;
  snprintf(r->error, sizeof r->error, "timed out after %.3f s during the %s phase (%s)", limit, state_phase(c->state),
           limit == o->max_time ? "--max-time" : "--connect-timeout");
  jn_conn_close_socket(c);
  jn_conn_request_done(c, JN_EXIT_TIMEOUT);
}

static void arm_deadline(jn_conn *c, int connecting) {
  const jn_opts *o = c->run->o;
  double limit = o->max_time;
  if (connecting && o->connect_timeout > 0 && (limit <= 0 || o->connect_timeout < limit))
    limit = o->connect_timeout;
  if (limit <= 0) {
    uv_timer_stop(&c->timer);
    return;
  }
  uint64_t ms = (uint64_t)(limit * 1000.0);
  uint64_t spent = since(c) / 1000;
  uv_timer_start(&c->timer, jn_conn_on_deadline, ms > spent ? ms - spent : 1, 0);
}

/* ---- writing ---- */

int jn_conn_flush(jn_conn *c) {
  while (jc_buf_len(&c->wbuf)) {
    ssize_t w = send(c->fd, jc_buf_peek(&c->wbuf), jc_buf_len(&c->wbuf), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      snprintf(c->r->error, sizeof c->r->error, "send failed: %s", strerror(errno));
      return -1;
    }
    jc_buf_consume(&c->wbuf, (size_t)w);
  }
  if (c->poll)
    uv_poll_start(c->poll, UV_READABLE | (jc_buf_len(&c->wbuf) ? UV_WRITABLE : 0), on_io);
  return 0;
}

/* Moves the TLS engine's pending ciphertext to the write buffer. */
int jn_conn_tls_drain(jn_conn *c) {
  size_t pend;
  while ((pend = jc_tls_out_pending(&c->tls)) > 0) {
    size_t got = 0;
    char *p = jc_buf_reserve(&c->wbuf, pend, &got);
    if (!p)
      return -1;
    jc_buf_commit(&c->wbuf, jc_tls_out_take(&c->tls, p, got));
  }
  return 0;
}

static void send_request(jn_conn *c) {
  jn_run *run = c->run;
  jn_result *r = c->r;
  r->t_request = since(c);
  c->state = C_RECEIVING;
  c->first_byte = 0;
  jn_http_begin(&c->http, r, run->o->head, run->out);
  c->http.dump = run->dump;
  c->http.include = run->o->include;
  c->http.follow = run->o->follow;
  int rc;
  const jn_opts *o = run->o;
  if (c->tls_on)
    rc = jc_tls_write(&c->tls, run->req, run->req_len) == JC_TLS_OK &&
                 (!o->body_len || jc_tls_write(&c->tls, o->body, o->body_len) == JC_TLS_OK) && jn_conn_tls_drain(c) == 0
             ? 0
             : -1;
  else
    rc = jc_buf_append(&c->wbuf, run->req, run->req_len) || (o->body_len && jc_buf_append(&c->wbuf, o->body, o->body_len))
             ? -1
             : 0;
  r->upload_bytes = o->body_len;
  rc = rc != 0 || jn_conn_flush(c) != 0 ? -1 : 0;
  /* curl stamps time_pretransfer once the request has been sent (its DO phase), so do we: the
   * bytes handed to the kernel (a body too large for one write continues after the stamp) */
  r->t_pretransfer = since(c);
  if (rc != 0) {
    if (!r->error[0])
      snprintf(r->error, sizeof r->error, "could not send the request: %s", c->tls_on ? c->tls.err : "buffer full");
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_RECV);
  }
}

/* ---- reading ---- */

static void tls_established(jn_conn *c) {
  jn_result *r = c->r;
  /* Our last handshake flight (TLS 1.3: Finished) goes out on its own before the clock stops,
   * as curl's SSL_connect writes it: coalesced with the request it would leave the handshake's
   * last write out of time_appconnect. */
  if (jn_conn_flush(c) != 0) {
    jn_tls_describe(&c->tls, r);
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_TLS);
    return;
  }
  r->t_appconnect = since(c);
  r->tls_us = r->t_appconnect - r->t_connect;
  jn_tls_describe(&c->tls, r);
  arm_deadline(c, 0);
  if (strcmp(r->alpn, "h2") == 0) {
    jn_conn_h2_start(c);
    return;
  }
  if (c->run->o->http2) {
    snprintf(r->error, sizeof r->error, "the server did not agree to HTTP/2 (ALPN %s): leave out --http2",
             r->alpn[0] ? r->alpn : "none");
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_HTTP2);
    return;
  }
  jn_run_h1_spread(c->run); /* HTTP/1.1: -c's other connections, held back while h2 was possible */
  send_request(c);
}

/* Plaintext response bytes. Returns 1 when the request finished (the caller stops reading). */
static int deliver(jn_conn *c, const char *p, size_t n) {
  jn_result *r = c->r;
  if (c->h2) {
    jn_h2_feed(c->h2, p, n);
    jn_conn_h2_pump(c);
    return c->poll && !c->closing ? 0 : 1;
  }
  if (c->state != C_RECEIVING)
    return 0; /* bytes while idle: the server talks out of turn; the next request will notice */
  if (!c->first_byte) {
    c->first_byte = 1;
    r->t_starttransfer = since(c);
  }
  int rc = jn_http_feed(&c->http, p, n);
  if (rc == 0)
    return 0;
  if (rc < 0)
    jn_conn_close_socket(c);
  jn_conn_request_done(c, rc < 0 ? (r->exit_code ? r->exit_code : JN_EXIT_WEIRD_REPLY) : 0);
  return 1;
}

static int handle_tls_bytes(jn_conn *c, const char *p, size_t n) {
  jn_result *r = c->r;
  if (jc_tls_feed(&c->tls, p, n) != 0) {
    snprintf(r->error, sizeof r->error, "out of memory in TLS");
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_RECV);
    return 1;
  }
  if (c->state == C_HANDSHAKE) {
    jc_tls_status st = jc_tls_handshake(&c->tls);
    jn_conn_tls_drain(c);
    if (st == JC_TLS_ERROR) {
      r->tls_us = since(c) - r->t_connect;
      jn_tls_failed(&c->tls, r);
      jn_conn_close_socket(c);
      jn_conn_request_done(c, r->exit_code);
      return 1;
    }
    if (st != JC_TLS_OK) {
      jn_conn_flush(c);
      return 0;
    }
    tls_established(c);
    if (!c->poll)
      return 1;
  }
  char buf[65536];
  for (;;) {
    size_t got = 0;
    jc_tls_status st = jc_tls_read(&c->tls, buf, sizeof buf, &got);
    if (st == JC_TLS_OK) {
      if (deliver(c, buf, got))
        return 1;
      continue;
    }
    jn_conn_tls_drain(c);
    if (st == JC_TLS_WANT_READ)
      break;
    if (st == JC_TLS_CLOSED)
      return -1; /* close_notify: treated as EOF */
    jn_strlcpy(r->error, c->tls.err, sizeof r->error);
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_RECV);
    return 1;
  }
  return c->poll && jn_conn_flush(c) != 0 ? -2 : 0;
}

static void on_eof(jn_conn *c, int err) {
  jn_result *r = c->r;
  int st = c->state;
  if (c->h2) {
    char why[160];
    snprintf(why, sizeof why, "the server closed the HTTP/2 connection%s%s", err ? ": " : "", err ? strerror(err) : "");
    jn_conn_h2_broken(c, JN_EXIT_RECV, why);
    return;
  }
  if (st == C_RECEIVING && !err && jn_http_eof(&c->http) == 1) {
    jn_conn_close_socket(c);
    jn_conn_request_done(c, 0);
    return;
  }
  if (st == C_IDLE || st == C_WAITING) { /* the server closed a kept-alive connection */
    jn_conn_close_socket(c);
    return;
  }
  if (st == C_PROXY) {
    r->proxy_us = since(c) - c->proxy_t0;
    snprintf(r->error, sizeof r->error, "the proxy %s closed the connection before answering CONNECT%s%s", r->proxy,
             err ? ": " : "", err ? strerror(err) : "");
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_RECV);
    return;
  }
  if (st == C_HANDSHAKE) {
    r->tls_us = since(c) - r->t_connect;
    jn_tls_describe(&c->tls, r); /* what is known: nothing verified */
    snprintf(r->error, sizeof r->error, "the server closed the connection during the TLS handshake%s%s",
             err ? ": " : " (is it speaking TLS on this port?)", err ? strerror(err) : "");
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_TLS);
    return;
  }
  if (err && !r->exit_code)
    snprintf(r->error, sizeof r->error, "connection error while reading the response: %s", strerror(err));
  jn_conn_close_socket(c);
  jn_conn_request_done(c, r->exit_code ? r->exit_code : JN_EXIT_RECV);
}

static void after_connect(jn_conn *c);

/* The proxy's answer to CONNECT. 2xx: the tunnel is open, TLS with the server starts. */
static int proxy_bytes(jn_conn *c, const char *p, size_t n) {
  jn_result *r = c->r;
  int st = 0;
  size_t head = 0;
  if (n > sizeof c->pbuf - c->plen)
    n = sizeof c->pbuf - c->plen;
  memcpy(c->pbuf + c->plen, p, n);
  c->plen += n;
  int rc = jn_proxy_connect_response(c->pbuf, c->plen, &st, &head);
  if (rc == 0 && c->plen < sizeof c->pbuf)
    return 0;
  r->proxy_us = since(c) - c->proxy_t0;
  r->proxy_status = st;
  if (rc != 1 || st / 100 != 2) {
    if (rc != 1)
      snprintf(r->error, sizeof r->error, "the proxy %s did not answer CONNECT with HTTP (is it an HTTP proxy?)",
               r->proxy);
    else
      snprintf(r->error, sizeof r->error, "the proxy %s refused the tunnel: %.*s", r->proxy,
               (int)strcspn(c->pbuf, "\r\n"), c->pbuf);
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_RECV);
    return 1;
  }
  after_connect(c);
  return c->poll ? 0 : 1;
}

static void on_io(uv_poll_t *p, int status, int events) {
  jn_conn *c = p->data;
  if (status < 0) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    on_eof(c, err ? err : ECONNRESET);
    return;
  }
  if ((events & UV_WRITABLE) && jn_conn_flush(c) != 0) {
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_RECV);
    return;
  }
  if (!(events & UV_READABLE))
    return;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n > 0) {
      int rc = c->state == C_PROXY ? proxy_bytes(c, buf, (size_t)n)
               : c->tls_on       ? handle_tls_bytes(c, buf, (size_t)n)
                                 : deliver(c, buf, (size_t)n);
      if (rc == 1)
        return;
      if (rc == -1) {
        on_eof(c, 0);
        return;
      }
      if (rc == -2) {
        jn_conn_close_socket(c);
        jn_conn_request_done(c, JN_EXIT_RECV);
        return;
      }
      if (!c->poll || c->state == C_IDLE)
        return;
      if ((size_t)n < sizeof buf)
        return; /* drained: wait for the next readiness (level-triggered) */
      continue;
    }
    if (n == 0) {
      on_eof(c, 0);
      return;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      on_eof(c, errno);
    return;
  }
}

/* ---- connecting ---- */

static void on_connected(jn_tcp *t, int fd, uv_poll_t *poll, int code) {
  jn_conn *c = t->data;
  jn_result *r = c->r;
  jn_run *run = c->run;
  r->t_connect = since(c);
  r->tcp_us = r->t_connect - r->t_namelookup;
  if (fd < 0) {
    jn_conn_request_done(c, code);
    return;
  }
  c->fd = fd;
  c->poll = poll;
  poll->data = c;
  struct sockaddr_storage l, p;
  socklen_t ll = sizeof l, pl = sizeof p;
  if (getsockname(fd, (struct sockaddr *)&l, &ll) == 0)
    jc_addr_format((struct sockaddr *)&l, r->local, sizeof r->local);
  if (getpeername(fd, (struct sockaddr *)&p, &pl) == 0)
    jc_addr_format((struct sockaddr *)&p, r->remote, sizeof r->remote);
  if (c->is_first) {
    uint64_t t_np = jc_now_us();
    /* A fallback connected to another address than the one the route was looked up for. */
    if (run->naddr > 1 && pl && memcmp(&p, &run->addrs[0], pl) != 0)
      jn_netpath_before(r, (struct sockaddr *)&p);
    jn_netpath_after(r, fd);
    uint64_t after = jc_now_us() - t_np;
    r->route_us += after;
    c->t0 += after; /* journey's own look-up: outside curl's clock */
  }
  jn_tcp_info(fd, r);
  if (run->proxied && run->https) { /* a tunnel first: CONNECT host:port */
    char req[JN_URL_HOST_MAX + 128];
    size_t n = jn_proxy_connect_request(&r->url, req, sizeof req);
    c->state = C_PROXY;
    c->plen = 0;
    c->proxy_t0 = since(c);
    if (jc_buf_append(&c->wbuf, req, n) != 0 || jn_conn_flush(c) != 0) {
      jn_conn_close_socket(c);
      jn_conn_request_done(c, JN_EXIT_RECV);
    }
    return;
  }
  after_connect(c);
}

/* Connected (through the tunnel when there is one): TLS, or the request at once. */
static void after_connect(jn_conn *c) {
  jn_run *run = c->run;
  jn_result *r = c->r;
  if (!run->https) {
    if (run->o->http2 && !run->proxied) /* cleartext HTTP/2 with prior knowledge */
      jn_conn_h2_start(c);
    else
      send_request(c);
    return;
  }
  c->state = C_HANDSHAKE;
  r->tls_used = 1;
  if (jn_run_tls_ctx(run, r) != 0 || jn_tls_start(&c->tls, run->ctx, r->url.host, r) != 0) {
    r->tls_us = since(c) - r->t_connect;
    jn_conn_close_socket(c);
    jn_conn_request_done(c, r->exit_code ? r->exit_code : JN_EXIT_TLS);
    return;
  }
  c->tls_on = 1;
  jc_tls_handshake(&c->tls);
  if (jn_conn_tls_drain(c) != 0 || jn_conn_flush(c) != 0) {
    jn_conn_close_socket(c);
    jn_conn_request_done(c, JN_EXIT_TLS);
    return;
  }
  /* the ClientHello is on its way: the CA store is needed only for the server's answer */
  if (jn_run_tls_ca(run, r) != 0) {
    r->tls_us = since(c) - r->t_connect;
    snprintf(r->verify_result, sizeof r->verify_result, "not checked: the CA store could not be loaded");
    jn_conn_close_socket(c);
    jn_conn_request_done(c, r->exit_code);
  }
}

static void conn_request(jn_conn *c) {
  jn_run *run = c->run;
  int first_of_run = !run->first_conn_done;
  if (!c->r && !(c->r = malloc(sizeof *c->r))) {
    jn_conn_free(c);
    return;
  }
  jn_result *r = c->r;
  if (first_of_run) { /* the run's first request carries the URL and DNS phases */
    memcpy(r, run->proto, sizeof *r);
    c->t0 = run->t_start;
  } else {
    memset(r, 0, sizeof *r);
    memcpy(&r->url, &run->proto->url, sizeof r->url);
    memcpy(r->method, run->proto->method, sizeof r->method);
    c->t0 = jc_now_us();
  }
  r->t_namelookup = since(c);
  if (c->fd >= 0) { /* kept alive */
    r->tcp_reused = 1;
    memcpy(r->local, c->local, sizeof r->local);
    memcpy(r->remote, c->remote, sizeof r->remote);
    r->t_connect = r->t_appconnect = r->t_namelookup;
    r->tls_used = c->tls_on; /* the details were reported with the connection's first request */
    arm_deadline(c, 0);
    send_request(c);
    return;
  }
  c->is_first = first_of_run;
  r->num_connects = 1;
  run->first_conn_done = 1;
  if (c->is_first) {
    uint64_t t_np = jc_now_us();
    jn_netpath_before(r, (struct sockaddr *)&run->addrs[0]);
    c->t0 += jc_now_us() - t_np; /* journey's own look-up: outside curl's clock */
  }
  c->state = C_CONNECTING;
  arm_deadline(c, 1);
  jn_tcp_connect(&c->tcp, run->loop, r, run->addrs, run->lens, run->naddr, on_connected);
}

int jn_conn_spawn(jn_run *run) {
  jn_conn *c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  c->run = run;
  c->fd = -1;
  c->tcp.data = c;
  jc_buf_init(&c->wbuf, (1u << 20) + run->o->body_len * 2); /* the body, and its TLS records */
  uv_timer_init(run->loop, &c->timer);
  c->timer.data = c;
  run->active++;
  if (jn_run_request_done(run, NULL))
    conn_request(c);
  else
    jn_conn_free(c);
  return 0;
}
