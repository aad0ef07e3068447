#include "stages/aggregator/stats_values.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>

#include "pipeline/json.h"

namespace stages::aggregator {
namespace {

template <typename T>
void appendInteger(std::string& out, T number) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, number);
  out.append(digits, end);
}

// Writes one flat stats value: `{"schema":"…"` then fields in call order. Faster than the general
// json::Writer (one reserved buffer, integers by to_chars), which matters at ~12 values per block;
// doubles still go through fmt's shortest round-trip form like json::Writer's, and strings through
// json::appendString unless they need no escaping (hex, base58, dates: the usual case).
class ValueWriter {
 public:
  explicit ValueWriter(std::string_view schema) {
    out_.reserve(384);
    out_ += "{\"schema\":\"";
    out_ += schema;
    out_ += '"';
  }

  template <typename T>
    requires std::is_integral_v<T> && (!std::is_same_v<T, bool>)
  ValueWriter& field(std::string_view name, T number) {
    key(name);
    appendInteger(out_, number);
    return *this;
  }
  ValueWriter& field(std::string_view name, bool flag) {
    key(name);
    out_ += flag ? "true" : "false";
    return *this;
  }
  ValueWriter& field(std::string_view name, double number) {
    key(name);
    if (std::isfinite(number)) {
      fmt::format_to(std::back_inserter(out_), "{}", number);
    } else {
      out_ += "null";  // no JSON form; unreachable for the ratios and z-scores written here
    }
    return *this;
  }
  ValueWriter& field(std::string_view name, std::string_view text) {
    key(name);
    const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
      return c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20;
    });
    if (plain) {
      out_ += '"';
      out_ += text;
      out_ += '"';
    } else {
      pipeline::json::appendString(out_, text);
    }
    return *this;
  }

  std::string finish() {
    out_ += '}';
    return std::move(out_);
  }

 private:
  void key(std::string_view name) {
    out_ += ",\"";
    out_ += name;
    out_ += "\":";
  }

  std::string out_;
};

// `prefix` then the decimal number: keys are built on every block.
template <typename T>
std::string keyWithNumber(std::string_view prefix, T number) {
  std::string key(prefix);
  appendInteger(key, number);
  return key;
}

std::string periodValue(std::string_view schema, std::string_view label_field, std::string_view label,
                        std::int64_t length_ms, const PeriodStats& stats, const UtcOffset& offset) {
  const double odd_rate =
      stats.blocks == 0 ? 0.0 : static_cast<double>(stats.odd) / static_cast<double>(stats.blocks);
  return ValueWriter(schema)
      .field(label_field, label)
      .field("utc_offset", offset.text)
      .field("start_ms", bucketStartMs(stats.index, offset, length_ms))
      .field("blocks", stats.blocks)
      .field("odd", stats.odd)
      .field("even", stats.blocks - stats.odd)
      .field("odd_rate", odd_rate)
      .field("transactions", stats.transactions)
      .field("failed_transactions", stats.failed_transactions)
      .field("trx_transferred_sun", stats.trx_transferred_sun.toDecimal())
      .field("trc20_transfers", stats.trc20_transfers)
      .field("usdt_transfers", stats.usdt_transfers)
      .field("usdt_volume", stats.usdt_volume.toDecimal())
      .field("missed_slots", stats.missed_slots)
      .field("first_height", stats.first_height)
      .field("last_height", stats.last_height)
      .field("score_close", stats.score_close)
      .finish();
}

}  // namespace

std::string pointsKey(std::uint64_t height) { return keyWithNumber("points:", height); }

std::string pointsValue(const BlockInput& block, std::int64_t score) {
  return ValueWriter("stats.points.v1")
      .field("height", block.height)
      .field("block_id", block.block_id)
      .field("timestamp_ms", block.timestamp_ms)
      .field("last_digit", block.last_digit)
      .field("is_odd", block.is_odd)
      .field("point", block.is_odd ? -1 : 1)
      .field("score", score)
      .finish();
}

std::string dailyKey(std::int64_t day_index) { return "daily:" + dateOfDay(day_index); }
std::string hourlyKey(std::int64_t hour_index) { return "hourly:" + hourOfHour(hour_index); }

std::string dailyValue(const PeriodStats& day, const UtcOffset& offset) {
  return periodValue("stats.daily.v1", "date", dateOfDay(day.index), kDayMs, day, offset);
}

std::string hourlyValue(const PeriodStats& hour, const UtcOffset& offset) {
  return periodValue("stats.hourly.v1", "hour", hourOfHour(hour.index), kHourMs, hour, offset);
}

std::string candleKey(CandlePeriod period, std::int64_t start) {
  std::string prefix = "candle:";
  prefix += candlePeriodName(period);
  prefix += ':';
  return keyWithNumber(prefix, start);
}

std::string candleValue(CandlePeriod period, const Candle& candle) {
  const std::int64_t length = period == CandlePeriod::Blocks20
                                  ? static_cast<std::int64_t>(kCandleWindowBlocks)
                                  : candlePeriodMs(period);
  return ValueWriter("stats.candle.v1")
      .field("period", candlePeriodName(period))
      .field("start", candle.start)
      .field("end", candle.start + length)
      .field("open", candle.open)
      .field("high", candle.high)
      .field("low", candle.low)
      .field("close", candle.close)
      .field("volume", candle.volume)
      .field("first_height", candle.first_height)
      .field("last_height", candle.last_height)
      .finish();
}

std::string witnessKey(std::int64_t day_index, std::string_view witness) {
  std::string key = "witness:" + dateOfDay(day_index);
  key += ':';
  key += witness;
  return key;
}

std::string witnessValue(std::int64_t day_index, std::string_view witness, const WitnessDay& figures) {
  return ValueWriter("stats.witness.v1")
      .field("date", dateOfDay(day_index))
      .field("witness", witness)
      .field("witness_hex", figures.witness_hex)
      .field("blocks", figures.blocks)
      .field("missed_slots", figures.missed_slots)
      .finish();
}

std::string parityKey(std::uint32_t window) { return keyWithNumber("parity:", window); }

std::string parityValue(std::uint64_t height, std::uint32_t window, const ParityWindow& parity) {
  const auto blocks = static_cast<std::uint64_t>(parity.ring.size());
  return ValueWriter("stats.parity.v1")
      .field("height", height)
      .field("window", window)
      .field("blocks", blocks)
      .field("odd", parity.odd)
      .field("z_score", parityZScore(parity.odd, blocks))
      .finish();
}

double parityZScore(std::uint64_t odd, std::uint64_t blocks) noexcept {
  if (blocks == 0) return 0.0;
  const double n = static_cast<double>(blocks);
  return (static_cast<double>(odd) - n / 2.0) / std::sqrt(n / 4.0);
}

}  // namespace stages::aggregator
