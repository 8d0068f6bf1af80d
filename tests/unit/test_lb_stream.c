/* lb/net/stream.c on a real libuv loop and real loopback TCP, plain and TLS (a certificate made
 * here): a client stream sends 96 KiB, the server's on_data says stop after the first bytes, and
 * nothing more may arrive until lb_stream_read (the rest waits in the kernel and, with TLS, in
 * the engine); then every byte arrives, in order. The server ends (close_notify, FIN, linger),
 * the client sees the end, both close and the loop has no handle left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lb/net/stream.h"

#define TOTAL (96 * 1024)

typedef struct peer {
  lb_stream s;
  char buf[TOTAL];
  size_t len;
  int stopped;       /* on_data said LB_STREAM_STOP and lb_stream_read has not been called */
  int stops;         /* how often */
  int while_stopped; /* on_data calls with bytes while stopped: must stay 0 */
  int sent, ready, closed_n, handle_closed;
  lb_stream_why why;
  int ending_seen;   /* the server's on_close came after lb_stream_end */
} peer;

static uv_loop_t loop;
static lb_stream_loop sl;
static uv_tcp_t listener;
static uv_timer_t resume_timer;
static uv_connect_t creq;
static peer srv, cli;
static char payload[TOTAL];
static SSL_CTX *sctx, *cctx;
static int use_tls;

static peer *peer_of(lb_stream *s) { return (peer *)(void *)((char *)s - offsetof(peer, s)); }

static int on_room(lb_stream *s, char **base, size_t *len) {
  peer *p = peer_of(s);
  size_t left = sizeof p->buf - p->len;
  *base = p->buf + p->len;
  *len = left < 4096 ? left : 4096; /* small rooms: many on_data calls */
  return 0;
}

static void on_resume(uv_timer_t *t) {
  (void)t;
  srv.stopped = 0;
  lb_stream_read(&srv.s);
}

static void on_handle_closed(uv_handle_t *h) {
  peer_of((lb_stream *)(void *)((char *)h - offsetof(lb_stream, tcp)))->handle_closed = 1;
}

static int on_data(lb_stream *s, size_t n) {
  peer *p = peer_of(s);
  if (!n)
    return LB_STREAM_MORE;
  if (p->stopped)
    p->while_stopped++;
  p->len += n;
  if (p == &srv && p->stops == 0) { /* stop once, resume 100 ms later */
    p->stops++;
    p->stopped = 1;
    uv_timer_start(&resume_timer, on_resume, 100, 0);
    return LB_STREAM_STOP;
  }
  if (p == &srv && p->len == TOTAL)
    lb_stream_end(s); /* everything came: close_notify, FIN, linger */
  return LB_STREAM_MORE;
}

static void on_sent(lb_stream *s) { peer_of(s)->sent++; }

static void on_close(lb_stream *s, lb_stream_why why, const char *text) {
  peer *p = peer_of(s);
  (void)text;
  p->closed_n++;
  p->why = why;
  if (s->ending)
    p->ending_seen = 1;
  lb_stream_close(s, on_handle_closed);
}

static void send_payload(peer *p) {
  uv_buf_t b = uv_buf_init(payload, TOTAL);
  assert_int_equal(lb_stream_send(&p->s, &b, 1), 0);
}

static void on_ready(lb_stream *s) {
  peer *p = peer_of(s);
  p->ready = 1;
  if (p == &cli)
    send_payload(p);
}

static const lb_stream_ops ops = {on_room, on_data, on_sent, on_close, on_ready};

static void on_connection(uv_stream_t *l, int status) {
  assert_int_equal(status, 0);
  assert_int_equal(lb_stream_init(&srv.s, &sl, &ops), 0);
  assert_int_equal(uv_accept(l, (uv_stream_t *)&srv.s.tcp), 0);
  if (use_tls)
    assert_int_equal(lb_stream_tls(&srv.s, sctx, 1, NULL), 0);
  lb_stream_read(&srv.s);
}

static void on_connected(uv_connect_t *req, int status) {
  (void)req;
  assert_int_equal(status, 0);
  if (use_tls) {
    assert_int_equal(lb_stream_tls(&cli.s, cctx, 0, "localhost"), 0); /* on_ready sends */
    return;
  }
  lb_stream_read(&cli.s);
  send_payload(&cli);
}

static void run(int tls) {
  use_tls = tls;
  memset(&srv, 0, sizeof srv);
  memset(&cli, 0, sizeof cli);
  for (size_t i = 0; i < TOTAL; i++)
    payload[i] = (char)(i * 131 + i / 7);
  assert_int_equal(uv_loop_init(&loop), 0);
  lb_stream_loop_init(&sl, &loop, 4);
  uv_timer_init(&loop, &resume_timer);
  uv_tcp_init(&loop, &listener);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_bind(&listener, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&listener, 8, on_connection), 0);
  struct sockaddr_storage ss;
  int sslen = sizeof ss;
  uv_tcp_getsockname(&listener, (struct sockaddr *)&ss, &sslen);
  assert_int_equal(lb_stream_init(&cli.s, &sl, &ops), 0);
  assert_int_equal(uv_tcp_connect(&creq, &cli.s.tcp, (const struct sockaddr *)&ss, on_connected), 0);
  for (int i = 0; i < 20000 && !(srv.handle_closed && cli.handle_closed); i++)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&listener, NULL);
  uv_close((uv_handle_t *)&resume_timer, NULL);
  lb_stream_loop_close(&sl);
  uv_run(&loop, UV_RUN_DEFAULT);
  lb_stream_free(&srv.s);
  lb_stream_free(&cli.s);
  lb_stream_loop_free(&sl);
  assert_int_equal(uv_loop_close(&loop), 0); /* no handle left open */

  assert_int_equal(srv.len, TOTAL);
  assert_memory_equal(srv.buf, payload, TOTAL);
  assert_int_equal(srv.stops, 1);
  assert_int_equal(srv.while_stopped, 0);
  assert_int_equal(cli.sent, 1);
  assert_int_equal(cli.ready, tls);
  assert_int_equal(srv.ready, tls);
  assert_int_equal(cli.closed_n, 1); /* the server's FIN (after close_notify with TLS) */
  assert_int_equal(cli.why, LB_STREAM_EOF);
  assert_int_equal(srv.closed_n, 1); /* the linger ends when the client closes */
  assert_true(srv.ending_seen);
  assert_true(srv.handle_closed && cli.handle_closed);
}

static void test_plain(void **state) {
  (void)state;
  run(0);
}

static void test_tls(void **state) {
  (void)state;
  run(1);
}

/* A self-signed P-256 certificate for "localhost", made in memory. */
static int make_contexts(void **state) {
  (void)state;
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (!key || !x)
    return -1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
  X509_set_issuer_name(x, n);
  if (!X509_sign(x, key, EVP_sha256()))
    return -1;
  sctx = SSL_CTX_new(TLS_server_method());
  if (!sctx || SSL_CTX_use_certificate(sctx, x) != 1 || SSL_CTX_use_PrivateKey(sctx, key) != 1)
    return -1;
  char err[256];
  cctx = jc_tls_client_ctx(NULL, 1, err, sizeof err); /* the test checks bytes, not names */
  X509_free(x);
  EVP_PKEY_free(key);
  return cctx ? 0 : -1;
}

static int free_contexts(void **state) {
  (void)state;
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain),
      cmocka_unit_test(test_tls),
  };
  return cmocka_run_group_tests(tests, make_contexts, free_contexts);
}
