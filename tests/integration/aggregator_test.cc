// The real pointtron-aggregator against the test broker: block.v1 records made by the real
// decoder from tronsim chains go to `blocks`; what it leaves on `stats` is compared with an
// uninterrupted run (SIGKILLs), with a fresh run over the final chain (a fork), and the fold is
// watched waiting at a height that went to the DLQ (stages/aggregator/README.md).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/topics.h"
#include "stages/decoder/block_decoder.h"
#include "tests/integration/fetcher_harness.h"
#include "tests/integration/stage_process.h"
#include "tests/support/kafka_env.h"
#include "tests/tronsim/chain.h"

namespace testsupport {
namespace {

using fetcher::TopicReader;
using std::chrono::seconds;

constexpr std::int64_t kFirst = 90'000'001;
constexpr int kPartitions = 4;
constexpr const char* kFolded = "point_tron_aggregator_folded_height";

// One `blocks` record: the decimal height and the block.v1 value.
struct BlockRecordText {
  std::string key;
  std::string value;
};

// block.v1 of a node block or a fetcher retraction, as the real decoder writes it.
std::string decodeToBlockV1(stages::decoder::BlockDecoder& decoder, std::string_view raw) {
  const auto result = decoder.decode(raw);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().describe());
  if (!result.ok()) return {};
  return stages::decoder::blockV1Json(
      result, {.fetched_at_ms = 1'700'000'000'000, .decoded_at_ms = 1'700'000'000'100,
               .source = "tronsim"});
}

// Heights [from, to) of `chain` (its current branches) as `blocks` records.
std::vector<BlockRecordText> chainRecords(const tronsim::Chain& chain, std::int64_t from,
                                          std::int64_t to) {
  stages::decoder::BlockDecoder decoder;
  std::vector<BlockRecordText> records;
  for (std::int64_t height = from; height < to; ++height) {
    records.push_back({std::to_string(height), decodeToBlockV1(decoder, chain.blockJson(height))});
  }
  return records;
}

// The retraction of `block_id` at `height` as a `blocks` record.
BlockRecordText retractionRecord(std::int64_t height, const std::string& block_id) {
  stages::decoder::BlockDecoder decoder;
  return {std::to_string(height),
          decodeToBlockV1(decoder, fmt::format(R"({{"schema":"block.raw.retraction.v1",)"
                                               R"("removed":true,"height":{},"block_id":"{}"}})",
                                               height, block_id))};
}

// Creates the catalogue's topics under `prefix`, as `pointtron topics create` does.
void createTopics(const std::string& prefix) {
  auto config = testKafkaConfig();
  config.topic_prefix = prefix;
  const auto topics = pipeline::kafka::allTopics(config, {.data_partitions = kPartitions});
  const auto status = pipeline::kafka::ensureTopics(config, topics, seconds(30));
  ASSERT_TRUE(status.isOk()) << status.toString();
}

void produceBlocks(const std::string& prefix, const std::vector<BlockRecordText>& records) {
  std::vector<pipeline::Event> events;
  for (const auto& record : records) {
    events.push_back({.topic = prefix + "blocks", .key = record.key, .value = record.value});
  }
  EXPECT_EQ(records.size(), fetcher::produceAll(std::move(events)).size());
}

std::map<std::string, std::string> aggregatorEnv(const std::string& prefix,
                                                 std::int64_t max_gap_age_ms = 60'000) {
  return {
      {"POINTTRON_KAFKA__BOOTSTRAP_SERVERS", testBrokers()},
      {"POINTTRON_KAFKA__TOPIC_PREFIX", prefix},
      {"POINTTRON_KAFKA__DATA_PARTITIONS", std::to_string(kPartitions)},
      // A static member: a restarted aggregator takes its partitions back at once instead of
      // waiting for the killed one's session to time out.
      {"POINTTRON_KAFKA__RDKAFKA__GROUP_INSTANCE_ID", "aggregator-test"},
      {"POINTTRON_METRICS__PUBLISH_INTERVAL_MS", "0"},
      {"POINTTRON_INSTANCE__ID", "aggregator-test"},
      {"POINTTRON_AGGREGATOR__CHECKPOINT_INTERVAL_MS", "200"},
      {"POINTTRON_AGGREGATOR__MAX_GAP_AGE_MS", std::to_string(max_gap_age_ms)},
  };
}

// The latest record of every key of a stats topic; nullopt = a tombstone.
using StatsView = std::map<std::string, std::optional<std::string>>;

StatsView readStats(const std::string& prefix, std::size_t* records = nullptr) {
  TopicReader reader(prefix + "stats");
  EXPECT_TRUE(reader.readAll(seconds(60))) << reader.error();
  StatsView view;
  for (const auto& record : reader.records()) {
    view[record.key] = record.tombstone ? std::nullopt : std::optional<std::string>(record.value);
  }
  if (records != nullptr) *records = reader.records().size();
  return view;
}

// What a reader of the compacted topic ends with: the keys whose latest record is a value.
std::map<std::string, std::string> liveValues(const StatsView& view) {
  std::map<std::string, std::string> live;
  for (const auto& [key, value] : view) {
    if (value) live.emplace(key, *value);
  }
  return live;
}

// "" when equal, else the size of both and the first few keys that differ.
std::string differences(const std::map<std::string, std::string>& expected,
                        const std::map<std::string, std::string>& actual) {
  std::string out;
  int shown = 0;
  auto note = [&](const std::string& key, const std::string* want, const std::string* got) {
    if (++shown > 5) return;
    out += fmt::format("  {}: expected {} got {}\n", key, want ? *want : "(absent)",
                       got ? *got : "(absent)");
  };
  for (const auto& [key, value] : expected) {
    const auto it = actual.find(key);
    if (it == actual.end()) note(key, &value, nullptr);
    else if (it->second != value) note(key, &value, &it->second);
  }
  for (const auto& [key, value] : actual) {
    if (!expected.contains(key)) note(key, nullptr, &value);
  }
  if (shown == 0) return "";
  return fmt::format("{} keys expected, {} found, {} differ:\n{}", expected.size(), actual.size(),
                     shown, out);
}

std::int64_t foldedHeight(StageProcess& aggregator) {
  return static_cast<std::int64_t>(aggregator.metric(kFolded).value_or(-1));
}

// Runs an aggregator on `prefix` until it folded `last`, then stops it (exit 0 expected).
void foldTo(const std::string& prefix, std::int64_t last) {
  auto aggregator = StageProcess::start("aggregator", aggregatorEnv(prefix));
  ASSERT_NE(nullptr, aggregator);
  ASSERT_TRUE(waitUntil([&] { return foldedHeight(*aggregator) >= last; }, seconds(90)))
      << "folded to " << foldedHeight(*aggregator) << " of " << last << "\n" << aggregator->log();
  const auto status = aggregator->stop();
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << aggregator->log();
}

// 20 SIGKILLs at random moments of a 20,000-block fold (some right after start, during the
// restore and the group join; the rest at random heights) leave on `stats` exactly the final
// values of an uninterrupted run over the same records: replays after a restart re-emit
// identical bytes and nothing is lost.
TEST(AggregatorTest, SigkillsLeaveTheSameStatisticsAsAnUninterruptedRun) {
  constexpr std::int64_t kBlocks = 20'000;
  constexpr int kKills = 20;
  constexpr int kKillsAtStart = 5;
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(fmt::format("random seed {}", seed));
  std::mt19937 random(seed);

  const tronsim::Chain chain({.seed = 31, .profile = tronsim::Profile::Small, .first_height = kFirst});
  const auto records = chainRecords(chain, kFirst, kFirst + kBlocks);
  const std::int64_t last = kFirst + kBlocks - 1;
  const std::string reference = fetcher::uniquePrefix("aggregator-ref");
  const std::string crashed = fetcher::uniquePrefix("aggregator-kill");
  for (const auto& prefix : {reference, crashed}) {
    createTopics(prefix);
    produceBlocks(prefix, records);
  }

  foldTo(reference, last);

  // Kill moments: kKillsAtStart right after the admin port answers, the others once the fold
  // passed a random height (sorted, so each life has something left to do).
  std::vector<std::int64_t> targets;
  std::uniform_int_distribution<std::int64_t> height(kFirst, last - 1);
  for (int i = kKillsAtStart; i < kKills; ++i) targets.push_back(height(random));
  std::sort(targets.begin(), targets.end());
  std::vector<std::optional<std::int64_t>> moments(targets.begin(), targets.end());
  for (int i = 0; i < kKillsAtStart; ++i) {
    const auto at = static_cast<std::ptrdiff_t>(random() % (moments.size() + 1));
    moments.insert(moments.begin() + at, std::nullopt);
  }
  const auto env = aggregatorEnv(crashed);
  int kills = 0;
  for (const auto& moment : moments) {
    auto aggregator = StageProcess::start("aggregator", env);
    ASSERT_NE(nullptr, aggregator);
    if (moment) {
      ASSERT_TRUE(waitUntil([&] { return foldedHeight(*aggregator) >= *moment; }, seconds(90)))
          << "kill " << kills << ": folded to " << foldedHeight(*aggregator) << ", waiting for "
          << *moment << "\n" << aggregator->log();
    }
    const auto status = aggregator->kill();
    ASSERT_TRUE(status && WIFSIGNALED(*status)) << "kill " << kills << "\n" << aggregator->log();
    ++kills;
  }
  EXPECT_EQ(kKills, kills);
  foldTo(crashed, last);

  std::size_t reference_records = 0;
  std::size_t crashed_records = 0;
  const StatsView expected = readStats(reference, &reference_records);
  const StatsView actual = readStats(crashed, &crashed_records);
  ASSERT_GT(expected.size(), static_cast<std::size_t>(kBlocks));  // points:<h> and more
  EXPECT_EQ("", differences(liveValues(expected), liveValues(actual)));
  // The kills landed mid-fold: restarts replayed outputs written after their last checkpoint.
  EXPECT_GT(crashed_records, reference_records);
  RecordProperty("stats_records_uninterrupted", static_cast<int>(reference_records));
  RecordProperty("stats_records_with_kills", static_cast<int>(crashed_records));
}

// A fork on `blocks` as the fetcher and decoder write it (retractions highest first, then a
// shorter new branch), arriving after the old branch was folded: the aggregator rolls back, and
// the compacted stats equal a fresh run over the final chain, with tombstones for the orphaned
// heights' own keys.
TEST(AggregatorTest, ForkEndsEqualToAFreshRunOverTheFinalChain) {
  constexpr std::int64_t kOldTip = kFirst + 299;
  constexpr std::int64_t kForkAt = kFirst + 280;
  constexpr std::int64_t kNewTip = kFirst + 290;
  tronsim::Chain chain({.seed = 32, .profile = tronsim::Profile::Small, .first_height = kFirst});
  const std::string forked = fetcher::uniquePrefix("aggregator-fork");
  createTopics(forked);
  produceBlocks(forked, chainRecords(chain, kFirst, kOldTip + 1));
  auto aggregator = StageProcess::start("aggregator", aggregatorEnv(forked));
  ASSERT_NE(nullptr, aggregator);
  ASSERT_TRUE(waitUntil([&] { return foldedHeight(*aggregator) == kOldTip; }, seconds(60)))
      << aggregator->log();

  std::vector<BlockRecordText> fork;
  for (std::int64_t height = kOldTip; height >= kForkAt; --height) {
    fork.push_back(retractionRecord(height, chain.blockId(height)));
  }
  chain.fork(kForkAt);
  const auto branch = chainRecords(chain, kForkAt, kNewTip + 1);
  fork.insert(fork.end(), branch.begin(), branch.end());
  produceBlocks(forked, fork);
  ASSERT_TRUE(waitUntil(
      [&] {
        return aggregator->metric("point_tron_aggregator_rollbacks_total").value_or(0) >= 1 &&
               foldedHeight(*aggregator) == kNewTip;
      },
      seconds(60)))
      << "folded to " << foldedHeight(*aggregator) << "\n" << aggregator->log();
  const auto status = aggregator->stop();
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << aggregator->log();

  const std::string fresh = fetcher::uniquePrefix("aggregator-final");
  createTopics(fresh);
  produceBlocks(fresh, chainRecords(chain, kFirst, kNewTip + 1));
  foldTo(fresh, kNewTip);

  const StatsView after_fork = readStats(forked);
  EXPECT_EQ("", differences(liveValues(readStats(fresh)), liveValues(after_fork)));
  for (std::int64_t height = kNewTip + 1; height <= kOldTip; ++height) {
    const auto it = after_fork.find(fmt::format("points:{}", height));
    ASSERT_NE(after_fork.end(), it) << height;
    EXPECT_FALSE(it->second.has_value()) << "points:" << height << " is not a tombstone";
  }
}

// A block.v1 that does not parse goes to the DLQ with its origin, and its height never arrives:
// the fold waits there (gap height and age reported, health degraded after max_gap_age_ms)
// instead of skipping it, and continues once the height is re-fed.
TEST(AggregatorTest, MalformedBlockGoesToTheDlqAndTheFoldWaitsForItsHeight) {
  constexpr std::int64_t kMissing = kFirst + 50;
  constexpr std::int64_t kLast = kFirst + 99;
  const tronsim::Chain chain({.seed = 33, .profile = tronsim::Profile::Small, .first_height = kFirst});
  auto records = chainRecords(chain, kFirst, kLast + 1);
  const BlockRecordText good = records[kMissing - kFirst];
  records[kMissing - kFirst].value = R"({"schema":"block.v1","height":)" + good.key;  // cut short
  const std::string prefix = fetcher::uniquePrefix("aggregator-dlq");
  createTopics(prefix);
  produceBlocks(prefix, records);
  auto aggregator = StageProcess::start("aggregator", aggregatorEnv(prefix, 1000));
  ASSERT_NE(nullptr, aggregator);

  std::string health;
  ASSERT_TRUE(waitUntil(
      [&] {
        auto answer = httpRequest(aggregator->httpPort(), "GET", "/health");
        health = answer ? answer->body : "";
        return foldedHeight(*aggregator) == kMissing - 1 &&
               aggregator->metric("point_tron_aggregator_gap_height").value_or(0) ==
                   static_cast<double>(kMissing) &&
               aggregator->metric("point_tron_aggregator_gap_age_seconds").value_or(0) > 1.0 &&
               health.find(fmt::format("for height {}", kMissing)) != std::string::npos;
      },
      seconds(60)))
      << "folded to " << foldedHeight(*aggregator) << "; health " << health << "\n"
      << aggregator->log();
  EXPECT_NE(std::string::npos, health.find(R"("fold":{"status":"degraded")")) << health;
  EXPECT_EQ(static_cast<double>(kLast - kMissing),
            aggregator->metric("point_tron_aggregator_reorder_buffer_blocks").value_or(-1));

  TopicReader dlq(prefix + "dlq");
  ASSERT_TRUE(dlq.readUntil([&] { return !dlq.records().empty(); }, seconds(30))) << dlq.error();
  const auto& dead = dlq.records().front();
  EXPECT_EQ(good.key, dead.key);
  EXPECT_EQ(records[kMissing - kFirst].value, dead.value);
  EXPECT_NE(std::string::npos, dead.headers.at("error").find("invalid_json")) << dead.headers.at("error");
  EXPECT_EQ(prefix + "blocks", dead.headers.at("source_topic"));
  EXPECT_TRUE(dead.headers.contains("source_partition"));
  EXPECT_TRUE(dead.headers.contains("source_offset"));

  produceBlocks(prefix, {good});
  ASSERT_TRUE(waitUntil(
      [&] {
        return foldedHeight(*aggregator) == kLast &&
               aggregator->metric("point_tron_aggregator_gap_height").value_or(-1) == 0;
      },
      seconds(60)))
      << aggregator->log();
  const auto status = aggregator->stop();
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << aggregator->log();
}

}  // namespace
}  // namespace testsupport
