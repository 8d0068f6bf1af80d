/* A trailer section as h2 fields (RFC 9113 section 8.1, RFC 9110 section 6.5.1), pure: which
 * fields may be trailers, and the nghttp2 name/value array of those that may. The fields come
 * checked (names tokens, so no pseudo-header; values as a head's) and bounded by the codec
 * that parsed them (lb/http/h1.c). */
#ifndef JOURNEY_LB_H2_TRAILERS_H
#define JOURNEY_LB_H2_TRAILERS_H

#include "lb/core/rewrite.h"

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

/* 0 for a field that must not be a trailer: connection-specific (Connection, Keep-Alive,
 * Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade), framing (Content-Length), routing (Host),
 * request modifiers (Expect, Max-Forwards, Range, If-*), authentication (Authorization,
 * WWW-Authenticate, Cookie, Set-Cookie), response controls (Cache-Control, Expires, Age, Vary,
 * Location, Retry-After, Date, Pragma, Warning) and content format (Content-Type,
 * Content-Encoding, Content-Range): each needed before the content, so a trailer copy would
 * be read too late or change what was already acted on. 1 otherwise (any case). */
int lb_h2_trailer_allowed(const char *name, size_t n);

/* The allowed ones of n fields into nva (n entries of room), in order, their bytes to be copied
 * by nghttp2 (which lowercases the names), without those the response's Connection field names
 * (conn: its tokens, from lb_h2_trailer_conn_names; NULL or empty: none): the count, 0 when none
 * is left. */
size_t lb_h2_trailer_fields(const lb_header *f, uint32_t n, const char *conn, size_t conn_len,
                            nghttp2_nv *nva);

/* The tokens of a response's Connection fields that name a field (all but "close" and
 * "keep-alive", which no trailer may carry anyway), comma-separated into dst (cap bytes; NULL:
 * only counted): their length, 0 for none. The response head is gone when its trailers come:
 * the caller keeps these (few responses have any). */
size_t lb_h2_trailer_conn_names(const lb_header *h, size_t nh, char *dst, size_t cap);

/* A request's trailer section (HEADERS after DATA, ending the stream) for a body forwarded
 * chunked: the fields that may be trailers as the lines of the chunked trailer section
 * ("name: value" CRLF each, in order). Besides lb_h2_trailer_allowed's refusals, the fields
 * journey-lb itself writes for the backend (X-Forwarded-*, Forwarded, Via, X-Request-Id and
 * the client-certificate field, `own`) are dropped: a client could otherwise forge them where a
 * backend merges trailers into the head. The fields' names and values count against
 * max-header-size (max_bytes) and their number against max-headers (max_fields), kept or not.
 * The fields come from nghttp2, checked (lowercase token names, values without CR, LF or NUL,
 * no pseudo-header: that is a stream error before any callback). */
typedef struct lb_h2_req_trailers {
  char *buf;  /* LB_H2_REQ_TRAILERS_CAP bytes, lent by the caller */
  size_t len; /* the lines' bytes */
  size_t bytes, max_bytes;
  uint32_t fields, max_fields, kept;
  const char *own; /* the client-certificate field's name, or NULL */
  size_t own_len;
  unsigned over : 1; /* past max_bytes or max_fields: 431 */
} lb_h2_req_trailers;

#define LB_H2_REQ_TRAILERS_CAP(max_bytes, max_fields)                                              \
  ((size_t)(max_bytes) + 4 * (size_t)(max_fields))

/* One field: 1 kept, 0 dropped, -1 over the limits (the section is then refused). */
int lb_h2_req_trailer_add(lb_h2_req_trailers *t, const char *name, size_t nl, const char *value,
                          size_t vl);

#endif
