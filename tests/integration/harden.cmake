# Hardening (issue 10): hostile input, slow clients, backend faults, TLS abuse, against the real
# journey-lb and journey-backend on loopback. Every test fails on a sanitizer report.
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case table pipelined)
    add_test(NAME integration.harden.hostile_${case}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/hostile_requests.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.harden.hostile_${case} PROPERTIES LABELS integration
      TIMEOUT 300 FIXTURES_REQUIRED certs)
  endforeach()
endif()
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case slowloris tls_slowloris slow_reader idle_10k flood)
    add_test(NAME integration.harden.slow_${case}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/slow_clients.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.harden.slow_${case} PROPERTIES LABELS integration
      TIMEOUT 120 FIXTURES_REQUIRED certs)
  endforeach()
endif()
find_program(WRK_EXECUTABLE wrk)
if(TARGET journey-lb AND TARGET journey-backend AND WRK_EXECUTABLE)
  foreach(case killed reset hang garbage)
    add_test(NAME integration.harden.fault_${case}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/backend_faults.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.harden.fault_${case} PROPERTIES LABELS integration
      TIMEOUT 120 FIXTURES_REQUIRED certs)
  endforeach()
elseif(NOT WRK_EXECUTABLE)
  message(WARNING "wrk not found: the backend-fault tests (tests/integration/backend_faults.py) are "
                  "not registered; scripts/install-deps.sh --test installs it")
endif()
# valgrind memcheck of journey-lb: valgrind cannot run ASan binaries, so a sanitizer build (CI)
# makes a plain build of journey-lb and journey-backend for it in valgrind-plain/ first.
find_program(VALGRIND_EXECUTABLE valgrind)
if(TARGET journey-lb AND TARGET journey-backend AND VALGRIND_EXECUTABLE)
  if(JOURNEY_SANITIZE)
    set(valgrind_bins --source ${PROJECT_SOURCE_DIR} --build-plain ${CMAKE_BINARY_DIR}/valgrind-plain)
  else()
    set(valgrind_bins --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>)
  endif()
  add_test(NAME valgrind.lb_memcheck
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/valgrind_lb.py ${valgrind_bins}
      --certs ${JOURNEY_TEST_CERTS})
  set_tests_properties(valgrind.lb_memcheck PROPERTIES LABELS valgrind TIMEOUT 600
    FIXTURES_REQUIRED certs)
endif()
if(TARGET journey-lb AND TARGET journey-backend)
  add_test(NAME integration.harden.tls_abuse
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tls_abuse.py
      --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
      --certs ${JOURNEY_TEST_CERTS} --case abuse)
  set_tests_properties(integration.harden.tls_abuse PROPERTIES LABELS integration TIMEOUT 120
    FIXTURES_REQUIRED certs)
endif()
# testssl.sh against the HTTPS listener (about 1.5 minutes here): skipped (77) without testssl.
find_program(TESTSSL_EXECUTABLE NAMES testssl testssl.sh)
if(TARGET journey-lb AND TARGET journey-backend AND TESTSSL_EXECUTABLE)
  add_test(NAME integration.harden.testssl
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tls_abuse.py
      --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
      --certs ${JOURNEY_TEST_CERTS} --case testssl)
  set_tests_properties(integration.harden.testssl PROPERTIES LABELS "integration;testssl"
    TIMEOUT 900 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED certs)
endif()
