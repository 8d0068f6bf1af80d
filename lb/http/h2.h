/* The HTTP/2 codec's conversions (RFC 9113 section 8), pure: an h2 request's header fields into
 * the HTTP/1.1 head the request policy and the backends read, and an HTTP/1.1 response head into
 * h2 header fields. Framing, HPACK, flow control and the protocol checks nghttp2 does itself
 * (pseudo-header order and duplicates, uppercase names, connection-specific fields, TE other
 * than trailers, Content-Length against DATA) are nghttp2's (lb/proxy/h2_conn.c runs it).
 *
 * Nothing here allocates or does I/O: the caller lends the buffers. */
#ifndef JOURNEY_LB_H2_H
#define JOURNEY_LB_H2_H

#include "lb/core/rewrite.h"

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

/* A request's fields as they arrive (HEADERS + CONTINUATION), copied into `stage`. */
typedef struct lb_h2_req {
  char *stage;            /* "name" "value" bytes, views below point here */
  size_t stage_cap, stage_len;
  lb_header *fields;      /* regular fields in order (max_fields) */
  uint32_t nfields, max_fields;
  lb_header method, path, authority, scheme; /* pseudo-headers (value views) */
  size_t cookie_bytes;    /* the cookie fields' values, for the joined line */
  unsigned has_length : 1; /* a content-length field came */
  unsigned too_large : 1; /* over stage_cap: 431 */
  unsigned too_many : 1;  /* over max_fields: 431 */
} lb_h2_req;

void lb_h2_req_init(lb_h2_req *r, char *stage, size_t cap, lb_header *fields, uint32_t max);
/* One field from nghttp2 (already checked by it): 0, or -1 when it does not fit (the request
 * then gets 431; the caller keeps consuming the block). */
int lb_h2_req_add(lb_h2_req *r, const uint8_t *name, size_t nlen, const uint8_t *value,
                  size_t vlen);

/* The HTTP/1.1 head of the request: "METHOD path HTTP/1.1", Host from :authority (a Host field
 * is kept only without :authority), the fields in order, cookies joined with "; " into one
 * field (RFC 9113 section 8.2.3), the blank line. hdrs gets views into out (max_hdrs). Returns
 * the head's length, 0 when it does not fit (431) or -1 with a missing :method/:path. */
typedef struct lb_h2_head {
  size_t len;
  const char *target;
  size_t target_len;
  lb_header *hdrs;
  uint32_t nhdrs;
  int has_host;
  int has_length;            /* a content-length field */
  uint64_t content_length;
} lb_h2_head;
int lb_h2_req_head(const lb_h2_req *r, char *out, size_t cap, lb_header *hdrs, uint32_t max_hdrs,
                   lb_h2_head *h);

/* The method's llhttp number (HTTP_GET ...), -1 for one llhttp does not know. */
int lb_h2_method(const char *m, size_t n);

/* The response's h2 fields: ":status", the backend's fields without the connection-specific
 * ones (Connection and what it names, Keep-Alive, Proxy-*, Transfer-Encoding, Upgrade, TE),
 * names lowercased into scratch, then Server-Timing, X-Served-By, X-Request-Id as x says.
 * Returns the number of nva entries, -1 when they do not fit. Values point into v or x.
 * For a final response (status >= 200) the names and the status in scratch are flagged for
 * nghttp2 not to copy: scratch must stay untouched until the HEADERS frame is written. */
int lb_h2_resp_fields(const lb_response_view *v, const lb_response_extra *x, nghttp2_nv *nva,
                      size_t max, char *scratch, size_t cap);

/* A local answer's fields: status, text/plain, content-length, request id, Server-Timing.
 * status_text: 4 bytes of scratch; len_text: 24. Returns the count. */
int lb_h2_local_fields(int status, size_t body_len, const char *request_id,
                       const char *server_timing, nghttp2_nv *nva, char *status_text,
                       char *len_text);

/* 1 when the bytes start the HTTP/2 connection preface (h2c with prior knowledge); -1 when
 * they still may (fewer bytes than the preface, all matching); 0 when they do not. */
int lb_h2_preface(const char *p, size_t n);

#endif
