/* Health: the active-check state machine (rise/fall, flapping, initial state), passive ejection
 * timing with an injected clock, and the health/DNS settings of the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "lb/core/config.h"
#include "lb/core/health.h"

#define MS 1000ull /* the clock is in microseconds */

static lb_health_cfg cfg_rise_fall(int rise, int fall) {
  lb_health_cfg c;
  lb_health_cfg_defaults(&c);
  c.type = LB_CHECK_HTTP;
  c.rise = rise;
  c.fall = fall;
  return c;
}

/* Feeds a string of results ('+' ok, '-' fail) and returns the states after each as a string
 * of 'U' (up), 'D' (down), '?' (unknown), and the transitions count. */
static void run(lb_health_sm *h, const lb_health_cfg *c, const char *results, char *states,
                int *changes) {
  uint64_t now = 1000 * MS;
  *changes = 0;
  for (size_t i = 0; results[i]; i++) {
    now += 2000 * MS;
    *changes += lb_health_sm_record(h, c, results[i] == '+', now);
    states[i] = h->state == LB_HS_UP ? 'U' : h->state == LB_HS_DOWN ? 'D' : '?';
  }
  states[strlen(results)] = 0;
}

static void initial_state_is_unknown_then_first_check_decides(void **state) {
  (void)state;
  lb_health_cfg c = cfg_rise_fall(2, 3);
  lb_health_sm h;
  lb_health_sm_init(&h, 0);
  assert_int_equal(h.state, LB_HS_UNKNOWN);
  assert_string_equal(lb_health_state_name(h.state), "unknown");
  assert_true(lb_health_sm_changing(&h)); /* fast interval until the first result */
  assert_int_equal(lb_health_sm_record(&h, &c, 1, 5), 1);
  assert_int_equal(h.state, LB_HS_UP);
  assert_int_equal(h.since_us, 5);

  lb_health_sm_init(&h, 0);
  assert_int_equal(lb_health_sm_record(&h, &c, 0, 7), 1);
  assert_int_equal(h.state, LB_HS_DOWN); /* a server that fails its first check gets nothing */
}

static void rise_and_fall_sequences(void **state) {
  (void)state;
  lb_health_cfg c = cfg_rise_fall(2, 3);
  lb_health_sm h;
  char st[64];
  int changes;
  lb_health_sm_init(&h, 0);
  /* up; three failures take it down on the third; two successes bring it back on the second */
  run(&h, &c, "+---++", st, &changes);
  assert_string_equal(st, "UUUDDU");
  assert_int_equal(changes, 3);
  assert_int_equal(h.transitions, 3);

  /* a failure streak broken before `fall` does not count */
  lb_health_sm_init(&h, 0);
  run(&h, &c, "+--+--+", st, &changes);
  assert_string_equal(st, "UUUUUUU");
  assert_int_equal(changes, 1);

  /* rise 1 / fall 1: every result is the state */
  c = cfg_rise_fall(1, 1);
  lb_health_sm_init(&h, 0);
  run(&h, &c, "+-+-", st, &changes);
  assert_string_equal(st, "UDUD");
  assert_int_equal(changes, 4);
}

static void flapping_server_keeps_its_state(void **state) {
  (void)state;
  lb_health_cfg c = cfg_rise_fall(2, 3);
  lb_health_sm h;
  char st[64];
  int changes;
  lb_health_sm_init(&h, 0);
  run(&h, &c, "+-+-+-+-+-+-+-", st, &changes);
  assert_string_equal(st, "UUUUUUUUUUUUUU");
  assert_int_equal(changes, 1);
  lb_health_sm_init(&h, 0);
  run(&h, &c, "-+-+-+-+-+-+-+", st, &changes);
  assert_string_equal(st, "DDDDDDDDDDDDDD");
  assert_int_equal(changes, 1);
  /* only two successes in a row bring it up */
  run(&h, &c, "-++", st, &changes);
  assert_string_equal(st, "DDU");
}

static void fast_interval_while_changing(void **state) {
  (void)state;
  lb_health_cfg c = cfg_rise_fall(2, 3);
  c.interval_ms = 2000;
  c.fast_interval_ms = 500;
  lb_health_sm h;
  lb_health_sm_init(&h, 0);
  assert_int_equal(lb_health_sm_next_ms(&h, &c), 500); /* unknown */
  lb_health_sm_record(&h, &c, 1, 1);
  assert_int_equal(lb_health_sm_next_ms(&h, &c), 2000); /* steady UP */
  lb_health_sm_record(&h, &c, 0, 2);
  assert_int_equal(lb_health_sm_next_ms(&h, &c), 500); /* may be going down */
  lb_health_sm_record(&h, &c, 0, 3);
  lb_health_sm_record(&h, &c, 0, 4);
  assert_int_equal(h.state, LB_HS_DOWN);
  assert_int_equal(lb_health_sm_next_ms(&h, &c), 2000); /* steady DOWN */
  lb_health_sm_record(&h, &c, 1, 5);
  assert_int_equal(lb_health_sm_next_ms(&h, &c), 500); /* may be coming back */
  c.fast_interval_ms = 5000; /* never slower than the interval */
  assert_int_equal(lb_health_sm_next_ms(&h, &c), 2000);
}

static void ejection_time_grows_and_is_capped(void **state) {
  (void)state;
  lb_health_cfg c;
  lb_health_cfg_defaults(&c);
  c.outlier_base_ms = 30000;
  c.outlier_max_ms = 100000;
  assert_int_equal(lb_outlier_duration_ms(&c, 1), 30000);
  assert_int_equal(lb_outlier_duration_ms(&c, 2), 60000);
  assert_int_equal(lb_outlier_duration_ms(&c, 3), 90000);
  assert_int_equal(lb_outlier_duration_ms(&c, 4), 100000);
  assert_int_equal(lb_outlier_duration_ms(&c, 50), 100000);
}

static void ejection_timing_with_injected_clock(void **state) {
  (void)state;
  lb_health_cfg c;
  lb_health_cfg_defaults(&c);
  c.outlier_base_ms = 10000;
  c.outlier_max_ms = 300000;
  lb_outlier o;
  memset(&o, 0, sizeof o);
  uint64_t t = 1000000 * MS;
  assert_int_equal(lb_outlier_eject(&o, &c, t, 4, 0), 1);
  assert_true(lb_outlier_is_ejected(&o));
  assert_int_equal(o.ejected_until, t + 10000 * MS);
  assert_int_equal(lb_outlier_eject(&o, &c, t + 1, 4, 1), 0); /* already out */
  assert_int_equal(lb_outlier_tick(&o, &c, t + 9999 * MS), 0);
  assert_true(lb_outlier_is_ejected(&o));
  assert_int_equal(lb_outlier_tick(&o, &c, t + 10000 * MS), 1); /* back exactly at the end */
  assert_false(lb_outlier_is_ejected(&o));

  /* ejected again soon: twice as long */
  t += 12000 * MS;
  assert_int_equal(lb_outlier_eject(&o, &c, t, 4, 0), 1);
  assert_int_equal(o.ejections, 2);
  assert_int_equal(o.ejected_until, t + 20000 * MS);
  lb_outlier_tick(&o, &c, t + 20000 * MS);
  assert_false(lb_outlier_is_ejected(&o));

  /* a long healthy spell decays the multiplier: one step per base period */
  t += 20000 * MS;
  lb_outlier_tick(&o, &c, t + 10000 * MS);
  assert_int_equal(o.ejections, 1);
  lb_outlier_tick(&o, &c, t + 25000 * MS);
  assert_int_equal(o.ejections, 0);
  assert_int_equal(lb_outlier_eject(&o, &c, t + 30000 * MS, 4, 0), 1);
  assert_int_equal(o.ejected_until, t + 30000 * MS + 10000 * MS); /* base length again */
  assert_int_equal(o.total, 3);
}

static void ejection_share_of_the_pool(void **state) {
  (void)state;
  lb_health_cfg c;
  lb_health_cfg_defaults(&c);
  c.outlier_max_percent = 50;
  assert_false(lb_outlier_allowed(&c, 1, 0)); /* a lone server is never ejected */
  assert_true(lb_outlier_allowed(&c, 2, 0));
  assert_false(lb_outlier_allowed(&c, 2, 1)); /* never the whole pool */
  assert_true(lb_outlier_allowed(&c, 4, 1));  /* 2 of 4 = 50% */
  assert_false(lb_outlier_allowed(&c, 4, 2)); /* 3 of 4 > 50% */
  c.outlier_max_percent = 10;
  assert_true(lb_outlier_allowed(&c, 3, 0)); /* at least one may always go */
  assert_false(lb_outlier_allowed(&c, 3, 1));
  assert_true(lb_outlier_allowed(&c, 20, 1));
  assert_false(lb_outlier_allowed(&c, 20, 2));
  c.outlier_max_percent = 0;
  assert_false(lb_outlier_allowed(&c, 20, 0));
  lb_outlier o;
  memset(&o, 0, sizeof o);
  c.outlier_max_percent = 50;
  assert_int_equal(lb_outlier_eject(&o, &c, 1, 2, 1), 0);
  assert_false(lb_outlier_is_ejected(&o));
  assert_int_equal(o.ejections, 0);
}

static void health_settings_parse_and_merge(void **state) {
  (void)state;
  lb_health_cfg g, p;
  char why[300];
  lb_health_cfg_defaults(&g);
  lb_health_cfg_defaults(&p);
  assert_int_equal(g.type, LB_CHECK_NONE);
  assert_int_equal(lb_health_cfg_set(&g, "listen", "x", why, sizeof why), 1); /* not ours */
  assert_int_equal(lb_health_cfg_set(&g, "health-path", "/healthz", why, sizeof why), 0);
  assert_int_equal(g.type, LB_CHECK_HTTP); /* a health detail turns checks on */
  assert_int_equal(lb_health_cfg_set(&g, "health-interval", "2s", why, sizeof why), 0);
  assert_int_equal(g.interval_ms, 2000);
  assert_int_equal(lb_health_cfg_set(&g, "health-status", "200-204", why, sizeof why), 0);
  assert_int_equal(g.status_min, 200);
  assert_int_equal(g.status_max, 204);
  assert_int_equal(lb_health_cfg_set(&g, "health-status", "204-200", why, sizeof why), -1);
  assert_non_null(strstr(why, "health-status"));
  assert_int_equal(lb_health_cfg_set(&g, "health-rise", "0", why, sizeof why), -1);
  assert_int_equal(lb_health_cfg_set(&g, "health-path", "health", why, sizeof why), -1);
  assert_int_equal(lb_health_cfg_set(&g, "health-check", "icmp", why, sizeof why), -1);
  assert_non_null(strstr(why, "http, tcp or none"));
  assert_int_equal(lb_health_cfg_set(&g, "health-timeout", "soon", why, sizeof why), -1);
  assert_string_equal(g.path, "/healthz");

  /* the pool overrides its own fields only */
  assert_int_equal(lb_health_cfg_set(&p, "health-fall", "5", why, sizeof why), 0);
  assert_int_equal(lb_health_cfg_set(&p, "health-check", "tcp", why, sizeof why), 0);
  lb_health_cfg_merge(&p, &g);
  assert_int_equal(p.type, LB_CHECK_TCP);
  assert_int_equal(p.fall, 5);
  assert_int_equal(p.rise, 2);
  assert_string_equal(p.path, "/healthz");
  assert_int_equal(p.interval_ms, 2000);

  assert_int_equal(lb_health_cfg_set(&g, "health-timeout", "3s", why, sizeof why), 0);
  assert_int_equal(lb_health_cfg_check(&g, "default", why, sizeof why), -1);
  assert_non_null(strstr(why, "shorter than health-interval"));
  char d[200];
  lb_health_cfg_defaults(&g);
  lb_health_cfg_describe(&g, d, sizeof d);
  assert_string_equal(d, "off");

  /* nothing configured anywhere: TCP connect checks; only an explicit none turns them off */
  lb_health_cfg_defaults(&g);
  lb_health_cfg_defaults(&p);
  lb_health_cfg_merge(&p, &g);
  assert_int_equal(p.type, LB_CHECK_TCP);
  assert_true(lb_health_cfg_is_default(&p));
  lb_health_cfg_describe(&p, d, sizeof d);
  assert_string_equal(d, "tcp-connect every 2000ms timeout 1000ms rise 2 fall 3");
  assert_int_equal(lb_health_cfg_set(&g, "health-check", "none", why, sizeof why), 0);
  lb_health_cfg_defaults(&p);
  lb_health_cfg_merge(&p, &g);
  assert_int_equal(p.type, LB_CHECK_NONE);
  lb_health_cfg_defaults(&g);
  lb_health_cfg_defaults(&p);
  assert_int_equal(lb_health_cfg_set(&p, "health-path", "/health", why, sizeof why), 0);
  lb_health_cfg_merge(&p, &g);
  assert_int_equal(p.type, LB_CHECK_HTTP);
  assert_false(lb_health_cfg_is_default(&p));
}

static void config_keys_and_dns_backends(void **state) {
  (void)state;
  static lb_config c;
  char err[1200];
  lb_config_defaults(&c);
  assert_int_equal(lb_config_set(&c, "", "listen", "http://127.0.0.1:8080", "--listen", err,
                                 sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "", "health-path", "/health", "--health-path", err, sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "", "health-interval", "1s", "--health-interval", err,
                                 sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "", "health-timeout", "250ms", "--health-timeout", err,
                                 sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "", "backend-dns", "backend:8080", "--backend-dns", err,
                                 sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "", "dns-servers", "127.0.0.1:5353", "--dns-servers", err,
                                 sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "pool api", "backend", "api.internal:9000", "f:3", err,
                                 sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "pool api", "health-rise", "4", "f:4", err, sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "pool api", "route", "/api/", "f:5", err, sizeof err), 0);
  assert_int_equal(lb_config_set(&c, "", "health-rise", "many", "--health-rise", err, sizeof err), -1);
  assert_non_null(strstr(err, "--health-rise"));
  assert_int_equal(lb_config_set(&c, "", "backend-dns", "backend", "--backend-dns", err, sizeof err), -1);
  assert_int_equal(lb_config_set(&c, "", "admin", "localhost:9000", "--admin", err, sizeof err), 0);
  assert_int_equal(lb_config_finish(&c, err, sizeof err), -1); /* admin must be numeric */
  assert_non_null(strstr(err, "admin"));
  assert_int_equal(lb_config_set(&c, "", "admin", "127.0.0.1:9000", "--admin", err, sizeof err), 0);
  assert_int_equal(lb_config_finish(&c, err, sizeof err), 0);
  assert_string_equal(c.pools[0].dns_host, "backend");
  assert_int_equal(c.pools[0].dns_port, 8080);
  assert_int_equal(c.pools[0].nservers, 0);
  assert_int_equal(c.pools[0].health.type, LB_CHECK_HTTP);
  assert_int_equal(c.pools[0].health.interval_ms, 1000);
  assert_int_equal(c.pools[1].health.rise, 4);             /* the pool's own */
  assert_int_equal(c.pools[1].health.timeout_ms, 250);     /* inherited */
  assert_string_equal(c.pools[1].dns_host, "api.internal");
  assert_int_equal(c.drain_delay, 5000); /* admin listener: drain delay on by default */
  assert_string_equal(c.dns_servers, "127.0.0.1:5353");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(initial_state_is_unknown_then_first_check_decides),
      cmocka_unit_test(rise_and_fall_sequences),
      cmocka_unit_test(flapping_server_keeps_its_state),
      cmocka_unit_test(fast_interval_while_changing),
      cmocka_unit_test(ejection_time_grows_and_is_capped),
      cmocka_unit_test(ejection_timing_with_injected_clock),
      cmocka_unit_test(ejection_share_of_the_pool),
      cmocka_unit_test(health_settings_parse_and_merge),
      cmocka_unit_test(config_keys_and_dns_backends),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
