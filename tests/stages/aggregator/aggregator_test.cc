#include "stages/aggregator/aggregator.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/stages/aggregator/test_chain.h"

namespace stages::aggregator {
namespace {

using testing::ChainBuilder;
using testing::TopicView;

constexpr std::int32_t kPartitions = 3;

struct Logged {
  BlockRecord record;
  SourcePosition source;
};

/** `blocks` records as the fetcher emits them, spread over partitions by height. */
class Topic {
 public:
  void emit(BlockRecord record) {
    const std::uint64_t height = std::visit([](const auto& r) { return r.height; }, record);
    const auto partition = static_cast<std::int32_t>(height % kPartitions);
    auto& log = partitions_[static_cast<std::size_t>(partition)];
    log.push_back(Logged{std::move(record), {partition, static_cast<std::int64_t>(log.size())}});
  }
  void emitBlocks(const std::vector<BlockInput>& blocks, std::uint64_t from = 0) {
    for (const auto& block : blocks) {
      if (block.height >= from) emit(block);
    }
  }
  /** Retractions of `blocks` at `from` and above, highest first. */
  void emitRetractions(const std::vector<BlockInput>& blocks, std::uint64_t from) {
    for (auto it = blocks.rbegin(); it != blocks.rend() && it->height >= from; ++it) {
      emit(Retraction{it->height, it->block_id});
    }
  }

  /** Every record once, partitions interleaved at random (`seed`), each partition in order. */
  std::vector<Logged> interleaved(unsigned seed) const {
    std::mt19937 random(seed);
    std::array<std::size_t, kPartitions> next{};
    std::vector<Logged> out;
    for (;;) {
      std::vector<std::size_t> open;
      for (std::size_t p = 0; p < kPartitions; ++p) {
        if (next[p] < partitions_[p].size()) open.push_back(p);
      }
      if (open.empty()) return out;
      const auto p = open[random() % open.size()];
      out.push_back(partitions_[p][next[p]++]);
    }
  }

 private:
  std::array<std::vector<Logged>, kPartitions> partitions_;
};

AggregatorConfig config(std::optional<std::uint64_t> start = std::nullopt) {
  AggregatorConfig c;
  c.start_height = start;
  return c;
}

TimePoint now() { return TimePoint(std::chrono::seconds(1)); }

void offerAll(Aggregator& aggregator, const std::vector<Logged>& records, TopicView& view) {
  for (const auto& logged : records) {
    auto outputs = aggregator.offer(logged.record, logged.source, now());
    ASSERT_TRUE(outputs.has_value()) << outputs.error().message;
    testing::applyTo(view, *outputs);
  }
}

// Any interleaving of the partitions folds the chain in height order: the topic equals a plain
// fold, and points keys come out in ascending height.
TEST(AggregatorTest, InterleavedPartitionsFoldInHeightOrder) {
  ChainBuilder chain(100);
  chain.addRun(60, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0});
  Topic topic;
  topic.emitBlocks(chain.blocks());
  const auto expected = testing::freshFold({}, chain.blocks());
  for (unsigned seed = 1; seed <= 5; ++seed) {
    Aggregator aggregator(config(100));
    TopicView view;
    std::vector<std::string> points;
    for (const auto& logged : topic.interleaved(seed)) {
      const auto outputs = aggregator.offer(logged.record, logged.source, now());
      ASSERT_TRUE(outputs.has_value());
      for (const auto& output : *outputs) {
        if (output.key.starts_with("points:")) points.push_back(output.key);
        view[output.key] = output.value;
      }
    }
    EXPECT_EQ(expected, view) << seed;
    ASSERT_EQ(60u, points.size());
    for (std::size_t i = 0; i < points.size(); ++i) EXPECT_EQ("points:" + std::to_string(100 + i), points[i]);
  }
}

// At-least-once input: every record twice changes nothing and is counted.
TEST(AggregatorTest, DuplicatesAreDroppedAndCounted) {
  ChainBuilder chain(100);
  chain.addRun(30, {1, 2, 3});
  Topic topic;
  topic.emitBlocks(chain.blocks());
  topic.emitBlocks(chain.blocks());
  Aggregator aggregator(config(100));
  TopicView view;
  offerAll(aggregator, topic.interleaved(7), view);
  EXPECT_EQ(testing::freshFold({}, chain.blocks()), view);
  EXPECT_EQ(30u, aggregator.buffer().counters().duplicates);
}

// A fork as the fetcher writes it (retractions highest first, then the new branch), delivered in
// many interleavings: the compacted topic always ends equal to a fresh fold of the final chain,
// with tombstones for the orphans' own keys.
TEST(AggregatorTest, RetractionSequencesInAnyInterleaving) {
  ChainBuilder a(100);
  a.addRun(30, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0});       // 100..129
  auto b = ChainBuilder::forkOf(a.blocks(), 120, 1);
  b.addRun(6, {5, 5, 2});                             // 120..125, a shorter branch
  Topic topic;
  topic.emitBlocks(a.blocks());
  topic.emitRetractions(a.blocks(), 120);
  topic.emitBlocks(b.blocks(), 120);
  const auto expected = testing::freshFold({}, b.blocks());
  for (unsigned seed = 1; seed <= 30; ++seed) {
    Aggregator aggregator(config(100));
    TopicView view;
    offerAll(aggregator, topic.interleaved(seed), view);
    ASSERT_EQ(expected, testing::live(view)) << seed;
    // Depending on the interleaving A's 129 was folded (then tombstoned) or never folded.
    EXPECT_TRUE(view.count("points:129") == 0 || !view.at("points:129").has_value()) << seed;
    EXPECT_EQ(126u, aggregator.fold()->nextHeight());
    EXPECT_FALSE(aggregator.buffer().gap().has_value());
  }
}

// A different block at a folded height without a retraction is a fork too: the folded block
// and everything above it are undone and the new block is folded.
TEST(AggregatorTest, ForkWithoutRetraction) {
  ChainBuilder a(100);
  a.addRun(20, {1, 2});
  auto b = ChainBuilder::forkOf(a.blocks(), 115, 1);
  b.addRun(3, {4});
  Aggregator aggregator(config(100));
  TopicView view;
  std::int64_t offset = 0;
  for (const auto& block : a.blocks()) testing::applyTo(view, *aggregator.offer(block, {0, offset++}, now()));
  for (std::size_t i = 15; i < b.blocks().size(); ++i) {
    testing::applyTo(view, *aggregator.offer(b.blocks()[i], {0, offset++}, now()));
  }
  EXPECT_EQ(1u, aggregator.buffer().counters().forks_without_retraction);
  EXPECT_EQ(testing::freshFold({}, b.blocks()), testing::live(view));
  EXPECT_FALSE(view.at("points:119").has_value());
}

// start_height auto: the first block offered starts the fold; lower heights are TooOld.
TEST(AggregatorTest, AutoStartHeight) {
  ChainBuilder chain(100);
  chain.addRun(3, {1});
  Aggregator aggregator(config());
  EXPECT_EQ(nullptr, aggregator.fold());
  EXPECT_TRUE(aggregator.offer(Retraction{100, chain.blocks()[0].block_id}, {0, 0}, now())->empty());
  EXPECT_FALSE(aggregator.offer(chain.blocks()[1], {1, 0}, now())->empty());
  EXPECT_EQ(101u, aggregator.fold()->startHeight());
  EXPECT_TRUE(aggregator.offer(chain.blocks()[0], {0, 1}, now())->empty());
  EXPECT_EQ(Admission::TooOld, aggregator.lastAdmission());
}

// Records a restarted aggregator gets: those at or after the resume offsets of `before`.
std::vector<Logged> replayAfter(const Aggregator& before, const std::vector<Logged>& records) {
  const auto resume = before.buffer().resumeOffsets();
  std::vector<Logged> replay;
  for (const auto& logged : records) {
    const auto it = resume.find(logged.source.partition);
    if (it == resume.end() || logged.source.offset >= it->second) replay.push_back(logged);
  }
  return replay;
}

// A checkpoint taken mid-stream (some heights buffered), restored, and fed from the resume
// offsets gives the same topic as the uninterrupted run.
TEST(AggregatorTest, CheckpointRestoreContinuesIdentically) {
  ChainBuilder chain(100);
  chain.addRun(120, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0});
  Topic topic;
  topic.emitBlocks(chain.blocks());
  const auto records = topic.interleaved(11);
  const std::size_t cut = 70;

  Aggregator first(config(100));
  TopicView view;
  offerAll(first, std::vector<Logged>(records.begin(), records.begin() + cut), view);
  ASSERT_GT(first.buffer().depth(), 0u);  // the cut leaves records buffered: they are replayed
  auto restored = Aggregator::restore(config(100), first.checkpoint());
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  EXPECT_EQ(first.fold()->state(), restored->fold()->state());
  offerAll(*restored, replayAfter(first, records), view);
  EXPECT_EQ(testing::freshFold({}, chain.blocks()), view);
}

// A fork right after a restart that reaches below the checkpointed tip still rolls back: the
// checkpoint carries the blocks needed to undo it.
TEST(AggregatorTest, ForkAcrossTheCheckpointedTip) {
  ChainBuilder a(100);
  a.addRun(120, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0});  // 100..219
  auto b = ChainBuilder::forkOf(a.blocks(), 215, 1);
  b.addRun(4, {3});
  Aggregator first(config(100));
  TopicView view;
  std::int64_t offset = 0;
  for (const auto& block : a.blocks()) testing::applyTo(view, *first.offer(block, {0, offset++}, now()));
  auto restored = Aggregator::restore(config(100), first.checkpoint());
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  Topic fork;
  fork.emitRetractions(a.blocks(), 215);
  fork.emitBlocks(b.blocks(), 215);
  offerAll(*restored, fork.interleaved(3), view);
  EXPECT_EQ(testing::freshFold({}, b.blocks()), testing::live(view));
}

// A restored aggregator keeps the checkpoint's resume offsets of partitions that deliver nothing
// afterwards, so its next checkpoint does not send them back to their beginning.
TEST(AggregatorTest, RestoreKeepsResumeOffsetsOfQuietPartitions) {
  ChainBuilder chain(100);
  chain.addRun(30, {1, 2, 3});
  Topic topic;
  topic.emitBlocks(chain.blocks());
  Aggregator first(config(100));
  TopicView view;
  offerAll(first, topic.interleaved(5), view);
  const auto offsets = first.buffer().resumeOffsets();
  ASSERT_EQ(static_cast<std::size_t>(kPartitions), offsets.size());
  auto restored = Aggregator::restore(config(100), first.checkpoint());
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  EXPECT_EQ(offsets, restored->buffer().resumeOffsets());
  // One more record on partition 0 moves only that partition's offset.
  ChainBuilder next = ChainBuilder::forkOf(chain.blocks(), 130, 0);
  next.addRun(1, {4});
  ASSERT_TRUE(restored->offer(next.blocks().back(), {0, offsets.at(0)}, now()).has_value());
  auto moved = offsets;
  moved[0] += 1;
  EXPECT_EQ(moved, restored->buffer().resumeOffsets());
}

// The counters follow what the fold did: blocks applied (re-folds included), forks undone and
// the blocks they removed.
TEST(AggregatorTest, CountsFoldedAndRolledBackBlocks) {
  ChainBuilder a(100);
  a.addRun(20, {1, 2});
  auto b = ChainBuilder::forkOf(a.blocks(), 115, 1);
  b.addRun(3, {4});
  Aggregator aggregator(config(100));
  std::int64_t offset = 0;
  for (const auto& block : a.blocks()) ASSERT_TRUE(aggregator.offer(block, {0, offset++}, now()));
  EXPECT_EQ(20u, aggregator.counters().folded_blocks);
  EXPECT_EQ(0u, aggregator.counters().rollbacks);
  for (std::size_t i = 15; i < b.blocks().size(); ++i) {
    ASSERT_TRUE(aggregator.offer(b.blocks()[i], {0, offset++}, now()));
  }
  EXPECT_EQ(1u, aggregator.counters().rollbacks);
  EXPECT_EQ(5u, aggregator.counters().rolled_back_blocks);  // 115..119
  EXPECT_EQ(23u, aggregator.counters().folded_blocks);
}

// A checkpoint made with another offset or parity window is refused (InvalidConfig).
TEST(AggregatorTest, RestoreRefusesChangedSettings) {
  ChainBuilder chain(100);
  chain.addRun(3, {1});
  Aggregator aggregator(config(100));
  for (const auto& block : chain.blocks()) (void)aggregator.offer(block, {0, 0}, now());
  auto other = config(100);
  other.fold.utc_offset = *UtcOffset::parse("+08:00");
  const auto refused = Aggregator::restore(other, aggregator.checkpoint());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, refused.error().type);
  EXPECT_EQ(pipeline::ErrorType::InvalidPayload, Aggregator::restore(config(100), "{}").error().type);
}

}  // namespace
}  // namespace stages::aggregator
