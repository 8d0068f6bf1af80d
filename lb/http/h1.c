/* HTTP/1 codec, parsing (h1.h): llhttp callbacks for requests and responses. */
#include "lb/http/h1.h"

#include "lb/core/charclass.h"
#include "lb/core/framing.h"
#include "lb/core/request_check.h"

#include <string.h>

#define METHOD_LEN(num, name, string) [num] = sizeof(#string) - 1,
const unsigned char lb_h1_method_len[] = {HTTP_ALL_METHOD_MAP(METHOD_LEN)};
#undef METHOD_LEN

/* Filled at compile time: no initialisation on the per-request path. */
static const llhttp_settings_t req_settings = {
    .on_message_begin = lb_h1_req_on_message_begin,
    .on_url = lb_h1_req_on_url,
    .on_header_field = lb_h1_req_on_header_field,
    .on_header_value = lb_h1_req_on_header_value,
    .on_headers_complete = lb_h1_req_on_headers_complete,
    .on_body = lb_h1_req_on_body,
    .on_message_complete = lb_h1_req_on_message_complete,
    .on_chunk_header = lb_h1_req_on_chunk_header,
};

static int on_req_trailer_field(llhttp_t *p, const char *at, size_t n);
static int on_req_trailer_value(llhttp_t *p, const char *at, size_t n);
static int on_req_trailer_end(llhttp_t *p);

/* A chunked request's body: its trailer fields go to the filter, so that a head's fields pay
 * nothing for them. */
static const llhttp_settings_t req_chunked_settings = {
    .on_header_field = on_req_trailer_field,
    .on_header_value = on_req_trailer_value,
    .on_header_value_complete = on_req_trailer_end,
    .on_body = lb_h1_req_on_body,
    .on_message_complete = lb_h1_req_on_message_complete,
    .on_chunk_header = lb_h1_req_on_chunk_header,
};

static const llhttp_settings_t resp_settings = {
    .on_message_begin = lb_h1_resp_on_message_begin,
    .on_status = lb_h1_resp_on_status,
    .on_header_field = lb_h1_resp_on_header_field,
    .on_header_value = lb_h1_resp_on_header_value,
    .on_headers_complete = lb_h1_resp_on_headers_complete,
    .on_body = lb_h1_resp_on_body,
    .on_message_complete = lb_h1_resp_on_message_complete,
};

/* ---- requests: header views point into the caller's buffer, which does not move during a
 * head ---- */

void lb_h1_req_parser_init(llhttp_t *p, lb_h1_req *r) {
  llhttp_init(p, HTTP_REQUEST, &req_settings);
  p->data = r;
  r->other_method = r->method_pending = 0;
  r->method = NULL;
  r->method_len = 0;
}

/* llhttp refused the method: a token followed by SP is parsed as GET (llhttp needs a method it
 * knows; the framing rules are the same for every method) and kept as received. */
static enum llhttp_errno other_method(llhttp_t *p, lb_h1_req *r, const char *start,
                                      const char *end) {
  const char *m = start;
  while (end - m >= 2 && m[0] == '\r' && m[1] == '\n')
    m += 2; /* empty lines before a request */
  const char *q = m;
  while (q < end && q - m <= LB_METHOD_MAX && lb_cc_all(q, 1, LB_CC_TCHAR))
    q++;
  if (q - m > LB_METHOD_MAX || (q < end && (*q != ' ' || q == m)))
    return HPE_INVALID_METHOD;
  lb_h1_req_parser_init(p, r);
  if (q == end) { /* the method goes on in a later read: parsed again from `start` */
    r->method_pending = 1;
    return HPE_OK;
  }
  r->other_method = 1;
  r->method = m;
  r->method_len = (size_t)(q - m);
  llhttp_execute(p, "GET", 3);
  return llhttp_execute(p, q, (size_t)(end - q));
}

enum llhttp_errno lb_h1_req_execute_head_other(llhttp_t *p, lb_h1_req *r, const char *start,
                                               const char *data, size_t len,
                                               enum llhttp_errno e) {
  if (r->method_pending)
    return other_method(p, r, start, data + len);
  /* llhttp knows the RTSP methods (DESCRIBE ...) and refuses them at the version, as a constant */
  int rtsp = e == HPE_INVALID_CONSTANT && p->method >= HTTP_DESCRIBE && !r->head_done;
  if ((e != HPE_INVALID_METHOD && !rtsp) || r->other_method)
    return e;
  return other_method(p, r, start, data + len);
}

void lb_h1_req_reset(lb_h1_req *r) {
  r->head_done = r->msg_done = 0;
  r->too_many_headers = r->body_too_large = r->trailers_too_large = r->no_memory = 0;
  r->trailers_at = NULL;
  r->body_why = NULL;
  r->body_bytes = 0;
  r->nhdrs = 0;
  r->url = NULL;
  r->url_len = 0;
}

int lb_h1_req_on_message_begin(llhttp_t *p) {
  lb_h1_req *r = p->data;
  r->nhdrs = 0;
  r->hdr_state = 0;
  r->url = NULL;
  r->url_len = 0;
  return 0;
}

int lb_h1_req_on_url(llhttp_t *p, const char *at, size_t n) {
  lb_h1_req *r = p->data;
  if (!r->url)
    r->url = at;
  r->url_len = (size_t)(at + n - r->url);
  return 0;
}

int lb_h1_req_on_header_field(llhttp_t *p, const char *at, size_t n) {
  lb_h1_req *r = p->data;
  if (r->head_done) /* no trailer comes here (req_chunked_settings) */
    return 0;
  if (lb_headers_on_field(r->hdrs, &r->nhdrs, r->max_hdrs, &r->hdr_state, at, n) != 0) {
    r->too_many_headers = 1;
    return -1;
  }
  return 0;
}

int lb_h1_req_on_header_value(llhttp_t *p, const char *at, size_t n) {
  lb_h1_req *r = p->data;
  if (r->head_done)
    return 0;
  lb_headers_on_value(r->hdrs, r->nhdrs, &r->hdr_state, at, n);
  return 0;
}

int lb_h1_req_on_headers_complete(llhttp_t *p) {
  lb_h1_req *r = p->data;
  /* The packaged llhttp is built in loose mode: names must still be RFC 9110 tokens, so that
   * nothing a strict backend would read differently is ever forwarded. */
  if (!lb_headers_names_valid(r->hdrs, r->nhdrs)) {
    llhttp_set_error_reason(p, "invalid character in header name");
    return HPE_USER;
  }
  r->head_done = 1;
  lb_chunk_scan_init(&r->chunk);
  if (p->flags & F_CHUNKED) /* lb_h1_req_parser_init puts req_settings back */
    p->settings = (void *)(uintptr_t)&req_chunked_settings;
  return HPE_PAUSED;
}

int lb_h1_req_on_body(llhttp_t *p, const char *at, size_t n) {
  (void)at;
  lb_h1_req *r = p->data;
  r->body_bytes += n;
  if (r->max_body && r->body_bytes > r->max_body) {
    r->body_too_large = 1; /* 413 */
    return -1;
  }
  return 0;
}

int lb_h1_req_on_message_complete(llhttp_t *p) {
  lb_h1_req *r = p->data;
  r->msg_done = 1;
  return HPE_PAUSED;
}

/* A chunk announcing more than max-body-size allows: 413 now, not after relaying most of it. */
int lb_h1_req_on_chunk_header(llhttp_t *p) {
  lb_h1_req *r = p->data;
  uint64_t max = r->max_body;
  if (max && (p->content_length > max || r->body_bytes + p->content_length > max)) {
    r->body_too_large = 1;
    return -1;
  }
  return 0;
}

/* The filter's limits are the chunk scanner's, which counts more (separators, CRLF) but runs
 * after llhttp over the same bytes: the filter can only meet them first within one read. */
static int trailers_over(lb_h1_req *r) {
  r->trailers_too_large = 1;
  r->body_why = r->trl.fields == r->trl.max_fields ? "too many trailer fields (max-headers)"
                                                   : "trailers larger than max-header-size";
  return -1;
}

static int req_trailer_piece(llhttp_t *p, int value, const char *at, size_t n) {
  lb_h1_req *r = p->data;
  if (!r->trl.buf && (!r->trl_lend || r->trl_lend(r) != 0)) {
    r->no_memory = 1;
    r->body_why = "out of memory for the request's trailer section";
    return -1;
  }
  return lb_req_trailer_piece(&r->trl, value, at, n) < 0 ? trailers_over(r) : 0;
}

static int on_req_trailer_field(llhttp_t *p, const char *at, size_t n) {
  return req_trailer_piece(p, 0, at, n);
}

static int on_req_trailer_value(llhttp_t *p, const char *at, size_t n) {
  return req_trailer_piece(p, 1, at, n);
}

static int on_req_trailer_end(llhttp_t *p) {
  lb_h1_req *r = p->data;
  return r->trl.buf && lb_req_trailer_end(&r->trl) < 0 ? trailers_over(r) : 0;
}

static enum llhttp_errno body_refused(llhttp_t *p, lb_h1_req *r, const char *why) {
  r->body_why = why;
  llhttp_set_error_reason(p, why);
  return HPE_USER;
}

enum llhttp_errno lb_h1_req_execute_body(llhttp_t *p, lb_h1_req *r, const char *data, size_t len) {
  enum llhttp_errno e = llhttp_execute(p, data, len);
  if (!(p->flags & F_CHUNKED) || (e != HPE_OK && e != HPE_PAUSED))
    return e;
  size_t n = e == HPE_OK ? len : (size_t)(llhttp_get_error_pos(p) - data), used;
  const lb_chunk_limits lim = {LB_CHUNK_LINE_MAX, r->max_head, r->max_hdrs};
  uint64_t ext_before = r->chunk.ext_bytes;
  const char *why = NULL;
  uint8_t in_trailers = r->chunk.trailers;
  int st = lb_chunk_scan_feed(&r->chunk, &lim, data, n, &used, &why);
  if (st == 431) {
    r->trailers_too_large = 1;
    return body_refused(p, r, why);
  }
  if (st > 1)
    return body_refused(p, r, why);
  /* Extension bytes are forwarded too: they count against max-body-size with the data. */
  r->body_bytes += r->chunk.ext_bytes - ext_before;
  if (r->max_body && r->body_bytes > r->max_body) {
    r->body_too_large = 1;
    return body_refused(p, r, "request body larger than max-body-size");
  }
  if ((st == 1) != (e == HPE_PAUSED) || (st == 1 && used != n))
    return body_refused(p, r, "malformed chunked body (its end is ambiguous)");
  if (__builtin_expect(r->chunk.trailers, 0))
    r->trailers_at = data + (in_trailers ? 0 : r->chunk.trailers_at);
  return e;
}

int lb_h1_req_body_refusal(const lb_h1_req *r, const char **why, const char **term) {
  if (r->body_too_large) {
    *why = "request body larger than max-body-size";
    *term = "body-too-large";
    return 413;
  }
  if (r->no_memory) {
    *why = r->body_why;
    *term = "out-of-memory";
    return 503;
  }
  *why = r->body_why ? r->body_why : "malformed request body";
  *term = r->trailers_too_large ? "header-too-large" : "bad-request";
  return r->trailers_too_large ? 431 : 400;
}

/* ---- responses: views into the backend connection's buffer ---- */

void lb_h1_resp_parser_init(llhttp_t *p, lb_h1_resp *r, int skip_body) {
  llhttp_init(p, HTTP_RESPONSE, &resp_settings);
  p->data = r;
  r->head_ready = r->msg_ready = 0;
  r->skip_body = skip_body;
  r->dechunk_on = 0;
  r->nhdrs = 0;
}

int lb_h1_resp_on_message_begin(llhttp_t *p) {
  lb_h1_resp *r = p->data;
  r->nhdrs = 0;
  r->hdr_state = 0;
  r->reason = NULL;
  r->reason_len = 0;
  return 0;
}

int lb_h1_resp_on_status(llhttp_t *p, const char *at, size_t n) {
  lb_h1_resp *r = p->data;
  if (!r->reason)
    r->reason = at;
  r->reason_len = (size_t)(at + n - r->reason);
  return 0;
}

/* A piece of a kept trailer's name (value 0) or value (1), copied: pieces of one name or value
 * come in order (a field spanning reads), so they end up next to each other in t->buf. */
static int trailer_piece(lb_h1_trailers *t, int value, const char *at, size_t n) {
  if (!t->buf && !t->dropped && (!t->lend || t->lend(t) != 0))
    t->dropped = 1;
  if (t->dropped)
    return 0;
  int fresh = t->state != (value ? 2 : 1);
  if (!value && fresh && t->n == t->max)
    t->over = 1;
  else if (n + (fresh && !value ? 4 : 0) > t->cap - t->len - 4 * (size_t)t->n)
    t->over = 1; /* the lines' bytes, ": " and CRLF counted, as a head's */
  if (t->over)
    return -1;
  char *d = t->buf + t->len;
  memcpy(d, at, n);
  t->len += (uint32_t)n;
  if (!value && fresh)
    t->f[t->n++] = (lb_header){d, d + n, (uint32_t)n, 0};
  else if (value && fresh)
    t->f[t->n - 1].value = d;
  if (value)
    t->f[t->n - 1].value_len = (uint32_t)(d + n - t->f[t->n - 1].value);
  else
    t->f[t->n - 1].name_len = (uint32_t)(d + n - t->f[t->n - 1].name);
  t->state = value ? 2 : 1;
  return 0;
}

int lb_h1_resp_on_header_field(llhttp_t *p, const char *at, size_t n) {
  lb_h1_resp *r = p->data;
  return lb_headers_on_field(r->hdrs, &r->nhdrs, r->max_hdrs, &r->hdr_state, at, n);
}

int lb_h1_resp_on_header_value(llhttp_t *p, const char *at, size_t n) {
  lb_h1_resp *r = p->data;
  lb_headers_on_value(r->hdrs, r->nhdrs, &r->hdr_state, at, n);
  return 0;
}

static int on_trailer_field(llhttp_t *p, const char *at, size_t n) {
  return trailer_piece(((lb_h1_resp *)p->data)->trl, 0, at, n);
}

static int on_trailer_value(llhttp_t *p, const char *at, size_t n) {
  return trailer_piece(((lb_h1_resp *)p->data)->trl, 1, at, n);
}

/* 1 when the Transfer-Encoding fields say exactly "chunked", once (the only coding relayed). */
static int te_is_chunked(const lb_header *h, uint32_t n) {
  int seen = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (!LB_HEADER_IS(h[i].name, h[i].name_len, "transfer-encoding"))
      continue;
    const char *v = h[i].value;
    size_t l = h[i].value_len;
    while (l && (*v == ' ' || *v == '\t'))
      v++, l--;
    while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
      l--;
    if (seen++ || !LB_HEADER_IS(v, l, "chunked"))
      return 0;
  }
  return seen == 1;
}

int lb_h1_resp_on_headers_complete(llhttp_t *p) {
  lb_h1_resp *r = p->data;
  /* Values are relayed as they are: a CR, LF (obs-fold) or NUL would reach the client as is. */
  int bad = lb_fields_valid(r->hdrs, r->nhdrs);
  if (bad) {
    llhttp_set_error_reason(p, bad == LB_FIELD_BAD_NAME ? "invalid character in header name"
                                                        : "invalid character in header value");
    return HPE_USER;
  }
  if (r->reason && !lb_field_value_valid(r->reason, r->reason_len)) {
    llhttp_set_error_reason(p, "invalid character in reason phrase");
    return HPE_USER;
  }
  r->head_ready = 1;
  r->te_other = (p->flags & F_TRANSFER_ENCODING) && !te_is_chunked(r->hdrs, r->nhdrs);
  r->framing = lb_response_framing(p->status_code, r->skip_body, (p->flags & F_CHUNKED) != 0,
                                   (p->flags & F_CONTENT_LENGTH) != 0, p->content_length);
  if (r->framing == LB_FRAME_NONE)
    r->msg_ready = 1; /* no body: the message ends with its head */
  return HPE_PAUSED;
}

int lb_h1_resp_on_body(llhttp_t *p, const char *at, size_t n) {
  lb_h1_resp *r = p->data;
  if (r->dechunk_on) {
    memmove(r->dechunk_base + r->dechunk, at, n); /* decoded bytes never overtake raw ones */
    r->dechunk += n;
  }
  return 0;
}

/* Kept trailer fields are checked as a head's: relayed as fields, they must be fields. */
static int trailers_valid(llhttp_t *p, const lb_h1_trailers *t) {
  int bad = lb_fields_valid(t->f, t->n);
  if (bad)
    llhttp_set_error_reason(p, bad == LB_FIELD_BAD_NAME
                                   ? "invalid character in a trailer field name"
                                   : "invalid character in a trailer field value");
  return !bad;
}

int lb_h1_resp_on_message_complete(llhttp_t *p) {
  lb_h1_resp *r = p->data;
  r->msg_ready = 1;
  return HPE_PAUSED;
}

static int on_trailed_message_complete(llhttp_t *p) {
  lb_h1_resp *r = p->data;
  if (r->trl->n && !trailers_valid(p, r->trl))
    return HPE_USER;
  return lb_h1_resp_on_message_complete(p);
}

/* After the head: only body, trailer and end callbacks are left to run. */
static const llhttp_settings_t resp_trailer_settings = {
    .on_header_field = on_trailer_field,
    .on_header_value = on_trailer_value,
    .on_body = lb_h1_resp_on_body,
    .on_message_complete = on_trailed_message_complete,
};

void lb_h1_resp_keep_trailers(llhttp_t *p, lb_h1_resp *r, lb_h1_trailers *t) {
  r->trl = t;
  p->settings = (void *)(uintptr_t)&resp_trailer_settings;
}
