/* Trailer fields for h2 (h2_trailers.h): which to send, lb_trailer_allowed's (trailers.h). */
#include "lb/http/h2_trailers.h"

#include <string.h>

size_t lb_h2_trailer_fields(const lb_header *f, uint32_t n, const char *conn, size_t conn_len,
                            nghttp2_nv *nva) {
  size_t k = 0;
  for (uint32_t i = 0; i < n; i++)
    if (lb_trailer_allowed(f[i].name, f[i].name_len) &&
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
