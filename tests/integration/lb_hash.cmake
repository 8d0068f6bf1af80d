# journey-lb consistent hashing: two journey-lb processes and five journey-backends on loopback
# (test_lb_hash.py).
if(TARGET journey-lb AND TARGET journey-backend)
  foreach(case agree_header agree_cookie agree_path down_remaps retry_follows_key)
    add_test(NAME integration.lb_hash.${case}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_lb_hash.py
        --lb $<TARGET_FILE:journey-lb> --backend $<TARGET_FILE:journey-backend> --case ${case})
    set_tests_properties(integration.lb_hash.${case} PROPERTIES LABELS integration TIMEOUT 120)
  endforeach()
endif()
