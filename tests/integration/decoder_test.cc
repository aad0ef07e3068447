// The real pointtron-decoder against the test broker: blocks.raw records in (tronsim blocks,
// malformed ones, a retraction), blocks and dlq out, checked record by record while the decoder
// is SIGKILLed and restarted (stages/decoder/README.md).
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/event_sink.h"
#include "tests/integration/fetcher_harness.h"
#include "tests/integration/stage_process.h"
#include "tests/support/kafka_env.h"
#include "tests/tronsim/chain.h"

namespace testsupport {
namespace {

using fetcher::SeenRecord;
using fetcher::TopicReader;
using std::chrono::seconds;

constexpr std::int64_t kFirst = 80'000'001;
constexpr std::int64_t kCount = 3'000;
constexpr int kPartitions = 3;
constexpr int kBatches = 6;  // a SIGKILL after each batch but the last
constexpr const char* kSource = "node-a.example:8090";
constexpr const char* kFetchedAt = "1700000000123";

// One record written to blocks.raw, and what the decoder must do with it.
struct Input {
  std::int64_t height = 0;
  std::string value;
  std::string expected_reason;  // empty: a valid block (or the retraction)
  bool retraction = false;
};

// Every 100th height (offset 50) is malformed in one of four ways; the last height is also
// retracted after its block.
std::vector<Input> makeInputs(const tronsim::Chain& chain) {
  std::vector<Input> inputs;
  int bad = 0;
  for (std::int64_t height = kFirst; height < kFirst + kCount; ++height) {
    Input input{.height = height, .value = chain.blockJson(height)};
    if ((height - kFirst) % 100 == 50) {
      switch (bad++ % 4) {
        case 0: input.value.resize(input.value.size() / 2); input.expected_reason = "json"; break;
        case 1: input.value = "this is not json"; input.expected_reason = "json"; break;
        case 2: input.value = "{}"; input.expected_reason = "empty"; break;
        case 3: {
          // blockID no longer starts with the height.
          const auto at = input.value.find("\"blockID\":\"") + 11;
          input.value[at + 15] = input.value[at + 15] == '0' ? '1' : '0';
          input.expected_reason = "height";
          break;
        }
      }
    }
    inputs.push_back(std::move(input));
  }
  const std::int64_t last = kFirst + kCount - 1;
  inputs.push_back({.height = last,
                    .value = fmt::format(R"({{"schema":"block.raw.retraction.v1","removed":true,)"
                                         R"("height":{},"block_id":"{}"}})",
                                         last, chain.blockId(last)),
                    .retraction = true});
  return inputs;
}

// Produces inputs[from, to) to `topic` with the fetcher's headers; returns where each landed.
std::vector<pipeline::Delivery> produce(const std::string& topic, const std::vector<Input>& inputs,
                                        std::size_t from, std::size_t to) {
  std::vector<pipeline::Event> events;
  for (std::size_t i = from; i < to; ++i) {
    events.push_back({.topic = topic,
                      .key = std::to_string(inputs[i].height),
                      .value = inputs[i].value,
                      .headers = {{"fetched_at_ms", kFetchedAt}, {"source", kSource}}});
  }
  return fetcher::produceAll(std::move(events));
}

std::map<std::string, std::string> decoderEnv(const std::string& prefix) {
  return {
      {"POINTTRON_KAFKA__BOOTSTRAP_SERVERS", testBrokers()},
      {"POINTTRON_KAFKA__TOPIC_PREFIX", prefix},
      {"POINTTRON_KAFKA__DATA_PARTITIONS", std::to_string(kPartitions)},
      {"POINTTRON_METRICS__PUBLISH_INTERVAL_MS", "0"},
      {"POINTTRON_INSTANCE__ID", "decoder-test"},
  };
}

// The fields of a blocks value this test checks.
struct Decoded {
  std::int64_t height = -1;
  bool removed = false;
  std::string block_id;
  std::string parent_id;
  std::string witness;
  std::int64_t timestamp_ms = -1;
  std::optional<std::int64_t> fetched_at_ms;
  std::string source;
};

std::optional<Decoded> parseDecoded(simdjson::dom::parser& parser, const std::string& value) {
  simdjson::dom::object doc;
  if (parser.parse(value).get(doc) != simdjson::SUCCESS) return std::nullopt;
  std::string_view schema;
  if (doc["schema"].get(schema) != simdjson::SUCCESS || schema != "block.v1") return std::nullopt;
  Decoded out;
  std::string_view text;
  if (doc["height"].get(out.height) != simdjson::SUCCESS) return std::nullopt;
  if (doc["block_id"].get(text) != simdjson::SUCCESS) return std::nullopt;
  out.block_id = text;
  if (doc["removed"].get(out.removed) == simdjson::SUCCESS && out.removed) return out;
  if (doc["parent_id"].get(text) != simdjson::SUCCESS) return std::nullopt;
  out.parent_id = text;
  if (doc["witness"].get(text) != simdjson::SUCCESS) return std::nullopt;
  out.witness = text;
  if (doc["timestamp_ms"].get(out.timestamp_ms) != simdjson::SUCCESS) return std::nullopt;
  std::int64_t fetched = 0;
  if (doc["fetched_at_ms"].get(fetched) == simdjson::SUCCESS) out.fetched_at_ms = fetched;
  if (doc["source"].get(text) != simdjson::SUCCESS) return std::nullopt;
  out.source = text;
  return out;
}

// The decoder's output on one partition keeps the input's order: each record is either the next
// input of that partition after the previous output, or a step back (a replay after a crash
// re-delivers what was not committed). Returns a failure description, or "".
std::string checkOrder(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output) {
  std::map<std::int64_t, std::size_t> position;
  for (std::size_t i = 0; i < input.size(); ++i) position.try_emplace(input[i], i);
  std::optional<std::size_t> previous;
  for (std::size_t i = 0; i < output.size(); ++i) {
    auto it = position.find(output[i]);
    if (it == position.end()) return fmt::format("output {} (height {}) was never input", i, output[i]);
    if (previous && it->second > *previous + 1) {
      return fmt::format("output {} (height {}) skips ahead of height {}", i, output[i],
                         input[*previous]);
    }
    previous = it->second;
  }
  return "";
}

// Decodes every block, retraction and malformed record of a 3,000-height blocks.raw while being
// SIGKILLed after each of five batches: every valid height reaches blocks (on the partition it
// came from, in that partition's order, with its fields right), the retraction passes through,
// and each malformed record is on dlq byte for byte with its reason and origin.
TEST(DecoderTest, DecodesInOrderAndDeadLettersBadRecordsAcrossSigkills) {
  const tronsim::Chain chain({.seed = 11, .profile = tronsim::Profile::Small, .first_height = kFirst});
  const std::vector<Input> inputs = makeInputs(chain);
  const std::string prefix = fetcher::uniquePrefix("decoder");
  const auto env = decoderEnv(prefix);

  auto decoder = StageProcess::start("decoder", env);
  ASSERT_NE(nullptr, decoder);
  TopicReader blocks(prefix + "blocks");
  TopicReader dlq(prefix + "dlq");

  std::vector<pipeline::Delivery> placed;
  int kills = 0;
  for (int batch = 0; batch < kBatches; ++batch) {
    const std::size_t from = inputs.size() * batch / kBatches;
    const std::size_t to = inputs.size() * (batch + 1) / kBatches;
    auto landed = produce(prefix + "blocks.raw", inputs, from, to);
    ASSERT_EQ(to - from, landed.size());
    placed.insert(placed.end(), landed.begin(), landed.end());
    if (batch + 1 == kBatches) break;
    // Kill once the decoder is inside this batch: some of it out, surely not all committed.
    const std::size_t before = blocks.records().size();
    ASSERT_TRUE(blocks.readUntil([&] { return blocks.records().size() > before + 50; }, seconds(30)))
        << "the decoder made no progress in batch " << batch << "\n" << decoder->log();
    auto status = decoder->kill();
    ASSERT_TRUE(status && WIFSIGNALED(*status)) << decoder->log();
    ++kills;
    decoder = StageProcess::start("decoder", env);
    ASSERT_NE(nullptr, decoder);
  }

  std::set<std::int64_t> valid;
  std::set<std::int64_t> malformed;
  for (const auto& input : inputs) {
    if (input.retraction) continue;
    (input.expected_reason.empty() ? valid : malformed).insert(input.height);
  }
  simdjson::dom::parser parser;
  std::set<std::int64_t> decoded_heights;
  bool retraction_seen = false;
  auto absorb = [&] {
    for (const auto& record : blocks.records()) {
      auto decoded = parseDecoded(parser, record.value);
      if (!decoded) continue;
      if (decoded->removed) retraction_seen = true;
      else decoded_heights.insert(decoded->height);
    }
  };
  std::set<std::string> dead_keys;
  const bool complete = blocks.readUntil(
      [&] {
        absorb();
        if (decoded_heights.size() < valid.size() || !retraction_seen) return false;
        EXPECT_TRUE(dlq.readAll(seconds(10))) << dlq.error();
        dead_keys.clear();
        for (const auto& record : dlq.records()) dead_keys.insert(record.key);
        return dead_keys.size() >= malformed.size();
      },
      seconds(60));
  ASSERT_TRUE(complete) << decoded_heights.size() << " of " << valid.size() << " heights decoded, "
                        << dead_keys.size() << " of " << malformed.size() << " dead letters\n"
                        << decoder->log();
  auto status = decoder->stop();
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << decoder->log();
  ASSERT_TRUE(blocks.readAll(seconds(30))) << blocks.error();
  ASSERT_TRUE(dlq.readAll(seconds(30))) << dlq.error();
  EXPECT_EQ(kBatches - 1, kills);

  // blocks: only valid heights and the retraction, each on its input partition, fields right.
  std::map<std::int64_t, std::int32_t> partition_of;
  std::map<std::int32_t, std::vector<std::int64_t>> input_order;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].expected_reason.empty()) continue;
    if (!inputs[i].retraction) partition_of[inputs[i].height] = placed[i].partition;
    input_order[placed[i].partition].push_back(inputs[i].height);
  }
  std::map<std::int32_t, std::vector<std::int64_t>> output_order;
  int wrong = 0;
  for (const auto& record : blocks.records()) {
    auto decoded = parseDecoded(parser, record.value);
    ASSERT_TRUE(decoded) << "not a block.v1 at " << record.partition << "@" << record.offset << ": "
                         << record.value;
    EXPECT_EQ(std::to_string(decoded->height), record.key);
    ASSERT_FALSE(malformed.contains(decoded->height)) << "a malformed record was decoded";
    EXPECT_EQ(partition_of[decoded->height], record.partition) << "height " << decoded->height;
    output_order[record.partition].push_back(decoded->height);
    EXPECT_EQ(chain.blockId(decoded->height), decoded->block_id);
    if (decoded->removed) continue;
    const bool right = decoded->parent_id == chain.blockId(decoded->height - 1) &&
                       decoded->witness == chain.witnessBase58(decoded->height) &&
                       decoded->timestamp_ms == chain.timestampMs(decoded->height) &&
                       decoded->fetched_at_ms == std::stoll(kFetchedAt) && decoded->source == kSource;
    if (!right && ++wrong <= 5) ADD_FAILURE() << "fields of height " << decoded->height << ": " << record.value;
  }
  EXPECT_EQ(0, wrong);
  EXPECT_EQ(valid, decoded_heights);
  for (const auto& [partition, heights] : output_order) {
    EXPECT_EQ("", checkOrder(input_order[partition], heights)) << "partition " << partition;
  }

  // dlq: every malformed record, unchanged, with its reason and where it came from.
  std::map<std::string, const SeenRecord*> dead;
  for (const auto& record : dlq.records()) dead[record.key] = &record;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Input& input = inputs[i];
    if (input.expected_reason.empty()) continue;
    auto it = dead.find(std::to_string(input.height));
    ASSERT_NE(dead.end(), it) << "height " << input.height << " is not on dlq";
    const SeenRecord& record = *it->second;
    EXPECT_EQ(input.value, record.value) << "height " << input.height;
    auto header = [&](const char* name) {
      auto h = record.headers.find(name);
      return h == record.headers.end() ? std::string("(none)") : h->second;
    };
    EXPECT_NE(std::string::npos, header("error").find(input.expected_reason))
        << "height " << input.height << ": error header " << header("error");
    EXPECT_EQ(prefix + "blocks.raw", header("source_topic"));
    EXPECT_EQ(std::to_string(placed[i].partition), header("source_partition"));
    EXPECT_EQ(std::to_string(placed[i].offset), header("source_offset"));
  }
}

// Two decoders in one consumer group split blocks.raw's partitions between them and together
// decode every height; each decodes a share.
TEST(DecoderTest, TwoDecodersInOneGroupShareThePartitions) {
  constexpr std::int64_t kBlocks = 600;
  const tronsim::Chain chain({.seed = 12, .profile = tronsim::Profile::Small, .first_height = kFirst});
  const std::string prefix = fetcher::uniquePrefix("decoder-group");
  const auto env = decoderEnv(prefix);
  auto first = StageProcess::start("decoder", env);
  ASSERT_NE(nullptr, first);
  auto second = StageProcess::start("decoder", env);
  ASSERT_NE(nullptr, second);
  double first_partitions = 0;
  double second_partitions = 0;
  const bool split = waitUntil(
      [&] {
        first_partitions = first->metric("point_tron_kafka_assigned_partitions").value_or(0);
        second_partitions = second->metric("point_tron_kafka_assigned_partitions").value_or(0);
        return first_partitions >= 1 && second_partitions >= 1 &&
               first_partitions + second_partitions == kPartitions;
      },
      seconds(60));
  ASSERT_TRUE(split) << "assigned partitions: " << first_partitions << " and " << second_partitions;

  std::vector<Input> inputs;
  for (std::int64_t height = kFirst; height < kFirst + kBlocks; ++height) {
    inputs.push_back({.height = height, .value = chain.blockJson(height)});
  }
  ASSERT_EQ(inputs.size(), produce(prefix + "blocks.raw", inputs, 0, inputs.size()).size());
  TopicReader blocks(prefix + "blocks");
  simdjson::dom::parser parser;
  std::set<std::int64_t> heights;
  const bool all = blocks.readUntil(
      [&] {
        heights.clear();
        for (const auto& record : blocks.records()) {
          if (auto decoded = parseDecoded(parser, record.value)) heights.insert(decoded->height);
        }
        return heights.size() == static_cast<std::size_t>(kBlocks);
      },
      seconds(60));
  ASSERT_TRUE(all) << heights.size() << " of " << kBlocks << " heights decoded";
  const double by_first = first->metric("point_tron_decoder_decoded_blocks_total").value_or(0);
  const double by_second = second->metric("point_tron_decoder_decoded_blocks_total").value_or(0);
  EXPECT_GT(by_first, 0);
  EXPECT_GT(by_second, 0);
  EXPECT_EQ(static_cast<double>(kBlocks), by_first + by_second) << "no rebalance, so no replay";
  for (auto* decoder : {first.get(), second.get()}) {
    auto status = decoder->stop();
    EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << decoder->log();
  }
}

}  // namespace
}  // namespace testsupport
