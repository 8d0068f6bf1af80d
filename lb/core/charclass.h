/* Byte classes of HTTP syntax, one 256-entry table: the per-request checks (header names,
 * field values, Host, X-Request-Id) cost one load and one test per byte instead of a chain of
 * range comparisons and strchr calls (pure data, no state). */
#ifndef JOURNEY_LB_CHARCLASS_H
#define JOURNEY_LB_CHARCLASS_H

#include <stddef.h>

enum {
  LB_CC_TCHAR = 1, /* RFC 9110 token: ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~ */
  LB_CC_FIELD = 2, /* field-value byte: HTAB, SP, VCHAR, obs-text (0x80-0xff) */
  LB_CC_HOST = 4,  /* Host value: ALPHA DIGIT - . _ ~ ! $ & ' ( ) * + , ; = : % [ ] */
  LB_CC_REQID = 8, /* usable incoming X-Request-Id: ALPHA DIGIT - _ . : + / = */
  LB_CC_TARGET = 16 /* request-target byte: VCHAR (no whitespace, control or obs-text) */
};

extern const unsigned char lb_charclass[256];
/* ASCII lowercase of every byte (other bytes unchanged): case-insensitive name comparison. */
extern const unsigned char lb_lower[256];

/* 1 when each of the n bytes at s has every bit of cls (four table loads per test). */
static inline int lb_cc_all(const char *s, size_t n, unsigned cls) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  for (; end - p >= 4; p += 4)
    if ((lb_charclass[p[0]] & lb_charclass[p[1]] & lb_charclass[p[2]] & lb_charclass[p[3]] & cls) !=
        cls)
      return 0;
  for (; p < end; p++)
    if ((lb_charclass[*p] & cls) != cls)
      return 0;
  return 1;
}

#endif
