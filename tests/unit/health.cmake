# journey-lb health checks, passive ejection, stats formatting (issue 5): pure functions.
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
journey_unit_test(test_lb_health SOURCES test_lb_health.c ../../lb/health.c ../../lb/config.c
  LIBS PkgConfig::INIH)
journey_unit_test(test_lb_stats SOURCES test_lb_stats.c ../../lb/stats.c)
