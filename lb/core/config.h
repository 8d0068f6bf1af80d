/* journey-lb configuration: one structure filled from an INI file and from command-line flags
 * that use the same names (`--client-header-timeout 5s` == `client-header-timeout = 5s`).
 *
 * Pure: no sockets, no threads. lb_config_* functions return 0, or -1 with a message in err that
 * names the file and line (file input) or the flag (command line) and says what to change.
 * A config is a plain value: build a new one and swap it in (reload) without touching the old. */
#ifndef JOURNEY_LB_CONFIG_H
#define JOURNEY_LB_CONFIG_H

#include "lb/core/admin_policy.h"
#include "lb/core/balancer/hash_key.h"
#include "lb/core/health.h"
#include "lb/core/request_settings.h"
#include "lb/core/tls_settings.h"
#include "lb/core/values.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LB_MAX_LISTENERS 8
#define LB_MAX_CERTS 8
#define LB_MAX_POOLS 16
#define LB_MAX_SERVERS 512 /* per pool (slots allocated once: DNS discovery and reload fill them) */
#define LB_MAX_ROUTES 32
#define LB_MAX_WORKERS 256 /* `workers = N` and what `auto` takes on a machine with more CPUs */
#define LB_NAME_MAX 64
#define LB_PATH_MAX 512

typedef enum { LB_ALGO_ROUND_ROBIN = 0, LB_ALGO_LEAST_CONN = 1, LB_ALGO_HASH = 2 } lb_algo;

typedef struct lb_listener_cfg {
  int tls;                        /* https:// */
  char text[LB_PATH_MAX];         /* as written: "https://127.0.0.1:8443" */
  struct sockaddr_storage addr;
  socklen_t addrlen;
} lb_listener_cfg;

typedef struct lb_cert_cfg {
  char cert[LB_PATH_MAX];
  char key[LB_PATH_MAX];
} lb_cert_cfg;

typedef struct lb_server_cfg {
  char name[LB_NAME_MAX];
  char addr_text[LB_NAME_MAX];    /* "127.0.0.1:9001" */
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int weight;                     /* 1..1000 */
} lb_server_cfg;

typedef struct lb_pool_cfg {
  char name[LB_NAME_MAX];
  lb_algo algo;
  int algo_set;                   /* explicitly chosen for this pool */
  lb_hash_key_cfg hash_key;       /* algorithm = hash: the request's key (else [lb]'s) */
  int nservers;
  lb_server_cfg servers[LB_MAX_SERVERS];
  /* Health settings ([lb] values merged with this pool's own by lb_config_finish) and
   * DNS discovery: every A/AAAA record of dns_host becomes a server on dns_port. */
  lb_health_cfg health;
  char dns_host[256];             /* "" = no DNS discovery in this pool */
  int dns_port;
  int dns_weight;
} lb_pool_cfg;

typedef struct lb_route_cfg {
  char prefix[LB_PATH_MAX];       /* path prefix, e.g. "/my-app/" */
  int pool;                       /* index in pools */
  int line;                       /* where it was written (for errors found later) */
  char pool_name[LB_NAME_MAX];    /* resolved to `pool` by lb_config_finish */
} lb_route_cfg;

typedef struct lb_config {
  char source[LB_PATH_MAX];       /* config file, "" when flags only */

  int nlisteners;
  lb_listener_cfg listeners[LB_MAX_LISTENERS];
  lb_tls_settings tls;            /* ticket keys, client certificates */
  int ncerts;
  lb_cert_cfg certs[LB_MAX_CERTS];
  int npools;                     /* pools[0] is "default": the --backend flags / [lb] backend= */
  lb_pool_cfg pools[LB_MAX_POOLS];
  int nroutes;
  lb_route_cfg routes[LB_MAX_ROUTES];

  lb_algo algo;                   /* default algorithm for pools that do not choose */
  lb_hash_key_cfg hash_key;       /* default hash-key (client-ip) */
  int workers;                    /* 0: number of CPUs (lb_config_workers) */
  char admin[LB_NAME_MAX];        /* admin listener "127.0.0.1:9000", "" = none */
  lb_admin_cfg adm;               /* admin-* and probe-listen: who may do what (admin_policy.h) */
  int log_format;                 /* jc_log_format */
  int log_level;                  /* jc_log_level */
  int access_log;                 /* 1: one line per request on stdout */
  int server_timing;              /* Server-Timing response header */
  int served_by;                  /* X-Served-By response header */
  int request_id;                 /* X-Request-Id on requests and responses */

  /* timeouts, milliseconds */
  uint32_t client_header_timeout; /* first byte .. end of request headers: 408 */
  uint32_t client_body_timeout;   /* between two reads of a request body: 408, the client's */
  uint32_t client_idle_timeout;   /* keep-alive idle between requests */
  uint32_t backend_connect_timeout;
  uint32_t backend_response_timeout; /* request sent .. response headers, and between reads */
  uint32_t backend_idle_timeout;  /* pooled idle backend connection lifetime */
  uint32_t shutdown_timeout;      /* SIGTERM: deadline for in-flight requests */
  uint32_t tunnel_timeout;        /* a tunnel (WebSocket) silent both ways this long closes */

  /* limits */
  uint32_t max_connections;       /* client connections, whole process */
  uint32_t max_header_size;       /* request line + headers, bytes: 431 */
  uint32_t max_headers;           /* header count: 431 */
  uint64_t max_body_size;         /* request body bytes: 413 (0 = unlimited) */
  lb_request_settings req;        /* methods, normalize-path */
  uint32_t retries;               /* extra attempts on other servers (idempotent requests) */
  uint32_t backend_idle_max;      /* idle pooled connections per server per worker */

  /* Health checks (defaults of every pool), DNS discovery, drain */
  lb_health_cfg health;
  char dns_servers[LB_PATH_MAX];  /* "ip[:port],..." for DNS discovery; "" = /etc/resolv.conf */
  uint32_t dns_interval;          /* re-resolve period; 0 = the records' TTL */
  uint32_t dns_ttl_min, dns_ttl_max; /* bounds of the TTL-driven re-resolution */
  uint32_t drain_delay;           /* SIGTERM: /healthz 503 this long before listeners close */
  int drain_delay_set;
} lb_config;

/* Defaults: no listener, no backend, round-robin, every header on, logfmt/info. */
void lb_config_defaults(lb_config *c);
/* Applies one setting (file key or flag name without "--"). section: "" / "lb" for globals,
 * "pool NAME" for a pool. where: "file:12" or "--flag" for messages. */
int lb_config_set(lb_config *c, const char *section, const char *name, const char *value,
                  const char *where, char *err, size_t errlen);
/* Reads an INI file into c (on top of what is there). */
int lb_config_load_file(lb_config *c, const char *path, char *err, size_t errlen);
/* Cross-checks after everything is read: at least one listener and one pool with servers, TLS
 * listeners have a certificate, routes name existing pools; adds the catch-all route "/" to the
 * default pool when it has servers. */
int lb_config_finish(lb_config *c, char *err, size_t errlen);

/* config_check.c, called by lb_config_finish: the admin and probe addresses, and what would
 * silently never work (two routes with the same prefix, a pool no route reaches, the same
 * address twice among listen, admin and probe-listen). 0, or -1 with the reason. */
int lb_config_check_admin(const lb_config *c, const char *src, char *err, size_t errlen);
int lb_config_check_overlaps(const lb_config *c, const char *src, char *err, size_t errlen);

/* Balancing algorithm names (the other value parsers: values.h). */
const char *lb_algo_name(lb_algo a);
int lb_algo_parse(const char *s, lb_algo *out);
/* "round-robin", "least-conn", "hash by header:X-User" (the --check-config summary). */
const char *lb_pool_algo_describe(const lb_pool_cfg *p, char *buf, size_t len);

/* Worker threads to start: `workers`, or with auto the CPUs online (cpus < 1 counts as 1),
 * at most LB_MAX_WORKERS. */
int lb_config_workers(const lb_config *c, long cpus);

/* Index of the pool serving `path` (longest matching route prefix), or -1 (404). */
int lb_config_route(const lb_config *c, const char *path, size_t len);

#endif
