/* The TLS engine, client and server, with the development certificates: a real handshake over
 * memory, certificate and host-name verification, data both ways, close_notify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tls.h"

static char ca[512], crt[512], key[512];

static int setup(void **state) {
  const char *dir = getenv("JOURNEY_TEST_CERTS");
  if (!dir)
    dir = "test-certs";
  snprintf(ca, sizeof ca, "%s/ca.crt", dir);
  snprintf(crt, sizeof crt, "%s/server.crt", dir);
  snprintf(key, sizeof key, "%s/server.key", dir);
  return 0;
}

/* Moves pending ciphertext from one engine to the other; returns bytes moved. */
static size_t pump(jc_tls *from, jc_tls *to) {
  char buf[16384];
  size_t total = 0, n;
  while ((n = jc_tls_out_take(from, buf, sizeof buf)) > 0) {
    assert_int_equal(jc_tls_feed(to, buf, n), 0);
    total += n;
  }
  return total;
}

/* Reads until the engine wants more: exactly the n bytes of want. */
static void reads_exactly(jc_tls *t, const char *want, size_t n) {
  char got[256];
  size_t k = 0, total = 0;
  while (total < sizeof got && jc_tls_read(t, got + total, sizeof got - total, &k) == JC_TLS_OK)
    total += k;
  assert_int_equal(total, n);
  assert_memory_equal(got, want, n);
}

/* Runs the handshake to the end; returns the client's final status. */
static jc_tls_status handshake(jc_tls *c, jc_tls *s) {
  jc_tls_status cs = JC_TLS_WANT_READ, ss = JC_TLS_WANT_READ;
  for (int i = 0; i < 20 && (cs != JC_TLS_OK || ss != JC_TLS_OK); i++) {
    cs = jc_tls_handshake(c);
    pump(c, s);
    if (cs == JC_TLS_ERROR)
      return cs;
    ss = jc_tls_handshake(s);
    pump(s, c);
    if (ss == JC_TLS_ERROR)
      return JC_TLS_ERROR;
  }
  return cs;
}

static void verified_handshake_and_data(const char *name) {
  char err[256];
  SSL_CTX *sctx = jc_tls_server_ctx(crt, key, err, sizeof err);
  assert_non_null(sctx);
  SSL_CTX *cctx = jc_tls_client_ctx(ca, 0, err, sizeof err);
  assert_non_null(cctx);
  jc_tls c, s;
  assert_int_equal(jc_tls_init(&c, cctx, 0, name), 0);
  assert_int_equal(jc_tls_init(&s, sctx, 1, NULL), 0);
  if (handshake(&c, &s) != JC_TLS_OK)
    fail_msg("handshake for %s failed: %s", name, c.err);
  assert_true(SSL_version(c.ssl) >= TLS1_2_VERSION);
  const unsigned char *alpn;
  unsigned alpn_len;
  SSL_get0_alpn_selected(c.ssl, &alpn, &alpn_len);
  assert_int_equal(alpn_len, 8);
  assert_memory_equal(alpn, "http/1.1", 8);

  const char req[] = "GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\n\r\n";
  assert_int_equal(jc_tls_write(&c, req, sizeof req - 1), JC_TLS_OK);
  pump(&c, &s);
  reads_exactly(&s, req, sizeof req - 1);

  char got[256];
  size_t n = 0;
  jc_tls_shutdown(&c);
  pump(&c, &s);
  assert_int_equal(jc_tls_read(&s, got, sizeof got, &n), JC_TLS_CLOSED);
  jc_tls_free(&c);
  jc_tls_free(&s);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

static void host_name_verifies(void **state) { verified_handshake_and_data("www.my-app.com"); }
static void ip_literal_verifies(void **state) { verified_handshake_and_data("127.0.0.1"); }
static void localhost_verifies(void **state) { verified_handshake_and_data("localhost"); }

/* The server and client contexts over the development certificates, and an engine of each
 * (the client checking the server's certificate for `name`). */
static void engines(SSL_CTX **sctx, SSL_CTX **cctx, jc_tls *c, jc_tls *s, const char *name) {
  char err[256];
  *sctx = jc_tls_server_ctx(crt, key, err, sizeof err);
  *cctx = jc_tls_client_ctx(ca, 0, err, sizeof err);
  assert_non_null(*sctx);
  assert_non_null(*cctx);
  assert_int_equal(jc_tls_init(c, *cctx, 0, name), 0);
  assert_int_equal(jc_tls_init(s, *sctx, 1, NULL), 0);
}

/* The ciphertext read in place (jc_tls_out_peek) and consumed in two parts (jc_tls_out_drop),
 * as journey-lb's stream writes it to a socket that takes part of it: the peer gets exactly
 * the bytes, and nothing stays pending. */
static void output_peeked_and_dropped_in_parts(void **state) {
  SSL_CTX *sctx, *cctx;
  jc_tls c, s;
  engines(&sctx, &cctx, &c, &s, "www.my-app.com");
  assert_int_equal(handshake(&c, &s), JC_TLS_OK);
  pump(&c, &s); /* nothing left over from the handshake */
  const char req[] = "GET /peek HTTP/1.1\r\nHost: www.my-app.com\r\n\r\n";
  assert_int_equal(jc_tls_write(&c, req, sizeof req - 1), JC_TLS_OK);
  const char *p = NULL;
  size_t n = jc_tls_out_peek(&c, &p);
  assert_int_equal(n, jc_tls_out_pending(&c));
  assert_true(n > sizeof req);
  assert_non_null(p);
  size_t first = n / 3;
  assert_int_equal(jc_tls_feed(&s, p, first), 0);
  jc_tls_out_drop(&c, first);
  const char *q = NULL;
  assert_int_equal(jc_tls_out_peek(&c, &q), n - first);
  assert_ptr_equal(q, p + first);
  assert_int_equal(jc_tls_feed(&s, q, n - first), 0);
  jc_tls_out_drop(&c, n - first);
  assert_int_equal(jc_tls_out_pending(&c), 0);
  assert_int_equal(jc_tls_out_peek(&c, &q), 0);
  reads_exactly(&s, req, sizeof req - 1);
  jc_tls_free(&c);
  jc_tls_free(&s);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

static void wrong_name_is_refused(void **state) {
  SSL_CTX *sctx, *cctx;
  jc_tls c, s;
  engines(&sctx, &cctx, &c, &s, "evil.example");
  assert_int_equal(handshake(&c, &s), JC_TLS_ERROR);
  assert_non_null(strstr(c.err, "certificate verify failed"));
  assert_int_equal(SSL_get_verify_result(c.ssl), X509_V_ERR_HOSTNAME_MISMATCH);
  jc_tls_shutdown(&c); /* must not send anything after a fatal error */
  assert_int_equal(jc_tls_out_pending(&c), 0);
  jc_tls_free(&c);
  jc_tls_free(&s);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

static void garbage_fails_cleanly(void **state) {
  char err[256];
  SSL_CTX *sctx = jc_tls_server_ctx(crt, key, err, sizeof err);
  jc_tls s;
  jc_tls_init(&s, sctx, 1, NULL);
  const char plain[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  jc_tls_feed(&s, plain, sizeof plain - 1);
  assert_int_equal(jc_tls_handshake(&s), JC_TLS_ERROR);
  assert_true(strlen(s.err) > 0);
  jc_tls_free(&s);
  SSL_CTX_free(sctx);
}

static void missing_files_are_named(void **state) {
  char err[512];
  assert_null(jc_tls_server_ctx("/nonexistent.crt", key, err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent.crt"));
  assert_null(jc_tls_server_ctx(crt, "/nonexistent.key", err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent.key"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(host_name_verifies),   cmocka_unit_test(ip_literal_verifies),
      cmocka_unit_test(localhost_verifies),   cmocka_unit_test(wrong_name_is_refused),
      cmocka_unit_test(garbage_fails_cleanly), cmocka_unit_test(missing_files_are_named),
      cmocka_unit_test(output_peeked_and_dropped_in_parts),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
