#include "backend/ws_handshake.h"

#include "common/ws_accept.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void be_ws_head_reset(be_ws_head *h) {
  memset(h, 0, offsetof(be_ws_head, value)); /* the value buffer is rewritten before it is read */
  h->value_len = 0;
  h->value_cut = 0;
}

be_ws_header be_ws_header_kind(const char *name, size_t n) {
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(name, lit, n) == 0)
  return IS("upgrade")                 ? BE_WSH_UPGRADE
         : IS("connection")            ? BE_WSH_CONNECTION
         : IS("sec-websocket-key")     ? BE_WSH_KEY
         : IS("sec-websocket-version") ? BE_WSH_VERSION
                                       : BE_WSH_NONE;
#undef IS
}

void be_ws_head_value(be_ws_head *h, const char *p, size_t n) {
  size_t room = sizeof h->value - h->value_len;
  if (n > room) {
    n = room;
    h->value_cut = 1;
  }
  memcpy(h->value + h->value_len, p, n);
  h->value_len += n;
}

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* Does the comma-separated list v contain token (case-insensitive)? A token such as
 * "websocket/13" (a protocol with a version) counts as its name. */
static int list_has(const char *v, size_t n, const char *token) {
  size_t tl = strlen(token);
  for (size_t i = 0; i < n;) {
    while (i < n && (is_ows(v[i]) || v[i] == ','))
      i++;
    size_t s = i;
    while (i < n && v[i] != ',')
      i++;
    size_t e = i;
    while (e > s && is_ows(v[e - 1]))
      e--;
    const char *slash = memchr(v + s, '/', e - s);
    if (slash)
      e = (size_t)(slash - v);
    if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
      return 1;
  }
  return 0;
}

static void keep_trimmed(char *dst, size_t cap, size_t *dst_len, const char *v, size_t n) {
  while (n && is_ows(v[n - 1]))
    n--;
  while (n && is_ows(*v))
    v++, n--;
  if (n >= cap)
    n = cap - 1; /* too long to be valid either way: the check below refuses it */
  memcpy(dst, v, n);
  *dst_len = n;
}

void be_ws_head_end(be_ws_head *h, be_ws_header k) {
  switch (k) {
  case BE_WSH_UPGRADE:
    if (list_has(h->value, h->value_len, "websocket"))
      h->upgrade_websocket = 1;
    else
      h->upgrade_other = 1;
    break;
  case BE_WSH_CONNECTION:
    if (list_has(h->value, h->value_len, "upgrade"))
      h->connection_upgrade = 1;
    break;
  case BE_WSH_KEY:
    h->n_key++;
    keep_trimmed(h->key, sizeof h->key, &h->key_len, h->value, h->value_len);
    break;
  case BE_WSH_VERSION:
    h->n_version++;
    keep_trimmed(h->version, sizeof h->version, &h->version_len, h->value, h->value_len);
    break;
  case BE_WSH_NONE:
    break;
  }
  h->value_len = 0;
  h->value_cut = 0;
}

/* RFC 6455 4.1: the key is 16 random bytes in base64, so exactly 24 characters ending in "==". */
static int key_ok(const char *k, size_t n) {
  if (n != 24 || k[22] != '=' || k[23] != '=')
    return 0;
  unsigned char raw[24];
  int got = EVP_DecodeBlock(raw, (const unsigned char *)k, 24); /* counts the padding bytes */
  return got == 18;
}

int be_ws_is_path(const char *t, size_t n) {
  const char *path;
  size_t len;
  be_target_path(t, n, &path, &len);
  return len == sizeof BE_PATH_WS - 1 && memcmp(path, BE_PATH_WS, len) == 0;
}

static int refuse(be_decision *d, int status, const char *text, const char *headers) {
  memset(d, 0, sizeof *d);
  d->status = status;
  d->body = BE_BODY_TEXT;
  d->text = text;
  d->headers = headers;
  d->close = 1; /* what follows a refused upgrade may be frames, not HTTP */
  return status;
}

int be_ws_handshake(const be_ws_head *h, int method_get, int http_minor, be_decision *d,
                    char accept[BE_WS_ACCEPT_LEN + 1]) {
  static const char upgrade_hdrs[] = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
  if (!method_get) {
    refuse(d, 405, "method not allowed: a WebSocket opens with GET\n", NULL);
    d->allow = "GET";
    return 405;
  }
  if (!h->upgrade_websocket) /* RFC 9110 15.5.22: 426 says which protocol to upgrade to */
    return refuse(d, 426, "upgrade required: /ws is a WebSocket echo; send Upgrade: websocket\n",
                  upgrade_hdrs);
  if (http_minor < 1)
    return refuse(d, 400, "bad request: a WebSocket handshake needs HTTP/1.1\n", NULL);
  if (!h->connection_upgrade)
    return refuse(d, 400, "bad request: the handshake needs Connection: Upgrade\n", NULL);
  if (h->n_version != 1)
    return refuse(d, 400, "bad request: send one Sec-WebSocket-Version: 13\n", upgrade_hdrs);
  if (h->version_len != 2 || memcmp(h->version, "13", 2) != 0) /* RFC 6455 4.4 */
    return refuse(d, 426, "upgrade required: this server speaks WebSocket version 13 only\n",
                  upgrade_hdrs);
  if (h->n_key != 1 || !key_ok(h->key, h->key_len))
    return refuse(d, 400, "bad request: Sec-WebSocket-Key must be one base64 value of 16 bytes\n",
                  NULL);
  jc_ws_accept(h->key, accept);
  memset(d, 0, sizeof *d);
  d->status = 101;
  return 101;
}

ssize_t be_ws_response_101(char *out, size_t cap, const char *accept, const char *date,
                           const be_identity *id, const char *request_id, size_t request_id_len) {
  int n = snprintf(out, cap,
                   "HTTP/1.1 101 Switching Protocols\r\nServer: journey-backend\r\nDate: %s\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                   "%.*s",
                   date, accept, (int)id->name_header_len, id->name_header);
  if (n < 0 || (size_t)n >= cap)
    return -1;
  int m = request_id ? snprintf(out + n, cap - (size_t)n, "X-Request-Id: %.*s\r\n\r\n",
                                (int)request_id_len, request_id)
                     : snprintf(out + n, cap - (size_t)n, "\r\n");
  if (m < 0 || (size_t)m >= cap - (size_t)n)
    return -1;
  return n + m;
}
