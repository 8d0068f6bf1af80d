/* The nghttp2 session's allocator (one per h2 connection): malloc for the small allocations,
 * whole pages for the big ones (4 KiB and more: the outbound frame buffer, the stream table),
 * so that an idle connection can give those pages back to the kernel and keep the session.
 *
 * An idle session of libnghttp2 holds ~27 KiB, 20 of it in two blocks it keeps for its life:
 * a 16 KiB frame buffer that holds no live byte between frames, and a 4 KiB stream table that
 * is all zeros when no stream exists. lb_h2_mem_release drops their pages (MADV_DONTNEED: the
 * next touch maps a zeroed page), which is safe exactly then (see h2_mem.c). */
#ifndef JOURNEY_LB_H2_MEM_H
#define JOURNEY_LB_H2_MEM_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>

#define LB_H2_MEM_BIG 4 /* page-backed blocks tracked per session; more go to plain malloc */

typedef struct lb_h2_mem {
  struct {
    char *p;
    size_t len;           /* pages owned: the request rounded up to whole pages */
    unsigned frames : 1;  /* nghttp2 has sent frames from it: its outbound frame buffer */
  } big[LB_H2_MEM_BIG];
} lb_h2_mem;

/* The nghttp2_mem for nghttp2_session_server_new3 (m zeroed, it must outlive the session). */
nghttp2_mem lb_h2_mem_allocator(lb_h2_mem *m);

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
