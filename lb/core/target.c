/* Request-target parsing and path normalisation (target.h). */
#include "lb/core/target.h"
#include "lb/core/charclass.h"

#include <string.h>
#include <strings.h>

#define FAIL(reason)                                                                              \
  do {                                                                                            \
    *why = (reason);                                                                              \
    return 0;                                                                                     \
  } while (0)

int lb_target_parse_other(const char *t, size_t n, int is_options, lb_target *out,
                          const char **why) {
  *out = (lb_target){NULL, 0, t, n};
  *why = NULL;
  if (is_options && n == 1 && t[0] == '*')
    return 0;
  size_t s = n >= 7 && !strncasecmp(t, "http://", 7) ? 7 : n >= 8 && !strncasecmp(t, "https://", 8) ? 8 : 0;
  if (!s) {
    *why = "only origin-form (/path) and absolute-form (http://host/path) targets are routed";
    return 400;
  }
  size_t a = s;
  while (a < n && t[a] != '/' && t[a] != '?')
    a++;
  if (a == s || !lb_cc_all(t + s, a - s, LB_CC_HOST) || memchr(t + s, '@', a - s)) {
    *why = "absolute-form target: invalid authority (no user info, host[:port] only)";
    return 400;
  }
  *out = (lb_target){t + s, a - s, t + a, n - a};
  return 0;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)(c | 0x20);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int unreserved(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/* "." or "..": a dot segment once the percent-encodings of unreserved bytes are decoded. */
static int dot_piece(const char *s, size_t n) {
  return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/* A segment holding "." or ".." between encoded slashes or backslashes (%2F, %5C, \): a backend
 * that decodes them would see a dot segment routing never saw. */
static int dots_by_encoded_slash(const char *s, size_t n) {
  size_t start = 0, i = 0;
  int split = 0;
  while (i < n) {
    size_t w = s[i] == '\\' ? 1
               : i + 2 < n && s[i] == '%' && ((s[i + 1] == '2' && s[i + 2] == 'F') ||
                                             (s[i + 1] == '5' && s[i + 2] == 'C'))
                   ? 3
                   : 0;
    if (!w) {
      i++;
      continue;
    }
    if (dot_piece(s + start, i - start))
      return 1;
    split = 1;
    i += w;
    start = i;
  }
  return split && dot_piece(s + start, n - start);
}

/* The bytes that stop the scan of an already normal path: '%', '?' and '/'. */
static const unsigned char path_stop[256] = {['%'] = 1, ['?'] = 1, ['/'] = 1};

int lb_path_is_normal(const char *rest, size_t n) {
  if (!n || rest[0] != '/')
    return 0;
  /* a table lookup per byte, and the pairs "//" and "/." only where a '/' is: most request
   * paths have a few segments and no '%' */
  const unsigned char *p = (const unsigned char *)rest, *end = p + n;
  for (;;) { /* *p == '/' */
    if (++p == end)
      return 1;
    if (*p == '/' || *p == '.')
      return 0;
    while (!path_stop[*p])
      if (++p == end)
        return 1;
    if (*p != '/')
      return *p == '?';
  }
}

size_t lb_path_normalize(const char *rest, size_t n, char *out, size_t cap, const char **why) {
  static const char hx[] = "0123456789ABCDEF";
  *why = NULL;
  const char *q = memchr(rest, '?', n);
  size_t plen = q ? (size_t)(q - rest) : n;
  if (cap < n + 1)
    FAIL("request target too long to route");
  size_t o = 0, i = plen && rest[0] == '/' ? 1 : 0;
  out[o++] = '/'; /* out[0..o) always ends with '/' when a segment starts */
  for (;;) {
    size_t seg = o;
    while (i < plen && rest[i] != '/') {
      if (rest[i] != '%') {
        out[o++] = rest[i++];
        continue;
      }
      int h = i + 2 < plen ? hexv(rest[i + 1]) : -1, l = h >= 0 ? hexv(rest[i + 2]) : -1;
      if (l < 0)
        FAIL("invalid percent-encoding in the path (% without two hex digits)");
      int v = h * 16 + l;
      if (unreserved(v)) {
        out[o++] = (char)v;
      } else {
        out[o++] = '%';
        out[o++] = hx[v >> 4];
        out[o++] = hx[v & 15];
      }
      i += 3;
    }
    size_t sl = o - seg;
    int end = i >= plen;
    if (sl == 1 && out[seg] == '.') {
      o = seg;
    } else if (sl == 2 && out[seg] == '.' && out[seg + 1] == '.') {
      if (seg == 1)
        FAIL("path goes above the root (\"..\")");
      o = seg - 1; /* the '/' before this segment, then back over the segment before it */
      while (out[o - 1] != '/')
        o--;
    } else if (sl && dots_by_encoded_slash(out + seg, sl)) {
      FAIL("\".\" or \"..\" next to an encoded slash (%2F) in the path");
    } else if (sl && !end) {
      out[o++] = '/';
    } /* an empty segment ("//") adds nothing */
    if (end)
      break;
    i++; /* the '/' */
  }
  if (q) {
    memcpy(out + o, q, n - plen);
    o += n - plen;
  }
  return o;
}
