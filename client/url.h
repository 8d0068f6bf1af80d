/* URL parsing for the client (pure: no I/O, no allocation).
 * "https://host[:port]/path?query", "http://...", and a bare "host/path" (http assumed, like the
 * seed's browser). IPv6 literals in brackets: "https://[::1]:8443/". Userinfo and fragments are
 * refused or dropped as noted in url.c. */
#ifndef JOURNEY_CLIENT_URL_H
#define JOURNEY_CLIENT_URL_H

#include <stddef.h>

#define JN_URL_HOST_MAX 256
#define JN_URL_PATH_MAX 4096

typedef struct jn_url {
  char scheme[8];                /* "https" or "http" */
  char host[JN_URL_HOST_MAX];    /* without brackets, lower-cased for names */
  int port;                      /* explicit or the scheme's default */
  int port_explicit;             /* 1 when the URL named the port */
  int host_is_ip;                /* 4 or 6 for IP literals, 0 for names */
  char path[JN_URL_PATH_MAX];    /* always starts with '/' */
  char query[JN_URL_PATH_MAX];   /* without the '?', "" when absent */
} jn_url;

/* Parses s into u. Returns 0, or -1 with a reason in err (always NUL-terminated). */
int jn_url_parse(const char *s, jn_url *u, char *err, size_t errlen);
/* The request target: path plus "?query" when there is one. Returns the length written
 * (snprintf semantics). */
int jn_url_target(const jn_url *u, char *buf, size_t len);
/* The Host header value: host, bracketed for IPv6, with ":port" when it is not the default. */
int jn_url_host_header(const jn_url *u, char *buf, size_t len);

/* "scheme://host[:port]/path[?query]" (the port only when it was given), as curl's url_effective. */
int jn_url_format(const jn_url *u, char *buf, size_t len);

/* A Location header value resolved against the URL it answered (RFC 3986 section 5.2: absolute,
 * scheme-relative "//host/p", absolute-path "/p", or relative "p" against the base's directory).
 * The fragment is dropped. Returns the length written (snprintf semantics). */
int jn_url_resolve(const jn_url *base, const char *loc, char *buf, size_t len);

#endif
