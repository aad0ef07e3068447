#include "pipeline/amount_sum.h"

#include <gtest/gtest.h>

#include <string>

namespace pipeline {
namespace {

// 2^256 - 1, the largest uint256 (64 'f' hex digits).
constexpr std::string_view kMaxWordDecimal =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";

// An empty sum is "0"; uint64 amounts add exactly past 2^64.
TEST(AmountSumTest, AddsUint64PastTwoToTheSixtyFour) {
  AmountSum sum;
  EXPECT_EQ("0", sum.toDecimal());
  EXPECT_TRUE(sum.isZero());
  sum.add(18446744073709551615u);  // 2^64 - 1
  sum.add(1);
  EXPECT_EQ("18446744073709551616", sum.toDecimal());  // 2^64
}

// A full uint256 word, then one more: 2^256, computed independently with Python int arithmetic.
TEST(AmountSumTest, AddsHexWords) {
  AmountSum sum;
  ASSERT_TRUE(sum.addHexWord(std::string(64, 'f')));
  EXPECT_EQ(kMaxWordDecimal, sum.toDecimal());
  sum.add(1);
  EXPECT_EQ("115792089237316195423570985008687907853269984665640564039457584007913129639936",
            sum.toDecimal());
  EXPECT_FALSE(sum.addHexWord("ff"));
  EXPECT_FALSE(sum.addHexWord(std::string(63, '0') + "g"));
}

// Decimal text round-trips through the sum and adds like numbers; bad text changes nothing.
TEST(AmountSumTest, AddsDecimalStrings) {
  AmountSum sum;
  ASSERT_TRUE(sum.addDecimal(kMaxWordDecimal));
  EXPECT_EQ(kMaxWordDecimal, sum.toDecimal());
  AmountSum small;
  ASSERT_TRUE(small.addDecimal("999999999"));     // one full nine-digit chunk
  ASSERT_TRUE(small.addDecimal("1000000000"));    // a chunk boundary: ten digits
  ASSERT_TRUE(small.addDecimal("0"));
  EXPECT_EQ("1999999999", small.toDecimal());
  for (std::string_view bad : {"", "01", "-1", "1.5", "12a", " 1"}) {
    EXPECT_FALSE(small.addDecimal(bad)) << bad;
  }
  EXPECT_EQ("1999999999", small.toDecimal());
}

// 2^320 does not fit: the addition that would overflow is refused and the sum is unchanged.
TEST(AmountSumTest, RefusesOverflow) {
  AmountSum sum;
  // 2^320 - 1 = 2135987035920910082395021706169552114602704522356652769947041607822219725780640550022962086936575
  const std::string max320 =
      "2135987035920910082395021706169552114602704522356652769947041607822219725780640550022962086936575";
  ASSERT_TRUE(sum.addDecimal(max320));
  EXPECT_EQ(max320, sum.toDecimal());
  EXPECT_FALSE(sum.addDecimal("1"));
  EXPECT_FALSE(sum.addDecimal(max320 + "0"));
  AmountSum one;
  one.add(1);
  EXPECT_FALSE(sum.add(one));
  EXPECT_EQ(max320, sum.toDecimal());
}

}  // namespace
}  // namespace pipeline
