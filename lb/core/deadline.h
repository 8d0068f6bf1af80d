/* One libuv timer per connection whose deadline moves without re-arming it each time.
 *
 * A keep-alive request moves its connection's deadline several times (header timeout at the
 * first byte, none while proxying, idle timeout after the response; the backend side: response
 * timeout, none), and each uv_timer_start/stop is a removal from and an insertion into the
 * loop's timer heap. Here the wanted deadline is only stored; the timer is re-armed when the
 * deadline moves earlier than the time it will fire (or to another callback), and a timer that
 * fires before the deadline re-arms itself for what is left (nginx's and HAProxy's lazy timers).
 * The timeouts fire at the same loop time as with a timer re-armed at every move. */
#ifndef JOURNEY_LB_DEADLINE_H
#define JOURNEY_LB_DEADLINE_H

#include <stdint.h>
#include <uv.h>

typedef struct lb_deadline {
  uint64_t due;   /* loop time (uv_now, ms) the timeout is for, when `set` */
  uint64_t armed; /* loop time the uv timer fires, when `active` */
  uv_timer_cb cb; /* the callback the timer is armed with */
  unsigned char set, active;
} lb_deadline;

/* The timeout is ms from now (replaces any earlier one, earlier or later). */
static inline void lb_deadline_set(uv_timer_t *t, lb_deadline *d, uv_timer_cb cb, uint64_t ms) {
  uint64_t due = uv_now(t->loop) + ms;
  d->due = due;
  d->set = 1;
  if (d->active && d->armed <= due && d->cb == cb)
    return; /* fires first, then re-arms for the rest */
  d->cb = cb;
  d->armed = due;
  d->active = 1;
  uv_timer_start(t, cb, ms, 0);
}

/* No timeout any more (the timer, if armed, fires and finds nothing to do). */
static inline void lb_deadline_clear(lb_deadline *d) {
  d->set = 0;
}

/* First thing in the timer callback: 1 when the deadline has come (act on it, it is cleared);
 * 0 when there is none any more, or it is later (the timer is re-armed for it). */
static inline int lb_deadline_reached(uv_timer_t *t, lb_deadline *d) {
  d->active = 0;
  if (!d->set)
    return 0;
  uint64_t now = uv_now(t->loop);
  if (now < d->due) {
    d->armed = d->due;
    d->active = 1;
    uv_timer_start(t, d->cb, d->due - now, 0);
    return 0;
  }
  d->set = 0;
  return 1;
}

#endif
