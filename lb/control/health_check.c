/* Active health checks and the server slots, on the control loop (one set of checks for all
 * workers; the result is published in lb_server.state, which every worker reads).
 *
 * A check is one lb_probe: connect (TCP check: done), optionally a verified TLS handshake, then
 * `METHOD PATH HTTP/1.1` with Connection: close, and the status line of the answer decides
 * (health-status range). Every probe has its own timeout; the next check of a server is scheduled
 * when its probe ends, at the fast interval while its state may be changing. Transitions go
 * through the pure state machine (lb/health.c) and are logged once, with the counts, the reason
 * and the check's duration.
 *
 * The same loop takes the workers' passive-check reports (eject_request + uv_async) and ends
 * ejections on a tick. */
#include "lb/control/control.h"

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LB_TICK_MS 200
#define PROBE_RBUF 2048

struct lb_probe {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  uv_timer_t timeout;
  lb_slot *slot; /* NULL once cancelled */
  int handles;
  int done;
  int tls_on;
  int writing;
  jc_tls tls;
  uint64_t start;
  char req[768];
  size_t req_len;
  char rbuf[PROBE_RBUF];
  size_t rlen;
  char *wbuf; /* ciphertext being written */
  size_t wcap;
};

static lb_server *slot_server(lb_slot *sl) {
  return &sl->ctl->rt->pools[sl->pool].servers[sl->index];
}

static const lb_health_cfg *slot_cfg(lb_slot *sl) { return &sl->ctl->pools[sl->pool].hc; }

/* ---- publication ---- */

void lb_control_publish(lb_control *ctl, int p, int i) {
  lb_slot *sl = &ctl->pools[p].slots[i];
  lb_server *s = &ctl->rt->pools[p].servers[i];
  const lb_health_cfg *hc = &ctl->pools[p].hc;
  int st;
  if (!sl->in_use)
    st = LB_SRV_REMOVED;
  else if (sl->admin)
    st = sl->admin;
  else if (hc->type != LB_CHECK_NONE && sl->sm.state != LB_HS_UP)
    st = LB_SRV_DOWN;
  else if (lb_outlier_is_ejected(&sl->out))
    st = LB_SRV_DOWN;
  else
    st = LB_SRV_UP;
  /* A change (a new server in the slot is one: it was REMOVED) rebuilds the pool's picking. */
  if (atomic_exchange_explicit(&s->state, st, memory_order_acq_rel) != st)
    lb_pool_changed(&ctl->rt->pools[p]);
}

int lb_control_pool_up(lb_control *ctl, int p, int *in_use) {
  lb_pool *pool = &ctl->rt->pools[p];
  int up = 0, used = 0, n = atomic_load(&pool->nservers);
  for (int i = 0; i < n; i++) {
    if (!ctl->pools[p].slots[i].in_use)
      continue;
    used++;
    up += lb_server_is_up(&pool->servers[i]);
  }
  if (in_use)
    *in_use = used;
  return up;
}

/* ---- probes ---- */

static void schedule(lb_slot *sl, uint32_t ms);
static void probe_finish(lb_probe *pr, int ok, const char *reason);

static void on_probe_closed(uv_handle_t *h) {
  lb_probe *pr = h->data;
  if (--pr->handles > 0)
    return;
  if (pr->tls_on)
    jc_tls_free(&pr->tls);
  free(pr->wbuf);
  free(pr);
}

static void probe_close(lb_probe *pr) {
  uv_timer_stop(&pr->timeout);
  uv_close((uv_handle_t *)&pr->tcp, on_probe_closed);
  uv_close((uv_handle_t *)&pr->timeout, on_probe_closed);
}

static void log_transition(lb_slot *sl, int ok, int prev, uint64_t prev_since, uint64_t now) {
  lb_control *ctl = sl->ctl;
  lb_server *s = slot_server(sl);
  const lb_health_cfg *hc = slot_cfg(sl);
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
  const lb_health_cfg *hc = slot_cfg(sl);
  int prev = sl->sm.state;
  uint64_t prev_since = sl->sm.since_us;
  snprintf(sl->last, sizeof sl->last, "%s", reason);
  sl->last_us = took_us;
  sl->first_done = 1;
  if (lb_health_sm_record(&sl->sm, hc, ok, now)) {
    lb_control_publish(sl->ctl, sl->pool, sl->index);
    log_transition(sl, ok, prev, prev_since, now);
  } else if (!ok && jc_log_enabled(JC_LOG_DEBUG)) {
    jc_log(JC_LOG_DEBUG, "check failed %d/%d for server %s (%s): %s", sl->sm.fail_run, hc->fall,
           slot_server(sl)->name, lb_health_state_name(sl->sm.state), reason);
  }
  /* The cadence counts from the start of this check, as HAProxy's does: a slow check does not
   * stretch the interval (fall x interval + timeout stays the bound to go DOWN). */
  uint32_t next = lb_health_sm_next_ms(&sl->sm, hc), took_ms = (uint32_t)(took_us / 1000);
  schedule(sl, next > took_ms ? next - took_ms : 0);
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
  snprintf(why, sizeof why, "timeout after %u ms", slot_cfg(pr->slot)->timeout_ms);
  probe_finish(pr, 0, why);
}

static void on_probe_written(uv_write_t *req, int status);

/* Writes pending TLS output (one write in flight). */
static void tls_flush(lb_probe *pr) {
  if (pr->writing || pr->done)
    return;
  size_t n = jc_tls_out_pending(&pr->tls);
  if (!n)
    return;
  if (n > pr->wcap) {
    char *p = realloc(pr->wbuf, n);
    if (!p) {
      probe_finish(pr, 0, "out of memory");
      return;
    }
    pr->wbuf = p;
    pr->wcap = n;
  }
  size_t got = jc_tls_out_take(&pr->tls, pr->wbuf, n);
  uv_buf_t b = uv_buf_init(pr->wbuf, (unsigned)got);
  pr->wreq.data = pr;
  pr->writing = 1;
  if (uv_write(&pr->wreq, (uv_stream_t *)&pr->tcp, &b, 1, on_probe_written) != 0) {
    pr->writing = 0;
    probe_finish(pr, 0, "write failed");
  }
}

static void on_probe_written(uv_write_t *req, int status) {
  lb_probe *pr = req->data;
  pr->writing = 0;
  if (pr->done)
    return;
  if (status < 0) {
    char why[96];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
    probe_finish(pr, 0, why);
    return;
  }
  if (pr->tls_on)
    tls_flush(pr);
}

/* The status line decides; the rest of the answer is not needed. */
static void probe_check_response(lb_probe *pr) {
  const lb_health_cfg *hc = slot_cfg(pr->slot);
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
  if (pr->tls_on) {
    if (jc_tls_write(&pr->tls, pr->req, pr->req_len) != JC_TLS_OK) {
      probe_finish(pr, 0, "TLS write failed");
      return;
    }
    tls_flush(pr);
    return;
  }
  uv_buf_t b = uv_buf_init(pr->req, (unsigned)pr->req_len);
  pr->wreq.data = pr;
  pr->writing = 1;
  if (uv_write(&pr->wreq, (uv_stream_t *)&pr->tcp, &b, 1, on_probe_written) != 0) {
    pr->writing = 0;
    probe_finish(pr, 0, "write failed");
  }
}

static void on_probe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char scratch[16384]; /* control loop only: consumed within the read callback */
  lb_probe *pr = h->data;
  (void)suggested;
  if (pr->tls_on)
    *buf = uv_buf_init(scratch, sizeof scratch);
  else
    *buf = uv_buf_init(pr->rbuf + pr->rlen, (unsigned)(sizeof pr->rbuf - pr->rlen));
}

static void on_probe_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  lb_probe *pr = st->data;
  if (pr->done || nread == 0)
    return;
  if (nread < 0) {
    char why[96];
    if (nread == UV_EOF)
      snprintf(why, sizeof why, "connection closed before a response");
    else
      snprintf(why, sizeof why, "read failed: %s", uv_strerror((int)nread));
    probe_finish(pr, 0, why);
    return;
  }
  if (!pr->tls_on) {
    pr->rlen += (size_t)nread;
    probe_check_response(pr);
    return;
  }
  if (jc_tls_feed(&pr->tls, buf->base, (size_t)nread) != 0) {
    probe_finish(pr, 0, "out of memory");
    return;
  }
  if (!pr->tls.handshake_done) {
    jc_tls_status hs = jc_tls_handshake(&pr->tls);
    if (hs == JC_TLS_ERROR) {
      char why[LB_CHECK_LAST_MAX];
      snprintf(why, sizeof why, "%.90s", pr->tls.err); /* "TLS handshake: ..." */
      probe_finish(pr, 0, why);
      return;
    }
    tls_flush(pr);
    if (hs != JC_TLS_OK || pr->done)
      return;
    if (slot_cfg(pr->slot)->type == LB_CHECK_TCP) {
      probe_finish(pr, 1, "TLS handshake ok");
      return;
    }
    probe_send_request(pr);
    if (pr->done)
      return;
  }
  for (;;) {
    size_t got = 0;
    if (pr->rlen == sizeof pr->rbuf)
      break;
    jc_tls_status r = jc_tls_read(&pr->tls, pr->rbuf + pr->rlen, sizeof pr->rbuf - pr->rlen, &got);
    if (r == JC_TLS_OK) {
      pr->rlen += got;
      continue;
    }
    if (r == JC_TLS_ERROR) {
      char why[LB_CHECK_LAST_MAX];
      snprintf(why, sizeof why, "%.90s", pr->tls.err);
      probe_finish(pr, 0, why);
      return;
    }
    break;
  }
  tls_flush(pr);
  if (!pr->done)
    probe_check_response(pr);
}

static void on_probe_connect(uv_connect_t *req, int status) {
  lb_probe *pr = req->data;
  if (pr->done)
    return;
  if (status < 0) {
    probe_finish(pr, 0, status == UV_ECONNREFUSED ? "connection refused" : uv_strerror(status));
    return;
  }
  lb_slot *sl = pr->slot;
  const lb_health_cfg *hc = slot_cfg(sl);
  if (!hc->tls && hc->type == LB_CHECK_TCP) {
    probe_finish(pr, 1, "connected");
    return;
  }
  if (uv_read_start((uv_stream_t *)&pr->tcp, on_probe_alloc, on_probe_read) != 0) {
    probe_finish(pr, 0, "read failed");
    return;
  }
  if (hc->tls) {
    lb_server *s = slot_server(sl);
    char ip[64];
    const char *sni = hc->tls_sni[0] ? hc->tls_sni
                      : hc->host[0]  ? hc->host
                                     : jc_addr_ip((struct sockaddr *)&s->addr, ip, sizeof ip);
    if (jc_tls_init(&pr->tls, sl->ctl->pools[sl->pool].check_tls, 0, sni) != 0) {
      probe_finish(pr, 0, "TLS session allocation failed");
      return;
    }
    pr->tls_on = 1;
    jc_tls_handshake(&pr->tls);
    tls_flush(pr);
    return;
  }
  probe_send_request(pr);
}

static void probe_start(lb_slot *sl) {
  lb_server *s = slot_server(sl);
  const lb_health_cfg *hc = slot_cfg(sl);
  lb_probe *pr = calloc(1, sizeof *pr);
  if (!pr) {
    slot_result(sl, 0, "out of memory", 0);
    return;
  }
  pr->slot = sl;
  pr->start = jc_now_us();
  uv_tcp_init(sl->ctl->loop, &pr->tcp);
  uv_timer_init(sl->ctl->loop, &pr->timeout);
  pr->tcp.data = pr->timeout.data = pr->creq.data = pr;
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
  int r = uv_tcp_connect(&pr->creq, &pr->tcp, (const struct sockaddr *)&s->addr, on_probe_connect);
  if (r < 0)
    probe_finish(pr, 0, uv_strerror(r));
}

static void probe_cancel(lb_slot *sl) {
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
    probe_start(sl);
}

static void schedule(lb_slot *sl, uint32_t ms) {
  if (sl->ctl->stopping || !sl->in_use)
    return;
  if (!sl->timer_on) {
    uv_timer_init(sl->ctl->loop, &sl->timer);
    sl->timer.data = sl;
    sl->timer_on = 1;
  }
  uv_timer_start(&sl->timer, on_check_timer, ms, 0);
}

/* ---- passive checks (ejection) ---- */

static int pool_ejected(lb_control *ctl, int p) {
  int n = 0, max = atomic_load(&ctl->rt->pools[p].nservers);
  for (int i = 0; i < max; i++)
    n += ctl->pools[p].slots[i].in_use && lb_outlier_is_ejected(&ctl->pools[p].slots[i].out);
  return n;
}

static void on_wakeup(uv_async_t *a) {
  lb_control *ctl = a->data;
  uint64_t now = jc_now_us();
  for (int p = 0; p < ctl->rt->npools; p++) {
    lb_pool *pool = &ctl->rt->pools[p];
    int n = atomic_load(&pool->nservers);
    for (int i = 0; i < n; i++) {
      lb_server *s = &pool->servers[i];
      lb_slot *sl = &ctl->pools[p].slots[i];
      if (!atomic_exchange(&s->eject_request, 0) || !sl->in_use)
        continue;
      const lb_health_cfg *hc = &ctl->pools[p].hc;
      unsigned cc = atomic_load(&s->consec_connect), c5 = atomic_load(&s->consec_5xx);
      char trigger[96];
      if (hc->outlier_connect && cc >= hc->outlier_connect)
        snprintf(trigger, sizeof trigger, "%u consecutive connect failures", cc);
      else if (hc->outlier_5xx && c5 >= hc->outlier_5xx)
        snprintf(trigger, sizeof trigger, "%u consecutive 5xx responses", c5);
      else
        continue;
      atomic_store(&s->consec_connect, 0);
      atomic_store(&s->consec_5xx, 0);
      /* Servers already out of rotation for any reason (ejected, DOWN, drained) count against
       * the share: passive checks must not take the last UP server of a pool. */
      int used = 0, up = lb_control_pool_up(ctl, p, &used);
      int out = used - up - (lb_server_is_up(s) ? 0 : 1);
      int ejected = pool_ejected(ctl, p);
      if (!lb_outlier_eject(&sl->out, hc, now, used, out > ejected ? out : ejected)) {
        if (!lb_outlier_is_ejected(&sl->out))
          jc_log(JC_LOG_WARN, "server %s not ejected after %s: pool %s keeps at least one server "
                 "and at most %u%% ejected", s->name, trigger, pool->name, hc->outlier_max_percent);
        continue;
      }
      lb_control_publish(ctl, p, i);
      jc_log(JC_LOG_WARN, "server %s (%s) ejected for %llu ms after %s (ejection %d; pool %s: %d of "
             "%d servers UP)", s->name, s->addr_text,
             (unsigned long long)lb_outlier_duration_ms(hc, sl->out.ejections), trigger,
             sl->out.ejections, pool->name, lb_control_pool_up(ctl, p, NULL), used);
    }
  }
}

static void on_tick(uv_timer_t *t) {
  lb_control *ctl = t->data;
  uint64_t now = jc_now_us();
  for (int p = 0; p < ctl->rt->npools; p++) {
    int n = atomic_load(&ctl->rt->pools[p].nservers);
    for (int i = 0; i < n; i++) {
      lb_slot *sl = &ctl->pools[p].slots[i];
      if (!sl->in_use || !lb_outlier_tick(&sl->out, &ctl->pools[p].hc, now))
        continue;
      lb_control_publish(ctl, p, i);
      lb_server *s = &ctl->rt->pools[p].servers[i];
      jc_log(JC_LOG_INFO, "server %s (%s) back from ejection: %s", s->name, s->addr_text,
             lb_server_is_up(s) ? "UP" : lb_server_state_name(atomic_load(&s->state)));
    }
  }
}

/* ---- slots ---- */

static void slot_reset(lb_control *ctl, int p, int i, int from_dns) {
  lb_slot *sl = &ctl->pools[p].slots[i];
  uint64_t now = jc_now_us();
  sl->in_use = 1;
  sl->from_dns = from_dns;
  sl->admin = 0;
  sl->first_done = 0;
  sl->last[0] = 0;
  sl->last_us = 0;
  lb_health_sm_init(&sl->sm, now);
  memset(&sl->out, 0, sizeof sl->out);
  sl->out.last_change = now;
}

static int apply_pool_health(lb_control *ctl, int p, char *err, size_t errlen) {
  lb_ctl_pool *cp = &ctl->pools[p];
  lb_pool *pool = &ctl->rt->pools[p];
  atomic_store(&pool->outlier_5xx, cp->hc.outlier_5xx);
  atomic_store(&pool->outlier_connect, cp->hc.outlier_connect);
  if (cp->hc.type != LB_CHECK_NONE && cp->hc.tls && !cp->check_tls) {
    cp->check_tls = jc_tls_client_ctx(cp->hc.tls_ca[0] ? cp->hc.tls_ca : NULL, !cp->hc.tls_verify,
                                      err, errlen);
    if (!cp->check_tls)
      return -1;
  }
  return 0;
}

int lb_control_init(lb_control *ctl, lb_runtime *rt, uv_loop_t *loop, char *err, size_t errlen) {
  memset(ctl, 0, sizeof *ctl);
  ctl->rt = rt;
  ctl->loop = loop;
  ctl->started_us = jc_now_us();
  atomic_init(&ctl->draining, 0);
  for (int p = 0; p < rt->npools; p++) {
    lb_ctl_pool *cp = &ctl->pools[p];
    cp->hc = rt->cfg.pools[p].health;
    for (int i = 0; i < LB_MAX_SERVERS; i++) {
      cp->slots[i].ctl = ctl;
      cp->slots[i].pool = p;
      cp->slots[i].index = i;
    }
    char why[300];
    if (apply_pool_health(ctl, p, why, sizeof why) != 0) {
      snprintf(err, errlen, "pool %s: TLS health checks: %s", rt->pools[p].name, why);
      return -1;
    }
    int n = atomic_load(&rt->pools[p].nservers);
    for (int i = 0; i < n; i++) {
      slot_reset(ctl, p, i, 0);
      lb_control_publish(ctl, p, i);
    }
  }
  uv_async_init(loop, &ctl->wakeup, on_wakeup);
  ctl->wakeup.data = ctl;
  uv_timer_init(loop, &ctl->tick);
  ctl->tick.data = ctl;
  uv_timer_start(&ctl->tick, on_tick, LB_TICK_MS, LB_TICK_MS);
  rt->control_wakeup = &ctl->wakeup;
  return 0;
}

static int first_round_done(lb_control *ctl) {
  if (ctl->dns_pending > 0)
    return 0;
  for (int p = 0; p < ctl->rt->npools; p++) {
    if (ctl->pools[p].hc.type == LB_CHECK_NONE)
      continue;
    int n = atomic_load(&ctl->rt->pools[p].nservers);
    for (int i = 0; i < n; i++)
      if (ctl->pools[p].slots[i].in_use && !ctl->pools[p].slots[i].first_done)
        return 0;
  }
  return 1;
}

static void on_first_round_deadline(uv_timer_t *t) { *(int *)t->data = 1; }

void lb_control_first_round(lb_control *ctl, uint32_t max_ms) {
  uint64_t start = jc_now_us();
  int checks = 0;
  for (int p = 0; p < ctl->rt->npools; p++) {
    if (ctl->pools[p].hc.type == LB_CHECK_NONE)
      continue;
    int n = atomic_load(&ctl->rt->pools[p].nservers);
    for (int i = 0; i < n; i++)
      if (ctl->pools[p].slots[i].in_use && !ctl->pools[p].slots[i].probe) {
        probe_start(&ctl->pools[p].slots[i]);
        checks = 1;
      }
  }
  if (!checks && !ctl->dns_pending)
    return;
  int expired = 0;
  uv_timer_t deadline;
  uv_timer_init(ctl->loop, &deadline);
  deadline.data = &expired;
  uv_timer_start(&deadline, on_first_round_deadline, max_ms, 0);
  while (!expired && !ctl->stopping && !first_round_done(ctl))
    uv_run(ctl->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(ctl->loop, UV_RUN_NOWAIT); /* the close callback: `deadline` lives on this stack */
  char took[32];
  jc_fmt_ms(jc_now_us() - start, took, sizeof took);
  for (int p = 0; p < ctl->rt->npools; p++) {
    int used = 0, up = lb_control_pool_up(ctl, p, &used);
    jc_log(up ? JC_LOG_INFO : JC_LOG_WARN, "first health check round%s: pool %s has %d of %d "
           "servers UP (%s ms)", expired ? " (deadline reached)" : "", ctl->rt->pools[p].name, up,
           used, took);
  }
}

int lb_control_add_server(lb_control *ctl, int p, const char *name, const struct sockaddr *addr,
                          socklen_t addrlen, int weight, int from_dns) {
  lb_pool *pool = &ctl->rt->pools[p];
  uint64_t now = jc_now_us();
  int n = atomic_load(&pool->nservers), slot = -1;
  for (int i = 0; i < n && slot < 0; i++) {
    lb_slot *sl = &ctl->pools[p].slots[i];
    if (!sl->in_use && atomic_load(&pool->servers[i].active) == 0 &&
        now - sl->emptied_us >= (uint64_t)LB_SLOT_REUSE_MS * 1000)
      slot = i;
  }
  if (slot < 0) {
    if (n >= LB_MAX_SERVERS)
      return -1;
    slot = n;
  }
  lb_server *s = &pool->servers[slot];
  snprintf(s->name, sizeof s->name, "%s", name);
  memcpy(&s->addr, addr, addrlen);
  s->addrlen = addrlen;
  jc_addr_format(addr, s->addr_text, sizeof s->addr_text);
  s->weight = weight > 0 ? weight : 1;
  s->index = slot;
  pthread_mutex_lock(&pool->lock);
  s->rr_current = 0;
  pthread_mutex_unlock(&pool->lock);
  atomic_store(&s->requests, 0);
  atomic_store(&s->failures, 0);
  atomic_store(&s->responses_5xx, 0);
  atomic_store(&s->consec_5xx, 0);
  atomic_store(&s->consec_connect, 0);
  atomic_store(&s->eject_request, 0);
  lb_srv_metrics_reset(&s->m);
  atomic_fetch_add(&s->generation, 1);
  slot_reset(ctl, p, slot, from_dns);
  lb_control_publish(ctl, p, slot);
  if (slot >= n)
    atomic_store(&pool->nservers, slot + 1);
  if (ctl->pools[p].hc.type != LB_CHECK_NONE)
    schedule(&ctl->pools[p].slots[slot], 0);
  return slot;
}

void lb_control_remove_server(lb_control *ctl, int p, int i, const char *why) {
  lb_slot *sl = &ctl->pools[p].slots[i];
  lb_server *s = &ctl->rt->pools[p].servers[i];
  if (!sl->in_use)
    return;
  sl->in_use = 0;
  sl->emptied_us = jc_now_us();
  probe_cancel(sl);
  if (sl->timer_on)
    uv_timer_stop(&sl->timer);
  lb_control_publish(ctl, p, i);
  jc_log(JC_LOG_INFO, "server %s (%s) removed from pool %s: %s; %d request(s) in flight finish",
         s->name, s->addr_text, ctl->rt->pools[p].name, why, atomic_load(&s->active));
}

int lb_control_set_health(lb_control *ctl, int p, const lb_health_cfg *hc, char *err,
                          size_t errlen) {
  lb_ctl_pool *cp = &ctl->pools[p];
  if (!memcmp(&cp->hc, hc, sizeof *hc))
    return 0;
  int was_checking = cp->hc.type != LB_CHECK_NONE;
  SSL_CTX *old_tls = cp->check_tls;
  cp->check_tls = NULL;
  lb_health_cfg old = cp->hc;
  cp->hc = *hc;
  if (apply_pool_health(ctl, p, err, errlen) != 0) {
    cp->hc = old;
    cp->check_tls = old_tls;
    return -1;
  }
  int n = atomic_load(&ctl->rt->pools[p].nservers);
  for (int i = 0; i < n; i++) {
    lb_slot *sl = &cp->slots[i];
    if (!sl->in_use)
      continue;
    probe_cancel(sl); /* a probe in flight may use the old TLS context */
    if (!was_checking && hc->type != LB_CHECK_NONE) {
      lb_health_sm_init(&sl->sm, jc_now_us()); /* never checked: unknown until the first one */
      sl->sm.state = LB_HS_UP;                 /* ...but serving: keep it UP meanwhile */
    }
    lb_control_publish(ctl, p, i);
    if (hc->type != LB_CHECK_NONE)
      schedule(sl, 0);
    else if (sl->timer_on)
      uv_timer_stop(&sl->timer);
  }
  if (old_tls)
    SSL_CTX_free(old_tls);
  char d[300];
  lb_health_cfg_describe(hc, d, sizeof d);
  jc_log(JC_LOG_INFO, "pool %s: health checks now %s", ctl->rt->pools[p].name, d);
  return 0;
}

void lb_control_close(lb_control *ctl) {
  ctl->stopping = 1;
  lb_admin_close(ctl);
  lb_dns_close(ctl);
  for (int p = 0; p < LB_MAX_POOLS; p++) {
    for (int i = 0; i < LB_MAX_SERVERS; i++) {
      lb_slot *sl = &ctl->pools[p].slots[i];
      probe_cancel(sl);
      if (sl->timer_on) {
        uv_close((uv_handle_t *)&sl->timer, NULL);
        sl->timer_on = 0;
      }
    }
    if (ctl->pools[p].check_tls) {
      SSL_CTX_free(ctl->pools[p].check_tls);
      ctl->pools[p].check_tls = NULL;
    }
  }
  ctl->rt->control_wakeup = NULL;
  uv_close((uv_handle_t *)&ctl->wakeup, NULL);
  uv_close((uv_handle_t *)&ctl->tick, NULL);
}
