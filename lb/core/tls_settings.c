/* tls-ticket-key-file, client-ca, client-verify, client-cert-header; alpn, h2c, h2-websocket,
 * h2-max-concurrent-streams. */
#include "lb/core/tls_settings.h"

#include "lb/core/rewrite.h"
#include "lb/core/values.h"

#include <stdio.h>
#include <string.h>

void lb_tls_settings_defaults(lb_tls_settings *t) {
  memset(t, 0, sizeof *t);
  snprintf(t->cert_header, sizeof t->cert_header, "X-Client-Cert-Subject");
  t->cert_header_len = strlen(t->cert_header);
  t->alpn_h2 = 1;
  t->h2_websocket = 1;
  t->h2_max_streams = LB_H2_MAX_STREAMS_DEFAULT;
}

static int set_path(char *dst, const char *name, const char *value, char *why, size_t wl) {
  if (!*value || strlen(value) >= LB_TLS_PATH_MAX) {
    snprintf(why, wl, "%s '%.60s': expected a file path", name, value);
    return -1;
  }
  snprintf(dst, LB_TLS_PATH_MAX, "%s", value);
  return 0;
}

int lb_tls_settings_set(lb_tls_settings *t, const char *name, const char *value, char *why,
                        size_t wl) {
  if (!strcmp(name, "tls-ticket-key-file"))
    return set_path(t->ticket_key_file, name, value, why, wl);
  if (!strcmp(name, "client-ca"))
    return set_path(t->client_ca, name, value, why, wl);
  if (!strcmp(name, "client-verify")) {
    if (!strcmp(value, "optional"))
      t->client_verify = LB_CLIENT_VERIFY_OPTIONAL;
    else if (!strcmp(value, "required"))
      t->client_verify = LB_CLIENT_VERIFY_REQUIRED;
    else {
      snprintf(why, wl, "client-verify '%.40s': expected optional or required", value);
      return -1;
    }
    t->client_verify_set = 1;
    return 0;
  }
  if (!strcmp(name, "alpn")) {
    if (!strcmp(value, "h2,http/1.1"))
      t->alpn_h2 = 1;
    else if (!strcmp(value, "http/1.1"))
      t->alpn_h2 = 0;
    else {
      snprintf(why, wl, "alpn '%.40s': expected h2,http/1.1 or http/1.1", value);
      return -1;
    }
    return 0;
  }
  if (!strcmp(name, "h2c") || !strcmp(name, "h2-websocket")) {
    int *flag = name[2] == 'c' ? &t->h2c : &t->h2_websocket;
    if (!strcmp(value, "on"))
      *flag = 1;
    else if (!strcmp(value, "off"))
      *flag = 0;
    else {
      snprintf(why, wl, "%s '%.40s': expected on or off", name, value);
      return -1;
    }
    return 0;
  }
  if (!strcmp(name, "h2-max-concurrent-streams")) {
    if (lb_parse_uint(value, 1, LB_H2_MAX_STREAMS_CAP, &t->h2_max_streams) != 0) {
      snprintf(why, wl, "%s '%.40s': expected a number from 1 to %d", name, value,
               LB_H2_MAX_STREAMS_CAP);
      return -1;
    }
    return 0;
  }
  if (!strcmp(name, "client-cert-header")) {
    size_t n = strlen(value);
    if (!n || n >= sizeof t->cert_header || !lb_token_valid(value, n)) {
      snprintf(why, wl,
               "client-cert-header '%.70s': expected a header name (letters, digits, "
               "'-'; at most %zu characters)",
               value, sizeof t->cert_header - 1);
      return -1;
    }
    memcpy(t->cert_header, value, n + 1);
    t->cert_header_len = n;
    return 0;
  }
  return 1;
}

int lb_tls_settings_finish(lb_tls_settings *t, char *why, size_t wl) {
  if (t->client_verify_set && !t->client_ca[0]) {
    snprintf(why, wl,
             "client-verify needs client-ca FILE (the CAs that sign client "
             "certificates)");
    return -1;
  }
  if (t->client_ca[0] && !t->client_verify_set)
    t->client_verify = LB_CLIENT_VERIFY_REQUIRED; /* safe by default: asked means required */
  return 0;
}
