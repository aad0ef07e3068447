#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <memory>

#include "pipeline/metrics/names.h"
#include "pipeline/metrics/process_metrics.h"
#include "pipeline/metrics/registry.h"
#include "pipeline/metrics/stage_metrics.h"

namespace pipeline::metrics {
namespace {

// Counters and gauges are readable by name and label, and carry the constant stage label.
TEST(RegistryTest, ValuesByNameAndLabels) {
  Registry registry("decoder");
  registry.counter("point_tron_test_things_total", "Things.", {{"kind", "a"}}).Increment(3);
  registry.counter("point_tron_test_things_total", "Things.", {{"kind", "b"}}).Increment(5);
  registry.gauge("point_tron_test_level", "Level.").Set(2.5);
  EXPECT_EQ(3, registry.value("point_tron_test_things_total", {{"kind", "a"}}));
  EXPECT_EQ(5, registry.value("point_tron_test_things_total", {{"kind", "b"}}));
  EXPECT_EQ(2.5, registry.value("point_tron_test_level", {{"stage", "decoder"}}));
  EXPECT_EQ(-1, registry.value("point_tron_test_missing"));
}

// The text format has HELP, TYPE and the stage label on every sample.
TEST(RegistryTest, SerializesTextFormat) {
  Registry registry("fetcher");
  registry.counter("point_tron_test_requests_total", "Requests.").Increment();
  const std::string text = registry.serialize();
  EXPECT_NE(std::string::npos, text.find("# HELP point_tron_test_requests_total Requests."));
  EXPECT_NE(std::string::npos, text.find("# TYPE point_tron_test_requests_total counter"));
  EXPECT_NE(std::string::npos, text.find("point_tron_test_requests_total{stage=\"fetcher\"} 1"));
}

// A collectable's families appear while it lives and disappear when it is destroyed.
TEST(RegistryTest, CollectablesAreWeak) {
  Registry registry("alerter");
  auto process = std::make_shared<ProcessMetrics>("alerter");
  registry.addCollectable(process);
  EXPECT_GT(registry.value(names::kProcessResidentMemory), 0);
  process.reset();
  EXPECT_EQ(-1, registry.value(names::kProcessResidentMemory));
}

// Process metrics report plausible figures for this very process.
TEST(ProcessMetricsTest, ReportsThisProcess) {
  Registry registry("persister");
  auto process = std::make_shared<ProcessMetrics>("persister");
  registry.addCollectable(process);
  const double start = registry.value(names::kProcessStartTime);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);  // this test binary started less than an hour ago
  EXPECT_GE(registry.value(names::kProcessOpenFds), 3);
  EXPECT_GT(registry.value(names::kProcessMaxFds), 0);
  EXPECT_GE(registry.value(names::kProcessCpuSeconds), 0);
}

// Every error_type x phase series and both discard series exist before anything happened.
TEST(StageMetricsTest, PreCreatesErrorSeries) {
  Registry registry("aggregator");
  StageMetrics stage(registry);
  EXPECT_EQ(0, registry.value(names::kStageErrors,
                              {{"error_type", "invalid_payload"}, {"phase", "processing"}}));
  EXPECT_EQ(0, registry.value(names::kStageDiscardedEvents, {{"intentional", "false"}}));
  stage.error(ErrorType::Kafka, Phase::Sending).Increment();
  stage.discarded(false).Increment();
  EXPECT_EQ(1, registry.value(names::kStageErrors, {{"error_type", "kafka"}, {"phase", "sending"}}));
  EXPECT_EQ(0, registry.value(names::kStageErrors, {{"error_type", "kafka"}, {"phase", "receiving"}}));
  EXPECT_EQ(1, registry.value(names::kStageDiscardedEvents, {{"intentional", "false"}}));
}

}  // namespace
}  // namespace pipeline::metrics
