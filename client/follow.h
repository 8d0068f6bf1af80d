/* One invocation around jn_run: -L follows redirects (each hop a request of its own: DNS,
 * connection, TLS, with RFC 9110's method rules) and --retry repeats a request that failed in a
 * way worth repeating (never one that may have had an effect, unless its method is idempotent).
 * Every try is kept as a jn_try for the report; the last try's run stays open for it. */
#ifndef JOURNEY_CLIENT_FOLLOW_H
#define JOURNEY_CLIENT_FOLLOW_H

#include "client/run.h"

/* Redirect statuses -L follows, and the method of the next hop (RFC 9110 15.4: 303 turns
 * anything but HEAD into GET; 301 and 302 turn POST into GET, as browsers and curl do; 307 and
 * 308 keep the method and the body). Pure. Returns 1 with *method and *keep_body set, else 0. */
int jn_follow_method(int status, const char *method, const char **next, int *keep_body);
/* Whether a failed try is worth repeating with --retry (curl's transient errors: a timeout, or
 * 408 / 429 / 500 / 502 / 503 / 504), and safe to: a request that may have reached the server is
 * repeated only when its method is idempotent. Pure. */
int jn_retry_worth(int exit_code, const char *failed_phase, int status, const char *method);

/* Runs the invocation. *run is the last try's run (the caller reports and frees it); *shown the
 * result to report, its curl times summed over the hops as curl does. Returns the exit code. */
int jn_follow(uv_loop_t *loop, const jn_opts *o, jn_run *run, jn_tries *tries, jn_result **shown);

#endif
