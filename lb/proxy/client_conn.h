/* Client connections (client_conn.c): TCP or TLS, the HTTP/1 codec driving one exchange at a
 * time (pipelined requests wait in the receive buffer), keep-alive, timeouts, linger.
 *
 * An lb_client is freed in the close callback of its last handle. Its buffers are lent from
 * per-worker free lists only while a request is in progress or bytes are buffered: an idle
 * keep-alive connection holds the struct and its TLS session. */
#ifndef JOURNEY_LB_CLIENT_CONN_H
#define JOURNEY_LB_CLIENT_CONN_H

#include "common/tls.h"
#include "lb/core/deadline.h"
#include "lb/http/h1.h"
#include "lb/net/stream.h"
#include "lb/proxy/exchange.h"
#include "lb/proxy/runtime.h"

#include <llhttp.h>

typedef enum {
  LB_C_TLS = 0,  /* TLS handshake (TLS and IDLE first: rxbuf_release_idle compares) */
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

/* Requests libuv holds while a write goes the slow way (the socket did not take it all) or the
 * FIN after the last response is queued: lent per worker (client_conn.c), not per connection. */
typedef struct lb_client_io {
  uv_write_t wreq;
  uv_shutdown_t sreq;
} lb_client_io;

struct lb_client {
  uv_tcp_t tcp;
  uv_timer_t timer; /* TLS/header/idle timeout */
  lb_deadline dl;   /* when it is due (lb/deadline.h) */
  lb_client_io *io; /* write/shutdown requests: lent only while libuv holds one */
  lb_deferred wdone;
  lb_exchange ex;   /* the request in progress (its per-request buffers are lent); ex.w: the
                     * worker that owns the connection */
  /* flags: one bit each (memory per idle connection) */
  unsigned tls_on : 1;
  unsigned writing : 1; /* a write to the client socket is in flight */
  unsigned reading : 1; /* uv_read_start active */
  unsigned close_after_send : 1; /* this response is the last one */
  unsigned send_pending : 1; /* lb_client_send issued: after_send when written */
  unsigned final_flush : 1; /* close once everything queued is written */
  unsigned lingering : 1; /* FIN sent after the last response; unread input is drained */
  unsigned peer_eof : 1;
  unsigned closing : 1;
  lb_client *next, *prev;
  uint64_t id;
  int listener;     /* index of the listener that accepted it (stats) */
  jc_tls tls;
  int handles;      /* open handles; freed when 0 */
  lb_client_state state;
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
  size_t resp_cap;   /* lb_client_resp_place right after the forwarded head, in the same block */

  void *h2;          /* the HTTP/2 session (h2_conn.c) once the connection speaks h2 */

  char *tls_out;     /* ciphertext being written */
  size_t tls_out_cap;
};


/* client_conn.c: client connections and the HTTP/1 side of their exchanges */
void lb_client_accept(lb_worker *w, uv_stream_t *server, int tls);
void lb_client_begin_stop(lb_client *c);
void lb_worker_free_reqbufs(lb_worker *w);
void lb_client_close(lb_client *c, const char *why);
/* For a codec that took the connection over. Plaintext to the client (TLS sealed here): 0, or
 * -1 when the connection is closing; the codec's `sent` follows once it is written. */
int lb_client_send(lb_client *c, uv_buf_t *bufs, unsigned n);
/* Reads on when the receive buffer has room (the codec consumed it) and takes the plaintext
 * the TLS engine kept meanwhile into c->in. */
void lb_client_want_read(lb_client *c);
/* The connection's facts for the access log. */
struct lb_log_conn;
const struct lb_log_conn *lb_client_log_conn(const lb_client *c, struct lb_log_conn *lc);

/* The target for the logs: the lent head block's first bytes, "" without one. */
static inline const char *lb_client_path(const lb_client *c) {
  return c->ex.head ? c->ex.head - LB_REQ_PREFIX : "";
}


#endif
