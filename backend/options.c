#include "backend/options.h"

#include "common/addr.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void be_options_defaults(be_options *o) {
  memset(o, 0, sizeof *o);
  o->workers = 1;
  o->log_format = JC_LOG_LOGFMT;
  o->log_level = JC_LOG_INFO;
  o->access_log = 1;
  o->max_header_bytes = 8192;
  o->max_body_bytes = 1024 * 1024;
  o->idle_timeout_ms = 60000;
  o->request_timeout_ms = 10000;
  o->drain_timeout_ms = 10000;
  o->ws_max_message_bytes = 16 * 1024 * 1024;
  o->ws_idle_timeout_ms = 3600000;
}

void be_options_usage(FILE *f) {
  fputs(
      "Usage: journey-backend --listen ADDR:PORT --name NAME [options]\n"
      "\n"
      "The HTTP/1.1 server behind journey-lb. Routes:\n"
      "  GET|HEAD /my-app/data   200 JSON naming this backend, its listen address, the client\n"
      "                          address it saw, X-Request-Id and X-Forwarded-For it received\n"
      "  GET|HEAD /health        200 \"ok\" when healthy, 503 \"down\" when put in the failing state\n"
      "  POST /admin/health      body \"up\" or \"down\" switches the health state (--admin only,\n"
      "                          loopback peers only; others get 403)\n"
      "  GET /ws                 WebSocket echo (RFC 6455): text and binary messages come back as\n"
      "                          sent (fragmented ones whole), pings get pongs, a close gets its\n"
      "                          status back; a bad handshake gets 400, a missing Upgrade or a\n"
      "                          version other than 13 gets 426\n"
      "  anything else           404; another method on a known path: 405 with Allow\n"
      "\n"
      "Required:\n"
      "  --listen ADDR:PORT      address to listen on, IPv4 \"127.0.0.1:9001\" or IPv6 \"[::1]:9001\";\n"
      "                          port 0 picks a free port. Repeat for several addresses (max 8).\n"
      "                          Each bound address is logged to stderr: msg=listening addr=...\n"
      "  --name NAME             this backend's name in responses and logs ([A-Za-z0-9._:-], max 64)\n"
      "\n"
      "Fault injection (demos and tests):\n"
      "  --delay-ms N|MIN-MAX    wait N ms (or a uniform random MIN..MAX) before answering\n"
      "                          /my-app/data; later pipelined responses wait behind it (default 0)\n"
      "  --fail-rate P           answer this fraction (0..1) of /my-app/data with 500 (default 0)\n"
      "  --admin                 enable POST /admin/health (up|down), from loopback peers only\n"
      "  --start-down            start in the failing state (/health answers 503)\n"
      "  --record FILE           append every byte received from clients, raw, to FILE (tests:\n"
      "                          proof of what a proxy in front forwarded, or that it sent nothing)\n"
      "Signals: SIGUSR1 = health down (503), SIGUSR2 = health up (200);\n"
      "         SIGTERM/SIGINT = stop accepting, finish in-flight requests, close open\n"
      "         WebSockets with 1001, exit 0\n"
      "         (a second SIGTERM/SIGINT cuts them short).\n"
      "\n"
      "Limits and timeouts:\n"
      "  --max-header-bytes N    request line + headers above this: 431 and close (default 8192)\n"
      "  --max-body-bytes N      request bodies are read and discarded; above this: 413 and close\n"
      "                          (default 1048576)\n"
      "  --idle-timeout-ms N     close a connection idle this long between requests (default 60000)\n"
      "  --request-timeout-ms N  a started request must arrive whole within this; else 408 and\n"
      "                          close (default 10000)\n"
      "  --drain-timeout-ms N    on SIGTERM, in-flight requests get this long (default 10000);\n"
      "                          open WebSockets are closed with status 1001 at once\n"
      "  --ws-max-message-bytes N\n"
      "                          a larger WebSocket message is refused with close status 1009\n"
      "                          (default 16777216, at least 125)\n"
      "  --ws-idle-timeout-ms N  close a WebSocket with no traffic for this long, status 1001\n"
      "                          (default 3600000)\n"
      "\n"
      "Performance:\n"
      "  --workers N             event-loop threads sharing the listen ports with SO_REUSEPORT\n"
      "                          (default 1, max 64)\n"
      "\n"
      "Logging:\n"
      "  --log-format FMT        logfmt (default) or json, for the access log and diagnostics\n"
      "  --log-level LEVEL       diagnostics on stderr: debug, info (default), warn, error\n"
      "  --no-access-log         no access log (default: one line per request on stdout)\n"
      "\n"
      "  --help                  this text\n"
      "  --version               print the version\n"
      "\n"
      "Example:\n"
      "  journey-backend --listen 127.0.0.1:9001 --name b1 --delay-ms 20-80 --fail-rate 0.1 --admin\n",
      f);
}

static int parse_uint(const char *s, unsigned long max, unsigned *out) {
  if (!s || !*s || *s == '-' || *s == '+')
    return -1;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v > max)
    return -1;
  *out = (unsigned)v;
  return 0;
}

int be_delay_parse(const char *s, unsigned *min_ms, unsigned *max_ms) {
  const unsigned long limit = 600000; /* ten minutes: anything longer is a typo */
  char a[32];
  const char *dash = strchr(s, '-');
  if (!dash)
    return parse_uint(s, limit, min_ms) == 0 ? (*max_ms = *min_ms, 0) : -1;
  size_t n = (size_t)(dash - s);
  if (n == 0 || n >= sizeof a)
    return -1;
  memcpy(a, s, n);
  a[n] = '\0';
  unsigned lo, hi;
  if (parse_uint(a, limit, &lo) || parse_uint(dash + 1, limit, &hi) || lo > hi)
    return -1;
  *min_ms = lo;
  *max_ms = hi;
  return 0;
}

static int name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > BE_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == ':' || c == '-'))
      return 0;
  }
  return 1;
}

static int parse_fraction(const char *s, double *out) {
  if (!*s)
    return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !(v >= 0.0 && v <= 1.0)) /* also rejects NaN */
    return -1;
  *out = v;
  return 0;
}

#define FAIL(...)                                                                                  \
  do {                                                                                             \
    snprintf(err, errlen, __VA_ARGS__);                                                            \
    return -1;                                                                                     \
  } while (0)

int be_options_parse(be_options *o, int argc, char **argv, const char **what, char *err,
                     size_t errlen) {
  *what = NULL;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    char flag[64];
    const char *val = NULL;
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    if (eq) { /* --flag=value */
      size_t n = (size_t)(eq - arg);
      if (n >= sizeof flag)
        FAIL("unknown option '%s' (see --help)", arg);
      memcpy(flag, arg, n);
      flag[n] = '\0';
      val = eq + 1;
    } else {
      snprintf(flag, sizeof flag, "%s", arg);
    }
    /* Flags without a value. */
    if (!strcmp(flag, "--help") || !strcmp(flag, "-h")) {
      *what = "help";
      return 1;
    }
    if (!strcmp(flag, "--version")) {
      *what = "version";
      return 1;
    }
    int *boolean = !strcmp(flag, "--admin")           ? &o->admin
                   : !strcmp(flag, "--start-down")    ? &o->start_down
                   : !strcmp(flag, "--no-access-log") ? &o->access_log
                                                      : NULL;
    if (boolean) {
      if (val)
        FAIL("%s takes no value", flag);
      *boolean = boolean != &o->access_log;
      continue;
    }
    /* Flags with a value: "--flag value" or "--flag=value". */
    static const char *const with_value[] = {
        "--listen",        "--name",          "--delay-ms",           "--fail-rate",
        "--workers",       "--log-format",    "--log-level",          "--max-header-bytes",
        "--max-body-bytes", "--idle-timeout-ms", "--request-timeout-ms", "--drain-timeout-ms",
        "--record",        "--ws-max-message-bytes", "--ws-idle-timeout-ms"};
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
      known |= !strcmp(flag, with_value[k]);
    if (!known)
      FAIL("unknown option '%s' (see --help)", arg);
    if (!val) {
      if (i + 1 >= argc)
        FAIL("%s needs a value (see --help)", flag);
      val = argv[++i];
    }
    unsigned u;
    if (!strcmp(flag, "--listen")) {
      char host[JC_HOST_MAX], e[160];
      int port;
      if (o->n_listen >= BE_MAX_LISTEN)
        FAIL("too many --listen (max %d)", BE_MAX_LISTEN);
      if (strlen(val) >= BE_LISTEN_STR_MAX)
        FAIL("--listen '%.40s...': too long", val);
      /* Port 0 (pick a free one) is allowed here, which jc_hostport_split refuses: check the
       * shape with a stand-in port, then the address itself with jc_ip_parse. */
      const char *colon = strrchr(val, ':');
      int any_port = colon && !strcmp(colon, ":0");
      if (any_port) {
        char probe[BE_LISTEN_STR_MAX + 8];
        snprintf(probe, sizeof probe, "%.*s:1", (int)(colon - val), val);
        if (jc_hostport_split(probe, host, sizeof host, &port, e, sizeof e))
          FAIL("--listen '%s': %s (expected IP:PORT or [IPv6]:PORT)", val, e);
      } else if (jc_hostport_split(val, host, sizeof host, &port, e, sizeof e)) {
        FAIL("--listen '%s': %s (expected IP:PORT or [IPv6]:PORT)", val, e);
      }
      if (jc_ip_parse(host, any_port ? 0 : port, &o->listen_addr[o->n_listen],
                      &o->listen_addr_len[o->n_listen]))
        FAIL("--listen '%s': '%s' is not a numeric IPv4 or IPv6 address", val, host);
      snprintf(o->listen[o->n_listen++], BE_LISTEN_STR_MAX, "%s", val);
    } else if (!strcmp(flag, "--name")) {
      if (!name_ok(val))
        FAIL("--name '%s': use 1 to %d of [A-Za-z0-9._:-]", val, BE_NAME_MAX);
      snprintf(o->name, sizeof o->name, "%s", val);
    } else if (!strcmp(flag, "--delay-ms")) {
      if (be_delay_parse(val, &o->delay_min_ms, &o->delay_max_ms))
        FAIL("--delay-ms '%s': expected N or MIN-MAX in milliseconds (0..600000, MIN <= MAX)",
             val);
    } else if (!strcmp(flag, "--fail-rate")) {
      if (parse_fraction(val, &o->fail_rate))
        FAIL("--fail-rate '%s': expected a fraction between 0 and 1, e.g. 0.1", val);
    } else if (!strcmp(flag, "--record")) {
      if (!*val || strlen(val) >= sizeof o->record)
        FAIL("--record '%.40s': expected a file path (1 to %zu bytes)", val,
             sizeof o->record - 1);
      snprintf(o->record, sizeof o->record, "%s", val);
    } else if (!strcmp(flag, "--workers")) {
      if (parse_uint(val, BE_MAX_WORKERS, &u) || u == 0)
        FAIL("--workers '%s': expected 1..%d", val, BE_MAX_WORKERS);
      o->workers = (int)u;
    } else if (!strcmp(flag, "--log-format")) {
      int f = jc_log_format_parse(val);
      if (f < 0)
        FAIL("--log-format '%s': expected logfmt or json", val);
      o->log_format = f;
    } else if (!strcmp(flag, "--log-level")) {
      int l = jc_log_level_parse(val);
      if (l < 0)
        FAIL("--log-level '%s': expected debug, info, warn or error", val);
      o->log_level = l;
    } else {
      struct {
        const char *flag;
        unsigned *dst;
        unsigned long min, max;
      } const nums[] = {
          {"--max-header-bytes", &o->max_header_bytes, 256, 1024 * 1024},
          {"--max-body-bytes", &o->max_body_bytes, 0, 1024UL * 1024 * 1024},
          {"--idle-timeout-ms", &o->idle_timeout_ms, 10, 86400000},
          {"--request-timeout-ms", &o->request_timeout_ms, 10, 86400000},
          {"--drain-timeout-ms", &o->drain_timeout_ms, 0, 86400000},
          {"--ws-max-message-bytes", &o->ws_max_message_bytes, 125, 1024UL * 1024 * 1024},
          {"--ws-idle-timeout-ms", &o->ws_idle_timeout_ms, 10, 86400000},
      };
      for (size_t k = 0; k < sizeof nums / sizeof *nums; k++) {
        if (strcmp(flag, nums[k].flag))
          continue;
        if (parse_uint(val, nums[k].max, &u) || u < nums[k].min)
          FAIL("%s '%s': expected a whole number from %lu to %lu", flag, val, nums[k].min,
               nums[k].max);
        *nums[k].dst = u;
      }
    }
  }
  if (o->n_listen == 0)
    FAIL("--listen ADDR:PORT is required, e.g. --listen 127.0.0.1:9001 (see --help)");
  if (!o->name[0])
    FAIL("--name NAME is required, e.g. --name b1 (see --help)");
  return 0;
}
