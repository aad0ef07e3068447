#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "stages/aggregator/fold.h"

// Keys and values of the `stats` topic (schemas/stats.*.v1.schema.json). Every value is written
// with its fields in the order of the schema examples and every double by one function
// (json::Writer: shortest round-trip form), so equal statistics are equal bytes. Pure.
namespace stages::aggregator {

/** points:<height> */
std::string pointsKey(std::uint64_t height);
std::string pointsValue(const BlockInput& block, std::int64_t score);

/** daily:<YYYY-MM-DD> / hourly:<YYYY-MM-DDTHH> of a day or hour index. */
std::string dailyKey(std::int64_t day_index);
std::string hourlyKey(std::int64_t hour_index);
std::string dailyValue(const PeriodStats& day, const UtcOffset& offset);
std::string hourlyValue(const PeriodStats& hour, const UtcOffset& offset);

/** candle:<period>:<start> (start in ms since the epoch, or the first height of a 20b window). */
std::string candleKey(CandlePeriod period, std::int64_t start);
std::string candleValue(CandlePeriod period, const Candle& candle);

/** witness:<YYYY-MM-DD>:<T-address> */
std::string witnessKey(std::int64_t day_index, std::string_view witness);
std::string witnessValue(std::int64_t day_index, std::string_view witness, const WitnessDay& figures);

/** parity:<window> */
std::string parityKey(std::uint32_t window);
std::string parityValue(std::uint64_t height, std::uint32_t window, const ParityWindow& parity);

/** (odd − n/2) / sqrt(n/4): the odd count's distance from a fair coin in standard deviations. */
double parityZScore(std::uint64_t odd, std::uint64_t blocks) noexcept;

}  // namespace stages::aggregator
