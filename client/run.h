/* One invocation of journey: resolve once, then N requests (-n) over C connections (-c), kept
 * alive unless --no-keepalive, each request timed phase by phase into a jn_result; the first
 * request's result is kept for the detailed report, every one goes into the statistics.
 * conn.c runs one connection's life (connect, TLS, requests); run.c schedules them. */
#ifndef JOURNEY_CLIENT_RUN_H
#define JOURNEY_CLIENT_RUN_H

#include <openssl/ssl.h>
#include <stdio.h>
#include <uv.h>

#include "client/dns.h"
#include "client/result.h"
#include "client/stats.h"

#define JN_PINS_MAX 16
#define JN_HEADERS_ARG_MAX 64
#define JN_BODY_MAX (64u << 20) /* -d / --data-binary: the body is held in memory */

typedef struct jn_opts {
  const char *url;
  const char *method; /* NULL: GET (HEAD with -I) */
  int head;
  int verbose, silent, json, insecure, fail, no_cache, no_keepalive, compressed, http10;
  int http11, http2; /* --http1.1, --http2: no ALPN choice (default: h2 when the server offers it) */
  int connections;   /* --connections K: HTTP/2 connections the -c streams are spread over (0: 1) */
  const char *user_agent;      /* -A */
  const char *dump_header;     /* -D FILE */
  int include;                 /* -i */
  int follow, max_redirs;      /* -L, --max-redirs (curl's default 50) */
  int retry;                   /* --retry N */
  double retry_delay;          /* --retry-delay S (0: 1 s doubling, as curl) */
  char *body;                  /* -d / --data-binary, read by main.c (NULL: none) */
  size_t body_len;
  const char *cacert, *dns_servers, *hosts_file, *output;
  const char *cert, *key; /* --cert, --key: a client certificate (mTLS) */
  const char *proxy, *noproxy; /* -x, --noproxy (else the environment's) */
  const char *connect_to[JN_PINS_MAX]; /* --connect-to HOST1:PORT1:HOST2:PORT2 */
  size_t connect_to_n;
  const char *pins[JN_PINS_MAX];
  size_t pin_n;
  const char *headers[JN_HEADERS_ARG_MAX];
  size_t header_n;
  int family;
  long n;
  int c;
  double interval, connect_timeout, max_time; /* seconds, 0 = none */
  int color, progress;
  /* set by follow.c for the hops after the first: -D, and -o with -i, keep every hop's head in
   * order, as curl writes them (a retry starts -o again) */
  int dump_append, out_append;
} jn_opts;

typedef struct jn_run {
  uv_loop_t *loop;
  const jn_opts *o;
  jn_result *proto; /* url + dns, the start of every first request */
  uint64_t t_start;
  jn_dns dns;
  jn_dns_opts dopts;
  char cache_path[1024];
  int dns_started;
  uv_timer_t dns_deadline; /* --max-time / --connect-timeout also bound the DNS phase */
  int dns_deadline_on;
  int https;
  int proxied;        /* through an HTTP proxy (proxy.h) */
  int connect_to;     /* --connect-to applies: proxy holds where to connect instead */
  jn_url proxy;       /* its address, resolved in the DNS phase instead of the server's */
  jn_url target;      /* the server's URL while the DNS phase resolves the proxy */
  SSL_CTX *ctx; /* made by the first connection that needs it (jn_run_tls_ctx) */
  int ca_loaded; /* its CA store: loaded once the first ClientHello is out (jn_run_tls_ca) */
  char req[8192];
  size_t req_len;
  struct sockaddr_storage addrs[JN_ADDR_MAX];
  socklen_t lens[JN_ADDR_MAX];
  size_t naddr;
  jn_result *first; /* the first finished request, for the detailed report */
  int have_first;
  int first_conn_done; /* the route is reported for the first connection only */
  jn_stats stats;
  size_t issued, finished;
  int active;
  FILE *out;
  FILE *dump; /* -D */
  uv_timer_t progress;
  int progress_on;
  uint64_t wall_t0;
  int exit_code; /* the first failure's */
  int h2_streams;  /* HTTP/2: streams at once per connection (-c spread over --connections) */
  int held_back;   /* -c's connections not opened while the first may negotiate h2 */
} jn_run;

/* Prepares everything that does not need the network (URL, request bytes, TLS context, cache
 * path, output file). Returns 0, or an exit code with proto->error. */
int jn_run_prepare(jn_run *run, uv_loop_t *loop, const jn_opts *o);
/* The TLS context, made once, after the first TCP connect (as curl does: its time_appconnect
 * counts loading the CA store); r->tls_setup_us says how long. 0, or an exit code with r->error. */
int jn_run_tls_ctx(jn_run *run, jn_result *r);
/* The context's CA store, loaded on the first call (after the first ClientHello is written, as
 * curl does); r->tls_setup_us grows by the time taken. 0, or an exit code with r->error. */
int jn_run_tls_ca(jn_run *run, jn_result *r);
/* Starts DNS and then the requests; the loop runs until all is done. */
void jn_run_start(jn_run *run);
/* Frees what prepare allocated (after the loop has finished). */
void jn_run_free(jn_run *run);

/* conn.c */
typedef struct jn_conn jn_conn;
/* Opens a connection slot and starts its first request. */
int jn_conn_spawn(jn_run *run);
/* run.c: called by a connection when a request has finished; returns 1 if the connection
 * should issue another request. */
int jn_run_request_done(jn_run *run, jn_result *r);
/* run.c: a request claimed by jn_run_request_done that the connection cannot carry goes back. */
void jn_run_unclaim(jn_run *run);
/* run.c: the server chose HTTP/1.1: opens the connections held back for HTTP/2. */
void jn_run_h1_spread(jn_run *run);
/* run.c: called when a connection slot has closed for good. */
void jn_run_conn_closed(jn_run *run);

#endif
