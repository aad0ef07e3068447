#include "stages/aggregator/time_buckets.h"

#include <fmt/format.h>

namespace stages::aggregator {
namespace {

struct CivilDate {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

// Days since 1970-01-01 → proleptic Gregorian date (H. Hinnant's civil_from_days).
CivilDate civilFromDays(std::int64_t days) noexcept {
  days += 719468;
  const std::int64_t era = floorDiv(days, 146097);
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned mp = (5 * day_of_year + 2) / 153;
  const unsigned day = day_of_year - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0);
  return {year, month, day};
}

}  // namespace

pipeline::Result<UtcOffset> UtcOffset::parse(std::string_view text) {
  const auto invalid = [&](std::string_view why) {
    return pipeline::Error{pipeline::ErrorType::InvalidArgument,
                           std::string(why) + " (got \"" + std::string(text) + "\")"};
  };
  const auto digit = [&](std::size_t i) { return text[i] >= '0' && text[i] <= '9'; };
  if (text.size() != 6 || (text[0] != '+' && text[0] != '-') || text[3] != ':' || !digit(1) ||
      !digit(2) || !digit(4) || !digit(5)) {
    return invalid("must be a UTC offset +HH:MM or -HH:MM");
  }
  const int hours = (text[1] - '0') * 10 + (text[2] - '0');
  const int minutes = (text[4] - '0') * 10 + (text[5] - '0');
  if (minutes >= 60) return invalid("minutes must be below 60");
  if (hours * 60 + minutes > 14 * 60) return invalid("must be within -14:00..+14:00");
  const std::int64_t magnitude = (std::int64_t{hours} * 60 + minutes) * kMinuteMs;
  UtcOffset offset;
  offset.ms = text[0] == '-' ? -magnitude : magnitude;
  // "-00:00" means UTC: written as "+00:00" so equal offsets have equal text.
  offset.text = magnitude == 0 ? "+00:00" : std::string(text);
  return offset;
}

// Dates are formatted on every block, so by hand rather than through fmt.
std::string dateOfDay(std::int64_t day_index) {
  const auto date = civilFromDays(day_index);
  if (date.year < 0 || date.year > 9999) {
    return fmt::format("{:04}-{:02}-{:02}", date.year, date.month, date.day);
  }
  const auto year = static_cast<unsigned>(date.year);
  const auto digit = [](unsigned value) { return static_cast<char>('0' + value % 10); };
  return {digit(year / 1000), digit(year / 100), digit(year / 10), digit(year), '-',
          digit(date.month / 10), digit(date.month), '-', digit(date.day / 10), digit(date.day)};
}

std::string hourOfHour(std::int64_t hour_index) {
  const std::int64_t day = floorDiv(hour_index, 24);
  const auto hour = static_cast<unsigned>(hour_index - day * 24);
  std::string text = dateOfDay(day);
  text += 'T';
  text += static_cast<char>('0' + hour / 10);
  text += static_cast<char>('0' + hour % 10);
  return text;
}

std::string_view candlePeriodName(CandlePeriod period) noexcept {
  switch (period) {
    case CandlePeriod::M1: return "1m";
    case CandlePeriod::M5: return "5m";
    case CandlePeriod::M15: return "15m";
    case CandlePeriod::H1: return "1h";
    case CandlePeriod::H4: return "4h";
    case CandlePeriod::D1: return "1d";
    case CandlePeriod::Blocks20: return "20b";
  }
  return "?";
}

std::int64_t candlePeriodMs(CandlePeriod period) noexcept {
  switch (period) {
    case CandlePeriod::M1: return kMinuteMs;
    case CandlePeriod::M5: return 5 * kMinuteMs;
    case CandlePeriod::M15: return 15 * kMinuteMs;
    case CandlePeriod::H1: return kHourMs;
    case CandlePeriod::H4: return 4 * kHourMs;
    case CandlePeriod::D1: return kDayMs;
    case CandlePeriod::Blocks20: return 0;
  }
  return 0;
}

}  // namespace stages::aggregator
