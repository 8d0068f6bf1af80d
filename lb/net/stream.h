/* A TCP stream with optional TLS, for every connection of journey-lb that speaks TLS or might:
 * client connections (lb/proxy/client_conn.c) and TLS health probes (lb/control/probe.c). Its
 * consumer sees plaintext only, through five callbacks (lb_stream_ops); the ciphertext, the TLS
 * pump (common/tls.h's engine fed from the socket, drained to it), the socket reads and writes,
 * FIN and the linger after it live here.
 *
 * Writes the cheap way: uv_try_write first and, when the socket took everything (the usual
 * case), the completion is delivered from the loop's idle handle, so there is no write request
 * and no epoll_ctl per response (libuv re-arms the watcher after every queued write). Only what
 * the socket refuses goes to uv_write, with a write request lent from the loop's free list.
 *
 * Memory: a stream holds no buffer of its own while idle. Plaintext goes straight into the room
 * its consumer lends (ops->room, asked for only when bytes arrive); ciphertext is read into the
 * loop's scratch buffer and consumed within the read callback; ciphertext the socket does not
 * take at once (a slow reader) is kept until written, then freed. OpenSSL's own record buffers
 * (~34 KiB): a new TLS stream releases them after every record, as most connections do one
 * request (and many at once in a handshake or waiting for a backend must not hold them); once
 * its consumer sees it reused (lb_stream_keep) they stay while it is busy and go when the
 * consumer says it is idle (lb_stream_rest): a busy connection allocates nothing per request.
 *
 * Ownership: an lb_stream_loop belongs to one uv_loop (a worker's, or the control plane's) and
 * outlives its streams; an lb_stream is embedded in its consumer, which must not move it and
 * frees it after the handle's close callback (lb_stream_close, then lb_stream_free). */
#ifndef JOURNEY_LB_STREAM_H
#define JOURNEY_LB_STREAM_H

#include "common/blockpool.h"
#include "common/tls.h"

#include <uv.h>

/* A write completion waiting for the idle handle. */
typedef struct lb_deferred {
  struct lb_deferred *next, *prev; /* NULL when not queued */
  void (*cb)(struct lb_deferred *d);
} lb_deferred;

#define LB_STREAM_SCRATCH (64 * 1024)
#define LB_STREAM_REST_MS 250 /* idle this long: a busy connection's TLS buffers go (rest) */

/* Per loop: the idle handle of deferred completions, the lent write/shutdown requests, and the
 * scratch buffers every stream of the loop uses within one callback. */
typedef struct lb_stream_loop {
  uv_idle_t idler;      /* runs deferred completions */
  lb_deferred deferred; /* sentinel of the circular list */
  jc_blockpool ioblks;  /* free write/shutdown requests (lb_stream_io) */
  unsigned keep;        /* how many of them the list keeps (0: none, freed when given back) */
  char rscratch[LB_STREAM_SCRATCH]; /* ciphertext just read (also: bytes read to be dropped) */
  char record[16 * 1024];           /* small writes gathered into one TLS record */
} lb_stream_loop;

/* keep: how many free write/shutdown requests to keep (a worker: many; the control plane's
 * rare probes: 0). */
void lb_stream_loop_init(lb_stream_loop *l, uv_loop_t *loop, unsigned keep);
void lb_stream_loop_close(lb_stream_loop *l); /* with its loop: closes the idle handle */
void lb_stream_loop_free(lb_stream_loop *l);  /* after the loop ends: the lent requests' blocks */
/* Frees the write/shutdown requests not lent since the last call (jc_blockpool_trim). */
unsigned lb_stream_loop_trim(lb_stream_loop *l);

void lb_stream_defer(lb_stream_loop *l, lb_deferred *d, void (*cb)(lb_deferred *d));
void lb_stream_undefer(lb_deferred *d);

/* Writes bufs: 0 or a uv error. Completion: done(d) when everything went at once (deferred),
 * else cb(req, status). For sockets that are not lb_streams (backend connections). */
int lb_stream_write(lb_stream_loop *l, uv_stream_t *s, uv_write_t *req, lb_deferred *d,
                    void (*done)(lb_deferred *d), uv_buf_t *bufs, unsigned n, uv_write_cb cb);
/* lb_stream_write's first half: 1 when everything went (done(d) deferred), 0 when
 * bufs[*first..n) (adjusted) are still to be written with uv_write, or a uv error. */
int lb_stream_try_write(lb_stream_loop *l, uv_stream_t *s, lb_deferred *d,
                        void (*done)(lb_deferred *d), uv_buf_t *bufs, unsigned n, unsigned *first);

/* ---- the stream ---- */

typedef struct lb_stream lb_stream;

/* Why a stream stopped (lb_stream_ops.on_close). */
typedef enum {
  LB_STREAM_EOF = 0,     /* the peer closed (FIN, or TLS close_notify): writing still works */
  LB_STREAM_READ_ERROR,  /* reading failed (reset, ...) */
  LB_STREAM_WRITE_ERROR, /* writing or the FIN failed */
  LB_STREAM_TLS_ERROR,   /* handshake or record error (the alert, if any, is on its way) */
  LB_STREAM_NOT_TLS,     /* a server stream's first bytes are not a TLS handshake: TLS is now
                            off, nothing was consumed, the stream stays open for one plaintext
                            answer (plain HTTP on an HTTPS port) */
  LB_STREAM_NO_MEMORY    /* the consumer's room or a TLS buffer could not be had */
} lb_stream_why;

#define LB_STREAM_MORE 0 /* on_data: keep reading */
#define LB_STREAM_STOP 1 /* on_data: stop reading until lb_stream_read (back-pressure) */

/* The consumer's side. Each callback may call lb_stream_close. */
typedef struct lb_stream_ops {
  /* Where the next plaintext goes: *base and *len (at least 1 byte); 0, or -1 when no room can
   * be had (on_close(LB_STREAM_NO_MEMORY) follows). Asked for only when bytes are there to be
   * read, so a consumer can lend its buffer from the first byte on. */
  int (*room)(lb_stream *s, char **base, size_t *len);
  /* n plaintext bytes were put at the room's start. n may be 0 (nothing came after all: a TLS
   * record without application data, EAGAIN): a consumer may take back a buffer lent for it.
   * Returns LB_STREAM_MORE, or LB_STREAM_STOP to stop reading: bytes that arrive meanwhile wait
   * in the kernel (and, with TLS, in the engine) until lb_stream_read. */
  int (*on_data)(lb_stream *s, size_t n);
  /* Everything given to lb_stream_send is on the socket (not after lb_stream_end). */
  void (*on_sent)(lb_stream *s);
  /* The stream stopped reading for good: why, and a text for the logs. After LB_STREAM_EOF
   * (not during lb_stream_end's linger) writing still works: a half-closed peer can be
   * answered. Once lb_stream_end has been called, every end is reported here (EOF included):
   * the linger is over. */
  void (*on_close)(lb_stream *s, lb_stream_why why, const char *text);
  /* TLS handshake complete (TLS streams only), before its first on_data. */
  void (*on_ready)(lb_stream *s);
} lb_stream_ops;

/* Write and shutdown requests: lent from the loop only while libuv holds one. */
typedef struct lb_stream_io {
  uv_write_t wreq;
  uv_shutdown_t sreq;
} lb_stream_io;

struct lb_stream {
  uv_tcp_t tcp; /* tcp.data: the stream. Consumers may uv_accept / uv_tcp_connect on it */
  const lb_stream_ops *ops;
  lb_stream_loop *sl;
  lb_stream_io *io; /* lent while libuv holds a request */
  lb_deferred wdone;
  char *wrest;      /* ciphertext the socket did not take at once, until written (then freed) */
  jc_tls tls;       /* valid while tls_on; consumers may read tls.ssl (peer certificate, ...) */
  unsigned tls_on : 1;
  unsigned server : 1;
  unsigned reading : 1;   /* uv_read_start active */
  unsigned writing : 1;   /* a socket write in flight */
  unsigned want_sent : 1; /* lb_stream_send issued: on_sent when everything is written */
  unsigned ending : 1;    /* lb_stream_end: close_notify, FIN and linger once written */
  unsigned lingering : 1; /* FIN sent: what the peer still sends is read and dropped */
  unsigned eof : 1;       /* nothing more will be read */
  unsigned closing : 1;
  unsigned kept : 1;      /* lb_stream_keep done: OpenSSL keeps its buffers from then on */
};

/* uv_tcp_init on l's loop (s zeroed by its consumer); the consumer then accepts or connects on
 * s->tcp. 0 or a uv error. */
int lb_stream_init(lb_stream *s, lb_stream_loop *l, const lb_stream_ops *ops);
/* TLS on s (server side: accept; client: connect with sni). A client stream starts its
 * handshake at once (the socket must be connected) and reads. 0 or -1 (allocation failure). */
int lb_stream_tls(lb_stream *s, SSL_CTX *ctx, int server, const char *sni);
/* Reads (again): after accept/connect and after LB_STREAM_STOP; plaintext the TLS engine kept
 * while reading was stopped is delivered now. No-op once the peer closed. */
void lb_stream_read(lb_stream *s);
/* Plaintext out. The bytes stay the caller's until on_sent (plain TCP writes from them; TLS
 * seals them into records at once, a small multi-buffer send as one record); the uv_buf_t array
 * may be adjusted. 0, or
 * -1 when the stream failed (on_close has been called). on_sent follows when everything is on
 * the socket. One send at a time (the next after on_sent). */
int lb_stream_send(lb_stream *s, uv_buf_t *bufs, unsigned n);
/* The last write: once everything queued is written, TLS close_notify (unless the session
 * failed), FIN, then read and drop what the peer still sends (so that the kernel does not
 * answer unread input with a reset that can destroy the response) until on_close. The consumer
 * bounds the linger with its own timer. */
void lb_stream_end(lb_stream *s);
/* The connection is being reused: OpenSSL's record buffers stay between records (from now on:
 * callers may call it at every request, it asks OpenSSL once). */
void lb_stream_keep(lb_stream *s);
/* The connection is idle: OpenSSL's record buffers go back to the allocator (no-op without TLS,
 * or while a record is half read: the next idle point tries again). */
void lb_stream_rest(lb_stream *s);
/* Closes the handle: cb(&s->tcp) when libuv is done with it, then lb_stream_free. */
void lb_stream_close(lb_stream *s, uv_close_cb cb);
void lb_stream_free(lb_stream *s);

/* Out of file descriptors (EMFILE/ENFILE) in `where`: one warning per 10 s for the whole
 * process, with the limit and what to do. */
void lb_fd_exhausted(const char *where);
uint64_t lb_fd_limit(void); /* RLIMIT_NOFILE's soft limit, read once */

#endif
