/* common/blockpool.h: the low-water mark and the trim of the blocks not lent since. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/blockpool.h"

#define SZ 64

static void fill(jc_blockpool *p, char **b, int n) {
  for (int i = 0; i < n; i++)
    b[i] = jc_blockpool_get(p, SZ);
  for (int i = 0; i < n; i++)
    jc_blockpool_put(p, b[i], 100);
}

/* Eight blocks listed; two lent and given back: the six at the bottom are cold and go, the two
 * used stay, the one on top first. */
static void trim_frees_the_bottom_not_lent(void **state) {
  (void)state;
  jc_blockpool p = {.free = NULL};
  char *b[8];
  fill(&p, b, 8); /* top: b[7] */
  jc_blockpool_mark(&p);
  assert_true(jc_blockpool_untouched(&p));
  char *x = jc_blockpool_get(&p, SZ), *y = jc_blockpool_get(&p, SZ);
  assert_ptr_equal(x, b[7]);
  assert_ptr_equal(y, b[6]);
  assert_false(jc_blockpool_untouched(&p));
  jc_blockpool_put(&p, y, 100);
  jc_blockpool_put(&p, x, 100);
  assert_int_equal(p.low, 6);
  assert_int_equal(jc_blockpool_trim(&p), 6);
  assert_int_equal(p.nfree, 2);
  assert_true(jc_blockpool_untouched(&p));
  assert_ptr_equal(jc_blockpool_get(&p, SZ), x);
  assert_ptr_equal(jc_blockpool_get(&p, SZ), y);
  assert_null(p.free);
  free(x);
  free(y);
}

/* Every block lent during the interval: nothing is cold, nothing goes. */
static void trim_keeps_a_busy_list(void **state) {
  (void)state;
  jc_blockpool p = {.free = NULL};
  char *b[4];
  fill(&p, b, 4);
  jc_blockpool_mark(&p);
  fill(&p, b, 4); /* all four lent and given back */
  assert_int_equal(p.low, 0);
  assert_int_equal(jc_blockpool_trim(&p), 0);
  assert_int_equal(p.nfree, 4);
  /* the next interval, untouched: all four are cold */
  assert_int_equal(jc_blockpool_trim(&p), 4);
  assert_int_equal(p.nfree, 0);
  assert_null(p.free);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(trim_frees_the_bottom_not_lent),
      cmocka_unit_test(trim_keeps_a_busy_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
