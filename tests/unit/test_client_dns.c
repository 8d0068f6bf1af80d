/* client/dns_cache.c (TTL expiry with an injected clock, file round trip) and client/dns_pin.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/dns_cache.h"
#include "client/dns_pin.h"

static void cache_path(void **state) {
  char p[256];
  assert_int_equal(jn_dns_cache_path(p, sizeof p, "/x/cache", "/home/u"), 0);
  assert_string_equal(p, "/x/cache/journey/dns");
  assert_int_equal(jn_dns_cache_path(p, sizeof p, "relative", "/home/u"), 0);
  assert_string_equal(p, "/home/u/.cache/journey/dns");
  assert_int_equal(jn_dns_cache_path(p, sizeof p, NULL, NULL), -1);
}

static void cache_ttl_expiry(void **state) {
  char text[4096];
  jn_dns_answer a[2] = {{4, "192.0.2.10", 60}, {6, "2001:db8::10", 30}};
  time_t t0 = 1000000;
  size_t n = jn_dns_cache_update("", "www.my-app.com", a, 2, t0, text, sizeof text);
  assert_int_equal(n, strlen(text));
  jn_dns_answer out[4];
  /* fresh: both, with the remaining TTL */
  assert_int_equal(jn_dns_cache_lookup(text, "WWW.my-app.com", 0, t0 + 10, out, 4), 2);
  assert_int_equal(out[0].ttl, 50);
  assert_int_equal(out[1].ttl, 20);
  /* family filter */
  assert_int_equal(jn_dns_cache_lookup(text, "www.my-app.com", 6, t0 + 10, out, 4), 1);
  assert_string_equal(out[0].addr, "2001:db8::10");
  /* the AAAA expires first, then the A: exactly at expiry nothing is served */
  assert_int_equal(jn_dns_cache_lookup(text, "www.my-app.com", 0, t0 + 30, out, 4), 1);
  assert_int_equal(jn_dns_cache_lookup(text, "www.my-app.com", 0, t0 + 59, out, 4), 1);
  assert_int_equal(jn_dns_cache_lookup(text, "www.my-app.com", 0, t0 + 60, out, 4), 0);
  assert_int_equal(jn_dns_cache_lookup(text, "other.example", 0, t0, out, 4), 0);
}

static void cache_update_replaces_and_drops_expired(void **state) {
  char t1[4096], t2[4096];
  jn_dns_answer a = {4, "192.0.2.1", 10}, b = {4, "192.0.2.2", 100}, c = {4, "192.0.2.3", 0};
  jn_dns_cache_update("", "a.example", &a, 1, 100, t1, sizeof t1);
  jn_dns_cache_update(t1, "b.example", &b, 1, 100, t2, sizeof t2);
  assert_non_null(strstr(t2, "a.example"));
  /* at 200 a.example has expired and is dropped; b.example is replaced; TTL 0 is never stored */
  jn_dns_answer b2 = {4, "192.0.2.22", 100};
  jn_dns_cache_update(t2, "b.example", &b2, 1, 200, t1, sizeof t1);
  assert_null(strstr(t1, "a.example"));
  assert_null(strstr(t1, "192.0.2.2 "));
  assert_non_null(strstr(t1, "192.0.2.22"));
  jn_dns_cache_update(t1, "c.example", &c, 1, 200, t2, sizeof t2);
  assert_null(strstr(t2, "c.example"));
  /* garbage lines are ignored */
  jn_dns_answer out[2];
  assert_int_equal(jn_dns_cache_lookup("junk\nb.example 4 192.0.2.9 999 9\n", "b.example", 0, 1, out, 2), 1);
}

static void cache_file_round_trip(void **state) {
  char dir[] = "/tmp/journey-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256], err[256], buf[256];
  snprintf(path, sizeof path, "%s/sub/journey/dns", dir);
  assert_int_equal(jn_dns_cache_load(path, buf, sizeof buf, err, sizeof err), 0); /* absent: empty */
  assert_string_equal(buf, "");
  assert_int_equal(jn_dns_cache_store(path, "x 4 1.2.3.4 5 6\n", 16, err, sizeof err), 0);
  assert_int_equal(jn_dns_cache_load(path, buf, sizeof buf, err, sizeof err), 0);
  assert_string_equal(buf, "x 4 1.2.3.4 5 6\n");
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void pins(void **state) {
  char err[256];
  jn_dns_answer a[4];
  assert_int_equal(jn_dns_pin_check("www.my-app.com:443:127.0.0.1", err, sizeof err), 0);
  assert_int_equal(jn_dns_pin_check("h:*:[::1],127.0.0.2", err, sizeof err), 0);
  assert_int_equal(jn_dns_pin_check("h:443", err, sizeof err), -1);
  assert_int_equal(jn_dns_pin_check("h:0:1.2.3.4", err, sizeof err), -1);
  assert_int_equal(jn_dns_pin_check("h:443:not-an-ip", err, sizeof err), -1);
  assert_int_equal(jn_dns_pin_match("www.my-app.com:443:127.0.0.1", "WWW.MY-APP.COM", 443, a, 4), 1);
  assert_string_equal(a[0].addr, "127.0.0.1");
  assert_int_equal(a[0].ttl, -1);
  assert_int_equal(jn_dns_pin_match("www.my-app.com:443:127.0.0.1", "www.my-app.com", 8443, a, 4), 0);
  assert_int_equal(jn_dns_pin_match("h:*:[::1],127.0.0.2", "h", 1, a, 4), 2);
  assert_int_equal(a[0].family, 6);
  assert_string_equal(a[0].addr, "::1");
  assert_int_equal(a[1].family, 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cache_path), cmocka_unit_test(cache_ttl_expiry),
      cmocka_unit_test(cache_update_replaces_and_drops_expired), cmocka_unit_test(cache_file_round_trip),
      cmocka_unit_test(pins),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
