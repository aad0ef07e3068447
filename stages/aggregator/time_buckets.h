#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "pipeline/status.h"

// Calendar arithmetic of the statistics: fixed-offset buckets of block time (architecture §3).
// Pure; any thread.
namespace stages::aggregator {

inline constexpr std::int64_t kMinuteMs = 60'000;
inline constexpr std::int64_t kHourMs = 3'600'000;
inline constexpr std::int64_t kDayMs = 86'400'000;
/** TRON produces one block per 3 s slot. */
inline constexpr std::int64_t kSlotMs = 3'000;

/** A fixed UTC offset such as +08:00 (no daylight saving: buckets never change length). */
struct UtcOffset {
  std::int64_t ms = 0;
  /** Canonical "+HH:MM" / "-HH:MM" text, as written into stats values. */
  std::string text = "+00:00";

  /**
   * Parses ±HH:MM with |offset| ≤ 14:00 and minutes < 60. Errors: InvalidArgument naming what is
   * wrong (the config parser prefixes the key).
   */
  [[nodiscard]] static pipeline::Result<UtcOffset> parse(std::string_view text);

  friend bool operator==(const UtcOffset&, const UtcOffset&) = default;
};

/** floor(a / b) for b > 0, also for negative a (block time shifted by a negative offset). */
constexpr std::int64_t floorDiv(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/** Index of the bucket of `length_ms` holding `timestamp_ms` in offset-shifted time. */
constexpr std::int64_t bucketIndex(std::int64_t timestamp_ms, const UtcOffset& offset,
                                   std::int64_t length_ms) noexcept {
  return floorDiv(timestamp_ms + offset.ms, length_ms);
}

/** Start of bucket `index` as milliseconds since the Unix epoch (UTC). */
constexpr std::int64_t bucketStartMs(std::int64_t index, const UtcOffset& offset,
                                     std::int64_t length_ms) noexcept {
  return index * length_ms - offset.ms;
}

/** "YYYY-MM-DD" of a day index (days since 1970-01-01 in the offset's local time). */
std::string dateOfDay(std::int64_t day_index);
/** "YYYY-MM-DDTHH" of an hour index (hours since 1970-01-01T00 local). */
std::string hourOfHour(std::int64_t hour_index);

/** The candle periods, in the order outputs list them. */
enum class CandlePeriod { M1, M5, M15, H1, H4, D1, Blocks20 };
inline constexpr std::size_t kCandlePeriods = 7;
inline constexpr std::array<CandlePeriod, kCandlePeriods> kAllCandlePeriods = {
    CandlePeriod::M1, CandlePeriod::M5,  CandlePeriod::M15,     CandlePeriod::H1,
    CandlePeriod::H4, CandlePeriod::D1, CandlePeriod::Blocks20};
/** Blocks per block-window candle; windows start at multiples of it. */
inline constexpr std::uint64_t kCandleWindowBlocks = 20;

/** "1m", "5m", "15m", "1h", "4h", "1d", "20b". */
std::string_view candlePeriodName(CandlePeriod period) noexcept;
/** Length in ms of a time period; 0 for the block window. */
std::int64_t candlePeriodMs(CandlePeriod period) noexcept;

}  // namespace stages::aggregator
