#include "client/lb_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p;
}

static void copy_trim(char *dst, size_t cap, const char *p, size_t n) {
  while (n && (*p == ' ' || *p == '\t')) {
    p++;
    n--;
  }
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, p, n);
  dst[n] = 0;
}

/* Parses "1.25" (milliseconds) into microseconds without locale surprises. */
static int parse_ms(const char *p, size_t n, uint64_t *us) {
  uint64_t whole = 0, frac = 0, scale = 1000;
  size_t i = 0;
  int digits = 0;
  for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++)
    whole = whole * 10 + (uint64_t)(p[i] - '0');
  if (i < n && p[i] == '.')
    for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++)
      if (scale > 1) {
        scale /= 10;
        frac += (uint64_t)(p[i] - '0') * scale;
      }
  if (!digits || i != n || whole > 1000000000ULL)
    return -1;
  *us = whole * 1000 + frac;
  return 0;
}

int jn_lb_parse_server_timing(jn_lb_info *lb, const char *v, size_t n) {
  const char *p = v, *end = v + n;
  int added = 0;
  while (p < end) {
    /* one entry: up to the next comma outside quotes */
    const char *e = p;
    int inq = 0;
    while (e < end && (inq || *e != ',')) {
      if (*e == '"')
        inq = !inq;
      e++;
    }
    jn_timing t;
    memset(&t, 0, sizeof t);
    const char *q = skip_ws(p, e);
    const char *semi = memchr(q, ';', (size_t)(e - q));
    const char *name_end = semi ? semi : e;
    copy_trim(t.name, sizeof t.name, q, (size_t)(name_end - q));
    int ok = t.name[0] != 0;
    while (ok && semi && semi < e) {
      const char *k = skip_ws(semi + 1, e);
      const char *next = k;
      inq = 0;
      while (next < e && (inq || *next != ';')) {
        if (*next == '"')
          inq = !inq;
        next++;
      }
      const char *eq = memchr(k, '=', (size_t)(next - k));
      if (eq) {
        size_t klen = (size_t)(eq - k);
        const char *val = skip_ws(eq + 1, next);
        size_t vlen = (size_t)(next - val);
        while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
          vlen--;
        if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
          val++;
          vlen -= 2;
        }
        if (klen == 3 && strncasecmp(k, "dur", 3) == 0) {
          if (parse_ms(val, vlen, &t.dur_us) == 0)
            t.has_dur = 1;
          else
            ok = 0;
        } else if (klen == 4 && strncasecmp(k, "desc", 4) == 0) {
          copy_trim(t.desc, sizeof t.desc, val, vlen);
        }
      }
      semi = next < e ? next : NULL;
    }
    if (ok && lb->timing_n < JN_TIMING_MAX) {
      lb->timing[lb->timing_n++] = t;
      added++;
    }
    p = e < end ? e + 1 : e;
  }
  return added;
}

int jn_lb_header(jn_lb_info *lb, const char *name, size_t nlen, const char *value, size_t vlen) {
  if (nlen == 13 && strncasecmp(name, "Server-Timing", 13) == 0) {
    jn_lb_parse_server_timing(lb, value, vlen);
    return 1;
  }
  if (nlen == 11 && strncasecmp(name, "X-Served-By", 11) == 0) {
    copy_trim(lb->served_by, sizeof lb->served_by, value, vlen);
    return 1;
  }
  if (nlen == 12 && strncasecmp(name, "X-Request-Id", 12) == 0) {
    copy_trim(lb->request_id, sizeof lb->request_id, value, vlen);
    return 1;
  }
  return 0;
}

const jn_timing *jn_lb_find(const jn_lb_info *lb, const char *name) {
  for (size_t i = 0; i < lb->timing_n; i++)
    if (strcasecmp(lb->timing[i].name, name) == 0)
      return &lb->timing[i];
  return NULL;
}

uint64_t jn_lb_total_us(const jn_lb_info *lb) {
  const jn_timing *t = jn_lb_find(lb, "total");
  if (t && t->has_dur)
    return t->dur_us;
  uint64_t sum = 0;
  for (size_t i = 0; i < lb->timing_n; i++)
    sum += lb->timing[i].has_dur ? lb->timing[i].dur_us : 0;
  return sum;
}
