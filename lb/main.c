/* journey-lb: TLS-terminating HTTP/2 and HTTP/1.1 load balancer. Flags, signals, start and stop. */
#include "lb/control/control.h"
#include "lb/proxy/worker.h"

#include "common/addr.h"
#include "common/log.h"
#include "lb/net/ticket_keys.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char usage[] =
    "usage: journey-lb [--config FILE] [--check-config] [flags]\n"
    "       journey-lb --check-config FILE\n"
    "\n"
    "A TLS-terminating HTTP/2 and HTTP/1.1 load balancer that times every phase of every\n"
    "request.\n"
    "Every flag has the same name in the config file ([lb] section); flags override the file.\n"
    "\n"
    "  --config FILE                 INI config file (see lb/journey-lb.conf)\n"
    "  --check-config                validate the config (and certificates), print a summary, exit;\n"
    "                                refuses two pools on one route, a pool no route reaches, an\n"
    "                                address used twice, a key that is not its certificate's pair\n"
    "  --listen URL                  https://IP:PORT or http://IP:PORT; repeatable\n"
    "  --cert FILE --key FILE        certificate chain and key (PEM); repeatable: several names\n"
    "                                (SNI) and ECDSA+RSA for the same names; the first is default\n"
    "  --tls-ticket-key-file FILE    session ticket keys shared by several journey-lb (one base64\n"
    "                                line of 80 bytes per key: openssl rand 80 | base64 -w0); the\n"
    "                                first encrypts, all decrypt; re-read on SIGHUP; no access\n"
    "                                for other users (chmod 600). Without it: a random key per\n"
    "                                process, kept across SIGHUP\n"
    "  --client-ca FILE              ask clients for a certificate signed by these CAs (PEM)\n"
    "  --client-verify optional|required  required: no valid certificate, no handshake (the\n"
    "                                alert is logged); optional: none is allowed, an invalid one\n"
    "                                is refused (required when --client-ca is given)\n"
    "  --client-cert-header NAME     request header with the verified certificate's subject\n"
    "                                (RFC 2253) for the backend, also logged as client_cert; a\n"
    "                                client's own copy is always dropped (X-Client-Cert-Subject)\n"
    "  --backend NAME=IP:PORT[,weight=N]  a server of the default pool (serves every path)\n"
    "  --algorithm round-robin|least-conn|hash  (default round-robin)\n"
    "  --hash-key client-ip|header:NAME|cookie:NAME|path  hash: the part of a request that\n"
    "                                picks its server, the same in every journey-lb with the\n"
    "                                same servers; without it (no such header or cookie):\n"
    "                                round-robin (client-ip)\n"
    "  --workers N|auto              worker threads, each with its own loop and socket (auto)\n"
    "  --admin IP:PORT               admin listener (off): the page at /, /healthz /stats\n"
    "                                /requests /metrics for anyone who reaches it; POST\n"
    "                                /servers/NAME/drain|disable|enable with the token, else\n"
    "                                (no token, no socket) from loopback peers only\n"
    "  --admin-token-file FILE       bearer token for the admin actions (one line, >= 16\n"
    "                                characters; refused if group/world-writable or\n"
    "                                world-readable)\n"
    "  --admin-socket PATH           admin over a UNIX socket (mode 0600, the service's user):\n"
    "                                every endpoint, actions included\n"
    "  --admin-name NAME[,NAME]      Host names the admin listener answers besides IP\n"
    "                                literals (DNS-rebinding defence); repeatable\n"
    "  --admin-max-connections N     open connections per admin listener (64); more wait\n"
    "  --admin-timeout DUR           one admin request, accept to answer (5s)\n"
    "  --admin-recent N              recent requests kept per worker for the page (100; 0 off)\n"
    "  --probe-listen IP:PORT        a listener that answers GET /healthz only (load balancer\n"
    "                                probes)\n"
    "  --log-format logfmt|json      access log and diagnostics format (logfmt)\n"
    "  --log-level debug|info|warn|error  debug: one line per phase of each request (info)\n"
    "  --access-log on|off           one line per request on stdout (on)\n"
    "  --alpn h2,http/1.1|http/1.1   protocols HTTPS listeners offer (h2,http/1.1): HTTP/2\n"
    "                                to clients that ask for it, else HTTP/1.1\n"
    "  --h2c on|off                  plain listeners also take HTTP/2 with prior knowledge\n"
    "                                (off)\n"
    "  --h2-websocket on|off         HTTP/2 clients may open WebSockets (extended CONNECT)\n"
    "                                (on)\n"
    "  --h2-max-concurrent-streams N  streams one HTTP/2 client may have in flight (100,\n"
    "                                at most 1000); one more: RST_STREAM REFUSED_STREAM, or\n"
    "                                GOAWAY once the client has acknowledged the limit\n"
    "  --server-timing on|off        Server-Timing response header (on)\n"
    "  --served-by on|off            X-Served-By response header naming the backend (on)\n"
    "  --request-id on|off           X-Request-Id: keep a valid one or generate (on)\n"
    "  --client-header-timeout DUR   time to receive request headers; then 408 (10s)\n"
    "  --client-body-timeout DUR     time between two reads of a request body; then 408, the\n"
    "                                client's fault, never the server's (30s)\n"
    "  --client-idle-timeout DUR     keep-alive idle time between requests (60s)\n"
    "  --backend-connect-timeout DUR (3s)\n"
    "  --backend-response-timeout DUR  request sent .. response headers, and between reads (30s)\n"
    "  --backend-idle-timeout DUR    pooled idle backend connections close after (15s)\n"
    "  --backend-idle-max N          idle pooled connections per server per worker (1024):\n"
    "                                at least the requests in flight to one server\n"
    "  --shutdown-timeout DUR        SIGTERM/SIGINT: in-flight requests finish within (10s);\n"
    "                                open WebSocket tunnels are closed at this deadline\n"
    "  --tunnel-timeout DUR          a WebSocket tunnel silent both ways this long closes (1h)\n"
    "  --max-connections N           client connections (10000); accept pauses at the limit\n"
    "  --max-header-size SIZE        request line + headers; larger: 431 (16k)\n"
    "  --max-headers N               header count; more: 431 (100)\n"
    "  --max-body-size SIZE          request body (chunk extensions included); larger: 413;\n"
    "                                0 = no limit (10m)\n"
    "  --methods LIST                forward only these methods (\"GET HEAD POST\"), others:\n"
    "                                501 (every method that is a token; CONNECT never)\n"
    "  --normalize-path on|off       forward the path as routes see it: dot segments resolved,\n"
    "                                // merged, %XX of unreserved bytes decoded (on); off: as\n"
    "                                received (routing still uses the normalised path)\n"
    "  --retries N                   other servers tried after a connect failure (2)\n"
    "Health checks (every pool; the same keys in a [pool NAME] section override them):\n"
    "  --health-check http|tcp|none  active checks (tcp connect when no health-* flag is given;\n"
    "                                any other health-* flag means http; none: off)\n"
    "  --health-method M --health-path P  request of the HTTP check (GET /health)\n"
    "  --health-host NAME            Host header of the check (the server's address)\n"
    "  --health-status LO-HI         statuses that pass (200-399)\n"
    "  --health-interval DUR         between checks (2s)\n"
    "  --health-fast-interval DUR    while a server is changing state (500ms)\n"
    "  --health-timeout DUR          a check slower than this fails (1s)\n"
    "  --health-rise N --health-fall N  consecutive results to go UP / DOWN (2, 3)\n"
    "  --health-tls on|off           check over TLS (off); --health-tls-verify on|off (on),\n"
    "                                --health-tls-ca FILE, --health-tls-sni NAME\n"
    "  --outlier-consecutive-connect-failures N  passive: eject after N failed connects (5; 0 off)\n"
    "  --outlier-consecutive-5xx N   passive: eject after N 5xx responses in a row (0 = off)\n"
    "  --outlier-base-ejection-time DUR  first ejection; x2, x3 ... on repeats (30s)\n"
    "  --outlier-max-ejection-time DUR   cap of an ejection (5m)\n"
    "  --outlier-max-ejection-percent N  most of a pool ever ejected (50; at least one server stays)\n"
    "DNS discovery:\n"
    "  --backend-dns HOST:PORT       every A/AAAA record of HOST is a server of the default pool\n"
    "                                ([pool NAME]: backend-dns = HOST:PORT, or backend = HOST:PORT)\n"
    "  --dns-servers IP[:PORT],...   resolver(s) (those of /etc/resolv.conf)\n"
    "  --dns-interval DUR            re-resolve period (0: the records' TTL, bounded by\n"
    "                                --dns-ttl-min 1s and --dns-ttl-max 5m)\n"
    "  --drain-delay DUR             SIGTERM: /healthz answers 503 this long before the listeners\n"
    "                                close (5s with --admin or --probe-listen, else 0)\n"
    "  --reuse-port-shared           share the --listen ports with a running journey-lb (same\n"
    "                                user) instead of failing with \"already in use\": for a\n"
    "                                binary upgrade, start the new one with this flag (and another\n"
    "                                --admin), then SIGTERM the old one. Command line only.\n"
    "  --help, --version\n"
    "\n"
    "Durations: 500ms, 5s, 2m, 1h (bare number: ms). Sizes: 512, 8k, 1m.\n"
    "Config file sections: [lb] (these settings), [pool NAME] (backend =, algorithm =,\n"
    "hash-key =, route = /prefix/); requests whose path matches no route get 404.\n"
    "Signals: SIGTERM: /healthz 503 for --drain-delay, then stop accepting, finish in-flight\n"
    "requests (--shutdown-timeout), exit 0. SIGINT: the same without the drain delay.\n"
    "SIGHUP: reload the config file and certificates (servers, weights, health settings);\n"
    "an invalid config is rejected with a logged error and the running one stays.\n";

static const char *settings[] = {
    "listen", "cert", "key", "tls-ticket-key-file", "client-ca", "client-verify",
    "client-cert-header", "backend", "algorithm", "hash-key", "workers",
    "admin", "log-format", "log-level", "access-log", "alpn", "h2c", "h2-websocket",
    "h2-max-concurrent-streams", "server-timing", "served-by",
    "request-id", "client-header-timeout", "client-body-timeout", "client-idle-timeout",
    "backend-connect-timeout",
    "backend-response-timeout", "backend-idle-timeout", "backend-idle-max", "shutdown-timeout",
    "tunnel-timeout",
    "max-connections", "max-header-size", "max-headers", "max-body-size", "methods",
    "normalize-path", "retries",
    "backend-dns", "dns-servers", "dns-interval", "dns-ttl-min", "dns-ttl-max", "drain-delay",
    "admin-token-file", "admin-socket", "admin-name", "admin-max-connections", "admin-timeout",
    "admin-recent", "probe-listen", NULL};

enum { OPT_CONFIG = 1000, OPT_CHECK, OPT_HELP, OPT_VERSION, OPT_SHARED, OPT_SETTING = 2000, OPT_HEALTH = 3000 };

static lb_runtime rt;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_async_t workers_done;
static atomic_int finished_workers;
static lb_control ctl;
static uv_timer_t drain_timer;
static int workers_started;
static int reuse_port_shared; /* --reuse-port-shared: join a running process's listeners */
/* The command line, kept to build the configuration again on SIGHUP. */
static int saved_argc;
static char **saved_argv;
static struct option *saved_opts;
static const char *saved_config_file;

/* A listening socket of one worker. The first worker's socket of each listener (exclusive = 1)
 * binds WITHOUT SO_REUSEPORT, which fails with EADDRINUSE when any other socket holds the port,
 * even one of another process that has SO_REUSEPORT; only then is SO_REUSEPORT set, before
 * listen(), so that the other workers' sockets join its group. The check is the bind itself: no
 * window between a probe and the real bind, and a second journey-lb always fails at its own
 * exclusive bind. --reuse-port-shared (shared = 1) skips it to join a running process's sockets
 * on purpose (binary upgrade). */
static int make_listen_fd(const lb_listener_cfg *l, int exclusive, char *err, size_t errlen) {
  int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create a socket for %s: %s", l->text, strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT only, not listeners */
  if (l->addr.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (!exclusive && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    goto reuseport_failed;
  if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0) {
    char hp[JC_ADDRSTR_MAX];
    jc_addr_format((const struct sockaddr *)&l->addr, hp, sizeof hp);
    if (errno == EADDRINUSE)
      snprintf(err, errlen,
               "%s is already in use by another process; stop it or choose another --listen "
               "(--reuse-port-shared shares it on purpose, for a binary upgrade)",
               hp);
    else
      snprintf(err, errlen, "cannot listen on %s: %s%s", l->text, strerror(errno),
               errno == EADDRNOTAVAIL ? " (no interface has this address)"
               : errno == EACCES      ? " (ports below 1024 need privileges)"
                                      : "");
    close(fd);
    return -1;
  }
  if (exclusive && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    goto reuseport_failed;
  if (listen(fd, 1024) != 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", l->text, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
reuseport_failed:
  snprintf(err, errlen, "SO_REUSEPORT on %s: %s (needs Linux >= 3.9)", l->text, strerror(errno));
  close(fd);
  return -1;
}

static int build_config(lb_config *cfg, char *err, size_t errlen);

/* Drain step 2: listeners close, in-flight requests get shutdown-timeout. */
static void stop_workers(uv_timer_t *t) {
  (void)t;
  if (atomic_load(&rt.stopping))
    return;
  jc_log(JC_LOG_INFO, "drain: closing listeners; %u ms for in-flight requests to finish",
         rt.cfg.shutdown_timeout);
  atomic_store(&rt.stopping, 1);
  for (int i = 0; i < rt.nworkers; i++)
    lb_worker_request_stop(&rt.workers[i]);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  if (signum == SIGHUP) {
    if (atomic_load(&ctl.draining))
      jc_log(JC_LOG_WARN, "SIGHUP ignored: draining");
    else
      lb_reload(&ctl, build_config);
    return;
  }
  if (atomic_load(&rt.stopping)) {
    jc_log(JC_LOG_WARN, "second %s: exiting now", strsignal(signum));
    _exit(1);
  }
  if (!workers_started) { /* still at start-up (first health-check round) */
    atomic_store(&rt.stopping, 1);
    ctl.stopping = 1;
    return;
  }
  if (atomic_load(&ctl.draining)) {
    jc_log(JC_LOG_INFO, "%s during the drain delay: closing listeners now", strsignal(signum));
    uv_timer_stop(&drain_timer);
    stop_workers(NULL);
    return;
  }
  atomic_store(&ctl.draining, 1);
  uint32_t delay = signum == SIGTERM ? rt.cfg.drain_delay : 0;
  jc_log(JC_LOG_INFO, "%s: drain: /healthz answers 503 for %u ms before the listeners close",
         strsignal(signum), delay);
  if (delay)
    uv_timer_start(&drain_timer, stop_workers, delay, 0);
  else
    stop_workers(NULL);
}

static void on_workers_done(uv_async_t *a) {
  if (atomic_load(&finished_workers) < rt.nworkers)
    return;
  jc_log(JC_LOG_INFO, "drain: in-flight requests done, every worker stopped");
  lb_control_close(&ctl);
  uv_close((uv_handle_t *)&drain_timer, NULL);
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
  uv_close((uv_handle_t *)&sig_hup, NULL);
  uv_close((uv_handle_t *)a, NULL);
}

static void *watch_worker(void *arg) {
  lb_worker *w = arg;
  pthread_join(w->thread, NULL);
  atomic_fetch_add(&finished_workers, 1);
  uv_async_send(&workers_done);
  return NULL;
}

static void print_summary(const lb_config *c) {
  int servers = 0;
  for (int i = 0; i < c->npools; i++)
    servers += c->pools[i].nservers;
  printf("configuration OK: %d listener(s), %d certificate(s), %d route(s), %d server(s)\n",
         c->nlisteners, c->ncerts, c->nroutes, servers);
  int h2 = 0;
  for (int i = 0; i < c->nlisteners; i++) {
    int tls = c->listeners[i].tls, speaks_h2 = tls ? c->tls.alpn_h2 : c->tls.h2c;
    h2 |= speaks_h2;
    printf("  listen %s (%s)\n", c->listeners[i].text,
           speaks_h2 ? (tls ? "h2, http/1.1" : "http/1.1, h2c") : "http/1.1");
  }
  if (h2)
    printf("  http/2: %u concurrent streams per connection, WebSockets %s\n",
           c->tls.h2_max_streams, c->tls.h2_websocket ? "on (extended CONNECT)" : "off");
  for (int i = 0; i < c->nroutes; i++) {
    const lb_pool_cfg *p = &c->pools[c->routes[i].pool];
    char algo[100];
    printf("  route %s -> pool %s (%s):", c->routes[i].prefix, p->name,
           lb_pool_algo_describe(p, algo, sizeof algo));
    for (int k = 0; k < p->nservers; k++)
      printf(" %s=%s,weight=%d", p->servers[k].name, p->servers[k].addr_text,
             p->servers[k].weight);
    if (p->dns_host[0])
      printf(" dns:%s:%d,weight=%d", p->dns_host, p->dns_port, p->dns_weight);
    char hc[300];
    lb_health_cfg_describe(&p->health, hc, sizeof hc);
    printf(" (health checks: %s)", hc);
    printf("\n");
  }
}

/* The file, then the flags over it, then the cross-checks: at start and on SIGHUP.
 * Returns 0, -1 (file or consistency error) or -2 (bad flag) with the reason in err. */
static int build_config(lb_config *cfg, char *err, size_t errlen) {
  lb_config_defaults(cfg);
  if (saved_config_file && lb_config_load_file(cfg, saved_config_file, err, errlen) != 0)
    return -1;
  int cleared_listen = 0, cleared_backend = 0, cleared_cert = 0, cleared_dns = 0, opt;
  optind = 1;
  opterr = 0;
  while ((opt = getopt_long(saved_argc, saved_argv, "h", saved_opts, NULL)) != -1) {
    if (opt < OPT_SETTING)
      continue;
    const char *name = opt >= OPT_HEALTH ? lb_health_settings[opt - OPT_HEALTH]
                                         : settings[opt - OPT_SETTING];
    if (!strcmp(name, "listen") && !cleared_listen++)
      cfg->nlisteners = 0;
    if (!strcmp(name, "backend") && !cleared_backend++)
      cfg->pools[0].nservers = 0;
    if (!strcmp(name, "backend-dns") && !cleared_dns++)
      cfg->pools[0].dns_host[0] = 0;
    if (!strcmp(name, "cert") && !cleared_cert++)
      cfg->ncerts = 0;
    char where[80];
    snprintf(where, sizeof where, "--%s", name);
    if (lb_config_set(cfg, "", name, optarg, where, err, errlen) != 0)
      return -2;
  }
  return lb_config_finish(cfg, err, errlen) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  static struct option opts[128];
  int n = 0;
  opts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
  opts[n++] = (struct option){"check-config", no_argument, NULL, OPT_CHECK};
  opts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
  opts[n++] = (struct option){"version", no_argument, NULL, OPT_VERSION};
  opts[n++] = (struct option){"reuse-port-shared", no_argument, NULL, OPT_SHARED};
  for (int i = 0; settings[i]; i++)
    opts[n++] = (struct option){settings[i], required_argument, NULL, OPT_SETTING + i};
  for (int i = 0; lb_health_settings[i]; i++)
    opts[n++] = (struct option){lb_health_settings[i], required_argument, NULL, OPT_HEALTH + i};
  opts[n] = (struct option){NULL, 0, NULL, 0};

  /* Pass 1: --config, --check-config, --help; pass 2 applies the flags over the file. */
  const char *config_file = NULL;
  int check = 0, opt;
  opterr = 1;
  while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (opt == OPT_CONFIG)
      config_file = optarg;
    else if (opt == OPT_SHARED)
      reuse_port_shared = 1;
    else if (opt == OPT_CHECK)
      check = 1;
    else if (opt == OPT_HELP || opt == 'h') {
      fputs(usage, stdout);
      return 0;
    } else if (opt == OPT_VERSION) {
      printf("journey-lb %s\n", JOURNEY_VERSION);
      return 0;
    } else if (opt == '?') {
      fprintf(stderr, "journey-lb: see --help for the flags\n");
      return 2;
    }
  }
  if (optind < argc) {
    if (config_file || optind + 1 < argc) {
      fprintf(stderr, "journey-lb: unexpected argument '%s' (see --help)\n", argv[optind]);
      return 2;
    }
    config_file = argv[optind];
  }

  static lb_config cfg;
  char err[1200];
  saved_argc = argc;
  saved_argv = argv;
  saved_opts = opts;
  saved_config_file = config_file;
  int br = build_config(&cfg, err, sizeof err);
  if (br != 0) {
    fprintf(stderr, "journey-lb: %s\n", err);
    return br == -2 ? 2 : 1;
  }
  jc_log_setup((jc_log_level)cfg.log_level, (jc_log_format)cfg.log_format);

  memcpy(&rt.cfg, &cfg, sizeof cfg);
  if (lb_tls_server_init(&rt.tls, &rt.cfg, err, sizeof err) != 0) {
    fprintf(stderr, "journey-lb: %s\n", err);
    return 1;
  }
  if (check) {
    print_summary(&rt.cfg);
    lb_tls_server_free(&rt.tls);
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  rt.npools = rt.cfg.npools;
  for (int i = 0; i < rt.npools; i++)
    if (lb_pool_init(&rt.pools[i], &rt.cfg.pools[i]) != 0) {
      fprintf(stderr, "journey-lb: out of memory\n");
      return 1;
    }
  rt.nworkers = lb_config_workers(&rt.cfg, sysconf(_SC_NPROCESSORS_ONLN));
  rt.max_clients_per_worker = rt.cfg.max_connections / (uint32_t)rt.nworkers;
  if (rt.max_clients_per_worker == 0)
    rt.max_clients_per_worker = 1;
  rt.workers = calloc((size_t)rt.nworkers, sizeof *rt.workers);
  if (!rt.workers) {
    fprintf(stderr, "journey-lb: out of memory\n");
    return 1;
  }
  for (int i = 0; i < rt.nworkers; i++) {
    lb_worker *w = &rt.workers[i];
    w->id = i;
    w->rt = &rt;
    if (lb_worker_stats_init(w, rt.cfg.adm.recent) != 0) {
      fprintf(stderr, "journey-lb: out of memory\n");
      return 1;
    }
    w->nlisteners = rt.cfg.nlisteners;
    for (int k = 0; k < rt.cfg.nlisteners; k++) {
      w->listener_tls[k] = rt.cfg.listeners[k].tls;
      w->listener_fd[k] = make_listen_fd(&rt.cfg.listeners[k], i == 0 && !reuse_port_shared,
                                         err, sizeof err);
      if (w->listener_fd[k] < 0) {
        fprintf(stderr, "journey-lb: %s\n", err);
        return 1;
      }
    }
  }

  uv_loop_t *loop = uv_default_loop();
  uv_async_init(loop, &workers_done, on_workers_done);
  uv_signal_init(loop, &sig_term);
  uv_signal_init(loop, &sig_int);
  uv_signal_init(loop, &sig_hup);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_hup, on_signal, SIGHUP);
  uv_timer_init(loop, &drain_timer);

  /* Control plane (health checks, DNS discovery, admin), then the first round of checks and
   * look-ups while the listening sockets only queue connections: no request goes to a server
   * not known to be up. */
  if (lb_control_init(&ctl, &rt, loop, err, sizeof err) != 0 ||
      lb_dns_init(&ctl, err, sizeof err) != 0 ||
      lb_admin_start(&ctl, err, sizeof err) != 0) {
    fprintf(stderr, "journey-lb: %s\n", err);
    return 1;
  }
  {
    uint32_t budget = 0;
    for (int p = 0; p < rt.npools; p++) {
      const lb_pool_cfg *pc = &rt.cfg.pools[p];
      uint32_t b = (pc->health.type != LB_CHECK_NONE ? pc->health.timeout_ms + 500 : 0) +
                   (pc->dns_host[0] ? 2500 : 0);
      budget = b > budget ? b : budget;
    }
    lb_control_first_round(&ctl, budget > 10000 ? 10000 : budget);
  }

  pthread_t *watchers = calloc((size_t)rt.nworkers, sizeof *watchers);
  if (!watchers) {
    fprintf(stderr, "journey-lb: out of memory\n");
    return 1;
  }
  for (int i = 0; i < rt.nworkers; i++) {
    if (lb_worker_start(&rt.workers[i]) != 0) {
      fprintf(stderr, "journey-lb: cannot start worker %d\n", i);
      free(watchers);
      return 1;
    }
    pthread_create(&watchers[i], NULL, watch_worker, &rt.workers[i]);
  }
  workers_started = 1;
  if (atomic_load(&rt.stopping)) { /* a signal came during the first round */
    atomic_store(&rt.stopping, 0);
    atomic_store(&ctl.draining, 1);
    stop_workers(NULL);
  }
  {
    jc_logline l;
    jc_log_begin(&l, JC_LOG_INFO, "started");
    for (int i = 0; i < rt.cfg.nlisteners; i++)
      jc_logline_str(&l, "listen", rt.cfg.listeners[i].text);
    jc_logline_int(&l, "workers", rt.nworkers);
    jc_logline_int(&l, "pools", rt.npools);
    jc_logline_int(&l, "routes", rt.cfg.nroutes);
    jc_logline_str(&l, "config", rt.cfg.source[0] ? rt.cfg.source : "flags");
    if (rt.tls.nctx)
      jc_logline_int(&l, "tls_ticket_keys", lb_ticket_keys_count());
    jc_log_emit(&l);
  }
  for (int p = 0; p < rt.npools; p++) { /* which active checks run: the operator must not guess */
    char hc[300];
    const lb_health_cfg *h = &rt.cfg.pools[p].health;
    const char *why = "";
    if (lb_health_cfg_is_default(h))
      why = " (the default: no health-* setting; health-path = /health checks over HTTP)";
    else if (h->type == LB_CHECK_NONE)
      why = " (health-check = none: a dead server is only noticed by failed requests)";
    lb_health_cfg_describe(h, hc, sizeof hc);
    jc_log(h->type == LB_CHECK_NONE ? JC_LOG_WARN : JC_LOG_INFO,
           "pool %s: active health checks: %s%s", rt.pools[p].name, hc, why);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  for (int i = 0; i < rt.nworkers; i++)
    pthread_join(watchers[i], NULL);
  free(watchers);
  uv_loop_close(loop);
  for (int i = 0; i < rt.nworkers; i++) {
    for (int p = 0; p < rt.npools; p++)
      free(rt.workers[i].idle[p]);
    lb_worker_stats_free(&rt.workers[i]);
  }
  free(rt.workers);
  for (int i = 0; i < rt.npools; i++)
    lb_pool_free(&rt.pools[i]);
  lb_tls_server_free(&rt.tls);
  lb_reload_free(&rt);
  jc_log(JC_LOG_INFO, "stopped");
  return 0;
}
