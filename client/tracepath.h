/* --trace-path: the routers between this machine and the server, found as tracepath finds them:
 * UDP probes toward the server's address and port with TTL 1, 2, 3 ... on an unprivileged socket
 * with IP_RECVERR (IPV6_RECVERR), each router's ICMP "time exceeded" read from the error queue,
 * the destination recognised by its "port unreachable" (or any answer from its own address).
 * Bounded: one probe per TTL, at most max_hops TTLs, wait_ms per probe and budget_ms in all.
 * Runs after the request, outside every clock. */
#ifndef JOURNEY_CLIENT_TRACEPATH_H
#define JOURNEY_CLIENT_TRACEPATH_H

#include <sys/socket.h>

#include "client/result.h"

/* Fills r->path. Returns 0, or -1 with r->path.note saying why no probe could be sent. */
int jn_tracepath(const struct sockaddr *dst, socklen_t len, int max_hops, int wait_ms,
                 int budget_ms, jn_result *r);

#endif
