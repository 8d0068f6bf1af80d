/* The request key of `algorithm = hash`: configuration value, extraction, hash; see hash_key.h. */
#include "lb/core/balancer/hash_key.h"

#include "lb/core/charclass.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Eight bytes at a time, read as little-endian whatever the host: the same value on every
 * machine of a mixed fleet. */
static inline uint64_t mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9e3779b97f4a7c15ull; /* low bits into high ones */
  return h ^ (h >> 29);                /* and back */
}

uint64_t lb_hash_bytes(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = seed ^ ((uint64_t)len * 0xc2b2ae3d27d4eb4full);
  for (; len >= 8; p += 8, len -= 8) /* compilers make this one load on little-endian hosts */
    h = mix(h, (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                   (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
                   (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56);
  uint64_t w = 0;
  for (size_t i = 0; i < len; i++)
    w |= (uint64_t)p[i] << (8 * i);
  h = mix(h, w);
  /* MurmurHash3's fmix64: every input bit reaches every output bit (the lookups take the hash
   * modulo a prime, the probe step its high half). */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/* Keys and server names are hashed with different seeds: a key equal to a server's name has no
 * reason to land on that server. */
#define KEY_SEED 0x6a6f75726e65796bull /* "journeyk" */

int lb_hash_key_parse(const char *text, lb_hash_key_cfg *out, char *why, size_t wl) {
  lb_hash_key_cfg k;
  memset(&k, 0, sizeof k);
  const char *name = NULL;
  if (!strcmp(text, "client-ip") || !strcmp(text, "source")) {
    k.kind = LB_HASH_KEY_CLIENT_IP;
  } else if (!strcmp(text, "path")) {
    k.kind = LB_HASH_KEY_PATH;
  } else if (!strncasecmp(text, "header:", 7)) {
    k.kind = LB_HASH_KEY_HEADER;
    name = text + 7;
  } else if (!strncasecmp(text, "cookie:", 7)) {
    k.kind = LB_HASH_KEY_COOKIE;
    name = text + 7;
  } else {
    snprintf(why, wl, "hash-key '%s': expected client-ip, header:NAME, cookie:NAME or path", text);
    return -1;
  }
  if (name) {
    size_t n = strlen(name);
    /* Header and cookie names are both RFC 9110 tokens (RFC 6265 cookie-name = token). */
    if (n == 0 || n >= sizeof k.name || !lb_cc_all(name, n, LB_CC_TCHAR)) {
      snprintf(why, wl, "hash-key '%s': the name after ':' must be 1 to %zu letters, digits or "
               "!#$%%&'*+-.^_`|~ (e.g. header:X-User-Id, cookie:session)", text,
               sizeof k.name - 1);
      return -1;
    }
    memcpy(k.name, name, n + 1);
    k.name_len = (uint32_t)n;
  }
  k.set = 1;
  k.line = out->line;
  *out = k;
  return 0;
}

const char *lb_hash_key_describe(const lb_hash_key_cfg *k, char *buf, size_t len) {
  switch (k->kind) {
  case LB_HASH_KEY_HEADER: snprintf(buf, len, "header:%s", k->name); break;
  case LB_HASH_KEY_COOKIE: snprintf(buf, len, "cookie:%s", k->name); break;
  case LB_HASH_KEY_PATH: snprintf(buf, len, "path"); break;
  default: snprintf(buf, len, "client-ip"); break;
  }
  return buf;
}

int lb_hash_key_check(const lb_hash_key_cfg *k, int used, const char *src, const char *where,
                      char *err, size_t errlen) {
  if (!k->set || used)
    return 0;
  char d[LB_HASH_KEY_NAME_MAX + 8];
  lb_hash_key_describe(k, d, sizeof d);
  if (k->line)
    snprintf(err, errlen, "%s:%d: hash-key = %s is set for %s, which does not use algorithm = "
             "hash: add algorithm = hash or remove hash-key", src, k->line, d, where);
  else
    snprintf(err, errlen, "%s: --hash-key %s is set for %s, which does not use algorithm = hash: "
             "add --algorithm hash or remove --hash-key", src, d, where);
  return -1;
}

static inline int is_ows(char c) { return c == ' ' || c == '\t'; }

/* The first header named k->name, trimmed of spaces and tabs. */
static int header_value(const lb_hash_key_cfg *k, const lb_key_source *src, const char **v,
                        size_t *n) {
  for (size_t i = 0; i < src->nheaders; i++) {
    const lb_header *h = &src->headers[i];
    if (h->name_len != k->name_len || strncasecmp(h->name, k->name, k->name_len) != 0)
      continue;
    const char *s = h->value, *e = h->value + h->value_len;
    while (s < e && is_ows(*s))
      s++;
    while (e > s && is_ows(e[-1]))
      e--;
    *v = s;
    *n = (size_t)(e - s);
    return 1;
  }
  return 0;
}

/* Cookie NAME in any Cookie header: "a=1; NAME=value; b=2" (RFC 6265 5.4), quotes removed. */
static int cookie_value(const lb_hash_key_cfg *k, const lb_key_source *src, const char **v,
                        size_t *n) {
  for (size_t i = 0; i < src->nheaders; i++) {
    const lb_header *h = &src->headers[i];
    if (h->name_len != 6 || strncasecmp(h->name, "cookie", 6) != 0)
      continue;
    const char *p = h->value, *end = h->value + h->value_len;
    while (p < end) {
      while (p < end && (is_ows(*p) || *p == ';'))
        p++;
      const char *pair = p;
      while (p < end && *p != ';')
        p++;
      const char *eq = memchr(pair, '=', (size_t)(p - pair));
      if (!eq)
        continue;
      const char *ne = eq;
      while (ne > pair && is_ows(ne[-1]))
        ne--;
      if ((size_t)(ne - pair) != k->name_len || memcmp(pair, k->name, k->name_len) != 0)
        continue;
      const char *s = eq + 1, *e = p;
      while (s < e && is_ows(*s))
        s++;
      while (e > s && is_ows(e[-1]))
        e--;
      if (e - s >= 2 && *s == '"' && e[-1] == '"') {
        s++;
        e--;
      }
      *v = s;
      *n = (size_t)(e - s);
      return 1;
    }
  }
  return 0;
}

/* The path of an origin-form ("/a/b?q") or absolute-form ("http://h/a/b?q") target. */
static void target_path(const lb_key_source *src, const char **v, size_t *n) {
  const char *s = src->target ? src->target : "", *e = s + (src->target ? src->target_len : 0);
  if (s < e && *s != '/') {
    const char *c = s; /* the target is a view: no strstr past its end */
    while (e - c >= 3 && (c[0] != ':' || c[1] != '/' || c[2] != '/'))
      c++;
    if (e - c >= 3) {
      const char *slash = memchr(c + 3, '/', (size_t)(e - c - 3));
      s = slash ? slash : e;
    }
  }
  const char *q = memchr(s, '?', (size_t)(e - s));
  if (q)
    e = q;
  const char *frag = memchr(s, '#', (size_t)(e - s));
  if (frag)
    e = frag;
  if (s == e) { /* "http://host" and "*" name the root */
    s = "/";
    e = s + 1;
  }
  *v = s;
  *n = (size_t)(e - s);
}

int lb_hash_key_of(const lb_hash_key_cfg *k, const lb_key_source *src, lb_key *out) {
  const char *v = NULL;
  size_t n = 0;
  switch (k->kind) {
  case LB_HASH_KEY_HEADER:
    if (!header_value(k, src, &v, &n))
      return 0;
    break;
  case LB_HASH_KEY_COOKIE:
    if (!cookie_value(k, src, &v, &n))
      return 0;
    break;
  case LB_HASH_KEY_PATH: target_path(src, &v, &n); break;
  default:
    v = src->client_ip;
    n = src->client_ip ? src->client_ip_len : 0;
    break;
  }
  if (n == 0)
    return 0;
  out->hash = lb_hash_bytes(v, n, KEY_SEED);
  return 1;
}
