# Hardening: hostile input, slow clients, backend faults, TLS abuse, against the real
# journey-lb and journey-backend on loopback. Every test fails on a sanitizer report.
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.harden.hostile_ hostile_requests.py ${Python3_EXECUTABLE} 300
    CASES table pipelined)
endif()
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.harden.slow_ slow_clients.py ${Python3_EXECUTABLE} 120
    CASES slowloris tls_slowloris slow_reader idle_10k flood)
endif()
if(TARGET journey-lb AND TARGET journey-backend)
  journey_find_tool(WRK_EXECUTABLE "the backend-fault tests (backend_faults.py)" wrk)
  foreach(case killed reset hang garbage)
    if(NOT WRK_EXECUTABLE)
      journey_skipped_test(integration.harden.fault_${case}
        "wrk not found (scripts/install-deps.sh --test installs it)")
      continue()
    endif()
    add_test(NAME integration.harden.fault_${case}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/backend_faults.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.harden.fault_${case} PROPERTIES LABELS integration
      TIMEOUT 120 FIXTURES_REQUIRED certs)
  endforeach()
endif()
# valgrind memcheck of journey-lb: valgrind cannot run ASan binaries, so a sanitizer build (CI)
# makes a plain build of journey-lb and journey-backend for it in valgrind-plain/ first.
if(TARGET journey-lb AND TARGET journey-backend)
  journey_find_tool(VALGRIND_EXECUTABLE "the memcheck of journey-lb (valgrind_lb.py)" valgrind)
  if(JOURNEY_SANITIZE)
    set(valgrind_bins --source ${PROJECT_SOURCE_DIR} --build-plain ${CMAKE_BINARY_DIR}/valgrind-plain)
  else()
    set(valgrind_bins --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>)
  endif()
  if(VALGRIND_EXECUTABLE)
    add_test(NAME valgrind.lb_memcheck
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/valgrind_lb.py ${valgrind_bins}
        --certs ${JOURNEY_TEST_CERTS})
    set_tests_properties(valgrind.lb_memcheck PROPERTIES LABELS valgrind TIMEOUT 600
      FIXTURES_REQUIRED certs)
  else()
    journey_skipped_test(valgrind.lb_memcheck "valgrind not found (scripts/install-deps.sh --test installs it)")
  endif()
endif()
if(TARGET journey-lb AND TARGET journey-backend)
  add_test(NAME integration.harden.tls_abuse
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tls_abuse.py
      --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
      --certs ${JOURNEY_TEST_CERTS} --case abuse)
  set_tests_properties(integration.harden.tls_abuse PROPERTIES LABELS integration TIMEOUT 120
    FIXTURES_REQUIRED certs)
endif()
# testssl.sh against the HTTPS listener (about 1.5 minutes here); without testssl, a skip that
# says so (an error in CI).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_find_tool(TESTSSL_EXECUTABLE "the TLS scan of journey-lb (tls_abuse.py --case testssl)"
                    testssl testssl.sh)
  if(TESTSSL_EXECUTABLE)
    add_test(NAME integration.harden.testssl
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tls_abuse.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case testssl)
    set_tests_properties(integration.harden.testssl PROPERTIES LABELS "integration;testssl"
      TIMEOUT 900 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED certs)
  else()
    journey_skipped_test(integration.harden.testssl
      "testssl not found (Debian package testssl.sh; scripts/install-deps.sh --test installs it)")
  endif()
endif()
# Request integrity: strict chunks, targets, absolute-form, methods, path normalisation, and the
# differential check of what was forwarded against h11 (Debian's python3-h11, /usr/bin/python3).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.harden.strict_ strict_requests.py ${JOURNEY_DEBIAN_PYTHON} 300
    CASES chunked trailers target absolute methods paths differential)
endif()
# Responses that cannot be relayed as they came (framing named by Connection, 1xx to HTTP/1.0,
# 204 with a length), a 64 KiB target, error bodies without server details, and whose fault a
# slow upload is (exchange_integrity.py).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.harden.exchange_ exchange_integrity.py ${Python3_EXECUTABLE} 120
    CASES conn_framing interim long_url error_bodies slow_upload full_read)
endif()
