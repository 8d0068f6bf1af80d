# WebSocket with journey-backend's /ws echo, python3-websockets and headless Chromium
# (tests/integration/test_lb_ws.py): a real browser against journey-backend, then through
# journey-lb's tunnel: ws:// and wss:// echoes, the handshake's key unchanged, a browser, 1 000 idle
# tunnels' memory, --tunnel-timeout, SIGTERM with open tunnels, a 101 nobody asked for, and
# back-pressure.
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.ws. test_lb_ws.py ${JOURNEY_DEBIAN_PYTHON} 400
    CASES chromium_backend echo_ws echo_wss upgrade_key_reaches_backend chromium_lb
          idle_tunnels_1000 tunnel_timeout sigterm_with_tunnels unsolicited_101 back_pressure)
endif()
