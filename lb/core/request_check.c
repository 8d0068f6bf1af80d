/* Request head checks before anything is forwarded (see request_check.h for the why). */
#include "lb/core/request_check.h"
#include "lb/core/charclass.h"
#include "lb/core/target.h"

#include <llhttp.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define FAIL(status, reason)                                                                      \
  do {                                                                                            \
    *why = (reason);                                                                              \
    return (status);                                                                              \
  } while (0)

/* A word with no byte below 0x20 and none equal to 0x7f holds only valid bytes (two
 * subtractions and masks, exact in telling whether such a byte is there). */
static inline int field_word_plain(const char *p) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  uint64_t x;
  memcpy(&x, p, sizeof x);
  uint64_t del = x ^ (0x7f * ones);
  return !((((x - 0x20 * ones) & ~x) | ((del - ones) & ~del)) & highs);
}

/* Eight bytes at a time, the last word overlapping the one before; a word with a control byte
 * in it is looked at byte by byte (a tab is allowed). NUL, CR, LF (obs-fold, bare line ends),
 * the other controls and DEL are refused. */
static inline int value_valid(const char *v, size_t n) {
  if (n < 8)
    return lb_cc_all(v, n, LB_CC_FIELD);
  for (size_t i = 0;; i += 8) {
    if (i + 8 > n)
      i = n - 8;
    if (!field_word_plain(v + i) && !lb_cc_all(v + i, 8, LB_CC_FIELD))
      return 0;
    if (i + 8 == n)
      return 1;
  }
}

int lb_field_value_valid(const char *v, size_t n) { return value_valid(v, n); }

int lb_fields_valid(const lb_header *h, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    if (!lb_token_valid(h[i].name, h[i].name_len))
      return LB_FIELD_BAD_NAME;
    if (!value_valid(h[i].value, h[i].value_len))
      return LB_FIELD_BAD_VALUE;
  }
  return 0;
}

static int host_valid(const char *v, size_t n) {
  return lb_cc_all(v, n, LB_CC_HOST);
}

/* " HTTP/d.d" at p (len bytes available): 1 and the digits, else 0. */
static int version_at(const char *p, size_t len, int *major, int *minor) {
  if (len < 9 || memcmp(p, " HTTP/", 6) != 0 || p[6] < '0' || p[6] > '9' || p[7] != '.' ||
      p[8] < '0' || p[8] > '9')
    return 0;
  *major = p[6] - '0';
  *minor = p[8] - '0';
  return 1;
}

static int is_ows(char ch) { return ch == ' ' || ch == '\t'; }

/* What the fields mean, their syntax being known good, one pass: one Host, and a valid one (and
 * one at all in HTTP/1.1); Connection naming neither the framing nor the Host (the rewrite drops
 * what it names); Transfer-Encoding over every field line chunked exactly once and last (else
 * 400), another coding before it 501 (the load balancer re-frames bodies and decodes nothing
 * else), and none in HTTP/1.0. */
static int check_meaning(const lb_header *hs, size_t nh, int minor, const char **why) {
  int hosts = 0, te = 0, chunked = 0, other = 0, last_chunked = 0;
  const lb_header *host = NULL;
  for (size_t i = 0; i < nh; i++) {
    const lb_header *f = &hs[i];
    if (LB_HEADER_IS(f->name, f->name_len, "host")) {
      hosts++;
      host = f;
    } else if (LB_HEADER_IS(f->name, f->name_len, "connection")) {
      for (const char *c = f->value, *ce = f->value + f->value_len; c < ce;) {
        while (c < ce && (is_ows(*c) || *c == ','))
          c++;
        const char *s = c;
        while (c < ce && *c != ',' && !is_ows(*c))
          c++;
        size_t n = (size_t)(c - s);
        if (LB_HEADER_IS(s, n, "content-length") || LB_HEADER_IS(s, n, "transfer-encoding") ||
            LB_HEADER_IS(s, n, "host"))
          FAIL(400, "Connection may not name Content-Length, Transfer-Encoding or Host");
      }
    } else if (LB_HEADER_IS(f->name, f->name_len, "transfer-encoding")) {
      te = 1;
      const char *v = f->value, *end = v + f->value_len;
      while (v < end) {
        while (v < end && (is_ows(*v) || *v == ','))
          v++;
        const char *s = v;
        while (v < end && *v != ',' && !is_ows(*v) && *v != ';')
          v++;
        size_t n = (size_t)(v - s);
        while (v < end && *v != ',')
          v++; /* parameters of a coding */
        if (!n)
          continue;
        if (n == 7 && strncasecmp(s, "chunked", 7) == 0) {
          chunked++;
          last_chunked = 1;
        } else {
          other++;
          last_chunked = 0;
        }
      }
    }
  }
  if (hosts > 1)
    FAIL(400, "more than one Host header");
  if (minor == 1 && hosts == 0)
    FAIL(400, "missing Host header (required in HTTP/1.1)");
  if (host && !host_valid(host->value, host->value_len))
    FAIL(400, "invalid Host header value");
  if (te && (chunked != 1 || !last_chunked))
    FAIL(400, "Transfer-Encoding must end with chunked, once (RFC 9112 6.3)");
  if (te && other)
    FAIL(501, "transfer coding not implemented: only chunked is accepted");
  if (te && minor == 0)
    FAIL(400, "Transfer-Encoding in an HTTP/1.0 request");
  return 0;
}

/* The target: HTAB, FF, SP, other controls or obs-text in it and a backend might split the
 * request line there; authority-form is for forward proxies (CONNECT). */
static int check_target(const lb_request_head *h, const char **why) {
  if (!lb_cc_all(h->target, h->target_len, LB_CC_TARGET))
    FAIL(400, "invalid character in the request target (whitespace, control or non-ASCII)");
  lb_target tg;
  if (lb_target_parse(h->target, h->target_len, h->is_options, &tg, why))
    return 400;
  return 0;
}

/* The raw bytes of an HTTP/1 head: the request line, then every field line: name ":" OWS value
 * OWS CRLF, starting right after the previous CRLF, then the empty line. */
static int check_syntax(const lb_request_head *h, int *minor, const char **why) {
  const char *p = h->raw, *end = h->raw + h->raw_len;
  while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
    p += 2; /* empty lines before a request may be ignored (RFC 9112 2.2) */
  const char *sp = memchr(p, ' ', (size_t)(end - p));
  if (!sp || !h->target || h->target != sp + 1 || h->target + h->target_len > end)
    FAIL(400, "request line: exactly one space between method and target");
  const char *after = h->target + h->target_len;
  if (end - after >= 2 && after[0] == '\r' && after[1] == '\n')
    FAIL(400, "HTTP/0.9 request (no version): not served");
  int major;
  if (!version_at(after, (size_t)(end - after), &major, minor))
    FAIL(400, "request line: expected one space and HTTP/1.1 after the target");
  if (major != 1 || *minor > 1)
    FAIL(505, "HTTP version not supported: HTTP/1.0 and HTTP/1.1 only");
  const char *eol = after + 9;
  if (end - eol < 2 || eol[0] != '\r' || eol[1] != '\n')
    FAIL(400, "request line must end with CRLF");
  int bad = check_target(h, why);
  if (bad)
    return bad;
  const char *line_end = eol + 2;
  for (size_t i = 0; i < h->nheaders; i++) {
    const lb_header *f = &h->headers[i];
    if (f->name != line_end)
      FAIL(400, "malformed header line (leading whitespace, obs-fold or bare LF)");
    if (!h->names_checked && !lb_token_valid(f->name, f->name_len))
      FAIL(400, "invalid character in header name");
    const char *q = f->name + f->name_len;
    if (q >= end || *q != ':')
      FAIL(400, "whitespace between header name and colon");
    q++;
    while (q < end && is_ows(*q))
      q++;
    if (f->value_len) {
      if (f->value != q || f->value + f->value_len > end)
        FAIL(400, "malformed header value");
      if (!lb_field_value_valid(f->value, f->value_len))
        FAIL(400, "invalid character in header value (control, CR, LF or obs-fold)");
      q = f->value + f->value_len;
      while (q < end && is_ows(*q))
        q++;
    }
    if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
      FAIL(400, "header line must end with CRLF");
    line_end = q + 2;
  }
  if (end - line_end < 2 || line_end[0] != '\r' || line_end[1] != '\n')
    FAIL(400, "request head must end with an empty CRLF line");
  return 0;
}

int lb_request_check(const lb_request_head *h, const char **why) {
  int minor = h->http_minor;
  /* No raw bytes: a head assembled from fields the codec checked (HTTP/2, lb/http/h2.h says
   * what nghttp2 refused already); its request line and field lines are written, not parsed. */
  int bad = h->raw ? check_syntax(h, &minor, why) : check_target(h, why);
  if (!bad)
    bad = check_meaning(h->headers, h->nheaders, minor, why);
  if (!bad)
    *why = NULL;
  return bad;
}

int lb_request_error_status(const char *raw, size_t len, int err, const char **why) {
  const char *line_end = memchr(raw, '\n', len);
  size_t line = line_end ? (size_t)(line_end - raw) : len;
  if (line && raw[line - 1] == '\r')
    line--;
  switch (err) {
  case HPE_PAUSED_H2_UPGRADE:
    FAIL(505, "HTTP/2 is not served on this port: HTTP/1.1 only");
  case HPE_INVALID_METHOD: {
    const char *sp = memchr(raw, ' ', line);
    if (sp && lb_token_valid(raw, (size_t)(sp - raw)))
      FAIL(501, "method not implemented by this load balancer");
    FAIL(400, "malformed request: invalid method");
  }
  case HPE_INVALID_VERSION: {
    int major, minor;
    if (line >= 9 && version_at(raw + line - 9, 9, &major, &minor))
      FAIL(505, "HTTP version not supported: HTTP/1.0 and HTTP/1.1 only");
    FAIL(400, "malformed request: invalid HTTP version");
  }
  default:
    break;
  }
  *why = NULL;
  return 400;
}

int lb_request_line_over(const char *buf, size_t from, size_t to, size_t max) {
  if (!buf || to <= from)
    return 0;
  const char *lf = memchr(buf + from, '\n', to - from);
  return (size_t)(lf ? lf - (buf + from) : (ptrdiff_t)(to - from)) > max;
}
