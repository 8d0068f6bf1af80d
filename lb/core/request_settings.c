/* Request settings (request_settings.h). */
#include "lb/core/request_settings.h"
#include "lb/core/charclass.h"

#include <stdio.h>
#include <string.h>

static int set_methods(lb_request_settings *r, const char *v, char *why, size_t wl) {
  char list[sizeof r->methods];
  size_t o = 0;
  list[o++] = ' ';
  for (const char *p = v; *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    const char *s = p;
    while (*p && *p != ' ' && *p != '\t' && *p != ',')
      p++;
    size_t n = (size_t)(p - s);
    if (!n)
      continue;
    if (!lb_cc_all(s, n, LB_CC_TCHAR) || (n == 7 && !memcmp(s, "CONNECT", 7))) {
      snprintf(why, wl, "methods: '%.*s' is not a method journey-lb can forward (a token such "
                        "as GET or QUERY; CONNECT is never forwarded)", (int)(n > 64 ? 64 : n), s);
      return -1;
    }
    if (o + n + 1 >= sizeof list) {
      snprintf(why, wl, "methods: the list is longer than %zu bytes", sizeof list - 2);
      return -1;
    }
    memcpy(list + o, s, n);
    o += n;
    list[o++] = ' ';
  }
  list[o] = 0;
  if (o == 1) {
    snprintf(why, wl, "methods: expected a list such as 'GET HEAD POST' (leave the key out "
                      "to forward every method)");
    return -1;
  }
  memcpy(r->methods, list, o + 1);
  return 0;
}

int lb_request_settings_set(lb_request_settings *r, const char *name, const char *value,
                            char *why, size_t wl) {
  if (!strcmp(name, "methods"))
    return set_methods(r, value, why, wl);
  if (!strcmp(name, "normalize-path")) {
    if (strcmp(value, "on") && strcmp(value, "off")) {
      snprintf(why, wl, "normalize-path '%s': expected on or off", value);
      return -1;
    }
    r->path_as_received = !strcmp(value, "off");
    return 0;
  }
  return 1;
}

int lb_request_method_allowed(const lb_request_settings *r, const char *m, size_t n) {
  if (!r->methods[0])
    return 1;
  for (const char *p = r->methods; (p = strstr(p, " ")) && p[1]; p++)
    if (!strncmp(p + 1, m, n) && p[1 + n] == ' ')
      return 1;
  return 0;
}
