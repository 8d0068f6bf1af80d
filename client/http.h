/* HTTP/1.1 response handling with llhttp (HTTP_RESPONSE): status, headers (kept for -v and
 * --json, with Server-Timing / X-Served-By / X-Request-Id routed to lb_info), bodies delimited by
 * Content-Length, chunked encoding or connection close; gzip/deflate decoded with zlib when the
 * server used them, br with libbrotlidec (said when another coding is not decoded); the body written to -o FILE when asked.
 * One jn_http per connection; jn_http_begin() before each response. */
#ifndef JOURNEY_CLIENT_HTTP_H
#define JOURNEY_CLIENT_HTTP_H

#include <brotli/decode.h>
#include <llhttp.h>
#include <stdio.h>
#include <zlib.h>

#include "client/result.h"

typedef struct jn_http {
  llhttp_t p;
  llhttp_settings_t s;
  jn_result *r;
  int head;     /* HEAD request: no body follows */
  int complete; /* the message ended */
  int failed;
  FILE *out;    /* -o FILE, or NULL */
  FILE *dump;   /* -D FILE: the response head, or NULL */
  int include;  /* -i: the response head goes to out before the body */
  int follow;   /* -L: a redirect's body is counted, not written */
  int discard;
  int h2;       /* the head came over HTTP/2 (h2.c): "HTTP/2 200" for -D / -i, version "2" */
  char name[64];
  size_t name_len;
  char value[1024];
  size_t value_len;
  int in_value;
  const char *base; /* the buffer being parsed, and the bytes parsed before it: where the */
  uint64_t fed;     /* header block ends on the wire (curl's size_header) */
  uint64_t head_end;
  z_stream z;
  int z_on;
  int z_err;
  BrotliDecoderState *br; /* Content-Encoding: br */
} jn_http;

/* Prepares for one response. out may be NULL. */
void jn_http_begin(jn_http *h, jn_result *r, int head, FILE *out);
/* Feeds response bytes. Returns 1 when the response is complete (bytes after it are ignored),
 * 0 when more are needed, -1 on a parse or write error (r->error and r->exit_code set). */
int jn_http_feed(jn_http *h, const char *data, size_t n);
/* The connection closed: completes a close-delimited body. Returns 1 if the response is
 * complete, -1 otherwise (r->error set: empty reply or cut short). */
int jn_http_eof(jn_http *h);
/* Releases zlib state. */
void jn_http_end(jn_http *h);

#endif
