# WebSocket with journey-backend's /ws echo, python3-websockets and headless Chromium
# (tests/integration/test_lb_ws.py). Registered: a real browser against journey-backend.
# Written and waiting for journey-lb's tunnel (not registered until it lands): echo_ws, echo_wss,
# upgrade_key_reaches_backend, chromium_lb, idle_tunnels_1000, tunnel_timeout,
# sigterm_with_tunnels, unsolicited_101, back_pressure.
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case chromium_backend)
    add_test(NAME integration.ws.${case}
      COMMAND ${JOURNEY_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb_ws.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.ws.${case} PROPERTIES LABELS integration TIMEOUT 400
      FIXTURES_REQUIRED certs)
  endforeach()
endif()
