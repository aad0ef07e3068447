#include "stages/alerter/rules.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace stages::alerter {
namespace {

constexpr std::string_view kGood = R"yaml(
groups:
  - name: pipeline
    interval: 15s
    rules:
      - alert: PipelineStalled
        expr: rate(point_tron_persister_written_records_total[5m]) <= 0
        for: 2m
        keep_firing_for: 30s
        labels: {severity: critical}
        annotations:
          summary: "No record persisted for 5 minutes ({{ $labels.instance }})"
          description: "value {{ $value }}"
          runbook_url: "https://example.org/docs/runbooks.md#pipelinestalled"
      - alert: BackupStale
        expr: time() - point_tron_backup_last_success_timestamp_seconds > 7200
  - name: kafka
    rules:
      - alert: HeadLag
        expr: |
          max by (stage) (point_tron_kafka_consumer_lag_messages) > 1000
        for: 0
)yaml";

std::string parseError(std::string_view yaml) {
  auto rules = parseRules(yaml, "rules.yaml");
  if (rules) return "parsed";
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, rules.error().type);
  return rules.error().message;
}

// A Prometheus-style file parses into groups and rules with every field.
TEST(RulesTest, ParsesPrometheusFormat) {
  auto rules = parseRules(kGood, "rules.yaml");
  ASSERT_TRUE(rules) << rules.error().message;
  ASSERT_EQ(2u, rules->groups.size());
  EXPECT_EQ(3u, rules->ruleCount());
  const auto& pipeline = rules->groups[0];
  EXPECT_EQ("pipeline", pipeline.name);
  EXPECT_EQ(15'000, pipeline.interval_ms);
  ASSERT_EQ(2u, pipeline.rules.size());
  const auto& stalled = pipeline.rules[0];
  EXPECT_EQ("pipeline", stalled.group);
  EXPECT_EQ("PipelineStalled", stalled.name);
  EXPECT_EQ("rate(point_tron_persister_written_records_total[5m]) <= 0", stalled.expr.toString());
  EXPECT_EQ(120'000, stalled.for_ms);
  EXPECT_EQ(30'000, stalled.keep_firing_for_ms);
  EXPECT_EQ((LabelSet{{"severity", "critical"}}), stalled.labels);
  ASSERT_EQ(3u, stalled.annotations.size());
  EXPECT_EQ("No record persisted for 5 minutes (host-1)",
            stalled.annotations.at("summary").expand({{"instance", "host-1"}}, 0));
  EXPECT_EQ(0, pipeline.rules[1].for_ms);
  EXPECT_FALSE(rules->groups[1].interval_ms);
  EXPECT_EQ("max by (stage) (point_tron_kafka_consumer_lag_messages) > 1000",
            rules->groups[1].rules[0].expr.toString());
  EXPECT_EQ(kLookbackMs, rules->historyMs());
  EXPECT_EQ((std::set<std::string, std::less<>>{"point_tron_backup_last_success_timestamp_seconds",
                                                "point_tron_kafka_consumer_lag_messages",
                                                "point_tron_persister_written_records_total"}),
            rules->metricNames());
}

// An empty file and a group without rules are valid.
TEST(RulesTest, EmptyIsValid) {
  auto empty = parseRules("", "rules.yaml");
  ASSERT_TRUE(empty);
  EXPECT_EQ(0u, empty->ruleCount());
  auto no_rules = parseRules("groups:\n  - name: a\n", "rules.yaml");
  ASSERT_TRUE(no_rules);
  EXPECT_EQ(1u, no_rules->groups.size());
}

// Errors are one line naming the file, the group, the rule and the field.
TEST(RulesTest, ErrorsNameFileGroupRuleAndField) {
  EXPECT_EQ(R"(rules.yaml: group "pipeline", rule "PipelineStalled": expr: col 10: expected ']')",
            parseError(R"(
groups:
  - name: pipeline
    rules:
      - alert: PipelineStalled
        expr: rate(x[5m) <= 0
)"));
  EXPECT_EQ(
      R"(rules.yaml: group "g", rule "A": unknown field "annotation" (did you mean "annotations"?))",
      parseError(
          "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    annotation: {}\n"));
  EXPECT_EQ(
      R"(rules.yaml: group "g", rule "A": unknown field "severity")",
      parseError("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    severity: x\n"));
  EXPECT_EQ(R"(rules.yaml: group "g": unknown field "rule" (did you mean "rules"?))",
            parseError("groups:\n- name: g\n  rule: []\n"));
  EXPECT_EQ(R"(rules.yaml: unknown field "group" (did you mean "groups"?))",
            parseError("group: []\n"));
  EXPECT_EQ(
      R"(rules.yaml: group "g", rule "B": alert: duplicate alert name in this group (also rule #1))",
      parseError("groups:\n- name: g\n  rules:\n  - alert: B\n    expr: x > 1\n"
                 "  - alert: B\n    expr: x > 2\n"));
  EXPECT_EQ(R"(rules.yaml: group "g", rule #2: alert: missing (the alert's name is required))",
            parseError("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n"
                       "  - expr: x > 2\n"));
  EXPECT_EQ(R"(rules.yaml: group #2: name: missing (a group needs a name))",
            parseError("groups:\n- name: g\n- rules: []\n"));
  EXPECT_EQ(R"(rules.yaml: group "g": name: duplicate group name (also group #1))",
            parseError("groups:\n- name: g\n- name: g\n"));
  EXPECT_EQ(
      R"(rules.yaml: group "g", rule "A": for: expected a duration like 2m (units ms, s, m, h, d, w))",
      parseError(
          "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    for: 2 minutes\n"));
  EXPECT_EQ(R"(rules.yaml: group "g": interval: expected a positive duration like 15s)",
            parseError("groups:\n- name: g\n  interval: 0s\n"));
  EXPECT_EQ(R"(rules.yaml: group "g", rule "A": expr: missing)",
            parseError("groups:\n- name: g\n  rules:\n  - alert: A\n"));
  EXPECT_EQ(
      R"(rules.yaml: group "g", rule "A": annotations.summary: col 4: unknown variable "$foo" (use $value or $labels.<name>))",
      parseError("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n"
                 "    annotations: {summary: '{{ $foo }}'}\n"));
  EXPECT_EQ(
      R"(rules.yaml: group "g", rule "A": labels.severity: templates in labels are not supported; use a static value)",
      parseError("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n"
                 "    labels: {severity: '{{ $value }}'}\n"));
  EXPECT_EQ(
      R"(rules.yaml: group "g", rule "A": labels.alertname: alertname is set from `alert` and cannot be given as a label)",
      parseError("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n"
                 "    labels: {alertname: B}\n"));
  EXPECT_EQ(R"(rules.yaml: group "g", rule "A": labels: "a" is given twice)",
            parseError("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n"
                       "    labels: {a: x, a: y}\n"));
  EXPECT_EQ(R"(rules.yaml: group "g", rule #1: record: recording rules are not supported)",
            parseError("groups:\n- name: g\n  rules:\n  - record: r\n    expr: x\n"));
  EXPECT_EQ(
      R"(rules.yaml: group "g", rule "Not valid": alert: expected a name like PipelineStalled ([a-zA-Z_:][a-zA-Z0-9_:]*))",
      parseError("groups:\n- name: g\n  rules:\n  - alert: Not valid\n    expr: x > 1\n"));
  EXPECT_EQ(R"(rules.yaml: group "g": limit: not supported)",
            parseError("groups:\n- name: g\n  limit: 10\n"));
  EXPECT_EQ(R"(rules.yaml: groups: expected a list)", parseError("groups: {}\n"));
  EXPECT_EQ(R"(rules.yaml: line 4, col 1: end of map flow not found)",
            parseError("groups:\n- name: g\n  rules: {a: b\n"));
}

// loadRules reads a file and uses its path in messages; a missing file is a config error.
TEST(RulesTest, LoadsFromFile) {
  const auto dir = std::filesystem::temp_directory_path() / "point_tron_rules_test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "rules.yaml").string();
  { std::ofstream(path) << kGood; }
  auto rules = loadRules(path);
  ASSERT_TRUE(rules) << rules.error().message;
  EXPECT_EQ(path, rules->origin);
  EXPECT_EQ(3u, rules->ruleCount());
  { std::ofstream(path) << "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(x)\n"; }
  auto bad = loadRules(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(
      path +
          R"(: group "g", rule "A": expr: col 7: expected '[' (rate() needs a range like metric[5m]))",
      bad.error().message);
  std::filesystem::remove_all(dir);
  auto missing = loadRules(path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, missing.error().type);
  EXPECT_EQ(path + ": cannot read the rule file: No such file or directory",
            missing.error().message);
}

}  // namespace
}  // namespace stages::alerter
