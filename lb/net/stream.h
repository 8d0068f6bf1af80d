/* Writes to a libuv stream the cheap way, for every connection of one loop: uv_try_write first
 * and, when the socket took everything (the usual case), the completion is delivered from the
 * loop's idle handle, so there is no write request and no epoll_ctl per response (libuv re-arms
 * the watcher after every queued write). Only what the socket refuses goes to uv_write.
 *
 * Ownership: an lb_stream_loop belongs to one uv_loop (a worker's); an lb_deferred belongs to the
 * connection that embeds it, which calls lb_stream_undefer before it is freed. */
#ifndef JOURNEY_LB_STREAM_H
#define JOURNEY_LB_STREAM_H

#include <uv.h>

/* A write completion waiting for the idle handle. */
typedef struct lb_deferred {
  struct lb_deferred *next, *prev; /* NULL when not queued */
  void (*cb)(struct lb_deferred *d);
} lb_deferred;

typedef struct lb_stream_loop {
  uv_idle_t idler;      /* runs deferred completions */
  lb_deferred deferred; /* sentinel of the circular list */
} lb_stream_loop;

void lb_stream_loop_init(lb_stream_loop *l, uv_loop_t *loop);
void lb_stream_loop_close(lb_stream_loop *l); /* with its loop: closes the idle handle */

void lb_stream_defer(lb_stream_loop *l, lb_deferred *d, void (*cb)(lb_deferred *d));
void lb_stream_undefer(lb_deferred *d);

/* Writes bufs: 0 or a uv error. Completion: done(d) when everything went at once (deferred),
 * else cb(req, status). */
int lb_stream_write(lb_stream_loop *l, uv_stream_t *s, uv_write_t *req, lb_deferred *d,
                    void (*done)(lb_deferred *d), uv_buf_t *bufs, unsigned n, uv_write_cb cb);
/* lb_stream_write's first half: 1 when everything went (done(d) deferred), 0 when
 * bufs[*first..n) (adjusted) are still to be written with uv_write, or a uv error. */
int lb_stream_try_write(lb_stream_loop *l, uv_stream_t *s, lb_deferred *d,
                        void (*done)(lb_deferred *d), uv_buf_t *bufs, unsigned n, unsigned *first);

#endif
