#include "stages/persister/indicators.h"

#include <algorithm>
#include <cmath>

namespace stages::persister {

std::optional<std::int64_t> periodLength(std::string_view period) noexcept {
  constexpr std::int64_t kMinute = 60'000;
  if (period == "1m") return kMinute;
  if (period == "5m") return 5 * kMinute;
  if (period == "15m") return 15 * kMinute;
  if (period == "1h") return 60 * kMinute;
  if (period == "4h") return 240 * kMinute;
  if (period == "1d") return 1440 * kMinute;
  if (period == "20b") return 20;
  return std::nullopt;
}

std::vector<SeriesCandle> fillBuckets(const std::vector<CandleRow>& stored,
                                      const std::optional<CandleRow>& before, std::int64_t from,
                                      std::int64_t to, std::int64_t step) {
  std::vector<SeriesCandle> series;
  std::optional<CandleRow> previous = before;
  auto next = stored.begin();
  for (std::int64_t start = from; start <= to; start += step) {
    while (next != stored.end() && next->start < start) ++next;  // misaligned rows: skipped
    if (next != stored.end() && next->start == start) {
      series.push_back({*next, false});
      previous = *next;
      ++next;
      continue;
    }
    if (!previous) continue;
    CandleRow flat{.period = previous->period,
                   .start = start,
                   .end = start + step,
                   .open = previous->close,
                   .high = previous->close,
                   .low = previous->close,
                   .close = previous->close,
                   .volume = 0,
                   .first_height = previous->last_height,
                   .last_height = previous->last_height};
    series.push_back({flat, true});
  }
  return series;
}

std::vector<std::optional<double>> movingAverage(const std::vector<double>& values, std::size_t n) {
  std::vector<std::optional<double>> out(values.size());
  if (n == 0) return out;
  double sum = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    sum += values[i];
    if (i >= n) sum -= values[i - n];
    if (i + 1 >= n) out[i] = sum / static_cast<double>(n);
  }
  return out;
}

std::vector<std::optional<double>> wilderRsi(const std::vector<double>& closes, std::size_t n) {
  std::vector<std::optional<double>> out(closes.size());
  if (n == 0 || closes.size() <= n) return out;
  const auto rsi = [](double gain, double loss) {
    if (gain == 0 && loss == 0) return 50.0;
    if (loss == 0) return 100.0;
    return 100.0 - 100.0 / (1.0 + gain / loss);
  };
  double gain = 0;
  double loss = 0;
  for (std::size_t i = 1; i <= n; ++i) {
    const double change = closes[i] - closes[i - 1];
    gain += std::max(change, 0.0);
    loss += std::max(-change, 0.0);
  }
  const double periods = static_cast<double>(n);
  gain /= periods;
  loss /= periods;
  out[n] = rsi(gain, loss);
  for (std::size_t i = n + 1; i < closes.size(); ++i) {
    const double change = closes[i] - closes[i - 1];
    gain = (gain * (periods - 1) + std::max(change, 0.0)) / periods;
    loss = (loss * (periods - 1) + std::max(-change, 0.0)) / periods;
    out[i] = rsi(gain, loss);
  }
  return out;
}

ChangeStats changeStats(const std::vector<SeriesCandle>& series) {
  ChangeStats stats;
  stats.candles = series.size();
  if (series.empty()) return stats;
  stats.total_change = series.back().candle.close - series.front().candle.open;
  double volume = 0;
  double sum = 0;
  double sum_squares = 0;
  for (const auto& item : series) {
    const std::int64_t change = item.candle.close - item.candle.open;
    stats.max_gain = std::max(stats.max_gain, change);
    stats.max_loss = std::min(stats.max_loss, change);
    if (change > 0) ++stats.up;
    else if (change < 0) ++stats.down;
    else ++stats.flat;
    volume += static_cast<double>(item.candle.volume);
    sum += static_cast<double>(change);
    sum_squares += static_cast<double>(change) * static_cast<double>(change);
  }
  const double count = static_cast<double>(series.size());
  stats.average_volume = volume / count;
  const double mean = sum / count;
  stats.volatility = std::sqrt(std::max(0.0, sum_squares / count - mean * mean));
  if (stats.up + stats.down > 0) {
    stats.win_rate = static_cast<double>(stats.up) / static_cast<double>(stats.up + stats.down);
  }
  return stats;
}

}  // namespace stages::persister
