#include "backend/request_head.h"

#include <string.h>
#include <strings.h>

void be_head_begin(be_head *h) {
  h->header_bytes = 0;
  h->header_count = 0;
  h->body_bytes = 0;
  h->err_status = 0;
  h->target_len = h->rid_len = h->xff_len = h->expect_len = h->body_len = 0;
  h->has_rid = h->has_xff = h->has_host = 0;
  h->field_len = 0;
  h->cur = H_OTHER;
  be_ws_head_reset(&h->wsh);
}

static int over_header_limit(be_head *h, size_t add) {
  h->header_bytes += add;
  if (h->header_bytes <= h->opt->max_header_bytes)
    return 0;
  h->err_status = 431;
  return 1;
}

static void append_capped(char *dst, size_t cap, size_t *len, const char *p, size_t n) {
  size_t room = cap - *len;
  if (n > room)
    n = room;
  memcpy(dst + *len, p, n);
  *len += n;
}

int be_head_on_url(llhttp_t *p, const char *at, size_t n) {
  be_head *h = p->data;
  if (over_header_limit(h, n))
    return HPE_USER;
  append_capped(h->target, sizeof h->target, &h->target_len, at, n);
  return 0;
}

int be_head_on_header_field(llhttp_t *p, const char *at, size_t n) {
  be_head *h = p->data;
  if (over_header_limit(h, n + 4)) /* ": " and CRLF count too */
    return HPE_USER;
  for (size_t i = 0; i < n; i++, h->field_len++)
    if (h->field_len < sizeof h->field) {
      char ch = at[i];
      h->field[h->field_len] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
  return 0;
}

static int field_is(const be_head *h, const char *lower) {
  size_t n = strlen(lower);
  return h->field_len == n && memcmp(h->field, lower, n) == 0;
}

int be_head_on_header_field_complete(llhttp_t *p) {
  be_head *h = p->data;
  if (++h->header_count > BE_MAX_HEADERS) {
    h->err_status = 431;
    return HPE_USER;
  }
  h->ws_cur = be_ws_header_kind(h->field, h->field_len);
  h->cur = h->ws_cur != BE_WSH_NONE         ? H_WS
           : field_is(h, "host")            ? H_HOST
           : field_is(h, "x-request-id")    ? H_REQUEST_ID
           : field_is(h, "x-forwarded-for") ? H_XFF
           : field_is(h, "expect")          ? H_EXPECT
                                            : H_OTHER;
  if (h->cur == H_HOST)
    h->has_host = 1;
  if (h->cur == H_REQUEST_ID) {
    h->has_rid = 1;
    h->rid_len = 0; /* a repeated X-Request-Id: the last one counts */
  }
  if (h->cur == H_XFF) {
    if (h->has_xff && h->xff_len) /* repeated X-Forwarded-For: one list (RFC 9110 5.3) */
      append_capped(h->xff, sizeof h->xff, &h->xff_len, ", ", 2);
    h->has_xff = 1;
  }
  h->field_len = 0;
  return 0;
}

int be_head_on_header_value(llhttp_t *p, const char *at, size_t n) {
  be_head *h = p->data;
  if (over_header_limit(h, n))
    return HPE_USER;
  switch (h->cur) {
  case H_REQUEST_ID:
    append_capped(h->rid, sizeof h->rid, &h->rid_len, at, n);
    break;
  case H_XFF:
    append_capped(h->xff, sizeof h->xff, &h->xff_len, at, n);
    break;
  case H_EXPECT:
    append_capped(h->expect, sizeof h->expect, &h->expect_len, at, n);
    break;
  case H_WS:
    be_ws_head_value(&h->wsh, at, n);
    break;
  default:
    break;
  }
  return 0;
}

static void trim_end(const char *s, size_t *len) {
  while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
    (*len)--;
}

int be_head_on_header_value_complete(llhttp_t *p) {
  be_head *h = p->data;
  if (h->cur == H_REQUEST_ID)
    trim_end(h->rid, &h->rid_len);
  else if (h->cur == H_XFF)
    trim_end(h->xff, &h->xff_len);
  else if (h->cur == H_EXPECT)
    trim_end(h->expect, &h->expect_len);
  else if (h->cur == H_WS)
    be_ws_head_end(&h->wsh, h->ws_cur);
  h->cur = H_OTHER;
  return 0;
}

int be_head_on_headers_complete(llhttp_t *p) {
  be_head *h = p->data;
  const be_options *o = h->opt;
  if (p->http_major != 1) {
    h->err_status = 505;
    return -1;
  }
  if (p->http_minor == 1 && !h->has_host) { /* RFC 9112 3.2: MUST respond 400 */
    h->err_status = 400;
    return -1;
  }
  int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > o->max_body_bytes) {
    h->err_status = 413; /* refused before reading it */
    return -1;
  }
  if (has_body && h->expect_len == 12 && !strncasecmp(h->expect, "100-continue", 12)) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (jc_buf_append(h->out, cont, sizeof cont - 1) != 0) {
      h->err_status = 400;
      return -1;
    }
  }
  return 0;
}

int be_head_on_body(llhttp_t *p, const char *at, size_t n) {
  be_head *h = p->data;
  h->body_bytes += n;
  if (h->body_bytes > h->opt->max_body_bytes) {
    h->err_status = 413; /* a chunked body that grew past the cap */
    return HPE_USER;
  }
  append_capped(h->body, sizeof h->body, &h->body_len, at, n);
  return 0;
}
