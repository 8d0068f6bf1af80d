/* lb/request_check.c: the head checks on llhttp's views and the raw bytes, table-driven, and the
 * promise behind them: what lb_rewrite_request forwards passes the same check. The parsing is
 * the LB's own HTTP/1 codec (lb/http/h1.c), linked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <llhttp.h>
#include <string.h>

#include "lb/core/request_check.h"
#include "lb/core/rewrite.h"
#include "h1_head.h"

/* The status journey-lb gives this head: 0 = forwarded. */
static int verdict(const char *raw, const char **why, h1_head *c) {
  size_t len = strlen(raw);
  enum llhttp_errno e = h1_parse_head(c, raw, len);
  if (e != HPE_PAUSED)
    return lb_request_error_status(raw, len, (int)e, why);
  lb_request_head rh = {raw,    c->end,       c->r.url, c->r.url_len, c->p.http_major,
                        c->p.http_minor, c->p.method == HTTP_OPTIONS, c->h, c->r.nhdrs, 1};
  return lb_request_check(&rh, why);
}

static void table(void **state) {
  static const struct {
    const char *raw;
    int status;
    const char *why; /* a word of the reason, or NULL */
  } t[] = {
      {"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL},
      {"\r\nGET /a HTTP/1.1\r\nHost: x:8443\r\nX-A: b\tc\r\n\r\n", 0, NULL},
      {"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL},
      {"GET /a HTTP/1.0\r\n\r\n", 0, NULL},
      {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 0, NULL},
      {"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400, "obs-fold"},
      {"GET /a HTTP/1.1\nHost: x\r\n\r\n", 400, "CRLF"},
      {"GET /a HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400, NULL},
      {"GET  /a HTTP/1.1\r\nHost: x\r\n\r\n", 400, "one space"},
      {"GET /a\r\n\r\n", 400, "HTTP/0.9"},
      {"GET /a HTTP/2.0\r\nHost: x\r\n\r\n", 505, "version"},
      {"GET /a HTTP/3.0\r\nHost: x\r\n\r\n", 505, "version"},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP/2"},
      {"FOO /a HTTP/1.1\r\nHost: x\r\n\r\n", 501, "method"},
      {"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL}, /* absolute-form (RFC 9112 3.2.2) */
      {"GET https://x:8443?q HTTP/1.1\r\nHost: y\r\n\r\n", 0, NULL},
      {"GET http://u@x/a HTTP/1.1\r\nHost: x\r\n\r\n", 400, "authority"},
      {"GET ftp://x/a HTTP/1.1\r\nHost: x\r\n\r\n", 400, "origin-form"},
      {"GET x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
      {"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "origin-form"},
      {"GET /a HTTP/1.1\r\n\r\n", 400, "missing Host"},
      {"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "more than one Host"},
      {"GET /a HTTP/1.1\r\nHost: x y\r\n\r\n", 400, "Host"},
      {"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close, content-length\r\n\r\n", 400, "Connection"},
      {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400, "chunked"},
      {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400, NULL},
      {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "coding"},
      {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
       501, "coding"},
      {"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0"},
      /* whitespace and controls inside the target */
      {"GET /my-app/data\tHTTP/1.0 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "target"},
      {"GET /a\fb HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
      {"GET /a\vb HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
      {"GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
      {"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
      {"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
      {"GET /a%09b?q=%20 HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    h1_head c;
    const char *why = NULL;
    int st = verdict(t[i].raw, &why, &c);
    if (st != t[i].status)
      fail_msg("row %zu: %d, expected %d (%s)", i, st, t[i].status, why ? why : "");
    if (t[i].why && (!why || !strstr(why, t[i].why)))
      fail_msg("row %zu: reason '%s' lacks '%s'", i, why ? why : "(none)", t[i].why);
  }
}

/* HTTP/1.0 without Host leaves as HTTP/1.1 with an empty Host (RFC 9110 7.2), which the backend
 * and the check accept; with a Host, it is kept as it was. */
static void forwarded_head_passes_the_check(void **state) {
  const char *in[] = {"GET /a HTTP/1.0\r\n\r\n", "GET /a?q=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"};
  for (size_t i = 0; i < 2; i++) {
    h1_head c;
    const char *why;
    assert_int_equal(verdict(in[i], &why, &c), 0);
    lb_request_view v = {"GET", 3, c.r.url, c.r.url_len, c.p.http_minor, c.h, c.r.nhdrs,
                         LB_FRAME_NONE, NULL, 0};
    lb_forward_info fi = {"192.0.2.7", "http", "rid", 3, "journey-lb", 0, NULL, 0, NULL, 0};
    char out[2048];
    size_t n = lb_rewrite_request(out, sizeof out - 1, &v, &fi);
    assert_true(n > 0);
    out[n] = 0;
    if (i == 0)
      assert_non_null(strstr(out, "\r\nHost:\r\n"));
    else
      assert_null(strstr(out, "\r\nHost:\r\n"));
    h1_head c2;
    int st = verdict(out, &why, &c2);
    if (st)
      fail_msg("forwarded head refused (%d %s): %s", st, why, out);
  }
}

/* The word-at-a-time value check (lb/request_check.c) against the rule byte by byte: every
 * byte value at every position of every length up to 24 (the word, the overlapping last word
 * and the short tail all covered), with the rest of the value plain or obs-text. */
static void field_value_every_byte(void **state) {
  char v[24];
  for (size_t n = 1; n <= sizeof v; n++)
    for (size_t pos = 0; pos < n; pos++)
      for (int ch = 0; ch < 256; ch++)
        for (int fill = 0; fill < 2; fill++) {
          memset(v, fill ? 0xe9 : 'a', n);
          v[pos] = (char)ch;
          int want = ch == '\t' || (ch >= 0x20 && ch != 0x7f);
          if (lb_field_value_valid(v, n) != want)
            fail_msg("byte 0x%02x at %zu of %zu (fill %d): expected %d", ch, pos, n, fill, want);
        }
  assert_true(lb_field_value_valid("", 0));
  assert_true(lb_field_value_valid("a\tb\tc\td\te\tf\tg", 13));
}

/* A backend's fields in one pass: the first bad one decides, a name before its value. */
static void fields_checked_in_one_pass(void **state) {
  (void)state;
  lb_header h[3] = {{"Content-Type", "text/plain", 12, 10},
                    {"X-Long-Header-Name-1", "v", 20, 1},
                    {"ETag", "\"abc\"", 4, 5}};
  assert_int_equal(lb_fields_valid(h, 3), 0);
  assert_int_equal(lb_fields_valid(h, 0), 0);
  h[1].name = "X-Long-Header Name-1";
  assert_int_equal(lb_fields_valid(h, 3), LB_FIELD_BAD_NAME);
  h[1].name = "X-Long-Header-Name-1";
  h[2].value = "\"a\nc\"";
  assert_int_equal(lb_fields_valid(h, 3), LB_FIELD_BAD_VALUE);
  h[2].name = "E@ag";
  assert_int_equal(lb_fields_valid(h, 3), LB_FIELD_BAD_NAME);
  h[2].name = "";
  h[2].name_len = 0;
  assert_int_equal(lb_fields_valid(h, 3), LB_FIELD_BAD_NAME);
}

/* A head over the limit is 414 when its request line alone is: the target is too long. */
static void request_line_over_limit(void **state) {
  (void)state;
  static const char done[] = "XXGET /aaaaaaaaaa HTTP/1.1\r\nHost: a\r\n";
  assert_false(lb_request_line_over(done, 2, sizeof done - 1, 25)); /* 24 bytes + CR */
  assert_true(lb_request_line_over(done, 2, sizeof done - 1, 24));
  static const char open_line[] = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaa";
  assert_true(lb_request_line_over(open_line, 0, sizeof open_line - 1, 16)); /* no LF yet */
  assert_false(lb_request_line_over(open_line, 0, sizeof open_line - 1, 64));
  assert_false(lb_request_line_over(NULL, 0, 0, 16));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(table),
      cmocka_unit_test(forwarded_head_passes_the_check),
      cmocka_unit_test(field_value_every_byte),
      cmocka_unit_test(fields_checked_in_one_pass),
      cmocka_unit_test(request_line_over_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
