/* Trailer fields, protocol-neutral (trailers.h). */
#include "lb/http/trailers.h"

#include "lb/core/rewrite.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Lowercase names that must not be trailers (RFC 9110 section 6.5.1's kinds, trailers.h). */
static const char *const refused[] = {
    "content-length",   "host",          "expect",        "max-forwards",
    "range",            "authorization", "www-authenticate", "cookie",
    "set-cookie",       "cache-control", "expires",       "age",
    "vary",             "location",      "retry-after",   "date",
    "pragma",           "warning",       "content-type",  "content-encoding",
    "content-range",    "http2-settings",
};

/* The fields journey-lb writes itself for the backend (lb_rewrite_request): never a client's. */
static const char *const ours[] = {
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "via", "x-request-id",
};

static int in_list(const char *const *list, size_t count, const char *name, size_t n) {
  for (size_t i = 0; i < count; i++) {
    size_t l = strlen(list[i]);
    if (l == n && lb_header_is(name, n, list[i], l))
      return 1;
  }
  return 0;
}

int lb_trailer_allowed(const char *name, size_t n) {
  if (lb_header_is_hop_by_hop(name, n))
    return 0;
  if (n > 3 && lb_header_is(name, 3, "if-", 3)) /* If-Match, If-None-Match, If-Range ... */
    return 0;
  return !in_list(refused, sizeof refused / sizeof refused[0], name, n);
}

static int forwarded(const lb_req_trailers *t, const char *name, size_t n) {
  return lb_trailer_allowed(name, n) && !in_list(ours, sizeof ours / sizeof ours[0], name, n) &&
         !(t->own && t->own_len == n && strncasecmp(t->own, name, n) == 0);
}

int lb_req_trailers_start(lb_req_trailers *t, size_t max_bytes, uint32_t max_fields,
                          const char *own, size_t own_len) {
  char *buf = malloc(LB_REQ_TRAILERS_CAP(max_bytes, max_fields));
  if (!buf)
    return -1;
  *t = (lb_req_trailers){.buf = buf,
                         .max_bytes = max_bytes,
                         .max_fields = max_fields,
                         .own = own,
                         .own_len = own_len};
  return 0;
}

static int over(lb_req_trailers *t) {
  t->over = 1;
  t->state = 0;
  return -1;
}

int lb_req_trailer_piece(lb_req_trailers *t, int value, const char *at, size_t n) {
  if (t->over)
    return -1;
  if (value && t->state == 0)
    return 0; /* a value without a name: no parser gives one */
  if (!value && t->state == 2 && lb_req_trailer_end(t) < 0)
    return -1;
  if (!value && t->state == 0) { /* a new field */
    if (t->fields == t->max_fields)
      return over(t);
    t->fields++;
    t->name_len = t->value_len = 0;
    t->state = 1;
  }
  if (n > t->max_bytes - t->bytes)
    return over(t);
  t->bytes += n;
  /* The field's line being written at buf + len: within max_bytes + 4 a field (trailers.h). */
  char *line = t->buf + t->len;
  if (value && t->state == 1) {
    memcpy(line + t->name_len, ": ", 2);
    t->state = 2;
  }
  if (value) {
    memcpy(line + t->name_len + 2 + t->value_len, at, n);
    t->value_len += n;
  } else {
    memcpy(line + t->name_len, at, n);
    t->name_len += n;
  }
  return 0;
}

int lb_req_trailer_end(lb_req_trailers *t) {
  if (t->over)
    return -1;
  if (t->state == 0)
    return 0;
  char *line = t->buf + t->len;
  if (t->state == 1) /* no value */
    memcpy(line + t->name_len, ": ", 2);
  t->state = 0;
  const char *v = line + t->name_len + 2;
  while (t->value_len && (v[t->value_len - 1] == ' ' || v[t->value_len - 1] == '\t'))
    t->value_len--;
  if (!forwarded(t, line, t->name_len))
    return 0; /* the line is taken back: len stays */
  memcpy(line + t->name_len + 2 + t->value_len, "\r\n", 2);
  t->len += t->name_len + t->value_len + 4;
  t->kept++;
  return 1;
}

int lb_req_trailer_add(lb_req_trailers *t, const char *name, size_t nl, const char *value,
                       size_t vl) {
  if (lb_req_trailer_end(t) < 0 || lb_req_trailer_piece(t, 0, name, nl) < 0 ||
      (vl && lb_req_trailer_piece(t, 1, value, vl) < 0))
    return -1;
  return lb_req_trailer_end(t);
}
