#include "common/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

int jc_port_parse(const char *s, int *port, char *err, size_t errlen) {
  if (!*s)
    return ERR("missing port");
  long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9')
      return ERR("port '%s' is not a number", s);
    v = v * 10 + (*p - '0');
    if (v > 65535)
      return ERR("port %s is out of range (1-65535)", s);
  }
  if (v == 0)
    return ERR("port 0 is not allowed (use 1-65535)");
  *port = (int)v;
  return 0;
}

int jc_hostport_split(const char *s, char *host, size_t hostlen, int *port, char *err,
                      size_t errlen) {
  const char *h, *colon;
  size_t hl;
  if (!s || !*s)
    return ERR("empty address (expected host:port)");
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close)
      return ERR("'%s': unclosed '[' in IPv6 address (expected [addr]:port)", s);
    h = s + 1;
    hl = (size_t)(close - h);
    if (close[1] != ':')
      return ERR("'%s': missing port after ']' (expected [addr]:port)", s);
    colon = close + 1;
    struct in6_addr a6;
    char tmp[JC_HOST_MAX];
    if (hl == 0 || hl >= sizeof tmp)
      return ERR("'%s': bad IPv6 address", s);
    memcpy(tmp, h, hl);
    tmp[hl] = '\0';
    char *pct = strchr(tmp, '%'); /* zone id: fe80::1%eth0 */
    if (pct)
      *pct = '\0';
    if (inet_pton(AF_INET6, tmp, &a6) != 1)
      return ERR("'%s': '%.*s' is not an IPv6 address", s, (int)hl, h);
  } else {
    colon = strrchr(s, ':');
    if (!colon)
      return ERR("'%s': missing port (expected host:port)", s);
    if (memchr(s, ':', (size_t)(colon - s)))
      return ERR("'%s': IPv6 addresses need brackets, e.g. [::1]:8080", s);
    h = s;
    hl = (size_t)(colon - s);
    if (hl == 0)
      return ERR("'%s': missing host before ':'", s);
  }
  if (hl >= hostlen || hl >= JC_HOST_MAX)
    return ERR("'%s': host name too long", s);
  if (jc_port_parse(colon + 1, port, err, errlen) != 0) {
    char why[128];
    snprintf(why, sizeof why, "%s", err);
    return ERR("'%s': %s", s, why);
  }
  memcpy(host, h, hl);
  host[hl] = '\0';
  return 0;
}

int jc_ip_parse(const char *ip, int port, struct sockaddr_storage *out, socklen_t *outlen) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *in4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    if (outlen)
      *outlen = sizeof *in4;
    return 0;
  }
  char tmp[JC_HOST_MAX];
  snprintf(tmp, sizeof tmp, "%s", ip);
  char *pct = strchr(tmp, '%');
  if (pct) {
    *pct = '\0';
    in6->sin6_scope_id = (uint32_t)strtoul(pct + 1, NULL, 10); /* numeric zones only */
  }
  if (inet_pton(AF_INET6, tmp, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    if (outlen)
      *outlen = sizeof *in6;
    return 0;
  }
  return -1;
}

int jc_addr_parse(const char *s, struct sockaddr_storage *out, socklen_t *outlen, char *err,
                  size_t errlen) {
  char host[JC_HOST_MAX];
  int port;
  if (jc_hostport_split(s, host, sizeof host, &port, err, errlen) != 0)
    return -1;
  if (jc_ip_parse(host, port, out, outlen) != 0)
    return ERR("'%s': '%s' is not a numeric IP address", s, host);
  return 0;
}

char *jc_addr_ip(const struct sockaddr *sa, char *buf, size_t len) {
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
  } else {
    snprintf(buf, len, "?");
  }
  return buf;
}

int jc_addr_port(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
  if (sa->sa_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  return 0;
}

char *jc_addr_format(const struct sockaddr *sa, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN];
  jc_addr_ip(sa, ip, sizeof ip);
  if (sa->sa_family == AF_INET6)
    snprintf(buf, len, "[%s]:%d", ip, jc_addr_port(sa));
  else if (sa->sa_family == AF_INET)
    snprintf(buf, len, "%s:%d", ip, jc_addr_port(sa));
  else
    snprintf(buf, len, "?");
  return buf;
}

static const uint8_t *v4_bytes(const struct sockaddr *sa, uint8_t tmp[4]) {
  if (sa->sa_family == AF_INET) {
    memcpy(tmp, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return tmp;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      memcpy(tmp, a->s6_addr + 12, 4);
      return tmp;
    }
  }
  return NULL;
}

int jc_addr_is_private(const struct sockaddr *sa) {
  uint8_t t[4];
  const uint8_t *b = v4_bytes(sa, t);
  if (b)
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 100 && (b[1] & 0xc0) == 64);
  if (sa->sa_family == AF_INET6)
    return (((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr[0] & 0xfe) == 0xfc;
  return 0;
}

int jc_addr_is_loopback(const struct sockaddr *sa) {
  uint8_t t[4];
  const uint8_t *b = v4_bytes(sa, t);
  if (b)
    return b[0] == 127;
  if (sa->sa_family == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
  return 0;
}

void jc_addr_ip_slice(const char *peer, uint8_t *off, uint8_t *len) {
  size_t n = strlen(peer);
  const char *colon = strrchr(peer, ':');
  if (peer[0] == '[' && colon && colon > peer + 1 && colon[-1] == ']') {
    *off = 1;
    *len = (uint8_t)(colon - 1 - (peer + 1));
  } else {
    *off = 0;
    *len = (uint8_t)(colon ? (size_t)(colon - peer) : n);
  }
}
