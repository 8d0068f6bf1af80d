/* TLS server contexts, SNI selection, session resumption. */
#include "lb/tls_server.h"

#include "common/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Same names: same subject and same subjectAltName extension. */
static int same_names(X509 *a, X509 *b) {
  if (X509_NAME_cmp(X509_get_subject_name(a), X509_get_subject_name(b)) != 0)
    return 0;
  int ia = X509_get_ext_by_NID(a, NID_subject_alt_name, -1);
  int ib = X509_get_ext_by_NID(b, NID_subject_alt_name, -1);
  if (ia < 0 || ib < 0)
    return ia == ib;
  ASN1_OCTET_STRING *da = X509_EXTENSION_get_data(X509_get_ext(a, ia));
  ASN1_OCTET_STRING *db = X509_EXTENSION_get_data(X509_get_ext(b, ib));
  return ASN1_OCTET_STRING_cmp(da, db) == 0;
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

static void tune(SSL_CTX *ctx, lb_tls_server *t) {
  static const unsigned char sid[] = "journey-lb";
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, 20000);
  SSL_CTX_set_timeout(ctx, 300);
  SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
  SSL_CTX_set_num_tickets(ctx, 1); /* TLS 1.3: one ticket is enough for resumption */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
  SSL_CTX_set_tlsext_servername_arg(ctx, t);
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
      if (leaf && same_names(leaf, x)) {
        /* Second key type (ECDSA + RSA) for the same names: same context. */
        if (SSL_CTX_use_certificate_chain_file(t->ctx[k], cc->cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(t->ctx[k], cc->key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(t->ctx[k]) != 1) {
          snprintf(err, errlen, "cannot add certificate %s with key %s: %s", cc->cert, cc->key,
                   jc_tls_last_error(why, sizeof why));
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
    tune(ctx, t);
    t->ctx[t->nctx++] = ctx;
  }
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
