/* Health of backend servers, pure decisions only (no I/O, no clock: `now` is passed in, so cmocka
 * drives every sequence with an injected clock).
 *
 *  - lb_health_cfg: the health-* and outlier-* settings of a pool, parsed from flags / INI keys of
 *    the same names (lb_health_cfg_set), with per-pool overrides merged over the [lb] values.
 *  - lb_health_sm: active-check state machine. A server starts UNKNOWN; its first check decides
 *    UP or DOWN at once (start-up waits for that first round); afterwards `rise` consecutive
 *    successes bring a DOWN server UP and `fall` consecutive failures take an UP server DOWN
 *    (HAProxy semantics), so a flapping server does not flap its state.
 *  - lb_outlier: passive checks (Envoy-style outlier detection). Consecutive connect failures or
 *    5xx responses eject a server for base x (number of ejections) (capped at max), never more
 *    than max-percent of the pool (at least one may always go when the pool has two or more);
 *    the multiplier decays by one for every base period spent without an ejection. */
#ifndef JOURNEY_LB_HEALTH_H
#define JOURNEY_LB_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#define LB_HEALTH_PATH_MAX 256

typedef enum { LB_CHECK_NONE = 0, LB_CHECK_HTTP = 1, LB_CHECK_TCP = 2 } lb_check_type;

typedef struct lb_health_cfg {
  int type;                      /* lb_check_type; NONE: every server is UP (no active checks) */
  char method[16];               /* GET */
  char path[LB_HEALTH_PATH_MAX]; /* /health */
  char host[LB_HEALTH_PATH_MAX]; /* Host header; "" = the server's address */
  int status_min, status_max;    /* 200-399 */
  uint32_t interval_ms;          /* 2000 */
  uint32_t fast_interval_ms;     /* while a server is changing state: 500 (never above interval) */
  uint32_t timeout_ms;           /* 1000 */
  int rise, fall;                /* 2, 3 */
  int tls;                       /* check over TLS (verified unless tls_verify is off) */
  int tls_verify;                /* 1 */
  char tls_ca[LB_HEALTH_PATH_MAX];  /* CA file for verification; "" = system store */
  char tls_sni[LB_HEALTH_PATH_MAX]; /* name sent and verified; "" = host or the server's IP */
  /* passive checks (outlier detection); a threshold of 0 turns that trigger off */
  uint32_t outlier_5xx;          /* consecutive 5xx responses: 0 (off) */
  uint32_t outlier_connect;      /* consecutive connect failures/timeouts: 5 */
  uint32_t outlier_base_ms;      /* 30000 */
  uint32_t outlier_max_ms;       /* 300000 */
  uint32_t outlier_max_percent;  /* 50 */
  uint64_t set;                  /* bit per field explicitly set (per-pool overrides) */
} lb_health_cfg;

void lb_health_cfg_defaults(lb_health_cfg *c);
/* Applies one setting ("health-path", "outlier-base-ejection-time", ...). Returns 1 when the
 * name is not a health setting, 0 when applied, -1 with a reason in why (value refused). */
int lb_health_cfg_set(lb_health_cfg *c, const char *name, const char *value, char *why,
                      size_t wl);
/* pool = global values, then every field the pool set itself. A pool where no check type was
 * chosen or implied (no health-* setting) gets TCP connect checks; health-check = none is the
 * only way to turn active checks off. */
void lb_health_cfg_merge(lb_health_cfg *pool, const lb_health_cfg *global);
/* 1 when the merged settings are that default TCP check (for the start-up message). */
int lb_health_cfg_is_default(const lb_health_cfg *c);
/* Cross-checks (timeout < interval, ...). Returns 0 or -1 with a reason. */
int lb_health_cfg_check(const lb_health_cfg *c, const char *pool, char *why, size_t wl);
/* "GET /health 200-399 every 2000ms timeout 1000ms rise 2 fall 3" / "tcp ..." / "off". */
void lb_health_cfg_describe(const lb_health_cfg *c, char *buf, size_t len);
/* Names of every health setting (NULL-terminated), for --help and getopt. */
extern const char *const lb_health_settings[];

/* ---- active checks ---- */

typedef enum { LB_HS_UNKNOWN = 0, LB_HS_UP = 1, LB_HS_DOWN = 2 } lb_health_state;

typedef struct lb_health_sm {
  int state;           /* lb_health_state */
  int ok_run;          /* consecutive successes */
  int fail_run;        /* consecutive failures */
  uint64_t since_us;   /* last transition (or creation) */
  uint64_t transitions;
} lb_health_sm;

void lb_health_sm_init(lb_health_sm *h, uint64_t now);
/* Records one check result. Returns 1 when the state changed (UNKNOWN->UP/DOWN, UP->DOWN,
 * DOWN->UP), else 0. */
int lb_health_sm_record(lb_health_sm *h, const lb_health_cfg *c, int ok, uint64_t now);
/* 1 while the last results disagree with the state (a transition may be coming). */
int lb_health_sm_changing(const lb_health_sm *h);
/* Delay before the next check: fast interval while changing or unknown, else the interval. */
uint32_t lb_health_sm_next_ms(const lb_health_sm *h, const lb_health_cfg *c);
const char *lb_health_state_name(int s); /* "unknown" / "up" / "down" */

/* ---- passive checks ---- */

typedef struct lb_outlier {
  int ejections;          /* multiplier: grows per ejection, decays while healthy */
  uint64_t ejected_until; /* 0: not ejected */
  uint64_t last_change;   /* last ejection, return, or decay step */
  uint64_t total;         /* ejections so far (stats) */
} lb_outlier;

/* Ejection length for the n-th ejection (n >= 1): base * n, capped at max. */
uint64_t lb_outlier_duration_ms(const lb_health_cfg *c, int n);
/* May one more server be ejected from a pool of `pool_size` servers with `ejected` already out? */
int lb_outlier_allowed(const lb_health_cfg *c, int pool_size, int ejected);
/* A trigger threshold was reached: ejects (returns 1) unless already ejected or the pool's
 * share is used up (returns 0). */
int lb_outlier_eject(lb_outlier *o, const lb_health_cfg *c, uint64_t now, int pool_size,
                     int ejected);
/* Time passes: returns 1 when the ejection ends now; decays the multiplier while healthy. */
int lb_outlier_tick(lb_outlier *o, const lb_health_cfg *c, uint64_t now);
static inline int lb_outlier_is_ejected(const lb_outlier *o) { return o->ejected_until != 0; }

#endif
