#include "client/request.h"
#include "client/result.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#ifndef JOURNEY_VERSION
#define JOURNEY_VERSION "0"
#endif

static void set(jn_request *r, const char *name, const char *value) {
  for (size_t i = 0; i < r->count; i++)
    if (strcasecmp(r->h[i].name, name) == 0) {
      jn_strlcpy(r->h[i].value, value, sizeof r->h[i].value);
      return;
    }
  if (r->count == JN_REQ_HEADERS_MAX)
    return;
  jn_strlcpy(r->h[r->count].name, name, sizeof r->h[0].name);
  jn_strlcpy(r->h[r->count].value, value, sizeof r->h[0].value);
  r->count++;
}

void jn_request_init(jn_request *r, const jn_url *u, const char *method, int keepalive) {
  char host[JN_URL_HOST_MAX + 16];
  memset(r, 0, sizeof *r);
  jn_strlcpy(r->method, method, sizeof r->method);
  r->version = "1.1";
  jn_url_host_header(u, host, sizeof host);
  set(r, "Host", host);
  set(r, "User-Agent", "journey/" JOURNEY_VERSION);
  set(r, "Accept", "text/html,application/json,*/*;q=0.8");
  set(r, "Accept-Language", "ko-KR,ko;q=0.9,en;q=0.8");
  set(r, "Accept-Encoding", "gzip, deflate, br");
  set(r, "Connection", keepalive ? "keep-alive" : "close");
}

static int token_char(unsigned char c) {
  return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

int jn_request_header_arg(jn_request *r, const char *arg, char *err, size_t errlen) {
  size_t n = strcspn(arg, ":;");
  if (n == 0 || !arg[n] || n >= sizeof r->h[0].name) {
    snprintf(err, errlen, "bad header \"%.100s\": expected \"Name: value\" (or \"Name:\" to remove it)", arg);
    return -1;
  }
  char name[128];
  memcpy(name, arg, n);
  name[n] = 0;
  for (size_t i = 0; i < n; i++)
    if (!token_char((unsigned char)name[i])) {
      snprintf(err, errlen, "bad header name \"%s\": only letters, digits and !#$%%&'*+-.^_`|~ allowed", name);
      return -1;
    }
  const char *v = arg + n + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  if (strpbrk(v, "\r\n")) {
    snprintf(err, errlen, "header %s: value must not contain CR or LF", name);
    return -1;
  }
  if (strlen(v) >= sizeof r->h[0].value) {
    snprintf(err, errlen, "header %s: value longer than %d bytes", name, JN_REQ_HEADER_MAX - 1);
    return -1;
  }
  if (arg[n] == ':' && !*v) { /* "Name:" removes */
    for (size_t i = 0; i < r->count; i++)
      if (strcasecmp(r->h[i].name, name) == 0) {
        memmove(&r->h[i], &r->h[i + 1], (r->count - i - 1) * sizeof r->h[0]);
        r->count--;
        break;
      }
    return 0;
  }
  if (r->count == JN_REQ_HEADERS_MAX && !jn_request_get(r, name)) {
    snprintf(err, errlen, "too many headers (at most %d)", JN_REQ_HEADERS_MAX);
    return -1;
  }
  set(r, name, arg[n] == ';' ? "" : v);
  return 0;
}

const char *jn_request_get(const jn_request *r, const char *name) {
  for (size_t i = 0; i < r->count; i++)
    if (strcasecmp(r->h[i].name, name) == 0)
      return r->h[i].value;
  return NULL;
}

size_t jn_request_format(const jn_request *r, const jn_url *u, char *buf, size_t len) {
  char target[JN_URL_PATH_MAX * 2 + 2];
  if (r->absolute_form)
    jn_url_format(u, target, sizeof target);
  else
    jn_url_target(u, target, sizeof target);
  size_t off = 0;
#define PUT(...)                                                                                   \
  do {                                                                                             \
    int w_ = snprintf(off < len ? buf + off : NULL, off < len ? len - off : 0, __VA_ARGS__);       \
    off += w_ > 0 ? (size_t)w_ : 0;                                                                \
  } while (0)
  PUT("%s %s HTTP/%s\r\n", r->method, target, r->version ? r->version : "1.1");
  for (size_t i = 0; i < r->count; i++)
    PUT("%s: %s\r\n", r->h[i].name, r->h[i].value);
  PUT("\r\n");
#undef PUT
  return off;
}
