/* journey-backend command line: parsing and --help text. Pure (no I/O besides the usage text
 * written to the FILE the caller gives), so tests/unit/test_backend_options.c covers it.
 * be_options holds copies of everything it needs: it owns no heap memory. */
#ifndef JOURNEY_BACKEND_OPTIONS_H
#define JOURNEY_BACKEND_OPTIONS_H

#include <stdio.h>
#include <sys/socket.h>

#define BE_MAX_LISTEN 8
#define BE_MAX_WORKERS 64
#define BE_LISTEN_STR_MAX 300
#define BE_NAME_MAX 64

typedef struct be_options {
  char listen[BE_MAX_LISTEN][BE_LISTEN_STR_MAX]; /* "127.0.0.1:9001", "[::1]:0" */
  struct sockaddr_storage listen_addr[BE_MAX_LISTEN]; /* the same, parsed (port 0 allowed) */
  socklen_t listen_addr_len[BE_MAX_LISTEN];
  int n_listen;
  char name[BE_NAME_MAX + 1]; /* [A-Za-z0-9._:-]: safe in JSON and in a header as is */
  unsigned delay_min_ms;      /* --delay-ms N (min = max = N) or MIN-MAX */
  unsigned delay_max_ms;
  double fail_rate; /* 0..1: fraction of /my-app/data answered 500 */
  int admin;        /* POST /admin/health enabled (loopback peers only) */
  int start_down;   /* start with /health answering 503 */
  int workers;      /* event-loop threads sharing the ports with SO_REUSEPORT */
  int log_format;   /* jc_log_format */
  int log_level;    /* jc_log_level (diagnostics on stderr) */
  int access_log;   /* one line per request on stdout */
  unsigned max_header_bytes;   /* request line + headers; above: 431 */
  unsigned max_body_bytes;     /* request body read and discarded; above: 413 */
  unsigned idle_timeout_ms;    /* keep-alive connection with no request in progress */
  unsigned request_timeout_ms; /* a started request must be complete within this: else 408 */
  unsigned drain_timeout_ms;   /* SIGTERM: in-flight requests get this long, then are cut */
  unsigned ws_max_message_bytes; /* a larger WebSocket message: close 1009 */
  unsigned ws_idle_timeout_ms;   /* a WebSocket with no traffic this long: close 1001 */
  char record[BE_LISTEN_STR_MAX]; /* --record FILE: every byte received appended raw ("" none) */
} be_options;

/* Defaults: everything except --listen and --name. */
void be_options_defaults(be_options *o);

/* Parses argv (argv[0] skipped). Returns 0 when the options are usable, 1 when --help or
 * --version was asked (*what set to "help" or "version"), -1 with a reason in err. */
int be_options_parse(be_options *o, int argc, char **argv, const char **what, char *err,
                     size_t errlen);

/* Parses "50" or "20-80" (milliseconds, 0..600000, min <= max). 0 or -1. */
int be_delay_parse(const char *s, unsigned *min_ms, unsigned *max_ms);

void be_options_usage(FILE *f);

#endif
