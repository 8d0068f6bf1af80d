# journey-lb: the pure parts (balancer, header rewriting, config parsing, timers).
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
journey_unit_test(test_lb_balancer SOURCES test_lb_balancer.c ../../lb/balancer.c ../../lb/config.c
  ../../lb/health.c
  LIBS PkgConfig::INIH)
journey_unit_test(test_lb_rewrite SOURCES test_lb_rewrite.c ../../lb/rewrite.c)
journey_unit_test(test_lb_config SOURCES test_lb_config.c ../../lb/config.c ../../lb/health.c LIBS PkgConfig::INIH)
journey_unit_test(test_lb_timing SOURCES test_lb_timing.c ../../lb/timing.c)
