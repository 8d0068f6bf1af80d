/* HAProxy-style timers and the Server-Timing header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lb/core/timing.h"

static lb_timing sample(void) {
  lb_timing t;
  memset(&t, 0, sizeof t);
  t.accept = 1000000;
  t.tls_done = 1002500;   /* Th 2.5 ms */
  t.idle_start = 1002500;
  t.req_start = 1003000;  /* Ti 0.5 ms */
  t.hdr_done = 1003100;   /* TR 0.1 ms */
  t.queued = 1003110;     /* Tw 0.010 ms */
  t.connected = 1003410;  /* Tc 0.3 ms */
  t.sent = 1003450;
  t.first_byte = 1004400;
  t.resp_hdr = 1004410;   /* Tr 1.0 ms */
  t.done = 1004600;       /* Td 0.19 ms */
  t.first_request = 1;
  return t;
}

static void timers_from_timestamps(void **state) {
  lb_timing t = sample();
  lb_timers o;
  lb_timing_compute(&t, &o);
  assert_int_equal(o.Th, 2500);
  assert_int_equal(o.Ti, 500);
  assert_int_equal(o.TR, 100);
  assert_int_equal(o.Tw, 10);
  assert_int_equal(o.Tc, 300);
  assert_int_equal(o.Tr, 1000);
  assert_int_equal(o.Td, 190);
  assert_int_equal(o.Ta, 1600);
  assert_int_equal(o.Tt, 2500 + 500 + 1600);
  t.first_request = 0; /* a later request on the connection: the handshake is not its own */
  lb_timing_compute(&t, &o);
  assert_int_equal(o.Th, 0);
}

static void unreached_phases_are_minus_one(void **state) {
  lb_timing t = sample();
  t.queued = t.connected = t.sent = t.first_byte = t.resp_hdr = 0; /* answered locally (404) */
  lb_timers o;
  lb_timing_compute(&t, &o);
  assert_int_equal(o.Tw, -1);
  assert_int_equal(o.Tc, -1);
  assert_int_equal(o.Tr, -1);
  assert_int_equal(o.Td, -1);
  assert_int_equal(o.Ta, 1600);
  char b[16];
  assert_string_equal(lb_timer_fmt(-1, b, sizeof b), "-1");
  assert_string_equal(lb_timer_fmt(1234567, b, sizeof b), "1234.567");
  assert_string_equal(lb_timer_fmt(5, b, sizeof b), "0.005");
}

static void server_timing_header(void **state) {
  lb_timing t = sample();
  char b[256];
  size_t n = lb_server_timing_format(b, sizeof b, &t, t.resp_hdr);
  assert_string_equal(b, "tls;dur=2.500, queue;dur=0.010, connect;dur=0.300, backend;dur=1.000, "
                         "total;dur=1.410");
  assert_int_equal(n, strlen(b));
  t.first_request = 0;
  lb_server_timing_format(b, sizeof b, &t, t.resp_hdr);
  assert_string_equal(b, "queue;dur=0.010, connect;dur=0.300, backend;dur=1.000, total;dur=1.410");
  t.tls_done = 0; /* plain HTTP, local answer: only what happened */
  t.first_request = 1;
  t.queued = t.connected = t.resp_hdr = 0;
  lb_server_timing_format(b, sizeof b, &t, 1003200);
  assert_string_equal(b, "total;dur=0.200");
  lb_timing full = sample();
  assert_int_equal(lb_server_timing_format(b, 10, &full, 1004410), 0); /* too small */
  assert_string_equal(b, "");
  /* Just room for it and its NUL, or one byte short: whole or nothing. */
  char exact[86];
  assert_int_equal(lb_server_timing_format(exact, 86, &full, 1004410), 85);
  assert_string_equal(exact, "tls;dur=2.500, queue;dur=0.010, connect;dur=0.300, "
                             "backend;dur=1.000, total;dur=1.410");
  assert_int_equal(lb_server_timing_format(exact, 85, &full, 1004410), 0);
  assert_string_equal(exact, "");
  /* The longest items (spans of INT64_MAX microseconds) in place. */
  uint64_t far = (uint64_t)INT64_MAX + 1;
  lb_timing huge = {.req_start = 1, .hdr_done = 1, .queued = far, .connected = far,
                    .resp_hdr = far};
  n = lb_server_timing_format(b, sizeof b, &huge, far);
  assert_string_equal(b, "queue;dur=9223372036854775.807, connect;dur=0.000, "
                         "backend;dur=0.000, total;dur=9223372036854775.807");
  assert_int_equal(n, strlen(b));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(timers_from_timestamps),
      cmocka_unit_test(unreached_phases_are_minus_one),
      cmocka_unit_test(server_timing_header),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
