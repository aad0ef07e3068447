# ops/prometheus/ and ops/alertmanager/ checked with the tools that consume them (promtool,
# amtool), and the Prometheus rules checked against the alerter's compiled-in ones. A missing
# promtool or amtool fails these tests (ops/install-deps.sh installs them); run_tool.py looks them
# up when the test runs, so installing them needs no new configure.
set(PROM_DIR ${PROJECT_SOURCE_DIR}/ops/prometheus)
set(PROM_RULES ${PROM_DIR}/rules/pointtron.rules.yml)
set(PROM_ALERTER_RULES ${PROJECT_SOURCE_DIR}/stages/alerter/rules/pointtron.rules.yaml)
set(PROM_ALERTMANAGER_CONFIG ${PROJECT_SOURCE_DIR}/ops/alertmanager/alertmanager.yml)
set(PROM_RUN_TOOL ${OPS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/prometheus/run_tool.py)

# The scrape configuration, and the rule files it names (resolved relative to it).
add_test(NAME prometheus_check_config
         COMMAND ${PROM_RUN_TOOL} promtool check config ${PROM_DIR}/prometheus.yml
         WORKING_DIRECTORY ${PROM_DIR})

add_test(NAME prometheus_check_rules
         COMMAND ${PROM_RUN_TOOL} promtool check rules ${PROM_RULES})

# The alerter's rules are PromQL too: Prometheus must accept them as they are.
add_test(NAME prometheus_check_alerter_rules
         COMMAND ${PROM_RUN_TOOL} promtool check rules ${PROM_ALERTER_RULES})

# Unit tests of every alert; their rule_files (../rules/…) resolve from the tests directory.
add_test(NAME prometheus_test_rules
         COMMAND ${PROM_RUN_TOOL} promtool test rules pointtron.rules.test.yml
         WORKING_DIRECTORY ${PROM_DIR}/tests)

add_test(NAME alertmanager_check_config
         COMMAND ${PROM_RUN_TOOL} amtool check-config ${PROM_ALERTMANAGER_CONFIG})

# Critical alerts page on-call, warnings go to chat, anything else falls back to on-call.
foreach(route "critical;PipelineStalled;oncall" "warning;HeadLagHigh;chat" ";Unlabelled;oncall")
  list(GET route 0 severity)
  list(GET route 1 alertname)
  list(GET route 2 receiver)
  set(route_labels alertname=${alertname} stage=fetcher)
  if(severity)
    list(APPEND route_labels severity=${severity})
  endif()
  add_test(NAME alertmanager_route_${alertname}
           COMMAND ${PROM_RUN_TOOL} amtool config routes test
                   --config.file=${PROM_ALERTMANAGER_CONFIG} --verify.receivers=${receiver}
                   ${route_labels})
  list(APPEND PROM_ROUTE_TESTS alertmanager_route_${alertname})
endforeach()

# Same alerts, for, severities and runbook_url in both rule files; every alert unit-tested.
add_test(NAME prometheus_rules_equivalence
         COMMAND ${OPS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/prometheus/rules_equivalence_test.py
                 --alerter ${PROM_ALERTER_RULES} --prometheus ${PROM_RULES}
                 --tests ${PROM_DIR}/tests/pointtron.rules.test.yml
                 --runbooks ${PROJECT_SOURCE_DIR}/docs/runbooks.md)

set_tests_properties(prometheus_check_config prometheus_check_rules prometheus_check_alerter_rules
                     prometheus_test_rules alertmanager_check_config ${PROM_ROUTE_TESTS}
                     prometheus_rules_equivalence
                     PROPERTIES LABELS unit)
# promtool prints SUCCESS even for a file that holds no rule at all; require some.
set_tests_properties(prometheus_check_rules prometheus_check_alerter_rules
                     PROPERTIES PASS_REGULAR_EXPRESSION "SUCCESS: [1-9][0-9]* rules found")
