/* Publication: a server slot's admin state, health state and ejection combined into the
 * lb_server.state every worker reads (admin > health > ejection), and the pool-level view. */
#include "lb/control/control.h"

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- publication ---- */

void lb_control_publish(lb_control *ctl, int p, int i) {
  lb_slot *sl = &ctl->pools[p].slots[i];
  lb_server *s = &ctl->rt->pools[p].servers[i];
  const lb_health_cfg *hc = &ctl->pools[p].hc;
  int st;
  if (!sl->in_use)
    st = LB_SRV_REMOVED;
  else if (sl->admin)
    st = sl->admin;
  else if (hc->type != LB_CHECK_NONE && sl->sm.state != LB_HS_UP)
    st = LB_SRV_DOWN;
  else if (lb_outlier_is_ejected(&sl->out))
    st = LB_SRV_DOWN;
  else
    st = LB_SRV_UP;
  /* A change (a new server in the slot is one: it was REMOVED) rebuilds the pool's picking. */
  if (atomic_exchange_explicit(&s->state, st, memory_order_acq_rel) != st)
    lb_pool_changed(&ctl->rt->pools[p]);
}

int lb_control_pool_up(lb_control *ctl, int p, int *in_use) {
  lb_pool *pool = &ctl->rt->pools[p];
  int up = 0, used = 0, n = atomic_load(&pool->nservers);
  for (int i = 0; i < n; i++) {
    if (!ctl->pools[p].slots[i].in_use)
      continue;
    used++;
    up += lb_server_is_up(&pool->servers[i]);
  }
  if (in_use)
    *in_use = used;
  return up;
}

