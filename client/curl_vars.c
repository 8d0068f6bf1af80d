#include "client/curl_vars.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/report.h"

const char *const jn_curl_var_names[] = {
    "time_namelookup",
    "time_connect",
    "time_appconnect",
    "time_pretransfer",
    "time_starttransfer",
    "time_total",
    "time_redirect",
    "http_code",
    "response_code",
    "exitcode",
    "errormsg",
    "remote_ip",
    "remote_port",
    "local_ip",
    "local_port",
    "size_download",
    "size_upload",
    "size_header",
    "size_request",
    "speed_download",
    "speed_upload",
    "http_version",
    "num_connects",
    "num_redirects",
    "num_headers",
    "num_certs",
    "ssl_verify_result",
    "method",
    "scheme",
    "url_effective",
    "url",
    "redirect_url",
    "content_type",
    "http_connect",
};
const size_t jn_curl_var_n = sizeof jn_curl_var_names / sizeof jn_curl_var_names[0];

/* "ip:port" or "[ip6]:port" into its two halves. */
static void split_addr(const char *a, char *ip, size_t iplen, long long *port) {
  const char *colon = strrchr(a, ':');
  *port = 0;
  ip[0] = 0;
  if (!colon)
    return;
  const char *s = a, *e = colon;
  if (*s == '[' && e > s && e[-1] == ']') {
    s++;
    e--;
  }
  snprintf(ip, iplen, "%.*s", (int)(e - s), s);
  *port = strtoll(colon + 1, NULL, 10);
}

static int secs(jn_val *v, uint64_t us) {
  v->type = JN_VAL_SECS;
  v->us = us;
  return 0;
}
static int num(jn_val *v, long long i) {
  v->type = JN_VAL_INT;
  v->i = i;
  return 0;
}
static int str(jn_val *v, const char *s) { /* "" is curl's null */
  v->type = *s ? JN_VAL_STR : JN_VAL_NULL;
  jn_strlcpy(v->s, s, sizeof v->s);
  return 0;
}

int jn_curl_var(const jn_result *r, const char *n, jn_val *v) {
  long long port;
  memset(v, 0, sizeof *v);
  if (!strcmp(n, "time_namelookup"))
    return secs(v, r->t_namelookup);
  if (!strcmp(n, "time_connect"))
    return secs(v, r->t_connect);
  if (!strcmp(n, "time_appconnect"))
    return secs(v, r->t_appconnect);
  if (!strcmp(n, "time_pretransfer"))
    return secs(v, r->t_pretransfer);
  if (!strcmp(n, "time_starttransfer"))
    return secs(v, r->t_starttransfer);
  if (!strcmp(n, "time_total"))
    return secs(v, r->t_total);
  if (!strcmp(n, "time_redirect"))
    return secs(v, r->t_redirect);
  if (!strcmp(n, "http_code") || !strcmp(n, "response_code"))
    return num(v, r->status);
  if (!strcmp(n, "http_connect"))
    return num(v, r->proxy_status);
  if (!strcmp(n, "exitcode"))
    return num(v, r->exit_code);
  if (!strcmp(n, "errormsg"))
    return str(v, r->error);
  if (!strcmp(n, "remote_ip") || !strcmp(n, "remote_port")) {
    split_addr(r->remote, v->s, sizeof v->s, &port);
    return n[7] == 'i' ? str(v, v->s) : num(v, port);
  }
  if (!strcmp(n, "local_ip") || !strcmp(n, "local_port")) {
    split_addr(r->local, v->s, sizeof v->s, &port);
    return n[6] == 'i' ? str(v, v->s) : num(v, port);
  }
  if (!strcmp(n, "size_download"))
    return num(v, (long long)r->body_bytes);
  if (!strcmp(n, "size_upload"))
    return num(v, (long long)r->upload_bytes);
  if (!strcmp(n, "size_header"))
    return num(v, (long long)r->header_wire_bytes);
  if (!strcmp(n, "size_request"))
    return num(v, (long long)(r->request_len + r->upload_bytes));
  if (!strcmp(n, "speed_download"))
    return num(v, r->t_total ? (long long)(r->body_bytes * 1000000 / r->t_total) : 0);
  if (!strcmp(n, "speed_upload"))
    return num(v, r->t_total ? (long long)(r->upload_bytes * 1000000 / r->t_total) : 0);
  if (!strcmp(n, "http_version"))
    return str(v, r->status ? r->http_version : "");
  if (!strcmp(n, "num_connects"))
    return num(v, r->num_connects);
  if (!strcmp(n, "num_redirects"))
    return num(v, r->num_redirects);
  if (!strcmp(n, "num_headers"))
    return num(v, r->header_n);
  if (!strcmp(n, "num_certs"))
    return num(v, r->tls_used && !r->tcp_reused ? r->chain_len : 0);
  if (!strcmp(n, "ssl_verify_result"))
    return num(v, r->verify_code);
  if (!strcmp(n, "method"))
    return str(v, r->method);
  if (!strcmp(n, "scheme")) { /* curl says HTTPS / HTTP */
    size_t i = 0;
    for (; r->url.scheme[i] && i < 7; i++)
      v->s[i] = (char)(r->url.scheme[i] >= 'a' && r->url.scheme[i] <= 'z' ? r->url.scheme[i] - 32
                                                                          : r->url.scheme[i]);
    v->s[i] = 0;
    return str(v, v->s);
  }
  if (!strcmp(n, "url_effective")) {
    jn_url_format(&r->url, v->s, sizeof v->s);
    return str(v, v->s);
  }
  if (!strcmp(n, "url")) {
    if (r->url_given[0])
      return str(v, r->url_given);
    jn_url_format(&r->url, v->s, sizeof v->s);
    return str(v, v->s);
  }
  if (!strcmp(n, "redirect_url")) {
    if (r->status / 100 == 3 && r->location[0])
      jn_url_resolve(&r->url, r->location, v->s, sizeof v->s);
    return str(v, v->s);
  }
  if (!strcmp(n, "content_type"))
    return str(v, r->content_type);
  return -1;
}

static void put(FILE *f, const jn_val *v, int json) {
  switch (v->type) {
  case JN_VAL_INT:
    fprintf(f, "%lld", v->i);
    break;
  case JN_VAL_SECS:
    fprintf(f, "%llu.%06llu", (unsigned long long)(v->us / 1000000),
            (unsigned long long)(v->us % 1000000));
    break;
  case JN_VAL_STR:
    if (json)
      jn_json_str(f, v->s);
    else
      fputs(v->s, f);
    break;
  default:
    if (json)
      fputs("null", f);
  }
}

static void json_all(FILE *f, const jn_result *r) {
  jn_val v;
  fputc('{', f);
  for (size_t i = 0; i < jn_curl_var_n; i++) {
    jn_curl_var(r, jn_curl_var_names[i], &v);
    fprintf(f, "%s\"%s\":", i ? "," : "", jn_curl_var_names[i]);
    put(f, &v, 1);
  }
  fputc('}', f);
}

/* The value of response header `name` ("" when absent). */
static void header(FILE *f, const jn_result *r, const char *name, size_t nlen) {
  for (const char *l = r->resp_headers; *l;) {
    size_t n = strcspn(l, "\n");
    if (n > nlen && l[nlen] == ':' && strncasecmp(l, name, nlen) == 0) {
      const char *val = l + nlen + 1;
      while (*val == ' ')
        val++;
      fprintf(f, "%.*s", (int)(l + n - val), val);
      return;
    }
    l += n + (l[n] == '\n');
  }
}

void jn_writeout(FILE *f, const char *p, const jn_result *r) {
  while (*p) {
    if (*p == '\\' && p[1]) {
      char c = p[1] == 'n'    ? '\n'
               : p[1] == 'r'  ? '\r'
               : p[1] == 't'  ? '\t'
               : p[1] == '\\' ? '\\'
                              : 0;
      if (c) {
        fputc(c, f);
        p += 2;
        continue;
      }
    }
    if (*p == '%' && p[1] == '%') {
      fputc('%', f);
      p += 2;
      continue;
    }
    int is_header = *p == '%' && strncmp(p, "%header{", 8) == 0;
    if (*p == '%' && (p[1] == '{' || is_header)) {
      const char *name = p + (is_header ? 8 : 2), *end = strchr(name, '}');
      if (end && end - name < 64) {
        char n[64];
        memcpy(n, name, (size_t)(end - name));
        n[end - name] = 0;
        jn_val v;
        if (is_header)
          header(f, r, n, strlen(n));
        else if (!strcmp(n, "json"))
          json_all(f, r);
        else if (jn_curl_var(r, n, &v) == 0)
          put(f, &v, 0);
        else {
          fprintf(stderr, "journey: -w: unknown variable %%{%s}\n", n);
          fprintf(f, "%%{%s}", n);
        }
        p = end + 1;
        continue;
      }
    }
    fputc(*p++, f);
  }
}
