/* lb/request_check.c: the head checks on llhttp's views and the raw bytes, table-driven, and the
 * promise behind them: what lb_rewrite_request forwards passes the same check. The parsing is
 * llhttp with the LB's own header gathering (lb/rewrite.c), as lb/client_conn.c does it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <llhttp.h>
#include <string.h>

#include "lb/core/request_check.h"
#include "lb/core/rewrite.h"

typedef struct {
  lb_header h[100];
  uint32_t n;
  int state, done;
  const char *url;
  size_t url_len;
} ctx;

static int on_url(llhttp_t *p, const char *at, size_t n) {
  ctx *c = p->data;
  if (!c->url)
    c->url = at;
  c->url_len = (size_t)(at + n - c->url);
  return 0;
}
static int on_field(llhttp_t *p, const char *at, size_t n) {
  ctx *c = p->data;
  return lb_headers_on_field(c->h, &c->n, 100, &c->state, at, n);
}
static int on_value(llhttp_t *p, const char *at, size_t n) {
  ctx *c = p->data;
  lb_headers_on_value(c->h, c->n, &c->state, at, n);
  return 0;
}
static int on_done(llhttp_t *p) {
  ((ctx *)p->data)->done = 1;
  return HPE_PAUSED;
}

/* The status journey-lb gives this head: 0 = forwarded. */
static int verdict(const char *raw, const char **why, ctx *c, llhttp_t *p) {
  static llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_url = on_url;
  s.on_header_field = on_field;
  s.on_header_value = on_value;
  s.on_headers_complete = on_done;
  memset(c, 0, sizeof *c);
  llhttp_init(p, HTTP_REQUEST, &s);
  p->data = c;
  size_t len = strlen(raw);
  enum llhttp_errno e = llhttp_execute(p, raw, len);
  if (e != HPE_PAUSED || !c->done)
    return lb_request_error_status(raw, len, (int)e, why);
  if (!lb_headers_names_valid(c->h, c->n))
    return 400;
  lb_request_head rh = {raw,    (size_t)(llhttp_get_error_pos(p) - raw),
                        c->url, c->url_len,
                        p->http_major, p->http_minor,
                        p->method == HTTP_OPTIONS, c->h, c->n, 0};
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
      {"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n", 400, "origin-form"},
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
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    ctx c;
    llhttp_t p;
    const char *why = NULL;
    int st = verdict(t[i].raw, &why, &c, &p);
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
    ctx c;
    llhttp_t p;
    const char *why;
    assert_int_equal(verdict(in[i], &why, &c, &p), 0);
    lb_request_view v = {"GET", 3, c.url, c.url_len, p.http_minor, c.h, c.n, LB_FRAME_NONE};
    lb_forward_info fi = {"192.0.2.7", "http", "rid", 3, "journey-lb", 0};
    char out[2048];
    size_t n = lb_rewrite_request(out, sizeof out - 1, &v, &fi);
    assert_true(n > 0);
    out[n] = 0;
    if (i == 0)
      assert_non_null(strstr(out, "\r\nHost:\r\n"));
    else
      assert_null(strstr(out, "\r\nHost:\r\n"));
    ctx c2;
    llhttp_t p2;
    int st = verdict(out, &why, &c2, &p2);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(table),
      cmocka_unit_test(forwarded_head_passes_the_check),
      cmocka_unit_test(field_value_every_byte),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
