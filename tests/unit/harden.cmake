# Hardening (issue 10): every config error class names its line.
journey_unit_test(test_lb_config_errors SOURCES test_lb_config_errors.c LIBS journey_lb_core)
# The request head checks journey-lb applies before forwarding (lb/core/request_check.c).
journey_unit_test(test_lb_request_check SOURCES test_lb_request_check.c LIBS journey_lb_http)
