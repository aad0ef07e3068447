#include "pipeline/metric_events.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "pipeline/metrics/registry.h"

namespace pipeline {
namespace {

// A batch carries schema, time, stage and instance, one entry per counter/gauge series without
// the constant stage label, and a histogram as _count and _sum.
TEST(MetricEventsTest, SerialisesOneBatch) {
  metrics::Registry registry("decoder");
  registry.counter("point_tron_test_events_total", "Events.", {{"topic", "blocks"}}).Increment(7);
  registry.gauge("point_tron_test_depth", "Depth.").Set(2);
  auto& histogram = registry.histogram("point_tron_test_seconds", "Time.", {0.1, 1});
  histogram.Observe(0.5);
  histogram.Observe(0.25);

  const std::string batch =
      metricEventBatch(registry.collect(), "decoder", "host-1",
                       std::chrono::system_clock::time_point(std::chrono::milliseconds(1234)));

  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(batch);
  EXPECT_EQ("metric.v1", std::string_view(root["schema"]));
  EXPECT_EQ(1234, int64_t(root["ts"]));
  EXPECT_EQ("decoder", std::string_view(root["stage"]));
  EXPECT_EQ("host-1", std::string_view(root["instance"]));
  std::map<std::string, std::pair<double, std::string>> by_name;
  for (simdjson::dom::element metric : root["metrics"].get_array()) {
    std::string labels;
    for (auto [key, value] : metric["labels"].get_object()) {
      labels += std::string(key) + "=" + std::string(std::string_view(value)) + ";";
    }
    by_name[std::string(std::string_view(metric["name"]))] = {double(metric["value"]), labels};
  }
  EXPECT_EQ(7, by_name["point_tron_test_events_total"].first);
  EXPECT_EQ("topic=blocks;", by_name["point_tron_test_events_total"].second);
  EXPECT_EQ(2, by_name["point_tron_test_depth"].first);
  EXPECT_EQ("", by_name["point_tron_test_depth"].second);
  EXPECT_EQ(2, by_name["point_tron_test_seconds_count"].first);
  EXPECT_DOUBLE_EQ(0.75, by_name["point_tron_test_seconds_sum"].first);
  EXPECT_EQ(0u, by_name.count("point_tron_test_seconds"));
}

}  // namespace
}  // namespace pipeline
