#include <gtest/gtest.h>

#include "pipeline/kafka/producer.h"
#include "pipeline/kafka/tail.h"
#include "tests/support/kafka_env.h"
#include "tests/support/loop_runner.h"

namespace pipeline::kafka {
namespace {

// readTail returns the last N records of every partition in offset order, and an empty list for
// an empty partition, without joining a group.
TEST(KafkaTailTest, ReadsTheLastRecordsOfEveryPartition) {
  const std::string topic = testsupport::createTopic("tail", 3);
  testsupport::LoopRunner runner;
  metrics::Registry registry("test");
  StageMetrics stage_metrics(registry);
  auto producer = Producer::create(runner.loop(), testsupport::testKafkaConfig(), stage_metrics,
                                   registry);
  ASSERT_TRUE(producer);
  int acknowledged = 0;
  // Partition 0 gets 10 records, partition 1 gets 2, partition 2 none.
  for (int i = 0; i < 12; ++i) {
    (*producer)->send({.topic = topic, .key = "k", .value = std::to_string(i),
                       .partition = i < 10 ? 0 : 1},
                      [&](const Status& status, const Delivery&) {
                        EXPECT_TRUE(status.isOk());
                        ++acknowledged;
                      });
  }
  ASSERT_TRUE(runner.runUntil([&] { return acknowledged == 12; }));

  auto tails = readTail(testsupport::testKafkaConfig(), topic, 3, std::chrono::seconds(20));
  ASSERT_TRUE(tails) << tails.error().message;
  ASSERT_EQ(3u, tails->size());
  std::vector<std::string> first, second;
  for (const auto& record : (*tails)[0]) first.emplace_back(record.value());
  for (const auto& record : (*tails)[1]) second.emplace_back(record.value());
  EXPECT_EQ((std::vector<std::string>{"7", "8", "9"}), first);
  EXPECT_EQ((std::vector<std::string>{"10", "11"}), second);
  EXPECT_TRUE((*tails)[2].empty());
  EXPECT_EQ(9, (*tails)[0].back().offset());
}

// readHead returns the first N records of every partition in offset order (fewer when the
// partition holds fewer), and an empty list for an empty partition.
TEST(KafkaTailTest, ReadsTheFirstRecordsOfEveryPartition) {
  const std::string topic = testsupport::createTopic("head", 3);
  testsupport::LoopRunner runner;
  metrics::Registry registry("test");
  StageMetrics stage_metrics(registry);
  auto producer = Producer::create(runner.loop(), testsupport::testKafkaConfig(), stage_metrics,
                                   registry);
  ASSERT_TRUE(producer);
  int acknowledged = 0;
  // Partition 0 gets 10 records, partition 1 gets 2, partition 2 none.
  for (int i = 0; i < 12; ++i) {
    (*producer)->send({.topic = topic, .key = "k", .value = std::to_string(i),
                       .partition = i < 10 ? 0 : 1},
                      [&](const Status& status, const Delivery&) {
                        EXPECT_TRUE(status.isOk());
                        ++acknowledged;
                      });
  }
  ASSERT_TRUE(runner.runUntil([&] { return acknowledged == 12; }));

  auto heads = readHead(testsupport::testKafkaConfig(), topic, 3, std::chrono::seconds(20));
  ASSERT_TRUE(heads) << heads.error().message;
  ASSERT_EQ(3u, heads->size());
  std::vector<std::string> first, second;
  for (const auto& record : (*heads)[0]) first.emplace_back(record.value());
  for (const auto& record : (*heads)[1]) second.emplace_back(record.value());
  EXPECT_EQ((std::vector<std::string>{"0", "1", "2"}), first);
  EXPECT_EQ((std::vector<std::string>{"10", "11"}), second);
  EXPECT_TRUE((*heads)[2].empty());
  EXPECT_EQ(0, (*heads)[0].front().offset());
}

// An unknown topic is an error, not an empty tail (which would mean "start from scratch").
TEST(KafkaTailTest, UnknownTopicIsAnError) {
  auto tails = readTail(testsupport::testKafkaConfig(), testsupport::uniqueTopic("missing"), 3,
                        std::chrono::seconds(5));
  EXPECT_FALSE(tails);
}

}  // namespace
}  // namespace pipeline::kafka
