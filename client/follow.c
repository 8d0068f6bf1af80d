#include "client/follow.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"

int jn_follow_method(int status, const char *method, const char **next, int *keep_body) {
  switch (status) {
  case 301:
  case 302:
    *keep_body = strcmp(method, "POST") != 0;
    *next = *keep_body ? method : "GET";
    return 1;
  case 303:
    *keep_body = 0;
    *next = strcmp(method, "HEAD") == 0 ? "HEAD" : "GET";
    return 1;
  case 307:
  case 308:
    *keep_body = 1;
    *next = method;
    return 1;
  default:
    return 0;
  }
}

static int idempotent(const char *m) {
  static const char *const ok[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strcmp(m, ok[i]) == 0)
      return 1;
  return 0;
}

int jn_retry_worth(int exit_code, const char *failed_phase, int status, const char *method) {
  int sent = !(strcmp(failed_phase, "dns") == 0 || strcmp(failed_phase, "route") == 0 ||
               strcmp(failed_phase, "tcp") == 0 || strcmp(failed_phase, "tls") == 0);
  if (exit_code == JN_EXIT_TIMEOUT)
    return !sent || idempotent(method);
  if (exit_code && exit_code != JN_EXIT_HTTP)
    return 0;
  int transient = status == 408 || status == 429 || status == 500 || status == 502 ||
                  status == 503 || status == 504;
  return transient && idempotent(method);
}

static void keep_try(jn_tries *tries, const jn_result *r, const char *kind, uint64_t start,
                     uint64_t wait) {
  if (tries->n == JN_TRIES_MAX)
    return;
  jn_try *t = &tries->t[tries->n++];
  memset(t, 0, sizeof *t);
  jn_strlcpy(t->kind, kind, sizeof t->kind);
  jn_url_format(&r->url, t->url, sizeof t->url);
  jn_strlcpy(t->method, r->method, sizeof t->method);
  jn_strlcpy(t->remote, r->remote, sizeof t->remote);
  t->status = r->status;
  t->exit_code = r->exit_code;
  t->start_us = start;
  t->wait_us = wait;
  t->dns_us = r->dns_us;
  t->route_us = r->route_us;
  t->tcp_us = r->tcp_us;
  t->tls_us = r->tls_us;
  t->server_us = r->server_us;
  t->transfer_us = r->transfer_us;
  t->total_us = r->t_total;
  jn_strlcpy(t->http_version, r->http_version, sizeof t->http_version);
  jn_strlcpy(t->reason, r->reason, sizeof t->reason);
  jn_strlcpy(t->headers, r->resp_headers, sizeof t->headers);
}

/* As curl does: Authorization and Cookie given with -H go only to the origin they were written
 * for. A redirect to another scheme, host or port drops them (a redirect must not hand a
 * user's credentials to a server the user never named). */
static int credential_header(const char *arg) {
  static const char *const names[] = {"authorization", "cookie"};
  size_t n = strcspn(arg, ":;");
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (n == strlen(names[i]) && strncasecmp(arg, names[i], n) == 0)
      return 1;
  return 0;
}

static void drop_credentials_off_origin(jn_opts *cur, const jn_url *from, const char *to) {
  jn_url u;
  char err[128];
  if (jn_url_parse(to, &u, err, sizeof err) == 0 && strcmp(u.scheme, from->scheme) == 0 &&
      strcmp(u.host, from->host) == 0 && u.port == from->port)
    return;
  size_t kept = 0;
  for (size_t i = 0; i < cur->header_n; i++)
    if (!credential_header(cur->headers[i]))
      cur->headers[kept++] = cur->headers[i];
  cur->header_n = kept;
}

/* One try: prepare, run the loop, hand back the result to show. */
static int run_try(uv_loop_t *loop, const jn_opts *o, jn_run *run, jn_result **shown) {
  int code = jn_run_prepare(run, loop, o);
  *shown = run->first;
  if (code == 0) {
    jn_run_start(run);
    uv_run(loop, UV_RUN_DEFAULT);
    code = run->exit_code;
  } else if (run->proto) {
    run->proto->exit_code = code;
    *shown = run->proto;
  }
  if (*shown)
    (*shown)->exit_code = code;
  return code;
}

int jn_follow(uv_loop_t *loop, const jn_opts *o, jn_run *run, jn_tries *tries, jn_result **shown) {
  jn_opts cur = *o;
  char next_url[2][2048];
  int which = 0, retries_left = o->retry, redirects = 0;
  uint64_t t0 = jc_now_us(), wait = 0;
  const char *kind = "request";
  /* curl's sums over the hops of the current chain (a retry starts the chain again); each hop's
   * times are on curl's clock (run.c, conn.c): journey's own work between hops (the next URL,
   * the resolver's start, the route look-up, closing the previous hop) stays outside, as the URL
   * phase does for a single request */
  uint64_t sum[5] = {0}, sum_total = 0;
  memset(tries, 0, sizeof *tries);
  for (;;) {
    uint64_t start = jc_now_us() - t0;
    int code = run_try(loop, &cur, run, shown);
    jn_result *r = *shown;
    if (!r)
      return code;
    keep_try(tries, r, kind, start, wait);
    uint64_t *marks[5] = {&r->t_namelookup, &r->t_connect, &r->t_appconnect, &r->t_pretransfer,
                          &r->t_starttransfer};
    for (int i = 0; i < 5; i++)
      if (*marks[i])
        *marks[i] += sum[i];
    r->num_redirects = redirects;
    r->t_redirect = sum_total;
    r->t_total += sum_total;
    jn_strlcpy(r->url_given, o->url, sizeof r->url_given);

    const char *method = NULL;
    int keep_body = 0;
    int follow = o->follow && !code && r->location[0] &&
                 jn_follow_method(r->status, r->method, &method, &keep_body);
    if (follow && redirects >= o->max_redirs) {
      snprintf(r->error, sizeof r->error,
               "more than %d redirects (--max-redirs); the last pointed to %.300s", o->max_redirs,
               r->location);
      jn_strlcpy(r->failed_phase, "http", sizeof r->failed_phase);
      return r->exit_code = JN_EXIT_TOO_MANY_REDIRECTS;
    }
    int retry =
        !follow && retries_left > 0 && tries->n < JN_TRIES_MAX &&
        jn_retry_worth(code, r->failed_phase[0] ? r->failed_phase : "http", r->status, r->method);
    if ((!follow && !retry) || tries->n == JN_TRIES_MAX)
      return code;
    if (follow) {
      which ^= 1;
      jn_url_resolve(&r->url, r->location, next_url[which], sizeof next_url[which]);
      cur.url = next_url[which];
      drop_credentials_off_origin(&cur, &r->url, cur.url);
      cur.method = strcmp(method, r->method) == 0 ? cur.method : method;
      if (!keep_body) {
        cur.body = NULL;
        cur.body_len = 0;
      }
      for (int i = 0; i < 5; i++)
        sum[i] = *marks[i];
      sum_total = r->t_total;
      redirects++;
      cur.dump_append = cur.out_append = 1;
      kind = "redirect";
      wait = 0;
    } else {
      /* a retry starts again from the URL given, as curl does; 1 s, 2 s, 4 s ... or --retry-delay
       */
      retries_left--;
      tries->retries++;
      cur = *o;
      cur.dump_append = 1; /* the head file keeps every response received, as curl's does */
      redirects = 0;
      memset(sum, 0, sizeof sum);
      sum_total = 0;
      double secs = o->retry_delay > 0
                        ? o->retry_delay
                        : (double)(1u << (tries->retries - 1 > 9 ? 9 : tries->retries - 1));
      wait = (uint64_t)(secs * 1e6);
      kind = "retry";
    }
    jn_run_free(run);
    uv_run(loop, UV_RUN_DEFAULT); /* the closed handles */
    if (wait) {
      struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
      nanosleep(&ts, NULL);
    }
  }
}
