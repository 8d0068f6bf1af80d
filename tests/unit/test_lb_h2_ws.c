/* lb/http/h2_ws.c: an extended CONNECT (RFC 8441) into the HTTP/1.1 WebSocket upgrade request
 * the backends read, as lb_rewrite_request writes it, and the backend's 101 into the stream's
 * 200 only with the Sec-WebSocket-Accept of the LB's key (common/ws_accept.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/ws_accept.h"
#include "lb/core/rewrite.h"
#include "lb/http/h2_ws.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455 section 1.3's sample */

typedef struct req {
  char stage[LB_H2_STAGE_SIZE(600, 10)];
  lb_header fields[10];
  lb_h2_req r;
  char scratch[700];
  lb_header hdrs[15];
  lb_h2_head h;
  char out[1200];
} req;

static void start(req *q, const char *const *kv) {
  memset(q, 0, sizeof *q);
  lb_h2_req_init(&q->r, q->stage, 600, q->fields, 10);
  for (; *kv; kv += 2)
    lb_h2_req_add(&q->r, (const uint8_t *)kv[0], strlen(kv[0]), (const uint8_t *)kv[1],
                  strlen(kv[1]));
  assert_int_equal(lb_h2_req_head(&q->r, q->scratch, sizeof q->scratch, q->hdrs, 12, &q->h), 1);
}

/* The head a backend reads, as journey-lb writes it from the converted views. */
static const char *forwarded(req *q) {
  lb_request_view v = {.method = q->r.method.value, .method_len = q->r.method.value_len,
                       .target = q->h.target, .target_len = q->h.target_len, .http_minor = 1,
                       .headers = q->h.hdrs, .nheaders = q->h.nhdrs, .framing = LB_FRAME_NONE};
  lb_forward_info fi = {.client_ip = "192.0.2.1", .proto = "https", .via = "journey-lb"};
  size_t n = lb_rewrite_request(q->out, sizeof q->out - 1, &v, &fi);
  assert_true(n > 0);
  q->out[n] = 0;
  return q->out;
}

static const char *const ws[] = {":method", "CONNECT", ":protocol", "websocket", ":scheme", "https",
                                 ":path", "/chat?room=1", ":authority", "www.my-app.com",
                                 "sec-websocket-version", "13", "sec-websocket-protocol", "chat",
                                 "sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA==", NULL};

static void test_upgrade_request(void **state) {
  (void)state;
  req q;
  const char *why, *term;
  start(&q, ws);
  assert_int_equal(lb_h2_ws_request(&q.r, &q.h, 0, 15, KEY, &why, &term), 0);
  const char *h = forwarded(&q);
  assert_non_null(strstr(h, "GET /chat?room=1 HTTP/1.1\r\n"));
  assert_non_null(strstr(h, "\r\nhost: www.my-app.com\r\n"));
  assert_non_null(strstr(h, "\r\nupgrade: websocket\r\n"));
  assert_non_null(strstr(h, "\r\nConnection: upgrade\r\n"));
  assert_non_null(strstr(h, "\r\nsec-websocket-key: " KEY "\r\n"));
  assert_non_null(strstr(h, "\r\nsec-websocket-version: 13\r\n"));
  assert_non_null(strstr(h, "\r\nsec-websocket-protocol: chat\r\n"));
  assert_null(strstr(h, "AAAAAAAAAAAAAAAAAAAAAA==")); /* the client's key never goes */
  assert_int_equal(lb_forwarded_upgrade(h, strlen(h)), 1);
}

static void test_refusals(void **state) {
  (void)state;
  req q;
  const char *why, *term;
  const char *const h2c[] = {":method", "CONNECT", ":protocol", "h2c", ":scheme", "https",
                             ":path", "/", ":authority", "a", NULL};
  start(&q, h2c);
  assert_int_equal(lb_h2_ws_request(&q.r, &q.h, 0, 15, KEY, &why, &term), 501);
  start(&q, ws);
  assert_int_equal(lb_h2_ws_request(&q.r, &q.h, 1, 15, KEY, &why, &term), 400); /* ended */
  const char *const len[] = {":method", "CONNECT", ":protocol", "websocket", ":scheme", "https",
                             ":path", "/", ":authority", "a", "content-length", "0", NULL};
  start(&q, len);
  assert_int_equal(lb_h2_ws_request(&q.r, &q.h, 0, 15, KEY, &why, &term), 400);
  start(&q, ws); /* no room for the three fields it adds */
  assert_int_equal(lb_h2_ws_request(&q.r, &q.h, 0, q.h.nhdrs + 1, KEY, &why, &term), 431);
  assert_string_equal(term, "header-too-large");
}

static void test_101_checked(void **state) {
  (void)state;
  char accept[JC_WS_ACCEPT_LEN + 1];
  jc_ws_accept(KEY, accept);
  assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 section 1.3 */
  lb_header h[] = {{"Upgrade", "websocket", 7, 9}, {"Connection", "Upgrade", 10, 7},
                   {"Sec-WebSocket-Accept", accept, 20, 28}, {"Sec-WebSocket-Protocol", "chat", 22, 4}};
  lb_response_view v = {.status = 101, .headers = h, .nheaders = 4}, ok;
  lb_header kept[4];
  assert_int_equal(lb_h2_ws_response(&v, KEY, kept, 4, &ok), 0);
  assert_int_equal(ok.status, 200);
  assert_int_equal(ok.nheaders, 3);
  for (size_t i = 0; i < ok.nheaders; i++)
    assert_false(LB_HEADER_IS(ok.headers[i].name, ok.headers[i].name_len, "sec-websocket-accept"));
  char other[JC_WS_KEY_LEN + 1];
  assert_int_equal(jc_ws_key(other), 0);
  assert_int_equal(strlen(other), JC_WS_KEY_LEN);
  assert_int_equal(lb_h2_ws_response(&v, other, kept, 4, &ok), -4); /* another key's accept */
  v.nheaders = 2;                                                     /* none */
  assert_int_equal(lb_h2_ws_response(&v, KEY, kept, 4, &ok), -4);
  v.nheaders = 4;
  assert_int_equal(lb_h2_ws_response(&v, KEY, kept, 2, &ok), -1); /* the fields do not fit */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_upgrade_request),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_101_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
