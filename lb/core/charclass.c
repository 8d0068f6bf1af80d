/* The tables of charclass.h, spelled out by rule at compile time. */
#include "lb/core/charclass.h"

#define CC_ALNUM(c)                                                                                \
  (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9'))
#define CC_TCHAR(c)                                                                                \
  (CC_ALNUM(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' ||            \
   (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' ||            \
   (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define CC_FIELD(c) ((c) == '\t' || ((c) >= 0x20 && (c) != 0x7f))
#define CC_HOST(c)                                                                                 \
  (CC_ALNUM(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' || (c) == '!' ||            \
   (c) == '$' || (c) == '&' || (c) == '\'' || (c) == '(' || (c) == ')' || (c) == '*' ||            \
   (c) == '+' || (c) == ',' || (c) == ';' || (c) == '=' || (c) == ':' || (c) == '%' ||             \
   (c) == '[' || (c) == ']')
#define CC_REQID(c)                                                                                \
  (CC_ALNUM(c) || (c) == '-' || (c) == '_' || (c) == '.' || (c) == ':' || (c) == '+' ||            \
   (c) == '/' || (c) == '=')
#define CC_TARGET(c) ((c) > 0x20 && (c) < 0x7f)
#define CC(c)                                                                                      \
  ((CC_TCHAR(c) ? LB_CC_TCHAR : 0) | (CC_FIELD(c) ? LB_CC_FIELD : 0) |                             \
   (CC_HOST(c) ? LB_CC_HOST : 0) | (CC_REQID(c) ? LB_CC_REQID : 0) |                            \
   (CC_TARGET(c) ? LB_CC_TARGET : 0))
#define LOWER(c) ((c) + ((c) >= 'A' && (c) <= 'Z') * 32)

#define R4(F, b) F(b), F((b) + 1), F((b) + 2), F((b) + 3)
#define R16(F, b) R4(F, b), R4(F, (b) + 4), R4(F, (b) + 8), R4(F, (b) + 12)
#define R64(F, b) R16(F, b), R16(F, (b) + 16), R16(F, (b) + 32), R16(F, (b) + 48)
#define R256(F) R64(F, 0), R64(F, 64), R64(F, 128), R64(F, 192)

const unsigned char lb_charclass[256] = {R256(CC)};
const unsigned char lb_lower[256] = {R256(LOWER)};
