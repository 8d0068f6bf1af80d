/* journey-backend's WebSocket echo session: one per connection after its 101, framed by wslay.
 *
 * Why wslay (Debian's libwslay): framing, masking, fragment reassembly, UTF-8 checks of text
 * and close reasons, close-code checks, ping -> pong and the echoed close are what RFC 6455
 * makes easy to get subtly wrong; wslay has done them for a decade (nghttp2's author) and
 * keeps no I/O of its own, so it runs inside this server's event loop unchanged.
 *
 * The session does no I/O either. The connection (server.c) feeds it the bytes it reads and
 * writes out what the session put into the connection's bounded output buffer:
 *
 *   be_ws_feed()       bytes from the client; it takes fewer (or none) while the output side
 *                      is full: that is the back-pressure, the caller keeps the rest and stops
 *                      reading until be_ws_wants_input() says so again
 *   be_ws_flush()      queued frames -> the output buffer, as far as it has room
 *   be_ws_close()      a close the server starts (1001 on shutdown or when idle)
 *   be_ws_finished()   the close handshake is over (or failed): send FIN and drop the session
 *
 * Memory is bounded: a message is at most max_message bytes (larger: close 1009), and no new
 * input is read while more than BE_WS_OUT_HIGH bytes of echoes, or BE_WS_OUT_MSGS frames of
 * any size, wait to be sent, so one connection holds at most about two messages plus the output
 * buffer. The count matters for empty frames: a flood of empty pings queues pongs that weigh
 * nothing in bytes but a few hundred bytes each in memory. */
#ifndef JOURNEY_BACKEND_WEBSOCKET_H
#define JOURNEY_BACKEND_WEBSOCKET_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define BE_WS_OUT_HIGH (64 * 1024) /* queued echo bytes above which reading stops */
#define BE_WS_OUT_MSGS 1024        /* queued frames (echoes, pongs) above which reading stops */

typedef struct be_ws be_ws;

typedef struct be_ws_counts {
  uint64_t bytes_in;  /* bytes read from the client after the handshake */
  uint64_t bytes_out; /* frame bytes put into the output buffer */
  uint64_t messages;  /* text and binary messages echoed */
  int close_sent;     /* the status code of the close frame sent (0: none yet) */
  int close_received; /* the status code the client closed with (0: none; 1005: no code) */
} be_ws_counts;

/* A session writing its frames into out (which the caller owns and drains). NULL when memory is
 * exhausted. */
be_ws *be_ws_new(uint64_t max_message, jc_buf *out);
void be_ws_free(be_ws *ws);

/* Consumes bytes read from the client; returns how many it took. */
size_t be_ws_feed(be_ws *ws, const char *p, size_t n);
void be_ws_flush(be_ws *ws);
/* Queues a close frame with this status and reason (ignored when a close is already queued). */
void be_ws_close(be_ws *ws, int status, const char *reason);

/* 1 while the session reads and has room to answer. */
int be_ws_wants_input(const be_ws *ws);
/* 1 while frames wait to go into the output buffer. */
int be_ws_has_output(const be_ws *ws);
/* 1 once a close frame was queued by either side. */
int be_ws_closing(const be_ws *ws);
/* 1 when nothing is left to read or write. */
int be_ws_finished(const be_ws *ws);
be_ws_counts be_ws_get_counts(const be_ws *ws);

#endif
