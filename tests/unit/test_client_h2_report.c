/* client/h2_report.c: the HTTP/2 frame report (recording with DATA merging and a bounded list,
 * the human lines, the --json object) and the request's HTTP/2 header fields; stats.c and
 * report.c: streams per connection over HTTP/2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/h2_report.h"
#include "client/report.h"
#include "client/stats.h"

enum { DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, GOAWAY = 7, WINDOW_UPDATE = 8 };

static jn_h2_frame frame(uint64_t t, int sent, uint8_t type, int32_t stream, uint32_t len, uint8_t flags) {
  jn_h2_frame f = {.t_us = t, .sent = (uint8_t)sent, .type = type, .stream = stream, .length = len, .flags = flags};
  return f;
}

/* Writes what fn prints into a string (the caller frees it). */
static char *capture(void (*fn)(FILE *, const jn_h2_info *, const char *), const jn_h2_info *h) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  fn(f, h, "  ");
  fclose(f);
  return buf;
}

static void json_fn(FILE *f, const jn_h2_info *h, const char *indent) {
  (void)indent;
  jn_h2_report_json(f, h);
}

static void names(void **state) {
  (void)state;
  assert_string_equal(jn_h2_frame_name(HEADERS), "HEADERS");
  assert_string_equal(jn_h2_frame_name(WINDOW_UPDATE), "WINDOW_UPDATE");
  assert_string_equal(jn_h2_frame_name(200), "UNKNOWN");
  assert_string_equal(jn_h2_setting_name(3), "max_concurrent_streams");
  assert_string_equal(jn_h2_setting_name(4), "initial_window_size");
  assert_string_equal(jn_h2_error_name(8), "CANCEL");
  assert_string_equal(jn_h2_error_name(11), "ENHANCE_YOUR_CALM");
  assert_string_equal(jn_h2_error_name(99), "UNKNOWN_ERROR");
}

static void data_frames_merge(void **state) {
  (void)state;
  jn_h2_info h = {0};
  jn_h2_frame f = frame(100, 0, HEADERS, 1, 40, 0x4);
  jn_h2_frame_record(&h, &f);
  for (int i = 0; i < 5; i++) {
    f = frame(200 + (uint64_t)i, 0, DATA, 1, 1000, 0);
    jn_h2_frame_record(&h, &f);
  }
  f = frame(300, 1, WINDOW_UPDATE, 0, 4, 0);
  f.detail = 5000;
  jn_h2_frame_record(&h, &f);
  f = frame(400, 0, DATA, 1, 10, 0x1); /* END_STREAM: a row of its own */
  jn_h2_frame_record(&h, &f);
  assert_int_equal(h.frames_total, 8);
  assert_int_equal(h.frame_n, 4);
  assert_int_equal(h.frames[1].count, 5);
  assert_int_equal(h.frames[1].length, 5000);
  assert_int_equal(h.frames[1].t_us, 200);
  assert_int_equal(h.frames[1].t_last_us, 204);
  assert_int_equal(h.frames[3].flags, 0x1);
  char line[160];
  jn_h2_frame_line(line, sizeof line, &h.frames[1]);
  assert_string_equal(line, "+0.200 ms  < DATA          stream 1 x5  5000 B");
  jn_h2_frame_line(line, sizeof line, &h.frames[2]);
  assert_string_equal(line, "+0.300 ms  > WINDOW_UPDATE stream 0  4 B  increment 5000");
  jn_h2_frame_line(line, sizeof line, &h.frames[0]);
  assert_string_equal(line, "+0.100 ms  < HEADERS       stream 1  40 B  END_HEADERS");
}

static void list_is_bounded_and_keeps_the_end(void **state) {
  (void)state;
  jn_h2_info h = {0};
  for (int i = 0; i < 200; i++) { /* alternating streams: nothing merges */
    jn_h2_frame f = frame((uint64_t)i, 0, DATA, 1 + 2 * (i % 2), 100, 0);
    jn_h2_frame_record(&h, &f);
  }
  jn_h2_frame f = frame(999, 0, RST_STREAM, 3, 4, 0);
  f.detail = 8;
  jn_h2_frame_record(&h, &f);
  assert_int_equal(h.frame_n, JN_H2_FRAMES_MAX);
  assert_int_equal(h.frames_total, 201);
  assert_int_equal(h.frames[JN_H2_FRAMES_MAX - 1].type, RST_STREAM);
  h.used = 1;
  char *out = capture(jn_h2_report_human, &h);
  assert_non_null(strstr(out, "... 153 more frames ..."));
  assert_non_null(strstr(out, "< RST_STREAM    stream 3  4 B  CANCEL"));
  free(out);
}

static void human_and_json(void **state) {
  (void)state;
  jn_h2_info h = {.used = 1, .stream_id = 1, .req_hpack = 30, .req_raw = 120, .resp_hpack = 20, .resp_raw = 90};
  h.settings_n = 2;
  h.settings[0].id = 3, h.settings[0].value = 100;
  h.settings[1].id = 4, h.settings[1].value = 65535;
  jn_h2_frame f = frame(1000, 1, SETTINGS, 0, 18, 0);
  jn_h2_frame_record(&h, &f);
  f = frame(1500, 1, HEADERS, 1, 30, 0x5);
  jn_h2_frame_record(&h, &f);
  f = frame(2500, 0, GOAWAY, 0, 8, 0);
  jn_h2_frame_record(&h, &f);
  char *out = capture(jn_h2_report_human, &h);
  assert_non_null(strstr(out, "ALPN h2, stream 1, HPACK headers: request 30 B (120 B as text), response 20 B (90 B"));
  assert_non_null(strstr(out, "SETTINGS max_concurrent_streams=100 initial_window_size=65535\n"));
  assert_non_null(strstr(out, "frames   +1.000 ms  > SETTINGS      stream 0  18 B\n"));
  assert_non_null(strstr(out, "> HEADERS       stream 1  30 B  END_STREAM END_HEADERS\n"));
  assert_non_null(strstr(out, "< GOAWAY        stream 0  8 B  NO_ERROR\n"));
  free(out);
  out = capture(json_fn, &h);
  assert_non_null(strstr(out, ",\"h2\":{\"negotiated\":\"alpn\",\"stream_id\":1,\"streams_on_connection\":1"));
  assert_non_null(strstr(out, "\"hpack\":{\"request_bytes\":30,\"request_raw_bytes\":120,\"response_bytes\":20,"));
  assert_non_null(strstr(out, "\"settings\":{\"max_concurrent_streams\":100,\"initial_window_size\":65535}"));
  assert_non_null(strstr(out, "{\"t_us\":1500,\"direction\":\"sent\",\"type\":\"HEADERS\",\"stream\":1,\"length\":30,"
                              "\"count\":1,\"flags\":[\"END_STREAM\",\"END_HEADERS\"]}"));
  assert_non_null(strstr(out, "\"type\":\"GOAWAY\",\"stream\":0,\"length\":8,\"count\":1,\"flags\":[],\"error\":\"NO_ERROR\"}]}"));
  free(out);
  jn_h2_info none = {0};
  h.prior_knowledge = 1;
  out = capture(jn_h2_report_human, &h);
  assert_non_null(strstr(out, "h2       cleartext, prior knowledge, stream 1,"));
  free(out);
  out = capture(json_fn, &h);
  assert_non_null(strstr(out, "{\"negotiated\":\"prior-knowledge\","));
  free(out);
  out = capture(json_fn, &none);
  assert_string_equal(out, ",\"h2\":null");
  free(out);
  out = capture(jn_h2_report_human, &none);
  assert_string_equal(out, "");
  free(out);
}

static void request_fields(void **state) {
  (void)state;
  const char *req = "POST /a?b=1 HTTP/1.1\r\nHost: www.my-app.com:8443\r\nUser-Agent: journey/1\r\n"
                    "Connection: keep-alive\r\nKeep-Alive: 5\r\nTE: gzip\r\nX-Mixed-Case:  v  \r\n\r\nbody";
  jn_h2_field f[16];
  char store[256];
  int n = jn_h2_request_fields(req, strlen(req), "https", NULL, f, 16, store, sizeof store);
  assert_int_equal(n, 6);
  const char *want[][2] = {{":method", "POST"}, {":scheme", "https"}, {":authority", "www.my-app.com:8443"},
                           {":path", "/a?b=1"}, {"user-agent", "journey/1"}, {"x-mixed-case", "v"}};
  for (int i = 0; i < n; i++) {
    assert_int_equal(f[i].name_len, strlen(want[i][0]));
    assert_memory_equal(f[i].name, want[i][0], f[i].name_len);
    assert_int_equal(f[i].value_len, strlen(want[i][1]));
    assert_memory_equal(f[i].value, want[i][1], f[i].value_len);
  }
  const char *nohost = "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"; /* -H 'Host:' */
  assert_int_equal(jn_h2_request_fields(nohost, strlen(nohost), "https", NULL, f, 16, store, sizeof store), -1);
  assert_int_equal(jn_h2_request_fields(nohost, strlen(nohost), "https", "www.my-app.com:443", f, 16, store,
                                        sizeof store),
                   5);
  assert_memory_equal(f[2].value, "www.my-app.com:443", f[2].value_len);
  assert_int_equal(f[2].value_len, 18);
  assert_int_equal(jn_h2_request_fields("garbage", 7, "https", NULL, f, 16, store, sizeof store), -1);
  assert_int_equal(jn_h2_request_fields(req, strlen(req), "https", NULL, f, 5, store, sizeof store), -1);
}

/* -n/-c over HTTP/2: how many streams each connection carried, in the statistics and --json. */
static void stats_streams_per_connection(void **state) {
  (void)state;
  jn_stats st;
  assert_int_equal(jn_stats_init(&st, 8), 0);
  jn_result *r = calloc(1, sizeof *r);
  char err[128];
  jn_url_parse("https://www.my-app.com/", &r->url, err, sizeof err);
  r->status = 200;
  for (int i = 0; i < 5; i++) { /* two connections: 3 streams and 2 streams, 3 at once at most */
    r->h2.used = 1;
    r->h2.streams_on_conn = i < 3 ? 3 : 2;
    r->num_connects = i == 0 || i == 3;
    r->tcp_reused = !r->num_connects;
    jn_stats_add(&st, r);
  }
  memset(&r->h2, 0, sizeof r->h2); /* and one over HTTP/1.1 */
  r->num_connects = 1, r->tcp_reused = 0;
  jn_stats_add(&st, r);
  assert_int_equal(st.h2_streams, 5);
  assert_int_equal(st.h2_conns, 2);
  assert_int_equal(st.h2_at_once, 3);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  jn_report_opts o = {0};
  jn_report_stats_human(f, &st, 6, 3, &o);
  fclose(f);
  assert_non_null(strstr(buf, "  HTTP/2: 5 streams over 2 connections (2.5 per connection, up to 3 at once on each)\n"));
  free(buf);
  f = open_memstream(&buf, &len);
  jn_report_json(f, r, &st, 6, 3, NULL);
  fclose(f);
  assert_non_null(strstr(buf, "\"h2_streams\":5,\"h2_connections\":2,\"h2_streams_at_once\":3"));
  assert_non_null(strstr(buf, "\"h2\":null")); /* the shown request went over HTTP/1.1 */
  free(buf);
  free(r);
  jn_stats_free(&st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(names),          cmocka_unit_test(data_frames_merge),
      cmocka_unit_test(list_is_bounded_and_keeps_the_end), cmocka_unit_test(human_and_json),
      cmocka_unit_test(request_fields), cmocka_unit_test(stats_streams_per_connection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
