/* libFuzzer: journey-backend's WebSocket path, the real code. The first byte picks the part:
 *   even: a request head through llhttp with the backend's own head callbacks (request_head.c),
 *         then the handshake decision (ws_handshake.c) and, for a 101, the answer's bytes;
 *   odd:  client bytes into an echo session (websocket.c on wslay), fed in pieces whose sizes
 *         come from the input, with an output buffer drained at input-chosen moments (a slow
 *         reader), so back-pressure, reassembly and closing run with every interleaving.
 * Oracles (abort on violation): a refusal is 400/405/426 with a reason text and close set; a 101
 * has a 28-character base64 accept and an answer that ends its head exactly once; the session's
 * output never exceeds the buffer's cap, takes no input while it says it wants none, and once
 * finished writes nothing more. */
#include "backend/options.h"
#include "backend/request_head.h"
#include "backend/websocket.h"
#include "backend/ws_handshake.h"

#include <llhttp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CAP 4096 /* small on purpose: the session fills it often */

static void head_part(const uint8_t *data, size_t size) {
  static be_options opt;
  static be_head h;
  static jc_buf out;
  static llhttp_settings_t settings;
  static int ready;
  if (!ready) {
    be_options_defaults(&opt);
    jc_buf_init(&out, 64 * 1024);
    llhttp_settings_init(&settings);
    settings.on_url = be_head_on_url;
    settings.on_header_field = be_head_on_header_field;
    settings.on_header_field_complete = be_head_on_header_field_complete;
    settings.on_header_value = be_head_on_header_value;
    settings.on_header_value_complete = be_head_on_header_value_complete;
    settings.on_headers_complete = be_head_on_headers_complete;
    settings.on_body = be_head_on_body;
    ready = 1;
  }
  jc_buf_reset(&out, 0);
  memset(&h, 0, sizeof h);
  h.opt = &opt;
  h.out = &out;
  be_head_begin(&h);
  llhttp_t p;
  llhttp_init(&p, HTTP_REQUEST, &settings);
  p.data = &h;
  llhttp_errno_t e = llhttp_execute(&p, (const char *)data, size);
  if (e != HPE_OK && e != HPE_PAUSED_UPGRADE)
    return;
  be_decision d;
  char accept[BE_WS_ACCEPT_LEN + 1];
  int st = be_ws_handshake(&h.wsh, p.method == HTTP_GET, p.http_minor, &d, accept);
  if (st != 101) {
    if ((st != 400 && st != 405 && st != 426) || d.status != st || !d.text || !d.close)
      abort();
    return;
  }
  if (strlen(accept) != BE_WS_ACCEPT_LEN || accept[BE_WS_ACCEPT_LEN - 1] != '=')
    abort();
  be_identity id;
  be_identity_init(&id, "b1", "127.0.0.1:9001");
  char resp[BE_RESPONSE_MAX];
  ssize_t n = be_ws_response_101(resp, sizeof resp, accept, "Wed, 02 Dec 2026 14:00:00 GMT", &id,
                                 h.has_rid ? h.rid : NULL, h.rid_len);
  if (n < 0)
    return; /* an X-Request-Id too long for the buffer: the server closes instead */
  char *end = memmem(resp, (size_t)n, "\r\n\r\n", 4);
  if (!end || end + 4 != resp + n)
    abort();
}

static void session_part(const uint8_t *data, size_t size) {
  jc_buf out;
  jc_buf_init(&out, OUT_CAP);
  be_ws *ws = be_ws_new(64 * 1024, &out);
  if (!ws)
    return;
  size_t i = 0;
  while (i < size) {
    uint8_t ctl = data[i++];
    size_t piece = (size_t)(ctl & 0x3f) + 1;
    if (piece > size - i)
      piece = size - i;
    int wanted = be_ws_wants_input(ws), finished = be_ws_finished(ws);
    size_t before = jc_buf_len(&out);
    size_t used = be_ws_feed(ws, (const char *)data + i, piece);
    if (used > piece || (!wanted && !finished && used != 0 && used != piece))
      abort();
    i += used ? used : piece; /* what the session did not take is dropped, as a client gives up */
    be_ws_flush(ws);
    if (jc_buf_len(&out) > OUT_CAP)
      abort();
    if (finished && jc_buf_len(&out) != before)
      abort(); /* nothing is written after the close handshake */
    if (ctl & 0x40) /* the socket took everything */
      jc_buf_reset(&out, OUT_CAP);
    else if (ctl & 0x80) /* the socket took half */
      jc_buf_consume(&out, jc_buf_len(&out) / 2);
  }
  be_ws_counts c = be_ws_get_counts(ws);
  if (c.bytes_in > size)
    abort();
  be_ws_free(ws);
  jc_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] & 1)
    session_part(data + 1, size - 1);
  else
    head_part(data + 1, size - 1);
  return 0;
}
