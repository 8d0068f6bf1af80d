/* journey-lb control plane: health checks, DNS discovery, the admin listener, drain and
 * reload. Everything here runs on ONE loop, the main thread's (signals live there too), so the
 * control-plane modules share lb_control without locks; the workers only see its results through
 * the atomics of lb_server (state, generation) and lb_pool, and poke it with uv_async_send.
 *
 *   control.c       the first round of checks at start-up, closing everything at stop
 *   slots.c         server slots from the config, added/removed at run time, health settings,
 *                   passive ejection decisions
 *   publish.c       admin > health > ejection -> the state the workers see
 *   probe.c         active checks (HTTP/TCP, optional verified TLS)
 *   discovery.c     c-ares in the loop: hostnames -> server slots, re-resolved at the TTL
 *   admin.c         admin/probe listeners, privilege levels; admin_views.c: the endpoints
 *   reload.c        SIGHUP: new config and certificates applied to the running pools
 * (The workers' half of passive checks is lb/proxy/passive.c.)
 *
 * Server slots: every pool has LB_MAX_SERVERS lb_server slots (balancer.c). A slot is filled
 * (name, address, weight, generation+1, counters zeroed) before it is published, and emptied by
 * publishing LB_SRV_REMOVED: in-flight requests keep their pointer and finish, pooled
 * connections to it are closed on release (generation check), and the slot is only refilled
 * once it has no active request and has been empty for LB_SLOT_REUSE_MS. */
#ifndef JOURNEY_LB_CONTROL_H
#define JOURNEY_LB_CONTROL_H

#include "lb/core/health.h"
#include "lb/net/stream.h"
#include "lb/proxy/worker.h"

#include <openssl/ssl.h>
#include <uv.h>

#define LB_SLOT_REUSE_MS 5000
#define LB_CHECK_LAST_MAX 96
#define LB_CHECK_STRIP 10

typedef struct lb_probe lb_probe;
typedef struct lb_control lb_control;

typedef struct lb_slot {
  int in_use;
  int from_dns;          /* added by discovery (removed when its record goes) */
  int admin;             /* 0, LB_SRV_DRAIN or LB_SRV_MAINT */
  uint64_t emptied_us;   /* when it was emptied (reuse delay) */
  lb_health_sm sm;
  lb_outlier out;
  char last[LB_CHECK_LAST_MAX]; /* last check result: "ok", "timeout", "status 503", ... */
  uint64_t last_us;      /* its duration */
  uint64_t last_at_us;   /* when it finished (jc_now_us) */
  uint16_t strip;        /* the last LB_CHECK_STRIP results, newest in bit 0 (1 = passed) */
  uint8_t nstrip;        /* how many of them there are */
  int published;         /* the state last published (lb_server_state), -1 never */
  uint64_t state_since_us; /* when the published state last changed (jc_now_us) */
  int first_done;        /* the first check finished */
  lb_probe *probe;       /* check in flight */
  uv_timer_t timer;      /* next check */
  int timer_on;          /* timer initialised */
  lb_control *ctl;
  int pool, index;
} lb_slot;

typedef struct lb_dns_pool lb_dns_pool; /* discovery.c */

typedef struct lb_ctl_pool {
  lb_health_cfg hc;
  SSL_CTX *check_tls;    /* client context for TLS checks */
  lb_slot slots[LB_MAX_SERVERS];
  lb_dns_pool *dns;      /* DNS-discovered servers of this pool, or NULL */
} lb_ctl_pool;

typedef struct lb_dns lb_dns;     /* discovery.c */
typedef struct lb_admin lb_admin; /* admin.c */

struct lb_control {
  lb_runtime *rt;
  uv_loop_t *loop;
  lb_ctl_pool pools[LB_MAX_POOLS];
  uv_async_t wakeup;     /* workers: an ejection request is pending */
  uv_timer_t tick;       /* ejection expiry */
  lb_stream_loop sl;     /* the probes' streams (lb/net/stream.h) */
  lb_dns *dns;
  lb_admin *admin;
  int stopping;
  atomic_int draining;   /* SIGTERM received: /healthz 503 */
  uint64_t started_us;
  uint64_t reloads, reload_failures;
  int probes;            /* checks in flight (first round and stop wait on them) */
  int dns_pending;       /* first resolutions not answered yet */
};

/* ---- slots.c, control.c, publish.c ---- */
/* Builds the slots from rt->pools and rt->cfg, initialises the handles on loop. */
int lb_control_init(lb_control *ctl, lb_runtime *rt, uv_loop_t *loop, char *err, size_t errlen);
/* Runs the loop until every server has had its first check and every hostname its first answer,
 * or max_ms passed. Call before the workers accept traffic. */
void lb_control_first_round(lb_control *ctl, uint32_t max_ms);
/* Closes every handle of the control plane (checks in flight are cancelled). */
void lb_control_close(lb_control *ctl);
/* Publishes slot (p, i)'s effective state to the workers; logs nothing. */
void lb_control_publish(lb_control *ctl, int p, int i);
/* Puts a server into a free slot of pool p (or -1: pool full). Checks start at once. */
int lb_control_add_server(lb_control *ctl, int p, const char *name, const struct sockaddr *addr,
                          socklen_t addrlen, int weight, int from_dns);
/* Empties slot (p, i): no new requests, in-flight ones finish. */
void lb_control_remove_server(lb_control *ctl, int p, int i, const char *why);
/* Applies new health settings to pool p (reload). */
int lb_control_set_health(lb_control *ctl, int p, const lb_health_cfg *hc, char *err,
                          size_t errlen);
/* Number of servers UP in pool p, and in use. */
int lb_control_pool_up(lb_control *ctl, int p, int *in_use);

/* probe.c: the active check of one slot. */
void lb_probe_start(lb_slot *sl);
void lb_probe_schedule(lb_slot *sl, uint32_t ms);
void lb_probe_cancel(lb_slot *sl);

static inline lb_server *lb_slot_server(lb_slot *sl) {
  return &sl->ctl->rt->pools[sl->pool].servers[sl->index];
}
static inline const lb_health_cfg *lb_slot_cfg(lb_slot *sl) { return &sl->ctl->pools[sl->pool].hc; }

/* ---- discovery.c ---- */
int lb_dns_init(lb_control *ctl, char *err, size_t errlen);
void lb_dns_close(lb_control *ctl);

/* ---- admin.c ---- */
/* Starts the admin listener, socket and probe listener that rt->cfg asks for (none: 0). */
int lb_admin_start(lb_control *ctl, char *err, size_t errlen);
void lb_admin_close(lb_control *ctl);

/* ---- reload.c ---- */
/* Builds a new config with build(), validates it and its certificates, and applies it: servers,
 * weights, health settings and certificates. On any error logs it and keeps the running one.
 * Returns 0 when applied. */
typedef int (*lb_config_builder)(lb_config *out, char *err, size_t errlen);
int lb_reload(lb_control *ctl, lb_config_builder build);
void lb_reload_free(lb_runtime *rt);

#endif
