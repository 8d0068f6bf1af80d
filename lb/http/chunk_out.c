/* A request body sent chunked (chunk_out.h). */
#include "lb/http/chunk_out.h"

#include <stdio.h>

static uv_buf_t piece(const char *p, size_t n) {
  return (uv_buf_t){.base = (char *)(uintptr_t)p, .len = n};
}

unsigned lb_chunk_out_pieces(lb_chunk_out *c, uv_buf_t *bufs, const char *data, size_t len,
                             int complete) {
  unsigned n = 0;
  if (len && c->raw) {
    bufs[n++] = piece(data, len);
  } else if (len) {
    int k = snprintf(c->line, sizeof c->line, "%zx\r\n", len);
    bufs[n++] = piece(c->line, (size_t)k);
    bufs[n++] = piece(data, len);
    bufs[n++] = piece("\r\n", 2);
  }
  if (complete && !c->ended) {
    c->ended = 1;
    if (!c->raw)
      bufs[n++] = piece("0\r\n", 3);
    if (c->trailers_len)
      bufs[n++] = piece(c->trailers, c->trailers_len);
    bufs[n++] = piece("\r\n", 2);
  }
  return n;
}
