# journey-backend: the real binary on ephemeral loopback ports, raw sockets (test_backend.py).
foreach(group Http Robustness Faults Lifecycle)
  add_test(NAME integration.backend.${group}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_backend.py
            $<TARGET_FILE:journey-backend> ${group})
  set_tests_properties(integration.backend.${group} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()
