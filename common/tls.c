#include "common/tls.h"
#include "common/blockpool.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

static const unsigned char alpn_h11[] = "\x08http/1.1";
static const unsigned char alpn_h2_h11[] = "\x02h2\x08http/1.1";

/* The server's list in its order of preference (arg: alpn_h11 or alpn_h2_h11). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  const unsigned char *mine = arg ? arg : alpn_h11;
  unsigned mine_len = mine == alpn_h2_h11 ? sizeof alpn_h2_h11 - 1 : sizeof alpn_h11 - 1;
  unsigned char *o;
  (void)ssl;
  if (SSL_select_next_proto(&o, outlen, mine, mine_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK; /* a client that does not offer http/1.1: carry on without ALPN */
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

static void base_options(SSL_CTX *ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* until jc_tls_keep_buffers */
  /* TLS 1.2: forward-secret AEAD suites only (TLS 1.3 suites are all fine by default). */
  SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                               "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                               "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
}

void jc_tls_server_alpn(SSL_CTX *ctx, int h2) {
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)(h2 ? alpn_h2_h11 : alpn_h11));
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
  /* TLS 1.3: AES-128-GCM first, as browsers, HAProxy and TLS 1.2 here prefer (OpenSSL's own
   * order starts with AES-256-GCM-SHA384, whose SHA-384 key schedule and record encryption
   * cost more per connection and per request). */
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                "TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
    snprintf(err, errlen, "cannot load certificate %s: %s (check the path and that it is PEM)",
             cert_file, jc_tls_last_error(why, sizeof why));
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    /* OpenSSL compares the key with the certificate already loaded: a valid key of another
     * pair fails here with "key values mismatch", which reads like a broken file. */
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
      goto mismatch;
    snprintf(err, errlen, "cannot load private key %s: %s (check the path and permissions)",
             key_file, jc_tls_last_error(why, sizeof why));
    goto fail;
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    goto mismatch;
  return ctx;
mismatch:
  ERR_clear_error();
  snprintf(err, errlen, "private key %s does not match certificate %s: they are not a pair "
           "(compare `openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`; "
           "give each --cert the --key it was issued for)", key_file, cert_file);
  goto fail;
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

/* ---- ciphertext buffers ----
 * Blocks of JC_TLS_BLOCK bytes (a 64 KiB socket read, or a large response's records, fit in
 * one) are lent from a per-thread free list while bytes are pending and given back when drained.
 * More pending than a block holds (a slow peer's backlog) grows that buffer with realloc; such a
 * buffer is freed, not kept, once drained. The list keeps at most JC_TLS_POOL_KEEP blocks: a
 * thread needs one or two at a time (engine calls are synchronous and callers drain after each),
 * more only while peers are slow; those extra blocks go back to the allocator. A thread's blocks
 * are freed when it exits (a pthread key destructor). */

#define JC_TLS_BLOCK (66 * 1024)
#define JC_TLS_POOL_KEEP 16

typedef struct tls_pool {
  jc_blockpool blocks;
  int registered; /* the thread-exit destructor knows this pool */
} tls_pool;

static _Thread_local tls_pool pool;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_drain(void *arg) { jc_blockpool_drain(&((tls_pool *)arg)->blocks); }

static void pool_key_init(void) { (void)pthread_key_create(&pool_key, pool_drain); }

static char *block_get(void) {
  if (!pool.blocks.free && !pool.registered) {
    pthread_once(&pool_once, pool_key_init);
    pool.registered = pthread_setspecific(pool_key, &pool) == 0;
  }
  return jc_blockpool_get(&pool.blocks, JC_TLS_BLOCK);
}

void jc_tls_spare_mark(void) { jc_blockpool_mark(&pool.blocks); }

size_t jc_tls_spare_trim(void) { return (size_t)jc_blockpool_trim(&pool.blocks) * JC_TLS_BLOCK; }

/* Nothing pending: the storage goes back to the thread's list (or to the allocator). */
static void buf_release(jc_tls_buf *b) {
  if (!b->p)
    return;
  if (b->cap == JC_TLS_BLOCK)
    jc_blockpool_put(&pool.blocks, b->p, JC_TLS_POOL_KEEP);
  else
    free(b->p);
  memset(b, 0, sizeof *b);
}

static int buf_append(jc_tls_buf *b, const void *data, size_t n) {
  if (!n)
    return 0;
  if (!b->p) {
    if (!(b->p = block_get()))
      return -1;
    b->cap = JC_TLS_BLOCK;
    b->off = b->len = 0;
  }
  if (b->off + b->len + n > b->cap) {
    if (b->len + n <= b->cap) { /* room once the consumed front is dropped */
      memmove(b->p, b->p + b->off, b->len);
    } else {
      size_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n;
      char *p = malloc(cap);
      if (!p)
        return -1;
      memcpy(p, b->p + b->off, b->len);
      buf_release(&(jc_tls_buf){.p = b->p, .cap = b->cap});
      b->p = p;
      b->cap = cap;
    }
    b->off = 0;
  }
  memcpy(b->p + b->off + b->len, data, n);
  b->len += n;
  return 0;
}

/* n of the pending bytes are gone: the storage goes back once none is left. */
static void buf_drop(jc_tls_buf *b, size_t n) {
  b->off += n;
  b->len -= n;
  if (!b->len)
    buf_release(b);
}

static size_t buf_take(jc_tls_buf *b, void *out, size_t cap) {
  size_t n = b->len < cap ? b->len : cap;
  if (!n)
    return 0;
  memcpy(out, b->p + b->off, n);
  buf_drop(b, n);
  return n;
}

/* The BIO OpenSSL reads ciphertext from and writes it to: the jc_tls's two buffers. Reading
 * an empty input says "retry" (SSL_ERROR_WANT_READ), never end of file; writes always succeed. */
static int bio_write_ex(BIO *b, const char *data, size_t n, size_t *written) {
  jc_tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (buf_append(&t->out, data, n) != 0)
    return 0;
  *written = n;
  return 1;
}

static int bio_read_ex(BIO *b, char *data, size_t n, size_t *got) {
  jc_tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  *got = buf_take(&t->in, data, n);
  if (*got)
    return 1;
  BIO_set_retry_read(b);
  return 0;
}

/* OpenSSL asks several times per record whether the BIO does kernel TLS
 * (BIO_CTRL_GET_KTLS_SEND): the unknown commands come first and without a BIO_get_data call. */
static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1;
  case BIO_CTRL_PENDING:
    return (long)((jc_tls *)BIO_get_data(b))->in.len;
  case BIO_CTRL_WPENDING:
    return (long)((jc_tls *)BIO_get_data(b))->out.len;
  default:
    return 0;
  }
}

/* t->err: "" or a message of its own (the static texts are never freed). */
static const char err_none[] = "";
static const char err_oom[] = "out of memory creating TLS session";

static void err_set(jc_tls *t, const char *msg) {
  if (t->err != err_none && t->err != err_oom)
    free((char *)t->err);
  char *copy = msg[0] ? strdup(msg) : NULL;
  t->err = copy ? copy : msg[0] ? err_oom : err_none;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "jc_tls ciphertext");
  if (m && (!BIO_meth_set_write_ex(m, bio_write_ex) || !BIO_meth_set_read_ex(m, bio_read_ex) ||
            !BIO_meth_set_ctrl(m, bio_ctrl))) {
    BIO_meth_free(m);
    m = NULL;
  }
  bio_method = m;
}

int jc_tls_init(jc_tls *t, SSL_CTX *ctx, int server, const char *sni) {
  memset(t, 0, sizeof *t);
  t->err = err_none;
  pthread_once(&bio_once, bio_method_init);
  t->ssl = SSL_new(ctx);
  BIO *bio = bio_method ? BIO_new(bio_method) : NULL;
  if (!t->ssl || !bio) {
    SSL_free(t->ssl);
    BIO_free(bio);
    memset(t, 0, sizeof *t);
    t->err = err_oom;
    return -1;
  }
  BIO_set_data(bio, t);
  BIO_set_init(bio, 1);
  SSL_set_bio(t->ssl, bio, bio); /* the same BIO both ways: one reference handed over */
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
    SSL_free(t->ssl); /* frees the BIO */
  t->ssl = NULL;
  buf_release(&t->in);
  buf_release(&t->out);
  err_set(t, "");
}

int jc_tls_feed(jc_tls *t, const void *p, size_t n) { return buf_append(&t->in, p, n); }

/* The BIO's data is the jc_tls (jc_tls_init): where the alert is noted. */
static void note_alert(const SSL *ssl, int where, int ret) {
  if (!(where & SSL_CB_WRITE_ALERT) || (ret >> 8) != SSL3_AL_FATAL)
    return;
  BIO *b = SSL_get_rbio(ssl);
  jc_tls *t = b ? BIO_get_data(b) : NULL;
  if (t)
    t->alert_sent = (short)(ret & 0xff);
}

void jc_tls_name_alerts(SSL_CTX *ctx) {
  SSL_CTX_set_info_callback(ctx, note_alert);
}

/* OpenSSL 3.0 names only the TLS 1.2 alerts; TLS 1.3's certificate_required (RFC 8446) is
 * the one a refused client certificate sends. */
static const char *alert_name(int code, char *buf, size_t len) {
  const char *s = code == 116 ? "certificate required" : SSL_alert_desc_string_long(code);
  if (strcmp(s, "unknown") != 0)
    return s;
  snprintf(buf, len, "alert %d", code);
  return buf;
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
    char why[200], msg[320];
    t->fatal = 1;
    jc_tls_last_error(why, sizeof why);
    if (!*why && SSL_get_verify_result(t->ssl) != X509_V_OK)
      snprintf(why, sizeof why, "%s",
               X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
    char alert[24];
    if (t->alert_sent)
      snprintf(msg, sizeof msg, "%s: %s (alert sent: %s)", what, *why ? why : "connection error",
               alert_name(t->alert_sent, alert, sizeof alert));
    else
      snprintf(msg, sizeof msg, "%s: %s", what, *why ? why : "connection error");
    err_set(t, msg);
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
  err_queue_clear();
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
  /* No err_queue_clear here (~200 instructions a call): the BIO takes every byte, so
   * SSL_write_ex fails only when the connection is broken, and any failure is one for the caller
   * whatever SSL_get_error makes of the queue. Reads keep the clear: their "want more" must not be
   * mistaken for an error left over from an earlier call. */
  while (n) {
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
  err_queue_clear();
  SSL_shutdown(t->ssl);
  err_queue_clear();
}

void jc_tls_keep_buffers(jc_tls *t) {
  if (t->ssl)
    SSL_clear_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
}

int jc_tls_release_buffers(jc_tls *t) {
  /* Nothing half read (a partial record, or decrypted bytes not yet taken) and nothing on its
   * way out: SSL_free_buffers would refuse otherwise (and OpenSSL before 3.0.14 freed a read
   * buffer that still held a record, CVE-2024-4741: never ask then). */
  if (!t->ssl || !t->handshake_done || t->fatal || SSL_has_pending(t->ssl) || t->in.len ||
      t->out.len)
    return 0;
  return SSL_free_buffers(t->ssl) == 1;
}

size_t jc_tls_out_pending(const jc_tls *t) { return t->out.len; }

int jc_tls_in_pending(const jc_tls *t) { return t->ssl && (t->in.len > 0 || SSL_has_pending(t->ssl)); }

size_t jc_tls_out_take(jc_tls *t, void *buf, size_t cap) { return buf_take(&t->out, buf, cap); }

size_t jc_tls_out_peek(const jc_tls *t, const char **p) {
  *p = t->out.p ? t->out.p + t->out.off : NULL;
  return t->out.len;
}

void jc_tls_out_drop(jc_tls *t, size_t n) { buf_drop(&t->out, n); }
