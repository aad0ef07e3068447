#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "stages/persister/records.h"

namespace stages::persister {

/** Bucket length of a candle period: ms for 1m … 1d, heights for 20b; nullopt if unknown. */
std::optional<std::int64_t> periodLength(std::string_view period) noexcept;

/** A candle as the API returns it: stored, or made up for a bucket without blocks. */
struct SeriesCandle {
  CandleRow candle;
  bool filled = false;  // no block in the bucket: flat at the previous close, volume 0
};

/**
 * The buckets from, from + step, …, ≤ to, each the stored candle of that start or, when there is
 * none, a flat candle at the previous close with volume 0 (docs/statistics.md §4: empty buckets
 * are not stored but filled for clients). `stored` is ascending within [from, to]; `before` is the
 * last stored candle before `from`, whose close opens the range. Buckets before the first known
 * close are left out (nothing to be flat at). first_height and last_height of a filled candle
 * are the last block before it.
 */
std::vector<SeriesCandle> fillBuckets(const std::vector<CandleRow>& stored,
                                      const std::optional<CandleRow>& before, std::int64_t from,
                                      std::int64_t to, std::int64_t step);

/** Simple moving average of the last `n` values at each index; nullopt until n values exist. */
std::vector<std::optional<double>> movingAverage(const std::vector<double>& values, std::size_t n);

/**
 * RSI over `n` periods with Wilder's smoothing: the first average gain/loss is the mean of the
 * first n changes, then avg = (avg·(n−1) + change)/n. RSI = 100 − 100/(1 + gain/loss); 100 when
 * only gains, 0 when only losses, 50 when flat (no gain and no loss). nullopt for the first n
 * indexes (fewer than n changes).
 */
std::vector<std::optional<double>> wilderRsi(const std::vector<double>& closes, std::size_t n);

/** Change statistics of a candle series (per candle, change = close − open). */
struct ChangeStats {
  std::size_t candles = 0;
  std::int64_t total_change = 0;  // last close − first open
  std::int64_t max_gain = 0;      // largest positive change, 0 if none
  std::int64_t max_loss = 0;      // most negative change (≤ 0), 0 if none
  std::size_t up = 0;             // close > open
  std::size_t down = 0;           // close < open
  std::size_t flat = 0;           // close = open
  double average_volume = 0;      // blocks per candle
  double volatility = 0;          // population standard deviation of the changes
  double win_rate = 0;            // up / (up + down); 0 when neither
};
ChangeStats changeStats(const std::vector<SeriesCandle>& series);

}  // namespace stages::persister
