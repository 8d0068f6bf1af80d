/* Balancer: smooth weighted round-robin and weighted least-connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/balancer.h"

static void make_pool(lb_pool *p, lb_algo algo, const int *weights, int n) {
  lb_pool_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  snprintf(cfg.name, sizeof cfg.name, "test");
  cfg.algo = algo;
  cfg.nservers = n;
  for (int i = 0; i < n; i++) {
    snprintf(cfg.servers[i].name, sizeof cfg.servers[i].name, "s%d", i + 1);
    cfg.servers[i].weight = weights[i];
  }
  assert_int_equal(lb_pool_init(p, &cfg), 0);
}

static void rr_weights_distribution(void **state) {
  lb_pool p;
  const int w[3] = {1, 2, 3};
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 3);
  int count[3] = {0};
  for (int i = 0; i < 10000; i++) {
    int k = lb_balancer_pick(&p, NULL);
    assert_true(k >= 0 && k < 3);
    count[k]++;
  }
  /* exact shares 1/6, 2/6, 3/6 within 1% of the picks */
  assert_true(abs(count[0] - 10000 / 6) <= 100);
  assert_true(abs(count[1] - 2 * 10000 / 6) <= 100);
  assert_true(abs(count[2] - 3 * 10000 / 6) <= 100);
  lb_pool_free(&p);
}

static void rr_is_smooth(void **state) {
  /* nginx's example: weights 5,1,1 give a a b a c a a, not a a a a a b c */
  lb_pool p;
  const int w[3] = {5, 1, 1};
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 3);
  char seq[8] = {0};
  for (int i = 0; i < 7; i++)
    seq[i] = (char)('a' + lb_balancer_pick(&p, NULL));
  assert_string_equal(seq, "aabacaa");
  lb_pool_free(&p);
}

static void rr_equal_weights_rotate(void **state) {
  lb_pool p;
  const int w[3] = {1, 1, 1};
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 3);
  int count[3] = {0};
  for (int i = 0; i < 300; i++)
    count[lb_balancer_pick(&p, NULL)]++;
  assert_int_equal(count[0], 100);
  assert_int_equal(count[1], 100);
  assert_int_equal(count[2], 100);
  lb_pool_free(&p);
}

static void down_server_never_picked(void **state) {
  for (int algo = 0; algo < 2; algo++) {
    lb_pool p;
    const int w[3] = {1, 5, 1};
    make_pool(&p, (lb_algo)algo, w, 3);
    atomic_store(&p.servers[1].state, LB_SRV_DOWN);
    int count[3] = {0};
    for (int i = 0; i < 1000; i++)
      count[lb_balancer_pick(&p, NULL)]++;
    assert_int_equal(count[1], 0);
    assert_true(count[0] > 400 && count[2] > 400);
    atomic_store(&p.servers[0].state, LB_SRV_DRAIN);
    atomic_store(&p.servers[2].state, LB_SRV_MAINT);
    assert_int_equal(lb_balancer_pick(&p, NULL), -1); /* nothing UP: 503 */
    lb_pool_free(&p);
  }
}

static void exclude_mask_skips_tried(void **state) {
  for (int algo = 0; algo < 2; algo++) {
    lb_pool p;
    const int w[3] = {1, 1, 1};
    make_pool(&p, (lb_algo)algo, w, 3);
    for (int i = 0; i < 30; i++) {
      lb_tried t = {.n = 2, .idx = {0, 2}};
      int k = lb_balancer_pick(&p, &t);
      assert_int_equal(k, 1);
    }
    lb_tried all = {.n = 3, .idx = {0, 1, 2}};
    assert_int_equal(lb_balancer_pick(&p, &all), -1);
    lb_pool_free(&p);
  }
}

static void leastconn_picks_least_loaded(void **state) {
  lb_pool p;
  const int w[3] = {1, 1, 1};
  make_pool(&p, LB_ALGO_LEAST_CONN, w, 3);
  atomic_store(&p.servers[0].active, 5);
  atomic_store(&p.servers[1].active, 1);
  atomic_store(&p.servers[2].active, 3);
  for (int i = 0; i < 10; i++)
    assert_int_equal(lb_balancer_pick(&p, NULL), 1);
  /* weighted: (active+1)/weight: s1 (5+1)/1=6, s2 (1+1)/1=2, s3 (3+1)/4=1 -> s3 */
  p.servers[2].weight = 4;
  assert_int_equal(lb_balancer_pick(&p, NULL), 2);
  lb_pool_free(&p);
}

static void leastconn_rotates_ties(void **state) {
  lb_pool p;
  const int w[3] = {1, 1, 1};
  make_pool(&p, LB_ALGO_LEAST_CONN, w, 3);
  int count[3] = {0};
  for (int i = 0; i < 300; i++) /* idle pool: every pick is a tie */
    count[lb_balancer_pick(&p, NULL)]++;
  assert_int_equal(count[0], 100);
  assert_int_equal(count[1], 100);
  assert_int_equal(count[2], 100);
  lb_pool_free(&p);
}

static void leastconn_follows_load(void **state) {
  /* Requests that begin and never end: picks spread so the load stays level. */
  lb_pool p;
  const int w[3] = {1, 2, 3};
  make_pool(&p, LB_ALGO_LEAST_CONN, w, 3);
  for (int i = 0; i < 600; i++)
    lb_server_begin(&p.servers[lb_balancer_pick(&p, NULL)]);
  assert_true(abs(atomic_load(&p.servers[0].active) - 100) <= 1);
  assert_true(abs(atomic_load(&p.servers[1].active) - 200) <= 1);
  assert_true(abs(atomic_load(&p.servers[2].active) - 300) <= 1);
  lb_pool_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rr_weights_distribution), cmocka_unit_test(rr_is_smooth),
      cmocka_unit_test(rr_equal_weights_rotate), cmocka_unit_test(down_server_never_picked),
      cmocka_unit_test(exclude_mask_skips_tried), cmocka_unit_test(leastconn_picks_least_loaded),
      cmocka_unit_test(leastconn_rotates_ties),  cmocka_unit_test(leastconn_follows_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
