/* The access log (one line per request on stdout) and debug phase lines (stderr) of an exchange.
 * The codec says which connection the request came on (lb_log_conn, built on its stack): the
 * log needs the exchange and these few facts, not the connection. */
#ifndef JOURNEY_LB_ACCESS_LOG_H
#define JOURNEY_LB_ACCESS_LOG_H

#include "lb/proxy/exchange.h"

#include <openssl/ssl.h>
#include <stdint.h>

typedef struct lb_log_conn {
  uint64_t id;      /* the connection's number */
  const char *peer; /* "ip:port" */
  const char *path; /* the request's target for the logs ("" without one) */
  SSL *ssl;         /* NULL: plain HTTP */
  uint32_t stream;  /* the HTTP/2 stream id; 0: HTTP/1 */
} lb_log_conn;

void lb_access_log(lb_exchange *ex, const lb_log_conn *conn);
/* The worker's access log buffer (access_log.c): init with its loop, flush (also once per loop
 * iteration by itself), close with the loop's other handles, free after the loop ended. */
int lb_access_log_init(lb_worker *w);
void lb_access_log_flush(lb_worker *w);
void lb_access_log_close(lb_worker *w);
void lb_access_log_free(lb_worker *w);
void lb_debug_phase(lb_exchange *ex, const lb_log_conn *conn, const char *phase, uint64_t now);
/* The debug line of a completed TLS handshake (version, cipher, SNI, resumed). */
void lb_debug_tls(const lb_log_conn *conn, uint64_t elapsed_us);

#endif
