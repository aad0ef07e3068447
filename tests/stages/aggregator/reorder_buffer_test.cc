#include "stages/aggregator/reorder_buffer.h"

#include <gtest/gtest.h>

#include "tests/stages/aggregator/test_chain.h"

namespace stages::aggregator {
namespace {

using testing::ChainBuilder;
using testing::kDay20787Ms;

TimePoint at(int seconds) { return TimePoint(std::chrono::seconds(seconds)); }

// Feeds `fold` from `buffer` the way the Aggregator does.
void drain(ReorderBuffer& buffer, Fold& fold, TimePoint now) {
  while (auto block = buffer.popReady(fold, now)) ASSERT_TRUE(fold.apply(*block).has_value());
}

// Out-of-order heights wait; the gap is the next height, aged from when it was first waited for
// and unchanged by later arrivals; filling it releases everything in order.
TEST(ReorderBufferTest, GapAgeAndRelease) {
  ChainBuilder chain(100);
  chain.addRun(5, {1, 2});
  const auto& blocks = chain.blocks();
  Fold fold({}, 100);
  ReorderBuffer buffer(100);
  EXPECT_EQ(Admission::Buffered, buffer.add(blocks[0], {0, 0}, fold, at(1)).admission);
  drain(buffer, fold, at(1));
  EXPECT_EQ(101u, fold.nextHeight());
  EXPECT_FALSE(buffer.gap().has_value());  // nothing waiting above the tip

  (void)buffer.add(blocks[2], {2, 0}, fold, at(5));
  drain(buffer, fold, at(5));
  ASSERT_TRUE(buffer.gap().has_value());
  EXPECT_EQ(101u, buffer.gap()->height);
  EXPECT_EQ(at(5), buffer.gap()->since);
  EXPECT_FALSE(buffer.gap()->parent_mismatch);
  (void)buffer.add(blocks[3], {0, 1}, fold, at(9));
  drain(buffer, fold, at(9));
  EXPECT_EQ(at(5), buffer.gap()->since);  // still the same missing height
  EXPECT_EQ(2u, buffer.depth());

  (void)buffer.add(blocks[1], {1, 0}, fold, at(12));
  drain(buffer, fold, at(12));
  EXPECT_EQ(104u, fold.nextHeight());
  EXPECT_FALSE(buffer.gap().has_value());
  EXPECT_EQ(0u, buffer.depth());
}

// A record folded or buffered already is a Duplicate; a block below the kept history is TooOld.
TEST(ReorderBufferTest, Duplicates) {
  ChainBuilder chain(100);
  chain.addRun(3, {1, 2});
  const auto& blocks = chain.blocks();
  Fold fold({}, 100);
  ReorderBuffer buffer(100);
  (void)buffer.add(blocks[0], {0, 0}, fold, at(0));
  drain(buffer, fold, at(0));
  EXPECT_EQ(Admission::Duplicate, buffer.add(blocks[0], {0, 1}, fold, at(0)).admission);
  (void)buffer.add(blocks[2], {2, 0}, fold, at(0));
  EXPECT_EQ(Admission::Duplicate, buffer.add(blocks[2], {2, 1}, fold, at(0)).admission);
  EXPECT_EQ(2u, buffer.counters().duplicates);
  auto below = blocks[0];
  below.height = 99;
  EXPECT_EQ(Admission::TooOld, buffer.add(below, {0, 2}, fold, at(0)).admission);
  EXPECT_EQ(1u, buffer.counters().too_old);
}

// The capacity is advisory: full() at the cap, records are still taken.
TEST(ReorderBufferTest, FullAtCap) {
  ChainBuilder chain(100);
  chain.addRun(4, {1});
  Fold fold({}, 100);
  ReorderBuffer buffer(2);
  (void)buffer.add(chain.blocks()[2], {0, 0}, fold, at(0));
  EXPECT_FALSE(buffer.full());
  (void)buffer.add(chain.blocks()[3], {0, 1}, fold, at(0));
  EXPECT_TRUE(buffer.full());
  EXPECT_EQ(Admission::Buffered, buffer.add(chain.blocks()[1], {1, 0}, fold, at(0)).admission);
}

// Retractions: of a folded block → Retract from its height; of a buffered block → removed; of
// anything else → stale.
TEST(ReorderBufferTest, RetractionsOfFoldedAndBufferedBlocks) {
  ChainBuilder chain(100);
  chain.addRun(5, {1, 2});
  const auto& blocks = chain.blocks();
  Fold fold({}, 100);
  ReorderBuffer buffer(100);
  for (int i = 0; i < 3; ++i) (void)buffer.add(blocks[static_cast<std::size_t>(i)], {0, i}, fold, at(0));
  drain(buffer, fold, at(0));
  (void)buffer.add(blocks[4], {1, 0}, fold, at(0));

  const auto folded = buffer.add(Retraction{102, blocks[2].block_id}, {0, 3}, fold, at(0));
  EXPECT_EQ(Admission::Retract, folded.admission);
  EXPECT_EQ(102u, folded.retract_from);
  EXPECT_EQ(Admission::RetractedPending,
            buffer.add(Retraction{104, blocks[4].block_id}, {1, 1}, fold, at(0)).admission);
  EXPECT_EQ(0u, buffer.depth());
  EXPECT_EQ(Admission::StaleRetraction,
            buffer.add(Retraction{101, testing::blockId(101, 9, 1)}, {1, 2}, fold, at(0)).admission);
  EXPECT_EQ(1u, buffer.counters().stale_retractions);
}

// A replacement whose parent is not the tip waits (parent mismatch) until the retraction of the
// lower height arrives and its own replacement is folded.
TEST(ReorderBufferTest, ReplacementWaitsForItsParent) {
  ChainBuilder a(100);
  a.addRun(4, {1, 2});
  auto b = ChainBuilder::forkOf(a.blocks(), 102, 1);
  b.addRun(2, {5});
  Fold fold({}, 100);
  ReorderBuffer buffer(100);
  for (std::size_t i = 0; i < 4; ++i) (void)buffer.add(a.blocks()[i], {0, static_cast<std::int64_t>(i)}, fold, at(0));
  drain(buffer, fold, at(0));
  // Partition of 103 delivers first: R(103) then B103; B103's parent B102 is not folded.
  auto retract = buffer.add(Retraction{103, a.blocks()[3].block_id}, {1, 0}, fold, at(1));
  ASSERT_EQ(Admission::Retract, retract.admission);
  (void)fold.retractFrom(retract.retract_from);
  (void)buffer.add(b.blocks()[3], {1, 1}, fold, at(1));
  drain(buffer, fold, at(1));
  EXPECT_EQ(103u, fold.nextHeight());
  ASSERT_TRUE(buffer.gap().has_value());
  EXPECT_TRUE(buffer.gap()->parent_mismatch);
  // Then the partition of 102: R(102), B102.
  retract = buffer.add(Retraction{102, a.blocks()[2].block_id}, {2, 0}, fold, at(2));
  ASSERT_EQ(Admission::Retract, retract.admission);
  (void)fold.retractFrom(retract.retract_from);
  (void)buffer.add(b.blocks()[2], {2, 1}, fold, at(2));
  drain(buffer, fold, at(2));
  EXPECT_EQ(104u, fold.nextHeight());
  EXPECT_EQ(b.blocks()[3].block_id, *fold.blockIdAt(103));
  EXPECT_FALSE(buffer.gap().has_value());
}

// Resume offsets: per partition, the lowest buffered record's offset, else one past the last.
TEST(ReorderBufferTest, ResumeOffsets) {
  ChainBuilder chain(100);
  chain.addRun(5, {1, 2});
  const auto& blocks = chain.blocks();
  Fold fold({}, 100);
  ReorderBuffer buffer(100);
  (void)buffer.add(blocks[0], {0, 10}, fold, at(0));
  drain(buffer, fold, at(0));
  (void)buffer.add(blocks[2], {1, 20}, fold, at(0));  // waits for 101
  (void)buffer.add(blocks[4], {1, 21}, fold, at(0));
  (void)buffer.add(blocks[3], {0, 11}, fold, at(0));
  const std::map<std::int32_t, std::int64_t> expected = {{0, 11}, {1, 20}};
  EXPECT_EQ(expected, buffer.resumeOffsets());
}

}  // namespace
}  // namespace stages::aggregator
