/* Header rewriting: hop-by-hop removal, forwarding headers, request ids, response heads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "lb/core/rewrite.h"

#define H(n, v) {n, v, sizeof(n) - 1, sizeof(v) - 1}

static size_t fwd(char *out, size_t cap, const lb_header *h, size_t nh, lb_framing fr,
                  const char *rid) {
  lb_request_view v = {"GET", 3, "/my-app/data?x=1", 16, 1, h, nh, fr, NULL, 0};
  lb_forward_info fi = {"192.0.2.7", "https", rid, rid ? strlen(rid) : 0, "journey-lb", 0,
                        NULL, 0, NULL, 0};
  return lb_rewrite_request(out, cap, &v, &fi);
}

/* journey-lb keeps the peer once as "[v6]:port": the address goes out as a slice of it. */
static void forwarded_for_from_a_slice(void **state) {
  (void)state;
  const char peer[] = "[2001:db8::7]:50312";
  const lb_header h[] = {H("Host", "a"), H("X-Forwarded-For", "198.51.100.1")};
  lb_request_view v = {"GET", 3, "/", 1, 1, h, 2, LB_FRAME_NONE, NULL, 0};
  lb_forward_info fi = {peer + 1, "https", NULL, 0, "journey-lb", 11, NULL, 0, NULL, 0};
  char out[1024];
  size_t n = lb_rewrite_request(out, sizeof out, &v, &fi);
  assert_true(n > 0);
  out[n] = 0;
  assert_non_null(strstr(out, "\r\nX-Forwarded-For: 198.51.100.1, 2001:db8::7\r\n"));
  assert_null(strstr(out, "50312"));
}

/* The client-certificate header: a client's copy (any case) never passes; the verified subject
 * is added only when there is one. */
static void client_cert_subject_not_forgeable(void **state) {
  (void)state;
  const lb_header h[] = {H("Host", "a"), H("x-client-cert-subject", "CN=forged"),
                         H("X-Client-Cert-Subject", "CN=forged2")};
  lb_request_view v = {"GET", 3, "/", 1, 1, h, 3, LB_FRAME_NONE, NULL, 0};
  lb_forward_info fi = {"192.0.2.7", "https", NULL, 0, "journey-lb", 0,
                        "X-Client-Cert-Subject", 21, "CN=alice,O=Example", 18};
  char out[1024];
  size_t n = lb_rewrite_request(out, sizeof out - 1, &v, &fi);
  assert_true(n > 0);
  out[n] = 0;
  assert_null(strstr(out, "forged"));
  assert_non_null(strstr(out, "\r\nX-Client-Cert-Subject: CN=alice,O=Example\r\n"));
  fi.cert_subject_len = 0; /* no certificate: no header at all */
  n = lb_rewrite_request(out, sizeof out - 1, &v, &fi);
  out[n] = 0;
  assert_null(strstr(out, "forged"));
  assert_null(strcasestr(out, "client-cert"));
}

static void request_hop_by_hop_removed(void **state) {
  const lb_header h[] = {
      H("Host", "www.my-app.com"),
      H("Connection", "keep-alive, X-Secret-Hop"),
      H("X-Secret-Hop", "drop me"),
      H("Keep-Alive", "timeout=5"),
      H("TE", "trailers"),
      H("Trailer", "X-Foo"),
      H("Upgrade", "websocket"),
      H("Proxy-Authorization", "Basic abc"),
      H("Proxy-Connection", "keep-alive"),
      H("Accept", "*/*"),
  };
  char out[2048];
  size_t n = fwd(out, sizeof out, h, sizeof h / sizeof h[0], LB_FRAME_NONE, "rid-1");
  assert_true(n > 0);
  out[n] = 0;
  assert_non_null(strstr(out, "GET /my-app/data?x=1 HTTP/1.1\r\n"));
  assert_non_null(strstr(out, "\r\nHost: www.my-app.com\r\n"));
  assert_non_null(strstr(out, "\r\nAccept: */*\r\n"));
  assert_null(strcasestr(out, "connection"));
  assert_null(strcasestr(out, "x-secret-hop"));
  assert_null(strcasestr(out, "keep-alive"));
  assert_null(strcasestr(out, "\r\nTE:"));
  assert_null(strcasestr(out, "trailer"));
  assert_null(strcasestr(out, "upgrade"));
  assert_null(strcasestr(out, "proxy-"));
  assert_non_null(strstr(out, "\r\nX-Forwarded-For: 192.0.2.7\r\n"));
  assert_non_null(strstr(out, "\r\nX-Forwarded-Proto: https\r\n"));
  assert_non_null(strstr(out, "\r\nX-Forwarded-Host: www.my-app.com\r\n"));
  assert_non_null(strstr(out, "\r\nVia: 1.1 journey-lb\r\n"));
  assert_non_null(strstr(out, "\r\nX-Request-Id: rid-1\r\n"));
  assert_int_equal(memcmp(out + n - 4, "\r\n\r\n", 4), 0);
}

static void request_forwarding_headers_appended(void **state) {
  const lb_header h[] = {
      H("Host", "a"),
      H("X-Forwarded-For", "203.0.113.1"),
      H("x-forwarded-for", "10.0.0.1"),
      H("Via", "1.1 edge"),
      H("X-Forwarded-Proto", "http"),
      H("X-Forwarded-Host", "evil"),
      H("X-Request-Id", "old-id"),
      H("Transfer-Encoding", "chunked"),
  };
  char out[2048];
  size_t n = fwd(out, sizeof out, h, sizeof h / sizeof h[0], LB_FRAME_CHUNKED, "new-id");
  out[n] = 0;
  assert_non_null(strstr(out, "\r\nX-Forwarded-For: 203.0.113.1, 10.0.0.1, 192.0.2.7\r\n"));
  assert_non_null(strstr(out, "\r\nVia: 1.1 edge, 1.1 journey-lb\r\n"));
  assert_non_null(strstr(out, "\r\nX-Forwarded-Proto: https\r\n"));
  assert_null(strstr(out, "evil"));
  assert_non_null(strstr(out, "\r\nX-Forwarded-Host: a\r\n"));
  assert_null(strstr(out, "old-id"));
  assert_non_null(strstr(out, "\r\nX-Request-Id: new-id\r\n"));
  /* re-framed: exactly one Transfer-Encoding: chunked */
  char *te = strstr(out, "Transfer-Encoding: chunked\r\n");
  assert_non_null(te);
  assert_null(strstr(te + 1, "Transfer-Encoding"));
  /* request ids switched off: the client's passes through */
  n = fwd(out, sizeof out, h, sizeof h / sizeof h[0], LB_FRAME_CHUNKED, NULL);
  out[n] = 0;
  assert_non_null(strstr(out, "\r\nX-Request-Id: old-id\r\n"));
}

static void request_too_large_is_refused(void **state) {
  const lb_header h[] = {H("Host", "www.my-app.com")};
  char out[64];
  assert_int_equal(fwd(out, sizeof out, h, 1, LB_FRAME_NONE, "id"), 0);
}

static void request_ids(void **state) {
  assert_true(lb_request_id_valid("abc-123", 7));
  assert_true(lb_request_id_valid("6f1c2a4e-1b2c-4d5e-8f90-0123456789ab", 36));
  assert_false(lb_request_id_valid("", 0));
  assert_false(lb_request_id_valid("has space", 9));
  assert_false(lb_request_id_valid("semi;colon", 10));
  assert_false(lb_request_id_valid("new\nline", 8));
  char big[200];
  memset(big, 'a', sizeof big);
  assert_false(lb_request_id_valid(big, 129));
  assert_true(lb_request_id_valid(big, 128));
  char id[37];
  lb_request_id_format(0x0123456789abcdefull, 0xfedcba9876543210ull, id);
  assert_int_equal(strlen(id), 36);
  assert_string_equal(id, "01234567-89ab-4def-bedc-ba9876543210");
  assert_true(lb_request_id_valid(id, 36));
}

/* Views into one received head, as llhttp gives them: canonical lines ("Name: value" CRLF) are
 * copied in runs, the others rebuilt; either way the output is the normalised form, and a
 * dropped line between two kept ones is not copied with them. */
static void request_lines_copied_in_runs(void **state) {
  static const char raw[] = "Host: a.example\r\nX-A: 1\r\nConnection: close\r\nX-B:  two  \r\n"
                            "X-C: 3\r\nX-D: 4\r\nX-E:5\r\n\r\n";
  const char *names[] = {"Host", "X-A", "Connection", "X-B", "X-C", "X-D", "X-E"};
  const char *values[] = {"a.example", "1", "close", "two", "3", "4", "5"};
  lb_header h[7];
  for (int i = 0; i < 7; i++) {
    char key[16];
    snprintf(key, sizeof key, "%s:", names[i]);
    const char *at = strstr(raw, key);
    h[i].name = at;
    h[i].name_len = (uint32_t)strlen(names[i]);
    h[i].value = strstr(at + h[i].name_len, values[i]);
    h[i].value_len = (uint32_t)strlen(values[i]);
  }
  char out[2048];
  size_t n = fwd(out, sizeof out - 1, h, 7, LB_FRAME_NONE, NULL);
  assert_true(n > 0);
  out[n] = 0;
  assert_non_null(strstr(out, "HTTP/1.1\r\nHost: a.example\r\nX-A: 1\r\nX-B: two\r\nX-C: 3\r\n"
                              "X-D: 4\r\nX-E: 5\r\nX-Forwarded-For: "));
  /* too small for the run: refused whole, never cut */
  assert_int_equal(fwd(out, 40, h, 7, LB_FRAME_NONE, NULL), 0);
}

/* The class-table checks against their rules, every byte value in every position. */
static void byte_classes(void **state) {
  static const char tchar_extra[] = "!#$%&'*+-.^_`|~", reqid_extra[] = "-_.:+/=";
  char v[9];
  for (size_t n = 1; n <= sizeof v; n++)
    for (size_t pos = 0; pos < n; pos++)
      for (int ch = 0; ch < 256; ch++) {
        memset(v, 'x', n);
        v[pos] = (char)ch;
        int alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        int tok = alnum || (ch && strchr(tchar_extra, ch));
        int rid = alnum || (ch && strchr(reqid_extra, ch));
        if (lb_token_valid(v, n) != tok || lb_request_id_valid(v, n) != rid)
          fail_msg("byte 0x%02x at %zu of %zu: token %d id %d expected", ch, pos, n, tok, rid);
      }
  assert_false(lb_token_valid("", 0));
  assert_true(LB_HEADER_IS("Content-LENGTH", 14, "content-length"));
  assert_false(LB_HEADER_IS("content-lengtH ", 15, "content-length"));
  assert_false(LB_HEADER_IS("content\rlength", 14, "content-length"));
  assert_false(LB_HEADER_IS("Hos", 3, "host"));
  assert_false(LB_HEADER_IS("Hos\x01", 4, "host"));
}

/* Header name comparison (a word at a time) against a byte-by-byte rule: every byte value in
 * every position of names of each length the word steps treat apart (1 to 17). */
static void header_names_compared(void **state) {
  (void)state;
  static const char *lits[] = {"x", "te", "via", "host", "proxy-", "upgrade", "keep-ali",
                               "x-backend", "connection", "content-length", "x-forwarded-proto"};
  char v[32];
  for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
    size_t n = strlen(lits[k]);
    for (size_t pos = 0; pos < n; pos++)
      for (int ch = 0; ch < 256; ch++) {
        memcpy(v, lits[k], n);
        v[pos] = (char)ch;
        int want = ch == lits[k][pos] || (ch >= 'A' && ch <= 'Z' && ch + 32 == lits[k][pos]);
        if (lb_header_is(v, n, lits[k], n) != want)
          fail_msg("byte 0x%02x at %zu of \"%s\": %d expected", ch, pos, lits[k], want);
      }
    assert_false(lb_header_is(lits[k], n - 1, lits[k], n));
  }
}

static void response_head(void **state) {
  const lb_header h[] = {
      H("Content-Type", "application/json"), H("Content-Length", "42"),
      H("Connection", "keep-alive"), H("Keep-Alive", "timeout=5"),
      H("X-Request-Id", "backend-echo"),
  };
  lb_response_view v = {200, 1, "OK", 2, h, sizeof h / sizeof h[0]};
  lb_response_extra x = {LB_FRAME_LENGTH, 1, 1, "total;dur=1.000", "b2", "rid-9", 5, 0, 0};
  char out[1024];
  size_t n = lb_rewrite_response(out, sizeof out, &v, &x);
  assert_true(n > 0);
  out[n] = 0;
  assert_int_equal(strncmp(out, "HTTP/1.1 200 OK\r\n", 17), 0);
  assert_non_null(strstr(out, "\r\nContent-Length: 42\r\n"));
  assert_null(strcasestr(out, "keep-alive"));
  assert_null(strcasestr(out, "connection"));
  assert_non_null(strstr(out, "\r\nServer-Timing: total;dur=1.000\r\n"));
  assert_non_null(strstr(out, "\r\nX-Served-By: b2\r\n"));
  assert_non_null(strstr(out, "\r\nX-Request-Id: rid-9\r\n"));
  assert_null(strstr(out, "backend-echo"));
  /* closing, HTTP/1.0 client with keep-alive, headers switched off */
  lb_response_extra y = {LB_FRAME_CLOSE, 0, 0, NULL, NULL, NULL, 0, 0, 0};
  n = lb_rewrite_response(out, sizeof out, &v, &y);
  out[n] = 0;
  assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
  assert_null(strstr(out, "Content-Length")); /* close-delimited */
  assert_null(strstr(out, "Server-Timing"));
  assert_null(strstr(out, "X-Served-By"));
  assert_non_null(strstr(out, "X-Request-Id: backend-echo"));
  lb_response_extra z = {LB_FRAME_LENGTH, 1, 0, NULL, NULL, NULL, 0, 0, 0};
  n = lb_rewrite_response(out, sizeof out, &v, &z);
  out[n] = 0;
  assert_non_null(strstr(out, "\r\nConnection: keep-alive\r\n"));
}

/* Connection naming a framing header never drops it: the Content-Length goes on (else the
 * kept-alive client could not find the end of the body); 204 and 1xx lose theirs. */
static void response_framing_not_dropped_by_connection(void **state) {
  (void)state;
  const lb_header h[] = {H("Connection", "Content-Length, X-Hop"), H("Content-Length", "4"),
                         H("X-Hop", "1")};
  lb_response_view v = {200, 1, "OK", 2, h, 3};
  lb_response_extra x = {LB_FRAME_LENGTH, 1, 1, NULL, NULL, NULL, 0, 0, 0};
  char out[512];
  size_t n = lb_rewrite_response(out, sizeof out, &v, &x);
  out[n] = 0;
  assert_non_null(strstr(out, "\r\nContent-Length: 4\r\n"));
  assert_null(strstr(out, "X-Hop"));
  assert_null(strcasestr(out, "connection"));
  lb_response_view nc = {204, 1, "No Content", 10, h, 3};
  lb_response_extra d = {LB_FRAME_NONE, 1, 1, NULL, NULL, NULL, 0, 1, 0};
  n = lb_rewrite_response(out, sizeof out, &nc, &d);
  out[n] = 0;
  assert_null(strstr(out, "Content-Length"));
  lb_response_view ci = {100, 1, "Continue", 8, h + 1, 1};
  n = lb_rewrite_response(out, sizeof out, &ci, &x);
  out[n] = 0;
  assert_string_equal(out, "HTTP/1.1 100 Continue\r\n\r\n");
}

static void response_chunked_and_interim(void **state) {
  const lb_header h[] = {H("Transfer-Encoding", "chunked"), H("Connection", "close")};
  lb_response_view v = {200, 1, "OK", 2, h, 2};
  lb_response_extra x = {LB_FRAME_CHUNKED, 1, 1, NULL, "b1", NULL, 0, 0, 0};
  char out[512];
  size_t n = lb_rewrite_response(out, sizeof out, &v, &x);
  out[n] = 0;
  char *te = strstr(out, "Transfer-Encoding: chunked\r\n");
  assert_non_null(te);
  assert_null(strstr(te + 1, "Transfer-Encoding"));
  const lb_header none[] = {H("X-Info", "1")};
  lb_response_view c = {100, 1, "Continue", 8, none, 1};
  n = lb_rewrite_response(out, sizeof out, &c, &x);
  out[n] = 0;
  assert_string_equal(out, "HTTP/1.1 100 Continue\r\nX-Info: 1\r\n\r\n");
}

static void local_responses(void **state) {
  char out[512];
  size_t n = lb_local_response(out, sizeof out, 503, "no healthy backend", 1, "rid", NULL);
  out[n] = 0;
  assert_int_equal(strncmp(out, "HTTP/1.1 503 Service Unavailable\r\n", 34), 0);
  assert_non_null(strstr(out, "Content-Length: 19\r\n"));
  assert_non_null(strstr(out, "X-Request-Id: rid\r\n"));
  assert_null(strstr(out, "Connection: close"));
  assert_int_equal(memcmp(out + n - 23, "\r\n\r\nno healthy backend\n", 23), 0);
  n = lb_local_response(out, sizeof out, 431, "too big", 0, NULL, "total;dur=0.010");
  out[n] = 0;
  assert_non_null(strstr(out, "431 Request Header Fields Too Large"));
  assert_non_null(strstr(out, "Connection: close"));
  assert_non_null(strstr(out, "Server-Timing: total;dur=0.010"));
  assert_true(lb_header_is_hop_by_hop("Proxy-Foo", 9));
  assert_false(lb_header_is_hop_by_hop("Proxy", 5));
  assert_false(lb_header_is_hop_by_hop("Content-Length", 14));
  assert_true(lb_header_is_hop_by_hop("proxy-authorization", 19));
  assert_true(lb_header_is_hop_by_hop("PROXY-CONNECTION", 16));
  assert_false(lb_header_is_hop_by_hop("Qroxy-Foo", 9));
  assert_false(lb_header_is_hop_by_hop("Proxy_Foo", 9));
  assert_true(lb_header_is_hop_by_hop("Keep-Alive", 10));
  assert_true(lb_header_is_hop_by_hop("TE", 2));
}

static void header_views_from_pieces(void **state) {
  /* "Host: example" arriving as "Ho" + "st" and "exa" + "mple" (split across reads) */
  const char buf[] = "Host: example\r\nX-A: 1\r\n";
  lb_header h[2];
  uint32_t n = 0;
  int st = 0;
  assert_int_equal(lb_headers_on_field(h, &n, 2, &st, buf, 2), 0);
  assert_int_equal(lb_headers_on_field(h, &n, 2, &st, buf + 2, 2), 0);
  lb_headers_on_value(h, n, &st, buf + 6, 3);
  lb_headers_on_value(h, n, &st, buf + 9, 4);
  assert_int_equal(lb_headers_on_field(h, &n, 2, &st, buf + 15, 3), 0);
  lb_headers_on_value(h, n, &st, buf + 20, 1);
  assert_int_equal(n, 2);
  assert_int_equal(h[0].name_len, 4);
  assert_memory_equal(h[0].value, "example", 7);
  assert_int_equal(h[0].value_len, 7);
  assert_memory_equal(h[1].name, "X-A", 3);
  assert_true(lb_headers_names_valid(h, n));
  st = 2;
  assert_int_equal(lb_headers_on_field(h, &n, 2, &st, buf, 4), -1); /* max reached: 431 */
  lb_header bad = {"Bad Header", "y", 10, 1};
  assert_false(lb_headers_names_valid(&bad, 1));
}

/* An upgrade request (WebSocket) keeps Upgrade and says "Connection: upgrade"; without the
 * Connection token, with a body, or in HTTP/1.0 the Upgrade header is dropped as before. A 101
 * keeps its Upgrade too; only a head that asked is recognised as asking. */
static void upgrade_forwarded_and_recognised(void **state) {
  (void)state;
  const lb_header h[] = {H("Host", "a"), H("Connection", "keep-alive, Upgrade"),
                         H("Upgrade", "websocket"), H("Sec-WebSocket-Key", "dGhlIHNhbXBsZQ==")};
  char out[1024];
  size_t n = fwd(out, sizeof out - 1, h, 4, LB_FRAME_NONE, NULL);
  assert_true(n > 0);
  out[n] = 0;
  assert_non_null(strstr(out, "\r\nUpgrade: websocket\r\n"));
  assert_non_null(strstr(out, "\r\nConnection: upgrade\r\n"));
  assert_null(strstr(out, "keep-alive"));
  assert_non_null(strstr(out, "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"));
  assert_true(lb_forwarded_upgrade(out, n));

  const lb_header no_token[] = {H("Host", "a"), H("Upgrade", "websocket")};
  n = fwd(out, sizeof out - 1, no_token, 2, LB_FRAME_NONE, NULL);
  out[n] = 0;
  assert_null(strcasestr(out, "upgrade"));
  assert_false(lb_forwarded_upgrade(out, n));
  n = fwd(out, sizeof out - 1, h, 4, LB_FRAME_CHUNKED, NULL); /* a body: no tunnel */
  out[n] = 0;
  assert_null(strcasestr(out, "upgrade"));
  /* h2c (alone or offered besides websocket) would tunnel past the routes: never forwarded. */
  const lb_header h2c[] = {H("Host", "a"), H("Connection", "Upgrade, HTTP2-Settings"),
                           H("Upgrade", "h2c"), H("HTTP2-Settings", "AAMAAABkAAQAAP__")};
  n = fwd(out, sizeof out - 1, h2c, 4, LB_FRAME_NONE, NULL);
  out[n] = 0;
  assert_null(strcasestr(out, "upgrade"));
  assert_null(strcasestr(out, "settings"));
  const lb_header both[] = {H("Host", "a"), H("Connection", "upgrade"),
                            H("Upgrade", "h2c, websocket")};
  n = fwd(out, sizeof out - 1, both, 3, LB_FRAME_NONE, NULL);
  out[n] = 0;
  assert_null(strcasestr(out, "upgrade"));
  const lb_header spaced[] = {H("Host", "a"), H("Connection", "upgrade"), H("Upgrade", " WebSocket ")};
  n = fwd(out, sizeof out - 1, spaced, 3, LB_FRAME_NONE, NULL);
  assert_true(lb_forwarded_upgrade(out, n));
  lb_request_view v10 = {"GET", 3, "/", 1, 0, h, 4, LB_FRAME_NONE, NULL, 0};
  lb_forward_info fi = {"192.0.2.7", "http", NULL, 0, "journey-lb", 0, NULL, 0, NULL, 0};
  n = lb_rewrite_request(out, sizeof out - 1, &v10, &fi);
  out[n] = 0;
  assert_null(strcasestr(out, "upgrade"));

  const lb_header rh[] = {H("Upgrade", "websocket"), H("Connection", "Upgrade"),
                          H("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")};
  lb_response_view rv = {101, 1, "Switching Protocols", 19, rh, 3};
  lb_response_extra x = {.framing = LB_FRAME_NONE, .keep_alive = 1, .client_http_minor = 1};
  n = lb_rewrite_response(out, sizeof out - 1, &rv, &x);
  assert_true(n > 0);
  out[n] = 0;
  assert_string_equal(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                           "Connection: upgrade\r\n\r\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(request_hop_by_hop_removed),
      cmocka_unit_test(upgrade_forwarded_and_recognised),
      cmocka_unit_test(client_cert_subject_not_forgeable),
      cmocka_unit_test(forwarded_for_from_a_slice),
      cmocka_unit_test(byte_classes),
      cmocka_unit_test(header_names_compared),
      cmocka_unit_test(request_lines_copied_in_runs),
      cmocka_unit_test(request_forwarding_headers_appended),
      cmocka_unit_test(request_too_large_is_refused),
      cmocka_unit_test(request_ids),
      cmocka_unit_test(response_head),
      cmocka_unit_test(response_chunked_and_interim),
      cmocka_unit_test(response_framing_not_dropped_by_connection),
      cmocka_unit_test(local_responses),
      cmocka_unit_test(header_views_from_pieces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
