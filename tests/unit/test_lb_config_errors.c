/* Config errors (issue 10): every class of error journey-lb's config file can have, each with
 * the message naming the file and the line, and saying what to change. The classes already in
 * test_lb_config.c (unknown setting, bad backend address, weight, duplicate server, algorithm,
 * duration, scheme, unknown section, syntax, route to a missing pool, key without cert, the
 * whole-file checks) are not repeated here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb/core/config.h"

static char path[64];

static void expect_error(const char *text, int line, const char *words) {
  static lb_config c;
  char err[1024] = "";
  snprintf(path, sizeof path, "/tmp/test_lb_config_errors_%d.conf", (int)getpid());
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  lb_config_defaults(&c);
  int r = lb_config_load_file(&c, path, err, sizeof err);
  if (r == 0)
    r = lb_config_finish(&c, err, sizeof err);
  unlink(path);
  if (r == 0)
    fail_msg("accepted, expected an error at line %d: %s", line, text);
  char where[96];
  snprintf(where, sizeof where, "%s:%d: ", path, line);
  if (!strstr(err, where))
    fail_msg("expected '%s' in: %s", where, err);
  if (!strstr(err, words))
    fail_msg("expected '%s' in: %s", words, err);
}

#define BASE "[lb]\nlisten = http://127.0.0.1:8080\nbackend = b1=127.0.0.1:9001\n" /* 3 lines */

static void lb_section_values(void **state) {
  expect_error(BASE "workers = lots\n", 4, "workers 'lots': expected 1..256 or auto");
  expect_error(BASE "log-format = xml\n", 4, "log-format 'xml': expected logfmt or json");
  expect_error(BASE "log-level = loud\n", 4, "expected debug, info, warn or error");
  expect_error(BASE "access-log = maybe\n", 4, "access-log 'maybe': expected on or off");
  expect_error(BASE "server-timing = 2\n", 4, "expected on or off");
  expect_error(BASE "max-body-size = huge\n", 4, "max-body-size 'huge': expected a size");
  expect_error(BASE "methods = GET, CONNECT\n", 4, "methods: 'CONNECT' is not a method");
  expect_error(BASE "methods = GET (x)\n", 4, "methods: '(x)'");
  expect_error(BASE "normalize-path = maybe\n", 4, "normalize-path 'maybe': expected on or off");
  expect_error(BASE "h2-websocket = maybe\n", 4, "h2-websocket 'maybe': expected on or off");
  expect_error(BASE "h2-max-concurrent-streams = 0\n", 4,
               "h2-max-concurrent-streams '0': expected a number from 1 to 1000");
  expect_error(BASE "h2-max-concurrent-streams = 1001\n", 4, "h2-max-concurrent-streams '1001'");
  expect_error(BASE "h2-max-concurrent-streams = 5x\n", 4, "h2-max-concurrent-streams '5x'");
  expect_error(BASE "h2-max-concurrent-streams = -1\n", 4, "h2-max-concurrent-streams '-1'");
  expect_error(BASE "max-headers = 0\n", 4, "max-headers '0': expected a number from");
  expect_error(BASE "max-connections = -5\n", 4, "max-connections '-5'");
  expect_error(BASE "client-idle-timeout = 0\n", 4, "expected a duration");
  expect_error(BASE "backend-connect-timeout = 3 weeks\n", 4, "expected a duration");
  expect_error(BASE "retries = many\n", 4, "retries 'many'");
}

static void listeners_and_certs(void **state) {
  char t[4096];
  snprintf(t, sizeof t, BASE);
  for (int i = 0; i < 8; i++)
    snprintf(t + strlen(t), sizeof t - strlen(t), "listen = http://127.0.0.1:%d\n", 9100 + i);
  /* the base has one listener: the 8th extra is the 9th, on line 4 + 7 */
  expect_error(t, 11, "too many listeners (at most 8)");
  expect_error(BASE "listen = http://127.0.0.1:notaport\n", 4, "listen 'http://127.0.0.1:notaport'");
  char longaddr[700] = "listen = http://";
  memset(longaddr + strlen(longaddr), '1', 600);
  longaddr[616] = 0;
  snprintf(t, sizeof t, BASE "%s\n", longaddr);
  /* inih cuts lines at its INI_MAX_LINE: what is left is still refused at that line */
  expect_error(t, 4, "listen 'http://111");
  snprintf(t, sizeof t, BASE);
  for (int i = 0; i < 9; i++)
    snprintf(t + strlen(t), sizeof t - strlen(t), "cert = /c%d.pem\nkey = /k%d.pem\n", i, i);
  expect_error(t, 4 + 16, "too many certificates (at most 8)");
}

static void backends_pools_routes(void **state) {
  expect_error(BASE "backend = b 2=127.0.0.1:9002\n", 4, "name 'b 2' must be letters");
  expect_error(BASE "backend = b2=127.0.0.1:9002,color=red\n", 4, "unknown option 'color=red'");
  expect_error(BASE "[pool bad name]\nbackend = c1=127.0.0.1:9101\n", 5,
               "pool name must be letters, digits");
  expect_error(BASE "[pool p]\nbackend = c1=127.0.0.1:9101\nweight = 3\n", 6,
               "unknown setting 'weight' in [pool p]");
  expect_error(BASE "[pool p]\nalgorithm = fastest\n", 5, "algorithm 'fastest'");
  expect_error(BASE "[pool p]\nbackend = c1=127.0.0.1:9101\nroute = my-app/\n", 6,
               "a path prefix must start with '/'");
  expect_error(BASE "route = /x/\n", 4, "expected '/prefix POOL'");
  static char t[65536];
  snprintf(t, sizeof t, BASE "[pool p]\n");
  for (int i = 0; i < LB_MAX_SERVERS + 1; i++)
    snprintf(t + strlen(t), sizeof t - strlen(t), "backend = s%d=127.0.0.1:%d\n", i, 10000 + i);
  char why[64];
  snprintf(why, sizeof why, "too many servers (at most %d)", LB_MAX_SERVERS);
  expect_error(t, 4 + 1 + LB_MAX_SERVERS, why);
  snprintf(t, sizeof t, BASE);
  for (int i = 0; i < 16; i++)
    snprintf(t + strlen(t), sizeof t - strlen(t), "[pool p%d]\nbackend = s=127.0.0.1:%d\n", i, 11000 + i);
  /* pools[0] is the default pool: the 16th [pool] section is one too many (found at its
   * first line inside it) */
  expect_error(t, 4 + 2 * 15 + 1, "too many pools (at most 16)");
  snprintf(t, sizeof t, BASE "[pool p]\nbackend = s=127.0.0.1:12000\n");
  for (int i = 0; i < 33; i++)
    snprintf(t + strlen(t), sizeof t - strlen(t), "route = /r%d/\n", i);
  expect_error(t, 6 + 32, "too many routes (at most 32)");
}

static void hash_keys(void **state) {
  expect_error(BASE "algorithm = hash\nhash-key = ip\n", 5,
               "hash-key 'ip': expected client-ip, header:NAME, cookie:NAME or path");
  expect_error(BASE "algorithm = hash\nhash-key = header:\n", 5, "the name after ':'");
  expect_error(BASE "[pool p]\nbackend = c1=127.0.0.1:9101\nalgorithm = hash\n"
               "hash-key = cookie:a b\n", 7, "hash-key 'cookie:a b'");
  /* found once the whole file is read: the line where hash-key was written */
  expect_error(BASE "[pool p]\nbackend = c1=127.0.0.1:9101\nhash-key = path\nroute = /p/\n", 6,
               "hash-key = path is set for pool p, which does not use algorithm = hash");
  expect_error(BASE "hash-key = header:X-User\n", 4,
               "is set for every pool, which does not use algorithm = hash");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lb_section_values),
      cmocka_unit_test(listeners_and_certs),
      cmocka_unit_test(backends_pools_routes),
      cmocka_unit_test(hash_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
