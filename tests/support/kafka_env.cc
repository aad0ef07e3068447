#include "tests/support/kafka_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>

#include <fmt/format.h>

namespace testsupport {

std::string testBrokers() {
  // Not POINTTRON_-prefixed: every POINTTRON_ variable is a configuration key of the stages.
  const char* brokers = std::getenv("TEST_KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') {
    ADD_FAILURE() << "TEST_KAFKA_BROKERS is not set: integration tests need the real broker "
                     "(run ops/test.sh, which starts ops/kafka/broker.sh).";
    return "127.0.0.1:1";
  }
  return brokers;
}

pipeline::kafka::KafkaConfig testKafkaConfig() {
  pipeline::kafka::KafkaConfig config;
  config.bootstrap_servers = testBrokers();
  config.client_id = "pointtron-test";
  config.statistics_interval_ms = 500;
  config.message_timeout_ms = 30000;
  config.rdkafka["session.timeout.ms"] = "6000";
  config.rdkafka["heartbeat.interval.ms"] = "500";
  config.rdkafka["topic.metadata.refresh.interval.ms"] = "1000";
  return config;
}

std::string uniqueTopic(const std::string& name) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}();
  return fmt::format("it-{}-{}-{}-{:x}", name, ::getpid(), counter++, salt);
}

std::string uniqueGroup(const std::string& name) { return uniqueTopic("group-" + name); }

std::string createTopic(const std::string& name, int partitions) {
  auto topic = uniqueTopic(name);
  auto status = pipeline::kafka::ensureTopics(
      testKafkaConfig(), {{.name = topic, .partitions = partitions}}, std::chrono::seconds(20));
  EXPECT_TRUE(status.isOk()) << status.toString();
  return topic;
}

}  // namespace testsupport
