/* The client's TLS (on common/tls.h's memory-BIO engine): the context (CA file or the system
 * store, -k, ALPN http/1.1, client session cache for resumption), and after the handshake the
 * facts the report shows: SNI, ALPN, version, cipher, key-exchange group, the server
 * certificate (subject, SANs, issuer, validity, chain length) and the verification result. */
#ifndef JOURNEY_CLIENT_TLS_CLIENT_H
#define JOURNEY_CLIENT_TLS_CLIENT_H

#include "common/tls.h"
#include "client/result.h"

/* Client context with an optional client certificate and key (--cert, --key; mTLS); NULL with err
 * on failure (*bad_cert set when the client certificate was the problem). Keeps the newest
 * session for resumption. */
SSL_CTX *jn_tls_ctx(const char *cacert, int insecure, const char *cert, const char *key, int *bad_cert, char *err,
                    size_t errlen);
/* Loads the CA file (or the system store) into ctx; nothing with -k. curl loads its store while
 * its first ClientHello travels (the server's answer is what the store is needed for), and so
 * does journey: called once, after the first ClientHello is written. 0, or -1 with err. */
int jn_tls_load_ca(SSL_CTX *ctx, const char *cacert, char *err, size_t errlen);
/* Frees the context and the kept session. */
void jn_tls_ctx_free(SSL_CTX *ctx);
/* Starts a client session for host (SNI and name/IP verification), offering the kept session. */
int jn_tls_start(jc_tls *t, SSL_CTX *ctx, const char *host, jn_result *r);
/* After a successful handshake (or a failed one: whatever is known). */
void jn_tls_describe(const jc_tls *t, jn_result *r);
/* After a failed handshake: r->error, r->exit_code (60 for verification, else 35). */
void jn_tls_failed(const jc_tls *t, jn_result *r);

#endif
