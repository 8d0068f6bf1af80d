/* journey-lb configuration: INI file (libinih) and flags share one setter, lb_config_set. */
#include "lb/core/config.h"

#include "common/addr.h"
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void lb_config_defaults(lb_config *c) {
  memset(c, 0, sizeof *c);
  c->npools = 1;
  snprintf(c->pools[0].name, sizeof c->pools[0].name, "default");
  c->algo = LB_ALGO_ROUND_ROBIN;
  c->log_format = JC_LOG_LOGFMT;
  c->log_level = JC_LOG_INFO;
  c->access_log = c->server_timing = c->served_by = c->request_id = 1;
  lb_tls_settings_defaults(&c->tls);
  c->client_header_timeout = 10000;
  c->client_body_timeout = 30000; /* between two reads of a request body (nginx: 60 s) */
  c->client_idle_timeout = 60000; /* well under Azure's 4-minute L4 idle timeout */
  c->backend_connect_timeout = 3000;
  c->backend_response_timeout = 30000;
  c->backend_idle_timeout = 15000; /* shorter than common backend keep-alive (nginx 75 s) */
  c->shutdown_timeout = 10000;
  c->tunnel_timeout = 3600000;
  c->max_connections = 10000;
  c->max_header_size = 16384;
  c->max_headers = 100;
  c->max_body_size = 10u * 1024 * 1024;
  c->retries = 2;
  c->backend_idle_max = 1024; /* h2: 100 streams per client connection; idle ones age out */
  lb_health_cfg_defaults(&c->health);
  lb_health_cfg_defaults(&c->pools[0].health);
  lb_admin_cfg_defaults(&c->adm);
  c->dns_ttl_min = 1000;
  c->dns_ttl_max = 300000;
  c->drain_delay = 5000; /* only with an admin listener: nobody else can see /healthz turn 503 */
}

const char *lb_algo_name(lb_algo a) {
  return a == LB_ALGO_LEAST_CONN ? "least-conn" : a == LB_ALGO_HASH ? "hash" : "round-robin";
}

const char *lb_pool_algo_describe(const lb_pool_cfg *p, char *buf, size_t len) {
  char k[LB_HASH_KEY_NAME_MAX + 8];
  if (p->algo == LB_ALGO_HASH)
    snprintf(buf, len, "hash by %s", lb_hash_key_describe(&p->hash_key, k, sizeof k));
  else
    snprintf(buf, len, "%s", lb_algo_name(p->algo));
  return buf;
}

int lb_algo_parse(const char *s, lb_algo *out) {
  if (!strcmp(s, "round-robin") || !strcmp(s, "roundrobin") || !strcmp(s, "rr"))
    *out = LB_ALGO_ROUND_ROBIN;
  else if (!strcmp(s, "least-conn") || !strcmp(s, "leastconn") || !strcmp(s, "least-connections"))
    *out = LB_ALGO_LEAST_CONN;
  else if (!strcmp(s, "hash") || !strcmp(s, "consistent-hash"))
    *out = LB_ALGO_HASH;
  else
    return -1;
  return 0;
}

/* "https://127.0.0.1:8443", "http://[::1]:8080", or "127.0.0.1:8080" (plain). */
static int parse_listener(lb_config *c, const char *v, char *why, size_t wl) {
  if (c->nlisteners >= LB_MAX_LISTENERS) {
    snprintf(why, wl, "too many listeners (at most %d)", LB_MAX_LISTENERS);
    return -1;
  }
  lb_listener_cfg *l = &c->listeners[c->nlisteners];
  memset(l, 0, sizeof *l);
  const char *hp = v;
  if (!strncmp(v, "https://", 8)) {
    l->tls = 1;
    hp = v + 8;
  } else if (!strncmp(v, "http://", 7)) {
    hp = v + 7;
  } else if (strstr(v, "://")) {
    snprintf(why, wl, "listen '%s': scheme must be http:// or https://", v);
    return -1;
  }
  char hostport[LB_PATH_MAX - 16];
  if (strlen(hp) >= sizeof hostport) {
    snprintf(why, wl, "listen: address too long");
    return -1;
  }
  memcpy(hostport, hp, strlen(hp) + 1);
  size_t n = strlen(hostport);
  if (n && hostport[n - 1] == '/')
    hostport[n - 1] = 0;
  char e[200];
  if (jc_addr_parse(hostport, &l->addr, &l->addrlen, e, sizeof e) != 0) {
    snprintf(why, wl, "listen '%s': %s (expected e.g. https://127.0.0.1:8443)", v, e);
    return -1;
  }
  snprintf(l->text, sizeof l->text, "%s://%s", l->tls ? "https" : "http", hostport);
  c->nlisteners++;
  return 0;
}

static int valid_name(const char *s) {
  if (!*s)
    return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
      return 0;
  return 1;
}

/* "b1=127.0.0.1:9001[,weight=2]" or "127.0.0.1:9001" (named sN). */
static int parse_backend(lb_pool_cfg *p, const char *v, char *why, size_t wl) {
  if (p->nservers >= LB_MAX_SERVERS) {
    snprintf(why, wl, "pool %s: too many servers (at most %d)", p->name, LB_MAX_SERVERS);
    return -1;
  }
  lb_server_cfg *s = &p->servers[p->nservers];
  memset(s, 0, sizeof *s);
  s->weight = 1;
  char tmp[LB_PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", v);
  char *opts = strchr(tmp, ',');
  if (opts)
    *opts++ = 0;
  char *addr = tmp;
  char *eq = strchr(tmp, '=');
  if (eq && (!strchr(tmp, '[') || eq < strchr(tmp, '['))) {
    *eq = 0;
    if (!valid_name(tmp) || strlen(tmp) >= sizeof s->name) {
      snprintf(why, wl, "backend '%s': name '%s' must be letters, digits, '-', '_' or '.'", v,
               tmp);
      return -1;
    }
    memcpy(s->name, tmp, strlen(tmp) + 1); /* length checked above */
    addr = eq + 1;
  } else {
    snprintf(s->name, sizeof s->name, "s%d", p->nservers + 1);
  }
  char e[200];
  if (jc_addr_parse(addr, &s->addr, &s->addrlen, e, sizeof e) != 0) {
    snprintf(why, wl, "backend '%s': %s (expected NAME=IP:PORT[,weight=N])", v, e);
    return -1;
  }
  jc_addr_format((struct sockaddr *)&s->addr, s->addr_text, sizeof s->addr_text);
  while (opts && *opts) {
    char *next = strchr(opts, ',');
    if (next)
      *next++ = 0;
    uint32_t w;
    if (!strncmp(opts, "weight=", 7)) {
      if (lb_parse_uint(opts + 7, 1, 1000, &w) != 0) {
        snprintf(why, wl, "backend '%s': weight must be 1..1000", v);
        return -1;
      }
      s->weight = (int)w;
    } else {
      snprintf(why, wl, "backend '%s': unknown option '%s' (known: weight=N)", v, opts);
      return -1;
    }
    opts = next;
  }
  for (int i = 0; i < p->nservers; i++)
    if (!strcmp(p->servers[i].name, s->name)) {
      snprintf(why, wl, "backend '%s': pool %s already has a server named %s", v, p->name,
               s->name);
      return -1;
    }
  p->nservers++;
  return 0;
}

/* DNS discovery: "backend:8080", "backend 8080" or "backend:8080,weight=2". */
static int parse_dns(lb_pool_cfg *p, const char *v, char *why, size_t wl) {
  char tmp[LB_PATH_MAX], host[256], e[200];
  snprintf(tmp, sizeof tmp, "%s", v);
  int weight = 1;
  char *opts = strchr(tmp, ',');
  if (opts) {
    *opts++ = 0;
    uint32_t w;
    if (strncmp(opts, "weight=", 7) != 0 || lb_parse_uint(opts + 7, 1, 1000, &w) != 0) {
      snprintf(why, wl, "backend-dns '%s': the only option is weight=1..1000", v);
      return -1;
    }
    weight = (int)w;
  }
  char *sp = strpbrk(tmp, " \t");
  if (sp) {
    *sp = ':';
    char *q = sp + 1;
    while (*q == ' ' || *q == '\t')
      memmove(q, q + 1, strlen(q));
  }
  int port;
  if (jc_hostport_split(tmp, host, sizeof host, &port, e, sizeof e) != 0) {
    snprintf(why, wl, "backend-dns '%s': %s (expected HOST:PORT, e.g. backend:8080)", v, e);
    return -1;
  }
  if (p->dns_host[0]) {
    snprintf(why, wl, "pool %s: only one backend-dns name per pool (already %s)", p->name,
             p->dns_host);
    return -1;
  }
  snprintf(p->dns_host, sizeof p->dns_host, "%s", host);
  p->dns_port = port;
  p->dns_weight = weight;
  return 0;
}

/* "name:port" whose name is not an IP literal: a DNS-discovered server set. */
static int is_dns_backend(const char *v) {
  char host[256], e[200];
  int port;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (strchr(v, '=') || jc_addr_parse(v, &ss, &sl, e, sizeof e) == 0)
    return 0;
  if (jc_hostport_split(v, host, sizeof host, &port, e, sizeof e) != 0)
    return 0;
  for (const char *h = host; *h; h++)
    if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_')
      return 0;
  return isalpha((unsigned char)host[strlen(host) - 1]) || strchr(host, '-') != NULL;
}

static lb_pool_cfg *pool_for_section(lb_config *c, const char *section, char *why, size_t wl) {
  const char *name = section + 5; /* "pool " */
  while (*name == ' ')
    name++;
  if (!valid_name(name)) {
    snprintf(why, wl, "section [%s]: pool name must be letters, digits, '-', '_' or '.'", section);
    return NULL;
  }
  for (int i = 0; i < c->npools; i++)
    if (!strcmp(c->pools[i].name, name))
      return &c->pools[i];
  if (c->npools >= LB_MAX_POOLS) {
    snprintf(why, wl, "too many pools (at most %d)", LB_MAX_POOLS);
    return NULL;
  }
  lb_pool_cfg *p = &c->pools[c->npools++];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  lb_health_cfg_defaults(&p->health);
  return p;
}

static int add_route(lb_config *c, const char *prefix, const char *pool, int line, char *why,
                     size_t wl) {
  if (c->nroutes >= LB_MAX_ROUTES) {
    snprintf(why, wl, "too many routes (at most %d)", LB_MAX_ROUTES);
    return -1;
  }
  if (prefix[0] != '/' || strlen(prefix) >= LB_PATH_MAX) {
    snprintf(why, wl, "route '%s': a path prefix must start with '/'", prefix);
    return -1;
  }
  lb_route_cfg *r = &c->routes[c->nroutes++];
  snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
  snprintf(r->pool_name, sizeof r->pool_name, "%s", pool);
  r->line = line;
  r->pool = -1;
  return 0;
}

static int set_flag(int *dst, const char *name, const char *value, char *why, size_t wl) {
  if (lb_parse_bool(value, dst) != 0) {
    snprintf(why, wl, "%s '%s': expected on or off", name, value);
    return -1;
  }
  return 0;
}

static int set_ms(uint32_t *dst, const char *name, const char *value, char *why, size_t wl) {
  if (lb_parse_duration_ms(value, dst) != 0 || *dst == 0) {
    snprintf(why, wl, "%s '%s': expected a duration like 500ms, 5s or 2m", name, value);
    return -1;
  }
  return 0;
}

static int set_u32(uint32_t *dst, const char *name, const char *value, uint32_t lo, uint32_t hi,
                   char *why, size_t wl) {
  uint64_t v;
  if (lb_parse_size(value, &v) != 0 || v < lo || v > hi) {
    snprintf(why, wl, "%s '%s': expected a number from %u to %u", name, value, lo, hi);
    return -1;
  }
  *dst = (uint32_t)v;
  return 0;
}

static int set_one(lb_config *c, const char *section, const char *name, const char *value,
                   int line, char *why, size_t wl) {
  int global = !section || !*section || !strcmp(section, "lb") || !strcmp(section, "global");
  if (!global) {
    if (strncmp(section, "pool ", 5) != 0) {
      snprintf(why, wl, "unknown section [%s] (known: [lb], [pool NAME])", section);
      return -1;
    }
    lb_pool_cfg *p = pool_for_section(c, section, why, wl);
    if (!p)
      return -1;
    if (!strcmp(name, "backend-dns") || !strcmp(name, "server-dns") ||
        ((!strcmp(name, "backend") || !strcmp(name, "server")) && is_dns_backend(value)))
      return parse_dns(p, value, why, wl);
    if (!strcmp(name, "backend") || !strcmp(name, "server"))
      return parse_backend(p, value, why, wl);
    int hr = lb_health_cfg_set(&p->health, name, value, why, wl);
    if (hr <= 0)
      return hr;
    if (!strcmp(name, "algorithm") || !strcmp(name, "balance")) {
      if (lb_algo_parse(value, &p->algo) != 0) {
        snprintf(why, wl, "algorithm '%s': expected round-robin, least-conn or hash", value);
        return -1;
      }
      p->algo_set = 1;
      return 0;
    }
    if (!strcmp(name, "route"))
      return add_route(c, value, p->name, line, why, wl);
    if (!strcmp(name, "hash-key")) {
      p->hash_key.line = line;
      return lb_hash_key_parse(value, &p->hash_key, why, wl);
    }
    snprintf(why, wl, "unknown setting '%s' in [%s] (known: backend, backend-dns, algorithm, "
             "hash-key, route, health-*, outlier-*)", name, section);
    return -1;
  }

  if (!strcmp(name, "listen"))
    return parse_listener(c, value, why, wl);
  if (!strcmp(name, "cert") || !strcmp(name, "key")) {
    /* cert and key come in pairs: a cert opens a new pair, a key completes the last one. */
    int is_cert = name[0] == 'c';
    if (is_cert) {
      if (c->ncerts >= LB_MAX_CERTS) {
        snprintf(why, wl, "too many certificates (at most %d)", LB_MAX_CERTS);
        return -1;
      }
      snprintf(c->certs[c->ncerts++].cert, LB_PATH_MAX, "%s", value);
    } else {
      if (c->ncerts == 0 || c->certs[c->ncerts - 1].key[0]) {
        snprintf(why, wl, "key '%s' without a cert before it (write cert = FILE, then key = FILE)",
                 value);
        return -1;
      }
      snprintf(c->certs[c->ncerts - 1].key, LB_PATH_MAX, "%s", value);
    }
    return 0;
  }
  if (!strcmp(name, "backend-dns") || (!strcmp(name, "backend") && is_dns_backend(value)))
    return parse_dns(&c->pools[0], value, why, wl);
  if (!strcmp(name, "backend"))
    return parse_backend(&c->pools[0], value, why, wl);
  {
    int hr = lb_health_cfg_set(&c->health, name, value, why, wl);
    if (hr <= 0)
      return hr;
    if ((hr = lb_admin_cfg_set(&c->adm, name, value, why, wl)) <= 0)
      return hr;
  }
  {
    int tr = lb_tls_settings_set(&c->tls, name, value, why, wl);
    if (tr > 0)
      tr = lb_request_settings_set(&c->req, name, value, why, wl);
    if (tr <= 0)
      return tr;
  }
  if (!strcmp(name, "dns-servers")) {
    snprintf(c->dns_servers, sizeof c->dns_servers, "%s", value);
    return 0;
  }
  if (!strcmp(name, "dns-interval") || !strcmp(name, "drain-delay")) {
    uint32_t *dst = name[0] == 'd' && name[1] == 'n' ? &c->dns_interval : &c->drain_delay;
    if (lb_parse_duration_ms(value, dst) != 0) {
      snprintf(why, wl, "%s '%s': expected a duration like 0, 500ms, 5s or 2m", name, value);
      return -1;
    }
    if (dst == &c->drain_delay)
      c->drain_delay_set = 1;
    return 0;
  }
  if (!strcmp(name, "dns-ttl-min"))
    return set_ms(&c->dns_ttl_min, name, value, why, wl);
  if (!strcmp(name, "dns-ttl-max"))
    return set_ms(&c->dns_ttl_max, name, value, why, wl);
  if (!strcmp(name, "route")) {
    /* route = /prefix POOL */
    char tmp[LB_PATH_MAX * 2];
    snprintf(tmp, sizeof tmp, "%s", value);
    char *sp = strpbrk(tmp, " \t");
    if (!sp) {
      snprintf(why, wl, "route '%s': expected '/prefix POOL'", value);
      return -1;
    }
    *sp++ = 0;
    while (*sp == ' ' || *sp == '\t')
      sp++;
    return add_route(c, tmp, sp, line, why, wl);
  }
  if (!strcmp(name, "algorithm") || !strcmp(name, "balance")) {
    if (lb_algo_parse(value, &c->algo) != 0) {
      snprintf(why, wl, "algorithm '%s': expected round-robin, least-conn or hash", value);
      return -1;
    }
    return 0;
  }
  if (!strcmp(name, "hash-key")) {
    c->hash_key.line = line;
    return lb_hash_key_parse(value, &c->hash_key, why, wl);
  }
  if (!strcmp(name, "workers")) {
    uint32_t w;
    if (!strcmp(value, "auto")) {
      c->workers = 0;
      return 0;
    }
    if (lb_parse_uint(value, 1, LB_MAX_WORKERS, &w) != 0) {
      snprintf(why, wl, "workers '%s': expected 1..%d or auto", value, LB_MAX_WORKERS);
      return -1;
    }
    c->workers = (int)w;
    return 0;
  }
  if (!strcmp(name, "admin")) {
    snprintf(c->admin, sizeof c->admin, "%s", value);
    return 0;
  }
  if (!strcmp(name, "log-format")) {
    int f = jc_log_format_parse(value);
    if (f < 0) {
      snprintf(why, wl, "log-format '%s': expected logfmt or json", value);
      return -1;
    }
    c->log_format = f;
    return 0;
  }
  if (!strcmp(name, "log-level")) {
    int l = jc_log_level_parse(value);
    if (l < 0) {
      snprintf(why, wl, "log-level '%s': expected debug, info, warn or error", value);
      return -1;
    }
    c->log_level = l;
    return 0;
  }
  if (!strcmp(name, "access-log"))
    return set_flag(&c->access_log, name, value, why, wl);
  if (!strcmp(name, "server-timing"))
    return set_flag(&c->server_timing, name, value, why, wl);
  if (!strcmp(name, "served-by"))
    return set_flag(&c->served_by, name, value, why, wl);
  if (!strcmp(name, "request-id"))
    return set_flag(&c->request_id, name, value, why, wl);
  uint32_t *timeout = !strcmp(name, "client-header-timeout")      ? &c->client_header_timeout
                      : !strcmp(name, "client-body-timeout")      ? &c->client_body_timeout
                      : !strcmp(name, "client-idle-timeout")      ? &c->client_idle_timeout
                      : !strcmp(name, "backend-connect-timeout")  ? &c->backend_connect_timeout
                      : !strcmp(name, "backend-response-timeout") ? &c->backend_response_timeout
                      : !strcmp(name, "backend-idle-timeout")     ? &c->backend_idle_timeout
                      : !strcmp(name, "shutdown-timeout")         ? &c->shutdown_timeout
                      : !strcmp(name, "tunnel-timeout")           ? &c->tunnel_timeout
                                                                  : NULL;
  if (timeout)
    return set_ms(timeout, name, value, why, wl);
  if (!strcmp(name, "max-connections"))
    return set_u32(&c->max_connections, name, value, 1, 10000000, why, wl);
  if (!strcmp(name, "max-header-size"))
    return set_u32(&c->max_header_size, name, value, 1024, 1024 * 1024, why, wl);
  if (!strcmp(name, "max-headers"))
    return set_u32(&c->max_headers, name, value, 8, 1000, why, wl);
  if (!strcmp(name, "retries"))
    return set_u32(&c->retries, name, value, 0, 10, why, wl);
  if (!strcmp(name, "backend-idle-max"))
    return set_u32(&c->backend_idle_max, name, value, 0, 100000, why, wl);
  if (!strcmp(name, "max-body-size")) {
    if (lb_parse_size(value, &c->max_body_size) != 0) {
      snprintf(why, wl, "max-body-size '%s': expected a size like 10m, 64k or 0 (no limit)",
               value);
      return -1;
    }
    return 0;
  }
  snprintf(why, wl, "unknown setting '%s' (see journey-lb --help for the list)", name);
  return -1;
}

int lb_config_set(lb_config *c, const char *section, const char *name, const char *value,
                  const char *where, char *err, size_t errlen) {
  char why[900];
  if (set_one(c, section, name, value, 0, why, sizeof why) != 0) {
    snprintf(err, errlen, "%s: %s", where, why);
    return -1;
  }
  return 0;
}

/* ini_parse_stream with a line-counting reader: the handler knows its line number. */
typedef struct {
  FILE *f;
  int line;
  lb_config *c;
  int err_line;
  char why[900];
} ini_ctx;

static char *counting_reader(char *str, int num, void *stream) {
  ini_ctx *x = stream;
  char *r = fgets(str, num, x->f);
  if (r)
    x->line++;
  return r;
}

static int ini_handler_cb(void *user, const char *section, const char *name, const char *value) {
  ini_ctx *x = user;
  if (x->err_line)
    return 1; /* keep the first error only */
  if (!name) /* a section line on its own (libinih >= 50 with INI_CALL_HANDLER_ON_NEW_SECTION) */
    return 1;
  if (set_one(x->c, section, name, value ? value : "", x->line, x->why, sizeof x->why) != 0) {
    x->err_line = x->line;
    return 0;
  }
  return 1;
}

int lb_config_load_file(lb_config *c, const char *path, char *err, size_t errlen) {
  ini_ctx x = {.c = c};
  x.f = fopen(path, "r");
  if (!x.f) {
    snprintf(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
    return -1;
  }
  snprintf(c->source, sizeof c->source, "%s", path);
  int r = ini_parse_stream(counting_reader, &x, ini_handler_cb, &x);
  fclose(x.f);
  if (x.err_line) {
    snprintf(err, errlen, "%s:%d: %s", path, x.err_line, x.why);
    return -1;
  }
  if (r != 0) {
    snprintf(err, errlen, "%s:%d: syntax error (expected 'name = value', '[section]' or a ';' "
             "comment)", path, r > 0 ? r : 0);
    return -1;
  }
  return 0;
}

int lb_config_finish(lb_config *c, char *err, size_t errlen) {
  const char *src = c->source[0] ? c->source : "command line";
  if (c->nlisteners == 0) {
    snprintf(err, errlen, "%s: no listener: add --listen https://127.0.0.1:8443 (or listen = ... "
             "in [lb])", src);
    return -1;
  }
  int need_tls = 0;
  for (int i = 0; i < c->nlisteners; i++)
    need_tls |= c->listeners[i].tls;
  if (need_tls && c->ncerts == 0) {
    snprintf(err, errlen, "%s: an https:// listener needs a certificate: add --cert FILE --key "
             "FILE", src);
    return -1;
  }
  for (int i = 0; i < c->ncerts; i++)
    if (!c->certs[i].key[0]) {
      snprintf(err, errlen, "%s: certificate %s has no key: add --key FILE after it", src,
               c->certs[i].cert);
      return -1;
    }
  char twhy[300];
  if (lb_tls_settings_finish(&c->tls, twhy, sizeof twhy) != 0) {
    snprintf(err, errlen, "%s: %s", src, twhy);
    return -1;
  }
  int any_hash = 0;
  for (int i = 0; i < c->npools; i++) {
    lb_pool_cfg *p = &c->pools[i];
    if (!p->algo_set)
      p->algo = c->algo;
    char why[300], where[LB_NAME_MAX + 8];
    snprintf(where, sizeof where, "pool %s", p->name);
    any_hash |= p->algo == LB_ALGO_HASH;
    if (lb_hash_key_check(&p->hash_key, p->algo == LB_ALGO_HASH, src, where, err, errlen) != 0)
      return -1;
    if (!p->hash_key.set)
      p->hash_key = c->hash_key;
    lb_health_cfg_merge(&c->pools[i].health, &c->health);
    if (lb_health_cfg_check(&c->pools[i].health, c->pools[i].name, why, sizeof why) != 0) {
      snprintf(err, errlen, "%s: %s", src, why);
      return -1;
    }
    if (i > 0 && c->pools[i].nservers == 0 && !c->pools[i].dns_host[0]) {
      snprintf(err, errlen, "%s: pool %s has no backend: add backend = NAME=IP:PORT to [pool %s]",
               src, c->pools[i].name, c->pools[i].name);
      return -1;
    }
  }
  if (lb_hash_key_check(&c->hash_key, any_hash, src, "every pool", err, errlen) != 0)
    return -1;
  for (int i = 0; i < c->nroutes; i++) {
    lb_route_cfg *r = &c->routes[i];
    r->pool = -1;
    for (int j = 0; j < c->npools; j++)
      if (!strcmp(c->pools[j].name, r->pool_name))
        r->pool = j;
    if (r->pool < 0 || (c->pools[r->pool].nservers == 0 && !c->pools[r->pool].dns_host[0])) {
      if (r->line)
        snprintf(err, errlen, "%s:%d: route %s: no pool named '%s' with backends", src, r->line,
                 r->prefix, r->pool_name);
      else
        snprintf(err, errlen, "%s: route %s: no pool named '%s' with backends", src, r->prefix,
                 r->pool_name);
      return -1;
    }
  }
  /* With only --backend flags (the default pool), one pool serves every path. */
  if (c->pools[0].nservers > 0 || c->pools[0].dns_host[0]) {
    int has_root = 0;
    for (int i = 0; i < c->nroutes; i++)
      has_root |= !strcmp(c->routes[i].prefix, "/");
    if (!has_root && c->nroutes < LB_MAX_ROUTES) {
      lb_route_cfg *r = &c->routes[c->nroutes++];
      memset(r, 0, sizeof *r);
      snprintf(r->prefix, sizeof r->prefix, "/");
      snprintf(r->pool_name, sizeof r->pool_name, "default");
      r->pool = 0;
    }
  }
  int any = 0;
  for (int i = 0; i < c->npools; i++)
    any += c->pools[i].nservers + (c->pools[i].dns_host[0] != 0);
  if (!any) {
    snprintf(err, errlen, "%s: no backend: add --backend b1=127.0.0.1:9001 (or a [pool NAME] "
             "section with backend = ... and route = /prefix/)", src);
    return -1;
  }
  if (c->admin[0]) {
    struct sockaddr_storage ss;
    socklen_t sl;
    char e[200];
    if (jc_addr_parse(c->admin, &ss, &sl, e, sizeof e) != 0) {
      snprintf(err, errlen, "%s: admin '%s': %s (expected IP:PORT, e.g. 127.0.0.1:9000)", src,
               c->admin, e);
      return -1;
    }
  }
  if (lb_config_check_admin(c, src, err, errlen) != 0 ||
      lb_config_check_overlaps(c, src, err, errlen) != 0)
    return -1;
  if (c->dns_ttl_min > c->dns_ttl_max) {
    snprintf(err, errlen, "%s: dns-ttl-min must not exceed dns-ttl-max", src);
    return -1;
  }
  if (!c->drain_delay_set && !c->admin[0] && !c->adm.probe[0])
    c->drain_delay = 0; /* no admin listener: nothing can see /healthz, nothing to wait for */
  return 0;
}

int lb_config_workers(const lb_config *c, long cpus) {
  if (c->workers > 0)
    return c->workers;
  if (cpus < 1)
    return 1;
  return cpus > LB_MAX_WORKERS ? LB_MAX_WORKERS : (int)cpus;
}

int lb_config_route(const lb_config *c, const char *path, size_t len) {
  int best = -1;
  size_t best_len = 0;
  for (int i = 0; i < c->nroutes; i++) {
    size_t pl = strlen(c->routes[i].prefix);
    if (pl <= len && memcmp(c->routes[i].prefix, path, pl) == 0 && (best < 0 || pl > best_len)) {
      best = c->routes[i].pool;
      best_len = pl;
    }
  }
  return best;
}
