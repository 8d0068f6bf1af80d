/* WebSockets over HTTP/2 (RFC 8441), pure: an extended CONNECT's head (`:method CONNECT`,
 * `:protocol websocket`) as the HTTP/1.1 upgrade request a browser would have sent on its own
 * connection (RFC 6455 section 4.1), and the backend's 101 as the stream's 200. The key is the
 * caller's to make (an h2 client sends none), so the answer's Sec-WebSocket-Accept is checked
 * here against it: a backend that did not read the handshake gets no tunnel. */
#ifndef JOURNEY_LB_H2_WS_H
#define JOURNEY_LB_H2_WS_H

#include "lb/http/h2.h"

/* The head of a request with :protocol (nghttp2 lets one through only with CONNECT, :scheme and
 * :path, and only when the LB offered it) into the upgrade request: :method GET, a client's
 * Sec-WebSocket-Key/-Accept dropped, Upgrade: websocket, Connection: upgrade and
 * Sec-WebSocket-Key: key (JC_WS_KEY_LEN characters, kept by the caller while the head is) added
 * to hd's views (room for max_views). 0; or the status of the refusal with why and term: 501
 * for another protocol, 400 for a CONNECT that ends its stream (ended) or has a content-length,
 * 431 when the views do not fit. */
int lb_h2_ws_request(lb_h2_req *r, lb_h2_head *hd, int ended, uint32_t max_views,
                     const char *key, const char **why, const char **term);

/* The backend's 101 as the stream's response: *ok gets status 200 and the 101's fields but
 * Sec-WebSocket-Accept (into kept, max_kept views); Upgrade and Connection are left to
 * lb_h2_resp_fields to drop. 0; -1 when they do not fit; -4 when the accept does not match key. */
int lb_h2_ws_response(const lb_response_view *v, const char *key, lb_header *kept,
                      size_t max_kept, lb_response_view *ok);

#endif
