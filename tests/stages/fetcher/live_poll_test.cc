#include "stages/fetcher/live_poll.h"

#include <gtest/gtest.h>

namespace stages::fetcher {
namespace {

constexpr std::int64_t kTs = 1'700'000'000'000;

// Before any block is known, poll at once.
TEST(LivePollTest, PollsAtOnceWhenNothingIsKnown) {
  LivePoll poll;
  EXPECT_EQ(kTs, poll.nextPollAt(kTs));
}

// The next poll aims at the next 3 s slot after the block's own timestamp plus the margin,
// which shrinks while blocks are found at the first try.
TEST(LivePollTest, AimsAtTheNextSlotPlusMargin) {
  LivePoll poll;
  poll.onNewBlock(kTs, kTs + 700);  // seen 700 ms after its slot: the poll was late
  EXPECT_EQ(Millis(285), poll.margin());
  EXPECT_EQ(kTs + 3000 + 285, poll.nextPollAt(kTs + 701));
  poll.onNewBlock(kTs + 3000, kTs + 3285);
  EXPECT_EQ(kTs + 6000 + 270, poll.nextPollAt(kTs + 3300));
}

// Empty polls retry with a growing step, capped by the next expected slot, and a block found
// after empty polls raises the margin towards the delay observed.
TEST(LivePollTest, BacksOffOnEmptyPollsAndAdaptsTheMargin) {
  LivePoll poll;
  poll.onNewBlock(kTs, kTs + 300);
  const std::int64_t first = poll.nextPollAt(kTs + 300);
  EXPECT_EQ(kTs + 3285, first);
  poll.onEmptyPoll(first);
  EXPECT_EQ(first + 250, poll.nextPollAt(first));
  poll.onEmptyPoll(first + 250);
  EXPECT_EQ(first + 250 + 375, poll.nextPollAt(first + 250));
  poll.onEmptyPoll(first + 625);
  EXPECT_EQ(first + 625 + 562, poll.nextPollAt(first + 625));
  poll.onNewBlock(kTs + 3000, first + 1187);  // seen 1472 ms after its slot
  EXPECT_EQ(Millis(285 + (1472 - 285) / 2), poll.margin());
  EXPECT_EQ(0u, poll.emptyPolls());
}

// A missed slot (no block for 6 s) makes the retries converge on the following slot.
TEST(LivePollTest, MissedSlotAimsAtTheFollowingSlot) {
  LivePollOptions options;
  options.empty_step = Millis(2000);
  LivePoll poll(options);
  poll.onNewBlock(kTs, kTs + 300);
  poll.onEmptyPoll(kTs + 3285);
  poll.onEmptyPoll(kTs + 5285);
  // Step would be 3000 ms (capped at a slot) → 8285; the following slot + margin is 6285.
  EXPECT_EQ(kTs + 6285, poll.nextPollAt(kTs + 5285));
  // Never faster than min_interval after the last poll.
  poll.onEmptyPoll(kTs + 6200);
  EXPECT_GE(poll.nextPollAt(kTs + 6200), kTs + 6450);
}

}  // namespace
}  // namespace stages::fetcher
