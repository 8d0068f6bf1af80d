/* A request body sent chunked by journey-lb itself (RFC 9112 section 7.1), pure: the pieces of
 * one write around a slice of bare body bytes (an HTTP/2 body without content-length, which the
 * exchange forwards to an HTTP/1.1 backend), and the body's end: the last-chunk, the trailer
 * section's lines and the blank line. An HTTP/1.1 client's chunked body (`raw`) has its chunks
 * already: only its trailer section (filtered) and the blank line are journey-lb's. Nothing is
 * copied: the pieces point at the slice, at the size line kept here and at literals, so they
 * live until the write completes. */
#ifndef JOURNEY_LB_CHUNK_OUT_H
#define JOURNEY_LB_CHUNK_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct lb_chunk_out {
  char line[20];        /* the size line of the chunk being written */
  const char *trailers; /* the trailer section's lines ("name: value" CRLF each), or NULL */
  uint32_t trailers_len;
  uint8_t ended;        /* the end went out (a request with a body is never sent twice once
                         * any of it went out, so no second attempt starts after this) */
  uint8_t raw;          /* the slices come framed already (an HTTP/1.1 client's chunked body,
                         * relayed raw up to its last-chunk line): they go as they are, and the
                         * end is the trailer section's lines and the blank line alone */
} lb_chunk_out;

#define LB_CHUNK_OUT_PIECES 6 /* the most one call writes */

/* The pieces for len bytes at data (none for 0) and, once `complete` (the body has no more bytes
 * than these) and the end has not gone yet, the end: written at bufs, their count returned. */
unsigned lb_chunk_out_pieces(lb_chunk_out *c, uv_buf_t *bufs, const char *data, size_t len,
                             int complete);

#endif
