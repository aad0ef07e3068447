#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdlib>

#include "pipeline/kafka/topics.h"
#include "pipeline/runtime.h"
#include "tests/support/kafka_env.h"

namespace pipeline {
namespace {

// A whole stage process against the real broker: runStage creates the topic catalogue under a
// fresh prefix, publishes metric.v1 batches, and a consumer started through Runtime::consume
// receives them; stop() drains the consumer and the process exits 0.
TEST(RuntimeKafkaTest, PublishesMetricEventsThroughTheRealBroker) {
  const std::string prefix = testsupport::uniqueTopic("rt") + ".";
  setenv("POINTTRON_KAFKA__BOOTSTRAP_SERVERS", testsupport::testBrokers().c_str(), 1);
  setenv("POINTTRON_KAFKA__TOPIC_PREFIX", prefix.c_str(), 1);
  setenv("POINTTRON_KAFKA__DATA_PARTITIONS", "2", 1);
  setenv("POINTTRON_METRICS__PUBLISH_INTERVAL_MS", "200", 1);
  setenv("POINTTRON_INSTANCE__ID", "it-1", 1);
  setenv("POINTTRON_LOG__LEVEL", "warn", 1);

  std::string batch;
  char arg0[] = "pointtron-itstage";
  char* argv[] = {arg0};
  const int exit_code = runStage(
      1, argv, {.name = "itstage"}, [&](Runtime& rt) -> Status {
        return rt.consume({.topics = {rt.topic(kafka::topics::kMetrics)}},
                          [&](const kafka::Record& record) {
                            if (batch.empty() && record.key() == "itstage/it-1") {
                              batch = std::string(record.value());
                              rt.stop();
                            }
                            return Outcome::Done;
                          });
      });
  for (const char* name : {"POINTTRON_KAFKA__BOOTSTRAP_SERVERS", "POINTTRON_KAFKA__TOPIC_PREFIX",
                           "POINTTRON_KAFKA__DATA_PARTITIONS", "POINTTRON_METRICS__PUBLISH_INTERVAL_MS",
                           "POINTTRON_INSTANCE__ID", "POINTTRON_LOG__LEVEL"}) {
    unsetenv(name);
  }
  EXPECT_EQ(kExitClean, exit_code);
  ASSERT_FALSE(batch.empty());
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(batch);
  EXPECT_EQ("metric.v1", std::string_view(root["schema"]));
  EXPECT_EQ("itstage", std::string_view(root["stage"]));
  bool has_health = false;
  for (simdjson::dom::element metric : root["metrics"].get_array()) {
    if (std::string_view(metric["name"]) == "point_tron_health_status") has_health = true;
  }
  EXPECT_TRUE(has_health);

  auto partitions = kafka::partitionCount(testsupport::testKafkaConfig(), prefix + "blocks",
                                          std::chrono::seconds(10));
  ASSERT_TRUE(partitions) << partitions.error().message;
  EXPECT_EQ(2, *partitions);
}

}  // namespace
}  // namespace pipeline
