# ops/grafana/ and the metric names: the names the code registers = the names
# docs/specs/instrumentation.md documents; every metric the Grafana dashboards, the Prometheus rules
# (ops/prometheus/rules/) and the alerter's shipped rules read exists; the dashboards and their
# provisioning files are well-formed. Needs only the sources (no build); when promtool is found,
# the dashboard expressions are also parsed as PromQL (skipped otherwise).
find_program(GRAFANA_TEST_PROMTOOL promtool)
set(grafana_test_promtool)
if(GRAFANA_TEST_PROMTOOL)
  set(grafana_test_promtool --promtool ${GRAFANA_TEST_PROMTOOL})
endif()
add_test(NAME metric_names_test
         COMMAND ${OPS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/metric_names_test.py
                 --source ${PROJECT_SOURCE_DIR} ${grafana_test_promtool})
set_tests_properties(metric_names_test PROPERTIES LABELS unit)
