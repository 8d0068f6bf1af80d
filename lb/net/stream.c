/* TCP streams with optional TLS, plaintext to their consumer; cheap writes with deferred
 * completions (stream.h). */
#include "lb/net/stream.h"
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "common/log.h"
#include "common/clock.h"

static void on_idle(uv_idle_t *h);

void lb_stream_loop_init(lb_stream_loop *l, uv_loop_t *loop, unsigned keep) {
  uv_idle_init(loop, &l->idler);
  l->idler.data = l;
  l->deferred.next = l->deferred.prev = &l->deferred;
  l->ioblks = (jc_blockpool){.free = NULL};
  l->keep = keep;
}

void lb_stream_loop_close(lb_stream_loop *l) {
  if (!uv_is_closing((uv_handle_t *)&l->idler))
    uv_close((uv_handle_t *)&l->idler, NULL);
}

void lb_stream_loop_free(lb_stream_loop *l) { jc_blockpool_drain(&l->ioblks); }

unsigned lb_stream_loop_trim(lb_stream_loop *l) { return jc_blockpool_trim(&l->ioblks); }

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

/* ---- the stream ---- */

static void pump(lb_stream *s);
static int flush(lb_stream *s);

int lb_stream_init(lb_stream *s, lb_stream_loop *l, const lb_stream_ops *ops) {
  s->ops = ops;
  s->sl = l;
  s->tcp.data = s;
  int r = uv_tcp_init(l->idler.loop, &s->tcp);
  s->tcp.data = s;
  return r;
}

int lb_stream_tls(lb_stream *s, SSL_CTX *ctx, int server, const char *sni) {
  if (jc_tls_init(&s->tls, ctx, server, sni) != 0)
    return -1;
  s->tls_on = 1;
  s->server = server ? 1 : 0;
  if (!server) { /* the client speaks first */
    jc_tls_handshake(&s->tls);
    if (flush(s) != 0)
      return 0; /* reported */
    lb_stream_read(s);
  }
  return 0;
}

/* The write and shutdown requests, lent only while libuv holds one of them. */
static lb_stream_io *io_get(lb_stream *s) {
  if (!s->io)
    s->io = (lb_stream_io *)(void *)jc_blockpool_get(&s->sl->ioblks, sizeof(lb_stream_io));
  return s->io;
}

static void io_put(lb_stream *s) {
  if (s->io) {
    jc_blockpool_put(&s->sl->ioblks, (char *)s->io, s->sl->keep);
    s->io = NULL;
  }
}

static void read_stop(lb_stream *s) {
  if (s->reading) {
    uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = 0;
  }
}

/* Nothing more will be read: tell the consumer. */
static void report(lb_stream *s, lb_stream_why why, const char *text) {
  read_stop(s);
  s->eof = 1;
  s->ops->on_close(s, why, text);
}

void lb_stream_close(lb_stream *s, uv_close_cb cb) {
  if (s->closing)
    return;
  s->closing = 1;
  s->reading = 0;
  lb_stream_undefer(&s->wdone);
  uv_close((uv_handle_t *)&s->tcp, cb);
}

void lb_stream_free(lb_stream *s) {
  if (s->tls_on) {
    jc_tls_free(&s->tls);
    s->tls_on = 0;
  }
  io_put(s); /* libuv has called back every request of the closed handle */
  free(s->wrest);
  s->wrest = NULL;
}

/* ---- writing ---- */

static void end_now(lb_stream *s);

static void written(lb_stream *s, int status) {
  s->writing = 0;
  if (s->wrest) { /* only a slow reader's leftover needed it (flush) */
    free(s->wrest);
    s->wrest = NULL;
  }
  if (s->closing)
    return;
  if (status < 0) {
    report(s, LB_STREAM_WRITE_ERROR, uv_strerror(status));
    return;
  }
  if (s->tls_on && jc_tls_out_pending(&s->tls)) {
    flush(s);
    return;
  }
  if (s->ending) {
    end_now(s);
    return;
  }
  if (s->want_sent) {
    s->want_sent = 0;
    s->ops->on_sent(s);
  }
}

static void on_written_now(lb_deferred *d) {
  written((lb_stream *)(void *)((char *)d - offsetof(lb_stream, wdone)), 0);
}

static void on_written(uv_write_t *req, int status) {
  lb_stream *s = req->data;
  if (!s->lingering) /* else the shutdown request in the same block is (about to be) queued */
    io_put(s);
  written(s, status);
}

/* uv_write of what the socket did not take, with a lent request. */
static int write_rest(lb_stream *s, uv_buf_t *bufs, unsigned n) {
  lb_stream_io *io = io_get(s);
  if (!io)
    return UV_ENOMEM;
  io->wreq.data = s;
  return uv_write(&io->wreq, (uv_stream_t *)&s->tcp, bufs, n, on_written);
}

/* Moves pending ciphertext to the socket (one write in flight, up to LB_STREAM_SCRATCH
 * bytes): 0, or -1 once reported. Handshake records, tickets and alerts go the same way; only
 * lb_stream_send sets want_sent. The usual case: the socket takes the whole flight at once,
 * straight from the engine's output buffer (no copy), which then goes back to the thread's
 * list, so an idle stream keeps no ciphertext buffer of its own. Only what the socket leaves is
 * copied to s->wrest for uv_write; that buffer is freed once written. */
static int flush(lb_stream *s) {
  if (s->writing || s->closing || !jc_tls_out_pending(&s->tls))
    return 0;
  lb_stream_loop *l = s->sl;
  const char *p = NULL;
  size_t got = jc_tls_out_peek(&s->tls, &p);
  if (got > LB_STREAM_SCRATCH)
    got = LB_STREAM_SCRATCH;
  uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)got);
  int r = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
  if (r == UV_EAGAIN || r == UV_ENOSYS)
    r = 0;
  if (r < 0) {
    report(s, LB_STREAM_WRITE_ERROR, uv_strerror(r));
    return -1;
  }
  s->writing = 1;
  if ((size_t)r == got) { /* all taken: completion from the idle handle, as lb_stream_write */
    jc_tls_out_drop(&s->tls, got);
    lb_stream_defer(l, &s->wdone, on_written_now);
    return 0;
  }
  size_t rest = got - (size_t)r;
  s->wrest = malloc(rest); /* NULL here: freed when the previous write completed */
  if (s->wrest)
    memcpy(s->wrest, p + r, rest);
  jc_tls_out_drop(&s->tls, got);
  if (!s->wrest) {
    s->writing = 0;
    report(s, LB_STREAM_NO_MEMORY, "out of memory");
    return -1;
  }
  b = uv_buf_init(s->wrest, (unsigned)rest);
  int e = write_rest(s, &b, 1);
  if (e < 0) {
    s->writing = 0;
    report(s, LB_STREAM_WRITE_ERROR, uv_strerror(e));
    return -1;
  }
  return 0;
}

int lb_stream_send(lb_stream *s, uv_buf_t *bufs, unsigned n) {
  s->want_sent = 1;
  if (!s->tls_on) {
    s->writing = 1;
    unsigned first = 0;
    int r = lb_stream_try_write(s->sl, (uv_stream_t *)&s->tcp, &s->wdone, on_written_now, bufs, n,
                                &first);
    if (r == 0)
      r = write_rest(s, bufs + first, n - first);
    if (r < 0) {
      s->writing = 0;
      report(s, LB_STREAM_WRITE_ERROR, uv_strerror(r));
      return -1;
    }
    return 0;
  }
  size_t total = 0;
  for (unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  lb_stream_loop *l = s->sl;
  if (n > 1 && total <= sizeof l->record) {
    /* A small response in one TLS record: one seal, one header, fewer bytes. */
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
      memcpy(l->record + off, bufs[i].base, bufs[i].len);
      off += bufs[i].len;
    }
    if (jc_tls_write(&s->tls, l->record, off) != JC_TLS_OK) {
      report(s, LB_STREAM_TLS_ERROR, s->tls.err);
      return -1;
    }
  } else {
    for (unsigned i = 0; i < n; i++)
      if (bufs[i].len && jc_tls_write(&s->tls, bufs[i].base, bufs[i].len) != JC_TLS_OK) {
        report(s, LB_STREAM_TLS_ERROR, s->tls.err);
        return -1;
      }
  }
  if (s->writing)
    return 0; /* the write in flight drains the rest, then completes */
  return flush(s);
}

void lb_stream_keep(lb_stream *s) {
  if (s->tls_on && !s->kept) { /* the mode stays: lb_stream_rest frees buffers, keeps the mode */
    jc_tls_keep_buffers(&s->tls);
    s->kept = 1;
  }
}

void lb_stream_rest(lb_stream *s) {
  if (s->tls_on && !s->closing)
    jc_tls_release_buffers(&s->tls);
}

/* ---- the end: close_notify, FIN, linger ---- */

static void on_shutdown_done(uv_shutdown_t *req, int status) {
  lb_stream *s = req->data;
  if (!s->closing && status < 0)
    report(s, LB_STREAM_WRITE_ERROR, uv_strerror(status));
}

void lb_stream_end(lb_stream *s) {
  if (s->closing || s->ending)
    return;
  s->ending = 1;
  s->want_sent = 0;
  if (s->tls_on && !s->tls.fatal)
    jc_tls_shutdown(&s->tls); /* close_notify: keeps the client's TLS session resumable */
  if (s->writing)
    return; /* written() ends it */
  if (s->tls_on && (flush(s) != 0 || s->writing))
    return;
  end_now(s);
}

/* Everything is written: FIN, then read and drop until the peer closes. Closing with unread
 * input would make the kernel answer RST, which can destroy the response before the peer has
 * read it (e.g. a 413 while a body is arriving). */
static void end_now(lb_stream *s) {
  if (s->eof) {
    s->ops->on_close(s, LB_STREAM_EOF, "closed");
    return;
  }
  s->lingering = 1;
  lb_stream_io *io = io_get(s); /* kept until the close: lingering writes nothing more */
  if (!io) {
    report(s, LB_STREAM_NO_MEMORY, "out of memory");
    return;
  }
  io->sreq.data = s;
  int r = uv_shutdown(&io->sreq, (uv_stream_t *)&s->tcp, on_shutdown_done);
  if (r != 0) {
    report(s, LB_STREAM_WRITE_ERROR, uv_strerror(r));
    return;
  }
  lb_stream_read(s);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lb_stream *s = h->data;
  (void)suggested;
  if (s->tls_on || s->lingering) {
    *buf = uv_buf_init(s->sl->rscratch, sizeof s->sl->rscratch);
    return;
  }
  char *base = NULL;
  size_t len = 0;
  if (s->ops->room(s, &base, &len) != 0)
    len = 0;
  *buf = uv_buf_init(len ? base : NULL, (unsigned)len); /* none: on_read gets UV_ENOBUFS */
}

/* Decrypts what the TLS engine holds into the consumer's room, while it takes more. */
static void pump(lb_stream *s) {
  for (;;) {
    char *base = NULL;
    size_t len = 0, n = 0;
    int peer_closed = 0;
    if (s->ops->room(s, &base, &len) != 0) {
      report(s, LB_STREAM_NO_MEMORY, "out of memory");
      return;
    }
    while (n < len) {
      size_t got = 0;
      jc_tls_status st = jc_tls_read(&s->tls, base + n, len - n, &got);
      if (st == JC_TLS_OK) {
        n += got;
        if (!jc_tls_in_pending(&s->tls))
          break; /* a further read would only say "want more": skip that call */
        continue;
      }
      if (st == JC_TLS_CLOSED) {
        peer_closed = 1;
      } else if (st == JC_TLS_ERROR) {
        report(s, LB_STREAM_TLS_ERROR, s->tls.err);
        return;
      }
      break;
    }
    if (flush(s) != 0)
      return;
    int r = s->ops->on_data(s, n);
    if (s->closing)
      return;
    if (peer_closed) {
      report(s, LB_STREAM_EOF, "close_notify");
      return;
    }
    if (r == LB_STREAM_STOP || !len) {
      read_stop(s); /* the rest waits in the engine (lb_stream_read) */
      return;
    }
    if (n < len || !jc_tls_in_pending(&s->tls))
      return; /* the engine has no whole record more (or nothing): wait for the socket */
  }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  lb_stream *s = st->data;
  if (s->closing)
    return;
  if (s->lingering) { /* dropped */
    if (nread < 0)
      report(s, nread == UV_EOF ? LB_STREAM_EOF : LB_STREAM_READ_ERROR, uv_strerror((int)nread));
    return;
  }
  if (nread < 0) {
    if (nread == UV_ENOBUFS)
      report(s, LB_STREAM_NO_MEMORY, "out of memory");
    else
      report(s, nread == UV_EOF ? LB_STREAM_EOF : LB_STREAM_READ_ERROR, uv_strerror((int)nread));
    return;
  }
  if (!s->tls_on) {
    if (s->ops->on_data(s, (size_t)nread) == LB_STREAM_STOP && !s->closing)
      read_stop(s);
    return;
  }
  if (nread == 0)
    return;
  if (s->server && !s->tls.handshake_done && SSL_get_state(s->tls.ssl) == TLS_ST_BEFORE &&
      (unsigned char)buf->base[0] != 0x16) {
    /* Not a TLS handshake record: say so instead of sending an alert nobody reads. */
    jc_tls_free(&s->tls);
    s->tls_on = 0;
    read_stop(s);
    s->ops->on_close(s, LB_STREAM_NOT_TLS, "plain text on a TLS port");
    return;
  }
  if (jc_tls_feed(&s->tls, buf->base, (size_t)nread) != 0) {
    report(s, LB_STREAM_NO_MEMORY, "out of memory");
    return;
  }
  if (!s->tls.handshake_done) {
    jc_tls_status hs = jc_tls_handshake(&s->tls);
    if (hs == JC_TLS_ERROR) {
      if (flush(s) == 0) /* the alert */
        report(s, LB_STREAM_TLS_ERROR, s->tls.err);
      return;
    }
    if (hs != JC_TLS_OK) {
      flush(s);
      return;
    }
    s->ops->on_ready(s);
    if (s->closing)
      return;
  }
  pump(s);
}

void lb_stream_read(lb_stream *s) {
  if (s->closing || s->eof || s->reading)
    return;
  if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) == 0)
    s->reading = 1;
  if (s->tls_on && s->tls.handshake_done && !s->lingering && jc_tls_in_pending(&s->tls))
    pump(s); /* plaintext the engine kept while reading was stopped */
}

/* ---- descriptors ---- */

uint64_t lb_fd_limit(void) {
  static atomic_uint_fast64_t cached;
  uint64_t v = atomic_load_explicit(&cached, memory_order_relaxed);
  if (!v) {
    struct rlimit rl = {0, 0};
    v = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur
                                                                           : UINT32_MAX;
    atomic_store_explicit(&cached, v, memory_order_relaxed);
  }
  return v;
}

void lb_fd_exhausted(const char *where) {
  static atomic_uint_fast64_t last_us;
  uint64_t now = jc_now_us(), prev = atomic_load_explicit(&last_us, memory_order_relaxed);
  if ((prev && now - prev < 10000000) ||
      !atomic_compare_exchange_strong_explicit(&last_us, &prev, now, memory_order_relaxed,
                                               memory_order_relaxed))
    return;
  struct rlimit rl = {0, 0};
  getrlimit(RLIMIT_NOFILE, &rl);
  jc_log(JC_LOG_ERROR, "out of file descriptors while %s (open-file limit %llu, hard %llu): "
         "new connections are being dropped; raise the limit (ulimit -n, LimitNOFILE= in the "
         "systemd unit) or lower --max-connections (each proxied request needs two "
         "descriptors); this message repeats at most every 10 s", where,
         (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
}
