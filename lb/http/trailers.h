/* A trailer section's fields, protocol-neutral and pure but for a section's storage
 * (RFC 9110 section 6.5.1): which fields
 * may be trailers at all, and a request's trailer section as journey-lb forwards it to a backend
 * (the lines of a chunked body's trailer section), the same for an HTTP/1.1 client's chunked
 * body (lb/http/h1.c) and an HTTP/2 client's trailers (lb/proxy/h2_body.c). */
#ifndef JOURNEY_LB_TRAILERS_H
#define JOURNEY_LB_TRAILERS_H

#include <stddef.h>
#include <stdint.h>

/* 0 for a field that must not be a trailer: connection-specific (Connection, Keep-Alive,
 * Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade), framing (Content-Length), routing (Host),
 * request modifiers (Expect, Max-Forwards, Range, If-*), authentication (Authorization,
 * WWW-Authenticate, Cookie, Set-Cookie), response controls (Cache-Control, Expires, Age, Vary,
 * Location, Retry-After, Date, Pragma, Warning) and content format (Content-Type,
 * Content-Encoding, Content-Range): each needed before the content, so a trailer copy would
 * be read too late or change what was already acted on. 1 otherwise (any case). */
int lb_trailer_allowed(const char *name, size_t n);

/* A request's trailer section for a body forwarded chunked: the fields that may be trailers as
 * the lines of the chunked trailer section ("name: value" CRLF each, in order). Besides
 * lb_trailer_allowed's refusals, the fields journey-lb itself writes for the backend
 * (X-Forwarded-*, Forwarded, Via, X-Request-Id and the client-certificate field, `own`) are
 * dropped: a client could otherwise forge them where a backend merges trailers into the head.
 * The fields' names and values count against max-header-size (max_bytes) and their number
 * against max-headers (max_fields), kept or not. The fields come checked by the codec that
 * parsed them (token names, values without CR, LF or NUL: nghttp2, or lb/core/chunk_check.c
 * over the same bytes before anything is forwarded).
 *
 * A field arrives whole (lb_req_trailer_add) or in pieces, as a parser met them across reads
 * (lb_req_trailer_piece, then lb_req_trailer_end): the field being received is written in
 * place as its line, and taken back if it is dropped, so no piece is kept anywhere else. */
typedef struct lb_req_trailers {
  char *buf;  /* LB_REQ_TRAILERS_CAP bytes, lent by the caller */
  size_t len; /* the kept lines' bytes */
  size_t bytes, max_bytes;
  size_t name_len, value_len; /* the field being received, at buf + len */
  uint32_t fields, max_fields, kept;
  const char *own; /* the client-certificate field's name, or NULL */
  size_t own_len;
  uint8_t state;     /* the field being received: 0 none, 1 in its name, 2 in its value */
  unsigned over : 1; /* past max_bytes or max_fields: 431 */
} lb_req_trailers;

#define LB_REQ_TRAILERS_CAP(max_bytes, max_fields)                                                 \
  ((size_t)(max_bytes) + 4 * (size_t)(max_fields))

/* *t fresh with its storage (malloc'd, LB_REQ_TRAILERS_CAP bytes: the caller frees t->buf) and
 * limits, when a section's first field comes (few requests have trailers): 0, or -1. */
int lb_req_trailers_start(lb_req_trailers *t, size_t max_bytes, uint32_t max_fields,
                          const char *own, size_t own_len);
/* A piece of the current field's name (value 0) or value (1): 0, or -1 over the limits (the
 * section is then refused). A name piece after a value starts the next field. */
int lb_req_trailer_piece(lb_req_trailers *t, int value, const char *at, size_t n);
/* The current field is whole (its value's trailing whitespace is not part of it): 1 kept,
 * 0 dropped (or no field), -1 over the limits. */
int lb_req_trailer_end(lb_req_trailers *t);
/* One whole field: 1 kept, 0 dropped, -1 over the limits. */
int lb_req_trailer_add(lb_req_trailers *t, const char *name, size_t nl, const char *value,
                       size_t vl);

#endif
