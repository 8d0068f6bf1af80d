/* lb/core/target.c: the target forms journey-lb accepts and the path routes see (RFC 3986 6.2.2
 * and 5.2.4, nginx's choices where the RFC leaves one), as tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lb/core/target.h"

static void normalize_table(void **state) {
  (void)state;
  static const struct {
    const char *in, *out; /* out NULL: 400 */
  } t[] = {
      {"/", "/"},
      {"/my-app/data", "/my-app/data"},
      {"/my-app/data?x=/../y", "/my-app/data?x=/../y"}, /* the query is not a path */
      {"/my-app/../private/key.txt", "/private/key.txt"},
      {"/my-app/./data", "/my-app/data"},
      {"/my-app/data/.", "/my-app/data/"},
      {"/my-app/data/..", "/my-app/"},
      {"/a/b/../../c", "/c"},
      {"//my-app///data//", "/my-app/data/"},
      {"/%6D%79-app/%64ata", "/my-app/data"},     /* unreserved bytes decoded */
      {"/my-app/%2e%2E/private", "/private"},     /* encoded dots are dots */
      {"/my-app/.%2e/private", "/private"},
      {"/a%2fb", "/a%2Fb"},                        /* an encoded slash stays one, upper case */
      {"/a%3a%20b", "/a%3A%20b"},
      {"/a%25%32%65", "/a%252e"},                  /* %25 is '%': never decoded */
      {"/~user/", "/~user/"},
      {"", "/"},                                   /* absolute-form without a path */
      {"?q=1", "/?q=1"},
      {"/..", NULL},
      {"/a/../..", NULL},
      {"/%2e%2e/x", NULL},
      {"/a%", NULL},
      {"/a%2", NULL},
      {"/a%zz", NULL},
      {"/my-app/..%2Fprivate", NULL},             /* a backend decoding %2F would see ".." */
      {"/my-app/..%2fprivate", NULL},
      {"/my-app/%2F..", NULL},
      {"/my-app/..%5Cprivate", NULL},
      {"/my-app/..\\private", NULL},
      {"/my-app/a%2F.b", "/my-app/a%2F.b"},
  };
  char out[256];
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    const char *why;
    size_t n = lb_path_normalize(t[i].in, strlen(t[i].in), out, strlen(t[i].in) + 1, &why);
    if (!t[i].out) {
      if (n || !why)
        fail_msg("%s: expected 400, got '%.*s'", t[i].in, (int)n, out);
      continue;
    }
    if (!n || n != strlen(t[i].out) || memcmp(out, t[i].out, n) != 0)
      fail_msg("%s: expected %s, got '%.*s' (%s)", t[i].in, t[i].out, (int)n, out,
               why ? why : "-");
    /* a path said to be normal is left as it is */
    if (lb_path_is_normal(t[i].in, strlen(t[i].in)))
      assert_string_equal(t[i].in, t[i].out);
    assert_true(lb_path_is_normal(out, n) || memchr(out, '%', n) || strstr(out, "/.") || !n);
    /* normalising twice changes nothing */
    char again[256];
    size_t m = lb_path_normalize(out, n, again, n + 1, &why);
    assert_int_equal(m, n);
    assert_memory_equal(again, out, n);
  }
}

static void target_table(void **state) {
  (void)state;
  static const struct {
    const char *in;
    int options, status;
    const char *authority, *rest;
  } t[] = {
      {"/a?b", 0, 0, NULL, "/a?b"},
      {"*", 1, 0, NULL, "*"},
      {"*", 0, 400, NULL, NULL},
      {"http://www.my-app.com/my-app/data", 0, 0, "www.my-app.com", "/my-app/data"},
      {"HTTPS://www.my-app.com:8443?q", 0, 0, "www.my-app.com:8443", "?q"},
      {"http://[::1]:8080", 0, 0, "[::1]:8080", ""},
      {"http://user@www.my-app.com/", 0, 400, NULL, NULL},
      {"http:///a", 0, 400, NULL, NULL},
      {"ftp://x/a", 0, 400, NULL, NULL},
      {"www.my-app.com:443", 0, 400, NULL, NULL},
      {"a/b", 0, 400, NULL, NULL},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    lb_target tg;
    const char *why;
    int st = lb_target_parse(t[i].in, strlen(t[i].in), t[i].options, &tg, &why);
    if (st != t[i].status)
      fail_msg("%s: status %d, expected %d", t[i].in, st, t[i].status);
    if (st) {
      assert_non_null(why);
      continue;
    }
    if (t[i].authority) {
      assert_int_equal(tg.authority_len, strlen(t[i].authority));
      assert_memory_equal(tg.authority, t[i].authority, tg.authority_len);
    } else {
      assert_null(tg.authority);
    }
    assert_int_equal(tg.rest_len, strlen(t[i].rest));
    assert_memory_equal(tg.rest, t[i].rest, tg.rest_len);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(normalize_table),
      cmocka_unit_test(target_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
