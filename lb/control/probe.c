/* Active health checks, on the control loop: one lb_probe per check (one set of checks for all
 * workers). Connect (TCP check: done), optionally a verified TLS handshake, then
 * `METHOD PATH HTTP/1.1` with Connection: close; the status line of the answer decides
 * (health-status range). Every probe has its own timeout; the next check of a server is scheduled
 * when its probe ends, at the fast interval while its state may be changing. Transitions go
 * through the pure state machine (lb/core/health.c), are logged once with the counts, the reason
 * and the check's duration, and published (publish.c). */
#include "lb/control/control.h"

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_RBUF 2048

struct lb_probe {
  lb_stream s; /* TCP, optionally TLS: plaintext only here (lb/net/stream.h) */
  uv_connect_t creq;
  uv_timer_t timeout;
  lb_slot *slot; /* NULL once cancelled */
  int handles;
  int done;
  uint64_t start;
  char req[768];
  size_t req_len;
  char rbuf[PROBE_RBUF];
  size_t rlen;
};

/* ---- probes ---- */

static void probe_finish(lb_probe *pr, int ok, const char *reason);

static void on_probe_closed(uv_handle_t *h) {
  lb_probe *pr = h->data;
  if (--pr->handles > 0)
    return;
  lb_stream_free(&pr->s);
  free(pr);
}

static void on_probe_stream_closed(uv_handle_t *h) {
  h->data = (char *)h - offsetof(lb_probe, s.tcp); /* the probe, as the timer's */
  on_probe_closed(h);
}

static void probe_close(lb_probe *pr) {
  uv_timer_stop(&pr->timeout);
  lb_stream_close(&pr->s, on_probe_stream_closed);
  uv_close((uv_handle_t *)&pr->timeout, on_probe_closed);
}

static void log_transition(lb_slot *sl, int ok, int prev, uint64_t prev_since, uint64_t now) {
  lb_control *ctl = sl->ctl;
  lb_server *s = lb_slot_server(sl);
  const lb_health_cfg *hc = lb_slot_cfg(sl);
  int used = 0;
  int up = lb_control_pool_up(ctl, sl->pool, &used);
  char took[32], was[32];
  jc_fmt_ms(sl->last_us, took, sizeof took);
  jc_fmt_ms(now - prev_since, was, sizeof was);
  const char *pool = ctl->rt->pools[sl->pool].name;
  if (prev == LB_HS_UNKNOWN)
    jc_log(ok ? JC_LOG_INFO : JC_LOG_WARN,
           "first check %s, server %s %s (pool %s, %s): %s, check took %s ms; %d of %d servers UP",
           ok ? "passed" : "failed", s->name, ok ? "UP" : "DOWN", pool, s->addr_text, sl->last,
           took, up, used);
  else
    jc_log(ok ? JC_LOG_INFO : JC_LOG_WARN,
           "check %s %d/%d, server %s %s (pool %s, %s): %s, check took %s ms, was %s for %s ms; "
           "%d of %d servers UP",
           ok ? "passed" : "failed", ok ? sl->sm.ok_run : sl->sm.fail_run, ok ? hc->rise : hc->fall,
           s->name, ok ? "UP" : "DOWN", pool, s->addr_text, sl->last, took,
           ok ? "DOWN" : "UP", was, up, used);
}

static void slot_result(lb_slot *sl, int ok, const char *reason, uint64_t took_us) {
  uint64_t now = jc_now_us();
  const lb_health_cfg *hc = lb_slot_cfg(sl);
  int prev = sl->sm.state;
  uint64_t prev_since = sl->sm.since_us;
  snprintf(sl->last, sizeof sl->last, "%s", reason);
  sl->last_us = took_us;
  sl->last_at_us = now;
  sl->strip = (uint16_t)((sl->strip << 1) | (ok ? 1 : 0));
  sl->nstrip += sl->nstrip < LB_CHECK_STRIP;
  sl->first_done = 1;
  if (lb_health_sm_record(&sl->sm, hc, ok, now)) {
    lb_control_publish(sl->ctl, sl->pool, sl->index);
    log_transition(sl, ok, prev, prev_since, now);
  } else if (!ok && jc_log_enabled(JC_LOG_DEBUG)) {
    jc_log(JC_LOG_DEBUG, "check failed %d/%d for server %s (%s): %s", sl->sm.fail_run, hc->fall,
           lb_slot_server(sl)->name, lb_health_state_name(sl->sm.state), reason);
  }
  /* The cadence counts from the start of this check, as HAProxy's does: a slow check does not
   * stretch the interval (fall x interval + timeout stays the bound to go DOWN). */
  uint32_t next = lb_health_sm_next_ms(&sl->sm, hc), took_ms = (uint32_t)(took_us / 1000);
  lb_probe_schedule(sl, next > took_ms ? next - took_ms : 0);
}

static void probe_finish(lb_probe *pr, int ok, const char *reason) {
  if (pr->done)
    return;
  pr->done = 1;
  lb_slot *sl = pr->slot;
  uint64_t took = jc_now_us() - pr->start;
  probe_close(pr);
  if (!sl)
    return; /* cancelled */
  sl->probe = NULL;
  sl->ctl->probes--;
  slot_result(sl, ok, reason, took);
}

static void on_probe_timeout(uv_timer_t *t) {
  lb_probe *pr = t->data;
  char why[64];
  snprintf(why, sizeof why, "timeout after %u ms", lb_slot_cfg(pr->slot)->timeout_ms);
  probe_finish(pr, 0, why);
}

/* The status line decides; the rest of the answer is not needed. */
static void probe_check_response(lb_probe *pr) {
  const lb_health_cfg *hc = lb_slot_cfg(pr->slot);
  char *eol = memchr(pr->rbuf, '\n', pr->rlen);
  if (!eol) {
    if (pr->rlen == sizeof pr->rbuf)
      probe_finish(pr, 0, "invalid response (no status line)");
    return;
  }
  int st = 0;
  if (pr->rlen < 12 || memcmp(pr->rbuf, "HTTP/1.", 7) != 0 || pr->rbuf[8] != ' ' ||
      sscanf(pr->rbuf + 9, "%3d", &st) != 1 || st < 100 || st > 599) {
    probe_finish(pr, 0, "invalid response (not HTTP/1.x)");
    return;
  }
  char why[32];
  snprintf(why, sizeof why, "status %d", st);
  probe_finish(pr, st >= hc->status_min && st <= hc->status_max, why);
}

static void probe_send_request(lb_probe *pr) {
  uv_buf_t b = uv_buf_init(pr->req, (unsigned)pr->req_len);
  lb_stream_send(&pr->s, &b, 1); /* a failure comes back as on_close */
}

/* ---- the stream's callbacks ---- */

static lb_probe *probe_of(lb_stream *s) {
  return (lb_probe *)(void *)((char *)s - offsetof(lb_probe, s));
}

static int on_probe_room(lb_stream *s, char **base, size_t *len) {
  lb_probe *pr = probe_of(s);
  *base = pr->rbuf + pr->rlen;
  *len = sizeof pr->rbuf - pr->rlen;
  return 0;
}

static int on_probe_data(lb_stream *s, size_t n) {
  lb_probe *pr = probe_of(s);
  pr->rlen += n;
  if (n && !pr->done)
    probe_check_response(pr);
  return LB_STREAM_MORE;
}

static void on_probe_sent(lb_stream *s) { (void)s; }

static void on_probe_close(lb_stream *s, lb_stream_why why, const char *text) {
  lb_probe *pr = probe_of(s);
  char msg[LB_CHECK_LAST_MAX];
  if (pr->done)
    return;
  switch (why) {
  case LB_STREAM_EOF:
    snprintf(msg, sizeof msg, "connection closed before a response");
    break;
  case LB_STREAM_READ_ERROR:
    snprintf(msg, sizeof msg, "read failed: %s", text);
    break;
  case LB_STREAM_WRITE_ERROR:
    snprintf(msg, sizeof msg, "write failed: %s", text);
    break;
  default: /* the TLS engine's reason: "TLS handshake: ..." */
    snprintf(msg, sizeof msg, "%.90s", text);
    break;
  }
  probe_finish(pr, 0, msg);
}

/* The verified TLS handshake is done: a TCP check passes, an HTTP check sends its request. */
static void on_probe_ready(lb_stream *s) {
  lb_probe *pr = probe_of(s);
  if (pr->done)
    return;
  if (lb_slot_cfg(pr->slot)->type == LB_CHECK_TCP) {
    probe_finish(pr, 1, "TLS handshake ok");
    return;
  }
  probe_send_request(pr);
}

static const lb_stream_ops probe_stream_ops = {on_probe_room, on_probe_data, on_probe_sent,
                                               on_probe_close, on_probe_ready};

static void on_probe_connect(uv_connect_t *req, int status) {
  lb_probe *pr = req->data;
  if (pr->done)
    return;
  if (status < 0) {
    probe_finish(pr, 0, status == UV_ECONNREFUSED ? "connection refused" : uv_strerror(status));
    return;
  }
  lb_slot *sl = pr->slot;
  const lb_health_cfg *hc = lb_slot_cfg(sl);
  if (!hc->tls && hc->type == LB_CHECK_TCP) {
    probe_finish(pr, 1, "connected");
    return;
  }
  if (hc->tls) {
    lb_server *s = lb_slot_server(sl);
    char ip[64];
    const char *sni = hc->tls_sni[0] ? hc->tls_sni
                      : hc->host[0]  ? hc->host
                                     : jc_addr_ip((struct sockaddr *)&s->addr, ip, sizeof ip);
    /* The handshake starts now; on_probe_ready follows it. */
    if (lb_stream_tls(&pr->s, sl->ctl->pools[sl->pool].check_tls, 0, sni) != 0)
      probe_finish(pr, 0, "TLS session allocation failed");
    return;
  }
  lb_stream_read(&pr->s);
  probe_send_request(pr);
}

void lb_probe_start(lb_slot *sl) {
  lb_server *s = lb_slot_server(sl);
  const lb_health_cfg *hc = lb_slot_cfg(sl);
  lb_probe *pr = calloc(1, sizeof *pr);
  if (!pr) {
    slot_result(sl, 0, "out of memory", 0);
    return;
  }
  pr->slot = sl;
  pr->start = jc_now_us();
  lb_stream_init(&pr->s, &sl->ctl->sl, &probe_stream_ops);
  uv_timer_init(sl->ctl->loop, &pr->timeout);
  pr->timeout.data = pr->creq.data = pr;
  pr->handles = 2;
  sl->probe = pr;
  sl->ctl->probes++;
  if (hc->type == LB_CHECK_HTTP) {
    int n = snprintf(pr->req, sizeof pr->req,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: journey-lb-check\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n",
                     hc->method, hc->path, hc->host[0] ? hc->host : s->addr_text);
    pr->req_len = n > 0 && (size_t)n < sizeof pr->req ? (size_t)n : 0;
  }
  /* The loop's cached time can be older than pr->start when this iteration ran long (a busy
   * machine): a timeout counted from it would fire early, failing a healthy server. */
  uv_update_time(sl->ctl->loop);
  uv_timer_start(&pr->timeout, on_probe_timeout, hc->timeout_ms, 0);
  int r = uv_tcp_connect(&pr->creq, &pr->s.tcp, (const struct sockaddr *)&s->addr, on_probe_connect);
  if (r < 0)
    probe_finish(pr, 0, uv_strerror(r));
}

void lb_probe_cancel(lb_slot *sl) {
  if (!sl->probe)
    return;
  lb_probe *pr = sl->probe;
  sl->probe = NULL;
  sl->ctl->probes--;
  pr->slot = NULL;
  pr->done = 1;
  probe_close(pr);
}

static void on_check_timer(uv_timer_t *t) {
  lb_slot *sl = t->data;
  if (sl->in_use && !sl->probe && !sl->ctl->stopping &&
      sl->ctl->pools[sl->pool].hc.type != LB_CHECK_NONE)
    lb_probe_start(sl);
}

void lb_probe_schedule(lb_slot *sl, uint32_t ms) {
  if (sl->ctl->stopping || !sl->in_use)
    return;
  if (!sl->timer_on) {
    uv_timer_init(sl->ctl->loop, &sl->timer);
    sl->timer.data = sl;
    sl->timer_on = 1;
  }
  uv_timer_start(&sl->timer, on_check_timer, ms, 0);
}

