/* journey-backend's WebSocket opening handshake (RFC 6455 section 4.2): PURE functions (no I/O),
 * so tests/unit/test_backend_ws_handshake.c covers every answer and every byte.
 *
 *   be_ws_header_kind()  which request headers the handshake needs (server.c asks while parsing)
 *   be_ws_head_value()   collects such a header's value as llhttp hands it over, in pieces
 *   be_ws_head_end()     the value is whole: tokens and counts are recorded
 *   be_ws_handshake()    the request head -> 101 (with Sec-WebSocket-Accept) or the refusal:
 *                        405, 400 or 426 with the headers that say what to send instead
 *   be_ws_response_101() the bytes of the 101 answer
 *
 * be_ws_head is plain storage inside the connection: it owns no memory. */
#ifndef JOURNEY_BACKEND_WS_HANDSHAKE_H
#define JOURNEY_BACKEND_WS_HANDSHAKE_H

#include "backend/routes.h"

#include <stddef.h>
#include <sys/types.h>

#define BE_PATH_WS "/ws"
#define BE_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */
#define BE_WS_VALUE_MAX 256 /* longer Upgrade/Connection values are cut (tokens past it unseen) */

typedef enum {
  BE_WSH_NONE,
  BE_WSH_UPGRADE,
  BE_WSH_CONNECTION,
  BE_WSH_KEY,
  BE_WSH_VERSION,
} be_ws_header;

typedef struct be_ws_head {
  unsigned upgrade_websocket : 1;  /* an Upgrade header lists the token "websocket" */
  unsigned upgrade_other : 1;      /* an Upgrade header was sent, naming something else */
  unsigned connection_upgrade : 1; /* a Connection header lists the token "upgrade" */
  unsigned n_key, n_version;       /* how often each came (more than once: 400) */
  char key[32];                    /* the last Sec-WebSocket-Key, trimmed */
  size_t key_len;
  char version[8]; /* the last Sec-WebSocket-Version, trimmed */
  size_t version_len;
  char value[BE_WS_VALUE_MAX]; /* the value being collected */
  size_t value_len;
  int value_cut; /* it did not fit */
} be_ws_head;

/* Empties the head for a new request. */
void be_ws_head_reset(be_ws_head *h);

/* The kind of a header from its lower-case name. */
be_ws_header be_ws_header_kind(const char *lower_name, size_t n);

/* Appends a piece of the current value of a header of kind k. */
void be_ws_head_value(be_ws_head *h, const char *p, size_t n);

/* The current value of a header of kind k is complete. */
void be_ws_head_end(be_ws_head *h, be_ws_header k);

/* The answer to a request for BE_PATH_WS. Returns 101 and writes the Sec-WebSocket-Accept value
 * (BE_WS_ACCEPT_LEN characters and a NUL) into accept, or returns the refusal's status with the
 * decision in d (its text says what was wrong; 426 names what to send in its headers). */
int be_ws_handshake(const be_ws_head *h, int method_get, int http_minor, be_decision *d,
                    char accept[BE_WS_ACCEPT_LEN + 1]);

/* The 101 answer: status line, Server, Date, Upgrade, Connection, Sec-WebSocket-Accept and the
 * X-Backend line of id (X-Request-Id echoed when given). Its length, or -1 if cap is too small
 * (BE_RESPONSE_MAX always suffices). */
ssize_t be_ws_response_101(char *out, size_t cap, const char *accept, const char *date,
                           const be_identity *id, const char *request_id, size_t request_id_len);

/* 1 when the request-target's path is BE_PATH_WS (a query string and absolute-form allowed). */
int be_ws_is_path(const char *target, size_t n);

#endif
