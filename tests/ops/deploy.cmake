# Deployment files: ops/k8s (manifests), ops/systemd (units, sample configuration) and
# ops/logrotate, checked with the tools that consume them where this machine has them
# (systemd-analyze, logrotate; a missing tool fails the test) and against the code (ports, probe
# paths, configuration keys, exit codes, drain timeout). tests/ops/deploy/*.py say what each checks.
set(DEPLOY_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/deploy)
set(DEPLOY_STAGE_BINARIES
    --bin fetcher=$<TARGET_FILE:pointtron-fetcher>
    --bin decoder=$<TARGET_FILE:pointtron-decoder>
    --bin aggregator=$<TARGET_FILE:pointtron-aggregator>
    --bin persister=$<TARGET_FILE:pointtron-persister>
    --bin alerter=$<TARGET_FILE:pointtron-alerter>)

# The stages' log file sink driven line by line, for the logrotate test.
add_executable(deploy_log_writer ${DEPLOY_TEST_DIR}/log_writer.cc)
target_link_libraries(deploy_log_writer PRIVATE pipeline::runtime)
set_target_properties(deploy_log_writer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

add_test(NAME deploy_k8s_test
         COMMAND ${OPS_PYTHON} ${DEPLOY_TEST_DIR}/k8s_test.py --source-dir ${PROJECT_SOURCE_DIR}
                 ${DEPLOY_STAGE_BINARIES})
add_test(NAME deploy_systemd_test
         COMMAND ${OPS_PYTHON} ${DEPLOY_TEST_DIR}/systemd_test.py --source-dir ${PROJECT_SOURCE_DIR}
                 ${DEPLOY_STAGE_BINARIES} --max-exposure 1.5)
add_test(NAME deploy_logrotate_test
         COMMAND ${OPS_PYTHON} ${DEPLOY_TEST_DIR}/logrotate_test.py --source-dir ${PROJECT_SOURCE_DIR}
                 --writer $<TARGET_FILE:deploy_log_writer>)
set_tests_properties(deploy_k8s_test deploy_systemd_test deploy_logrotate_test PROPERTIES
                     LABELS unit TIMEOUT 300)
