/* The [lb] settings of the listeners beyond certificates: session ticket keys, client
 * certificates and the protocols offered (ALPN h2, h2c,
 * WebSockets over HTTP/2) (pure: parsing and cross-checks; lb/net/tls_server.c applies them). */
#ifndef JOURNEY_LB_TLS_SETTINGS_H
#define JOURNEY_LB_TLS_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#define LB_TLS_PATH_MAX 512
/* Streams in flight on one HTTP/2 connection: each may hold a backend connection and its
 * buffer, so the most a setting may allow is bounded (nginx's default is 128, HAProxy's 100). */
#define LB_H2_MAX_STREAMS_DEFAULT 100
#define LB_H2_MAX_STREAMS_CAP 1000

typedef enum {
  LB_CLIENT_VERIFY_OFF = 0,
  LB_CLIENT_VERIFY_OPTIONAL,
  LB_CLIENT_VERIFY_REQUIRED
} lb_client_verify;

typedef struct lb_tls_settings {
  char ticket_key_file[LB_TLS_PATH_MAX]; /* "": a random key per process */
  char client_ca[LB_TLS_PATH_MAX];       /* CA bundle for client certificates; "": none asked */
  lb_client_verify client_verify;        /* with client_ca: required unless set to optional */
  int client_verify_set;
  char cert_header[64]; /* request header carrying the verified subject (any client copy dropped) */
  size_t cert_header_len; /* its length, kept with it: read per request */
  int alpn_h2; /* ALPN offers h2 before http/1.1 on HTTPS listeners (`alpn`, default on) */
  int h2c;     /* plain listeners also take HTTP/2 with prior knowledge (`h2c`, default off) */
  int h2_websocket; /* HTTP/2 clients may open WebSockets (RFC 8441, `h2-websocket`, default on) */
  uint32_t h2_max_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS (`h2-max-concurrent-streams`, 100) */
} lb_tls_settings;

void lb_tls_settings_defaults(lb_tls_settings *t);
/* Returns 0 (set), -1 (bad value, reason in why) or 1 (not one of these settings). */
int lb_tls_settings_set(lb_tls_settings *t, const char *name, const char *value, char *why,
                        size_t wl);
/* Cross-checks once everything is read. Returns 0 or -1 with the reason. */
int lb_tls_settings_finish(lb_tls_settings *t, char *why, size_t wl);

#endif
