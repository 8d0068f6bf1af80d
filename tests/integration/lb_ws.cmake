# WebSocket with journey-backend's /ws echo, python3-websockets and headless Chromium
# (tests/integration/test_lb_ws.py): a real browser against journey-backend, then through
# journey-lb's tunnel: ws:// and wss:// echoes, the handshake's key unchanged, a browser, 1 000 idle
# tunnels' memory, --tunnel-timeout, SIGTERM with open tunnels, a 101 nobody asked for, and
# back-pressure.
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case chromium_backend echo_ws echo_wss upgrade_key_reaches_backend chromium_lb
      idle_tunnels_1000 tunnel_timeout sigterm_with_tunnels unsolicited_101 back_pressure)
    add_test(NAME integration.ws.${case}
      COMMAND ${JOURNEY_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb_ws.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.ws.${case} PROPERTIES LABELS integration TIMEOUT 400
      FIXTURES_REQUIRED certs)
  endforeach()
endif()
