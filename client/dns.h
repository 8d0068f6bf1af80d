/* Name resolution in the seed's order, reporting every source tried (c-ares 1.18 inside the
 * libuv loop through common/ares_uv.h: one uv_poll per c-ares socket, a uv_timer for c-ares'
 * retransmissions):
 *   IP literal (no DNS) / --resolve pin -> journey's own cache (dns_cache.h) -> hosts file
 *   (ares_getaddrinfo with lookups "f" and ARES_AI_ENVHOSTS: --hosts-file sets CARES_HOSTS, which
 *   1.18's ares_gethostbyname_file ignores) -> the DNS servers (ares_search A and
 *   AAAA; answers with their TTLs and CNAME chain; the answering server found with getpeername
 *   on the socket c-ares was processing when the answer completed).
 * Lifetime: jn_dns_start() -> done callback (once) -> jn_dns_close(); the jn_dns struct must stay
 * alive until the loop has run the close callbacks. */
#ifndef JOURNEY_CLIENT_DNS_H
#define JOURNEY_CLIENT_DNS_H

#include <ares.h>
#include <uv.h>

#include "common/ares_uv.h"

#include "client/result.h"

typedef struct jn_dns_opts {
  int family;                /* 0 both, 4, 6 */
  const char *servers;       /* --dns-servers "ip[:port],..." or NULL for resolv.conf */
  const char *const *pins;   /* --resolve "host:port:addr" entries */
  size_t pin_n;
  int no_cache;
  const char *cache_path;    /* NULL: no cache file could be located */
  const char *hosts_file;    /* NULL: c-ares' default (/etc/hosts or $CARES_HOSTS) */
  unsigned timeout_ms;       /* per try */
} jn_dns_opts;

typedef struct jn_dns jn_dns;
typedef void (*jn_dns_done_cb)(jn_dns *d, int exit_code); /* 0 or JN_EXIT_DNS with r->error */

struct jn_dns {
  uv_loop_t *loop;
  const jn_dns_opts *o;
  jn_result *r;
  jn_dns_done_cb done;
  void *data;
  jc_ares_uv au; /* c-ares in the loop (common/ares_uv.h) */
  int pending;
  int udp_socks, tcp_socks; /* sockets c-ares opened (ares_set_socket_callback) */
  int finished;
  int hosts_state; /* 1 asked, 2 answered, 3 gave up waiting */
  uint64_t t0, step_t0;
  int errs[2];
};

/* Starts resolving r->url.host for r->url.port; the results land in r. Returns 0 when started
 * (done will be called, possibly before this returns for literals, pins and cache hits). */
int jn_dns_start(jn_dns *d, uv_loop_t *loop, const jn_dns_opts *o, jn_result *r, jn_dns_done_cb done);
/* Cancels what is pending and closes the handles (freed by the loop). */
void jn_dns_close(jn_dns *d);

#endif
