/* The request-target as journey-lb routes and forwards it (pure: no I/O, no allocation).
 *
 *   lb_target_parse      origin-form "/path?query", or absolute-form "http(s)://authority/path"
 *                        (RFC 9112 3.2.2: a server must accept it; the authority then replaces
 *                        the Host header, the backend gets origin-form); "*" for OPTIONS
 *   lb_path_normalize    the path as routes see it (RFC 3986 6.2.2, as nginx does): %XX of an
 *                        unreserved character decoded, other %xx in upper case, "//" merged,
 *                        "." and ".." segments resolved; the query is kept as it came.
 *                        Refused (400): a "%" without two hex digits, ".." above the root, and
 *                        a "." or ".." next to an encoded slash (%2F is not a separator for
 *                        routing: it stays encoded, but "..%2F" would be one to a backend that
 *                        decodes it). */
#ifndef JOURNEY_LB_TARGET_H
#define JOURNEY_LB_TARGET_H

#include <stddef.h>

typedef struct lb_target {
  const char *authority; /* absolute-form: host[:port] (a view), else NULL */
  size_t authority_len;
  const char *rest;      /* origin-form: "/path?query"; absolute-form: what follows the
                          * authority ("", "?q" or "/path?q") */
  size_t rest_len;
} lb_target;

/* 0, or 400 with *why. Origin-form inline (every request), the other forms apart. */
int lb_target_parse_other(const char *t, size_t n, int is_options, lb_target *out,
                          const char **why);
static inline int lb_target_parse(const char *t, size_t n, int is_options, lb_target *out,
                                  const char **why) {
  if (n && t[0] == '/') {
    *out = (lb_target){NULL, 0, t, n};
    *why = NULL;
    return 0;
  }
  return lb_target_parse_other(t, n, is_options, out, why);
}

/* 1 when `rest` is an origin-form whose path is already normal (no "%", "//" or "/."): it
 * routes and goes on as it is, with no copy (the common case, checked in a few memchr). */
int lb_path_is_normal(const char *rest, size_t n);

/* Writes the normalised origin-form of `rest` (a "/" first when it does not start with one) to
 * out (cap bytes: rest_len + 1 always suffice). Returns its length, or 0 with *why (400). */
size_t lb_path_normalize(const char *rest, size_t n, char *out, size_t cap, const char **why);

#endif
