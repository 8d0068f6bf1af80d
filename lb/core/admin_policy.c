/* Admin plane privilege levels, Host/Origin checks and the bearer token (pure). */
#include "lb/core/admin_policy.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void lb_admin_cfg_defaults(lb_admin_cfg *c) {
  memset(c, 0, sizeof *c);
  c->max_conns = 64;
  c->timeout_ms = 5000;
  c->recent = 100;
}

static int parse_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out) {
  char *end;
  if (!*v || *v == '-')
    return -1;
  unsigned long n = strtoul(v, &end, 10);
  if (*end || n < lo || n > hi)
    return -1;
  *out = (uint32_t)n;
  return 0;
}

/* "250ms", "5s", "2m" or a bare number of milliseconds (as lb_parse_duration_ms). */
static int parse_ms(const char *v, uint32_t *out) {
  char *end;
  if (!*v || *v == '-')
    return -1;
  unsigned long n = strtoul(v, &end, 10);
  unsigned long mul = !strcmp(end, "") || !strcmp(end, "ms") ? 1
                      : !strcmp(end, "s")                    ? 1000
                      : !strcmp(end, "m")                    ? 60000
                                                             : 0;
  if (!mul || n > 3600000ul / mul)
    return -1;
  *out = (uint32_t)(n * mul);
  return 0;
}

int lb_admin_cfg_set(lb_admin_cfg *c, const char *name, const char *value, char *why, size_t wl) {
  if (!strcmp(name, "admin-token-file") || !strcmp(name, "admin-socket")) {
    char *dst = name[6] == 't' ? c->token_file : c->socket;
    if (strlen(value) >= LB_ADMIN_PATH_MAX || (*value && *value != '/')) {
      snprintf(why, wl, "%s '%s': expected an absolute path", name, value);
      return -1;
    }
    if (dst == c->socket && strlen(value) >= 108) { /* sizeof sockaddr_un.sun_path */
      snprintf(why, wl, "%s '%s': a UNIX socket path must be shorter than 108 bytes", name, value);
      return -1;
    }
    snprintf(dst, LB_ADMIN_PATH_MAX, "%s", value);
    return 0;
  }
  if (!strcmp(name, "probe-listen")) {
    snprintf(c->probe, sizeof c->probe, "%s", value); /* address checked by lb_config_finish */
    return 0;
  }
  if (!strcmp(name, "admin-name")) {
    /* a comma-separated list, or the setting repeated */
    const char *p = value;
    while (*p) {
      size_t n = strcspn(p, ", ");
      if (n) {
        if (c->nnames >= LB_ADMIN_NAMES_MAX || n >= LB_ADMIN_NAME_MAX) {
          snprintf(why, wl, "admin-name: at most %d names of %d bytes", LB_ADMIN_NAMES_MAX,
                   LB_ADMIN_NAME_MAX - 1);
          return -1;
        }
        memcpy(c->names[c->nnames], p, n);
        c->names[c->nnames++][n] = 0;
      }
      p += n;
      p += strspn(p, ", ");
    }
    return 0;
  }
  if (!strcmp(name, "admin-max-connections")) {
    if (parse_u32(value, 1, 10000, &c->max_conns) != 0) {
      snprintf(why, wl, "admin-max-connections '%s': expected 1..10000", value);
      return -1;
    }
    return 0;
  }
  if (!strcmp(name, "admin-timeout")) {
    if (parse_ms(value, &c->timeout_ms) != 0 || c->timeout_ms < 100) {
      snprintf(why, wl, "admin-timeout '%s': expected a duration of at least 100ms, like 5s",
               value);
      return -1;
    }
    return 0;
  }
  if (!strcmp(name, "admin-recent")) {
    if (parse_u32(value, 0, 10000, &c->recent) != 0) {
      snprintf(why, wl, "admin-recent '%s': expected 0..10000 requests", value);
      return -1;
    }
    return 0;
  }
  return 1;
}

/* The host part of a Host value: [v6] or name/IPv4 without :port. */
static void host_part(const char *h, size_t len, const char **hp, size_t *hl, int *bracketed) {
  *bracketed = 0;
  if (len && h[0] == '[') {
    const char *end = memchr(h, ']', len);
    *hp = h + 1;
    *hl = end ? (size_t)(end - h - 1) : len - 1;
    *bracketed = end != NULL && (end + 1 == h + len || end[1] == ':');
    return;
  }
  const char *colon = memchr(h, ':', len);
  *hp = h;
  *hl = colon ? (size_t)(colon - h) : len;
}

int lb_admin_host_ok(const lb_admin_cfg *c, const char *host, size_t len) {
  if (len == 0)
    return 1;
  const char *hp;
  size_t hl;
  int br;
  host_part(host, len, &hp, &hl, &br);
  if (hl == 0 || hl >= 64)
    goto names;
  char tmp[64];
  memcpy(tmp, hp, hl);
  tmp[hl] = 0;
  unsigned char addr[16];
  if (br ? inet_pton(AF_INET6, tmp, addr) == 1 : inet_pton(AF_INET, tmp, addr) == 1)
    return 1;
names:
  for (int i = 0; i < c->nnames; i++)
    if (strlen(c->names[i]) == hl && !strncasecmp(c->names[i], hp, hl))
      return 1;
  return 0;
}

int lb_admin_origin_ok(const char *origin, size_t olen, const char *host, size_t hlen) {
  if (olen == 0)
    return 1;
  if (hlen == 0 || olen != 7 + hlen || strncasecmp(origin, "http://", 7) != 0)
    return 0;
  return strncasecmp(origin + 7, host, hlen) == 0;
}

int lb_admin_bearer(const char *authz, size_t len, const char **tok, size_t *toklen) {
  if (len < 7 || strncasecmp(authz, "bearer ", 7) != 0)
    return -1;
  size_t i = 7;
  while (i < len && authz[i] == ' ')
    i++;
  size_t end = len;
  while (end > i && (authz[end - 1] == ' ' || authz[end - 1] == '\t'))
    end--;
  if (end == i)
    return -1;
  *tok = authz + i;
  *toklen = end - i;
  return 0;
}

static int sha256(const char *s, size_t n, uint8_t out[32]) {
  unsigned int len = 0;
  return EVP_Digest(s, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -1;
}

int lb_admin_token_match(const uint8_t want_sha256[32], const char *tok, size_t len) {
  uint8_t got[32];
  if (sha256(tok, len, got) != 0)
    return 0;
  return CRYPTO_memcmp(got, want_sha256, 32) == 0;
}

/* RFC 6750 token68: ALPHA DIGIT - . _ ~ + / and trailing '='. */
static int token68(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         strchr("-._~+/=", ch) != NULL;
}

int lb_admin_token_parse(const char *text, size_t len, uint8_t out[32], char *why, size_t wl) {
  while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
                 text[len - 1] == '\t'))
    len--;
  while (len && (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')) {
    text++;
    len--;
  }
  if (len < LB_ADMIN_TOKEN_MIN) {
    snprintf(why, wl,
             "the token is %zu characters long; use at least %d (e.g. openssl rand "
             "-hex 32)",
             len, LB_ADMIN_TOKEN_MIN);
    return -1;
  }
  for (size_t i = 0; i < len; i++)
    if (!token68((unsigned char)text[i]) || (text[i] == 0)) {
      snprintf(why, wl,
               "the token has a character outside A-Z a-z 0-9 -._~+/= at offset %zu "
               "(one line, e.g. openssl rand -hex 32)",
               i);
      return -1;
    }
  if (sha256(text, len, out) != 0) {
    snprintf(why, wl, "SHA-256 unavailable");
    return -1;
  }
  return 0;
}

int lb_admin_token_mode_ok(unsigned mode, unsigned owner, unsigned me, const char *path, char *why,
                           size_t wl) {
  if (!S_ISREG(mode)) {
    snprintf(why, wl, "admin token file %s is not a regular file", path);
    return -1;
  }
  if (mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
    snprintf(why, wl,
             "admin token file %s is %s (mode %04o): refused; run chmod 600 %s (or 640 "
             "with the service's group)",
             path,
             mode & S_IROTH   ? "world-readable"
             : mode & S_IWOTH ? "world-writable"
                              : "group-writable",
             mode & 07777, path);
    return -1;
  }
  if (owner != me && owner != 0) {
    snprintf(why, wl,
             "admin token file %s belongs to uid %u, not to the service's user (uid %u) "
             "or root: chown it",
             path, owner, me);
    return -1;
  }
  return 0;
}

lb_admin_level lb_admin_tcp_level(const lb_admin_cfg *c, int token_ok, int peer_loopback) {
  if (token_ok)
    return LB_ADMIN_WRITE;
  if (!c->token_file[0] && !c->socket[0] && peer_loopback)
    return LB_ADMIN_WRITE;
  return LB_ADMIN_READ;
}
