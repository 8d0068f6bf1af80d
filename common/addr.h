/* Address parsing and printing: "host:port", "[v6]:port", "1.2.3.4:80".
 * Functions return 0 on success or -1 with a human-readable reason in err (always NUL-terminated). */
#ifndef JOURNEY_COMMON_ADDR_H
#define JOURNEY_COMMON_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define JC_HOST_MAX 256
#define JC_ADDRSTR_MAX 64 /* "[ffff:...:ffff%iface]:65535" fits */

/* Splits "host:port" or "[v6]:port" into host (brackets removed) and port 1-65535.
 * The host may be a name or an IP literal; an IPv6 literal must be in brackets. */
int jc_hostport_split(const char *s, char *host, size_t hostlen, int *port, char *err, size_t errlen);
/* Parses a port number 1-65535 from a whole string. */
int jc_port_parse(const char *s, int *port, char *err, size_t errlen);
/* Parses a numeric "ip:port" / "[ip6]:port" into a sockaddr (no DNS). */
int jc_addr_parse(const char *s, struct sockaddr_storage *out, socklen_t *outlen, char *err,
                  size_t errlen);
/* Parses a numeric IP (v4 or v6, no port) with the given port into a sockaddr. */
int jc_ip_parse(const char *ip, int port, struct sockaddr_storage *out, socklen_t *outlen);
/* "1.2.3.4:80" or "[::1]:80". Returns buf ("?" for unknown families). */
char *jc_addr_format(const struct sockaddr *sa, char *buf, size_t len);
/* The IP alone, without port or brackets. */
char *jc_addr_ip(const struct sockaddr *sa, char *buf, size_t len);
int jc_addr_port(const struct sockaddr *sa);
/* 1 if the address is private (RFC 1918, RFC 4193 ULA, CGNAT 100.64/10), i.e. NAT is expected
 * before it reaches the internet; 0 otherwise. Loopback and link-local are not "private" here. */
int jc_addr_is_private(const struct sockaddr *sa);
int jc_addr_is_loopback(const struct sockaddr *sa);
/* The address part of "ip:port", "[v6]:port" (jc_addr_format) or "unknown", as a slice (the
 * brackets left out), so that a connection stores its peer once. */
void jc_addr_ip_slice(const char *peer, uint8_t *off, uint8_t *len);

#endif
