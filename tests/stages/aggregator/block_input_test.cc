#include "stages/aggregator/block_input.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace stages::aggregator {
namespace {

std::string example(std::string_view name) {
  std::ifstream file(std::string(POINTTRON_SOURCE_DIR) + "/schemas/examples/block.v1/" + std::string(name));
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The digit is the last 0–9 character: letters after it are skipped, 0x is ignored.
TEST(LastDigitTest, ScansBackOverLetters) {
  EXPECT_EQ(9, lastDigitOf("0000000003a215e0d8b3bb4c8ba4e5c6e1a8f0bb1f0b0a2e8f4e6c0d6b1c2a39"));
  EXPECT_EQ(2, lastDigitOf("00000000000000642abcdef"));
  EXPECT_EQ(0, lastDigitOf("0x10fff"));
  EXPECT_EQ(std::nullopt, lastDigitOf("0xabc"));
  EXPECT_EQ(std::nullopt, lastDigitOf(""));
}

// The golden block: every field the statistics use.
TEST(BlockInputParserTest, ParsesTheExampleBlock) {
  BlockInputParser parser;
  const auto record = parser.parse(example("block.json"));
  ASSERT_TRUE(record.has_value()) << record.error().message;
  const auto& block = std::get<BlockInput>(*record);
  EXPECT_EQ(60954080u, block.height);
  EXPECT_EQ("0000000003a215e0d8b3bb4c8ba4e5c6e1a8f0bb1f0b0a2e8f4e6c0d6b1c2a39", block.block_id);
  EXPECT_EQ("0000000003a215df6f2e1a3d2c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3", block.parent_id);
  EXPECT_EQ(1712345679000, block.timestamp_ms);
  EXPECT_EQ("TLyqzVGLV1srkB7dToTAEqgDSfPtXRJZYH", block.witness);
  EXPECT_EQ("4178c842ee63b253f8f0d2955bbc582c661a078c9d", block.witness_hex);
  EXPECT_EQ(5u, block.tx_count);
  EXPECT_EQ(1u, block.tx_failed);
  EXPECT_EQ("9223372036854775808", block.trx_transferred_sun);
  EXPECT_EQ(2u, block.trc20_transfers);
  EXPECT_EQ(2u, block.usdt_transfers);
  EXPECT_EQ("115792089237316195423570985008687907853269984665640564039457584007913129639935",
            block.usdt_volume);
  EXPECT_EQ(9, block.last_digit);
  EXPECT_TRUE(block.is_odd);
  EXPECT_TRUE(std::holds_alternative<BlockInput>(*parser.parse(example("empty-block-from-a-file.json"))));
}

// The retraction form.
TEST(BlockInputParserTest, ParsesRetractions) {
  BlockInputParser parser;
  const auto record = parser.parse(example("retraction.json"));
  ASSERT_TRUE(record.has_value()) << record.error().message;
  const auto& retraction = std::get<Retraction>(*record);
  EXPECT_EQ(60954080u, retraction.height);
  EXPECT_EQ("0000000003a215e0d8b3bb4c8ba4e5c6e1a8f0bb1f0b0a2e8f4e6c0d6b1c2a39", retraction.block_id);
}

// Malformed values are InvalidPayload with a machine reason first.
TEST(BlockInputParserTest, RejectsMalformedValues) {
  const std::string good = example("block.json");
  const auto replaced = [&](std::string_view from, std::string_view to) {
    std::string text = good;
    const auto at = text.find(from);
    EXPECT_NE(std::string::npos, at) << from;
    return text.replace(at, from.size(), to);
  };
  const std::pair<std::string, std::string_view> cases[] = {
      {"{", "invalid_json"},
      {"[1]", "invalid_json"},
      {replaced("\"block.v1\"", "\"block.v2\""), "wrong_schema"},
      {replaced("\"tx_count\":5,", ""), "missing_field:tx_count"},
      {replaced("\"tx_count\":5", "\"tx_count\":-5"), "bad_field:tx_count"},
      {replaced("\"usdt_volume\":\"1", "\"usdt_volume\":\"01"), "bad_field:usdt_volume"},
      {replaced("\"last_digit\":9", "\"last_digit\":8"), "last_digit_mismatch"},
      {replaced("\"is_odd\":true", "\"is_odd\":false"), "last_digit_mismatch"},
      {replaced("\"witness\":\"TL", "\"witness\":\"XL"), "bad_field:witness"},
      {replaced("\"parent_id\":\"0000000003a215df", "\"parent_id\":\"0000000003A21adf"), "bad_field:parent_id"},
  };
  BlockInputParser parser;
  for (const auto& [text, reason] : cases) {
    const auto record = parser.parse(text);
    ASSERT_FALSE(record.has_value()) << reason;
    EXPECT_EQ(pipeline::ErrorType::InvalidPayload, record.error().type);
    EXPECT_EQ(0u, record.error().message.rfind(reason, 0)) << record.error().message;
  }
}

}  // namespace
}  // namespace stages::aggregator
