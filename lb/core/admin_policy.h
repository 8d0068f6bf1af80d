/* Who may do what on journey-lb's admin plane (pure: no I/O, unit-tested).
 *
 * Three levels, decided per request:
 *   PROBE  the probe-only listener (--probe-listen): GET/HEAD /healthz and nothing else
 *   READ   GET /, /healthz, /stats, /requests, /metrics: anyone who reaches the listener
 *   WRITE  POST /servers/NAME/...: a bearer token (--admin-token-file), or the UNIX socket
 *          (--admin-socket); with neither configured, loopback peers only
 * Cross-site and DNS-rebinding defences run before the level: the Host header must be an IP
 * literal or a name given with --admin-name, and an Origin header must be the listener's own
 * (http:// + that Host). Browsers always send Host and send Origin on every POST and on
 * cross-origin fetches, so a page elsewhere can neither post a form to the admin listener nor
 * read its answers through a rebound name. */
#ifndef JOURNEY_LB_ADMIN_POLICY_H
#define JOURNEY_LB_ADMIN_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define LB_ADMIN_PATH_MAX 512
#define LB_ADMIN_NAMES_MAX 8
#define LB_ADMIN_NAME_MAX 128
#define LB_ADMIN_TOKEN_MIN 16 /* characters: a token shorter than this is refused at start */

typedef enum { LB_ADMIN_PROBE = 0, LB_ADMIN_READ = 1, LB_ADMIN_WRITE = 2 } lb_admin_level;

typedef struct lb_admin_cfg {
  char token_file[LB_ADMIN_PATH_MAX];                /* --admin-token-file: "" none */
  char socket[LB_ADMIN_PATH_MAX];                    /* --admin-socket: "" none */
  char probe[LB_ADMIN_NAME_MAX];                     /* --probe-listen IP:PORT: "" none */
  char names[LB_ADMIN_NAMES_MAX][LB_ADMIN_NAME_MAX]; /* --admin-name: accepted Host names */
  int nnames;
  uint32_t max_conns;  /* --admin-max-connections (64): per admin listener */
  uint32_t timeout_ms; /* --admin-timeout (5s): a whole admin request, from accept to answer */
  uint32_t recent;     /* --admin-recent (100): requests kept for the page, per worker */
} lb_admin_cfg;

void lb_admin_cfg_defaults(lb_admin_cfg *c);
/* One admin-* / probe-listen setting. Returns 1 when `name` is not one of them, 0 when applied,
 * -1 with a reason in why. */
int lb_admin_cfg_set(lb_admin_cfg *c, const char *name, const char *value, char *why, size_t wl);

/* Host header (with or without :port): 1 when it is an IPv4 literal, a bracketed IPv6 literal
 * or one of the configured names (case-insensitive); an absent Host (len 0) passes, since no
 * browser omits it. */
int lb_admin_host_ok(const lb_admin_cfg *c, const char *host, size_t len);
/* Origin header: 1 when absent (len 0) or exactly "http://" + host (case-insensitive). "null"
 * and every other origin give 0. */
int lb_admin_origin_ok(const char *origin, size_t olen, const char *host, size_t hlen);
/* "Bearer TOKEN" (scheme case-insensitive): 0 with the token's span, -1 otherwise. */
int lb_admin_bearer(const char *authz, size_t len, const char **tok, size_t *toklen);
/* Constant-time comparison of a presented token with the SHA-256 of the configured one: both
 * are hashed to the same length first, so neither length nor content leaks through timing. */
int lb_admin_token_match(const uint8_t want_sha256[32], const char *tok, size_t len);
/* A token file's content: surrounding whitespace trimmed; 0 and the SHA-256, or -1 with a
 * reason (too short, or characters outside the bearer token68 set). */
int lb_admin_token_parse(const char *text, size_t len, uint8_t sha256[32], char *why, size_t wl);
/* File mode and owner of a token file: 0, or -1 with what is wrong and how to fix it
 * (group/world-readable or writable, not a regular file, owned by another user). */
int lb_admin_token_mode_ok(unsigned mode, unsigned owner, unsigned me, const char *path, char *why,
                           size_t wl);

/* The level of a request on the TCP admin listener (the UNIX socket is always WRITE, the
 * probe listener always PROBE): WRITE with a valid token; with neither a token nor a socket
 * configured, WRITE for loopback peers; READ otherwise. */
lb_admin_level lb_admin_tcp_level(const lb_admin_cfg *c, int token_ok, int peer_loopback);

#endif
