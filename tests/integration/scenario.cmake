# The seed's network rebuilt in network namespaces (tests/scenario/run.sh): the three real programs
# in it, every link captured, the report's assertions checked. Root only: run.sh exits 77 (SKIP,
# with the reason in the log) when not root or when the kernel or container refuses unshare.
if(TARGET journey AND TARGET journey-lb AND TARGET journey-backend)
  add_test(NAME scenario.seed
    COMMAND ${CMAKE_COMMAND} -E env
      JOURNEY_CLIENT=$<TARGET_FILE:journey> JOURNEY_LB=$<TARGET_FILE:journey-lb>
      JOURNEY_BACKEND=$<TARGET_FILE:journey-backend>
      ${PROJECT_SOURCE_DIR}/tests/scenario/run.sh --out ${CMAKE_BINARY_DIR}/scenario --quiet)
  # RUN_SERIAL: the captures' timing and the short health intervals dislike a machine busy with
  # the other tests; the run takes about 20 s.
  set_tests_properties(scenario.seed PROPERTIES LABELS scenario SKIP_RETURN_CODE 77 TIMEOUT 120 RUN_SERIAL TRUE)
  # ctest does not print a skipped test's output: say here, in the configure log, why it will skip.
  execute_process(COMMAND id -u OUTPUT_VARIABLE scenario_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT scenario_uid STREQUAL "0")
    message(WARNING "scenario.seed will be SKIPPED: not root (uid ${scenario_uid}); run `sudo make scenario` to see it")
  else()
    execute_process(COMMAND unshare --net --mount true RESULT_VARIABLE scenario_unshare
                    ERROR_VARIABLE scenario_unshare_err ERROR_STRIP_TRAILING_WHITESPACE)
    if(NOT scenario_unshare EQUAL 0)
      message(WARNING "scenario.seed will be SKIPPED: `unshare --net --mount` refused here: ${scenario_unshare_err}")
    endif()
  endif()
else()
  if(JOURNEY_CI)
    message(FATAL_ERROR "scenario.seed needs journey, journey-lb and journey-backend, and not all are built here")
  endif()
  message(STATUS "scenario: not registered until journey, journey-lb and journey-backend are all built here")
endif()
