// The real pointtron-fetcher binary against tronsim child processes and the test broker: what
// lands on blocks.raw, checked record by record (stages/fetcher/README.md, docs/tronsim.md).
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tests/integration/fetcher_harness.h"
#include "tests/support/raw_http.h"
#include "tests/tronsim/chain.h"
#include "tests/tronsim/crypto.h"

namespace testsupport::fetcher {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kSeed = 7;

// The fields of a blocks.raw block value the tests look at.
struct BlockFields {
  std::string block_id;
  std::string parent_id;
  std::int64_t number = -1;
};

std::optional<BlockFields> parseBlock(simdjson::dom::parser& parser, const std::string& value) {
  simdjson::dom::element doc;
  if (parser.parse(value).get(doc) != simdjson::SUCCESS) return std::nullopt;
  std::string_view id;
  std::string_view parent;
  std::int64_t number = -1;
  if (doc["blockID"].get(id) != simdjson::SUCCESS) return std::nullopt;
  auto raw = doc["block_header"]["raw_data"];
  if (raw["number"].get(number) != simdjson::SUCCESS) return std::nullopt;
  if (raw["parentHash"].get(parent) != simdjson::SUCCESS) return std::nullopt;
  return BlockFields{std::string(id), std::string(parent), number};
}

struct Retraction {
  std::int64_t height = -1;
  std::string block_id;
};

// {"schema":"block.raw.retraction.v1","removed":true,"height":H,"block_id":"…"}, nothing else.
std::optional<Retraction> parseRetraction(simdjson::dom::parser& parser, const std::string& value) {
  simdjson::dom::object doc;
  if (parser.parse(value).get(doc) != simdjson::SUCCESS) return std::nullopt;
  std::string_view schema;
  bool removed = false;
  Retraction out;
  std::string_view id;
  if (doc.size() != 4 || doc["schema"].get(schema) != simdjson::SUCCESS ||
      schema != "block.raw.retraction.v1" || doc["removed"].get(removed) != simdjson::SUCCESS ||
      !removed || doc["height"].get(out.height) != simdjson::SUCCESS ||
      doc["block_id"].get(id) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  out.block_id = std::string(id);
  return out;
}

std::string hex(const tronsim::Hash256& hash) {
  std::string out;
  for (auto byte : hash) out += fmt::format("{:02x}", byte);
  return out;
}

// sha256 over the sha256 of every value, in the given order.
class Digest {
 public:
  void add(std::string_view value) {
    auto h = tronsim::sha256(value);
    hashes_.append(reinterpret_cast<const char*>(h.data()), h.size());
  }
  std::string finish() const { return hex(tronsim::sha256(hashes_)); }

 private:
  std::string hashes_;
};

tronsim::Chain makeChain(tronsim::Profile profile, std::int64_t first_height) {
  return tronsim::Chain({.seed = kSeed, .profile = profile, .first_height = first_height});
}

std::string topicOf(const std::string& prefix) { return prefix + "blocks.raw"; }

// Stops the fetcher with SIGTERM and expects a clean exit (0).
void expectCleanStop(Fetcher& fetcher) {
  auto status = fetcher.stop();
  ASSERT_TRUE(status.has_value()) << "the fetcher did not stop within 30 s\n" << fetcher.log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "wait status " << *status << "\n" << fetcher.log();
}

// Every record is a block (no retraction), every height in [first, first + count) appears exactly
// once, and each value is byte for byte the chain's block with blockID and number matching the
// key. Returns the digest of the values in height order.
std::string expectExactlyOnce(const std::vector<SeenRecord>& records, const tronsim::Chain& chain,
                              std::int64_t first, std::int64_t count) {
  simdjson::dom::parser parser;
  std::map<std::int64_t, const SeenRecord*> by_height;
  std::size_t duplicates = 0;
  std::size_t retractions = 0;
  std::size_t bad_keys = 0;
  for (const auto& record : records) {
    if (record.retraction) {
      ++retractions;
      continue;
    }
    if (record.height < 0) {
      if (++bad_keys <= 3) ADD_FAILURE() << "a key is not a decimal height: \"" << record.key << "\"";
      continue;
    }
    if (!by_height.emplace(record.height, &record).second && ++duplicates <= 5) {
      ADD_FAILURE() << "height " << record.height << " emitted again (partition "
                    << record.partition << " offset " << record.offset << ")";
    }
  }
  EXPECT_EQ(0u, duplicates) << "duplicate block records";
  EXPECT_EQ(0u, retractions) << "retractions without a fork";
  EXPECT_EQ(0u, bad_keys);
  EXPECT_EQ(static_cast<std::size_t>(count), records.size()) << "records on blocks.raw";
  EXPECT_EQ(static_cast<std::size_t>(count), by_height.size()) << "distinct heights";
  if (!by_height.empty()) {
    EXPECT_EQ(first, by_height.begin()->first) << "lowest height";
    EXPECT_EQ(first + count - 1, by_height.rbegin()->first) << "highest height";
  }
  Digest got;
  Digest want;
  int mismatches = 0;
  for (std::int64_t height = first; height < first + count; ++height) {
    const std::string expected = chain.blockJson(height);
    want.add(expected);
    auto it = by_height.find(height);
    if (it == by_height.end()) {
      if (++mismatches <= 5) ADD_FAILURE() << "height " << height << " missing";
      continue;
    }
    const std::string& value = it->second->value;
    got.add(value);
    auto fields = parseBlock(parser, value);
    if (!fields) {
      if (++mismatches <= 5) ADD_FAILURE() << "height " << height << ": value is not a block";
      continue;
    }
    if (fields->number != height || fields->block_id != chain.blockId(height) ||
        fields->block_id.substr(0, 16) != fmt::format("{:016x}", height) || value != expected) {
      if (++mismatches <= 5) {
        ADD_FAILURE() << "height " << height << ": number " << fields->number << ", blockID "
                      << fields->block_id << " (want " << chain.blockId(height) << "), value "
                      << (value == expected ? "equal" : "differs") << " (" << value.size()
                      << " vs " << expected.size() << " bytes)";
      }
    }
  }
  std::string gaps;
  for (std::int64_t height = first; height < first + count; ++height) {
    if (by_height.contains(height)) continue;
    std::int64_t end = height;
    while (end + 1 < first + count && !by_height.contains(end + 1)) ++end;
    gaps += fmt::format(" [{}, {}]", height, end);
    height = end;
  }
  EXPECT_EQ(0, mismatches) << "heights missing or different from the chain; missing:"
                           << (gaps.empty() ? " none" : gaps);
  EXPECT_EQ(want.finish(), got.finish()) << "digest of the values in height order";
  return got.finish();
}

// Catch-up of `count` blocks of `profile` from a fixed head: every height exactly once.
void catchUp(tronsim::Profile profile, std::int64_t first, std::int64_t count, int range_size,
             seconds deadline) {
  auto node = Tronsim::start({"--seed", std::to_string(kSeed), "--profile",
                              tronsim::profileName(profile), "--first-height",
                              std::to_string(first), "--head", std::to_string(first + count - 1),
                              });
  ASSERT_NE(nullptr, node);
  const std::string prefix = uniquePrefix("fetch-catchup");
  auto env = fetcherEnv(prefix, {node->url()}, 3);
  env["POINTTRON_FETCHER__START"] = std::to_string(first);
  env["POINTTRON_FETCHER__RANGE_SIZE_BLOCKS"] = std::to_string(range_size);
  env["POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS"] = "0";
  const auto started = Clock::now();
  auto fetcher = StageProcess::start("fetcher", env);
  ASSERT_NE(nullptr, fetcher);

  TopicReader reader(topicOf(prefix));
  const bool complete =
      reader.readUntil([&] { return reader.contiguousEnd(first) >= first + count; }, deadline);
  const auto elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  ASSERT_TRUE(complete) << "heights [" << first << ", " << reader.contiguousEnd(first)
                        << ") of [" << first << ", " << first + count << ") arrived; "
                        << reader.error() << "\n" << fetcher->log();
  std::cout << fmt::format("[ fetcher  ] {} {} blocks in {:.1f} s\n",
                           tronsim::profileName(profile), count, elapsed);
  EXPECT_EQ(static_cast<double>(count),
            fetcher->metric("point_tron_fetcher_emitted_blocks_total").value_or(-1));
  EXPECT_EQ(static_cast<double>(first + count - 1),
            fetcher->metric("point_tron_fetcher_last_emitted_height").value_or(-1));
  expectCleanStop(*fetcher);
  ASSERT_TRUE(reader.readAll(seconds(30))) << reader.error();
  const std::string node_source = fmt::format("127.0.0.1:{}", node->port());
  for (const auto& record : reader.records()) {
    ASSERT_EQ(node_source, record.source.value_or("(none)")) << "source header of " << record.key;
  }

  const auto chain = makeChain(profile, first);
  const std::string digest = expectExactlyOnce(reader.records(), chain, first, count);
  std::cout << "[ fetcher  ] sha256 of the values: " << digest << "\n";
}

// Catch-up: 10,000 small blocks land on blocks.raw each exactly once, heights [first, first+N),
// byte for byte the node's blocks (same digest as the in-process chain with the same seed).
TEST(FetcherTest, CatchUpOfTenThousandSmallBlocksEmitsEveryHeightExactlyOnce) {
  catchUp(tronsim::Profile::Small, 70'000'001, 10'000, 100, seconds(90));
}

// Catch-up with mainnet-sized blocks (≈ 250 KB each): 500 heights exactly once, bytes unchanged.
TEST(FetcherTest, CatchUpOfFiveHundredMainnetBlocksEmitsEveryHeightExactlyOnce) {
  catchUp(tronsim::Profile::Mainnet, 60'000'001, 500, 20, seconds(90));
}

// Reads `reader` while `check` (called at most every 100 ms) is false; false at the deadline.
bool pollUntil(TopicReader& reader, const std::function<bool()>& check, milliseconds deadline) {
  auto next = Clock::now();
  return reader.readUntil(
      [&] {
        if (Clock::now() < next) return false;
        next = Clock::now() + milliseconds(100);
        return check();
      },
      deadline);
}

// Failover: node A answers only 5xx and resets; the fetcher keeps going through node B
// (failovers counted, B's requests grow); once A is healthy again, requests go back to A. What
// was emitted is a gap-free run of the right blocks.
TEST(FetcherTest, FailsOverToTheSecondNodeAndReturnsWhenTheFirstRecovers) {
  constexpr std::int64_t kFirst = 50'000'001;
  const std::vector<std::string> args{"--seed", std::to_string(kSeed), "--profile", "small",
                                      "--first-height", std::to_string(kFirst), "--head",
                                      std::to_string(kFirst + 200'000)};
  auto a = Tronsim::start(args);
  auto b = Tronsim::start(args);
  ASSERT_NE(nullptr, a);
  ASSERT_NE(nullptr, b);
  ASSERT_TRUE(a->setFaults(R"({"rules":[
      {"kind":"http_error","status":503,"probability":0.5},
      {"kind":"http_error","status":500,"probability":0.3},
      {"kind":"reset"}]})"));

  const std::string prefix = uniquePrefix("fetch-failover");
  auto env = fetcherEnv(prefix, {a->url(), b->url()}, 3);
  env["POINTTRON_FETCHER__START"] = std::to_string(kFirst);
  env["POINTTRON_FETCHER__RANGE_SIZE_BLOCKS"] = "10";
  env["POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS"] = "20";
  env["POINTTRON_FETCHER__BREAKER_OPEN_INITIAL_MS"] = "500";
  env["POINTTRON_FETCHER__BREAKER_OPEN_MAX_MS"] = "2000";
  env["POINTTRON_FETCHER__RETRY_MAX_BACKOFF_MS"] = "1000";
  auto fetcher = StageProcess::start("fetcher", env);
  ASSERT_NE(nullptr, fetcher);
  TopicReader reader(topicOf(prefix));

  // Phase 1: A fails every request; progress comes from B.
  const std::int64_t b_before = b->stats().value_or(TronsimStats{}).apiRequests();
  double failovers = 0;
  const bool progressed = pollUntil(
      reader,
      [&] {
        failovers = fetcher->metric("point_tron_fetcher_failovers_total").value_or(0);
        return reader.contiguousEnd(kFirst) >= kFirst + 500 && failovers > 0;
      },
      seconds(40));
  auto a_stats = a->stats();
  auto b_stats = b->stats();
  ASSERT_TRUE(a_stats && b_stats);
  EXPECT_TRUE(progressed) << "emitted up to " << reader.contiguousEnd(kFirst) - 1
                          << ", failovers " << failovers << "\n" << fetcher->log();
  EXPECT_GT(failovers, 0);
  EXPECT_GT(a_stats->faults, 0) << "the fetcher never tried node A";
  EXPECT_EQ(a_stats->faults, a_stats->apiRequests()) << "A answered a request while faulty";
  EXPECT_GE(b_stats->apiRequests() - b_before, 50) << "node B carried the load";
  std::cout << fmt::format("[ fetcher  ] faulty A: {} requests, B: {}, failovers {}\n",
                           a_stats->apiRequests(), b_stats->apiRequests(), failovers);

  // Phase 2: A recovers; requests go to A again (and succeed).
  ASSERT_TRUE(a->clearFaults());
  const std::int64_t a_before = a->stats().value_or(TronsimStats{}).apiRequests();
  const std::int64_t emitted_before = reader.contiguousEnd(kFirst);
  std::int64_t a_now = a_before;
  const bool returned = pollUntil(
      reader,
      [&] {
        a_now = a->stats().value_or(TronsimStats{}).apiRequests();
        return a_now >= a_before + 20 && reader.contiguousEnd(kFirst) > emitted_before + 200;
      },
      seconds(30));
  EXPECT_TRUE(returned) << "A's requests " << a_before << " -> " << a_now << "\n"
                        << fetcher->log();
  EXPECT_EQ(1.0, fetcher->metric("point_tron_fetcher_node_up", {{"node", "0"}}).value_or(-1));
  EXPECT_EQ(1.0, fetcher->metric("point_tron_fetcher_node_up", {{"node", "1"}}).value_or(-1));

  expectCleanStop(*fetcher);
  ASSERT_TRUE(reader.readAll(seconds(30))) << reader.error();
  const std::int64_t emitted = reader.contiguousEnd(kFirst) - kFirst;
  expectExactlyOnce(reader.records(), makeChain(tronsim::Profile::Small, kFirst), kFirst, emitted);
}

// 429 with Retry-After: 1 for the next 3 range requests: each time the fetcher waits about a
// second before asking that node again (one request in flight, so each next request is a
// reaction to the previous answer), counts them as rate_limited, and still completes.
TEST(FetcherTest, HonoursRetryAfterOnTooManyRequests) {
  constexpr std::int64_t kFirst = 40'000'001;
  constexpr std::int64_t kCount = 300;
  constexpr int kLimited = 3;
  auto node = Tronsim::start({"--seed", std::to_string(kSeed), "--profile", "small",
                              "--first-height", std::to_string(kFirst), "--head",
                              std::to_string(kFirst + kCount - 1)});
  ASSERT_NE(nullptr, node);
  ASSERT_TRUE(node->setFaults(fmt::format(
      R"({{"rules":[{{"kind":"http_error","status":429,"count":{},"retry_after_s":1,"path":"getblockbylimitnext"}}]}})",
      kLimited)));

  // Samples the node's request counters from another thread: when did range request j arrive?
  const std::string kPath = "/wallet/getblockbylimitnext";
  std::mutex mutex;
  std::map<std::int64_t, Clock::time_point> arrived;  // request number -> first seen
  std::atomic<bool> sampling{true};
  BackgroundTask sampler([&] {
    std::int64_t seen = 0;
    while (sampling.load()) {
      auto stats = node->stats();
      const auto now = Clock::now();
      if (stats) {
        std::lock_guard lock(mutex);
        for (std::int64_t j = seen + 1; j <= stats->path(kPath); ++j) arrived[j] = now;
        seen = std::max(seen, stats->path(kPath));
      }
      struct timespec pause{0, 2'000'000};
      ::nanosleep(&pause, nullptr);  // sampling period, not synchronisation
    }
  });

  const std::string prefix = uniquePrefix("fetch-429");
  auto env = fetcherEnv(prefix, {node->url()}, 3);
  env["POINTTRON_FETCHER__START"] = std::to_string(kFirst);
  env["POINTTRON_FETCHER__RANGE_SIZE_BLOCKS"] = "50";
  env["POINTTRON_FETCHER__MAX_IN_FLIGHT_REQUESTS"] = "1";
  env["POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS"] = "0";
  auto fetcher = StageProcess::start("fetcher", env);
  ASSERT_NE(nullptr, fetcher);
  TopicReader reader(topicOf(prefix));
  const bool complete =
      reader.readUntil([&] { return reader.contiguousEnd(kFirst) >= kFirst + kCount; }, seconds(30));
  sampling = false;
  EXPECT_TRUE(complete) << "emitted up to " << reader.contiguousEnd(kFirst) - 1 << "\n"
                        << fetcher->log();

  auto stats = node->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(kLimited, stats->faults);
  EXPECT_EQ(static_cast<double>(kLimited),
            fetcher->metric("point_tron_fetcher_node_errors_total",
                            {{"node", "0"}, {"error_kind", "rate_limited"}})
                .value_or(-1));
  {
    std::lock_guard lock(mutex);
    ASSERT_GT(arrived.size(), static_cast<std::size_t>(kLimited));
    // Requests 1..kLimited got the 429 (the rule fires for the first ones in scope); the request
    // after each came >= ~1 s later. 100 ms of slack for the sampling.
    for (std::int64_t j = 1; j <= kLimited; ++j) {
      const auto gap = std::chrono::duration_cast<milliseconds>(arrived[j + 1] - arrived[j]);
      std::cout << fmt::format("[ fetcher  ] range request {} -> {}: {} ms\n", j, j + 1,
                               gap.count());
      EXPECT_GE(gap.count(), 900) << "range request " << j + 1 << " came " << gap.count()
                                  << " ms after the 429 of request " << j;
    }
  }
  expectCleanStop(*fetcher);
  ASSERT_TRUE(reader.readAll(seconds(30))) << reader.error();
  expectExactlyOnce(reader.records(), makeChain(tronsim::Profile::Small, kFirst), kFirst, kCount);
}

// The chain blocks.raw describes, replayed record by record in topic order (one partition):
// a block must extend the tip (next height, parentHash = tip's blockID), a retraction must remove
// the tip (its height and block_id). Failures name the offending record.
class ChainReplay {
 public:
  struct Run {
    std::vector<Retraction> retracted;  // in topic order
  };

  void apply(const SeenRecord& record) {
    if (record.retraction) {
      auto retraction = parseRetraction(parser_, record.value);
      ASSERT_TRUE(retraction) << "bad retraction at offset " << record.offset << ": "
                              << record.value;
      EXPECT_EQ(record.height, retraction->height) << "retraction key vs height";
      ASSERT_FALSE(chain_.empty()) << "retraction of an empty chain at " << record.offset;
      EXPECT_EQ(chain_.rbegin()->first, retraction->height)
          << "retraction at offset " << record.offset << " is not of the tip (highest first)";
      EXPECT_EQ(chain_.rbegin()->second, retraction->block_id)
          << "retraction at offset " << record.offset << " names another block";
      chain_.erase(std::prev(chain_.end()));
      if (!in_run_) runs_.emplace_back();
      in_run_ = true;
      runs_.back().retracted.push_back(*retraction);
      return;
    }
    in_run_ = false;
    auto fields = parseBlock(parser_, record.value);
    ASSERT_TRUE(fields) << "offset " << record.offset << " is not a block";
    EXPECT_EQ(record.height, fields->number) << "key vs number at offset " << record.offset;
    if (!chain_.empty()) {
      EXPECT_EQ(chain_.rbegin()->first + 1, fields->number)
          << "block at offset " << record.offset << " does not extend the tip";
      EXPECT_EQ(chain_.rbegin()->second, fields->parent_id)
          << "block " << fields->number << " does not link to the tip";
    }
    chain_[fields->number] = fields->block_id;
    values_[fields->number] = record.value;
  }

  const std::map<std::int64_t, std::string>& chain() const { return chain_; }
  const std::map<std::int64_t, std::string>& values() const { return values_; }
  const std::vector<Run>& runs() const { return runs_; }

 private:
  simdjson::dom::parser parser_;
  std::map<std::int64_t, std::string> chain_;   // height -> blockID, live heights
  std::map<std::int64_t, std::string> values_;  // height -> latest block value
  std::vector<Run> runs_;
  bool in_run_ = false;
};

// Live fork of depth 3: once the fetcher has emitted the head, the node replaces its top 3
// blocks. blocks.raw then holds 3 retractions, highest first, naming the emitted blocks,
// followed by the new branch lowest first; every block on the topic equals the node's block of
// that height after the fork. (One partition, so the topic order is the emission order.)
TEST(FetcherTest, RepairsALiveForkOfDepthThreeWithRetractionsThenTheNewBranch) {
  constexpr std::int64_t kFirst = 30'000'001;
  auto node = Tronsim::start({"--seed", std::to_string(kSeed), "--profile", "small",
                              "--first-height", std::to_string(kFirst), "--live-interval-ms",
                              "1000", "--start-height", std::to_string(kFirst + 20),
                              });
  ASSERT_NE(nullptr, node);
  const std::string prefix = uniquePrefix("fetch-fork");
  auto env = fetcherEnv(prefix, {node->url()}, 1);
  env["POINTTRON_FETCHER__START"] = std::to_string(kFirst);
  env["POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS"] = "0";
  auto fetcher = StageProcess::start("fetcher", env);
  ASSERT_NE(nullptr, fetcher);
  TopicReader reader(topicOf(prefix));

  // Fork right after the fetcher emitted the node's head, early in a head interval (within
  // 600 ms of seeing the head change), so the fork lands on exactly the blocks it emitted; the
  // fork's answer confirms it.
  std::optional<ForkAnswer> clean;
  std::int64_t last_head = -1;
  auto changed_at = Clock::now();
  const bool forked = reader.readUntil(
      [&] {
        auto head = node->head();
        const auto now = Clock::now();
        if (!head) return false;
        if (*head != last_head) {
          last_head = *head;
          changed_at = now;
        }
        if (last_head < kFirst + 22 || reader.contiguousEnd(kFirst) - 1 != last_head ||
            now - changed_at > milliseconds(600)) {
          return false;
        }
        clean = node->fork(3);
        return true;
      },
      seconds(30));
  ASSERT_TRUE(forked) << "the fetcher never caught up with the head (emitted up to "
                      << reader.contiguousEnd(kFirst) - 1 << ", head " << last_head << ")\n"
                      << fetcher->log();
  ASSERT_TRUE(clean) << "POST /admin/fork failed";
  ASSERT_EQ(last_head, clean->head) << "the head moved between the check and the fork";
  ASSERT_EQ(last_head - 2, clean->from_height);

  // The repair: 3 retractions, then the new branch up to the node's head.
  std::int64_t head = -1;
  const bool repaired = pollUntil(
      reader,
      [&] {
        head = node->head().value_or(-1);
        if (reader.retractions() < 3 || head <= clean->head) return false;
        // Latest record of every height >= from_height is a new-branch block.
        std::map<std::int64_t, const SeenRecord*> latest;
        for (const auto& record : reader.records()) latest[record.height] = &record;
        for (std::int64_t h = clean->from_height; h <= clean->head + 1; ++h) {
          auto it = latest.find(h);
          if (it == latest.end() || it->second->retraction) return false;
        }
        return true;
      },
      seconds(20));
  ASSERT_TRUE(repaired) << "retractions " << reader.retractions() << ", head " << head << "\n"
                        << fetcher->log();
  EXPECT_EQ(1.0, fetcher->metric("point_tron_fetcher_forks_total").value_or(-1));
  EXPECT_EQ(3.0, fetcher->metric("point_tron_fetcher_retracted_blocks_total").value_or(-1));
  expectCleanStop(*fetcher);
  ASSERT_TRUE(reader.readAll(seconds(30))) << reader.error();

  ChainReplay replay;
  simdjson::dom::parser parser;
  std::map<std::int64_t, std::string> before_fork;  // blockIDs emitted before the retractions
  bool retracting = false;
  for (const auto& record : reader.records()) {
    if (record.retraction) retracting = true;
    if (!retracting && !record.retraction) {
      before_fork[record.height] = parseBlock(parser, record.value).value_or(BlockFields{}).block_id;
    }
    replay.apply(record);
    if (::testing::Test::HasFatalFailure()) return;
  }
  ASSERT_EQ(1u, replay.runs().size()) << "one run of retractions for one fork";
  const auto& run = replay.runs().front().retracted;
  ASSERT_EQ(3u, run.size());
  for (std::size_t i = 0; i < run.size(); ++i) {
    const std::int64_t height = clean->head - static_cast<std::int64_t>(i);
    EXPECT_EQ(height, run[i].height) << "retraction " << i << " (highest first)";
    EXPECT_EQ(before_fork[height], run[i].block_id) << "retraction " << i;
  }
  // What blocks.raw ends with is the node's chain after the fork, byte for byte.
  ASSERT_FALSE(replay.chain().empty());
  EXPECT_EQ(kFirst, replay.chain().begin()->first);
  int mismatches = 0;
  for (const auto& [height, value] : replay.values()) {
    if (!replay.chain().contains(height)) continue;
    auto expected = node->blockByNum(height);
    ASSERT_TRUE(expected);
    if (*expected != value && ++mismatches <= 5) {
      ADD_FAILURE() << "height " << height << " differs from the node's block after the fork";
    }
    if (height >= clean->from_height && height <= clean->head) {
      EXPECT_NE(before_fork[height], replay.chain().at(height)) << "height " << height;
    }
  }
  EXPECT_EQ(0, mismatches);
}

// A finality mode's promise, checked while it runs: no block reaches blocks.raw before the mode
// allows it. `allowed()` (the node's bound for the mode) is read after the records it judges were
// read, and it only grows, so a record above it was emitted too early. The fetcher keeps up with
// the bound; then the node replaces its top `fork_depth` blocks, none of them final yet, which must
// produce no retraction: blocks.raw ends as the node's chain after the fork, each height once.
void expectOnlyFinalBlocks(Tronsim& node, Fetcher& fetcher, TopicReader& reader, std::int64_t first,
                           const std::function<std::optional<std::int64_t>()>& allowed,
                           int fork_depth) {
  std::size_t judged = 0;
  int early = 0;
  std::int64_t bound = -1;
  // Judges the records read since the last call against the bound as it is now.
  auto judgeNewRecords = [&] {
    bound = allowed().value_or(bound);
    for (; judged < reader.records().size(); ++judged) {
      const auto& record = reader.records()[judged];
      if (!record.retraction && record.height > bound && ++early <= 5) {
        ADD_FAILURE() << "height " << record.height << " emitted while the mode allowed only up to "
                      << bound;
      }
    }
  };
  auto emittedTop = [&] { return reader.contiguousEnd(first) - 1; };

  const bool kept_up = pollUntil(
      reader,
      [&] {
        judgeNewRecords();
        return bound >= first + 10 && emittedTop() == bound;
      },
      seconds(40));
  ASSERT_TRUE(kept_up) << "emitted up to " << emittedTop() << ", allowed " << bound << "\n"
                       << fetcher.log();
  auto fork = node.fork(fork_depth);
  ASSERT_TRUE(fork) << "POST /admin/fork failed";
  ASSERT_LT(emittedTop(), fork->from_height) << "the fork must replace only blocks not yet final";

  const bool final_again = pollUntil(
      reader,
      [&] {
        judgeNewRecords();
        return emittedTop() >= fork->head;
      },
      seconds(40));
  ASSERT_TRUE(final_again) << "emitted up to " << emittedTop() << ", forked heights "
                           << fork->from_height << ".." << fork->head << "\n" << fetcher.log();
  EXPECT_EQ(0.0, fetcher.metric("point_tron_fetcher_forks_total").value_or(-1));
  EXPECT_EQ(0.0, fetcher.metric("point_tron_fetcher_retracted_blocks_total").value_or(-1));
  expectCleanStop(fetcher);
  ASSERT_TRUE(reader.readAll(seconds(30))) << reader.error();
  judgeNewRecords();
  EXPECT_EQ(0, early);
  EXPECT_EQ(0u, reader.retractions());

  std::map<std::int64_t, int> copies;
  for (const auto& record : reader.records()) ++copies[record.height];
  const std::int64_t top = emittedTop();
  EXPECT_EQ(static_cast<std::size_t>(top - first + 1), copies.size()) << "heights outside a run";
  int mismatches = 0;
  for (std::int64_t height = first; height <= top; ++height) {
    EXPECT_EQ(1, copies[height]) << "height " << height;
  }
  for (const auto& record : reader.records()) {
    auto expected = node.blockByNum(record.height);
    ASSERT_TRUE(expected) << "getblockbynum " << record.height;
    if (*expected != record.value && ++mismatches <= 5) {
      ADD_FAILURE() << "height " << record.height << " differs from the node's final block";
    }
  }
  EXPECT_EQ(0, mismatches);
}

// fetcher.finality=confirmations with 5 blocks: a height is emitted only once the node's head is 5
// above it, so a fork of depth 3 at the head never reaches blocks.raw.
TEST(FetcherTest, ConfirmationsModeEmitsOnlyBlocksFiveDeepAndNeverRetracts) {
  constexpr std::int64_t kFirst = 40'000'001;
  constexpr int kConfirmations = 5;
  auto node = Tronsim::start({"--seed", std::to_string(kSeed), "--profile", "small",
                              "--first-height", std::to_string(kFirst), "--live-interval-ms",
                              "1000", "--start-height", std::to_string(kFirst + 20)});
  ASSERT_NE(nullptr, node);
  const std::string prefix = uniquePrefix("fetch-confirmations");
  auto env = fetcherEnv(prefix, {node->url()}, 1);
  env["POINTTRON_FETCHER__START"] = std::to_string(kFirst);
  env["POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS"] = "0";
  env["POINTTRON_FETCHER__FINALITY"] = "confirmations";
  env["POINTTRON_FETCHER__CONFIRMATIONS_BLOCKS"] = std::to_string(kConfirmations);
  auto fetcher = StageProcess::start("fetcher", env);
  ASSERT_NE(nullptr, fetcher);
  TopicReader reader(topicOf(prefix));
  expectOnlyFinalBlocks(
      *node, *fetcher, reader, kFirst,
      [&]() -> std::optional<std::int64_t> {
        auto head = node->head();
        if (!head) return std::nullopt;
        return *head - kConfirmations;
      },
      3);
}

// fetcher.finality=solidified: heights are emitted up to the node's solidified head (4 blocks
// behind here), which the fetcher learns from /walletsolidity/getnowblock only; a fork of depth 2
// at the head never reaches blocks.raw.
TEST(FetcherTest, SolidifiedModeEmitsOnlySolidifiedBlocksAndNeverRetracts) {
  constexpr std::int64_t kFirst = 50'000'001;
  auto node = Tronsim::start({"--seed", std::to_string(kSeed), "--profile", "small",
                              "--first-height", std::to_string(kFirst), "--live-interval-ms",
                              "1000", "--start-height", std::to_string(kFirst + 20),
                              "--solidity-lag", "4"});
  ASSERT_NE(nullptr, node);
  const std::string prefix = uniquePrefix("fetch-solidified");
  auto env = fetcherEnv(prefix, {node->url()}, 1);
  env["POINTTRON_FETCHER__START"] = std::to_string(kFirst);
  env["POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS"] = "0";
  env["POINTTRON_FETCHER__FINALITY"] = "solidified";
  auto fetcher = StageProcess::start("fetcher", env);
  ASSERT_NE(nullptr, fetcher);
  TopicReader reader(topicOf(prefix));
  expectOnlyFinalBlocks(*node, *fetcher, reader, kFirst, [&] { return node->solidHead(); }, 2);
  auto stats = node->stats();
  ASSERT_TRUE(stats);
  EXPECT_GT(stats->path("/walletsolidity/getnowblock"), 0);
  EXPECT_EQ(0, stats->path("/wallet/getnowblock")) << "the head of the full node is not final";
}

// Crash safety: SIGKILLed 20 times at random points of a 5,000-block catch-up and restarted each
// time, the fetcher still ends with every height on blocks.raw exactly once: no duplicate
// record for any height (nothing acknowledged is re-emitted), no gap, no retraction.
TEST(FetcherTest, SigkillAndRestartTwentyTimesNeverDuplicatesOrSkipsAHeight) {
  constexpr std::int64_t kFirst = 20'000'001;
  constexpr std::int64_t kCount = 5000;
  constexpr int kKills = 20;
  auto node = Tronsim::start({"--seed", std::to_string(kSeed), "--profile", "small",
                              "--first-height", std::to_string(kFirst), "--head",
                              std::to_string(kFirst + kCount - 1)});
  ASSERT_NE(nullptr, node);
  const std::string prefix = uniquePrefix("fetch-kill");
  auto env = fetcherEnv(prefix, {node->url()}, 3);
  env["POINTTRON_FETCHER__START"] = std::to_string(kFirst);
  env["POINTTRON_FETCHER__RANGE_SIZE_BLOCKS"] = "20";
  env["POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS"] = "25";
  TopicReader reader(topicOf(prefix));
  // The fetcher emits in height order, so the last height on the topic means it is done.
  auto reachedEnd = [&] {
    return !reader.blockHeights().empty() &&
           *reader.blockHeights().rbegin() >= kFirst + kCount - 1;
  };

  const unsigned seed = std::random_device{}();
  std::mt19937 random(seed);
  SCOPED_TRACE(fmt::format("kill schedule seed {}", seed));
  for (int kill = 0; kill < kKills; ++kill) {
    auto fetcher = StageProcess::start("fetcher", env);
    ASSERT_NE(nullptr, fetcher) << "restart " << kill;
    // A quarter of the kills land during start-up (reading the tail, first requests); the
    // others after 1..250 more records reached the topic.
    const bool at_start = random() % 4 == 0;
    const std::size_t more = 1 + random() % 250;
    const std::size_t target = reader.records().size() + more;
    if (!at_start) {
      const bool progressed = reader.readUntil(
          [&] {
            return reader.records().size() >= target || reachedEnd();
          },
          seconds(30));
      ASSERT_TRUE(progressed) << "run " << kill << ": no progress\n" << fetcher->log();
      ASSERT_TRUE(fetcher->running()) << "run " << kill << " exited by itself\n" << fetcher->log();
    }
    auto status = fetcher->kill();
    ASSERT_TRUE(status.has_value());
    // What the next run must resume from, for the failure report.
    ASSERT_TRUE(reader.readAll(seconds(10))) << reader.error();
    std::cout << fmt::format(
        "[ fetcher  ] kill {}: {} records; heights contiguous to {}, highest {}\n", kill + 1,
        reader.records().size(), reader.contiguousEnd(kFirst) - 1,
        reader.blockHeights().empty() ? 0 : *reader.blockHeights().rbegin());
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << "run " << kill << ": wait status " << *status << "\n" << fetcher->log();
    if (reachedEnd()) {
      std::cout << "[ fetcher  ] finished after " << kill + 1 << " kills\n";
      break;
    }
  }
  std::cout << fmt::format("[ fetcher  ] {} records after the kills\n", reader.records().size());

  auto fetcher = StageProcess::start("fetcher", env);
  ASSERT_NE(nullptr, fetcher);
  // Partitions acknowledge independently: the highest height can land before a lower one.
  const bool complete = reader.readUntil(
      [&] { return reader.contiguousEnd(kFirst) == kFirst + kCount; }, seconds(40));
  EXPECT_TRUE(complete) << "the last height never arrived\n" << fetcher->log();
  EXPECT_EQ(kFirst + kCount, reader.contiguousEnd(kFirst))
      << "a height is missing; the last run's log:\n" << fetcher->log();
  expectCleanStop(*fetcher);
  ASSERT_TRUE(reader.readAll(seconds(30))) << reader.error();
  expectExactlyOnce(reader.records(), makeChain(tronsim::Profile::Small, kFirst), kFirst, kCount);
}

// Live mode (a block every 3 s, as on TRON): every new block reaches blocks.raw exactly once, as the node's
// bytes, within a generous 5 s of the node having it. Prints the measured p50/p99 delays (the
// benchmark owns tighter numbers).
TEST(FetcherTest, FollowsALiveHeadAndReportsTheDelay) {
  constexpr std::int64_t kFirst = 10'000'001;
  constexpr int kBlocks = 10;
  constexpr int kIntervalMs = 3000;
  auto node = Tronsim::start({"--seed", std::to_string(kSeed), "--profile", "small",
                              "--first-height", std::to_string(kFirst), "--live-interval-ms",
                              std::to_string(kIntervalMs), "--start-height", std::to_string(kFirst + 10),
                              });
  ASSERT_NE(nullptr, node);

  // When did the node first show each head? Sampled every few ms from another thread.
  std::mutex mutex;
  std::map<std::int64_t, std::int64_t> head_seen_ms;
  std::atomic<bool> sampling{true};
  BackgroundTask sampler([&] {
    while (sampling.load()) {
      auto head = node->head();
      const std::int64_t now = wallMs();
      if (head) {
        std::lock_guard lock(mutex);
        head_seen_ms.try_emplace(*head, now);
      }
      struct timespec pause{0, 2'000'000};
      ::nanosleep(&pause, nullptr);  // sampling period, not synchronisation
    }
  });

  const std::string prefix = uniquePrefix("fetch-live");
  auto env = fetcherEnv(prefix, {node->url()}, 3);
  env["POINTTRON_FETCHER__START"] = "head";
  env["POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS"] = "0";
  auto fetcher = StageProcess::start("fetcher", env);
  ASSERT_NE(nullptr, fetcher);
  TopicReader reader(topicOf(prefix));
  std::int64_t start = -1;
  const bool followed = reader.readUntil(
      [&] {
        if (reader.blockHeights().empty()) return false;
        start = *reader.blockHeights().begin();
        return reader.contiguousEnd(start) > start + kBlocks;
      },
      seconds(kBlocks * kIntervalMs / 1000 + 20));
  sampling = false;
  ASSERT_TRUE(followed) << "from " << start << " emitted up to " << reader.contiguousEnd(start) - 1
                        << "\n" << fetcher->log();
  expectCleanStop(*fetcher);
  ASSERT_TRUE(reader.readAll(seconds(30))) << reader.error();

  // The first emitted height was the head when the fetcher started; measure the ones after it.
  const std::int64_t count = reader.contiguousEnd(start) - start;
  expectExactlyOnce(reader.records(), makeChain(tronsim::Profile::Small, kFirst), start, count);
  std::vector<double> to_topic;
  std::vector<double> to_fetch;
  {
    std::lock_guard lock(mutex);
    for (const auto& record : reader.records()) {
      if (record.height <= start || record.height > start + kBlocks) continue;
      auto seen = head_seen_ms.find(record.height);
      ASSERT_NE(head_seen_ms.end(), seen) << "the sampler missed head " << record.height;
      const double topic_delay = static_cast<double>(record.received_wall_ms - seen->second);
      to_topic.push_back(topic_delay);
      if (record.fetched_at_ms) {
        to_fetch.push_back(static_cast<double>(*record.fetched_at_ms - seen->second));
      }
      EXPECT_LT(topic_delay, 5000) << "height " << record.height;
    }
  }
  EXPECT_EQ(static_cast<std::size_t>(kBlocks), to_topic.size());
  EXPECT_EQ(to_topic.size(), to_fetch.size()) << "records without a fetched_at_ms header";
  const std::string report = fmt::format(
      "node head -> on blocks.raw: p50 {:.0f} ms, p99 {:.0f} ms, max {:.0f} ms; node head -> "
      "fetched_at_ms: p50 {:.0f} ms, p99 {:.0f} ms ({} blocks, {} ms interval)",
      percentile(to_topic, 50), percentile(to_topic, 99), percentile(to_topic, 100),
      percentile(to_fetch, 50), percentile(to_fetch, 99), to_topic.size(), kIntervalMs);
  std::cout << "[ fetcher  ] " << report << "\n";
  ::testing::Test::RecordProperty("live_delay", report);
}

}  // namespace
}  // namespace testsupport::fetcher
