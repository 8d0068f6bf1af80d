# journey-lb with real journey-backend processes on loopback (tests/integration/test_lb.py).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.lb. test_lb.py ${Python3_EXECUTABLE} 120
    CASES tls_curl round_robin least_conn retry all_down pipelining bad_requests access_log
          access_log_signals graceful check_config framing no_replay tls_features max_connections
          backend_timeout pool_idle port_in_use long_target
    ARGS --source ${PROJECT_SOURCE_DIR})
endif()
