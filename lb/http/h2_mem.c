/* The nghttp2 session's allocator: see h2_mem.h.
 *
 * Why dropping the frame buffer's pages is safe on a quiescent session (libnghttp2 1.52,
 * lib/nghttp2_session.c and nghttp2_buf.c; the public API only, no patched library):
 * - the outbound frame buffer is `aob.framebufs`, a chain of blocks made at session start
 *   (one of 16 394 bytes is kept) and given to the send callback only: the callback's data
 *   pointer always lies in it, which is how lb_h2_mem_sent_from finds its block here;
 * - after every frame sent whole (and after a frame that could not be prepared),
 *   active_outbound_item_reset frees the item and nghttp2_bufs_reset puts pos = last at the
 *   start of the kept block: no byte in it is live any more;
 * - the next frame is packed from that point: headers, payload and padding are written before
 *   anything is read back or sent, so the next frame never reads what was there before;
 * - while a frame is half sent (the callback took part of it) aob.item is set, and then
 *   nghttp2_session_want_write is 1, unless a terminating GOAWAY has gone out (TERM_SENT),
 *   when nghttp2_session_want_read is 0: the caller releases only when want_read is 1 and
 *   want_write 0, outside mem_send/mem_recv (nghttp2 touches the buffer in mem_send only).
 *   Open streams do not matter for the frame buffer; the LB waits for none to save faults.
 * The stream table (nghttp2_map: 256 buckets of 16 bytes, calloc'd at session start) has every
 * bucket zeroed when its stream is removed (map_bucket_set_data(..., 0, 0, NULL)); with no
 * stream left it is all zeros, and a dropped page reads back as zeros: nothing changes for
 * nghttp2. Any other block is dropped only when it is all zeros too.
 *
 * The big blocks are page-aligned whole pages from malloc (posix_memalign), so the pages
 * dropped belong to that block alone (malloc's headers are outside it). The small ones come
 * from the worker's free lists (lb_h2_mem_cache) and never from the page-backed slots. */
#include "lb/http/h2_mem.h"

#include <limits.h>
#include <malloc.h>
#include <sanitizer/asan_interface.h> /* no-ops unless built with AddressSanitizer */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BIG_MIN 4096 /* requests from here on get whole pages (tracked while a slot is free) */

static size_t page_size(void) {
  static size_t ps;
  if (!ps) {
    long v = sysconf(_SC_PAGESIZE);
    ps = v > 0 ? (size_t)v : 4096;
  }
  return ps;
}

/* Not inlined: its stack protector stays out of the small blocks' path. */
__attribute__((noinline)) static void *big_alloc(lb_h2_mem *m, size_t size) {
  if (size < BIG_MIN)
    return NULL;
  for (int i = 0; i < LB_H2_MEM_BIG; i++) {
    if (m->big[i].p)
      continue;
    size_t ps = page_size(), len = (size + ps - 1) / ps * ps;
    void *p;
    if (posix_memalign(&p, ps, len) != 0)
      return NULL;
    m->big[i].p = p;
    m->big[i].len = len;
    m->big[i].frames = 0;
    return p;
  }
  return NULL; /* all slots taken: plain malloc, never released */
}

static int big_index(const lb_h2_mem *m, const void *p) {
  for (int i = 0; i < LB_H2_MEM_BIG; i++)
    if (m->big[i].p == p)
      return i;
  return -1;
}

/* A block of the class that holds `size` (1..LB_H2_MEM_SMALL_MAX bytes): the list's first, or
 * a new one of the class's size. */
static void *small_alloc(lb_h2_mem_cache *c, size_t size) {
  size_t i = size <= 24 ? 0 : (size - 9) / 16, cs = LB_H2_MEM_CLASS_SIZE(i);
  jc_blockpool *p = &c->cls[i];
  if (p->free) {
    ASAN_UNPOISON_MEMORY_REGION(p->free, cs);
    c->bytes -= cs;
  }
  char *b = jc_blockpool_get(p, cs);
  if (b)
    ASAN_POISON_MEMORY_REGION(b + size, cs - size); /* beyond what was asked for */
  return b;
}

/* Keeps a block in the class its usable size fills, while the lists are under their bound:
 * 1, or 0 when the caller is to free it. */
static int small_keep(lb_h2_mem_cache *c, void *ptr) {
  size_t u = malloc_usable_size(ptr);
  if (u < LB_H2_MEM_CLASS_SIZE(0) || u > LB_H2_MEM_SMALL_MAX + 15)
    return 0;
  size_t i = (u - 24) / 16, cs = LB_H2_MEM_CLASS_SIZE(i); /* the biggest class it holds */
  if (c->bytes + cs > LB_H2_MEM_KEEP)
    return 0;
  /* The list's link goes in the block's first bytes, which a request under 8 bytes left
   * poisoned (small_alloc poisons beyond the size asked for). */
  ASAN_UNPOISON_MEMORY_REGION(ptr, u);
  jc_blockpool_put(&c->cls[i], ptr, UINT_MAX);
  c->bytes += cs;
  ASAN_POISON_MEMORY_REGION(ptr, u); /* a use after free is still reported */
  return 1;
}

void lb_h2_mem_cache_drain(lb_h2_mem_cache *c) {
  for (size_t i = 0; i < LB_H2_MEM_CLASSES; i++) {
    size_t cs = LB_H2_MEM_CLASS_SIZE(i);
    while (c->cls[i].free) {
      ASAN_UNPOISON_MEMORY_REGION(c->cls[i].free, cs);
      free(jc_blockpool_get(&c->cls[i], cs));
    }
  }
  c->bytes = 0;
}

size_t lb_h2_mem_cache_trim(lb_h2_mem_cache *c) {
  size_t freed = 0;
  for (size_t i = 0; i < LB_H2_MEM_CLASSES; i++) {
    jc_blockpool *p = &c->cls[i];
    size_t cs = LB_H2_MEM_CLASS_SIZE(i);
    /* Listed blocks are poisoned: each is unpoisoned before its link is read, the list trimmed
     * as every other list is, and what stays poisoned again. */
    for (char *b = p->free; b; memcpy(&b, b, sizeof(char *)))
      ASAN_UNPOISON_MEMORY_REGION(b, cs);
    freed += (size_t)jc_blockpool_trim(p) * cs;
    for (char *b = p->free, *next; b; b = next) {
      memcpy(&next, b, sizeof(char *));
      ASAN_POISON_MEMORY_REGION(b, cs);
    }
  }
  c->bytes -= freed;
  return freed;
}

static void *mem_malloc(size_t size, void *ud) {
  lb_h2_mem *m = ud;
  if (m->cache && size && size <= LB_H2_MEM_SMALL_MAX)
    return small_alloc(m->cache, size);
  void *p = big_alloc(m, size);
  return p ? p : malloc(size);
}

static void mem_free(void *ptr, void *ud) {
  lb_h2_mem *m = ud;
  if (!ptr || (m->cache && small_keep(m->cache, ptr))) /* never a big block: too big */
    return;
  int i = big_index(m, ptr);
  if (i >= 0)
    m->big[i].p = NULL;
  free(ptr);
}

static void *mem_calloc(size_t n, size_t size, void *ud) {
  if (size && n > SIZE_MAX / size)
    return NULL;
  void *p = big_alloc(ud, n * size);
  if (!p)
    return calloc(n, size);
  memset(p, 0, n * size);
  return p;
}

static void *mem_realloc(void *ptr, size_t size, void *ud) {
  lb_h2_mem *m = ud;
  if (!ptr) /* how nghttp2_buf_init2 makes the frame buffer */
    return mem_malloc(size, m);
  int i = big_index(m, ptr);
  if (i < 0)
    return realloc(ptr, size); /* a small or untracked block stays with malloc */
  void *n = mem_malloc(size, m);
  if (!n)
    return NULL;
  memcpy(n, ptr, m->big[i].len < size ? m->big[i].len : size);
  mem_free(ptr, m);
  return n;
}

nghttp2_mem lb_h2_mem_allocator(lb_h2_mem *m) {
  return (nghttp2_mem){m, mem_malloc, mem_free, mem_calloc, mem_realloc};
}

static int all_zero(const char *p, size_t n) {
  return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

size_t lb_h2_mem_release(lb_h2_mem *m) {
  size_t given = 0;
  for (int i = 0; i < LB_H2_MEM_BIG; i++) {
    char *p = m->big[i].p;
    if (!p || (!m->big[i].frames && !all_zero(p, m->big[i].len)))
      continue;
    if (madvise(p, m->big[i].len, MADV_DONTNEED) == 0)
      given += m->big[i].len;
  }
  return given;
}
