#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/addr.h"

static const struct {
  const char *in, *host;
  int port;
} good[] = {
    {"127.0.0.1:8443", "127.0.0.1", 8443},
    {"[::1]:9001", "::1", 9001},
    {"www.my-app.com:443", "www.my-app.com", 443},
    {"backend:1", "backend", 1},
    {"[fe80::1%eth0]:80", "fe80::1%eth0", 80},
    {"10.0.0.4:65535", "10.0.0.4", 65535},
};

static const struct {
  const char *in, *why; /* a fragment the error message must contain */
} bad[] = {
    {"127.0.0.1", "missing port"},
    {"127.0.0.1:", "missing port"},
    {"127.0.0.1:0", "port 0"},
    {"127.0.0.1:65536", "out of range"},
    {"127.0.0.1:80x", "not a number"},
    {"[::1:80", "unclosed"},
    {"[::1]", "missing port"},
    {"::1:80", "brackets"},
    {":80", "missing host"},
    {"", "empty"},
    {"[zz::1]:80", "not an IPv6"},
};

static void split_valid(void **state) {
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char host[256], err[256];
    int port = -1;
    assert_int_equal(jc_hostport_split(good[i].in, host, sizeof host, &port, err, sizeof err), 0);
    assert_string_equal(host, good[i].host);
    assert_int_equal(port, good[i].port);
  }
}

static void split_invalid(void **state) {
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char host[256], err[256] = "";
    int port = -1;
    int r = jc_hostport_split(bad[i].in, host, sizeof host, &port, err, sizeof err);
    if (r != -1 || !strstr(err, bad[i].why))
      fail_msg("'%s': got %d '%s', want an error mentioning '%s'", bad[i].in, r, err, bad[i].why);
  }
}

static void parse_and_format_roundtrip(void **state) {
  const char *in[] = {"127.0.0.1:8443", "[::1]:9001", "[2001:db8::5]:443", "203.0.113.67:443"};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char err[256], out[JC_ADDRSTR_MAX];
    assert_int_equal(jc_addr_parse(in[i], &ss, &len, err, sizeof err), 0);
    assert_true(len > 0);
    assert_string_equal(jc_addr_format((struct sockaddr *)&ss, out, sizeof out), in[i]);
  }
  struct sockaddr_storage ss;
  char err[256];
  assert_int_equal(jc_addr_parse("localhost:80", &ss, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "not a numeric IP"));
}

static void private_and_loopback(void **state) {
  const struct {
    const char *a;
    int priv, loop;
  } c[] = {
      {"192.168.1.100:1", 1, 0}, {"10.0.0.4:1", 1, 0},     {"172.16.0.1:1", 1, 0},
      {"172.32.0.1:1", 0, 0},    {"100.64.0.1:1", 1, 0},   {"203.0.113.67:1", 0, 0},
      {"127.0.0.1:1", 0, 1},     {"[::1]:1", 0, 1},        {"[fd00::1]:1", 1, 0},
      {"[2001:db8::1]:1", 0, 0}, {"[::ffff:10.1.2.3]:1", 1, 0},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    struct sockaddr_storage ss;
    char err[256];
    assert_int_equal(jc_addr_parse(c[i].a, &ss, NULL, err, sizeof err), 0);
    if (jc_addr_is_private((struct sockaddr *)&ss) != c[i].priv ||
        jc_addr_is_loopback((struct sockaddr *)&ss) != c[i].loop)
      fail_msg("%s: private/loopback classification wrong", c[i].a);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(split_valid),
      cmocka_unit_test(split_invalid),
      cmocka_unit_test(parse_and_format_roundtrip),
      cmocka_unit_test(private_and_loopback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
