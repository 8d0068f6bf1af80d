/* journey-backend routing and response building: PURE functions (no I/O, no clock, no random:
 * the server passes the random draws in), so tests/unit/test_backend_routes.c covers every
 * decision and every byte of the responses.
 *
 *   be_route():          request -> decision (status, body kind, Allow, delay, health change)
 *   be_error_decision(): the decision for errors the server detects itself (400, 408, 413, ...)
 *   be_response_build(): decision + request -> the complete response bytes, written into the
 *                        caller's buffer with no allocation */
#ifndef JOURNEY_BACKEND_ROUTES_H
#define JOURNEY_BACKEND_ROUTES_H

#include <stddef.h>
#include <sys/types.h>

#define BE_PATH_DATA "/my-app/data"
#define BE_PATH_HEALTH "/health"
#define BE_PATH_ADMIN_HEALTH "/admin/health"

/* Largest response be_response_build can produce: headers with the longest echoed request id
 * plus a body with the longest X-Forwarded-For escaped. Callers reserve this much. */
#define BE_REQUEST_ID_MAX 200 /* longer X-Request-Id values are cut (and still echoed) */
#define BE_XFF_MAX 512        /* longer X-Forwarded-For values are cut */
#define BE_RESPONSE_MAX 8192

typedef enum { BE_GET, BE_HEAD, BE_POST, BE_OTHER_METHOD } be_method;
typedef enum { BE_BODY_TEXT, BE_BODY_DATA } be_body_kind;
typedef enum { BE_HEALTH_KEEP, BE_HEALTH_SET_UP, BE_HEALTH_SET_DOWN } be_health_change;

/* What the server parsed; the pointers stay the caller's. A NULL request_id/xff means the
 * header was absent. */
typedef struct be_request {
  be_method method;
  const char *method_name; /* for the JSON body, e.g. "GET" */
  const char *target;      /* request-target as received, e.g. "/my-app/data?x=1" */
  size_t target_len;
  const char *request_id;
  size_t request_id_len;
  const char *xff;
  size_t xff_len;
  const char *body; /* the first bytes of the body (enough for "down\r\n") */
  size_t body_len;
  int body_complete; /* body_len is the whole body */
  int http_minor;    /* 1.0 or 1.1 */
  int peer_loopback; /* the TCP peer is 127.0.0.0/8 or ::1 */
} be_request;

/* The server's state when the request arrives. */
typedef struct be_state {
  int healthy;
  int admin;        /* --admin given */
  double fail_rate; /* --fail-rate */
  double fail_draw; /* uniform in [0,1): 500 when fail_draw < fail_rate */
} be_state;

typedef struct be_decision {
  int status;
  be_body_kind body;
  const char *text;  /* BE_BODY_TEXT: the body (static string) */
  const char *allow; /* 405: the Allow header value; NULL otherwise */
  const char *headers; /* more header lines, each ending in CRLF (426: what to upgrade to) */
  int delayed;       /* apply --delay-ms before answering */
  int close;         /* close the connection after this response (errors) */
  be_health_change health;
} be_decision;

/* Per-listener identity, formatted once at start-up. */
typedef struct be_identity {
  char name[72];
  char json_head[512]; /* {"backend":"b1","listen":"127.0.0.1:9001", */
  size_t json_head_len;
  char name_header[96]; /* X-Backend: b1\r\n */
  size_t name_header_len;
} be_identity;

/* How this response goes on the wire. */
typedef struct be_response_meta {
  int keep_alive;     /* the connection stays open after it */
  const char *date;   /* IMF-fixdate, 29 characters */
  const char *client; /* the peer address as the server saw it, "127.0.0.1:50000" */
} be_response_meta;

/* The path of a request-target: origin-form "/a?q" -> "/a", absolute-form "http://h/a?q" -> "/a"
 * (RFC 9112 3.2.2: servers must accept both). */
void be_target_path(const char *target, size_t n, const char **path, size_t *len);

/* Parses the request and the state into a decision. */
void be_route(const be_request *rq, const be_state *st, be_decision *d);

/* The decision for a status the server found itself: 400, 408, 413, 431, 505 (close = 1). */
void be_error_decision(int status, be_decision *d);

/* 0, or -1 if the name or address does not fit. */
int be_identity_init(be_identity *id, const char *name, const char *listen_addr);

/* Writes the whole response (status line, headers, body unless HEAD) into out. Returns its
 * length, or -1 if cap is too small (cap >= BE_RESPONSE_MAX always suffices). */
ssize_t be_response_build(char *out, size_t cap, const be_decision *d, const be_request *rq,
                          const be_identity *id, const be_response_meta *m);

/* Reason phrase for a status ("Not Found"); "Unknown" for others. */
const char *be_status_reason(int status);

/* Picks a delay in [min,max] from a uniform draw in [0,1). */
unsigned be_delay_pick(unsigned min_ms, unsigned max_ms, double draw);

/* Writes s as the inside of a JSON string (no quotes): escapes quotes, backslashes, control
 * bytes and, so the output is valid UTF-8 whatever the input, bytes >= 0x80 as \u00XX.
 * Returns the length written, or -1 if cap is too small. */
ssize_t be_json_escape(char *out, size_t cap, const char *s, size_t n);

#endif
