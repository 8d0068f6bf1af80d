/* Consistent hashing (algorithm = hash): the Maglev table's shares, what moves when a server goes
 * DOWN or is removed, agreement between independent builds, retries, requests without a key,
 * and the request key itself (client-ip, header, cookie, path). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/core/balancer/balancer.h"

#define NKEYS 100000

/* A hash pool of n servers "s1".."sn" with these weights; order[i] is the slot of server i
 * (NULL: slot i), as DNS discovery may fill slots in any order. */
static void make_pool(lb_pool *p, const int *weights, int n, const int *order) {
  static lb_pool_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  snprintf(cfg.name, sizeof cfg.name, "test");
  cfg.algo = LB_ALGO_HASH;
  cfg.nservers = n;
  for (int i = 0; i < n; i++) {
    int slot = order ? order[i] : i;
    snprintf(cfg.servers[slot].name, sizeof cfg.servers[slot].name, "s%d", i + 1);
    snprintf(cfg.servers[slot].addr_text, sizeof cfg.servers[slot].addr_text, "10.0.0.%d:80",
             i + 1);
    cfg.servers[slot].weight = weights[i];
  }
  assert_int_equal(lb_pool_init(p, &cfg), 0);
}

static lb_key key_of(int i) {
  char text[32];
  int n = snprintf(text, sizeof text, "user-%d", i);
  lb_header h = {.name = "X-User", .name_len = 6, .value = text, .value_len = (uint32_t)n};
  lb_key_source src = {.headers = &h, .nheaders = 1};
  lb_hash_key_cfg k = {.kind = LB_HASH_KEY_HEADER, .name = "X-User", .name_len = 6};
  lb_key key;
  assert_int_equal(lb_hash_key_of(&k, &src, &key), 1);
  return key;
}

static int pick(lb_pool *p, int i) {
  lb_key k = key_of(i);
  return lb_balancer_pick(p, &k, NULL);
}

static void set_state(lb_pool *p, int i, int state) {
  atomic_store(&p->servers[i].state, state);
  lb_pool_changed(p);
}

static void distribution_follows_weights(void **state) {
  lb_pool p;
  const int w[3] = {1, 2, 3};
  make_pool(&p, w, 3, NULL);
  int count[3] = {0};
  for (int i = 0; i < NKEYS; i++)
    count[pick(&p, i)]++;
  for (int s = 0; s < 3; s++) {
    double share = w[s] / 6.0, got = (double)count[s] / NKEYS;
    print_message("weight %d: %.4f of the keys (share %.4f, off by %.2f%%)\n", w[s], got, share,
                  100 * (got - share) / share);
    assert_true(got > share * 0.98 && got < share * 1.02);
  }
  /* the table itself: each server owns its share of the entries to within one */
  int entries[3] = {0};
  for (int e = 0; e < LB_HASH_TABLE_SIZE; e++)
    entries[p.hash.entry[e]]++;
  for (int s = 0; s < 3; s++)
    assert_true(abs(entries[s] - LB_HASH_TABLE_SIZE * w[s] / 6) <= 1);
  lb_pool_free(&p);
}

static void down_moves_only_its_keys(void **state) {
  lb_pool p;
  int w[10];
  for (int i = 0; i < 10; i++)
    w[i] = 1 + i % 3;
  make_pool(&p, w, 10, NULL);
  static int before[NKEYS];
  for (int i = 0; i < NKEYS; i++)
    before[i] = pick(&p, i);
  set_state(&p, 3, LB_SRV_DOWN);
  int moved = 0, went[10] = {0};
  for (int i = 0; i < NKEYS; i++) {
    int now = pick(&p, i);
    assert_int_not_equal(now, 3);
    if (before[i] != 3) {
      assert_int_equal(now, before[i]); /* only the keys of the DOWN server move */
    } else {
      moved++;
      went[now]++;
    }
  }
  /* they spread over the others in proportion to the weights (sum of the others: 18) */
  for (int s = 0; s < 10; s++)
    if (s != 3)
      assert_true(abs(went[s] - moved * w[s] / 18) <= moved / 40 + 20);
  /* DRAIN and MAINT are skipped the same way; back UP, every key is home again */
  set_state(&p, 5, LB_SRV_DRAIN);
  set_state(&p, 6, LB_SRV_MAINT);
  for (int i = 0; i < NKEYS; i += 7) {
    int now = pick(&p, i);
    assert_true(now != 3 && now != 5 && now != 6);
    if (before[i] != 3 && before[i] != 5 && before[i] != 6)
      assert_int_equal(now, before[i]);
  }
  set_state(&p, 3, LB_SRV_UP);
  set_state(&p, 5, LB_SRV_UP);
  set_state(&p, 6, LB_SRV_UP);
  for (int i = 0; i < NKEYS; i++)
    assert_int_equal(pick(&p, i), before[i]);
  lb_pool_free(&p);
}

static void removal_moves_few_keys(void **state) {
  /* Removing one of 10 servers (reload, DNS) rebuilds the table: at most 12% of the keys move,
   * the removed server's 10% among them. */
  lb_pool p;
  int w[10];
  for (int i = 0; i < 10; i++)
    w[i] = 1;
  make_pool(&p, w, 10, NULL);
  static int before[NKEYS];
  for (int i = 0; i < NKEYS; i++)
    before[i] = pick(&p, i);
  set_state(&p, 4, LB_SRV_REMOVED);
  int moved = 0, moved_others = 0;
  for (int i = 0; i < NKEYS; i++) {
    int now = pick(&p, i);
    assert_int_not_equal(now, 4);
    moved += now != before[i];
    moved_others += now != before[i] && before[i] != 4;
  }
  print_message("removing 1 of 10: %.2f%% of the keys moved (%.2f%% from the other servers)\n",
                100.0 * moved / NKEYS, 100.0 * moved_others / NKEYS);
  assert_true(moved <= NKEYS * 12 / 100);
  /* a server added back with the same name: the same table as before */
  set_state(&p, 4, LB_SRV_UP);
  for (int i = 0; i < NKEYS; i++)
    assert_int_equal(pick(&p, i), before[i]);
  lb_pool_free(&p);
}

static void independent_builds_agree(void **state) {
  /* Two pools built apart (two processes), the second with its servers in other slots (DNS
   * answers in another order): the same server name for every key. */
  static lb_pool a, b;
  const int w[5] = {3, 1, 4, 1, 5};
  const int order[5] = {4, 2, 0, 3, 1};
  make_pool(&a, w, 5, NULL);
  make_pool(&b, w, 5, order);
  for (int i = 0; i < NKEYS; i++) {
    int x = pick(&a, i), y = pick(&b, i);
    assert_string_equal(a.servers[x].name, b.servers[y].name);
  }
  /* and with the same server DOWN in both */
  set_state(&a, 0, LB_SRV_DOWN);
  set_state(&b, order[0], LB_SRV_DOWN);
  for (int i = 0; i < NKEYS; i += 3) {
    int x = pick(&a, i), y = pick(&b, i);
    assert_string_equal(a.servers[x].name, b.servers[y].name);
  }
  lb_pool_free(&a);
  lb_pool_free(&b);
}

static void pinned_mapping(void **state) {
  /* The hash and the table are part of the contract between journey-lb versions: a rolling
   * upgrade must not move keys. A change here remaps every user; make it on purpose only. */
  assert_true(lb_hash_bytes("journey", 7, 0) == 0x52f0ba3a57e1d9c9ull);
  lb_pool p;
  const int w[4] = {1, 1, 2, 1};
  make_pool(&p, w, 4, NULL);
  char seq[17];
  for (int i = 0; i < 16; i++)
    seq[i] = (char)('a' + pick(&p, i));
  seq[16] = 0;
  assert_string_equal(seq, "bcccccdacdcccdcc");
  lb_pool_free(&p);
}

static void retries_follow_the_key(void **state) {
  lb_pool p;
  const int w[4] = {1, 1, 1, 1};
  make_pool(&p, w, 4, NULL);
  for (int i = 0; i < 1000; i++) {
    lb_key k = key_of(i);
    lb_tried t = {.n = 0};
    int seen = 0;
    for (int attempt = 0; attempt < 4; attempt++) {
      int s = lb_balancer_pick(&p, &k, &t);
      assert_true(s >= 0 && !(seen & (1 << s))); /* never a server tried already */
      /* the same retry order every time (and in every process) */
      assert_int_equal(lb_balancer_pick(&p, &k, &t), s);
      seen |= 1 << s;
      lb_tried_add(&t, s);
    }
    assert_int_equal(lb_balancer_pick(&p, &k, &t), -1); /* all tried */
  }
  /* the first retry of a key goes where the key goes when its server is DOWN */
  static int retry[NKEYS];
  for (int i = 0; i < 5000; i++) {
    lb_key k = key_of(i);
    lb_tried t = {.n = 1, .idx = {pick(&p, i)}};
    retry[i] = lb_balancer_pick(&p, &k, &t);
  }
  for (int s = 0; s < 4; s++) {
    set_state(&p, s, LB_SRV_DOWN);
    for (int i = 0; i < 5000; i++) {
      lb_key k = key_of(i);
      lb_tried none = {.n = 0};
      int now = lb_balancer_pick(&p, &k, &none);
      set_state(&p, s, LB_SRV_UP);
      int home = pick(&p, i);
      set_state(&p, s, LB_SRV_DOWN);
      if (home == s)
        assert_int_equal(now, retry[i]);
    }
    set_state(&p, s, LB_SRV_UP);
  }
  lb_pool_free(&p);
}

static void without_key_round_robin(void **state) {
  lb_pool p;
  const int w[3] = {1, 2, 3};
  make_pool(&p, w, 3, NULL);
  char seq[19];
  for (int i = 0; i < 18; i++)
    seq[i] = (char)('a' + lb_balancer_pick(&p, NULL, NULL));
  seq[18] = 0;
  assert_string_equal(seq, "cbacbccbacbccbacbc"); /* smooth weighted round-robin */
  set_state(&p, 2, LB_SRV_DOWN);
  for (int i = 0; i < 30; i++)
    assert_int_not_equal(lb_balancer_pick(&p, NULL, NULL), 2);
  lb_tried t = {.n = 1, .idx = {0}};
  assert_int_equal(lb_balancer_pick(&p, NULL, &t), 1);
  lb_pool_free(&p);
}

static void nothing_up(void **state) {
  lb_pool p;
  int w[40];
  for (int i = 0; i < 40; i++)
    w[i] = 1 + (i == 39 ? 0 : i % 5);
  make_pool(&p, w, 40, NULL);
  /* only the lightest server left: every key finds it */
  for (int i = 0; i < 39; i++)
    set_state(&p, i, LB_SRV_DOWN);
  for (int i = 0; i < 2000; i++)
    assert_int_equal(pick(&p, i), 39);
  set_state(&p, 39, LB_SRV_MAINT);
  for (int i = 0; i < 100; i++)
    assert_int_equal(pick(&p, i), -1);
  assert_int_equal(lb_balancer_pick(&p, NULL, NULL), -1);
  /* an empty pool (DNS discovery before its first answer) */
  for (int i = 0; i < 40; i++)
    set_state(&p, i, LB_SRV_REMOVED);
  assert_int_equal(pick(&p, 1), -1);
  set_state(&p, 7, LB_SRV_UP);
  for (int i = 0; i < 100; i++)
    assert_int_equal(pick(&p, i), 7);
  lb_pool_free(&p);
}

static void counts_in_flight(void **state) {
  lb_pool p;
  const int w[2] = {1, 1};
  make_pool(&p, w, 2, NULL);
  int s = pick(&p, 1);
  lb_server_begin(&p.servers[s]);
  assert_int_equal(atomic_load(&p.servers[s].active), 1);
  assert_int_equal(atomic_load(&p.servers[s].requests), 1);
  lb_server_end(&p.servers[s]);
  assert_int_equal(atomic_load(&p.servers[s].active), 0);
  lb_pool_free(&p);
}

/* ---- the request key ---- */

static int key_hash(const char *spec, const lb_key_source *src, uint64_t *h) {
  lb_hash_key_cfg k = {0};
  char why[256];
  assert_int_equal(lb_hash_key_parse(spec, &k, why, sizeof why), 0);
  lb_key key = {0};
  int r = lb_hash_key_of(&k, src, &key);
  *h = key.hash;
  return r;
}

static uint64_t hash_of(const char *s) {
  return lb_hash_bytes(s, strlen(s), 0x6a6f75726e65796bull);
}

#define H(n, v) {.name = n, .name_len = sizeof n - 1, .value = v, .value_len = sizeof v - 1}

static void key_from_headers(void **state) {
  lb_header hs[] = {H("Host", "a"), H("x-user", "  alice \t"), H("X-User", "bob"),
                    H("X-Empty", "  ")};
  lb_key_source src = {.headers = hs, .nheaders = 4};
  uint64_t h;
  /* names case-insensitive, the first one, trimmed */
  assert_int_equal(key_hash("header:X-User", &src, &h), 1);
  assert_true(h == hash_of("alice"));
  assert_int_equal(key_hash("header:X-Missing", &src, &h), 0);
  assert_int_equal(key_hash("header:X-Empty", &src, &h), 0); /* empty: no key */
  assert_int_equal(key_hash("header:X-Use", &src, &h), 0);   /* a prefix is another name */
}

static void key_from_cookies(void **state) {
  lb_header hs[] = {H("Cookie", "xsession=no; theme=dark"),
                    H("cookie", "a=1;session=\"s-42\" ; b=2"), H("Cookie", "session=late")};
  lb_key_source src = {.headers = hs, .nheaders = 3};
  uint64_t h;
  assert_int_equal(key_hash("cookie:session", &src, &h), 1);
  assert_true(h == hash_of("s-42")); /* not xsession; quotes removed; the first one */
  assert_int_equal(key_hash("cookie:theme", &src, &h), 1);
  assert_true(h == hash_of("dark"));
  assert_int_equal(key_hash("cookie:Session", &src, &h), 0); /* cookie names are exact */
  assert_int_equal(key_hash("cookie:dark", &src, &h), 0);
  lb_header odd[] = {H("Cookie", ";;  ; novalue; =x; empty=; ok = yes")};
  lb_key_source s2 = {.headers = odd, .nheaders = 1};
  assert_int_equal(key_hash("cookie:novalue", &s2, &h), 0);
  assert_int_equal(key_hash("cookie:empty", &s2, &h), 0);
  assert_int_equal(key_hash("cookie:ok", &s2, &h), 1);
  assert_true(h == hash_of("yes"));
  lb_key_source none = {0};
  assert_int_equal(key_hash("cookie:ok", &none, &h), 0);
}

static void key_from_path_and_ip(void **state) {
  const char *targets[][2] = {
      {"/a/b?x=1", "/a/b"},   {"/a/b", "/a/b"},           {"/a/b#f", "/a/b"},
      {"/?q", "/"},           {"http://h:8/a/b?q", "/a/b"}, {"http://h", "/"},
      {"*", "*"},
  };
  for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
    /* a view: the bytes after the target must not be read */
    char buf[64];
    size_t n = strlen(targets[i][0]);
    memcpy(buf, targets[i][0], n);
    memcpy(buf + n, "://x/y", 7);
    lb_key_source src = {.target = buf, .target_len = n};
    uint64_t h;
    assert_int_equal(key_hash("path", &src, &h), 1);
    if (h != hash_of(targets[i][1]))
      fail_msg("path of %s: expected %s", targets[i][0], targets[i][1]);
  }
  lb_key_source src = {.client_ip = "192.0.2.7:5555", .client_ip_len = 9};
  uint64_t h;
  assert_int_equal(key_hash("client-ip", &src, &h), 1);
  assert_true(h == hash_of("192.0.2.7"));
}

static void key_config_values(void **state) {
  lb_hash_key_cfg k = {0};
  char why[256], d[80];
  assert_int_equal(lb_hash_key_parse("header:X-User-Id", &k, why, sizeof why), 0);
  assert_int_equal(k.kind, LB_HASH_KEY_HEADER);
  assert_string_equal(lb_hash_key_describe(&k, d, sizeof d), "header:X-User-Id");
  assert_int_equal(lb_hash_key_parse("cookie:sid", &k, why, sizeof why), 0);
  assert_string_equal(lb_hash_key_describe(&k, d, sizeof d), "cookie:sid");
  assert_int_equal(lb_hash_key_parse("path", &k, why, sizeof why), 0);
  assert_string_equal(lb_hash_key_describe(&k, d, sizeof d), "path");
  assert_int_equal(lb_hash_key_parse("client-ip", &k, why, sizeof why), 0);
  assert_string_equal(lb_hash_key_describe(&k, d, sizeof d), "client-ip");
  const char *bad[] = {"ip", "header:", "header:X User", "cookie:a;b", "url", "",
                       "header:" "0123456789012345678901234567890123456789012345678901234567890123"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (lb_hash_key_parse(bad[i], &k, why, sizeof why) == 0)
      fail_msg("accepted hash-key '%s'", bad[i]);
    assert_non_null(strstr(why, "hash-key '"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(distribution_follows_weights),
      cmocka_unit_test(down_moves_only_its_keys),
      cmocka_unit_test(removal_moves_few_keys),
      cmocka_unit_test(independent_builds_agree),
      cmocka_unit_test(pinned_mapping),
      cmocka_unit_test(retries_follow_the_key),
      cmocka_unit_test(without_key_round_robin),
      cmocka_unit_test(nothing_up),
      cmocka_unit_test(counts_in_flight),
      cmocka_unit_test(key_from_headers),
      cmocka_unit_test(key_from_cookies),
      cmocka_unit_test(key_from_path_and_ip),
      cmocka_unit_test(key_config_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
