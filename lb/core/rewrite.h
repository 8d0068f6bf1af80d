/* Header rewriting between client and backend (pure: no I/O, no allocation).
 *
 * The forwarded header block is built in one pass into a caller's buffer: request line, the
 * client's headers minus hop-by-hop ones (Connection and every header it lists, Keep-Alive, TE,
 * Trailer, Upgrade, Proxy-*; Transfer-Encoding is re-framed), then X-Forwarded-For (appended to
 * the client's), X-Forwarded-Proto, X-Forwarded-Host, Via (appended) and X-Request-Id. A request
 * asking for a WebSocket keeps Upgrade and gets "Connection: upgrade"; so does a 101.
 * Header views point into the connection's receive buffer; nothing is copied until output. */
#ifndef JOURNEY_LB_REWRITE_H
#define JOURNEY_LB_REWRITE_H

#include "lb/core/charclass.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct lb_header {
  const char *name;
  const char *value;
  uint32_t name_len;
  uint32_t value_len;
} lb_header;

/* Body framing on one side of the proxy. */
typedef enum {
  LB_FRAME_NONE = 0,    /* no body (GET without length, HEAD response, 204, 304, 1xx) */
  LB_FRAME_LENGTH = 1,  /* Content-Length */
  LB_FRAME_CHUNKED = 2, /* Transfer-Encoding: chunked (relayed as is) */
  LB_FRAME_CLOSE = 3    /* response delimited by the connection closing */
} lb_framing;

typedef struct lb_request_view {
  const char *method;
  size_t method_len;
  const char *target;
  size_t target_len;
  int http_minor;       /* 1: HTTP/1.1, 0: HTTP/1.0 */
  const lb_header *headers;
  size_t nheaders;
  lb_framing framing;   /* LENGTH (Content-Length kept), CHUNKED or NONE */
  const char *host;     /* an absolute-form target's authority: replaces every Host line */
  size_t host_len;
} lb_request_view;

typedef struct lb_forward_info {
  const char *client_ip;   /* appended to X-Forwarded-For */
  const char *proto;       /* "https" or "http" */
  const char *request_id;  /* NULL: X-Request-Id passes through untouched */
  size_t request_id_len;
  const char *via;         /* e.g. "1.1 journey-lb" */
  size_t client_ip_len;    /* 0: client_ip is NUL-terminated */
  const char *cert_header; /* NULL: none; else every client copy is dropped and, when */
  size_t cert_header_len;  /* cert_subject_len > 0, the verified subject is sent in it */
  const char *cert_subject;
  size_t cert_subject_len;
} lb_forward_info;

typedef struct lb_response_view {
  int status;
  int http_minor;
  const char *reason;
  size_t reason_len;
  const lb_header *headers;
  size_t nheaders;
} lb_response_view;

typedef struct lb_response_extra {
  lb_framing framing;        /* how the body goes to the client */
  int keep_alive;            /* 0: Connection: close */
  int client_http_minor;     /* 0: HTTP/1.0 client, keep-alive must be announced */
  const char *server_timing; /* NULL: no header */
  const char *served_by;     /* NULL: no header */
  const char *request_id;    /* NULL: the backend's X-Request-Id passes through */
  size_t request_id_len;
  int drop_length;           /* the backend's Content-Length stays out (lb_relay_plan) */
  int dechunked;             /* a chunked body decoded for the client: trailers may follow */
} lb_response_extra;

/* w (1, 2, 4 or 8) bytes of a name equal those of a lowercase literal, ignoring case: the
 * literal's letters get the 0x20 bit forced in the name (exact: only 'A'..'Z' and 'a'..'z' give
 * a letter once it is set), every other byte must match as is. With a literal the mask is a
 * constant, so a word costs a load, an OR and a compare instead of a table lookup per byte. */
static inline int lb_ci_word_eq(const char *name, const char *lower_literal, size_t w) {
  uint64_t x = 0, l = 0;
  memcpy(&x, name, w);
  memcpy(&l, lower_literal, w);
  const uint64_t b80 = 0x8080808080808080ull;
  uint64_t letters = (l + 0x1f1f1f1f1f1f1f1full) & ~(l + 0x0505050505050505ull) & b80; /* a..z */
  return (x | letters >> 2) == l;
}

/* Case-insensitive header name comparison (name has length n; the literal is lowercase ASCII).
 * The macro compares the lengths first: most names differ there. Equal lengths are compared a
 * word at a time (overlapping words for lengths that are not a multiple). Inline: it runs
 * several times per header of every request and response. */
static inline int lb_header_is(const char *name, size_t n, const char *lower_literal,
                               size_t lit_len) {
  if (n != lit_len)
    return 0;
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8)
      if (!lb_ci_word_eq(name + i, lower_literal + i, 8))
        return 0;
    return lb_ci_word_eq(name + n - 8, lower_literal + n - 8, 8);
  }
  if (n >= 4)
    return lb_ci_word_eq(name, lower_literal, 4) &&
           lb_ci_word_eq(name + n - 4, lower_literal + n - 4, 4);
  if (n >= 2)
    return lb_ci_word_eq(name, lower_literal, 2) &&
           lb_ci_word_eq(name + n - 2, lower_literal + n - 2, 2);
  return !n || lb_ci_word_eq(name, lower_literal, 1);
}
#define LB_HEADER_IS(name, n, lit)                                                                 \
  ((n) == sizeof(lit) - 1 && lb_header_is((name), (n), lit, sizeof(lit) - 1))

/* 1 when every byte is an RFC 9110 token character (header names, methods). */
static inline int lb_token_valid(const char *s, size_t n) {
  return n && lb_cc_all(s, n, LB_CC_TCHAR);
}

/* llhttp delivers a header name or value in pieces when it spans reads; these gather the pieces
 * into views (the buffer does not move while a head is parsed). state: 0 start, 1 in a name, 2 in
 * a value. lb_headers_on_field returns -1 when `max` headers are already there. */
static inline int lb_headers_on_field(lb_header *hdrs, uint32_t *n, uint32_t max, int *state,
                                      const char *at, size_t len) {
  if (*state == 1) {
    lb_header *h = &hdrs[*n - 1];
    h->name_len = (uint32_t)(at + len - h->name);
    return 0;
  }
  if (*n >= max)
    return -1;
  lb_header *h = &hdrs[(*n)++];
  h->name = at;
  h->name_len = (uint32_t)len;
  h->value = at + len;
  h->value_len = 0;
  *state = 1;
  return 0;
}

static inline void lb_headers_on_value(lb_header *hdrs, uint32_t n, int *state, const char *at,
                                       size_t len) {
  lb_header *h = &hdrs[n - 1];
  if (*state != 2) {
    h->value = at;
    h->value_len = (uint32_t)len;
    *state = 2;
  } else {
    h->value_len = (uint32_t)(at + len - h->value);
  }
}

/* 1 when every header name is a token. */
int lb_headers_names_valid(const lb_header *h, uint32_t n);
/* 1 when the comma-separated token list (a Connection field's value) holds the token name (any
 * case; whitespace around tokens ignored). */
int lb_token_listed(const char *list, size_t len, const char *name, size_t n);

/* The next token of a comma-separated list at *p (before end), whitespace around it skipped:
 * its start (*n bytes), *p moved past it; NULL when none is left. */
static inline const char *lb_list_next(const char **p, const char *end, size_t *n) {
  const char *s = *p;
  while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
    s++;
  const char *t = s;
  while (s < end && *s != ',' && *s != ' ' && *s != '\t')
    s++;
  *p = s;
  *n = (size_t)(s - t);
  return *n ? t : NULL;
}

/* "name: value" CRLF at d (nl + vl + 4 bytes): its length. */
static inline size_t lb_field_line(char *d, const char *name, size_t nl, const char *value,
                                   size_t vl) {
  memcpy(d, name, nl);
  d[nl] = ':';
  d[nl + 1] = ' ';
  memcpy(d + nl + 2, value, vl);
  d[nl + 2 + vl] = '\r';
  d[nl + 3 + vl] = '\n';
  return nl + vl + 4;
}

/* 1 when the header is hop-by-hop by itself (not counting Connection-listed names). Inline: it
 * runs for every field of every request and response (always: GCC keeps it out of line in
 * rewrite.c otherwise). */
static inline __attribute__((always_inline)) int lb_header_is_hop_by_hop(const char *name,
                                                                         size_t n) {
  switch (n) {
  case 2: return LB_HEADER_IS(name, n, "te");
  case 7: return LB_HEADER_IS(name, n, "trailer") || LB_HEADER_IS(name, n, "upgrade");
  case 10: return LB_HEADER_IS(name, n, "connection") || LB_HEADER_IS(name, n, "keep-alive");
  case 17: return LB_HEADER_IS(name, n, "transfer-encoding");
  default: /* Proxy-Connection, Proxy-Authorization..: the first byte rules out most names */
    return n > 6 && (name[0] | 0x20) == 'p' && lb_header_is(name, 6, "proxy-", 6);
  }
}

/* A usable incoming X-Request-Id: 1..128 characters of [A-Za-z0-9._:-+/=]. */
int lb_request_id_valid(const char *v, size_t n);
/* Writes a random UUIDv4 (36 chars + NUL) from two 64-bit random numbers. */
void lb_request_id_format(uint64_t hi, uint64_t lo, char out[37]);

/* Builds the request head for the backend. Returns its length, or 0 when it does not fit in cap
 * (the caller answers 431). */
size_t lb_rewrite_request(char *out, size_t cap, const lb_request_view *req,
                          const lb_forward_info *fi);
/* 1 when a head built by lb_rewrite_request asks the backend for an upgrade: only then is a 101
 * the start of a tunnel (any other 101 is a broken backend's). */
int lb_forwarded_upgrade(const char *head, size_t n);
/* Builds the response head for the client. Returns its length or 0 when it does not fit. */
size_t lb_rewrite_response(char *out, size_t cap, const lb_response_view *resp,
                           const lb_response_extra *x);
/* A complete response generated by the load balancer itself (errors, 404): a short text body
 * naming the reason. Returns the length or 0 when it does not fit. */
size_t lb_local_response(char *out, size_t cap, int status, const char *body, int keep_alive,
                         const char *request_id, const char *server_timing);
const char *lb_status_reason(int status);

#endif
