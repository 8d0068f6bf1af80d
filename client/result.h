/* Everything one request's journey found, phase by phase: filled by the I/O modules (dns.c,
 * netpath.c, tcp.c, tls_client.c, http.c), read by report.c. Plain data, fixed size, no pointers
 * to free. Durations and offsets in microseconds from the monotonic clock. */
#ifndef JOURNEY_CLIENT_RESULT_H
#define JOURNEY_CLIENT_RESULT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client/lb_info.h"
#include "client/url.h"

#define JN_ADDR_MAX 16
#define JN_ATTEMPT_MAX 8
#define JN_DNS_STEPS 6

/* curl's exit codes, reused because users know them. */
enum {
  JN_EXIT_OK = 0,
  JN_EXIT_USAGE = 2,
  JN_EXIT_URL = 3,
  JN_EXIT_DNS = 6,
  JN_EXIT_CONNECT = 7,
  JN_EXIT_WEIRD_REPLY = 8,
  JN_EXIT_HTTP2 = 16,
  JN_EXIT_HTTP = 22,
  JN_EXIT_WRITE = 23,
  JN_EXIT_TIMEOUT = 28,
  JN_EXIT_TLS = 35,
  JN_EXIT_TOO_MANY_REDIRECTS = 47,
  JN_EXIT_EMPTY_REPLY = 52,
  JN_EXIT_RECV = 56,
  JN_EXIT_CLIENT_CERT = 58,
  JN_EXIT_CERT = 60,
  JN_EXIT_ENCODING = 61,
  JN_EXIT_CACERT = 77,
  JN_EXIT_HTTP2_STREAM = 92
};

typedef struct jn_dns_step {
  char source[16]; /* "cache", "hosts", "server", "pinned", "literal", "os-cache" */
  char result[16]; /* "hit", "miss", "skipped", "error" */
  char detail[256];
  uint64_t us;
} jn_dns_step;

typedef struct jn_dns_answer {
  int family; /* 4 or 6 */
  char addr[64];
  long ttl; /* seconds; -1 when unknown (hosts file, pinned) */
} jn_dns_answer;

typedef struct jn_attempt {
  char addr[64]; /* "ip:port" */
  char result[16]; /* "connected", "refused", "timeout", "error", "abandoned" */
  char error[128];
  uint64_t start_us; /* offset from the start of the TCP phase */
  uint64_t us;
} jn_attempt;

/* HTTP/2 (h2.c): one frame as it crossed the connection, sent or received. */
#define JN_H2_FRAMES_MAX 48
#define JN_H2_SETTINGS_MAX 8

typedef struct jn_h2_frame {
  uint64_t t_us;   /* on the request's clock (like t_starttransfer) */
  uint32_t length; /* payload bytes (the 9-byte frame header not counted) */
  int32_t stream;  /* 0: the connection */
  uint8_t type;    /* RFC 9113 frame type */
  uint8_t flags;
  uint8_t sent;    /* 1: journey sent it, 0: the server did */
  uint32_t detail; /* WINDOW_UPDATE increment, RST_STREAM / GOAWAY error code */
  uint32_t count;  /* consecutive DATA frames of one stream and direction, merged into one row */
  uint64_t t_last_us;
} jn_h2_frame;

typedef struct jn_h2_info {
  int used;          /* the request went over HTTP/2 */
  int prior_knowledge; /* cleartext HTTP/2 without negotiation (--http2 on http://), else ALPN h2 */
  int32_t stream_id;
  int settings_n;    /* the server's SETTINGS (its first frame) */
  struct { uint16_t id; uint32_t value; } settings[JN_H2_SETTINGS_MAX];
  uint32_t req_hpack, req_raw;   /* request header block: HPACK bytes vs "name: value\r\n" bytes */
  uint32_t resp_hpack, resp_raw; /* the same for the response */
  int frame_n;       /* kept in frames[] */
  uint32_t frames_total; /* all frames of the exchange, kept or not */
  jn_h2_frame frames[JN_H2_FRAMES_MAX];
  int streams_on_conn; /* streams this connection carried at most at once (the run's setting) */
} jn_h2_info;

typedef struct jn_result {
  int exit_code;
  char error[512];
  char failed_phase[8];

  /* 1. url */
  uint64_t url_us;
  jn_url url;
  char method[16];
  char request[8192];
  size_t request_len;

  /* 2. dns */
  uint64_t dns_us;
  uint64_t dns_setup_us; /* starting the resolver (c-ares reads resolv.conf): outside curl's clock */
  char dns_source[16]; /* the source that answered */
  size_t dns_step_n;
  jn_dns_step dns_steps[JN_DNS_STEPS];
  char dns_server[64];  /* "ip:port" of the server that answered, "" otherwise */
  size_t cname_n;
  char cname[4][128];   /* the chain from the asked name to the canonical one */
  size_t answer_n;
  jn_dns_answer answers[JN_ADDR_MAX];

  char connect_to[300]; /* the --connect-to rule that sent the connection elsewhere */

  /* 3. route (netlink) */
  uint64_t route_us;
  int route_ok;
  char route_error[256];
  char route_type[16]; /* "local", "unicast", ... */
  int loopback;
  char oif[32];
  char if_mac[24];
  char gateway[64];  /* "" when on-link */
  char prefsrc[64];
  char nexthop[64];  /* gateway or the destination itself */
  int neigh_checked; /* 0 when there is no neighbour step (loopback, failure) */
  char neigh_state_before[24];
  char neigh_state[24];
  char neigh_mac[24];
  int neigh_hit; /* 1 entry usable before connect, 0 had to be resolved */
  int ip_ttl;    /* TTL / hop limit the socket sends with */
  int src_private;
  char nat_note[160];

  /* 4. tcp */
  uint64_t tcp_us;
  int tcp_reused; /* kept-alive connection: no connect */
  char local[64];
  char remote[64];
  size_t attempt_n;
  jn_attempt attempts[JN_ATTEMPT_MAX];
  uint32_t rtt_us, rttvar_us, mss, cwnd, retrans;

  /* 4b. proxy (-x): an HTTP proxy; for https a CONNECT tunnel */
  int proxy_used;
  char proxy[300];  /* "host:port" as configured */
  uint64_t proxy_us; /* CONNECT sent -> the proxy's answer */

  /* 5. tls */
  uint64_t tls_us;       /* context setup (first connection only) + handshake, as curl counts it */
  uint64_t tls_setup_us; /* CA store and SSL_CTX, made after connect on the run's first connection */
  int tls_used;
  int tls_insecure;
  int tls_resumed;
  char sni[256];
  char alpn[32];
  char tls_version[16];
  char cipher[64];
  char group[32];
  char cert_subject[256];
  char cert_issuer[256];
  char cert_sans[512];
  char cert_not_before[32];
  char cert_not_after[32];
  int chain_len;
  int verified;        /* chain and name verified */
  char verify_result[160];
  char verify_name[256]; /* the name (or IP) checked against the certificate */
  long verify_code;      /* OpenSSL's X509_V_* result (curl's ssl_verify_result) */
  int client_cert;       /* a client certificate was offered (--cert) */

  /* 6. http */
  uint64_t http_us;
  uint64_t server_us;   /* request sent -> first response byte */
  uint64_t transfer_us; /* first byte -> last byte */
  int status;
  char reason[64];
  char http_version[8];
  char resp_headers[8192]; /* "Name: value\n" lines, for -v and --json */
  size_t header_bytes;    /* "Name: value\n" lines as kept */
  uint64_t header_wire_bytes; /* status line, headers and CRLFs as received (curl's size_header) */
  int header_n;
  char content_type[128];
  char location[1024];    /* the Location header, as received */
  uint64_t body_bytes;    /* as received */
  uint64_t body_decoded;  /* after Content-Encoding decoding */
  char transfer_mode[24]; /* "content-length", "chunked", "close-delimited", "none" */
  char content_encoding[32];
  char encoding_note[96];
  int keepalive_ok;     /* the server keeps the connection open */
  jn_h2_info h2;        /* HTTP/2: frames, SETTINGS, HPACK sizes */

  uint64_t upload_bytes; /* request body sent (-d, --data-binary) */
  int num_connects;       /* connections opened for this request (0: kept alive) */
  int proxy_status;       /* -x: the proxy's answer to CONNECT (curl's http_connect) */

  /* 8. path (--trace-path): the routers on the way, after the request */
  struct jn_path {
    int probed;
    int reached;     /* the destination answered */
    int hop_n;
    struct jn_path_hop {
      int ttl;
      char addr[64];  /* "" when no answer came in time */
      uint32_t rtt_us;
      char kind[16];  /* "router", "destination", "no-answer" */
    } hops[32];
    char note[192];
  } path;

  /* 7. lb */
  jn_lb_info lb;

  /* -L: the hops before this one (curl's num_redirects, time_redirect) and the URL as given */
  int num_redirects;
  uint64_t t_redirect;
  char url_given[1024];

  /* curl's cumulative times, microseconds on curl's clock: from the start of the request (after
   * the URL phase), not counting journey's own work that curl does not do (resolver setup, the
   * route look-up); docs/client-json.md says what starts and stops each. */
  uint64_t t_namelookup, t_connect, t_appconnect, t_pretransfer, t_starttransfer, t_total;
  uint64_t t_request; /* journey's HTTP phase starts (the request is about to be written) */
} jn_result;

/* -L hops and --retry attempts (follow.c), each summed up for the report. */
#define JN_TRIES_MAX 64

typedef struct jn_try {
  char kind[12]; /* "request", "redirect" (a hop after a 3xx), "retry" */
  char url[1024];
  char method[16];
  int status, exit_code;
  char remote[64];
  uint64_t start_us; /* from the first try's start */
  uint64_t wait_us;  /* --retry: the pause before this try */
  uint64_t dns_us, route_us, tcp_us, tls_us, server_us, transfer_us, total_us;
  char http_version[8], reason[64];
  char headers[8192]; /* the response's header lines: -i and -v show every hop's */
} jn_try;

typedef struct jn_tries {
  size_t n;
  int retries;
  jn_try t[JN_TRIES_MAX];
} jn_tries;

/* Copies src into dst (cap bytes), truncating; always NUL-terminated. */
static inline void jn_strlcpy(char *dst, const char *src, size_t cap) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = 0;
}

#endif
