# journey (client/): the pure modules, linked from journey_client_core.
journey_unit_test(test_client_url SOURCES test_client_url.c LIBS journey_client_core)
journey_unit_test(test_client_dns SOURCES test_client_dns.c LIBS journey_client_core)
journey_unit_test(test_client_report SOURCES test_client_report.c LIBS journey_client_core)
pkg_check_modules(LIBMNL_T REQUIRED IMPORTED_TARGET libmnl)
journey_unit_test(test_client_netpath SOURCES test_client_netpath.c ../../client/netpath.c
  LIBS journey_client_core PkgConfig::LIBMNL_T)
# the HTTP/2 frame report and request fields (h2_report.c)
journey_unit_test(test_client_h2_report SOURCES test_client_h2_report.c LIBS journey_client_core)
