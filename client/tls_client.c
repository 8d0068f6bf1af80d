#include "client/tls_client.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/exit_code.h"

static SSL_SESSION *g_session; /* newest resumable session (TLS 1.3 tickets arrive after the handshake) */

static int new_session(SSL *ssl, SSL_SESSION *s) {
  (void)ssl;
  if (g_session)
    SSL_SESSION_free(g_session);
  g_session = s;
  return 1; /* we keep the reference */
}

SSL_CTX *jn_tls_ctx(const char *cacert, int insecure, const char *cert, const char *key, int *bad_cert, char *err,
                    size_t errlen) {
  /* the CA store comes later (jn_tls_load_ca), once the first ClientHello is out, as curl does */
  (void)cacert;
  SSL_CTX *ctx = jc_tls_client_ctx(NULL, 1, err, errlen);
  *bad_cert = 0;
  if (!ctx)
    return NULL;
  if (!insecure)
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (cert) { /* mTLS: the key is in the certificate's file unless --key names another */
    char why[256];
    const char *k = key ? key : cert;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, k, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      snprintf(err, errlen, "cannot use the client certificate %s with the key %s: %s (PEM files, the key matching the "
               "certificate)", cert, k, jc_tls_last_error(why, sizeof why));
      SSL_CTX_free(ctx);
      *bad_cert = 1;
      return NULL;
    }
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, new_session);
  return ctx;
}

int jn_tls_load_ca(SSL_CTX *ctx, const char *cacert, char *err, size_t errlen) {
  if (SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_NONE)
    return 0; /* -k: nothing is checked, nothing to load */
  int ok = cacert ? SSL_CTX_load_verify_locations(ctx, cacert, NULL) : SSL_CTX_set_default_verify_paths(ctx);
  if (ok != 1) {
    char why[256];
    snprintf(err, errlen, "cannot load CA certificates from %s: %s", cacert ? cacert : "the system store",
             jc_tls_last_error(why, sizeof why));
    return -1;
  }
  return 0;
}

void jn_tls_ctx_free(SSL_CTX *ctx) {
  if (g_session)
    SSL_SESSION_free(g_session);
  g_session = NULL;
  SSL_CTX_free(ctx);
}

int jn_tls_start(jc_tls *t, SSL_CTX *ctx, const char *host, jn_result *r) {
  if (jc_tls_init(t, ctx, 0, host) != 0) {
    jn_strlcpy(r->error, t->err, sizeof r->error);
    return -1;
  }
  if (g_session) {
    SSL_set_session(t->ssl, g_session);
  }
  r->tls_used = 1;
  r->tls_insecure = SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_NONE;
  if (!r->url.host_is_ip)
    jn_strlcpy(r->sni, host, sizeof r->sni);
  snprintf(r->verify_name, sizeof r->verify_name, "%s %s", r->url.host_is_ip ? "IP" : "name", host);
  return 0;
}

static void asn1_time(const ASN1_TIME *t, char *buf, size_t len) {
  struct tm tm;
  buf[0] = 0;
  if (t && ASN1_TIME_to_tm(t, &tm) == 1)
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void cert_facts(X509 *c, jn_result *r) {
  X509_NAME_oneline(X509_get_subject_name(c), r->cert_subject, sizeof r->cert_subject);
  X509_NAME_oneline(X509_get_issuer_name(c), r->cert_issuer, sizeof r->cert_issuer);
  asn1_time(X509_get0_notBefore(c), r->cert_not_before, sizeof r->cert_not_before);
  asn1_time(X509_get0_notAfter(c), r->cert_not_after, sizeof r->cert_not_after);
  GENERAL_NAMES *sans = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
  size_t off = 0;
  r->cert_sans[0] = 0;
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
    char one[300] = "";
    if (g->type == GEN_DNS) {
      snprintf(one, sizeof one, "DNS:%.*s", ASN1_STRING_length(g->d.dNSName),
               (const char *)ASN1_STRING_get0_data(g->d.dNSName));
    } else if (g->type == GEN_IPADD) {
      const unsigned char *ip = ASN1_STRING_get0_data(g->d.iPAddress);
      int n = ASN1_STRING_length(g->d.iPAddress);
      char a[64] = "";
      if (n == 4)
        snprintf(a, sizeof a, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
      else if (n == 16)
        inet_ntop(AF_INET6, ip, a, sizeof a);
      snprintf(one, sizeof one, "IP:%s", a);
    }
    if (one[0]) {
      int w = snprintf(r->cert_sans + off, sizeof r->cert_sans - off, "%s%s", off ? ", " : "", one);
      if (w < 0 || (size_t)w >= sizeof r->cert_sans - off)
        break;
      off += (size_t)w;
    }
  }
  GENERAL_NAMES_free(sans);
}

void jn_tls_describe(const jc_tls *t, jn_result *r) {
  SSL *s = t->ssl;
  if (!s)
    return;
  jn_strlcpy(r->tls_version, SSL_get_version(s), sizeof r->tls_version);
  const SSL_CIPHER *ci = SSL_get_current_cipher(s);
  jn_strlcpy(r->cipher, ci ? SSL_CIPHER_get_name(ci) : "", sizeof r->cipher);
  int g = SSL_get_negotiated_group(s);
  const char *gn = g ? SSL_group_to_name(s, g) : NULL;
  jn_strlcpy(r->group, gn ? gn : "", sizeof r->group);
  const unsigned char *alpn = NULL;
  unsigned alen = 0;
  SSL_get0_alpn_selected(s, &alpn, &alen);
  snprintf(r->alpn, sizeof r->alpn, "%.*s", (int)alen, alpn ? (const char *)alpn : "");
  r->tls_resumed = SSL_session_reused(s);
  X509 *peer = SSL_get0_peer_certificate(s);
  if (peer)
    cert_facts(peer, r);
  STACK_OF(X509) *chain = SSL_get_peer_cert_chain(s);
  r->chain_len = chain ? sk_X509_num(chain) : (peer != NULL);
  long v = SSL_get_verify_result(s);
  r->verify_code = v;
  r->client_cert = SSL_get_certificate(s) != NULL;
  if (r->tls_insecure) {
    r->verified = 0;
    snprintf(r->verify_result, sizeof r->verify_result, "not checked; the chain would be: %s",
             X509_verify_cert_error_string(v));
  } else if (!t->handshake_done) {
    /* OpenSSL's result stays X509_V_OK when nothing was checked: never call that a success */
    r->verified = 0;
    if (v != X509_V_OK)
      snprintf(r->verify_result, sizeof r->verify_result, "failed: %s", X509_verify_cert_error_string(v));
    else
      snprintf(r->verify_result, sizeof r->verify_result, "not verified: the handshake failed %s",
               peer ? "after the certificate arrived" : "before the server sent a certificate");
  } else {
    r->verified = v == X509_V_OK;
    snprintf(r->verify_result, sizeof r->verify_result, "%s%s", v == X509_V_OK ? "ok: chain and " : "",
             v == X509_V_OK ? (r->url.host_is_ip ? "IP address verified" : "host name verified")
                            : X509_verify_cert_error_string(v));
    if (r->tls_resumed && v == X509_V_OK)
      snprintf(r->verify_result, sizeof r->verify_result, "ok: verified when the resumed session was made");
  }
}

void jn_tls_failed(const jc_tls *t, jn_result *r) {
  long v = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
  jn_tls_describe(t, r);
  r->exit_code = jn_exit_for_tls(r->tls_insecure ? X509_V_OK : v);
  if (r->exit_code == JN_EXIT_CERT)
    snprintf(r->error, sizeof r->error, "server certificate not trusted: %s (%s)%s%.200s",
             X509_verify_cert_error_string(v), r->verify_name, t->err[0] ? "; " : "", t->err);
  else
    jn_strlcpy(r->error, t->err[0] ? t->err : "TLS handshake failed", sizeof r->error);
}
