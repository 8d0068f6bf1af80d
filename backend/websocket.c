#include "backend/websocket.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

struct be_ws {
  wslay_event_context_ptr ctx;
  jc_buf *out;
  const char *in; /* the bytes be_ws_feed was given, while it runs */
  size_t in_len, in_off;
  int failed; /* wslay or memory failed: nothing more can be said on this connection */
  be_ws_counts counts;
};

/* The back-pressure: the echoes and pongs waiting to be sent, in bytes and in frames. */
static int queue_full(wslay_event_context_ptr ctx) {
  return wslay_event_get_queued_msg_length(ctx) >= BE_WS_OUT_HIGH ||
         wslay_event_get_queued_msg_count(ctx) >= BE_WS_OUT_MSGS;
}

/* wslay pulls input: hand it what the read gave, and say "would block" at its end or while the
 * echoes already queued are more than the output side should hold (the back-pressure). */
static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user) {
  (void)flags;
  be_ws *ws = user;
  size_t left = ws->in_len - ws->in_off;
  if (left == 0 || queue_full(ctx)) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = left < len ? left : len;
  memcpy(buf, ws->in + ws->in_off, n);
  ws->in_off += n;
  ws->counts.bytes_in += n;
  return (ssize_t)n;
}

/* wslay pushes output: into the connection's bounded buffer, as much as it has room for. */
static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user) {
  (void)flags;
  be_ws *ws = user;
  size_t room = jc_buf_room(ws->out);
  if (room == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = len < room ? len : room;
  if (jc_buf_append(ws->out, data, n) != 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  ws->counts.bytes_out += n;
  return (ssize_t)n;
}

/* A whole message (fragments reassembled by wslay): text and binary come back as they came.
 * Pings, pongs and closes are answered by wslay itself (pong, echoed close status). */
static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user) {
  be_ws *ws = user;
  if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
    return;
  struct wslay_event_msg echo = {arg->opcode, arg->msg, arg->msg_length};
  int r = wslay_event_queue_msg(ctx, &echo);
  if (r == WSLAY_ERR_NOMEM) {
    ws->failed = 1;
    return;
  }
  if (r == 0)
    ws->counts.messages++;
  /* WSLAY_ERR_NO_MORE_MSG: a close is already queued; the message arrived after it. */
}

be_ws *be_ws_new(uint64_t max_message, jc_buf *out) {
  static const struct wslay_event_callbacks cbs = {
      .recv_callback = on_recv, .send_callback = on_send, .on_msg_recv_callback = on_msg};
  be_ws *ws = calloc(1, sizeof *ws);
  if (!ws)
    return NULL;
  if (wslay_event_context_server_init(&ws->ctx, &cbs, ws) != 0) {
    free(ws);
    return NULL;
  }
  wslay_event_config_set_max_recv_msg_length(ws->ctx, max_message);
  ws->out = out;
  return ws;
}

void be_ws_free(be_ws *ws) {
  if (!ws)
    return;
  wslay_event_context_free(ws->ctx);
  free(ws);
}

size_t be_ws_feed(be_ws *ws, const char *p, size_t n) {
  if (ws->failed || !wslay_event_get_read_enabled(ws->ctx))
    return n; /* after the client's close (or a failure) nothing it sends is read */
  ws->in = p;
  ws->in_len = n;
  ws->in_off = 0;
  /* A protocol error found by wslay's frame layer (a fragmented or oversized control frame)
   * comes back as a callback failure with reading disabled and an empty close queued, which
   * still goes out; only exhausted memory leaves nothing to say. */
  if (wslay_event_recv(ws->ctx) == WSLAY_ERR_NOMEM)
    ws->failed = 1;
  size_t used = ws->in_off;
  ws->in = NULL;
  ws->in_len = ws->in_off = 0;
  if (ws->failed || !wslay_event_get_read_enabled(ws->ctx))
    return n;
  return used;
}

void be_ws_flush(be_ws *ws) {
  if (!ws->failed && wslay_event_send(ws->ctx) != 0)
    ws->failed = 1;
}

void be_ws_close(be_ws *ws, int status, const char *reason) {
  if (ws->failed)
    return;
  /* WSLAY_ERR_NO_MORE_MSG: a close is already on its way, which is all this asks for. */
  wslay_event_queue_close(ws->ctx, (uint16_t)status, (const uint8_t *)reason,
                          reason ? strlen(reason) : 0);
}

int be_ws_wants_input(const be_ws *ws) {
  return !ws->failed && wslay_event_want_read(ws->ctx) && !queue_full(ws->ctx);
}

int be_ws_has_output(const be_ws *ws) {
  return !ws->failed && wslay_event_want_write(ws->ctx);
}

int be_ws_closing(const be_ws *ws) {
  return ws->failed || wslay_event_get_close_sent(ws->ctx) ||
         wslay_event_get_close_received(ws->ctx) || !wslay_event_get_read_enabled(ws->ctx);
}

int be_ws_finished(const be_ws *ws) {
  return ws->failed || (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx));
}

be_ws_counts be_ws_get_counts(const be_ws *ws) {
  be_ws_counts c = ws->counts;
  if (wslay_event_get_close_sent(ws->ctx))
    c.close_sent = wslay_event_get_status_code_sent(ws->ctx);
  if (wslay_event_get_close_received(ws->ctx))
    c.close_received = wslay_event_get_status_code_received(ws->ctx);
  return c;
}
