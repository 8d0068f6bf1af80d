/* The TLS session ticket key file: what it says, without reading it (the program reads it,
 * checks its permissions and installs the keys: lb/net/ticket_keys.c).
 *
 * Format (the same lines as HAProxy's tls-ticket-keys): one key per line, base64 of 80 bytes
 * (16-byte name, 32-byte AES-256 key, 32-byte HMAC-SHA256 key) or of 48 bytes (16-byte name,
 * 16-byte AES-128 key, 16-byte HMAC key). Blank lines and lines starting with '#' are ignored.
 * The FIRST key encrypts new tickets; every key decrypts (rotation: put the new key first and
 * keep the previous ones below it until their tickets have expired). Text rather than binary so
 * that one file can carry several keys, an error can name its line, and the file can live in a
 * secret store or cloud-init as plain text. */
#ifndef JOURNEY_LB_TICKET_KEY_FILE_H
#define JOURNEY_LB_TICKET_KEY_FILE_H

#include <stddef.h>

#define LB_TICKET_KEYS_MAX 8

typedef struct lb_ticket_key {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
  int len; /* AES and HMAC key length: 16 or 32 */
} lb_ticket_key;

typedef struct lb_ticket_keys {
  int n; /* key[0] encrypts, all decrypt */
  lb_ticket_key key[LB_TICKET_KEYS_MAX];
} lb_ticket_keys;

/* Parses the file's text (len bytes). Returns 0, or -1 with "line N: why" (or "no key ...")
 * in why. */
int lb_ticket_keys_parse(const char *text, size_t len, lb_ticket_keys *out, char *why, size_t wl);

#endif
