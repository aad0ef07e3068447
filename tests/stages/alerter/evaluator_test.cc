#include "stages/alerter/evaluator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stages::alerter {
namespace {

constexpr std::int64_t kT0 = 1'000'000'000'000;
constexpr std::int64_t kSecond = 1000;
constexpr std::int64_t kMinute = 60 * kSecond;

RuleSet rules(std::string_view yaml) {
  auto parsed = parseRules(yaml, "test.yaml");
  EXPECT_TRUE(parsed) << parsed.error().message;
  return parsed ? std::move(*parsed) : RuleSet{};
}

// "<alertname>:<state>" for each alert, in order.
std::vector<std::string> summary(const std::vector<Alert>& alerts) {
  std::vector<std::string> out;
  for (const auto& alert : alerts) {
    out.push_back(alert.name() + ":" + std::string(alertStateName(alert.state)));
  }
  return out;
}

using Names = std::vector<std::string>;

class EvaluatorTest : public ::testing::Test {
 protected:
  // Sets gauge g{labels} of stage/instance to `value` at `ts`.
  void set(std::int64_t ts, double value, LabelSet labels = {},
           const std::string& instance = "host-1", const std::string& name = "g") {
    MetricBatch batch{ts, "persister", instance, {}};
    batch.metrics.push_back(MetricPoint{name, std::move(labels), value});
    store_.ingest(batch);
  }

  // Precise timing: every evaluate() call evaluates (1 ms interval); no history wait.
  EvaluatorOptions precise() {
    return EvaluatorOptions{.default_interval_ms = 1,
                            .generator_url_base = "http://alerter:9100/rules",
                            .wait_for_history = false};
  }

  SeriesStore store_{60 * kMinute};
};

constexpr std::string_view kForOneMinute = R"yaml(
groups:
  - name: g
    rules:
      - alert: High
        expr: g > 5
        for: 1m
        labels: {severity: page}
        annotations:
          summary: "g is {{ $value }} on {{ $labels.instance }}"
)yaml";

// inactive → pending when the condition first holds, → firing exactly `for` later, not before.
TEST_F(EvaluatorTest, PendingThenFiringExactlyAfterFor) {
  Evaluator evaluator(rules(kForOneMinute), store_, precise());
  set(kT0, 10);
  auto changes = evaluator.evaluate(kT0);
  ASSERT_EQ(Names{"High:pending"}, summary(changes));
  EXPECT_EQ(kT0, changes[0].active_since_ms);
  EXPECT_EQ(0, changes[0].starts_at_ms);
  EXPECT_EQ((LabelSet{{"alertname", "High"},
                      {"instance", "host-1"},
                      {"severity", "page"},
                      {"stage", "persister"}}),
            changes[0].labels);
  EXPECT_EQ((LabelSet{{"summary", "g is 10 on host-1"}}), changes[0].annotations);
  EXPECT_EQ(10, changes[0].value);
  EXPECT_EQ("http://alerter:9100/rules#High", changes[0].generator_url);

  set(kT0 + 30 * kSecond, 11);
  EXPECT_TRUE(evaluator.evaluate(kT0 + 30 * kSecond).empty());
  EXPECT_TRUE(evaluator.evaluate(kT0 + kMinute - 1).empty()) << "1 ms before `for` elapsed";
  ASSERT_EQ(1u, evaluator.active().size());
  EXPECT_EQ(AlertState::Pending, evaluator.active()[0].state);
  EXPECT_EQ((LabelSet{{"summary", "g is 11 on host-1"}}), evaluator.active()[0].annotations);

  changes = evaluator.evaluate(kT0 + kMinute);
  ASSERT_EQ(Names{"High:firing"}, summary(changes));
  EXPECT_EQ(kT0, changes[0].active_since_ms);
  EXPECT_EQ(kT0 + kMinute, changes[0].starts_at_ms);
  EXPECT_EQ(11, changes[0].value);
  EXPECT_FALSE(changes[0].ends_at_ms);

  set(kT0 + 90 * kSecond, 12);
  EXPECT_TRUE(evaluator.evaluate(kT0 + 90 * kSecond).empty()) << "still firing is no change";
  ASSERT_EQ(1u, evaluator.active().size());
  EXPECT_EQ(12, evaluator.active()[0].value);
}

// A pending alert whose condition stops holding goes back to inactive silently; when it holds
// again, `for` starts over.
TEST_F(EvaluatorTest, FlappingPendingReturnsToInactiveSilently) {
  Evaluator evaluator(rules(kForOneMinute), store_, precise());
  set(kT0, 10);
  EXPECT_EQ(Names{"High:pending"}, summary(evaluator.evaluate(kT0)));
  set(kT0 + 15 * kSecond, 1);
  EXPECT_TRUE(evaluator.evaluate(kT0 + 15 * kSecond).empty());
  EXPECT_TRUE(evaluator.active().empty());
  EXPECT_TRUE(evaluator.resolved().empty());
  set(kT0 + 30 * kSecond, 10);
  auto changes = evaluator.evaluate(kT0 + 30 * kSecond);
  ASSERT_EQ(Names{"High:pending"}, summary(changes));
  EXPECT_EQ(kT0 + 30 * kSecond, changes[0].active_since_ms);
  set(kT0 + 60 * kSecond, 10);
  EXPECT_TRUE(evaluator.evaluate(kT0 + 60 * kSecond).empty()) << "only 30 s since it restarted";
  set(kT0 + 90 * kSecond, 10);
  EXPECT_EQ(Names{"High:firing"}, summary(evaluator.evaluate(kT0 + 90 * kSecond)));
}

constexpr std::string_view kImmediate = R"yaml(
groups:
  - name: g
    rules:
      - alert: Now
        expr: g > 5
)yaml";

// With for: 0 an alert fires at once; when it stops holding it resolves (reported once, with
// ends_at), is remembered for the retention, then forgotten; holding again starts a new alert.
TEST_F(EvaluatorTest, ResolveRetentionAndRefire) {
  Evaluator evaluator(rules(kImmediate), store_, precise());
  set(kT0, 10);
  auto changes = evaluator.evaluate(kT0);
  ASSERT_EQ(Names{"Now:firing"}, summary(changes));
  EXPECT_EQ(kT0, changes[0].starts_at_ms);

  set(kT0 + 15 * kSecond, 1);
  changes = evaluator.evaluate(kT0 + 15 * kSecond);
  ASSERT_EQ(Names{"Now:resolved"}, summary(changes));
  EXPECT_EQ(kT0 + 15 * kSecond, changes[0].ends_at_ms);
  EXPECT_EQ(kT0, changes[0].starts_at_ms);
  EXPECT_EQ(10, changes[0].value) << "the last value it fired with";
  EXPECT_TRUE(evaluator.active().empty());
  EXPECT_EQ(1u, evaluator.resolved().size());
  EXPECT_TRUE(evaluator.evaluate(kT0 + 30 * kSecond).empty()) << "resolved is reported once";

  // Holding again within the retention: a new alert with new times.
  set(kT0 + 45 * kSecond, 10);
  changes = evaluator.evaluate(kT0 + 45 * kSecond);
  ASSERT_EQ(Names{"Now:firing"}, summary(changes));
  EXPECT_EQ(kT0 + 45 * kSecond, changes[0].starts_at_ms);
  EXPECT_FALSE(changes[0].ends_at_ms);
  EXPECT_TRUE(evaluator.resolved().empty());

  set(kT0 + 60 * kSecond, 1);
  EXPECT_EQ(Names{"Now:resolved"}, summary(evaluator.evaluate(kT0 + 60 * kSecond)));
  const std::int64_t forget_after = kT0 + 60 * kSecond + 15 * kMinute;
  set(forget_after - kMinute, 1);
  EXPECT_TRUE(evaluator.evaluate(forget_after).empty());
  EXPECT_EQ(1u, evaluator.resolved().size()) << "kept for exactly the retention";
  EXPECT_TRUE(evaluator.evaluate(forget_after + 1).empty());
  EXPECT_TRUE(evaluator.resolved().empty()) << "forgotten silently after it";
}

// keep_firing_for holds a firing alert for that long after its condition stopped.
TEST_F(EvaluatorTest, KeepFiringFor) {
  Evaluator evaluator(rules(R"yaml(
groups:
  - name: g
    rules:
      - alert: Sticky
        expr: g > 5
        keep_firing_for: 30s
)yaml"),
                      store_, precise());
  set(kT0, 10);
  EXPECT_EQ(Names{"Sticky:firing"}, summary(evaluator.evaluate(kT0)));
  set(kT0 + 15 * kSecond, 1);
  EXPECT_TRUE(evaluator.evaluate(kT0 + 15 * kSecond).empty());
  EXPECT_TRUE(evaluator.evaluate(kT0 + 45 * kSecond - 1).empty());
  EXPECT_EQ(1u, evaluator.active().size());
  const auto changes = evaluator.evaluate(kT0 + 45 * kSecond);
  ASSERT_EQ(Names{"Sticky:resolved"}, summary(changes));
  EXPECT_EQ(kT0 + 45 * kSecond, changes[0].ends_at_ms);
}

// Alert labels: series labels, overridden by the rule's (an empty rule label removes one), then
// alertname. Annotations see the series' own labels, as in Prometheus.
TEST_F(EvaluatorTest, LabelsAndAnnotations) {
  Evaluator evaluator(rules(R"yaml(
groups:
  - name: g
    rules:
      - alert: Merge
        expr: g > 5
        labels: {severity: page, instance: "", team: db}
        annotations:
          was: "{{ $labels.severity }}/{{ $labels.instance }}"
          value: '{{ printf "%.1f" $value }} ({{ $value | humanize }})'
)yaml"),
                      store_, precise());
  set(kT0, 1234.5, {{"severity", "low"}, {"alertname", "Other"}, {"reason", "x"}});
  const auto changes = evaluator.evaluate(kT0);
  ASSERT_EQ(1u, changes.size());
  EXPECT_EQ((LabelSet{{"alertname", "Merge"},
                      {"reason", "x"},
                      {"severity", "page"},
                      {"stage", "persister"},
                      {"team", "db"}}),
            changes[0].labels);
  EXPECT_EQ((LabelSet{{"value", "1234.5 (1.234k)"}, {"was", "low/host-1"}}),
            changes[0].annotations);
  EXPECT_EQ(fingerprint(changes[0].labels), changes[0].fingerprint());
}

// absent() fires one alert labelled with the selector's equality matchers, and resolves once
// the metric is published again.
TEST_F(EvaluatorTest, AbsentFiresOneAlert) {
  Evaluator evaluator(rules(R"yaml(
groups:
  - name: g
    rules:
      - alert: Missing
        expr: absent(g{stage="persister"})
        labels: {severity: critical}
)yaml"),
                      store_, precise());
  auto changes = evaluator.evaluate(kT0);
  ASSERT_EQ(Names{"Missing:firing"}, summary(changes));
  EXPECT_EQ((LabelSet{{"alertname", "Missing"}, {"severity", "critical"}, {"stage", "persister"}}),
            changes[0].labels);
  EXPECT_EQ(1, changes[0].value);
  set(kT0 + 15 * kSecond, 1);
  EXPECT_EQ(Names{"Missing:resolved"}, summary(evaluator.evaluate(kT0 + 15 * kSecond)));
  // Stale again 5 m after the last sample.
  EXPECT_TRUE(evaluator.evaluate(kT0 + 15 * kSecond + 5 * kMinute - 1).empty());
  EXPECT_EQ(Names{"Missing:firing"}, summary(evaluator.evaluate(kT0 + 15 * kSecond + 5 * kMinute)));
}

// Every series gives its own alert; changes come ordered by rule and fingerprint.
TEST_F(EvaluatorTest, OneAlertPerSeries) {
  Evaluator evaluator(rules(kImmediate), store_, precise());
  set(kT0, 10, {}, "host-1");
  set(kT0, 10, {}, "host-2");
  set(kT0, 1, {}, "host-3");
  const auto changes = evaluator.evaluate(kT0);
  ASSERT_EQ(2u, changes.size());
  EXPECT_LT(changes[0].fingerprint(), changes[1].fingerprint());
  set(kT0 + kSecond, 1, {}, "host-2");
  set(kT0 + kSecond, 10, {}, "host-1");
  const auto resolved = evaluator.evaluate(kT0 + kSecond);
  ASSERT_EQ(Names{"Now:resolved"}, summary(resolved));
  EXPECT_EQ("host-2", resolved[0].labels.at("instance"));
}

constexpr std::string_view kTwoRules = R"yaml(
groups:
  - name: g
    rules:
      - alert: Fast
        expr: g > 5
        for: 1m
      - alert: Slow
        expr: g > 5
        for: 10m
)yaml";

// A snapshot restored into a new evaluator (a restart) keeps every alert's times: a firing alert
// is not reported again, a pending one fires when its original `for` elapses, and resolves
// happen and are reported after the restart.
TEST_F(EvaluatorTest, SnapshotRestoreWithoutRefire) {
  std::string snapshot;
  std::vector<Alert> before;
  {
    Evaluator first(rules(kTwoRules), store_, precise());
    set(kT0, 10);
    EXPECT_EQ((Names{"Fast:pending", "Slow:pending"}), summary(first.evaluate(kT0)));
    set(kT0 + kMinute, 10);
    EXPECT_EQ(Names{"Fast:firing"}, summary(first.evaluate(kT0 + kMinute)));
    snapshot = first.snapshot();
    before = first.active();
  }
  Evaluator second(rules(kTwoRules), store_, precise());
  ASSERT_TRUE(second.restore(snapshot));
  EXPECT_EQ(snapshot, second.snapshot());
  const auto restored = second.active();
  ASSERT_EQ(2u, restored.size());
  for (std::size_t i = 0; i < restored.size(); ++i) {
    EXPECT_EQ(before[i].labels, restored[i].labels);
    EXPECT_EQ(before[i].state, restored[i].state);
    EXPECT_EQ(before[i].active_since_ms, restored[i].active_since_ms);
    EXPECT_EQ(before[i].starts_at_ms, restored[i].starts_at_ms);
    EXPECT_EQ(before[i].value, restored[i].value);
    EXPECT_EQ(before[i].generator_url, restored[i].generator_url);
  }
  EXPECT_EQ(kT0 + kMinute, restored[0].starts_at_ms);

  set(kT0 + 2 * kMinute, 10);
  EXPECT_TRUE(second.evaluate(kT0 + 2 * kMinute).empty()) << "no re-fire after the restart";
  set(kT0 + 10 * kMinute, 10);
  EXPECT_EQ(Names{"Slow:firing"}, summary(second.evaluate(kT0 + 10 * kMinute)))
      << "pending keeps its active_since";
  set(kT0 + 11 * kMinute, 1);
  const auto resolved = second.evaluate(kT0 + 11 * kMinute);
  ASSERT_EQ((Names{"Fast:resolved", "Slow:resolved"}), summary(resolved));
  EXPECT_EQ(kT0 + kMinute, resolved[0].starts_at_ms);
}

// A resolve that happens while the alerter was down is reported by the first evaluation after
// the restart; resolved alerts survive the snapshot too (and are not resolved twice).
TEST_F(EvaluatorTest, ResolveAfterRestartIsReported) {
  std::string snapshot;
  {
    Evaluator first(rules(kImmediate), store_, precise());
    set(kT0, 10, {}, "host-1");
    set(kT0, 10, {}, "host-2");
    EXPECT_EQ(2u, first.evaluate(kT0).size());
    set(kT0 + kSecond, 1, {}, "host-2");
    set(kT0 + kSecond, 10, {}, "host-1");
    EXPECT_EQ(Names{"Now:resolved"}, summary(first.evaluate(kT0 + kSecond)));
    snapshot = first.snapshot();
  }
  set(kT0 + kMinute, 1, {}, "host-1");
  set(kT0 + kMinute, 1, {}, "host-2");
  Evaluator second(rules(kImmediate), store_, precise());
  ASSERT_TRUE(second.restore(snapshot));
  EXPECT_EQ(1u, second.resolved().size());
  const auto changes = second.evaluate(kT0 + kMinute);
  ASSERT_EQ(Names{"Now:resolved"}, summary(changes));
  EXPECT_EQ("host-1", changes[0].labels.at("instance"));
  EXPECT_EQ(kT0 + kMinute, changes[0].ends_at_ms);
  EXPECT_EQ(kT0, changes[0].starts_at_ms);
}

// A broken snapshot is refused and leaves the state alone; alerts of removed rules are dropped.
TEST_F(EvaluatorTest, RestoreValidates) {
  Evaluator evaluator(rules(kImmediate), store_, precise());
  set(kT0, 10);
  ASSERT_EQ(1u, evaluator.evaluate(kT0).size());
  const auto bad = evaluator.restore("{\"version\":1,\"alerts\":[{\"group\":\"g\"}]}");
  ASSERT_FALSE(bad);
  EXPECT_EQ(pipeline::ErrorType::InvalidPayload, bad.error().type);
  EXPECT_EQ("alert state snapshot: alerts[0].rule: invalid", bad.error().message);
  EXPECT_FALSE(evaluator.restore("[]"));
  EXPECT_EQ("alert state snapshot: version: expected 1",
            evaluator.restore(R"({"version":2,"alerts":[]})").error().message);
  EXPECT_EQ(0u, evaluator.restore("not json")
                    .error()
                    .message.rfind("alert state snapshot: invalid JSON: ", 0));
  EXPECT_EQ(1u, evaluator.active().size()) << "a refused snapshot changes nothing";

  Evaluator other(rules(kForOneMinute), store_, precise());
  ASSERT_TRUE(other.restore(evaluator.snapshot()));
  EXPECT_TRUE(other.active().empty()) << "rule Now does not exist there";
}

// A rule whose evaluation fails keeps its alerts as they were and reports the error.
TEST_F(EvaluatorTest, EvaluationErrorKeepsState) {
  Evaluator evaluator(rules(R"yaml(
groups:
  - name: g
    rules:
      - alert: Ratio
        expr: g / on(stage) h > 0
      - alert: Collapsed
        expr: g > 0
        labels: {instance: ""}
)yaml"),
                      store_, precise());
  set(kT0, 1, {}, "host-1");
  set(kT0, 1, {}, "host-1", "h");
  EXPECT_EQ((Names{"Ratio:firing", "Collapsed:firing"}), summary(evaluator.evaluate(kT0)));
  set(kT0 + kSecond, 1, {}, "host-2", "h");
  set(kT0 + kSecond, 1, {}, "host-2");
  EXPECT_TRUE(evaluator.evaluate(kT0 + kSecond).empty());
  EXPECT_EQ(2u, evaluator.active().size()) << "not resolved by an error";
  const auto status = evaluator.status();
  ASSERT_EQ(2u, status.size());
  EXPECT_EQ(0u, status[0].last_error.rfind("many-to-many matching not allowed", 0))
      << status[0].last_error;
  EXPECT_EQ(
      "the expression yields several series with the same labels once the rule's labels are "
      "applied",
      status[1].last_error);
  EXPECT_EQ(1u, status[0].firing);
  EXPECT_EQ(kT0 + kSecond, status[0].last_evaluation_ms);
}

// After a start with an empty store, absence rules wait until the store covers their window, so
// missing history is not read as absence; a replayed history lifts the wait. Other rules run at
// once on the data there is (a restored alert resolves promptly).
TEST_F(EvaluatorTest, WaitsForHistory) {
  auto options = precise();
  options.wait_for_history = true;
  const auto yaml = R"yaml(
groups:
  - name: g
    rules:
      - alert: Missing
        expr: absent(g)
)yaml";
  Evaluator evaluator(rules(yaml), store_, options);
  EXPECT_TRUE(evaluator.evaluate(kT0).empty());
  EXPECT_TRUE(evaluator.status()[0].waiting_for_history);
  EXPECT_TRUE(evaluator.evaluate(kT0 + 5 * kMinute - 1).empty());
  EXPECT_EQ(Names{"Missing:firing"}, summary(evaluator.evaluate(kT0 + 5 * kMinute)));
  EXPECT_FALSE(evaluator.status()[0].waiting_for_history);

  // History replayed from 5 m before the start: no wait.
  SeriesStore replayed(60 * kMinute);
  MetricBatch batch{kT0 - 5 * kMinute, "persister", "host-1", {{"other", {}, 1.0}}};
  replayed.ingest(batch);
  Evaluator ready(rules(yaml), replayed, options);
  EXPECT_EQ(Names{"Missing:firing"}, summary(ready.evaluate(kT0)));

  SeriesStore fresh(60 * kMinute);
  fresh.ingest(MetricBatch{kT0, "persister", "host-1", {{"g", {}, 3.0}}});
  Evaluator at_once(rules(R"yaml(
groups:
  - name: g
    rules:
      - alert: High
        expr: g > 2
      - alert: Rising
        expr: max_over_time(g[10m]) > 2
)yaml"), fresh, options);
  EXPECT_EQ((Names{"High:firing", "Rising:firing"}), summary(at_once.evaluate(kT0 + 1000)));
}

// Groups are evaluated at their interval; nextEvaluationMs says when the next one is due.
TEST_F(EvaluatorTest, GroupIntervals) {
  Evaluator evaluator(
      rules(R"yaml(
groups:
  - name: slow
    interval: 1m
    rules:
      - alert: A
        expr: g > 5
  - name: default
    rules:
      - alert: B
        expr: g > 5
)yaml"),
      store_, EvaluatorOptions{.default_interval_ms = 15 * kSecond, .wait_for_history = false});
  EXPECT_EQ(0, evaluator.nextEvaluationMs());
  set(kT0, 1);
  EXPECT_TRUE(evaluator.evaluate(kT0).empty());
  EXPECT_EQ(kT0 + 15 * kSecond, evaluator.nextEvaluationMs());
  set(kT0 + 10 * kSecond, 10);
  EXPECT_TRUE(evaluator.evaluate(kT0 + 10 * kSecond).empty()) << "no group due";
  EXPECT_EQ(Names{"B:firing"}, summary(evaluator.evaluate(kT0 + 15 * kSecond)));
  EXPECT_EQ(kT0 + 30 * kSecond, evaluator.nextEvaluationMs());
  EXPECT_TRUE(evaluator.evaluate(kT0 + 30 * kSecond).empty());
  EXPECT_EQ(Names{"A:firing"}, summary(evaluator.evaluate(kT0 + kMinute)));
  EXPECT_EQ("", evaluator.active()[0].generator_url) << "no base configured";
}

}  // namespace
}  // namespace stages::alerter
