/* The buffers a client connection borrows (client_buffers.c).
 *
 * A connection holds buffers only while it needs them, lent from per-worker free lists, so an
 * idle keep-alive connection keeps just lb_client (and its TLS session) and no request
 * allocates once the lists are warm:
 *  - the receive buffer with its header views, the llhttp parser and the servers tried
 *    (~35 KiB, lb_client_rx first): taken at the first byte of a request, given back when the
 *    connection is idle with nothing buffered (a pipelined request that arrived early keeps it);
 *  - the target copied for the logs, the request id, the forwarded request head and the response
 *    head (~34 KiB): taken when a request head is complete (or a local response is due), given
 *    back when the response is written;
 *  - the write and shutdown requests (lb_stream_io, lent by the stream): only while libuv
 *    holds one;
 *  - a chunked request's filtered trailer section (max-header-size): malloc'd at its first
 *    field, for the request's life (few requests have one).
 * The lists (lb_bufpool, worker.c) are LIFO and capped. */
#ifndef JOURNEY_LB_CLIENT_BUFFERS_H
#define JOURNEY_LB_CLIENT_BUFFERS_H

#include "lb/proxy/client.h"

void lb_client_buffers_init(lb_client *c); /* at accept: no head block, request id "" */
/* The head block (path for the logs | request id | forwarded head | response head), for one
 * request: 0 or -1 (out of memory). Placing the response head after the forwarded head. */
int lb_client_reqbuf_get(lb_client *c);
void lb_client_reqbuf_put(lb_client *c);
void lb_client_resp_place(lb_client *c);
/* The receive block (parser, servers tried, header views, receive buffer): 0 or -1. */
int lb_client_rxbuf_get(lb_client *c);
void lb_client_rxbuf_put(lb_client *c);
void lb_client_rxbuf_release_idle(lb_client *c); /* back when idle with nothing buffered */
/* Once a tunnel's 101 is written, the head block goes back and only its first part (the target
 * and request id that the tunnel's last log line needs) stays, in a 648-byte note: an idle
 * tunnel holds no big buffer. Nothing writes a head after a 101. */
void lb_client_tunnel_shrink(lb_client *c);
void lb_client_parser_reset(lb_client *c);       /* a fresh parser for the next request */
/* A chunked body's trailer section (lb_h1_req.trl_lend): malloc'd when its first field comes
 * (lb/http/h1.c), freed by lb_client_trailers_put when the request is done or the connection
 * closes. 0 or -1. */
int lb_client_trailers_lend(lb_h1_req *r);
void lb_client_trailers_put(lb_client *c);
/* The trailer bytes the last parse met (h1.trailers_at on): kept by the parser (filtered), they
 * leave the receive buffer, so what is relayed raw stops at the last-chunk line; once the body
 * is whole, the section's kept lines are the exchange's to end it with (ex.chunks). */
void lb_client_trailer_bytes_drop(lb_client *c);
void lb_worker_free_reqbufs(lb_worker *w);        /* the worker's free lists, at its end */

#endif
