# journey-lb's admin plane, pure parts: privilege levels, Host/Origin checks, the token, the
# recent-request ring, last-minute latency windows, the page and the config cross-checks.
journey_unit_test(test_lb_admin SOURCES test_lb_admin.c LIBS journey_lb_core)
