// Input for ops/bench/persister_api.sh: a chain of block.v1 values and the statistics the
// aggregator's own fold computes from them, as `key<TAB>value` lines that `kcat -P -K '\t'`
// produces onto the persister's topics.
//
//   persister_api_corpus --out DIR [--blocks N] [--live-blocks M] [--live-chunks K] [--end-ms T]
//
// DIR/history.blocks.tsv, DIR/history.stats.tsv: N blocks (default 200 000) ending at T (default
//   now; 3 s apart, so the newest day is today), and what a compacted `stats` topic holds after
//   them: the last value of every key.
// DIR/live-<k>.blocks.tsv, DIR/live-<k>.stats.tsv, k = 1..K (default 2): M more blocks each
//   (default 50 000), with every stats value in the order the aggregator sends them (points,
//   day, hour, witness, seven candles, parity: about 12 per block), as a live persister receives
//   them.
// Blocks come from the persister tests' builders (tests/stages/persister/test_data.h), with a
// realistic USDT volume.
#include <chrono>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include <fmt/format.h>

#include "stages/aggregator/block_input.h"
#include "stages/aggregator/fold.h"
#include "tests/stages/persister/test_data.h"

namespace {

namespace aggregator = stages::aggregator;
namespace data = stages::persister::testing;

constexpr std::int64_t kFirstHeight = 70'000'000;
constexpr std::int64_t kSlotMs = 3000;

struct Options {
  std::string out;
  std::int64_t blocks = 200'000;
  std::int64_t live_blocks = 50'000;
  std::int64_t live_chunks = 2;
  std::int64_t end_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
};

bool parseArgs(int argc, char** argv, Options& options) {
  if (argc % 2 != 1) return false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::string_view value = argv[i + 1];
    if (flag == "--out") {
      options.out = std::string(value);
      continue;
    }
    std::int64_t number = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (ec != std::errc() || ptr != value.data() + value.size() || number < 1) return false;
    if (flag == "--blocks") {
      options.blocks = number;
    } else if (flag == "--live-blocks") {
      options.live_blocks = number;
    } else if (flag == "--live-chunks") {
      options.live_chunks = number;
    } else if (flag == "--end-ms") {
      options.end_ms = number;
    } else {
      return false;
    }
  }
  return !options.out.empty();
}

// The test builders give every block the largest uint256 USDT volume (an edge case of the
// parsers); a day of such blocks sums past the 80 digits stats values may have, and the persister
// would dead-letter the day. Real blocks move far less: 1.15 million USDT here.
std::string withRealisticUsdtVolume(std::string block) {
  constexpr std::string_view kField = R"("usdt_volume":")";
  const auto start = block.find(kField);
  if (start == std::string::npos) return block;
  const auto value = start + kField.size();
  block.replace(value, block.find('"', value) - value, "1150000000000");
  return block;
}

// Folds the chain block by block and writes the lines; the fold carries over between files.
class CorpusWriter {
 public:
  CorpusWriter(const Options& options)
      : options_(options), fold_({}, static_cast<std::uint64_t>(kFirstHeight)) {}

  bool write() {
    std::map<std::string, std::string> compacted;
    if (!writeBlocks("history", options_.blocks, [&](aggregator::StatOutput& output) {
          if (output.value) {
            compacted[output.key] = std::move(*output.value);
          } else {
            compacted.erase(output.key);
          }
        })) {
      return false;
    }
    std::ofstream history_stats(path("history.stats.tsv"));
    for (const auto& [key, value] : compacted) history_stats << key << '\t' << value << '\n';
    if (!history_stats) return false;
    for (std::int64_t chunk = 1; chunk <= options_.live_chunks; ++chunk) {
      const std::string name = fmt::format("live-{}", chunk);
      std::ofstream stats(path(name + ".stats.tsv"));
      // A live aggregator never sends tombstones for a chain without forks.
      if (!writeBlocks(name, options_.live_blocks, [&](aggregator::StatOutput& output) {
            stats << output.key << '\t' << output.value.value_or("") << '\n';
          }) ||
          !stats) {
        return false;
      }
    }
    return true;
  }

 private:
  std::string path(const std::string& name) const { return options_.out + "/" + name; }

  // Writes `count` more blocks to <name>.blocks.tsv and hands every stats output to `on_stat`.
  template <typename OnStat>
  bool writeBlocks(const std::string& name, std::int64_t count, OnStat on_stat) {
    std::ofstream blocks(path(name + ".blocks.tsv"));
    const std::int64_t first_ms = options_.end_ms - (options_.blocks - 1) * kSlotMs;
    for (std::int64_t i = 0; i < count; ++i, ++next_height_) {
      const std::string value =
          withRealisticUsdtVolume(data::blockJson(next_height_, first_ms + (next_height_ - kFirstHeight) * kSlotMs));
      blocks << next_height_ << '\t' << value << '\n';
      auto record = parser_.parse(value);
      if (!record || !std::holds_alternative<aggregator::BlockInput>(*record)) {
        std::fprintf(stderr, "persister_api_corpus: block %lld does not parse\n", static_cast<long long>(next_height_));
        return false;
      }
      auto outputs = fold_.apply(std::get<aggregator::BlockInput>(*record));
      if (!outputs) {
        std::fprintf(stderr, "persister_api_corpus: fold: %s\n", outputs.error().message.c_str());
        return false;
      }
      for (auto& output : *outputs) on_stat(output);
    }
    return static_cast<bool>(blocks);
  }

  const Options& options_;
  aggregator::BlockInputParser parser_;
  aggregator::Fold fold_;
  std::int64_t next_height_ = kFirstHeight;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parseArgs(argc, argv, options)) {
    std::fputs("usage: persister_api_corpus --out DIR [--blocks N] [--live-blocks M] [--live-chunks K] "
               "[--end-ms T]\n",
               stderr);
    return 64;
  }
  if (!CorpusWriter(options).write()) {
    std::fprintf(stderr, "persister_api_corpus: could not write the corpus into %s\n", options.out.c_str());
    return 1;
  }
  return 0;
}
