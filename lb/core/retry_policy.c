/* Retry policy (retry_policy.h): one table, no I/O. */
#include "lb/core/retry_policy.h"

#include <llhttp.h>

int lb_method_idempotent(int m) {
  return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS || m == HTTP_PUT ||
         m == HTTP_DELETE || m == HTTP_TRACE;
}

/* The request can be sent again as it was: nothing went out, or it is idempotent and whole. */
static int replayable(const lb_retry_facts *f) {
  return !f->sent || (f->idempotent && !f->has_body);
}

int lb_retry_wants_next(const lb_retry_facts *f) {
  if (f->response_started)
    return 0;
  switch (f->kind) {
  case LB_FAIL_CONNECT:
  case LB_FAIL_CONNECT_TIMEOUT:
  case LB_FAIL_CLOSED:
    return replayable(f);
  case LB_FAIL_STALE: /* the fresh-connection retry comes first */
    return f->fresh_retried && replayable(f);
  default:
    return 0;
  }
}

lb_retry_action lb_retry_decide(const lb_retry_facts *f, int next_available) {
  if (f->response_started)
    return LB_RETRY_ABORT;
  lb_retry_action fail = f->kind == LB_FAIL_CONNECT_TIMEOUT || f->kind == LB_FAIL_RESPONSE_TIMEOUT
                             ? LB_RETRY_504
                             : LB_RETRY_502;
  if (f->kind == LB_FAIL_STALE && !f->fresh_retried && replayable(f))
    return LB_RETRY_SAME_FRESH; /* the backend closed an idle connection meanwhile */
  if (!lb_retry_wants_next(f))
    return fail;
  if (!next_available)
    return LB_RETRY_503;
  return f->retries_left ? LB_RETRY_NEXT : fail;
}

/* The short reason a client reads for a failure of this kind. */
const char *lb_retry_reason(lb_fail_kind k) {
  switch (k) {
  case LB_FAIL_CONNECT: return "backend server unreachable";
  case LB_FAIL_CONNECT_TIMEOUT: return "backend connect timeout";
  case LB_FAIL_RESPONSE_TIMEOUT: return "backend response timeout";
  case LB_FAIL_BAD_RESPONSE: return "invalid response from the backend server";
  default: return "the backend server closed the connection without answering";
  }
}
