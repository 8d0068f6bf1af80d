#include "client/dns_pin.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Splits pin into host, port string and the address list. */
static int split(const char *pin, char *host, size_t hl, char *port, size_t pl, const char **addrs) {
  const char *c1 = strchr(pin, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c1 || !c2 || c1 == pin || c2 == c1 + 1 || !c2[1])
    return -1;
  if ((size_t)(c1 - pin) >= hl || (size_t)(c2 - c1 - 1) >= pl)
    return -1;
  memcpy(host, pin, (size_t)(c1 - pin));
  host[c1 - pin] = 0;
  memcpy(port, c1 + 1, (size_t)(c2 - c1 - 1));
  port[c2 - c1 - 1] = 0;
  *addrs = c2 + 1;
  return 0;
}

/* Parses one address of the list (up to ',' or the end); returns its family or 0. */
static int one_addr(const char *p, size_t n, jn_dns_answer *a) {
  char tmp[64];
  if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
    p++;
    n -= 2;
  }
  if (n == 0 || n >= sizeof tmp)
    return 0;
  memcpy(tmp, p, n);
  tmp[n] = 0;
  unsigned char buf[16];
  int fam = inet_pton(AF_INET, tmp, buf) == 1 ? 4 : inet_pton(AF_INET6, tmp, buf) == 1 ? 6 : 0;
  if (fam && a) {
    a->family = fam;
    jn_strlcpy(a->addr, tmp, sizeof a->addr);
    a->ttl = -1;
  }
  return fam;
}

int jn_dns_pin_check(const char *pin, char *err, size_t errlen) {
  char host[256], port[8];
  const char *addrs;
  if (split(pin, host, sizeof host, port, sizeof port, &addrs) != 0) {
    snprintf(err, errlen, "bad --resolve \"%.100s\": expected host:port:address (e.g. www.my-app.com:443:127.0.0.1)", pin);
    return -1;
  }
  if (strcmp(port, "*") != 0) {
    char *end;
    long v = strtol(port, &end, 10);
    if (*end || v < 1 || v > 65535) {
      snprintf(err, errlen, "bad --resolve \"%.100s\": port must be 1-65535 or *", pin);
      return -1;
    }
  }
  for (const char *p = addrs; *p;) {
    size_t n = strcspn(p, ",");
    if (!one_addr(p, n, NULL)) {
      snprintf(err, errlen, "bad --resolve \"%.100s\": \"%.*s\" is not an IP address", pin, (int)(n > 64 ? 64 : n), p);
      return -1;
    }
    p += n + (p[n] == ',');
  }
  return 0;
}

size_t jn_dns_pin_match(const char *pin, const char *host, int port, jn_dns_answer *out, size_t max) {
  char h[256], ps[8];
  const char *addrs;
  if (split(pin, h, sizeof h, ps, sizeof ps, &addrs) != 0 || strcasecmp(h, host) != 0)
    return 0;
  if (strcmp(ps, "*") != 0 && atoi(ps) != port)
    return 0;
  size_t got = 0;
  for (const char *p = addrs; *p && got < max;) {
    size_t n = strcspn(p, ",");
    if (one_addr(p, n, &out[got]))
      got++;
    p += n + (p[n] == ',');
  }
  return got;
}

/* One field of a --connect-to rule: up to the next ':' outside brackets. */
static const char *field(const char *p, char *out, size_t len) {
  size_t n = 0;
  int br = 0;
  for (; *p && (br || *p != ':'); p++) {
    br = *p == '[' ? 1 : *p == ']' ? 0 : br;
    if (n + 1 < len && *p != '[' && *p != ']')
      out[n++] = *p;
  }
  out[n] = 0;
  return *p == ':' ? p + 1 : NULL;
}

int jn_connect_to_match(const char *rule, const char *host, int port, char *host2, size_t hl, int *port2) {
  char h1[256], p1[16], h2[256], p2[16];
  const char *p = field(rule, h1, sizeof h1);
  p = p ? field(p, p1, sizeof p1) : NULL;
  p = p ? field(p, h2, sizeof h2) : NULL;
  if (!p || strchr(p, ':'))
    return -1;
  field(p, p2, sizeof p2);
  long v1 = p1[0] ? strtol(p1, NULL, 10) : 0, v2 = p2[0] ? strtol(p2, NULL, 10) : 0;
  if (v1 < 0 || v1 > 65535 || v2 < 0 || v2 > 65535 || (p1[0] && !v1) || (p2[0] && !v2))
    return -1;
  if ((h1[0] && strcasecmp(h1, host) != 0) || (v1 && v1 != port))
    return 0;
  jn_strlcpy(host2, h2[0] ? h2 : host, hl);
  *port2 = v2 ? (int)v2 : port;
  return 1;
}
