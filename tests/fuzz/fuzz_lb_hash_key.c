/* libFuzzer target: the request key of algorithm = hash (lb/core/balancer/hash_key.c) on
 * arbitrary headers and targets. Input: a first line "KEY" (the hash-key value), a second line
 * (the request target), then "name: value" lines (the header views journey-lb's HTTP/1 parser
 * hands over). Every key kind is read from them; a key must hash the same twice, and no read may
 * leave the views (ASan: the input is copied into an exact-size buffer). */
#include "lb/core/balancer/hash_key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

static const char *line(const char **p, const char *end, size_t *len) {
  const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
  const char *e = nl ? nl : end;
  *len = (size_t)(e - s);
  *p = nl ? nl + 1 : end;
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1);
  if (!buf)
    return 0;
  memcpy(buf, data, size);
  const char *p = buf, *end = buf + size;
  size_t kl, tl;
  const char *k = line(&p, end, &kl);
  const char *target = line(&p, end, &tl);
  lb_header hs[MAX_HEADERS];
  size_t n = 0;
  while (p < end && n < MAX_HEADERS) {
    size_t ll;
    const char *l = line(&p, end, &ll);
    const char *colon = memchr(l, ':', ll);
    if (!colon)
      continue;
    hs[n++] = (lb_header){.name = l,
                          .name_len = (uint32_t)(colon - l),
                          .value = colon + 1,
                          .value_len = (uint32_t)(ll - (size_t)(colon + 1 - l))};
  }
  lb_key_source src = {.client_ip = target,
                       .client_ip_len = tl,
                       .target = target,
                       .target_len = tl,
                       .headers = hs,
                       .nheaders = n};
  char spec[LB_HASH_KEY_NAME_MAX + 16], why[256];
  const char *specs[] = {"client-ip", "path", "header:X-User", "cookie:session", spec};
  size_t sl = kl < sizeof spec - 1 ? kl : sizeof spec - 1;
  memcpy(spec, k, sl);
  spec[sl] = 0;
  for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
    lb_hash_key_cfg cfg = {0};
    if (lb_hash_key_parse(specs[i], &cfg, why, sizeof why) != 0)
      continue;
    lb_key a = {0}, b = {0};
    int ra = lb_hash_key_of(&cfg, &src, &a), rb = lb_hash_key_of(&cfg, &src, &b);
    if (ra != rb || a.hash != b.hash)
      abort();
    char d[LB_HASH_KEY_NAME_MAX + 8];
    lb_hash_key_describe(&cfg, d, sizeof d);
  }
  free(buf);
  return 0;
}
