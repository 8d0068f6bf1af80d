/* c-ares inside a libuv loop, once for the client (client/dns.c) and journey-lb's DNS discovery
 * (lb/control/discovery.c): ARES_OPT_SOCK_STATE_CB opens one uv_poll per socket c-ares uses,
 * ares_process_fd runs when one is ready, and one uv_timer drives c-ares' own timeouts and
 * retransmissions (re-armed from ares_timeout after every call into c-ares).
 *
 * ares_destroy must not run inside ares_process_fd (c-ares still uses the channel when the
 * callback returns): jc_ares_uv_close called from a query callback is carried out once c-ares
 * has returned.
 *
 * Lifetime: jc_ares_uv_init -> queries, each followed by jc_ares_uv_update -> jc_ares_uv_close;
 * the struct must stay alive until the timer's close callback has run. */
#ifndef JOURNEY_COMMON_ARES_UV_H
#define JOURNEY_COMMON_ARES_UV_H

#include <ares.h>
#include <uv.h>

#define JC_ARES_UV_SOCKS 16 /* more than c-ares opens with a handful of servers */

typedef struct jc_ares_uv {
  ares_channel ch;
  uv_loop_t *loop;
  uv_timer_t timer; /* c-ares' timeouts; timer.data is the caller's (set after init) */
  struct jc_ares_uv_sock {
    uv_poll_t *poll; /* NULL: free */
    ares_socket_t fd;
  } socks[JC_ARES_UV_SOCKS];
  ares_socket_t cur_fd; /* the socket c-ares is processing (the client names the answering
                           server from it); ARES_SOCKET_BAD outside ares_process_fd */
  const char *who;      /* names the user in warnings ("DNS discovery"); NULL: quiet */
  uv_close_cb closed;   /* jc_ares_uv_close's callback, kept while the close waits */
  unsigned ch_ok : 1, in_process : 1, close_pending : 1, closing : 1;
} jc_ares_uv;

/* ares_init_options(o, mask) with the socket-state callback added, and the timer. Returns an
 * ARES_ status; on failure nothing needs closing. */
int jc_ares_uv_init(jc_ares_uv *a, uv_loop_t *loop, struct ares_options *o, int mask,
                    const char *who);
/* After starting queries: arms the timer for c-ares' next timeout. */
void jc_ares_uv_update(jc_ares_uv *a);
/* Cancels what is pending (query callbacks run with ARES_EDESTRUCTION), closes the sockets'
 * polls and the timer; closed(&a->timer) follows once libuv is done with it. A no-op after a
 * failed (or no) jc_ares_uv_init. */
void jc_ares_uv_close(jc_ares_uv *a, uv_close_cb closed);

#endif
