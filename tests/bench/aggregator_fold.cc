// Aggregator throughput in blocks/s: block.v1 parse alone, fold alone (every stats value
// rendered), and parse + reorder buffer + fold as the stage runs them.
//
//   <build>/bench/aggregator_fold --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Input: 20 000 synthetic mainnet-like block.v1 values (compact JSON as the decoder writes them):
// 27 witnesses in rotation, one slot in 200 missed, ~250 transactions, int64 TRX sums and
// uint256-sized USDT volumes, spanning ~17 hours so days, hours and candles roll over. Each
// iteration folds the whole corpus from a fresh state; items_per_second is blocks.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <random>
#include <string>
#include <vector>

#include "stages/aggregator/aggregator.h"

namespace {

using stages::aggregator::Aggregator;
using stages::aggregator::AggregatorConfig;
using stages::aggregator::BlockInput;
using stages::aggregator::BlockInputParser;
using stages::aggregator::Fold;

constexpr std::uint64_t kFirstHeight = 70'000'000;
constexpr std::size_t kBlocks = 20'000;

std::string randomChars(std::mt19937_64& random, std::string_view alphabet, std::size_t count,
                        std::string out = {}) {
  for (std::size_t i = 0; i < count; ++i) out.push_back(alphabet[random() % alphabet.size()]);
  return out;
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> values = [] {
    std::mt19937_64 random(42);
    constexpr std::string_view kHex = "0123456789abcdef";
    constexpr std::string_view kBase58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    std::vector<std::pair<std::string, std::string>> witnesses;
    for (int i = 0; i < 27; ++i) {
      witnesses.emplace_back(randomChars(random, kBase58, 33, "T"), randomChars(random, kHex, 40, "41"));
    }
    std::vector<std::string> out;
    std::string parent = randomChars(random, kHex, 64);
    std::int64_t timestamp = 1'795'996'800'000 - 6 * 3'600'000;
    std::size_t slot = 0;
    for (std::uint64_t height = kFirstHeight; height < kFirstHeight + kBlocks; ++height) {
      timestamp += 3000;
      ++slot;
      if (random() % 200 == 0) {  // a missed slot
        timestamp += 3000;
        ++slot;
      }
      const auto& [witness, witness_hex] = witnesses[slot % witnesses.size()];
      const std::string id = randomChars(random, kHex, 48, fmt::format("{:016x}", height));
      const auto digit = [&] {
        for (auto it = id.rbegin(); it != id.rend(); ++it) {
          if (*it >= '0' && *it <= '9') return *it - '0';
        }
        return 0;
      }();
      const std::uint64_t transactions = 150 + random() % 200;
      const std::uint64_t transfers = transactions / 3;
      out.push_back(fmt::format(
          R"({{"schema":"block.v1","height":{},"block_id":"{}","parent_id":"{}","timestamp_ms":{},)"
          R"("witness":"{}","witness_hex":"{}","version":30,"tx_count":{},)"
          R"("tx_by_type":{{"TransferContract":{},"TriggerSmartContract":{}}},"tx_failed":{},)"
          R"("trx_transferred_sun":"{}","trc20_transfers":{},"usdt_transfers":{},"usdt_volume":"{}",)"
          R"("last_digit":{},"is_odd":{},"size_bytes":{},"fetched_at_ms":{},"decoded_at_ms":{},)"
          R"("source":"https://api.trongrid.io"}})",
          height, id, parent, timestamp, witness, witness_hex, transactions, transfers,
          transactions - transfers, random() % 5, random() % 9'000'000'000'000'000'000ull,
          transfers, transfers / 2, fmt::format("{}{:018}", random() % 100'000, random() % 1'000'000'000'000'000'000ull),
          digit, digit % 2 == 1 ? "true" : "false", 200'000 + random() % 100'000, timestamp + 400,
          timestamp + 420));
      parent = id;
    }
    return out;
  }();
  return values;
}

const std::vector<BlockInput>& parsedCorpus() {
  static const std::vector<BlockInput> blocks = [] {
    BlockInputParser parser;
    std::vector<BlockInput> out;
    for (const auto& value : corpus()) out.push_back(std::get<BlockInput>(*parser.parse(value)));
    return out;
  }();
  return blocks;
}

void BM_Parse(benchmark::State& state) {
  BlockInputParser parser;
  const auto& values = corpus();
  for (auto _ : state) {
    for (const auto& value : values) benchmark::DoNotOptimize(parser.parse(value));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * values.size()));
}
BENCHMARK(BM_Parse)->Unit(benchmark::kMillisecond);

void BM_FoldOnly(benchmark::State& state) {
  const auto& blocks = parsedCorpus();
  std::size_t output_bytes = 0;
  for (auto _ : state) {
    Fold fold({}, kFirstHeight);
    for (const auto& block : blocks) {
      auto outputs = fold.apply(block);
      for (const auto& output : *outputs) output_bytes += output.key.size() + output.value->size();
      benchmark::DoNotOptimize(outputs);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * blocks.size()));
  state.counters["output_bytes_per_block"] =
      static_cast<double>(output_bytes) / static_cast<double>(state.iterations() * blocks.size());
}
BENCHMARK(BM_FoldOnly)->Unit(benchmark::kMillisecond);

void BM_ParseAndFold(benchmark::State& state) {
  const auto& values = corpus();
  BlockInputParser parser;
  const auto now = stages::aggregator::TimePoint{};
  for (auto _ : state) {
    AggregatorConfig config;
    config.start_height = kFirstHeight;
    Aggregator aggregator(config);
    std::int64_t offset = 0;
    for (const auto& value : values) {
      auto record = parser.parse(value);
      auto outputs = aggregator.offer(std::move(*record), {0, offset++}, now);
      benchmark::DoNotOptimize(outputs);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * values.size()));
}
BENCHMARK(BM_ParseAndFold)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
