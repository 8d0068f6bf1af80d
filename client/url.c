#include "client/url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *why, const char *url) {
  snprintf(err, errlen, "bad URL \"%.200s\": %s", url, why);
  return -1;
}

static int default_port(const char *scheme) { return strcmp(scheme, "http") == 0 ? 80 : 443; }

int jn_url_parse(const char *s, jn_url *u, char *err, size_t errlen) {
  memset(u, 0, sizeof *u);
  if (!s || !*s)
    return fail(err, errlen, "empty (give a URL such as https://www.my-app.com/my-app/data)", "");
  for (const char *c = s; *c; c++)
    if ((unsigned char)*c <= ' ' || (unsigned char)*c == 0x7f)
      return fail(err, errlen, "contains a space or control character (percent-encode it)", s);
  const char *p = strstr(s, "://");
  if (p) {
    size_t n = (size_t)(p - s);
    if (n == 0 || n >= sizeof u->scheme)
      return fail(err, errlen, "unsupported scheme (use https:// or http://)", s);
    for (size_t i = 0; i < n; i++)
      u->scheme[i] = (char)tolower((unsigned char)s[i]);
    if (strcmp(u->scheme, "https") != 0 && strcmp(u->scheme, "http") != 0)
      return fail(err, errlen, "unsupported scheme (use https:// or http://)", s);
    p += 3;
  } else {
    strcpy(u->scheme, "http"); /* as curl guesses it (a browser would try https first) */
    p = s;
  }
  /* Authority ends at the first '/', '?' or '#'. */
  size_t alen = strcspn(p, "/?#");
  const char *auth = p, *rest = p + alen;
  if (memchr(auth, '@', alen))
    return fail(err, errlen, "user:password@ in URLs is not supported (send an Authorization header with -H)", s);
  if (alen == 0)
    return fail(err, errlen, "no host", s);
  const char *port_s = NULL;
  size_t hlen;
  if (auth[0] == '[') {
    const char *close = memchr(auth, ']', alen);
    if (!close)
      return fail(err, errlen, "IPv6 literal without closing ']'", s);
    hlen = (size_t)(close - auth - 1);
    if (hlen == 0 || hlen >= sizeof u->host)
      return fail(err, errlen, "empty or too long IPv6 literal", s);
    memcpy(u->host, auth + 1, hlen);
    struct in6_addr a6;
    if (inet_pton(AF_INET6, u->host, &a6) != 1)
      return fail(err, errlen, "not a valid IPv6 address inside [ ]", s);
    u->host_is_ip = 6;
    if (close + 1 < auth + alen) {
      if (close[1] != ':')
        return fail(err, errlen, "unexpected characters after ']'", s);
      port_s = close + 2;
    }
  } else {
    const char *colon = memchr(auth, ':', alen);
    hlen = colon ? (size_t)(colon - auth) : alen;
    if (hlen == 0)
      return fail(err, errlen, "no host", s);
    if (hlen >= sizeof u->host)
      return fail(err, errlen, "host name longer than 255 characters", s);
    for (size_t i = 0; i < hlen; i++) {
      unsigned char c = (unsigned char)auth[i];
      if (!(isalnum(c) || c == '-' || c == '.' || c == '_'))
        return fail(err, errlen, "host contains a character not allowed in a name", s);
      u->host[i] = (char)tolower(c);
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, u->host, &a4) == 1)
      u->host_is_ip = 4;
    if (colon)
      port_s = colon + 1;
  }
  if (port_s) {
    size_t plen = (size_t)(auth + alen - port_s);
    if (plen == 0)
      return fail(err, errlen, "':' without a port number", s);
    long v = 0;
    for (size_t i = 0; i < plen; i++) {
      if (!isdigit((unsigned char)port_s[i]))
        return fail(err, errlen, "port is not a number", s);
      v = v * 10 + (port_s[i] - '0');
      if (v > 65535)
        return fail(err, errlen, "port out of range 1-65535", s);
    }
    if (v < 1)
      return fail(err, errlen, "port out of range 1-65535", s);
    u->port = (int)v;
    u->port_explicit = 1;
  } else {
    u->port = default_port(u->scheme);
  }
  /* Path, query; the fragment is never sent to a server. */
  size_t plen = strcspn(rest, "?#");
  if (plen >= sizeof u->path - 1)
    return fail(err, errlen, "path longer than 4095 bytes", s);
  if (plen == 0 || rest[0] != '/') {
    u->path[0] = '/';
    memcpy(u->path + 1, rest, plen);
  } else {
    memcpy(u->path, rest, plen);
  }
  if (rest[plen] == '?') {
    const char *q = rest + plen + 1;
    size_t qlen = strcspn(q, "#");
    if (qlen >= sizeof u->query)
      return fail(err, errlen, "query longer than 4095 bytes", s);
    memcpy(u->query, q, qlen);
  }
  return 0;
}

int jn_url_target(const jn_url *u, char *buf, size_t len) {
  return u->query[0] ? snprintf(buf, len, "%s?%s", u->path, u->query) : snprintf(buf, len, "%s", u->path);
}

int jn_url_host_header(const jn_url *u, char *buf, size_t len) {
  int n = u->host_is_ip == 6 ? snprintf(buf, len, "[%s]", u->host) : snprintf(buf, len, "%s", u->host);
  if (u->port != default_port(u->scheme) && n >= 0 && (size_t)n < len)
    n += snprintf(buf + n, len - (size_t)n, ":%d", u->port);
  return n;
}

int jn_url_format(const jn_url *u, char *buf, size_t len) {
  char port[16] = "";
  if (u->port_explicit)
    snprintf(port, sizeof port, ":%d", u->port);
  const char *b = u->host_is_ip == 6 ? "[" : "", *e = u->host_is_ip == 6 ? "]" : "";
  return snprintf(buf, len, "%s://%s%s%s%s%s%s%s", u->scheme, b, u->host, e, port, u->path, u->query[0] ? "?" : "",
                  u->query);
}

int jn_url_resolve(const jn_url *base, const char *loc, char *buf, size_t len) {
  size_t n = strcspn(loc, "#");
  const char *colon = strstr(loc, "://");
  if (colon && (size_t)(colon - loc) < strcspn(loc, "/?"))
    return snprintf(buf, len, "%.*s", (int)n, loc);
  if (loc[0] == '/' && loc[1] == '/')
    return snprintf(buf, len, "%s:%.*s", base->scheme, (int)n, loc);
  jn_url origin = *base;
  origin.path[0] = 0;
  origin.query[0] = 0;
  char pre[JN_URL_HOST_MAX + 32];
  jn_url_format(&origin, pre, sizeof pre);
  if (loc[0] == '/')
    return snprintf(buf, len, "%s%.*s", pre, (int)n, loc);
  if (loc[0] == '?')
    return snprintf(buf, len, "%s%s%.*s", pre, base->path, (int)n, loc);
  const char *slash = strrchr(base->path, '/');
  int dir = slash ? (int)(slash - base->path) + 1 : 1;
  return snprintf(buf, len, "%s%.*s%.*s", pre, dir, slash ? base->path : "/", (int)n, loc);
}
