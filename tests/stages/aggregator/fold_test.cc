#include "stages/aggregator/fold.h"

#include <gtest/gtest.h>

#include "tests/stages/aggregator/test_chain.h"

namespace stages::aggregator {
namespace {

using testing::ChainBuilder;
using testing::kDay20787Ms;
using testing::TopicView;
using testing::witnessName;

constexpr std::int64_t D = kDay20787Ms;  // 2026-11-30T00:00:00Z

// The raw text of a top-level field of a flat JSON object ("" when absent).
std::string field(const std::optional<std::string>& json, std::string_view name) {
  if (!json) return "<tombstone>";
  const std::string needle = "\"" + std::string(name) + "\":";
  const auto at = json->find(needle);
  if (at == std::string::npos) return "";
  const auto begin = at + needle.size();
  const auto end = json->find_first_of(",}", begin);
  return json->substr(begin, end - begin);
}

TopicView foldAll(const FoldOptions& options, const std::vector<BlockInput>& blocks) {
  return testing::freshFold(options, blocks);
}

// Last digit: letters after it are skipped; 0 is even (+1); score is the running sum.
TEST(FoldTest, PointsAndScore) {
  ChainBuilder chain(100);
  chain.add(D, 0, 1, 3)       // id ends "0aaa": digit 0, even → +1, score 1
      .add(D + 3000, 9)       // ends "9a": odd → −1, score 0
      .add(D + 6000, 4, 1, 5);  // ends "4aaaaa": even → +1, score 1
  const auto& blocks = chain.blocks();
  Fold fold({}, 100);
  auto first = fold.apply(blocks[0]);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ("points:100", first->front().key);
  EXPECT_EQ("{\"schema\":\"stats.points.v1\",\"height\":100,\"block_id\":\"" + blocks[0].block_id +
                "\",\"timestamp_ms\":1795996800000,\"last_digit\":0,\"is_odd\":false,\"point\":1,\"score\":1}",
            first->front().value);
  auto second = fold.apply(blocks[1]);
  EXPECT_EQ("-1", field(second->front().value, "point"));
  EXPECT_EQ("0", field(second->front().value, "score"));
  auto third = fold.apply(blocks[2]);
  EXPECT_EQ("1", field(third->front().value, "score"));
  EXPECT_FALSE(fold.apply(blocks[2]).has_value());  // not the next height
}

// One block: exactly one output per key kind, in the documented order.
TEST(FoldTest, OutputOrder) {
  ChainBuilder chain(100);
  chain.add(D, 2);
  Fold fold({}, 100);
  const auto outputs = *fold.apply(chain.blocks()[0]);
  std::vector<std::string> keys;
  for (const auto& output : outputs) keys.push_back(output.key);
  const std::vector<std::string> expected = {
      "points:100", "daily:2026-11-30", "witness:2026-11-30:" + witnessName(1),
      "hourly:2026-11-30T00", "candle:1m:1795996800000", "candle:5m:1795996800000",
      "candle:15m:1795996800000", "candle:1h:1795996800000", "candle:4h:1795996800000",
      "candle:1d:1795996800000", "candle:20b:100", "parity:1000"};
  EXPECT_EQ(expected, keys);
}

// Day and hour boundaries at +00:00: 23:59:57Z and 00:00:00Z fall on two days and two hours.
TEST(FoldTest, DayAndHourBoundariesUtc) {
  ChainBuilder chain(100);
  chain.add(D - 3000, 1).add(D, 2);
  const auto view = foldAll({}, chain.blocks());
  EXPECT_EQ("1", field(view.at("daily:2026-11-29"), "blocks"));
  EXPECT_EQ("1", field(view.at("daily:2026-11-29"), "odd"));
  EXPECT_EQ("1", field(view.at("daily:2026-11-30"), "blocks"));
  EXPECT_EQ("1", field(view.at("daily:2026-11-30"), "even"));
  EXPECT_EQ("\"+00:00\"", field(view.at("daily:2026-11-30"), "utc_offset"));
  EXPECT_EQ("1795996800000", field(view.at("daily:2026-11-30"), "start_ms"));
  EXPECT_EQ("1", field(view.at("hourly:2026-11-29T23"), "blocks"));
  EXPECT_EQ("1", field(view.at("hourly:2026-11-30T00"), "blocks"));
  // Score after 101: −1 + 1 = 0; the 2026-11-29 day closed at −1.
  EXPECT_EQ("-1", field(view.at("daily:2026-11-29"), "score_close"));
  EXPECT_EQ("0", field(view.at("daily:2026-11-30"), "score_close"));
}

// At +08:00 the same two instants are 07:59:57 and 08:00:00 of one local day; the local day
// changes at 16:00:00Z instead, and its start_ms is 1795968000000 (the schema example's).
TEST(FoldTest, DayAndHourBoundariesPlusEight) {
  FoldOptions options;
  options.utc_offset = *UtcOffset::parse("+08:00");
  ChainBuilder chain(100);
  chain.add(D - 3000, 1).add(D, 2);
  auto view = foldAll(options, chain.blocks());
  EXPECT_EQ("2", field(view.at("daily:2026-11-30"), "blocks"));
  EXPECT_EQ(0u, view.count("daily:2026-11-29"));
  EXPECT_EQ("1", field(view.at("hourly:2026-11-30T07"), "blocks"));
  EXPECT_EQ("1", field(view.at("hourly:2026-11-30T08"), "blocks"));

  const std::int64_t local_midnight = D - 8 * kHourMs;  // 2026-11-30T00:00+08:00
  ChainBuilder across(200);
  across.add(local_midnight - 3000, 3).add(local_midnight, 4);
  view = foldAll(options, across.blocks());
  EXPECT_EQ("1", field(view.at("daily:2026-11-29"), "blocks"));
  EXPECT_EQ("1", field(view.at("daily:2026-11-30"), "blocks"));
  EXPECT_EQ("1795968000000", field(view.at("daily:2026-11-30"), "start_ms"));
  EXPECT_EQ("\"+08:00\"", field(view.at("daily:2026-11-30"), "utc_offset"));
  EXPECT_EQ("1", field(view.at("hourly:2026-11-29T23"), "blocks"));
  EXPECT_EQ("1", field(view.at("hourly:2026-11-30T00"), "blocks"));
  EXPECT_EQ("1", field(view.at("candle:1d:1795968000000"), "volume"));
}

// Daily sums: counters add, amounts add exactly as decimals (3 × 1000000 sun, 3 × 5000000).
TEST(FoldTest, DailySums) {
  ChainBuilder chain(100);
  chain.add(D, 1).add(D + 3000, 2).add(D + 6000, 3);
  const auto view = foldAll({}, chain.blocks());
  const auto& day = view.at("daily:2026-11-30");
  EXPECT_EQ("3", field(day, "blocks"));
  EXPECT_EQ("2", field(day, "odd"));
  EXPECT_EQ("1", field(day, "even"));
  EXPECT_EQ("0.6666666666666666", field(day, "odd_rate"));  // 2/3 printed shortest
  EXPECT_EQ("30", field(day, "transactions"));
  EXPECT_EQ("3", field(day, "failed_transactions"));
  EXPECT_EQ("\"3000000\"", field(day, "trx_transferred_sun"));
  EXPECT_EQ("9", field(day, "trc20_transfers"));
  EXPECT_EQ("6", field(day, "usdt_transfers"));
  EXPECT_EQ("\"15000000\"", field(day, "usdt_volume"));
  EXPECT_EQ("100", field(day, "first_height"));
  EXPECT_EQ("102", field(day, "last_height"));
  EXPECT_EQ("-1", field(day, "score_close"));  // −1 +1 −1
}

// Amounts beyond 64 bits add exactly: 2 × (2^256 − 1) = 2^257 − 2.
TEST(FoldTest, HugeAmountsAddExactly) {
  ChainBuilder chain(100);
  chain.add(D, 1).add(D + 3000, 2);
  auto blocks = chain.blocks();
  for (auto& block : blocks) {
    block.usdt_volume = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  }
  const auto view = foldAll({}, blocks);
  EXPECT_EQ("\"231584178474632390847141970017375815706539969331281128078915168015826259279870\"",
            field(view.at("daily:2026-11-30"), "usdt_volume"));
}

// Candles: open is the previous close across buckets, and across a minute without blocks (no
// message for that minute); high/low include the open.
TEST(FoldTest, CandlesOpenAtPreviousClose) {
  ChainBuilder chain(100);
  chain.add(D, 2)              // score 1
      .add(D + 3000, 4)        // 2
      .add(D + 57000, 5)       // 1   (minute 0 closes at 1)
      .add(D + 120000, 7)      // 0   minute 2 (minute 1 is empty)
      .add(D + 123000, 8);     // 1
  const auto view = foldAll({}, chain.blocks());
  const auto& m0 = view.at("candle:1m:1795996800000");
  EXPECT_EQ("{\"schema\":\"stats.candle.v1\",\"period\":\"1m\",\"start\":1795996800000,\"end\":1795996860000,"
            "\"open\":0,\"high\":2,\"low\":0,\"close\":1,\"volume\":3,\"first_height\":100,\"last_height\":102}",
            m0);
  EXPECT_EQ(0u, view.count("candle:1m:1795996860000"));  // the empty minute
  const auto& m2 = view.at("candle:1m:1795996920000");
  EXPECT_EQ("1", field(m2, "open"));   // minute 0's close
  EXPECT_EQ("1", field(m2, "high"));   // max(open 1, 0, 1)
  EXPECT_EQ("0", field(m2, "low"));
  EXPECT_EQ("1", field(m2, "close"));
  EXPECT_EQ("2", field(m2, "volume"));
  EXPECT_EQ("103", field(m2, "first_height"));
  // The 5-minute candle holds all five: open 0 (score before the start), high 2, low 0, close 1.
  const auto& m5 = view.at("candle:5m:1795996800000");
  EXPECT_EQ("0", field(m5, "open"));
  EXPECT_EQ("2", field(m5, "high"));
  EXPECT_EQ("0", field(m5, "low"));
  EXPECT_EQ("1", field(m5, "close"));
  EXPECT_EQ("5", field(m5, "volume"));
}

// 20-block windows start at multiples of 20 whatever the start height: 15..41 all even gives
// [0,20) with 15..19 (scores 1..5), [20,40) opening at 5, [40,60) opening at 25.
TEST(FoldTest, TwentyBlockWindowsAligned) {
  ChainBuilder chain(15);
  for (int i = 0; i < 27; ++i) chain.add(D + 3000 * i, 2);
  const auto view = foldAll({}, chain.blocks());
  EXPECT_EQ("{\"schema\":\"stats.candle.v1\",\"period\":\"20b\",\"start\":0,\"end\":20,\"open\":0,"
            "\"high\":5,\"low\":0,\"close\":5,\"volume\":5,\"first_height\":15,\"last_height\":19}",
            view.at("candle:20b:0"));
  const auto& second = view.at("candle:20b:20");
  EXPECT_EQ("5", field(second, "open"));
  EXPECT_EQ("25", field(second, "close"));
  EXPECT_EQ("20", field(second, "volume"));
  EXPECT_EQ("39", field(second, "last_height"));
  EXPECT_EQ("25", field(view.at("candle:20b:40"), "open"));
  EXPECT_EQ("27", field(view.at("candle:20b:40"), "close"));
  EXPECT_EQ("2", field(view.at("candle:20b:40"), "volume"));
}

// Missed slots across midnight, with the rotation 1→2→3→1 learnt from consecutive slots. The
// last block before the gap is witness 1 at 23:59:48; the next is witness 3 at 00:00:03: the
// gap of 15 s holds 4 empty slots at :51 (2), :54 (3), :57 (1) and 00:00:00 (2).
TEST(FoldTest, MissedSlotsAcrossMidnightAttributedByRotation) {
  ChainBuilder chain(100);
  const int rotation[] = {1, 2, 3, 1, 2, 3, 1};
  for (int i = 0; i < 7; ++i) chain.add(D - 30000 + 3000 * i, 2, rotation[i]);  // up to D − 12000
  chain.add(D + 3000, 2, 3);
  const auto view = foldAll({}, chain.blocks());
  EXPECT_EQ("3", field(view.at("daily:2026-11-29"), "missed_slots"));
  EXPECT_EQ("1", field(view.at("daily:2026-11-30"), "missed_slots"));
  EXPECT_EQ("3", field(view.at("hourly:2026-11-29T23"), "missed_slots"));
  EXPECT_EQ("1", field(view.at("hourly:2026-11-30T00"), "missed_slots"));
  const auto witness = [&](std::string_view date, int n) {
    return view.at("witness:" + std::string(date) + ":" + witnessName(n));
  };
  // 2026-11-29: witness 1 made 3 blocks, 2 and 3 two each; each missed one slot.
  EXPECT_EQ("3", field(witness("2026-11-29", 1), "blocks"));
  EXPECT_EQ("1", field(witness("2026-11-29", 1), "missed_slots"));
  EXPECT_EQ("2", field(witness("2026-11-29", 2), "blocks"));
  EXPECT_EQ("1", field(witness("2026-11-29", 2), "missed_slots"));
  EXPECT_EQ("1", field(witness("2026-11-29", 3), "missed_slots"));
  // 2026-11-30: witness 2 missed 00:00:00 without producing; witness 3 produced.
  EXPECT_EQ("0", field(witness("2026-11-30", 2), "blocks"));
  EXPECT_EQ("1", field(witness("2026-11-30", 2), "missed_slots"));
  EXPECT_EQ("1", field(witness("2026-11-30", 3), "blocks"));
  EXPECT_EQ("0", field(witness("2026-11-30", 3), "missed_slots"));
  EXPECT_EQ(0u, view.count("witness:2026-11-30:" + witnessName(1)));
}

// Without a learnt rotation the day still counts the missed slots, but no witness gets them.
TEST(FoldTest, MissedSlotsWithoutRotationAreUnattributed) {
  ChainBuilder chain(100);
  chain.add(D, 2, 1).add(D + 9000, 2, 2);  // slots D+3000 and D+6000 empty
  const auto view = foldAll({}, chain.blocks());
  EXPECT_EQ("2", field(view.at("daily:2026-11-30"), "missed_slots"));
  EXPECT_EQ("0", field(view.at("witness:2026-11-30:" + witnessName(1)), "missed_slots"));
  EXPECT_EQ("0", field(view.at("witness:2026-11-30:" + witnessName(2)), "missed_slots"));
}

// A halt longer than an hour: 00:59:57 → 02:00:03 leaves slots 01:00:00 … 02:00:00 (1201)
// empty. Hour 01 gets 1200 of them and no block; it ends at the block before (height 100,
// score 1). Hour 02 gets the slot at 02:00:00 and the block.
TEST(FoldTest, HourWithOnlyMissedSlots) {
  ChainBuilder chain(100);
  chain.add(D + kHourMs - 3000, 2).add(D + 2 * kHourMs + 3000, 2);
  const auto view = foldAll({}, chain.blocks());
  const auto& empty_hour = view.at("hourly:2026-11-30T01");
  EXPECT_EQ("0", field(empty_hour, "blocks"));
  EXPECT_EQ("0", field(empty_hour, "odd_rate"));
  EXPECT_EQ("1200", field(empty_hour, "missed_slots"));
  EXPECT_EQ("100", field(empty_hour, "first_height"));
  EXPECT_EQ("100", field(empty_hour, "last_height"));
  EXPECT_EQ("1", field(empty_hour, "score_close"));
  EXPECT_EQ("1", field(view.at("hourly:2026-11-30T02"), "missed_slots"));
  EXPECT_EQ("101", field(view.at("hourly:2026-11-30T02"), "first_height"));
  EXPECT_EQ("1201", field(view.at("daily:2026-11-30"), "missed_slots"));
}

// Parity over W = 4: parities o,o,e,o,e. After 3 blocks n = 3, odd = 2: z = 0.5/sqrt(0.75);
// after 4: odd 3 of 4, z = 1; after 5 the window is o,e,o,e: odd 2, z = 0.
TEST(FoldTest, ParityWindowSlides) {
  FoldOptions options;
  options.parity_window_blocks = 4;
  ChainBuilder chain(100);
  const int digits[] = {1, 3, 2, 5, 4};
  for (int i = 0; i < 5; ++i) chain.add(D + 3000 * i, digits[i]);
  Fold fold(options, 100);
  std::vector<std::string> parity;
  for (const auto& block : chain.blocks()) parity.push_back(*fold.apply(block)->back().value);
  EXPECT_EQ("{\"schema\":\"stats.parity.v1\",\"height\":102,\"window\":4,\"blocks\":3,\"odd\":2,"
            "\"z_score\":0.5773502691896258}",
            parity[2]);
  EXPECT_EQ("1", field(parity[3], "z_score"));
  EXPECT_EQ("4", field(parity[4], "blocks"));
  EXPECT_EQ("2", field(parity[4], "odd"));
  EXPECT_EQ("0", field(parity[4], "z_score"));
}

// A block whose timestamp goes back is counted in the current buckets (bucket time never
// decreases), while points keep its own timestamp.
TEST(FoldTest, TimestampGoingBackStaysInCurrentBucket) {
  ChainBuilder chain(100);
  chain.add(D, 2).add(D - 3000, 2);
  const auto view = foldAll({}, chain.blocks());
  EXPECT_EQ(0u, view.count("daily:2026-11-29"));
  EXPECT_EQ("2", field(view.at("daily:2026-11-30"), "blocks"));
  EXPECT_EQ("1795996797000", field(view.at("points:101"), "timestamp_ms"));
}

// Same input → same bytes, whichever Fold instance folds it.
TEST(FoldTest, Deterministic) {
  ChainBuilder chain(100);
  chain.addRun(200, {1, 2, 3, 5, 8, 0, 4});
  Fold a({}, 100);
  Fold b({}, 100);
  for (const auto& block : chain.blocks()) EXPECT_EQ(*a.apply(block), *b.apply(block));
  EXPECT_EQ(a.state(), b.state());
}

// A fork at 108 crossing midnight and a 20-block boundary: chain A runs 100..125 from 23:59:30;
// branch B replaces 108.. with two blocks before midnight. After the rollback and B, the topic
// equals a fresh fold of B, and the keys only A's orphans created (the new day and hour, their
// candles, the 20b window at 120, points 110..125) are tombstones.
TEST(FoldTest, RollbackAcrossDayAndCandleBoundaries) {
  ChainBuilder a(100);
  for (int i = 0; i < 26; ++i) a.add(D - 30000 + 3000 * i, (i * 7) % 10, i % 3 + 1);
  auto b = ChainBuilder::forkOf(a.blocks(), 108, 1);
  b.add(D - 6000, 1, 2).add(D - 3000, 3, 1);  // both odd, unlike A's 108 (6) and 109 (3)

  Fold fold({}, 100);
  TopicView view;
  for (const auto& block : a.blocks()) testing::applyTo(view, *fold.apply(block));
  auto undone = fold.retractFrom(108);
  ASSERT_TRUE(undone.has_value());
  testing::applyTo(view, *undone);
  for (std::size_t i = 8; i < b.blocks().size(); ++i) testing::applyTo(view, *fold.apply(b.blocks()[i]));

  EXPECT_EQ(testing::freshFold({}, b.blocks()), testing::live(view));
  const std::vector<std::string> orphan_keys = {
       "points:110", "points:125", "daily:2026-11-30", "hourly:2026-11-30T00", "candle:1d:1795996800000",
        "candle:1m:1795996800000", "candle:20b:120", "witness:2026-11-30:" + witnessName(1)};
  for (const auto& key : orphan_keys) {
    ASSERT_EQ(1u, view.count(key)) << key;
    EXPECT_FALSE(view.at(key).has_value()) << key;
  }
  // The state itself is the fresh fold's, so what follows is folded identically too.
  Fold fresh({}, 100);
  for (const auto& block : b.blocks()) (void)fresh.apply(block);
  EXPECT_EQ(fresh.state(), fold.state());
}

// A rollback to before the start height leaves nothing: every key gets a tombstone.
TEST(FoldTest, RollbackToNothing) {
  ChainBuilder chain(100);
  chain.addRun(3, {1, 2});
  Fold fold({}, 100);
  TopicView view;
  for (const auto& block : chain.blocks()) testing::applyTo(view, *fold.apply(block));
  testing::applyTo(view, *fold.retractFrom(100));
  EXPECT_TRUE(testing::live(view).empty());
  EXPECT_EQ(100u, fold.nextHeight());
  EXPECT_FALSE(fold.retractFrom(99).has_value());  // below the start
}

// The last K blocks can always be undone, and then K more below the new tip; a fork much deeper
// than that cannot (Unavailable).
TEST(FoldTest, RollbackDepthIsBounded) {
  FoldOptions options;
  options.rollback_depth_blocks = 4;
  ChainBuilder chain(100);
  chain.addRun(40, {1, 2, 3});
  for (std::uint64_t undo = 1; undo <= 4; ++undo) {
    Fold fold(options, 100);
    for (const auto& block : chain.blocks()) (void)fold.apply(block);
    EXPECT_TRUE(fold.retractFrom(140 - undo).has_value()) << undo;
    EXPECT_EQ(140 - undo, fold.nextHeight());
    EXPECT_NE(nullptr, fold.blockIdAt(140 - undo - 1));
    EXPECT_TRUE(fold.retractFrom(140 - undo - 4).has_value()) << undo;
  }
  Fold fold(options, 100);
  for (const auto& block : chain.blocks()) (void)fold.apply(block);
  const auto deep = fold.retractFrom(100);
  ASSERT_FALSE(deep.has_value());
  EXPECT_EQ(pipeline::ErrorType::Unavailable, deep.error().type);
  EXPECT_EQ(140u, fold.nextHeight());  // unchanged
}

// Repeated forks (rollback, refold, rollback again) keep matching a fresh fold.
TEST(FoldTest, RepeatedForksMatchFreshFold) {
  FoldOptions options;
  options.rollback_depth_blocks = 8;
  ChainBuilder a(1000);
  a.addRun(50, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0});
  Fold fold(options, 1000);
  TopicView view;
  for (const auto& block : a.blocks()) testing::applyTo(view, *fold.apply(block));
  std::vector<BlockInput> chain = a.blocks();
  for (int branch = 1; branch <= 5; ++branch) {
    const std::uint64_t fork_at = fold.nextHeight() - static_cast<std::uint64_t>(branch + 2);
    auto b = ChainBuilder::forkOf(chain, fork_at, branch);
    for (int i = 0; i < branch + 4; ++i) {
      b.add(b.blocks().back().timestamp_ms + 3000 * (1 + i % 2), (branch * 3 + i) % 10, i % 4 + 1);
    }
    testing::applyTo(view, *fold.retractFrom(fork_at));
    for (const auto& block : b.blocks()) {
      if (block.height >= fork_at) testing::applyTo(view, *fold.apply(block));
    }
    chain = b.blocks();
    ASSERT_EQ(testing::freshFold(options, chain), testing::live(view)) << branch;
  }
}

}  // namespace
}  // namespace stages::aggregator
