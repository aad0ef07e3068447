#include "stages/fetcher/block_parser.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/stages/fetcher/test_blocks.h"

namespace stages::fetcher {
namespace {

using testing::readFixture;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

class BlockParserTest : public ::testing::Test {
 protected:
  BlockParser parser_;
};

struct SingleBlockCase {
  const char* file;
  std::int64_t height;
  const char* parent_prefix;
  std::int64_t timestamp_ms;  // 0: not checked
};

// Every single-block fixture parses into one verified block whose raw bytes are the object itself.
TEST_F(BlockParserTest, SingleBlockFixturesParse) {
  const SingleBlockCase cases[] = {
      {"mainnet-60954080.json", 60954080, "0000000003a215df", 0},
      {"shasta-46929239.json", 46929239, "0000000002cc1556", 0},
      {"shasta-200.json", 200, "00000000000000c7", 0},
      {"testnet-18421767.json", 18421767, "0000000001191806eeaac4f9", 1631928606000},
      {"mainnet-1000000-getblock-detail-false.json", 1000000, "00000000000f423f", 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const auto body = readFixture(c.file);
    ASSERT_FALSE(body.empty());
    const auto answer = parser_.parseBody(body);
    ASSERT_EQ(AnswerKind::Blocks, answer.kind) << answer.message;
    ASSERT_EQ(1u, answer.blocks.size());
    const auto& block = answer.blocks[0];
    EXPECT_EQ(c.height, block.height);
    EXPECT_EQ(64u, block.block_id.size());
    EXPECT_EQ(0u, block.parent_id.rfind(c.parent_prefix, 0)) << block.parent_id;
    EXPECT_GT(block.timestamp_ms, 1'500'000'000'000);
    if (c.timestamp_ms != 0) {
      EXPECT_EQ(c.timestamp_ms, block.timestamp_ms);
    }
    EXPECT_EQ(trimmed(body), block.raw_json);
  }
}

// Both getblockbylimitnext fixtures give blocks 1..4, linked by parentHash, each raw object
// re-parsable on its own (it is what goes to blocks.raw).
TEST_F(BlockParserTest, RangeFixturesParseIntoLinkedBlocks) {
  for (const char* file : {"mainnet-getblockbylimitnext-1-4.json", "shasta-getblockbylimitnext-1-4.json"}) {
    SCOPED_TRACE(file);
    const auto body = readFixture(file);
    const auto answer = parser_.parseBody(body);
    ASSERT_EQ(AnswerKind::Blocks, answer.kind) << answer.message;
    ASSERT_EQ(4u, answer.blocks.size());
    for (std::size_t i = 0; i < 4; ++i) {
      const auto& block = answer.blocks[i];
      EXPECT_EQ(static_cast<std::int64_t>(i + 1), block.height);
      if (i > 0) {
        EXPECT_EQ(answer.blocks[i - 1].block_id, block.parent_id);
      }
      EXPECT_EQ('{', block.raw_json.front());
      EXPECT_EQ('}', block.raw_json.back());
      EXPECT_NE(std::string::npos, body.find(block.raw_json));
      BlockParser again;
      const auto alone = again.parseBody(block.raw_json);
      ASSERT_EQ(AnswerKind::Blocks, alone.kind) << alone.message;
      EXPECT_EQ(block.block_id, alone.blocks[0].block_id);
      EXPECT_EQ(block.raw_json, alone.blocks[0].raw_json);
    }
  }
}

// `{}` + newline is "not found" (also an invalid getblockbylimitnext range).
TEST_F(BlockParserTest, EmptyObjectFixtureIsNotFound) {
  const auto answer = parser_.parseBody(readFixture("empty-response-block-not-found.json"));
  EXPECT_EQ(AnswerKind::NotFound, answer.kind);
  EXPECT_TRUE(answer.blocks.empty());
}

// java-tron's servlet exception body (HTTP 200) is a node error carrying the node's text.
TEST_F(BlockParserTest, ServletErrorFixtureIsNodeError) {
  const auto answer = parser_.parseBody(readFixture("error-walletsolidity-getblockbynum-empty-body.json"));
  EXPECT_EQ(AnswerKind::NodeError, answer.kind);
  EXPECT_EQ(0u, answer.message.rfind("class org.tron.core.services.http.JsonFormat$ParseException", 0))
      << answer.message;
}

// TronGrid's frequency-limit body is a suspension for the number of seconds it names.
TEST_F(BlockParserTest, TronGridRateLimitFixtureIsSuspension) {
  const auto answer = parser_.parseBody(readFixture("error-trongrid-rate-limit.json"));
  EXPECT_EQ(AnswerKind::RateLimited, answer.kind);
  EXPECT_TRUE(answer.suspended);
  ASSERT_TRUE(answer.retry_after.has_value());
  EXPECT_EQ(Millis(30'000), *answer.retry_after);
}

// Every fixture cut short is Malformed, never a shorter block list.
TEST_F(BlockParserTest, TruncatedFixturesAreMalformed) {
  for (const char* file : {"mainnet-60954080.json", "shasta-46929239.json", "shasta-200.json",
                           "testnet-18421767.json", "mainnet-getblockbylimitnext-1-4.json",
                           "shasta-getblockbylimitnext-1-4.json",
                           "mainnet-1000000-getblock-detail-false.json",
                           "error-trongrid-rate-limit.json"}) {
    const auto body = readFixture(file);
    for (std::size_t cut : {body.size() / 2, body.size() - 3, std::size_t{1}}) {
      SCOPED_TRACE(std::string(file) + " cut at " + std::to_string(cut));
      EXPECT_EQ(AnswerKind::Malformed, parser_.parseBody(body.substr(0, cut)).kind);
    }
  }
}

// Empty bodies, whitespace and non-JSON text (a lite full node's answer) are Malformed.
TEST_F(BlockParserTest, NonJsonBodiesAreMalformed) {
  for (const char* body : {"", "  \n", "this API is closed because this node is a lite fullnode",
                           "[1,2]", "{\"a\":1}", "{\"block\":[1]}", "null"}) {
    SCOPED_TRACE(body);
    const auto answer = parser_.parseBody(body);
    EXPECT_EQ(AnswerKind::Malformed, answer.kind);
    EXPECT_LE(answer.message.size(), 200u);
  }
}

// Key order, whitespace and int64 written as strings do not matter.
TEST_F(BlockParserTest, AcceptsAnyKeyOrderWhitespaceAndStringNumbers) {
  const std::string id = "00000000000003e8" + std::string(48, 'a');
  const std::string parent = "00000000000003e7" + std::string(48, 'b');
  const std::string body = "\n { \"block_header\" : {\"witness_signature\":\"00\", \"raw_data\": {"
                           "\"timestamp\": \"1700000000000\" ,\n\t\"parentHash\":\"" + parent +
                           "\", \"number\" : \"1000\"}} ,\"blockID\":\"" + id + "\" }\r\n";
  const auto answer = parser_.parseBody(body);
  ASSERT_EQ(AnswerKind::Blocks, answer.kind) << answer.message;
  EXPECT_EQ(1000, answer.blocks[0].height);
  EXPECT_EQ(parent, answer.blocks[0].parent_id);
  EXPECT_EQ(1'700'000'000'000, answer.blocks[0].timestamp_ms);
  EXPECT_EQ('{', answer.blocks[0].raw_json.front());
  EXPECT_EQ('}', answer.blocks[0].raw_json.back());
}

// A blockID whose first 16 hex characters are not the height fails verification.
TEST_F(BlockParserTest, BlockIdNotMatchingHeightIsMalformed) {
  auto body = readFixture("testnet-18421767.json");
  body.replace(body.find("\"number\":18421767"), 17, "\"number\":18421768");
  const auto answer = parser_.parseBody(body);
  EXPECT_EQ(AnswerKind::Malformed, answer.kind);
  EXPECT_NE(std::string::npos, answer.message.find("height")) << answer.message;
}

// One bad block in a list rejects the whole list.
TEST_F(BlockParserTest, OneBadBlockRejectsTheList) {
  auto body = readFixture("mainnet-getblockbylimitnext-1-4.json");
  body.replace(body.find("\"parentHash\""), 12, "\"parentHosh\"");
  EXPECT_EQ(AnswerKind::Malformed, parser_.parseBody(body).kind);
}

// A valid range with no stored blocks is an empty list, not "not found".
TEST_F(BlockParserTest, EmptyListIsBlocks) {
  const auto answer = parser_.parseBody("{\"block\":[]}\n");
  EXPECT_EQ(AnswerKind::Blocks, answer.kind);
  EXPECT_TRUE(answer.blocks.empty());
}

// The node's own limiter and the v1 error shape are classified by their text.
TEST_F(BlockParserTest, ClassifiesErrorTexts) {
  auto answer = parser_.parseBody(
      R"({"Error":"class java.lang.IllegalAccessException : lack of computing resources"})");
  EXPECT_EQ(AnswerKind::RateLimited, answer.kind);
  EXPECT_FALSE(answer.suspended);
  EXPECT_FALSE(answer.retry_after.has_value());
  answer = parser_.parseBody(R"({"Success":false,"Error":"boom","StatusCode":403})");
  EXPECT_EQ(AnswerKind::NodeError, answer.kind);
  EXPECT_EQ("boom", answer.message);
}

// HTTP statuses: 429/403/503+Retry-After are rate limits, 5xx server errors, other 4xx errors.
TEST_F(BlockParserTest, InterpretsHttpStatuses) {
  const std::int64_t now = 784'111'777'000;  // Sun, 06 Nov 1994 08:49:37 GMT
  auto answer = parser_.interpret(429, "7", "", now);
  EXPECT_EQ(AnswerKind::RateLimited, answer.kind);
  EXPECT_EQ(Millis(7000), answer.retry_after);
  EXPECT_FALSE(answer.suspended);

  answer = parser_.interpret(403, "", readFixture("error-trongrid-rate-limit.json"), now);
  EXPECT_EQ(AnswerKind::RateLimited, answer.kind);
  EXPECT_TRUE(answer.suspended);
  EXPECT_EQ(Millis(30'000), answer.retry_after);

  answer = parser_.interpret(503, "Sun, 06 Nov 1994 08:49:40 GMT", "<html>", now);
  EXPECT_EQ(AnswerKind::RateLimited, answer.kind);
  EXPECT_EQ(Millis(3000), answer.retry_after);

  EXPECT_EQ(AnswerKind::ServerError, parser_.interpret(503, "", "", now).kind);
  EXPECT_EQ(AnswerKind::ServerError, parser_.interpret(500, "", "oops", now).kind);
  answer = parser_.interpret(404, "", R"({"Error": "this API is unavailable due to config"})", now);
  EXPECT_EQ(AnswerKind::NodeError, answer.kind);
  EXPECT_EQ("this API is unavailable due to config", answer.message);
  EXPECT_EQ(AnswerKind::NodeError, parser_.interpret(413, "", "<html>", now).kind);
  EXPECT_EQ(AnswerKind::Blocks,
            parser_.interpret(200, "", readFixture("shasta-200.json"), now).kind);
}

// Retry-After: seconds or an HTTP-date; garbage is ignored.
TEST(ParseRetryAfterTest, SecondsAndDates) {
  EXPECT_EQ(Millis(120'000), parseRetryAfter(" 120 ", 0));
  EXPECT_EQ(Millis(0), parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", 784'111'800'000));
  EXPECT_FALSE(parseRetryAfter("soon", 0).has_value());
  EXPECT_FALSE(parseRetryAfter("-5", 0).has_value());
  EXPECT_FALSE(parseRetryAfter("", 0).has_value());
}

}  // namespace
}  // namespace stages::fetcher

namespace stages::fetcher {
namespace {

// java-tron's compact {"block":[…]} answer takes the one-pass path: its blocks, fields and raw
// byte spans equal what the general path finds in the same list written with whitespace.
TEST(BlockParserFastPathTest, CompactListMatchesTheGeneralPath) {
  for (const std::string file :
       {"mainnet-getblockbylimitnext-1-4.json", "shasta-getblockbylimitnext-1-4.json"}) {
    const std::string pretty = testing::readFixture(file);
    simdjson::dom::parser dom;
    const std::string compact = simdjson::minify(dom.parse(pretty));
    ASSERT_TRUE(compact.starts_with(R"({"block":[)")) << file;
    BlockParser parser;
    const NodeAnswer general = parser.parseBody(" " + pretty);  // leading blank: general path
    const NodeAnswer fast = parser.parseBody(compact);
    ASSERT_EQ(AnswerKind::Blocks, general.kind) << general.message;
    ASSERT_EQ(AnswerKind::Blocks, fast.kind) << fast.message;
    ASSERT_EQ(general.blocks.size(), fast.blocks.size());
    simdjson::dom::element list = dom.parse(compact)["block"];
    std::size_t index = 0;
    for (simdjson::dom::element block : list.get_array()) {
      const ParsedBlock& expected = general.blocks[index];
      const ParsedBlock& got = fast.blocks[index];
      EXPECT_EQ(expected.height, got.height);
      EXPECT_EQ(expected.block_id, got.block_id);
      EXPECT_EQ(expected.parent_id, got.parent_id);
      EXPECT_EQ(expected.timestamp_ms, got.timestamp_ms);
      EXPECT_EQ(simdjson::minify(block), got.raw_json) << file << " block " << index;
      ++index;
    }
  }
}

// A block in a compact list that fails verification is still rejected on the one-pass path.
TEST(BlockParserFastPathTest, CompactListStillVerifiesHeights) {
  BlockParser parser;
  const std::string body =
      R"({"block":[{"blockID":"0000000000000002aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",)"
      R"("block_header":{"raw_data":{"number":3,"parentHash":)"
      R"("0000000000000002aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","timestamp":1}}}]})";
  const NodeAnswer answer = parser.parseBody(body);
  EXPECT_EQ(AnswerKind::Malformed, answer.kind);
  EXPECT_NE(std::string::npos, answer.message.find("does not start with the height 3"));
}

}  // namespace
}  // namespace stages::fetcher
