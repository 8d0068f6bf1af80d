/* HTTP proxies (pure): which proxy a URL goes through (-x, else HTTPS_PROXY / https_proxy for
 * https and http_proxy for http, as curl reads them; NO_PROXY / no_proxy and --noproxy exempt
 * hosts), the CONNECT request that opens a tunnel for https, and the proxy's answer to it.
 * conn.c does the I/O: TCP to the proxy, CONNECT, then TLS with the server through the tunnel;
 * an http URL is sent to the proxy in absolute form instead (no tunnel). */
#ifndef JOURNEY_CLIENT_PROXY_H
#define JOURNEY_CLIENT_PROXY_H

#include <stddef.h>

#include "client/url.h"

/* 1 when host is exempted by a NO_PROXY list ("*", or comma-separated names matched as the
 * name itself or a domain suffix, a leading dot optional; IP addresses matched exactly). */
int jn_proxy_exempt(const char *list, const char *host);
/* The proxy for target, from the flag (-x) or the environment values given; noproxy is --noproxy
 * or NO_PROXY. Returns 1 with *proxy filled (default port 1080, as curl), 0 for a direct
 * connection, -1 with err for a proxy URL that cannot be used (only http:// proxies). */
int jn_proxy_pick(const char *flag, const char *https_env, const char *http_env,
                  const char *noproxy, const jn_url *target, jn_url *proxy, char *err,
                  size_t errlen);
/* "CONNECT host:port HTTP/1.1" with Host. Returns the length (snprintf semantics). */
size_t jn_proxy_connect_request(const jn_url *target, char *buf, size_t len);
/* The proxy's answer so far: 0 more is needed, 1 complete (*status, *head_len set), -1 not
 * HTTP. */
int jn_proxy_connect_response(const char *buf, size_t n, int *status, size_t *head_len);

#endif
