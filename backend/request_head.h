/* journey-backend's reading of a request head: the llhttp callbacks up to the end of the body,
 * which keep what the answer needs (target, X-Request-Id, X-Forwarded-For, Expect, the first
 * body bytes, the WebSocket handshake's headers) in a be_head and enforce the limits
 * (--max-header-bytes -> 431, 100 headers -> 431, --max-body-bytes -> 413, HTTP/2.0 -> 505,
 * HTTP/1.1 without Host -> 400). They set err_status before failing the parse; the server
 * answers it. They are not static so that another llhttp_settings_t (the server's, a fuzz
 * target's) links them; llhttp's data pointer must be the be_head.
 *
 * A be_head is plain storage inside the connection: it owns no memory. */
#ifndef JOURNEY_BACKEND_REQUEST_HEAD_H
#define JOURNEY_BACKEND_REQUEST_HEAD_H

#include "backend/options.h"
#include "backend/routes.h"
#include "backend/ws_handshake.h"
#include "common/buf.h"

#include <llhttp.h>
#include <stdint.h>

#define BE_TARGET_MAX 1024 /* longer targets are cut: the path of every route is far shorter */
#define BE_MAX_HEADERS 100
#define BE_BODY_KEEP 16 /* enough of a body for "down\r\n" */

enum be_head_field { H_OTHER, H_HOST, H_REQUEST_ID, H_XFF, H_EXPECT, H_WS };

typedef struct be_head {
  const be_options *opt; /* the limits */
  jc_buf *out;           /* where "100 Continue" is queued */
  size_t header_bytes;
  int header_count;
  uint64_t body_bytes;
  int err_status; /* set by a callback before it fails the parse: 413, 431, 505, 400 */
  enum be_head_field cur;
  char field[24];
  size_t field_len; /* may exceed sizeof field: then it is no header we look at */
  size_t target_len;
  size_t rid_len, xff_len, expect_len, body_len;
  int has_rid, has_xff, has_host;
  be_ws_header ws_cur;
  be_ws_head wsh; /* what a WebSocket handshake needs */
  char target[BE_TARGET_MAX];
  char rid[BE_REQUEST_ID_MAX];
  char xff[BE_XFF_MAX];
  char expect[16];
  char body[BE_BODY_KEEP];
} be_head;

/* Empties h for the next request (opt and out stay). */
void be_head_begin(be_head *h);

int be_head_on_url(llhttp_t *p, const char *at, size_t n);
int be_head_on_header_field(llhttp_t *p, const char *at, size_t n);
int be_head_on_header_field_complete(llhttp_t *p);
int be_head_on_header_value(llhttp_t *p, const char *at, size_t n);
int be_head_on_header_value_complete(llhttp_t *p);
int be_head_on_headers_complete(llhttp_t *p);
int be_head_on_body(llhttp_t *p, const char *at, size_t n);

#endif
