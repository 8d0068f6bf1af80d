/* TLS server contexts, SNI selection, session resumption. */
#include "lb/net/tls_server.h"

#include "common/tls.h"
#include "lb/net/ticket_keys.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The first DNS name of a certificate (subjectAltName), or its CN; into buf. */
static const char *first_name(X509 *x, char *buf, size_t len) {
  buf[0] = 0;
  GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !buf[0]; i++) {
    GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS)
      snprintf(buf, len, "%.*s", ASN1_STRING_length(g->d.dNSName),
               (const char *)ASN1_STRING_get0_data(g->d.dNSName));
  }
  GENERAL_NAMES_free(names);
  if (!buf[0])
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)len);
  return buf;
}

/* A second key type for names a context already serves (ECDSA next to RSA or the reverse)
 * joins that context: OpenSSL then picks by the client's signature algorithms. */
static int joins(X509 *leaf, X509 *x) {
  char name[256];
  EVP_PKEY *a = X509_get0_pubkey(leaf), *b = X509_get0_pubkey(x);
  if (!a || !b || EVP_PKEY_get_base_id(a) == EVP_PKEY_get_base_id(b))
    return 0;
  return *first_name(x, name, sizeof name) && X509_check_host(leaf, name, 0, 0, NULL) == 1;
}

static int sni_select(SSL *ssl, int *alert, void *arg) {
  const lb_tls_server *t = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name || t->nctx < 2)
    return SSL_TLSEXT_ERR_OK; /* the default context serves */
  for (int i = 0; i < t->nctx; i++) {
    X509 *leaf = SSL_CTX_get0_certificate(t->ctx[i]);
    if (leaf && X509_check_host(leaf, name, 0, 0, NULL) == 1) {
      if (SSL_get_SSL_CTX(ssl) != t->ctx[i])
        SSL_set_SSL_CTX(ssl, t->ctx[i]);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_OK; /* unknown name: default certificate, the client decides */
}

/* --client-ca: ask for a client certificate (listing the accepted CAs), verify it against them;
 * required: none -> the handshake fails with a certificate_required (TLS 1.3) or
 * handshake_failure (TLS 1.2) alert, named in the log by common/tls.c. */
static int client_certs(SSL_CTX *ctx, const lb_tls_settings *ts, char *err, size_t errlen) {
  char why[300];
  STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ts->client_ca);
  if (!names || SSL_CTX_load_verify_locations(ctx, ts->client_ca, NULL) != 1) {
    snprintf(err, errlen, "cannot load client CA certificates from %s: %s (check the path and "
             "that it holds PEM certificates)", ts->client_ca, jc_tls_last_error(why, sizeof why));
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    return -1;
  }
  SSL_CTX_set_client_CA_list(ctx, names);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (ts->client_verify == LB_CLIENT_VERIFY_REQUIRED
                                                 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                 : 0),
                     NULL);
  SSL_CTX_set_verify_depth(ctx, 4);
  jc_tls_name_alerts(ctx);
  return 0;
}

size_t lb_tls_peer_subject(SSL *ssl, char *buf, size_t cap) {
  X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
  if (!peer || SSL_get_verify_result(ssl) != X509_V_OK || cap < 2)
    return 0;
  BIO *b = BIO_new(BIO_s_mem());
  /* RFC 2253 form escapes control and non-ASCII bytes: the value is safe in a header. */
  int n = b ? X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) : -1;
  size_t got = n > 0 ? (size_t)BIO_read(b, buf, (int)(cap - 1)) : 0;
  BIO_free(b);
  for (size_t i = 0; i < got; i++)
    if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
      return 0;
  buf[got] = 0;
  return got;
}

static int tune(SSL_CTX *ctx, lb_tls_server *t, int h2) {
  jc_tls_server_alpn(ctx, h2);
  static const unsigned char sid[] = "journey-lb";
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, 20000);
  SSL_CTX_set_timeout(ctx, 300);
  SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
  SSL_CTX_set_num_tickets(ctx, 1); /* TLS 1.3: one ticket is enough for resumption */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* until lb_stream_keep: see stream.h */
  /* Read ahead: one BIO read takes every whole record the engine holds instead of two per record
   * (header, then body); what is read but not yet decrypted counts in SSL_has_pending, which the
   * stream asks before it waits for the socket (jc_tls_in_pending). */
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
  SSL_CTX_set_tlsext_servername_arg(ctx, t);
  return lb_ticket_keys_attach(ctx); /* keys of the process, not of this context: see reload */
}

int lb_tls_server_init(lb_tls_server *t, const lb_config *c, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  char why[300];
  for (int i = 0; i < c->ncerts; i++) {
    const lb_cert_cfg *cc = &c->certs[i];
    FILE *f = fopen(cc->cert, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
      fclose(f);
    if (!x) {
      snprintf(err, errlen, "cannot read certificate %s: %s (check the path and that it is PEM)",
               cc->cert, f ? jc_tls_last_error(why, sizeof why) : strerror(errno));
      goto fail;
    }
    int joined = 0;
    for (int k = 0; k < t->nctx && !joined; k++) {
      X509 *leaf = SSL_CTX_get0_certificate(t->ctx[k]);
      if (leaf && joins(leaf, x)) {
        /* Second key type (ECDSA + RSA) for the same names: same context. */
        if (SSL_CTX_use_certificate_chain_file(t->ctx[k], cc->cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(t->ctx[k], cc->key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(t->ctx[k]) != 1) {
          if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH ||
              ERR_peek_last_error() == 0)
            snprintf(err, errlen, "private key %s does not match certificate %s: they are not "
                     "a pair (give each --cert the --key it was issued for)", cc->key, cc->cert);
          else
            snprintf(err, errlen, "cannot add certificate %s with key %s: %s", cc->cert,
                     cc->key, jc_tls_last_error(why, sizeof why));
          X509_free(x);
          goto fail;
        }
        joined = 1;
      }
    }
    X509_free(x);
    if (joined)
      continue;
    SSL_CTX *ctx = jc_tls_server_ctx(cc->cert, cc->key, err, errlen);
    if (!ctx)
      goto fail;
    t->ctx[t->nctx++] = ctx;
    if (tune(ctx, t, c->tls.alpn_h2) != 0) {
      snprintf(err, errlen, "cannot set the session ticket callback: %s",
               jc_tls_last_error(why, sizeof why));
      goto fail;
    }
    if (c->tls.client_ca[0] && client_certs(ctx, &c->tls, err, errlen) != 0)
      goto fail;
  }
  /* Last, once every certificate loaded: a reload that fails keeps the running keys. */
  if (t->nctx && lb_ticket_keys_load(c->tls.ticket_key_file, err, errlen) != 0)
    goto fail;
  return 0;
fail:
  lb_tls_server_free(t);
  return -1;
}

void lb_tls_server_free(lb_tls_server *t) {
  for (int i = 0; i < t->nctx; i++)
    SSL_CTX_free(t->ctx[i]);
  t->nctx = 0;
}

int lb_tls_alpn_h2(SSL *ssl) {
  const unsigned char *p;
  unsigned n;
  SSL_get0_alpn_selected(ssl, &p, &n);
  return n == 2 && p[0] == 'h' && p[1] == '2';
}
