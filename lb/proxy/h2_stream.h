/* The HTTP/2 connection's shared state (h2_conn.c) and its streams (h2_stream.c, a request body
 * without content-length and its trailers in h2_body.c): internal to those files. A stream is
 * one exchange; it reaches its connection only through the `schedule` pointer, so the arrows
 * point from h2_conn.c to the stream's files alone (and from h2_body.c to h2_stream.c). */
#ifndef JOURNEY_LB_H2_STREAM_H
#define JOURNEY_LB_H2_STREAM_H

#include "lb/proxy/client_conn.h"
#include "lb/http/h2.h"
#include "lb/http/h2_trailers.h"
#include "lb/http/h2_mem.h"
#include "common/ws_accept.h"

#include <nghttp2/nghttp2.h>
#include <stdint.h>

#define LB_H2_WINDOW 65535        /* per stream: the request body buffer and the window */
#define LB_H2_CONN_WINDOW (1 << 20) /* per connection */
#define LB_H2_OUT (32 * 1024)     /* frames waiting for the socket */
#define LB_H2_FRAME_HD 9          /* a frame header's bytes */
#define LB_H2_RESETS_PER_SEC 100  /* client resets in a second before GOAWAY ENHANCE_YOUR_CALM */
#define LB_H2_RELEASE_MS 250      /* idle this long: the session's frame buffer pages go back */
/* A request body without content-length is gathered this long after its HEADERS (or until it
 * ends, or fills the buffer): one that ends meanwhile goes with a Content-Length; one still
 * coming is a slow producer's (a client stream, a pipe): it goes chunked, each DATA frame
 * forwarded as it comes. Long enough for a body sent at once to arrive whole (its frames
 * follow the HEADERS in the same flight), short enough to go unnoticed by a streaming client. */
#define LB_H2_GATHER_MS 50
/* A request head's longest HTTP/1.1 form (lb_h2_req_head's cap), its fields' bytes being within
 * max-header-size: the request line and the lines' punctuation besides. */
#define LB_H2_HEAD_MAX(cfg) ((size_t)(cfg)->max_header_size + 64)

typedef struct h2_conn h2_conn;

typedef struct h2_stream {
  lb_exchange ex;       /* first: the ops get it */
  lb_exchange_pick pick;
  h2_conn *h;
  struct h2_stream *next, *prev;
  int32_t id;
  char *blk;            /* worker reqbufs block: path | request id | forwarded head | scratch */
  char *rx;             /* the request's fields: stage, scratch, views (worker h2bufs) */
  size_t rx_size;
  lb_h2_req req;
  lb_h2_head head;
  char *body;           /* request body bytes not yet taken by the backend */
  size_t body_off, body_len;
  uint64_t body_total;     /* body bytes received without a content-length (max-body-size) */
  uint64_t gather_due;     /* loop time (ms) its body stops being gathered (LB_H2_GATHER_MS) */
  lb_req_trailers rtrl; /* the request's trailer section (buf malloc'd when one comes) */
  char *resp_conn;         /* the fields a chunked response's Connection names (malloc'd, rare) */
  size_t resp_conn_len;
  uv_buf_t slices[4];   /* response body bytes handed by the exchange, not yet framed */
  unsigned nslices, slice_i;
  size_t slice_off;
  lb_h1_trailers trl;   /* a decoded chunked response's trailer section (ex.trailers) */
  char ws_key[JC_WS_KEY_LEN + 1]; /* a WebSocket's Sec-WebSocket-Key, made for the backend */
  const char *local;    /* a local answer's body */
  size_t local_len;
  unsigned body_eof : 1;       /* END_STREAM received */
  unsigned dispatched : 1;     /* the exchange runs */
  unsigned waiting_sent : 1;   /* the exchange waits for on_sent */
  unsigned notify : 1;         /* its slices are framed: on_sent due */
  unsigned resp_submitted : 1; /* HEADERS submitted (with a data provider) */
  unsigned resp_eof : 1;       /* nothing follows what is in slices */
  unsigned finished : 1;       /* logged: the exchange is over */
  unsigned headers_done : 1;   /* the request head is whole */
  unsigned out_full : 1;       /* its DATA waits for room in the output buffer */
  unsigned deferred : 1;       /* the data provider said NGHTTP2_ERR_DEFERRED: resume it */
  unsigned ws : 1;             /* an extended CONNECT for a WebSocket (RFC 8441): a tunnel */
  unsigned blk_note : 1;       /* blk is a tunnel's malloc'd note, not a worker block */
} h2_stream;

struct h2_conn {
  lb_client *c;
  nghttp2_session *s;
  lb_h2_mem mem;          /* the session's allocator (its big blocks' pages go back when idle) */
  h2_stream *streams;
  h2_stream *decoding;    /* the stream whose request HEADERS block is being decoded, or NULL */
  h2_stream *framed;      /* the stream whose DATA was framed last (likely the next to close) */
  char *out;
  size_t out_len;
  lb_deferred pump_d;
  uint64_t reset_window_start;
  uint32_t resets_in_window;
  uint64_t body_due;      /* loop time (ms) a gathered body that got no byte meanwhile times out */
  uint32_t nstreams;
  uint32_t over_logged;   /* streams refused over the concurrent limit (logged once) */
  size_t block_bytes;     /* the header list being decoded, as RFC 9113 counts it (+32 a field) */
  int32_t max_stream_id;  /* the highest client stream id seen in HEADERS */
  unsigned writing : 1;   /* out handed to lb_client_send */
  unsigned goaway : 1;    /* GOAWAY submitted: close when the streams are done */
  unsigned dead : 1;      /* closing: no more nghttp2 calls */
  unsigned in_pump : 1;
  unsigned in_send : 1;   /* in nghttp2_session_send */
  unsigned send_due : 1;  /* nghttp2 may have DATA or a half-written frame to send (pump) */
  unsigned released : 1;  /* idle buffers given back since the connection last read or wrote */
  unsigned out_waiters : 1; /* a stream's DATA waits for room in the output buffer */
  unsigned named : 1;     /* Server-Timing / X-Request-Id sent indexed once (lb_h2_resp_fields) */
  const char *calm;       /* why the connection is being refused (log, term) */
  /* Run the session soon (from the loop's idle queue). Every change that may give nghttp2 a
   * frame to send (a submit, a resumed data provider, a consumed window) calls it: the pump
   * calls nghttp2_session_send only then or with a frame queued. */
  void (*schedule)(h2_conn *h);
};

static inline void lb_h2_count(h2_conn *h, int which) {
  atomic_fetch_add_explicit(&h->c->ex.w->rt->h2[which], 1, memory_order_relaxed);
}

/* A stream for a new request (HEADERS): NULL when out of memory. */
h2_stream *lb_h2_stream_new(h2_conn *h, int32_t id);
/* The stream is over (closed, reset, or its connection gone): the exchange detached, logged. */
void lb_h2_stream_finish(h2_stream *st, const char *term);
void lb_h2_stream_free(h2_stream *st);
/* HEADERS (+ CONTINUATION) complete, with the body when it had no content-length: convert,
 * decide as for HTTP/1, dispatch or answer locally. */
void lb_h2_request_ready(h2_stream *st);
/* n response body bytes (as many as the data provider said) into dst: the payload of a DATA
 * frame nghttp2 left for the send callback to copy (NGHTTP2_DATA_FLAG_NO_COPY). */
void lb_h2_stream_take(h2_stream *st, char *dst, size_t n);
/* The views of a request head: the fields', then the forwarded head's (with room for the three
 * fields a WebSocket's upgrade adds, lb_h2_ws_request). */
#define LB_H2_VIEWS(cfg) ((size_t)(cfg)->max_headers + 5)
/* An extended CONNECT (h2_ws.c): a WebSocket's becomes its HTTP/1.1 upgrade request (hd, its
 * views max_views), 0; anything else gets a local answer: its status, why and term. */
int lb_h2_ws_begin(h2_stream *st, lb_h2_head *hd, uint32_t max_views, const char **why,
                   const char **term);
/* The stream's 200 for the backend's 101 (nva as lb_h2_resp_fields): the count, -1 when they do
 * not fit, -4 when Sec-WebSocket-Accept does not match the key the LB sent. */
int lb_h2_ws_fields(h2_stream *st, const lb_response_view *v, const lb_response_extra *x,
                    nghttp2_nv *nva, size_t max, char *scratch, size_t cap);
/* A tunnel's client has ended its stream: FIN to the backend once all it sent is written. */
void lb_h2_tunnel_input_end(h2_stream *st);
/* A field of the request's trailer section (HEADERS after DATA, h2_conn.c's on_header): 0, or
 * -1 out of memory (the stream is reset). */
int lb_h2_request_trailer(h2_stream *st, const uint8_t *name, size_t nl, const uint8_t *value,
                          size_t vl);
/* The trailer section is whole (END_STREAM): 0 and the body goes on to its end, or -1 when it
 * was over the limits (the stream has its 431, or its reset). */
int lb_h2_request_trailers_end(h2_stream *st);
/* A request without content-length whose body passed max-body-size: 413 (its exchange, if it
 * runs, cancelled, as for HTTP/1.1). */
void lb_h2_body_too_large(h2_stream *st);
/* A local answer on the stream (also the exchange's `local` op). */
void lb_h2_local(h2_stream *st, int status, const char *body, const char *term);
/* The same before the request went out (the log learns its method). */
void lb_h2_local_early(h2_stream *st, int status, const char *body, const char *term);

#endif
