#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/consumer.h"
#include "pipeline/kafka/producer.h"
#include "pipeline/metrics/names.h"
#include "tests/integration/fetcher_harness.h"
#include "tests/support/kafka_env.h"
#include "tests/support/loop_runner.h"

namespace pipeline::kafka {
namespace {

class KafkaRoundTripTest : public ::testing::Test {
 protected:
  testsupport::LoopRunner runner_;
  metrics::Registry registry_{"test"};
  StageMetrics stage_metrics_{registry_};
  KafkaConfig config_ = testsupport::testKafkaConfig();
};

// Events produced through the loop-bound producer come back, in order per partition, with key,
// value and headers intact, through the loop-bound consumer; offsets are committed.
TEST_F(KafkaRoundTripTest, ProducesAndConsumesThroughTheLoop) {
  const std::string topic = testsupport::createTopic("roundtrip", 3);
  auto producer = Producer::create(runner_.loop(), config_, stage_metrics_, registry_);
  ASSERT_TRUE(producer) << producer.error().message;
  constexpr int kEvents = 300;
  int acknowledged = 0;
  for (int i = 0; i < kEvents; ++i) {
    (*producer)->send({.topic = topic,
                       .key = std::to_string(i % 10),
                       .value = "value-" + std::to_string(i),
                       .headers = {{"source", "test"}}},
                      [&](const Status& status, const Delivery& delivery) {
                        EXPECT_TRUE(status.isOk()) << status.toString();
                        EXPECT_GE(delivery.offset, 0);
                        ++acknowledged;
                      });
  }
  ASSERT_TRUE(runner_.runUntil([&] { return acknowledged == kEvents; }, std::chrono::seconds(30)));
  EXPECT_EQ(0u, (*producer)->outstanding());
  EXPECT_EQ(kEvents, registry_.value(metrics::names::kStageSentEvents));

  std::map<std::int32_t, std::int64_t> committed;
  ConsumerOptions options{.topics = {topic}, .group_id = testsupport::uniqueGroup("roundtrip")};
  options.on_committed = [&](const std::string&, std::int32_t partition, std::int64_t offset) {
    committed[partition] = offset;
  };
  auto consumer = Consumer::create(runner_.loop(), config_, options, stage_metrics_, registry_);
  ASSERT_TRUE(consumer) << consumer.error().message;
  std::map<std::string, std::vector<int>> by_key;
  int received = 0;
  ASSERT_TRUE((*consumer)->start([&](Record record, Completion completion) {
    EXPECT_EQ("test", record.header("source").value_or(""));
    by_key[std::string(record.key())].push_back(std::stoi(std::string(record.value().substr(6))));
    ++received;
    completion.done();
  }));
  ASSERT_TRUE(runner_.runUntil([&] { return received == kEvents; }, std::chrono::seconds(30)));
  // A key lives in one partition, so its values arrive in production order.
  ASSERT_EQ(10u, by_key.size());
  for (const auto& [key, values] : by_key) {
    EXPECT_TRUE(std::is_sorted(values.begin(), values.end())) << "key " << key;
    EXPECT_EQ(30u, values.size());
  }
  ASSERT_TRUE(runner_.runUntil([&] {
    std::int64_t total = 0;
    for (auto& [partition, offset] : committed) total += offset;
    return total == kEvents;
  }, std::chrono::seconds(15)));
  bool closed = false;
  (*consumer)->close(std::chrono::seconds(10), [&](Status status) {
    EXPECT_TRUE(status.isOk()) << status.toString();
    closed = true;
  });
  ASSERT_TRUE(runner_.runUntil([&] { return closed; }, std::chrono::seconds(15)));
  EXPECT_EQ(kEvents, registry_.value(metrics::names::kStageReceivedEvents));
}

// An event with `tombstone` set is published with a null value, which readers tell apart from an
// empty value (a compacted topic deletes the key only for the former).
TEST_F(KafkaRoundTripTest, TombstoneIsANullValue) {
  const std::string topic = testsupport::createTopic("tombstone", 1);
  auto producer = Producer::create(runner_.loop(), config_, stage_metrics_, registry_);
  ASSERT_TRUE(producer) << producer.error().message;
  int acknowledged = 0;
  auto count = [&](const Status& status, const Delivery&) {
    EXPECT_TRUE(status.isOk()) << status.toString();
    ++acknowledged;
  };
  (*producer)->send({.topic = topic, .key = "gone", .tombstone = true}, count);
  (*producer)->send({.topic = topic, .key = "empty", .value = ""}, count);
  (*producer)->send({.topic = topic, .key = "full", .value = "v"}, count);
  ASSERT_TRUE(runner_.runUntil([&] { return acknowledged == 3; }));

  testsupport::fetcher::TopicReader reader(topic);
  ASSERT_TRUE(reader.readUntil([&] { return reader.records().size() >= 3; },
                               std::chrono::seconds(30)))
      << reader.error();
  const auto& records = reader.records();
  ASSERT_EQ(3u, records.size());
  EXPECT_EQ("gone", records[0].key);
  EXPECT_TRUE(records[0].tombstone);
  EXPECT_EQ("empty", records[1].key);
  EXPECT_FALSE(records[1].tombstone);
  EXPECT_EQ("", records[1].value);
  EXPECT_FALSE(records[2].tombstone);
  EXPECT_EQ("v", records[2].value);
}

// A record finished with retry() is re-delivered after the backoff, and the records behind it in
// its partition are processed after it, in order, with nothing lost or skipped.
TEST_F(KafkaRoundTripTest, RetryRedeliversInOrder) {
  const std::string topic = testsupport::createTopic("retry", 1);
  auto producer = Producer::create(runner_.loop(), config_, stage_metrics_, registry_);
  ASSERT_TRUE(producer);
  int acknowledged = 0;
  for (int i = 0; i < 20; ++i) {
    (*producer)->send({.topic = topic, .key = "k", .value = std::to_string(i)},
                      [&](const Status& status, const Delivery&) {
                        EXPECT_TRUE(status.isOk());
                        ++acknowledged;
                      });
  }
  ASSERT_TRUE(runner_.runUntil([&] { return acknowledged == 20; }));

  ConsumerOptions options{.topics = {topic}, .group_id = testsupport::uniqueGroup("retry")};
  options.retry_initial_backoff = std::chrono::milliseconds(50);
  auto consumer = Consumer::create(runner_.loop(), config_, options, stage_metrics_, registry_);
  ASSERT_TRUE(consumer);
  std::vector<int> processed;
  int failures_left = 2;
  ASSERT_TRUE((*consumer)->start([&](Record record, Completion completion) {
    const int value = std::stoi(std::string(record.value()));
    if (value == 7 && failures_left > 0) {
      --failures_left;
      completion.retry();
      return;
    }
    processed.push_back(value);
    completion.done();
  }));
  ASSERT_TRUE(runner_.runUntil([&] { return processed.size() >= 20 && processed.back() == 19; },
                               std::chrono::seconds(30)));
  std::vector<int> expected(20);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(expected, processed);
  EXPECT_EQ(0, failures_left);
  bool closed = false;
  (*consumer)->close(std::chrono::seconds(10), [&](Status) { closed = true; });
  ASSERT_TRUE(runner_.runUntil([&] { return closed; }, std::chrono::seconds(15)));
}

// With max_in_flight smaller than the backlog and completions finished later from a timer, every
// record is still processed exactly once in a single run (backpressure pauses, never drops).
TEST_F(KafkaRoundTripTest, BackpressureLosesNothing) {
  const std::string topic = testsupport::createTopic("backpressure", 2);
  auto producer = Producer::create(runner_.loop(), config_, stage_metrics_, registry_);
  ASSERT_TRUE(producer);
  constexpr int kEvents = 2000;
  int acknowledged = 0;
  for (int i = 0; i < kEvents; ++i) {
    (*producer)->send({.topic = topic, .key = std::to_string(i), .value = std::to_string(i)},
                      [&](const Status& status, const Delivery&) {
                        EXPECT_TRUE(status.isOk());
                        ++acknowledged;
                      });
  }
  ASSERT_TRUE(runner_.runUntil([&] { return acknowledged == kEvents; }, std::chrono::seconds(30)));

  ConsumerOptions options{.topics = {topic}, .group_id = testsupport::uniqueGroup("bp")};
  options.max_in_flight = 50;
  auto consumer = Consumer::create(runner_.loop(), config_, options, stage_metrics_, registry_);
  ASSERT_TRUE(consumer);
  std::vector<Completion> pending;
  std::multiset<int> seen;
  std::size_t max_pending = 0;
  ASSERT_TRUE((*consumer)->start([&](Record record, Completion completion) {
    seen.insert(std::stoi(std::string(record.value())));
    pending.push_back(std::move(completion));
    max_pending = std::max(max_pending, pending.size());
  }));
  auto flusher = uv::Timer::create(runner_.loop());
  ASSERT_TRUE(flusher);
  ASSERT_TRUE(flusher->start(5, 5, [&] {
    for (auto& completion : pending) completion.done();
    pending.clear();
  }));
  ASSERT_TRUE(runner_.runUntil([&] { return seen.size() >= kEvents && pending.empty(); },
                               std::chrono::seconds(60)));
  EXPECT_EQ(static_cast<std::size_t>(kEvents), seen.size());
  for (int i = 0; i < kEvents; ++i) EXPECT_EQ(1u, seen.count(i)) << i;
  // librdkafka may have queued records before the pause took effect, but not unboundedly.
  EXPECT_LT(max_pending, static_cast<std::size_t>(kEvents));
  bool closed = false;
  (*consumer)->close(std::chrono::seconds(10), [&](Status) { closed = true; });
  ASSERT_TRUE(runner_.runUntil([&] { return closed; }, std::chrono::seconds(15)));
}

// ensureTopics creates a compacted topic once and accepts it the second time.
TEST(AdminTest, EnsureTopicsIsIdempotent) {
  const auto topic = testsupport::uniqueTopic("admin");
  std::vector<TopicSpec> specs = {
      {.name = topic, .partitions = 2, .config = {{"cleanup.policy", "compact"}}}};
  ASSERT_TRUE(ensureTopics(testsupport::testKafkaConfig(), specs, std::chrono::seconds(20)).isOk());
  ASSERT_TRUE(ensureTopics(testsupport::testKafkaConfig(), specs, std::chrono::seconds(20)).isOk());
  auto partitions = partitionCount(testsupport::testKafkaConfig(), topic, std::chrono::seconds(10));
  ASSERT_TRUE(partitions);
  EXPECT_EQ(2, *partitions);
  specs[0].partitions = 4;
  auto status = ensureTopics(testsupport::testKafkaConfig(), specs, std::chrono::seconds(20));
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(std::string::npos, status.error().message.find("fewer than the 4 configured"));
}

}  // namespace
}  // namespace pipeline::kafka
