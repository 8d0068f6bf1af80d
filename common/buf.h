/* Bounded byte buffer: grows on demand up to a hard cap and never beyond it (the curl bufq
 * habit: nothing a peer sends can make us allocate without limit).
 * The buffer owns its memory; jc_buf_free releases it. Consumed bytes are dropped from the
 * front lazily (an offset) and compacted when room is needed. */
#ifndef JOURNEY_COMMON_BUF_H
#define JOURNEY_COMMON_BUF_H

#include <stddef.h>

typedef struct jc_buf {
  char *data;
  size_t off; /* start of unread bytes */
  size_t len; /* end of unread bytes (data[off..len)) */
  size_t alloc;
  size_t cap; /* hard limit on unread bytes */
} jc_buf;

void jc_buf_init(jc_buf *b, size_t cap);
void jc_buf_free(jc_buf *b);
/* Appends n bytes. Returns 0, or -1 (and appends nothing) if the cap would be exceeded or
 * memory is exhausted. */
int jc_buf_append(jc_buf *b, const void *p, size_t n);
/* Unread bytes. */
static inline const char *jc_buf_peek(const jc_buf *b) { return b->data + b->off; }
static inline size_t jc_buf_len(const jc_buf *b) { return b->len - b->off; }
static inline size_t jc_buf_room(const jc_buf *b) { return b->cap - jc_buf_len(b); }
/* Drops n bytes from the front (clamped to what is there). */
void jc_buf_consume(jc_buf *b, size_t n);
/* Empties the buffer; keeps the allocation unless it is larger than keep bytes. */
void jc_buf_reset(jc_buf *b, size_t keep);
/* Reserves space for writing at least `want` bytes in place (clamped to the cap); returns a
 * pointer and sets *got, or NULL if the buffer is full. Commit what was written with
 * jc_buf_commit. */
char *jc_buf_reserve(jc_buf *b, size_t want, size_t *got);
void jc_buf_commit(jc_buf *b, size_t n);

#endif
