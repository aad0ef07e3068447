#include "stages/decoder/decode_command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace stages::decoder {
namespace {

struct Run {
  std::optional<int> code;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args) {
  args.insert(args.begin(), "pointtron-decoder");
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  std::ostringstream out;
  std::ostringstream err;
  Run result;
  result.code = runDecodeCommand(static_cast<int>(argv.size()), argv.data(), out, err, [] { return std::int64_t{9}; });
  result.out = out.str();
  result.err = err.str();
  return result;
}

std::string fixture(const std::string& name) {
  return std::string(POINTTRON_SOURCE_DIR) + "/tests/fixtures/tron-blocks/" + name;
}

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Without --decode the stage runs as usual.
TEST(DecodeCommandTest, NotAskedFor) {
  EXPECT_FALSE(run({"--config", "x.yaml"}).code.has_value());
}

// A single block prints one block.v1 line and exits 0.
TEST(DecodeCommandTest, SingleBlock) {
  const auto result = run({"--decode", fixture("shasta-46929239.json"), "--network", "shasta"});
  ASSERT_EQ(0, result.code);
  EXPECT_EQ(1u, lines(result.out));
  EXPECT_NE(std::string::npos, result.out.find(R"("usdt_transfers":1,"usdt_volume":"300000000")"));
  EXPECT_NE(std::string::npos, result.out.find(R"("fetched_at_ms":null,"decoded_at_ms":9,"source":""})"));
  EXPECT_EQ("", result.err);
}

// A getblockbylimitnext answer prints one line per block, in order.
TEST(DecodeCommandTest, BlockList) {
  const auto result = run({"--decode=" + fixture("mainnet-getblockbylimitnext-1-4.json")});
  ASSERT_EQ(0, result.code) << result.err;
  EXPECT_EQ(4u, lines(result.out));
  EXPECT_NE(std::string::npos, result.out.find(R"({"schema":"block.v1","height":1,)"));
  EXPECT_LT(result.out.find(R"("height":3,)"), result.out.find(R"("height":4,)"));
}

// A rejected block prints nothing on stdout and one line naming the reason; exit 1.
TEST(DecodeCommandTest, RejectedBlock) {
  const auto result = run({"--decode", fixture("empty-response-block-not-found.json")});
  EXPECT_EQ(1, result.code);
  EXPECT_EQ("", result.out);
  EXPECT_EQ(1u, lines(result.err));
  EXPECT_NE(std::string::npos, result.err.find("empty_block"));
}

// An unreadable file exits 1; bad usage exits 64.
TEST(DecodeCommandTest, Failures) {
  EXPECT_EQ(1, run({"--decode", fixture("no-such-file.json")}).code);
  EXPECT_EQ(64, run({"--decode"}).code);
  EXPECT_EQ(64, run({"--decode", fixture("shasta-200.json"), "--network", "testnet"}).code);
  EXPECT_EQ(64, run({"--decode", fixture("shasta-200.json"), "--config", "x.yaml"}).code);
}

}  // namespace
}  // namespace stages::decoder
