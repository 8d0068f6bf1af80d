# journey-lb's admin plane: levels, token, UNIX socket, Origin/Host checks, connection cap,
# probe listener, the page's data and config cross-checks (test_admin.py), and the page in a
# real headless Chromium (test_dashboard.py).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.admin. test_admin.py ${Python3_EXECUTABLE} 120
    CASES token token_file_checks unix_socket loopback_default origin rebinding fd_budget probe_only
          page_data check_config)
  # A peer off loopback, in a network namespace of the test's own (root; 77 = skipped).
  add_test(NAME integration.admin.remote_peer
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_admin.py
      --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
      --certs ${JOURNEY_TEST_CERTS} --case remote_peer)
  set_tests_properties(integration.admin.remote_peer PROPERTIES LABELS integration TIMEOUT 120
    SKIP_RETURN_CODE 77)
endif()
if(TARGET journey-lb AND TARGET journey-backend)
  # The screenshot is kept as an artifact in the build tree (test-artifacts/dashboard.png).
  add_test(NAME integration.admin.dashboard_browser
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_dashboard.py
      --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
      --certs ${JOURNEY_TEST_CERTS} --artifacts ${CMAKE_BINARY_DIR}/test-artifacts)
  set_tests_properties(integration.admin.dashboard_browser PROPERTIES LABELS integration
    TIMEOUT 180 FIXTURES_REQUIRED certs)
endif()
