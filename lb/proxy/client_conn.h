/* Client connections (client_conn.c): TCP or TLS (lb/net/stream.h), the HTTP/1 codec driving
 * one exchange at a time (pipelined requests wait in the receive buffer), keep-alive, timeouts,
 * linger. The connection's state is lb_client (client.h). */
#ifndef JOURNEY_LB_CLIENT_CONN_H
#define JOURNEY_LB_CLIENT_CONN_H

#include "lb/proxy/client.h"

void lb_client_accept(lb_worker *w, uv_stream_t *server, int tls);
void lb_client_begin_stop(lb_client *c);
void lb_client_close(lb_client *c, const char *why);
/* For a codec that took the connection over (HTTP/2). Plaintext to the client: 0, or -1 when
 * the stream failed; the codec's `sent` follows once it is written. */
int lb_client_send(lb_client *c, uv_buf_t *bufs, unsigned n);
/* The connection's facts for the access log. */
struct lb_log_conn;
const struct lb_log_conn *lb_client_log_conn(const lb_client *c, struct lb_log_conn *lc);

#endif
