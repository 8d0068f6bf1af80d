/* The network path for the address actually connected (Linux netlink through libmnl): the
 * route (RTM_GETROUTE: gateway, outgoing interface, preferred source, route type), the next
 * hop's neighbour entry (RTM_GETNEIGH: MAC and state, before and after connecting: the seed's ARP
 * step, hit or miss), the interface's own MAC, the TTL the socket sends with, and whether a
 * private source address will be translated by NAT. Loopback is said plainly. Every failure is
 * explained in r->route_error and the request goes on. */
#ifndef JOURNEY_CLIENT_NETPATH_H
#define JOURNEY_CLIENT_NETPATH_H

#include <sys/socket.h>

#include "client/result.h"

/* Before connect: route and the neighbour entry as it is now. */
void jn_netpath_before(jn_result *r, const struct sockaddr *dst);
/* After connect on fd: the neighbour entry again, IP_TTL, the source address and NAT note. */
void jn_netpath_after(jn_result *r, int fd);
/* Name of a neighbour state (NUD_*), e.g. "REACHABLE"; "NONE" for 0 (pure). */
const char *jn_netpath_nud_name(unsigned state, char *buf, size_t len);
/* 1 when a neighbour entry in this state can be used without resolving (pure). */
int jn_netpath_nud_usable(unsigned state);
/* The NAT note for a source and destination (pure). "" when there is nothing to say. */
void jn_netpath_nat_note(const struct sockaddr *src, const struct sockaddr *dst, char *buf, size_t len);

#endif
