/* Building a text document into a capped jc_buf with one sticky failure flag: the formatters of
 * /stats, /metrics and the admin page append piece by piece and check once at the end (an
 * append past the cap is refused whole, and everything after it is skipped). Header-only. */
#ifndef JOURNEY_LB_TEXTOUT_H
#define JOURNEY_LB_TEXTOUT_H

#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct lb_textout {
  jc_buf *b;
  int failed;
} lb_textout;

static inline void lb_put(lb_textout *o, const char *s, size_t n) {
  if (!o->failed && jc_buf_append(o->b, s, n) != 0)
    o->failed = 1;
}

static inline void lb_puts(lb_textout *o, const char *s) { lb_put(o, s, strlen(s)); }

/* One formatted piece of at most 1 KiB (longer: failure). */
static inline void __attribute__((format(printf, 2, 3)))
lb_putf(lb_textout *o, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    o->failed = 1;
    return;
  }
  lb_put(o, tmp, (size_t)n);
}

#endif
