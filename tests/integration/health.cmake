# journey-lb health checks, DNS discovery (dnsmasq), admin endpoints, drain and reload:
# real journey-backend, journey-lb and dnsmasq processes on loopback (test_health.py).
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case down_up admin_actions kill_backend all_down startup_round passive dns reload drain
               metrics
               help_and_errors)
    add_test(NAME integration.health.${case}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_health.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend> --case ${case})
    set_tests_properties(integration.health.${case} PROPERTIES LABELS integration TIMEOUT 120)
  endforeach()
  journey_lb_cases(integration.health. test_health.py ${Python3_EXECUTABLE} 120
    CASES tls_and_tcp_checks cert_reload)
endif()
