/* journey-backend's WebSocket opening handshake (backend/ws_handshake.c): the headers it reads,
 * every refusal, the accept value of RFC 6455's own example and the exact 101 bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "backend/ws_handshake.h"

/* Feeds one header the way llhttp does: the lower-case name, then the value in two pieces. */
static void header(be_ws_head *h, const char *name, const char *value) {
  be_ws_header k = be_ws_header_kind(name, strlen(name));
  assert_int_not_equal(k, BE_WSH_NONE);
  size_t n = strlen(value), half = n / 2;
  be_ws_head_value(h, value, half);
  be_ws_head_value(h, value + half, n - half);
  be_ws_head_end(h, k);
}

static void good_head(be_ws_head *h, const char *key) {
  be_ws_head_reset(h);
  header(h, "upgrade", "websocket");
  header(h, "connection", "Upgrade");
  header(h, "sec-websocket-key", key);
  header(h, "sec-websocket-version", "13");
}

static void rfc_example(void **state) {
  be_ws_head h;
  be_decision d;
  char accept[BE_WS_ACCEPT_LEN + 1];
  good_head(&h, "dGhlIHNhbXBsZSBub25jZQ==");
  assert_int_equal(be_ws_handshake(&h, 1, 1, &d, accept), 101);
  assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 section 1.3 */
}

static void header_kinds_and_tokens(void **state) {
  assert_int_equal(be_ws_header_kind("upgrade", 7), BE_WSH_UPGRADE);
  assert_int_equal(be_ws_header_kind("connection", 10), BE_WSH_CONNECTION);
  assert_int_equal(be_ws_header_kind("sec-websocket-key", 17), BE_WSH_KEY);
  assert_int_equal(be_ws_header_kind("sec-websocket-version", 21), BE_WSH_VERSION);
  assert_int_equal(be_ws_header_kind("sec-websocket-protocol", 22), BE_WSH_NONE);
  assert_int_equal(be_ws_header_kind("host", 4), BE_WSH_NONE);
  const struct {
    const char *upgrade, *connection;
    int ws, other, conn;
  } cases[] = {
      {"websocket", "Upgrade", 1, 0, 1},
      {"WebSocket", "keep-alive, Upgrade", 1, 0, 1},
      {"h2c, websocket", "upgrade,keep-alive", 1, 0, 1},
      {"websocket/13", "  UPGRADE  ", 1, 0, 1},
      {"h2c", "Upgrade", 0, 1, 1},
      {"websockets", "upgrades", 0, 1, 0},
      {"websocket", "keep-alive", 1, 0, 0},
      {"", "", 0, 1, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    be_ws_head h;
    be_ws_head_reset(&h);
    header(&h, "upgrade", cases[i].upgrade);
    header(&h, "connection", cases[i].connection);
    if (h.upgrade_websocket != cases[i].ws || h.upgrade_other != cases[i].other ||
        h.connection_upgrade != cases[i].conn)
      fail_msg("Upgrade '%s' Connection '%s': ws %d other %d conn %d", cases[i].upgrade,
               cases[i].connection, h.upgrade_websocket, h.upgrade_other, h.connection_upgrade);
  }
}

static void refusals(void **state) {
  enum { DROP_UPGRADE = 1, DROP_CONN = 2, DROP_KEY = 4, DROP_VERSION = 8, TWO_KEYS = 16 };
  const struct {
    const char *name;
    int drop, get, minor;
    const char *key, *version;
    int status;
    const char *headers; /* NULL: none expected */
  } cases[] = {
      {"good", 0, 1, 1, "AAAAAAAAAAAAAAAAAAAAAA==", "13", 101, NULL},
      {"POST", 0, 0, 1, "AAAAAAAAAAAAAAAAAAAAAA==", "13", 405, NULL},
      {"no Upgrade", DROP_UPGRADE, 1, 1, "AAAAAAAAAAAAAAAAAAAAAA==", "13", 426,
       "Upgrade: websocket"},
      {"HTTP/1.0", 0, 1, 0, "AAAAAAAAAAAAAAAAAAAAAA==", "13", 400, NULL},
      {"no Connection", DROP_CONN, 1, 1, "AAAAAAAAAAAAAAAAAAAAAA==", "13", 400, NULL},
      {"no version", DROP_VERSION, 1, 1, "AAAAAAAAAAAAAAAAAAAAAA==", "13", 400, NULL},
      {"version 8", 0, 1, 1, "AAAAAAAAAAAAAAAAAAAAAA==", "8", 426, "Sec-WebSocket-Version: 13"},
      {"version 130", 0, 1, 1, "AAAAAAAAAAAAAAAAAAAAAA==", "130", 426, NULL},
      {"no key", DROP_KEY, 1, 1, "AAAAAAAAAAAAAAAAAAAAAA==", "13", 400, NULL},
      {"two keys", TWO_KEYS, 1, 1, "AAAAAAAAAAAAAAAAAAAAAA==", "13", 400, NULL},
      {"short key", 0, 1, 1, "AAAAAAAAAAAAAAAAAAAA", "13", 400, NULL},
      {"17-byte key", 0, 1, 1, "AAAAAAAAAAAAAAAAAAAAAAA=", "13", 400, NULL},
      {"not base64", 0, 1, 1, "AAAAAAAAAAAAAAAAAAAA*A==", "13", 400, NULL},
      {"long key", 0, 1, 1, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "13", 400,
       NULL},
      {"key with spaces", 0, 1, 1, "  AAAAAAAAAAAAAAAAAAAAAA==  ", "13", 101, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    be_ws_head h;
    be_ws_head_reset(&h);
    if (!(cases[i].drop & DROP_UPGRADE))
      header(&h, "upgrade", "websocket");
    if (!(cases[i].drop & DROP_CONN))
      header(&h, "connection", "Upgrade");
    if (!(cases[i].drop & DROP_KEY))
      header(&h, "sec-websocket-key", cases[i].key);
    if (cases[i].drop & TWO_KEYS)
      header(&h, "sec-websocket-key", cases[i].key);
    if (!(cases[i].drop & DROP_VERSION))
      header(&h, "sec-websocket-version", cases[i].version);
    be_decision d;
    char accept[BE_WS_ACCEPT_LEN + 1];
    int st = be_ws_handshake(&h, cases[i].get, cases[i].minor, &d, accept);
    if (st != cases[i].status)
      fail_msg("%s: %d, want %d", cases[i].name, st, cases[i].status);
    if (st == 101)
      continue;
    assert_int_equal(d.status, st);
    assert_true(d.close);
    assert_non_null(d.text);
    if (cases[i].headers && (!d.headers || !strstr(d.headers, cases[i].headers)))
      fail_msg("%s: headers '%s' lack '%s'", cases[i].name, d.headers ? d.headers : "(none)",
               cases[i].headers);
    if (st == 405)
      assert_string_equal(d.allow, "GET");
  }
}

static void response_bytes(void **state) {
  be_identity id;
  assert_int_equal(be_identity_init(&id, "b1", "127.0.0.1:9001"), 0);
  char out[BE_RESPONSE_MAX];
  const char *date = "Wed, 02 Dec 2026 14:00:00 GMT";
  ssize_t n =
      be_ws_response_101(out, sizeof out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", date, &id, "r-1", 3);
  const char want[] =
      "HTTP/1.1 101 Switching Protocols\r\nServer: journey-backend\r\n"
      "Date: Wed, 02 Dec 2026 14:00:00 GMT\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
      "X-Backend: b1\r\nX-Request-Id: r-1\r\n\r\n";
  assert_int_equal(n, sizeof want - 1);
  assert_memory_equal(out, want, sizeof want - 1);
  n = be_ws_response_101(out, sizeof out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", date, &id, NULL, 0);
  assert_true(n > 0);
  assert_null(strstr(out, "X-Request-Id"));
  assert_int_equal(be_ws_response_101(out, 40, "x", date, &id, NULL, 0), -1);

  /* A 426 built by routes.c carries the headers that say what to send. */
  be_ws_head h;
  be_ws_head_reset(&h);
  be_decision d;
  char accept[BE_WS_ACCEPT_LEN + 1];
  assert_int_equal(be_ws_handshake(&h, 1, 1, &d, accept), 426);
  be_request rq = {
      .method = BE_GET, .method_name = "GET", .target = "/ws", .target_len = 3, .http_minor = 1};
  be_response_meta m = {0, date, "127.0.0.1:1"};
  n = be_response_build(out, sizeof out, &d, &rq, &id, &m);
  assert_true(n > 0);
  out[n] = '\0';
  assert_non_null(strstr(out, "HTTP/1.1 426 Upgrade Required\r\n"));
  assert_non_null(strstr(out, "\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"));
  assert_non_null(strstr(out, "Connection: close\r\n"));
}

static void paths(void **state) {
  assert_true(be_ws_is_path("/ws", 3));
  assert_true(be_ws_is_path("/ws?room=1", 10));
  assert_true(be_ws_is_path("http://www.my-app.com/ws", 24));
  assert_false(be_ws_is_path("/ws/", 4));
  assert_false(be_ws_is_path("/wss", 4));
  assert_false(be_ws_is_path("/", 1));
  assert_false(be_ws_is_path("", 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rfc_example), cmocka_unit_test(header_kinds_and_tokens),
      cmocka_unit_test(refusals),    cmocka_unit_test(response_bytes),
      cmocka_unit_test(paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
