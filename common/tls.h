/* TLS engine over in-memory ciphertext buffers, independent of any event loop (the h2o/node
 * pattern).
 *
 * The caller owns the sockets: bytes read from the network go in with jc_tls_feed; after EVERY
 * call into the engine (handshake, read, write, shutdown) the caller drains jc_tls_out_take and
 * writes those bytes to the network, even when the call returned JC_TLS_WANT_READ (a handshake
 * or a TLS 1.3 ticket may have produced output).
 *
 * Pitfalls handled here: the OpenSSL error queue is cleared before each call that can say "want
 * more" (handshake, read, shutdown; a write fails only when the connection is broken); SSL_read
 * is meant to be called in a loop until it returns JC_TLS_WANT_READ; a write is never partial
 * (the memory BIO accepts everything); after a fatal error (SSL_ERROR_SSL/SYSCALL) no
 * close_notify is sent; renegotiation is refused (SSL_OP_NO_RENEGOTIATION).
 *
 * Memory: the ciphertext buffers (a custom BIO, not two memory BIOs that keep their largest size
 * for the connection's life) hold storage only while bytes are pending: a block is lent from a
 * per-thread free list when bytes arrive and given back when they are drained, so an idle
 * connection keeps only its SSL object and steady traffic allocates nothing. The BIO points at
 * the jc_tls: a jc_tls must not move between jc_tls_init and jc_tls_free. */
#ifndef JOURNEY_COMMON_TLS_H
#define JOURNEY_COMMON_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

typedef enum {
  JC_TLS_OK = 0,        /* done (handshake complete, bytes read or written) */
  JC_TLS_WANT_READ = 1, /* needs more bytes from the peer */
  JC_TLS_CLOSED = 2,    /* the peer sent close_notify */
  JC_TLS_ERROR = -1     /* fatal: see jc_tls.err */
} jc_tls_status;

/* Pending ciphertext: bytes [off, off + len) of p (cap bytes; NULL when nothing is pending). */
typedef struct jc_tls_buf {
  char *p;
  size_t off, len, cap;
} jc_tls_buf;

typedef struct jc_tls {
  SSL *ssl;
  jc_tls_buf in;  /* ciphertext from the peer: jc_tls_feed appends, OpenSSL reads */
  jc_tls_buf out; /* ciphertext for the peer: OpenSSL appends, jc_tls_out_take drains */
  int handshake_done;
  short fatal;
  short alert_sent; /* the fatal alert this side sent (jc_tls_name_alerts), 0: none */
  const char *err; /* why it failed: "" until then (never NULL after jc_tls_init); the text is
                      owned by the jc_tls and freed by jc_tls_free (a pointer, not an array:
                      memory per idle connection) */
} jc_tls;

/* Server context: TLS 1.2-1.3, modern ciphers, ALPN http/1.1, no renegotiation, released
 * buffers (until jc_tls_keep_buffers), server cipher preference (jc_tls_server_alpn adds h2).
 * Returns NULL with a reason in err. */
SSL_CTX *jc_tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen);
/* The server's ALPN list: h2 then http/1.1 (h2 != 0), or http/1.1 alone (the default). */
void jc_tls_server_alpn(SSL_CTX *ctx, int h2);
/* Client context: TLS 1.2-1.3, released buffers; verify peer against ca_file (or the system
 * store when NULL) unless insecure. Returns NULL with a reason in err. */
SSL_CTX *jc_tls_client_ctx(const char *ca_file, int insecure, char *err, size_t errlen);
/* Failures of this context's handshakes name the alert sent to the peer ("alert sent:
 * certificate required"). */
void jc_tls_name_alerts(SSL_CTX *ctx);
/* Writes the oldest queued OpenSSL error (with its reason string) into buf; "" if none. */
const char *jc_tls_last_error(char *buf, size_t len);

/* server: 1 for accept side, 0 for connect side. sni: server name sent (client) and checked
 * against the certificate (client, when the context verifies); an IP literal is checked as an IP. */
int jc_tls_init(jc_tls *t, SSL_CTX *ctx, int server, const char *sni);
void jc_tls_free(jc_tls *t);

/* Ciphertext from the network. Returns 0 or -1 (allocation failure). */
int jc_tls_feed(jc_tls *t, const void *p, size_t n);
jc_tls_status jc_tls_handshake(jc_tls *t);
/* One SSL_read into buf; on JC_TLS_OK *got > 0. Call again until JC_TLS_WANT_READ. */
jc_tls_status jc_tls_read(jc_tls *t, void *buf, size_t cap, size_t *got);
/* Encrypts all n bytes (memory BIOs never block). */
jc_tls_status jc_tls_write(jc_tls *t, const void *p, size_t n);
/* Queues close_notify unless a fatal error happened. */
void jc_tls_shutdown(jc_tls *t);

/* OpenSSL's record buffers (~34 KiB, read and write): every session starts with them released
 * after each record (SSL_MODE_RELEASE_BUFFERS: about two malloc/free pairs per request).
 * jc_tls_keep_buffers keeps them from now on (a connection that is being reused);
 * jc_tls_release_buffers then gives an idle session's buffers back (they come back with the
 * next record): 1 when released; 0 when there are none, the handshake is not done, or they hold
 * a partial record or unread plaintext (try again at the next idle point). */
void jc_tls_keep_buffers(jc_tls *t);
int jc_tls_release_buffers(jc_tls *t);

/* Ciphertext waiting to go to the network. */
size_t jc_tls_out_pending(const jc_tls *t);
/* The calling thread's spare ciphertext blocks, for a timer (never per call into the engine):
 * jc_tls_spare_mark starts an interval, jc_tls_spare_trim frees the blocks no engine of the
 * thread used since the last mark or trim and returns their bytes. */
void jc_tls_spare_mark(void);
size_t jc_tls_spare_trim(void);
/* Nonzero when jc_tls_read could return something without more ciphertext being fed: bytes
 * fed but not yet processed, or decrypted bytes not yet read. Zero: a read would only say
 * JC_TLS_WANT_READ, so callers looping on jc_tls_read can stop without that call. */
int jc_tls_in_pending(const jc_tls *t);
/* Moves up to cap bytes of pending ciphertext into buf; returns the count. */
size_t jc_tls_out_take(jc_tls *t, void *buf, size_t cap);
/* The pending ciphertext where it lies (*p; valid until the next call into the engine) and its
 * count; jc_tls_out_drop then consumes the first n bytes (n <= the count). For a caller that
 * writes straight from there: jc_tls_out_take's copy spared. */
size_t jc_tls_out_peek(const jc_tls *t, const char **p);
void jc_tls_out_drop(jc_tls *t, size_t n);

#endif
