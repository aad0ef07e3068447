#include "tests/tronsim/wall_clock.h"

#include <gtest/gtest.h>

namespace tronsim {
namespace {

// A chain with many missed slots, so that 6 s gaps are easy to find.
ChainOptions missingOptions() {
  ChainOptions options;
  options.seed = 5;
  options.profile = Profile::Empty;
  options.first_height = 1'000;
  options.missed_slot_rate = 0.2;
  return options;
}

Chain anchoredChain(std::int64_t height, std::int64_t now_ms) {
  ChainOptions options = missingOptions();
  options.first_timestamp_ms = anchoredFirstTimestampMs(Chain(options), height, now_ms);
  return Chain(options);
}

// The first height after `from` whose block follows a missed slot.
std::int64_t afterMissedSlot(const Chain& chain, std::int64_t from) {
  std::int64_t height = from + 1;
  while (chain.timestampMs(height) - chain.timestampMs(height - 1) == Chain::kSlotMs) ++height;
  return height;
}

// The anchored height is the block of the current slot: its timestamp is now rounded down to
// the 3 s grid, and so is every other block's.
TEST(WallClockTest, AnchorPutsTheHeightInTheCurrentSlot) {
  constexpr std::int64_t kNow = 1'750'000'001'234;
  const Chain chain = anchoredChain(5'000, kNow);
  EXPECT_EQ(kNow - kNow % Chain::kSlotMs, chain.timestampMs(5'000));
  EXPECT_EQ(0, chain.timestampMs(1'000) % Chain::kSlotMs);
  EXPECT_GT(chain.timestampMs(5'001), kNow);
  // On the grid already: the height gets exactly now.
  EXPECT_EQ(1'750'000'002'000, anchoredChain(5'000, 1'750'000'002'000).timestampMs(5'000));
}

// The anchor changes timestamps only: ids, witnesses and slots are those of the unanchored
// chain, and the same anchor gives the same bytes.
TEST(WallClockTest, AnchorKeepsTheChainDeterministic) {
  constexpr std::int64_t kNow = 1'750'000'001'234;
  const Chain plain(missingOptions());
  const Chain anchored = anchoredChain(5'000, kNow);
  EXPECT_EQ(plain.blockId(5'100), anchored.blockId(5'100));
  EXPECT_EQ(plain.slotOf(5'100), anchored.slotOf(5'100));
  EXPECT_EQ(plain.witnessHex(5'100), anchored.witnessHex(5'100));
  EXPECT_EQ(anchored.blockJson(5'100), anchoredChain(5'000, kNow).blockJson(5'100));
  EXPECT_EQ(anchored.blockJson(5'100), anchoredChain(5'000, kNow + 1).blockJson(5'100));
}

// The next block is due exactly at its timestamp, not a millisecond before.
TEST(WallClockTest, NextBlockIsDueAtItsTimestamp) {
  const Chain chain = anchoredChain(5'000, 1'750'000'000'000);
  const std::int64_t next = chain.timestampMs(5'001);
  EXPECT_EQ(5'000, headDueAt(chain, 5'000, next - 1));
  EXPECT_EQ(5'001, headDueAt(chain, 5'000, next));
  EXPECT_EQ(1, msUntilNextBlock(chain, 5'000, next - 1));
  EXPECT_EQ(next - chain.timestampMs(5'000), msUntilNextBlock(chain, 5'000, chain.timestampMs(5'000)));
  EXPECT_EQ(0, msUntilNextBlock(chain, 5'000, next + 500));
}

// A missed slot produces nothing: the block after it is due 6 s after its parent.
TEST(WallClockTest, MissedSlotDelaysTheNextBlock) {
  const Chain chain = anchoredChain(5'000, 1'750'000'000'000);
  const std::int64_t height = afterMissedSlot(chain, 5'000);
  const std::int64_t parent_ms = chain.timestampMs(height - 1);
  ASSERT_EQ(2 * Chain::kSlotMs, chain.timestampMs(height) - parent_ms);
  EXPECT_EQ(height - 1, headDueAt(chain, height - 1, parent_ms + Chain::kSlotMs));
  EXPECT_EQ(2 * Chain::kSlotMs, msUntilNextBlock(chain, height - 1, parent_ms));
  EXPECT_EQ(height, headDueAt(chain, height - 1, parent_ms + 2 * Chain::kSlotMs));
}

// After a stall the head catches up to the clock in one step, across missed slots, and stops
// at the last block that is due.
TEST(WallClockTest, CatchesUpAfterAStall) {
  const Chain chain = anchoredChain(5'000, 1'750'000'000'000);
  for (const std::int64_t target : {5'001, 5'002, 5'037, 5'500, 6'999}) {
    const std::int64_t at = chain.timestampMs(target);
    EXPECT_EQ(target, headDueAt(chain, 5'000, at)) << target;
    EXPECT_EQ(target, headDueAt(chain, 5'000, chain.timestampMs(target + 1) - 1)) << target;
  }
}

// A head set ahead of the clock stays where it is until the clock reaches the next block.
TEST(WallClockTest, HeadAheadOfTheClockStays) {
  const Chain chain = anchoredChain(5'000, 1'750'000'000'000);
  const std::int64_t now = chain.timestampMs(5'000) + 10;
  EXPECT_EQ(5'100, headDueAt(chain, 5'100, now));
  EXPECT_EQ(chain.timestampMs(5'101) - now, msUntilNextBlock(chain, 5'100, now));
}

}  // namespace
}  // namespace tronsim
