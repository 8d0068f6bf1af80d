/* Health settings, the active-check state machine and passive ejection (pure). */
#include "lb/core/health.h"

#include "lb/core/values.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bits of lb_health_cfg.set, one per setting. */
enum {
  HB_TYPE = 0, HB_METHOD, HB_PATH, HB_HOST, HB_STATUS, HB_INTERVAL, HB_FAST, HB_TIMEOUT,
  HB_RISE, HB_FALL, HB_TLS, HB_VERIFY, HB_CA, HB_SNI, HB_O5XX, HB_OCONN, HB_OBASE, HB_OMAX,
  HB_OPCT
};

const char *const lb_health_settings[] = {
    "health-check", "health-method", "health-path", "health-host", "health-status",
    "health-interval", "health-fast-interval", "health-timeout", "health-rise", "health-fall",
    "health-tls", "health-tls-verify", "health-tls-ca", "health-tls-sni",
    "outlier-consecutive-5xx", "outlier-consecutive-connect-failures",
    "outlier-base-ejection-time", "outlier-max-ejection-time", "outlier-max-ejection-percent",
    NULL};

void lb_health_cfg_defaults(lb_health_cfg *c) {
  memset(c, 0, sizeof *c);
  c->type = LB_CHECK_NONE;
  snprintf(c->method, sizeof c->method, "GET");
  snprintf(c->path, sizeof c->path, "/health");
  c->status_min = 200;
  c->status_max = 399;
  c->interval_ms = 2000;
  c->fast_interval_ms = 500;
  c->timeout_ms = 1000;
  c->rise = 2;
  c->fall = 3;
  c->tls_verify = 1;
  c->outlier_5xx = 0;
  c->outlier_connect = 5;
  c->outlier_base_ms = 30000;
  c->outlier_max_ms = 300000;
  c->outlier_max_percent = 50;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  if (!*s || !(isdigit((unsigned char)*s)))
    return -1;
  long v = strtol(s, &end, 10);
  if (*end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

static int parse_ms(const char *name, const char *value, uint32_t *out, char *why, size_t wl) {
  if (lb_parse_duration_ms(value, out) != 0 || *out == 0) {
    snprintf(why, wl, "%s '%s': expected a duration like 500ms, 2s or 1m", name, value);
    return -1;
  }
  return 0;
}

/* Marks the check type as HTTP when an HTTP detail is given and no type was chosen. */
static void imply_http(lb_health_cfg *c) {
  if (!(c->set & (1ull << HB_TYPE)) && c->type == LB_CHECK_NONE)
    c->type = LB_CHECK_HTTP;
}

int lb_health_cfg_set(lb_health_cfg *c, const char *name, const char *value, char *why,
                      size_t wl) {
  long v;
  int bit = -1;
  for (int i = 0; lb_health_settings[i]; i++)
    if (!strcmp(name, lb_health_settings[i]))
      bit = i;
  if (bit < 0)
    return 1;
  switch (bit) {
  case HB_TYPE:
    if (!strcmp(value, "http"))
      c->type = LB_CHECK_HTTP;
    else if (!strcmp(value, "tcp"))
      c->type = LB_CHECK_TCP;
    else if (!strcmp(value, "none") || !strcmp(value, "off"))
      c->type = LB_CHECK_NONE;
    else {
      snprintf(why, wl, "health-check '%s': expected http, tcp or none", value);
      return -1;
    }
    break;
  case HB_METHOD:
    if (!*value || strlen(value) >= sizeof c->method) {
      snprintf(why, wl, "health-method '%s': expected GET, HEAD or OPTIONS", value);
      return -1;
    }
    for (const char *p = value; *p; p++)
      if (!isupper((unsigned char)*p)) {
        snprintf(why, wl, "health-method '%s': expected an upper-case method like GET or HEAD",
                 value);
        return -1;
      }
    snprintf(c->method, sizeof c->method, "%s", value);
    imply_http(c);
    break;
  case HB_PATH:
    if (value[0] != '/' || strlen(value) >= sizeof c->path || strpbrk(value, " \r\n\t")) {
      snprintf(why, wl, "health-path '%s': expected a path starting with '/' (no spaces)", value);
      return -1;
    }
    snprintf(c->path, sizeof c->path, "%s", value);
    imply_http(c);
    break;
  case HB_HOST:
    if (strlen(value) >= sizeof c->host || strpbrk(value, " \r\n\t")) {
      snprintf(why, wl, "health-host '%s': expected a host name", value);
      return -1;
    }
    snprintf(c->host, sizeof c->host, "%s", value);
    imply_http(c);
    break;
  case HB_STATUS: {
    /* "200", "200-399" */
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%s", value);
    char *dash = strchr(tmp, '-');
    long lo, hi;
    if (dash)
      *dash = 0;
    if (parse_int(tmp, 100, 599, &lo) != 0 || parse_int(dash ? dash + 1 : tmp, 100, 599, &hi) != 0 ||
        lo > hi) {
      snprintf(why, wl, "health-status '%s': expected a status or a range like 200-399", value);
      return -1;
    }
    c->status_min = (int)lo;
    c->status_max = (int)hi;
    imply_http(c);
    break;
  }
  case HB_INTERVAL:
    if (parse_ms(name, value, &c->interval_ms, why, wl) != 0)
      return -1;
    imply_http(c);
    break;
  case HB_FAST:
    if (parse_ms(name, value, &c->fast_interval_ms, why, wl) != 0)
      return -1;
    break;
  case HB_TIMEOUT:
    if (parse_ms(name, value, &c->timeout_ms, why, wl) != 0)
      return -1;
    imply_http(c);
    break;
  case HB_RISE:
  case HB_FALL:
    if (parse_int(value, 1, 100, &v) != 0) {
      snprintf(why, wl, "%s '%s': expected a count from 1 to 100", name, value);
      return -1;
    }
    *(bit == HB_RISE ? &c->rise : &c->fall) = (int)v;
    imply_http(c);
    break;
  case HB_TLS:
  case HB_VERIFY:
    if (lb_parse_bool(value, bit == HB_TLS ? &c->tls : &c->tls_verify) != 0) {
      snprintf(why, wl, "%s '%s': expected on or off", name, value);
      return -1;
    }
    break;
  case HB_CA:
  case HB_SNI: {
    char *dst = bit == HB_CA ? c->tls_ca : c->tls_sni;
    if (strlen(value) >= LB_HEALTH_PATH_MAX) {
      snprintf(why, wl, "%s: value too long", name);
      return -1;
    }
    snprintf(dst, LB_HEALTH_PATH_MAX, "%s", value);
    break;
  }
  case HB_O5XX:
  case HB_OCONN:
    if (parse_int(value, 0, 1000, &v) != 0) {
      snprintf(why, wl, "%s '%s': expected a count from 0 (off) to 1000", name, value);
      return -1;
    }
    *(bit == HB_O5XX ? &c->outlier_5xx : &c->outlier_connect) = (uint32_t)v;
    break;
  case HB_OBASE:
  case HB_OMAX:
    if (parse_ms(name, value, bit == HB_OBASE ? &c->outlier_base_ms : &c->outlier_max_ms, why,
                 wl) != 0)
      return -1;
    break;
  case HB_OPCT:
    if (parse_int(value, 0, 100, &v) != 0) {
      snprintf(why, wl, "%s '%s': expected a percentage from 0 to 100", name, value);
      return -1;
    }
    c->outlier_max_percent = (uint32_t)v;
    break;
  }
  c->set |= 1ull << bit;
  return 0;
}

void lb_health_cfg_merge(lb_health_cfg *p, const lb_health_cfg *g) {
  lb_health_cfg out = *g;
  uint64_t s = p->set;
#define TAKE(bit, field)                                                                          \
  if (s & (1ull << (bit)))                                                                        \
    memcpy(&out.field, &p->field, sizeof out.field);
  TAKE(HB_TYPE, type)
  TAKE(HB_METHOD, method)
  TAKE(HB_PATH, path)
  TAKE(HB_HOST, host)
  TAKE(HB_STATUS, status_min)
  TAKE(HB_STATUS, status_max)
  TAKE(HB_INTERVAL, interval_ms)
  TAKE(HB_FAST, fast_interval_ms)
  TAKE(HB_TIMEOUT, timeout_ms)
  TAKE(HB_RISE, rise)
  TAKE(HB_FALL, fall)
  TAKE(HB_TLS, tls)
  TAKE(HB_VERIFY, tls_verify)
  TAKE(HB_CA, tls_ca)
  TAKE(HB_SNI, tls_sni)
  TAKE(HB_O5XX, outlier_5xx)
  TAKE(HB_OCONN, outlier_connect)
  TAKE(HB_OBASE, outlier_base_ms)
  TAKE(HB_OMAX, outlier_max_ms)
  TAKE(HB_OPCT, outlier_max_percent)
#undef TAKE
  /* A pool that gives HTTP details but no type checks over HTTP even if [lb] says none. */
  if (!(s & (1ull << HB_TYPE)) && out.type == LB_CHECK_NONE && p->type != LB_CHECK_NONE)
    out.type = p->type;
  out.set = g->set | s;
  /* Nothing chosen anywhere: at least a TCP connect check, so that a dead server leaves the
   * rotation by itself. Only an explicit health-check = none turns active checks off. */
  if (!(out.set & (1ull << HB_TYPE)) && out.type == LB_CHECK_NONE)
    out.type = LB_CHECK_TCP;
  *p = out;
}

int lb_health_cfg_is_default(const lb_health_cfg *c) {
  return c->type == LB_CHECK_TCP && !(c->set & (1ull << HB_TYPE));
}

int lb_health_cfg_check(const lb_health_cfg *c, const char *pool, char *why, size_t wl) {
  if (c->type != LB_CHECK_NONE && c->timeout_ms >= c->interval_ms) {
    snprintf(why, wl, "pool %s: health-timeout (%ums) must be shorter than health-interval (%ums)",
             pool, c->timeout_ms, c->interval_ms);
    return -1;
  }
  if (c->outlier_max_ms < c->outlier_base_ms) {
    snprintf(why, wl, "pool %s: outlier-max-ejection-time (%ums) must be at least "
             "outlier-base-ejection-time (%ums)", pool, c->outlier_max_ms, c->outlier_base_ms);
    return -1;
  }
  return 0;
}

void lb_health_cfg_describe(const lb_health_cfg *c, char *buf, size_t len) {
  if (c->type == LB_CHECK_NONE)
    snprintf(buf, len, "off");
  else if (c->type == LB_CHECK_TCP)
    snprintf(buf, len, "tcp-connect%s every %ums timeout %ums rise %d fall %d",
             c->tls ? "+tls" : "", c->interval_ms, c->timeout_ms, c->rise, c->fall);
  else
    snprintf(buf, len, "%s %s%s %d-%d every %ums timeout %ums rise %d fall %d", c->method, c->path,
             c->tls ? " (tls)" : "", c->status_min, c->status_max, c->interval_ms, c->timeout_ms,
             c->rise, c->fall);
}

/* ---- active checks ---- */

void lb_health_sm_init(lb_health_sm *h, uint64_t now) {
  memset(h, 0, sizeof *h);
  h->state = LB_HS_UNKNOWN;
  h->since_us = now;
}

int lb_health_sm_record(lb_health_sm *h, const lb_health_cfg *c, int ok, uint64_t now) {
  if (ok) {
    h->ok_run++;
    h->fail_run = 0;
  } else {
    h->fail_run++;
    h->ok_run = 0;
  }
  int next = h->state;
  if (h->state == LB_HS_UNKNOWN)
    next = ok ? LB_HS_UP : LB_HS_DOWN; /* the first check decides: start-up waits for it */
  else if (h->state == LB_HS_UP && h->fail_run >= c->fall)
    next = LB_HS_DOWN;
  else if (h->state == LB_HS_DOWN && h->ok_run >= c->rise)
    next = LB_HS_UP;
  if (next == h->state)
    return 0;
  h->state = next;
  h->since_us = now;
  h->transitions++;
  return 1;
}

int lb_health_sm_changing(const lb_health_sm *h) {
  return h->state == LB_HS_UNKNOWN || (h->state == LB_HS_UP && h->fail_run > 0) ||
         (h->state == LB_HS_DOWN && h->ok_run > 0);
}

uint32_t lb_health_sm_next_ms(const lb_health_sm *h, const lb_health_cfg *c) {
  uint32_t fast = c->fast_interval_ms < c->interval_ms ? c->fast_interval_ms : c->interval_ms;
  return lb_health_sm_changing(h) ? fast : c->interval_ms;
}

const char *lb_health_state_name(int s) {
  return s == LB_HS_UP ? "up" : s == LB_HS_DOWN ? "down" : "unknown";
}

/* ---- passive checks ---- */

uint64_t lb_outlier_duration_ms(const lb_health_cfg *c, int n) {
  if (n < 1)
    n = 1;
  uint64_t d = (uint64_t)c->outlier_base_ms * (uint64_t)n;
  return d > c->outlier_max_ms ? c->outlier_max_ms : d;
}

int lb_outlier_allowed(const lb_health_cfg *c, int pool_size, int ejected) {
  if (pool_size < 2 || ejected >= pool_size - 1)
    return 0; /* never eject a whole pool: a bad server beats no server */
  if (ejected == 0)
    return c->outlier_max_percent > 0;
  return (uint64_t)(ejected + 1) * 100 <= (uint64_t)c->outlier_max_percent * (uint64_t)pool_size;
}

int lb_outlier_eject(lb_outlier *o, const lb_health_cfg *c, uint64_t now, int pool_size,
                     int ejected) {
  if (o->ejected_until || !lb_outlier_allowed(c, pool_size, ejected))
    return 0;
  lb_outlier_tick(o, c, now); /* apply the decay earned so far */
  o->ejections++;
  o->total++;
  o->ejected_until = now + lb_outlier_duration_ms(c, o->ejections) * 1000;
  if (o->ejected_until == 0)
    o->ejected_until = 1;
  o->last_change = now;
  return 1;
}

int lb_outlier_tick(lb_outlier *o, const lb_health_cfg *c, uint64_t now) {
  if (o->ejected_until) {
    if (now < o->ejected_until)
      return 0;
    o->ejected_until = 0;
    o->last_change = now;
    return 1;
  }
  uint64_t step = (uint64_t)c->outlier_base_ms * 1000;
  while (o->ejections > 0 && step && now - o->last_change >= step) {
    o->ejections--;
    o->last_change += step;
  }
  return 0;
}
