#include "pipeline/health/health.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace pipeline::health {
namespace {

// The overall state is the worst check; an unhealthy readiness check makes the process not ready.
TEST(HealthTest, OverallIsWorstCheck) {
  Registry registry;
  State kafka = State::Healthy;
  registry.add("kafka", [&] { return CheckResult{kafka, "Broker reachable."}; });
  registry.add("disk", [] { return CheckResult{State::Degraded, "Disk 85% full."}; },
               Affects::HealthOnly);
  auto report = registry.evaluate();
  EXPECT_EQ(State::Degraded, report.overall);
  EXPECT_TRUE(report.ready);
  kafka = State::Unhealthy;
  report = registry.evaluate();
  EXPECT_EQ(State::Unhealthy, report.overall);
  EXPECT_FALSE(report.ready);
}

// A health-only check that fails makes /health unhealthy but leaves readiness alone.
TEST(HealthTest, HealthOnlyCheckKeepsReadiness) {
  Registry registry;
  registry.add("backup", [] { return CheckResult{State::Unhealthy, "Last backup failed."}; },
               Affects::HealthOnly);
  auto report = registry.evaluate();
  EXPECT_EQ(State::Unhealthy, report.overall);
  EXPECT_TRUE(report.ready);
}

// A check that throws is reported as unhealthy with the exception's message, not propagated.
TEST(HealthTest, ThrowingCheckIsUnhealthy) {
  Registry registry;
  registry.add("broken", []() -> CheckResult { throw std::runtime_error("boom"); });
  auto report = registry.evaluate();
  ASSERT_EQ(1u, report.checks.size());
  EXPECT_EQ(State::Unhealthy, report.checks[0].second.state);
  EXPECT_EQ("Check failed: boom", report.checks[0].second.detail);
}

// Draining makes the process not ready even when every check passes.
TEST(HealthTest, DrainingIsNotReady) {
  Registry registry;
  registry.add("kafka", [] { return CheckResult{State::Healthy, ""}; });
  registry.setDraining();
  EXPECT_FALSE(registry.evaluate().ready);
}

// The JSON has the seed's envelope and fields.
TEST(HealthTest, JsonShape) {
  Registry::Report report;
  report.overall = State::Healthy;
  report.checks.push_back({"kafka", {State::Healthy, "ok"}});
  const auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764098273123));
  EXPECT_EQ(
      R"({"success":true,"data":{"status":"healthy","timestamp":"2025-11-25T19:17:53.123Z",)"
      R"("uptime":1.5,"ready":true,"checks":{"kafka":{"status":"healthy","detail":"ok"}}}})",
      Registry::toJson(report, now, std::chrono::milliseconds(1500)));
}

// The gauge maps states to 1, 0.5 and 0.
TEST(HealthTest, GaugeValues) {
  EXPECT_EQ(1.0, gaugeValue(State::Healthy));
  EXPECT_EQ(0.5, gaugeValue(State::Degraded));
  EXPECT_EQ(0.0, gaugeValue(State::Unhealthy));
}

}  // namespace
}  // namespace pipeline::health
