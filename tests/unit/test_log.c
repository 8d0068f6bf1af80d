#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/log.h"

static void logfmt_quoting_and_escaping(void **state) {
  jc_logline l;
  jc_logline_init(&l, JC_LOG_LOGFMT);
  jc_logline_str(&l, "plain", "GET");
  jc_logline_str(&l, "space", "two words");
  jc_logline_str(&l, "quote", "say \"hi\"");
  jc_logline_str(&l, "nl", "a\nb");
  jc_logline_str(&l, "eq", "a=b");
  jc_logline_str(&l, "empty", "");
  jc_logline_str(&l, "ctl", "\x01");
  jc_logline_int(&l, "n", -42);
  jc_logline_ms(&l, "Tt", 12345);
  jc_logline_bool(&l, "reused", 1);
  assert_string_equal(jc_logline_finish(&l),
                      "plain=GET space=\"two words\" quote=\"say \\\"hi\\\"\" nl=\"a\\nb\" "
                      "eq=\"a=b\" empty=\"\" ctl=\"\\u0001\" n=-42 Tt=12.345 reused=true\n");
}

static void json_escaping(void **state) {
  jc_logline l;
  jc_logline_init(&l, JC_LOG_JSON);
  jc_logline_str(&l, "path", "/my-app/data");
  jc_logline_str(&l, "q", "a \"b\"\n\\c\t");
  jc_logline_uint(&l, "status", 200);
  jc_logline_ms(&l, "Tr", 7);
  jc_logline_printf(&l, "who", "%s-%d", "b", 2);
  assert_string_equal(
      jc_logline_finish(&l),
      "{\"path\":\"/my-app/data\",\"q\":\"a \\\"b\\\"\\n\\\\c\\t\",\"status\":200,\"Tr\":0.007,"
      "\"who\":\"b-2\"}\n");
  /* finishing twice changes nothing */
  assert_string_equal(jc_logline_finish(&l) + strlen(l.buf) - 2, "}\n");
}

static void truncation_keeps_line_parseable(void **state) {
  static char big[JC_LOGLINE_MAX * 2];
  memset(big, 'z', sizeof big - 1);
  for (int f = 0; f < 2; f++) {
    jc_logline l;
    jc_logline_init(&l, f ? JC_LOG_JSON : JC_LOG_LOGFMT);
    jc_logline_str(&l, "a", "1");
    jc_logline_str(&l, "big", big);
    jc_logline_str(&l, "after", "x");
    const char *s = jc_logline_finish(&l);
    assert_true(strlen(s) < JC_LOGLINE_MAX);
    if (f) {
      assert_string_equal(s, "{\"a\":\"1\",\"truncated\":true}\n");
    } else {
      assert_string_equal(s, "a=1 truncated=true\n");
    }
  }
}

static void levels_and_formats_parse(void **state) {
  assert_int_equal(jc_log_level_parse("debug"), JC_LOG_DEBUG);
  assert_int_equal(jc_log_level_parse("info"), JC_LOG_INFO);
  assert_int_equal(jc_log_level_parse("warning"), JC_LOG_WARN);
  assert_int_equal(jc_log_level_parse("loud"), -1);
  assert_int_equal(jc_log_format_parse("json"), JC_LOG_JSON);
  assert_int_equal(jc_log_format_parse("xml"), -1);
  jc_log_setup(JC_LOG_WARN, JC_LOG_JSON);
  assert_false(jc_log_enabled(JC_LOG_INFO));
  assert_true(jc_log_enabled(JC_LOG_ERROR));
  jc_logline l;
  jc_log_begin(&l, JC_LOG_WARN, "backend down");
  const char *s = jc_logline_finish(&l);
  assert_true(strncmp(s, "{\"time\":\"", 9) == 0);
  assert_non_null(strstr(s, "\"level\":\"warn\",\"msg\":\"backend down\"}"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(logfmt_quoting_and_escaping),
      cmocka_unit_test(json_escaping),
      cmocka_unit_test(truncation_keeps_line_parseable),
      cmocka_unit_test(levels_and_formats_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
