/* Server-side TLS for the HTTPS listeners: one SSL_CTX per certificate name set, chosen by SNI
 * (the first is the default), ECDSA and RSA certificates for the same names share a context
 * (OpenSSL picks by the client's signature algorithms), a shared session cache and session
 * tickets (resumption), ALPN http/1.1, TLS 1.2-1.3 with forward-secret AEAD suites (common/tls.c).
 * Contexts are shared read-only by every worker thread. */
#ifndef JOURNEY_LB_TLS_SERVER_H
#define JOURNEY_LB_TLS_SERVER_H

#include "lb/core/config.h"

#include <openssl/ssl.h>

typedef struct lb_tls_server {
  int nctx;
  SSL_CTX *ctx[LB_MAX_CERTS];
} lb_tls_server;

/* Loads every cert/key pair of the config. Returns 0, or -1 with the file and OpenSSL reason. */
int lb_tls_server_init(lb_tls_server *t, const lb_config *c, char *err, size_t errlen);
void lb_tls_server_free(lb_tls_server *t);
/* The verified client certificate's subject (RFC 2253, "CN=alice,O=Example") into buf; 0 when
 * the client sent none (or it did not verify). */
size_t lb_tls_peer_subject(SSL *ssl, char *buf, size_t cap);
/* 1 when the handshake chose h2 by ALPN. */
int lb_tls_alpn_h2(SSL *ssl);
static inline SSL_CTX *lb_tls_server_default(const lb_tls_server *t) {
  return t->nctx ? t->ctx[0] : NULL;
}

#endif
