/* HTTP/2 <-> HTTP/1.1 head conversion (RFC 9113 section 8.2 and 8.3): see h2.h. */
#include "lb/http/h2.h"

#include <llhttp.h>
#include <stdio.h>
#include <string.h>

void lb_h2_req_init(lb_h2_req *r, char *stage, size_t max_bytes, lb_header *fields, uint32_t max) {
  memset(r, 0, sizeof *r);
  r->stage = stage;
  r->hi = LB_H2_STAGE_SIZE(max_bytes, max);
  r->max_bytes = max_bytes;
  r->fields = fields;
  r->max_fields = max;
}

/* Room for n more bytes of names and values (max-header-size) and `room` bytes of stage; else
 * the request is flagged too large (431). */
static int fits(lb_h2_req *r, size_t n, size_t room) {
  if (n > r->max_bytes - r->bytes || room > r->hi - r->lo) {
    r->too_large = 1;
    return 0;
  }
  r->bytes += n;
  return 1;
}

/* "name: value" CRLF at the stage's low end; the view of its name and value. */
static void put_line(lb_h2_req *r, lb_header *h, const char *n, size_t nl, const uint8_t *v,
                     size_t vl) {
  char *d = r->stage + r->lo;
  r->lo += lb_field_line(d, n, nl, (const char *)v, vl);
  *h = (lb_header){d, d + nl + 2, (uint32_t)nl, (uint32_t)vl};
}

static int set_pseudo(lb_h2_req *r, lb_header *slot, const uint8_t *v, size_t n) {
  if (!fits(r, n, n))
    return -1;
  r->hi -= n;
  memcpy(r->stage + r->hi, v, n);
  *slot = (lb_header){"", r->stage + r->hi, 0, (uint32_t)n}; /* name "": present */
  return 0;
}

int lb_h2_req_add(lb_h2_req *r, const uint8_t *name, size_t nlen, const uint8_t *value,
                  size_t vlen) {
  if (r->too_large || r->too_many)
    return -1;
  if (nlen && name[0] == ':') { /* nghttp2 has checked which ones, once each, first */
    if (nlen == 7 && !memcmp(name, ":method", 7))
      return set_pseudo(r, &r->method, value, vlen);
    if (nlen == 5 && !memcmp(name, ":path", 5))
      return set_pseudo(r, &r->path, value, vlen);
    if (nlen == 10 && !memcmp(name, ":authority", 10)) {
      if (!fits(r, vlen, vlen + 8))
        return -1;
      put_line(r, &r->authority, "host", 4, value, vlen);
      return 0;
    }
    if (nlen == 7 && !memcmp(name, ":scheme", 7)) /* not forwarded (X-Forwarded-Proto is the */
      return fits(r, vlen, 0) ? 0 : -1;            /* connection's): counted, not kept */
    if (nlen == 9 && !memcmp(name, ":protocol", 9))
      return set_pseudo(r, &r->protocol, value, vlen);
    return 0;
  }
  if (r->nfields == r->max_fields) {
    r->too_many = 1;
    return -1;
  }
  if (!fits(r, nlen + vlen, nlen + vlen + 4))
    return -1;
  lb_header *h = &r->fields[r->nfields++];
  put_line(r, h, (const char *)name, nlen, value, vlen);
  if (nlen == 6 && !memcmp(name, "cookie", 6)) {
    r->cookie_bytes += vlen + 2;
    r->ncookies++;
  } else if (nlen == 14 && !memcmp(name, "content-length", 14)) {
    r->has_length = 1;
  }
  return 0;
}

static int parse_length(const char *v, size_t n, uint64_t *len) {
  uint64_t x = 0;
  if (!n || n > 19)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  *len = x;
  return 0;
}

/* The cookie fields' values joined with "; " into scratch (cookie_bytes - 2 bytes). */
static size_t join_cookies(const lb_h2_req *r, uint32_t from, char *scratch) {
  size_t n = 0;
  for (uint32_t j = from; j < r->nfields; j++) {
    const lb_header *c = &r->fields[j];
    if (c->name_len != 6 || memcmp(c->name, "cookie", 6))
      continue;
    if (n) {
      memcpy(scratch + n, "; ", 2);
      n += 2;
    }
    memcpy(scratch + n, c->value, c->value_len);
    n += c->value_len;
  }
  return n;
}

int lb_h2_req_head(const lb_h2_req *r, char *scratch, size_t cap, lb_header *hdrs,
                   uint32_t max_hdrs, lb_h2_head *h) {
  memset(h, 0, sizeof *h);
  if (!r->method.name || !r->path.name || !r->path.value_len)
    return -1;
  /* The length the head has as HTTP/1.1: request line, field lines, blank line. */
  size_t len = r->method.value_len + 1 + r->path.value_len + sizeof " HTTP/1.1\r\n" - 1 + 2;
  h->target = r->path.value;
  h->target_len = r->path.value_len;
  uint32_t nh = 0;
  if (r->authority.name) {
    if (!max_hdrs)
      return 0;
    hdrs[nh++] = r->authority;
    len += r->authority.value_len + 8;
    h->has_host = 1;
  }
  int cookie_done = 0;
  for (uint32_t i = 0; i < r->nfields; i++) {
    const lb_header *f = &r->fields[i];
    lb_header v = *f;
    if (f->name_len == 4 && !memcmp(f->name, "host", 4)) {
      if (r->authority.name)
        continue; /* :authority wins (RFC 9113 section 8.3.1) */
      h->has_host = 1;
    } else if (f->name_len == 14 && !memcmp(f->name, "content-length", 14)) {
      if (parse_length(f->value, f->value_len, &h->content_length) != 0)
        return -1;
      h->has_length = 1;
    } else if (f->name_len == 6 && !memcmp(f->name, "cookie", 6)) {
      if (cookie_done)
        continue;
      cookie_done = 1;
      if (r->ncookies > 1) { /* one line where the first was; its value no longer a view */
        if (r->cookie_bytes - 2 > cap)
          return 0;
        v.value = scratch;
        v.value_len = (uint32_t)join_cookies(r, i, scratch);
      }
    }
    if (nh == max_hdrs)
      return 0;
    hdrs[nh++] = v;
    len += v.name_len + v.value_len + 4;
  }
  if (len > cap)
    return 0;
  h->len = len;
  h->hdrs = hdrs;
  h->nhdrs = nh;
  return 1;
}

int lb_h2_method(const char *m, size_t n) {
  if (n == 3 && !memcmp(m, "GET", 3)) /* most requests: no walk through the table */
    return HTTP_GET;
  /* llhttp's HTTP methods (its name lookup aborts on a number it does not know). */
  static const struct {
    int id;
    const char *name;
    size_t len;
  } methods[] = {
#define LB_H2_METHOD(num, name, string) {num, #string, sizeof(#string) - 1},
      HTTP_METHOD_MAP(LB_H2_METHOD)
#undef LB_H2_METHOD
  };
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (methods[i].len == n && !memcmp(methods[i].name, m, n))
      return methods[i].id;
  return -1;
}

/* Connection's tokens name more fields that stop at this hop (RFC 9110 section 7.6.1). */
/* Only for a response with a Connection field: out of line, so that the loop over every
 * response's fields (lb_h2_resp_fields) keeps its registers. */
static __attribute__((noinline)) int named_by_connection(const lb_response_view *v, const char *n,
                                                         size_t nl) {
  for (size_t i = 0; i < v->nheaders; i++) {
    const lb_header *h = &v->headers[i];
    if (LB_HEADER_IS(h->name, h->name_len, "connection") &&
        lb_token_listed(h->value, h->value_len, n, nl))
      return 1;
  }
  return 0;
}

static void status3(char *dst, int status) {
  unsigned s = (unsigned)status % 1000;
  dst[0] = (char)('0' + s / 100);
  dst[1] = (char)('0' + s / 10 % 10);
  dst[2] = (char)('0' + s % 10);
  dst[3] = 0;
}

static nghttp2_nv nv(const char *n, size_t nl, const char *v, size_t vl, uint8_t flags) {
  return (nghttp2_nv){(uint8_t *)(uintptr_t)n, (uint8_t *)(uintptr_t)v, nl, vl, flags};
}
/* A literal name: nghttp2 need not copy it. */
#define NVLIT(n, v, vl) nv((n), sizeof(n) - 1, (v), (vl), NGHTTP2_NV_FLAG_NO_COPY_NAME)
/* The same for a field whose value differs on every response (the request id, Server-Timing):
 * never indexed (RFC 7541 section 6.2.3). nghttp2 would otherwise put each value in the
 * connection's 4 KiB dynamic table, where no later response can use it: an insert and an
 * eviction per response, the useful entries pushed out, and up to the table's size held by
 * the LB (the encoder's table) and the client for every connection. */
#define NVLIT_NEVER(n, v, vl) \
  nv((n), sizeof(n) - 1, (v), (vl), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_INDEX)

/* A backend's field (name lowercased) not to index: Set-Cookie (a secret: "never indexed" also
 * tells the hops after this one not to index it, RFC 7541 section 7.1.3; nghttp2 would not
 * index it either, but without that mark) and the fields whose values differ per response. */
static uint8_t index_flag(const char *n, size_t nl) {
  switch (nl) {
  case 10:
    return memcmp(n, "set-cookie", 10) ? 0 : NGHTTP2_NV_FLAG_NO_INDEX;
  case 12:
    return memcmp(n, "x-request-id", 12) ? 0 : NGHTTP2_NV_FLAG_NO_INDEX;
  case 13:
    return memcmp(n, "server-timing", 13) ? 0 : NGHTTP2_NV_FLAG_NO_INDEX;
  default:
    return 0;
  }
}

/* 0x20 in each byte of x that is 'A'..'Z' (ASCII only), 0 elsewhere: eight bytes per step. */
static inline uint64_t upper_bits(uint64_t x) {
  const uint64_t ones = 0x0101010101010101ull, hi = 0x8080808080808080ull;
  uint64_t low7 = x & ~hi;
  uint64_t ge_a = low7 + ones * (0x80 - 'A'), gt_z = low7 + ones * (0x80 - 'Z' - 1);
  return (ge_a & ~gt_z & ~x & hi) >> 2;
}

static void lower_copy(char *dst, const char *src, size_t n) {
  if (n < 8 && n >= 4) { /* Date, Server, ETag: two overlapping four-byte words */
    uint32_t a, b;
    memcpy(&a, src, 4);
    memcpy(&b, src + n - 4, 4);
    a |= (uint32_t)upper_bits(a);
    b |= (uint32_t)upper_bits(b);
    memcpy(dst + n - 4, &b, 4);
    memcpy(dst, &a, 4);
    return;
  }
  if (n < 8) {
    for (size_t j = 0; j < n; j++)
      dst[j] = (char)(src[j] >= 'A' && src[j] <= 'Z' ? src[j] + 32 : src[j]);
    return;
  }
  uint64_t x;
  for (size_t j = 0; j + 8 <= n; j += 8) {
    memcpy(&x, src + j, 8);
    x |= upper_bits(x);
    memcpy(dst + j, &x, 8);
  }
  memcpy(&x, src + n - 8, 8); /* the tail: a last word overlapping the one before */
  x |= upper_bits(x);
  memcpy(dst + n - 8, &x, 8);
}

int lb_h2_resp_fields(const lb_response_view *v, const lb_response_extra *x, int index_ours,
                      nghttp2_nv *nva, size_t max, char *scratch, size_t cap) {
  size_t k = 0, used = 0;
  if (max < 4 || cap < 4)
    return -1;
  int interim = v->status < 200;
  /* A final response's scratch lasts until its HEADERS frame is written (h2.h): the lowercased
   * names and the status need no copy by nghttp2. Values are copied: most point into the
   * backend's receive buffer, which goes back to the worker's list with the backend connection
   * (at once for a response without a body), before the frame is written. */
  uint8_t keep = interim ? NGHTTP2_NV_FLAG_NONE : NGHTTP2_NV_FLAG_NO_COPY_NAME;
  status3(scratch, v->status);
  nva[k++] = nv(":status", 7, scratch, 3,
                interim ? NGHTTP2_NV_FLAG_NO_COPY_NAME
                        : NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE);
  used = 4;
  int has_connection = 0; /* most responses have none: no token lookup per field then */
  for (size_t i = 0; i < v->nheaders && !has_connection; i++)
    has_connection = LB_HEADER_IS(v->headers[i].name, v->headers[i].name_len, "connection");
  for (size_t i = 0; i < v->nheaders; i++) {
    const lb_header *h = &v->headers[i];
    if (lb_header_is_hop_by_hop(h->name, h->name_len) ||
        (has_connection && named_by_connection(v, h->name, h->name_len)))
      continue;
    if (!interim && x->request_id && LB_HEADER_IS(h->name, h->name_len, "x-request-id"))
      continue;
    if (x->framing == LB_FRAME_CLOSE && LB_HEADER_IS(h->name, h->name_len, "content-length"))
      continue; /* dechunked: DATA frames and END_STREAM delimit it */
    if (k + 4 > max || h->name_len > cap - used)
      return -1;
    char *lower = scratch + used;
    lower_copy(lower, h->name, h->name_len);
    used += h->name_len;
    nva[k++] = nv(lower, h->name_len, h->value, h->value_len,
                  keep | index_flag(lower, h->name_len));
  }
  if (!interim) {
    /* Indexed once per connection, never after: later responses name them by their index
     * (their values stay literal), and the table keeps one entry of each. */
    uint8_t once = NGHTTP2_NV_FLAG_NO_COPY_NAME | (index_ours ? 0 : NGHTTP2_NV_FLAG_NO_INDEX);
    if (x->server_timing)
      nva[k++] = nv("server-timing", 13, x->server_timing, strlen(x->server_timing), once);
    if (x->served_by) /* the same few values: indexed, one byte after the first response */
      nva[k++] = NVLIT("x-served-by", x->served_by, strlen(x->served_by));
    if (x->request_id)
      nva[k++] = nv("x-request-id", 12, x->request_id, x->request_id_len, once);
  }
  return (int)k;
}

int lb_h2_local_fields(int status, size_t body_len, const char *request_id,
                       const char *server_timing, nghttp2_nv *nva, char *status_text,
                       char *len_text) {
  int k = 0;
  status3(status_text, status);
  int ll = snprintf(len_text, 24, "%zu", body_len);
  nva[k++] = NVLIT(":status", status_text, 3);
  nva[k++] = NVLIT("content-type", "text/plain", 10);
  nva[k++] = NVLIT("content-length", len_text, (size_t)ll);
  if (request_id && request_id[0])
    nva[k++] = NVLIT_NEVER("x-request-id", request_id, strlen(request_id));
  if (server_timing)
    nva[k++] = NVLIT_NEVER("server-timing", server_timing, strlen(server_timing));
  return k;
}
int lb_h2_preface(const char *p, size_t n) {
  static const char pri[] = NGHTTP2_CLIENT_MAGIC;
  size_t m = n < sizeof pri - 1 ? n : sizeof pri - 1;
  if (memcmp(p, pri, m) != 0)
    return 0;
  return m == sizeof pri - 1 ? 1 : -1;
}
