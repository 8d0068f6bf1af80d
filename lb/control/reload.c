/* SIGHUP: reload the configuration and the certificates without dropping anything.
 *
 * The new configuration is built exactly as at start (file, then the command-line flags over it)
 * and validated, its certificates loaded; any error is logged and the running configuration
 * stays. Then, on the control loop:
 *   - servers: a server whose name, address and weight are unchanged keeps its slot (its health,
 *     connections and counters); a removed or changed one is emptied (in-flight requests finish,
 *     pooled connections close) and a new or changed one takes a slot (checked before traffic
 *     when active checks are on);
 *   - health-* / outlier-* settings of every pool;
 *   - certificates: new connections use the new set (an atomic pointer); established TLS
 *     connections keep theirs. Old sets stay allocated until exit (the SNI callback of a
 *     connection in its handshake may still read them). Session ticket keys belong to the
 *     process, not to a set: tickets issued before the reload still resume, and the
 *     --tls-ticket-key-file is read again (its new first key encrypts from now on).
 * What a running process cannot change (listeners, routes, pools, DNS names, algorithms and
 * hash keys, workers, timeouts, limits, HTTP/2 settings other than alpn) is reported as needing
 * a restart; adding or removing pools makes the reload fail. */
#include "lb/control/control.h"

#include "common/log.h"
#include "lb/net/ticket_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LB_RETIRED_MAX 64

static lb_tls_server *retired[LB_RETIRED_MAX];
static int nretired;

static void reject(lb_control *ctl, const char *why) {
  ctl->reload_failures++;
  jc_log(JC_LOG_ERROR, "reload rejected: %s; the previous configuration keeps running", why);
}

/* Which running settings differ and cannot change without a restart. */
static void report_restart_only(const lb_config *old, const lb_config *nw) {
  char what[400] = "";
  size_t n = 0;
#define DIFF(cond, name)                                                                          \
  if ((cond) && n < sizeof what - 40)                                                             \
    n += (size_t)snprintf(what + n, sizeof what - n, "%s%s", n ? ", " : "", name);
  DIFF(old->nlisteners != nw->nlisteners ||
           memcmp(old->listeners, nw->listeners, sizeof old->listeners[0] * (size_t)old->nlisteners),
       "listen")
  int routes = old->nroutes != nw->nroutes;
  for (int i = 0; !routes && i < old->nroutes; i++)
    routes = strcmp(old->routes[i].prefix, nw->routes[i].prefix) || old->routes[i].pool != nw->routes[i].pool;
  DIFF(routes, "route")
  int dns = 0;
  for (int p = 0; p < old->npools; p++)
    dns |= strcmp(old->pools[p].dns_host, nw->pools[p].dns_host) ||
           old->pools[p].dns_port != nw->pools[p].dns_port;
  DIFF(dns, "backend-dns")
  int algo = 0;
  for (int p = 0; p < old->npools; p++)
    algo |= old->pools[p].algo != nw->pools[p].algo ||
            old->pools[p].hash_key.kind != nw->pools[p].hash_key.kind ||
            strcmp(old->pools[p].hash_key.name, nw->pools[p].hash_key.name);
  DIFF(algo, "algorithm/hash-key")
  DIFF(old->workers != nw->workers, "workers")
  DIFF(strcmp(old->admin, nw->admin), "admin")
  DIFF(strcmp(old->tls.cert_header, nw->tls.cert_header), "client-cert-header")
  /* the token is read, the socket and probe listener bound, once at start */
  DIFF(memcmp(&old->adm, &nw->adm, sizeof old->adm), "admin-*/probe-listen")
  DIFF(old->client_header_timeout != nw->client_header_timeout ||
           old->client_body_timeout != nw->client_body_timeout ||
           old->client_idle_timeout != nw->client_idle_timeout ||
           old->backend_connect_timeout != nw->backend_connect_timeout ||
           old->backend_response_timeout != nw->backend_response_timeout ||
           old->backend_idle_timeout != nw->backend_idle_timeout,
       "timeouts")
  DIFF(old->max_connections != nw->max_connections || old->max_header_size != nw->max_header_size ||
           old->max_body_size != nw->max_body_size || old->retries != nw->retries,
       "limits")
  DIFF(old->tls.h2c != nw->tls.h2c || old->tls.h2_websocket != nw->tls.h2_websocket ||
           old->tls.h2_max_streams != nw->tls.h2_max_streams,
       "h2c/h2-websocket/h2-max-concurrent-streams")
#undef DIFF
  if (n)
    jc_log(JC_LOG_WARN, "reload: changed settings that need a restart were not applied: %s", what);
}

static int same_server(const lb_server *s, const lb_server_cfg *c) {
  return !strcmp(s->name, c->name) && s->addrlen == c->addrlen &&
         !memcmp(&s->addr, &c->addr, c->addrlen) && s->weight == c->weight;
}

int lb_reload(lb_control *ctl, lb_config_builder build) {
  lb_runtime *rt = ctl->rt;
  char err[1200];
  lb_config *nw = malloc(sizeof *nw);
  if (!nw) {
    reject(ctl, "out of memory");
    return -1;
  }
  jc_log(JC_LOG_INFO, "SIGHUP: reloading %s", rt->cfg.source[0] ? rt->cfg.source : "the flags");
  if (build(nw, err, sizeof err) != 0) {
    reject(ctl, err);
    free(nw);
    return -1;
  }
  if (nw->npools != rt->npools) {
    reject(ctl, "the set of pools changed (adding or removing pools needs a restart)");
    free(nw);
    return -1;
  }
  for (int p = 0; p < rt->npools; p++)
    if (strcmp(nw->pools[p].name, rt->pools[p].name) != 0) {
      snprintf(err, sizeof err, "pool %s is now %s (renaming pools needs a restart)",
               rt->pools[p].name, nw->pools[p].name);
      reject(ctl, err);
      free(nw);
      return -1;
    }
  lb_tls_server *tls = NULL;
  if (nw->ncerts > 0) {
    if (nretired >= LB_RETIRED_MAX) {
      reject(ctl, "too many certificate reloads in this process's life: restart it");
      free(nw);
      return -1;
    }
    tls = calloc(1, sizeof *tls);
    if (!tls || lb_tls_server_init(tls, nw, err, sizeof err) != 0) {
      reject(ctl, tls ? err : "out of memory");
      free(tls);
      free(nw);
      return -1;
    }
  }
  report_restart_only(&rt->cfg, nw);

  int added = 0, removed = 0, kept = 0, health_failed = 0;
  for (int p = 0; p < rt->npools; p++) {
    if (lb_control_set_health(ctl, p, &nw->pools[p].health, err, sizeof err) != 0) {
      jc_log(JC_LOG_ERROR, "reload: pool %s keeps its health settings: %s", rt->pools[p].name, err);
      health_failed = 1;
    }
    lb_pool *pool = &rt->pools[p];
    const lb_pool_cfg *pc = &nw->pools[p];
    int matched[LB_MAX_SERVERS] = {0};
    int n = atomic_load(&pool->nservers);
    for (int i = 0; i < n; i++) {
      lb_slot *sl = &ctl->pools[p].slots[i];
      if (!sl->in_use || sl->from_dns)
        continue;
      int found = -1;
      for (int k = 0; k < pc->nservers && found < 0; k++)
        if (!matched[k] && same_server(&pool->servers[i], &pc->servers[k]))
          found = k;
      if (found >= 0) {
        matched[found] = 1;
        kept++;
        continue;
      }
      lb_control_remove_server(ctl, p, i, "not in the reloaded configuration (or changed)");
      removed++;
    }
    for (int k = 0; k < pc->nservers; k++) {
      if (matched[k])
        continue;
      const lb_server_cfg *sc = &pc->servers[k];
      int slot = lb_control_add_server(ctl, p, sc->name, (const struct sockaddr *)&sc->addr,
                                       sc->addrlen, sc->weight, 0);
      if (slot < 0) {
        jc_log(JC_LOG_ERROR, "reload: pool %s is full (%d slots): server %s not added",
               pool->name, LB_MAX_SERVERS, sc->name);
        continue;
      }
      jc_log(JC_LOG_INFO, "server %s (%s) added to pool %s by reload", sc->name,
             pool->servers[slot].addr_text, pool->name);
      added++;
    }
  }
  if (tls) {
    lb_tls_server *old = atomic_exchange(&rt->tls_live, tls);
    if (old)
      retired[nretired++] = old;
  }
  ctl->reloads++;
  char tlsnote[80] = "";
  if (tls)
    snprintf(tlsnote, sizeof tlsnote, ", certificates reloaded, %d ticket key(s) in use",
             lb_ticket_keys_count());
  jc_log(JC_LOG_INFO, "reload applied: %d server(s) kept, %d added, %d removed%s%s", kept, added,
         removed, tlsnote, health_failed ? " (some health settings kept, see above)" : "");
  free(nw);
  return 0;
}

void lb_reload_free(lb_runtime *rt) {
  lb_tls_server *t = atomic_exchange(&rt->tls_live, NULL);
  if (t) {
    lb_tls_server_free(t);
    free(t);
  }
  for (int i = 0; i < nretired; i++) {
    lb_tls_server_free(retired[i]);
    free(retired[i]);
  }
  nretired = 0;
}
