#include "stages/aggregator/time_buckets.h"

#include <gtest/gtest.h>

namespace stages::aggregator {
namespace {

// Offsets: sign, hours and minutes; the ±14:00 bound; -00:00 is written as +00:00.
TEST(UtcOffsetTest, ParsesAndValidates) {
  EXPECT_EQ(8 * kHourMs, UtcOffset::parse("+08:00")->ms);
  EXPECT_EQ("+08:00", UtcOffset::parse("+08:00")->text);
  EXPECT_EQ(-(5 * kHourMs + 30 * kMinuteMs), UtcOffset::parse("-05:30")->ms);
  EXPECT_EQ(14 * kHourMs, UtcOffset::parse("+14:00")->ms);
  EXPECT_EQ("+00:00", UtcOffset::parse("-00:00")->text);
  for (std::string_view bad : {"+14:01", "-15:00", "+8:00", "08:00", "+08:60", "+08-00", "", "+08:00 "}) {
    EXPECT_FALSE(UtcOffset::parse(bad).has_value()) << bad;
  }
}

// Civil dates: day 0 is 1970-01-01; day 20787 is 2026-11-30 (the schema examples); leap days.
TEST(TimeBucketsTest, FormatsDatesAndHours) {
  EXPECT_EQ("1970-01-01", dateOfDay(0));
  EXPECT_EQ("1969-12-31", dateOfDay(-1));
  EXPECT_EQ("2026-11-30", dateOfDay(20787));
  EXPECT_EQ("2024-02-29", dateOfDay(19782));  // 2024-01-01 is day 19723; + 31 + 28
  EXPECT_EQ("2026-11-30T13", hourOfHour(498901));
  EXPECT_EQ("1969-12-31T23", hourOfHour(-1));
}

// Buckets floor in shifted time, also below the epoch: 00:30Z at -01:00 is the previous day.
TEST(TimeBucketsTest, BucketsShiftByTheOffset) {
  const auto minus_one = *UtcOffset::parse("-01:00");
  EXPECT_EQ(-1, bucketIndex(30 * kMinuteMs, minus_one, kDayMs));
  EXPECT_EQ(kHourMs - kDayMs, bucketStartMs(-1, minus_one, kDayMs));  // 1969-12-31T00:00-01:00
  const auto plus_eight = *UtcOffset::parse("+08:00");
  // 2026-11-29T16:00:00Z is 2026-11-30T00:00+08:00: day 20787 starts there.
  EXPECT_EQ(20787, bucketIndex(1795968000000, plus_eight, kDayMs));
  EXPECT_EQ(20786, bucketIndex(1795968000000 - 1, plus_eight, kDayMs));
  EXPECT_EQ(1795968000000, bucketStartMs(20787, plus_eight, kDayMs));
}

}  // namespace
}  // namespace stages::aggregator
