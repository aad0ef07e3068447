#include "stages/persister/indicators.h"

#include <gtest/gtest.h>

#include <cmath>

namespace stages::persister {
namespace {

CandleRow candle(std::int64_t start, std::int64_t open, std::int64_t close, std::int64_t volume) {
  return CandleRow{.period = "1m", .start = start, .end = start + 60000, .open = open,
                   .high = std::max(open, close), .low = std::min(open, close), .close = close,
                   .volume = volume, .first_height = start / 1000, .last_height = start / 1000 + volume - 1};
}

// Bucket lengths follow docs/statistics.md §4; anything else is unknown.
TEST(IndicatorsTest, KnowsThePeriods) {
  EXPECT_EQ(60000, periodLength("1m"));
  EXPECT_EQ(14400000, periodLength("4h"));
  EXPECT_EQ(86400000, periodLength("1d"));
  EXPECT_EQ(20, periodLength("20b"));
  EXPECT_FALSE(periodLength("2m"));
  EXPECT_FALSE(periodLength(""));
}

// Moving averages of the last n closes, absent until n closes exist.
TEST(IndicatorsTest, MovingAverages) {
  const auto ma = movingAverage({1, 2, 3, 4, 5, 6, 10}, 5);
  EXPECT_FALSE(ma[3].has_value());
  EXPECT_DOUBLE_EQ(3.0, *ma[4]);                    // (1+2+3+4+5)/5
  EXPECT_DOUBLE_EQ(4.0, *ma[5]);                    // (2+3+4+5+6)/5
  EXPECT_DOUBLE_EQ(28.0 / 5, *ma[6]);               // (3+4+5+6+10)/5
}

// RSI(14) with Wilder's smoothing, checked against a hand computation.
TEST(IndicatorsTest, WilderRsiMatchesAHandComputation) {
  // 14 changes: ten +1 then four −1, then one +2.
  std::vector<double> closes{0};
  for (int i = 0; i < 10; ++i) closes.push_back(closes.back() + 1);
  for (int i = 0; i < 4; ++i) closes.push_back(closes.back() - 1);
  closes.push_back(closes.back() + 2);
  const auto rsi = wilderRsi(closes, 14);
  ASSERT_EQ(16u, rsi.size());
  for (std::size_t i = 0; i < 14; ++i) EXPECT_FALSE(rsi[i].has_value()) << i;
  // avg gain 10/14, avg loss 4/14: RS 2.5, RSI = 100 − 100/3.5.
  EXPECT_NEAR(71.428571, *rsi[14], 1e-6);
  // gain = (10/14·13 + 2)/14 = 0.806122…, loss = (4/14·13)/14 = 0.265306…: RS 3.038461…
  EXPECT_NEAR(75.238095, *rsi[15], 1e-6);
}

// Only gains give 100, only losses 0, a flat series 50.
TEST(IndicatorsTest, RsiEdges) {
  std::vector<double> up, down, flat;
  for (int i = 0; i < 20; ++i) {
    up.push_back(i);
    down.push_back(-i);
    flat.push_back(7);
  }
  EXPECT_DOUBLE_EQ(100.0, *wilderRsi(up, 14).back());
  EXPECT_DOUBLE_EQ(0.0, *wilderRsi(down, 14).back());
  EXPECT_DOUBLE_EQ(50.0, *wilderRsi(flat, 14).back());
  EXPECT_FALSE(wilderRsi({1, 2, 3}, 14).back().has_value());
}

// Empty buckets become flat candles at the previous close with volume 0; buckets before any
// known close are left out.
TEST(IndicatorsTest, FillsEmptyBucketsFlat) {
  const std::vector<CandleRow> stored{candle(120000, 0, 2, 3), candle(300000, 2, 1, 2)};
  const auto series = fillBuckets(stored, std::nullopt, 0, 300000, 60000);
  ASSERT_EQ(4u, series.size());  // 0 and 60000 have nothing to be flat at
  EXPECT_FALSE(series[0].filled);
  EXPECT_EQ(120000, series[0].candle.start);
  EXPECT_TRUE(series[1].filled);
  EXPECT_EQ(180000, series[1].candle.start);
  EXPECT_EQ(2, series[1].candle.open);
  EXPECT_EQ(2, series[1].candle.high);
  EXPECT_EQ(2, series[1].candle.low);
  EXPECT_EQ(2, series[1].candle.close);
  EXPECT_EQ(0, series[1].candle.volume);
  EXPECT_EQ(122, series[1].candle.last_height);  // the last block before the gap
  EXPECT_TRUE(series[2].filled);
  EXPECT_FALSE(series[3].filled);
  // A candle before the range opens it.
  const auto opened = fillBuckets(stored, candle(0, 5, -1, 1), 60000, 120000, 60000);
  ASSERT_EQ(2u, opened.size());
  EXPECT_TRUE(opened[0].filled);
  EXPECT_EQ(-1, opened[0].candle.close);
}

// Change statistics over a series, by hand: changes +2, −1, 0, +3.
TEST(IndicatorsTest, ChangeStats) {
  std::vector<SeriesCandle> series{{candle(0, 0, 2, 3)}, {candle(60000, 2, 1, 1)},
                                   {candle(120000, 1, 1, 0), true}, {candle(180000, 1, 4, 4)}};
  const ChangeStats stats = changeStats(series);
  EXPECT_EQ(4u, stats.candles);
  EXPECT_EQ(4, stats.total_change);  // 4 − 0
  EXPECT_EQ(3, stats.max_gain);
  EXPECT_EQ(-1, stats.max_loss);
  EXPECT_EQ(2u, stats.up);
  EXPECT_EQ(1u, stats.down);
  EXPECT_EQ(1u, stats.flat);
  EXPECT_DOUBLE_EQ(2.0, stats.average_volume);
  EXPECT_DOUBLE_EQ(std::sqrt(2.5), stats.volatility);  // mean 1; squares 1, 4, 1, 4
  EXPECT_DOUBLE_EQ(2.0 / 3.0, stats.win_rate);
  EXPECT_EQ(0u, changeStats({}).candles);
}

}  // namespace
}  // namespace stages::persister
