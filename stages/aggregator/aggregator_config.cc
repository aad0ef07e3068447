#include "stages/aggregator/aggregator_config.h"

#include <charconv>

namespace stages::aggregator {
namespace {

pipeline::Error invalid(std::string_view key, std::string message) {
  return pipeline::Error{pipeline::ErrorType::InvalidConfig, std::string(key) + ": " + message};
}

}  // namespace

pipeline::Result<AggregatorConfig> AggregatorConfig::parse(const pipeline::config::ConfigSource& source) {
  AggregatorConfig config;

  auto start = source.getString("aggregator.start_height", "auto");
  if (!start) return start.error();
  if (*start != "auto") {
    std::uint64_t height = 0;
    const char* end = start->data() + start->size();
    const auto [ptr, ec] = std::from_chars(start->data(), end, height);
    if (start->empty() || ec != std::errc() || ptr != end) {
      return invalid("aggregator.start_height",
                     "must be auto or a block height >= 0 (got \"" + *start + "\")");
    }
    config.start_height = height;
  }

  auto offset_text = source.getString("aggregator.utc_offset", "+00:00");
  if (!offset_text) return offset_text.error();
  auto offset = UtcOffset::parse(*offset_text);
  if (!offset) return invalid("aggregator.utc_offset", offset.error().message);
  config.fold.utc_offset = *offset;

  auto window = source.getUint("aggregator.parity_window_blocks", 1000, 1, 1'000'000);
  if (!window) return window.error();
  config.fold.parity_window_blocks = static_cast<std::uint32_t>(*window);

  auto depth = source.getUint("aggregator.rollback_depth_blocks", 64, 1, 100'000);
  if (!depth) return depth.error();
  config.fold.rollback_depth_blocks = static_cast<std::uint32_t>(*depth);

  auto buffer = source.getUint("aggregator.reorder_buffer_max_blocks", 10'000, 1, 10'000'000);
  if (!buffer) return buffer.error();
  config.reorder_buffer_max_blocks = static_cast<std::size_t>(*buffer);

  auto interval = source.getUint("aggregator.checkpoint_interval_ms", 1000, 100, 3'600'000);
  if (!interval) return interval.error();
  config.checkpoint_interval_ms = static_cast<std::int64_t>(*interval);

  auto gap_age = source.getUint("aggregator.max_gap_age_ms", 60'000, 1000, 86'400'000);
  if (!gap_age) return gap_age.error();
  config.max_gap_age_ms = static_cast<std::int64_t>(*gap_age);
  return config;
}

}  // namespace stages::aggregator
