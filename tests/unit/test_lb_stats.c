/* Stats: histogram buckets and quantiles, /stats JSON and /metrics Prometheus formatting,
 * /healthz decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/core/stats.h"

static void histogram_buckets_and_quantiles(void **state) {
  (void)state;
  static lb_hist h; /* zeroed atomics */
  lb_hist_observe(&h, 100);     /* <= 0.5 ms */
  lb_hist_observe(&h, 500);     /* bound itself: same bucket */
  lb_hist_observe(&h, 501);     /* <= 1 ms */
  lb_hist_observe(&h, 7000);    /* <= 10 ms */
  lb_hist_observe(&h, 60000000); /* beyond 10 s: +Inf */
  lb_hist_snap s;
  lb_hist_snapshot(&h, &s);
  assert_int_equal(s.bucket[0], 2);
  assert_int_equal(s.bucket[1], 1);
  assert_int_equal(s.bucket[4], 1);
  assert_int_equal(s.bucket[LB_HIST_BUCKETS], 1);
  assert_int_equal(lb_hist_count(&s), 5);
  assert_int_equal(s.sum_us, 100 + 500 + 501 + 7000 + 60000000ull);
  /* rank 2.5 of 5 falls half-way into the (0.5 ms, 1 ms] bucket */
  assert_int_equal(lb_hist_quantile_us(&s, 0.5), 750);
  assert_int_equal(lb_hist_quantile_us(&s, 0.2), 250);
  assert_int_equal(lb_hist_quantile_us(&s, 1.0), 10000000); /* +Inf reported as the last bound */
  lb_hist_snap empty;
  memset(&empty, 0, sizeof empty);
  assert_int_equal(lb_hist_quantile_us(&empty, 0.99), 0);
}

static lb_stats_server servers[2];
static lb_stats_pool pools[1];
static lb_stats_listener listeners[1];

static lb_stats sample(void) {
  memset(servers, 0, sizeof servers);
  servers[0] = (lb_stats_server){.name = "b1", .address = "127.0.0.1:9001", .state = "UP",
                                 .health = "up", .last_check = "status 200",
                                 .last_check_us = 1234, .source = "static", .weight = 2,
                                 .requests = 7, .active = 1};
  servers[0].status[200 - LB_STATUS_MIN] = 6;
  servers[0].status[503 - LB_STATUS_MIN] = 1;
  servers[0].request.bucket[0] = 5;
  servers[0].request.bucket[3] = 2;
  servers[0].request.sum_us = 9000;
  servers[0].connect.bucket[0] = 1;
  servers[0].connect.sum_us = 120;
  servers[1] = (lb_stats_server){.name = "we\"ird\\name", .address = "127.0.0.1:9002",
                                 .state = "DOWN", .health = "down",
                                 .last_check = "connection refused", .source = "dns",
                                 .weight = 1, .failures = 3, .ejected = 1, .ejections = 2};
  pools[0] = (lb_stats_pool){.name = "default", .algorithm = "round-robin",
                             .check = "GET /health 200-399", .nservers = 2, .servers = servers,
                             .no_server = 4};
  listeners[0] = (lb_stats_listener){.address = "https://127.0.0.1:8443", .connections = 10,
                                     .tls_handshakes = 9};
  return (lb_stats){.version = "0.1.0", .draining = 0, .uptime_s = 12, .connections_active = 3,
                    .nlisteners = 1, .listeners = listeners, .npools = 1, .pools = pools};
}

static void json_has_every_server_field(void **state) {
  (void)state;
  lb_stats s = sample();
  jc_buf b;
  jc_buf_init(&b, 1 << 20);
  assert_int_equal(lb_stats_json(&s, &b), 0);
  assert_int_equal(jc_buf_append(&b, "", 1), 0);
  const char *j = jc_buf_peek(&b);
  assert_non_null(strstr(j, "{\"name\":\"b1\",\"address\":\"127.0.0.1:9001\",\"state\":\"UP\","
                            "\"health\":\"up\",\"source\":\"static\",\"weight\":2,\"active\":1,"
                            "\"requests\":7,"));
  assert_non_null(strstr(j, "\"last_check\":{\"result\":\"status 200\",\"duration_ms\":1.234}"));
  assert_non_null(strstr(j, "\"responses\":{\"200\":6,\"503\":1}"));
  assert_non_null(strstr(j, "\"latency_ms\":{\"count\":7,\"p50\":"));
  assert_non_null(strstr(j, "\"name\":\"we\\\"ird\\\\name\"")); /* escaped */
  assert_non_null(strstr(j, "\"state\":\"DOWN\""));
  assert_non_null(strstr(j, "\"ejected\":true,\"ejections\":2"));
  assert_non_null(strstr(j, "\"no_server\":4"));
  assert_null(strstr(j, "hash_key")); /* round-robin: no key */
  assert_non_null(strstr(j, "\"draining\":false"));
  assert_non_null(strstr(j, "{\"address\":\"https://127.0.0.1:8443\",\"connections\":10,"
                            "\"tls_handshakes\":9}"));
  /* balanced brackets outside strings */
  int depth = 0, in_str = 0;
  for (const char *p = j; *p; p++) {
    if (in_str) {
      if (*p == '\\')
        p++;
      else if (*p == '"')
        in_str = 0;
      continue;
    }
    if (*p == '"')
      in_str = 1;
    else if (*p == '{' || *p == '[')
      depth++;
    else if (*p == '}' || *p == ']')
      assert_true(--depth >= 0);
  }
  assert_int_equal(depth, 0);
  assert_false(in_str);
  jc_buf_free(&b);
  /* a hash pool names its key next to the algorithm */
  s.pools[0].algorithm = "hash";
  s.pools[0].hash_key = "cookie:session";
  jc_buf_init(&b, 1 << 20);
  assert_int_equal(lb_stats_json(&s, &b), 0);
  assert_int_equal(jc_buf_append(&b, "", 1), 0);
  assert_non_null(strstr(jc_buf_peek(&b), "\"algorithm\":\"hash\",\"hash_key\":\"cookie:session\","));
  jc_buf_free(&b);
}

/* A strict reading of the text format: every sample's family was declared by # TYPE before it,
 * names and labels are well-formed, values are numbers, no family is declared twice. */
static void check_exposition(const char *text) {
  char families[64][96];
  int nf = 0;
  char current[96] = "";
  const char *line = text;
  while (*line) {
    const char *end = strchr(line, '\n');
    assert_non_null(end); /* every line ends with \n */
    char l[1024];
    size_t n = (size_t)(end - line);
    assert_true(n < sizeof l);
    memcpy(l, line, n);
    l[n] = 0;
    line = end + 1;
    if (!strncmp(l, "# HELP ", 7))
      continue;
    if (!strncmp(l, "# TYPE ", 7)) {
      char name[96], type[32];
      assert_int_equal(sscanf(l + 7, "%95s %31s", name, type), 2);
      assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
                  !strcmp(type, "histogram"));
      for (int i = 0; i < nf; i++)
        assert_string_not_equal(families[i], name);
      snprintf(families[nf++], sizeof families[0], "%s", name);
      snprintf(current, sizeof current, "%s", name);
      continue;
    }
    assert_true(l[0] != '#' && l[0] != 0);
    /* metric name */
    char *p = l;
    assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
    while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
      p++;
    size_t nl = (size_t)(p - l);
    assert_true(nl >= strlen(current) && !strncmp(l, current, strlen(current)));
    const char *suffix = l + strlen(current);
    assert_true(suffix == p || !strncmp(suffix, "_bucket", 7) || !strncmp(suffix, "_sum", 4) ||
                !strncmp(suffix, "_count", 6));
    if (*p == '{') {
      p++;
      while (*p != '}') {
        assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        while ((*p >= 'a' && *p <= 'z') || *p == '_')
          p++;
        assert_int_equal(*p++, '=');
        assert_int_equal(*p++, '"');
        while (*p != '"') {
          assert_true(*p != 0 && *p != '\n');
          if (*p == '\\') {
            p++;
            assert_true(*p == '\\' || *p == '"' || *p == 'n');
          }
          p++;
        }
        p++;
        if (*p == ',')
          p++;
        else
          assert_int_equal(*p, '}');
      }
      p++;
    }
    assert_int_equal(*p++, ' ');
    char *num_end;
    strtod(p, &num_end);
    assert_true(num_end != p && *num_end == 0);
  }
}

static void prometheus_output_is_well_formed(void **state) {
  (void)state;
  lb_stats s = sample();
  jc_buf b;
  jc_buf_init(&b, 1 << 20);
  assert_int_equal(lb_stats_prometheus(&s, &b), 0);
  assert_int_equal(jc_buf_append(&b, "", 1), 0);
  const char *t = jc_buf_peek(&b);
  check_exposition(t);
  assert_non_null(strstr(t, "# TYPE journey_backend_up gauge\n"));
  assert_non_null(strstr(t, "journey_backend_up{pool=\"default\",server=\"b1\"} 1\n"));
  assert_non_null(strstr(t, "journey_backend_up{pool=\"default\",server=\"we\\\"ird\\\\name\"} 0\n"));
  assert_non_null(strstr(t, "journey_requests_total{pool=\"default\",server=\"b1\",code=\"200\"} 6\n"));
  assert_non_null(strstr(t, "journey_requests_total{pool=\"default\",server=\"b1\",code=\"503\"} 1\n"));
  /* cumulative buckets, +Inf == _count, sum in seconds */
  assert_non_null(strstr(t, "journey_request_duration_seconds_bucket{pool=\"default\",server=\"b1\",le=\"0.0005\"} 5\n"));
  assert_non_null(strstr(t, "journey_request_duration_seconds_bucket{pool=\"default\",server=\"b1\",le=\"0.001\"} 5\n"));
  assert_non_null(strstr(t, "journey_request_duration_seconds_bucket{pool=\"default\",server=\"b1\",le=\"0.005\"} 7\n"));
  assert_non_null(strstr(t, "journey_request_duration_seconds_bucket{pool=\"default\",server=\"b1\",le=\"+Inf\"} 7\n"));
  assert_non_null(strstr(t, "journey_request_duration_seconds_count{pool=\"default\",server=\"b1\"} 7\n"));
  assert_non_null(strstr(t, "journey_request_duration_seconds_sum{pool=\"default\",server=\"b1\"} 0.009000\n"));
  assert_non_null(strstr(t, "# TYPE journey_backend_connect_seconds histogram\n"));
  assert_non_null(strstr(t, "journey_backend_check_duration_seconds{pool=\"default\",server=\"b1\"} 0.001234\n"));
  assert_non_null(strstr(t, "journey_pool_no_server_total{pool=\"default\"} 4\n"));
  assert_non_null(strstr(t, "journey_listener_tls_handshakes_total{listener=\"https://127.0.0.1:8443\"} 9\n"));
  assert_non_null(strstr(t, "journey_backend_ejections_total{pool=\"default\",server=\"we\\\"ird\\\\name\"} 2\n"));
  jc_buf_free(&b);
}

static void output_limit_is_reported(void **state) {
  (void)state;
  lb_stats s = sample();
  jc_buf b;
  jc_buf_init(&b, 256);
  assert_int_equal(lb_stats_prometheus(&s, &b), -1);
  jc_buf_free(&b);
  jc_buf_init(&b, 256);
  assert_int_equal(lb_stats_json(&s, &b), -1);
  jc_buf_free(&b);
}

static void healthz_and_probe_source(void **state) {
  (void)state;
  const char *why;
  assert_int_equal(lb_admin_healthz(0, 1, &why), 200);
  assert_string_equal(why, "ok");
  assert_int_equal(lb_admin_healthz(0, 0, &why), 503);
  assert_non_null(strstr(why, "no backend"));
  assert_int_equal(lb_admin_healthz(1, 3, &why), 503);
  assert_non_null(strstr(why, "draining"));
  assert_true(lb_admin_is_azure_probe("168.63.129.16"));
  assert_false(lb_admin_is_azure_probe("168.63.129.1"));
  assert_false(lb_admin_is_azure_probe("127.0.0.1"));
  assert_false(lb_admin_is_azure_probe(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(histogram_buckets_and_quantiles),
      cmocka_unit_test(json_has_every_server_field),
      cmocka_unit_test(prometheus_output_is_well_formed),
      cmocka_unit_test(output_limit_is_reported),
      cmocka_unit_test(healthz_and_probe_source),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
