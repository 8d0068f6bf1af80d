/* The state of one connection, shared by conn.c (connect, TLS, HTTP/1.1) and conn_h2.c (the
 * streams of an HTTP/2 connection). Internal to those two files. */
#ifndef JOURNEY_CLIENT_CONN_STATE_H
#define JOURNEY_CLIENT_CONN_STATE_H

#include <stdint.h>
#include <uv.h>

#include "client/h2.h"
#include "client/http.h"
#include "client/run.h"
#include "client/tcp.h"
#include "common/buf.h"
#include "common/tls.h"

enum { C_IDLE, C_CONNECTING, C_PROXY, C_HANDSHAKE, C_RECEIVING, C_WAITING };

struct jn_conn {
  jn_run *run;
  jn_tcp tcp;
  uv_poll_t *poll;
  int fd;
  uv_timer_t timer;
  jc_tls tls;
  int tls_on;
  jn_http http;
  jn_result *r;
  int state;
  jc_buf wbuf;
  uint64_t t0;
  int first_byte;
  int is_first; /* the run's first connection: the route is looked up */
  int closing;
  char pbuf[4096]; /* the proxy's answer to CONNECT */
  size_t plen;
  uint64_t proxy_t0;
  char local[64], remote[64];
  jn_h2 *h2;   /* HTTP/2 (ALPN h2): the streams live there; r is then the connection's scratch */
  int h2_want; /* requests claimed from the run, waiting for a stream */
  int h2_go;   /* --interval is over: open the next stream */
};

/* conn.c */
int jn_conn_flush(jn_conn *c);     /* writes wbuf; 0 or -1 (c->r->error says why) */
int jn_conn_tls_drain(jn_conn *c); /* moves the TLS engine's output to wbuf and flushes */
void jn_conn_account(jn_conn *c, jn_result *r, int code);
void jn_conn_request_done(jn_conn *c, int code);
void jn_conn_close_socket(jn_conn *c);
void jn_conn_free(jn_conn *c);
void jn_conn_on_deadline(uv_timer_t *t);

/* conn_h2.c */
void jn_conn_h2_start(jn_conn *c);
void jn_conn_h2_pump(jn_conn *c);
void jn_conn_h2_broken(jn_conn *c, int code, const char *why);
void jn_conn_h2_timeout(jn_conn *c);

#endif
