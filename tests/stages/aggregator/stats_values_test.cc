#include "stages/aggregator/stats_values.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/stages/aggregator/test_chain.h"

namespace stages::aggregator {
namespace {

std::string example(std::string_view relative) {
  std::ifstream file(std::string(POINTTRON_SOURCE_DIR) + "/schemas/examples/" + std::string(relative));
  std::stringstream text;
  text << file.rdbuf();
  std::string out = text.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

PeriodStats exampleFigures(std::int64_t index, std::uint64_t blocks, std::uint64_t odd) {
  PeriodStats stats;
  stats.index = index;
  stats.blocks = blocks;
  stats.odd = odd;
  stats.transactions = 7481234;
  stats.failed_transactions = 120344;
  EXPECT_TRUE(stats.trx_transferred_sun.addDecimal("91238471234123400"));
  stats.trc20_transfers = 3120345;
  stats.usdt_transfers = 2701234;
  EXPECT_TRUE(stats.usdt_volume.addDecimal("18234123412341234"));
  stats.first_height = 60954080;
  stats.last_height = 60982879;
  stats.score_close = -1203;
  return stats;
}

// The schema's golden day: day index 20782 (2026-11-25) at +08:00 starts at 1795536000000 =
// 20782 × 86400000 − 8 h; odd_rate 14321/28800 = 0.49725694444444446 (shortest round trip).
TEST(StatsValuesTest, DailyMatchesSchemaExample) {
  auto day = exampleFigures(20782, 28800, 14321);
  day.missed_slots = 3;
  EXPECT_EQ("daily:2026-11-25", dailyKey(20782));
  EXPECT_EQ(example("stats.daily.v1/day.json"), dailyValue(day, *UtcOffset::parse("+08:00")));
}

// The golden hour: 1795611600000 / 3600000 = hour 498781 = 2026-11-25T13 at +00:00.
TEST(StatsValuesTest, HourlyMatchesSchemaExample) {
  const auto hour = exampleFigures(498781, 1200, 590);
  EXPECT_EQ("hourly:2026-11-25T13", hourlyKey(498781));
  EXPECT_EQ(example("stats.hourly.v1/hour.json"), hourlyValue(hour, UtcOffset{}));
}

// Candles, points, witness and parity values byte-for-byte as the schema examples.
TEST(StatsValuesTest, OtherValuesMatchSchemaExamples) {
  const Candle minute{1795536000000, -1200, -1199, -1203, -1203, 20, 60954061, 60954080};
  EXPECT_EQ(example("stats.candle.v1/one-minute.json"), candleValue(CandlePeriod::M1, minute));
  EXPECT_EQ("candle:1m:1795536000000", candleKey(CandlePeriod::M1, minute.start));
  const Candle window{60954060, -1195, -1193, -1201, -1200, 20, 60954060, 60954079};
  EXPECT_EQ(example("stats.candle.v1/twenty-blocks.json"), candleValue(CandlePeriod::Blocks20, window));

  BlockInput block;
  block.height = 60954080;
  block.block_id = "0000000003a215e0d8b3bb4c8ba4e5c6e1a8f0bb1f0b0a2e8f4e6c0d6b1c2a39";
  block.timestamp_ms = 1712345679000;
  block.last_digit = 9;
  block.is_odd = true;
  EXPECT_EQ(example("stats.points.v1/odd-block.json"), pointsValue(block, -1203));
  EXPECT_EQ("points:60954080", pointsKey(60954080));

  const WitnessDay figures{"4178c842ee63b253f8f0d2955bbc582c661a078c9d", 1066, 1};
  EXPECT_EQ(example("stats.witness.v1/witness-day.json"),
            witnessValue(20782, "TLyqzVGLV1srkB7dToTAEqgDSfPtXRJZYH", figures));
  EXPECT_EQ("witness:2026-11-25:TLyqzVGLV1srkB7dToTAEqgDSfPtXRJZYH",
            witnessKey(20782, "TLyqzVGLV1srkB7dToTAEqgDSfPtXRJZYH"));

  // 532 odd of 1000: z = (532 − 500) / sqrt(250) = 2.0238577025077626.
  ParityWindow parity;
  parity.ring.assign(1000, 0);
  std::fill_n(parity.ring.begin(), 532, 1);
  parity.odd = 532;
  EXPECT_EQ(example("stats.parity.v1/window.json"), parityValue(60954080, 1000, parity));
  EXPECT_EQ("parity:1000", parityKey(1000));
}

// z-scores by hand: 2 odd of 3 → 0.5 / sqrt(0.75); a fair window → 0; an empty one → 0.
TEST(StatsValuesTest, ParityZScore) {
  EXPECT_DOUBLE_EQ(0.5773502691896258, parityZScore(2, 3));
  EXPECT_EQ(0.0, parityZScore(2, 4));
  EXPECT_EQ(1.0, parityZScore(3, 4));
  EXPECT_EQ(0.0, parityZScore(0, 0));
}

}  // namespace
}  // namespace stages::aggregator
