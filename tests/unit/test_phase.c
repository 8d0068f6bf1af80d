#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/clock.h"
#include "common/phase.h"

static void durations_and_offsets(void **state) {
  jc_phase_timer t;
  jc_phase_start(&t, 1000);
  assert_int_equal(jc_phase_mark(&t, "dns", 1500), 0);
  assert_int_equal(jc_phase_mark(&t, "tcp", 1700), 0);
  assert_int_equal(jc_phase_mark(&t, "tls", 4700), 0);
  assert_int_equal(t.count, 3);
  assert_int_equal(jc_phase_duration_us(&t, 0), 500);
  assert_int_equal(jc_phase_duration_us(&t, 1), 200);
  assert_int_equal(jc_phase_duration_us(&t, 2), 3000);
  assert_int_equal(jc_phase_offset_us(&t, 0), 500);
  assert_int_equal(jc_phase_offset_us(&t, 2), 3700);
  assert_int_equal(jc_phase_total_us(&t), 3700);
  assert_int_equal(jc_phase_find(&t, "tcp"), 1);
  assert_int_equal(jc_phase_find(&t, "http"), -1);
  assert_int_equal(jc_phase_duration_us(&t, 3), 0); /* out of range */
}

static void clock_going_back_never_negative(void **state) {
  jc_phase_timer t;
  jc_phase_start(&t, 1000);
  jc_phase_mark(&t, "a", 2000);
  jc_phase_mark(&t, "b", 1500); /* earlier read than the previous mark */
  assert_int_equal(jc_phase_duration_us(&t, 1), 0);
  assert_int_equal(jc_phase_offset_us(&t, 1), 1000);
}

static void full_timer_refuses(void **state) {
  jc_phase_timer t;
  jc_phase_start(&t, 0);
  for (int i = 0; i < JC_PHASE_MAX; i++)
    assert_int_equal(jc_phase_mark(&t, "p", (uint64_t)i), 0);
  assert_int_equal(jc_phase_mark(&t, "overflow", 99), -1);
  assert_int_equal(t.count, JC_PHASE_MAX);
}

static void format_line(void **state) {
  jc_phase_timer t;
  char buf[128];
  jc_phase_start(&t, 0);
  jc_phase_mark(&t, "dns", 1234);
  jc_phase_mark(&t, "tcp", 2000);
  int n = jc_phase_format(&t, buf, sizeof buf);
  assert_string_equal(buf, "dns=1.234ms(+1.234) tcp=0.766ms(+2.000)");
  assert_int_equal(n, (int)strlen(buf));
  char small[10];
  n = jc_phase_format(&t, small, sizeof small);
  assert_int_equal(n, (int)strlen(buf)); /* snprintf-like: the length it needed */
  assert_int_equal(strlen(small), sizeof small - 1);
}

static void monotonic_clock_advances(void **state) {
  uint64_t a = jc_now_us(), b = jc_now_us();
  assert_true(b >= a);
  char ms[32];
  assert_string_equal(jc_fmt_ms(12345, ms, sizeof ms), "12.345");
  assert_string_equal(jc_fmt_ms(7, ms, sizeof ms), "0.007");
  char ts[40];
  jc_wall_rfc3339(ts, sizeof ts);
  assert_int_equal(strlen(ts), 24); /* 2026-11-24T05:14:42.123Z */
  assert_int_equal(ts[23], 'Z');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(durations_and_offsets),
      cmocka_unit_test(clock_going_back_never_negative),
      cmocka_unit_test(full_timer_refuses),
      cmocka_unit_test(format_line),
      cmocka_unit_test(monotonic_clock_advances),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
