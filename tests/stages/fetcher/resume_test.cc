#include "stages/fetcher/resume.h"

#include <gtest/gtest.h>

#include "tests/stages/fetcher/test_blocks.h"

namespace stages::fetcher {
namespace {

using testing::syntheticId;

TailRecord block(std::int64_t h, int branch = 0) { return {h, syntheticId(h, branch), false}; }
TailRecord retraction(std::int64_t h, int branch = 0) { return {h, syntheticId(h, branch), true}; }

// Heights spread over partitions: the tip is the highest, recent is the gap-free run below it.
TEST(AnalyzeTailTest, TipAndRecentAcrossPartitions) {
  const auto tail = analyzeTail({{block(97), block(100)}, {block(98), block(101)}, {block(99)}}, 3);
  ASSERT_TRUE(tail.tip.has_value());
  EXPECT_EQ(101, tail.tip->height);
  ASSERT_EQ(3u, tail.recent.size());
  EXPECT_EQ(99, tail.recent.front().height);
  EXPECT_EQ(syntheticId(101, 0), tail.recent.back().block_id);
}

// Retracted heights are not live; a retraction followed by the new block is live again.
TEST(AnalyzeTailTest, LatestRecordPerHeightWins) {
  // A crash in the middle of a fork repair: 102 and 101 retracted, 100 not yet.
  auto tail = analyzeTail({{block(99), block(102), retraction(102)},
                           {block(100), block(101), retraction(101)}}, 10);
  EXPECT_EQ(100, tail.tip->height);
  EXPECT_EQ(syntheticId(100, 0), tail.tip->block_id);
  // After the repair: the new branch is live.
  tail = analyzeTail({{block(99), block(100), retraction(100), block(100, 1)},
                      {block(101), retraction(101), block(101, 1)}}, 10);
  EXPECT_EQ(101, tail.tip->height);
  EXPECT_EQ(syntheticId(101, 1), tail.tip->block_id);
  EXPECT_EQ(3u, tail.recent.size());
  EXPECT_FALSE(analyzeTail({{}, {}}, 5).tip.has_value());
}

// A non-empty tail always wins over fetcher.start; an empty one follows the setting.
// A height missing above the point where every partition's window starts is a real gap (a
// later height was acknowledged, this one never was): resume there rather than skip it. Below
// that point a missing height is only outside the windows read.
TEST(AnalyzeTailTest, ResumesBelowAGap) {
  // Windows of 2 records: partition 0 reaches back to 96, partition 1 to 100.
  auto tail = analyzeTail({{block(96), block(99)}, {block(100), block(103)}, {block(101)}}, 2);
  ASSERT_TRUE(tail.tip.has_value());
  EXPECT_EQ(101, tail.tip->height);  // 102 is missing while 103 exists
  ASSERT_EQ(1u, tail.present_above.size());
  EXPECT_EQ(syntheticId(103, 0), tail.present_above.at(103));
  // Heights below a window start may be missing from what was read: not a gap.
  tail = analyzeTail({{block(90), block(99)}, {block(97), block(100)}, {block(98), block(101)}}, 2);
  EXPECT_EQ(101, tail.tip->height);
}

TEST(DecideStartTest, TailWinsElseSetting) {
  Tail tail;
  tail.tip = BlockRef{499, syntheticId(499, 0)};
  tail.recent = {*tail.tip};
  auto start = decideStart({StartSetting::Mode::Height, 10}, tail, 1000);
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(500, start->next_height);
  EXPECT_EQ(1u, start->recent.size());

  const Tail empty;
  EXPECT_EQ(10, decideStart({StartSetting::Mode::Height, 10}, empty, 1000)->next_height);
  EXPECT_EQ(1000, decideStart({StartSetting::Mode::Head, 0}, empty, 1000)->next_height);
  EXPECT_EQ(pipeline::ErrorType::Unavailable,
            decideStart({StartSetting::Mode::Head, 0}, empty, std::nullopt).error().type);
  const auto resume = decideStart({StartSetting::Mode::Resume, 0}, empty, 1000);
  ASSERT_FALSE(resume.has_value());
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, resume.error().type);
  EXPECT_EQ(0u, resume.error().message.rfind("fetcher.start:", 0));
}

// blocks.raw values read back: retractions, blocks (the fixtures) and garbage.
TEST(TailRecordTest, ReadsRetractionsAndBlocks) {
  BlockParser parser;
  const BlockRef orphan{102, syntheticId(102, 0)};
  const auto value = retractionValue(orphan);
  EXPECT_EQ(R"({"schema":"block.raw.retraction.v1","removed":true,"height":102,"block_id":")" +
                orphan.block_id + "\"}",
            value);
  auto record = tailRecordFrom(value, parser);
  ASSERT_TRUE(record.has_value());
  EXPECT_TRUE(record->retraction);
  EXPECT_EQ(orphan.block_id, record->block_id);

  record = tailRecordFrom(testing::readFixture("testnet-18421767.json"), parser);
  ASSERT_TRUE(record.has_value()) << record.error().message;
  EXPECT_FALSE(record->retraction);
  EXPECT_EQ(18421767, record->height);

  EXPECT_EQ(pipeline::ErrorType::InvalidPayload, tailRecordFrom("{}", parser).error().type);
  EXPECT_EQ(pipeline::ErrorType::InvalidPayload,
            tailRecordFrom(R"({"removed":true})", parser).error().type);
}

}  // namespace
}  // namespace stages::fetcher
