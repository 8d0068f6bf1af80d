/* lb/http/h2_mem.c, nghttp2's allocator in journey-lb: small blocks reused from the worker's
 * free lists (bounded), big ones page-backed, and real nghttp2 sessions (a server with this
 * allocator, a client of libnghttp2) exchanging requests through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>
#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/http/h2_mem.h"

#if defined(__SANITIZE_ADDRESS__)
#define POISONED(p) __asan_address_is_poisoned(p)
#else
#define POISONED(p) 1
#endif

typedef struct alloc {
  lb_h2_mem_cache cache;
  lb_h2_mem m;
  nghttp2_mem mem;
} alloc;

static void alloc_init(alloc *a) {
  memset(a, 0, sizeof *a);
  a->m.cache = &a->cache;
  a->mem = lb_h2_mem_allocator(&a->m);
}

static void *get(alloc *a, size_t n) { return a->mem.malloc(n, a->mem.mem_user_data); }
static void put(alloc *a, void *p) { a->mem.free(p, a->mem.mem_user_data); }

static size_t kept(const lb_h2_mem_cache *c) {
  size_t n = 0;
  for (int i = 0; i < LB_H2_MEM_CLASSES; i++)
    n += c->cls[i].nfree;
  return n;
}

static void small_block_reused_in_its_class(void **state) {
  (void)state;
  alloc a;
  alloc_init(&a);
  char *p = get(&a, 100); /* the 104-byte class (a 112-byte glibc chunk, as malloc(100)) */
  assert_non_null(p);
  memset(p, 'x', 100);
  assert_true(POISONED(p + 100)); /* past the size asked for: an overflow is still caught */
  put(&a, p);
  assert_int_equal(a.cache.bytes, 104);
  assert_true(POISONED(p)); /* a use after free is still caught */
  char *q = get(&a, 60); /* another class: a new block */
  assert_ptr_not_equal(q, p);
  char *r = get(&a, 90); /* the same class: the kept block */
  assert_ptr_equal(r, p);
  assert_int_equal(a.cache.bytes, 0);
  memset(r, 'y', 90);
  put(&a, q);
  put(&a, r);
  assert_int_equal(kept(&a.cache), 2);
  lb_h2_mem_cache_drain(&a.cache);
  assert_int_equal(kept(&a.cache), 0);
  assert_int_equal(a.cache.bytes, 0);
}

/* A block smaller than the list's link (nghttp2 asks for 1-7 bytes at times): kept and lent
 * again without touching its poisoned tail (the fuzzer found the free writing the link there). */
static void tiny_block_kept(void **state) {
  (void)state;
  alloc a;
  alloc_init(&a);
  char *p = get(&a, 3);
  assert_non_null(p);
  memcpy(p, "abc", 3);
  assert_true(POISONED(p + 3));
  put(&a, p);
  assert_int_equal(kept(&a.cache), 1);
  assert_true(POISONED(p));
  char *q = get(&a, 5);
  assert_ptr_equal(q, p);
  memcpy(q, "hello", 5);
  put(&a, q);
  lb_h2_mem_cache_drain(&a.cache);
  assert_int_equal(a.cache.bytes, 0);
}

static void realloc_and_big_blocks(void **state) {
  (void)state;
  alloc a;
  alloc_init(&a);
  char *p = get(&a, 40);
  memcpy(p, "0123456789", 10);
  put(&a, p);
  p = get(&a, 40); /* from the list, then grown by malloc's realloc */
  memcpy(p, "abcdefghij", 10);
  p = a.mem.realloc(p, 3000, a.mem.mem_user_data);
  assert_non_null(p);
  assert_memory_equal(p, "abcdefghij", 10);
  put(&a, p); /* too big for a list */
  assert_int_equal(a.cache.bytes, 0);
  char *big = get(&a, 16394); /* nghttp2's frame buffer: whole pages, tracked */
  assert_non_null(big);
  assert_int_equal((uintptr_t)big % 4096, 0);
  assert_ptr_equal(a.m.big[0].p, big);
  put(&a, big);
  assert_null(a.m.big[0].p);
  assert_int_equal(a.cache.bytes, 0);
}

static void lists_bounded(void **state) {
  (void)state;
  alloc a;
  alloc_init(&a);
  enum { N = 2000 };
  static void *blk[N];
  for (int i = 0; i < N; i++)
    assert_non_null(blk[i] = get(&a, 32 + (size_t)(i % 15) * 32));
  for (int i = 0; i < N; i++)
    put(&a, blk[i]);
  assert_true(a.cache.bytes <= LB_H2_MEM_KEEP);
  assert_true(a.cache.bytes > LB_H2_MEM_KEEP - LB_H2_MEM_SMALL_MAX);
  lb_h2_mem_cache_drain(&a.cache);
  assert_int_equal(a.cache.bytes, 0);
}

/* ---- two real sessions in memory: the client's bytes to the server and back ---- */

typedef struct wire {
  char buf[1 << 16];
  size_t len;
} wire;

static ssize_t to_wire(nghttp2_session *s, const uint8_t *d, size_t n, int flags, void *ud) {
  (void)s, (void)flags;
  wire *w = ud;
  assert_true(n <= sizeof w->buf - w->len);
  memcpy(w->buf + w->len, d, n);
  w->len += n;
  return (ssize_t)n;
}

static int answer(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  (void)ud;
  if (f->hd.type != NGHTTP2_HEADERS || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  char date[40];
  snprintf(date, sizeof date, "Thu, 03 Dec 2026 11:%02d:00 GMT", f->hd.stream_id % 60);
  nghttp2_nv nva[] = {
      {(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
      {(uint8_t *)"date", (uint8_t *)date, 4, strlen(date), 0}, /* new HPACK entries */
      {(uint8_t *)"content-type", (uint8_t *)"application/json", 12, 16, 0},
  };
  assert_int_equal(nghttp2_submit_response(s, f->hd.stream_id, nva, 3, NULL), 0);
  return 0;
}

static int responses;
static int on_client_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  (void)s, (void)ud;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE)
    responses++;
  return 0;
}

static void pass(nghttp2_session *from, wire *w, nghttp2_session *to) {
  assert_int_equal(nghttp2_session_send(from), 0);
  assert_int_equal(nghttp2_session_mem_recv(to, (const uint8_t *)w->buf, w->len),
                   (ssize_t)w->len);
  w->len = 0;
}

static void sessions_through_the_lists(void **state) {
  (void)state;
  alloc a;
  alloc_init(&a);
  static wire up, down; /* client -> server, server -> client */
  nghttp2_session_callbacks *cb;
  nghttp2_session *srv, *cli;
  assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
  nghttp2_session_callbacks_set_send_callback(cb, to_wire);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, answer);
  assert_int_equal(nghttp2_session_server_new3(&srv, cb, &down, NULL, &a.mem), 0);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_client_frame);
  assert_int_equal(nghttp2_session_client_new(&cli, cb, &up), 0);
  nghttp2_session_callbacks_del(cb);
  assert_int_equal(nghttp2_submit_settings(cli, NGHTTP2_FLAG_NONE, NULL, 0), 0);
  assert_int_equal(nghttp2_submit_settings(srv, NGHTTP2_FLAG_NONE, NULL, 0), 0);
  responses = 0;
  size_t peak = 0;
  for (int round = 0; round < 40; round++) {
    for (int k = 0; k < 10; k++) { /* ten streams at once, as h2load -m 10 */
      char path[32];
      snprintf(path, sizeof path, "/my-app/data?r=%d", round * 10 + k);
      nghttp2_nv nva[] = {
          {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
          {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
          {(uint8_t *)":authority", (uint8_t *)"www.my-app.com", 10, 14, 0},
          {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
      };
      assert_true(nghttp2_submit_request(cli, NULL, nva, 4, NULL, NULL) > 0);
    }
    pass(cli, &up, srv);
    pass(srv, &down, cli);
    pass(cli, &up, srv); /* SETTINGS ACK, WINDOW_UPDATE */
    if (a.cache.bytes > peak)
      peak = a.cache.bytes;
  }
  assert_int_equal(responses, 400);
  assert_true(peak > 0); /* the streams' blocks came back to the lists ... */
  assert_true(peak <= LB_H2_MEM_KEEP);
  nghttp2_session_del(srv);
  assert_true(a.cache.bytes <= LB_H2_MEM_KEEP);
  nghttp2_session_del(cli);
  lb_h2_mem_cache_drain(&a.cache); /* ... and go at the end: LeakSanitizer sees no block lost */
  assert_int_equal(kept(&a.cache), 0);
}

/* The trim frees the blocks no session took since the last trim; a block taken stays listed,
 * poisoned, and is the next one lent. */
static void trim_frees_cold_blocks(void **state) {
  (void)state;
  alloc a;
  alloc_init(&a);
  char *p[5];
  for (int i = 0; i < 5; i++)
    p[i] = get(&a, 100);
  for (int i = 0; i < 5; i++)
    put(&a, p[i]);
  assert_int_equal(kept(&a.cache), 5);
  assert_int_equal(lb_h2_mem_cache_trim(&a.cache), 0); /* all five lent since the start */
  assert_true(lb_h2_mem_cache_untouched(&a.cache));
  char *hot = get(&a, 100);
  assert_false(lb_h2_mem_cache_untouched(&a.cache));
  put(&a, hot);
  assert_int_equal(lb_h2_mem_cache_trim(&a.cache), 4 * LB_H2_MEM_CLASS_SIZE(5));
  assert_int_equal(kept(&a.cache), 1);
  assert_int_equal(a.cache.bytes, LB_H2_MEM_CLASS_SIZE(5));
  assert_true(POISONED(hot + 16));
  assert_ptr_equal(get(&a, 100), hot);
  put(&a, hot);
  lb_h2_mem_cache_drain(&a.cache);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(small_block_reused_in_its_class),
      cmocka_unit_test(tiny_block_kept),
      cmocka_unit_test(realloc_and_big_blocks),
      cmocka_unit_test(lists_bounded),
      cmocka_unit_test(trim_frees_cold_blocks),
      cmocka_unit_test(sessions_through_the_lists),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
