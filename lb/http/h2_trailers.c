/* Trailer fields for h2 (h2_trailers.h). */
#include "lb/http/h2_trailers.h"

#include <string.h>
#include <strings.h>

/* Lowercase names that must not be trailers (RFC 9110 section 6.5.1's kinds, h2_trailers.h). */
static const char *const refused[] = {
    "content-length",   "host",          "expect",        "max-forwards",
    "range",            "authorization", "www-authenticate", "cookie",
    "set-cookie",       "cache-control", "expires",       "age",
    "vary",             "location",      "retry-after",   "date",
    "pragma",           "warning",       "content-type",  "content-encoding",
    "content-range",    "http2-settings",
};

static int in_list(const char *const *list, size_t count, const char *name, size_t n) {
  for (size_t i = 0; i < count; i++) {
    size_t l = strlen(list[i]);
    if (l == n && lb_header_is(name, n, list[i], l))
      return 1;
  }
  return 0;
}

int lb_h2_trailer_allowed(const char *name, size_t n) {
  if (lb_header_is_hop_by_hop(name, n))
    return 0;
  if (n > 3 && lb_header_is(name, 3, "if-", 3)) /* If-Match, If-None-Match, If-Range ... */
    return 0;
  return !in_list(refused, sizeof refused / sizeof refused[0], name, n);
}

size_t lb_h2_trailer_fields(const lb_header *f, uint32_t n, const char *conn, size_t conn_len,
                            nghttp2_nv *nva) {
  size_t k = 0;
  for (uint32_t i = 0; i < n; i++)
    if (lb_h2_trailer_allowed(f[i].name, f[i].name_len) &&
        !(conn_len && lb_token_listed(conn, conn_len, f[i].name, f[i].name_len)))
      nva[k++] = (nghttp2_nv){(uint8_t *)(uintptr_t)f[i].name, (uint8_t *)(uintptr_t)f[i].value,
                              f[i].name_len, f[i].value_len, NGHTTP2_NV_FLAG_NONE};
  return k;
}

size_t lb_h2_trailer_conn_names(const lb_header *h, size_t nh, char *dst, size_t cap) {
  size_t len = 0;
  for (size_t i = 0; i < nh; i++) {
    if (!LB_HEADER_IS(h[i].name, h[i].name_len, "connection"))
      continue;
    const char *p = h[i].value, *end = p + h[i].value_len, *t;
    size_t n;
    while ((t = lb_list_next(&p, end, &n))) {
      if (LB_HEADER_IS(t, n, "close") || LB_HEADER_IS(t, n, "keep-alive"))
        continue;
      size_t need = n + (len ? 1 : 0);
      if (dst && len + need <= cap) {
        if (len)
          dst[len] = ',';
        memcpy(dst + len + (len ? 1 : 0), t, n);
      }
      len += need;
    }
  }
  return len;
}

/* The fields journey-lb writes itself for the backend (lb_rewrite_request): never a client's. */
static const char *const ours[] = {
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "via", "x-request-id",
};

int lb_h2_req_trailer_add(lb_h2_req_trailers *t, const char *name, size_t nl, const char *value,
                          size_t vl) {
  if (t->over)
    return -1;
  if (nl + vl > t->max_bytes - t->bytes || t->fields == t->max_fields) {
    t->over = 1;
    return -1;
  }
  t->bytes += nl + vl;
  t->fields++;
  if (!lb_h2_trailer_allowed(name, nl) || in_list(ours, sizeof ours / sizeof ours[0], name, nl) ||
      (t->own && t->own_len == nl && strncasecmp(t->own, name, nl) == 0))
    return 0;
  t->len += lb_field_line(t->buf + t->len, name, nl, value, vl); /* within max_bytes + 4 a field */
  t->kept++;
  return 1;
}
