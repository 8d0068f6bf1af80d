#include "backend/accesslog.h"

#include "backend/websocket.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void be_accesslog_init(be_accesslog *a, int enabled, int fd, jc_log_format fmt) {
  a->enabled = enabled;
  a->fd = fd;
  a->fmt = fmt;
  a->stamp_sec = (time_t)-1;
  a->stamp_prefix[0] = '\0';
  a->len = 0;
}

void be_accesslog_format(jc_logline *l, jc_log_format fmt, const char *stamp,
                         const be_access_entry *e) {
  jc_logline_init(l, fmt);
  jc_logline_str(l, "time", stamp);
  jc_logline_str(l, "level", "info");
  jc_logline_str(l, "msg", "access");
  jc_logline_str(l, "backend", e->backend);
  jc_logline_str(l, "client", e->client);
  jc_logline_str(l, "method", e->method);
  jc_logline_strn(l, "path", e->target, e->target_len);
  jc_logline_int(l, "status", e->status);
  jc_logline_uint(l, "bytes", e->bytes);
  jc_logline_ms(l, "duration_ms", e->dur_us);
  if (e->request_id)
    jc_logline_strn(l, "request_id", e->request_id, e->request_id_len);
  if (e->ws) { /* bytes (above) are what was sent, the 101 included */
    jc_logline_uint(l, "bytes_in", e->ws->bytes_in);
    jc_logline_uint(l, "messages", e->ws->messages);
    jc_logline_int(l, "close_sent", e->ws->close_sent);
    jc_logline_int(l, "close_received", e->ws->close_received);
  } else {
    jc_logline_bool(l, "keep_alive", e->keep_alive);
  }
  jc_logline_finish(l);
}

/* RFC 3339 with milliseconds; the date part is formatted once per second. */
static const char *stamp(be_accesslog *a, char *out, size_t len) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec != a->stamp_sec) {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(a->stamp_prefix, sizeof a->stamp_prefix, "%04d-%02d-%02dT%02d:%02d:%02d.",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    a->stamp_sec = ts.tv_sec;
  }
  long ms = ts.tv_nsec / 1000000;
  snprintf(out, len, "%s%03ldZ", a->stamp_prefix, ms);
  return out;
}

void be_accesslog_add(be_accesslog *a, const be_access_entry *e) {
  if (!a->enabled)
    return;
  char ts[96];
  jc_logline l;
  be_accesslog_format(&l, a->fmt, stamp(a, ts, sizeof ts), e);
  if (a->len + l.len > sizeof a->buf)
    be_accesslog_flush(a);
  memcpy(a->buf + a->len, l.buf, l.len);
  a->len += l.len;
}

void be_accesslog_flush(be_accesslog *a) {
  size_t off = 0;
  while (off < a->len) {
    ssize_t w = write(a->fd, a->buf + off, a->len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break; /* stdout gone or full: drop the batch rather than stall the server */
    off += (size_t)w;
  }
  a->len = 0;
}
