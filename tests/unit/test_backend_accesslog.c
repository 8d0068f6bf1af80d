/* journey-backend access log lines (backend/accesslog.c): the fields an operator greps for, in
 * logfmt and JSON, and batching that never splits a line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/accesslog.h"
#include "backend/websocket.h"

static const be_access_entry entry = {
    .backend = "b1",
    .client = "127.0.0.1:50000",
    .method = "GET",
    .target = "/my-app/data?q=a b",
    .target_len = 18,
    .status = 200,
    .bytes = 512,
    .dur_us = 1234,
    .request_id = "r-1",
    .request_id_len = 3,
    .keep_alive = 1,
};

static void logfmt_line(void **state) {
  jc_logline l;
  be_accesslog_format(&l, JC_LOG_LOGFMT, "2026-11-24T05:14:42.123Z", &entry);
  assert_string_equal(l.buf, "time=2026-11-24T05:14:42.123Z level=info msg=access backend=b1 "
                             "client=127.0.0.1:50000 method=GET path=\"/my-app/data?q=a b\" "
                             "status=200 bytes=512 duration_ms=1.234 request_id=r-1 "
                             "keep_alive=true\n");
}

static void json_line_without_request_id(void **state) {
  be_access_entry e = entry;
  e.request_id = NULL;
  e.keep_alive = 0;
  e.status = 404;
  jc_logline l;
  be_accesslog_format(&l, JC_LOG_JSON, "2026-11-24T05:14:42.123Z", &e);
  assert_string_equal(l.buf, "{\"time\":\"2026-11-24T05:14:42.123Z\",\"level\":\"info\","
                             "\"msg\":\"access\",\"backend\":\"b1\",\"client\":\"127.0.0.1:50000\","
                             "\"method\":\"GET\",\"path\":\"/my-app/data?q=a b\",\"status\":404,"
                             "\"bytes\":512,\"duration_ms\":1.234,\"keep_alive\":false}\n");
}

/* A WebSocket's line, written when it ends: both byte counts, messages, both close codes. */
static void websocket_line(void **state) {
  be_ws_counts n = {.bytes_in = 2097427, .bytes_out = 2097191, .messages = 3, .close_sent = 4000,
                    .close_received = 4000};
  be_access_entry e = entry;
  e.target = "/ws";
  e.target_len = 3;
  e.status = 101;
  e.bytes = (size_t)n.bytes_out;
  e.dur_us = 371816;
  e.ws = &n;
  jc_logline l;
  be_accesslog_format(&l, JC_LOG_LOGFMT, "2026-12-02T14:04:05.282Z", &e);
  assert_string_equal(l.buf, "time=2026-12-02T14:04:05.282Z level=info msg=access backend=b1 "
                             "client=127.0.0.1:50000 method=GET path=/ws status=101 bytes=2097191 "
                             "duration_ms=371.816 request_id=r-1 bytes_in=2097427 messages=3 "
                             "close_sent=4000 close_received=4000\n");
}

/* Many lines through the batch buffer: all arrive, whole, in order. */
static void batching_keeps_lines_whole(void **state) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  static be_accesslog a;
  be_accesslog_init(&a, 1, p[1], JC_LOG_LOGFMT);
  FILE *in = fdopen(p[0], "r");
  assert_non_null(in);
  int lines = 0;
  char line[512];
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 100; i++) /* ~22 KiB: fits the pipe, flushed on demand */
      be_accesslog_add(&a, &entry);
    be_accesslog_flush(&a);
    for (int i = 0; i < 100; i++) {
      assert_non_null(fgets(line, sizeof line, in));
      assert_non_null(strstr(line, " msg=access backend=b1 "));
      assert_int_equal(line[strlen(line) - 1], '\n');
      lines++;
    }
  }
  assert_int_equal(lines, 300);
  be_accesslog disabled;
  be_accesslog_init(&disabled, 0, p[1], JC_LOG_LOGFMT);
  be_accesslog_add(&disabled, &entry);
  assert_int_equal(disabled.len, 0);
  close(p[1]);
  fclose(in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(logfmt_line),
      cmocka_unit_test(json_line_without_request_id),
      cmocka_unit_test(websocket_line),
      cmocka_unit_test(batching_keeps_lines_whole),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
