#include "common/log.h"

#include "common/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Atomic int g_min_level = JC_LOG_INFO;
static _Atomic int g_format = JC_LOG_LOGFMT;

void jc_log_setup(jc_log_level min_level, jc_log_format fmt) {
  atomic_store(&g_min_level, (int)min_level);
  atomic_store(&g_format, (int)fmt);
}

jc_log_level jc_log_min_level(void) { return (jc_log_level)atomic_load(&g_min_level); }
jc_log_format jc_log_get_format(void) { return (jc_log_format)atomic_load(&g_format); }

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

const char *jc_log_level_name(jc_log_level lvl) {
  return (unsigned)lvl <= JC_LOG_OFF ? level_names[lvl] : "?";
}

int jc_log_level_parse(const char *s) {
  for (int i = 0; i <= JC_LOG_OFF; i++)
    if (strcmp(s, level_names[i]) == 0)
      return i;
  if (strcmp(s, "warning") == 0)
    return JC_LOG_WARN;
  return -1;
}

int jc_log_format_parse(const char *s) {
  if (strcmp(s, "logfmt") == 0)
    return JC_LOG_LOGFMT;
  if (strcmp(s, "json") == 0)
    return JC_LOG_JSON;
  return -1;
}

/* Room kept at the end of the buffer for a truncation marker, the closing "}\n" and NUL. */
#define RESERVE 24

static void put(jc_logline *l, const char *p, size_t n) {
  if (l->truncated)
    return;
  if (l->len + n > JC_LOGLINE_MAX - RESERVE) {
    n = JC_LOGLINE_MAX - RESERVE - l->len;
    l->truncated = 1;
  }
  memcpy(l->buf + l->len, p, n);
  l->len += n;
}

static void putc1(jc_logline *l, char c) { put(l, &c, 1); }

/* Bytes a logfmt value cannot hold bare: controls, space, '=', '"', '\\', DEL (one table
 * lookup per byte: every access log line scans some twenty values). */
static const unsigned char needs_quote[256] = {
    [0 ... 0x20] = 1, ['='] = 1, ['"'] = 1, ['\\'] = 1, [0x7f] = 1};

static int logfmt_needs_quotes(const char *v, size_t n) {
  if (n == 0)
    return 1;
  for (size_t i = 0; i < n; i++)
    if (needs_quote[(unsigned char)v[i]])
      return 1;
  return 0;
}

/* Decimal digits of v at the end of b[24] (returns where they start), without snprintf's format
 * parsing: an access log line has a dozen numbers. */
static char *digits_of(char *end, unsigned long long v) {
  do {
    *--end = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return end;
}

/* us as milliseconds with 3 decimals at the end of b[32]; returns where they start. */
static char *ms_of(char b[32], uint64_t us) {
  unsigned frac = (unsigned)(us % 1000);
  b[28] = '.';
  b[29] = (char)('0' + frac / 100);
  b[30] = (char)('0' + frac / 10 % 10);
  b[31] = (char)('0' + frac % 10);
  return digits_of(b + 28, us / 1000);
}

/* Escapes for both formats: JSON rules, which logfmt readers (and humans) also understand.
 * The escape of byte c into out (its length), or 0: c stays as it is. */
static size_t escape_byte(unsigned char c, char out[6]) {
  static const char hex[] = "0123456789abcdef";
  char e;
  switch (c) {
  case '"': e = '"'; break;
  case '\\': e = '\\'; break;
  case '\n': e = 'n'; break;
  case '\r': e = 'r'; break;
  case '\t': e = 't'; break;
  default:
    if (c >= 0x20 && c != 0x7f)
      return 0;
    out[0] = '\\', out[1] = 'u', out[2] = '0', out[3] = '0', out[4] = hex[c >> 4], out[5] = hex[c & 15];
    return 6;
  }
  out[0] = '\\', out[1] = e;
  return 2;
}

static void put_escaped(jc_logline *l, const char *v, size_t n) {
  size_t run = 0; /* bytes copied as they are, in one put */
  for (size_t i = 0; i < n; i++) {
    char esc[6];
    size_t k = escape_byte((unsigned char)v[i], esc);
    if (!k) {
      run++;
      continue;
    }
    put(l, v + i - run, run);
    run = 0;
    put(l, esc, k);
  }
  put(l, v + n - run, run);
}

size_t jc_logfmt_value(char *out, const char *v, size_t n) {
  if (!logfmt_needs_quotes(v, n)) {
    memcpy(out, v, n);
    return n;
  }
  char *p = out;
  *p++ = '"';
  for (size_t i = 0; i < n; i++) {
    size_t k = escape_byte((unsigned char)v[i], p);
    if (!k)
      *p++ = v[i];
    else
      p += k;
  }
  *p++ = '"';
  return (size_t)(p - out);
}

size_t jc_log_uint(char *out, unsigned long long v) {
  char b[24];
  char *p = digits_of(b + sizeof b, v);
  memcpy(out, p, (size_t)(b + sizeof b - p));
  return (size_t)(b + sizeof b - p);
}

size_t jc_log_ms(char *out, uint64_t us) {
  char b[32];
  char *p = ms_of(b, us);
  memcpy(out, p, (size_t)(b + sizeof b - p));
  return (size_t)(b + sizeof b - p);
}

static void put_key(jc_logline *l, const char *key) {
  if (!l->truncated)
    l->field_start = l->len;
  size_t kn = strlen(key);
  if (l->fmt == JC_LOG_LOGFMT && l->len + kn + 2 <= JC_LOGLINE_MAX - RESERVE && !l->truncated) {
    /* the common case in one go: " key=" */
    char *p = l->buf + l->len;
    if (l->fields)
      *p++ = ' ';
    memcpy(p, key, kn);
    p[kn] = '=';
    l->len = (size_t)(p + kn + 1 - l->buf);
    l->fields++;
    return;
  }
  if (l->fmt == JC_LOG_JSON) {
    put(l, l->fields ? ",\"" : "\"", l->fields ? 2 : 1);
    put_escaped(l, key, strlen(key));
    put(l, "\":", 2);
  } else {
    if (l->fields)
      putc1(l, ' ');
    put(l, key, kn);
    putc1(l, '=');
  }
  l->fields++;
}

void jc_logline_init(jc_logline *l, jc_log_format fmt) {
  l->fmt = fmt;
  l->level = JC_LOG_INFO;
  l->len = 0;
  l->fields = 0;
  l->truncated = 0;
  if (fmt == JC_LOG_JSON)
    putc1(l, '{');
}

void jc_log_begin(jc_logline *l, jc_log_level lvl, const char *event) {
  char ts[40];
  jc_logline_init(l, jc_log_get_format());
  l->level = lvl;
  jc_logline_str(l, "time", jc_wall_rfc3339(ts, sizeof ts));
  jc_logline_str(l, "level", jc_log_level_name(lvl));
  jc_logline_str(l, "msg", event);
}

void jc_logline_strn(jc_logline *l, const char *key, const char *value, size_t n) {
  put_key(l, key);
  if (l->fmt == JC_LOG_JSON || logfmt_needs_quotes(value, n)) {
    putc1(l, '"');
    put_escaped(l, value, n);
    putc1(l, '"');
  } else {
    put(l, value, n);
  }
}

void jc_logline_str(jc_logline *l, const char *key, const char *value) {
  if (!value)
    value = "";
  jc_logline_strn(l, key, value, strlen(value));
}

static void put_raw_number(jc_logline *l, const char *key, const char *num) {
  put_key(l, key);
  put(l, num, strlen(num));
}

static void put_number(jc_logline *l, const char *key, unsigned long long v, int negative) {
  char b[24];
  char *p = digits_of(b + sizeof b, v);
  if (negative)
    *--p = '-';
  put_key(l, key);
  put(l, p, (size_t)(b + sizeof b - p));
}

void jc_logline_int(jc_logline *l, const char *key, long long v) {
  put_number(l, key, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, v < 0);
}

void jc_logline_uint(jc_logline *l, const char *key, unsigned long long v) {
  put_number(l, key, v, 0);
}

void jc_logline_bool(jc_logline *l, const char *key, int v) {
  put_raw_number(l, key, v ? "true" : "false");
}

void jc_logline_ms(jc_logline *l, const char *key, uint64_t us) {
  char b[32];
  char *p = ms_of(b, us);
  put_key(l, key);
  put(l, p, (size_t)(b + sizeof b - p));
}

void jc_logline_printf(jc_logline *l, const char *key, const char *fmt, ...) {
  char b[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  jc_logline_strn(l, key, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

const char *jc_logline_finish(jc_logline *l) {
  if (l->len && l->buf[l->len - 1] == '\n') /* already finished */
    return l->buf;
  if (l->truncated) {
    /* Drop the field that did not fit whole, so the line stays parseable, and say so. */
    l->len = l->field_start;
    const char *mark = l->fmt == JC_LOG_JSON ? (l->fields > 1 ? ",\"truncated\":true" : "\"truncated\":true")
                                             : (l->fields > 1 ? " truncated=true" : "truncated=true");
    memcpy(l->buf + l->len, mark, strlen(mark));
    l->len += strlen(mark);
  }
  if (l->fmt == JC_LOG_JSON)
    l->buf[l->len++] = '}';
  l->buf[l->len++] = '\n';
  l->buf[l->len] = '\0';
  return l->buf;
}

void jc_logline_write(jc_logline *l, int fd) {
  jc_logline_finish(l);
  size_t off = 0;
  while (off < l->len) {
    ssize_t w = write(fd, l->buf + off, l->len - off);
    if (w <= 0)
      return; /* nowhere to report a failing log stream */
    off += (size_t)w;
  }
}

void jc_log_emit(jc_logline *l) {
  if (jc_log_enabled(l->level))
    jc_logline_write(l, 2);
}

void jc_log(jc_log_level lvl, const char *fmt, ...) {
  if (!jc_log_enabled(lvl))
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  jc_logline l;
  jc_log_begin(&l, lvl, msg);
  jc_log_emit(&l);
}
