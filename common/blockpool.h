/* A free list of same-size blocks, LIFO (the block reused first is the one whose pages are
 * resident), capped by the caller. Not thread-safe: one list per thread or per worker loop.
 * Used by the TLS engine's ciphertext buffers (common/tls.c) and journey-lb's lent
 * per-request buffers (lb/proxy/worker.c). */
#ifndef JOURNEY_COMMON_BLOCKPOOL_H
#define JOURNEY_COMMON_BLOCKPOOL_H

#include <stdlib.h>
#include <string.h>

typedef struct jc_blockpool {
  char *free; /* first free block; each free block's first bytes link to the next */
  unsigned nfree;
} jc_blockpool;

/* A block from the list, or a new one of `size` bytes from malloc when it is empty (NULL on
 * failure). */
static inline char *jc_blockpool_get(jc_blockpool *p, size_t size) {
  char *blk = p->free;
  if (!blk)
    return malloc(size);
  memcpy(&p->free, blk, sizeof(char *));
  p->nfree--;
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
  p->nfree = 0;
}

#endif
