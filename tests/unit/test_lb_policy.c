/* lb/core: the pure decisions of the data plane, table-driven.
 *  - request policy: one status per first failing rule, in the order users see
 *    (501 -> request check -> 400 -> 413 -> 404 -> 431), else the pool and the forwarded head;
 *  - retry policy: method x bytes sent x failure kind -> same server on a fresh connection,
 *    next server, 502, 503, 504 (RFC 9110 9.2.2: a non-idempotent request is never replayed
 *    once its bytes may have reached a backend);
 *  - framing: request, response as received, and as relayed to the client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <llhttp.h>
#include <string.h>

#include "lb/core/framing.h"
#include "lb/core/request_policy.h"
#include "lb/core/retry_policy.h"
#include "h1_head.h"

/* ---- request policy ---- */

static lb_config cfg;
enum { APP = 1 }; /* pool 0 is the default pool (no servers here) */

static int setup(void **state) {
  (void)state;
  char err[256];
  lb_config_defaults(&cfg);
  const char *set[][3] = {
      {"", "listen", "http://127.0.0.1:8080"},
      {"", "max-body-size", "1k"},
      {"pool app", "backend", "b1=127.0.0.1:9001"},
      {"pool app", "route", "/app/"},
  };
  for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
    if (lb_config_set(&cfg, set[i][0], set[i][1], set[i][2], "test", err, sizeof err) != 0)
      fail_msg("%s", err);
  if (lb_config_finish(&cfg, err, sizeof err) != 0)
    fail_msg("%s", err);
  return 0;
}

/* Parses raw with the HTTP/1 codec and asks the policy. */
static void decide(const char *raw, char *out, size_t cap, lb_request_verdict *v) {
  static h1_head c;
  assert_int_equal(h1_parse_head(&c, raw, strlen(raw)), HPE_PAUSED);
  llhttp_t *p = &c.p;
  int host = 0;
  for (uint32_t i = 0; i < c.r.nhdrs; i++)
    host |= LB_HEADER_IS(c.h[i].name, c.h[i].name_len, "host");
  lb_forward_info fi = {.client_ip = "192.0.2.7", .proto = "https", .via = "journey-lb"};
  lb_request_in in = {
      .head = {raw, c.end, c.r.url, c.r.url_len, p->http_major, p->http_minor,
               p->method == HTTP_OPTIONS, c.h, c.r.nhdrs, 1},
      .method = llhttp_method_name((llhttp_method_t)p->method),
      .is_connect = p->method == HTTP_CONNECT,
      .has_host = host,
      .framing = lb_request_framing((p->flags & F_CHUNKED) != 0,
                                    (p->flags & F_CONTENT_LENGTH) != 0, p->content_length),
      .content_length = p->content_length,
      .fwd = &fi,
  };
  in.method_len = strlen(in.method);
  lb_request_decide(&in, &cfg, out, cap, v);
}

static void request_policy_table(void **state) {
  (void)state;
  static const struct {
    const char *raw;
    size_t cap; /* room for the forwarded head */
    int status, pool;
    const char *term;
  } t[] = {
      {"GET /app/x HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, APP, NULL},
      {"GET /app/x?q=/other HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, APP, NULL},
      {"GET /app/x HTTP/1.0\r\n\r\n", 4096, 0, APP, NULL}, /* no Host needed in 1.0 */
      /* 501 comes first, even without Host */
      {"CONNECT a:443 HTTP/1.1\r\n\r\n", 4096, 501, -1, "bad-method"},
      /* the request check (400) before the missing Host (400 too, another reason) */
      {"GET /app/x HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 4096, 400, -1, "bad-request"},
      {"GET /app/x HTTP/1.1\r\n\r\n", 4096, 400, -1, "bad-request"},
      /* 413 on a declared length before routing: even on an unknown path */
      {"POST /nowhere HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n", 4096, 413, -1,
       "body-too-large"},
      {"POST /app/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\n\r\n", 4096, 0, APP, NULL},
      {"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 404, -1, "no-route"},
      /* 431 last: routed, but the forwarded head does not fit */
      {"GET /app/x HTTP/1.1\r\nHost: a\r\n\r\n", 40, 431, APP, "header-too-large"},
      {"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n", 40, 404, -1, "no-route"},
  };
  char out[4096];
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    lb_request_verdict v;
    decide(t[i].raw, out, t[i].cap, &v);
    if (v.status != t[i].status || v.pool != t[i].pool)
      fail_msg("row %zu: status %d pool %d, want %d %d", i, v.status, v.pool, t[i].status,
               t[i].pool);
    if (t[i].term)
      assert_string_equal(v.term, t[i].term);
    if (!v.status) {
      assert_true(v.head_len > 0);
      assert_non_null(memmem(out, v.head_len, "X-Forwarded-For: 192.0.2.7\r\n", 28));
    } else {
      assert_non_null(v.why);
      assert_int_equal(v.keep_alive, v.status == 404);
    }
  }
}

/* Targets: absolute-form (the authority is the Host), the normalised path routes and goes to
 * the backend (or the path as received with normalize-path = off), the methods allow-list. */
static void target_policy_table(void **state) {
  (void)state;
  static const struct {
    const char *raw, *methods;
    int as_received, status, pool;
    const char *line, *host; /* the forwarded request line and Host line */
  } t[] = {
      {"GET http://www.my-app.com/app/x?q HTTP/1.1\r\nHost: other\r\n\r\n", "", 0, 0, APP,
       "GET /app/x?q HTTP/1.1\r\n", "\r\nHost: www.my-app.com\r\n"},
      {"GET HTTP://www.my-app.com:8443 HTTP/1.1\r\nHost: x\r\n\r\n", "", 0, 404, -1, NULL, NULL},
      {"GET /app/../private/key.txt HTTP/1.1\r\nHost: a\r\n\r\n", "", 0, 404, -1, NULL, NULL},
      {"GET /app/%2e%2e/private HTTP/1.1\r\nHost: a\r\n\r\n", "", 0, 404, -1, NULL, NULL},
      {"GET /x/../app/./y//z HTTP/1.1\r\nHost: a\r\n\r\n", "", 0, 0, APP,
       "GET /app/y/z HTTP/1.1\r\n", "\r\nHost: a\r\n"},
      {"GET /x/../app/./y//z?a=/../b HTTP/1.1\r\nHost: a\r\n\r\n", "", 1, 0, APP,
       "GET /x/../app/./y//z?a=/../b HTTP/1.1\r\n", "\r\nHost: a\r\n"},
      {"GET /%61pp/x HTTP/1.1\r\nHost: a\r\n\r\n", "", 0, 0, APP, "GET /app/x HTTP/1.1\r\n", NULL},
      {"GET /app/..%2Fprivate HTTP/1.1\r\nHost: a\r\n\r\n", "", 0, 400, -1, NULL, NULL},
      {"GET /.. HTTP/1.1\r\nHost: a\r\n\r\n", "", 0, 400, -1, NULL, NULL},
      {"GET /app/x HTTP/1.1\r\nHost: a\r\n\r\n", "GET, HEAD", 0, 0, APP, NULL, NULL},
      {"POST /app/x HTTP/1.1\r\nHost: a\r\n\r\n", "GET, HEAD", 0, 501, -1, NULL, NULL},
  };
  char out[4096], err[200];
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    cfg.req.path_as_received = t[i].as_received;
    cfg.req.methods[0] = 0;
    if (t[i].methods[0] && lb_config_set(&cfg, "", "methods", t[i].methods, "test", err, sizeof err))
      fail_msg("%s", err);
    lb_request_verdict v;
    decide(t[i].raw, out, sizeof out, &v);
    if (v.status != t[i].status || v.pool != t[i].pool)
      fail_msg("row %zu: status %d pool %d (%s), want %d %d", i, v.status, v.pool,
               v.why ? v.why : "-", t[i].status, t[i].pool);
    if (t[i].line && (v.head_len < strlen(t[i].line) || memcmp(out, t[i].line, strlen(t[i].line))))
      fail_msg("row %zu: forwarded %.*s", i, (int)v.head_len, out);
    if (t[i].line && !t[i].as_received) { /* the path routes saw is the one forwarded */
      const char *sp = strchr(t[i].line, ' ') + 1;
      assert_memory_equal(v.path, sp, v.path_len);
      assert_int_equal(sp[v.path_len], ' ');
    }
    if (t[i].host) {
      assert_non_null(memmem(out, v.head_len, t[i].host, strlen(t[i].host)));
      assert_null(memmem(out, v.head_len, "Host: other", 11));
    }
  }
  cfg.req.path_as_received = 0;
  cfg.req.methods[0] = 0;
}

/* ---- retry policy ---- */

enum { GET = HTTP_GET, POST = HTTP_POST, PUT = HTTP_PUT, DELETE = HTTP_DELETE,
       OTHER = LB_METHOD_OTHER };

static void retry_policy_table(void **state) {
  (void)state;
  static const struct {
    int method, sent, body;
    lb_fail_kind kind;
    int fresh_retried, retries_left, next_available, started;
    lb_retry_action want;
  } t[] = {
      /* nothing sent: any method goes to the next server; none left: 503; no retries: 502/504 */
      {POST, 0, 1, LB_FAIL_CONNECT, 0, 1, 1, 0, LB_RETRY_NEXT},
      {POST, 0, 0, LB_FAIL_CONNECT, 0, 1, 0, 0, LB_RETRY_503},
      {GET, 0, 0, LB_FAIL_CONNECT, 0, 0, 1, 0, LB_RETRY_502},
      {GET, 0, 0, LB_FAIL_CONNECT_TIMEOUT, 0, 1, 1, 0, LB_RETRY_NEXT},
      {GET, 0, 0, LB_FAIL_CONNECT_TIMEOUT, 0, 0, 1, 0, LB_RETRY_504},
      /* a stale pooled connection: an idempotent bodyless request once more on a fresh one */
      {GET, 1, 0, LB_FAIL_STALE, 0, 1, 1, 0, LB_RETRY_SAME_FRESH},
      {DELETE, 1, 0, LB_FAIL_STALE, 0, 0, 0, 0, LB_RETRY_SAME_FRESH},
      {GET, 1, 0, LB_FAIL_STALE, 1, 1, 1, 0, LB_RETRY_NEXT}, /* the fresh one failed too */
      {GET, 1, 0, LB_FAIL_STALE, 1, 1, 0, 0, LB_RETRY_503},
      /* the replay bug: a bodyless POST whose head went out is never sent again */
      {POST, 1, 0, LB_FAIL_STALE, 0, 1, 1, 0, LB_RETRY_502},
      {POST, 1, 0, LB_FAIL_CLOSED, 0, 1, 1, 0, LB_RETRY_502},
      /* a method llhttp does not know (QUERY, custom): not idempotent as far as the LB knows */
      {OTHER, 1, 0, LB_FAIL_STALE, 0, 1, 1, 0, LB_RETRY_502},
      {OTHER, 1, 0, LB_FAIL_CLOSED, 0, 1, 1, 0, LB_RETRY_502},
      {OTHER, 0, 0, LB_FAIL_CONNECT, 0, 1, 1, 0, LB_RETRY_NEXT},
      /* a body already relayed is gone: no replay even for PUT */
      {PUT, 1, 1, LB_FAIL_STALE, 0, 1, 1, 0, LB_RETRY_502},
      {PUT, 1, 1, LB_FAIL_CLOSED, 0, 1, 1, 0, LB_RETRY_502},
      {PUT, 1, 0, LB_FAIL_CLOSED, 0, 1, 1, 0, LB_RETRY_NEXT},
      /* closed before any response byte on a fresh connection: idempotent -> next server */
      {GET, 1, 0, LB_FAIL_CLOSED, 0, 1, 1, 0, LB_RETRY_NEXT},
      {GET, 1, 0, LB_FAIL_CLOSED, 0, 0, 1, 0, LB_RETRY_502},
      {GET, 1, 0, LB_FAIL_CLOSED, 0, 1, 0, 0, LB_RETRY_503},
      /* a response that does not come in time is never replayed: 504 */
      {GET, 1, 0, LB_FAIL_RESPONSE_TIMEOUT, 0, 1, 1, 0, LB_RETRY_504},
      {POST, 1, 1, LB_FAIL_RESPONSE_TIMEOUT, 0, 1, 1, 0, LB_RETRY_504},
      /* response bytes came (invalid, or cut before the head ended): 502 */
      {GET, 1, 0, LB_FAIL_BAD_RESPONSE, 0, 1, 1, 0, LB_RETRY_502},
      /* once the client has response bytes, only closing it tells the truth */
      {GET, 1, 0, LB_FAIL_BAD_RESPONSE, 0, 1, 1, 1, LB_RETRY_ABORT},
      {GET, 1, 0, LB_FAIL_RESPONSE_TIMEOUT, 0, 1, 1, 1, LB_RETRY_ABORT},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    lb_retry_facts f = {
        .kind = t[i].kind,
        .idempotent = lb_method_idempotent(t[i].method),
        .sent = t[i].sent,
        .has_body = t[i].body,
        .fresh_retried = t[i].fresh_retried,
        .retries_left = t[i].retries_left,
        .response_started = t[i].started,
    };
    lb_retry_action a = lb_retry_decide(&f, t[i].next_available);
    if (a != t[i].want)
      fail_msg("row %zu: action %d, want %d", i, (int)a, (int)t[i].want);
    /* the caller looks for another server exactly when the answer may be NEXT or 503 */
    int next_or_503 = t[i].want == LB_RETRY_NEXT || t[i].want == LB_RETRY_503;
    if (next_or_503)
      assert_true(lb_retry_wants_next(&f));
    if (t[i].want == LB_RETRY_SAME_FRESH || t[i].want == LB_RETRY_ABORT)
      assert_false(lb_retry_wants_next(&f));
  }
  assert_true(lb_method_idempotent(HTTP_HEAD) && lb_method_idempotent(HTTP_OPTIONS));
  assert_false(lb_method_idempotent(HTTP_PATCH) || lb_method_idempotent(HTTP_POST));
  assert_false(lb_method_idempotent(LB_METHOD_OTHER) || lb_method_idempotent(HTTP_PROPPATCH));
}

/* ---- framing ---- */

static void framing_table(void **state) {
  (void)state;
  assert_int_equal(lb_request_framing(1, 0, 0), LB_FRAME_CHUNKED);
  assert_int_equal(lb_request_framing(0, 1, 5), LB_FRAME_LENGTH);
  assert_int_equal(lb_request_framing(0, 1, 0), LB_FRAME_NONE);
  assert_int_equal(lb_request_framing(0, 0, 0), LB_FRAME_NONE);
  static const struct {
    int status, head, chunked, has_len;
    uint64_t len;
    lb_framing want;
  } r[] = {
      {200, 0, 0, 1, 10, LB_FRAME_LENGTH},  {200, 0, 1, 0, 0, LB_FRAME_CHUNKED},
      {200, 0, 0, 0, 0, LB_FRAME_CLOSE},    {200, 0, 0, 1, 0, LB_FRAME_NONE},
      {200, 1, 1, 0, 0, LB_FRAME_NONE},     {204, 0, 0, 0, 0, LB_FRAME_NONE},
      {304, 0, 0, 1, 10, LB_FRAME_NONE},    {100, 0, 0, 0, 0, LB_FRAME_NONE},
      {101, 0, 0, 0, 0, LB_FRAME_NONE},     {404, 0, 0, 0, 0, LB_FRAME_CLOSE},
  };
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
    if (lb_response_framing(r[i].status, r[i].head, r[i].chunked, r[i].has_len, r[i].len) !=
        r[i].want)
      fail_msg("response row %zu", i);
  /* The relay plan: the framing the client gets, decided from the facts alone (a Connection
   * header naming Content-Length is not a fact here: it can never drop the framing). */
#define L LB_FRAME_LENGTH
#define C LB_FRAME_CHUNKED
#define X LB_FRAME_CLOSE
#define N LB_FRAME_NONE
  static const struct {
    lb_response_facts f; /* backend, status, head, chunked, te_other, minor, reusable */
    lb_relay_plan want;  /* client, dechunk, keep_alive, drop_length, refuse */
  } p[] = {
      {{L, 200, 0, 0, 0, 1, 1}, {L, 0, 1, 0, 0}},
      {{L, 200, 0, 0, 0, 1, 0}, {L, 0, 0, 0, 0}},
      {{C, 200, 0, 1, 0, 1, 1}, {C, 0, 1, 1, 0}},
      /* an HTTP/1.0 client cannot read chunks: decoded, delimited by the close */
      {{C, 200, 0, 1, 0, 0, 1}, {X, 1, 0, 1, 0}},
      /* no length and no chunks: close-delimited, never kept alive */
      {{X, 200, 0, 0, 0, 1, 1}, {X, 0, 0, 1, 0}},
      {{X, 200, 0, 0, 0, 0, 1}, {X, 0, 0, 1, 0}},
      /* HEAD announces what a GET would get: its Content-Length stays */
      {{N, 200, 1, 1, 0, 1, 1}, {C, 0, 1, 1, 0}},
      {{N, 200, 1, 1, 0, 0, 1}, {N, 0, 1, 0, 0}},
      {{N, 200, 1, 0, 0, 1, 1}, {N, 0, 1, 0, 0}},
      {{N, 200, 0, 0, 0, 1, 1}, {N, 0, 1, 0, 0}},
      /* 204 and 1xx never carry a Content-Length (RFC 9110 8.6); 304 keeps the GET's */
      {{N, 204, 0, 0, 0, 1, 1}, {N, 0, 1, 1, 0}},
      {{N, 204, 0, 0, 0, 0, 1}, {N, 0, 1, 1, 0}},
      {{N, 100, 0, 0, 0, 1, 1}, {N, 0, 1, 1, 0}},
      {{N, 103, 0, 0, 0, 1, 1}, {N, 0, 1, 1, 0}},
      {{N, 304, 0, 0, 0, 1, 1}, {N, 0, 1, 0, 0}},
      /* a coding the LB does not decode (gzip, chunked; gzip alone; chunked twice): 502 */
      {{C, 200, 0, 1, 1, 1, 1}, {C, 0, 0, 0, 1}},
      {{X, 200, 0, 0, 1, 1, 1}, {X, 0, 0, 0, 1}},
      {{C, 200, 0, 1, 1, 0, 1}, {C, 0, 0, 0, 1}},
  };
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
    lb_relay_plan got = lb_response_plan(&p[i].f);
    if (got.client != p[i].want.client || got.dechunk != p[i].want.dechunk ||
        got.keep_alive != p[i].want.keep_alive || got.drop_length != p[i].want.drop_length ||
        got.refuse != p[i].want.refuse)
      fail_msg("plan row %zu: %d %d %d %d %d", i, got.client, got.dechunk, got.keep_alive,
               got.drop_length, got.refuse);
  }
#undef L
#undef C
#undef X
#undef N
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(request_policy_table, setup),
      cmocka_unit_test_setup(target_policy_table, setup),
      cmocka_unit_test(retry_policy_table),
      cmocka_unit_test(framing_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
