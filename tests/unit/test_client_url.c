/* client/url.c and client/request.c: URL parsing (ports, IPv6 literals, bad URLs) and the exact
 * request bytes with the seed's headers and -H semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "client/request.h"
#include "client/dns_pin.h"
#include "client/proxy.h"
#include "client/url.h"

static void url_seed(void **state) {
  jn_url u;
  char err[256];
  assert_int_equal(jn_url_parse("https://www.my-app.com/my-app/data", &u, err, sizeof err), 0);
  assert_string_equal(u.scheme, "https");
  assert_string_equal(u.host, "www.my-app.com");
  assert_int_equal(u.port, 443);
  assert_false(u.port_explicit);
  assert_string_equal(u.path, "/my-app/data");
  assert_string_equal(u.query, "");
  assert_int_equal(u.host_is_ip, 0);
}

static void url_ports_and_defaults(void **state) {
  static const struct {
    const char *in, *scheme, *host, *path, *query;
    int port, ip;
  } cases[] = {
      {"http://Example.COM", "http", "example.com", "/", "", 80, 0},
      {"HTTPS://a.b:8443/x?y=1#frag", "https", "a.b", "/x", "y=1", 8443, 0},
      {"www.my-app.com/my-app/data", "http", "www.my-app.com", "/my-app/data", "", 80, 0},
      {"https://127.0.0.1:65535?q", "https", "127.0.0.1", "/", "q", 65535, 4},
      {"https://[::1]:8443/p", "https", "::1", "/p", "", 8443, 6},
      {"http://[2001:db8::1]/", "http", "2001:db8::1", "/", "", 80, 6},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    jn_url u;
    char err[256];
    assert_int_equal(jn_url_parse(cases[i].in, &u, err, sizeof err), 0);
    assert_string_equal(u.scheme, cases[i].scheme);
    assert_string_equal(u.host, cases[i].host);
    assert_string_equal(u.path, cases[i].path);
    assert_string_equal(u.query, cases[i].query);
    assert_int_equal(u.port, cases[i].port);
    assert_int_equal(u.host_is_ip, cases[i].ip);
  }
}

static void url_bad(void **state) {
  static const char *bad[] = {"",           "ftp://x/",         "https://",           "https://:443/",
                              "https://h:0/", "https://h:65536/", "https://h:8x/",      "https://[::1/",
                              "https://[zz]/", "https://u:p@h/",  "https://h h/",       "https://h:/",
                              "https://[::1]x/", "https://h\x01/"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    jn_url u;
    char err[256] = "";
    assert_int_equal(jn_url_parse(bad[i], &u, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad URL"));
  }
}

static void host_header_and_target(void **state) {
  jn_url u;
  char err[256], buf[300];
  assert_int_equal(jn_url_parse("https://[::1]:8443/a?b=c", &u, err, sizeof err), 0);
  jn_url_host_header(&u, buf, sizeof buf);
  assert_string_equal(buf, "[::1]:8443");
  jn_url_target(&u, buf, sizeof buf);
  assert_string_equal(buf, "/a?b=c");
  assert_int_equal(jn_url_parse("http://h:80/", &u, err, sizeof err), 0);
  jn_url_host_header(&u, buf, sizeof buf);
  assert_string_equal(buf, "h");
}

static void request_seed_bytes(void **state) {
  jn_url u;
  jn_request r;
  char err[256], buf[4096];
  assert_int_equal(jn_url_parse("https://www.my-app.com/my-app/data", &u, err, sizeof err), 0);
  jn_request_init(&r, &u, "GET", 1);
  size_t n = jn_request_format(&r, &u, buf, sizeof buf);
  assert_int_equal(n, strlen(buf));
  const char *want = "GET /my-app/data HTTP/1.1\r\n"
                     "Host: www.my-app.com\r\n"
                     "User-Agent: journey/" JOURNEY_VERSION "\r\n"
                     "Accept: text/html,application/json,*/*;q=0.8\r\n"
                     "Accept-Language: ko-KR,ko;q=0.9,en;q=0.8\r\n"
                     "Accept-Encoding: gzip, deflate, br\r\n"
                     "Connection: keep-alive\r\n"
                     "\r\n";
  assert_string_equal(buf, want);
}

static void request_header_args(void **state) {
  jn_url u;
  jn_request r;
  char err[256], buf[4096];
  jn_url_parse("http://h/", &u, err, sizeof err);
  jn_request_init(&r, &u, "HEAD", 0);
  assert_string_equal(jn_request_get(&r, "connection"), "close");
  assert_int_equal(jn_request_header_arg(&r, "user-agent: test/1", err, sizeof err), 0);
  assert_int_equal(jn_request_header_arg(&r, "X-Trace: abc", err, sizeof err), 0);
  assert_int_equal(jn_request_header_arg(&r, "Accept-Language:", err, sizeof err), 0);
  assert_int_equal(jn_request_header_arg(&r, "X-Empty;", err, sizeof err), 0);
  assert_int_equal(jn_request_header_arg(&r, "Bad Name: x", err, sizeof err), -1);
  assert_int_equal(jn_request_header_arg(&r, "NoColon", err, sizeof err), -1);
  assert_int_equal(jn_request_header_arg(&r, "X: a\r\nInjected: 1", err, sizeof err), -1);
  jn_request_format(&r, &u, buf, sizeof buf);
  assert_non_null(strstr(buf, "HEAD / HTTP/1.1\r\n"));
  assert_non_null(strstr(buf, "User-Agent: test/1\r\n"));
  assert_null(strstr(buf, "journey/"));
  assert_null(strstr(buf, "Accept-Language"));
  assert_non_null(strstr(buf, "X-Trace: abc\r\n"));
  assert_non_null(strstr(buf, "X-Empty: \r\n"));
  assert_null(strstr(buf, "Injected"));
  /* a buffer too small reports the length needed */
  assert_true(jn_request_format(&r, &u, buf, 10) > 10);
}

/* Location values resolved against the URL they answered, and curl's url_effective form. */
static void url_resolve_location(void **state) {
  (void)state;
  static const struct {
    const char *base, *loc, *want;
  } t[] = {
      {"https://www.my-app.com/my-app/data", "/login?next=1", "https://www.my-app.com/login?next=1"},
      {"https://www.my-app.com:8443/a/b", "c", "https://www.my-app.com:8443/a/c"},
      {"https://www.my-app.com/a/b", "http://other.example/x#frag", "http://other.example/x"},
      {"http://[::1]:8080/p?q=1", "//cdn.example/s", "http://cdn.example/s"},
      {"http://h/dir/", "?page=2", "http://h/dir/?page=2"},
      {"http://h", "next", "http://h/next"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    jn_url u;
    char err[256], out[512];
    assert_int_equal(jn_url_parse(t[i].base, &u, err, sizeof err), 0);
    jn_url_resolve(&u, t[i].loc, out, sizeof out);
    assert_string_equal(out, t[i].want);
  }
  jn_url u;
  char err[256], out[512];
  jn_url_parse("http://[::1]:8080/p?q=1", &u, err, sizeof err);
  jn_url_format(&u, out, sizeof out);
  assert_string_equal(out, "http://[::1]:8080/p?q=1");
}

/* Proxy choice and NO_PROXY matching, CONNECT's bytes and the proxy's answer. */
static void proxy_pick_and_connect(void **state) {
  (void)state;
  jn_url t, p;
  char err[256], buf[512];
  jn_url_parse("https://www.my-app.com:8443/x", &t, err, sizeof err);
  assert_int_equal(jn_proxy_pick(NULL, NULL, NULL, NULL, &t, &p, err, sizeof err), 0);
  assert_int_equal(jn_proxy_pick(NULL, "http://10.0.0.1:3128", NULL, NULL, &t, &p, err, sizeof err), 1);
  assert_string_equal(p.host, "10.0.0.1");
  assert_int_equal(p.port, 3128);
  assert_int_equal(jn_proxy_pick("proxy.example", NULL, NULL, NULL, &t, &p, err, sizeof err), 1);
  assert_int_equal(p.port, 1080);
  assert_int_equal(jn_proxy_pick(NULL, NULL, "http://h:1", NULL, &t, &p, err, sizeof err), 0); /* http_proxy: http only */
  assert_int_equal(jn_proxy_pick("socks5://h:1", NULL, NULL, NULL, &t, &p, err, sizeof err), -1);
  assert_int_equal(jn_proxy_pick("h:1", NULL, NULL, "my-app.com", &t, &p, err, sizeof err), 0);
  assert_true(jn_proxy_exempt("*", "anything"));
  assert_true(jn_proxy_exempt("localhost, .my-app.com", "www.my-app.com"));
  assert_true(jn_proxy_exempt("my-app.com", "my-app.com"));
  assert_false(jn_proxy_exempt("my-app.com", "notmy-app.com"));
  assert_false(jn_proxy_exempt("", "h"));
  assert_true(jn_proxy_connect_request(&t, buf, sizeof buf) < sizeof buf);
  assert_non_null(strstr(buf, "CONNECT www.my-app.com:8443 HTTP/1.1\r\nHost: www.my-app.com:8443\r\n"));
  int st = 0;
  size_t n = 0;
  assert_int_equal(jn_proxy_connect_response("HTTP/1.1 200 OK\r\n", 17, &st, &n), 0);
  assert_int_equal(jn_proxy_connect_response("HTTP/1.1 200 OK\r\n\r\n", 19, &st, &n), 1);
  assert_int_equal(st, 200);
  assert_int_equal(n, 19);
  assert_int_equal(jn_proxy_connect_response("SSH-2.0-x\r\n", 11, &st, &n), -1);
}

/* --connect-to rules: which apply, and where they send the connection. */
static void connect_to_rules(void **state) {
  (void)state;
  char h[256];
  int port = 0;
  assert_int_equal(jn_connect_to_match("www.my-app.com:443:127.0.0.1:8443", "www.my-app.com", 443, h, sizeof h, &port), 1);
  assert_string_equal(h, "127.0.0.1");
  assert_int_equal(port, 8443);
  assert_int_equal(jn_connect_to_match("www.my-app.com:443:127.0.0.1:8443", "www.my-app.com", 80, h, sizeof h, &port), 0);
  assert_int_equal(jn_connect_to_match("::[::1]:", "any.example", 443, h, sizeof h, &port), 1);
  assert_string_equal(h, "::1");
  assert_int_equal(port, 443);
  assert_int_equal(jn_connect_to_match(":80::8080", "h", 80, h, sizeof h, &port), 1);
  assert_string_equal(h, "h");
  assert_int_equal(port, 8080);
  assert_int_equal(jn_connect_to_match("a:b:c", "a", 1, h, sizeof h, &port), -1);
  assert_int_equal(jn_connect_to_match("a:1:b:99999", "a", 1, h, sizeof h, &port), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(url_seed),           cmocka_unit_test(url_ports_and_defaults),
      cmocka_unit_test(url_bad),            cmocka_unit_test(host_header_and_target),
      cmocka_unit_test(request_seed_bytes), cmocka_unit_test(request_header_args),
      cmocka_unit_test(url_resolve_location), cmocka_unit_test(proxy_pick_and_connect),
      cmocka_unit_test(connect_to_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
