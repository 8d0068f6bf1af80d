# Hardening (issue 10): every config error class names its line.
pkg_check_modules(HARDEN_INIH REQUIRED IMPORTED_TARGET inih)
journey_unit_test(test_lb_config_errors SOURCES test_lb_config_errors.c ../../lb/config.c
  LIBS PkgConfig::HARDEN_INIH)
# The request head checks journey-lb applies before forwarding (lb/request_check.c).
journey_unit_test(test_lb_request_check SOURCES test_lb_request_check.c ../../lb/request_check.c
  ../../lb/rewrite.c LIBS llhttp::llhttp)
