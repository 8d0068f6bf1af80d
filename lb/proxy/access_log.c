/* Access log (one line per request on stdout) and debug phase lines (stderr).
 *
 * A worker's access log lines gather in its buffer and go out with one write(2) per loop
 * iteration (a uv_prepare handle, started by the first line: after the iteration's callbacks,
 * before the loop waits), or sooner when the buffer is full: one system call for every line of
 * the iteration instead of one per line. Nothing waits for the next request: the loop flushes before it sleeps. Stopping
 * (SIGTERM, SIGINT, a normal exit) flushes last thing in each worker; SIGHUP leaves the workers
 * running. What SIGKILL (or a crash, or the "second signal: exit now" path) loses is what the
 * buffers hold: at most one loop iteration's lines per worker. */
#include "lb/proxy/access_log.h"
#include "lb/proxy/runtime.h"

#include <errno.h>
#include <llhttp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

#define LOGBUF_CAP (64 * 1024)

/* Workers' flushes never interleave, even on a pipe (where writes over PIPE_BUF may be split). */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void write_out(const char *p, size_t n) {
  pthread_mutex_lock(&out_lock);
  while (n) {
    ssize_t w = write(1, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break; /* nowhere to report a failing log stream */
    p += w;
    n -= (size_t)w;
  }
  pthread_mutex_unlock(&out_lock);
}

void lb_access_log_flush(lb_worker *w) {
  if (w->log.len) {
    write_out(w->log.buf, w->log.len);
    w->log.len = 0;
  }
}

static void on_flush(uv_prepare_t *p) { lb_access_log_flush(p->data); }

int lb_access_log_init(lb_worker *w) {
  w->log.len = 0;
  w->log.cap = LOGBUF_CAP;
  w->log.buf = malloc(LOGBUF_CAP);
  if (!w->log.buf)
    return -1;
  uv_prepare_init(&w->loop, &w->log.flush);
  w->log.flush.data = w;
  uv_unref((uv_handle_t *)&w->log.flush); /* never what keeps a stopping worker's loop alive */
  return 0;
}

/* Started by the first line (none with --access-log off: no cost per loop iteration then). */
static void flush_soon(lb_worker *w) {
  uv_handle_t *h = (uv_handle_t *)&w->log.flush;
  if (!uv_is_active(h) && !uv_is_closing(h)) /* closing: lb_access_log_free writes the rest */
    uv_prepare_start(&w->log.flush, on_flush);
}

void lb_access_log_close(lb_worker *w) {
  lb_access_log_flush(w);
  if (w->log.buf && !uv_is_closing((uv_handle_t *)&w->log.flush))
    uv_close((uv_handle_t *)&w->log.flush, NULL);
}

void lb_access_log_free(lb_worker *w) {
  if (!w->log.buf)
    return;
  lb_access_log_flush(w); /* lines of the last connections' close callbacks */
  free(w->log.buf);
  w->log.buf = NULL;
}

/* The finished line into the worker's buffer (written at the end of this loop iteration). */
static void put_line(lb_worker *w, jc_logline *l) {
  jc_logline_finish(l);
  if (!w->log.buf) {
    write_out(l->buf, l->len);
    return;
  }
  if (w->log.len + l->len > w->log.cap)
    lb_access_log_flush(w);
  memcpy(w->log.buf + w->log.len, l->buf, l->len);
  w->log.len += l->len;
  flush_soon(w);
}

/* An access log line is a list of fields made once, then written by one of two writers that
 * give the same bytes: straight into the worker's buffer (logfmt, the default, when the line
 * cannot reach the truncation limit), or through jc_logline (JSON, and very long lines). */
enum { F_STR, F_INT, F_UINT, F_MS, F_BOOL };
typedef struct field {
  const char *key;
  size_t klen;
  int kind;
  const char *s; /* F_STR */
  size_t n;
  int64_t v;     /* F_INT, F_UINT, F_MS (negative: -1, not reached), F_BOOL */
} field;

#define FIELDS_MAX 34
typedef struct fields {
  field f[FIELDS_MAX];
  int n;
  size_t text; /* bytes of the string values */
} fields;

static void add(fields *fs, const char *key, size_t klen, int kind, const char *s, size_t n,
                int64_t v) {
  field *f = &fs->f[fs->n++];
  f->key = key, f->klen = klen, f->kind = kind, f->s = s, f->n = n, f->v = v;
  fs->text += n;
}
#define STRN(fs, k, s, n) add(fs, k, sizeof k - 1, F_STR, s, n, 0)
#define STR(fs, k, s) STRN(fs, k, s, strlen(s))
#define NUM(fs, k, kind, v) add(fs, k, sizeof k - 1, kind, NULL, 0, (int64_t)(v))

static void generic_line(jc_logline *l, const fields *fs) {
  jc_log_begin(l, JC_LOG_INFO, "request");
  for (int i = 0; i < fs->n; i++) {
    const field *f = &fs->f[i];
    switch (f->kind) {
    case F_STR: jc_logline_strn(l, f->key, f->s, f->n); break;
    case F_INT: jc_logline_int(l, f->key, f->v); break;
    case F_UINT: jc_logline_uint(l, f->key, (uint64_t)f->v); break;
    case F_BOOL: jc_logline_bool(l, f->key, (int)f->v); break;
    default:
      if (f->v < 0)
        jc_logline_int(l, f->key, -1);
      else
        jc_logline_ms(l, f->key, (uint64_t)f->v);
    }
  }
}

/* Room for a line's keys, stamp and numbers; string values take at most 6 bytes per byte
 * (escaped) plus quotes. */
#define FIXED_ROOM 1024

static size_t fast_line(char *out, const fields *fs) {
  char *p = out;
  memcpy(p, "time=", 5);
  p += 5;
  jc_wall_rfc3339(p, 32);
  p += 24;
  memcpy(p, " level=info msg=request", 23);
  p += 23;
  for (int i = 0; i < fs->n; i++) {
    const field *f = &fs->f[i];
    *p++ = ' ';
    memcpy(p, f->key, f->klen);
    p += f->klen;
    *p++ = '=';
    switch (f->kind) {
    case F_STR: p += jc_logfmt_value(p, f->s, f->n); break;
    case F_INT:
      if (f->v < 0)
        *p++ = '-';
      p += jc_log_uint(p, f->v < 0 ? 0ull - (uint64_t)f->v : (uint64_t)f->v);
      break;
    case F_UINT: p += jc_log_uint(p, (uint64_t)f->v); break;
    case F_BOOL:
      memcpy(p, f->v ? "true" : "false", f->v ? 4 : 5);
      p += f->v ? 4 : 5;
      break;
    default:
      if (f->v < 0) {
        memcpy(p, "-1", 2);
        p += 2;
      } else {
        p += jc_log_ms(p, (uint64_t)f->v);
      }
    }
  }
  *p++ = '\n';
  return (size_t)(p - out);
}

/* The method as the client sent it: an h2 WebSocket's CONNECT, though its backend got GET. */
static const char *client_method(const lb_exchange *ex) {
  return ex->h2_connect ? "CONNECT" : lb_exchange_method_name(ex);
}

void lb_access_log(lb_exchange *ex, const lb_log_conn *conn) {
  lb_runtime *rt = ex->w->rt;
  /* Every request ends here once (logged or not): its protocol's count. This worker is the
   * only writer, so a plain load and store (no locked add) keep the HTTP/1.1 path cheap. */
  atomic_uint_fast64_t *count =
      &ex->w->requests_by_proto[conn->stream ? LB_PROTO_H2 : LB_PROTO_HTTP1];
  atomic_store_explicit(count, atomic_load_explicit(count, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  if (!rt->cfg.access_log)
    return;
  lb_timers tm;
  lb_timing_compute(&ex->t, &tm);
  const char *rid = lb_exchange_request_id(ex); /* before reqid_len: it may make it */
  fields fs;
  fs.n = 0;
  fs.text = 0;
  char subject[512];
  STRN(&fs, "request_id", rid, ex->reqid_len);
  STR(&fs, "client", conn->peer);
  if (conn->ssl) {
    const char *sni = SSL_get_servername(conn->ssl, TLSEXT_NAMETYPE_host_name);
    STR(&fs, "tls", SSL_get_version(conn->ssl));
    STR(&fs, "cipher", SSL_get_cipher_name(conn->ssl));
    STR(&fs, "sni", sni ? sni : "");
    size_t n = lb_tls_peer_subject(conn->ssl, subject, sizeof subject);
    if (n || rt->cfg.tls.client_ca[0])
      STRN(&fs, "client_cert", subject, n);
  } else {
    STRN(&fs, "tls", "plain", 5);
    STRN(&fs, "cipher", "", 0);
    STRN(&fs, "sni", "", 0);
  }
  STR(&fs, "proto", conn->stream ? "h2" : "http/1.1");
  if (conn->stream)
    NUM(&fs, "stream", F_UINT, conn->stream);
  STR(&fs, "method", client_method(ex));
  STR(&fs, "path", conn->path);
  NUM(&fs, "status", F_INT, ex->status);
  NUM(&fs, "bytes_in", F_UINT, ex->bytes_in);
  NUM(&fs, "bytes_out", F_UINT, ex->bytes_out);
  if (ex->pool >= 0) {
    const lb_pool *p = &rt->pools[ex->pool];
    STR(&fs, "pool", p->name);
    STR(&fs, "algorithm", lb_algo_name(p->algo));
    if (ex->server >= 0) {
      STR(&fs, "backend", p->servers[ex->server].name);
      STR(&fs, "backend_addr", p->servers[ex->server].addr_text);
    } else {
      STRN(&fs, "backend", "", 0);
      STRN(&fs, "backend_addr", "", 0);
    }
  } else {
    STRN(&fs, "pool", "", 0);
    STRN(&fs, "algorithm", "", 0);
    STRN(&fs, "backend", "", 0);
    STRN(&fs, "backend_addr", "", 0);
  }
  NUM(&fs, "retries", F_INT, ex->retries + ex->reused_retry);
  NUM(&fs, "reused", F_BOOL, ex->backend_reused != 0);
  NUM(&fs, "Th", F_MS, tm.Th);
  NUM(&fs, "Ti", F_MS, tm.Ti);
  NUM(&fs, "TR", F_MS, tm.TR);
  NUM(&fs, "Tw", F_MS, tm.Tw);
  NUM(&fs, "Tc", F_MS, tm.Tc);
  NUM(&fs, "Tr", F_MS, tm.Tr);
  NUM(&fs, "Td", F_MS, tm.Td);
  NUM(&fs, "Ta", F_MS, tm.Ta);
  NUM(&fs, "Tt", F_MS, tm.Tt);
  if (ex->tunnel) { /* the two phases of a WebSocket: up to the 101, then the tunnel's life */
    const lb_timing *t = &ex->t;
    NUM(&fs, "upgrade_ms", F_MS, t->resp_hdr >= t->req_start ? t->resp_hdr - t->req_start : 0);
    NUM(&fs, "tunnel_ms", F_MS, t->done >= t->resp_hdr ? t->done - t->resp_hdr : 0);
  }
  STR(&fs, "term", ex->term ? ex->term : "ok");

  lb_worker *w = ex->w;
  size_t worst = FIXED_ROOM + 6 * fs.text + 2 * (size_t)fs.n;
  if (w->log.buf && jc_log_get_format() == JC_LOG_LOGFMT && worst <= JC_LOGLINE_MAX - 24) {
    if (w->log.cap - w->log.len < JC_LOGLINE_MAX)
      lb_access_log_flush(w);
    w->log.len += fast_line(w->log.buf + w->log.len, &fs);
    flush_soon(w);
    return;
  }
  jc_logline l;
  generic_line(&l, &fs);
  put_line(w, &l);
}

void lb_debug_phase(lb_exchange *ex, const lb_log_conn *conn, const char *phase, uint64_t now) {
  const char *rid = lb_exchange_request_id(ex);
  jc_logline l;
  jc_log_begin(&l, JC_LOG_DEBUG, "phase");
  jc_logline_str(&l, "phase", phase);
  jc_logline_uint(&l, "conn", conn->id);
  jc_logline_strn(&l, "request_id", rid, ex->reqid_len);
  if (ex->pool >= 0 && ex->server >= 0) {
    const lb_server *s = &ex->w->rt->pools[ex->pool].servers[ex->server];
    jc_logline_str(&l, "backend", s->name);
    jc_logline_str(&l, "backend_addr", s->addr_text);
  }
  if (!__builtin_strcmp(phase, "connect"))
    jc_logline_bool(&l, "reused", ex->backend_reused);
  if (!__builtin_strcmp(phase, "request")) {
    jc_logline_str(&l, "method", client_method(ex));
    jc_logline_str(&l, "path", conn->path);
  }
  if (!__builtin_strcmp(phase, "response") || !__builtin_strcmp(phase, "done"))
    jc_logline_int(&l, "status", ex->status);
  uint64_t from = ex->t.req_start ? ex->t.req_start : ex->t.accept;
  jc_logline_ms(&l, "elapsed_ms", now >= from ? now - from : 0);
  jc_log_emit(&l);
}

void lb_debug_tls(const lb_log_conn *conn, uint64_t elapsed_us) {
  const char *sni = SSL_get_servername(conn->ssl, TLSEXT_NAMETYPE_host_name);
  jc_logline l;
  jc_log_begin(&l, JC_LOG_DEBUG, "phase");
  jc_logline_str(&l, "phase", "tls");
  jc_logline_uint(&l, "conn", conn->id);
  jc_logline_str(&l, "version", SSL_get_version(conn->ssl));
  jc_logline_str(&l, "cipher", SSL_get_cipher_name(conn->ssl));
  jc_logline_str(&l, "sni", sni ? sni : "");
  jc_logline_bool(&l, "resumed", SSL_session_reused(conn->ssl));
  jc_logline_ms(&l, "elapsed_ms", elapsed_us);
  jc_log_emit(&l);
}
