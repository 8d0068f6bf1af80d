# journey-lb health checks, passive ejection, stats formatting (issue 5): pure functions.
journey_unit_test(test_lb_health SOURCES test_lb_health.c LIBS journey_lb_core)
journey_unit_test(test_lb_stats SOURCES test_lb_stats.c LIBS journey_lb_core)
