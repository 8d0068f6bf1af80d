/* Cheap writes with deferred completions (stream.h). */
#include "lb/net/stream.h"

static void on_idle(uv_idle_t *h);

void lb_stream_loop_init(lb_stream_loop *l, uv_loop_t *loop) {
  uv_idle_init(loop, &l->idler);
  l->idler.data = l;
  l->deferred.next = l->deferred.prev = &l->deferred;
}

void lb_stream_loop_close(lb_stream_loop *l) {
  if (!uv_is_closing((uv_handle_t *)&l->idler))
    uv_close((uv_handle_t *)&l->idler, NULL);
}

void lb_stream_defer(lb_stream_loop *w, lb_deferred *d, void (*cb)(lb_deferred *d)) {
  if (d->next)
    return;
  d->cb = cb;
  d->prev = w->deferred.prev;
  d->next = &w->deferred;
  w->deferred.prev->next = d;
  w->deferred.prev = d;
  if (!uv_is_active((uv_handle_t *)&w->idler))
    uv_idle_start(&w->idler, on_idle);
}

void lb_stream_undefer(lb_deferred *d) {
  if (!d->next)
    return;
  d->prev->next = d->next;
  d->next->prev = d->prev;
  d->next = d->prev = NULL;
}

static void on_idle(uv_idle_t *h) {
  lb_stream_loop *w = h->data;
  /* Run what is queued now; completions queued meanwhile wait for the next turn. */
  lb_deferred batch;
  if (w->deferred.next == &w->deferred) {
    uv_idle_stop(h);
    return;
  }
  batch.next = w->deferred.next;
  batch.prev = w->deferred.prev;
  batch.next->prev = &batch;
  batch.prev->next = &batch;
  w->deferred.next = w->deferred.prev = &w->deferred;
  while (batch.next != &batch) {
    lb_deferred *d = batch.next;
    lb_stream_undefer(d);
    d->cb(d);
  }
  if (w->deferred.next == &w->deferred)
    uv_idle_stop(h);
}

int lb_stream_try_write(lb_stream_loop *w, uv_stream_t *s, lb_deferred *d, void (*done)(lb_deferred *d),
                        uv_buf_t *bufs, unsigned n, unsigned *first) {
  size_t total = 0;
  for (unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  int r = uv_try_write(s, bufs, n);
  if (r == UV_EAGAIN || r == UV_ENOSYS)
    r = 0;
  if (r < 0)
    return r;
  if ((size_t)r == total) {
    lb_stream_defer(w, d, done);
    return 1;
  }
  /* The socket took part: the rest is for uv_write (libuv copies the uv_buf_t array). */
  size_t skip = (size_t)r;
  unsigned i = 0;
  while (skip && skip >= bufs[i].len)
    skip -= bufs[i++].len;
  bufs[i].base += skip;
  bufs[i].len -= skip;
  *first = i;
  return 0;
}

int lb_stream_write(lb_stream_loop *w, uv_stream_t *s, uv_write_t *req, lb_deferred *d,
                    void (*done)(lb_deferred *d), uv_buf_t *bufs, unsigned n, uv_write_cb cb) {
  unsigned i = 0;
  int r = lb_stream_try_write(w, s, d, done, bufs, n, &i);
  if (r != 0)
    return r < 0 ? r : 0;
  return uv_write(req, s, bufs + i, n - i, cb);
}

