/* Sec-WebSocket-Key and -Accept (ws_accept.h). */
#include "common/ws_accept.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <string.h>

/* RFC 6455 section 1.3: the key plus this GUID, hashed, proves the server read the handshake. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void jc_ws_accept(const char *key, char accept[JC_WS_ACCEPT_LEN + 1]) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  char concat[JC_WS_KEY_LEN + sizeof ws_guid];
  memcpy(concat, key, JC_WS_KEY_LEN);
  memcpy(concat + JC_WS_KEY_LEN, ws_guid, sizeof ws_guid - 1);
  SHA1((const unsigned char *)concat, JC_WS_KEY_LEN + sizeof ws_guid - 1, digest);
  EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
}

int jc_ws_key(char key[JC_WS_KEY_LEN + 1]) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1)
    return -1;
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
  return 0;
}
