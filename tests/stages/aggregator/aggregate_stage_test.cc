#include "stages/aggregator/aggregate_stage.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <optional>
#include <vector>

#include "pipeline/metrics/registry.h"
#include "tests/stages/aggregator/test_chain.h"
#include "tests/support/fake_event_sink.h"

namespace stages::aggregator {
namespace {

using pipeline::Outcome;
using testing::ChainBuilder;

constexpr std::int32_t kPartitions = 2;

// block.v1 of a test block (the fields the parser reads).
std::string blockV1(const BlockInput& block) {
  return fmt::format(
      R"({{"schema":"block.v1","height":{},"block_id":"{}","parent_id":"{}","timestamp_ms":{},)"
      R"("witness":"{}","witness_hex":"{}","version":0,"tx_count":{},"tx_by_type":{{}},)"
      R"("tx_failed":{},"trx_transferred_sun":"{}","trc20_transfers":{},"usdt_transfers":{},)"
      R"("usdt_volume":"{}","last_digit":{},"is_odd":{},"size_bytes":100,"fetched_at_ms":1,)"
      R"("decoded_at_ms":2,"source":"test"}})",
      block.height, block.block_id, block.parent_id, block.timestamp_ms, block.witness,
      block.witness_hex, block.tx_count, block.tx_failed, block.trx_transferred_sun,
      block.trc20_transfers, block.usdt_transfers, block.usdt_volume, block.last_digit,
      block.is_odd);
}

std::string retractionV1(const BlockInput& block) {
  return fmt::format(R"({{"schema":"block.v1","removed":true,"height":{},"block_id":"{}"}})",
                     block.height, block.block_id);
}

class AggregateStageTest : public ::testing::Test {
 protected:
  AggregateStageTest() : registry_("aggregator"), stage_metrics_(registry_), metrics_(AggregatorMetrics::create(registry_)) {
    chain_.addRun(20, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0});  // heights 100..119
  }

  std::shared_ptr<AggregateStage> makeStage(AggregatorConfig config = {}) {
    KafkaReads reads{
        .partition_count = [](const std::string&) { return pipeline::Result<std::int32_t>(kPartitions); },
        .head = [this](const std::string&, std::size_t) { return pipeline::Result<PartitionRecords>(head_); },
        .tail = [this](const std::string& topic, std::size_t) {
          EXPECT_EQ("p.aggregator.state", topic);
          PartitionRecords state(1);
          if (checkpoint_) state[0].push_back(pipeline::kafka::Record::make(topic, 0, 7, "aggregator", *checkpoint_));
          return pipeline::Result<PartitionRecords>(std::move(state));
        },
    };
    return std::make_shared<AggregateStage>(
        std::move(config),
        StageTopics{.blocks = "p.blocks", .stats = "p.stats", .dlq = "p.dlq", .state = "p.aggregator.state"},
        std::move(reads),
        StagePorts{.sink = sink_,
                   .metrics = metrics_,
                   .stage_metrics = stage_metrics_,
                   .log = log_,
                   .now = [this] { return now_; },
                   .fail = [this](const pipeline::Status& status) { failures_.push_back(status); }});
  }

  // Offers one record; the outcome stays empty until the stage finishes it.
  std::optional<Outcome>& handle(AggregateStage& stage, std::int32_t partition, std::int64_t offset,
                                 std::string value) {
    outcomes_.push_back(std::nullopt);
    const std::size_t slot = outcomes_.size() - 1;
    stage.handle(pipeline::kafka::Record::make("p.blocks", partition, offset, "k", std::move(value)),
                 [this, slot](Outcome outcome) {
                   ASSERT_FALSE(outcomes_[slot].has_value()) << "finished twice";
                   outcomes_[slot] = outcome;
                 });
    return outcomes_[slot];
  }

  std::size_t eventsTo(const std::string& topic) const {
    std::size_t count = 0;
    for (const auto& event : sink_.events) count += event.topic == topic ? 1 : 0;
    return count;
  }

  ChainBuilder chain_{100};
  PartitionRecords head_;
  std::optional<std::string> checkpoint_;
  TimePoint now_{std::chrono::seconds(100)};
  std::vector<pipeline::Status> failures_;
  testsupport::FakeEventSink sink_;
  pipeline::log::Logger log_{"aggregator"};
  pipeline::metrics::Registry registry_;
  pipeline::StageMetrics stage_metrics_;
  AggregatorMetrics metrics_;
  std::deque<std::optional<Outcome>> outcomes_;
};

// A fresh fold owning every partition: each block's outputs go to stats, the record is finished
// only when the last of them is acknowledged, and a due checkpoint waits for every output sent
// before it; what it stores restores the same fold and resume offsets.
TEST_F(AggregateStageTest, FinishesRecordsAndCheckpointsOnlyAfterTheirOutputsAreAcknowledged) {
  auto stage = makeStage({.start_height = 100});
  const auto starts = stage->assigned({0, 1});
  ASSERT_EQ(2u, starts.size());
  EXPECT_FALSE(starts[0].offset.has_value());  // no checkpoint: from the first record
  auto& first = handle(*stage, 0, 0, blockV1(chain_.blocks()[0]));
  const std::size_t outputs = sink_.events.size();
  ASSERT_GT(outputs, 1u);
  EXPECT_EQ("points:100", sink_.events[0].key);
  sink_.acknowledge(0);
  EXPECT_FALSE(first.has_value());
  auto& second = handle(*stage, 1, 0, blockV1(chain_.blocks()[1]));
  now_ += std::chrono::seconds(2);
  stage->tick();
  EXPECT_EQ(0u, eventsTo("p.aggregator.state")) << "outputs of the first block are unacknowledged";
  EXPECT_EQ(2, registry_.value("point_tron_aggregator_checkpoint_age_seconds"));
  for (std::size_t i = 1; i < outputs; ++i) sink_.acknowledge(i);
  EXPECT_EQ(Outcome::Done, first);
  EXPECT_EQ(0u, eventsTo("p.aggregator.state")) << "the second block's outputs are unacknowledged";
  sink_.acknowledgeFrom(outputs);
  EXPECT_EQ(Outcome::Done, second);
  ASSERT_EQ(1u, eventsTo("p.aggregator.state"));
  const auto& checkpoint = sink_.events.back();
  EXPECT_EQ("aggregator", checkpoint.key);
  auto restored = Aggregator::restore({}, checkpoint.value);
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  EXPECT_EQ(102u, restored->fold()->nextHeight());
  EXPECT_EQ((std::map<std::int32_t, std::int64_t>{{0, 1}, {1, 1}}), restored->buffer().resumeOffsets());
  sink_.acknowledge(sink_.events.size() - 1);
  EXPECT_EQ(1, registry_.value("point_tron_aggregator_checkpoints_total"));
  stage->tick();
  EXPECT_EQ(0, registry_.value("point_tron_aggregator_checkpoint_age_seconds")) << "all saved";
  EXPECT_EQ(2, registry_.value("point_tron_aggregator_folded_blocks_total"));
  EXPECT_EQ(101, registry_.value("point_tron_aggregator_folded_height"));
  EXPECT_TRUE(failures_.empty());
}

// The latest checkpoint on aggregator.state is restored and every partition starts at its
// resume offset; a record that changes nothing is finished at once and counted as a duplicate.
TEST_F(AggregateStageTest, RestoresTheCheckpointAndStartsAtItsResumeOffsets) {
  Aggregator before(AggregatorConfig{.start_height = 100});
  for (std::size_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(before.offer(chain_.blocks()[i], {static_cast<std::int32_t>(i % 2), static_cast<std::int64_t>(i / 2)}, now_));
  }
  checkpoint_ = before.checkpoint();
  auto stage = makeStage();
  const auto starts = stage->assigned({0, 1});
  ASSERT_EQ(2u, starts.size());
  EXPECT_EQ(5, starts[0].offset);
  EXPECT_EQ(5, starts[1].offset);
  EXPECT_EQ(109, registry_.value("point_tron_aggregator_folded_height"));
  EXPECT_EQ(Outcome::Done, handle(*stage, 1, 4, blockV1(chain_.blocks()[9])));
  EXPECT_EQ(1, registry_.value("point_tron_aggregator_dropped_records_total", {{"reason", "duplicate"}}));
  EXPECT_EQ(1, registry_.value("point_tron_stage_discarded_events_total", {{"intentional", "true"}}));
  EXPECT_TRUE(sink_.events.empty());
}

// The statistics gauges follow the folded tip: digits 1..7 are four odd and three even blocks
// (score -1: even +1, odd -1) of three witnesses, all on one day.
TEST_F(AggregateStageTest, StatisticsGaugesFollowTheFoldedTip) {
  Aggregator before(AggregatorConfig{.start_height = 100});
  for (std::size_t i = 0; i < 7; ++i) {
    ASSERT_TRUE(before.offer(chain_.blocks()[i], {0, static_cast<std::int64_t>(i)}, now_));
  }
  checkpoint_ = before.checkpoint();
  auto stage = makeStage();
  (void)stage->assigned({0, 1});
  EXPECT_EQ(-1, registry_.value("point_tron_aggregator_score"));
  EXPECT_EQ(4, registry_.value("point_tron_aggregator_day_blocks", {{"parity", "odd"}}));
  EXPECT_EQ(3, registry_.value("point_tron_aggregator_day_blocks", {{"parity", "even"}}));
  EXPECT_EQ(3, registry_.value("point_tron_aggregator_day_witnesses"));
  EXPECT_EQ(0, registry_.value("point_tron_aggregator_day_missed_slots"));
  auto& eighth = handle(*stage, 0, 7, blockV1(chain_.blocks()[7]));  // digit 8
  sink_.acknowledgeFrom(0);
  EXPECT_EQ(Outcome::Done, eighth);
  EXPECT_EQ(0, registry_.value("point_tron_aggregator_score"));
  EXPECT_EQ(4, registry_.value("point_tron_aggregator_day_blocks", {{"parity", "even"}}));
}

// Without a checkpoint and with start_height auto, the fold starts at the lowest first block of
// the partitions, not at whichever record arrives first.
TEST_F(AggregateStageTest, AutoStartsAtTheLowestFirstHeightOfThePartitions) {
  head_ = {{pipeline::kafka::Record::make("p.blocks", 0, 0, "101", blockV1(chain_.blocks()[1]))},
           {pipeline::kafka::Record::make("p.blocks", 1, 0, "100", blockV1(chain_.blocks()[0]))}};
  auto stage = makeStage();
  (void)stage->assigned({0, 1});
  auto& later = handle(*stage, 0, 0, blockV1(chain_.blocks()[1]));
  EXPECT_TRUE(sink_.events.empty()) << "101 waits for 100";
  EXPECT_EQ(Outcome::Done, later);
  handle(*stage, 1, 0, blockV1(chain_.blocks()[0]));
  EXPECT_EQ("points:100", sink_.events.at(0).key);
}

// Owning only some partitions of blocks (another member in the group) defers every record and
// reports unhealthy; once every partition is assigned the fold starts.
TEST_F(AggregateStageTest, FoldsOnlyWhileOwningEveryPartition) {
  auto stage = makeStage({.start_height = 100});
  EXPECT_TRUE(stage->assigned({1}).empty());
  EXPECT_EQ(pipeline::health::State::Unhealthy, stage->health().state);
  EXPECT_EQ(Outcome::Retry, handle(*stage, 1, 0, blockV1(chain_.blocks()[0])));
  EXPECT_EQ(1, registry_.value("point_tron_aggregator_deferred_records_total", {{"reason", "not_owner"}}));
  stage->revoked({1});
  EXPECT_EQ(2u, stage->assigned({0, 1}).size());
  EXPECT_EQ(pipeline::health::State::Healthy, stage->health().state);
  handle(*stage, 1, 0, blockV1(chain_.blocks()[0]));
  EXPECT_FALSE(sink_.events.empty());
}

// A value that is not block.v1 goes to the DLQ unchanged with its origin; the record is
// rejected once that is acknowledged, retried if the DLQ send fails.
TEST_F(AggregateStageTest, MalformedRecordsGoToTheDlq) {
  auto stage = makeStage({.start_height = 100});
  (void)stage->assigned({0, 1});
  auto& rejected = handle(*stage, 1, 9, "{not json");
  ASSERT_EQ(1u, sink_.events.size());
  const auto& dead = sink_.events[0];
  EXPECT_EQ("p.dlq", dead.topic);
  EXPECT_EQ("k", dead.key);
  EXPECT_EQ("{not json", dead.value);
  std::map<std::string, std::string> headers(dead.headers.begin(), dead.headers.end());
  EXPECT_TRUE(headers["error"].starts_with("invalid_json")) << headers["error"];
  EXPECT_EQ("p.blocks", headers["source_topic"]);
  EXPECT_EQ("1", headers["source_partition"]);
  EXPECT_EQ("9", headers["source_offset"]);
  sink_.acknowledge(0);
  EXPECT_EQ(Outcome::Reject, rejected);
  auto& retried = handle(*stage, 1, 10, "[]");
  sink_.fail(1);
  EXPECT_EQ(Outcome::Retry, retried);
  EXPECT_EQ(2, registry_.value("point_tron_stage_discarded_events_total", {{"intentional", "false"}}));
}

// A retraction's outputs include tombstones (null values) for keys only the orphan had.
TEST_F(AggregateStageTest, RetractionsPublishTombstones) {
  auto stage = makeStage({.start_height = 100});
  (void)stage->assigned({0, 1});
  for (std::size_t i = 0; i < 3; ++i) handle(*stage, 0, static_cast<std::int64_t>(i), blockV1(chain_.blocks()[i]));
  const std::size_t before = sink_.events.size();
  handle(*stage, 0, 3, retractionV1(chain_.blocks()[2]));
  bool tombstoned = false;
  for (std::size_t i = before; i < sink_.events.size(); ++i) {
    if (sink_.events[i].key == "points:102") {
      tombstoned = sink_.events[i].tombstone && sink_.events[i].value.empty();
    }
  }
  EXPECT_TRUE(tombstoned);
  sink_.acknowledgeFrom(0);
  EXPECT_EQ(1, registry_.value("point_tron_aggregator_rollbacks_total"));
  EXPECT_LE(1, registry_.value("point_tron_aggregator_outputs_total", {{"kind", "tombstone"}}));
}

// A lost stats output stops the process and no checkpoint is written after it, not even on
// drain: the restart resumes from the last checkpoint, which never covers a lost output.
TEST_F(AggregateStageTest, ALostOutputStopsTheFoldWithoutCheckpointing) {
  auto stage = makeStage({.start_height = 100});
  (void)stage->assigned({0, 1});
  auto& record = handle(*stage, 0, 0, blockV1(chain_.blocks()[0]));
  sink_.fail(0);
  sink_.acknowledgeFrom(1);
  EXPECT_EQ(Outcome::Retry, record);
  ASSERT_EQ(1u, failures_.size());
  now_ += std::chrono::seconds(5);
  stage->tick();
  bool drained = false;
  stage->drain([&] { drained = true; });
  EXPECT_TRUE(drained);
  EXPECT_EQ(0u, eventsTo("p.aggregator.state"));
  EXPECT_EQ(Outcome::Retry, handle(*stage, 0, 1, blockV1(chain_.blocks()[1])));
}

// The drain writes a final checkpoint of everything folded and finishes once it is acknowledged.
TEST_F(AggregateStageTest, DrainWritesAFinalCheckpoint) {
  auto stage = makeStage({.start_height = 100});
  (void)stage->assigned({0, 1});
  handle(*stage, 0, 0, blockV1(chain_.blocks()[0]));
  bool drained = false;
  stage->drain([&] { drained = true; });
  EXPECT_FALSE(drained);
  sink_.acknowledgeFrom(0);
  ASSERT_EQ(1u, eventsTo("p.aggregator.state"));
  EXPECT_FALSE(drained);
  sink_.acknowledge(sink_.events.size() - 1);
  EXPECT_TRUE(drained);
}

// With the reorder buffer full, blocks above the missing height are deferred (their partition
// pauses) while the missing height itself is still let in and releases the fold.
TEST_F(AggregateStageTest, AFullBufferDefersAllButTheMissingHeight) {
  auto stage = makeStage({.start_height = 100, .reorder_buffer_max_blocks = 2});
  (void)stage->assigned({0, 1});
  handle(*stage, 1, 0, blockV1(chain_.blocks()[1]));
  handle(*stage, 1, 1, blockV1(chain_.blocks()[2]));
  EXPECT_EQ(Outcome::Retry, handle(*stage, 1, 2, blockV1(chain_.blocks()[3])));
  EXPECT_EQ(1, registry_.value("point_tron_aggregator_deferred_records_total", {{"reason", "buffer_full"}}));
  EXPECT_EQ(100, registry_.value("point_tron_aggregator_gap_height"));
  handle(*stage, 0, 0, blockV1(chain_.blocks()[0]));
  sink_.acknowledgeFrom(0);
  EXPECT_EQ(102, registry_.value("point_tron_aggregator_folded_height"));
  EXPECT_EQ(0, registry_.value("point_tron_aggregator_gap_height"));
}

// A missing height older than aggregator.max_gap_age_ms degrades the fold check.
TEST_F(AggregateStageTest, AnOldGapDegradesHealth) {
  auto stage = makeStage({.start_height = 100, .max_gap_age_ms = 5000});
  (void)stage->assigned({0, 1});
  handle(*stage, 1, 0, blockV1(chain_.blocks()[1]));
  EXPECT_EQ(pipeline::health::State::Healthy, stage->health().state);
  now_ += std::chrono::seconds(6);
  const auto health = stage->health();
  EXPECT_EQ(pipeline::health::State::Degraded, health.state);
  EXPECT_NE(std::string::npos, health.detail.find("for height 100")) << health.detail;
}

}  // namespace
}  // namespace stages::aggregator
