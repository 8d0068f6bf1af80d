# Headless Chromium negotiates h2 with journey-lb (its net log: ALPN h2, an HTTP2_SESSION, the
# request's stream answered 200) and renders the backend's /my-app/data
# (tests/integration/test_lb_h2_browser.py; --target haproxy|nginx runs it against the peers). The
# net log and the page are kept in the build tree (test-artifacts/h2-netlog-journey.json).
if(TARGET journey-lb AND TARGET journey-backend)
  add_test(NAME integration.h2_browser.chromium
    COMMAND ${JOURNEY_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb_h2_browser.py
      --target journey --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
      --certs ${JOURNEY_TEST_CERTS} --artifacts ${CMAKE_BINARY_DIR}/test-artifacts)
  set_tests_properties(integration.h2_browser.chromium PROPERTIES LABELS integration TIMEOUT 300
    FIXTURES_REQUIRED certs)
endif()

# Chromium's streaming upload (fetch() with a ReadableStream body, which it sends only over h2 and
# without content-length) through journey-lb: 1 MiB and 5 000 bytes reach the test's backend whole
# (sha256 equal to the page's), the 1 MiB one chunked (tests/integration/test_lb_h2_browser_upload.py;
# --target haproxy runs it against the peer). Net log and page in test-artifacts/h2-upload-*.
if(TARGET journey-lb)
  add_test(NAME integration.h2_browser.upload
    COMMAND ${JOURNEY_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb_h2_browser_upload.py
      --target journey --lb $<TARGET_FILE:journey-lb> --certs ${JOURNEY_TEST_CERTS}
      --artifacts ${CMAKE_BINARY_DIR}/test-artifacts)
  set_tests_properties(integration.h2_browser.upload PROPERTIES LABELS integration TIMEOUT 300
    FIXTURES_REQUIRED certs)
endif()
