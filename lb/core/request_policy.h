/* What happens to a parsed request head (pure): forwarded to a pool with its rewritten head, or
 * answered here. The order is the contract users see, one status per first failing rule:
 *   501 CONNECT -> lb_request_check (400/501/505) -> 400 no Host in HTTP/1.1 -> 413 declared
 *   body over max-body-size -> 404 no route -> 431 forwarded head does not fit.
 * The codec fills lb_request_in from its parser; the exchange acts on the verdict. */
#ifndef JOURNEY_LB_REQUEST_POLICY_H
#define JOURNEY_LB_REQUEST_POLICY_H

#include "lb/core/config.h"
#include "lb/core/request_check.h"
#include "lb/core/rewrite.h"

#include <stddef.h>
#include <stdint.h>

typedef struct lb_request_in {
  lb_request_head head;    /* raw bytes and views (lb_request_check) */
  const char *method;      /* name, e.g. "GET" */
  size_t method_len;
  int is_connect;
  int has_host;
  lb_framing framing;      /* lb_request_framing */
  uint64_t content_length; /* with LB_FRAME_LENGTH */
  const lb_forward_info *fwd;
} lb_request_in;

typedef struct lb_request_verdict {
  int status;       /* 0: forward to `pool`; else the status of the local answer */
  int pool;         /* the routed pool; -1 when not routed */
  const char *why;  /* the local answer's body */
  const char *term; /* the access log's termination reason */
  int keep_alive;   /* the local answer may keep the connection open (404 only) */
  size_t head_len;  /* the forwarded head in out[0..head_len) */
  const char *path; /* routed: the normalised origin-form target routes saw (a view into the
                     * request or into out's unused end; valid until out is written again) */
  size_t path_len;
} lb_request_verdict;

/* out/cap: where the forwarded head is written (lb_rewrite_request). */
void lb_request_decide(const lb_request_in *in, const lb_config *cfg, char *out, size_t cap,
                       lb_request_verdict *v);

#endif
