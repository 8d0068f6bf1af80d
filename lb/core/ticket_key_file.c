/* Parsing the TLS session ticket key file (format in ticket_key_file.h). */
#include "lb/core/ticket_key_file.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* The longest line worth reading: 80 bytes are 108 base64 characters. */
#define LINE_MAX_CHARS 200

static int is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r';
}

/* One base64 line into raw bytes; returns the byte count, or -1 when it is not base64. */
static int decode(const char *b64, size_t n, unsigned char *raw) {
  if (n == 0 || n % 4)
    return -1;
  for (size_t i = 0; i < n; i++) {
    char ch = b64[i];
    int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
             ch == '+' || ch == '/' || (ch == '=' && i >= n - 2);
    if (!ok || (ch != '=' && i > 0 && b64[i - 1] == '='))
      return -1;
  }
  int got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
  if (got < 0)
    return -1;
  return got - (b64[n - 1] == '=') - (b64[n - 2] == '='); /* EVP_DecodeBlock counts padding */
}

int lb_ticket_keys_parse(const char *text, size_t len, lb_ticket_keys *out, char *why, size_t wl) {
  memset(out, 0, sizeof *out);
  int lineno = 0;
  size_t pos = 0;
  unsigned char raw[LINE_MAX_CHARS];
  while (pos < len) {
    const char *line = text + pos;
    const char *nl = memchr(line, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - line) : len - pos;
    pos += n + (nl != NULL);
    lineno++;
    while (n && is_space(line[n - 1]))
      n--;
    while (n && is_space(*line)) {
      line++;
      n--;
    }
    if (n == 0 || line[0] == '#')
      continue;
    if (n > LINE_MAX_CHARS) {
      snprintf(why, wl, "line %d: %zu characters; a key is 64 or 108 base64 characters", lineno, n);
      return -1;
    }
    int got = decode(line, n, raw);
    if (got < 0) {
      snprintf(why, wl, "line %d: not base64 (make a key with: openssl rand 80 | base64 -w0)",
               lineno);
      return -1;
    }
    if (got != 80 && got != 48) {
      snprintf(why, wl,
               "line %d: %d bytes; a key is 80 bytes (or 48) of base64 (make one with: "
               "openssl rand 80 | base64 -w0)",
               lineno, got);
      OPENSSL_cleanse(raw, sizeof raw);
      return -1;
    }
    if (out->n == LB_TICKET_KEYS_MAX) {
      snprintf(why, wl, "line %d: more than %d keys (keep the current one and a few previous)",
               lineno, LB_TICKET_KEYS_MAX);
      OPENSSL_cleanse(raw, sizeof raw);
      return -1;
    }
    lb_ticket_key *k = &out->key[out->n];
    k->len = got == 80 ? 32 : 16;
    memcpy(k->name, raw, 16);
    memcpy(k->aes, raw + 16, (size_t)k->len);
    memcpy(k->hmac, raw + 16 + k->len, (size_t)k->len);
    OPENSSL_cleanse(raw, sizeof raw);
    for (int i = 0; i < out->n; i++)
      if (!memcmp(out->key[i].name, k->name, 16)) {
        snprintf(why, wl, "line %d: the same key name (first 16 bytes) as key %d", lineno, i + 1);
        OPENSSL_cleanse(out, sizeof *out);
        return -1;
      }
    out->n++;
  }
  if (out->n == 0) {
    snprintf(why, wl, "no key in the file (one base64 line per key: openssl rand 80 | base64 -w0)");
    return -1;
  }
  return 0;
}
