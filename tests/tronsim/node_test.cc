#include "tests/tronsim/node.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/loop_runner.h"
#include "tests/tronsim/wall_clock.h"

namespace tronsim {
namespace {

NodeOptions smallNode(std::int64_t head) {
  NodeOptions options;
  options.chain.profile = Profile::Small;
  options.chain.seed = 11;
  options.head = head;
  return options;
}

// Catch-up mode: a fixed head; the solidified head lags by 18; nothing above the head exists.
TEST(NodeTest, CatchUpViews) {
  testsupport::LoopRunner runner;
  Node node(runner.loop(), smallNode(500));
  ASSERT_TRUE(node.start());
  EXPECT_FALSE(node.live());
  EXPECT_EQ(500, node.head());
  EXPECT_EQ(482, node.solidHead());
  EXPECT_TRUE(node.visible(500, false));
  EXPECT_FALSE(node.visible(501, false));
  EXPECT_FALSE(node.visible(483, true));
  EXPECT_TRUE(node.visible(482, true));
  EXPECT_FALSE(node.visible(0, false));  // below first_height
  node.setHead(600);
  EXPECT_EQ(582, node.solidHead());
}

// Live mode: the head advances by one block per interval, driven by the loop.
TEST(NodeTest, LiveHeadAdvances) {
  testsupport::LoopRunner runner;
  auto options = smallNode(100);
  options.live_interval_ms = 5;
  Node node(runner.loop(), options);
  ASSERT_TRUE(node.start());
  std::vector<std::int64_t> heads;
  node.setOnHeadChanged([&](std::int64_t head) { heads.push_back(head); });
  ASSERT_TRUE(runner.runUntil([&] { return node.head() >= 103; }));
  ASSERT_GE(heads.size(), 3u);
  EXPECT_EQ(101, heads[0]);
  EXPECT_EQ(102, heads[1]);
  node.stop();
}

// On the wall clock the start head is the block of the current slot, and the next block appears
// when the clock reaches its timestamp, not before (wall_clock_test.cc covers the schedule).
TEST(NodeTest, WallClockProducesBlocksAtTheirTimestamps) {
  testsupport::LoopRunner runner;
  auto options = smallNode(100);
  options.wall_clock = true;
  options.chain.missed_slot_rate = 0;  // the next block within one slot
  const std::int64_t before = wallClockMs();
  Node node(runner.loop(), options);
  const std::int64_t after = wallClockMs();
  const Chain& chain = node.chain();
  EXPECT_TRUE(node.live());
  EXPECT_EQ(0, chain.timestampMs(100) % Chain::kSlotMs);
  EXPECT_LE(chain.timestampMs(100), after);
  EXPECT_GT(chain.timestampMs(100), before - Chain::kSlotMs);
  ASSERT_TRUE(node.start());
  ASSERT_TRUE(runner.runUntil([&] { return node.head() >= 101; }));
  EXPECT_GE(node.producedAtMs().at(101), chain.timestampMs(101));
  EXPECT_LT(node.producedAtMs().at(101), chain.timestampMs(101) + 1'000);  // a loaded machine
  node.stop();
}

// Heights get a production time when the head reaches them (and again when a fork replaces
// them); the heights that existed at start have none.
TEST(NodeTest, ProductionTimesOfNewHeights) {
  testsupport::LoopRunner runner;
  Node node(runner.loop(), smallNode(100));
  EXPECT_TRUE(node.producedAtMs().empty());
  const std::int64_t before = wallClockMs();
  node.advance(3);
  ASSERT_EQ(3u, node.producedAtMs().size());
  EXPECT_EQ(101, node.producedAtMs().begin()->first);
  EXPECT_EQ(103, node.producedAtMs().rbegin()->first);
  EXPECT_GE(node.producedAtMs().at(102), before);
  ASSERT_TRUE(node.fork(5));
  EXPECT_EQ(5u, node.producedAtMs().size());  // 99..103
  node.setHead(100 + Node::kProducedTimesKept * 2);
  EXPECT_EQ(static_cast<std::size_t>(Node::kProducedTimesKept), node.producedAtMs().size());
  EXPECT_EQ(node.head(), node.producedAtMs().rbegin()->first);
}

// A fork of depth k replaces the top k block ids; the block below keeps its id and the first
// new block still links to it, and every new block links to its new parent.
TEST(NodeTest, ForkReplacesTopBlocks) {
  testsupport::LoopRunner runner;
  Node node(runner.loop(), smallNode(300));
  const Chain& chain = node.chain();
  const std::string below = chain.blockId(297);
  const std::string old_298 = chain.blockId(298);
  const std::string old_300 = chain.blockId(300);

  auto fork = node.fork(3, /*advance=*/2);
  ASSERT_TRUE(fork) << fork.error().message;
  EXPECT_EQ(298, fork->from_height);
  EXPECT_EQ(302, fork->head);
  EXPECT_EQ(302, node.head());
  EXPECT_EQ(below, chain.blockId(297));
  EXPECT_NE(old_298, chain.blockId(298));
  EXPECT_NE(old_300, chain.blockId(300));
  for (std::int64_t h = 298; h <= 302; ++h) {
    EXPECT_NE(std::string::npos,
              chain.blockJson(h).find("\"parentHash\":\"" + chain.blockId(h - 1) + "\""))
        << h;
  }
}

// A fork deeper than the chain, or of depth 0, is refused.
TEST(NodeTest, ForkValidatesDepth) {
  testsupport::LoopRunner runner;
  Node node(runner.loop(), smallNode(5));
  EXPECT_FALSE(node.fork(0));
  EXPECT_FALSE(node.fork(6));  // would start at height 0, below first_height 1
  EXPECT_TRUE(node.fork(5));
}

// Recorded mode reads <dir>/<api>/<endpoint>/<key>.json and <dir>/<api>/<endpoint>.json, and
// refuses keys that could leave the directory.
TEST(NodeTest, RecordedFiles) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("tronsim_node_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir / "wallet" / "getblockbynum");
  std::ofstream(dir / "wallet" / "getblockbynum" / "7.json") << "{\"x\":7}\n";
  std::ofstream(dir / "wallet" / "getnowblock.json") << "{\"now\":1}";
  testsupport::LoopRunner runner;
  auto options = smallNode(10);
  options.recorded_dir = dir.string();
  Node node(runner.loop(), options);
  EXPECT_TRUE(node.recordedMode());
  EXPECT_EQ("{\"x\":7}\n", node.recorded("wallet", "getblockbynum", "7").value_or(""));
  EXPECT_EQ("{\"now\":1}", node.recorded("wallet", "getnowblock", "").value_or(""));
  EXPECT_FALSE(node.recorded("wallet", "getblockbynum", "8"));
  EXPECT_FALSE(node.recorded("wallet", "getblockbynum", "../getnowblock"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tronsim
