/* The admin page: one self-contained HTML document from an lb_stats snapshot (pure). */
#ifndef JOURNEY_LB_DASHBOARD_H
#define JOURNEY_LB_DASHBOARD_H

#include "common/buf.h"
#include "lb/core/stats.h"

/* filter_id: show only the recent requests with this id ("" all); can_act: draw the
 * drain/disable/enable buttons; want_token: offer the token field (a token is configured and
 * this request had none). 0, or -1 when b's cap was reached. */
int lb_dashboard_html(const lb_stats *s, const char *filter_id, int can_act, int want_token,
                      jc_buf *b);

#endif
