/* The exchange: one request on its way through journey-lb, between a protocol codec (HTTP/1
 * today: one exchange per connection at a time; h2 later: one per stream) and a backend.
 *
 * The codec parses a request, fills the exchange (method, target, framing, the forwarded head it
 * built with the request policy) and calls lb_exchange_dispatch. From there the exchange picks a
 * server (lb/core/balancer), takes a pooled backend connection or connects, sends the head and
 * the body bytes the codec hands over, parses the response (lb/http/h1.c), applies the retry
 * policy on failures (lb/core/retry_policy.c) and answers through the codec's ops, never through
 * a connection it knows. A tunnel (WebSocket after a 101 to a request that asked for an upgrade)
 * is one more state of the exchange: after the 101, bytes both ways through the same ops (client
 * to backend: pending / resume, the codec handing over every byte it reads once `tunnel_relay`
 * is set; backend to client: send), the backend half in tunnel.c, ended by done or abort.
 *
 * Ownership: the exchange lives inside its codec's per-connection (or per-stream) object and
 * holds, while a request is in flight, one backend connection (b) and one count on its server
 * (counted). lb_exchange_detach gives both back; the codec's buffers (forwarded head, request id,
 * servers tried) are lent to it by the codec for the request's life. */
#ifndef JOURNEY_LB_EXCHANGE_H
#define JOURNEY_LB_EXCHANGE_H

#include "lb/core/balancer/balancer.h"
#include "lb/core/rewrite.h"
#include "lb/core/timing.h"
#include "lb/http/chunk_out.h"
#include "lb/http/h1.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

typedef struct lb_worker lb_worker;
typedef struct lb_bconn lb_bconn;
typedef struct lb_exchange lb_exchange;

/* What the balancer needs for one request, kept for its retries (lent by the codec). */
typedef struct lb_exchange_pick {
  lb_tried tried; /* servers tried */
  lb_key key;     /* the request's key in a keyed (hash) pool: valid when has_key */
  int has_key;    /* written by the codec for keyed pools only */
} lb_exchange_pick;

/* What the codec does for the exchange. Every op gets the exchange it embeds. */
typedef struct lb_exchange_ops {
  /* Formats the response head for this client into the codec's buffer (*out): 0, or -1 when it
   * does not fit, -4 when a 101 does not prove the backend read the handshake (the exchange
   * then answers 502). */
  int (*head)(lb_exchange *ex, const lb_response_view *v, const lb_response_extra *x,
              uv_buf_t *out);
  /* Response bytes (a head from `head`, body slices) to the client: 0 or -1 (the client is gone);
   * lb_exchange_on_sent follows once they are written. ex->resp_last says they end the
   * response (`done` follows on_sent): h2 ends the stream with them. */
  int (*send)(lb_exchange *ex, uv_buf_t *bufs, unsigned n);
  /* Request body bytes parsed and not yet handed over: their length (*p: where); *complete: the
   * request has been read whole. */
  size_t (*pending)(lb_exchange *ex, const char **p, int *complete);
  /* n bytes from `pending` are written to the backend: the codec may drop them and read on. */
  void (*resume)(lb_exchange *ex, size_t n);
  /* A local answer (502, 503, 504) instead of the backend's. */
  void (*local)(lb_exchange *ex, int status, const char *body, int keep_alive, const char *term);
  /* The response is complete and written (the backend connection is already given back). */
  void (*done)(lb_exchange *ex);
  /* Nothing honest can be sent any more (the backend failed mid-response): close the client. */
  void (*abort)(lb_exchange *ex, const char *why);
  /* A debug line for a phase of the request (only called with debug logging on). */
  void (*phase)(lb_exchange *ex, const char *name, uint64_t now);
} lb_exchange_ops;

struct lb_exchange {
  const lb_exchange_ops *ops;
  lb_worker *w;
  lb_bconn *b;         /* the backend connection, while attached */
  lb_exchange_pick *pick; /* servers tried and key (lent by the codec) */
  char *head;          /* the forwarded request head (lent by the codec per request) */
  char *reqid;         /* LB_REQID_MAX bytes lent by the codec, or a shared "" */
  const char *term;    /* termination reason for the log */
  lb_h1_trailers *trailers; /* where a decoded chunked response's trailer fields go: the codec
                             * sets it in `head` when it relays them (h2), else NULL */
  uint32_t head_len;
  uint32_t reqid_len;
  lb_timing t;
  uint64_t bytes_in, bytes_out;
  int method;          /* llhttp_method, or LB_METHOD_OTHER (lb/http/h1.h) */
  char method_other[LB_METHOD_MAX + 1]; /* LB_METHOD_OTHER's name, as received */
  int http_minor;      /* the client's (the response's framing depends on it) */
  int pool;            /* -1 when answered locally */
  int server;          /* index in pool, -1 none */
  int retries;
  int status;
  lb_framing req_framing;
  unsigned keep_alive : 1;     /* the client wants the connection kept */
  unsigned sending : 1;        /* response bytes handed to `send`, not yet written */
  unsigned counted : 1;        /* lb_server_begin done */
  unsigned reused_retry : 1;   /* retried once on a fresh connection after a stale pooled one */
  unsigned backend_reused : 1; /* the last attempt used a pooled connection */
  unsigned resp_started : 1;   /* response bytes went to the client */
  unsigned reqid_due : 1;      /* none taken or made yet: lb_exchange_request_id makes one */
  unsigned tunnel : 1;         /* the backend switched protocols (101): bytes both ways */
  unsigned tunnel_relay : 1;   /* the 101 is written: the codec hands over every byte it reads */
  unsigned resp_last : 1;      /* the bytes in `send` end the final response */
  unsigned h2_connect : 1;     /* an h2 extended CONNECT (WebSocket): the backend gets GET, the
                                  log says what the client sent */
  unsigned chunk_body : 1;     /* req_framing CHUNKED, the body's end the exchange's: the codec
                                  hands over bare body bytes (h2 without content-length) that the
                                  exchange sends as chunks, or (chunks.raw) an HTTP/1.1 chunked
                                  body up to its last-chunk line, the trailer section left out */
  lb_chunk_out chunks;         /* chunk_body's framing; its trailer lines (filtered) set by the
                                  codec before the body is complete */
};

/* The method's name for the forwarded head and the logs (lb_exchange_method_keep keeps one
 * llhttp does not know). Inline: two field accesses, read per request. */
static inline void lb_exchange_method_keep(lb_exchange *ex, const char *name, size_t len) {
  len = name && len <= LB_METHOD_MAX ? len : 0;
  memcpy(ex->method_other, name ? name : "", len);
  ex->method_other[len] = 0;
}

static inline const char *lb_exchange_method_name(const lb_exchange *ex) {
  return ex->method == LB_METHOD_OTHER ? ex->method_other
                                      : llhttp_method_name((llhttp_method_t)ex->method);
}
static inline size_t lb_exchange_method_len(const lb_exchange *ex) {
  return ex->method == LB_METHOD_OTHER ? strlen(ex->method_other) : lb_h1_method_len[ex->method];
}

/* The request is parsed and the policy chose ex->pool (and, for a keyed pool, the codec put
 * the request's key in ex->pick): pick a server and go. */
void lb_exchange_dispatch(lb_exchange *ex);
/* The codec has new request body bytes (see ops->pending). */
void lb_exchange_send_body(lb_exchange *ex);
/* What ops->send was given is written. */
void lb_exchange_on_sent(lb_exchange *ex);
/* Gives back the backend connection (to the pool when reusable) and the server count. */
void lb_exchange_detach(lb_exchange *ex, int reusable);
/* The request's id for logs: the client's X-Request-Id, else a UUID made at the first call
 * ("" before the head is complete). */
const char *lb_exchange_request_id(lb_exchange *ex);

/* ---- inside the exchange: the response head (response_head.c) ----
 * The response head for the client, once the backend's is parsed (exchange.c calls it): the
 * relay plan of lb/core/framing.h for this response and this client (the framing kept, decoded
 * for an HTTP/1.0 client, refused), the final status counted and timed, journey-lb's own fields
 * (Server-Timing, X-Served-By, X-Request-Id) as configured, then the codec's `head` formats it.
 * A decoded chunked body's trailers are kept by the parser from here on.
 * 0 with the head in *out; -2 a Transfer-Encoding other than chunked, -3 a 101 to a request
 * that asked for no upgrade, or the codec's `head` error (-4 a 101 without the accept its key
 * asks, -1 too large). */
int lb_response_head(lb_bconn *b, lb_exchange *ex, uint64_t now, uv_buf_t *out);

#endif
