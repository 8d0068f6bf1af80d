# journey-lb with real journey-backend processes on loopback (tests/integration/test_lb.py).
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case tls_curl round_robin least_conn retry all_down pipelining bad_requests access_log
               access_log_signals
               graceful check_config framing no_replay
               tls_features max_connections backend_timeout pool_idle port_in_use long_target)
    add_test(NAME integration.lb.${case}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --source ${PROJECT_SOURCE_DIR} --case ${case})
    set_tests_properties(integration.lb.${case} PROPERTIES LABELS integration TIMEOUT 120
      FIXTURES_REQUIRED certs)
  endforeach()
endif()
