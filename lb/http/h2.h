/* The HTTP/2 codec's conversions (RFC 9113 section 8), pure: an h2 request's header fields into
 * the views of the HTTP/1.1 head the request policy and the backends read, and an HTTP/1.1
 * response head into h2 header fields. Framing, HPACK, flow control and the protocol checks nghttp2 does itself
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

/* A request's fields as they arrive (HEADERS + CONTINUATION), copied once into `stage`, each
 * regular field as the line the backend reads ("name: value" CRLF, :authority as its "host"
 * line), so that the forwarded head copies runs of them at once (lb_rewrite_request); :method's
 * and :path's values from the stage's end (:scheme is counted, not kept). nghttp2 hands over
 * only fields it has checked (see lb_h2_req_head): nothing here checks bytes again. */
typedef struct lb_h2_req {
  char *stage;            /* LB_H2_STAGE_SIZE(max_bytes, max_fields) bytes; views point here */
  size_t lo, hi;          /* lines grow from 0 up, pseudo-header values from the end down */
  size_t bytes, max_bytes; /* names and values so far, against max-header-size */
  lb_header *fields;      /* regular fields in order (max_fields) */
  uint32_t nfields, max_fields;
  lb_header method, path, authority; /* pseudo-headers (authority: its host line) */
  lb_header protocol;     /* :protocol (extended CONNECT, RFC 8441): nghttp2 lets it through only
                           * when the LB offered it, with CONNECT, :scheme and :path */
  size_t cookie_bytes;    /* the cookie fields' values + 2 each, for the joined line */
  uint32_t ncookies;
  unsigned has_length : 1; /* a content-length field came */
  unsigned too_large : 1; /* names and values over max_bytes: 431 */
  unsigned too_many : 1;  /* over max_fields: 431 */
} lb_h2_req;

/* The stage for max_bytes of names and values in max_fields fields: each line's ": " and CRLF,
 * and the host line's name and punctuation (8 bytes), besides. */
#define LB_H2_STAGE_SIZE(max_bytes, max_fields) ((size_t)(max_bytes) + 4 * (size_t)(max_fields) + 8)

void lb_h2_req_init(lb_h2_req *r, char *stage, size_t max_bytes, lb_header *fields, uint32_t max);
/* One field from nghttp2 (already checked by it): 0, or -1 when it does not fit (the request
 * then gets 431; the caller keeps consuming the block). */
int lb_h2_req_add(lb_h2_req *r, const uint8_t *name, size_t nlen, const uint8_t *value,
                  size_t vlen);

/* The request's HTTP/1.1 head, as views for the request policy (lb_request_decide) and the
 * rewrite that writes it once for the backend: "METHOD path HTTP/1.1", Host from :authority (a
 * Host field is kept only without :authority), the fields in order, cookies joined with "; "
 * into one field where the first was (RFC 9113 section 8.2.3; the joined value is written in
 * `scratch`, cap bytes). hdrs gets the views (max_hdrs). Returns 1; 0 when the head would be longer than
 * `cap` bytes or the views do not fit (431); -1 with a missing :method/:path or a bad
 * content-length (400).
 *
 * The fields need no second check of their syntax (lb_request_check skips it for a head with
 * no raw bytes): nghttp2 1.52 (nghttp2_http_on_header) has refused every name that is not a
 * lowercase token and every value with a byte other than HTAB, SP, VCHAR or obs-text (exactly
 * lb_field_value_valid's set: NUL, CR, LF, every other control and DEL), or with whitespace at
 * either end; :method is a token, :path has no whitespace or control, :authority and host have
 * none either; a second :authority or host, Connection, Transfer-Encoding, Upgrade and TE other
 * than "trailers" are refused. Such a field ends the stream with PROTOCOL_ERROR before any
 * callback sees it, because lb/proxy/h2_conn.c installs no on_invalid_header callback (with one,
 * nghttp2 would hand invalid fields over instead). tests/fuzz/fuzz_lb_h2.c holds it as an
 * oracle, integration.h2.rfc9113 checks each class from a client. */
typedef struct lb_h2_head {
  size_t len;                /* the head's length as HTTP/1.1 (the bytes received, logged) */
  const char *target;
  size_t target_len;
  lb_header *hdrs;
  uint32_t nhdrs;
  int has_host;
  int has_length;            /* a content-length field */
  uint64_t content_length;
} lb_h2_head;
int lb_h2_req_head(const lb_h2_req *r, char *scratch, size_t cap, lb_header *hdrs,
                   uint32_t max_hdrs, lb_h2_head *h);

/* The method's llhttp number (HTTP_GET ...), -1 for one llhttp does not know. */
int lb_h2_method(const char *m, size_t n);

/* The response's h2 fields: ":status", the backend's fields without the connection-specific
 * ones (Connection and what it names, Keep-Alive, Proxy-*, Transfer-Encoding, Upgrade, TE),
 * names lowercased into scratch, then Server-Timing, X-Served-By, X-Request-Id as x says.
 * Set-Cookie, X-Request-Id and Server-Timing are flagged never indexed (RFC 7541 section
 * 6.2.3): a secret, or a value no later response repeats (h2.c says why); but with index_ours
 * (the connection's first response with them) the LB's own Server-Timing and X-Request-Id are
 * indexed, so that later responses name them by index. Returns the number of nva entries, -1
 * when they do not fit. Values point into v or x.
 * For a final response (status >= 200) the names and the status in scratch are flagged for
 * nghttp2 not to copy: scratch must stay untouched until the HEADERS frame is written. */
int lb_h2_resp_fields(const lb_response_view *v, const lb_response_extra *x, int index_ours,
                      nghttp2_nv *nva, size_t max, char *scratch, size_t cap);

/* A local answer's fields: status, text/plain, content-length, request id, Server-Timing (the
 * last two never indexed).
 * status_text: 4 bytes of scratch; len_text: 24. Returns the count. */
int lb_h2_local_fields(int status, size_t body_len, const char *request_id,
                       const char *server_timing, nghttp2_nv *nva, char *status_text,
                       char *len_text);

/* 1 when the bytes start the HTTP/2 connection preface (h2c with prior knowledge); -1 when
 * they still may (fewer bytes than the preface, all matching); 0 when they do not. */
int lb_h2_preface(const char *p, size_t n);

#endif
