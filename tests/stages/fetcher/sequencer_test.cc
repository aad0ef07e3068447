#include "stages/fetcher/sequencer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "tests/stages/fetcher/test_blocks.h"

namespace stages::fetcher {
namespace {

using namespace std::chrono_literals;
using testing::SyntheticChain;

const TimePoint kT0 = TimePoint(std::chrono::hours(1));

StartPoint startAfter(const SyntheticChain& chain, std::int64_t next, std::int64_t known = 1) {
  StartPoint start{next, {}};
  for (std::int64_t h = next - known; h < next; ++h) start.recent.push_back({h, chain.id(h)});
  return start;
}

std::vector<ParsedBlock> blocks(const SyntheticChain& chain, std::int64_t from, std::int64_t to) {
  std::vector<ParsedBlock> out;
  for (std::int64_t h = from; h < to; ++h) out.push_back(chain.block(h));
  return out;
}

// Collects outputs and checks that blocks come in height order and link to each other.
struct Emitted {
  std::vector<Output> all;
  void take(Sequencer& sequencer) {
    for (auto& o : sequencer.takeOutput()) all.push_back(std::move(o));
  }
  std::vector<std::int64_t> heights(Output::Type type) const {
    std::vector<std::int64_t> out;
    for (const auto& o : all) {
      if (o.type == type) out.push_back(o.block.height);
    }
    return out;
  }
};

// 10,000 heights, answered in random order, with random partial answers (prefixes, holes,
// duplicates, blocks outside the range), `{}` and failures: every height is emitted exactly
// once, in order, each linking to the previous; the byte cap holds throughout.
class SequencerCatchUpTest : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(SequencerCatchUpTest, RandomAnswersEmitEveryHeightOnceInOrder) {
  SyntheticChain chain(/*padding=*/900);
  SequencerOptions options;
  options.range_size = 37;
  options.max_in_flight_requests = 6;
  options.block_size_estimate_bytes = 1000;
  options.max_in_flight_bytes = 120'000;
  Sequencer sequencer(options, startAfter(chain, 1000), [] { return 0.3; });
  sequencer.setHeadHeight(10'999);
  std::mt19937_64 rng(GetParam());
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  std::vector<FetchRequest> outstanding;
  Emitted emitted;
  std::uint64_t max_bytes = 0;
  auto now = kT0;
  for (int step = 0; step < 200'000 && sequencer.nextHeight() <= 10'999; ++step) {
    for (auto& request : sequencer.plan(now)) {
      EXPECT_LE(request.end - request.start, 37);
      EXPECT_LE(request.end, 11'000);
      outstanding.push_back(request);
    }
    max_bytes = std::max(max_bytes, sequencer.bytesInFlight());
    if (outstanding.empty()) {
      if (sequencer.unacknowledgedBytes() > 0) {  // the broker catches up
        sequencer.onDelivered(sequencer.unacknowledgedBytes());
        continue;
      }
      ASSERT_NE(TimePoint::max(), sequencer.nextDueAt(now)) << "stalled at " << sequencer.nextHeight();
      now = sequencer.nextDueAt(now);
      continue;
    }
    std::uniform_int_distribution<std::size_t> pick(0, outstanding.size() - 1);
    const auto index = pick(rng);
    const auto request = outstanding[index];
    outstanding.erase(outstanding.begin() + static_cast<std::ptrdiff_t>(index));
    if (chance(0.08)) {
      sequencer.onEmpty(request.id, now);
    } else if (chance(0.08)) {
      sequencer.onFailure(request.id, now);
    } else {
      auto answer = blocks(chain, request.start, request.end);
      if (chance(0.25)) {  // partial: a prefix, then random holes
        answer.resize(std::uniform_int_distribution<std::size_t>(0, answer.size())(rng));
        std::erase_if(answer, [&](const ParsedBlock&) { return chance(0.1); });
      }
      if (chance(0.1)) answer.push_back(chain.block(request.end + 5));      // out of range
      if (chance(0.1) && !answer.empty()) answer.push_back(answer.front());  // duplicate
      if (chance(0.1) && request.start > 1000) answer.push_back(chain.block(request.start - 1));
      std::shuffle(answer.begin(), answer.end(), rng);
      sequencer.onBlocks(request.id, std::move(answer), now);
    }
    emitted.take(sequencer);
    if (chance(0.5)) {  // the broker acknowledges what was emitted so far
      sequencer.onDelivered(sequencer.unacknowledgedBytes());
    }
    now += std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(rng));
  }
  ASSERT_TRUE(sequencer.status().isOk()) << sequencer.status().toString();
  ASSERT_EQ(11000, sequencer.nextHeight()) << "fork=" << sequencer.forkInProgress() << " pending=" << sequencer.requestsInFlight() << " outstanding=" << outstanding.size() << " bytes=" << sequencer.bytesInFlight();
  const auto heights = emitted.heights(Output::Type::Block);
  ASSERT_EQ(10'000u, heights.size());
  for (std::size_t i = 0; i < heights.size(); ++i) {
    ASSERT_EQ(static_cast<std::int64_t>(1000 + i), heights[i]);
    ASSERT_EQ(chain.id(heights[i] - 1), emitted.all[i].block.parent_id);
  }
  EXPECT_TRUE(emitted.heights(Output::Type::Retraction).empty());
  EXPECT_EQ(10'000u, sequencer.stats().emitted_blocks);
  EXPECT_GT(sequencer.stats().gaps_repaired, 0u);
  EXPECT_GT(sequencer.stats().duplicates_ignored, 0u);
  EXPECT_GT(sequencer.stats().out_of_range_ignored, 0u);
  // Soft cap: at most one block (the head-of-line exception, estimated at 1000 B) above it.
  EXPECT_LE(max_bytes, options.max_in_flight_bytes + options.block_size_estimate_bytes);
  EXPECT_GT(max_bytes, options.max_in_flight_bytes / 2);
  EXPECT_TRUE(sequencer.caughtUp());
}

INSTANTIATE_TEST_SUITE_P(Seeds, SequencerCatchUpTest, ::testing::Values(1, 2, 3, 42, 1234));

// The byte cap bounds requests; unacknowledged output stops fetching until the broker catches up.
TEST(SequencerTest, ByteCapBoundsRequestsAndUnacknowledgedOutput) {
  SyntheticChain chain(/*padding=*/960);
  const std::uint64_t block_bytes = chain.block(1).raw_json.size();
  SequencerOptions options;
  options.range_size = 5;
  options.max_in_flight_requests = 10;
  options.block_size_estimate_bytes = block_bytes;
  options.max_in_flight_bytes = 12 * block_bytes;
  Sequencer sequencer(options, startAfter(chain, 1), [] { return 0.0; });
  sequencer.setHeadHeight(1000);
  auto requests = sequencer.plan(kT0);
  ASSERT_EQ(3u, requests.size());  // 5 + 5 + 2 blocks = the cap
  EXPECT_EQ(2, requests[2].end - requests[2].start);
  EXPECT_LE(sequencer.bytesInFlight(), options.max_in_flight_bytes);
  EXPECT_TRUE(sequencer.plan(kT0).empty());
  // Answers arrive; nothing is acknowledged: the emitted bytes keep the cap full.
  for (const auto& r : requests) sequencer.onBlocks(r.id, blocks(chain, r.start, r.end), kT0);
  EXPECT_EQ(12u, sequencer.takeOutput().size());
  EXPECT_EQ(12 * block_bytes, sequencer.unacknowledgedBytes());
  EXPECT_TRUE(sequencer.plan(kT0).empty());
  sequencer.onDelivered(6 * block_bytes);
  requests = sequencer.plan(kT0);
  ASSERT_EQ(2u, requests.size());
  EXPECT_EQ(13, requests[0].start);
  EXPECT_EQ(6, (requests[0].end - requests[0].start) + (requests[1].end - requests[1].start));
}

// The head-of-line request may exceed the cap by one block, so progress never deadlocks.
TEST(SequencerTest, HeadOfLineRequestIsAlwaysPossible) {
  SyntheticChain chain(/*padding=*/2000);
  SequencerOptions options;
  options.range_size = 10;
  options.block_size_estimate_bytes = 100'000;  // over the cap on its own
  options.max_in_flight_bytes = 50'000;
  Sequencer sequencer(options, startAfter(chain, 1), [] { return 0.0; });
  sequencer.setHeadHeight(100);
  auto requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(1, requests[0].start);
  EXPECT_EQ(2, requests[0].end);
}

// A partial answer is completed at once by asking for the rest; `{}` is asked again later, halved.
TEST(SequencerTest, PartialAnswersAreReaskedAndEmptyAnswersSplit) {
  SyntheticChain chain;
  SequencerOptions options;
  options.range_size = 20;
  options.max_in_flight_requests = 1;
  options.retry_backoff = BackoffPolicy{Millis(100), Millis(1000), 2.0, 0.0};
  Sequencer sequencer(options, startAfter(chain, 100), nullptr);
  sequencer.setHeadHeight(119);
  auto requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  sequencer.onBlocks(requests[0].id, blocks(chain, 100, 110), kT0);
  EXPECT_EQ(10u, sequencer.takeOutput().size());
  requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(110, requests[0].start);
  EXPECT_EQ(120, requests[0].end);
  EXPECT_EQ(10u, sequencer.stats().gaps_repaired);

  sequencer.onEmpty(requests[0].id, kT0);
  // Second attempt for these heights: 200 ms.
  EXPECT_TRUE(sequencer.plan(kT0 + 199ms).empty());
  EXPECT_EQ(kT0 + 200ms, sequencer.nextDueAt(kT0));
  requests = sequencer.plan(kT0 + 200ms);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(110, requests[0].start);
  EXPECT_EQ(115, requests[0].end);
  sequencer.onBlocks(requests[0].id, blocks(chain, 110, 115), kT0 + 200ms);
  requests = sequencer.plan(kT0 + 200ms);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(115, requests[0].start);
  EXPECT_EQ(120, requests[0].end);
}

// A fork of depth 3: the walk-back finds the fork point, then three retractions (highest first)
// and the new branch (lowest first).
TEST(SequencerTest, ForkOfDepthThreeRetractsThenEmitsNewBranch) {
  SyntheticChain chain;
  SequencerOptions options;
  options.max_fork_depth = 3;
  Sequencer sequencer(options, startAfter(chain, 90), nullptr);
  sequencer.setHeadHeight(102);
  for (const auto& r : sequencer.plan(kT0)) {
    sequencer.onBlocks(r.id, blocks(chain, r.start, r.end), kT0);
  }
  ASSERT_EQ(13u, sequencer.takeOutput().size());
  const std::vector<std::string> orphaned = {chain.id(102), chain.id(101), chain.id(100)};

  chain.fork(100);
  sequencer.onHead(chain.block(103));
  EXPECT_TRUE(sequencer.forkInProgress());
  EXPECT_TRUE(sequencer.takeOutput().empty());
  for (std::int64_t h = 102; h >= 99; --h) {
    auto requests = sequencer.plan(kT0);
    ASSERT_EQ(1u, requests.size());
    EXPECT_TRUE(requests[0].walk_back);
    EXPECT_EQ(h, requests[0].start);
    EXPECT_EQ(h + 1, requests[0].end);
    sequencer.onBlocks(requests[0].id, {chain.block(h)}, kT0);
  }
  EXPECT_FALSE(sequencer.forkInProgress());
  const auto out = sequencer.takeOutput();
  ASSERT_EQ(7u, out.size());
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(Output::Type::Retraction, out[i].type);
    EXPECT_EQ(102 - static_cast<std::int64_t>(i), out[i].block.height);
    EXPECT_EQ(orphaned[i], out[i].block.block_id);
  }
  for (std::size_t i = 3; i < 7; ++i) {
    EXPECT_EQ(Output::Type::Block, out[i].type);
    EXPECT_EQ(static_cast<std::int64_t>(97 + i), out[i].block.height);
    EXPECT_EQ(chain.id(out[i].block.height), out[i].block.block_id);
  }
  EXPECT_EQ(chain.id(99), out[3].block.parent_id);
  EXPECT_EQ(1u, sequencer.stats().forks);
  EXPECT_EQ(3u, sequencer.stats().retractions);
  EXPECT_EQ(104, sequencer.nextHeight());
  EXPECT_EQ((BlockRef{103, chain.id(103)}), sequencer.tip());
}

// A fork deeper than max_fork_depth stops the sequencer with an Internal error.
TEST(SequencerTest, ForkDeeperThanLimitFails) {
  SyntheticChain chain;
  SequencerOptions options;
  options.max_fork_depth = 2;
  Sequencer sequencer(options, startAfter(chain, 90), nullptr);
  sequencer.setHeadHeight(102);
  for (const auto& r : sequencer.plan(kT0)) {
    sequencer.onBlocks(r.id, blocks(chain, r.start, r.end), kT0);
  }
  (void)sequencer.takeOutput();
  chain.fork(100);
  sequencer.onHead(chain.block(103));
  for (std::int64_t h = 102; h >= 100; --h) {
    auto requests = sequencer.plan(kT0);
    ASSERT_EQ(1u, requests.size());
    sequencer.onBlocks(requests[0].id, {chain.block(h)}, kT0);
  }
  EXPECT_EQ(pipeline::ErrorType::Internal, sequencer.status().error().type);
  EXPECT_NE(std::string::npos, sequencer.status().error().message.find("max_fork_depth"));
  EXPECT_TRUE(sequencer.plan(kT0).empty());
  EXPECT_TRUE(sequencer.takeOutput().empty());
}

// When nodes disagree (the walk-back finds the emitted block right below a non-linking one), the
// branch is dropped and the next height asked again after a backoff; nothing is retracted.
TEST(SequencerTest, InconsistentWalkBackAsksAgain) {
  SyntheticChain chain;
  SyntheticChain other;
  other.fork(0);  // a chain where every id differs
  SequencerOptions options;
  options.retry_backoff = BackoffPolicy{Millis(100), Millis(1000), 2.0, 0.0};
  Sequencer sequencer(options, startAfter(chain, 10), nullptr);
  sequencer.setHeadHeight(10);
  auto requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  auto stray = chain.block(10);
  stray.parent_id = other.id(9);
  stray.block_id = other.id(10);
  sequencer.onBlocks(requests[0].id, {stray}, kT0);
  requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  ASSERT_TRUE(requests[0].walk_back);
  // The probe at 9 returns exactly what was emitted, yet the block at 10 did not link to it.
  sequencer.onBlocks(requests[0].id, {chain.block(9)}, kT0);
  EXPECT_FALSE(sequencer.forkInProgress());
  EXPECT_TRUE(sequencer.takeOutput().empty());
  EXPECT_TRUE(sequencer.plan(kT0).empty());
  requests = sequencer.plan(kT0 + 100ms);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(10, requests[0].start);
  sequencer.onBlocks(requests[0].id, {chain.block(10)}, kT0 + 100ms);
  const auto out = sequencer.takeOutput();
  ASSERT_EQ(1u, out.size());
  EXPECT_EQ(chain.id(10), out[0].block.block_id);
  EXPECT_EQ(0u, sequencer.stats().forks);
  EXPECT_EQ(2u, sequencer.stats().link_mismatches);
}

// Confirmations mode emits only heights <= head - N; the head block itself is not taken.
TEST(SequencerTest, ConfirmationsModeStaysBehindTheHead) {
  SyntheticChain chain;
  SequencerOptions options;
  options.finality = FinalityMode::Confirmations;
  options.confirmations = 19;
  options.range_size = 100;
  Sequencer sequencer(options, startAfter(chain, 150), nullptr);
  EXPECT_TRUE(sequencer.plan(kT0).empty());  // head unknown
  sequencer.onHead(chain.block(200));
  EXPECT_EQ(181, sequencer.target());
  auto requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(150, requests[0].start);
  EXPECT_EQ(182, requests[0].end);
  sequencer.onBlocks(requests[0].id, blocks(chain, 150, 201), kT0);  // more than asked
  const auto out = sequencer.takeOutput();
  ASSERT_EQ(32u, out.size());
  EXPECT_EQ(181, out.back().block.height);
  EXPECT_TRUE(sequencer.caughtUp());
  EXPECT_EQ(19, sequencer.lagBlocks());
}

// Solidified mode follows the solidified head only; its block is taken without a request.
TEST(SequencerTest, SolidifiedModeFollowsTheSolidifiedHead) {
  SyntheticChain chain;
  SequencerOptions options;
  options.finality = FinalityMode::Solidified;
  Sequencer sequencer(options, startAfter(chain, 170), nullptr);
  sequencer.onHead(chain.block(200));
  EXPECT_EQ(-1, sequencer.target());
  EXPECT_TRUE(sequencer.plan(kT0).empty());
  sequencer.setSolidifiedHeadHeight(180);
  auto requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(181, requests[0].end);
  sequencer.onBlocks(requests[0].id, blocks(chain, 170, 181), kT0);
  EXPECT_EQ(11u, sequencer.takeOutput().size());
  sequencer.onSolidifiedHead(chain.block(181));
  const auto out = sequencer.takeOutput();
  ASSERT_EQ(1u, out.size());
  EXPECT_EQ(181, out[0].block.height);
  EXPECT_TRUE(sequencer.plan(kT0).empty());
}

// Resuming after the tail never re-emits an acknowledged height and checks the first new block
// against the tail's blockID.
TEST(SequencerTest, ResumeNeitherReemitsNorSkips) {
  SyntheticChain chain;
  Sequencer sequencer(SequencerOptions{}, startAfter(chain, 500, 3), nullptr);
  ASSERT_EQ((BlockRef{499, chain.id(499)}), sequencer.tip());
  sequencer.setHeadHeight(505);
  auto requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(500, requests[0].start);
  auto answer = blocks(chain, 497, 506);  // a node that answers from further back
  sequencer.onBlocks(requests[0].id, answer, kT0);
  const auto out = sequencer.takeOutput();
  ASSERT_EQ(6u, out.size());
  EXPECT_EQ(500, out.front().block.height);
  EXPECT_EQ(505, out.back().block.height);
}

// Resuming where the first new block does not link to the tail goes through the fork repair
// with the remembered tail, never emitting the unlinked block directly.
TEST(SequencerTest, ResumeVerifiesTheLinkToTheTail) {
  SyntheticChain chain;
  Sequencer sequencer(SequencerOptions{}, startAfter(chain, 500, 3), nullptr);
  chain.fork(499);
  sequencer.onHead(chain.block(500));
  EXPECT_TRUE(sequencer.takeOutput().empty());
  EXPECT_TRUE(sequencer.forkInProgress());
  for (std::int64_t h = 499; h >= 498; --h) {
    auto requests = sequencer.plan(kT0);
    ASSERT_EQ(1u, requests.size());
    sequencer.onBlocks(requests[0].id, {chain.block(h)}, kT0);
  }
  const auto out = sequencer.takeOutput();
  ASSERT_EQ(3u, out.size());
  EXPECT_EQ(Output::Type::Retraction, out[0].type);
  EXPECT_EQ(499, out[0].block.height);
  EXPECT_EQ(499, out[1].block.height);
  EXPECT_EQ(500, out[2].block.height);
}

// Live mode: the head block from getnowblock is emitted without another request.
TEST(SequencerTest, HeadBlockIsTakenInLiveMode) {
  SyntheticChain chain;
  Sequencer sequencer(SequencerOptions{}, startAfter(chain, 1000), nullptr);
  sequencer.onHead(chain.block(1000));
  auto out = sequencer.takeOutput();
  ASSERT_EQ(1u, out.size());
  EXPECT_TRUE(sequencer.caughtUp());
  EXPECT_TRUE(sequencer.plan(kT0).empty());
  // A head two ahead: the missing height is fetched, the head block is not asked for again.
  sequencer.onHead(chain.block(1002));
  auto requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(1001, requests[0].start);
  EXPECT_EQ(1003, requests[0].end);
  sequencer.onBlocks(requests[0].id, blocks(chain, 1001, 1003), kT0);
  out = sequencer.takeOutput();
  ASSERT_EQ(2u, out.size());
  EXPECT_EQ(1002, out[1].block.height);
  EXPECT_EQ(0u, sequencer.stats().gaps_repaired);
}

// A request that could not be sent (no node) is asked again at the given time, without backoff.
TEST(SequencerTest, CancelledRequestIsReplannedAtTheGivenTime) {
  SyntheticChain chain;
  Sequencer sequencer(SequencerOptions{}, startAfter(chain, 1), nullptr);
  sequencer.setHeadHeight(10);
  auto requests = sequencer.plan(kT0);
  ASSERT_EQ(1u, requests.size());
  EXPECT_TRUE(sequencer.onCancelled(requests[0].id, kT0 + 5s));
  EXPECT_FALSE(sequencer.onBlocks(requests[0].id, blocks(chain, 1, 11), kT0));  // late answer
  EXPECT_TRUE(sequencer.plan(kT0 + 4s).empty());
  requests = sequencer.plan(kT0 + 5s);
  ASSERT_EQ(1u, requests.size());
  EXPECT_EQ(1, requests[0].start);
  EXPECT_EQ(11, requests[0].end);
}

}  // namespace
}  // namespace stages::fetcher
