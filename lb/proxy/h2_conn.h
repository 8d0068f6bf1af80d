/* HTTP/2 on a client connection (h2_conn.c): one nghttp2 server session per connection, each
 * stream one exchange driven through the same ops table as HTTP/1 (lb/proxy/exchange.h).
 *
 * client_conn.c reaches it only through the worker's `h2` pointer (lb_client_codec), set by
 * worker.c, so that the arrow points from this file to client_conn.c and not back. */
#ifndef JOURNEY_LB_H2_CONN_H
#define JOURNEY_LB_H2_CONN_H

#include "lb/proxy/client_conn.h"

extern const lb_client_codec lb_h2_codec;

#endif
