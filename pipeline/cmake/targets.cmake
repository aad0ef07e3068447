# Target helpers shared by pipeline/, stages/ and tests/.

# pipeline_stage(NAME decoder SRCS ... DEPS ...): the stage's logic as the library
# stage_<name>_lib (alias stages::<name>) and the executable pointtron-<name> built from main.cc
# alone, so every line but the wiring is linked into tests.
function(pipeline_stage)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(stage_${ARG_NAME}_lib STATIC ${ARG_SRCS})
  add_library(stages::${ARG_NAME} ALIAS stage_${ARG_NAME}_lib)
  target_include_directories(stage_${ARG_NAME}_lib PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(stage_${ARG_NAME}_lib PUBLIC pipeline::runtime ${ARG_DEPS})
  add_executable(pointtron-${ARG_NAME} main.cc)
  target_link_libraries(pointtron-${ARG_NAME} PRIVATE stage_${ARG_NAME}_lib)
endfunction()

# pipeline_cc_test(NAME x SRCS ... DEPS ... LABELS unit|integration): one gtest binary per area.
function(pipeline_cc_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} test_support GTest::gtest GTest::gmock GTest::gtest_main)
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  gtest_discover_tests(${ARG_NAME}
    PROPERTIES LABELS "${ARG_LABELS}"
    DISCOVERY_TIMEOUT 30
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()
