/* client/report.c, stats.c, lb_info.c, exit_code.c: formatting (human and JSON), percentiles,
 * Server-Timing parsing and the exit-code mapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/exit_code.h"
#include "client/lb_info.h"
#include "client/report.h"
#include "client/stats.h"

static jn_result *sample(void) {
  jn_result *r = calloc(1, sizeof *r);
  char err[128];
  jn_url_parse("https://www.my-app.com/my-app/data", &r->url, err, sizeof err);
  strcpy(r->method, "GET");
  strcpy(r->request, "GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\n\r\n");
  r->request_len = strlen(r->request);
  r->url_us = 10;
  r->dns_us = 1000;
  strcpy(r->dns_source, "server");
  strcpy(r->dns_server, "192.0.2.53:53/udp");
  r->dns_step_n = 1;
  strcpy(r->dns_steps[0].source, "server");
  strcpy(r->dns_steps[0].result, "hit");
  strcpy(r->dns_steps[0].detail, "192.0.2.53:53/udp: 1 A record");
  r->answer_n = 1;
  r->answers[0] = (jn_dns_answer){4, "203.0.113.67", 300};
  r->route_us = 90;
  r->route_ok = 1;
  strcpy(r->route_type, "unicast");
  strcpy(r->oif, "wlan0");
  strcpy(r->gateway, "192.168.1.1");
  strcpy(r->prefsrc, "192.168.1.100");
  strcpy(r->nexthop, "192.168.1.1");
  r->neigh_checked = 1;
  r->neigh_hit = 1;
  strcpy(r->neigh_state_before, "REACHABLE");
  strcpy(r->neigh_state, "REACHABLE");
  strcpy(r->neigh_mac, "aa:bb:cc:dd:ee:ff");
  r->ip_ttl = 64;
  r->src_private = 1;
  strcpy(r->nat_note, "source 192.168.1.100 is private: NAT");
  r->tcp_us = 900;
  strcpy(r->local, "192.168.1.100:50000");
  strcpy(r->remote, "203.0.113.67:443");
  r->attempt_n = 1;
  strcpy(r->attempts[0].addr, "203.0.113.67:443");
  strcpy(r->attempts[0].result, "connected");
  r->tls_used = 1;
  r->tls_us = 2000;
  strcpy(r->tls_version, "TLSv1.3");
  strcpy(r->cipher, "TLS_AES_128_GCM_SHA256");
  strcpy(r->cert_subject, "/CN=www.my-app.com");
  strcpy(r->cert_issuer, "/CN=dev CA");
  strcpy(r->cert_sans, "DNS:www.my-app.com, IP:127.0.0.1");
  r->verified = 1;
  strcpy(r->verify_result, "ok");
  r->status = 200;
  strcpy(r->reason, "OK");
  strcpy(r->http_version, "1.1");
  strcpy(r->resp_headers, "Content-Type: application/json\nX-Served-By: b2\n");
  r->body_bytes = 42;
  strcpy(r->transfer_mode, "content-length");
  jn_lb_parse_server_timing(&r->lb, "total;dur=1.5", 13);
  strcpy(r->lb.served_by, "b2");
  strcpy(r->lb.request_id, "rid-1\"x");
  r->t_namelookup = 1010;
  r->t_connect = 2000;
  r->t_appconnect = 4000;
  r->t_pretransfer = 4010;
  r->t_starttransfer = 6010;
  r->t_total = 6020;
  r->server_us = 2000;
  r->transfer_us = 10;
  r->http_us = 2010;
  return r;
}

static char *render(const jn_result *r, int json, jn_stats *s) {
  char *out = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&out, &n);
  jn_report_opts o = {.color = 0, .verbose = 1, .width = 40};
  if (json)
    jn_report_json(f, r, s, s ? 3 : 1, 1, NULL);
  else
    jn_report_human(f, r, &o);
  fclose(f);
  return out;
}

static void human_all_phases(void **state) {
  jn_result *r = sample();
  char *out = render(r, 0, NULL);
  const char *want[] = {"1 URL", "2 DNS", "3 route", "4 TCP", "5 TLS", "6 HTTP", "7 LB",
                        "203.0.113.67", "via gateway 192.168.1.1 dev wlan0", "ARP/ND cache hit", "TTL 64",
                        "TLSv1.3", "served by b2", "time_namelookup     0.001010s", "time_total          0.006020s",
                        "> Host: www.my-app.com", "< X-Served-By: b2", "NAT"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(out, want[i]))
      fail_msg("missing \"%s\" in:\n%s", want[i], out);
  assert_null(strstr(out, "\033[")); /* no colour when not asked */
  free(out);
  free(r);
}

static void human_failure_stops_at_phase(void **state) {
  jn_result *r = sample();
  r->exit_code = JN_EXIT_CERT;
  strcpy(r->failed_phase, "tls");
  strcpy(r->error, "server certificate not trusted");
  char *out = render(r, 0, NULL);
  assert_non_null(strstr(out, "5 TLS"));
  assert_null(strstr(out, "6 HTTP"));
  assert_non_null(strstr(out, "exit 60"));
  assert_non_null(strstr(out, "--cacert"));
  free(out);
  free(r);
}

static void colour_rules(void **state) {
  assert_true(jn_report_use_color(1, NULL));
  assert_true(jn_report_use_color(1, ""));
  assert_false(jn_report_use_color(1, "1"));
  assert_false(jn_report_use_color(0, NULL));
}

static void waterfall_scaled(void **state) {
  jn_result *r = sample();
  char buf[2048];
  jn_report_waterfall(buf, sizeof buf, r, 40);
  /* tls is 2000/6020 of 40 columns = 13 marks; transfer rounds to at least 1 */
  const char *tls = strstr(buf, "tls");
  assert_non_null(tls);
  int marks = 0;
  for (const char *p = tls; *p && *p != '\n'; p++)
    marks += *p == '#';
  assert_int_equal(marks, 13);
  const char *tr = strstr(buf, "transfer");
  assert_non_null(strchr(tr, '#'));
  free(r);
}

static int count(const char *s, char c) {
  int n = 0;
  for (; *s; s++)
    n += *s == c;
  return n;
}

static void json_keys(void **state) {
  jn_result *r = sample();
  char *out = render(r, 1, NULL);
  const char *want[] = {"\"phases\":{\"url\":{\"duration_us\":10", "\"dns\":{\"duration_us\":1000",
                        "\"route\":{", "\"tcp\":{", "\"tls\":{", "\"http\":{", "\"lb\":{\"duration_us\":1500",
                        "\"time_namelookup\":0.001010", "\"time_connect\":0.002000", "\"time_appconnect\":0.004000",
                        "\"time_pretransfer\":0.004010", "\"time_starttransfer\":0.006010", "\"time_total\":0.006020",
                        "\"http_code\":200", "\"served_by\":\"b2\"", "\"request_id\":\"rid-1\\\"x\"", "\"exit_code\":0",
                        "\"request\":\"GET /my-app/data HTTP/1.1\\r\\nHost", "\"sans\":[\"DNS:www.my-app.com\",\"IP:127.0.0.1\"]",
                        "[\"X-Served-By\",\"b2\"]"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(out, want[i]))
      fail_msg("missing %s in:\n%s", want[i], out);
  assert_null(strstr(out, "\"runs\""));
  assert_int_equal(count(out, '{'), count(out, '}'));
  assert_int_equal(count(out, '['), count(out, ']'));
  assert_int_equal(out[strlen(out) - 1], '\n');
  free(out);
  free(r);
}

static void json_runs_and_stats(void **state) {
  jn_stats s;
  assert_int_equal(jn_stats_init(&s, 3), 0);
  const char *by[] = {"b1", "b2", "b1"};
  for (int i = 0; i < 3; i++) {
    jn_result *r = sample();
    strcpy(r->lb.served_by, by[i]);
    r->t_total = (uint64_t)(i + 1) * 1000;
    jn_stats_add(&s, r);
    free(r);
  }
  jn_result *f = sample();
  f->exit_code = JN_EXIT_CONNECT;
  jn_stats_add(&s, f);
  assert_int_equal(s.n, 3);
  assert_int_equal(s.failed, 1);
  jn_summary m;
  jn_stats_summary(&s, JN_ST_TOTAL, &m);
  assert_int_equal(m.min, 1000);
  assert_int_equal(m.p50, 2000);
  assert_int_equal(m.max, 3000);
  char *out = render(f, 1, &s);
  assert_non_null(strstr(out, "\"backends\":{\"b1\":2,\"b2\":1}"));
  assert_non_null(strstr(out, "\"runs\":{\"requests\":3"));
  assert_non_null(strstr(out, "\"total\":{\"min_us\":1000,\"p50_us\":2000"));
  free(out);
  free(f);
  jn_stats_free(&s);
}

static void percentiles(void **state) {
  uint64_t v[100];
  for (int i = 0; i < 100; i++)
    v[i] = (uint64_t)i + 1;
  assert_int_equal(jn_percentile(v, 100, 50), 50);
  assert_int_equal(jn_percentile(v, 100, 90), 90);
  assert_int_equal(jn_percentile(v, 100, 99), 99);
  assert_int_equal(jn_percentile(v, 100, 100), 100);
  assert_int_equal(jn_percentile(v, 100, 0), 1);
  assert_int_equal(jn_percentile(v, 1, 99), 1);
  assert_int_equal(jn_percentile(v, 0, 50), 0);
  uint64_t w[] = {10, 20, 30, 40};
  assert_int_equal(jn_percentile(w, 4, 50), 20);
  assert_int_equal(jn_percentile(w, 4, 75), 30);
  assert_int_equal(jn_percentile(w, 4, 76), 40);
}

static void server_timing(void **state) {
  jn_lb_info lb;
  memset(&lb, 0, sizeof lb);
  const char *v = "tls;dur=0.25, queue;dur=0.010,connect;desc=\"pool, warm\";dur=1, backend;dur=3.5, "
                  "total;dur=5.125, cache, bad;dur=abc";
  assert_int_equal(jn_lb_parse_server_timing(&lb, v, strlen(v)), 6);
  assert_string_equal(lb.timing[0].name, "tls");
  assert_int_equal(lb.timing[0].dur_us, 250);
  assert_int_equal(lb.timing[1].dur_us, 10);
  assert_string_equal(lb.timing[2].desc, "pool, warm");
  assert_int_equal(lb.timing[2].dur_us, 1000);
  assert_int_equal(jn_lb_find(&lb, "backend")->dur_us, 3500);
  assert_false(jn_lb_find(&lb, "cache")->has_dur);
  assert_null(jn_lb_find(&lb, "bad"));
  assert_int_equal(jn_lb_total_us(&lb), 5125);
  /* without "total": the sum */
  jn_lb_info lb2;
  memset(&lb2, 0, sizeof lb2);
  jn_lb_header(&lb2, "server-timing", 13, "a;dur=1,b;dur=2", 15);
  assert_int_equal(jn_lb_total_us(&lb2), 3000);
  assert_true(jn_lb_header(&lb2, "X-Served-By", 11, " b3 ", 4));
  assert_string_equal(lb2.served_by, "b3");
  assert_true(jn_lb_header(&lb2, "x-request-id", 12, "abc", 3));
  assert_string_equal(lb2.request_id, "abc");
  assert_false(jn_lb_header(&lb2, "Content-Type", 12, "x", 1));
}

static void exit_codes(void **state) {
  assert_int_equal(jn_exit_for_connect(ECONNREFUSED, 0), 7);
  assert_int_equal(jn_exit_for_connect(ETIMEDOUT, 0), 28);
  assert_int_equal(jn_exit_for_connect(0, 1), 28);
  assert_int_equal(jn_exit_for_tls(0), 35);
  assert_int_equal(jn_exit_for_tls(20 /* X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY */), 60);
  assert_int_equal(jn_exit_for_http(404, 1), 22);
  assert_int_equal(jn_exit_for_http(404, 0), 0);
  assert_int_equal(jn_exit_for_http(399, 1), 0);
  assert_string_equal(jn_exit_name(6), "dns");
  assert_string_equal(jn_exit_name(60), "certificate");
  assert_true(strlen(jn_exit_hint(7)) > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(human_all_phases), cmocka_unit_test(human_failure_stops_at_phase),
      cmocka_unit_test(colour_rules),     cmocka_unit_test(waterfall_scaled),
      cmocka_unit_test(json_keys),        cmocka_unit_test(json_runs_and_stats),
      cmocka_unit_test(percentiles),      cmocka_unit_test(server_timing),
      cmocka_unit_test(exit_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
