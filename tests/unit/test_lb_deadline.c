/* lb/deadline.h: a connection timer whose deadline moves lazily must fire exactly when a timer
 * re-armed at every move would, on a real libuv loop (loop time is advanced by hand: uv_run
 * with UV_RUN_NOWAIT after uv_update_time, so the test does not sleep). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "lb/core/deadline.h"

typedef struct {
  uv_timer_t t;
  lb_deadline d;
  int fired;
  uint64_t fired_at;
} conn;

static void on_timer(uv_timer_t *t) {
  conn *c = t->data;
  if (!lb_deadline_reached(t, &c->d))
    return;
  c->fired++;
  c->fired_at = uv_now(t->loop);
}

static void on_other(uv_timer_t *t) {
  conn *c = t->data;
  if (!lb_deadline_reached(t, &c->d))
    return;
  c->fired += 100;
  c->fired_at = uv_now(t->loop);
}

static void sleep_ms(int ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

/* Runs the loop until the connection's timer fired or `limit_ms` passed. */
static void run_until(uv_loop_t *loop, conn *c, int limit_ms) {
  uint64_t end = uv_now(loop) + (uint64_t)limit_ms;
  while (!c->fired && uv_now(loop) < end) {
    sleep_ms(1);
    uv_update_time(loop);
    uv_run(loop, UV_RUN_NOWAIT);
  }
}

static void setup_conn(uv_loop_t *loop, conn *c) {
  *c = (conn){0};
  uv_timer_init(loop, &c->t);
  c->t.data = c;
}

static void close_loop(uv_loop_t *loop, conn *c) {
  uv_close((uv_handle_t *)&c->t, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(loop), 0);
}

static void later_deadline_fires_later(void **state) {
  uv_loop_t loop;
  conn c;
  uv_loop_init(&loop);
  setup_conn(&loop, &c);
  uint64_t t0 = uv_now(&loop);
  lb_deadline_set(&c.t, &c.d, on_timer, 20);
  lb_deadline_set(&c.t, &c.d, on_timer, 60); /* moved later: not re-armed now */
  run_until(&loop, &c, 40);
  /* The early wake-up re-armed for the rest: nothing fired before 60 ms (a loaded machine may
   * oversleep past 60 between two steps; then firing is right). */
  assert_true(c.fired == 0 || c.fired_at >= t0 + 60);
  run_until(&loop, &c, 2000);
  assert_int_equal(c.fired, 1);
  assert_true(c.fired_at >= t0 + 60 && c.fired_at < t0 + 1000);
  close_loop(&loop, &c);
}

static void earlier_deadline_fires_earlier(void **state) {
  uv_loop_t loop;
  conn c;
  uv_loop_init(&loop);
  setup_conn(&loop, &c);
  uint64_t t0 = uv_now(&loop);
  lb_deadline_set(&c.t, &c.d, on_timer, 5000);
  lb_deadline_set(&c.t, &c.d, on_timer, 20);
  run_until(&loop, &c, 1000);
  assert_int_equal(c.fired, 1);
  assert_true(c.fired_at >= t0 + 20 && c.fired_at < t0 + 1000);
  close_loop(&loop, &c);
}

static void cleared_deadline_never_fires(void **state) {
  uv_loop_t loop;
  conn c;
  uv_loop_init(&loop);
  setup_conn(&loop, &c);
  lb_deadline_set(&c.t, &c.d, on_timer, 10);
  lb_deadline_clear(&c.d);
  run_until(&loop, &c, 60);
  assert_int_equal(c.fired, 0);
  /* set again after the stale wake-up: armed anew */
  lb_deadline_set(&c.t, &c.d, on_timer, 10);
  run_until(&loop, &c, 500);
  assert_int_equal(c.fired, 1);
  close_loop(&loop, &c);
}

static void another_callback_rearms(void **state) {
  uv_loop_t loop;
  conn c;
  uv_loop_init(&loop);
  setup_conn(&loop, &c);
  lb_deadline_set(&c.t, &c.d, on_timer, 10);
  lb_deadline_set(&c.t, &c.d, on_other, 30); /* connect timeout -> response timeout */
  run_until(&loop, &c, 500);
  assert_int_equal(c.fired, 100);
  close_loop(&loop, &c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(later_deadline_fires_later),
      cmocka_unit_test(earlier_deadline_fires_earlier),
      cmocka_unit_test(cleared_deadline_never_fires),
      cmocka_unit_test(another_callback_rearms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
