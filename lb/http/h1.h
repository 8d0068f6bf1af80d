/* The HTTP/1 codec's parsing half: llhttp callbacks for requests (from clients) and responses
 * (from backends) that gather views into the caller's buffer, count and limit, and pause at the
 * end of a head and of a message so that the caller decides and relays raw slices.
 *
 * The callbacks are not static: the fuzz targets and the unit tests link these very functions.
 * Nothing here allocates or does I/O. The caller owns the buffer the views point into and must
 * not move it while a head is being parsed; llhttp's `data` is the lb_h1_req / lb_h1_resp. */
#ifndef JOURNEY_LB_H1_H
#define JOURNEY_LB_H1_H

#include "lb/core/chunk_check.h"
#include "lb/core/rewrite.h"
#include "lb/http/trailers.h"

#include <llhttp.h>
#include <stdint.h>

/* ex->method of a request whose method llhttp does not know (QUERY, custom tokens): forwarded
 * as it came, never retried after a byte was sent (not idempotent as far as the LB knows). */
#define LB_METHOD_OTHER 255
#define LB_METHOD_MAX 64 /* a longer method token: 501 */
/* The length of llhttp_method_name(m) for every method llhttp knows (no strlen per request). */
extern const unsigned char lb_h1_method_len[];

/* A request being parsed (one per client connection, reset per request). */
typedef struct lb_h1_req {
  lb_header *hdrs;   /* views: max_hdrs of them, the caller's storage */
  const char *url;   /* the target: a view */
  size_t url_len;
  const char *method; /* with other_method: the method as received (a view), else NULL */
  size_t method_len;
  uint64_t body_bytes;
  uint64_t max_body; /* max-body-size (0: unlimited): 413 as soon as it is passed */
  lb_chunk_scan chunk; /* a chunked body's strict syntax, over the bytes relayed */
  const char *body_why; /* a refused body: why (400, or 431 with trailers_too_large) */
  uint32_t nhdrs, max_hdrs;
  uint32_t max_head;    /* max-header-size: the bound of a trailer section too */
  int hdr_state;     /* 0 none, 1 in name, 2 in value */
  /* A chunked body's trailer section, filtered as it is parsed (lb/http/trailers.h): the body
   * is relayed raw up to its last-chunk line, the section as these lines and a blank line.
   * trl_lend sets trl (storage, limits) when its first field arrives (most chunked bodies end
   * without one: they cost no storage): 0, or -1 (out of memory: the request is refused). */
  lb_req_trailers trl;
  int (*trl_lend)(struct lb_h1_req *r);
  /* After lb_h1_req_execute_body: where the trailer section's bytes in the bytes given begin
   * (their start, when it began before), else NULL. Parsed and kept in trl, they are not
   * relayed: the caller drops them and clears this. */
  const char *trailers_at;
  unsigned head_done : 1, msg_done : 1;
  unsigned too_many_headers : 1; /* 431 */
  unsigned body_too_large : 1;   /* 413 */
  unsigned trailers_too_large : 1; /* 431 */
  unsigned no_memory : 1;        /* trl_lend failed: 503 */
  unsigned other_method : 1;     /* a method token llhttp does not know: `method` */
  unsigned method_pending : 1;   /* such a token, its end not received yet */
} lb_h1_req;

/* llhttp_init with the request settings; p->data = r. Resets nothing in r but its method state. */
void lb_h1_req_parser_init(llhttp_t *p, lb_h1_req *r);
/* Per-request state back to "nothing seen" (the parser is reset apart). */
void lb_h1_req_reset(lb_h1_req *r);

/* Request head bytes: llhttp_execute, except that a method llhttp does not know (any RFC 9110
 * token) is parsed as if it were GET and kept in r->method. `start` is where the request began
 * in the same buffer as `data` (bytes before `data` were given before). */
enum llhttp_errno lb_h1_req_execute_head_other(llhttp_t *p, lb_h1_req *r, const char *start,
                                               const char *data, size_t len,
                                               enum llhttp_errno e);
static inline enum llhttp_errno lb_h1_req_execute_head(llhttp_t *p, lb_h1_req *r,
                                                       const char *start, const char *data,
                                                       size_t len) {
  if (!r->method_pending) {
    enum llhttp_errno e = llhttp_execute(p, data, len);
    if (e != HPE_INVALID_METHOD && e != HPE_INVALID_CONSTANT)
      return e; /* the common case, inline */
    return lb_h1_req_execute_head_other(p, r, start, data, len, e);
  }
  return lb_h1_req_execute_head_other(p, r, start, data, len, HPE_OK);
}

int lb_h1_req_on_message_begin(llhttp_t *p);
int lb_h1_req_on_url(llhttp_t *p, const char *at, size_t n);
int lb_h1_req_on_header_field(llhttp_t *p, const char *at, size_t n);
int lb_h1_req_on_header_value(llhttp_t *p, const char *at, size_t n);
int lb_h1_req_on_headers_complete(llhttp_t *p); /* HPE_PAUSED: the head is whole */
int lb_h1_req_on_body(llhttp_t *p, const char *at, size_t n);
int lb_h1_req_on_message_complete(llhttp_t *p); /* HPE_PAUSED */
int lb_h1_req_on_chunk_header(llhttp_t *p);

/* Body bytes (after the head): llhttp and, for a chunked body, the strict chunk syntax over the
 * same bytes; both must end the message at the same byte. HPE_OK / HPE_PAUSED (message whole)
 * as llhttp_execute, else an error: body_too_large (413), trailers_too_large (431) or a 400 with
 * body_why. */
enum llhttp_errno lb_h1_req_execute_body(llhttp_t *p, lb_h1_req *r, const char *data, size_t len);
/* After lb_h1_req_execute_body refused a body: the status (413, 431, 503 or 400), the reason
 * for the client and the access log's termination reason. */
int lb_h1_req_body_refusal(const lb_h1_req *r, const char **why, const char **term);

/* A response's trailer section, copied out as it is parsed (the backend's buffer is compacted
 * and given back while a body is relayed, so views into it would not last): for a client that
 * gets trailers as fields (h2), of a chunked body decoded in place. Lent by the caller: buf of
 * cap bytes (names and values, no separators), f of max views into it; or, with buf NULL, by
 * `lend` when the first trailer field arrives (most chunked bodies end without any: they cost
 * no storage). */
typedef struct lb_h1_trailers {
  char *buf;
  lb_header *f;
  int (*lend)(struct lb_h1_trailers *t); /* sets buf and f: 0, or -1 (the fields are dropped) */
  uint32_t len, cap; /* cap: max-header-size, counted as the lines' bytes ("n: v\r\n") */
  uint32_t n, max;   /* max: max-headers */
  int state;         /* as lb_headers_on_field's */
  unsigned over : 1; /* past cap or max: the response is refused (a backend error) */
  unsigned dropped : 1; /* lend failed: the section is read and not kept */
} lb_h1_trailers;

/* A response being parsed (one per backend connection, reset per response). */
typedef struct lb_h1_resp {
  lb_header *hdrs;      /* views: max_hdrs of them, the caller's storage */
  const char *reason;
  size_t reason_len;
  char *dechunk_base;   /* with dechunk_on: decoded body bytes move to dechunk_base + dechunk */
  size_t dechunk;
  uint32_t nhdrs, max_hdrs;
  int hdr_state;
  int head_ready, msg_ready, skip_body, dechunk_on;
  int te_other;         /* Transfer-Encoding is not one "chunked" (lb_response_facts) */
  lb_framing framing;   /* lb_response_framing, set when the head is whole */
  lb_h1_trailers *trl;  /* lb_h1_resp_keep_trailers's: read only by the callbacks it installs */
} lb_h1_resp;

/* llhttp_init with the response settings; p->data = r; a fresh response (skip_body: HEAD). */
void lb_h1_resp_parser_init(llhttp_t *p, lb_h1_resp *r, int skip_body);

int lb_h1_resp_on_message_begin(llhttp_t *p);
int lb_h1_resp_on_status(llhttp_t *p, const char *at, size_t n);
int lb_h1_resp_on_header_field(llhttp_t *p, const char *at, size_t n);
int lb_h1_resp_on_header_value(llhttp_t *p, const char *at, size_t n);
int lb_h1_resp_on_headers_complete(llhttp_t *p); /* HPE_PAUSED, or HPE_USER on a bad head */
int lb_h1_resp_on_body(llhttp_t *p, const char *at, size_t n);
int lb_h1_resp_on_message_complete(llhttp_t *p); /* HPE_PAUSED */

/* The head is whole: the trailer fields of this response go to t (copied, bounded, checked;
 * over the bounds or invalid, llhttp_execute fails and t->over says which). Other callbacks
 * take over for the rest of the message, so a response whose fields are not kept pays nothing
 * per field. */
void lb_h1_resp_keep_trailers(llhttp_t *p, lb_h1_resp *r, lb_h1_trailers *t);

#endif
