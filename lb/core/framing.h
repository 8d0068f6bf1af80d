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
  int drop_length;    /* the backend's Content-Length is not sent on (1xx and 204 must not carry
                       * one, RFC 9110 8.6; a body delimited otherwise) */
  int refuse;         /* 502 instead: the LB cannot relay this body as the backend framed it */
} lb_relay_plan;

/* What the plan is decided on: the backend's response head and the client. */
typedef struct lb_response_facts {
  lb_framing backend;  /* lb_response_framing's answer */
  int status;
  int is_head;         /* the request was HEAD: the head announces what a GET would get */
  int backend_chunked; /* Transfer-Encoding ends in chunked */
  int te_other;        /* Transfer-Encoding is anything but one "chunked" (gzip, chunked; gzip;
                        * chunked twice): the LB decodes no other coding and would drop it */
  int client_minor;    /* 0: HTTP/1.0 client */
  int reusable_client; /* the client asked for keep-alive, its request was read whole and the
                        * LB is not stopping */
} lb_response_facts;

/* Framing headers are decided here, never by what the backend's Connection header lists: a
 * Content-Length is sent on whenever it delimits the body, and a body with no length the client
 * can see is delimited by closing the connection (Connection: close), never left open. */
static inline lb_relay_plan lb_response_plan(const lb_response_facts *f) {
  lb_relay_plan p = {.client = f->backend, .dechunk = 0, .keep_alive = 0, .drop_length = 0,
                     .refuse = 0};
  if (f->te_other) {
    p.refuse = 1; /* as nginx: "upstream sent unknown Transfer-Encoding" */
    return p;
  }
  if (f->backend == LB_FRAME_CHUNKED && f->client_minor == 0) {
    p.dechunk = 1;
    p.client = LB_FRAME_CLOSE;
  }
  if (f->is_head && f->backend_chunked && f->client_minor == 1)
    p.client = LB_FRAME_CHUNKED;
  p.drop_length = f->status < 200 || f->status == 204 || p.client == LB_FRAME_CLOSE ||
                  p.client == LB_FRAME_CHUNKED;
  p.keep_alive = f->reusable_client && p.client != LB_FRAME_CLOSE;
  return p;
}

#endif
