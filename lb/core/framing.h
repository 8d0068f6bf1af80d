/* Body framing decisions (pure): how a request body is delimited, how a response body is
 * delimited as the backend sends it, and how it goes on to the client (RFC 9112 section 6).
 * The HTTP/1 codec feeds these llhttp's facts; the exchange acts on the answers. They run for
 * every request, so they are inline here (tests/unit/test_lb_policy.c tables them). */
#ifndef JOURNEY_LB_FRAMING_H
#define JOURNEY_LB_FRAMING_H

#include "lb/core/rewrite.h"

#include <stdint.h>

/* A request: chunked, Content-Length > 0, else no body (Content-Length: 0 is no body). */
static inline lb_framing lb_request_framing(int chunked, int has_length, uint64_t length) {
  if (chunked)
    return LB_FRAME_CHUNKED;
  if (has_length && length > 0)
    return LB_FRAME_LENGTH;
  return LB_FRAME_NONE;
}

/* A response as the backend frames it: NONE for 1xx, 204, 304, HEAD and Content-Length: 0
 * (the message ends with its head), CHUNKED, LENGTH, else CLOSE (delimited by the close). */
static inline lb_framing lb_response_framing(int status, int is_head, int chunked,
                                             int has_length, uint64_t length) {
  if (status < 200 || status == 204 || status == 304 || is_head || (has_length && length == 0))
    return LB_FRAME_NONE;
  if (chunked)
    return LB_FRAME_CHUNKED;
  if (has_length)
    return LB_FRAME_LENGTH;
  return LB_FRAME_CLOSE;
}

/* How the response goes to the client. */
typedef struct lb_relay_plan {
  lb_framing client;  /* the framing announced to the client */
  int dechunk;        /* decode chunked in place (an HTTP/1.0 client cannot read chunks) */
  int keep_alive;     /* the client connection stays open after this response */
} lb_relay_plan;

/* backend: lb_response_framing's answer; backend_chunked: the backend said chunked (a HEAD
 * answer announces what a GET would get); reusable_client: the client asked for keep-alive, its
 * request was read whole and the LB is not stopping. */
static inline lb_relay_plan lb_response_plan(lb_framing backend, int is_head, int backend_chunked,
                                             int client_minor, int reusable_client) {
  lb_relay_plan p = {.client = backend, .dechunk = 0, .keep_alive = 0};
  if (backend == LB_FRAME_CHUNKED && client_minor == 0) {
    p.dechunk = 1;
    p.client = LB_FRAME_CLOSE;
  }
  if (is_head && backend_chunked && client_minor == 1)
    p.client = LB_FRAME_CHUNKED;
  p.keep_alive = reusable_client && p.client != LB_FRAME_CLOSE;
  return p;
}

#endif
