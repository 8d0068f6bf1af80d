/* A free list of same-size blocks, LIFO (the block reused first is the one whose pages are
 * resident), capped by the caller. Not thread-safe: one list per thread or per worker loop.
 * The list remembers the fewest blocks it held since the last trim (its low-water mark): LIFO
 * lends from the top, so that many blocks at the bottom were not lent since, and
 * jc_blockpool_trim frees them (a burst's blocks go back once the traffic has fallen).
 * Used by the TLS engine's ciphertext buffers (common/tls.c) and journey-lb's lent
 * per-request buffers (lb/proxy/worker.c). */
#ifndef JOURNEY_COMMON_BLOCKPOOL_H
#define JOURNEY_COMMON_BLOCKPOOL_H

#include <stdlib.h>
#include <string.h>

typedef struct jc_blockpool {
  char *free; /* first free block; each free block's first bytes link to the next */
  unsigned nfree;
  unsigned low;  /* fewest blocks listed since the last trim: the bottom `low` were not lent */
  unsigned mark; /* blocks listed at the last trim or mark */
} jc_blockpool;

/* A block from the list, or a new one of `size` bytes from malloc when it is empty (NULL on
 * failure). */
static inline char *jc_blockpool_get(jc_blockpool *p, size_t size) {
  char *blk = p->free;
  if (!blk)
    return malloc(size);
  memcpy(&p->free, blk, sizeof(char *));
  if (--p->nfree < p->low)
    p->low = p->nfree;
  return blk;
}

/* Back to the list, or to the allocator when the list already keeps `keep` blocks. */
static inline void jc_blockpool_put(jc_blockpool *p, char *blk, unsigned keep) {
  if (p->nfree >= keep) {
    free(blk);
    return;
  }
  memcpy(blk, &p->free, sizeof(char *));
  p->free = blk;
  p->nfree++;
}

/* Frees every kept block. */
static inline void jc_blockpool_drain(jc_blockpool *p) {
  while (p->free) {
    char *blk = p->free;
    memcpy(&p->free, blk, sizeof(char *));
    free(blk);
  }
  p->nfree = p->low = p->mark = 0;
}

/* 1 when no listed block was lent since the last trim or mark. */
static inline int jc_blockpool_untouched(const jc_blockpool *p) { return p->low == p->mark; }

/* Starts a new interval: the low-water mark is what the list holds now. */
static inline void jc_blockpool_mark(jc_blockpool *p) { p->low = p->mark = p->nfree; }

/* Frees the blocks not lent since the last trim or mark (the bottom `low` of the list), starts
 * a new interval, and returns how many were freed. Walks the list: call it from a timer, never
 * per request. */
static inline unsigned jc_blockpool_trim(jc_blockpool *p) {
  unsigned cold = p->low, hot = p->nfree - cold;
  if (cold) {
    char *blk = p->free, *last_hot = NULL, *none = NULL;
    for (unsigned i = 0; i < hot; i++) {
      last_hot = blk;
      memcpy(&blk, blk, sizeof(char *));
    }
    if (last_hot)
      memcpy(last_hot, &none, sizeof(char *));
    else
      p->free = NULL;
    while (blk) {
      char *next;
      memcpy(&next, blk, sizeof(char *));
      free(blk);
      blk = next;
    }
    p->nfree = hot;
  }
  jc_blockpool_mark(p);
  return cold;
}

#endif
