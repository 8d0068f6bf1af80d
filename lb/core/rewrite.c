/* Header rewriting: one pass over the parsed headers, output written once. */
#include "lb/core/rewrite.h"
#include "lb/core/charclass.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_CONN_TOKENS 16

int lb_headers_names_valid(const lb_header *h, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!lb_token_valid(h[i].name, h[i].name_len))
      return 0;
  return 1;
}

int lb_request_id_valid(const char *v, size_t n) {
  return n && n <= 128 && lb_cc_all(v, n, LB_CC_REQID);
}

void lb_request_id_format(uint64_t hi, uint64_t lo, char out[37]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  for (int i = 0; i < 8; i++) {
    b[i] = (unsigned char)(hi >> (56 - 8 * i));
    b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
  }
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  int o = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[o++] = '-';
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 15];
  }
  out[o] = 0;
}

/* Bounded writer: once full, stays full (its cap drops to its length, so one comparison per
 * piece says it) and reports 0 at the end. */
typedef struct {
  char *p;
  size_t len, cap;
  int over;
} wbuf;

static inline void put(wbuf *w, const char *s, size_t n) {
  if (n > w->cap - w->len) {
    w->over = 1;
    w->cap = w->len;
    return;
  }
  memcpy(w->p + w->len, s, n);
  w->len += n;
}
#define PUTLIT(w, lit) put((w), lit, sizeof(lit) - 1)
static inline void puts0(wbuf *w, const char *s) { put(w, s, strlen(s)); }
/* A status code: three digits written at once (a status line per response), else putu. */
static void putu(wbuf *w, unsigned long long v);
static inline void put_status(wbuf *w, int st) {
  if (st < 100 || st > 999) {
    putu(w, (unsigned)st);
    return;
  }
  char t[3] = {(char)('0' + st / 100), (char)('0' + st / 10 % 10), (char)('0' + st % 10)};
  put(w, t, 3);
}
static void putu(wbuf *w, unsigned long long v) {
  char t[24];
  size_t n = sizeof t;
  do {
    t[--n] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(w, t + n, sizeof t - n);
}

/* Kept header lines go out as they came when they are already in the form written here,
 * "Name: value" CRLF (the usual case): a run of such lines, one after the other in the receive
 * buffer, is one copy instead of four per line. Any other line is written piece by piece. The
 * bytes are the same either way. (A parsed head has its line end after every value.) */
typedef struct {
  const char *p;
  size_t n;
} line_run;

static inline void run_flush(wbuf *w, line_run *r) {
  if (r->n) {
    put(w, r->p, r->n);
    r->n = 0;
  }
}

/* always_inline: six calls per proxied request, and GCC keeps it out of line otherwise. */
static inline __attribute__((always_inline)) void put_header(wbuf *w, line_run *r,
                                                             const lb_header *h) {
  const char *line = h->name;
  size_t nl = h->name_len, vl = h->value_len;
  if (h->value == line + nl + 2 && line[nl] == ':' && line[nl + 1] == ' ' && h->value[vl] == '\r' &&
      h->value[vl + 1] == '\n') {
    if (r->n && r->p + r->n == line) {
      r->n += nl + vl + 4;
      return;
    }
    run_flush(w, r);
    r->p = line;
    r->n = nl + vl + 4;
    return;
  }
  run_flush(w, r);
  put(w, line, nl);
  PUTLIT(w, ": ");
  put(w, h->value, vl);
  PUTLIT(w, "\r\n");
}

/* Connection: a, b -> tokens (lowercase comparison later). */
typedef struct {
  const char *p[MAX_CONN_TOKENS];
  size_t n[MAX_CONN_TOKENS];
  int count;
} conn_tokens;

static void collect_conn_tokens(const lb_header *h, size_t nh, conn_tokens *t) {
  t->count = 0;
  for (size_t i = 0; i < nh; i++) {
    if (!LB_HEADER_IS(h[i].name, h[i].name_len, "connection"))
      continue;
    const char *v = h[i].value, *end = v + h[i].value_len;
    while (v < end && t->count < MAX_CONN_TOKENS) {
      while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
        v++;
      const char *s = v;
      while (v < end && *v != ',' && *v != ' ' && *v != '\t')
        v++;
      if (v > s) {
        t->p[t->count] = s;
        t->n[t->count++] = (size_t)(v - s);
      }
    }
  }
}

int lb_token_listed(const char *p, size_t len, const char *name, size_t n) {
  const char *end = p + len, *t;
  size_t k;
  while ((t = lb_list_next(&p, end, &k)))
    if (k == n && strncasecmp(name, t, n) == 0)
      return 1;
  return 0;
}

static int listed(const conn_tokens *t, const char *name, size_t n) {
  for (int i = 0; i < t->count; i++)
    if (t->n[i] == n && strncasecmp(t->p[i], name, n) == 0)
      return 1;
  return 0;
}

/* The Connection line of a forwarded upgrade request: written only by lb_rewrite_request (every
 * Connection header of the client is dropped), so finding it says the request asked. */
#define UPGRADE_LINE "Connection: upgrade\r\n"

/* An HTTP/1.1 request without a body whose Connection lists "upgrade" and whose Upgrade is
 * "websocket" (RFC 9110 7.8, RFC 6455 4.1): forwarded with both, so that the backend may answer
 * 101. Only WebSocket: an h2c tunnel (or any other protocol) would carry the client's next
 * requests to the backend past journey-lb's routes and checks, so its Upgrade is dropped. */
static int asks_upgrade(const lb_request_view *req, const conn_tokens *ct) {
  if (req->http_minor != 1 || req->framing != LB_FRAME_NONE || !listed(ct, "upgrade", 7))
    return 0;
  int websocket = 0;
  for (size_t i = 0; i < req->nheaders; i++) {
    const lb_header *h = &req->headers[i];
    if (!LB_HEADER_IS(h->name, h->name_len, "upgrade"))
      continue;
    size_t a = 0, b = h->value_len; /* the value without optional whitespace */
    while (a < b && (h->value[a] == ' ' || h->value[a] == '\t'))
      a++;
    while (b > a && (h->value[b - 1] == ' ' || h->value[b - 1] == '\t'))
      b--;
    if (b - a != 9 || strncasecmp(h->value + a, "websocket", 9) != 0)
      return 0; /* another protocol offered, alone or besides */
    websocket = 1;
  }
  return websocket;
}

int lb_forwarded_upgrade(const char *head, size_t n) {
  return memmem(head, n, "\r\n" UPGRADE_LINE, sizeof UPGRADE_LINE + 1) != NULL;
}

size_t lb_rewrite_request(char *out, size_t cap, const lb_request_view *req,
                          const lb_forward_info *fi) {
  wbuf w = {out, 0, cap, 0};
  conn_tokens ct;
  collect_conn_tokens(req->headers, req->nheaders, &ct);

  put(&w, req->method, req->method_len);
  PUTLIT(&w, " ");
  put(&w, req->target, req->target_len);
  PUTLIT(&w, " HTTP/1.1\r\n");

  const lb_header *xff[8];
  int nxff = 0;
  const lb_header *via[8];
  int nvia = 0;
  const lb_header *host = NULL;
  line_run run = {NULL, 0};
  int upgrade = asks_upgrade(req, &ct);
  for (size_t i = 0; i < req->nheaders; i++) {
    const lb_header *h = &req->headers[i];
    const char *n = h->name;
    size_t nl = h->name_len;
    if (upgrade && LB_HEADER_IS(n, nl, "upgrade")) {
      put_header(&w, &run, h); /* this hop's header, but the tunnel needs the backend to see it */
      continue;
    }
    if (lb_header_is_hop_by_hop(n, nl) || (ct.count && listed(&ct, n, nl)))
      continue;
    if (nl == 15 && LB_HEADER_IS(n, nl, "x-forwarded-for")) {
      if (nxff < 8)
        xff[nxff++] = h;
      continue;
    }
    if (nl == 3 && LB_HEADER_IS(n, nl, "via")) {
      if (nvia < 8)
        via[nvia++] = h;
      continue;
    }
    if ((nl == 17 && LB_HEADER_IS(n, nl, "x-forwarded-proto")) ||
        (nl == 16 && LB_HEADER_IS(n, nl, "x-forwarded-host")))
      continue; /* ours replace the client's: they describe this hop */
    if (fi->request_id && nl == 12 && LB_HEADER_IS(n, nl, "x-request-id"))
      continue;
    if (fi->cert_header && nl == fi->cert_header_len && !strncasecmp(n, fi->cert_header, nl))
      continue; /* only this hop says who the client certificate names: a client's copy is forged */
    if (nl == 4 && LB_HEADER_IS(n, nl, "host")) {
      host = h;
      if (req->host)
        continue; /* the absolute-form's authority is the Host (RFC 9112 3.2.2) */
    }
    put_header(&w, &run, h);
  }
  run_flush(&w, &run);
  const char *hv = req->host ? req->host : host ? host->value : NULL;
  size_t hl = req->host ? req->host_len : host ? host->value_len : 0;
  if (req->host) {
    PUTLIT(&w, "Host: ");
    put(&w, hv, hl);
    PUTLIT(&w, "\r\n");
  } else if (!host) { /* HTTP/1.0 without Host goes out as HTTP/1.1: empty (RFC 9110 7.2) */
    PUTLIT(&w, "Host:\r\n");
  }
  if (req->framing == LB_FRAME_CHUNKED)
    PUTLIT(&w, "Transfer-Encoding: chunked\r\n");
  if (upgrade)
    PUTLIT(&w, UPGRADE_LINE);

  PUTLIT(&w, "X-Forwarded-For: ");
  for (int i = 0; i < nxff; i++) {
    put(&w, xff[i]->value, xff[i]->value_len);
    PUTLIT(&w, ", ");
  }
  if (fi->client_ip_len)
    put(&w, fi->client_ip, fi->client_ip_len);
  else
    puts0(&w, fi->client_ip);
  PUTLIT(&w, "\r\nX-Forwarded-Proto: ");
  puts0(&w, fi->proto);
  if (hv) { /* the fixed texts joined: fewer pieces per request */
    PUTLIT(&w, "\r\nX-Forwarded-Host: ");
    put(&w, hv, hl);
  }
  PUTLIT(&w, "\r\nVia: ");
  for (int i = 0; i < nvia; i++) {
    put(&w, via[i]->value, via[i]->value_len);
    PUTLIT(&w, ", ");
  }
  put(&w, req->http_minor == 0 ? "1.0 " : "1.1 ", 4);
  puts0(&w, fi->via ? fi->via : "journey-lb");
  if (fi->request_id) {
    PUTLIT(&w, "\r\nX-Request-Id: ");
    put(&w, fi->request_id, fi->request_id_len);
  }
  if (fi->cert_header && fi->cert_subject_len) {
    PUTLIT(&w, "\r\n");
    put(&w, fi->cert_header, fi->cert_header_len);
    PUTLIT(&w, ": ");
    put(&w, fi->cert_subject, fi->cert_subject_len);
  }
  PUTLIT(&w, "\r\n\r\n"); /* the last line's end and the head's */
  return w.over ? 0 : w.len;
}

size_t lb_rewrite_response(char *out, size_t cap, const lb_response_view *resp,
                           const lb_response_extra *x) {
  wbuf w = {out, 0, cap, 0};
  conn_tokens ct;
  collect_conn_tokens(resp->headers, resp->nheaders, &ct);

  PUTLIT(&w, "HTTP/1.1 ");
  put_status(&w, resp->status);
  PUTLIT(&w, " ");
  if (resp->reason_len)
    put(&w, resp->reason, resp->reason_len);
  else
    puts0(&w, lb_status_reason(resp->status));
  PUTLIT(&w, "\r\n");
  int interim = resp->status >= 100 && resp->status < 200;
  int switching = resp->status == 101; /* a tunnel: the client must see the protocol chosen */
  line_run run = {NULL, 0};
  for (size_t i = 0; i < resp->nheaders; i++) {
    const lb_header *h = &resp->headers[i];
    const char *n = h->name;
    size_t nl = h->name_len;
    if (switching && LB_HEADER_IS(n, nl, "upgrade")) {
      put_header(&w, &run, h);
      continue;
    }
    if (nl == 14 && LB_HEADER_IS(n, nl, "content-length")) {
      /* framing: kept or dropped by the relay plan only, never because Connection lists it */
      if (!interim && x->framing != LB_FRAME_CLOSE && !x->drop_length)
        put_header(&w, &run, h);
      continue;
    }
    if (lb_header_is_hop_by_hop(n, nl) || (ct.count && listed(&ct, n, nl)))
      continue;
    if (!interim && x->request_id && nl == 12 && LB_HEADER_IS(n, nl, "x-request-id"))
      continue;
    put_header(&w, &run, h);
  }
  run_flush(&w, &run);
  if (switching)
    PUTLIT(&w, UPGRADE_LINE);
  if (!interim) {
    if (x->framing == LB_FRAME_CHUNKED)
      PUTLIT(&w, "Transfer-Encoding: chunked\r\n");
    if (!x->keep_alive)
      PUTLIT(&w, "Connection: close\r\n");
    else if (x->client_http_minor == 0)
      PUTLIT(&w, "Connection: keep-alive\r\n");
    if (x->server_timing) {
      PUTLIT(&w, "Server-Timing: ");
      puts0(&w, x->server_timing);
      PUTLIT(&w, "\r\n");
    }
    if (x->served_by) {
      PUTLIT(&w, "X-Served-By: ");
      puts0(&w, x->served_by);
      PUTLIT(&w, "\r\n");
    }
    if (x->request_id) {
      PUTLIT(&w, "X-Request-Id: ");
      put(&w, x->request_id, x->request_id_len);
      PUTLIT(&w, "\r\n");
    }
  }
  PUTLIT(&w, "\r\n");
  return w.over ? 0 : w.len;
}

const char *lb_status_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 204: return "No Content";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

size_t lb_local_response(char *out, size_t cap, int status, const char *body, int keep_alive,
                         const char *request_id, const char *server_timing) {
  wbuf w = {out, 0, cap, 0};
  size_t bl = strlen(body);
  PUTLIT(&w, "HTTP/1.1 ");
  put_status(&w, status);
  PUTLIT(&w, " ");
  puts0(&w, lb_status_reason(status));
  PUTLIT(&w, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  putu(&w, bl + 1);
  PUTLIT(&w, "\r\nCache-Control: no-store\r\n");
  if (!keep_alive)
    PUTLIT(&w, "Connection: close\r\n");
  if (server_timing) {
    PUTLIT(&w, "Server-Timing: ");
    puts0(&w, server_timing);
    PUTLIT(&w, "\r\n");
  }
  if (request_id) {
    PUTLIT(&w, "X-Request-Id: ");
    puts0(&w, request_id);
    PUTLIT(&w, "\r\n");
  }
  PUTLIT(&w, "\r\n");
  put(&w, body, bl);
  PUTLIT(&w, "\n");
  return w.over ? 0 : w.len;
}
