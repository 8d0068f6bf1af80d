# HTTP/2 through journey-lb (tests/integration/test_lb_h2.py): curl --http2 and h2c, Chromium, nghttp -nv,
# h2load, pooled backend connections under h2's concurrency, retry and 503 over h2, and the RFC 9113
# rules as raw frames (Debian's python3-h2).
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case curl chromium nghttp h2load pool h2c retry rfc9113 attacks sigterm slow_head protocols timeouts
      idle_release)
    add_test(NAME integration.h2.${case}
      COMMAND ${JOURNEY_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb_h2.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.h2.${case} PROPERTIES LABELS integration TIMEOUT 600
      FIXTURES_REQUIRED certs)
  endforeach()
endif()

# HTTP/2 response bodies byte for byte (tests/integration/test_lb_h2_bodies.py): 1 MiB through a
# small stream window with a stalled reader, chunked and in pieces; HEAD, 204, 304, empty chunked.
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case windows empty)
    add_test(NAME integration.h2_bodies.${case}
      COMMAND ${JOURNEY_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb_h2_bodies.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.h2_bodies.${case} PROPERTIES LABELS integration TIMEOUT 600
      FIXTURES_REQUIRED certs)
  endforeach()
endif()
