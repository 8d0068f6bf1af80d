#include "backend/routes.h"

#include <stdio.h>
#include <string.h>

/* ---- small writers: append to [*p, end), remember overflow instead of checking everywhere ---- */

typedef struct outp {
  char *p, *end;
  int overflow;
} outp;

static inline void put(outp *o, const char *s, size_t n) {
  if ((size_t)(o->end - o->p) < n) {
    o->overflow = 1;
    return;
  }
  memcpy(o->p, s, n);
  o->p += n;
}

#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

static void put_uint(outp *o, size_t v) {
  char b[24];
  char *q = b + sizeof b;
  do {
    *--q = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(o, q, (size_t)(b + sizeof b - q));
}

static void put_json_str(outp *o, const char *s, size_t n) {
  PUT_LIT(o, "\"");
  ssize_t w = be_json_escape(o->p, (size_t)(o->end - o->p), s, n);
  if (w < 0) {
    o->overflow = 1;
    return;
  }
  o->p += w;
  PUT_LIT(o, "\"");
}

ssize_t be_json_escape(char *out, size_t cap, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  char *p = out, *end = out + cap;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      if (p == end)
        return -1;
      *p++ = (char)c;
      continue;
    }
    if (end - p < 6)
      return -1;
    *p++ = '\\';
    switch (c) {
    case '"': *p++ = '"'; break;
    case '\\': *p++ = '\\'; break;
    case '\n': *p++ = 'n'; break;
    case '\r': *p++ = 'r'; break;
    case '\t': *p++ = 't'; break;
    default: /* control bytes, DEL and bytes >= 0x80 (read as Latin-1) */
      *p++ = 'u', *p++ = '0', *p++ = '0', *p++ = hex[c >> 4], *p++ = hex[c & 15];
    }
  }
  return p - out;
}

/* ---- routing ---- */

/* The path part of a request-target: origin-form "/a?q" -> "/a"; absolute-form
 * "http://host/a?q" -> "/a" (RFC 9112 3.2.2: servers must accept it). */
void be_target_path(const char *t, size_t n, const char **path, size_t *len) {
  size_t i = 0;
  if (n && t[0] != '/' && n >= 7 && (!strncmp(t, "http://", 7) || (n >= 8 && !strncmp(t, "https://", 8)))) {
    i = t[4] == 's' ? 8 : 7;
    while (i < n && t[i] != '/' && t[i] != '?')
      i++;
  }
  size_t j = i;
  while (j < n && t[j] != '?' && t[j] != '#')
    j++;
  *path = t + i;
  *len = j - i;
}

#define PATH_IS(p, n, lit) ((n) == sizeof(lit) - 1 && memcmp((p), (lit), (n)) == 0)

/* "up", "down", optionally followed by a line ending or spaces. */
static int body_word(const be_request *rq, const char *word) {
  if (!rq->body_complete)
    return 0;
  size_t n = rq->body_len;
  while (n && (rq->body[n - 1] == '\n' || rq->body[n - 1] == '\r' || rq->body[n - 1] == ' '))
    n--;
  return strlen(word) == n && memcmp(rq->body, word, n) == 0;
}

static void text(be_decision *d, int status, const char *body) {
  d->status = status;
  d->body = BE_BODY_TEXT;
  d->text = body;
}

void be_route(const be_request *rq, const be_state *st, be_decision *d) {
  memset(d, 0, sizeof *d);
  const char *path;
  size_t len;
  be_target_path(rq->target, rq->target_len, &path, &len);
  int get_or_head = rq->method == BE_GET || rq->method == BE_HEAD;

  if (PATH_IS(path, len, BE_PATH_DATA)) {
    if (!get_or_head) {
      text(d, 405, "method not allowed: use GET or HEAD\n");
      d->allow = "GET, HEAD";
      return;
    }
    d->delayed = 1;
    if (st->fail_draw < st->fail_rate) {
      text(d, 500, "internal error (injected by --fail-rate)\n");
      return;
    }
    d->status = 200;
    d->body = BE_BODY_DATA;
    return;
  }
  if (PATH_IS(path, len, BE_PATH_HEALTH)) {
    if (!get_or_head) {
      text(d, 405, "method not allowed: use GET or HEAD\n");
      d->allow = "GET, HEAD";
      return;
    }
    if (st->healthy)
      text(d, 200, "ok");
    else
      text(d, 503, "down");
    return;
  }
  if (st->admin && PATH_IS(path, len, BE_PATH_ADMIN_HEALTH)) {
    if (rq->method != BE_POST) {
      text(d, 405, "method not allowed: POST up or down\n");
      d->allow = "POST";
      return;
    }
    if (!rq->peer_loopback) {
      text(d, 403, "forbidden: /admin/health accepts loopback peers only\n");
      return;
    }
    if (body_word(rq, "up")) {
      text(d, 200, "up\n");
      d->health = BE_HEALTH_SET_UP;
    } else if (body_word(rq, "down")) {
      text(d, 200, "down\n");
      d->health = BE_HEALTH_SET_DOWN;
    } else {
      text(d, 400, "bad request: the body must be up or down\n");
    }
    return;
  }
  text(d, 404, "not found\n");
}

void be_error_decision(int status, be_decision *d) {
  memset(d, 0, sizeof *d);
  d->close = 1;
  switch (status) {
  case 400: text(d, 400, "bad request: malformed HTTP/1.1\n"); break;
  case 408: text(d, 408, "request timeout: the request did not arrive in time\n"); break;
  case 413: text(d, 413, "content too large: request body above --max-body-bytes\n"); break;
  case 431: text(d, 431, "request header fields too large: above --max-header-bytes\n"); break;
  case 505: text(d, 505, "HTTP version not supported: use HTTP/1.0 or HTTP/1.1\n"); break;
  default: text(d, status, "error\n"); break;
  }
}

const char *be_status_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 426: return "Upgrade Required";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

unsigned be_delay_pick(unsigned min_ms, unsigned max_ms, double draw) {
  if (max_ms <= min_ms)
    return min_ms;
  unsigned span = max_ms - min_ms + 1;
  unsigned add = (unsigned)(draw * span);
  return min_ms + (add < span ? add : span - 1);
}

/* ---- response building ---- */

int be_identity_init(be_identity *id, const char *name, const char *listen_addr) {
  char ename[sizeof id->name * 6], eaddr[64 * 6];
  ssize_t n1 = be_json_escape(ename, sizeof ename, name, strlen(name));
  ssize_t n2 = be_json_escape(eaddr, sizeof eaddr, listen_addr, strlen(listen_addr));
  if (strlen(name) >= sizeof id->name || n1 < 0 || n2 < 0)
    return -1;
  snprintf(id->name, sizeof id->name, "%s", name);
  int a = snprintf(id->json_head, sizeof id->json_head, "{\"backend\":\"%.*s\",\"listen\":\"%.*s\",",
                   (int)n1, ename, (int)n2, eaddr);
  int b = snprintf(id->name_header, sizeof id->name_header, "X-Backend: %s\r\n", name);
  if (a < 0 || (size_t)a >= sizeof id->json_head || b < 0 || (size_t)b >= sizeof id->name_header)
    return -1;
  id->json_head_len = (size_t)a;
  id->name_header_len = (size_t)b;
  return 0;
}

/* The body of GET /my-app/data. */
static void put_data_body(outp *o, const be_request *rq, const be_identity *id,
                          const be_response_meta *m) {
  put(o, id->json_head, id->json_head_len);
  /* The client address and the method are the server's own text (digits, dots, colons,
   * brackets; llhttp's method names): no escaping needed. The header values are escaped. */
  PUT_LIT(o, "\"client\":\"");
  put(o, m->client, strlen(m->client));
  PUT_LIT(o, "\"");
  PUT_LIT(o, ",\"request_id\":");
  if (rq->request_id)
    put_json_str(o, rq->request_id, rq->request_id_len);
  else
    PUT_LIT(o, "null");
  PUT_LIT(o, ",\"x_forwarded_for\":");
  if (rq->xff)
    put_json_str(o, rq->xff, rq->xff_len);
  else
    PUT_LIT(o, "null");
  /* HEAD: the headers GET would get, so the same Content-Length (RFC 9110 9.3.2). */
  const char *method = rq->method == BE_HEAD ? "GET" : rq->method_name;
  PUT_LIT(o, ",\"method\":\"");
  put(o, method, strlen(method));
  PUT_LIT(o, "\"");
  if (rq->http_minor == 0)
    PUT_LIT(o, ",\"path\":\"" BE_PATH_DATA "\",\"http_version\":\"1.0\",");
  else
    PUT_LIT(o, ",\"path\":\"" BE_PATH_DATA "\",\"http_version\":\"1.1\",");
  PUT_LIT(o, "\"items\":[{\"id\":1,\"name\":\"laptop\",\"city\":\"Seoul\",\"qty\":1},"
             "{\"id\":2,\"name\":\"router\",\"city\":\"Seoul\",\"qty\":2},"
             "{\"id\":3,\"name\":\"load-balancer\",\"city\":\"Azure\",\"qty\":3}]}\n");
}

ssize_t be_response_build(char *out, size_t cap, const be_decision *d, const be_request *rq,
                          const be_identity *id, const be_response_meta *m) {
  /* The body goes into a scratch area first: Content-Length must precede it. */
  char body[BE_RESPONSE_MAX];
  outp b = {body, body + sizeof body, 0};
  if (d->body == BE_BODY_DATA && rq)
    put_data_body(&b, rq, id, m);
  else if (d->text)
    put(&b, d->text, strlen(d->text));
  if (b.overflow)
    return -1;
  size_t body_len = (size_t)(b.p - body);

  outp o = {out, out + cap, 0};
  const char *reason = be_status_reason(d->status);
  PUT_LIT(&o, "HTTP/1.1 ");
  put_uint(&o, (size_t)d->status);
  PUT_LIT(&o, " ");
  put(&o, reason, strlen(reason));
  PUT_LIT(&o, "\r\nServer: journey-backend\r\nDate: ");
  put(&o, m->date, strlen(m->date));
  if (d->body == BE_BODY_DATA)
    PUT_LIT(&o, "\r\nContent-Type: application/json\r\nContent-Length: ");
  else
    PUT_LIT(&o, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  put_uint(&o, body_len);
  PUT_LIT(&o, "\r\n");
  put(&o, id->name_header, id->name_header_len);
  if (rq && rq->request_id) {
    PUT_LIT(&o, "X-Request-Id: ");
    put(&o, rq->request_id, rq->request_id_len);
    PUT_LIT(&o, "\r\n");
  }
  if (d->allow) {
    PUT_LIT(&o, "Allow: ");
    put(&o, d->allow, strlen(d->allow));
    PUT_LIT(&o, "\r\n");
  }
  if (d->headers)
    put(&o, d->headers, strlen(d->headers));
  if (!m->keep_alive)
    PUT_LIT(&o, "Connection: close\r\n");
  else if (rq && rq->http_minor == 0)
    PUT_LIT(&o, "Connection: keep-alive\r\n");
  PUT_LIT(&o, "\r\n");
  if (!(rq && rq->method == BE_HEAD))
    put(&o, body, body_len);
  return o.overflow ? -1 : o.p - out;
}
