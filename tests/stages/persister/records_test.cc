#include "stages/persister/records.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/stages/persister/test_data.h"

namespace stages::persister {
namespace {

std::string example(const std::string& relative) {
  std::ifstream file(std::string(POINTTRON_SOURCE_DIR) + "/schemas/examples/" + relative);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

class RecordParserTest : public ::testing::Test {
 protected:
  pipeline::Result<Mutation> parse(Input input, std::string_view key, std::string_view value) {
    return parser_.parse(input, key, value);
  }
  RecordParser parser_;
};

// The golden block.v1 example becomes a row with every field, tx_by_type kept as compact JSON.
TEST_F(RecordParserTest, ParsesTheBlockExample) {
  auto parsed = parse(Input::Blocks, "60954080", example("block.v1/block.json"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& block = std::get<BlockRow>(*parsed);
  EXPECT_EQ(60954080, block.height);
  EXPECT_EQ(1712345679000, block.timestamp_ms);
  EXPECT_EQ("TLyqzVGLV1srkB7dToTAEqgDSfPtXRJZYH", block.witness);
  EXPECT_EQ(R"({"TransferContract":2,"TriggerSmartContract":3})", block.tx_by_type);
  EXPECT_EQ("9223372036854775808", block.trx_transferred_sun);
  EXPECT_EQ(78u, block.usdt_volume.size());
  EXPECT_EQ(9, block.last_digit);
  EXPECT_TRUE(block.is_odd);
  EXPECT_EQ(1712345679412, block.fetched_at_ms);
  EXPECT_EQ("https://api.trongrid.io", block.source);
}

// A retraction names the height and the block that left the chain.
TEST_F(RecordParserTest, ParsesARetraction) {
  auto parsed = parse(Input::Blocks, "60954080", example("block.v1/retraction.json"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& retraction = std::get<BlockRetraction>(*parsed);
  EXPECT_EQ(60954080, retraction.height);
  EXPECT_EQ("0000000003a215e0d8b3bb4c8ba4e5c6e1a8f0bb1f0b0a2e8f4e6c0d6b1c2a39", retraction.block_id);
}

// Every stats example parses under its key into the row of its table.
TEST_F(RecordParserTest, ParsesEveryStatsExample) {
  auto points = parse(Input::Stats, "points:60954080", example("stats.points.v1/odd-block.json"));
  ASSERT_TRUE(points) << points.error().message;
  EXPECT_EQ(-1203, std::get<PointsRow>(*points).score);
  auto daily = parse(Input::Stats, "daily:2026-11-25", example("stats.daily.v1/day.json"));
  ASSERT_TRUE(daily) << daily.error().message;
  EXPECT_EQ(28800, std::get<DailyRow>(*daily).blocks);
  EXPECT_DOUBLE_EQ(0.49725694444444446, std::get<DailyRow>(*daily).odd_rate);
  auto hourly = parse(Input::Stats, "hourly:2026-11-25T13", example("stats.hourly.v1/hour.json"));
  ASSERT_TRUE(hourly) << hourly.error().message;
  EXPECT_EQ("2026-11-25T13", std::get<HourlyRow>(*hourly).bucket);
  auto candle = parse(Input::Stats, "candle:1m:1795536000000", example("stats.candle.v1/one-minute.json"));
  ASSERT_TRUE(candle) << candle.error().message;
  EXPECT_EQ(-1203, std::get<CandleRow>(*candle).low);
  auto window = parse(Input::Stats, "candle:20b:60954060", example("stats.candle.v1/twenty-blocks.json"));
  ASSERT_TRUE(window) << window.error().message;
  auto witness = parse(Input::Stats, "witness:2026-11-25:TLyqzVGLV1srkB7dToTAEqgDSfPtXRJZYH",
                       example("stats.witness.v1/witness-day.json"));
  ASSERT_TRUE(witness) << witness.error().message;
  EXPECT_EQ(1066, std::get<WitnessRow>(*witness).blocks);
  auto parity = parse(Input::Stats, "parity:1000", example("stats.parity.v1/window.json"));
  ASSERT_TRUE(parity) << parity.error().message;
  EXPECT_EQ(532, std::get<ParityRow>(*parity).odd);
}

// A null value on stats is a tombstone of the row its key names.
TEST_F(RecordParserTest, AnEmptyStatsValueIsATombstone) {
  auto deletion = parse(Input::Stats, "witness:2026-11-25:TLyqzVGLV1srkB7dToTAEqgDSfPtXRJZYH", "");
  ASSERT_TRUE(deletion) << deletion.error().message;
  const auto& key = std::get<StatsDeletion>(*deletion).key;
  EXPECT_EQ(StatsKey::Kind::Witness, key.kind);
  EXPECT_EQ("2026-11-25", key.text);
  EXPECT_EQ("TLyqzVGLV1srkB7dToTAEqgDSfPtXRJZYH", key.address);
  auto candle = parse(Input::Stats, "candle:4h:1795536000000", "");
  ASSERT_TRUE(candle);
  EXPECT_EQ("4h", std::get<StatsDeletion>(*candle).key.text);
  EXPECT_EQ(1795536000000, std::get<StatsDeletion>(*candle).key.number);
}

// Keys that name nothing, and values that disagree with their key, are refused.
TEST_F(RecordParserTest, RefusesBadKeysAndMismatches) {
  for (const char* key : {"points:-1", "points:", "points:12a", "daily:2026-02-30", "daily:2026-13-01",
                          "hourly:2026-01-01T24", "candle:2m:0", "candle:1m", "witness:2026-01-01:nope",
                          "parity:x", "unknown:1", "points"}) {
    auto parsed = parse(Input::Stats, key, "");
    ASSERT_FALSE(parsed) << key;
    EXPECT_TRUE(parsed.error().message.starts_with("bad_key")) << key << ": " << parsed.error().message;
  }
  auto mismatch = parse(Input::Stats, "points:60954081", example("stats.points.v1/odd-block.json"));
  ASSERT_FALSE(mismatch);
  EXPECT_TRUE(mismatch.error().message.starts_with("key_mismatch")) << mismatch.error().message;
  auto schema = parse(Input::Stats, "daily:2026-11-25", example("stats.hourly.v1/hour.json"));
  ASSERT_FALSE(schema);
  EXPECT_TRUE(schema.error().message.starts_with("wrong_schema")) << schema.error().message;
}

// Malformed values are refused with a machine reason naming the field.
TEST_F(RecordParserTest, RefusesMalformedValues) {
  const auto reason = [&](Input input, std::string_view key, std::string_view value) {
    auto parsed = parse(input, key, value);
    return parsed ? std::string("parsed") : parsed.error().message;
  };
  EXPECT_EQ("invalid_json", reason(Input::Blocks, "1", "{not json"));
  EXPECT_EQ("invalid_json", reason(Input::Blocks, "1", ""));
  EXPECT_TRUE(reason(Input::Blocks, "1", R"({"schema":"metric.v1"})").starts_with("wrong_schema"));
  std::string block = testing::blockJson(100, 1000);
  block.replace(block.find("\"tx_count\":5"), 12, "\"tx_count\":-5");
  EXPECT_TRUE(reason(Input::Blocks, "100", block).starts_with("bad_field:tx_count")) << reason(Input::Blocks, "100", block);
  std::string no_witness = testing::blockJson(100, 1000);
  no_witness.replace(no_witness.find("\"witness\""), 9, "\"witnesz\"");
  EXPECT_EQ("missing_field:witness", reason(Input::Blocks, "100", no_witness));
  EXPECT_TRUE(reason(Input::Metrics, "x/y", R"({"schema":"metric.v1","ts":1,"stage":"","instance":"i","metrics":[]})")
                  .starts_with("bad_field:stage"));
}

// A metric.v1 batch is reduced to the figures the status route shows; null samples are skipped.
TEST_F(RecordParserTest, ReducesAMetricBatch) {
  auto parsed = parse(Input::Metrics, "fetcher/host-1", testing::metricJson("fetcher", 1795634273123, 60954080));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& row = std::get<StageStatusRow>(*parsed);
  EXPECT_EQ("fetcher", row.stage);
  EXPECT_EQ("host-1", row.instance);
  EXPECT_EQ(1795634273123, row.ts_ms);
  EXPECT_EQ(3, row.received_events);
  EXPECT_EQ(3, row.errors);  // 2 + 1 over two label sets
  EXPECT_EQ(1, row.health_status);
  EXPECT_FALSE(row.sent_events.has_value());
  EXPECT_EQ(R"({"fetcher_head_height":60954080})", row.heights);
  auto golden = parse(Input::Metrics, "decoder/host-1", example("metric.v1/batch.json"));
  ASSERT_TRUE(golden) << golden.error().message;
}

// Calendar dates are checked for real days, leap years included.
TEST(CalendarDateTest, KnowsRealDays) {
  EXPECT_TRUE(isCalendarDate("2024-02-29"));
  EXPECT_FALSE(isCalendarDate("2023-02-29"));
  EXPECT_FALSE(isCalendarDate("2000-1-01"));
  EXPECT_FALSE(isCalendarDate("2026-11-31"));
  EXPECT_FALSE(isCalendarDate("1969-12-31"));
  EXPECT_FALSE(isCalendarDate("2026-11-3'"));
}

}  // namespace
}  // namespace stages::persister
