#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

void jc_buf_init(jc_buf *b, size_t cap) {
  b->data = NULL;
  b->off = b->len = b->alloc = 0;
  b->cap = cap;
}

void jc_buf_free(jc_buf *b) {
  free(b->data);
  b->data = NULL;
  b->off = b->len = b->alloc = 0;
}

/* Makes room for `need` more bytes after the unread ones; 0 or -1. */
static int make_room(jc_buf *b, size_t need) {
  size_t unread = b->len - b->off;
  if (need > b->cap - unread)
    return -1;
  if (b->alloc - b->len >= need)
    return 0;
  if (b->off) { /* compact first: often enough */
    memmove(b->data, b->data + b->off, unread);
    b->len = unread;
    b->off = 0;
    if (b->alloc - b->len >= need)
      return 0;
  }
  size_t want = b->alloc ? b->alloc : 256;
  while (want < unread + need)
    want *= 2;
  if (want > b->cap)
    want = b->cap;
  char *p = realloc(b->data, want);
  if (!p)
    return -1;
  b->data = p;
  b->alloc = want;
  return 0;
}

int jc_buf_append(jc_buf *b, const void *p, size_t n) {
  if (n == 0)
    return 0;
  if (make_room(b, n) != 0)
    return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void jc_buf_consume(jc_buf *b, size_t n) {
  size_t unread = b->len - b->off;
  if (n >= unread) {
    b->off = b->len = 0;
    return;
  }
  b->off += n;
}

void jc_buf_reset(jc_buf *b, size_t keep) {
  b->off = b->len = 0;
  if (b->alloc > keep) {
    free(b->data);
    b->data = NULL;
    b->alloc = 0;
  }
}

char *jc_buf_reserve(jc_buf *b, size_t want, size_t *got) {
  size_t room = b->cap - (b->len - b->off);
  if (room == 0)
    return NULL;
  if (want > room)
    want = room;
  if (want == 0)
    want = 1;
  if (make_room(b, want) != 0)
    return NULL;
  *got = b->alloc - b->len;
  if (*got > room)
    *got = room;
  return b->data + b->len;
}

void jc_buf_commit(jc_buf *b, size_t n) { b->len += n; }
