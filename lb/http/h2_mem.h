/* The nghttp2 session's allocator (one per h2 connection): the worker's free lists for the
 * small allocations, whole pages for the big ones (4 KiB and more: the outbound frame buffer,
 * the stream table), so that an idle connection can give those pages back to the kernel and
 * keep the session.
 *
 * Every stream costs nghttp2 about five small blocks (its stream object ~310 bytes, two
 * outbound items ~150, the response's header array copy ~220, an HPACK string ~60), each a
 * malloc and a free: ~1 000 instructions of glibc per request, a third of that with a free
 * list of blocks of the same size class. The lists are per worker (a worker is one thread, and
 * a stream's blocks die on the worker that made them) and bounded in bytes, so an idle LB holds
 * little. The blocks are plain malloc blocks (nghttp2 may realloc one); a block's class comes
 * from malloc_usable_size. Under AddressSanitizer a cached block is poisoned, and a block lent
 * from a list is poisoned past the size asked for, so a use after free or an overflow into the
 * rest of the class is still reported.
 *
 * An idle session of libnghttp2 holds ~27 KiB, 20 of it in two blocks it keeps for its life:
 * a 16 KiB frame buffer that holds no live byte between frames, and a 4 KiB stream table that
 * is all zeros when no stream exists. lb_h2_mem_release drops their pages (MADV_DONTNEED: the
 * next touch maps a zeroed page), which is safe exactly then (see h2_mem.c). */
#ifndef JOURNEY_LB_H2_MEM_H
#define JOURNEY_LB_H2_MEM_H

#include "common/blockpool.h"

#include <nghttp2/nghttp2.h>
#include <stddef.h>

#define LB_H2_MEM_BIG 4 /* page-backed blocks tracked per session; more go to plain malloc */
/* The free lists' size classes are glibc's chunk sizes less its 8-byte header (24, 40, 56, ...
 * 504 bytes): a block costs what malloc would have given for the size asked. Bigger blocks go
 * to malloc and free. */
#define LB_H2_MEM_CLASSES 31
#define LB_H2_MEM_CLASS_SIZE(i) ((size_t)(i) * 16 + 24)
#define LB_H2_MEM_SMALL_MAX LB_H2_MEM_CLASS_SIZE(LB_H2_MEM_CLASSES - 1)
#define LB_H2_MEM_KEEP (128 * 1024) /* bytes a worker's lists keep at most */

/* A worker's free lists of small blocks, shared by its h2 sessions (one thread only). */
typedef struct lb_h2_mem_cache {
  jc_blockpool cls[LB_H2_MEM_CLASSES]; /* cls[i]: blocks of at least LB_H2_MEM_CLASS_SIZE(i) */
  size_t bytes;                        /* kept in all lists, at most LB_H2_MEM_KEEP */
} lb_h2_mem_cache;

typedef struct lb_h2_mem {
  lb_h2_mem_cache *cache; /* the worker's free lists (NULL: small blocks from malloc alone) */
  struct {
    char *p;
    size_t len;           /* pages owned: the request rounded up to whole pages */
    unsigned frames : 1;  /* nghttp2 has sent frames from it: its outbound frame buffer */
  } big[LB_H2_MEM_BIG];
} lb_h2_mem;

/* The nghttp2_mem for nghttp2_session_server_new3 (m zeroed but for its cache, which may be
 * NULL; m and the cache must outlive the session). */
nghttp2_mem lb_h2_mem_allocator(lb_h2_mem *m);

/* Frees every block the lists keep (the worker's end; no session may use them any more).
 * LeakSanitizer does not follow the links through poisoned blocks: drain before it checks. */
void lb_h2_mem_cache_drain(lb_h2_mem_cache *c);

/* Frees the blocks no session took since the last call (each list's low-water mark: see
 * common/blockpool.h) and returns their bytes. From a timer, never per request. */
size_t lb_h2_mem_cache_trim(lb_h2_mem_cache *c);

/* 1 when no session took a block from the lists since the last trim. */
static inline int lb_h2_mem_cache_untouched(const lb_h2_mem_cache *c) {
  for (int i = 0; i < LB_H2_MEM_CLASSES; i++)
    if (!jc_blockpool_untouched(&c->cls[i]))
      return 0;
  return 1;
}

/* nghttp2's send callback got bytes at p: the block holding them is its frame buffer. */
static inline void lb_h2_mem_sent_from(lb_h2_mem *m, const void *p) {
  const char *c = p;
  for (int i = 0; i < LB_H2_MEM_BIG; i++)
    if (m->big[i].p && c >= m->big[i].p && c < m->big[i].p + m->big[i].len) {
      m->big[i].frames = 1;
      return;
    }
}

/* The session is quiescent: nothing queued or half sent (nghttp2_session_want_read 1 and
 * nghttp2_session_want_write 0), no send or receive call running. Gives back the frame buffer's pages and those of the blocks
 * that are all zeros. Returns the bytes given back (counted in whole pages). */
size_t lb_h2_mem_release(lb_h2_mem *m);

#endif
