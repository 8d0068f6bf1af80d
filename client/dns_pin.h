/* --resolve host:port:addr[,addr...] like curl (pure). The address may be IPv4, IPv6 or [IPv6]. */
#ifndef JOURNEY_CLIENT_DNS_PIN_H
#define JOURNEY_CLIENT_DNS_PIN_H

#include <stddef.h>

#include "client/result.h"

/* 0 when pin is well formed, else -1 with a reason in err. */
int jn_dns_pin_check(const char *pin, char *err, size_t errlen);
/* The pinned addresses when pin applies to host and port (host compared case-insensitively;
 * port "*" matches any port). Returns how many were written to out (0: not this host). */
size_t jn_dns_pin_match(const char *pin, const char *host, int port, jn_dns_answer *out, size_t max);

/* --connect-to HOST1:PORT1:HOST2:PORT2 like curl: requests for HOST1:PORT1 (either part empty:
 * any) connect to HOST2:PORT2 instead (empty: the URL's), while Host, SNI and the certificate
 * check keep the URL's name. IPv6 addresses in brackets. Returns 1 and fills host2/port2 when
 * the rule applies, 0 when not, -1 when it is malformed. */
int jn_connect_to_match(const char *rule, const char *host, int port, char *host2, size_t hl, int *port2);

#endif
