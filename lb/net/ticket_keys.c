/* Session ticket keys: the key ring behind SSL_CTX_set_tlsext_ticket_key_evp_cb. */
#include "lb/net/ticket_keys.h"

#include "lb/core/ticket_key_file.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX (64 * 1024)

/* Written by the control thread (start, reload), read by every worker's handshakes. */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static lb_ticket_keys ring;

static int read_file(const char *file, char *buf, size_t cap, size_t *len, char *err,
                     size_t errlen) {
  int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open ticket key file %s: %s (check the path and permissions)",
             file, strerror(errno));
    return -1;
  }
  struct stat st;
  int rc = -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "ticket key file %s is not a regular file", file);
  } else if (st.st_mode & (S_IROTH | S_IWOTH)) {
    snprintf(err, errlen,
             "ticket key file %s is %s by every user (mode %03o): whoever reads it "
             "can decrypt recorded sessions; run chmod 600 %s (or 640 for the group journey-lb "
             "runs as)",
             file, st.st_mode & S_IROTH ? "readable" : "writable", (unsigned)(st.st_mode & 0777),
             file);
  } else if (st.st_size > KEY_FILE_MAX) {
    snprintf(err, errlen, "ticket key file %s is %lld bytes: too large for a key file", file,
             (long long)st.st_size);
  } else {
    ssize_t n = read(fd, buf, cap);
    if (n < 0)
      snprintf(err, errlen, "cannot read ticket key file %s: %s", file, strerror(errno));
    else {
      *len = (size_t)n;
      rc = 0;
    }
  }
  close(fd);
  return rc;
}

int lb_ticket_keys_load(const char *file, char *err, size_t errlen) {
  lb_ticket_keys fresh;
  memset(&fresh, 0, sizeof fresh);
  if (!file[0]) {
    pthread_rwlock_rdlock(&lock);
    int have = ring.n > 0;
    pthread_rwlock_unlock(&lock);
    if (have)
      return 0; /* the process's key, or the file's last keys: tickets stay valid */
    fresh.n = 1;
    fresh.key[0].len = 32;
    if (RAND_bytes((unsigned char *)&fresh.key[0], 16 + 32 + 32) != 1) {
      snprintf(err, errlen, "cannot make a session ticket key: no randomness from OpenSSL");
      return -1;
    }
  } else {
    static char text[KEY_FILE_MAX + 1];
    size_t len = 0;
    char why[300];
    int rc = read_file(file, text, sizeof text - 1, &len, err, errlen);
    if (rc == 0 && lb_ticket_keys_parse(text, len, &fresh, why, sizeof why) != 0) {
      snprintf(err, errlen, "ticket key file %s: %s", file, why);
      rc = -1;
    }
    OPENSSL_cleanse(text, len);
    if (rc != 0) {
      OPENSSL_cleanse(&fresh, sizeof fresh);
      return -1;
    }
  }
  pthread_rwlock_wrlock(&lock);
  ring = fresh;
  pthread_rwlock_unlock(&lock);
  OPENSSL_cleanse(&fresh, sizeof fresh);
  return 0;
}

int lb_ticket_keys_count(void) {
  pthread_rwlock_rdlock(&lock);
  int n = ring.n;
  pthread_rwlock_unlock(&lock);
  return n;
}

/* The ticket ciphers, fetched once: EVP_aes_256_cbc() is a legacy handle that OpenSSL 3.0
 * looks up by name (global lock, hash) in every EVP_EncryptInit_ex, i.e. per handshake. */
static EVP_CIPHER *aes128, *aes256;
static pthread_once_t ciphers_once = PTHREAD_ONCE_INIT;

static void fetch_ciphers(void) {
  aes128 = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
  aes256 = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
}

/* enc: the first key encrypts. Decrypt: the key named by the ticket, 0 (full handshake) when
 * none has that name, 2 (accept and issue a new ticket under the first key) for an older key.
 * TLS 1.3 always gets 2: OpenSSL sends a resumed TLS 1.3 connection a new ticket only then, and
 * clients use a TLS 1.3 ticket once (RFC 8446 C.4; browsers do): without a new one, every
 * second connection of a client was a full handshake. TLS 1.2 clients reuse their ticket. */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc) {
  static char digest[] = "SHA256";
  lb_ticket_key k;
  int found = -1;
  pthread_rwlock_rdlock(&lock);
  for (int i = 0; i < ring.n && found < 0; i++)
    if (enc || !memcmp(ring.key[i].name, name, 16))
      found = i;
  if (found >= 0)
    k = ring.key[found];
  pthread_rwlock_unlock(&lock);
  if (found < 0)
    return 0;
  int rc = enc ? 1 : found == 0 && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
  const EVP_CIPHER *cipher = k.len == 32 ? aes256 : aes128;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, (size_t)k.len),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (enc) {
    memcpy(name, k.name, 16);
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) != 1 ||
        EVP_EncryptInit_ex(cctx, cipher, NULL, k.aes, iv) != 1)
      rc = -1;
  } else if (EVP_DecryptInit_ex(cctx, cipher, NULL, k.aes, iv) != 1) {
    rc = -1;
  }
  if (rc > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
    rc = -1;
  OPENSSL_cleanse(&k, sizeof k);
  return rc;
}

int lb_ticket_keys_attach(SSL_CTX *ctx) {
  pthread_once(&ciphers_once, fetch_ciphers);
  if (!aes128 || !aes256)
    return -1;
  return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) == 1 ? 0 : -1;
}
