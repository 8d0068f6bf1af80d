/* journey-lb: TLS-terminating HTTP/1.1 load balancer. Flags, signals, start and stop. */
#include "lb/lb.h"

#include "common/log.h"

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
    "A TLS-terminating HTTP/1.1 load balancer that times every phase of every request.\n"
    "Every flag has the same name in the config file ([lb] section); flags override the file.\n"
    "\n"
    "  --config FILE                 INI config file (see lb/journey-lb.conf)\n"
    "  --check-config                validate the config (and certificates), print a summary, exit\n"
    "  --listen URL                  https://IP:PORT or http://IP:PORT; repeatable\n"
    "  --cert FILE --key FILE        certificate chain and key (PEM); repeatable: several names\n"
    "                                (SNI) and ECDSA+RSA for the same names; the first is default\n"
    "  --backend NAME=IP:PORT[,weight=N]  a server of the default pool (serves every path)\n"
    "  --algorithm round-robin|least-conn  (default round-robin)\n"
    "  --workers N|auto              worker threads, each with its own loop and socket (auto)\n"
    "  --admin IP:PORT               admin listener (health, stats; see issue 5)\n"
    "  --log-format logfmt|json      access log and diagnostics format (logfmt)\n"
    "  --log-level debug|info|warn|error  debug: one line per phase of each request (info)\n"
    "  --access-log on|off           one line per request on stdout (on)\n"
    "  --server-timing on|off        Server-Timing response header (on)\n"
    "  --served-by on|off            X-Served-By response header naming the backend (on)\n"
    "  --request-id on|off           X-Request-Id: keep a valid one or generate (on)\n"
    "  --client-header-timeout DUR   time to receive request headers; then 408 (10s)\n"
    "  --client-idle-timeout DUR     keep-alive idle time between requests (60s)\n"
    "  --backend-connect-timeout DUR (3s)\n"
    "  --backend-response-timeout DUR  request sent .. response headers, and between reads (30s)\n"
    "  --backend-idle-timeout DUR    pooled idle backend connections close after (15s)\n"
    "  --backend-idle-max N          idle pooled connections per server per worker (64)\n"
    "  --shutdown-timeout DUR        SIGTERM/SIGINT: in-flight requests finish within (10s)\n"
    "  --max-connections N           client connections (10000); accept pauses at the limit\n"
    "  --max-header-size SIZE        request line + headers; larger: 431 (16k)\n"
    "  --max-headers N               header count; more: 431 (100)\n"
    "  --max-body-size SIZE          request body; larger: 413; 0 = no limit (10m)\n"
    "  --retries N                   other servers tried after a connect failure (2)\n"
    "  --help, --version\n"
    "\n"
    "Durations: 500ms, 5s, 2m (bare number: ms). Sizes: 512, 8k, 1m.\n"
    "Config file sections: [lb] (these settings), [pool NAME] (backend =, algorithm =,\n"
    "route = /prefix/); requests whose path matches no route get 404.\n"
    "Signals: SIGTERM/SIGINT stop accepting, finish in-flight requests, exit 0.\n";

static const char *settings[] = {
    "listen", "cert", "key", "backend", "algorithm", "workers", "admin", "log-format",
    "log-level", "access-log", "server-timing", "served-by", "request-id",
    "client-header-timeout", "client-idle-timeout", "backend-connect-timeout",
    "backend-response-timeout", "backend-idle-timeout", "backend-idle-max", "shutdown-timeout",
    "max-connections", "max-header-size", "max-headers", "max-body-size", "retries", NULL};

enum { OPT_CONFIG = 1000, OPT_CHECK, OPT_HELP, OPT_VERSION, OPT_SETTING = 2000 };

static lb_runtime rt;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_async_t workers_done;
static atomic_int finished_workers;

static int make_listen_fd(const lb_listener_cfg *l, char *err, size_t errlen) {
  int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create a socket for %s: %s", l->text, strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    snprintf(err, errlen, "SO_REUSEPORT on %s: %s (needs Linux >= 3.9)", l->text,
             strerror(errno));
    close(fd);
    return -1;
  }
  if (l->addr.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0 || listen(fd, 1024) != 0) {
    snprintf(err, errlen, "cannot listen on %s: %s (is the port in use or the address not local?)",
             l->text, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

static void on_signal(uv_signal_t *s, int signum) {
  if (signum == SIGHUP) {
    jc_log(JC_LOG_WARN, "SIGHUP: configuration reload is not available yet; still running");
    return;
  }
  if (atomic_load(&rt.stopping)) {
    jc_log(JC_LOG_WARN, "second %s: exiting now", strsignal(signum));
    _exit(1);
  }
  jc_log(JC_LOG_INFO, "%s: stopping (no new connections, in-flight requests have %u ms)",
         strsignal(signum), rt.cfg.shutdown_timeout);
  atomic_store(&rt.stopping, 1);
  for (int i = 0; i < rt.nworkers; i++)
    lb_worker_request_stop(&rt.workers[i]);
}

static void on_workers_done(uv_async_t *a) {
  if (atomic_load(&finished_workers) < rt.nworkers)
    return;
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

static int cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

static void print_summary(const lb_config *c) {
  int servers = 0;
  for (int i = 0; i < c->npools; i++)
    servers += c->pools[i].nservers;
  printf("configuration OK: %d listener(s), %d certificate(s), %d route(s), %d server(s)\n",
         c->nlisteners, c->ncerts, c->nroutes, servers);
  for (int i = 0; i < c->nlisteners; i++)
    printf("  listen %s\n", c->listeners[i].text);
  for (int i = 0; i < c->nroutes; i++) {
    const lb_pool_cfg *p = &c->pools[c->routes[i].pool];
    printf("  route %s -> pool %s (%s):", c->routes[i].prefix, p->name, lb_algo_name(p->algo));
    for (int k = 0; k < p->nservers; k++)
      printf(" %s=%s,weight=%d", p->servers[k].name, p->servers[k].addr_text,
             p->servers[k].weight);
    printf("\n");
  }
}

int main(int argc, char **argv) {
  struct option opts[64];
  int n = 0;
  opts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
  opts[n++] = (struct option){"check-config", no_argument, NULL, OPT_CHECK};
  opts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
  opts[n++] = (struct option){"version", no_argument, NULL, OPT_VERSION};
  for (int i = 0; settings[i]; i++)
    opts[n++] = (struct option){settings[i], required_argument, NULL, OPT_SETTING + i};
  opts[n] = (struct option){NULL, 0, NULL, 0};

  /* Pass 1: --config, --check-config, --help; pass 2 applies the flags over the file. */
  const char *config_file = NULL;
  int check = 0, opt;
  opterr = 1;
  while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (opt == OPT_CONFIG)
      config_file = optarg;
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
  lb_config_defaults(&cfg);
  if (config_file && lb_config_load_file(&cfg, config_file, err, sizeof err) != 0) {
    fprintf(stderr, "journey-lb: %s\n", err);
    return 1;
  }
  int cleared_listen = 0, cleared_backend = 0, cleared_cert = 0;
  optind = 1;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (opt < OPT_SETTING)
      continue;
    const char *name = settings[opt - OPT_SETTING];
    if (!strcmp(name, "listen") && !cleared_listen++)
      cfg.nlisteners = 0;
    if (!strcmp(name, "backend") && !cleared_backend++)
      cfg.pools[0].nservers = 0;
    if (!strcmp(name, "cert") && !cleared_cert++)
      cfg.ncerts = 0;
    char where[80];
    snprintf(where, sizeof where, "--%s", name);
    if (lb_config_set(&cfg, "", name, optarg, where, err, sizeof err) != 0) {
      fprintf(stderr, "journey-lb: %s\n", err);
      return 2;
    }
  }
  if (lb_config_finish(&cfg, err, sizeof err) != 0) {
    fprintf(stderr, "journey-lb: %s\n", err);
    return 1;
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
  rt.nworkers = rt.cfg.workers ? rt.cfg.workers : cpu_count();
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
    w->nlisteners = rt.cfg.nlisteners;
    for (int k = 0; k < rt.cfg.nlisteners; k++) {
      w->listener_tls[k] = rt.cfg.listeners[k].tls;
      w->listener_fd[k] = make_listen_fd(&rt.cfg.listeners[k], err, sizeof err);
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

  pthread_t watchers[256];
  for (int i = 0; i < rt.nworkers; i++) {
    if (lb_worker_start(&rt.workers[i]) != 0) {
      fprintf(stderr, "journey-lb: cannot start worker %d\n", i);
      return 1;
    }
    pthread_create(&watchers[i], NULL, watch_worker, &rt.workers[i]);
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
    jc_log_emit(&l);
  }
  if (rt.cfg.admin[0])
    jc_log(JC_LOG_WARN, "admin listener %s: the admin endpoints are not part of this build yet "
           "(health checks, /stats, /metrics come with issue 5); ignoring", rt.cfg.admin);
  uv_run(loop, UV_RUN_DEFAULT);
  for (int i = 0; i < rt.nworkers; i++)
    pthread_join(watchers[i], NULL);
  uv_loop_close(loop);
  for (int i = 0; i < rt.nworkers; i++)
    for (int p = 0; p < rt.npools; p++)
      free(rt.workers[i].idle[p]);
  free(rt.workers);
  for (int i = 0; i < rt.npools; i++)
    lb_pool_free(&rt.pools[i]);
  lb_tls_server_free(&rt.tls);
  jc_log(JC_LOG_INFO, "stopped");
  return 0;
}
