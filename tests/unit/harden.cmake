# Hardening (issue 10): every config error class names its line.
pkg_check_modules(HARDEN_INIH REQUIRED IMPORTED_TARGET inih)
journey_unit_test(test_lb_config_errors SOURCES test_lb_config_errors.c ../../lb/config.c
  LIBS PkgConfig::HARDEN_INIH)
