/* journey: one request's whole journey, phase by phase (URL, DNS, route and next hop, TCP, TLS,
 * HTTP, the load balancer's side), with curl's exit codes and time_* names. Flags here; the
 * work in run.c / conn.c; the output in report.c. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client/dns_pin.h"
#include "client/exit_code.h"
#include "client/curl_vars.h"
#include "client/follow.h"
#include "client/report.h"
#include "client/run.h"
#include "client/tracepath.h"
#include "common/addr.h"

static const char usage_text[] =
    "usage: journey [options] URL\n"
    "\n"
    "Sends one HTTP(S) request and shows its whole journey, phase by phase, with real data:\n"
    "  1 URL    the parsed URL and the exact request bytes\n"
    "  2 DNS    journey's cache, the hosts file, the DNS servers: hit/miss, server, answers, TTLs\n"
    "  3 route  gateway, interface, source address, next hop's MAC and ARP/ND state, TTL, NAT\n"
    "  4 TCP    each connection attempt, local/remote address, RTT, MSS, cwnd, retransmits\n"
    "  5 TLS    version, cipher, group, ALPN, SNI, certificate, verification\n"
    "  6 HTTP   status, headers (-v), body size and framing, time to first byte, transfer; over\n"
    "           HTTP/2 the server's SETTINGS, the stream, HPACK sizes and every frame\n"
    "  7 LB     the load balancer's Server-Timing, X-Served-By, X-Request-Id\n"
    "URL: https://host[:port]/path?query or http://... (http is assumed without a scheme, as in curl).\n"
    "\n"
    "Request\n"
    "  -X, --request METHOD      method (default GET)\n"
    "  -I, --head                HEAD request (no body)\n"
    "  -H, --header 'Name: v'    add or replace a header; 'Name:' removes one\n"
    "  -o, --output FILE         write the response body to FILE (decoded: gzip, deflate, br);\n"
    "                            - is standard output (the report then goes to standard error)\n"
    "      --fail, -f            exit 22 when the status is 400 or more\n"
    "  -d, --data DATA           send DATA with POST (Content-Type application/x-www-form-urlencoded\n"
    "                            unless -H sets one); @FILE reads a file without its CR/LF, @- stdin;\n"
    "                            several are joined with &\n"
    "      --data-binary DATA    the same, but @FILE is sent byte for byte\n"
    "  -i, --include             the response head goes before the body into -o's output; without\n"
    "                            -o the report shows the response headers (with -L every hop's)\n"
    "  -D, --dump-header FILE    write the response head (status line and headers) to FILE (- stdout);\n"
    "                            with -L or --retry every response's head, in order\n"
    "  -L, --location            follow redirects (301 302 303 307 308; 303, and POST after 301/302,\n"
    "                            become GET as in curl); each hop is a request of its own and\n"
    "                            the report shows its phases\n"
    "      --max-redirs N        at most N redirects with -L (default 50; then exit 47)\n"
    "      --retry N             repeat a request up to N times after a timeout or a 408, 429, 500,\n"
    "                            502, 503, 504 answer (never a request that may have had an effect\n"
    "                            unless its method is idempotent); waits 1 s, 2 s, 4 s ...\n"
    "      --retry-delay S       wait S seconds between retries instead\n"
    "  -A, --user-agent NAME     User-Agent header (default journey/VERSION)\n"
    "      --http1.0             HTTP/1.0 request, no keep-alive\n"
    "      --http1.1             HTTP/1.1 only (ALPN offers http/1.1 alone)\n"
    "      --http2               HTTP/2 only: over https ALPN offers h2 alone (exit 16 when the\n"
    "                            server does not take it); over http, HTTP/2 with prior knowledge.\n"
    "                            Without either, https offers h2 and http/1.1 and the server\n"
    "                            chooses (as curl and browsers do); http stays HTTP/1.1\n"
    "      --compressed          ask for gzip, deflate, br even if -H removed Accept-Encoding (they\n"
    "                            are asked for by default, as a browser does, and always decoded)\n"
    "Name resolution\n"
    "      --dns-servers LIST    DNS servers ip[:port],... instead of /etc/resolv.conf\n"
    "      --resolve H:P:ADDR    use ADDR for host H port P (like curl); P may be *\n"
    "      --connect-to H1:P1:H2:P2  connect to H2:P2 instead when the URL is H1:P1 (like curl;\n"
    "                            empty parts match any / keep the URL's); Host, SNI and the\n"
    "                            certificate check keep the URL's name\n"
    "      --hosts-file FILE     hosts file to consult (default /etc/hosts)\n"
    "      --no-cache            do not read or write journey's DNS cache\n"
    "                            ($XDG_CACHE_HOME/journey/dns, else ~/.cache/journey/dns)\n"
    "  -4, --ipv4 / -6, --ipv6   resolve and connect with IPv4 only / IPv6 only\n"
    "Proxy\n"
    "  -x, --proxy [http://]HOST[:PORT]  an HTTP proxy (port 1080 by default): https goes through\n"
    "                            a CONNECT tunnel (a phase of its own), http in absolute form;\n"
    "                            else HTTPS_PROXY / https_proxy, http_proxy from the environment\n"
    "      --noproxy LIST        hosts reached directly (\"*\", names and domain suffixes, commas);\n"
    "                            else NO_PROXY / no_proxy\n"
    "TLS\n"
    "      --cacert FILE         trust the CA certificates in FILE (default: the system store)\n"
    "  -k, --insecure            do not verify the server certificate (said loudly in the output)\n"
    "      --cert FILE           client certificate (PEM) for servers that ask for one (mTLS)\n"
    "      --key FILE            its private key (PEM; default: in the --cert file)\n"
    "Timing\n"
    "      --connect-timeout S   limit DNS + TCP + TLS to S seconds (exit 28)\n"
    "  -m, --max-time S          limit each request to S seconds (exit 28)\n"
    "Repetition\n"
    "  -n, --requests N          send N requests (default 1) and show min/p50/p90/p99/max per\n"
    "                            phase and the spread over backends (X-Served-By)\n"
    "  -c, --concurrency C       over C connections at once (default 1); over HTTP/2, C streams at\n"
    "                            once on one connection\n"
    "      --connections K       over HTTP/2, spread the C streams over K connections (default 1)\n"
    "      --interval S          wait S seconds between requests on a connection\n"
    "      --no-keepalive        a fresh connection (and TLS resumption) for every request\n"
    "Output\n"
    "      --json                one JSON object (schema: docs/client-json.md)\n"
    "      --html FILE           also write the journey as one self-contained HTML page: waterfall,\n"
    "                            DNS, route and path, TLS, HTTP, the load balancer's phases\n"
    "      --trace-path          after the request, find the routers on the way as tracepath does\n"
    "                            (UDP probes toward the server's address and port, TTL 1, 2, ...;\n"
    "                            one probe per TTL, at most 30 TTLs, 1 s each, 10 s in all)\n"
    "  -w, --write-out FORMAT    after the report (also with -s), FORMAT with curl's variables:\n"
    "                            %{time_total}, %{http_code}, %{remote_ip}, %{size_download},\n"
    "                            %{json}, %header{Name}, ... (docs/client-json.md lists them)\n"
    "  -v, --verbose             show the request and response headers\n"
    "  -s, --silent              print nothing; the exit code tells\n"
    "      --no-color            no colours (colours are only used on a terminal, never with NO_COLOR)\n"
    "  -h, --help                this text\n"
    "  -V, --version             the version\n"
    "\n"
    "Exit codes (curl's): 0 ok, 2 usage, 3 bad URL, 6 DNS, 7 connect, 8 bad HTTP reply, 16 HTTP/2\n"
    "failed (or --http2 without h2 from the server), 22 HTTP >= 400 with --fail, 23 write error (-o),\n"
    "28 timeout, 35 TLS handshake, 47 too many redirects, 52 empty reply, 56 receive error, 58 bad\n"
    "client certificate, 60 certificate verification, 77 bad --cacert file, 92 the server reset the\n"
    "HTTP/2 stream.\n";

enum {
  OPT_CACERT = 256, OPT_DNS_SERVERS, OPT_RESOLVE, OPT_HOSTS_FILE, OPT_NO_CACHE, OPT_JSON, OPT_INTERVAL,
  OPT_NO_KEEPALIVE, OPT_HTTP11, OPT_HTTP2, OPT_CONNECTIONS, OPT_CONNECT_TIMEOUT, OPT_NO_COLOR, OPT_COMPRESSED, OPT_DATA_BINARY, OPT_HTTP10, OPT_MAX_REDIRS, OPT_RETRY, OPT_RETRY_DELAY, OPT_CERT, OPT_KEY, OPT_NOPROXY, OPT_CONNECT_TO, OPT_TRACE_PATH, OPT_HTML
};

static const struct option long_opts[] = {
    {"request", required_argument, NULL, 'X'},
    {"head", no_argument, NULL, 'I'},
    {"header", required_argument, NULL, 'H'},
    {"output", required_argument, NULL, 'o'},
    {"fail", no_argument, NULL, 'f'},
    {"compressed", no_argument, NULL, OPT_COMPRESSED},
    {"data", required_argument, NULL, 'd'},
    {"data-binary", required_argument, NULL, OPT_DATA_BINARY},
    {"user-agent", required_argument, NULL, 'A'},
    {"http1.0", no_argument, NULL, OPT_HTTP10},
    {"http1.1", no_argument, NULL, OPT_HTTP11},
    {"http2", no_argument, NULL, OPT_HTTP2},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"include", no_argument, NULL, 'i'},
    {"write-out", required_argument, NULL, 'w'},
    {"location", no_argument, NULL, 'L'},
    {"max-redirs", required_argument, NULL, OPT_MAX_REDIRS},
    {"retry", required_argument, NULL, OPT_RETRY},
    {"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},
    {"dump-header", required_argument, NULL, 'D'},
    {"dns-servers", required_argument, NULL, OPT_DNS_SERVERS},
    {"resolve", required_argument, NULL, OPT_RESOLVE},
    {"hosts-file", required_argument, NULL, OPT_HOSTS_FILE},
    {"connect-to", required_argument, NULL, OPT_CONNECT_TO},
    {"no-cache", no_argument, NULL, OPT_NO_CACHE},
    {"ipv4", no_argument, NULL, '4'},
    {"ipv6", no_argument, NULL, '6'},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"insecure", no_argument, NULL, 'k'},
    {"cert", required_argument, NULL, OPT_CERT},
    {"proxy", required_argument, NULL, 'x'},
    {"noproxy", required_argument, NULL, OPT_NOPROXY},
    {"key", required_argument, NULL, OPT_KEY},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"max-time", required_argument, NULL, 'm'},
    {"requests", required_argument, NULL, 'n'},
    {"concurrency", required_argument, NULL, 'c'},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"no-keepalive", no_argument, NULL, OPT_NO_KEEPALIVE},
    {"json", no_argument, NULL, OPT_JSON},
    {"trace-path", no_argument, NULL, OPT_TRACE_PATH},
    {"html", required_argument, NULL, OPT_HTML},
    {"verbose", no_argument, NULL, 'v'},
    {"silent", no_argument, NULL, 's'},
    {"no-color", no_argument, NULL, OPT_NO_COLOR},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "journey: %s\n(see journey --help)\n", msg);
  return JN_EXIT_USAGE;
}

/* The request body lives until exit, whichever return main takes (a usage error after -d too). */
static char *g_body;
static void free_body(void) { free(g_body); }

/* -d / --data-binary: "text" or "@file" ("-": stdin), several joined with '&' as curl does;
 * -d drops CR and LF from a file, --data-binary sends it as it is. Bounded by JN_BODY_MAX. */
static int add_body(jn_opts *o, const char *arg, int binary) {
  char *part = NULL;
  size_t n = 0;
  if (arg[0] == '@') {
    FILE *f = strcmp(arg + 1, "-") == 0 ? stdin : fopen(arg + 1, "rb");
    if (!f)
      return usage_error("cannot read %s: %s", arg + 1, strerror(errno));
    size_t cap = 0;
    for (;;) {
      if (n == cap) {
        cap = cap ? cap * 2 : 65536;
        char *p = cap <= JN_BODY_MAX + 1 ? realloc(part, cap) : NULL;
        if (!p) {
          free(part);
          if (f != stdin)
            fclose(f);
          return usage_error("%s: the body is limited to %u MiB", arg + 1, JN_BODY_MAX >> 20);
        }
        part = p;
      }
      size_t got = fread(part + n, 1, cap - n, f);
      n += got;
      if (got == 0)
        break;
    }
    if (f != stdin)
      fclose(f);
    if (!binary) {
      size_t w = 0;
      for (size_t i = 0; i < n; i++)
        if (part[i] != '\r' && part[i] != '\n')
          part[w++] = part[i];
      n = w;
    }
  } else {
    n = strlen(arg);
    part = malloc(n + 1);
    if (part)
      memcpy(part, arg, n);
  }
  size_t total = o->body_len + (o->body ? 1 : 0) + n;
  char *body = part && total <= JN_BODY_MAX ? realloc(o->body, total + 1) : NULL;
  if (!body) {
    free(part);
    return usage_error("the request body is limited to %u MiB", JN_BODY_MAX >> 20);
  }
  if (!g_body)
    atexit(free_body);
  g_body = body;
  if (o->body)
    body[o->body_len++] = '&';
  memcpy(body + o->body_len, part, n);
  o->body = body;
  o->body_len += n;
  free(part);
  return 0;
}

static int parse_secs(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || v < 0 || v > 86400)
    return -1;
  *out = v;
  return 0;
}

static int parse_count(const char *s, long max, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < 1 || v > max)
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  jn_opts o;
  memset(&o, 0, sizeof o);
  o.n = 1;
  o.c = 1;
  o.max_redirs = 50;
  int no_color = 0, ch;
  const char *writeout = NULL;
  int trace_path = 0;
  const char *html = NULL;
  while ((ch = getopt_long(argc, argv, "X:IH:o:fd:A:iD:Lw:x:k46m:n:c:vshV", long_opts, NULL)) != -1) {
    long v;
    char err[256];
    switch (ch) {
    case 'X':
      if (!*optarg || strlen(optarg) > 15 || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(optarg))
        return usage_error("bad method \"%s\": use an upper-case token such as GET, POST, DELETE", optarg);
      o.method = optarg;
      break;
    case 'I': o.head = 1; break;
    case 'H':
      if (o.header_n == JN_HEADERS_ARG_MAX)
        return usage_error("too many -H (at most %s)", "64");
      o.headers[o.header_n++] = optarg;
      break;
    case 'o': o.output = optarg; break;
    case 'f': o.fail = 1; break;
    case OPT_COMPRESSED: o.compressed = 1; break;
    case 'd':
    case OPT_DATA_BINARY:
      if (add_body(&o, optarg, ch == OPT_DATA_BINARY) != 0)
        return JN_EXIT_USAGE;
      break;
    case 'A': o.user_agent = optarg; break;
    case OPT_HTTP10: o.http10 = 1, o.http11 = o.http2 = 0; break; /* the last one given counts, as in curl */
    case OPT_HTTP11: o.http11 = 1, o.http10 = o.http2 = 0; break;
    case OPT_HTTP2: o.http2 = 1, o.http10 = o.http11 = 0; break;
    case OPT_CONNECTIONS:
      if (parse_count(optarg, 1000, &v) != 0)
        return usage_error("bad --connections \"%s\": a count from 1 to 1000", optarg);
      o.connections = (int)v;
      break;
    case 'i': o.include = 1; break;
    case 'w': writeout = optarg; break;
    case 'L': o.follow = 1; break;
    case OPT_MAX_REDIRS:
      if (strcmp(optarg, "0") != 0 && parse_count(optarg, 1000, &v) != 0)
        return usage_error("bad --max-redirs \"%s\": a count from 0 to 1000", optarg);
      o.max_redirs = atoi(optarg);
      break;
    case OPT_RETRY:
      if (strcmp(optarg, "0") != 0 && parse_count(optarg, 60, &v) != 0)
        return usage_error("bad --retry \"%s\": a count from 0 to 60", optarg);
      o.retry = atoi(optarg);
      break;
    case OPT_RETRY_DELAY:
      if (parse_secs(optarg, &o.retry_delay) != 0)
        return usage_error("bad --retry-delay \"%s\": seconds, e.g. 0.5", optarg);
      break;
    case 'D': o.dump_header = optarg; break;
    case OPT_DNS_SERVERS: o.dns_servers = optarg; break;
    case OPT_RESOLVE:
      if (jn_dns_pin_check(optarg, err, sizeof err) != 0)
        return usage_error("%s", err);
      if (o.pin_n == JN_PINS_MAX)
        return usage_error("too many --resolve (at most %s)", "16");
      o.pins[o.pin_n++] = optarg;
      break;
    case OPT_HOSTS_FILE:
      if (access(optarg, R_OK) != 0)
        return usage_error("cannot read --hosts-file %s", optarg);
      o.hosts_file = optarg;
      break;
    case OPT_NO_CACHE: o.no_cache = 1; break;
    case OPT_CONNECT_TO: {
      char h2[256];
      int p2;
      if (jn_connect_to_match(optarg, "", 0, h2, sizeof h2, &p2) < 0)
        return usage_error("bad --connect-to \"%s\": expected HOST1:PORT1:HOST2:PORT2 (parts may be empty)", optarg);
      if (o.connect_to_n == JN_PINS_MAX)
        return usage_error("too many --connect-to (at most %s)", "16");
      o.connect_to[o.connect_to_n++] = optarg;
      break;
    }
    case '4': o.family = 4; break;
    case '6': o.family = 6; break;
    case OPT_CACERT: o.cacert = optarg; break;
    case 'k': o.insecure = 1; break;
    case OPT_CERT: o.cert = optarg; break;
    case 'x': o.proxy = optarg; break;
    case OPT_NOPROXY: o.noproxy = optarg; break;
    case OPT_KEY: o.key = optarg; break;
    case OPT_CONNECT_TIMEOUT:
      if (parse_secs(optarg, &o.connect_timeout) != 0)
        return usage_error("bad --connect-timeout \"%s\": seconds, e.g. 2.5", optarg);
      break;
    case 'm':
      if (parse_secs(optarg, &o.max_time) != 0)
        return usage_error("bad --max-time \"%s\": seconds, e.g. 10", optarg);
      break;
    case 'n':
      if (parse_count(optarg, 10000000, &v) != 0)
        return usage_error("bad -n \"%s\": a count from 1 to 10000000", optarg);
      o.n = v;
      break;
    case 'c':
      if (parse_count(optarg, 1000, &v) != 0)
        return usage_error("bad -c \"%s\": a count from 1 to 1000", optarg);
      o.c = (int)v;
      break;
    case OPT_INTERVAL:
      if (parse_secs(optarg, &o.interval) != 0)
        return usage_error("bad --interval \"%s\": seconds, e.g. 0.1", optarg);
      break;
    case OPT_NO_KEEPALIVE: o.no_keepalive = 1; break;
    case OPT_JSON: o.json = 1; break;
    case OPT_TRACE_PATH: trace_path = 1; break;
    case OPT_HTML: html = optarg; break;
    case 'v': o.verbose = 1; break;
    case 's': o.silent = 1; break;
    case OPT_NO_COLOR: no_color = 1; break;
    case 'h': fputs(usage_text, stdout); return 0;
    case 'V': printf("journey %s\n", JOURNEY_VERSION); return 0;
    default: fputs("(see journey --help)\n", stderr); return JN_EXIT_USAGE;
    }
  }
  if (optind != argc - 1)
    return usage_error("%s", optind >= argc ? "give exactly one URL, e.g. journey https://www.my-app.com/my-app/data"
                                            : "give exactly one URL (options go before it)");
  o.url = argv[optind];
  if (o.hosts_file)
    setenv("CARES_HOSTS", o.hosts_file, 1); /* how c-ares 1.18's ares_gethostbyname_file finds it */
  o.color = !no_color && jn_report_use_color(
                               isatty(o.output && strcmp(o.output, "-") == 0 ? STDERR_FILENO : STDOUT_FILENO),
                               getenv("NO_COLOR"));
  o.progress = !o.silent && !o.json && isatty(STDERR_FILENO);

  /* Library set-up, as curl_global_init does before curl's clock: OpenSSL reads its config and
   * loads its providers here, not inside the first request's TLS phase (skipped when no TLS can
   * happen: a plain http URL that is not followed elsewhere). */
  if (strncasecmp(o.url, "http://", 7) != 0 || o.follow || o.proxy || getenv("HTTPS_PROXY") || getenv("https_proxy"))
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
  int code = ares_library_init(ARES_LIB_INIT_ALL);
  if (code != ARES_SUCCESS) {
    fprintf(stderr, "journey: cannot initialise c-ares: %s\n", ares_strerror(code));
    return JN_EXIT_DNS;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  if (o.follow && o.n > 1)
    return usage_error("-L follows one request: give -n with the final URL instead");
  jn_run run;
  memset(&run, 0, sizeof run);
  jn_tries *tries = calloc(1, sizeof *tries);
  jn_result *shown = NULL;
  code = tries ? jn_follow(&loop, &o, &run, tries, &shown) : 1;
  if (shown && trace_path && shown->remote[0]) { /* after the request: outside every clock */
    struct sockaddr_storage sa;
    socklen_t salen;
    char err[128];
    if (jc_addr_parse(shown->remote, &sa, &salen, err, sizeof err) == 0)
      jn_tracepath((struct sockaddr *)&sa, salen, 30, 1000, 10000, shown);
  }
  /* With -o - the body owns stdout; the report goes to stderr. */
  FILE *rep = o.output && strcmp(o.output, "-") == 0 ? stderr : stdout;
  if (shown) {
    shown->exit_code = code;
    jn_report_opts ro = {.color = o.color, .verbose = o.verbose, .width = 50, .show_response = o.include && !o.output};
    if (o.json)
      jn_report_json(rep, shown, o.n > 1 ? &run.stats : NULL, (size_t)o.n, o.c, tries);
    else if (!o.silent) {
      jn_report_human(rep, shown, &ro);
      jn_report_tries_human(rep, tries, &ro);
      if (o.n > 1)
        jn_report_stats_human(rep, &run.stats, (size_t)o.n, o.c, &ro);
    }
  }
  if (shown && html) {
    FILE *hf = fopen(html, "w");
    if (!hf || (jn_report_html(hf, shown), fclose(hf)) != 0) {
      fprintf(stderr, "journey: cannot write --html %s: %s\n", html, strerror(errno));
      if (!code)
        code = JN_EXIT_WRITE;
    }
  }
  if (shown && writeout) /* also with -s, as curl */
    jn_writeout(stdout, writeout, shown);
  fflush(stdout);
  jn_run_free(&run);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    fprintf(stderr, "journey: internal error: libuv handles left open\n");
  ares_library_cleanup();
  free(tries);
  return code;
}
