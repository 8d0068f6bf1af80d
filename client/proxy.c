#include "client/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int jn_proxy_exempt(const char *list, const char *host) {
  if (!list || !*list)
    return 0;
  size_t hl = strlen(host);
  for (const char *p = list; *p;) {
    p += strspn(p, ", \t");
    size_t n = strcspn(p, ", \t");
    if (n == 1 && *p == '*')
      return 1;
    const char *e = p;
    size_t en = n;
    if (en && *e == '.') {
      e++;
      en--;
    }
    if (en && (hl == en || (hl > en && host[hl - en - 1] == '.')) &&
        strncasecmp(host + hl - en, e, en) == 0)
      return 1;
    p += n;
  }
  return 0;
}

int jn_proxy_pick(const char *flag, const char *https_env, const char *http_env,
                  const char *noproxy, const jn_url *target, jn_url *proxy, char *err,
                  size_t errlen) {
  int https = strcmp(target->scheme, "https") == 0;
  const char *p = flag && *flag ? flag : https ? https_env : http_env;
  if (!p || !*p || jn_proxy_exempt(noproxy, target->host))
    return 0;
  if (strstr(p, "://") && strncasecmp(p, "http://", 7) != 0) {
    snprintf(err, errlen, "proxy \"%.200s\": only http:// proxies (HTTP CONNECT) are supported", p);
    return -1;
  }
  char perr[300];
  if (jn_url_parse(p, proxy, perr, sizeof perr) != 0) {
    snprintf(err, errlen, "proxy: %s", perr);
    return -1;
  }
  if (!proxy->port_explicit)
    proxy->port = 1080;
  return 1;
}

size_t jn_proxy_connect_request(const jn_url *t, char *buf, size_t len) {
  const char *b = t->host_is_ip == 6 ? "[" : "", *e = t->host_is_ip == 6 ? "]" : "";
  int n = snprintf(
      buf, len,
      "CONNECT %s%s%s:%d HTTP/1.1\r\nHost: %s%s%s:%d\r\nUser-Agent: journey/" JOURNEY_VERSION
      "\r\n\r\n",
      b, t->host, e, t->port, b, t->host, e, t->port);
  return n < 0 ? 0 : (size_t)n;
}

int jn_proxy_connect_response(const char *buf, size_t n, int *status, size_t *head_len) {
  if (n >= 5 && memcmp(buf, "HTTP/", 5) != 0)
    return -1;
  for (size_t i = 0; i + 3 < n; i++)
    if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
      const char *sp = memchr(buf, ' ', i);
      if (!sp || sp + 4 > buf + i)
        return -1;
      int st = atoi(sp + 1);
      if (st < 100 || st > 999)
        return -1;
      *status = st;
      *head_len = i + 4;
      return 1;
    }
  return 0;
}
