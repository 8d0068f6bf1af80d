/* The admin endpoints behind the listeners of admin.c (control loop):
 *   GET /              the page (dashboard.c), GET /requests?id=ID the recent requests (JSON),
 *   GET /stats         JSON, GET /metrics Prometheus text 0.0.4, GET /healthz,
 *   POST /servers/NAME[/ACTION]  drain | disable | enable (level WRITE only)
 * admin.c has already checked Host and Origin and decided the level; these functions only
 * build answers. */
#ifndef JOURNEY_LB_ADMIN_VIEWS_H
#define JOURNEY_LB_ADMIN_VIEWS_H

#include "common/buf.h"
#include "lb/core/admin_policy.h"
#include "lb/control/control.h"
#include "lb/core/dashboard.h"

typedef struct lb_admin_req {
  lb_control *ctl;
  int method;               /* llhttp method */
  const char *path, *query; /* query without '?', "" none */
  const char *body;
  size_t body_len;
  lb_admin_level level;
  const char *peer;
  int browser_form; /* Accept: text/html (a form on the page, without JavaScript) */
  int token_configured, socket_configured;
} lb_admin_req;

typedef struct lb_admin_resp {
  int status;
  const char *ctype;
  const char *headers; /* extra header lines, each ending in \r\n */
  const char *text;    /* the body when `body` is NULL */
  jc_buf *body;
} lb_admin_resp;

/* Fills rs; a body longer than a literal goes into `body` (rs->body = body). */
void lb_admin_serve(const lb_admin_req *rq, lb_admin_resp *rs, jc_buf *body);

#endif
