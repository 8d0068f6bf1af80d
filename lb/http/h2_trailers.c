/* Trailer fields for h2 (h2_trailers.h). */
#include "lb/http/h2_trailers.h"

/* Lowercase names that must not be trailers (RFC 9110 section 6.5.1's kinds, h2_trailers.h). */
static const char *const refused[] = {
    "content-length",   "host",          "expect",        "max-forwards",
    "range",            "authorization", "www-authenticate", "cookie",
    "set-cookie",       "cache-control", "expires",       "age",
    "vary",             "location",      "retry-after",   "date",
    "pragma",           "warning",       "content-type",  "content-encoding",
    "content-range",    "http2-settings",
};

int lb_h2_trailer_allowed(const char *name, size_t n) {
  if (lb_header_is_hop_by_hop(name, n))
    return 0;
  if (n > 3 && lb_header_is(name, 3, "if-", 3)) /* If-Match, If-None-Match, If-Range ... */
    return 0;
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    size_t l = strlen(refused[i]);
    if (l == n && lb_header_is(name, n, refused[i], l))
      return 0;
  }
  return 1;
}

size_t lb_h2_trailer_fields(const lb_header *f, uint32_t n, nghttp2_nv *nva) {
  size_t k = 0;
  for (uint32_t i = 0; i < n; i++)
    if (lb_h2_trailer_allowed(f[i].name, f[i].name_len))
      nva[k++] = (nghttp2_nv){(uint8_t *)(uintptr_t)f[i].name, (uint8_t *)(uintptr_t)f[i].value,
                              f[i].name_len, f[i].value_len, NGHTTP2_NV_FLAG_NONE};
  return k;
}
