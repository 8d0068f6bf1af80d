# Every shipped configuration (lb/journey-lb.conf, the package's lb.conf, the Azure cloud-init's
# lb.conf, docker-compose.yml's lb command) started as shipped on loopback: its HTTP health checks
# take a failing backend DOWN and bring it back (shipped_configs.py).
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case example deb azure compose)
    add_test(NAME integration.shipped.${case}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/shipped_configs.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend>
        --certs ${JOURNEY_TEST_CERTS} --case ${case})
    set_tests_properties(integration.shipped.${case} PROPERTIES LABELS integration TIMEOUT 120
      FIXTURES_REQUIRED certs)
  endforeach()
endif()
