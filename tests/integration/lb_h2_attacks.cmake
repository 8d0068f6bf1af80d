# HTTP/2 attacks against journey-lb (tests/integration/h2_attacks.py, Debian's python3-h2):
# rapid_reset, continuation_flood, hpack_bomb, ping_flood, settings_flood. Each checks that a curl
# in parallel still gets its answer (within 100 ms of the same curl to an unattacked twin), the
# LB's RSS grows by at most 64 MiB, the backend sees at most the allowed requests and the attacker
# gets GOAWAY. The script runs the same checks against HAProxy and nginx (--target haproxy|nginx);
# only journey-lb's are registered.
# journey-lb answers a header list a little over max-header-size with 431 on its stream and ends
# the connection (GOAWAY ENHANCE_YOUR_CALM) once one decodes past four times the limit.
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.h2_attacks. h2_attacks.py ${JOURNEY_DEBIAN_PYTHON} 300
    CASES rapid_reset continuation_flood hpack_bomb ping_flood settings_flood
    ARGS --target journey)
endif()
