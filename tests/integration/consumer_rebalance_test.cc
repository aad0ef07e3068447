#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "pipeline/kafka/consumer.h"
#include "pipeline/kafka/producer.h"
#include "tests/support/kafka_env.h"
#include "tests/support/loop_runner.h"

namespace pipeline::kafka {
namespace {

constexpr int kPartitions = 4;
constexpr int kBatch = 400;

// One group member: its records are finished asynchronously by the test's finishing timer.
struct Member {
  std::unique_ptr<Consumer> consumer;
  std::deque<std::pair<std::string, Completion>> pending;  // value, completion
  std::set<std::int32_t> partitions;                       // partitions it processed records of
  bool hold = false;                                       // leave its records in flight
};

class ConsumerRebalanceTest : public ::testing::Test {
 protected:
  void produceBatch(const std::string& prefix) {
    for (int i = 0; i < kBatch; ++i) {
      std::string value = prefix + std::to_string(i);
      expected_.insert(value);
      producer_->send({.topic = topic_, .key = value, .value = value, .partition = i % kPartitions},
                      [this](const Status& status, const Delivery&) {
                        EXPECT_TRUE(status.isOk()) << status.toString();
                        ++acknowledged_;
                      });
    }
  }

  void startMember(Member& member) {
    auto consumer =
        Consumer::create(runner_.loop(), config_,
                         {.topics = {topic_}, .group_id = group_, .max_in_flight = 100000},
                         stage_metrics_, registry_);
    ASSERT_TRUE(consumer) << consumer.error().message;
    member.consumer = std::move(*consumer);
    ASSERT_TRUE(member.consumer->start([&member](Record record, Completion completion) {
      member.partitions.insert(record.partition());
      member.pending.emplace_back(std::string(record.value()), std::move(completion));
    }));
  }

  void finishPending(Member& member) {
    if (member.hold) return;
    for (auto& [value, completion] : member.pending) {
      ++processed_[value];
      completion.done();
    }
    member.pending.clear();
  }

  bool allProcessed() const {
    for (const auto& value : expected_) {
      if (!processed_.contains(value)) return false;
    }
    return true;
  }

  void close(Member& member) {
    bool closed = false;
    member.consumer->close(std::chrono::seconds(10), [&](Status status) {
      EXPECT_TRUE(status.isOk()) << status.toString();
      closed = true;
    });
    ASSERT_TRUE(runner_.runUntil([&] { return closed; }, std::chrono::seconds(20)));
  }

  testsupport::LoopRunner runner_;
  metrics::Registry registry_{"test"};
  StageMetrics stage_metrics_{registry_};
  KafkaConfig config_ = testsupport::testKafkaConfig();
  std::string topic_ = testsupport::createTopic("rebalance", kPartitions);
  std::string group_ = testsupport::uniqueGroup("rebalance");
  std::unique_ptr<Producer> producer_;
  int acknowledged_ = 0;
  std::set<std::string> expected_;
  std::map<std::string, int> processed_;  // value -> times finished with done()
};

// Two members of one group split a 4-partition topic; when one leaves while holding records in
// flight, the other takes over every partition and all records produced before and after the
// rebalance are processed. Only the leaver's in-flight records may be processed twice.
TEST_F(ConsumerRebalanceTest, SurvivorTakesOverEveryPartitionWithoutLoss) {
  auto producer = Producer::create(runner_.loop(), config_, stage_metrics_, registry_);
  ASSERT_TRUE(producer) << producer.error().message;
  producer_ = std::move(*producer);
  Member first;
  Member second;
  startMember(first);
  startMember(second);
  auto finisher = uv::Timer::create(runner_.loop());
  ASSERT_TRUE(finisher);
  ASSERT_TRUE(finisher->start(5, 5, [&] {
    finishPending(first);
    finishPending(second);
  }));

  // Both members own partitions (an eager rebalance passes through 4+0 on its way to 2+2).
  ASSERT_TRUE(runner_.runUntil(
      [&] {
        return first.consumer->assignedPartitions() > 0 &&
               second.consumer->assignedPartitions() > 0 &&
               first.consumer->assignedPartitions() + second.consumer->assignedPartitions() ==
                   kPartitions;
      },
      std::chrono::seconds(30)));

  produceBatch("before-");
  ASSERT_TRUE(runner_.runUntil([&] { return allProcessed(); }, std::chrono::seconds(30)));
  EXPECT_FALSE(first.partitions.empty());
  EXPECT_FALSE(second.partitions.empty());
  for (auto partition : first.partitions) EXPECT_FALSE(second.partitions.contains(partition));
  for (const auto& [value, times] : processed_) EXPECT_EQ(1, times) << value;

  // The first member leaves while records of the second batch are in flight in it.
  first.hold = true;
  produceBatch("during-");
  ASSERT_TRUE(runner_.runUntil([&] { return !first.pending.empty(); }, std::chrono::seconds(30)));
  const std::size_t in_flight_at_leave = first.consumer->inFlight();
  ASSERT_GT(in_flight_at_leave, 0u);
  first.hold = false;  // close() waits for them to finish before it commits and leaves
  close(first);
  ASSERT_TRUE(runner_.runUntil(
      [&] { return second.consumer->assignedPartitions() == static_cast<std::size_t>(kPartitions); },
      std::chrono::seconds(30)));

  second.partitions.clear();
  produceBatch("after-");
  ASSERT_TRUE(runner_.runUntil([&] { return allProcessed(); }, std::chrono::seconds(30)));
  EXPECT_EQ(kPartitions, static_cast<int>(second.partitions.size()));
  // A record can be consumed before its producer's delivery report is served: wait for those.
  EXPECT_TRUE(runner_.runUntil([&] { return acknowledged_ == 3 * kBatch; }, std::chrono::seconds(10)))
      << acknowledged_;

  std::size_t duplicates = 0;
  for (const auto& value : expected_) {
    EXPECT_TRUE(processed_.contains(value)) << "lost: " << value;
    if (processed_[value] > 1) duplicates += static_cast<std::size_t>(processed_[value] - 1);
  }
  EXPECT_LE(duplicates, in_flight_at_leave);
  EXPECT_EQ(expected_.size(), processed_.size());
  finisher->close();
  close(second);
}

// Static membership: a second member that joins with the same group.instance.id takes the first
// one's place, and the broker fences the first. The fenced consumer must report the fatal error
// (the runtime then fails the stage and its supervisor restarts it) instead of carrying on as a
// member that reads nothing.
TEST_F(ConsumerRebalanceTest, FencedStaticMemberReportsFatalError) {
  config_.rdkafka["group.instance.id"] = "fenced-test";
  Member first;
  startMember(first);
  std::optional<Status> first_fatal;
  first.consumer->onFatal([&](Status status) { first_fatal = std::move(status); });
  ASSERT_TRUE(runner_.runUntil([&] { return first.consumer->assignedPartitions() == kPartitions; },
                               std::chrono::seconds(30)));

  Member second;
  startMember(second);
  second.consumer->onFatal([](Status status) { ADD_FAILURE() << status.toString(); });
  ASSERT_TRUE(runner_.runUntil([&] { return first_fatal.has_value(); }, std::chrono::seconds(60)));
  EXPECT_EQ(ErrorType::Kafka, first_fatal->error().type) << first_fatal->toString();
  EXPECT_NE(std::string::npos, first_fatal->error().message.find("FENCED")) << first_fatal->toString();
  EXPECT_TRUE(runner_.runUntil([&] { return second.consumer->assignedPartitions() == kPartitions; },
                               std::chrono::seconds(30)));
}

}  // namespace
}  // namespace pipeline::kafka
