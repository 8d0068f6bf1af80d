/* The request settings of journey-lb's config (pure): which methods are forwarded and how the
 * path goes to the backend.
 *
 *   methods = GET HEAD POST QUERY   only these (case-sensitive tokens, space or comma separated)
 *                                   are forwarded, any other gets 501; empty (the default): every
 *                                   method that is a token, CONNECT excepted
 *   normalize-path = on|off         on (default): the backend gets the path routes saw (dot
 *                                   segments resolved, "//" merged, unreserved bytes decoded);
 *                                   off: the path as received (routing still uses the normalised
 *                                   one) */
#ifndef JOURNEY_LB_REQUEST_SETTINGS_H
#define JOURNEY_LB_REQUEST_SETTINGS_H

#include <stddef.h>

typedef struct lb_request_settings {
  char methods[512]; /* " GET HEAD " (a space before and after each), "" = every token */
  int path_as_received; /* normalize-path = off */
} lb_request_settings;

/* 0 (set), -1 (bad value, reason in why) or 1 (not one of these settings). */
int lb_request_settings_set(lb_request_settings *r, const char *name, const char *value,
                            char *why, size_t wl);
/* 1 when the method may be forwarded. */
int lb_request_method_allowed(const lb_request_settings *r, const char *m, size_t n);

#endif
