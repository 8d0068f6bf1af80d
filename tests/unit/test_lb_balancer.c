/* Balancer: smooth weighted round-robin (schedule, fallback) and weighted least-connections
 * (heap, scan), and how both follow servers changing state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/core/balancer/balancer.h"

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
    int k = lb_balancer_pick(&p, NULL, NULL);
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
    seq[i] = (char)('a' + lb_balancer_pick(&p, NULL, NULL));
  assert_string_equal(seq, "aabacaa");
  lb_pool_free(&p);
}

static void rr_equal_weights_rotate(void **state) {
  lb_pool p;
  const int w[3] = {1, 1, 1};
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 3);
  int count[3] = {0};
  for (int i = 0; i < 300; i++)
    count[lb_balancer_pick(&p, NULL, NULL)]++;
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
    for (int i = 0; i < 1000; i++) {
      int k = lb_balancer_pick(&p, NULL, NULL);
      count[k]++;
      lb_server_begin(&p.servers[k]); /* least-conn: ties take turns as requests begin */
      lb_server_end(&p.servers[k]);
    }
    assert_int_equal(count[1], 0);
    assert_true(count[0] > 400 && count[2] > 400);
    atomic_store(&p.servers[0].state, LB_SRV_DRAIN);
    atomic_store(&p.servers[2].state, LB_SRV_MAINT);
    assert_int_equal(lb_balancer_pick(&p, NULL, NULL), -1); /* nothing UP: 503 */
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
      int k = lb_balancer_pick(&p, NULL, &t);
      assert_int_equal(k, 1);
    }
    lb_tried all = {.n = 3, .idx = {0, 1, 2}};
    assert_int_equal(lb_balancer_pick(&p, NULL, &all), -1);
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
    assert_int_equal(lb_balancer_pick(&p, NULL, NULL), 1);
  /* weighted: (active+1)/weight: s1 (5+1)/1=6, s2 (1+1)/1=2, s3 (3+1)/4=1 -> s3 */
  p.servers[2].weight = 4;
  lb_pool_changed(&p);
  assert_int_equal(lb_balancer_pick(&p, NULL, NULL), 2);
  lb_pool_free(&p);
}

static void leastconn_rotates_ties(void **state) {
  lb_pool p;
  const int w[3] = {1, 1, 1};
  make_pool(&p, LB_ALGO_LEAST_CONN, w, 3);
  int count[3] = {0};
  for (int i = 0; i < 300; i++) { /* idle pool: every pick is a tie */
    int k = lb_balancer_pick(&p, NULL, NULL);
    count[k]++;
    lb_server_begin(&p.servers[k]); /* what the proxy does with a pick */
    lb_server_end(&p.servers[k]);
  }
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
    lb_server_begin(&p.servers[lb_balancer_pick(&p, NULL, NULL)]);
  assert_true(abs(atomic_load(&p.servers[0].active) - 100) <= 1);
  assert_true(abs(atomic_load(&p.servers[1].active) - 200) <= 1);
  assert_true(abs(atomic_load(&p.servers[2].active) - 300) <= 1);
  lb_pool_free(&p);
}

/* The picks of n calls as letters (-1: '-'). */
static void picks(lb_pool *p, int n, char *out) {
  for (int i = 0; i < n; i++) {
    int k = lb_balancer_pick(p, NULL, NULL);
    out[i] = k < 0 ? '-' : (char)('a' + k);
  }
  out[n] = 0;
}

static void set_state(lb_pool *p, int i, int state) {
  atomic_store(&p->servers[i].state, state);
  lb_pool_changed(p);
}

static void rr_equal_weights_order(void **state) {
  lb_pool p;
  const int w[4] = {3, 3, 3, 3}; /* equal, not 1: a plain rotation all the same */
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 4);
  char seq[16];
  picks(&p, 12, seq);
  assert_string_equal(seq, "abcdabcdabcd");
  lb_pool_free(&p);
}

static void rr_large_pool_rotates(void **state) {
  /* 300 servers: every server exactly once per 300 picks, in order. */
  lb_pool p;
  int w[300];
  for (int i = 0; i < 300; i++)
    w[i] = 1;
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 300);
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < 300; i++)
      assert_int_equal(lb_balancer_pick(&p, NULL, NULL), i);
  lb_pool_free(&p);
}

static void rr_state_change_mid_rotation(void **state) {
  lb_pool p;
  const int w[4] = {1, 1, 1, 1};
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 4);
  char seq[16];
  picks(&p, 2, seq);
  assert_string_equal(seq, "ab");
  /* c goes DOWN after a and b: the rotation goes on with d, a, b; d does not get two turns in a
   * row (smooth WRR's carried-over current weights gave "ddabda" here). */
  set_state(&p, 2, LB_SRV_DOWN);
  picks(&p, 6, seq);
  assert_string_equal(seq, "dabdab");
  /* c back UP after b: it takes its turn at once, then the rotation is whole again. */
  set_state(&p, 2, LB_SRV_UP);
  picks(&p, 8, seq);
  assert_string_equal(seq, "cdabcdab");
  /* the server picked last leaves: the next one goes on */
  set_state(&p, 1, LB_SRV_DRAIN);
  picks(&p, 6, seq);
  assert_string_equal(seq, "cdacda");
  set_state(&p, 0, LB_SRV_MAINT);
  set_state(&p, 2, LB_SRV_REMOVED);
  picks(&p, 3, seq);
  assert_string_equal(seq, "ddd");
  set_state(&p, 3, LB_SRV_DOWN);
  picks(&p, 2, seq);
  assert_string_equal(seq, "--"); /* nothing UP: 503 */
  set_state(&p, 1, LB_SRV_UP);
  set_state(&p, 3, LB_SRV_UP);
  picks(&p, 4, seq);
  assert_string_equal(seq, "bdbd");
  lb_pool_free(&p);
}

static void rr_state_written_without_notice(void **state) {
  /* A server whose state changed before lb_pool_changed is skipped all the same. */
  lb_pool p;
  const int w[3] = {1, 1, 1};
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 3);
  char seq[16];
  picks(&p, 1, seq);
  atomic_store(&p.servers[1].state, LB_SRV_DOWN);
  picks(&p, 4, seq);
  assert_string_equal(seq, "caca");
  lb_pool_free(&p);
}

static void rr_weights_schedule(void **state) {
  /* The schedule is smooth WRR's own sequence: weights 1/2/3 -> c b a c b c per period of 6,
   * and 2/4/6 (gcd 2) the same. */
  for (int scale = 1; scale <= 2; scale++) {
    lb_pool p;
    const int w[3] = {1 * scale, 2 * scale, 3 * scale};
    make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 3);
    char seq[32];
    picks(&p, 18, seq);
    assert_string_equal(seq, "cbacbccbacbccbacbc");
    assert_int_equal(p.rr.len, 6);
    assert_int_equal(p.rr.smooth, 0);
    lb_pool_free(&p);
  }
}

static void rr_weights_with_server_down(void **state) {
  lb_pool p;
  const int w[3] = {1, 2, 3};
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 3);
  set_state(&p, 2, LB_SRV_DOWN);
  int count[3] = {0};
  for (int i = 0; i < 300; i++)
    count[lb_balancer_pick(&p, NULL, NULL)]++;
  assert_int_equal(count[0], 100); /* a and b keep their 1:2 */
  assert_int_equal(count[1], 200);
  assert_int_equal(count[2], 0);
  set_state(&p, 2, LB_SRV_UP);
  memset(count, 0, sizeof count);
  for (int i = 0; i < 600; i++)
    count[lb_balancer_pick(&p, NULL, NULL)]++;
  assert_int_equal(count[0], 100);
  assert_int_equal(count[1], 200);
  assert_int_equal(count[2], 300);
  lb_pool_free(&p);
}

static void rr_long_period_falls_back(void **state) {
  /* Weights 1000, 999, ... 991: a period of 9955 picks, past LB_RR_SCHEDULE_MAX: smooth WRR at
   * each pick, with the same exact shares per period. */
  lb_pool p;
  int w[10], total = 0;
  for (int i = 0; i < 10; i++)
    total += w[i] = 1000 - i;
  assert_true(total > LB_RR_SCHEDULE_MAX);
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 10);
  int count[10] = {0};
  for (int i = 0; i < total; i++)
    count[lb_balancer_pick(&p, NULL, NULL)]++;
  assert_int_equal(p.rr.smooth, 1);
  for (int i = 0; i < 10; i++)
    assert_int_equal(count[i], w[i]);
  /* a server DOWN: never picked, the others keep their shares */
  set_state(&p, 0, LB_SRV_DOWN);
  memset(count, 0, sizeof count);
  for (int i = 0; i < total - w[0]; i++)
    count[lb_balancer_pick(&p, NULL, NULL)]++;
  assert_int_equal(count[0], 0);
  for (int i = 1; i < 10; i++)
    assert_int_equal(count[i], w[i]);
  /* retries avoid the servers tried */
  lb_tried t = {.n = 0};
  for (int i = 1; i < 10; i++)
    lb_tried_add(&t, i);
  assert_int_equal(lb_balancer_pick(&p, NULL, &t), -1);
  lb_pool_free(&p);
}

static void rr_retry_keeps_rotation(void **state) {
  /* A retry skips the servers tried; the rotation carries on after the server it took. */
  lb_pool p;
  const int w[4] = {1, 1, 1, 1};
  make_pool(&p, LB_ALGO_ROUND_ROBIN, w, 4);
  char seq[16];
  picks(&p, 1, seq); /* a */
  lb_tried t = {.n = 0};
  lb_tried_add(&t, 0);
  lb_tried_add(&t, 1);
  assert_int_equal(lb_balancer_pick(&p, NULL, &t), 2); /* b is tried: c */
  picks(&p, 4, seq);
  assert_string_equal(seq, "dabc");
  lb_pool_free(&p);
}

/* The least (active+1)/weight over the servers UP, as the heap must find it. */
static int64_t lc_best_key(lb_pool *p, int64_t *w_out) {
  int64_t best_l = -1, best_w = 1;
  for (int i = 0; i < p->nservers; i++) {
    lb_server *s = &p->servers[i];
    if (!lb_server_is_up(s))
      continue;
    int64_t l = atomic_load(&s->active) + 1;
    if (best_l < 0 || l * best_w < best_l * s->weight) {
      best_l = l;
      best_w = s->weight;
    }
  }
  *w_out = best_w;
  return best_l;
}

static void leastconn_heap_matches_scan(void **state) {
  /* Requests beginning and ending at random on 50 weighted servers, some going DOWN and UP:
   * every pick has the least (active+1)/weight of the servers UP. */
  lb_pool p;
  int w[50];
  for (int i = 0; i < 50; i++)
    w[i] = 1 + i % 4;
  make_pool(&p, LB_ALGO_LEAST_CONN, w, 50);
  int inflight[4000], n = 0;
  srand(7);
  for (int step = 0; step < 20000; step++) {
    int r = rand() % 100;
    if (r < 2) {
      int i = rand() % 50;
      set_state(&p, i, lb_server_is_up(&p.servers[i]) ? LB_SRV_DOWN : LB_SRV_UP);
    } else if (r < 55 && n < 4000) {
      int k = lb_balancer_pick(&p, NULL, NULL);
      int64_t bw, bl = lc_best_key(&p, &bw);
      if (bl < 0) {
        assert_int_equal(k, -1);
        continue;
      }
      assert_true(k >= 0 && lb_server_is_up(&p.servers[k]));
      int64_t kl = atomic_load(&p.servers[k].active) + 1;
      assert_true(kl * bw == bl * p.servers[k].weight);
      lb_server_begin(&p.servers[k]);
      inflight[n++] = k;
    } else if (n > 0) {
      int j = rand() % n;
      lb_server_end(&p.servers[inflight[j]]);
      inflight[j] = inflight[--n];
    }
  }
  while (n > 0)
    lb_server_end(&p.servers[inflight[--n]]);
  for (int i = 0; i < 50; i++)
    assert_int_equal(atomic_load(&p.servers[i].active), 0);
  lb_pool_free(&p);
}

static void leastconn_state_changes(void **state) {
  lb_pool p;
  const int w[3] = {1, 1, 1};
  make_pool(&p, LB_ALGO_LEAST_CONN, w, 3);
  lb_server_begin(&p.servers[0]);
  lb_server_begin(&p.servers[0]);
  set_state(&p, 1, LB_SRV_DOWN);
  for (int i = 0; i < 5; i++) { /* b DOWN: c (idle) every time while a is busy */
    int k = lb_balancer_pick(&p, NULL, NULL);
    assert_int_equal(k, 2);
    lb_server_begin(&p.servers[k]);
    lb_server_end(&p.servers[k]);
  }
  set_state(&p, 1, LB_SRV_UP); /* b back: idle, and it began nothing for the longest */
  assert_int_equal(lb_balancer_pick(&p, NULL, NULL), 1);
  set_state(&p, 1, LB_SRV_DRAIN);
  set_state(&p, 2, LB_SRV_MAINT);
  assert_int_equal(lb_balancer_pick(&p, NULL, NULL), 0); /* the last one UP, however busy */
  set_state(&p, 0, LB_SRV_DOWN);
  assert_int_equal(lb_balancer_pick(&p, NULL, NULL), -1);
  lb_server_end(&p.servers[0]); /* requests finish on a server that is DOWN */
  lb_server_end(&p.servers[0]);
  assert_int_equal(atomic_load(&p.servers[0].active), 0);
  set_state(&p, 0, LB_SRV_UP);
  set_state(&p, 2, LB_SRV_UP);
  int count[3] = {0};
  for (int i = 0; i < 100; i++) {
    int k = lb_balancer_pick(&p, NULL, NULL);
    count[k]++;
    lb_server_begin(&p.servers[k]);
    lb_server_end(&p.servers[k]);
  }
  assert_int_equal(count[0], 50);
  assert_int_equal(count[2], 50);
  lb_pool_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rr_weights_distribution), cmocka_unit_test(rr_is_smooth),
      cmocka_unit_test(rr_equal_weights_rotate), cmocka_unit_test(down_server_never_picked),
      cmocka_unit_test(exclude_mask_skips_tried), cmocka_unit_test(leastconn_picks_least_loaded),
      cmocka_unit_test(leastconn_rotates_ties),  cmocka_unit_test(leastconn_follows_load),
      cmocka_unit_test(rr_equal_weights_order), cmocka_unit_test(rr_large_pool_rotates),
      cmocka_unit_test(rr_state_change_mid_rotation),
      cmocka_unit_test(rr_state_written_without_notice), cmocka_unit_test(rr_weights_schedule),
      cmocka_unit_test(rr_weights_with_server_down), cmocka_unit_test(rr_long_period_falls_back),
      cmocka_unit_test(rr_retry_keeps_rotation), cmocka_unit_test(leastconn_heap_matches_scan),
      cmocka_unit_test(leastconn_state_changes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
