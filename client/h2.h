/* HTTP/2 on one connection with libnghttp2 (framing, HPACK, flow control): requests as streams,
 * several at once, each response handed to its own jn_http (the HTTP/1.1 path's decoding, -o, -D,
 * -i), every frame recorded into the results of the streams it concerns (h2_report.c). No I/O:
 * conn.c feeds the plaintext that TLS decrypted and writes what the write callback hands it. */
#ifndef JOURNEY_CLIENT_H2_H
#define JOURNEY_CLIENT_H2_H

#include <stdint.h>
#include <stdio.h>

#include "client/result.h"

typedef struct jn_h2 jn_h2;

typedef struct jn_h2_cbs {
  void *ud;
  /* Plaintext for the server. Returns 0, or -1 (the connection is failing). */
  int (*write)(void *ud, const uint8_t *p, size_t n);
  /* A stream is over (code 0, or an exit code with r->error). r goes back to the caller. */
  void (*done)(void *ud, jn_result *r, int code);
} jn_h2_cbs;

typedef struct jn_h2_out {
  FILE *out, *dump; /* -o, -D */
  int include, follow, head;
} jn_h2_out;

/* A client session; our SETTINGS are queued. NULL when out of memory. */
jn_h2 *jn_h2_new(const jn_h2_cbs *cbs, const jn_h2_out *out, int streams_wanted);
void jn_h2_free(jn_h2 *h);

/* Opens a stream for the request whose HTTP/1.1 bytes are req (converted to HTTP/2 fields; the
 * authority is the URL's host:port when -H removed Host) and whose body is body. t0 is the request's clock start (jc_now_us). Returns 0, or -1 with r->error. */
int jn_h2_submit(jn_h2 *h, jn_result *r, uint64_t t0, const char *req, size_t req_len, const char *scheme,
                 const char *authority, const char *body, size_t body_len);
/* Sends what nghttp2 has queued through the write callback. 0 or -1. */
int jn_h2_flush(jn_h2 *h);
/* Plaintext from the server. Returns 0, or -1 when the connection failed (every open stream has
 * been handed back through done with the reason). */
int jn_h2_feed(jn_h2 *h, const char *p, size_t n);
/* Whether another stream may be opened now: fewer open than wanted and than the server allows,
 * and no GOAWAY. */
int jn_h2_can_submit(const jn_h2 *h);
/* 1 when the server sent GOAWAY (no new streams on this connection). */
int jn_h2_goaway(const jn_h2 *h);
size_t jn_h2_open_streams(const jn_h2 *h);
/* The earliest start among the open streams (0 when none). */
uint64_t jn_h2_oldest(const jn_h2 *h);
/* Cancels (RST_STREAM CANCEL) the streams started before `before` and hands them back with code. */
void jn_h2_expire(jn_h2 *h, uint64_t before, int code, const char *why);
/* The connection ended: every open stream is handed back with code and why. */
void jn_h2_fail_all(jn_h2 *h, int code, const char *why);
/* Queues GOAWAY(NO_ERROR): we are done with the connection. */
void jn_h2_close(jn_h2 *h);

#endif
