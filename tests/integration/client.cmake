# journey (the client) against real processes on loopback (test_client.py): dnsmasq, openssl
# s_server with the dev certificates, journey-backend, and journey-lb when it is part of the build.
if(TARGET journey AND TARGET journey-backend)
  if(TARGET journey-lb)
    set(journey_lb_bin $<TARGET_FILE:journey-lb>)
  else()
    set(journey_lb_bin NONE)
  endif()
  set(client_groups Dns Errors Http)
  if(TARGET journey-lb)
    list(APPEND client_groups Lb)
    # time_* medians against curl's: a timing comparison, inherently load-sensitive (on a busy
    # 2-core machine the scheduler stretches each program's own work between two stamps, curl's
    # more than journey's), so only on request (a quiet machine, journey built as users run it,
    # without sanitizers): -DJOURNEY_TIMING_TESTS=ON
    option(JOURNEY_TIMING_TESTS "Register the client's time_* comparison with curl" OFF)
    if(JOURNEY_TIMING_TESTS AND NOT JOURNEY_SANITIZE)
      list(APPEND client_groups CurlTimes)
    endif()
  endif()
  foreach(group ${client_groups})
    add_test(NAME integration.client.${group}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_client.py
              $<TARGET_FILE:journey> ${JOURNEY_TEST_CERTS} $<TARGET_FILE:journey-backend> ${journey_lb_bin} ${group})
    set_tests_properties(integration.client.${group} PROPERTIES LABELS integration TIMEOUT 120
      FIXTURES_REQUIRED certs)
  endforeach()
endif()
# curl's flags (-d, --data-binary, -A, --http1.0, -i, -D, -L, -x, --cert, -w, --retry, --connect-to)
if(TARGET journey AND TARGET journey-backend)
  add_test(NAME integration.client.flags
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_client_flags.py
            $<TARGET_FILE:journey> ${JOURNEY_TEST_CERTS} $<TARGET_FILE:journey-backend> ${journey_lb_bin})
  set_tests_properties(integration.client.flags PROPERTIES LABELS integration TIMEOUT 180 FIXTURES_REQUIRED certs)
endif()
# --trace-path through two routers in network namespaces made by the test (root; else skipped)
if(TARGET journey AND TARGET journey-backend)
  add_test(NAME integration.client.tracepath
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_client_tracepath.py
            $<TARGET_FILE:journey> $<TARGET_FILE:journey-backend>)
  set_tests_properties(integration.client.tracepath PROPERTIES LABELS integration TIMEOUT 60 SKIP_RETURN_CODE 77)
endif()
# HTTP/2: journey against nghttpd (TLS with ALPN h2, and cleartext prior knowledge), -n/-c streams
# on one connection, --http1.1 through journey-lb, --http2 against a server without h2
if(TARGET journey AND TARGET journey-backend)
  journey_find_tool(NGHTTPD_EXE "the client's HTTP/2 tests (test_client_h2.py)" nghttpd)
  if(TARGET journey-lb)
    set(journey_lb_bin $<TARGET_FILE:journey-lb>)
  else()
    set(journey_lb_bin NONE)
  endif()
  if(NGHTTPD_EXE)
    add_test(NAME integration.client.h2
      COMMAND ${JOURNEY_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_client_h2.py
              $<TARGET_FILE:journey> ${JOURNEY_TEST_CERTS} $<TARGET_FILE:journey-backend> ${journey_lb_bin})
    set_tests_properties(integration.client.h2 PROPERTIES LABELS integration TIMEOUT 180 FIXTURES_REQUIRED certs)
  else()
    journey_skipped_test(integration.client.h2 "nghttpd not installed (scripts/install-deps.sh --test)")
  endif()
endif()
