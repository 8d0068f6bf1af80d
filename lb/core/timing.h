/* Phase timestamps of one request and the HAProxy-style timers derived from them (pure).
 *
 *   Th  TLS handshake (accept .. handshake done); first request of a connection only, else 0
 *   Ti  idle before the request (handshake/previous response .. first request byte)
 *   TR  request headers (first byte .. headers complete)
 *   Tw  queue (headers complete .. server chosen)
 *   Tc  backend connect (chosen .. connected, or ~0 for a reused connection)
 *   Tr  backend response (connected .. response headers complete)
 *   Td  data (response headers .. last byte sent to the client)
 *   Ta  active (first request byte .. last response byte)
 *   Tt  total for this request: Th + Ti + Ta
 * A timer whose phase was never reached is -1 (as in HAProxy logs). All in microseconds. */
#ifndef JOURNEY_LB_TIMING_H
#define JOURNEY_LB_TIMING_H

#include <stddef.h>
#include <stdint.h>

typedef struct lb_timing {
  uint64_t accept;     /* connection accepted */
  uint64_t tls_done;   /* TLS handshake complete (0: plain HTTP) */
  uint64_t idle_start; /* ready for this request: handshake done or previous response sent */
  uint64_t req_start;  /* first byte of the request */
  uint64_t hdr_done;   /* request headers complete */
  uint64_t queued;     /* server chosen */
  uint64_t connected;  /* backend connection ready (new or reused) */
  uint64_t sent;       /* request head written to the backend */
  uint64_t first_byte; /* first response byte from the backend */
  uint64_t resp_hdr;   /* response headers complete */
  uint64_t done;       /* last response byte handed to the client socket */
  int first_request;   /* first request of its connection: Th counts */
} lb_timing;

typedef struct lb_timers {
  int64_t Th, Ti, TR, Tw, Tc, Tr, Td, Ta, Tt;
} lb_timers;

void lb_timing_compute(const lb_timing *t, lb_timers *out);

/* Server-Timing header value: "tls;dur=1.234, queue;dur=0.004, connect;dur=0.210,
 * backend;dur=1.500, total;dur=2.980" in milliseconds with 3 decimals. tls only on the first
 * request of a TLS connection; phases not reached are left out; total runs from the first
 * request byte to `now` (when the header is written). Returns the length (0 if cap too small). */
size_t lb_server_timing_format(char *buf, size_t cap, const lb_timing *t, uint64_t now);

/* "12.345" from microseconds; -1 gives "-1". Returns buf. */
char *lb_timer_fmt(int64_t us, char *buf, size_t cap);

#endif
