/* Cross-checks of a finished configuration that catch settings which would load and then
 * silently never work (pure). */
#include "lb/core/config.h"

#include "common/addr.h"

#include <stdio.h>
#include <string.h>

static int parse_addr(const char *what, const char *v, struct sockaddr_storage *ss, socklen_t *sl,
                      const char *src, char *err, size_t errlen) {
  char e[200];
  if (jc_addr_parse(v, ss, sl, e, sizeof e) != 0) {
    snprintf(err, errlen, "%s: %s '%s': %s (expected IP:PORT, e.g. 127.0.0.1:9000)", src, what, v,
             e);
    return -1;
  }
  return 0;
}

int lb_config_check_admin(const lb_config *c, const char *src, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t sl;
  if (c->adm.probe[0] && parse_addr("probe-listen", c->adm.probe, &ss, &sl, src, err, errlen))
    return -1;
  if ((c->adm.token_file[0] || c->adm.socket[0] || c->adm.nnames) && !c->admin[0] &&
      !c->adm.socket[0]) {
    snprintf(err, errlen,
             "%s: admin-token-file/admin-name need an admin listener: add --admin "
             "IP:PORT (or --admin-socket PATH)",
             src);
    return -1;
  }
  return 0;
}

static int same_addr(const struct sockaddr_storage *a, socklen_t al,
                     const struct sockaddr_storage *b, socklen_t bl) {
  return al == bl && memcmp(a, b, al) == 0;
}

int lb_config_check_overlaps(const lb_config *c, const char *src, char *err, size_t errlen) {
  for (int i = 0; i < c->nroutes; i++)
    for (int j = 0; j < i; j++)
      if (!strcmp(c->routes[i].prefix, c->routes[j].prefix)) {
        const lb_route_cfg *a = &c->routes[j], *b = &c->routes[i];
        snprintf(err, errlen,
                 "%s%s%.0d: route %s is given twice (pool %s%s%.0d and pool %s): "
                 "only one pool can serve a path prefix; remove one or make the prefixes differ",
                 src, b->line ? ":" : "", b->line, b->prefix, a->pool_name,
                 a->line ? ", line " : "", a->line, b->pool_name);
        return -1;
      }
  for (int p = 0; p < c->npools; p++) {
    if (p == 0 && c->pools[0].nservers == 0 && !c->pools[0].dns_host[0])
      continue; /* the empty default pool of a file with [pool] sections only */
    int reached = 0;
    for (int i = 0; i < c->nroutes && !reached; i++)
      reached = c->routes[i].pool == p;
    if (!reached) {
      snprintf(err, errlen,
               "%s: pool %s is not reached by any route: add route = /prefix/ to "
               "[pool %s]%s",
               src, c->pools[p].name, c->pools[p].name,
               p == 0 ? " (the [lb] backends form the pool 'default', which serves '/' unless "
                        "another pool has route = /)"
                      : "");
      return -1;
    }
  }
  struct {
    const char *what, *text;
    struct sockaddr_storage ss;
    socklen_t sl;
  } seen[LB_MAX_LISTENERS + 2];
  int n = 0;
  for (int i = 0; i < c->nlisteners; i++) {
    seen[n].what = "listen";
    seen[n].text = c->listeners[i].text;
    seen[n].ss = c->listeners[i].addr;
    seen[n++].sl = c->listeners[i].addrlen;
  }
  const char *extra[2][2] = {{"admin", c->admin}, {"probe-listen", c->adm.probe}};
  for (int k = 0; k < 2; k++)
    if (extra[k][1][0]) {
      seen[n].what = extra[k][0];
      seen[n].text = extra[k][1];
      if (parse_addr(extra[k][0], extra[k][1], &seen[n].ss, &seen[n].sl, src, err, errlen))
        return -1;
      n++;
    }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++)
      if (same_addr(&seen[i].ss, seen[i].sl, &seen[j].ss, seen[j].sl)) {
        snprintf(err, errlen,
                 "%s: %s %s and %s %s are the same address: each listener needs "
                 "its own IP:PORT",
                 src, seen[j].what, seen[j].text, seen[i].what, seen[i].text);
        return -1;
      }
  return 0;
}
