/* journey-lb admin plane, pure parts: levels, Host/Origin, bearer token, token file checks,
 * config cross-checks, the recent ring, the latency windows and the page. */
#include "lb/core/admin_policy.h"
#include "lb/core/dashboard.h"
#include "lb/core/config.h"
#include "lb/core/recent.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static void host_header(void **state) {
  (void)state;
  lb_admin_cfg c;
  lb_admin_cfg_defaults(&c);
  char why[200];
  assert_int_equal(
      lb_admin_cfg_set(&c, "admin-name", "lb.internal, Admin.Example", why, sizeof why), 0);
  static const struct {
    const char *host;
    int ok;
  } cases[] = {{"127.0.0.1:9000", 1},
               {"127.0.0.1", 1},
               {"10.0.0.4:9000", 1},
               {"[::1]:9000", 1},
               {"[::1]", 1},
               {"lb.internal:9000", 1},
               {"ADMIN.example", 1},
               {"", 1},
               {"evil.example:9000", 0},
               {"localhost:9000", 0},
               {"127.0.0.1.nip.io", 0},
               {"[::1", 0},
               {"lb.internal.evil", 0},
               {"1.2.3", 0},
               {"::1", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    assert_int_equal(lb_admin_host_ok(&c, cases[i].host, strlen(cases[i].host)), cases[i].ok);
}

static void origin_header(void **state) {
  (void)state;
  const char *h = "127.0.0.1:9000";
  assert_true(lb_admin_origin_ok("", 0, h, strlen(h)));
  assert_true(lb_admin_origin_ok("http://127.0.0.1:9000", 21, h, strlen(h)));
  assert_false(lb_admin_origin_ok("http://attacker.invalid", 23, h, strlen(h)));
  assert_false(lb_admin_origin_ok("null", 4, h, strlen(h)));
  assert_false(lb_admin_origin_ok("https://127.0.0.1:9000", 22, h, strlen(h)));
  assert_false(lb_admin_origin_ok("http://127.0.0.1:9001", 21, h, strlen(h)));
  assert_false(lb_admin_origin_ok("http://127.0.0.1:9000", 21, "", 0));
}

static void bearer_and_levels(void **state) {
  (void)state;
  uint8_t want[32];
  char why[200];
  const char *tok;
  size_t tl;
  assert_int_equal(lb_admin_token_parse("  0123456789abcdef0123\n", 23, want, why, sizeof why), 0);
  assert_int_equal(lb_admin_bearer("Bearer 0123456789abcdef0123", 27, &tok, &tl), 0);
  assert_true(lb_admin_token_match(want, tok, tl));
  assert_int_equal(lb_admin_bearer("bearer  0123456789abcdef012 ", 28, &tok, &tl), 0);
  assert_false(lb_admin_token_match(want, tok, tl));
  assert_int_equal(lb_admin_bearer("Basic dXNlcjpwYXNz", 18, &tok, &tl), -1);
  assert_int_equal(lb_admin_bearer("Bearer ", 7, &tok, &tl), -1);
  assert_int_equal(lb_admin_token_parse("short\n", 6, want, why, sizeof why), -1);
  assert_non_null(strstr(why, "at least 16"));
  assert_int_equal(lb_admin_token_parse("0123456789 abcdef0123", 21, want, why, sizeof why), -1);

  assert_int_equal(lb_admin_token_mode_ok(S_IFREG | 0600, 1000, 1000, "/t", why, sizeof why), 0);
  assert_int_equal(lb_admin_token_mode_ok(S_IFREG | 0640, 0, 1000, "/t", why, sizeof why), 0);
  assert_int_equal(lb_admin_token_mode_ok(S_IFREG | 0644, 1000, 1000, "/t", why, sizeof why), -1);
  assert_non_null(strstr(why, "world-readable"));
  assert_non_null(strstr(why, "chmod 600 /t"));
  assert_int_equal(lb_admin_token_mode_ok(S_IFREG | 0620, 1000, 1000, "/t", why, sizeof why), -1);
  assert_int_equal(lb_admin_token_mode_ok(S_IFREG | 0600, 1001, 1000, "/t", why, sizeof why), -1);
  assert_int_equal(lb_admin_token_mode_ok(S_IFDIR | 0700, 1000, 1000, "/t", why, sizeof why), -1);

  lb_admin_cfg c;
  lb_admin_cfg_defaults(&c);
  assert_int_equal(lb_admin_tcp_level(&c, 0, 1), LB_ADMIN_WRITE); /* neither: loopback */
  assert_int_equal(lb_admin_tcp_level(&c, 0, 0), LB_ADMIN_READ);
  strcpy(c.token_file, "/etc/journey/admin.token");
  assert_int_equal(lb_admin_tcp_level(&c, 0, 1), LB_ADMIN_READ); /* token set: loopback too */
  assert_int_equal(lb_admin_tcp_level(&c, 1, 0), LB_ADMIN_WRITE);
  c.token_file[0] = 0;
  strcpy(c.socket, "/run/journey-lb/admin.sock");
  assert_int_equal(lb_admin_tcp_level(&c, 0, 1), LB_ADMIN_READ); /* socket only */
}

static void settings(void **state) {
  (void)state;
  lb_admin_cfg c;
  lb_admin_cfg_defaults(&c);
  char why[200];
  assert_int_equal(c.max_conns, 64);
  assert_int_equal(c.timeout_ms, 5000);
  assert_int_equal(c.recent, 100);
  assert_int_equal(lb_admin_cfg_set(&c, "admin-timeout", "2s", why, sizeof why), 0);
  assert_int_equal(c.timeout_ms, 2000);
  assert_int_equal(lb_admin_cfg_set(&c, "admin-timeout", "5", why, sizeof why), -1);
  assert_int_equal(lb_admin_cfg_set(&c, "admin-max-connections", "0", why, sizeof why), -1);
  assert_int_equal(lb_admin_cfg_set(&c, "admin-socket", "relative.sock", why, sizeof why), -1);
  assert_int_equal(lb_admin_cfg_set(&c, "listen", "x", why, sizeof why), 1);
}

static int finish(const char *ini, char *err, size_t el) {
  static lb_config c;
  char path[] = "/tmp/test_lb_admin_XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  fputs(ini, f);
  fclose(f);
  lb_config_defaults(&c);
  int r = lb_config_load_file(&c, path, err, el);
  if (r == 0)
    r = lb_config_finish(&c, err, el);
  remove(path);
  return r;
}

static void config_cross_checks(void **state) {
  (void)state;
  char err[1200];
  assert_int_equal(
      finish("[lb]\nlisten = http://127.0.0.1:8080\n[pool a]\nbackend = a1=127.0.0.1:9001\n"
             "route = /x/\n[pool b]\nbackend = b1=127.0.0.1:9002\nroute = /x/\n",
             err, sizeof err),
      -1);
  assert_non_null(strstr(err, ":8: route /x/ is given twice (pool a, line 5 and pool b)"));
  assert_int_equal(
      finish("[lb]\nlisten = http://127.0.0.1:8080\n[pool a]\nbackend = a1=127.0.0.1:9001\n"
             "route = /\n[pool b]\nbackend = b1=127.0.0.1:9002\n",
             err, sizeof err),
      -1);
  assert_non_null(strstr(err, "pool b is not reached by any route"));
  assert_int_equal(finish("[lb]\nlisten = http://127.0.0.1:8080\nlisten = http://127.0.0.1:8080\n"
                          "backend = b1=127.0.0.1:9001\n",
                          err, sizeof err),
                   -1);
  assert_non_null(strstr(err, "listen http://127.0.0.1:8080 and listen http://127.0.0.1:8080 "
                              "are the same address"));
  assert_int_equal(finish("[lb]\nlisten = http://127.0.0.1:8080\nadmin = 127.0.0.1:8080\n"
                          "backend = b1=127.0.0.1:9001\n",
                          err, sizeof err),
                   -1);
  assert_non_null(strstr(err, "and admin 127.0.0.1:8080 are the same address"));
  assert_int_equal(finish("[lb]\nlisten = http://127.0.0.1:8080\nprobe-listen = nonsense\n"
                          "backend = b1=127.0.0.1:9001\n",
                          err, sizeof err),
                   -1);
  assert_non_null(strstr(err, "probe-listen 'nonsense'"));
  assert_int_equal(finish("[lb]\nlisten = http://127.0.0.1:8080\nadmin-token-file = /x\n"
                          "backend = b1=127.0.0.1:9001\n",
                          err, sizeof err),
                   -1);
  assert_non_null(strstr(err, "need an admin listener"));
  assert_int_equal(finish("[lb]\nlisten = http://127.0.0.1:8080\nadmin = 127.0.0.1:9000\n"
                          "probe-listen = 0.0.0.0:9100\nadmin-token-file = /x\n"
                          "[pool a]\nbackend = a1=127.0.0.1:9001\nroute = /a/\n[pool b]\n"
                          "backend = b1=127.0.0.1:9002\nroute = /\n",
                          err, sizeof err),
                   0);
}

static void latency_buckets(void **state) {
  (void)state;
  for (uint64_t us = 0; us < 5000000; us = us * 5 / 4 + 1) {
    unsigned b = lb_lat_bucket(us);
    assert_true(lb_lat_bucket_low(b) <= us);
    assert_true(us < lb_lat_bucket_low(b + 1));
  }
  static lb_lat_window w;
  memset(&w, 0, sizeof w);
  uint64_t t0 = 1000 * LB_LAT_SLOT_US;
  for (int i = 1; i <= 100; i++)
    lb_lat_observe(&w, LB_LAT_TOTAL, (uint64_t)i * 100, t0 + (uint64_t)i); /* 100 us .. 10 ms */
  lb_lat_snap s;
  memset(&s, 0, sizeof s);
  lb_lat_add(&w, t0 + 1000, &s);
  assert_int_equal(lb_lat_count(&s, LB_LAT_TOTAL), 100);
  uint64_t p50 = lb_lat_quantile_us(&s, LB_LAT_TOTAL, 0.5),
           p99 = lb_lat_quantile_us(&s, LB_LAT_TOTAL, 0.99);
  assert_true(p50 > 5000 * 0.85 && p50 < 5000 * 1.15);
  assert_true(p99 > 9900 * 0.85 && p99 < 9900 * 1.15);
  /* 40 s later the slot is the previous one: still in the last minute */
  memset(&s, 0, sizeof s);
  lb_lat_add(&w, t0 + 40000000, &s);
  assert_int_equal(lb_lat_count(&s, LB_LAT_TOTAL), 100);
  /* 70 s later it is gone; a new observation reuses (clears) the slot */
  memset(&s, 0, sizeof s);
  lb_lat_add(&w, t0 + 70000000, &s);
  assert_int_equal(lb_lat_count(&s, LB_LAT_TOTAL), 0);
  lb_lat_observe(&w, LB_LAT_TOTAL, 7, t0 + 2 * LB_LAT_SLOT_US);
  memset(&s, 0, sizeof s);
  lb_lat_add(&w, t0 + 2 * LB_LAT_SLOT_US, &s);
  assert_int_equal(lb_lat_count(&s, LB_LAT_TOTAL), 1);
}

static void ring_keeps_the_newest(void **state) {
  (void)state;
  lb_recent_ring r;
  assert_int_equal(lb_recent_init(&r, 4), 0);
  lb_recent_entry out[8];
  assert_int_equal(lb_recent_copy(&r, out, 8), 0);
  for (int i = 0; i < 6; i++) {
    lb_recent_entry *e = lb_recent_begin(&r);
    assert_true(atomic_load(&e->seq) & 1); /* odd while written */
    e->status = (uint16_t)(200 + i);
    lb_recent_commit(&r, e);
  }
  size_t n = lb_recent_copy(&r, out, 8);
  assert_int_equal(n, 4);
  assert_int_equal(out[0].status, 205);
  assert_int_equal(out[3].status, 202);
  /* an entry being written is skipped */
  lb_recent_entry *e = lb_recent_begin(&r);
  assert_int_equal(lb_recent_copy(&r, out, 8), 3);
  lb_recent_commit(&r, e);
  assert_int_equal(lb_recent_copy(&r, out, 2), 2);
  lb_recent_free(&r);
  lb_recent_ring off;
  assert_int_equal(lb_recent_init(&off, 0), 0);
  assert_int_equal(lb_recent_copy(&off, out, 8), 0);
}

static void page(void **state) {
  (void)state;
  lb_stats_server sv[2];
  memset(sv, 0, sizeof sv);
  sv[0] = (lb_stats_server){.name = "b1",
                            .address = "10.0.0.1:80",
                            .state = "UP",
                            .health = "up",
                            .last_check = "status 200",
                            .source = "static",
                            .weight = 1,
                            .strip = "++-+",
                            .lat_count = {1, 1, 1}};
  sv[1] = (lb_stats_server){.name = "b2",
                            .address = "10.0.0.2:80",
                            .state = "DRAIN",
                            .health = "up",
                            .last_check = "<script>x</script>",
                            .source = "dns",
                            .weight = 2,
                            .last_check_age_ms = 1500};
  lb_stats_pool pl = {.name = "default",
                      .algorithm = "round-robin",
                      .check = "GET /health",
                      .nservers = 2,
                      .servers = sv};
  lb_stats_request rq = {.id = "abc\"<",
                         .path = "/my-app/data?<x>",
                         .method = "GET",
                         .pool = "default",
                         .server = "b1",
                         .status = 200,
                         .Th = -1,
                         .Ti = 5,
                         .TR = 10,
                         .Tw = 2,
                         .Tc = 100,
                         .Tr = 300,
                         .Td = 20,
                         .Tt = 437};
  lb_stats s = {.version = "0.1.0", .npools = 1, .pools = &pl, .nrecent = 1, .recent = &rq};
  jc_buf b;
  jc_buf_init(&b, 1 << 20);
  assert_int_equal(lb_dashboard_html(&s, "", 0, 1, &b), 0);
  jc_buf_append(&b, "", 1);
  const char *h = jc_buf_peek(&b);
  assert_non_null(strstr(h, "<tr class=srv data-pool=\"default\" data-server=\"b1\" "
                            "data-state=\"UP\">"));
  assert_non_null(strstr(h, "data-server=\"b2\" data-state=\"DRAIN\""));
  assert_null(strstr(h, "<script>x")); /* escaped */
  assert_non_null(strstr(h, "&lt;script&gt;x"));
  assert_null(strstr(h, "data-act="));     /* no actions without the right */
  assert_non_null(strstr(h, "id=unlock")); /* but the token field */
  assert_non_null(strstr(h, "data-id=\"abc&quot;&lt;\""));
  assert_non_null(strstr(h, "<span class=Tc style=\"width:"));
  assert_null(strstr(h, "http://") ? strstr(h, "src=\"http") : NULL); /* no external asset */
  assert_null(strstr(h, "<link"));
  jc_buf_reset(&b, 0);
  assert_int_equal(lb_dashboard_html(&s, "abc", 1, 0, &b), 0);
  jc_buf_append(&b, "", 1);
  h = jc_buf_peek(&b);
  assert_non_null(strstr(h, "<button data-act=drain data-srv=\"b2\">drain</button>"));
  assert_null(strstr(h, "id=unlock"));
  jc_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(host_header),           cmocka_unit_test(origin_header),
      cmocka_unit_test(bearer_and_levels),     cmocka_unit_test(settings),
      cmocka_unit_test(config_cross_checks),   cmocka_unit_test(latency_buckets),
      cmocka_unit_test(ring_keeps_the_newest), cmocka_unit_test(page),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
