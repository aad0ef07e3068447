#include "stages/decoder/decode_command.h"

#include <simdjson.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/runtime.h"
#include "stages/decoder/block_decoder.h"

namespace stages::decoder {
namespace {

constexpr std::string_view kUsage =
    "usage: pointtron-decoder --decode FILE [--network mainnet|shasta|nile] [--verify-tx-ids]";

std::string_view trimmed(std::string_view text) {
  const auto blank = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  return text;
}

// The blocks of a saved answer: the elements of {"block":[…]} as their own bytes, or the whole
// text as one block. An answer that is not a list (or not JSON) is left to the decoder to judge.
std::vector<std::string> splitAnswer(std::string_view text) {
  const simdjson::padded_string padded(text);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object root;
  simdjson::ondemand::array list;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(root) != simdjson::SUCCESS ||
      root.find_field_unordered("block").get_array().get(list) != simdjson::SUCCESS) {
    return {std::string(text)};
  }
  std::vector<std::string> blocks;
  for (auto element : list) {
    simdjson::ondemand::value value;
    if (element.get(value) != simdjson::SUCCESS) return {std::string(text)};
    simdjson::ondemand::object block;
    std::string_view raw;
    if (value.get_object().get(block) == simdjson::SUCCESS) {
      if (block.raw_json().get(raw) != simdjson::SUCCESS) return {std::string(text)};
    } else {
      raw = value.raw_json_token();  // not an object: the decoder names the wrong type
    }
    blocks.emplace_back(trimmed(raw));
  }
  return blocks;
}

}  // namespace

std::optional<int> runDecodeCommand(int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err, const std::function<std::int64_t()>& now_ms) {
  bool asked = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--decode" || arg.starts_with("--decode=")) asked = true;
  }
  if (!asked) return std::nullopt;

  std::string path;
  DecoderOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto valueOf = [&](std::string_view name) -> std::optional<std::string> {
      if (arg == name) return i + 1 < argc ? std::string(argv[++i]) : std::string();
      if (arg.starts_with(name) && arg.size() > name.size() && arg[name.size()] == '=') {
        return std::string(arg.substr(name.size() + 1));
      }
      return std::nullopt;
    };
    if (auto file = valueOf("--decode")) {
      path = *file;
    } else if (auto network = valueOf("--network")) {
      const auto parsed = parseNetwork(*network);
      if (!parsed) {
        err << "pointtron-decoder: unknown network \"" << *network << "\"\n" << kUsage << "\n";
        return pipeline::kExitUsage;
      }
      options.network = *parsed;
    } else if (arg == "--verify-tx-ids") {
      options.verify_tx_ids = true;
    } else {
      err << "pointtron-decoder: unexpected argument \"" << arg << "\"\n" << kUsage << "\n";
      return pipeline::kExitUsage;
    }
  }
  if (path.empty()) {
    err << kUsage << "\n";
    return pipeline::kExitUsage;
  }

  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  if (!file || !(contents << file.rdbuf())) {
    err << "pointtron-decoder: cannot read " << path << "\n";
    return pipeline::kExitFatal;
  }

  BlockDecoder decoder(options);
  const auto blocks = splitAnswer(trimmed(contents.view()));
  std::string lines;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto result = decoder.decode(blocks[i]);
    if (!result) {
      err << "pointtron-decoder: " << path;
      if (blocks.size() > 1) err << ": block " << i + 1 << " of " << blocks.size();
      err << ": " << result.error().describe() << "\n";
      return pipeline::kExitFatal;
    }
    lines += blockV1Json(result, Provenance{.fetched_at_ms = std::nullopt,
                                            .decoded_at_ms = now_ms(),
                                            .source = ""});
    lines += '\n';
  }
  out << lines;
  return pipeline::kExitClean;
}

}  // namespace stages::decoder
