# journey-backend: the real binary on ephemeral loopback ports, raw sockets (test_backend.py).
foreach(group Http Robustness Faults Lifecycle)
  add_test(NAME integration.backend.${group}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_backend.py
            $<TARGET_FILE:journey-backend> ${group})
  set_tests_properties(integration.backend.${group} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()
# The IPv6 listener on ::1: skipped (77, with the reason) where the machine has no ::1.
add_test(NAME integration.backend.Ipv6
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_backend.py
          $<TARGET_FILE:journey-backend> Ipv6)
set_tests_properties(integration.backend.Ipv6 PROPERTIES LABELS integration TIMEOUT 120
  SKIP_RETURN_CODE 77)
# The WebSocket echo on /ws: python3-websockets and hand-written frames (test_backend_ws.py).
foreach(group Echo Handshake Limits Lifecycle)
  add_test(NAME integration.backend.ws.${group}
    COMMAND ${JOURNEY_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_backend_ws.py
            $<TARGET_FILE:journey-backend> ${group})
  set_tests_properties(integration.backend.ws.${group} PROPERTIES LABELS integration TIMEOUT 180)
endforeach()
