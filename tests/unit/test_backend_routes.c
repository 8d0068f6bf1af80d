/* journey-backend routing and response building (backend/routes.c): every route's decision,
 * and the exact bytes of the responses a client and the load balancer read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "backend/routes.h"

static be_request req(be_method m, const char *target) {
  static const char *const names[] = {"GET", "HEAD", "POST", "DELETE"};
  be_request r;
  memset(&r, 0, sizeof r);
  r.method = m;
  r.method_name = names[m];
  r.target = target;
  r.target_len = strlen(target);
  r.http_minor = 1;
  r.peer_loopback = 1;
  r.body_complete = 1;
  return r;
}

static const be_state healthy = {1, 0, 0.0, 0.5};

/* Table of routing decisions: method, target, state -> status, Allow, delayed. */
static void route_table(void **state) {
  be_state admin = healthy, down = healthy, failing = healthy;
  admin.admin = 1;
  down.healthy = 0;
  failing.fail_rate = 1.0;
  failing.fail_draw = 0.999;
  const struct {
    be_method m;
    const char *target;
    const be_state *st;
    int status;
    const char *allow;
    int delayed;
    be_body_kind body;
  } cases[] = {
      {BE_GET, "/my-app/data", &healthy, 200, NULL, 1, BE_BODY_DATA},
      {BE_HEAD, "/my-app/data", &healthy, 200, NULL, 1, BE_BODY_DATA},
      {BE_GET, "/my-app/data?x=1&y=2", &healthy, 200, NULL, 1, BE_BODY_DATA},
      {BE_GET, "http://www.my-app.com/my-app/data", &healthy, 200, NULL, 1, BE_BODY_DATA},
      {BE_GET, "/my-app/data", &down, 200, NULL, 1, BE_BODY_DATA}, /* health is /health only */
      {BE_GET, "/my-app/data", &failing, 500, NULL, 1, BE_BODY_TEXT},
      {BE_POST, "/my-app/data", &healthy, 405, "GET, HEAD", 0, BE_BODY_TEXT},
      {BE_OTHER_METHOD, "/my-app/data", &healthy, 405, "GET, HEAD", 0, BE_BODY_TEXT},
      {BE_GET, "/health", &healthy, 200, NULL, 0, BE_BODY_TEXT},
      {BE_HEAD, "/health", &healthy, 200, NULL, 0, BE_BODY_TEXT},
      {BE_GET, "/health", &down, 503, NULL, 0, BE_BODY_TEXT},
      {BE_POST, "/health", &healthy, 405, "GET, HEAD", 0, BE_BODY_TEXT},
      {BE_GET, "/", &healthy, 404, NULL, 0, BE_BODY_TEXT},
      {BE_GET, "/my-app/data/", &healthy, 404, NULL, 0, BE_BODY_TEXT},
      {BE_GET, "/my-app/dat", &healthy, 404, NULL, 0, BE_BODY_TEXT},
      {BE_GET, "/MY-APP/DATA", &healthy, 404, NULL, 0, BE_BODY_TEXT},
      {BE_GET, "*", &healthy, 404, NULL, 0, BE_BODY_TEXT},
      {BE_POST, "/admin/health", &healthy, 404, NULL, 0, BE_BODY_TEXT}, /* no --admin */
      {BE_GET, "/admin/health", &admin, 405, "POST", 0, BE_BODY_TEXT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    be_request r = req(cases[i].m, cases[i].target);
    be_decision d;
    be_route(&r, cases[i].st, &d);
    char what[128];
    snprintf(what, sizeof what, "case %zu: %s", i, cases[i].target);
    if (d.status != cases[i].status)
      fail_msg("%s: status %d, want %d", what, d.status, cases[i].status);
    if (!!d.allow != !!cases[i].allow || (d.allow && strcmp(d.allow, cases[i].allow)))
      fail_msg("%s: Allow '%s', want '%s'", what, d.allow ? d.allow : "(none)",
               cases[i].allow ? cases[i].allow : "(none)");
    if (d.delayed != cases[i].delayed)
      fail_msg("%s: delayed %d, want %d", what, d.delayed, cases[i].delayed);
    assert_int_equal(d.body, cases[i].body);
    assert_int_equal(d.health, BE_HEALTH_KEEP);
    assert_false(d.close);
  }
}

static void fail_rate_draws(void **state) {
  be_request r = req(BE_GET, "/my-app/data");
  be_decision d;
  be_state st = healthy;
  st.fail_rate = 0.1;
  st.fail_draw = 0.05;
  be_route(&r, &st, &d);
  assert_int_equal(d.status, 500);
  st.fail_draw = 0.1; /* not below the rate */
  be_route(&r, &st, &d);
  assert_int_equal(d.status, 200);
  st.fail_rate = 0.0;
  st.fail_draw = 0.0;
  be_route(&r, &st, &d);
  assert_int_equal(d.status, 200);
}

static void admin_health(void **state) {
  be_state st = healthy;
  st.admin = 1;
  be_decision d;
  const struct {
    const char *body;
    int loopback, status;
    be_health_change change;
  } cases[] = {
      {"down", 1, 200, BE_HEALTH_SET_DOWN}, {"up", 1, 200, BE_HEALTH_SET_UP},
      {"up\n", 1, 200, BE_HEALTH_SET_UP},   {"down\r\n", 1, 200, BE_HEALTH_SET_DOWN},
      {"sideways", 1, 400, BE_HEALTH_KEEP}, {"", 1, 400, BE_HEALTH_KEEP},
      {"upup", 1, 400, BE_HEALTH_KEEP},     {"down", 0, 403, BE_HEALTH_KEEP},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    be_request r = req(BE_POST, "/admin/health");
    r.body = cases[i].body;
    r.body_len = strlen(cases[i].body);
    r.peer_loopback = cases[i].loopback;
    be_route(&r, &st, &d);
    assert_int_equal(d.status, cases[i].status);
    assert_int_equal(d.health, cases[i].change);
  }
  /* A body cut short (longer than what the server keeps) is not "up". */
  be_request r = req(BE_POST, "/admin/health");
  r.body = "up";
  r.body_len = 2;
  r.body_complete = 0;
  be_route(&r, &st, &d);
  assert_int_equal(d.status, 400);
}

static void error_decisions(void **state) {
  const int statuses[] = {400, 408, 413, 431, 505};
  for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
    be_decision d;
    be_error_decision(statuses[i], &d);
    assert_int_equal(d.status, statuses[i]);
    assert_true(d.close);
    assert_non_null(d.text);
    assert_string_not_equal(be_status_reason(statuses[i]), "Unknown");
  }
}

/* ---- response bytes ---- */

static be_identity ident(void) {
  be_identity id;
  assert_int_equal(be_identity_init(&id, "b1", "127.0.0.1:9001"), 0);
  return id;
}

static const char DATE[] = "Tue, 24 Nov 2026 05:14:42 GMT";

static size_t build(char *out, size_t cap, const be_decision *d, const be_request *r,
                    int keep_alive) {
  be_identity id = ident();
  be_response_meta m = {keep_alive, DATE, "127.0.0.1:50000"};
  ssize_t n = be_response_build(out, cap, d, r, &id, &m);
  assert_true(n > 0);
  out[n] = '\0';
  return (size_t)n;
}

static const char *body_of(const char *resp) {
  const char *p = strstr(resp, "\r\n\r\n");
  assert_non_null(p);
  return p + 4;
}

static void data_response_exact(void **state) {
  be_request r = req(BE_GET, "/my-app/data");
  r.request_id = "req-42";
  r.request_id_len = 6;
  r.xff = "203.0.113.7, 10.0.0.1";
  r.xff_len = strlen(r.xff);
  be_decision d;
  be_route(&r, &healthy, &d);
  char out[BE_RESPONSE_MAX + 1];
  build(out, BE_RESPONSE_MAX, &d, &r, 1);
  const char *body = body_of(out);
  char head[1024];
  snprintf(head, sizeof head,
           "HTTP/1.1 200 OK\r\n"
           "Server: journey-backend\r\n"
           "Date: %s\r\n"
           "Content-Type: application/json\r\n"
           "Content-Length: %zu\r\n"
           "X-Backend: b1\r\n"
           "X-Request-Id: req-42\r\n"
           "\r\n",
           DATE, strlen(body));
  assert_memory_equal(out, head, strlen(head));
  assert_string_equal(
      body, "{\"backend\":\"b1\",\"listen\":\"127.0.0.1:9001\",\"client\":\"127.0.0.1:50000\","
            "\"request_id\":\"req-42\",\"x_forwarded_for\":\"203.0.113.7, 10.0.0.1\","
            "\"method\":\"GET\",\"path\":\"/my-app/data\",\"http_version\":\"1.1\","
            "\"items\":[{\"id\":1,\"name\":\"laptop\",\"city\":\"Seoul\",\"qty\":1},"
            "{\"id\":2,\"name\":\"router\",\"city\":\"Seoul\",\"qty\":2},"
            "{\"id\":3,\"name\":\"load-balancer\",\"city\":\"Azure\",\"qty\":3}]}\n");
}

static void data_without_ids_is_null(void **state) {
  be_request r = req(BE_GET, "/my-app/data");
  be_decision d;
  be_route(&r, &healthy, &d);
  char out[BE_RESPONSE_MAX + 1];
  build(out, BE_RESPONSE_MAX, &d, &r, 1);
  assert_non_null(strstr(body_of(out), "\"request_id\":null,\"x_forwarded_for\":null,"));
  assert_null(strstr(out, "X-Request-Id"));
}

static void head_has_length_but_no_body(void **state) {
  be_request g = req(BE_GET, "/my-app/data"), h = req(BE_HEAD, "/my-app/data");
  be_decision d;
  be_route(&g, &healthy, &d);
  char og[BE_RESPONSE_MAX + 1], oh[BE_RESPONSE_MAX + 1];
  size_t ng = build(og, BE_RESPONSE_MAX, &d, &g, 1);
  size_t nh = build(oh, BE_RESPONSE_MAX, &d, &h, 1);
  size_t head_len = (size_t)(body_of(og) - og);
  assert_int_equal(nh, head_len); /* HEAD: exactly the GET headers */
  assert_memory_equal(og, oh, head_len);
  assert_true(ng > nh);
}

static void connection_headers(void **state) {
  be_request r = req(BE_GET, "/health");
  be_decision d;
  be_route(&r, &healthy, &d);
  char out[BE_RESPONSE_MAX + 1];
  build(out, BE_RESPONSE_MAX, &d, &r, 1); /* 1.1 keep-alive: implicit */
  assert_null(strstr(out, "Connection:"));
  assert_string_equal(body_of(out), "ok");
  assert_non_null(strstr(out, "Content-Length: 2\r\n"));
  build(out, BE_RESPONSE_MAX, &d, &r, 0);
  assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
  r.http_minor = 0; /* 1.0 keep-alive must be said */
  build(out, BE_RESPONSE_MAX, &d, &r, 1);
  assert_non_null(strstr(out, "\r\nConnection: keep-alive\r\n"));
  build(out, BE_RESPONSE_MAX, &d, &r, 0);
  assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
}

static void method_not_allowed_has_allow(void **state) {
  be_request r = req(BE_POST, "/my-app/data");
  be_decision d;
  be_route(&r, &healthy, &d);
  char out[BE_RESPONSE_MAX + 1];
  build(out, BE_RESPONSE_MAX, &d, &r, 1);
  assert_memory_equal(out, "HTTP/1.1 405 Method Not Allowed\r\n", 33);
  assert_non_null(strstr(out, "\r\nAllow: GET, HEAD\r\n"));
}

static void error_response_without_request(void **state) {
  be_decision d;
  be_error_decision(431, &d);
  char out[BE_RESPONSE_MAX + 1];
  build(out, BE_RESPONSE_MAX, &d, NULL, 0);
  assert_memory_equal(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46);
  assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
  char want[64];
  snprintf(want, sizeof want, "Content-Length: %zu\r\n", strlen(d.text));
  assert_non_null(strstr(out, want));
}

static void hostile_header_values_stay_valid_json(void **state) {
  be_request r = req(BE_GET, "/my-app/data");
  static const char rid[] = "a\"b\\c\td\x01\xff";
  r.request_id = rid;
  r.request_id_len = sizeof rid - 1;
  char xff[BE_XFF_MAX];
  memset(xff, '"', sizeof xff); /* worst case: every byte escaped */
  r.xff = xff;
  r.xff_len = sizeof xff;
  char long_rid[BE_REQUEST_ID_MAX];
  memset(long_rid, 0x7f, sizeof long_rid);
  be_decision d;
  be_route(&r, &healthy, &d);
  char out[BE_RESPONSE_MAX + 1];
  build(out, BE_RESPONSE_MAX, &d, &r, 1);
  assert_non_null(strstr(body_of(out), "\"request_id\":\"a\\\"b\\\\c\\td\\u0001\\u00ff\""));
  r.request_id = long_rid;
  r.request_id_len = sizeof long_rid; /* the longest of both still fits BE_RESPONSE_MAX */
  build(out, BE_RESPONSE_MAX, &d, &r, 1);
}

static void too_small_buffer_is_refused(void **state) {
  be_request r = req(BE_GET, "/my-app/data");
  be_decision d;
  be_route(&r, &healthy, &d);
  be_identity id = ident();
  be_response_meta m = {1, DATE, "127.0.0.1:50000"};
  char out[BE_RESPONSE_MAX];
  ssize_t full = be_response_build(out, sizeof out, &d, &r, &id, &m);
  assert_true(full > 0);
  assert_int_equal(be_response_build(out, (size_t)full - 1, &d, &r, &id, &m), -1);
  assert_int_equal(be_response_build(out, (size_t)full, &d, &r, &id, &m), full);
}

static void json_escape(void **state) {
  char out[64];
  assert_int_equal(be_json_escape(out, sizeof out, "plain", 5), 5);
  assert_memory_equal(out, "plain", 5);
  assert_int_equal(be_json_escape(out, sizeof out, "\n", 1), 2);
  assert_memory_equal(out, "\\n", 2);
  assert_int_equal(be_json_escape(out, 5, "\x02", 1), -1); /* needs 6 */
  assert_int_equal(be_json_escape(out, 6, "\x02", 1), 6);
  assert_memory_equal(out, "\\u0002", 6);
}

static void delay_pick(void **state) {
  assert_int_equal(be_delay_pick(50, 50, 0.7), 50);
  assert_int_equal(be_delay_pick(20, 80, 0.0), 20);
  assert_int_equal(be_delay_pick(20, 80, 0.99999), 80);
  for (double x = 0; x < 1.0; x += 0.01) {
    unsigned v = be_delay_pick(20, 80, x);
    assert_true(v >= 20 && v <= 80);
  }
}

static void identity_limits(void **state) {
  be_identity id;
  assert_int_equal(be_identity_init(&id, "b1", "[::1]:9001"), 0);
  assert_string_equal(id.json_head, "{\"backend\":\"b1\",\"listen\":\"[::1]:9001\",");
  assert_string_equal(id.name_header, "X-Backend: b1\r\n");
  char longname[200];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(be_identity_init(&id, longname, "127.0.0.1:1"), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(route_table),
      cmocka_unit_test(fail_rate_draws),
      cmocka_unit_test(admin_health),
      cmocka_unit_test(error_decisions),
      cmocka_unit_test(data_response_exact),
      cmocka_unit_test(data_without_ids_is_null),
      cmocka_unit_test(head_has_length_but_no_body),
      cmocka_unit_test(connection_headers),
      cmocka_unit_test(method_not_allowed_has_allow),
      cmocka_unit_test(error_response_without_request),
      cmocka_unit_test(hostile_header_values_stay_valid_json),
      cmocka_unit_test(too_small_buffer_is_refused),
      cmocka_unit_test(json_escape),
      cmocka_unit_test(delay_pick),
      cmocka_unit_test(identity_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
