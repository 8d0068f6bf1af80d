/* Client connections (client_conn.c): TCP or TLS (lb/net/stream.h), the HTTP/1 codec driving
 * one exchange at a time (pipelined requests wait in the receive buffer), keep-alive, timeouts,
 * linger. The connection's state is lb_client (client.h). */
#ifndef JOURNEY_LB_CLIENT_CONN_H
#define JOURNEY_LB_CLIENT_CONN_H

#include "lb/proxy/client.h"

void lb_client_accept(lb_worker *w, uv_stream_t *server, int tls);
void lb_client_begin_stop(lb_client *c);
void lb_client_close(lb_client *c, const char *why);

#endif
