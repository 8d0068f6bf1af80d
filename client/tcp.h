/* TCP connection with happy-eyeballs-style fallback (RFC 8305 flavour): addresses interleaved
 * by family, a new attempt every 250 ms while earlier ones are pending (at once when one fails),
 * the first to connect wins and the others are abandoned; every attempt is reported in
 * r->attempts. TCP_INFO (RTT, MSS, congestion window, retransmits) read on demand.
 * The winner's uv_poll_t (already initialised on the fd) is handed to the caller, who closes it
 * (uv_close + free in the close callback) and then close()s the fd. */
#ifndef JOURNEY_CLIENT_TCP_H
#define JOURNEY_CLIENT_TCP_H

#include <sys/socket.h>
#include <uv.h>

#include "client/result.h"

typedef struct jn_tcp jn_tcp;
/* fd >= 0 and poll on success; fd < 0 and exit_code (JN_EXIT_CONNECT) with r->error otherwise. */
typedef void (*jn_tcp_cb)(jn_tcp *c, int fd, uv_poll_t *poll, int exit_code);

#define JN_TCP_STAGGER_MS 250

struct jn_tcp {
  uv_loop_t *loop;
  jn_result *r;
  jn_tcp_cb cb;
  void *data;
  struct sockaddr_storage addr[JN_ADDR_MAX];
  socklen_t addrlen[JN_ADDR_MAX];
  size_t n, next;
  struct {
    uv_poll_t *poll;
    int fd;
    size_t attempt; /* index into r->attempts */
  } live[JN_ATTEMPT_MAX];
  uv_timer_t *stagger; /* own allocation: freed in its close callback, whatever happens to us */
  int timer_on;
  uint64_t t0;
  int done;
  int last_err;
};

/* Orders r->answers for connecting (families interleaved, the first answer's family first),
 * each with port. Pure. Returns how many addresses were written. */
size_t jn_tcp_order(const jn_result *r, int port, struct sockaddr_storage *out, socklen_t *outlen, size_t max);
/* Starts connecting to the given addresses. Returns 0 (cb will be called once) or -1. */
int jn_tcp_connect(jn_tcp *c, uv_loop_t *loop, jn_result *r, const struct sockaddr_storage *addr,
                   const socklen_t *len, size_t n, jn_tcp_cb cb);
/* Abandons all pending attempts (e.g. on timeout), marking them with result; cb is not called. */
void jn_tcp_cancel(jn_tcp *c, const char *result);
/* Fills r->rtt_us, rttvar_us, mss, cwnd, retrans from TCP_INFO. */
void jn_tcp_info(int fd, jn_result *r);

#endif
