/* lb/core/chunk_check.c through the LB's own codec (lb_h1_req_execute_body, lb/http/h1.c): every
 * chunked body is fed whole and byte by byte (a client may send any split), and must give the
 * same verdict both ways: forwarded (the message ends exactly at the body's last byte) or
 * refused with 400, 413 or 431 (the reason is checked when it is the strict check that refused,
 * not llhttp itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <llhttp.h>
#include <stdio.h>
#include <string.h>

#include "lb/core/chunk_check.h"
#include "h1_head.h"

#define HEAD "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

/* 0 forwarded whole, else the status journey-lb answers; *rest: bytes after the message. */
static int body_verdict(const char *body, size_t blen, size_t step, uint64_t max_body,
                        size_t *rest, const char **why) {
  static char buf[1 << 16];
  h1_head x;
  size_t hl = strlen(HEAD);
  memcpy(buf, HEAD, hl);
  memcpy(buf + hl, body, blen);
  assert_int_equal(h1_parse_head(&x, buf, hl + blen), HPE_PAUSED);
  assert_int_equal(x.end, hl);
  llhttp_resume(&x.p);
  x.r.max_body = max_body;
  x.r.max_head = 200;
  *why = NULL;
  size_t off = hl, end = hl + blen;
  while (off < end) {
    size_t n = end - off < step ? end - off : step;
    enum llhttp_errno e = lb_h1_req_execute_body(&x.p, &x.r, buf + off, n);
    if (e == HPE_PAUSED) {
      *rest = end - (size_t)(llhttp_get_error_pos(&x.p) - buf);
      return 0;
    }
    if (e != HPE_OK) {
      *why = x.r.body_why;
      return x.r.body_too_large ? 413 : x.r.trailers_too_large ? 431 : 400;
    }
    off += n;
  }
  *rest = 0;
  return -1; /* not ended */
}

static void table(void **state) {
  (void)state;
  static const struct {
    const char *body;
    size_t len; /* 0: strlen */
    int status; /* 0 forwarded, -1 incomplete */
    const char *why;
  } t[] = {
      {"5\r\nhello\r\n0\r\n\r\n", 0, 0, NULL},
      {"5;name=value\r\nhello\r\n0\r\n\r\n", 0, 0, NULL},
      {"5;a=\"q s\"\r\nhello\r\n0;x\r\nX-T: y\r\nX-U: z\r\n\r\n", 0, 0, NULL},
      {"A\r\n0123456789\r\n0\r\n\r\n", 0, 0, NULL},
      {"5\r\nhello\r\n0\r\n", 0, -1, NULL},
      /* a bare CR where a line ends: in the size line, the extensions, the trailers */
      {"5\r\nhello\r\n0\rX\r\n\r\n", 0, 400, "bare CR"},
      {"0\r\xff\nX-T: y\r\n\r\n", 0, 400, "bare CR"},
      {"5;a\rb\r\nhello\r\n0\r\n\r\n", 0, 400, NULL},
      {"5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n", 0, 400, "trailer"},
      {"5\r\nhello\r\n0\r\nX-T: y\r\r\n\r\n", 0, 400, "trailer"},
      {"5\r\nhello\r\n0\r\n\r\r\n", 0, 400, "bare CR"},
      /* bare LF, whitespace, bad digits */
      {"5\nhello\r\n0\r\n\r\n", 0, 400, NULL},
      {"5\r\nhello\n0\r\n\r\n", 0, 400, NULL},
      {"5 \r\nhello\r\n0\r\n\r\n", 0, 400, "after a chunk size"},
      {" 5\r\nhello\r\n0\r\n\r\n", 0, 400, "hex digit"},
      {"0x5\r\nhello\r\n0\r\n\r\n", 0, 400, NULL},
      {"-5\r\nhello\r\n0\r\n\r\n", 0, 400, NULL},
      {"5\r\nhello!\r\n0\r\n\r\n", 0, 400, NULL},
      {"11111111111111111\r\n", 0, 400, "too large"},
      {"5;a\x01\r\nhello\r\n0\r\n\r\n", 0, 400, "extension"},
      {"5;a\nb\r\nhello\r\n0\r\n\r\n", 0, 400, "extension"},
      /* trailers are held to the rules of header fields */
      {"0\r\nX-T: y\r\n z\r\n\r\n", 0, 400, "obs-fold"},
      {"0\r\n X-T: y\r\n\r\n", 0, 400, "obs-fold"},
      {"0\r\nX T: y\r\n\r\n", 0, 400, "name"},
      {"0\r\nX-T : y\r\n\r\n", 0, 400, "name"},
      {"0\r\nX-T: a\0b\r\n\r\n", 15, 400, "value"},
      {"0\r\nX-T: y\nX-U: z\r\n\r\n", 0, 400, "value"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    size_t len = t[i].len ? t[i].len : strlen(t[i].body);
    for (size_t step = 1; step <= len; step = step == 1 ? len : len + 1) {
      size_t rest;
      const char *why;
      int st = body_verdict(t[i].body, len, step, 0, &rest, &why);
      if (st != t[i].status || (t[i].why && why && !strstr(why, t[i].why)))
        fail_msg("case %zu (step %zu): status %d (%s), expected %d (%s)", i, step, st,
                 why ? why : "-", t[i].status, t[i].why ? t[i].why : "-");
      if (st == 0)
        assert_int_equal(rest, 0); /* the message ends at the body's last byte */
    }
  }
}

/* Extensions count against max-body-size with the data; a long size line is refused. */
static void limits(void **state) {
  (void)state;
  static char body[40000];
  size_t rest;
  const char *why;
  int n = snprintf(body, sizeof body, "5;%0500d\r\nhello\r\n0\r\n\r\n", 0);
  assert_int_equal(body_verdict(body, (size_t)n, (size_t)n, 0, &rest, &why), 0);
  assert_int_equal(body_verdict(body, (size_t)n, (size_t)n, 100, &rest, &why), 413);
  assert_int_equal(body_verdict(body, (size_t)n, (size_t)n, 506, &rest, &why), 0);
  n = snprintf(body, sizeof body, "5;%0*d\r\nhello\r\n0\r\n\r\n", LB_CHUNK_LINE_MAX, 0);
  assert_int_equal(body_verdict(body, (size_t)n, 7, 0, &rest, &why), 400);
  assert_non_null(strstr(why, "extensions too long"));
  /* trailers: max-header-size bytes (200 here) and max-headers fields (100) */
  n = snprintf(body, sizeof body, "0\r\nX-T: %0200d\r\n\r\n", 0);
  assert_int_equal(body_verdict(body, (size_t)n, 3, 0, &rest, &why), 431);
  size_t off = (size_t)snprintf(body, sizeof body, "0\r\n");
  for (int i = 0; i < 101; i++)
    off += (size_t)snprintf(body + off, sizeof body - off, "A:\r\n");
  off += (size_t)snprintf(body + off, sizeof body - off, "\r\n");
  assert_int_equal(body_verdict(body, off, off, 0, &rest, &why), 431);
  /* a pipelined request after a strict body stays in the buffer, untouched */
  n = snprintf(body, sizeof body, "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n");
  assert_int_equal(body_verdict(body, (size_t)n, (size_t)n, 0, &rest, &why), 0);
  assert_int_equal(rest, strlen("GET / HTTP/1.1\r\n"));
}

/* What the backend gets for a chunked body fed `step` bytes at a time, as the client connection
 * relays it: each read's bytes up to its trailer bytes (trailers_at) raw, then the kept trailer
 * lines and the blank line (the exchange's chunk_out). */
static size_t relayed(const char *body, size_t step, char *out) {
  static char buf[4096];
  h1_head x;
  size_t hl = strlen(HEAD), blen = strlen(body), n = 0;
  memcpy(buf, HEAD, hl);
  memcpy(buf + hl, body, blen);
  assert_int_equal(h1_parse_head(&x, buf, hl + blen), HPE_PAUSED);
  llhttp_resume(&x.p);
  x.r.max_head = 400;
  for (size_t off = hl; off < hl + blen;) {
    size_t k = hl + blen - off < step ? hl + blen - off : step;
    enum llhttp_errno e = lb_h1_req_execute_body(&x.p, &x.r, buf + off, k);
    assert_true(e == HPE_OK || e == HPE_PAUSED);
    const char *end = x.r.trailers_at ? x.r.trailers_at : buf + off + k;
    memcpy(out + n, buf + off, (size_t)(end - (buf + off)));
    n += (size_t)(end - (buf + off));
    x.r.trailers_at = NULL;
    off += k;
    if (e == HPE_PAUSED) {
      assert_int_equal(off, hl + blen);
      if (x.r.trl.buf) {
        memcpy(out + n, x.r.trl.buf, x.r.trl.len);
        n += x.r.trl.len;
      }
      memcpy(out + n, "\r\n", 2);
      return n + 2;
    }
  }
  fail_msg("the body did not end");
  return 0;
}

/* A trailer section is filtered as the HTTP/2 path does (lb/http/trailers.c), whatever the
 * reads cut: the LB's own fields and those that must not be trailers are gone, the others
 * re-written "name: value" in order; the chunks before go on as they came. */
static void trailers_filtered(void **state) {
  (void)state;
  static const struct {
    const char *body, *want;
  } t[] = {
      {"5;e=1\r\nhello\r\n0;last\r\nX-Forwarded-For: 6.6.6.6\r\nX-Checksum:abc \r\n"
       "Host: evil\r\nX-Empty:\r\nx-request-id: forged\r\nContent-Length: 5\r\n"
       "Via: 1.1 me\r\nForwarded: for=1.2.3.4\r\nAuthorization: Basic eA==\r\n"
       "X-Client-Cert: CN=me\r\nX-After:\t two words\r\n\r\n",
       "5;e=1\r\nhello\r\n0;last\r\nX-Checksum: abc\r\nX-Empty: \r\n"
       "X-After: two words\r\n\r\n"},
      {"0\r\nX-Forwarded-For: 6.6.6.6\r\nTE: trailers\r\n\r\n", "0\r\n\r\n"},
      {"3\r\nabc\r\n0\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n"},
  };
  char out[4096];
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    for (size_t step = 1; step <= strlen(t[i].body); step++) {
      size_t n = relayed(t[i].body, step, out);
      if (n != strlen(t[i].want) || memcmp(out, t[i].want, n) != 0)
        fail_msg("case %zu (step %zu): relayed %.*s", i, step, (int)n, out);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(table),
      cmocka_unit_test(limits),
      cmocka_unit_test(trailers_filtered),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
