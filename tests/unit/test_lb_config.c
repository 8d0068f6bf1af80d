/* Config: INI files and flags, every kind of error names the file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb/core/config.h"

static char path[64];

static int load(lb_config *c, const char *text, char *err, size_t errlen) {
  snprintf(path, sizeof path, "/tmp/test_lb_config_%d.conf", (int)getpid());
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  lb_config_defaults(c);
  int r = lb_config_load_file(c, path, err, errlen);
  if (r == 0)
    r = lb_config_finish(c, err, errlen);
  unlink(path);
  return r;
}

static void valid_file(void **state) {
  static lb_config c;
  char err[1024] = "";
  const char *text = "; journey-lb\n"
                     "[lb]\n"
                     "listen = https://127.0.0.1:8443\n"
                     "listen = http://[::1]:8080\n"
                     "cert = /etc/a.crt\n"
                     "key = /etc/a.key\n"
                     "workers = 3\n"
                     "algorithm = least-conn\n"
                     "client-header-timeout = 2s\n"
                     "client-idle-timeout = 500ms\n"
                     "max-body-size = 1m\n"
                     "max-header-size = 8k\n"
                     "server-timing = off\n"
                     "log-format = json\n"
                     "\n"
                     "[pool my-app]\n"
                     "algorithm = round-robin\n"
                     "backend = b1=127.0.0.1:9001\n"
                     "backend = b2=127.0.0.1:9002,weight=3\n"
                     "route = /my-app/\n"
                     "[pool api]\n"
                     "backend = 127.0.0.1:9100\n"
                     "route = /api/\n";
  assert_int_equal(load(&c, text, err, sizeof err), 0);
  assert_int_equal(c.nlisteners, 2);
  assert_true(c.listeners[0].tls);
  assert_false(c.listeners[1].tls);
  assert_string_equal(c.listeners[1].text, "http://[::1]:8080");
  assert_int_equal(c.ncerts, 1);
  assert_int_equal(c.workers, 3);
  assert_int_equal(c.client_header_timeout, 2000);
  assert_int_equal(c.client_idle_timeout, 500);
  assert_int_equal(c.max_body_size, 1024 * 1024);
  assert_int_equal(c.max_header_size, 8192);
  assert_int_equal(c.server_timing, 0);
  assert_int_equal(c.served_by, 1);
  assert_int_equal(c.npools, 3); /* default (empty) + my-app + api */
  assert_int_equal(c.pools[1].algo, LB_ALGO_ROUND_ROBIN);
  assert_int_equal(c.pools[2].algo, LB_ALGO_LEAST_CONN); /* inherits [lb] algorithm */
  assert_int_equal(c.pools[1].servers[1].weight, 3);
  assert_string_equal(c.pools[1].servers[1].addr_text, "127.0.0.1:9002");
  assert_string_equal(c.pools[2].servers[0].name, "s1");
  assert_int_equal(lb_config_route(&c, "/my-app/data", 12), 1);
  assert_int_equal(lb_config_route(&c, "/api/x", 6), 2);
  assert_int_equal(lb_config_route(&c, "/other", 6), -1); /* 404 */
}

static void flags_only_one_pool_for_every_path(void **state) {
  static lb_config c;
  char err[512];
  lb_config_defaults(&c);
  assert_int_equal(lb_config_set(&c, "", "listen", "http://127.0.0.1:8080", "--listen", err,
                                 sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "", "backend", "b1=127.0.0.1:9001,weight=2", "--backend",
                                 err, sizeof err), 0);
  assert_int_equal(lb_config_finish(&c, err, sizeof err), 0);
  assert_int_equal(c.pools[0].servers[0].weight, 2);
  assert_int_equal(lb_config_route(&c, "/anything", 9), 0);
  assert_int_equal(lb_config_route(&c, "/", 1), 0);
  assert_int_equal(lb_config_set(&c, "", "workers", "0", "--workers", err, sizeof err), -1);
  assert_non_null(strstr(err, "--workers"));
}

/* Each error: the message names file:line and says what is wrong. */
static void expect_error(const char *text, int line, const char *words) {
  static lb_config c;
  char err[1024] = "";
  assert_int_not_equal(load(&c, text, err, sizeof err), 0);
  char where[96];
  if (line > 0) {
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    if (!strstr(err, where))
      fail_msg("expected '%s' in: %s", where, err);
  } else if (!strstr(err, path)) {
    fail_msg("expected the file name in: %s", err);
  }
  if (!strstr(err, words))
    fail_msg("expected '%s' in: %s", words, err);
}

static void errors_name_file_and_line(void **state) {
  const char *base = "[lb]\nlisten = http://127.0.0.1:8080\n";
  char t[512];
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nbogus = 1\n", base);
  expect_error(t, 4, "unknown setting 'bogus'");
  snprintf(t, sizeof t, "%sbackend = b1=nothost:9001\n", base);
  expect_error(t, 3, "backend 'b1=nothost:9001'");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001,weight=0\n", base);
  expect_error(t, 3, "weight must be 1..1000");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nbackend = b1=127.0.0.1:9002\n", base);
  expect_error(t, 4, "already has a server named b1");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nalgorithm = random\n", base);
  expect_error(t, 4, "expected round-robin, least-conn or hash");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nclient-header-timeout = soon\n", base);
  expect_error(t, 4, "expected a duration");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nmax-header-size = 1\n", base);
  expect_error(t, 4, "max-header-size");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nlisten = ftp://127.0.0.1:21\n", base);
  expect_error(t, 4, "scheme must be http:// or https://");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\n[weird]\nx = 1\n", base);
  expect_error(t, 5, "unknown section [weird]");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nthis line has no equals sign\n", base);
  expect_error(t, 4, "syntax error");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nroute = /x/ nosuchpool\n", base);
  expect_error(t, 4, "no pool named 'nosuchpool'");
  snprintf(t, sizeof t, "%skey = /a.key\n", base);
  expect_error(t, 3, "without a cert before it");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nclient-verify = sometimes\n", base);
  expect_error(t, 4, "client-verify 'sometimes': expected optional or required");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nclient-cert-header = X Bad\n", base);
  expect_error(t, 4, "client-cert-header 'X Bad': expected a header name");
  snprintf(t, sizeof t, "%sbackend = b1=127.0.0.1:9001\nclient-verify = optional\n", base);
  expect_error(t, 0, "client-verify needs client-ca FILE");
  /* whole-file problems name the file */
  expect_error("[lb]\nbackend = b1=127.0.0.1:9001\n", 0, "no listener");
  expect_error("[lb]\nlisten = https://127.0.0.1:8443\nbackend = b1=127.0.0.1:9001\n", 0,
               "needs a certificate");
  expect_error("[lb]\nlisten = http://127.0.0.1:8080\n", 0, "no backend");
  expect_error("[lb]\nlisten = http://127.0.0.1:8080\n[pool p]\nroute = /p/\n", 0,
               "pool p has no backend");
}

/* TLS settings from the file; client-ca alone means required. */
static void tls_settings(void **state) {
  (void)state;
  static lb_config c;
  char err[1024] = "";
  const char *text = "[lb]\nlisten = http://127.0.0.1:8080\nbackend = b1=127.0.0.1:9001\n"
                     "tls-ticket-key-file = /etc/journey/tickets.keys\n"
                     "client-ca = /etc/journey/clients.pem\n";
  assert_int_equal(load(&c, text, err, sizeof err), 0);
  assert_string_equal(c.tls.ticket_key_file, "/etc/journey/tickets.keys");
  assert_string_equal(c.tls.client_ca, "/etc/journey/clients.pem");
  assert_int_equal(c.tls.client_verify, LB_CLIENT_VERIFY_REQUIRED);
  assert_string_equal(c.tls.cert_header, "X-Client-Cert-Subject");
  const char *text2 = "[lb]\nlisten = http://127.0.0.1:8080\nbackend = b1=127.0.0.1:9001\n"
                      "client-ca = /c.pem\nclient-verify = optional\nclient-cert-header = X-Mtls-Dn\n";
  assert_int_equal(load(&c, text2, err, sizeof err), 0);
  assert_int_equal(c.tls.client_verify, LB_CLIENT_VERIFY_OPTIONAL);
  assert_string_equal(c.tls.cert_header, "X-Mtls-Dn");
}

static void missing_file(void **state) {
  static lb_config c;
  char err[512];
  lb_config_defaults(&c);
  assert_int_equal(lb_config_load_file(&c, "/nonexistent/lb.conf", err, sizeof err), -1);
  assert_non_null(strstr(err, "/nonexistent/lb.conf: cannot open"));
}

static void value_parsers(void **state) {
  uint32_t ms;
  uint64_t sz;
  int b;
  assert_int_equal(lb_parse_duration_ms("250", &ms), 0);
  assert_int_equal(ms, 250);
  assert_int_equal(lb_parse_duration_ms("1.5s", &ms), 0);
  assert_int_equal(ms, 1500);
  assert_int_equal(lb_parse_duration_ms("2m", &ms), 0);
  assert_int_equal(ms, 120000);
  assert_int_equal(lb_parse_duration_ms("-1s", &ms), -1);
  assert_int_equal(lb_parse_duration_ms("5 s", &ms), -1);
  assert_int_equal(lb_parse_size("8k", &sz), 0);
  assert_int_equal(sz, 8192);
  assert_int_equal(lb_parse_size("2MB", &sz), 0);
  assert_int_equal(sz, 2 * 1024 * 1024);
  assert_int_equal(lb_parse_size("lots", &sz), -1);
  assert_int_equal(lb_parse_bool("off", &b), 0);
  assert_int_equal(b, 0);
  assert_int_equal(lb_parse_bool("maybe", &b), -1);
  lb_algo a;
  assert_int_equal(lb_algo_parse("leastconn", &a), 0);
  assert_int_equal(a, LB_ALGO_LEAST_CONN);
  assert_string_equal(lb_algo_name(LB_ALGO_ROUND_ROBIN), "round-robin");
}

/* `workers = auto` takes the CPUs online, at most LB_MAX_WORKERS: a machine with more CPUs than
 * that must not overrun anything sized for LB_MAX_WORKERS (it once overran a fixed array). */
static void worker_count(void **state) {
  (void)state;
  lb_config c;
  lb_config_defaults(&c);
  assert_int_equal(c.workers, 0); /* auto */
  assert_int_equal(lb_config_workers(&c, 2), 2);
  assert_int_equal(lb_config_workers(&c, 1000), LB_MAX_WORKERS);
  assert_int_equal(lb_config_workers(&c, LB_MAX_WORKERS + 1), LB_MAX_WORKERS);
  assert_int_equal(lb_config_workers(&c, 0), 1);
  assert_int_equal(lb_config_workers(&c, -1), 1); /* sysconf failed */
  char err[256];
  assert_int_equal(lb_config_set(&c, "", "workers", "3", "--workers", err, sizeof err), 0);
  assert_int_equal(lb_config_workers(&c, 1000), 3);
  assert_int_equal(lb_config_set(&c, "", "workers", "257", "--workers", err, sizeof err), -1);
  assert_non_null(strstr(err, "1..256"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(valid_file),
      cmocka_unit_test(flags_only_one_pool_for_every_path),
      cmocka_unit_test(errors_name_file_and_line),
      cmocka_unit_test(missing_file),
      cmocka_unit_test(tls_settings),
      cmocka_unit_test(value_parsers),
      cmocka_unit_test(worker_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
