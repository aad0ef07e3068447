// Decoder throughput next to simdjson's own parse-only speed over the same bytes.
//
//   <build>/bench/decoder_throughput --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Inputs: the 208-transaction mainnet block 60954080 as committed (pretty-printed, 283 KB), the
// same block compact with visible=true addresses (215 KB, what a node sends), and 16 tronsim
// mainnet-profile blocks (compact, hex addresses, 200–280 transactions each). bytes_per_second is
// input bytes; items_per_second is blocks.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "stages/decoder/block_decoder.h"
#include "tests/tronsim/chain.h"

namespace {

std::string readFixture(const std::string& name) {
  std::ifstream in(std::string(POINTTRON_SOURCE_DIR) + "/tests/fixtures/tron-blocks/" + name, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

const std::vector<std::string>& corpus(int which) {
  static const std::vector<std::string> pretty{readFixture("mainnet-60954080.json")};
  static const std::vector<std::string> compact{readFixture("mainnet-60954080-visible-compact-sorted.json")};
  static const std::vector<std::string> simulated = [] {
    tronsim::Chain chain({.seed = 3, .profile = tronsim::Profile::Mainnet, .first_height = 70'000'000});
    std::vector<std::string> blocks;
    for (std::int64_t height = 70'000'000; height < 70'000'016; ++height) {
      blocks.push_back(chain.blockJson(height));
    }
    return blocks;
  }();
  switch (which) {
    case 0: return pretty;
    case 1: return compact;
    default: return simulated;
  }
}

const char* corpusName(int which) {
  return which == 0 ? "mainnet208_pretty" : which == 1 ? "mainnet208_compact_visible" : "tronsim_mainnet";
}

void finish(benchmark::State& state, std::size_t bytes, std::size_t blocks) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(blocks));
  state.SetLabel(corpusName(static_cast<int>(state.range(0))));
}

// The whole decode: on-demand pass, addresses, sums, the summary (not the block.v1 text).
void BM_Decode(benchmark::State& state) {
  const auto& blocks = corpus(static_cast<int>(state.range(0)));
  stages::decoder::BlockDecoder decoder;
  std::size_t bytes = 0;
  std::size_t count = 0;
  for (auto _ : state) {
    for (const auto& block : blocks) {
      auto result = decoder.decode(block);
      if (!result.isBlock()) state.SkipWithError(result.error().describe().c_str());
      benchmark::DoNotOptimize(result);
      bytes += block.size();
      ++count;
    }
  }
  finish(state, bytes, count);
}

// Decode plus the block.v1 text the stage produces.
void BM_DecodeToJson(benchmark::State& state) {
  const auto& blocks = corpus(static_cast<int>(state.range(0)));
  stages::decoder::BlockDecoder decoder;
  std::size_t bytes = 0;
  std::size_t count = 0;
  for (auto _ : state) {
    for (const auto& block : blocks) {
      auto json = stages::decoder::blockV1Json(decoder.decode(block), {.decoded_at_ms = 1});
      benchmark::DoNotOptimize(json);
      bytes += block.size();
      ++count;
    }
  }
  finish(state, bytes, count);
}

// Visits every value once through the on-demand API: the parse-only floor of any on-demand
// decoder built the same way (same compile-time simdjson implementation).
std::size_t visit(simdjson::ondemand::value value);
std::size_t visitObject(simdjson::ondemand::object object) {
  std::size_t values = 0;
  for (auto field : object) {
    simdjson::ondemand::value child;
    if (field.value().get(child) != simdjson::SUCCESS) return values;
    values += visit(child);
  }
  return values;
}
std::size_t visit(simdjson::ondemand::value value) {
  simdjson::ondemand::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return 0;
  switch (type) {
    case simdjson::ondemand::json_type::object: {
      simdjson::ondemand::object object;
      return value.get_object().get(object) == simdjson::SUCCESS ? 1 + visitObject(object) : 0;
    }
    case simdjson::ondemand::json_type::array: {
      simdjson::ondemand::array array;
      if (value.get_array().get(array) != simdjson::SUCCESS) return 0;
      std::size_t values = 1;
      for (auto element : array) {
        simdjson::ondemand::value child;
        if (element.get(child) != simdjson::SUCCESS) return values;
        values += visit(child);
      }
      return values;
    }
    default:
      benchmark::DoNotOptimize(value.raw_json_token());
      return 1;
  }
}

void BM_OndemandIterateAll(benchmark::State& state) {
  const auto& blocks = corpus(static_cast<int>(state.range(0)));
  std::vector<simdjson::padded_string> padded(blocks.begin(), blocks.end());
  simdjson::ondemand::parser parser;
  std::size_t bytes = 0;
  std::size_t count = 0;
  for (auto _ : state) {
    for (const auto& block : padded) {
      simdjson::ondemand::document doc;
      simdjson::ondemand::object root;
      if (parser.iterate(block).get(doc) != simdjson::SUCCESS ||
          doc.get_object().get(root) != simdjson::SUCCESS) {
        state.SkipWithError("on-demand iterate failed");
      }
      benchmark::DoNotOptimize(visitObject(root));
      bytes += block.size();
      ++count;
    }
  }
  finish(state, bytes, count);
}

// simdjson's DOM parse (runtime-dispatched implementation), building the tape only.
void BM_DomParse(benchmark::State& state) {
  const auto& blocks = corpus(static_cast<int>(state.range(0)));
  std::vector<simdjson::padded_string> padded(blocks.begin(), blocks.end());
  simdjson::dom::parser parser;
  std::size_t bytes = 0;
  std::size_t count = 0;
  for (auto _ : state) {
    for (const auto& block : padded) {
      simdjson::dom::element root;
      if (parser.parse(block).get(root) != simdjson::SUCCESS) state.SkipWithError("DOM parse failed");
      benchmark::DoNotOptimize(root);
      bytes += block.size();
      ++count;
    }
  }
  finish(state, bytes, count);
}

BENCHMARK(BM_Decode)->DenseRange(0, 2);
BENCHMARK(BM_DecodeToJson)->DenseRange(0, 2);
BENCHMARK(BM_OndemandIterateAll)->DenseRange(0, 2);
BENCHMARK(BM_DomParse)->DenseRange(0, 2);

}  // namespace

BENCHMARK_MAIN();
