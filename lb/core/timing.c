/* HAProxy-like timers and the Server-Timing header. */
#include "lb/core/timing.h"

#include <stdio.h>
#include <string.h>

static int64_t span(uint64_t from, uint64_t to) {
  if (!from || !to)
    return -1;
  return to >= from ? (int64_t)(to - from) : 0;
}

void lb_timing_compute(const lb_timing *t, lb_timers *o) {
  o->Th = t->first_request && t->tls_done ? span(t->accept, t->tls_done) : 0;
  o->Ti = span(t->idle_start, t->req_start);
  o->TR = span(t->req_start, t->hdr_done);
  o->Tw = span(t->hdr_done, t->queued);
  o->Tc = span(t->queued, t->connected);
  o->Tr = span(t->connected, t->resp_hdr);
  o->Td = span(t->resp_hdr, t->done);
  o->Ta = span(t->req_start, t->done);
  o->Tt = (o->Th > 0 ? o->Th : 0) + (o->Ti > 0 ? o->Ti : 0) + (o->Ta > 0 ? o->Ta : 0);
  if (o->Ta < 0)
    o->Tt = -1;
}

char *lb_timer_fmt(int64_t us, char *buf, size_t cap) {
  if (us < 0)
    snprintf(buf, cap, "-1");
  else
    snprintf(buf, cap, "%lld.%03lld", (long long)(us / 1000), (long long)(us % 1000));
  return buf;
}

/* "12.345" from microseconds, by hand: this runs for every response. Returns the length. */
static size_t fmt_ms3(char *out, uint64_t us) {
  char tmp[24];
  size_t n = 0;
  uint64_t ms = us / 1000;
  do {
    tmp[n++] = (char)('0' + ms % 10);
    ms /= 10;
  } while (ms);
  size_t len = 0;
  while (n)
    out[len++] = tmp[--n];
  unsigned frac = (unsigned)(us % 1000);
  out[len++] = '.';
  out[len++] = (char)('0' + frac / 100);
  out[len++] = (char)('0' + frac / 10 % 10);
  out[len++] = (char)('0' + frac % 10);
  return len;
}

/* An item's longest text: ", ", the longest name with ";dur=" (12), 20 digits, "." and 3. */
#define ITEM_MAX 38

size_t lb_server_timing_format(char *buf, size_t cap, const lb_timing *t, uint64_t now) {
  /* Each name with its ";dur=", padded to 16 bytes: one fixed-size copy per item. */
  static const struct {
    char text[16];
    size_t len;
  } names[5] = {{"tls;dur=", 8}, {"queue;dur=", 10}, {"connect;dur=", 12},
                {"backend;dur=", 12}, {"total;dur=", 10}};
  const int64_t us[5] = {
      t->first_request && t->tls_done ? span(t->accept, t->tls_done) : -1,
      span(t->hdr_done, t->queued),
      span(t->queued, t->connected),
      span(t->connected, t->resp_hdr),
      span(t->req_start, now),
  };
  /* Written in place when every item fits (the callers' 256 bytes), else in tmp and copied
   * only if it fits: the header is whole or absent. */
  char tmp[5 * ITEM_MAX + 1];
  char *o = cap > sizeof tmp ? buf : tmp;
  size_t len = 0;
  for (int i = 0; i < 5; i++) {
    if (us[i] < 0)
      continue;
    if (len) {
      o[len++] = ',';
      o[len++] = ' ';
    }
    memcpy(o + len, names[i].text, sizeof names[i].text);
    len += names[i].len;
    len += fmt_ms3(o + len, (uint64_t)us[i]);
  }
  if (o == tmp) {
    if (len >= cap) {
      if (cap)
        buf[0] = 0;
      return 0;
    }
    memcpy(buf, tmp, len);
  }
  buf[len] = 0;
  return len;
}
