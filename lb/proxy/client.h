/* lb_client: one client connection's state, shared by the files of the client connection
 * (client_conn.c: the connection and its HTTP/1 requests; client_buffers.c: the buffers it
 * borrows). Nothing else reaches into it.
 *
 * An lb_client is freed in the close callback of its last handle. Its buffers are lent from
 * per-worker free lists only while a request is in progress or bytes are buffered: an idle
 * keep-alive connection holds the struct and its TLS session. */
#ifndef JOURNEY_LB_CLIENT_H
#define JOURNEY_LB_CLIENT_H

#include "lb/core/deadline.h"
#include "lb/http/h1.h"
#include "lb/net/stream.h"
#include "lb/proxy/exchange.h"
#include "lb/proxy/runtime.h"

#include <llhttp.h>

typedef enum {
  LB_C_TLS = 0,  /* TLS handshake */
  LB_C_IDLE,     /* waiting for the first byte of a request */
  LB_C_HEAD,     /* reading request headers */
  LB_C_PROXY,    /* request dispatched: body relay and response */
  LB_C_CLOSING,
  LB_C_H2        /* the connection speaks HTTP/2: h2_conn.c drives it */
} lb_client_state;

/* A codec that takes a connection over (HTTP/2: lb/proxy/h2_conn.c), called through these
 * pointers (lb_worker.h2) so that client_conn.c does not depend on it. */
typedef struct lb_client_codec {
  void (*start)(lb_client *c); /* after ALPN h2; the bytes come through `data` */
  /* The first bytes on a plain listener with h2c on: 1 the h2 preface (taken over, `start`
   * done), 0 not h2, -1 maybe (the preface is not whole yet). */
  int (*sniff)(lb_client *c);
  void (*data)(lb_client *c);  /* plaintext in c->in[0..in_len): consume it all */
  void (*sent)(lb_client *c);  /* what lb_client_send was given is written */
  void (*stop)(lb_client *c);  /* graceful shutdown: GOAWAY, close when the streams end */
  void (*gone)(lb_client *c);  /* the connection is closing: end every stream, free */
} lb_client_codec;

#define LB_PATH_LOG_MAX 512
#define LB_REQID_MAX 136 /* a client's X-Request-Id (lb_request_id_valid) or a UUID, + NUL */
#define LB_RESP_ROOM (17 * 1024) /* response head room: a backend head larger than 16 KiB: 502 */
#define LB_PEER_MAX 56   /* "[" INET6_ADDRSTRLEN "]:65535" */
/* The lent head block: path for the logs | request id | forwarded head | response head. */
#define LB_REQ_PREFIX (LB_PATH_LOG_MAX + LB_REQID_MAX)
/* Room for the forwarded request head: the received one plus what the LB adds. */
#define LB_HEAD_CAP(cfg) ((size_t)(cfg)->max_header_size + 1024)

/* The per-request state that lives in the lent receive block (client_conn.c): it exists only
 * while the connection holds that block, i.e. from a request's first byte to its end (or while
 * bytes are buffered); an idle keep-alive connection has none. */
typedef struct lb_client_rx {
  llhttp_t parser; /* fresh (llhttp_init) each time the block is lent and after each request */
  lb_exchange_pick pick; /* servers tried and balancing key, for the exchange's retries */
} lb_client_rx;

struct lb_client {
  lb_stream s;      /* the socket and TLS: plaintext in and out (lb/net/stream.h) */
  uv_timer_t timer; /* TLS/header/idle timeout, and the linger's bound */
  lb_deadline dl;   /* when it is due (lb/deadline.h) */
  lb_exchange ex;   /* the request in progress (its per-request buffers are lent); ex.w: the
                     * worker that owns the connection */
  /* flags: one bit each (memory per idle connection) */
  unsigned close_after_send : 1; /* this response is the last one */
  unsigned closing : 1;
  unsigned tls_rest : 1; /* waiting: the timer first gives OpenSSL's buffers back (on_timer) */
  uint8_t state;    /* lb_client_state */
  uint8_t listener; /* index of the listener that accepted it (stats) */
  uint8_t handles;  /* open handles; freed when 0 */
  lb_client *next, *prev;
  uint64_t id;
  int nrequests;
  uint8_t peer_ip_off, peer_ip_len; /* the address alone: a slice of peer */
  char peer[LB_PEER_MAX];            /* "ip:port", "[v6]:port" or "unknown" */

  /* request parsing */
  lb_client_rx *rx;  /* parser and per-request state: the lent block's start (NULL with `in`) */
  char *in;          /* plaintext from the client (lent: NULL while idle with nothing buffered) */
  size_t in_cap, in_len;
  size_t req_off;    /* start of the current request */
  size_t parse_off;  /* bytes fed to llhttp */
  size_t body_off;   /* first body byte not yet forwarded */
  lb_h1_req h1;      /* the request being parsed: header views lent with `in`, same block */

  char *resp_head;   /* response head to the client (or a whole local response): placed by */
  size_t resp_cap;   /* resp_place right after the forwarded head, in the same block */

  void *h2;          /* the HTTP/2 session (h2_conn.c) once the connection speaks h2 */
};


/* The target for the logs: the lent head block's first bytes, "" without one. */
static inline const char *lb_client_path(const lb_client *c) {
  return c->ex.head ? c->ex.head - LB_REQ_PREFIX : "";
}


#endif
