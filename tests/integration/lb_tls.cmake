# journey-lb session tickets (shared key file across processes, SIGHUP, rotation, bad files) and
# client certificates (required, optional, the subject header)
# (test_lb_tls.py).
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case shared_file reload_keeps_keys rotation key_file_errors client_cert_required
               client_cert_optional
               client_ca_reload)
    add_test(NAME integration.lb_tls.${case}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb_tls.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.lb_tls.${case} PROPERTIES LABELS integration TIMEOUT 120
      FIXTURES_REQUIRED certs)
  endforeach()
endif()

# OpenSSL's record buffers: none allocated per request on a busy keep-alive connection (h1, h2),
# given back by idle ones, which still serve (test_lb_tls_buffers.py; python3-h2).
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case busy_no_alloc idle_release)
    add_test(NAME integration.lb_tls_buffers.${case}
      COMMAND ${JOURNEY_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb_tls_buffers.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.lb_tls_buffers.${case} PROPERTIES LABELS integration TIMEOUT 300
      FIXTURES_REQUIRED certs)
  endforeach()
endif()
