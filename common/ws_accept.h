/* The WebSocket opening handshake's proof (RFC 6455 section 4.2.2): Sec-WebSocket-Accept is
 * base64(SHA-1(key + a fixed GUID)). journey-backend computes it to answer; journey-lb makes a
 * fresh key for a WebSocket it opens on a client's behalf and checks the backend's answer. */
#ifndef JOURNEY_COMMON_WS_ACCEPT_H
#define JOURNEY_COMMON_WS_ACCEPT_H

#include <stddef.h>

#define JC_WS_KEY_LEN 24    /* base64 of 16 random bytes */
#define JC_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/* The accept value for a key of JC_WS_KEY_LEN characters: JC_WS_ACCEPT_LEN characters and NUL. */
void jc_ws_accept(const char *key, char accept[JC_WS_ACCEPT_LEN + 1]);
/* A fresh random key (JC_WS_KEY_LEN characters and NUL): 0, or -1 when no random bytes. */
int jc_ws_key(char key[JC_WS_KEY_LEN + 1]);

#endif
