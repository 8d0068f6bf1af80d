/* What to do when a backend fails a request (pure): the same server on a fresh connection, the
 * next server, or an answer (502, 503, 504), or closing the client when the response had started.
 *
 * RFC 9110 section 9.2.2: a request whose bytes may have reached a backend is sent again only
 * if its method is idempotent (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) and the LB still has all
 * of it (no body: a relayed body is not kept). A request nothing of which was sent (connect
 * failed) may always go to another server. */
#ifndef JOURNEY_LB_RETRY_POLICY_H
#define JOURNEY_LB_RETRY_POLICY_H

typedef enum {
  LB_FAIL_CONNECT = 0,     /* connect refused or failed: nothing sent on this attempt */
  LB_FAIL_CONNECT_TIMEOUT, /* connect did not finish in time: nothing sent */
  LB_FAIL_STALE,           /* a pooled connection closed or failed before any response byte */
  LB_FAIL_CLOSED,          /* a fresh connection closed or failed before any response byte */
  LB_FAIL_RESPONSE_TIMEOUT,/* no (more) response within backend-response-timeout */
  LB_FAIL_BAD_RESPONSE     /* response bytes came, then an invalid response or a failure */
} lb_fail_kind;

typedef struct lb_retry_facts {
  lb_fail_kind kind;
  int idempotent;       /* lb_method_idempotent */
  int sent;             /* request bytes may have reached a backend (this attempt or earlier) */
  int has_body;         /* the request has a body (it is relayed, not kept) */
  int fresh_retried;    /* the one retry on a fresh connection was already used */
  int retries_left;     /* another server may still be tried (`retries`) */
  int response_started; /* response bytes already went to the client */
} lb_retry_facts;

typedef enum {
  LB_RETRY_SAME_FRESH = 0, /* same server, new connection (not counted as a retry) */
  LB_RETRY_NEXT,           /* another server */
  LB_RETRY_502,
  LB_RETRY_503,            /* no server left to try */
  LB_RETRY_504,
  LB_RETRY_ABORT           /* close the client connection: the only signal left */
} lb_retry_action;

/* llhttp method numbers: GET, HEAD, OPTIONS, PUT, DELETE, TRACE are idempotent. */
int lb_method_idempotent(int llhttp_method);

/* 1 when the request may go to another server (the caller then picks one, excluding those
 * tried, and passes whether it found one to lb_retry_decide). */
int lb_retry_wants_next(const lb_retry_facts *f);
/* The short reason a client reads in the 502/504 body for a failure of this kind. */
const char *lb_retry_reason(lb_fail_kind k);

lb_retry_action lb_retry_decide(const lb_retry_facts *f, int next_available);

#endif
