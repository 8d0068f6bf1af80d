#include "common/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

const char *jc_tls_last_error(char *buf, size_t len) {
  unsigned long e = ERR_get_error();
  if (!e) {
    snprintf(buf, len, "%s", "");
    return buf;
  }
  ERR_error_string_n(e, buf, len);
  ERR_clear_error();
  return buf;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  static const unsigned char h11[] = "\x08http/1.1";
  unsigned char *o;
  if (SSL_select_next_proto(&o, outlen, h11, sizeof h11 - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK; /* a client that does not offer http/1.1: carry on without ALPN */
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

static void base_options(SSL_CTX *ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  /* TLS 1.2: forward-secret AEAD suites only (TLS 1.3 suites are all fine by default). */
  SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                               "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                               "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
}

SSL_CTX *jc_tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen) {
  char why[256];
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    snprintf(err, errlen, "SSL_CTX_new failed: %s", jc_tls_last_error(why, sizeof why));
    return NULL;
  }
  base_options(ctx);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
    snprintf(err, errlen, "cannot load certificate %s: %s (check the path and that it is PEM)",
             cert_file, jc_tls_last_error(why, sizeof why));
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    snprintf(err, errlen, "cannot load private key %s: %s (check the path and permissions)",
             key_file, jc_tls_last_error(why, sizeof why));
    goto fail;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(err, errlen, "private key %s does not match certificate %s", key_file, cert_file);
    goto fail;
  }
  return ctx;
fail:
  SSL_CTX_free(ctx);
  return NULL;
}

SSL_CTX *jc_tls_client_ctx(const char *ca_file, int insecure, char *err, size_t errlen) {
  char why[256];
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    snprintf(err, errlen, "SSL_CTX_new failed: %s", jc_tls_last_error(why, sizeof why));
    return NULL;
  }
  base_options(ctx);
  static const unsigned char h11[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, h11, sizeof h11 - 1);
  if (!insecure) {
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
      snprintf(err, errlen, "cannot load CA certificates from %s: %s",
               ca_file ? ca_file : "the system store", jc_tls_last_error(why, sizeof why));
      SSL_CTX_free(ctx);
      return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  }
  return ctx;
}

int jc_tls_init(jc_tls *t, SSL_CTX *ctx, int server, const char *sni) {
  memset(t, 0, sizeof *t);
  t->ssl = SSL_new(ctx);
  t->net_in = BIO_new(BIO_s_mem());
  t->net_out = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->net_in || !t->net_out) {
    snprintf(t->err, sizeof t->err, "out of memory creating TLS session");
    SSL_free(t->ssl);
    BIO_free(t->net_in);
    BIO_free(t->net_out);
    memset(t, 0, sizeof *t);
    return -1;
  }
  /* An empty memory BIO must say "retry", not EOF. */
  BIO_set_mem_eof_return(t->net_in, -1);
  BIO_set_mem_eof_return(t->net_out, -1);
  SSL_set_bio(t->ssl, t->net_in, t->net_out);
  if (server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    if (sni && *sni) {
      struct in6_addr tmp;
      int is_ip = inet_pton(AF_INET, sni, &tmp) == 1 || inet_pton(AF_INET6, sni, &tmp) == 1;
      if (!is_ip) /* RFC 6066: no IP literals in SNI */
        SSL_set_tlsext_host_name(t->ssl, sni);
      if (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
        if (is_ip)
          X509_VERIFY_PARAM_set1_ip_asc(vp, sni);
        else
          X509_VERIFY_PARAM_set1_host(vp, sni, 0);
      }
    }
  }
  return 0;
}

void jc_tls_free(jc_tls *t) {
  if (t->ssl)
    SSL_free(t->ssl); /* frees both BIOs */
  t->ssl = NULL;
  t->net_in = t->net_out = NULL;
}

int jc_tls_feed(jc_tls *t, const void *p, size_t n) {
  while (n) {
    int chunk = n > 1 << 30 ? 1 << 30 : (int)n;
    int w = BIO_write(t->net_in, p, chunk);
    if (w <= 0)
      return -1;
    p = (const char *)p + w;
    n -= (size_t)w;
  }
  return 0;
}

/* Maps an SSL_* return into a status, recording the reason of fatal errors. */
static jc_tls_status classify(jc_tls *t, int ret, const char *what) {
  int e = SSL_get_error(t->ssl, ret);
  switch (e) {
  case SSL_ERROR_WANT_READ:
  case SSL_ERROR_WANT_WRITE: /* memory BIO: output is drained by the caller */
    return JC_TLS_WANT_READ;
  case SSL_ERROR_ZERO_RETURN:
    return JC_TLS_CLOSED;
  default: {
    char why[200];
    t->fatal = 1;
    jc_tls_last_error(why, sizeof why);
    if (!*why && SSL_get_verify_result(t->ssl) != X509_V_OK)
      snprintf(why, sizeof why, "%s",
               X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
    snprintf(t->err, sizeof t->err, "%s: %s", what, *why ? why : "connection error");
    return JC_TLS_ERROR;
  }
  }
}

/* SSL_get_error needs an empty error queue before each call. ERR_clear_error costs ~840
 * instructions in OpenSSL 3.0 (it wipes all 16 slots); looking first costs a fraction, and the
 * queue is almost always empty already (classify() drains it on errors). */
static void err_queue_clear(void) {
  if (ERR_peek_error() != 0)
    ERR_clear_error();
}

jc_tls_status jc_tls_handshake(jc_tls *t) {
  if (t->handshake_done)
    return JC_TLS_OK;
  if (t->fatal)
    return JC_TLS_ERROR;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    t->handshake_done = 1;
    return JC_TLS_OK;
  }
  return classify(t, r, "TLS handshake");
}

jc_tls_status jc_tls_read(jc_tls *t, void *buf, size_t cap, size_t *got) {
  *got = 0;
  if (t->fatal)
    return JC_TLS_ERROR;
  err_queue_clear();
  size_t n = 0;
  int r = SSL_read_ex(t->ssl, buf, cap, &n);
  if (r == 1) {
    *got = n;
    return JC_TLS_OK;
  }
  return classify(t, 0, "TLS read");
}

jc_tls_status jc_tls_write(jc_tls *t, const void *p, size_t n) {
  if (t->fatal)
    return JC_TLS_ERROR;
  while (n) {
    err_queue_clear();
    size_t w = 0;
    if (SSL_write_ex(t->ssl, p, n, &w) != 1) {
      jc_tls_status s = classify(t, 0, "TLS write");
      return s == JC_TLS_OK ? JC_TLS_ERROR : s;
    }
    p = (const char *)p + w;
    n -= w;
  }
  return JC_TLS_OK;
}

void jc_tls_shutdown(jc_tls *t) {
  if (!t->ssl || t->fatal || !t->handshake_done)
    return;
  ERR_clear_error();
  SSL_shutdown(t->ssl);
  ERR_clear_error();
}

size_t jc_tls_out_pending(const jc_tls *t) { return t->net_out ? BIO_ctrl_pending(t->net_out) : 0; }

int jc_tls_in_pending(const jc_tls *t) {
  return t->ssl && (SSL_has_pending(t->ssl) || BIO_ctrl_pending(t->net_in) > 0);
}

size_t jc_tls_out_take(jc_tls *t, void *buf, size_t cap) {
  if (!t->net_out || !cap)
    return 0;
  int r = BIO_read(t->net_out, buf, cap > 1 << 30 ? 1 << 30 : (int)cap);
  return r > 0 ? (size_t)r : 0;
}
