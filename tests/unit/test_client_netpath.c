/* client/netpath.c: neighbour states, the NAT note, and a real netlink route query for loopback
 * (RTM_GETROUTE answers "local" on lo on every Linux machine). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/neighbour.h>

#include "common/addr.h"
#include "client/netpath.h"

static void nud_names(void **state) {
  char b[64];
  assert_string_equal(jn_netpath_nud_name(NUD_REACHABLE, b, sizeof b), "REACHABLE");
  assert_string_equal(jn_netpath_nud_name(NUD_STALE, b, sizeof b), "STALE");
  assert_string_equal(jn_netpath_nud_name(NUD_INCOMPLETE, b, sizeof b), "INCOMPLETE");
  assert_string_equal(jn_netpath_nud_name(0, b, sizeof b), "NONE");
  assert_string_equal(jn_netpath_nud_name(NUD_REACHABLE | NUD_PERMANENT, b, sizeof b), "REACHABLE|PERMANENT");
  assert_true(jn_netpath_nud_usable(NUD_REACHABLE));
  assert_true(jn_netpath_nud_usable(NUD_STALE));
  assert_true(jn_netpath_nud_usable(NUD_PERMANENT));
  assert_false(jn_netpath_nud_usable(NUD_INCOMPLETE));
  assert_false(jn_netpath_nud_usable(NUD_FAILED));
  assert_false(jn_netpath_nud_usable(0));
}

static void nat_notes(void **state) {
  struct sockaddr_storage s, d;
  socklen_t l;
  char note[160];
  jc_ip_parse("192.168.1.100", 50000, &s, &l);
  jc_ip_parse("203.0.113.67", 443, &d, &l);
  jn_netpath_nat_note((struct sockaddr *)&s, (struct sockaddr *)&d, note, sizeof note);
  assert_non_null(strstr(note, "192.168.1.100 is private"));
  assert_non_null(strstr(note, "NAT"));
  jc_ip_parse("10.0.0.2", 443, &d, &l);
  jn_netpath_nat_note((struct sockaddr *)&s, (struct sockaddr *)&d, note, sizeof note);
  assert_non_null(strstr(note, "no NAT expected"));
  jc_ip_parse("127.0.0.1", 1, &s, &l);
  jc_ip_parse("127.0.0.1", 2, &d, &l);
  jn_netpath_nat_note((struct sockaddr *)&s, (struct sockaddr *)&d, note, sizeof note);
  assert_string_equal(note, "");
}

static void loopback_route(void **state) {
  struct sockaddr_storage d;
  socklen_t l;
  jn_result *r = calloc(1, sizeof *r);
  jc_ip_parse("127.0.0.1", 443, &d, &l);
  jn_netpath_before(r, (struct sockaddr *)&d);
  assert_true(r->route_ok);
  assert_true(r->loopback);
  assert_string_equal(r->route_type, "local");
  assert_string_equal(r->oif, "lo");
  assert_false(r->neigh_checked);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(nud_names), cmocka_unit_test(nat_notes),
                                     cmocka_unit_test(loopback_route)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
