#include "client/dns_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int jn_dns_cache_path(char *buf, size_t len, const char *xdg, const char *home) {
  int n;
  if (xdg && *xdg == '/')
    n = snprintf(buf, len, "%s/journey/dns", xdg);
  else if (home && *home)
    n = snprintf(buf, len, "%s/.cache/journey/dns", home);
  else
    return -1;
  return n > 0 && (size_t)n < len ? 0 : -1;
}

int jn_dns_cache_path_env(char *buf, size_t len) {
  return jn_dns_cache_path(buf, len, getenv("XDG_CACHE_HOME"), getenv("HOME"));
}

typedef struct entry {
  char host[256];
  int fam;
  char addr[64];
  long long expires;
  long ttl;
} entry;

/* Parses one line; returns 0 when it is a well-formed entry. */
static int parse_line(const char *line, size_t n, entry *e) {
  char tmp[512];
  if (n >= sizeof tmp)
    return -1;
  memcpy(tmp, line, n);
  tmp[n] = 0;
  if (sscanf(tmp, "%255s %d %63s %lld %ld", e->host, &e->fam, e->addr, &e->expires, &e->ttl) != 5)
    return -1;
  return (e->fam == 4 || e->fam == 6) && e->ttl >= 0 ? 0 : -1;
}

size_t jn_dns_cache_lookup(const char *text, const char *host, int fam, time_t now,
                           jn_dns_answer *out, size_t max) {
  size_t got = 0;
  for (const char *p = text; p && *p && got < max;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    entry e;
    if (parse_line(p, n, &e) == 0 && strcasecmp(e.host, host) == 0 && (fam == 0 || fam == e.fam) &&
        e.expires > (long long)now) {
      out[got].family = e.fam;
      jn_strlcpy(out[got].addr, e.addr, sizeof out[got].addr);
      out[got].ttl = (long)(e.expires - (long long)now);
      got++;
    }
    p = nl ? nl + 1 : NULL;
  }
  return got;
}

size_t jn_dns_cache_update(const char *text, const char *host, const jn_dns_answer *a, size_t n,
                           time_t now, char *out, size_t cap) {
  size_t off = 0;
  if (!cap)
    return 0;
  out[0] = 0;
  /* New answers first so that they survive when the file is full. */
  for (size_t i = 0; i < n; i++) {
    if (a[i].ttl <= 0)
      continue;
    int w = snprintf(out + off, cap - off, "%s %d %s %lld %ld\n", host, a[i].family, a[i].addr,
                     (long long)now + a[i].ttl, a[i].ttl);
    if (w < 0 || (size_t)w >= cap - off) {
      out[off] = 0;
      return off;
    }
    off += (size_t)w;
  }
  for (const char *p = text; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t ln = nl ? (size_t)(nl - p) : strlen(p);
    entry e;
    if (parse_line(p, ln, &e) == 0 && strcasecmp(e.host, host) != 0 && e.expires > (long long)now) {
      if (ln + 1 >= cap - off)
        break;
      memcpy(out + off, p, ln);
      off += ln;
      out[off++] = '\n';
      out[off] = 0;
    }
    p = nl ? nl + 1 : NULL;
  }
  return off;
}

int jn_dns_cache_load(const char *path, char *buf, size_t cap, char *err, size_t errlen) {
  buf[0] = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    snprintf(err, errlen, "cannot read DNS cache %s: %s", path, strerror(errno));
    return -1;
  }
  size_t off = 0;
  while (off + 1 < cap) {
    ssize_t r = read(fd, buf + off, cap - 1 - off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    off += (size_t)r;
  }
  buf[off] = 0;
  close(fd);
  return 0;
}

static int mkdir_p(char *dir) {
  for (char *p = dir + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        *p = '/';
        return -1;
      }
      *p = '/';
    }
  return mkdir(dir, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int jn_dns_cache_store(const char *path, const char *text, size_t len, char *err, size_t errlen) {
  char dir[1024], tmp[1100];
  jn_strlcpy(dir, path, sizeof dir);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = 0;
    if (mkdir_p(dir) != 0) {
      snprintf(err, errlen, "cannot create cache directory %s: %s", dir, strerror(errno));
      return -1;
    }
  }
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(err, errlen, "cannot write DNS cache %s: %s", tmp, strerror(errno));
    return -1;
  }
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      snprintf(err, errlen, "cannot write DNS cache %s: %s", tmp, strerror(errno));
      close(fd);
      unlink(tmp);
      return -1;
    }
    off += (size_t)w;
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    snprintf(err, errlen, "cannot replace DNS cache %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}
