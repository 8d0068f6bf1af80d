/* The control plane's life: the first round of checks before the workers start, and the close
 * of everything it runs (admin listener, DNS discovery, probes, timers). */
#include "lb/control/control.h"

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int first_round_done(lb_control *ctl) {
  if (ctl->dns_pending > 0)
    return 0;
  for (int p = 0; p < ctl->rt->npools; p++) {
    if (ctl->pools[p].hc.type == LB_CHECK_NONE)
      continue;
    int n = atomic_load(&ctl->rt->pools[p].nservers);
    for (int i = 0; i < n; i++)
      if (ctl->pools[p].slots[i].in_use && !ctl->pools[p].slots[i].first_done)
        return 0;
  }
  return 1;
}

static void on_first_round_deadline(uv_timer_t *t) { *(int *)t->data = 1; }

void lb_control_first_round(lb_control *ctl, uint32_t max_ms) {
  uint64_t start = jc_now_us();
  int checks = 0;
  for (int p = 0; p < ctl->rt->npools; p++) {
    if (ctl->pools[p].hc.type == LB_CHECK_NONE)
      continue;
    int n = atomic_load(&ctl->rt->pools[p].nservers);
    for (int i = 0; i < n; i++)
      if (ctl->pools[p].slots[i].in_use && !ctl->pools[p].slots[i].probe) {
        lb_probe_start(&ctl->pools[p].slots[i]);
        checks = 1;
      }
  }
  if (!checks && !ctl->dns_pending)
    return;
  int expired = 0;
  uv_timer_t deadline;
  uv_timer_init(ctl->loop, &deadline);
  deadline.data = &expired;
  uv_timer_start(&deadline, on_first_round_deadline, max_ms, 0);
  while (!expired && !ctl->stopping && !first_round_done(ctl))
    uv_run(ctl->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(ctl->loop, UV_RUN_NOWAIT); /* the close callback: `deadline` lives on this stack */
  char took[32];
  jc_fmt_ms(jc_now_us() - start, took, sizeof took);
  for (int p = 0; p < ctl->rt->npools; p++) {
    int used = 0, up = lb_control_pool_up(ctl, p, &used);
    jc_log(up ? JC_LOG_INFO : JC_LOG_WARN, "first health check round%s: pool %s has %d of %d "
           "servers UP (%s ms)", expired ? " (deadline reached)" : "", ctl->rt->pools[p].name, up,
           used, took);
  }
}


void lb_control_close(lb_control *ctl) {
  ctl->stopping = 1;
  lb_admin_close(ctl);
  lb_dns_close(ctl);
  for (int p = 0; p < LB_MAX_POOLS; p++) {
    for (int i = 0; i < LB_MAX_SERVERS; i++) {
      lb_slot *sl = &ctl->pools[p].slots[i];
      lb_probe_cancel(sl);
      if (sl->timer_on) {
        uv_close((uv_handle_t *)&sl->timer, NULL);
        sl->timer_on = 0;
      }
    }
    if (ctl->pools[p].check_tls) {
      SSL_CTX_free(ctl->pools[p].check_tls);
      ctl->pools[p].check_tls = NULL;
    }
  }
  ctl->rt->control_wakeup = NULL;
  uv_close((uv_handle_t *)&ctl->wakeup, NULL);
  uv_close((uv_handle_t *)&ctl->tick, NULL);
  lb_stream_loop_close(&ctl->sl);
}

