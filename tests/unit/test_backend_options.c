/* journey-backend flags (backend/options.c): the exact interface other scripts rely on, and a
 * clear error for each kind of bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <string.h>

#include "backend/options.h"
#include "common/log.h"

static int parse(be_options *o, char *err, size_t errlen, int argc, char **argv) {
  const char *what;
  be_options_defaults(o);
  return be_options_parse(o, argc, argv, &what, err, errlen);
}
#define PARSE(o, err, ...)                                                                         \
  parse((o), (err), sizeof(err), (int)(sizeof((char *[]){"journey-backend", __VA_ARGS__}) /         \
                                       sizeof(char *)),                                            \
        (char *[]){"journey-backend", __VA_ARGS__})

static void interface_from_the_issue(void **state) {
  be_options o;
  char err[256];
  assert_int_equal(PARSE(&o, err, "--listen", "127.0.0.1:9001", "--name", "b1", "--delay-ms", "50",
                         "--fail-rate", "0.1", "--admin"),
                   0);
  assert_int_equal(o.n_listen, 1);
  assert_string_equal(o.listen[0], "127.0.0.1:9001");
  const struct sockaddr_in *in = (const struct sockaddr_in *)&o.listen_addr[0];
  assert_int_equal(in->sin_family, AF_INET);
  assert_int_equal(ntohs(in->sin_port), 9001);
  assert_string_equal(o.name, "b1");
  assert_int_equal(o.delay_min_ms, 50);
  assert_int_equal(o.delay_max_ms, 50);
  assert_true(o.fail_rate > 0.099 && o.fail_rate < 0.101);
  assert_true(o.admin);
  assert_int_equal(PARSE(&o, err, "--listen=127.0.0.1:0", "--listen", "[::1]:0", "--name=b2",
                         "--delay-ms=20-80", "--workers", "2", "--log-format", "json",
                         "--no-access-log", "--start-down"),
                   0);
  assert_int_equal(o.n_listen, 2);
  assert_int_equal(o.listen_addr[1].ss_family, AF_INET6);
  assert_int_equal(ntohs(((const struct sockaddr_in6 *)&o.listen_addr[1])->sin6_port), 0);
  assert_int_equal(o.delay_min_ms, 20);
  assert_int_equal(o.delay_max_ms, 80);
  assert_int_equal(o.workers, 2);
  assert_int_equal(o.log_format, JC_LOG_JSON);
  assert_false(o.access_log);
  assert_true(o.start_down);
  assert_false(o.admin);
}

static void defaults(void **state) {
  be_options o;
  char err[256];
  assert_int_equal(PARSE(&o, err, "--listen", "127.0.0.1:1", "--name", "x"), 0);
  assert_int_equal(o.workers, 1);
  assert_true(o.access_log);
  assert_int_equal(o.max_header_bytes, 8192);
  assert_int_equal(o.max_body_bytes, 1024 * 1024);
  assert_int_equal(o.delay_max_ms, 0);
  assert_true(o.fail_rate == 0.0);
  assert_int_equal(o.ws_max_message_bytes, 16 * 1024 * 1024);
  assert_int_equal(o.ws_idle_timeout_ms, 3600000);
  assert_int_equal(PARSE(&o, err, "--listen", "127.0.0.1:1", "--name", "x",
                         "--ws-max-message-bytes", "125", "--ws-idle-timeout-ms=10"),
                   0);
  assert_int_equal(o.ws_max_message_bytes, 125);
  assert_int_equal(o.ws_idle_timeout_ms, 10);
}

static void help_and_version(void **state) {
  be_options o;
  const char *what;
  char err[64];
  char *a[] = {"journey-backend", "--help"};
  be_options_defaults(&o);
  assert_int_equal(be_options_parse(&o, 2, a, &what, err, sizeof err), 1);
  assert_string_equal(what, "help");
  char *b[] = {"journey-backend", "--version"};
  assert_int_equal(be_options_parse(&o, 2, b, &what, err, sizeof err), 1);
  assert_string_equal(what, "version");
}

/* Every flag the parser accepts is documented in --help. */
static void help_documents_every_flag(void **state) {
  char text[8192];
  FILE *f = fmemopen(text, sizeof text, "w");
  assert_non_null(f);
  be_options_usage(f);
  fclose(f);
  const char *flags[] = {"--listen",          "--name",           "--delay-ms",
                         "--fail-rate",       "--admin",          "--start-down",
                         "--workers",         "--log-format",     "--log-level",
                         "--no-access-log",   "--max-header-bytes", "--max-body-bytes",
                         "--idle-timeout-ms", "--request-timeout-ms", "--drain-timeout-ms",
                         "--ws-max-message-bytes", "--ws-idle-timeout-ms", "GET /ws",
                         "--help",            "--version",        "SIGUSR1",
                         "SIGUSR2",           "SIGTERM"};
  for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
    if (!strstr(text, flags[i]))
      fail_msg("--help does not mention %s", flags[i]);
}

static void bad_input(void **state) {
  const struct {
    char *flag, *value, *why;
  } cases[] = {
      {"--listen", "127.0.0.1", "missing port"},
      {"--listen", "localhost:80", "not a numeric"},
      {"--listen", "::1:80", "brackets"},
      {"--listen", "127.0.0.1:70000", "out of range"},
      {"--name", "b 1", "[A-Za-z0-9._:-]"},
      {"--name", "", "[A-Za-z0-9._:-]"},
      {"--delay-ms", "80-20", "MIN <= MAX"},
      {"--delay-ms", "-5", "MIN-MAX"},
      {"--delay-ms", "abc", "milliseconds"},
      {"--fail-rate", "1.5", "between 0 and 1"},
      {"--fail-rate", "nan", "between 0 and 1"},
      {"--workers", "0", "1..64"},
      {"--log-format", "xml", "logfmt or json"},
      {"--max-header-bytes", "10", "from 256"},
      {"--ws-max-message-bytes", "124", "from 125 to 1073741824"},
      {"--ws-idle-timeout-ms", "5", "from 10"},
      {"--bogus", "1", "unknown option"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    be_options o;
    char err[256] = "";
    int r;
    if (!strcmp(cases[i].flag, "--listen"))
      r = PARSE(&o, err, "--name", "b1", cases[i].flag, cases[i].value);
    else
      r = PARSE(&o, err, "--listen", "127.0.0.1:1", "--name", "b1", cases[i].flag, cases[i].value);
    if (r != -1 || !strstr(err, cases[i].why))
      fail_msg("%s %s: r=%d err='%s', want '%s'", cases[i].flag, cases[i].value, r, err,
               cases[i].why);
  }
  be_options o;
  char err[256];
  assert_int_equal(PARSE(&o, err, "--name", "b1"), -1);
  assert_non_null(strstr(err, "--listen ADDR:PORT is required"));
  assert_int_equal(PARSE(&o, err, "--listen", "127.0.0.1:1"), -1);
  assert_non_null(strstr(err, "--name NAME is required"));
  assert_int_equal(PARSE(&o, err, "--listen", "127.0.0.1:1", "--name", "b1", "--delay-ms"), -1);
  assert_non_null(strstr(err, "needs a value"));
  assert_int_equal(PARSE(&o, err, "--listen", "127.0.0.1:1", "--name", "b1", "--admin=yes"), -1);
  assert_non_null(strstr(err, "takes no value"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(interface_from_the_issue), cmocka_unit_test(defaults),
      cmocka_unit_test(help_and_version),         cmocka_unit_test(help_documents_every_flag),
      cmocka_unit_test(bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
