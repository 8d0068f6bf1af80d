# journey-lb session tickets (shared key file across processes, SIGHUP, rotation, bad files) and
# client certificates (required, optional, the subject header)
# (test_lb_tls.py).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.lb_tls. test_lb_tls.py ${Python3_EXECUTABLE} 120
    CASES shared_file reload_keeps_keys rotation key_file_errors client_cert_required
          client_cert_optional client_ca_reload)
endif()

# OpenSSL's record buffers: none allocated per request on a busy keep-alive connection (h1, h2),
# given back by idle ones, which still serve; a burst's memory goes back once the LB is quiet
# (test_lb_tls_buffers.py; python3-h2).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.lb_tls_buffers. test_lb_tls_buffers.py ${JOURNEY_DEBIAN_PYTHON} 300
    CASES busy_no_alloc idle_release burst_release)
endif()
