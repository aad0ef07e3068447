#include "stages/aggregator/checkpoint.h"

#include <gtest/gtest.h>

#include "tests/stages/aggregator/test_chain.h"

namespace stages::aggregator {
namespace {

using testing::ChainBuilder;

Checkpoint sampleCheckpoint() {
  FoldOptions options;
  options.utc_offset = *UtcOffset::parse("+08:00");
  options.parity_window_blocks = 7;
  options.rollback_depth_blocks = 4;
  ChainBuilder chain(100);
  chain.addRun(30, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0});
  chain.add(chain.blocks().back().timestamp_ms + 12000, 2, 1);  // missed slots, rotation known
  Fold fold(options, 100);
  for (const auto& block : chain.blocks()) (void)fold.apply(block);
  Checkpoint checkpoint;
  checkpoint.start_height = 100;
  checkpoint.utc_offset = options.utc_offset;
  checkpoint.parity_window_blocks = options.parity_window_blocks;
  checkpoint.base = fold.baseState();
  checkpoint.blocks = fold.blocksSinceBase();
  checkpoint.resume_offsets = {{0, 17}, {2, 5}};
  return checkpoint;
}

// Encode → decode gives the same checkpoint, and encoding that gives the same bytes.
TEST(CheckpointTest, RoundTrips) {
  const auto checkpoint = sampleCheckpoint();
  ASSERT_FALSE(checkpoint.blocks.empty());
  ASSERT_FALSE(checkpoint.base.rotation.empty());
  ASSERT_TRUE(checkpoint.base.parity.next != 0 || checkpoint.base.parity.ring.size() == 7);
  const auto text = encodeCheckpoint(checkpoint);
  EXPECT_TRUE(text.starts_with("{\"version\":1,"));
  const auto decoded = decodeCheckpoint(text);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(checkpoint, *decoded);
  EXPECT_EQ(text, encodeCheckpoint(*decoded));
}

// Empty state (nothing folded yet) round-trips too.
TEST(CheckpointTest, RoundTripsEmptyState) {
  Checkpoint checkpoint;
  checkpoint.start_height = 5;
  checkpoint.base.next_height = 5;
  const auto decoded = decodeCheckpoint(encodeCheckpoint(checkpoint));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(checkpoint, *decoded);
}

// Another version, garbage, and a damaged field are InvalidPayload naming what is wrong.
TEST(CheckpointTest, RejectsUnknownVersionAndDamage) {
  auto text = encodeCheckpoint(sampleCheckpoint());
  auto other = text;
  other.replace(0, 12, "{\"version\":2");
  auto result = decodeCheckpoint(other);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(std::string::npos, result.error().message.find("unsupported version 2"));
  EXPECT_EQ(pipeline::ErrorType::InvalidPayload, decodeCheckpoint("not json").error().type);
  auto damaged = text;
  damaged.replace(damaged.find("\"score\":"), 8, "\"scor\":");
  result = decodeCheckpoint(damaged);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(std::string::npos, result.error().message.find("score"));
}

}  // namespace
}  // namespace stages::aggregator
