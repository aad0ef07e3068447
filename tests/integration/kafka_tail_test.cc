#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pipeline/event_sink.h"
#include "pipeline/kafka/tail.h"
#include "tests/integration/fetcher_harness.h"
#include "tests/support/kafka_env.h"

namespace pipeline::kafka {
namespace {

// A fresh 3-partition topic: partition 0 holds "0".."9", partition 1 "10" and "11", partition 2
// nothing.
std::string topicWithTwelveRecords(const std::string& name) {
  const std::string topic = testsupport::createTopic(name, 3);
  std::vector<Event> events;
  for (int i = 0; i < 12; ++i) {
    events.push_back({.topic = topic, .key = "k", .value = std::to_string(i),
                      .partition = i < 10 ? 0 : 1});
  }
  testsupport::fetcher::produceAll(std::move(events));
  return topic;
}

// The values of one partition's records, in the order read.
std::vector<std::string> valuesOf(const std::vector<Record>& records) {
  std::vector<std::string> values;
  for (const auto& record : records) values.emplace_back(record.value());
  return values;
}

// readTail returns the last N records of every partition in offset order, and an empty list for
// an empty partition, without joining a group.
TEST(KafkaTailTest, ReadsTheLastRecordsOfEveryPartition) {
  const std::string topic = topicWithTwelveRecords("tail");
  auto tails = readTail(testsupport::testKafkaConfig(), topic, 3, std::chrono::seconds(20));
  ASSERT_TRUE(tails) << tails.error().message;
  ASSERT_EQ(3u, tails->size());
  EXPECT_EQ((std::vector<std::string>{"7", "8", "9"}), valuesOf((*tails)[0]));
  EXPECT_EQ((std::vector<std::string>{"10", "11"}), valuesOf((*tails)[1]));
  EXPECT_TRUE((*tails)[2].empty());
  EXPECT_EQ(9, (*tails)[0].back().offset());
}

// readHead returns the first N records of every partition in offset order (fewer when the
// partition holds fewer), and an empty list for an empty partition.
TEST(KafkaTailTest, ReadsTheFirstRecordsOfEveryPartition) {
  const std::string topic = topicWithTwelveRecords("head");
  auto heads = readHead(testsupport::testKafkaConfig(), topic, 3, std::chrono::seconds(20));
  ASSERT_TRUE(heads) << heads.error().message;
  ASSERT_EQ(3u, heads->size());
  EXPECT_EQ((std::vector<std::string>{"0", "1", "2"}), valuesOf((*heads)[0]));
  EXPECT_EQ((std::vector<std::string>{"10", "11"}), valuesOf((*heads)[1]));
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
