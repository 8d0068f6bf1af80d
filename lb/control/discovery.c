/* DNS discovery of backends: c-ares driven by the control loop (uv_poll per c-ares socket, one
 * uv_timer for c-ares' own timeouts). Each pool with backend-dns HOST:PORT resolves HOST
 * (A and AAAA, ares_getaddrinfo) and keeps one server per address, named HOST-IP:
 *   - an address that appears gets a slot (lb_control_add_server; health checks start at once,
 *     and with active checks on it takes traffic only after its first check passes);
 *   - an address that disappears is removed (no new requests; in-flight ones finish);
 *   - a failed look-up (timeout, SERVFAIL, NXDOMAIN) keeps the servers already known: a DNS
 *     outage must not empty a healthy pool.
 * Re-resolution: at the smallest TTL of the answer bounded by dns-ttl-min/dns-ttl-max, or every
 * dns-interval when set; failures retry after dns-ttl-min. */
#include "lb/control/control.h"

#include "common/addr.h"
#include "common/ares_uv.h"
#include "common/log.h"

#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lb_dns_pool {
  lb_control *ctl;
  int pool;
  char host[256];
  char port[8];
  int weight;
  uv_timer_t timer;
  int first;     /* first answer still pending (counted in ctl->dns_pending) */
  int resolving;
};

struct lb_dns {
  lb_control *ctl;
  jc_ares_uv au; /* c-ares in the control loop (common/ares_uv.h) */
};

static void resolve(lb_dns_pool *dp);

static void on_retimer(uv_timer_t *t) { resolve(t->data); }

static int same_addr(const struct sockaddr *a, const struct sockaddr_storage *b) {
  if (a->sa_family != b->ss_family)
    return 0;
  if (a->sa_family == AF_INET)
    return !memcmp(a, b, sizeof(struct sockaddr_in));
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* Applies a successful answer: adds new addresses, removes vanished ones. */
static void apply_answer(lb_dns_pool *dp, struct ares_addrinfo *res) {
  lb_control *ctl = dp->ctl;
  lb_pool *pool = &ctl->rt->pools[dp->pool];
  struct sockaddr_storage addrs[LB_MAX_SERVERS];
  socklen_t lens[LB_MAX_SERVERS];
  int naddrs = 0;
  for (struct ares_addrinfo_node *n = res->nodes; n && naddrs < LB_MAX_SERVERS; n = n->ai_next) {
    if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
      continue;
    int dup = 0;
    for (int k = 0; k < naddrs; k++)
      dup |= same_addr(n->ai_addr, &addrs[k]);
    if (dup)
      continue;
    memset(&addrs[naddrs], 0, sizeof addrs[naddrs]);
    memcpy(&addrs[naddrs], n->ai_addr, n->ai_addrlen);
    lens[naddrs++] = n->ai_addrlen;
  }
  int n = atomic_load(&pool->nservers);
  for (int i = 0; i < n; i++) {
    lb_slot *sl = &ctl->pools[dp->pool].slots[i];
    if (!sl->in_use || !sl->from_dns)
      continue;
    int keep = 0;
    for (int k = 0; k < naddrs && !keep; k++)
      keep = same_addr((struct sockaddr *)&pool->servers[i].addr, &addrs[k]);
    if (!keep) {
      char why[320];
      snprintf(why, sizeof why, "no longer in the DNS answer for %s", dp->host);
      lb_control_remove_server(ctl, dp->pool, i, why);
    }
  }
  for (int k = 0; k < naddrs; k++) {
    int known = 0;
    n = atomic_load(&pool->nservers);
    for (int i = 0; i < n && !known; i++)
      known = ctl->pools[dp->pool].slots[i].in_use && ctl->pools[dp->pool].slots[i].from_dns &&
              same_addr((struct sockaddr *)&pool->servers[i].addr, &addrs[k]);
    if (known)
      continue;
    char ip[64], name[LB_NAME_MAX];
    jc_addr_ip((struct sockaddr *)&addrs[k], ip, sizeof ip);
    size_t il = strlen(ip), hl = strlen(dp->host); /* HOST-IP, the host cut to fit */
    if (hl + 1 + il >= sizeof name)
      hl = sizeof name - 2 - il;
    memcpy(name, dp->host, hl);
    name[hl] = '-';
    memcpy(name + hl + 1, ip, il + 1);
    int slot = lb_control_add_server(ctl, dp->pool, name, (struct sockaddr *)&addrs[k], lens[k],
                                     dp->weight, 1);
    if (slot < 0)
      jc_log(JC_LOG_WARN, "DNS discovery: pool %s is full (%d servers): %s not added", pool->name,
             LB_MAX_SERVERS, name);
    else
      jc_log(JC_LOG_INFO, "server %s (%s) added to pool %s from DNS answer for %s", name,
             pool->servers[slot].addr_text, pool->name, dp->host);
  }
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
  lb_dns_pool *dp = arg;
  lb_control *ctl = dp->ctl;
  const lb_config *cfg = &ctl->rt->cfg;
  (void)timeouts;
  dp->resolving = 0;
  if (dp->first) {
    dp->first = 0;
    ctl->dns_pending--;
  }
  if (status == ARES_EDESTRUCTION || ctl->stopping) {
    if (res)
      ares_freeaddrinfo(res);
    return;
  }
  uint32_t next;
  if (status != ARES_SUCCESS || !res) {
    int used = 0;
    lb_control_pool_up(ctl, dp->pool, &used);
    jc_log(JC_LOG_WARN, "DNS look-up of %s for pool %s failed: %s; keeping the %d server(s) "
           "known, retrying in %u ms", dp->host, ctl->rt->pools[dp->pool].name,
           ares_strerror(status), used, cfg->dns_ttl_min);
    next = cfg->dns_ttl_min;
  } else {
    int ttl = -1;
    for (struct ares_addrinfo_node *n = res->nodes; n; n = n->ai_next)
      if (ttl < 0 || n->ai_ttl < ttl)
        ttl = n->ai_ttl;
    apply_answer(dp, res);
    uint64_t ms = ttl < 0 ? cfg->dns_ttl_max : (uint64_t)ttl * 1000;
    if (ms < cfg->dns_ttl_min)
      ms = cfg->dns_ttl_min;
    if (ms > cfg->dns_ttl_max)
      ms = cfg->dns_ttl_max;
    next = cfg->dns_interval ? cfg->dns_interval : (uint32_t)ms;
  }
  if (res)
    ares_freeaddrinfo(res);
  uv_timer_start(&dp->timer, on_retimer, next, 0);
}

static void resolve(lb_dns_pool *dp) {
  lb_dns *d = dp->ctl->dns;
  if (dp->resolving || d->au.closing)
    return;
  struct ares_addrinfo_hints hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = ARES_AI_NOSORT | ARES_AI_NUMERICSERV;
  dp->resolving = 1;
  ares_getaddrinfo(d->au.ch, dp->host, dp->port, &hints, on_addrinfo, dp);
  jc_ares_uv_update(&d->au);
}

int lb_dns_init(lb_control *ctl, char *err, size_t errlen) {
  const lb_config *cfg = &ctl->rt->cfg;
  int any = 0;
  for (int p = 0; p < ctl->rt->npools; p++)
    any |= cfg->pools[p].dns_host[0] != 0;
  if (!any)
    return 0;
  int r = ares_library_init(ARES_LIB_INIT_ALL);
  if (r != ARES_SUCCESS) {
    snprintf(err, errlen, "DNS discovery: c-ares initialisation failed: %s", ares_strerror(r));
    return -1;
  }
  lb_dns *d = calloc(1, sizeof *d);
  if (!d) {
    ares_library_cleanup();
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  d->ctl = ctl;
  ctl->dns = d;
  struct ares_options o;
  memset(&o, 0, sizeof o);
  o.timeout = 1000;
  o.tries = 2;
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  char lookups[] = "b";
  if (cfg->dns_servers[0]) {
    o.lookups = lookups; /* a chosen resolver answers alone (not /etc/hosts) */
    mask |= ARES_OPT_LOOKUPS;
  }
  r = jc_ares_uv_init(&d->au, ctl->loop, &o, mask, "DNS discovery");
  if (r != ARES_SUCCESS) {
    snprintf(err, errlen, "DNS discovery: cannot start the resolver: %s", ares_strerror(r));
    free(d);
    ctl->dns = NULL;
    ares_library_cleanup();
    return -1;
  }
  d->au.timer.data = d; /* freed when the timer is closed (lb_dns_close) */
  if (cfg->dns_servers[0] && (r = ares_set_servers_ports_csv(d->au.ch, cfg->dns_servers)) != ARES_SUCCESS) {
    snprintf(err, errlen, "dns-servers '%s': %s (expected ip[:port],... e.g. 127.0.0.1:5353)",
             cfg->dns_servers, ares_strerror(r));
    lb_dns_close(ctl);
    return -1;
  }
  for (int p = 0; p < ctl->rt->npools; p++) {
    const lb_pool_cfg *pc = &cfg->pools[p];
    if (!pc->dns_host[0])
      continue;
    lb_dns_pool *dp = calloc(1, sizeof *dp);
    if (!dp) {
      snprintf(err, errlen, "out of memory");
      lb_dns_close(ctl);
      return -1;
    }
    dp->ctl = ctl;
    dp->pool = p;
    snprintf(dp->host, sizeof dp->host, "%s", pc->dns_host);
    snprintf(dp->port, sizeof dp->port, "%d", pc->dns_port);
    dp->weight = pc->dns_weight;
    uv_timer_init(ctl->loop, &dp->timer);
    dp->timer.data = dp;
    ctl->pools[p].dns = dp;
    dp->first = 1;
    ctl->dns_pending++;
    jc_log(JC_LOG_INFO, "pool %s: servers from DNS name %s port %s (resolver %s)",
           ctl->rt->pools[p].name, dp->host, dp->port,
           cfg->dns_servers[0] ? cfg->dns_servers : "/etc/resolv.conf");
    resolve(dp);
  }
  return 0;
}

static void on_pool_timer_closed(uv_handle_t *h) { free(h->data); }

void lb_dns_close(lb_control *ctl) {
  lb_dns *d = ctl->dns;
  if (!d)
    return;
  for (int p = 0; p < LB_MAX_POOLS; p++)
    if (ctl->pools[p].dns) {
      uv_close((uv_handle_t *)&ctl->pools[p].dns->timer, on_pool_timer_closed);
      ctl->pools[p].dns = NULL;
    }
  jc_ares_uv_close(&d->au, on_pool_timer_closed); /* frees d */
  ctl->dns = NULL;
  ares_library_cleanup();
}
