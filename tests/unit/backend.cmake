# journey-backend: routing and response bytes, flags, access log lines (pure functions).
journey_unit_test(test_backend_routes SOURCES test_backend_routes.c
  ${PROJECT_SOURCE_DIR}/backend/routes.c)
journey_unit_test(test_backend_options SOURCES test_backend_options.c
  ${PROJECT_SOURCE_DIR}/backend/options.c)
journey_unit_test(test_backend_accesslog SOURCES test_backend_accesslog.c
  ${PROJECT_SOURCE_DIR}/backend/accesslog.c)
journey_unit_test(test_backend_ws_handshake SOURCES test_backend_ws_handshake.c
  ${PROJECT_SOURCE_DIR}/backend/ws_handshake.c ${PROJECT_SOURCE_DIR}/backend/routes.c)
