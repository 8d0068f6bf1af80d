#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/buf.h"

static void append_until_cap(void **state) {
  jc_buf b;
  jc_buf_init(&b, 1000);
  char chunk[300];
  memset(chunk, 'x', sizeof chunk);
  assert_int_equal(jc_buf_append(&b, chunk, 300), 0);
  assert_int_equal(jc_buf_append(&b, chunk, 300), 0);
  assert_int_equal(jc_buf_append(&b, chunk, 300), 0);
  assert_int_equal(jc_buf_len(&b), 900);
  /* 1200 > cap: refused whole, nothing appended */
  assert_int_equal(jc_buf_append(&b, chunk, 300), -1);
  assert_int_equal(jc_buf_len(&b), 900);
  assert_int_equal(jc_buf_append(&b, chunk, 100), 0); /* exactly the cap */
  assert_int_equal(jc_buf_len(&b), 1000);
  assert_int_equal(jc_buf_room(&b), 0);
  assert_int_equal(jc_buf_append(&b, "y", 1), -1);
  assert_true(b.alloc <= 1000); /* never allocates past the cap */
  jc_buf_free(&b);
}

static void consume_makes_room(void **state) {
  jc_buf b;
  jc_buf_init(&b, 16);
  assert_int_equal(jc_buf_append(&b, "0123456789abcdef", 16), 0);
  jc_buf_consume(&b, 10);
  assert_int_equal(jc_buf_len(&b), 6);
  assert_memory_equal(jc_buf_peek(&b), "abcdef", 6);
  assert_int_equal(jc_buf_append(&b, "ghijklmnop", 10), 0); /* compacts in place */
  assert_int_equal(jc_buf_len(&b), 16);
  assert_memory_equal(jc_buf_peek(&b), "abcdefghijklmnop", 16);
  jc_buf_consume(&b, 100); /* clamped */
  assert_int_equal(jc_buf_len(&b), 0);
  jc_buf_free(&b);
}

static void reserve_and_commit(void **state) {
  jc_buf b;
  size_t got = 0;
  jc_buf_init(&b, 64);
  char *p = jc_buf_reserve(&b, 1000, &got);
  assert_non_null(p);
  assert_true(got > 0 && got <= 64);
  memset(p, 'a', got);
  jc_buf_commit(&b, got);
  assert_int_equal(jc_buf_len(&b), got);
  while (jc_buf_room(&b)) {
    p = jc_buf_reserve(&b, 1000, &got);
    assert_non_null(p);
    jc_buf_commit(&b, got);
  }
  assert_null(jc_buf_reserve(&b, 1, &got)); /* full */
  jc_buf_reset(&b, 0);
  assert_int_equal(jc_buf_len(&b), 0);
  assert_null(b.data);
  jc_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(append_until_cap),
      cmocka_unit_test(consume_makes_room),
      cmocka_unit_test(reserve_and_commit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
