/* libFuzzer: the TLS record path of the LB's listener (common/tls.c server engine over memory
 * BIOs, the context journey-lb uses). The fuzzer's bytes are what a client sends, in up to four
 * reads (split points from the first byte); after each read: handshake, or read plaintext until
 * WANT_READ, and the pending ciphertext is drained, as lb/net/stream.c does. A self-signed
 * ECDSA certificate is made once at start-up. Oracles: no crash, no leak; an error says why. */
#include "common/tls.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static SSL_CTX *make_ctx(void) {
  char dir[] = "/tmp/fuzz-tls-XXXXXX";
  if (!mkdtemp(dir))
    abort();
  char cert[64], key[64];
  snprintf(cert, sizeof cert, "%s/c.pem", dir);
  snprintf(key, sizeof key, "%s/k.pem", dir);
  EVP_PKEY *pk = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, pk);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"www.my-app.com", -1,
                             -1, 0);
  X509_set_issuer_name(x, n);
  X509_sign(x, pk, EVP_sha256());
  FILE *f = fopen(cert, "w");
  PEM_write_X509(f, x);
  fclose(f);
  f = fopen(key, "w");
  PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
  fclose(f);
  X509_free(x);
  EVP_PKEY_free(pk);
  char err[256];
  SSL_CTX *ctx = jc_tls_server_ctx(cert, key, err, sizeof err);
  unlink(cert);
  unlink(key);
  rmdir(dir);
  if (!ctx) {
    fprintf(stderr, "fuzz_tls_server: %s\n", err);
    abort();
  }
  return ctx;
}

static void drain(jc_tls *t) {
  char out[16384];
  while (jc_tls_out_take(t, out, sizeof out) > 0) {
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static SSL_CTX *ctx;
  if (!ctx)
    ctx = make_ctx();
  if (size < 1)
    return 0;
  unsigned parts = (data[0] & 3) + 1;
  data++;
  size--;
  jc_tls t;
  if (jc_tls_init(&t, ctx, 1, NULL) != 0)
    abort();
  size_t off = 0;
  for (unsigned i = 0; i < parts && !t.fatal; i++) {
    size_t n = i + 1 == parts ? size - off : (size - off) / 2;
    if (jc_tls_feed(&t, data + off, n) != 0)
      abort();
    off += n;
    if (!t.handshake_done) {
      jc_tls_status st = jc_tls_handshake(&t);
      drain(&t);
      if (st == JC_TLS_ERROR) {
        if (!t.err[0])
          abort();
        break;
      }
      if (st != JC_TLS_OK)
        continue;
    }
    char plain[4096];
    size_t got;
    jc_tls_status st;
    while ((st = jc_tls_read(&t, plain, sizeof plain, &got)) == JC_TLS_OK) {
    }
    drain(&t);
    if (st == JC_TLS_CLOSED)
      break;
  }
  jc_tls_shutdown(&t);
  drain(&t);
  jc_tls_free(&t);
  return 0;
}
